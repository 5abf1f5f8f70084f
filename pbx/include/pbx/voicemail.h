/**
 * @file voicemail.h  Voicemail storage: message files and rows, counts, change watchers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The core keeps the messages; the applications (apps/app_voicemail.c,
 * apps/app_voicemailmain.c), the console and the SIP driver's
 * message-summary package (MWI) use them through this interface only.
 *
 * A message is one WAV file, STATE_DIR/voicemail/<mailbox>/<Folder>/msg<id>.wav,
 * and one row of the directory's `voicemail` table, whose id names the
 * file. Folders are INBOX (new), Old, Work, Family, Friends and Urgent.
 *
 * Crash safety: a recording is written to pbx_vm_tmp_path() (the recorder
 * writes PATH.part, fsyncs and renames). pbx_vm_deposit() then inserts the
 * row and renames the file into its folder inside one transaction, the
 * folder fsynced before the commit: a row never names a missing file.
 * Deleting renames the file out of its folder before the row's delete
 * commits. At start, pbx_vm_recover() removes what is left in tmp/, drops
 * rows whose file is gone and adopts files without a row (caller unknown,
 * time from the file), so the database always agrees with the folders.
 *
 * Signalling thread only.
 */
#ifndef PBX_VOICEMAIL_H
#define PBX_VOICEMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pbx/directory.h"

enum pbx_vm_folder {
	PBX_VM_INBOX,
	PBX_VM_OLD,
	PBX_VM_WORK,
	PBX_VM_FAMILY,
	PBX_VM_FRIENDS,
	PBX_VM_URGENT,
	PBX_VM_NFOLDERS
};

/** "INBOX", "Old", ... ; NULL when out of range. */
const char *pbx_vm_folder_name(int folder);
/** A folder by name (case-insensitive) or number 0..5; -1 when unknown. */
int pbx_vm_folder_parse(const char *name);

struct pbx_vm_msg {
	int64_t id;
	char mailbox[PBX_EXT_MAX + 1];
	int folder; /* enum pbx_vm_folder */
	char cid_num[80];
	char cid_name[80];
	int64_t time; /* unix seconds the message was left */
	unsigned duration_ms;
	bool urgent;
	bool read;      /* heard: counts as old even in INBOX until moved */
	char path[512]; /* the WAV, absolute (filled by list and find) */
};

/**
 * What a message-waiting lamp needs (RFC 3842 Voice-Message: new/old
 * (urgent-new/urgent-old)). New: unread messages in INBOX; old: every other
 * message of the mailbox. Urgent ones are counted in both totals too.
 */
struct pbx_vm_counts {
	unsigned new_msgs, old_msgs;
	unsigned urgent_new, urgent_old;
};

/* ---- configuration: the `voicemail` section ------------------------------------------------ */

/* none: plain SMTP; try: STARTTLS when offered; starttls: STARTTLS or fail; tls: SMTPS. */
enum pbx_vm_mail_security {
	PBX_VM_MAIL_NONE,
	PBX_VM_MAIL_TRY,
	PBX_VM_MAIL_STARTTLS,
	PBX_VM_MAIL_TLS
};

struct pbx_vm_cfg {
	int max_messages;    /* per mailbox, unless the user has their own */
	int min_seconds;     /* shorter messages are discarded */
	int max_seconds;     /* a message ends at this length */
	int silence_seconds; /* this much silence ends a message; 0 never */
	struct {
		char *server; /* NULL: no mail is sent */
		int port;
		int security; /* enum pbx_vm_mail_security */
		char *user;   /* NULL: no SMTP login */
		char *password;
		char *from;
		char *subject; /* templates: ${VM_MAILBOX} ${VM_CALLERID} ${VM_DUR} ... */
		char *body;
		bool attach;       /* attach the WAV */
		int max_tries;     /* a mail is dropped (logged) after this many failures */
		int retry_seconds; /* first retry; doubled each time, at most an hour */
	} email;
};

/** The section in force (defaults filled in). */
const struct pbx_vm_cfg *pbx_vm_cfg(void);

/* ---- storage ------------------------------------------------------------------------------- */

/** STATE_DIR/voicemail/<mailbox>/ into @p out. 0, EINVAL (bad mailbox) or ENAMETOOLONG. */
int pbx_vm_dir(const char *mailbox, char *out, size_t size);

/**
 * A fresh name under STATE_DIR/voicemail/<mailbox>/tmp/ for a recording in
 * progress (the folder made when missing). 0 or errno.
 */
int pbx_vm_tmp_path(const char *mailbox, char *out, size_t size);

/**
 * A greeting's file: STATE_DIR/voicemail/<mailbox>/greet/<kind>.wav, kind
 * "unavail", "busy", "name" or "temp" (the folder made when missing). The
 * file may not exist yet. 0 or errno.
 */
int pbx_vm_greeting_path(const char *mailbox, const char *kind, char *out, size_t size);

