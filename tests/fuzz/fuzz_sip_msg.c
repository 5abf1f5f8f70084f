/**
 * @file fuzz_sip_msg.c  libFuzzer target: SIP stream framing, message parse, every accessor
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is framed as a stream, then parsed as one datagram from an
 * exact-size heap copy (so ASan sees a read one byte past the end). Every
 * accessor runs on the result, failed or not, and every value of every
 * header goes through each value parser, since a peer may put anything in
 * any header. Beyond "no crash", it checks what callers rely on: slices lie
 * inside the buffer, a parse is repeatable on its own output (unfolding is
 * idempotent), URI comparison is reflexive and symmetric.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_msg.h"
#include "../../channels/sip/sip_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lo, *hi; /* the parsed buffer */

static void in_buf(struct sip_pl pl)
{
	if (pl.l && (pl.p < lo || pl.p + pl.l > hi))
		abort();
}

static void uri_pair(struct sip_pl a, struct sip_pl b)
{
	struct sip_uri ua, ub;
	struct sip_pl v;
	char tmp[256];
	if (sip_uri_parse(&ua, a))
		return;
	in_buf(ua.user);
	in_buf(ua.password);
	in_buf(ua.host);
	in_buf(ua.params);
	in_buf(ua.headers);
	sip_uri_param(&ua, "transport", &v);
	sip_uri_param(&ua, "lr", &v);
	sip_uri_unescape(ua.user, tmp, sizeof(tmp), NULL);
	sip_uri_unescape(ua.headers, tmp, sizeof(tmp), NULL);
	if (sip_uri_cmp(&ua, &ua))
		abort();
	if (!sip_uri_parse(&ub, b) && sip_uri_cmp(&ua, &ub) != sip_uri_cmp(&ub, &ua))
		abort();
}

static void params(struct sip_pl pl)
{
	struct sip_pl n, v;
	int guard = 0;
	while (!sip_param_next(&pl, &n, &v)) {
		in_buf(n);
		in_buf(v);
		if (++guard > 100000)
			abort(); /* must always advance */
	}
	sip_param_get(pl, "tag", &v);
}

/* Run one header value through every value parser. */
static void value(struct sip_pl val, struct sip_pl ruri)
{
	struct sip_via via;
	struct sip_addr a;
	struct sip_pl rest = val, item, v;
	char tmp[128];
	uint32_t u;
	int guard = 0;

	in_buf(val);
	sip_pl_u32(val, &u);
	sip_pl_unquote(val, tmp, sizeof(tmp));
	sip_pl_trim(val);
	params(val);
	while (!sip_pl_list_next(&rest, &item)) {
		in_buf(item);
		if (++guard > 100000)
			abort();
		if (!sip_via_parse(&via, item)) {
			in_buf(via.host);
			in_buf(via.transport);
			in_buf(via.branch);
			sip_param_get(via.params, "branch", &v);
		}
		if (!sip_addr_parse(&a, item)) {
			in_buf(a.dname);
			in_buf(a.uri);
			in_buf(a.params);
			in_buf(a.tag);
			sip_pl_unquote(a.dname, tmp, sizeof(tmp));
			params(a.params);
			uri_pair(a.uri, ruri);
		}
	}
}

static void exercise(const struct sip_msg *m)
{
	struct sip_value_iter it;
	struct sip_via via;
	struct sip_addr a;
	struct sip_pl pl, v;
	uint32_t u;
	char name[128];

	in_buf(m->method_name);
	in_buf(m->ruri);
	in_buf(m->reason);
	in_buf(m->version);
	in_buf(m->body);
	if (m->nhdrs > SIP_MSG_MAX_HDRS)
		abort();
	sip_msg_can_reply(m);
	sip_msg_via_top(m, &via);
	sip_msg_from(m, &a);
	sip_msg_to(m, &a);
	sip_msg_cseq(m, &u, &pl);
	sip_msg_callid(m, &pl);
	sip_msg_max_forwards(m, &u);
	sip_msg_expires(m, &u);
	sip_msg_method_name(m->method);
	sip_msg_method_name(m->cseq_method);

	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdr[i], *f;
		in_buf(h->name);
		value(h->value, m->ruri);
		if (!sip_pl_strcpy(h->name, name, sizeof(name)) && strlen(name) == h->name.l) {
			f = sip_msg_hdr_find(m, name);
			if (!f)
				abort(); /* a header we split must be found by its name */
		}
		sip_msg_hdr_next(m, h);
	}
	for (int id = 0; id <= SIP_HDR__COUNT; id++) {
		unsigned n = 0;
		sip_hdr_name((enum sip_hdr_id)id);
		for (const struct sip_hdr *h = sip_msg_hdr_first(m, (enum sip_hdr_id)id); h;
		     h = sip_msg_hdr_next(m, h))
			if (++n > SIP_MSG_MAX_HDRS)
				abort();
		if (n != sip_msg_hdr_count(m, (enum sip_hdr_id)id))
			abort();
		sip_value_iter_init(&it, m, (enum sip_hdr_id)id);
		while (!sip_value_iter_next(&it, &v))
			in_buf(v);
	}
	/* The request URI against itself and against each Contact. */
	uri_pair(m->ruri, m->ruri);
	sip_value_iter_init(&it, m, SIP_HDR_CONTACT);
	while (!sip_value_iter_next(&it, &v))
		if (!sip_addr_parse(&a, v))
			uri_pair(a.uri, m->ruri);
}

static void frame(const uint8_t *data, size_t size)
{
	size_t off = 0, n;
	int err;
	/* A small max too, so the EMSGSIZE paths are reached. */
	size_t max = size && (data[0] & 1) ? 256 : SIP_MSG_MAX_SIZE;
	while (off < size) {
		err = sip_msg_frame((const char *)data + off, size - off, max, &n);
		if (err == EAGAIN) {
			if (n && (n <= size - off || n > max))
				abort(); /* a known length means "more than we have" */
			break;
		}
		if (err)
			break;
		if (!n || n > size - off || n > max)
			abort();
		sip_msg_is_ping((const char *)data + off, n);
		sip_msg_is_keepalive((const char *)data + off, n);
		off += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_msg m;
	const char *reason, *reason2;
	char *buf;
	int err, err2;
	unsigned nhdrs;

	frame(data, size);

	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	lo = buf;
	hi = buf + size;
	err = sip_msg_parse(&m, buf, size, &reason);
	if (err && !reason)
		abort();
	if (!err && (m.len > size || m.body.p + m.body.l > hi))
		abort();
	exercise(&m);

	/* Parsing the rewritten buffer again gives the same answer. */
	nhdrs = m.nhdrs;
	err2 = sip_msg_parse(&m, buf, size, &reason2);
	if (err2 != err || m.nhdrs != nhdrs || (err && strcmp(reason, reason2)))
		abort();
	free(buf);
	return 0;
}
