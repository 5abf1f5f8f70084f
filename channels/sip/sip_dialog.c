/**
 * @file sip_dialog.c  SIP dialog state, the dialog table, in-dialog request building
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every string of a dialog is its own allocation: a dialog is made once
 * per call leg and changes rarely (a target refresh), so simplicity wins
 * over packing. The table chains dialogs by a keyed hash of the Call-ID;
 * only dialogs we accepted or started are in it (an INVITE is
 * authenticated before it makes one), so the key is there against chance
 * collisions of similar Call-IDs rather than against an attacker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sip_build.h"
#include "sip_dialog.h"
#include "sip_uri.h"

#define TABLE_MIN 64u /* buckets; power of two */

struct sip_dialog_table {
	struct sip_dialog **b;
	size_t mask; /* buckets - 1 */
	size_t n;
	uint64_t seed;
};

/* ---- small helpers --------------------------------------------------------- */

static int pl_dup(char **dst, struct sip_pl pl)
{
	char *p = malloc(pl.l + 1);
	if (!p)
		return ENOMEM;
	memcpy(p, pl.p, pl.l);
	p[pl.l] = '\0';
	free(*dst);
	*dst = p;
	return 0;
}

static int str_dup(char **dst, const char *s)
{
	return pl_dup(dst, sip_pl_str(s));
}

static int buf_take(char **dst, struct pbx_buf *b)
{
	if (!b->data)
		return ENOMEM;
	return pl_dup(dst, (struct sip_pl){b->data, b->len});
}

/* Append "name[=value]" of one parameter as received, quotes included. */
static void put_param(struct pbx_buf *b, struct sip_pl name, struct sip_pl val, const char *end)
{
	const char *e = val.p ? val.p + val.l : name.p + name.l;
	if (val.p && e < end && *e == '"')
		e++;
	pbx_buf_puts(b, ";");
	pbx_buf_append(b, name.p, (size_t)(e - name.p));
}

/*
 * A From/To value rewritten as a name-addr without its tag, to be written
 * again with the tag of our choosing. Always in <>: an addr-spec's URI
 * parameters would otherwise read as header parameters.
 */
static int addr_untagged(char **dst, struct sip_pl val)
{
	struct sip_addr a;
	struct sip_pl rest, name, pv;
	struct pbx_buf b;
	int err;
	if (sip_addr_parse(&a, val))
		return EINVAL;
	pbx_buf_init(&b);
	if (a.dname.l) {
		/* A quoted display name keeps its quoted-pairs, so it is still
		 * a valid quoted-string once the quotes are back. */
		if (a.dname_quoted)
			pbx_buf_printf(&b, "\"%.*s\" ", (int)a.dname.l, a.dname.p);
		else
			pbx_buf_printf(&b, "%.*s ", (int)a.dname.l, a.dname.p);
	}
	pbx_buf_printf(&b, "<%.*s>", (int)a.uri.l, a.uri.p);
	rest = a.params;
	const char *end = val.p + val.l;
	while (!sip_param_next(&rest, &name, &pv))
		if (sip_pl_casecmp_str(name, "tag"))
			put_param(&b, name, pv, end);
	err = buf_take(dst, &b);
	pbx_buf_free(&b);
	return err;
}

/* URI of the first Contact of @p m. */
static int contact_uri(const struct sip_msg *m, struct sip_pl *uri)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_CONTACT);
	struct sip_pl rest, item;
	struct sip_addr a;
	struct sip_uri u;
	if (!h)
		return ENOENT;
	rest = h->value;
	if (sip_pl_list_next(&rest, &item) || sip_addr_parse(&a, item) || sip_uri_parse(&u, a.uri))
		return EINVAL;
	*uri = a.uri;
	return 0;
}

static void routes_free(struct sip_dialog *d)
{
	for (unsigned i = 0; i < d->nroute; i++) {
		free(d->route[i]);
		d->route[i] = NULL;
	}
	d->nroute = 0;
}

/* The route set from Record-Route: as received (UAS) or reversed (UAC). */
static int routes_set(struct sip_dialog *d, const struct sip_msg *m, bool reverse)
{
	struct sip_value_iter it;
	struct sip_pl val;
	char *r[SIP_DIALOG_ROUTES_MAX] = {NULL};
	unsigned n = 0;
	int err = 0;

	sip_value_iter_init(&it, m, SIP_HDR_RECORD_ROUTE);
	while (!err && !sip_value_iter_next(&it, &val)) {
		struct sip_addr a;
		struct sip_uri u;
		/* rec-route is a name-addr: the <> are required (RFC 3261 25.1). */
		if (n == SIP_DIALOG_ROUTES_MAX || sip_addr_parse(&a, val) || !a.angle ||
		    sip_uri_parse(&u, a.uri))
			err = EINVAL;
		else
			err = pl_dup(&r[n++], val);
	}
	if (err) {
		for (unsigned i = 0; i < n; i++)
			free(r[i]);
		return err;
	}
	routes_free(d);
	for (unsigned i = 0; i < n; i++)
		d->route[i] = r[reverse ? n - 1 - i : i];
	d->nroute = n;
	return 0;
}

