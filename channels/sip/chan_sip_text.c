/**
 * @file chan_sip_text.c  MESSAGE in a call's dialog, relayed to the other party through the core
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Issue 14: "MESSAGE inside a call's dialog is relayed to the other leg".
 * A phone in an answered call sends MESSAGE in its INVITE dialog; the
 * session usage takes it (so sip_message.c, the out-of-dialog router,
 * only ever sees MESSAGEs no dialog took) and hands it to the core as a
 * text of the channel (pbx_chan_remote_text). The core gives it to the
 * bridged peer's driver (pbx_chan_tech.send_text); for a SIP peer that is
 * our MESSAGE in the peer leg's dialog, body and Content-Type unchanged.
 * The sender is answered when the peer's phone answers: 200 for a 2xx,
 * else a code saying why (sip__text_answer).
 *
 * The dialog authorises the request, as for INFO and BYE: no challenge.
 *
 * Both halves wait for a transaction (the sender's MESSAGE to answer, our
 * MESSAGE's response), so both keep a small record, listed so that an
 * unload ends them; neither refers to a channel or a session, which may
 * be gone by the time the answer comes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan_sip.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "sip_stack.h"
#include "sip_tsx.h"

/* A phone's MESSAGE waiting for the other party's answer. */
struct text_in {
	struct sip_stsx *t;
	char *buf; /* a copy of the request, parsed again into req: answered later */
	struct sip_msg req;
	struct sip_peer src;
	char chan[80]; /* the sending channel's name, for the log */
	struct text_in *prev, *next;
};

/* Our MESSAGE to a phone for the core, waiting for its final response. */
struct text_out {
	struct sip_ctsx *tsx;
	pbx_chan_text_done_h *done;
	void *arg;
	struct text_out *prev, *next;
};

/* Few at a time (one per call being typed in, for a round trip), so lists. */
static struct text_in *ins;
static struct text_out *outs;

static void in_free(struct text_in *j)
{
	*(j->prev ? &j->prev->next : &ins) = j->next;
	if (j->next)
		j->next->prev = j->prev;
	free(j->buf);
	free(j);
}

static void in_answer(struct text_in *j, uint16_t code, const char *reason)
{
	(void)sip_stack_reply(sip__cs.s, j->t, &j->req, &j->src, code, reason, NULL, NULL, NULL);
	in_free(j);
}

/* The other party answered (pbx_chan_text_done_h). */
static void in_done(int status, void *arg)
{
	struct text_in *j = arg;
	const char *reason;
	uint16_t code = sip__text_answer(status, &reason);
	if (code < 300)
		pbx_info("%s: message delivered to the other party", j->chan);
	else
		pbx_info("%s: message not delivered: the other party answered %d; sender gets %u",
			 j->chan, status, code);
	in_answer(j, code, reason);
	sip__kick();
}

void sip__text_request(struct sip_sess *x, const struct sip_msg *m, const struct sip_peer *src,
		       struct sip_stsx *t)
{
	struct sip_stack *s = sip__cs.s;
	struct sip_call *call = x->call;
	char type[256] = "text/plain";
	if (!call || call->ended || x->state == SIP_SESS_ENDED) {
		sip__reply_481(s, m, src, t);
		return;
	}
	/* An early dialog (still ringing), or a fork that did not win. */
	if (call->sess != x || x->state != SIP_SESS_CONFIRMED) {
		sip_stack_reply(s, t, m, src, 488, "The call is not answered", NULL, NULL, NULL);
		return;
	}
	if (!m->body.l) {
		sip_stack_reply(s, t, m, src, 400, "A MESSAGE needs a body", NULL, NULL, NULL);
		return;
	}
	/* The transport refused larger messages already; the body alone is
	 * checked again because that is what the other leg has to carry. */
	if (m->body.l > (size_t)s->cfg->max_message_size) {
		sip_stack_reply(s, t, m, src, 413, NULL, NULL, NULL, NULL);
		return;
	}
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	if (ct && ct->value.l) {
		if (ct->value.l >= sizeof type) {
			sip_stack_reply(s, t, m, src, 400, "Content-Type too long", NULL, NULL,
					NULL);
			return;
		}
		memcpy(type, ct->value.p, ct->value.l);
		type[ct->value.l] = '\0';
	}
	struct text_in *j = calloc(1, sizeof *j);
	const char *why;
	if (!j || !(j->buf = malloc(m->len + 1))) {
		free(j);
		sip_stack_reply(s, t, m, src, 500, "Out of memory", NULL, NULL, NULL);
		return;
	}
	memcpy(j->buf, m->buf, m->len);
	j->buf[m->len] = '\0';
	j->next = ins;
	if (ins)
		ins->prev = j;
	ins = j;
	j->t = t;
	j->src = *src;
	snprintf(j->chan, sizeof j->chan, "%s", call->ch->name);
	if (sip_msg_parse(&j->req, j->buf, m->len, &why)) {
		/* It parsed once already: only memory can make this fail. */
		j->t = NULL;
		in_free(j);
		sip_stack_reply(s, t, m, src, 500, "Out of memory", NULL, NULL, NULL);
		return;
	}
	/* The body is passed from the copy: the received buffer goes with
	 * this callback. */
	int err = pbx_chan_remote_text(call->ch, type, j->req.body.p, j->req.body.l, in_done, j);
	if (!err)
		return;
	switch (err) {
	case ENOTCONN: in_answer(j, 488, "No other party in the call to relay to"); break;
	case ENOTSUP: in_answer(j, 488, "The other party cannot take messages"); break;
	case EMSGSIZE: in_answer(j, 413, "Too large for the other party"); break;
	default: in_answer(j, 500, "Message not relayed"); break;
	}
}

/* ---- the other side: the core's text to our phone ------------------------------------------ */

static void out_free(struct text_out *o)
{
	*(o->prev ? &o->prev->next : &outs) = o->next;
	if (o->next)
		o->next->prev = o->prev;
	free(o);
}

static void out_resp(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct text_out *o = arg;
	(void)resp;
	if (code < 200)
		return;
	pbx_chan_text_done_h *done = o->done;
	void *darg = o->arg;
	out_free(o);
	done(code, darg);
}

int sip__text_send(struct pbx_chan *ch, const char *type, const void *body, size_t len,
		   pbx_chan_text_done_h *done, void *arg)
{
	struct sip_call *call = ch->tech_pvt;
	struct sip_sess *x = call ? call->sess : NULL;
	if (!call || call->ended || !x || x->state != SIP_SESS_CONFIRMED)
		return ENOTCONN;
	if (!len || len > (size_t)sip__cs.s->cfg->max_message_size)
		return EMSGSIZE;
	struct text_out *o = calloc(1, sizeof *o);
	if (!o)
		return ENOMEM;
	o->done = done;
	o->arg = arg;
	int err = sip__sess_send_body(x, "MESSAGE", type, body, len, out_resp, o, &o->tsx);
	if (err) {
		free(o);
		return err;
	}
	o->next = outs;
	if (outs)
		outs->prev = o;
	outs = o;
	sip__kick();
	return 0;
}

void sip__text_unload(void)
{
	/* Ours first: their senders (in ins, when SIP to SIP) are answered by them. */
	while (outs) {
		struct text_out *o = outs;
		pbx_chan_text_done_h *done = o->done;
		void *arg = o->arg;
		sip_ctsx_abandon(o->tsx);
		out_free(o);
		done(503, arg);
	}
	while (ins)
		in_answer(ins, 503, "Shutting down");
}
