/**
 * @file app_voicemail.c  VoiceMail(mailbox[, options]): leave a message
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * In the shape of Asterisk's VoiceMail: a greeting, a beep, then the
 * caller's message is recorded until '#', silence
 * (voicemail.silence_seconds), the longest length (voicemail.max_seconds)
 * or hangup, and stored in the mailbox's INBOX (pbx/voicemail.c), which
 * lights the lamp and sends the mail. A message shorter than
 * voicemail.min_seconds is discarded.
 *
 * The greeting is the user's own (greet/unavail.wav, or greet/busy.wav with
 * option b) when recorded; otherwise "the person at extension" and the
 * digits (or the recorded name, greet/name.wav), then "is unavailable" or
 * "is on the phone", then the instructions. During the greeting '#'
 * skips to the beep, '0' leaves for the context's `o` extension and '*'
 * for `a`.
 *
 * VMSTATUS is SUCCESS (a message was stored), USEREXIT ('0' or '*') or
 * FAILED (no such mailbox, mailbox full, too short, could not be
 * written).
 *
 * Options: u (unavailable greeting, the default), b (busy greeting),
 * s (skip the greeting and the instructions: only the beep), U (urgent).
 * The mailbox may be written "1003@context"; the context part is ignored
 * (mailboxes are the users).
 *
 * A caller who hangs up while recording leaves a message, as Asterisk
 * does: the recording is stopped and kept, and it is stored once its file
 * is complete (a deposit that no longer needs the channel).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"

#include "apps.h"

/* How long a message recorded until hangup may take to appear complete on disk. */
#define LATE_DEPOSIT_MS   30000
#define LATE_DEPOSIT_POLL 100

