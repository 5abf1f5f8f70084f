/**
 * @file conf_cmds.c  Console: confbridge list|kick|mute|unmute|lock|unlock|record|play
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A member is named by its channel ("SIP/1001-00000003", or a prefix that
 * names one member only), or in bulk: `all` (kick), `participants` (every
 * member who is not an admin). Bulk operations take the members first
 * and act after, since a kicked member leaves the room at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbx/cli.h"
#include "pbx/media.h"
#include "pbx/module.h"

#include "apps.h"
#include "conf.h"

static void hms(long s, char *out, size_t size)
{
	snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

static const char *codec_of(const struct conf_member *m)
{
	const struct pbx_rtp_params *p = m->ch->rtp ? pbx_rtp_get_params(m->ch->rtp) : NULL;
	return p ? p->codec->name : "-";
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

struct list {
	struct pbx_cli *cli;
	const char *only;
	bool json;
	unsigned n;
};

static void member_json(struct pbx_buf *b, const struct conf_member *m, time_t now, bool first)
{
	const char *num = NULL, *name = NULL;
	pbx_chan_party(m->ch, &num, &name);
	pbx_buf_printf(b, "%s{\"channel\":", first ? "" : ",");
	pbx_buf_json_str(b, m->ch->name);
	pbx_buf_puts(b, ",\"caller\":");
	pbx_buf_json_str(b, num ? num : "");
	pbx_buf_printf(b,
		       ",\"admin\":%s,\"marked\":%s,\"muted\":%s,\"waiting\":%s,\"talking\":%s,"
		       "\"talk_volume\":%d,\"listen_volume\":%d,\"codec\":",
		       m->o.admin ? "true" : "false", m->o.marked ? "true" : "false",
		       m->muted ? "true" : "false", m->waiting ? "true" : "false",
		       m->talking ? "true" : "false", m->talk_volume, m->listen_volume);
	pbx_buf_json_str(b, codec_of(m));
	pbx_buf_printf(b, ",\"duration\":%ld}", (long)(now - m->joined));
}

static int list_one(struct conf_room *r, void *arg)
{
	struct list *l = arg;
	time_t now = time(NULL);
	char dur[32];
	if (l->only && strcmp(l->only, r->name))
		return 0;
	l->n++;
	if (l->json) {
		struct pbx_buf *b = &l->cli->out;
		pbx_buf_printf(b, "%s{\"room\":", l->n > 1 ? ",\n " : "");
		pbx_buf_json_str(b, r->name);
		pbx_buf_printf(b,
			       ",\"members\":%u,\"locked\":%s,\"recording\":%s,\"defined\":%s,"
			       "\"duration\":%ld,\"participants\":[",
			       r->n, r->locked ? "true" : "false", r->recording ? "true" : "false",
			       r->defined ? "true" : "false", (long)(now - r->created));
		bool first = true;
		for (const struct conf_member *m = r->members; m; m = m->next, first = false)
			member_json(b, m, now, first);
		pbx_buf_puts(b, "]}");
		return 0;
	}
	hms(now - r->created, dur, sizeof dur);
	pbx_cli_printf(l->cli, "%-12s %7u  %-6s  %-9s  %s\n", r->name, r->n, yes_no(r->locked),
		       yes_no(r->recording), dur);
	if (!l->only)
		return 0;
	pbx_cli_printf(l->cli, "  %-28s %-5s %-5s %-7s %-6s %s\n", "Channel", "Admin", "Muted",
		       "Talking", "Codec", "Duration");
	for (const struct conf_member *m = r->members; m; m = m->next) {
		hms(now - m->joined, dur, sizeof dur);
		pbx_cli_printf(l->cli, "  %-28s %-5s %-5s %-7s %-6s %s\n", m->ch->name,
			       yes_no(m->o.admin), m->waiting ? "wait" : yes_no(m->muted),
			       yes_no(m->talking), codec_of(m), dur);
	}
	return 0;
}

static int cb_list(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct list l = {
		.cli = cli, .only = pbx_cli_arg(a, "ROOM"), .json = pbx_cli_flag(a, "--json")};
	if (l.only && !conf_room_find(l.only) && !l.json)
		return pbx_cli_error(cli, "confbridge list: no conference '%s' now", l.only);
	if (l.json) {
		pbx_buf_puts(&cli->out, "[");
		conf_room_each(list_one, &l);
		pbx_buf_puts(&cli->out, "]\n");
		return 0;
	}
	pbx_cli_printf(cli, "%-12s %7s  %-6s  %-9s  %s\n", "Room", "Members", "Locked", "Recording",
		       "Duration");
	conf_room_each(list_one, &l);
	return pbx_cli_printf(cli, "%u conference%s, %u member%s\n", l.n, l.n == 1 ? "" : "s",
			      conf_members_total(), conf_members_total() == 1 ? "" : "s") < 0;
}

static struct conf_room *room_arg(struct pbx_cli *cli, const char *cmd,
				  const struct pbx_cli_args *a)
{
	struct conf_room *r = conf_room_find(pbx_cli_arg(a, "ROOM"));
	if (!r)
		pbx_cli_error(cli, "%s: no conference '%s' now", cmd, pbx_cli_arg(a, "ROOM"));
	return r;
}

/* The members @p who names: one channel, `participants` (not admins) or, with @p all_ok, `all`. */
static int pick(struct pbx_cli *cli, const char *cmd, struct conf_room *r, const char *who,
		bool all_ok, struct pbx_chan ***out, size_t *n)
{
	bool all = all_ok && !strcmp(who, "all"), parts = !strcmp(who, "participants");
	*out = NULL;
	*n = 0;
	if (!all && !parts) {
		struct conf_member *m = conf_member_find(r, who);
		if (!m)
			return pbx_cli_error(cli, "%s: CHANNEL '%s' is not a member of %s (%s)",
					     cmd, who, r->name,
					     all_ok ? "or say all, participants"
						    : "or say participants");
	}
	struct pbx_chan **v = calloc(r->n ? r->n : 1, sizeof *v);
	if (!v)
		return pbx_cli_error(cli, "%s: out of memory", cmd);
	for (struct conf_member *m = r->members; m; m = m->next)
		if (all || (parts && !m->o.admin) ||
		    (!all && !parts && m == conf_member_find(r, who)))
			v[(*n)++] = pbx_chan_ref(m->ch);
	*out = v;
	return 0;
}

