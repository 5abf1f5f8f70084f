/**
 * @file sip_msg.c  SIP message parser: start line, header slices, lazy value parsers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The receive path calls sip_msg_parse() on every datagram and stream unit,
 * so it does the least that lets the transaction layer route the message:
 * split lines, name the headers, check CSeq and Content-Length. Values are
 * parsed by the accessors below, on demand. No function here allocates, and
 * every loop is bounded by the length of its input slice.
 */
#include <errno.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_uri.h"

/* Character classes (RFC 3261 25.1). One table lookup per byte keeps the
 * header loop branch-light. */
enum {
	C_TOKEN = 1, /* token */
	C_WSP = 2,   /* SP HTAB */
	C_DIGIT = 4,
	C_PNAME = 8, /* parameter names: token plus URI paramchar extras */
	C_PVAL = 16, /* parameter values, unquoted */
};

#define TOK (C_TOKEN | C_PNAME | C_PVAL)

static const uint8_t cls[256] = {
	[' '] = C_WSP,
	['\t'] = C_WSP,
	['0' ... '9'] = TOK | C_DIGIT,
	['a' ... 'z'] = TOK,
	['A' ... 'Z'] = TOK,
	['-'] = TOK,
	['.'] = TOK,
	['!'] = TOK,
	['%'] = TOK,
	['*'] = TOK,
	['_'] = TOK,
	['+'] = TOK,
	['`'] = TOK,
	['\''] = TOK,
	['~'] = TOK,
	['['] = C_PNAME | C_PVAL,
	[']'] = C_PNAME | C_PVAL,
	['/'] = C_PNAME | C_PVAL,
	[':'] = C_PNAME | C_PVAL,
	['&'] = C_PNAME | C_PVAL,
	['$'] = C_PNAME | C_PVAL,
	['@'] = C_PVAL,
	['?'] = C_PVAL,
	['='] = C_PVAL,
	['('] = C_PVAL,
	[')'] = C_PVAL,
	['<'] = C_PVAL,
	['>'] = C_PVAL,
	['{'] = C_PVAL,
	['}'] = C_PVAL,
	['|'] = C_PVAL,
	['\\'] = C_PVAL,
	['^'] = C_PVAL,
	['#'] = C_PVAL,
	[0x80 ... 0xff] = C_PVAL,
};

static inline bool is_token(char c)
{
	return cls[(uint8_t)c] & C_TOKEN;
}

static inline bool is_wsp(char c)
{
	return cls[(uint8_t)c] & C_WSP;
}

static inline bool is_digit(char c)
{
	return cls[(uint8_t)c] & C_DIGIT;
}

static inline bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* End of a slice. Empty slices may carry a NULL pointer (flags, absent
 * parts), and NULL + 0 is undefined behaviour in C. */
static inline const char *pl_end(struct sip_pl pl)
{
	return pl.l ? pl.p + pl.l : pl.p;
}

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool mem_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* Skip linear white space; folds were turned into spaces by the parser, but
 * values handed in by other callers may still carry CRLF. */
static const char *skip_lws(const char *p, const char *e)
{
	while (p < e && is_lws(*p))
		p++;
	return p;
}

/* p points at the opening quote; returns the position after the closing
 * quote, or NULL when unterminated. */
