/**
 * @file app_echo.c  Echo(): send the caller's audio back until '#' or hangup
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The media worker turns every received packet around (pbx_rtp_echo), so
 * the delay heard is the network's alone. The call is answered first. As
 * in Asterisk, '#' ends the application and the dialplan goes on; other
 * digits are echoed in the audio and otherwise ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{NULL, PBX_ARG_STRING, false},
};

static void echo_off(struct pbx_chan *ch)
{
	pbx_chan_app_events(ch, NULL, NULL);
	if (ch->rtp)
		pbx_rtp_echo(ch->rtp, false);
}

static void dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	if (digit != '#')
		return;
	echo_off(ch);
	pbx_app_finish(arg, 0, NULL);
}

static const struct pbx_chan_events events = {
	.dtmf = dtmf,
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	int err = apps_answer(ch, false);
	if (err) {
		pbx_app_error(call, "Echo: cannot answer %s: %s", ch->name, strerror(err));
		return err;
	}
	/* Without media the caller can still leave with '#' sent as SIP INFO. */
	if (!ch->rtp)
		pbx_warning("%s: Echo: no media session", ch->name);
	else if ((err = pbx_rtp_echo(ch->rtp, true)))
		pbx_warning("%s: Echo: %s", ch->name, strerror(err));
	pbx_chan_app_events(ch, &events, call);
	return EINPROGRESS;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	echo_off(ch);
}

static const struct pbx_app app = {
	.name = "echo",
	.synopsis = "Echo the caller's audio back until '#' or hangup",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(echo);
