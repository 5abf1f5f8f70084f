/**
 * @file sip_cmds.c  Console commands of the SIP driver
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/module.h"
#include "sip_ban.h"
#include "sip_pike.h"
#include "sip_registrar.h"
#include "sip_stack.h"
#include "sip_tsx.h"
#include "sip_subscription.h"
#include "sip_transport.h"

struct show_state {
	struct pbx_cli *cli;
	bool json;
	int n, users;
	int64_t now;
};

static void status_text(const struct sip_binding *b, char *buf, size_t len)
{
	if (b->status == SIP_CONTACT_OK && b->rtt_ms >= 0)
		snprintf(buf, len, "OK (%d ms)", b->rtt_ms);
	else
		snprintf(buf, len, "%s", sip_contact_status_name(b->status));
}

static void json_binding(struct pbx_buf *o, const struct sip_binding *b, int64_t now)
{
	char src[96];
	pbx_buf_puts(o, "{\"extension\":");
	pbx_buf_json_str(o, b->aor->ext);
	pbx_buf_puts(o, ",\"contact\":");
	pbx_buf_json_str(o, b->contact);
	pbx_buf_puts(o, ",\"source\":");
	pbx_buf_json_str(o, sip_peer_str(&b->src, src, sizeof src));
	pbx_buf_printf(o, ",\"expires_in\":%lld,\"status\":\"%s\",\"rtt_ms\":%d,\"user_agent\":",
		       (long long)(b->expires - now), sip_contact_status_name(b->status),
		       b->rtt_ms);
	pbx_buf_json_str(o, b->user_agent);
	pbx_buf_puts(o, "}");
}

static int show_aor(const struct sip_aor *a, void *arg)
{
	struct show_state *st = arg;
	char src[96], status[32];
	st->users++;
	for (const struct sip_binding *b = a->bindings; b; b = b->next, st->n++) {
		if (st->json) {
			pbx_buf_puts(&st->cli->out, st->n ? ",\n " : "");
			json_binding(&st->cli->out, b, st->now);
			continue;
		}
		status_text(b, status, sizeof status);
		pbx_cli_printf(st->cli, "%-10s %-44s %-26s %7lld  %-14s %s\n", a->ext, b->contact,
			       sip_peer_str(&b->src, src, sizeof src),
			       (long long)(b->expires - st->now), status, b->user_agent);
	}
	return 0;
}

static int show_registrations(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct sip_stack *s = sip_stack_get();
	struct show_state st = {cli, pbx_cli_flag(args, "--json"), 0, 0, sip_stack_now_s()};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-10s %-44s %-26s %7s  %-14s %s\n", "Extension", "Contact",
			       "Source", "Expires", "Status", "User-Agent");
	sip_registrar_each(s->reg, show_aor, &st);
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d contact%s of %d user%s registered\n", st.n,
			      st.n == 1 ? "" : "s", st.users, st.users == 1 ? "" : "s");
}

static int show_contacts(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct sip_stack *s = sip_stack_get();
	const char *ext = pbx_cli_arg(args, "EXT");
	const struct sip_aor *a = sip_registrar_find(s->reg, ext);
	struct pbx_user u;
	char src[96], status[32];
	int64_t now = sip_stack_now_s();
	if (pbx_user_find(pbx_dir(), ext, &u))
		return pbx_cli_error(cli, "sip show contacts: no such user '%s'", ext);
	if (!a)
		return pbx_cli_printf(cli, "%s has no registered contacts.\n", ext);
	for (const struct sip_binding *b = a->bindings; b; b = b->next) {
		status_text(b, status, sizeof status);
		pbx_cli_printf(cli,
			       "Contact    : %s\nSource     : %s\nExpires in : %lld s\n"
			       "Status     : %s\nUser-Agent : %s\nCall-ID    : %s\nCSeq       : "
			       "%u\n%s%s%s\n",
			       b->contact, sip_peer_str(&b->src, src, sizeof src),
			       (long long)(b->expires - now), status, b->user_agent, b->call_id,
			       b->cseq, b->instance[0] ? "Instance   : " : "", b->instance,
			       b->instance[0] ? "\n" : "");
	}
	return 0;
}

struct bans_state {
	struct pbx_cli *cli;
	bool json;
	int n, pairs, addrs;
};

static int ban_line(const struct sip_ban_info *b, void *arg)
{
	struct bans_state *st = arg;
	char reason[160];
	sip_ban_reason(b, reason, sizeof reason);
	if (b->banned)
		*(b->pair ? &st->pairs : &st->addrs) += 1;
	if (st->json) {
		struct pbx_buf *o = &st->cli->out;
		pbx_buf_puts(o, st->n++ ? ",\n {\"scope\":" : "{\"scope\":");
		pbx_buf_json_str(o, b->pair ? "pair" : "address");
		pbx_buf_puts(o, ",\"address\":");
		pbx_buf_json_str(o, b->addr);
		pbx_buf_puts(o, b->pair ? ",\"user\":" : ",\"users\":");
		pbx_buf_json_str(o, b->users);
		pbx_buf_printf(o,
			       ",\"user_count\":%u,\"failures\":%u,\"banned\":%s,"
			       "\"remaining_s\":%lld,\"reason\":",
			       b->n_users, b->failures, b->banned ? "true" : "false",
			       (long long)b->remaining_s);
		pbx_buf_json_str(o, reason);
		pbx_buf_puts(o, "}");
		return 0;
	}
	pbx_cli_printf(st->cli, "%-7s %-10s %-40s %9lld s  %s\n", b->pair ? "pair" : "address",
		       b->banned ? "banned" : "counting", b->addr, (long long)b->remaining_s,
		       reason);
	return 0;
}

/* Bans first (soonest to end first), then counters; "Left" is the ban's
 * time left, or for a counter the time left in its window. */
