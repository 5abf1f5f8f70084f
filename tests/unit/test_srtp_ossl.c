/**
 * @file test_srtp_ossl.c  OpenSSL crypto under libsrtp2 against libsrtp2's own, byte for byte
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libsrtp2 keeps the types a context was made with, so the test makes its
 * reference contexts while libsrtp2's own types are registered (put back
 * with srtp_replace_*; they are exported by the library, though not
 * declared in its installed headers), then installs ours again and makes
 * the contexts under test: the PBX's own (pbx__srtp_set) and, for SRTCP,
 * which the PBX only unprotects, a raw one. For every suite, the same
 * packets protected by both must be the same bytes, and each side must
 * unprotect the other's. Key derivation runs on the registered AES-CM too,
 * so equal bytes also say the session keys are the same.
 *
 * The packets cross a rollover of the sequence number (ROC 0 -> 1), jump
 * ahead, and have payloads of 0 to 1200 bytes, one with a CSRC and a
 * header extension.
 */
#include <errno.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/srtp.h>
#include <string.h>

#include "../../pbx/media_priv.h"
#include "../../pbx/srtp_ossl.h"
#include "unit.h"

extern const srtp_cipher_type_t srtp_aes_icm_128, srtp_aes_icm_256, srtp_aes_gcm_128,
	srtp_aes_gcm_256;
extern const srtp_auth_type_t srtp_hmac;

#define MAXPKT (12 + 4 + 8 + 1200)

static void use_native(void)
{
	assert_int_equal(srtp_replace_cipher_type(&srtp_aes_icm_128, SRTP_AES_ICM_128),
			 srtp_err_status_ok);
	assert_int_equal(srtp_replace_cipher_type(&srtp_aes_icm_256, SRTP_AES_ICM_256),
			 srtp_err_status_ok);
	assert_int_equal(srtp_replace_cipher_type(&srtp_aes_gcm_128, SRTP_AES_GCM_128),
			 srtp_err_status_ok);
	assert_int_equal(srtp_replace_cipher_type(&srtp_aes_gcm_256, SRTP_AES_GCM_256),
			 srtp_err_status_ok);
	assert_int_equal(srtp_replace_auth_type(&srtp_hmac, SRTP_HMAC_SHA1), srtp_err_status_ok);
}

/* As the PBX runs: ours installed, for whatever test comes next. */
static int group_setup(void **state)
{
	(void)state;
	return pbx__srtp_init() || pbx__srtp_ossl_install();
}

/* Ours again should a test have failed between use_native() and its install. */
static int group_teardown(void **state)
{
	(void)state;
	return pbx__srtp_ossl_install();
}

/* Raw contexts with srtp.c's policy. */
static srtp_t ctx(const struct pbx_srtp_key *k, srtp_ssrc_type_t type)
{
	srtp_policy_t pol;
	srtp_t c = NULL;
	pbx__srtp_policy(&pol, k, type);
	assert_int_equal(srtp_create(&c, &pol), srtp_err_status_ok);
	return c;
}

static struct pbx_srtp_key key(enum pbx_srtp_suite suite, uint8_t seed)
{
	struct pbx_srtp_key k;
	memset(&k, 0, sizeof k);
	k.suite = suite;
	k.len = (uint8_t)pbx_srtp_suite_key_len(suite);
	for (unsigned i = 0; i < k.len; i++)
		k.key[i] = (uint8_t)(seed + 37 * i);
	return k;
}

/* Packet @p i of the test stream, plain; its length. */
static size_t rtp(uint8_t *p, int i)
{
	static const size_t sizes[] = {160, 0, 1, 15, 16, 17, 33, 320, 1200, 20};
	/* 65530..65535, 0..: the ROC goes to 1 at the seventh; then a jump ahead. */
	uint16_t seq = (uint16_t)(65530 + i + (i >= 14 ? 3000 : 0));
	uint32_t ts = 1000 + 160 * (uint32_t)i, ssrc = 0x5EC0FFEE;
	size_t n = 12, plen = sizes[i % 10];
	p[0] = 0x80;
	p[1] = (uint8_t)(i ? 0 : 0x80); /* marker on the first */
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int k = 0; k < 4; k++) {
		p[4 + k] = (uint8_t)(ts >> (24 - 8 * k));
		p[8 + k] = (uint8_t)(ssrc >> (24 - 8 * k));
	}
	if (i == 9) { /* one CSRC and a one-word header extension (RFC 8285) */
		p[0] = 0x80 | 0x10 | 1;
		memcpy(p + 12, "\x01\x02\x03\x04\xbe\xde\x00\x01\x10\xaa\x00\x00", 12);
		n += 12;
	}
	for (size_t k = 0; k < plen; k++)
		p[n + k] = (uint8_t)(i * 31 + k * 7);
	return n + plen;
}

