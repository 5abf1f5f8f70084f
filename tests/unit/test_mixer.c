/**
 * @file test_mixer.c  Conference mixing in the media engine, on loopback phones
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine runs in-process with two workers; each phone sends a tone of
 * its own and what it hears is measured (Goertzel share, level):
 *
 *  - three members on three codecs each hear the two others and not
 *    themselves (their own tone 20 dB or more below the others);
 *  - a muted member is heard by nobody, and again once unmuted;
 *  - of five talkers only the three loudest are mixed;
 *  - listeners who do not talk all get the mix (one encoding per group);
 *  - the mix is recorded, started and stopped twice, each file holding
 *    every tone; a sound played into the room reaches everyone;
 *  - talker events follow who talks; members leave and the mixer is freed
 *    while it records, without a leak (ASan).
 */
#include <errno.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pbx/media_priv.h"
#include "media_loop.h"
#include "media_phone.h"
#include "pbx/mixer.h"
#include "tone_check.h"
#include "unit.h"

static uv_loop_t loop;
static struct pbx_media_cfg cfg;

static int setup(void **state)
{
	(void)state;
	int base = 40000 + (int)(getpid() % 90) * 100;
	return unit_media_start(&loop, &cfg, base, base + 99, 0);
}

static int teardown(void **state)
{
	(void)state;
	return unit_media_stop(&loop);
}

/* ---- what the mixer tells ------------------------------------------------------------------- */

struct room {
	int talk_on, talk_off;
	int record_done, record_err;
	unsigned record_ms;
	int play_done, play_err;
};

static void on_talking(void *arg, struct pbx_rtp *member, bool on)
{
	struct room *r = arg;
	(void)member;
	if (on)
		r->talk_on++;
	else
		r->talk_off++;
}

static void on_record_done(void *arg, int err, unsigned ms)
{
	struct room *r = arg;
	r->record_done++;
	r->record_err = err;
	r->record_ms = ms;
}

static void on_play_done(void *arg, int err)
{
	struct room *r = arg;
	r->play_done++;
	r->play_err = err;
}

static const struct pbx_mix_events mix_events = {
	.talking = on_talking, .record_done = on_record_done, .play_done = on_play_done};

/* ---- members ---------------------------------------------------------------------------------- */

enum { MAXM = 8, MAXS = 48000 * 4 };

struct member {
	struct phone ph;
	struct pbx_rtp *r;
	double freq; /* what it sends; 0: silence */
	int16_t *heard;
	size_t n;
	int packets;
};

static void member_open(struct member *m, const char *codec, uint8_t pt, double freq)
{
	static const struct pbx_rtp_events none;
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct pbx_rtp_params x;
	memset(m, 0, sizeof *m);
	phone_open(&m->ph, codec, pt);
	m->freq = freq;
	if (!freq)
		m->ph.amp = 0;
	assert_non_null(m->heard = calloc(MAXS, sizeof *m->heard));
	assert_int_equal(pbx_rtp_alloc(&m->r, (struct sockaddr *)&lo, NULL, &none, NULL), 0);
	memset(&x, 0, sizeof x);
	memcpy(&x.remote, &m->ph.addr, sizeof m->ph.addr);
	x.codec = m->ph.codec;
	x.pt = pt;
	x.dir = PBX_DIR_SENDRECV;
	x.ptime = 20;
	assert_int_equal(pbx_rtp_set_params(m->r, &x), 0);
}

static void member_close(struct member *m)
{
	pbx_rtp_free(m->r);
	phone_close(&m->ph);
	free(m->heard);
}

/* @p ms of everyone talking; what each hears is kept from the start (n reset). */
static void talk(struct member *ms, size_t count, unsigned ms_total)
{
	int bad = 0;
	for (size_t i = 0; i < count; i++)
		ms[i].n = 0;
	uint64_t next = unit_now_ms();
	for (unsigned t = 0; t < ms_total; t += 20) {
		for (size_t i = 0; i < count; i++)
			phone_send(&ms[i].ph, pbx_rtp_port(ms[i].r), ms[i].freq ? ms[i].freq : 100,
				   false);
		next += 20;
		unit_pump_until(&loop, next);
		for (size_t i = 0; i < count; i++)
			ms[i].n += phone_drain(&ms[i].ph, ms[i].heard + ms[i].n, MAXS - ms[i].n,
					       &ms[i].packets, &bad);
	}
	assert_int_equal(bad, 0);
}

