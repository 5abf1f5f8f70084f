/**
 * @file test_media_frames.c  The media engine's frame path on loopback: transcoding, recording
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As test_media.c: the engine runs with its own config, the test drives
 * the signalling loop, and the phones are UDP sockets. Each phone encodes
 * and decodes with the registered codecs, so what a leg hears is measured
 * as a tone (Goertzel share and level), through:
 *
 *  - Opus <-> PCMU and G.722 <-> PCMA: decoded, resampled and encoded per
 *    packet, both ways; a lost packet on the Opus leg is concealed, so the
 *    far leg still gets a packet for that 20 ms;
 *  - a recording of what a leg receives (jitter buffer, decoder) into a
 *    WAV file, ended by a key, by its length, and by silence;
 *  - a monitor of a bridged pair: both tones in the mixed file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/codec.h"
#include "pbx/frame.h"
#include "tone_check.h"
#include "media_loop.h"
#include "media_phone.h"
#include "unit.h"

static uv_loop_t loop;
static struct pbx_media_cfg cfg;

struct rec {
	int play_done;
	int record_done, why, err;
	unsigned ms;
	int monitor_done, monitor_err;
};

static void on_record_done(void *arg, int why, int err, unsigned ms)
{
	struct rec *r = arg;
	r->record_done++;
	r->why = why;
	r->err = err;
	r->ms = ms;
}

static void on_monitor_done(void *arg, int err)
{
	struct rec *r = arg;
	r->monitor_done++;
	r->monitor_err = err;
}

static void on_play_done(void *arg, int err)
{
	(void)err;
	((struct rec *)arg)->play_done++;
}

static const struct pbx_rtp_events events = {
	.play_done = on_play_done, .record_done = on_record_done, .monitor_done = on_monitor_done};

static void pump(int ms)
{
	unit_pump(&loop, ms);
}

static int setup(void **state)
{
	(void)state;
	int base = 30000 + (int)(getpid() % 90) * 100;
	return unit_media_start(&loop, &cfg, base, base + 99, 0);
}

static int teardown(void **state)
{
	(void)state;
	return unit_media_stop(&loop);
}

static void params(struct pbx_rtp *r, const struct phone *p)
{
	struct pbx_rtp_params x;
	memset(&x, 0, sizeof x);
	memcpy(&x.remote, &p->addr, sizeof p->addr);
	x.codec = p->codec;
	x.pt = p->pt;
	x.dir = PBX_DIR_SENDRECV;
	x.ptime = 20;
	assert_int_equal(pbx_rtp_set_params(r, &x), 0);
}

static struct pbx_rtp *leg(struct pbx_rtp *near, struct rec *rec, const struct phone *p)
{
	struct pbx_rtp *r = NULL;
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(pbx_rtp_alloc(&r, (struct sockaddr *)&lo, near, &events, rec), 0);
	params(r, p);
	return r;
}

/* ---- transcoding ----------------------------------------------------------------------------- */

