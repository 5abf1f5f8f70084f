/**
 * @file bridge_cmds.c  Console command for bridges: core show bridges
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <time.h>

#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/cli.h"
#include "pbx/module.h"

struct show_state {
	struct pbx_cli *cli;
	bool json;
	int n;
	time_t now;
};

static int show_one(struct pbx_bridge *b, void *arg)
{
	struct show_state *st = arg;
	long age = (long)(st->now - b->created);
	if (st->json) {
		struct pbx_buf *o = &st->cli->out;
		pbx_buf_printf(o, "%s{\"id\":%u,\"mode\":\"%s\",\"duration\":%ld,\"members\":[",
			       st->n ? ",\n " : "", b->id, pbx_bridge_mode_name(pbx_bridge_mode(b)),
			       age);
		for (size_t i = 0; i < b->n; i++) {
			if (i)
				pbx_buf_puts(o, ",");
			pbx_buf_json_str(o, b->members[i]->name);
		}
		pbx_buf_puts(o, "]}");
	} else {
		char members[256];
		size_t off = 0;
		members[0] = '\0';
		for (size_t i = 0; i < b->n && off < sizeof members; i++)
			off += (size_t)snprintf(members + off, sizeof members - off, "%s%s",
						i ? ", " : "", b->members[i]->name);
		pbx_cli_printf(st->cli, "%-8u %-9s %02ld:%02ld:%02ld  %s\n", b->id,
			       pbx_bridge_mode_name(pbx_bridge_mode(b)), age / 3600, age / 60 % 60,
			       age % 60, members);
	}
	st->n++;
	return 0;
}

static int show_bridges(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct show_state st = {.cli = cli, .json = pbx_cli_flag(a, "--json"), .now = time(NULL)};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-8s %-9s %-9s %s\n", "Bridge", "Mode", "Duration", "Members");
	pbx_bridge_each(show_one, &st);
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d active bridge%s\n", st.n, st.n == 1 ? "" : "s");
}

static const struct pbx_cli_cmd cmds[] = {
	{"core show bridges [--json]", "list bridges: their mode and members",
	 "Mode relay: two legs of one codec, packets passed on undecoded; transcode: two "
	 "codecs; frames: a recording takes a leg's audio; idle: fewer than two legs with "
	 "media.",
	 show_bridges},
};

static int load(void)
{
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(bridge_cmds_module) = {"bridge_cmds", 1, load, unload};
