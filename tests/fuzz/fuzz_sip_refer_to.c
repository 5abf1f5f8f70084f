/**
 * @file fuzz_sip_refer_to.c  libFuzzer target: a REFER's Refer-To and Replaces, as a transfer reads them
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a Refer-To value: name-addr parsed, its URI parsed, the
 * URI's Replaces header unescaped and parsed as RFC 3891 says; the input
 * is also parsed as a Replaces header value itself (INVITE with Replaces).
 * Every slice must lie inside the text it came from, and a Replaces that
 * parses has a Call-ID and both tags.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_msg.h"
#include "../../channels/sip/sip_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct sip_pl pl, const char *lo, size_t len)
{
	if (pl.l && (pl.p < lo || pl.p + pl.l > lo + len))
		abort();
}

static void replaces(const char *s, size_t len)
{
	struct sip_replaces r;
	if (sip_replaces_parse(&r, (struct sip_pl){s, len}))
		return;
	if (!r.callid.l || !r.to_tag.l || !r.from_tag.l)
		abort();
	inside(r.callid, s, len);
	inside(r.to_tag, s, len);
	inside(r.from_tag, s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1); /* exact size: reading past the end is caught */
	struct sip_addr a;
	struct sip_uri u;
	char v[512];
	if (!s)
		return 0;
	memcpy(s, data, size);
	replaces(s, size);
	if (!sip_addr_parse(&a, (struct sip_pl){s, size})) {
		inside(a.uri, s, size);
		inside(a.dname, s, size);
		inside(a.params, s, size);
		if (!sip_uri_parse(&u, a.uri)) {
			inside(u.headers, a.uri.p, a.uri.l);
			int err = sip_uri_header(&u, "Replaces", v, sizeof v);
			if (!err) {
				size_t n = strlen(v);
				char *copy = malloc(n ? n : 1);
				if (copy) {
					memcpy(copy, v, n);
					replaces(copy, n);
					free(copy);
				}
			} else if (err != ENOENT && err != EINVAL && err != ENOSPC) {
				abort();
			}
		}
	}
	free(s);
	return 0;
}
