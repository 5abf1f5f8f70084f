/**
 * @file app_messagesend.c  MessageSend(to[,from]): send the message a dialplan run routes
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's MessageSend: it sends MESSAGE(body) with its content type
 * to @p to ("sip:1002@DOMAIN", "SIP/1002", "pjsip:1002" or "1002"), from
 * @p from when given, else MESSAGE(from). It waits for the outcome and sets
 * MESSAGE_SEND_STATUS (also its result): SUCCESS (a device took it),
 * QUEUED (kept for an offline user), FAILURE, INVALID_URI. The best
 * outcome of a run's sends decides the sender's answer (sip_message.c).
 *
 * Only in a message's run: a call has no message to send.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "pbx/app.h"
#include "pbx/im.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"to", PBX_ARG_STRING, true},
	{"from", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

struct sending {
	struct pbx_app_call *call;
	struct pbx_im *im;
	void *handle;
	char to[PBX_MSG_SENDER_MAX + 1];
};

/* The outcome: kept on the message, in MESSAGE_SEND_STATUS, and returned to the script. */
static void outcome(struct pbx_app_call *call, struct pbx_im *im, const char *to,
		    enum pbx_im_status st)
{
	const char *name = pbx_im_status_name(st);
	if (st > im->best)
		im->best = st;
	pbx_app_var_set(call, "MESSAGE_SEND_STATUS", name);
	pbx_info("Message/%u: MessageSend to %s: %s", im->id, to, name);
}

static void sent(void *arg, enum pbx_im_status st)
{
	struct sending *sd = arg;
	struct pbx_app_call *call = sd->call;
	outcome(call, sd->im, sd->to, st);
	free(sd);
	pbx_app_finish(call, 0, pbx_im_status_name(st));
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct pbx_im *im = pbx_app_message(call);
	(void)ch;
	if (!im) {
		pbx_app_error(call, "messagesend: only in a message's dialplan run (the context "
				    "MESSAGEs enter), not in a call");
		return EINVAL;
	}
	struct sending *sd = calloc(1, sizeof *sd);
	if (!sd) {
		pbx_app_error(call, "messagesend: out of memory");
		return ENOMEM;
	}
	sd->call = call;
	sd->im = im;
	snprintf(sd->to, sizeof sd->to, "%s", argv[0]);
	enum pbx_im_status now = pbx_im_send(im, argv[0], argv[1], sent, sd, &sd->handle);
	if (now != PBX_IM_NONE) {
		outcome(call, im, sd->to, now);
		pbx_app_set_result(call, pbx_im_status_name(now));
		free(sd);
		return 0;
	}
	pbx_app_set_data(call, sd);
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct sending *sd = pbx_app_data(call);
	(void)ch;
	pbx_im_send_cancel(sd->handle);
	free(sd);
}

static const struct pbx_app app = {
	.name = "messagesend",
	.synopsis = "Send the routed message on: MessageSend(to[,from]); sets MESSAGE_SEND_STATUS",
	.args = args,
	.exec = exec,
	.cancel = cancel,
	.takes_no_call = true,
	.without_channel = true,
};

APPS_MODULE(messagesend);
