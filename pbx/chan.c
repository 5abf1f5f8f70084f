/**
 * @file chan.c  Channels: registry of drivers, lifecycle, events, variables
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The core knows no protocol: drivers report what happened through the
 * pbx_chan_remote_* calls and the core routes it to the channel's owner
 * (the dialplan, or the dial application for an outgoing leg), and to the
 * running application for DTMF and media events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core_priv.h"
#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/devstate.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/vars.h"
#include "pbx/media.h"

#define MAX_TECHS 8

static const struct pbx_chan_tech *techs[MAX_TECHS];
static const struct pbx_dialplan_ops *dialplan;
static struct pbx_chan *all_head;
static uint32_t last_id;
static unsigned live; /* channels not yet hung up */

int pbx_chan_tech_register(const struct pbx_chan_tech *tech)
{
	for (int i = 0; i < MAX_TECHS; i++)
		if (!techs[i]) {
			techs[i] = tech;
			return 0;
		}
	return ENOSPC;
}

void pbx_chan_tech_unregister(const struct pbx_chan_tech *tech)
{
	for (int i = 0; i < MAX_TECHS; i++)
		if (techs[i] == tech)
			techs[i] = NULL;
}

const struct pbx_chan_tech *pbx_chan_tech_find(const char *name, size_t len)
{
	for (int i = 0; i < MAX_TECHS; i++) {
		const struct pbx_chan_tech *t = techs[i];
		if (!t)
			continue;
		if ((strlen(t->name) == len && !strncasecmp(t->name, name, len)) ||
		    (t->alias && strlen(t->alias) == len && !strncasecmp(t->alias, name, len)))
			return t;
	}
	return NULL;
}

int pbx_chan_alloc(struct pbx_chan **chp, const struct pbx_chan_tech *tech, const char *peer,
		   bool outgoing)
{
	struct pbx_chan *ch = calloc(1, sizeof *ch);
	if (!ch)
		return ENOMEM;
	ch->id = ++last_id ? last_id : ++last_id;
	snprintf(ch->name, sizeof ch->name, "%s/%s-%08x", tech->name, peer, ch->id);
	ch->tech = tech;
	ch->outgoing = outgoing;
	ch->state = PBX_CHAN_DOWN;
	ch->refs = 1;
	ch->created = time(NULL);
	snprintf(ch->context, sizeof ch->context, "default");
	ch->next = all_head;
	if (all_head)
		all_head->prev = ch;
	all_head = ch;
	live++;
	*chp = ch;
	return 0;
}

struct pbx_chan *pbx_chan_ref(struct pbx_chan *ch)
{
	ch->refs++;
	return ch;
}

void pbx_chan_unref(struct pbx_chan *ch)
{
	if (!ch || --ch->refs)
		return;
	if (ch->state != PBX_CHAN_HUNGUP)
		live--; /* dropped without a hangup: a driver bug, but keep the count right */
	pbx_chan_moh_stop(ch);
	if (ch->tech->destroy)
		ch->tech->destroy(ch);
	pbx_vars_clear(&ch->vars);
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		all_head = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	free(ch);
}

struct pbx_chan *pbx_chan_find(uint32_t id)
{
	/* Linear in live channels; only the console looks channels up. */
	for (struct pbx_chan *ch = all_head; ch; ch = ch->next)
		if (ch->id == id && ch->state != PBX_CHAN_HUNGUP)
			return ch;
	return NULL;
}

struct pbx_chan *pbx_chan_find_name(const char *name)
{
	for (struct pbx_chan *ch = all_head; ch; ch = ch->next)
		if (!strcasecmp(ch->name, name) && ch->state != PBX_CHAN_HUNGUP)
			return ch;
	return NULL;
}

/* ---- events -------------------------------------------------------------------- */

static const struct pbx_chan_events *evs_for(struct pbx_chan *ch, void **arg)
{
	if (ch->app_ev) {
		*arg = ch->app_ev_arg;
		return ch->app_ev;
	}
	*arg = ch->ev_arg;
	return ch->ev;
}