static const char *skip_quoted(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\') {
			if (++p == e)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* ---- slices ------------------------------------------------------------ */

struct sip_pl sip_pl_str(const char *s)
{
	return (struct sip_pl){s, s ? strlen(s) : 0};
}

bool sip_pl_eq(struct sip_pl a, struct sip_pl b)
{
	return a.l == b.l && (a.l == 0 || !memcmp(a.p, b.p, a.l));
}

bool sip_pl_caseeq(struct sip_pl a, struct sip_pl b)
{
	return a.l == b.l && mem_caseeq(a.p, b.p, a.l);
}

int sip_pl_casecmp_str(struct sip_pl a, const char *s)
{
	size_t i;
	for (i = 0; i < a.l && s[i]; i++) {
		int d = (unsigned char)lower(a.p[i]) - (unsigned char)lower(s[i]);
		if (d)
			return d;
	}
	if (i < a.l)
		return 1;
	return s[i] ? -1 : 0;
}

int sip_pl_u32(struct sip_pl pl, uint32_t *v)
{
	uint64_t n = 0;
	bool big = false;
	if (!pl.l)
		return EINVAL;
	/* Read every digit even past overflow, so that "99999999999x" is a
	 * syntax error and not a range error. */
	for (size_t i = 0; i < pl.l; i++) {
		if (!is_digit(pl.p[i]))
			return EINVAL;
		n = n * 10 + (uint64_t)(pl.p[i] - '0');
		if (n > UINT32_MAX) {
			big = true;
			n = UINT32_MAX;
		}
	}
	if (big)
		return ERANGE;
	*v = (uint32_t)n;
	return 0;
}

struct sip_pl sip_pl_trim(struct sip_pl pl)
{
	if (!pl.l)
		return pl;
	while (pl.l && is_lws(pl.p[0])) {
		pl.p++;
		pl.l--;
	}
	while (pl.l && is_lws(pl.p[pl.l - 1]))
		pl.l--;
	return pl;
}

int sip_pl_strcpy(struct sip_pl pl, char *dst, size_t size)
{
	if (!size)
		return ENOSPC;
	if (pl.l >= size) {
		dst[0] = '\0';
		return ENOSPC;
	}
	if (pl.l)
		memcpy(dst, pl.p, pl.l);
	dst[pl.l] = '\0';
	return 0;
}

int sip_pl_unquote(struct sip_pl pl, char *dst, size_t size)
{
	const char *p = pl.p, *e = pl_end(pl);
	size_t n = 0;
	if (!size)
		return ENOSPC;
	dst[0] = '\0';
	if (pl.l && *p == '"') {
		if (pl.l < 2 || e[-1] != '"')
			return EINVAL;
		p++;
		e--;
	}
	for (; p < e; p++) {
		if (*p == '\\') {
			if (++p == e)
				return EINVAL;
		} else if (*p == '"') {
			return EINVAL; /* an unescaped quote cannot be inside */
		}
		if (n + 1 >= size) {
			dst[0] = '\0';
			return ENOSPC;
		}
		dst[n++] = *p;
	}
	dst[n] = '\0';
	return 0;
}

/* ---- methods ----------------------------------------------------------- */

static const char *const method_names[SIP_METHOD__COUNT] = {
	[SIP_METHOD_OTHER] = "",
	[SIP_METHOD_INVITE] = "INVITE",
	[SIP_METHOD_ACK] = "ACK",
	[SIP_METHOD_BYE] = "BYE",
	[SIP_METHOD_CANCEL] = "CANCEL",
	[SIP_METHOD_OPTIONS] = "OPTIONS",
	[SIP_METHOD_REGISTER] = "REGISTER",
	[SIP_METHOD_PRACK] = "PRACK",
	[SIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
	[SIP_METHOD_NOTIFY] = "NOTIFY",
	[SIP_METHOD_PUBLISH] = "PUBLISH",
	[SIP_METHOD_INFO] = "INFO",
	[SIP_METHOD_REFER] = "REFER",
	[SIP_METHOD_MESSAGE] = "MESSAGE",
	[SIP_METHOD_UPDATE] = "UPDATE",
};

const char *sip_msg_method_name(enum sip_method method)
{
	if ((unsigned)method >= SIP_METHOD__COUNT)
		return "";
	return method_names[method];
}

enum sip_method sip_method_lookup(struct sip_pl name)
{
	enum sip_method m;
	/* The first letter picks at most two candidates. */
	if (!name.l)
		return SIP_METHOD_OTHER;
	switch (name.p[0]) {
	case 'I': m = name.l == 6 ? SIP_METHOD_INVITE : SIP_METHOD_INFO; break;
	case 'A': m = SIP_METHOD_ACK; break;
	case 'B': m = SIP_METHOD_BYE; break;
	case 'C': m = SIP_METHOD_CANCEL; break;
	case 'O': m = SIP_METHOD_OPTIONS; break;
	case 'R': m = name.l == 8 ? SIP_METHOD_REGISTER : SIP_METHOD_REFER; break;
	case 'P': m = name.l == 5 ? SIP_METHOD_PRACK : SIP_METHOD_PUBLISH; break;
	case 'S': m = SIP_METHOD_SUBSCRIBE; break;
	case 'N': m = SIP_METHOD_NOTIFY; break;
	case 'M': m = SIP_METHOD_MESSAGE; break;
	case 'U': m = SIP_METHOD_UPDATE; break;
	default: return SIP_METHOD_OTHER;
	}
	if (strlen(method_names[m]) == name.l && !memcmp(method_names[m], name.p, name.l))
		return m;
	return SIP_METHOD_OTHER;
}

/* ---- header names ------------------------------------------------------ */

struct hname {
	const char *name;
	uint8_t len;
};

#define H(id, s) [SIP_HDR_##id] = {s, sizeof(s) - 1}
static const struct hname hnames[SIP_HDR__COUNT] = {
	H(OTHER, ""),
	H(ACCEPT, "Accept"),
	H(ACCEPT_CONTACT, "Accept-Contact"),
	H(ACCEPT_ENCODING, "Accept-Encoding"),
	H(ACCEPT_LANGUAGE, "Accept-Language"),
	H(ALERT_INFO, "Alert-Info"),
	H(ALLOW, "Allow"),
	H(ALLOW_EVENTS, "Allow-Events"),
	H(AUTHENTICATION_INFO, "Authentication-Info"),
	H(AUTHORIZATION, "Authorization"),
	H(CALL_ID, "Call-ID"),
	H(CALL_INFO, "Call-Info"),
	H(CONTACT, "Contact"),
	H(CONTENT_DISPOSITION, "Content-Disposition"),
	H(CONTENT_ENCODING, "Content-Encoding"),
	H(CONTENT_LANGUAGE, "Content-Language"),
	H(CONTENT_LENGTH, "Content-Length"),
	H(CONTENT_TYPE, "Content-Type"),
	H(CSEQ, "CSeq"),
	H(DATE, "Date"),
	H(ERROR_INFO, "Error-Info"),
	H(EVENT, "Event"),
	H(EXPIRES, "Expires"),
	H(FROM, "From"),
	H(IDENTITY, "Identity"),
	H(IN_REPLY_TO, "In-Reply-To"),
	H(MAX_FORWARDS, "Max-Forwards"),
	H(MIME_VERSION, "MIME-Version"),
	H(MIN_EXPIRES, "Min-Expires"),
	H(MIN_SE, "Min-SE"),
	H(ORGANIZATION, "Organization"),
	H(P_ASSERTED_IDENTITY, "P-Asserted-Identity"),
	H(P_PREFERRED_IDENTITY, "P-Preferred-Identity"),
	H(PATH, "Path"),
	H(PRIORITY, "Priority"),
	H(PRIVACY, "Privacy"),
	H(PROXY_AUTHENTICATE, "Proxy-Authenticate"),
	H(PROXY_AUTHORIZATION, "Proxy-Authorization"),
	H(PROXY_REQUIRE, "Proxy-Require"),
	H(RACK, "RAck"),
	H(REASON, "Reason"),
	H(RECORD_ROUTE, "Record-Route"),
	H(REFER_SUB, "Refer-Sub"),
	H(REFER_TO, "Refer-To"),
	H(REFERRED_BY, "Referred-By"),
	H(REJECT_CONTACT, "Reject-Contact"),
	H(REPLACES, "Replaces"),
	H(REPLY_TO, "Reply-To"),
	H(REQUEST_DISPOSITION, "Request-Disposition"),
	H(REQUIRE, "Require"),
	H(RETRY_AFTER, "Retry-After"),
	H(ROUTE, "Route"),
	H(RSEQ, "RSeq"),
	H(SERVER, "Server"),
	H(SERVICE_ROUTE, "Service-Route"),
	H(SESSION_EXPIRES, "Session-Expires"),
	H(SIP_ETAG, "SIP-ETag"),
	H(SIP_IF_MATCH, "SIP-If-Match"),
	H(SUBJECT, "Subject"),
	H(SUBSCRIPTION_STATE, "Subscription-State"),
	H(SUPPORTED, "Supported"),
	H(TARGET_DIALOG, "Target-Dialog"),
	H(TIMESTAMP, "Timestamp"),
	H(TO, "To"),
	H(UNSUPPORTED, "Unsupported"),
	H(USER_AGENT, "User-Agent"),
	H(VIA, "Via"),
	H(WARNING, "Warning"),
	H(WWW_AUTHENTICATE, "WWW-Authenticate"),
};
#undef H

/* Compact forms (RFC 3261 7.3.3 and the RFCs that added letters). */
static const uint8_t compact[128] = {
	['a'] = SIP_HDR_ACCEPT_CONTACT,
	['b'] = SIP_HDR_REFERRED_BY,
	['c'] = SIP_HDR_CONTENT_TYPE,
	['d'] = SIP_HDR_REQUEST_DISPOSITION,
	['e'] = SIP_HDR_CONTENT_ENCODING,
	['f'] = SIP_HDR_FROM,
	['i'] = SIP_HDR_CALL_ID,
	['j'] = SIP_HDR_REJECT_CONTACT,
	['k'] = SIP_HDR_SUPPORTED,
	['l'] = SIP_HDR_CONTENT_LENGTH,
	['m'] = SIP_HDR_CONTACT,
	['o'] = SIP_HDR_EVENT,
	['r'] = SIP_HDR_REFER_TO,
	['s'] = SIP_HDR_SUBJECT,
	['t'] = SIP_HDR_TO,
	['u'] = SIP_HDR_ALLOW_EVENTS,
	['v'] = SIP_HDR_VIA,
	['x'] = SIP_HDR_SESSION_EXPIRES,
	['y'] = SIP_HDR_IDENTITY,
};

const char *sip_hdr_name(enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR__COUNT)
		return "";
	return hnames[id].name;
}

/* Names reach here as tokens, and the known names hold only letters and
 * '-'. Among token characters only the two cases of a letter give that
 * letter when OR-ed with 0x20, and only '-' gives '-', so the OR is an exact
 * case fold here, without the compare-and-branch of lower(). */
static inline bool hname_is(const char *n, size_t len, enum sip_hdr_id id)
{
	const char *c = hnames[id].name;
	if (len != hnames[id].len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((n[i] | 0x20) != (c[i] | 0x20))
			return false;
	return true;
}

/*
 * Candidates by first letter, the common ones first. The first letter
 * narrows a lookup to a handful of names, and hname_is() rejects most of
 * those on the length alone, so a lookup usually costs one compare of the
 * right name. A new header needs its name in hnames[] and its id here; the
 * unit test checks that every name maps back to its id. At most 15 per
 * letter: the last slot stays 0 to end the list.
 */
_Static_assert(SIP_HDR__COUNT < 256, "header ids are stored in uint8_t");
static const uint8_t by_letter[26][16] = {
	['a' - 'a'] = {SIP_HDR_ALLOW, SIP_HDR_ACCEPT, SIP_HDR_AUTHORIZATION, SIP_HDR_ALLOW_EVENTS,
		       SIP_HDR_ACCEPT_ENCODING, SIP_HDR_ACCEPT_LANGUAGE, SIP_HDR_ACCEPT_CONTACT,
		       SIP_HDR_ALERT_INFO, SIP_HDR_AUTHENTICATION_INFO},
	['c' - 'a'] = {SIP_HDR_CSEQ, SIP_HDR_CALL_ID, SIP_HDR_CONTACT, SIP_HDR_CONTENT_LENGTH,
		       SIP_HDR_CONTENT_TYPE, SIP_HDR_CONTENT_ENCODING, SIP_HDR_CONTENT_DISPOSITION,
		       SIP_HDR_CONTENT_LANGUAGE, SIP_HDR_CALL_INFO},
	['d' - 'a'] = {SIP_HDR_DATE},
	['e' - 'a'] = {SIP_HDR_EXPIRES, SIP_HDR_EVENT, SIP_HDR_ERROR_INFO},
	['f' - 'a'] = {SIP_HDR_FROM},
	['i' - 'a'] = {SIP_HDR_IDENTITY, SIP_HDR_IN_REPLY_TO},
	['m' - 'a'] = {SIP_HDR_MAX_FORWARDS, SIP_HDR_MIN_EXPIRES, SIP_HDR_MIN_SE,
		       SIP_HDR_MIME_VERSION},
	['o' - 'a'] = {SIP_HDR_ORGANIZATION},
	['p' - 'a'] = {SIP_HDR_PATH, SIP_HDR_PROXY_AUTHORIZATION, SIP_HDR_PROXY_AUTHENTICATE,
		       SIP_HDR_PROXY_REQUIRE, SIP_HDR_P_ASSERTED_IDENTITY,
		       SIP_HDR_P_PREFERRED_IDENTITY, SIP_HDR_PRIVACY, SIP_HDR_PRIORITY},
	['r' - 'a'] = {SIP_HDR_ROUTE, SIP_HDR_RECORD_ROUTE, SIP_HDR_REQUIRE, SIP_HDR_REFER_TO,
		       SIP_HDR_REFERRED_BY, SIP_HDR_REPLACES, SIP_HDR_REASON, SIP_HDR_RSEQ,
		       SIP_HDR_RACK, SIP_HDR_RETRY_AFTER, SIP_HDR_REFER_SUB, SIP_HDR_REJECT_CONTACT,
		       SIP_HDR_REPLY_TO, SIP_HDR_REQUEST_DISPOSITION},
	['s' - 'a'] = {SIP_HDR_SUPPORTED, SIP_HDR_SERVER, SIP_HDR_SUBJECT,
		       SIP_HDR_SUBSCRIPTION_STATE, SIP_HDR_SESSION_EXPIRES, SIP_HDR_SIP_ETAG,
		       SIP_HDR_SIP_IF_MATCH, SIP_HDR_SERVICE_ROUTE},
	['t' - 'a'] = {SIP_HDR_TO, SIP_HDR_TIMESTAMP, SIP_HDR_TARGET_DIALOG},
	['u' - 'a'] = {SIP_HDR_USER_AGENT, SIP_HDR_UNSUPPORTED},
	['v' - 'a'] = {SIP_HDR_VIA},
	['w' - 'a'] = {SIP_HDR_WWW_AUTHENTICATE, SIP_HDR_WARNING},
};

static enum sip_hdr_id hdr_lookup_token(const char *name, size_t len)
{
	const uint8_t *id;
	char c;
	if (!len)
		return SIP_HDR_OTHER;
	c = lower(name[0]);
	if (len == 1)
		return (uint8_t)c < 128 ? (enum sip_hdr_id)compact[(uint8_t)c] : SIP_HDR_OTHER;
	if (c < 'a' || c > 'z')
		return SIP_HDR_OTHER;
	for (id = by_letter[c - 'a']; *id; id++)
		if (hname_is(name, len, (enum sip_hdr_id) * id))
			return (enum sip_hdr_id) * id;
	return SIP_HDR_OTHER;
}

enum sip_hdr_id sip_hdr_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_token(name[i]))
			return SIP_HDR_OTHER;
	return hdr_lookup_token(name, len);
}

