/**
 * @file bench_recording.c  200 concurrent voicemail recordings: CPU per recording, worst write latencies
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/bench/bench_recording [SECONDS]` (default BENCH_REC_SECONDS from
 * the environment, else 30, as issue 11 asks) starts the media engine in
 * this process with one media worker and records 200 RTP sessions the way
 * app.voicemail records a message: one leg each, not bridged, with
 * pbx_rtp_record. Every packet goes into the leg's jitter buffer; every
 * 20 ms the worker takes a frame out, decodes it (G.711) and copies it into
 * the leg's recorder, which hands one-second blocks to libuv's thread pool
 * to be written with libsndfile, and at the end writes the last block,
 * fsyncs, renames PATH.part to PATH and fsyncs the folder. A forked child
 * pinned to the other CPU plays the 200 callers: a 20 ms PCMU packet every
 * 20 ms per leg, the legs spread over the 20 ms as in bench_rtp_relay, a
 * 400 Hz tone encoded once before the start and sent over and over.
 *
 * Timeline: the phones start; after 0.3 s (the sessions latch) the
 * recordings start one every 5 ms over a second, as callers arrive at
 * their own moments, so that their blocks fall due spread over each second
 * rather than all 200 in one tick; 1.5 s of warm-up, in which every
 * recording has created its file and written its first block; SECONDS
 * measured; then the recordings stop in the same order, one every 5 ms, so
 * that each lasts as long as the others. The files go to a fresh folder
 * under $TMPDIR (or /tmp), removed at the end.
 *
 * CPU is this process's getrusage over the measured window, as a share of
 * one core: the media worker (receiving the packets, the jitter buffers,
 * decoding, copying frames into blocks) and the thread pool (libsndfile's
 * writes into the page cache); the signalling thread sleeps meanwhile. Not
 * in it: the kernel's writeback of the files to the disk (its own
 * threads), the delivery of the phones' datagrams on loopback (charged to
 * the sender), and the closes (the fsyncs), which come after the window.
 *
 * Write latencies come from the recorder's own counters
 * (pbx_recorder_get_stats): the longest time a block waited in the
 * measured window, from being handed to the thread pool until its write
 * returned, and the longest close job (last write, WAV header, fsync,
 * rename, the folder's fsync) while the recordings stop.
 *
 * Then every file is read back. Its length must be the length its
 * record_done event reported, to the sample, and the time it was
 * recorded (from the start to the stop this thread asked for) within
 * 0.1 s: five frames, for a tick of latency at each end and the jitter
 * buffer's start. Otherwise, or when a recording failed or left its
 * .part file, a "FAILED:" line and exit status 1. Silent frames (a jitter
 * buffer run dry: packets late or lost) are counted and shown.
 *
 * BENCH_REC_KEEP=1 keeps the folder and its files, to listen to.
 *
 * Runtime: SECONDS + about 6 s, and the closes' fsyncs.
 */
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
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "bench_util.h"
#include "pbx/log.h"
#include "pbx/recorder.h"

#define RECS         200
#define NSOCK        8   /* phone sockets; the legs share them round robin */
#define TICKS        20  /* the 20 ms period in 1 ms ticks */
#define CLIP_FRAMES  50  /* one second of tone, sent over and over */
#define PAYLOAD      160 /* 20 ms of PCMU */
#define LATCH_S      0.3
#define SPREAD_S     1.0 /* the starts, and the stops, one every SPREAD_S / RECS */
#define WARM_S       1.5
#define CLOSE_WAIT_S 20.0 /* for the files to be complete after the last stop, at most */
#define LEN_SLACK_S  0.1
#define SILENCE_RMS  256.0 /* as media_record.c: below any voice, far below the tone */
#define TMPFS_MAGIC  0x01021994

/* One recording: the session, when it was asked for, what its end said. */
struct rec {
	struct pbx_rtp *rtp;
	double t_start, t_stop; /* this thread's clock when pbx_rtp_record(_stop) was called */
	bool done;
	int why, err;
	unsigned ms;
};

static uv_loop_t loop;
static struct rec recs[RECS];
static int ndone;

static void on_record_done(void *arg, int why, int err, unsigned ms)
{
	struct rec *r = arg;
	r->done = true;
	r->why = why;
	r->err = err;
	r->ms = ms;
	ndone++;
}

