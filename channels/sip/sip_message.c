/**
 * @file sip_message.c  Instant messages (RFC 3428): to every device of the user, or kept for later
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * An authenticated out-of-dialog MESSAGE enters the dialplan when the
 * sender's message context (the user's message_context, else "messages")
 * has an extension for its Request-URI user: the run, without a channel,
 * reads and rewrites MESSAGE(...) and sends with app.messagesend, which
 * comes back here as the router (pbx/im.h); the sender's answer follows the
 * best outcome of the run's sends (none: 403). With no such extension the
 * default routing takes it.
 *
 * Default routing: a MESSAGE to a user of the PBX goes to every
 * registered contact of that user at once, in a MESSAGE of our own each
 * (the sender's body and Content-Type unchanged, From the sender, no
 * Contact). The first 2xx answers the sender 200; the other devices still
 * get theirs. No contact, or none that took it: the message is kept in
 * the directory (pbx/msg_store.h) and the sender gets 202. When the user
 * registers a contact, what waits for it is sent, oldest first and one at
 * a time, each removed after a 2xx; a failed one waits for the next
 * registration (refreshes included) and its back-off time.
 *
 * `message send EXT TEXT [--from EXT]` on the console goes the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/chan.h"
#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/im.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "pbx/msg_store.h"
#include "sip_registrar.h"
#include "sip_stack.h"
#include "sip_transport.h"
#include "sip_tsx.h"
#include "sip_uri.h"

#define MAX_LEGS 16

struct job;

/* A MESSAGE from a phone, kept to be answered when the outcome is known. */
struct reply {
	struct sip_stsx *t; /* NULL: answered, or nobody to answer */
	char *req_buf;
	struct sip_msg req;
	struct sip_peer src;
};

static int reply_keep(struct reply *r, const struct sip_msg *m, const struct sip_peer *src,
		      struct sip_stsx *t)
{
	const char *reason;
	if (!(r->req_buf = malloc(m->len + 1)))
		return ENOMEM;
	memcpy(r->req_buf, m->buf, m->len);
	r->req_buf[m->len] = '\0';
	if (sip_msg_parse(&r->req, r->req_buf, m->len, &reason)) {
		free(r->req_buf);
		r->req_buf = NULL;
		return EINVAL;
	}
	r->t = t;
	r->src = *src;
	return 0;
}

static void reply_send(struct sip_stack *s, struct reply *r, uint16_t code, const char *reason)
{
	if (!r->t)
		return;
	sip_stack_reply(s, r->t, &r->req, &r->src, code, reason, NULL, NULL, NULL);
	r->t = NULL;
}

struct leg {
	struct job *job;
	struct sip_ctsx *tsx;
};

/* One message on its way to a user's devices. */
struct job {
	struct sip_stack *s;
	/* Who hears the outcome: the sender's MESSAGE (default routing), or a
	 * dialplan's messagesend (cb); neither for the console or a stored one. */
	struct reply reply;
	pbx_im_sent_h *cb;
	void *cb_arg;
	int64_t stored_id; /* a stored message being delivered; 0: a new one */
	unsigned attempts; /* of that stored message */
	char target[PBX_EXT_MAX + 1];
	char sender[256]; /* an extension, "pbx", or a URI */
	char type[PBX_MSG_TYPE_MAX + 1];
	uint8_t *body;
	size_t len;
	unsigned pending;
	bool delivered;
	struct leg legs[MAX_LEGS];
	struct job *prev, *next; /* every job on its way, for the unload */
};

static struct job *jobs;

/* Users whose stored messages are being sent now: one message at a time each. */
static struct flush {
	char ext[PBX_EXT_MAX + 1];
	struct flush *next;
} * flushing;

static void flush_next(struct sip_stack *s, const char *ext);

static void job_free(struct job *j)
{
	*(j->prev ? &j->prev->next : &jobs) = j->next;
	if (j->next)
		j->next->prev = j->prev;
	free(j->reply.req_buf);
	free(j->body);
	free(j);
}

