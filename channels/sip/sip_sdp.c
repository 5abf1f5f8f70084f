/**
 * @file sip_sdp.c  SDP parser, offer/answer negotiation and builder
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The parser walks the body once, line by line, and copies what it keeps
 * into fixed-size fields: no allocation, linear in the body. It is strict
 * where a mistake would send media to the wrong place or with the wrong
 * codec (m=, c=, rtpmap, ptime), and lenient where phones are sloppy and
 * nothing depends on it (LF without CR, blank lines, missing s= or t=,
 * line order, unknown lines and attributes).
 *
 * Our codecs are the core's registered descriptors (pbx/codec.h): the
 * caller hands in its list, best first, and a chosen codec comes back as
 * a descriptor pointer. The names of RFC 3551's static payload types are
 * known here too, since phones may list them without an rtpmap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pbx/codec.h"
#include "sip_sdp.h"

/* Static audio payload types of RFC 3551 that may come without an rtpmap. */
struct static_pt {
	uint8_t pt;
	const char *name;
	uint32_t rate;
};

static const struct static_pt static_pts[] = {
	{0, "PCMU", 8000},  {3, "GSM", 8000},    {4, "G723", 8000}, {5, "DVI4", 8000},
	{6, "DVI4", 16000}, {7, "LPC", 8000},    {8, "PCMA", 8000}, {9, "G722", 8000},
	{10, "L16", 44100}, {12, "QCELP", 8000}, {13, "CN", 8000},  {15, "G728", 8000},
	{18, "G729", 8000},
};

#define TELEPHONE_EVENT "telephone-event"
/*
 * The telephone-event clock of our offers, and the one we accept beside a
 * codec of another clock: what phones offer next to opus/48000, and what
 * the media engine counts event durations in.
 */
#define DTMF_RATE  8000
#define DYN_PT_MIN 96 /* RFC 3551 3: dynamic payload types are 96..127 */
#define DYN_PT_MAX 127

/* ---- slices ---------------------------------------------------------------- */

