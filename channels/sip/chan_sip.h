/**
 * @file chan_sip.h  Private to the SIP channel driver: calls, sessions, shared helpers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A call (struct sip_call) is the tech_pvt of one channel: its media
 * session and the SIP sessions that serve it. A session (struct
 * sip_sess) is one INVITE dialog: the incoming one, or each fork of an
 * outgoing call. Sessions can outlive their call for a while (waiting
 * for the ACK of a 2xx before the BYE, or for the final response after a
 * CANCEL); such a session is detached (call NULL) and frees itself.
 *
 * Transactions call back with a session id, never a pointer, and look the
 * session up again: a response that arrives for a session already freed
 * finds nothing and is dropped.
 */
#ifndef CHAN_SIP_H
#define CHAN_SIP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pbx/buf.h"
#include "pbx/chan.h"
#include "sip_dialog.h"
#include "sip_sdp.h"
#include "sip_timer.h"
#include "sip_tsx.h"

struct sip_stack;
struct sip_stsx;
struct sip_ctsx;
struct sip_call;

#define SIP_SRTP_NSUITES 4 /* the suites we offer, one a=crypto each */

enum sip_sess_state {
	SIP_SESS_EARLY,     /* the INVITE has no final response yet */
	SIP_SESS_CONFIRMED, /* 2xx sent or received */
	SIP_SESS_ENDED,     /* BYE or failure: only lingers to absorb retransmissions */
};

struct sip_sess {
	struct sip_sess *idnext; /* in the id table */
	uint32_t id;
	struct sip_call *call; /* NULL once detached */
	struct sip_sess *next; /* in call->sessions */
	struct sip_dialog dlg;
	char local[72];    /* our "host:port" toward dlg.peer */
	char contact[128]; /* our Contact URI */
	enum sip_sess_state state;

	/* UAS: the INVITE, kept to answer it later (copied and parsed again). */
	struct sip_stsx *inv_t; /* until its final response */
	char *inv_buf;
	struct sip_msg *inv;
	struct sip_peer inv_src;
	bool ringing_sent;

	/* UAC: our INVITE until its final response. */
	char *inv_text; /* the request as sent, for its CANCEL */
	size_t inv_len;
	uint32_t inv_cseq;
	bool provisional;   /* a 1xx arrived: CANCEL may go (RFC 3261 9.1) */
	bool cancel_wanted; /* CANCEL as soon as a 1xx arrives */
	bool cancel_sent;
	int cancel_cause;
	uint16_t final;  /* final response code, 0 before */
	bool srtp_offer; /* our INVITE offered RTP/SAVP (else RTP/AVP): call->fork_offer[it] */
	bool reoffered;  /* this INVITE is the one re-offer, with the other profile */

	/* The 2xx we sent last (INVITE or re-INVITE), repeated until its ACK. */
	char *ok;
	size_t ok_len;
	struct sip_peer ok_dst;
	uint32_t ok_cseq;
	uint64_t ok_interval;
	bool ok_offer; /* it carried our offer; the ACK carries the answer */
	struct sip_timer ok_retx, ok_giveup;
	bool bye_after_ack; /* the call ended before the ACK came */

	/* The ACK we sent for the last 2xx received, for its retransmissions. */
	char *ack;
	size_t ack_len;
	uint32_t ack_cseq;

	/* Our re-INVITE (hold, resume, session refresh). */
	bool re_pending;           /* one is out */
	bool re_again;             /* another is wanted when it ends */
	uint32_t re_cseq;          /* CSeq of the one out */
	struct sip_timer re_retry; /* 491 back-off, RFC 3261 14.1 */

	/* Session timer (RFC 4028). */
	unsigned se; /* seconds; 0: none */
	bool we_refresh;
	struct sip_timer st;

	struct sip_timer linger; /* detached: the end of waiting */
};

/* An initial offer of an outgoing call and the SRTP keys it carries. */
struct sip_offer {
	char *sdp; /* NULL until first sent */
	struct sdp_crypto keys[SIP_SRTP_NSUITES];
	int nkeys;
};

