/**
 * @file test_frame.c  Frames: resampling keeps tones and filters aliases, tone cadences, mixing
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "pbx/frame.h"
#include "tone_check.h"
#include "unit.h"

static void test_init(void **state)
{
	(void)state;
	struct pbx_frame f;
	assert_int_equal(pbx_frame_init(&f, 8000, 20, 7), 0);
	assert_int_equal(f.samples, 160);
	assert_int_equal(f.ts, 7);
	assert_true(pbx_frame_rms(&f) == 0);
	assert_int_equal(pbx_frame_init(&f, 48000, 20, 0), 0);
	assert_int_equal(f.samples, 960);
	assert_int_equal(pbx_frame_init(&f, 44100, 20, 0), EINVAL);
	assert_int_equal(pbx_frame_init(&f, 48000, 40, 0), EINVAL); /* larger than a frame holds */
	assert_int_equal(pbx_frame_init(&f, 16000, 0, 0), EINVAL);
}

/* Resample one second of tone frame by frame; returns the output (caller frees). */
static int16_t *resample_tone(unsigned in_rate, unsigned out_rate, double freq, size_t *np)
{
	struct pbx_resampler *r;
	struct pbx_tone t;
	struct pbx_tone_spec spec = {.freq = {(unsigned)freq, 0}, .amplitude = 8000};
	struct pbx_frame in, out;
	size_t per = out_rate / 50, frames = 50;
	int16_t *all = calloc(per * frames, sizeof *all);
	assert_non_null(all);
	assert_int_equal(pbx_resampler_alloc(&r, in_rate, out_rate), 0);
	assert_int_equal(pbx_tone_init(&t, &spec, in_rate), 0);
	for (size_t k = 0; k < frames; k++) {
		pbx_tone_next(&t, &in, 20);
		assert_int_equal(pbx_resampler_run(r, &in, &out), 0);
		assert_int_equal(out.rate, out_rate);
		assert_int_equal(out.samples, per);
		assert_int_equal(out.ts, (uint32_t)(k * per));
		for (size_t i = 0; i < per; i++)
			all[k * per + i] = out.pcm[i];
	}
	pbx_resampler_free(r);
	*np = per * frames;
	return all;
}

static void test_resample_keeps_the_tone(void **state)
{
	(void)state;
	static const unsigned pairs[][2] = {{8000, 16000}, {16000, 8000},  {8000, 48000},
					    {48000, 8000}, {16000, 48000}, {48000, 16000}};
	for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
		size_t n;
		int16_t *x = resample_tone(pairs[k][0], pairs[k][1], 1000, &n);
		size_t skip = pairs[k][1] / 20; /* 50 ms of filter settling */
		double share = tone_share(x + skip, n - skip, 1000, pairs[k][1]);
		double level = 0;
		for (size_t i = skip; i < n; i++)
			level += (double)x[i] * x[i];
		level = sqrt(level / (double)(n - skip));
		if (share < 0.95 || level < 8000 / M_SQRT2 / 1.12 || level > 8000 / M_SQRT2 * 1.12)
			fail_msg("%u -> %u Hz: 1 kHz share %.2f, rms %.0f", pairs[k][0],
				 pairs[k][1], share, level);
		free(x);
	}
}

/* Down to 8 kHz, a 6 kHz tone must not fold back as 2 kHz: it is filtered. */
static void test_resample_filters_aliases(void **state)
{
	(void)state;
	size_t n;
	int16_t *x = resample_tone(16000, 8000, 6000, &n);
	double level = 0;
	for (size_t i = 400; i < n; i++)
		level += (double)x[i] * x[i];
	level = sqrt(level / (double)(n - 400));
	assert_true(level < 8000 / M_SQRT2 / 30); /* at least 30 dB down */
	free(x);
	struct pbx_resampler *r;
	struct pbx_frame in, out;
	assert_int_equal(pbx_resampler_alloc(&r, 8000, 16000), 0);
	pbx_frame_init(&in, 16000, 20, 0);
	assert_int_equal(pbx_resampler_run(r, &in, &out), EINVAL); /* not its input rate */
	pbx_resampler_free(r);
	assert_int_equal(pbx_resampler_alloc(&r, 8000, 11025), EINVAL);
	pbx_resampler_free(NULL);
}

