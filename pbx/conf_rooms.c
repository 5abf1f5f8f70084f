/**
 * @file conf_rooms.c  Conference room definitions in the directory's `conf_rooms` table
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each call prepares its statement and finalizes it before returning,
 * instead of keeping prepared statements as voicemail.c does. Rooms are
 * read when someone joins a conference and written from the console, a
 * few times a second at most, and a prepare costs tens of microseconds;
 * in exchange no statement outlives a call, so nothing here holds the
 * directory open when it closes and there is no module state to unload.
 */
#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core_priv.h"
#include "pbx/chan.h"
#include "pbx/conf_rooms.h"
#include "pbx/core.h"
#include "pbx/log.h"

#define MAX_MEMBERS 10000

#define COLS "number,pin,admin_pin,max_members,record,moh"

static const char sql_get[] = "SELECT " COLS " FROM conf_rooms WHERE number=?1";
static const char sql_put[] = "INSERT OR REPLACE INTO conf_rooms(" COLS ") "
			      "VALUES(?1,?2,?3,?4,?5,?6)";
static const char sql_del[] = "DELETE FROM conf_rooms WHERE number=?1";
/* Shorter numbers first, then lexical, as `user list` orders extensions. */
static const char sql_each[] = "SELECT " COLS " FROM conf_rooms "
			       "ORDER BY length(number), number";

/* ---- validation ---------------------------------------------------------- */

/* A field's text must end inside its array: the struct may come from anywhere. */
static bool fits(const char *s, size_t size)
{
	return strnlen(s, size) < size;
}

static const char *check_number(const char *n, size_t size)
{
	if (!fits(n, size) || !*n || strlen(n) > PBX_CONF_NUM_MAX)
		return "1 to 32 letters, digits, - or _";
	for (const char *p = n; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return "1 to 32 letters, digits, - or _";
	return NULL;
}

static const char *check_pin(const char *pin, size_t size)
{
	if (!fits(pin, size) || strlen(pin) > PBX_CONF_PIN_MAX)
		return "digits only, at most 16";
	for (const char *p = pin; *p; p++)
		if (!isdigit((unsigned char)*p))
			return "digits only, at most 16";
	return NULL;
}

const char *pbx__conf_room_check(const struct pbx_conf_room *r, const char **field)
{
	const char *why;
	if ((why = check_number(r->number, sizeof r->number))) {
		*field = "number";
		return why;
	}
	if ((why = check_pin(r->pin, sizeof r->pin))) {
		*field = "pin";
		return why;
	}
	if ((why = check_pin(r->admin_pin, sizeof r->admin_pin))) {
		*field = "admin_pin";
		return why;
	}
	if (r->max_members > MAX_MEMBERS) {
		*field = "max_members";
		return "a number from 0 (no limit) to 10000";
	}
	if (!fits(r->moh, sizeof r->moh))
		why = "too long (at most 63 characters)";
	else if (r->moh[0])
		why = pbx_moh_check_class(r->moh); /* "" is the default class */
	if (why)
		*field = "moh";
	return why;
}

/* ---- statements ---------------------------------------------------------- */

/* @p sql prepared on the directory's handle; NULL (logged) when that fails. */
static sqlite3_stmt *prepare(const char *sql)
{
	sqlite3 *db = pbx_dir() ? pbx__dir_db(pbx_dir()) : NULL;
	sqlite3_stmt *st = NULL;
	if (!db) {
		pbx_error("conference rooms: no directory");
		return NULL;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		pbx_error("conference rooms: prepare: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Finalize @p st; EIO (logged) unless its last step was @p ok. */
static int finish(sqlite3_stmt *st, bool ok)
{
	if (!ok)
		pbx_error("conference rooms: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
	sqlite3_finalize(st);
	return ok ? 0 : EIO;
}

static void row_room(sqlite3_stmt *st, struct pbx_conf_room *r)
{
	memset(r, 0, sizeof *r);
	pbx__sql_text(st, 0, r->number, sizeof r->number);
	pbx__sql_text(st, 1, r->pin, sizeof r->pin);
	pbx__sql_text(st, 2, r->admin_pin, sizeof r->admin_pin);
	sqlite3_int64 max = sqlite3_column_int64(st, 3);
	r->max_members = max > 0 && max <= MAX_MEMBERS ? (unsigned)max : 0;
	r->record = sqlite3_column_int(st, 4) != 0;
	pbx__sql_text(st, 5, r->moh, sizeof r->moh);
}

/* ---- the store ----------------------------------------------------------- */

int pbx_conf_room_get(const char *number, struct pbx_conf_room *out)
{
	if (check_number(number, PBX_CONF_NUM_MAX + 1))
		return EINVAL;
	sqlite3_stmt *st = prepare(sql_get);
	if (!st)
		return EIO;
	sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_room(st, out);
	int err = finish(st, rc == SQLITE_ROW || rc == SQLITE_DONE);
	return err ? err : rc == SQLITE_ROW ? 0 : ENOENT;
}

int pbx_conf_room_put(const struct pbx_conf_room *r)
{
	const char *field;
	if (pbx__conf_room_check(r, &field))
		return EINVAL;
	sqlite3_stmt *st = prepare(sql_put);
	if (!st)
		return EIO;
	sqlite3_bind_text(st, 1, r->number, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->pin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->admin_pin, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)r->max_members);
	sqlite3_bind_int(st, 5, r->record);
	sqlite3_bind_text(st, 6, r->moh, -1, SQLITE_STATIC);
	return finish(st, sqlite3_step(st) == SQLITE_DONE);
}

int pbx_conf_room_del(const char *number)
{
	/* A number that could not be stored is not there either. */
	if (check_number(number, PBX_CONF_NUM_MAX + 1))
		return ENOENT;
	sqlite3_stmt *st = prepare(sql_del);
	if (!st)
		return EIO;
	sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	bool gone = rc == SQLITE_DONE && sqlite3_changes(sqlite3_db_handle(st)) > 0;
	int err = finish(st, rc == SQLITE_DONE);
	return err ? err : gone ? 0 : ENOENT;
}

int pbx_conf_room_each(int (*cb)(const struct pbx_conf_room *r, void *arg), void *arg)
{
	/* Rows are copied out before the callback, and the statement is this
	 * call's own, so the callback may use the store again. */
	sqlite3_stmt *st = prepare(sql_each);
	if (!st)
		return EIO;
	struct pbx_conf_room r;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_room(st, &r);
		if (cb(&r, arg))
			break;
	}
	return finish(st, rc == SQLITE_ROW || rc == SQLITE_DONE);
}
