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

struct wait {
	uv_timer_t timer;
	struct pbx_app_call *call;
};

static void closed(uv_handle_t *h)
{
	free(h->data);
}

static void release(struct wait *w)
{
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, closed);
}

static void tick(uv_timer_t *t)
{
	struct wait *w = t->data;
	struct pbx_app_call *call = w->call;
	release(w);
	pbx_app_finish(call, 0, NULL);
}

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
	struct wait *w = calloc(1, sizeof *w);
	if (!w) {
		pbx_app_error(call, "Wait: out of memory");
		return ENOMEM;
	}
	w->call = call;
	uv_timer_init(pbx_loop(), &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, tick, ms, 0);
	pbx_app_set_data(call, w);
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	release(pbx_app_data(call));
}

static const struct pbx_app app = {
	.name = "wait",
	.synopsis = "Wait a number of seconds (fractions allowed)",
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
}

PBX_MODULE(app_wait_module) = {"app_wait", APPS_MODULE_ORDER, load, unload};
