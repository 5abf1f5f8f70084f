/**
 * @file dp_engine.c  The Lua dialplan: load once per (re)load, look extensions up, swap on reload
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The file runs once in a fresh Lua state; then `extensions` and `hints`
 * are read into C arrays, each context's extensions sorted in Asterisk's
 * match order, each function held by a registry reference. A call looks
 * its extension up in those arrays and runs the function in a coroutine of
 * that state (dp_call.c): no call ever parses or runs the file again.
 * What a running call changes in the `extensions` table is not seen by
 * lookups until the next reload.
 *
 * `dialplan reload` builds a whole new state and only swaps the pointer
 * when it loaded: a call holds a reference to the state it started on, so
 * calls in progress finish on the old one, which is closed after the last.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pbx/chan.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/module.h"

#include "dp_match.h"
#include "dp_priv.h"

/* Includes nest at most this deep (Asterisk's limit is of the same order). */
#define DP_INCLUDE_DEPTH 64

/*
 * Lua collects garbage in steps paid for by allocation: when calls stop, so
 * does the collector, and what the last calls dropped (coroutines, strings,
 * tables) stays spread over the heap, each piece holding a page the
 * allocator cannot give back. Every DP_GC_MS, a state that grew by
 * DP_GC_GROWTH since its last full collection gets one (a few ms for
 * thousands of live calls).
 */
#define DP_GC_MS     5000
#define DP_GC_GROWTH (256 * 1024)

static struct {
	struct dp_state *cur;
	char *file;
	uv_timer_t *gc; /* heap: closing is asynchronous */
	bool open;
	bool missing_ok; /* dialplan.file not set: no file means an empty dialplan */
} eng;

struct dp_cfg {
	char *file;
};

static const struct pbx_cfg_key cfg_keys[] = {
	{.name = "file",
	 .type = PBX_CFG_PATH,
	 .off = PBX_CFG_OFF(struct dp_cfg, file),
	 .def = "extensions.lua",
	 .help = "the Lua dialplan (beside the config file by default)"},
	{0},
};

PBX_CONFIG_SECTION(dp_section) = {
	.name = "dialplan",
	.module = "dialplan",
	.order = 30,
	.size = sizeof(struct dp_cfg),
	.keys = cfg_keys,
	.help = "dialplan",
};

/* ---- the state's allocator: counted, so one dialplan cannot eat the PBX ---------------------- */

static void *dp_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct dp_state *st = ud;
	size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
	if (!nsize) {
		st->mem -= old;
		free(ptr);
		return NULL;
	}
	if (nsize > old && st->mem + (nsize - old) > DP_MEM_MAX)
		return NULL; /* Lua raises a memory error in the script */
	void *p = realloc(ptr, nsize);
	if (p)
		st->mem = st->mem - old + nsize;
	return p;
}

/* ---- reading `extensions` and `hints` -------------------------------------------------------- */

static void ctx_free(struct dp_context *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->ext[i].name);
	for (size_t i = 0; i < c->nincl; i++)
		free(c->incl[i]);
	for (size_t i = 0; i < c->nhints; i++) {
		free(c->hints[i].exten);
		free(c->hints[i].device);
	}
	free(c->ext);
	free(c->incl);
	free(c->incl_idx);
	free(c->hints);
	free(c->name);
}

/* Grow an array by one element; raises a Lua memory error on failure. */
static void *grow(lua_State *L, void *arr, size_t n, size_t size)
{
	void *p = realloc(arr, (n + 1) * size);
	if (!p)
		luaL_error(L, "out of memory");
	return p;
}

static char *ldup(lua_State *L, const char *s)
{
	char *d = strdup(s);
	if (!d)
		luaL_error(L, "out of memory");
	return d;
}

/* The context named @p name, added when new. Linear: contexts are few and this runs once. */
static struct dp_context *ctx_get(lua_State *L, struct dp_state *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->ctx[i].name, name))
			return &st->ctx[i];
	st->ctx = grow(L, st->ctx, st->n, sizeof *st->ctx);
	struct dp_context *c = &st->ctx[st->n];
	memset(c, 0, sizeof *c);
	c->name = ldup(L, name);
	st->n++;
	return c;
}

/*
 * The name a key gives: a string, or an integer written as a key ([100] =
 * ...), as pbx_lua takes them; NULL for anything else. @p idx must be a
 * copy of the key: converting a number changes the slot, which would
 * derail a lua_next() traversal on the key itself.
 */
static const char *key_name(lua_State *L, int idx)
{
	int t = lua_type(L, idx);
	if (t == LUA_TSTRING || (t == LUA_TNUMBER && lua_isinteger(L, idx)))
		return lua_tostring(L, idx);
	return NULL;
}