struct pl {
	const char *p;
	size_t n;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static bool pl_eq(struct pl a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && !memcmp(a.p, s, n);
}

static bool pl_caseeq(struct pl a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && !strncasecmp(a.p, s, n);
}

static struct pl pl_trim(struct pl a)
{
	while (a.n && is_ws(*a.p))
		a.p++, a.n--;
	while (a.n && is_ws(a.p[a.n - 1]))
		a.n--;
	return a;
}

/* The next whitespace-separated token of *rest; empty at the end. */
static struct pl pl_token(struct pl *rest)
{
	struct pl t;
	while (rest->n && is_ws(*rest->p))
		rest->p++, rest->n--;
	t.p = rest->p;
	t.n = 0;
	while (t.n < rest->n && !is_ws(t.p[t.n]))
		t.n++;
	rest->p += t.n;
	rest->n -= t.n;
	return t;
}

/* Split *rest at the first @p sep: the part before, *rest is what follows. */
static struct pl pl_split(struct pl *rest, char sep, bool *found)
{
	const char *q = rest->n ? memchr(rest->p, sep, rest->n) : NULL;
	struct pl t = {rest->p, q ? (size_t)(q - rest->p) : rest->n};
	if (found)
		*found = q != NULL;
	rest->p += q ? t.n + 1 : t.n;
	rest->n -= q ? t.n + 1 : t.n;
	return t;
}

/* Decimal digits only, at most @p max; no sign, no overflow. */
static int pl_u64(struct pl t, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	if (!t.n || t.n > 20)
		return EINVAL;
	for (size_t i = 0; i < t.n; i++) {
		unsigned d = (unsigned char)t.p[i] - '0';
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return EINVAL;
		x = x * 10 + d;
	}
	if (x > max)
		return EINVAL;
	*v = x;
	return 0;
}

static int pl_u32(struct pl t, uint32_t max, uint32_t *v)
{
	uint64_t x;
	int err = pl_u64(t, max, &x);
	if (!err)
		*v = (uint32_t)x;
	return err;
}

/* A NUL-terminated copy; ENOSPC rather than a silent truncation. */
static int pl_copy(struct pl t, char *dst, size_t size)
{
	if (t.n >= size)
		return ENOSPC;
	memcpy(dst, t.p, t.n);
	dst[t.n] = '\0';
	return 0;
}

/* ---- base64 (RFC 4648, standard alphabet) -------------------------------- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode into at most @p size bytes. Padding may be left out (some phones
 * do), but when present it must be right; a '=' anywhere else, a stray
 * character or a dangling sixth of a byte is an error.
 */
static int b64_decode(struct pl in, uint8_t *out, size_t size, size_t *outlen)
{
	size_t n = in.n, pad = 0, len = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	while (n && in.p[n - 1] == '=' && pad < 2)
		n--, pad++;
	if (!n || (pad && (n + pad) % 4) || n % 4 == 1)
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(in.p[i]);
		if (v < 0)
			return EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (len == size)
				return ENOSPC;
			out[len++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = len;
	return 0;
}

static int b64_encode(struct pbx_buf *out, const uint8_t *in, size_t n)
{
	char q[4];
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		q[0] = b64_chars[v >> 18];
		q[1] = b64_chars[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64_chars[v & 63] : '=';
		if (pbx_buf_append(out, q, 4))
			return ENOMEM;
	}
	return 0;
}

/* ---- a=crypto (RFC 4568 9.1, 9.2; RFC 7714 12) --------------------------- */

struct suite_info {
	const char *name;
	uint8_t key_len; /* master key + master salt */
};

static const struct suite_info suites[] = {
	[SDP_SUITE_UNKNOWN] = {NULL, 0},
	[SDP_SUITE_AES_CM_128_HMAC_SHA1_80] = {"AES_CM_128_HMAC_SHA1_80", 16 + 14},
	[SDP_SUITE_AES_CM_128_HMAC_SHA1_32] = {"AES_CM_128_HMAC_SHA1_32", 16 + 14},
	[SDP_SUITE_AEAD_AES_128_GCM] = {"AEAD_AES_128_GCM", 16 + 12},
	[SDP_SUITE_AEAD_AES_256_GCM] = {"AEAD_AES_256_GCM", 32 + 12},
};

#define NSUITES (sizeof(suites) / sizeof(suites[0]))

/* 2^48 packets: the SRTP maximum (RFC 3711 9.2); a longer lifetime is a lie. */
#define LIFETIME_MAX (UINT64_C(1) << 48)

const char *sdp_suite_name(enum sdp_suite s)
{
	return (unsigned)s < NSUITES ? suites[s].name : NULL;
}

size_t sdp_suite_key_len(enum sdp_suite s)
{
	return (unsigned)s < NSUITES ? suites[s].key_len : 0;
}

bool sdp_crypto_usable(const struct sdp_crypto *c)
{
	/*
	 * Unprotected modes are refused so that a call shown as encrypted is
	 * encrypted and authenticated. A second key is only ever switched to
	 * by MKI, which the media engine does not follow; KDR and FEC are not
	 * in libsrtp2.
	 */
	return c->suite != SDP_SUITE_UNKNOWN && c->key_len == sdp_suite_key_len(c->suite) &&
	       c->nkeys == 1 && c->kdr <= 0 && !c->fec && !c->unencrypted_srtp &&
	       !c->unencrypted_srtcp && !c->unauthenticated_srtp;
}

/* inline:KEY[|LIFETIME][|MKI:LEN] */
static int crypto_key_param(struct pl kp, uint8_t *key, size_t *key_len, uint64_t *lifetime,
			    uint64_t *mki, uint8_t *mki_len, const char **why)
{
	struct pl method, f;
	bool more, colon;
	method = pl_split(&kp, ':', &colon);
	if (!colon) {
		*why = "a=crypto key without inline:";
		return EBADMSG;
	}
	if (!pl_caseeq(method, "inline")) {
		*why = "a=crypto key method is not inline";
		return EBADMSG;
	}
	f = pl_split(&kp, '|', &more);
	int err = b64_decode(f, key, SDP_CRYPTO_KEYMAX, key_len);
	if (err) {
		*why = err == ENOSPC ? "a=crypto key too long" : "a=crypto key is not base64";
		return EBADMSG;
	}
	*lifetime = 0;
	*mki = 0;
	*mki_len = 0;
	if (!more)
		return 0;
	f = pl_split(&kp, '|', &more);
	if (!f.n || !memchr(f.p, ':', f.n)) {
		uint64_t v;
		if (f.n > 2 && f.p[0] == '2' && f.p[1] == '^') {
			f.p += 2, f.n -= 2;
			if (f.n > 2 || pl_u64(f, 48, &v)) {
				*why = "a=crypto lifetime out of range";
				return EBADMSG;
			}
			v = UINT64_C(1) << v;
		} else if (pl_u64(f, LIFETIME_MAX, &v) || v == 0) {
			*why = "a=crypto lifetime out of range";
			return EBADMSG;
		}
		*lifetime = v;
		if (!more)
			return 0;
		f = pl_split(&kp, '|', &more);
	}
	if (more) {
		*why = "a=crypto key has too many | fields";
		return EBADMSG;
	}
	struct pl mv = pl_split(&f, ':', &colon);
	uint32_t ml;
	if (!colon || pl_u64(mv, UINT64_MAX, mki) || f.n > 3 || pl_u32(f, 128, &ml) || ml == 0 ||
	    (ml < 8 && *mki >> (8 * ml))) {
		*why = "a=crypto bad MKI";
		return EBADMSG;
	}
	*mki_len = (uint8_t)ml;
	return 0;
}

/* KEY;KEY;... into the first slot, each checked. */
static int crypto_key_params(struct pl kps, struct sdp_crypto *c, bool store, const char **why)
{
	unsigned n = 0;
	bool more = true;
	while (more) {
		uint8_t key[SDP_CRYPTO_KEYMAX];
		size_t klen;
		uint64_t lifetime, mki;
		uint8_t mki_len;
		struct pl kp = pl_split(&kps, ';', &more);
		int err = crypto_key_param(kp, key, &klen, &lifetime, &mki, &mki_len, why);
		if (err)
			return err;
		if (c->suite != SDP_SUITE_UNKNOWN && klen != sdp_suite_key_len(c->suite)) {
			*why = "a=crypto key length does not match the suite";
			return EBADMSG;
		}
		if (store && n == 0) {
			memcpy(c->key, key, klen);
			c->key_len = (uint8_t)klen;
			c->lifetime = lifetime;
			c->mki = mki;
			c->mki_len = mki_len;
		}
		if (++n > 255) {
			*why = "a=crypto has too many keys";
			return EBADMSG;
		}
	}
	if (store)
		c->nkeys = (uint8_t)n;
	return 0;
}

static int crypto_session_param(struct pl t, struct sdp_crypto *c, const char **why)
{
	struct pl name, val;
	bool eq;
	uint32_t v;
	val = t;
	name = pl_split(&val, '=', &eq);
	if (t.p[0] == '-')
		return 0; /* optional by definition (RFC 4568 6.3.7) */
	if (!eq && pl_eq(name, "UNENCRYPTED_SRTP"))
		c->unencrypted_srtp = true;
	else if (!eq && pl_eq(name, "UNENCRYPTED_SRTCP"))
		c->unencrypted_srtcp = true;
	else if (!eq && pl_eq(name, "UNAUTHENTICATED_SRTP"))
		c->unauthenticated_srtp = true;
	else if (eq && pl_eq(name, "KDR")) {
		if (val.n > 2 || pl_u32(val, 24, &v)) {
			*why = "a=crypto bad KDR";
			return EBADMSG;
		}
		c->kdr = (int8_t)v;
	} else if (eq && pl_eq(name, "WSH")) {
		if (val.n < 2 || pl_u32(val, 65535, &v) || v < 64) {
			*why = "a=crypto bad WSH";
			return EBADMSG;
		}
		c->wsh = (uint16_t)v;
	} else if (eq && pl_eq(name, "FEC_ORDER")) {
		if (!pl_eq(val, "FEC_SRTP") && !pl_eq(val, "SRTP_FEC")) {
			*why = "a=crypto bad FEC_ORDER";
			return EBADMSG;
		}
		c->fec = true;
	} else if (eq && pl_eq(name, "FEC_KEY")) {
		int err = crypto_key_params(val, c, false, why);
		if (err)
			return err;
		c->fec = true;
	} else {
		*why = "a=crypto has an unknown mandatory session parameter";
		return EBADMSG;
	}
	return 0;
}

int sdp_crypto_parse(struct sdp_crypto *c, const char *val, size_t len, const char **reason)
{
	const char *why = NULL;
	struct pl rest = {val, len}, t;
	int err = EBADMSG;
	memset(c, 0, sizeof(*c));
	c->kdr = -1;
	t = pl_token(&rest);
	if (t.n > 9 || pl_u32(t, 999999999, &c->tag)) {
		why = "a=crypto bad tag";
		goto out;
	}
	t = pl_token(&rest);
	if (!t.n) {
		why = "a=crypto without suite";
		goto out;
	}
	for (size_t i = 0; i < t.n; i++) {
		char ch = t.p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_')) {
			why = "a=crypto bad suite name";
			goto out;
		}
	}
	if (pl_copy(t, c->suite_name, sizeof(c->suite_name))) {
		why = "a=crypto suite name too long";
		goto out;
	}
	c->suite = SDP_SUITE_UNKNOWN;
	for (unsigned i = 1; i < NSUITES; i++)
		if (pl_eq(t, suites[i].name))
			c->suite = (enum sdp_suite)i;
	t = pl_token(&rest);
	if (!t.n) {
		why = "a=crypto without key";
		goto out;
	}
	err = crypto_key_params(t, c, true, &why);
	if (err)
		goto out;
	while ((t = pl_token(&rest)).n) {
		err = crypto_session_param(t, c, &why);
		if (err)
			goto out;
	}
	return 0;
out:
	if (reason)
		*reason = why;
	return EBADMSG;
}

int sdp_crypto_print(struct pbx_buf *out, const struct sdp_crypto *c)
{
	const char *suite =
		c->suite == SDP_SUITE_UNKNOWN ? c->suite_name : sdp_suite_name(c->suite);
	int err;
	if (!suite || !*suite || c->tag > 999999999 || !c->key_len ||
	    c->key_len > SDP_CRYPTO_KEYMAX || c->fec || c->lifetime > LIFETIME_MAX ||
	    c->mki_len > 128 || (c->mki_len && c->mki_len < 8 && c->mki >> (8 * c->mki_len)) ||
	    c->kdr > 24 || (c->wsh && c->wsh < 64) ||
	    (c->suite != SDP_SUITE_UNKNOWN && c->key_len != sdp_suite_key_len(c->suite)))
		return EINVAL;
	if (strspn(suite, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
	    strlen(suite))
		return EINVAL;
	if ((err = pbx_buf_printf(out, "%" PRIu32 " %s inline:", c->tag, suite)) ||
	    (err = b64_encode(out, c->key, c->key_len)))
		return err;
	if (c->lifetime) {
		if (!(c->lifetime & (c->lifetime - 1)))
			err = pbx_buf_printf(out, "|2^%d", __builtin_ctzll(c->lifetime));
		else
			err = pbx_buf_printf(out, "|%" PRIu64, c->lifetime);
	}
	if (!err && c->mki_len)
		err = pbx_buf_printf(out, "|%" PRIu64 ":%u", c->mki, c->mki_len);
	if (!err && c->kdr >= 0)
		err = pbx_buf_printf(out, " KDR=%d", c->kdr);
	if (!err && c->unencrypted_srtp)
		err = pbx_buf_puts(out, " UNENCRYPTED_SRTP");
	if (!err && c->unencrypted_srtcp)
		err = pbx_buf_puts(out, " UNENCRYPTED_SRTCP");
	if (!err && c->unauthenticated_srtp)
		err = pbx_buf_puts(out, " UNAUTHENTICATED_SRTP");
	if (!err && c->wsh)
		err = pbx_buf_printf(out, " WSH=%u", c->wsh);
	return err;
}

/* ---- directions -------------------------------------------------------------- */

/* Bit 0: we send, bit 1: we receive; the enum is not laid out that way. */
#define DIR_SEND 1
#define DIR_RECV 2

static unsigned dir_bits(enum pbx_media_dir d)
{
	switch (d) {
	case PBX_DIR_SENDRECV: return DIR_SEND | DIR_RECV;
	case PBX_DIR_SENDONLY: return DIR_SEND;
	case PBX_DIR_RECVONLY: return DIR_RECV;
	default: return 0;
	}
}

static enum pbx_media_dir dir_from_bits(unsigned b)
{
	static const enum pbx_media_dir d[4] = {PBX_DIR_INACTIVE, PBX_DIR_SENDONLY,
						PBX_DIR_RECVONLY, PBX_DIR_SENDRECV};
	return d[b & 3];
}

const char *sdp_dir_name(enum pbx_media_dir d)
{
	switch (d) {
	case PBX_DIR_SENDRECV: return "sendrecv";
	case PBX_DIR_SENDONLY: return "sendonly";
	case PBX_DIR_RECVONLY: return "recvonly";
	default: return "inactive";
	}
}

enum pbx_media_dir sdp_dir_reverse(enum pbx_media_dir d)
{
	unsigned b = dir_bits(d);
	return dir_from_bits(((b & DIR_SEND) ? DIR_RECV : 0) | ((b & DIR_RECV) ? DIR_SEND : 0));
}

enum pbx_media_dir sdp_dir_intersect(enum pbx_media_dir a, enum pbx_media_dir b)
{
	return dir_from_bits(dir_bits(a) & dir_bits(b));
}

enum pbx_media_dir sdp_media_remote_dir(const struct sdp_media *m)
{
	/* RFC 3264 8.4: 0.0.0.0 means no RTP or RTCP is to be sent to that side. */
	if (m->zero_addr)
		return dir_from_bits(dir_bits(m->dir) & DIR_SEND);
	return m->dir;
}

static int dir_parse(struct pl name, enum pbx_media_dir *d)
{
	if (pl_eq(name, "sendrecv"))
		*d = PBX_DIR_SENDRECV;
	else if (pl_eq(name, "sendonly"))
		*d = PBX_DIR_SENDONLY;
	else if (pl_eq(name, "recvonly"))
		*d = PBX_DIR_RECVONLY;
	else if (pl_eq(name, "inactive"))
		*d = PBX_DIR_INACTIVE;
	else
		return ENOENT;
	return 0;
}

/* ---- the parser ------------------------------------------------------------- */

struct parser {
	struct sdp_session *s;
	struct sdp_media *m; /* the current m= section; NULL at session level */
	bool dir_set[SDP_MAX_MEDIA];
	bool have_v, have_o;
	const char *why;
};

static int bad(struct parser *ps, const char *why)
{
	ps->why = why;
	return EBADMSG;
}

/* IN IP4|IP6 ADDR, numeric only: a PBX never resolves a name on the signalling thread. */
static int parse_conn(struct parser *ps, struct pl rest, struct sdp_conn *c)
{
	struct pl nettype = pl_token(&rest), atype = pl_token(&rest), addr = pl_token(&rest);
	char text[sizeof(c->addr)];
	if (!pl_eq(nettype, "IN") || pl_token(&rest).n)
		return bad(ps, "bad c= line");
	memset(c, 0, sizeof(*c));
	if (pl_copy(addr, text, sizeof(text)))
		return bad(ps, "c= address is not a numeric IP address");
	if (pl_eq(atype, "IP4")) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&c->sa;
		if (inet_pton(AF_INET, text, &sin->sin_addr) != 1)
			return bad(ps, "c= address is not a numeric IPv4 address");
		sin->sin_family = c->family = AF_INET;
	} else if (pl_eq(atype, "IP6")) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->sa;
		if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
			return bad(ps, "c= address is not a numeric IPv6 address");
		sin6->sin6_family = c->family = AF_INET6;
	} else {
		return bad(ps, "c= address type is not IP4 or IP6");
	}
	memcpy(c->addr, text, sizeof(c->addr));
	return 0;
}

