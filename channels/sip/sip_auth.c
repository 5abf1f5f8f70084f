/**
 * @file sip_auth.c  Digest authentication: stateless nonces, credentials parser, verification
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Nonces carry their own proof: 8 bytes of issue time and 8 bytes of a
 * per-process sequence number (both big-endian), then the first 16 bytes
 * of HMAC-SHA256(secret, "N" time seq realm), 64 lowercase hex digits in
 * all. The server keeps nothing per challenge, so an attacker sending
 * REGISTERs cannot fill memory; a nonce from another process (another
 * secret) or an edited one fails the HMAC. The sequence number makes
 * every nonce unique, even two issued in the same second, and orders
 * them, which the nonce-count table below relies on.
 *
 * The only state is that table: nonce -> highest nc and a 32-wide window
 * of the counts below it (the anti-replay window of RFC 4303 3.4.3), so a
 * request that overtakes another over UDP is still accepted once. It is
 * set-associative: NC_SETS sets of NC_WAYS slots, the set picked by the
 * sequence number, 40 bytes a slot: 65536 slots, 2.5 MiB, plus 128 KiB of
 * per-set eviction marks, fixed at alloc. A slot is taken only after a
 * correct response, so only users who know a password can churn it. When
 * a set is full the slot of the oldest nonce goes, and the set remembers
 * the highest sequence number it ever evicted: a nonce not found in the
 * set and numbered no higher than that may have lost its history, so it
 * is answered ESTALE rather than trusted. The client's retry carries a
 * newer nonce, numbered above the mark, so it never loops.
 */
/* For SHA256_*, deprecated in OpenSSL 3 but its fastest path (see mac()). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "pbx/hash.h"
#include "sip_auth.h"

#define NONCE_RAW    32 /* time 8 + seq 8 + mac 16 */
#define NONCE_MAC    16
#define NONCE_HEX    (2 * NONCE_RAW)
#define NONCE_SKEW_S 2 /* a nonce "from the future" within this is a clock hiccup */
#define NC_WAYS      4
#define NC_SETS      16384
#define NC_WINDOW    32
/* A repeat of the last accepted request is a retransmission this long
 * (64*T1, Timer J: how long a transaction would have absorbed it). */
#define REPEAT_S 32

struct nc_slot {
	uint64_t seq; /* the nonce's sequence number: unique per nonce */
	int64_t issued;
	uint32_t max_nc;   /* 0: slot free */
	uint32_t seen;     /* bit i: nc max_nc - i was used */
	uint32_t last_s;   /* when max_nc was set (low 32 bits of the caller's seconds) */
	uint64_t last_tag; /* keyed hash of the whole request that set max_nc */
};

struct sip_auth {
	uint8_t secret[32];
	/* SHA-256 states after the key XOR ipad / opad: an HMAC is then two
	 * hashes of the data, with nothing fetched or allocated (OpenSSL 3's
	 * one-shot HMAC() fetched the digest on every call: 5% of a MESSAGE). */
	SHA256_CTX hmac_in, hmac_out;
	char realm[SIP_AUTH_REALM_MAX];
	char opaque[17];
	int lifetime;
	uint64_t seq;              /* of the last nonce issued; the first is 1 */
	uint64_t evicted[NC_SETS]; /* highest seq evicted from each set, 0: none */
	uint64_t evictions;        /* live slots given to a newer nonce */
	uint64_t tag_k0, tag_k1;   /* siphash key of the requests' tags */
	struct nc_slot nc[NC_SETS][NC_WAYS];
};

static const char hexdig[] = "0123456789abcdef";

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Lowercase digits only: our nonces are written that way and must come back verbatim. */
static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static const EVP_MD *alg_md(enum sip_auth_alg alg)
{
	/* Fetched once: EVP_sha256() and EVP_md5() are fetched again at every init. */
	static EVP_MD *sha256, *md5;
	EVP_MD **md = alg == SIP_AUTH_SHA256 ? &sha256 : &md5;
	if (!*md)
		*md = EVP_MD_fetch(NULL, alg == SIP_AUTH_SHA256 ? "SHA2-256" : "MD5", NULL);
	return *md;
}

