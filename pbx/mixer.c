/**
 * @file mixer.c  Conference mixing on a media worker: talkers, mix minus self, encode per group
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Once per 20 ms period (the worker's tick, after the members' packets of
 * the period were read), for each mixer:
 *
 *  1. Each member's frame comes out of its jitter buffer at the rate its
 *     codec gives nearest the room's (no resampling yet), through its
 *     denoiser and gain when asked. Its level (mean absolute sample) says
 *     whether it talks; a hangover keeps a talker on through the gaps
 *     between words, so the mix does not chop syllables.
 *  2. Only talkers are resampled to the room rate, and only the loudest
 *     few (cfg.talkers) are summed, in 32 bits: the cost of a room grows
 *     with its talkers, not its size, and the noise of 200 open
 *     microphones never adds up.
 *  3. A mixed talker gets the sum minus its own frame (exact: the same
 *     samples are subtracted before clamping), through its own encoder.
 *     Everyone else gets the whole mix, encoded once per (codec, listening
 *     volume) group and copied into each member's own RTP stream.
 *
 * Sharing a stateful encoder (G.722, Opus) between members means a member
 * that stops talking moves from its own encoder's stream to the group's:
 * its decoder sees one packet from another encoder state, a click at
 * worst. G.711 is stateless and shares for free.
 */
#include <errno.h>
#include <speex/speex_preprocess.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "media_priv.h"
#include "pbx/log.h"
#include "pbx/recorder.h"

/* Mean absolute sample above which a member talks: about -45 dBFS. */
#define TALK_LEVEL 180
/* Frames a talker stays on after its level dropped: 400 ms. */
#define HANGOVER        20
#define GROUPS          8
#define DEFAULT_TALKERS 3
#define MAX_TALKERS     16

struct group {
	const struct pbx_codec_desc *codec; /* NULL: unused */
	int listen_q8;
	struct pbx_coder *enc; /* NULL for G.711 */
	struct pbx_resampler *rs;
	uint32_t tick; /* the period its payload is of */
	int len;       /* payload bytes; < 0: failed this period */
	uint8_t pl[PBX__MAX_PTIME * 8];
};

struct pbx__mixer {
	uint32_t id;
	unsigned cfg_rate, rate, talkers;
	struct pbx__worker *w;
	struct pbx__mixm **m; /* members, in join order */
	size_t n, cap;
	struct group g[GROUPS];
	/* The recording of the mix. */
	struct pbx_recorder *rec;
	struct pbx_resampler *rec_rs;
	unsigned rec_rate;
	uint32_t rec_gen;
	uint64_t rec_samples;
	/* A sound played into the room. */
	struct pbx__sound *play;
	size_t play_pos; /* in 8 kHz samples, as a leg's playback counts */
	uint32_t play_gen;
	struct pbx_resampler *play_rs;
	struct pbx__mixer *next;
};

struct pbx__mixm {
	struct pbx__mixer *x;
	struct pbx__sess *s;
	size_t idx; /* in x->m */
	struct pbx_mix_member_opts o;
	int talk_q8, listen_q8; /* gains, 256 = as is */
	SpeexPreprocessState *pp;
	unsigned pp_rate;
	struct pbx_resampler *rs; /* its frames to the room rate */
	unsigned level;           /* smoothed, while it talks */
	unsigned hang;
	bool talking; /* as last told to the signalling side */
	bool mixed;   /* among the loudest this period: f holds its voice */
	struct pbx_frame f;
};

/* 3 dB steps: 256 * 10^(step * 3 / 20), steps -4..4. */
static int gain_q8(int step)
{
	static const int q8[2 * PBX_MIX_VOLUME_MAX + 1] = {64,  91,  128, 181, 256,
							   362, 511, 722, 1020};
	if (step < -PBX_MIX_VOLUME_MAX)
		step = -PBX_MIX_VOLUME_MAX;
	if (step > PBX_MIX_VOLUME_MAX)
		step = PBX_MIX_VOLUME_MAX;
	return q8[step + PBX_MIX_VOLUME_MAX];
}

