/**
 * @file srtp_ossl.c  libsrtp2's AES-CM, AES-GCM and HMAC-SHA1 done by OpenSSL (libcrypto 3)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Why: Debian's libsrtp2 is built on NSS, whose every operation goes
 * through a PKCS#11 session that the softoken looks up in a table; a relay
 * of one SRTP packet cost 43 us against 8 us plain, and more as contexts
 * accumulated (bench_srtp). libsrtp2 lets an application replace the
 * implementation behind a cipher or auth id; it keeps the protocol (key
 * derivation, packet index, replay window, SRTCP) and calls ours for the
 * primitives, including the key derivation's AES-CM.
 *
 * What it costs: one EVP_CIPHER_CTX per libsrtp cipher object, keyed once
 * with the context; the EVP_CIPHERs are fetched once at install. HMAC-SHA1
 * keeps its two keyed SHA-1 states in its own object (about 300 bytes). Per
 * packet nothing is allocated or fetched: a new IV on the kept key
 * schedule, the update calls, the tag.
 *
 * HMAC on OpenSSL's SHA1_* functions, deprecated in OpenSSL 3 but still
 * its SHA-NI code, rather than EVP_MAC or HMAC_CTX: those keep the keyed
 * states in three EVP_MD_CTX of their own, each with its SHA-1 state
 * allocated apart, and duplicate one (free and malloc) to restart and to
 * finish. With 2000 contexts at 500 calls these are cold cache lines on
 * every packet. Measured per 10^6 protect+unprotect of a 172-byte packet
 * (AES_CM_128_HMAC_SHA1_80, best of 5 on the shared 2-core machine):
 * EVP_MAC 1.18 s, HMAC_CTX 1.07-1.19 s, SHA1_* 0.83 s; bench_srtp, noisy,
 * 0.1 to 1.2 us less per relayed packet than HMAC_CTX. Should SHA1_* go from a
 * later OpenSSL, HMAC_CTX or EVP_MAC are a drop-in here.
 *
 * Threads: the types and the fetched algorithms are shared read-only; each
 * cipher or auth object belongs to one libsrtp context, which belongs to
 * one media worker.
 *
 * Semantics follow libsrtp2's own OpenSSL backend (crypto/cipher/
 * aes_icm_ossl.c, aes_gcm_ossl.c, crypto/hash/hmac_ossl.c): the key given
 * to a cipher's init is the AES key followed by the salt; AES-CM XORs the
 * IV with the salt (shifted left 16 bits) to make the counter; AES-GCM
 * takes the 12-byte IV as is, AAD before the payload, and its decrypt gets
 * the tag after the ciphertext and checks it.
 */
/* For SHA1_*, deprecated in OpenSSL 3 (see above). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/log.h"
#include "srtp_ossl.h"

#define SHA1_LEN 20

enum { ICM_128, ICM_256, GCM_128, GCM_256, NALGO };

static const struct algo {
	const char *evp_name; /* OpenSSL's name */
	srtp_cipher_type_id_t id;
	int key_len; /* as libsrtp passes it: the AES key, then the salt */
	int aes_len;
	bool gcm;
} algos[NALGO] = {
	[ICM_128] = {"AES-128-CTR", SRTP_AES_ICM_128, SRTP_AES_ICM_128_KEY_LEN_WSALT, 16, false},
	[ICM_256] = {"AES-256-CTR", SRTP_AES_ICM_256, SRTP_AES_ICM_256_KEY_LEN_WSALT, 32, false},
	[GCM_128] = {"AES-128-GCM", SRTP_AES_GCM_128, SRTP_AES_GCM_128_KEY_LEN_WSALT, 16, true},
	[GCM_256] = {"AES-256-GCM", SRTP_AES_GCM_256, SRTP_AES_GCM_256_KEY_LEN_WSALT, 32, true},
};

/* Fetched once at the first install, kept for the life of the process. */
static EVP_CIPHER *evp[NALGO];

static const srtp_cipher_type_t types[NALGO];
static const srtp_auth_type_t hmac_type;

/* ---- AES-CM and AES-GCM ---------------------------------------------------------------------- */

struct cipher {
	srtp_cipher_t c; /* what libsrtp holds; c.state points back here */
	EVP_CIPHER_CTX *ctx;
	const struct algo *a;
	int tag_len;        /* GCM: 16 for SRTP, 8 in libsrtp's self-test */
	int dir;            /* GCM: srtp_direction_*, "any" until an IV says which */
	uint8_t offset[16]; /* AES-CM: the salt, XORed into every IV */
};

