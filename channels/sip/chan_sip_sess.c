/**
 * @file chan_sip_sess.c  SIP call sessions: in-dialog requests, offer/answer, timers, teardown
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What happens to a call's INVITE dialog after it exists, whichever side
 * made it: the 2xx we repeat until its ACK (RFC 3261 13.3.1.4), the ACKs,
 * BYEs and CANCELs we send, re-INVITE and UPDATE from the phone (hold,
 * resume, a new offer or none), our own re-INVITEs with the glare back-off
 * of RFC 3261 14.1, session timers (RFC 4028), INFO DTMF, and the end of
 * a call on the wire. chan_sip.c makes the sessions (incoming INVITE,
 * outgoing forks) and speaks to the channel core for them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan_sip.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "sip_build.h"
#include "sip_stack.h"
#include "sip_tsx.h"

void sip__kick(void)
{
	if (sip__cs.s)
		sip_stack_timers_kick(sip__cs.s);
}

static struct sip_timers *timers(void)
{
	return &sip__cs.s->timers;
}

static struct sip_sess *sess_find(uint32_t id)
{
	for (struct sip_sess *x = sip__cs.ids[id & sip__cs.mask]; x; x = x->idnext)
		if (x->id == id)
			return x;
	return NULL;
}

struct sip_sess *sip__sess_of(void *arg)
{
	return sess_find((uint32_t)(uintptr_t)arg);
}

static void ids_grow(void)
{
	size_t nb = 2 * (sip__cs.mask + 1);
	struct sip_sess **b = calloc(nb, sizeof *b);
	if (!b)
		return; /* longer chains, nothing worse */
	for (size_t i = 0; i <= sip__cs.mask; i++)
		for (struct sip_sess *x = sip__cs.ids[i], *next; x; x = next) {
			next = x->idnext;
			x->idnext = b[x->id & (nb - 1)];
			b[x->id & (nb - 1)] = x;
		}
	free(sip__cs.ids);
	sip__cs.ids = b;
	sip__cs.mask = nb - 1;
}

struct sip_sess *sip__sess_new(struct sip_call *call)
{
	struct sip_sess *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	sip_dialog_init(&x->dlg);
	/* Ids wrap after 4 billion sessions; skip any still alive. */
	do
		x->id = ++sip__cs.last_id;
	while (!x->id || sess_find(x->id));
	if (sip__cs.n > sip__cs.mask)
		ids_grow();
	x->idnext = sip__cs.ids[x->id & sip__cs.mask];
	sip__cs.ids[x->id & sip__cs.mask] = x;
	sip__cs.n++;
	x->call = call;
	if (call) {
		x->next = call->sessions;
		call->sessions = x;
	}
	return x;
}