static void read_includes(lua_State *L, struct dp_state *st, struct dp_context *c, int tbl)
{
	if (!lua_istable(L, tbl)) {
		pbx_warning(
			"%s: extensions.%s.include is a %s, not a table of context names: ignored",
			st->file, c->name, luaL_typename(L, tbl));
		return;
	}
	lua_Integer n = (lua_Integer)lua_rawlen(L, tbl);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, tbl, i);
		if (lua_type(L, -1) == LUA_TSTRING) {
			c->incl = grow(L, c->incl, c->nincl, sizeof *c->incl);
			c->incl[c->nincl++] = ldup(L, lua_tostring(L, -1));
		} else {
			pbx_warning("%s: extensions.%s.include[%lld] is a %s, not a context name: "
				    "ignored",
				    st->file, c->name, (long long)i, luaL_typename(L, -1));
		}
		lua_pop(L, 1);
	}
}

static int ext_sort(const void *a, const void *b)
{
	return dp_ext_cmp(((const struct dp_exten *)a)->name, ((const struct dp_exten *)b)->name);
}

/* Context table at stack top. */
static void read_context(lua_State *L, struct dp_state *st, struct dp_context *c)
{
	int tbl = lua_gettop(L);
	for (lua_pushnil(L); lua_next(L, tbl); lua_pop(L, 1)) {
		lua_pushvalue(L, -2); /* convert a copy of the key */
		const char *name = key_name(L, -1);
		if (!name) {
			pbx_warning("%s: extensions.%s has a %s key: ignored", st->file, c->name,
				    luaL_typename(L, -3));
			lua_pop(L, 1);
			continue;
		}
		if (!strcasecmp(name, "include")) {
			read_includes(L, st, c, tbl + 2);
		} else if (!lua_isfunction(L, -2)) {
			pbx_warning("%s: extensions.%s[\"%s\"] is a %s, not a function: ignored",
				    st->file, c->name, name, luaL_typename(L, -2));
		} else if (!*name || strlen(name) >= DP_NAME_MAX) {
			pbx_warning("%s: extensions.%s: extension name \"%.40s\" is %s: ignored",
				    st->file, c->name, name, *name ? "too long" : "empty");
		} else {
			lua_Debug ar;
			lua_pushvalue(L, -2);
			lua_getinfo(L, ">S", &ar);
			c->ext = grow(L, c->ext, c->n, sizeof *c->ext);
			struct dp_exten *e = &c->ext[c->n];
			e->name = ldup(L, name);
			e->line = ar.linedefined;
			lua_pushvalue(L, -2);
			e->fn = luaL_ref(L, LUA_REGISTRYINDEX);
			c->n++;
		}
		lua_pop(L, 1); /* the key copy */
	}
	if (c->n > 1)
		qsort(c->ext, c->n, sizeof *c->ext, ext_sort);
	/* "555-1212" and "5551212", or ["100"] and [100], are one extension: keep one. */
	size_t o = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (o && !dp_ext_cmp(c->ext[o - 1].name, c->ext[i].name)) {
			pbx_warning("%s: extensions.%s: \"%s\" and \"%s\" are the same extension; "
				    "using the first",
				    st->file, c->name, c->ext[o - 1].name, c->ext[i].name);
			luaL_unref(L, LUA_REGISTRYINDEX, c->ext[i].fn);
			free(c->ext[i].name);
			continue;
		}
		c->ext[o++] = c->ext[i];
	}
	c->n = o;
}

static void read_hints(lua_State *L, struct dp_state *st, int tbl)
{
	for (lua_pushnil(L); lua_next(L, tbl); lua_pop(L, 1)) {
		if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1)) {
			pbx_warning("%s: hints: entries must be context = { exten = \"device\" }: "
				    "ignoring one",
				    st->file);
			continue;
		}
		struct dp_context *c = ctx_get(L, st, lua_tostring(L, -2));
		int ctbl = lua_gettop(L);
		for (lua_pushnil(L); lua_next(L, ctbl); lua_pop(L, 1)) {
			lua_pushvalue(L, -2);
			const char *exten = key_name(L, -1);
			if (!exten || lua_type(L, -2) != LUA_TSTRING) {
				pbx_warning("%s: hints.%s: entries must be exten = \"device\": "
					    "ignoring one",
					    st->file, c->name);
				lua_pop(L, 1);
				continue;
			}
			c->hints = grow(L, c->hints, c->nhints, sizeof *c->hints);
			c->hints[c->nhints].exten = ldup(L, exten);
			c->hints[c->nhints].device = NULL;
			c->nhints++; /* counted first: ctx_free frees what is there */
			c->hints[c->nhints - 1].device = ldup(L, lua_tostring(L, -2));
			lua_pop(L, 1);
		}
	}
}

