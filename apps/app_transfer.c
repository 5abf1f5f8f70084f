/**
 * @file app_transfer.c  Transfer(target): send the current channel's caller elsewhere
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As Asterisk's Transfer(): a channel whose driver can transfer (SIP, in
 * an answered call) asks the phone to call @p target itself (REFER), and
 * the application waits for the phone's report. Otherwise, and when the
 * call is not answered, the PBX redirects the channel to the extension
 * @p target of its context. TRANSFERSTATUS (also the result): SUCCESS,
 * FAILURE (the phone's new call failed, or no such extension) or
 * UNSUPPORTED (the phone refused the REFER).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"target", PBX_ARG_STRING, true},
	{NULL, PBX_ARG_STRING, false},
};

static void done(struct pbx_chan *ch, int code, void *arg)
{
	struct pbx_app_call *call = arg;
	const char *st = code >= 200 && code < 300                   ? "SUCCESS"
			 : code == 405 || code == 501 || code == 420 ? "UNSUPPORTED"
								     : "FAILURE";
	pbx_chan_var_set(ch, "TRANSFERSTATUS", st);
	pbx_info("%s: Transfer: the phone reports %d: %s", ch->name, code, st);
	pbx_chan_app_events(ch, NULL, NULL);
	pbx_app_finish(call, 0, st);
}

static const struct pbx_chan_events events = {.transfer_done = done};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	const char *target = argv[0];
	pbx_chan_var_set(ch, "TRANSFERSTATUS", "");
	if (ch->tech->transfer && ch->state == PBX_CHAN_UP) {
		pbx_chan_app_events(ch, &events, call);
		int err = ch->tech->transfer(ch, target);
		if (!err)
			return EINPROGRESS;
		pbx_chan_app_events(ch, NULL, NULL);
		if (err != ENOTSUP) {
			pbx_warning("%s: Transfer(%s): %s", ch->name, target, strerror(err));
			pbx_chan_var_set(ch, "TRANSFERSTATUS", "FAILURE");
			pbx_app_set_result(call, "FAILURE");
			return 0;
		}
	}
	/* Inside the PBX: the extension of the channel's context. */
	if (!strncasecmp(target, "sip:", 4) || strchr(target, '@')) {
		pbx_notice("%s: Transfer(%s): not a SIP call in progress, and not an extension",
			   ch->name, target);
		pbx_chan_var_set(ch, "TRANSFERSTATUS", "FAILURE");
		pbx_app_set_result(call, "FAILURE");
		return 0;
	}
	pbx_chan_var_set(ch, "TRANSFERSTATUS", "SUCCESS");
	int err = pbx_chan_redirect(ch, ch->context, target);
	if (err) {
		pbx_notice("%s: Transfer(%s): %s", ch->name, target,
			   err == ENOENT ? "no such extension" : strerror(err));
		pbx_chan_var_set(ch, "TRANSFERSTATUS", "FAILURE");
		pbx_app_set_result(call, "FAILURE");
		return 0;
	}
	pbx_app_set_result(call, "SUCCESS");
	return 0;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	pbx_chan_app_events(ch, NULL, NULL);
}

static const struct pbx_app app = {
	.name = "transfer",
	.synopsis = "Transfer the channel to a target: REFER to a SIP phone, else a redirect",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(transfer);