static int parse_origin(struct parser *ps, struct pl rest)
{
	struct sdp_origin *o = &ps->s->origin;
	struct pl user = pl_token(&rest), id = pl_token(&rest), ver = pl_token(&rest);
	struct pl nettype = pl_token(&rest), atype = pl_token(&rest), addr = pl_token(&rest);
	if (ps->have_o)
		return bad(ps, "more than one o= line");
	ps->have_o = true;
	if (!addr.n || pl_token(&rest).n || !pl_eq(nettype, "IN") ||
	    !(pl_eq(atype, "IP4") || pl_eq(atype, "IP6")))
		return bad(ps, "bad o= line");
	if (pl_copy(user, o->username, sizeof(o->username)) ||
	    pl_copy(id, o->sess_id, sizeof(o->sess_id)) ||
	    pl_copy(ver, o->sess_version, sizeof(o->sess_version)) ||
	    pl_copy(addr, o->addr, sizeof(o->addr)))
		return bad(ps, "o= field too long");
	return 0;
}

static enum sdp_proto proto_lookup(struct pl t)
{
	if (pl_caseeq(t, "RTP/AVP"))
		return SDP_PROTO_RTP_AVP;
	if (pl_caseeq(t, "RTP/SAVP"))
		return SDP_PROTO_RTP_SAVP;
	if (pl_caseeq(t, "RTP/AVPF"))
		return SDP_PROTO_RTP_AVPF;
	if (pl_caseeq(t, "RTP/SAVPF"))
		return SDP_PROTO_RTP_SAVPF;
	return SDP_PROTO_OTHER;
}

