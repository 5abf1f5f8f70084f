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
#include "pbx/log.h"
#include "pbx/module.h"
#include "pbx/transfer.h"

#include "apps.h"

/* Longer than anyone lets a phone ring; keeps the ms value in range. */
#define DIAL_MAX_TIMEOUT_S 86400.0

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

struct dial {
	uv_timer_t timer;
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
	pbx_bridge_unref(d->bridge);
	free(d->str);
	free(d->buf);
	free(d);
}

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
	uv_close((uv_handle_t *)&d->timer, dial_closed);
	pbx_chan_ref(caller);
	pbx_app_finish(call, 0, status);
	if (xfer_failed)
		pbx_transfer_failed(caller, status);
	pbx_chan_unref(caller);
}

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

static const struct pbx_chan_events leg_events = {
	.state = leg_state,
	.hangup = leg_hungup,
	.released = leg_released,
};

static void timeout_tick(uv_timer_t *t)
{
	struct dial *d = t->data;
	if (!d->ended && !d->winner)
		dial_end(d, "NOANSWER", PBX_CAUSE_NO_ANSWER);
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
		uv_close((uv_handle_t *)&d->timer, dial_closed);
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
	dial_end(d, up ? "ANSWER" : "CANCEL", up ? PBX_CAUSE_NORMAL : PBX_CAUSE_CANCEL);
	uv_close((uv_handle_t *)&d->timer, dial_closed);
}

static const struct pbx_app app = {
	.name = "dial",
	.synopsis = "Call targets (SIP/1001&SIP/1002), first answer wins; DIALSTATUS",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(dial);
