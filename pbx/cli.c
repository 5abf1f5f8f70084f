/**
 * @file cli.c  Console command registry, usage-driven argument parsing, help
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Commands are few (dozens) and typed by people, so lookups are linear
 * scans; clarity wins over speed here.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/cli.h"

#define MAX_CMDS       256
#define MAX_WORDS      48
#define MAX_COMPLETERS 16

static const struct pbx_cli_cmd *cmds[MAX_CMDS];
static int ncmds;

static struct {
	const char *placeholder;
	pbx_cli_complete_h *fn;
} completers[MAX_COMPLETERS];
static int ncompleters;

/* A usage string split into words: the command words, then placeholders. */
struct usage {
	char store[512];
	char *w[MAX_WORDS];
	int n;
	int ncmd; /* how many leading words are the command itself */
};

static bool is_placeholder(const char *w)
{
	if (w[0] == '[' || strchr(w, '|'))
		return true;
	for (; *w; w++)
		if (islower((unsigned char)*w))
			return false;
	return true;
}

static void usage_split(const char *usage, struct usage *u)
{
	const char *err;
	u->n = pbx_cli_split(usage, u->store, sizeof u->store, u->w, MAX_WORDS, &err);
	if (u->n < 0)
		u->n = 0;
	/* Re-join "[--opt" "V]" pairs: an option and its value are one slot. */
	int j = 0;
	for (int i = 0; i < u->n; i++) {
		if (!strncmp(u->w[i], "[--", 3) && !strchr(u->w[i], ']') && i + 1 < u->n) {
			u->w[i][strlen(u->w[i])] = ' '; /* the split left a NUL there */
			u->w[j++] = u->w[i++];
			continue;
		}
		u->w[j++] = u->w[i];
	}
	u->n = j;
	u->ncmd = 0;
	while (u->ncmd < u->n && !is_placeholder(u->w[u->ncmd]))
		u->ncmd++;
}

int pbx_cli_register(const struct pbx_cli_cmd *cmd)
{
	if (ncmds == MAX_CMDS)
		return ENOSPC;
	cmds[ncmds++] = cmd;
	return 0;
}

int pbx_cli_register_all(const struct pbx_cli_cmd *table, size_t n)
{
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		int e = pbx_cli_register(&table[i]);
		err = err ? err : e;
	}
	return err;
}

void pbx_cli_unregister_all(const struct pbx_cli_cmd *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pbx_cli_unregister(&table[i]);
}

void pbx_cli_unregister(const struct pbx_cli_cmd *cmd)
{
	for (int i = 0; i < ncmds; i++)
		if (cmds[i] == cmd) {
			memmove(&cmds[i], &cmds[i + 1], (size_t)(ncmds - i - 1) * sizeof *cmds);
			ncmds--;
			return;
		}
}

int pbx_cli_completer_register(const char *placeholder, pbx_cli_complete_h *fn)
{
	if (ncompleters == MAX_COMPLETERS)
		return ENOSPC;
	completers[ncompleters].placeholder = placeholder;
	completers[ncompleters++].fn = fn;
	return 0;
}

int pbx_cli_split(const char *line, char *store, size_t storelen, char **words, int maxwords,
		  const char **err)
{
	int n = 0;
	size_t o = 0;
	const char *p = line;
	*err = NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == maxwords) {
			*err = "too many words";
			return -1;
		}
		words[n++] = store + o;
		char quote = 0;
		while (*p && (quote || (*p != ' ' && *p != '\t'))) {
			char c = *p++;
			if (!quote && (c == '"' || c == '\'')) {
				quote = c;
				continue;
			}
			if (quote && c == quote) {
				quote = 0;
				continue;
			}
			if (c == '\\' && *p && quote != '\'')
				c = *p++;
			if (o + 1 >= storelen) { /* this byte and the word's NUL */
				*err = "line too long";
				return -1;
			}
			store[o++] = c;
		}
		if (quote) {
			*err = "unterminated quote";
			return -1;
		}
		/* An empty word ("") stores only its NUL, which the loop above
		 * never made room for: a line of many of them outgrew the store. */
		if (o >= storelen) {
			*err = "line too long";
			return -1;
		}
		store[o++] = '\0';
	}
}

int pbx_cli_printf(struct pbx_cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int err = pbx_buf_vprintf(&cli->out, fmt, ap);
	va_end(ap);
	return err;
}

