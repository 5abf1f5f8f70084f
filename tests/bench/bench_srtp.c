/**
 * @file bench_srtp.c  SRTP relay against plain relay: CPU per packet and at 500 calls
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/bench/bench_srtp [SECONDS [WORKERS]]` (default 2 s per step, 1
 * worker) measures as bench_rtp_relay does: the media engine runs in this
 * process, a child process plays the phones of N bridged calls, every leg
 * sending a 20 ms PCMU packet every 20 ms, spread evenly, and CPU is this
 * process's getrusage over SECONDS after half a second of warm-up, as a
 * share of one core; per packet is that CPU time over the packets relayed.
 *
 * Figures: the cost per packet with and without SRTP, CPU at 500 calls,
 * and the SRTP calls one core could carry at that cost per packet
 * (bench_calls_per_core: a call is 100 packets/s through the PBX).
 *
 * Two steps of 500 calls: both legs plain, then both legs SRTP
 * (AES_CM_128_HMAC_SHA1_80, the suite phones offer first), each leg with
 * its own keys, so every packet is authenticated and decrypted with one
 * leg's key and encrypted and signed with the other's. The phones encrypt
 * what they send (their own CPU, not counted) and only count what comes
 * back. To keep the phones cheap on a small machine, every phone encrypts
 * with one key and one SSRC through one libsrtp context (all PBX legs take
 * the same rx key, each from its own context); the PBX's tx keys differ per
 * leg. The PBX's side is thus as in real calls: two contexts per leg.
 *
 * Why one phone context: Debian's libsrtp2 is built on NSS, whose softoken
 * looks sessions up in a table that slows with their number; a protect
 * cost about 4 us with one context and 12 us with a thousand (AES-CM-80).
 * The engine now gives libsrtp2 OpenSSL's crypto (pbx/srtp_ossl.c), which
 * does not slow so, for the PBX's 2000 contexts and for the phones, forked
 * after it was installed; one phone context still keeps the phones cheap.
 *
 * Runtime: about 2 * (SECONDS + 1.5) s; 7 s by default.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <srtp2/srtp.h>
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

#define CALLS 500
#define NSOCK 8  /* phone sockets per side; legs share them round robin */
#define TICKS 20 /* the 20 ms period in 1 ms ticks */
#define BATCH 256
#define PKT   172

struct result {
	uint64_t sent, received;
};

struct leg {
	int sock;
	struct sockaddr_in to; /* the PBX session's port */
	uint16_t seq;
	uint32_t ts, ssrc;
};