/* RTCP packet @p i, plain: an RR with 0 to 2 report blocks; its length. */
static size_t rtcp(uint8_t *p, int i)
{
	size_t blocks = (size_t)(i % 3), n = 8 + 24 * blocks;
	memset(p, 0, n);
	p[0] = (uint8_t)(0x80 | blocks);
	p[1] = 201;
	p[3] = (uint8_t)(n / 4 - 1);
	memcpy(p + 4, "\x5e\xc0\xff\xee", 4);
	for (size_t k = 8; k < n; k++)
		p[k] = (uint8_t)(i + k);
	return n;
}

#define NRTP  20
#define NRTCP 6

static void cross(enum pbx_srtp_suite suite)
{
	struct pbx_rtp_params par;
	memset(&par, 0, sizeof par);
	par.srtp = true;
	par.tx = key(suite, 11); /* K1: the PBX protects with it */
	par.rx = key(suite, 99); /* K2: the PBX unprotects with it */

	use_native();
	srtp_t n_out1 = ctx(&par.tx, ssrc_any_outbound), n_in1 = ctx(&par.tx, ssrc_any_inbound);
	srtp_t n_out2 = ctx(&par.rx, ssrc_any_outbound), n_in2 = ctx(&par.rx, ssrc_any_inbound);
	assert_int_equal(pbx__srtp_ossl_install(), 0);
	struct pbx__srtp *x = NULL;
	assert_int_equal(pbx__srtp_set(&x, 1, &par), 0);
	srtp_t o_out2 = ctx(&par.rx, ssrc_any_outbound);

	uint8_t plain[MAXPKT], a[MAXPKT + PBX__SRTP_TRAILER], b[MAXPKT + PBX__SRTP_TRAILER];
	for (int i = 0; i < NRTP; i++) {
		size_t len = rtp(plain, i), lb = len;
		int la = (int)len;

		/* K1: libsrtp2's own and the PBX's give the same bytes; libsrtp2's
		 * own inbound takes the PBX's. */
		memcpy(a, plain, len);
		memcpy(b, plain, len);
		assert_int_equal(srtp_protect(n_out1, a, &la), srtp_err_status_ok);
		assert_int_equal(pbx__srtp_protect(x, b, &lb), 0);
		assert_int_equal(lb, (size_t)la);
		assert_memory_equal(a, b, lb);
		assert_true(len < 32 || memcmp(a + 24, plain + 24, 8)); /* encrypted */
		la = (int)lb;
		assert_int_equal(srtp_unprotect(n_in1, b, &la), srtp_err_status_ok);
		assert_int_equal(la, (int)len);
		assert_memory_equal(b, plain, len);

		/* K2: the same bytes from a raw context of ours; the PBX's inbound
		 * takes libsrtp2's own, and libsrtp2's own inbound takes ours. */
		la = (int)len;
		int lo = (int)len;
		memcpy(a, plain, len);
		memcpy(b, plain, len);
		assert_int_equal(srtp_protect(n_out2, a, &la), srtp_err_status_ok);
		assert_int_equal(srtp_protect(o_out2, b, &lo), srtp_err_status_ok);
		assert_int_equal(lo, la);
		assert_memory_equal(a, b, (size_t)la);
		size_t lx = (size_t)la;
		assert_int_equal(pbx__srtp_unprotect(x, a, &lx), 0);
		assert_int_equal(lx, len);
		assert_memory_equal(a, plain, len);
		assert_int_equal(srtp_unprotect(n_in2, b, &lo), srtp_err_status_ok);
		assert_int_equal(lo, (int)len);
		assert_memory_equal(b, plain, len);
	}

	/* Forgeries: a flipped bit in the payload, then in the tag, fail on
	 * ours; the genuine packet still passes afterwards, and only once. */
	for (int where = 0; where < 2; where++) {
		uint8_t c[MAXPKT + PBX__SRTP_TRAILER];
		size_t len = rtp(plain, NRTP + where), lx;
		int la = (int)len;
		memcpy(a, plain, len);
		assert_int_equal(srtp_protect(n_out2, a, &la), srtp_err_status_ok);
		memcpy(b, a, (size_t)la);
		memcpy(c, a, (size_t)la);
		b[where ? la - 1 : 12] ^= 0x04;
		lx = (size_t)la;
		assert_int_equal(pbx__srtp_unprotect(x, b, &lx), EBADMSG);
		lx = (size_t)la;
		assert_int_equal(pbx__srtp_unprotect(x, a, &lx), 0);
		assert_memory_equal(a, plain, len);
		lx = (size_t)la;
		assert_int_equal(pbx__srtp_unprotect(x, c, &lx), EBADMSG);
	}

	/* SRTCP (the PBX unprotects what phones send): ours and libsrtp2's own
	 * give the same bytes, index and all; each side takes the other's. */
	for (int i = 0; i < NRTCP; i++) {
		size_t len = rtcp(plain, i), lx;
		int la = (int)len, lo = (int)len;
		memcpy(a, plain, len);
		memcpy(b, plain, len);
		assert_int_equal(srtp_protect_rtcp(n_out2, a, &la), srtp_err_status_ok);
		assert_int_equal(srtp_protect_rtcp(o_out2, b, &lo), srtp_err_status_ok);
		assert_int_equal(lo, la);
		assert_memory_equal(a, b, (size_t)la);
		assert_int_equal(srtp_unprotect_rtcp(n_in2, b, &lo), srtp_err_status_ok);
		assert_int_equal(lo, (int)len);
		assert_memory_equal(b, plain, len);
		memcpy(b, a, (size_t)la);
		b[la - 1] ^= 0x80; /* the tag */
		lx = (size_t)la;
		assert_int_equal(pbx__srtp_unprotect_rtcp(x, b, &lx), EBADMSG);
		lx = (size_t)la;
		assert_int_equal(pbx__srtp_unprotect_rtcp(x, a, &lx), 0);
		assert_int_equal(lx, len);
		assert_memory_equal(a, plain, len);
	}

	pbx__srtp_free(x);
	srtp_dealloc(o_out2);
	srtp_dealloc(n_out1);
	srtp_dealloc(n_in1);
	srtp_dealloc(n_out2);
	srtp_dealloc(n_in2);
}