static inline int16_t clamp16(int32_t v)
{
	return (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
}

static void gain(int16_t *pcm, unsigned n, int q8)
{
	if (q8 == 256)
		return;
	for (unsigned i = 0; i < n; i++)
		pcm[i] = clamp16((pcm[i] * q8) >> 8);
}

static struct pbx__mixer *find(struct pbx__worker *w, uint32_t id)
{
	struct pbx__mixer *x = w->mixers;
	while (x && x->id != id)
		x = x->next;
	return x;
}

/* ---- members --------------------------------------------------------------------------------- */

static void member_opts(struct pbx__mixm *mm, const struct pbx_mix_member_opts *o)
{
	mm->o = *o;
	mm->talk_q8 = gain_q8(o->talk_volume);
	mm->listen_q8 = gain_q8(o->listen_volume);
	if (!o->denoise && !o->agc && mm->pp) {
		speex_preprocess_state_destroy(mm->pp);
		mm->pp = NULL;
	}
	mm->pp_rate = 0; /* made again with the new options at the next frame */
}

void pbx__mix_remove(struct pbx__sess *s)
{
	struct pbx__mixm *mm = s->mixm;
	if (!mm)
		return;
	struct pbx__mixer *x = mm->x;
	x->m[mm->idx] = x->m[--x->n];
	x->m[mm->idx]->idx = mm->idx;
	if (mm->talking)
		pbx__media_post(PBX__EV_MIX_TALK, s->id, 0, x->id, 0);
	if (mm->pp)
		speex_preprocess_state_destroy(mm->pp);
	pbx_resampler_free(mm->rs);
	free(mm);
	s->mixm = NULL;
	s->out.mode = PBX__OUT_NONE;
	pbx__frames_update(s);
	pbx__gens_update(s);
}

static void join(struct pbx__worker *w, struct pbx__sess *s, const struct pbx__cmd *c)
{
	struct pbx__mixer *x = find(w, c->u.mix.id);
	if (!x || s->w != w) /* closed meanwhile, or the session is elsewhere */
		return;
	if (s->mixm && s->mixm->x == x) {
		member_opts(s->mixm, &c->u.mix.o);
		return;
	}
	pbx__mix_remove(s);
	if (s->peer)
		pbx__sess_unbridge(s);
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 8;
		struct pbx__mixm **m = realloc(x->m, cap * sizeof *m);
		if (!m) {
			pbx_error("rtp %u: out of memory joining conference %u", s->id, x->id);
			return;
		}
		x->m = m;
		x->cap = cap;
	}
	struct pbx__mixm *mm = calloc(1, sizeof *mm);
	if (!mm) {
		pbx_error("rtp %u: out of memory joining conference %u", s->id, x->id);
		return;
	}
	mm->x = x;
	mm->s = s;
	mm->idx = x->n;
	x->m[x->n++] = mm;
	member_opts(mm, &c->u.mix.o);
	s->mixm = mm;
	s->echo = false;
	pbx__frames_update(s);
	pbx__gens_update(s); /* on the tick; read there too */
}

static void member_set(struct pbx__sess *s, const struct pbx__cmd *c)
{
	if (s->mixm && s->mixm->x->id == c->u.mix.id)
		member_opts(s->mixm, &c->u.mix.o);
}

/* ---- the mixer's life ------------------------------------------------------------------------ */

static void rec_done(int err, const char *path, double seconds, void *arg)
{
	uint32_t *ids = arg; /* the mixer's id, the recording's generation */
	(void)path;
	pbx__media_post_ms(PBX__EV_MIX_RECORD_DONE, ids[0], err, ids[1],
			   (unsigned)(seconds * 1000));
	free(ids);
}

