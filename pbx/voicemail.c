/**
 * @file voicemail.c  Voicemail storage: WAV files in folders, rows in SQLite, kept in step
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See voicemail.h for the layout and the crash rules. The order of every
 * change is chosen so that a kill -9 between any two steps leaves a state
 * pbx_vm_recover() turns into "the whole message or none":
 *
 *   deposit: row inserted (uncommitted), file renamed into its folder,
 *            folder fsynced, commit. A crash before the commit leaves a
 *            file without a row: adopted at the next start.
 *   delete:  row deleted (uncommitted), file renamed into tmp/, commit,
 *            unlink. A crash before the commit leaves a row without a
 *            file (dropped) and a file in tmp/ (removed).
 *   move:    row updated (uncommitted), file renamed, commit. A crash
 *            before the commit leaves a row without a file (dropped) and a
 *            file without a row in the new folder (adopted there).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sndfile.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"

/* ---- configuration ------------------------------------------------------------------------ */

#define OFF(f) PBX_CFG_OFF(struct pbx_vm_cfg, f)

static const char *const security_names[] = {"none", "try", "starttls", "tls", NULL};

static const struct pbx_cfg_key keys[] = {
	{.name = "max_messages",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_messages),
	 .def = "100",
	 .min = 1,
	 .max = 9999,
	 .help = "messages a mailbox holds, in all folders (a user's own limit wins)"},
	{.name = "min_seconds",
	 .type = PBX_CFG_INT,
	 .off = OFF(min_seconds),
	 .def = "1",
	 .min = 0,
	 .max = 60,
	 .help = "a message shorter than this is discarded"},
	{.name = "max_seconds",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_seconds),
	 .def = "300",
	 .min = 1,
	 .max = 3600,
	 .help = "a message ends at this length"},
	{.name = "silence_seconds",
	 .type = PBX_CFG_INT,
	 .off = OFF(silence_seconds),
	 .def = "10",
	 .min = 0,
	 .max = 300,
	 .help = "this much silence ends a message (0: silence never ends it)"},
	{.name = "email", .type = PBX_CFG_TABLE, .help = "mail a new message to the user's email"},
	{.name = "email.server",
	 .type = PBX_CFG_STRING,
	 .off = OFF(email.server),
	 .help = "SMTP server host name or address; unset: no mail is sent"},
	{.name = "email.port",
	 .type = PBX_CFG_INT,
	 .off = OFF(email.port),
	 .def = "25",
	 .min = 1,
	 .max = 65535,
	 .help = "SMTP port (587 for submission with STARTTLS, 465 for tls)"},
	{.name = "email.security",
	 .type = PBX_CFG_ENUM,
	 .off = OFF(email.security),
	 .def = "try",
	 .choices = security_names,
	 .help = "none, try (STARTTLS when offered), starttls (required) or tls (SMTPS)"},
	{.name = "email.user",
	 .type = PBX_CFG_STRING,
	 .off = OFF(email.user),
	 .help = "SMTP login; unset: no login"},
	{.name = "email.password",
	 .type = PBX_CFG_STRING,
	 .off = OFF(email.password),
	 .help = "SMTP password (core show settings hides it)",
	 .secret = true},
	{.name = "email.from",
	 .type = PBX_CFG_STRING,
	 .off = OFF(email.from),
	 .def = "pbx-voicemail@localhost",
	 .help = "the sender address of notification mails"},
	{.name = "email.subject",
	 .type = PBX_CFG_STRING,
	 .off = OFF(email.subject),
	 .def = "New voicemail from ${VM_CALLERID} in mailbox ${VM_MAILBOX}",
	 .help = "subject template: ${VM_NAME} ${VM_MAILBOX} ${VM_CALLERID} ${VM_CIDNUM} "
		 "${VM_CIDNAME} ${VM_DUR} ${VM_DATE} ${VM_MSGNUM}"},
	{.name = "email.body",
	 .type = PBX_CFG_STRING,
	 .off = OFF(email.body),
	 .def = "Hello ${VM_NAME},\n\n${VM_CALLERID} left you a message of ${VM_DUR} on "
		"${VM_DATE} in mailbox ${VM_MAILBOX} (message ${VM_MSGNUM}).\n\n"
		"Dial the voicemail number to hear it.\n",
	 .help = "body template, with the subject's variables"},
	{.name = "email.attach",
	 .type = PBX_CFG_BOOL,
	 .off = OFF(email.attach),
	 .def = "true",
	 .help = "attach the message's WAV file to the mail"},
	{.name = "email.max_tries",
	 .type = PBX_CFG_INT,
	 .off = OFF(email.max_tries),
	 .def = "10",
	 .min = 1,
	 .max = 1000,
	 .help = "a mail that failed this many times is given up (the message stays)"},
	{.name = "email.retry_seconds",
	 .type = PBX_CFG_INT,
	 .off = OFF(email.retry_seconds),
	 .def = "60",
	 .min = 1,
	 .max = 3600,
	 .help = "wait before the first retry; doubled after each failure, at most an hour"},
	{.name = NULL},
};