static srtp_err_status_t cipher_alloc(srtp_cipher_t **cp, int key_len, int tag_len, int k)
{
	const struct algo *a = &algos[k];
	struct cipher *x;
	if (key_len != a->key_len || (a->gcm && tag_len != 16 && tag_len != 8))
		return srtp_err_status_bad_param;
	if (!(x = calloc(1, sizeof *x)))
		return srtp_err_status_alloc_fail;
	if (!(x->ctx = EVP_CIPHER_CTX_new())) {
		free(x);
		return srtp_err_status_alloc_fail;
	}
	x->c.type = &types[k];
	x->c.state = x;
	x->c.key_len = key_len;
	x->c.algorithm = (int)a->id;
	x->a = a;
	x->tag_len = tag_len;
	x->dir = srtp_direction_any;
	*cp = &x->c;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_128_alloc(srtp_cipher_t **cp, int key_len, int tag_len)
{
	return cipher_alloc(cp, key_len, tag_len, ICM_128);
}

static srtp_err_status_t icm_256_alloc(srtp_cipher_t **cp, int key_len, int tag_len)
{
	return cipher_alloc(cp, key_len, tag_len, ICM_256);
}

static srtp_err_status_t gcm_128_alloc(srtp_cipher_t **cp, int key_len, int tag_len)
{
	return cipher_alloc(cp, key_len, tag_len, GCM_128);
}

static srtp_err_status_t gcm_256_alloc(srtp_cipher_t **cp, int key_len, int tag_len)
{
	return cipher_alloc(cp, key_len, tag_len, GCM_256);
}

static srtp_err_status_t cipher_dealloc(srtp_cipher_t *c)
{
	struct cipher *x = c->state;
	EVP_CIPHER_CTX_free(x->ctx); /* clears the key schedule */
	explicit_bzero(x, sizeof *x);
	free(x);
	return srtp_err_status_ok;
}

/* The key schedule is made here, once per key; every packet after only sets an IV. */
static srtp_err_status_t cipher_init(void *state, const uint8_t *key)
{
	struct cipher *x = state;
	const struct algo *a = x->a;
	if (!a->gcm) {
		memcpy(x->offset, key + a->aes_len, SRTP_SALT_LEN);
		x->offset[14] = x->offset[15] = 0;
	}
	x->dir = srtp_direction_any;
	if (!EVP_CipherInit_ex(x->ctx, evp[a - algos], NULL, key, NULL, 1))
		return srtp_err_status_init_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t cipher_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
	struct cipher *x = state;
	if (x->a->gcm) {
		if (dir != srtp_direction_encrypt && dir != srtp_direction_decrypt)
			return srtp_err_status_bad_param;
		x->dir = dir;
		if (!EVP_CipherInit_ex(x->ctx, NULL, NULL, NULL, iv, dir == srtp_direction_encrypt))
			return srtp_err_status_cipher_fail;
		return srtp_err_status_ok;
	}
	/* CTR mode counts over all 128 bits, AES-CM over the low 16: the same
	 * for up to 2^16 blocks, and libsrtp never asks for more than a packet.
	 * The new IV costs OpenSSL 3 a parameter round trip (its IV length);
	 * AES-ECB over counter blocks made here, keyed once, was tried and
	 * came out slower: 1.15 s against 1.07 per 10^6 protect+unprotect. */
	uint8_t ctr[16];
	for (int i = 0; i < 16; i++)
		ctr[i] = iv[i] ^ x->offset[i];
	if (!EVP_CipherInit_ex(x->ctx, NULL, NULL, NULL, ctr, 1))
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

/* AES-CM: the keystream XORed in, both ways. GCM: encrypt, or decrypt without the tag. */
static srtp_err_status_t cipher_update(struct cipher *x, uint8_t *buf, unsigned len)
{
	int out = 0;
	if (len > INT32_MAX || !EVP_CipherUpdate(x->ctx, buf, &out, buf, (int)len) ||
	    out != (int)len)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *len)
{
	return cipher_update(state, buf, *len);
}

static srtp_err_status_t gcm_set_aad(void *state, const uint8_t *aad, uint32_t len)
{
	struct cipher *x = state;
	int out = 0;
	if (x->dir == srtp_direction_any)
		return srtp_err_status_bad_param;
	/* libsrtp may give the AAD in two parts (SRTCP: header, then index). */
	if (len > INT32_MAX || !EVP_CipherUpdate(x->ctx, NULL, &out, aad, (int)len))
		return srtp_err_status_algo_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_encrypt(void *state, uint8_t *buf, unsigned int *len)
{
	struct cipher *x = state;
	if (x->dir != srtp_direction_encrypt)
		return srtp_err_status_bad_param;
	return cipher_update(x, buf, *len);
}

/* After gcm_encrypt: the tag, which libsrtp appends after the ciphertext. */
static srtp_err_status_t gcm_get_tag(void *state, uint8_t *tag, uint32_t *len)
{
	struct cipher *x = state;
	uint8_t none[16];
	int out = 0;
	if (x->dir != srtp_direction_encrypt)
		return srtp_err_status_bad_param;
	if (!EVP_CipherFinal_ex(x->ctx, none, &out) ||
	    !EVP_CIPHER_CTX_ctrl(x->ctx, EVP_CTRL_AEAD_GET_TAG, x->tag_len, tag))
		return srtp_err_status_algo_fail;
	*len = (uint32_t)x->tag_len;
	return srtp_err_status_ok;
}

/* @p buf holds the ciphertext and then the tag; on success *len loses the tag. */
static srtp_err_status_t gcm_decrypt(void *state, uint8_t *buf, unsigned int *len)
{
	struct cipher *x = state;
	uint8_t none[16];
	int out = 0;
	srtp_err_status_t st;
	if (x->dir != srtp_direction_decrypt)
		return srtp_err_status_bad_param;
	if (*len < (unsigned)x->tag_len)
		return srtp_err_status_bad_param;
	unsigned n = *len - (unsigned)x->tag_len;
	if (!EVP_CIPHER_CTX_ctrl(x->ctx, EVP_CTRL_AEAD_SET_TAG, x->tag_len, buf + n))
		return srtp_err_status_algo_fail;
	if ((st = cipher_update(x, buf, n)))
		return st;
	if (EVP_CipherFinal_ex(x->ctx, none, &out) <= 0)
		return srtp_err_status_auth_fail;
	*len = n;
	return srtp_err_status_ok;
}

/* ---- HMAC-SHA1 ------------------------------------------------------------------------------- */

/* The keyed states live in the object itself, not behind OpenSSL's HMAC_CTX
 * (three EVP_MD_CTX, each with its SHA-1 state allocated apart, and a copy
 * with free and malloc to restart and to finish): fewer cold cache lines
 * per packet when thousands of contexts take turns. */
struct auth {
	srtp_auth_t a;        /* what libsrtp holds; a.state points back here */
	SHA_CTX inner, outer; /* SHA-1 after the key XOR ipad / opad block (RFC 2104) */
	SHA_CTX h;            /* the tag being computed */
};

static srtp_err_status_t hmac_alloc(srtp_auth_t **ap, int key_len, int out_len)
{
	struct auth *x;
	if (key_len < 0 || out_len < 0 || out_len > SHA1_LEN)
		return srtp_err_status_bad_param;
	if (!(x = calloc(1, sizeof *x)))
		return srtp_err_status_alloc_fail;
	x->a.type = &hmac_type;
	x->a.state = x;
	x->a.out_len = out_len;
	x->a.key_len = key_len;
	x->a.prefix_len = 0;
	*ap = &x->a;
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_t *a)
{
	struct auth *x = a->state;
	explicit_bzero(x, sizeof *x); /* the keyed states */
	free(x);
	return srtp_err_status_ok;
}

/* Keys HMAC once: the two padded-key blocks hashed and kept; start restarts from them. */
static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
	struct auth *x = state;
	uint8_t k[SHA_CBLOCK], ipad[SHA_CBLOCK], opad[SHA_CBLOCK];
	int ok;
	if (key_len < 0)
		return srtp_err_status_bad_param;
	memset(k, 0, sizeof k);
	if ((size_t)key_len > sizeof k)
		SHA1(key, (size_t)key_len, k); /* RFC 2104: a long key is hashed first */
	else if (key_len)
		memcpy(k, key, (size_t)key_len);
	for (size_t i = 0; i < sizeof k; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	ok = SHA1_Init(&x->inner) && SHA1_Update(&x->inner, ipad, sizeof ipad) &&
	     SHA1_Init(&x->outer) && SHA1_Update(&x->outer, opad, sizeof opad);
	x->h = x->inner;
	explicit_bzero(k, sizeof k);
	explicit_bzero(ipad, sizeof ipad);
	explicit_bzero(opad, sizeof opad);
	return ok ? srtp_err_status_ok : srtp_err_status_init_fail;
}

static srtp_err_status_t hmac_start(void *state)
{
	struct auth *x = state;
	x->h = x->inner;
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *buf, int len)
{
	struct auth *x = state;
	if (len < 0 || !SHA1_Update(&x->h, buf, (size_t)len))
		return srtp_err_status_auth_fail;
	return srtp_err_status_ok;
}

/* The last @p len bytes in, the first @p tag_len bytes of the MAC out. */
static srtp_err_status_t hmac_compute(void *state, const uint8_t *buf, int len, int tag_len,
				      uint8_t *tag)
{
	struct auth *x = state;
	uint8_t md[SHA1_LEN];
	srtp_err_status_t st;
	int ok;
	if (tag_len < 0 || tag_len > SHA1_LEN)
		return srtp_err_status_bad_param;
	if ((st = hmac_update(x, buf, len)))
		return st;
	ok = SHA1_Final(md, &x->h);
	x->h = x->outer;
	ok = ok && SHA1_Update(&x->h, md, sizeof md) && SHA1_Final(md, &x->h);
	x->h = x->inner; /* ready again, should a caller not start */
	if (ok)
		memcpy(tag, md, (size_t)tag_len);
	explicit_bzero(md, sizeof md);
	return ok ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

/* ---- known answers --------------------------------------------------------------------------- */

/* libsrtp2 runs these through a type before it takes it (and its own
 * type's answers too). Published vectors, checked against Python's
 * cryptography when written. The salts of the GCM keys are unused. */

/* RFC 3711 B.2: AES-CM keystream, counter = salt || 0000. */
static const uint8_t icm_128_key[SRTP_AES_ICM_128_KEY_LEN_WSALT] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
	0x3c, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd};
static const uint8_t icm_128_ks[32] = {0xe0, 0x3e, 0xad, 0x09, 0x35, 0xc9, 0x5e, 0x80,
				       0xe1, 0x66, 0xb1, 0x6d, 0xd9, 0x2b, 0x4e, 0xb4,
				       0xd2, 0x35, 0x13, 0x16, 0x2b, 0x02, 0xd0, 0xf7,
				       0x2a, 0x43, 0xa2, 0xfe, 0x4a, 0x5f, 0x97, 0xab};

/* RFC 6188 7.1: the same with AES-256. */
static const uint8_t icm_256_key[SRTP_AES_ICM_256_KEY_LEN_WSALT] = {
	0x57, 0xf8, 0x2f, 0xe3, 0x61, 0x3f, 0xd1, 0x70, 0xa8, 0x5e, 0xc9, 0x3c,
	0x40, 0xb1, 0xf0, 0x92, 0x2e, 0xc4, 0xcb, 0x0d, 0xc0, 0x25, 0xb5, 0x82,
	0x72, 0x14, 0x7c, 0xc4, 0x38, 0x94, 0x4a, 0x98, 0xf0, 0xf1, 0xf2, 0xf3,
	0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd};
static const uint8_t icm_256_ks[32] = {0x92, 0xbd, 0xd2, 0x8a, 0x93, 0xc3, 0xf5, 0x25,
				       0x11, 0xc6, 0x77, 0xd0, 0x8b, 0x55, 0x15, 0xa4,
				       0x9d, 0xa7, 0x1b, 0x23, 0x78, 0xa8, 0x54, 0xf6,
				       0x70, 0x50, 0x75, 0x6d, 0xed, 0x16, 0x5b, 0xac};

static const uint8_t icm_zero[32];
static uint8_t icm_iv[16]; /* all zero; libsrtp's test case wants it writable */

static const srtp_cipher_test_case_t icm_128_test = {
	.key_length_octets = SRTP_AES_ICM_128_KEY_LEN_WSALT,
	.key = icm_128_key,
	.idx = icm_iv,
	.plaintext_length_octets = 32,
	.plaintext = icm_zero,
	.ciphertext_length_octets = 32,
	.ciphertext = icm_128_ks,
};

static const srtp_cipher_test_case_t icm_256_test = {
	.key_length_octets = SRTP_AES_ICM_256_KEY_LEN_WSALT,
	.key = icm_256_key,
	.idx = icm_iv,
	.plaintext_length_octets = 32,
	.plaintext = icm_zero,
	.ciphertext_length_octets = 32,
	.ciphertext = icm_256_ks,
};

/* McGrew and Viega, "The Galois/Counter Mode of Operation", test cases 4 (AES-128) and 16. */
static const uint8_t gcm_128_key[SRTP_AES_GCM_128_KEY_LEN_WSALT] = {
	0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
	0x83, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
static const uint8_t gcm_256_key[SRTP_AES_GCM_256_KEY_LEN_WSALT] = {
	0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83,
	0x08, 0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
	0x83, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
static uint8_t gcm_iv[12] = {0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce,
			     0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
static const uint8_t gcm_aad[20] = {0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
				    0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2};
static const uint8_t gcm_pt[60] = {
	0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
	0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
	0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
	0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39};
static const uint8_t gcm_128_ct[76] = {
	0x42, 0x83, 0x1e, 0xc2, 0x21, 0x77, 0x74, 0x24, 0x4b, 0x72, 0x21, 0xb7, 0x84, 0xd0, 0xd4,
	0x9c, 0xe3, 0xaa, 0x21, 0x2f, 0x2c, 0x02, 0xa4, 0xe0, 0x35, 0xc1, 0x7e, 0x23, 0x29, 0xac,
	0xa1, 0x2e, 0x21, 0xd5, 0x14, 0xb2, 0x54, 0x66, 0x93, 0x1c, 0x7d, 0x8f, 0x6a, 0x5a, 0xac,
	0x84, 0xaa, 0x05, 0x1b, 0xa3, 0x0b, 0x39, 0x6a, 0x0a, 0xac, 0x97, 0x3d, 0x58, 0xe0, 0x91,
	/* the tag */
	0x5b, 0xc9, 0x4f, 0xbc, 0x32, 0x21, 0xa5, 0xdb, 0x94, 0xfa, 0xe9, 0x5a, 0xe7, 0x12, 0x1a,
	0x47};
static const uint8_t gcm_256_ct[76] = {
	0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42,
	0x7d, 0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55,
	0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56,
	0x82, 0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62,
	/* the tag */
	0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68, 0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55,
	0x1b};

/* The same with the tag cut to 8 bytes, which libsrtp's GCM also offers. */
static const srtp_cipher_test_case_t gcm_128_test_8 = {
	.key_length_octets = SRTP_AES_GCM_128_KEY_LEN_WSALT,
	.key = gcm_128_key,
	.idx = gcm_iv,
	.plaintext_length_octets = 60,
	.plaintext = gcm_pt,
	.ciphertext_length_octets = 68,
	.ciphertext = gcm_128_ct,
	.aad_length_octets = 20,
	.aad = gcm_aad,
	.tag_length_octets = 8,
};

static const srtp_cipher_test_case_t gcm_128_test = {
	.key_length_octets = SRTP_AES_GCM_128_KEY_LEN_WSALT,
	.key = gcm_128_key,
	.idx = gcm_iv,
	.plaintext_length_octets = 60,
	.plaintext = gcm_pt,
	.ciphertext_length_octets = 76,
	.ciphertext = gcm_128_ct,
	.aad_length_octets = 20,
	.aad = gcm_aad,
	.tag_length_octets = 16,
	.next_test_case = &gcm_128_test_8,
};

static const srtp_cipher_test_case_t gcm_256_test = {
	.key_length_octets = SRTP_AES_GCM_256_KEY_LEN_WSALT,
	.key = gcm_256_key,
	.idx = gcm_iv,
	.plaintext_length_octets = 60,
	.plaintext = gcm_pt,
	.ciphertext_length_octets = 76,
	.ciphertext = gcm_256_ct,
	.aad_length_octets = 20,
	.aad = gcm_aad,
	.tag_length_octets = 16,
};

/* RFC 2202 test case 1. */
static const uint8_t hmac_key[20] = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
				     0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
static const uint8_t hmac_data[8] = {'H', 'i', ' ', 'T', 'h', 'e', 'r', 'e'};
static const uint8_t hmac_tag[SHA1_LEN] = {0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72,
					   0x64, 0xe2, 0x8b, 0xc0, 0xb6, 0xfb, 0x37,
					   0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00};

static const srtp_auth_test_case_t hmac_test = {
	.key_length_octets = 20,
	.key = hmac_key,
	.data_length_octets = 8,
	.data = hmac_data,
	.tag_length_octets = SHA1_LEN,
	.tag = hmac_tag,
};

/* ---- the types ------------------------------------------------------------------------------- */

static const srtp_cipher_type_t types[NALGO] = {
	[ICM_128] = {.alloc = icm_128_alloc,
		     .dealloc = cipher_dealloc,
		     .init = cipher_init,
		     .encrypt = icm_crypt,
		     .decrypt = icm_crypt,
		     .set_iv = cipher_set_iv,
		     .description = "AES-128 counter mode using OpenSSL (pbx)",
		     .test_data = &icm_128_test,
		     .id = SRTP_AES_ICM_128},
	[ICM_256] = {.alloc = icm_256_alloc,
		     .dealloc = cipher_dealloc,
		     .init = cipher_init,
		     .encrypt = icm_crypt,
		     .decrypt = icm_crypt,
		     .set_iv = cipher_set_iv,
		     .description = "AES-256 counter mode using OpenSSL (pbx)",
		     .test_data = &icm_256_test,
		     .id = SRTP_AES_ICM_256},
	[GCM_128] = {.alloc = gcm_128_alloc,
		     .dealloc = cipher_dealloc,
		     .init = cipher_init,
		     .set_aad = gcm_set_aad,
		     .encrypt = gcm_encrypt,
		     .decrypt = gcm_decrypt,
		     .set_iv = cipher_set_iv,
		     .get_tag = gcm_get_tag,
		     .description = "AES-128 GCM using OpenSSL (pbx)",
		     .test_data = &gcm_128_test,
		     .id = SRTP_AES_GCM_128},
	[GCM_256] = {.alloc = gcm_256_alloc,
		     .dealloc = cipher_dealloc,
		     .init = cipher_init,
		     .set_aad = gcm_set_aad,
		     .encrypt = gcm_encrypt,
		     .decrypt = gcm_decrypt,
		     .set_iv = cipher_set_iv,
		     .get_tag = gcm_get_tag,
		     .description = "AES-256 GCM using OpenSSL (pbx)",
		     .test_data = &gcm_256_test,
		     .id = SRTP_AES_GCM_256},
};

static const srtp_auth_type_t hmac_type = {
	.alloc = hmac_alloc,
	.dealloc = hmac_dealloc,
	.init = hmac_init,
	.compute = hmac_compute,
	.update = hmac_update,
	.start = hmac_start,
	.description = "HMAC-SHA1 using OpenSSL (pbx)",
	.test_data = &hmac_test,
	.id = SRTP_HMAC_SHA1,
};

const struct srtp_cipher_type_t *pbx__srtp_ossl_cipher_type(int id)
{
	for (int k = 0; k < NALGO; k++)
		if ((int)algos[k].id == id)
			return &types[k];
	return NULL;
}

/* ---- install --------------------------------------------------------------------------------- */

int pbx__srtp_ossl_install(void)
{
	srtp_err_status_t st;
	for (int k = 0; k < NALGO; k++)
		if (!evp[k] && !(evp[k] = EVP_CIPHER_fetch(NULL, algos[k].evp_name, NULL))) {
			pbx_warning("srtp: OpenSSL has no %s: SRTP stays on libsrtp2's own "
				    "crypto, several times slower",
				    algos[k].evp_name);
			return EIO;
		}
	for (int k = 0; k < NALGO; k++)
		if ((st = srtp_replace_cipher_type(&types[k], algos[k].id))) {
			pbx_warning("srtp: libsrtp2 refused OpenSSL's %s (error %d): it "
				    "keeps its own for it, several times slower",
				    algos[k].evp_name, (int)st);
			return EIO;
		}
	if ((st = srtp_replace_auth_type(&hmac_type, SRTP_HMAC_SHA1))) {
		pbx_warning("srtp: libsrtp2 refused OpenSSL's HMAC-SHA1 (error %d): it keeps "
			    "its own for it, several times slower",
			    (int)st);
		return EIO;
	}
	return 0;
}
