/**
 * @file sip_subscription.c  SUBSCRIBE/NOTIFY (RFC 6665), notifier side
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A subscription is a usage of its own dialog: the dialog lives in the
 * stack's table with usage "subscription", so a refresh or an unsubscribe
 * finds it the way a BYE finds its call. One subscription per dialog: a
 * SUBSCRIBE inside the dialog for another event is refused (489) rather
 * than made a second usage, which no phone we know asks for.
 *
 * NOTIFYs go one at a time per subscription: a change while one is out
 * marks the subscription and the next NOTIFY leaves when the first is
 * answered, built from the state of that moment. A phone thus never sees
 * an older state after a newer one, and a flood of changes costs one
 * NOTIFY per round trip, not one per change.
 *
 * Writes to the directory are batched as the registrar's are: a change
 * marks the subscription and a short timer writes every marked one in one
 * transaction. The local CSeq is saved with them, so NOTIFYs after a
 * restart continue the count a phone expects (RFC 3261 12.2.2).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/core.h"
#include "pbx/log.h"
#include "sip_build.h"
#include "sip_stack.h"
#include "sip_subscription.h"
#include "sip_transport.h"
#include "sip_tsx.h"
#include "sip_uri.h"

#define FLUSH_MS 200
#define TAG_LEN  17

struct dead_row {
	char *call_id, *local_tag;
};

struct sip_subs {
	struct sip_stack *s;
	bool persist;
	sip_subs_local_h *local;
	const struct sip_event_pkg *pkgs[SIP_EVENT_PKGS_MAX];
	unsigned npkgs;
	char allow_events[256];
	struct sip_sub *head, *tail; /* oldest first */
	unsigned n;
	struct dead_row *dead; /* rows to delete at the next flush */
	size_t ndead, capdead;
	struct sip_timer flush;
};

static const struct sip_dialog_usage sub_usage;

static int tp_local(struct sip_stack *s, const struct sip_peer *dst, char *buf, size_t len)
{
	return sip_transport_local(s->tp, dst, buf, len);
}

void sip__subs_set_local(struct sip_subs *ss, sip_subs_local_h *fn)
{
	ss->local = fn;
}

/* Timers started outside a stack callback need the loop timer re-armed;
 * a stack without a loop is a unit test's, run by hand. */
static void kick(struct sip_subs *ss)
{
	if (ss->s->loop)
		sip_stack_timers_kick(ss->s);
}

/* ---- persistence ------------------------------------------------------------------- */

static void row_of(const struct sip_sub *sub, struct pbx_subscription *r)
{
	const struct sip_dialog *d = &sub->dlg;
	memset(r, 0, sizeof *r);
	snprintf(r->user, sizeof r->user, "%s", sub->user);
	snprintf(r->event, sizeof r->event, "%s", sub->pkg->name);
	snprintf(r->event_id, sizeof r->event_id, "%s", sub->event_id);
	snprintf(r->resource, sizeof r->resource, "%s", sub->resource);
	snprintf(r->call_id, sizeof r->call_id, "%s", d->call_id);
	snprintf(r->local_tag, sizeof r->local_tag, "%s", d->local_tag);
	snprintf(r->remote_tag, sizeof r->remote_tag, "%s", d->remote_tag);
	snprintf(r->local_uri, sizeof r->local_uri, "%s", d->local_uri);
	snprintf(r->remote_uri, sizeof r->remote_uri, "%s", d->remote_uri);
	snprintf(r->remote_target, sizeof r->remote_target, "%s", d->remote_target);
	(void)sip_dialog_routes_text(d, r->routes, sizeof r->routes);
	sip_peer_str(&d->peer, r->source, sizeof r->source);
	r->local_cseq = d->local_cseq;
	r->remote_cseq = d->remote_cseq;
	r->expires = sub->expires;
}

