/**
 * @file core_priv.h  Core-internal entry points (not for modules)
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PBX_CORE_PRIV_H
#define PBX_CORE_PRIV_H

#include <stdbool.h>
#include <stddef.h>

struct pbx_config;
struct pbx_chan;
struct pbx_buf;
struct pbx_dir;
struct sqlite3;
struct sqlite3_stmt;

/** The directory's database handle, for core stores beside the users (voicemail.c). */
struct sqlite3 *pbx__dir_db(struct pbx_dir *d);

/**
 * Use @p d as the directory that pbx_dir() returns, for unit tests of the
 * stores beside the users (pbx__core_run opens its own). NULL: none.
 */
void pbx__core_set_dir(struct pbx_dir *d);
/** Drop what the message store caches of the directory (msg_store.c). */
void pbx__msg_store_forget(void);

/** Run the server until it stops; takes ownership of @p cfg. Exit status. */
int pbx__core_run(struct pbx_config *cfg, bool foreground);

/** Console socket path for @p cfg into @p buf. */
void pbx__console_path(const struct pbx_config *cfg, char *buf, size_t len);
int pbx__console_start(const char *path);
void pbx__console_stop(void);
unsigned pbx__console_count(void);

/** This console's log level, or -1 when it does not show the log. */
int pbx__console_log_level(const void *conn);
/** Set this console's log level. 0, or ENOTSUP when it does not show the log. */
int pbx__console_set_log_level(void *conn, int level);

/**
 * Client side: run @p cmd (or an interactive session when NULL) against the
 * console socket at @p path. An interactive session with @p logs asks the
 * server to stream log lines to it (pbx -r); the foreground console does
 * not, as it has the log on stderr already. Returns the exit status.
 */
int pbx__console_client(const char *path, const char *cmd, bool logs);

/*
 * Log lines for consoles (log.c). A bounded queue of (level, line) records
 * in a byte ring; the caller locks. A full queue refuses the line and
 * counts it.
 */
struct pbx__logq {
	char *buf;
	size_t cap;
	size_t head; /* where the oldest record starts */
	size_t len;  /* bytes in use */
	unsigned long dropped;
};
void pbx__logq_init(struct pbx__logq *q, char *buf, size_t cap);
/** Queue a copy of @p line (no newline). 0, or ENOBUFS when full (counted). */
int pbx__logq_push(struct pbx__logq *q, int level, const char *line, size_t len);
/** Oldest line into @p out (cut to @p size). Its length, or -1 when empty. */
int pbx__logq_pop(struct pbx__logq *q, int *level, char *out, size_t size);
/** Lines refused since the last call. */
unsigned long pbx__logq_take_dropped(struct pbx__logq *q);

/** Called from any thread, with the feed locked, when lines are waiting. */
typedef void pbx__log_wake_h(void *arg);
/** Start queueing lines for consoles; @p wake must not block. */
void pbx__log_feed_start(pbx__log_wake_h *wake, void *arg);
/** Stop queueing and drop what is queued; no wake-up after this returns. */
void pbx__log_feed_stop(void);
/** The most verbose level any console shows; -1 when none listens. */
void pbx__log_feed_set_level(int level);
/** Take the oldest queued line (see pbx__logq_pop); adds the lines dropped to *dropped. */
int pbx__log_feed_pop(int *level, char *out, size_t size, unsigned long *dropped);

/** Create @p dir and parents; check it is a writable directory. 0 or errno; *what names the failing step. */
int pbx__mkdir_writable(const char *dir, const char **what);
/** mkdir -p, mode 0750. 0 or errno. */
int pbx__mkdir_p(const char *dir);
/** fsync the folder that holds @p path, so a rename into or out of it survives a crash. */
int pbx__fsync_dir_of(const char *path);

struct pbx_conf_room;
/**
 * Why @p r cannot be stored (NULL: it can); *field names the member at
 * fault: "number", "pin", "admin_pin", "max_members" or "moh". The store
 * refuses with EINVAL what this refuses; the console names the argument.
 */
const char *pbx__conf_room_check(const struct pbx_conf_room *r, const char **field);

/** Column @p col of a row as text into @p dst ("" for NULL), cut to @p len. */
void pbx__sql_text(struct sqlite3_stmt *st, int col, char *dst, size_t len);

/*
 * A fixed table of callbacks (watchers of users, of mailboxes): any
 * function pointer type is stored as pbx__hook_fn and cast back by the
 * owner before it is called.
 */
typedef void (*pbx__hook_fn)(void);
/** Put @p fn in a free slot of @p slots. 0, or ENOSPC when all @p n are taken. */
int pbx__hook_add(pbx__hook_fn *slots, size_t n, pbx__hook_fn fn);
/** Free every slot holding @p fn. */
void pbx__hook_del(pbx__hook_fn *slots, size_t n, pbx__hook_fn fn);

/** A transferee (ch->xfer) hung up: the transfer ends (transfer.c). */
void pbx__transfer_chan_gone(struct pbx_chan *ch);
/** Hang up every channel (at stop). */
void pbx__chan_hangup_all(int cause);
/** Calls up now, as `core show calls` counts them (a bridged pair is one). */
unsigned pbx__chan_calls(void);

#endif
