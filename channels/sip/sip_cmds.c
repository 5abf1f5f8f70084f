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
#include "sip_registrar.h"
#include "sip_stack.h"
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

static int ban_line(const char *addr, unsigned failures, int64_t remaining, void *arg)
{
	struct show_state *st = arg;
	if (remaining > 0) {
		pbx_cli_printf(st->cli, "%-40s %8u %9lld s\n", addr, failures,
			       (long long)remaining);
		st->n++;
	}
	return 0;
}

static int show_bans(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	struct show_state st = {.cli = cli};
	pbx_cli_printf(cli, "%-40s %8s %11s\n", "Address", "Failures", "Remaining");
	sip_ban_each(sip_stack_get()->ban, ban_line, &st, sip_stack_now_s());
	return pbx_cli_printf(cli, "%d address%s banned\n", st.n, st.n == 1 ? "" : "es");
}

static int unban(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	const char *addr = pbx_cli_arg(args, "ADDR");
	int err = sip_ban_remove(sip_stack_get()->ban, addr);
	if (err == EINVAL)
		return pbx_cli_error(cli, "sip unban: '%s' is not an IP address", addr);
	if (err)
		return pbx_cli_error(cli, "sip unban: %s is not banned", addr);
	return pbx_cli_printf(cli, "%s unbanned.\n", addr);
}

static int set_debug(struct pbx_cli *cli, const struct pbx_cli_args *args)
{
	bool on = !strcmp(pbx_cli_arg(args, "on|off"), "on");
	sip_transport_set_debug(sip_stack_get()->tp, on);
	return pbx_cli_printf(cli, "SIP debugging %s.\n", on ? "enabled" : "disabled");
}

static const struct pbx_cli_cmd cmds[] = {
	{"sip show registrations [--json]", "list registered contacts", NULL, show_registrations},
	{"sip show contacts EXT", "show the registered contacts of one user", NULL, show_contacts},
	{"sip show bans", "list addresses banned after failed logins", NULL, show_bans},
	{"sip unban ADDR", "lift the ban on an address", NULL, unban},
	{"sip set debug on|off", "log every SIP message sent and received",
	 "Messages are logged at notice level with their addresses.", set_debug},
};

static void user_gone(const char *ext)
{
	struct sip_stack *s = sip_stack_get();
	if (s)
		sip_registrar_forget(s->reg, ext);
}

static int load(void)
{
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		pbx_cli_register(&cmds[i]);
	return pbx_user_watch(user_gone);
}

static void unload(void)
{
	pbx_user_unwatch(user_gone);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		pbx_cli_unregister(&cmds[i]);
}

/* After the stack (order 10), so the commands never see it missing. */
PBX_MODULE(sip_cmds_module) = {"sip_cmds", 11, load, unload};
