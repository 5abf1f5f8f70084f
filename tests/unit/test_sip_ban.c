/**
 * @file test_sip_ban.c  Address ban table: threshold, window, expiry, unban, IPv6, bounded size
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../../channels/sip/sip_ban.h"
#include "unit.h"

/* Threshold 3 within 60 s bans for 300 s. */
#define THR 3
#define WIN 60
#define BAN 300

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

static struct sip_ban *mk(void)
{
	struct sip_ban *b;
	assert_int_equal(sip_ban_alloc(&b, THR, WIN, BAN), 0);
	return b;
}

/* sip.ban_threshold = 0: failures are counted, nobody is banned. */
static void test_threshold_zero_never_bans(void **state)
{
	struct sip_ban *b;
	struct sockaddr_storage s1;
	const struct sockaddr *a = sa(&s1, "192.0.2.9", 5060);
	assert_int_equal(sip_ban_alloc(&b, 0, WIN, BAN), 0);
	for (int i = 0; i < 100; i++)
		assert_false(sip_ban_fail(b, a, 100));
	assert_false(sip_ban_check(b, a, 100));
	sip_ban_free(b);
}

static void test_threshold(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2, s3;
	const struct sockaddr *a = sa(&s1, "192.0.2.7", 5060);
	assert_false(sip_ban_check(b, a, 100));
	assert_false(sip_ban_fail(b, a, 100));
	assert_false(sip_ban_fail(b, sa(&s2, "192.0.2.7", 40000), 110)); /* port changes */
	assert_false(sip_ban_check(b, a, 110));
	assert_true(sip_ban_fail(b, a, 159)); /* third within 60 s */
	assert_true(sip_ban_check(b, a, 159));
	assert_true(sip_ban_check(b, sa(&s2, "192.0.2.7", 1), 160)); /* IP only */
	assert_false(sip_ban_check(b, sa(&s3, "192.0.2.8", 5060), 160));
	/* Further failures while banned change nothing. */
	assert_false(sip_ban_fail(b, a, 161));
	assert_int_equal(sip_ban_count(b), 1);
	sip_ban_free(b);
}

static void test_window_spread(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	const struct sockaddr *a = sa(&s, "198.51.100.1", 5060);
	/* Two failures a window, for ten windows: never three within one. */
	for (int64_t t = 0; t < 10 * WIN; t += WIN / 2 + 1)
		assert_false(sip_ban_fail(b, a, 1000 + t));
	assert_false(sip_ban_check(b, a, 1000 + 10 * WIN));
	/* A counter whose window ended is dropped. */
	assert_int_equal(sip_ban_count(b), 1);
	assert_false(sip_ban_check(b, a, 1000 + 20 * WIN));
	assert_int_equal(sip_ban_count(b), 0);
	sip_ban_free(b);
}

static void test_expiry(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	const struct sockaddr *a = sa(&s, "203.0.113.9", 5060);
	for (int i = 0; i < THR; i++)
		sip_ban_fail(b, a, 10);
	assert_true(sip_ban_check(b, a, 10 + BAN - 1));
	assert_false(sip_ban_check(b, a, 10 + BAN));
	assert_int_equal(sip_ban_count(b), 0);
	/* Counting starts over after a ban. */
	assert_false(sip_ban_fail(b, a, 10 + BAN));
	assert_false(sip_ban_fail(b, a, 10 + BAN));
	assert_true(sip_ban_fail(b, a, 10 + BAN));
	sip_ban_free(b);
}

static void test_success_resets(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	const struct sockaddr *a = sa(&s, "192.0.2.50", 5060);
	sip_ban_fail(b, a, 1);
	sip_ban_fail(b, a, 2);
	sip_ban_success(b, a, 3);
	assert_int_equal(sip_ban_count(b), 0);
	assert_false(sip_ban_fail(b, a, 4));
	assert_false(sip_ban_fail(b, a, 5));
	assert_false(sip_ban_check(b, a, 5));
	assert_true(sip_ban_fail(b, a, 6));
	/* A banned address is not forgiven by a stray success. */
	sip_ban_success(b, a, 7);
	assert_true(sip_ban_check(b, a, 7));
	sip_ban_free(b);
}

