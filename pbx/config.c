/**
 * @file config.c  Load the Lua configuration file and validate every module's section
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The config is Lua (one language for config and dialplan), run in a
 * sandbox with only the base, string, math and table libraries (no
 * loaders, no metatables) and a budget of time and memory; this and
 * the dialplan engine are the only users of Lua. The loader knows no key
 * itself: modules declare their sections (PBX_CONFIG_SECTION) and the
 * loader walks the file against them, so every key of every module gets
 * the same type checks, defaults and one-line errors. Anything no section
 * declares is refused, so a typo never starts a half-configured PBX.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/config.h"
#include "pbx/log.h"

/* Bounds of the "pbx_cfg_sections" linker section; weak so a build without any links. */
extern const struct pbx_cfg_section *const __start_pbx_cfg_sections[] __attribute__((weak));
extern const struct pbx_cfg_section *const __stop_pbx_cfg_sections[] __attribute__((weak));

#define MAX_LIST_ITEMS 64 /* a list key longer than this is a mistake, not a config */

/*
 * What running the file may spend. A config is a few tables of settings
 * and runs in a millisecond; a file that needs more holds a loop that never
 * ends or builds a gigabyte string, and the PBX should stop with file and
 * line instead of hanging at start or being killed for memory. Work counts
 * VM instructions (a hook call per RUN_HOOK_EVERY of them) plus one per 16
 * bytes allocated, so a loop around string.rep ends too. One library call
 * is not interrupted (the hook runs between instructions): a pattern that
 * backtracks for minutes in string.find still takes its minutes.
 */
#define RUN_MEM_MAX    ((size_t)64 << 20)
#define RUN_WORK_MAX   20000000 /* a fraction of a second */
#define RUN_HOOK_EVERY 1000

/* One section's values: its struct, and the items of its list keys as
 * written, so `core show settings` can show them. */
struct sect_store {
	const struct pbx_cfg_section *sec;
	void *data;
	char ***lists;       /* per key: NULL-terminated copies of the items, or NULL */
	unsigned char *seen; /* per key: given in the file */
	size_t nkeys;
};

struct pbx_config {
	char *file; /* as given */
	char *dir;  /* its folder, the base of relative paths */
	struct sect_store *s;
	size_t n;
};

struct pbx_cfg_err {
	struct pbx_buf *out;
	const char *file;
	const char *section;
};

const char *const pbx_srtp_policy_names[] = {"off", "optional", "mandatory", NULL};

const char *pbx_srtp_policy_name(int policy)
{
	return policy >= 0 && policy < 3 ? pbx_srtp_policy_names[policy] : "?";
}

int pbx_srtp_policy_parse(const char *name)
{
	for (int i = 0; pbx_srtp_policy_names[i]; i++)
		if (!strcmp(name, pbx_srtp_policy_names[i]))
			return i;
	return -1;
}

/* ---- the registry ------------------------------------------------------------------------ */

static int by_order(const void *a, const void *b)
{
	const struct pbx_cfg_section *sa = *(const struct pbx_cfg_section *const *)a;
	const struct pbx_cfg_section *sb = *(const struct pbx_cfg_section *const *)b;
	if (sa->order != sb->order)
		return sa->order < sb->order ? -1 : 1;
	return strcmp(sa->name, sb->name);
}

static size_t nkeys_of(const struct pbx_cfg_section *sec)
{
	size_t n = 0;
	while (sec->keys[n].name)
		n++;
	return n;
}

/* One store per linked section, in display order. */
static int stores_alloc(struct pbx_config *cfg)
{
	// cppcheck-suppress comparePointers
	size_t n = (size_t)(__stop_pbx_cfg_sections - __start_pbx_cfg_sections);
	const struct pbx_cfg_section **all = n ? malloc(n * sizeof *all) : NULL;
	if (n && !all)
		return ENOMEM;
	if (n)
		memcpy(all, __start_pbx_cfg_sections, n * sizeof *all);
	qsort(all, n, sizeof *all, by_order);
	cfg->s = calloc(n ? n : 1, sizeof *cfg->s);
	if (!cfg->s) {
		free(all);
		return ENOMEM;
	}
	cfg->n = n;
	for (size_t i = 0; i < n; i++) {
		struct sect_store *st = &cfg->s[i];
		/* Two modules claiming one section is a build mistake. Quadratic
		 * in the number of sections; there are a handful. */
		for (size_t j = 0; j < i; j++)
			if (!strcmp(all[i]->name, all[j]->name)) {
				pbx_error("config: section '%s' is declared twice", all[i]->name);
				free(all);
				return EEXIST;
			}
		st->sec = all[i];
		st->nkeys = nkeys_of(all[i]);
		st->data = calloc(1, all[i]->size ? all[i]->size : 1);
		st->lists = calloc(st->nkeys ? st->nkeys : 1, sizeof *st->lists);
		st->seen = calloc(st->nkeys ? st->nkeys : 1, 1);
		if (!st->data || !st->lists || !st->seen) {
			free(all);
			return ENOMEM;
		}
	}
	free(all);
	return 0;
}