static bool proto_secure(enum sdp_proto p)
{
	return p == SDP_PROTO_RTP_SAVP || p == SDP_PROTO_RTP_SAVPF;
}

/* Do we keep formats and read rtpmap, fmtp, ptime, crypto for this m= line? */
static bool media_detailed(const struct sdp_media *m)
{
	return m->type == SDP_MTYPE_AUDIO && m->proto != SDP_PROTO_OTHER;
}

/* m=TYPE PORT[/N] PROTO FMT... */
static int parse_media(struct parser *ps, struct pl rest)
{
	struct sdp_session *s = ps->s;
	struct pl type = pl_token(&rest), port = pl_token(&rest), proto = pl_token(&rest), t;
	uint32_t v;
	bool slash;
	if (s->nmedia == SDP_MAX_MEDIA)
		return bad(ps, "too many m= lines");
	struct sdp_media *m = &s->media[s->nmedia++];
	ps->m = m;
	if (!type.n || !proto.n)
		return bad(ps, "bad m= line");
	for (size_t i = 0; i < type.n; i++)
		if (type.p[i] < 0x21 || type.p[i] > 0x7e)
			return bad(ps, "bad m= line");
	if (pl_copy(type, m->type_name, sizeof(m->type_name)))
		return bad(ps, "m= media type too long");
	m->type = pl_caseeq(type, "audio")   ? SDP_MTYPE_AUDIO
		  : pl_caseeq(type, "video") ? SDP_MTYPE_VIDEO
					     : SDP_MTYPE_OTHER;
	struct pl pnum = pl_split(&port, '/', &slash);
	if (pl_u32(pnum, 65535, &v))
		return bad(ps, "m= port out of range");
	m->port = (uint16_t)v;
	if (slash && pl_u32(port, 65535, &v))
		return bad(ps, "bad m= port count");
	if (pl_copy(proto, m->proto_name, sizeof(m->proto_name)))
		return bad(ps, "m= transport too long");
	m->proto = proto_lookup(proto);
	t = pl_token(&rest);
	if (!t.n)
		return bad(ps, "m= line without formats");
	if (pl_copy(t, m->first_fmt, sizeof(m->first_fmt)))
		return bad(ps, "m= format too long");
	if (!media_detailed(m))
		return 0;
	for (; t.n; t = pl_token(&rest)) {
		if (pl_u32(t, 127, &v))
			return bad(ps, "m= payload type is not 0..127");
		if (m->nfmts == SDP_MAX_FMTS)
			return bad(ps, "too many formats on an m= line");
		struct sdp_fmt *f = &m->fmts[m->nfmts++];
		f->pt = (uint8_t)v;
		f->channels = 1;
		for (size_t i = 0; i < sizeof(static_pts) / sizeof(static_pts[0]); i++)
			if (static_pts[i].pt == f->pt) {
				strcpy(f->name, static_pts[i].name);
				f->rate = static_pts[i].rate;
			}
	}
	return 0;
}

