/**
 * @file app_saynumber.c  SayNumber(number[, gender]): speak a whole number in English words
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's SayNumber for English: 21 is "twenty one", 105 "one
 * hundred five" (no "and", as Asterisk says it), 2000000 "two million",
 * negatives begin with "minus". Prompts are SOUNDS_DIR/digits/0..19,
 * 20..90 by tens, hundred, thousand, million and minus, Asterisk's names.
 * The gender argument matters in other languages only; it is accepted
 * and ignored. Not interrupted by DTMF, as SayDigits. A number that is
 * not an integer, or beyond the hundreds of millions, is a Lua error.
 *
 * apps_say_number() is the speaker itself, shared with VoiceMailMain
 * ("you have twenty one new messages").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"number", PBX_ARG_INT, true},
	{"gender", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static int say_digit_file(apps_say_h *say, void *arg, unsigned n)
{
	char name[24];
	snprintf(name, sizeof name, "digits/%u", n);
	return say(arg, name);
}

/* 1..999, as "digits/N" names; a group of thousands or millions says its own word after. */
static int say_below_1000(unsigned n, apps_say_h *say, void *arg)
{
	int err = 0;
	if (n >= 100) {
		if ((err = say_digit_file(say, arg, n / 100)) || (err = say(arg, "digits/hundred")))
			return err;
		n %= 100;
	}
	if (n >= 20) {
		if ((err = say_digit_file(say, arg, n / 10 * 10)))
			return err;
		n %= 10;
	}
	if (n)
		err = say_digit_file(say, arg, n);
	return err;
}

int apps_say_number(long long n, apps_say_h *say, void *arg)
{
	if (n < -APPS_NUMBER_MAX || n > APPS_NUMBER_MAX)
		return ERANGE;
	int err;
	if (n == 0)
		return say(arg, "digits/0");
	if (n < 0) {
		if ((err = say(arg, "digits/minus")))
			return err;
		n = -n;
	}
	unsigned u = (unsigned)n;
	if (u >= 1000000) {
		if ((err = say_below_1000(u / 1000000, say, arg)) ||
		    (err = say(arg, "digits/million")))
			return err;
		u %= 1000000;
	}
	if (u >= 1000) {
		if ((err = say_below_1000(u / 1000, say, arg)) ||
		    (err = say(arg, "digits/thousand")))
			return err;
		u %= 1000;
	}
	return u ? say_below_1000(u, say, arg) : 0;
}

int apps_say_player(void *pl, const char *name)
{
	return player_add(pl, name);
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	errno = 0;
	long long n = strtoll(argv[0], NULL, 10);
	if (errno == ERANGE || n < -APPS_NUMBER_MAX || n > APPS_NUMBER_MAX) {
		pbx_app_error(call, "SayNumber: %s is out of range (at most %lld either side of 0)",
			      argv[0], APPS_NUMBER_MAX);
		return EINVAL;
	}
	struct apps_play *ap = calloc(1, sizeof *ap);
	if (!ap) {
		pbx_app_error(call, "SayNumber: out of memory");
		return ENOMEM;
	}
	ap->call = call;
	player_init(&ap->pl, ch);
	int err = apps_say_number(n, apps_say_player, &ap->pl);
	if (err) {
		player_release(&ap->pl);
		free(ap);
		pbx_app_error(call, "SayNumber: %s", strerror(err));
		return err;
	}
	if (apps_answer(ch, false))
		ap->pl.next = ap->pl.count;
	return apps_play_start(ap);
}

static const struct pbx_app app = {
	.name = "saynumber",
	.synopsis = "Say a whole number in words (\"twenty one\")",
	.args = args,
	.exec = exec,
	.cancel = apps_play_cancel,
};

APPS_MODULE(saynumber);
