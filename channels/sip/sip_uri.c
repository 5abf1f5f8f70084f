/**
 * @file sip_uri.c  sip:, sips: and tel: URIs: parse into slices, compare per RFC 3261 19.1.4
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Self-contained: it uses only the struct sip_pl type from sip_msg.h, not
 * its functions, so the URI fuzz target links this file alone. URI
 * parameters differ from header parameters anyway (no quoted strings, no
 * white space), so they have their own small splitter here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sip_uri.h"

/* Character classes of RFC 3261 25.1 as they apply inside a URI. */
enum {
	U_UNRES = 1, /* alphanum / mark */
	U_USER = 2,  /* user-unreserved */
	U_PASS = 4,  /* password extras */
	U_PARAM = 8, /* param-unreserved */
	U_HNV = 16,  /* hnv-unreserved */
	U_HOST = 32, /* hostname: alphanum "-" "." and "_" (seen in the wild) */
	U_TEL = 64,  /* tel: number: HEXDIG "*" "#" and visual separators */
	U_RES = 128, /* RFC 2396 reserved: escaped form is distinct */
	U_AT = 256,  /* '@' in a header value (lenient, see headers_ok) */
};

#define ALNUM (U_UNRES | U_HOST)

static const uint16_t ucls[256] = {
	['0' ... '9'] = ALNUM | U_TEL,
	['a' ... 'f'] = ALNUM | U_TEL,
	['A' ... 'F'] = ALNUM | U_TEL,
	['g' ... 'z'] = ALNUM,
	['G' ... 'Z'] = ALNUM,
	['-'] = U_UNRES | U_HOST | U_TEL,
	['.'] = U_UNRES | U_HOST | U_TEL,
	['_'] = U_UNRES | U_HOST,
	['!'] = U_UNRES,
	['~'] = U_UNRES,
	['*'] = U_UNRES | U_TEL,
	['\''] = U_UNRES,
	['('] = U_UNRES | U_TEL,
	[')'] = U_UNRES | U_TEL,
	['&'] = U_USER | U_PASS | U_PARAM | U_RES,
	['='] = U_USER | U_PASS | U_RES,
	['+'] = U_USER | U_PASS | U_PARAM | U_HNV | U_RES,
	['$'] = U_USER | U_PASS | U_PARAM | U_HNV | U_RES,
	[','] = U_USER | U_PASS | U_RES,
	[';'] = U_USER | U_RES,
	['?'] = U_USER | U_HNV | U_RES,
	['/'] = U_USER | U_PARAM | U_HNV | U_RES,
	[':'] = U_PARAM | U_HNV | U_RES,
	['['] = U_PARAM | U_HNV,
	[']'] = U_PARAM | U_HNV,
	/* '@' must be escaped in an hvalue, but the Replaces header in a
	 * Refer-To URI often carries a raw one; let it through there. */
	['@'] = U_RES | U_AT,
	/* '#' must be escaped in a user part, but phones send "*97#" as is;
	 * accepting it costs nothing and breaks no parse. */
	['#'] = U_USER | U_TEL,
};

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

static inline bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool mem_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static bool pl_caseeq_str(struct sip_pl a, const char *s)
{
	size_t n = strlen(s);
	return a.l == n && mem_caseeq(a.p, s, n);
}

