/**
 * @file sip_mwi.c  The message-summary event package (RFC 3842) and unsolicited MWI
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A phone subscribes to its own mailbox (the Request-URI user is the user
 * it authenticated as) and gets a NOTIFY of the counts on subscribe, on
 * every change the voicemail store reports (pbx_vm_watch), and after a
 * restart. Phones that never subscribe get the same body in an
 * out-of-dialog NOTIFY when their user is set `mwi unsolicited`: on every
 * change, and on every REGISTER that adds or refreshes a contact, so a
 * phone that rebooted learns the state at once.
 *
 * An unsolicited NOTIFY is fire and forget: a client transaction without
 * a callback. A phone that answers 405 or 489 is told again at the next
 * change; the cost is one transaction per contact per change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"
#include "sip_mwi.h"
#include "sip_registrar.h"
#include "sip_stack.h"
#include "sip_subscription.h"

int sip_mwi_body(struct pbx_buf *b, const char *ext, const char *domain,
		 const struct pbx_vm_counts *c)
{
	pbx_buf_printf(b,
		       "Messages-Waiting: %s\r\n"
		       "Message-Account: sip:%s@%s\r\n"
		       "Voice-Message: %u/%u (%u/%u)\r\n",
		       c->new_msgs ? "yes" : "no", ext, domain, c->new_msgs, c->old_msgs,
		       c->urgent_new, c->urgent_old);
	return b->data ? 0 : ENOMEM;
}

/* A user watches only their own mailbox. */
static uint16_t mwi_authorize(const char *user, const char *resource, const char **reason)
{
	if (!resource[0]) {
		*reason = "No mailbox in the Request-URI";
		return 404;
	}
	if (strcmp(user, resource)) {
		*reason = "Forbidden (not your mailbox)";
		return 403;
	}
	return 0;
}

static int mwi_body(struct sip_stack *s, const struct sip_sub *sub, struct pbx_buf *b)
{
	struct pbx_vm_counts c;
	int err = pbx_vm_counts(sub->resource, &c);
	return err ? err : sip_mwi_body(b, sub->resource, s->cfg->domain, &c);
}

static const struct sip_event_pkg mwi_pkg = {
	.name = SIP_MWI_EVENT,
	.type = SIP_MWI_TYPE,
	.authorize = mwi_authorize,
	.body = mwi_body,
};

/* An out-of-dialog NOTIFY of @p ext's counts to contact @p b. */
static void send_unsolicited(struct sip_stack *s, const struct sip_binding *b, const char *ext,
			     const struct pbx_vm_counts *c)
{
	char account[128];
	struct pbx_buf body;
	snprintf(account, sizeof account, "sip:%s@%s", ext, s->cfg->domain);
	pbx_buf_init(&body);
	int err = sip_mwi_body(&body, ext, s->cfg->domain, c);
	if (!err)
		err = sip_binding_request(s, b, "NOTIFY", account, account,
					  "Event: " SIP_MWI_EVENT
					  "\r\nSubscription-State: active\r\n",
					  SIP_MWI_TYPE, body.data, body.len, NULL, NULL, NULL);
	if (err)
		pbx_notice("sip: unsolicited MWI to %s not sent: %s", b->contact, strerror(err));
	pbx_buf_free(&body);
}

static bool unsolicited(const char *ext)
{
	struct pbx_user u;
	return !pbx_user_find(pbx_dir(), ext, &u) && u.mwi_unsolicited && u.enabled;
}

static void mwi_changed(const char *mailbox, const struct pbx_vm_counts *c)
{
	struct sip_stack *s = sip_stack_get();
	if (!s || !s->subs)
		return;
	sip_subs_notify(s->subs, &mwi_pkg, mailbox);
	const struct sip_aor *a = sip_registrar_find(s->reg, mailbox);
	if (a && unsolicited(mailbox)) {
		for (const struct sip_binding *b = a->bindings; b; b = b->next)
			send_unsolicited(s, b, mailbox, c);
		sip_stack_timers_kick(s);
	}
}

/* A (re)registration of an unsolicited user: tell that contact now. */
static void mwi_registered(struct sip_stack *s, const struct pbx_user *u,
			   const struct sip_binding *b)
{
	struct pbx_vm_counts c;
	if (!u->mwi_unsolicited || pbx_vm_counts(b->aor->ext, &c))
		return;
	send_unsolicited(s, b, b->aor->ext, &c);
}

/* ---- after a start ------------------------------------------------------------------ */

/* Mailboxes told at start, so each is told once. */
struct told {
	char (*ext)[PBX_EXT_MAX + 1];
	size_t n, cap;
};

/* Run the change watchers for @p ext unless done already. Linear: once per start. */
static void tell_once(struct told *t, const char *ext)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->ext[i], ext))
			return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		void *p = realloc(t->ext, cap * sizeof *t->ext);
		if (p) {
			t->ext = p;
			t->cap = cap;
		}
	}
	if (t->n < t->cap)
		snprintf(t->ext[t->n++], sizeof *t->ext, "%s", ext);
	pbx_vm_changed(ext);
}

static int tell_sub(const struct sip_sub *sub, void *arg)
{
	if (sub->pkg == &mwi_pkg)
		tell_once(arg, sub->resource);
	return 0;
}

static int tell_aor(const struct sip_aor *a, void *arg)
{
	tell_once(arg, a->ext);
	return 0;
}

static struct sip_timer start_timer;

/*
 * The lamps after a start: every mailbox with a restored subscription or
 * a registration goes through the change watchers, which NOTIFY the
 * subscriptions and unsolicited contacts. Run from the loop, once every
 * module (the voicemail store's recovery included) has loaded.
 */
static void start_fire(struct sip_timer *tm, void *arg)
{
	struct sip_stack *s = arg;
	struct told t = {0};
	sip_subs_each(s->subs, tell_sub, &t);
	sip_registrar_each(s->reg, tell_aor, &t);
	free(t.ext);
}

static int load(void)
{
	struct sip_stack *s = sip_stack_get();
	int err;
	if (!s)
		return ENOENT;
	if ((err = sip_event_register(s->subs, &mwi_pkg)))
		return err;
	if ((err = pbx_vm_watch(mwi_changed))) {
		sip_event_unregister(s->subs, &mwi_pkg);
		return err;
	}
	sip_registrar_watch(s->reg, mwi_registered);
	(void)sip_timer_start(&s->timers, &start_timer, 0, start_fire, s);
	sip_stack_timers_kick(s);
	return 0;
}

static void unload(void)
{
	struct sip_stack *s = sip_stack_get();
	if (!s)
		return;
	sip_timer_cancel(&s->timers, &start_timer);
	sip_registrar_unwatch(s->reg, mwi_registered);
	pbx_vm_unwatch(mwi_changed);
	sip_event_unregister(s->subs, &mwi_pkg);
}

/* After the stack (10), its commands (11) and chan_sip (12). */
PBX_MODULE(sip_mwi_module) = {"sip_mwi", 13, load, unload};