/* The outcome, to whoever waits for it: once. */
static void outcome(struct job *j, enum pbx_im_status st, uint16_t code, const char *reason)
{
	reply_send(j->s, &j->reply, code, reason);
	pbx_im_sent_h *cb = j->cb;
	j->cb = NULL;
	if (cb)
		cb(j->cb_arg, st);
}

/* Nobody took a new message: keep it for the target. */
static void keep(struct job *j)
{
	int err = pbx_msg_store_add(j->target, j->sender, j->type, j->body, j->len, NULL);
	if (err == ENOSPC) {
		outcome(j, PBX_IM_FAILURE, 480, "Offline, and their message store is full");
	} else if (err) {
		outcome(j, PBX_IM_FAILURE, 500, "The message could not be kept");
	} else {
		pbx_info("sip: message from %s to %s kept: %s is offline", j->sender, j->target,
			 j->target);
		outcome(j, PBX_IM_QUEUED, 202, "Accepted (stored for an offline user)");
	}
}

static int64_t backoff(unsigned attempts)
{
	int64_t d = pbx_msg_cfg()->retry_interval; /* doubles, up to an hour */
	for (unsigned i = 0; i < attempts && d < 3600; i++)
		d *= 2;
	return d > 3600 ? 3600 : d;
}

/* Every device answered (or none was there): keep it, or done. */
static void settle(struct job *j)
{
	if (j->stored_id) {
		if (j->delivered)
			pbx_msg_store_del(j->stored_id);
		else
			pbx_msg_store_failed(j->stored_id,
					     sip_stack_now_s() + backoff(j->attempts));
		char ext[sizeof j->target];
		snprintf(ext, sizeof ext, "%s", j->target);
		struct sip_stack *s = j->s;
		bool next = j->delivered;
		job_free(j);
		if (next)
			flush_next(s, ext);
		else
			for (struct flush **p = &flushing; *p; p = &(*p)->next)
				if (!strcmp((*p)->ext, ext)) {
					struct flush *f = *p;
					*p = f->next;
					free(f);
					break;
				}
		return;
	}
	if (!j->delivered)
		keep(j);
	job_free(j);
}

static void leg_response(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct leg *l = arg;
	struct job *j = l->job;
	(void)resp;
	if (code < 200)
		return;
	l->tsx = NULL;
	if (code < 300 && !j->delivered) {
		j->delivered = true;
		/* The first device took it: the others still get theirs. */
		outcome(j, PBX_IM_SUCCESS, 200, NULL);
	}
	if (!--j->pending)
		settle(j);
}

/* Send @p j to every contact of its target; 0, or ENOENT when none could be tried. */
static int fan_out(struct job *j)
{
	struct sip_stack *s = j->s;
	const struct sip_aor *a = sip_registrar_find(s->reg, j->target);
	char from[320], to[320];
	if (strchr(j->sender, ':'))
		snprintf(from, sizeof from, "%s", j->sender);
	else
		snprintf(from, sizeof from, "sip:%s@%s", j->sender, s->cfg->domain);
	snprintf(to, sizeof to, "sip:%s@%s", j->target, s->cfg->domain);
	unsigned n = 0;
	for (const struct sip_binding *b = a ? a->bindings : NULL; b && n < MAX_LEGS; b = b->next) {
		struct leg *l = &j->legs[n];
		l->job = j;
		int err = j->len ? sip_binding_request(s, b, "MESSAGE", from, to, NULL, j->type,
						       j->body, j->len, leg_response, l, &l->tsx)
				 : ENODATA;
		if (err) {
			pbx_notice("sip: message to %s (%s) not sent: %s", j->target, b->contact,
				   strerror(err));
			continue;
		}
		n++;
	}
	j->pending = n;
	sip_stack_timers_kick(s);
	return n ? 0 : ENOENT;
}

static struct job *job_new(struct sip_stack *s, const char *target, const char *sender,
			   const char *type, const void *body, size_t len)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j || !(j->body = malloc(len ? len : 1))) {
		free(j);
		return NULL;
	}
	j->s = s;
	snprintf(j->target, sizeof j->target, "%s", target);
	snprintf(j->sender, sizeof j->sender, "%s", sender);
	snprintf(j->type, sizeof j->type, "%s", type);
	memcpy(j->body, body, len);
	j->len = len;
	j->next = jobs;
	if (jobs)
		jobs->prev = j;
	jobs = j;
	return j;
}