static const struct pbx_rtp_events events = {.record_done = on_record_done};

/* ---- the callers (child process) ------------------------------------------------------------- */

/* What the callers tell at their end, through a pipe. */
struct phones_result {
	uint64_t sent;
	double late_max_s; /* the latest a 1 ms slot was sent, after its time */
	unsigned late;     /* slots sent more than 5 ms late: a burst on arrival */
};

struct leg {
	int sock;
	struct sockaddr_in to; /* the PBX session's port */
	uint16_t seq;
	uint32_t ts, ssrc;
};

static void phones(struct leg *legs, const int *socks, uint8_t clip[][PAYLOAD], double seconds,
		   int out)
{
	static uint8_t pkt[RECS][12 + PAYLOAD];
	static struct mmsghdr m[NSOCK][RECS];
	static struct iovec iov[NSOCK][RECS];
	int nb[NSOCK];
	struct phones_result res = {0, 0, 0};
	uint64_t received = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double start = bench_now_s(), end = start + seconds;
	/* Bounded in count too: a clock that stalls cannot keep the phones going. */
	unsigned max_ticks = (unsigned)(seconds * 1000) + 1000;
	for (unsigned tick = 0; tick < max_ticks && bench_now_s() < end; tick++) {
		int np = 0;
		double late = bench_now_s() - (start + tick / 1000.0);
		res.late_max_s = late > res.late_max_s ? late : res.late_max_s;
		res.late += late > 0.005;
		memset(nb, 0, sizeof nb);
		for (int i = (int)(tick % TICKS); i < RECS; i += TICKS) {
			struct leg *l = &legs[i];
			uint8_t *p = pkt[np++];
			p[0] = 0x80;
			p[1] = 0; /* PCMU */
			p[2] = (uint8_t)(l->seq >> 8);
			p[3] = (uint8_t)l->seq;
			for (int j = 0; j < 4; j++) {
				p[4 + j] = (uint8_t)(l->ts >> (24 - 8 * j));
				p[8 + j] = (uint8_t)(l->ssrc >> (24 - 8 * j));
			}
			memcpy(p + 12, clip[l->seq % CLIP_FRAMES], PAYLOAD);
			l->seq++;
			l->ts += PAYLOAD;
			int s = l->sock, b = nb[s]++;
			iov[s][b].iov_base = p;
			iov[s][b].iov_len = 12 + PAYLOAD;
			memset(&m[s][b].msg_hdr, 0, sizeof m[s][b].msg_hdr);
			m[s][b].msg_hdr.msg_name = &l->to;
			m[s][b].msg_hdr.msg_namelen = sizeof l->to;
			m[s][b].msg_hdr.msg_iov = &iov[s][b];
			m[s][b].msg_hdr.msg_iovlen = 1;
		}
		for (int s = 0; s < NSOCK; s++)
			res.sent += (uint64_t)bench_sendmmsg(socks[s], m[s], nb[s]);
		bench_drain(socks, NSOCK, &received); /* nothing is expected back */
		bench_tick_wait(&next);
	}
	if (write(out, &res, sizeof res) != sizeof res)
		_exit(1);
	_exit(0);
}

/* A 400 Hz tone in PCMU, a whole number of periods per 20 ms, so it loops smoothly. */
static void clip_make(uint8_t clip[][PAYLOAD])
{
	for (int k = 0; k < CLIP_FRAMES; k++)
		for (int i = 0; i < PAYLOAD; i++)
			clip[k][i] = pbx_ulaw_encode(
				(int16_t)(8000 * sin(2 * M_PI * 400 * (k * PAYLOAD + i) / 8000.0)));
}

/* ---- the recordings -------------------------------------------------------------------------- */