struct sip_call {
	struct pbx_chan *ch; /* the driver's reference until released */
	bool outgoing;
	bool ended;                /* the SIP side is over (final/BYE/CANCEL sent or received) */
	bool released;             /* the driver's channel reference is dropped */
	struct sip_sess *sessions; /* incoming: one; outgoing: every live fork */
	struct sip_sess *sess;     /* the answered session (incoming: from the start) */
	struct sip_sess *early;    /* outgoing: the fork whose early media we use */
	int cause;                 /* outgoing: the best cause of the failed forks */

	struct pbx_rtp *rtp;
	struct sockaddr_storage media; /* our media address (the SIP listener's) */
	struct sdp_choice choice;      /* what was negotiated last */
	bool have_choice;
	/* Outgoing: the caller leg's codec when the call was placed (NULL:
	 * none yet), offered first until this leg has its own. */
	const struct pbx_codec_desc *caller_codec;
	enum pbx_media_dir remote_dir; /* what the phone last asked for in its offer */
	enum pbx_media_dir want;       /* what we offer: the bridged peer's direction */
	uint64_t sdp_id, sdp_ver;
	char *sdp_last; /* the last body we sent, to keep the version while unchanged */
	char *offer;    /* our offer waiting for its answer */
	/* Outgoing: the INVITE offers, plain ([0]) and RTP/SAVP ([1]). The
	 * forks start with one profile; a contact that refuses it is offered
	 * the other, so two can be out at once. The answered fork's is then
	 * installed as call->offer, keys and sdp_last. */
	struct sip_offer *fork_offer; /* [2], made on first use, freed at answer */
	bool first_srtp;              /* the profile the forks start with */

	/* SRTP (SDES): the user's policy, and our keys as in the last SDP we
	 * built (an offer: one per suite; an answer: one). Fresh for every
	 * offer and answer, so a re-INVITE never reuses a key. */
	enum sdp_srtp srtp;
	struct sdp_crypto keys[SIP_SRTP_NSUITES];
	int nkeys;
	bool srtp_warned;    /* the "keys over a plain transport" warning was logged */
	char *referred_by;   /* outgoing, placed for a transferee: Referred-By of the INVITE */
	uint32_t refer_cseq; /* our REFER waiting for its outcome (app.transfer); 0: none */
	char *connected;     /* after a transfer: the P-Asserted-Identity line of the new party */
};

#define DTMF_PT     101 /* telephone-event in our offers */
#define SE_MIN      90u /* RFC 4028 4: the smallest Session-Expires allowed */
#define MAX_FORKS   16  /* contacts called at once; sip.max_contacts is lower */
#define TAG_SIZE    17  /* 16 random characters */
#define CALLID_SIZE 33
#define SDP_TYPE    "application/sdp"
/* Q.850 26, "non-selected user clearing": the dial app's losing legs. */
#define CAUSE_ANSWERED_ELSEWHERE 26
/* A detached fork waits this long for the final response its CANCEL
 * asks for; a phone that never answers the CANCEL must not keep it. */
#define FORK_GUARD_MS (SIP_TIMER_64T1 + 4000u)
/* Transactions call back with the session id, looked up again on arrival. */
#define ID_ARG(x) ((void *)(uintptr_t)(x)->id)

/* The driver's state; chan_sip.c owns it. Signalling thread only. */
struct chan_sip {
	struct sip_stack *s;
	struct sip_sess **ids; /* sessions by id, chained */
	size_t mask, n;
	uint32_t last_id;
	struct pbx_buf out;  /* requests: built, then sent at once */
	struct pbx_buf hdrs; /* extra header lines of a response */
	struct pbx_buf sdp;  /* the SDP body being sent */
};
extern struct chan_sip sip__cs;

/* ---- chan_sip_util.c: no state, unit-tested ----------------------------------------------- */

