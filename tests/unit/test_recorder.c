/**
 * @file test_recorder.c  WAV recorder: the tone written is the tone read back, atomic rename, errors
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Runs a libuv loop of its own; the writes happen in libuv's thread pool
 * as they do on a media worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pbx/recorder.h"
#include "tone_check.h"
#include "unit.h"

struct outcome {
	int calls, err;
	int write_err; /* the first error a write returned: a failed job shows there early */
	double seconds;
};

static void on_done(int err, const char *path, double seconds, void *arg)
{
	struct outcome *o = arg;
	(void)path;
	o->calls++;
	o->err = err;
	o->seconds = seconds;
}

static char dir[] = "/tmp/pbx-rec-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

/* Record @p seconds of a @p freq tone at @p rate into @p path; returns the outcome. */
static struct outcome record(const char *path, unsigned rate, double freq, int frames, bool keep)
{
	uv_loop_t loop;
	struct pbx_recorder *r;
	struct outcome o = {0};
	struct pbx_tone t;
	struct pbx_tone_spec spec = {.freq = {(unsigned)freq}, .amplitude = 8000};
	struct pbx_frame f;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pbx_recorder_open(&r, &loop, path, rate, on_done, &o), 0);
	assert_int_equal(pbx_tone_init(&t, &spec, rate), 0);
	for (int k = 0; k < frames; k++) {
		pbx_tone_next(&t, &f, 20);
		int err = pbx_recorder_write(r, &f);
		if (err && !o.write_err)
			o.write_err = err;
		uv_run(&loop, UV_RUN_NOWAIT); /* let jobs come back meanwhile, as a worker would */
	}
	pbx_recorder_close(r, keep);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	return o;
}

static void test_tone_round_trip(void **state)
{
	(void)state;
	char path[128], part[140];
	snprintf(path, sizeof path, "%s/msg.wav", dir);
	snprintf(part, sizeof part, "%s.part", path);
	struct outcome o = record(path, 16000, 1000, 175, true); /* 3.5 s: several blocks */
	assert_int_equal(o.write_err, 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, 0);
	assert_true(fabs(o.seconds - 3.5) < 1e-9);
	assert_int_equal(access(part, F_OK), -1); /* renamed, nothing left behind */
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	assert_non_null(sf);
	assert_int_equal(info.samplerate, 16000);
	assert_int_equal(info.channels, 1);
	assert_int_equal(info.frames, 56000);
	int16_t *x = calloc(56000, sizeof *x);
	assert_non_null(x);
	assert_int_equal(sf_read_short(sf, x, 56000), 56000);
	sf_close(sf);
	/* Measured: a 1 kHz tone at the level sent, over the whole file. */
	double share = tone_share(x, 56000, 1000, 16000), level = rms(x, 56000);
	assert_true(share > 0.99);
	assert_true(fabs(level - 8000 / M_SQRT2) < 50);
	free(x);
}

static void test_discarded(void **state)
{
	(void)state;
	char path[128], part[140];
	snprintf(path, sizeof path, "%s/short.wav", dir);
	snprintf(part, sizeof part, "%s.part", path);
	struct outcome o = record(path, 8000, 440, 60, false);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(part, F_OK), -1);
}

/* A recording cut at close (it ended on silence): the file holds only what was kept. */
static void test_truncated(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof path, "%s/cut.wav", dir);
	uv_loop_t loop;
	struct pbx_recorder *r;
	struct outcome o = {0};
	struct pbx_tone t;
	struct pbx_tone_spec spec = {.freq = {700}, .amplitude = 8000};
	struct pbx_frame f;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pbx_recorder_open(&r, &loop, path, 8000, on_done, &o), 0);
	assert_int_equal(pbx_tone_init(&t, &spec, 8000), 0);
	for (int k = 0; k < 125; k++) { /* 2.5 s: the cut falls in a block already written */
		pbx_tone_next(&t, &f, 20);
		assert_int_equal(pbx_recorder_write(r, &f), 0);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	pbx_recorder_truncate(r, 9000);  /* 1.125 s */
	pbx_recorder_truncate(r, 90000); /* more than written: no effect */
	pbx_recorder_close(r, true);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(o.err, 0);
	assert_true(fabs(o.seconds - 1.125) < 1e-9);
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	assert_non_null(sf);
	assert_int_equal(info.frames, 9000);
	int16_t x[9000];
	assert_int_equal(sf_read_short(sf, x, 9000), 9000);
	sf_close(sf);
	assert_true(tone_share(x, 9000, 700, 8000) > 0.99);
}

