/**
 * @file test_sip_timer.c  Timer heap: order, cancel, restart, callbacks that re-arm, random ops
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The random test drives the heap and a plain array side by side: after
 * every run, exactly the timers the array says are due must have fired,
 * in non-decreasing deadline order, and the heap invariant must hold.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_timer.h"
#include "unit.h"

struct rec {
	struct sip_timer t;
	int id;
	uint64_t fired_at;
	int fired;
};

static int order[64];
static int norder;
static struct sip_timers *cur;

static void rec_cb(struct sip_timer *t, void *arg)
{
	struct rec *r = arg;
	assert_ptr_equal(t, &r->t);
	assert_false(sip_timer_running(t));
	r->fired++;
	r->fired_at = cur->now;
	if (norder < 64)
		order[norder++] = r->id;
}

static void check_heap(const struct sip_timers *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		assert_int_equal(ts->heap[i]->idx, i + 1);
		if (i)
			assert_true(ts->heap[(i - 1) / 2]->due <= ts->heap[i]->due);
	}
}

static void test_order(void **state)
{
	struct sip_timers ts;
	struct rec r[6] = {0};
	static const uint64_t delay[6] = {300, 100, 500, 200, 100000, 0};
	sip_timers_init(&ts, 1000);
	cur = &ts;
	norder = 0;
	assert_int_equal(sip_timers_next(&ts), UINT64_MAX);
	for (int i = 0; i < 6; i++) {
		r[i].id = i;
		assert_int_equal(sip_timer_start(&ts, &r[i].t, delay[i], rec_cb, &r[i]), 0);
		assert_true(sip_timer_running(&r[i].t));
		assert_int_equal(r[i].t.due, 1000 + delay[i]);
	}
	check_heap(&ts);
	assert_int_equal(sip_timers_next(&ts), 0);
	sip_timers_run(&ts, 1000);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 5);
	assert_int_equal(sip_timers_next(&ts), 100);
	sip_timers_run(&ts, 1299);
	assert_int_equal(ts.now, 1299);
	assert_int_equal(norder, 3);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 3);
	assert_int_equal(r[3].fired_at, 1299); /* fired late, at the time run */
	sip_timers_run(&ts, 2000);
	assert_int_equal(norder, 5);
	assert_int_equal(order[3], 0);
	assert_int_equal(order[4], 2);
	assert_int_equal(sip_timers_next(&ts), 99000);
	assert_true(sip_timer_running(&r[4].t));
	sip_timers_free(&ts); /* drops r[4] */
}

static void test_cancel_restart(void **state)
{
	struct sip_timers ts;
	struct rec a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	sip_timers_init(&ts, 0);
	cur = &ts;
	norder = 0;
	assert_int_equal(sip_timer_start(&ts, &a.t, 100, rec_cb, &a), 0);
	assert_int_equal(sip_timer_start(&ts, &b.t, 200, rec_cb, &b), 0);
	assert_int_equal(sip_timer_start(&ts, &c.t, 300, rec_cb, &c), 0);
	sip_timer_cancel(&ts, &b.t);
	assert_false(sip_timer_running(&b.t));
	sip_timer_cancel(&ts, &b.t); /* twice is harmless */
	/* Restart a running timer, later and earlier. */
	assert_int_equal(sip_timer_start(&ts, &a.t, 400, rec_cb, &a), 0);
	assert_int_equal(sip_timer_start(&ts, &c.t, 50, rec_cb, &c), 0);
	assert_int_equal(ts.n, 2);
	check_heap(&ts);
	sip_timers_run(&ts, 1000);
	assert_int_equal(norder, 2);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 1);
	assert_int_equal(b.fired, 0);
	assert_int_equal(a.fired, 1);
	/* A cancelled timer can start again. */
	assert_int_equal(sip_timer_start(&ts, &b.t, 10, rec_cb, &b), 0);
	sip_timers_run(&ts, 1010);
	assert_int_equal(b.fired, 1);
	assert_int_equal(ts.n, 0);
	sip_timers_free(&ts);
}

/* A callback that re-arms itself, cancels one timer and starts another. */
struct juggler {
	struct sip_timers *ts;
	struct sip_timer self, victim, child;
	int self_fired, victim_fired, child_fired;
	uint64_t child_at;
};

static void victim_cb(struct sip_timer *t, void *arg)
{
	struct juggler *j = arg;
	j->victim_fired++;
}

static void child_cb(struct sip_timer *t, void *arg)
{
	struct juggler *j = arg;
	j->child_fired++;
	j->child_at = j->ts->now;
}

static void self_cb(struct sip_timer *t, void *arg)
{
	struct juggler *j = arg;
	j->self_fired++;
	if (j->self_fired < 3)
		assert_int_equal(sip_timer_start(j->ts, &j->self, 10, self_cb, j), 0);
	sip_timer_cancel(j->ts, &j->victim);
	if (j->self_fired == 1)
		assert_int_equal(sip_timer_start(j->ts, &j->child, 0, child_cb, j), 0);
}

