/**
 * @file app_playtones.c  PlayTones(tone) and StopPlayTones(): a tone in the background
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's: PlayTones returns at once and the tone goes on until
 * StopPlayTones, the call's end, or its own end for a tone played once.
 * The tone is a name (dial, ring, busy, congestion, as the North American
 * tones Asterisk's default indications give) or a description in
 * Asterisk's form: "F1[+F2]" for a steady tone, "F1[+F2]/ON,0/OFF" for a
 * cadence (milliseconds), a leading '!' to play the first part once.
 * Frequencies are below 4 kHz (the narrowband every phone carries).
 * Prompts played meanwhile take the line; the tone goes on after them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/frame.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"

#include "apps.h"

#define TONE_LEVEL 5000 /* per frequency: two sum to about -10 dBFS, as phones play them */

static const struct {
	const char *name, *tone;
} named[] = {
	{"dial", "350+440"},
	{"ring", "440+480/2000,0/4000"},
	{"busy", "480+620/500,0/500"},
	{"congestion", "480+620/250,0/250"},
};

/* "F1[+F2]" into @p spec's frequencies; the rest after it in *@p end. */
static bool parse_freqs(const char *p, struct pbx_tone_spec *spec, const char **end)
{
	char *e;
	for (int i = 0; i < 2; i++) {
		long f = strtol(p, &e, 10);
		if (e == p || f <= 0 || f >= 4000)
			return false;
		spec->freq[i] = (unsigned)f;
		p = e;
		if (*p != '+')
			break;
		p++;
	}
	*end = p;
	return true;
}

int apps_tone_parse(const char *text, struct pbx_tone_spec *spec)
{
	const char *p = text, *e;
	char *end;
	memset(spec, 0, sizeof *spec);
	spec->amplitude = TONE_LEVEL;
	for (size_t i = 0; i < sizeof named / sizeof *named; i++)
		if (!strcasecmp(text, named[i].name))
			p = named[i].tone;
	if (*p == '!') {
		spec->once = true;
		p++;
	}
	if (!parse_freqs(p, spec, &e))
		return EINVAL;
	if (!*e)
		return spec->once ? EINVAL : 0; /* steady; "!" needs a length */
	if (*e != '/')
		return EINVAL;
	long on = strtol(e + 1, &end, 10);
	if (end == e + 1 || on <= 0 || on > 60000)
		return EINVAL;
	spec->on_ms = (unsigned)on;
	if (!*end)
		return spec->once ? 0 : EINVAL; /* a length without a pause: only once */
	if (strncmp(end, ",0/", 3))
		return EINVAL;
	long off = strtol(end + 3, &end, 10);
	if (off <= 0 || off > 60000 || *end)
		return EINVAL;
	spec->off_ms = (unsigned)off;
	return 0;
}

static const struct pbx_arg_spec args[] = {
	{"tone", PBX_ARG_STRING, true},
	{NULL, PBX_ARG_STRING, false},
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct pbx_tone_spec spec;
	if (apps_tone_parse(argv[0], &spec)) {
		pbx_app_error(call,
			      "PlayTones: '%s' is no tone (a name: dial, ring, busy, congestion; "
			      "or F1[+F2][/ON,0/OFF] in Hz and ms, below 4000 Hz)",
			      argv[0]);
		return EINVAL;
	}
	int err = ch->rtp ? pbx_rtp_tone(ch->rtp, &spec) : ENODEV;
	if (err)
		pbx_warning("%s: PlayTones(%s): %s", ch->name, argv[0], strerror(err));
	return 0;
}

static const struct pbx_app app = {
	.name = "playtones",
	.synopsis = "Play a tone (dial, ring, busy, congestion, or F1+F2/ON,0/OFF) until stopped",
	.args = args,
	.exec = exec,
};

static const struct pbx_arg_spec stop_args[] = {
	{NULL, PBX_ARG_STRING, false},
};

static int stop_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	if (ch->rtp)
		pbx_rtp_tone_stop(ch->rtp);
	return 0;
}

static const struct pbx_app stop_app = {
	.name = "stopplaytones",
	.synopsis = "Stop the tone PlayTones started",
	.args = stop_args,
	.exec = stop_exec,
};

APPS_MODULE2(playtones, app, stop_app);
