/**
 * @file app_mixmonitor.c  MixMonitor(file.wav[, options]) and StopMixMonitor(): call recording
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's: MixMonitor returns at once and records the channel's call
 * in the background, both directions mixed into one WAV, or each apart
 * with r(file) (what the caller says) and t(file) (what the caller hears).
 * It follows the channel through its bridges (a Dial after it is
 * recorded) and ends at hangup or with StopMixMonitor. A relative name
 * is under STATE_DIR/monitor/; "%d" becomes the first free number.
 * MIXMONITOR_FILENAME is set to the mixed file.
 *
 * Options: r(file), t(file), b (Asterisk records only while bridged; the
 * whole call is recorded here, which includes that). Running a command at
 * the end (Asterisk's third argument) is not supported.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"filename", PBX_ARG_STRING, false},
	{"options", PBX_ARG_STRING, false},
	{"command", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static bool is_wav(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && !strchr(dot, '/') && !strcasecmp(dot, ".wav");
}

/* A file name (given, or of an option) into @p out; the error is the app's. */
static int resolve(struct pbx_app_call *call, const char *what, const char *name, char *out,
		   size_t size)
{
	if (!is_wav(name)) {
		pbx_app_error(call, "MixMonitor: %s '%s' must be a .wav file", what, name);
		return EINVAL;
	}
	int err = apps_recording_path(out, size, name, "monitor");
	if (err)
		pbx_app_error(call, "MixMonitor: %s '%s': %s", what, name, strerror(err));
	return err;
}

/* r(...) or t(...) of @p opts into @p out (empty when absent). 0, or EINVAL when unclosed. */
static int option_arg(const char *opts, char letter, char *out, size_t size)
{
	out[0] = 0;
	for (const char *p = opts; *p; p++) {
		if (*p == '(') { /* skip another option's argument */
			const char *e = strchr(p, ')');
			if (!e)
				return EINVAL;
			p = e;
			continue;
		}
		if (*p != letter || p[1] != '(')
			continue;
		const char *e = strchr(p + 2, ')');
		if (!e || (size_t)(e - p - 2) >= size)
			return EINVAL;
		snprintf(out, size, "%.*s", (int)(e - p - 2), p + 2);
		return 0;
	}
	return 0;
}

/* The first option letter we do not know, or 0. */
static char unknown_option(const char *opts)
{
	for (const char *p = opts; *p; p++) {
		if (*p == '(') {
			const char *e = strchr(p, ')');
			if (!e)
				return '(';
			p = e;
		} else if (!strchr("rtb ,", *p)) {
			return *p;
		}
	}
	return 0;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char mixed[APPS_PATH_MAX] = "", rx[APPS_PATH_MAX] = "", tx[APPS_PATH_MAX] = "";
	char name[APPS_PATH_MAX];
	const char *opts = argv[1];
	char bad = unknown_option(opts);
	int err;
	if (*argv[2]) {
		pbx_app_error(call, "MixMonitor: running a command afterwards is not supported");
		return EINVAL;
	}
	if (bad) {
		pbx_app_error(call, "MixMonitor: option '%c' is not supported", bad);
		return EINVAL;
	}
	if (*argv[0] && (err = resolve(call, "filename", argv[0], mixed, sizeof mixed)))
		return err;
	if (option_arg(opts, 'r', name, sizeof name) || option_arg(opts, 't', name, sizeof name)) {
		pbx_app_error(call, "MixMonitor: options '%s': r(file) or t(file) not closed",
			      opts);
		return EINVAL;
	}
	option_arg(opts, 'r', name, sizeof name);
	if (*name && (err = resolve(call, "r() file", name, rx, sizeof rx)))
		return err;
	option_arg(opts, 't', name, sizeof name);
	if (*name && (err = resolve(call, "t() file", name, tx, sizeof tx)))
		return err;
	if (!*mixed && !*rx && !*tx) {
		pbx_app_error(call, "MixMonitor: a filename, r(file) or t(file) is needed");
		return EINVAL;
	}
	if (!ch->rtp) {
		pbx_warning("%s: MixMonitor: no media session to record", ch->name);
		return 0;
	}
	err = pbx_rtp_monitor(ch->rtp, *mixed ? mixed : NULL, *rx ? rx : NULL, *tx ? tx : NULL);
	if (err) {
		pbx_warning("%s: MixMonitor: %s", ch->name, strerror(err));
		return 0;
	}
	pbx_chan_var_set(ch, "MIXMONITOR_FILENAME", *mixed ? mixed : NULL);
	pbx_info("%s: call recording to %s%s%s%s%s", ch->name, *mixed ? mixed : "",
		 *rx ? " r:" : "", rx, *tx ? " t:" : "", tx);
	return 0;
}

static const struct pbx_app app = {
	.name = "mixmonitor",
	.synopsis = "Record the call in the background, mixed or each direction apart",
	.args = args,
	.exec = exec,
};

static const struct pbx_arg_spec stop_args[] = {
	{"id", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static int stop_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	if (ch->rtp)
		pbx_rtp_monitor_stop(ch->rtp);
	return 0;
}

static const struct pbx_app stop_app = {
	.name = "stopmixmonitor",
	.synopsis = "Stop the call recording MixMonitor started",
	.args = stop_args,
	.exec = stop_exec,
};

APPS_MODULE2(mixmonitor, app, stop_app);
