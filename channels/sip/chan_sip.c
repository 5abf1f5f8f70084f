/**
 * @file chan_sip.c  The SIP channel driver: calls as INVITE dialogs (tech "SIP", alias "PJSIP")
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The PBX is a back-to-back user agent: every channel is one call leg with
 * its own Call-ID, tags and CSeq, and the two legs of a call share nothing
 * on the wire. An incoming INVITE makes one channel with one session; an
 * outgoing channel forks one INVITE per registered contact of the dialled
 * user, each its own session, and the first 2xx wins.
 *
 * Offer/answer (RFC 3264) is done by sip_sdp; media by the core's RTP
 * sessions, one per channel, whose events go to the channel core
 * (pbx_chan_rtp_events); only an RTP timeout comes back here. Hold and
 * resume from a phone go to the core as a direction
 * (pbx_chan_remote_media_dir), which plays hold music to the bridged leg
 * and tells it the direction it should now have: peer_media_changed, a
 * re-INVITE offering sendonly while the music plays (or the holder's own
 * direction when there is no music), sendrecv on resume.
 *
 * Only offers from a phone are passed on as hold or resume, never its
 * answers to our offers: an answer mirrors what we asked, and passing it
 * back would bounce re-INVITEs between the two legs forever.
 *
 * SRTP: a callee is offered what its user's policy allows, and when that
 * is optional, the profile of the caller's leg (pbx_chan_media_encrypted):
 * RTP/SAVP to a phone that may well accept only that when the caller
 * encrypts, RTP/AVP when not. A contact that refuses the profile for its
 * media (488; 415 or 406 naming it) is offered the other one once, in a
 * retry of its INVITE (fork_reoffer); the other forks do not notice. Each
 * fork keeps which of the two offers it carries, and its answer is taken
 * against that one (sip__call_use_fork_offer).
 *
 * Codecs: an offer lists rtp.codecs with the codec this leg already uses
 * (before it has one: the caller leg's, taken when the call is placed)
 * first, so that the phone can keep it and the bridge relays packets
 * instead of transcoding them; an answer takes the first of rtp.codecs
 * that the offer has.
 *
 * This file makes sessions (incoming INVITE, outgoing forks) and speaks to
 * the channel core; chan_sip_sess.c has what happens inside their dialogs
 * and chan_sip_util.c the stateless helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chan_sip.h"
#include "pbx/chan.h"
#include "pbx/cli.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"
#include "pbx/transfer.h"
#include "pbx/devstate.h"
#include "sip_build.h"
#include "sip_calls.h"
#include "sip_registrar.h"
#include "sip_stack.h"
#include "sip_tsx.h"
#include "sip_uri.h"

struct chan_sip sip__cs;

static const struct pbx_chan_tech sip_tech;

/* A fork is over without an answer for the call. */
static void fork_failed(struct sip_sess *f, int cause)
{
	struct sip_call *call = f->call;
	f->state = SIP_SESS_ENDED;
	if (!call) {
		sip__sess_free(f);
		return;
	}
	if (sip__cause_rank(cause) > sip__cause_rank(call->cause))
		call->cause = cause;
	sip__sess_free(f);
	if (!call->sessions && !call->sess && !call->ended) {
		pbx_info("%s: every contact failed (cause %d)", call->ch->name, call->cause);
		sip__call_remote_end(call, call->cause ? call->cause : PBX_CAUSE_UNAVAILABLE);
	}
}

static void fork_provisional(struct sip_sess *f, const struct sip_msg *resp, uint16_t code)
{
	struct sip_call *call = f->call;
	f->provisional = true;
	if (!call || f->cancel_wanted) {
		sip__fork_cancel(f, f->cancel_cause);
		return;
	}
	if (code == 100 || call->ended || call->sess)
		return;
	struct sip_addr to;
	if (!sip_msg_to(resp, &to) && to.tag.l)
		(void)sip_dialog_uac_response(&f->dlg, resp); /* the early dialog */
	if (resp->body.l && !call->early) {
		/* Early media (183, or a 180 with SDP): the first fork that
		 * gives it is heard; the others only ring. */
		struct sdp_choice ch;
		const char *why = NULL;
		int err = sip__call_use_fork_offer(call, f);
		if (!err)
			err = sip__call_take_answer(call, resp, &ch, &why);
		if (!err) {
			sip__call_apply(call, f, &ch);
			call->early = f;
			pbx_chan_set_state(call->ch, PBX_CHAN_PROGRESS);
			return;
		}
		pbx_notice("%s: early media SDP refused (%s)", call->ch->name,
			   why ? why : strerror(err));
	}
	if (call->ch->state == PBX_CHAN_DIALING || call->ch->state == PBX_CHAN_DOWN)
		pbx_chan_set_state(call->ch, PBX_CHAN_RINGING);
}

/* A 2xx for fork @p f that is not wanted (another won, or the call is
 * gone): ACK it and BYE it, then keep it a while to ACK retransmissions. */
static void fork_unwanted_2xx(struct sip_sess *f, const struct sip_msg *resp, int cause)
{
	sip__sess_ack(f, resp->cseq_num, NULL);
	f->state = SIP_SESS_CONFIRMED;
	sip__sess_bye(f, cause);
	sip__sess_linger(f, SIP_TIMER_64T1);
}

/* Another dialog forked from our INVITE further on (a different To tag). */
static void stray_2xx(struct sip_sess *f, const struct sip_msg *resp)
{
	struct sip_sess *y = sip__sess_new(NULL);
	if (!y)
		return;
	if (sip_dialog_from_2xx(&y->dlg, resp, &f->dlg.peer)) {
		sip__sess_free(y);
		return;
	}
	memcpy(y->local, f->local, sizeof y->local);
	memcpy(y->contact, f->contact, sizeof y->contact);
	fork_unwanted_2xx(y, resp, CAUSE_ANSWERED_ELSEWHERE);
}

