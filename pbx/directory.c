/**
 * @file directory.c  User directory and persisted registrations in SQLite
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * WAL mode so readers never wait for the writer; a busy timeout because a
 * backup tool or `sqlite3` shell may hold the database for a moment. The
 * schema version lives in PRAGMA user_version; each migration step runs in
 * one transaction, so a crash mid-migration leaves the old schema intact.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core_priv.h"
#include "pbx/config.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "user_cache.h"

enum stmt_id {
	ST_USER_ADD,
	ST_USER_UPDATE,
	ST_USER_DEL,
	ST_USER_FIND,
	ST_USER_EACH,
	ST_USER_OTHER_REALM,
	ST_BIND_SAVE,
	ST_BIND_DEL,
	ST_BIND_DEL_USER,
	ST_BIND_EACH,
	ST_SUB_SAVE,
	ST_SUB_DEL,
	ST_SUB_EACH,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_USER_ADD] = "INSERT INTO users(extension,name,realm,ha1_md5,ha1_sha256,pin,email,"
			"context,srtp,enabled,created,updated,auth,mwi,vm_max,msg_context) "
			"VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11,?12,?13,?14,?15)",
	[ST_USER_UPDATE] = "UPDATE users SET name=?2,realm=?3,ha1_md5=?4,ha1_sha256=?5,pin=?6,"
			   "email=?7,context=?8,srtp=?9,enabled=?10,updated=?11,auth=?12,"
			   "mwi=?13,vm_max=?14,msg_context=?15 "
			   "WHERE extension=?1",
	[ST_USER_DEL] = "DELETE FROM users WHERE extension=?1",
	[ST_USER_FIND] =
		"SELECT extension,name,realm,ha1_md5,ha1_sha256,pin,email,context,srtp,"
		"enabled,created,updated,auth,mwi,vm_max,msg_context FROM users WHERE extension=?1",
	[ST_USER_EACH] = "SELECT extension,name,realm,ha1_md5,ha1_sha256,pin,email,context,srtp,"
			 "enabled,created,updated,auth,mwi,vm_max,msg_context FROM users "
			 "WHERE substr(extension,1,length(?1))=?1 "
			 "ORDER BY length(extension), extension",
	[ST_USER_OTHER_REALM] = "SELECT count(*) FROM users WHERE ha1_md5 != '' AND realm != ?1",
	[ST_BIND_SAVE] =
		"INSERT OR REPLACE INTO registrations(extension,contact,source,call_id,"
		"cseq,expires,registered,user_agent,instance) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
	[ST_BIND_DEL] = "DELETE FROM registrations WHERE extension=?1 AND contact=?2",
	[ST_BIND_DEL_USER] = "DELETE FROM registrations WHERE extension=?1",
	[ST_BIND_EACH] = "SELECT extension,contact,source,call_id,cseq,expires,registered,"
			 "user_agent,instance FROM registrations ORDER BY extension, registered",
	[ST_SUB_SAVE] = "INSERT OR REPLACE INTO subscriptions(call_id,local_tag,user,event,"
			"event_id,resource,remote_tag,local_uri,remote_uri,remote_target,routes,"
			"source,local_cseq,remote_cseq,expires) "
			"VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
	[ST_SUB_DEL] = "DELETE FROM subscriptions WHERE call_id=?1 AND local_tag=?2",
	[ST_SUB_EACH] = "SELECT call_id,local_tag,user,event,event_id,resource,remote_tag,"
			"local_uri,remote_uri,remote_target,routes,source,local_cseq,remote_cseq,"
			"expires FROM subscriptions WHERE event=?1 ORDER BY expires",
};

struct pbx_dir {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct pbx__user_cache *users; /* what pbx_user_find read (user_cache.h) */
};