void pbx_chan_set_state(struct pbx_chan *ch, enum pbx_chan_state st)
{
	void *arg;
	if (ch->state == PBX_CHAN_HUNGUP || ch->state == st)
		return;
	ch->state = st;
	if (st == PBX_CHAN_UP && !ch->answered)
		ch->answered = time(NULL);
	pbx_devstate_chan_changed(ch);
	pbx_chan_ref(ch);
	const struct pbx_chan_events *ev = evs_for(ch, &arg);
	if (ev && ev->state)
		ev->state(ch, st, arg);
	/* The owner sees it too when an app took the events (dial watches state). */
	if (ch->app_ev && ch->ev && ch->ev->state && ch->ev != ev)
		ch->ev->state(ch, st, ch->ev_arg);
	pbx_chan_unref(ch);
}

static void gone(struct pbx_chan *ch, int cause)
{
	char num[16];
	ch->state = PBX_CHAN_HUNGUP;
	live--;
	pbx_devstate_chan_changed(ch);
	ch->hangup_cause = cause;
	snprintf(num, sizeof num, "%d", cause);
	pbx_chan_var_set(ch, "HANGUPCAUSE", num);
	/* Our own reference first: the bridge's may be the last one. */
	pbx_chan_ref(ch);
	pbx_chan_moh_stop(ch);
	pbx_bridge_leave(ch);
	if (ch->xfer)
		pbx__transfer_chan_gone(ch);
	ch->app_ev = NULL;
	const struct pbx_chan_events *ev = ch->ev;
	ch->ev = NULL; /* no event after hangup */
	if (ev && ev->hangup)
		ev->hangup(ch, cause, ch->ev_arg);
	pbx_chan_unref(ch);
}

void pbx_chan_remote_hangup(struct pbx_chan *ch, int cause)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return;
	pbx_debug("%s: hung up by the far end (cause %d)", ch->name, cause);
	gone(ch, cause);
}

void pbx_chan_hangup(struct pbx_chan *ch, int cause)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return;
	pbx_debug("%s: hanging up (cause %d)", ch->name, cause);
	pbx_chan_ref(ch);
	ch->tech->hangup(ch, cause);
	if (ch->state != PBX_CHAN_HUNGUP) /* the driver may have reported it already */
		gone(ch, cause);
	pbx_chan_unref(ch);
}

/* Pass a digit across the bridge unless the media engine relayed it already. */
static void dtmf_to_peer(struct pbx_chan *ch, char digit, bool signalled)
{
	struct pbx_chan *peer = pbx_bridge_peer(ch);
	if (!peer || peer->state == PBX_CHAN_HUNGUP)
		return;
	const struct pbx_rtp_params *mine = ch->rtp ? pbx_rtp_get_params(ch->rtp) : NULL;
	const struct pbx_rtp_params *theirs = peer->rtp ? pbx_rtp_get_params(peer->rtp) : NULL;
	/* A leg without params yet (no SDP) has no telephone-event either. */
	if (!signalled && mine && theirs && mine->dtmf_pt && theirs->dtmf_pt)
		return;
	pbx_chan_send_dtmf(peer, digit, 100);
}

static void dtmf_in(struct pbx_chan *ch, char digit, bool signalled)
{
	void *arg;
	if (ch->state == PBX_CHAN_HUNGUP)
		return;
	pbx_debug("%s: DTMF '%c' (%s)", ch->name, digit, signalled ? "signalling" : "media");
	pbx_chan_ref(ch);
	const struct pbx_chan_events *ev = evs_for(ch, &arg);
	if (ev && ev->dtmf)
		ev->dtmf(ch, digit, arg);
	if (ch->state != PBX_CHAN_HUNGUP && !ch->dtmf_held)
		dtmf_to_peer(ch, digit, signalled);
	pbx_chan_unref(ch);
}

void pbx_chan_remote_dtmf(struct pbx_chan *ch, char digit)
{
	dtmf_in(ch, digit, false);
}

