/**
 * @file srtp.c  SRTP and SRTCP for the media engine (libsrtp2): suites, keys, per-session contexts
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The only file that speaks libsrtp2's protocol API (srtp_ossl.c gives it
 * OpenSSL's ciphers and HMAC, installed here once). A session on SRTP owns two contexts,
 * created on its worker when the parameters arrive: an inbound one with the
 * peer's key (it authenticates and decrypts what the phone sends, and keeps
 * the replay window), and an outbound one with our key. Each is made for
 * "any SSRC": the phone may change its SSRC (a transfer on its side), and
 * libsrtp clones a stream for a new SSRC only after its first packet
 * authenticated, so a forger cannot make it allocate.
 *
 * Cost per relayed packet between two SRTP legs: one unprotect and one
 * protect, AES-CM or AES-GCM and, for the CM suites, HMAC-SHA1 over about
 * 170 bytes, all by OpenSSL: about 0.85 us for the pair in a hot loop
 * (AES_CM_128_HMAC_SHA1_80). In bench_srtp at 500 calls SRTP adds 3.5 to 5
 * us per relayed packet to plain's 7 to 9 on the shared 2-core machine:
 * the rest looks like cache misses, as 2000 contexts' libsrtp streams,
 * replay windows and OpenSSL contexts take turns (perf: the first touches,
 * srtp_get_stream, srtp_key_limit_update, our own entry points, are hot).
 */
#include <errno.h>
#include <pthread.h>
#include <srtp2/srtp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "media_priv.h"
#include "pbx/log.h"
#include "srtp_ossl.h"

_Static_assert(PBX__SRTP_TRAILER >= SRTP_MAX_TRAILER_LEN + 4,
	       "room after a packet for the SRTP/SRTCP trailer");

struct pbx__srtp {
	srtp_t in, out;             /* NULL when libsrtp refused the key: fail closed */
	struct pbx_srtp_key tx, rx; /* what they were made with, to see a re-INVITE change them */
};

/* What a session holds when even the context's memory could not be had: it
 * protects and unprotects nothing, so the leg is silent rather than plain. */
static struct pbx__srtp broken;

/* ---- suites and keys (any thread) ------------------------------------------------------------ */

const char *pbx_srtp_suite_name(enum pbx_srtp_suite s)
{
	switch (s) {
	case PBX_SRTP_AES_CM_128_HMAC_SHA1_80: return "AES_CM_128_HMAC_SHA1_80";
	case PBX_SRTP_AES_CM_128_HMAC_SHA1_32: return "AES_CM_128_HMAC_SHA1_32";
	case PBX_SRTP_AEAD_AES_128_GCM: return "AEAD_AES_128_GCM";
	case PBX_SRTP_AEAD_AES_256_GCM: return "AEAD_AES_256_GCM";
	}
	return "?";
}

unsigned pbx_srtp_suite_key_len(enum pbx_srtp_suite s)
{
	switch (s) {
	case PBX_SRTP_AES_CM_128_HMAC_SHA1_80:
	case PBX_SRTP_AES_CM_128_HMAC_SHA1_32: return 30; /* 16-byte key, 14-byte salt */
	case PBX_SRTP_AEAD_AES_128_GCM: return 28;        /* 16 + 12, RFC 7714 */
	case PBX_SRTP_AEAD_AES_256_GCM: return 44;        /* 32 + 12 */
	}
	return 0;
}

int pbx_srtp_key_new(struct pbx_srtp_key *k, enum pbx_srtp_suite suite)
{
	unsigned len = pbx_srtp_suite_key_len(suite);
	if (!len)
		return EINVAL;
	memset(k, 0, sizeof *k);
	/* getrandom() of up to 256 bytes never returns short once the pool is
	 * ready; it blocks until then, which happens only early at boot. */
	if (getrandom(k->key, len, 0) != (ssize_t)len) {
		memset(k, 0, sizeof *k);
		return EIO;
	}
	k->suite = suite;
	k->len = (uint8_t)len;
	return 0;
}

bool pbx__srtp_key_valid(const struct pbx_srtp_key *k)
{
	unsigned len = pbx_srtp_suite_key_len(k->suite);
	return len && k->len == len;
}

/* ---- library --------------------------------------------------------------------------------- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status;

static void init_once(void)
{
	init_status = srtp_init();
	/* Before any worker runs, as the crypto kernel's type list is global.
	 * A failure is not fatal, and install said which: libsrtp2's own type
	 * (NSS on Debian) stays for it, correct, only several times slower. */
	if (init_status == srtp_err_status_ok)
		(void)pbx__srtp_ossl_install();
}

