/**
 * @file sip_timer.c  Timer heap for the SIP stack: a binary min-heap of embedded timers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The heap holds pointers to timers embedded in their owners; each timer
 * knows its own position (idx = 1 + heap index), so cancel and restart are
 * O(log n) without a search. Nothing is allocated per timer: the only
 * allocation is the pointer array, which grows by doubling and never
 * shrinks (its peak is a few pointers per live transaction).
 *
 * Timers with equal deadlines fire in no particular order: struct
 * sip_timer has no sequence number to break ties, and the transaction
 * layer never depends on the order of two timers due at the same
 * millisecond.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "sip_timer.h"

#define HEAP_MIN 64

static inline void heap_set(struct sip_timers *ts, size_t i, struct sip_timer *t)
{
	ts->heap[i] = t;
	t->idx = i + 1;
}

static void sift_up(struct sip_timers *ts, size_t i)
{
	struct sip_timer *t = ts->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (ts->heap[parent]->due <= t->due)
			break;
		heap_set(ts, i, ts->heap[parent]);
		i = parent;
	}
	heap_set(ts, i, t);
}

static void sift_down(struct sip_timers *ts, size_t i)
{
	struct sip_timer *t = ts->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= ts->n)
			break;
		if (c + 1 < ts->n && ts->heap[c + 1]->due < ts->heap[c]->due)
			c++;
		if (t->due <= ts->heap[c]->due)
			break;
		heap_set(ts, i, ts->heap[c]);
		i = c;
	}
	heap_set(ts, i, t);
}

/* After the key of position i changed in either direction. */
static void heap_fix(struct sip_timers *ts, size_t i)
{
	if (i > 0 && ts->heap[(i - 1) / 2]->due > ts->heap[i]->due)
		sift_up(ts, i);
	else
		sift_down(ts, i);
}

static void heap_remove(struct sip_timers *ts, size_t i)
{
	struct sip_timer *t = ts->heap[i];
	struct sip_timer *last = ts->heap[--ts->n];
	t->idx = 0;
	if (i == ts->n)
		return;
	heap_set(ts, i, last);
	heap_fix(ts, i);
}

/* A timer that claims a slot it does not hold is one whose heap was freed
 * (sip_timers_free drops timers without touching them, since their owners
 * may be gone already). */
static inline bool held(const struct sip_timers *ts, const struct sip_timer *t)
{
	return t->idx != 0 && t->idx <= ts->n && ts->heap[t->idx - 1] == t;
}

void sip_timers_init(struct sip_timers *ts, uint64_t now)
{
	ts->heap = NULL;
	ts->n = ts->cap = 0;
	ts->now = now;
	ts->clock = NULL;
	ts->clock_arg = NULL;
}

void sip_timers_free(struct sip_timers *ts)
{
	free(ts->heap);
	ts->heap = NULL;
	ts->n = ts->cap = 0;
}

int sip_timer_start(struct sip_timers *ts, struct sip_timer *t, uint64_t delay, sip_timer_h *cb,
		    void *arg)
{
	assert(cb);
	if (ts->clock) {
		uint64_t now = ts->clock(ts->clock_arg);
		if (now > ts->now)
			ts->now = now; /* due timers still fire at the next run */
	}
	/* Saturate: a delay of UINT64_MAX means "never" and must not wrap. */
	uint64_t due = delay > UINT64_MAX - ts->now ? UINT64_MAX : ts->now + delay;

	t->cb = cb;
	t->arg = arg;
	if (held(ts, t)) {
		t->due = due;
		heap_fix(ts, t->idx - 1);
		return 0;
	}
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? 2 * ts->cap : HEAP_MIN;
		struct sip_timer **h = realloc(ts->heap, cap * sizeof(*h));
		if (!h) {
			t->idx = 0;
			return ENOMEM;
		}
		ts->heap = h;
		ts->cap = cap;
	}
	t->due = due;
	ts->heap[ts->n] = t;
	t->idx = ++ts->n;
	sift_up(ts, ts->n - 1);
	return 0;
}

void sip_timer_cancel(struct sip_timers *ts, struct sip_timer *t)
{
	if (held(ts, t))
		heap_remove(ts, t->idx - 1);
	t->idx = 0;
}

void sip_timers_run(struct sip_timers *ts, uint64_t now)
{
	/* First, so that a timer started from a callback is due relative to
	 * the time being run, not to the last run. */
	ts->now = now;
	/* Re-read the top after every callback: it may have started or
	 * cancelled any timer, itself included. A callback that restarts its
	 * own timer with delay 0 fires again in this loop, so it must not do
	 * that forever. */
	while (ts->n && ts->heap[0]->due <= ts->now) {
		struct sip_timer *t = ts->heap[0];
		heap_remove(ts, 0);
		t->cb(t, t->arg);
	}
}

uint64_t sip_timers_next(const struct sip_timers *ts)
{
	if (!ts->n)
		return UINT64_MAX;
	return ts->heap[0]->due > ts->now ? ts->heap[0]->due - ts->now : 0;
}
