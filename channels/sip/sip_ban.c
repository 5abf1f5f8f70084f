/**
 * @file sip_ban.c  Address ban table: failure counters, bans, expiry, bounded memory
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A chained hash of entries keyed by address, plus two lists that give
 * expiry in O(1) amortised without a timer: "watch" holds addresses with
 * failures counted, ordered by last failure, and "banned" holds banned
 * ones ordered by ban end (every ban lasts ban_s, so appending keeps the
 * order). Every call first drops the expired heads of both lists.
 *
 * The hash is SipHash-2-4 with a random key: an attacker choosing source
 * addresses (an IPv6 /64 gives plenty) cannot aim them at one chain and
 * turn sip_ban_check, which runs on every packet, into a list walk.
 *
 * Memory is bounded by SIP_BAN_MAX entries of 72 bytes (80 with malloc's
 * header), 5 MiB, plus 128 KiB of buckets allocated up front. When the
 * table is full the address counted longest ago is forgotten; if every
 * entry is banned, the ban closest to its end goes, so the newest
 * attackers stay banned.
 *
 * The window is fixed, starting at the first failure it counts, rather
 * than sliding: an address can spread up to 2 * (threshold - 1) failures
 * across a window boundary unnoticed, and in exchange an entry is a
 * counter and three times instead of a ring of timestamps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pbx/hash.h"
#include "sip_ban.h"

#define BUCKETS    16384 /* power of two; up to 4 entries a chain when full */
#define MAX_TIME_S (366 * 86400)

struct ban_key {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t ip[16]; /* IPv4 in the first 4 bytes, the rest zero */
};

struct ban_entry {
	struct ban_entry *hnext;       /* hash chain */
	struct ban_entry *prev, *next; /* in watch or banned */
	int64_t window_start;
	int64_t last; /* last failure: watch order and counter expiry */
	int64_t banned_until;
	unsigned failures;
	bool banned;
	struct ban_key key;
};

struct ban_list {
	struct ban_entry *head, *tail;
};

struct sip_ban {
	int threshold, window_s, ban_s;
	size_t count;
	uint64_t k0, k1;
	struct ban_list watch, banned;
	struct ban_entry *bucket[BUCKETS];
};

static size_t key_hash(const struct sip_ban *ban, const struct ban_key *k)
{
	return (size_t)(pbx_siphash(k, sizeof *k, ban->k0, ban->k1) & (BUCKETS - 1));
}

/* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; one host, one key. */
static void key_from_v6(struct ban_key *k, const struct in6_addr *a6)
{
	memset(k, 0, sizeof *k);
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		k->family = AF_INET;
		memcpy(k->ip, a6->s6_addr + 12, 4);
	} else {
		k->family = AF_INET6;
		memcpy(k->ip, a6->s6_addr, 16);
	}
}

static bool key_from_sa(struct ban_key *k, const struct sockaddr *sa)
{
	memset(k, 0, sizeof *k);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
		k->family = AF_INET;
		memcpy(k->ip, &a4->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		key_from_v6(k, &((const struct sockaddr_in6 *)sa)->sin6_addr);
		return true;
	}
	return false;
}

static void key_str(const struct ban_key *k, char *buf, size_t len)
{
	if (!inet_ntop(k->family, k->ip, buf, (socklen_t)len))
		buf[0] = '\0';
}

static void list_unlink(struct ban_list *l, struct ban_entry *e)
{
	*(e->prev ? &e->prev->next : &l->head) = e->next;
	*(e->next ? &e->next->prev : &l->tail) = e->prev;
	e->prev = e->next = NULL;
}

static void list_append(struct ban_list *l, struct ban_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	*(l->tail ? &l->tail->next : &l->head) = e;
	l->tail = e;
}

static struct ban_entry *find(const struct sip_ban *ban, const struct ban_key *k)
{
	for (struct ban_entry *e = ban->bucket[key_hash(ban, k)]; e; e = e->hnext)
		if (!memcmp(&e->key, k, sizeof *k))
			return e;
	return NULL;
}

