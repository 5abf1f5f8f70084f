/**
 * @file test_sip_ban.c  Ban table: pairs, addresses, ignore networks, window, expiry, unban, bounded size
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../../channels/sip/sip_ban.h"
#include "unit.h"

/* A pair is banned after 3 failures within 60 s, an address after 4
 * users or 10 failures; bans last 300 s. */
#define THR   3
#define USERS 4
#define THR_A 10
#define WIN   60
#define BAN   300

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

static struct sip_ban *mk_with(int threshold, const struct sip_ban_net *ignore, int n_ignore)
{
	struct sip_ban *b;
	const struct sip_ban_conf conf = {threshold, USERS, THR_A, WIN, BAN, ignore, n_ignore};
	assert_int_equal(sip_ban_alloc(&b, &conf), 0);
	return b;
}

static struct sip_ban *mk(void)
{
	return mk_with(THR, NULL, 0);
}

/* sip.ban_threshold = 0: failures are counted, nobody is banned. */
static void test_threshold_zero_never_bans(void **state)
{
	struct sip_ban *b = mk_with(0, NULL, 0);
	struct sockaddr_storage s1;
	const struct sockaddr *a = sa(&s1, "192.0.2.9", 5060);
	char user[16];
	for (int i = 0; i < 100; i++) {
		snprintf(user, sizeof user, "%d", 1000 + i % 20);
		assert_false(sip_ban_fail(b, a, user, 100, NULL));
	}
	assert_false(sip_ban_check(b, a, 100));
	assert_false(sip_ban_check_user(b, a, "1000", 100));
	assert_int_equal(sip_ban_pairs_banned(b), 0);
	sip_ban_free(b);
}

/* The phone with the wrong password is banned, not its neighbours. */
static void test_pair_ban_spares_neighbours(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2, s3;
	struct sip_ban_info info;
	const struct sockaddr *a = sa(&s1, "192.0.2.7", 5060);
	assert_false(sip_ban_fail(b, a, "1001", 100, &info));
	assert_false(sip_ban_fail(b, sa(&s2, "192.0.2.7", 40000), "1001", 110, &info)); /* port */
	assert_false(sip_ban_check_user(b, a, "1001", 110));
	assert_true(sip_ban_fail(b, a, "1001", 159, &info)); /* third within 60 s */
	assert_true(info.pair);
	assert_true(info.banned);
	assert_string_equal(info.addr, "192.0.2.7");
	assert_string_equal(info.users, "1001");
	assert_int_equal(info.failures, THR);
	assert_int_equal(info.remaining_s, BAN);
	assert_int_equal(sip_ban_pairs_banned(b), 1);
	assert_true(sip_ban_check_user(b, a, "1001", 159));
	assert_true(sip_ban_check_user(b, sa(&s2, "192.0.2.7", 1), "1001", 160)); /* IP only */
	/* The address is not banned; others there, and 1001 elsewhere, go on. */
	assert_false(sip_ban_check(b, a, 160));
	assert_false(sip_ban_check_user(b, a, "1002", 160));
	assert_false(sip_ban_check_user(b, a, "", 160));
	assert_false(sip_ban_check_user(b, sa(&s3, "192.0.2.8", 5060), "1001", 160));
	/* A neighbour failing twice is not banned either. */
	assert_false(sip_ban_fail(b, a, "1002", 161, NULL));
	assert_false(sip_ban_fail(b, a, "1002", 162, NULL));
	assert_false(sip_ban_check_user(b, a, "1002", 162));
	/* Further failures of the banned pair change nothing. */
	assert_false(sip_ban_fail(b, a, "1001", 163, NULL));
	/* One address entry and two pairs. */
	assert_int_equal(sip_ban_count(b), 3);
	char why[160];
	sip_ban_reason(&info, why, sizeof why);
	assert_string_equal(why, "3 failed logins for 1001");
	sip_ban_free(b);
}

