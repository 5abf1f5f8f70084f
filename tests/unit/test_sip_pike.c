/**
 * @file test_sip_pike.c  Flood guard table: off, block, sliding window, renewal, end, ignore, IPv6, console walk, bounded size
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../../channels/sip/sip_pike.h"
#include "unit.h"

/* More than 10 requests within 2 s block an address for 60 s. */
#define RATE  10
#define WIN_S 2
#define BLK_S 60
#define W     (WIN_S * 1000)
#define BLK   (BLK_S * 1000)

static const struct sockaddr *sa(struct sockaddr_storage *ss, const char *ip, int port)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	}
	return (const struct sockaddr *)ss;
}

struct ends {
	int n;
	struct sip_pike_info last;
};

static void on_end(const struct sip_pike_info *info, void *arg)
{
	struct ends *e = arg;
	e->n++;
	e->last = *info;
}

static struct sip_pike *mk_with(int rate, const struct sip_ban_net *ignore, int n_ignore,
				struct ends *ends)
{
	struct sip_pike *p;
	const struct sip_pike_conf conf = {rate, WIN_S, BLK_S, ignore, n_ignore, on_end, ends};
	assert_int_equal(sip_pike_alloc(&p, &conf), 0);
	return p;
}

static struct sip_pike *mk(struct ends *ends)
{
	return mk_with(RATE, NULL, 0, ends);
}

/* @n requests from @a at @t; every verdict must be @want. */
static void send_n(struct sip_pike *p, const struct sockaddr *a, int n, int64_t t,
		   enum sip_pike_verdict want)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(sip_pike_request(p, a, t, NULL), want);
}

/* sip.pike_rate = 0, the default: nothing is counted nor blocked. */
static void test_off(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk_with(0, NULL, 0, &ends);
	struct sockaddr_storage s;
	assert_false(sip_pike_enabled(p));
	send_n(p, sa(&s, "192.0.2.1", 5060), 100000, 1000, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_count(p), 0);
	assert_int_equal(sip_pike_remove(p, "192.0.2.1", 1000), ENOENT);
	sip_pike_free(p);
}

/* The flooder is blocked after RATE requests; its neighbour, and the port
 * it comes from, do not matter: the address does. */
static void test_block_spares_others(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s1, s2, s3;
	struct sip_pike_info info;
	const struct sockaddr *a = sa(&s1, "192.0.2.7", 5060);
	assert_true(sip_pike_enabled(p));
	for (int i = 0; i < RATE; i++)
		assert_int_equal(sip_pike_request(p, a, 1000 + i * 10, NULL), SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, sa(&s2, "192.0.2.7", 40000), 1200, &info),
			 SIP_PIKE_BLOCK);
	assert_string_equal(info.addr, "192.0.2.7");
	assert_true(info.blocked);
	assert_int_equal(info.rate, RATE + 1);
	assert_int_equal(info.during, 1);
	assert_int_equal(info.remaining_ms, BLK);
	/* Blocked: dropped, never a second BLOCK (one log line a ban). */
	send_n(p, a, 1000, 1300, SIP_PIKE_DROP);
	send_n(p, a, 5, 1000 + BLK - 1, SIP_PIKE_DROP);
	/* The neighbour sends a phone's share and is never blocked. */
	const struct sockaddr *b = sa(&s3, "192.0.2.8", 5060);
	for (int t = 0; t < 25; t++) /* 50 s, while the other is blocked */
		send_n(p, b, RATE / 2, 1000 + t * W, SIP_PIKE_PASS);
	assert_int_equal(ends.n, 0);
	sip_pike_free(p);
}

/* The window slides: RATE at the end of one window and a few at the start
 * of the next are within one window_s of each other, and block. */