static int check(void *sect, struct pbx_cfg_err *e)
{
	const struct pbx_vm_cfg *c = sect;
	if (c->min_seconds >= c->max_seconds)
		return pbx_cfg_error(e, "min_seconds", NULL, "must be below max_seconds");
	return 0;
}

PBX_CONFIG_SECTION(vm_section) = {
	.name = "voicemail",
	.module = "voicemail",
	.order = 50,
	.size = sizeof(struct pbx_vm_cfg),
	.keys = keys,
	.check = check,
	.help = "voicemail: limits of a message and a mailbox, and mail notification",
};

const struct pbx_vm_cfg *pbx_vm_cfg(void)
{
	/* Unit tests run without a config: the defaults of the keys above. */
	static const struct pbx_vm_cfg defaults = {
		.max_messages = 100, .min_seconds = 1, .max_seconds = 300, .silence_seconds = 10};
	const struct pbx_config *cfg = pbx_cfg();
	return cfg ? pbx_config_get(cfg, &vm_section) : &defaults;
}

/* ---- folders and paths -------------------------------------------------------------------- */

static const char *const folder_names[PBX_VM_NFOLDERS] = {"INBOX",  "Old",     "Work",
							  "Family", "Friends", "Urgent"};

const char *pbx_vm_folder_name(int folder)
{
	return folder >= 0 && folder < PBX_VM_NFOLDERS ? folder_names[folder] : NULL;
}

int pbx_vm_folder_parse(const char *name)
{
	if (!name || !*name)
		return -1;
	if (name[0] >= '0' && name[0] <= '5' && !name[1])
		return name[0] - '0';
	for (int i = 0; i < PBX_VM_NFOLDERS; i++)
		if (!strcasecmp(name, folder_names[i]))
			return i;
	return -1;
}

/* STATE_DIR made absolute once, so the paths handed out (console, mail) name the file anywhere. */
static const char *state_dir(void)
{
	static char abs[PATH_MAX];
	const struct pbx_config *cfg = pbx_cfg();
	const char *dir = cfg ? pbx_config_core(cfg)->state_dir : ".";
	if (dir[0] == '/')
		return dir;
	if (!abs[0] && !realpath(dir, abs))
		return dir;
	return abs;
}

/* A mailbox name becomes a folder name: the extension rules keep it one path component. */
static bool mailbox_ok(const char *mb)
{
	return mb && !pbx_user_check_ext(mb) && strcmp(mb, ".") && strcmp(mb, "..");
}