static void test_errors(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof path, "%s/no/such/folder/x.wav", dir);
	struct outcome o = record(path, 8000, 440, 60, true);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, ENOENT);
	/* Once the failed job is back, the next write says why. */
	uv_loop_t l2;
	struct pbx_recorder *bad;
	struct outcome o2 = {0};
	struct pbx_tone t;
	struct pbx_tone_spec spec = {.freq = {440}, .amplitude = 8000};
	struct pbx_frame fr;
	assert_int_equal(uv_loop_init(&l2), 0);
	assert_int_equal(pbx_recorder_open(&bad, &l2, path, 8000, on_done, &o2), 0);
	assert_int_equal(pbx_tone_init(&t, &spec, 8000), 0);
	for (int k = 0; k < 50; k++) { /* one second: the first block's job starts */
		pbx_tone_next(&t, &fr, 20);
		assert_int_equal(pbx_recorder_write(bad, &fr), 0);
	}
	uv_run(&l2, UV_RUN_DEFAULT); /* until the job is back */
	pbx_tone_next(&t, &fr, 20);
	assert_int_equal(pbx_recorder_write(bad, &fr), ENOENT);
	pbx_recorder_close(bad, true);
	uv_run(&l2, UV_RUN_DEFAULT);
	assert_int_equal(o2.calls, 1);
	assert_int_equal(o2.err, ENOENT);
	assert_int_equal(uv_loop_close(&l2), 0);
	uv_loop_t loop;
	struct pbx_recorder *r;
	struct pbx_frame f;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pbx_recorder_open(&r, &loop, path, 11025, NULL, NULL), EINVAL);
	snprintf(path, sizeof path, "%s/rate.wav", dir);
	assert_int_equal(pbx_recorder_open(&r, &loop, path, 8000, NULL, NULL), 0);
	pbx_frame_init(&f, 16000, 20, 0);
	assert_int_equal(pbx_recorder_write(r, &f), EINVAL); /* not its rate */
	pbx_recorder_close(r, false);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The latency counters count every block and close, keep the longest, and reset. */
static void test_stats(void **state)
{
	(void)state;
	char path[128];
	struct pbx_recorder_stats st;
	snprintf(path, sizeof path, "%s/stats.wav", dir);
	pbx_recorder_reset_stats();
	struct outcome o = record(path, 8000, 440, 175, true); /* 3 full blocks and a half */
	assert_int_equal(o.err, 0);
	pbx_recorder_get_stats(&st);
	assert_int_equal(st.blocks, 4);
	assert_int_equal(st.closes, 1);
	assert_true(st.block_wait_max_us <= st.block_wait_us);
	assert_true(st.block_wait_max_us * 4 >= st.block_wait_us);
	assert_int_equal(st.close_max_us, st.close_us); /* one close: it is the longest */
	struct pbx_recorder_stats first = st;
	o = record(path, 8000, 440, 30, false); /* under a block, discarded: one write at close */
	assert_int_equal(o.err, 0);
	pbx_recorder_get_stats(&st);
	assert_int_equal(st.blocks, 5);
	assert_int_equal(st.closes, 2);
	assert_true(st.block_wait_max_us >= first.block_wait_max_us);
	assert_true(st.close_max_us >= first.close_max_us);
	assert_true(st.close_max_us <= st.close_us);
	assert_true(st.close_us >= first.close_us);
	pbx_recorder_reset_stats();
	pbx_recorder_get_stats(&st);
	assert_int_equal(st.blocks + st.block_wait_us + st.block_wait_max_us, 0);
	assert_int_equal(st.closes + st.close_us + st.close_max_us, 0);
}

/* Copy what is on disk of @p from to @p to: the file as a kill -9 would leave it. */
static void snapshot(const char *from, const char *to)
{
	static char buf[1 << 16];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(in >= 0 && out >= 0);
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* What a kill leaves (NAME.part, sizes never written) is mended and kept, or removed. */
static void test_recover(void **state)
{
	(void)state;
	char sub[128], live[160], part[160], path[160];
	snprintf(sub, sizeof sub, "%s/killed", dir);
	assert_int_equal(mkdir(sub, 0750), 0);
	/* A recording 1.5 s in, its header as libsndfile wrote it at open. */
	snprintf(live, sizeof live, "%s/live.wav", sub);
	SF_INFO info = {
		.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
	SNDFILE *sf = sf_open(live, SFM_WRITE, &info);
	assert_non_null(sf);
	int16_t *x = calloc(24000, sizeof *x);
	assert_non_null(x);
	for (int i = 0; i < 24000; i++)
		x[i] = (int16_t)(8000 * sin(2 * M_PI * 1000 * i / 16000.0));
	assert_int_equal(sf_write_short(sf, x, 24000), 24000);
	snprintf(part, sizeof part, "%s/call-1.wav.part", sub);
	snapshot(live, part);
	sf_close(sf);
	unlink(live);
	/* The name is taken already: the next one is used. */
	snprintf(path, sizeof path, "%s/call-1-interrupted.wav", sub);
	write_file(path, "someone else's");
	/* No header at all, and an empty file: nothing to keep. */
	snprintf(path, sizeof path, "%s/junk.wav.part", sub);
	write_file(path, "not a wav");
	snprintf(path, sizeof path, "%s/empty.part", sub);
	write_file(path, "");

	assert_int_equal(pbx_recorder_recover(sub), 3);
	assert_int_equal(access(part, F_OK), -1);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/junk.wav.part", sub);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/call-1-interrupted-2.wav", sub);
	SF_INFO got = {0};
	sf = sf_open(path, SFM_READ, &got);
	assert_non_null(sf);
	assert_int_equal(got.samplerate, 16000);
	/* Every sample written before the "kill" (libsndfile writes through at once). */
	assert_int_equal(got.frames, 24000);
	assert_int_equal(sf_read_short(sf, x, 24000), 24000);
	sf_close(sf);
	assert_true(tone_share(x, 24000, 1000, 16000) > 0.99);
	free(x);
	assert_int_equal(pbx_recorder_recover(sub), 0); /* nothing more */
	assert_int_equal(pbx_recorder_recover("/nonexistent-dir"), 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_tone_round_trip), cmocka_unit_test(test_discarded),
	cmocka_unit_test(test_truncated),       cmocka_unit_test(test_errors),
	cmocka_unit_test(test_stats),           cmocka_unit_test(test_recover),
};

UNIT_GROUP(recorder, tests, setup, teardown);
