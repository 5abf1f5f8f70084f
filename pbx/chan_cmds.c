/**
 * @file chan_cmds.c  Console commands for channels: show, hangup, originate
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core_priv.h"
#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"

struct show_state {
	struct pbx_cli *cli;
	bool json;
	int n;
	time_t now;
};

static void duration(time_t secs, char *buf, size_t len)
{
	snprintf(buf, len, "%02ld:%02ld:%02ld", (long)secs / 3600, (long)secs / 60 % 60,
		 (long)secs % 60);
}

static int show_one(struct pbx_chan *ch, void *arg)
{
	struct show_state *st = arg;
	struct pbx_buf media;
	char dur[64];
	/* Packet counters come from the media engine, whatever the driver. */
	struct pbx_rtp_stats rs = {0};
	const struct pbx_chan *peer = pbx_bridge_peer(ch);
	pbx_buf_init(&media);
	if (ch->tech->describe)
		ch->tech->describe(ch, &media);
	if (ch->rtp)
		pbx_rtp_get_stats(ch->rtp, &rs);
	duration(st->now - ch->created, dur, sizeof dur);
	if (st->json) {
		struct pbx_buf *o = &st->cli->out;
		pbx_buf_puts(o, st->n ? ",\n {\"name\":" : "{\"name\":");
		pbx_buf_json_str(o, ch->name);
		pbx_buf_printf(o, ",\"id\":%u,\"state\":\"%s\",\"direction\":\"%s\",\"caller\":",
			       ch->id, pbx_chan_state_name(ch->state), ch->outgoing ? "out" : "in");
		pbx_buf_json_str(o, ch->caller_num);
		pbx_buf_puts(o, ",\"callee\":");
		pbx_buf_json_str(o, ch->exten);
		pbx_buf_puts(o, ",\"context\":");
		pbx_buf_json_str(o, ch->context);
		pbx_buf_puts(o, ",\"bridged_to\":");
		pbx_buf_json_str(o, peer ? peer->name : "");
		pbx_buf_puts(o, ",\"media\":");
		pbx_buf_json_str(o, media.data ? media.data : "");
		pbx_buf_printf(o, ",\"duration\":%ld", (long)(st->now - ch->created));
		pbx_buf_printf(
			o,
			",\"rx_packets\":%llu,\"tx_packets\":%llu,\"srtp_rejected\":%llu,"
			"\"rx_dropped\":%llu,\"strict_dropped\":%llu,\"malformed\":%llu,"
			"\"rtcp_packets\":%llu,\"rtcp_malformed\":%llu,\"worker\":%d}",
			(unsigned long long)rs.rx_packets, (unsigned long long)rs.tx_packets,
			(unsigned long long)rs.srtp_rejected, (unsigned long long)rs.rx_dropped,
			(unsigned long long)rs.rx_strict, (unsigned long long)rs.rx_malformed,
			(unsigned long long)rs.rtcp_packets, (unsigned long long)rs.rtcp_malformed,
			ch->rtp ? pbx_rtp_worker(ch->rtp) : -1);
	} else {
		char pkts[64];
		snprintf(pkts, sizeof pkts, "%llu/%llu", (unsigned long long)rs.rx_packets,
			 (unsigned long long)rs.tx_packets);
		if (rs.rx_dropped) /* not used: strict RTP, malformed, direction (rtp show stats) */
			snprintf(pkts + strlen(pkts), sizeof pkts - strlen(pkts), " -%llu",
				 (unsigned long long)rs.rx_dropped);
		if (rs.srtp_rejected) /* failed SRTP authentication or replays */
			snprintf(pkts + strlen(pkts), sizeof pkts - strlen(pkts), " !%llu",
				 (unsigned long long)rs.srtp_rejected);
		pbx_cli_printf(st->cli, "%-28s %-9s %-12s %-12s %-28s %s  %-16s %s\n", ch->name,
			       pbx_chan_state_name(ch->state), ch->caller_num, ch->exten,
			       peer ? peer->name : "", dur, pkts, media.data ? media.data : "");
	}
	pbx_buf_free(&media);
	st->n++;
	return 0;
}

static int show_channels(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct show_state st = {cli, pbx_cli_flag(a, "--json"), 0, time(NULL)};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-28s %-9s %-12s %-12s %-28s %-8s  %-16s %s\n", "Channel",
			       "State", "Caller", "Callee", "Bridged to", "Duration",
			       "Packets rx/tx", "Media");
	pbx_chan_each(show_one, &st);
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d active channel%s\n", st.n, st.n == 1 ? "" : "s");
}

static int count_call(struct pbx_chan *ch, void *arg)
{
	/* A call is a leg that started it: incoming, or originated (no peer that owns it). */
	const struct pbx_chan *peer = pbx_bridge_peer(ch);
	if (!ch->outgoing || !peer || peer->outgoing)
		(*(int *)arg)++;
	return 0;
}

unsigned pbx__chan_calls(void)
{
	int calls = 0;
	pbx_chan_each(count_call, &calls);
	return (unsigned)calls;
}

static int show_calls(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	unsigned calls = pbx__chan_calls();
	return pbx_cli_printf(cli, "%u active channel%s\n%u active call%s\n", pbx_chan_count(),
			      pbx_chan_count() == 1 ? "" : "s", calls, calls == 1 ? "" : "s");
}