const char *sip_auth_alg_name(enum sip_auth_alg alg)
{
	return alg == SIP_AUTH_SHA256 ? "SHA-256" : "MD5";
}

size_t sip_auth_hex_len(enum sip_auth_alg alg)
{
	return alg == SIP_AUTH_SHA256 ? 64 : 32;
}

/* H(parts[0] ":" parts[1] ":" ...) in hex; fed piecewise so nothing is copied or bounded. */
static int digest_join(enum sip_auth_alg alg, const char *const *parts, size_t n, char *hex_out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int err = EIO;
	/* One context, reset at each use (the signalling thread's only). */
	static EVP_MD_CTX *ctx;
	const EVP_MD *md_type = alg_md(alg);
	hex_out[0] = '\0';
	if (!ctx)
		ctx = EVP_MD_CTX_new();
	if (!ctx || !md_type || !EVP_DigestInit_ex2(ctx, md_type, NULL))
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((i && !EVP_DigestUpdate(ctx, ":", 1)) ||
		    !EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])))
			goto out;
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen * 2 != sip_auth_hex_len(alg))
		goto out;
	hex_encode(md, mdlen, hex_out);
	err = 0;
out:
	return err;
}

int sip_auth_ha1(enum sip_auth_alg alg, const char *user, const char *realm, const char *password,
		 char *hex_out)
{
	const char *parts[] = {user, realm, password};
	return digest_join(alg, parts, 3, hex_out);
}

int sip_auth_response(enum sip_auth_alg alg, const char *ha1_hex, const char *nonce, const char *nc,
		      const char *cnonce, const char *qop, const char *method, const char *uri,
		      char *hex_out)
{
	char ha2[SIP_AUTH_HEX_MAX];
	const char *a2[] = {method, uri};
	int err = digest_join(alg, a2, 2, ha2);
	if (err)
		return err;
	const char *kd[] = {ha1_hex, nonce, nc, cnonce, qop, ha2};
	return digest_join(alg, kd, 6, hex_out);
}

/* HMAC-SHA256 (RFC 2104) under the secret: its key blocks are hashed once, in mac_key. */
static void mac_key(struct sip_auth *a)
{
	uint8_t in[SHA256_CBLOCK], out[SHA256_CBLOCK];
	for (size_t i = 0; i < SHA256_CBLOCK; i++) {
		uint8_t k = i < sizeof a->secret ? a->secret[i] : 0;
		in[i] = k ^ 0x36;
		out[i] = k ^ 0x5c;
	}
	SHA256_Init(&a->hmac_in);
	SHA256_Update(&a->hmac_in, in, sizeof in);
	SHA256_Init(&a->hmac_out);
	SHA256_Update(&a->hmac_out, out, sizeof out);
	OPENSSL_cleanse(in, sizeof in);
	OPENSSL_cleanse(out, sizeof out);
}

static int mac(const struct sip_auth *a, const uint8_t *data, size_t n, uint8_t out[32])
{
	uint8_t inner[SHA256_DIGEST_LENGTH];
	SHA256_CTX c = a->hmac_in;
	if (!SHA256_Update(&c, data, n) || !SHA256_Final(inner, &c))
		return EIO;
	c = a->hmac_out;
	if (!SHA256_Update(&c, inner, sizeof inner) || !SHA256_Final(out, &c))
		return EIO;
	OPENSSL_cleanse(&c, sizeof c);
	return 0;
}

/* "N" time seq realm: the tag keeps nonce MACs apart from the opaque's. */
static int nonce_mac(const struct sip_auth *a, const uint8_t tr[16], uint8_t out[32])
{
	uint8_t buf[1 + 16 + SIP_AUTH_REALM_MAX];
	size_t rl = strlen(a->realm);
	buf[0] = 'N';
	memcpy(buf + 1, tr, 16);
	memcpy(buf + 17, a->realm, rl);
	return mac(a, buf, 17 + rl, out);
}