static void flush_now(struct sip_subs *ss)
{
	struct pbx_dir *d = pbx_dir();
	struct pbx_subscription *row;
	bool any = ss->ndead > 0;
	for (struct sip_sub *sub = ss->head; sub && !any; sub = sub->next)
		any = sub->dirty;
	if (!any || !d)
		return;
	if (!(row = malloc(sizeof *row))) {
		pbx_warning("sip: out of memory; subscriptions not saved");
		return; /* still marked: the next flush tries again */
	}
	pbx_dir_begin(d);
	for (size_t i = 0; i < ss->ndead; i++) {
		(void)pbx_subscription_del(d, ss->dead[i].call_id, ss->dead[i].local_tag);
		free(ss->dead[i].call_id);
		free(ss->dead[i].local_tag);
	}
	ss->ndead = 0;
	for (struct sip_sub *sub = ss->head; sub; sub = sub->next) {
		if (!sub->dirty)
			continue;
		sub->dirty = false;
		row_of(sub, row);
		int err = pbx_subscription_save(d, row);
		if (err)
			pbx_warning("sip: could not save the subscription of %s (%s)", sub->user,
				    strerror(err));
	}
	pbx_dir_commit(d);
	free(row);
}

static void flush_fire(struct sip_timer *t, void *arg)
{
	flush_now(arg);
}

static void flush_soon(struct sip_subs *ss)
{
	if (!sip_timer_running(&ss->flush))
		(void)sip_timer_start(&ss->s->timers, &ss->flush, FLUSH_MS, flush_fire, ss);
}

static void mark_dirty(struct sip_sub *sub)
{
	if (!sub->ss->persist)
		return;
	sub->dirty = true;
	flush_soon(sub->ss);
}

static void forget_row(struct sip_sub *sub)
{
	struct sip_subs *ss = sub->ss;
	if (!ss->persist || !sub->dlg.call_id)
		return;
	if (ss->ndead == ss->capdead) {
		size_t cap = ss->capdead ? 2 * ss->capdead : 16;
		struct dead_row *p = realloc(ss->dead, cap * sizeof *p);
		if (!p) {
			pbx_warning("sip: out of memory; a stale subscription of %s stays saved",
				    sub->user);
			return; /* restored after a restart, it ends at its first NOTIFY */
		}
		ss->dead = p;
		ss->capdead = cap;
	}
	struct dead_row *r = &ss->dead[ss->ndead];
	r->call_id = strdup(sub->dlg.call_id);
	r->local_tag = strdup(sub->dlg.local_tag);
	if (!r->call_id || !r->local_tag) {
		free(r->call_id);
		free(r->local_tag);
		return;
	}
	ss->ndead++;
	flush_soon(ss);
}

/* ---- subscriptions ----------------------------------------------------------------- */

static struct sip_sub *sub_new(struct sip_subs *ss, const struct sip_event_pkg *pkg)
{
	struct sip_sub *sub = calloc(1, sizeof *sub);
	if (!sub)
		return NULL;
	sip_dialog_init(&sub->dlg);
	sub->ss = ss;
	sub->pkg = pkg;
	sub->prev = ss->tail;
	if (ss->tail)
		ss->tail->next = sub;
	else
		ss->head = sub;
	ss->tail = sub;
	ss->n++;
	return sub;
}

/* Tell the package that @p sub watches, or no longer does. */
static void sub_watching(struct sip_sub *sub, bool on)
{
	if (sub->watching == on || !sub->pkg->watch)
		return;
	sub->watching = on;
	sub->pkg->watch(sub, on);
}

/*
 * The destructor: unlinks the dialog, cancels the timer and the NOTIFY
 * out (no callback comes after), and with @p forget deletes the saved row.
 */
static void sub_free(struct sip_sub *sub, bool forget)
{
	struct sip_subs *ss = sub->ss;
	sub_watching(sub, false);
	if (forget)
		forget_row(sub);
	sip_timer_cancel(&ss->s->timers, &sub->expiry);
	sip_timer_cancel(&ss->s->timers, &sub->pace);
	if (sub->tsx)
		sip_ctsx_abandon(sub->tsx);
	sip_dialog_reset(&sub->dlg);
	*(sub->prev ? &sub->prev->next : &ss->head) = sub->next;
	*(sub->next ? &sub->next->prev : &ss->tail) = sub->prev;
	ss->n--;
	free(sub);
}

/* Our address and Contact toward the dialog's peer. */
static int sub_set_local(struct sip_sub *sub)
{
	const struct sip_peer *p = &sub->dlg.peer;
	int err = sub->ss->local(sub->ss->s, p, sub->local, sizeof sub->local);
	if (err)
		return err;
	snprintf(sub->contact, sizeof sub->contact, "sip:pbx@%s%s%s", sub->local,
		 p->tp == PBX_TP_UDP ? "" : ";transport=",
		 p->tp == PBX_TP_UDP ? "" : pbx_transport_name(p->tp));
	return 0;
}

