/**
 * @file sip_dialog.h  SIP dialogs (RFC 3261 12): state, matching, in-dialog requests
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A dialog is the peer-to-peer relationship one INVITE sets up: Call-ID,
 * the two tags, both CSeq counters, the remote target and the route set.
 * This layer keeps that state, finds the dialog a request belongs to, and
 * writes the requests sent inside it (BYE, re-INVITE, ACK of a 2xx, INFO,
 * UPDATE) with the right Request-URI and Route headers. It knows nothing of
 * calls, media or the channel core; the session code above owns the
 * dialogs and says when to send what.
 *
 * A dialog embeds in its owner's object; the table only links it, so
 * unlinking (or sip_dialog_reset) is all the owner does before freeing.
 */
#ifndef SIP_DIALOG_H
#define SIP_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pbx/buf.h"
#include "sip_msg.h"
#include "sip_transport.h"

/* Route set entries kept; a real call crosses a handful of proxies. A
 * longer Record-Route is refused rather than cut, since a cut route set
 * sends requests to the wrong hop. */
#define SIP_DIALOG_ROUTES_MAX 16

struct sip_dialog_table;
struct sip_dialog_usage; /* what runs on a dialog: sip_stack.h */

struct sip_dialog {
	struct sip_dialog *hnext;       /* chain in the table */
	struct sip_dialog_table *table; /* NULL while not linked */
	uint64_t hash;

	char *call_id;
	char *local_tag;
	char *remote_tag;    /* "" until a UAC dialog learns it from a response */
	char *local_uri;     /* name-addr written in From of our requests, without tag */
	char *remote_uri;    /* name-addr written in To of our requests, without tag */
	char *remote_target; /* Request-URI (the remote Contact) */
	char *route[SIP_DIALOG_ROUTES_MAX]; /* name-addr values, in the order to send */
	unsigned nroute;
	uint32_t local_cseq;  /* last CSeq we used */
	uint32_t remote_cseq; /* last CSeq received, valid when remote_cseq_set */
	bool remote_cseq_set;
	bool uac;             /* we sent the INVITE (and own the Call-ID) */
	bool confirmed;       /* a 2xx was sent or received */
	bool secure;          /* sips Request-URI over TLS (RFC 3261 12.1.1) */
	struct sip_peer peer; /* where requests go: the phone's source, or the next hop */
	/* The usage that owns the dialog (an INVITE session, a subscription):
	 * the stack hands it the requests received in the dialog. Set by the
	 * owner before linking; sip_dialog_reset clears it. */
	const struct sip_dialog_usage *usage;
};

/** Zero a dialog before first use (no allocation). */
void sip_dialog_init(struct sip_dialog *d);
/** Free what the dialog holds and unlink it; it is then as after sip_dialog_init. */
void sip_dialog_reset(struct sip_dialog *d);

/**
 * UAS side (RFC 3261 12.1.1): the dialog that our response to INVITE
 * @p req (received from @p src) creates. Remote tag from From, local tag
 * @p local_tag, remote target from Contact, route set from Record-Route as
 * received, remote CSeq from the request. Returns 0, EINVAL (no usable
 * Contact, From or To, or more than SIP_DIALOG_ROUTES_MAX routes) or ENOMEM.
 */
int sip_dialog_uas_init(struct sip_dialog *d, const struct sip_msg *req, const struct sip_peer *src,
			const char *local_tag);

/**
 * UAC side, before any response: our INVITE goes to @p target with From
 * @p local_uri;tag=@p local_tag and To @p remote_uri (name-addr forms, as
 * written), Call-ID @p call_id, first CSeq @p cseq. Returns 0 or ENOMEM.
 */
int sip_dialog_uac_init(struct sip_dialog *d, const char *call_id, const char *local_tag,
			const char *local_uri, const char *remote_uri, const char *target,
			uint32_t cseq, const struct sip_peer *peer);

/**
 * A response to our INVITE that creates or confirms the dialog (101-299
 * with a To tag; RFC 3261 12.1.2, 13.2.2.4): takes the remote tag (the
 * first time), the remote target from Contact and the route set from
 * Record-Route in reverse. A 2xx confirms the dialog and its route set is
 * final; later provisionals do not change it. Returns 0, EINVAL (no To tag,
 * bad Record-Route), EEXIST (another tag than the one already learned: a
 * second dialog the caller must handle apart) or ENOMEM.
 */
int sip_dialog_uac_response(struct sip_dialog *d, const struct sip_msg *resp);

/**
 * A confirmed UAC dialog rebuilt from a 2xx alone (for a 2xx that arrives
 * when its INVITE is no longer ours: ACK it, then BYE it). Returns 0,
 * EINVAL or ENOMEM.
 */
int sip_dialog_from_2xx(struct sip_dialog *d, const struct sip_msg *resp,
			const struct sip_peer *peer);