static bool realm_ok(const char *realm)
{
	size_t n = strlen(realm);
	if (!n || n >= SIP_AUTH_REALM_MAX)
		return false;
	/* Nothing that would need escaping, so challenges are written verbatim. */
	for (size_t i = 0; i < n; i++)
		if (realm[i] < 0x20 || realm[i] > 0x7e || realm[i] == '"' || realm[i] == '\\')
			return false;
	return true;
}

int sip_auth_alloc(struct sip_auth **ap, const char *realm, int nonce_lifetime_s)
{
	struct sip_auth *a = NULL;
	uint8_t om[32], tag[1 + SIP_AUTH_REALM_MAX];
	int err = EINVAL;
	*ap = NULL;
	if (!realm || !realm_ok(realm) || nonce_lifetime_s < 1 || nonce_lifetime_s > 86400)
		goto out;
	err = ENOMEM;
	/* Zeroed by hand, not calloc'd: the 2.6 MiB table is resident from the
	 * start instead of growing page by page as nonces land in new sets
	 * (minutes at an office's rate), which would read as a leak.
	 * explicit_bzero, since a compiler may turn malloc+memset into calloc. */
	a = malloc(sizeof *a);
	if (!a)
		goto out;
	explicit_bzero(a, sizeof *a);
	err = EIO;
	if (RAND_bytes(a->secret, sizeof a->secret) != 1 ||
	    RAND_bytes((unsigned char *)&a->tag_k0, sizeof a->tag_k0) != 1 ||
	    RAND_bytes((unsigned char *)&a->tag_k1, sizeof a->tag_k1) != 1)
		goto out;
	mac_key(a);
	strcpy(a->realm, realm);
	a->lifetime = nonce_lifetime_s;
	/* The opaque only has to come back unchanged; deriving it from the
	 * secret makes it differ between servers without storing anything. */
	tag[0] = 'O';
	memcpy(tag + 1, realm, strlen(realm));
	if (mac(a, tag, 1 + strlen(realm), om))
		goto out;
	hex_encode(om, 8, a->opaque);
	*ap = a;
	a = NULL;
	err = 0;
out:
	if (a)
		sip_auth_free(a);
	return err;
}

void sip_auth_free(struct sip_auth *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->secret, sizeof a->secret);
	OPENSSL_cleanse(&a->hmac_in, sizeof a->hmac_in);
	OPENSSL_cleanse(&a->hmac_out, sizeof a->hmac_out);
	free(a);
}

const char *sip_auth_realm(const struct sip_auth *a)
{
	return a->realm;
}

