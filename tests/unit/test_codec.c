/**
 * @file test_codec.c  Codec registry and coders: lookups, frame sizes, tone round trips, concealment
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A round trip is checked by measuring, not by comparing bytes: a tone
 * goes in, and what comes out must carry that tone at about its level
 * (Goertzel power at the tone against the whole signal's), after the
 * codec's delay has passed.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/codec.h"
#include "tone_check.h"
#include "unit.h"

#define FRAME_MS 20
#define SECONDS  1

/* Encode @p seconds of a tone of @p freq in 20 ms frames and decode it
 * again; returns the decoded PCM (caller frees) and its length. */
static int16_t *round_trip(const struct pbx_codec_desc *c, double freq, double amp, size_t *np,
			   size_t *frame_bytes)
{
	struct pbx_coder *enc, *dec;
	size_t fs = pbx_codec_samples(c, FRAME_MS), frames = SECONDS * 1000 / FRAME_MS;
	int16_t *in = calloc(fs, sizeof *in), *out = calloc(fs * frames, sizeof *out);
	uint8_t pkt[1500];
	assert_non_null(in);
	assert_non_null(out);
	assert_int_equal(pbx_coder_alloc(&enc, c, true), 0);
	assert_int_equal(pbx_coder_alloc(&dec, c, false), 0);
	for (size_t f = 0; f < frames; f++) {
		for (size_t i = 0; i < fs; i++)
			in[i] = (int16_t)lrint(
				amp * sin(2 * M_PI * freq * (double)(f * fs + i) / c->rate));
		int bytes = pbx_coder_encode(enc, in, fs, pkt, sizeof pkt);
		assert_true(bytes > 0);
		assert_true((unsigned)bytes <= c->max_frame);
		*frame_bytes = (size_t)bytes;
		int got = pbx_coder_decode(dec, pkt, (size_t)bytes, out + f * fs, fs);
		assert_int_equal(got, (int)fs);
	}
	pbx_coder_free(enc);
	pbx_coder_free(dec);
	free(in);
	*np = fs * frames;
	return out;
}

/* The tone comes out as the tone: after the first 100 ms (codec delay and
 * adaptation), at least @p min_share of the power is at the frequency, and
 * the level is within 3 dB of what went in. */
static void check_tone(const char *name, double freq, double amp, double min_share)
{
	const struct pbx_codec_desc *c = pbx_codec_find(name);
	size_t n, bytes;
	assert_non_null(c);
	int16_t *out = round_trip(c, freq, amp, &n, &bytes);
	size_t skip = c->rate / 10;
	double share = tone_share(out + skip, n - skip, freq, c->rate);
	double level = rms(out + skip, n - skip), want = amp / sqrt(2);
	if (share < min_share || level < want / 1.41 || level > want * 1.41)
		fail_msg("%s: %.0f Hz tone came out with %.0f%% of its power at %.0f Hz and rms "
			 "%.0f (sent %.0f)",
			 name, freq, 100 * share, freq, level, want);
	free(out);
}

static void test_registry(void **state)
{
	(void)state;
	const struct pbx_codec_desc *u = pbx_codec_find("pcmu"), *g = pbx_codec_find("G722");
	const struct pbx_codec_desc *o = pbx_codec_find("OPUS");
	assert_non_null(u);
	assert_non_null(g);
	assert_non_null(o);
	assert_null(pbx_codec_find("G729"));
	assert_ptr_equal(pbx_codec_find_pt(0), u);
	assert_ptr_equal(pbx_codec_find_pt(8), pbx_codec_find("PCMA"));
	assert_ptr_equal(pbx_codec_find_pt(9), g);
	assert_null(pbx_codec_find_pt(96)); /* dynamic types are the SDP's to give */
	/* RFC 3551 4.5.2: G.722 is 16 kHz audio on an 8000 Hz clock. */
	assert_int_equal(g->rate, 16000);
	assert_int_equal(g->clock, 8000);
	/* RFC 7587: opus/48000/2 in the rtpmap, dynamic payload type. */
	assert_int_equal(o->rate, 48000);
	assert_int_equal(o->clock, 48000);
	assert_int_equal(o->channels, 2);
	assert_int_equal(o->static_pt, -1);
	assert_non_null(strstr(o->fmtp, "useinbandfec=1"));
	assert_int_equal(pbx_codec_samples(o, 20), 960);
	assert_int_equal(pbx_codec_samples(g, 20), 320);
}