int pbx__srtp_init(void)
{
	/* Once per process: libsrtp's crypto kernel is global, and shutting it
	 * down while a restarted engine (tests) still uses it would break it. */
	pthread_once(&once, init_once);
	if (init_status != srtp_err_status_ok) {
		pbx_error("srtp: libsrtp2 failed to initialise (error %d)", (int)init_status);
		return EIO;
	}
	return 0;
}

/* ---- per-session contexts (the session's worker) --------------------------------------------- */

void pbx__srtp_policy(struct srtp_policy_t *pol, const struct pbx_srtp_key *k, int ssrc_type)
{
	memset(pol, 0, sizeof *pol);
	switch (k->suite) {
	case PBX_SRTP_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtcp);
		break;
	case PBX_SRTP_AES_CM_128_HMAC_SHA1_32:
		/* RFC 4568 6.2.2: SRTCP keeps the 80-bit tag with this suite. */
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol->rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtcp);
		break;
	case PBX_SRTP_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtcp);
		break;
	case PBX_SRTP_AEAD_AES_256_GCM:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol->rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol->rtcp);
		break;
	}
	pol->ssrc.type = (srtp_ssrc_type_t)ssrc_type;
	pol->key = (unsigned char *)k->key;
	/* 1024 packets (20 s of voice) of reordering tolerated before a late
	 * packet counts as a replay; the window is a bitmap, 128 bytes. */
	pol->window_size = 1024;
	pol->allow_repeat_tx = 0; /* never the same keystream twice */
}

static srtp_t ctx_new(uint32_t id, const struct pbx_srtp_key *k, srtp_ssrc_type_t type)
{
	srtp_policy_t pol;
	srtp_t ctx = NULL;
	pbx__srtp_policy(&pol, k, type);
	srtp_err_status_t st = srtp_create(&ctx, &pol);
	if (st != srtp_err_status_ok) {
		pbx_error("rtp %u: libsrtp2 refused the %s key (error %d): the leg stays silent",
			  id, pbx_srtp_suite_name(k->suite), (int)st);
		return NULL;
	}
	return ctx;
}

static bool key_eq(const struct pbx_srtp_key *a, const struct pbx_srtp_key *b)
{
	return a->suite == b->suite && a->len == b->len && !memcmp(a->key, b->key, a->len);
}

int pbx__srtp_set(struct pbx__srtp **xp, uint32_t id, const struct pbx_rtp_params *p)
{
	struct pbx__srtp *x = *xp;
	if (!p->srtp) {
		pbx__srtp_free(x);
		*xp = NULL;
		return 0;
	}
	if (!x || x == &broken) {
		if (!(x = calloc(1, sizeof *x))) {
			*xp = &broken;
			return ENOMEM;
		}
		*xp = x;
	}
	/* The same key again (a re-INVITE that did not re-key) keeps the
	 * context: a new one would forget the replay window and, outbound,
	 * the rollover counter, and so reuse keystream after a wrap. */
	if (!x->in || !key_eq(&x->rx, &p->rx)) {
		if (x->in)
			srtp_dealloc(x->in);
		x->rx = p->rx;
		x->in = ctx_new(id, &p->rx, ssrc_any_inbound);
	}
	if (!x->out || !key_eq(&x->tx, &p->tx)) {
		if (x->out)
			srtp_dealloc(x->out);
		x->tx = p->tx;
		x->out = ctx_new(id, &p->tx, ssrc_any_outbound);
	}
	return x->in && x->out ? 0 : EINVAL;
}

void pbx__srtp_free(struct pbx__srtp *x)
{
	if (!x || x == &broken)
		return;
	if (x->in)
		srtp_dealloc(x->in);
	if (x->out)
		srtp_dealloc(x->out);
	explicit_bzero(x, sizeof *x);
	free(x);
}

int pbx__srtp_protect(struct pbx__srtp *x, uint8_t *p, size_t *len)
{
	int n = (int)*len;
	if (!x->out || srtp_protect(x->out, p, &n) != srtp_err_status_ok)
		return EINVAL;
	*len = (size_t)n;
	return 0;
}

int pbx__srtp_unprotect(struct pbx__srtp *x, uint8_t *p, size_t *len)
{
	int n = (int)*len;
	if (!x->in || srtp_unprotect(x->in, p, &n) != srtp_err_status_ok)
		return EBADMSG;
	*len = (size_t)n;
	return 0;
}

int pbx__srtp_unprotect_rtcp(struct pbx__srtp *x, uint8_t *p, size_t *len)
{
	int n = (int)*len;
	if (!x->in || srtp_unprotect_rtcp(x->in, p, &n) != srtp_err_status_ok)
		return EBADMSG;
	*len = (size_t)n;
	return 0;
}
