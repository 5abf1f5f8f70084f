/**
 * @file conf_rooms_cmds.c  Console commands: confbridge room add|del|list|show
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The room definitions of conf_rooms.h. Every argument is checked before
 * the one write, by the store's own check (pbx__conf_room_check), so the
 * console and the store cannot disagree on what a good room is. PINs are
 * never printed: list and show say only whether one is set.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_priv.h"
#include "pbx/cli.h"
#include "pbx/conf_rooms.h"
#include "pbx/module.h"

/* The argument that sets each member, and whether its value may be echoed. */
static const struct {
	const char *field, *arg;
	bool secret;
} args[] = {
	{"number", "NUM", false},
	{"pin", "--pin", true},
	{"admin_pin", "--admin-pin", true},
	{"max_members", "--max", false},
	{"moh", "--moh", false},
};

/*
 * Copy @p v into the array @p dst of @p size bytes. A value too long for it
 * is copied without its terminator, so that pbx__conf_room_check refuses it
 * with the field's own rule instead of a shortened value being stored.
 */
static void put_text(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);
	memcpy(dst, v, n < size ? n + 1 : size);
}

/* The error for member @p field: the argument that set it, its value unless secret, why. */
static int refuse(struct pbx_cli *cli, const char *cmd, const struct pbx_cli_args *a,
		  const char *field, const char *why)
{
	for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
		const char *value = pbx_cli_arg(a, args[i].arg);
		if (strcmp(args[i].field, field))
			continue;
		if (args[i].secret || !value)
			return pbx_cli_error(cli, "%s: %s: %s", cmd, args[i].arg, why);
		return pbx_cli_error(cli, "%s: %s '%s': %s", cmd, args[i].arg, value, why);
	}
	return pbx_cli_error(cli, "%s: %s: %s", cmd, field, why);
}

static int room_add(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	static const char cmd[] = "confbridge room add";
	struct pbx_conf_room r = {0}, old;
	const char *v, *field, *why;

	put_text(r.number, sizeof r.number, pbx_cli_arg(a, "NUM"));
	if ((v = pbx_cli_arg(a, "--pin")))
		put_text(r.pin, sizeof r.pin, v);
	if ((v = pbx_cli_arg(a, "--admin-pin")))
		put_text(r.admin_pin, sizeof r.admin_pin, v);
	if ((v = pbx_cli_arg(a, "--max"))) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		/* Not a plain number: out of range, so the check below says what is wanted. */
		if (!isdigit((unsigned char)v[0]) || *end || errno || n > UINT_MAX)
			n = UINT_MAX;
		r.max_members = (unsigned)n;
	}
	if ((v = pbx_cli_arg(a, "--record"))) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return pbx_cli_error(cli, "%s: --record '%s': on or off", cmd, v);
		r.record = !strcmp(v, "on");
	}
	if ((v = pbx_cli_arg(a, "--moh")))
		put_text(r.moh, sizeof r.moh, v);
	if ((why = pbx__conf_room_check(&r, &field)))
		return refuse(cli, cmd, a, field, why);

	int err = pbx_conf_room_get(r.number, &old);
	if (err && err != ENOENT)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	bool existed = !err;
	if ((err = pbx_conf_room_put(&r)))
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	return pbx_cli_printf(cli, "Room %s %s.\n", r.number, existed ? "updated" : "added");
}

static int room_del(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *num = pbx_cli_arg(a, "NUM");
	int err = pbx_conf_room_del(num);
	if (err == ENOENT)
		return pbx_cli_error(cli, "confbridge room del: no such room '%s'", num);
	if (err)
		return pbx_cli_error(cli, "confbridge room del: database error (%s)",
				     strerror(err));
	return pbx_cli_printf(cli, "Room %s deleted.\n", num);
}

static void json_room(struct pbx_buf *b, const struct pbx_conf_room *r)
{
	pbx_buf_puts(b, "{\"number\":");
	pbx_buf_json_str(b, r->number);
	pbx_buf_printf(b, ",\"pin_set\":%s,\"admin_pin_set\":%s,\"max\":%u,\"record\":%s,\"moh\":",
		       r->pin[0] ? "true" : "false", r->admin_pin[0] ? "true" : "false",
		       r->max_members, r->record ? "true" : "false");
	pbx_buf_json_str(b, r->moh);
	pbx_buf_puts(b, "}");
}