/* ---- the router: app.messagesend ------------------------------------------------------ */

/*
 * The extension @p to names, when it is a user of ours: "sip:1002@DOMAIN",
 * "sips:...", "SIP/1002", "PJSIP/1002", "pjsip:1002", "1002@DOMAIN" or
 * "1002". 0, or EINVAL.
 */
static int local_ext(const struct sip_stack *s, const char *to, char *ext, size_t size)
{
	static const char *const techs[] = {"SIP/", "PJSIP/", "pjsip:"};
	while (*to == ' ' || *to == '<')
		to++;
	for (size_t i = 0; i < sizeof techs / sizeof *techs; i++)
		if (!strncasecmp(to, techs[i], strlen(techs[i]))) {
			to += strlen(techs[i]);
			break;
		}
	char buf[PBX_MSG_SENDER_MAX + 1];
	size_t n = strcspn(to, ">");
	if (n >= sizeof buf)
		return EINVAL;
	memcpy(buf, to, n);
	buf[n] = '\0';
	const char *user = buf, *host = NULL;
	struct sip_uri u;
	char unesc[PBX_EXT_MAX + 1];
	size_t len = 0;
	if (!strncasecmp(buf, "sip:", 4) || !strncasecmp(buf, "sips:", 5)) {
		if (sip_uri_parse(&u, (struct sip_pl){buf, n}) || !u.user.l ||
		    sip_uri_unescape(u.user, unesc, sizeof unesc, &len) || strlen(unesc) != len)
			return EINVAL;
		if (!sip_pl_caseeq(u.host, (struct sip_pl){s->cfg->domain, strlen(s->cfg->domain)}))
			return EINVAL;
		user = unesc;
	} else {
		char *at = strchr(buf, '@');
		if (at) {
			*at = '\0';
			host = at + 1;
			if (strcasecmp(host, s->cfg->domain))
				return EINVAL;
		}
	}
	if (pbx_user_check_ext(user) || strlen(user) >= size)
		return EINVAL;
	snprintf(ext, size, "%s", user);
	return 0;
}

/* The sender as the store and the From header take it: an extension of ours, or a URI. */
static int sender_of(const struct sip_stack *s, const char *from, char *out, size_t size)
{
	if (strpbrk(from, "\r\n") || strlen(from) >= size)
		return EINVAL;
	if (!strcmp(from, "pbx")) {
		snprintf(out, size, "pbx");
		return 0;
	}
	if (!local_ext(s, from, out, size))
		return 0;
	const char *lt = strchr(from, '<');
	if (lt) {
		from = lt + 1;
		snprintf(out, size, "%.*s", (int)strcspn(from, ">"), from);
	} else {
		snprintf(out, size, "%s", from);
	}
	return strncasecmp(out, "sip:", 4) && strncasecmp(out, "sips:", 5) ? EINVAL : 0;
}

static enum pbx_im_status router_send(const char *to, const char *from, const char *type,
				      const void *body, size_t len, pbx_im_sent_h *cb, void *arg,
				      void **handle)
{
	struct sip_stack *s = sip_stack_get();
	struct pbx_user u;
	char ext[PBX_EXT_MAX + 1], sender[PBX_MSG_SENDER_MAX + 1];
	*handle = NULL;
	if (!s)
		return PBX_IM_FAILURE;
	if (local_ext(s, to, ext, sizeof ext) || pbx_user_find(pbx_dir(), ext, &u) || !u.enabled) {
		pbx_notice("sip: messagesend to '%.80s': not a user of %s", to, s->cfg->domain);
		return PBX_IM_INVALID_URI;
	}
	if (sender_of(s, from, sender, sizeof sender)) {
		pbx_notice(
			"sip: messagesend from '%.80s': not a sender (an extension or a sip: URI)",
			from);
		return PBX_IM_FAILURE;
	}
	if (!len)
		return PBX_IM_FAILURE; /* a MESSAGE needs a body */
	struct job *j = job_new(s, ext, sender, type, body, len);
	if (!j)
		return PBX_IM_FAILURE;
	if (fan_out(j)) {
		enum pbx_im_status st;
		j->cb = NULL;
		int err = pbx_msg_store_add(j->target, j->sender, j->type, j->body, j->len, NULL);
		st = err ? PBX_IM_FAILURE : PBX_IM_QUEUED;
		if (!err)
			pbx_info("sip: message from %s to %s kept: %s is offline", j->sender,
				 j->target, j->target);
		job_free(j);
		return st;
	}
	j->cb = cb;
	j->cb_arg = arg;
	*handle = j;
	return PBX_IM_NONE;
}

