/**
 * @file app_pickup.c  Pickup(extension): answer, from this phone, a call ringing at another
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Directed pickup, as Asterisk's Pickup(): the extension's devices are its
 * hint as the caller's context sees it ("SIP/1002&SIP/1003"), or SIP/EXT
 * when it has none. The first call the PBX places to one of them that
 * still rings is taken: the caller is answered in the ringing phone's
 * place (the core's pickup, pbx_transfer_replace: the Dial that rang it
 * adopts this channel as its answer, and the ringing phone gets CANCEL).
 * The script ends there, since the call now belongs to that Dial.
 * Nothing ringing: PICKUPSTATUS=FAILED and the script goes on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/devstate.h"
#include "pbx/log.h"
#include "pbx/transfer.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"extension", PBX_ARG_STRING, true},
	{NULL, PBX_ARG_STRING, false},
};

struct find {
	const char *devices;
	const struct pbx_chan *self;
	struct pbx_chan *found;
};

static int find_ringing(struct pbx_chan *ch, void *arg)
{
	struct find *f = arg;
	bool ringing = ch->state == PBX_CHAN_DIALING || ch->state == PBX_CHAN_RINGING ||
		       ch->state == PBX_CHAN_PROGRESS;
	char device[96];
	if (ch == f->self || !ch->outgoing || !ringing)
		return 0;
	pbx_devstate_chan_device(ch, device, sizeof device);
	if (!pbx_devstate_in_list(f->devices, device))
		return 0;
	f->found = ch;
	return 1;
}

static void cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	(void)ch;
	(void)call; /* nothing of ours waits: the call belongs to the Dial that rang */
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char exten[80], devices[256];
	snprintf(exten, sizeof exten, "%s", argv[0]);
	char *at = strchr(exten, '@'); /* Asterisk's ext@context: the context is the caller's */
	if (at)
		*at = '\0';
	const char *hint = pbx_dialplan_hint(ch->context, exten);
	snprintf(devices, sizeof devices, "%s", hint ? hint : "");
	if (!hint)
		snprintf(devices, sizeof devices, "SIP/%s", exten);
	struct find f = {devices, ch, NULL};
	pbx_chan_each(find_ringing, &f);
	if (!f.found) {
		pbx_info("%s: Pickup %s: nothing rings there", ch->name, exten);
		pbx_chan_var_set(ch, "PICKUPSTATUS", "FAILED");
		pbx_app_set_result(call, "FAILED");
		return 0;
	}
	const struct pbx_chan_events *owner = ch->ev;
	pbx_chan_var_set(ch, "PICKUPSTATUS", "SUCCESS");
	int err = apps_answer(ch, false);
	if (!err)
		err = pbx_transfer_replace(f.found, ch);
	if (err || ch->ev == owner) {
		/* Not taken (it was answered meanwhile): the script goes on. */
		pbx_notice("%s: Pickup %s: %s could not be taken", ch->name, exten, f.found->name);
		pbx_chan_var_set(ch, "PICKUPSTATUS", "FAILED");
		pbx_app_set_result(call, "FAILED");
		return 0;
	}
	/* Taken by the Dial that rang: the dialplan lets go of the channel. */
	pbx_app_set_result(call, "SUCCESS");
	return EINPROGRESS;
}

static const struct pbx_app app = {
	.name = "pickup",
	.synopsis = "answer a call ringing at another extension (directed pickup)",
	.args = args,
	.exec = exec,
	.cancel = cancel,
};

APPS_MODULE(pickup);