static void transcode_pair(const char *ca, uint8_t pta, const char *cb, uint8_t ptb, double fa,
			   double fb)
{
	struct rec ra = {0}, rb = {0};
	struct phone a, b;
	phone_open(&a, ca, pta);
	phone_open(&b, cb, ptb);
	struct pbx_rtp *r1 = leg(NULL, &ra, &a), *r2 = leg(r1, &rb, &b);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(30);

	/* One second each way at the same time, a packet of A's lost in the middle. */
	enum { SECONDS = 1, MAXS = 48000 * 2 };
	static int16_t at_a[MAXS], at_b[MAXS];
	size_t na = 0, nb = 0;
	int pa = 0, pb = 0, bad = 0;
	uint64_t next = unit_now_ms();
	for (int k = 0; k < 50 * SECONDS; k++) {
		phone_send(&a, pbx_rtp_port(r1), fa, k == 25);
		phone_send(&b, pbx_rtp_port(r2), fb, false);
		next += 20;
		unit_pump_until(&loop, next);
		nb += phone_drain(&b, at_b + nb, MAXS - nb, &pb, &bad);
		na += phone_drain(&a, at_a + na, MAXS - na, &pa, &bad);
	}
	pump(60);
	nb += phone_drain(&b, at_b + nb, MAXS - nb, &pb, &bad);
	na += phone_drain(&a, at_a + na, MAXS - na, &pa, &bad);
	assert_int_equal(bad, 0);
	/* Every packet of A made one at B, the lost one too (concealed). */
	assert_true(pb >= 48);
	assert_true(pa >= 47);
	print_message("packets at A %d, at B %d; samples %zu, %zu\n", pa, pb, na, nb);
	/* Skip the first 100 ms (filters and codecs settle), then measure. */
	size_t skip_b = b.codec->rate / 10, skip_a = a.codec->rate / 10;
	assert_true(nb > 3 * skip_b && na > 3 * skip_a);
	double sb = tone_share(at_b + skip_b, nb - skip_b, fa, b.codec->rate);
	double sa = tone_share(at_a + skip_a, na - skip_a, fb, a.codec->rate);
	double lb = rms(at_b + skip_b, nb - skip_b), la = rms(at_a + skip_a, na - skip_a);
	print_message("%s->%s: %.0f Hz share %.2f rms %.0f; %s->%s: %.0f Hz share %.2f rms %.0f\n",
		      ca, cb, fa, sb, lb, cb, ca, fb, sa, la);
	assert_true(sb > 0.8);
	assert_true(sa > 0.8);
	/* 8000 peak sine: rms 5657; codecs and resampling keep it within 3 dB. */
	assert_true(lb > 4000 && lb < 8000);
	assert_true(la > 4000 && la < 8000);

	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	pump(20);
	phone_close(&a);
	phone_close(&b);
}

static void test_opus_pcmu(void **state)
{
	(void)state;
	transcode_pair("opus", 111, "PCMU", 0, 1000, 1400);
}

static void test_g722_pcma(void **state)
{
	(void)state;
	transcode_pair("G722", 9, "PCMA", 8, 700, 1900);
}

/* ---- recording ------------------------------------------------------------------------------- */

/* The WAV at @p path: its rate and samples (malloc'd). */
static int16_t *read_wav(const char *path, unsigned *rate, size_t *n)
{
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	assert_non_null(sf);
	assert_int_equal(info.channels, 1);
	int16_t *x = malloc((size_t)info.frames * sizeof *x + 2);
	assert_non_null(x);
	*n = (size_t)sf_read_short(sf, x, info.frames);
	*rate = (unsigned)info.samplerate;
	sf_close(sf);
	return x;
}

static void wait_for(const int *flag, int ms)
{
	for (int i = 0; i < ms && !*flag; i++)
		pump(1);
	assert_true(*flag);
}