/* rtpmap:PT NAME/RATE[/CHANNELS], applied to every format with that PT. */
static int parse_rtpmap(struct parser *ps, struct pl val)
{
	struct pl pt = pl_token(&val), enc = pl_token(&val), name, rate;
	uint32_t vpt, vrate, vch = 1;
	bool slash;
	if (pl_u32(pt, 127, &vpt) || pl_token(&val).n)
		return bad(ps, "bad a=rtpmap");
	name = pl_split(&enc, '/', &slash);
	rate = pl_split(&enc, '/', &slash);
	if (!name.n || pl_u32(rate, 10000000, &vrate) || !vrate ||
	    (slash && (pl_u32(enc, 255, &vch) || !vch)))
		return bad(ps, "bad a=rtpmap");
	for (unsigned i = 0; i < ps->m->nfmts; i++) {
		struct sdp_fmt *f = &ps->m->fmts[i];
		if (f->pt != vpt || f->rtpmap)
			continue;
		f->rtpmap = true;
		/* A name too long for the field is no codec of ours: keep it unnamed. */
		if (pl_copy(name, f->name, sizeof(f->name)))
			f->name[0] = '\0';
		f->rate = vrate;
		f->channels = (uint8_t)vch;
	}
	return 0;
}

static int parse_fmtp(struct parser *ps, struct pl val)
{
	struct pl pt = pl_token(&val);
	uint32_t vpt;
	if (pl_u32(pt, 127, &vpt))
		return bad(ps, "bad a=fmtp");
	val = pl_trim(val);
	for (unsigned i = 0; i < ps->m->nfmts; i++) {
		struct sdp_fmt *f = &ps->m->fmts[i];
		if (f->pt == vpt && !f->fmtp[0] && pl_copy(val, f->fmtp, sizeof(f->fmtp)))
			f->fmtp[0] = '\0';
	}
	return 0;
}

static int parse_attr(struct parser *ps, struct pl rest)
{
	struct pl val = rest, name;
	bool colon;
	enum pbx_media_dir d;
	struct sdp_media *m = ps->m;
	uint32_t v;
	name = pl_split(&val, ':', &colon);
	if (!dir_parse(name, &d)) {
		if (m) {
			m->dir = d;
			ps->dir_set[m - ps->s->media] = true;
		} else {
			ps->s->dir = d;
		}
		return 0;
	}
	if (!m || !media_detailed(m))
		return 0;
	if (colon && pl_eq(name, "rtpmap"))
		return parse_rtpmap(ps, val);
	if (colon && pl_eq(name, "fmtp"))
		return parse_fmtp(ps, val);
	if (colon && pl_eq(name, "ptime")) {
		/* Some phones write "20.0"; the fraction of a millisecond is noise. */
		struct pl ms = pl_split(&val, '.', &colon);
		if (pl_u32(pl_trim(ms), 1000, &v) || !v)
			return bad(ps, "bad a=ptime");
		m->ptime = v;
		return 0;
	}
	if (colon && pl_eq(name, "rtcp")) {
		if (pl_u32(pl_token(&val), 65535, &v) || !v)
			return bad(ps, "bad a=rtcp");
		m->rtcp_port = (uint16_t)v;
		return 0;
	}
	if (pl_eq(name, "rtcp-mux")) {
		m->rtcp_mux = true;
		return 0;
	}
	if (colon && pl_eq(name, "crypto")) {
		struct sdp_crypto c;
		const char *why;
		if (sdp_crypto_parse(&c, val.p, val.n, &why)) {
			m->crypto_bad++;
			m->crypto_why = why;
		} else if (m->ncrypto == SDP_MAX_CRYPTO) {
			m->crypto_bad++;
			m->crypto_why = "too many a=crypto lines";
		} else {
			m->crypto[m->ncrypto++] = c;
		}
	}
	return 0;
}

static int parse_line(struct parser *ps, struct pl line)
{
	char type = line.p[0];
	if (line.n < 2 || type < 'a' || type > 'z' || line.p[1] != '=')
		return bad(ps, "line is not <letter>=<value>");
	struct pl rest = {line.p + 2, line.n - 2};
	if (!ps->have_v) {
		if (type != 'v')
			return bad(ps, "SDP does not start with v=");
		if (!pl_eq(rest, "0"))
			return bad(ps, "SDP version is not 0");
		ps->have_v = true;
		return 0;
	}
	switch (type) {
	case 'v': return bad(ps, "more than one v= line");
	case 'o':
		if (ps->m)
			return bad(ps, "o= line inside a media section");
		return parse_origin(ps, rest);
	case 'c': return parse_conn(ps, rest, ps->m ? &ps->m->conn : &ps->s->conn);
	case 'm': return parse_media(ps, rest);
	case 'a': return parse_attr(ps, rest);
	default: return 0; /* s= t= i= u= e= p= b= z= k= r= and future letters */
	}
}

static bool addr_is_zero(const struct sdp_conn *c)
{
	if (c->family == AF_INET)
		return ((const struct sockaddr_in *)&c->sa)->sin_addr.s_addr == 0;
	if (c->family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&c->sa)->sin6_addr);
	return false;
}

static int parse_finish(struct parser *ps)
{
	struct sdp_session *s = ps->s;
	if (!ps->have_v)
		return bad(ps, "SDP does not start with v=");
	if (!ps->have_o)
		return bad(ps, "no o= line");
	for (unsigned i = 0; i < s->nmedia; i++) {
		struct sdp_media *m = &s->media[i];
		if (!m->conn.family)
			m->conn = s->conn;
		/* A disabled stream needs no address; sloppy answers leave it out. */
		if (!m->conn.family && m->port)
			return bad(ps, "a stream has no c= line");
		m->zero_addr = addr_is_zero(&m->conn);
		if (!ps->dir_set[i])
			m->dir = s->dir;
	}
	return 0;
}

int sdp_parse(struct sdp_session *s, const char *body, size_t len, const char **reason)
{
	struct parser ps = {.s = s};
	const char *p = body, *end = body + len;
	unsigned lineno = 0;
	int err = 0;
	memset(s, 0, sizeof(*s));
	s->dir = PBX_DIR_SENDRECV;
	if (len > SDP_MAX_BODY) {
		err = bad(&ps, "SDP body too large");
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct pl line = {p, (size_t)(le - p)};
		lineno++;
		p = nl ? nl + 1 : end;
		if (line.n && line.p[line.n - 1] == '\r')
			line.n--;
		if (line.n > SDP_MAX_LINE) {
			err = bad(&ps, "SDP line too long");
			goto out;
		}
		for (size_t i = 0; i < line.n; i++) {
			unsigned char c = (unsigned char)line.p[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				err = bad(&ps, c ? "control character in SDP" : "NUL byte in SDP");
				goto out;
			}
		}
		/* Trailing blanks are a common slip; a blank line separates nothing. */
		while (line.n && is_ws(line.p[line.n - 1]))
			line.n--;
		if (!line.n)
			continue;
		err = parse_line(&ps, line);
		if (err)
			goto out;
	}
	lineno = 0;
	err = parse_finish(&ps);
out:
	if (err) {
		/* A half-filled session must not be taken for a good one. */
		s->nmedia = 0;
		s->err_line = lineno;
		if (reason)
			*reason = ps.why;
	}
	return err;
}