static void test_sliding_window(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s1, s2;
	const struct sockaddr *a = sa(&s1, "192.0.2.1", 5060);
	send_n(p, a, 1, 0, SIP_PIKE_PASS);              /* the window starts at 0 */
	send_n(p, a, RATE - 1, W - 100, SIP_PIKE_PASS); /* RATE at the window's end */
	/* 200 ms later 95% of the last window still counts: 9 (rounded down)
	 * and 1, then 9 and 2. */
	assert_int_equal(sip_pike_request(p, a, W + 100, NULL), SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, a, W + 100, NULL), SIP_PIKE_BLOCK);
	/* Spread evenly just under the rate, a source is never blocked. (At
	 * the rate exactly, a window holds RATE + 1: both of its ends.) */
	const struct sockaddr *b = sa(&s2, "192.0.2.2", 5060);
	for (int i = 0; i < 10 * RATE; i++)
		assert_int_equal(sip_pike_request(p, b, 5000 + (int64_t)i * (W / RATE + 10), NULL),
				 SIP_PIKE_PASS);
	sip_pike_free(p);
}

/* A block ends after pike_time for a source that slowed down; one that
 * still floods stays blocked, as the same ban. */
static void test_block_ends_or_goes_on(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s1, s2;
	const struct sockaddr *a = sa(&s1, "192.0.2.1", 5060);
	send_n(p, a, RATE, 0, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, a, 0, NULL), SIP_PIKE_BLOCK);
	send_n(p, a, 4, 30000, SIP_PIKE_DROP);
	/* Quiet then polite: answered again once the block is over. It was
	 * quiet for a window, so the end is told as it is forgotten. */
	assert_int_equal(sip_pike_request(p, a, BLK, NULL), SIP_PIKE_PASS);
	assert_int_equal(ends.n, 1);
	assert_string_equal(ends.last.addr, "192.0.2.1");
	assert_false(ends.last.blocked);
	assert_false(ends.last.evicted);
	assert_int_equal(ends.last.during, 5); /* the BLOCK one and 4 */
	assert_int_equal(ends.last.blocked_ms, BLK);
	send_n(p, a, RATE - 1, BLK + 10, SIP_PIKE_PASS);
	/* And blocked anew, logged anew: this is another flood. */
	assert_int_equal(sip_pike_request(p, a, BLK + 20, NULL), SIP_PIKE_BLOCK);

	/* Flooding through the end of its block: dropped on, no new BLOCK. */
	const struct sockaddr *b = sa(&s2, "192.0.2.2", 5060);
	int64_t t = 1000000;
	send_n(p, b, RATE, t, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, b, t, NULL), SIP_PIKE_BLOCK);
	int ends_before = ends.n;
	for (int64_t u = t; u < t + 3 * BLK; u += 50)
		assert_int_equal(sip_pike_request(p, b, u, NULL), SIP_PIKE_DROP);
	assert_int_equal(ends.n, ends_before);
	/* Gone quiet, it is forgotten a window after its block ends, and the
	 * end is told then: another source's request runs the expiry. (The
	 * first source's second block was told ended at b's first request.) */
	int64_t end = t + 3 * BLK; /* renewed at t + BLK and t + 2 * BLK */
	struct sockaddr_storage s3;
	assert_int_equal(sip_pike_request(p, sa(&s3, "192.0.2.3", 5060), end + W, NULL),
			 SIP_PIKE_PASS);
	assert_int_equal(ends_before, 2);
	assert_int_equal(ends.n, ends_before + 1);
	assert_string_equal(ends.last.addr, "192.0.2.2");
	assert_true(ends.last.during > 3 * BLK / 50);
	assert_int_equal(ends.last.blocked_ms, 3 * BLK);
	sip_pike_free(p);
}

/* Idle sources are forgotten after a window; the table does not grow with
 * sources that sent once. */
static void test_expiry(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s;
	char ip[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
		send_n(p, sa(&s, ip, 5060), 1, 100 + i, SIP_PIKE_PASS);
	}
	assert_int_equal(sip_pike_count(p), 1000);
	send_n(p, sa(&s, "192.0.2.1", 5060), 1, 100 + 999 + W, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_count(p), 1);
	assert_int_equal(ends.n, 0); /* none was blocked */
	sip_pike_free(p);
}