static void test_record_leg(void **state)
{
	(void)state;
	char path[] = "/tmp/pbx-rec-XXXXXX";
	assert_non_null(mkdtemp(path));
	char file[64];
	snprintf(file, sizeof file, "%s/leg.wav", path);
	struct rec ra = {0};
	struct phone a;
	phone_open(&a, "G722", 9);
	struct pbx_rtp *r = leg(NULL, &ra, &a);
	struct pbx_rec_opts o = {.max_ms = 1000};
	assert_int_equal(pbx_rtp_record(r, file, &o), 0);
	assert_true(pbx_rtp_has_consumers(r));
	pump(20);
	uint64_t next = unit_now_ms();
	for (int k = 0; k < 80 && !ra.record_done; k++) {
		phone_send(&a, pbx_rtp_port(r), 5000, false); /* wideband: only G.722 carries it */
		next += 20;
		unit_pump_until(&loop, next);
	}
	wait_for(&ra.record_done, 2000);
	assert_int_equal(ra.why, PBX_REC_MAXLEN);
	assert_int_equal(ra.err, 0);
	assert_int_equal(ra.ms, 1000);
	assert_false(pbx_rtp_has_consumers(r));
	unsigned rate;
	size_t n;
	int16_t *x = read_wav(file, &rate, &n);
	assert_int_equal(rate, 16000);
	assert_int_equal(n, 16000);
	/* The jitter buffer fills first, and a loaded machine may delay a
	 * packet past its turn (concealed): most 100 ms blocks of the second
	 * half carry the tone at its level. */
	int good = 0;
	for (size_t b = n / 2; b + 1600 <= n; b += 1600) {
		double share = tone_share(x + b, 1600, 5000, 16000), level = rms(x + b, 1600);
		print_message("recorded 5 kHz at %zu ms: share %.2f rms %.0f\n", b / 16, share,
			      level);
		good += share > 0.8 && level > 4000;
	}
	assert_true(good >= 3);
	free(x);
	unlink(file);

	/* A terminator key ends the next one; it is kept. */
	ra.record_done = 0;
	o = (struct pbx_rec_opts){.terminators = "#"};
	assert_int_equal(pbx_rtp_record(r, file, &o), 0);
	pump(100);
	/* Silence ends one asked to stop on silence: nothing is sent. */
	pbx_rtp_record_stop(r, false);
	wait_for(&ra.record_done, 2000);
	assert_int_equal(ra.why, PBX_REC_STOPPED);
	assert_int_not_equal(access(file, F_OK), 0); /* not kept: removed */
	ra.record_done = 0;
	o = (struct pbx_rec_opts){.silence_ms = 300};
	assert_int_equal(pbx_rtp_record(r, file, &o), 0);
	wait_for(&ra.record_done, 2000);
	assert_int_equal(ra.why, PBX_REC_SILENCE);
	assert_int_equal(access(file, F_OK), 0);
	unlink(file);

	/* A folder that does not exist: an error, told once. */
	ra.record_done = 0;
	assert_int_equal(pbx_rtp_record(r, "/nonexistent-dir/x.wav", NULL), 0);
	pump(50);
	pbx_rtp_record_stop(r, true);
	wait_for(&ra.record_done, 2000);
	assert_int_equal(ra.why, PBX_REC_ERROR);
	assert_int_not_equal(ra.err, 0);

	pbx_rtp_free(r);
	pump(20);
	phone_close(&a);
	rmdir(path);
}

static void test_monitor_pair(void **state)
{
	(void)state;
	char dir[] = "/tmp/pbx-mon-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char mixed[64], rx[64], tx[64];
	snprintf(mixed, sizeof mixed, "%s/mixed.wav", dir);
	snprintf(rx, sizeof rx, "%s/rx.wav", dir);
	snprintf(tx, sizeof tx, "%s/tx.wav", dir);
	struct rec ra = {0}, rb = {0};
	struct phone a, b;
	phone_open(&a, "PCMU", 0);
	phone_open(&b, "opus", 111);
	struct pbx_rtp *r1 = leg(NULL, &ra, &a), *r2 = leg(r1, &rb, &b);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	assert_int_equal(pbx_rtp_monitor(r1, mixed, rx, tx), 0);
	assert_true(pbx_rtp_has_consumers(r1));
	assert_false(pbx_rtp_has_consumers(r2));
	pump(20);
	uint64_t next = unit_now_ms();
	int pa = 0, bad = 0;
	static int16_t sink[96000];
	for (int k = 0; k < 50; k++) {
		phone_send(&a, pbx_rtp_port(r1), 1000, false);
		phone_send(&b, pbx_rtp_port(r2), 1400, false);
		next += 20;
		unit_pump_until(&loop, next);
		phone_drain(&a, sink, 96000, &pa, &bad);
		phone_drain(&b, sink, 96000, &pa, &bad);
	}
	pbx_rtp_monitor_stop(r1);
	assert_false(pbx_rtp_has_consumers(r1));
	wait_for(&ra.monitor_done, 2000);
	assert_int_equal(ra.monitor_err, 0);
	unsigned rate;
	size_t n;
	int16_t *m = read_wav(mixed, &rate, &n);
	assert_int_equal(rate, 8000);
	assert_true(n > 6000);
	double s1 = tone_share(m + n / 2, n / 2, 1000, 8000),
	       s2 = tone_share(m + n / 2, n / 2, 1400, 8000);
	print_message("mixed: 1000 Hz %.2f, 1400 Hz %.2f\n", s1, s2);
	assert_true(s1 > 0.3 && s2 > 0.3);
	free(m);
	m = read_wav(rx, &rate, &n);
	assert_true(tone_share(m + n / 2, n / 2, 1000, 8000) > 0.7);
	free(m);
	m = read_wav(tx, &rate, &n);
	assert_true(tone_share(m + n / 2, n / 2, 1400, 8000) > 0.7);
	free(m);
	unlink(mixed);
	unlink(rx);
	unlink(tx);
	rmdir(dir);
	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	pump(20);
	phone_close(&a);
	phone_close(&b);
}