/* ---- offer/answer ---------------------------------------------------------- */

bool sdp_fmt_is(const struct sdp_fmt *f, const struct pbx_codec_desc *c)
{
	return f->name[0] && !strcasecmp(f->name, c->name) && f->rate == c->clock &&
	       f->channels <= (c->channels ? c->channels : 1);
}

/* The registered codec that format @p f is, or NULL. */
static const struct pbx_codec_desc *fmt_codec(const struct sdp_fmt *f)
{
	const struct pbx_codec_desc *c = f->name[0] ? pbx_codec_find(f->name) : NULL;
	return c && sdp_fmt_is(f, c) ? c : NULL;
}

/* The first format of @p m that is codec @p c, or NULL. */
static const struct sdp_fmt *media_fmt(const struct sdp_media *m, const struct pbx_codec_desc *c)
{
	for (unsigned i = 0; i < m->nfmts; i++)
		if (sdp_fmt_is(&m->fmts[i], c))
			return &m->fmts[i];
	return NULL;
}

/* The telephone-event format at @p rate, not clashing with the codec's PT. */
static const struct sdp_fmt *fmt_dtmf(const struct sdp_media *m, uint32_t rate, uint8_t codec_pt)
{
	for (unsigned i = 0; i < m->nfmts; i++) {
		const struct sdp_fmt *f = &m->fmts[i];
		if (f->pt && f->pt != codec_pt && !strcasecmp(f->name, TELEPHONE_EVENT) &&
		    f->rate == rate)
			return f;
	}
	return NULL;
}

/*
 * Telephone-event of @p m beside codec @p c on @p codec_pt: at the codec's
 * clock (RFC 4733 2.1), else at DTMF_RATE. With @p offered (taking an
 * answer), only at a clock our offer had it at.
 */
static const struct sdp_fmt *pick_dtmf(const struct sdp_media *m, const struct pbx_codec_desc *c,
				       uint8_t codec_pt, const struct sdp_media *offered)
{
	const uint32_t rates[2] = {c->clock, DTMF_RATE};
	for (int i = 0; i < 2; i++) {
		const struct sdp_fmt *f = fmt_dtmf(m, rates[i], codec_pt);
		if (f && (!offered || fmt_dtmf(offered, rates[i], 0)))
			return f;
	}
	return NULL;
}

static const struct sdp_crypto *first_usable_crypto(const struct sdp_media *m)
{
	for (unsigned i = 0; i < m->ncrypto; i++)
		if (sdp_crypto_usable(&m->crypto[i]))
			return &m->crypto[i];
	return NULL;
}

/* Address, RTCP port, direction, ptime and telephone-event of the stream picked. */
static void choice_fill(struct sdp_choice *out, const struct sdp_media *m, unsigned index,
			const struct pbx_codec_desc *codec, uint8_t pt, enum pbx_media_dir ours,
			const struct sdp_media *offered)
{
	const struct sdp_fmt *dtmf = pick_dtmf(m, codec, pt, offered);
	out->index = index;
	out->proto = m->proto;
	out->codec = codec;
	out->pt = pt;
	for (unsigned f = 0; f < m->nfmts; f++)
		if (m->fmts[f].pt == pt)
			memcpy(out->fmtp, m->fmts[f].fmtp, sizeof out->fmtp);
	if (dtmf) {
		out->dtmf_pt = dtmf->pt;
		out->dtmf_rate = dtmf->rate;
		memcpy(out->dtmf_fmtp, dtmf->fmtp, sizeof(out->dtmf_fmtp));
	}
	out->ptime = m->ptime ? m->ptime : 20;
	out->remote = m->conn.sa;
	if (m->conn.family == AF_INET)
		((struct sockaddr_in *)&out->remote)->sin_port = htons(m->port);
	else
		((struct sockaddr_in6 *)&out->remote)->sin6_port = htons(m->port);
	out->rtcp_port = m->rtcp_port ? m->rtcp_port : (uint16_t)(m->port + 1);
	out->remote_dir = sdp_media_remote_dir(m);
	out->dir = sdp_dir_intersect(sdp_dir_reverse(out->remote_dir), ours);
}

int sdp_negotiate_offer(const struct sdp_session *offer, const struct sdp_prefs *prefs,
			struct sdp_choice *out)
{
	const char *why = "no audio stream in the offer";
	if (!out)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	if (!offer || !prefs || !prefs->codecs || prefs->ncodecs <= 0) {
		out->why = "bad arguments";
		return EINVAL;
	}
	for (int c = 0; c < prefs->ncodecs; c++)
		if (!prefs->codecs[c]) {
			out->why = "bad arguments";
			return EINVAL;
		}
	for (unsigned i = 0; i < offer->nmedia; i++) {
		const struct sdp_media *m = &offer->media[i];
		const struct sdp_crypto *key;
		bool srtp;
		if (m->type != SDP_MTYPE_AUDIO || !m->port)
			continue;
		if (m->proto == SDP_PROTO_OTHER) {
			why = "audio transport is not RTP/AVP or RTP/SAVP";
			continue;
		}
		key = first_usable_crypto(m);
		if (proto_secure(m->proto)) {
			if (prefs->srtp == SDP_SRTP_OFF) {
				why = "SRTP offered but not enabled";
				continue;
			}
			if (!key) {
				why = "RTP/SAVP without a usable a=crypto";
				continue;
			}
			srtp = true;
		} else {
			if (prefs->srtp == SDP_SRTP_MANDATORY && !key) {
				why = "SRTP required but not offered";
				continue;
			}
			srtp = key && prefs->srtp != SDP_SRTP_OFF;
		}
		/* Our order, not the offer's: the administrator ranks the codecs
		 * (rtp.codecs). Quadratic in codecs times formats; a handful each. */
		const struct pbx_codec_desc *codec = NULL;
		const struct sdp_fmt *fmt = NULL;
		for (int c = 0; c < prefs->ncodecs && !fmt; c++)
			if ((fmt = media_fmt(m, prefs->codecs[c])))
				codec = prefs->codecs[c];
		if (!fmt) {
			why = "no common codec";
			continue;
		}
		choice_fill(out, m, i, codec, fmt->pt, prefs->dir, NULL);
		out->srtp = srtp;
		if (srtp)
			out->crypto = *key;
		return 0;
	}
	out->why = why;
	return ENOTSUP;
}

