/**
 * @file bench_rtp_relay.c  RTP relay, transcoding and call recording: CPU per packet, calls per core, memory per call
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/bench/bench_rtp_relay [SECONDS [WORKERS]]` (default 3 s per step,
 * 1 worker) starts the media engine in this process, bridges N pairs of
 * sessions on loopback and has a child process play 2N phones: every leg
 * sends a 20 ms packet every 20 ms, spread evenly over each 20 ms so the
 * load is smooth, and counts what comes back. What a phone sends is one
 * second of a tone in its leg's codec, encoded once before the step with
 * the engine's own coders and sent over and over (the phones decode and
 * encode nothing, so their CPU stays small). Steps:
 *
 *  - relay at 1000, 500 and 100 calls (both legs PCMU, 172-byte packets);
 *  - "transcode": 1000 calls PCMU on one leg, PCMA on the other (a byte
 *    table per packet, no decoder);
 *  - "transcode opus-pcmu": 50 calls, Opus (PT 111, 48 kHz clock) on one
 *    leg, PCMU on the other: every packet is decoded, resampled (48 <-> 8
 *    kHz) and encoded again, an Opus encode for each packet towards the
 *    Opus phone (about 90 us on the reference machine). Only 50 calls: a
 *    step that overloads the worker measures the overload, not the cost.
 *    Packets then wait seconds in the sockets' buffers and come out of
 *    cold caches, and the cost per packet triples (200 calls on one
 *    worker did so);
 *  - "monitor": 200 relayed PCMU calls, each with a call recording
 *    (pbx_rtp_monitor) on one leg into a mixed WAV file: both legs' packets
 *    go through a jitter buffer and a decoder, the two sides are mixed and
 *    handed to a recorder every 20 ms, and the recorders write one-second
 *    blocks in libuv's thread pool. The files go to a temporary folder
 *    that is removed afterwards; their length is checked against the time
 *    the calls were recorded.
 *
 * CPU is this process's (getrusage: the media workers and the thread pool's
 * writes; the signalling thread sleeps), over SECONDS after half a second
 * of warm-up, as a share of one core; per packet is that CPU time over the
 * packets sent out by the PBX. The kernel's work of delivering a datagram
 * on loopback is charged to the sender, so the PBX pays for its sendto's
 * delivery too, as it would on a real network card. The phones share the
 * machine: on two cores the figures include some contention.
 *
 * Figures besides each step's: calls one core could carry at the measured
 * cost per packet (bench_calls_per_core) for relayed calls (the 1000-call
 * step), transcoded Opus calls and recorded calls, and memory per call.
 *
 * Sends go out in one io_uring submission per worker turn (media_io.c);
 * BENCH_NO_BATCH=1 in the environment sends each at once with sendto, as
 * before, to compare on the same machine and moment.
 *
 * Memory per call: VmRSS growth over 1000 bridged, latched calls, divided
 * by 1000 (kernel socket buffers are not in it).
 *
 * On a busy machine the phones may not manage 100 packets/s per call, or
 * the PBX may get too little CPU to relay them all (the rest wait in its
 * sockets and are dropped at hangup); a "note:" line then gives what the
 * full rate would cost at the measured cost per packet. The commentary
 * splits the media worker's share of that cost into user time (the
 * engine's code, the codecs, libuv) and system time (recvfrom, sendto,
 * io_uring: most of a relay's cost, little of a transcoder's); what other
 * threads spent (the thread pool's writes) is shown apart. The engine is
 * started afresh for each step, so that split is the step's own.
 *
 * Runtime: about 6 * (SECONDS + 1) s, and the recordings' fsyncs; 25 s by
 * default.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "bench_util.h"
#include "pbx/config.h"
#include "pbx/log.h"

#define MAX_CALLS   1000
#define NSOCK       8  /* phone sockets per side; legs share them round robin */
#define TICKS       20 /* the 20 ms period in 1 ms ticks */
#define BATCH       256
#define CLIP_FRAMES 50  /* one second of tone per codec, sent over and over */
#define MAX_PAYLOAD 400 /* bytes of one 20 ms payload: Opus's max_frame */
#define MON_WAIT_S  5.0 /* for the recordings' files to be complete, at most */

struct result {
	uint64_t sent, received;
};