static int fmt_path(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fmt_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

int pbx_vm_dir(const char *mailbox, char *out, size_t size)
{
	if (!mailbox_ok(mailbox))
		return EINVAL;
	return fmt_path(out, size, "%s/voicemail/%s", state_dir(), mailbox);
}

static int sub_dir(const char *mailbox, const char *sub, char *out, size_t size)
{
	char dir[PATH_MAX];
	int err = pbx_vm_dir(mailbox, dir, sizeof dir);
	if (!err)
		err = fmt_path(out, size, "%s/%s", dir, sub);
	if (!err)
		err = pbx__mkdir_p(out);
	return err;
}

static int msg_path(char *out, size_t size, const char *mailbox, int folder, int64_t id)
{
	char dir[PATH_MAX];
	int err = pbx_vm_dir(mailbox, dir, sizeof dir);
	return err ? err
		   : fmt_path(out, size, "%s/%s/msg%04lld.wav", dir, folder_names[folder],
			      (long long)id);
}

int pbx_vm_tmp_path(const char *mailbox, char *out, size_t size)
{
	static unsigned seq;
	char dir[PATH_MAX];
	int err = sub_dir(mailbox, "tmp", dir, sizeof dir);
	if (err)
		return err;
	return fmt_path(out, size, "%s/rec-%lld-%d-%u.wav", dir, (long long)time(NULL),
			(int)getpid(), ++seq);
}

int pbx_vm_greeting_path(const char *mailbox, const char *kind, char *out, size_t size)
{
	static const char *const kinds[] = {"unavail", "busy", "name", "temp"};
	bool known = false;
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		known |= kind && !strcmp(kind, kinds[i]);
	if (!known)
		return EINVAL;
	char dir[PATH_MAX];
	int err = sub_dir(mailbox, "greet", dir, sizeof dir);
	return err ? err : fmt_path(out, size, "%s/%s.wav", dir, kind);
}

/* ---- statements --------------------------------------------------------------------------- */

enum stmt_id {
	ST_INSERT,
	ST_INSERT_ID,
	ST_FIND,
	ST_EACH,
	ST_EACH_FOLDER,
	ST_COUNT_ALL,
	ST_COUNTS,
	ST_DELETE,
	ST_MOVE,
	ST_READ,
	ST_ALL,
	ST_MAIL_SAVE,
	ST_MAIL_DEL,
	ST_MAIL_ALL,
	ST_N
};

#define COLS "id,mailbox,folder,cid_num,cid_name,time,duration_ms,urgent,read"

static const char *const stmt_sql[ST_N] = {
	[ST_INSERT] = "INSERT INTO voicemail(mailbox,folder,cid_num,cid_name,time,duration_ms,"
		      "urgent,read) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
	[ST_INSERT_ID] = "INSERT INTO voicemail(id,mailbox,folder,cid_num,cid_name,time,"
			 "duration_ms,urgent,read) VALUES(?9,?1,?2,?3,?4,?5,?6,?7,?8)",
	[ST_FIND] = "SELECT " COLS " FROM voicemail WHERE id=?1",
	[ST_EACH] = "SELECT " COLS " FROM voicemail WHERE mailbox=?1 "
		    "ORDER BY urgent DESC, time, id",
	[ST_EACH_FOLDER] = "SELECT " COLS " FROM voicemail WHERE mailbox=?1 AND folder=?2 "
			   "ORDER BY urgent DESC, time, id",
	[ST_COUNT_ALL] = "SELECT count(*) FROM voicemail WHERE mailbox=?1",
	/* New: unread in INBOX or Urgent; old: the rest of those and Old (as Asterisk counts). */
	[ST_COUNTS] = "SELECT"
		      " coalesce(sum(folder IN (0,5) AND read=0),0),"
		      " coalesce(sum(folder=1 OR (folder IN (0,5) AND read=1)),0),"
		      " coalesce(sum(urgent=1 AND folder IN (0,5) AND read=0),0),"
		      " coalesce(sum(urgent=1 AND (folder=1 OR (folder IN (0,5) AND read=1))),0)"
		      " FROM voicemail WHERE mailbox=?1",
	[ST_DELETE] = "DELETE FROM voicemail WHERE id=?1",
	/* Into INBOX or Urgent it is new again; into Old it counts as heard (Asterisk's folders). */
	[ST_MOVE] = "UPDATE voicemail SET folder=?2, read=CASE WHEN ?2 IN (0,5) THEN 0 "
		    "WHEN ?2=1 THEN 1 ELSE read END WHERE id=?1",
	[ST_READ] = "UPDATE voicemail SET read=?2 WHERE id=?1",
	[ST_ALL] = "SELECT " COLS " FROM voicemail ORDER BY id",
	[ST_MAIL_SAVE] = "INSERT OR REPLACE INTO vm_mail(id,msg,mailbox,rcpt,msgnum,tries,next,"
			 "error) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
	[ST_MAIL_DEL] = "DELETE FROM vm_mail WHERE id=?1",
	[ST_MAIL_ALL] = "SELECT id,msg,mailbox,rcpt,msgnum,tries,next,error FROM vm_mail "
			"ORDER BY id",
};

#define MAX_CHANGED   8 /* watchers: voicemail.h says how many */
#define MAX_DEPOSITED 4

static struct {
	sqlite3 *db;
	sqlite3_stmt *st[ST_N];
	pbx__hook_fn changed[MAX_CHANGED];     /* pbx_vm_changed_h */
	pbx__hook_fn deposited[MAX_DEPOSITED]; /* pbx_vm_deposited_h */
} vm;

static sqlite3 *db(void)
{
	if (!vm.db && pbx_dir())
		vm.db = pbx__dir_db(pbx_dir());
	return vm.db;
}

/* The prepared statement @p id, reset and unbound; NULL when there is no database. */
static sqlite3_stmt *stmt(enum stmt_id id)
{
	if (!db())
		return NULL;
	if (!vm.st[id] && sqlite3_prepare_v3(vm.db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					     &vm.st[id], NULL) != SQLITE_OK) {
		pbx_error("voicemail: prepare: %s", sqlite3_errmsg(vm.db));
		return NULL;
	}
	sqlite3_reset(vm.st[id]);
	sqlite3_clear_bindings(vm.st[id]);
	return vm.st[id];
}

static int sql(const char *text)
{
	char *msg = NULL;
	if (!db() || sqlite3_exec(vm.db, text, NULL, NULL, &msg) != SQLITE_OK) {
		pbx_error("voicemail: %s: %s", text, msg ? msg : "no database");
		sqlite3_free(msg);
		return EIO;
	}
	return 0;
}

/* Step a write once; EIO (logged) unless it is done. */
static int step_write(sqlite3_stmt *st)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
	if (rc != SQLITE_DONE) {
		pbx_error("voicemail: %s", vm.db ? sqlite3_errmsg(vm.db) : "no database");
		return EIO;
	}
	return 0;
}

