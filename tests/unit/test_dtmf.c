/**
 * @file test_dtmf.c  RFC 4733: one key press per event from real packet sequences; generation
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <string.h>

#include "../../pbx/media_priv.h"
#include "unit.h"

static void ev(uint8_t pl[4], int code, bool end, unsigned dur)
{
	pl[0] = (uint8_t)code;
	pl[1] = (uint8_t)((end ? 0x80 : 0) | 10);
	pl[2] = (uint8_t)(dur >> 8);
	pl[3] = (uint8_t)dur;
}

/* Feed one packet; returns the key reported, or 0. */
static char feed(struct pbx__dtmf_rx *d, uint32_t ts, int code, bool end, unsigned dur,
		 uint64_t now, int *ms)
{
	uint8_t pl[4];
	char digit = 0;
	int m = -1;
	ev(pl, code, end, dur);
	if (!pbx__dtmf_rx_feed(d, ts, pl, 4, now, &digit, &m))
		return 0;
	if (ms)
		*ms = m;
	return digit;
}

static void test_codes(void **state)
{
	(void)state;
	assert_int_equal(pbx__dtmf_code('0'), 0);
	assert_int_equal(pbx__dtmf_code('9'), 9);
	assert_int_equal(pbx__dtmf_code('*'), 10);
	assert_int_equal(pbx__dtmf_code('#'), 11);
	assert_int_equal(pbx__dtmf_code('A'), 12);
	assert_int_equal(pbx__dtmf_code('d'), 15);
	assert_int_equal(pbx__dtmf_code('!'), 16);
	assert_int_equal(pbx__dtmf_code('x'), -1);
	assert_int_equal(pbx__dtmf_code('\0'), -1);
	for (int c = 0; c <= 16; c++)
		assert_int_equal(pbx__dtmf_code(pbx__dtmf_digit(c)), c);
	assert_int_equal(pbx__dtmf_digit(17), 0);
	assert_int_equal(pbx__dtmf_digit(-1), 0);
}

/* Start, updates, the end three times: one '5' of 100 ms. */
static void test_rx_one_press(void **state)
{
	(void)state;
	struct pbx__dtmf_rx d;
	int ms = 0, n = 0;
	memset(&d, 0, sizeof d);
	uint32_t ts = 0xFFFFFF00u; /* across the 32-bit wrap */
	for (unsigned dur = 160; dur < 800; dur += 160)
		n += feed(&d, ts, 5, false, dur, 0, NULL) != 0;
	assert_int_equal(n, 0);
	assert_int_equal(feed(&d, ts, 5, true, 800, 100, &ms), '5');
	assert_int_equal(ms, 100);
	assert_int_equal(feed(&d, ts, 5, true, 800, 120, NULL), 0);
	assert_int_equal(feed(&d, ts, 5, true, 800, 140, NULL), 0);
	/* An update that was overtaken by the ends is not a new press. */
	assert_int_equal(feed(&d, ts, 5, false, 640, 150, NULL), 0);
	/* Nothing is left to flush. */
	char digit;
	assert_false(pbx__dtmf_rx_flush(&d, 5000, 1000, &digit, &ms));
}

/* The same key twice is two presses: the timestamp tells them apart. */
static void test_rx_same_key_twice(void **state)
{
	(void)state;
	struct pbx__dtmf_rx d;
	memset(&d, 0, sizeof d);
	int got = 0;
	for (int press = 0; press < 2; press++) {
		uint32_t ts = 8000 + (uint32_t)press * 2000;
		got += feed(&d, ts, 1, false, 160, 0, NULL) == '1';
		got += feed(&d, ts, 1, false, 320, 0, NULL) == '1';
		for (int i = 0; i < 3; i++)
			got += feed(&d, ts, 1, true, 480, 0, NULL) == '1';
	}
	assert_int_equal(got, 2);
}