/**
 * Check a request received in the dialog (RFC 3261 12.2.2) and take its
 * CSeq. ACK and CANCEL are not checked. Returns 0, or EPROTO when the CSeq
 * is lower than the last one (answer 500).
 */
int sip_dialog_request_check(struct sip_dialog *d, const struct sip_msg *req);

/**
 * A target refresh request or its 2xx (re-INVITE, UPDATE): the remote
 * target becomes its Contact. Returns 0, ENOENT (no Contact: unchanged),
 * EINVAL or ENOMEM.
 */
int sip_dialog_target_refresh(struct sip_dialog *d, const struct sip_msg *m);

/** A request to send in the dialog. */
struct sip_dialog_req {
	const char *method; /* "BYE", "INVITE", "ACK", ... */
	/* 0: the next local CSeq (the dialog's counter goes up). An ACK
	 * takes the INVITE's number (RFC 3261 13.2.2.4). */
	uint32_t cseq;
	const char *local;   /* our "host:port" for Via */
	const char *branch;  /* Via branch, with the magic cookie */
	const char *contact; /* our Contact URI; NULL: no Contact */
	const char *extra;   /* complete header lines, each with CRLF; may be NULL */
	const char *body_type;
	const char *body; /* NULL: no body */
	size_t body_len; /* 0: strlen(body); else the body's bytes (MESSAGE bodies may hold NULs) */
};

/**
 * Write request @p r of dialog @p d into @p out (RFC 3261 12.2.1.1): From
 * local, To remote, their tags, Call-ID, CSeq, Max-Forwards, and
 * Request-URI and Route by the route set: the remote target and every
 * route when the first route is a loose router (;lr), else that route's
 * URI as Request-URI and the remote target as the last Route (strict
 * routing). *cseq (may be NULL) gets the CSeq used. Returns 0, EINVAL or
 * ENOMEM.
 */
int sip_dialog_build(struct pbx_buf *out, struct sip_dialog *d, const struct sip_dialog_req *r,
		     uint32_t *cseq);

/**
 * The URI of the next hop: the first route when there is a route set, else
 * the remote target. Returns 0 and a copy in @p buf, ENOENT or ENOSPC.
 */
int sip_dialog_next_hop(const struct sip_dialog *d, char *buf, size_t len);

/**
 * The CANCEL of INVITE @p invite (complete text we sent; RFC 3261 9.1):
 * the same Request-URI, top Via (branch included), Route, From, To,
 * Call-ID and CSeq number, method CANCEL, then @p extra (header lines
 * with CRLF, e.g. Reason; may be NULL). Returns 0, EINVAL or ENOMEM.
 */
int sip_dialog_build_cancel(struct pbx_buf *out, const char *invite, size_t len, const char *extra);

/** A dialog as saved for a restart (sip_dialog_restore); every string non-NULL. */
struct sip_dialog_saved {
	const char *call_id, *local_tag, *remote_tag;
	const char *local_uri, *remote_uri, *remote_target;
	const char *routes; /* route set values, one per line ("\n"), in the order to send */
	uint32_t local_cseq, remote_cseq;
	bool uac;
	struct sip_peer peer;
};

/**
 * The route set of @p d as sip_dialog_saved.routes wants it, into @p buf.
 * 0 or ENOSPC.
 */
int sip_dialog_routes_text(const struct sip_dialog *d, char *buf, size_t len);
/**
 * A confirmed dialog rebuilt from saved state (after a restart). Returns 0,
 * EINVAL (no Call-ID, tag or target, a bad route) or ENOMEM; on error @p d
 * is as after sip_dialog_init.
 */
int sip_dialog_restore(struct sip_dialog *d, const struct sip_dialog_saved *sv);

/** A dialog table: dialogs hashed by Call-ID and matched by tags. */
int sip_dialog_table_alloc(struct sip_dialog_table **tp);
/** Unlinks every dialog (their owners still own them). NULL is fine. */
void sip_dialog_table_free(struct sip_dialog_table *t);
/** Link @p d (call_id and local_tag set) into @p t. 0, EEXIST (linked already) or ENOMEM. */
int sip_dialog_link(struct sip_dialog_table *t, struct sip_dialog *d);
void sip_dialog_unlink(struct sip_dialog *d);
/**
 * The dialog of received request @p req: same Call-ID, local tag = To tag,
 * remote tag = From tag (a UAC dialog that has no remote tag yet matches
 * any). NULL when none.
 */
struct sip_dialog *sip_dialog_find(struct sip_dialog_table *t, const struct sip_msg *req);
/** By Call-ID and tags as slices. */
struct sip_dialog *sip_dialog_lookup(struct sip_dialog_table *t, struct sip_pl call_id,
				     struct sip_pl local_tag, struct sip_pl remote_tag);
unsigned sip_dialog_count(const struct sip_dialog_table *t);

#endif
