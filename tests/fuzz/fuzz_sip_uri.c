/**
 * @file fuzz_sip_uri.c  libFuzzer target: URI parse, parameters, unescape, comparison
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The first byte splits the rest into two URIs; both are parsed from
 * exact-size heap copies and compared both ways. Comparison must be
 * reflexive and symmetric, and a parsed URI's slices must lie inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct sip_pl pl, const char *lo, size_t len)
{
	if (pl.l && (pl.p < lo || pl.p + pl.l > lo + len))
		abort();
}

static int one(struct sip_uri *u, const char *s, size_t len)
{
	static const char *const names[] = {"transport", "lr",     "user",          "maddr",
					    "ttl",       "method", "phone-context", ""};
	char tmp[512];
	struct sip_pl v;
	size_t n;
	int err = sip_uri_parse(u, (struct sip_pl){s, len});
	if (err)
		return err;
	inside(u->user, s, len);
	inside(u->password, s, len);
	inside(u->host, s, len);
	inside(u->params, s, len);
	inside(u->headers, s, len);
	if (u->scheme != SIP_URI_TEL && sip_uri_host_check(u->host, u->host_ipv6))
		abort(); /* the parser accepted a host its own check refuses */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!sip_uri_param(u, names[i], &v))
			inside(v, s, len);
	if (!sip_uri_unescape(u->user, tmp, sizeof(tmp), &n) && n > u->user.l)
		abort();
	sip_uri_unescape(u->password, tmp, sizeof(tmp), &n);
	sip_uri_unescape(u->headers, tmp, sizeof(tmp), &n);
	if (sip_uri_cmp(u, u))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_uri a, b;
	size_t split;
	char *x, *y;
	int ea, eb;
	if (!size)
		return 0;
	split = (size - 1) * data[0] / 255;
	x = malloc(split ? split : 1);
	y = malloc(size - 1 - split ? size - 1 - split : 1);
	if (!x || !y)
		abort();
	memcpy(x, data + 1, split);
	memcpy(y, data + 1 + split, size - 1 - split);
	ea = one(&a, x, split);
	eb = one(&b, y, size - 1 - split);
	if (!ea && !eb && sip_uri_cmp(&a, &b) != sip_uri_cmp(&b, &a))
		abort();
	/* The whole input as one URI, too. */
	{
		char *z = malloc(size - 1 ? size - 1 : 1);
		if (!z)
			abort();
		memcpy(z, data + 1, size - 1);
		one(&a, z, size - 1);
		free(z);
	}
	free(x);
	free(y);
	return 0;
}