static void fork_2xx(struct sip_sess *f, const struct sip_msg *resp)
{
	struct sip_call *call = f->call;
	if (f->final) {
		/* A retransmission (our ACK was lost), or a 2xx of a second
		 * dialog from a forking proxy on the way. */
		struct sip_addr to;
		if (!sip_msg_to(resp, &to) && f->dlg.remote_tag &&
		    (to.tag.l != strlen(f->dlg.remote_tag) ||
		     memcmp(to.tag.p, f->dlg.remote_tag, to.tag.l))) {
			stray_2xx(f, resp);
			return;
		}
		if (f->ack && f->ack_cseq == resp->cseq_num)
			(void)sip_transport_send(sip__cs.s->tp, &f->dlg.peer, f->ack, f->ack_len);
		return;
	}
	f->final = resp->status;
	int err = sip_dialog_uac_response(&f->dlg, resp);
	if (err == EEXIST) { /* its early dialog had another tag */
		f->final = 0;
		stray_2xx(f, resp);
		return;
	}
	if (err) {
		pbx_notice("sip: unusable 2xx in %s (%s)", f->dlg.call_id, strerror(err));
		/* Nothing to send the ACK or BYE to (no Contact): let it time out. */
		fork_failed(f, PBX_CAUSE_FAILURE);
		return;
	}
	if (!call || call->ended) { /* crossed our CANCEL: say why we hang up */
		fork_unwanted_2xx(f, resp, f->cancel_cause ? f->cancel_cause : PBX_CAUSE_NORMAL);
		return;
	}
	if (call->sess && call->sess != f) {
		fork_unwanted_2xx(f, resp, CAUSE_ANSWERED_ELSEWHERE);
		return;
	}
	/* The winner. Its SDP answers the offer it was sent (plain or
	 * SRTP), unless a 183 of it did. */
	struct sdp_choice ch;
	const char *why = NULL;
	err = sip__call_use_fork_offer(call, f);
	if (!err)
		err = resp->body.l       ? sip__call_take_answer(call, resp, &ch, &why)
		      : call->early == f ? 0
					 : EPROTO;
	sip__sess_ack(f, resp->cseq_num, NULL);
	f->state = SIP_SESS_CONFIRMED;
	if (err) {
		pbx_notice("%s: answered without a usable SDP answer (%s)", call->ch->name,
			   why             ? why
			   : err == EPROTO ? "none"
					   : strerror(err));
		sip__sess_bye(f, PBX_CAUSE_INCOMPATIBLE);
		fork_failed(f, PBX_CAUSE_INCOMPATIBLE);
		return;
	}
	if (resp->body.l)
		sip__call_apply(call, f, &ch);
	call->sess = f;
	sip__call_drop_fork_offers(call);
	sip__se_uac(f, resp);
	/* The others lose: CANCEL them (RFC 3261 9.1 timing applies). */
	for (struct sip_sess *g = call->sessions, *next; g; g = next) {
		next = g->next;
		if (g != f)
			sip__sess_hangup(g, CAUSE_ANSWERED_ELSEWHERE);
	}
	if (call->want != PBX_DIR_SENDRECV)
		sip__reinvite(f, false); /* the bridged leg went on hold while this one rang */
	pbx_info("%s: answered by %s", call->ch->name, f->dlg.remote_target);
	pbx_chan_set_state(call->ch, PBX_CHAN_UP);
}

static int fork_invite(struct sip_sess *f);

/* The Request-URI of fork @p f's INVITE, from the text we sent. 0 or EINVAL. */
static int fork_ruri(const struct sip_sess *f, char *buf, size_t len)
{
	const char *end = f->inv_text + f->inv_len;
	const char *p = f->inv_text ? memchr(f->inv_text, ' ', f->inv_len) : NULL;
	const char *q = p ? memchr(p + 1, ' ', (size_t)(end - p - 1)) : NULL;
	if (!q || (size_t)(q - p - 1) >= len)
		return EINVAL;
	memcpy(buf, p + 1, (size_t)(q - p - 1));
	buf[q - p - 1] = '\0';
	return 0;
}

/*
 * The contact of fork @p f refused the media of our offer: offer it the
 * other profile, once, in a new INVITE that replaces @p f (RFC 3261
 * 8.1.3.5: same Call-ID, From and To tags, CSeq one higher, a new
 * transaction). The other forks and the dial's timer go on untouched;
 * the call never looks failed meanwhile, since the new fork joins it
 * before @p f leaves. Returns 0 (@p f is freed), or an errno with @p f
 * still attached for fork_failed (its dialog may be unlinked: it is over).
 */
static int fork_reoffer(struct sip_sess *f, uint16_t code)
{
	struct sip_call *call = f->call;
	char ruri[512];
	const char *sdp;
	int err;
	if ((err = fork_ruri(f, ruri, sizeof ruri)))
		return err;
	/* Built before anything changes, so a failure leaves f whole. */
	if ((err = sip__call_fork_offer(call, !f->srtp_offer, &sdp)))
		return err;
	struct sip_sess *g = sip__sess_new(call);
	if (!g)
		return ENOMEM;
	memcpy(g->local, f->local, sizeof g->local);
	memcpy(g->contact, f->contact, sizeof g->contact);
	g->srtp_offer = !f->srtp_offer;
	g->reoffered = true;
	err = sip_dialog_uac_init(&g->dlg, f->dlg.call_id, f->dlg.local_tag, f->dlg.local_uri,
				  f->dlg.remote_uri, ruri, f->dlg.local_cseq + 1, &f->dlg.peer);
	/* Same Call-ID and tag: only one of the two may be in the table. */
	sip_dialog_unlink(&f->dlg);
	if (!err)
		err = sip__sess_link(g);
	if (!err)
		err = fork_invite(g);
	if (err) {
		sip__sess_free(g);
		return err;
	}
	pbx_info("%s: %s refused %s with %u; offering it %s", call->ch->name, ruri,
		 f->srtp_offer ? "RTP/SAVP" : "RTP/AVP", code,
		 g->srtp_offer ? "RTP/SAVP" : "RTP/AVP");
	sip__sess_free(f);
	return 0;
}