/* What a step bridges: each leg's codec and payload type; whether leg a is recorded. */
struct kind {
	const char *name; /* in the figures: "rtp NAME N calls" */
	const char *codec[2];
	uint8_t pt[2];
	bool monitor;
	const struct kind *base; /* the step it adds to, for the commentary; NULL: none */
};

static const struct kind RELAY = {"relay", {"PCMU", "PCMU"}, {0, 0}, false, NULL};
/* Just "transcode", as this step's figure has been named since before Opus. */
static const struct kind G711 = {"transcode", {"PCMU", "PCMA"}, {0, 8}, false, &RELAY};
static const struct kind OPUS = {"transcode opus-pcmu", {"opus", "PCMU"}, {111, 0}, false, &RELAY};
static const struct kind MONITOR = {"monitor", {"PCMU", "PCMU"}, {0, 0}, true, &RELAY};

/* What a step measured. */
struct measure {
	const struct kind *k;
	int calls;
	double cpu;        /* % of one core */
	double us;         /* CPU per packet the PBX sent */
	long rss_per_call; /* bytes */
};

/* One second of a tone in one codec, as the 20 ms payloads a phone sends in turn. */
struct clip {
	uint32_t ts_step; /* RTP clock per packet: 160 at 8000 Hz, 960 for Opus */
	uint16_t len[CLIP_FRAMES];
	uint8_t data[CLIP_FRAMES][MAX_PAYLOAD];
};

static uv_loop_t loop;
static struct pbx_rtp *rtp[2 * MAX_CALLS];

/* ---- the phones (child process) -------------------------------------------------------------- */

struct leg {
	int sock;
	struct sockaddr_in to; /* the PBX session's port */
	const struct clip *clip;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts, ssrc;
};

static void phones(struct leg *legs, int nlegs, const int *socks, double seconds, int out)
{
	static uint8_t pkt[BATCH][12 + MAX_PAYLOAD];
	struct mmsghdr m[NSOCK * 2][BATCH];
	struct iovec iov[NSOCK * 2][BATCH];
	int nb[NSOCK * 2];
	struct result res = {0, 0};
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double end = bench_now_s() + seconds;
	/* Bounded in count too: a clock that stalls cannot keep the phones going. */
	unsigned max_ticks = (unsigned)(seconds * 1000) + 1000;
	for (unsigned tick = 0; tick < max_ticks && bench_now_s() < end; tick++) {
		memset(nb, 0, sizeof nb);
		int np = 0;
		for (int i = (int)(tick % TICKS); i < nlegs && np < BATCH; i += TICKS) {
			struct leg *l = &legs[i];
			const struct clip *c = l->clip;
			int k = l->seq % CLIP_FRAMES;
			uint8_t *p = pkt[np++];
			p[0] = 0x80;
			p[1] = l->pt;
			p[2] = (uint8_t)(l->seq >> 8);
			p[3] = (uint8_t)l->seq;
			for (int j = 0; j < 4; j++) {
				p[4 + j] = (uint8_t)(l->ts >> (24 - 8 * j));
				p[8 + j] = (uint8_t)(l->ssrc >> (24 - 8 * j));
			}
			memcpy(p + 12, c->data[k], c->len[k]);
			l->seq++;
			l->ts += c->ts_step;
			int s = l->sock, b = nb[s]++;
			iov[s][b].iov_base = p;
			iov[s][b].iov_len = 12 + (size_t)c->len[k];
			memset(&m[s][b].msg_hdr, 0, sizeof m[s][b].msg_hdr);
			m[s][b].msg_hdr.msg_name = &l->to;
			m[s][b].msg_hdr.msg_namelen = sizeof l->to;
			m[s][b].msg_hdr.msg_iov = &iov[s][b];
			m[s][b].msg_hdr.msg_iovlen = 1;
		}
		for (int s = 0; s < NSOCK * 2; s++)
			res.sent += (uint64_t)bench_sendmmsg(socks[s], m[s], nb[s]);
		bench_drain(socks, NSOCK * 2, &res.received);
		bench_tick_wait(&next);
	}
	/* What is still in flight. */
	usleep(50000);
	bench_drain(socks, NSOCK * 2, &res.received);
	if (write(out, &res, sizeof res) != sizeof res)
		_exit(1);
	_exit(0);
}

