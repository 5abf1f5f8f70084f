/**
 * @file sip_pike.c  Flood guard table: request rate per source, blocks, expiry, bounded memory
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One chained hash of sources, each on one list in the order they were
 * last heard from (least recently first). Every request moves its source
 * to the tail, and first drops idle sources from the head: those not
 * heard from for a window, whose block (if any) is over. Expiry is thus
 * amortised O(1) without a timer. A blocked source that went quiet can
 * sit behind the head a little longer than its block; the console walk
 * sweeps the whole list.
 *
 * The rate is a sliding window approximated from two fixed ones, as
 * Cloudflare's rate limiter does: the requests of the current window,
 * plus those of the previous window weighted by how much of it still lies
 * within the last window_s. A fixed window alone would let a source
 * spread up to twice the rate across a boundary; the estimate costs one
 * more counter. Blocked sources are still counted, so one still flooding
 * when its block ends is blocked again at once as the same ban.
 *
 * Memory: SIP_PIKE_MAX entries of 88 bytes (1.375 MiB) and as many bucket
 * pointers (128 KiB), allocated once when the table is made with a rate;
 * calloc's pages are touched only as sources come, and nothing is
 * allocated on the packet path. When every entry is in use the source
 * heard from longest ago is forgotten, blocked or not: a flood of forged
 * sources costs a real flooder its place only if it pushes SIP_PIKE_MAX
 * other sources through between two of its requests, and a real flooder
 * sends every few milliseconds. The hash is SipHash with a random key,
 * so chosen source addresses (an IPv6 /64 gives plenty) cannot pile into
 * one chain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pbx/hash.h"
#include "sip_pike.h"

#define BUCKETS    SIP_PIKE_MAX /* power of two; one entry a chain on average when full */
#define MAX_TIME_S 86400
#define MAX_IGNORE 256

struct pike_entry {
	struct pike_entry *hnext;          /* hash chain */
	struct pike_entry *prev, *next;    /* the list; next also links the free entries */
	int64_t window_start;              /* of the current fixed window */
	int64_t last;                      /* last request */
	int64_t blocked_at, blocked_until; /* blocked_until 0: not blocked */
	uint32_t cur, prev_n;              /* requests in the current and previous window */
	uint32_t during;                   /* requests while blocked, saturating */
	struct sip_host key;
};

_Static_assert(sizeof(struct pike_entry) <= 88, "sip_pike.c states 88 bytes an entry");

struct pike_list {
	struct pike_entry *head, *tail;
};

struct sip_pike {
	struct sip_pike_conf conf;
	struct sip_ban_net ignore[MAX_IGNORE];
	int64_t window_ms, block_ms;
	uint64_t k0, k1;
	size_t count;
	struct pike_list lru;
	struct pike_entry *pool, *free; /* SIP_PIKE_MAX entries; NULL when off */
	struct pike_entry **bucket;     /* BUCKETS chains; NULL when off */
};

/* ---- keys ------------------------------------------------------------------------ */

static size_t key_hash(const struct sip_pike *p, const struct sip_host *k)
{
	return (size_t)(pbx_siphash(k, sizeof *k, p->k0, p->k1) & (BUCKETS - 1));
}

/* ---- entries --------------------------------------------------------------------- */

static void list_unlink(struct pike_list *l, struct pike_entry *e)
{
	*(e->prev ? &e->prev->next : &l->head) = e->next;
	*(e->next ? &e->next->prev : &l->tail) = e->prev;
	e->prev = e->next = NULL;
}

static void list_append(struct pike_list *l, struct pike_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	*(l->tail ? &l->tail->next : &l->head) = e;
	l->tail = e;
}

static struct pike_entry *find(const struct sip_pike *p, const struct sip_host *k)
{
	for (struct pike_entry *e = p->bucket[key_hash(p, k)]; e; e = e->hnext)
		if (!memcmp(&e->key, k, sizeof *k))
			return e;
	return NULL;
}

/* Requests in the window that ends at @p now: the current fixed window's,
 * and the previous one's share that still overlaps it. */
