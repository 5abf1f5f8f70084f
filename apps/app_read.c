/**
 * @file app_read.c  Read(var, prompts, maxdigits, options, attempts, timeout): collect DTMF digits
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Asterisk's Read: play the prompts ('&'-joined; a digit interrupts them
 * and counts), then collect digits until '#' (not stored), maxdigits, or
 * a timeout: the first digit is awaited `timeout` seconds after the
 * prompt, each further one as long again (defaults 10 s and 5 s). An
 * attempt that collected nothing (timeout or a lone '#') plays the prompt
 * again while attempts remain. The digits go to the variable and are the
 * result; READSTATUS is OK (ended by '#' or maxdigits), TIMEOUT (even with
 * some digits, which are kept), SKIPPED (option 's' on an unanswered
 * channel), ERROR (could not answer) or HANGUP.
 *
 * Options: 's' skip when not answered, 'n' read without answering; 'i'
 * (prompt as an indication tone) is not supported and plays the prompt as
 * a file; unknown letters are ignored.
 */
#include <errno.h>
#include <math.h>
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
	{"variable", PBX_ARG_STRING, true}, {"filename", PBX_ARG_STRING, false},
	{"maxdigits", PBX_ARG_INT, false},  {"options", PBX_ARG_STRING, false},
	{"attempts", PBX_ARG_INT, false},   {"timeout", PBX_ARG_NUMBER, false},
	{NULL, PBX_ARG_STRING, false},
};

int read_args_parse(const char *const *argv, struct read_args *ra)
{
	memset(ra, 0, sizeof *ra);
	if (!apps_var_name_ok(argv[0]))
		return EINVAL;
	ra->var = argv[0];
	ra->prompt = argv[1];
	long max = *argv[2] ? strtol(argv[2], NULL, 10) : 0;
	ra->maxdigits = max <= 0 || max > READ_MAX_DIGITS ? READ_MAX_DIGITS : (unsigned)max;
	ra->skip = strchr(argv[3], 's') != NULL;
	ra->noanswer = strchr(argv[3], 'n') != NULL;
	long tries = *argv[4] ? strtol(argv[4], NULL, 10) : 1;
	ra->attempts = tries < 1 ? 1 : tries > 100 ? 100 : (unsigned)tries;
	double to = *argv[5] ? strtod(argv[5], NULL) : 0;
	if (to > 0 && !isnan(to)) {
		if (to > READ_MAX_TIMEOUT_S)
			to = READ_MAX_TIMEOUT_S;
		ra->first_ms = ra->inter_ms = (unsigned)llround(to * 1000.0);
		if (!ra->first_ms)
			ra->first_ms = ra->inter_ms = 1;
	} else {
		ra->first_ms = READ_FIRST_MS;
		ra->inter_ms = READ_INTERDIGIT_MS;
	}
	return 0;
}

struct rd {
	uv_timer_t timer;
	struct pbx_app_call *call;
	struct pbx_chan *ch;
	struct player pl;
	struct read_args ra; /* var and prompt point into this struct, not into argv */
	char *var;
	const char *status;
	char digits[READ_MAX_DIGITS + 1];
	size_t len;
	unsigned attempts_left;
	bool retry; /* this attempt is over empty-handed: start again when the prompt is quiet */
	bool done;  /* finish when the prompt is quiet */
};

static void closed(uv_handle_t *h)
{
	struct rd *r = h->data;
	free(r->var);
	free(r);
}

static void rd_free(struct rd *r)
{
	player_release(&r->pl);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, closed);
}

static void set_vars(struct rd *r)
{
	pbx_chan_var_set(r->ch, r->var, r->digits);
	pbx_chan_var_set(r->ch, "READSTATUS", r->status);
}

static void timer_tick(uv_timer_t *t);

static void arm(struct rd *r, unsigned ms)
{
	uv_timer_start(&r->timer, timer_tick, ms, 0);
}

static void attempt_start(struct rd *r)
{
	r->len = 0;
	r->digits[0] = '\0';
	player_rewind(&r->pl);
	if (player_start(&r->pl))
		arm(r, r->ra.first_ms);
}

