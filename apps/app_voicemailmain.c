/**
 * @file app_voicemailmain.c  VoiceMailMain([mailbox][, options]): hear and manage messages by phone
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * In the shape of Asterisk's VoiceMailMain. Login: the mailbox is the
 * argument ("1003", or "1003@context" with the context ignored), else the
 * caller's own extension when it is a user (then only the PIN is asked,
 * and a wrong PIN asks for the mailbox too, for someone at another's
 * phone, as does '*' at the PIN prompt), else it is asked. Dialplan
 * arguments cannot tell nil from "": app.voicemailmain("") is the caller's
 * own mailbox too. Three wrong PINs: "goodbye" and a hang-up;
 * each failure is one SECURITY line in the log (see login_failed). A
 * mailbox without a PIN cannot be opened by phone: set one with
 * `user set EXT pin N`.
 *
 * Then "You have N new and M old messages" and the first message plays at
 * once (new ones first, urgent first among them; old ones when there is
 * no new one). Keys, during a message or after it: 1 replay, 3 envelope
 * (date, time and caller), 4 previous, 6 next, 7 delete / undelete,
 * 8 forward to another mailbox, 9 save to a folder, 2 change folders,
 * 0 mailbox options, * help, # goodbye. Folders by key, as Asterisk's:
 * 0 new, 1 old, 2 work, 3 family, 4 friends. Mailbox options: 1 record
 * the unavailable greeting, 2 the busy one, 3 the name, 4 change the PIN
 * (twice, 4 to 16 digits), * back. A recording is followed by "1 accept,
 * 2 listen, 3 record again" and goes into place only when accepted.
 *
 * As Asterisk does, a deleted message goes and a heard new one moves to
 * Old when the mailbox is closed: at goodbye, at a change of folder, or
 * when the caller hangs up. Until then 7 undeletes. A heard message is
 * marked read at once (pbx_vm_set_read), so the lamp goes out while the
 * caller listens; saving (9) and forwarding (8) act at once. The store's
 * watchers send MWI for each change.
 *
 * Every key that does nothing says so ("not a valid choice"); a menu left
 * unanswered is said again, three times, then "goodbye" and a hang-up.
 * No channel variable is set (Asterisk's VoiceMailMain sets none).
 *
 * Options: s, no PIN when the mailbox is the argument or the caller's own
 * extension (a mailbox typed in is always checked; Asterisk's 's' skips
 * that too). Other letters are a Lua error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"

#include "apps.h"
#include "vm_menu.h"

#define VMM_LOGIN_TRIES 3    /* wrong PINs before the hang-up */
#define VMM_TIMEOUTS    3    /* unanswered prompts of one menu before goodbye */
#define VMM_KEY_MS      6000 /* wait for a menu key after its prompt */
#define VMM_FIRST_MS    8000 /* wait for the first digit of a number */
#define VMM_DIGIT_MS    5000 /* and between its digits */
#define VMM_GREETING_S  120  /* a greeting ends at this length... */
#define VMM_SILENCE_S   3    /* ...or this much silence, unless voicemail.silence_seconds says */