static void fork_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct sip_sess *f = sip__sess_of(arg);
	if (!f)
		return; /* gone: a late response, nothing to do */
	if (code < 200) {
		fork_provisional(f, resp, code);
		return;
	}
	if (code < 300) {
		fork_2xx(f, resp);
		return;
	}
	/* A final failure; the transaction has ACKed it. */
	f->final = code;
	struct sip_call *call = f->call;
	if (call)
		pbx_debug("%s: fork %s failed: %u", call->ch->name, f->dlg.remote_target, code);
	if (call && !call->ended && !call->sess && !f->cancel_wanted && !f->cancel_sent &&
	    sip__reoffer_wanted(call->srtp, f->reoffered, resp, code)) {
		int err = fork_reoffer(f, code);
		if (!err)
			return;
		pbx_notice("%s: cannot re-offer %s: %s", call->ch->name, f->dlg.remote_target,
			   strerror(err));
	}
	fork_failed(f, sip__code_to_cause(code, resp == NULL));
}

/* Send the INVITE of fork @p f. */
static int fork_invite(struct sip_sess *f)
{
	char branch[SIP_TSX_BRANCH_SIZE];
	struct sip_ctsx *c;
	const char *sdp;
	int err = sip__call_fork_offer(f->call, f->srtp_offer, &sdp);
	if (err)
		return err;
	pbx_buf_reset(&sip__cs.hdrs);
	sip__put_caps(&sip__cs.hdrs);
	if (f->call->referred_by)
		pbx_buf_printf(&sip__cs.hdrs, "Referred-By: %s\r\n", f->call->referred_by);
	sip_tsx_branch(branch, sizeof branch);
	struct sip_dialog_req r = {.method = "INVITE",
				   .cseq = f->dlg.local_cseq,
				   .local = f->local,
				   .branch = branch,
				   .contact = f->contact,
				   .extra = sip__cs.hdrs.data,
				   .body_type = SDP_TYPE,
				   .body = sdp};
	err = sip_dialog_build(&sip__cs.out, &f->dlg, &r, &f->inv_cseq);
	if (err)
		return err;
	f->inv_text = malloc(sip__cs.out.len);
	if (!f->inv_text)
		return ENOMEM;
	memcpy(f->inv_text, sip__cs.out.data, sip__cs.out.len);
	f->inv_len = sip__cs.out.len;
	return sip_ctsx_alloc(&c, sip__cs.s->tsx, sip__cs.out.data, sip__cs.out.len, &f->dlg.peer,
			      fork_resp, ID_ARG(f));
}

static void handle_cancel(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t, struct sip_stsx *inv)
{
	struct sip_sess *x = sip_stsx_tu(inv);
	if (!x) {
		sip__reply_481(s, m, src, t);
		return;
	}
	/* RFC 3261 9.2: 200 to the CANCEL, with the To tag of our responses. */
	if (!sip_build_response(&s->out, m, src, 200, NULL, x->dlg.local_tag, NULL, NULL, NULL))
		(void)sip_stsx_reply(t, 200, s->out.data, s->out.len);
	sip__sess_reply(x, 487, NULL, NULL, NULL);
	struct sip_call *call = x->call;
	if (call) {
		pbx_info("%s: CANCEL from the caller", call->ch->name);
		x->state = SIP_SESS_ENDED;
		sip__call_remote_end(call, PBX_CAUSE_CANCEL);
	} else {
		sip__sess_free(x);
	}
}

/* The display name of From, unquoted, into @p buf ("" when none). */
static void from_display(const struct sip_msg *m, char *buf, size_t len)
{
	struct sip_addr a;
	buf[0] = '\0';
	if (sip_msg_from(m, &a) || !a.dname.l)
		return;
	if (a.dname_quoted)
		(void)sip_pl_unquote(a.dname, buf, len);
	else
		(void)sip_pl_strcpy(a.dname, buf, len);
}

/* Reject an INVITE answered by nobody else yet, before a call exists. */
static void invite_reject(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t, uint16_t code, const char *reason, const char *extra)
{
	sip_stack_reply(s, t, m, src, code, reason, extra, NULL, NULL);
}

/* An INVITE with Replaces (RFC 3891): answered, and in the place of the call it names. */
static void replace_call(struct pbx_chan *ch, struct pbx_chan *old)
{
	pbx_chan_ref(ch);
	int err = pbx_chan_answer(ch);
	if (!err)
		err = pbx_transfer_replace(old, ch);
	if (err) {
		pbx_notice("%s: cannot replace %s: %s", ch->name, old->name, strerror(err));
		pbx_chan_hangup(ch, PBX_CAUSE_FAILURE);
	}
	pbx_chan_unref(ch);
}

