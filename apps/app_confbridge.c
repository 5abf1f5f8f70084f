/**
 * @file app_confbridge.c  ConfBridge(room[,options]): PIN, announcements, the member's menu
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What a caller goes through, as Asterisk's ConfBridge does it:
 *
 *  1. A room of the directory with a PIN asks for it ("conf-getpin"),
 *     three tries; the admin PIN makes the caller an admin (and a leader).
 *  2. With announce_name, the caller records its name (up to 3 s, '#').
 *  3. It joins. Locked (and not an admin) or full: it is told so and
 *     hung up with a Q.850 reason. Alone: "you are the only person" and
 *     hold music until someone comes; else "there are N other
 *     participants". The others hear a join tone, or its name.
 *  4. Its keys: 1 mute, 4/6 what it hears, 7/9 its own volume, * the
 *     menu, # leave; an admin also has 2 lock and 3 kick the last joined.
 *  5. It leaves by '#' (the dialplan goes on, CONFBRIDGE_RESULT=DTMF), by
 *     end_marked once the last leader left (ENDMARKED), by a kick (BYE,
 *     KICKED) or by hanging up (HANGUP).
 *
 * Prompts to the member replace hold music while they play; the music
 * comes back when they end and the member is still alone or waiting.
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

#include "apps.h"
#include "conf.h"

#define PIN_TRIES   3
#define PIN_WAIT_MS 5000
#define NAME_MAX_MS 3000

enum stage {
	ST_PIN,      /* asking for the PIN */
	ST_NAME,     /* asking for, then recording, the name */
	ST_REFUSED,  /* saying why it cannot join, then hanging up */
	ST_IN,       /* a member */
	ST_ENDING,   /* saying the leader left, then leaving */
	ST_FINISHED, /* waiting for the last prompt to stop, then finishing */
};

struct cb {
	struct pbx_app_call *call;
	struct pbx_chan *ch;
	struct conf_opts o;
	bool defined;
	struct pbx_conf_room def;
	char room[CONF_NAME_MAX + 1];
	enum stage st;
	struct player pl;
	uv_timer_t timer;
	char digits[PBX_CONF_PIN_MAX + 2]; /* one more than a PIN: too long never matches */
	size_t nd;
	unsigned tries;
	bool recording;           /* the name: record_done still to come */
	char name[APPS_PATH_MAX]; /* the recorded name, "" when none */
	struct conf_member *m;
	const char *result; /* CONFBRIDGE_RESULT when it leaves */
	int hangup_cause;   /* ST_REFUSED: the reason */
};

