/**
 * @file sip_registrar.c  REGISTER handling (RFC 3261 10), location, qualify
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Bindings live in memory (a hash of AORs) and are written to SQLite in
 * batches: each REGISTER queues its change and a short timer commits the
 * queue in one transaction. A crash loses at most that interval of
 * refreshes, which phones repeat anyway; in exchange a burst of thousands
 * of REGISTERs costs a handful of commits instead of thousands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/devstate.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "sip_build.h"
#include "sip_registrar.h"
#include "sip_stack.h"
#include "sip_tsx.h"
#include "sip_uri.h"

#define AOR_BUCKETS 4096
#define FLUSH_MS    200

struct pending_op {
	bool del;
	struct pbx_binding b;
};

struct sip_registrar {
	struct sip_stack *s;
	struct sip_aor *buckets[AOR_BUCKETS];
	unsigned nbindings;
	struct pending_op *ops;
	size_t nops, capops;
	struct sip_timer flush;
	sip_binding_h *watch[SIP_REGISTRAR_WATCHERS];
};

int sip_registrar_watch(struct sip_registrar *r, sip_binding_h *fn)
{
	for (int i = 0; i < SIP_REGISTRAR_WATCHERS; i++)
		if (!r->watch[i]) {
			r->watch[i] = fn;
			return 0;
		}
	return ENOSPC;
}

void sip_registrar_unwatch(struct sip_registrar *r, sip_binding_h *fn)
{
	for (int i = 0; i < SIP_REGISTRAR_WATCHERS; i++)
		if (r->watch[i] == fn)
			r->watch[i] = NULL;
}

static unsigned hash_ext(const char *ext)
{
	unsigned h = 2166136261u; /* FNV-1a */
	for (; *ext; ext++)
		h = (h ^ (unsigned char)*ext) * 16777619u;
	return h % AOR_BUCKETS;
}

const char *sip_contact_status_name(enum sip_contact_status st)
{
	return st == SIP_CONTACT_OK            ? "OK"
	       : st == SIP_CONTACT_UNREACHABLE ? "UNREACHABLE"
					       : "unknown";
}

static struct sip_aor *aor_find(struct sip_registrar *r, const char *ext, bool create)
{
	unsigned h = hash_ext(ext);
	for (struct sip_aor *a = r->buckets[h]; a; a = a->hnext)
		if (!strcmp(a->ext, ext))
			return a;
	if (!create)
		return NULL;
	struct sip_aor *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	snprintf(a->ext, sizeof a->ext, "%s", ext);
	a->hnext = r->buckets[h];
	r->buckets[h] = a;
	return a;
}

static void aor_drop_if_empty(struct sip_registrar *r, struct sip_aor *a)
{
	if (a->bindings)
		return;
	for (struct sip_aor **pp = &r->buckets[hash_ext(a->ext)]; *pp; pp = &(*pp)->hnext)
		if (*pp == a) {
			*pp = a->hnext;
			break;
		}
	free(a);
}

const struct sip_aor *sip_registrar_find(struct sip_registrar *r, const char *ext)
{
	return aor_find(r, ext, false);
}

void sip_registrar_each(struct sip_registrar *r, sip_aor_each_h *fn, void *arg)
{
	for (unsigned i = 0; i < AOR_BUCKETS; i++)
		for (struct sip_aor *a = r->buckets[i]; a; a = a->hnext)
			if (fn(a, arg))
				return;
}

unsigned sip_registrar_count(struct sip_registrar *r)
{
	return r->nbindings;
}

/* ---- persistence ---------------------------------------------------------------- */

static void flush_now(struct sip_registrar *r)
{
	struct pbx_dir *d = pbx_dir();
	if (!r->nops)
		return;
	pbx_dir_begin(d);
	for (size_t i = 0; i < r->nops; i++) {
		const struct pbx_binding *b = &r->ops[i].b;
		int err = r->ops[i].del ? pbx_binding_del(d, b->ext, b->contact)
					: pbx_binding_save(d, b);
		if (err)
			pbx_warning("sip: could not persist binding %s -> %s (%s)", b->ext,
				    b->contact, strerror(err));
	}
	pbx_dir_commit(d);
	r->nops = 0;
	/* A registration storm grows the queue to thousands of slots (1.4 KiB
	 * each); give that back once it is written, keep the everyday size. */
	if (r->capops > 256) {
		free(r->ops);
		r->ops = NULL;
		r->capops = 0;
	}
}