void sip_sub_state_value(const struct sip_sub *sub, int64_t now, char *buf, size_t len)
{
	if (sub->state == SIP_SUB_TERMINATED) {
		snprintf(buf, len, "terminated;reason=%s", sub->reason ? sub->reason : "timeout");
		return;
	}
	int64_t left = sub->expires - now;
	snprintf(buf, len, "active;expires=%lld", (long long)(left > 0 ? left : 0));
}

static void notify_resp(void *arg, const struct sip_msg *resp, uint16_t code);
static void sub_notify(struct sip_sub *sub, bool paced);

static void pace_fire(struct sip_timer *t, void *arg)
{
	struct sip_sub *sub = arg;
	if (sub->again && !sub->tsx)
		sub_notify(sub, true);
}

/* The clock of the stack's timers, read now (not the last turn's) when it has one. */
static uint64_t timers_now(struct sip_timers *ts)
{
	return ts->clock ? ts->clock(ts->clock_arg) : ts->now;
}

/*
 * NOTIFY the state of now (RFC 6665 4.2.2), or mark that one is due when
 * a NOTIFY is out (or, when @p paced, went out less than
 * SIP_SUB_NOTIFY_GAP_MS ago). A terminated subscription sends its final
 * NOTIFY and is freed when that is answered. May free @p sub.
 */
static void sub_notify(struct sip_sub *sub, bool paced)
{
	struct sip_stack *s = sub->ss->s;
	struct pbx_buf body, out;
	char branch[SIP_TSX_BRANCH_SIZE], state[64], extra[512];
	if (sub->final_sent)
		return;
	if (sub->tsx) {
		sub->again = true;
		return;
	}
	/* Rate: the first NOTIFY and the final one go at once, the rest SIP_SUB_NOTIFY_GAP_MS apart. */
	uint64_t now = timers_now(&s->timers);
	if (paced && sub->notifies && sub->state != SIP_SUB_TERMINATED &&
	    now < sub->last_notify + SIP_SUB_NOTIFY_GAP_MS) {
		/* Without a timer (no memory) the next change sends it. */
		sub->again = true;
		if (!sip_timer_running(&sub->pace))
			(void)sip_timer_start(&s->timers, &sub->pace,
					      sub->last_notify + SIP_SUB_NOTIFY_GAP_MS - now,
					      pace_fire, sub);
		return;
	}
	sip_timer_cancel(&s->timers, &sub->pace);
	sub->again = false;
	pbx_buf_init(&body);
	pbx_buf_init(&out);
	int err = sub->pkg->body(s, sub, &body);
	if (err) {
		/* The state could not be read: say so without a body rather
		 * than leave the phone waiting for its first NOTIFY. */
		pbx_warning("sip: %s body for %s: %s", sub->pkg->name, sub->resource,
			    strerror(err));
		pbx_buf_reset(&body);
	}
	sip_sub_state_value(sub, sip_stack_now_s(), state, sizeof state);
	snprintf(extra, sizeof extra, "Event: %s%s%s\r\nSubscription-State: %s\r\n", sub->pkg->name,
		 sub->event_id[0] ? ";id=" : "", sub->event_id, state);
	sip_tsx_branch(branch, sizeof branch);
	struct sip_dialog_req r = {.method = "NOTIFY",
				   .local = sub->local,
				   .branch = branch,
				   .contact = sub->contact,
				   .extra = extra,
				   .body_type = body.len ? sub->pkg->type : NULL,
				   .body = body.len ? body.data : NULL};
	err = sip_dialog_build(&out, &sub->dlg, &r, NULL);
	if (!err)
		err = sip_ctsx_alloc(&sub->tsx, s->tsx, out.data, out.len, &sub->dlg.peer,
				     notify_resp, sub);
	pbx_buf_free(&body);
	pbx_buf_free(&out);
	if (err) {
		sub->tsx = NULL;
		pbx_notice("sip: NOTIFY %s to %s not sent: %s", sub->pkg->name,
			   sub->dlg.remote_target, strerror(err));
		if (sub->state == SIP_SUB_TERMINATED)
			sub_free(sub, true);
		return;
	}
	sub->notifies++;
	sub->last_notify = now;
	sub->final_sent = sub->state == SIP_SUB_TERMINATED;
	mark_dirty(sub); /* the CSeq moved */
}