static int hangup(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *name = pbx_cli_arg(a, "NAME");
	if (!strcasecmp(name, "all")) {
		unsigned n = pbx_chan_count();
		pbx__chan_hangup_all(PBX_CAUSE_NORMAL);
		return pbx_cli_printf(cli, "Hung up %u channel%s.\n", n, n == 1 ? "" : "s");
	}
	struct pbx_chan *ch = pbx_chan_find_name(name);
	if (!ch)
		return pbx_cli_error(cli, "channel hangup: no channel named '%s'", name);
	pbx_chan_hangup(ch, PBX_CAUSE_NORMAL);
	return pbx_cli_printf(cli, "Hung up %s.\n", name);
}

/* EXTEN@CONTEXT (context "default" when left out) into @p exten and @p context. */
static void split_dest(const char *dest, char *exten, size_t elen, char *context, size_t clen)
{
	const char *at = strchr(dest, '@');
	snprintf(exten, elen, "%.*s", at ? (int)(at - dest) : (int)strlen(dest), dest);
	snprintf(context, clen, "%s", at && at[1] ? at + 1 : "default");
}

/* An originated channel runs the dialplan once it answers. */
static void originate_state(struct pbx_chan *ch, enum pbx_chan_state st, void *arg)
{
	if (st != PBX_CHAN_UP)
		return;
	pbx_chan_set_owner(ch, NULL, NULL); /* the dialplan takes it over */
	if (pbx_dialplan_run(ch, ch->context, ch->exten)) {
		pbx_warning("originate: no dialplan to run %s@%s", ch->exten, ch->context);
		pbx_chan_hangup(ch, PBX_CAUSE_FAILURE);
	}
}

static void originate_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	pbx_notice("originate: %s ended before answer (%s)", ch->name, pbx_cause_dialstatus(cause));
}

static const struct pbx_chan_events originate_events = {
	.state = originate_state,
	.hangup = originate_hangup,
};

static int originate(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *target = pbx_cli_arg(a, "TARGET"), *dest = pbx_cli_arg(a, "EXTEN@CONTEXT");
	const char *slash = strchr(target, '/');
	char exten[80], context[80] = "default";
	if (!slash || !slash[1])
		return pbx_cli_error(
			cli, "channel originate: TARGET '%s' must be TECH/DEST, e.g. SIP/1001",
			target);
	const struct pbx_chan_tech *tech = pbx_chan_tech_find(target, (size_t)(slash - target));
	if (!tech)
		return pbx_cli_error(cli, "channel originate: unknown technology '%.*s'",
				     (int)(slash - target), target);
	split_dest(dest, exten, sizeof exten, context, sizeof context);
	if (!exten[0])
		return pbx_cli_error(cli, "channel originate: no extension in '%s'", dest);
	if (!pbx_dialplan_exists(context, exten))
		return pbx_cli_error(cli, "channel originate: no extension %s in context %s", exten,
				     context);
	struct pbx_chan *ch;
	int err = tech->request(&ch, slash + 1, NULL);
	if (err)
		return pbx_cli_error(cli, "channel originate: cannot reach %s (%s)", target,
				     err == ENOENT ? "not registered" : strerror(err));
	snprintf(ch->exten, sizeof ch->exten, "%s", exten);
	snprintf(ch->context, sizeof ch->context, "%s", context);
	snprintf(ch->caller_num, sizeof ch->caller_num, "%s", exten);
	pbx_chan_set_owner(ch, &originate_events, NULL);
	if ((err = pbx_chan_call(ch, 30))) {
		pbx_chan_hangup(ch, PBX_CAUSE_FAILURE);
		return pbx_cli_error(cli, "channel originate: call failed (%s)", strerror(err));
	}
	return pbx_cli_printf(cli, "Calling %s; on answer it runs %s@%s.\n", ch->name, exten,
			      context);
}

static int redirect(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *name = pbx_cli_arg(a, "NAME"), *dest = pbx_cli_arg(a, "EXTEN@CONTEXT");
	char exten[80], context[80];
	split_dest(dest, exten, sizeof exten, context, sizeof context);
	if (!exten[0])
		return pbx_cli_error(cli, "channel redirect: no extension in '%s'", dest);
	struct pbx_chan *ch = pbx_chan_find_name(name);
	if (!ch)
		return pbx_cli_error(cli, "channel redirect: no channel named '%s'", name);
	int err = pbx_chan_redirect(ch, context, exten);
	if (err == ENOENT)
		return pbx_cli_error(cli, "channel redirect: no extension %s in context %s", exten,
				     context);
	if (err)
		return pbx_cli_error(cli, "channel redirect: %s: %s", name, strerror(err));
	return pbx_cli_printf(cli, "Redirected %s to %s@%s.\n", name, exten, context);
}

static const struct pbx_cli_cmd cmds[] = {
	{"core show channels [--json]", "list active channels", NULL, show_channels},
	{"core show calls", "count active channels and calls", NULL, show_calls},
	{"channel hangup NAME", "hang up a channel by name, or 'all'", NULL, hangup},
	{"channel originate TARGET extension EXTEN@CONTEXT",
	 "call TARGET (e.g. SIP/1001) and, when it answers, run the dialplan there",
	 "Example: channel originate SIP/1001 extension 600@default", originate},
	{"channel redirect NAME EXTEN@CONTEXT",
	 "send a channel to another extension of the dialplan (its bridge is left)",
	 "Example: channel redirect SIP/1001-00000003 600@default", redirect},
};

static unsigned busy(void)
{
	return pbx_chan_count();
}

static int load(void)
{
	pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
	pbx_core_set_busy_probe(busy);
	return 0;
}

static void unload(void)
{
	pbx_core_set_busy_probe(NULL);
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(chan_cmds_module) = {"chan_cmds", 1, load, unload};