static void row_msg(sqlite3_stmt *st, struct pbx_vm_msg *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	pbx__sql_text(st, 1, m->mailbox, sizeof m->mailbox);
	m->folder = sqlite3_column_int(st, 2);
	if (m->folder < 0 || m->folder >= PBX_VM_NFOLDERS)
		m->folder = PBX_VM_INBOX;
	pbx__sql_text(st, 3, m->cid_num, sizeof m->cid_num);
	pbx__sql_text(st, 4, m->cid_name, sizeof m->cid_name);
	m->time = sqlite3_column_int64(st, 5);
	m->duration_ms = (unsigned)sqlite3_column_int64(st, 6);
	m->urgent = sqlite3_column_int(st, 7) != 0;
	m->read = sqlite3_column_int(st, 8) != 0;
	if (msg_path(m->path, sizeof m->path, m->mailbox, m->folder, m->id))
		m->path[0] = '\0';
}

static void bind_msg(sqlite3_stmt *st, const struct pbx_vm_msg *m)
{
	sqlite3_bind_text(st, 1, m->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, m->folder);
	sqlite3_bind_text(st, 3, m->cid_num, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->cid_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, m->time);
	sqlite3_bind_int64(st, 6, m->duration_ms);
	sqlite3_bind_int(st, 7, m->urgent);
	sqlite3_bind_int(st, 8, m->read);
}

/* ---- watchers ----------------------------------------------------------------------------- */

int pbx_vm_watch(pbx_vm_changed_h *fn)
{
	return pbx__hook_add(vm.changed, MAX_CHANGED, (pbx__hook_fn)fn);
}

void pbx_vm_unwatch(pbx_vm_changed_h *fn)
{
	pbx__hook_del(vm.changed, MAX_CHANGED, (pbx__hook_fn)fn);
}

void pbx_vm_changed(const char *mailbox)
{
	struct pbx_vm_counts c;
	if (pbx_vm_counts(mailbox, &c))
		return;
	for (size_t i = 0; i < MAX_CHANGED; i++)
		if (vm.changed[i])
			((pbx_vm_changed_h *)vm.changed[i])(mailbox, &c);
}

int pbx_vm_watch_deposit(pbx_vm_deposited_h *fn)
{
	return pbx__hook_add(vm.deposited, MAX_DEPOSITED, (pbx__hook_fn)fn);
}

void pbx_vm_unwatch_deposit(pbx_vm_deposited_h *fn)
{
	pbx__hook_del(vm.deposited, MAX_DEPOSITED, (pbx__hook_fn)fn);
}

/* ---- queries ------------------------------------------------------------------------------ */

int pbx_vm_counts(const char *mailbox, struct pbx_vm_counts *c)
{
	memset(c, 0, sizeof *c);
	sqlite3_stmt *st = stmt(ST_COUNTS);
	if (!st)
		return EIO;
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->new_msgs = (unsigned)sqlite3_column_int(st, 0);
		c->old_msgs = (unsigned)sqlite3_column_int(st, 1);
		c->urgent_new = (unsigned)sqlite3_column_int(st, 2);
		c->urgent_old = (unsigned)sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : EIO;
}

