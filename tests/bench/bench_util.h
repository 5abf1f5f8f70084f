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
#include <dirent.h>
#include <sched.h>
#include <errno.h>
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

/*
 * The PBX on one core, its load on the other, as the figures in README are
 * taken (SIPp pinned apart from the PBX): the PBX process (its workers
 * inherit) on CPU 0, the phones' child on CPU 1. Nothing is pinned on a
 * machine with one CPU, or where the kernel refuses (a container's mask).
 */
static inline void bench_pin(int cpu)
{
	cpu_set_t set;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		fprintf(stderr, "note: not pinned to CPU %d: %s\n", cpu, strerror(errno));
}

/*
 * Raise RLIMIT_NOFILE to its hard limit; 0 when @p need descriptors fit,
 * else 1 after a FAILED line (the benches keep a few sockets per call).
 */
static inline int bench_nofile(unsigned long need)
{
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < need) {
		printf("FAILED: need %lu file descriptors, RLIMIT_NOFILE is %llu\n", need,
		       (unsigned long long)rl.rlim_cur);
		return 1;
	}
	return 0;
}

/*
 * A pipe and a child (the phones, which the caller pins and runs when
 * *@p pid is 0): 0 in parent and child, or 1 after a FAILED line.
 */
static inline int bench_fork_pipe(int fds[2], pid_t *pid)
{
	if (pipe(fds)) {
		printf("FAILED: pipe: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	if ((*pid = fork()) < 0) {
		printf("FAILED: fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return 1;
	}
	return 0;
}

static inline double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep until @p end (bench_now_s's clock) without waking the process: the window's CPU is the engine's. */
static inline void bench_sleep_until(double end)
{
	double left;
	while ((left = end - bench_now_s()) > 0) {
		struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

/*
 * Seconds the hypervisor ran something else while CPU @p cpu had work
 * ("steal" in /proc/stat): a stall no thread of ours can see as a wait.
 * 0 outside a virtual machine, -1 if unknown.
 */
static inline double bench_steal_s(int cpu)
{
	char line[256], want[16];
	double s = -1;
	FILE *f = fopen("/proc/stat", "r");
	snprintf(want, sizeof want, "cpu%d ", cpu);
	while (f && fgets(line, sizeof line, f)) {
		unsigned long long steal;
		if (!strncmp(line, want, strlen(want)) &&
		    sscanf(line + strlen(want), "%*u %*u %*u %*u %*u %*u %*u %llu", &steal) == 1)
			s = (double)steal / (double)sysconf(_SC_CLK_TCK);
	}
	if (f)
		fclose(f);
	return s;
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

/* CPU of some of this process's threads, as bench_threads_cpu reads it. */
struct bench_tcpu {
	double run_s;            /* exact: the scheduler's runtime (schedstat) */
	double wait_s;           /* runnable but waiting for a CPU (schedstat) */
	unsigned long long runs; /* times it was given a CPU (schedstat) */
	unsigned long long u, s; /* clock ticks in user and system mode (stat) */
};

/*
 * Some of this process's threads by id. libuv's thread pool is started by
 * the first thread to queue work and its threads inherit that thread's
 * name: when a media worker's recorder starts it, they are all called
 * "pbx-media-0" too, and only their ids, taken before, tell the worker apart.
 */
#define BENCH_MAX_TIDS 16
struct bench_tids {
	int n;
	long tid[BENCH_MAX_TIDS];
};

/* The ids of this process's threads whose name starts with @p prefix, now. 0, or -1. */
static inline int bench_threads_tids(const char *prefix, struct bench_tids *t)
{
	char path[64], name[32];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	t->n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) && t->n < BENCH_MAX_TIDS) {
		if (e->d_name[0] == '.' || strlen(e->d_name) > 20)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof name, f) && !strncmp(name, prefix, strlen(prefix)))
			t->tid[t->n++] = strtol(e->d_name, NULL, 10);
		fclose(f);
	}
	closedir(d);
	return 0;
}

/*
 * The CPU of this process's threads whose name starts with @p prefix
 * ("pbx-media"; "" for all), and when @p only is not NULL, whose id is
 * in it. 0, or -1 if /proc cannot be read.
 *
 * The kernel splits a thread's time into user and system by sampling
 * (ticks of 10 ms), scaled to its exact total and never going back, so a
 * thread whose mix changed (it relayed before and transcodes now) shows a
 * wrong split for a while: take a split from threads started for it, and
 * from a window of a few hundred ticks (bench_tcpu_split).
 */
static inline int bench_threads_cpu_of(const char *prefix, const struct bench_tids *only,
				       struct bench_tcpu *c)
{
	char path[64], line[512];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	memset(c, 0, sizeof *c);
	if (!d)
		return -1;
	/* Bounded by the process's threads: a handful. */
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) > 20)
			continue;
		if (only) {
			long tid = strtol(e->d_name, NULL, 10);
			int i = 0;
			while (i < only->n && only->tid[i] != tid)
				i++;
			if (i == only->n)
				continue;
		}
		snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char *got = fgets(line, sizeof line, f);
		fclose(f);
		/* "TID (NAME) STATE ...": NAME may hold spaces, so from the last ')'. */
		char *open = got ? strchr(line, '(') : NULL,
		     *close = got ? strrchr(line, ')') : NULL;
		unsigned long long u, s, ns, wait, runs;
		if (!open || !close || close < open || strncmp(open + 1, prefix, strlen(prefix)) ||
		    sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u,
			   &s) != 2)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%llu %llu %llu", &ns, &wait, &runs) == 3) {
			c->run_s += (double)ns / 1e9;
			c->wait_s += (double)wait / 1e9;
			c->runs += runs;
			c->u += u;
			c->s += s;
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

