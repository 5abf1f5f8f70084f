/**
 * @file app_set.c  Set(NAME=value): set a channel variable
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One argument that takes the rest of the line, so commas in the value
 * survive the engine's splitting, as in Asterisk's Set(). An empty value
 * sets the variable to "" (Asterisk keeps it too).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "apps.h"

static const struct pbx_arg_spec args[] = {
	{"assignment", PBX_ARG_STRING, true},
	{NULL, PBX_ARG_STRING, false},
};

int set_assign_parse(char *s, char **name, char **value)
{
	char *eq = strchr(s, '=');
	if (!eq)
		return EINVAL;
	*eq = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	char *end = eq;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (!apps_var_name_ok(s))
		return EINVAL;
	*name = s;
	*value = eq + 1;
	return 0;
}

static int exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char *copy = strdup(argv[0]), *name, *value;
	if (!copy) {
		pbx_app_error(call, "Set: out of memory");
		return ENOMEM;
	}
	int err = set_assign_parse(copy, &name, &value);
	if (err) {
		pbx_app_error(call, "Set: expected NAME=value, got \"%s\"", argv[0]);
		goto out;
	}
	err = pbx_app_var_set(call, name, value); /* the channel's, or a message run's */
	if (err)
		pbx_app_error(call, "Set: cannot set %s: %s", name, strerror(err));
	else
		pbx_debug("Set(%s=%s)", name, value);
out:
	free(copy);
	return err;
}

static const struct pbx_app app = {
	.name = "set",
	.synopsis = "Set a channel variable: Set(NAME=value)",
	.args = args,
	.exec = exec,
	.takes_no_call = true,
	.without_channel = true,
};

APPS_MODULE(set);