static unsigned estimate(const struct sip_pike *p, const struct pike_entry *e, int64_t now)
{
	int64_t w = p->window_ms, age = now - e->window_start;
	uint64_t cur = e->cur, prev = e->prev_n;
	if (age >= 2 * w)
		return 0;
	if (age >= w) { /* the current window is over: it is the previous one now */
		prev = cur;
		cur = 0;
		age -= w;
	}
	uint64_t n = cur + prev * (uint64_t)(w - age) / (uint64_t)w;
	return n > UINT32_MAX ? UINT32_MAX : (unsigned)n;
}

static void roll(const struct sip_pike *p, struct pike_entry *e, int64_t now)
{
	int64_t w = p->window_ms;
	if (now - e->window_start >= 2 * w) {
		e->window_start = now;
		e->cur = e->prev_n = 0;
	} else if (now - e->window_start >= w) {
		e->window_start += w;
		e->prev_n = e->cur;
		e->cur = 0;
	}
}

static bool blocked_now(const struct pike_entry *e, int64_t now)
{
	return e->blocked_until && now < e->blocked_until;
}

static void entry_info(const struct sip_pike *p, const struct pike_entry *e, int64_t now,
		       struct sip_pike_info *i)
{
	memset(i, 0, sizeof *i);
	if (!inet_ntop(e->key.family, e->key.ip, i->addr, sizeof i->addr))
		i->addr[0] = '\0';
	i->blocked = blocked_now(e, now);
	i->rate = estimate(p, e, now);
	i->during = e->during;
	if (e->blocked_until) {
		int64_t end = now < e->blocked_until ? now : e->blocked_until;
		i->remaining_ms = i->blocked ? e->blocked_until - now : 0;
		i->blocked_ms = end - e->blocked_at;
	}
}

/* A block is over: say so (once), and forget it. */
static void end_block(struct sip_pike *p, struct pike_entry *e, int64_t now, bool evicted)
{
	if (!e->blocked_until)
		return;
	if (p->conf.on_end) {
		struct sip_pike_info info;
		entry_info(p, e, now, &info);
		info.evicted = evicted;
		p->conf.on_end(&info, p->conf.arg);
	}
	e->blocked_at = e->blocked_until = 0;
	e->during = 0;
}