/* URI inside a route's name-addr. */
static struct sip_pl route_uri(const char *route)
{
	struct sip_addr a;
	if (sip_addr_parse(&a, sip_pl_str(route)))
		return sip_pl_str(route);
	return a.uri;
}

static bool route_is_loose(const char *route)
{
	struct sip_uri u;
	struct sip_pl v;
	return !sip_uri_parse(&u, route_uri(route)) && !sip_uri_param(&u, "lr", &v);
}

/* ---- dialog state ------------------------------------------------------------ */

void sip_dialog_init(struct sip_dialog *d)
{
	memset(d, 0, sizeof *d);
}

void sip_dialog_reset(struct sip_dialog *d)
{
	sip_dialog_unlink(d);
	free(d->call_id);
	free(d->local_tag);
	free(d->remote_tag);
	free(d->local_uri);
	free(d->remote_uri);
	free(d->remote_target);
	routes_free(d);
	sip_dialog_init(d);
}

int sip_dialog_uas_init(struct sip_dialog *d, const struct sip_msg *req, const struct sip_peer *src,
			const char *local_tag)
{
	struct sip_addr from, to;
	struct sip_pl callid, target;
	struct sip_uri ruri;
	int err;

	if (d->table)
		return EINVAL;
	if (sip_msg_from(req, &from) || sip_msg_to(req, &to) || sip_msg_callid(req, &callid) ||
	    contact_uri(req, &target))
		return EINVAL;
	sip_dialog_reset(d);
	if ((err = pl_dup(&d->call_id, callid)) || (err = str_dup(&d->local_tag, local_tag)) ||
	    (err = pl_dup(&d->remote_tag, from.tag)) ||
	    (err = addr_untagged(&d->local_uri, sip_msg_hdr_first(req, SIP_HDR_TO)->value)) ||
	    (err = addr_untagged(&d->remote_uri, sip_msg_hdr_first(req, SIP_HDR_FROM)->value)) ||
	    (err = pl_dup(&d->remote_target, target)) || (err = routes_set(d, req, false))) {
		sip_dialog_reset(d);
		return err;
	}
	d->remote_cseq = req->cseq_num;
	d->remote_cseq_set = true;
	d->secure = src->tp == PBX_TP_TLS && !sip_uri_parse(&ruri, req->ruri) &&
		    ruri.scheme == SIP_URI_SIPS;
	d->peer = *src;
	return 0;
}

int sip_dialog_uac_init(struct sip_dialog *d, const char *call_id, const char *local_tag,
			const char *local_uri, const char *remote_uri, const char *target,
			uint32_t cseq, const struct sip_peer *peer)
{
	int err;
	if (d->table)
		return EINVAL;
	sip_dialog_reset(d);
	if ((err = str_dup(&d->call_id, call_id)) || (err = str_dup(&d->local_tag, local_tag)) ||
	    (err = str_dup(&d->remote_tag, "")) || (err = str_dup(&d->local_uri, local_uri)) ||
	    (err = str_dup(&d->remote_uri, remote_uri)) ||
	    (err = str_dup(&d->remote_target, target))) {
		sip_dialog_reset(d);
		return err;
	}
	d->uac = true;
	d->local_cseq = cseq;
	d->peer = *peer;
	return 0;
}

int sip_dialog_uac_response(struct sip_dialog *d, const struct sip_msg *resp)
{
	struct sip_addr to;
	struct sip_pl target;
	bool ok2xx = resp->status >= 200 && resp->status < 300;
	int err;

	if (resp->request || resp->status < 101 || resp->status > 299 || sip_msg_to(resp, &to) ||
	    !to.tag.l)
		return EINVAL;
	if (d->remote_tag && d->remote_tag[0]) {
		if (to.tag.l != strlen(d->remote_tag) || memcmp(to.tag.p, d->remote_tag, to.tag.l))
			return EEXIST;
	} else if ((err = pl_dup(&d->remote_tag, to.tag))) {
		return err;
	}
	/* RFC 3261 13.2.2.4: the route set and target of the 2xx are the
	 * dialog's; a provisional only shapes the early dialog. */
	if (d->confirmed && !ok2xx)
		return 0;
	if (!(err = contact_uri(resp, &target)))
		err = pl_dup(&d->remote_target, target);
	else if (err == ENOENT)
		err = 0; /* no Contact: keep the Request-URI we used */
	if (!err)
		err = routes_set(d, resp, true);
	if (!err && ok2xx)
		d->confirmed = true;
	return err;
}