static void test_cm_80(void **state)
{
	(void)state;
	cross(PBX_SRTP_AES_CM_128_HMAC_SHA1_80);
}

static void test_cm_32(void **state)
{
	(void)state;
	cross(PBX_SRTP_AES_CM_128_HMAC_SHA1_32);
}

static void test_gcm_128(void **state)
{
	(void)state;
	cross(PBX_SRTP_AEAD_AES_128_GCM);
}

static void test_gcm_256(void **state)
{
	(void)state;
	cross(PBX_SRTP_AEAD_AES_256_GCM);
}

/* AES-256-CM is not one of the PBX's suites, but its key derivation runs
 * for AES-256-GCM and the type is ours: one protect and unprotect across. */
static void test_cm_256(void **state)
{
	(void)state;
	srtp_policy_t pol;
	uint8_t k[SRTP_AES_ICM_256_KEY_LEN_WSALT], plain[MAXPKT], a[MAXPKT + PBX__SRTP_TRAILER],
		b[MAXPKT + PBX__SRTP_TRAILER];
	srtp_t n_out, n_in, o_out, o_in;
	for (size_t i = 0; i < sizeof k; i++)
		k[i] = (uint8_t)(i * 5 + 3);
	memset(&pol, 0, sizeof pol);
	srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtcp);
	pol.key = k;
	use_native();
	pol.ssrc.type = ssrc_any_outbound;
	assert_int_equal(srtp_create(&n_out, &pol), srtp_err_status_ok);
	pol.ssrc.type = ssrc_any_inbound;
	assert_int_equal(srtp_create(&n_in, &pol), srtp_err_status_ok);
	assert_int_equal(pbx__srtp_ossl_install(), 0);
	assert_int_equal(srtp_create(&o_in, &pol), srtp_err_status_ok);
	pol.ssrc.type = ssrc_any_outbound;
	assert_int_equal(srtp_create(&o_out, &pol), srtp_err_status_ok);
	for (int i = 0; i < 10; i++) {
		size_t len = rtp(plain, i);
		int la = (int)len, lb = (int)len;
		memcpy(a, plain, len);
		memcpy(b, plain, len);
		assert_int_equal(srtp_protect(n_out, a, &la), srtp_err_status_ok);
		assert_int_equal(srtp_protect(o_out, b, &lb), srtp_err_status_ok);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, (size_t)la);
		assert_int_equal(srtp_unprotect(o_in, a, &la), srtp_err_status_ok);
		assert_int_equal(srtp_unprotect(n_in, b, &lb), srtp_err_status_ok);
		assert_memory_equal(a, plain, len);
		assert_memory_equal(b, plain, len);
	}
	srtp_dealloc(n_out);
	srtp_dealloc(n_in);
	srtp_dealloc(o_out);
	srtp_dealloc(o_in);
}