static void sess_detach(struct sip_sess *x)
{
	struct sip_call *call = x->call;
	if (!call)
		return;
	for (struct sip_sess **pp = &call->sessions; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (call->sess == x)
		call->sess = NULL;
	if (call->early == x)
		call->early = NULL;
	x->next = NULL;
	x->call = NULL;
}

void sip__sess_free(struct sip_sess *x)
{
	struct sip_timers *ts = timers();
	sess_detach(x);
	sip__refer_sess_gone(x);
	/* A pending INVITE transaction still names us as its TU; it must
	 * not outlive us unanswered. */
	if (x->inv_t)
		sip__sess_reply(x, 500, NULL, NULL, NULL);
	sip_timer_cancel(ts, &x->ok_retx);
	sip_timer_cancel(ts, &x->ok_giveup);
	sip_timer_cancel(ts, &x->re_retry);
	sip_timer_cancel(ts, &x->st);
	sip_timer_cancel(ts, &x->linger);
	sip_dialog_reset(&x->dlg);
	for (struct sip_sess **pp = &sip__cs.ids[x->id & sip__cs.mask]; *pp; pp = &(*pp)->idnext)
		if (*pp == x) {
			*pp = x->idnext;
			break;
		}
	sip__cs.n--;
	free(x->inv_buf);
	free(x->inv);
	free(x->inv_text);
	free(x->ok);
	free(x->ack);
	free(x);
}

static void linger_fire(struct sip_timer *t, void *arg)
{
	sip__sess_free(arg);
}

/* Detach and keep for @p ms, then free. */
void sip__sess_linger(struct sip_sess *x, uint64_t ms)
{
	sess_detach(x);
	if (sip_timer_start(timers(), &x->linger, ms, linger_fire, x))
		sip__sess_free(x);
}

/* Our address toward @p peer, and the Contact built on it. */
int sip__sess_set_peer(struct sip_sess *x, const struct sip_peer *peer)
{
	int err = sip_transport_local(sip__cs.s->tp, peer, x->local, sizeof x->local);
	if (err)
		return err;
	snprintf(x->contact, sizeof x->contact, "sip:pbx@%s%s%s", x->local,
		 peer->tp == PBX_TP_UDP ? "" : ";transport=",
		 peer->tp == PBX_TP_UDP ? "" : pbx_transport_name(peer->tp));
	return 0;
}

/*
 * The SDP of @p m in a new session (free it). ENOENT: no body;
 * EPROTONOSUPPORT: another content type (415); EBADMSG with *why (400);
 * ENOMEM.
 */
int sip__body_sdp(const struct sip_msg *m, struct sdp_session **sp, const char **why)
{
	*why = NULL;
	if (!m->body.l)
		return ENOENT;
	if (sip_pl_casecmp_str(sip__content_type(m), SDP_TYPE))
		return EPROTONOSUPPORT;
	struct sdp_session *sdp = malloc(sizeof *sdp);
	if (!sdp)
		return ENOMEM;
	if (sdp_parse(sdp, m->body.p, m->body.l, why)) {
		free(sdp);
		return EBADMSG;
	}
	*sp = sdp;
	return 0;
}

/* The Allow and Supported lines of everything we send that makes or refreshes a dialog. */
void sip__put_caps(struct pbx_buf *b)
{
	pbx_buf_printf(b, "Allow: %s\r\nSupported: timer\r\n", sip__cs.s->allow);
}

/* Build and send request @p method in @p x's dialog as a new client transaction. */
int sip__sess_send(struct sip_sess *x, const char *method, const char *extra, const char *type,
		   const char *body, sip_ctsx_resp_h *cb, uint32_t *cseq)
{
	return sip__sess_send_arg(x, method, extra, type, body, cb, cb ? ID_ARG(x) : NULL, cseq);
}

/* One request in @p x's dialog; *tp (may be NULL) gets its transaction. */
static int sess_send(struct sip_sess *x, const char *method, const char *extra, const char *type,
		     const void *body, size_t len, sip_ctsx_resp_h *cb, void *arg, uint32_t *cseq,
		     struct sip_ctsx **tp)
{
	char branch[SIP_TSX_BRANCH_SIZE];
	struct sip_ctsx *c;
	bool refresh = !strcmp(method, "INVITE") || !strcmp(method, "UPDATE");
	sip_tsx_branch(branch, sizeof branch);
	struct sip_dialog_req r = {.method = method,
				   .local = x->local,
				   .branch = branch,
				   .contact = refresh ? x->contact : NULL,
				   .extra = extra,
				   .body_type = body ? type : NULL,
				   .body = body,
				   .body_len = len};
	int err = sip_dialog_build(&sip__cs.out, &x->dlg, &r, cseq);
	if (!err)
		err = sip_ctsx_alloc(tp ? tp : &c, sip__cs.s->tsx, sip__cs.out.data,
				     sip__cs.out.len, &x->dlg.peer, cb, arg);
	if (err)
		pbx_warning("sip: cannot send %s in dialog %s: %s", method, x->dlg.call_id,
			    strerror(err));
	return err;
}

int sip__sess_send_arg(struct sip_sess *x, const char *method, const char *extra, const char *type,
		       const char *body, sip_ctsx_resp_h *cb, void *arg, uint32_t *cseq)
{
	return sess_send(x, method, extra, type, body, 0, cb, arg, cseq, NULL);
}

int sip__sess_send_body(struct sip_sess *x, const char *method, const char *type, const void *body,
			size_t len, sip_ctsx_resp_h *cb, void *arg, struct sip_ctsx **tp)
{
	return sess_send(x, method, NULL, type, body, len, cb, arg, NULL, tp);
}

/* ACK a 2xx (RFC 3261 13.2.2.4); kept to answer its retransmissions. */
void sip__sess_ack(struct sip_sess *x, uint32_t cseq, const char *body)
{
	char branch[SIP_TSX_BRANCH_SIZE];
	sip_tsx_branch(branch, sizeof branch);
	struct sip_dialog_req r = {.method = "ACK",
				   .cseq = cseq,
				   .local = x->local,
				   .branch = branch,
				   .body_type = body ? SDP_TYPE : NULL,
				   .body = body};
	if (sip_dialog_build(&sip__cs.out, &x->dlg, &r, NULL))
		return;
	char *copy = malloc(sip__cs.out.len);
	if (copy) {
		memcpy(copy, sip__cs.out.data, sip__cs.out.len);
		free(x->ack);
		x->ack = copy;
		x->ack_len = sip__cs.out.len;
		x->ack_cseq = cseq;
	}
	(void)sip_transport_send(sip__cs.s->tp, &x->dlg.peer, sip__cs.out.data, sip__cs.out.len);
}

static void ok_stop(struct sip_sess *x);

/* End a confirmed dialog from our side. The session is then only waiting to be freed. */
void sip__sess_bye(struct sip_sess *x, int cause)
{
	char reason[96];
	if (x->state == SIP_SESS_ENDED)
		return;
	sip__reason_hdr(cause, reason, sizeof reason);
	sip__refer_flush(x); /* a transfer's last NOTIFYs go before the BYE that ends the dialog */
	(void)sip__sess_send(x, "BYE", reason, NULL, NULL, NULL, NULL);
	x->state = SIP_SESS_ENDED;
	ok_stop(x);
	sip_timer_cancel(timers(), &x->st);
	sip_timer_cancel(timers(), &x->re_retry);
}

/* Header lines of a response that makes the dialog (101-299): RFC 3261 12.1.1. */
static void dialog_hdrs(struct sip_sess *x, struct pbx_buf *b)
{
	pbx_buf_printf(b, "Contact: <%s>\r\n", x->contact);
	for (unsigned i = 0; i < x->dlg.nroute; i++)
		pbx_buf_printf(b, "Record-Route: %s\r\n", x->dlg.route[i]);
	sip__put_caps(b);
}

static void ok_start(struct sip_sess *x, const char *buf, size_t len, const struct sip_peer *dst,
		     uint32_t cseq, bool offer);

/* Answer the INVITE we keep (UAS). A 2xx is then repeated until its ACK. */
int sip__sess_reply(struct sip_sess *x, uint16_t code, const char *reason, const char *extra,
		    const char *body)
{
	struct sip_stack *s = sip__cs.s;
	if (!x->inv_t)
		return EALREADY;
	pbx_buf_reset(&sip__cs.hdrs);
	if (code > 100 && code < 300)
		dialog_hdrs(x, &sip__cs.hdrs);
	if (extra)
		pbx_buf_puts(&sip__cs.hdrs, extra);
	int err = sip_build_response(&s->out, x->inv, &x->inv_src, code, reason, x->dlg.local_tag,
				     sip__cs.hdrs.data, body ? SDP_TYPE : NULL, body);
	if (err)
		return err;
	s->stats.tx_resp++;
	err = sip_stsx_reply(x->inv_t, code, s->out.data, s->out.len);
	if (code >= 200) {
		x->inv_t = NULL; /* no longer ours to use */
		if (code < 300) {
			struct sip_peer dst;
			sip_response_peer(x->inv, &x->inv_src, &dst);
			ok_start(x, s->out.data, s->out.len, &dst, x->inv->cseq_num, false);
		}
	}
	return err == EINVAL ? err : 0; /* a send error is recovered by retransmission */
}

static void ok_stop(struct sip_sess *x)
{
	sip_timer_cancel(timers(), &x->ok_retx);
	sip_timer_cancel(timers(), &x->ok_giveup);
	free(x->ok);
	x->ok = NULL;
	x->ok_len = 0;
	x->ok_offer = false;
}

static void ok_retx_fire(struct sip_timer *t, void *arg)
{
	struct sip_sess *x = arg;
	(void)sip_transport_send(sip__cs.s->tp, &x->ok_dst, x->ok, x->ok_len);
	x->ok_interval = x->ok_interval * 2 < SIP_T2 ? x->ok_interval * 2 : SIP_T2;
	(void)sip_timer_start(timers(), &x->ok_retx, x->ok_interval, ok_retx_fire, x);
}

/* No ACK after 64*T1: the dialog is confirmed but the session is not (13.3.1.4). */
static void ok_giveup_fire(struct sip_timer *t, void *arg)
{
	struct sip_sess *x = arg;
	struct sip_call *call = x->call;
	pbx_notice("sip: no ACK for our 2xx in dialog %s; ending it", x->dlg.call_id);
	ok_stop(x);
	sip__sess_bye(x, PBX_CAUSE_FAILURE);
	if (call && call->sess == x)
		sip__call_remote_end(call, PBX_CAUSE_FAILURE);
	else
		sip__sess_free(x);
}

static void ok_start(struct sip_sess *x, const char *buf, size_t len, const struct sip_peer *dst,
		     uint32_t cseq, bool offer)
{
	ok_stop(x);
	x->ok = malloc(len);
	if (!x->ok)
		return; /* the 2xx went once; the phone's INVITE retransmissions get nothing */
	memcpy(x->ok, buf, len);
	x->ok_len = len;
	x->ok_dst = *dst;
	x->ok_cseq = cseq;
	x->ok_offer = offer;
	/* Retransmitted over UDP only: a stream does not lose it, and the
	 * give-up timer still ends a dialog whose ACK never comes. */
	if (!sip_transport_reliable(dst->tp)) {
		x->ok_interval = SIP_T1;
		(void)sip_timer_start(timers(), &x->ok_retx, SIP_T1, ok_retx_fire, x);
	}
	(void)sip_timer_start(timers(), &x->ok_giveup, SIP_TIMER_64T1, ok_giveup_fire, x);
}

void sip__prefs_init(struct sdp_prefs *p, enum pbx_media_dir dir)
{
	size_t n;
	p->codecs = pbx_media_codecs(pbx_cfg(), &n);
	p->ncodecs = (int)n;
	p->srtp = SDP_SRTP_OFF; /* the caller sets the user's policy */
	p->dir = dir;
}

/*
 * Write our SDP into sip__cs.sdp. The version goes up only when the body
 * changes (RFC 3264 8), so a session refresh repeats the same SDP.
 */
static int call_sdp(struct sip_call *call, struct sdp_build_spec *sp)
{
	sp->username = "pbx";
	sp->sess_name = "pbx";
	sp->sess_id = call->sdp_id;
	sp->sess_version = call->sdp_ver;
	sp->addr = (const struct sockaddr *)&call->media;
	sp->port = (uint16_t)pbx_rtp_port(call->rtp);
	pbx_buf_reset(&sip__cs.sdp);
	int err = sdp_build(&sip__cs.sdp, sp);
	if (!err && call->sdp_last && strcmp(sip__cs.sdp.data, call->sdp_last)) {
		sp->sess_version = ++call->sdp_ver;
		pbx_buf_reset(&sip__cs.sdp);
		err = sdp_build(&sip__cs.sdp, sp);
	}
	if (err)
		return err;
	char *copy = strdup(sip__cs.sdp.data);
	if (!copy)
		return ENOMEM;
	free(call->sdp_last);
	call->sdp_last = copy;
	return 0;
}

/* Our offer of profile @p srtp into sip__cs.sdp and call->offer, with fresh keys in call->keys. */
static int call_offer_build(struct sip_call *call, enum pbx_media_dir dir, bool srtp)
{
	const struct pbx_codec_desc *codecs[PBX_MEDIA_MAX_CODECS];
	size_t nours;
	const struct pbx_codec_desc *const *ours = pbx_media_codecs(pbx_cfg(), &nours);
	/* The codec in use (or, before an answer, the caller leg's) first:
	 * the phone can keep it, and the bridge relays without transcoding. */
	const struct pbx_codec_desc *first =
		call->have_choice ? call->choice.codec : call->caller_codec;
	struct sdp_build_spec sp = {.dir = dir,
				    .codecs = codecs,
				    .ncodecs = sdp_codecs_prefer(ours, (int)nours, first, codecs),
				    .dtmf_pt = DTMF_PT,
				    .proto = SDP_PROTO_RTP_AVP};
	call->nkeys = 0;
	if (srtp) {
		int n = sip__srtp_offer_keys(call->keys);
		if (n < 0)
			return -n;
		call->nkeys = n;
		sp.proto = SDP_PROTO_RTP_SAVP;
		sp.crypto = call->keys;
		sp.ncrypto = n;
	}
	int err = call_sdp(call, &sp);
	if (err)
		return err;
	free(call->offer);
	call->offer = strdup(sip__cs.sdp.data);
	return call->offer ? 0 : ENOMEM;
}

/*
 * Our offer into sip__cs.sdp, remembered until its answer. RTP/SAVP with
 * a fresh key per suite when the user's policy is mandatory, or when the
 * call is already encrypted (a hold must not fall back to plain RTP).
 * Otherwise plain RTP/AVP, never a best-effort offer (RTP/AVP with
 * a=crypto): it breaks phones that refuse unknown attributes or answer
 * the keys while sending plain RTP. An optional callee's first INVITE
 * follows the caller's leg instead (sip__call_fork_offer).
 */
int sip__call_offer(struct sip_call *call, enum pbx_media_dir dir)
{
	bool srtp = call->srtp == SDP_SRTP_MANDATORY ||
		    (call->srtp != SDP_SRTP_OFF && call->have_choice && call->choice.srtp);
	return call_offer_build(call, dir, srtp);
}

int sip__call_fork_offer(struct sip_call *call, bool srtp, const char **sdp)
{
	if (!call->fork_offer && !(call->fork_offer = calloc(2, sizeof *call->fork_offer)))
		return ENOMEM;
	struct sip_offer *o = &call->fork_offer[srtp];
	if (!o->sdp) {
		/* Sendrecv: a hold that came meanwhile is offered after the
		 * answer (fork_2xx), as for the first INVITE. */
		int err = call_offer_build(call, PBX_DIR_SENDRECV, srtp);
		if (err)
			return err;
		o->sdp = strdup(call->offer);
		if (!o->sdp)
			return ENOMEM;
		memcpy(o->keys, call->keys, sizeof o->keys);
		o->nkeys = call->nkeys;
	}
	*sdp = o->sdp;
	return 0;
}

void sip__call_drop_fork_offers(struct sip_call *call)
{
	if (!call->fork_offer)
		return;
	for (int i = 0; i < 2; i++)
		free(call->fork_offer[i].sdp);
	free(call->fork_offer);
	call->fork_offer = NULL;
}

int sip__call_use_fork_offer(struct sip_call *call, const struct sip_sess *f)
{
	const struct sip_offer *o = call->fork_offer ? &call->fork_offer[f->srtp_offer] : NULL;
	if (!o || !o->sdp)
		return EPROTO; /* never sent: cannot be answered */
	char *offer = strdup(o->sdp), *last = strdup(o->sdp);
	if (!offer || !last) {
		free(offer);
		free(last);
		return ENOMEM;
	}
	free(call->offer);
	call->offer = offer;
	/* What this phone saw last: a session refresh repeats it. The
	 * version only goes up, so a new offer still counts as newer. */
	free(call->sdp_last);
	call->sdp_last = last;
	memcpy(call->keys, o->keys, sizeof call->keys);
	call->nkeys = o->nkeys;
	return 0;
}

int sip__call_answer_sdp(struct sip_call *call, const struct sdp_session *offer,
			 const struct sdp_choice *ch)
{
	/* call->keys holds the key sip__call_answer_keys made for @p ch. */
	struct sdp_build_spec sp = {
		.offer = offer, .choice = ch, .crypto = call->keys, .ncrypto = ch->srtp ? 1 : 0};
	return call_sdp(call, &sp);
}

int sip__call_answer_keys(struct sip_call *call, const struct sdp_choice *ch)
{
	call->nkeys = 0;
	if (!ch->srtp)
		return 0;
	int err = sip__srtp_answer_key(&call->keys[0], ch);
	if (!err)
		call->nkeys = 1;
	return err;
}

/* SDES keys are readable by every hop of a plain transport: say so once per call. */
static void srtp_warn(struct sip_call *call, const struct sip_sess *x)
{
	if (call->srtp_warned || !x || x->dlg.peer.tp == PBX_TP_TLS)
		return;
	call->srtp_warned = true;
	pbx_warning("SDES keys for %s sent over %s: not confidential; use TLS", call->ch->name,
		    pbx_transport_name(x->dlg.peer.tp));
}

int sip__call_apply(struct sip_call *call, struct sip_sess *x, const struct sdp_choice *ch)
{
	struct pbx_rtp_params p;
	sdp_choice_rtp_params(ch, &p);
	if (sip__srtp_params(ch, call->keys, call->nkeys, &p)) {
		/* Cannot happen with our own offers and answers: the tag came from us. */
		pbx_warning("%s: SRTP answer names a key we did not offer; media unchanged",
			    call->ch->name);
		return EPROTO;
	}
	call->choice = *ch;
	call->have_choice = true;
	if (ch->srtp)
		srtp_warn(call, x ? x : call->sess);
	int err = pbx_rtp_set_params(call->rtp, &p);
	if (err)
		pbx_warning("%s: media parameters refused: %s", call->ch->name, strerror(err));
	return err;
}

/* The answer in @p m to our outstanding offer. */
int sip__call_take_answer(struct sip_call *call, const struct sip_msg *m, struct sdp_choice *out,
			  const char **why)
{
	struct sdp_session *ours, *theirs;
	int err;
	*why = NULL;
	if (!call->offer)
		return EPROTO;
	if ((err = sip__body_sdp(m, &theirs, why)))
		return err;
	ours = malloc(sizeof *ours);
	if (!ours) {
		free(theirs);
		return ENOMEM;
	}
	err = sdp_parse(ours, call->offer, strlen(call->offer), why);
	if (!err) {
		err = sdp_negotiate_answer(ours, theirs, out);
		*why = out->why;
	}
	free(ours);
	free(theirs);
	return err;
}

/* A phone's offer or late answer said what it does now: tell the bridged leg. Last in its caller. */
static void call_remote_dir(struct sip_call *call, enum pbx_media_dir dir)
{
	if (call->ended || dir == call->remote_dir)
		return;
	call->remote_dir = dir;
	pbx_info("%s: the phone %s (%s)", call->ch->name,
		 dir == PBX_DIR_SENDRECV ? "resumes" : "holds", sdp_dir_name(dir));
	pbx_chan_remote_media_dir(call->ch, dir);
}

static void st_fire(struct sip_timer *t, void *arg);

void sip__se_arm(struct sip_sess *x)
{
	sip_timer_cancel(timers(), &x->st);
	if (!x->se || x->state != SIP_SESS_CONFIRMED)
		return;
	/* Refresh at half the interval; give up a little before the end
	 * (RFC 4028 10: the lesser of 32 s and a third of it). */
	unsigned margin = x->se / 3 < 32 ? x->se / 3 : 32;
	uint64_t ms = x->we_refresh ? (uint64_t)x->se * 500 : (uint64_t)(x->se - margin) * 1000;
	(void)sip_timer_start(timers(), &x->st, ms, st_fire, x);
}

/*
 * Session timer of a request the phone sent (INVITE, re-INVITE, UPDATE):
 * the headers for our 2xx into @p out, and into @p x (NULL: only check).
 * Returns 0, or 422 with Min-SE in @p out. "uac" and "uas" name the roles
 * in this transaction: the phone is the UAC. We leave the refreshing to
 * the phone whenever it can.
 */
int sip__se_uas(struct sip_sess *x, const struct sip_msg *m, char *out, size_t len)
{
	struct sip_se h;
	out[0] = '\0';
	if (sip__se_get(m, &h)) {
		if (x)
			x->se = 0; /* a refresh without Session-Expires turns the timer off */
		return 0;
	}
	if (h.se < SE_MIN) {
		snprintf(out, len, "Min-SE: %u\r\n", SE_MIN);
		return 422;
	}
	int ref = !h.supported                        ? SIP_REFRESHER_UAS
		  : h.refresher == SIP_REFRESHER_NONE ? SIP_REFRESHER_UAC
						      : h.refresher;
	if (x) {
		x->se = h.se;
		x->we_refresh = ref == SIP_REFRESHER_UAS;
	}
	snprintf(out, len, "Session-Expires: %u;refresher=%s\r\n%s", h.se,
		 ref == SIP_REFRESHER_UAC ? "uac" : "uas", h.supported ? "Require: timer\r\n" : "");
	return 0;
}

/* Session timer from the 2xx of a request we sent (we are its UAC). */
void sip__se_uac(struct sip_sess *x, const struct sip_msg *resp)
{
	struct sip_se h;
	if (sip__se_get(resp, &h)) {
		x->se = 0;
	} else {
		x->se = h.se < SE_MIN ? SE_MIN : h.se;
		x->we_refresh = h.refresher == SIP_REFRESHER_UAC;
	}
	sip__se_arm(x);
}

/* Session-Expires for a re-INVITE we send, keeping the refresher where it is. */
static void se_req_hdr(const struct sip_sess *x, char *out, size_t len)
{
	if (x->se)
		snprintf(out, len, "Session-Expires: %u;refresher=%s\r\n", x->se,
			 x->we_refresh ? "uac" : "uas");
	else
		out[0] = '\0';
}

/* The call is over for session @p x (still attached): do on the wire what its state asks. */
void sip__sess_hangup(struct sip_sess *x, int cause)
{
	if (x->state == SIP_SESS_ENDED) {
		sip__sess_free(x);
		return;
	}
	if (x->inv_t) { /* an incoming INVITE not answered yet */
		sip__sess_reply(x, sip__cause_to_code(cause), NULL, NULL, NULL);
		sip__sess_free(x); /* its transaction resends the final and takes the ACK */
		return;
	}
	if (x->ok) {
		/* RFC 3261 15: the callee sends no BYE before the ACK of its 2xx
		 * (or the end of waiting for it). */
		x->bye_after_ack = true;
		sess_detach(x);
		return;
	}
	if (x->state == SIP_SESS_CONFIRMED) {
		sip__sess_bye(x, cause);
		sip__sess_free(x);
		return;
	}
	if (!x->dlg.uac || !x->inv_text) { /* answered with a failure, or never sent */
		sip__sess_free(x);
		return;
	}
	/* A fork still ringing: CANCEL it, and wait for the final it brings. */
	sip__fork_cancel(x, cause);
	sip__sess_linger(x, FORK_GUARD_MS);
}

/* Every session of the call ends with @p cause. */
void sip__call_teardown(struct sip_call *call, int cause)
{
	call->ended = true;
	while (call->sessions)
		sip__sess_hangup(call->sessions, cause);
}

/* Drop the driver's channel reference: @p call may be freed by it. */
void sip__call_release(struct sip_call *call)
{
	if (call->released)
		return;
	call->released = true;
	pbx_chan_unref(call->ch);
}

/* The far end (or our side of the network) ended the call. */
void sip__call_remote_end(struct sip_call *call, int cause)
{
	struct pbx_chan *ch = call->ch;
	if (call->ended)
		return;
	sip__call_teardown(call, cause);
	pbx_chan_ref(ch);
	pbx_chan_remote_hangup(ch, cause);
	sip__call_release(call);
	pbx_chan_unref(ch);
}

static void re_retry_fire(struct sip_timer *t, void *arg)
{
	sip__reinvite(arg, false);
}

static void reinv_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct sip_sess *x = sip__sess_of(arg);
	if (!x || code < 200)
		return;
	if (code < 300) {
		if (!x->re_pending || resp->cseq_num != x->re_cseq) {
			/* A retransmission: our ACK was lost. */
			if (x->ack && x->ack_cseq == resp->cseq_num)
				(void)sip_transport_send(sip__cs.s->tp, &x->dlg.peer, x->ack,
							 x->ack_len);
			return;
		}
		x->re_pending = false;
		sip__sess_ack(x, resp->cseq_num, NULL);
		(void)sip_dialog_target_refresh(&x->dlg, resp);
		struct sip_call *call = x->call;
		if (call && !call->ended) {
			struct sdp_choice ch;
			const char *why;
			int err = sip__call_take_answer(call, resp, &ch, &why);
			if (!err)
				sip__call_apply(call, x, &ch);
			else
				pbx_warning("%s: bad answer to our re-INVITE (%s); media unchanged",
					    call->ch->name, why ? why : strerror(err));
		}
		sip__se_uac(x, resp);
		if (x->re_again)
			sip__reinvite(x, false);
		return;
	}
	x->re_pending = false;
	if (code == 491 && resp) {
		/* RFC 3261 14.1: the owner of the Call-ID waits 2.1-4 s, the
		 * other side 0-2 s, in units of 10 ms, then tries again. */
		uint64_t r;
		sip__random_u64(&r);
		uint64_t ms = x->dlg.uac ? 2100 + (r % 191) * 10 : (r % 201) * 10;
		x->re_again = false;
		(void)sip_timer_start(timers(), &x->re_retry, ms, re_retry_fire, x);
		return;
	}
	if (!resp || code == 481 || code == 408) {
		/* RFC 3261 12.2.1.2: the dialog is gone. */
		struct sip_call *call = x->call;
		pbx_notice("sip: re-INVITE in dialog %s got %u; ending the call", x->dlg.call_id,
			   code);
		sip__sess_bye(x, PBX_CAUSE_FAILURE);
		if (call && call->sess == x)
			sip__call_remote_end(call, PBX_CAUSE_FAILURE);
		else
			sip__sess_free(x);
		return;
	}
	/* Refused (488, 500, ...): the old session stays. */
	pbx_notice("sip: re-INVITE in dialog %s refused with %u", x->dlg.call_id, code);
	sip__se_arm(x);
	if (x->re_again)
		sip__reinvite(x, false);
}

