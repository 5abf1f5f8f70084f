/**
 * @file dp_priv.h  The Lua dialplan engine's internals, shared by dialplan/ only
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A dp_state is one load of the dialplan file: a Lua state that ran the
 * file once, plus, per context, its extensions sorted in Asterisk's order
 * with a registry reference to each function. Lookups run in C on those
 * arrays; Lua runs only the functions of calls.
 *
 * A dp_call is one channel running the dialplan: a coroutine of the state
 * it started on (which it keeps alive by reference across a reload), its
 * own table of globals, and the application it waits for.
 *
 * Signalling thread only.
 */
#ifndef DP_PRIV_H
#define DP_PRIV_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "pbx/buf.h"
#include "pbx/chan.h"

struct pbx_chan;

/* Longest context or extension name kept (as struct pbx_chan's fields). */
#define DP_NAME_MAX 80

/*
 * One resume of a script may run this long before the engine stops it: the
 * signalling thread must not be held by an endless loop. Checked every
 * DP_HOOK_COUNT Lua instructions, which costs well under 1% of run time.
 */
#define DP_SLICE_MS   1000
#define DP_HOOK_COUNT 10000
/* What one loaded dialplan (all its calls together) may allocate. */
#define DP_MEM_MAX ((size_t)256 << 20)

struct dp_exten {
	char *name;
	int fn;   /* registry reference to the function */
	int line; /* where the function is defined, for `dialplan show` */
};

struct dp_hint {
	char *exten, *device;
};

struct dp_context {
	char *name;
	struct dp_exten *ext; /* in match order */
	size_t n;
	char **incl;   /* include = { ... }, in order */
	int *incl_idx; /* index of each included context; -1 when there is none */
	size_t nincl;
	struct dp_hint *hints;
	size_t nhints;
	unsigned mark; /* visited by the current lookup (include loops) */
};

struct dp_state {
	lua_State *L;
	unsigned refs; /* the engine's current pointer and each call on it */
	char *file;
	time_t loaded;
	struct dp_context *ctx; /* sorted by name */
	size_t n;
	unsigned mark;
	size_t mem;          /* bytes the Lua state holds */
	size_t mem_after_gc; /* mem after the last full collection */
	unsigned calls;      /* calls running on this state */
};

/* ---- dp_engine.c: loading and lookup ------------------------------------------ */

/**
 * Load @p file into a new state: run it once, read `extensions` and
 * `hints`. On failure return an errno value and put one line into @p err
 * ("FILE:LINE: message" when Lua knows the line).
 */
int dp_state_load(struct dp_state **stp, const char *file, struct pbx_buf *err);
struct dp_state *dp_state_ref(struct dp_state *st);
void dp_state_unref(struct dp_state *st);
const struct dp_context *dp_state_context(const struct dp_state *st, const char *name);

/**
 * The extension that runs @p exten in @p context: the context's own in
 * match order, then each include, depth first. @p literal_only skips
 * patterns (for the engine's own `h` and `i`, which `_.` must not catch).
 * NULL if none.
 */
const struct dp_exten *dp_state_find(struct dp_state *st, const char *context, const char *exten,
				     bool literal_only);

/** The state new calls start on; NULL when none is loaded. */
struct dp_state *dp_current(void);
/** The file `dialplan reload` reads. */
const char *dp_file(void);

/**
 * Load @p file (kept for reload) and start the call machinery on @p loop.
 * 0 or errno (with @p err filled).
 */
int dp_engine_open(uv_loop_t *loop, const char *file, struct pbx_buf *err);
/** Stop every call (cancelling waiting applications, no `h`) and free all. */
void dp_engine_close(void);
/**
 * Load the file again; on success new calls use it, calls in progress finish
 * on the old one. On failure the old one stays and @p err says why.
 */
int dp_reload(struct pbx_buf *err);
/** Does @p exten exist in @p context (includes followed)? */
bool dp_exists(const char *context, const char *exten);

/* ---- dp_call.c: calls ------------------------------------------------------------ */

/**
 * Prepare a state's Lua side, after luaL_openlibs(): the per-call globals
 * proxy, app, channel, check_hangup, autoservice_*, print. Raises Lua
 * errors (memory): call it protected.
 */
void dp_lua_setup(lua_State *L);
/** The count hook every state runs under (see DP_SLICE_MS). */
void dp_lua_hook(lua_State *L, lua_Debug *ar);
/** Mark the start of a run of Lua code for the hook. */
void dp_slice_start(void);
/** Has the current slice outlived DP_SLICE_MS (set by the hook)? */
bool dp_slice_expired(void);

int dp_calls_init(uv_loop_t *loop);
void dp_calls_shutdown(void);
/** Run the dialplan for @p ch at ch->context / ch->exten. 0 or errno. */
int dp_call_start(struct pbx_chan *ch);
/** Run @p exten of @p context for a message, without a channel (pbx_dialplan_message). */
int dp_message_start(struct pbx_im *im, const char *context, const char *exten,
		     pbx_dialplan_im_done_h *done, void *arg);
unsigned dp_call_count(void);

/**
 * Split @p joined (the Lua arguments joined with ',') into @p n arguments,
 * Asterisk's way: ',' separates, "..." quotes (commas inside do not
 * separate; the quotes go), '\' takes the next character literally; the
 * last argument takes the rest of the line as it is, commas, quotes and
 * all. Missing arguments are "".
 * @p store holds the texts (at least strlen(joined) + n bytes).
 */
void dp_args_split(const char *joined, int n, char *store, const char **argv);

#endif