static void test_ignore(void **state)
{
	struct ends ends = {0};
	struct sip_ban_net nets[2];
	const char *why;
	assert_int_equal(sip_ban_net_parse(&nets[0], "192.0.2.0/24", &why), 0);
	assert_int_equal(sip_ban_net_parse(&nets[1], "2001:db8::/32", &why), 0);
	struct sip_pike *p = mk_with(RATE, nets, 2, &ends);
	struct sockaddr_storage s;
	send_n(p, sa(&s, "192.0.2.200", 5060), 10 * RATE, 0, SIP_PIKE_PASS);
	send_n(p, sa(&s, "::ffff:192.0.2.200", 5060), 10 * RATE, 0, SIP_PIKE_PASS);
	send_n(p, sa(&s, "2001:db8:5::1", 5060), 10 * RATE, 0, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_count(p), 0);
	send_n(p, sa(&s, "192.0.3.1", 5060), RATE, 0, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, sa(&s, "192.0.3.1", 5060), 0, NULL), SIP_PIKE_BLOCK);
	sip_pike_free(p);
}

/* IPv6 keys by the whole address; IPv4-mapped is the IPv4 host. */
static void test_ipv6_and_mapped(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s1, s2, s3;
	struct sip_pike_info info;
	const struct sockaddr *m = sa(&s1, "::ffff:192.0.2.9", 5060);
	const struct sockaddr *v4 = sa(&s2, "192.0.2.9", 6000);
	send_n(p, m, RATE / 2, 0, SIP_PIKE_PASS);
	send_n(p, v4, RATE / 2, 0, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, m, 0, &info), SIP_PIKE_BLOCK);
	assert_string_equal(info.addr, "192.0.2.9");
	assert_int_equal(sip_pike_request(p, v4, 1, NULL), SIP_PIKE_DROP);
	const struct sockaddr *v6 = sa(&s3, "2001:db8::42", 5060);
	send_n(p, v6, RATE, 0, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, v6, 0, &info), SIP_PIKE_BLOCK);
	assert_string_equal(info.addr, "2001:db8::42");
	send_n(p, sa(&s3, "2001:db8::43", 5060), RATE, 0, SIP_PIKE_PASS);
	/* Other families are never counted. */
	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_int_equal(sip_pike_request(p, &un, 0, NULL), SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, NULL, 0, NULL), SIP_PIKE_PASS);
	sip_pike_free(p);
}

struct seen {
	int n;
	struct sip_pike_info info[4];
};

static int collect(const struct sip_pike_info *info, void *arg)
{
	struct seen *s = arg;
	if (s->n == 4)
		return 7;
	s->info[s->n++] = *info;
	return 0;
}

/* @a floods until blocked at @t. */
static void flood(struct sip_pike *p, const struct sockaddr *a, int64_t t)
{
	send_n(p, a, RATE, t, SIP_PIKE_PASS);
	assert_int_equal(sip_pike_request(p, a, t, NULL), SIP_PIKE_BLOCK);
}

