/**
 * @file chan.h  Channels: one call leg each, driven by a technology driver
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A channel is one leg of a call as the core sees it: its state, caller
 * and dialled extension, variables, media session, and who owns it. The
 * driver (chan_sip) creates it and reports what happens on the wire; the
 * owner (the dialplan running the call, or the dial application watching
 * an outgoing leg) receives those events and tells the channel what to do
 * through the pbx_chan_* calls, which the core forwards to the driver.
 *
 * Signalling thread only. Channels are reference counted; a channel is
 * found again later by id (pbx_chan_find), never through a stale pointer.
 */
#ifndef PBX_CHAN_H
#define PBX_CHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pbx/buf.h"

struct pbx_chan;
struct pbx_rtp;
struct pbx_dev;

enum pbx_chan_state {
	PBX_CHAN_DOWN,     /* created, nothing sent or received yet */
	PBX_CHAN_RING,     /* incoming, not answered */
	PBX_CHAN_DIALING,  /* outgoing, request sent */
	PBX_CHAN_RINGING,  /* outgoing, far end rings (180) */
	PBX_CHAN_PROGRESS, /* early media (183 with SDP) */
	PBX_CHAN_UP,       /* answered */
	PBX_CHAN_HUNGUP,   /* gone; only references keep it */
};

/* Hangup causes (Q.850 numbers, as Asterisk's HANGUPCAUSE shows them). */
enum pbx_cause {
	PBX_CAUSE_NORMAL = 16,
	PBX_CAUSE_BUSY = 17,
	PBX_CAUSE_NO_ANSWER = 19, /* timeout */
	PBX_CAUSE_NO_USER_RESPONSE = 18,
	PBX_CAUSE_REJECTED = 21,
	PBX_CAUSE_ANSWERED_ELSEWHERE = 26, /* another fork answered: CANCEL with a Reason */
	PBX_CAUSE_UNALLOCATED = 1,         /* 404 */
	PBX_CAUSE_UNAVAILABLE = 20,        /* subscriber absent: 480, no contacts */
	PBX_CAUSE_CONGESTION = 34,         /* 503, no circuit */
	PBX_CAUSE_FAILURE = 38,            /* network out of order, 5xx, timeout of a request */
	PBX_CAUSE_INCOMPATIBLE = 58,       /* 488: no common media */
	PBX_CAUSE_CANCEL = 487,            /* internal: caller went away before answer */
};

/** Conditions a channel can show the other side (in-band or in signalling). */
enum pbx_indication {
	PBX_IND_RINGING,
	PBX_IND_PROGRESS, /* early media follows */
	PBX_IND_BUSY,
	PBX_IND_CONGESTION,
	PBX_IND_HOLD,
	PBX_IND_UNHOLD,
};

/** Media direction as in SDP (RFC 3264). */
enum pbx_media_dir { PBX_DIR_SENDRECV, PBX_DIR_SENDONLY, PBX_DIR_RECVONLY, PBX_DIR_INACTIVE };

/**
 * The answer to a text message (pbx_chan_send_text): @p status in SIP's
 * numbering, the drivers' common language for outcomes (as in
 * pbx_chan_transfer_done): 2xx taken; otherwise why not (486, 488, 480,
 * 408 when the phone never answered, 503 when the driver went away).
 */
typedef void pbx_chan_text_done_h(int status, void *arg);

