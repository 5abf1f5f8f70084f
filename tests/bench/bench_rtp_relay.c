/**
 * @file bench_rtp_relay.c  RTP relay and PCMU<->PCMA transcoding: CPU per packet, memory per call
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/bench/bench_rtp_relay [SECONDS [WORKERS]]` (default 3 s per step,
 * 1 worker) starts the media engine in this process, bridges N pairs of
 * sessions on loopback and has a child process play 2N phones: every leg
 * sends a 20 ms G.711 packet (172 bytes) every 20 ms, spread evenly over
 * each 20 ms so the load is smooth, and counts what comes back. Steps:
 * relay at 100, 500 and 1000 calls (both legs PCMU), then 1000 calls
 * transcoded (PCMU on one leg, PCMA on the other).
 *
 * CPU is this process's (getrusage: the media workers; the signalling
 * thread sleeps), over SECONDS after half a second of warm-up, as a share
 * of one core; per packet is that CPU time over the packets relayed. The
 * kernel's work of delivering a datagram on loopback is charged to the
 * sender, so the PBX pays for its sendto's delivery too, as it would on a
 * real network card. The phones share the machine: on two cores the
 * figures include some contention.
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
 * splits that cost into user time (the engine's code and libuv) and system
 * time (recvfrom, sendto, epoll: most of it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
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

#define MAX_CALLS 1000
#define NSOCK     8  /* phone sockets per side; legs share them round robin */
#define TICKS     20 /* the 20 ms period in 1 ms ticks */
#define BATCH     256

struct result {
	uint64_t sent, received;
};

static uv_loop_t loop;
static struct pbx_rtp *rtp[2 * MAX_CALLS];

/* ---- the phones (child process) -------------------------------------------------------------- */

struct leg {
	int sock;
	struct sockaddr_in to; /* the PBX session's port */
	uint8_t pt;
	uint16_t seq;
	uint32_t ts, ssrc;
};