/* ---- start line -------------------------------------------------------- */

/* "SIP" "/" 1*DIGIT "." 1*DIGIT; "SIP" in any case (RFC 3261 7.1). */
static bool version_ok(const char *p, size_t l)
{
	size_t i = 4, d;
	if (l < 7 || !mem_caseeq(p, "SIP/", 4))
		return false;
	for (d = i; i < l && is_digit(p[i]); i++)
		;
	if (i == d || i == l || p[i] != '.')
		return false;
	for (d = ++i; i < l && is_digit(p[i]); i++)
		;
	return i > d && i == l;
}

/* A Request-URI must at least be an absolute URI: scheme ":" something.
 * The full syntax is checked by the layer that uses it (sip_uri_parse),
 * which can answer 416 for schemes we do not serve. */
static bool ruri_ok(const char *p, size_t l)
{
	size_t i = 0;
	if (!l || !((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z'))
		return false;
	for (i = 1; i < l && p[i] != ':'; i++)
		if (!(is_token(p[i]) && p[i] != '%' && p[i] != '!' && p[i] != '*'))
			return false;
	if (i + 1 >= l)
		return false;
	for (; i < l; i++)
		if ((uint8_t)p[i] <= 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static int parse_start_line(struct sip_msg *m, const char *p, size_t l, const char **reason)
{
	const char *e = p + l, *s;
	if (l >= 4 && mem_caseeq(p, "SIP/", 4)) {
		/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
		uint32_t code;
		s = p;
		while (p < e && *p != ' ')
			p++;
		m->version = (struct sip_pl){s, (size_t)(p - s)};
		if (!version_ok(s, m->version.l) || e - p < 4 || !is_digit(p[1]) ||
		    !is_digit(p[2]) || !is_digit(p[3]) || (e - p > 4 && p[4] != ' ')) {
			*reason = "Bad Status-Line";
			return EBADMSG;
		}
		code = (uint32_t)((p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0'));
		if (code < 100 || code > 699) {
			*reason = "Bad status code";
			return EBADMSG;
		}
		m->status = (uint16_t)code;
		/* Some agents omit the reason phrase and even its SP: tolerate. */
		p += 4;
		if (p < e)
			p++;
		m->reason = (struct sip_pl){p, (size_t)(e - p)};
		m->request = false;
		return 0;
	}

	/* Request-Line = Method SP Request-URI SP SIP-Version. Exactly one SP
	 * between the parts: for extra SPs RFC 4475 allows leniency or a 400,
	 * and a strict split cannot misread a URI with a space in it. */
	s = p;
	while (p < e && is_token(*p))
		p++;
	if (p == s || p == e || *p != ' ')
		goto bad;
	m->method_name = (struct sip_pl){s, (size_t)(p - s)};
	m->method = sip_method_lookup(m->method_name);
	s = ++p;
	while (p < e && *p != ' ')
		p++;
	if (p == e)
		goto bad;
	m->ruri = (struct sip_pl){s, (size_t)(p - s)};
	s = ++p;
	m->version = (struct sip_pl){s, (size_t)(e - s)};
	if (!version_ok(s, m->version.l))
		goto bad;
	if (!ruri_ok(m->ruri.p, m->ruri.l)) {
		*reason = "Bad Request-URI";
		return EBADMSG;
	}
	m->request = true;
	return 0;
bad:
	*reason = "Bad Request-Line";
	return EBADMSG;
}

/* ---- CSeq, Content-Length ---------------------------------------------- */

static int parse_cseq(struct sip_msg *m, struct sip_pl v)
{
	const char *p = v.p, *e = pl_end(v), *s = p;
	uint32_t n;
	while (p < e && is_digit(*p))
		p++;
	/* RFC 3261 8.1.1.5: the sequence number MUST be less than 2**31. */
	if (sip_pl_u32((struct sip_pl){s, (size_t)(p - s)}, &n) || n >= 0x80000000u)
		return EBADMSG;
	if (p == e || !is_lws(*p))
		return EBADMSG;
	p = skip_lws(p, e);
	s = p;
	while (p < e && is_token(*p))
		p++;
	if (p == s || p != e)
		return EBADMSG;
	m->cseq_num = n;
	m->cseq_method_name = (struct sip_pl){s, (size_t)(p - s)};
	m->cseq_method = sip_method_lookup(m->cseq_method_name);
	return 0;
}

static const char *check_clen(struct sip_msg *m)
{
	const struct sip_hdr *h = &m->hdr[m->first[SIP_HDR_CONTENT_LENGTH] - 1];
	uint32_t v, v2;
	int err = sip_pl_u32(h->value, &v);
	if (err == ERANGE || (!err && v > SIP_MSG_MAX_SIZE))
		return "Content-Length too large";
	if (err)
		return "Bad Content-Length";
	/* Any second Content-Length is refused: when the values differ the
	 * message has no framing, and when they agree it is still outside the
	 * grammar (a single-valued header). The wording tells which. */
	for (const struct sip_hdr *d = sip_msg_hdr_next(m, h); d; d = sip_msg_hdr_next(m, d)) {
		if (sip_pl_u32(d->value, &v2) || v2 != v)
			return "Conflicting Content-Length";
		return "Duplicate Content-Length";
	}
	m->has_clen = true;
	m->clen = v;
	return NULL;
}

/* ---- the parser -------------------------------------------------------- */

/*
 * Control characters other than HTAB in one line, its line end excluded.
 * Eight bytes at a time: the expression below is non-zero exactly when some
 * byte of x is below 0x20, and only such words (a tab, in practice) are
 * looked at byte by byte. A plain byte loop cost a fifth of the parse.
 */
static const char *ctl_check(const char *p, const char *e)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	while (p < e) {
		size_t n = (size_t)(e - p) < 8 ? (size_t)(e - p) : 8;
		if (n == 8) {
			uint64_t x;
			memcpy(&x, p, 8);
			if (!((x - ones * 0x20) & ~x & highs)) {
				p += 8;
				continue;
			}
		}
		for (const char *q = p + n; p < q; p++) {
			uint8_t c = (uint8_t)*p;
			if (c < 0x20 && c != '\t')
				return c ? "Control character in header" : "NUL byte in header";
		}
	}
	return NULL;
}

static void msg_reset(struct sip_msg *m, char *buf)
{
	m->buf = buf;
	m->len = 0;
	m->request = false;
	m->hdrs_ok = false;
	m->method = SIP_METHOD_OTHER;
	m->method_name = m->ruri = m->reason = m->version = (struct sip_pl){NULL, 0};
	m->status = 0;
	m->cseq_num = 0;
	m->cseq_method = SIP_METHOD_OTHER;
	m->cseq_method_name = (struct sip_pl){NULL, 0};
	m->has_clen = false;
	m->clen = 0;
	m->body = (struct sip_pl){NULL, 0};
	m->nhdrs = 0;
	memset(m->first, 0, sizeof(m->first));
}

/* Mandatory and single-valued headers (RFC 3261 8.1.1, 20). Max-Forwards is
 * mandatory too, but phones omit it in the wild and a missing one is read
 * as 70 by the proxy logic, so it is only checked for duplicates. */
static const struct {
	enum sip_hdr_id id;
	bool mandatory;
	const char *missing, *dup;
} single[] = {
	{SIP_HDR_VIA, true, "Missing Via header", NULL},
	{SIP_HDR_FROM, true, "Missing From header", "Duplicate From header"},
	{SIP_HDR_TO, true, "Missing To header", "Duplicate To header"},
	{SIP_HDR_CALL_ID, true, "Missing Call-ID header", "Duplicate Call-ID header"},
	{SIP_HDR_CSEQ, true, "Missing CSeq header", "Duplicate CSeq header"},
	{SIP_HDR_MAX_FORWARDS, false, NULL, "Duplicate Max-Forwards header"},
};

static const char *validate(struct sip_msg *m)
{
	const struct sip_hdr *h;
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		uint8_t f = m->first[single[i].id];
		if (!f) {
			if (single[i].mandatory)
				return single[i].missing;
		} else if (single[i].dup && m->hdr[f - 1].next) {
			return single[i].dup;
		}
	}
	h = sip_msg_hdr_first(m, SIP_HDR_CALL_ID);
	for (size_t i = 0; i < h->value.l; i++)
		if (is_lws(h->value.p[i]))
			return "Bad Call-ID";
	if (!h->value.l)
		return "Bad Call-ID";
	if (parse_cseq(m, sip_msg_hdr_first(m, SIP_HDR_CSEQ)->value))
		return "Bad CSeq";
	/* Compare the names, not the enum, so that two unknown methods match
	 * only when they are spelt the same. */
	if (m->request && !sip_pl_eq(m->cseq_method_name, m->method_name))
		return "CSeq method does not match";
	if (m->first[SIP_HDR_CONTENT_LENGTH])
		return check_clen(m);
	return NULL;
}

int sip_msg_parse(struct sip_msg *m, char *buf, size_t len, const char **reason)
{
	uint8_t last[SIP_HDR__COUNT];
	char *p, *end, *lf;
	const char *r;
	int err;

	msg_reset(m, buf);
	*reason = NULL;
	if (!len) {
		*reason = "Empty message";
		return EBADMSG;
	}
	if (len > SIP_MSG_MAX_SIZE) {
		*reason = "Message too large";
		return EMSGSIZE;
	}
	end = buf + len;
	/* RFC 3261 7.5: CRLFs before the start line are ignored. */
	for (p = buf; p < end && (*p == '\r' || *p == '\n'); p++)
		;
	m->buf = p;
	if (p == end) {
		r = "Empty message";
		goto bad;
	}

	lf = memchr(p, '\n',
		    (size_t)(end - p) < SIP_MSG_MAX_LINE ? (size_t)(end - p) : SIP_MSG_MAX_LINE);
	if (!lf) {
		r = end - p >= (ptrdiff_t)SIP_MSG_MAX_LINE ? "Start line too long"
							   : "Truncated message";
		goto bad;
	}
	err = parse_start_line(m, p, (size_t)(lf - p) - (lf > p && lf[-1] == '\r'), &r);
	if (err)
		goto bad;
	/* The start line and headers are handed to code that treats them as
	 * text, and parts of them are copied into messages to other peers. A
	 * NUL would cut them short and a lone CR is a line end to some stacks
	 * (header injection), so refuse control characters here, line by line
	 * while the line is in cache, rather than in every consumer. The body
	 * may hold anything. */
	r = ctl_check(p, lf - (lf[-1] == '\r'));
	if (r)
		goto bad;
	p = lf + 1;

	for (;;) {
		char *n, *v, *ve, *lim;
		struct sip_hdr *h;
		enum sip_hdr_id id;

		if (p == end) {
			r = "Truncated message";
			goto bad;
		}
		if (*p == '\n') {
			p++;
			break;
		}
		if (*p == '\r' && p + 1 < end && p[1] == '\n') {
			p += 2;
			break;
		}
		if (*p == '\r' && p + 1 == end) {
			r = "Truncated message";
			goto bad;
		}
		/* A line that starts with white space here is a continuation with
		 * nothing to continue (right after the start line). */
		n = p;
		lim = (size_t)(end - n) > SIP_MSG_MAX_LINE ? n + SIP_MSG_MAX_LINE : end;
		while (p < lim && is_token(*p))
			p++;
		v = p;
		while (p < lim && is_wsp(*p))
			p++;
		if (p == n || p == lim || *p != ':') {
			if (p == lim && lim != end)
				r = "Header line too long";
			else if (p == end)
				r = "Truncated message";
			else
				r = "Malformed header line";
			goto bad;
		}
		ve = v; /* end of name */
		v = ++p;
		/* Find the end of the logical line. Each continuation (a line
		 * break followed by SP or HTAB) is blanked in place: the value stays
		 * one slice and every value parser sees plain white space. It costs
		 * one write per fold and nothing when there is none. */
		for (;;) {
			lf = memchr(p, '\n', (size_t)(lim - p));
			if (!lf) {
				r = lim != end ? "Header line too long" : "Truncated message";
				goto bad;
			}
			if (lf + 1 < end && is_wsp(lf[1])) {
				*lf = ' ';
				if (lf[-1] == '\r')
					lf[-1] = ' ';
				p = lf + 1;
				continue;
			}
			break;
		}
		p = lf + 1;
		r = ctl_check(v, lf - (lf[-1] == '\r'));
		if (r)
			goto bad;
		while (v < lf && is_wsp(*v))
			v++;
		while (lf > v && (is_wsp(lf[-1]) || lf[-1] == '\r'))
			lf--;

		if (m->nhdrs == SIP_MSG_MAX_HDRS) {
			r = "Too many headers";
			goto bad;
		}
		id = hdr_lookup_token(n, (size_t)(ve - n));
		h = &m->hdr[m->nhdrs];
		h->name = (struct sip_pl){n, (size_t)(ve - n)};
		h->value = (struct sip_pl){v, (size_t)(lf - v)};
		h->id = id;
		h->next = 0;
		if (id != SIP_HDR_OTHER) {
			if (m->first[id])
				m->hdr[last[id]].next = (uint8_t)(m->nhdrs + 1);
			else
				m->first[id] = (uint8_t)(m->nhdrs + 1);
			last[id] = (uint8_t)m->nhdrs;
		}
		m->nhdrs++;
	}

	m->hdrs_ok = true;

	r = validate(m);
	if (r)
		goto bad;
	if (m->request && (m->version.l != 7 || !mem_caseeq(m->version.p, "SIP/2.0", 7))) {
		/* Checked after the headers so the 505 can be formed. */
		m->len = (size_t)(end - m->buf);
		*reason = "Unsupported SIP version";
		return EPROTONOSUPPORT;
	}
	if (!m->request && (m->version.l != 7 || !mem_caseeq(m->version.p, "SIP/2.0", 7))) {
		r = "Unsupported SIP version";
		goto bad;
	}
	if (m->has_clen) {
		if (m->clen > (size_t)(end - p)) {
			r = "Body shorter than Content-Length";
			goto bad;
		}
		m->body = (struct sip_pl){p, m->clen};
	} else {
		m->body = (struct sip_pl){p, (size_t)(end - p)};
	}
	m->len = (size_t)(m->body.p + m->body.l - m->buf);
	return 0;

bad:
	m->len = (size_t)(end - m->buf);
	*reason = r;
	return EBADMSG;
}

bool sip_msg_can_reply(const struct sip_msg *m)
{
	struct sip_via v;
	if (!m->request || m->method == SIP_METHOD_ACK)
		return false;
	/* A 400 needs a way back (the top Via) and a CSeq the client can match;
	 * whatever else is missing or malformed is named in its reason phrase
	 * (RFC 4475 3.1.2.18). Headers split before a bad line are usable. */
	if (!m->first[SIP_HDR_CSEQ])
		return false;
	return sip_msg_via_top(m, &v) == 0;
}

/* ---- header access ----------------------------------------------------- */

const struct sip_hdr *sip_msg_hdr_first(const struct sip_msg *m, enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR__COUNT)
		return NULL;
	if (id == SIP_HDR_OTHER) {
		for (unsigned i = 0; i < m->nhdrs; i++)
			if (m->hdr[i].id == SIP_HDR_OTHER)
				return &m->hdr[i];
		return NULL;
	}
	return m->first[id] ? &m->hdr[m->first[id] - 1] : NULL;
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
	if (!h)
		return NULL;
	if (h->id != SIP_HDR_OTHER)
		return h->next ? &m->hdr[h->next - 1] : NULL;
	/* Unknown headers are not chained; they are rare and few. */
	for (unsigned i = (unsigned)(h - m->hdr) + 1; i < m->nhdrs; i++)
		if (m->hdr[i].id == SIP_HDR_OTHER && sip_pl_caseeq(m->hdr[i].name, h->name))
			return &m->hdr[i];
	return NULL;
}

const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, const char *name)
{
	size_t len = strlen(name);
	enum sip_hdr_id id = sip_hdr_lookup(name, len);
	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr_first(m, id);
	for (unsigned i = 0; i < m->nhdrs; i++)
		if (m->hdr[i].id == SIP_HDR_OTHER && m->hdr[i].name.l == len &&
		    mem_caseeq(m->hdr[i].name.p, name, len))
			return &m->hdr[i];
	return NULL;
}

unsigned sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id)
{
	unsigned n = 0;
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, id); h; h = sip_msg_hdr_next(m, h))
		n++;
	return n;
}