static struct sect_store *store_find(const struct pbx_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (!strcmp(cfg->s[i].sec->name, name))
			return &cfg->s[i];
	return NULL;
}

const void *pbx_config_get(const struct pbx_config *cfg, const struct pbx_cfg_section *sec)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (cfg->s[i].sec == sec)
			return cfg->s[i].data;
	return NULL;
}

bool pbx_config_is_set(const struct pbx_config *cfg, const struct pbx_cfg_section *sec,
		       const char *key)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const struct sect_store *st = &cfg->s[i];
		if (st->sec != sec)
			continue;
		for (size_t k = 0; k < st->nkeys; k++)
			if (!strcmp(sec->keys[k].name, key))
				return st->seen[k];
	}
	return false;
}

const char *pbx_config_file(const struct pbx_config *cfg)
{
	return cfg->file;
}

/* ---- errors ------------------------------------------------------------------------------ */

struct loader {
	struct pbx_config *cfg;
	struct pbx_buf *err;
	const char *file;
	size_t mem;  /* bytes the Lua state holds */
	long work;   /* see RUN_WORK_MAX */
	int walk_rc; /* walk_top's result, from inside lua_pcall */
};

static int fail(struct loader *ld, const char *path, const char *value, const char *why)
{
	if (value)
		pbx_buf_printf(ld->err, "%s: %s: '%s': %s", ld->file, path, value, why);
	else
		pbx_buf_printf(ld->err, "%s: %s: %s", ld->file, path, why);
	return EINVAL;
}

int pbx_cfg_error(struct pbx_cfg_err *e, const char *key, const char *value, const char *why)
{
	if (value)
		pbx_buf_printf(e->out, "%s: %s.%s: '%s': %s", e->file, e->section, key, value, why);
	else
		pbx_buf_printf(e->out, "%s: %s.%s: %s", e->file, e->section, key, why);
	return EINVAL;
}

/* ---- paths ------------------------------------------------------------------------------- */

/*
 * @p rel against the config's folder, with "x/.." pairs folded so the
 * result reads as the user would write it ("etc" + "../var" is "var").
 * Folding is lexical: a symlinked folder followed by ".." lands beside
 * the link, which is what the user who wrote "../" sees in a listing.
 */
static char *path_resolve(const char *dir, const char *rel)
{
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *joined = malloc(n), *out = malloc(n);
	if (!joined || !out) {
		free(joined);
		free(out);
		return NULL;
	}
	if (rel[0] == '/' || !strcmp(dir, "."))
		snprintf(joined, n, "%s", rel);
	else
		snprintf(joined, n, "%s/%s", dir, rel);
	bool abs = joined[0] == '/';
	size_t o = 0, depth = 0; /* depth: components in out that ".." may remove */
	out[0] = '\0';
	for (char *save = NULL, *c = strtok_r(joined, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..") && depth) {
			char *slash = strrchr(out, '/');
			o = slash ? (size_t)(slash - out) : 0;
			out[o] = '\0';
			depth--;
			continue;
		}
		if (!strcmp(c, "..") && abs)
			continue; /* "/.." is "/" */
		o += (size_t)snprintf(out + o, n - o, "%s%s", o || abs ? "/" : "", c);
		if (strcmp(c, ".."))
			depth++;
	}
	if (!o)
		snprintf(out, n, "%s", abs ? "/" : ".");
	free(joined);
	return out;
}

static char *dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	if (!slash)
		return strdup(".");
	if (slash == file)
		return strdup("/");
	return strndup(file, (size_t)(slash - file));
}

/* ---- storing values ---------------------------------------------------------------------- */

static char **str_slot(void *data, const struct pbx_cfg_key *k)
{
	return (char **)((char *)data + k->off);
}

static int *int_slot(void *data, const struct pbx_cfg_key *k)
{
	return (int *)((char *)data + k->off);
}