static int answer_fail(struct sdp_choice *out, int err, const char *why)
{
	out->why = why;
	return err;
}

int sdp_negotiate_answer(const struct sdp_session *offer, const struct sdp_session *answer,
			 struct sdp_choice *out)
{
	const struct sdp_media *om = NULL, *am;
	unsigned idx = 0;
	if (!out)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	if (!offer || !answer)
		return answer_fail(out, EINVAL, "bad arguments");
	for (idx = 0; idx < offer->nmedia; idx++) {
		const struct sdp_media *m = &offer->media[idx];
		if (m->type == SDP_MTYPE_AUDIO && m->port && m->proto != SDP_PROTO_OTHER) {
			om = m;
			break;
		}
	}
	if (!om)
		return answer_fail(out, EINVAL, "our offer has no audio stream");
	if (answer->nmedia != offer->nmedia)
		return answer_fail(out, EBADMSG, "answer and offer differ in m= lines");
	am = &answer->media[idx];
	if (am->type != SDP_MTYPE_AUDIO)
		return answer_fail(out, EBADMSG, "answer changed the media type");
	if (!am->port)
		return answer_fail(out, ENOTSUP, "audio stream rejected");
	if (am->proto == SDP_PROTO_OTHER)
		return answer_fail(out, EBADMSG, "answer changed the transport");

	const struct pbx_codec_desc *codec = NULL;
	uint8_t pt = 0;
	for (unsigned f = 0; f < am->nfmts && !codec; f++) {
		const struct pbx_codec_desc *c = fmt_codec(&am->fmts[f]);
		if (c && media_fmt(om, c)) {
			codec = c;
			pt = am->fmts[f].pt;
		}
	}
	if (!codec)
		return answer_fail(out, ENOTSUP, "answer has no codec we offered");

	const struct sdp_crypto *key = NULL;
	for (unsigned i = 0; i < am->ncrypto && !key; i++) {
		const struct sdp_crypto *c = &am->crypto[i];
		for (unsigned j = 0; j < om->ncrypto && sdp_crypto_usable(c); j++)
			if (om->crypto[j].tag == c->tag && om->crypto[j].suite == c->suite) {
				key = c;
				break;
			}
	}
	if (!key && (proto_secure(om->proto) || proto_secure(am->proto)))
		return answer_fail(out, ENOTSUP, "no acceptable a=crypto in the answer");

	/* Telephone-event only at a clock we offered it at. */
	choice_fill(out, am, idx, codec, pt, om->dir, om);
	out->srtp = key != NULL;
	if (key)
		out->crypto = *key;
	return 0;
}

void sdp_choice_rtp_params(const struct sdp_choice *ch, struct pbx_rtp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->remote = ch->remote;
	p->codec = ch->codec;
	p->pt = ch->pt;
	memcpy(p->fmtp, ch->fmtp, sizeof p->fmtp);
	p->dtmf_pt = ch->dtmf_pt;
	p->dtmf_rate = ch->dtmf_rate;
	p->dir = ch->dir;
	p->ptime = ch->ptime;
}

int sdp_codecs_prefer(const struct pbx_codec_desc *const *ours, int n,
		      const struct pbx_codec_desc *first, const struct pbx_codec_desc **out)
{
	bool listed = false;
	int k = 0;
	for (int i = 0; i < n; i++)
		listed |= first && ours[i] == first;
	if (listed)
		out[k++] = first;
	for (int i = 0; i < n; i++)
		if (!listed || ours[i] != first)
			out[k++] = ours[i];
	return k;
}

/* ---- the builder -------------------------------------------------------------- */

static const char *proto_name(enum sdp_proto p)
{
	switch (p) {
	case SDP_PROTO_RTP_AVP: return "RTP/AVP";
	case SDP_PROTO_RTP_SAVP: return "RTP/SAVP";
	case SDP_PROTO_RTP_AVPF: return "RTP/AVPF";
	case SDP_PROTO_RTP_SAVPF: return "RTP/SAVPF";
	default: return NULL;
	}
}

/* Printable, no blanks: what may stand in a token of an o= line. */
static bool is_token(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* What the parser lets through inside a line: no control characters but tab. */
static bool is_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return false;
	return true;
}

static int build_crypto(struct pbx_buf *out, const struct sdp_crypto *c)
{
	int err = pbx_buf_puts(out, "a=crypto:");
	if (!err)
		err = sdp_crypto_print(out, c);
	if (!err)
		err = pbx_buf_puts(out, "\r\n");
	return err;
}

static int build_tail(struct pbx_buf *out, const struct sdp_build_spec *sp, enum pbx_media_dir dir)
{
	int err = pbx_buf_printf(out, "a=ptime:%u\r\n", sp->ptime ? sp->ptime : 20);
	for (int i = 0; !err && i < sp->ncrypto; i++)
		err = build_crypto(out, &sp->crypto[i]);
	if (!err)
		err = pbx_buf_printf(out, "a=%s\r\n", sdp_dir_name(dir));
	return err;
}

/* a=rtpmap (with the channel count when above one) and a=fmtp of codec @p c on @p pt. */
static int build_codec(struct pbx_buf *out, unsigned pt, const struct pbx_codec_desc *c)
{
	int err = pbx_buf_printf(out, "a=rtpmap:%u %s/%u", pt, c->name, c->clock);
	if (!err && c->channels > 1)
		err = pbx_buf_printf(out, "/%u", c->channels);
	if (!err)
		err = pbx_buf_puts(out, "\r\n");
	if (!err && c->fmtp)
		err = pbx_buf_printf(out, "a=fmtp:%u %s\r\n", pt, c->fmtp);
	return err;
}

/* What a descriptor must be for its lines to parse back: a token name, a clock, sane fmtp. */
static bool codec_ok(const struct pbx_codec_desc *c)
{
	return c && is_token(c->name, 20) && c->clock && c->channels < 256 &&
	       c->static_pt < DYN_PT_MIN && (!c->fmtp || is_text(c->fmtp, SDP_MAX_LINE - 16));
}