static void test_callbacks(void **state)
{
	struct sip_timers ts;
	struct juggler j = {.ts = &ts};
	sip_timers_init(&ts, 0);
	assert_int_equal(sip_timer_start(&ts, &j.self, 10, self_cb, &j), 0);
	assert_int_equal(sip_timer_start(&ts, &j.victim, 10, victim_cb, &j), 0);
	/* The run sets the clock first: self fires at 100 and re-arms for
	 * 110, its child (delay 0) fires in the same run; the victim, due
	 * with self, is cancelled unless it happens to go first. */
	sip_timers_run(&ts, 100);
	assert_int_equal(j.self_fired, 1);
	assert_int_equal(j.child_fired, 1);
	assert_int_equal(j.child_at, 100);
	assert_true(j.victim_fired <= 1);
	assert_int_equal(j.self.due, 110);
	sip_timers_run(&ts, 115);
	sip_timers_run(&ts, 125);
	assert_int_equal(j.self_fired, 3);
	assert_int_equal(j.child_fired, 1);
	assert_int_equal(ts.n, 0);
	/* ...and when it is cancelled before its time it never fires. */
	j.self_fired = 0;
	j.victim_fired = 0;
	assert_int_equal(sip_timer_start(&ts, &j.self, 10, self_cb, &j), 0);
	assert_int_equal(sip_timer_start(&ts, &j.victim, 11, victim_cb, &j), 0);
	sip_timers_run(&ts, 200);
	assert_int_equal(j.victim_fired, 0);
	sip_timers_free(&ts);
}

/* ---- random operations against a reference ----------------------------- */

#define NT 300

struct rt {
	struct sip_timer t;
	int id;
};

static struct {
	bool running;
	uint64_t due;
} ref[NT];
static uint64_t last_due;
static int fired_ids[NT];
static int nfired;
static struct sip_timers *rts;

static void rand_cb(struct sip_timer *t, void *arg)
{
	struct rt *r = arg;
	assert_true(ref[r->id].running);
	assert_true(ref[r->id].due <= rts->now);
	assert_true(ref[r->id].due >= last_due); /* deadline order */
	last_due = ref[r->id].due;
	ref[r->id].running = false;
	fired_ids[nfired++] = r->id;
}

static void test_random(void **state)
{
	struct sip_timers ts;
	static struct rt r[NT];
	uint64_t now = 5;
	srand(4242);
	memset(ref, 0, sizeof(ref));
	memset(r, 0, sizeof(r));
	sip_timers_init(&ts, now);
	rts = &ts;
	for (int i = 0; i < NT; i++)
		r[i].id = i;

	for (int step = 0; step < 200000; step++) {
		int op = rand() % 100, i = rand() % NT;
		if (op < 55) {
			uint64_t d = (uint64_t)(rand() % 1000);
			if (rand() % 8 == 0)
				d = (uint64_t)(rand() % 4); /* ties */
			assert_int_equal(sip_timer_start(&ts, &r[i].t, d, rand_cb, &r[i]), 0);
			ref[i].running = true;
			ref[i].due = now + d;
		} else if (op < 80) {
			sip_timer_cancel(&ts, &r[i].t);
			ref[i].running = false;
		} else {
			uint64_t min = UINT64_MAX;
			int expect = 0;
			now += (uint64_t)(rand() % 120);
			for (int k = 0; k < NT; k++) {
				if (ref[k].running && ref[k].due <= now)
					expect++;
				if (ref[k].running && ref[k].due < min)
					min = ref[k].due;
			}
			assert_int_equal(sip_timers_next(&ts), min == UINT64_MAX ? UINT64_MAX
							       : min > ts.now    ? min - ts.now
										 : 0);
			last_due = 0;
			nfired = 0;
			sip_timers_run(&ts, now);
			assert_int_equal(nfired, expect);
			for (int k = 0; k < NT; k++)
				assert_int_equal(sip_timer_running(&r[k].t), ref[k].running);
		}
		if (step % 1000 == 0)
			check_heap(&ts);
	}
	check_heap(&ts);
	for (int k = 0; k < NT; k++)
		sip_timer_cancel(&ts, &r[k].t);
	assert_int_equal(ts.n, 0);
	sip_timers_free(&ts);
}

/* A timer whose heap was freed is "not running" to cancel, and may start
 * on a fresh heap. */
static void test_free_then_reuse(void **state)
{
	struct sip_timers ts;
	struct rec a = {.id = 1};
	sip_timers_init(&ts, 0);
	cur = &ts;
	assert_int_equal(sip_timer_start(&ts, &a.t, 10, rec_cb, &a), 0);
	sip_timers_free(&ts);
	sip_timer_cancel(&ts, &a.t);
	assert_false(sip_timer_running(&a.t));
	sip_timers_init(&ts, 0);
	assert_int_equal(sip_timer_start(&ts, &a.t, UINT64_MAX, rec_cb, &a), 0);
	assert_int_equal(a.t.due, UINT64_MAX); /* saturates, no wrap */
	assert_int_equal(sip_timers_next(&ts), UINT64_MAX);
	sip_timers_free(&ts);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_order),           cmocka_unit_test(test_cancel_restart),
	cmocka_unit_test(test_callbacks),       cmocka_unit_test(test_random),
	cmocka_unit_test(test_free_then_reuse),
};

UNIT_GROUP(sip_timer, tests, NULL, NULL);
