/**
 * @file sip_refer.c  Transfer on the wire: REFER in a call (RFC 3515), Replaces (RFC 3891)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A phone transfers by sending REFER in its call. Blind: Refer-To names a
 * number or a user, which must be an extension of the transferor's context
 * (or TRANSFER_CONTEXT) before we accept (202); the core's transfer then
 * runs it for the transferee. Attended: Refer-To carries Replaces naming
 * the transferor's other call on this PBX; the two far ends are joined.
 *
 * The REFER's implicit subscription shares the call's dialog: a usage of
 * it kept here (struct refer_sub), whose NOTIFYs (Event: refer, a
 * message/sipfrag body: 100, 180, the final status) go in that dialog, in
 * order. Refer-Sub: false (RFC 4488) asks for none, and gets none.
 *
 * Our own REFER (app.transfer) asks a phone to call someone else; its
 * NOTIFYs tell the channel's application how that went.
 *
 * An INVITE with Replaces takes the place of the dialog it names: a
 * confirmed call, or a call we place that still rings (a pickup: the
 * new call answers in its place); 481 when there is none, 486 when it is
 * a call to us that still rings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/transfer.h"

#include "chan_sip.h"
#include "sip_stack.h"
#include "sip_uri.h"

#define SIPFRAG_TYPE "message/sipfrag;version=2.0"

/*
 * The REFER's subscription (RFC 3515): a usage of the call's dialog, found
 * by an id of ours (the transfer's report argument, the NOTIFYs' callback
 * argument), so a report or a response for one that is gone finds nothing.
 * Its NOTIFYs go one at a time, in order (RFC 6665 4.2.2: the next after
 * the last one's response); states that come meanwhile wait in a short
 * queue. The final one ends it, as does a NOTIFY refused (481, 408) or the
 * end of the session.
 */
#define REFER_QUEUE 4

struct refer_sub {
	struct refer_sub *next;
	uint32_t id;
	uint32_t sess_id;
	uint32_t event_id; /* the REFER's CSeq: Event: refer;id= */
	struct {
		int code;
		char reason[48];
	} q[REFER_QUEUE];
	unsigned head, n;
	bool in_flight;  /* a NOTIFY waits for its response */
	bool final_in;   /* the final state is queued or sent: nothing follows */
	bool final_sent; /* the terminated NOTIFY is out */
};

static struct {
	struct refer_sub *list;
	uint32_t last_id;
} refer_subs;

