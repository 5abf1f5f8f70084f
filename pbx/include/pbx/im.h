/**
 * @file im.h  Instant messages on their way: the dialplan's view and the delivery router
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A MESSAGE that the dialplan routes is a pbx_im: sender, address, type
 * and body, which the script reads and rewrites as MESSAGE(from|to|body|
 * content_type), plus the variables of its run (there is no channel). The
 * SIP side makes it and keeps a reference while the dialplan runs it
 * (pbx_dialplan_message in chan.h); app.messagesend hands it to the router.
 *
 * The router is the driver that delivers to an address (today the SIP
 * side: every registered device of a local user, or the offline store).
 * It reports one outcome per send, as MESSAGE_SEND_STATUS names it.
 *
 * Signalling thread only.
 */
#ifndef PBX_IM_H
#define PBX_IM_H

#include <stddef.h>

#include "pbx/msg_store.h"
#include "pbx/vars.h"

/* Ordered from worst to best: a run's outcome is the best of its sends. */
enum pbx_im_status {
	PBX_IM_NONE,        /* nothing was sent */
	PBX_IM_INVALID_URI, /* an address no router serves, or no such user */
	PBX_IM_FAILURE,     /* could be neither delivered nor kept */
	PBX_IM_QUEUED,      /* kept for an offline user */
	PBX_IM_SUCCESS,     /* a device took it */
};
/** "SUCCESS", "FAILURE", "QUEUED", "INVALID_URI"; "" for NONE. */
const char *pbx_im_status_name(enum pbx_im_status st);

struct pbx_im {
	unsigned refs;
	unsigned id;                       /* for logs: "Message/7" */
	char from[PBX_MSG_SENDER_MAX + 1]; /* sender's URI: sip:1001@DOMAIN */
	char to[PBX_MSG_SENDER_MAX + 1];   /* as addressed: sip:1002@DOMAIN */
	char type[PBX_MSG_TYPE_MAX + 1];
	char *body; /* len bytes and a NUL after them */
	size_t len;
	struct pbx_var *vars;    /* the run's variables */
	enum pbx_im_status best; /* of the sends made for it so far */
};

/** A message with one reference; NULL when out of memory (or @p len over PBX_MSG_BODY_MAX). */
struct pbx_im *pbx_im_new(const char *from, const char *to, const char *type, const void *body,
			  size_t len);
struct pbx_im *pbx_im_ref(struct pbx_im *im);
void pbx_im_unref(struct pbx_im *im);
/** Replace the body with @p len bytes of @p body. 0, EINVAL (too long) or ENOMEM. */
int pbx_im_set_body(struct pbx_im *im, const void *body, size_t len);

/* ---- delivery -------------------------------------------------------------------- */

/** The one outcome of a send (never called after pbx_im_send_cancel). */
typedef void pbx_im_sent_h(void *arg, enum pbx_im_status st);

struct pbx_im_router {
	/**
	 * Deliver a copy of @p type / @p body from @p from (an extension or a
	 * URI) to @p to (a URI, "SIP/EXT" or an extension). PBX_IM_NONE: the
	 * outcome comes to @p cb later, and *handle cancels that. Anything
	 * else is the outcome already, and @p cb is never called.
	 */
	enum pbx_im_status (*send)(const char *to, const char *from, const char *type,
				   const void *body, size_t len, pbx_im_sent_h *cb, void *arg,
				   void **handle);
	/** The sender goes away: never call its callback. The delivery goes on. */
	void (*cancel)(void *handle);
};
int pbx_im_router_register(const struct pbx_im_router *r);
void pbx_im_router_unregister(const struct pbx_im_router *r);

/**
 * Send @p im's content to @p to from @p from ("" or NULL: im->from)
 * through the router: the router's answer (PBX_IM_NONE: @p cb later).
 */
enum pbx_im_status pbx_im_send(const struct pbx_im *im, const char *to, const char *from,
			       pbx_im_sent_h *cb, void *arg, void **handle);
void pbx_im_send_cancel(void *handle);

#endif