static void handle_invite(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			  struct sip_stsx *t)
{
	struct sip_addr to;
	struct pbx_user u;
	struct sip_uri ruri;
	char exten[80], se[128], extra[256], tag[TAG_SIZE];
	struct sdp_session *offer = NULL;
	struct sdp_choice choice;
	const char *why;
	int err;

	if (!sip_msg_to(m, &to) && to.tag.l) {
		sip__reply_481(s, m, src, t); /* a re-INVITE for a dialog we do not have */
		return;
	}
	if (sip_stack_authenticate(s, m, src, t, &u))
		return;
	/* The phone stops retransmitting; everything below may take a while
	 * (the dialplan runs before we return). */
	sip_stack_reply(s, t, m, src, 100, NULL, NULL, NULL, NULL);
	struct sip_sess *replaced;
	uint16_t rcode = (uint16_t)sip__replaces_take(m, &replaced, &why);
	if (rcode) {
		invite_reject(s, m, src, t, rcode, why, NULL);
		return;
	}
	if (pbx_stopping()) {
		invite_reject(s, m, src, t, 503, "Shutting down", "Retry-After: 60\r\n");
		return;
	}
	/* The dialled extension: the Request-URI user, "s" when none (as Asterisk). */
	size_t n = 0;
	if (sip_uri_parse(&ruri, m->ruri) || !ruri.user.l)
		snprintf(exten, sizeof exten, "s");
	else if (sip_uri_unescape(ruri.user, exten, sizeof exten, &n) || strlen(exten) != n) {
		invite_reject(s, m, src, t, 404, "Bad Request-URI user", NULL);
		return;
	}
	if (sip__se_uas(NULL, m, se, sizeof se) == 422) {
		invite_reject(s, m, src, t, 422, "Session Interval Too Small", se);
		return;
	}
	err = sip__body_sdp(m, &offer, &why);
	if (err == EPROTONOSUPPORT) {
		invite_reject(s, m, src, t, 415, NULL, "Accept: " SDP_TYPE "\r\n");
		return;
	}
	if (err == EBADMSG) {
		char reason[128];
		snprintf(reason, sizeof reason, "Bad SDP: %s", why ? why : "malformed");
		invite_reject(s, m, src, t, 400, reason, NULL);
		return;
	}
	if (err && err != ENOENT) {
		invite_reject(s, m, src, t, 500, NULL, NULL);
		return;
	}
	/* The caller's SRTP policy rules this leg: its offer and our re-offers. */
	enum sdp_srtp policy = sip__srtp_policy(u.srtp);
	if (offer) {
		struct sdp_prefs prefs;
		sip__prefs_init(&prefs, PBX_DIR_SENDRECV);
		prefs.srtp = policy;
		if (sdp_negotiate_offer(offer, &prefs, &choice)) {
			const char *reason;
			uint16_t code =
				sip__offer_refusal(&choice, policy, &reason, extra, sizeof extra);
			pbx_notice("sip: call from %s refused: %s", u.ext,
				   choice.why ? choice.why : "no common codec");
			free(offer);
			invite_reject(s, m, src, t, code, reason, extra);
			return;
		}
	}

	struct sip_call *call = calloc(1, sizeof *call);
	struct sip_sess *x = call ? sip__sess_new(call) : NULL;
	struct pbx_chan *ch = NULL;
	uint16_t fail = 500;
	const char *fail_why = NULL;
	if (!x)
		goto fail;
	call->sess = x;
	call->want = call->remote_dir = PBX_DIR_SENDRECV;
	call->srtp = policy;
	sip__random_u64(&call->sdp_id);
	call->sdp_id &= 0x7fffffffffffffffULL; /* fits the "digits" of o= comfortably */
	call->sdp_ver = 1;
	sip_random_token(tag, sizeof tag);
	if ((err = sip_dialog_uas_init(&x->dlg, m, src, tag))) {
		fail = 400;
		fail_why = err == EINVAL ? "Bad Contact, From, To or Record-Route" : NULL;
		goto fail;
	}
	if (sip__sess_set_peer(x, src) || sip__hostport_sa(x->local, &call->media))
		goto fail;
	/* Keep the INVITE: every later response is built from it. */
	x->inv_buf = malloc(m->len + 1);
	x->inv = malloc(sizeof *x->inv);
	if (!x->inv_buf || !x->inv)
		goto fail;
	memcpy(x->inv_buf, m->buf, m->len);
	x->inv_buf[m->len] = '\0';
	const char *reason;
	if (sip_msg_parse(x->inv, x->inv_buf, m->len, &reason))
		goto fail;
	x->inv_src = *src;
	x->inv_t = t;
	sip_stsx_set_tu(t, x);
	if (pbx_chan_alloc(&ch, &sip_tech, u.ext, false))
		goto fail;
	ch->tech_pvt = call;
	call->ch = ch;
	/* Media events go to the channel core (the channel is their argument). */
	if ((err = pbx_rtp_alloc(&call->rtp, (const struct sockaddr *)&call->media, NULL,
				 pbx_chan_rtp_events(), ch))) {
		pbx_warning("sip: no media session for a call from %s: %s", u.ext, strerror(err));
		fail = 503;
		goto fail;
	}
	ch->rtp = call->rtp;
	snprintf(ch->caller_num, sizeof ch->caller_num, "%s", u.ext);
	if (u.name[0])
		snprintf(ch->caller_name, sizeof ch->caller_name, "%s", u.name);
	else
		from_display(m, ch->caller_name, sizeof ch->caller_name);
	snprintf(ch->exten, sizeof ch->exten, "%s", exten);
	snprintf(ch->context, sizeof ch->context, "%s", u.context[0] ? u.context : "default");
	if (sip__sess_link(x))
		goto fail;
	if (offer) {
		if (sip__call_answer_keys(call, &choice)) {
			fail = 500;
			goto fail;
		}
		sip__call_apply(call, x, &choice);
		call->remote_dir = choice.remote_dir;
		free(offer);
		offer = NULL;
	}
	pbx_chan_set_state(ch, PBX_CHAN_RING);
	pbx_info("%s: call from %s to %s@%s", ch->name, u.ext, ch->exten, ch->context);
	if (replaced) {
		replace_call(ch, replaced->call->ch);
		return;
	}

	/* The dialplan may answer, bridge or hang up before this returns. */
	pbx_chan_ref(ch);
	err = pbx_chan_start_pbx(ch);
	if (err && !call->ended) {
		pbx_notice("%s: cannot start the dialplan: %s", ch->name, strerror(err));
		sip__call_remote_end(call, err == EBUSY ? PBX_CAUSE_CONGESTION : PBX_CAUSE_FAILURE);
	}
	pbx_chan_unref(ch);
	return;

fail:
	free(offer);
	if (x && x->inv_t) {
		sip__sess_reply(x, fail, fail_why, NULL, NULL);
	} else {
		invite_reject(s, m, src, t, fail, fail_why, NULL);
		if (x)
			sip_stsx_set_tu(t, NULL);
	}
	if (ch) {
		sip__call_teardown(call, PBX_CAUSE_FAILURE);
		pbx_chan_remote_hangup(ch, PBX_CAUSE_FAILURE);
		sip__call_release(call); /* destroy frees call and its media */
		return;
	}
	if (x)
		sip__sess_free(x);
	if (call && call->rtp)
		pbx_rtp_free(call->rtp);
	free(call);
}