/* ---- a bridge's mode follows its legs' codecs and consumers ----------------------------------- */

static void b_hangup(struct pbx_chan *ch, int cause)
{
	(void)ch;
	(void)cause;
}

static const struct pbx_chan_tech tech = {.name = "FRT", .hangup = b_hangup};

static void test_bridge_modes(void **state)
{
	(void)state;
	char dir[] = "/tmp/pbx-brm-XXXXXX", file[64];
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/m.wav", dir);
	struct rec ra = {0}, rb = {0};
	struct phone a, b, b2;
	phone_open(&a, "PCMU", 0);
	phone_open(&b, "PCMU", 0);
	phone_open(&b2, "G722", 9);
	struct pbx_chan *x, *y;
	assert_int_equal(pbx_chan_alloc(&x, &tech, "x", false), 0);
	assert_int_equal(pbx_chan_alloc(&y, &tech, "y", true), 0);
	x->rtp = leg(NULL, &ra, &a);
	y->rtp = leg(x->rtp, &rb, &b);
	struct pbx_bridge *br;
	assert_int_equal(pbx_bridge_alloc(&br), 0);
	assert_int_equal(pbx_bridge_join(br, x), 0);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_IDLE);
	assert_int_equal(pbx_bridge_join(br, y), 0);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_RELAY);
	/* A re-INVITE moves one leg to G.722: the bridge transcodes. */
	params(y->rtp, &b2);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_TRANSCODE);
	assert_string_equal(pbx_bridge_mode_name(pbx_bridge_mode(br)), "transcode");
	/* A recorder attaches: frames; it detaches: back. */
	assert_int_equal(pbx_rtp_monitor(y->rtp, file, NULL, NULL), 0);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_FRAMES);
	assert_string_equal(pbx_bridge_mode_name(pbx_bridge_mode(br)), "frames");
	pump(60);
	pbx_rtp_monitor_stop(y->rtp);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_TRANSCODE);
	wait_for(&rb.monitor_done, 2000);
	params(y->rtp, &b);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_RELAY);
	/* The last but one member leaving: idle. */
	pbx_bridge_leave(y);
	assert_int_equal(pbx_bridge_mode(br), PBX_BRIDGE_IDLE);
	pbx_bridge_leave(x);
	pbx_bridge_unref(br);
	pbx_rtp_free(x->rtp);
	pbx_rtp_free(y->rtp);
	x->rtp = y->rtp = NULL;
	pbx_chan_hangup(x, 16);
	pbx_chan_hangup(y, 16);
	pbx_chan_unref(x);
	pbx_chan_unref(y);
	pump(20);
	unlink(file);
	rmdir(dir);
	phone_close(&a);
	phone_close(&b);
	phone_close(&b2);
}

/* The engine stops with a recording and a monitor running: both files are
 * finished and kept (the worker waits for its recorders), nothing leaks. */