void pbx_chan_remote_dtmf_signalled(struct pbx_chan *ch, char digit)
{
	dtmf_in(ch, digit, true);
}

void pbx_chan_remote_media_dir(struct pbx_chan *ch, enum pbx_media_dir dir)
{
	bool holds = dir == PBX_DIR_SENDONLY || dir == PBX_DIR_INACTIVE;
	if (holds != ch->held && ch->state != PBX_CHAN_HUNGUP) {
		ch->held = holds;
		pbx_devstate_chan_changed(ch);
	}
	struct pbx_chan *peer = pbx_bridge_peer(ch);
	if (!peer || peer->state == PBX_CHAN_HUNGUP)
		return;
	bool held = dir == PBX_DIR_SENDONLY || dir == PBX_DIR_INACTIVE;
	/* Music replaces what the holding phone still sends; we only send then. */
	if (held && !pbx_chan_moh_start(peer, pbx_chan_var_get(ch, "MUSICCLASS")))
		dir = PBX_DIR_SENDONLY;
	else if (!held)
		pbx_chan_moh_stop(peer);
	if (peer->tech->peer_media_changed)
		peer->tech->peer_media_changed(peer, dir);
}

void pbx_chan_media_done(struct pbx_chan *ch, int err)
{
	void *arg;
	if (ch->state == PBX_CHAN_HUNGUP)
		return;
	const struct pbx_chan_events *ev = evs_for(ch, &arg);
	if (ev && ev->media_done)
		ev->media_done(ch, err, arg);
}

void pbx_chan_record_done(struct pbx_chan *ch, int why, int err, unsigned ms)
{
	void *arg;
	if (ch->state == PBX_CHAN_HUNGUP)
		return;
	const struct pbx_chan_events *ev = evs_for(ch, &arg);
	if (ev && ev->record_done)
		ev->record_done(ch, why, err, ms, arg);
}

void pbx_chan_transfer_done(struct pbx_chan *ch, int code)
{
	void *arg;
	if (ch->state == PBX_CHAN_HUNGUP)
		return;
	const struct pbx_chan_events *ev = evs_for(ch, &arg);
	if (ev && ev->transfer_done)
		ev->transfer_done(ch, code, arg);
}

void pbx_chan_set_owner(struct pbx_chan *ch, const struct pbx_chan_events *ev, void *arg)
{
	ch->ev = ev;
	ch->ev_arg = arg;
}

void pbx_chan_app_events(struct pbx_chan *ch, const struct pbx_chan_events *ev, void *arg)
{
	ch->app_ev = ev;
	ch->app_ev_arg = arg;
}

#define TAKE_MAX 4 /* an attended transfer takes four legs at once */

void pbx_chan_take(struct pbx_chan *const *chs, size_t n, const struct pbx_chan_events *ev,
		   void *arg)
{
	const struct pbx_chan_events *old[TAKE_MAX];
	void *old_arg[TAKE_MAX];
	if (n > TAKE_MAX)
		n = TAKE_MAX;
	for (size_t i = 0; i < n; i++) {
		pbx_chan_ref(chs[i]);
		old[i] = chs[i]->ev;
		old_arg[i] = chs[i]->ev_arg;
		chs[i]->ev = ev;
		chs[i]->ev_arg = arg;
	}
	for (size_t i = 0; i < n; i++) {
		if (old[i] && old[i]->released && !(old[i] == ev && old_arg[i] == arg))
			old[i]->released(chs[i], old_arg[i]);
		pbx_chan_unref(chs[i]);
	}
}

int pbx_chan_redirect(struct pbx_chan *ch, const char *context, const char *exten)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (!pbx_dialplan_exists(context, exten))
		return ENOENT;
	char ctx[sizeof ch->context], ext[sizeof ch->exten];
	snprintf(ctx, sizeof ctx, "%s", context); /* may point into the channel */
	snprintf(ext, sizeof ext, "%s", exten);
	pbx_chan_ref(ch);
	pbx_chan_take(&ch, 1, NULL, NULL);
	pbx_chan_moh_stop(ch);
	pbx_bridge_leave(ch);
	int err = ch->state == PBX_CHAN_HUNGUP ? ENOTCONN : pbx_dialplan_run(ch, ctx, ext);
	if (err && ch->state != PBX_CHAN_HUNGUP) {
		pbx_warning("%s: redirect to %s@%s failed: %s", ch->name, ext, ctx, strerror(err));
		pbx_chan_hangup(ch, PBX_CAUSE_FAILURE);
	}
	pbx_chan_unref(ch);
	return err;
}