unsigned pbx_vm_message_count(const char *mailbox)
{
	sqlite3_stmt *st = stmt(ST_COUNT_ALL);
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	unsigned n = sqlite3_step(st) == SQLITE_ROW ? (unsigned)sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return n;
}

unsigned pbx_vm_max_messages(const char *mailbox)
{
	struct pbx_user u;
	if (pbx_dir() && !pbx_user_find(pbx_dir(), mailbox, &u) && u.vm_max_messages > 0)
		return (unsigned)u.vm_max_messages;
	return (unsigned)pbx_vm_cfg()->max_messages;
}

int pbx_vm_each(const char *mailbox, int folder, pbx_vm_msg_each_h *fn, void *arg)
{
	/* Its own statement: a callback may query the store (counts, find) meanwhile. */
	if (!db())
		return EIO;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(vm.db, stmt_sql[folder < 0 ? ST_EACH : ST_EACH_FOLDER], -1, &st,
			       NULL) != SQLITE_OK)
		return EIO;
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	if (folder >= 0)
		sqlite3_bind_int(st, 2, folder);
	int rc;
	struct pbx_vm_msg m;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_msg(st, &m);
		if (fn(&m, arg))
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : EIO;
}

int pbx_vm_find(int64_t id, struct pbx_vm_msg *m)
{
	sqlite3_stmt *st = stmt(ST_FIND);
	if (!st)
		return EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_msg(st, m);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? ENOENT : EIO;
}

/* ---- changes ------------------------------------------------------------------------------ */

static void rollback(void)
{
	sql("ROLLBACK");
}

/*
 * Insert @p m's row and rename @p from to the message's file, in one
 * transaction; @p id > 0 keeps that id (adoption). On success m->id and
 * m->path are set.
 */
static int store(struct pbx_vm_msg *m, const char *from, int64_t id)
{
	char dir[PATH_MAX];
	int err = sub_dir(m->mailbox, folder_names[m->folder], dir, sizeof dir);
	if (err)
		return err;
	if (sql("BEGIN IMMEDIATE"))
		return EIO;
	sqlite3_stmt *st = stmt(id > 0 ? ST_INSERT_ID : ST_INSERT);
	if (st) {
		bind_msg(st, m);
		if (id > 0)
			sqlite3_bind_int64(st, 9, id);
	}
	if ((err = step_write(st))) {
		rollback();
		return err;
	}
	m->id = sqlite3_last_insert_rowid(vm.db);
	if ((err = msg_path(m->path, sizeof m->path, m->mailbox, m->folder, m->id)) ||
	    (strcmp(from, m->path) && rename(from, m->path) && (err = errno))) {
		pbx_error("voicemail %s: %s -> %s: %s", m->mailbox, from, m->path, strerror(err));
		rollback();
		return err;
	}
	pbx__fsync_dir_of(m->path);
	if (sql("COMMIT")) {
		/* Back where it was: the caller still owns it and says the message failed. */
		if (strcmp(from, m->path))
			rename(m->path, from);
		rollback();
		return EIO;
	}
	return 0;
}

int pbx_vm_deposit(struct pbx_vm_msg *m, const char *tmp)
{
	struct pbx_user u;
	if (!mailbox_ok(m->mailbox) || !pbx_dir())
		return ENOENT;
	int err = pbx_user_find(pbx_dir(), m->mailbox, &u);
	if (err)
		return err;
	unsigned max = pbx_vm_max_messages(m->mailbox);
	if (pbx_vm_message_count(m->mailbox) >= max) {
		pbx_notice("voicemail %s: mailbox full (%u messages): message from %s not kept",
			   m->mailbox, max, m->cid_num[0] ? m->cid_num : "unknown");
		unlink(tmp);
		return ENOSPC;
	}
	m->folder = m->urgent ? PBX_VM_URGENT : PBX_VM_INBOX;
	m->read = false;
	if (!m->time)
		m->time = (int64_t)time(NULL);
	if (!m->duration_ms)
		m->duration_ms = pbx_vm_file_ms(tmp);
	if ((err = store(m, tmp, 0)))
		return err;
	pbx_notice("voicemail %s: message %lld from %s, %u ms, stored in %s", m->mailbox,
		   (long long)m->id, m->cid_num[0] ? m->cid_num : "unknown", m->duration_ms,
		   folder_names[m->folder]);
	pbx_vm_changed(m->mailbox);
	for (size_t i = 0; i < MAX_DEPOSITED; i++)
		if (vm.deposited[i])
			((pbx_vm_deposited_h *)vm.deposited[i])(m);
	return 0;
}

