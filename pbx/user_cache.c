/**
 * @file user_cache.c  A keyed hash table of users read from the directory
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "pbx/hash.h"
#include "user_cache.h"

#define BUCKETS 4096 /* a power of two; chains of 4 at the most users kept */

struct entry {
	struct entry *next;
	struct pbx_user u;
};

struct pbx__user_cache {
	uint64_t k0, k1; /* extensions come from the network: keyed */
	unsigned n;
	struct entry *b[BUCKETS];
};

int pbx__user_cache_alloc(struct pbx__user_cache **cp)
{
	struct pbx__user_cache *c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	if (RAND_bytes((unsigned char *)&c->k0, sizeof c->k0) != 1 ||
	    RAND_bytes((unsigned char *)&c->k1, sizeof c->k1) != 1) {
		free(c);
		return EIO;
	}
	*cp = c;
	return 0;
}

void pbx__user_cache_free(struct pbx__user_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < BUCKETS; i++)
		for (struct entry *e = c->b[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(c);
}

static struct entry **slot(struct pbx__user_cache *c, const char *ext)
{
	struct entry **pp = &c->b[pbx_siphash(ext, strlen(ext), c->k0, c->k1) & (BUCKETS - 1)];
	while (*pp && strcmp((*pp)->u.ext, ext))
		pp = &(*pp)->next;
	return pp;
}

bool pbx__user_cache_get(struct pbx__user_cache *c, const char *ext, struct pbx_user *u)
{
	struct entry *e = *slot(c, ext);
	if (!e)
		return false;
	*u = e->u;
	return true;
}

void pbx__user_cache_put(struct pbx__user_cache *c, const struct pbx_user *u)
{
	struct entry **pp = slot(c, u->ext);
	if (*pp) {
		(*pp)->u = *u;
		return;
	}
	if (c->n >= USER_CACHE_MAX)
		return;
	struct entry *e = malloc(sizeof *e);
	if (!e)
		return; /* a cache: SQLite still answers */
	e->u = *u;
	e->next = NULL;
	*pp = e;
	c->n++;
}

void pbx__user_cache_drop(struct pbx__user_cache *c, const char *ext)
{
	struct entry **pp = slot(c, ext), *e = *pp;
	if (!e)
		return;
	*pp = e->next;
	free(e);
	c->n--;
}

unsigned pbx__user_cache_count(const struct pbx__user_cache *c)
{
	return c->n;
}
