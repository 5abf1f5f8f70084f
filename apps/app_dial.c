/**
 * @file app_dial.c  Dial(targets[, timeout[, options]]): call out, first answer wins, bridge
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Targets are "TECH/destination" joined with '&': SIP/1001 (the SIP
 * driver forks to every registered contact of 1001 inside one channel),
 * SIP/1001&SIP/1002, SIP/sip:bob@host; PJSIP/ is the SIP driver's alias.
 * Every target gets an outgoing channel that this application owns. The
 * first ringing is shown to the caller (180), the first early media is
 * bridged to it (183), the first answer wins: the other legs are hung up
 * (the driver sends CANCEL), the caller is answered and bridged to the
 * winner, and the application then waits for the end of the call. When
 * the callee hangs up, Dial returns "ANSWER" and the script goes on; when
 * the caller hangs up, the engine cancels Dial and the callee is hung up.
 *
 * DIALSTATUS (also the result): ANSWER; NOANSWER (timeout, in seconds,
 * fractions allowed, none when empty or 0); CANCEL (the caller hung up
 * first); otherwise from the legs' causes, see dial_status_of(). Also
 * DIALEDPEERNAME, DIALEDPEERNUMBER, DIALEDTIME and ANSWEREDTIME (seconds)
 * as in Asterisk.
 *
 * Options (Asterisk letters; others are accepted and ignored):
 *   r  indicate ringing to the caller at once and pass no early media
 *   g  go on in the dialplan when the callee hangs up (always done here)
 *   t  the callee may transfer the caller with the feature codes
 *   T  the caller may transfer the callee
 *
 * Feature codes (config section features, see dial_features.c): while the
 * call is bridged, the keys of a side that may transfer come to Dial
 * instead of the other party (pbx_chan_dtmf_hold), and Dial passes on
 * every key that is not part of a code. blind_transfer ("##"): the other
 * party hears hold music, the transferor a beep, then dials the target
 * ('#' or digit_timeout ends it) and the other party is sent there as a
 * new dialplan run (pbx_transfer_blind, in the caller's context). An
 * unknown number gives vm-invalid and the call as before.
 * attended_transfer ("*2"): as blind, but Dial calls the target itself,
 * as a user of the transferor's technology, and the transferor talks to
 * it first; when the transferor hangs up, the held party and the target
 * are joined (pbx_transfer_join; while the target still rings, the held
 * party hears the ringing and is joined at the answer:
 * pbx_transfer_join_ringing). The held party hanging up meanwhile leaves
 * the transferor with the target. abort_transfer ("*3"), a target that
 * does not answer within ATT_RING_S or hangs up: back to the held party.
 * Dial owns the consulted leg, so a transfer cannot outlive the Dial.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "pbx/app.h"
#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/frame.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"
#include "pbx/transfer.h"

#include "apps.h"
#include "dial_features.h"

/* Longer than anyone lets a phone ring; keeps the ms value in range. */
#define DIAL_MAX_TIMEOUT_S 86400.0
/* How long the target of an attended transfer may ring before the transferor is back. */
#define ATT_RING_S 30