/* Only the first packet and the last end survive. */
static void test_rx_losses(void **state)
{
	(void)state;
	struct pbx__dtmf_rx d;
	int ms = 0;
	memset(&d, 0, sizeof d);
	assert_int_equal(feed(&d, 100, 11, false, 160, 0, NULL), 0);
	assert_int_equal(feed(&d, 100, 11, true, 960, 0, &ms), '#');
	assert_int_equal(ms, 120);

	/* All ends lost: the next event reports the previous press ... */
	assert_int_equal(feed(&d, 2000, 3, false, 160, 0, NULL), 0);
	assert_int_equal(feed(&d, 2000, 3, false, 480, 0, NULL), 0);
	assert_int_equal(feed(&d, 4000, 7, false, 160, 0, &ms), '3');
	assert_int_equal(ms, 60);
	/* ... and a press with no successor is flushed after a quiet second. */
	char digit = 0;
	assert_false(pbx__dtmf_rx_flush(&d, 500, 1000, &digit, &ms));
	assert_true(pbx__dtmf_rx_flush(&d, 1000, 1000, &digit, &ms));
	assert_int_equal(digit, '7');
	assert_int_equal(ms, 20);
	assert_false(pbx__dtmf_rx_flush(&d, 3000, 1000, &digit, &ms));
	/* Its late end is not a second press. */
	assert_int_equal(feed(&d, 4000, 7, true, 640, 1100, NULL), 0);

	/* A stray from before the current event is ignored. */
	assert_int_equal(feed(&d, 3000, 9, true, 160, 1200, NULL), 0);
	/* A short payload is ignored; an unknown event code is never a key. */
	uint8_t pl[4] = {1, 0x80, 0, 160};
	char dg;
	int m;
	assert_false(pbx__dtmf_rx_feed(&d, 9000, pl, 3, 0, &dg, &m));
	assert_int_equal(feed(&d, 9000, 40, true, 160, 0, NULL), 0);
}

/* 100 ms at 20 ms packets: 160(M) 320 480 640 800(E) 800(E) 800(E), one timestamp. */
static void test_tx_sequence(void **state)
{
	(void)state;
	struct pbx__dtmf_tx t;
	uint8_t pl[4];
	bool marker;
	static const unsigned durs[] = {160, 320, 480, 640, 800, 800, 800};
	pbx__dtmf_tx_start(&t, pbx__dtmf_code('#'), 12345, 100, 160, 8);
	for (int i = 0; i < 7; i++) {
		assert_true(pbx__dtmf_tx_next(&t, pl, &marker));
		assert_int_equal(pl[0], 11);
		assert_int_equal(marker, i == 0);
		assert_int_equal(!!(pl[1] & 0x80), i >= 4);
		assert_int_equal(pl[1] & 0x3f, 10);
		assert_int_equal(pl[2] << 8 | pl[3], durs[i]);
	}
	assert_false(pbx__dtmf_tx_next(&t, pl, &marker));
	assert_false(t.active);
	assert_int_equal(t.ts, 12345);

	/* Lengths are clamped: 0 means 100 ms, 10 ms becomes 40. */
	pbx__dtmf_tx_start(&t, 1, 0, 0, 160, 8);
	assert_int_equal(t.total, 800);
	pbx__dtmf_tx_start(&t, 1, 0, 10, 160, 8);
	assert_int_equal(t.total, 320);
	pbx__dtmf_tx_start(&t, 1, 0, 100000, 160, 8);
	assert_int_equal(t.total, 64000);
}

/* What the sender makes, the receiver reads as exactly one press of that length. */
static void test_tx_rx_round_trip(void **state)
{
	(void)state;
	const char *keys = "0123456789*#ABCD";
	struct pbx__dtmf_rx d;
	memset(&d, 0, sizeof d);
	for (const char *k = keys; *k; k++) {
		struct pbx__dtmf_tx t;
		uint8_t pl[4];
		bool marker;
		int presses = 0, ms = 0;
		char digit;
		pbx__dtmf_tx_start(&t, pbx__dtmf_code(*k), (uint32_t)(k - keys) * 4000, 250, 160,
				   8);
		while (pbx__dtmf_tx_next(&t, pl, &marker))
			if (pbx__dtmf_rx_feed(&d, t.ts, pl, 4, 0, &digit, &ms)) {
				assert_int_equal(digit, *k);
				presses++;
			}
		assert_int_equal(presses, 1);
		assert_int_equal(ms, 250);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_codes),
	cmocka_unit_test(test_rx_one_press),
	cmocka_unit_test(test_rx_same_key_twice),
	cmocka_unit_test(test_rx_losses),
	cmocka_unit_test(test_tx_sequence),
	cmocka_unit_test(test_tx_rx_round_trip),
};

UNIT_GROUP(dtmf, tests, NULL, NULL);