static int ctx_sort(const void *a, const void *b)
{
	return strcmp(((const struct dp_context *)a)->name, ((const struct dp_context *)b)->name);
}

/* Runs protected: every raise leaves st consistent for dp_state_unref(). */
static int read_tables(lua_State *L)
{
	struct dp_state *st = lua_touserdata(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, "dp.G");
	int g = lua_gettop(L);
	if (lua_getfield(L, g, "extensions") != LUA_TTABLE)
		return luaL_error(L, "%s: no 'extensions' table (it defines the contexts)",
				  st->file);
	int ext = lua_gettop(L);
	for (lua_pushnil(L); lua_next(L, ext); lua_pop(L, 1)) {
		if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1)) {
			pbx_warning("%s: extensions: entries must be name = { ... } (a context): "
				    "ignoring a %s",
				    st->file, luaL_typename(L, -1));
			continue;
		}
		const char *name = lua_tostring(L, -2);
		if (!*name || strlen(name) >= DP_NAME_MAX) {
			pbx_warning("%s: extensions: context name \"%.40s\" is %s: ignored",
				    st->file, name, *name ? "too long" : "empty");
			continue;
		}
		read_context(L, st, ctx_get(L, st, name));
	}
	if (lua_getfield(L, g, "hints") == LUA_TTABLE)
		read_hints(L, st, lua_gettop(L));
	else if (!lua_isnil(L, -1))
		pbx_warning("%s: hints is a %s, not a table: ignored", st->file,
			    luaL_typename(L, -1));
	if (st->n > 1)
		qsort(st->ctx, st->n, sizeof *st->ctx, ctx_sort);
	for (size_t i = 0; i < st->n; i++) {
		struct dp_context *c = &st->ctx[i];
		if (c->nincl && !(c->incl_idx = calloc(c->nincl, sizeof *c->incl_idx)))
			return luaL_error(L, "out of memory");
		for (size_t k = 0; k < c->nincl; k++) {
			const struct dp_context *in = dp_state_context(st, c->incl[k]);
			c->incl_idx[k] = in ? (int)(in - st->ctx) : -1;
			if (!in)
				pbx_warning(
					"%s: extensions.%s includes \"%s\", which is not a context",
					st->file, c->name, c->incl[k]);
		}
	}
	return 0;
}

/* Only an unprotected call can get here: a bug of the engine, not of the script. */
static int panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);
	pbx_error("dialplan: unprotected Lua error: %s", msg ? msg : "?");
	return 0; /* Lua aborts */
}

static int open_libs(lua_State *L)
{
	luaL_openlibs(L);
	dp_lua_setup(L);
	return 0;
}

static void put_error(lua_State *L, int idx, struct pbx_buf *err)
{
	const char *msg = lua_tostring(L, idx);
	pbx_buf_puts(err, msg ? msg : "(error object is not a string)");
}

static int run_chunk(struct dp_state *st, struct pbx_buf *err)
{
	lua_State *L = st->L;
	/* With no dialplan.file in the config, a missing default file is an
	 * empty dialplan (every call refused), so a minimal config starts. */
	bool empty = eng.missing_ok && access(st->file, F_OK) && errno == ENOENT;
	if (empty ? luaL_loadstring(L, "extensions = {}")
		  : luaL_loadfilex(L, st->file,
				   "t")) { /* text only: a binary chunk could crash the VM */
		put_error(L, -1, err);
		return EINVAL;
	}
	/* In a coroutine, so the run-time limit can stop an endless loop (see dp_lua_hook). */
	lua_State *co = lua_newthread(L);
	lua_rotate(L, -2, 1);
	lua_xmove(L, co, 1);
	int nres, rc;
	dp_slice_start();
	rc = lua_resume(co, L, 0, &nres);
	if (rc == LUA_OK) {
		lua_pop(L, 1);
		return 0;
	}
	if (rc == LUA_YIELD)
		pbx_buf_printf(err, "%s: %s", st->file,
			       dp_slice_expired() ? "ran longer than the limit while loading "
						    "(an endless loop?)"
						  : "yields while loading (coroutine.yield at the "
						    "top level)");
	else
		put_error(co, -1, err);
	lua_pop(L, 1);
	return EINVAL;
}

