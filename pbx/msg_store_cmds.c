/**
 * @file msg_store_cmds.c  Console commands: message show queue|purge
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The instant messages waiting for offline users (msg_store.h). A text
 * body is shown cut to 60 characters on one line, its line breaks and
 * other control characters as blanks, so a message cannot forge lines of
 * the listing; any other body only by its size and type.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/module.h"
#include "pbx/msg_store.h"

#define PREVIEW_CHARS 60

/* Length of the UTF-8 sequence at @p p (of @p left bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	size_t n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
	if (*p >= 0xf5 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not text. */
	if ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0) ||
	    (*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

/*
 * What the listing shows of @p m's body, into @p out: a text type up to 60
 * characters (control characters as blanks, bytes that are not UTF-8 as
 * '?', "..." when cut), anything else "(N bytes TYPE)".
 */
static void preview(const struct pbx_msg *m, char *out, size_t size)
{
	if (strncasecmp(m->type, "text/", 5)) {
		snprintf(out, size, "(%zu byte%s %s)", m->len, m->len == 1 ? "" : "s", m->type);
		return;
	}
	size_t o = 0, chars = 0, i = 0;
	while (i < m->len && chars < PREVIEW_CHARS && o + 5 < size) {
		const unsigned char *p = m->body + i;
		size_t n = *p < 0x80 ? 1 : utf8_len(p, m->len - i);
		if (n > 1) {
			memcpy(out + o, p, n);
			o += n;
			i += n;
		} else {
			out[o++] = n == 0 ? '?' : *p < ' ' || *p == 0x7f ? ' ' : (char)*p;
			i++;
		}
		chars++;
	}
	out[o] = '\0';
	if (i < m->len && o + 4 <= size)
		memcpy(out + o, "...", 4);
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

struct show {
	struct pbx_cli *cli;
	bool json;
	unsigned n;
	int64_t now;
};

static int show_one(const struct pbx_msg *m, void *arg)
{
	struct show *s = arg;
	char text[PREVIEW_CHARS * 4 + 8], when[32], next[32];
	preview(m, text, sizeof text);
	s->n++;
	if (s->json) {
		struct pbx_buf *b = &s->cli->out;
		pbx_buf_printf(b, "%s{\"id\":%lld,\"target\":", s->n > 1 ? ",\n " : "",
			       (long long)m->id);
		pbx_buf_json_str(b, m->target);
		pbx_buf_puts(b, ",\"sender\":");
		pbx_buf_json_str(b, m->sender);
		pbx_buf_printf(b, ",\"created\":%lld,\"type\":", (long long)m->created);
		pbx_buf_json_str(b, m->type);
		pbx_buf_printf(b, ",\"size\":%zu,\"attempts\":%u,\"next_try\":%lld,\"preview\":",
			       m->len, m->attempts, (long long)m->next_try);
		pbx_buf_json_str(b, text);
		pbx_buf_puts(b, "}");
		return 0;
	}
	fmt_time(m->created, when, sizeof when);
	if (m->next_try <= s->now)
		snprintf(next, sizeof next, "now");
	else
		fmt_time(m->next_try, next, sizeof next);
	pbx_cli_printf(s->cli, "%6lld  %-8s %-20s %-19s  %-16s %6zu %5u  %-19s  %s\n",
		       (long long)m->id, m->target, m->sender, when, m->type, m->len, m->attempts,
		       next, text);
	return 0;
}

/*
 * @p ext must be an extension, and a user's or one that messages wait for
 * (a user deleted since): a typo should not look like an empty queue.
 */
static int known_target(struct pbx_cli *cli, const char *cmd, const char *ext)
{
	const char *why = pbx_user_check_ext(ext);
	if (why)
		return pbx_cli_error(cli, "%s: invalid extension '%s': %s", cmd, ext, why);
	struct pbx_user u;
	unsigned n;
	int err = pbx_user_find(pbx_dir(), ext, &u);
	if (err == ENOENT && !(err = pbx_msg_store_count(ext, &n)) && !n)
		return pbx_cli_error(cli, "%s: no such user '%s'", cmd, ext);
	if (err && err != ENOENT)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	return 0;
}

static int show_queue(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	static const char cmd[] = "message show queue";
	const char *ext = pbx_cli_arg(a, "EXT");
	if (ext && known_target(cli, cmd, ext))
		return 1;
	struct show s = {cli, pbx_cli_flag(a, "--json"), 0, (int64_t)time(NULL)};
	if (s.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%6s  %-8s %-20s %-19s  %-16s %6s %5s  %-19s  %s\n", "ID", "To",
			       "From", "Time", "Type", "Size", "Tries", "Next try", "Message");
	if (pbx_msg_store_each(ext, show_one, &s))
		return pbx_cli_error(cli, "%s: database error", cmd);
	if (s.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%u message%s waiting%s%s\n", s.n, s.n == 1 ? "" : "s",
			      ext ? " for " : "", ext ? ext : "");
}

static int purge(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	static const char cmd[] = "message purge";
	const char *ext = pbx_cli_arg(a, "EXT");
	if (known_target(cli, cmd, ext))
		return 1;
	unsigned n;
	int err = pbx_msg_store_purge(ext, &n);
	if (err)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	return pbx_cli_printf(cli, "%u message%s of %s removed.\n", n, n == 1 ? "" : "s", ext);
}

static const struct pbx_cli_cmd cmds[] = {
	{"message show queue [EXT] [--json]", "list the instant messages waiting for offline users",
	 "Each message kept for a user who was offline, oldest first: its id, the user (To), "
	 "the sender, when it arrived, its content type and size, the failed deliveries and "
	 "when the next one is due, and a text body's first 60 characters (other bodies by "
	 "size and type). Messages are kept in the database across a restart, for "
	 "messaging.store_days, at most messaging.max_stored per user.",
	 show_queue},
	{"message purge EXT", "remove every instant message waiting for EXT, and say how many",
	 NULL, purge},
};

static int load(void)
{
	return pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(msg_store_cmds_module) = {"msg_store_cmds", 3, load, unload};
