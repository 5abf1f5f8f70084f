/**
 * @file app_musiconhold.c  MusicOnHold([class[, duration]]): play hold music to the caller
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's: the class's music (SOUNDS_DIR/moh/CLASS/, "default"
 * when none is named) plays for @p duration seconds, or until the caller
 * hangs up when no duration is given. The call is answered first. A class
 * that does not exist is logged and the application returns at once, as
 * Asterisk's does.
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

static const struct pbx_arg_spec args[] = {
	{"class", PBX_ARG_STRING, false},
	{"duration", PBX_ARG_INT, false},
	{NULL, PBX_ARG_STRING, false},
};

struct moh_wait {
	uv_timer_t timer;
	struct pbx_app_call *call;
	struct pbx_chan *ch;
	bool timing;
};

static void closed(uv_handle_t *h)
{
	free(h->data);
}

static void release(struct moh_wait *w)
{
	if (w->timing) {
		uv_close((uv_handle_t *)&w->timer, closed);
		return;
	}
	free(w);
}

static void time_up(uv_timer_t *t)
{
	struct moh_wait *w = t->data;
	struct pbx_app_call *call = w->call;
	pbx_chan_moh_stop(w->ch);
	release(w);
	pbx_app_finish(call, 0, NULL);
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	long duration = *argv[1] ? strtol(argv[1], NULL, 10) : 0;
	if (duration < 0) {
		pbx_app_error(call, "MusicOnHold: duration %ld is negative", duration);
		return EINVAL;
	}
	int err = apps_answer(ch, false);
	if (err) {
		pbx_warning("%s: MusicOnHold: cannot answer: %s", ch->name, strerror(err));
		return 0;
	}
	if ((err = pbx_chan_moh_start(ch, *argv[0] ? argv[0] : NULL)))
		return 0; /* logged by the core; the dialplan goes on */
	struct moh_wait *w = calloc(1, sizeof *w);
	if (!w) {
		pbx_chan_moh_stop(ch);
		pbx_app_error(call, "MusicOnHold: out of memory");
		return ENOMEM;
	}
	w->call = call;
	w->ch = ch;
	if (duration) {
		uv_timer_init(pbx_loop(), &w->timer);
		w->timer.data = w;
		w->timing = true;
		uv_timer_start(&w->timer, time_up, (uint64_t)duration * 1000, 0);
	}
	pbx_app_set_data(call, w);
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct moh_wait *w = pbx_app_data(call);
	pbx_chan_moh_stop(ch);
	if (w)
		release(w);
}

static const struct pbx_app app = {
	.name = "musiconhold",
	.synopsis = "Play hold music of a class, for a time or until hangup",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(musiconhold);
