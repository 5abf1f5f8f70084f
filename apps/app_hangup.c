/**
 * @file app_hangup.c  Hangup([cause]): end the call with a Q.850 cause
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The cause is a number (17) or one of Asterisk's names (USER_BUSY); the
 * driver turns it into the SIP final response of an unanswered call
 * (17 gives 486) or sends BYE. An unknown cause is logged and the call
 * ends with NORMAL_CLEARING all the same: the administrator asked for a
 * hangup, a typo must not keep the call up.
 *
 * The application returns 0: the engine owns the channel and hears the
 * hangup event, which ends the script and runs the `h` extension.
 */
#include <stdlib.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"cause", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static const struct {
	const char *name;
	int cause;
} causes[] = {
	{"UNALLOCATED", PBX_CAUSE_UNALLOCATED},
	{"NORMAL_CLEARING", PBX_CAUSE_NORMAL},
	{"NORMAL", PBX_CAUSE_NORMAL},
	{"USER_BUSY", PBX_CAUSE_BUSY},
	{"BUSY", PBX_CAUSE_BUSY},
	{"NO_USER_RESPONSE", PBX_CAUSE_NO_USER_RESPONSE},
	{"NO_ANSWER", PBX_CAUSE_NO_ANSWER},
	{"SUBSCRIBER_ABSENT", PBX_CAUSE_UNAVAILABLE},
	{"CALL_REJECTED", PBX_CAUSE_REJECTED},
	{"NORMAL_CIRCUIT_CONGESTION", PBX_CAUSE_CONGESTION},
	{"CONGESTION", PBX_CAUSE_CONGESTION},
	{"NETWORK_OUT_OF_ORDER", PBX_CAUSE_FAILURE},
	{"BEARERCAPABILITY_NOTAVAIL", PBX_CAUSE_INCOMPATIBLE},
};

static int cause_parse(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (end != s && !*end)
		return n >= 1 && n <= 127 ? (int)n : -1;
	for (size_t i = 0; i < sizeof causes / sizeof *causes; i++)
		if (!strcasecmp(s, causes[i].name))
			return causes[i].cause;
	return -1;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	int cause = PBX_CAUSE_NORMAL;
	if (*argv[0] && (cause = cause_parse(argv[0])) < 0) {
		pbx_warning("%s: Hangup: unknown cause \"%s\", using NORMAL_CLEARING", ch->name,
			    argv[0]);
		cause = PBX_CAUSE_NORMAL;
	}
	pbx_debug("%s: Hangup(%d)", ch->name, cause);
	pbx_chan_hangup(ch, cause);
	return 0;
}

static const struct pbx_app app = {
	.name = "hangup",
	.synopsis = "Hang up the call, optionally with a cause (17 or USER_BUSY)",
	.args = args,
	.exec = exec,
};

APPS_MODULE(hangup);
