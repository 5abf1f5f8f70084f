/**
 * @file core_cmds.c  Console commands: core show|set|stop
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/chan.h"
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

/* What the process holds: resident pages (the kernel's view) and the heap
 * (the allocator's: in use, and free but not yet handed back). */
static int show_memory(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	long page = sysconf(_SC_PAGESIZE);
	double rss = (double)resident * (double)page / 1048576;
	struct mallinfo2 mi = mallinfo2();
	size_t in_use = mi.uordblks + mi.hblkhd; /* arenas, and blocks mmapped alone */
	if (pbx_cli_flag(a, "--json"))
		return pbx_cli_printf(cli,
				      "{\"rss_bytes\":%ld,\"heap_in_use\":%zu,\"heap_free\":%zu,"
				      "\"heap_mmapped\":%zu}\n",
				      resident * page, in_use, mi.fordblks, mi.hblkhd) < 0;
	return pbx_cli_printf(cli,
			      "Resident (RSS)     : %.1f MiB\n"
			      "Heap in use        : %.1f MiB (of which %.1f MiB in large blocks)\n"
			      "Heap free, kept    : %.1f MiB (handed back every 30 s)\n",
			      rss, (double)in_use / 1048576, (double)mi.hblkhd / 1048576,
			      (double)mi.fordblks / 1048576) < 0;
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

/* "3" or "info": a verbosity number (pbx_log_level_of_verbose) or a level name. */
static int console_level_parse(const char *s)
{
	if (*s >= '0' && *s <= '9') {
		char *end;
		errno = 0;
		unsigned long n = strtoul(s, &end, 10);
		if (*end || errno || n > 100)
			return -1;
		return (int)pbx_log_level_of_verbose((unsigned)n);
	}
	return pbx_log_level_parse(s);
}

static int set_verbose(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *arg = pbx_cli_arg(a, "LEVEL");
	int was = pbx__console_log_level(cli->conn);
	int level = console_level_parse(arg);
	if (level < 0)
		return pbx_cli_error(cli,
				     "core set verbose: '%s' is not a number from 0 to 100 nor one "
				     "of error|warning|notice|info|debug",
				     arg);
	if (pbx__console_set_log_level(cli->conn, level))
		return pbx_cli_error(cli,
				     "core set verbose: this console does not show the log; attach "
				     "one with 'pbx -r' (the PBX's own log: core set loglevel)");
	return pbx_cli_printf(cli, "Verbosity of this console was %d (%s) and is now %d (%s).\n",
			      was, pbx_log_level_name((enum pbx_log_level)was), level,
			      pbx_log_level_name((enum pbx_log_level)level));
}

/* "  2 calls (4 channels) are still up"-style counts, for the stop replies. */
static void calls_up(struct pbx_buf *b, unsigned calls, unsigned chans)
{
	pbx_buf_printf(b, "%u call%s (%u channel%s) %s still up", calls, calls == 1 ? "" : "s",
		       chans, chans == 1 ? "" : "s", calls == 1 ? "is" : "are");
}

static int stop(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	bool graceful = !strcmp(pbx_cli_arg(a, "now|gracefully"), "gracefully");
	const char *arg = pbx_cli_arg(a, "TIMEOUT");
	unsigned calls = pbx__chan_calls(), chans = pbx_chan_count();
	if (!graceful) {
		if (arg)
			return pbx_cli_error(cli, "core stop now: no TIMEOUT (it ends every call "
						  "at once; see core stop gracefully TIMEOUT)");
		pbx_stop(false);
		pbx_cli_printf(cli, "Stopping now.\n");
		if (chans) {
			pbx_cli_printf(cli, "Ending ");
			calls_up(&cli->out, calls, chans);
			pbx_cli_printf(cli, ".\n");
		}
		return 0;
	}
	int granted;
	if (arg) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(arg, &end, 10);
		if (*arg < '0' || *arg > '9' || *end || errno || n > 86400)
			return pbx_cli_error(
				cli,
				"core stop gracefully: TIMEOUT '%s' is not a number of "
				"seconds from 0 (no limit) to 86400",
				arg);
		granted = pbx_stop_within((unsigned)n);
	} else {
		granted = pbx_stop_within((unsigned)pbx_config_core(pbx_cfg())->stop_timeout);
	}
	if (granted < 0)
		return pbx_cli_error(cli, "core stop gracefully: a stop now is already under way");
	pbx_cli_printf(cli, "Stopping when no calls are up.\n");
	if (!chans)
		return 0;
	calls_up(&cli->out, calls, chans);
	if (granted)
		return pbx_cli_printf(
			cli, "; new calls get 503; those still up in %d s are ended.\n", granted);
	return pbx_cli_printf(cli, "; new calls get 503; no time limit.\n");
}

static const struct pbx_cli_cmd cmds[] = {
	{"core show version", "show the PBX version", NULL, show_version},
	{"core show uptime", "show how long the PBX has been running", NULL, show_uptime},
	{"core show settings", "show every configuration key and its value", NULL, show_settings},
	{"core show memory [--json]", "show the memory the PBX holds",
	 "Resident size, and the heap: bytes in use (mmapped large blocks included)\n"
	 "and free bytes the allocator keeps. Under AddressSanitizer the heap\n"
	 "figures are 0.",
	 show_memory},
	{"core set loglevel error|warning|notice|info|debug", "change the log level now",
	 "Applies at once to the log on stderr and in pbx.log_file. Consoles attached\n"
	 "with 'pbx -r' keep their own level: see core set verbose.",
	 set_loglevel},
	{"core set verbose LEVEL", "change how much of the log this console shows",
	 "For a console attached with 'pbx -r' only; other consoles and the PBX's own\n"
	 "log keep their level. LEVEL is a level name or, as Asterisk's verbosity,\n"
	 "a number: 0 error, 1 warning, 2 notice, 3 info, 4 and more debug. A console\n"
	 "starts at the PBX's log level. 'pbx -rx' shows no log.",
	 set_verbose},
	{"core stop now|gracefully [TIMEOUT]", "stop the PBX",
	 "'now' ends every call and stops. 'gracefully' refuses new calls (503 with\n"
	 "Retry-After; registrations, subscriptions and messages are still served)\n"
	 "and stops when the last call ends, or after TIMEOUT seconds (default\n"
	 "pbx.stop_timeout; 0 = no limit), when the calls still up are ended as by\n"
	 "'now'. Asking again sets a new TIMEOUT from now. SIGTERM is 'now'.",
	 stop},
};

static void complete_level(const char *prefix, struct pbx_buf *out)
{
	for (int i = PBX_LOG_ERROR; i <= PBX_LOG_DEBUG; i++) {
		const char *name = pbx_log_level_name((enum pbx_log_level)i);
		if (!strncmp(name, prefix, strlen(prefix)))
			pbx_buf_printf(out, "%s\n", name);
	}
}

static int load(void)
{
	pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
	return pbx_cli_completer_register("LEVEL", complete_level);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(core_cmds_module) = {"core_cmds", 0, load, unload};