/* The console lists blocks, and `sip unban` lifts one. */
static void test_each_and_remove(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s1, s2, s3;
	struct seen seen = {0};
	const struct sockaddr *v4 = sa(&s1, "192.0.2.1", 5060);
	const struct sockaddr *v6 = sa(&s2, "2001:db8::1", 5060);
	flood(p, v4, 1000);
	flood(p, v6, 2000);
	send_n(p, sa(&s3, "192.0.2.3", 5060), 3, 2000, SIP_PIKE_PASS); /* counted only */
	assert_int_equal(sip_pike_each(p, collect, &seen, 2500), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.info[0].addr, "192.0.2.1");
	assert_int_equal(seen.info[0].remaining_ms, BLK - 1500);
	assert_int_equal(seen.info[0].blocked_ms, 1500);
	assert_int_equal(seen.info[0].during, 1);
	assert_string_equal(seen.info[1].addr, "2001:db8::1");
	assert_int_equal(seen.info[1].rate, RATE + 1);
	/* A callback's non-zero stops the walk. */
	seen.n = 4;
	assert_int_equal(sip_pike_each(p, collect, &seen, 2500), 7);
	assert_int_equal(sip_pike_remove(p, "192.0.2.3", 2500), ENOENT); /* not blocked */
	assert_int_equal(sip_pike_remove(p, "192.0.2.1", 2500), 0);
	assert_int_equal(sip_pike_remove(p, "192.0.2.1", 2500), ENOENT);
	assert_int_equal(sip_pike_request(p, v4, 2500, NULL), SIP_PIKE_PASS);
	assert_int_equal(sip_pike_remove(p, "[2001:DB8:0::1]", 2500), 0);
	assert_int_equal(sip_pike_request(p, v6, 2500, NULL), SIP_PIKE_PASS);
	assert_int_equal(ends.n, 0); /* lifted by hand: no end notice */
	const char *bad[] = {"",
			     "host",
			     "192.0.2.1:5060",
			     "[192.0.2.1]",
			     "[]",
			     "1001@192.0.2.1",
			     "0123456789012345678901234567890123456789012345678901"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(sip_pike_remove(p, bad[i], 2500), EINVAL);
	assert_int_equal(sip_pike_remove(p, NULL, 2500), EINVAL);
	/* The walk sweeps ended blocks and tells their end. */
	flood(p, v4, 10000);
	seen.n = 0;
	assert_int_equal(sip_pike_each(p, collect, &seen, 10000 + BLK), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(ends.n, 1);
	assert_int_equal(sip_pike_count(p), 0);
	sip_pike_free(p);
}

/* A flood of forged sources fills the table and no more; a real flooder,
 * heard from all along, keeps its block. */
static void test_bounded(void **state)
{
	struct ends ends = {0};
	struct sip_pike *p = mk(&ends);
	struct sockaddr_storage s1, s2;
	char ip[64];
	const struct sockaddr *real = sa(&s1, "192.0.2.1", 5060);
	flood(p, real, 0);
	for (int i = 0; i < 4 * SIP_PIKE_MAX; i++) {
		snprintf(ip, sizeof ip, "2001:db8::%x:%x", i >> 16, i & 0xffff);
		assert_int_equal(sip_pike_request(p, sa(&s2, ip, 5060), 10, NULL), SIP_PIKE_PASS);
		assert_true(sip_pike_count(p) <= SIP_PIKE_MAX);
		if (i % 1000 == 0)
			assert_int_equal(sip_pike_request(p, real, 10, NULL), SIP_PIKE_DROP);
	}
	assert_int_equal(sip_pike_count(p), SIP_PIKE_MAX);
	assert_int_equal(ends.n, 0);
	/* A blocked source gone quiet is forgotten when room is needed, and
	 * its end told as early. */
	for (int i = 0; i < SIP_PIKE_MAX; i++) {
		snprintf(ip, sizeof ip, "10.%d.%d.1", i >> 8, i & 0xff);
		sip_pike_request(p, sa(&s2, ip, 5060), 20, NULL);
	}
	assert_int_equal(ends.n, 1);
	assert_true(ends.last.evicted);
	assert_string_equal(ends.last.addr, "192.0.2.1");
	assert_int_equal(sip_pike_count(p), SIP_PIKE_MAX);
	sip_pike_free(p);
}

static void test_alloc_args(void **state)
{
	struct sip_pike *p = (struct sip_pike *)1;
	struct sip_ban_net n = {0};
	const struct sip_pike_conf bad[] = {
		{-1, WIN_S, BLK_S, NULL, 0, NULL, NULL},
		{RATE, 0, BLK_S, NULL, 0, NULL, NULL},
		{RATE, WIN_S, 0, NULL, 0, NULL, NULL},
		{RATE, 86401, BLK_S, NULL, 0, NULL, NULL},
		{RATE, WIN_S, 86401, NULL, 0, NULL, NULL},
		{RATE, WIN_S, BLK_S, NULL, 1, NULL, NULL},
		{RATE, WIN_S, BLK_S, &n, -1, NULL, NULL},
		{RATE, WIN_S, BLK_S, &n, 257, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(sip_pike_alloc(&p, &bad[i]), EINVAL);
		assert_null(p);
	}
	const struct sip_pike_conf ok = {1, 1, 1, &n, 1, NULL, NULL};
	assert_int_equal(sip_pike_alloc(&p, &ok), 0);
	sip_pike_free(p);
	sip_pike_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_off),
	cmocka_unit_test(test_block_spares_others),
	cmocka_unit_test(test_sliding_window),
	cmocka_unit_test(test_block_ends_or_goes_on),
	cmocka_unit_test(test_expiry),
	cmocka_unit_test(test_ignore),
	cmocka_unit_test(test_ipv6_and_mapped),
	cmocka_unit_test(test_each_and_remove),
	cmocka_unit_test(test_bounded),
	cmocka_unit_test(test_alloc_args),
};

UNIT_GROUP(sip_pike, tests, NULL, NULL);
