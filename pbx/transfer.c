/**
 * @file transfer.c  Blind and attended transfers on the bridge objects (see transfer.h)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Owners. A transfer takes its channels from whoever owned them
 * (pbx_chan_take): the transferor stays with the blind transfer until it
 * ends, and two parties joined for good (attended, or a transferee back
 * with its transferor) belong to a pair, which hangs the other one up
 * when one of them ends, as a Dial does with its caller and callee.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_priv.h"
#include "pbx/app.h"
#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/frame.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/transfer.h"

struct pbx_xfer {
	struct pbx_chan *t; /* the transferor (our reference), NULL once gone */
	struct pbx_chan *e; /* the transferee (our reference) */
	const struct pbx_xfer_report *rep;
	void *arg;
	bool ringing;
};

static void report(struct pbx_xfer *x, int code, const char *reason)
{
	if (x->rep && x->rep->progress && x->t && x->t->state != PBX_CHAN_HUNGUP)
		x->rep->progress(x->arg, code, reason);
}

/* ---- pairs: two parties joined for good -------------------------------------------------- */

/*
 * A pair owns two parties: when one ends, the other is hung up. A waiting
 * pair is a held party (ch[0]) and a transfer target that still rings
 * (ch[1]): ch[0] hears ringback, and the two are bridged at the answer.
 */
struct pair {
	struct pbx_chan *ch[2]; /* our references; NULL once gone or taken */
	bool waiting;
};

static void joined(struct pbx_chan *a, struct pbx_chan *b);

/* Take @p a and @p b from their owners and hang both up: they could not be joined. */
static void hangup_both(struct pbx_chan *a, struct pbx_chan *b)
{
	pbx_chan_take((struct pbx_chan *[]){a, b}, 2, NULL, NULL);
	pbx_chan_hangup(a, PBX_CAUSE_FAILURE);
	pbx_chan_hangup(b, PBX_CAUSE_FAILURE);
}

/* A bridge of their own for @p a and @p b. 0, or errno (a media error: joined all the same). */
static int bridge_two(struct pbx_chan *a, struct pbx_chan *b, bool *both_in)
{
	struct pbx_bridge *br = NULL;
	int err = pbx_bridge_alloc(&br);
	if (!err)
		err = pbx_bridge_join(br, a);
	if (!err)
		err = pbx_bridge_join(br, b);
	*both_in = br && br->n == 2;
	if (br)
		pbx_bridge_unref(br);
	return err;
}

static void pair_forget(struct pair *p, struct pbx_chan *ch)
{
	for (int i = 0; i < 2; i++)
		if (p->ch[i] == ch) {
			p->ch[i] = NULL;
			pbx_chan_unref(ch);
		}
	if (!p->ch[0] && !p->ch[1])
		free(p);
}

static void pair_state(struct pbx_chan *ch, enum pbx_chan_state st, void *arg)
{
	struct pair *p = arg;
	struct pbx_chan *e = p->ch[0];
	bool both_in;
	if (!p->waiting || ch != p->ch[1] || st != PBX_CHAN_UP || !e)
		return;
	p->waiting = false;
	if (e->rtp)
		pbx_rtp_tone_stop(e->rtp);
	pbx_notice("transfer: %s answered: joins %s", ch->name, e->name);
	(void)bridge_two(e, ch, &both_in);
	if (both_in)
		joined(e, ch);
	else
		pbx_chan_hangup(ch, PBX_CAUSE_FAILURE); /* and e with it, as a pair */
}

static void pair_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	struct pair *p = arg;
	struct pbx_chan *other = p->ch[0] == ch ? p->ch[1] : p->ch[0];
	if (other && p->waiting)
		pbx_notice("transfer: %s gone before the transfer completed: %s hung up", ch->name,
			   other->name);
	pair_forget(p, ch);
	if (other) {
		pbx_chan_ref(other);
		pair_forget(p, other); /* frees p */
		pbx_chan_set_owner(other, NULL, NULL);
		pbx_chan_hangup(other, PBX_CAUSE_NORMAL);
		pbx_chan_unref(other);
	}
}

static void pair_released(struct pbx_chan *ch, void *arg)
{
	pair_forget(arg, ch);
}