static const struct pbx_arg_spec args[] = {
	{"targets", PBX_ARG_STRING, true},  {"timeout", PBX_ARG_NUMBER, false},
	{"options", PBX_ARG_STRING, false}, {"url", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

struct dial;
static const struct pbx_chan_events leg_events;

struct dial_leg {
	struct dial *d;
	struct pbx_chan *ch; /* our reference; NULL once the leg is gone */
	const char *dest;    /* points into dial.buf */
};

/* One party of the answered call, for the feature codes: 0 the caller, 1 the callee. */
struct dial_side {
	struct pbx_chan *ch; /* our reference while the features are armed */
	bool may;            /* may transfer: its keys are held and matched */
	struct feat_match m;
};

enum xfer_state {
	X_NONE,    /* bridged: keys are matched against the codes */
	X_COLLECT, /* the other party on hold music; the transferor dials the target */
	X_RING,    /* attended: the target rings, the transferor hears ringback */
	X_TALK,    /* attended: the transferor talks to the target */
};

struct dial {
	uv_timer_t timer;
	uv_timer_t ftimer; /* features: digit_timeout, or the target's ringing */
	int handles;       /* open timers; the dial is freed when both closed */
	struct pbx_app_call *call;
	struct pbx_chan *caller; /* the application's channel: valid until finish or cancel */
	char *str;               /* the dial string as given, for log lines */
	char *buf;               /* a copy cut into the targets; legs' dest point into it */
	struct dial_opts opts;
	struct dial_leg legs[DIAL_MAX_TARGETS];
	size_t nlegs;
	int causes[DIAL_MAX_TARGETS]; /* of every target that failed, in any way */
	size_t ncauses;
	struct dial_leg *winner;
	struct pbx_chan *early;    /* the leg whose early media the caller hears */
	struct pbx_bridge *bridge; /* caller and early or answered leg; made on first use */
	bool rang, progressed;
	bool in_exec;   /* exec has not returned: it decides the end and returns the status */
	bool cancelled; /* the caller hung up: the engine expects no finish */
	bool ended;
	const char *status;
	time_t start, answered;
	struct dial_side side[2];
	bool armed;
	enum xfer_state xstate;
	bool xattended;
	int xside; /* the transferor */
	char xdigits[64];
	struct pbx_chan *target;    /* attended: the consulted leg (our reference) */
	struct pbx_bridge *xbridge; /* attended: the transferor and the target */
};

/* ---- parsing (unit-tested) ----------------------------------------------------------------- */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

size_t dial_targets_parse(char *str, struct dial_target *out, size_t max, bool *truncated)
{
	size_t n = 0;
	*truncated = false;
	for (char *next = str; next;) {
		char *item = next, *amp = strchr(item, '&');
		if (amp)
			*amp = '\0';
		next = amp ? amp + 1 : NULL;
		item = trim(item);
		if (!*item)
			continue;
		if (n == max) {
			*truncated = true;
			break;
		}
		struct dial_target *t = &out[n++];
		memset(t, 0, sizeof *t);
		t->item = item;
		char *slash = strchr(item, '/');
		if (!slash || slash == item || !slash[1])
			continue; /* malformed: tech stays NULL */
		t->tech = item;
		t->tech_len = (size_t)(slash - item);
		t->dest = slash + 1;
	}
	return n;
}

const char *dial_status_of(const int *causes, size_t n)
{
	bool busy = false, congestion = false, noanswer = false;
	for (size_t i = 0; i < n; i++) {
		const char *s = pbx_cause_dialstatus(causes[i]);
		if (!s)
			continue;
		busy |= !strcmp(s, "BUSY");
		congestion |= !strcmp(s, "CONGESTION");
		noanswer |= !strcmp(s, "NOANSWER");
	}
	return busy ? "BUSY" : congestion ? "CONGESTION" : noanswer ? "NOANSWER" : "CHANUNAVAIL";
}

void dial_opts_parse(const char *s, struct dial_opts *o)
{
	memset(o, 0, sizeof *o);
	for (; *s; s++) {
		switch (*s) {
		case 'r': o->ring = true; break;
		case 't': o->callee_transfer = true; break;
		case 'T': o->caller_transfer = true; break;
		case 'g': break; /* the default here */
		case '(': {
			/* An argument of the previous letter, as in D(123): skip it whole. */
			const char *close = strchr(s, ')');
			if (!close)
				return;
			s = close;
			break;
		}
		default:
			if (*s != ' ' && *s != ',')
				pbx_debug("Dial: option '%c' is not supported, ignored", *s);
		}
	}
}

/* ---- legs -------------------------------------------------------------------------------- */

static size_t legs_alive(const struct dial *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->nlegs; i++)
		n += d->legs[i].ch != NULL;
	return n;
}

static void cause_add(struct dial *d, int cause)
{
	if (d->ncauses < DIAL_MAX_TARGETS)
		d->causes[d->ncauses++] = cause;
}

/*
 * Hang a leg up from our side. The owner is cleared first: the hangup
 * event would otherwise come back into a dial that may be freed by then.
 */
static void leg_hangup(struct dial_leg *leg, int cause)
{
	struct pbx_chan *ch = leg->ch;
	if (!ch)
		return;
	leg->ch = NULL;
	if (leg->d->early == ch)
		leg->d->early = NULL;
	/* Taken by a transfer (all of a transfer's legs change hands before any
	 * old owner hears of it): not ours to hang up any more. */
	if (ch->ev == &leg_events && ch->ev_arg == leg) {
		pbx_chan_set_owner(ch, NULL, NULL);
		pbx_chan_hangup(ch, cause);
	}
	pbx_chan_unref(ch);
}

static void dial_closed(uv_handle_t *h)
{
	struct dial *d = h->data;
	if (--d->handles)
		return;
	pbx_bridge_unref(d->bridge);
	free(d->str);
	free(d->buf);
	free(d);
}

static void dial_close(struct dial *d)
{
	uv_close((uv_handle_t *)&d->timer, dial_closed);
	uv_close((uv_handle_t *)&d->ftimer, dial_closed);
}

static void feat_disarm(struct dial *d);

static void set_times(struct dial *d)
{
	char buf[32];
	time_t now = time(NULL);
	snprintf(buf, sizeof buf, "%ld", (long)(now - d->start));
	pbx_chan_var_set(d->caller, "DIALEDTIME", buf);
	if (d->winner) {
		snprintf(buf, sizeof buf, "%ld", (long)(now - d->answered));
		pbx_chan_var_set(d->caller, "ANSWEREDTIME", buf);
	}
}

/*
 * The dial is over: every leg still up is hung up with @p cause, the
 * variables are set and the script resumes with @p status (or exec
 * returns it). Nothing touches @p d after this but the timer's close.
 */
static void dial_end(struct dial *d, const char *status, int cause)
{
	d->ended = true;
	d->status = status;
	uv_timer_stop(&d->timer);
	feat_disarm(d);
	for (size_t i = 0; i < d->nlegs; i++)
		leg_hangup(&d->legs[i], cause);
	pbx_chan_var_set(d->caller, "DIALSTATUS", status);
	/* An unanswered caller hears why, as in Asterisk: when the script
	 * ends, the engine hangs up with this cause (486 for busy, ...). */
	if (d->caller->state != PBX_CHAN_UP && strcmp(status, "ANSWER") && strcmp(status, "CANCEL"))
		for (size_t i = 0; i < d->ncauses; i++)
			if (!strcmp(pbx_cause_dialstatus(d->causes[i]), status)) {
				d->caller->hangup_cause = d->causes[i];
				break;
			}
	set_times(d);
	/* After Dial the caller is in no bridge: what the script does next
	 * (playback, another Dial) starts from a channel of its own. One still
	 * bridged to someone was transferred there: not ours to break. */
	if (d->caller->bridge == d->bridge && !pbx_bridge_peer(d->caller))
		pbx_bridge_leave(d->caller);
	pbx_info("%s: Dial(%s) ends: %s", d->caller->name, d->str, status);
	/* A transferee's new call failed: the transfer decides where it goes,
	 * once the engine is done with this application (it may take the channel). */
	bool xfer_failed = d->caller->xfer && strcmp(status, "ANSWER") && strcmp(status, "CANCEL");
	struct pbx_chan *caller = d->caller;
	if (d->in_exec || d->cancelled) {
		if (xfer_failed)
			pbx_transfer_failed(caller, status);
		return;
	}
	struct pbx_app_call *call = d->call;
	dial_close(d);
	pbx_chan_ref(caller);
	pbx_app_finish(call, 0, status);
	if (xfer_failed)
		pbx_transfer_failed(caller, status);
	pbx_chan_unref(caller);
}

static void feat_arm(struct dial *d);
static void feat_dtmf(struct dial *d, int i, char digit);
static void xfer_complete(struct dial *d);
static void keep_consultation(struct dial *d);

static void ring_caller(struct dial *d)
{
	if (d->rang)
		return;
	d->rang = true;
	pbx_transfer_ringing(d->caller);
	/* An answered caller cannot be sent 180; the driver has no ring tone of its own yet. */
	if (d->caller->state != PBX_CHAN_UP)
		pbx_chan_indicate(d->caller, PBX_IND_RINGING);
}

static void early_media(struct dial *d, struct dial_leg *leg)
{
	if (d->early)
		return;
	if (!d->progressed && d->caller->state != PBX_CHAN_UP) {
		d->progressed = true;
		pbx_chan_indicate(d->caller, PBX_IND_PROGRESS);
	}
	int err = d->bridge ? 0 : pbx_bridge_alloc(&d->bridge);
	if (!err)
		err = pbx_bridge_join(d->bridge, d->caller);
	if (!err)
		err = pbx_bridge_join(d->bridge, leg->ch);
	if (err)
		pbx_warning("%s: Dial: early media of %s: %s", d->caller->name, leg->ch->name,
			    strerror(err));
	else
		d->early = leg->ch;
}

static void answered(struct dial *d, struct dial_leg *win)
{
	d->winner = win;
	d->answered = time(NULL);
	uv_timer_stop(&d->timer);
	struct pbx_chan *caller = d->caller, *callee = win->ch;
	/* Bridge before answering, so the first words of the callee are not
	 * clipped, and before the losers hang up: when another leg's early
	 * media was heard, the winner takes its place in the bridge (a swap:
	 * the caller's media stays joined throughout). */
	if (pbx_bridge_peer(caller) != callee) {
		int err = d->bridge ? 0 : pbx_bridge_alloc(&d->bridge);
		struct pbx_chan *early = pbx_bridge_peer(caller);
		if (!err && early && caller->bridge == d->bridge)
			err = pbx_bridge_swap(d->bridge, early, callee);
		else if (!err && !(err = pbx_bridge_join(d->bridge, caller)))
			err = pbx_bridge_join(d->bridge, callee);
		if (err)
			pbx_warning("%s: Dial: cannot bridge with %s: %s", caller->name,
				    callee->name, strerror(err));
	}
	for (size_t i = 0; i < d->nlegs; i++)
		if (&d->legs[i] != win)
			leg_hangup(&d->legs[i], PBX_CAUSE_ANSWERED_ELSEWHERE);
	d->early = NULL;
	if (caller->state != PBX_CHAN_UP) {
		int err = pbx_chan_answer(caller);
		if (err)
			pbx_warning("%s: Dial: cannot answer: %s", caller->name, strerror(err));
	}
	pbx_chan_var_set(caller, "DIALSTATUS", "ANSWER");
	pbx_chan_var_set(caller, "DIALEDPEERNAME", callee->name);
	pbx_chan_var_set(caller, "DIALEDPEERNUMBER", win->dest);
	pbx_info("%s: Dial: %s answered", caller->name, callee->name);
	pbx_transfer_answered(caller);
	feat_arm(d);
}

/* Another leg in early media takes over when the one the caller heard fails. */
static void early_media_next(struct dial *d)
{
	if (d->opts.ring)
		return;
	for (size_t i = 0; i < d->nlegs && !d->early; i++)
		if (d->legs[i].ch && d->legs[i].ch->state == PBX_CHAN_PROGRESS)
			early_media(d, &d->legs[i]);
}

static void leg_state(struct pbx_chan *ch, enum pbx_chan_state st, void *arg)
{
	struct dial_leg *leg = arg;
	struct dial *d = leg->d;
	if (d->ended || leg->ch != ch || d->winner)
		return;
	switch (st) {
	case PBX_CHAN_RINGING: ring_caller(d); break;
	case PBX_CHAN_PROGRESS:
		if (d->opts.ring)
			ring_caller(d);
		else
			early_media(d, leg);
		break;
	case PBX_CHAN_UP: answered(d, leg); break;
	default: break;
	}
}

static void leg_hungup(struct pbx_chan *ch, int cause, void *arg)
{
	struct dial_leg *leg = arg;
	struct dial *d = leg->d;
	if (d->ended || leg->ch != ch)
		return;
	leg->ch = NULL;
	pbx_chan_set_owner(ch, NULL, NULL);
	if (d->winner == leg && (d->xstate == X_TALK || d->xstate == X_RING) && d->xside == 1) {
		/* The callee hung up while it consulted the target: the transfer completes. */
		xfer_complete(d);
		pbx_chan_unref(ch);
		if (!d->ended)
			dial_end(d, "ANSWER", PBX_CAUSE_NORMAL);
		return;
	}
	if (d->winner == leg && d->xstate == X_TALK && d->xside == 0) {
		/* The held callee hung up while the caller consulted: those two talk on. */
		keep_consultation(d);
		pbx_chan_unref(ch);
		if (!d->ended)
			dial_end(d, "ANSWER", PBX_CAUSE_NORMAL);
		return;
	}
	if (d->winner == leg) {
		pbx_chan_unref(ch);
		/* The callee ended the call: Dial returns and the script goes on. */
		dial_end(d, "ANSWER", PBX_CAUSE_NORMAL);
		return;
	}
	pbx_debug("%s: Dial: leg %s gone, cause %d", d->caller->name, leg->dest, cause);
	cause_add(d, cause);
	if (d->early == ch) {
		/* The hangup took it out of the bridge; the caller waits there. */
		d->early = NULL;
		early_media_next(d);
	}
	pbx_chan_unref(ch);
	/* While exec still dials, a leg that failed at once must not end the others' chance. */
	if (!legs_alive(d) && !d->in_exec)
		dial_end(d, dial_status_of(d->causes, d->ncauses), PBX_CAUSE_NORMAL);
}

/* A transfer took the leg: forget it. A transferred callee ends the Dial as its hangup would. */
static void leg_released(struct pbx_chan *ch, void *arg)
{
	struct dial_leg *leg = arg;
	struct dial *d = leg->d;
	if (leg->ch != ch)
		return;
	leg->ch = NULL;
	if (d->early == ch)
		d->early = NULL;
	pbx_chan_unref(ch);
	if (d->ended)
		return;
	if (d->winner == leg) {
		dial_end(d, "ANSWER", PBX_CAUSE_NORMAL);
		return;
	}
	cause_add(d, PBX_CAUSE_ANSWERED_ELSEWHERE);
	if (!legs_alive(d) && !d->in_exec)
		dial_end(d, dial_status_of(d->causes, d->ncauses), PBX_CAUSE_NORMAL);
}

/* Picked up (INVITE with Replaces from another phone): that call answers in this leg's place. */
static void leg_replaced(struct pbx_chan *ch, struct pbx_chan *by, void *arg)
{
	struct dial_leg *leg = arg;
	struct dial *d = leg->d;
	if (leg->ch != ch || d->ended || d->winner || by->state != PBX_CHAN_UP)
		return;
	leg->ch = pbx_chan_ref(by);
	/* Taken: a channel that ran a dialplan (Pickup) is released by it. */
	pbx_chan_take(&by, 1, &leg_events, leg);
	if (d->early == ch)
		d->early = NULL;
	pbx_chan_set_owner(ch, NULL, NULL);
	pbx_chan_hangup(ch, PBX_CAUSE_ANSWERED_ELSEWHERE);
	pbx_chan_unref(ch);
	answered(d, leg);
}

static void leg_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	struct dial_leg *leg = arg;
	if (leg->d->winner == leg && leg->ch == ch)
		feat_dtmf(leg->d, 1, digit);
}