/** A technology driver ("SIP"). Static const; registered once. */
struct pbx_chan_tech {
	const char *name;  /* "SIP" */
	const char *alias; /* "PJSIP": accepted in dial strings; may be NULL */
	/**
	 * Create an outgoing channel for @p dest (the part after "SIP/"). It
	 * is not called yet: the caller sets its owner, then pbx_chan_call.
	 * @p requester is the channel on whose behalf (may be NULL); the
	 * driver copies caller id from it and places media near it. Returns
	 * 0, or ENOENT (no such user / no contacts: CHANUNAVAIL), EINVAL.
	 * The channel's one reference belongs to the driver, which drops it
	 * after the hangup; a caller that keeps the pointer takes its own.
	 */
	int (*request)(struct pbx_chan **chp, const char *dest, struct pbx_chan *requester);
	int (*call)(struct pbx_chan *ch, int timeout_s);
	int (*answer)(struct pbx_chan *ch);
	/** Send the hangup on the wire; the core then marks the channel gone. */
	void (*hangup)(struct pbx_chan *ch, int cause);
	int (*indicate)(struct pbx_chan *ch, enum pbx_indication ind);
	int (*send_dtmf)(struct pbx_chan *ch, char digit, int duration_ms);
	/** Media of a bridged peer changed (hold, codec): renegotiate if needed. May be NULL. */
	int (*peer_media_changed)(struct pbx_chan *ch, enum pbx_media_dir peer_dir);
	/** Free tech_pvt; called once when the last reference goes. */
	void (*destroy)(struct pbx_chan *ch);
	/** One line of driver detail for `core show channels` (codec, encryption). May be NULL. */
	void (*describe)(struct pbx_chan *ch, struct pbx_buf *out);
	/** No RTP arrived for rtp.timeout seconds: the driver ends the call its way. May be NULL. */
	void (*media_timeout)(struct pbx_chan *ch);
	/**
	 * The party at the far end of the bridge is now @p num / @p name (a
	 * transfer): tell the phone (connected line). May be NULL.
	 */
	void (*connected_line)(struct pbx_chan *ch, const char *num, const char *name);
	/**
	 * Ask the phone to call @p target instead (SIP: REFER). 0, the outcome
	 * following as pbx_chan_transfer_done; ENOTSUP when it cannot (not
	 * answered). May be NULL: the core then redirects in the dialplan.
	 */
	int (*transfer)(struct pbx_chan *ch, const char *target);
	/**
	 * Send a text message (an instant message: SIP MESSAGE in the call's
	 * dialog) to the phone of an answered channel: @p type is the MIME
	 * type with its parameters, @p body @p len bytes (NULs allowed, no
	 * terminator). 0: @p done is called exactly once, later (never from
	 * inside this call), with the phone's answer; @p arg is the caller's
	 * until then. Else an errno (ENOTCONN: not answered or gone;
	 * EMSGSIZE: too large for the driver) and @p done is never called.
	 * May be NULL: the driver takes no text.
	 */
	int (*send_text)(struct pbx_chan *ch, const char *type, const void *body, size_t len,
			 pbx_chan_text_done_h *done, void *arg);
};

/** What the owner of a channel hears. Every callback may be NULL. */
struct pbx_chan_events {
	void (*state)(struct pbx_chan *ch, enum pbx_chan_state st, void *arg);
	/** The channel is gone; @p cause says why. After this, no more events. */
	void (*hangup)(struct pbx_chan *ch, int cause, void *arg);
	void (*dtmf)(struct pbx_chan *ch, char digit, void *arg);
	/** A media operation (playback) finished; @p err 0 or errno. */
	void (*media_done)(struct pbx_chan *ch, int err, void *arg);
	/** A recording (pbx_rtp_record) ended: enum pbx_rec_why, errno, length. */
	void (*record_done)(struct pbx_chan *ch, int why, int err, unsigned ms, void *arg);
	/**
	 * Another owner took the channel (a transfer, a redirect; see
	 * pbx_chan_take): forget it, and neither hang it up nor touch its
	 * bridge. No more events come.
	 */
	void (*released)(struct pbx_chan *ch, void *arg);
	/**
	 * @p by, an answered channel, takes the place of this one, which is
	 * not bridged yet (a call picked up by an INVITE with Replaces): the
	 * owner adopts @p by as if this channel had answered, and hangs this
	 * one up. May be NULL: such a channel cannot be picked up.
	 */
	void (*replaced)(struct pbx_chan *ch, struct pbx_chan *by, void *arg);
	/** A transfer asked of the phone (pbx_chan_tech.transfer) ended with SIP @p code. */
	void (*transfer_done)(struct pbx_chan *ch, int code, void *arg);
};

struct pbx_var;

