/**
 * @file sip_auth.h  Digest authentication (RFC 3261 22.4, RFC 8760): challenges, parsing, verification
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A pure module: no sockets, no clock of its own. The registrar passes the
 * time in (seconds from any clock that does not step backwards, e.g. the
 * loop's monotonic time) so tests can simulate it.
 *
 * Flow for a request that acts for a user:
 *
 *   no Authorization header       -> sip_auth_challenge(), 401/407 with one
 *                                    WWW-/Proxy-Authenticate per value
 *   sip_auth_parse() != 0         -> 400 (EBADMSG) or a fresh challenge (ENOTSUP)
 *   look up the user's HA1 for cred.username and cred.alg; for an unknown
 *   user pass any HA1 of the right length (sip_auth_ha1 of a random
 *   password) so the answer and the work done are the same as for a wrong
 *   password
 *   sip_auth_verify() == ESTALE   -> challenge again with stale=true
 *   sip_auth_verify() == EACCES   -> challenge again, sip_ban_fail()
 *   sip_auth_verify() == 0        -> go on, sip_ban_success()
 *
 * The registrar also checks that cred.uri names the request's Request-URI
 * (RFC 2617 3.2.2.5); this module never sees the request.
 */
#ifndef SIP_AUTH_H
#define SIP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sip_auth_alg {
	SIP_AUTH_MD5 = 0, /* the default when a header names no algorithm */
	SIP_AUTH_SHA256,
};

#define SIP_AUTH_NALG      2
#define SIP_AUTH_HEX_MAX   65  /* a SHA-256 digest in hex, NUL included */
#define SIP_AUTH_REALM_MAX 128 /* NUL included */
#define SIP_AUTH_CHAL_MAX  320 /* one challenge value; fits the longest realm */

/**
 * Parsed Authorization / Proxy-Authorization value. Every string is an
 * unescaped, NUL-terminated copy; an absent parameter is "". Values that
 * do not fit are refused, never truncated.
 */
struct sip_auth_cred {
	enum sip_auth_alg alg;
	char username[128];
	char realm[SIP_AUTH_REALM_MAX];
	char nonce[128];
	char uri[512];
	char response[SIP_AUTH_HEX_MAX];
	char cnonce[128];
	char qop[16];
	char nc[9];      /* 8 hex digits as sent: the response hashes this text */
	uint32_t nc_val; /* nc as a number */
	char opaque[128];
	const char *why; /* static reason text when sip_auth_parse fails */
};

/** Challenge values, most preferred first: SHA-256, then MD5 (RFC 8760 2.4). */
struct sip_auth_chal {
	unsigned n;
	enum sip_auth_alg alg[SIP_AUTH_NALG];
	char value[SIP_AUTH_NALG][SIP_AUTH_CHAL_MAX]; /* `Digest realm="..", ...` */
};

struct sip_auth;

/**
 * Server state: a random secret that binds nonces to this process, the
 * realm, the nonce lifetime and the nonce-count table.
 * @p realm is 1-127 printable ASCII characters without '"' or '\'.
 * @p nonce_lifetime_s is 1..86400. Returns 0, EINVAL, ENOMEM or EIO (no
 * randomness). Memory: about 210 KiB, fixed (see sip_auth.c).
 */
int sip_auth_alloc(struct sip_auth **ap, const char *realm, int nonce_lifetime_s);
void sip_auth_free(struct sip_auth *a);
const char *sip_auth_realm(const struct sip_auth *a);

/** "MD5" or "SHA-256", as written in the algorithm parameter. */
const char *sip_auth_alg_name(enum sip_auth_alg alg);
/** Length of the hex digest of @p alg: 32 or 64. */
size_t sip_auth_hex_len(enum sip_auth_alg alg);

/**
 * Fill @p out with a fresh challenge: one nonce shared by every value, so
 * the client answers whichever algorithm it prefers. @p stale adds
 * stale=true (after sip_auth_verify returned ESTALE). Stateless: nothing
 * is stored per challenge. Returns 0 or EIO (HMAC failed).
 */
int sip_auth_challenge(struct sip_auth *a, int64_t now, bool stale, struct sip_auth_chal *out);