static void test_stop_while_recording(void **state)
{
	(void)state;
	char dir[] = "/tmp/pbx-stop-XXXXXX", rec[64], mon[64];
	assert_non_null(mkdtemp(dir));
	snprintf(rec, sizeof rec, "%s/rec.wav", dir);
	snprintf(mon, sizeof mon, "%s/mon.wav", dir);
	struct rec ra = {0}, rb = {0};
	struct phone a, b;
	phone_open(&a, "PCMU", 0);
	phone_open(&b, "G722", 9);
	struct pbx_rtp *r1 = leg(NULL, &ra, &a), *r2 = leg(r1, &rb, &b);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	assert_int_equal(pbx_rtp_record(r1, rec, NULL), 0);
	assert_int_equal(pbx_rtp_monitor(r2, mon, NULL, NULL), 0);
	for (int k = 0; k < 15; k++) {
		phone_send(&a, pbx_rtp_port(r1), 1000, false);
		phone_send(&b, pbx_rtp_port(r2), 1400, false);
		pump(20);
	}
	pbx_media_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	unsigned rate;
	size_t n;
	int16_t *x = read_wav(rec, &rate, &n);
	assert_int_equal(rate, 8000);
	assert_true(n >= 8000 / 10);
	free(x);
	x = read_wav(mon, &rate, &n);
	assert_int_equal(rate, 16000);
	assert_true(n >= 16000 / 10);
	free(x);
	unlink(rec);
	unlink(mon);
	rmdir(dir);
	phone_close(&a);
	phone_close(&b);
	/* The teardown stops an engine already stopped: that must be harmless. */
}

/* An Opus leg (48 kHz stream) with telephone-event/8000: the event's
 * duration counts 8 kHz units, 160 a packet, while its timestamp and the
 * audio after it stay on the stream's 48 kHz clock. */