static const struct pbx_arg_spec args[] = {
	{"mailbox", PBX_ARG_STRING, true},
	{"options", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

enum step {
	GREETING, /* the greeting and the instructions */
	BEEP,
	RECORDING,
	CLOSING, /* the last prompts: saved, full, error; then finish */
};

struct vm {
	struct pbx_app_call *call;
	struct pbx_chan *ch;
	struct player pl;
	enum step step;
	struct pbx_vm_msg msg; /* mailbox, caller and flags of the message being left */
	char tmp[APPS_PATH_MAX];
	const char *status;  /* VMSTATUS at the end */
	const char *exit_to; /* "o" or "a" after '0' or '*', else NULL */
	bool in_exec;        /* exec has not returned: an end now is exec's result */
	bool ended;          /* it ended inside exec */
};

/* ---- a message recorded until hangup: stored once its file is complete ------------------- */

struct late {
	uv_timer_t timer;
	struct late *next;
	struct pbx_vm_msg msg;
	char tmp[APPS_PATH_MAX];
	unsigned waited_ms;
};

static struct late *lates; /* pending, so unload can finish them */

/* Store the finished recording @p tmp as @p m, unless it is too short. True when stored. */
static bool deposit(struct pbx_vm_msg *m, const char *tmp, unsigned ms, int *err)
{
	unsigned min_ms = (unsigned)pbx_vm_cfg()->min_seconds * 1000;
	*err = 0;
	if (!ms || ms < min_ms) {
		pbx_notice(
			"voicemail %s: message from %s of %u ms is shorter than %u ms: discarded",
			m->mailbox, m->cid_num[0] ? m->cid_num : "unknown", ms, min_ms);
		unlink(tmp);
		return false;
	}
	m->duration_ms = ms;
	if ((*err = pbx_vm_deposit(m, tmp))) {
		pbx_warning("voicemail %s: message from %s not stored: %s", m->mailbox,
			    m->cid_num[0] ? m->cid_num : "unknown", strerror(*err));
		unlink(tmp);
		return false;
	}
	return true;
}

static void late_closed(uv_handle_t *h)
{
	free(h->data);
}

static void late_end(struct late *l)
{
	for (struct late **p = &lates; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	uv_timer_stop(&l->timer);
	uv_close((uv_handle_t *)&l->timer, late_closed);
}

/* Deposit when the file is there; true when this pending message is settled. */
static bool late_try(struct late *l)
{
	int err;
	if (access(l->tmp, F_OK) == 0) {
		/* An unreadable file measures 0: discarded as too short. */
		deposit(&l->msg, l->tmp, pbx_vm_file_ms(l->tmp), &err);
		return true;
	}
	if (l->waited_ms >= LATE_DEPOSIT_MS) {
		pbx_warning("voicemail %s: the recording of %s's message never completed (%s)",
			    l->msg.mailbox, l->msg.cid_num[0] ? l->msg.cid_num : "unknown", l->tmp);
		return true;
	}
	return false;
}

static void late_tick(uv_timer_t *t)
{
	struct late *l = t->data;
	l->waited_ms += LATE_DEPOSIT_POLL;
	if (late_try(l))
		late_end(l);
}

static void late_start(const struct vm *v)
{
	struct late *l = calloc(1, sizeof *l);
	if (!l) {
		pbx_error("voicemail %s: out of memory: the message left at hangup is lost",
			  v->msg.mailbox);
		return;
	}
	l->msg = v->msg;
	snprintf(l->tmp, sizeof l->tmp, "%s", v->tmp);
	uv_timer_init(pbx_loop(), &l->timer);
	l->timer.data = l;
	l->next = lates;
	lates = l;
	uv_timer_start(&l->timer, late_tick, LATE_DEPOSIT_POLL, LATE_DEPOSIT_POLL);
}

/* ---- the application --------------------------------------------------------------------- */

static void vm_free(struct vm *v)
{
	player_release(&v->pl);
	free(v);
}

static void finish(struct vm *v)
{
	struct pbx_chan *ch = v->ch;
	struct pbx_app_call *call = v->call;
	const char *status = v->status;
	pbx_chan_app_events(ch, NULL, NULL);
	pbx_chan_var_set(ch, "VMSTATUS", status);
	if (v->exit_to) {
		/* Asterisk's VoiceMail continues at o or a: the engine's own goto does that. */
		const struct pbx_app *go = pbx_app_find("goto");
		const char *argv[] = {v->exit_to, "1", ""};
		if (go)
			go->exec(ch, argv, call);
	}
	if (v->in_exec) {
		pbx_app_set_result(call, status);
		v->ended = true;
		return;
	}
	vm_free(v);
	pbx_app_finish(call, 0, status);
}

/* Play @p list ('&'-joined) as the step @p step; false when nothing could play. */
static bool play(struct vm *v, enum step step, const char *list)
{
	player_release(&v->pl);
	player_init(&v->pl, v->ch);
	v->step = step;
	if (player_add_list(&v->pl, list) || player_start(&v->pl))
		return false;
	return true;
}

/* The last prompts, then the end with @p status. */
static void close_with(struct vm *v, const char *status, const char *prompts)
{
	v->status = status;
	if (!prompts || !play(v, CLOSING, prompts))
		finish(v);
}

static void start_recording(struct vm *v)
{
	const struct pbx_vm_cfg *cfg = pbx_vm_cfg();
	struct pbx_rec_opts o = {
		.max_ms = (unsigned)cfg->max_seconds * 1000,
		.silence_ms = (unsigned)cfg->silence_seconds * 1000,
		.terminators = "#",
	};
	int err = pbx_vm_tmp_path(v->msg.mailbox, v->tmp, sizeof v->tmp);
	if (!err)
		err = v->ch->rtp ? pbx_rtp_record(v->ch->rtp, v->tmp, &o) : ENODEV;
	if (err) {
		pbx_warning("%s: VoiceMail(%s): cannot record: %s", v->ch->name, v->msg.mailbox,
			    strerror(err));
		close_with(v, "FAILED", "vm-error&vm-goodbye");
		return;
	}
	v->step = RECORDING;
	pbx_notice("%s: VoiceMail(%s): recording a message from %s", v->ch->name, v->msg.mailbox,
		   v->msg.cid_num[0] ? v->msg.cid_num : "unknown");
}

/* A played list ended (or was stopped): the next step. */
static void step_done(struct vm *v)
{
	switch (v->step) {
	case GREETING:
		if (v->exit_to) {
			v->status = "USEREXIT";
			finish(v);
		} else if (!play(v, BEEP, "beep")) {
			start_recording(v);
		}
		break;
	case BEEP: start_recording(v); break;
	case RECORDING: break;
	case CLOSING: finish(v); break;
	}
}

static void on_media_done(struct pbx_chan *ch, int err, void *arg)
{
	struct vm *v = arg;
	switch (player_event(&v->pl, err)) {
	case EALREADY:
	case 0: return; /* not ours, or the next prompt plays */
	}
	if (!v->pl.busy)
		step_done(v);
}

static void on_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	struct vm *v = arg;
	if (v->step != GREETING || v->exit_to)
		return;
	if (digit == '0')
		v->exit_to = "o";
	else if (digit == '*')
		v->exit_to = "a";
	else if (digit != '#')
		return;
	if (!player_stop(&v->pl))
		step_done(v); /* nothing was playing: no media_done to wait for */
}

static void on_record_done(struct pbx_chan *ch, int why, int err, unsigned ms, void *arg)
{
	struct vm *v = arg;
	if (v->step != RECORDING)
		return;
	if (err || why == PBX_REC_ERROR) {
		pbx_warning("%s: VoiceMail(%s): recording failed: %s", ch->name, v->msg.mailbox,
			    strerror(err ? err : EIO));
		unlink(v->tmp);
		close_with(v, "FAILED", "vm-error&vm-goodbye");
		return;
	}
	if (deposit(&v->msg, v->tmp, ms, &err)) {
		close_with(v, "SUCCESS", "vm-msgsaved&vm-goodbye");
		return;
	}
	if (err == ENOSPC)
		close_with(v, "FAILED", "vm-mailboxfull&vm-goodbye");
	else if (err)
		close_with(v, "FAILED", "vm-error&vm-goodbye");
	else
		close_with(v, "FAILED", "vm-goodbye"); /* too short */
}

static const struct pbx_chan_events events = {
	.dtmf = on_dtmf,
	.media_done = on_media_done,
	.record_done = on_record_done,
};

/* The greeting's prompts into @p list: the user's recording, or the default one. */
static void greeting(const struct vm *v, bool busy, char *list, size_t size)
{
	char own[APPS_PATH_MAX], name[APPS_PATH_MAX];
	const char *mb = v->msg.mailbox;
	if (!pbx_vm_greeting_path(mb, busy ? "busy" : "unavail", own, sizeof own) &&
	    access(own, R_OK) == 0) {
		snprintf(list, size, "%s&vm-intro", own);
		return;
	}
	size_t n = 0;
	if (!pbx_vm_greeting_path(mb, "name", name, sizeof name) && access(name, R_OK) == 0) {
		n = (size_t)snprintf(list, size, "%s", name);
	} else {
		n = (size_t)snprintf(list, size, "vm-theperson");
		for (const char *p = mb; *p && n < size; p++)
			if (*p >= '0' && *p <= '9')
				n += (size_t)snprintf(list + n, size - n, "&digits/%c", *p);
	}
	if (n < size)
		snprintf(list + n, size - n, "&%s&vm-intro",
			 busy ? "vm-isonphone" : "vm-isunavail");
}

/* The status at once, after the prompts @p prompts when the channel can hear them. */
static int fail_early(struct vm *v, const char *prompts)
{
	if (prompts && !apps_answer(v->ch, false) && v->ch->rtp && play(v, CLOSING, prompts)) {
		v->status = "FAILED";
		pbx_app_set_data(v->call, v);
		pbx_chan_app_events(v->ch, &events, v);
		return EINPROGRESS;
	}
	pbx_chan_var_set(v->ch, "VMSTATUS", "FAILED");
	pbx_app_set_result(v->call, "FAILED");
	vm_free(v);
	return 0;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char mailbox[PBX_EXT_MAX + 1];
	size_t len = strcspn(argv[0], "@&");
	if (!len || len > PBX_EXT_MAX) {
		pbx_app_error(call, "VoiceMail: mailbox '%s' is not a mailbox", argv[0]);
		return EINVAL;
	}
	memcpy(mailbox, argv[0], len);
	mailbox[len] = '\0';
	const char *opts = argv[1];
	for (const char *p = opts; *p; p++)
		if (!strchr("ubsU ,", *p)) {
			pbx_app_error(call,
				      "VoiceMail: option '%c' is not supported (u, b, s, U are)",
				      *p);
			return EINVAL;
		}
	struct vm *v = calloc(1, sizeof *v);
	if (!v) {
		pbx_app_error(call, "VoiceMail: out of memory");
		return ENOMEM;
	}
	v->call = call;
	v->ch = ch;
	player_init(&v->pl, ch);
	snprintf(v->msg.mailbox, sizeof v->msg.mailbox, "%s", mailbox);
	snprintf(v->msg.cid_num, sizeof v->msg.cid_num, "%s", ch->caller_num);
	snprintf(v->msg.cid_name, sizeof v->msg.cid_name, "%s", ch->caller_name);
	v->msg.urgent = strchr(opts, 'U') != NULL;

	struct pbx_user u;
	if (!pbx_dir() || pbx_user_find(pbx_dir(), mailbox, &u)) {
		pbx_notice("%s: VoiceMail: no mailbox '%s'", ch->name, mailbox);
		return fail_early(v, "vm-nobox&vm-goodbye");
	}
	unsigned max = pbx_vm_max_messages(mailbox);
	if (pbx_vm_message_count(mailbox) >= max) {
		pbx_notice("%s: VoiceMail(%s): mailbox full (%u messages)", ch->name, mailbox, max);
		return fail_early(v, "vm-mailboxfull&vm-goodbye");
	}
	if (apps_answer(ch, false) || !ch->rtp) {
		pbx_warning("%s: VoiceMail(%s): cannot answer", ch->name, mailbox);
		return fail_early(v, NULL);
	}
	pbx_app_set_data(call, v);
	pbx_chan_app_events(ch, &events, v);
	char list[1024];
	if (strchr(opts, 's'))
		snprintf(list, sizeof list, "beep");
	else
		greeting(v, strchr(opts, 'b') != NULL, list, sizeof list);
	v->in_exec = true;
	if (!play(v, strchr(opts, 's') ? BEEP : GREETING, list))
		start_recording(v);
	v->in_exec = false;
	if (v->ended) {
		pbx_app_set_data(call, NULL);
		vm_free(v);
		return 0;
	}
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct vm *v = pbx_app_data(call);
	if (!v)
		return;
	pbx_chan_app_events(ch, NULL, NULL);
	if (v->step == RECORDING) {
		/* The caller hung up: what was said is the message. */
		if (ch->rtp)
			pbx_rtp_record_stop(ch->rtp, true);
		late_start(v);
		pbx_chan_var_set(ch, "VMSTATUS", "SUCCESS");
	}
	vm_free(v);
}

static const struct pbx_app app = {
	.name = "voicemail",
	.synopsis = "Leave a message in a mailbox: greeting, beep, recording until # or hangup",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

static int load(void)
{
	return pbx_app_register(&app);
}

static void unload(void)
{
	pbx_app_unregister(&app);
	/* At stop, a message whose file is complete is still stored; the rest is cleaned at start. */
	while (lates) {
		struct late *l = lates;
		late_try(l);
		late_end(l);
	}
}

PBX_MODULE(app_voicemail_module) = {"app_voicemail", APPS_MODULE_ORDER, load, unload};
