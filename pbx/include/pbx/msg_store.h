/**
 * @file msg_store.h  Instant messages kept for users who are offline, in the directory (SQLite)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A SIP MESSAGE (RFC 3428) that no device of its target takes is kept
 * here until the user registers again, and delivered oldest first; each is
 * removed only when a device took it (pbx_msg_store_del), or counted as a
 * failed try with the time of the next one (pbx_msg_store_failed). A
 * restart loses nothing: the rows are the queue.
 *
 * The `messaging` config section sets how many a user may have waiting
 * (`max_stored`, ENOSPC beyond) and how long they are kept
 * (`store_days`); the `messaging` module expires old ones at start and
 * hourly.
 *
 * Signalling thread only. Every statement is prepared; nothing is spliced
 * into SQL, and a body is a blob, so any bytes come back as they went in.
 */
#ifndef PBX_MSG_STORE_H
#define PBX_MSG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define PBX_MSG_TYPE_MAX   127
#define PBX_MSG_SENDER_MAX 255
/*
 * The largest body kept. Conceptually sip.max_message_size; the SIP side
 * that will enforce that does not exist yet, so the store caps a body at
 * the largest a UDP datagram could carry.
 */
#define PBX_MSG_BODY_MAX 65535

struct pbx_msg {
	int64_t id;       /* order of arrival */
	char target[33];  /* extension */
	char sender[256]; /* extension or sip: URI */
	int64_t created;  /* unix seconds */
	char type[PBX_MSG_TYPE_MAX + 1];
	unsigned attempts; /* failed deliveries so far */
	int64_t next_try;  /* unix seconds; 0: at once */
	size_t len;
	uint8_t *body; /* len bytes (not NUL-terminated), owned by the struct: pbx_msg_clear */
};

/** The `messaging` config section, or its defaults when there is no config (unit tests). */
struct pbx_msg_cfg {
	int store_days;     /* 0: keep until delivered */
	int max_stored;     /* per user */
	int retry_interval; /* seconds before the first retry of a failed delivery */
};
const struct pbx_msg_cfg *pbx_msg_cfg(void);

/** Free @p m's body and zero it; safe on a zeroed struct and twice. */
void pbx_msg_clear(struct pbx_msg *m);

/**
 * Keep a message for @p target (an extension) from @p sender (an extension
 * or a sip:/sips: URI) of content type @p type ("text/plain"; parameters
 * allowed), with @p len bytes of @p body, copied. The row's id goes to *id
 * (may be NULL). 0, EINVAL (a bad field, or a body over PBX_MSG_BODY_MAX),
 * ENOSPC (@p target has messaging.max_stored waiting), EIO.
 */
int pbx_msg_store_add(const char *target, const char *sender, const char *type, const void *body,
		      size_t len, int64_t *id);

/**
 * Call @p cb with each message of @p target (NULL: everyone's), oldest
 * first, until it returns non-zero. The struct passed (body included) is
 * valid during the call only; the callback may use the store (delete the
 * message it was given, for one). 0 or EIO (an invalid @p target has no
 * messages: 0).
 */
int pbx_msg_store_each(const char *target, int (*cb)(const struct pbx_msg *m, void *arg),
		       void *arg);

/** Remove message @p id (delivered). 0, ENOENT, EIO. */
int pbx_msg_store_del(int64_t id);

/** A delivery of @p id failed: attempts + 1, and the next try at @p next_try. 0, ENOENT, EIO. */
int pbx_msg_store_failed(int64_t id, int64_t next_try);

/** Remove every message of @p target; how many to *n (may be NULL). 0 or EIO. */
int pbx_msg_store_purge(const char *target, unsigned *n);

/** Remove the messages created before @p before (unix seconds); how many to *n (may be NULL). 0 or EIO. */
int pbx_msg_store_expire(int64_t before, unsigned *n);

/**
 * How many messages wait for @p target, to *n. 0 or EIO. From memory
 * (read again after any change): cheap enough for every REGISTER.
 */
int pbx_msg_store_count(const char *target, unsigned *n);

/** Call @p cb for each user with messages waiting, and how many, until it returns non-zero. */
int pbx_msg_store_each_target(int (*cb)(const char *target, unsigned n, void *arg), void *arg);

/**
 * Why @p target, @p sender or @p type cannot be stored (NULL: they can);
 * *field names the one at fault: "target", "sender" or "type". The store
 * refuses with EINVAL what this refuses.
 */
const char *pbx_msg_check(const char *target, const char *sender, const char *type,
			  const char **field);

#endif