/*
 * Offer the call's wanted direction to the phone, or with @p refresh repeat
 * the last SDP we sent, unchanged and with the same version, so that a
 * session refresh changes nothing for the phone.
 */
void sip__reinvite(struct sip_sess *x, bool refresh)
{
	struct sip_call *call = x->call;
	char se[96], extra[1024];
	if (!call || call->ended || x->state != SIP_SESS_CONFIRMED)
		return;
	/* One INVITE at a time per dialog (RFC 3261 14.1), and not before
	 * the ACK of our last 2xx. */
	if (x->re_pending || x->ok || sip_timer_running(&x->re_retry)) {
		x->re_again = true;
		return;
	}
	if (refresh && call->sdp_last) {
		char *copy = strdup(call->sdp_last);
		if (!copy)
			return;
		free(call->offer);
		call->offer = copy;
	} else if (sip__call_offer(call, call->want)) {
		return;
	}
	se_req_hdr(x, se, sizeof se);
	snprintf(extra, sizeof extra, "Allow: %s\r\nSupported: timer\r\n%s%s", sip__cs.s->allow, se,
		 call->connected ? call->connected : "");
	x->re_again = false;
	if (!sip__sess_send(x, "INVITE", extra, SDP_TYPE, call->offer, reinv_resp, &x->re_cseq))
		x->re_pending = true;
}