int sip_dialog_from_2xx(struct sip_dialog *d, const struct sip_msg *resp,
			const struct sip_peer *peer)
{
	struct sip_addr from, to;
	struct sip_pl callid;
	int err;
	if (d->table || resp->request || resp->status < 200 || resp->status > 299 ||
	    sip_msg_from(resp, &from) || sip_msg_to(resp, &to) || sip_msg_callid(resp, &callid))
		return EINVAL;
	sip_dialog_reset(d);
	if ((err = pl_dup(&d->call_id, callid)) || (err = pl_dup(&d->local_tag, from.tag)) ||
	    (err = str_dup(&d->remote_tag, "")) ||
	    (err = addr_untagged(&d->local_uri, sip_msg_hdr_first(resp, SIP_HDR_FROM)->value)) ||
	    (err = addr_untagged(&d->remote_uri, sip_msg_hdr_first(resp, SIP_HDR_TO)->value)) ||
	    (err = str_dup(&d->remote_target, ""))) {
		sip_dialog_reset(d);
		return err;
	}
	d->uac = true;
	d->local_cseq = resp->cseq_num;
	d->peer = *peer;
	err = sip_dialog_uac_response(d, resp);
	if (!err && !d->remote_target[0])
		err = EINVAL; /* a 2xx without Contact leaves nowhere to send the BYE */
	if (err)
		sip_dialog_reset(d);
	return err;
}

int sip_dialog_request_check(struct sip_dialog *d, const struct sip_msg *req)
{
	if (req->method == SIP_METHOD_ACK || req->method == SIP_METHOD_CANCEL)
		return 0;
	if (d->remote_cseq_set && req->cseq_num < d->remote_cseq)
		return EPROTO;
	d->remote_cseq = req->cseq_num;
	d->remote_cseq_set = true;
	return 0;
}

int sip_dialog_target_refresh(struct sip_dialog *d, const struct sip_msg *m)
{
	struct sip_pl target;
	int err = contact_uri(m, &target);
	return err ? err : pl_dup(&d->remote_target, target);
}

int sip_dialog_routes_text(const struct sip_dialog *d, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < d->nroute; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? "\n" : "", d->route[i]);
		if (n < 0 || (size_t)n >= len - o) {
			buf[0] = '\0';
			return ENOSPC;
		}
		o += (size_t)n;
	}
	return 0;
}

int sip_dialog_restore(struct sip_dialog *d, const struct sip_dialog_saved *sv)
{
	int err;
	if (d->table || !sv->call_id[0] || !sv->local_tag[0] || !sv->remote_target[0])
		return EINVAL;
	sip_dialog_reset(d);
	if ((err = str_dup(&d->call_id, sv->call_id)) ||
	    (err = str_dup(&d->local_tag, sv->local_tag)) ||
	    (err = str_dup(&d->remote_tag, sv->remote_tag)) ||
	    (err = str_dup(&d->local_uri, sv->local_uri)) ||
	    (err = str_dup(&d->remote_uri, sv->remote_uri)) ||
	    (err = str_dup(&d->remote_target, sv->remote_target)))
		goto out;
	/* The routes were checked when the dialog was made; a line that no
	 * longer parses means the row was edited, and the dialog is refused. */
	for (const char *p = sv->routes; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		struct sip_addr a;
		struct sip_uri u;
		struct sip_pl val = {p, n};
		if (d->nroute == SIP_DIALOG_ROUTES_MAX || sip_addr_parse(&a, val) ||
		    sip_uri_parse(&u, a.uri)) {
			err = EINVAL;
			goto out;
		}
		if ((err = pl_dup(&d->route[d->nroute], val)))
			goto out;
		d->nroute++;
		p += n + (nl ? 1 : 0);
	}
	d->local_cseq = sv->local_cseq;
	d->remote_cseq = sv->remote_cseq;
	d->remote_cseq_set = true;
	d->uac = sv->uac;
	d->confirmed = true;
	d->peer = sv->peer;
	return 0;
out:
	sip_dialog_reset(d);
	return err;
}

/* ---- building requests --------------------------------------------------------- */

