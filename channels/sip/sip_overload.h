/**
 * @file sip_overload.h  When the signalling thread is behind: measured queue delay, 503 shedding
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * "Behind" is measured, not guessed: the UDP transport stamps every
 * datagram with the time the kernel received it (SO_TIMESTAMPNS), so the
 * stack knows how long each one waited in the socket before the thread got
 * to it. A NEW out-of-dialog request (REGISTER, INVITE, SUBSCRIBE, MESSAGE,
 * OPTIONS, ...) that waited longer than sip.overload_queue_delay is answered
 * 503 with Retry-After at once instead of being worked on: the answer costs
 * a fraction of the work, the backlog drains, and the requests behind it
 * are served before their senders retransmit (Timer E/A start at 500 ms).
 * Without this, past saturation every request waits longer than T1, each
 * is retransmitted, and the work done falls as the load rises.
 *
 * A request with credentials answers a challenge: within a batch of
 * datagrams it is handed up first, with the work below. When its nonce is
 * a fresh one of ours its first round trip is paid already and a 503 now
 * would waste it, so it is shed only when it waited
 * SIP_OVERLOAD_ANSWER_SLACK times the limit.
 *
 * Never shed: responses, ACK, CANCEL, BYE, requests inside a dialog (a To
 * tag) and retransmissions of known transactions; a call that started is
 * never dropped to make room. A TCP or TLS request has no kernel stamp: it
 * is shed while UDP traffic showed overload within the last
 * SIP_OVERLOAD_HOLD_MS.
 *
 * A pure module: time is passed in. The queue delays of the last 10 to 20 s
 * are kept in a log-scale histogram for `sip show stats`.
 */
#ifndef SIP_OVERLOAD_H
#define SIP_OVERLOAD_H

#include <stdbool.h>
#include <stdint.h>

/* The wait of a message that was not stamped (TCP, TLS). */
#define SIP_WAIT_UNKNOWN UINT32_MAX
/* After a UDP datagram showed overload, unstamped requests are shed this long. */
#define SIP_OVERLOAD_HOLD_MS 200
/* A request with credentials is shed past this many times the limit. */
#define SIP_OVERLOAD_ANSWER_SLACK 4
/* Histogram windows: percentiles cover the current one and the one before. */
#define SIP_OVERLOAD_WINDOW_MS 10000
/* 4 buckets per power of two of microseconds, up to 2^32 us. */
#define SIP_OVERLOAD_BUCKETS 132

struct sip_overload {
	uint32_t max_wait_us; /* 0: never shed */
	uint64_t shed_until_ms;
	uint64_t max_seen_us;
	uint64_t window_start_ms;
	int cur; /* hist[cur] fills now; hist[!cur] is the window before */
	uint32_t hist[2][SIP_OVERLOAD_BUCKETS];
};

/** Start with requests shed past @p max_wait_ms of queue delay (0: never). */
void sip_overload_init(struct sip_overload *o, uint32_t max_wait_ms, uint64_t now_ms);

/** Count the queue delay of one received datagram (SIP_WAIT_UNKNOWN: ignored). */
void sip_overload_note(struct sip_overload *o, uint32_t wait_us, uint64_t now_ms);

/**
 * True when a message that waited @p wait_us (or SIP_WAIT_UNKNOWN) shows the
 * thread behind: a new out-of-dialog request is then answered 503.
 */
bool sip_overload_behind(struct sip_overload *o, uint32_t wait_us, uint64_t now_ms);

/** The queue delay below which @p pct percent of the recent datagrams waited, in us. */
uint64_t sip_overload_percentile(const struct sip_overload *o, unsigned pct, uint64_t now_ms);

#endif
