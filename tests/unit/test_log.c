/**
 * @file test_log.c  Log levels for consoles, and the bounded queue that feeds them
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../pbx/core_priv.h"
#include "pbx/log.h"
#include "unit.h"

static void test_verbose_maps_to_levels(void **state)
{
	assert_int_equal(pbx_log_level_of_verbose(0), PBX_LOG_ERROR);
	assert_int_equal(pbx_log_level_of_verbose(1), PBX_LOG_WARNING);
	assert_int_equal(pbx_log_level_of_verbose(2), PBX_LOG_NOTICE);
	assert_int_equal(pbx_log_level_of_verbose(3), PBX_LOG_INFO);
	assert_int_equal(pbx_log_level_of_verbose(4), PBX_LOG_DEBUG);
	/* Asterisk users type 5 or 10 for "everything". */
	assert_int_equal(pbx_log_level_of_verbose(5), PBX_LOG_DEBUG);
	assert_int_equal(pbx_log_level_of_verbose(100), PBX_LOG_DEBUG);
	assert_int_equal(pbx_log_level_of_verbose(~0u), PBX_LOG_DEBUG);
}

static void test_queue_keeps_order_and_levels(void **state)
{
	char buf[256], out[64];
	struct pbx__logq q;
	int level;
	pbx__logq_init(&q, buf, sizeof buf);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), -1);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_NOTICE, "one", 3), 0);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_DEBUG, "two!", 4), 0);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_ERROR, "", 0), 0);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 3);
	assert_int_equal(level, PBX_LOG_NOTICE);
	assert_memory_equal(out, "one", 3);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 4);
	assert_int_equal(level, PBX_LOG_DEBUG);
	assert_memory_equal(out, "two!", 4);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 0);
	assert_int_equal(level, PBX_LOG_ERROR);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), -1);
	assert_int_equal(pbx__logq_take_dropped(&q), 0);
}

static void test_queue_is_bounded_and_counts_drops(void **state)
{
	char buf[100], line[40], out[64];
	struct pbx__logq q;
	int level, pushed = 0;
	memset(line, 'a', sizeof line);
	pbx__logq_init(&q, buf, sizeof buf);
	/* 3 bytes of header per record: two 40-byte lines fit in 100, a third does not. */
	while (pbx__logq_push(&q, PBX_LOG_INFO, line, sizeof line) == 0)
		pushed++;
	assert_int_equal(pushed, 2);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_INFO, line, sizeof line), ENOBUFS);
	/* a short line still fits in what is left */
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_INFO, "short", 5), 0);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_INFO, "more", 4), ENOBUFS);
	assert_int_equal(pbx__logq_take_dropped(&q), 3);
	assert_int_equal(pbx__logq_take_dropped(&q), 0);
	assert_true(q.len <= q.cap);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 40);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 40);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 5);
	assert_memory_equal(out, "short", 5);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), -1);
}

/* Records that wrap around the end of the ring come out whole. */
static void test_queue_wraps_around(void **state)
{
	char buf[61], line[32], out[64];
	struct pbx__logq q;
	int level;
	pbx__logq_init(&q, buf, sizeof buf);
	for (int i = 0; i < 200; i++) {
		int n = snprintf(line, sizeof line, "line %d %.*s", i, i % 17, "xxxxxxxxxxxxxxxxx");
		assert_int_equal(pbx__logq_push(&q, i % 5, line, (size_t)n), 0);
		if (i % 3 == 0)
			continue; /* sometimes two records are in the ring at once */
		while (q.len) {
			int m = pbx__logq_pop(&q, &level, out, sizeof out);
			assert_true(m > 0);
			assert_int_equal(strncmp(out, "line ", 5), 0);
		}
		assert_int_equal(level, i % 5);
		assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), -1);
	}
	assert_int_equal(pbx__logq_take_dropped(&q), 0);
}

static void test_queue_cuts_to_the_reader_buffer(void **state)
{
	char buf[64], out[4];
	struct pbx__logq q;
	int level;
	pbx__logq_init(&q, buf, sizeof buf);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_INFO, "abcdefgh", 8), 0);
	assert_int_equal(pbx__logq_push(&q, PBX_LOG_INFO, "ij", 2), 0);
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 4);
	assert_memory_equal(out, "abcd", 4);
	/* the rest of the long line is skipped, not read as the next one */
	assert_int_equal(pbx__logq_pop(&q, &level, out, sizeof out), 2);
	assert_memory_equal(out, "ij", 2);
}