/** "1.2.3.4:5060" or "[::1]:5060" (sip_transport_local's form) into an address. 0 or EINVAL. */
int sip__hostport_sa(const char *hp, struct sockaddr_storage *ss);
void sip__random_u64(uint64_t *v);
/** Final response for an unanswered incoming call hung up with @p cause (603 by default). */
uint16_t sip__cause_to_code(int cause);
/** Cause of a failed fork: its final @p code, or without a response (timeout, transport) unreachable. */
int sip__code_to_cause(uint16_t code, bool no_resp);
/**
 * The answer to the sender of a MESSAGE relayed in a call, from the other
 * party's @p status (pbx_chan_text_done_h): 200 for a 2xx; a refusal
 * about the message keeps its code (486, 488, 415, 603); what concerns
 * only the other hop becomes 480 or 488, a 5xx 502. @p reason is the
 * phrase to send (NULL: the standard one).
 */
uint16_t sip__text_answer(int status, const char **reason);
/** Which failed fork speaks for the call: the higher rank (busy first). */
int sip__cause_rank(int cause);
/** A Reason header line (RFC 3326) for @p cause, or "" when there is nothing to say. */
void sip__reason_hdr(int cause, char *buf, size_t len);
/** Is option tag @p tag among the values of header @p id (Supported, Require)? */
bool sip__has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tag);
/** The media type of the body without parameters ("application/sdp"); empty when none. */
struct sip_pl sip__content_type(const struct sip_msg *m);

/** The SDP layer's policy for a user's (enum pbx_srtp_policy); unknown values are optional. */
enum sdp_srtp sip__srtp_policy(int pbx_policy);
/** Fresh random key material for @p suite into @p c, with @p tag. 0, EINVAL or EIO. */
int sip__srtp_key_new(struct sdp_crypto *c, uint32_t tag, enum sdp_suite suite);
/**
 * The keys of an SRTP offer: one per suite, tags 1..SIP_SRTP_NSUITES,
 * AES_CM_128_HMAC_SHA1_80 first. Returns how many (SIP_SRTP_NSUITES) or -errno.
 */
int sip__srtp_offer_keys(struct sdp_crypto keys[SIP_SRTP_NSUITES]);
/** Our key answering @p ch's chosen a=crypto: same tag and suite, a fresh key. 0 or errno. */
int sip__srtp_answer_key(struct sdp_crypto *key, const struct sdp_choice *ch);
/**
 * The SRTP part of the media parameters: when @p ch->srtp, tx is our key
 * of the chosen tag and suite (among @p ours), rx the peer's. 0, or ENOENT
 * when none of ours matches (p->srtp is then false).
 */
int sip__srtp_params(const struct sdp_choice *ch, const struct sdp_crypto *ours, int nours,
		     struct pbx_rtp_params *p);
/**
 * An offer sdp_negotiate_offer refused under @p policy: the response code
 * (488), its reason phrase ("SRTP required" when a mandatory policy met a
 * plain offer, else NULL for the default) and a Warning header line.
 */
uint16_t sip__offer_refusal(const struct sdp_choice *ch, enum sdp_srtp policy, const char **reason,
			    char *warn, size_t wlen);
/**
 * The profile of the first offer to a callee under @p policy: RTP/SAVP
 * (true) when mandatory, RTP/AVP when off, and when optional the one of
 * the caller's leg (@p caller_srtp; false when there is no caller).
 */
bool sip__offer_srtp(enum sdp_srtp policy, bool caller_srtp);
/**
 * Does final response @p resp (code @p code; NULL when none came) refuse
 * the media of our offer? 488 always; 415 and 406 when they name the
 * media: a Warning 3xx (RFC 3261 20.43, the SDP codes) or a reason phrase
 * naming RTP, SRTP, SAVP, crypto or encryption. A bare 415 is about the
 * body's type, which another profile does not change.
 */
bool sip__media_refused(const struct sip_msg *resp, uint16_t code);
/**
 * Should a contact that answered our INVITE with @p resp be offered the
 * other profile? Only under an optional @p policy (mandatory and off
 * allow one profile each), once (@p reoffered: this was the re-offer),
 * and when the response refuses the media.
 */