/* A scanner trying many extensions is banned as an address. */
static void test_address_ban_by_users(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2;
	struct sip_ban_info info;
	const struct sockaddr *a = sa(&s1, "2001:db8::66", 5060);
	assert_false(sip_ban_fail(b, a, "1001", 10, &info));
	assert_false(sip_ban_fail(b, a, "1001", 11, &info)); /* the same user: still one */
	assert_false(sip_ban_fail(b, a, "1002", 12, &info));
	assert_false(sip_ban_fail(b, a, "a b,c=d", 13, &info));
	assert_false(sip_ban_check(b, a, 13));
	assert_true(sip_ban_fail(b, a, "1004", 14, &info)); /* the fourth user */
	assert_false(info.pair);
	assert_true(info.by_users);
	assert_string_equal(info.addr, "2001:db8::66");
	/* Escaped, so that a user name cannot forge a field or a comma. */
	assert_string_equal(info.users, "1001,1002,a%20b%2Cc%3Dd,1004");
	assert_int_equal(info.n_users, USERS);
	assert_int_equal(info.failures, 5);
	char why[160];
	sip_ban_reason(&info, why, sizeof why);
	assert_string_equal(why, "4 users tried: 1001,1002,a%20b%2Cc%3Dd,1004");
	assert_true(sip_ban_check(b, a, 15));
	assert_true(sip_ban_check(b, sa(&s2, "2001:db8::66", 9), 15));
	assert_false(sip_ban_check(b, sa(&s2, "2001:db8::67", 9), 15));
	assert_int_equal(sip_ban_pairs_banned(b), 0);
	/* Banned: nothing more is counted. */
	assert_false(sip_ban_fail(b, a, "1005", 16, NULL));
	sip_ban_free(b);
}

/* Users spread over two windows do not add up. */
static void test_users_per_window(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	const struct sockaddr *a = sa(&s, "198.51.100.4", 5060);
	assert_false(sip_ban_fail(b, a, "1", 0, NULL));
	assert_false(sip_ban_fail(b, a, "2", 1, NULL));
	assert_false(sip_ban_fail(b, a, "3", 2, NULL));
	/* A new window: "1" is new to it, and so are the others. */
	assert_false(sip_ban_fail(b, a, "1", WIN, NULL));
	assert_false(sip_ban_fail(b, a, "4", WIN + 1, NULL));
	assert_false(sip_ban_fail(b, a, "5", WIN + 2, NULL));
	assert_false(sip_ban_check(b, a, WIN + 2));
	assert_true(sip_ban_fail(b, a, "2", WIN + 3, NULL));
	assert_true(sip_ban_check(b, a, WIN + 3));
	sip_ban_free(b);
}

/* Past ban_threshold_address failures, the address goes for any users. */
static void test_address_ban_by_failures(void **state)
{
	struct sip_ban *b = mk_with(100, NULL, 0); /* pairs never reach it here */
	struct sockaddr_storage s;
	struct sip_ban_info info;
	const struct sockaddr *a = sa(&s, "203.0.113.50", 5060);
	const char *users[] = {"1001", "1002", "1003"}; /* fewer than USERS */
	for (int i = 0; i < THR_A - 1; i++)
		assert_false(sip_ban_fail(b, a, users[i % 3], 100 + i, NULL));
	assert_false(sip_ban_check(b, a, 120));
	assert_true(sip_ban_fail(b, a, "1001", 120, &info));
	assert_false(info.pair);
	assert_false(info.by_users);
	assert_int_equal(info.failures, THR_A);
	assert_int_equal(info.n_users, 3);
	assert_string_equal(info.users, "1001,1002,1003");
	char why[160];
	sip_ban_reason(&info, why, sizeof why);
	assert_string_equal(why, "10 failed logins");
	assert_true(sip_ban_check(b, a, 121));
	sip_ban_free(b);
}