struct target {
	char ruri[512];
	struct sip_peer peer;
};

/* "sip:user@1.2.3.4[:port][;transport=tcp]": one target, numeric hosts only. */
static int uri_target(const char *dest, struct target *tg, char *to, size_t tolen, char *peer_name,
		      size_t pnlen)
{
	struct sip_uri u;
	struct sip_pl tp;
	char host[64];
	if (sip_uri_parse(&u, sip_pl_str(dest)) || u.scheme == SIP_URI_TEL || !u.host.l ||
	    sip_pl_strcpy(u.host, host, sizeof host) || strlen(dest) >= sizeof tg->ruri)
		return EINVAL;
	memset(&tg->peer, 0, sizeof tg->peer);
	tg->peer.tp = u.scheme == SIP_URI_SIPS ? PBX_TP_TLS : PBX_TP_UDP;
	if (!sip_uri_param(&u, "transport", &tp))
		tg->peer.tp = !sip_pl_casecmp_str(tp, "tcp")   ? PBX_TP_TCP
			      : !sip_pl_casecmp_str(tp, "tls") ? PBX_TP_TLS
							       : PBX_TP_UDP;
	uint16_t port = u.has_port ? u.port : tg->peer.tp == PBX_TP_TLS ? 5061 : 5060;
	if (u.host_ipv6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&tg->peer.addr;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return EINVAL;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&tg->peer.addr;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			/* RFC 3263 lookups are not implemented yet; they need an
			 * asynchronous resolver off the signalling thread. */
			pbx_notice("sip: cannot call %s: host names are not resolved yet, use an "
				   "IP address",
				   dest);
			return ENOENT;
		}
	}
	snprintf(tg->ruri, sizeof tg->ruri, "%s", dest);
	snprintf(to, tolen, "<%s>", dest);
	/* Channel names are short: "SIP/bob@192.0.2.7-0000002a". */
	int ul = u.user.l < 20 ? (int)u.user.l : 20;
	snprintf(peer_name, pnlen, "%.*s%s%.40s", ul, u.user.p, ul ? "@" : "", host);
	return 0;
}

static void call_destroy_partial(struct sip_call *call);

static int tech_request(struct pbx_chan **chp, const char *dest, struct pbx_chan *requester)
{
	struct sip_stack *s = sip__cs.s;
	struct target tg[MAX_FORKS];
	char to[600], peer_name[64], exten[PBX_EXT_MAX + 1] = "";
	int n = 0, err;
	if (!s)
		return ENOENT;
	/* The callee's SRTP policy; a URI (no user of ours) gets the default.
	 * An optional callee is first offered what the caller's leg uses. */
	enum sdp_srtp policy = sip__srtp_policy(pbx_media_config(pbx_cfg())->srtp);
	if (!strncasecmp(dest, "sip:", 4) || !strncasecmp(dest, "sips:", 5)) {
		if ((err = uri_target(dest, &tg[0], to, sizeof to, peer_name, sizeof peer_name)))
			return err;
		struct sip_uri u;
		if (sip_uri_parse(&u, sip_pl_str(dest)) ||
		    sip_uri_unescape(u.user, exten, sizeof exten, NULL))
			exten[0] = '\0';
		n = 1;
	} else {
		if (pbx_user_check_ext(dest))
			return EINVAL;
		struct pbx_user callee;
		if (!pbx_user_find(pbx_dir(), dest, &callee))
			policy = sip__srtp_policy(callee.srtp);
		const struct sip_aor *aor = sip_registrar_find(s->reg, dest);
		for (const struct sip_binding *b = aor ? aor->bindings : NULL; b && n < MAX_FORKS;
		     b = b->next, n++) {
			struct target *t = &tg[n];
			snprintf(t->ruri, sizeof t->ruri, "%s", b->contact);
			t->peer = b->src;
		}
		if (!n)
			return ENOENT; /* not registered: CHANUNAVAIL */
		snprintf(to, sizeof to, "<sip:%s@%s>", dest, s->cfg->domain);
		snprintf(peer_name, sizeof peer_name, "%s", dest);
		snprintf(exten, sizeof exten, "%s", dest);
	}

	struct sip_call *call = calloc(1, sizeof *call);
	struct pbx_chan *ch;
	if (!call)
		return ENOMEM;
	if ((err = pbx_chan_alloc(&ch, &sip_tech, peer_name, true))) {
		free(call);
		return err;
	}
	ch->tech_pvt = call;
	call->ch = ch;
	call->outgoing = true;
	call->want = call->remote_dir = PBX_DIR_SENDRECV;
	call->srtp = policy;
	call->first_srtp =
		sip__offer_srtp(policy, requester && pbx_chan_media_encrypted(requester));
	sip__random_u64(&call->sdp_id);
	call->sdp_id &= 0x7fffffffffffffffULL;
	call->sdp_ver = 1;
	snprintf(ch->exten, sizeof ch->exten, "%s", exten);
	if (requester) {
		const struct pbx_rtp_params *rp =
			requester->rtp ? pbx_rtp_get_params(requester->rtp) : NULL;
		snprintf(ch->caller_num, sizeof ch->caller_num, "%s", requester->caller_num);
		snprintf(ch->caller_name, sizeof ch->caller_name, "%s", requester->caller_name);
		call->caller_codec = rp ? rp->codec : NULL;
		const char *by = pbx_chan_var_get(requester, "SIPREFERREDBYHDR");
		if (by && *by && !strpbrk(by, "\r\n"))
			call->referred_by = strdup(by);
	}

	char user[256], name[200], from[600];
	sip__user_escape(ch->caller_num[0] ? ch->caller_num : "anonymous", user, sizeof user);
	if (ch->caller_name[0]) {
		sip__quote_name(ch->caller_name, name, sizeof name);
		snprintf(from, sizeof from, "%s <sip:%s@%s>", name, user, s->cfg->domain);
	} else {
		snprintf(from, sizeof from, "<sip:%s@%s>", user, s->cfg->domain);
	}
	/* Newest contact first: the list is oldest first, and a phone that
	 * re-registered recently is the likeliest to answer; the order only
	 * matters for which INVITE leaves first. */
	for (int i = n - 1; i >= 0; i--) {
		char callid[CALLID_SIZE], tag[TAG_SIZE];
		struct sip_sess *f = sip__sess_new(call);
		if (!f) {
			err = ENOMEM;
			goto fail;
		}
		f->srtp_offer = call->first_srtp;
		sip_random_token(callid, sizeof callid);
		sip_random_token(tag, sizeof tag);
		if (sip__sess_set_peer(f, &tg[i].peer) ||
		    sip_dialog_uac_init(&f->dlg, callid, tag, from, to, tg[i].ruri, 1,
					&tg[i].peer) ||
		    sip__sess_link(f)) {
			sip__sess_free(f);
			continue;
		}
		if (!call->media.ss_family && sip__hostport_sa(f->local, &call->media)) {
			sip__sess_free(f);
			continue;
		}
	}
	if (!call->sessions) {
		err = ENOENT;
		goto fail;
	}
	if ((err = pbx_rtp_alloc(&call->rtp, (const struct sockaddr *)&call->media,
				 requester ? requester->rtp : NULL, pbx_chan_rtp_events(), ch)))
		goto fail;
	ch->rtp = call->rtp;
	*chp = ch;
	return 0;
fail:
	call_destroy_partial(call);
	return err;
}

