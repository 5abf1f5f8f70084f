/**
 * @file sip_hint_events.c  Event packages of hinted extensions: dialog (BLF, RFC 4235), presence (PIDF)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A phone's BLF key subscribes to an extension (Event: dialog), a buddy
 * list to a user (Event: presence); the dialplan's hint for it, as the
 * subscriber's context sees it, names the devices whose state is shown
 * (pbx/devstate.h). Every NOTIFY holds the full state:
 *
 *  - dialog: no dialog (idle, or not registered), an early dialog (it
 *    rings: the lamp blinks) or a confirmed one (in use, or on hold);
 *  - presence (RFC 3863 PIDF): what the watched user's phones PUBLISH
 *    (sip_publish.h) combined with the devices' state, see presence_body.
 *
 * The core's device watcher NOTIFYs the subscriptions of every hint that
 * names the device that changed, and the publications' watcher those of
 * the user whose publication changed; while a NOTIFY is out, further
 * changes wait for it and go as one (the framework's rate limit). Every
 * subscription is counted in the core as a watcher of its hint, for
 * `core show hints`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/devstate.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "sip_calls.h"
#include "sip_publish.h"
#include "sip_stack.h"
#include "sip_subscription.h"

#define BLF_EVENT "dialog"
#define BLF_TYPE  "application/dialog-info+xml"

/* The hint of @p exten for @p user's context; NULL when none (or no such user). */
static const char *hint_for(const char *user, const char *exten)
{
	struct pbx_user u;
	if (pbx_user_find(pbx_dir(), user, &u))
		return NULL;
	return pbx_dialplan_hint(u.context[0] ? u.context : "default", exten);
}

/*
 * A subscription counts as a watcher of its extension in its user's
 * context as it was when it began; that context is kept with it, so the
 * count goes down where it went up even when the user changed or left.
 */
static void hint_watch(struct sip_sub *sub, bool on)
{
	char *ctx = sub->pkg_data;
	if (on) {
		struct pbx_user u;
		bool found = !pbx_user_find(pbx_dir(), sub->user, &u);
		if (!(ctx = strdup(found && u.context[0] ? u.context : "default")))
			return; /* not counted: out of memory */
		sub->pkg_data = ctx;
		pbx_hint_watchers_add(ctx, sub->resource, 1);
		return;
	}
	if (ctx)
		pbx_hint_watchers_add(ctx, sub->resource, -1);
	free(ctx);
	sub->pkg_data = NULL;
}

/* A user watches what its context's hints show, and nothing else. */
static uint16_t blf_authorize(const char *user, const char *resource, const char **reason)
{
	if (!resource[0]) {
		*reason = "No extension in the Request-URI";
		return 404;
	}
	if (!hint_for(user, resource)) {
		*reason = "No hint for that extension in your context";
		return 404;
	}
	return 0;
}

/* @p s into @p b with XML's five characters escaped. */
static void xml_text(struct pbx_buf *b, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': pbx_buf_puts(b, "&amp;"); break;
		case '<': pbx_buf_puts(b, "&lt;"); break;
		case '>': pbx_buf_puts(b, "&gt;"); break;
		case '"': pbx_buf_puts(b, "&quot;"); break;
		case '\'': pbx_buf_puts(b, "&apos;"); break;
		default: pbx_buf_printf(b, "%c", *s);
		}
}

