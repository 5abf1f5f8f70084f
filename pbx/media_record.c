/**
 * @file media_record.c  Recording consumers on a worker: a leg's audio (Record), a call (MixMonitor)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Both take frames on the worker's 20 ms tick from leg_frames.c and hand
 * them to recorders (recorder.c), which write in the thread pool. The
 * worker never waits on a disk.
 *
 * A recording of one leg ends by itself (a terminator key, silence, its
 * longest length), when asked, or with the leg; its end is posted as a
 * record_done event once the file is complete under its name. A monitor
 * records what a leg receives and what its bridge peer receives (which is
 * what is sent to the leg), mixed or apart, for as long as the leg lives
 * or until stopped; whichever peer the leg has at each tick is the other
 * side, so a call recording follows the leg into another bridge.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "media_priv.h"
#include "pbx/log.h"
#include "pbx/recorder.h"

/* Below this RMS a frame is silence (about -42 dBFS, under any voice). */
#define SILENCE_RMS 256.0
/* Of the silence that ends a recording, this much stays at its end. */
#define SILENCE_KEEP_MS 200

struct rec_done;

struct pbx__rec {
	struct pbx_recorder *r;
	struct rec_done *done; /* the recorder's callback argument */
	struct pbx_rec_opts o;
	unsigned rate;
	unsigned ms, silent_ms;
};

/* What a finished file tells the signalling side; freed by the done callback. */
struct rec_done {
	uint32_t id;
	int why;
	unsigned ms;
};

static void rec_done(int err, const char *path, double seconds, void *arg)
{
	struct rec_done *d = arg;
	/* The owner of the recording says it failed, once, in its own words. */
	if (err)
		pbx_info("rtp %u: recording %s failed: %s", d->id, path, strerror(err));
	else
		pbx_debug("rtp %u: recorded %s (%.1f s)", d->id, path, seconds);
	pbx__media_post(PBX__EV_RECORD_DONE, d->id, err, d->ms,
			(char)(err ? PBX_REC_ERROR : d->why));
	free(d);
}

void pbx__rec_start(struct pbx__sess *s, struct pbx__cmd *c)
{
	struct pbx__rec *x = calloc(1, sizeof *x);
	struct rec_done *d = calloc(1, sizeof *d);
	int err = ENOMEM;
	pbx__rec_stop(s, PBX_REC_STOPPED, true); /* a new recording replaces one running */
	if (x && d) {
		d->id = s->id;
		d->why = PBX_REC_STOPPED;
		x->rate = pbx__leg_rec_rate(s);
		x->o = c->u.rec.o;
		x->done = d;
		err = pbx_recorder_open(&x->r, &s->w->loop, c->u.rec.path[0], x->rate, rec_done, d);
	}
	if (err) {
		pbx_warning("rtp %u: cannot record %s: %s", s->id, c->u.rec.path[0], strerror(err));
		pbx__media_post(PBX__EV_RECORD_DONE, s->id, err, 0, PBX_REC_ERROR);
		free(x);
		free(d);
		return;
	}
	s->rec = x;
	pbx__frames_update(s);
	pbx__gens_update(s);
}

void pbx__rec_stop(struct pbx__sess *s, int why, bool keep)
{
	struct pbx__rec *x = s->rec;
	if (!x)
		return;
	s->rec = NULL;
	/* The done callback tells the reason and length. */
	x->done->why = why;
	x->done->ms = x->ms;
	pbx_recorder_close(x->r, keep);
	free(x);
	pbx__frames_update(s);
	pbx__gens_update(s);
}

void pbx__rec_dtmf(struct pbx__sess *s, char digit)
{
	if (s->rec && digit && strchr(s->rec->o.terminators, digit))
		pbx__rec_stop(s, PBX_REC_DTMF, true);
}

void pbx__rec_tick(struct pbx__sess *s)
{
	struct pbx__rec *x = s->rec;
	struct pbx_frame f;
	int err;
	if ((err = pbx__leg_rx_frame(s, x->rate, &f)) || (err = pbx_recorder_write(x->r, &f))) {
		pbx__rec_stop(s, PBX_REC_ERROR, true);
		return;
	}
	x->ms += PBX_FRAME_MS;
	x->silent_ms = pbx_frame_rms(&f) < SILENCE_RMS ? x->silent_ms + PBX_FRAME_MS : 0;
	if (x->o.max_ms && x->ms >= x->o.max_ms)
		pbx__rec_stop(s, PBX_REC_MAXLEN, true);
	else if (x->o.silence_ms && x->silent_ms >= x->o.silence_ms) {
		/* The silence that ended it is not part of it (as Asterisk's Record and
		 * VoiceMail cut it): keep a little of it, so the end is not abrupt. */
		unsigned keep_ms = x->ms - x->silent_ms + SILENCE_KEEP_MS;
		if (keep_ms < x->ms) {
			pbx_recorder_truncate(x->r, (uint64_t)keep_ms * x->rate / 1000);
			x->ms = keep_ms;
		}
		pbx__rec_stop(s, PBX_REC_SILENCE, true);
	}
}

