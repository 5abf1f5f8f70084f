/**
 * @file app_wait.c  Wait(seconds): pause the dialplan; fractions allowed ("0.5")
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A timer on the signalling loop; the call's media goes on meanwhile.
 * A hangup ends the wait through cancel(). Zero, negative or unreadable
 * durations return at once, as Asterisk's Wait() does.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <uv.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

/* A day: longer is a mistake in the dialplan, and ms must not overflow. */
#define WAIT_MAX_S 86400.0

static const struct pbx_arg_spec args[] = {
	{"seconds", PBX_ARG_NUMBER, true},
	{NULL, PBX_ARG_STRING, false},
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	double s = strtod(argv[0], NULL);
	if (!(s > 0) || isnan(s))
		return 0;
	if (s > WAIT_MAX_S) {
		pbx_warning("%s: Wait(%s) longer than %.0f s, shortened", ch->name, argv[0],
			    WAIT_MAX_S);
		s = WAIT_MAX_S;
	}
	uint64_t ms = (uint64_t)llround(s * 1000.0);
	if (!ms)
		return 0;
	return apps_sleep(call, ms, "Wait");
}

static const struct pbx_app app = {
	.name = "wait",
	.synopsis = "Wait a number of seconds (fractions allowed)",
	.args = args,
	.exec = exec,
	.cancel = apps_sleep_cancel,
	.takes_no_call = true,
};

APPS_MODULE(wait);