int sip_pl_list_next(struct sip_pl *rest, struct sip_pl *item)
{
	const char *p = rest->p, *e = pl_end(*rest), *s;
	bool angle = false;
	for (;;) {
		p = skip_lws(p, e);
		if (p == e) {
			*rest = (struct sip_pl){e, 0};
			return ENOENT;
		}
		if (*p != ',')
			break;
		p++;
	}
	s = p;
	while (p < e) {
		if (*p == '"' && !angle) {
			const char *q = skip_quoted(p, e);
			p = q ? q : e;
			continue;
		}
		if (*p == '<')
			angle = true;
		else if (*p == '>')
			angle = false;
		else if (*p == ',' && !angle)
			break;
		p++;
	}
	*item = sip_pl_trim((struct sip_pl){s, (size_t)(p - s)});
	if (p < e)
		p++;
	*rest = (struct sip_pl){p, (size_t)(e - p)};
	return 0;
}

void sip_value_iter_init(struct sip_value_iter *it, const struct sip_msg *m, enum sip_hdr_id id)
{
	it->m = m;
	it->h = sip_msg_hdr_first(m, id);
	it->rest = it->h ? it->h->value : (struct sip_pl){NULL, 0};
}

int sip_value_iter_next(struct sip_value_iter *it, struct sip_pl *val)
{
	while (it->h) {
		if (!sip_pl_list_next(&it->rest, val))
			return 0;
		it->h = sip_msg_hdr_next(it->m, it->h);
		if (it->h)
			it->rest = it->h->value;
	}
	return ENOENT;
}