static void rec_stop(struct pbx__mixer *x)
{
	if (!x->rec)
		return;
	pbx_recorder_close(x->rec, true);
	x->rec = NULL;
	pbx_resampler_free(x->rec_rs);
	x->rec_rs = NULL;
}

static void rec_start(struct pbx__mixer *x, const struct pbx__cmd *c)
{
	rec_stop(x);
	uint32_t *ids = malloc(2 * sizeof *ids);
	int err = ENOMEM;
	if (ids) {
		ids[0] = x->id;
		ids[1] = c->u.mix.gen;
		/* The file keeps the rate it started at: 16 kHz unless the room is at 48. */
		x->rec_rate = x->rate;
		x->rec_samples = 0;
		x->rec_gen = c->u.mix.gen;
		err = pbx_recorder_open(&x->rec, &x->w->loop, c->u.mix.path, x->rec_rate, rec_done,
					ids);
	}
	if (err) {
		free(ids);
		x->rec = NULL;
		pbx__media_post_ms(PBX__EV_MIX_RECORD_DONE, x->id, err, c->u.mix.gen, 0);
	}
}

static void play_stop(struct pbx__mixer *x, int err)
{
	if (!x->play)
		return;
	pbx__sound_unref(x->play);
	x->play = NULL;
	if (err >= 0)
		pbx__media_post(PBX__EV_MIX_PLAY_DONE, x->id, err, x->play_gen, 0);
}

static void mixer_close(struct pbx__mixer *x)
{
	while (x->n)
		pbx__mix_remove(x->m[0]->s);
	rec_stop(x);
	play_stop(x, -1);
	pbx_resampler_free(x->play_rs);
	for (int i = 0; i < GROUPS; i++) {
		pbx_coder_free(x->g[i].enc);
		pbx_resampler_free(x->g[i].rs);
	}
	for (struct pbx__mixer **p = &x->w->mixers; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			break;
		}
	free(x->m);
	free(x);
}

void pbx__mix_stop_all(struct pbx__worker *w)
{
	while (w->mixers)
		mixer_close(w->mixers);
}

void pbx__mix_cmd(struct pbx__worker *w, struct pbx__cmd *c)
{
	struct pbx__mixer *x;
	switch (c->type) {
	case PBX__CMD_MIX_ADD:
		if (!(x = calloc(1, sizeof *x))) {
			pbx_error("conference mixer %u: out of memory",
				  c->u.mix.id & ~PBX__MIX_ID_BIT);
			break;
		}
		x->id = c->u.mix.id;
		x->w = w;
		x->cfg_rate = c->u.mix.cfg.rate;
		x->rate = x->cfg_rate ? x->cfg_rate : 16000;
		x->talkers = c->u.mix.cfg.talkers ? c->u.mix.cfg.talkers : DEFAULT_TALKERS;
		if (x->talkers > MAX_TALKERS)
			x->talkers = MAX_TALKERS;
		x->next = w->mixers;
		w->mixers = x;
		break;
	case PBX__CMD_MIX_CLOSE:
		if ((x = find(w, c->u.mix.id)))
			mixer_close(x);
		break;
	case PBX__CMD_MIX_JOIN: join(w, c->s, c); break;
	case PBX__CMD_MIX_MEMBER: member_set(c->s, c); break;
	case PBX__CMD_MIX_LEAVE:
		if (c->s->mixm && c->s->mixm->x->id == c->u.mix.id)
			pbx__mix_remove(c->s);
		break;
	case PBX__CMD_MIX_RECORD:
		if ((x = find(w, c->u.mix.id)))
			rec_start(x, c);
		break;
	case PBX__CMD_MIX_RECORD_STOP:
		if ((x = find(w, c->u.mix.id)))
			rec_stop(x);
		break;
	case PBX__CMD_MIX_PLAY:
		if (!(x = find(w, c->u.mix.id)))
			break;
		play_stop(x, ECANCELED);
		x->play = c->u.mix.snd; /* the command's reference is the playback's now */
		c->u.mix.snd = NULL;
		x->play_pos = 0;
		x->play_gen = c->u.mix.gen;
		break;
	case PBX__CMD_MIX_PLAY_STOP:
		if ((x = find(w, c->u.mix.id)) && x->play_gen == c->u.mix.gen)
			play_stop(x, ECANCELED);
		break;
	default: break;
	}
}

