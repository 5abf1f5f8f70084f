/**
 * @file sip_tsx.h  SIP transactions (RFC 3261 section 17, with the RFC 6026 INVITE fixes)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The layer between the transport and the TU (dialogs, registrar, ...).
 * Every received message is offered to sip_tsx_recv() first: it absorbs
 * retransmissions, answers them from what was sent last, ACKs non-2xx
 * finals of our INVITEs, and delivers responses to the client transaction
 * that sent the request. Anything it does not consume is the TU's.
 *
 * Transactions are owned by the layer and free themselves when their state
 * machine ends. Time comes from the struct sip_timers the layer is given,
 * so the whole layer runs under a simulated clock in the tests. Sending
 * goes through ops->send; the layer never touches a socket.
 *
 * Not thread-safe: the signalling thread owns it, like the rest of SIP.
 */
#ifndef SIP_TSX_H
#define SIP_TSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip_msg.h"
#include "sip_timer.h"
#include "sip_transport.h"

/* RFC 3261 17.1.1.1 and table 4, in ms. */
#define SIP_T1 500u /* RTT estimate */
#define SIP_T2 \
	4000u /* longest retransmission interval of non-INVITE requests and INVITE responses */
#define SIP_T4         5000u          /* longest a message stays in the network */
#define SIP_TIMER_64T1 (64u * SIP_T1) /* Timers B, F, H, J (UDP), L, M */
#define SIP_TIMER_D    32000u         /* Timer D over UDP: at least 32 s */

/* The magic cookie of RFC 3261 branches (8.1.1.7). */
#define SIP_BRANCH_COOKIE "z9hG4bK"
/* sip_tsx_branch(): 7 cookie characters, 24 hex digits (96 bits), NUL. */
#define SIP_TSX_BRANCH_SIZE 32u

struct sip_tsx_layer;
struct sip_stsx;
struct sip_ctsx;

struct sip_tsx_ops {
	/**
	 * Send bytes to a peer (the transport). 0 or errno; an error on a
	 * client transaction's retransmission ends it with a 503 callback.
	 */
	int (*send)(void *arg, const struct sip_peer *dst, const char *buf, size_t len);
	/**
	 * An INVITE server transaction that sent a 300-699 got no ACK before
	 * Timer H. @p tu is what sip_stsx_set_tu() stored. Optional (NULL).
	 */
	void (*stsx_timeout)(void *arg, void *tu);
};

/**
 * A layer using @p timers (borrowed: it must outlive the layer) and @p ops
 * (borrowed, usually static const). Returns 0, ENOMEM or EIO (no
 * randomness for the hash key).
 */
int sip_tsx_layer_alloc(struct sip_tsx_layer **lp, struct sip_timers *timers,
			const struct sip_tsx_ops *ops, void *arg);
/** Frees every transaction and cancels its timers, without a callback. NULL is fine. */
void sip_tsx_layer_free(struct sip_tsx_layer *l);

/**
 * Offer a received message to the transactions; @p src is where it came
 * from. Returns true when a transaction consumed it:
 *  - a retransmitted request (answered with the last response sent, if any;
 *    a retransmitted CANCEL matches its own CANCEL transaction);
 *  - an ACK for a non-2xx final response we sent (RFC 3261 17.2.1);
 *  - a response matched to a client transaction (RFC 3261 17.1.3), which
 *    delivered it to its callback when that is due, or absorbed it.
 * False means the TU handles it: a new request (create its transaction with
 * sip_stsx_alloc), an ACK for a 2xx, a response matching no transaction (a
 * stray 2xx retransmission after Timer M), and a 2xx for a client INVITE
 * whose TU called sip_ctsx_abandon() (the core must ACK and BYE it).
 */
bool sip_tsx_recv(struct sip_tsx_layer *l, const struct sip_msg *m, const struct sip_peer *src);

/**
 * Server transaction for a new request @p req (any method but ACK) received
 * from @p src. The layer copies what it needs; @p req may go away after.
 * The transaction stays owned by the layer: the TU may use the pointer
 * until it sends a final response through it. The TU must send a final
 * response eventually (a transaction without one lives until the layer is
 * freed). Responses go to @p src (the transport has already applied
 * received/rport). Returns 0, EINVAL (ACK, no usable top Via), EEXIST
 * (sip_tsx_recv would have matched it), EMSGSIZE (transaction key longer
 * than 2 KiB) or ENOMEM.
 *
 * Requests whose branch lacks the magic cookie (RFC 2543 clients) are
 * matched as RFC 3261 17.2.3 describes: Request-URI, From tag, Call-ID,
 * CSeq number, top Via and To tag (an ACK's To tag is not compared: the
 * transaction's state tells a non-2xx ACK from a 2xx one).
 */
int sip_stsx_alloc(struct sip_stsx **tp, struct sip_tsx_layer *l, const struct sip_msg *req,
		   const struct sip_peer *src);
/** Store the TU's context: given back by sip_stsx_tu() and ops->stsx_timeout. */
void sip_stsx_set_tu(struct sip_stsx *t, void *tu);
void *sip_stsx_tu(const struct sip_stsx *t);
/** A final response was sent through @p t (only meaningful for an INVITE in Accepted/Completed). */
bool sip_stsx_final_sent(const struct sip_stsx *t);

