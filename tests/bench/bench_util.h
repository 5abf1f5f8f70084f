/**
 * @file bench_util.h  Clock, CPU, memory and loopback helpers shared by the C benchmarks
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Static functions in a header: each benchmark is its own program, built
 * from one .c file (tests/bench/bench_*.c), so there is nothing to link.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static inline double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this process, user + system; user alone in *user when not NULL. */
static inline double bench_cpu_s(double *user)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double u = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	if (user)
		*user = u;
	return u + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline long bench_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* Run @p loop's events for @p ms (the signalling side of the media engine). */
static inline void bench_pump(uv_loop_t *loop, int ms)
{
	double end = bench_now_s() + ms / 1000.0;
	do {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	} while (bench_now_s() < end);
}

static inline struct sockaddr_in bench_lo(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	return a;
}

/* Count and discard what waits on @p n phone sockets, 64 datagrams per call. */
static inline void bench_drain(const int *socks, int n, uint64_t *received)
{
	static uint8_t bufs[64][256];
	struct mmsghdr m[64];
	struct iovec iov[64];
	for (int i = 0; i < 64; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof bufs[i];
		memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (int s = 0; s < n; s++) {
		int got;
		while ((got = recvmmsg(socks[s], m, 64, MSG_DONTWAIT, NULL)) > 0) {
			*received += (uint64_t)got;
			if (got < 64)
				break;
		}
	}
}

#endif
