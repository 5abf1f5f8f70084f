/**
 * @file rtp_blaster.c  G.711 RTP load for the relay benchmark (tests/bench/relay_load.py)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Plays both ends of many relayed calls at once: every call leg sends a
 * 172-byte RTP packet (12-byte header, 160 bytes of PCMU, payload type 0,
 * its own SSRC, sequence and timestamp) every 20 ms to the PBX's port for
 * that leg, from the local port that leg's SDP offered; what the PBX relays
 * back is read and counted.
 *
 * It is not one of the bench_* micro-benchmarks: relay_load.py compiles it
 * with cc into its temporary directory and runs it with arguments.
 *
 *     rtp_blaster MAPFILE SECONDS
 *
 * MAPFILE has one leg a line, "LOCAL_PORT PBX_PORT" (both on 127.0.0.1).
 * Legs may share a local port: there is one socket per distinct local port,
 * and the packets of one socket go out in batches with sendmmsg and come in
 * with recvmmsg, so that the generator spends its time on packets and not
 * on system calls (1,000 calls are 100,000 packets a second each way). The
 * PBX still sees one remote address per leg and one socket of its own per
 * leg, as with phones.
 *
 * The send clock is absolute (clock_nanosleep TIMER_ABSTIME), so sending
 * late does not drift the rate: a late slot is caught up at once. The legs
 * are spread over 20 slots of 1 ms, as phones' packets would be, not sent
 * in one burst every 20 ms. Each slot also drains every socket.
 *
 * Every second it prints one line of cumulative counters,
 *     t=SECONDS sent=N recv=N senderr=N lag_max_us=N
 * (t = when that slot was due, CLOCK_MONOTONIC since the start;
 * lag_max_us = the worst lateness of a slot in that second), and at the end
 * a line "done ...". The caller derives rates over any window from those
 * lines, so a generator that cannot keep up shows as a lower achieved rate,
 * never as a silent gap.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PTIME_NS 20000000L
#define SLOTS    20
#define PAYLOAD  160
#define HDR      12
#define BATCH    64
#define SOCKBUF  (4 * 1024 * 1024)

struct leg {
	int fd;
	struct sockaddr_in to;
	uint16_t seq;
	uint32_t ts, ssrc;
	uint8_t pkt[HDR + PAYLOAD];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long ns_of(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void ts_of(long long ns, struct timespec *t)
{
	t->tv_sec = ns / 1000000000LL;
	t->tv_nsec = ns % 1000000000LL;
}

/* The socket bound to 127.0.0.1:@p port, made on first use. */
static int sock_for(unsigned port, int *by_port, int *fds, size_t *nfds)
{
	if (by_port[port] >= 0)
		return by_port[port];
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	int sz = SOCKBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&me, sizeof me)) {
		fprintf(stderr, "bind 127.0.0.1:%u: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	by_port[port] = fd;
	fds[(*nfds)++] = fd;
	return fd;
}

static int by_fd(const void *a, const void *b)
{
	const struct leg *x = a, *y = b;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

static unsigned long long send_batch(int fd, struct mmsghdr *m, unsigned cnt,
				     unsigned long long *err)
{
	unsigned long long ok = 0;
	unsigned done = 0;
	while (done < cnt) {
		int r = sendmmsg(fd, m + done, cnt - done, 0);
		if (r <= 0) { /* the first message failed: count it and go on */
			(*err)++;
			done++;
			continue;
		}
		ok += (unsigned)r;
		done += (unsigned)r;
	}
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s MAPFILE SECONDS\n", argv[0]);
		return 2;
	}
	double seconds = atof(argv[2]);
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	static int by_port[65536];
	static int fds[65536];
	size_t nfds = 0;
	for (size_t i = 0; i < 65536; i++)
		by_port[i] = -1;
	size_t n = 0, cap = 0;
	struct leg *legs = NULL;
	unsigned lp, rp;
	srandom((unsigned)getpid());
	while (fscanf(f, "%u %u", &lp, &rp) == 2) {
		if (lp == 0 || lp > 65535 || rp == 0 || rp > 65535) {
			fprintf(stderr, "%s: bad port in line %zu\n", argv[1], n + 1);
			return 1;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			struct leg *more = realloc(legs, cap * sizeof *legs);
			if (!more) {
				perror("realloc");
				return 1;
			}
			legs = more;
		}
		struct leg *l = &legs[n];
		memset(l, 0, sizeof *l);
		if ((l->fd = sock_for(lp, by_port, fds, &nfds)) < 0)
			return 1;
		l->to.sin_family = AF_INET;
		l->to.sin_port = htons((uint16_t)rp);
		l->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l->seq = (uint16_t)random();
		l->ts = (uint32_t)random();
		l->ssrc = (uint32_t)random();
		l->pkt[0] = 0x80;
		l->pkt[1] = 0; /* PT 0, PCMU */
		l->pkt[8] = (uint8_t)(l->ssrc >> 24);
		l->pkt[9] = (uint8_t)(l->ssrc >> 16);
		l->pkt[10] = (uint8_t)(l->ssrc >> 8);
		l->pkt[11] = (uint8_t)l->ssrc;
		memset(l->pkt + HDR, 0xff, PAYLOAD); /* PCMU silence */
		n++;
	}
	fclose(f);
	if (!n) {
		fprintf(stderr, "%s: no legs\n", argv[1]);
		return 1;
	}
	/* Legs of one socket next to each other: one slot is then a few batches.
	 * A slot takes every SLOTS-th leg, so each socket's legs stay spread. */
	qsort(legs, n, sizeof *legs, by_fd);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	static struct mmsghdr tx[BATCH], rx[BATCH];
	static struct iovec txv[BATCH], rxv[BATCH];
	static uint8_t rxbuf[BATCH][2048];
	for (int i = 0; i < BATCH; i++) {
		rxv[i].iov_base = rxbuf[i];
		rxv[i].iov_len = sizeof rxbuf[i];
		rx[i].msg_hdr.msg_iov = &rxv[i];
		rx[i].msg_hdr.msg_iovlen = 1;
		tx[i].msg_hdr.msg_iov = &txv[i];
		tx[i].msg_hdr.msg_iovlen = 1;
		tx[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
	}

	unsigned long long sent = 0, recvd = 0, senderr = 0;
	long long lag_max = 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long t0 = ns_of(&now), end = t0 + (long long)(seconds * 1e9);
	long long next_report = t0 + 1000000000LL;
	const long long slot_ns = PTIME_NS / SLOTS;
	printf("start legs=%zu sockets=%zu pps_offered=%.0f\n", n, nfds, n * 1e9 / PTIME_NS);
	fflush(stdout);
	for (long long tick = 0; !stop; tick++) {
		long long due = t0 + tick * slot_ns;
		if (due >= end)
			break;
		struct timespec ts;
		ts_of(due, &ts);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long lag = ns_of(&now) - due;
		if (lag > lag_max)
			lag_max = lag;
		unsigned cnt = 0;
		int fd = -1;
		for (size_t i = (size_t)(tick % SLOTS); i < n; i += SLOTS) {
			struct leg *l = &legs[i];
			if (cnt == BATCH || (cnt && l->fd != fd)) {
				sent += send_batch(fd, tx, cnt, &senderr);
				cnt = 0;
			}
			fd = l->fd;
			l->pkt[2] = (uint8_t)(l->seq >> 8);
			l->pkt[3] = (uint8_t)l->seq;
			l->pkt[4] = (uint8_t)(l->ts >> 24);
			l->pkt[5] = (uint8_t)(l->ts >> 16);
			l->pkt[6] = (uint8_t)(l->ts >> 8);
			l->pkt[7] = (uint8_t)l->ts;
			l->seq++;
			l->ts += PAYLOAD;
			txv[cnt].iov_base = l->pkt;
			txv[cnt].iov_len = sizeof l->pkt;
			tx[cnt].msg_hdr.msg_name = &l->to;
			cnt++;
		}
		if (cnt)
			sent += send_batch(fd, tx, cnt, &senderr);
		for (size_t k = 0; k < nfds; k++) {
			int got;
			while ((got = recvmmsg(fds[k], rx, BATCH, MSG_DONTWAIT, NULL)) > 0) {
				recvd += (unsigned long long)got;
				if (got < BATCH)
					break;
			}
		}
		if (due >= next_report) {
			printf("t=%.3f sent=%llu recv=%llu senderr=%llu lag_max_us=%lld\n",
			       (due - t0) / 1e9, sent, recvd, senderr, lag_max / 1000);
			fflush(stdout);
			lag_max = 0;
			next_report += 1000000000LL;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("done t=%.3f sent=%llu recv=%llu senderr=%llu\n", (ns_of(&now) - t0) / 1e9, sent,
	       recvd, senderr);
	return 0;
}