static const struct pbx_chan_events leg_events = {
	.state = leg_state,
	.hangup = leg_hungup,
	.dtmf = leg_dtmf,
	.released = leg_released,
	.replaced = leg_replaced,
};

static void timeout_tick(uv_timer_t *t)
{
	struct dial *d = t->data;
	if (!d->ended && !d->winner)
		dial_end(d, "NOANSWER", PBX_CAUSE_NO_ANSWER);
}

/* ---- feature codes: transfers by the parties of the answered call ------------------------ */

static void caller_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	feat_dtmf(arg, 0, digit);
}

static const struct pbx_chan_events caller_events = {
	.dtmf = caller_dtmf,
};

static void holds_set(struct dial *d, bool on)
{
	for (int i = 0; i < 2; i++)
		if (d->side[i].ch && d->side[i].may)
			(void)pbx_chan_dtmf_hold(d->side[i].ch, on);
}

static void prompt(struct pbx_chan *ch, const char *name)
{
	char path[APPS_PATH_MAX];
	if (ch->rtp && ch->state != PBX_CHAN_HUNGUP && !apps_sound_path(path, sizeof path, name))
		(void)pbx_rtp_play(ch->rtp, path);
}

static void feat_arm(struct dial *d)
{
	if (!d->opts.caller_transfer && !d->opts.callee_transfer)
		return;
	d->side[0] = (struct dial_side){pbx_chan_ref(d->caller), d->opts.caller_transfer, {{0}, 0}};
	d->side[1] =
		(struct dial_side){pbx_chan_ref(d->winner->ch), d->opts.callee_transfer, {{0}, 0}};
	d->armed = true;
	holds_set(d, true);
	/* The caller belongs to its dialplan: its keys reach Dial as the running app's. */
	if (d->side[0].may)
		pbx_chan_app_events(d->caller, &caller_events, d);
}