/* End @p sub with a final NOTIFY carrying @p reason. May free @p sub. */
static void sub_terminate(struct sip_sub *sub, const char *reason)
{
	if (sub->state == SIP_SUB_TERMINATED)
		return;
	sub->state = SIP_SUB_TERMINATED;
	sub->reason = reason;
	sub_watching(sub, false);
	sip_timer_cancel(&sub->ss->s->timers, &sub->expiry);
	forget_row(sub); /* a restart must not bring it back */
	sub->dirty = false;
	sub_notify(sub, false);
}

static void notify_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct sip_sub *sub = arg;
	if (code < 200)
		return;
	sub->tsx = NULL;
	if (sub->final_sent) {
		sub_free(sub, sub->state != SIP_SUB_TERMINATED);
		return;
	}
	/* RFC 6665 4.2.2: 481 says the subscriber has no such subscription;
	 * a timeout, a transport error or a refusal of the method or event
	 * says it will never take one. Other failures are that NOTIFY's. */
	if (!resp || code == 481 || code == 408 || code == 405 || code == 489 || code == 501) {
		pbx_info("sip: %s subscription of %s ended: NOTIFY got %u%s", sub->pkg->name,
			 sub->user, code, resp ? "" : " (no answer)");
		sub_free(sub, true);
		return;
	}
	if (code >= 300)
		pbx_notice("sip: NOTIFY %s to %s answered %u", sub->pkg->name,
			   sub->dlg.remote_target, code);
	if (sub->again)
		sub_notify(sub, true);
}

static void expiry_fire(struct sip_timer *t, void *arg)
{
	struct sip_sub *sub = arg;
	pbx_info("sip: %s subscription of %s expired", sub->pkg->name, sub->user);
	sub_terminate(sub, "timeout");
}

static void sub_arm(struct sip_sub *sub, int64_t now)
{
	int64_t left = sub->expires - now;
	(void)sip_timer_start(&sub->ss->s->timers, &sub->expiry,
			      (uint64_t)(left > 0 ? left : 0) * 1000, expiry_fire, sub);
}

/* ---- requests ---------------------------------------------------------------------- */

int sip_sub_expires(const struct sip_msg *m, const struct sip_sub_limits *lim, uint32_t *out)
{
	uint32_t v;
	int err = sip_msg_expires(m, &v);
	if (err == ENOENT)
		v = lim->def;
	else if (err)
		return EINVAL;
	if (v && v < lim->min)
		return ERANGE;
	*out = v > lim->max ? lim->max : v;
	return 0;
}

/* The package and id of the Event header. 0, ENOENT (no header), EINVAL or ESRCH (unknown). */
static int event_of(const struct sip_subs *ss, const struct sip_msg *m,
		    const struct sip_event_pkg **pkg, struct sip_pl *id)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_EVENT);
	if (!h)
		return ENOENT;
	struct sip_pl v, params;
	sip_pl_token_params(h->value, &v, &params);
	*id = (struct sip_pl){"", 0};
	int perr = sip_param_get(params, "id", id);
	if (!v.l || (perr && perr != ENOENT))
		return EINVAL;
	for (unsigned i = 0; i < ss->npkgs; i++)
		if (!sip_pl_casecmp_str(v, ss->pkgs[i]->name)) {
			*pkg = ss->pkgs[i];
			return 0;
		}
	return ESRCH;
}

/* Does the Accept header (when there is one) take the package's body type? */
static bool accepts(const struct sip_msg *m, const char *type)
{
	struct sip_value_iter it;
	struct sip_pl v;
	const char *slash = strchr(type, '/');
	bool any = false;
	sip_value_iter_init(&it, m, SIP_HDR_ACCEPT);
	while (!sip_value_iter_next(&it, &v)) {
		const char *semi = memchr(v.p, ';', v.l);
		if (semi)
			v.l = (size_t)(semi - v.p);
		v = sip_pl_trim(v);
		any = true;
		if (!sip_pl_casecmp_str(v, type) || !sip_pl_casecmp_str(v, "*/*"))
			return true;
		/* A range: "application/" then a star. */
		if (slash && v.l == (size_t)(slash - type) + 2 && v.p[v.l - 1] == '*' &&
		    !strncasecmp(v.p, type, (size_t)(slash - type) + 1))
			return true;
	}
	return !any;
}