static int build_offer(struct pbx_buf *out, const struct sdp_build_spec *sp)
{
	const char *proto = proto_name(sp->proto);
	uint8_t pts[SDP_MAX_FMTS];
	unsigned next = DYN_PT_MIN;
	int err;
	if (!proto || !sp->codecs || sp->ncodecs <= 0 || sp->ncodecs >= SDP_MAX_FMTS ||
	    (sp->dtmf_pt && (sp->dtmf_pt < DYN_PT_MIN || sp->dtmf_pt > DYN_PT_MAX)))
		return EINVAL;
	/* Static PTs as registered; dynamic ones in list order, around telephone-event's. */
	for (int i = 0; i < sp->ncodecs; i++) {
		const struct pbx_codec_desc *c = sp->codecs[i];
		if (!codec_ok(c))
			return EINVAL;
		for (int j = 0; j < i; j++)
			if (sp->codecs[j] == c)
				return EINVAL;
		if (c->static_pt >= 0) {
			pts[i] = (uint8_t)c->static_pt;
			continue;
		}
		if (next == sp->dtmf_pt)
			next++;
		if (next > DYN_PT_MAX)
			return EINVAL;
		pts[i] = (uint8_t)next++;
	}
	err = pbx_buf_printf(out, "m=audio %u %s", sp->port, proto);
	for (int i = 0; !err && i < sp->ncodecs; i++)
		err = pbx_buf_printf(out, " %u", pts[i]);
	if (!err && sp->dtmf_pt)
		err = pbx_buf_printf(out, " %u", sp->dtmf_pt);
	if (!err)
		err = pbx_buf_puts(out, "\r\n");
	for (int i = 0; !err && i < sp->ncodecs; i++)
		err = build_codec(out, pts[i], sp->codecs[i]);
	/* Events 0-16: the DTMF digits and flash (RFC 4733 3.2). */
	if (!err && sp->dtmf_pt)
		err = pbx_buf_printf(out,
				     "a=rtpmap:%u " TELEPHONE_EVENT "/%u\r\n"
				     "a=fmtp:%u 0-16\r\n",
				     sp->dtmf_pt, DTMF_RATE, sp->dtmf_pt);
	if (!err)
		err = build_tail(out, sp, sp->dir);
	return err;
}

static int build_answer(struct pbx_buf *out, const struct sdp_build_spec *sp)
{
	const struct sdp_session *of = sp->offer;
	const struct sdp_choice *ch = sp->choice;
	int err = 0;
	if (ch->index >= of->nmedia || of->media[ch->index].type != SDP_MTYPE_AUDIO ||
	    !codec_ok(ch->codec) || ch->pt > 127 || ch->dtmf_pt > 127 ||
	    (ch->dtmf_pt && !ch->dtmf_rate) ||
	    !is_text(of->media[ch->index].proto_name, sizeof(of->media[0].proto_name)))
		return EINVAL;
	if (ch->srtp ? sp->ncrypto != 1 || sp->crypto[0].tag != ch->crypto.tag ||
			       sp->crypto[0].suite != ch->crypto.suite
		     : sp->ncrypto != 0)
		return EINVAL;
	for (unsigned i = 0; !err && i < of->nmedia; i++) {
		const struct sdp_media *m = &of->media[i];
		if (i != ch->index) {
			/* RFC 3264 6: rejected, in place, with a format of the offer's. */
			err = pbx_buf_printf(out, "m=%s 0 %s %s\r\n", m->type_name, m->proto_name,
					     m->first_fmt);
			continue;
		}
		err = pbx_buf_printf(out, "m=audio %u %s %u", sp->port, m->proto_name, ch->pt);
		if (!err && ch->dtmf_pt)
			err = pbx_buf_printf(out, " %u", ch->dtmf_pt);
		if (!err)
			err = pbx_buf_puts(out, "\r\n");
		if (!err)
			err = build_codec(out, ch->pt, ch->codec);
		if (!err && ch->dtmf_pt)
			err = pbx_buf_printf(out, "a=rtpmap:%u " TELEPHONE_EVENT "/%" PRIu32 "\r\n",
					     ch->dtmf_pt, ch->dtmf_rate);
		if (!err && ch->dtmf_pt && ch->dtmf_fmtp[0]) {
			if (!memchr(ch->dtmf_fmtp, '\0', sizeof(ch->dtmf_fmtp)) ||
			    !is_text(ch->dtmf_fmtp, sizeof(ch->dtmf_fmtp)))
				return EINVAL;
			err = pbx_buf_printf(out, "a=fmtp:%u %s\r\n", ch->dtmf_pt, ch->dtmf_fmtp);
		}
		if (!err)
			err = build_tail(out, sp, ch->dir);
	}
	return err;
}

int sdp_build(struct pbx_buf *out, const struct sdp_build_spec *sp)
{
	char addr[INET6_ADDRSTRLEN];
	const char *ip;
	const char *user = sp->username ? sp->username : "-";
	const char *name = sp->sess_name ? sp->sess_name : "-";
	size_t start = out->len;
	int err;
	if (!sp->addr || !sp->port || (!sp->offer) != (!sp->choice) || sp->ncrypto < 0 ||
	    sp->ncrypto > SDP_MAX_CRYPTO || (sp->ncrypto && !sp->crypto) || !is_token(user, 64) ||
	    !is_text(name, 256) || (unsigned)sp->dir > PBX_DIR_INACTIVE)
		return EINVAL;
	if (sp->addr->sa_family == AF_INET) {
		ip = "IP4";
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sp->addr)->sin_addr, addr,
			  sizeof(addr));
	} else if (sp->addr->sa_family == AF_INET6) {
		ip = "IP6";
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sp->addr)->sin6_addr, addr,
			  sizeof(addr));
	} else {
		return EINVAL;
	}
	err = pbx_buf_printf(out,
			     "v=0\r\n"
			     "o=%s %" PRIu64 " %" PRIu64 " IN %s %s\r\n"
			     "s=%s\r\n"
			     "c=IN %s %s\r\n"
			     "t=0 0\r\n",
			     user, sp->sess_id, sp->sess_version, ip, addr, name, ip, addr);
	if (!err)
		err = sp->offer ? build_answer(out, sp) : build_offer(out, sp);
	if (err && out->data) {
		/* Leave the buffer as it was: no half-written body. */
		out->len = start;
		out->data[start] = '\0';
	}
	return err;
}