/* Hang up the consulted target, if any; we own it. */
static void target_drop(struct dial *d)
{
	struct pbx_chan *c = d->target;
	if (!c)
		return;
	d->target = NULL;
	pbx_chan_set_owner(c, NULL, NULL);
	pbx_chan_hangup(c, PBX_CAUSE_NORMAL);
	pbx_chan_unref(c);
}

/* The features end with the Dial or with a transfer that takes the parties. */
static void feat_disarm(struct dial *d)
{
	if (!d->armed)
		return;
	d->armed = false;
	uv_timer_stop(&d->ftimer);
	target_drop(d);
	if (d->xbridge) {
		/* A transferor that consulted when the Dial ended is left with no one. */
		for (int i = 0; i < 2; i++)
			if (d->side[i].ch && d->side[i].ch->bridge == d->xbridge)
				pbx_bridge_leave(d->side[i].ch);
		pbx_bridge_unref(d->xbridge);
		d->xbridge = NULL;
	}
	if (d->xstate != X_NONE)
		for (int i = 0; i < 2; i++)
			if (d->side[i].ch) {
				pbx_chan_moh_stop(d->side[i].ch);
				if (d->side[i].ch->rtp)
					pbx_rtp_tone_stop(d->side[i].ch->rtp);
			}
	d->xstate = X_NONE;
	holds_set(d, false);
	if (d->caller->app_ev == &caller_events)
		pbx_chan_app_events(d->caller, NULL, NULL);
	for (int i = 0; i < 2; i++)
		if (d->side[i].ch) {
			pbx_chan_unref(d->side[i].ch);
			d->side[i].ch = NULL;
		}
}