int sip_auth_challenge(struct sip_auth *a, int64_t now, bool stale, struct sip_auth_chal *out)
{
	uint8_t raw[NONCE_RAW], m[32];
	char nonce[NONCE_HEX + 1];
	uint64_t t = (uint64_t)now, seq = ++a->seq;
	memset(out, 0, sizeof *out);
	for (int i = 0; i < 8; i++) {
		raw[i] = (uint8_t)(t >> (56 - 8 * i));
		raw[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	}
	if (nonce_mac(a, raw, m))
		return EIO;
	memcpy(raw + 16, m, NONCE_MAC);
	hex_encode(raw, NONCE_RAW, nonce);
	static const enum sip_auth_alg order[SIP_AUTH_NALG] = {SIP_AUTH_SHA256, SIP_AUTH_MD5};
	for (unsigned i = 0; i < SIP_AUTH_NALG; i++) {
		int n = snprintf(out->value[i], sizeof out->value[i],
				 "Digest realm=\"%s\", nonce=\"%s\", opaque=\"%s\", algorithm=%s, "
				 "qop=\"auth\"%s",
				 a->realm, nonce, a->opaque, sip_auth_alg_name(order[i]),
				 stale ? ", stale=true" : "");
		if (n < 0 || (size_t)n >= sizeof out->value[i])
			return EIO; /* cannot happen: realm_ok bounds the realm */
		out->alg[i] = order[i];
	}
	out->n = SIP_AUTH_NALG;
	return 0;
}

/* ---- parser ------------------------------------------------------------ */

enum {
	P_USERNAME,
	P_REALM,
	P_NONCE,
	P_URI,
	P_RESPONSE,
	P_ALGORITHM,
	P_CNONCE,
	P_QOP,
	P_NC,
	P_OPAQUE,
	P_COUNT
};

#define FIELD(f) offsetof(struct sip_auth_cred, f), sizeof(((struct sip_auth_cred *)0)->f)

static const struct {
	const char *name;
	size_t off, size; /* size 0: not stored in the struct */
	const char *too_long;
} params[P_COUNT] = {
	[P_USERNAME] = {"username", FIELD(username), "username too long"},
	[P_REALM] = {"realm", FIELD(realm), "realm too long"},
	[P_NONCE] = {"nonce", FIELD(nonce), "nonce too long"},
	[P_URI] = {"uri", FIELD(uri), "uri too long"},
	[P_RESPONSE] = {"response", FIELD(response), "response too long"},
	[P_ALGORITHM] = {"algorithm", 0, 0, "unsupported algorithm"},
	[P_CNONCE] = {"cnonce", FIELD(cnonce), "cnonce too long"},
	[P_QOP] = {"qop", FIELD(qop), "qop too long"},
	[P_NC] = {"nc", FIELD(nc), "nc is not 8 hex digits"},
	[P_OPAQUE] = {"opaque", FIELD(opaque), "opaque too long"},
};

/* RFC 3261 25.1 token characters. */
static bool is_token(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("-.!%*_+`'~", c);
}

/* CR and LF too: a header the message layer did not unfold is still read. */
static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/*
 * One value, token or quoted-string, copied unescaped into dst (size
 * bytes; dst NULL for a parameter we ignore). The caller zeroed dst and
 * we never write its last byte, so it stays terminated whatever happens.
 * Returns 0, EBADMSG (*why set) or E2BIG.
 */
static int parse_value(const char **pp, const char *end, char *dst, size_t size, const char **why)
{
	const char *p = *pp;
	size_t n = 0;
	bool big = false;
	if (p < end && *p == '"') {
		for (p++;; p++) {
			if (p == end) {
				*why = "unterminated quoted string";
				return EBADMSG;
			}
			unsigned char c = (unsigned char)*p;
			if (c == '"')
				break;
			if (c == '\\') {
				if (++p == end) {
					*why = "unterminated quoted string";
					return EBADMSG;
				}
				c = (unsigned char)*p;
				/* A NUL would cut the C string short: "alice\0x" must not be alice. */
				if (c == '\0' || c == '\r' || c == '\n') {
					*why = "bad escape in quoted string";
					return EBADMSG;
				}
			} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*why = "control character in quoted string";
				return EBADMSG;
			}
			if (dst && n + 1 < size)
				dst[n++] = (char)c;
			else if (dst)
				big = true;
		}
		p++;
	} else {
		const char *s = p;
		while (p < end && is_token((unsigned char)*p)) {
			if (dst && n + 1 < size)
				dst[n++] = *p;
			else if (dst)
				big = true;
			p++;
		}
		if (p == s) {
			*why = "missing parameter value";
			return EBADMSG;
		}
	}
	*pp = p;
	return big ? E2BIG : 0;
}

static int param_lookup(const char *name, size_t n)
{
	for (int k = 0; k < P_COUNT; k++)
		if (strlen(params[k].name) == n && !strncasecmp(params[k].name, name, n))
			return k;
	return -1;
}

