/**
 * @file frame.c  Frames: levels, resampling (speexdsp), tone generation, mixing
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Costs: a tone sample is two sin() calls (a 20 ms frame at 48 kHz is
 * about 2,000, some 20 us); mixing is one add and one clamp per sample
 * per input; resampling is speexdsp's VoIP quality, its usual choice for
 * telephony (about 2 us a frame at 8 -> 16 kHz).
 */
#include <errno.h>
#include <math.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/frame.h"

bool pbx_frame_rate_ok(unsigned rate)
{
	return rate == 8000 || rate == 16000 || rate == 48000;
}

int pbx_frame_init(struct pbx_frame *f, unsigned rate, unsigned ms, uint32_t ts)
{
	size_t samples = (size_t)rate * ms / 1000;
	if (!pbx_frame_rate_ok(rate) || !ms || samples > PBX_FRAME_MAX_SAMPLES)
		return EINVAL;
	f->rate = rate;
	f->samples = (unsigned)samples;
	f->ts = ts;
	memset(f->pcm, 0, samples * sizeof *f->pcm);
	return 0;
}

double pbx_frame_rms(const struct pbx_frame *f)
{
	double e = 0;
	for (unsigned i = 0; i < f->samples; i++)
		e += (double)f->pcm[i] * f->pcm[i];
	return f->samples ? sqrt(e / f->samples) : 0;
}

/* ---- resampling ------------------------------------------------------------------ */

struct pbx_resampler {
	SpeexResamplerState *st;
	unsigned in_rate, out_rate;
};

int pbx_resampler_keep(struct pbx_resampler **rp, unsigned in_rate, unsigned out_rate)
{
	if (*rp && (*rp)->in_rate == in_rate && (*rp)->out_rate == out_rate)
		return 0;
	pbx_resampler_free(*rp);
	*rp = NULL;
	return pbx_resampler_alloc(rp, in_rate, out_rate);
}

int pbx_resampler_alloc(struct pbx_resampler **rp, unsigned in_rate, unsigned out_rate)
{
	struct pbx_resampler *r;
	int err = 0;
	*rp = NULL;
	if (!pbx_frame_rate_ok(in_rate) || !pbx_frame_rate_ok(out_rate))
		return EINVAL;
	if (!(r = calloc(1, sizeof *r)))
		return ENOMEM;
	r->in_rate = in_rate;
	r->out_rate = out_rate;
	r->st = speex_resampler_init(1, in_rate, out_rate, SPEEX_RESAMPLER_QUALITY_VOIP, &err);
	if (!r->st) {
		free(r);
		return ENOMEM;
	}
	/* Without this the first frame starts with the filter's delay in zeros. */
	speex_resampler_skip_zeros(r->st);
	*rp = r;
	return 0;
}

void pbx_resampler_free(struct pbx_resampler *r)
{
	if (!r)
		return;
	speex_resampler_destroy(r->st);
	free(r);
}

int pbx_resampler_run(struct pbx_resampler *r, const struct pbx_frame *in, struct pbx_frame *out)
{
	if (in->rate != r->in_rate)
		return EINVAL;
	spx_uint32_t in_len = in->samples;
	spx_uint32_t out_len = (spx_uint32_t)((uint64_t)in->samples * r->out_rate / r->in_rate);
	out->rate = r->out_rate;
	out->ts = (uint32_t)((uint64_t)in->ts * r->out_rate / r->in_rate);
	/* A whole frame always fits (the output is sized for it): input left
	 * over or an error means a broken state, not a short frame. */
	if (speex_resampler_process_int(r->st, 0, in->pcm, &in_len, out->pcm, &out_len) !=
		    RESAMPLER_ERR_SUCCESS ||
	    in_len != in->samples)
		return EIO;
	/* The filter may hold back a sample or two at first: pad with the last. */
	unsigned want = (unsigned)((uint64_t)in->samples * r->out_rate / r->in_rate);
	for (unsigned i = out_len; i < want; i++)
		out->pcm[i] = i ? out->pcm[i - 1] : 0;
	out->samples = want;
	return 0;
}

/* ---- tones ------------------------------------------------------------------------ */

const struct pbx_tone_spec pbx_tone_ringback = {
	.freq = {440, 480}, .amplitude = 3000, .on_ms = 2000, .off_ms = 4000};

int pbx_tone_init(struct pbx_tone *t, const struct pbx_tone_spec *spec, unsigned rate)
{
	if (!pbx_frame_rate_ok(rate))
		return EINVAL;
	for (int i = 0; i < 2; i++)
		if (spec->freq[i] && spec->freq[i] * 2 >= rate)
			return EINVAL;
	t->spec = *spec;
	t->rate = rate;
	t->n = 0;
	return 0;
}

static bool tone_on(const struct pbx_tone *t, uint64_t n)
{
	const struct pbx_tone_spec *s = &t->spec;
	if (!s->on_ms)
		return true;
	uint64_t ms = n * 1000 / t->rate;
	if (s->once)
		return ms < s->on_ms;
	return ms % (s->on_ms + s->off_ms) < s->on_ms;
}

bool pbx_tone_next(struct pbx_tone *t, struct pbx_frame *f, unsigned ms)
{
	if (pbx_frame_init(f, t->rate, ms, (uint32_t)t->n))
		return false;
	for (unsigned i = 0; i < f->samples; i++, t->n++) {
		if (!tone_on(t, t->n))
			continue;
		double v = 0;
		for (int k = 0; k < 2; k++)
			if (t->spec.freq[k])
				v += sin(2 * M_PI * t->spec.freq[k] * (double)t->n / t->rate);
		f->pcm[i] = (int16_t)lrint(v * t->spec.amplitude);
	}
	return !(t->spec.once && t->spec.on_ms && t->n * 1000 / t->rate >= t->spec.on_ms);
}

/* ---- mixing ------------------------------------------------------------------------ */

int pbx_frame_mix(struct pbx_frame *out, const struct pbx_frame *const *in, size_t n,
		  const struct pbx_frame *skip)
{
	int32_t acc[PBX_FRAME_MAX_SAMPLES];
	unsigned rate = 0, samples = 0;
	for (size_t k = 0; k < n; k++) {
		if (k && (in[k]->rate != rate || in[k]->samples != samples))
			return EINVAL;
		rate = in[k]->rate;
		samples = in[k]->samples;
	}
	if (!n)
		return EINVAL;
	memset(acc, 0, samples * sizeof *acc);
	for (size_t k = 0; k < n; k++) {
		if (in[k] == skip)
			continue;
		for (unsigned i = 0; i < samples; i++)
			acc[i] += in[k]->pcm[i];
	}
	out->rate = rate;
	out->samples = samples;
	out->ts = in[0]->ts;
	for (unsigned i = 0; i < samples; i++)
		out->pcm[i] = (int16_t)(acc[i] > INT16_MAX   ? INT16_MAX
					: acc[i] < INT16_MIN ? INT16_MIN
							     : acc[i]);
	return 0;
}