static int blf_body(struct sip_stack *s, const struct sip_sub *sub, struct pbx_buf *b)
{
	const char *devices = hint_for(sub->user, sub->resource);
	enum pbx_devstate st = devices ? pbx_devstate_of_list(devices) : PBX_DEV_UNAVAILABLE;
	pbx_buf_printf(b,
		       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		       "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"%u\" "
		       "state=\"full\" entity=\"sip:",
		       sub->notifies);
	xml_text(b, sub->resource);
	pbx_buf_puts(b, "@");
	xml_text(b, s->cfg->domain);
	pbx_buf_puts(b, "\">\r\n");
	const char *state = st == PBX_DEV_RINGING                         ? "early"
			    : st == PBX_DEV_INUSE || st == PBX_DEV_ONHOLD ? "confirmed"
									  : NULL;
	/* Ringing: the dialog's identifiers and the caller, as Asterisk gives
	 * them, so that the watching phone's BLF key picks the call up with
	 * an INVITE with Replaces naming that dialog. */
	struct sip_ringing rg = {0};
	bool ids = st == PBX_DEV_RINGING && !sip_calls_ringing(devices, &rg);
	if (state) {
		pbx_buf_puts(b, "<dialog id=\"");
		xml_text(b, sub->resource);
		if (ids) {
			pbx_buf_puts(b, "\" call-id=\"");
			xml_text(b, rg.call_id);
			pbx_buf_puts(b, "\" local-tag=\"");
			xml_text(b, rg.local_tag);
			pbx_buf_puts(b, "\" remote-tag=\"");
			xml_text(b, rg.remote_tag);
		}
		pbx_buf_printf(b, "\"%s>\r\n<state>%s</state>\r\n",
			       st == PBX_DEV_RINGING ? " direction=\"recipient\"" : "", state);
		if (st == PBX_DEV_ONHOLD) /* RFC 4235's way of saying the media is held */
			pbx_buf_puts(b, "<local><target uri=\"\"><param pname=\"+sip.rendering\" "
					"pvalue=\"no\"/></target></local>\r\n");
		if (ids) { /* RFC 4235's order: state, then local, then remote */
			pbx_buf_puts(b, "<local><identity>sip:");
			xml_text(b, sub->resource);
			pbx_buf_puts(b, "@");
			xml_text(b, s->cfg->domain);
			pbx_buf_puts(b, "</identity></local>\r\n<remote><identity");
			if (rg.caller_name[0]) {
				pbx_buf_puts(b, " display=\"");
				xml_text(b, rg.caller_name);
				pbx_buf_puts(b, "\"");
			}
			pbx_buf_puts(b, ">sip:");
			xml_text(b, rg.caller_num[0] ? rg.caller_num : "anonymous");
			pbx_buf_puts(b, "@");
			xml_text(b, s->cfg->domain);
			pbx_buf_puts(b, "</identity></remote>\r\n");
		}
		pbx_buf_puts(b, "</dialog>\r\n");
	}
	pbx_buf_puts(b, "</dialog-info>\r\n");
	return b->data ? 0 : ENOMEM;
}

static const struct sip_event_pkg blf_pkg = {
	.name = BLF_EVENT,
	.type = BLF_TYPE,
	.authorize = blf_authorize,
	.body = blf_body,
	.watch = hint_watch,
};

/*
 * The PIDF of a watched extension. Its user's own publication wins over
 * what the devices say: the tuple's note is the published note (else the
 * words of a published RPID activity, "Away"), and basic is closed when
 * the publication says so; without one, as the devices are ("Available",
 * "On the phone", closed "Offline" while nothing is registered). Basic is
 * closed too while no device is registered, whatever was published: a
 * watcher could not reach the user. A person element (RFC 4479) always
 * tells what the devices do: its note is the devices' ("On the phone")
 * and its RPID activities are the published ones plus on-the-phone while
 * a device is in a call or holds one, so a watcher sees "Out to lunch"
 * and that the phone is busy at once. The tuple comes first: simple
 * watchers read the first <note>.
 */