/* ---- monitor --------------------------------------------------------------------------------- */

enum { MON_MIX, MON_RX, MON_TX };

struct pbx__mon {
	uint32_t id;
	uint32_t gen; /* the signalling side's, told back at the end */
	unsigned rate;
	unsigned open; /* recorders not yet done */
	int err;       /* the first error */
	struct pbx_recorder *r[3];
	struct pbx_resampler *rs[2]; /* rx, tx frames to rate when their leg records at another */
};

/* A monitor outlives its leg until every file is done: the last callback frees it. */
static void mon_file_done(int err, const char *path, double seconds, void *arg)
{
	struct pbx__mon *m = arg;
	if (err)
		pbx_warning("rtp %u: call recording %s failed: %s", m->id, path, strerror(err));
	else
		pbx_debug("rtp %u: call recording %s (%.1f s)", m->id, path, seconds);
	if (err && !m->err)
		m->err = err;
	if (--m->open)
		return;
	pbx__media_post(PBX__EV_MONITOR_DONE, m->id, m->err, m->gen, 0);
	for (int i = 0; i < 2; i++)
		pbx_resampler_free(m->rs[i]);
	free(m);
}

void pbx__mon_start(struct pbx__sess *s, struct pbx__cmd *c)
{
	struct pbx__mon *m = calloc(1, sizeof *m);
	int err = 0;
	pbx__mon_stop(s);
	if (!m) {
		pbx__media_post(PBX__EV_MONITOR_DONE, s->id, ENOMEM, c->u.rec.gen, 0);
		return;
	}
	m->id = s->id;
	m->gen = c->u.rec.gen;
	/* Wideband if this leg is; a narrowband peer is resampled up. */
	m->rate = pbx__leg_rec_rate(s);
	for (int i = 0; i < 3 && !err; i++) {
		if (!c->u.rec.path[i])
			continue;
		err = pbx_recorder_open(&m->r[i], &s->w->loop, c->u.rec.path[i], m->rate,
					mon_file_done, m);
		if (!err)
			m->open++;
		else
			pbx_warning("rtp %u: cannot record %s: %s", s->id, c->u.rec.path[i],
				    strerror(err));
	}
	if (err) {
		m->err = err;
		if (!m->open) {
			pbx__media_post(PBX__EV_MONITOR_DONE, s->id, err, m->gen, 0);
			free(m);
			return;
		}
		for (int i = 0; i < 3; i++)
			if (m->r[i])
				pbx_recorder_close(m->r[i], false);
		return;
	}
	s->mon = m;
	pbx__frames_update(s);
	if (s->peer)
		pbx__frames_update(s->peer);
	pbx__gens_update(s);
}

void pbx__mon_stop(struct pbx__sess *s)
{
	struct pbx__mon *m = s->mon;
	if (!m)
		return;
	s->mon = NULL;
	pbx__frames_update(s);
	if (s->peer)
		pbx__frames_update(s->peer);
	pbx__gens_update(s);
	for (int i = 0; i < 3; i++)
		if (m->r[i])
			pbx_recorder_close(m->r[i], true); /* the last one frees m */
}

/* One direction's frame at the monitor's rate; silence when there is nobody. */
static int side_frame(struct pbx__mon *m, int k, struct pbx__sess *leg, struct pbx_frame *out)
{
	struct pbx_frame f;
	int err;
	if (!leg)
		return pbx_frame_init(out, m->rate, PBX_FRAME_MS, 0);
	unsigned rate = pbx__leg_rec_rate(leg);
	if ((err = pbx__leg_rx_frame(leg, rate, rate == m->rate ? out : &f)))
		return err;
	if (rate == m->rate)
		return 0;
	if ((err = pbx_resampler_keep(&m->rs[k], rate, m->rate)))
		return err;
	return pbx_resampler_run(m->rs[k], &f, out);
}

void pbx__mon_tick(struct pbx__sess *s)
{
	struct pbx__mon *m = s->mon;
	struct pbx_frame rx, tx, mix;
	int err;
	if ((err = side_frame(m, 0, s, &rx)) || (err = side_frame(m, 1, s->peer, &tx))) {
		pbx_warning("rtp %u: call recording stops: %s", s->id, strerror(err));
		pbx__mon_stop(s);
		return;
	}
	const struct pbx_frame *both[2] = {&rx, &tx};
	if (m->r[MON_MIX] && !(err = pbx_frame_mix(&mix, both, 2, NULL)))
		err = pbx_recorder_write(m->r[MON_MIX], &mix);
	if (!err && m->r[MON_RX])
		err = pbx_recorder_write(m->r[MON_RX], &rx);
	if (!err && m->r[MON_TX])
		err = pbx_recorder_write(m->r[MON_TX], &tx);
	if (err) {
		pbx_warning("rtp %u: call recording stops: %s", s->id, strerror(err));
		pbx__mon_stop(s);
	}
}
