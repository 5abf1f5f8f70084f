/**
 * @file cli.h  Console commands: registry, argument parsing, output
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A command is a static const descriptor. Its usage string is the single
 * source of truth for help, argument checking and Tab completion:
 *
 *   "user add EXT [--name N] [--pin N] [--json]"
 *
 * Words up to the first placeholder are the command; then UPPER is a
 * required argument, [UPPER] an optional one, a|b|c a required choice,
 * [--opt V] an option with a value, [--flag] a flag, UPPER... the rest of
 * the line. Errors name the command and the argument.
 */
#ifndef PBX_CLI_H
#define PBX_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "pbx/buf.h"

#define PBX_CLI_MAX_ARGS 32
/* The longest placeholder, choices included ("name|password|...|max_messages"). */
#define PBX_CLI_NAME_MAX 128

struct pbx_cli_args {
	int n;
	struct {
		const char *name;  /* "EXT", "--name", "--json" */
		const char *value; /* "" for a flag that is present */
	} v[PBX_CLI_MAX_ARGS];
	char names[PBX_CLI_MAX_ARGS][PBX_CLI_NAME_MAX];
	char rest[1024]; /* the value of a TEXT... argument */
};

/** Where a command writes. Output and error text are both shown to the user. */
struct pbx_cli {
	struct pbx_buf out;
	void *conn; /* opaque: the console connection */
};

typedef int pbx_cli_exec_h(struct pbx_cli *cli, const struct pbx_cli_args *args);
/** Offer completions for placeholder @p arg starting with @p prefix. */
typedef void pbx_cli_complete_h(const char *prefix, struct pbx_buf *out);

struct pbx_cli_cmd {
	const char *usage;   /* "user add EXT [--name N] ..." */
	const char *summary; /* one line for `help` */
	const char *help;    /* longer text for `help CMD`, may be NULL */
	pbx_cli_exec_h *exec;
};

/** Register a command; the descriptor must outlive the registry. 0 or errno. */
int pbx_cli_register(const struct pbx_cli_cmd *cmd);
void pbx_cli_unregister(const struct pbx_cli_cmd *cmd);
/** A module's table of @p n commands at once: 0 or the first error (the rest are still tried). */
int pbx_cli_register_all(const struct pbx_cli_cmd *cmds, size_t n);
void pbx_cli_unregister_all(const struct pbx_cli_cmd *cmds, size_t n);
/** Register completion for every argument named @p placeholder (e.g. "EXT"). */
int pbx_cli_completer_register(const char *placeholder, pbx_cli_complete_h *fn);

/**
 * Run one command line; output goes to cli->out. Returns the exit status
 * (0 success, 1 error).
 */
int pbx_cli_run(struct pbx_cli *cli, const char *line);
/** Candidate words (one per line) for Tab on the partial @p line. */
void pbx_cli_complete(const char *line, struct pbx_buf *out);

/** Value of argument @p name, NULL when absent. */
const char *pbx_cli_arg(const struct pbx_cli_args *args, const char *name);
bool pbx_cli_flag(const struct pbx_cli_args *args, const char *name);

int pbx_cli_printf(struct pbx_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Print an error line and return 1, so commands can `return pbx_cli_error(...)`. */
int pbx_cli_error(struct pbx_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Split a line into words: blanks separate, '...' and "..." quote, \ escapes. */
int pbx_cli_split(const char *line, char *store, size_t storelen, char **words, int maxwords,
		  const char **err);

#endif