static bool *bool_slot(void *data, const struct pbx_cfg_key *k)
{
	return (bool *)((char *)data + k->off);
}

static void choices_text(const char *const *choices, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "must be one of ");
	for (int i = 0; choices[i] && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", choices[i]);
}

/* Store a scalar given as text (defaults, and strings from Lua). */
static int store_text(struct loader *ld, struct sect_store *st, const struct pbx_cfg_key *k,
		      const char *path, const char *v)
{
	char *end, why[256];
	long n;
	switch (k->type) {
	case PBX_CFG_STRING:
	case PBX_CFG_PATH: {
		if (!*v)
			return fail(ld, path, v, "must not be empty");
		char *copy = k->type == PBX_CFG_PATH ? path_resolve(ld->cfg->dir, v) : strdup(v);
		if (!copy)
			return ENOMEM;
		free(*str_slot(st->data, k));
		*str_slot(st->data, k) = copy;
		return 0;
	}
	case PBX_CFG_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (!*v || *end || errno)
			return fail(ld, path, v, "not an integer");
		if (n < k->min || n > k->max) {
			snprintf(why, sizeof why, "out of range %ld..%ld", k->min, k->max);
			return fail(ld, path, v, why);
		}
		*int_slot(st->data, k) = (int)n;
		return 0;
	case PBX_CFG_BOOL:
		if (strcmp(v, "true") && strcmp(v, "false"))
			return fail(ld, path, v, "must be true or false");
		*bool_slot(st->data, k) = !strcmp(v, "true");
		return 0;
	case PBX_CFG_ENUM:
		for (int i = 0; k->choices[i]; i++)
			if (!strcasecmp(v, k->choices[i])) {
				*int_slot(st->data, k) = i;
				return 0;
			}
		choices_text(k->choices, why, sizeof why);
		return fail(ld, path, v, why);
	default: return EINVAL;
	}
}

static int list_item(struct loader *ld, struct sect_store *st, size_t ki, const char *path, int i,
		     const char *text)
{
	const struct pbx_cfg_key *k = &st->sec->keys[ki];
	const char *why = "invalid";
	char ipath[192];
	snprintf(ipath, sizeof ipath, "%s[%d]", path, i + 1);
	if (k->item && k->item(st->data, i, text, &why))
		return fail(ld, ipath, text, why);
	char **l = st->lists[ki];
	l[i] = strdup(text);
	return l[i] ? 0 : ENOMEM;
}

static void list_free(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

static int list_begin(struct sect_store *st, size_t ki, size_t n)
{
	list_free(st->lists[ki]);
	st->lists[ki] = calloc(n + 1, sizeof(char *));
	return st->lists[ki] ? 0 : ENOMEM;
}

/* The value on top of the stack as the user wrote it, or its type for tables. */
static const char *shown(lua_State *L, char *buf, size_t len)
{
	int t = lua_type(L, -1);
	if (t == LUA_TSTRING || t == LUA_TNUMBER) {
		lua_pushvalue(L, -1); /* tostring converts in place: work on a copy */
		snprintf(buf, len, "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
	} else if (t == LUA_TBOOLEAN) {
		snprintf(buf, len, "%s", lua_toboolean(L, -1) ? "true" : "false");
	} else {
		snprintf(buf, len, "%s", luaL_typename(L, -1));
	}
	return buf;
}

static int store_list(struct loader *ld, struct sect_store *st, size_t ki, const char *path,
		      lua_State *L)
{
	const struct pbx_cfg_key *k = &st->sec->keys[ki];
	char v[256], why[160];
	if (!lua_istable(L, -1)) {
		snprintf(why, sizeof why, "must be a list of %s",
			 k->list_of ? k->list_of : "strings");
		return fail(ld, path, shown(L, v, sizeof v), why);
	}
	/* Raw length and items: a list is data, and a __len or __index would
	 * run the file's code again, after its run and outside its budget. */
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	/* Only the array part: a key like { udp = "..." } is a mistake. */
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
			lua_pop(L, 1);
			return fail(ld, path, NULL, "must be a list, not a table with keys");
		}
	}
	if (n < k->min) {
		if (k->min == 1)
			snprintf(why, sizeof why, "must list at least one %s",
				 k->list_noun ? k->list_noun : "item");
		else
			snprintf(why, sizeof why, "must list at least %ld %ss", k->min,
				 k->list_noun ? k->list_noun : "item");
		return fail(ld, path, NULL, why);
	}
	long max = k->max ? k->max : MAX_LIST_ITEMS;
	if (n > max) {
		snprintf(why, sizeof why, "too many %ss (at most %ld)",
			 k->list_noun ? k->list_noun : "item", max);
		return fail(ld, path, NULL, why);
	}
	int err = list_begin(st, ki, (size_t)n);
	for (lua_Integer i = 1; !err && i <= n; i++) {
		char ipath[192];
		lua_rawgeti(L, -1, i);
		if (lua_type(L, -1) != LUA_TSTRING) {
			snprintf(ipath, sizeof ipath, "%s[%lld]", path, (long long)i);
			err = fail(ld, ipath, shown(L, v, sizeof v), "must be a string");
		} else {
			err = list_item(ld, st, ki, path, (int)i - 1, lua_tostring(L, -1));
		}
		lua_pop(L, 1);
	}
	return err;
}