/* ---- parameters -------------------------------------------------------- */

int sip_param_next(struct sip_pl *params, struct sip_pl *name, struct sip_pl *val)
{
	const char *p = params->p, *e = pl_end(*params), *s;
	p = skip_lws(p, e);
	if (p < e && *p == ';')
		p = skip_lws(p + 1, e);
	if (p == e) {
		*params = (struct sip_pl){e, 0};
		return ENOENT;
	}
	s = p;
	while (p < e && (cls[(uint8_t)*p] & C_PNAME))
		p++;
	if (p == s)
		return EINVAL;
	*name = (struct sip_pl){s, (size_t)(p - s)};
	*val = (struct sip_pl){NULL, 0};
	p = skip_lws(p, e);
	if (p < e && *p == '=') {
		p = skip_lws(p + 1, e);
		if (p < e && *p == '"') {
			const char *q = skip_quoted(p, e);
			if (!q)
				return EINVAL;
			*val = (struct sip_pl){p + 1, (size_t)(q - p - 2)};
			p = q;
		} else {
			s = p;
			while (p < e && (cls[(uint8_t)*p] & C_PVAL))
				p++;
			if (p == s)
				return EINVAL;
			*val = (struct sip_pl){s, (size_t)(p - s)};
		}
		p = skip_lws(p, e);
	}
	if (p < e && *p != ';')
		return EINVAL;
	*params = (struct sip_pl){p, (size_t)(e - p)};
	return 0;
}