/* Every byte of [p, e) is in @p mask or a valid escape. */
static bool chars_ok(const char *p, const char *e, unsigned mask)
{
	for (; p < e; p++) {
		if (*p == '%') {
			if (e - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
				return false;
			p += 2;
		} else if (!(ucls[(uint8_t)*p] & (mask | U_UNRES))) {
			return false;
		}
	}
	return true;
}

int sip_uri_host_check(struct sip_pl host, bool ipv6)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	const char *dot;
	size_t i;

	if (!host.l)
		return EINVAL;
	if (ipv6) {
		if (host.l >= sizeof(tmp))
			return EINVAL;
		memcpy(tmp, host.p, host.l);
		tmp[host.l] = '\0';
		unsigned char a[16];
		return inet_pton(AF_INET6, tmp, a) == 1 ? 0 : EINVAL;
	}
	if (host.p[0] == '-' || host.p[0] == '.')
		return EINVAL;
	for (i = 0; i < host.l; i++)
		if (!(ucls[(uint8_t)host.p[i]] & U_HOST))
			return EINVAL;
	/* A top label starting with a digit makes it an IPv4 address, which
	 * must then be a valid one ("192.0.2.300" is neither). */
	dot = memrchr(host.p, '.', host.l - (host.p[host.l - 1] == '.'));
	dot = dot ? dot + 1 : host.p;
	if (*dot >= '0' && *dot <= '9') {
		unsigned char a[4];
		if (host.l > 15)
			return EINVAL;
		memcpy(tmp, host.p, host.l);
		tmp[host.l] = '\0';
		return inet_pton(AF_INET, tmp, a) == 1 ? 0 : EINVAL;
	}
	return 0;
}

/* ";name[=value]" pieces of a URI parameter list; flags get val.p == NULL. */
static int uparam_next(struct sip_pl *params, struct sip_pl *name, struct sip_pl *val)
{
	const char *p = params->p, *e = pl_end(*params), *s, *eq;
	/* A trailing ';' yields one empty name, which params_ok() refuses. */
	if (p == e)
		return ENOENT;
	if (*p == ';')
		p++;
	s = p;
	while (p < e && *p != ';')
		p++;
	eq = memchr(s, '=', (size_t)(p - s));
	if (eq) {
		*name = (struct sip_pl){s, (size_t)(eq - s)};
		*val = (struct sip_pl){eq + 1, (size_t)(p - eq - 1)};
	} else {
		*name = (struct sip_pl){s, (size_t)(p - s)};
		*val = (struct sip_pl){NULL, 0};
	}
	*params = (struct sip_pl){p, (size_t)(e - p)};
	return 0;
}

/* Each parameter is 1*paramchar [ "=" 1*paramchar ]. */
static bool params_ok(struct sip_pl params, unsigned mask)
{
	struct sip_pl n, v;
	while (!uparam_next(&params, &n, &v)) {
		if (!n.l || !chars_ok(n.p, pl_end(n), mask))
			return false;
		if (v.p && (!v.l || !chars_ok(v.p, pl_end(v), mask)))
			return false;
	}
	return true;
}

/* hname "=" hvalue *( "&" hname "=" hvalue ) */
static bool headers_ok(const char *p, const char *e)
{
	for (;;) {
		const char *s = p, *eq;
		while (p < e && *p != '&')
			p++;
		eq = memchr(s, '=', (size_t)(p - s));
		if (!eq || eq == s || !chars_ok(s, eq, U_HNV) || !chars_ok(eq + 1, p, U_HNV | U_AT))
			return false;
		if (p == e)
			return true;
		p++;
	}
}

static int parse_tel(struct sip_uri *u, const char *p, const char *e)
{
	const char *s = p;
	bool digit = false;
	if (p < e && *p == '+')
		p++;
	for (; p < e && *p != ';'; p++) {
		if (!(ucls[(uint8_t)*p] & U_TEL))
			return EINVAL;
		digit |= (*p >= '0' && *p <= '9') || hexval(*p) >= 0 || *p == '*' || *p == '#';
	}
	if (!digit)
		return EINVAL;
	u->user = (struct sip_pl){s, (size_t)(p - s)};
	u->params = (struct sip_pl){p, (size_t)(e - p)};
	if (!params_ok(u->params, U_PARAM | U_USER))
		return EINVAL;
	return 0;
}