static const struct pbx_cfg_key *key_find(struct sect_store *st, const char *name, size_t *ki)
{
	for (size_t i = 0; i < st->nkeys; i++)
		if (!strcmp(st->sec->keys[i].name, name)) {
			*ki = i;
			return &st->sec->keys[i];
		}
	return NULL;
}

/* Walk the table on top of the stack: section @p st, keys under @p prefix ("" or "tls"). */
static int walk_table(struct loader *ld, lua_State *L, struct sect_store *st, const char *prefix)
{
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		char name[128], path[160], v[256];
		int err = 0;
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			snprintf(path, sizeof path, "%s%s%s", st->sec->name, *prefix ? "." : "",
				 prefix);
			return fail(ld, path, NULL, "keys must be names");
		}
		snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "",
			 lua_tostring(L, -2));
		snprintf(path, sizeof path, "%s.%s", st->sec->name, name);
		size_t ki;
		const struct pbx_cfg_key *k = key_find(st, name, &ki);
		if (!k) {
			char why[128];
			lua_pop(L, 2);
			snprintf(why, sizeof why, "unknown key (module %s)", st->sec->module);
			return fail(ld, path, NULL, why);
		}
		st->seen[ki] = 1;
		int t = lua_type(L, -1);
		switch (k->type) {
		case PBX_CFG_TABLE:
			if (t != LUA_TTABLE)
				err = fail(ld, path, shown(L, v, sizeof v), "must be a table");
			else
				err = walk_table(ld, L, st, name);
			break;
		case PBX_CFG_LIST: err = store_list(ld, st, ki, path, L); break;
		case PBX_CFG_INT:
			if (t != LUA_TNUMBER || !lua_isinteger(L, -1)) {
				err = fail(ld, path, shown(L, v, sizeof v), "must be an integer");
				break;
			}
			err = store_text(ld, st, k, path, lua_tostring(L, -1)); /* range check */
			break;
		case PBX_CFG_BOOL:
			if (t != LUA_TBOOLEAN) {
				err = fail(ld, path, shown(L, v, sizeof v),
					   "must be true or false");
				break;
			}
			err = store_text(ld, st, k, path, lua_toboolean(L, -1) ? "true" : "false");
			break;
		default:
			if (t != LUA_TSTRING) {
				err = fail(ld, path, shown(L, v, sizeof v), "must be a string");
				break;
			}
			err = store_text(ld, st, k, path, lua_tostring(L, -1));
		}
		lua_pop(L, 1);
		if (err) {
			lua_pop(L, 1);
			return err;
		}
	}
	return 0;
}

/* The file's top level: each name must be a section some module declared. */
static int walk_top(struct loader *ld, lua_State *L)
{
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		char v[256];
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			return fail(ld, "(top level)", NULL, "keys must be names");
		}
		const char *name = lua_tostring(L, -2);
		struct sect_store *st = store_find(ld->cfg, name);
		int err;
		if (!st)
			err = fail(ld, name, NULL, "unknown key (no module has this section)");
		else if (!lua_istable(L, -1))
			err = fail(ld, name, shown(L, v, sizeof v), "must be a table");
		else
			err = walk_table(ld, L, st, "");
		lua_pop(L, 1);
		if (err) {
			lua_pop(L, 1);
			return err;
		}
	}
	return 0;
}