static const char *max_text(const struct pbx_conf_room *r, char *buf, size_t len)
{
	if (!r->max_members)
		return "no limit";
	snprintf(buf, len, "%u", r->max_members);
	return buf;
}

struct list_state {
	struct pbx_cli *cli;
	bool json;
	unsigned n;
};

static int list_one(const struct pbx_conf_room *r, void *arg)
{
	struct list_state *st = arg;
	char max[16];
	if (st->json) {
		pbx_buf_puts(&st->cli->out, st->n ? ",\n " : "");
		json_room(&st->cli->out, r);
	} else {
		pbx_cli_printf(st->cli, "%-12s %-5s %-9s %-9s %-6s %s\n", r->number,
			       r->pin[0] ? "set" : "none", r->admin_pin[0] ? "set" : "none",
			       max_text(r, max, sizeof max), r->record ? "on" : "off",
			       r->moh[0] ? r->moh : "default");
	}
	st->n++;
	return 0;
}

static int room_list(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct list_state st = {cli, pbx_cli_flag(a, "--json"), 0};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-12s %-5s %-9s %-9s %-6s %s\n", "Room", "PIN", "Admin PIN",
			       "Max", "Record", "Hold music");
	if (pbx_conf_room_each(list_one, &st))
		return pbx_cli_error(cli, "confbridge room list: database error");
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%u room%s\n", st.n, st.n == 1 ? "" : "s");
}

static int room_show(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	static const char cmd[] = "confbridge room show";
	const char *num = pbx_cli_arg(a, "NUM"), *field, *why;
	struct pbx_conf_room r = {0};
	char max[16];
	int err = pbx_conf_room_get(num, &r);
	if (err == EINVAL) {
		put_text(r.number, sizeof r.number, num);
		why = pbx__conf_room_check(&r, &field);
		return refuse(cli, cmd, a, "number", why ? why : "not a room number");
	}
	if (err == ENOENT)
		return pbx_cli_error(cli, "%s: no such room '%s'", cmd, num);
	if (err)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	if (pbx_cli_flag(a, "--json")) {
		json_room(&cli->out, &r);
		return pbx_cli_printf(cli, "\n");
	}
	return pbx_cli_printf(cli,
			      "Room        : %s\nPIN         : %s\nAdmin PIN   : %s\n"
			      "Max members : %s\nRecord      : %s\nHold music  : %s\n",
			      r.number, r.pin[0] ? "set" : "none", r.admin_pin[0] ? "set" : "none",
			      max_text(&r, max, sizeof max),
			      r.record ? "on, from the first join" : "off",
			      r.moh[0] ? r.moh : "default");
}

struct complete_state {
	const char *prefix;
	struct pbx_buf *out;
};

static int complete_room(const struct pbx_conf_room *r, void *arg)
{
	struct complete_state *c = arg;
	if (!strncmp(r->number, c->prefix, strlen(c->prefix)))
		pbx_buf_printf(c->out, "%s\n", r->number);
	return 0;
}

/* Tab completion of NUM arguments: the defined rooms starting with the prefix. */
static void complete_num(const char *prefix, struct pbx_buf *out)
{
	struct complete_state c = {prefix, out};
	pbx_conf_room_each(complete_room, &c);
}

static const struct pbx_cli_cmd cmds[] = {
	{"confbridge room add NUM [--pin N] [--admin-pin N] [--max N] [--record on|off] "
	 "[--moh CLASS]",
	 "define a conference room, or replace its definition",
	 "NUM is 1 to 32 letters, digits, - or _. A caller is asked for --pin (digits,\n"
	 "three tries); one who enters --admin-pin instead joins as the room's admin.\n"
	 "--max limits the members (0: no limit of the room's own, at most 10000).\n"
	 "--record on records the room from its first join. --moh is the hold-music\n"
	 "class a member hears while alone (SOUNDS_DIR/moh/CLASS/; default: default).\n"
	 "Adding an existing room replaces it: options not given go back to their defaults.",
	 room_add},
	{"confbridge room del NUM", "delete a conference room's definition", NULL, room_del},
	{"confbridge room list [--json]", "list the conference rooms (never their PINs)", NULL,
	 room_list},
	{"confbridge room show NUM [--json]", "show one conference room (never its PINs)", NULL,
	 room_show},
};

static int load(void)
{
	int err = pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
	return err ? err : pbx_cli_completer_register("NUM", complete_num);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(conf_rooms_cmds_module) = {"conf_rooms_cmds", 3, load, unload};