/* Session timer: refresh when we are the refresher, else the session is dead. */
static void st_fire(struct sip_timer *t, void *arg)
{
	struct sip_sess *x = arg;
	struct sip_call *call = x->call;
	if (x->we_refresh) {
		if (x->re_pending || x->ok)
			(void)sip_timer_start(timers(), &x->st, 1000, st_fire, x);
		else
			sip__reinvite(x, true);
		return;
	}
	pbx_notice("sip: session timer of dialog %s expired (%u s without refresh)", x->dlg.call_id,
		   x->se);
	sip__sess_bye(x, PBX_CAUSE_FAILURE);
	if (call && call->sess == x)
		sip__call_remote_end(call, PBX_CAUSE_FAILURE);
	else
		sip__sess_free(x);
}

void sip__fork_cancel(struct sip_sess *f, int cause)
{
	char reason[96];
	struct sip_ctsx *c;
	if (f->cancel_sent || f->final)
		return;
	f->cancel_cause = cause;
	if (!f->provisional) {
		/* RFC 3261 9.1: no CANCEL before a provisional response; it goes
		 * with the first one, or Timer B ends the INVITE. */
		f->cancel_wanted = true;
		return;
	}
	sip__reason_hdr(cause, reason, sizeof reason);
	if (sip_dialog_build_cancel(&sip__cs.out, f->inv_text, f->inv_len,
				    reason[0] ? reason : NULL) ||
	    sip_ctsx_alloc(&c, sip__cs.s->tsx, sip__cs.out.data, sip__cs.out.len, &f->dlg.peer,
			   NULL, NULL))
		pbx_warning("sip: cannot send CANCEL for %s", f->dlg.call_id);
	f->cancel_sent = true;
}

