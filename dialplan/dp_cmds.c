/**
 * @file dp_cmds.c  Console commands of the dialplan: reload, show
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbx/chan.h"
#include "pbx/cli.h"
#include "pbx/devstate.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "dp_priv.h"

static void count(const struct dp_state *st, size_t *nctx, size_t *next)
{
	*nctx = st->n;
	*next = 0;
	for (size_t i = 0; i < st->n; i++)
		*next += st->ctx[i].n;
}

static int reload(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_buf err;
	size_t nctx, next;
	pbx_buf_init(&err);
	struct dp_state *old = dp_current();
	unsigned old_calls = old ? old->calls : 0;
	int e = dp_reload(&err);
	if (e) {
		const char *why = err.len ? err.data : strerror(e);
		pbx_error("dialplan reload failed: %s", why);
		int rc = pbx_cli_error(cli, "dialplan reload: %s; the dialplan in use stays", why);
		pbx_buf_free(&err);
		return rc;
	}
	pbx_buf_free(&err);
	count(dp_current(), &nctx, &next);
	pbx_notice("dialplan: %s reloaded: %zu contexts, %zu extensions", dp_file(), nctx, next);
	pbx_cli_printf(cli, "Dialplan reloaded from %s: %zu contexts, %zu extensions.\n", dp_file(),
		       nctx, next);
	if (old_calls)
		pbx_cli_printf(cli, "%u call(s) in progress finish on the previous version.\n",
			       old_calls);
	return 0;
}

/* The contexts to show: @p first and everything it includes, each once, in order. */
static size_t collect(const struct dp_state *st, size_t first, size_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (out[k] == first)
			return n;
	out[n++] = first;
	const struct dp_context *c = &st->ctx[first];
	for (size_t i = 0; i < c->nincl; i++)
		if (c->incl_idx[i] >= 0)
			n = collect(st, (size_t)c->incl_idx[i], out, n);
	return n;
}

static void show_text(struct pbx_cli *cli, const struct dp_state *st, const struct dp_context *c)
{
	char left[DP_NAME_MAX + 16];
	pbx_cli_printf(cli, "[ %s ]\n", c->name);
	for (size_t i = 0; i < c->n; i++) {
		snprintf(left, sizeof left, "'%s' =>", c->ext[i].name);
		pbx_cli_printf(cli, "  %-24s %s:%d\n", left, st->file, c->ext[i].line);
	}
	for (size_t i = 0; i < c->nincl; i++)
		pbx_cli_printf(cli, "  %-24s '%s'%s\n", "Include =>", c->incl[i],
			       c->incl_idx[i] < 0 ? " (no such context)" : "");
	for (size_t i = 0; i < c->nhints; i++) {
		snprintf(left, sizeof left, "Hint '%s' =>", c->hints[i].exten);
		pbx_cli_printf(cli, "  %-24s %s\n", left, c->hints[i].device);
	}
	pbx_cli_printf(cli, "\n");
}

static void show_json(struct pbx_buf *o, const struct dp_state *st, const struct dp_context *c)
{
	pbx_buf_puts(o, "{\"name\":");
	pbx_buf_json_str(o, c->name);
	pbx_buf_puts(o, ",\"extensions\":[");
	for (size_t i = 0; i < c->n; i++) {
		pbx_buf_puts(o, i ? ",{\"name\":" : "{\"name\":");
		pbx_buf_json_str(o, c->ext[i].name);
		pbx_buf_printf(o, ",\"line\":%d}", c->ext[i].line);
	}
	pbx_buf_puts(o, "],\"includes\":[");
	for (size_t i = 0; i < c->nincl; i++) {
		pbx_buf_puts(o, i ? "," : "");
		pbx_buf_json_str(o, c->incl[i]);
	}
	pbx_buf_puts(o, "],\"hints\":[");
	for (size_t i = 0; i < c->nhints; i++) {
		pbx_buf_puts(o, i ? ",{\"exten\":" : "{\"exten\":");
		pbx_buf_json_str(o, c->hints[i].exten);
		pbx_buf_puts(o, ",\"device\":");
		pbx_buf_json_str(o, c->hints[i].device);
		pbx_buf_puts(o, "}");
	}
	pbx_buf_puts(o, "]}");
}

