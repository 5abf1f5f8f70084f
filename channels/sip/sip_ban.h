/**
 * @file sip_ban.h  Built-in fail2ban: addresses that keep failing authentication are dropped for a while
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Keyed by IP address alone (the port changes with every connection);
 * IPv4-mapped IPv6 addresses count as their IPv4 address. A pure module:
 * time is passed in as seconds from a clock that does not step backwards.
 *
 * The transport calls sip_ban_check() on every packet before parsing; the
 * registrar calls sip_ban_fail() when a challenge was answered with wrong
 * credentials (EACCES from sip_auth_verify; never for the first,
 * unauthenticated request, nor for ESTALE) and sip_ban_success() when
 * credentials were right.
 */
#ifndef SIP_BAN_H
#define SIP_BAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* At most this many addresses are tracked (5 MiB at most); see sip_ban.c. */
#define SIP_BAN_MAX 65536

struct sip_ban;

/**
 * One tracked address for sip_ban_each: @p addr as text ("192.0.2.1",
 * "2001:db8::1"), @p failures in the current window, @p remaining_s
 * seconds of ban left, 0 for an address that is only being counted.
 * Return non-zero to stop. Must not change the table.
 */
typedef int sip_ban_each_h(const char *addr, unsigned failures, int64_t remaining_s, void *arg);

/**
 * Ban an address for @p ban_s seconds after @p threshold failures within
 * @p window_s seconds of its first counted failure. Returns 0, EINVAL
 * (a value below 1, or a time above a year), ENOMEM or EIO (no randomness
 * for the hash key).
 */
int sip_ban_alloc(struct sip_ban **bp, int threshold, int window_s, int ban_s);
void sip_ban_free(struct sip_ban *ban);

/** True when @p addr is banned: drop the packet unanswered. */
bool sip_ban_check(struct sip_ban *ban, const struct sockaddr *addr, int64_t now);

/**
 * Count one failed authentication from @p addr. Returns true when this
 * failure banned the address, so the caller logs the ban once.
 */
bool sip_ban_fail(struct sip_ban *ban, const struct sockaddr *addr, int64_t now);

/** Forget the failures of @p addr: it authenticated. */
void sip_ban_success(struct sip_ban *ban, const struct sockaddr *addr, int64_t now);

/**
 * Lift the ban of @p addr_text ("192.0.2.1", "2001:db8::1" or
 * "[2001:db8::1]"), for the console's `sip unban`. Returns 0, ENOENT when
 * that address is not banned, EINVAL when the text is not an address.
 */
int sip_ban_remove(struct sip_ban *ban, const char *addr_text);

/**
 * Call @p cb for every banned address (soonest to expire first), then
 * every address with failures counted, for `sip show bans`. Expired bans
 * and counters are dropped first. Returns 0 or the callback's non-zero value.
 */
int sip_ban_each(struct sip_ban *ban, sip_ban_each_h *cb, void *arg, int64_t now);

/** Addresses tracked, banned or counted. */
size_t sip_ban_count(const struct sip_ban *ban);

#endif