static void phones(struct leg *legs, int nlegs, const int *socks, double seconds, int out)
{
	static uint8_t pkt[BATCH][172];
	struct mmsghdr m[NSOCK * 2][BATCH];
	struct iovec iov[NSOCK * 2][BATCH];
	int nb[NSOCK * 2];
	struct result res = {0, 0};
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double end = bench_now_s() + seconds;
	for (unsigned tick = 0; bench_now_s() < end; tick++) {
		memset(nb, 0, sizeof nb);
		int np = 0;
		for (int i = (int)(tick % TICKS); i < nlegs && np < BATCH; i += TICKS) {
			struct leg *l = &legs[i];
			uint8_t *p = pkt[np++];
			p[0] = 0x80;
			p[1] = l->pt;
			p[2] = (uint8_t)(l->seq >> 8);
			p[3] = (uint8_t)l->seq;
			for (int k = 0; k < 4; k++) {
				p[4 + k] = (uint8_t)(l->ts >> (24 - 8 * k));
				p[8 + k] = (uint8_t)(l->ssrc >> (24 - 8 * k));
			}
			memset(p + 12, l->pt == 8 ? 0xD5 : 0xFF, 160);
			l->seq++;
			l->ts += 160;
			int s = l->sock, b = nb[s]++;
			iov[s][b].iov_base = p;
			iov[s][b].iov_len = 172;
			memset(&m[s][b].msg_hdr, 0, sizeof m[s][b].msg_hdr);
			m[s][b].msg_hdr.msg_name = &l->to;
			m[s][b].msg_hdr.msg_namelen = sizeof l->to;
			m[s][b].msg_hdr.msg_iov = &iov[s][b];
			m[s][b].msg_hdr.msg_iovlen = 1;
		}
		for (int s = 0; s < NSOCK * 2; s++)
			for (int off = 0; off < nb[s];) {
				int r = sendmmsg(socks[s], m[s] + off, (unsigned)(nb[s] - off), 0);
				if (r <= 0)
					break;
				off += r;
				res.sent += (uint64_t)r;
			}
		bench_drain(socks, NSOCK * 2, &res.received);
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	/* What is still in flight. */
	usleep(50000);
	bench_drain(socks, NSOCK * 2, &res.received);
	if (write(out, &res, sizeof res) != sizeof res)
		_exit(1);
	_exit(0);
}

/* ---- one step -------------------------------------------------------------------------------- */

static int setup_calls(int calls, bool transcode, const struct sockaddr_in *phone_addr)
{
	struct sockaddr_in l = bench_lo(0);
	for (int i = 0; i < calls; i++) {
		struct pbx_rtp **a = &rtp[2 * i], **b = &rtp[2 * i + 1];
		int err;
		if ((err = pbx_rtp_alloc(a, (struct sockaddr *)&l, NULL, NULL, NULL)) ||
		    (err = pbx_rtp_alloc(b, (struct sockaddr *)&l, *a, NULL, NULL))) {
			printf("FAILED: pbx_rtp_alloc at call %d: %s\n", i, strerror(err));
			return err;
		}
		struct pbx_rtp_params p;
		memset(&p, 0, sizeof p);
		p.codec = pbx_codec_find("PCMU");
		p.pt = 0;
		p.dtmf_pt = 101;
		p.dir = PBX_DIR_SENDRECV;
		p.ptime = 20;
		memcpy(&p.remote, &phone_addr[i % NSOCK], sizeof phone_addr[0]);
		pbx_rtp_set_params(*a, &p);
		if (transcode) {
			p.codec = pbx_codec_find("PCMA");
			p.pt = 8;
		}
		memcpy(&p.remote, &phone_addr[NSOCK + i % NSOCK], sizeof phone_addr[0]);
		pbx_rtp_set_params(*b, &p);
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

static int step(int calls, bool transcode, double seconds, long *rss_per_call)
{
	int socks[NSOCK * 2], fds[2];
	struct sockaddr_in addr[NSOCK * 2];
	static struct leg legs[2 * MAX_CALLS];
	for (int s = 0; s < NSOCK * 2; s++) {
		socklen_t len = sizeof addr[s];
		int buf = 1 << 20;
		socks[s] = socket(AF_INET, SOCK_DGRAM, 0);
		addr[s] = bench_lo(0);
		setsockopt(socks[s], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
		if (socks[s] < 0 || bind(socks[s], (struct sockaddr *)&addr[s], sizeof addr[s]) ||
		    getsockname(socks[s], (struct sockaddr *)&addr[s], &len)) {
			printf("FAILED: phone socket: %s\n", strerror(errno));
			return 1;
		}
	}
	memset(legs, 0, sizeof legs); /* touched before the baseline, not counted per call */
	long rss0 = bench_rss_kib();
	if (setup_calls(calls, transcode, addr))
		return 1;
	bench_pump(&loop, 100);
	for (int i = 0; i < calls; i++) {
		struct leg *a = &legs[2 * i], *b = &legs[2 * i + 1];
		a->sock = i % NSOCK;
		b->sock = NSOCK + i % NSOCK;
		a->to = bench_lo(pbx_rtp_port(rtp[2 * i]));
		b->to = bench_lo(pbx_rtp_port(rtp[2 * i + 1]));
		a->pt = 0;
		b->pt = transcode ? 8 : 0;
		a->ssrc = 0x10000000u + (uint32_t)i;
		b->ssrc = 0x20000000u + (uint32_t)i;
		a->seq = b->seq = 1;
		a->ts = b->ts = 160;
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
		close(fds[0]);
		phones(legs, 2 * calls, socks, warm + seconds, fds[1]);
	}
	close(fds[1]);
	for (int s = 0; s < NSOCK * 2; s++)
		close(socks[s]);

	bench_pump(&loop, (int)(warm * 1000));
	if (rss_per_call)
		*rss_per_call = (bench_rss_kib() - rss0) * 1024 / calls; /* bytes */
	double u0, u1, c0 = bench_cpu_s(&u0), t0 = bench_now_s();
	uint64_t rx0, rx1, dr0, dr1;
	uint64_t p0 = relayed(calls, &rx0, &dr0);
	usleep((useconds_t)(seconds * 1e6));
	double c1 = bench_cpu_s(&u1), t1 = bench_now_s();
	uint64_t p1 = relayed(calls, &rx1, &dr1);

	struct result res = {0, 0};
	int status = 0;
	if (read(fds[0], &res, sizeof res) != sizeof res)
		printf("warning: no result from the phones\n");
	close(fds[0]);
	waitpid(pid, &status, 0);
	relayed(calls, &rx1, &dr1);

	double cpu = (c1 - c0) / (t1 - t0) * 100;
	double pkts = (double)(p1 - p0);
	printf("rtp %s %d calls: %.1f%% of one core, %.2f us/packet\n",
	       transcode ? "transcode" : "relay", calls, cpu, pkts ? (c1 - c0) * 1e6 / pkts : 0);
	printf("    %.0f packets/s relayed (expected %d); phones sent %llu, got back %llu "
	       "(%.2f%% lost)\n",
	       pkts / (t1 - t0), calls * 100, (unsigned long long)res.sent,
	       (unsigned long long)res.received,
	       res.sent ? 100.0 * (double)(res.sent - res.received) / (double)res.sent : 0.0);
	if (pkts)
		printf("    per packet: %.2f us in the PBX's code (user), %.2f us in the kernel\n",
		       (u1 - u0) * 1e6 / pkts, ((c1 - c0) - (u1 - u0)) * 1e6 / pkts);
	double offered = (double)res.sent / (warm + seconds), got = pkts / (t1 - t0);
	if (pkts && got < 0.95 * calls * 100)
		printf("note: %.0f packets/s relayed of %.0f/s the phones managed to send (%d/s "
		       "wanted; machine busy? see the load); the full %d/s at this cost would "
		       "be %.0f%% of one core\n",
		       got, offered, calls * 100, calls * 100,
		       (c1 - c0) / pkts * calls * 100 * 100);
	printf("    PBX received %llu, dropped %llu, sent %llu over the whole step\n",
	       (unsigned long long)rx1, (unsigned long long)dr1,
	       (unsigned long long)relayed(calls, &rx0, &dr0));
	free_calls(calls);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	int workers = argc > 2 ? atoi(argv[2]) : 1;
	struct pbx_media_cfg cfg;
	struct rlimit rl;
	if (seconds <= 0 || seconds > 60 || workers < 0 || workers > 64) {
		fprintf(stderr, "usage: %s [SECONDS <= 60 [WORKERS]]\n", argv[0]);
		return 2;
	}
	pbx_log_set_level(PBX_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	/* Four descriptors per call on our side. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 4 * MAX_CALLS + 100) {
		printf("FAILED: need %d file descriptors, RLIMIT_NOFILE is %llu\n",
		       4 * MAX_CALLS + 100, (unsigned long long)rl.rlim_cur);
		return 1;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.workers = workers;
	cfg.port_min = 30000;
	cfg.port_max = 39999;
	cfg.timeout = 0;
	/* BENCH_NO_BATCH=1: one sendto per packet, the way before media_io.c, to compare. */
	cfg.no_batch = getenv("BENCH_NO_BATCH") && *getenv("BENCH_NO_BATCH") == '1';
	if (uv_loop_init(&loop) || pbx__media_start_with(&cfg, &loop)) {
		printf("FAILED: cannot start the media engine\n");
		return 1;
	}
	printf("    %d media worker(s), %.1f s per step, %d CPUs, sends %s\n", pbx__media_workers(),
	       seconds, (int)uv_available_parallelism(),
	       cfg.no_batch ? "one sendto each (BENCH_NO_BATCH)" : "batched per turn");

	long per_call = 0;
	int err = step(1000, false, seconds, &per_call) || step(500, false, seconds, NULL) ||
		  step(100, false, seconds, NULL) || step(1000, true, seconds, NULL);
	if (!err)
		printf("rtp memory per call: %.1f KiB\n", (double)per_call / 1024);

	pbx_media_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return err ? 1 : 0;
}
