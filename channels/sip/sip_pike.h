/**
 * @file sip_pike.h  Flood guard, as Kamailio's pike: a source sending far more requests than a phone does is ignored for a while
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Counts the requests of every source address (the port is ignored;
 * IPv4-mapped IPv6 counts as IPv4) over a sliding window of
 * sip.pike_window seconds. A source above sip.pike_rate requests in that
 * window is blocked for sip.pike_time seconds: its requests are dropped
 * unanswered, except the few the stack lets through for calls it already
 * has (see sip_stack.c). A source still flooding when its block ends is
 * blocked again at once, as the same ban: one log line per flood, not
 * one per sip.pike_time. Networks in sip.pike_ignore are never counted.
 *
 * A pure module: time is passed in as milliseconds from a clock that does
 * not step backwards (the loop's uv_now). Off (sip.pike_rate = 0), the
 * table holds nothing and every check is one comparison.
 */
#ifndef SIP_PIKE_H
#define SIP_PIKE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sip_ban.h"

/* At most this many sources are tracked (1.5 MiB; see sip_pike.c).
 * Only the sources seen within the last window, and those blocked, need
 * a place. */
#define SIP_PIKE_MAX 16384

struct sip_pike;

/** One tracked source, for sip_pike_each and the log. */
struct sip_pike_info {
	char addr[INET6_ADDRSTRLEN];
	bool blocked;
	bool evicted;         /* on_end: the table was full and forgot the source early */
	unsigned rate;        /* requests in the last window, as the block counted them */
	uint64_t during;      /* requests received while blocked (dropped or let through) */
	int64_t remaining_ms; /* blocked: time left; else 0 */
	int64_t blocked_ms;   /* blocked or ended: how long the block has lasted */
};

/** A block ended (its time ran out and the source slowed down or went quiet). */
typedef void sip_pike_end_h(const struct sip_pike_info *info, void *arg);

/** The settings, as in the sip config section. */
struct sip_pike_conf {
	int rate;                         /* requests in a window that block; 0 = off */
	int window_s;                     /* the window, seconds */
	int block_s;                      /* a block lasts this long */
	const struct sip_ban_net *ignore; /* never counted; copied */
	int n_ignore;
	sip_pike_end_h *on_end; /* may be NULL; must not change the table */
	void *arg;
};

enum sip_pike_verdict {
	SIP_PIKE_PASS,  /* not blocked */
	SIP_PIKE_BLOCK, /* this request started a block: log it once, drop it */
	SIP_PIKE_DROP,  /* blocked already */
};

/**
 * Make a table with the settings @p conf. Returns 0, EINVAL (a value out
 * of range: rate < 0, a window or block under 1 s or above a day, a bad
 * ignore list), ENOMEM or EIO (no randomness for the hash key).
 */
int sip_pike_alloc(struct sip_pike **pp, const struct sip_pike_conf *conf);
/** Frees the table; no on_end calls. NULL is fine. */
void sip_pike_free(struct sip_pike *p);

/** True when the table counts anything (sip.pike_rate > 0). */
bool sip_pike_enabled(const struct sip_pike *p);

/**
 * Count one request from @p addr at @p now_ms and say what to do with it.
 * On SIP_PIKE_BLOCK, @p info (may be NULL) describes the new block.
 * Ended blocks of any source are reported to on_end from here.
 */
enum sip_pike_verdict sip_pike_request(struct sip_pike *p, const struct sockaddr *addr,
				       int64_t now_ms, struct sip_pike_info *info);

/** Return non-zero to stop the walk. Must not change the table. */
typedef int sip_pike_each_h(const struct sip_pike_info *info, void *arg);

/**
 * Call @p cb for every blocked source, the one heard from longest ago
 * first. Ended blocks are reported to on_end and dropped first. Returns 0 or the callback's
 * non-zero value. Linear in the table: for the console.
 */
int sip_pike_each(struct sip_pike *p, sip_pike_each_h *cb, void *arg, int64_t now_ms);

/**
 * Lift the block of @p text ("192.0.2.1", "2001:db8::1" or "[2001:db8::1]")
 * and forget its count; on_end is not called. Returns 0, ENOENT when it
 * was not blocked, EINVAL when the text is not an address.
 */
int sip_pike_remove(struct sip_pike *p, const char *text, int64_t now_ms);

/** Sources tracked now, blocked or counted. */
size_t sip_pike_count(const struct sip_pike *p);

#endif
