/**
 * @file voicemail_cmds.c  Console commands: voicemail show|play|delete|move
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Messages are numbered from 1 in the order `voicemail show` lists them
 * (urgent first, then oldest first, over every folder), so an operator
 * reads the number off the list and uses it in the next command. Each
 * change goes through the store, whose watchers update the phone's lamp.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"

struct show {
	struct pbx_cli *cli;
	bool json;
	unsigned n;
};

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int show_one(const struct pbx_vm_msg *m, void *arg)
{
	struct show *s = arg;
	char when[32], caller[176];
	fmt_time(m->time, when, sizeof when);
	s->n++;
	if (s->json) {
		struct pbx_buf *b = &s->cli->out;
		pbx_buf_printf(b, "%s{\"number\":%u,\"id\":%lld,\"folder\":\"%s\",\"caller_num\":",
			       s->n > 1 ? ",\n " : "", s->n, (long long)m->id,
			       pbx_vm_folder_name(m->folder));
		pbx_buf_json_str(b, m->cid_num);
		pbx_buf_puts(b, ",\"caller_name\":");
		pbx_buf_json_str(b, m->cid_name);
		pbx_buf_printf(b, ",\"time\":%lld,\"duration_ms\":%u,\"urgent\":%s,\"read\":%s,",
			       (long long)m->time, m->duration_ms, m->urgent ? "true" : "false",
			       m->read ? "true" : "false");
		pbx_buf_puts(b, "\"file\":");
		pbx_buf_json_str(b, m->path);
		pbx_buf_puts(b, "}");
		return 0;
	}
	if (m->cid_name[0])
		snprintf(caller, sizeof caller, "\"%s\" <%s>", m->cid_name,
			 m->cid_num[0] ? m->cid_num : "unknown");
	else
		snprintf(caller, sizeof caller, "%s", m->cid_num[0] ? m->cid_num : "unknown");
	pbx_cli_printf(s->cli, "%3u  %-8s %-28s %s %7.1f s  %s%s\n", s->n,
		       pbx_vm_folder_name(m->folder), caller, when, m->duration_ms / 1000.0,
		       m->read ? "read" : "new", m->urgent ? ",urgent" : "");
	return 0;
}

/* The user must exist: a typo should not look like an empty mailbox. */
static int known_mailbox(struct pbx_cli *cli, const char *cmd, const char *ext)
{
	struct pbx_user u;
	int err = pbx_user_find(pbx_dir(), ext, &u);
	if (err == ENOENT)
		return pbx_cli_error(cli, "%s: no such user '%s'", cmd, ext);
	if (err)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	return 0;
}

static int vm_show(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *ext = pbx_cli_arg(a, "EXT");
	if (known_mailbox(cli, "voicemail show", ext))
		return 1;
	struct show s = {cli, pbx_cli_flag(a, "--json"), 0};
	if (s.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "  #  %-8s %-28s %-19s %9s  %s\n", "Folder", "Caller", "Time",
			       "Length", "Flags");
	if (pbx_vm_each(ext, -1, show_one, &s))
		return pbx_cli_error(cli, "voicemail show: database error");
	if (s.json)
		return pbx_cli_printf(cli, "]\n");
	struct pbx_vm_counts c;
	pbx_vm_counts(ext, &c);
	return pbx_cli_printf(cli, "%u message%s (%u new, %u old); mailbox holds at most %u\n", s.n,
			      s.n == 1 ? "" : "s", c.new_msgs, c.old_msgs,
			      pbx_vm_max_messages(ext));
}

struct nth {
	unsigned want, at;
	struct pbx_vm_msg m;
	bool found;
};

static int nth_one(const struct pbx_vm_msg *m, void *arg)
{
	struct nth *n = arg;
	if (++n->at != n->want)
		return 0;
	n->m = *m;
	n->found = true;
	return 1;
}

/* Message N of EXT (as `voicemail show` numbers them) into @p m; prints the error. */
static int find_nth(struct pbx_cli *cli, const char *cmd, const struct pbx_cli_args *a,
		    struct pbx_vm_msg *m)
{
	const char *ext = pbx_cli_arg(a, "EXT"), *num = pbx_cli_arg(a, "N");
	if (known_mailbox(cli, cmd, ext))
		return 1;
	char *end;
	long want = strtol(num, &end, 10);
	if (!*num || *end || want < 1 || want > 100000)
		return pbx_cli_error(cli, "%s: message number '%s' is not a number from 1", cmd,
				     num);
	struct nth n = {.want = (unsigned)want};
	if (pbx_vm_each(ext, -1, nth_one, &n))
		return pbx_cli_error(cli, "%s: database error", cmd);
	if (!n.found)
		return pbx_cli_error(cli, "%s: mailbox %s has %u message%s, no message %ld", cmd,
				     ext, n.at, n.at == 1 ? "" : "s", want);
	*m = n.m;
	return 0;
}

static int vm_play(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_vm_msg m;
	if (find_nth(cli, "voicemail play", a, &m))
		return 1;
	return pbx_cli_printf(cli, "%s\n", m.path);
}

static int vm_delete(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_vm_msg m;
	if (find_nth(cli, "voicemail delete", a, &m))
		return 1;
	int err = pbx_vm_delete(m.id);
	if (err)
		return pbx_cli_error(cli, "voicemail delete: %s", strerror(err));
	return pbx_cli_printf(cli, "Message %s of %s deleted.\n", pbx_cli_arg(a, "N"), m.mailbox);
}

static int vm_move(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *name = pbx_cli_arg(a, "FOLDER");
	int folder = pbx_vm_folder_parse(name);
	if (folder < 0)
		return pbx_cli_error(
			cli,
			"voicemail move: unknown folder '%s' (INBOX, Old, Work, Family, "
			"Friends, Urgent)",
			name);
	struct pbx_vm_msg m;
	if (find_nth(cli, "voicemail move", a, &m))
		return 1;
	int err = pbx_vm_move(m.id, folder);
	if (err)
		return pbx_cli_error(cli, "voicemail move: %s", strerror(err));
	return pbx_cli_printf(cli, "Message %s of %s moved to %s.\n", pbx_cli_arg(a, "N"),
			      m.mailbox, pbx_vm_folder_name(folder));
}

static const struct pbx_cli_cmd cmds[] = {
	{"voicemail show EXT [--json]",
	 "list a mailbox's messages, numbered for the commands below", NULL, vm_show},
	{"voicemail play EXT N", "name the WAV file of message N", NULL, vm_play},
	{"voicemail delete EXT N", "delete message N (file and row); the lamp follows", NULL,
	 vm_delete},
	{"voicemail move EXT N FOLDER",
	 "move message N to INBOX, Old, Work, Family, Friends or Urgent", NULL, vm_move},
};

static int load(void)
{
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(voicemail_cmds_module) = {"voicemail_cmds", 3, load, unload};