static int show(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const struct dp_state *st = dp_current();
	const char *name = pbx_cli_arg(a, "CONTEXT");
	bool json = pbx_cli_flag(a, "--json");
	size_t nctx, next, n = 0;
	if (!st)
		return pbx_cli_error(cli, "dialplan show: no dialplan is loaded");
	size_t *which = malloc((st->n ? st->n : 1) * sizeof *which);
	if (!which)
		return pbx_cli_error(cli, "dialplan show: out of memory");
	if (name) {
		const struct dp_context *c = dp_state_context(st, name);
		if (!c) {
			free(which);
			return pbx_cli_error(cli, "dialplan show: no context '%s' in %s", name,
					     st->file);
		}
		n = collect(st, (size_t)(c - st->ctx), which, 0);
	} else {
		for (; n < st->n; n++)
			which[n] = n;
	}
	count(st, &nctx, &next);
	unsigned calls = dp_call_count(), older = calls - st->calls;
	if (json) {
		struct pbx_buf *o = &cli->out;
		pbx_buf_puts(o, "{\"file\":");
		pbx_buf_json_str(o, st->file);
		pbx_buf_printf(o, ",\"loaded\":%lld,\"memory\":%zu,\"calls\":%u,\"contexts\":[",
			       (long long)st->loaded, st->mem, calls);
		for (size_t i = 0; i < n; i++) {
			pbx_buf_puts(o, i ? ",\n " : "\n ");
			show_json(o, st, &st->ctx[which[i]]);
		}
		pbx_buf_puts(o, "]}\n");
	} else {
		char when[32];
		struct tm tm;
		localtime_r(&st->loaded, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		for (size_t i = 0; i < n; i++)
			show_text(cli, st, &st->ctx[which[i]]);
		pbx_cli_printf(cli,
			       "-= %zu extensions in %zu contexts; %s loaded %s; %zu KB; %u "
			       "call(s)",
			       next, nctx, st->file, when, (st->mem + 1023) / 1024, calls);
		if (older)
			pbx_cli_printf(cli, ", %u on an older load", older);
		pbx_cli_printf(cli, " =-\n");
	}
	free(which);
	return 0;
}

struct watch_sum {
	const char *exten, *device;
	unsigned n;
};

/* Watchers of (@p context, @p exten) count for the hint they see in this dialplan. */
static void sum_watchers(const char *context, const char *exten, unsigned n, void *arg)
{
	struct watch_sum *w = arg;
	if (!strcmp(exten, w->exten) && pbx_dialplan_hint(context, exten) == w->device)
		w->n += n;
}

/*
 * Watchers of hint @p k of @p c: subscriptions whose context sees this
 * very hint (its own, or one it includes). Linear in the watched
 * extensions, per hint: a console command on a few hundred at most.
 */
static unsigned hint_watchers(const struct dp_context *c, size_t k)
{
	struct watch_sum w = {c->hints[k].exten, c->hints[k].device, 0};
	pbx_hint_watchers_each(sum_watchers, &w);
	return w.n;
}

/* Every hint of every context, with its devices' state and watchers now. */
static int show_hints(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const struct dp_state *st = dp_current();
	bool json = pbx_cli_flag(a, "--json");
	unsigned n = 0;
	if (!st)
		return pbx_cli_error(cli, "core show hints: no dialplan is loaded");
	if (json)
		pbx_buf_puts(&cli->out, "[");
	else
		pbx_cli_printf(cli, "%-24s %-32s %-12s %s\n", "Extension", "Device", "State",
			       "Watchers");
	for (size_t i = 0; i < st->n; i++) {
		const struct dp_context *c = &st->ctx[i];
		for (size_t k = 0; k < c->nhints; k++, n++) {
			const char *state =
				pbx_devstate_name(pbx_devstate_of_list(c->hints[k].device));
			unsigned watchers = hint_watchers(c, k);
			if (json) {
				struct pbx_buf *o = &cli->out;
				pbx_buf_puts(o, n ? ",\n {\"exten\":" : "{\"exten\":");
				pbx_buf_json_str(o, c->hints[k].exten);
				pbx_buf_puts(o, ",\"context\":");
				pbx_buf_json_str(o, c->name);
				pbx_buf_puts(o, ",\"device\":");
				pbx_buf_json_str(o, c->hints[k].device);
				pbx_buf_printf(o, ",\"state\":\"%s\",\"watchers\":%u}", state,
					       watchers);
				continue;
			}
			char where[160];
			snprintf(where, sizeof where, "%s@%s", c->hints[k].exten, c->name);
			pbx_cli_printf(cli, "%-24s %-32s %-12s %u\n", where, c->hints[k].device,
				       state, watchers);
		}
	}
	if (json)
		pbx_buf_puts(&cli->out, "]\n");
	else
		pbx_cli_printf(cli, "%u hint%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static void complete_context(const char *prefix, struct pbx_buf *out)
{
	const struct dp_state *st = dp_current();
	size_t len = strlen(prefix);
	for (size_t i = 0; st && i < st->n; i++)
		if (!strncmp(st->ctx[i].name, prefix, len))
			pbx_buf_printf(out, "%s\n", st->ctx[i].name);
}

static const struct pbx_cli_cmd cmds[] = {
	{"dialplan reload", "load the dialplan file again; calls in progress keep theirs",
	 "New calls use the new file at once; calls in progress finish on the version they "
	 "started with. A file that fails to load is reported with its line, and the dialplan "
	 "in use stays.",
	 reload},
	{"dialplan show [CONTEXT] [--json]",
	 "list contexts, their extensions in match order, includes and hints",
	 "With CONTEXT, that context and every context it includes. Each extension shows "
	 "where its function is defined.",
	 show},
	{"core show hints [--json]",
	 "the dialplan's hints: extension, device, its state and watchers now",
	 "A device's state comes from its calls (RINGING, INUSE, ONHOLD) and its registrations "
	 "(NOT_INUSE when registered and idle, UNAVAILABLE when not registered). A hint of "
	 "several devices (SIP/1001&SIP/1002) is in use when any is. Watchers are the "
	 "subscriptions (BLF keys: dialog; buddy lists: presence) to the extension whose "
	 "user's context sees this hint.",
	 show_hints},
};

static int load(void)
{
	pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
	pbx_cli_completer_register("CONTEXT", complete_context);
	return 0;
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

/* After the engine (40). */
PBX_MODULE(dp_cmds_module) = {"dialplan_cmds", 41, load, unload};