/* Migration N takes the schema from version N to N+1. Append only. */
static const char *const migrations[] = {
	"CREATE TABLE users("
	" extension TEXT PRIMARY KEY NOT NULL,"
	" name TEXT NOT NULL DEFAULT '',"
	" realm TEXT NOT NULL DEFAULT '',"
	" ha1_md5 TEXT NOT NULL DEFAULT '',"
	" ha1_sha256 TEXT NOT NULL DEFAULT '',"
	" pin TEXT NOT NULL DEFAULT '',"
	" email TEXT NOT NULL DEFAULT '',"
	" context TEXT NOT NULL DEFAULT 'default',"
	" srtp TEXT NOT NULL DEFAULT 'optional' CHECK(srtp IN ('off','optional','mandatory')),"
	" enabled INTEGER NOT NULL DEFAULT 1 CHECK(enabled IN (0,1)),"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE registrations("
	" extension TEXT NOT NULL REFERENCES users(extension) ON DELETE CASCADE,"
	" contact TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" call_id TEXT NOT NULL,"
	" cseq INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" registered INTEGER NOT NULL,"
	" user_agent TEXT NOT NULL DEFAULT '',"
	" instance TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY(extension, contact));",
	/* 2: per-user digest algorithms ('' follows sip.auth_algorithms). */
	"ALTER TABLE users ADD COLUMN auth TEXT NOT NULL DEFAULT '';",
	/* 3: voicemail. Rows name their file by id (see voicemail.h); no foreign key to
	 * users, so deleting a user keeps the messages until an operator removes them. */
	"ALTER TABLE users ADD COLUMN mwi TEXT NOT NULL DEFAULT 'subscribe'"
	" CHECK(mwi IN ('subscribe','unsolicited'));"
	"ALTER TABLE users ADD COLUMN vm_max INTEGER NOT NULL DEFAULT 0 CHECK(vm_max >= 0);"
	"CREATE TABLE voicemail("
	" id INTEGER PRIMARY KEY,"
	" mailbox TEXT NOT NULL,"
	" folder INTEGER NOT NULL CHECK(folder BETWEEN 0 AND 5),"
	" cid_num TEXT NOT NULL DEFAULT '',"
	" cid_name TEXT NOT NULL DEFAULT '',"
	" time INTEGER NOT NULL,"
	" duration_ms INTEGER NOT NULL DEFAULT 0,"
	" urgent INTEGER NOT NULL DEFAULT 0 CHECK(urgent IN (0,1)),"
	" read INTEGER NOT NULL DEFAULT 0 CHECK(read IN (0,1)));"
	"CREATE INDEX voicemail_mailbox ON voicemail(mailbox, folder);",
	/* 4: SIP subscriptions (RFC 6665), kept across a restart. */
	"CREATE TABLE subscriptions("
	" call_id TEXT NOT NULL,"
	" local_tag TEXT NOT NULL,"
	" user TEXT NOT NULL REFERENCES users(extension) ON DELETE CASCADE,"
	" event TEXT NOT NULL,"
	" event_id TEXT NOT NULL DEFAULT '',"
	" resource TEXT NOT NULL,"
	" remote_tag TEXT NOT NULL,"
	" local_uri TEXT NOT NULL,"
	" remote_uri TEXT NOT NULL,"
	" remote_target TEXT NOT NULL,"
	" routes TEXT NOT NULL DEFAULT '',"
	" source TEXT NOT NULL,"
	" local_cseq INTEGER NOT NULL,"
	" remote_cseq INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" PRIMARY KEY(call_id, local_tag));",
	/* 5: voicemail mails not sent yet (apps/vm_mail.c), kept across a restart. No foreign
	 * key to voicemail: a mail whose message is gone is dropped, logged, at start. */
	"CREATE TABLE vm_mail("
	" id INTEGER PRIMARY KEY CHECK(id > 0),"
	" msg INTEGER NOT NULL,"
	" mailbox TEXT NOT NULL,"
	" rcpt TEXT NOT NULL,"
	" msgnum INTEGER NOT NULL DEFAULT 0,"
	" tries INTEGER NOT NULL DEFAULT 0 CHECK(tries >= 0),"
	" next INTEGER NOT NULL,"
	" error TEXT NOT NULL DEFAULT '');",
	/* 6: conference rooms (pbx/conf_rooms.c). max_members 0: no limit of the room's own. */
	"CREATE TABLE conf_rooms("
	" number TEXT PRIMARY KEY NOT NULL,"
	" pin TEXT NOT NULL DEFAULT '',"
	" admin_pin TEXT NOT NULL DEFAULT '',"
	" max_members INTEGER NOT NULL DEFAULT 0 CHECK(max_members BETWEEN 0 AND 10000),"
	" record INTEGER NOT NULL DEFAULT 0 CHECK(record IN (0,1)),"
	" moh TEXT NOT NULL DEFAULT '');",
	/* 7: instant messages kept for a user who is offline (pbx/msg_store.c), oldest
	 * first by id. No foreign key to users: `message purge` removes them with the
	 * user's own command, and a user deleted and added again finds nothing lost. */
	"CREATE TABLE messages("
	" id INTEGER PRIMARY KEY,"
	" target TEXT NOT NULL,"
	" sender TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" content_type TEXT NOT NULL,"
	" body BLOB NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX messages_target ON messages(target, id);",
	/* 8: the context a user's instant messages enter ('': "messages"). */
	"ALTER TABLE users ADD COLUMN msg_context TEXT NOT NULL DEFAULT '';",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		pbx_error("directory: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return EIO;
	}
	return 0;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int migrate(sqlite3 *db, const char *path)
{
	int v = user_version(db);
	if (v < 0)
		return EIO;
	if (v > SCHEMA_VERSION) {
		pbx_error("%s: schema version %d is newer than this build knows (%d)", path, v,
			  SCHEMA_VERSION);
		return EPROTO;
	}
	for (; v < SCHEMA_VERSION; v++) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", v + 1);
		if (exec_sql(db, "BEGIN IMMEDIATE") || exec_sql(db, migrations[v]) ||
		    exec_sql(db, pragma) || exec_sql(db, "COMMIT")) {
			exec_sql(db, "ROLLBACK");
			return EIO;
		}
		pbx_notice("%s: schema migrated to version %d", path, v + 1);
	}
	return 0;
}

