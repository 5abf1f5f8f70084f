/**
 * @file test_sip_overload.c  Queue-delay shedding: the threshold, the hold for unstamped requests, percentiles
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <stdint.h>

#include "../../channels/sip/sip_overload.h"
#include "unit.h"

static void test_threshold(void **state)
{
	struct sip_overload o;
	sip_overload_init(&o, 100, 1000);
	/* At the threshold is not behind; past it is. */
	assert_false(sip_overload_behind(&o, 100000, 1000));
	assert_false(sip_overload_behind(&o, SIP_WAIT_UNKNOWN, 1000));
	assert_true(sip_overload_behind(&o, 100001, 1000));
	/* A stream request (no stamp) follows what UDP showed, for a while. */
	assert_true(sip_overload_behind(&o, SIP_WAIT_UNKNOWN, 1000 + SIP_OVERLOAD_HOLD_MS - 1));
	assert_false(sip_overload_behind(&o, SIP_WAIT_UNKNOWN, 1000 + SIP_OVERLOAD_HOLD_MS));
	/* A short wait right after is served: each datagram by its own wait. */
	assert_true(sip_overload_behind(&o, 500000, 2000));
	assert_false(sip_overload_behind(&o, 50, 2001));
}

static void test_never(void **state)
{
	struct sip_overload o;
	sip_overload_init(&o, 0, 0);
	assert_false(sip_overload_behind(&o, UINT32_MAX - 1, 0));
	assert_false(sip_overload_behind(&o, SIP_WAIT_UNKNOWN, 0));
}

static void test_percentiles(void **state)
{
	struct sip_overload o;
	sip_overload_init(&o, 100, 0);
	assert_int_equal(sip_overload_percentile(&o, 50, 0), 0); /* nothing yet */
	/* 90 short waits of 10 us, 9 of 1 ms, 1 of 200 ms. */
	for (int i = 0; i < 90; i++)
		sip_overload_note(&o, 10, 0);
	for (int i = 0; i < 9; i++)
		sip_overload_note(&o, 1000, 0);
	sip_overload_note(&o, 200000, 0);
	sip_overload_note(&o, SIP_WAIT_UNKNOWN, 0); /* not counted */
	uint64_t p50 = sip_overload_percentile(&o, 50, 0);
	uint64_t p99 = sip_overload_percentile(&o, 99, 0);
	uint64_t p100 = sip_overload_percentile(&o, 100, 0);
	/* Buckets are at most 25 % wide and report their top. */
	assert_true(p50 >= 10 && p50 <= 12);
	assert_true(p99 >= 1000 && p99 <= 1250);
	assert_true(p100 >= 200000 && p100 <= 250000);
	assert_int_equal(o.max_seen_us, 200000);
	/* Small values are exact. */
	struct sip_overload z;
	sip_overload_init(&z, 100, 0);
	sip_overload_note(&z, 3, 0);
	assert_int_equal(sip_overload_percentile(&z, 50, 0), 3);
	/* The largest wait lands in a bucket too. */
	sip_overload_note(&z, UINT32_MAX - 1, 0);
	assert_true(sip_overload_percentile(&z, 100, 0) >= UINT32_MAX - 1);
}

static void test_windows(void **state)
{
	struct sip_overload o;
	sip_overload_init(&o, 100, 0);
	sip_overload_note(&o, 5000, 0);
	/* Within the next window the old one still counts... */
	sip_overload_note(&o, 10, SIP_OVERLOAD_WINDOW_MS);
	assert_true(sip_overload_percentile(&o, 100, SIP_OVERLOAD_WINDOW_MS) >= 5000);
	/* ...then only the newer one... */
	assert_true(sip_overload_percentile(&o, 100, 2 * SIP_OVERLOAD_WINDOW_MS) <= 12);
	sip_overload_note(&o, 20, 2 * SIP_OVERLOAD_WINDOW_MS);
	assert_true(sip_overload_percentile(&o, 100, 2 * SIP_OVERLOAD_WINDOW_MS) <= 25);
	/* ...and after a long quiet spell nothing. */
	assert_int_equal(sip_overload_percentile(&o, 50, 10 * SIP_OVERLOAD_WINDOW_MS), 0);
	sip_overload_note(&o, 7, 10 * SIP_OVERLOAD_WINDOW_MS);
	assert_int_equal(sip_overload_percentile(&o, 100, 10 * SIP_OVERLOAD_WINDOW_MS), 7);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_threshold),
	cmocka_unit_test(test_never),
	cmocka_unit_test(test_percentiles),
	cmocka_unit_test(test_windows),
};

UNIT_GROUP(sip_overload, tests, NULL, NULL);
