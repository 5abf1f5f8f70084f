/**
 * @file sip_timer.h  Timer heap for the SIP stack, driven by any clock
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Thousands of transactions each hold a few timers; one binary heap keyed
 * by deadline costs O(log n) per start/cancel and one uv_timer for all of
 * them. Time is whatever the owner says it is (sip_timers_run(now)), so the
 * unit tests drive transactions with a simulated clock.
 */
#ifndef SIP_TIMER_H
#define SIP_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sip_timer;
typedef void sip_timer_h(struct sip_timer *t, void *arg);

/** Embed in the owning object; zero-initialise. */
struct sip_timer {
	uint64_t due; /* ms */
	size_t idx;   /* 1 + heap position; 0 when not running */
	sip_timer_h *cb;
	void *arg;
};

struct sip_timers {
	struct sip_timer **heap;
	size_t n, cap;
	uint64_t now; /* ms; advanced by sip_timers_run */
	/* Optional clock read by sip_timer_start, so a timer started outside a
	 * sip_timers_run turn (from the dialplan, a media event) counts from
	 * the real time, not from the last turn. NULL in simulated-time tests. */
	uint64_t (*clock)(void *arg);
	void *clock_arg;
};

void sip_timers_init(struct sip_timers *ts, uint64_t now);
void sip_timers_free(struct sip_timers *ts); /* running timers are simply dropped */
/** (Re)start @p t to fire @p delay ms after ts->now. 0 or ENOMEM. */
int sip_timer_start(struct sip_timers *ts, struct sip_timer *t, uint64_t delay, sip_timer_h *cb,
		    void *arg);
void sip_timer_cancel(struct sip_timers *ts, struct sip_timer *t);
static inline bool sip_timer_running(const struct sip_timer *t)
{
	return t->idx != 0;
}
/** Set the clock to @p now and fire every timer due by then, in deadline order. */
void sip_timers_run(struct sip_timers *ts, uint64_t now);
/** ms from ts->now to the next deadline; UINT64_MAX when none. */
uint64_t sip_timers_next(const struct sip_timers *ts);

#endif