static int apply_defaults(struct loader *ld, struct sect_store *st)
{
	for (size_t i = 0; i < st->nkeys; i++) {
		const struct pbx_cfg_key *k = &st->sec->keys[i];
		char path[160];
		int err = 0;
		if (st->seen[i] || k->type == PBX_CFG_TABLE)
			continue;
		snprintf(path, sizeof path, "%s.%s", st->sec->name, k->name);
		if (k->type == PBX_CFG_LIST) {
			size_t n = 0;
			while (k->list_def && k->list_def[n])
				n++;
			err = list_begin(st, i, n);
			for (size_t j = 0; !err && j < n; j++)
				err = list_item(ld, st, i, path, (int)j, k->list_def[j]);
		} else if (k->def) {
			err = store_text(ld, st, k, path, k->def);
		}
		if (err)
			return err;
	}
	return 0;
}

/* The config runs with a small, side-effect free library set. */
static void open_safe_libs(lua_State *L)
{
	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	lua_pop(L, 4);
	/* setmetatable too: a __gc finalizer runs with hooks off, so a loop in
	 * one would escape the run_hook budget (and a config has no use for
	 * metatables). */
	static const char *const unsafe[] = {"dofile",         "loadfile",     "load", "require",
					     "collectgarbage", "setmetatable", NULL};
	for (int i = 0; unsafe[i]; i++) {
		lua_pushnil(L);
		lua_setglobal(L, unsafe[i]);
	}
}

static void *run_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct loader *ld = ud;
	size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
	if (!nsize) {
		free(ptr);
		ld->mem -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > RUN_MEM_MAX - ld->mem)
		return NULL; /* Lua raises "not enough memory" */
	void *p = realloc(ptr, nsize);
	if (p) {
		ld->mem = ld->mem - old + nsize;
		ld->work += (long)(nsize / 16);
	}
	return p;
}

static void run_hook(lua_State *L, lua_Debug *ar)
{
	void *ud;
	lua_getallocf(L, &ud);
	struct loader *ld = ud;
	ld->work += RUN_HOOK_EVERY;
	if (ld->work > RUN_WORK_MAX) {
		lua_getinfo(L, "l", ar); /* luaL_where would name the hook's caller */
		luaL_error(L, "%s:%d: runs too long (a loop that never ends?)", ld->file,
			   ar->currentline);
	}
}

/* Lua's error on top of the stack into ld->err: the file first, always. */
static int run_error(struct loader *ld, lua_State *L, int status)
{
	const char *msg = lua_tostring(L, -1);
	size_t fl = strlen(ld->file);
	if (status == LUA_ERRMEM)
		pbx_buf_printf(ld->err, "%s: uses more than %zu MB of memory", ld->file,
			       RUN_MEM_MAX >> 20);
	else if (!msg) /* error({}) */
		pbx_buf_printf(ld->err, "%s: error with a %s value", ld->file,
			       luaL_typename(L, -1));
	else if (strncmp(msg, ld->file, fl) || msg[fl] != ':') /* error("x", 0) */
		pbx_buf_printf(ld->err, "%s: %s", ld->file, msg);
	else
		pbx_buf_printf(ld->err, "%s", msg);
	return EINVAL;
}

/* Run the file; its assignments are left in a table on top of the stack. */
static int run_file(struct loader *ld, lua_State *L)
{
	int status = luaL_loadfilex(L, ld->file, "t");
	if (status == LUA_ERRMEM)
		return run_error(ld, L, status);
	if (status != LUA_OK) {
		/* Lua's message already names file:line, or says why it cannot open. */
		pbx_buf_printf(ld->err, "%s", lua_tostring(L, -1));
		return EINVAL;
	}
	/* A fresh _ENV whose reads fall back to the safe globals, so what the
	 * file assigns is exactly the env table's own keys. */
	lua_newtable(L);
	lua_newtable(L);
	lua_pushglobaltable(L);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setupvalue(L, -3, 1);
	lua_insert(L, -2); /* env below the chunk */
	if ((status = lua_pcall(L, 0, 0, 0)) != LUA_OK)
		return run_error(ld, L, status);
	return 0;
}

/* walk_top inside lua_pcall: a Lua error there (out of memory converting a
 * number to text) would otherwise abort the process through Lua's panic. */
static int walk_protected(lua_State *L)
{
	struct loader *ld = lua_touserdata(L, 1);
	lua_settop(L, 2); /* the file's table on top */
	ld->walk_rc = walk_top(ld, L);
	return 0;
}

