/**
 * @file leg_frames.c  A leg's frame path on its worker: transcoding, sending PCM, frames for consumers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The packet relay (rtp.c) never comes here: two legs with the same codec,
 * or the two G.711 laws, pass packets on. This file is what the other
 * cases need, made the first time they need it and kept for the leg:
 *
 *  - Transcoding: a packet from a leg whose peer has another codec is
 *    decoded on arrival, resampled to the peer's codec rate and encoded
 *    again, one 20 ms packet per 20 ms of audio. No jitter buffer on this
 *    path: the phone at the other end has its own, and decoding as packets
 *    come adds no delay. A gap in sequence numbers is concealed by the
 *    decoder (Opus and G.722 conceal; G.711 gives silence) before the
 *    packet that follows it.
 *  - Sending PCM: playback of a non-G.711 leg and transcoded audio go out
 *    through the leg's encoder, from any frame rate.
 *  - Frames for consumers (recording, call recording): payloads go into a
 *    jitter buffer as they arrive (speexdsp's, adaptive), and once per
 *    worker tick the frame due is taken out, decoded or concealed and
 *    resampled to the consumer's rate. Only legs that have a consumer (or
 *    whose peer has a monitor) fill one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jitter.h"
#include "media_priv.h"
#include "pbx/log.h"

/* A lost stretch longer than this is not concealed: it is a talk spurt's end. */
#define MAX_CONCEAL 5
/* Audio this close to a telephone-event is the key's tone in band: kept out of frames. */
#define DTMF_MUTE_MS 100

struct pbx__legf {
	/* Send side: PCM into this leg's codec. */
	struct pbx_coder *enc;
	struct pbx_resampler *enc_rs; /* a frame's rate to the encoder's */
	unsigned enc_src_rate;        /* the rate the encoder was last told its audio came from */
	/* Transcoding: this leg's packets decoded as they arrive. */
	struct pbx_coder *dec;
	uint16_t next_seq;
	bool seq_valid;
	bool warned;
	/* Consumers: jitter buffer, its decoder and a resampler to rx_rate. */
	struct pbx__jitter *jb;
	struct pbx_coder *jdec;
	struct pbx_resampler *jrs;
	uint32_t tick; /* worker tick of cur */
	bool have_cur;
	struct pbx_frame cur;
	/* Transcoding: decoded audio short of a 20 ms frame (a phone at ptime
	 * 10 or 30), sent with what the next packet brings. */
	int16_t rest[PBX_FRAME_MAX_SAMPLES];
	size_t nrest;
	unsigned rest_rate;
	/* G.711 has no concealment of its own: the last frame again, fading. */
	int16_t last[PBX_FRAME_MAX_SAMPLES / 6]; /* 20 ms at 8 kHz */
	unsigned fade;                           /* frames concealed in a row */
};

void pbx__leg_set_codec(struct pbx__sess *s, const struct pbx_codec_desc *c)
{
	if (!c)
		c = pbx__g711_desc(PBX_CODEC_PCMU);
	if (s->codec != c)
		pbx__leg_frames_free(s); /* coders of the old codec are of no use */
	s->codec = c;
	s->law = (int8_t)pbx__g711_law(c);
	s->khz = (uint16_t)(c->clock / 1000 ? c->clock / 1000 : 8);
	pbx__frames_update(s);
}

void pbx__leg_frames_free(struct pbx__sess *s)
{
	struct pbx__legf *f = s->f;
	if (!f)
		return;
	pbx_coder_free(f->enc);
	pbx_coder_free(f->dec);
	pbx_coder_free(f->jdec);
	pbx_resampler_free(f->enc_rs);
	pbx_resampler_free(f->jrs);
	pbx__jitter_free(f->jb);
	free(f);
	s->f = NULL;
}

static struct pbx__legf *legf(struct pbx__sess *s)
{
	if (!s->f && !(s->f = calloc(1, sizeof *s->f)))
		pbx_error("rtp %u: out of memory for the frame path", s->id);
	return s->f;
}

/* Once per leg: a frame path that cannot run says so, then stays quiet. */
static void fail_once(struct pbx__sess *s, const char *what, int err)
{
	if (s->f && !s->f->warned) {
		s->f->warned = true;
		pbx_error("rtp %u: %s (%s): %s", s->id, what, s->codec->name, strerror(err));
	}
}

/* @p want where the codec's coders can run there (no resampler beside them), else its own rate. */
static unsigned coder_rate(const struct pbx_codec_desc *c, unsigned want)
{
	return pbx_codec_has_rate(c, want) ? want : c->rate;
}

/*
 * *@p cp as @p s's codec's encoder or decoder at @p rate: kept when it is
 * one already, made (again) otherwise. 1 when made, 0 when kept, or -errno
 * (said once for the leg).
 */