static uv_loop_t loop;
static struct pbx_rtp *rtp[2 * CALLS];
static struct leg legs[2 * CALLS];
static struct pbx_srtp_key phone_key;
static void phones(int nlegs, const int *socks, bool srtp, double seconds, int out)
{
	static uint8_t pkt[BATCH][PKT + SRTP_MAX_TRAILER_LEN];
	static struct mmsghdr m[NSOCK * 2][BATCH];
	static struct iovec iov[NSOCK * 2][BATCH];
	int nb[NSOCK * 2];
	struct result res = {0, 0};
	struct timespec next;
	srtp_t ctx = NULL;
	if (srtp) {
		srtp_policy_t pol;
		memset(&pol, 0, sizeof pol);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		pol.ssrc.type = ssrc_any_outbound;
		pol.key = phone_key.key;
		/* The legs' sequence numbers interleave in the one stream; each
		 * PBX leg still sees its own advance. A benchmark's shortcut. */
		pol.allow_repeat_tx = 1;
		if (srtp_create(&ctx, &pol) != srtp_err_status_ok)
			_exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	double end = bench_now_s() + seconds;
	/* Bounded in count too: a clock that stalls cannot keep the phones going. */
	unsigned max_ticks = (unsigned)(seconds * 1000) + 1000;
	for (unsigned tick = 0; tick < max_ticks && bench_now_s() < end; tick++) {
		memset(nb, 0, sizeof nb);
		int np = 0;
		for (int i = (int)(tick % TICKS); i < nlegs && np < BATCH; i += TICKS) {
			struct leg *l = &legs[i];
			uint8_t *p = pkt[np++];
			int len = PKT;
			p[0] = 0x80;
			p[1] = 0;
			p[2] = (uint8_t)(l->seq >> 8);
			p[3] = (uint8_t)l->seq;
			for (int k = 0; k < 4; k++) {
				p[4 + k] = (uint8_t)(l->ts >> (24 - 8 * k));
				p[8 + k] = (uint8_t)(l->ssrc >> (24 - 8 * k));
			}
			memset(p + 12, 0xFF, PKT - 12);
			l->seq++;
			l->ts += 160;
			if (ctx && srtp_protect(ctx, p, &len) != srtp_err_status_ok)
				_exit(1);
			int s = l->sock, b = nb[s]++;
			iov[s][b].iov_base = p;
			iov[s][b].iov_len = (size_t)len;
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
	usleep(50000);
	bench_drain(socks, NSOCK * 2, &res.received);
	if (write(out, &res, sizeof res) != sizeof res)
		_exit(1);
	_exit(0);
}

/* ---- one step -------------------------------------------------------------------------------- */

static uint64_t counted(int calls, uint64_t *rejected)
{
	uint64_t n = 0;
	*rejected = 0;
	for (int i = 0; i < 2 * calls; i++) {
		struct pbx_rtp_stats st;
		pbx_rtp_get_stats(rtp[i], &st);
		n += st.tx_packets;
		*rejected += st.srtp_rejected;
	}
	return n;
}

/* One step: CPU as a share of one core in *cpu, per relayed packet in *us. 0 or 1 (failed). */
static int step(int calls, bool srtp, double seconds, double *cpu, double *us)
{
	int socks[NSOCK * 2], fds[2], err;
	struct sockaddr_in addr[NSOCK * 2], l = bench_lo(0);
	if ((err = bench_phone_socks(socks, addr, NSOCK * 2))) {
		printf("FAILED: phone socket: %s\n", strerror(err));
		return 1;
	}
	memset(legs, 0, sizeof legs);
	pbx_srtp_key_new(&phone_key, PBX_SRTP_AES_CM_128_HMAC_SHA1_80);
	for (int i = 0; i < 2 * calls; i++) {
		struct pbx_rtp_params p;
		if ((err = pbx_rtp_alloc(&rtp[i], (struct sockaddr *)&l, i & 1 ? rtp[i - 1] : NULL,
					 NULL, NULL))) {
			printf("FAILED: pbx_rtp_alloc at leg %d: %s\n", i, strerror(err));
			return 1;
		}
		memset(&p, 0, sizeof p);
		p.codec = pbx_codec_find("PCMU");
		p.dir = PBX_DIR_SENDRECV;
		p.ptime = 20;
		legs[i].sock = (i & 1) * NSOCK + (i / 2) % NSOCK;
		memcpy(&p.remote, &addr[legs[i].sock], sizeof addr[0]);
		if (srtp) {
			p.srtp = true;
			pbx_srtp_key_new(&p.tx, PBX_SRTP_AES_CM_128_HMAC_SHA1_80);
			p.rx = phone_key;
		}
		if ((err = pbx_rtp_set_params(rtp[i], &p))) {
			printf("FAILED: pbx_rtp_set_params: %s\n", strerror(err));
			return 1;
		}
		if (i & 1)
			pbx_rtp_bridge(rtp[i - 1], rtp[i]);
		legs[i].to = bench_lo(pbx_rtp_port(rtp[i]));
		legs[i].ssrc = srtp ? 0x10000000u : 0x10000000u + (uint32_t)i;
		legs[i].seq = 1;
		legs[i].ts = 160;
	}
	bench_pump(&loop, 100);
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
		phones(2 * calls, socks, srtp, warm + seconds, fds[1]);
	}
	close(fds[1]);
	for (int s = 0; s < NSOCK * 2; s++)
		close(socks[s]);

	bench_pump(&loop, (int)(warm * 1000));
	uint64_t rj0, rj1;
	double c0 = bench_cpu_s(NULL), t0 = bench_now_s();
	uint64_t p0 = counted(calls, &rj0);
	usleep((useconds_t)(seconds * 1e6));
	double c1 = bench_cpu_s(NULL), t1 = bench_now_s();
	uint64_t p1 = counted(calls, &rj1);

	struct result res = {0, 0};
	int status = 0;
	if (read(fds[0], &res, sizeof res) != sizeof res)
		printf("warning: no result from the phones\n");
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status)) {
		printf("FAILED: the phones could not run (libsrtp2 in the child?)\n");
		return 1;
	}
	double pkts = (double)(p1 - p0);
	*cpu = (c1 - c0) / (t1 - t0) * 100;
	*us = pkts ? (c1 - c0) * 1e6 / pkts : 0;
	printf("    %s %d calls: %.1f%% of one core, %.2f us/packet, %.0f packets/s relayed "
	       "(expected %d); phones sent %llu, got back %llu; SRTP rejected %llu\n",
	       srtp ? "srtp" : "plain", calls, *cpu, *us, pkts / (t1 - t0), calls * 100,
	       (unsigned long long)res.sent, (unsigned long long)res.received,
	       (unsigned long long)rj1);
	if (pkts && pkts / (t1 - t0) < 0.95 * calls * 100)
		printf("note: %.0f packets/s relayed, not %d/s (machine busy?); the full rate at "
		       "this cost would be %.0f%% of one core\n",
		       pkts / (t1 - t0), calls * 100, *us * calls * 100 / 1e4);
	for (int i = 0; i < 2 * calls; i++)
		pbx_rtp_free(rtp[i]);
	for (int i = 0; i < 200 && pbx__media_sessions(); i++)
		bench_pump(&loop, 5);
	bench_pump(&loop, 50);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	int workers = argc > 2 ? atoi(argv[2]) : 1;
	struct pbx_media_cfg cfg;
	/* Two steps of SECONDS + about 1.5 s: 8 s keeps the run within 20 s. */
	if (seconds <= 0 || seconds > 8 || workers < 0 || workers > 64) {
		fprintf(stderr, "usage: %s [SECONDS <= 8 [WORKERS]]\n", argv[0]);
		return 2;
	}
	pbx_log_set_level(PBX_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	if (bench_nofile(4 * CALLS + 100))
		return 1;
	memset(&cfg, 0, sizeof cfg);
	cfg.workers = workers;
	cfg.port_min = 40000;
	cfg.port_max = 44999;
	cfg.timeout = 0;
	bench_pin(0);
	if (uv_loop_init(&loop) || pbx__media_start_with(&cfg, &loop)) {
		printf("FAILED: cannot start the media engine\n");
		return 1;
	}
	printf("    %d media worker(s), %.1f s per step, %d CPUs\n", pbx__media_workers(), seconds,
	       (int)uv_available_parallelism());
	double pcpu, pus, scpu, sus;
	int err =
		step(CALLS, false, seconds, &pcpu, &pus) || step(CALLS, true, seconds, &scpu, &sus);
	if (!err) {
		printf("srtp relay per-packet: %.2f us (plain %.2f us)\n", sus, pus);
		printf("srtp %d calls: %.1f%% CPU (plain %.1f%%)\n", CALLS, scpu, pcpu);
		printf("srtp relayed calls per core: %.0f\n", bench_calls_per_core(sus));
		printf("    plain relayed calls per core here: %.0f\n", bench_calls_per_core(pus));
	}
	pbx_media_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return err ? 1 : 0;
}