int sip_uri_parse(struct sip_uri *u, struct sip_pl pl)
{
	const char *p = pl.p, *e = pl_end(pl), *s, *at;
	struct sip_pl scheme;

	memset(u, 0, sizeof(*u));
	if (!pl.l || !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
		return EINVAL;
	s = p;
	while (p < e && (is_alnum(*p) || *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (p == e || *p != ':')
		return EINVAL;
	scheme = (struct sip_pl){s, (size_t)(p - s)};
	p++;
	if (pl_caseeq_str(scheme, "sip")) {
		u->scheme = SIP_URI_SIP;
	} else if (pl_caseeq_str(scheme, "sips")) {
		u->scheme = SIP_URI_SIPS;
	} else if (pl_caseeq_str(scheme, "tel")) {
		u->scheme = SIP_URI_TEL;
		return parse_tel(u, p, e);
	} else {
		if (p == e)
			return EINVAL;
		for (s = p; s < e; s++)
			if ((uint8_t)*s <= 0x20 || *s == 0x7f || *s == '<' || *s == '>' ||
			    *s == '"')
				return EINVAL;
		return EPROTONOSUPPORT;
	}

	/* userinfo "@": '@' is allowed nowhere else in a SIP URI, so the first
	 * one ends the userinfo. */
	at = memchr(p, '@', (size_t)(e - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *ue = colon ? colon : at;
		if (ue == p || !chars_ok(p, ue, U_USER))
			return EINVAL;
		u->user = (struct sip_pl){p, (size_t)(ue - p)};
		if (colon) {
			if (!chars_ok(colon + 1, at, U_PASS))
				return EINVAL;
			u->password = (struct sip_pl){colon + 1, (size_t)(at - colon - 1)};
		}
		p = at + 1;
	}

	if (p < e && *p == '[') {
		s = ++p;
		while (p < e && *p != ']')
			p++;
		if (p == e)
			return EINVAL;
		u->host = (struct sip_pl){s, (size_t)(p - s)};
		u->host_ipv6 = true;
		p++;
	} else {
		s = p;
		while (p < e && (ucls[(uint8_t)*p] & U_HOST))
			p++;
		u->host = (struct sip_pl){s, (size_t)(p - s)};
	}
	if (sip_uri_host_check(u->host, u->host_ipv6))
		return EINVAL;

	if (p < e && *p == ':') {
		uint32_t port = 0;
		s = ++p;
		while (p < e && *p >= '0' && *p <= '9' && p - s < 6)
			port = port * 10 + (uint32_t)(*p++ - '0');
		if (p == s || port > 65535 || (p < e && *p >= '0' && *p <= '9'))
			return EINVAL;
		u->has_port = true;
		u->port = (uint16_t)port;
	}

	if (p < e && *p == ';') {
		s = p;
		while (p < e && *p != '?')
			p++;
		u->params = (struct sip_pl){s, (size_t)(p - s)};
		if (!params_ok(u->params, U_PARAM))
			return EINVAL;
	}
	if (p < e && *p == '?') {
		u->headers = (struct sip_pl){p + 1, (size_t)(e - p - 1)};
		if (!headers_ok(p + 1, e))
			return EINVAL;
		p = e;
	}
	return p == e ? 0 : EINVAL;
}

int sip_uri_param(const struct sip_uri *u, const char *name, struct sip_pl *val)
{
	struct sip_pl params = u->params, n, v;
	while (!uparam_next(&params, &n, &v)) {
		if (pl_caseeq_str(n, name)) {
			*val = v;
			return 0;
		}
	}
	return ENOENT;
}

int sip_uri_unescape(struct sip_pl in, char *out, size_t size, size_t *outlen)
{
	size_t n = 0;
	if (!size)
		return ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < in.l; i++) {
		char c = in.p[i];
		if (c == '%') {
			int h, l;
			if (in.l - i < 3 || (h = hexval(in.p[i + 1])) < 0 ||
			    (l = hexval(in.p[i + 2])) < 0)
				return EINVAL;
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (n + 1 >= size) {
			out[0] = '\0';
			return ENOSPC;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	if (outlen)
		*outlen = n;
	return 0;
}

/* ---- comparison -------------------------------------------------------- */

/* Next character of an escaped string, decoded. A reserved character that
 * arrived escaped is tagged (bit 8), because RFC 3261 19.1.4 makes only
 * the escapes of unreserved characters equal to the characters. */
static int esc_next(const char **pp, const char *e)
{
	const char *p = *pp;
	int c = (uint8_t)*p++;
	if (c == '%' && e - p >= 2 && hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
		c = hexval(p[0]) << 4 | hexval(p[1]);
		p += 2;
		if (ucls[c] & U_RES)
			c |= 0x100;
	}
	*pp = p;
	return c;
}

static bool esc_eq(struct sip_pl a, struct sip_pl b, bool icase)
{
	const char *pa = a.p, *ea = pl_end(a), *pb = b.p, *eb = pl_end(b);
	while (pa < ea && pb < eb) {
		int ca = esc_next(&pa, ea), cb = esc_next(&pb, eb);
		if (icase && ca < 0x100 && cb < 0x100) {
			ca = (uint8_t)lower((char)ca);
			cb = (uint8_t)lower((char)cb);
		}
		if (ca != cb)
			return false;
	}
	return pa == ea && pb == eb;
}

static bool uparam_find(struct sip_pl params, struct sip_pl name, struct sip_pl *val)
{
	struct sip_pl n, v;
	while (!uparam_next(&params, &n, &v)) {
		if (esc_eq(n, name, true)) {
			*val = v;
			return true;
		}
	}
	return false;
}

static bool param_vals_eq(struct sip_pl a, struct sip_pl b)
{
	if (!a.p || !b.p)
		return !a.p && !b.p; /* a flag equals only a flag */
	return esc_eq(a, b, true);
}

static bool param_special(struct sip_pl n)
{
	static const char *const special[] = {"user", "ttl", "method", "maddr", "transport"};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (esc_eq(n, (struct sip_pl){special[i], strlen(special[i])}, true))
			return true;
	return false;
}

/* Parameters of @p a checked against @p b. With @p all, every parameter
 * must be in both (tel:); otherwise only the special ones must. A repeated
 * name counts by its first occurrence on both sides, as uparam_find() sees
 * it, so that every URI equals itself. Quadratic in the parameter count,
 * which is a handful. */
static bool params_match(struct sip_pl a, struct sip_pl b, bool all)
{
	struct sip_pl n, v, w, rest = a;
	while (!uparam_next(&rest, &n, &v)) {
		struct sip_pl before = {a.p, (size_t)(n.p - a.p)};
		if (uparam_find(before, n, &w))
			continue;
		if (uparam_find(b, n, &w)) {
			if (!param_vals_eq(v, w))
				return false;
		} else if (all || param_special(n)) {
			return false;
		}
	}
	return true;
}

static size_t hdr_count(struct sip_pl h)
{
	size_t n = h.l ? 1 : 0;
	for (size_t i = 0; i < h.l; i++)
		n += h.p[i] == '&';
	return n;
}

/* Every header of @p a is in @p b with the same value. Names ignore case;
 * values are compared exactly (after unescaping), which is right for the
 * headers people put in URIs (Subject, Replaces, Route). */
static bool headers_in(struct sip_pl a, struct sip_pl b)
{
	const char *p = a.p, *e = pl_end(a);
	while (p < e) {
		const char *s = p, *eq;
		bool found = false;
		while (p < e && *p != '&')
			p++;
		eq = memchr(s, '=', (size_t)(p - s));
		if (!eq)
			eq = p;
		struct sip_pl an = {s, (size_t)(eq - s)};
		struct sip_pl av = {eq < p ? eq + 1 : p, (size_t)(p - (eq < p ? eq + 1 : p))};
		const char *q = b.p, *qe = pl_end(b);
		while (q < qe && !found) {
			const char *t = q, *beq;
			while (q < qe && *q != '&')
				q++;
			beq = memchr(t, '=', (size_t)(q - t));
			if (!beq)
				beq = q;
			struct sip_pl bn = {t, (size_t)(beq - t)};
			struct sip_pl bv = {beq < q ? beq + 1 : q,
					    (size_t)(q - (beq < q ? beq + 1 : q))};
			found = esc_eq(an, bn, true) && esc_eq(av, bv, false);
			if (q < qe)
				q++;
		}
		if (!found)
			return false;
		if (p < e)
			p++;
	}
	return true;
}

/* tel: numbers without the visual separators of RFC 3966 5.1.1. */
static bool tel_eq(struct sip_pl a, struct sip_pl b)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < a.l && strchr("-.()", a.p[i]))
			i++;
		while (j < b.l && strchr("-.()", b.p[j]))
			j++;
		if (i == a.l || j == b.l)
			return i == a.l && j == b.l;
		if (lower(a.p[i]) != lower(b.p[j]))
			return false;
		i++;
		j++;
	}
}

int sip_uri_cmp(const struct sip_uri *a, const struct sip_uri *b)
{
	if (a->scheme != b->scheme)
		return 1;
	if (a->scheme == SIP_URI_TEL) {
		if (!tel_eq(a->user, b->user) || !params_match(a->params, b->params, true) ||
		    !params_match(b->params, a->params, true))
			return 1;
		return 0;
	}
	if (!esc_eq(a->user, b->user, false) || !esc_eq(a->password, b->password, false))
		return 1;
	if (a->host_ipv6 != b->host_ipv6)
		return 1;
	if (a->host_ipv6) {
		/* "[::1]" and "[0:0::1]" are the same address. */
		char ta[INET6_ADDRSTRLEN + 1], tb[INET6_ADDRSTRLEN + 1];
		unsigned char na[16], nb[16];
		if (a->host.l >= sizeof(ta) || b->host.l >= sizeof(tb))
			return 1;
		memcpy(ta, a->host.p, a->host.l);
		ta[a->host.l] = '\0';
		memcpy(tb, b->host.p, b->host.l);
		tb[b->host.l] = '\0';
		if (inet_pton(AF_INET6, ta, na) != 1 || inet_pton(AF_INET6, tb, nb) != 1 ||
		    memcmp(na, nb, 16))
			return 1;
	} else if (a->host.l != b->host.l || !mem_caseeq(a->host.p, b->host.p, a->host.l)) {
		return 1;
	}
	if (a->has_port != b->has_port || a->port != b->port)
		return 1;
	if (!params_match(a->params, b->params, false) ||
	    !params_match(b->params, a->params, false))
		return 1;
	if (hdr_count(a->headers) != hdr_count(b->headers) || !headers_in(a->headers, b->headers) ||
	    !headers_in(b->headers, a->headers))
		return 1;
	return 0;
}

int sip_uri_header(const struct sip_uri *u, const char *name, char *out, size_t size)
{
	struct sip_pl rest = u->headers;
	while (rest.l) {
		const char *amp = memchr(rest.p, '&', rest.l);
		struct sip_pl item = {rest.p, amp ? (size_t)(amp - rest.p) : rest.l};
		rest = amp ? (struct sip_pl){amp + 1, rest.l - item.l - 1} : (struct sip_pl){"", 0};
		const char *eq = memchr(item.p, '=', item.l);
		if (!eq || !pl_caseeq_str((struct sip_pl){item.p, (size_t)(eq - item.p)}, name))
			continue;
		size_t n;
		int err = sip_uri_unescape(
			(struct sip_pl){eq + 1, item.l - (size_t)(eq - item.p) - 1}, out, size, &n);
		if (err)
			return err;
		return strlen(out) == n ? 0 : EINVAL;
	}
	return ENOENT;
}