bool sip__reoffer_wanted(enum sdp_srtp policy, bool reoffered, const struct sip_msg *resp,
			 uint16_t code);

enum sip_refresher { SIP_REFRESHER_NONE, SIP_REFRESHER_UAC, SIP_REFRESHER_UAS };

/** Session-Expires of a message (RFC 4028). */
struct sip_se {
	unsigned se;
	enum sip_refresher refresher; /* roles in the transaction that carried it */
	bool supported;               /* the sender does timers (Supported or Require: timer) */
};
/** 0, ENOENT (no Session-Expires; supported is still set) or EINVAL. */
int sip__se_get(const struct sip_msg *m, struct sip_se *h);
/** The key of a DTMF INFO (application/dtmf-relay "Signal=5" or application/dtmf); 0 if none. */
char sip__info_dtmf(const struct sip_msg *m);
/** Percent-escape for the user part of a SIP URI. */
void sip__user_escape(const char *in, char *out, size_t len);
/** A display name as a quoted-string, quotes included. */
void sip__quote_name(const char *in, char *out, size_t len);

/* ---- chan_sip_sess.c: sessions and what happens in their dialogs --------------------------- */

/** Re-arm the stack's loop timer (after starting timers outside a stack callback). */
void sip__kick(void);

/* Sessions: made attached to @p call (NULL: detached), found again by id. */
struct sip_sess *sip__sess_new(struct sip_call *call);
struct sip_sess *sip__sess_of(void *arg); /* from ID_ARG; NULL when gone */
void sip__sess_free(struct sip_sess *x);
/** Detach @p x from its call and free it @p ms later. */
void sip__sess_linger(struct sip_sess *x, uint64_t ms);
/** Our address and Contact toward @p peer. */
int sip__sess_set_peer(struct sip_sess *x, const struct sip_peer *peer);

/* Sending in the session's dialog. */
int sip__sess_send(struct sip_sess *x, const char *method, const char *extra, const char *type,
		   const char *body, sip_ctsx_resp_h *cb, uint32_t *cseq);
/** As sip__sess_send, with the callback's own argument @p arg (not the session's id). */
int sip__sess_send_arg(struct sip_sess *x, const char *method, const char *extra, const char *type,
		       const char *body, sip_ctsx_resp_h *cb, void *arg, uint32_t *cseq);
/**
 * A request with a body of @p len bytes (0: a string), which may hold NULs
 * (MESSAGE); *tp (may be NULL) gets its client transaction, for an
 * abandon when the callback's argument goes away first.
 */
int sip__sess_send_body(struct sip_sess *x, const char *method, const char *type, const void *body,
			size_t len, sip_ctsx_resp_h *cb, void *arg, struct sip_ctsx **tp);
void sip__sess_ack(struct sip_sess *x, uint32_t cseq, const char *body);
void sip__sess_bye(struct sip_sess *x, int cause);
/** Answer the INVITE the session keeps (UAS); a 2xx is then repeated until its ACK. */
int sip__sess_reply(struct sip_sess *x, uint16_t code, const char *reason, const char *extra,
		    const char *body);
/** CANCEL a fork's INVITE, at once or with its first provisional (RFC 3261 9.1). */
void sip__fork_cancel(struct sip_sess *f, int cause);
/** The Allow and Supported lines of dialog-making messages. */
void sip__put_caps(struct pbx_buf *b);

/* Offer/answer; bodies are written into sip__cs.sdp. */
int sip__body_sdp(const struct sip_msg *m, struct sdp_session **sp, const char **why);
void sip__prefs_init(struct sdp_prefs *p, enum pbx_media_dir dir);
int sip__call_offer(struct sip_call *call, enum pbx_media_dir dir);
/** The INVITE offer of profile @p srtp, made the first time it is asked for (call->fork_offer). */
int sip__call_fork_offer(struct sip_call *call, bool srtp, const char **sdp);
/** Fork @p f's offer becomes the call's (offer, keys, sdp_last): before taking its answer. */
int sip__call_use_fork_offer(struct sip_call *call, const struct sip_sess *f);
/**
 * Forget the INVITE offers once a fork has won: no re-offer can follow, and
 * they would cost every established call about 2 KiB (the keys of every
 * suite, twice, and the two SDP texts).
 */