/* AES-CM asked for its keystream in pieces after one IV (libsrtp's own
 * calls take a packet at once; the type allows more), against one call of
 * libsrtp2's own over the whole. */
static void test_cm_pieces(void **state)
{
	(void)state;
	static const unsigned cuts[] = {1, 15, 16, 17, 3, 600, 40, 513, 7, 0, 32};
	static const srtp_cipher_type_t *native[] = {&srtp_aes_icm_128, &srtp_aes_icm_256};
	static const int ids[] = {SRTP_AES_ICM_128, SRTP_AES_ICM_256};
	static const int klen[] = {SRTP_AES_ICM_128_KEY_LEN_WSALT, SRTP_AES_ICM_256_KEY_LEN_WSALT};
	uint8_t k[SRTP_AES_ICM_256_KEY_LEN_WSALT], iv[16], a[1400], b[1400];
	for (int t = 0; t < 2; t++) {
		srtp_cipher_t *n = NULL, *o = NULL;
		const srtp_cipher_type_t *ours = pbx__srtp_ossl_cipher_type(ids[t]);
		assert_non_null(ours);
		for (size_t i = 0; i < sizeof k; i++)
			k[i] = (uint8_t)(i * 13 + 7 * t);
		for (size_t i = 0; i < sizeof iv; i++)
			iv[i] = (uint8_t)(i < 14 ? i * 29 + 1 : 0);
		for (size_t i = 0; i < sizeof a; i++)
			a[i] = b[i] = (uint8_t)(i * 3);
		assert_int_equal(srtp_cipher_type_alloc(native[t], &n, klen[t], 0),
				 srtp_err_status_ok);
		assert_int_equal(srtp_cipher_type_alloc(ours, &o, klen[t], 0), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_init(n, k), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_init(o, k), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_set_iv(n, iv, srtp_direction_encrypt),
				 srtp_err_status_ok);
		assert_int_equal(srtp_cipher_set_iv(o, iv, srtp_direction_encrypt),
				 srtp_err_status_ok);
		uint32_t all = 0, len;
		for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
			len = cuts[c];
			assert_int_equal(srtp_cipher_encrypt(o, b + all, &len), srtp_err_status_ok);
			all += cuts[c];
		}
		len = all;
		assert_int_equal(srtp_cipher_encrypt(n, a, &len), srtp_err_status_ok);
		assert_memory_equal(a, b, all);
		for (uint32_t i = all; i < sizeof b; i++) /* what follows was left alone */
			assert_int_equal(b[i], (uint8_t)(i * 3));
		assert_int_equal(srtp_cipher_dealloc(n), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_dealloc(o), srtp_err_status_ok);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_cm_80),   cmocka_unit_test(test_cm_32),
	cmocka_unit_test(test_gcm_128), cmocka_unit_test(test_gcm_256),
	cmocka_unit_test(test_cm_256),  cmocka_unit_test(test_cm_pieces),
};

UNIT_GROUP(srtp_ossl, tests, group_setup, group_teardown);