/**
 * Send a response (the complete message text, sent to the request's
 * source).
 *  - 1xx: stays Proceeding; kept to answer retransmitted requests.
 *  - non-INVITE final: Completed; Timer J (64*T1 over UDP) answers
 *    retransmissions with it; over reliable transports the transaction ends
 *    at once.
 *  - INVITE 300-699: Completed; Timer G retransmits (UDP), Timer H (64*T1)
 *    gives up (ops->stsx_timeout); the ACK moves it to Confirmed, Timer I
 *    (T4 over UDP, 0 reliable) ends it.
 *  - INVITE 2xx: RFC 6026 Accepted; Timer L (64*T1) absorbs retransmitted
 *    INVITEs and lets ACKs through to the TU. The TU retransmits the 2xx
 *    itself, through the transport.
 * Returns EINVAL when @p code is not 100..699, @p len is 0 or a final was
 * already sent: then nothing happened. Otherwise returns what ops->send
 * returned, and the state machine has moved on either way; after a final
 * @p t is no longer the TU's to use.
 */
int sip_stsx_reply(struct sip_stsx *t, uint16_t code, const char *buf, size_t len);
/**
 * End a non-INVITE server transaction whose final response is sent, now
 * instead of after Timer J: the answer was stateless (RFC 3261 8.2.7), and
 * a retransmitted request is a new one, answered again. A challenge is the
 * case: it costs no state for 32 s. Does nothing to an INVITE's
 * transaction or before a final response. Over a reliable transport the
 * transaction ends with its final response: @p t is gone, do not call.
 */
void sip_stsx_forget(struct sip_stsx *t);
/**
 * The INVITE server transaction that CANCEL request @p cancel matches (RFC
 * 3261 9.2: the same key as the INVITE's, method INVITE), or NULL. The
 * pointer is valid under the same rules as sip_stsx_alloc's: check
 * sip_stsx_final_sent() before replying through it.
 */
struct sip_stsx *sip_stsx_find_invite(struct sip_tsx_layer *l, const struct sip_msg *cancel);

/**
 * Response callback of a client transaction: every response (provisional
 * and final; for INVITE also 2xx retransmissions and 2xx from other forks
 * while in Accepted, RFC 6026 Timer M), or @p resp NULL with @p code 408
 * (Timer B/F) or 503 (a retransmission could not be sent). After a final
 * (or NULL) it is not called again, except for the 2xx of an INVITE. It
 * may call sip_ctsx_abandon() and start other transactions, but must not
 * free the layer.
 */
typedef void sip_ctsx_resp_h(void *arg, const struct sip_msg *resp, uint16_t code);

/**
 * Send request @p buf (complete text, not ACK) to @p dst as a new client
 * transaction. Its top Via must carry a branch with the magic cookie
 * (sip_tsx_branch()); the layer keeps a copy and matches responses on that
 * branch and the CSeq method. INVITE: Timers A/B; others: Timers E/F;
 * reliable transports: no retransmission. For an INVITE that gets 300-699,
 * the layer sends the ACK itself (RFC 3261 17.1.1.3) and resends it for
 * every retransmitted final until Timer D (32 s UDP, 0 reliable).
 *
 * Returns 0 with *tp set (valid until the final callback, or
 * sip_ctsx_abandon), EINVAL (unparsable, ACK, no branch or a branch without
 * the cookie), EEXIST (a transaction with this branch and method exists),
 * EMSGSIZE, ENOMEM, or the error of the first send: in every error case no
 * transaction exists and @p cb is never called.
 */
int sip_ctsx_alloc(struct sip_ctsx **tp, struct sip_tsx_layer *l, const char *buf, size_t len,
		   const struct sip_peer *dst, sip_ctsx_resp_h *cb, void *arg);
/**
 * The TU loses interest: no more callbacks; the transaction finishes its
 * state machine silently (a non-2xx final of an INVITE is still ACKed). An
 * INVITE still in Proceeding ends 64*T1 later if no final comes: the TU
 * is expected to have sent CANCEL (RFC 3261 9.1).
 */
void sip_ctsx_abandon(struct sip_ctsx *t);
/** The branch of the request, NUL-terminated. */
const char *sip_ctsx_branch(const struct sip_ctsx *t);

/**
 * Write a fresh branch into @p buf: "z9hG4bK" and at least 64 random bits
 * in hex (96 when @p len >= SIP_TSX_BRANCH_SIZE). @p len must be at least
 * 24 (cookie, 16 hex digits, NUL).
 */
void sip_tsx_branch(char *buf, size_t len);

/** Live transactions, server and client, for the console and the tests. */
unsigned sip_tsx_count(const struct sip_tsx_layer *l);

struct sip_tsx_stats {
	size_t server, client; /* live now */
	uint64_t absorbed;     /* requests a server transaction took: retransmissions, ACKs */
};
void sip_tsx_stats(const struct sip_tsx_layer *l, struct sip_tsx_stats *st);

#endif