static void router_cancel(void *handle)
{
	struct job *j = handle;
	j->cb = NULL;
}

static const struct pbx_im_router router = {router_send, router_cancel};

/* ---- MESSAGE from a phone ---------------------------------------------------------------- */

/* A MESSAGE the dialplan runs: answered when the run ends. */
struct route {
	struct sip_stack *s;
	struct reply reply;
};

static void routed(struct pbx_im *im, int err, void *arg)
{
	struct route *r = arg;
	static const struct {
		uint16_t code;
		const char *reason;
	} by_status[] = {
		[PBX_IM_NONE] = {403, "Refused by the dialplan"},
		[PBX_IM_INVALID_URI] = {404, "No such recipient"},
		[PBX_IM_FAILURE] = {480, "Not delivered"},
		[PBX_IM_QUEUED] = {202, "Accepted (stored for an offline user)"},
		[PBX_IM_SUCCESS] = {200, NULL},
	};
	if (err == ECANCELED)
		reply_send(r->s, &r->reply, 503, "The PBX is stopping");
	else if (err)
		reply_send(r->s, &r->reply, 500, "The dialplan failed on this message");
	else
		reply_send(r->s, &r->reply, by_status[im->best].code, by_status[im->best].reason);
	free(r->reply.req_buf);
	free(r);
}

/* Into the dialplan: 0, or an errno after answering. */
static int route(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
		 struct sip_stsx *t, const struct pbx_user *u, const char *ctx, const char *ext,
		 const char *type)
{
	char from[320], to[PBX_MSG_SENDER_MAX + 1];
	snprintf(from, sizeof from, "sip:%s@%s", u->ext, s->cfg->domain);
	snprintf(to, sizeof to, "%.*s", (int)m->ruri.l, m->ruri.p);
	struct pbx_im *im = pbx_im_new(from, to, type, m->body.p, m->body.l);
	struct route *r = calloc(1, sizeof *r);
	int err = im && r ? reply_keep(&r->reply, m, src, t) : ENOMEM;
	if (!err) {
		r->s = s;
		pbx_info("sip: message from %s to %s (%s, %zu bytes) into %s@%s", u->ext, ext, type,
			 m->body.l, ext, ctx);
		err = pbx_dialplan_message(im, ctx, ext, routed, r);
		if (err)
			free(r->reply.req_buf);
	}
	pbx_im_unref(im);
	if (err) {
		free(r);
		if (err ==
		    ENOENT) /* an extension the dialplan refuses to run (a control character) */
			sip_stack_reply(s, t, m, src, 404, "No such extension", NULL, NULL, NULL);
		else
			sip_stack_reply(s, t, m, src, 500,
					"The message could not enter the dialplan", NULL, NULL,
					NULL);
	}
	return err;
}