static void reply(struct sip_subs *ss, struct sip_stsx *t, const struct sip_msg *m,
		  const struct sip_peer *src, uint16_t code, const char *reason, const char *extra)
{
	(void)sip_stack_reply(ss->s, t, m, src, code, reason, extra, NULL, NULL);
}

/* 200 to a SUBSCRIBE of @p sub: its tag, Contact, Expires (RFC 6665 4.2.1.1). */
static void reply_ok(struct sip_sub *sub, struct sip_stsx *t, const struct sip_msg *m,
		     const struct sip_peer *src, uint32_t expires)
{
	struct sip_stack *s = sub->ss->s;
	char extra[512];
	snprintf(extra, sizeof extra, "Contact: <%s>\r\nExpires: %u\r\nAllow-Events: %s\r\n",
		 sub->contact, expires, sub->ss->allow_events);
	if (sip_build_response(&s->out, m, src, 200, NULL, sub->dlg.local_tag, extra, NULL, NULL))
		return;
	s->stats.tx_resp++;
	(void)sip_stsx_reply(t, 200, s->out.data, s->out.len);
}

/* 400 or 423 for an Expires sip_sub_expires refused with @p err. */
static void reply_expires(struct sip_subs *ss, struct sip_stsx *t, const struct sip_msg *m,
			  const struct sip_peer *src, int err)
{
	char mx[64];
	if (err == ERANGE) {
		snprintf(mx, sizeof mx, "Min-Expires: %d\r\n", ss->s->cfg->sub_min_expires);
		reply(ss, t, m, src, 423, NULL, mx);
	} else {
		reply(ss, t, m, src, 400, "Bad Expires header", NULL);
	}
}

static struct sip_sub_limits limits(const struct sip_subs *ss)
{
	const struct sip_config *c = ss->s->cfg;
	return (struct sip_sub_limits){(uint32_t)c->sub_min_expires, (uint32_t)c->sub_max_expires,
				       (uint32_t)c->sub_default_expires};
}

void sip__subs_accept(struct sip_subs *ss, const struct sip_event_pkg *pkg, const struct sip_msg *m,
		      const struct sip_peer *src, struct sip_stsx *t, const char *user)
{
	struct sip_uri ruri;
	struct sip_pl id;
	const struct sip_event_pkg *p2;
	char resource[PBX_EXT_MAX + 1] = "", tag[TAG_LEN], extra[160];
	const char *why = NULL;
	uint32_t expires;
	size_t n = 0;
	int err;

	if (event_of(ss, m, &p2, &id) || id.l >= sizeof((struct sip_sub *)0)->event_id) {
		reply(ss, t, m, src, 400, "Bad Event header", NULL);
		return;
	}
	if (!sip_uri_parse(&ruri, m->ruri) && ruri.user.l &&
	    (sip_uri_unescape(ruri.user, resource, sizeof resource, &n) || strlen(resource) != n)) {
		reply(ss, t, m, src, 404, "Bad Request-URI user", NULL);
		return;
	}
	uint16_t code = pkg->authorize(user, resource, &why);
	if (code) {
		reply(ss, t, m, src, code, why, NULL);
		return;
	}
	if (!accepts(m, pkg->type)) {
		snprintf(extra, sizeof extra, "Accept: %s\r\n", pkg->type);
		reply(ss, t, m, src, 406, "Not Acceptable (body type)", extra);
		return;
	}
	struct sip_sub_limits lim = limits(ss);
	if ((err = sip_sub_expires(m, &lim, &expires))) {
		reply_expires(ss, t, m, src, err);
		return;
	}
	struct sip_sub *sub = sub_new(ss, pkg);
	if (!sub) {
		reply(ss, t, m, src, 500, "Out of memory", NULL);
		return;
	}
	sip_random_token(tag, sizeof tag);
	err = sip_dialog_uas_init(&sub->dlg, m, src, tag);
	if (err) {
		sub_free(sub, false);
		reply(ss, t, m, src, err == EINVAL ? 400 : 500,
		      err == EINVAL ? "Bad or missing Contact, From or To" : "Out of memory", NULL);
		return;
	}
	sub->dlg.usage = &sub_usage;
	if ((err = sub_set_local(sub)) || (err = sip_dialog_link(ss->s->dialogs, &sub->dlg))) {
		sub_free(sub, false);
		reply(ss, t, m, src, 500, NULL, NULL);
		return;
	}
	snprintf(sub->user, sizeof sub->user, "%s", user);
	snprintf(sub->resource, sizeof sub->resource, "%s", resource);
	snprintf(sub->event_id, sizeof sub->event_id, "%.*s", (int)id.l, id.p);
	int64_t now = sip_stack_now_s();
	sub->expires = now + expires;
	reply_ok(sub, t, m, src, expires);
	if (!expires) {
		/* A fetch (RFC 6665 4.4.3): one NOTIFY of the state, then over. */
		pbx_info("sip: %s fetched %s of %s", user, pkg->name, resource);
		sub_terminate(sub, "timeout");
		return;
	}
	char a[96];
	pbx_info("sip: %s subscribed to %s of %s from %s for %u s", user, pkg->name, resource,
		 sip_peer_str(src, a, sizeof a), expires);
	sub_arm(sub, now);
	sub_watching(sub, true);
	mark_dirty(sub);
	sub_notify(sub, false);
}

