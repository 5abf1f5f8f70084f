/**
 * @file sip_ban.c  Ban table of (address, user) pairs and addresses: counters, bans, expiry, bounded memory
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One chained hash holds two kinds of entries: an ADDRESS entry (key: the
 * IP) counts every failure from that address and the users they were for,
 * and a PAIR entry (key: the IP and a hash of the user name) counts the
 * failures of one user from there. A failure updates both. Two lists give
 * expiry in O(1) amortised without a timer: "watch" holds entries being
 * counted, ordered by last failure, and "banned" holds bans ordered by
 * their end (every ban lasts ban_s, so appending keeps the order). Every
 * call first drops the expired heads of both lists.
 *
 * Different users are counted without a set per address: an address
 * entry numbers each of its windows (window_id), and a pair entry
 * remembers the window it was last counted in. A user whose pair carries
 * another number is new to this window. So an address needs no list of
 * users, whatever sip.ban_users is; it keeps only the first names tried,
 * as text for the log and the console (SIP_BAN_TEXT_MAX bytes).
 *
 * The hash is SipHash with a random key, over the address and over user
 * names: an attacker choosing source addresses (an IPv6 /64 gives plenty)
 * or user names cannot aim them at one chain and turn the checks, which
 * run on every packet, into a list walk. A pair is keyed by a 64-bit
 * keyed hash of the whole user name, so long names are not cut into one
 * key; two names colliding under a secret key is not a practical risk.
 *
 * Memory is bounded by SIP_BAN_MAX entries of 168 bytes (176 with
 * malloc's header), 11.5 MiB, plus 128 KiB of buckets allocated up front.
 * When the table is full the entry counted longest ago is forgotten; if
 * every entry is banned, the ban closest to its end goes, so the newest
 * attackers stay banned.
 *
 * The window is fixed, starting at the first failure it counts, rather
 * than sliding: a pair can spread up to 2 * (threshold - 1) failures
 * across a window boundary unnoticed, and in exchange an entry is a
 * counter and a few times instead of a ring of timestamps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pbx/hash.h"
#include "sip_ban.h"

#define BUCKETS    16384 /* power of two; up to 4 entries a chain when full */
#define MAX_TIME_S (366 * 86400)
#define MAX_IGNORE 256

struct ban_key {
	struct sip_host host;
	uint8_t pair;  /* 1: a pair, user set; 0: an address */
	uint64_t user; /* keyed hash of the user name */
};

struct ban_entry {
	struct ban_entry *hnext;       /* hash chain */
	struct ban_entry *prev, *next; /* in watch or banned */
	int64_t window_start;
	int64_t last; /* last failure: watch order and counter expiry */
	int64_t banned_until;
	/* Address: the number of its current window. Pair: the number of the
	 * address window it was last counted in as a user. */
	uint64_t window_id;
	unsigned failures;
	unsigned n_users; /* address: different users in this window */
	bool banned, by_users, cut;
	struct ban_key key;
	char text[SIP_BAN_TEXT_MAX]; /* pair: its user; address: users tried */
};

struct ban_list {
	struct ban_entry *head, *tail;
};

struct sip_ban {
	struct sip_ban_conf conf;
	struct sip_ban_net ignore[MAX_IGNORE];
	size_t count, pairs_banned;
	uint64_t k0, k1, next_window;
	struct ban_list watch, banned;
	struct ban_entry *bucket[BUCKETS];
};

/* ---- networks ------------------------------------------------------------------ */