void pbx_chan_party(const struct pbx_chan *ch, const char **num, const char **name)
{
	*num = ch->outgoing ? ch->exten : ch->caller_num;
	*name = ch->outgoing ? "" : ch->caller_name;
}

/* ---- commands to the driver --------------------------------------------------------- */

int pbx_chan_call(struct pbx_chan *ch, int timeout_s)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	return ch->tech->call(ch, timeout_s);
}

int pbx_chan_answer(struct pbx_chan *ch)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (ch->state == PBX_CHAN_UP)
		return 0;
	return ch->tech->answer(ch);
}

int pbx_chan_indicate(struct pbx_chan *ch, enum pbx_indication ind)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	return ch->tech->indicate ? ch->tech->indicate(ch, ind) : ENOTSUP;
}

int pbx_chan_send_dtmf(struct pbx_chan *ch, char digit, int duration_ms)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	return ch->tech->send_dtmf ? ch->tech->send_dtmf(ch, digit, duration_ms) : ENOTSUP;
}

int pbx_chan_send_text(struct pbx_chan *ch, const char *type, const void *body, size_t len,
		       pbx_chan_text_done_h *done, void *arg)
{
	if (ch->state != PBX_CHAN_UP)
		return ENOTCONN;
	if (!ch->tech->send_text)
		return ENOTSUP;
	return ch->tech->send_text(ch, type, body, len, done, arg);
}

int pbx_chan_remote_text(struct pbx_chan *ch, const char *type, const void *body, size_t len,
			 pbx_chan_text_done_h *done, void *arg)
{
	if (ch->state != PBX_CHAN_UP)
		return ENOTCONN;
	/* The bridge's other member; a conference has none (mixing bridges
	 * have no peer), so a text in a conference call goes nowhere. */
	struct pbx_chan *peer = pbx_bridge_peer(ch);
	if (!peer)
		return ENOTCONN;
	int err = pbx_chan_send_text(peer, type, body, len, done, arg);
	if (err)
		pbx_info("%s: text (%s, %zu bytes) not relayed to %s: %s", ch->name, type, len,
			 peer->name, strerror(err));
	else
		pbx_info("%s: text (%s, %zu bytes) relayed to %s", ch->name, type, len, peer->name);
	return err;
}

int pbx_chan_dtmf_hold(struct pbx_chan *ch, bool on)
{
	ch->dtmf_held = on;
	/* The engine's relay is the fast path of keys between two legs that
	 * both speak telephone-event; it has to stop too, or the held keys
	 * would reach the peer anyway. */
	return ch->rtp && ch->state != PBX_CHAN_HUNGUP ? pbx_rtp_set_dtmf_relay(ch->rtp, !on) : 0;
}

bool pbx_chan_media_encrypted(const struct pbx_chan *ch)
{
	/* The media engine keeps the parameters it was given last, on this
	 * thread: no round trip to the worker. */
	return ch->rtp && pbx_rtp_is_srtp(ch->rtp, NULL);
}

/* ---- variables ------------------------------------------------------------------------- */

const char *pbx_chan_var_get(struct pbx_chan *ch, const char *name)
{
	return pbx_vars_get(ch->vars, name);
}

int pbx_chan_var_set(struct pbx_chan *ch, const char *name, const char *value)
{
	return pbx_vars_set(&ch->vars, name, value);
}

void pbx_chan_var_each(struct pbx_chan *ch, pbx_chan_var_each_h *fn, void *arg)
{
	for (struct pbx_var *v = ch->vars; v; v = v->next)
		if (fn(v->name, v->value, arg))
			return;
}