static void test_tone_cadence(void **state)
{
	(void)state;
	/* Ringback as in North America: 440 + 480 Hz, 2 s on, 4 s off. */
	struct pbx_tone_spec ring = {
		.freq = {440, 480}, .amplitude = 4000, .on_ms = 2000, .off_ms = 4000};
	struct pbx_tone t;
	struct pbx_frame f;
	assert_int_equal(pbx_tone_init(&t, &ring, 8000), 0);
	int on = 0, off = 0;
	for (int k = 0; k < 600; k++) { /* 12 s: two cycles */
		assert_true(pbx_tone_next(&t, &f, 20));
		bool sounding = pbx_frame_rms(&f) > 1000;
		bool want = (k * 20) % 6000 < 2000;
		assert_int_equal(sounding, want);
		on += sounding;
		off += !sounding;
		if (k == 10) {
			assert_true(tone_share(f.pcm, f.samples, 440, 8000) > 0.3);
			assert_true(tone_share(f.pcm, f.samples, 480, 8000) > 0.3);
		}
	}
	assert_int_equal(on, 200);
	assert_int_equal(off, 400);
	/* A beep plays once, then says it is over. */
	struct pbx_tone_spec beep = {.freq = {1000}, .amplitude = 8000, .on_ms = 100, .once = true};
	assert_int_equal(pbx_tone_init(&t, &beep, 16000), 0);
	for (int k = 0; k < 4; k++)
		assert_true(pbx_tone_next(&t, &f, 20));
	assert_false(pbx_tone_next(&t, &f, 20));
	assert_true(pbx_frame_rms(&f) > 1000);
	assert_false(pbx_tone_next(&t, &f, 20));
	assert_true(pbx_frame_rms(&f) == 0);
	/* A frequency the rate cannot carry is refused. */
	struct pbx_tone_spec high = {.freq = {5000}, .amplitude = 1000};
	assert_int_equal(pbx_tone_init(&t, &high, 8000), EINVAL);
	assert_int_equal(pbx_tone_init(&t, &high, 16000), 0);
}

static void test_mix(void **state)
{
	(void)state;
	struct pbx_tone a, b;
	struct pbx_tone_spec sa = {.freq = {500}, .amplitude = 6000};
	struct pbx_tone_spec sb = {.freq = {1500}, .amplitude = 6000};
	struct pbx_frame fa, fb, out;
	pbx_tone_init(&a, &sa, 16000);
	pbx_tone_init(&b, &sb, 16000);
	pbx_tone_next(&a, &fa, 20);
	pbx_tone_next(&b, &fb, 20);
	const struct pbx_frame *in[] = {&fa, &fb};
	assert_int_equal(pbx_frame_mix(&out, in, 2, NULL), 0);
	assert_true(tone_share(out.pcm, out.samples, 500, 16000) > 0.4);
	assert_true(tone_share(out.pcm, out.samples, 1500, 16000) > 0.4);
	/* Mix minus self: a talker hears the others, not itself. */
	assert_int_equal(pbx_frame_mix(&out, in, 2, &fa), 0);
	assert_true(tone_share(out.pcm, out.samples, 1500, 16000) > 0.95);
	assert_true(tone_share(out.pcm, out.samples, 500, 16000) < 0.01);
	/* Saturation, not wrap-around. */
	struct pbx_frame loud;
	pbx_frame_init(&loud, 16000, 20, 0);
	for (unsigned i = 0; i < loud.samples; i++)
		loud.pcm[i] = i % 2 ? 30000 : -30000;
	const struct pbx_frame *two[] = {&loud, &loud};
	assert_int_equal(pbx_frame_mix(&out, two, 2, NULL), 0);
	assert_int_equal(out.pcm[0], INT16_MIN);
	assert_int_equal(out.pcm[1], INT16_MAX);
	/* Frames of different rates cannot be mixed. */
	struct pbx_frame narrow;
	pbx_frame_init(&narrow, 8000, 20, 0);
	const struct pbx_frame *bad[] = {&fa, &narrow};
	assert_int_equal(pbx_frame_mix(&out, bad, 2, NULL), EINVAL);
	assert_int_equal(pbx_frame_mix(&out, bad, 0, NULL), EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_init),
	cmocka_unit_test(test_resample_keeps_the_tone),
	cmocka_unit_test(test_resample_filters_aliases),
	cmocka_unit_test(test_tone_cadence),
	cmocka_unit_test(test_mix),
};

UNIT_GROUP(frame, tests, NULL, NULL);
