/**
 * @file app_saydigits.c  SayDigits(digits): speak digits one by one from sounds/digits/
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * '0'..'9' play digits/0..9, '*' digits/star, '#' digits/pound, '-'
 * digits/minus, as Asterisk names them; other characters are skipped.
 * Not interrupted by DTMF (Asterisk's SayDigits is not either). The call
 * is answered first when it is not yet.
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

/* A phone number is short; this bounds the list a runaway variable could build. */
#define SAYDIGITS_MAX 64

static const struct pbx_arg_spec args[] = {
	{"digits", PBX_ARG_STRING, true},
	{NULL, PBX_ARG_STRING, false},
};

static const char *digit_prompt(char c, char *buf, size_t size)
{
	switch (c) {
	case '*': return "digits/star";
	case '#': return "digits/pound";
	case '-': return "digits/minus";
	default:
		if (c < '0' || c > '9')
			return NULL;
		snprintf(buf, size, "digits/%c", c);
		return buf;
	}
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct apps_play *ap = calloc(1, sizeof *ap);
	if (!ap) {
		pbx_app_error(call, "SayDigits: out of memory");
		return ENOMEM;
	}
	ap->call = call;
	player_init(&ap->pl, ch);
	size_t n = 0;
	for (const char *p = argv[0]; *p && n < SAYDIGITS_MAX; p++) {
		char buf[16];
		const char *name = digit_prompt(*p, buf, sizeof buf);
		if (!name) {
			pbx_debug("%s: SayDigits: '%c' has no prompt, skipped", ch->name, *p);
			continue;
		}
		int err = player_add(&ap->pl, name);
		if (err) {
			player_release(&ap->pl);
			free(ap);
			pbx_app_error(call, "SayDigits: %s", strerror(err));
			return err;
		}
		n++;
	}
	if (n && apps_answer(ch, false))
		ap->pl.next = ap->pl.count;
	return apps_play_start(ap);
}

static const struct pbx_app app = {
	.name = "saydigits",
	.synopsis = "Say digits one by one",
	.args = args,
	.exec = exec,
	.cancel = apps_play_cancel,
};

APPS_MODULE(saydigits);