void sip__reply_481(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
		    struct sip_stsx *t)
{
	sip_stack_reply(s, t, m, src, 481, NULL, NULL, NULL, NULL);
}

static void on_ack(struct sip_sess *x, const struct sip_msg *m)
{
	struct sip_call *call = x->call;
	if (!x->ok || m->cseq_num != x->ok_cseq)
		return; /* a repeated ACK, or one for an older 2xx */
	bool offer = x->ok_offer;
	ok_stop(x);
	if (x->bye_after_ack || !call) {
		sip__sess_bye(x, PBX_CAUSE_NORMAL);
		sip__sess_free(x);
		return;
	}
	if (offer) {
		/* The answer to the offer of our 2xx (a delayed offer). */
		struct sdp_choice ch;
		const char *why;
		int err = sip__call_take_answer(call, m, &ch, &why);
		if (err) {
			pbx_notice("%s: ACK without a usable SDP answer (%s); media unchanged",
				   call->ch->name, why ? why : strerror(err));
		} else {
			sip__call_apply(call, x, &ch);
			if (x->re_again)
				sip__reinvite(x, false);
			call_remote_dir(call, ch.remote_dir);
			return;
		}
	}
	if (x->re_again)
		sip__reinvite(x, false);
}

static void on_bye(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		   struct sip_stsx *t)
{
	struct sip_call *call = x->call;
	sip_stack_reply(sip__cs.s, t, m, src, 200, NULL, NULL, NULL, NULL);
	/* RFC 3261 15.1.2: a BYE ends the INVITE it crossed with a 487. */
	sip__sess_reply(x, 487, NULL, NULL, NULL);
	ok_stop(x);
	x->bye_after_ack = false;
	bool fork_early = call && call->outgoing && call->sess != x;
	x->state = SIP_SESS_ENDED;
	if (!call) {
		sip__sess_free(x);
	} else if (fork_early) {
		/* A callee that ends its early dialog: its INVITE still needs a CANCEL. */
		x->state = SIP_SESS_EARLY;
		sip__fork_cancel(x, PBX_CAUSE_NORMAL);
		if (sip__cause_rank(PBX_CAUSE_UNAVAILABLE) > sip__cause_rank(call->cause))
			call->cause = PBX_CAUSE_UNAVAILABLE;
		sip__sess_linger(x, FORK_GUARD_MS);
		if (!call->sessions && !call->sess)
			sip__call_remote_end(call, call->cause);
	} else {
		pbx_info("%s: BYE from the phone", call->ch->name);
		sip__call_remote_end(call, PBX_CAUSE_NORMAL);
	}
}

