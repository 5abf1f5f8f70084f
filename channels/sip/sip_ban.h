/**
 * @file sip_ban.h  Built-in fail2ban, safe behind NAT: bans (address, user) pairs, and addresses that try many users
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every phone behind one NAT router shares its address, so a ban of the
 * address for one phone's wrong password would lock out the office. The
 * table therefore counts failures per (address, user) and bans that PAIR
 * after sip.ban_threshold failures within sip.ban_window; it bans the
 * whole ADDRESS only when its failures span sip.ban_users different users
 * (a scanner walking extensions) or reach sip.ban_threshold_address in
 * all. Networks in sip.ban_ignore (loopback by default) are never counted.
 *
 * Keyed by IP address alone (the port changes with every connection);
 * IPv4-mapped IPv6 addresses count as their IPv4 address. A pure module:
 * time is passed in as seconds from a clock that does not step backwards.
 *
 * The transport asks sip_ban_check() for every packet before parsing;
 * while pairs are banned (sip_ban_pairs_banned), the stack asks
 * sip_ban_check_user() for every request with the user it acts for. The
 * stack calls sip_ban_fail() when a challenge was answered with wrong
 * credentials (EACCES from sip_auth_verify; never for the first,
 * unauthenticated request, nor for ESTALE) and sip_ban_success() when
 * credentials were right.
 */
#ifndef SIP_BAN_H
#define SIP_BAN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* At most this many pairs and addresses are tracked in all (12 MiB at
 * most); see sip_ban.c. */
#define SIP_BAN_MAX 65536
/* Bytes kept of the user names shown for an entry, NUL included: one
 * user for a pair, the first users tried for an address. */
#define SIP_BAN_TEXT_MAX 64

struct sip_ban;

/**
 * One host as a fixed-size key, hashed and compared whole (the bans' and
 * pike's tables): an IPv4 peer that a dual-stack socket shows as
 * ::ffff:a.b.c.d is the IPv4 host.
 */
struct sip_host {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t ip[16]; /* IPv4 in the first 4 bytes, the rest zero */
};

/** The host of @p sa; false (and @p h zeroed) for another family or NULL. */
bool sip_host_from_sa(struct sip_host *h, const struct sockaddr *sa);

/** "192.0.2.1", "2001:db8::1" or "[2001:db8::1]" (@p n bytes) to a host. */
bool sip_host_parse(struct sip_host *h, const char *text, size_t n);

/** A network of sip.ban_ignore. */
struct sip_ban_net {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix; /* 0..32 or 0..128 */
	uint8_t ip[16]; /* host bits cleared */
};

/**
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (/32, /128) into
 * @p net; host bits are cleared, an IPv4-mapped IPv6 network becomes the
 * IPv4 one. Returns 0, or EINVAL with *why set for a config error.
 */
int sip_ban_net_parse(struct sip_ban_net *net, const char *text, const char **why);

/**
 * True when the address @p ip of @p family (AF_INET: 4 bytes; an
 * IPv4-mapped IPv6 address must be given as its IPv4 one) lies in @p net.
 */
bool sip_ban_net_has(const struct sip_ban_net *net, int family, const uint8_t *ip);

/** The settings, as in the sip config section. */
struct sip_ban_conf {
	int threshold;                    /* failures of one pair that ban it; 0 = never ban */
	int users;                        /* different users failing from one address that ban it */
	int threshold_address;            /* failures from one address, any users, that ban it */
	int window_s;                     /* failures count within this long of the first */
	int ban_s;                        /* a ban lasts this long */
	const struct sip_ban_net *ignore; /* never counted; copied */
	int n_ignore;
};

/** One tracked pair or address, for sip_ban_each and sip_ban_fail. */
struct sip_ban_info {
	bool pair;     /* a pair (address, user), else a whole address */
	bool banned;   /* else only counted */
	bool by_users; /* an address banned for the number of users tried */
	bool cut;      /* more users were tried than users[] shows */
	unsigned failures;
	unsigned n_users;    /* different users that failed: 1 for a pair */
	int64_t remaining_s; /* banned: seconds of ban left; counted: of the window */
	char addr[INET6_ADDRSTRLEN];
	/* A pair's user, or an address's users tried, comma-separated, in
	 * order. Bytes outside [A-Za-z0-9-_.!~*+@$&] are written %XX, so
	 * the text is safe in a log line and splits on commas. */
	char users[SIP_BAN_TEXT_MAX];
};

/** Return non-zero to stop the walk. Must not change the table. */
typedef int sip_ban_each_h(const struct sip_ban_info *info, void *arg);

/**
 * Make a table with the settings @p conf. Returns 0, EINVAL (a value out
 * of range, or a time above a year), ENOMEM or EIO (no randomness for the
 * hash key).
 */
int sip_ban_alloc(struct sip_ban **bp, const struct sip_ban_conf *conf);
void sip_ban_free(struct sip_ban *ban);

/** True when the address of @p addr is banned: drop the packet unanswered. */
bool sip_ban_check(struct sip_ban *ban, const struct sockaddr *addr, int64_t now);

/** How many pairs are banned now: while 0 the stack need not find the user of a request. */
size_t sip_ban_pairs_banned(const struct sip_ban *ban);

/** True when @p user acting from @p addr is banned: drop the request unanswered. */
bool sip_ban_check_user(struct sip_ban *ban, const struct sockaddr *addr, const char *user,
			int64_t now);

/**
 * Count one failed authentication of @p user from @p addr. Returns true
 * when this failure made a ban, described in @p info (may be NULL), so the
 * caller logs it once.
 */
bool sip_ban_fail(struct sip_ban *ban, const struct sockaddr *addr, const char *user, int64_t now,
		  struct sip_ban_info *info);

/** Forget the failures of @p user at @p addr: it authenticated. A ban stays. */
void sip_ban_success(struct sip_ban *ban, const struct sockaddr *addr, const char *user,
		     int64_t now);

/**
 * Lift bans, for the console's `sip unban`: @p text "ADDR" lifts the ban
 * of that address, every pair ban at it, and forgets its counters;
 * "USER@ADDR" lifts one pair. ADDR is "192.0.2.1", "2001:db8::1" or
 * "[2001:db8::1]". Returns 0, ENOENT when nothing of that was banned,
 * EINVAL when the text is neither form.
 */
int sip_ban_remove(struct sip_ban *ban, const char *text, int64_t now);

/**
 * Call @p cb for every ban (soonest to expire first), then every counter
 * with failures in its window, for `sip show bans`. Expired entries are
 * dropped first. Returns 0 or the callback's non-zero value.
 */
int sip_ban_each(struct sip_ban *ban, sip_ban_each_h *cb, void *arg, int64_t now);

/**
 * Write @p user into @p buf (SIP_BAN_TEXT_MAX bytes) as sip_ban_info shows
 * users: bytes outside [A-Za-z0-9-_.!~*+@$&] as %XX, as much as fits.
 * Returns false when that was not all of it.
 */
bool sip_ban_escape(char *buf, const char *user);

/** The reason of @p i as a phrase: "10 failed logins for 1001", "5 users tried: 1001,1002". */
void sip_ban_reason(const struct sip_ban_info *i, char *buf, size_t len);

/** Pairs and addresses tracked, banned or counted. */
size_t sip_ban_count(const struct sip_ban *ban);

#endif