static void handle_message(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t)
{
	struct pbx_user u, target;
	struct sip_addr to;
	struct sip_uri ruri;
	char ext[PBX_EXT_MAX + 1] = "", type[PBX_MSG_TYPE_MAX + 1] = "text/plain";
	size_t n = 0;
	if (!sip_msg_to(m, &to) && to.tag.l) {
		/* In a dialog we do not have (a call's dialog takes its own). */
		sip_stack_reply(s, t, m, src, 481, NULL, NULL, NULL, NULL);
		return;
	}
	if (sip_stack_authenticate(s, m, src, t, &u))
		return;
	if (sip_uri_parse(&ruri, m->ruri) || !ruri.user.l ||
	    sip_uri_unescape(ruri.user, ext, sizeof ext, &n) || strlen(ext) != n) {
		sip_stack_reply(s, t, m, src, 404, "No user in the Request-URI", NULL, NULL, NULL);
		return;
	}
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	if (ct && ct->value.l)
		snprintf(type, sizeof type, "%.*s", (int)ct->value.l, ct->value.p);
	if (!m->body.l) {
		sip_stack_reply(s, t, m, src, 400, "A MESSAGE needs a body", NULL, NULL, NULL);
		return;
	}
	if (m->body.l > PBX_MSG_BODY_MAX) { /* sip.max_message_size set above what is kept */
		sip_stack_reply(s, t, m, src, 413, "Message body too large", NULL, NULL, NULL);
		return;
	}
	const char *ctx = *u.message_context ? u.message_context : "messages";
	if (pbx_dialplan_exists(ctx, ext)) {
		route(s, m, src, t, &u, ctx, ext, type);
		return;
	}
	if (pbx_user_find(pbx_dir(), ext, &target) || !target.enabled) {
		sip_stack_reply(s, t, m, src, 404, "No such user", NULL, NULL, NULL);
		return;
	}
	struct job *j = job_new(s, ext, u.ext, type, m->body.p, m->body.l);
	if (!j || reply_keep(&j->reply, m, src, t)) {
		if (j)
			job_free(j);
		sip_stack_reply(s, t, m, src, 500, "Out of memory", NULL, NULL, NULL);
		return;
	}
	pbx_info("sip: message from %s to %s (%s, %zu bytes)", u.ext, ext, type, j->len);
	if (fan_out(j))
		settle(j); /* nobody to send to: kept, 202 */
}

/* ---- what waits for a user ----------------------------------------------------------- */

struct first {
	struct pbx_msg m;
	bool found;
};

static int first_due(const struct pbx_msg *m, void *arg)
{
	struct first *f = arg;
	if (m->next_try > sip_stack_now_s())
		return 0;
	f->m = *m;
	f->m.body = malloc(m->len ? m->len : 1);
	if (f->m.body)
		memcpy(f->m.body, m->body, m->len);
	f->found = f->m.body != NULL;
	return 1;
}

/* Send @p ext's oldest message that is due, if any; else stop flushing @p ext. */
static void flush_next(struct sip_stack *s, const char *ext)
{
	struct first f = {0};
	struct job *j = NULL;
	pbx_msg_store_each(ext, first_due, &f);
	if (f.found && (j = job_new(s, ext, f.m.sender, f.m.type, f.m.body, f.m.len))) {
		j->stored_id = f.m.id;
		j->attempts = f.m.attempts;
	}
	free(f.m.body);
	if (j && !fan_out(j))
		return; /* settle() goes on with the next */
	if (j)
		job_free(j);
	for (struct flush **p = &flushing; *p; p = &(*p)->next)
		if (!strcmp((*p)->ext, ext)) {
			struct flush *x = *p;
			*p = x->next;
			free(x);
			return;
		}
}

/* Start sending what waits for @p ext (@p n messages), unless that is on its way. */
static void start_flush(struct sip_stack *s, const char *ext, unsigned n)
{
	for (struct flush *f = flushing; f; f = f->next)
		if (!strcmp(f->ext, ext))
			return; /* on its way already */
	struct flush *f = calloc(1, sizeof *f);
	if (!f)
		return;
	snprintf(f->ext, sizeof f->ext, "%s", ext);
	f->next = flushing;
	flushing = f;
	pbx_info("sip: %u stored message(s) for %s", n, ext);
	flush_next(s, ext);
}

static void registered(struct sip_stack *s, const struct pbx_user *u, const struct sip_binding *b)
{
	unsigned n = 0;
	(void)b;
	if (!pbx_msg_store_count(u->ext, &n) && n) /* from memory: no query per REGISTER */
		start_flush(s, u->ext, n);
}

/* ---- retries while the user stays registered ----------------------------------------------- */

/*
 * A message a device refused waits for its back-off; a user who stays
 * registered never registers "again", so a timer looks for due messages
 * of registered users. Half the retry interval, at most every 30 s.
 */
static uv_timer_t retry_timer;
static bool retry_on;

