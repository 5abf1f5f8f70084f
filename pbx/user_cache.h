/**
 * @file user_cache.h  Users kept in memory for the signalling path (private to the directory)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every REGISTER, INVITE and MESSAGE asks the directory for its user's
 * digest hashes: through SQLite that was a read transaction with its file
 * locks each time, a quarter of the CPU of a registration. The directory
 * keeps the users it has read here and drops one whenever it writes it
 * (add, update, delete), so what it answers is what SQLite holds as long
 * as users change through the PBX (the console), never behind its back.
 * Only users that exist are kept (a scanner's made-up names are not), and
 * at most USER_CACHE_MAX of them (about 1 KiB each); past that, lookups go
 * to SQLite again. Loop thread only, as the directory.
 */
#ifndef PBX_USER_CACHE_H
#define PBX_USER_CACHE_H

#include <stdbool.h>

#include "pbx/directory.h"

#define USER_CACHE_MAX 16384

struct pbx__user_cache;

int pbx__user_cache_alloc(struct pbx__user_cache **cp);
void pbx__user_cache_free(struct pbx__user_cache *c);
/** Copy the cached @p ext into @p u: true, or false when not cached. */
bool pbx__user_cache_get(struct pbx__user_cache *c, const char *ext, struct pbx_user *u);
/** Keep @p u (replacing what was kept for its extension); silently not when full. */
void pbx__user_cache_put(struct pbx__user_cache *c, const struct pbx_user *u);
/** Forget @p ext, after it was written. */
void pbx__user_cache_drop(struct pbx__user_cache *c, const char *ext);
/** How many users are kept. */
unsigned pbx__user_cache_count(const struct pbx__user_cache *c);

#endif
