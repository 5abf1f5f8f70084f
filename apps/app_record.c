/**
 * @file app_record.c  Record(file.wav[, silence[, maxduration[, options]]]): record the caller
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's Record: a beep, then what the caller says goes to a WAV
 * file until '#' (or the options' keys), @p silence seconds of silence,
 * @p maxduration seconds, or hangup. RECORD_STATUS says which (DTMF,
 * SILENCE, TIMEOUT, HANGUP, ERROR, SKIP) and RECORDED_FILE names the file
 * without its extension. A relative name is under STATE_DIR/recordings/;
 * "%d" in it becomes the first free number.
 *
 * The media engine records on the leg's worker (jitter buffer, decoder,
 * 8 kHz, or 16 kHz for wideband codecs) and writes in the thread pool; the
 * file appears under its name complete, when the recording ends.
 *
 * Options: a (append; not supported: refused), k (keep the file when the
 * caller hangs up; it is removed otherwise, as in Asterisk), n (do not
 * answer), q (no beep), s (skip when not answered), t ('*' ends instead of
 * '#'), x (no key ends it), y (any key ends it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"filename", PBX_ARG_STRING, true},  {"silence", PBX_ARG_INT, false},
	{"maxduration", PBX_ARG_INT, false}, {"options", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

struct rec {
	struct pbx_app_call *call;
	struct player pl; /* the beep */
	char path[APPS_PATH_MAX];
	struct pbx_rec_opts o;
	bool keep;      /* option k */
	bool recording; /* record_done still to come */
};

static void finish(struct pbx_chan *ch, struct rec *r, const char *status)
{
	pbx_chan_app_events(ch, NULL, NULL);
	pbx_chan_var_set(ch, "RECORD_STATUS", status);
	struct pbx_app_call *call = r->call;
	player_release(&r->pl);
	free(r);
	pbx_app_finish(call, 0, status);
}

/* A status without a recording, from exec: nothing waits yet, nothing to finish. */
static int done_at_once(struct pbx_chan *ch, struct pbx_app_call *call, struct rec *r,
			const char *status)
{
	pbx_chan_app_events(ch, NULL, NULL);
	pbx_app_set_data(call, NULL);
	pbx_chan_var_set(ch, "RECORD_STATUS", status);
	pbx_app_set_result(call, status);
	player_release(&r->pl);
	free(r);
	return 0;
}

/* The recording itself, after the beep. 0 or errno (logged). */
static int start_recording(struct pbx_chan *ch, struct rec *r)
{
	int err = ch->rtp ? pbx_rtp_record(ch->rtp, r->path, &r->o) : ENODEV;
	if (err) {
		pbx_warning("%s: Record(%s): %s", ch->name, r->path, strerror(err));
		return err;
	}
	r->recording = true;
	pbx_info("%s: recording to %s", ch->name, r->path);
	return 0;
}

static void on_media_done(struct pbx_chan *ch, int err, void *arg)
{
	struct rec *r = arg;
	int e = player_event(&r->pl, err);
	if (e == EALREADY || e == 0)
		return; /* not ours, or the next file plays */
	if (start_recording(ch, r))
		finish(ch, r, "ERROR");
}

static void on_record_done(struct pbx_chan *ch, int why, int err, unsigned ms, void *arg)
{
	struct rec *r = arg;
	if (!r->recording)
		return;
	r->recording = false;
	if (err)
		pbx_warning("%s: Record(%s): %s", ch->name, r->path, strerror(err));
	else
		pbx_info("%s: recorded %u ms to %s (%s)", ch->name, ms, r->path,
			 pbx_rec_status_name(why));
	finish(ch, r, pbx_rec_status_name(why));
}

static const struct pbx_chan_events events = {
	.media_done = on_media_done,
	.record_done = on_record_done,
};

/* Options into @p r; the letter of an option refused, or 0. */
static char parse_options(struct rec *r, const char *opts, bool *answer, bool *skip, bool *beep)
{
	snprintf(r->o.terminators, sizeof r->o.terminators, "#");
	for (const char *p = opts; *p; p++) {
		switch (*p) {
		case 'k': r->keep = true; break;
		case 'n': *answer = false; break;
		case 'q': *beep = false; break;
		case 's': *skip = true; break;
		case 't': snprintf(r->o.terminators, sizeof r->o.terminators, "*"); break;
		case 'x': r->o.terminators[0] = 0; break;
		case 'y':
			snprintf(r->o.terminators, sizeof r->o.terminators, "0123456789*#");
			break;
		case ' ':
		case ',': break;
		default: return *p; /* 'a' (append) too: a WAV is written whole */
		}
	}
	return 0;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	const char *name = argv[0];
	const char *dot = strrchr(name, '.');
	if (!dot || strchr(dot, '/') || !dot[1]) {
		pbx_app_error(call, "Record: filename '%s' needs a format, as in '%s.wav'", name,
			      name);
		return EINVAL;
	}
	if (strcasecmp(dot + 1, "wav")) {
		pbx_app_error(call, "Record: format '%s' is not supported (wav is)", dot + 1);
		return EINVAL;
	}
	long silence = *argv[1] ? strtol(argv[1], NULL, 10) : 0;
	long maxdur = *argv[2] ? strtol(argv[2], NULL, 10) : 0;
	if (silence < 0 || silence > 3600 || maxdur < 0 || maxdur > 86400) {
		pbx_app_error(call, "Record: silence %ld or maxduration %ld out of range", silence,
			      maxdur);
		return EINVAL;
	}
	struct rec *r = calloc(1, sizeof *r);
	if (!r) {
		pbx_app_error(call, "Record: out of memory");
		return ENOMEM;
	}
	bool answer = true, skip = false, beep = true;
	char bad = parse_options(r, argv[3], &answer, &skip, &beep);
	if (bad) {
		free(r);
		pbx_app_error(call, "Record: option '%c' is not supported", bad);
		return EINVAL;
	}
	r->call = call;
	r->o.silence_ms = (unsigned)silence * 1000;
	r->o.max_ms = (unsigned)maxdur * 1000;
	player_init(&r->pl, ch);
	int err = apps_recording_path(r->path, sizeof r->path, name, "recordings");
	if (err) {
		free(r);
		pbx_app_error(call, "Record: filename '%s': %s", name, strerror(err));
		return EINVAL;
	}
	char var[APPS_PATH_MAX];
	snprintf(var, sizeof var, "%.*s", (int)(strrchr(r->path, '.') - r->path), r->path);
	pbx_chan_var_set(ch, "RECORDED_FILE", var);
	const char *now = NULL; /* a status without recording */
	if (ch->state != PBX_CHAN_UP && skip)
		now = "SKIP";
	else if (answer && (err = apps_answer(ch, false)))
		now = "ERROR";
	else if (!ch->rtp)
		now = "ERROR";
	if (now)
		return done_at_once(ch, call, r, now);
	pbx_app_set_data(call, r);
	pbx_chan_app_events(ch, &events, r);
	if (beep && !player_add(&r->pl, "beep") && !player_start(&r->pl))
		return EINPROGRESS; /* recording starts at the beep's end */
	if (start_recording(ch, r))
		return done_at_once(ch, call, r, "ERROR");
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct rec *r = pbx_app_data(call);
	if (!r)
		return;
	if (r->recording && ch->rtp)
		pbx_rtp_record_stop(ch->rtp, r->keep);
	player_release(&r->pl);
	free(r);
}

static const struct pbx_app app = {
	.name = "record",
	.synopsis = "Record the caller to a WAV file until '#', silence, a time limit or hangup",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(record);