static void unpick(struct pbx_chan **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pbx_chan_unref(v[i]);
	free(v);
}

/* The member on @p ch in @p name's room, if both are still there. */
static struct conf_member *still_in(const char *name, struct pbx_chan *ch)
{
	struct conf_room *r = conf_room_find(name);
	for (struct conf_member *m = r ? r->members : NULL; m; m = m->next)
		if (m->ch == ch)
			return m;
	return NULL;
}

static int cb_kick(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct conf_room *r = room_arg(cli, "confbridge kick", a);
	struct pbx_chan **v;
	size_t n, done = 0;
	char name[CONF_NAME_MAX + 1];
	if (!r || pick(cli, "confbridge kick", r, pbx_cli_arg(a, "WHO"), true, &v, &n))
		return 1;
	snprintf(name, sizeof name, "%s", r->name);
	for (size_t i = 0; i < n; i++) {
		struct conf_member *m = still_in(name, v[i]);
		if (m) {
			conf_member_kick(m); /* it may leave, and the room end, at once */
			done++;
		}
	}
	unpick(v, n);
	return pbx_cli_printf(cli, "Kicked %zu member%s of %s.\n", done, done == 1 ? "" : "s",
			      name) < 0;
}

static int mute(struct pbx_cli *cli, const struct pbx_cli_args *a, bool on)
{
	const char *cmd = on ? "confbridge mute" : "confbridge unmute";
	struct conf_room *r = room_arg(cli, cmd, a);
	struct pbx_chan **v;
	size_t n;
	if (!r || pick(cli, cmd, r, pbx_cli_arg(a, "WHO"), false, &v, &n))
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct conf_member *m = still_in(r->name, v[i]);
		if (m)
			conf_member_mute(m, on);
	}
	unpick(v, n);
	return pbx_cli_printf(cli, "%s %zu member%s of %s.\n", on ? "Muted" : "Unmuted", n,
			      n == 1 ? "" : "s", r->name) < 0;
}