int sip_ban_net_parse(struct sip_ban_net *net, const char *text, const char **why)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	long prefix = -1;
	memset(net, 0, sizeof *net);
	*why = "not a network like \"192.0.2.0/24\", \"2001:db8::/32\" or an address";
	if (!n || n >= sizeof addr)
		return EINVAL;
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, net->ip) == 1)
		net->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, net->ip) == 1)
		net->family = AF_INET6;
	else
		return EINVAL;
	int bits = net->family == AF_INET ? 32 : 128;
	if (slash) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return EINVAL;
		prefix = strtol(slash + 1, &end, 10);
		if (*end)
			return EINVAL;
		if (prefix > bits) {
			*why = net->family == AF_INET ? "prefix length must be 0-32"
						      : "prefix length must be 0-128";
			return EINVAL;
		}
	}
	net->prefix = (uint8_t)(slash ? prefix : bits);
	/* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d, and the
	 * table keys them as IPv4; a mapped network must match them too. */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (net->family == AF_INET6 && net->prefix >= 96 && !memcmp(net->ip, mapped, 12)) {
		net->family = AF_INET;
		memmove(net->ip, net->ip + 12, 4);
		memset(net->ip + 4, 0, 12);
		net->prefix -= 96;
	}
	/* Host bits are cleared rather than refused: "192.0.2.7/24" says
	 * what its writer meant. */
	for (int i = net->prefix; i < 128; i++)
		net->ip[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return 0;
}

bool sip_ban_net_has(const struct sip_ban_net *net, int family, const uint8_t *ip)
{
	if (net->family != family)
		return false;
	int full = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(net->ip, ip, (size_t)full))
		return false;
	return !rest || !((net->ip[full] ^ ip[full]) & (uint8_t)(0xff00u >> rest));
}

/* ---- keys and text ------------------------------------------------------------- */

static size_t key_hash(const struct sip_ban *ban, const struct ban_key *k)
{
	return (size_t)(pbx_siphash(k, sizeof *k, ban->k0, ban->k1) & (BUCKETS - 1));
}

static void host_from_v6(struct sip_host *h, const struct in6_addr *a6)
{
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		h->family = AF_INET;
		memcpy(h->ip, a6->s6_addr + 12, 4);
	} else {
		h->family = AF_INET6;
		memcpy(h->ip, a6->s6_addr, 16);
	}
}

bool sip_host_from_sa(struct sip_host *h, const struct sockaddr *sa)
{
	memset(h, 0, sizeof *h);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		h->family = AF_INET;
		memcpy(h->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		host_from_v6(h, &((const struct sockaddr_in6 *)sa)->sin6_addr);
		return true;
	}
	return false;
}

bool sip_host_parse(struct sip_host *h, const char *text, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct in6_addr a6;
	bool bracket = n > 2 && text[0] == '[' && text[n - 1] == ']';
	memset(h, 0, sizeof *h);
	if (!n || n >= sizeof buf)
		return false;
	memcpy(buf, text + bracket, n - 2 * bracket);
	buf[n - 2 * bracket] = '\0';
	if (!bracket && inet_pton(AF_INET, buf, h->ip) == 1) {
		h->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;
	host_from_v6(h, &a6);
	return true;
}

/* The address key of @p sa (padding zeroed: keys are hashed and compared whole). */
static bool key_from_sa(struct ban_key *k, const struct sockaddr *sa)
{
	memset(k, 0, sizeof *k);
	return sip_host_from_sa(&k->host, sa);
}

/* The pair key of @p user at the address of @p addr_key. */
static void key_pair(const struct sip_ban *ban, struct ban_key *k, const struct ban_key *addr_key,
		     const char *user)
{
	*k = *addr_key;
	k->pair = 1;
	/* Another key than the table's, so a user hash and a bucket index
	 * never come from the same function. */
	k->user = pbx_siphash(user, strlen(user), ban->k1, ban->k0);
}

static void key_str(const struct ban_key *k, char *buf, size_t len)
{
	if (!inet_ntop(k->host.family, k->host.ip, buf, (socklen_t)len))
		buf[0] = '\0';
}

static bool key_parse(struct ban_key *k, const char *text, size_t n)
{
	memset(k, 0, sizeof *k);
	return sip_host_parse(&k->host, text, n);
}

/* A user name chosen by an attacker can neither break a log line nor
 * forge a field or a comma in it. */
bool sip_ban_escape(char *buf, const char *user)
{
	static const char safe[] = "-_.!~*+@$&";
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)user; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr(safe, *p);
		if (o + (plain ? 1 : 3) >= SIP_BAN_TEXT_MAX) {
			buf[o] = '\0';
			return false;
		}
		if (plain) {
			buf[o++] = (char)*p;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		}
	}
	buf[o] = '\0';
	return true;
}