/* ---- one period ------------------------------------------------------------------------------ */

/* The member's voice of this period at its native rate; false when it has none. */
static bool member_frame(struct pbx__mixm *mm, unsigned rate, struct pbx_frame *f)
{
	struct pbx__sess *s = mm->s;
	/* Our direction: we take what arrives when sendrecv or recvonly. */
	if (!s->have_params || s->dir == PBX_DIR_SENDONLY || s->dir == PBX_DIR_INACTIVE)
		return false;
	if (pbx__leg_rx_frame(s, pbx__leg_native_rate(s, rate), f))
		return false;
	if (mm->o.denoise || mm->o.agc) {
		if (mm->pp_rate != f->rate) {
			if (mm->pp)
				speex_preprocess_state_destroy(mm->pp);
			mm->pp = speex_preprocess_state_init((int)f->samples, (int)f->rate);
			mm->pp_rate = f->rate;
			if (mm->pp) {
				int on = mm->o.denoise, agc = mm->o.agc;
				speex_preprocess_ctl(mm->pp, SPEEX_PREPROCESS_SET_DENOISE, &on);
				speex_preprocess_ctl(mm->pp, SPEEX_PREPROCESS_SET_AGC, &agc);
			}
		}
		if (mm->pp)
			speex_preprocess_run(mm->pp, f->pcm);
	}
	gain(f->pcm, f->samples, mm->talk_q8);
	return true;
}

static unsigned level_of(const struct pbx_frame *f)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < f->samples; i++)
		sum += (unsigned)(f->pcm[i] < 0 ? -f->pcm[i] : f->pcm[i]);
	return f->samples ? (unsigned)(sum / f->samples) : 0;
}

/* Talking or not this period, told to the signalling side when it changes. */
static bool detect(struct pbx__mixm *mm, unsigned level)
{
	bool talk = false;
	if (!mm->o.muted && level >= TALK_LEVEL) {
		mm->hang = HANGOVER;
		talk = true;
	} else if (!mm->o.muted && mm->hang) {
		mm->hang--;
		talk = true;
	}
	mm->level = talk ? (mm->level * 3 + level) / 4 : 0;
	if (talk != mm->talking) {
		mm->talking = talk;
		pbx__media_post(PBX__EV_MIX_TALK, mm->s->id, talk, mm->x->id, 0);
	}
	return talk;
}

/* The next 20 ms of the room's playback at the room rate, added to @p acc. */
static void play_add(struct pbx__mixer *x, int32_t *acc, unsigned samples)
{
	struct pbx__sound *snd = x->play;
	struct pbx_frame f, out;
	if (pbx_frame_init(&f, x->rate == 8000 ? 8000 : 16000, PBX_FRAME_MS, 0))
		return;
	size_t n8 = 160, left = snd->n - x->play_pos;
	if (n8 > left)
		n8 = left;
	if (f.rate == 8000)
		memcpy(f.pcm, snd->pcm + x->play_pos, n8 * sizeof *f.pcm);
	else
		memcpy(f.pcm, snd->pcm16 + 2 * x->play_pos,
		       (2 * x->play_pos + 2 * n8 <= snd->n16 ? 2 * n8 : 0) * sizeof *f.pcm);
	x->play_pos += n8;
	const struct pbx_frame *fr = &f;
	if (f.rate != x->rate) {
		if (pbx_resampler_keep(&x->play_rs, f.rate, x->rate) ||
		    pbx_resampler_run(x->play_rs, &f, &out))
			return;
		fr = &out;
	}
	for (unsigned i = 0; i < samples && i < fr->samples; i++)
		acc[i] += fr->pcm[i];
	if (x->play_pos >= snd->n)
		play_stop(x, 0);
}