static int coder_at(struct pbx__sess *s, struct pbx_coder **cp, bool encoder, unsigned rate)
{
	int err;
	if (*cp && pbx_coder_rate(*cp) == rate)
		return 0;
	pbx_coder_free(*cp);
	if ((err = pbx_coder_alloc_rate(cp, s->codec, encoder, rate))) {
		fail_once(s, encoder ? "no encoder" : "no decoder", err);
		return -err;
	}
	return 1;
}

void pbx__frames_update(struct pbx__sess *s)
{
	bool want = s->rec || s->mon || s->mixm || (s->peer && s->peer->mon);
	if (s->rx_frames == want)
		return;
	s->rx_frames = want;
	/* A buffer that stopped filling holds old audio: start afresh next time. */
	if (!want && s->f && s->f->jb) {
		pbx__jitter_free(s->f->jb);
		s->f->jb = NULL;
	}
}

unsigned pbx__leg_native_rate(const struct pbx__sess *s, unsigned want)
{
	return coder_rate(s->codec, want);
}

unsigned pbx__leg_rec_rate(const struct pbx__sess *s)
{
	return s->codec->rate > 8000 ? 16000 : 8000;
}

/*
 * Decode @p len bytes (NULL: a lost frame of @p per samples) with @p dec.
 * G.711 repeats its last 20 ms at half the level each time instead of the
 * silence its decoder gives, for at most MAX_CONCEAL frames.
 */
static int decode(struct pbx__sess *s, struct pbx_coder *dec, const uint8_t *pl, size_t len,
		  int16_t *pcm, size_t max, size_t per)
{
	struct pbx__legf *f = s->f;
	bool g711 = s->law >= 0 && per <= sizeof f->last / sizeof *f->last;
	if (!pl && g711) {
		unsigned shift = ++f->fade;
		for (size_t i = 0; i < per; i++)
			pcm[i] = shift > MAX_CONCEAL ? 0 : (int16_t)(f->last[i] >> shift);
		return (int)per;
	}
	int n = pbx_coder_decode(dec, pl, pl ? len : 0, pcm, pl ? max : per);
	if (g711 && pl && n >= (int)per) {
		memcpy(f->last, pcm + n - per, per * sizeof *pcm);
		f->fade = 0;
	}
	return n;
}

/* ---- send ------------------------------------------------------------------------------------ */

void pbx__leg_send_frame(struct pbx__sess *s, const struct pbx_frame *in, uint64_t now)
{
	struct pbx__legf *f = legf(s);
	const struct pbx_codec_desc *c = s->codec;
	struct pbx_frame conv;
	const struct pbx_frame *fr = in;
	int err;
	if (!f)
		return;
	/* The encoder takes the frame's rate where the codec can (no resampler). */
	unsigned rate = coder_rate(c, in->rate);
	int made = coder_at(s, &f->enc, true, rate);
	if (made < 0)
		return;
	if (made) {
		f->enc_src_rate = 0;
		if ((err = pbx_coder_fmtp(f->enc, s->fmtp)))
			pbx_warning("rtp %u: %s fmtp '%s' not applied: %s", s->id, c->name, s->fmtp,
				    strerror(err));
	}
	if (in->rate != f->enc_src_rate) {
		f->enc_src_rate = in->rate;
		pbx_coder_source_rate(f->enc, in->rate);
	}
	if (in->rate != rate) {
		if ((err = pbx_resampler_keep(&f->enc_rs, in->rate, rate)) ||
		    (err = pbx_resampler_run(f->enc_rs, in, &conv))) {
			fail_once(s, "cannot resample for the encoder", err);
			return;
		}
		fr = &conv;
	}
	uint8_t pkt[PBX__RTP_HDR + PBX__MAX_PTIME * 8];
	int n = pbx_coder_encode(f->enc, fr->pcm, fr->samples, pkt + PBX__RTP_HDR,
				 sizeof pkt - PBX__RTP_HDR);
	if (n < 0) {
		fail_once(s, "encoding failed", -n);
		return;
	}
	bool marker;
	uint32_t ts = pbx__out_local_ts_step(s, now, &marker, c->clock * PBX_FRAME_MS / 1000);
	pbx__sess_send_local(s, s->pt, marker, ts, pkt, PBX__RTP_HDR + (size_t)n);
}

/* ---- transcoding ----------------------------------------------------------------------------- */

/*
 * @p n samples of @p s's decoded audio at @p rate out of @p d, 20 ms at a
 * time; what is left short of 20 ms waits in s's frame state for the next
 * packet, so any ptime comes out whole.
 */
static void send_pcm(struct pbx__legf *f, struct pbx__sess *d, unsigned rate, const int16_t *pcm,
		     size_t n, uint64_t now)
{
	struct pbx_frame fr;
	size_t per = (size_t)rate * PBX_FRAME_MS / 1000;
	if (f->rest_rate != rate)
		f->nrest = 0;
	f->rest_rate = rate;
	while (n) {
		size_t k = per - f->nrest < n ? per - f->nrest : n;
		memcpy(f->rest + f->nrest, pcm, k * sizeof *pcm);
		f->nrest += k;
		pcm += k;
		n -= k;
		if (f->nrest < per || pbx_frame_init(&fr, rate, PBX_FRAME_MS, 0))
			continue;
		memcpy(fr.pcm, f->rest, per * sizeof *pcm);
		f->nrest = 0;
		pbx__leg_send_frame(d, &fr, now);
	}
}