static int cb_mute(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return mute(cli, a, true);
}

static int cb_unmute(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return mute(cli, a, false);
}

static int lock(struct pbx_cli *cli, const struct pbx_cli_args *a, bool on)
{
	struct conf_room *r = room_arg(cli, on ? "confbridge lock" : "confbridge unlock", a);
	if (!r)
		return 1;
	conf_room_lock(r, on);
	return pbx_cli_printf(cli, "Conference %s %s.\n", r->name, on ? "locked" : "unlocked") < 0;
}

static int cb_lock(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return lock(cli, a, true);
}

static int cb_unlock(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return lock(cli, a, false);
}

static int cb_record(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	bool start = !strcmp(pbx_cli_arg(a, "start|stop"), "start");
	struct conf_room *r = room_arg(cli, "confbridge record", a);
	const char *file = pbx_cli_arg(a, "FILE");
	int err;
	if (!r)
		return 1;
	if (!start) {
		if (file)
			return pbx_cli_error(cli, "confbridge record stop: FILE: only for start");
		if (conf_room_record_stop(r))
			return pbx_cli_error(cli, "confbridge record stop: %s is not recording",
					     r->name);
		return pbx_cli_printf(cli, "Recording of %s stops: %s\n", r->name, r->rec_path) < 0;
	}
	if ((err = conf_room_record(r, file ? file : "")))
		return pbx_cli_error(cli, "confbridge record start: FILE '%s': %s",
				     file ? file : "",
				     err == EINVAL ? "not a file name here" : strerror(err));
	return pbx_cli_printf(cli, "Recording %s to %s\n", r->name, r->rec_path) < 0;
}

static int cb_play(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct conf_room *r = room_arg(cli, "confbridge play", a);
	const char *sound = pbx_cli_arg(a, "SOUND");
	if (!r)
		return 1;
	int err = conf_room_play(r, sound, false);
	if (err)
		return pbx_cli_error(cli, "confbridge play: SOUND '%s': %s", sound,
				     err == ENOENT ? "no such sound file" : strerror(err));
	return pbx_cli_printf(cli, "Playing %s into %s.\n", sound, r->name) < 0;
}

static const struct pbx_cli_cmd cmds[] = {
	{"confbridge list [ROOM] [--json]",
	 "conferences now; with ROOM its members: admin, muted, talking, codec, duration", NULL,
	 cb_list},
	{"confbridge kick ROOM WHO", "hang up a member (WHO: its channel, all or participants)",
	 NULL, cb_kick},
	{"confbridge mute ROOM WHO", "mute a member (WHO: its channel or participants)", NULL,
	 cb_mute},
	{"confbridge unmute ROOM WHO", "unmute a member (WHO: its channel or participants)", NULL,
	 cb_unmute},
	{"confbridge lock ROOM", "let only admins join", NULL, cb_lock},
	{"confbridge unlock ROOM", "let everyone join again", NULL, cb_unlock},
	{"confbridge record start|stop ROOM [FILE]",
	 "record the room's mix to a WAV (default STATE_DIR/confbridge/confbridge-ROOM-N.wav)",
	 NULL, cb_record},
	{"confbridge play ROOM SOUND",
	 "play a prompt (a name under sounds/, or a WAV path) into the room", NULL, cb_play},
};

static int load(void)
{
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(conf_cmds_module) = {"confbridge_cmds", APPS_MODULE_ORDER, load, unload};