int dp_state_load(struct dp_state **stp, const char *file, struct pbx_buf *err)
{
	int e = ENOMEM;
	struct dp_state *st = calloc(1, sizeof *st);
	if (!st || !(st->file = strdup(file))) {
		pbx_buf_puts(err, "out of memory");
		goto out;
	}
	st->refs = 1;
	st->loaded = time(NULL);
	if (!(st->L = lua_newstate(dp_alloc, st))) {
		pbx_buf_puts(err, "out of memory");
		goto out;
	}
	lua_State *L = st->L;
	lua_atpanic(L, panic);
	lua_pushcfunction(L, open_libs);
	if (lua_pcall(L, 0, 0, 0)) {
		put_error(L, -1, err);
		goto out;
	}
	if ((e = run_chunk(st, err)))
		goto out;
	lua_pushcfunction(L, read_tables);
	lua_pushlightuserdata(L, st);
	if (lua_pcall(L, 1, 0, 0)) {
		put_error(L, -1, err);
		e = EINVAL;
		goto out;
	}
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT); /* what the file built and dropped: start lean */
	st->mem_after_gc = st->mem;
	*stp = st;
	return 0;
out:
	if (st)
		dp_state_unref(st);
	return e;
}

struct dp_state *dp_state_ref(struct dp_state *st)
{
	st->refs++;
	return st;
}

void dp_state_unref(struct dp_state *st)
{
	if (!st || --st->refs)
		return;
	if (st->L)
		lua_close(st->L); /* first: the allocator counts into st */
	for (size_t i = 0; i < st->n; i++)
		ctx_free(&st->ctx[i]);
	free(st->ctx);
	free(st->file);
	free(st);
}

/* ---- lookup ---------------------------------------------------------------------------------- */