struct pbx_chan {
	uint32_t id;
	char name[80]; /* "SIP/1001-00000003" */
	const struct pbx_chan_tech *tech;
	void *tech_pvt;
	enum pbx_chan_state state;
	bool outgoing;
	char caller_num[80], caller_name[80];
	char exten[80], context[80];
	struct pbx_rtp *rtp;              /* set by the driver; NULL before media. Valid
					   * until the owner's hangup event has returned. */
	const struct pbx_chan_events *ev; /* owner */
	void *ev_arg;
	const struct pbx_chan_events *app_ev; /* a running application, see pbx_chan_app_events */
	void *app_ev_arg;
	struct pbx_bridge *bridge; /* the bridge it is a member of (a reference), or NULL */
	struct pbx_moh *moh;       /* hold music playing to it, or NULL (chan_media.c) */
	struct pbx_xfer *xfer;     /* the blind transfer it is the transferee of (transfer.c) */
	bool dtmf_held;            /* its owner or app passes its DTMF on, see pbx_chan_dtmf_hold */
	bool held;                 /* its phone holds the call (sendonly or inactive) */
	struct pbx_dev *dev;       /* the device it counts for (devstate.c), or NULL */
	uint8_t dev_as;            /* ... and how */
	struct pbx_var *vars;
	time_t created, answered;
	int hangup_cause; /* once hung up; before, a cause proposed by an app */
	unsigned refs;
	struct pbx_chan *next, *prev; /* all channels, for the console */
};

/** Register a driver (at module load). 0 or EEXIST. */
int pbx_chan_tech_register(const struct pbx_chan_tech *tech);
void pbx_chan_tech_unregister(const struct pbx_chan_tech *tech);
/** Driver by name or alias, case-insensitive; NULL if none. */
const struct pbx_chan_tech *pbx_chan_tech_find(const char *name, size_t len);

/**
 * Driver side: a new channel with one reference (the driver's). @p peer
 * names it: "1001" gives "SIP/1001-0000002a".
 */
int pbx_chan_alloc(struct pbx_chan **chp, const struct pbx_chan_tech *tech, const char *peer,
		   bool outgoing);
struct pbx_chan *pbx_chan_ref(struct pbx_chan *ch);
void pbx_chan_unref(struct pbx_chan *ch);
/** A live channel by id, or NULL. No reference is taken. */
struct pbx_chan *pbx_chan_find(uint32_t id);
struct pbx_chan *pbx_chan_find_name(const char *name);

/* ---- driver -> core: what happened on the wire ---------------------------- */

void pbx_chan_set_state(struct pbx_chan *ch, enum pbx_chan_state st);
/** The far end hung up (or the driver gave up). Tells the owner; unbridges. */
void pbx_chan_remote_hangup(struct pbx_chan *ch, int cause);
/**
 * A digit arrived in the media (RFC 4733). The owner or running app hears
 * it; a bridged peer gets it too, unless both legs negotiated
 * telephone-event (then the media engine relayed the packets already).
 */
void pbx_chan_remote_dtmf(struct pbx_chan *ch, char digit);
/** A digit arrived in signalling (SIP INFO): as above, always passed to the peer. */
void pbx_chan_remote_dtmf_signalled(struct pbx_chan *ch, char digit);
/**
 * The far end put us on hold / resumed (re-INVITE direction): the bridge
 * peer hears hold music while held (and its driver is told we only send),
 * or, without hold music, is told the direction as it is.
 */
void pbx_chan_remote_media_dir(struct pbx_chan *ch, enum pbx_media_dir dir);
void pbx_chan_media_done(struct pbx_chan *ch, int err);
/** A recording on the channel ended (see pbx_chan_events.record_done). */
void pbx_chan_record_done(struct pbx_chan *ch, int why, int err, unsigned ms);
/** The phone reported how the transfer it was asked for ended (a SIP code: 2xx is done). */
void pbx_chan_transfer_done(struct pbx_chan *ch, int code);
/**
 * The phone of @p ch sent a text message in its call: it goes to the
 * bridged peer (pbx_chan_send_text), body and type unchanged, and @p done
 * hears the peer's answer. The core keeps nothing: @p arg is the driver's
 * and must stay valid until @p done. 0 (done follows), ENOTCONN (@p ch
 * not answered, not in a two-party bridge, or the peer not answered),
 * or pbx_chan_send_text's error on the peer (ENOTSUP: its driver takes
 * no text). A conference (a mixing bridge) has no one peer: ENOTCONN.
 */