/**
 * Parse a credentials value (`Digest username="..", ...`), @p len bytes,
 * not necessarily NUL-terminated. Parameters in any order, names
 * case-insensitive, values quoted (with backslash escapes) or tokens,
 * unknown parameters ignored, duplicates refused.
 * Returns 0; EBADMSG for bad syntax, a scheme other than Digest, an
 * over-long value or a malformed nc; ENOTSUP for an algorithm other than
 * MD5 and SHA-256 (MD5-sess, SHA-256-sess, SHA-512-256, ...), so the
 * caller challenges again. cred->why says why.
 */
int sip_auth_parse(const char *value, size_t len, struct sip_auth_cred *cred);

/**
 * Check credentials against the user's HA1 (hex, of cred->alg: 32 or 64
 * digits) for request @p method. qop=auth is required: it is what the
 * challenge offers, and without nc and cnonce a captured request could
 * be replayed for the whole nonce lifetime (RFC 2069 style is refused).
 * The response is checked first, over the nonce as sent, so nonce
 * problems are reported only to clients that know the password.
 * Returns
 *   0        the user knows the password; the nc is recorded;
 *   EACCES   wrong response (wrong password, unknown user, or a nonce
 *            edited after the fact), realm mismatch, or, with a right
 *            response, an opaque that is not ours or a replayed nc;
 *   ESTALE   right response, but the nonce expired, was not issued by
 *            this process (e.g. before a restart) or lost its nc history
 *            to eviction: challenge again with stale=true, no ban;
 *   EBADMSG  missing parameters, qop other than auth, qop without
 *            nc/cnonce, response of the wrong length;
 *   EINVAL   no @p method, or @p ha1_hex is not a hex digest of cred->alg
 *            (caller bug);
 *   EIO      the digest could not be computed (OpenSSL failure).
 * *why (may be NULL) gets a static reason for the log.
 */
int sip_auth_verify(struct sip_auth *a, const struct sip_auth_cred *c, const char *method,
		    const char *ha1_hex, int64_t now, const char **why);

/**
 * sip_auth_verify, for a request answered statelessly (a REGISTER over
 * UDP), whose bytes are @p req: its retransmission, the same bytes within
 * 32 s (Timer J) of the first, is accepted again instead of refused as a
 * replay, as a transaction would have absorbed it. Only what is
 * idempotent may be verified so: a repeated REGISTER re-applies the same
 * binding, a repeated INVITE would place a call.
 */
int sip_auth_verify_retransmittable(struct sip_auth *a, const struct sip_auth_cred *c,
				    const char *method, const char *ha1_hex, int64_t now,
				    const void *req, size_t req_len, const char **why);

/** True when @p nonce was issued by this server and is within its lifetime. */
bool sip_auth_nonce_fresh(const struct sip_auth *a, const char *nonce, int64_t now);

/** The nonce-count table: fixed size, oldest nonce evicted from a full set (see sip_auth.c). */
struct sip_auth_nonce_stats {
	size_t slots;       /* capacity */
	size_t live;        /* slots holding a nonce still within its lifetime */
	uint64_t evictions; /* live slots given to a newer nonce */
};
void sip_auth_nonce_stats(const struct sip_auth *a, int64_t now, struct sip_auth_nonce_stats *st);

/**
 * HA1 = H(user ":" realm ":" password) in lowercase hex into @p hex_out
 * (SIP_AUTH_HEX_MAX bytes). Returns 0 or EIO.
 */
int sip_auth_ha1(enum sip_auth_alg alg, const char *user, const char *realm, const char *password,
		 char *hex_out);

/**
 * response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri))
 * (RFC 7616 3.4.1, qop=auth) in lowercase hex into @p hex_out
 * (SIP_AUTH_HEX_MAX bytes). Also what a client side would send.
 * Returns 0 or EIO.
 */
int sip_auth_response(enum sip_auth_alg alg, const char *ha1_hex, const char *nonce, const char *nc,
		      const char *cnonce, const char *qop, const char *method, const char *uri,
		      char *hex_out);

static inline bool sip_auth_cred_is_sha256(const struct sip_auth_cred *c)
{
	return c->alg == SIP_AUTH_SHA256;
}

#endif