static int count_cb(const struct pbx_codec_desc *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static void test_each(void **state)
{
	(void)state;
	int n = 0;
	assert_int_equal(pbx_codec_each(count_cb, &n), 0);
	assert_int_equal(n, 4); /* PCMU, PCMA, G722, opus */
}

static void test_g711_round_trip(void **state)
{
	(void)state;
	check_tone("PCMU", 1000, 8000, 0.95);
	check_tone("PCMA", 440, 8000, 0.95);
	/* Stateless and exact on its own codes: a frame is 160 bytes. */
	size_t n, bytes;
	int16_t *out = round_trip(pbx_codec_find("PCMU"), 1000, 8000, &n, &bytes);
	assert_int_equal(bytes, 160);
	free(out);
}

static void test_g722_round_trip(void **state)
{
	(void)state;
	check_tone("G722", 1000, 8000, 0.9);
	/* Wideband: 5 kHz passes, which no 8 kHz codec can carry. */
	check_tone("G722", 5000, 8000, 0.9);
	size_t n, bytes;
	int16_t *out = round_trip(pbx_codec_find("G722"), 1000, 8000, &n, &bytes);
	assert_int_equal(bytes, 160); /* 320 samples, 64 kbit/s */
	free(out);
}

static void test_opus_round_trip(void **state)
{
	(void)state;
	check_tone("opus", 1000, 8000, 0.9);
	/* Wideband too; at 32 kbit/s the high tone keeps a little less purity. */
	check_tone("opus", 6000, 8000, 0.8);
	size_t n, bytes;
	int16_t *out = round_trip(pbx_codec_find("opus"), 1000, 8000, &n, &bytes);
	assert_true(bytes <= 120); /* about 32 kbit/s: 80 bytes per 20 ms, some slack */
	free(out);
}

/* Coders at another PCM rate: Opus at 8 and 16 kHz (no resampler next to
 * it); G.722 and G.711 only at their own, asked otherwise: EINVAL. */
static void test_coder_rates(void **state)
{
	(void)state;
	const struct pbx_codec_desc *o = pbx_codec_find("opus"), *g = pbx_codec_find("G722");
	struct pbx_coder *enc, *dec;
	assert_true(pbx_codec_has_rate(o, 8000) && pbx_codec_has_rate(o, 16000));
	assert_true(pbx_codec_has_rate(o, 48000) && !pbx_codec_has_rate(o, 44100));
	assert_false(pbx_codec_has_rate(g, 8000));
	assert_int_equal(pbx_coder_alloc_rate(&enc, g, true, 8000), EINVAL);
	assert_null(enc);
	static const unsigned rates[] = {8000, 16000};
	for (int r = 0; r < 2; r++) {
		unsigned rate = rates[r];
		size_t fs = rate / 50;
		int16_t in[320], out[320 * 50];
		uint8_t pkt[1500];
		assert_int_equal(pbx_coder_alloc_rate(&enc, o, true, rate), 0);
		assert_int_equal(pbx_coder_alloc_rate(&dec, o, false, rate), 0);
		assert_int_equal(pbx_coder_rate(enc), rate);
		for (size_t f = 0; f < 50; f++) {
			for (size_t i = 0; i < fs; i++)
				in[i] = (int16_t)lrint(
					8000 * sin(2 * M_PI * 1000 * (double)(f * fs + i) / rate));
			int bytes = pbx_coder_encode(enc, in, fs, pkt, sizeof pkt);
			assert_true(bytes > 0);
			assert_int_equal(
				pbx_coder_decode(dec, pkt, (size_t)bytes, out + f * fs, fs),
				(int)fs);
		}
		size_t skip = rate / 10, n = fs * 50 - skip;
		assert_true(tone_share(out + skip, n, 1000, rate) > 0.9);
		assert_true(rms(out + skip, n) > 4000);
		pbx_coder_free(enc);
		pbx_coder_free(dec);
	}
}

/* The far end's fmtp: maxplaybackrate=8000 narrows the band (a 6 kHz tone is
 * gone), maxaveragebitrate caps the size; a decoder takes no fmtp. */
static void test_opus_fmtp(void **state)
{
	(void)state;
	const struct pbx_codec_desc *c = pbx_codec_find("opus");
	struct pbx_coder *enc, *dec;
	int16_t in[960], out[960];
	uint8_t pkt[1500];
	double e_in = 0, e_out = 0;
	size_t max_bytes = 0;
	assert_int_equal(pbx_coder_alloc(&enc, c, true), 0);
	assert_int_equal(pbx_coder_alloc(&dec, c, false), 0);
	assert_int_equal(pbx_coder_fmtp(dec, "maxplaybackrate=8000"), EINVAL);
	assert_int_equal(pbx_coder_fmtp(enc, ""), 0);
	assert_int_equal(pbx_coder_fmtp(enc, "useinbandfec=1; maxplaybackrate=8000;"
					     "maxaveragebitrate=12000;x-unknown=3"),
			 0);
	for (int f = 0; f < 50; f++) {
		for (int i = 0; i < 960; i++)
			in[i] = (int16_t)lrint(8000 *
					       sin(2 * M_PI * 6000 * (f * 960 + i) / 48000.0));
		int bytes = pbx_coder_encode(enc, in, 960, pkt, sizeof pkt);
		assert_true(bytes > 0);
		if ((size_t)bytes > max_bytes)
			max_bytes = (size_t)bytes;
		assert_int_equal(pbx_coder_decode(dec, pkt, (size_t)bytes, out, 960), 960);
		if (f >= 5) {
			e_in += rms(in, 960);
			e_out += rms(out, 960);
		}
	}
	print_message(
		"opus, narrowband by fmtp: 6 kHz kept at %.1f%% of its level, %zu bytes max\n",
		100 * e_out / e_in, max_bytes);
	assert_true(e_out < 0.1 * e_in);
	assert_true(max_bytes <= 12000 / 8 / 50 + 10);
	pbx_coder_free(enc);
	pbx_coder_free(dec);
}

/* A lost packet (decode with no data) gives a whole frame: silence for the
 * stateless and ADPCM codecs, Opus's own concealment otherwise. */
static void test_concealment(void **state)
{
	(void)state;
	static const char *const names[] = {"PCMU", "G722", "opus"};
	for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
		const struct pbx_codec_desc *c = pbx_codec_find(names[k]);
		struct pbx_coder *dec;
		size_t fs = pbx_codec_samples(c, FRAME_MS);
		int16_t *pcm = calloc(fs, sizeof *pcm);
		assert_non_null(pcm);
		assert_int_equal(pbx_coder_alloc(&dec, c, false), 0);
		assert_int_equal(pbx_coder_decode(dec, NULL, 0, pcm, fs), (int)fs);
		pbx_coder_free(dec);
		free(pcm);
	}
}

