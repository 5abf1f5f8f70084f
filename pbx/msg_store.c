/**
 * @file msg_store.c  Offline instant messages in the directory's `messages` table, and their expiry
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As conf_rooms.c, each call prepares its statement and finalizes it
 * before returning. A message is written once when its user is offline and
 * read once when the user registers again, so a prepare (tens of
 * microseconds) is small beside the SIP transactions around it; in
 * exchange no statement outlives a call or holds the directory open when
 * it closes.
 *
 * The per-user limit is part of the INSERT itself (it inserts only while
 * fewer rows wait), so the count and the write cannot disagree.
 */
#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "core_priv.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "pbx/msg_store.h"

#define COLS "id,target,sender,created,content_type,body,attempts,next_try"

static const char sql_add[] =
	"INSERT INTO messages(target,sender,created,content_type,body) "
	"SELECT ?1,?2,?3,?4,?5 WHERE (SELECT count(*) FROM messages WHERE target=?1) < ?6";
static const char sql_each_all[] = "SELECT " COLS " FROM messages ORDER BY id";
static const char sql_each_one[] = "SELECT " COLS " FROM messages WHERE target=?1 ORDER BY id";
static const char sql_del[] = "DELETE FROM messages WHERE id=?1";
static const char sql_failed[] = "UPDATE messages SET attempts=attempts+1, next_try=?2 WHERE id=?1";
static const char sql_purge[] = "DELETE FROM messages WHERE target=?1";
static const char sql_expire[] = "DELETE FROM messages WHERE created < ?1";
static const char sql_waiting[] =
	"SELECT target, count(*) FROM messages GROUP BY target ORDER BY target";

/* ---- the messaging config section ---------------------------------------------------------- */

#define OFF(f) PBX_CFG_OFF(struct pbx_msg_cfg, f)

static const struct pbx_cfg_key keys[] = {
	{.name = "store_days",
	 .type = PBX_CFG_INT,
	 .off = OFF(store_days),
	 .def = "7",
	 .min = 0,
	 .max = 3650,
	 .help = "days an undelivered message is kept for an offline user; 0: until delivered"},
	{.name = "max_stored",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_stored),
	 .def = "100",
	 .min = 1,
	 .max = 100000,
	 .help = "messages kept per offline user; more are refused"},
	{.name = "retry_interval",
	 .type = PBX_CFG_INT,
	 .off = OFF(retry_interval),
	 .def = "60",
	 .min = 1,
	 .max = 3600,
	 .help = "seconds before a failed delivery is tried again; doubles each time, up to an "
		 "hour"},
	{0},
};

PBX_CONFIG_SECTION(msg_section) = {
	.name = "messaging",
	.module = "messaging",
	.order = 55,
	.size = sizeof(struct pbx_msg_cfg),
	.keys = keys,
	.help = "instant messages (SIP MESSAGE) kept for offline users",
};

const struct pbx_msg_cfg *pbx_msg_cfg(void)
{
	/* Unit tests run without a config: the defaults of the keys above. */
	static const struct pbx_msg_cfg defaults = {
		.store_days = 7, .max_stored = 100, .retry_interval = 60};
	const struct pbx_config *cfg = pbx_cfg();
	return cfg ? pbx_config_get(cfg, &msg_section) : &defaults;
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static const char *check_sender(const char *s)
{
	static const char why[] = "an extension or a sip: URI of at most 255 characters";
	if (strnlen(s, PBX_MSG_SENDER_MAX + 1) > PBX_MSG_SENDER_MAX || !*s)
		return why;
	if (!strncasecmp(s, "sip:", 4) || !strncasecmp(s, "sips:", 5)) {
		const char *rest = s + (s[3] == ':' ? 4 : 5);
		return *rest && printable(rest) ? NULL : why;
	}
	return pbx_user_check_ext(s) ? why : NULL;
}

/*
 * A MIME type as Content-Type carries it: type/subtype of SIP token
 * characters (RFC 3261 section 25.1), then parameters (";charset=UTF-8").
 */
static const char *check_type(const char *t)
{
	static const char why[] = "a MIME type (type/subtype) of at most 127 characters";
	if (strnlen(t, PBX_MSG_TYPE_MAX + 1) > PBX_MSG_TYPE_MAX)
		return why;
	size_t n = strcspn(t, ";");
	const char *slash = memchr(t, '/', n);
	if (!slash || slash == t || slash + 1 == t + n ||
	    memchr(slash + 1, '/', (size_t)(t + n - slash - 1)))
		return why;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < ' ' || *p >= 0x7f)
			return why;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("/-.!%*_+`'~", t[i]))
			return why;
	return NULL;
}