static bool can_hear(const struct pbx__sess *s)
{
	return s->can_send && !s->play && !s->tone_on && !pbx__dtmf_sending(s) && !s->peer;
}

static void send_payload(struct pbx__sess *s, const uint8_t *pl, size_t len, uint64_t now)
{
	uint8_t pkt[PBX__RTP_HDR + PBX__MAX_PTIME * 8];
	bool marker;
	if (len > sizeof pkt - PBX__RTP_HDR)
		return;
	memcpy(pkt + PBX__RTP_HDR, pl, len);
	uint32_t ts =
		pbx__out_local_ts_step(s, now, &marker, s->codec->clock * PBX_FRAME_MS / 1000);
	pbx__sess_send_local(s, s->pt, marker, ts, pkt, PBX__RTP_HDR + len);
}

/* The group of members with @p codec hearing at @p listen_q8; NULL when all are taken. */
static struct group *group_for(struct pbx__mixer *x, const struct pbx_codec_desc *codec,
			       int listen_q8, uint32_t tick)
{
	struct group *free_g = NULL;
	for (int i = 0; i < GROUPS; i++) {
		struct group *g = &x->g[i];
		if (g->codec == codec && g->listen_q8 == listen_q8)
			return g;
		/* One not used for a second is taken over. */
		if (!free_g && (!g->codec || tick - g->tick > 50))
			free_g = g;
	}
	if (free_g) {
		pbx_coder_free(free_g->enc);
		pbx_resampler_free(free_g->rs);
		memset(free_g, 0, offsetof(struct group, pl));
		free_g->codec = codec;
		free_g->listen_q8 = listen_q8;
		free_g->tick = tick - 1;
	}
	return free_g;
}

/* The group's payload of this period: the mix at its volume in its codec. */
static int group_encode(struct pbx__mixer *x, struct group *g, const int32_t *acc,
			const struct pbx_frame *shape, uint32_t tick)
{
	if (g->tick == tick)
		return g->len;
	g->tick = tick;
	g->len = -1;
	struct pbx_frame f = *shape, conv;
	for (unsigned i = 0; i < f.samples; i++)
		f.pcm[i] = clamp16((int32_t)(((int64_t)acc[i] * g->listen_q8) >> 8));
	int law = pbx__g711_law(g->codec);
	unsigned rate = law >= 0                                ? 8000
			: pbx_codec_has_rate(g->codec, x->rate) ? x->rate
								: g->codec->rate;
	if (!g->enc && law < 0 && pbx_coder_alloc_rate(&g->enc, g->codec, true, rate))
		return -1;
	if (g->enc && pbx_coder_rate(g->enc) != rate) {
		pbx_coder_free(g->enc);
		g->enc = NULL;
		if (pbx_coder_alloc_rate(&g->enc, g->codec, true, rate))
			return -1;
	}
	const struct pbx_frame *fr = &f;
	if (rate != f.rate) {
		if (pbx_resampler_keep(&g->rs, f.rate, rate) || pbx_resampler_run(g->rs, &f, &conv))
			return -1;
		fr = &conv;
	}
	if (law >= 0) {
		pbx__g711_encode((enum pbx_codec)law, fr->pcm, g->pl, fr->samples);
		g->len = (int)fr->samples;
	} else {
		g->len = pbx_coder_encode(g->enc, fr->pcm, fr->samples, g->pl, sizeof g->pl);
	}
	return g->len;
}