static struct refer_sub *sub_find(uint32_t id)
{
	for (struct refer_sub *r = refer_subs.list; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void sub_free(struct refer_sub *r)
{
	for (struct refer_sub **pp = &refer_subs.list; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r);
}

static struct refer_sub *sub_new(const struct sip_sess *x, uint32_t event_id)
{
	struct refer_sub *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	do
		r->id = ++refer_subs.last_id;
	while (!r->id || sub_find(r->id));
	r->sess_id = x->id;
	r->event_id = event_id;
	r->next = refer_subs.list;
	refer_subs.list = r;
	return r;
}

static bool sub_send(struct refer_sub *r, bool now);

void sip__refer_flush(struct sip_sess *x)
{
	for (struct refer_sub *r = refer_subs.list, *next; r; r = next) {
		next = r->next;
		while (r->sess_id == x->id && r->n && !r->final_sent && sub_send(r, true))
			;
	}
}

void sip__refer_sess_gone(struct sip_sess *x)
{
	for (struct refer_sub **pp = &refer_subs.list; *pp;) {
		struct refer_sub *r = *pp;
		if (r->sess_id == x->id) {
			*pp = r->next;
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

static void notify_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct refer_sub *r = sub_find((uint32_t)(uintptr_t)arg);
	if (!r || code < 200)
		return;
	r->in_flight = false;
	/* A NOTIFY refused (481: no such subscription, 408: no answer) ends it (RFC 6665 4.1.2.2). */
	if (r->final_sent || code >= 300) {
		sub_free(r);
		return;
	}
	(void)sub_send(r, false);
}

/*
 * The next queued NOTIFY, once the last one is answered (or @p now: the
 * dialog ends). False when that ended the subscription (@p r is freed).
 */
static bool sub_send(struct refer_sub *r, bool now)
{
	char extra[320], body[96];
	struct sip_sess *x = sip__sess_of((void *)(uintptr_t)r->sess_id); /* as ID_ARG */
	if ((r->in_flight && !now) || !r->n)
		return true;
	if (!x || x->state == SIP_SESS_ENDED) {
		sub_free(r);
		return false;
	}
	int code = r->q[r->head].code;
	snprintf(extra, sizeof extra,
		 "Contact: <%s>\r\nEvent: refer;id=%u\r\nSubscription-State: %s\r\n", x->contact,
		 r->event_id, code >= 200 ? "terminated;reason=noresource" : "active;expires=60");
	snprintf(body, sizeof body, "SIP/2.0 %d %s\r\n", code, r->q[r->head].reason);
	r->head = (r->head + 1) % REFER_QUEUE;
	r->n--;
	if (sip__sess_send_arg(x, "NOTIFY", extra, SIPFRAG_TYPE, body, notify_resp,
			       (void *)(uintptr_t)r->id, NULL)) {
		sub_free(r);
		return false;
	}
	r->in_flight = true;
	r->final_sent = code >= 200;
	sip__kick();
	return true;
}

/* A new state for the transferor's phone: queued, sent when the last NOTIFY is answered. */
static void sub_report(struct refer_sub *r, int code, const char *reason)
{
	if (!r || r->final_in)
		return;
	/* Full of provisionals (a phone slow to answer): the newest replaces the last. */
	unsigned slot = (r->head + (r->n < REFER_QUEUE ? r->n : REFER_QUEUE - 1)) % REFER_QUEUE;
	if (r->n < REFER_QUEUE)
		r->n++;
	r->q[slot].code = code;
	snprintf(r->q[slot].reason, sizeof r->q[slot].reason, "%s", reason);
	r->final_in = code >= 200;
	(void)sub_send(r, false);
}

static void on_progress(void *arg, int code, const char *reason)
{
	if (arg)
		sub_report(sub_find((uint32_t)(uintptr_t)arg), code, reason);
}

static const struct pbx_xfer_report report = {.progress = on_progress};

/* Whose perspective the tags take varies among phones: try ours, then the other. */
static struct sip_sess *replaces_find(const struct sip_replaces *r)
{
	struct sip_dialog *d =
		sip_dialog_lookup(sip__cs.s->dialogs, r->callid, r->to_tag, r->from_tag);
	if (!d)
		d = sip_dialog_lookup(sip__cs.s->dialogs, r->callid, r->from_tag, r->to_tag);
	return d ? sip__sess_of_dialog(d) : NULL;
}

/* 1 to PBX_EXT_MAX of 0-9 * # + : a number dialled, not a URI. */
static bool is_number(struct sip_pl pl)
{
	if (!pl.l || pl.l > PBX_EXT_MAX)
		return false;
	for (size_t i = 0; i < pl.l; i++)
		if (!strchr("0123456789*#+", pl.p[i]) || !pl.p[i])
			return false;
	return true;
}

/* The user a call's leg stands for: who called in, or who was called. */
static const char *leg_user(const struct pbx_chan *ch)
{
	const char *num, *name;
	pbx_chan_party(ch, &num, &name);
	return num;
}

/*
 * 202, and the subscription's first NOTIFY (100) unless the phone wants
 * none. Returns the transfer's report argument: the subscription's id, or
 * NULL when there is none.
 */
static void *accept_refer(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t, bool sub)
{
	char extra[256];
	struct refer_sub *r = sub ? sub_new(x, m->cseq_num) : NULL;
	void *arg = r ? (void *)(uintptr_t)r->id : NULL;
	snprintf(extra, sizeof extra, "Contact: <%s>\r\n%s", x->contact,
		 r ? "" : "Refer-Sub: false\r\n");
	sip_stack_reply(sip__cs.s, t, m, src, 202, NULL, extra, NULL, NULL);
	on_progress(arg, 100, "Trying"); /* may end it already: found again by id */
	return arg;
}

static void refer_attended(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t, bool sub, const char *replaces)
{
	struct sip_stack *s = sip__cs.s;
	struct pbx_chan *t1 = x->call->ch;
	struct sip_replaces r;
	if (sip_replaces_parse(&r, sip_pl_str(replaces))) {
		sip_stack_reply(s, t, m, src, 400, "Bad Replaces in Refer-To", NULL, NULL, NULL);
		return;
	}
	struct sip_sess *y = replaces_find(&r);
	struct sip_call *other = y ? y->call : NULL;
	if (other == x->call) {
		sip_stack_reply(s, t, m, src, 400, "Replaces names this call", NULL, NULL, NULL);
		return;
	}
	if (other && !other->ended && strcmp(leg_user(other->ch), leg_user(t1))) {
		pbx_notice("%s: REFER with Replaces names a call of another user (%s): refused",
			   t1->name, other->ch->name);
		sip_stack_reply(s, t, m, src, 403, "Replaces names a call of another user", NULL,
				NULL, NULL);
		return;
	}
	void *arg = accept_refer(x, m, src, t, sub);
	if (!other || other->ended) {
		/* The call to replace is gone: the held party stays with the transferor. */
		pbx_notice("%s: attended transfer: no call %.*s to replace", t1->name,
			   (int)r.callid.l, r.callid.p);
		on_progress(arg, 481, "Call/Transaction Does Not Exist");
		return;
	}
	int err = pbx_transfer_attended(t1, other->ch, arg ? &report : NULL, arg);
	if (err) {
		pbx_notice("%s: attended transfer with %s failed: %s", t1->name, other->ch->name,
			   strerror(err));
		on_progress(arg, err == ENOENT ? 481 : 503,
			    err == ENOENT ? "Call/Transaction Does Not Exist"
					  : "Service Unavailable");
	}
}

static void refer_blind(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
			struct sip_stsx *t, bool sub, const struct sip_uri *u)
{
	struct sip_stack *s = sip__cs.s;
	struct pbx_chan *ch = x->call->ch;
	char exten[80], ctx[80], reason[200];
	size_t n = 0;
	if (!u->user.l || sip_uri_unescape(u->user, exten, sizeof exten, &n) ||
	    strlen(exten) != n || !*exten) {
		sip_stack_reply(s, t, m, src, 404, "Refer-To names no user or number", NULL, NULL,
				NULL);
		return;
	}
	/* The transferor's own context: its user's (an outgoing leg has the callee's). */
	const char *own = ch->context;
	struct pbx_user user;
	if (ch->outgoing)
		own = pbx_user_find(pbx_dir(), ch->exten, &user) ? "" : user.context;
	pbx_transfer_context(ch, own, ctx, sizeof ctx);
	struct pbx_chan *peer = pbx_bridge_peer(ch);
	if (!peer || peer->state == PBX_CHAN_HUNGUP) {
		sip_stack_reply(s, t, m, src, 403, "Nothing to transfer: the call is not bridged",
				NULL, NULL, NULL);
		return;
	}
	if (!pbx_dialplan_exists(ctx, exten)) {
		snprintf(reason, sizeof reason, "No extension %.40s in context %.40s", exten, ctx);
		pbx_notice("%s: transfer to %s refused: %s", ch->name, exten, reason);
		sip_stack_reply(s, t, m, src, 404, reason, NULL, NULL, NULL);
		return;
	}
	if (peer->xfer) {
		sip_stack_reply(s, t, m, src, 491, "A transfer of this call is in progress", NULL,
				NULL, NULL);
		return;
	}
	/* RFC 3892: who referred goes on with the new call (the driver's INVITE carries it). */
	const struct sip_hdr *rb = sip_msg_hdr_first(m, SIP_HDR_REFERRED_BY);
	char by[256];
	if (rb)
		snprintf(by, sizeof by, "%.*s", (int)rb->value.l, rb->value.p);
	else
		snprintf(by, sizeof by, "<sip:%s@%s>", leg_user(ch), s->cfg->domain);
	pbx_chan_var_set(peer, "SIPREFERREDBYHDR", by);
	void *arg = accept_refer(x, m, src, t, sub);
	int err = pbx_transfer_blind(ch, ctx, exten, arg ? &report : NULL, arg);
	if (err)
		on_progress(arg, 503, "Service Unavailable");
}

void sip__refer_request(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
			struct sip_stsx *t)
{
	struct sip_stack *s = sip__cs.s;
	struct sip_call *call = x->call;
	if (!call || call->ended || x->state == SIP_SESS_ENDED) {
		sip__reply_481(s, m, src, t);
		return;
	}
	if (x->state != SIP_SESS_CONFIRMED || (call->outgoing && call->sess != x)) {
		sip_stack_reply(s, t, m, src, 403, "No transfer before the call is answered", NULL,
				NULL, NULL);
		return;
	}
	const struct sip_hdr *rt = sip_msg_hdr_first(m, SIP_HDR_REFER_TO);
	struct sip_addr a;
	struct sip_uri u;
	if (!rt || sip_msg_hdr_count(m, SIP_HDR_REFER_TO) != 1) {
		sip_stack_reply(s, t, m, src, 400, "One Refer-To header expected", NULL, NULL,
				NULL);
		return;
	}
	if (sip_addr_parse(&a, rt->value)) {
		sip_stack_reply(s, t, m, src, 400, "Bad Refer-To", NULL, NULL, NULL);
		return;
	}
	/* A bare number (some phones send "Refer-To: 1003") names that extension. */
	if (sip_uri_parse(&u, a.uri)) {
		if (!is_number(a.uri)) {
			sip_stack_reply(s, t, m, src, 400, "Bad Refer-To", NULL, NULL, NULL);
			return;
		}
		memset(&u, 0, sizeof u);
		u.user = a.uri;
	}
	const struct sip_hdr *rs = sip_msg_hdr_first(m, SIP_HDR_REFER_SUB);
	bool sub = !rs || sip_pl_casecmp_str(sip_pl_trim(rs->value), "false");
	char replaces[512];
	int err = sip_uri_header(&u, "Replaces", replaces, sizeof replaces);
	if (err && err != ENOENT) {
		sip_stack_reply(s, t, m, src, 400, "Bad Replaces in Refer-To", NULL, NULL, NULL);
		return;
	}
	pbx_info("%s: REFER to %.*s", call->ch->name, (int)a.uri.l, a.uri.p);
	if (!err)
		refer_attended(x, m, src, t, sub, replaces);
	else
		refer_blind(x, m, src, t, sub, &u);
}

void sip__refer_no_dialog(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t)
{
	struct sip_addr to;
	if (!sip_msg_to(m, &to) && to.tag.l) {
		sip__reply_481(s, m, src, t);
		return;
	}
	sip_stack_reply(s, t, m, src, 403, "REFER only inside a call", NULL, NULL, NULL);
}

int sip__replaces_take(const struct sip_msg *m, struct sip_sess **xp, const char **why)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_REPLACES);
	struct sip_replaces r;
	*xp = NULL;
	if (!h)
		return 0;
	if (sip_msg_hdr_count(m, SIP_HDR_REPLACES) != 1 || sip_replaces_parse(&r, h->value)) {
		*why = "Bad Replaces";
		return 400;
	}
	struct sip_sess *y = replaces_find(&r);
	if (!y || !y->call || y->call->ended || y->state == SIP_SESS_ENDED) {
		*why = "No dialog to replace";
		return 481;
	}
	if (y->state != SIP_SESS_CONFIRMED && !y->dlg.uac) {
		/* A call still ringing here is not ours to end: only one we place can be picked up. */
		*why = "The dialog to replace is early";
		return 486;
	}
	if (r.early_only) {
		*why = "The dialog to replace is confirmed (early-only)";
		return 486;
	}
	*xp = y;
	return 0;
}

/* ---- our REFER: app.transfer on a SIP channel ---------------------------------------------- */

static void refer_done(struct sip_call *call, int code)
{
	call->refer_cseq = 0;
	pbx_chan_transfer_done(call->ch, code);
}

static void refer_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct sip_sess *x = sip__sess_of(arg);
	struct sip_call *call = x ? x->call : NULL;
	if (code < 300 || !call || call->ended || !call->refer_cseq)
		return; /* 202: the NOTIFYs tell the rest */
	pbx_notice("%s: the phone refused our REFER: %u", call->ch->name, code);
	refer_done(call, code);
}

int sip__refer_send(struct pbx_chan *ch, const char *target)
{
	struct sip_call *call = ch->tech_pvt;
	struct sip_sess *x = call->sess;
	char extra[700], user[256];
	if (call->ended || !x || x->state != SIP_SESS_CONFIRMED)
		return ENOTSUP;
	if (call->refer_cseq)
		return EBUSY;
	if (strpbrk(target, "\r\n<>\" "))
		return EINVAL;
	if (!strncasecmp(target, "sip:", 4) || !strncasecmp(target, "sips:", 5)) {
		snprintf(extra, sizeof extra, "Refer-To: <%s>\r\n", target);
	} else {
		/* Our address toward the phone, not the domain: a phone without a
		 * proxy resolves the host, and the domain may name nothing in DNS. */
		sip__user_escape(target, user, sizeof user);
		snprintf(extra, sizeof extra, "Refer-To: <sip:%s@%s>\r\n", user, x->local);
	}
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		 "Referred-By: <sip:%s@%s>\r\nContact: <%s>\r\n", ch->exten[0] ? ch->exten : "pbx",
		 sip__cs.s->cfg->domain, x->contact);
	int err = sip__sess_send(x, "REFER", extra, NULL, NULL, refer_resp, &call->refer_cseq);
	sip__kick();
	return err;
}