static const struct pbx_chan_events pair_events = {
	.state = pair_state,
	.hangup = pair_hangup,
	.released = pair_released,
};

/* @p a and @p b become a pair (@p waiting: b still rings for a). */
static void pair_make(struct pbx_chan *a, struct pbx_chan *b, bool waiting)
{
	struct pair *p = calloc(1, sizeof *p);
	if (!p) {
		pbx_error("transfer: out of memory: %s and %s hung up", a->name, b->name);
		hangup_both(a, b);
		return;
	}
	p->ch[0] = pbx_chan_ref(a);
	p->ch[1] = pbx_chan_ref(b);
	p->waiting = waiting;
	pbx_chan_take(p->ch, 2, &pair_events, p);
}

/* Join @p a and @p b in a bridge of their own and make them a pair; hung up if that fails. */
static int pair_bridge(struct pbx_chan *a, struct pbx_chan *b)
{
	bool both_in;
	int err = bridge_two(a, b, &both_in);
	if (both_in)
		pair_make(a, b, false); /* a media error leaves them joined in signalling: a call */
	else
		hangup_both(a, b);
	return err;
}

/* ---- identity after a transfer ----------------------------------------------------------- */

static void tell_party(struct pbx_chan *to, const struct pbx_chan *party)
{
	const char *num, *name;
	if (to->state == PBX_CHAN_HUNGUP || !to->tech->connected_line)
		return;
	pbx_chan_party(party, &num, &name);
	to->tech->connected_line(to, num, name);
}

void pbx_transfer_connected(struct pbx_chan *a, struct pbx_chan *b)
{
	tell_party(a, b);
	tell_party(b, a);
}

/* Two parties joined after the one between them left: hold ends, each learns who the other is. */
static void joined(struct pbx_chan *a, struct pbx_chan *b)
{
	struct pbx_chan *both[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		pbx_chan_moh_stop(both[i]);
		if (both[i]->tech->peer_media_changed && both[i]->state != PBX_CHAN_HUNGUP)
			both[i]->tech->peer_media_changed(both[i], PBX_DIR_SENDRECV);
	}
	pbx_transfer_connected(a, b);
}

static void release(struct pbx_chan *ch)
{
	if (!ch || ch->state == PBX_CHAN_HUNGUP)
		return;
	pbx_chan_ref(ch);
	pbx_chan_take(&ch, 1, NULL, NULL);
	pbx_chan_hangup(ch, PBX_CAUSE_NORMAL);
	pbx_chan_unref(ch);
}

/* ---- blind ------------------------------------------------------------------------------- */

static void xfer_free(struct pbx_xfer *x)
{
	if (x->e->xfer == x)
		x->e->xfer = NULL;
	pbx_chan_unref(x->e);
	if (x->t)
		pbx_chan_unref(x->t);
	free(x);
}

/* The transferor hung up (or was taken): the transfer goes on without reports. */
static void t_gone(struct pbx_chan *ch, void *arg)
{
	struct pbx_xfer *x = arg;
	if (x->t != ch)
		return; /* the transferee, before its new dialplan run owns it */
	x->t = NULL;
	pbx_chan_unref(ch);
}

static void t_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	t_gone(ch, arg);
}

static const struct pbx_chan_events t_events = {
	.hangup = t_hangup,
	.released = t_gone,
};

void pbx_transfer_context(struct pbx_chan *t, const char *own, char *ctx, size_t len)
{
	const char *v = pbx_chan_var_get(t, "TRANSFER_CONTEXT");
	struct pbx_chan *peer = pbx_bridge_peer(t);
	if ((!v || !*v) && peer)
		v = pbx_chan_var_get(peer, "TRANSFER_CONTEXT");
	if (!v || !*v)
		v = own && *own ? own : t->context;
	snprintf(ctx, len, "%s", *v ? v : "default");
}