static void test_dtmf_on_opus(void **state)
{
	(void)state;
	struct rec ra = {0};
	struct phone a;
	phone_open(&a, "opus", 111);
	struct pbx_rtp *r = leg(NULL, &ra, &a);
	struct pbx_rtp_params x = *pbx_rtp_get_params(r);
	x.dtmf_pt = 101;
	x.dtmf_rate = 8000;
	assert_int_equal(pbx_rtp_set_params(r, &x), 0);
	pump(20);
	assert_int_equal(pbx_rtp_send_dtmf(r, '5', 100), 0);
	uint8_t pkt[1500];
	int nev = 0, ends = 0;
	unsigned last_dur = 0;
	uint32_t ev_ts = 0;
	uint64_t end = unit_now_ms() + 1000;
	while (unit_now_ms() < end && ends < 3) {
		pump(5);
		ssize_t n;
		while ((n = recv(a.fd, pkt, sizeof pkt, MSG_DONTWAIT)) >= 16) {
			if ((pkt[1] & 0x7f) != 101)
				continue;
			unsigned dur = (unsigned)pkt[14] << 8 | pkt[15];
			uint32_t ts = (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 |
				      (uint32_t)pkt[6] << 8 | pkt[7];
			if (!nev++)
				ev_ts = ts;
			assert_int_equal(ts, ev_ts);
			assert_int_equal(pkt[12], 5);
			assert_true(dur >= last_dur && dur - last_dur <= 160);
			last_dur = dur;
			ends += !!(pkt[13] & 0x80);
		}
	}
	assert_int_equal(ends, 3);
	assert_int_equal(last_dur, 800); /* 100 ms at 8 kHz */
	assert_true(nev >= 5 && nev <= 8);
	pbx_rtp_free(r);
	pump(20);
	phone_close(&a);
}

/* A prompt recorded at 16 kHz reaches a G.722 phone with its full band: a
 * 6 kHz tone, which no 8 kHz path carries, is what the phone decodes. */
static void test_wideband_playback(void **state)
{
	(void)state;
	char path[] = "/tmp/pbx-wb-XXXXXX.wav";
	int fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	close(fd);
	SF_INFO info = {
		.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	assert_non_null(sf);
	static int16_t tone[16000 * 6 / 10];
	for (size_t i = 0; i < sizeof tone / sizeof *tone; i++)
		tone[i] = (int16_t)(8000 * sin(2 * M_PI * 6000 * (double)i / 16000));
	assert_int_equal(sf_write_short(sf, tone, sizeof tone / sizeof *tone),
			 sizeof tone / sizeof *tone);
	sf_close(sf);

	struct rec ra = {0};
	struct phone a;
	phone_open(&a, "G722", 9);
	struct pbx_rtp *r = leg(NULL, &ra, &a);
	pump(20);
	assert_int_equal(pbx_rtp_play(r, path), 0);
	static int16_t got[16000 * 2];
	size_t n = 0;
	int packets = 0, bad = 0;
	uint64_t end = unit_now_ms() + 2000;
	while (unit_now_ms() < end && !ra.play_done) {
		pump(5);
		n += phone_drain(&a, got + n, sizeof got / sizeof *got - n, &packets, &bad);
	}
	pump(40);
	n += phone_drain(&a, got + n, sizeof got / sizeof *got - n, &packets, &bad);
	assert_int_equal(ra.play_done, 1);
	assert_true(packets >= 28 && n >= 16000 / 2);
	double share = tone_share(got + 1600, n - 3200, 6000, 16000);
	print_message("G.722 playback of a 16 kHz file: 6 kHz share %.2f, rms %.0f\n", share,
		      rms(got + 1600, n - 3200));
	assert_true(share > 0.8);
	pbx_rtp_free(r);
	pump(20);
	phone_close(&a);
	unlink(path);
}

/* A key relayed from an Opus leg that agreed on telephone-event/48000 to a
 * G.711 leg on /8000: its durations arrive in 8 kHz units. */
static void test_dtmf_relay_between_clocks(void **state)
{
	(void)state;
	struct rec ra = {0}, rb = {0};
	struct phone a, b;
	phone_open(&a, "opus", 111);
	phone_open(&b, "PCMU", 0);
	struct pbx_rtp *r1 = leg(NULL, &ra, &a), *r2 = leg(r1, &rb, &b);
	struct pbx_rtp_params x = *pbx_rtp_get_params(r1);
	x.dtmf_pt = 101;
	x.dtmf_rate = 48000;
	assert_int_equal(pbx_rtp_set_params(r1, &x), 0);
	x = *pbx_rtp_get_params(r2);
	x.dtmf_pt = 101;
	x.dtmf_rate = 8000;
	assert_int_equal(pbx_rtp_set_params(r2, &x), 0);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(30);
	struct sockaddr_in to = a.addr;
	to.sin_port = htons((uint16_t)pbx_rtp_port(r1));
	for (int k = 1; k <= 7; k++) {
		unsigned dur = k < 5 ? 960u * (unsigned)k : 4800; /* 20 ms steps, 100 ms, 3 ends */
		uint8_t p[16] = {0x80,
				 101,
				 0,
				 (uint8_t)k,
				 0,
				 1,
				 0,
				 0,
				 0x12,
				 0x34,
				 0x56,
				 0x78,
				 7,
				 (uint8_t)(k >= 5 ? 0x8a : 0x0a),
				 (uint8_t)(dur >> 8),
				 (uint8_t)dur};
		assert_int_equal(sendto(a.fd, p, sizeof p, 0, (struct sockaddr *)&to, sizeof to),
				 (ssize_t)sizeof p);
		pump(20);
	}
	pump(40);
	uint8_t pkt[1500];
	ssize_t n;
	unsigned durs[8], nd = 0;
	while ((n = recv(b.fd, pkt, sizeof pkt, MSG_DONTWAIT)) >= 16 && nd < 8)
		if ((pkt[1] & 0x7f) == 101)
			durs[nd++] = (unsigned)pkt[14] << 8 | pkt[15];
	assert_int_equal(nd, 7);
	for (unsigned i = 0; i < nd; i++)
		assert_int_equal(durs[i], i < 4 ? 160 * (i + 1) : 800);
	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	pump(20);
	phone_close(&a);
	phone_close(&b);
}

/* A G.711 phone at ptime 30 transcoded to G.722: every 30 ms comes out as
 * 20 ms packets, none of it dropped; one at ptime 10 is not silenced. */
static void test_transcode_other_ptimes(void **state)
{
	(void)state;
	static const unsigned ptimes[] = {30, 10};
	for (int t = 0; t < 2; t++) {
		struct rec ra = {0}, rb = {0};
		struct phone a, b;
		phone_open(&a, "PCMU", 0);
		phone_open(&b, "G722", 9);
		struct pbx_rtp *r1 = leg(NULL, &ra, &a), *r2 = leg(r1, &rb, &b);
		assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
		pump(30);
		static int16_t at_b[32000];
		size_t nb = 0;
		int pb = 0, bad = 0;
		unsigned sent_ms = 0;
		uint64_t next = unit_now_ms();
		while (sent_ms < 900) {
			phone_send_ms(&a, pbx_rtp_port(r1), 1000, false, ptimes[t]);
			sent_ms += ptimes[t];
			next += ptimes[t];
			unit_pump_until(&loop, next);
			nb += phone_drain(&b, at_b + nb, 32000 - nb, &pb, &bad);
		}
		pump(60);
		nb += phone_drain(&b, at_b + nb, 32000 - nb, &pb, &bad);
		print_message("ptime %u: %u ms sent, %d packets and %zu ms came out\n", ptimes[t],
			      sent_ms, pb, nb / 16);
		assert_int_equal(pb, (int)sent_ms / 20);
		assert_true(tone_share(at_b + 1600, nb - 1600, 1000, 16000) > 0.8);
		pbx_rtp_free(r1);
		pbx_rtp_free(r2);
		pump(20);
		phone_close(&a);
		phone_close(&b);
	}
}

/* MixMonitor twice: the first one's end does not count as the second's, which
 * StopMixMonitor still stops. */
static void test_monitor_replaced(void **state)
{
	(void)state;
	char dir[] = "/tmp/pbx-mrep-XXXXXX", f1[64], f2[64];
	assert_non_null(mkdtemp(dir));
	snprintf(f1, sizeof f1, "%s/1.wav", dir);
	snprintf(f2, sizeof f2, "%s/2.wav", dir);
	struct rec ra = {0};
	struct phone a;
	phone_open(&a, "PCMU", 0);
	struct pbx_rtp *r = leg(NULL, &ra, &a);
	assert_int_equal(pbx_rtp_monitor(r, f1, NULL, NULL), 0);
	pump(50);
	assert_int_equal(pbx_rtp_monitor(r, f2, NULL, NULL), 0);
	/* The first one ends and its file is done; its end is nobody's news. */
	for (int i = 0; i < 2000 && access(f1, F_OK); i++)
		pump(1);
	assert_int_equal(access(f1, F_OK), 0);
	pump(50);
	assert_int_equal(ra.monitor_done, 0);
	assert_true(pbx_rtp_has_consumers(r));
	pbx_rtp_monitor_stop(r);
	assert_false(pbx_rtp_has_consumers(r));
	wait_for(&ra.monitor_done, 2000);
	assert_int_equal(access(f2, F_OK), 0);
	unlink(f1);
	unlink(f2);
	rmdir(dir);
	pbx_rtp_free(r);
	pump(20);
	phone_close(&a);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_transcode_other_ptimes, setup, teardown),
	cmocka_unit_test_setup_teardown(test_monitor_replaced, setup, teardown),
	cmocka_unit_test_setup_teardown(test_dtmf_relay_between_clocks, setup, teardown),
	cmocka_unit_test_setup_teardown(test_wideband_playback, setup, teardown),
	cmocka_unit_test_setup_teardown(test_dtmf_on_opus, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stop_while_recording, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bridge_modes, setup, teardown),
	cmocka_unit_test_setup_teardown(test_opus_pcmu, setup, teardown),
	cmocka_unit_test_setup_teardown(test_g722_pcma, setup, teardown),
	cmocka_unit_test_setup_teardown(test_record_leg, setup, teardown),
	cmocka_unit_test_setup_teardown(test_monitor_pair, setup, teardown),
};

UNIT_GROUP(media_frames, tests, NULL, NULL);