void pbx__leg_transcode(struct pbx__sess *s, struct pbx__sess *d,
			const struct pbx_codec_desc *codec, const uint8_t *pl, size_t len,
			const struct pbx__rtp_hdr *h, uint64_t now)
{
	/* Playback, a tone or DTMF being sent own the far leg's stream meanwhile. */
	if (!d->can_send || d->play || d->tone_on || pbx__dtmf_sending(d) || codec != s->codec)
		return;
	struct pbx__legf *f = legf(s);
	if (!f)
		return;
	/* Decode at the far leg's rate where the codec can: Opus for a G.711
	 * leg gives 8 kHz itself, with no resampler on either side. */
	unsigned rate = coder_rate(s->codec, d->codec->rate);
	if (coder_at(s, &f->dec, false, rate) < 0)
		return;
	static _Thread_local int16_t pcm[PBX__MAX_PTIME * PBX_FRAME_MAX_RATE / 1000];
	size_t per = (size_t)rate * PBX_FRAME_MS / 1000;
	if (f->seq_valid) {
		int16_t gap = (int16_t)(h->seq - f->next_seq);
		if (gap < 0)
			return; /* late or repeated: its time has passed */
		for (int k = 0; k < gap && k < MAX_CONCEAL; k++) {
			int got = decode(s, f->dec, NULL, 0, pcm, per, per);
			if (got > 0)
				send_pcm(f, d, rate, pcm, (size_t)got, now);
		}
	}
	f->next_seq = (uint16_t)(h->seq + 1);
	f->seq_valid = true;
	int got = decode(s, f->dec, pl, len, pcm, sizeof pcm / sizeof *pcm, per);
	if (got < 0) {
		PBX__STAT_ADD(s->st.rx_dropped, 1);
		return;
	}
	send_pcm(f, d, rate, pcm, (size_t)got, now);
}

/* ---- frames for consumers -------------------------------------------------------------------- */

void pbx__leg_rx_put(struct pbx__sess *s, const struct pbx_codec_desc *codec, const uint8_t *pl,
		     size_t len, const struct pbx__rtp_hdr *h)
{
	struct pbx__legf *f;
	if (codec != s->codec || !(f = legf(s)))
		return;
	if (!f->jb && pbx__jitter_alloc(&f->jb, s->codec->clock * PBX_FRAME_MS / 1000)) {
		fail_once(s, "no jitter buffer", ENOMEM);
		return;
	}
	pbx__jitter_put(f->jb, pl, len, h->ts, h->seq);
}

int pbx__leg_rx_frame(struct pbx__sess *s, unsigned rate, struct pbx_frame *out)
{
	struct pbx__legf *f = legf(s);
	const struct pbx_codec_desc *c = s->codec;
	int err;
	if (!f)
		return ENOMEM;
	if (f->have_cur && f->tick == s->w->tick_no && f->cur.rate == rate) {
		*out = f->cur;
		return 0;
	}
	/* Decoded at the consumer's rate where the codec can. */
	unsigned drate = coder_rate(c, rate);
	struct pbx_frame dec;
	if ((err = pbx_frame_init(&dec, drate, PBX_FRAME_MS, 0)))
		return err;
	uint8_t pl[PBX__RTP_MAX];
	size_t len = 0;
	enum pbx__jitter_got got =
		f->jb ? pbx__jitter_get(f->jb, pl, sizeof pl, &len) : PBX__JITTER_FILLING;
	if (got != PBX__JITTER_FILLING) {
		int made = coder_at(s, &f->jdec, false, drate);
		if (made < 0)
			return -made;
		/* A payload longer than a frame (another ptime) keeps its first 20 ms. */
		int16_t pcm[PBX__MAX_PTIME * PBX_FRAME_MAX_RATE / 1000];
		int n = decode(s, f->jdec, got == PBX__JITTER_FRAME ? pl : NULL, len, pcm,
			       sizeof pcm / sizeof *pcm, dec.samples);
		/* A key pressed: its in-band tone stays out of recordings. */
		bool dtmf = s->drx.active && uv_now(&s->w->loop) - s->drx.last_ms < DTMF_MUTE_MS;
		if (n > 0 && !dtmf)
			memcpy(dec.pcm, pcm, (n < (int)dec.samples ? (size_t)n : dec.samples) * 2);
	}
	if (rate == drate) {
		*out = dec;
	} else if ((err = pbx_resampler_keep(&f->jrs, drate, rate)) ||
		   (err = pbx_resampler_run(f->jrs, &dec, out))) {
		fail_once(s, "cannot resample for a recording", err);
		return err;
	}
	f->cur = *out;
	f->tick = s->w->tick_no;
	f->have_cur = true;
	return 0;
}