const struct dp_context *dp_state_context(const struct dp_state *st, const char *name)
{
	size_t lo = 0, hi = st->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(name, st->ctx[mid].name);
		if (!cmp)
			return &st->ctx[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct dp_exten *find_in(struct dp_state *st, struct dp_context *c, const char *exten,
				      bool literal_only, int depth)
{
	if (c->mark == st->mark || depth > DP_INCLUDE_DEPTH)
		return NULL; /* an include loop, or absurd nesting */
	c->mark = st->mark;
	/* Linear in the context's extensions, as in pbx_lua; a context has tens of them. */
	for (size_t i = 0; i < c->n; i++) {
		if (literal_only && dp_is_pattern(c->ext[i].name))
			break; /* patterns sort after every literal name */
		if (dp_match(c->ext[i].name, exten))
			return &c->ext[i];
	}
	for (size_t i = 0; i < c->nincl; i++) {
		if (c->incl_idx[i] < 0)
			continue;
		const struct dp_exten *e =
			find_in(st, &st->ctx[c->incl_idx[i]], exten, literal_only, depth + 1);
		if (e)
			return e;
	}
	return NULL;
}

const struct dp_exten *dp_state_find(struct dp_state *st, const char *context, const char *exten,
				     bool literal_only)
{
	struct dp_context *c = (struct dp_context *)dp_state_context(st, context);
	if (!c)
		return NULL;
	if (!++st->mark) { /* wrapped: forget every old mark */
		for (size_t i = 0; i < st->n; i++)
			st->ctx[i].mark = 0;
		st->mark = 1;
	}
	return find_in(st, c, exten, literal_only, 0);
}

/* ---- the engine ------------------------------------------------------------------------------ */

struct dp_state *dp_current(void)
{
	return eng.cur;
}

const char *dp_file(void)
{
	return eng.file;
}

int dp_reload(struct pbx_buf *err)
{
	struct dp_state *st;
	if (!eng.file)
		return ENOENT;
	int e = dp_state_load(&st, eng.file, err);
	if (e)
		return e;
	struct dp_state *old = eng.cur;
	eng.cur = st;
	dp_state_unref(old); /* closed now, or when its last call ends */
	return 0;
}

bool dp_exists(const char *context, const char *exten)
{
	/* As the engine runs it: no extension is "s", and h/i/t are never dialled. */
	if (!*exten)
		exten = "s";
	if (!strcmp(exten, "h") || !strcmp(exten, "i") || !strcmp(exten, "t"))
		return false;
	return eng.cur && dp_state_find(eng.cur, context, exten, false);
}

/* The hint of @p exten in context @p ci or, depth first, what it includes (loops cut). */
static const char *hint_in(const struct dp_state *st, size_t ci, const char *exten, int depth)
{
	const struct dp_context *c = &st->ctx[ci];
	if (depth > 16)
		return NULL;
	for (size_t i = 0; i < c->nhints; i++)
		if (!strcmp(c->hints[i].exten, exten))
			return c->hints[i].device;
	for (size_t i = 0; i < c->nincl; i++) {
		const char *d = c->incl_idx[i] >= 0
					? hint_in(st, (size_t)c->incl_idx[i], exten, depth + 1)
					: NULL;
		if (d)
			return d;
	}
	return NULL;
}

static const char *dp_hint(const char *context, const char *exten)
{
	const struct dp_context *c = eng.cur ? dp_state_context(eng.cur, context) : NULL;
	return c ? hint_in(eng.cur, (size_t)(c - eng.cur->ctx), exten, 0) : NULL;
}

static void dp_each_hint(void (*fn)(const char *context, const char *exten, const char *device,
				    void *arg),
			 void *arg)
{
	for (size_t i = 0; eng.cur && i < eng.cur->n; i++)
		for (size_t k = 0; k < eng.cur->ctx[i].nhints; k++)
			fn(eng.cur->ctx[i].name, eng.cur->ctx[i].hints[k].exten,
			   eng.cur->ctx[i].hints[k].device, arg);
}

static void gc_tick(uv_timer_t *t)
{
	struct dp_state *st = eng.cur;
	if (!st || st->mem < st->mem_after_gc + DP_GC_GROWTH)
		return;
	lua_gc(st->L, LUA_GCCOLLECT);
	st->mem_after_gc = st->mem;
}

static void gc_closed(uv_handle_t *h)
{
	free(h);
}

int dp_engine_open(uv_loop_t *loop, const char *file, struct pbx_buf *err)
{
	int e;
	if (!(eng.file = strdup(file)) || !(eng.gc = malloc(sizeof *eng.gc))) {
		free(eng.file);
		eng.file = NULL;
		pbx_buf_puts(err, "out of memory");
		return ENOMEM;
	}
	uv_timer_init(loop, eng.gc);
	uv_timer_start(eng.gc, gc_tick, DP_GC_MS, DP_GC_MS);
	uv_unref((uv_handle_t *)eng.gc);
	if ((e = dp_calls_init(loop))) {
		pbx_buf_printf(err, "cannot start: %s", strerror(e));
		free(eng.file);
		eng.file = NULL;
		uv_close((uv_handle_t *)eng.gc, gc_closed);
		eng.gc = NULL;
		return e;
	}
	eng.open = true;
	if ((e = dp_state_load(&eng.cur, file, err))) {
		dp_engine_close();
		return e;
	}
	return 0;
}

void dp_engine_close(void)
{
	if (!eng.open)
		return;
	dp_calls_shutdown(); /* drops the calls' references */
	dp_state_unref(eng.cur);
	eng.cur = NULL;
	free(eng.file);
	eng.file = NULL;
	uv_close((uv_handle_t *)eng.gc, gc_closed);
	eng.gc = NULL;
	eng.open = false;
}

/* ---- module ---------------------------------------------------------------------------------- */

static const struct pbx_dialplan_ops ops = {
	.start = dp_call_start,
	.exists = dp_exists,
	.hint = dp_hint,
	.each_hint = dp_each_hint,
	.message = dp_message_start,
};

static int load(void)
{
	const struct pbx_config *cfg = pbx_cfg();
	const struct dp_cfg *dc = pbx_config_get(cfg, &dp_section);
	const char *file = dc->file;
	struct pbx_buf err;
	eng.missing_ok = !pbx_config_is_set(cfg, &dp_section, "file");
	if (eng.missing_ok && access(file, F_OK))
		pbx_warning("dialplan: no %s (dialplan.file is not set): every call is refused "
			    "until it exists and `dialplan reload` runs",
			    file);
	pbx_buf_init(&err);
	int e = dp_engine_open(pbx_loop(), file, &err);
	if (e) {
		/* The PBX does not start half-configured: fix the file and start again. */
		pbx_error("dialplan: %s", err.len ? err.data : strerror(e));
		pbx_buf_free(&err);
		return e;
	}
	pbx_buf_free(&err);
	if ((e = pbx_dialplan_register(&ops))) {
		pbx_error("dialplan: another dialplan engine is registered");
		dp_engine_close();
		return e;
	}
	size_t n = 0;
	for (size_t i = 0; i < eng.cur->n; i++)
		n += eng.cur->ctx[i].n;
	pbx_notice("dialplan: %s loaded: %zu contexts, %zu extensions", file, eng.cur->n, n);
	return 0;
}

static void unload(void)
{
	pbx_dialplan_unregister(&ops);
	dp_engine_close();
}

/* After the applications (30), so it unloads first and can cancel what they run. */
PBX_MODULE(dp_module) = {"dialplan", 40, load, unload};