static void test_wrong_direction(void **state)
{
	(void)state;
	const struct pbx_codec_desc *c = pbx_codec_find("opus");
	struct pbx_coder *enc, *dec;
	int16_t pcm[960] = {0};
	uint8_t pkt[400];
	assert_int_equal(pbx_coder_alloc(&enc, c, true), 0);
	assert_int_equal(pbx_coder_alloc(&dec, c, false), 0);
	assert_ptr_equal(pbx_coder_codec(enc), c);
	assert_int_equal(pbx_coder_decode(enc, pkt, 10, pcm, 960), -EINVAL);
	assert_int_equal(pbx_coder_encode(dec, pcm, 960, pkt, sizeof pkt), -EINVAL);
	/* Too small an output: an error, never an overrun. */
	struct pbx_coder *u;
	assert_int_equal(pbx_coder_alloc(&u, pbx_codec_find("PCMA"), true), 0);
	assert_int_equal(pbx_coder_encode(u, pcm, 160, pkt, 100), -ENOBUFS);
	pbx_coder_free(u);
	pbx_coder_free(enc);
	pbx_coder_free(dec);
	pbx_coder_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_registry),        cmocka_unit_test(test_each),
	cmocka_unit_test(test_g711_round_trip), cmocka_unit_test(test_g722_round_trip),
	cmocka_unit_test(test_opus_round_trip), cmocka_unit_test(test_concealment),
	cmocka_unit_test(test_wrong_direction), cmocka_unit_test(test_opus_fmtp),
	cmocka_unit_test(test_coder_rates),
};

UNIT_GROUP(codec, tests, NULL, NULL);
