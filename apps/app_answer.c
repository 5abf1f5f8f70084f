/**
 * @file app_answer.c  Answer([delay]): answer the call, then wait delay ms
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As in Asterisk, the delay gives the phone time to open its audio path
 * before the first prompt; without it the application returns at once.
 * Answering a channel that is already up does nothing, and does not wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

/* A longer pause is a Wait() in disguise. */
#define ANSWER_MAX_DELAY_MS 60000

static const struct pbx_arg_spec args[] = {
	{"delay", PBX_ARG_INT, false},
	{"options", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	if (ch->state == PBX_CHAN_UP)
		return 0;
	int err = pbx_chan_answer(ch);
	if (err) {
		pbx_app_error(call, "Answer: %s: %s", ch->name, strerror(err));
		return err;
	}
	long delay = *argv[0] ? strtol(argv[0], NULL, 10) : 0;
	if (delay <= 0)
		return 0;
	if (delay > ANSWER_MAX_DELAY_MS)
		delay = ANSWER_MAX_DELAY_MS;
	return apps_sleep(call, (uint64_t)delay, "Answer");
}

static const struct pbx_app app = {
	.name = "answer",
	.synopsis = "Answer the call, then wait delay milliseconds",
	.args = args,
	.exec = exec,
	.cancel = apps_sleep_cancel,
};

APPS_MODULE(answer);