/* Unlink @p e from the hash and the list and give it back to the pool. */
static void drop(struct sip_pike *p, struct pike_entry *e)
{
	struct pike_entry **pp = &p->bucket[key_hash(p, &e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(&p->lru, e);
	memset(e, 0, sizeof *e);
	e->next = p->free;
	p->free = e;
	p->count--;
}

static bool idle(const struct sip_pike *p, const struct pike_entry *e, int64_t now)
{
	return now - e->last >= p->window_ms && !blocked_now(e, now);
}

static void expire(struct sip_pike *p, int64_t now)
{
	while (p->lru.head && idle(p, p->lru.head, now)) {
		end_block(p, p->lru.head, now, false);
		drop(p, p->lru.head);
	}
}

/* A new entry for @p k, in the hash and on no list. */
static struct pike_entry *entry_new(struct sip_pike *p, const struct sip_host *k, int64_t now)
{
	if (!p->free) { /* full: forget the source heard from longest ago */
		end_block(p, p->lru.head, now, true);
		drop(p, p->lru.head);
	}
	struct pike_entry *e = p->free;
	p->free = e->next;
	e->next = NULL;
	e->key = *k;
	e->window_start = now;
	size_t h = key_hash(p, k);
	e->hnext = p->bucket[h];
	p->bucket[h] = e;
	p->count++;
	return e;
}

/* ---- the table --------------------------------------------------------------------- */

int sip_pike_alloc(struct sip_pike **pp, const struct sip_pike_conf *conf)
{
	struct sip_pike *p = NULL;
	uint64_t key[2];
	int err = EINVAL;
	*pp = NULL;
	if (conf->rate < 0 || conf->window_s < 1 || conf->block_s < 1 ||
	    conf->window_s > MAX_TIME_S || conf->block_s > MAX_TIME_S || conf->n_ignore < 0 ||
	    conf->n_ignore > MAX_IGNORE || (conf->n_ignore && !conf->ignore))
		goto out;
	err = ENOMEM;
	p = calloc(1, sizeof *p);
	if (!p)
		goto out;
	p->conf = *conf;
	if (conf->n_ignore)
		memcpy(p->ignore, conf->ignore, (size_t)conf->n_ignore * sizeof *p->ignore);
	p->conf.ignore = p->ignore;
	p->window_ms = (int64_t)conf->window_s * 1000;
	p->block_ms = (int64_t)conf->block_s * 1000;
	if (conf->rate) {
		p->pool = calloc(SIP_PIKE_MAX, sizeof *p->pool);
		p->bucket = calloc(BUCKETS, sizeof *p->bucket);
		if (!p->pool || !p->bucket)
			goto out;
		for (size_t i = SIP_PIKE_MAX; i-- > 0;) {
			p->pool[i].next = p->free;
			p->free = &p->pool[i];
		}
		err = EIO;
		if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
			goto out;
		p->k0 = key[0];
		p->k1 = key[1];
	}
	*pp = p;
	p = NULL;
	err = 0;
out:
	sip_pike_free(p);
	return err;
}

void sip_pike_free(struct sip_pike *p)
{
	if (!p)
		return;
	free(p->pool);
	free(p->bucket);
	free(p);
}

bool sip_pike_enabled(const struct sip_pike *p)
{
	return p->conf.rate > 0;
}

static bool ignored(const struct sip_pike *p, const struct sip_host *k)
{
	/* Linear in the list: every request pays for it, so keep it short. */
	for (int i = 0; i < p->conf.n_ignore; i++)
		if (sip_ban_net_has(&p->ignore[i], k->family, k->ip))
			return true;
	return false;
}

enum sip_pike_verdict sip_pike_request(struct sip_pike *p, const struct sockaddr *addr,
				       int64_t now_ms, struct sip_pike_info *info)
{
	struct sip_host k;
	if (!p->conf.rate || !sip_host_from_sa(&k, addr) || ignored(p, &k))
		return SIP_PIKE_PASS;
	expire(p, now_ms);
	struct pike_entry *e = find(p, &k);
	if (e)
		list_unlink(&p->lru, e);
	else
		e = entry_new(p, &k, now_ms);
	list_append(&p->lru, e);
	e->last = now_ms;
	roll(p, e, now_ms);
	if (e->cur < UINT32_MAX)
		e->cur++;
	unsigned n = estimate(p, e, now_ms);
	bool over = n > (unsigned)p->conf.rate;
	if (e->blocked_until) {
		if (e->during < UINT32_MAX)
			e->during++;
		if (now_ms < e->blocked_until)
			return SIP_PIKE_DROP;
		/* Its time is up. Still flooding: the same ban goes on, unlogged. */
		if (over) {
			e->blocked_until = now_ms + p->block_ms;
			return SIP_PIKE_DROP;
		}
		end_block(p, e, now_ms, false);
		return SIP_PIKE_PASS;
	}
	if (!over)
		return SIP_PIKE_PASS;
	e->blocked_at = now_ms;
	e->blocked_until = now_ms + p->block_ms;
	e->during = 1;
	if (info)
		entry_info(p, e, now_ms, info);
	return SIP_PIKE_BLOCK;
}

int sip_pike_each(struct sip_pike *p, sip_pike_each_h *cb, void *arg, int64_t now_ms)
{
	struct sip_pike_info info;
	int rc;
	if (!p->conf.rate)
		return 0;
	/* Linear in the table: a console command, not the packet path. */
	for (struct pike_entry *e = p->lru.head, *next; e; e = next) {
		next = e->next;
		if (idle(p, e, now_ms)) {
			end_block(p, e, now_ms, false);
			drop(p, e);
		}
	}
	for (struct pike_entry *e = p->lru.head; e; e = e->next) {
		if (!blocked_now(e, now_ms))
			continue;
		entry_info(p, e, now_ms, &info);
		if ((rc = cb(&info, arg)))
			return rc;
	}
	return 0;
}

int sip_pike_remove(struct sip_pike *p, const char *text, int64_t now_ms)
{
	struct sip_host k;
	if (!text || !sip_host_parse(&k, text, strlen(text)))
		return EINVAL;
	if (!p->conf.rate)
		return ENOENT;
	expire(p, now_ms);
	struct pike_entry *e = find(p, &k);
	if (!e || !blocked_now(e, now_ms))
		return ENOENT;
	drop(p, e);
	return 0;
}

size_t sip_pike_count(const struct sip_pike *p)
{
	return p->count;
}