/* Level (dB, relative to full scale) of @p freq in the last @p ms of what @p m heard. */
static double tone_db(const struct member *m, double freq, unsigned ms)
{
	size_t want = (size_t)m->ph.codec->rate * ms / 1000;
	assert_true(m->n >= want);
	const int16_t *x = m->heard + m->n - want;
	double p = tone_share(x, want, freq, m->ph.codec->rate) * rms(x, want) * rms(x, want);
	return 10 * log10(p / (32768.0 * 32768.0) + 1e-12);
}

static struct pbx_mix *mixer(struct room *room, unsigned talkers)
{
	struct pbx_mix *m = NULL;
	struct pbx_mix_cfg c = {.talkers = talkers};
	assert_int_equal(pbx_mix_alloc(&m, &c, NULL, &mix_events, room), 0);
	return m;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_mix_minus_self(void **state)
{
	(void)state;
	struct room room = {0};
	struct member m[3];
	member_open(&m[0], "PCMU", 0, 440);
	member_open(&m[1], "PCMA", 8, 1000);
	member_open(&m[2], "G722", 9, 1500);
	struct pbx_mix *x = mixer(&room, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pbx_mix_join(x, m[i].r, NULL), 0);
	assert_int_equal(pbx_mix_members(x), 3);
	assert_int_equal(pbx_mix_rate(x), 16000);
	talk(m, 3, 1500);
	for (int i = 0; i < 3; i++) {
		double own = tone_db(&m[i], m[i].freq, 1000);
		for (int j = 0; j < 3; j++) {
			if (j == i)
				continue;
			double other = tone_db(&m[i], m[j].freq, 1000);
			print_message("member %d hears %.0f Hz at %.1f dB, itself at %.1f dB\n", i,
				      m[j].freq, other, own);
			assert_true(other > -35);
			assert_true(own < other - 20);
		}
	}
	assert_true(room.talk_on >= 3);

	/* Muted: nobody hears 1000 Hz; unmuted: everyone again. */
	struct pbx_mix_member_opts mute = {.muted = true};
	assert_int_equal(pbx_mix_join(x, m[1].r, &mute), 0);
	talk(m, 3, 1000);
	print_message("muted: %.1f dB of 1000 Hz at member 0, %.1f at member 2\n",
		      tone_db(&m[0], 1000, 500), tone_db(&m[2], 1000, 500));
	assert_true(tone_db(&m[0], 1000, 500) < -60);
	assert_true(tone_db(&m[2], 1000, 500) < -60);
	assert_true(tone_db(&m[0], 1500, 500) > -35);
	assert_true(room.talk_off >= 1);
	assert_int_equal(pbx_mix_join(x, m[1].r, NULL), 0);
	talk(m, 3, 1000);
	assert_true(tone_db(&m[0], 1000, 500) > -35);
	assert_true(tone_db(&m[2], 1000, 500) > -35);

	/* One leaves: the two others still hear each other. */
	pbx_mix_leave(m[2].r);
	talk(m, 3, 800);
	assert_int_equal(pbx_mix_members(x), 2);
	assert_true(tone_db(&m[0], 1000, 400) > -35);
	assert_true(tone_db(&m[1], 440, 400) > -35);
	assert_true(tone_db(&m[0], 1500, 400) < -60);

	pbx_mix_free(x);
	for (int i = 0; i < 3; i++)
		member_close(&m[i]);
	unit_pump(&loop, 30);
}

static void test_holding_member_is_not_mixed(void **state)
{
	(void)state;
	struct room room = {0};
	struct member m[2];
	member_open(&m[0], "PCMU", 0, 440);
	member_open(&m[1], "PCMU", 0, 1000);
	struct pbx_mix *x = mixer(&room, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pbx_mix_join(x, m[i].r, NULL), 0);
	talk(m, 2, 800);
	assert_true(tone_db(&m[0], 1000, 400) > -35);
	/* 1000 Hz's phone holds (sendonly, so we are recvonly): its music stays out. */
	struct pbx_rtp_params p = *pbx_rtp_get_params(m[1].r);
	p.dir = PBX_DIR_RECVONLY;
	assert_int_equal(pbx_rtp_set_params(m[1].r, &p), 0);
	talk(m, 2, 800);
	assert_true(tone_db(&m[0], 1000, 400) < -60);
	p.dir = PBX_DIR_SENDRECV;
	assert_int_equal(pbx_rtp_set_params(m[1].r, &p), 0);
	talk(m, 2, 800);
	assert_true(tone_db(&m[0], 1000, 400) > -35);
	pbx_mix_free(x);
	for (int i = 0; i < 2; i++)
		member_close(&m[i]);
	unit_pump(&loop, 30);
}

static void test_loudest_talkers(void **state)
{
	(void)state;
	struct room room = {0};
	struct member m[6];
	static const double f[5] = {500, 800, 1100, 1700, 2300};
	static const double amp[5] = {8000, 6000, 4000, 1500, 1000};
	for (int i = 0; i < 5; i++) {
		member_open(&m[i], "PCMU", 0, f[i]);
		m[i].ph.amp = amp[i];
	}
	member_open(&m[5], "PCMU", 0, 0); /* listens */
	struct pbx_mix *x = mixer(&room, 3);
	for (int i = 0; i < 6; i++)
		assert_int_equal(pbx_mix_join(x, m[i].r, NULL), 0);
	talk(m, 6, 1500);
	for (int i = 0; i < 5; i++)
		print_message("listener hears %.0f Hz at %.1f dB\n", f[i],
			      tone_db(&m[5], f[i], 1000));
	for (int i = 0; i < 3; i++)
		assert_true(tone_db(&m[5], f[i], 1000) > -40);
	for (int i = 3; i < 5; i++)
		assert_true(tone_db(&m[5], f[i], 1000) < -60);
	pbx_mix_free(x);
	for (int i = 0; i < 6; i++)
		member_close(&m[i]);
	unit_pump(&loop, 30);
}

static void test_listeners_share_the_mix(void **state)
{
	(void)state;
	struct room room = {0};
	struct member m[MAXM];
	member_open(&m[0], "PCMU", 0, 700);
	for (int i = 1; i < MAXM; i++)
		member_open(&m[i], i % 2 ? "PCMA" : "opus", i % 2 ? 8 : 111, 0);
	struct pbx_mix *x = mixer(&room, 0);
	for (int i = 0; i < MAXM; i++)
		assert_int_equal(pbx_mix_join(x, m[i].r, NULL), 0);
	talk(m, MAXM, 1500);
	assert_int_equal(pbx_mix_rate(x), 48000);
	for (int i = 1; i < MAXM; i++) {
		double db = tone_db(&m[i], 700, 1000);
		print_message("listener %d (%s) hears 700 Hz at %.1f dB, %d packets\n", i,
			      m[i].ph.codec->name, db, m[i].packets);
		assert_true(db > -35);
		assert_true(m[i].packets >= 60);
	}
	/* The talker hears nobody: silence, not itself. */
	assert_true(rms(m[0].heard + m[0].n - 8000, 8000) < 50);
	pbx_mix_free(x);
	for (int i = 0; i < MAXM; i++)
		member_close(&m[i]);
	unit_pump(&loop, 30);
}

static int16_t *read_wav(const char *path, unsigned *rate, size_t *n)
{
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	assert_non_null(sf);
	int16_t *x = malloc((size_t)info.frames * sizeof *x + 2);
	assert_non_null(x);
	*n = (size_t)sf_read_short(sf, x, info.frames);
	*rate = (unsigned)info.samplerate;
	sf_close(sf);
	return x;
}

static void wait_for(const int *flag, int want, int ms)
{
	for (int i = 0; i < ms && *flag < want; i++)
		unit_pump(&loop, 1);
	assert_int_equal(*flag, want);
}

static void test_record_twice_and_play(void **state)
{
	(void)state;
	struct room room = {0};
	struct member m[3];
	static const double f[3] = {440, 1000, 1500};
	char dir[] = "/tmp/pbx-mix-XXXXXX", path[2][64], tone[64];
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 3; i++)
		member_open(&m[i], "PCMU", 0, f[i]);
	struct pbx_mix *x = mixer(&room, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pbx_mix_join(x, m[i].r, NULL), 0);
	talk(m, 3, 300);
	for (int k = 0; k < 2; k++) {
		snprintf(path[k], sizeof path[k], "%s/room-%d.wav", dir, k);
		assert_int_equal(pbx_mix_record(x, path[k]), 0);
		assert_true(pbx_mix_recording(x));
		talk(m, 3, 1000);
		pbx_mix_record_stop(x);
		pbx_mix_record_stop(x); /* twice: harmless */
		wait_for(&room.record_done, k + 1, 2000);
		assert_int_equal(room.record_err, 0);
		assert_false(pbx_mix_recording(x));
		print_message("recording %d: %u ms\n", k, room.record_ms);
		assert_true(room.record_ms >= 800 && room.record_ms <= 1300);
		unsigned rate;
		size_t n;
		int16_t *pcm = read_wav(path[k], &rate, &n);
		assert_int_equal(rate, 16000);
		for (int i = 0; i < 3; i++)
			assert_true(tone_share(pcm + n / 4, n / 2, f[i], rate) > 0.15);
		free(pcm);
	}