/* ---- lists, names ----------------------------------------------------------------------- */

unsigned pbx_chan_count(void)
{
	return live;
}

void pbx_chan_each(pbx_chan_each_h *fn, void *arg)
{
	/* A referenced snapshot: the callback may hang up or free any channel. */
	size_t n = 0, i = 0;
	for (struct pbx_chan *ch = all_head; ch; ch = ch->next)
		n++;
	struct pbx_chan **snap = malloc((n ? n : 1) * sizeof *snap);
	if (!snap)
		return;
	for (struct pbx_chan *ch = all_head; ch; ch = ch->next)
		snap[i++] = pbx_chan_ref(ch);
	bool stop = false;
	for (i = 0; i < n; i++) {
		if (!stop && snap[i]->state != PBX_CHAN_HUNGUP)
			stop = fn(snap[i], arg) != 0;
		pbx_chan_unref(snap[i]);
	}
	free(snap);
}

const char *pbx_chan_state_name(enum pbx_chan_state st)
{
	static const char *const names[] = {"Down",     "Ring", "Dialing", "Ringing",
					    "Progress", "Up",   "Hungup"};
	return (unsigned)st < sizeof names / sizeof *names ? names[st] : "?";
}

const char *pbx_cause_dialstatus(int cause)
{
	switch (cause) {
	case PBX_CAUSE_NORMAL: return "ANSWER";
	case PBX_CAUSE_BUSY: return "BUSY";
	case PBX_CAUSE_NO_ANSWER:
	case PBX_CAUSE_NO_USER_RESPONSE: return "NOANSWER";
	case PBX_CAUSE_CONGESTION: return "CONGESTION";
	case PBX_CAUSE_CANCEL: return "CANCEL";
	default: return "CHANUNAVAIL";
	}
}

/* ---- dialplan -------------------------------------------------------------------------- */

int pbx_dialplan_register(const struct pbx_dialplan_ops *ops)
{
	if (dialplan)
		return EEXIST;
	dialplan = ops;
	return 0;
}

void pbx_dialplan_unregister(const struct pbx_dialplan_ops *ops)
{
	if (dialplan == ops)
		dialplan = NULL;
}

int pbx_chan_start_pbx(struct pbx_chan *ch)
{
	if (pbx_stopping())
		return EBUSY; /* stopping gracefully: no new calls */
	if (!dialplan)
		return ENOENT;
	return dialplan->start(ch);
}

int pbx_dialplan_run(struct pbx_chan *ch, const char *context, const char *exten)
{
	if (!dialplan)
		return ENOENT;
	/* The caller may pass the channel's own fields: copying onto itself is undefined. */
	if (context != ch->context)
		snprintf(ch->context, sizeof ch->context, "%s", context);
	if (exten != ch->exten)
		snprintf(ch->exten, sizeof ch->exten, "%s", exten);
	return dialplan->start(ch);
}

bool pbx_dialplan_exists(const char *context, const char *exten)
{
	return dialplan && dialplan->exists && dialplan->exists(context, exten);
}

int pbx_dialplan_message(struct pbx_im *im, const char *context, const char *exten,
			 pbx_dialplan_im_done_h *done, void *arg)
{
	if (!dialplan || !dialplan->message)
		return ENOENT;
	return dialplan->message(im, context, exten, done, arg);
}

const char *pbx_dialplan_hint(const char *context, const char *exten)
{
	return dialplan && dialplan->hint ? dialplan->hint(context, exten) : NULL;
}

void pbx_dialplan_each_hint(void (*fn)(const char *context, const char *exten, const char *device,
				       void *arg),
			    void *arg)
{
	if (dialplan && dialplan->each_hint)
		dialplan->each_hint(fn, arg);
}

static int hangup_one(struct pbx_chan *ch, void *arg)
{
	pbx_chan_hangup(ch, *(int *)arg);
	return 0;
}

void pbx__chan_hangup_all(int cause)
{
	pbx_chan_each(hangup_one, &cause);
}