/*
 * An offer from the phone (re-INVITE or UPDATE body), or none: the body to
 * send back (in sip__cs.sdp) and what to apply. Returns 0, or a response code
 * with @p extra holding its header lines.
 */
static uint16_t take_offer(struct sip_call *call, const struct sip_msg *m, bool *offer_made,
			   struct sdp_choice *ch, const char **reason, char *extra, size_t len)
{
	struct sdp_session *offer;
	struct sdp_prefs prefs;
	const char *why;
	extra[0] = '\0';
	*reason = NULL;
	*offer_made = false;
	int err = sip__body_sdp(m, &offer, &why);
	if (err == ENOENT) {
		if (sip__call_offer(call, call->want))
			return 500;
		*offer_made = true;
		return 0;
	}
	if (err == EPROTONOSUPPORT) {
		snprintf(extra, len, "Accept: " SDP_TYPE "\r\n");
		return 415;
	}
	if (err) {
		pbx_notice("%s: bad SDP offer: %s", call->ch->name, why ? why : strerror(err));
		return err == ENOMEM ? 500 : 400;
	}
	sip__prefs_init(&prefs, call->want);
	prefs.srtp = call->srtp;
	err = sdp_negotiate_offer(offer, &prefs, ch);
	if (err) {
		free(offer);
		return sip__offer_refusal(ch, call->srtp, reason, extra, len);
	}
	err = sip__call_answer_keys(call, ch);
	if (!err)
		err = sip__call_answer_sdp(call, offer, ch);
	free(offer);
	return err ? 500 : 0;
}

