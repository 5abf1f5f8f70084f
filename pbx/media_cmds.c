/**
 * @file media_cmds.c  Console command for the media engine's counters: rtp show stats
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Totals over every RTP session since the start, the closed ones and those
 * up now; each channel's own are in `core show channels --json`.
 */
#include <stdio.h>

#include "pbx/cli.h"
#include "pbx/media.h"
#include "pbx/module.h"

static int show_stats(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_rtp_stats t;
	unsigned n;
	pbx_rtp_totals(&t, &n);
	if (pbx_cli_flag(a, "--json"))
		return pbx_cli_printf(
			       cli,
			       "{\"sessions\":%u,\"rx_packets\":%llu,\"tx_packets\":%llu,"
			       "\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_dropped\":%llu,"
			       "\"strict_dropped\":%llu,\"malformed\":%llu,\"srtp_rejected\":%llu,"
			       "\"rtcp_packets\":%llu,\"rtcp_malformed\":%llu}\n",
			       n, (unsigned long long)t.rx_packets,
			       (unsigned long long)t.tx_packets, (unsigned long long)t.rx_bytes,
			       (unsigned long long)t.tx_bytes, (unsigned long long)t.rx_dropped,
			       (unsigned long long)t.rx_strict, (unsigned long long)t.rx_malformed,
			       (unsigned long long)t.srtp_rejected,
			       (unsigned long long)t.rtcp_packets,
			       (unsigned long long)t.rtcp_malformed) < 0;
	return pbx_cli_printf(cli,
			      "RTP sessions now                 : %u\n"
			      "RTP packets received             : %llu\n"
			      "RTP packets sent                 : %llu\n"
			      "RTP packets dropped              : %llu\n"
			      "  from a source not latched      : %llu (strict RTP)\n"
			      "  malformed                      : %llu\n"
			      "SRTP/SRTCP failed authentication : %llu\n"
			      "RTCP packets received            : %llu\n"
			      "  truncated or invalid           : %llu\n",
			      n, (unsigned long long)t.rx_packets, (unsigned long long)t.tx_packets,
			      (unsigned long long)t.rx_dropped, (unsigned long long)t.rx_strict,
			      (unsigned long long)t.rx_malformed,
			      (unsigned long long)t.srtp_rejected,
			      (unsigned long long)t.rtcp_packets,
			      (unsigned long long)t.rtcp_malformed) < 0;
}

static const struct pbx_cli_cmd cmds[] = {
	{"rtp show stats [--json]", "RTP counters: packets, drops by reason, SRTP and RTCP rejects",
	 "Totals since the start over every RTP session, closed or up; a channel's own\n"
	 "are in 'core show channels --json'. Dropped RTP counts every packet not used;\n"
	 "two of its reasons are shown apart: a source other than the one latched\n"
	 "(strict RTP, rtp.strict_rtp) and malformed packets (not version 2, lengths\n"
	 "past the end, a payload type not negotiated, too large).",
	 show_stats},
};

static int load(void)
{
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(media_cmds_module) = {"media_cmds", 1, load, unload};