int sip_auth_parse(const char *value, size_t len, struct sip_auth_cred *cred)
{
	char alg[24] = "";
	unsigned seen = 0, count = 0;
	memset(cred, 0, sizeof *cred);
	cred->why = "scheme is not Digest";
	if (!value)
		return EBADMSG;
	const char *p = skip_ws(value, value + len), *end = value + len, *s = p;
	while (p < end && is_token((unsigned char)*p))
		p++;
	if (p - s != 6 || strncasecmp(s, "Digest", 6) || (p < end && !is_ws(*p)))
		return EBADMSG;
	for (;;) {
		p = skip_ws(p, end);
		if (p == end)
			break;
		if (*p == ',') { /* empty list elements, as RFC 7230 7 allows */
			p++;
			continue;
		}
		const char *name = p;
		while (p < end && is_token((unsigned char)*p))
			p++;
		if (p == name) {
			cred->why = "bad parameter name";
			return EBADMSG;
		}
		int k = param_lookup(name, (size_t)(p - name));
		p = skip_ws(p, end);
		if (p == end || *p != '=') {
			cred->why = "expected '=' after parameter name";
			return EBADMSG;
		}
		p = skip_ws(p + 1, end);
		char *dst = NULL;
		size_t size = 0;
		if (k >= 0) {
			if (seen & 1u << k) {
				cred->why = "duplicate parameter";
				return EBADMSG;
			}
			seen |= 1u << k;
			dst = k == P_ALGORITHM ? alg : (char *)cred + params[k].off;
			size = k == P_ALGORITHM ? sizeof alg : params[k].size;
		}
		int err = parse_value(&p, end, dst, size, &cred->why);
		if (err == E2BIG && k == P_ALGORITHM) {
			strcpy(alg, "?"); /* a long name is just an algorithm we lack */
		} else if (err == E2BIG) {
			cred->why = params[k].too_long;
			return EBADMSG;
		} else if (err) {
			return EBADMSG;
		}
		count++;
		p = skip_ws(p, end);
		if (p < end && *p != ',') {
			cred->why = "expected ',' between parameters";
			return EBADMSG;
		}
	}
	if (!count) {
		cred->why = "no parameters";
		return EBADMSG;
	}
	if (seen & 1u << P_NC) {
		if (strlen(cred->nc) != 8 || !is_hex(cred->nc, 8)) {
			cred->why = params[P_NC].too_long;
			return EBADMSG;
		}
		cred->nc_val = (uint32_t)strtoul(cred->nc, NULL, 16);
	}
	if (seen & 1u << P_ALGORITHM) {
		if (!strcasecmp(alg, "SHA-256")) {
			cred->alg = SIP_AUTH_SHA256;
		} else if (strcasecmp(alg, "MD5")) {
			/* MD5-sess, SHA-256-sess, SHA-512-256 and the rest: we never
			 * offer them, so the client gets a fresh challenge. */
			cred->why = "unsupported algorithm";
			return ENOTSUP;
		}
	}
	cred->why = NULL;
	return 0;
}

/* ---- verification ------------------------------------------------------ */

/* True when the nonce issued at @p issued is past its lifetime at @p now.
 * Unsigned differences: no overflow whatever the two times are. */
static bool too_old(const struct sip_auth *a, int64_t issued, int64_t now)
{
	return now > issued && (uint64_t)now - (uint64_t)issued > (uint64_t)a->lifetime;
}

/* Is @p nonce one of ours, within its lifetime? 0 with its sequence and issue time,
 * ESTALE (not ours, or expired) or EIO, with *why. */