static int setup(const struct sockaddr_in *phone_addr)
{
	struct sockaddr_in l = bench_lo(0);
	struct pbx_rtp_params p;
	memset(&p, 0, sizeof p);
	p.codec = pbx_codec_find("PCMU");
	p.pt = 0;
	p.dtmf_pt = 101;
	p.dir = PBX_DIR_SENDRECV; /* an answered call, as voicemail has */
	p.ptime = 20;
	for (int i = 0; i < RECS; i++) {
		int err;
		memcpy(&p.remote, &phone_addr[i % NSOCK], sizeof phone_addr[0]);
		if ((err = pbx_rtp_alloc(&recs[i].rtp, (struct sockaddr *)&l, NULL, &events,
					 &recs[i])) ||
		    (err = pbx_rtp_set_params(recs[i].rtp, &p))) {
			printf("FAILED: session %d: %s\n", i, strerror(err));
			return err;
		}
	}
	return 0;
}

/* Call @p fn on recording i at @p t0 + i * SPREAD_S / RECS, running the signalling loop meanwhile. */
static int spread(double t0, int (*fn)(struct rec *r, const char *dir), const char *dir)
{
	for (int i = 0; i < RECS; i++) {
		while (bench_now_s() < t0 + i * SPREAD_S / RECS)
			bench_pump(&loop, 1);
		int err = fn(&recs[i], dir);
		if (err)
			return err;
	}
	return 0;
}

static int rec_start(struct rec *r, const char *dir)
{
	char path[300];
	struct pbx_rec_opts o;
	/* No length limit, no silence stop, no terminator: it runs until stopped. */
	memset(&o, 0, sizeof o);
	snprintf(path, sizeof path, "%s/msg-%03d.wav", dir, (int)(r - recs));
	r->t_start = bench_now_s();
	int err = pbx_rtp_record(r->rtp, path, &o);
	if (err)
		printf("FAILED: pbx_rtp_record %s: %s\n", path, strerror(err));
	return err;
}

static int rec_stop(struct rec *r, const char *dir)
{
	(void)dir;
	r->t_stop = bench_now_s();
	pbx_rtp_record_stop(r->rtp, true);
	return 0;
}

static uint64_t received(void)
{
	uint64_t n = 0;
	for (int i = 0; i < RECS; i++) {
		struct pbx_rtp_stats st;
		pbx_rtp_get_stats(recs[i].rtp, &st);
		n += st.rx_packets;
	}
	return n;
}

/* ---- checking the files ---------------------------------------------------------------------- */

struct files {
	int read, failed;
	double len_min, len_max, rec_min, rec_max; /* seconds: of audio, and recorded */
	double silent_sum, silent_max;             /* seconds of silent frames per file */
	double gap, gap_at;                        /* the longest silence: seconds, where */
	int gap_file;
};

/* Check recording @p i's file; a FAILED line for each fault. */
static void file_check(const char *dir, int i, struct files *fs)
{
	char path[300];
	const struct rec *r = &recs[i];
	double wall = r->t_stop - r->t_start;
	snprintf(path, sizeof path, "%s/msg-%03d.wav", dir, i);
	if (!r->done || r->err) {
		printf("FAILED: %s: %s\n", path,
		       r->done ? strerror(r->err) : "no record_done after the stop");
		fs->failed++;
		return;
	}
	SF_INFO info;
	memset(&info, 0, sizeof info);
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf) {
		printf("FAILED: %s: cannot read it back: %s\n", path, sf_strerror(NULL));
		fs->failed++;
		return;
	}
	/* The tone's frames against silent ones, 20 ms at a time. */
	int16_t pcm[PAYLOAD];
	unsigned silent = 0, run = 0, frame = 0;
	sf_count_t got;
	for (; (got = sf_read_short(sf, pcm, PAYLOAD)) > 0; frame++) {
		double sum = 0;
		for (sf_count_t k = 0; k < got; k++)
			sum += (double)pcm[k] * pcm[k];
		bool quiet = sqrt(sum / (double)got) < SILENCE_RMS;
		silent += quiet;
		run = quiet ? run + 1 : 0;
		if (run * PBX_FRAME_MS / 1000.0 > fs->gap) {
			fs->gap = run * PBX_FRAME_MS / 1000.0;
			fs->gap_at = (frame + 1 - run) * PBX_FRAME_MS / 1000.0;
			fs->gap_file = i;
		}
	}
	sf_close(sf);
	double len = info.samplerate > 0 ? (double)info.frames / info.samplerate : -1;
	double s = silent * PBX_FRAME_MS / 1000.0;
	fs->read++;
	fs->len_min = fs->read == 1 || len < fs->len_min ? len : fs->len_min;
	fs->len_max = fs->read == 1 || len > fs->len_max ? len : fs->len_max;
	fs->rec_min = fs->read == 1 || wall < fs->rec_min ? wall : fs->rec_min;
	fs->rec_max = fs->read == 1 || wall > fs->rec_max ? wall : fs->rec_max;
	fs->silent_sum += s;
	fs->silent_max = s > fs->silent_max ? s : fs->silent_max;
	if (info.samplerate != 8000 || info.channels != 1 || info.frames != (sf_count_t)r->ms * 8) {
		printf("FAILED: %s: %lld samples at %d Hz, %d channel(s); the recording said %u ms "
		       "at 8000 Hz mono\n",
		       path, (long long)info.frames, info.samplerate, info.channels, r->ms);
		fs->failed++;
	} else if (fabs(len - wall) > LEN_SLACK_S) {
		printf("FAILED: %s: %.3f s of audio for %.3f s recorded\n", path, len, wall);
		fs->failed++;
	}
}