int sip_param_get(struct sip_pl params, const char *name, struct sip_pl *val)
{
	struct sip_pl n, v;
	int err;
	while (!(err = sip_param_next(&params, &n, &v))) {
		if (!sip_pl_casecmp_str(n, name)) {
			*val = v;
			return 0;
		}
	}
	return err;
}

/* ---- Via --------------------------------------------------------------- */

static const char *token_at(const char *p, const char *e, struct sip_pl *t)
{
	const char *s = p;
	while (p < e && is_token(*p))
		p++;
	*t = (struct sip_pl){s, (size_t)(p - s)};
	return p;
}

/* SWS "/" SWS */
static const char *slash_at(const char *p, const char *e)
{
	p = skip_lws(p, e);
	if (p == e || *p != '/')
		return NULL;
	return skip_lws(p + 1, e);
}

void sip_pl_token_params(struct sip_pl v, struct sip_pl *token, struct sip_pl *params)
{
	const char *semi = memchr(v.p, ';', v.l);
	*token = sip_pl_trim((struct sip_pl){v.p, semi ? (size_t)(semi - v.p) : v.l});
	*params = semi ? (struct sip_pl){semi, v.l - (size_t)(semi - v.p)} : (struct sip_pl){"", 0};
}

int sip_replaces_parse(struct sip_replaces *r, struct sip_pl v)
{
	struct sip_pl params, name, val;
	memset(r, 0, sizeof *r);
	sip_pl_token_params(v, &r->callid, &params);
	if (!r->callid.l)
		return EINVAL;
	while (!sip_param_next(&params, &name, &val)) {
		if (!sip_pl_casecmp_str(name, "to-tag"))
			r->to_tag = val;
		else if (!sip_pl_casecmp_str(name, "from-tag"))
			r->from_tag = val;
		else if (!sip_pl_casecmp_str(name, "early-only"))
			r->early_only = true;
	}
	return r->to_tag.l && r->from_tag.l ? 0 : EINVAL;
}