/* Is the value of @p h, up to its parameters, @p word (any case)? */
static bool header_word_is(const struct sip_hdr *h, const char *word)
{
	struct sip_pl token, params;
	if (!h)
		return false;
	sip_pl_token_params(h->value, &token, &params);
	return !sip_pl_casecmp_str(token, word);
}

void sip__refer_notify(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		       struct sip_stsx *t)
{
	struct sip_stack *s = sip__cs.s;
	struct sip_call *call = x->call;
	if (!header_word_is(sip_msg_hdr_first(m, SIP_HDR_EVENT), "refer")) {
		sip_stack_reply(s, t, m, src, 489, NULL, NULL, NULL, NULL);
		return;
	}
	if (!call || call->ended || !call->refer_cseq) {
		sip__reply_481(s, m, src, t);
		return;
	}
	sip_stack_reply(s, t, m, src, 200, NULL, NULL, NULL, NULL);
	/* The body is a sipfrag: its status line says how the phone's new call goes. */
	uint32_t code = 0;
	if (m->body.l > 12 && !memcmp(m->body.p, "SIP/2.0 ", 8))
		(void)sip_pl_u32((struct sip_pl){m->body.p + 8, 3}, &code);
	bool over = header_word_is(sip_msg_hdr_first(m, SIP_HDR_SUBSCRIPTION_STATE), "terminated");
	if (code >= 200 || over)
		refer_done(call, code >= 200 ? (int)code : 500);
}
