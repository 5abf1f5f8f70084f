/**
 * @file test_cli.c  Console command parsing: words, usage-driven arguments, errors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include "pbx/cli.h"
#include "unit.h"

static char seen[512];

static int exec_record(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	seen[0] = '\0';
	for (int i = 0; i < a->n; i++)
		snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s=%s;", a->v[i].name,
			 a->v[i].value);
	return 0;
}

static int exec_fail(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return pbx_cli_error(cli, "t fail: nope");
}

static const struct pbx_cli_cmd cmds[] = {
	{"t add EXT [--name N] [--json] [--mode a|b]", "add", NULL, exec_record},
	{"t set EXT x|y VALUE", "set", NULL, exec_record},
	{"t say EXT [--from F] TEXT...", "say", NULL, exec_record},
	{"t show [WHAT]", "show", NULL, exec_record},
	{"t fail", "fail", NULL, exec_fail},
};

static void complete_ext(const char *prefix, struct pbx_buf *out)
{
	static const char *const exts[] = {"1001", "1002", "2001"};
	for (int i = 0; i < 3; i++)
		if (!strncmp(exts[i], prefix, strlen(prefix)))
			pbx_buf_printf(out, "%s\n", exts[i]);
}

static int setup(void **state)
{
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		pbx_cli_register(&cmds[i]);
	pbx_cli_completer_register("EXT", complete_ext);
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		pbx_cli_unregister(&cmds[i]);
	return 0;
}

/* Run @p line; check status and that the output contains @p want. */
static void run(const char *line, int status, const char *want)
{
	struct pbx_cli cli;
	pbx_buf_init(&cli.out);
	seen[0] = '\0';
	int rc = pbx_cli_run(&cli, line);
	const char *out = cli.out.data ? cli.out.data : "";
	if (rc != status || (want && !strstr(out, want)))
		fail_msg("'%s': status %d, output:\n%s\nwanted %d and '%s'", line, rc, out, status,
			 want ? want : "");
	pbx_buf_free(&cli.out);
}

static void test_split(void **state)
{
	char store[256], *w[8];
	const char *err;
	assert_int_equal(
		pbx_cli_split("  a 'b c'  \"d\\\"e\" f\\ g ", store, sizeof store, w, 8, &err), 4);
	assert_string_equal(w[0], "a");
	assert_string_equal(w[1], "b c");
	assert_string_equal(w[2], "d\"e");
	assert_string_equal(w[3], "f g");
	assert_int_equal(pbx_cli_split("a \"open", store, sizeof store, w, 8, &err), -1);
	assert_string_equal(err, "unterminated quote");
	assert_int_equal(pbx_cli_split("a b c d e f g h i", store, sizeof store, w, 8, &err), -1);
	assert_int_equal(pbx_cli_split("x \"\"", store, sizeof store, w, 8, &err), 2);
	assert_string_equal(w[1], "");
}

/* Found by fuzz_cli: empty words ("") wrote their NUL past a full store. */
static void test_split_store_full(void **state)
{
	char store[5], *w[8];
	const char *err;
	/* "abc" takes 4 bytes, the first "" the last one, the second has none. */
	assert_int_equal(pbx_cli_split("abc \"\" \"\"", store, sizeof store, w, 8, &err), -1);
	assert_string_equal(err, "line too long");
	assert_int_equal(pbx_cli_split("abc \"\"", store, sizeof store, w, 8, &err), 2);
	assert_string_equal(w[0], "abc");
	assert_string_equal(w[1], "");
	/* A word uses the whole store, NUL included, and no more. */
	assert_int_equal(pbx_cli_split("abcd", store, sizeof store, w, 8, &err), 1);
	assert_string_equal(w[0], "abcd");
	assert_int_equal(pbx_cli_split("abcde", store, sizeof store, w, 8, &err), -1);
	assert_int_equal(
		pbx_cli_split("\"\" \"\" \"\" \"\" \"\" \"\"", store, sizeof store, w, 8, &err),
		-1);
}

static void test_args(void **state)
{
	run("t add 1001 --name 'Al Ice' --json", 0, NULL);
	assert_string_equal(seen, "EXT=1001;--name=Al Ice;--json=;");
	run("T ADD 7 --mode b", 0, NULL); /* command words are case-insensitive */
	assert_string_equal(seen, "EXT=7;--mode=b;");
	run("t set 1 y some", 0, NULL);
	assert_string_equal(seen, "EXT=1;x|y=y;VALUE=some;");
	run("t say 1 hello   big world", 0, NULL);
	assert_string_equal(seen, "EXT=1;TEXT=hello big world;");
	/* The rest stops at one of the command's options; other dashes are text. */
	run("t say 1 see you --from 2 ", 0, NULL);
	assert_string_equal(seen, "EXT=1;TEXT=see you;--from=2;");
	run("t say 1 --from 2 see -- you --later", 0, NULL);
	assert_string_equal(seen, "EXT=1;--from=2;TEXT=see -- you --later;");
	run("t say 1 --from starts", 1, "missing argument TEXT");
	run("t show", 0, NULL);
	assert_string_equal(seen, "");
	run("t show all", 0, NULL);
	assert_string_equal(seen, "WHAT=all;");
}