int sip_via_parse(struct sip_via *v, struct sip_pl val)
{
	struct sip_pl t, pl, n, pv;
	const char *p, *e, *s;
	uint32_t port;
	int err;

	memset(v, 0, sizeof(*v));
	val = sip_pl_trim(val);
	v->value = val;
	p = val.p;
	e = pl_end(val);

	/* sent-protocol = protocol-name SLASH protocol-version SLASH transport */
	p = token_at(p, e, &t);
	if (!t.l || !(p = slash_at(p, e)))
		return EINVAL;
	p = token_at(p, e, &t);
	if (!t.l || !(p = slash_at(p, e)))
		return EINVAL;
	p = token_at(p, e, &v->transport);
	if (!v->transport.l || p == e || !is_lws(*p))
		return EINVAL;
	p = skip_lws(p, e);

	/* sent-by = host [ COLON port ] */
	if (p < e && *p == '[') {
		s = ++p;
		while (p < e && *p != ']')
			p++;
		if (p == e)
			return EINVAL;
		v->host = (struct sip_pl){s, (size_t)(p - s)};
		v->host_ipv6 = true;
		p++;
	} else {
		s = p;
		while (p < e && *p != ':' && *p != ';' && !is_lws(*p))
			p++;
		v->host = (struct sip_pl){s, (size_t)(p - s)};
	}
	if (sip_uri_host_check(v->host, v->host_ipv6))
		return EINVAL;
	p = skip_lws(p, e);
	if (p < e && *p == ':') {
		p = skip_lws(p + 1, e);
		s = p;
		while (p < e && is_digit(*p))
			p++;
		if (sip_pl_u32((struct sip_pl){s, (size_t)(p - s)}, &port) || port > 65535)
			return EINVAL;
		v->port = (uint16_t)port;
		p = skip_lws(p, e);
	}
	if (p < e && *p != ';')
		return EINVAL;
	v->params = (struct sip_pl){p, (size_t)(e - p)};

	pl = v->params;
	while (!(err = sip_param_next(&pl, &n, &pv))) {
		/* Length first: most parameters are none of these. */
		if (n.l == 6 && !sip_pl_casecmp_str(n, "branch")) {
			v->branch = pv;
		} else if (n.l == 8 && !sip_pl_casecmp_str(n, "received")) {
			v->received = pv;
		} else if (n.l == 5 && !sip_pl_casecmp_str(n, "maddr")) {
			v->maddr = pv;
		} else if (n.l == 5 && !sip_pl_casecmp_str(n, "rport")) {
			v->rport = true;
			if (pv.p) {
				if (sip_pl_u32(pv, &port) || port > 65535)
					return EINVAL;
				v->rport_port = (uint16_t)port;
			}
		}
	}
	return err == ENOENT ? 0 : EINVAL;
}

int sip_msg_via_top(const struct sip_msg *m, struct sip_via *v)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_VIA);
	struct sip_pl rest, val;
	if (!h)
		return ENOENT;
	rest = h->value;
	if (sip_pl_list_next(&rest, &val))
		return EINVAL; /* an empty Via header */
	return sip_via_parse(v, val);
}

/* ---- name-addr / addr-spec --------------------------------------------- */

int sip_addr_parse(struct sip_addr *a, struct sip_pl val)
{
	const char *p, *e, *s, *lt;
	struct sip_pl pl, n, v;
	int err;

	memset(a, 0, sizeof(*a));
	val = sip_pl_trim(val);
	p = val.p;
	e = pl_end(val);
	if (p == e)
		return EINVAL;

	if (*p == '"') {
		const char *q = skip_quoted(p, e);
		if (!q)
			return EINVAL;
		a->dname = (struct sip_pl){p + 1, (size_t)(q - p - 2)};
		a->dname_quoted = true;
		p = skip_lws(q, e);
		if (p == e || *p != '<')
			return EINVAL;
		lt = p;
	} else {
		lt = memchr(p, '<', (size_t)(e - p));
		if (lt) {
			/* display-name = *(token LWS): anything else must be quoted. */
			for (s = p; s < lt; s++)
				if (!is_token(*s) && !is_lws(*s))
					return EINVAL;
			a->dname = sip_pl_trim((struct sip_pl){p, (size_t)(lt - p)});
		}
	}

	if (lt) {
		const char *gt;
		p = lt + 1;
		gt = memchr(p, '>', (size_t)(e - p));
		if (!gt || gt == p)
			return EINVAL;
		a->uri = (struct sip_pl){p, (size_t)(gt - p)};
		a->angle = true;
		p = gt + 1;
	} else {
		/* addr-spec: RFC 3261 20 puts URIs with ';' ',' or '?' in < >, so
		 * here the first ';' starts the header parameters. */
		s = p;
		while (p < e && *p != ';' && !is_lws(*p))
			p++;
		a->uri = (struct sip_pl){s, (size_t)(p - s)};
	}

	p = skip_lws(p, e);
	if (p < e && *p != ';')
		return EINVAL;
	a->params = (struct sip_pl){p, (size_t)(e - p)};
	pl = a->params;
	while (!(err = sip_param_next(&pl, &n, &v)))
		if (!a->tag.l && !sip_pl_casecmp_str(n, "tag"))
			a->tag = v;
	return err == ENOENT ? 0 : EINVAL;
}

static int addr_hdr(const struct sip_msg *m, enum sip_hdr_id id, struct sip_addr *a)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);
	if (!h)
		return ENOENT;
	/* A second address after a comma fails the parameter syntax, so no
	 * list split is needed to refuse "From: <a>, <b>". */
	return sip_addr_parse(a, h->value);
}

int sip_msg_from(const struct sip_msg *m, struct sip_addr *a)
{
	return addr_hdr(m, SIP_HDR_FROM, a);
}