/* Check every file, then empty and remove @p dir (BENCH_REC_KEEP=1: keep it); returns the faults found. */
static int files_check(const char *dir, bool check)
{
	const char *k = getenv("BENCH_REC_KEEP");
	bool keep = k && !strcmp(k, "1");
	struct files fs;
	int parts = 0;
	memset(&fs, 0, sizeof fs);
	for (int i = 0; check && i < RECS; i++)
		file_check(dir, i, &fs);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		if (n > 5 && !strcmp(e->d_name + n - 5, ".part"))
			parts++;
		if (!keep)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
	if (keep)
		printf("note: the files are kept in %s (BENCH_REC_KEEP=1)\n", dir);
	else if (rmdir(dir))
		printf("warning: cannot remove %s: %s\n", dir, strerror(errno));
	if (!check)
		return 0;
	if (parts) {
		printf("FAILED: %d .part file(s) left behind\n", parts);
		fs.failed++;
	}
	printf("    files: %d read back, %.3f..%.3f s of audio for %.3f..%.3f s recorded; "
	       "silent frames %.0f ms per file on average, %.0f ms at most\n",
	       fs.read, fs.len_min, fs.len_max, fs.rec_min, fs.rec_max,
	       fs.read ? fs.silent_sum / fs.read * 1000 : 0.0, fs.silent_max * 1000);
	/* The jitter buffer's start costs a few frames; more means packets came late or not at all. */
	if (fs.gap > 0.1)
		printf("    the longest silence: %.0f ms from %.2f s into msg-%03d.wav\n",
		       fs.gap * 1000, fs.gap_at, fs.gap_file);
	if (fs.silent_max > 0.2)
		printf("note: a recording has %.0f ms of silence: packets late or lost (the phones "
		       "late, the worker waiting for a CPU, or the hypervisor's steal: see "
		       "above)\n",
		       fs.silent_max * 1000);
	return fs.failed;
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_REC_SECONDS");
	double seconds = argc > 1 ? atof(argv[1]) : env && *env ? atof(env) : 30;
	static struct leg legs[RECS];
	static uint8_t clip[CLIP_FRAMES][PAYLOAD];
	int socks[NSOCK], fds[2] = {-1, -1}, err, failed = 0;
	struct sockaddr_in addr[NSOCK];
	struct pbx_media_cfg cfg;
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[256];
	bool have_dir = false;
	pid_t pid = -1;

	if (seconds <= 0 || seconds > 600) {
		fprintf(stderr, "usage: %s [SECONDS <= 600] (default BENCH_REC_SECONDS or 30)\n",
			argv[0]);
		return 2;
	}
	pbx_log_set_level(PBX_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	/* Two sockets per session, a file per recording at its ends, the phones' sockets. */
	if (bench_nofile(3 * RECS + 100))
		return 1;
	bench_pin(0);
	memset(&cfg, 0, sizeof cfg);
	cfg.workers = 1;
	cfg.port_min = 30000;
	cfg.port_max = 39999;
	cfg.timeout = 0;
	if (uv_loop_init(&loop) || pbx__media_start_with(&cfg, &loop)) {
		printf("FAILED: cannot start the media engine\n");
		return 1;
	}
	clip_make(clip);
	for (int i = 0; i < NSOCK; i++)
		socks[i] = -1;
	snprintf(dir, sizeof dir, "%s/pbx-bench-rec-XXXXXX", tmp);
	if ((err = bench_phone_socks(socks, addr, NSOCK))) {
		printf("FAILED: phone socket: %s\n", strerror(err));
		failed = 1;
		goto out;
	}
	if (!mkdtemp(dir)) {
		printf("FAILED: mkdtemp %s: %s\n", dir, strerror(errno));
		failed = 1;
		goto out;
	}
	have_dir = true;
	if (setup(addr)) {
		failed = 1;
		goto out;
	}
	struct statfs sfs;
	printf("    %d recordings on %d media worker(s), %.1f s measured, %d CPUs, files in %s\n",
	       RECS, pbx__media_workers(), seconds, (int)sysconf(_SC_NPROCESSORS_ONLN), dir);
	if (!statfs(dir, &sfs) && sfs.f_type == TMPFS_MAGIC)
		printf("note: %s is on tmpfs: its writes and fsyncs cost no disk time, unlike a "
		       "voicemail folder's\n",
		       tmp);
	bench_pump(&loop, 100);
	for (int i = 0; i < RECS; i++) {
		legs[i].sock = i % NSOCK;
		legs[i].to = bench_lo(pbx_rtp_port(recs[i].rtp));
		legs[i].ssrc = 0x10000000u + (uint32_t)i;
		legs[i].seq = 1;
		legs[i].ts = PAYLOAD;
	}
	if (bench_fork_pipe(fds, &pid)) {
		failed = 1;
		goto out;
	}
	if (!pid) {
		bench_pin(1);
		close(fds[0]);
		/* Until a second after the last stop, if this thread keeps to its times. */
		phones(legs, socks, clip, LATCH_S + SPREAD_S + WARM_S + seconds + SPREAD_S + 1,
		       fds[1]);
	}
	close(fds[1]);
	for (int i = 0; i < NSOCK; i++) {
		close(socks[i]); /* the child's copies are what it sends on */
		socks[i] = -1;
	}

	bench_pump(&loop, (int)(LATCH_S * 1000));
	/* The worker, before the first recording starts libuv's thread pool under its name. */
	struct bench_tids worker;
	bench_threads_tids("pbx-media", &worker);
	if (worker.n != pbx__media_workers())
		printf("note: %d threads named pbx-media before any recording, for %d worker(s): "
		       "the "
		       "worker's share below includes the others\n",
		       worker.n, pbx__media_workers());
	if (spread(bench_now_s(), rec_start, dir)) {
		failed = 1;
		goto out;
	}
	bench_pump(&loop, (int)(WARM_S * 1000));

	struct bench_tcpu w0, w1, a0, a1;
	struct pbx_recorder_stats win, fin;
	bench_threads_cpu_of("", &worker, &w0);
	bench_threads_cpu("", &a0);
	pbx_recorder_reset_stats();
	uint64_t rx0 = received();
	double st0[2] = {bench_steal_s(0), bench_steal_s(1)};
	double c0 = bench_cpu_s(NULL), t0 = bench_now_s();
	bench_sleep_until(t0 + seconds);
	double c1 = bench_cpu_s(NULL), t1 = bench_now_s();
	double st1[2] = {bench_steal_s(0), bench_steal_s(1)};
	uint64_t rx1 = received();
	pbx_recorder_get_stats(&win);
	bench_threads_cpu_of("", &worker, &w1);
	bench_threads_cpu("", &a1);

	pbx_recorder_reset_stats();
	spread(bench_now_s(), rec_stop, dir);
	double t_last = bench_now_s();
	for (int i = 0; i < CLOSE_WAIT_S * 100 && ndone < RECS; i++)
		bench_pump(&loop, 10);
	double closing = bench_now_s() - t_last;
	pbx_recorder_get_stats(&fin);

	struct phones_result ph = {0, 0, 0};
	int status = 0;
	if (read(fds[0], &ph, sizeof ph) != sizeof ph)
		printf("warning: no count from the phones\n");
	waitpid(pid, &status, 0);
	pid = -1;

	double wall = t1 - t0, cpu = (c1 - c0) / wall * 100, pkts = (double)(rx1 - rx0);
	double wu, ws;
	bench_tcpu_split(&w0, &w1, &wu, &ws);
	printf("recording %d legs: %.1f%% of one core, %.2f us/packet\n", RECS, cpu,
	       pkts ? (c1 - c0) * 1e6 / pkts : 0.0);
	printf("recording CPU per leg: %.3f%% of one core\n", cpu / RECS);
	printf("recording worst block wait: %.3f ms\n", (double)win.block_wait_max_us / 1000);
	printf("recording worst close: %.3f ms\n", (double)fin.close_max_us / 1000);
	printf("    %.0f packets/s received (expected %d); the phones sent %llu in all, %u of "
	       "their 1 ms slots more than 5 ms late, the latest by %.0f ms\n",
	       pkts / wall, RECS * 50, (unsigned long long)ph.sent, ph.late, ph.late_max_s * 1000);
	/* The other threads, exact (schedstat): the thread pool's writes, the sleeping main thread. */
	double other = (a1.run_s - a0.run_s) - (w1.run_s - w0.run_s);
	printf("    media worker %.1f%% of one core (user %.1f%%, system %.1f%%), other threads "
	       "(the thread pool's writes) %.2f%%, %.1f us a block\n",
	       (wu + ws) / wall * 100, wu / wall * 100, ws / wall * 100, other / wall * 100,
	       win.blocks ? other * 1e6 / (double)win.blocks : 0.0);
	/*
	 * Time the worker was ready to run but not running. Each wake-up costs
	 * some (an idle CPU coming out of its sleep: tens of us in a virtual
	 * machine, and the worker wakes some 1,400 times a second); far
	 * more per run means other work held CPU 0.
	 */
	double waited = w1.wait_s - w0.wait_s;
	unsigned long long runs = w1.runs - w0.runs;
	double per_run = runs ? waited / (double)runs : 0;
	printf("    the media worker waited %.0f ms for a CPU in the window (%.2f%% of it), "
	       "%.0f us on average each of the %llu times it ran\n",
	       waited * 1000, waited / wall * 100, per_run * 1e6, runs);
	if (st0[0] >= 0 && st1[0] >= 0 && st0[1] >= 0 && st1[1] >= 0)
		printf("    the hypervisor took %.0f ms of CPU 0 and %.0f ms of CPU 1 in the "
		       "window "
		       "(steal)\n",
		       (st1[0] - st0[0]) * 1000, (st1[1] - st0[1]) * 1000);
	printf("    window: %llu blocks written (%.0f expected, one a second each), waiting "
	       "%.3f ms on average\n",
	       (unsigned long long)win.blocks, RECS * wall,
	       win.blocks ? (double)win.block_wait_us / (double)win.blocks / 1000 : 0.0);
	printf("    stopping: %d of %d files complete %.2f s after the last stop; %llu closes "
	       "took %.3f ms on average; blocks waited %.3f ms at most meanwhile\n",
	       ndone, RECS, closing, (unsigned long long)fin.closes,
	       fin.closes ? (double)fin.close_us / (double)fin.closes / 1000 : 0.0,
	       (double)fin.block_wait_max_us / 1000);
	if (pkts < 0.95 * RECS * 50 * wall)
		printf("note: %.0f packets/s received of %d/s: the phones fell short or the worker "
		       "could not keep up (machine busy? see the load)\n",
		       pkts / wall, RECS * 50);
	if (per_run > 100e-6)
		printf("note: the media worker waited %.0f us for CPU 0 each time it ran: other "
		       "work ran there, and the figures include its disturbance\n",
		       per_run * 1e6);
	if (cpu >= 10)
		printf("note: above the aim of 10%% of one core for %d recordings\n", RECS);
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	if (fds[0] >= 0)
		close(fds[0]);
	for (int i = 0; i < NSOCK; i++)
		if (socks[i] >= 0)
			close(socks[i]);
	for (int i = 0; i < RECS; i++)
		if (recs[i].rtp)
			pbx_rtp_free(recs[i].rtp);
	/* The engine's stop waits for the recorders' last jobs, so the folder can go after it. */
	pbx_media_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (have_dir && files_check(dir, !failed))
		failed = 1;
	return failed ? 1 : 0;
}
