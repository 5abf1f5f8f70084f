/**
 * @file sip_stack.h  The SIP driver's shared state and request dispatch
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One stack per PBX: transport, timers, transactions, authentication and
 * the handlers for each method. Layers above (registrar, later chan_sip)
 * register method handlers here and answer through sip_stack_reply.
 */
#ifndef SIP_STACK_H
#define SIP_STACK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pbx/buf.h"
#include "pbx/directory.h"
#include "sip_config.h"
#include "sip_dialog.h"
#include "sip_msg.h"
#include "sip_overload.h"
#include "sip_timer.h"
#include "sip_transport.h"

struct sip_config;
struct sip_stsx;
struct sip_stack;
struct sip_auth;
struct sip_ban;
struct sip_pike;
struct sip_tsx_layer;
struct sip_registrar;
struct sip_subs;

/**
 * A new request (not ACK, not CANCEL) for this method. @p t is its server
 * transaction; the handler must answer it, now or later, through
 * sip_stack_reply.
 */
typedef void sip_method_h(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t);

/**
 * What runs on a dialog (RFC 5057 calls it a dialog usage): an INVITE
 * session, a subscription. The dialog table is the stack's; each usage
 * links its dialogs with d->usage set, and the stack gives it what arrives
 * in them: every request but CANCEL whose To tag names the dialog, with
 * its new server transaction @p t, and every ACK no transaction took (@p t
 * NULL: the ACK of a 2xx, RFC 3261 13.3.1.4). Return true when the usage
 * took the request (it then answers it through @p t); false hands it to
 * the method's handler as if no dialog matched (which answers 481 where
 * that is right). An ACK is never answered and is dropped when not taken.
 */
struct sip_dialog_usage {
	const char *name; /* "session", "subscription": for logs */
	bool (*request)(struct sip_stack *s, struct sip_dialog *d, const struct sip_msg *m,
			const struct sip_peer *src, struct sip_stsx *t);
};

/**
 * A CANCEL (RFC 3261 9.2) whose INVITE server transaction @p inv has not
 * sent a final response yet. @p t is the CANCEL's own transaction. The
 * handler answers the CANCEL on @p t (200) and, when it stops the INVITE,
 * the INVITE on @p inv (487). The stack itself answers 481 when no INVITE
 * matches (or no handler is set) and 200 when the INVITE was answered
 * already, since a CANCEL then has no effect.
 */
typedef void sip_cancel_h(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t, struct sip_stsx *inv);

struct sip_stack {
	const struct sip_config *cfg;
	uv_loop_t *loop;
	struct sip_transport *tp;
	struct sip_timers timers;
	uv_timer_t timer; /* fires at the earliest sip timer */
	struct sip_tsx_layer *tsx;
	struct sip_auth *auth;
	struct sip_ban *ban;
	struct sip_pike *pike; /* flood guard, sip.pike_* */
	struct sip_registrar *reg;
	struct sip_subs *subs;                     /* SUBSCRIBE/NOTIFY (RFC 6665) */
	struct sip_dialog_table *dialogs;          /* every dialog, whatever its usage */
	sip_method_h *handlers[SIP_METHOD__COUNT]; /* by enum sip_method */
	sip_cancel_h *cancel_handler;              /* CANCEL of a pending INVITE */
	struct pbx_buf out;                        /* reused for every message we build */
	char allow[256];                           /* "INVITE, ACK, ..." from the handlers */
	char to_tag[20];                           /* our tag in out-of-dialog responses */
	struct sip_overload overload;              /* queue delay, and when to shed */
	struct {
		uint64_t rx, tx_resp, bad, banned_drops, auth_fail, pike_drops;
		uint64_t shed; /* new requests answered 503 for overload */
	} stats;
};

/** Register the handler for a method (Allow follows the table). */
void sip_stack_set_handler(struct sip_stack *s, enum sip_method method, sip_method_h *h);
/** Set (NULL: clear) the CANCEL handler. */
void sip_stack_set_cancel_handler(struct sip_stack *s, sip_cancel_h *h);

/**
 * Answer @p req on its server transaction @p t (NULL: statelessly). @p extra
 * holds complete header lines. Returns 0 or errno.
 */
int sip_stack_reply(struct sip_stack *s, struct sip_stsx *t, const struct sip_msg *req,
		    const struct sip_peer *src, uint16_t code, const char *reason,
		    const char *extra, const char *body_type, const char *body);

/**
 * End @p t, whose final response was just sent, at once instead of after
 * Timer J: a stateless answer (RFC 3261 8.2.7), so a retransmission of the
 * request is processed again. Only for non-INVITE requests whose
 * processing may run twice: a challenge, a REGISTER. Over TCP and TLS the
 * transaction already ended with the response (Timer J is 0 there) and
 * @p t must not be touched: this checks @p src for that.
 */
void sip_stack_forget(struct sip_stsx *t, const struct sip_peer *src);

/**
 * Digest-authenticate a request that acts for a user. Returns 0 with *u
 * filled when the credentials are good and the user is enabled; otherwise
 * it has already answered (401 challenge, 400, 403) and returns EACCES.
 * Unknown users are challenged exactly like known ones.
 */
int sip_stack_authenticate(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t, struct pbx_user *u);

/** Re-arm the loop timer after sip timers were started outside a stack callback. */
void sip_stack_timers_kick(struct sip_stack *s);

/** Wall-clock seconds (for expiry stored in the database). */
int64_t sip_stack_now_s(void);

/** User part of the To URI into @p buf. 0, EINVAL or ENOSPC. */
int sip_msg_to_user(const struct sip_msg *m, char *buf, size_t len);

/* The stack instance of the running module, for console commands. */
struct sip_stack *sip_stack_get(void);

#endif