static void on_reinvite(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
			struct sip_stsx *t)
{
	struct sip_stack *s = sip__cs.s;
	struct sip_call *call = x->call;
	char se[128], extra[256];
	struct sdp_choice ch;
	bool offer_made;
	if (!call || call->ended || x->state == SIP_SESS_ENDED) {
		sip__reply_481(s, m, src, t);
		return;
	}
	/* RFC 3261 14.2: an offer of ours is out (our re-INVITE, or a 2xx
	 * with an offer waiting for its ACK): glare. */
	if (x->state != SIP_SESS_CONFIRMED || x->re_pending || (x->ok && x->ok_offer)) {
		sip_stack_reply(s, t, m, src, 491, NULL, NULL, NULL, NULL);
		return;
	}
	const char *reason = NULL;
	uint16_t code = (uint16_t)sip__se_uas(x, m, se, sizeof se);
	if (!code)
		code = take_offer(call, m, &offer_made, &ch, &reason, extra, sizeof extra);
	if (code) {
		sip_stack_reply(s, t, m, src, code,
				code == 422 ? "Session Interval Too Small" : reason,
				code == 422 ? se : extra, NULL, NULL);
		return;
	}
	ok_stop(x); /* a new INVITE means the last 2xx arrived */
	(void)sip_dialog_target_refresh(&x->dlg, m);
	if (!offer_made)
		sip__call_apply(call, x, &ch);
	pbx_buf_reset(&sip__cs.hdrs);
	pbx_buf_printf(&sip__cs.hdrs, "Contact: <%s>\r\n", x->contact);
	sip__put_caps(&sip__cs.hdrs);
	pbx_buf_puts(&sip__cs.hdrs, se);
	sip_stack_reply(s, t, m, src, 200, NULL, sip__cs.hdrs.data, SDP_TYPE, sip__cs.sdp.data);
	struct sip_peer dst;
	sip_response_peer(m, src, &dst);
	ok_start(x, s->out.data, s->out.len, &dst, m->cseq_num, offer_made);
	sip__se_arm(x);
	if (!offer_made)
		call_remote_dir(call, ch.remote_dir);
}