/* Encode @p c's payloads: a 400 Hz tone, a whole number of periods per 20 ms, so it loops smoothly. */
static int clip_make(struct clip *c, const struct pbx_codec_desc *codec)
{
	struct pbx_coder *enc;
	int16_t pcm[PBX_FRAME_MAX_SAMPLES];
	size_t n = pbx_codec_samples(codec, PBX_FRAME_MS);
	int err;
	if (n > PBX_FRAME_MAX_SAMPLES || codec->max_frame > MAX_PAYLOAD)
		return EINVAL;
	if ((err = pbx_coder_alloc(&enc, codec, true)))
		return err;
	c->ts_step = codec->clock * PBX_FRAME_MS / 1000;
	for (int k = 0; k < CLIP_FRAMES && !err; k++) {
		for (size_t i = 0; i < n; i++)
			pcm[i] = (int16_t)(8000 * sin(2 * M_PI * 400 * (double)((size_t)k * n + i) /
						      codec->rate));
		int len = pbx_coder_encode(enc, pcm, n, c->data[k], sizeof c->data[k]);
		if (len <= 0)
			err = len < 0 ? -len : EIO;
		else
			c->len[k] = (uint16_t)len;
	}
	pbx_coder_free(enc);
	return err;
}

/* ---- call recording -------------------------------------------------------------------------- */

struct mon_count {
	int done, failed;
};

static void on_monitor_done(void *arg, int err)
{
	struct mon_count *mc = arg;
	mc->done++;
	if (err)
		mc->failed++;
}

static const struct pbx_rtp_events mon_events = {.monitor_done = on_monitor_done};
static struct mon_count mon;

static int mon_start(int calls, const char *dir)
{
	char path[256];
	int err;
	memset(&mon, 0, sizeof mon);
	for (int i = 0; i < calls; i++) {
		snprintf(path, sizeof path, "%s/call-%d.wav", dir, i);
		if ((err = pbx_rtp_monitor(rtp[2 * i], path, NULL, NULL))) {
			printf("FAILED: pbx_rtp_monitor at call %d: %s\n", i, strerror(err));
			return err;
		}
	}
	return 0;
}

/* Seconds of audio in the WAV at @p path; -1 if it cannot be read. */
static double wav_seconds(const char *path)
{
	SF_INFO info;
	memset(&info, 0, sizeof info);
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf)
		return -1;
	sf_close(sf);
	return info.samplerate > 0 ? (double)info.frames / info.samplerate : -1;
}

/*
 * Stop the recordings, wait (bounded) for their files, compare their length
 * with the @p wall seconds they ran, and remove the folder. The closes
 * fsync every file and the folder: that waits on the disk, not the CPU,
 * and falls after the measured window.
 */
static void mon_finish(int calls, const char *dir, double t_start)
{
	char path[300];
	for (int i = 0; i < calls; i++)
		pbx_rtp_monitor_stop(rtp[2 * i]);
	double t_stop = bench_now_s(), wall = t_stop - t_start, until = t_stop + MON_WAIT_S;
	for (int i = 0; i < MON_WAIT_S * 100 && mon.done < calls && bench_now_s() < until; i++)
		bench_pump(&loop, 10);
	double closing = bench_now_s() - t_stop;
	if (mon.done < calls)
		printf("warning: %d of %d recordings not complete after %.0f s\n", calls - mon.done,
		       calls, MON_WAIT_S);
	double sum = 0, least = 1e9;
	int nread = 0;
	for (int i = 0; i < calls; i++) {
		snprintf(path, sizeof path, "%s/call-%d.wav", dir, i);
		double sec = wav_seconds(path);
		if (sec < 0)
			continue;
		sum += sec;
		least = sec < least ? sec : least;
		nread++;
	}
	printf("    %d recordings complete in %.2f s after the stop, %d failed, %d read back: "
	       "%.2f s of audio each on average (shortest %.2f) for %.2f s recorded\n",
	       mon.done, closing, mon.failed, nread, nread ? sum / nread : 0.0, nread ? least : 0.0,
	       wall);
	/* Start-up costs a few frames; more missing means fewer than 50 ticks a second. */
	if (nread && sum / nread < wall - 0.2)
		printf("note: the recordings are %.0f ms shorter than the time recorded (worker "
		       "ticks late or lost?)\n",
		       (wall - sum / nread) * 1000);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	if (rmdir(dir))
		printf("warning: cannot remove %s: %s\n", dir, strerror(errno));
}