int pbx_vm_delete(int64_t id)
{
	struct pbx_vm_msg m;
	int err = pbx_vm_find(id, &m);
	if (err)
		return err;
	char dir[PATH_MAX], trash[PATH_MAX];
	if ((err = sub_dir(m.mailbox, "tmp", dir, sizeof dir)) ||
	    (err = fmt_path(trash, sizeof trash, "%s/deleted-%lld.wav", dir, (long long)id)))
		return err;
	if (sql("BEGIN IMMEDIATE"))
		return EIO;
	sqlite3_stmt *st = stmt(ST_DELETE);
	if (st)
		sqlite3_bind_int64(st, 1, id);
	if ((err = step_write(st))) {
		rollback();
		return err;
	}
	bool moved = !rename(m.path, trash);
	if (!moved && errno != ENOENT) {
		err = errno;
		pbx_error("voicemail %s: delete %s: %s", m.mailbox, m.path, strerror(err));
		rollback();
		return err;
	}
	if (sql("COMMIT")) {
		if (moved)
			rename(trash, m.path);
		rollback();
		return EIO;
	}
	if (moved)
		unlink(trash);
	pbx_info("voicemail %s: message %lld deleted", m.mailbox, (long long)id);
	pbx_vm_changed(m.mailbox);
	return 0;
}

int pbx_vm_move(int64_t id, int folder)
{
	if (!pbx_vm_folder_name(folder))
		return EINVAL;
	struct pbx_vm_msg m;
	int err = pbx_vm_find(id, &m);
	if (err)
		return err;
	if (m.folder == folder)
		return 0;
	char dir[PATH_MAX], to[PATH_MAX];
	if ((err = sub_dir(m.mailbox, folder_names[folder], dir, sizeof dir)) ||
	    (err = msg_path(to, sizeof to, m.mailbox, folder, id)))
		return err;
	if (sql("BEGIN IMMEDIATE"))
		return EIO;
	sqlite3_stmt *st = stmt(ST_MOVE);
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, folder);
	}
	if ((err = step_write(st))) {
		rollback();
		return err;
	}
	if (rename(m.path, to)) {
		err = errno;
		pbx_error("voicemail %s: move %s: %s", m.mailbox, m.path, strerror(err));
		rollback();
		return err;
	}
	pbx__fsync_dir_of(to);
	if (sql("COMMIT")) {
		rename(to, m.path);
		rollback();
		return EIO;
	}
	pbx_info("voicemail %s: message %lld moved to %s", m.mailbox, (long long)id,
		 folder_names[folder]);
	pbx_vm_changed(m.mailbox);
	return 0;
}

int pbx_vm_set_read(int64_t id, bool read)
{
	struct pbx_vm_msg m;
	int err = pbx_vm_find(id, &m);
	if (err || m.read == read)
		return err;
	sqlite3_stmt *st = stmt(ST_READ);
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, read);
	}
	if ((err = step_write(st)))
		return err;
	pbx_vm_changed(m.mailbox);
	return 0;
}

/* Copy @p from to @p to, fsynced. 0 or errno; nothing is left at @p to on error. */
static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno;
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	int err = out < 0 ? errno : 0;
	char buf[65536];
	ssize_t n;
	while (!err && (n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno != EINTR)
				err = errno;
			continue;
		}
		for (ssize_t off = 0; !err && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				err = errno;
			else if (w > 0)
				off += w;
		}
	}
	if (!err && fsync(out))
		err = errno;
	if (out >= 0 && close(out) && !err)
		err = errno;
	close(in);
	if (err && out >= 0)
		unlink(to);
	return err;
}

