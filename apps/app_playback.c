/**
 * @file app_playback.c  Playback(files[, options]): play prompts, PLAYBACKSTATUS SUCCESS or FAILED
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Files are joined with '&' and played one after the other; names without
 * an extension are SOUNDS_DIR/<name>.wav (pbx.sounds_dir). The media
 * engine decodes, resamples and paces them. As in Asterisk, a missing
 * file is logged and skipped and the status says FAILED; DTMF does not
 * interrupt (that is Background).
 *
 * Options, as Asterisk's: "skip" plays nothing on a channel that is not
 * answered; "noanswer" plays as early media (183) instead of answering
 * first. Several options are separated by ',', '&' or blanks.
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
	{"filenames", PBX_ARG_STRING, true},
	{"options", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n) {
		bool start = p == list || strchr(", &|\t", p[-1]);
		bool stop = !p[n] || strchr(", &|\t", p[n]);
		if (start && stop)
			return true;
	}
	return false;
}

static const char *end(struct apps_play *ap)
{
	const char *status = ap->pl.failed ? "FAILED" : "SUCCESS";
	pbx_chan_var_set(ap->pl.ch, "PLAYBACKSTATUS", status);
	return status;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	const char *opts = argv[1];
	if (ch->state != PBX_CHAN_UP && has_word(opts, "skip")) {
		pbx_chan_var_set(ch, "PLAYBACKSTATUS", "SUCCESS");
		pbx_app_set_result(call, "SUCCESS");
		return 0;
	}
	struct apps_play *ap = calloc(1, sizeof *ap);
	if (!ap) {
		pbx_app_error(call, "Playback: out of memory");
		return ENOMEM;
	}
	ap->call = call;
	ap->end = end;
	player_init(&ap->pl, ch);
	int err = player_add_list(&ap->pl, argv[0]);
	if (err) {
		pbx_warning("%s: Playback(%s): %s", ch->name, argv[0], strerror(err));
		ap->pl.failed = true;
		ap->pl.next = ap->pl.count; /* nothing is played of a list that is wrong */
	} else if (apps_answer(ch, has_word(opts, "noanswer"))) {
		ap->pl.failed = true;
		ap->pl.next = ap->pl.count;
	}
	return apps_play_start(ap);
}

static const struct pbx_app app = {
	.name = "playback",
	.synopsis = "Play sound files ('&'-joined); PLAYBACKSTATUS SUCCESS or FAILED",
	.args = args,
	.exec = exec,
	.cancel = apps_play_cancel,
};

APPS_MODULE(playback);