/* ---- one step -------------------------------------------------------------------------------- */

static int setup_calls(const struct kind *k, int calls, const struct sockaddr_in *phone_addr)
{
	struct sockaddr_in l = bench_lo(0);
	for (int i = 0; i < calls; i++) {
		struct pbx_rtp **a = &rtp[2 * i], **b = &rtp[2 * i + 1];
		int err;
		if ((err = pbx_rtp_alloc(a, (struct sockaddr *)&l, NULL,
					 k->monitor ? &mon_events : NULL, &mon)) ||
		    (err = pbx_rtp_alloc(b, (struct sockaddr *)&l, *a, NULL, NULL))) {
			printf("FAILED: pbx_rtp_alloc at call %d: %s\n", i, strerror(err));
			return err;
		}
		struct pbx_rtp_params p;
		memset(&p, 0, sizeof p);
		p.dtmf_pt = 101;
		p.dir = PBX_DIR_SENDRECV;
		p.ptime = 20;
		for (int side = 0; side < 2; side++) {
			p.codec = pbx_codec_find(k->codec[side]);
			p.pt = k->pt[side];
			memcpy(&p.remote, &phone_addr[side * NSOCK + i % NSOCK],
			       sizeof phone_addr[0]);
			if ((err = pbx_rtp_set_params(side ? *b : *a, &p))) {
				printf("FAILED: pbx_rtp_set_params: %s\n", strerror(err));
				return err;
			}
		}
		pbx_rtp_bridge(*a, *b);
	}
	return 0;
}

static void free_calls(int calls)
{
	for (int i = 0; i < 2 * calls; i++)
		pbx_rtp_free(rtp[i]);
	for (int i = 0; i < 200 && pbx__media_sessions(); i++)
		bench_pump(&loop, 5);
	bench_pump(&loop, 50); /* the close events give the ports back */
}

static uint64_t relayed(int calls, uint64_t *rx, uint64_t *dropped)
{
	uint64_t n = 0;
	*rx = *dropped = 0;
	for (int i = 0; i < 2 * calls; i++) {
		struct pbx_rtp_stats st;
		pbx_rtp_get_stats(rtp[i], &st);
		n += st.tx_packets;
		*rx += st.rx_packets;
		*dropped += st.rx_dropped;
	}
	return n;
}

/*
 * The commentary after a step's headline; @p wall the measured seconds,
 * @p wu and @p ws the media worker's user and system seconds in them.
 */
static void report(const struct measure *me, const struct result *res, double pkts, double wall,
		   double wu, double ws, double warm, bool first)
{
	int calls = me->calls;
	printf("    %.0f packets/s relayed (expected %d); phones sent %llu, got back %llu "
	       "(%.2f%% lost)\n",
	       pkts / wall, calls * 100, (unsigned long long)res->sent,
	       (unsigned long long)res->received,
	       res->sent ? 100.0 * (double)(res->sent - res->received) / (double)res->sent : 0.0);
	if (pkts) {
		/* The rest of the process's CPU: the thread pool's writes, the sleeping main thread. */
		double other = me->us - (wu + ws) * 1e6 / pkts;
		printf("    per packet: %.2f us in the media worker's code (user), %.2f us in the "
		       "kernel for it",
		       wu * 1e6 / pkts, ws * 1e6 / pkts);
		if (other > 0.05)
			printf(", %.2f us in other threads", other);
		printf("; per call: %.3f%% of one core\n", me->cpu / calls);
	}
	double offered = (double)res->sent / (warm + wall), got = pkts / wall;
	if (pkts && got < 0.95 * calls * 100)
		printf("note: %.0f packets/s relayed of %.0f/s the phones managed to send (%d/s "
		       "wanted; %s); the full %d/s at this cost would be %.0f%% of one core\n",
		       got, offered, calls * 100,
		       me->cpu > 90 ? "the worker was saturated: the cost per packet is the "
				      "overload's"
				    : "machine busy? see the load",
		       calls * 100, me->us * calls * 100 / 1e4);
	/* After the first step the heap reuses the memory earlier steps freed;
	 * what a kind of call adds over a relayed one still shows. */
	if (first || me->k->base)
		printf("    memory: %.1f KiB per call more in RSS%s\n",
		       (double)me->rss_per_call / 1024,
		       first ? "" : " (a lower bound: earlier steps' memory is reused)");
}