int pbx_cli_error(struct pbx_cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pbx_buf_puts(&cli->out, "Error: ");
	pbx_buf_vprintf(&cli->out, fmt, ap);
	pbx_buf_puts(&cli->out, "\n");
	va_end(ap);
	return 1;
}

const char *pbx_cli_arg(const struct pbx_cli_args *args, const char *name)
{
	for (int i = 0; i < args->n; i++)
		if (!strcmp(args->v[i].name, name))
			return args->v[i].value;
	return NULL;
}

bool pbx_cli_flag(const struct pbx_cli_args *args, const char *name)
{
	return pbx_cli_arg(args, name) != NULL;
}

/* Levenshtein distance, for "did you mean". Inputs are short words. */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	int d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

/* Placeholder name without brackets and option value: "[--name N]" -> "--name". */
static void slot_name(const char *w, char *out, size_t len)
{
	if (*w == '[')
		w++;
	size_t n = strcspn(w, " ]");
	if (strncmp(w, "--", 2) && n > 3 && !strncmp(w + n - 3, "...", 3))
		n -= 3;
	snprintf(out, len, "%.*s", (int)n, w);
}

static bool choice_has(const char *choices, const char *v)
{
	size_t lv = strlen(v);
	for (const char *p = choices; *p;) {
		size_t n = strcspn(p, "|]");
		if (n == lv && !strncmp(p, v, n))
			return true;
		p += n;
		if (*p != '|')
			break;
		p++;
	}
	return false;
}