static int show_bans(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct bans_state st = {.cli = cli, .json = pbx_cli_flag(args, "--json")};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-7s %-10s %-40s %11s  %s\n", "Scope", "State", "Address",
			       "Left", "Reason");
	sip_ban_each(sip_stack_get()->ban, ban_line, &st, sip_stack_now_s());
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d address%s banned, %d pair%s banned\n", st.addrs,
			      st.addrs == 1 ? "" : "es", st.pairs, st.pairs == 1 ? "" : "s");
}

struct pike_state {
	struct pbx_cli *cli;
	bool json;
	int n;
};

static int pike_line(const struct sip_pike_info *i, void *arg)
{
	struct pike_state *st = arg;
	if (st->json) {
		struct pbx_buf *o = &st->cli->out;
		pbx_buf_puts(o, st->n++ ? ",\n {\"address\":" : "{\"address\":");
		pbx_buf_json_str(o, i->addr);
		pbx_buf_printf(o,
			       ",\"remaining_s\":%lld,\"blocked_s\":%lld,\"requests\":%u,"
			       "\"during\":%llu}",
			       (long long)((i->remaining_ms + 999) / 1000),
			       (long long)(i->blocked_ms / 1000), i->rate,
			       (unsigned long long)i->during);
		return 0;
	}
	st->n++;
	pbx_cli_printf(st->cli, "%-40s %9lld s %9lld s %10u %12llu\n", i->addr,
		       (long long)((i->remaining_ms + 999) / 1000),
		       (long long)(i->blocked_ms / 1000), i->rate, (unsigned long long)i->during);
	return 0;
}

/* "Left" is rounded up: a block with 0.3 s to go shows 1 s, not 0. */
static int show_pike(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct sip_stack *s = sip_stack_get();
	struct pike_state st = {.cli = cli, .json = pbx_cli_flag(args, "--json")};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else if (!sip_pike_enabled(s->pike))
		pbx_cli_printf(cli, "The flood guard is off (sip.pike_rate = 0).\n");
	else
		pbx_cli_printf(cli, "%-40s %11s %11s %10s %12s\n", "Address", "Left", "Blocked",
			       "Requests", "While blocked");
	sip_pike_each(s->pike, pike_line, &st, (int64_t)uv_now(s->loop));
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	if (!sip_pike_enabled(s->pike))
		return 0;
	return pbx_cli_printf(cli, "%d address%s blocked (more than %d requests in %d s)\n", st.n,
			      st.n == 1 ? "" : "es", s->cfg->pike_rate, s->cfg->pike_window);
}