static int step(const struct kind *k, int calls, double seconds, bool first, struct measure *me)
{
	int socks[NSOCK * 2], fds[2], err;
	struct sockaddr_in addr[NSOCK * 2];
	static struct leg legs[2 * MAX_CALLS];
	static struct clip clips[2];
	char dir[] = "/tmp/pbx-bench-mon-XXXXXX";
	double t_mon = 0;
	memset(me, 0, sizeof *me);
	me->k = k;
	me->calls = calls;
	if ((err = bench_phone_socks(socks, addr, NSOCK * 2))) {
		printf("FAILED: phone socket: %s\n", strerror(err));
		return 1;
	}
	for (int side = 0; side < 2; side++) {
		const struct pbx_codec_desc *c = pbx_codec_find(k->codec[side]);
		if (!c || (err = clip_make(&clips[side], c))) {
			printf("FAILED: cannot encode %s: %s\n", k->codec[side],
			       c ? strerror(err) : "no such codec");
			return 1;
		}
	}
	memset(legs, 0, sizeof legs); /* touched before the baseline, not counted per call */
	long rss0 = bench_rss_kib();
	if (setup_calls(k, calls, addr))
		return 1;
	if (k->monitor) {
		if (!mkdtemp(dir)) {
			printf("FAILED: mkdtemp %s: %s\n", dir, strerror(errno));
			return 1;
		}
		t_mon = bench_now_s();
		if (mon_start(calls, dir)) {
			mon_finish(calls, dir, t_mon); /* what did start, and the folder */
			return 1;
		}
	}
	bench_pump(&loop, 100);
	/*
	 * The workers (named by now), taken before a monitor's first full
	 * block, a second after its start, starts libuv's thread pool, whose
	 * threads take the worker's name.
	 */
	struct bench_tids workers;
	bench_threads_tids("pbx-media", &workers);
	for (int i = 0; i < 2 * calls; i++) {
		struct leg *l = &legs[i];
		int side = i & 1;
		l->sock = side * NSOCK + (i / 2) % NSOCK;
		l->to = bench_lo(pbx_rtp_port(rtp[i]));
		l->clip = &clips[side];
		l->pt = k->pt[side];
		l->ssrc = (side ? 0x20000000u : 0x10000000u) + (uint32_t)(i / 2);
		l->seq = 1;
		l->ts = clips[side].ts_step;
	}
	if (pipe(fds)) {
		printf("FAILED: pipe: %s\n", strerror(errno));
		return 1;
	}
	double warm = 0.5;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("FAILED: fork: %s\n", strerror(errno));
		return 1;
	}
	if (!pid) {
		bench_pin(1);
		close(fds[0]);
		phones(legs, 2 * calls, socks, warm + seconds, fds[1]);
	}
	close(fds[1]);
	for (int s = 0; s < NSOCK * 2; s++)
		close(socks[s]);

	bench_pump(&loop, (int)(warm * 1000));
	me->rss_per_call = (bench_rss_kib() - rss0) * 1024 / calls;
	struct bench_tcpu w0, w1;
	bench_threads_cpu_of("", &workers, &w0);
	double c0 = bench_cpu_s(NULL), t0 = bench_now_s();
	uint64_t rx0, rx1, dr0, dr1;
	uint64_t p0 = relayed(calls, &rx0, &dr0);
	usleep((useconds_t)(seconds * 1e6));
	double c1 = bench_cpu_s(NULL), t1 = bench_now_s();
	bench_threads_cpu_of("", &workers, &w1);
	uint64_t p1 = relayed(calls, &rx1, &dr1);

	struct result res = {0, 0};
	int status = 0;
	if (read(fds[0], &res, sizeof res) != sizeof res)
		printf("warning: no result from the phones\n");
	close(fds[0]);
	waitpid(pid, &status, 0);

	double pkts = (double)(p1 - p0);
	me->cpu = (c1 - c0) / (t1 - t0) * 100;
	me->us = pkts ? (c1 - c0) * 1e6 / pkts : 0;
	printf("rtp %s %d calls: %.1f%% of one core, %.2f us/packet\n", k->name, calls, me->cpu,
	       me->us);
	double wu, ws;
	bench_tcpu_split(&w0, &w1, &wu, &ws);
	report(me, &res, pkts, t1 - t0, wu, ws, warm, first);
	printf("    PBX received %llu, dropped %llu, sent %llu over the whole step\n",
	       (unsigned long long)rx1, (unsigned long long)dr1,
	       (unsigned long long)relayed(calls, &rx0, &dr0));
	if (k->monitor)
		mon_finish(calls, dir, t_mon);
	free_calls(calls);
	return 0;
}