void sip__call_drop_fork_offers(struct sip_call *call);
int sip__call_answer_sdp(struct sip_call *call, const struct sdp_session *offer,
			 const struct sdp_choice *ch);
/** Negotiated media to the engine; @p x (NULL: the call's session) is the dialog it came in. */
int sip__call_apply(struct sip_call *call, struct sip_sess *x, const struct sdp_choice *ch);
/** Our fresh SRTP key for answering @p ch (none when plain) into call->keys. 0 or errno. */
int sip__call_answer_keys(struct sip_call *call, const struct sdp_choice *ch);
int sip__call_take_answer(struct sip_call *call, const struct sip_msg *m, struct sdp_choice *out,
			  const char **why);
/** Offer the call's wanted direction again (hold, resume) or, with @p refresh, the last SDP. */
void sip__reinvite(struct sip_sess *x, bool refresh);

/* Session timers (RFC 4028). */
int sip__se_uas(struct sip_sess *x, const struct sip_msg *m, char *out, size_t len);
void sip__se_uac(struct sip_sess *x, const struct sip_msg *resp);
void sip__se_arm(struct sip_sess *x);

/* The end of a call. */
void sip__sess_hangup(struct sip_sess *x, int cause);
void sip__call_teardown(struct sip_call *call, int cause);
/** Drop the driver's channel reference: @p call may be freed by it. */
void sip__call_release(struct sip_call *call);
/** The far end (or the network) ended the call: wire side, then the core. */
void sip__call_remote_end(struct sip_call *call, int cause);

/* Requests: in-dialog (the session usage) and the handler for the ones of no dialog. */
void sip__reply_481(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
		    struct sip_stsx *t);
/** Link the session's dialog into the stack's table as an INVITE session usage. */
int sip__sess_link(struct sip_sess *x);
void sip__handle_no_dialog(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t);

/* ---- sip_refer.c: transfer (REFER, Replaces) ------------------------------------------------ */

/** The session of dialog @p d when it is an INVITE session of ours, else NULL. */
struct sip_sess *sip__sess_of_dialog(struct sip_dialog *d);
/** The session is about to send BYE: the NOTIFYs its REFER subscriptions still queue go first. */
void sip__refer_flush(struct sip_sess *x);
/** The session is freed: the REFER subscriptions on its dialog end with it. */
void sip__refer_sess_gone(struct sip_sess *x);
/** REFER in the session's dialog: a transfer. */
void sip__refer_request(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
			struct sip_stsx *t);
/** REFER outside any dialog of ours: refused. */
void sip__refer_no_dialog(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t);
/**
 * The session an INVITE's Replaces header names (*xp, NULL when it has
 * none): 0, or the response code to refuse the INVITE with (400, 481,
 * 486) and @p why.
 */
int sip__replaces_take(const struct sip_msg *m, struct sip_sess **xp, const char **why);
/** Our REFER asking the phone of @p ch to call @p target (pbx_chan_tech.transfer). */
int sip__refer_send(struct pbx_chan *ch, const char *target);
/** NOTIFY in the session's dialog: the progress of our REFER (Event: refer), else 489. */
void sip__refer_notify(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		       struct sip_stsx *t);

/* ---- chan_sip_text.c: MESSAGE in a call's dialog, relayed through the core ------------------ */

/** MESSAGE in the session's dialog: to the other party of the call, answered as it answers. */
void sip__text_request(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		       struct sip_stsx *t);
/** pbx_chan_tech.send_text: a MESSAGE in the call's answered dialog. */
int sip__text_send(struct pbx_chan *ch, const char *type, const void *body, size_t len,
		   pbx_chan_text_done_h *done, void *arg);
/** The driver unloads: texts on their way end (503), their answers will not be heard. */
void sip__text_unload(void);

#endif