const char *pbx_msg_check(const char *target, const char *sender, const char *type,
			  const char **field)
{
	const char *why;
	if (!target)
		why = "missing";
	else if (strnlen(target, PBX_EXT_MAX + 1) > PBX_EXT_MAX)
		why = "must be 1 to 32 characters";
	else
		why = pbx_user_check_ext(target);
	if (why) {
		*field = "target";
		return why;
	}
	if (!sender || (why = check_sender(sender))) {
		*field = "sender";
		return sender ? why : "missing";
	}
	if (!type || (why = check_type(type))) {
		*field = "type";
		return type ? why : "missing";
	}
	return NULL;
}

static bool target_ok(const char *target)
{
	return target && strnlen(target, PBX_EXT_MAX + 1) <= PBX_EXT_MAX &&
	       !pbx_user_check_ext(target);
}

/* ---- who has messages waiting ----------------------------------------------------------------- */

/*
 * Every REGISTER asks whether the user has messages waiting; the answer
 * comes from memory: the counts per target, read in one query after the
 * table changed (any add, delivery, purge or expiry marks them stale), for
 * the directory they were read from. Sorted by target for bsearch.
 */
struct waiting {
	char target[PBX_EXT_MAX + 1];
	unsigned n;
};

static struct {
	struct waiting *v;
	size_t n;
	bool stale;
	sqlite3 *db; /* the directory they were read from (pbx__msg_store_forget when it goes) */
} wt = {.stale = true};

static void waiting_stale(void)
{
	wt.stale = true;
}

static void waiting_free(void)
{
	free(wt.v);
	wt.v = NULL;
	wt.n = 0;
	wt.stale = true;
	wt.db = NULL;
}

static int waiting_cmp(const void *a, const void *b)
{
	return strcmp(((const struct waiting *)a)->target, ((const struct waiting *)b)->target);
}

static void stmts_free(void);

void pbx__msg_store_forget(void)
{
	waiting_free();
	stmts_free();
}

static sqlite3_stmt *prepare(const char *sql);
static int finish(sqlite3_stmt *st, bool ok);

/* The counts, read again when stale. 0 or EIO (and nothing cached). */
static int waiting_read(void)
{
	sqlite3 *db = pbx_dir() ? pbx__dir_db(pbx_dir()) : NULL;
	if (!wt.stale && wt.db == db)
		return 0;
	waiting_free();
	sqlite3_stmt *st = prepare(sql_waiting);
	if (!st)
		return EIO;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (wt.n == cap) {
			struct waiting *v = realloc(wt.v, (cap = cap ? cap * 2 : 16) * sizeof *v);
			if (!v) {
				finish(st, true);
				waiting_free();
				return EIO;
			}
			wt.v = v;
		}
		struct waiting *w = &wt.v[wt.n++];
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(w->target, sizeof w->target, "%s", t ? (const char *)t : "");
		w->n = (unsigned)sqlite3_column_int64(st, 1);
	}
	if (finish(st, rc == SQLITE_DONE)) {
		waiting_free();
		return EIO;
	}
	/* SQLite's BINARY order is strcmp's for text without NULs; sort anyway to be sure. */
	if (wt.n)
		qsort(wt.v, wt.n, sizeof *wt.v, waiting_cmp);
	wt.stale = false;
	wt.db = db;
	return 0;
}

/* ---- statements ---------------------------------------------------------------------------- */

/*
 * Statements are prepared once per directory and kept (a MESSAGE to an
 * offline user spent a sixth of its time preparing its INSERT), except
 * the listing's: its callback may use the store again, so each listing
 * has a statement of its own.
 */
#define MAX_KEPT 8
static struct {
	sqlite3 *db;
	const char *sql[MAX_KEPT]; /* by address: the static texts above */
	sqlite3_stmt *st[MAX_KEPT];
} kept;

static void stmts_free(void)
{
	for (int i = 0; i < MAX_KEPT; i++) {
		sqlite3_finalize(kept.st[i]);
		kept.st[i] = NULL;
		kept.sql[i] = NULL;
	}
	kept.db = NULL;
}

static sqlite3 *dir_db(void)
{
	sqlite3 *db = pbx_dir() ? pbx__dir_db(pbx_dir()) : NULL;
	if (!db)
		pbx_error("messages: no directory");
	return db;
}