/* Undo a request that failed: the channel was never given to anyone. */
static void call_destroy_partial(struct sip_call *call)
{
	struct pbx_chan *ch = call->ch;
	call->ended = true;
	while (call->sessions)
		sip__sess_free(call->sessions);
	pbx_chan_remote_hangup(ch, PBX_CAUSE_FAILURE);
	sip__call_release(call);
}

static int tech_call(struct pbx_chan *ch, int timeout_s)
{
	struct sip_call *call = ch->tech_pvt;
	int sent = 0;
	const char *sdp;
	if (!call->outgoing || call->ended)
		return EINVAL;
	if (sip__call_fork_offer(call, call->first_srtp, &sdp))
		return ENOMEM;
	for (struct sip_sess *f = call->sessions, *next; f; f = next) {
		next = f->next;
		int err = fork_invite(f);
		if (err) {
			pbx_notice("%s: INVITE to %s not sent: %s", ch->name, f->dlg.remote_target,
				   strerror(err));
			if (sip__cause_rank(PBX_CAUSE_UNAVAILABLE) > sip__cause_rank(call->cause))
				call->cause = PBX_CAUSE_UNAVAILABLE;
			sip__sess_free(f);
			continue;
		}
		sent++;
	}
	sip__kick();
	if (!sent)
		return EHOSTUNREACH; /* the owner hangs the channel up */
	pbx_chan_set_state(ch, PBX_CHAN_DIALING);
	return 0;
}

static int tech_answer(struct pbx_chan *ch)
{
	struct sip_call *call = ch->tech_pvt;
	struct sip_sess *x = call->sess;
	char se[128];
	int err;
	if (call->outgoing || call->ended || !x || !x->inv_t)
		return EINVAL;
	/* With an offer from the phone we answer it; without, we offer in the
	 * 2xx and the ACK brings the answer (RFC 3261 13.2.1). */
	bool offer_made = !call->have_choice;
	if (offer_made) {
		err = sip__call_offer(call, call->want);
	} else {
		struct sdp_session *offer;
		const char *why;
		err = sip__body_sdp(x->inv, &offer, &why);
		if (!err) {
			err = sip__call_answer_sdp(call, offer, &call->choice);
			free(offer);
		}
	}
	if (err)
		return err;
	(void)sip__se_uas(x, x->inv, se, sizeof se);
	err = sip__sess_reply(x, 200, NULL, se, sip__cs.sdp.data);
	if (err)
		return err;
	x->ok_offer = offer_made;
	x->state = SIP_SESS_CONFIRMED;
	x->dlg.confirmed = true;
	sip__se_arm(x);
	sip__kick();
	pbx_chan_set_state(ch, PBX_CHAN_UP);
	return 0;
}

static void tech_hangup(struct pbx_chan *ch, int cause)
{
	struct sip_call *call = ch->tech_pvt;
	if (!call)
		return;
	if (!call->ended)
		sip__call_teardown(call, cause);
	sip__call_release(call);
	sip__kick();
}

static int tech_indicate(struct pbx_chan *ch, enum pbx_indication ind)
{
	struct sip_call *call = ch->tech_pvt;
	struct sip_sess *x = call->sess;
	bool pending = !call->outgoing && !call->ended && x && x->inv_t;
	int err = 0;
	switch (ind) {
	case PBX_IND_RINGING:
		if (!pending)
			return call->outgoing ? ENOTSUP : 0;
		if (!x->ringing_sent) {
			x->ringing_sent = true;
			err = sip__sess_reply(x, 180, NULL, NULL, NULL);
		}
		break;
	case PBX_IND_PROGRESS:
		if (!pending)
			return call->outgoing ? ENOTSUP : 0;
		if (call->have_choice) {
			/* Early media: the answer goes in the 183 (and again in the 200). */
			struct sdp_session *offer;
			const char *why;
			err = sip__body_sdp(x->inv, &offer, &why);
			if (!err) {
				err = sip__call_answer_sdp(call, offer, &call->choice);
				free(offer);
			}
			if (!err)
				err = sip__sess_reply(x, 183, NULL, NULL, sip__cs.sdp.data);
		} else if (!x->ringing_sent) {
			/* No offer to answer: a 183 cannot offer without 100rel. */
			x->ringing_sent = true;
			err = sip__sess_reply(x, 180, NULL, NULL, NULL);
		}
		break;
	case PBX_IND_BUSY:
	case PBX_IND_CONGESTION:
		/* A final response ends the call, as Asterisk's chan_sip does. */
		if (!pending)
			return ENOTSUP;
		sip__call_remote_end(call,
				     ind == PBX_IND_BUSY ? PBX_CAUSE_BUSY : PBX_CAUSE_CONGESTION);
		break;
	case PBX_IND_HOLD:
	case PBX_IND_UNHOLD: break; /* music on hold is the core's business */
	}
	sip__kick();
	return err;
}