static inline int bench_threads_cpu(const char *prefix, struct bench_tcpu *c)
{
	return bench_threads_cpu_of(prefix, NULL, c);
}

/* User and system seconds from @p a to @p b: the exact time, split as the ticks were. */
static inline void bench_tcpu_split(const struct bench_tcpu *a, const struct bench_tcpu *b,
				    double *user, double *sys)
{
	double run = b->run_s - a->run_s;
	unsigned long long du = b->u - a->u, ds = b->s - a->s;
	*user = du + ds ? run * (double)du / (double)(du + ds) : 0;
	*sys = run - *user;
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

/*
 * @p n phone sockets bound to loopback, their addresses in @p addr. A 1 MiB
 * receive buffer each: the phones read once a millisecond, and a busy
 * machine can keep them from it for a while. 0 or an errno value.
 */
static inline int bench_phone_socks(int *socks, struct sockaddr_in *addr, int n)
{
	for (int s = 0; s < n; s++) {
		socklen_t len = sizeof addr[s];
		int buf = 1 << 20;
		socks[s] = socket(AF_INET, SOCK_DGRAM, 0);
		addr[s] = bench_lo(0);
		if (socks[s] < 0)
			return errno;
		setsockopt(socks[s], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
		if (bind(socks[s], (struct sockaddr *)&addr[s], sizeof addr[s]) ||
		    getsockname(socks[s], (struct sockaddr *)&addr[s], &len))
			return errno;
	}
	return 0;
}

/* Send @p n prepared datagrams on @p sock; returns how many went. */
static inline int bench_sendmmsg(int sock, struct mmsghdr *m, int n)
{
	int off = 0;
	while (off < n) {
		int r = sendmmsg(sock, m + off, (unsigned)(n - off), 0);
		if (r <= 0)
			break;
		off += r;
	}
	return off;
}

/* Sleep until 1 ms after *@p next, on an absolute clock: a late tick does not delay the rest. */
static inline void bench_tick_wait(struct timespec *next)
{
	next->tv_nsec += 1000000;
	if (next->tv_nsec >= 1000000000) {
		next->tv_nsec -= 1000000000;
		next->tv_sec++;
	}
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL);
}

/*
 * Calls one core could carry at @p us_per_packet of CPU per relayed packet:
 * a call of 20 ms packets is 50 packets/s from each phone, so 100 packets/s
 * through the PBX. Through the measured cost per packet rather than the CPU
 * share, so that a step the phones could not feed in full on a busy machine
 * still gives the figure; at the full rate both are the same.
 */
static inline double bench_calls_per_core(double us_per_packet)
{
	return us_per_packet > 0 ? 1e6 / (us_per_packet * 100) : 0;
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
