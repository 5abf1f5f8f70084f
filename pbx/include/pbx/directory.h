/**
 * @file directory.h  The user directory (SQLite behind a narrow interface)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Signalling thread only. Every statement is prepared; nothing is spliced
 * into SQL. Passwords are never stored: only HA1 = H(ext:realm:password)
 * for MD5 and SHA-256 (RFC 8760).
 */
#ifndef PBX_DIRECTORY_H
#define PBX_DIRECTORY_H

#include <stdbool.h>
#include <stdint.h>

struct pbx_dir;

#define PBX_EXT_MAX 32

struct pbx_user {
	char ext[PBX_EXT_MAX + 1];
	char name[65];
	char realm[128];
	char ha1_md5[33];    /* hex, "" when no password is set */
	char ha1_sha256[65]; /* hex */
	char pin[17];
	char email[129];
	char context[65];
	char message_context[65]; /* where its MESSAGEs enter the dialplan; "": "messages" */
	int srtp;                 /* enum pbx_srtp_policy */
	char auth
		[16]; /* digest algorithms offered: "md5", "sha-256,md5"...; "" = sip.auth_algorithms */
	bool enabled;
	bool mwi_unsolicited; /* NOTIFY message-summary without a SUBSCRIBE (`user set EXT mwi`) */
	int vm_max_messages;  /* this mailbox's limit; 0: voicemail.max_messages */
	int64_t created, updated; /* unix seconds */
};

int pbx_dir_open(struct pbx_dir **dp, const char *path);
void pbx_dir_close(struct pbx_dir *d);

/** Validation shared by the console and the SIP side; NULL when fine, else why. */
const char *pbx_user_check_ext(const char *ext);
const char *pbx_user_check_password(const char *pw);
const char *pbx_user_check_pin(const char *pin);
const char *pbx_user_check_email(const char *email);
const char *pbx_user_check_context(const char *ctx);
const char *pbx_user_check_name(const char *name);
/**
 * Digest algorithms for one user: "md5", "sha-256", "sha-256,md5",
 * "md5,sha-256" (in the order offered), or "default"/"" for the
 * configured ones. The canonical form goes to @p canon ("" for default).
 */
const char *pbx_user_check_auth(const char *value, char *canon, size_t len);

/** Fill both HA1s of @p u from @p password and @p realm. */
void pbx_user_set_ha1(struct pbx_user *u, const char *realm, const char *password);

/**
 * Called after a user is deleted or disabled, so that drivers drop what
 * they hold for it (registrations, calls). At most 8 watchers.
 */
typedef void pbx_user_gone_h(const char *ext);
int pbx_user_watch(pbx_user_gone_h *fn);
void pbx_user_unwatch(pbx_user_gone_h *fn);

/** Insert. EEXIST when the extension is taken. */
int pbx_user_add(struct pbx_dir *d, const struct pbx_user *u);
/** Replace every field of an existing user (by ext). ENOENT if none. */
int pbx_user_update(struct pbx_dir *d, const struct pbx_user *u);
int pbx_user_del(struct pbx_dir *d, const char *ext);
/** 0 and *u filled, ENOENT, or EIO. */
int pbx_user_find(struct pbx_dir *d, const char *ext, struct pbx_user *u);

typedef int pbx_user_each_h(const struct pbx_user *u, void *arg); /* non-zero stops */
/** Users ordered by extension; @p prefix filters ("" for all). */
int pbx_user_each(struct pbx_dir *d, const char *prefix, pbx_user_each_h *fn, void *arg);
/** Count of users whose HA1s were made for another realm than @p realm. */
int pbx_user_count_other_realm(struct pbx_dir *d, const char *realm);

/**
 * Group many writes into one transaction (one commit instead of one per
 * statement). Not nestable. 0 or EIO.
 */
int pbx_dir_begin(struct pbx_dir *d);
int pbx_dir_commit(struct pbx_dir *d);

/** A registrar binding as persisted, so a restart keeps registrations. */
struct pbx_binding {
	char ext[PBX_EXT_MAX + 1];
	char contact[512]; /* the Contact URI as registered */
	char source[80];   /* "udp:1.2.3.4:5060": where it registered from */
	char call_id[256];
	uint32_t cseq;
	int64_t expires;    /* unix seconds */
	int64_t registered; /* unix seconds of the last refresh */
	char user_agent[128];
	char instance[128]; /* +sip.instance, "" when absent */
};

/** Insert or replace the binding (ext, contact). */
int pbx_binding_save(struct pbx_dir *d, const struct pbx_binding *b);
/** Delete one binding, or every binding of @p ext when @p contact is NULL. */
int pbx_binding_del(struct pbx_dir *d, const char *ext, const char *contact);
typedef int pbx_binding_each_h(const struct pbx_binding *b, void *arg);
int pbx_binding_each(struct pbx_dir *d, pbx_binding_each_h *fn, void *arg);

/**
 * A SIP subscription (RFC 6665) as persisted, so a restarted PBX still
 * NOTIFYs the phones that subscribed. Keyed by (call_id, local_tag); rows
 * go with their user.
 */
struct pbx_subscription {
	char user[PBX_EXT_MAX + 1];     /* the subscriber */
	char event[64];                 /* the package: "message-summary" */
	char event_id[64];              /* the Event id parameter, "" when none */
	char resource[PBX_EXT_MAX + 1]; /* what is watched */
	char call_id[256];
	char local_tag[64];
	char remote_tag[128];
	char local_uri[512];
	char remote_uri[512];
	char remote_target[512];
	char routes[2048]; /* route set, one value per line */
	char source[80];   /* "udp:1.2.3.4:5060": where NOTIFYs go */
	uint32_t local_cseq, remote_cseq;
	int64_t expires; /* unix seconds */
};

/** Insert or replace the subscription (call_id, local_tag). */
int pbx_subscription_save(struct pbx_dir *d, const struct pbx_subscription *sub);
int pbx_subscription_del(struct pbx_dir *d, const char *call_id, const char *local_tag);
typedef int pbx_subscription_each_h(const struct pbx_subscription *sub, void *arg);
/** Every saved subscription of package @p event, oldest expiry first. */
int pbx_subscription_each(struct pbx_dir *d, const char *event, pbx_subscription_each_h *fn,
			  void *arg);

#endif