static void pass(struct pbx_chan *to, const char *keys)
{
	for (; to && *keys; keys++)
		(void)pbx_chan_send_dtmf(to, *keys, 100);
}

/* The transfer is over (aborted, failed): the transferor is back with the held party. */
static void back_to_call(struct dial *d)
{
	struct pbx_chan *t = d->side[d->xside].ch, *e = d->side[!d->xside].ch;
	uv_timer_stop(&d->ftimer);
	d->xstate = X_NONE;
	target_drop(d);
	memset(&d->side[d->xside].m, 0, sizeof d->side[d->xside].m);
	if (t->rtp)
		pbx_rtp_tone_stop(t->rtp);
	if (t->bridge != d->bridge) {
		int err = pbx_bridge_join(d->bridge, t);
		if (err)
			pbx_warning("%s: Dial: back to %s: %s", t->name, e->name, strerror(err));
	}
	if (d->xbridge) {
		pbx_bridge_unref(d->xbridge);
		d->xbridge = NULL;
	}
	pbx_chan_moh_stop(e);
	pbx_notice("%s: Dial: transfer abandoned, back to %s", t->name, e->name);
}

static void invalid(struct dial *d)
{
	struct pbx_chan *t = d->side[d->xside].ch;
	back_to_call(d);
	prompt(t, "vm-invalid");
}

