/**
 * @file conf_rooms.h  Conference room definitions, kept in the directory (SQLite)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A room is defined once (console: `confbridge room add`) and read by the
 * conference application when someone joins. A number that is not defined
 * here can still be a conference; it simply has no PIN, no limit of its
 * own, no recording and the default hold music.
 *
 * Signalling thread only. Every statement is prepared; nothing is spliced
 * into SQL.
 */
#ifndef PBX_CONF_ROOMS_H
#define PBX_CONF_ROOMS_H

#include <stdbool.h>

#define PBX_CONF_NUM_MAX 32
#define PBX_CONF_PIN_MAX 16

struct pbx_conf_room {
	char number[PBX_CONF_NUM_MAX + 1];
	char pin[PBX_CONF_PIN_MAX + 1];       /* "" : no PIN */
	char admin_pin[PBX_CONF_PIN_MAX + 1]; /* "" : no admin PIN */
	unsigned max_members;                 /* 0: no limit of its own */
	bool record;                          /* record the room from its first join */
	char moh[64];                         /* hold-music class while alone; "" default */
};

/** The room @p number. 0, ENOENT (not defined), EINVAL (bad number) or EIO. */
int pbx_conf_room_get(const char *number, struct pbx_conf_room *out);
/** Add or replace. 0, EINVAL (a field is bad: number not digits/letters, PIN not digits), EIO. */
int pbx_conf_room_put(const struct pbx_conf_room *r);
/** 0, ENOENT or EIO. */
int pbx_conf_room_del(const char *number);
/** Call @p cb for each room in number order until it returns non-zero. 0 or EIO. */
int pbx_conf_room_each(int (*cb)(const struct pbx_conf_room *r, void *arg), void *arg);

#endif