int pbx_dir_open(struct pbx_dir **dp, const char *path)
{
	struct pbx_dir *d = calloc(1, sizeof *d);
	int err = ENOMEM;
	if (!d)
		return ENOMEM;
	if ((err = pbx__user_cache_alloc(&d->users))) {
		free(d);
		return err;
	}
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		pbx_error("%s: cannot open database: %s", path, sqlite3_errmsg(d->db));
		err = EIO;
		goto out;
	}
	sqlite3_busy_timeout(d->db, 5000);
	err = exec_sql(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			      "PRAGMA foreign_keys=ON;");
	if (!err)
		err = migrate(d->db, path);
	for (int i = 0; !err && i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(d->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i],
				       NULL) != SQLITE_OK) {
			pbx_error("directory: prepare: %s", sqlite3_errmsg(d->db));
			err = EIO;
		}
out:
	if (err) {
		pbx_dir_close(d);
		return err;
	}
	*dp = d;
	return 0;
}

sqlite3 *pbx__dir_db(struct pbx_dir *d)
{
	return d->db;
}

void pbx_dir_close(struct pbx_dir *d)
{
	if (!d)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_close(d->db);
	pbx__user_cache_free(d->users);
	free(d);
}

/* ---- validation ---------------------------------------------------------- */

const char *pbx_user_check_ext(const char *ext)
{
	size_t n = strlen(ext);
	if (n == 0 || n > PBX_EXT_MAX)
		return "must be 1 to 32 characters";
	if (ext[0] == '_')
		return "must not start with '_' (that marks a dialplan pattern)";
	for (const char *p = ext; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+-._", *p))
			return "may contain only letters, digits and + - . _";
	return NULL;
}

const char *pbx_user_check_password(const char *pw)
{
	if (!*pw)
		return "must not be empty";
	if (strlen(pw) < 6)
		return "too short (at least 6 characters)";
	if (strlen(pw) > 128)
		return "too long (at most 128 characters)";
	for (const char *p = pw; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "contains control characters";
	return NULL;
}

const char *pbx_user_check_pin(const char *pin)
{
	size_t n = strlen(pin);
	for (const char *p = pin; *p; p++)
		if (!isdigit((unsigned char)*p))
			return "must be digits only";
	if (n < 4 || n > 16)
		return "must be 4 to 16 digits";
	return NULL;
}

const char *pbx_user_check_email(const char *email)
{
	const char *at = strchr(email, '@');
	if (!*email)
		return NULL; /* empty clears it */
	if (strlen(email) > 128)
		return "too long (at most 128 characters)";
	if (!at || at == email || !at[1] || strchr(at + 1, '@') || !strchr(at + 1, '.'))
		return "not an e-mail address";
	for (const char *p = email; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("<>,;\"\\", *p))
			return "not an e-mail address";
	return NULL;
}

const char *pbx_user_check_context(const char *ctx)
{
	size_t n = strlen(ctx);
	if (n == 0 || n > 64)
		return "must be 1 to 64 characters";
	for (const char *p = ctx; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_", *p))
			return "may contain only letters, digits, - and _";
	return NULL;
}

const char *pbx_user_check_name(const char *name)
{
	if (strlen(name) > 64)
		return "too long (at most 64 characters)";
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"')
			return "contains control characters or a double quote";
	return NULL;
}

const char *pbx_user_check_auth(const char *value, char *canon, size_t len)
{
	static const char *const names[] = {"md5", "sha-256"};
	static const char *const bad = "must be md5, sha-256, sha-256,md5, md5,sha-256 or default";
	char copy[64], out[sizeof copy] = "";
	size_t o = 0;
	int seen = 0;
	if (!strcmp(value, "") || !strcmp(value, "default")) {
		snprintf(canon, len, "%s", "");
		return NULL;
	}
	if (strlen(value) >= sizeof copy)
		return bad;
	snprintf(copy, sizeof copy, "%s", value);
	/* Built aside: @p canon changes only when the whole value is good. */
	for (char *save = NULL, *w = strtok_r(copy, ", ", &save); w;
	     w = strtok_r(NULL, ", ", &save)) {
		int k = -1;
		for (int i = 0; i < 2; i++)
			if (!strcasecmp(w, names[i]))
				k = i;
		if (k < 0)
			return bad;
		if (seen & (1 << k))
			return "names an algorithm twice";
		seen |= 1 << k;
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", o ? "," : "", names[k]);
	}
	if (!seen)
		return bad;
	snprintf(canon, len, "%s", out);
	return NULL;
}

static void hex_digest(const EVP_MD *md, const char *a, const char *b, const char *c, char *out)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, md, NULL);
	EVP_DigestUpdate(ctx, a, strlen(a));
	EVP_DigestUpdate(ctx, ":", 1);
	EVP_DigestUpdate(ctx, b, strlen(b));
	EVP_DigestUpdate(ctx, ":", 1);
	EVP_DigestUpdate(ctx, c, strlen(c));
	EVP_DigestFinal_ex(ctx, dig, &len);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", dig[i]);
	out[2 * len] = '\0';
}

void pbx_user_set_ha1(struct pbx_user *u, const char *realm, const char *password)
{
	snprintf(u->realm, sizeof u->realm, "%s", realm);
	hex_digest(EVP_md5(), u->ext, realm, password, u->ha1_md5);
	hex_digest(EVP_sha256(), u->ext, realm, password, u->ha1_sha256);
}

/* ---- users ---------------------------------------------------------------- */

#define MAX_WATCHERS 8
static pbx__hook_fn watchers[MAX_WATCHERS]; /* pbx_user_gone_h */

int pbx_user_watch(pbx_user_gone_h *fn)
{
	return pbx__hook_add(watchers, MAX_WATCHERS, (pbx__hook_fn)fn);
}

void pbx_user_unwatch(pbx_user_gone_h *fn)
{
	pbx__hook_del(watchers, MAX_WATCHERS, (pbx__hook_fn)fn);
}

static void user_gone(const char *ext)
{
	for (size_t i = 0; i < MAX_WATCHERS; i++)
		if (watchers[i])
			((pbx_user_gone_h *)watchers[i])(ext);
}

static void bind_user(sqlite3_stmt *st, const struct pbx_user *u, int64_t now)
{
	sqlite3_bind_text(st, 1, u->ext, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, u->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, u->realm, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, u->ha1_md5, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, u->ha1_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, u->pin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, u->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, u->context, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, pbx_srtp_policy_name(u->srtp), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, u->enabled);
	sqlite3_bind_int64(st, 11, now);
	sqlite3_bind_text(st, 12, u->auth, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, u->mwi_unsolicited ? "unsolicited" : "subscribe", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int(st, 14, u->vm_max_messages);
	sqlite3_bind_text(st, 15, u->message_context, -1, SQLITE_STATIC);
}

void pbx__sql_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(dst, len, "%s", s ? (const char *)s : "");
}

static void row_user(sqlite3_stmt *st, struct pbx_user *u)
{
	char srtp[16];
	memset(u, 0, sizeof *u);
	pbx__sql_text(st, 0, u->ext, sizeof u->ext);
	pbx__sql_text(st, 1, u->name, sizeof u->name);
	pbx__sql_text(st, 2, u->realm, sizeof u->realm);
	pbx__sql_text(st, 3, u->ha1_md5, sizeof u->ha1_md5);
	pbx__sql_text(st, 4, u->ha1_sha256, sizeof u->ha1_sha256);
	pbx__sql_text(st, 5, u->pin, sizeof u->pin);
	pbx__sql_text(st, 6, u->email, sizeof u->email);
	pbx__sql_text(st, 7, u->context, sizeof u->context);
	pbx__sql_text(st, 8, srtp, sizeof srtp);
	u->srtp = pbx_srtp_policy_parse(srtp);
	if (u->srtp < 0)
		u->srtp = PBX_SRTP_OPTIONAL;
	u->enabled = sqlite3_column_int(st, 9) != 0;
	u->created = sqlite3_column_int64(st, 10);
	u->updated = sqlite3_column_int64(st, 11);
	pbx__sql_text(st, 12, u->auth, sizeof u->auth);
	const unsigned char *mwi = sqlite3_column_text(st, 13);
	u->mwi_unsolicited = mwi && !strcmp((const char *)mwi, "unsolicited");
	u->vm_max_messages = sqlite3_column_int(st, 14);
	pbx__sql_text(st, 15, u->message_context, sizeof u->message_context);
}

/* Step a write statement once and reset it; maps SQLite codes to errno. */
static int step_done(struct pbx_dir *d, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int err = 0;
	if (rc == SQLITE_CONSTRAINT)
		err = EEXIST;
	else if (rc != SQLITE_DONE) {
		pbx_error("directory: %s", sqlite3_errmsg(d->db));
		err = EIO;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

int pbx_user_add(struct pbx_dir *d, const struct pbx_user *u)
{
	pbx__user_cache_drop(d->users, u->ext);
	bind_user(d->st[ST_USER_ADD], u, (int64_t)time(NULL));
	return step_done(d, d->st[ST_USER_ADD]);
}

int pbx_user_update(struct pbx_dir *d, const struct pbx_user *u)
{
	pbx__user_cache_drop(d->users, u->ext);
	bind_user(d->st[ST_USER_UPDATE], u, (int64_t)time(NULL));
	int err = step_done(d, d->st[ST_USER_UPDATE]);
	if (!err && sqlite3_changes(d->db) == 0)
		err = ENOENT;
	if (!err && !u->enabled)
		user_gone(u->ext);
	return err;
}

int pbx_user_del(struct pbx_dir *d, const char *ext)
{
	pbx__user_cache_drop(d->users, ext);
	sqlite3_bind_text(d->st[ST_USER_DEL], 1, ext, -1, SQLITE_STATIC);
	int err = step_done(d, d->st[ST_USER_DEL]);
	if (!err && sqlite3_changes(d->db) == 0)
		err = ENOENT;
	if (!err)
		user_gone(ext);
	return err;
}

int pbx_user_find(struct pbx_dir *d, const char *ext, struct pbx_user *u)
{
	if (pbx__user_cache_get(d->users, ext, u))
		return 0;
	sqlite3_stmt *st = d->st[ST_USER_FIND];
	sqlite3_bind_text(st, 1, ext, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), err = 0;
	if (rc == SQLITE_ROW) {
		row_user(st, u);
		pbx__user_cache_put(d->users, u);
	} else if (rc == SQLITE_DONE)
		err = ENOENT;
	else {
		pbx_error("directory: %s", sqlite3_errmsg(d->db));
		err = EIO;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

int pbx_user_each(struct pbx_dir *d, const char *prefix, pbx_user_each_h *fn, void *arg)
{
	/* Rows are copied out before the callback, so it may call the directory
	 * again; but the statement is shared, so it must not iterate again. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d->db, stmt_sql[ST_USER_EACH], -1, &st, NULL) != SQLITE_OK)
		return EIO;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	int rc, err = 0;
	struct pbx_user u;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_user(st, &u);
		if (fn(&u, arg))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = EIO;
	sqlite3_finalize(st);
	return err;
}

int pbx_user_count_other_realm(struct pbx_dir *d, const char *realm)
{
	sqlite3_stmt *st = d->st[ST_USER_OTHER_REALM];
	sqlite3_bind_text(st, 1, realm, -1, SQLITE_STATIC);
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

int pbx_dir_begin(struct pbx_dir *d)
{
	return exec_sql(d->db, "BEGIN IMMEDIATE");
}

int pbx_dir_commit(struct pbx_dir *d)
{
	int err = exec_sql(d->db, "COMMIT");
	if (err)
		exec_sql(d->db, "ROLLBACK");
	return err;
}

/* ---- registrations -------------------------------------------------------- */

int pbx_binding_save(struct pbx_dir *d, const struct pbx_binding *b)
{
	sqlite3_stmt *st = d->st[ST_BIND_SAVE];
	sqlite3_bind_text(st, 1, b->ext, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, b->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, b->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, b->cseq);
	sqlite3_bind_int64(st, 6, b->expires);
	sqlite3_bind_int64(st, 7, b->registered);
	sqlite3_bind_text(st, 8, b->user_agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, b->instance, -1, SQLITE_STATIC);
	return step_done(d, st);
}

int pbx_binding_del(struct pbx_dir *d, const char *ext, const char *contact)
{
	sqlite3_stmt *st = d->st[contact ? ST_BIND_DEL : ST_BIND_DEL_USER];
	sqlite3_bind_text(st, 1, ext, -1, SQLITE_STATIC);
	if (contact)
		sqlite3_bind_text(st, 2, contact, -1, SQLITE_STATIC);
	return step_done(d, st);
}

int pbx_binding_each(struct pbx_dir *d, pbx_binding_each_h *fn, void *arg)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d->db, stmt_sql[ST_BIND_EACH], -1, &st, NULL) != SQLITE_OK)
		return EIO;
	int rc, err = 0;
	struct pbx_binding b;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&b, 0, sizeof b);
		pbx__sql_text(st, 0, b.ext, sizeof b.ext);
		pbx__sql_text(st, 1, b.contact, sizeof b.contact);
		pbx__sql_text(st, 2, b.source, sizeof b.source);
		pbx__sql_text(st, 3, b.call_id, sizeof b.call_id);
		b.cseq = (uint32_t)sqlite3_column_int64(st, 4);
		b.expires = sqlite3_column_int64(st, 5);
		b.registered = sqlite3_column_int64(st, 6);
		pbx__sql_text(st, 7, b.user_agent, sizeof b.user_agent);
		pbx__sql_text(st, 8, b.instance, sizeof b.instance);
		if (fn(&b, arg))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = EIO;
	sqlite3_finalize(st);
	return err;
}

/* ---- subscriptions -------------------------------------------------------- */

int pbx_subscription_save(struct pbx_dir *d, const struct pbx_subscription *sub)
{
	sqlite3_stmt *st = d->st[ST_SUB_SAVE];
	sqlite3_bind_text(st, 1, sub->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sub->local_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sub->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sub->event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, sub->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, sub->resource, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, sub->remote_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, sub->local_uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, sub->remote_uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, sub->remote_target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, sub->routes, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, sub->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, sub->local_cseq);
	sqlite3_bind_int64(st, 14, sub->remote_cseq);
	sqlite3_bind_int64(st, 15, sub->expires);
	return step_done(d, st);
}

int pbx_subscription_del(struct pbx_dir *d, const char *call_id, const char *local_tag)
{
	sqlite3_stmt *st = d->st[ST_SUB_DEL];
	sqlite3_bind_text(st, 1, call_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, local_tag, -1, SQLITE_STATIC);
	return step_done(d, st);
}

int pbx_subscription_each(struct pbx_dir *d, const char *event, pbx_subscription_each_h *fn,
			  void *arg)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d->db, stmt_sql[ST_SUB_EACH], -1, &st, NULL) != SQLITE_OK)
		return EIO;
	sqlite3_bind_text(st, 1, event, -1, SQLITE_STATIC);
	int rc, err = 0;
	struct pbx_subscription *sub = malloc(sizeof *sub); /* 4 KiB: not on the stack */
	if (!sub) {
		sqlite3_finalize(st);
		return ENOMEM;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(sub, 0, sizeof *sub);
		pbx__sql_text(st, 0, sub->call_id, sizeof sub->call_id);
		pbx__sql_text(st, 1, sub->local_tag, sizeof sub->local_tag);
		pbx__sql_text(st, 2, sub->user, sizeof sub->user);
		pbx__sql_text(st, 3, sub->event, sizeof sub->event);
		pbx__sql_text(st, 4, sub->event_id, sizeof sub->event_id);
		pbx__sql_text(st, 5, sub->resource, sizeof sub->resource);
		pbx__sql_text(st, 6, sub->remote_tag, sizeof sub->remote_tag);
		pbx__sql_text(st, 7, sub->local_uri, sizeof sub->local_uri);
		pbx__sql_text(st, 8, sub->remote_uri, sizeof sub->remote_uri);
		pbx__sql_text(st, 9, sub->remote_target, sizeof sub->remote_target);
		pbx__sql_text(st, 10, sub->routes, sizeof sub->routes);
		pbx__sql_text(st, 11, sub->source, sizeof sub->source);
		sub->local_cseq = (uint32_t)sqlite3_column_int64(st, 12);
		sub->remote_cseq = (uint32_t)sqlite3_column_int64(st, 13);
		sub->expires = sqlite3_column_int64(st, 14);
		if (fn(sub, arg))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = EIO;
	sqlite3_finalize(st);
	free(sub);
	return err;
}
