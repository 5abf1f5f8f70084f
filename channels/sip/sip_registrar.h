/**
 * @file sip_registrar.h  REGISTER, the location service, persistence, qualify
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SIP_REGISTRAR_H
#define SIP_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip_timer.h"
#include "sip_transport.h"

struct pbx_user;

struct sip_stack;
struct sip_registrar;
struct sip_ctsx;

enum sip_contact_status { SIP_CONTACT_UNKNOWN, SIP_CONTACT_OK, SIP_CONTACT_UNREACHABLE };

/** One registered contact of an extension. */
struct sip_binding {
	struct sip_binding *next; /* in its AOR, oldest first */
	struct sip_aor *aor;
	char contact[512];   /* the Contact URI, without < > */
	struct sip_peer src; /* where it registered from: requests go there */
	char call_id[256];
	uint32_t cseq;
	int64_t expires;    /* unix seconds */
	int64_t registered; /* unix seconds of the last refresh */
	char user_agent[128];
	char instance[128];
	enum sip_contact_status status;
	int rtt_ms;            /* last qualify round trip, -1 when none */
	uint64_t qualify_sent; /* uv ms, while an OPTIONS is out */
	struct sip_ctsx *qualify_tsx;
	struct sip_timer expiry, qualify;
};

struct sip_aor {
	struct sip_aor *hnext;
	char ext[33];
	struct sip_binding *bindings;
	unsigned n;
};

int sip_registrar_alloc(struct sip_registrar **rp, struct sip_stack *s);
void sip_registrar_free(struct sip_registrar *r);

/** The registered contacts of @p ext, oldest first; NULL when none. */
const struct sip_aor *sip_registrar_find(struct sip_registrar *r, const char *ext);

typedef int sip_aor_each_h(const struct sip_aor *aor, void *arg); /* non-zero stops */
/** Every AOR with at least one binding, in no particular order. */
void sip_registrar_each(struct sip_registrar *r, sip_aor_each_h *fn, void *arg);
unsigned sip_registrar_count(struct sip_registrar *r); /* bindings */

/**
 * Called after a REGISTER has been answered 200, once for each binding it
 * added or refreshed (unsolicited MWI hooks here), with the user as the
 * REGISTER found it, so the watcher needs no lookup of its own on this hot
 * path. @p u and @p b are valid during the call only.
 */
typedef void sip_binding_h(struct sip_stack *s, const struct pbx_user *u,
			   const struct sip_binding *b);
#define SIP_REGISTRAR_WATCHERS 4
/** Hear every (re)registration of a contact after its 200. 0 or ENOSPC. */
int sip_registrar_watch(struct sip_registrar *r, sip_binding_h *fn);
void sip_registrar_unwatch(struct sip_registrar *r, sip_binding_h *fn);

struct sip_msg;
struct sip_ctsx;
/**
 * A request outside any dialog to registered contact @p b, over the
 * transport it registered from: fresh branch, Call-ID and From tag, CSeq 1,
 * no Contact. @p extra (header lines with CRLF), @p body_type and @p body
 * (@p len bytes) may be NULL/0. The client transaction goes in *@p tp (may
 * be NULL when nobody keeps it) and answers to @p cb. 0 or errno.
 */
int sip_binding_request(struct sip_stack *s, const struct sip_binding *b, const char *method,
			const char *from, const char *to, const char *extra, const char *body_type,
			const void *body, size_t len,
			void (*cb)(void *arg, const struct sip_msg *resp, uint16_t code), void *arg,
			struct sip_ctsx **tp);

/** Drop every binding of @p ext (user deleted or disabled). */
void sip_registrar_forget(struct sip_registrar *r, const char *ext);

const char *sip_contact_status_name(enum sip_contact_status st);

#endif