int pbx_vm_copy(int64_t id, const char *mailbox, struct pbx_vm_msg *out)
{
	struct pbx_vm_msg m, n;
	int err = pbx_vm_find(id, &m);
	if (err)
		return err;
	struct pbx_user u;
	if (!mailbox_ok(mailbox) || !pbx_dir() || pbx_user_find(pbx_dir(), mailbox, &u))
		return ENOENT;
	if (pbx_vm_message_count(mailbox) >= pbx_vm_max_messages(mailbox))
		return ENOSPC;
	char tmp[PATH_MAX];
	if ((err = pbx_vm_tmp_path(mailbox, tmp, sizeof tmp)) || (err = copy_file(m.path, tmp)))
		return err;
	n = m;
	snprintf(n.mailbox, sizeof n.mailbox, "%s", mailbox);
	n.folder = m.urgent ? PBX_VM_URGENT : PBX_VM_INBOX;
	n.read = false;
	if ((err = store(&n, tmp, 0))) {
		unlink(tmp);
		return err;
	}
	pbx_info("voicemail: message %lld of %s forwarded to %s as %lld", (long long)id, m.mailbox,
		 mailbox, (long long)n.id);
	if (out)
		*out = n;
	pbx_vm_changed(mailbox);
	return 0;
}

/* ---- pending notification mails ---------------------------------------------------------- */

int pbx_vm_mail_save(const struct pbx_vm_mail *m)
{
	assert(m->id > 0);
	sqlite3_stmt *st = stmt(ST_MAIL_SAVE);
	if (st) {
		sqlite3_bind_int64(st, 1, m->id);
		sqlite3_bind_int64(st, 2, m->msg);
		sqlite3_bind_text(st, 3, m->mailbox, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, m->rcpt, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, m->msgnum);
		sqlite3_bind_int64(st, 6, m->tries);
		sqlite3_bind_int64(st, 7, m->next);
		sqlite3_bind_text(st, 8, m->error, -1, SQLITE_STATIC);
	}
	int err = step_write(st);
	if (st)
		sqlite3_reset(st);
	return err;
}

int pbx_vm_mail_del(unsigned id)
{
	sqlite3_stmt *st = stmt(ST_MAIL_DEL);
	if (st)
		sqlite3_bind_int64(st, 1, id);
	int err = step_write(st);
	if (st)
		sqlite3_reset(st);
	return err;
}

int pbx_vm_mail_each(pbx_vm_mail_each_h *fn, void *arg)
{
	/*
	 * All rows are read first so that @p fn may write the table (a mail
	 * whose message is gone is deleted from the callback). At most
	 * apps/vm_mail.c's queue limit of rows, 1000 of 900 bytes.
	 */
	sqlite3_stmt *st = stmt(ST_MAIL_ALL);
	if (!st)
		return EIO;
	struct pbx_vm_mail *rows = NULL;
	size_t n = 0, cap = 0;
	int rc, err = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct pbx_vm_mail *r = realloc(rows, cap * sizeof *r);
			if (!r) {
				err = ENOMEM;
				break;
			}
			rows = r;
		}
		struct pbx_vm_mail *m = &rows[n++];
		memset(m, 0, sizeof *m);
		m->id = (unsigned)sqlite3_column_int64(st, 0);
		m->msg = sqlite3_column_int64(st, 1);
		pbx__sql_text(st, 2, m->mailbox, sizeof m->mailbox);
		pbx__sql_text(st, 3, m->rcpt, sizeof m->rcpt);
		m->msgnum = (unsigned)sqlite3_column_int64(st, 4);
		m->tries = (unsigned)sqlite3_column_int64(st, 5);
		m->next = sqlite3_column_int64(st, 6);
		pbx__sql_text(st, 7, m->error, sizeof m->error);
	}
	if (!err && rc != SQLITE_DONE) {
		pbx_error("voicemail: mail queue: %s", sqlite3_errmsg(vm.db));
		err = EIO;
	}
	sqlite3_reset(st);
	for (size_t i = 0; !err && i < n; i++)
		if (fn(&rows[i], arg))
			break;
	free(rows);
	return err;
}

/* ---- recovery ----------------------------------------------------------------------------- */

unsigned pbx_vm_file_ms(const char *path)
{
	SF_INFO info = {0};
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (!f)
		return 0;
	sf_close(f);
	return info.samplerate > 0 ? (unsigned)(info.frames * 1000 / info.samplerate) : 0;
}

/* Does a row with @p id exist for this mailbox and folder? */
static bool row_is(int64_t id, const char *mailbox, int folder)
{
	struct pbx_vm_msg m;
	return !pbx_vm_find(id, &m) && !strcmp(m.mailbox, mailbox) && m.folder == folder;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && !strcmp(s + n - k, suf);
}

