/**
 * @file transfer.h  Call transfer: blind (to an extension) and attended (two calls joined)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A transfer is asked for by the transferor T, a leg bridged to the
 * transferee E: its phone sent REFER, or a feature code was dialled.
 *
 * Blind: E is taken from whatever owned it (its dialplan, or the Dial
 * that called it) and runs the target extension in the transferor's
 * context, as a new dialplan run. Whatever dials for E there (Dial) tells
 * the transfer how the new call goes: ringing (E hears ringback), answered
 * (the transfer succeeded: T is released) or failed (TRANSFERSTATUS is
 * FAILED on E, which by default goes back to T, bridged as before).
 *
 * Attended: T holds two calls, T1 with E and T2 with C. C takes T1's
 * place in E's bridge (a bridge swap: E's media never stops), and T1 and
 * T2 are released. While C still rings (T2 not answered), E hears the
 * ringing of a new call to T2's extension instead (semi-attended).
 *
 * After a transfer each remaining party is told the other's identity
 * (pbx_chan_tech.connected_line). Signalling thread only.
 */
#ifndef PBX_TRANSFER_H
#define PBX_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>

struct pbx_app;
struct pbx_chan;
struct pbx_xfer;

/**
 * How the transferor's driver hears the progress of a transfer it asked
 * for (a REFER's NOTIFYs): a SIP status code and reason, 100, 180 and a
 * final one. Never called after the transferor is gone.
 */
struct pbx_xfer_report {
	void (*progress)(void *arg, int code, const char *reason);
};

/**
 * The context a blind transfer of @p t runs its target in: TRANSFER_CONTEXT
 * (on @p t, or else on its bridged peer, where the dialplan ran), else
 * @p own (the transferor's user's context), else t's context.
 */
void pbx_transfer_context(struct pbx_chan *t, const char *own, char *ctx, size_t len);
/**
 * Blind transfer of @p t's bridged peer to @p exten in @p ctx. On 0 the
 * transfer runs and @p rep hears its progress with @p arg (may be NULL).
 * ENOTCONN: @p t is bridged to no one; ENOENT: no such extension; EBUSY:
 * the peer is in a transfer already.
 */
int pbx_transfer_blind(struct pbx_chan *t, const char *ctx, const char *exten,
		       const struct pbx_xfer_report *rep, void *arg);
/**
 * Attended transfer: @p t1's peer and @p t2's peer are joined, and both
 * are released once @p rep (may be NULL) heard the final 200. ENOTCONN:
 * @p t1 has no peer; ENOENT: @p t2 has neither a peer nor an extension it
 * is still calling; EINVAL: the two are the same call.
 */
int pbx_transfer_attended(struct pbx_chan *t1, struct pbx_chan *t2,
			  const struct pbx_xfer_report *rep, void *arg);
/**
 * @p newch (an incoming call, answered by the caller) takes the place of
 * @p old (INVITE with Replaces): it is bridged to old's peer, and old is
 * hung up. When old still rings (a pickup), its owner adopts newch as its
 * answer (pbx_chan_events.replaced). ENOTCONN when neither can be.
 */
int pbx_transfer_replace(struct pbx_chan *old, struct pbx_chan *newch);

/**
 * Join @p a and @p b, each left alone by a transferor that hung up (Dial's
 * attended transfer by feature code: the held party and the consulted
 * target): a bridge of their own, taken from their owners as a pair that
 * hangs the other up when one ends; hold music stops and each is told the
 * other's identity. 0, ENOTCONN (one is gone) or the bridge's errno (both
 * are then hung up).
 */
int pbx_transfer_join(struct pbx_chan *a, struct pbx_chan *b);
/**
 * As pbx_transfer_join, while the target @p c still rings: @p e hears
 * ringing and is joined to @p c when it answers; when @p c fails instead,
 * @p e is hung up (its transferor is gone). 0 or ENOTCONN.
 */
int pbx_transfer_join_ringing(struct pbx_chan *e, struct pbx_chan *c);

/* What dials for a transferee reports (Dial): no-ops for other channels. */
void pbx_transfer_ringing(struct pbx_chan *e);
void pbx_transfer_answered(struct pbx_chan *e);
/** The new call failed with DIALSTATUS @p status (BUSY, NOANSWER, ...). */
void pbx_transfer_failed(struct pbx_chan *e, const char *status);
/**
 * The dialplan starts application @p app for @p e. A target that is no
 * phone (voicemail, a prompt, a conference) takes the call as soon as an
 * application that does (pbx_app.takes_no_call false) starts: the transfer
 * succeeds then.
 */
void pbx_transfer_app(struct pbx_chan *e, const struct pbx_app *app);

/** Tell @p a and @p b each other's identity (after a transfer). */
void pbx_transfer_connected(struct pbx_chan *a, struct pbx_chan *b);

#endif
