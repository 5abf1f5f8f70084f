/**
 * @file sip_overload.c  Queue-delay histogram and the 503 shedding decision
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "sip_overload.h"

void sip_overload_init(struct sip_overload *o, uint32_t max_wait_ms, uint64_t now_ms)
{
	memset(o, 0, sizeof *o);
	o->max_wait_us = max_wait_ms * 1000u;
	o->window_start_ms = now_ms;
}

/* Log scale with 4 linear steps per power of two: 0-3 us exact, then
 * [4 << k, 5 << k), ... [7 << k, 8 << k), about 25 % wide. */
static unsigned bucket(uint32_t us)
{
	if (us < 4)
		return us;
	unsigned e = 31u - (unsigned)__builtin_clz(us); /* >= 2 */
	return 4 * (e - 1) + ((us >> (e - 2)) & 3);
}

/* The highest wait counted in bucket @p i. */
static uint64_t bucket_top(unsigned i)
{
	if (i < 4)
		return i;
	unsigned e = i / 4 + 1, sub = i % 4;
	return ((uint64_t)(5 + sub) << (e - 2)) - 1;
}

static void rotate(struct sip_overload *o, uint64_t now_ms)
{
	uint64_t age = now_ms - o->window_start_ms;
	if (age < SIP_OVERLOAD_WINDOW_MS)
		return;
	o->cur = !o->cur;
	memset(o->hist[o->cur], 0, sizeof o->hist[o->cur]);
	if (age >= 2 * SIP_OVERLOAD_WINDOW_MS) /* idle longer: the old window is stale too */
		memset(o->hist[!o->cur], 0, sizeof o->hist[!o->cur]);
	o->window_start_ms = now_ms;
}

void sip_overload_note(struct sip_overload *o, uint32_t wait_us, uint64_t now_ms)
{
	if (wait_us == SIP_WAIT_UNKNOWN)
		return;
	rotate(o, now_ms);
	o->hist[o->cur][bucket(wait_us)]++;
	if (wait_us > o->max_seen_us)
		o->max_seen_us = wait_us;
}

bool sip_overload_behind(struct sip_overload *o, uint32_t wait_us, uint64_t now_ms)
{
	if (!o->max_wait_us)
		return false;
	if (wait_us == SIP_WAIT_UNKNOWN)
		return now_ms < o->shed_until_ms;
	if (wait_us <= o->max_wait_us)
		return false;
	o->shed_until_ms = now_ms + SIP_OVERLOAD_HOLD_MS;
	return true;
}

uint64_t sip_overload_percentile(const struct sip_overload *o, unsigned pct, uint64_t now_ms)
{
	uint64_t age = now_ms - o->window_start_ms, total = 0, seen = 0;
	/* What rotate() would keep if it ran now. */
	bool cur_ok = age < 2 * SIP_OVERLOAD_WINDOW_MS;
	bool old_ok = age < SIP_OVERLOAD_WINDOW_MS;
	uint64_t n[SIP_OVERLOAD_BUCKETS];
	for (unsigned i = 0; i < SIP_OVERLOAD_BUCKETS; i++) {
		n[i] = (cur_ok ? o->hist[o->cur][i] : 0) + (old_ok ? o->hist[!o->cur][i] : 0);
		total += n[i];
	}
	if (!total)
		return 0;
	uint64_t want = (total * pct + 99) / 100; /* the rank, rounded up */
	unsigned i = 0;
	while (i < SIP_OVERLOAD_BUCKETS - 1 && (seen += n[i]) < want)
		i++;
	/* A bucket's top may lie above anything seen. */
	uint64_t top = bucket_top(i);
	return top < o->max_seen_us ? top : o->max_seen_us;
}