static void test_unban(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2, s3;
	const struct sockaddr *v4 = sa(&s1, "192.0.2.1", 5060);
	const struct sockaddr *v6 = sa(&s2, "2001:db8::1", 5060);
	const struct sockaddr *counted = sa(&s3, "192.0.2.2", 5060);
	for (int i = 0; i < THR; i++) {
		sip_ban_fail(b, v4, 100);
		sip_ban_fail(b, v6, 100);
	}
	sip_ban_fail(b, counted, 100);
	assert_int_equal(sip_ban_remove(b, "192.0.2.1"), 0);
	assert_false(sip_ban_check(b, v4, 101));
	assert_int_equal(sip_ban_remove(b, "192.0.2.1"), ENOENT);
	assert_int_equal(sip_ban_remove(b, "192.0.2.2"), ENOENT); /* counted, not banned */
	assert_int_equal(sip_ban_remove(b, "192.0.2.99"), ENOENT);
	assert_int_equal(sip_ban_remove(b, "[2001:DB8:0::1]"), 0);
	assert_false(sip_ban_check(b, v6, 101));
	assert_int_equal(sip_ban_remove(b, "not-an-address"), EINVAL);
	assert_int_equal(sip_ban_remove(b, ""), EINVAL);
	assert_int_equal(sip_ban_remove(b, NULL), EINVAL);
	assert_int_equal(sip_ban_remove(b, "192.0.2.1:5060"), EINVAL);
	assert_int_equal(sip_ban_remove(b, "[192.0.2.1]"), EINVAL);
	assert_int_equal(sip_ban_remove(b, "[]"), EINVAL);
	assert_int_equal(sip_ban_remove(b, "2001:db8::1::2"), EINVAL);
	assert_int_equal(sip_ban_remove(b, "0123456789012345678901234567890123456789012345678901"),
			 EINVAL);
	sip_ban_free(b);
}

static void test_ipv6(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2, s3, s4;
	const struct sockaddr *a = sa(&s1, "2001:db8:1::42", 5060);
	for (int i = 0; i < THR - 1; i++)
		assert_false(sip_ban_fail(b, a, 50));
	assert_true(sip_ban_fail(b, sa(&s2, "2001:db8:1::42", 5070), 51));
	assert_true(sip_ban_check(b, a, 52));
	assert_false(sip_ban_check(b, sa(&s3, "2001:db8:1::43", 5060), 52));
	/* IPv4-mapped IPv6 (a dual-stack socket) is the same host as IPv4. */
	const struct sockaddr *m = sa(&s3, "::ffff:192.0.2.9", 5060);
	const struct sockaddr *v4 = sa(&s4, "192.0.2.9", 6000);
	sip_ban_fail(b, m, 60);
	sip_ban_fail(b, v4, 60);
	assert_true(sip_ban_fail(b, m, 60));
	assert_true(sip_ban_check(b, v4, 61));
	assert_int_equal(sip_ban_remove(b, "::ffff:192.0.2.9"), 0);
	assert_false(sip_ban_check(b, m, 61));
	/* Other address families are never banned. */
	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_false(sip_ban_fail(b, &un, 62));
	assert_false(sip_ban_check(b, &un, 62));
	assert_false(sip_ban_check(b, NULL, 62));
	sip_ban_success(b, &un, 62);
	sip_ban_free(b);
}

struct seen {
	int n;
	char addr[4][64];
	unsigned failures[4];
	int64_t remaining[4];
};

static int collect(const char *addr, unsigned failures, int64_t remaining_s, void *arg)
{
	struct seen *s = arg;
	if (s->n == 4)
		return 7;
	snprintf(s->addr[s->n], sizeof s->addr[s->n], "%s", addr);
	s->failures[s->n] = failures;
	s->remaining[s->n++] = remaining_s;
	return 0;
}

static void test_each(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	struct seen seen = {0};
	for (int i = 0; i < THR; i++)
		sip_ban_fail(b, sa(&s, "2001:db8::5", 5060), 1000);
	for (int i = 0; i < THR; i++)
		sip_ban_fail(b, sa(&s, "192.0.2.5", 5060), 1010);
	sip_ban_fail(b, sa(&s, "192.0.2.6", 5060), 1020);
	assert_int_equal(sip_ban_each(b, collect, &seen, 1050), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.addr[0], "2001:db8::5"); /* soonest to expire first */
	assert_int_equal(seen.remaining[0], 1000 + BAN - 1050);
	assert_int_equal(seen.failures[0], THR);
	assert_string_equal(seen.addr[1], "192.0.2.5");
	assert_int_equal(seen.remaining[1], 1010 + BAN - 1050);
	assert_string_equal(seen.addr[2], "192.0.2.6");
	assert_int_equal(seen.failures[2], 1);
	assert_int_equal(seen.remaining[2], 0);
	seen.n = 0;
	sip_ban_fail(b, sa(&s, "192.0.2.6", 5060), 1070);
	assert_int_equal(sip_ban_each(b, collect, &seen, 1075), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.addr[2], "192.0.2.6");
	assert_int_equal(seen.failures[2], 2);
	assert_int_equal(seen.remaining[2], 0);
	/* Its window (1020..1080) is over: no longer listed. */
	seen.n = 0;
	assert_int_equal(sip_ban_each(b, collect, &seen, 1085), 0);
	assert_int_equal(seen.n, 2);
	/* The callback stops the walk. */
	seen.n = 4;
	assert_int_equal(sip_ban_each(b, collect, &seen, 1100), 7);
	/* Expired bans are gone from the listing. */
	seen.n = 0;
	assert_int_equal(sip_ban_each(b, collect, &seen, 1000 + BAN), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.addr[0], "192.0.2.5");
	sip_ban_free(b);
}