static void on_update(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		      struct sip_stsx *t)
{
	struct sip_stack *s = sip__cs.s;
	struct sip_call *call = x->call;
	char se[128], extra[256];
	struct sdp_choice ch;
	bool offer_made;
	if (!call || call->ended || x->state == SIP_SESS_ENDED) {
		sip__reply_481(s, m, src, t);
		return;
	}
	uint16_t code = (uint16_t)sip__se_uas(x, m, se, sizeof se);
	if (code) {
		sip_stack_reply(s, t, m, src, code, "Session Interval Too Small", se, NULL, NULL);
		return;
	}
	if (!m->body.l) { /* a session refresh (RFC 4028) */
		pbx_buf_reset(&sip__cs.hdrs);
		pbx_buf_printf(&sip__cs.hdrs, "Contact: <%s>\r\n", x->contact);
		pbx_buf_puts(&sip__cs.hdrs, se);
		sip_stack_reply(s, t, m, src, 200, NULL, sip__cs.hdrs.data, NULL, NULL);
		sip__se_arm(x);
		return;
	}
	/* RFC 3311 5.2: no new offer while one is out. Offers in an early
	 * dialog are not supported (no reliable provisionals). */
	if (x->state != SIP_SESS_CONFIRMED || x->re_pending || (x->ok && x->ok_offer)) {
		sip_stack_reply(s, t, m, src, x->state != SIP_SESS_CONFIRMED ? 500 : 491, NULL,
				x->state != SIP_SESS_CONFIRMED ? "Retry-After: 1\r\n" : NULL, NULL,
				NULL);
		return;
	}
	const char *reason;
	code = take_offer(call, m, &offer_made, &ch, &reason, extra, sizeof extra);
	if (code || offer_made) {
		sip_stack_reply(s, t, m, src, code ? code : 500, reason, extra, NULL, NULL);
		return;
	}
	(void)sip_dialog_target_refresh(&x->dlg, m);
	sip__call_apply(call, x, &ch);
	pbx_buf_reset(&sip__cs.hdrs);
	pbx_buf_printf(&sip__cs.hdrs, "Contact: <%s>\r\n", x->contact);
	pbx_buf_puts(&sip__cs.hdrs, se);
	sip_stack_reply(s, t, m, src, 200, NULL, sip__cs.hdrs.data, SDP_TYPE, sip__cs.sdp.data);
	sip__se_arm(x);
	call_remote_dir(call, ch.remote_dir);
}

static void on_info(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		    struct sip_stsx *t)
{
	struct sip_call *call = x->call;
	char digit = sip__info_dtmf(m);
	sip_stack_reply(sip__cs.s, t, m, src, 200, NULL, NULL, NULL, NULL);
	if (digit && call && !call->ended && (call->sess == x || !call->outgoing))
		pbx_chan_remote_dtmf_signalled(call->ch, digit);
}

static bool sess_request(struct sip_stack *s, struct sip_dialog *d, const struct sip_msg *m,
			 const struct sip_peer *src, struct sip_stsx *t)
{
	struct sip_sess *x = (struct sip_sess *)((char *)d - offsetof(struct sip_sess, dlg));
	if (m->method == SIP_METHOD_ACK) {
		on_ack(x, m);
		sip__kick();
		return true;
	}
	if (sip_dialog_request_check(&x->dlg, m)) {
		sip_stack_reply(s, t, m, src, 500, "Out of order CSeq", NULL, NULL, NULL);
		return true;
	}
	/* Follow the phone's flow: a NAT binding or a TCP connection may change. */
	if (src->tp == x->dlg.peer.tp)
		x->dlg.peer = *src;
	switch (m->method) {
	case SIP_METHOD_BYE: on_bye(x, m, src, t); break;
	case SIP_METHOD_INVITE: on_reinvite(x, m, src, t); break;
	case SIP_METHOD_UPDATE: on_update(x, m, src, t); break;
	case SIP_METHOD_INFO: on_info(x, m, src, t); break;
	case SIP_METHOD_REFER: sip__refer_request(x, m, src, t); break;
	case SIP_METHOD_NOTIFY: sip__refer_notify(x, m, src, t); break;
	case SIP_METHOD_MESSAGE: sip__text_request(x, m, src, t); break;
	case SIP_METHOD_OPTIONS: {
		char extra[320];
		snprintf(extra, sizeof extra, "Allow: %s\r\nAccept: " SDP_TYPE "\r\n", s->allow);
		sip_stack_reply(s, t, m, src, 200, NULL, extra, NULL, NULL);
		break;
	}
	default: return false; /* REFER, NOTIFY, ...: their own handlers, if any */
	}
	return true;
}

static const struct sip_dialog_usage sess_usage = {"session", sess_request};

struct sip_sess *sip__sess_of_dialog(struct sip_dialog *d)
{
	if (d->usage != &sess_usage)
		return NULL;
	return (struct sip_sess *)((char *)d - offsetof(struct sip_sess, dlg));
}

int sip__sess_link(struct sip_sess *x)
{
	x->dlg.usage = &sess_usage;
	return sip_dialog_link(sip__cs.s->dialogs, &x->dlg);
}

/* BYE, INFO and UPDATE outside any dialog we know. */
void sip__handle_no_dialog(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t)
{
	sip__reply_481(s, m, src, t);
}
