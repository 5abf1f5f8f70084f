/**
 * @file app_background.c  Background(files[, options]): play prompts until the caller presses a key
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Plays like Playback and stops at the first DTMF digit, which is the
 * result ("" when the prompts ended untouched): a Lua menu reads it
 * directly, where Asterisk would jump to the extension of that name.
 * BACKGROUNDSTATUS is SUCCESS or FAILED (a file missing), as in Asterisk.
 *
 * Options as Asterisk's letters: 's' plays nothing when the channel is
 * not answered, 'n' plays without answering (early media); 'm' and the
 * language and context arguments are accepted and ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"filenames", PBX_ARG_STRING, true},     {"options", PBX_ARG_STRING, false},
	{"langoverride", PBX_ARG_STRING, false}, {"context", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static const char *end(struct apps_play *ap)
{
	pbx_chan_var_set(ap->pl.ch, "BACKGROUNDSTATUS", ap->pl.failed ? "FAILED" : "SUCCESS");
	return ap->digit;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	const char *opts = argv[1];
	if (ch->state != PBX_CHAN_UP && strchr(opts, 's')) {
		pbx_chan_var_set(ch, "BACKGROUNDSTATUS", "SUCCESS");
		pbx_app_set_result(call, "");
		return 0;
	}
	struct apps_play *ap = calloc(1, sizeof *ap);
	if (!ap) {
		pbx_app_error(call, "Background: out of memory");
		return ENOMEM;
	}
	ap->call = call;
	ap->end = end;
	ap->interruptible = true;
	player_init(&ap->pl, ch);
	int err = player_add_list(&ap->pl, argv[0]);
	if (err) {
		pbx_warning("%s: Background(%s): %s", ch->name, argv[0], strerror(err));
		ap->pl.failed = true;
		ap->pl.next = ap->pl.count;
	} else if (apps_answer(ch, strchr(opts, 'n') != NULL)) {
		ap->pl.failed = true;
		ap->pl.next = ap->pl.count;
	}
	return apps_play_start(ap);
}

static const struct pbx_app app = {
	.name = "background",
	.synopsis = "Play sound files until a DTMF digit is pressed; the digit is the result",
	.args = args,
	.exec = exec,
	.cancel = apps_play_cancel,
};

APPS_MODULE(background);