int pbx_transfer_blind(struct pbx_chan *t, const char *ctx, const char *exten,
		       const struct pbx_xfer_report *rep, void *arg)
{
	struct pbx_chan *e = pbx_bridge_peer(t);
	if (!e || e->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (e->xfer)
		return EBUSY;
	if (!pbx_dialplan_exists(ctx, exten))
		return ENOENT;
	struct pbx_xfer *x = calloc(1, sizeof *x);
	if (!x)
		return ENOMEM;
	x->t = pbx_chan_ref(t);
	x->e = pbx_chan_ref(e);
	x->rep = rep;
	x->arg = arg;
	pbx_info("%s: blind transfer of %s to %s@%s", t->name, e->name, exten, ctx);
	pbx_chan_take((struct pbx_chan *[]){t, e}, 2, &t_events, x);
	e->xfer = x;
	pbx_chan_var_set(e, "BLINDTRANSFER", t->name);
	pbx_chan_var_set(e, "TRANSFERSTATUS", "");
	/* An outgoing leg now calls: the new callee sees who it is, not who once called it. */
	if (e->outgoing) {
		snprintf(e->caller_num, sizeof e->caller_num, "%s", e->exten);
		e->caller_name[0] = '\0';
	}
	pbx_chan_moh_stop(e);
	pbx_bridge_leave(e);
	int err = pbx_dialplan_run(e, ctx, exten);
	if (err) {
		pbx_warning("%s: blind transfer to %s@%s: %s", e->name, exten, ctx, strerror(err));
		pbx_transfer_failed(e, "CHANUNAVAIL");
		return 0; /* reported as a failure: the REFER was accepted */
	}
	return 0;
}

void pbx_transfer_ringing(struct pbx_chan *e)
{
	struct pbx_xfer *x = e->xfer;
	if (!x || x->ringing)
		return;
	x->ringing = true;
	report(x, 180, "Ringing");
	if (e->rtp && e->state == PBX_CHAN_UP)
		(void)pbx_rtp_tone(e->rtp, &pbx_tone_ringback);
}

void pbx_transfer_answered(struct pbx_chan *e)
{
	struct pbx_xfer *x = e->xfer;
	if (!x)
		return;
	e->xfer = NULL;
	if (e->rtp)
		pbx_rtp_tone_stop(e->rtp);
	pbx_chan_var_set(e, "TRANSFERSTATUS", "SUCCESS");
	report(x, 200, "OK");
	pbx_info("%s: transfer done", e->name);
	struct pbx_chan *peer = pbx_bridge_peer(e);
	if (peer)
		pbx_transfer_connected(e, peer);
	struct pbx_chan *t = x->t;
	x->t = NULL;
	release(t);
	if (t)
		pbx_chan_unref(t);
	xfer_free(x);
}

void pbx_transfer_app(struct pbx_chan *e, const struct pbx_app *app)
{
	if (!e->xfer || app->takes_no_call)
		return;
	pbx_info("%s: the transfer target runs %s: it has the call", e->name, app->name);
	pbx_transfer_answered(e);
}

static int status_code(const char *status, const char **reason)
{
	if (!strcmp(status, "BUSY"))
		return *reason = "Busy Here", 486;
	if (!strcmp(status, "NOANSWER"))
		return *reason = "Request Timeout", 408;
	if (!strcmp(status, "CONGESTION"))
		return *reason = "Service Unavailable", 503;
	return *reason = "Temporarily Unavailable", 480;
}

void pbx_transfer_failed(struct pbx_chan *e, const char *status)
{
	struct pbx_xfer *x = e->xfer;
	const char *reason;
	if (!x)
		return;
	e->xfer = NULL;
	if (e->rtp)
		pbx_rtp_tone_stop(e->rtp);
	pbx_chan_var_set(e, "TRANSFERSTATUS", "FAILED");
	int code = status_code(status, &reason);
	report(x, code, reason);
	struct pbx_chan *t = x->t;
	/* Nobody is lost: back to the transferor while it is there; else the dialplan goes on. */
	if (t && t->state == PBX_CHAN_UP && e->state == PBX_CHAN_UP) {
		pbx_notice("%s: transfer failed (%s): back to %s", e->name, status, t->name);
		pbx_chan_moh_stop(t);
		int err = pair_bridge(t, e);
		if (err)
			pbx_warning("%s: cannot reconnect to %s: %s", e->name, t->name,
				    strerror(err));
	} else {
		pbx_notice("%s: transfer failed (%s); the transferor is gone", e->name, status);
		release(t);
	}
	xfer_free(x);
}

void pbx__transfer_chan_gone(struct pbx_chan *ch)
{
	struct pbx_xfer *x = ch->xfer;
	ch->xfer = NULL;
	report(x, 487, "Request Terminated");
	struct pbx_chan *t = x->t;
	x->t = NULL;
	release(t); /* nothing is left for it to return to */
	if (t)
		pbx_chan_unref(t);
	xfer_free(x);
}

/* ---- attended ---------------------------------------------------------------------------- */

int pbx_transfer_attended(struct pbx_chan *t1, struct pbx_chan *t2,
			  const struct pbx_xfer_report *rep, void *arg)
{
	struct pbx_chan *e = pbx_bridge_peer(t1), *c = pbx_bridge_peer(t2);
	if (t1 == t2)
		return EINVAL;
	if (!e || e->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (e == t2 || c == t1)
		return EINVAL;
	if (!c || c->state == PBX_CHAN_HUNGUP || c->state != PBX_CHAN_UP) {
		/* T2 still calls C (semi-attended): E takes over that call, and rings. */
		if (t2->state == PBX_CHAN_HUNGUP || t2->outgoing || !*t2->exten)
			return ENOENT;
		char ctx[sizeof t2->context], exten[sizeof t2->exten];
		snprintf(ctx, sizeof ctx, "%s", t2->context);
		snprintf(exten, sizeof exten, "%s", t2->exten);
		pbx_info("%s: attended transfer while %s rings: %s calls %s@%s", t1->name, t2->name,
			 e->name, exten, ctx);
		release(t2);
		return pbx_transfer_blind(t1, ctx, exten, rep, arg);
	}
	pbx_info("%s: attended transfer: %s joins %s", t1->name, c->name, e->name);
	int err = pbx_bridge_swap(t1->bridge, t1, c);
	if (err)
		return err;
	pbx_chan_ref(t1);
	pbx_chan_ref(t2);
	/* All four change hands before any old owner hears of it: the Dial that
	 * called t1 would otherwise hang it up as it ends, before the final
	 * NOTIFY goes out in t1's dialog. */
	pbx_chan_take((struct pbx_chan *[]){e, c, t1, t2}, 4, NULL, NULL);
	pair_make(e, c, false);
	joined(e, c);
	if (rep && rep->progress)
		rep->progress(arg, 200, "OK");
	release(t2);
	release(t1);
	pbx_chan_unref(t2);
	pbx_chan_unref(t1);
	return 0;
}

int pbx_transfer_join(struct pbx_chan *a, struct pbx_chan *b)
{
	if (a == b || a->state == PBX_CHAN_HUNGUP || b->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	pbx_info("transfer: %s joins %s", b->name, a->name);
	pbx_chan_ref(a);
	pbx_chan_ref(b);
	int err = pair_bridge(a, b);
	if (!err)
		joined(a, b);
	pbx_chan_unref(b);
	pbx_chan_unref(a);
	return err;
}

int pbx_transfer_join_ringing(struct pbx_chan *e, struct pbx_chan *c)
{
	if (e == c || e->state == PBX_CHAN_HUNGUP || c->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (c->state == PBX_CHAN_UP)
		return pbx_transfer_join(e, c);
	pbx_notice("transfer: %s waits for %s to answer", e->name, c->name);
	pair_make(e, c, true);
	pbx_chan_moh_stop(e);
	pbx_bridge_leave(e);
	if (e->rtp)
		(void)pbx_rtp_tone(e->rtp, &pbx_tone_ringback);
	return 0;
}

int pbx_transfer_replace(struct pbx_chan *old, struct pbx_chan *newch)
{
	struct pbx_chan *peer = pbx_bridge_peer(old);
	if (!peer || peer->state == PBX_CHAN_HUNGUP) {
		/* Not bridged yet (it rings): its owner may take the newcomer as its answer. */
		if (old->state == PBX_CHAN_HUNGUP || !old->ev || !old->ev->replaced)
			return ENOTCONN;
		pbx_info("%s picks up %s", newch->name, old->name);
		old->ev->replaced(old, newch, old->ev_arg);
		return 0;
	}
	pbx_info("%s replaces %s", newch->name, old->name);
	int err = pbx_bridge_swap(old->bridge, old, newch);
	if (err)
		return err;
	pbx_chan_ref(old);
	pair_make(peer, newch, false);
	joined(peer, newch);
	release(old);
	pbx_chan_unref(old);
	return 0;
}
