/**
 * @file vm_mail.h  Private to apps/vm_mail.c: templates and MIME building the unit tests see
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The mail notification of voicemail is one module (vm_mail.c). What it
 * builds (the subject and body from their templates, the MIME message)
 * is pure text work, declared here so that tests/unit/test_vm_mail.c can
 * check it without a mail server. Safe on any thread: no shared state.
 */
#ifndef VM_MAIL_H
#define VM_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pbx/buf.h"

/* Asterisk's voicemail.conf variables, each already made one clean line of text. */
struct vm_mail_vars {
	const char *name;    /* VM_NAME: the user's name (the mailbox when unnamed) */
	const char *mailbox; /* VM_MAILBOX */
	const char
		*callerid;   /* VM_CALLERID: "Name <num>", or one of them, or "an unknown caller" */
	const char *cidnum;  /* VM_CIDNUM */
	const char *cidname; /* VM_CIDNAME */
	const char *dur;     /* VM_DUR: "M:SS" */
	const char *date;    /* VM_DATE */
	const char *msgnum;  /* VM_MSGNUM */
};

/**
 * Fill the text of @p v's fields from a message: VM_CALLERID as Asterisk
 * merges it, VM_DUR as M:SS, VM_DATE as Asterisk's default date format
 * (local time). Caller names come from the network: control characters
 * become blanks and bytes that are not UTF-8 become '?', so no value can
 * start a header or a MIME part. @p store holds the texts.
 */
struct vm_mail_store {
	char name[96], mailbox[40], callerid[180], cidnum[72], cidname[96], dur[16], date[64],
		msgnum[24];
};
void vm_mail_vars_fill(struct vm_mail_vars *v, struct vm_mail_store *store, const char *user_name,
		       const char *mailbox, const char *cid_num, const char *cid_name, int64_t time,
		       unsigned duration_ms, unsigned msgnum);

/** Copy @p in to @p out (size > 0) as one line: controls blanked, bad UTF-8 as '?'. */
void vm_mail_clean(char *out, size_t size, const char *in);

/**
 * Append @p tmpl with ${VM_...} replaced by @p v's values. Unknown
 * variables and a lone '$' are kept as written, so a typo shows in the
 * mail. 0 or ENOMEM.
 */
int vm_mail_expand(struct pbx_buf *out, const char *tmpl, const struct vm_mail_vars *v);

/** What one mail is made of. Strings are UTF-8; the builder encodes what needs it. */
struct vm_mail_parts {
	const char *from;     /* header value: "PBX <pbx@example.com>" */
	const char *to;       /* the recipient's address */
	const char *subject;  /* expanded template: made one line, RFC 2047 words when not ASCII */
	const char *body;     /* expanded template: lines end in CRLF, quoted-printable */
	const char *date;     /* RFC 5322 date, see vm_mail_date() */
	const char *msgid;    /* "<...@host>" */
	const char *boundary; /* from vm_mail_boundary() */
	const char *attach_name;     /* "msg12.wav"; NULL: no attachment */
	const unsigned char *attach; /* the file's bytes */
	size_t attach_len;
};

/**
 * Append the whole message (headers, multipart/mixed with a text/plain
 * part and an audio/wav part in base64) to @p out, CRLF line endings.
 * 0 or ENOMEM.
 */
int vm_mail_build(struct pbx_buf *out, const struct vm_mail_parts *p);

/** An RFC 5322 date of unix time @p t in local time: "Tue, 03 Feb 2026 10:00:00 +0100". */
void vm_mail_date(char *out, size_t size, int64_t t);

/**
 * A multipart boundary from @p seed bytes: "=_pbx_" and hex. Neither
 * quoted-printable nor base64 can contain "=_", so no part can hold it.
 */
void vm_mail_boundary(char *out, size_t size, const unsigned char *seed, size_t n);

/** The address inside "Name <addr>", or the whole text when there are no brackets. */
void vm_mail_addr(char *out, size_t size, const char *from);

/**
 * Seconds to wait after the @p tries-th failure (from 1): @p first,
 * doubled for each failure after the first, at most an hour.
 */
unsigned vm_mail_backoff(unsigned first, unsigned tries);

#endif