static int tech_send_dtmf(struct pbx_chan *ch, char digit, int duration_ms)
{
	struct sip_call *call = ch->tech_pvt;
	struct sip_sess *x = call->sess;
	char body[64];
	if (call->ended)
		return ENOTCONN;
	if (call->have_choice && call->choice.dtmf_pt)
		return pbx_rtp_send_dtmf(call->rtp, digit, duration_ms);
	/* No telephone-event negotiated: SIP INFO, as most phones accept. */
	if (!x || x->state != SIP_SESS_CONFIRMED)
		return ENOTCONN;
	snprintf(body, sizeof body, "Signal=%c\r\nDuration=%d\r\n", digit,
		 duration_ms > 0 ? duration_ms : 100);
	int err = sip__sess_send(x, "INFO", NULL, "application/dtmf-relay", body, NULL, NULL);
	sip__kick();
	return err;
}

static int tech_peer_media_changed(struct pbx_chan *ch, enum pbx_media_dir peer_dir)
{
	struct sip_call *call = ch->tech_pvt;
	if (call->ended || call->want == peer_dir)
		return 0;
	call->want = peer_dir;
	pbx_info("%s: %s the phone (bridged leg says %s)", ch->name,
		 peer_dir == PBX_DIR_SENDRECV ? "resuming" : "holding", sdp_dir_name(peer_dir));
	/* Early or not answered yet: the 2xx decides, then we re-INVITE. */
	if (call->sess && call->sess->state == SIP_SESS_CONFIRMED)
		sip__reinvite(call->sess, false);
	sip__kick();
	return 0;
}

static void tech_destroy(struct pbx_chan *ch)
{
	struct sip_call *call = ch->tech_pvt;
	if (!call)
		return;
	/* Sessions left at the last reference were already detached by the
	 * hangup; any still here never reached the wire. */
	while (call->sessions)
		sip__sess_free(call->sessions);
	if (call->rtp)
		pbx_rtp_free(call->rtp);
	ch->rtp = NULL;
	ch->tech_pvt = NULL;
	free(call->sdp_last);
	free(call->offer);
	free(call->referred_by);
	free(call->connected);
	sip__call_drop_fork_offers(call);
	free(call);
}

static void tech_describe(struct pbx_chan *ch, struct pbx_buf *out)
{
	struct sip_call *call = ch->tech_pvt;
	char addr[64];
	if (!call || !call->have_choice) {
		pbx_buf_puts(out, "no media yet");
		return;
	}
	pbx_buf_printf(out, "%s %s dtmf=%s %s", call->choice.codec->name,
		       pbx_sa_str((const struct sockaddr *)&call->choice.remote, addr, sizeof addr),
		       call->choice.dtmf_pt ? "rfc4733" : "info", sdp_dir_name(call->choice.dir));
	/* Which legs are encrypted, and how: the console's only view of it. */
	if (call->choice.srtp)
		pbx_buf_printf(out, " SRTP %s", sdp_suite_name(call->choice.crypto.suite));
	else
		pbx_buf_puts(out, " RTP");
}

/* The core's media events leave only this to the driver: a line gone silent ends with a BYE. */
static void tech_media_timeout(struct pbx_chan *ch)
{
	struct sip_call *call = ch->tech_pvt;
	if (!call || call->ended)
		return;
	pbx_notice("%s: no RTP for rtp.timeout seconds; hanging up", ch->name);
	sip__call_remote_end(call, PBX_CAUSE_FAILURE);
	sip__kick();
}

/* A phone that does not take UPDATE (405, 501) learns the new party from a re-INVITE. */
static void connected_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct sip_sess *x = sip__sess_of(arg);
	if (x && (code == 405 || code == 501))
		sip__reinvite(x, true);
}

/*
 * Connected line after a transfer: an UPDATE without a body naming the new
 * party in P-Asserted-Identity (our re-INVITEs carry it from now on too).
 */
static void tech_connected_line(struct pbx_chan *ch, const char *num, const char *name)
{
	struct sip_call *call = ch->tech_pvt;
	struct sip_sess *x = call->sess;
	if (call->ended || !x || x->state != SIP_SESS_CONFIRMED || !*num)
		return;
	char user[256], qname[200], line[600];
	struct pbx_user u;
	/* A called leg's party has no name of its own: its user's, when it is one. */
	if (!*name && !pbx_user_find(pbx_dir(), num, &u) && u.name[0])
		name = u.name;
	sip__user_escape(num, user, sizeof user);
	if (*name)
		sip__quote_name(name, qname, sizeof qname);
	snprintf(line, sizeof line, "P-Asserted-Identity: %s%s<sip:%s@%s>\r\n", *name ? qname : "",
		 *name ? " " : "", user, sip__cs.s->cfg->domain);
	char *copy = strdup(line);
	if (!copy)
		return;
	free(call->connected);
	call->connected = copy;
	pbx_info("%s: connected line now %s", ch->name, num);
	(void)sip__sess_send(x, "UPDATE", line, NULL, NULL, connected_resp, NULL);
	sip__kick();
}

static const struct pbx_chan_tech sip_tech = {
	.name = "SIP",
	.alias = "PJSIP",
	.request = tech_request,
	.call = tech_call,
	.answer = tech_answer,
	.hangup = tech_hangup,
	.indicate = tech_indicate,
	.send_dtmf = tech_send_dtmf,
	.peer_media_changed = tech_peer_media_changed,
	.destroy = tech_destroy,
	.describe = tech_describe,
	.media_timeout = tech_media_timeout,
	.connected_line = tech_connected_line,
	.transfer = sip__refer_send,
	.send_text = sip__text_send,
};

