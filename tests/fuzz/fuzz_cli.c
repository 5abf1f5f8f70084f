/**
 * @file fuzz_cli.c  libFuzzer target: console lines (split, match, arguments, help, Tab)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A handful of commands in the shapes the real ones use (options with and
 * without a value, choices, keywords among the arguments, TEXT...) are
 * registered once; each input is run as a line and completed as a partial
 * line. Whatever the parser hands a command must come from the line: no
 * more arguments than the table holds, names the usage declares, values no
 * longer than the line and made of its bytes, a choice one of its words.
 * The split is also run into an exact-size heap store whose size the
 * first byte picks, so a write past the caller's store shows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *line; /* the line being run, for the checks in exec */
static bool in_line[256];

static bool is_choice(const char *choices, const char *v)
{
	size_t lv = strlen(v);
	for (const char *p = choices;;) {
		size_t n = strcspn(p, "|");
		if (n == lv && !strncmp(p, v, n))
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

static int exec_check(struct pbx_cli *cli, const struct pbx_cli_args *a);

static const struct pbx_cli_cmd cmds[] = {
	{"user add EXT [--name N] [--password P] [--pin N] [--srtp off|optional|mandatory] "
	 "[--json]",
	 "add", NULL, exec_check},
	{"user set EXT name|password|pin|email VALUE", "set", NULL, exec_check},
	{"user del EXT", "del", NULL, exec_check},
	{"user list [--json]", "list", NULL, exec_check},
	{"core stop now|gracefully", "stop", NULL, exec_check},
	{"core show channels [--json]", "channels", NULL, exec_check},
	{"sip set debug on|off", "debug", NULL, exec_check},
	{"message send EXT [--from F] TEXT...", "send", NULL, exec_check},
	{"channel originate TARGET extension EXTEN@CONTEXT", "originate", NULL, exec_check},
	{"confbridge record start|stop ROOM [FILE]", "record", NULL, exec_check},
	{"dialplan show [CONTEXT] [--json]", "show", NULL, exec_check},
};

static bool declared(const char *name)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strstr(cmds[i].usage, name))
			return true;
	return false;
}

static int exec_check(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	size_t ll = strlen(line);
	if (a->n < 0 || a->n > PBX_CLI_MAX_ARGS)
		abort();
	for (int i = 0; i < a->n; i++) {
		const char *name = a->v[i].name, *v = a->v[i].value;
		if (!name || !v || !*name || strlen(name) >= PBX_CLI_NAME_MAX || !declared(name))
			abort();
		if (strlen(v) > ll)
			abort(); /* unquoting and joining only ever shorten */
		for (const char *p = v; *p; p++)
			if (!in_line[(unsigned char)*p] && *p != ' ')
				abort();
		if (strncmp(name, "--", 2) && strchr(name, '|') && !is_choice(name, v))
			abort();
		if (pbx_cli_arg(a, name) == NULL)
			abort();
	}
	pbx_cli_printf(cli, "%d\n", a->n);
	return a->n & 1; /* both exit paths */
}

static void complete_ext(const char *prefix, struct pbx_buf *out)
{
	if (!strncmp("1001", prefix, strlen(prefix)))
		pbx_buf_puts(out, "1001\n");
}

/* The split into a store of exactly @p storelen bytes: words inside it, NUL-terminated. */
static void split_exact(const char *s, size_t storelen, int maxwords)
{
	char *store = malloc(storelen), *words[64];
	const char *err;
	if (!store)
		abort();
	int n = pbx_cli_split(s, store, storelen, words, maxwords, &err);
	if (n < -1 || n > maxwords || (n < 0 && !err))
		abort();
	for (int i = 0; i < n; i++) {
		if (words[i] < store || words[i] >= store + storelen)
			abort();
		if (!memchr(words[i], '\0', (size_t)(store + storelen - words[i])))
			abort();
		if (strlen(words[i]) > strlen(s))
			abort();
	}
	free(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool registered;
	struct pbx_cli cli = {.conn = NULL};
	if (!registered) {
		if (pbx_cli_register_all(cmds, sizeof cmds / sizeof cmds[0]) ||
		    pbx_cli_completer_register("EXT", complete_ext))
			abort();
		registered = true;
	}
	if (!size)
		return 0;
	/* An exact-size copy; a NUL inside the input ends the line early, as in C. */
	char *s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	line = s;
	memset(in_line, 0, sizeof in_line);
	for (const char *p = s; *p; p++)
		in_line[(unsigned char)*p] = true;

	split_exact(s, 1 + data[0] % 64, 1 + data[0] / 64 * 16);

	pbx_buf_init(&cli.out);
	int rc = pbx_cli_run(&cli, s);
	if (rc != 0 && rc != 1)
		abort();
	if (cli.out.len && strlen(cli.out.data) != cli.out.len)
		abort();
	pbx_buf_free(&cli.out);

	struct pbx_buf out;
	pbx_buf_init(&out);
	pbx_cli_complete(s, &out);
	if (out.len && (strlen(out.data) != out.len || out.data[out.len - 1] != '\n'))
		abort();
	pbx_buf_free(&out);
	free(s);
	return 0;
}