static void cmd_name(const struct usage *u, char *out, size_t len)
{
	out[0] = '\0';
	for (int i = 0; i < u->ncmd; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", u->w[i]);
}

/* Is @p w one of @p u's options ("--from")? */
static bool is_option(const struct usage *u, const char *w)
{
	if (strncmp(w, "--", 2) || !w[2])
		return false;
	for (int i = u->ncmd; i < u->n; i++) {
		char s[PBX_CLI_NAME_MAX];
		slot_name(u->w[i], s, sizeof s);
		if (!strcmp(s, w))
			return true;
	}
	return false;
}

static void best_option(const struct usage *u, const char *given, char *name, size_t len)
{
	int best = 3;
	name[0] = '\0';
	for (int i = u->ncmd; i < u->n; i++) {
		char s[PBX_CLI_NAME_MAX];
		slot_name(u->w[i], s, sizeof s);
		if (strncmp(s, "--", 2))
			continue;
		int d = distance(given, s);
		if (d < best) {
			best = d;
			snprintf(name, len, "%s", s);
		}
	}
}

static int args_add(struct pbx_cli_args *args, const char *name, const char *value)
{
	if (args->n == PBX_CLI_MAX_ARGS)
		return ENOSPC;
	snprintf(args->names[args->n], sizeof args->names[0], "%s", name);
	args->v[args->n].name = args->names[args->n];
	args->v[args->n].value = value;
	args->n++;
	return 0;
}

/* Match words[] against the placeholders of @p u; fill @p args or print why not. */
static int parse_args(struct pbx_cli *cli, const struct usage *u, const char *usage, char **words,
		      int nwords, struct pbx_cli_args *args)
{
	char cmdname[256];
	cmd_name(u, cmdname, sizeof cmdname);
	args->n = 0;
	int slot = u->ncmd; /* next positional placeholder */
	for (int i = 0; i < nwords; i++) {
		const char *w = words[i];
		char s[PBX_CLI_NAME_MAX];
		if (!strncmp(w, "--", 2) && w[2]) {
			int found = -1;
			for (int j = u->ncmd; j < u->n && found < 0; j++) {
				slot_name(u->w[j], s, sizeof s);
				if (!strcmp(s, w))
					found = j;
			}
			if (found < 0) {
				char near[PBX_CLI_NAME_MAX];
				best_option(u, w, near, sizeof near);
				if (near[0])
					return pbx_cli_error(
						cli, "%s: unknown option '%s' (did you mean %s?)",
						cmdname, w, near);
				return pbx_cli_error(cli, "%s: unknown option '%s'", cmdname, w);
			}
			if (pbx_cli_arg(args, s))
				return pbx_cli_error(cli, "%s: option '%s' given twice", cmdname,
						     s);
			const char *value = "";
			if (strchr(u->w[found], ' ')) {
				if (i + 1 >= nwords)
					return pbx_cli_error(cli, "%s: option '%s' needs a value",
							     cmdname, s);
				value = words[++i];
			}
			if (args_add(args, s, value))
				return pbx_cli_error(cli, "%s: too many arguments", cmdname);
			continue;
		}
		/* positional: option placeholders are not positions */
		while (slot < u->n && !strncmp(u->w[slot], "[--", 3))
			slot++;
		if (slot >= u->n)
			return pbx_cli_error(cli, "%s: unexpected argument '%s'", cmdname, w);
		slot_name(u->w[slot], s, sizeof s);
		const char *value = w;
		if (strstr(u->w[slot], "...")) {
			/* The rest of the line, up to one of the command's options
			 * ("message send 1002 see you --from 1001"). */
			int k = i;
			args->rest[0] = '\0';
			for (; k < nwords && (k == i || !is_option(u, words[k])); k++)
				snprintf(args->rest + strlen(args->rest),
					 sizeof args->rest - strlen(args->rest), "%s%s",
					 k > i ? " " : "", words[k]);
			value = args->rest;
			i = k - 1;
		} else if (strchr(s, '|') && !choice_has(s, w)) {
			return pbx_cli_error(cli, "%s: '%s' is not one of %s", cmdname, w, s);
		} else if (!is_placeholder(u->w[slot]) && strcasecmp(w, s)) {
			/* a keyword inside the arguments ("originate T extension D") */
			return pbx_cli_error(cli, "%s: expected '%s', not '%s'", cmdname, s, w);
		}
		if (args_add(args, s, value))
			return pbx_cli_error(cli, "%s: too many arguments", cmdname);
		slot++;
	}
	for (; slot < u->n; slot++) {
		if (u->w[slot][0] == '[')
			continue;
		char s[PBX_CLI_NAME_MAX];
		slot_name(u->w[slot], s, sizeof s);
		return pbx_cli_error(cli, "%s: missing argument %s (usage: %s)", cmdname, s, usage);
	}
	return 0;
}

/* How many of @p words match the command words of @p u (all or none). */
static int cmd_match(const struct usage *u, char **words, int nwords)
{
	if (nwords < u->ncmd)
		return 0;
	for (int i = 0; i < u->ncmd; i++)
		if (strcasecmp(words[i], u->w[i]))
			return 0;
	return u->ncmd;
}

static int help(struct pbx_cli *cli, char **words, int nwords)
{
	struct usage u;
	int shown = 0;
	for (int i = 0; i < ncmds; i++) {
		usage_split(cmds[i]->usage, &u);
		bool match = true;
		for (int j = 0; j < nwords && match; j++)
			match = j < u.ncmd && !strcasecmp(words[j], u.w[j]);
		if (!match)
			continue;
		shown++;
		if (nwords && nwords == u.ncmd)
			pbx_cli_printf(cli, "Usage: %s\n  %s\n%s%s", cmds[i]->usage,
				       cmds[i]->summary, cmds[i]->help ? cmds[i]->help : "",
				       cmds[i]->help ? "\n" : "");
		else if (strlen(cmds[i]->usage) > 44)
			pbx_cli_printf(cli, "%s\n%-44s %s\n", cmds[i]->usage, "", cmds[i]->summary);
		else
			pbx_cli_printf(cli, "%-44s %s\n", cmds[i]->usage, cmds[i]->summary);
	}
	if (!nwords)
		pbx_cli_printf(cli, "%-44s %s\n", "help [COMMAND...]",
			       "list commands, or explain one");
	if (!shown && nwords)
		return pbx_cli_error(cli, "help: no command starts with '%s'", words[0]);
	return 0;
}

/* Suggest the registered command closest to what was typed. */
static void suggest(struct pbx_cli *cli, char **words, int nwords)
{
	struct usage u;
	char typed[256] = "", best[256] = "";
	int bestd = 1 << 30;
	for (int i = 0; i < ncmds; i++) {
		usage_split(cmds[i]->usage, &u);
		char name[256];
		cmd_name(&u, name, sizeof name);
		typed[0] = '\0';
		for (int j = 0; j < nwords && j < u.ncmd; j++)
			snprintf(typed + strlen(typed), sizeof typed - strlen(typed), "%s%s",
				 j ? " " : "", words[j]);
		int d = distance(typed, name);
		if (d < bestd) {
			bestd = d;
			snprintf(best, sizeof best, "%s", name);
		}
	}
	char all[256] = "";
	for (int j = 0; j < nwords && j < 4; j++)
		snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", j ? " " : "",
			 words[j]);
	if (best[0] && bestd <= (int)strlen(best) / 2 + 2)
		pbx_cli_error(cli, "no such command '%s'. Did you mean '%s'? (try 'help')", all,
			      best);
	else
		pbx_cli_error(cli, "no such command '%s' (try 'help')", all);
}