int sip_msg_to(const struct sip_msg *m, struct sip_addr *a)
{
	return addr_hdr(m, SIP_HDR_TO, a);
}

bool sip_msg_has_to_tag(const struct sip_msg *m)
{
	struct sip_addr to;
	return !sip_msg_to(m, &to) && to.tag.l;
}

bool sip_msg_answers_challenge(const struct sip_msg *m)
{
	return m->request && (sip_msg_hdr_first(m, SIP_HDR_AUTHORIZATION) ||
			      sip_msg_hdr_first(m, SIP_HDR_PROXY_AUTHORIZATION));
}

bool sip_msg_continues_work(const struct sip_msg *m)
{
	if (!m->request || m->method == SIP_METHOD_ACK || m->method == SIP_METHOD_CANCEL ||
	    m->method == SIP_METHOD_BYE)
		return true;
	return sip_msg_has_to_tag(m);
}

/* ---- simple values ----------------------------------------------------- */

int sip_msg_cseq(const struct sip_msg *m, uint32_t *num, struct sip_pl *method)
{
	if (!m->cseq_method_name.l)
		return ENOENT;
	*num = m->cseq_num;
	if (method)
		*method = m->cseq_method_name;
	return 0;
}

int sip_msg_callid(const struct sip_msg *m, struct sip_pl *callid)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_CALL_ID);
	if (!h)
		return ENOENT;
	*callid = h->value;
	return 0;
}

int sip_msg_max_forwards(const struct sip_msg *m, uint32_t *v)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_MAX_FORWARDS);
	uint32_t n;
	if (!h)
		return ENOENT;
	if (sip_pl_u32(h->value, &n) || n > 255)
		return EINVAL;
	*v = n;
	return 0;
}

int sip_msg_expires(const struct sip_msg *m, uint32_t *v)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_EXPIRES);
	int err;
	if (!h)
		return ENOENT;
	err = sip_pl_u32(h->value, v);
	/* RFC 3261 20.19 caps delta-seconds at 2**32-1; a larger value means
	 * "as long as possible", not an error. */
	if (err == ERANGE) {
		*v = UINT32_MAX;
		return 0;
	}
	return err;
}

/* ---- stream framing ---------------------------------------------------- */

static int frame_keepalive(const char *buf, size_t len, size_t *msglen)
{
	if (buf[0] == '\n') {
		*msglen = 1;
		return 0;
	}
	if (len < 2)
		return EAGAIN;
	if (buf[1] != '\n')
		return EBADMSG;
	/* "\r\n" alone may be a pong or the first half of a ping; holding two
	 * bytes until the next segment costs nothing. */
	if (len < 3)
		return EAGAIN;
	if (buf[2] != '\r') {
		*msglen = 2;
		return 0;
	}
	if (len < 4)
		return EAGAIN;
	if (buf[3] != '\n')
		return EBADMSG;
	*msglen = 4;
	return 0;
}

/* Is this complete first line a SIP start line? Rejecting early keeps a
 * peer that speaks something else (HTTP, TLS on the TCP port) from filling
 * the buffer up to max before we notice. */
static bool start_line_plausible(const char *p, size_t l)
{
	const char *sp;
	if (l && p[l - 1] == '\r')
		l--;
	for (size_t i = 0; i < l; i++)
		if ((uint8_t)p[i] < 0x20 && p[i] != '\t')
			return false;
	if (l >= 4 && mem_caseeq(p, "SIP/", 4))
		return true;
	sp = memrchr(p, ' ', l);
	return sp && (size_t)(p + l - sp - 1) >= 4 && mem_caseeq(sp + 1, "SIP/", 4);
}

int sip_msg_frame(const char *buf, size_t len, size_t max, size_t *msglen)
{
	const char *p, *end, *lf;
	bool have_clen = false;
	uint32_t clen = 0;
	size_t total;

	*msglen = 0;
	if (!len)
		return EAGAIN;
	if (buf[0] == '\r' || buf[0] == '\n')
		return frame_keepalive(buf, len, msglen);
	if (!is_token(buf[0]))
		return EBADMSG;

	end = buf + (len < max ? len : max);
	lf = memchr(buf, '\n', (size_t)(end - buf));
	if (!lf)
		return len >= max ? EMSGSIZE : EAGAIN;
	if (!start_line_plausible(buf, (size_t)(lf - buf)))
		return EBADMSG;

	for (p = lf + 1;;) {
		const char *n = p, *c;
		if (p == end)
			return len >= max ? EMSGSIZE : EAGAIN;
		lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			return len >= max ? EMSGSIZE : EAGAIN;
		if (lf == p || (lf == p + 1 && *p == '\r')) {
			p = lf + 1;
			break;
		}
		p = lf + 1;
		/* Is this line Content-Length or its compact form "l"? */
		for (c = n; c < lf && is_token(*c); c++)
			;
		if (!((c - n == 14 && mem_caseeq(n, "content-length", 14)) ||
		      (c - n == 1 && (*n | 0x20) == 'l')))
			continue;
		while (c < lf && is_wsp(*c))
			c++;
		if (c == lf || *c != ':')
			continue; /* not a header line; the parser will say so */
		/* The value may be folded: extend the line over continuations,
		 * then read digits, skipping any white space and line breaks. */
		while (p < end && is_wsp(*p)) {
			lf = memchr(p, '\n', (size_t)(end - p));
			if (!lf)
				return len >= max ? EMSGSIZE : EAGAIN;
			p = lf + 1;
		}
		if (p == end)
			return len >= max ? EMSGSIZE : EAGAIN;
		{
			struct sip_pl v = sip_pl_trim((struct sip_pl){c + 1, (size_t)(p - c - 1)});
			uint32_t x;
			if (sip_pl_u32(v, &x))
				return EBADMSG;
			if (have_clen && x != clen)
				return EBADMSG;
			have_clen = true;
			clen = x;
		}
	}
	/* RFC 3261 18.3: over a stream, Content-Length is mandatory. */
	if (!have_clen)
		return EBADMSG;
	if (clen > max - (size_t)(p - buf))
		return EMSGSIZE;
	total = (size_t)(p - buf) + clen;
	*msglen = total;
	return total > len ? EAGAIN : 0;
}

bool sip_msg_is_ping(const char *buf, size_t msglen)
{
	return msglen == 4 && !memcmp(buf, "\r\n\r\n", 4);
}

bool sip_msg_is_keepalive(const char *buf, size_t msglen)
{
	if (!msglen || msglen > 4)
		return false;
	for (size_t i = 0; i < msglen; i++)
		if (buf[i] != '\r' && buf[i] != '\n')
			return false;
	return true;
}