/* A pike block is lifted too: the admin who unbans an address wants it answered. */
static int unban(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct sip_stack *s = sip_stack_get();
	const char *what = pbx_cli_arg(args, "ADDR");
	int err = sip_ban_remove(s->ban, what, sip_stack_now_s());
	int perr = strchr(what, '@') ? ENOENT
				     : sip_pike_remove(s->pike, what, (int64_t)uv_now(s->loop));
	if (err == EINVAL)
		return pbx_cli_error(cli, "sip unban: '%s' is not an IP address nor USER@ADDRESS",
				     what);
	if (err && perr)
		return pbx_cli_error(cli, "sip unban: %s is not banned", what);
	return pbx_cli_printf(cli, "%s unbanned.\n", what);
}

struct subs_state {
	struct pbx_cli *cli;
	bool json;
	int n;
	int64_t now;
};

static int sub_line(const struct sip_sub *sub, void *arg)
{
	struct subs_state *st = arg;
	const char *state = sub->state == SIP_SUB_ACTIVE ? "active" : "terminated";
	long long left = sub->state == SIP_SUB_ACTIVE ? (long long)(sub->expires - st->now) : 0;
	if (left < 0)
		left = 0;
	if (st->json) {
		struct pbx_buf *o = &st->cli->out;
		char peer[96];
		pbx_buf_puts(o, st->n++ ? ",\n {\"user\":" : "{\"user\":");
		pbx_buf_json_str(o, sub->user);
		pbx_buf_puts(o, ",\"event\":");
		pbx_buf_json_str(o, sub->pkg->name);
		pbx_buf_puts(o, ",\"resource\":");
		pbx_buf_json_str(o, sub->resource);
		pbx_buf_puts(o, ",\"contact\":");
		pbx_buf_json_str(o, sub->dlg.remote_target);
		pbx_buf_puts(o, ",\"source\":");
		pbx_buf_json_str(o, sip_peer_str(&sub->dlg.peer, peer, sizeof peer));
		pbx_buf_printf(o,
			       ",\"expires_in\":%lld,\"state\":\"%s\",\"notifies\":%u,\"call_id\":",
			       left, state, sub->notifies);
		pbx_buf_json_str(o, sub->dlg.call_id);
		pbx_buf_puts(o, "}");
		return 0;
	}
	st->n++;
	pbx_cli_printf(st->cli, "%-10s %-16s %-10s %-44s %7lld  %-10s %s\n", sub->user,
		       sub->pkg->name, sub->resource, sub->dlg.remote_target, left, state,
		       sub->dlg.call_id);
	return 0;
}

static int show_subscriptions(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct sip_stack *s = sip_stack_get();
	struct subs_state st = {cli, pbx_cli_flag(args, "--json"), 0, sip_stack_now_s()};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-10s %-16s %-10s %-44s %7s  %-10s %s\n", "User", "Event",
			       "Resource", "Contact", "Expires", "State", "Call-ID");
	sip_subs_each(s->subs, sub_line, &st);
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d subscription%s\n", st.n, st.n == 1 ? "" : "s");
}