static void test_errors(void **state)
{
	run("t add", 1, "Error: t add: missing argument EXT (usage: t add EXT");
	run("t add 1 2", 1, "Error: t add: unexpected argument '2'");
	run("t add 1 --nmae x", 1, "Error: t add: unknown option '--nmae' (did you mean --name?)");
	run("t add 1 --zzzzzz", 1, "Error: t add: unknown option '--zzzzzz'");
	run("t add 1 --name", 1, "Error: t add: option '--name' needs a value");
	run("t add 1 --json --json", 1, "Error: t add: option '--json' given twice");
	run("t set 1 z v", 1, "Error: t set: 'z' is not one of x|y");
	run("t ad 1", 1, "Did you mean 't add'?");
	run("zzzz qqqq", 1, "Error: no such command 'zzzz qqqq'");
	run("t", 1, "incomplete command");
	run("t fail", 1, "Error: t fail: nope");
	run("t add 'open", 1, "Error: unterminated quote");
	run("", 0, NULL);
}

static void test_help(void **state)
{
	run("help", 0, "t add EXT [--name N]");
	run("help t say", 0, "Usage: t say EXT [--from F] TEXT...");
	run("help nothing", 1, "Error: help: no command starts with 'nothing'");
}

static void complete(const char *line, const char *want)
{
	struct pbx_buf out;
	pbx_buf_init(&out);
	pbx_cli_complete(line, &out);
	const char *got = out.data ? out.data : "";
	if (strcmp(got, want))
		fail_msg("complete '%s': got '%s' wanted '%s'", line, got, want);
	pbx_buf_free(&out);
}

static void test_complete(void **state)
{
	complete("t a", "add\n");
	complete("t s", "set\nsay\nshow\n");
	complete("t add 10", "1001\n1002\n");
	complete("t add 1001 --n", "--name\n");
	complete("t set 1001 ", "x\ny\n");
	complete("help t a", "add\n");
}

/*
 * One command word shared by two tables, as the conference commands do:
 * `confbridge room ...` (rooms) beside `confbridge list|kick` (live
 * conferences). The longest run of matching command words wins, so each
 * line reaches its own command, in either registration order.
 */
static const struct pbx_cli_cmd rooms[] = {
	{"q room add NUM [--pin N] [--record on|off]", "room add", NULL, exec_record},
	{"q room list [--json]", "room list", NULL, exec_record},
};
static const struct pbx_cli_cmd live[] = {
	{"q list [--json]", "list", NULL, exec_fail},
	{"q kick ROOM WHO", "kick", NULL, exec_record},
};

static void test_shared_prefix(void **state)
{
	for (int order = 0; order < 2; order++) {
		if (order == 0) {
			pbx_cli_register_all(rooms, 2);
			pbx_cli_register_all(live, 2);
		} else {
			pbx_cli_register_all(live, 2);
			pbx_cli_register_all(rooms, 2);
		}
		run("q room list --json", 0, NULL);
		assert_string_equal(seen, "--json=;");
		run("q room add 800 --pin 12 --record on", 0, NULL);
		assert_string_equal(seen, "NUM=800;--pin=12;--record=on;");
		run("q list", 1, "Error: t fail: nope"); /* the other table's command */
		run("q kick room 3", 0, NULL);           /* a room named "room" is an argument */
		assert_string_equal(seen, "ROOM=room;WHO=3;");
		run("q room", 1, "incomplete command; one of:\n  q room add NUM");
		run("q", 1, "  q kick ROOM WHO");
		complete("q ", order == 0 ? "room\nlist\nkick\n" : "list\nkick\nroom\n");
		complete("q room ", "add\nlist\n");
		pbx_cli_unregister_all(rooms, 2);
		pbx_cli_unregister_all(live, 2);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_split),         cmocka_unit_test(test_split_store_full),
	cmocka_unit_test(test_args),          cmocka_unit_test(test_errors),
	cmocka_unit_test(test_help),          cmocka_unit_test(test_complete),
	cmocka_unit_test(test_shared_prefix),
};

UNIT_GROUP(cli, tests, setup, teardown);