/* SUBSCRIBE outside a dialog: check the event, authenticate, accept. */
static void handle_subscribe(struct sip_stack *s, const struct sip_msg *m,
			     const struct sip_peer *src, struct sip_stsx *t)
{
	struct sip_subs *ss = s->subs;
	const struct sip_event_pkg *pkg;
	struct sip_addr to;
	struct sip_pl id;
	struct pbx_user u;
	char extra[320];
	/* The event is checked before the credentials: a 489 tells nothing
	 * that Allow-Events does not, and spares the phone a challenge for
	 * an event it cannot have. */
	int err = event_of(ss, m, &pkg, &id);
	if (err == ESRCH) {
		snprintf(extra, sizeof extra, "Allow-Events: %s\r\n", ss->allow_events);
		reply(ss, t, m, src, 489, "Bad Event", extra);
		return;
	}
	if (err) {
		reply(ss, t, m, src, 400,
		      err == ENOENT ? "Missing Event header" : "Bad Event header", NULL);
		return;
	}
	if (!sip_msg_to(m, &to) && to.tag.l) {
		/* A refresh for a dialog we do not have (expired, or before a
		 * restart that lost it): RFC 6665 4.1.2.2 says subscribe anew. */
		reply(ss, t, m, src, 481, "Subscription does not exist", NULL);
		return;
	}
	if (sip_stack_authenticate(s, m, src, t, &u))
		return;
	sip__subs_accept(ss, pkg, m, src, t, u.ext);
	kick(ss);
}

/* A refresh or an unsubscribe in the subscription's dialog (RFC 6665 4.2.1.2, 4.2.1.4). */
static void on_resubscribe(struct sip_sub *sub, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t)
{
	struct sip_subs *ss = sub->ss;
	const struct sip_event_pkg *pkg;
	struct sip_pl id;
	uint32_t expires;
	int err = event_of(ss, m, &pkg, &id);
	if (err || pkg != sub->pkg || sip_pl_casecmp_str(id, sub->event_id)) {
		char extra[320];
		snprintf(extra, sizeof extra, "Allow-Events: %s\r\n", ss->allow_events);
		reply(ss, t, m, src, err == ENOENT ? 400 : 489,
		      err == ENOENT ? "Missing Event header"
				    : "Bad Event (not this subscription's)",
		      err == ENOENT ? NULL : extra);
		return;
	}
	struct sip_sub_limits lim = limits(ss);
	if ((err = sip_sub_expires(m, &lim, &expires))) {
		reply_expires(ss, t, m, src, err);
		return;
	}
	/* SUBSCRIBE refreshes the target; follow the phone's flow too. */
	err = sip_dialog_target_refresh(&sub->dlg, m);
	if (err && err != ENOENT) {
		reply(ss, t, m, src, 400, "Bad Contact", NULL);
		return;
	}
	if (src->tp == sub->dlg.peer.tp) {
		sub->dlg.peer = *src;
		(void)sub_set_local(sub);
	}
	int64_t now = sip_stack_now_s();
	sub->expires = now + expires;
	reply_ok(sub, t, m, src, expires);
	if (!expires) {
		pbx_info("sip: %s unsubscribed from %s of %s", sub->user, sub->pkg->name,
			 sub->resource);
		sub_terminate(sub, "timeout");
		return;
	}
	pbx_debug("sip: %s refreshed %s of %s for %u s", sub->user, sub->pkg->name, sub->resource,
		  expires);
	sub_arm(sub, now);
	mark_dirty(sub);
	sub_notify(sub, false); /* a refresh is answered with the state at once */
}

