/**
 * @file core_cmds.c  Console commands: core show|set|stop
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pbx/cli.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/module.h"

static int show_version(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return pbx_cli_printf(cli, "pbx %s built %s %s\n", PBX_VERSION, __DATE__, __TIME__);
}

static void span(struct pbx_buf *b, long secs)
{
	static const struct {
		const char *unit;
		long secs;
	} units[] = {
		{"week", 604800}, {"day", 86400}, {"hour", 3600}, {"minute", 60}, {"second", 1}};
	int parts = 0;
	for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
		long n = secs / units[i].secs;
		secs %= units[i].secs;
		if (n || (!parts && i + 1 == sizeof units / sizeof *units))
			pbx_buf_printf(b, "%s%ld %s%s", parts++ ? ", " : "", n, units[i].unit,
				       n == 1 ? "" : "s");
	}
}

static int show_uptime(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	time_t now = time(NULL), start = pbx_start_time();
	char when[64];
	struct tm tm;
	localtime_r(&start, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	pbx_cli_printf(cli, "System uptime: ");
	span(&cli->out, (long)(now - start));
	pbx_cli_printf(cli, "\nStarted: %s\n", when);
	return 0;
}

static int show_settings(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	pbx_config_dump(pbx_cfg(), &cli->out);
	pbx_cli_printf(cli, "%-24s = \"%s\"  -- current, see core set loglevel\n",
		       "(running log level)", pbx_log_level_name(pbx_log_get_level()));
	return 0;
}

static int set_loglevel(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *name = pbx_cli_arg(a, "error|warning|notice|info|debug");
	int level = pbx_log_level_parse(name);
	pbx_log_set_level((enum pbx_log_level)level);
	pbx_notice("log level set to %s from the console", pbx_log_level_name(level));
	return pbx_cli_printf(cli, "Log level is now %s.\n", pbx_log_level_name(level));
}

static int stop(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	bool graceful = !strcmp(pbx_cli_arg(a, "now|gracefully"), "gracefully");
	pbx_stop(graceful);
	return pbx_cli_printf(cli, "%s\n",
			      graceful ? "Stopping when no calls are up." : "Stopping now.");
}

static const struct pbx_cli_cmd cmds[] = {
	{"core show version", "show the PBX version", NULL, show_version},
	{"core show uptime", "show how long the PBX has been running", NULL, show_uptime},
	{"core show settings", "show every configuration key and its value", NULL, show_settings},
	{"core set loglevel error|warning|notice|info|debug", "change the log level now",
	 "Applies at once to the log on stderr and in pbx.log_file.", set_loglevel},
	{"core stop now|gracefully", "stop the PBX",
	 "'now' ends every call and stops; 'gracefully' refuses new calls and stops\n"
	 "when the last call ends.",
	 stop},
};

static int load(void)
{
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		pbx_cli_register(&cmds[i]);
	return 0;
}

static void unload(void)
{
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		pbx_cli_unregister(&cmds[i]);
}

PBX_MODULE(core_cmds_module) = {"core_cmds", 0, load, unload};