static const char *tp_name(enum pbx_transport tp)
{
	static const char *const names[] = {"UDP", "TCP", "TLS", "WS", "WSS"};
	return (unsigned)tp < sizeof names / sizeof *names ? names[tp] : "UDP";
}

int sip_dialog_build(struct pbx_buf *out, struct sip_dialog *d, const struct sip_dialog_req *r,
		     uint32_t *cseqp)
{
	if (!d->call_id || !r->method || !r->local || !r->branch)
		return EINVAL;
	bool ack = !strcmp(r->method, "ACK");
	uint32_t cseq = r->cseq;
	if (!cseq && !ack)
		cseq = ++d->local_cseq;
	if (!cseq)
		return EINVAL;

	/* RFC 3261 12.2.1.1: loose routing keeps the remote target as the
	 * Request-URI; a strict router wants to be the Request-URI itself and
	 * gets the remote target as the last Route. */
	bool strict = d->nroute && !route_is_loose(d->route[0]);
	struct sip_pl ruri = strict ? route_uri(d->route[0]) : sip_pl_str(d->remote_target);

	pbx_buf_reset(out);
	pbx_buf_printf(out,
		       "%s %.*s SIP/2.0\r\n"
		       "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		       "Max-Forwards: 70\r\n",
		       r->method, (int)ruri.l, ruri.p, tp_name(d->peer.tp), r->local, r->branch);
	for (unsigned i = strict ? 1 : 0; i < d->nroute; i++)
		pbx_buf_printf(out, "Route: %s\r\n", d->route[i]);
	if (strict)
		pbx_buf_printf(out, "Route: <%s>\r\n", d->remote_target);
	pbx_buf_printf(out, "From: %s;tag=%s\r\nTo: %s", d->local_uri, d->local_tag, d->remote_uri);
	if (d->remote_tag && d->remote_tag[0])
		pbx_buf_printf(out, ";tag=%s", d->remote_tag);
	pbx_buf_printf(out, "\r\nCall-ID: %s\r\nCSeq: %u %s\r\nUser-Agent: %s\r\n", d->call_id,
		       cseq, r->method, sip_build_server());
	if (r->contact)
		pbx_buf_printf(out, "Contact: <%s>\r\n", r->contact);
	if (r->extra)
		pbx_buf_puts(out, r->extra);
	if (r->body && r->body_type)
		pbx_buf_printf(out, "Content-Type: %s\r\n", r->body_type);
	size_t blen = !r->body ? 0 : r->body_len ? r->body_len : strlen(r->body);
	pbx_buf_printf(out, "Content-Length: %zu\r\n\r\n", blen);
	if (blen)
		pbx_buf_append(out, r->body, blen);
	if (!out->data)
		return ENOMEM;
	if (cseqp)
		*cseqp = cseq;
	return 0;
}

int sip_dialog_next_hop(const struct sip_dialog *d, char *buf, size_t len)
{
	struct sip_pl u;
	if (d->nroute)
		u = route_uri(d->route[0]);
	else if (d->remote_target && d->remote_target[0])
		u = sip_pl_str(d->remote_target);
	else
		return ENOENT;
	return sip_pl_strcpy(u, buf, len);
}

int sip_dialog_build_cancel(struct pbx_buf *out, const char *invite, size_t len, const char *extra)
{
	struct sip_msg m;
	struct sip_via v;
	struct sip_pl callid;
	const char *reason;
	const struct sip_hdr *from, *to, *h;
	int err = EINVAL;
	/* Parse a copy: the parser may rewrite folded lines in place. */
	char *copy = malloc(len + 1);
	if (!copy)
		return ENOMEM;
	memcpy(copy, invite, len);
	copy[len] = '\0';
	if (sip_msg_parse(&m, copy, len, &reason) || !m.request || m.method != SIP_METHOD_INVITE ||
	    sip_msg_via_top(&m, &v) || sip_msg_callid(&m, &callid) ||
	    !(from = sip_msg_hdr_first(&m, SIP_HDR_FROM)) ||
	    !(to = sip_msg_hdr_first(&m, SIP_HDR_TO)))
		goto out;
	pbx_buf_reset(out);
	pbx_buf_printf(out, "CANCEL %.*s SIP/2.0\r\nVia: %.*s\r\nMax-Forwards: 70\r\n",
		       (int)m.ruri.l, m.ruri.p, (int)v.value.l, v.value.p);
	for (h = sip_msg_hdr_first(&m, SIP_HDR_ROUTE); h; h = sip_msg_hdr_next(&m, h))
		pbx_buf_printf(out, "Route: %.*s\r\n", (int)h->value.l, h->value.p);
	pbx_buf_printf(out, "From: %.*s\r\nTo: %.*s\r\nCall-ID: %.*s\r\nCSeq: %u CANCEL\r\n",
		       (int)from->value.l, from->value.p, (int)to->value.l, to->value.p,
		       (int)callid.l, callid.p, m.cseq_num);
	if (extra)
		pbx_buf_puts(out, extra);
	pbx_buf_puts(out, "Content-Length: 0\r\n\r\n");
	err = out->data ? 0 : ENOMEM;
out:
	free(copy);
	return err;
}