static bool sub_request(struct sip_stack *s, struct sip_dialog *d, const struct sip_msg *m,
			const struct sip_peer *src, struct sip_stsx *t)
{
	struct sip_sub *sub = (struct sip_sub *)((char *)d - offsetof(struct sip_sub, dlg));
	if (m->method != SIP_METHOD_SUBSCRIBE)
		return false; /* no other method belongs here: their handlers answer 481/405 */
	if (sub->state == SIP_SUB_TERMINATED) {
		reply(sub->ss, t, m, src, 481, "Subscription terminated", NULL);
		return true;
	}
	if (sip_dialog_request_check(&sub->dlg, m)) {
		reply(sub->ss, t, m, src, 500, "Out of order CSeq", NULL);
		return true;
	}
	on_resubscribe(sub, m, src, t);
	kick(s->subs);
	return true;
}

static const struct sip_dialog_usage sub_usage = {"subscription", sub_request};

/* ---- packages and the rest of the interface ----------------------------------------- */

static void allow_events_update(struct sip_subs *ss)
{
	size_t o = 0;
	ss->allow_events[0] = '\0';
	for (unsigned i = 0; i < ss->npkgs && o < sizeof ss->allow_events; i++)
		o += (size_t)snprintf(ss->allow_events + o, sizeof ss->allow_events - o, "%s%s",
				      i ? ", " : "", ss->pkgs[i]->name);
}

struct restore_ctx {
	struct sip_subs *ss;
	const struct sip_event_pkg *pkg;
	int64_t now;
	unsigned n;
};

static int restore_one(const struct pbx_subscription *row, void *arg)
{
	struct restore_ctx *rc = arg;
	struct sip_subs *ss = rc->ss;
	struct pbx_listen where;
	const char *why;
	if (row->expires <= rc->now || pbx_listen_parse(row->source, &where, &why)) {
		if (ss->persist && pbx_dir())
			(void)pbx_subscription_del(pbx_dir(), row->call_id, row->local_tag);
		return 0;
	}
	struct sip_sub *sub = sub_new(ss, rc->pkg);
	if (!sub)
		return 0; /* the row stays for the next start */
	const struct sip_dialog_saved sv = {.call_id = row->call_id,
					    .local_tag = row->local_tag,
					    .remote_tag = row->remote_tag,
					    .local_uri = row->local_uri,
					    .remote_uri = row->remote_uri,
					    .remote_target = row->remote_target,
					    .routes = row->routes,
					    .local_cseq = row->local_cseq,
					    .remote_cseq = row->remote_cseq,
					    .peer = {.tp = where.tp, .addr = where.addr}};
	int err = sip_dialog_restore(&sub->dlg, &sv);
	if (!err) {
		sub->dlg.usage = &sub_usage;
		err = sub_set_local(sub);
	}
	if (!err)
		err = sip_dialog_link(ss->s->dialogs, &sub->dlg);
	if (err) {
		pbx_notice("sip: saved subscription of %s not restored: %s", row->user,
			   strerror(err));
		sub_free(sub, false);
		if (ss->persist && pbx_dir())
			(void)pbx_subscription_del(pbx_dir(), row->call_id, row->local_tag);
		return 0;
	}
	snprintf(sub->user, sizeof sub->user, "%s", row->user);
	snprintf(sub->resource, sizeof sub->resource, "%s", row->resource);
	snprintf(sub->event_id, sizeof sub->event_id, "%s", row->event_id);
	sub->expires = row->expires;
	sub_arm(sub, rc->now);
	sub_watching(sub, true);
	rc->n++;
	return 0;
}