int pbx_cli_run(struct pbx_cli *cli, const char *line)
{
	char store[4096];
	char *words[MAX_WORDS];
	const char *err;
	int n = pbx_cli_split(line, store, sizeof store, words, MAX_WORDS, &err);
	if (n < 0)
		return pbx_cli_error(cli, "%s", err);
	if (n == 0)
		return 0;
	if (!strcasecmp(words[0], "help"))
		return help(cli, words + 1, n - 1);

	const struct pbx_cli_cmd *best = NULL;
	struct usage u;
	int bestlen = 0;
	for (int i = 0; i < ncmds; i++) {
		struct usage cu;
		usage_split(cmds[i]->usage, &cu);
		int m = cmd_match(&cu, words, n);
		if (m > bestlen) {
			bestlen = m;
			best = cmds[i];
		}
	}
	if (!best) {
		/* A prefix of commands ("core show") lists what can follow. */
		int shown = 0;
		for (int i = 0; i < ncmds; i++) {
			struct usage cu;
			usage_split(cmds[i]->usage, &cu);
			bool prefix = n < cu.ncmd;
			for (int j = 0; j < n && prefix; j++)
				prefix = !strcasecmp(words[j], cu.w[j]);
			if (!prefix)
				continue;
			if (!shown++)
				pbx_cli_error(cli, "incomplete command; one of:");
			pbx_cli_printf(cli, "  %s\n", cmds[i]->usage);
		}
		if (!shown)
			suggest(cli, words, n);
		return 1;
	}
	usage_split(best->usage, &u);
	struct pbx_cli_args args;
	int rc = parse_args(cli, &u, best->usage, words + bestlen, n - bestlen, &args);
	if (rc)
		return rc;
	return best->exec(cli, &args) ? 1 : 0;
}

static void offer(struct pbx_buf *out, const char *word, const char *prefix)
{
	if (!strncasecmp(word, prefix, strlen(prefix))) {
		/* no duplicates: candidates are few */
		char key[130];
		snprintf(key, sizeof key, "\n%s\n", word);
		if (out->len &&
		    (strncmp(out->data, key + 1, strlen(key + 1)) == 0 || strstr(out->data, key)))
			return;
		pbx_buf_printf(out, "%s\n", word);
	}
}

void pbx_cli_complete(const char *line, struct pbx_buf *out)
{
	char store[4096];
	char *words[MAX_WORDS];
	const char *err;
	int n = pbx_cli_split(line, store, sizeof store, words, MAX_WORDS, &err);
	if (n < 0)
		return;
	size_t ll = strlen(line);
	const char *prefix = "";
	if (n > 0 && ll && line[ll - 1] != ' ' && line[ll - 1] != '\t')
		prefix = words[--n]; /* the word being typed */
	if (n == 0)
		offer(out, "help", prefix);
	for (int i = 0; i < ncmds; i++) {
		struct usage u;
		usage_split(cmds[i]->usage, &u);
		int start = (n > 0 && !strcasecmp(words[0], "help")) ? 1 : 0;
		bool match = true;
		for (int j = start; j < n && j - start < u.ncmd && match; j++)
			match = !strcasecmp(words[j], u.w[j - start]);
		if (!match)
			continue;
		if (n - start < u.ncmd) {
			offer(out, u.w[n - start], prefix);
			continue;
		}
		if (start)
			continue;
		/* Arguments: which placeholder is next? */
		int slot = u.ncmd, pos = 0;
		for (int j = u.ncmd; j < n; j++)
			if (strncmp(words[j], "--", 2))
				pos++;
		for (int j = u.ncmd; j < u.n; j++) {
			char s[PBX_CLI_NAME_MAX];
			slot_name(u.w[j], s, sizeof s);
			if (!strncmp(s, "--", 2)) {
				if (!strncmp(prefix, "--", 2))
					offer(out, s, prefix);
				continue;
			}
			if (slot++ - u.ncmd != pos)
				continue;
			if (strchr(s, '|')) {
				char c[64];
				for (char *p = s; *p;) {
					size_t len = strcspn(p, "|");
					snprintf(c, sizeof c, "%.*s", (int)len, p);
					offer(out, c, prefix);
					p += len + (p[len] == '|');
				}
			}
			for (int k = 0; k < ncompleters; k++)
				if (!strcmp(completers[k].placeholder, s))
					completers[k].fn(prefix, out);
		}
	}
}