static void ftimer_tick(uv_timer_t *h);

static void ftimer_start(struct dial *d, uint64_t ms)
{
	uv_timer_start(&d->ftimer, ftimer_tick, ms, 0);
}

static void xfer_start(struct dial *d, int i, bool attended)
{
	struct pbx_chan *t = d->side[i].ch, *e = d->side[!i].ch;
	d->xstate = X_COLLECT;
	d->xattended = attended;
	d->xside = i;
	d->xdigits[0] = '\0';
	pbx_notice("%s: Dial: %s transfer of %s", t->name, attended ? "attended" : "blind",
		   e->name);
	(void)pbx_chan_moh_start(e, pbx_chan_var_get(t, "MUSICCLASS"));
	prompt(t, "beep");
	/* The first key may come after the beep (about half a second). */
	ftimer_start(d, (uint64_t)feat_cfg()->digit_timeout + 1000);
}

static void target_state(struct pbx_chan *ch, enum pbx_chan_state st, void *arg)
{
	struct dial *d = arg;
	if (d->target != ch || d->xstate != X_RING || st != PBX_CHAN_UP)
		return;
	struct pbx_chan *t = d->side[d->xside].ch;
	uv_timer_stop(&d->ftimer);
	if (t->rtp)
		pbx_rtp_tone_stop(t->rtp);
	int err = pbx_bridge_alloc(&d->xbridge);
	if (!err)
		err = pbx_bridge_join(d->xbridge, t);
	if (!err)
		err = pbx_bridge_join(d->xbridge, ch);
	if (err) {
		pbx_warning("%s: Dial: cannot bridge with %s: %s", t->name, ch->name,
			    strerror(err));
		back_to_call(d);
		return;
	}
	d->xstate = X_TALK;
	pbx_notice("%s: Dial: talks to %s; hang up to transfer", t->name, ch->name);
}

static void target_gone(struct dial *d, struct pbx_chan *ch)
{
	if (d->target != ch)
		return;
	d->target = NULL;
	pbx_chan_unref(ch);
	if (d->xstate == X_RING || d->xstate == X_TALK)
		back_to_call(d);
}

static void target_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	target_gone(arg, ch);
}

static void target_released(struct pbx_chan *ch, void *arg)
{
	target_gone(arg, ch);
}

static const struct pbx_chan_events target_events = {
	.state = target_state,
	.hangup = target_hangup,
	.released = target_released,
};

/* The target number is complete ('#' or a pause). */
static void collect_done(struct dial *d)
{
	struct pbx_chan *t = d->side[d->xside].ch;
	char ctx[sizeof t->context];
	uv_timer_stop(&d->ftimer);
	pbx_transfer_context(t, d->caller->context, ctx, sizeof ctx);
	if (!*d->xdigits || !pbx_dialplan_exists(ctx, d->xdigits)) {
		pbx_notice("%s: Dial: transfer to \"%s\"@%s: no such extension", t->name,
			   d->xdigits, ctx);
		invalid(d);
		return;
	}
	if (!d->xattended) {
		/* The transfer takes both parties: the Dial ends through their owners' events. */
		holds_set(d, false);
		int err = pbx_transfer_blind(t, ctx, d->xdigits, NULL, NULL);
		if (err && !d->ended) {
			pbx_warning("%s: Dial: blind transfer to %s@%s: %s", t->name, d->xdigits,
				    ctx, strerror(err));
			holds_set(d, true);
			invalid(d);
		}
		return;
	}
	/* Attended: a call of our own to the target, as Dial makes one. */
	struct pbx_chan *out = NULL;
	int err = t->tech->request(&out, d->xdigits, t);
	if (!err) {
		d->target = pbx_chan_ref(out);
		pbx_chan_set_owner(out, &target_events, d);
		err = pbx_chan_call(out, ATT_RING_S);
	}
	if (err) {
		pbx_notice("%s: Dial: cannot call %s: %s", t->name, d->xdigits, strerror(err));
		invalid(d);
		return;
	}
	if (d->xstate != X_COLLECT || !d->target)
		return; /* failed at once: back already */
	d->xstate = X_RING;
	pbx_bridge_leave(t); /* the held party stays in the call's bridge, with its music */
	if (t->rtp)
		(void)pbx_rtp_tone(t->rtp, &pbx_tone_ringback);
	ftimer_start(d, ATT_RING_S * 1000);
}