static void test_window_spread(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	const struct sockaddr *a = sa(&s, "198.51.100.1", 5060);
	/* Two failures a window, for ten windows: never three within one. */
	for (int64_t t = 0; t < 10 * WIN; t += WIN / 2 + 1)
		assert_false(sip_ban_fail(b, a, "1001", 1000 + t, NULL));
	assert_false(sip_ban_check_user(b, a, "1001", 1000 + 10 * WIN));
	/* Counters whose window ended are dropped. */
	assert_int_equal(sip_ban_count(b), 2);
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
		sip_ban_fail(b, a, "1001", 10, NULL);
	assert_true(sip_ban_check_user(b, a, "1001", 10 + BAN - 1));
	assert_int_equal(sip_ban_pairs_banned(b), 1);
	assert_false(sip_ban_check_user(b, a, "1001", 10 + BAN));
	assert_int_equal(sip_ban_pairs_banned(b), 0);
	assert_int_equal(sip_ban_count(b), 0);
	/* Counting starts over after a ban. */
	assert_false(sip_ban_fail(b, a, "1001", 10 + BAN, NULL));
	assert_false(sip_ban_fail(b, a, "1001", 10 + BAN, NULL));
	assert_true(sip_ban_fail(b, a, "1001", 10 + BAN, NULL));
	/* An address ban expires the same way. */
	const char *u[] = {"a", "b", "c", "d"};
	struct sockaddr_storage s2;
	const struct sockaddr *scan = sa(&s2, "203.0.113.10", 5060);
	for (int i = 0; i < USERS; i++)
		sip_ban_fail(b, scan, u[i], 1000, NULL);
	assert_true(sip_ban_check(b, scan, 1000 + BAN - 1));
	assert_false(sip_ban_check(b, scan, 1000 + BAN));
	sip_ban_free(b);
}

static void test_success_resets(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	const struct sockaddr *a = sa(&s, "192.0.2.50", 5060);
	sip_ban_fail(b, a, "1001", 1, NULL);
	sip_ban_fail(b, a, "1001", 2, NULL);
	sip_ban_fail(b, a, "1002", 2, NULL);
	sip_ban_success(b, a, "1001", 3);
	assert_false(sip_ban_fail(b, a, "1001", 4, NULL));
	assert_false(sip_ban_fail(b, a, "1001", 5, NULL));
	assert_false(sip_ban_check_user(b, a, "1001", 5));
	/* 1002's count was not touched by 1001's success. */
	assert_false(sip_ban_fail(b, a, "1002", 5, NULL));
	assert_true(sip_ban_fail(b, a, "1002", 5, NULL));
	/* 1001 failing again after its good login is still one user, not
	 * two: 3 users in all, the address stands. */
	assert_true(sip_ban_fail(b, a, "1001", 6, NULL));
	assert_false(sip_ban_check(b, a, 6));
	/* A banned pair is not forgiven by a stray success. */
	sip_ban_success(b, a, "1001", 7);
	assert_true(sip_ban_check_user(b, a, "1001", 7));
	sip_ban_free(b);
}

static void test_ignore(void **state)
{
	struct sip_ban_net nets[4];
	const char *why;
	assert_int_equal(sip_ban_net_parse(&nets[0], "127.0.0.0/8", &why), 0);
	assert_int_equal(sip_ban_net_parse(&nets[1], "::1", &why), 0);         /* bare: /128 */
	assert_int_equal(sip_ban_net_parse(&nets[2], "10.1.2.3/16", &why), 0); /* host bits */
	assert_int_equal(sip_ban_net_parse(&nets[3], "2001:db8:aa::/48", &why), 0);
	struct sip_ban *b = mk_with(1, nets, 4);
	struct sockaddr_storage s;
	const char *never[] = {"127.0.0.1",          "127.255.0.9",  "::1",
			       "::ffff:127.0.0.1",   "10.1.200.200", "::ffff:10.1.0.1",
			       "2001:db8:aa:ffff::1"};
	for (size_t i = 0; i < sizeof never / sizeof *never; i++) {
		assert_false(sip_ban_fail(b, sa(&s, never[i], 5060), "1001", 1, NULL));
		assert_false(sip_ban_check_user(b, sa(&s, never[i], 5060), "1001", 1));
	}
	assert_int_equal(sip_ban_count(b), 0); /* not even counted */
	const char *banned[] = {"128.0.0.1", "::2", "10.2.0.1", "::ffff:10.3.0.1",
				"2001:db8:ab::1"};
	for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
		assert_true(sip_ban_fail(b, sa(&s, banned[i], 5060), "1001", 1, NULL));
	sip_ban_free(b);
	/* Without the list, loopback is banned like any address. */
	b = mk_with(1, NULL, 0);
	assert_true(sip_ban_fail(b, sa(&s, "127.0.0.1", 5060), "1001", 1, NULL));
	sip_ban_free(b);
}

