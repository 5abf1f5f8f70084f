/**
 * @file test_jitter.c  Receive jitter buffer: order, reordering, loss, jitter, duplicates
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Simulated time in frame periods (ticks): each tick, the packets that
 * arrive in it are put, then the frame due is taken, as the media worker
 * will do. Each payload carries its own sequence number, so the test sees
 * exactly which frame came out when.
 */
#include <stdlib.h>
#include <string.h>

#include "../../pbx/jitter.h"
#include "unit.h"

#define SPAN  160 /* 20 ms at 8000 Hz */
#define TICKS 400

/* Output per tick: the sequence number played, -1 lost, -2 still filling. */
static int played[TICKS];

/* Packet k (0..n-1) arrives at tick arrive[k]; -1: never. Runs every tick. */
static void run(const int *arrive, int n)
{
	struct pbx__jitter *j;
	assert_int_equal(pbx__jitter_alloc(&j, SPAN), 0);
	for (int t = 0; t < TICKS; t++) {
		for (int k = 0; k < n; k++)
			if (arrive[k] == t) {
				uint8_t pl[160];
				memset(pl, 0, sizeof pl);
				pl[0] = (uint8_t)(k >> 8);
				pl[1] = (uint8_t)k;
				pbx__jitter_put(j, pl, sizeof pl, 1000u + (uint32_t)k * SPAN,
						(uint16_t)(7 + k));
			}
		uint8_t out[160];
		size_t len;
		switch (pbx__jitter_get(j, out, sizeof out, &len)) {
		case PBX__JITTER_FRAME:
			assert_int_equal(len, 160);
			played[t] = out[0] << 8 | out[1];
			break;
		case PBX__JITTER_LOST: played[t] = -1; break;
		case PBX__JITTER_FILLING: played[t] = -2; break;
		}
	}
	pbx__jitter_free(j);
}

/* What came out, in order, without the gaps. Returns how many frames. */
static int frames_out(int *seq)
{
	int n = 0;
	for (int t = 0; t < TICKS; t++)
		if (played[t] >= 0)
			seq[n++] = played[t];
	return n;
}

static void assert_increasing(const int *seq, int n)
{
	for (int i = 1; i < n; i++)
		if (seq[i] <= seq[i - 1])
			fail_msg("frame %d came out after %d (position %d)", seq[i], seq[i - 1], i);
}

static int losses_after(int from_tick)
{
	int n = 0;
	for (int t = from_tick; t < TICKS; t++)
		n += played[t] == -1;
	return n;
}

static void test_in_order(void **state)
{
	(void)state;
	int arrive[300], seq[TICKS];
	for (int k = 0; k < 300; k++)
		arrive[k] = 5 + k;
	run(arrive, 300);
	for (int t = 0; t < 5; t++)
		assert_int_equal(played[t], -2); /* nothing yet: no concealment before audio */
	int n = frames_out(seq);
	assert_int_equal(n, 300);
	assert_increasing(seq, n);
	/* No concealment while packets flow: none between the first and last frame. */
	int first = 0, last = TICKS - 1;
	while (played[first] < 0)
		first++;
	while (played[last] < 0)
		last--;
	for (int t = first; t <= last; t++)
		assert_true(played[t] >= 0);
	/* After the stream stops, missing frames are losses, not "filling". */
	assert_int_equal(played[TICKS - 1], -1);
	assert_int_equal(losses_after(last + 1), TICKS - 1 - last);
}

static void test_reordered(void **state)
{
	(void)state;
	int arrive[300], seq[TICKS];
	/* Every pair swapped: the odd packet arrives a period before the even one. */
	for (int k = 0; k < 300; k++)
		arrive[k] = 5 + (k % 2 ? k - 1 : k + 1);
	run(arrive, 300);
	int n = frames_out(seq);
	assert_increasing(seq, n);
	/* The buffer learns the reordering within a few frames; after that, nothing is lost. */
	assert_true(n >= 295);
}

static void test_loss(void **state)
{
	(void)state;
	int arrive[300], seq[TICKS];
	for (int k = 0; k < 300; k++)
		arrive[k] = 5 + k;
	arrive[100] = -1; /* lost on the network */
	arrive[200] = -1;
	run(arrive, 300);
	int n = frames_out(seq);
	assert_int_equal(n, 298);
	assert_increasing(seq, n);
	/* Each loss is one concealed frame, exactly where the frame was due. */
	int lost_at = -1;
	for (int t = 0; t < TICKS; t++)
		if (played[t] == 99) {
			assert_int_equal(played[t + 1], -1);
			assert_int_equal(played[t + 2], 101);
			lost_at = t + 1;
		}
	assert_true(lost_at > 0);
}

static void test_jitter(void **state)
{
	(void)state;
	int arrive[300], seq[TICKS];
	/* Up to three periods of jitter, pseudo-random but fixed. */
	unsigned r = 12345;
	for (int k = 0; k < 300; k++) {
		r = r * 1103515245u + 12345u;
		arrive[k] = 5 + k + (int)((r >> 16) % 4);
	}
	run(arrive, 300);
	int n = frames_out(seq);
	assert_increasing(seq, n);
	/* Adaptive: a few early frames may be given up while the delay grows,
	 * then next to nothing. */
	assert_true(n >= 280);
}

static void test_duplicates_and_late(void **state)
{
	(void)state;
	struct pbx__jitter *j;
	uint8_t pl[160] = {0}, out[160];
	size_t len;
	assert_int_equal(pbx__jitter_alloc(&j, SPAN), 0);
	for (int k = 0; k < 50; k++) {
		pl[1] = (uint8_t)k;
		pbx__jitter_put(j, pl, sizeof pl, (uint32_t)k * SPAN, (uint16_t)k);
		pbx__jitter_put(j, pl, sizeof pl, (uint32_t)k * SPAN, (uint16_t)k); /* again */
		if (k == 30) {
			pl[1] = 2; /* a packet from long ago */
			pbx__jitter_put(j, pl, sizeof pl, 2u * SPAN, 2);
		}
		assert_int_equal(pbx__jitter_get(j, out, sizeof out, &len), PBX__JITTER_FRAME);
		assert_int_equal(out[1], k);
	}
	/* Held packets are bounded by what is due, not by what was put. */
	assert_true(pbx__jitter_held(j) <= 3);
	/* A payload longer than the caller's buffer is cut, never overrun. */
	uint8_t big[400] = {0};
	pbx__jitter_put(j, big, sizeof big, 50u * SPAN, 50);
	assert_int_equal(pbx__jitter_get(j, out, sizeof out, &len), PBX__JITTER_FRAME);
	assert_true(len <= sizeof out);
	pbx__jitter_free(j);
	pbx__jitter_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_in_order),
	cmocka_unit_test(test_reordered),
	cmocka_unit_test(test_loss),
	cmocka_unit_test(test_jitter),
	cmocka_unit_test(test_duplicates_and_late),
};

UNIT_GROUP(jitter, tests, NULL, NULL);