/* Finish, retry or keep waiting for the stopped prompt's media_done. */
static void settle(struct rd *r)
{
	if (player_stop(&r->pl))
		return;
	if (r->retry) {
		r->retry = false;
		attempt_start(r);
		return;
	}
	struct pbx_app_call *call = r->call;
	pbx_chan_app_events(r->ch, NULL, NULL);
	set_vars(r);
	pbx_debug("%s: Read %s=\"%s\" (%s)", r->ch->name, r->var, r->digits, r->status);
	/* The result lives in r: finish first; the channel may be gone after. */
	pbx_app_finish(call, 0, r->digits);
	rd_free(r);
}

static void attempt_over(struct rd *r, const char *status)
{
	uv_timer_stop(&r->timer);
	r->status = status;
	if (!r->len && r->attempts_left > 1) {
		r->attempts_left--;
		r->retry = true;
	} else {
		r->done = true;
	}
	settle(r);
}

static void timer_tick(uv_timer_t *t)
{
	attempt_over(t->data, "TIMEOUT");
}

static void on_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	struct rd *r = arg;
	if (r->done || r->retry)
		return;
	if (digit == '#') {
		attempt_over(r, "OK");
		return;
	}
	r->digits[r->len++] = digit;
	r->digits[r->len] = '\0';
	if (r->len >= r->ra.maxdigits) {
		attempt_over(r, "OK");
		return;
	}
	/* A digit ends the prompt; the wait for the next one starts when it is quiet. */
	if (!player_stop(&r->pl))
		arm(r, r->ra.inter_ms);
}

static void on_media_done(struct pbx_chan *ch, int err, void *arg)
{
	struct rd *r = arg;
	switch (player_event(&r->pl, err)) {
	case EALREADY:
	case 0: return;
	}
	if (r->done || r->retry)
		settle(r);
	else
		arm(r, r->len ? r->ra.inter_ms : r->ra.first_ms);
}

static const struct pbx_chan_events events = {
	.dtmf = on_dtmf,
	.media_done = on_media_done,
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct read_args ra;
	if (read_args_parse(argv, &ra)) {
		pbx_app_error(call, "Read: \"%s\" is not a variable name", argv[0]);
		return EINVAL;
	}
	if (ch->state != PBX_CHAN_UP) {
		const char *status = NULL;
		if (ra.skip)
			status = "SKIPPED";
		else if (!ra.noanswer && apps_answer(ch, false))
			status = "ERROR";
		if (status) {
			pbx_chan_var_set(ch, "READSTATUS", status);
			pbx_app_set_result(call, "");
			return 0;
		}
	}
	struct rd *r = calloc(1, sizeof *r);
	if (!r || !(r->var = strdup(ra.var))) {
		free(r);
		pbx_app_error(call, "Read: out of memory");
		return ENOMEM;
	}
	r->call = call;
	r->ch = ch;
	r->ra = ra;
	r->ra.var = r->var;
	r->ra.prompt = NULL;
	r->attempts_left = ra.attempts;
	r->status = "TIMEOUT";
	player_init(&r->pl, ch);
	/* Asterisk reads on when the prompt cannot be played; so does this. */
	int err = player_add_list(&r->pl, ra.prompt);
	if (err)
		pbx_warning("%s: Read: prompt \"%s\": %s", ch->name, ra.prompt, strerror(err));
	uv_timer_init(pbx_loop(), &r->timer);
	r->timer.data = r;
	pbx_app_set_data(call, r);
	pbx_chan_app_events(ch, &events, r);
	attempt_start(r);
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct rd *r = pbx_app_data(call);
	pbx_chan_app_events(ch, NULL, NULL);
	r->status = "HANGUP";
	set_vars(r); /* the h extension may look at what was typed */
	rd_free(r);
}

static const struct pbx_app app = {
	.name = "read",
	.synopsis = "Play a prompt and collect DTMF digits into a variable",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(read);