static void test_net_parse(void **state)
{
	struct sip_ban_net n;
	const char *why = NULL;
	assert_int_equal(sip_ban_net_parse(&n, "192.0.2.77/24", &why), 0);
	assert_int_equal(n.family, AF_INET);
	assert_int_equal(n.prefix, 24);
	assert_int_equal(n.ip[3], 0);
	assert_int_equal(sip_ban_net_parse(&n, "0.0.0.0/0", &why), 0);
	assert_int_equal(n.prefix, 0);
	assert_int_equal(sip_ban_net_parse(&n, "::ffff:192.0.2.0/120", &why), 0);
	assert_int_equal(n.family, AF_INET);
	assert_int_equal(n.prefix, 24);
	assert_int_equal(sip_ban_net_parse(&n, "2001:db8::/129", &why), EINVAL);
	assert_string_equal(why, "prefix length must be 0-128");
	assert_int_equal(sip_ban_net_parse(&n, "10.0.0.0/33", &why), EINVAL);
	assert_string_equal(why, "prefix length must be 0-32");
	const char *bad[] = {"",          "/8",       "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
			     "localhost", "10.0.0/8", "[::1]",     "10.0.0.0/ 8"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		why = NULL;
		assert_int_equal(sip_ban_net_parse(&n, bad[i], &why), EINVAL);
		assert_non_null(why);
	}
}

