/**
 * @file codec_cmds.c  Console command for codecs: core show codecs
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every codec this build has, and where it stands in rtp.codecs (the order
 * offers list and answers choose by); a codec left out of rtp.codecs is
 * never offered nor accepted.
 */
#include <stdio.h>

#include "pbx/cli.h"
#include "pbx/codec.h"
#include "pbx/core.h"
#include "pbx/media.h"
#include "pbx/module.h"

struct show_state {
	struct pbx_cli *cli;
	bool json;
	int n;
	const struct pbx_codec_desc *const *order;
	size_t norder;
};

/* 1-based place in rtp.codecs, 0 when the codec is not used. */
static size_t place(const struct show_state *st, const struct pbx_codec_desc *c)
{
	for (size_t i = 0; i < st->norder; i++)
		if (st->order[i] == c)
			return i + 1;
	return 0;
}

static int show_one(const struct pbx_codec_desc *c, void *arg)
{
	struct show_state *st = arg;
	size_t at = place(st, c);
	char pt[8];
	snprintf(pt, sizeof pt, c->static_pt >= 0 ? "%d" : "dyn", c->static_pt);
	if (st->json) {
		struct pbx_buf *o = &st->cli->out;
		pbx_buf_puts(o, st->n ? ",\n {\"name\":" : "{\"name\":");
		pbx_buf_json_str(o, c->name);
		pbx_buf_printf(o,
			       ",\"rate\":%u,\"clock\":%u,\"payload_type\":%d,\"preference\":%zu}",
			       c->rate, c->clock, c->static_pt, at);
	} else {
		char pref[24] = "-";
		if (at)
			snprintf(pref, sizeof pref, "%zu", at);
		pbx_cli_printf(st->cli, "%-8s %6u %6u  %-4s  %s\n", c->name, c->rate, c->clock, pt,
			       pref);
	}
	st->n++;
	return 0;
}

static int show_codecs(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct show_state st = {.cli = cli, .json = pbx_cli_flag(a, "--json")};
	st.order = pbx_cfg() ? pbx_media_codecs(pbx_cfg(), &st.norder) : NULL;
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-8s %6s %6s  %-4s  %s\n", "Codec", "Rate", "Clock", "PT",
			       "Preference (rtp.codecs)");
	pbx_codec_each(show_one, &st);
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d codecs, %zu in use\n", st.n, st.norder);
}

static const struct pbx_cli_cmd cmds[] = {
	{"core show codecs [--json]", "list the codecs and their order of preference",
	 "Rate: of the audio (Hz); clock: of RTP timestamps; PT: static payload type, or "
	 "dynamic; preference: place in rtp.codecs ('-': not offered nor accepted).",
	 show_codecs},
};

static int load(void)
{
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(codec_cmds_module) = {"codec_cmds", 1, load, unload};