static int show_stats(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct sip_stack *s = sip_stack_get();
	struct sip_tsx_stats t;
	struct sip_auth_nonce_stats n;
	uint64_t now = uv_now(s->loop);
	double p50 = sip_overload_percentile(&s->overload, 50, now) / 1000.0,
	       p90 = sip_overload_percentile(&s->overload, 90, now) / 1000.0,
	       p99 = sip_overload_percentile(&s->overload, 99, now) / 1000.0,
	       max = s->overload.max_seen_us / 1000.0;
	sip_tsx_stats(s->tsx, &t);
	sip_auth_nonce_stats(s->auth, sip_stack_now_s(), &n);
	if (pbx_cli_flag(args, "--json"))
		return pbx_cli_printf(
			       cli,
			       "{\"received\":%llu,\"malformed\":%llu,\"responses_sent\":%llu,"
			       "\"auth_failures\":%llu,\"banned_drops\":%llu,\"pike_drops\":%llu,"
			       "\"shed\":%llu,"
			       "\"server_transactions\":%zu,\"client_transactions\":%zu,"
			       "\"absorbed\":%llu,\"queue_delay_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
			       "\"p99\":%.3f,\"max\":%.3f},\"overload_queue_delay_ms\":%d,"
			       "\"nonces\":{\"slots\":%zu,\"live\":%zu,\"evictions\":%llu}}\n",
			       (unsigned long long)s->stats.rx, (unsigned long long)s->stats.bad,
			       (unsigned long long)s->stats.tx_resp,
			       (unsigned long long)s->stats.auth_fail,
			       (unsigned long long)s->stats.banned_drops,
			       (unsigned long long)s->stats.pike_drops,
			       (unsigned long long)s->stats.shed, t.server, t.client,
			       (unsigned long long)t.absorbed, p50, p90, p99, max,
			       s->cfg->overload_queue_delay, n.slots, n.live,
			       (unsigned long long)n.evictions) < 0;
	return pbx_cli_printf(cli,
			      "Messages received          : %llu\n"
			      "Malformed (dropped or 400) : %llu\n"
			      "Responses sent             : %llu\n"
			      "Failed logins              : %llu\n"
			      "Dropped from banned sources: %llu\n"
			      "Dropped by the flood guard : %llu (sip.pike_*)\n"
			      "Shed (503, overloaded)     : %llu (past %d ms in the queue)\n"
			      "Queue delay, last 10-20 s  : p50 %.3f ms, p90 %.3f ms, p99 %.3f ms; "
			      "max since start %.3f ms\n"
			      "Server transactions now    : %zu\n"
			      "Client transactions now    : %zu\n"
			      "Absorbed by a transaction  : %llu (retransmissions, ACKs)\n"
			      "Nonce table                : %zu of %zu slots live, %llu evicted\n",
			      (unsigned long long)s->stats.rx, (unsigned long long)s->stats.bad,
			      (unsigned long long)s->stats.tx_resp,
			      (unsigned long long)s->stats.auth_fail,
			      (unsigned long long)s->stats.banned_drops,
			      (unsigned long long)s->stats.pike_drops,
			      (unsigned long long)s->stats.shed, s->cfg->overload_queue_delay, p50,
			      p90, p99, max, t.server, t.client, (unsigned long long)t.absorbed,
			      n.live, n.slots, (unsigned long long)n.evictions) < 0;
}

static int set_debug(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	bool on = !strcmp(pbx_cli_arg(args, "on|off"), "on");
	sip_transport_set_debug(sip_stack_get()->tp, on);
	return pbx_cli_printf(cli, "SIP debugging %s.\n", on ? "enabled" : "disabled");
}

static const struct pbx_cli_cmd cmds[] = {
	{"sip show registrations [--json]", "list registered contacts", NULL, show_registrations},
	{"sip show subscriptions [--json]", "list SUBSCRIBE/NOTIFY subscriptions (MWI)",
	 "User is who subscribed, Resource what is watched (a mailbox for message-summary),\n"
	 "Contact where NOTIFYs go; Expires counts the seconds left.",
	 show_subscriptions},
	{"sip show contacts EXT", "show the registered contacts of one user", NULL, show_contacts},
	{"sip show stats [--json]",
	 "SIP counters: messages, responses, failed logins, transactions",
	 "Counts since the start; transactions are those alive now.", show_stats},
	{"sip show bans [--json]", "list banned users at addresses, banned addresses, counters",
	 "A pair is one user at one address, banned after sip.ban_threshold failed logins;\n"
	 "an address is banned when sip.ban_users users or sip.ban_threshold_address\n"
	 "logins fail from it.",
	 show_bans},
	{"sip show pike [--json]", "list addresses the flood guard blocks (sip.pike_rate)",
	 "An address sending more than sip.pike_rate requests within sip.pike_window\n"
	 "seconds is ignored for sip.pike_time seconds, longer while it keeps on.\n"
	 "Requests: in the last window; While blocked: received since the block began.",
	 show_pike},
	{"sip unban ADDR", "lift the ban on ADDR and its users, or on one user as USER@ADDR",
	 "ADDR lifts the address ban, every user ban at it and a flood guard block;\n"
	 "USER@ADDR lifts one user's ban at that address.\n"
	 "IPv6: 2001:db8::1, [2001:db8::1], USER@[2001:db8::1].",
	 unban},
	{"sip set debug on|off", "log every SIP message sent and received",
	 "Messages are logged at notice level with their addresses.", set_debug},
};

static void user_gone(const char *ext)
{
	struct sip_stack *s = sip_stack_get();
	if (!s)
		return;
	sip_registrar_forget(s->reg, ext);
	sip_subs_drop_user(s->subs, ext);
}

static int load(void)
{
	pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
	return pbx_user_watch(user_gone);
}

static void unload(void)
{
	pbx_user_unwatch(user_gone);
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

/* After the stack (order 10), so the commands never see it missing. */
PBX_MODULE(sip_cmds_module) = {"sip_cmds", 11, load, unload};