/* @p sql prepared on the directory's handle, for this call only; NULL (logged) on failure. */
static sqlite3_stmt *prepare_own(const char *sql)
{
	sqlite3 *db = dir_db();
	sqlite3_stmt *st = NULL;
	if (!db)
		return NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		pbx_error("messages: prepare: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* @p sql's kept statement, prepared at its first use; NULL (logged) on failure. */
static sqlite3_stmt *prepare(const char *sql)
{
	sqlite3 *db = dir_db();
	int free_slot = -1;
	if (!db)
		return NULL;
	if (kept.db != db) {
		stmts_free();
		kept.db = db;
	}
	for (int i = 0; i < MAX_KEPT; i++) {
		if (kept.sql[i] == sql)
			return kept.st[i];
		if (!kept.sql[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return prepare_own(sql);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		pbx_error("messages: prepare: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	kept.sql[free_slot] = sql;
	kept.st[free_slot] = st;
	return st;
}

/* Done with @p st: reset when kept, else finalized. EIO (logged) unless its last step was @p ok. */
static int finish(sqlite3_stmt *st, bool ok)
{
	if (!ok)
		pbx_error("messages: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
	for (int i = 0; i < MAX_KEPT; i++)
		if (kept.st[i] == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return ok ? 0 : EIO;
		}
	sqlite3_finalize(st);
	return ok ? 0 : EIO;
}

/* Step a write of @p st; the rows it changed to *n (may be NULL). 0 or EIO. */
static int write_rows(sqlite3_stmt *st, unsigned *n)
{
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	unsigned changed = ok ? (unsigned)sqlite3_changes(sqlite3_db_handle(st)) : 0;
	int err = finish(st, ok);
	if (n)
		*n = changed;
	return err;
}

/* The row into @p m, its body copied. ENOMEM, or EIO for a row no add could have written. */
static int row_msg(sqlite3_stmt *st, struct pbx_msg *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	pbx__sql_text(st, 1, m->target, sizeof m->target);
	pbx__sql_text(st, 2, m->sender, sizeof m->sender);
	m->created = sqlite3_column_int64(st, 3);
	pbx__sql_text(st, 4, m->type, sizeof m->type);
	sqlite3_int64 attempts = sqlite3_column_int64(st, 6);
	m->attempts = attempts > 0 ? attempts < 1000000000 ? (unsigned)attempts : 1000000000u : 0;
	m->next_try = sqlite3_column_int64(st, 7);
	const void *body = sqlite3_column_blob(st, 5);
	int len = sqlite3_column_bytes(st, 5);
	if (len < 0 || len > PBX_MSG_BODY_MAX) {
		pbx_error("messages: message %lld has a body of %d bytes", (long long)m->id, len);
		return EIO;
	}
	/* One byte at least, so that an empty body is not NULL and not an allocation failure. */
	if (!(m->body = malloc(len ? (size_t)len : 1)))
		return ENOMEM;
	if (len)
		memcpy(m->body, body, (size_t)len);
	m->len = (size_t)len;
	return 0;
}

/* ---- the store ----------------------------------------------------------------------------- */

void pbx_msg_clear(struct pbx_msg *m)
{
	free(m->body);
	memset(m, 0, sizeof *m);
}

int pbx_msg_store_add(const char *target, const char *sender, const char *type, const void *body,
		      size_t len, int64_t *id)
{
	const char *field;
	if (pbx_msg_check(target, sender, type, &field) || len > PBX_MSG_BODY_MAX || (len && !body))
		return EINVAL;
	sqlite3_stmt *st = prepare(sql_add);
	if (!st)
		return EIO;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
	/* A NULL pointer would bind NULL, which the column refuses: "" is an empty blob. */
	sqlite3_bind_blob(st, 5, len ? body : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, pbx_msg_cfg()->max_stored);
	unsigned n;
	int err = write_rows(st, &n);
	if (err)
		return err;
	if (!n)
		return ENOSPC;
	waiting_stale();
	if (id)
		*id = sqlite3_last_insert_rowid(pbx__dir_db(pbx_dir()));
	return 0;
}

int pbx_msg_store_each(const char *target, int (*cb)(const struct pbx_msg *m, void *arg), void *arg)
{
	if (target && !target_ok(target))
		return 0;
	/* Rows are copied out before the callback, and the statement is this
	 * call's own, so the callback may use the store again. */
	sqlite3_stmt *st = prepare_own(target ? sql_each_one : sql_each_all);
	if (!st)
		return EIO;
	if (target)
		sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	struct pbx_msg m = {0};
	int rc, err = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = row_msg(st, &m)))
			break;
		int stop = cb(&m, arg);
		pbx_msg_clear(&m);
		if (stop)
			break;
	}
	pbx_msg_clear(&m);
	if (err) {
		finish(st, true);
		return EIO;
	}
	return finish(st, rc == SQLITE_ROW || rc == SQLITE_DONE);
}

static int by_id(const char *sql, int64_t id, int64_t value)
{
	sqlite3_stmt *st = prepare(sql);
	if (!st)
		return EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, value); /* unused by DELETE's statement */
	unsigned n;
	int err = write_rows(st, &n);
	return err ? err : n ? 0 : ENOENT;
}

int pbx_msg_store_del(int64_t id)
{
	waiting_stale();
	return by_id(sql_del, id, 0);
}

int pbx_msg_store_failed(int64_t id, int64_t next_try)
{
	return by_id(sql_failed, id, next_try);
}

int pbx_msg_store_purge(const char *target, unsigned *n)
{
	if (n)
		*n = 0;
	if (!target_ok(target))
		return 0; /* nothing could have been stored for it */
	sqlite3_stmt *st = prepare(sql_purge);
	if (!st)
		return EIO;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	waiting_stale();
	return write_rows(st, n);
}

int pbx_msg_store_expire(int64_t before, unsigned *n)
{
	if (n)
		*n = 0;
	sqlite3_stmt *st = prepare(sql_expire);
	if (!st)
		return EIO;
	sqlite3_bind_int64(st, 1, before);
	waiting_stale();
	return write_rows(st, n);
}

int pbx_msg_store_count(const char *target, unsigned *n)
{
	*n = 0;
	if (!target_ok(target))
		return 0;
	if (waiting_read())
		return EIO;
	struct waiting key = {.n = 0};
	snprintf(key.target, sizeof key.target, "%s", target);
	const struct waiting *w =
		wt.n ? bsearch(&key, wt.v, wt.n, sizeof *wt.v, waiting_cmp) : NULL;
	*n = w ? w->n : 0;
	return 0;
}

int pbx_msg_store_each_target(int (*cb)(const char *target, unsigned n, void *arg), void *arg)
{
	if (waiting_read())
		return EIO;
	/* A copy: the callback may change the store (and so the cache). */
	size_t n = wt.n;
	struct waiting *v = n ? malloc(n * sizeof *v) : NULL;
	if (n && !v)
		return ENOMEM;
	if (n)
		memcpy(v, wt.v, n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		if (cb(v[i].target, v[i].n, arg))
			break;
	free(v);
	return 0;
}

/* ---- expiry: at start, then hourly --------------------------------------------------------- */

/*
 * Hourly is fine-grained enough for a limit counted in days: a message
 * lives at most an hour past its time. Each run is one DELETE that scans
 * the table (no index on created), which holds at most max_stored rows per
 * user: a few milliseconds for a large office, once an hour.
 */
#define EXPIRE_EVERY_MS (3600 * 1000)

static uv_timer_t expire_timer;

static void expire_now(void)
{
	int days = pbx_msg_cfg()->store_days;
	unsigned n;
	if (!days)
		return; /* kept until delivered */
	if (pbx_msg_store_expire((int64_t)time(NULL) - (int64_t)days * 86400, &n))
		return; /* logged */
	if (n)
		pbx_notice("messages: %u undelivered message%s older than %d day%s expired", n,
			   n == 1 ? "" : "s", days, days == 1 ? "" : "s");
}

static void on_expire(uv_timer_t *t)
{
	(void)t;
	expire_now();
}

static bool timer_on;

static int load(void)
{
	if (!pbx_dir())
		return 0; /* unit tests without a directory */
	expire_now();
	uv_timer_init(pbx_loop(), &expire_timer);
	uv_timer_start(&expire_timer, on_expire, EXPIRE_EVERY_MS, EXPIRE_EVERY_MS);
	timer_on = true;
	return 0;
}

static void unload(void)
{
	pbx__msg_store_forget();
	if (!timer_on)
		return;
	uv_close((uv_handle_t *)&expire_timer, NULL);
	timer_on = false;
}

/* With voicemail, before the drivers: they store and deliver from their start. */
PBX_MODULE(msg_store_module) = {"messaging", 2, load, unload};