/* What @p me costs over the measured step of its base kind nearest in calls. */
static void compare(const struct measure *me, const struct measure *done, int n)
{
	const struct measure *b = NULL;
	for (int i = 0; i < n; i++)
		if (me->k->base && done[i].k == me->k->base &&
		    (!b || abs(done[i].calls - me->calls) < abs(b->calls - me->calls)))
			b = &done[i];
	if (b && b->us > 0)
		printf("    against %s at %d calls (%.2f us/packet): %+.2f us/packet, x%.1f\n",
		       b->k->name, b->calls, b->us, me->us - b->us, me->us / b->us);
}

int main(int argc, char **argv)
{
	/* Calls per step; a step with a label gives that calls-per-core figure. */
	static const struct {
		const struct kind *k;
		int calls;
		const char *per_core;
	} steps[] = {
		{&RELAY, 1000, "rtp relayed calls per core"},
		{&RELAY, 500, NULL},
		{&RELAY, 100, NULL},
		{&G711, 1000, NULL},
		{&OPUS, 50, "rtp transcoded opus-pcmu calls per core"},
		{&MONITOR, 200, "rtp recorded calls per core"},
	};
	enum { NSTEPS = sizeof steps / sizeof steps[0] };
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	int workers = argc > 2 ? atoi(argv[2]) : 1;
	struct pbx_media_cfg cfg;
	/* Six steps of SECONDS + about 1 s: 20 s keeps even a long run within 2.5 minutes. */
	if (seconds <= 0 || seconds > 20 || workers < 0 || workers > 64) {
		fprintf(stderr, "usage: %s [SECONDS <= 20 [WORKERS]]\n", argv[0]);
		return 2;
	}
	pbx_log_set_level(PBX_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	/* Four descriptors per call on our side. */
	if (bench_nofile(4 * MAX_CALLS + 100))
		return 1;
	memset(&cfg, 0, sizeof cfg);
	cfg.workers = workers;
	cfg.port_min = 30000;
	cfg.port_max = 39999;
	cfg.timeout = 0;
	/* BENCH_NO_BATCH=1: one sendto per packet, the way before media_io.c, to compare. */
	cfg.no_batch = getenv("BENCH_NO_BATCH") && *getenv("BENCH_NO_BATCH") == '1';

	struct measure done[NSTEPS];
	int n = 0, err = 0;
	for (; n < NSTEPS && !err; n++) {
		/* Fresh workers per step: their user/system split is this step's alone. */
		bench_pin(0);
		if (uv_loop_init(&loop) || pbx__media_start_with(&cfg, &loop)) {
			printf("FAILED: cannot start the media engine\n");
			return 1;
		}
		if (n == 0)
			printf("    %d media worker(s), %.1f s per step, %d CPUs, sends %s\n",
			       pbx__media_workers(), seconds, (int)uv_available_parallelism(),
			       cfg.no_batch ? "one sendto each (BENCH_NO_BATCH)"
					    : "batched per turn");
		err = step(steps[n].k, steps[n].calls, seconds, n == 0, &done[n]);
		pbx_media_stop();
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		if (err)
			break;
		compare(&done[n], done, n);
		if (steps[n].per_core)
			printf("%s: %.0f\n", steps[n].per_core, bench_calls_per_core(done[n].us));
	}
	/* The first step, 1000 relayed calls, made from a fresh heap: its growth is theirs. */
	if (n > 0)
		printf("rtp memory per call: %.1f KiB\n", (double)done[0].rss_per_call / 1024);
	return err ? 1 : 0;
}