struct ringing_find {
	const char *devices;
	struct sip_ringing *r;
	bool found;
};

static int ringing_of(struct pbx_chan *ch, void *arg)
{
	struct ringing_find *f = arg;
	struct sip_call *call = ch->tech_pvt;
	char dev[96];
	if (ch->tech != &sip_tech || !call || !call->outgoing || call->ended || call->sess ||
	    (ch->state != PBX_CHAN_RINGING && ch->state != PBX_CHAN_PROGRESS))
		return 0;
	pbx_devstate_chan_device(ch, dev, sizeof dev);
	if (!pbx_devstate_in_list(f->devices, dev))
		return 0;
	/* A fork still ringing; one that answered, failed or is being
	 * cancelled cannot be picked up. */
	for (struct sip_sess *x = call->sessions; x; x = x->next) {
		struct sip_ringing *r = f->r;
		if (x->state != SIP_SESS_EARLY || !x->dlg.uac || x->final || x->cancel_sent ||
		    x->cancel_wanted || !x->dlg.remote_tag || !x->dlg.remote_tag[0])
			continue;
		if ((size_t)snprintf(r->call_id, sizeof r->call_id, "%s", x->dlg.call_id) >=
			    sizeof r->call_id ||
		    (size_t)snprintf(r->local_tag, sizeof r->local_tag, "%s", x->dlg.remote_tag) >=
			    sizeof r->local_tag ||
		    (size_t)snprintf(r->remote_tag, sizeof r->remote_tag, "%s", x->dlg.local_tag) >=
			    sizeof r->remote_tag)
			continue; /* too long to name here */
		snprintf(r->caller_num, sizeof r->caller_num, "%s", ch->caller_num);
		snprintf(r->caller_name, sizeof r->caller_name, "%s", ch->caller_name);
		f->found = true;
		return 1;
	}
	return 0;
}

int sip_calls_ringing(const char *devices, struct sip_ringing *r)
{
	struct ringing_find f = {devices, r, false};
	if (!sip__cs.s)
		return ENOENT;
	pbx_chan_each(ringing_of, &f);
	return f.found ? 0 : ENOENT;
}

static int show_dialogs(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	static const char *const st[] = {"early", "confirmed", "ended"};
	unsigned n = 0;
	char peer[96];
	pbx_cli_printf(cli, "%-34s %-9s %-4s %-26s %-24s %s\n", "Call-ID", "State", "Role", "Peer",
		       "Channel", "Remote target");
	for (size_t i = 0; i <= sip__cs.mask; i++)
		for (struct sip_sess *x = sip__cs.ids[i]; x; x = x->idnext) {
			if (!x->dlg.call_id)
				continue;
			n++;
			pbx_cli_printf(cli, "%-34.34s %-9s %-4s %-26s %-24s %s\n", x->dlg.call_id,
				       st[x->state], x->dlg.uac ? "UAC" : "UAS",
				       sip_peer_str(&x->dlg.peer, peer, sizeof peer),
				       x->call ? x->call->ch->name : "(detached)",
				       x->dlg.remote_target);
		}
	return pbx_cli_printf(cli, "%u dialog%s\n", n, n == 1 ? "" : "s");
}

static const struct pbx_cli_cmd cmd_dialogs = {"sip show dialogs", "list SIP call dialogs", NULL,
					       show_dialogs};

static int load(void)
{
	struct sip_stack *s = sip_stack_get();
	if (!s)
		return ENOENT;
	sip__cs.mask = 255;
	sip__cs.ids = calloc(sip__cs.mask + 1, sizeof *sip__cs.ids);
	if (!sip__cs.ids)
		return ENOMEM;
	pbx_buf_init(&sip__cs.out);
	pbx_buf_init(&sip__cs.hdrs);
	pbx_buf_init(&sip__cs.sdp);
	sip__cs.s = s;
	sip_stack_set_handler(s, SIP_METHOD_INVITE, handle_invite);
	sip_stack_set_handler(s, SIP_METHOD_BYE, sip__handle_no_dialog);
	sip_stack_set_handler(s, SIP_METHOD_INFO, sip__handle_no_dialog);
	sip_stack_set_handler(s, SIP_METHOD_UPDATE, sip__handle_no_dialog);
	sip_stack_set_handler(s, SIP_METHOD_REFER, sip__refer_no_dialog);
	sip_stack_set_cancel_handler(s, handle_cancel);
	pbx_cli_register(&cmd_dialogs);
	return pbx_chan_tech_register(&sip_tech);
}

static void unload(void)
{
	struct sip_stack *s = sip__cs.s;
	if (!s)
		return;
	pbx_chan_tech_unregister(&sip_tech);
	pbx_cli_unregister(&cmd_dialogs);
	sip__text_unload();
	sip_stack_set_cancel_handler(s, NULL);
	for (int m = SIP_METHOD_INVITE; m < SIP_METHOD__COUNT; m++)
		if (m == SIP_METHOD_INVITE || m == SIP_METHOD_BYE || m == SIP_METHOD_INFO ||
		    m == SIP_METHOD_UPDATE || m == SIP_METHOD_REFER)
			sip_stack_set_handler(s, (enum sip_method)m, NULL);
	/* Channels were hung up before the modules unload; what is left are
	 * detached sessions waiting for an ACK or a final response. */
	for (size_t i = 0; i <= sip__cs.mask; i++)
		while (sip__cs.ids[i])
			sip__sess_free(sip__cs.ids[i]);
	free(sip__cs.ids);
	pbx_buf_free(&sip__cs.out);
	pbx_buf_free(&sip__cs.hdrs);
	pbx_buf_free(&sip__cs.sdp);
	memset(&sip__cs, 0, sizeof sip__cs);
}

/* After the stack (10) and its commands (11). */
PBX_MODULE(chan_sip_module) = {"chan_sip", 12, load, unload};