static const struct pbx_arg_spec args[] = {
	{"room", PBX_ARG_STRING, true},
	{"options", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static bool room_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n && n <= CONF_NAME_MAX &&
	       strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") == n;
}

static void closed(uv_handle_t *h)
{
	free(h->data);
}

static void cb_free(struct cb *c)
{
	player_release(&c->pl);
	uv_timer_stop(&c->timer);
	if (c->name[0] && !c->m)
		unlink(c->name); /* never joined: nobody will say it */
	uv_close((uv_handle_t *)&c->timer, closed);
}

static void prompts_over(struct cb *c);

/* Play @p list to the member now, replacing what it hears. */
static void say(struct cb *c, const char *list)
{
	/* A prompt replaced mid-way reports nothing: the engine drops the
	 * end of a playback a newer one replaced. */
	player_release(&c->pl);
	player_init(&c->pl, c->ch);
	int err = player_add_list(&c->pl, list);
	if (err)
		pbx_warning("%s: ConfBridge: prompt \"%s\": %s", c->ch->name, list, strerror(err));
	if (player_start(&c->pl))
		prompts_over(c);
}

static int say_one(void *arg, const char *name)
{
	return player_add(arg, name);
}

static const char *moh_class(const struct cb *c)
{
	if (c->o.moh[0])
		return c->o.moh;
	if (c->m && c->m->room->moh[0])
		return c->m->room->moh;
	return "default";
}

/* Music while alone or waiting for a leader, when nothing else plays. */
static void refresh_music(struct cb *c)
{
	if (c->st != ST_IN || c->pl.busy)
		return;
	bool want = c->m->waiting || (c->m->room->n == 1 && c->o.moh_when_empty);
	if (want && !c->ch->moh) {
		int err = pbx_chan_moh_start(c->ch, moh_class(c));
		if (err == ENOENT && strcmp(moh_class(c), "default"))
			err = pbx_chan_moh_start(c->ch, "default");
		if (err)
			pbx_warning("%s: ConfBridge: no hold music '%s': %s", c->ch->name,
				    moh_class(c), strerror(err));
	} else if (!want && c->ch->moh) {
		pbx_chan_moh_stop(c->ch);
	}
}

/* ---- finishing ------------------------------------------------------------------------------ */

static void finish(struct cb *c)
{
	struct pbx_app_call *call = c->call;
	pbx_chan_app_events(c->ch, NULL, NULL);
	pbx_chan_var_set(c->ch, "CONFBRIDGE_RESULT", c->result);
	pbx_app_finish(call, 0, c->result);
	cb_free(c);
}

/* Others hear it leave: its name, or the leave tone. */
static void leave_room(struct cb *c)
{
	struct conf_member *m = c->m;
	if (!m)
		return;
	bool quiet = c->o.quiet;
	if (c->ch->moh)
		pbx_chan_moh_stop(c->ch);
	c->m = NULL;
	conf_leave(m);
	struct conf_room *r = conf_room_find(c->room);
	if (r && !quiet && c->name[0]) {
		if (conf_room_play(r, c->name, true)) {
			pbx_warning("%s: ConfBridge: the room cannot hear it leave", c->ch->name);
			unlink(c->name);
		} else if (conf_room_play(r, "conf-hasleft", false)) {
			pbx_warning("%s: ConfBridge: the room cannot hear it leave", c->ch->name);
		}
	} else if (r && !quiet) {
		conf_room_play(r, "confbridge-leave", false);
	} else if (c->name[0]) {
		unlink(c->name);
	}
	c->name[0] = '\0';
}

/* Leave and let the dialplan go on, once the prompt playing has stopped. */
static void leave_and_finish(struct cb *c, const char *result)
{
	leave_room(c);
	c->result = result;
	c->st = ST_FINISHED;
	if (!player_stop(&c->pl))
		finish(c);
}

/* ---- joining -------------------------------------------------------------------------------- */

static void on_changed(struct conf_member *m, void *arg)
{
	struct cb *c = arg;
	(void)m;
	refresh_music(c);
}

static void on_ended(struct conf_member *m, void *arg)
{
	struct cb *c = arg;
	(void)m;
	c->st = ST_ENDING;
	if (c->ch->moh)
		pbx_chan_moh_stop(c->ch);
	say(c, "conf-leaderhasleft");
}

static const struct conf_member_ops member_ops = {.changed = on_changed, .ended = on_ended};

static void refuse(struct cb *c, const char *prompt, const char *result, int cause)
{
	c->st = ST_REFUSED;
	c->result = result;
	c->hangup_cause = cause;
	pbx_chan_var_set(c->ch, "CONFBRIDGE_RESULT", result);
	say(c, prompt);
}

static void join(struct cb *c)
{
	int err = conf_join(c->room, c->defined ? &c->def : NULL, c->ch, &c->o, &member_ops, c,
			    &c->m);
	switch (err) {
	case 0: break;
	case EPERM:
		pbx_notice("%s: ConfBridge %s is locked", c->ch->name, c->room);
		refuse(c, "conf-locked", "LOCKED", PBX_CAUSE_REJECTED);
		return;
	case ENOSPC:
		pbx_notice("%s: ConfBridge %s is full", c->ch->name, c->room);
		refuse(c, "conf-full", "FULL", PBX_CAUSE_CONGESTION);
		return;
	default:
		pbx_warning("%s: ConfBridge %s: cannot join: %s", c->ch->name, c->room,
			    strerror(err));
		c->result = "FAILED";
		c->st = ST_FINISHED;
		if (!player_stop(&c->pl))
			finish(c);
		return;
	}
	c->st = ST_IN;
	struct conf_room *r = c->m->room;
	/* The others hear who came. */
	if (!c->o.quiet && r->n > 1) {
		if (c->name[0])
			err = conf_room_play(r, c->name, false) ||
			      conf_room_play(r, "conf-hasjoin", false);
		else
			err = conf_room_play(r, "confbridge-join", false);
		if (err)
			pbx_warning("%s: ConfBridge: the room cannot hear it join", c->ch->name);
	}
	/* What it hears first. */
	player_release(&c->pl);
	player_init(&c->pl, c->ch);
	if (!c->o.quiet) {
		if (c->m->waiting)
			player_add(&c->pl, "conf-waitforleader");
		else if (r->n == 1 && c->o.announce_only_user)
			player_add(&c->pl, "conf-onlyperson");
		else if (r->n > 1 && c->o.announce_count) {
			player_add(&c->pl, "conf-thereare");
			apps_say_number(r->n - 1, say_one, &c->pl);
			player_add(&c->pl, "conf-otherinparty");
		}
	}
	if (player_start(&c->pl))
		refresh_music(c);
}

/* ---- before joining: PIN and name ------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void name_start(struct cb *c)
{
	c->st = ST_NAME;
	say(c, "conf-getname&beep");
}

/* After the PIN (or without one): the name, or straight in. */
static void admitted(struct cb *c)
{
	if (c->o.announce_name && !c->o.quiet)
		name_start(c);
	else
		join(c);
}

static void pin_check(struct cb *c)
{
	uv_timer_stop(&c->timer);
	const char *pin = c->defined ? c->def.pin : c->o.pin;
	const char *admin = c->defined ? c->def.admin_pin : "";
	if (admin[0] && !strcmp(c->digits, admin)) {
		c->o.admin = c->o.marked = true;
		admitted(c);
		return;
	}
	if (!strcmp(c->digits, pin)) { /* an empty PIN with only an admin PIN set: a member */
		admitted(c);
		return;
	}
	pbx_notice("%s: ConfBridge %s: wrong PIN (try %u of %d)", c->ch->name, c->room,
		   c->tries + 1, PIN_TRIES);
	c->nd = 0;
	c->digits[0] = '\0';
	if (++c->tries >= PIN_TRIES) {
		refuse(c, "conf-invalidpin&vm-goodbye", "INVALID_PIN", PBX_CAUSE_REJECTED);
		return;
	}
	say(c, "conf-invalidpin&conf-getpin");
}

static void pin_digit(struct cb *c, char digit)
{
	if (c->pl.busy)
		player_stop(&c->pl); /* typing over the prompt */
	if (digit == '#') {
		pin_check(c);
		return;
	}
	c->digits[c->nd++] = digit;
	c->digits[c->nd] = '\0';
	if (c->nd > PBX_CONF_PIN_MAX) {
		pin_check(c); /* longer than any PIN: a wrong one */
		return;
	}
	uv_timer_start(&c->timer, on_timer, PIN_WAIT_MS, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct cb *c = t->data;
	if (c->st == ST_PIN)
		pin_check(c);
}

static void name_record(struct cb *c)
{
	struct pbx_rec_opts ro = {.max_ms = NAME_MAX_MS, .silence_ms = 0};
	snprintf(ro.terminators, sizeof ro.terminators, "#");
	int err = apps_recording_path(c->name, sizeof c->name, "confbridge-name-%d.wav",
				      "confbridge");
	if (!err)
		err = c->ch->rtp ? pbx_rtp_record(c->ch->rtp, c->name, &ro) : ENODEV;
	if (err) {
		pbx_warning("%s: ConfBridge: cannot record the name: %s", c->ch->name,
			    strerror(err));
		c->name[0] = '\0';
		join(c);
		return;
	}
	c->recording = true;
}

static void on_record_done(struct pbx_chan *ch, int why, int err, unsigned ms, void *arg)
{
	struct cb *c = arg;
	(void)ch;
	(void)why;
	c->recording = false;
	if (err || ms < 200) {
		if (c->name[0])
			unlink(c->name);
		c->name[0] = '\0';
	}
	if (c->st == ST_NAME)
		join(c);
}

/* ---- the menu ------------------------------------------------------------------------------- */

static struct conf_member *last_joined(struct conf_member *self)
{
	struct conf_member *last = NULL;
	for (struct conf_member *m = self->room->members; m; m = m->next)
		if (m != self && !m->o.admin && (!last || m->seq > last->seq))
			last = m;
	return last;
}

static void menu(struct cb *c, char digit)
{
	struct conf_member *m = c->m;
	bool admin = c->o.admin;
	switch (digit) {
	case '1':
		conf_member_mute(m, !m->muted);
		say(c, m->muted ? "conf-muted" : "conf-unmuted");
		break;
	case '4':
		conf_member_volume(m, false, -1);
		say(c, "beep");
		break;
	case '6':
		conf_member_volume(m, false, 1);
		say(c, "beep");
		break;
	case '7':
		conf_member_volume(m, true, -1);
		say(c, "beep");
		break;
	case '9':
		conf_member_volume(m, true, 1);
		say(c, "beep");
		break;
	case '*': say(c, admin ? "conf-adminmenu" : "conf-usermenu"); break;
	case '#': leave_and_finish(c, "DTMF"); break;
	case '2':
		if (!admin)
			goto bad;
		conf_room_lock(m->room, !m->room->locked);
		say(c, m->room->locked ? "conf-lockednow" : "conf-unlockednow");
		break;
	case '3': {
		if (!admin)
			goto bad;
		struct conf_member *last = last_joined(m);
		if (last)
			conf_member_kick(last);
		say(c, last ? "beep" : "conf-errormenu");
		break;
	}
	default:
	bad:
		say(c, "conf-errormenu");
	}
}

/* ---- events --------------------------------------------------------------------------------- */

static void on_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	struct cb *c = arg;
	(void)ch;
	switch (c->st) {
	case ST_PIN: pin_digit(c, digit); break;
	case ST_IN:
		if (c->o.menu)
			menu(c, digit);
		break;
	default: break; /* the name's '#' ends the recording in the engine */
	}
}

static void prompts_over(struct cb *c)
{
	switch (c->st) {
	case ST_PIN: uv_timer_start(&c->timer, on_timer, PIN_WAIT_MS, 0); break;
	case ST_NAME:
		if (!c->recording)
			name_record(c);
		break;
	case ST_REFUSED: {
		struct pbx_app_call *call = c->call;
		int cause = c->hangup_cause;
		struct pbx_chan *ch = c->ch;
		/* Hung up with the reason: the script ends, h runs. */
		pbx_chan_app_events(ch, NULL, NULL);
		pbx_app_finish(call, 0, c->result);
		cb_free(c);
		pbx_chan_hangup(ch, cause);
		break;
	}
	case ST_IN: refresh_music(c); break;
	case ST_ENDING: leave_and_finish(c, "ENDMARKED"); break;
	case ST_FINISHED: finish(c); break;
	}
}

static void on_media_done(struct pbx_chan *ch, int err, void *arg)
{
	struct cb *c = arg;
	(void)ch;
	switch (player_event(&c->pl, err)) {
	case EALREADY:
	case 0: return;
	}
	prompts_over(c);
}

static const struct pbx_chan_events events = {
	.dtmf = on_dtmf,
	.media_done = on_media_done,
	.record_done = on_record_done,
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char why[160];
	struct conf_opts o;
	if (!room_name_ok(argv[0])) {
		pbx_app_error(call, "ConfBridge: room '%.40s': 1 to %d of 0-9, A-Z, a-z, _ and -",
			      argv[0], CONF_NAME_MAX);
		return EINVAL;
	}
	conf_opts_default(&o);
	if (conf_opts_parse(argv[1], &o, why, sizeof why)) {
		pbx_app_error(call, "ConfBridge: %s", why);
		return EINVAL;
	}
	struct cb *c = calloc(1, sizeof *c);
	if (!c) {
		pbx_app_error(call, "ConfBridge: out of memory");
		return ENOMEM;
	}
	/* An earlier visit's result (DTMF, ...) is not this one's: cancel()
	 * keeps a result already set (KICKED, a refusal) and sets HANGUP only
	 * when there is none. */
	pbx_chan_var_set(ch, "CONFBRIDGE_RESULT", NULL);
	int err = pbx_conf_room_get(argv[0], &c->def);
	if (err && err != ENOENT) {
		/* A room whose PIN cannot be read is not opened without it. */
		pbx_warning("%s: ConfBridge %s: the directory cannot be read: %s", ch->name,
			    argv[0], strerror(err));
		free(c);
		pbx_chan_var_set(ch, "CONFBRIDGE_RESULT", "FAILED");
		pbx_app_set_result(call, "FAILED");
		return 0;
	}
	if (apps_answer(ch, false)) {
		free(c);
		pbx_chan_var_set(ch, "CONFBRIDGE_RESULT", "FAILED");
		pbx_app_set_result(call, "FAILED");
		return 0;
	}
	c->defined = !err;
	c->call = call;
	c->ch = ch;
	c->o = o;
	c->result = "HANGUP";
	snprintf(c->room, sizeof c->room, "%s", argv[0]);
	if (c->defined && c->def.moh[0] && !c->o.moh[0])
		snprintf(c->o.moh, sizeof c->o.moh, "%s", c->def.moh);
	player_init(&c->pl, ch);
	uv_timer_init(pbx_loop(), &c->timer);
	c->timer.data = c;
	pbx_app_set_data(call, c);
	pbx_chan_app_events(ch, &events, c);
	const char *pin = c->defined ? c->def.pin : c->o.pin;
	if (pin[0] || (c->defined && c->def.admin_pin[0])) {
		c->st = ST_PIN;
		say(c, "conf-getpin");
	} else {
		admitted(c);
	}
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct cb *c = pbx_app_data(call);
	pbx_chan_app_events(ch, NULL, NULL);
	if (c->recording && ch->rtp)
		pbx_rtp_record_stop(ch->rtp, false);
	if (c->recording && c->name[0])
		unlink(c->name);
	const char *result = pbx_chan_var_get(ch, "CONFBRIDGE_RESULT");
	if (!result || !*result)
		pbx_chan_var_set(ch, "CONFBRIDGE_RESULT", "HANGUP");
	leave_room(c);
	cb_free(c);
}

static const struct pbx_app app = {
	.name = "confbridge",
	.synopsis = "put the call in a conference room (PIN, announcements, DTMF menu)",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(confbridge);