static const struct pbx_arg_spec args[] = {
	{"mailbox", PBX_ARG_STRING, false},
	{"options", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

enum stage {
	ST_MAILBOX,   /* number ended by '#' */
	ST_PIN,       /* number */
	ST_MENU,      /* key: the message menu, or the main menu when the view is empty */
	ST_SAVE,      /* key: the folder to save the message to */
	ST_FOLDER,    /* key: the folder to change to */
	ST_FORWARD,   /* number: the mailbox to forward to */
	ST_OPTIONS,   /* key */
	ST_REC_INTRO, /* prompts and beep, no input; the recording starts at their end */
	ST_RECORDING, /* record_done ends it */
	ST_REVIEW,    /* key: accept, listen, again */
	ST_NEWPIN,    /* number */
	ST_NEWPIN2,   /* number */
	ST_BYE,       /* "goodbye", no input; the call is hung up at its end */
};

/* Digits each stage takes: 1 a key, more a number ended by '#', 0 none. */
static const unsigned stage_max[] = {
	[ST_MAILBOX] = PBX_EXT_MAX,
	[ST_PIN] = 32,
	[ST_MENU] = 1,
	[ST_SAVE] = 1,
	[ST_FOLDER] = 1,
	[ST_FORWARD] = 32,
	[ST_OPTIONS] = 1,
	[ST_REC_INTRO] = 0,
	[ST_RECORDING] = 0,
	[ST_REVIEW] = 1,
	[ST_NEWPIN] = 20,
	[ST_NEWPIN2] = 20,
	[ST_BYE] = 0,
};

struct vmm {
	uv_timer_t timer;
	struct pbx_app_call *call;
	struct pbx_chan *ch;
	struct player pl;
	enum stage st;
	char in[40]; /* digits of the stage so far */
	size_t len;
	bool ready;     /* the input is whole: act when the prompt is quiet */
	char ahead[16]; /* keys pressed meanwhile, for the next stage (type-ahead) */
	size_t ahead_len;
	unsigned timeouts; /* of this stage in a row */

	char mailbox[PBX_EXT_MAX + 1];
	bool mailbox_known; /* argument or caller ID: not asked first */
	bool mailbox_arg;   /* the argument: never asked */
	bool skip_pin;      /* option s, for a known mailbox */
	unsigned failures;
	bool open; /* logged in: the list is the mailbox's */

	struct vm_list list;
	const char *kind; /* greeting being recorded: "unavail", "busy", "name" */
	char tmp[512];    /* the recording under review; "" when none */
	bool recording;   /* record_done still to come */
	char newpin[40];  /* as in */
};

/* ---- prompts ---------------------------------------------------------------------------------- */

static void say(struct vmm *v, const char *name)
{
	int err = player_add(&v->pl, name);
	if (err)
		pbx_warning("%s: VoiceMailMain: prompt %s: %s", v->ch->name, name, strerror(err));
}

static int say_h(void *arg, const char *name)
{
	say(arg, name);
	return 0;
}

/* A new list of prompts; the last one is quiet (every stage starts only when it is). */
static void begin(struct vmm *v)
{
	player_release(&v->pl);
	player_init(&v->pl, v->ch);
}

/* The question stage @p st asks, said when it starts and again after a timeout. */
static void say_question(struct vmm *v, enum stage st)
{
	static const char *const q[] = {
		[ST_MAILBOX] = "vm-login",      [ST_PIN] = "vm-password",
		[ST_SAVE] = "vm-folders",       [ST_FOLDER] = "vm-folders",
		[ST_FORWARD] = "vm-forwardto",  [ST_OPTIONS] = "vm-options",
		[ST_REVIEW] = "vm-review",      [ST_NEWPIN] = "vm-newpin",
		[ST_NEWPIN2] = "vm-reenterpin",
	};
	if (st == ST_MENU)
		say(v, v->list.n ? "vm-msgmenu" : "vm-mainmenu");
	else if ((size_t)st < sizeof q / sizeof *q && q[st])
		say(v, q[st]);
}

static void on_quiet(struct vmm *v);

static bool take_ahead(struct vmm *v);

/* Play what was said, then wait for the stage's input (or go on when it takes none). */
static void await(struct vmm *v, enum stage st)
{
	if (st != v->st)
		v->timeouts = 0;
	v->st = st;
	v->len = 0;
	v->in[0] = '\0';
	v->ready = false;
	if (!stage_max[st])
		v->ahead_len = 0; /* a recording or a goodbye: keys typed ahead are for nothing */
	bool quiet = player_start(&v->pl) != 0;
	if (!take_ahead(v) && quiet)
		on_quiet(v);
}

/* Say the stage's question after what was said already, and wait. */
static void ask(struct vmm *v, enum stage st)
{
	say_question(v, st);
	await(v, st);
}

static void bye(struct vmm *v)
{
	say(v, "vm-goodbye");
	await(v, ST_BYE);
}

/* ---- the mailbox ------------------------------------------------------------------------------ */

struct tally {
	struct vmm *v;
	int view;
	unsigned new_msgs, old_msgs;
	int err;
};

static int tally_each(const struct pbx_vm_msg *m, void *arg)
{
	struct tally *t = arg;
	t->new_msgs += vm_view_has(VM_VIEW_NEW, m);
	t->old_msgs += vm_view_has(VM_VIEW_OLD, m);
	if (t->view >= 0 && vm_view_has(t->view, m))
		t->err = vm_list_add(&t->v->list, m);
	return t->err;
}

/* Load view @p view into the list (-1: count only). 0 or errno (logged). */
static int load(struct vmm *v, int view, struct tally *t)
{
	*t = (struct tally){.v = v, .view = view};
	vm_list_clear(&v->list);
	v->list.view = view < 0 ? VM_VIEW_NEW : view;
	int err = pbx_vm_each(v->mailbox, -1, tally_each, t);
	if (!err)
		err = t->err;
	if (err)
		pbx_warning("%s: VoiceMailMain: mailbox %s: %s", v->ch->name, v->mailbox,
			    strerror(err));
	return err;
}

/* Apply the session's marks to the list: deletes, heard new ones to Old (Asterisk's close). */
static void close_view(struct vmm *v)
{
	unsigned deleted = 0, moved = 0;
	for (size_t i = 0; i < v->list.n; i++) {
		const struct vm_entry *e = &v->list.v[i];
		int err = 0;
		switch (vm_entry_fate(e)) {
		case VM_FATE_DELETE:
			if (!(err = pbx_vm_delete(e->m.id)))
				deleted++;
			break;
		case VM_FATE_OLD:
			if (!(err = pbx_vm_move(e->m.id, PBX_VM_OLD)))
				moved++;
			break;
		case VM_FATE_KEEP: break;
		}
		if (err && err != ENOENT) /* ENOENT: the console removed it meanwhile */
			pbx_warning("%s: VoiceMailMain: message %lld of %s: %s", v->ch->name,
				    (long long)e->m.id, v->mailbox, strerror(err));
	}
	if (deleted || moved)
		pbx_notice("%s: VoiceMailMain: mailbox %s: %u deleted, %u moved to Old",
			   v->ch->name, v->mailbox, deleted, moved);
	vm_list_clear(&v->list);
}

/* The message open: its header and file, then the menu. Heard from now on. */
static void play_current(struct vmm *v)
{
	struct vm_entry *e = &v->list.v[v->list.cur];
	vm_say_header(&v->list, say_h, v);
	say(v, e->m.path);
	if (!e->heard) {
		e->heard = true;
		int err = e->m.read ? 0 : pbx_vm_set_read(e->m.id, true);
		if (err)
			pbx_warning("%s: VoiceMailMain: message %lld: %s", v->ch->name,
				    (long long)e->m.id, strerror(err));
	}
	ask(v, ST_MENU);
}

/* After "you have ...": the first message, or the main menu when there is none. */
static void first_message(struct vmm *v)
{
	if (v->list.n)
		play_current(v);
	else
		ask(v, ST_MENU);
}

static void open_mailbox(struct vmm *v)
{
	struct tally t;
	v->open = true;
	pbx_notice("%s: VoiceMailMain: mailbox %s opened", v->ch->name, v->mailbox);
	if (load(v, -1, &t)) {
		say(v, "vm-failed");
		bye(v);
		return;
	}
	vm_say_counts(t.new_msgs, t.old_msgs, say_h, v);
	load(v, t.new_msgs || !t.old_msgs ? VM_VIEW_NEW : VM_VIEW_OLD, &t);
	first_message(v);
}

/* ---- login ------------------------------------------------------------------------------------ */

/*
 * One line per wrong PIN, at warning level, for log watchers, in a fixed
 * format as the SIP driver's SECURITY lines:
 *
 *   SECURITY voicemail login failed mailbox=1003 caller=1001 channel=SIP/1001-00000004
 *            attempt=1 of=3 reason=wrong_pin                              (one line)
 *
 * reason: wrong_pin, no_pin (the user has none), no_mailbox (no such
 * user, or disabled; the caller was asked for a PIN all the same).
 * Values are escaped (vm_log_escape); the caller is the caller ID number.
 */
static void login_failed(struct vmm *v, const char *reason)
{
	char mb[3 * PBX_EXT_MAX + 4], caller[96], chan[96];
	vm_log_escape(mb, sizeof mb, v->mailbox);
	vm_log_escape(caller, sizeof caller, v->ch->caller_num);
	vm_log_escape(chan, sizeof chan, v->ch->name);
	pbx_warning("SECURITY voicemail login failed mailbox=%s caller=%s channel=%s attempt=%u "
		    "of=%u reason=%s",
		    mb, caller, chan, v->failures, VMM_LOGIN_TRIES, reason);
}

static void check_pin(struct vmm *v, const char *pin)
{
	struct pbx_user u;
	const char *reason = NULL;
	int err = pbx_user_find(pbx_dir(), v->mailbox, &u);
	if (err || !u.enabled)
		reason = "no_mailbox";
	else if (!u.pin[0])
		reason = "no_pin";
	else if (!vm_pin_equal(pin, u.pin))
		reason = "wrong_pin";
	explicit_bzero(&u, sizeof u);
	if (!reason) {
		open_mailbox(v);
		return;
	}
	v->failures++;
	login_failed(v, reason);
	say(v, "vm-incorrect");
	if (v->failures >= VMM_LOGIN_TRIES) {
		pbx_notice("%s: VoiceMailMain: %u failed logins, hanging up", v->ch->name,
			   v->failures);
		bye(v);
	} else {
		ask(v, v->mailbox_arg ? ST_PIN : ST_MAILBOX);
	}
}

/* ---- greetings and PIN ------------------------------------------------------------------------ */

static void discard_tmp(struct vmm *v)
{
	if (v->tmp[0] && unlink(v->tmp) && errno != ENOENT)
		pbx_warning("%s: VoiceMailMain: %s: %s", v->ch->name, v->tmp, strerror(errno));
	v->tmp[0] = '\0';
}

static void record_intro(struct vmm *v)
{
	discard_tmp(v);
	begin(v);
	say(v, !strcmp(v->kind, "name")   ? "vm-rec-name"
	       : !strcmp(v->kind, "busy") ? "vm-rec-busy"
					  : "vm-rec-unavail");
	say(v, "beep");
	await(v, ST_REC_INTRO);
}

static void record_start(struct vmm *v)
{
	const struct pbx_vm_cfg *cfg = pbx_vm_cfg();
	struct pbx_rec_opts o = {.max_ms = VMM_GREETING_S * 1000};
	o.silence_ms =
		(cfg && cfg->silence_seconds > 0 ? (unsigned)cfg->silence_seconds : VMM_SILENCE_S) *
		1000;
	snprintf(o.terminators, sizeof o.terminators, "#");
	int err = pbx_vm_tmp_path(v->mailbox, v->tmp, sizeof v->tmp);
	if (!err)
		err = v->ch->rtp ? pbx_rtp_record(v->ch->rtp, v->tmp, &o) : ENODEV;
	if (err) {
		pbx_warning("%s: VoiceMailMain: recording the %s greeting of %s: %s", v->ch->name,
			    v->kind, v->mailbox, strerror(err));
		v->tmp[0] = '\0';
		begin(v);
		say(v, "vm-failed");
		ask(v, ST_OPTIONS);
		return;
	}
	v->recording = true;
	v->st = ST_RECORDING;
}

static void accept_recording(struct vmm *v)
{
	char path[512];
	int err = pbx_vm_greeting_path(v->mailbox, v->kind, path, sizeof path);
	if (!err && rename(v->tmp, path))
		err = errno;
	if (err) {
		pbx_warning("%s: VoiceMailMain: saving the %s greeting of %s: %s", v->ch->name,
			    v->kind, v->mailbox, strerror(err));
		discard_tmp(v);
		say(v, "vm-failed");
	} else {
		pbx_notice("%s: VoiceMailMain: mailbox %s recorded its %s greeting", v->ch->name,
			   v->mailbox, v->kind);
		v->tmp[0] = '\0';
		say(v, "vm-recsaved");
	}
	ask(v, ST_OPTIONS);
}

static void change_pin(struct vmm *v, const char *pin)
{
	struct pbx_user u;
	int err = pbx_user_find(pbx_dir(), v->mailbox, &u);
	if (!err) {
		snprintf(u.pin, sizeof u.pin, "%s", pin);
		err = pbx_user_update(pbx_dir(), &u);
	}
	explicit_bzero(&u, sizeof u);
	if (err) {
		pbx_warning("%s: VoiceMailMain: PIN of %s: %s", v->ch->name, v->mailbox,
			    strerror(err));
		say(v, "vm-failed");
	} else {
		pbx_notice("%s: VoiceMailMain: mailbox %s changed its PIN", v->ch->name,
			   v->mailbox);
		say(v, "vm-pinchanged");
	}
}

/* ---- keys ------------------------------------------------------------------------------------- */

static void menu_key(struct vmm *v, char key)
{
	struct vm_entry *e = v->list.n ? &v->list.v[v->list.cur] : NULL;
	struct tm tm;
	switch (vm_list_key(&v->list, key)) {
	case VM_ACT_PLAY: play_current(v); return;
	case VM_ACT_ENVELOPE:
		localtime_r(&(time_t){(time_t)e->m.time}, &tm);
		vm_say_envelope(&e->m, &tm, say_h, v);
		break;
	case VM_ACT_NOMORE: say(v, "vm-nomore"); break;
	case VM_ACT_NOMSGS: vm_say_view_count(v->list.view, 0, say_h, v); break;
	case VM_ACT_DELETED: say(v, "vm-deleted"); break;
	case VM_ACT_UNDELETED: say(v, "vm-undeleted"); break;
	case VM_ACT_FORWARD: ask(v, ST_FORWARD); return;
	case VM_ACT_SAVE:
		say(v, "vm-savefolder");
		ask(v, ST_SAVE);
		return;
	case VM_ACT_FOLDER:
		say(v, "vm-changeto");
		ask(v, ST_FOLDER);
		return;
	case VM_ACT_OPTIONS: ask(v, ST_OPTIONS); return;
	case VM_ACT_HELP:
		say(v, v->list.n ? "vm-help" : "vm-mainmenu");
		await(v, ST_MENU);
		return;
	case VM_ACT_EXIT: bye(v); return;
	case VM_ACT_INVALID: say(v, "vm-invalid"); break;
	}
	ask(v, ST_MENU);
}

static void save_key(struct vmm *v, char key)
{
	int view = vm_view_of_key(key);
	if (key == '*' || key == '#') {
		ask(v, ST_MENU);
		return;
	}
	if (view < 0) {
		say(v, "vm-invalid");
		ask(v, ST_SAVE);
		return;
	}
	struct vm_entry *e = &v->list.v[v->list.cur];
	int folder = vm_view_folder(view);
	int err = e->m.folder == folder ? 0 : pbx_vm_move(e->m.id, folder);
	if (!err && folder == PBX_VM_INBOX)
		err = pbx_vm_set_read(e->m.id, false); /* saved as new: new again */
	if (err) {
		pbx_warning("%s: VoiceMailMain: saving message %lld: %s", v->ch->name,
			    (long long)e->m.id, strerror(err));
		say(v, "vm-failed");
	} else {
		e->m.folder = folder;
		e->saved = true;
		e->deleted = false;
		say(v, "vm-savedto");
		say(v, vm_view_prompt(view));
	}
	ask(v, ST_MENU);
}

static void folder_key(struct vmm *v, char key)
{
	int view = vm_view_of_key(key);
	struct tally t;
	if (key == '*' || key == '#') {
		ask(v, ST_MENU);
		return;
	}
	if (view < 0) {
		say(v, "vm-invalid");
		ask(v, ST_FOLDER);
		return;
	}
	close_view(v);
	if (load(v, view, &t)) {
		say(v, "vm-failed");
		bye(v);
		return;
	}
	vm_say_view_count(view, v->list.n, say_h, v);
	first_message(v);
}

static void forward_to(struct vmm *v, const char *ext)
{
	struct pbx_user u;
	struct pbx_vm_msg out;
	if (!*ext || *ext == '*') {
		ask(v, ST_MENU);
		return;
	}
	if (pbx_user_find(pbx_dir(), ext, &u)) {
		say(v, "vm-nobox");
		ask(v, ST_MENU);
		return;
	}
	const struct vm_entry *e = &v->list.v[v->list.cur];
	int err = pbx_vm_copy(e->m.id, ext, &out);
	if (err)
		pbx_notice("%s: VoiceMailMain: forwarding message %lld of %s to %s: %s",
			   v->ch->name, (long long)e->m.id, v->mailbox, ext, strerror(err));
	else
		pbx_info("%s: VoiceMailMain: message %lld of %s forwarded to %s", v->ch->name,
			 (long long)e->m.id, v->mailbox, ext);
	say(v, !err ? "vm-forwarded" : err == ENOSPC ? "vm-mailboxfull" : "vm-failed");
	ask(v, ST_MENU);
}

static void options_key(struct vmm *v, char key)
{
	switch (key) {
	case '1': v->kind = "unavail"; break;
	case '2': v->kind = "busy"; break;
	case '3': v->kind = "name"; break;
	case '4': ask(v, ST_NEWPIN); return;
	case '*':
	case '#': ask(v, ST_MENU); return;
	default:
		say(v, "vm-invalid");
		ask(v, ST_OPTIONS);
		return;
	}
	record_intro(v);
}

static void review_key(struct vmm *v, char key)
{
	switch (key) {
	case '1': accept_recording(v); return;
	case '2':
		say(v, v->tmp);
		ask(v, ST_REVIEW);
		return;
	case '3': record_intro(v); return;
	case '*':
	case '#':
		discard_tmp(v);
		say(v, "vm-discarded");
		ask(v, ST_OPTIONS);
		return;
	default: say(v, "vm-invalid"); ask(v, ST_REVIEW);
	}
}

/* The stage's input is whole and the prompts are quiet: act on it. */
static void act(struct vmm *v)
{
	char in[sizeof v->in];
	memcpy(in, v->in, sizeof in);
	v->ready = false;
	v->len = 0;
	memset(v->in, 0, sizeof v->in); /* it may hold a PIN */
	v->timeouts = 0;                /* the caller is there */
	uv_timer_stop(&v->timer);
	begin(v);
	switch (v->st) {
	case ST_MAILBOX:
		if (!in[0] || in[0] == '*') {
			ask(v, ST_MAILBOX);
			break;
		}
		snprintf(v->mailbox, sizeof v->mailbox, "%.*s", PBX_EXT_MAX, in);
		ask(v, ST_PIN); /* a mailbox typed in is always checked, option s or not */
		break;
	case ST_PIN:
		if (in[0] == '*') /* another mailbox than the one assumed; no try counted */
			ask(v, v->mailbox_arg ? ST_PIN : ST_MAILBOX);
		else
			check_pin(v, in);
		break;
	case ST_MENU: menu_key(v, in[0]); break;
	case ST_SAVE: save_key(v, in[0]); break;
	case ST_FOLDER: folder_key(v, in[0]); break;
	case ST_FORWARD: forward_to(v, in); break;
	case ST_OPTIONS: options_key(v, in[0]); break;
	case ST_REVIEW: review_key(v, in[0]); break;
	case ST_NEWPIN:
		if (in[0] == '*') {
			ask(v, ST_OPTIONS);
		} else if (pbx_user_check_pin(in)) {
			say(v, "vm-pinbad");
			ask(v, ST_NEWPIN);
		} else {
			snprintf(v->newpin, sizeof v->newpin, "%s", in);
			ask(v, ST_NEWPIN2);
		}
		break;
	case ST_NEWPIN2:
		if (in[0] == '*')
			; /* back to the options */
		else if (strcmp(in, v->newpin))
			say(v, "vm-mismatch");
		else
			change_pin(v, in);
		explicit_bzero(v->newpin, sizeof v->newpin);
		ask(v, ST_OPTIONS);
		break;
	case ST_REC_INTRO:
	case ST_RECORDING:
	case ST_BYE: break; /* take no input */
	}
	explicit_bzero(in, sizeof in); /* a PIN, maybe; v may be closing, in is ours */
}

/* ---- events ----------------------------------------------------------------------------------- */

static void timer_tick(uv_timer_t *t)
{
	struct vmm *v = t->data;
	if (v->len) { /* a number not ended by '#' is taken as it is, as Asterisk does */
		v->ready = true;
		act(v);
		return;
	}
	begin(v);
	if (++v->timeouts >= VMM_TIMEOUTS) {
		pbx_info("%s: VoiceMailMain: no answer, goodbye", v->ch->name);
		bye(v);
		return;
	}
	ask(v, v->st); /* the same stage: await() keeps the count */
}

/* The prompts are over (or stopped by a key). */
static void on_quiet(struct vmm *v)
{
	if (v->ready) {
		act(v);
		return;
	}
	switch (v->st) {
	case ST_REC_INTRO: record_start(v); return;
	case ST_RECORDING: return;
	case ST_BYE:
		/* The hangup cancels the application (cancel below closes the mailbox). */
		pbx_chan_hangup(v->ch, PBX_CAUSE_NORMAL);
		return;
	default: break;
	}
	unsigned ms = stage_max[v->st] == 1 ? VMM_KEY_MS : v->len ? VMM_DIGIT_MS : VMM_FIRST_MS;
	uv_timer_start(&v->timer, timer_tick, ms, 0);
}

static void take_digit(struct vmm *v, char digit)
{
	unsigned max = stage_max[v->st];
	if (!max || v->ready)
		return;
	uv_timer_stop(&v->timer);
	if (max > 1 && digit == '#') {
		v->ready = true;
	} else if (max > 1 && digit == '*') {
		snprintf(v->in, sizeof v->in, "*"); /* cancel, where the stage allows it */
		v->ready = true;
	} else {
		v->in[v->len++] = digit;
		v->in[v->len] = '\0';
		v->ready = v->len >= max;
	}
	/* A key ends the prompt; act (or wait for the next digit) when it is quiet. */
	if (!player_stop(&v->pl))
		on_quiet(v);
}

/*
 * Keys that came while the last input waited for its prompt to stop go to
 * the stage just entered, as a phone user types ahead ("1234#" then "7"
 * at once). True when one was taken (the prompt and timer are its care).
 * The stage a key leads to takes the rest by its own await().
 */
static bool take_ahead(struct vmm *v)
{
	bool took = false;
	while (v->ahead_len && !v->ready && stage_max[v->st]) {
		char d = v->ahead[0];
		memmove(v->ahead, v->ahead + 1, --v->ahead_len);
		took = true;
		take_digit(v, d);
	}
	return took;
}

static void on_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	struct vmm *v = arg;
	if (!v->ready) {
		take_digit(v, digit);
		return;
	}
	if (v->ahead_len < sizeof v->ahead)
		v->ahead[v->ahead_len++] = digit;
}

static void on_media_done(struct pbx_chan *ch, int err, void *arg)
{
	struct vmm *v = arg;
	int e = player_event(&v->pl, err);
	if (e == EALREADY || e == 0)
		return;
	on_quiet(v);
}

static void on_record_done(struct pbx_chan *ch, int why, int err, unsigned ms, void *arg)
{
	struct vmm *v = arg;
	if (!v->recording)
		return;
	v->recording = false;
	begin(v);
	if (err || why == PBX_REC_ERROR || !ms) {
		pbx_warning("%s: VoiceMailMain: recording the %s greeting of %s: %s", ch->name,
			    v->kind, v->mailbox, err ? strerror(err) : "nothing recorded");
		discard_tmp(v);
		say(v, "vm-failed");
		ask(v, ST_OPTIONS);
		return;
	}
	pbx_info("%s: VoiceMailMain: %u ms recorded for the %s greeting of %s (%s)", ch->name, ms,
		 v->kind, v->mailbox, pbx_rec_status_name(why));
	ask(v, ST_REVIEW);
}

static const struct pbx_chan_events events = {
	.dtmf = on_dtmf,
	.media_done = on_media_done,
	.record_done = on_record_done,
};

/* ---- the application -------------------------------------------------------------------------- */

static void closed(uv_handle_t *h)
{
	struct vmm *v = h->data;
	vm_list_free(&v->list);
	free(v);
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct vmm *v = pbx_app_data(call);
	pbx_chan_app_events(ch, NULL, NULL);
	v->ahead_len = 0; /* a hang-up inside take_ahead() ends its loop */
	v->st = ST_BYE;
	if (v->recording && ch->rtp)
		pbx_rtp_record_stop(ch->rtp, false);
	/* A recording the engine still writes removes itself (keep false); one under review goes here. */
	if (!v->recording)
		discard_tmp(v);
	if (v->open)
		close_view(v);
	player_release(&v->pl);
	uv_timer_stop(&v->timer);
	uv_close((uv_handle_t *)&v->timer, closed);
}

/* "1003" or "1003@context" (Asterisk's form; one directory here, the context is ignored). */
static int mailbox_arg(char *out, size_t size, const char *arg)
{
	const char *at = strchr(arg, '@');
	size_t n = at ? (size_t)(at - arg) : strlen(arg);
	if (n >= size)
		return EINVAL;
	memcpy(out, arg, n);
	out[n] = '\0';
	return pbx_user_check_ext(out) ? EINVAL : 0;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char mailbox[PBX_EXT_MAX + 1] = "";
	if (*argv[0] && mailbox_arg(mailbox, sizeof mailbox, argv[0])) {
		pbx_app_error(call, "VoiceMailMain: '%.40s' is not a mailbox", argv[0]);
		return EINVAL;
	}
	for (const char *p = argv[1]; *p; p++) {
		if (*p != 's') {
			pbx_app_error(call, "VoiceMailMain: option '%c' is not supported", *p);
			return EINVAL;
		}
	}
	if (apps_answer(ch, false) || !ch->rtp) {
		pbx_warning("%s: VoiceMailMain: no media, nothing to do", ch->name);
		return 0;
	}
	struct vmm *v = calloc(1, sizeof *v);
	if (!v) {
		pbx_app_error(call, "VoiceMailMain: out of memory");
		return ENOMEM;
	}
	v->call = call;
	v->ch = ch;
	v->skip_pin = strchr(argv[1], 's') != NULL;
	struct pbx_user u;
	if (mailbox[0]) {
		snprintf(v->mailbox, sizeof v->mailbox, "%s", mailbox);
		v->mailbox_known = v->mailbox_arg = true;
	} else if (ch->caller_num[0] && !pbx_user_check_ext(ch->caller_num) &&
		   !pbx_user_find(pbx_dir(), ch->caller_num, &u)) {
		snprintf(v->mailbox, sizeof v->mailbox, "%s", u.ext);
		v->mailbox_known = true;
	}
	explicit_bzero(&u, sizeof u);
	player_init(&v->pl, ch);
	uv_timer_init(pbx_loop(), &v->timer);
	v->timer.data = v;
	pbx_app_set_data(call, v);
	pbx_chan_app_events(ch, &events, v);
	if (!v->mailbox_known) {
		ask(v, ST_MAILBOX);
	} else if (!v->skip_pin) {
		ask(v, ST_PIN);
	} else if (pbx_user_find(pbx_dir(), v->mailbox, &u)) {
		pbx_notice("%s: VoiceMailMain: no mailbox %s", ch->name, v->mailbox);
		say(v, "vm-nobox");
		bye(v);
	} else {
		open_mailbox(v);
	}
	return EINPROGRESS;
}

static const struct pbx_app app = {
	.name = "voicemailmain",
	.synopsis = "Hear and manage voicemail by phone: PIN, messages, greetings",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(voicemailmain);