static int retry_one(const char *target, unsigned n, void *arg)
{
	struct sip_stack *s = arg;
	const struct sip_aor *a = sip_registrar_find(s->reg, target);
	if (a && a->bindings)
		start_flush(s, target, n); /* sends only what is due */
	return 0;
}

static void on_retry(uv_timer_t *t)
{
	struct sip_stack *s = sip_stack_get();
	(void)t;
	if (s)
		pbx_msg_store_each_target(retry_one, s);
}

static void retry_start(void)
{
	uint64_t ms = (uint64_t)pbx_msg_cfg()->retry_interval * 500;
	if (ms > 30000)
		ms = 30000;
	uv_timer_init(pbx_loop(), &retry_timer);
	uv_timer_start(&retry_timer, on_retry, ms, ms);
	retry_on = true;
}

/* ---- console ------------------------------------------------------------------------------- */

static int cmd_send(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct sip_stack *s = sip_stack_get();
	struct pbx_user u;
	const char *ext = pbx_cli_arg(a, "EXT"), *from = pbx_cli_arg(a, "--from"), *text = a->rest;
	if (!s)
		return pbx_cli_error(cli, "message send: SIP is not running");
	if (pbx_user_find(pbx_dir(), ext, &u))
		return pbx_cli_error(cli, "message send: EXT: no such user '%s'", ext);
	if (from && pbx_user_find(pbx_dir(), from, &u))
		return pbx_cli_error(cli, "message send: --from: no such user '%s'", from);
	if (!*text)
		return pbx_cli_error(cli, "message send: TEXT: empty");
	struct job *j = job_new(s, ext, from ? from : "pbx", "text/plain", text, strlen(text));
	if (!j)
		return pbx_cli_error(cli, "message send: out of memory");
	if (!fan_out(j)) {
		unsigned n = j->pending;
		return pbx_cli_printf(cli, "Sending to %u device%s of %s.\n", n, n == 1 ? "" : "s",
				      ext) < 0;
	}
	int err = pbx_msg_store_add(ext, j->sender, j->type, j->body, j->len, NULL);
	job_free(j);
	if (err)
		return pbx_cli_error(cli,
				     "message send: %s is offline and the message could not "
				     "be kept: %s",
				     ext, err == ENOSPC ? "their store is full" : strerror(err));
	return pbx_cli_printf(cli, "%s is offline: kept until they register.\n", ext) < 0;
}

static const struct pbx_cli_cmd cmds[] = {
	{"message send EXT [--from F] TEXT...",
	 "send an instant message to every device of EXT (kept when it is offline)",
	 "From the PBX (sip:pbx@DOMAIN), or from user F. The message is text/plain.", cmd_send},
};

static int load(void)
{
	struct sip_stack *s = sip_stack_get();
	int err;
	if (!s)
		return ENOENT;
	sip_stack_set_handler(s, SIP_METHOD_MESSAGE, handle_message);
	if ((err = sip_registrar_watch(s->reg, registered)) ||
	    (err = pbx_im_router_register(&router)))
		return err;
	retry_start();
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	struct sip_stack *s = sip_stack_get();
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
	pbx_im_router_unregister(&router);
	if (retry_on) {
		uv_close((uv_handle_t *)&retry_timer, NULL);
		retry_on = false;
	}
	if (!s)
		return;
	sip_registrar_unwatch(s->reg, registered);
	sip_stack_set_handler(s, SIP_METHOD_MESSAGE, NULL);
	/* Messages on their way: their devices' answers will not be heard. */
	while (jobs) {
		outcome(jobs, PBX_IM_FAILURE, 503, "The PBX is stopping");
		for (int i = 0; i < MAX_LEGS; i++)
			if (jobs->legs[i].tsx)
				sip_ctsx_abandon(jobs->legs[i].tsx);
		job_free(jobs);
	}
	while (flushing) {
		struct flush *f = flushing;
		flushing = f->next;
		free(f);
	}
}

/* After the stack (10), its commands (11), chan_sip (12), MWI (13) and the hint events (14). */
PBX_MODULE(sip_message_module) = {"sip_message", 15, load, unload};