/* ---- lists and entries --------------------------------------------------------- */

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

/* Unlink @p e from the hash and its list (@p listed: it is on one) and free it. */
static void drop_entry(struct sip_ban *ban, struct ban_entry *e, bool listed)
{
	struct ban_entry **pp = &ban->bucket[key_hash(ban, &e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (listed)
		list_unlink(e->banned ? &ban->banned : &ban->watch, e);
	if (e->banned && e->key.pair)
		ban->pairs_banned--;
	ban->count--;
	free(e);
}

static void drop(struct sip_ban *ban, struct ban_entry *e)
{
	drop_entry(ban, e, true);
}

/* Amortised O(1): each entry is dropped once, and the loops stop at the
 * first head still alive. */
static void expire(struct sip_ban *ban, int64_t now)
{
	while (ban->banned.head && ban->banned.head->banned_until <= now)
		drop(ban, ban->banned.head);
	while (ban->watch.head && ban->watch.head->last + ban->conf.window_s <= now)
		drop(ban, ban->watch.head);
}

/* A new entry for @p k, in the hash and on no list; NULL when out of memory. */
static struct ban_entry *entry_new(struct sip_ban *ban, const struct ban_key *k, int64_t now)
{
	struct ban_entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->key = *k;
	e->window_start = now;
	size_t h = key_hash(ban, k);
	e->hnext = ban->bucket[h];
	ban->bucket[h] = e;
	ban->count++;
	return e;
}

static void entry_info(const struct sip_ban *ban, const struct ban_entry *e, int64_t now,
		       struct sip_ban_info *i)
{
	memset(i, 0, sizeof *i);
	i->pair = e->key.pair;
	i->banned = e->banned;
	i->by_users = e->by_users;
	i->cut = e->cut;
	i->failures = e->failures;
	i->n_users = e->key.pair ? 1 : e->n_users;
	i->remaining_s =
		e->banned ? e->banned_until - now : e->window_start + ban->conf.window_s - now;
	key_str(&e->key, i->addr, sizeof i->addr);
	snprintf(i->users, sizeof i->users, "%s", e->text);
}

/* ---- the table ------------------------------------------------------------------- */

int sip_ban_alloc(struct sip_ban **bp, const struct sip_ban_conf *conf)
{
	struct sip_ban *ban = NULL;
	uint64_t key[2];
	int err = EINVAL;
	*bp = NULL;
	if (conf->threshold < 0 || conf->users < 1 || conf->threshold_address < 1 ||
	    conf->window_s < 1 || conf->ban_s < 1 || conf->window_s > MAX_TIME_S ||
	    conf->ban_s > MAX_TIME_S || conf->n_ignore < 0 || conf->n_ignore > MAX_IGNORE ||
	    (conf->n_ignore && !conf->ignore))
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
	ban->conf = *conf;
	if (conf->n_ignore)
		memcpy(ban->ignore, conf->ignore, (size_t)conf->n_ignore * sizeof *ban->ignore);
	ban->conf.ignore = ban->ignore;
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

size_t sip_ban_pairs_banned(const struct sip_ban *ban)
{
	return ban->pairs_banned;
}

bool sip_ban_check_user(struct sip_ban *ban, const struct sockaddr *addr, const char *user,
			int64_t now)
{
	struct ban_key ak, pk;
	if (!key_from_sa(&ak, addr))
		return false;
	expire(ban, now);
	key_pair(ban, &pk, &ak, user ? user : "");
	struct ban_entry *e = find(ban, &pk);
	return e && e->banned;
}

static bool ignored(const struct sip_ban *ban, const struct ban_key *k)
{
	/* Linear in the list; it is short, and only failures pay for it. */
	for (int i = 0; i < ban->conf.n_ignore; i++)
		if (sip_ban_net_has(&ban->ignore[i], k->host.family, k->host.ip))
			return true;
	return false;
}

static void ban_entry(struct sip_ban *ban, struct ban_entry *e, int64_t now)
{
	e->banned = true;
	e->banned_until = now + ban->conf.ban_s;
	if (e->key.pair)
		ban->pairs_banned++;
	list_append(&ban->banned, e);
}

bool sip_ban_fail(struct sip_ban *ban, const struct sockaddr *addr, const char *user, int64_t now,
		  struct sip_ban_info *info)
{
	struct ban_key ak, pk;
	if (!user)
		user = "";
	if (!key_from_sa(&ak, addr) || ignored(ban, &ak))
		return false;
	expire(ban, now);
	key_pair(ban, &pk, &ak, user);
	struct ban_entry *a = find(ban, &ak), *p = find(ban, &pk);
	if ((a && a->banned) || (p && p->banned))
		return false; /* its requests are dropped; nothing more to count */
	/* Off the watch list while room is made, so neither is the entry
	 * evicted; both go back at its tail below. */
	if (a)
		list_unlink(&ban->watch, a);
	if (p)
		list_unlink(&ban->watch, p);
	bool a_new = !a, p_new = !p;
	while (ban->count + a_new + p_new > SIP_BAN_MAX && (ban->watch.head || ban->banned.head))
		drop(ban, ban->watch.head ? ban->watch.head : ban->banned.head);
	if (a_new && (a = entry_new(ban, &ak, now)))
		a->window_id = ++ban->next_window;
	if (p_new && (p = entry_new(ban, &pk, now)))
		sip_ban_escape(p->text, user);
	if (!a || !p) { /* out of memory: forgetting one failure is harmless */
		struct ban_entry *both[] = {a, p};
		for (int i = 0; i < 2; i++) {
			if (!both[i])
				continue;
			if (i ? p_new : a_new) /* what it counted so far stays */
				drop_entry(ban, both[i], false);
			else
				list_append(&ban->watch, both[i]);
		}
		return false;
	}
	if (now - a->window_start >= ban->conf.window_s) {
		a->window_start = now;
		a->window_id = ++ban->next_window;
		a->failures = a->n_users = 0;
		a->text[0] = '\0';
		a->cut = false;
	}
	if (now - p->window_start >= ban->conf.window_s) {
		p->window_start = now;
		p->failures = 0;
	}
	a->failures++;
	p->failures++;
	a->last = p->last = now;
	if (p->window_id != a->window_id) { /* a user new to this window */
		p->window_id = a->window_id;
		a->n_users++;
		char one[SIP_BAN_TEXT_MAX];
		size_t n = strlen(a->text), m = sip_ban_escape(one, user) ? strlen(one) : SIZE_MAX;
		if (!a->cut && m < sizeof a->text - n - 1) {
			if (n)
				a->text[n++] = ',';
			memcpy(a->text + n, one, m + 1);
		} else {
			a->cut = true;
		}
	}
	/* Threshold 0 (sip.ban_threshold = 0) counts failures but never bans.
	 * The address first: one ban, one log line, the widest that applies. */
	struct ban_entry *made = NULL;
	if (ban->conf.threshold) {
		if (a->n_users >= (unsigned)ban->conf.users) {
			a->by_users = true;
			made = a;
		} else if (a->failures >= (unsigned)ban->conf.threshold_address) {
			made = a;
		} else if (p->failures >= (unsigned)ban->conf.threshold) {
			made = p;
		}
	}
	if (made == a)
		ban_entry(ban, a, now);
	else
		list_append(&ban->watch, a);
	if (made == p)
		ban_entry(ban, p, now);
	else
		list_append(&ban->watch, p);
	if (made && info)
		entry_info(ban, made, now, info);
	return made != NULL;
}

void sip_ban_success(struct sip_ban *ban, const struct sockaddr *addr, const char *user,
		     int64_t now)
{
	struct ban_key ak, pk;
	if (!key_from_sa(&ak, addr))
		return;
	expire(ban, now);
	key_pair(ban, &pk, &ak, user ? user : "");
	struct ban_entry *p = find(ban, &pk);
	/* The entry stays, with its window number, so that a phone failing
	 * again in this window is not counted as one more user. The
	 * address's count stays too: a scanner that knows one password must
	 * not wipe what its guesses at others added up. */
	if (p && !p->banned)
		p->failures = 0;
}

int sip_ban_remove(struct sip_ban *ban, const char *text, int64_t now)
{
	struct ban_key ak, pk;
	if (!text)
		return EINVAL;
	const char *at = strrchr(text, '@');
	const char *addr = at ? at + 1 : text;
	if (!key_parse(&ak, addr, strlen(addr)))
		return EINVAL;
	expire(ban, now);
	if (at) {
		char user[256];
		size_t n = (size_t)(at - text);
		if (!n || n >= sizeof user)
			return EINVAL;
		memcpy(user, text, n);
		user[n] = '\0';
		key_pair(ban, &pk, &ak, user);
		struct ban_entry *p = find(ban, &pk);
		if (!p || !p->banned)
			return ENOENT;
		drop(ban, p);
		return 0;
	}
	/* Linear in the table: a console command, not the packet path. */
	bool any = false;
	for (struct ban_entry *e = ban->banned.head; e && !any; e = e->next)
		any = !memcmp(&e->key.host, &ak.host, sizeof ak.host);
	if (!any)
		return ENOENT;
	struct ban_list *lists[] = {&ban->banned, &ban->watch};
	for (int l = 0; l < 2; l++)
		for (struct ban_entry *e = lists[l]->head, *next; e; e = next) {
			next = e->next;
			if (!memcmp(&e->key.host, &ak.host, sizeof ak.host))
				drop(ban, e);
		}
	return 0;
}

int sip_ban_each(struct sip_ban *ban, sip_ban_each_h *cb, void *arg, int64_t now)
{
	struct sip_ban_info info;
	int rc;
	expire(ban, now);
	for (struct ban_entry *e = ban->banned.head; e; e = e->next) {
		entry_info(ban, e, now, &info);
		if ((rc = cb(&info, arg)))
			return rc;
	}
	for (struct ban_entry *e = ban->watch.head; e; e = e->next) {
		/* A window that ended, or a pair forgiven by a good login: the
		 * entry stays for what it remembers, but counts nothing now. */
		if (now - e->window_start >= ban->conf.window_s || !e->failures)
			continue;
		/* The pairs of a banned address: its ban says it all. */
		if (e->key.pair) {
			struct ban_key ak = e->key;
			ak.pair = 0;
			ak.user = 0;
			const struct ban_entry *a = find(ban, &ak);
			if (a && a->banned)
				continue;
		}
		entry_info(ban, e, now, &info);
		if ((rc = cb(&info, arg)))
			return rc;
	}
	return 0;
}

void sip_ban_reason(const struct sip_ban_info *i, char *buf, size_t len)
{
	const char *more = i->cut ? ",..." : "";
	if (i->pair)
		snprintf(buf, len, "%u failed login%s for %s", i->failures,
			 i->failures == 1 ? "" : "s", i->users);
	else if (i->by_users)
		snprintf(buf, len, "%u users tried: %s%s", i->n_users, i->users, more);
	else if (i->banned)
		snprintf(buf, len, "%u failed logins", i->failures);
	else
		snprintf(buf, len, "%u failed login%s for %u user%s: %s%s", i->failures,
			 i->failures == 1 ? "" : "s", i->n_users, i->n_users == 1 ? "" : "s",
			 i->users, more);
}

size_t sip_ban_count(const struct sip_ban *ban)
{
	return ban->count;
}
