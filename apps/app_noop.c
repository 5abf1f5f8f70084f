/**
 * @file app_noop.c  NoOp([text]): do nothing; the text shows in the debug log
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Asterisk users sprinkle NoOp(${VAR}) through dialplans to trace them,
 * so the text is logged at debug level rather than dropped.
 */
#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"text", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	pbx_debug("%s: NoOp(%s)", ch->name, argv[0]);
	return 0;
}

static const struct pbx_app app = {
	.name = "noop",
	.synopsis = "Do nothing (the text is logged at debug level)",
	.args = args,
	.exec = exec,
	.takes_no_call = true,
};

APPS_MODULE(noop);