	/* A 2600 Hz tone at 8 kHz played into the room: everyone hears it. */
	snprintf(tone, sizeof tone, "%s/tone.wav", dir);
	SF_INFO info = {
		.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
	SNDFILE *sf = sf_open(tone, SFM_WRITE, &info);
	assert_non_null(sf);
	static int16_t t[8000];
	for (int i = 0; i < 8000; i++)
		t[i] = (int16_t)(6000 * sin(2 * M_PI * 2600 * i / 8000.0));
	assert_int_equal(sf_write_short(sf, t, 8000), 8000);
	sf_close(sf);
	for (int i = 0; i < 3; i++)
		m[i].freq = 0, m[i].ph.amp = 0;
	assert_int_equal(pbx_mix_play(x, tone), 0);
	talk(m, 3, 700);
	for (int i = 0; i < 3; i++)
		assert_true(tone_db(&m[i], 2600, 400) > -35);
	wait_for(&room.play_done, 1, 1000);
	assert_int_equal(room.play_err, 0);

	/* Freed while recording: the file is kept, nothing leaks. */
	assert_int_equal(pbx_mix_record(x, path[0]), 0);
	talk(m, 3, 200);
	pbx_mix_free(x);
	for (int i = 0; i < 3; i++)
		member_close(&m[i]);
	unit_pump(&loop, 200);
	for (int k = 0; k < 2; k++)
		unlink(path[k]);
	unlink(tone);
	rmdir(dir);
}

static void test_bad_calls(void **state)
{
	(void)state;
	struct pbx_mix *x = NULL;
	struct pbx_mix_cfg bad = {.rate = 11025};
	assert_int_equal(pbx_mix_alloc(&x, &bad, NULL, &mix_events, NULL), EINVAL);
	assert_null(x);
	struct room room = {0};
	x = mixer(&room, 0);
	assert_int_equal(pbx_mix_record(x, ""), EINVAL);
	assert_int_equal(pbx_mix_play(x, "/nonexistent/file.wav"), ENOENT);
	pbx_mix_record_stop(x); /* nothing recording: nothing happens */
	pbx_mix_play_stop(x);
	pbx_mix_free(x);
	unit_pump(&loop, 20);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_mix_minus_self, setup, teardown),
	cmocka_unit_test_setup_teardown(test_holding_member_is_not_mixed, setup, teardown),
	cmocka_unit_test_setup_teardown(test_loudest_talkers, setup, teardown),
	cmocka_unit_test_setup_teardown(test_listeners_share_the_mix, setup, teardown),
	cmocka_unit_test_setup_teardown(test_record_twice_and_play, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_calls, setup, teardown),
};

UNIT_GROUP(mixer, tests, NULL, NULL);