int sip_event_register(struct sip_subs *ss, const struct sip_event_pkg *pkg)
{
	for (unsigned i = 0; i < ss->npkgs; i++)
		if (ss->pkgs[i] == pkg || !strcasecmp(ss->pkgs[i]->name, pkg->name))
			return EEXIST;
	if (ss->npkgs == SIP_EVENT_PKGS_MAX)
		return ENOSPC;
	ss->pkgs[ss->npkgs++] = pkg;
	allow_events_update(ss);
	if (ss->persist && pbx_dir()) {
		struct restore_ctx rc = {ss, pkg, sip_stack_now_s(), 0};
		if (pbx_subscription_each(pbx_dir(), pkg->name, restore_one, &rc))
			pbx_warning("sip: could not read the saved %s subscriptions", pkg->name);
		if (rc.n)
			pbx_notice("sip: %u %s subscription(s) restored from the database", rc.n,
				   pkg->name);
	}
	kick(ss);
	return 0;
}

void sip_event_unregister(struct sip_subs *ss, const struct sip_event_pkg *pkg)
{
	flush_now(ss); /* what the freed ones changed is saved for the next start */
	for (struct sip_sub *sub = ss->head, *next; sub; sub = next) {
		next = sub->next;
		if (sub->pkg == pkg)
			sub_free(sub, sub->state == SIP_SUB_TERMINATED);
	}
	for (unsigned i = 0; i < ss->npkgs; i++)
		if (ss->pkgs[i] == pkg) {
			ss->pkgs[i] = ss->pkgs[--ss->npkgs];
			break;
		}
	allow_events_update(ss);
}

const char *sip_subs_allow_events(const struct sip_subs *ss)
{
	return ss ? ss->allow_events : "";
}

unsigned sip_subs_notify(struct sip_subs *ss, const struct sip_event_pkg *pkg, const char *resource)
{
	unsigned n = 0;
	/* Linear in the subscriptions: a change is rare next to the NOTIFY
	 * it causes, and a PBX has a few per phone. */
	for (struct sip_sub *sub = ss->head, *next; sub; sub = next) {
		next = sub->next;
		if (sub->pkg != pkg || sub->state != SIP_SUB_ACTIVE ||
		    strcmp(sub->resource, resource))
			continue;
		n++;
		sub_notify(sub, true);
	}
	kick(ss);
	return n;
}

void sip_subs_drop_user(struct sip_subs *ss, const char *user)
{
	for (struct sip_sub *sub = ss->head, *next; sub; sub = next) {
		next = sub->next;
		if (!strcmp(sub->user, user) || !strcmp(sub->resource, user))
			sub_terminate(sub, "noresource");
	}
	kick(ss);
}

void sip_subs_each(struct sip_subs *ss, sip_sub_each_h *fn, void *arg)
{
	for (struct sip_sub *sub = ss->head; sub; sub = sub->next)
		if (fn(sub, arg))
			return;
}

unsigned sip_subs_count(const struct sip_subs *ss)
{
	return ss->n;
}

int sip_subs_alloc(struct sip_subs **sp, struct sip_stack *s, bool persist)
{
	struct sip_subs *ss = calloc(1, sizeof *ss);
	if (!ss)
		return ENOMEM;
	ss->s = s;
	ss->persist = persist;
	ss->local = tp_local;
	s->subs = ss;
	sip_stack_set_handler(s, SIP_METHOD_SUBSCRIBE, handle_subscribe);
	*sp = ss;
	return 0;
}

void sip_subs_free(struct sip_subs *ss)
{
	if (!ss)
		return;
	/* The terminated ones are over (their rows are queued for deletion);
	 * the active ones stay saved for the next start. */
	flush_now(ss);
	while (ss->head)
		sub_free(ss->head, false);
	for (size_t i = 0; i < ss->ndead; i++) {
		free(ss->dead[i].call_id);
		free(ss->dead[i].local_tag);
	}
	free(ss->dead);
	sip_timer_cancel(&ss->s->timers, &ss->flush);
	sip_stack_set_handler(ss->s, SIP_METHOD_SUBSCRIBE, NULL);
	if (ss->s->subs == ss)
		ss->s->subs = NULL;
	free(ss);
}