static void test_unban(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2, s3, s4;
	const struct sockaddr *v4 = sa(&s1, "192.0.2.1", 5060);
	const struct sockaddr *v6 = sa(&s2, "2001:db8::1", 5060);
	const struct sockaddr *counted = sa(&s3, "192.0.2.2", 5060);
	const struct sockaddr *other = sa(&s4, "192.0.2.3", 5060);
	for (int i = 0; i < THR; i++) {
		sip_ban_fail(b, v4, "1001", 100, NULL);
		sip_ban_fail(b, v4, "1002", 100, NULL);
		sip_ban_fail(b, v6, "1001", 100, NULL);
		sip_ban_fail(b, other, "1001", 100, NULL);
	}
	sip_ban_fail(b, counted, "1001", 100, NULL);
	assert_int_equal(sip_ban_pairs_banned(b), 4);
	/* One pair. */
	assert_int_equal(sip_ban_remove(b, "1001@192.0.2.1", 101), 0);
	assert_false(sip_ban_check_user(b, v4, "1001", 101));
	assert_true(sip_ban_check_user(b, v4, "1002", 101));
	assert_int_equal(sip_ban_remove(b, "1001@192.0.2.1", 101), ENOENT);
	assert_int_equal(sip_ban_remove(b, "1001@192.0.2.2", 101), ENOENT); /* counted only */
	/* An address lifts every pair at it, and nothing elsewhere. */
	assert_int_equal(sip_ban_remove(b, "192.0.2.3", 101), 0);
	assert_false(sip_ban_check_user(b, other, "1001", 101));
	assert_true(sip_ban_check_user(b, v4, "1002", 101));
	assert_int_equal(sip_ban_remove(b, "192.0.2.3", 101), ENOENT);
	assert_int_equal(sip_ban_remove(b, "192.0.2.2", 101), ENOENT); /* counted, not banned */
	assert_int_equal(sip_ban_remove(b, "192.0.2.99", 101), ENOENT);
	/* IPv6: bracketed or bare, and USER@[v6]. */
	assert_int_equal(sip_ban_remove(b, "1001@[2001:DB8:0::1]", 101), 0);
	assert_false(sip_ban_check_user(b, v6, "1001", 101));
	assert_int_equal(sip_ban_remove(b, "[2001:db8::1]", 101), ENOENT);
	/* An address ban, and the pair bans at it. */
	const char *u[] = {"a", "b", "c", "d"};
	for (int i = 0; i < USERS; i++)
		sip_ban_fail(b, v6, u[i], 102, NULL);
	assert_true(sip_ban_check(b, v6, 102));
	assert_int_equal(sip_ban_remove(b, "2001:db8::1", 103), 0);
	assert_false(sip_ban_check(b, v6, 103));
	assert_int_equal(sip_ban_remove(b, "192.0.2.1", 103), 0);
	assert_false(sip_ban_check_user(b, v4, "1002", 103));
	assert_int_equal(sip_ban_pairs_banned(b), 0);
	const char *bad[] = {"not-an-address",
			     "",
			     "192.0.2.1:5060",
			     "[192.0.2.1]",
			     "[]",
			     "2001:db8::1::2",
			     "@192.0.2.1",
			     "1001@",
			     "1001@host",
			     "0123456789012345678901234567890123456789012345678901"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(sip_ban_remove(b, bad[i], 104), EINVAL);
	assert_int_equal(sip_ban_remove(b, NULL, 104), EINVAL);
	sip_ban_free(b);
}

static void test_ipv6_and_mapped(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s1, s2, s3, s4;
	const struct sockaddr *a = sa(&s1, "2001:db8:1::42", 5060);
	for (int i = 0; i < THR - 1; i++)
		assert_false(sip_ban_fail(b, a, "1001", 50, NULL));
	assert_true(sip_ban_fail(b, sa(&s2, "2001:db8:1::42", 5070), "1001", 51, NULL));
	assert_true(sip_ban_check_user(b, a, "1001", 52));
	assert_false(sip_ban_check_user(b, sa(&s3, "2001:db8:1::43", 5060), "1001", 52));
	/* IPv4-mapped IPv6 (a dual-stack socket) is the same host as IPv4. */
	const struct sockaddr *m = sa(&s3, "::ffff:192.0.2.9", 5060);
	const struct sockaddr *v4 = sa(&s4, "192.0.2.9", 6000);
	sip_ban_fail(b, m, "1001", 60, NULL);
	sip_ban_fail(b, v4, "1001", 60, NULL);
	assert_true(sip_ban_fail(b, m, "1001", 60, NULL));
	assert_true(sip_ban_check_user(b, v4, "1001", 61));
	assert_int_equal(sip_ban_remove(b, "1001@::ffff:192.0.2.9", 61), 0);
	assert_false(sip_ban_check_user(b, m, "1001", 61));
	/* Other address families are never banned. */
	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_false(sip_ban_fail(b, &un, "1001", 62, NULL));
	assert_false(sip_ban_check(b, &un, 62));
	assert_false(sip_ban_check_user(b, &un, "1001", 62));
	assert_false(sip_ban_check(b, NULL, 62));
	sip_ban_success(b, &un, "1001", 62);
	/* A NULL user is the empty one. */
	assert_false(sip_ban_fail(b, v4, NULL, 63, NULL));
	sip_ban_success(b, v4, NULL, 63);
	sip_ban_free(b);
}

struct seen {
	int n;
	struct sip_ban_info info[8];
};

static int collect(const struct sip_ban_info *info, void *arg)
{
	struct seen *s = arg;
	if (s->n == 8)
		return 7;
	s->info[s->n++] = *info;
	return 0;
}

static void test_each(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s;
	struct seen seen = {0};
	for (int i = 0; i < THR; i++)
		sip_ban_fail(b, sa(&s, "2001:db8::5", 5060), "1001", 1000, NULL);
	const char *u[] = {"a", "b", "c", "d"};
	for (int i = 0; i < USERS; i++)
		sip_ban_fail(b, sa(&s, "192.0.2.5", 5060), u[i], 1010, NULL);
	sip_ban_fail(b, sa(&s, "192.0.2.6", 5060), "1003", 1020, NULL);
	assert_int_equal(sip_ban_each(b, collect, &seen, 1050), 0);
	/* Bans first, soonest to end first; then counters, oldest first. */
	assert_int_equal(seen.n, 5);
	assert_true(seen.info[0].pair && seen.info[0].banned);
	assert_string_equal(seen.info[0].addr, "2001:db8::5");
	assert_string_equal(seen.info[0].users, "1001");
	assert_int_equal(seen.info[0].remaining_s, 1000 + BAN - 1050);
	assert_int_equal(seen.info[0].failures, THR);
	assert_true(!seen.info[1].pair && seen.info[1].banned && seen.info[1].by_users);
	assert_string_equal(seen.info[1].addr, "192.0.2.5");
	assert_string_equal(seen.info[1].users, "a,b,c,d");
	assert_int_equal(seen.info[1].remaining_s, 1010 + BAN - 1050);
	/* The address entry of the pair ban still counts its failures. */
	assert_true(!seen.info[2].pair && !seen.info[2].banned);
	assert_string_equal(seen.info[2].addr, "2001:db8::5");
	assert_int_equal(seen.info[2].failures, THR);
	char why[160];
	sip_ban_reason(&seen.info[2], why, sizeof why);
	assert_string_equal(why, "3 failed logins for 1 user: 1001");
	/* The scanner's pairs are not listed: its address ban says it all.
	 * 192.0.2.6: its address and pair, counting, the window's time left. */
	assert_string_equal(seen.info[3].addr, "192.0.2.6");
	assert_false(seen.info[3].pair);
	assert_int_equal(seen.info[3].remaining_s, 1020 + WIN - 1050);
	assert_string_equal(seen.info[4].addr, "192.0.2.6");
	assert_true(seen.info[4].pair && !seen.info[4].banned);
	sip_ban_reason(&seen.info[4], why, sizeof why);
	assert_string_equal(why, "1 failed login for 1003");
	/* Its window (1020..1080) is over: no longer listed. */
	seen.n = 0;
	assert_int_equal(sip_ban_each(b, collect, &seen, 1085), 0);
	assert_int_equal(seen.n, 2);
	/* The callback stops the walk. */
	seen.n = 8;
	assert_int_equal(sip_ban_each(b, collect, &seen, 1100), 7);
	/* Expired bans are gone from the listing. */
	seen.n = 0;
	assert_int_equal(sip_ban_each(b, collect, &seen, 1000 + BAN), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.info[0].addr, "192.0.2.5");
	sip_ban_free(b);
}

static int address_of(const struct sip_ban_info *info, void *arg)
{
	struct seen *s = arg;
	if (info->pair)
		return 0;
	s->info[0] = *info;
	return 1;
}

/* The users shown for an address are bounded, and say when cut. */
static void test_users_text_bounded(void **state)
{
	struct sip_ban *b;
	const struct sip_ban_conf conf = {5, 1000, 100000, WIN, BAN, NULL, 0};
	assert_int_equal(sip_ban_alloc(&b, &conf), 0);
	struct sockaddr_storage s;
	struct seen seen = {0};
	const struct sockaddr *a = sa(&s, "192.0.2.99", 5060);
	char user[200];
	for (int i = 0; i < 100; i++) {
		snprintf(user, sizeof user, "%d", 100000 + i);
		sip_ban_fail(b, a, user, 1, NULL);
	}
	memset(user, 'x', sizeof user - 1);
	user[sizeof user - 1] = '\0';
	sip_ban_fail(b, a, user, 1, NULL); /* longer than any text: still one pair */
	sip_ban_fail(b, a, user, 1, NULL);
	assert_int_equal(sip_ban_each(b, address_of, &seen, 2), 1);
	assert_false(seen.info[0].pair);
	assert_int_equal(seen.info[0].n_users, 101);
	assert_true(seen.info[0].cut);
	assert_true(strlen(seen.info[0].users) < SIP_BAN_TEXT_MAX);
	assert_string_equal(seen.info[0].users,
			    "100000,100001,100002,100003,100004,100005,100006,100007,100008");
	char why[160];
	sip_ban_reason(&seen.info[0], why, sizeof why);
	assert_non_null(strstr(why, "100008,..."));
	/* The escaping the failure notice uses too. */
	char esc[SIP_BAN_TEXT_MAX];
	assert_false(sip_ban_escape(esc, user));
	assert_int_equal(strlen(esc), SIP_BAN_TEXT_MAX - 1);
	assert_true(sip_ban_escape(esc, "x\nSECURITY sip ban scope=pair"));
	assert_string_equal(esc, "x%0ASECURITY%20sip%20ban%20scope%3Dpair");
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

/* A flood of addresses or users cannot grow the table past SIP_BAN_MAX,
 * and the bans already made survive it. */
static void test_bounded(void **state)
{
	struct sip_ban *b = mk();
	struct sockaddr_storage s, bs;
	char user[16];
	const struct sockaddr *bad = sa(&bs, "192.0.2.66", 5060);
	for (int i = 0; i < THR; i++)
		sip_ban_fail(b, bad, "1001", 10, NULL);
	/* Each new address makes an address entry and a pair. */
	for (uint32_t i = 0; i < SIP_BAN_MAX / 2 + 1000; i++)
		sip_ban_fail(b, nth(&s, i), "1001", 20, NULL);
	assert_int_equal(sip_ban_count(b), SIP_BAN_MAX);
	assert_true(sip_ban_check_user(b, bad, "1001", 21));
	/* The oldest counted went first: #0 was forgotten, so two more
	 * failures do not ban it... */
	assert_false(sip_ban_fail(b, nth(&s, 0), "1001", 21, NULL));
	assert_false(sip_ban_fail(b, nth(&s, 0), "1001", 21, NULL));
	/* ...while the newest still have their first failure counted. */
	uint32_t last = SIP_BAN_MAX / 2 + 999;
	sip_ban_fail(b, nth(&s, last), "1001", 21, NULL);
	assert_true(sip_ban_fail(b, nth(&s, last), "1001", 21, NULL));
	assert_int_equal(sip_ban_count(b), SIP_BAN_MAX);
	/* One address trying many users (threshold 0: never banned) is
	 * bounded the same way. */
	struct sip_ban *many = mk_with(0, NULL, 0);
	for (int i = 0; i < SIP_BAN_MAX + 1000; i++) {
		snprintf(user, sizeof user, "%d", i);
		sip_ban_fail(many, bad, user, 30, NULL);
	}
	assert_int_equal(sip_ban_count(many), SIP_BAN_MAX);
	sip_ban_free(many);
	/* When every entry is banned, the ban closest to its end gives way. */
	struct sip_ban *full = mk_with(1, NULL, 0);
	for (uint32_t i = 0; i < SIP_BAN_MAX; i++) /* a pair ban, its address counted */
		assert_true(sip_ban_fail(full, nth(&s, i), "1001", 100 + i / 1024, NULL));
	assert_int_equal(sip_ban_count(full), SIP_BAN_MAX);
	/* The address entries gave way first (counted, not banned). */
	assert_int_equal(sip_ban_pairs_banned(full), SIP_BAN_MAX - 1);
	assert_true(sip_ban_fail(full, bad, "1001", 200, NULL));
	assert_int_equal(sip_ban_count(full), SIP_BAN_MAX);
	assert_true(sip_ban_check_user(full, bad, "1001", 200));
	assert_false(sip_ban_check_user(full, nth(&s, 0), "1001", 200));
	assert_true(sip_ban_check_user(full, nth(&s, SIP_BAN_MAX - 1), "1001", 200));
	/* All of them expire together with time. */
	assert_false(sip_ban_check_user(full, bad, "1001", 200 + BAN));
	assert_int_equal(sip_ban_count(full), 0);
	assert_int_equal(sip_ban_pairs_banned(full), 0);
	sip_ban_free(full);
	sip_ban_free(b);
}

static void test_alloc_args(void **state)
{
	struct sip_ban *b = (struct sip_ban *)1;
	struct sip_ban_net n = {0};
	const struct sip_ban_conf bad[] = {
		{-1, USERS, THR_A, WIN, BAN, NULL, 0},
		{THR, 0, THR_A, WIN, BAN, NULL, 0},
		{THR, USERS, 0, WIN, BAN, NULL, 0},
		{THR, USERS, THR_A, 0, BAN, NULL, 0},
		{THR, USERS, THR_A, WIN, 0, NULL, 0},
		{THR, USERS, THR_A, WIN, -5, NULL, 0},
		{THR, USERS, THR_A, 400 * 86400, BAN, NULL, 0},
		{THR, USERS, THR_A, WIN, BAN, NULL, 1},
		{THR, USERS, THR_A, WIN, BAN, &n, -1},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(sip_ban_alloc(&b, &bad[i]), EINVAL);
		assert_null(b);
	}
	const struct sip_ban_conf ok = {1, 1, 1, 1, 1, &n, 1};
	assert_int_equal(sip_ban_alloc(&b, &ok), 0);
	sip_ban_free(b);
	sip_ban_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_pair_ban_spares_neighbours),
	cmocka_unit_test(test_threshold_zero_never_bans),
	cmocka_unit_test(test_address_ban_by_users),
	cmocka_unit_test(test_users_per_window),
	cmocka_unit_test(test_address_ban_by_failures),
	cmocka_unit_test(test_window_spread),
	cmocka_unit_test(test_expiry),
	cmocka_unit_test(test_success_resets),
	cmocka_unit_test(test_ignore),
	cmocka_unit_test(test_net_parse),
	cmocka_unit_test(test_unban),
	cmocka_unit_test(test_ipv6_and_mapped),
	cmocka_unit_test(test_each),
	cmocka_unit_test(test_users_text_bounded),
	cmocka_unit_test(test_bounded),
	cmocka_unit_test(test_alloc_args),
};

UNIT_GROUP(sip_ban, tests, NULL, NULL);
