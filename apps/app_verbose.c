/**
 * @file app_verbose.c  Verbose([level,]message): write a line to the log at notice level
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Asterisk's verbosity level decides which console sees the line; here
 * every line goes to the log at notice, where an administrator looks by
 * default, so the level is accepted and otherwise ignored. A first
 * argument that is not a number is part of the message: the engine split
 * "Hello, world" at its comma, and that is joined again.
 */
#include <stdlib.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"level", PBX_ARG_STRING, false},
	{"message", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static bool is_level(const char *s)
{
	char *end;
	if (!*s)
		return false;
	long v = strtol(s, &end, 10);
	while (*end == ' ')
		end++;
	return !*end && v >= 0 && v <= 10;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	const char *first = argv[0], *rest = argv[1];
	if (!*rest)
		pbx_notice("%s", first);
	else if (is_level(first))
		pbx_notice("%s", rest);
	else
		pbx_notice("%s,%s", first, rest);
	return 0;
}

static const struct pbx_app app = {
	.name = "verbose",
	.synopsis = "Write a message to the log (at notice level)",
	.args = args,
	.exec = exec,
	.takes_no_call = true,
	.without_channel = true,
};

APPS_MODULE(verbose);