/* ---- the table ------------------------------------------------------------------ */

/* FNV-1a, 64 bits, from a random basis. */
static uint64_t hash_pl(uint64_t seed, struct sip_pl pl)
{
	uint64_t h = seed;
	for (size_t i = 0; i < pl.l; i++)
		h = (h ^ (unsigned char)pl.p[i]) * 0x100000001b3ULL;
	return h;
}

int sip_dialog_table_alloc(struct sip_dialog_table **tp)
{
	struct sip_dialog_table *t = calloc(1, sizeof *t);
	if (!t)
		return ENOMEM;
	t->b = calloc(TABLE_MIN, sizeof *t->b);
	if (!t->b) {
		free(t);
		return ENOMEM;
	}
	t->mask = TABLE_MIN - 1;
	if (getrandom(&t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed)
		t->seed = 0xcbf29ce484222325ULL; /* the FNV basis: still works, only predictable */
	*tp = t;
	return 0;
}

void sip_dialog_table_free(struct sip_dialog_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		for (struct sip_dialog *d = t->b[i], *next; d; d = next) {
			next = d->hnext;
			d->hnext = NULL;
			d->table = NULL;
		}
	free(t->b);
	free(t);
}

/* Double the buckets; without memory the chains just grow longer. */
static void table_grow(struct sip_dialog_table *t)
{
	size_t nb = 2 * (t->mask + 1);
	struct sip_dialog **b = calloc(nb, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		for (struct sip_dialog *d = t->b[i], *next; d; d = next) {
			next = d->hnext;
			d->hnext = b[d->hash & (nb - 1)];
			b[d->hash & (nb - 1)] = d;
		}
	free(t->b);
	t->b = b;
	t->mask = nb - 1;
}

int sip_dialog_link(struct sip_dialog_table *t, struct sip_dialog *d)
{
	if (d->table || !d->call_id || !d->local_tag)
		return d->table ? EEXIST : EINVAL;
	if (t->n > t->mask)
		table_grow(t);
	d->hash = hash_pl(t->seed, sip_pl_str(d->call_id));
	d->hnext = t->b[d->hash & t->mask];
	t->b[d->hash & t->mask] = d;
	d->table = t;
	t->n++;
	return 0;
}

void sip_dialog_unlink(struct sip_dialog *d)
{
	struct sip_dialog_table *t = d->table;
	if (!t)
		return;
	/* Chains are short (load factor at most 1): a walk costs less than a
	 * back pointer in every dialog would save. */
	for (struct sip_dialog **pp = &t->b[d->hash & t->mask]; *pp; pp = &(*pp)->hnext)
		if (*pp == d) {
			*pp = d->hnext;
			break;
		}
	d->hnext = NULL;
	d->table = NULL;
	t->n--;
}

static bool str_is(const char *s, struct sip_pl pl)
{
	return s && strlen(s) == pl.l && !memcmp(s, pl.p, pl.l);
}

struct sip_dialog *sip_dialog_lookup(struct sip_dialog_table *t, struct sip_pl call_id,
				     struct sip_pl local_tag, struct sip_pl remote_tag)
{
	uint64_t h = hash_pl(t->seed, call_id);
	for (struct sip_dialog *d = t->b[h & t->mask]; d; d = d->hnext) {
		if (d->hash != h || !str_is(d->call_id, call_id) ||
		    !str_is(d->local_tag, local_tag))
			continue;
		/* Tags compare as tokens, byte for byte (RFC 3261 19.3). */
		if (!d->remote_tag[0] || str_is(d->remote_tag, remote_tag))
			return d;
	}
	return NULL;
}

struct sip_dialog *sip_dialog_find(struct sip_dialog_table *t, const struct sip_msg *req)
{
	struct sip_addr from, to;
	struct sip_pl callid;
	if (!req->request || sip_msg_from(req, &from) || sip_msg_to(req, &to) ||
	    sip_msg_callid(req, &callid) || !to.tag.l)
		return NULL;
	return sip_dialog_lookup(t, callid, to.tag, from.tag);
}

unsigned sip_dialog_count(const struct sip_dialog_table *t)
{
	return (unsigned)t->n;
}