/* Remove everything in @p dir (a tmp/ folder): recordings never deposited, deletes half done. */
static int clear_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	char path[PATH_MAX];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || fmt_path(path, sizeof path, "%s/%s", dir, e->d_name))
			continue;
		if (!unlink(path)) {
			pbx_notice(
				"voicemail: removed %s left by an interrupted recording or delete",
				path);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Adopt the files of one folder that have no row. */
static int adopt_folder(const char *mailbox, int folder, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	char path[PATH_MAX];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || fmt_path(path, sizeof path, "%s/%s", dir, e->d_name))
			continue;
		if (!has_suffix(e->d_name, ".wav")) {
			if (has_suffix(e->d_name, ".part") && !unlink(path)) {
				pbx_notice("voicemail: removed unfinished %s", path);
				n++;
			}
			continue;
		}
		long long id = 0;
		int used = 0;
		if (sscanf(e->d_name, "msg%lld.wav%n", &id, &used) != 1 ||
		    used != (int)strlen(e->d_name) || id <= 0)
			id = 0;
		if (id && row_is(id, mailbox, folder))
			continue;
		struct stat st;
		struct pbx_vm_msg m = {0};
		snprintf(m.mailbox, sizeof m.mailbox, "%.*s", PBX_EXT_MAX, mailbox);
		m.folder = folder;
		m.urgent = folder == PBX_VM_URGENT;
		m.read = folder != PBX_VM_INBOX && folder != PBX_VM_URGENT;
		m.time = !stat(path, &st) ? (int64_t)st.st_mtime : (int64_t)time(NULL);
		m.duration_ms = pbx_vm_file_ms(path);
		/* Keep the file's id when it is free, so its name stays. */
		struct pbx_vm_msg other;
		int64_t keep = id && pbx_vm_find(id, &other) == ENOENT ? id : 0;
		if (!store(&m, path, keep)) {
			pbx_notice("voicemail %s: adopted %s as message %lld in %s", mailbox, path,
				   (long long)m.id, folder_names[folder]);
			n++;
		}
	}
	closedir(d);
	return n;
}

static int drop_orphan_rows(void)
{
	sqlite3_stmt *st;
	if (!db() || sqlite3_prepare_v2(vm.db, stmt_sql[ST_ALL], -1, &st, NULL) != SQLITE_OK)
		return 0;
	int64_t *gone = NULL;
	size_t n = 0, cap = 0;
	struct pbx_vm_msg m;
	while (sqlite3_step(st) == SQLITE_ROW) {
		row_msg(st, &m);
		if (m.path[0] && access(m.path, F_OK) == 0)
			continue;
		pbx_warning("voicemail %s: message %lld has no file (%s): row removed", m.mailbox,
			    (long long)m.id, m.path);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *g = realloc(gone, cap * sizeof *g);
			if (!g)
				break;
			gone = g;
		}
		gone[n++] = m.id;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *del = stmt(ST_DELETE);
		if (del) {
			sqlite3_bind_int64(del, 1, gone[i]);
			step_write(del);
		}
	}
	free(gone);
	return (int)n;
}

int pbx_vm_recover(void)
{
	char root[PATH_MAX], dir[PATH_MAX];
	if (fmt_path(root, sizeof root, "%s/voicemail", state_dir()))
		return 0;
	int n = drop_orphan_rows();
	DIR *d = opendir(root);
	if (!d)
		return n;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!mailbox_ok(e->d_name))
			continue;
		if (!fmt_path(dir, sizeof dir, "%s/%s/tmp", root, e->d_name))
			n += clear_tmp(dir);
		for (int f = 0; f < PBX_VM_NFOLDERS; f++)
			if (!fmt_path(dir, sizeof dir, "%s/%s/%s", root, e->d_name,
				      folder_names[f]))
				n += adopt_folder(e->d_name, f, dir);
	}
	closedir(d);
	if (n)
		pbx_notice("voicemail: storage recovered (%d change(s))", n);
	return n;
}

/* ---- module ------------------------------------------------------------------------------- */

static int load(void)
{
	if (!db())
		return 0; /* unit tests without a directory */
	pbx_vm_recover();
	return 0;
}

static void unload(void)
{
	for (int i = 0; i < ST_N; i++) {
		sqlite3_finalize(vm.st[i]);
		vm.st[i] = NULL;
	}
	vm.db = NULL;
}

/* Before the drivers and applications: they count and deposit from their start. */
PBX_MODULE(voicemail_module) = {"voicemail", 2, load, unload};