static void ftimer_tick(uv_timer_t *h)
{
	struct dial *d = h->data;
	char out[FEAT_CODE_MAX + 2];
	if (d->ended || !d->armed)
		return;
	switch (d->xstate) {
	case X_NONE:
		for (int i = 0; i < 2; i++) {
			feat_match_flush(&d->side[i].m, out);
			pass(d->side[!i].ch, out);
		}
		break;
	case X_COLLECT: collect_done(d); break;
	case X_RING:
		pbx_notice("%s: Dial: transfer target does not answer", d->side[d->xside].ch->name);
		back_to_call(d);
		break;
	case X_TALK:
		feat_match_flush(&d->side[d->xside].m, out);
		pass(d->target, out);
		break;
	}
}

static void feat_dtmf(struct dial *d, int i, char digit)
{
	const struct feat_cfg *cfg = feat_cfg();
	struct dial_side *s = &d->side[i];
	char out[FEAT_CODE_MAX + 2];
	int which;
	if (d->ended || !d->armed || !s->may || !s->ch)
		return; /* not held: the core passed it on already */
	if (d->xstate == X_NONE) {
		const char *const codes[] = {cfg->blind, cfg->attended};
		enum feat_result r = feat_match_digit(&s->m, codes, 2, digit, &which, out);
		pass(d->side[!i].ch, out);
		if (r == FEAT_MATCH)
			xfer_start(d, i, which == 1);
		else if (r == FEAT_HOLD)
			ftimer_start(d, (uint64_t)cfg->digit_timeout);
		return;
	}
	if (i != d->xside)
		return; /* the held party's keys go nowhere */
	if (d->xstate == X_COLLECT) {
		if (digit == '#' && *d->xdigits) {
			collect_done(d);
			return;
		}
		size_t n = strlen(d->xdigits);
		if (digit != '#' && n + 1 < sizeof d->xdigits) {
			d->xdigits[n] = digit;
			d->xdigits[n + 1] = '\0';
		}
		ftimer_start(d, (uint64_t)cfg->digit_timeout);
		return;
	}
	const char *const codes[] = {cfg->abort};
	enum feat_result r = feat_match_digit(&s->m, codes, 1, digit, &which, out);
	if (d->xstate == X_TALK)
		pass(d->target, out);
	if (r == FEAT_MATCH)
		back_to_call(d);
	else if (r == FEAT_HOLD && d->xstate == X_TALK)
		ftimer_start(d, (uint64_t)cfg->digit_timeout);
}

/* The held party hung up while the transferor talked to the target: those two go on, as a pair. */
static void keep_consultation(struct dial *d)
{
	struct pbx_chan *t = d->side[d->xside].ch, *c = d->target;
	uv_timer_stop(&d->ftimer);
	d->xstate = X_NONE;
	d->target = NULL; /* the join takes it: its released event finds it not ours */
	holds_set(d, false);
	if (d->xbridge) {
		pbx_bridge_unref(d->xbridge);
		d->xbridge = NULL;
	}
	pbx_chan_ref(t);
	pbx_notice("%s: Dial: the held party left; %s talks on with %s", t->name, t->name, c->name);
	int err = pbx_transfer_join(t, c);
	if (err)
		pbx_warning("%s: Dial: cannot stay with %s: %s", t->name, c->name, strerror(err));
	pbx_chan_unref(t);
	pbx_chan_unref(c);
}

/*
 * The transferor hung up while it talked to the target, or while the
 * target still rang: the held party and the target meet (at the answer).
 */
static void xfer_complete(struct dial *d)
{
	struct pbx_chan *e = d->side[!d->xside].ch, *c = d->target;
	bool ringing = d->xstate == X_RING;
	uv_timer_stop(&d->ftimer);
	d->xstate = X_NONE;
	d->target = NULL; /* the join takes it: its released event finds it not ours */
	holds_set(d, false);
	pbx_chan_ref(e);
	pbx_notice("%s: Dial: attended transfer: %s joins %s", d->side[d->xside].ch->name, c->name,
		   e->name);
	int err = ringing ? pbx_transfer_join_ringing(e, c) : pbx_transfer_join(e, c);
	if (err)
		pbx_warning("%s: Dial: transfer to %s failed: %s", e->name, c->name, strerror(err));
	pbx_chan_unref(e);
	pbx_chan_unref(c);
}

/* ---- the application ------------------------------------------------------------------- */