static void flush_fire(struct sip_timer *t, void *arg)
{
	flush_now(arg);
}

/* A free slot in the write queue (the flush timer armed), or NULL when out of memory. */
static struct pending_op *queue_slot(struct sip_registrar *r, bool del)
{
	if (r->nops == r->capops) {
		size_t cap = r->capops ? r->capops * 2 : 64;
		struct pending_op *ops = realloc(r->ops, cap * sizeof *ops);
		if (!ops)
			return NULL;
		r->ops = ops;
		r->capops = cap;
	}
	struct pending_op *op = &r->ops[r->nops++];
	memset(op, 0, sizeof *op);
	op->del = del;
	if (!sip_timer_running(&r->flush))
		sip_timer_start(&r->s->timers, &r->flush, FLUSH_MS, flush_fire, r);
	return op;
}

static void queue_del(struct sip_registrar *r, const char *ext, const char *contact)
{
	struct pending_op *op = queue_slot(r, true);
	if (!op) {
		pbx_warning("sip: out of memory; stale binding of %s stays in the database", ext);
		return;
	}
	snprintf(op->b.ext, sizeof op->b.ext, "%s", ext);
	snprintf(op->b.contact, sizeof op->b.contact, "%s", contact);
}

static void queue_op(struct sip_registrar *r, const struct sip_binding *b, bool del)
{
	if (del) {
		queue_del(r, b->aor->ext, b->contact);
		return;
	}
	struct pending_op *op = queue_slot(r, false);
	if (!op) {
		pbx_warning("sip: out of memory; binding of %s not persisted", b->aor->ext);
		return;
	}
	snprintf(op->b.ext, sizeof op->b.ext, "%s", b->aor->ext);
	snprintf(op->b.contact, sizeof op->b.contact, "%s", b->contact);
	sip_peer_str(&b->src, op->b.source, sizeof op->b.source);
	snprintf(op->b.call_id, sizeof op->b.call_id, "%s", b->call_id);
	op->b.cseq = b->cseq;
	op->b.expires = b->expires;
	op->b.registered = b->registered;
	snprintf(op->b.user_agent, sizeof op->b.user_agent, "%s", b->user_agent);
	snprintf(op->b.instance, sizeof op->b.instance, "%s", b->instance);
}

/* ---- bindings --------------------------------------------------------------------- */

int sip_binding_request(struct sip_stack *s, const struct sip_binding *b, const char *method,
			const char *from, const char *to, const char *extra, const char *body_type,
			const void *body, size_t len,
			void (*cb)(void *arg, const struct sip_msg *resp, uint16_t code), void *arg,
			struct sip_ctsx **tp)
{
	char branch[SIP_TSX_BRANCH_SIZE], callid[33], tag[17], local[80];
	struct sip_ctsx *t;
	struct pbx_buf req;
	int err = sip_transport_local(s->tp, &b->src, local, sizeof local);
	if (err)
		return err;
	sip_tsx_branch(branch, sizeof branch);
	sip_random_token(callid, sizeof callid);
	sip_random_token(tag, sizeof tag);
	struct sip_req_spec spec = {
		.method = method,
		.ruri = b->contact,
		.tp = b->src.tp,
		.local = local,
		.branch = branch,
		.from = from,
		.from_tag = tag,
		.to = to,
		.call_id = callid,
		.cseq = 1,
		.extra = extra,
		.body_type = body_type,
		.body = body,
		.body_len = len,
	};
	pbx_buf_init(&req);
	err = sip_build_request(&req, &spec);
	if (!err)
		err = sip_ctsx_alloc(tp ? tp : &t, s->tsx, req.data, req.len, &b->src, cb, arg);
	pbx_buf_free(&req);
	return err;
}