static int walk_file(struct loader *ld, lua_State *L)
{
	lua_pushcfunction(L, walk_protected);
	lua_pushlightuserdata(L, ld);
	lua_pushvalue(L, -3);
	int status = lua_pcall(L, 2, 0, 0);
	if (status != LUA_OK)
		return ld->walk_rc = run_error(ld, L, status);
	return ld->walk_rc;
}

int pbx_config_load(struct pbx_config **cfgp, const char *file, struct pbx_buf *err)
{
	struct loader ld = {.err = err, .file = file};
	int rc = ENOMEM;
	lua_State *L = lua_newstate(run_alloc, &ld);
	ld.cfg = calloc(1, sizeof *ld.cfg);
	if (!L || !ld.cfg || !(ld.cfg->file = strdup(file)) || !(ld.cfg->dir = dir_of(file)))
		goto out;
	if ((rc = stores_alloc(ld.cfg)))
		goto out;
	lua_sethook(L, run_hook, LUA_MASKCOUNT, RUN_HOOK_EVERY);
	open_safe_libs(L);
	if ((rc = run_file(&ld, L)))
		goto out;
	rc = walk_file(&ld, L);
	for (size_t i = 0; !rc && i < ld.cfg->n; i++)
		rc = apply_defaults(&ld, &ld.cfg->s[i]);
	for (size_t i = 0; !rc && i < ld.cfg->n; i++) {
		struct sect_store *st = &ld.cfg->s[i];
		struct pbx_cfg_err e = {err, file, st->sec->name};
		if (st->sec->check)
			rc = st->sec->check(st->data, &e);
	}
out:
	if (L)
		lua_close(L);
	if (rc) {
		if (rc == ENOMEM && !err->len)
			pbx_buf_printf(err, "%s: out of memory", file);
		pbx_config_free(ld.cfg);
		return rc;
	}
	*cfgp = ld.cfg;
	return 0;
}

void pbx_config_free(struct pbx_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; cfg->s && i < cfg->n; i++) {
		struct sect_store *st = &cfg->s[i];
		for (size_t k = 0; st->data && k < st->nkeys; k++) {
			enum pbx_cfg_type t = st->sec->keys[k].type;
			if (t == PBX_CFG_STRING || t == PBX_CFG_PATH)
				free(*str_slot(st->data, &st->sec->keys[k]));
			if (st->lists)
				list_free(st->lists[k]);
		}
		free(st->data);
		free(st->lists);
		free(st->seen);
	}
	free(cfg->s);
	free(cfg->file);
	free(cfg->dir);
	free(cfg);
}

static void dump_key(const struct sect_store *st, size_t ki, struct pbx_buf *out)
{
	const struct pbx_cfg_key *k = &st->sec->keys[ki];
	char path[160];
	snprintf(path, sizeof path, "%s.%s", st->sec->name, k->name);
	pbx_buf_printf(out, "%-24s = ", path);
	switch (k->type) {
	case PBX_CFG_TABLE: return;
	case PBX_CFG_STRING:
	case PBX_CFG_PATH: {
		const char *s = *str_slot(st->data, k);
		if (s && k->secret)
			pbx_buf_puts(
				out,
				"\"********\""); /* the console is not where secrets are read */
		else if (s)
			pbx_buf_json_str(out, s);
		else
			pbx_buf_puts(out, "nil");
		break;
	}
	case PBX_CFG_INT: pbx_buf_printf(out, "%d", *int_slot(st->data, k)); break;
	case PBX_CFG_BOOL: pbx_buf_puts(out, *bool_slot(st->data, k) ? "true" : "false"); break;
	case PBX_CFG_ENUM: pbx_buf_printf(out, "\"%s\"", k->choices[*int_slot(st->data, k)]); break;
	case PBX_CFG_LIST: {
		char **l = st->lists[ki];
		pbx_buf_puts(out, "{");
		for (size_t j = 0; l && l[j]; j++) {
			pbx_buf_puts(out, j ? ", " : " ");
			pbx_buf_json_str(out, l[j]);
		}
		pbx_buf_puts(out, l && l[0] ? " }" : "}");
		break;
	}
	}
	pbx_buf_printf(out, "  -- %s\n", k->help);
}

void pbx_config_dump(const struct pbx_config *cfg, struct pbx_buf *out)
{
	pbx_buf_printf(out, "-- %s\n", cfg->file);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct sect_store *st = &cfg->s[i];
		for (size_t k = 0; k < st->nkeys; k++)
			if (st->sec->keys[k].type != PBX_CFG_TABLE)
				dump_key(st, k, out);
	}
}
