/**
 * @file sip_uri.h  sip:, sips: and tel: URIs (RFC 3261 19.1, RFC 3966): parse, compare
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The parser works on a slice and fills slices into it, like sip_msg.h: no
 * copy, no allocation, and nothing is unescaped until a caller asks.
 */
#ifndef SIP_URI_H
#define SIP_URI_H

#include <stdbool.h>
#include <stdint.h>

#include "sip_msg.h"

enum sip_uri_scheme {
	SIP_URI_SIP,
	SIP_URI_SIPS,
	SIP_URI_TEL,
};

struct sip_uri {
	enum sip_uri_scheme scheme;
	struct sip_pl user; /* escaped as received; tel: the subscriber number */
	struct sip_pl password;
	/* IPv6 references are given without their brackets, so the slice can be
	 * handed to inet_pton(); host_ipv6 says to put them back when printing.
	 * Empty for tel:. */
	struct sip_pl host;
	bool host_ipv6;
	bool has_port;
	uint16_t port;
	struct sip_pl params;  /* from the first ';' (included), may be empty */
	struct sip_pl headers; /* after '?' (excluded), may be empty */
};

/**
 * Parse a URI. Returns 0; EPROTONOSUPPORT for a well-formed absolute URI of
 * another scheme (answer 416); EINVAL when malformed.
 */
int sip_uri_parse(struct sip_uri *u, struct sip_pl pl);
/** A URI parameter (case-insensitive name). Returns 0, ENOENT or EINVAL. */
int sip_uri_param(const struct sip_uri *u, const char *name, struct sip_pl *val);
/**
 * Compare per RFC 3261 19.1.4: scheme must match; user and password are
 * case-sensitive, the rest case-insensitive; escapes of unreserved
 * characters equal the characters; a port, or a user, ttl, method, maddr or
 * transport parameter present in only one URI makes them differ; other
 * parameters matter only when in both; headers must match as a set. IPv6
 * hosts compare as addresses. tel: numbers compare without visual
 * separators (RFC 3966 4). Returns 0 when equivalent, 1 when not.
 */
int sip_uri_cmp(const struct sip_uri *a, const struct sip_uri *b);
/**
 * Check a host: a hostname or IPv4 address, or with @p ipv6 the inside of an
 * IPv6 reference (brackets removed). Shared with the Via parser. Returns 0
 * or EINVAL.
 */
int sip_uri_host_check(struct sip_pl host, bool ipv6);
/**
 * Percent-decode @p in into @p out as a C string; *outlen (may be NULL) gets
 * the decoded length, which may include a NUL from %00. Returns 0, EINVAL
 * on a bad escape, or ENOSPC.
 */
int sip_uri_unescape(struct sip_pl in, char *out, size_t size, size_t *outlen);
/**
 * The value of URI header @p name (any case; "?Replaces=...&...") into
 * @p out, unescaped as a C string. 0, ENOENT (none), EINVAL (a bad escape
 * or a NUL in it) or ENOSPC.
 */
int sip_uri_header(const struct sip_uri *u, const char *name, char *out, size_t size);

#endif