static const struct sockaddr *nth(struct sockaddr_storage *ss, uint32_t i)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	a6->sin6_family = AF_INET6;
	a6->sin6_addr.s6_addr[0] = 0x20;
	a6->sin6_addr.s6_addr[1] = 0x01;
	for (int k = 0; k < 4; k++)
		a6->sin6_addr.s6_addr[12 + k] = (uint8_t)(i >> (24 - 8 * k));
	return (const struct sockaddr *)ss;
}

/* A flood of addresses cannot grow the table past SIP_BAN_MAX, and the
 * bans already made survive it. */
static void test_bounded(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s, bs;
	const struct sockaddr *bad = sa(&bs, "192.0.2.66", 5060);
	for (int i = 0; i < THR; i++)
		sip_ban_fail(b, bad, 10);
	for (uint32_t i = 0; i < SIP_BAN_MAX + 1000; i++)
		sip_ban_fail(b, nth(&s, i), 20);
	assert_int_equal(sip_ban_count(b), SIP_BAN_MAX);
	assert_true(sip_ban_check(b, bad, 21));
	/* The oldest counted addresses went first: the first 1001 were
	 * forgotten, so two more failures from #0 do not ban it... */
	assert_false(sip_ban_fail(b, nth(&s, 0), 21));
	assert_false(sip_ban_fail(b, nth(&s, 0), 21));
	/* ...while the newest still have their first failure counted. */
	sip_ban_fail(b, nth(&s, SIP_BAN_MAX + 999), 21);
	assert_true(sip_ban_fail(b, nth(&s, SIP_BAN_MAX + 999), 21));
	assert_int_equal(sip_ban_count(b), SIP_BAN_MAX);
	/* When every entry is banned, the ban closest to its end gives way. */
	struct sip_ban *full;
	assert_int_equal(sip_ban_alloc(&full, 1, WIN, BAN), 0);
	for (uint32_t i = 0; i < SIP_BAN_MAX; i++)
		assert_true(sip_ban_fail(full, nth(&s, i), 100 + i / 1024));
	assert_true(sip_ban_fail(full, bad, 200));
	assert_int_equal(sip_ban_count(full), SIP_BAN_MAX);
	assert_false(sip_ban_check(full, nth(&s, 0), 200));
	assert_true(sip_ban_check(full, nth(&s, 1), 200));
	assert_true(sip_ban_check(full, bad, 200));
	/* All of them expire together with time. */
	assert_false(sip_ban_check(full, bad, 200 + BAN));
	assert_int_equal(sip_ban_count(full), 0);
	sip_ban_free(full);
	sip_ban_free(b);
}

static void test_alloc_args(void **state)
{
	struct sip_ban *b = (struct sip_ban *)1;
	assert_int_equal(sip_ban_alloc(&b, -1, WIN, BAN), EINVAL);
	assert_null(b);
	assert_int_equal(sip_ban_alloc(&b, THR, 0, BAN), EINVAL);
	assert_int_equal(sip_ban_alloc(&b, THR, WIN, 0), EINVAL);
	assert_int_equal(sip_ban_alloc(&b, THR, WIN, -5), EINVAL);
	assert_int_equal(sip_ban_alloc(&b, THR, 400 * 86400, BAN), EINVAL);
	assert_int_equal(sip_ban_alloc(&b, 1, 1, 1), 0);
	sip_ban_free(b);
	sip_ban_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_threshold),      cmocka_unit_test(test_threshold_zero_never_bans),
	cmocka_unit_test(test_window_spread),  cmocka_unit_test(test_expiry),
	cmocka_unit_test(test_success_resets), cmocka_unit_test(test_unban),
	cmocka_unit_test(test_ipv6),           cmocka_unit_test(test_each),
	cmocka_unit_test(test_bounded),        cmocka_unit_test(test_alloc_args),
};

UNIT_GROUP(sip_ban, tests, NULL, NULL);