static void mixer_period(struct pbx__mixer *x, uint64_t now)
{
	static _Thread_local int32_t acc[PBX_FRAME_MAX_SAMPLES];
	struct pbx__mixm *best[MAX_TALKERS];
	unsigned nbest = 0, rate = x->rate;
	bool wide = false;
	struct pbx_frame shape;
	if (pbx_frame_init(&shape, rate, PBX_FRAME_MS, 0))
		return;

	/* Who talks, and the loudest of them. */
	for (size_t i = 0; i < x->n; i++) {
		struct pbx__mixm *mm = x->m[i];
		struct pbx_frame f;
		mm->mixed = false;
		wide |= mm->s->codec->rate >= 48000;
		/* A phone that put the room on hold (we only receive: recvonly)
		 * may play its own hold music: taken out of the buffer, not mixed. */
		if (!member_frame(mm, rate, &f) || mm->s->dir == PBX_DIR_RECVONLY) {
			detect(mm, 0);
			continue;
		}
		if (!detect(mm, level_of(&f)))
			continue;
		/* Every talker is resampled, picked or not: its resampler's
		 * state stays continuous for the period it is picked. */
		if (f.rate == rate) {
			mm->f = f;
		} else if (pbx_resampler_keep(&mm->rs, f.rate, rate) ||
			   pbx_resampler_run(mm->rs, &f, &mm->f)) {
			continue;
		}
		unsigned k = nbest < x->talkers ? nbest++ : x->talkers;
		if (k == x->talkers) { /* full: replace the quietest, if quieter */
			unsigned q = 0;
			for (unsigned j = 1; j < nbest; j++)
				if (best[j]->level < best[q]->level)
					q = j;
			if (best[q]->level >= mm->level)
				continue;
			k = q;
		}
		best[k] = mm;
	}

	memset(acc, 0, rate * PBX_FRAME_MS / 1000 * sizeof *acc);
	for (unsigned j = 0; j < nbest; j++) {
		best[j]->mixed = true;
		for (unsigned i = 0; i < shape.samples; i++)
			acc[i] += best[j]->f.pcm[i];
	}
	if (x->play)
		play_add(x, acc, shape.samples);

	if (x->rec) {
		struct pbx_frame f = shape, conv;
		for (unsigned i = 0; i < f.samples; i++)
			f.pcm[i] = clamp16(acc[i]);
		const struct pbx_frame *fr = &f;
		if (x->rec_rate != rate && !pbx_resampler_keep(&x->rec_rs, rate, x->rec_rate) &&
		    !pbx_resampler_run(x->rec_rs, &f, &conv))
			fr = &conv;
		if (fr->rate == x->rec_rate && !pbx_recorder_write(x->rec, fr))
			x->rec_samples += fr->samples;
	}

	/* What each member hears. */
	uint32_t tick = x->w->tick_no;
	for (size_t i = 0; i < x->n; i++) {
		struct pbx__mixm *mm = x->m[i];
		struct pbx__sess *s = mm->s;
		if (!can_hear(s))
			continue;
		if (!mm->mixed) {
			struct group *g = group_for(x, s->codec, mm->listen_q8, tick);
			if (g) {
				int len = group_encode(x, g, acc, &shape, tick);
				if (len > 0)
					send_payload(s, g->pl, (size_t)len, now);
				continue;
			}
		}
		/* A talker (or a member beyond the groups): its own encoder. */
		struct pbx_frame out = shape;
		for (unsigned k = 0; k < out.samples; k++) {
			int32_t v = acc[k] - (mm->mixed ? mm->f.pcm[k] : 0);
			out.pcm[k] = clamp16((int32_t)(((int64_t)v * mm->listen_q8) >> 8));
		}
		pbx__leg_send_frame(s, &out, now);
	}

	if (!x->cfg_rate)
		x->rate = wide ? 48000 : 16000;
}

void pbx__mix_tick(struct pbx__worker *w, uint64_t now)
{
	for (struct pbx__mixer *x = w->mixers; x; x = x->next)
		if (x->n)
			mixer_period(x, now);
}