int pbx_chan_remote_text(struct pbx_chan *ch, const char *type, const void *body, size_t len,
			 pbx_chan_text_done_h *done, void *arg);

/**
 * A new incoming channel is ready (caller, exten and context set): hand it
 * to the dialplan. 0 or an errno (no dialplan loaded: the driver rejects).
 */
int pbx_chan_start_pbx(struct pbx_chan *ch);

/* ---- owner -> channel ------------------------------------------------------- */

void pbx_chan_set_owner(struct pbx_chan *ch, const struct pbx_chan_events *ev, void *arg);
/**
 * While an application runs on a channel it may take the channel's dtmf,
 * state and media_done events (@p ev NULL gives them back to the owner).
 * Hangup always goes to the owner, which cancels the application.
 */
void pbx_chan_app_events(struct pbx_chan *ch, const struct pbx_chan_events *ev, void *arg);
/**
 * Take @p n channels from their owners for a new owner (@p ev NULL: none
 * until the caller sets one). Every channel changes hands first; then each
 * old owner hears `released`. So an old owner that ends on it (a Dial
 * whose caller is taken hangs up its legs) no longer finds the others as
 * its own, whatever the order.
 */
void pbx_chan_take(struct pbx_chan *const *chs, size_t n, const struct pbx_chan_events *ev,
		   void *arg);
/**
 * Send @p ch to @p exten in @p context, away from what it does now (its
 * dialplan, or the Dial that owns it): the console's `channel redirect`,
 * app.transfer's internal case. It leaves its bridge. 0, ENOENT (no such
 * extension), ENOTCONN (hung up) or the dialplan's error.
 */
int pbx_chan_redirect(struct pbx_chan *ch, const char *context, const char *exten);
/**
 * The number and name of the party at the far end of @p ch: the caller of
 * an incoming leg, the called user of an outgoing one.
 */
void pbx_chan_party(const struct pbx_chan *ch, const char **num, const char **name);
int pbx_chan_call(struct pbx_chan *ch, int timeout_s);
int pbx_chan_answer(struct pbx_chan *ch);
/** Hang up from our side. Safe to call twice; the owner's hangup event still fires once. */
void pbx_chan_hangup(struct pbx_chan *ch, int cause);
int pbx_chan_indicate(struct pbx_chan *ch, enum pbx_indication ind);
int pbx_chan_send_dtmf(struct pbx_chan *ch, char digit, int duration_ms);
/**
 * Send a text message to the phone of @p ch (pbx_chan_tech.send_text):
 * 0 and @p done later, or ENOTCONN (not answered), ENOTSUP (its driver
 * takes no text), or the driver's error; then @p done is never called.
 */
int pbx_chan_send_text(struct pbx_chan *ch, const char *type, const void *body, size_t len,
		       pbx_chan_text_done_h *done, void *arg);
/**
 * Hold back @p ch's DTMF from its bridged peer (@p on) or pass it again.
 * Held, digits still reach the owner or running app as dtmf events, but
 * neither the media engine (RFC 4733 relay) nor the core (dtmf_to_peer)
 * forwards them: the holder sends on what it lets through with
 * pbx_chan_send_dtmf. Dial's feature codes use it so that "##" never
 * reaches the other party. Whoever holds must release before it lets the
 * channel go. 0 or the media engine's errno (the flag is set anyway).
 */
int pbx_chan_dtmf_hold(struct pbx_chan *ch, bool on);

/**
 * Whether @p ch's media is encrypted (SRTP) as negotiated last. False
 * before its media is negotiated: a driver placing an outgoing leg for it
 * then follows its own default. Any driver, any channel.
 */
bool pbx_chan_media_encrypted(const struct pbx_chan *ch);

/* ---- media (chan_media.c) --------------------------------------------------- */

struct pbx_rtp_events;
/**
 * The events a driver passes to pbx_rtp_alloc with the channel as the
 * argument: media events go to the channel core, which hands DTMF, play
 * and record ends to the owner or running app, keeps hold music to itself,
 * and gives the driver only what is its own (media_timeout).
 */