/* The core's device state counts a user's contacts: none is UNAVAILABLE. */
static void contacts_changed(const struct sip_aor *a)
{
	char dev[48];
	snprintf(dev, sizeof dev, "SIP/%s", a->ext);
	pbx_devstate_contacts(dev, a->n);
}

static void binding_free(struct sip_registrar *r, struct sip_binding *b, bool persist)
{
	struct sip_aor *a = b->aor;
	for (struct sip_binding **pp = &a->bindings; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	a->n--;
	r->nbindings--;
	contacts_changed(a);
	if (persist)
		queue_op(r, b, true);
	sip_timer_cancel(&r->s->timers, &b->expiry);
	sip_timer_cancel(&r->s->timers, &b->qualify);
	if (b->qualify_tsx)
		sip_ctsx_abandon(b->qualify_tsx);
	if (b->src.conn)
		sip_transport_conn_hold(r->s->tp, b->src.conn, false);
	free(b);
	/* The AOR stays, even empty: callers drop it when they are done with it. */
}

static void expiry_fire(struct sip_timer *t, void *arg)
{
	struct sip_binding *b = arg;
	struct sip_registrar *r = sip_stack_get()->reg;
	struct sip_aor *a = b->aor;
	pbx_info("sip: %s contact %s expired", a->ext, b->contact);
	binding_free(r, b, true);
	aor_drop_if_empty(r, a);
}

static void qualify_start(struct sip_registrar *r, struct sip_binding *b, uint64_t delay_ms);

static void qualify_response(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct sip_binding *b = arg;
	struct sip_registrar *r = sip_stack_get()->reg;
	enum sip_contact_status old = b->status;
	if (code < 200)
		return;
	b->qualify_tsx = NULL;
	/* Any final response proves the phone is there, even 404 or 405. */
	if (resp) {
		b->status = SIP_CONTACT_OK;
		b->rtt_ms = (int)(uv_now(r->s->loop) - b->qualify_sent);
	} else {
		b->status = SIP_CONTACT_UNREACHABLE;
		b->rtt_ms = -1;
	}
	if (old != b->status)
		pbx_notice("sip: %s contact %s is %s", b->aor->ext, b->contact,
			   sip_contact_status_name(b->status));
	qualify_start(r, b, (uint64_t)r->s->cfg->qualify_interval * 1000);
}

static void qualify_fire(struct sip_timer *t, void *arg)
{
	struct sip_binding *b = arg;
	struct sip_stack *s = sip_stack_get();
	char from[200];
	if (b->qualify_tsx)
		return;
	snprintf(from, sizeof from, "sip:pbx@%s", s->cfg->domain);
	b->qualify_sent = uv_now(s->loop);
	if (sip_binding_request(s, b, "OPTIONS", from, b->contact, NULL, NULL, NULL, 0,
				qualify_response, b, &b->qualify_tsx))
		b->qualify_tsx = NULL;
	if (!b->qualify_tsx)
		qualify_start(sip_stack_get()->reg, b, (uint64_t)s->cfg->qualify_interval * 1000);
}

static void qualify_start(struct sip_registrar *r, struct sip_binding *b, uint64_t delay_ms)
{
	if (r->s->cfg->qualify_interval > 0)
		sip_timer_start(&r->s->timers, &b->qualify, delay_ms, qualify_fire, b);
}

static struct sip_binding *binding_find(struct sip_aor *a, const char *contact)
{
	/* Linear: an AOR has at most sip.max_contacts bindings. */
	for (struct sip_binding *b = a->bindings; b; b = b->next)
		if (!strcmp(b->contact, contact))
			return b;
	return NULL;
}

static struct sip_binding *binding_add(struct sip_registrar *r, struct sip_aor *a,
				       const char *contact)
{
	struct sip_binding *b = calloc(1, sizeof *b), **pp = &a->bindings;
	if (!b)
		return NULL;
	b->aor = a;
	b->rtt_ms = -1;
	snprintf(b->contact, sizeof b->contact, "%s", contact);
	while (*pp)
		pp = &(*pp)->next;
	*pp = b;
	a->n++;
	r->nbindings++;
	contacts_changed(a);
	return b;
}

static void binding_set_expiry(struct sip_registrar *r, struct sip_binding *b, int64_t now)
{
	int64_t left = b->expires - now;
	sip_timer_start(&r->s->timers, &b->expiry, (uint64_t)(left > 0 ? left : 0) * 1000,
			expiry_fire, b);
}

void sip_registrar_forget(struct sip_registrar *r, const char *ext)
{
	struct sip_aor *a = aor_find(r, ext, false);
	if (!a)
		return;
	while (a->bindings)
		binding_free(r, a->bindings, true);
	aor_drop_if_empty(r, a);
}

/* ---- REGISTER ---------------------------------------------------------------------- */

struct contact_req {
	struct sip_pl uri;
	uint32_t expires;
	struct sip_pl instance;
};

#define MAX_CONTACTS_PER_REQ 16

static void reply_ok(struct sip_registrar *r, struct sip_stsx *t, const struct sip_msg *m,
		     const struct sip_peer *src, struct sip_aor *a, int64_t now)
{
	char extra[MAX_CONTACTS_PER_REQ * 600 + 64];
	size_t o = 0;
	for (struct sip_binding *b = a ? a->bindings : NULL; b && o < sizeof extra - 600;
	     b = b->next)
		o += (size_t)snprintf(extra + o, sizeof extra - o, "Contact: <%s>;expires=%lld\r\n",
				      b->contact, (long long)(b->expires - now));
	extra[o] = '\0';
	sip_stack_reply(r->s, t, m, src, 200, NULL, extra, NULL, NULL);
	/* Stateless over UDP, as Kamailio's registrar: kept for Timer J (32 s),
	 * the 200 of every registration was most of the memory of a
	 * registration storm. A retransmission is simply registered again: the
	 * same binding, CSeq equal (allowed below), credentials accepted as a
	 * retransmission (sip_auth_verify_retransmittable). */
	sip_stack_forget(t, src);
}

static void handle_register(struct sip_stack *s, const struct sip_msg *m,
			    const struct sip_peer *src, struct sip_stsx *t)
{
	struct sip_registrar *r = s->reg;
	const struct sip_config *cfg = s->cfg;
	struct pbx_user u;
	char to_user[PBX_EXT_MAX + 1];
	struct contact_req cs[MAX_CONTACTS_PER_REQ];
	int ncs = 0;
	bool star = false;
	uint32_t hdr_expires = 0;
	bool has_expires = !sip_msg_expires(m, &hdr_expires);
	int64_t now = sip_stack_now_s();

	if (sip_stack_authenticate(s, m, src, t, &u))
		return;
	if (sip_msg_to_user(m, to_user, sizeof to_user)) {
		sip_stack_reply(s, t, m, src, 400, "Bad To header", NULL, NULL, NULL);
		return;
	}
	/* Digest users register only their own extension. */
	if (strcmp(to_user, u.ext)) {
		sip_stack_reply(s, t, m, src, 403, "Forbidden (To does not match the user)", NULL,
				NULL, NULL);
		return;
	}

	/* Collect and check every Contact before changing anything. */
	struct sip_value_iter it;
	struct sip_pl val;
	sip_value_iter_init(&it, m, SIP_HDR_CONTACT);
	while (!sip_value_iter_next(&it, &val)) {
		struct sip_addr addr;
		struct sip_pl ev;
		if (val.l == 1 && val.p[0] == '*') {
			star = true;
			continue;
		}
		if (ncs == MAX_CONTACTS_PER_REQ) {
			sip_stack_reply(s, t, m, src, 400, "Too many Contacts", NULL, NULL, NULL);
			return;
		}
		struct sip_uri cu;
		if (sip_addr_parse(&addr, val) || sip_uri_parse(&cu, addr.uri) ||
		    addr.uri.l >= sizeof(((struct sip_binding *)0)->contact)) {
			sip_stack_reply(s, t, m, src, 400, "Bad Contact", NULL, NULL, NULL);
			return;
		}
		struct contact_req *c = &cs[ncs++];
		c->uri = addr.uri;
		c->expires = has_expires ? hdr_expires : (uint32_t)cfg->default_expires;
		if (!sip_param_get(addr.params, "expires", &ev) && sip_pl_u32(ev, &c->expires)) {
			sip_stack_reply(s, t, m, src, 400, "Bad Contact expires", NULL, NULL, NULL);
			return;
		}
		c->instance = (struct sip_pl){0};
		sip_param_get(addr.params, "+sip.instance", &c->instance);
		if (c->expires && c->expires < (uint32_t)cfg->min_expires) {
			char mx[64];
			snprintf(mx, sizeof mx, "Min-Expires: %d\r\n", cfg->min_expires);
			sip_stack_reply(s, t, m, src, 423, NULL, mx, NULL, NULL);
			return;
		}
		if (c->expires > (uint32_t)cfg->max_expires)
			c->expires = (uint32_t)cfg->max_expires;
	}
	struct sip_pl callid;
	uint32_t cseq = m->cseq_num;
	sip_msg_callid(m, &callid);
	struct sip_aor *a;

	if (star) {
		/* RFC 3261 10.3 step 6: "*" only alone and only with Expires: 0. */
		if (ncs || !has_expires || hdr_expires != 0) {
			sip_stack_reply(s, t, m, src, 400,
					"Contact * needs Expires: 0 and no other Contact", NULL,
					NULL, NULL);
			return;
		}
		sip_registrar_forget(r, u.ext);
		pbx_info("sip: %s unregistered every contact", u.ext);
		reply_ok(r, t, m, src, NULL, now);
		return;
	}
	char ua[128] = "";
	const struct sip_hdr *uah = sip_msg_hdr_first(m, SIP_HDR_USER_AGENT);
	if (uah)
		snprintf(ua, sizeof ua, "%.*s", (int)uah->value.l, uah->value.p);
	for (int i = 0; i < ncs; i++) {
		char uri[512];
		snprintf(uri, sizeof uri, "%.*s", (int)cs[i].uri.l, cs[i].uri.p);
		/* The AOR goes away with its last binding; make sure we hold one. */
		if (!(a = aor_find(r, u.ext, true))) {
			sip_stack_reply(s, t, m, src, 500, "Out of memory", NULL, NULL, NULL);
			return;
		}
		struct sip_binding *b = binding_find(a, uri);
		/* Equal CSeq: a retransmission (the 200 is stateless), done again. */
		if (b && callid.l == strlen(b->call_id) &&
		    !memcmp(callid.p, b->call_id, callid.l) && cseq < b->cseq) {
			sip_stack_reply(s, t, m, src, 500, "Out of order CSeq",
					"Retry-After: 1\r\n", NULL, NULL);
			aor_drop_if_empty(r, a);
			return;
		}
		if (cs[i].expires == 0) {
			if (b) {
				pbx_info("sip: %s unregistered %s", u.ext, uri);
				binding_free(r, b, true);
			}
			aor_drop_if_empty(r, a);
			continue;
		}
		bool fresh = !b;
		if (fresh) {
			/* Full: the oldest binding makes room (it is first in the list). */
			while (a->n >= (unsigned)cfg->max_contacts) {
				pbx_info("sip: %s has %u contacts; replacing the oldest %s", u.ext,
					 a->n, a->bindings->contact);
				binding_free(r, a->bindings, true);
			}
			if (!(b = binding_add(r, a, uri))) {
				sip_stack_reply(s, t, m, src, 500, "Out of memory", NULL, NULL,
						NULL);
				return;
			}
		}
		if (b->src.conn && b->src.conn != src->conn)
			sip_transport_conn_hold(s->tp, b->src.conn, false);
		if (src->conn && b->src.conn != src->conn)
			sip_transport_conn_hold(s->tp, src->conn, true);
		b->src = *src;
		snprintf(b->call_id, sizeof b->call_id, "%.*s", (int)callid.l, callid.p);
		b->cseq = cseq;
		b->expires = now + cs[i].expires;
		b->registered = now;
		snprintf(b->user_agent, sizeof b->user_agent, "%s", ua);
		snprintf(b->instance, sizeof b->instance, "%.*s", (int)cs[i].instance.l,
			 cs[i].instance.p);
		binding_set_expiry(r, b, now);
		queue_op(r, b, false);
		if (fresh) {
			char a2[96];
			pbx_notice("sip: %s registered %s from %s", u.ext, uri,
				   sip_peer_str(src, a2, sizeof a2));
			/* Spread first pings over a few seconds, not all at once. */
			qualify_start(r, b, 1000 + (uint64_t)(rand() % 4000));
		}
	}
	a = aor_find(r, u.ext, false);
	reply_ok(r, t, m, src, a, now);
	/* After the 200: a phone may ignore a request about a registration
	 * it does not know it has yet. */
	for (int i = 0; a && i < ncs; i++) {
		char uri[512];
		snprintf(uri, sizeof uri, "%.*s", (int)cs[i].uri.l, cs[i].uri.p);
		const struct sip_binding *b = cs[i].expires ? binding_find(a, uri) : NULL;
		for (int k = 0; b && k < SIP_REGISTRAR_WATCHERS; k++)
			if (r->watch[k])
				r->watch[k](s, &u, b);
	}
}

/* ---- load / free ------------------------------------------------------------------- */

static int restore_one(const struct pbx_binding *pb, void *arg)
{
	struct sip_registrar *r = arg;
	int64_t now = sip_stack_now_s();
	struct pbx_listen src;
	const char *why;
	struct sip_aor *a;
	struct sip_binding *b;
	if (pb->expires <= now || pbx_listen_parse(pb->source, &src, &why)) {
		queue_del(r, pb->ext, pb->contact); /* expired while we were down, or unreadable */
		return 0;
	}
	if (!(a = aor_find(r, pb->ext, true)) || !(b = binding_add(r, a, pb->contact))) {
		if (a)
			aor_drop_if_empty(r, a);
		pbx_warning("sip: out of memory restoring the binding of %s", pb->ext);
		return 0; /* the row stays: the next start may restore it */
	}
	b->src.tp = src.tp;
	b->src.addr = src.addr;
	snprintf(b->call_id, sizeof b->call_id, "%s", pb->call_id);
	b->cseq = pb->cseq;
	b->expires = pb->expires;
	b->registered = pb->registered;
	snprintf(b->user_agent, sizeof b->user_agent, "%s", pb->user_agent);
	snprintf(b->instance, sizeof b->instance, "%s", pb->instance);
	binding_set_expiry(r, b, now);
	qualify_start(r, b, 1000 + (uint64_t)(rand() % 4000));
	return 0;
}

int sip_registrar_alloc(struct sip_registrar **rp, struct sip_stack *s)
{
	struct sip_registrar *r = calloc(1, sizeof *r);
	if (!r)
		return ENOMEM;
	r->s = s;
	s->reg = r; /* restore_one and timers reach it through the stack */
	pbx_binding_each(pbx_dir(), restore_one, r);
	if (r->nbindings)
		pbx_notice("sip: %u registration(s) restored from the database", r->nbindings);
	sip_stack_set_handler(s, SIP_METHOD_REGISTER, handle_register);
	*rp = r;
	return 0;
}

void sip_registrar_free(struct sip_registrar *r)
{
	if (!r)
		return;
	/* Bindings stay in the database: a restart keeps registrations. */
	for (unsigned i = 0; i < AOR_BUCKETS; i++)
		while (r->buckets[i]) {
			struct sip_aor *a = r->buckets[i];
			while (a->bindings)
				binding_free(r, a->bindings, false);
			aor_drop_if_empty(r, a);
		}
	flush_now(r);
	sip_timer_cancel(&r->s->timers, &r->flush);
	free(r->ops);
	free(r);
}