static int wakes;

static void count_wake(void *arg)
{
	wakes++;
}

/* Lines reach the feed at the consoles' level, whatever the log's own level. */
static void test_feed_takes_lines_at_the_console_level(void **state)
{
	char out[2048];
	unsigned long dropped = 0;
	int level;
	enum pbx_log_level was = pbx_log_get_level();
	pbx_log_set_level(PBX_LOG_ERROR); /* stderr stays quiet */
	wakes = 0;
	pbx__log_feed_start(count_wake, NULL);
	pbx_debug("before any console listens");
	assert_int_equal(pbx__log_feed_pop(&level, out, sizeof out, &dropped), -1);
	assert_int_equal(wakes, 0);

	assert_false(pbx_log_wanted(PBX_LOG_NOTICE));
	pbx__log_feed_set_level(PBX_LOG_NOTICE);
	assert_true(pbx_log_wanted(PBX_LOG_NOTICE));
	assert_false(pbx_log_wanted(PBX_LOG_INFO));
	pbx_debug("too verbose for the console");
	pbx_notice("for the console %d", 1);
	pbx_warning("for the console %d", 2);
	assert_int_equal(wakes, 1); /* one wake-up until the queue is drained */
	int n = pbx__log_feed_pop(&level, out, sizeof out, &dropped);
	assert_true(n > 0);
	assert_int_equal(level, PBX_LOG_NOTICE);
	out[n] = '\0';
	assert_non_null(strstr(out, "] notice: for the console 1"));
	assert_null(strchr(out, '\n'));
	n = pbx__log_feed_pop(&level, out, sizeof out, &dropped);
	assert_int_equal(level, PBX_LOG_WARNING);
	assert_int_equal(pbx__log_feed_pop(&level, out, sizeof out, &dropped), -1);

	pbx__log_feed_set_level(PBX_LOG_DEBUG);
	pbx_debug("now it is wanted");
	assert_int_equal(wakes, 2);
	assert_true(pbx__log_feed_pop(&level, out, sizeof out, &dropped) > 0);
	assert_int_equal(level, PBX_LOG_DEBUG);
	assert_int_equal(dropped, 0);

	pbx__log_feed_stop();
	/* Even with a level left set, a stopped feed neither queues nor wakes. */
	pbx__log_feed_set_level(PBX_LOG_DEBUG);
	pbx_debug("after the stop");
	assert_int_equal(wakes, 2);
	assert_int_equal(pbx__log_feed_pop(&level, out, sizeof out, &dropped), -1);
	pbx__log_feed_set_level(-1);
	pbx_log_set_level(was);
}

/* A flood is cut at the bound and counted; the logger never waits. */
static void test_feed_drops_a_flood_with_a_count(void **state)
{
	char out[2048];
	unsigned long dropped = 0;
	int level, got = 0;
	enum pbx_log_level was = pbx_log_get_level();
	pbx_log_set_level(PBX_LOG_ERROR);
	wakes = 0;
	pbx__log_feed_start(count_wake, NULL);
	pbx__log_feed_set_level(PBX_LOG_DEBUG);
	for (int i = 0; i < 1000; i++)
		pbx_debug("%0500d", i); /* about 540 bytes each: 540 KB, twice the bound */
	assert_int_equal(wakes, 1);
	while (pbx__log_feed_pop(&level, out, sizeof out, &dropped) >= 0)
		got++;
	assert_true(got > 100 && got < 1000);
	assert_int_equal(got + (int)dropped, 1000);
	pbx__log_feed_stop();
	pbx_log_set_level(was);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_verbose_maps_to_levels),
	cmocka_unit_test(test_queue_keeps_order_and_levels),
	cmocka_unit_test(test_queue_is_bounded_and_counts_drops),
	cmocka_unit_test(test_queue_wraps_around),
	cmocka_unit_test(test_queue_cuts_to_the_reader_buffer),
	cmocka_unit_test(test_feed_takes_lines_at_the_console_level),
	cmocka_unit_test(test_feed_drops_a_flood_with_a_count),
};

UNIT_GROUP(log, tests, NULL, NULL);