static int nonce_check(const struct sip_auth *a, const char *nonce, int64_t now, uint64_t *seq,
		       int64_t *issued, const char **why)
{
	uint8_t raw[NONCE_RAW], m[32];
	*why = "nonce not issued by this server";
	if (strlen(nonce) != NONCE_HEX)
		return ESTALE;
	for (size_t i = 0; i < NONCE_RAW; i++) {
		int hi = hex_val(nonce[2 * i]), lo = hex_val(nonce[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ESTALE;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	if (nonce_mac(a, raw, m)) {
		*why = "HMAC failed";
		return EIO;
	}
	if (CRYPTO_memcmp(m, raw + 16, NONCE_MAC))
		return ESTALE;
	uint64_t t = 0;
	*seq = 0;
	for (int i = 0; i < 8; i++) {
		t = t << 8 | raw[i];
		*seq = *seq << 8 | raw[8 + i];
	}
	*issued = (int64_t)t;
	if ((*issued > now && (uint64_t)*issued - (uint64_t)now > NONCE_SKEW_S) ||
	    too_old(a, *issued, now)) {
		*why = "nonce expired";
		return ESTALE;
	}
	return 0;
}

bool sip_auth_nonce_fresh(const struct sip_auth *a, const char *nonce, int64_t now)
{
	uint64_t seq;
	int64_t issued;
	const char *why;
	return !nonce_check(a, nonce, now, &seq, &issued, &why);
}

/* Apply nc to a slot's window; false when it was used or fell out of the window. */
static bool nc_accept(const struct nc_slot *s, uint32_t nc, struct nc_slot *next)
{
	*next = *s;
	if (nc == 0) /* counts start at 1; 0 would also look like a free slot */
		return false;
	if (nc > s->max_nc) {
		uint32_t shift = nc - s->max_nc;
		next->seen = (shift >= NC_WINDOW ? 0 : s->seen << shift) | 1u;
		next->max_nc = nc;
		return true;
	}
	uint32_t back = s->max_nc - nc;
	if (back >= NC_WINDOW || s->seen & 1u << back)
		return false;
	next->seen |= 1u << back;
	return true;
}

/* @p repeat_ok: the request last accepted with this nonce, byte for byte
 * (@p tag), is let through again within REPEAT_S, as the retransmission of
 * a request answered statelessly. The whole request, not the digest
 * response: that covers neither Contact nor CSeq, so a captured REGISTER
 * with another Contact would otherwise pass as a retransmission. */
static int nc_check(struct sip_auth *a, uint64_t seq, int64_t issued, uint32_t nc, uint64_t tag,
		    bool repeat_ok, int64_t now, const char **why)
{
	/* Consecutive nonces go round the sets, which fills them evenly. */
	size_t set = (size_t)(seq % NC_SETS);
	struct nc_slot *ways = a->nc[set], *victim = NULL, next;
	for (int i = 0; i < NC_WAYS; i++) {
		struct nc_slot *s = &ways[i];
		if (s->max_nc && s->seq == seq) {
			if (repeat_ok && nc == s->max_nc && tag == s->last_tag &&
			    (uint32_t)now - s->last_s <= REPEAT_S)
				return 0;
			if (!nc_accept(s, nc, &next)) {
				*why = "nonce count replayed";
				return EACCES;
			}
			if (next.max_nc == nc) {
				next.last_tag = tag;
				next.last_s = (uint32_t)now;
			}
			*s = next;
			return 0;
		}
	}
	if (seq <= a->evicted[set]) {
		*why = "nonce count history evicted";
		return ESTALE;
	}
	struct nc_slot fresh = {
		.seq = seq, .issued = issued, .last_tag = tag, .last_s = (uint32_t)now};
	if (!nc_accept(&fresh, nc, &next)) { /* nc 0: below any count */
		*why = "nonce count replayed";
		return EACCES;
	}
	/* A free slot, else one whose nonce expired (it can only be answered
	 * ESTALE now, so forgetting it costs nothing), else the oldest. */
	for (int i = 0; i < NC_WAYS && !victim; i++)
		if (!ways[i].max_nc || too_old(a, ways[i].issued, now))
			victim = &ways[i];
	if (!victim) {
		victim = &ways[0];
		for (int i = 1; i < NC_WAYS; i++)
			if (ways[i].seq < victim->seq)
				victim = &ways[i];
		if (victim->seq > a->evicted[set])
			a->evicted[set] = victim->seq;
		a->evictions++;
	}
	*victim = next;
	return 0;
}

void sip_auth_nonce_stats(const struct sip_auth *a, int64_t now, struct sip_auth_nonce_stats *st)
{
	st->slots = NC_SETS * NC_WAYS;
	st->live = 0;
	for (size_t i = 0; i < NC_SETS; i++)
		for (int w = 0; w < NC_WAYS; w++)
			st->live += a->nc[i][w].max_nc && !too_old(a, a->nc[i][w].issued, now);
	st->evictions = a->evictions;
}

static int verify(struct sip_auth *a, const struct sip_auth_cred *c, const char *method,
		  const char *ha1_hex, int64_t now, const void *req, size_t req_len,
		  const char **why)
{
	const char *dummy;
	char ha1[SIP_AUTH_HEX_MAX], got[SIP_AUTH_HEX_MAX], want[SIP_AUTH_HEX_MAX];
	size_t hl = sip_auth_hex_len(c->alg);
	int err;
	if (!why)
		why = &dummy;
	*why = "missing username, realm, nonce, uri or response";
	if (!*c->username || !*c->realm || !*c->nonce || !*c->uri || !*c->response)
		return EBADMSG;
	*why = "qop=auth required";
	if (!*c->qop)
		return EBADMSG;
	if (strcasecmp(c->qop, "auth")) {
		*why = "unsupported qop";
		return EBADMSG;
	}
	if (strlen(c->nc) != 8 || !is_hex(c->nc, 8) || !*c->cnonce) {
		*why = "qop without nc or cnonce";
		return EBADMSG;
	}
	if (strlen(c->response) != hl || !is_hex(c->response, hl)) {
		*why = "response is not a digest of the algorithm";
		return EBADMSG;
	}
	if (!method || !ha1_hex || strlen(ha1_hex) != hl || !is_hex(ha1_hex, hl)) {
		*why = "no method, or HA1 is not a digest of the algorithm";
		return EINVAL;
	}
	*why = "realm mismatch";
	if (strcmp(c->realm, a->realm))
		return EACCES;
	/* The response first, over the nonce as sent, whoever issued it: a
	 * wrong one is EACCES (a guess, counted towards a ban) before we look
	 * at the nonce, and a right one proves the password, so every nonce
	 * problem after it is ESTALE (RFC 7616 3.3 stale), never a ban. That
	 * spares the phones of an office that kept their nonces across a
	 * restart of the PBX, which changes the secret. Hashes are lowercase
	 * hex (RFC 7616 3.4.1); fold what the client and the directory gave so
	 * case alone never decides. */
	for (size_t i = 0; i <= hl; i++) {
		ha1[i] = (char)tolower((unsigned char)ha1_hex[i]);
		got[i] = (char)tolower((unsigned char)c->response[i]);
	}
	err = sip_auth_response(c->alg, ha1, c->nonce, c->nc, c->cnonce, c->qop, method, c->uri,
				want);
	OPENSSL_cleanse(ha1, sizeof ha1);
	if (err) {
		*why = "digest failed";
		return err;
	}
	if (CRYPTO_memcmp(want, got, hl)) {
		*why = "wrong response";
		return EACCES;
	}
	uint64_t seq;
	int64_t issued;
	if ((err = nonce_check(a, c->nonce, now, &seq, &issued, why)))
		return err;
	/* Our nonce with another opaque: nothing a working client sends. */
	if (*c->opaque && strcmp(c->opaque, a->opaque)) {
		*why = "opaque mismatch";
		return EACCES;
	}
	uint64_t tag = req ? pbx_siphash(req, req_len, a->tag_k0, a->tag_k1) : 0;
	err = nc_check(a, seq, issued, c->nc_val, tag, req != NULL, now, why);
	if (!err)
		*why = NULL;
	return err;
}

int sip_auth_verify(struct sip_auth *a, const struct sip_auth_cred *c, const char *method,
		    const char *ha1_hex, int64_t now, const char **why)
{
	return verify(a, c, method, ha1_hex, now, NULL, 0, why);
}

int sip_auth_verify_retransmittable(struct sip_auth *a, const struct sip_auth_cred *c,
				    const char *method, const char *ha1_hex, int64_t now,
				    const void *req, size_t req_len, const char **why)
{
	return verify(a, c, method, ha1_hex, now, req, req_len, why);
}
