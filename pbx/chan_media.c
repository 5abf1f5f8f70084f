/**
 * @file chan_media.c  A channel's media events from the engine, and hold music
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The driver makes a channel's RTP session with these events and the
 * channel as their argument, so what the engine reports reaches the core
 * once, with no forwarder in the driver: DTMF, the end of a playback or a
 * recording go to the owner (or the application running), the end of a
 * hold music file starts the next one here, and only a silent line (RTP
 * timeout) is the driver's to handle.
 *
 * Hold music is a class: the WAV files of SOUNDS_DIR/moh/CLASS/, played
 * in name order and round again. A class of one file loops in the media
 * engine without a gap. When a phone holds the call (sendonly or inactive
 * in its SDP), its bridge peer hears the music until it resumes; the
 * peer's phone is told too (a re-INVITE that we only send), so that it
 * shows the call held and still plays what we send.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/media.h"

#define MOH_MAX_FILES 64
#define MOH_CLASS_MAX 63

struct pbx_moh {
	char cls[MOH_CLASS_MAX + 1];
	char **files;
	size_t n, next;
	unsigned failures; /* files in a row that would not play */
};

/* ---- hold music ------------------------------------------------------------------------------ */

static void moh_free(struct pbx_moh *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->files[i]);
	free(m->files);
	free(m);
}

/* The channel's music is over without our stop (its playback ended for good). */
static void moh_gone(struct pbx_chan *ch)
{
	moh_free(ch->moh);
	ch->moh = NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_wav(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 4 && !strcasecmp(name + n - 4, ".wav");
}

const char *pbx_moh_check_class(const char *cls)
{
	if (!*cls)
		return "must not be empty";
	if (strchr(cls, '/') || !strcmp(cls, ".") || !strcmp(cls, ".."))
		return "must be one folder name (no '/', not . or ..)";
	if (strlen(cls) > MOH_CLASS_MAX)
		return "too long (at most 63 characters)";
	return NULL;
}

/* The class's files, sorted. */
static int moh_load(struct pbx_moh *m, const char *cls)
{
	char dir[512];
	if (pbx_moh_check_class(cls))
		return EINVAL;
	snprintf(m->cls, sizeof m->cls, "%s", cls);
	if ((size_t)snprintf(dir, sizeof dir, "%s/moh/%s", pbx_sounds_dir(), cls) >= sizeof dir)
		return ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return ENOENT;
	int err = 0;
	struct dirent *e;
	while (!err && (e = readdir(d)) && m->n < MOH_MAX_FILES) {
		if (!is_wav(e->d_name))
			continue;
		char **f = realloc(m->files, (m->n + 1) * sizeof *f);
		if (!f || asprintf(&f[m->n], "%s/%s", dir, e->d_name) < 0) {
			if (f)
				m->files = f;
			err = ENOMEM;
			break;
		}
		m->files = f;
		m->n++;
	}
	closedir(d);
	if (!err && !m->n)
		err = ENOENT;
	if (!err)
		qsort(m->files, m->n, sizeof *m->files, name_cmp);
	return err;
}

/* Play the class's next file; 0 or the engine's error for every file. */
static int moh_play_next(struct pbx_chan *ch)
{
	struct pbx_moh *m = ch->moh;
	int err = ENOENT;
	for (size_t tries = 0; tries < m->n; tries++) {
		const char *f = m->files[m->next];
		m->next = (m->next + 1) % m->n;
		if (!(err = pbx_rtp_play_music(ch->rtp, f, m->n == 1)))
			return 0;
		pbx_warning("%s: hold music %s: %s", ch->name, f, strerror(err));
	}
	return err;
}

int pbx_chan_moh_start(struct pbx_chan *ch, const char *cls)
{
	if (ch->state == PBX_CHAN_HUNGUP || !ch->rtp)
		return ENODEV;
	if (!cls || !*cls)
		cls = "default";
	/* The same class still playing goes on (a phone repeating its hold);
	 * one that a prompt or a bridge stopped is started again. */
	if (ch->moh && !strcmp(ch->moh->cls, cls) && pbx_rtp_playing_music(ch->rtp))
		return 0;
	struct pbx_moh *m = calloc(1, sizeof *m);
	if (!m)
		return ENOMEM;
	int err = moh_load(m, cls);
	if (err) {
		pbx_warning("%s: no hold music of class '%s': %s", ch->name, cls,
			    err == ENOENT ? "no such folder, or no .wav file in it"
					  : strerror(err));
		moh_free(m);
		return err;
	}
	pbx_chan_moh_stop(ch);
	ch->moh = m;
	if ((err = moh_play_next(ch))) {
		ch->moh = NULL;
		moh_free(m);
		return err;
	}
	pbx_info("%s: hold music '%s' (%zu file%s)", ch->name, cls, m->n, m->n == 1 ? "" : "s");
	return 0;
}

void pbx_chan_moh_stop(struct pbx_chan *ch)
{
	struct pbx_moh *m = ch->moh;
	if (!m)
		return;
	ch->moh = NULL;
	/* Its end (ECANCELED) comes to music_done, which finds no music and drops it. */
	if (ch->rtp)
		pbx_rtp_music_stop(ch->rtp);
	pbx_info("%s: hold music '%s' stops", ch->name, m->cls);
	moh_free(m);
}

/* ---- the engine's events --------------------------------------------------------------------- */

static void ev_dtmf(void *arg, char digit, int duration_ms)
{
	(void)duration_ms;
	pbx_chan_remote_dtmf(arg, digit);
}

static void ev_timeout(void *arg)
{
	struct pbx_chan *ch = arg;
	if (ch->state != PBX_CHAN_HUNGUP && ch->tech->media_timeout)
		ch->tech->media_timeout(ch);
}

static void ev_play_done(void *arg, int err)
{
	pbx_chan_media_done(arg, err);
}

static void ev_music_done(void *arg, int err)
{
	struct pbx_chan *ch = arg;
	if (!ch->moh || ch->state == PBX_CHAN_HUNGUP)
		return;
	if (err == ECANCELED) { /* stopped by another (a bridge): the music is over */
		moh_gone(ch);
		return;
	}
	/* A file that fails at once every time would spin: stop after a round. */
	ch->moh->failures = err ? ch->moh->failures + 1 : 0;
	if (ch->moh->failures > ch->moh->n || moh_play_next(ch)) {
		pbx_warning("%s: hold music '%s' cannot play: stopped", ch->name, ch->moh->cls);
		moh_gone(ch);
	}
}

static void ev_record_done(void *arg, int why, int err, unsigned ms)
{
	pbx_chan_record_done(arg, why, err, ms);
}

static void ev_monitor_done(void *arg, int err)
{
	struct pbx_chan *ch = arg;
	if (err)
		pbx_warning("%s: call recording ended with an error: %s", ch->name, strerror(err));
	else
		pbx_info("%s: call recording complete", ch->name);
}

static const struct pbx_rtp_events chan_rtp_events = {
	.dtmf = ev_dtmf,
	.timeout = ev_timeout,
	.play_done = ev_play_done,
	.record_done = ev_record_done,
	.monitor_done = ev_monitor_done,
	.music_done = ev_music_done,
};

const struct pbx_rtp_events *pbx_chan_rtp_events(void)
{
	return &chan_rtp_events;
}