const struct pbx_rtp_events *pbx_chan_rtp_events(void);
/**
 * Play hold music of class @p cls (NULL: "default"), the files of
 * SOUNDS_DIR/moh/CLASS/ in name order, round and round, until
 * pbx_chan_moh_stop. Replaces a playback. 0, ENOENT (no such class or no
 * file in it), ENODEV (no media) or EINVAL (a bad class name).
 */
int pbx_chan_moh_start(struct pbx_chan *ch, const char *cls);
void pbx_chan_moh_stop(struct pbx_chan *ch);
/**
 * Why @p cls is not a hold-music class name, NULL when it is one: one
 * folder name under SOUNDS_DIR/moh/, at most 63 characters. Whether the
 * folder exists is only known when the music starts.
 */
const char *pbx_moh_check_class(const char *cls);

/* ---- variables ---------------------------------------------------------------- */

/** Channel variable (case-sensitive name, as Asterisk). NULL when unset. */
const char *pbx_chan_var_get(struct pbx_chan *ch, const char *name);
/** Set (value NULL: unset). 0 or ENOMEM. */
int pbx_chan_var_set(struct pbx_chan *ch, const char *name, const char *value);
typedef int pbx_chan_var_each_h(const char *name, const char *value, void *arg);
void pbx_chan_var_each(struct pbx_chan *ch, pbx_chan_var_each_h *fn, void *arg);

/* ---- the call counter, console and stop ------------------------------------- */

unsigned pbx_chan_count(void);
typedef int pbx_chan_each_h(struct pbx_chan *ch, void *arg);
void pbx_chan_each(pbx_chan_each_h *fn, void *arg);
const char *pbx_chan_state_name(enum pbx_chan_state st);
/** "ANSWER", "BUSY", ... for a hangup cause of an outgoing leg that never answered. */
const char *pbx_cause_dialstatus(int cause);

/* ---- the dialplan runner (registered by dialplan/) ------------------------- */

struct pbx_im;
/** A message's dialplan run ended: @p err 0 when its function returned, else why not. */
typedef void pbx_dialplan_im_done_h(struct pbx_im *im, int err, void *arg);

struct pbx_dialplan_ops {
	/** Run the dialplan for @p ch (takes a reference). 0 or errno. */
	int (*start)(struct pbx_chan *ch);
	/** Is there an extension @p exten in @p context (for `channel originate`)? */
	bool (*exists)(const char *context, const char *exten);
	/** The devices the hint of @p exten in @p context (or what it includes) names, or NULL. */
	const char *(*hint)(const char *context, const char *exten);
	/** Every hint of every context. */
	void (*each_hint)(void (*fn)(const char *context, const char *exten, const char *device,
				     void *arg),
			  void *arg);
	/** Run @p exten of @p context for a message, without a channel (see pbx_dialplan_message). */
	int (*message)(struct pbx_im *im, const char *context, const char *exten,
		       pbx_dialplan_im_done_h *done, void *arg);
};
/** Is there an extension @p exten in @p context of the loaded dialplan? */
bool pbx_dialplan_exists(const char *context, const char *exten);
/**
 * The devices ("SIP/1001&SIP/1002") of the hint of @p exten as seen from
 * @p context (its includes too), or NULL. Valid until the next `dialplan
 * reload`: copy it to keep it.
 */
const char *pbx_dialplan_hint(const char *context, const char *exten);
/** Call @p fn for every hint of the loaded dialplan. */
void pbx_dialplan_each_hint(void (*fn)(const char *context, const char *exten, const char *device,
				       void *arg),
			    void *arg);
int pbx_dialplan_register(const struct pbx_dialplan_ops *ops);
void pbx_dialplan_unregister(const struct pbx_dialplan_ops *ops);
/**
 * Route a message through @p exten of @p context: the dialplan run has no
 * channel, only messaging applications, set and verbose. The engine keeps a
 * reference to @p im until it calls @p done, once, on the next turns of
 * the loop (never from inside this call). 0, ENOENT (no such extension) or
 * an errno.
 */
int pbx_dialplan_message(struct pbx_im *im, const char *context, const char *exten,
			 pbx_dialplan_im_done_h *done, void *arg);
/** Start the dialplan at @p context, @p exten for an existing channel (originate). */
int pbx_dialplan_run(struct pbx_chan *ch, const char *context, const char *exten);

#endif