static void drop(struct sip_ban *ban, struct ban_entry *e)
{
	struct ban_entry **pp = &ban->bucket[key_hash(ban, &e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(e->banned ? &ban->banned : &ban->watch, e);
	ban->count--;
	free(e);
}

/* Amortised O(1): each entry is dropped once, and the loops stop at the
 * first head still alive. */
static void expire(struct sip_ban *ban, int64_t now)
{
	while (ban->banned.head && ban->banned.head->banned_until <= now)
		drop(ban, ban->banned.head);
	while (ban->watch.head && ban->watch.head->last + ban->window_s <= now)
		drop(ban, ban->watch.head);
}

int sip_ban_alloc(struct sip_ban **bp, int threshold, int window_s, int ban_s)
{
	struct sip_ban *ban = NULL;
	uint64_t key[2];
	int err = EINVAL;
	*bp = NULL;
	if (threshold < 0 || window_s < 1 || ban_s < 1 || window_s > MAX_TIME_S ||
	    ban_s > MAX_TIME_S)
		goto out;
	err = ENOMEM;
	ban = calloc(1, sizeof *ban);
	if (!ban)
		goto out;
	err = EIO;
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
		goto out;
	ban->k0 = key[0];
	ban->k1 = key[1];
	ban->threshold = threshold;
	ban->window_s = window_s;
	ban->ban_s = ban_s;
	*bp = ban;
	ban = NULL;
	err = 0;
out:
	free(ban);
	return err;
}

void sip_ban_free(struct sip_ban *ban)
{
	if (!ban)
		return;
	while (ban->banned.head)
		drop(ban, ban->banned.head);
	while (ban->watch.head)
		drop(ban, ban->watch.head);
	free(ban);
}

bool sip_ban_check(struct sip_ban *ban, const struct sockaddr *addr, int64_t now)
{
	struct ban_key k;
	if (!key_from_sa(&k, addr))
		return false;
	expire(ban, now);
	struct ban_entry *e = find(ban, &k);
	return e && e->banned;
}

bool sip_ban_fail(struct sip_ban *ban, const struct sockaddr *addr, int64_t now)
{
	struct ban_key k;
	if (!key_from_sa(&k, addr))
		return false;
	expire(ban, now);
	struct ban_entry *e = find(ban, &k);
	if (e && e->banned)
		return false; /* its packets are dropped; nothing more to count */
	if (e) {
		list_unlink(&ban->watch, e);
	} else {
		if (ban->count >= SIP_BAN_MAX)
			drop(ban, ban->watch.head ? ban->watch.head : ban->banned.head);
		e = calloc(1, sizeof *e);
		if (!e)
			return false; /* out of memory: forgetting one failure is harmless */
		e->key = k;
		e->window_start = now;
		size_t h = key_hash(ban, &k);
		e->hnext = ban->bucket[h];
		ban->bucket[h] = e;
		ban->count++;
	}
	if (now - e->window_start >= ban->window_s) {
		e->window_start = now;
		e->failures = 0;
	}
	e->failures++;
	e->last = now;
	/* Threshold 0 (sip.ban_threshold = 0) counts failures but never bans. */
	if (ban->threshold && e->failures >= (unsigned)ban->threshold) {
		e->banned = true;
		e->banned_until = now + ban->ban_s;
		list_append(&ban->banned, e);
		return true;
	}
	list_append(&ban->watch, e);
	return false;
}

void sip_ban_success(struct sip_ban *ban, const struct sockaddr *addr, int64_t now)
{
	struct ban_key k;
	if (!key_from_sa(&k, addr))
		return;
	expire(ban, now);
	struct ban_entry *e = find(ban, &k);
	if (e && !e->banned)
		drop(ban, e);
}

int sip_ban_remove(struct sip_ban *ban, const char *addr_text)
{
	char text[INET6_ADDRSTRLEN + 2];
	struct ban_key k;
	struct in6_addr a6;
	size_t n = addr_text ? strlen(addr_text) : 0;
	if (!n || n >= sizeof text)
		return EINVAL;
	if (addr_text[0] == '[' && addr_text[n - 1] == ']' && n > 2) {
		memcpy(text, addr_text + 1, n - 2);
		text[n - 2] = '\0';
	} else {
		memcpy(text, addr_text, n + 1);
	}
	memset(&k, 0, sizeof k);
	if (addr_text[0] != '[' && inet_pton(AF_INET, text, k.ip) == 1)
		k.family = AF_INET;
	else if (inet_pton(AF_INET6, text, &a6) == 1)
		key_from_v6(&k, &a6);
	else
		return EINVAL;
	struct ban_entry *e = find(ban, &k);
	if (!e || !e->banned)
		return ENOENT;
	drop(ban, e);
	return 0;
}

int sip_ban_each(struct sip_ban *ban, sip_ban_each_h *cb, void *arg, int64_t now)
{
	char text[INET6_ADDRSTRLEN];
	int rc;
	expire(ban, now);
	for (struct ban_entry *e = ban->banned.head; e; e = e->next) {
		key_str(&e->key, text, sizeof text);
		if ((rc = cb(text, e->failures, e->banned_until - now, arg)))
			return rc;
	}
	for (struct ban_entry *e = ban->watch.head; e; e = e->next) {
		if (now - e->window_start >= ban->window_s)
			continue; /* its window ended; the next failure starts afresh */
		key_str(&e->key, text, sizeof text);
		if ((rc = cb(text, e->failures, 0, arg)))
			return rc;
	}
	return 0;
}

size_t sip_ban_count(const struct sip_ban *ban)
{
	return ban->count;
}