static void dial_target(struct dial *d, const struct dial_target *t, int timeout_s)
{
	struct pbx_chan *caller = d->caller, *out = NULL;
	if (!t->tech) {
		pbx_warning("%s: Dial: \"%s\" is not TECH/destination", caller->name, t->item);
		cause_add(d, PBX_CAUSE_UNAVAILABLE);
		return;
	}
	const struct pbx_chan_tech *tech = pbx_chan_tech_find(t->tech, t->tech_len);
	if (!tech) {
		pbx_warning("%s: Dial: no channel technology \"%.*s\" for \"%s\"", caller->name,
			    (int)t->tech_len, t->tech, t->item);
		cause_add(d, PBX_CAUSE_UNAVAILABLE);
		return;
	}
	int err = tech->request(&out, t->dest, caller);
	if (err) {
		/* No contacts is an everyday event (phone off); anything else earns a warning. */
		pbx_log(err == ENOENT ? PBX_LOG_NOTICE : PBX_LOG_WARNING,
			"%s: Dial: cannot call %s: %s", caller->name, t->item,
			err == ENOENT ? "unavailable" : strerror(err));
		cause_add(d, PBX_CAUSE_UNAVAILABLE);
		return;
	}
	struct dial_leg *leg = &d->legs[d->nlegs++];
	leg->d = d;
	leg->ch = pbx_chan_ref(out);
	leg->dest = t->dest;
	pbx_chan_set_owner(out, &leg_events, leg);
	err = pbx_chan_call(out, timeout_s);
	if (err) {
		pbx_warning("%s: Dial: calling %s failed: %s", caller->name, t->item,
			    strerror(err));
		if (leg->ch) { /* not already reported gone by the driver */
			leg_hangup(leg, PBX_CAUSE_FAILURE);
			cause_add(d, PBX_CAUSE_UNAVAILABLE);
		}
	}
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct dial *d = calloc(1, sizeof *d);
	if (!d || !(d->str = strdup(argv[0])) || !(d->buf = strdup(argv[0]))) {
		if (d)
			free(d->str);
		free(d);
		pbx_app_error(call, "Dial: out of memory");
		return ENOMEM;
	}
	d->call = call;
	d->caller = ch;
	d->start = time(NULL);
	d->in_exec = true;
	dial_opts_parse(argv[2], &d->opts);
	double timeout = *argv[1] ? strtod(argv[1], NULL) : 0;
	if (!(timeout > 0) || isnan(timeout))
		timeout = 0;
	else if (timeout > DIAL_MAX_TIMEOUT_S)
		timeout = DIAL_MAX_TIMEOUT_S;
	uv_timer_init(pbx_loop(), &d->timer);
	d->timer.data = d;
	uv_timer_init(pbx_loop(), &d->ftimer);
	d->ftimer.data = d;
	d->handles = 2;
	pbx_chan_var_set(ch, "DIALSTATUS", "");

	struct dial_target targets[DIAL_MAX_TARGETS];
	bool truncated = false;
	size_t n = dial_targets_parse(d->buf, targets, DIAL_MAX_TARGETS, &truncated);
	if (truncated)
		pbx_warning("%s: Dial: more than %d targets, the rest are ignored", ch->name,
			    DIAL_MAX_TARGETS);
	if (!n)
		pbx_warning("%s: Dial: no target in \"%s\"", ch->name, argv[0]);
	for (size_t i = 0; i < n && !d->ended; i++)
		dial_target(d, &targets[i], (int)ceil(timeout));
	if (!d->ended && !d->winner && legs_alive(d) && d->opts.ring)
		ring_caller(d);
	if (!d->ended && !legs_alive(d))
		dial_end(d, dial_status_of(d->causes, d->ncauses), PBX_CAUSE_NORMAL);
	d->in_exec = false;
	if (d->ended) {
		pbx_app_set_result(call, d->status);
		dial_close(d);
		return 0;
	}
	if (timeout > 0 && !d->winner)
		uv_timer_start(&d->timer, timeout_tick, (uint64_t)llround(timeout * 1000.0), 0);
	pbx_app_set_data(call, d);
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct dial *d = pbx_app_data(call);
	/* The caller hung up: BYE to an answered callee, CANCEL to every ringing one. */
	bool up = d->winner != NULL;
	d->cancelled = true;
	/* The caller hung up while it consulted the target: the transfer completes.
	 * The held caller hung up while the callee consulted: those two talk on. */
	if ((d->xstate == X_TALK || d->xstate == X_RING) && d->xside == 0)
		xfer_complete(d);
	else if (d->xstate == X_TALK && d->xside == 1)
		keep_consultation(d);
	if (!d->ended)
		dial_end(d, up ? "ANSWER" : "CANCEL", up ? PBX_CAUSE_NORMAL : PBX_CAUSE_CANCEL);
	dial_close(d);
}

static const struct pbx_app app = {
	.name = "dial",
	.synopsis = "Call targets (SIP/1001&SIP/1002), first answer wins; DIALSTATUS",
	.args = args,
	.exec = exec,
	.cancel = cancel,
	.takes_no_call = true,
};

APPS_MODULE(dial);