static int presence_body(struct sip_stack *s, const struct sip_sub *sub, struct pbx_buf *b)
{
	static const char *const notes[] = {
		[PBX_DEV_UNAVAILABLE] = "Offline", [PBX_DEV_NOT_INUSE] = "Available",
		[PBX_DEV_INUSE] = "On the phone",  [PBX_DEV_RINGING] = "Ringing",
		[PBX_DEV_ONHOLD] = "On hold",
	};
	const char *devices = hint_for(sub->user, sub->resource);
	enum pbx_devstate st = devices ? pbx_devstate_of_list(devices) : PBX_DEV_UNAVAILABLE;
	struct sip_pidf pub;
	bool published = sip_publish_get(sub->resource, &pub);
	const char *note = notes[st];
	unsigned acts = published ? pub.activities : 0;
	bool closed = st == PBX_DEV_UNAVAILABLE || (published && pub.basic == SIP_PIDF_CLOSED);
	if (published && pub.note[0]) {
		note = pub.note;
	} else if (acts) {
		for (unsigned i = 0; sip_pidf_activity_name(i); i++)
			if (acts & 1u << i) {
				note = sip_pidf_activity_words(i);
				break;
			}
	} else if (published && pub.basic == SIP_PIDF_CLOSED) {
		note = "Offline";
	}
	if (st == PBX_DEV_INUSE || st == PBX_DEV_ONHOLD)
		acts |= SIP_PIDF_ON_THE_PHONE;
	pbx_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
			"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
			"xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "
			"xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:");
	xml_text(b, sub->resource);
	pbx_buf_puts(b, "@");
	xml_text(b, s->cfg->domain);
	pbx_buf_puts(b, "\">\r\n<tuple id=\"pbx-");
	xml_text(b, sub->resource);
	pbx_buf_printf(b, "\">\r\n<status><basic>%s</basic></status>\r\n<note>",
		       closed ? "closed" : "open");
	xml_text(b, note);
	pbx_buf_puts(b, "</note>\r\n</tuple>\r\n<dm:person id=\"p-");
	xml_text(b, sub->resource);
	pbx_buf_puts(b, "\">\r\n");
	if (acts) {
		pbx_buf_puts(b, "<rpid:activities>");
		for (unsigned i = 0; sip_pidf_activity_name(i); i++)
			if (acts & 1u << i)
				pbx_buf_printf(b, "<rpid:%s/>", sip_pidf_activity_name(i));
		pbx_buf_puts(b, "</rpid:activities>\r\n");
	}
	pbx_buf_printf(b, "<dm:note>%s</dm:note>\r\n</dm:person>\r\n</presence>\r\n", notes[st]);
	return b->data ? 0 : ENOMEM;
}

static const struct sip_event_pkg presence_pkg = {
	.name = "presence",
	.type = "application/pidf+xml",
	.authorize = blf_authorize,
	.body = presence_body,
	.watch = hint_watch,
};

struct changed {
	struct sip_stack *s;
	const char *device;
};

static void notify_hint(const char *context, const char *exten, const char *devices, void *arg)
{
	struct changed *c = arg;
	(void)context;
	if (pbx_devstate_in_list(devices, c->device)) {
		sip_subs_notify(c->s->subs, &blf_pkg, exten);
		sip_subs_notify(c->s->subs, &presence_pkg, exten);
	}
}

static void device_changed(const char *device, enum pbx_devstate st, void *arg)
{
	struct sip_stack *s = sip_stack_get();
	struct changed c = {s, device};
	(void)st;
	(void)arg;
	if (!s || !s->subs)
		return;
	pbx_dialplan_each_hint(notify_hint, &c);
	sip_stack_timers_kick(s);
}

/* What @p user publishes changed: their watchers hear it. */
static void published(const char *user)
{
	struct sip_stack *s = sip_stack_get();
	if (s && s->subs)
		sip_subs_notify(s->subs, &presence_pkg, user);
}

/* After a start: the saved subscriptions get the state as it is now. */
static int tell_sub(const struct sip_sub *sub, void *arg)
{
	struct sip_stack *s = arg;
	if (sub->pkg == &blf_pkg || sub->pkg == &presence_pkg)
		sip_subs_notify(s->subs, sub->pkg, sub->resource);
	return 0;
}

static struct sip_timer start_timer;

static void start_fire(struct sip_timer *t, void *arg)
{
	(void)t;
	struct sip_stack *s = arg;
	sip_subs_each(s->subs, tell_sub, s);
}

static void unload(void)
{
	struct sip_stack *s = sip_stack_get();
	if (!s)
		return;
	sip_timer_cancel(&s->timers, &start_timer);
	sip_publish_unwatch(published);
	pbx_devstate_unwatch(device_changed, NULL);
	sip_event_unregister(s->subs, &presence_pkg);
	sip_event_unregister(s->subs, &blf_pkg);
}

static int load(void)
{
	struct sip_stack *s = sip_stack_get();
	int err;
	if (!s)
		return ENOENT;
	/* On failure unload() undoes what was done: each step is safe when not done. */
	if ((err = sip_event_register(s->subs, &blf_pkg)) ||
	    (err = sip_event_register(s->subs, &presence_pkg)) ||
	    (err = pbx_devstate_watch(device_changed, NULL)) ||
	    (err = sip_publish_watch(published))) {
		unload();
		return err;
	}
	(void)sip_timer_start(&s->timers, &start_timer, 0, start_fire, s);
	sip_stack_timers_kick(s);
	return 0;
}

/* After the stack (10), its commands (11), chan_sip (12) and MWI (13). */
PBX_MODULE(sip_hint_events_module) = {"sip_hint_events", 14, load, unload};
