/**
 * @file bench_sip_tsx.c  Server non-INVITE transactions per second: parse, match, create, reply, end
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/bench/bench_sip_tsx [N]` (default 1,000,000, at most 20,000,000)
 * runs the registrar's hot path N times over UDP: a REGISTER with a fresh
 * branch is parsed, offered to sip_tsx_recv (a miss), gets its server
 * transaction and a 200, which stays stored for Timer J. The simulated
 * clock advances 1 ms every 5 transactions (5,000 REGISTER/s), so about
 * 160,000 transactions are alive at any time, as under that load for
 * real; the rest end by Timer J. Sending is a no-op.
 *
 * It also prints the heap held per completed transaction (key, stored
 * response, timers, table slot, allocator overhead): mallinfo2's bytes in
 * use at the peak, less those before, over the transactions then alive.
 * (A REGISTER over UDP is answered statelessly by the PBX now; this is what
 * a MESSAGE, SUBSCRIBE or OPTIONS costs for its 32 s.)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../channels/sip/sip_tsx.h"

#define N_DEFAULT 1000000UL
#define N_MAX     20000000UL

static int send_nop(void *arg, const struct sip_peer *dst, const char *buf, size_t len)
{
	(void)arg;
	(void)dst;
	(void)buf;
	(void)len;
	return 0;
}

static const struct sip_tsx_ops ops = {send_nop, NULL};

static const char ok[] = "SIP/2.0 200 OK\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport=5060\r\n"
			 "From: <sip:1001@pbx.local>;tag=a1\r\n"
			 "To: <sip:1001@pbx.local>;tag=r1\r\n"
			 "Call-ID: reg-1@192.0.2.1\r\n"
			 "CSeq: 2 REGISTER\r\n"
			 "Contact: <sip:1001@192.0.2.1:5060>;expires=3600\r\n"
			 "Content-Length: 0\r\n\r\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : N_DEFAULT;
	struct sip_timers ts;
	struct sip_tsx_layer *l;
	struct sip_peer src;
	unsigned peak = 0, at_peak = 0;
	size_t base, peak_bytes = 0;
	char buf[1024];
	double t0, dt;

	if (!n || n > N_MAX) {
		fprintf(stderr, "usage: %s [N <= %lu]\n", argv[0], N_MAX);
		return 2;
	}
	memset(&src, 0, sizeof(src));
	src.tp = PBX_TP_UDP;
	src.addr.ss_family = AF_INET;
	sip_timers_init(&ts, 0);
	if (sip_tsx_layer_alloc(&l, &ts, &ops, NULL)) {
		fprintf(stderr, "sip_tsx_layer_alloc failed\n");
		return 1;
	}

	base = mallinfo2().uordblks;
	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		struct sip_msg m;
		struct sip_stsx *t;
		const char *reason;
		int len = snprintf(
			buf, sizeof(buf),
			"REGISTER sip:pbx.local SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%08lx%04lx;rport\r\n"
			"Max-Forwards: 70\r\n"
			"From: <sip:1001@pbx.local>;tag=a1\r\n"
			"To: <sip:1001@pbx.local>\r\n"
			"Call-ID: reg-1@192.0.2.1\r\n"
			"CSeq: 2 REGISTER\r\n"
			"Contact: <sip:1001@192.0.2.1:5060>\r\n"
			"Expires: 3600\r\n"
			"User-Agent: bench\r\n"
			"Content-Length: 0\r\n\r\n",
			i, i & 0xffff);
		if (sip_msg_parse(&m, buf, (size_t)len, &reason) || sip_tsx_recv(l, &m, &src) ||
		    sip_stsx_alloc(&t, l, &m, &src) || sip_stsx_reply(t, 200, ok, sizeof(ok) - 1)) {
			fprintf(stderr, "transaction %lu failed\n", i);
			return 1;
		}
		if (i % 5 == 4)
			sip_timers_run(&ts, ts.now + 1);
		if (sip_tsx_count(l) > peak)
			peak = sip_tsx_count(l);
		if (i % 20000 == 19999) { /* mallinfo2 walks the bins: now and then */
			size_t used = mallinfo2().uordblks;
			if (used > peak_bytes) {
				peak_bytes = used;
				at_peak = sip_tsx_count(l);
			}
		}
	}
	sip_timers_run(&ts, ts.now + SIP_TIMER_64T1);
	dt = now_s() - t0;

	if (sip_tsx_count(l)) {
		fprintf(stderr, "%u transactions left\n", sip_tsx_count(l));
		return 1;
	}
	sip_tsx_layer_free(l);
	sip_timers_free(&ts);
	printf("sip_tsx server REGISTER: %.0f tsx/s\n", (double)n / dt);
	if (at_peak)
		printf("sip_tsx memory per completed transaction: %.0f bytes\n",
		       (double)(peak_bytes - base) / at_peak);
	fprintf(stderr, "(%lu transactions in %.3f s, at most %u alive)\n", n, dt, peak);
	return 0;
}