/** The mailbox's limit: the user's own when set, else voicemail.max_messages. */
unsigned pbx_vm_max_messages(const char *mailbox);
/** Milliseconds of audio in a WAV file; 0 when it cannot be read. */
unsigned pbx_vm_file_ms(const char *path);
/** Messages the mailbox holds, in every folder (what the limit counts). */
unsigned pbx_vm_message_count(const char *mailbox);

/**
 * Store a finished recording @p tmp (from pbx_vm_tmp_path) as a new message
 * of @p m->mailbox in @p m->folder (INBOX unless urgent: Urgent), with its
 * caller, time, duration (0: read from the file) and flags. On success @p m->id and @p m->path are
 * filled, the watchers run, and the file is no longer at @p tmp.
 * 0, ENOENT (no such user), ENOSPC (mailbox full: nothing stored; @p tmp is
 * removed), EIO.
 */
int pbx_vm_deposit(struct pbx_vm_msg *m, const char *tmp);

/** Counts for the lamp. 0 or EIO; an unknown mailbox counts zero. */
int pbx_vm_counts(const char *mailbox, struct pbx_vm_counts *c);

typedef int pbx_vm_msg_each_h(const struct pbx_vm_msg *m, void *arg); /* non-zero stops */
/**
 * Messages of @p mailbox, in folder @p folder (-1: every folder), in the
 * order a mailbox menu plays them: urgent first, then oldest first. The
 * console numbers them from 1 in this order (folder -1).
 */
int pbx_vm_each(const char *mailbox, int folder, pbx_vm_msg_each_h *fn, void *arg);
/** Message @p id into @p m. 0, ENOENT or EIO. */
int pbx_vm_find(int64_t id, struct pbx_vm_msg *m);

/** Delete message @p id: file and row. 0, ENOENT or EIO. Watchers run. */
int pbx_vm_delete(int64_t id);
/** Move message @p id to @p folder (the file moves too). 0, ENOENT, EINVAL or EIO. Watchers run. */
int pbx_vm_move(int64_t id, int folder);
/** Mark message @p id heard (or not). 0, ENOENT or EIO. Watchers run when it changed. */
int pbx_vm_set_read(int64_t id, bool read);
/**
 * Copy message @p id into @p mailbox's INBOX as a new, unread message (a
 * forward). 0, ENOENT, ENOSPC (full) or EIO. Watchers run for @p mailbox.
 */
int pbx_vm_copy(int64_t id, const char *mailbox, struct pbx_vm_msg *out);

/**
 * Make the database agree with the folders (see the file comment). Called
 * by the core at start; returns how many files were adopted plus rows and
 * leftovers removed (each logged).
 */
int pbx_vm_recover(void);

/* ---- pending notification mails ---------------------------------------------------------- */

/**
 * A mail about a new message that is not sent yet, as apps/vm_mail.c keeps
 * it in the directory's `vm_mail` table so that a restart does not lose it.
 * The mail's text is not stored: it is made again from the message.
 */
struct pbx_vm_mail {
	unsigned id; /* the queue's id, chosen by the caller; > 0 */
	int64_t msg; /* the voicemail message */
	char mailbox[PBX_EXT_MAX + 1];
	char rcpt[sizeof((struct pbx_user *)0)->email];
	unsigned msgnum; /* VM_MSGNUM when it was queued */
	unsigned tries;  /* failed attempts so far */
	int64_t next;    /* unix seconds of the next attempt */
	char error[512]; /* the last failure, "" before any */
};

/** Insert @p m, or replace the row of the same id. 0 or EIO (logged). */
int pbx_vm_mail_save(const struct pbx_vm_mail *m);
/** Delete row @p id; no such row is not an error. 0 or EIO (logged). */
int pbx_vm_mail_del(unsigned id);

typedef int pbx_vm_mail_each_h(const struct pbx_vm_mail *m, void *arg); /* non-zero stops */
/**
 * Every saved mail, by id. The rows are read before the first call, so
 * @p fn may save and delete (and query messages) meanwhile. 0, ENOMEM or EIO.
 */
int pbx_vm_mail_each(pbx_vm_mail_each_h *fn, void *arg);

/* ---- watchers ------------------------------------------------------------------------------ */

/**
 * Called after any change of a mailbox's messages (deposit, delete, move,
 * read, copy) with its new counts, and by pbx_vm_changed(). At most 8.
 */
typedef void pbx_vm_changed_h(const char *mailbox, const struct pbx_vm_counts *c);
int pbx_vm_watch(pbx_vm_changed_h *fn);
void pbx_vm_unwatch(pbx_vm_changed_h *fn);
/** Run the change watchers for @p mailbox (a user added, a restart): MWI goes out. */
void pbx_vm_changed(const char *mailbox);

/**
 * Called after a new message is deposited (not after copy or move): mail
 * notification hooks here. @p m is valid during the call only. At most 4.
 */
typedef void pbx_vm_deposited_h(const struct pbx_vm_msg *m);
int pbx_vm_watch_deposit(pbx_vm_deposited_h *fn);
void pbx_vm_unwatch_deposit(pbx_vm_deposited_h *fn);

#endif
