/**
 * @file dp_call.c  Calls running the Lua dialplan: coroutines, per-call globals, app/channel
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each call runs its extension function in its own coroutine of the state
 * it started on. app.<name>(...) runs an application; one that waits
 * (EINPROGRESS) yields the coroutine, and pbx_app_finish() queues the call
 * to be resumed on a later turn of the loop: Lua never runs inside an
 * application's or a driver's callback, so nothing is re-entered.
 *
 * Globals a call writes are its own, as with pbx_lua's state per channel:
 * the file's functions see, as _ENV, a proxy whose metamethods read the
 * running call's table first and then the globals the file made, and
 * write to the running call's table (to the shared globals only while the
 * file loads). The `h` extension runs with the same table. Tables made at
 * load time, and the file's top-level locals, are shared by every call (in
 * pbx_lua, where each channel ran the whole file, they were not).
 *
 * Cost: a coroutine is a lua_State of ~1 KB plus the stack the function
 * grows; the globals table is empty until the call writes one. Reading a
 * global costs one C metamethod call on top of the table lookups.
 */
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/im.h"
#include "pbx/log.h"
#include "pbx/transfer.h"
#include "pbx/vars.h"

#include "dp_match.h"
#include "dp_priv.h"

/* Declared arguments an application may have. */
#define DP_MAX_ARGS 16
/* app.goto jumps in a row without any application waiting: a loop. */
#define DP_MAX_JUMPS 100

enum ac_state {
	AC_IDLE,
	AC_EXEC,      /* inside exec() */
	AC_PENDING,   /* exec() returned EINPROGRESS; the coroutine waits */
	AC_CANCELING, /* inside cancel(): a finish now is a bug of the app */
	AC_DONE,      /* finished or cancelled; the coroutine may resume */
};

/* The engine's side of one application run (app.h); one per call at a time. */
struct pbx_app_call {
	struct dp_call *call;
	const struct pbx_app *app;
	enum ac_state state;
	int err;
	char *result;
	void *data;
	char msg[256];
};

enum dp_phase { DP_MAIN, DP_H };

struct dp_call {
	struct dp_call *next, *prev; /* every call */
	struct dp_call *qnext;       /* run queue */
	bool queued;
	struct dp_state *st;
	struct pbx_chan *ch;
	lua_State *co; /* the coroutine of the running function */
	int co_ref, env_ref;
	int nargs; /* values on co for the next resume */
	enum dp_phase phase;
	char context[DP_NAME_MAX], exten[DP_NAME_MAX];
	char goto_ctx[DP_NAME_MAX], goto_exten[DP_NAME_MAX];
	bool goto_set;
	int jumps;
	bool hungup;        /* the hangup event came */
	bool hangup_raised; /* an app raised "hung up" (logged as an end, not an error) */
	bool killed;        /* ran past DP_SLICE_MS */
	bool released;      /* the channel was taken away (transfer, redirect): stop, no h */
	bool autoservice;
	struct pbx_app_call ac;
	/* A message's run (ch NULL): the message, who hears the end, and how it ended. */
	struct pbx_im *im;
	pbx_dialplan_im_done_h *im_done;
	void *im_arg;
	int im_err;
	char im_name[24]; /* "Message/7", for the log */
};

static struct {
	uv_idle_t *idle; /* runs the queue; heap so a re-init never reuses a closing handle */
	struct dp_call *all;
	struct dp_call *qhead, **qtail;
	unsigned n;
	struct dp_call *running; /* whose Lua code runs now; NULL while a file loads */
	uint64_t slice_start;
	bool expired;
} dc = {.qtail = &dc.qhead};

static void step(struct dp_call *c);

/* For the log: the channel's name, or the message's. */
static const char *cname(const struct dp_call *c)
{
	return c->ch ? c->ch->name : c->im_name;
}

/* A variable of the run: the channel's, or the message's. */
static int call_var_set(struct dp_call *c, const char *name, const char *value)
{
	return c->ch ? pbx_chan_var_set(c->ch, name, value)
		     : pbx_vars_set(&c->im->vars, name, value);
}

/* ---- the run-time limit ---------------------------------------------------------------------- */

void dp_slice_start(void)
{
	dc.slice_start = uv_hrtime();
	dc.expired = false;
}

bool dp_slice_expired(void)
{
	return dc.expired;
}

void dp_lua_hook(lua_State *L, lua_Debug *ar)
{
	if (!dc.expired && uv_hrtime() - dc.slice_start < (uint64_t)DP_SLICE_MS * 1000000)
		return;
	dc.expired = true;
	if (dc.running)
		dc.running->killed = true;
	/* A yield cannot be caught by the script's pcall; the engine drops the coroutine. */
	if (lua_isyieldable(L)) {
		lua_yield(L, 0);
		return;
	}
	/* Inside a C call (a string.gsub callback, say): raise, and check again at the very next
	 * instruction, so that a pcall catching this cannot run another long slice. */
	lua_sethook(L, dp_lua_hook, LUA_MASKCOUNT, 1);
	luaL_error(L, "ran longer than %d ms without waiting (an endless loop?)", DP_SLICE_MS);
}

/* ---- the run queue --------------------------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
	/* Only what was queued before this turn: a call queued meanwhile waits for the next. */
	struct dp_call *list = dc.qhead;
	dc.qhead = NULL;
	dc.qtail = &dc.qhead;
	while (list) {
		struct dp_call *c = list;
		list = c->qnext;
		c->queued = false;
		step(c); /* may free c, never another call */
	}
	if (!dc.qhead)
		uv_idle_stop(h);
}

static void queue(struct dp_call *c)
{
	if (c->queued)
		return;
	c->queued = true;
	c->qnext = NULL;
	*dc.qtail = c;
	dc.qtail = &c->qnext;
	uv_idle_start(dc.idle, on_idle);
}

/* ---- applications: the engine's side of app.h ------------------------------------------------ */

static void op_set_result(struct pbx_app_call *ac, const char *result)
{
	free(ac->result);
	ac->result = result ? strdup(result) : NULL;
}

static void op_error(struct pbx_app_call *ac, const char *fmt, va_list ap)
{
	vsnprintf(ac->msg, sizeof ac->msg, fmt, ap);
}

static void op_set_data(struct pbx_app_call *ac, void *data)
{
	ac->data = data;
}

static void *op_data(struct pbx_app_call *ac)
{
	return ac->data;
}

static void op_finish(struct pbx_app_call *ac, int err, const char *result)
{
	struct dp_call *c = ac->call;
	if (ac->state != AC_EXEC && ac->state != AC_PENDING) {
		pbx_warning("%s: application %s finished when it was not running (twice, or after "
			    "cancel): ignored",
			    cname(c), ac->app ? ac->app->name : "?");
		return;
	}
	ac->err = err;
	if (result)
		op_set_result(ac, result);
	/* Finished inside exec(): app_call() sees AC_DONE when exec returns. Else the
	 * coroutine resumes on the next turn, never from inside the application. */
	bool waiting = ac->state == AC_PENDING;
	ac->state = AC_DONE;
	if (waiting)
		queue(c);
}

static struct pbx_im *op_message(struct pbx_app_call *ac)
{
	return ac->call->im;
}

static int op_var_set(struct pbx_app_call *ac, const char *name, const char *value)
{
	return call_var_set(ac->call, name, value);
}

static const struct pbx_app_call_ops call_ops = {
	.finish = op_finish,
	.set_result = op_set_result,
	.error = op_error,
	.set_data = op_set_data,
	.data = op_data,
	.message = op_message,
	.var_set = op_var_set,
};

/* A message's run has no channel to hang up. */
static bool is_hungup(const struct dp_call *c)
{
	return c->ch && (c->hungup || c->ch->state == PBX_CHAN_HUNGUP);
}

static void cancel_app(struct dp_call *c)
{
	struct pbx_app_call *ac = &c->ac;
	ac->state = AC_CANCELING;
	if (ac->app->cancel)
		ac->app->cancel(c->ch, ac);
	if (c->ch)
		pbx_chan_app_events(c->ch, NULL, NULL); /* a cancelled app hears nothing more */
	ac->err = ECANCELED;
	ac->state = AC_DONE;
}

/* luaL_error() cannot bound a %s; applications' values can be long. */
static int lerror(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lerror(lua_State *L, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return luaL_error(L, "%s", msg);
}

static int raise_hangup(lua_State *L, struct dp_call *c, const char *what)
{
	c->hangup_raised = true;
	return lerror(L, "%s: the channel hung up", what);
}

/* The application ended (at once, or on resume): its result, or a Lua error. */
static int app_done(lua_State *L, struct dp_call *c)
{
	struct pbx_app_call *ac = &c->ac;
	ac->state = AC_IDLE;
	/* An application that finished hears no more events, even if it forgot to say so. */
	if (c->ch && c->ch->app_ev)
		pbx_chan_app_events(c->ch, NULL, NULL);
	if (c->phase != DP_H && is_hungup(c))
		return raise_hangup(L, c, ac->app->name);
	if (ac->err)
		return ac->msg[0] ? lerror(L, "%s", ac->msg)
				  : lerror(L, "%s: %s", ac->app->name, strerror(ac->err));
	if (!ac->result)
		return 0;
	lua_pushstring(L, ac->result); /* ac->result is freed at the next app or the end */
	return 1;
}

static int app_cont(lua_State *L, int status, lua_KContext ctx)
{
	return app_done(L, dc.running);
}

static bool is_int(const char *s)
{
	s += *s == '-' || *s == '+';
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool is_number(const char *s)
{
	int digits = 0;
	s += *s == '-' || *s == '+';
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	return digits && !*s;
}

/* Blanks around a number are Asterisk habit ("SIP/1001, 20"); take them off. */
static const char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

void dp_args_split(const char *s, int n, char *store, const char **argv)
{
	char *o = store;
	for (int i = 0; i < n; i++) {
		argv[i] = o;
		if (i == n - 1) { /* the last takes the rest as it is */
			size_t len = strlen(s);
			memcpy(o, s, len + 1);
			s += len;
			break;
		}
		bool quoted = false;
		for (; *s; s++) {
			if (*s == '"') {
				quoted = !quoted;
			} else if (*s == '\\' && s[1]) {
				*o++ = *++s;
			} else if (*s == ',' && !quoted) {
				s++;
				break;
			} else {
				*o++ = *s;
			}
		}
		*o++ = '\0';
	}
}

/* A Lua number as an application sees it: 20 and 20.0 are both "20". */
static void number_text(lua_State *L, int idx, char *num, size_t size)
{
	if (lua_isinteger(L, idx)) {
		snprintf(num, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
	} else {
		lua_Number v = lua_tonumber(L, idx);
		if (v == floor(v) && fabs(v) < 9e15)
			snprintf(num, size, "%.0f", (double)v);
		else
			snprintf(num, size, "%.14g", (double)v);
	}
}

static void add_number(lua_State *L, int idx, luaL_Buffer *b)
{
	char num[64];
	number_text(L, idx, num, sizeof num);
	luaL_addstring(b, num);
}

#define DP_TABLE_MAX 512

/*
 * An options table as the applications take options: "key=value;..."
 * (true and false as yes and no), as app.confbridge("8000", {admin =
 * true}). Keys are names; values are strings, numbers or booleans without
 * ',' or ';'. NULL, or an error message (static) for the Lua error.
 */
static const char *table_text(lua_State *L, int idx, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		char val[64];
		const char *v = val;
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			return "option names must be strings";
		}
		switch (lua_type(L, -1)) {
		case LUA_TBOOLEAN: v = lua_toboolean(L, -1) ? "yes" : "no"; break;
		case LUA_TNUMBER: number_text(L, -1, val, sizeof val); break;
		case LUA_TSTRING: v = lua_tostring(L, -1); break;
		default: lua_pop(L, 2); return "option values must be strings, numbers or booleans";
		}
		const char *k = lua_tostring(L, -2);
		if (strpbrk(k, ",;=") || strpbrk(v, ",;")) {
			lua_pop(L, 2);
			return "options must not hold ',' or ';'";
		}
		int w = snprintf(out + n, size - n, "%s%s=%s", n ? ";" : "", k, v);
		lua_pop(L, 1);
		if (w < 0 || (size_t)w >= size - n) {
			lua_pop(L, 1);
			return "options table too long";
		}
		n += (size_t)w;
	}
	return NULL;
}

static struct dp_call *need_call(lua_State *L, const char *what)
{
	if (!dc.running)
		luaL_error(L, "%s: no call is running here (only inside extension functions)",
			   what);
	return dc.running;
}

/* app.<name>(...): upvalue 1 is the name as the script wrote it. */
static int app_call(lua_State *L)
{
	const char *name = lua_tostring(L, lua_upvalueindex(1));
	struct dp_call *c = dc.running;
	if (!c)
		return lerror(L,
			      "app.%s: no call is running here (only inside extension functions)",
			      name);
	if (L != c->co)
		return lerror(L,
			      "app.%s: applications cannot run inside a coroutine the script made",
			      name);
	const struct pbx_app *app = pbx_app_find(name);
	if (!app)
		return lerror(L, "unknown application '%s'", name);
	if (!c->ch && !app->without_channel)
		return lerror(L,
			      "%s: a message's dialplan has no channel: only messagesend, set, "
			      "verbose and goto run here",
			      app->name);
	if (c->phase != DP_H && is_hungup(c))
		return raise_hangup(L, c, app->name);
	if (c->released) {
		c->hangup_raised = true;
		return lerror(L, "%s: the channel was transferred away", app->name);
	}

	/* Join what Lua passed with ',' (nil is empty), then split as the app declares. */
	int nargs = lua_gettop(L), n = 0;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= nargs; i++) {
		if (i > 1)
			luaL_addchar(&b, ',');
		switch (lua_type(L, i)) {
		case LUA_TNIL: break;
		case LUA_TNUMBER: add_number(L, i, &b); break;
		case LUA_TSTRING:
			lua_pushvalue(L, i);
			luaL_addvalue(&b);
			break;
		case LUA_TTABLE: {
			char opts[DP_TABLE_MAX];
			const char *why = table_text(L, i, opts, sizeof opts);
			if (why)
				return lerror(L, "bad argument #%d to '%s' (%s)", i, app->name,
					      why);
			luaL_addstring(&b, opts);
			break;
		}
		default:
			return lerror(L, "bad argument #%d to '%s' (string expected, got %s)", i,
				      app->name, luaL_typename(L, i));
		}
	}
	luaL_pushresult(&b);
	size_t len;
	const char *joined = lua_tolstring(L, -1, &len);
	while (app->args && app->args[n].name)
		n++;
	if (n > DP_MAX_ARGS)
		return lerror(L, "%s: declares %d arguments, more than %d", app->name, n,
			      DP_MAX_ARGS);
	/* On the coroutine's stack: alive until the app finishes, freed by Lua on any error. */
	const char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv + len + n + 1, 0);
	char *store = (char *)(argv + n + 1);
	dp_args_split(joined, n, store, argv);
	argv[n] = NULL;
	for (int i = 0; i < n; i++) {
		const struct pbx_arg_spec *sp = &app->args[i];
		if (sp->type != PBX_ARG_STRING)
			argv[i] = trim((char *)argv[i]);
		if (!*argv[i]) {
			if (sp->required)
				return lerror(L, "missing argument #%d '%s' to '%s'", i + 1,
					      sp->name, app->name);
			continue;
		}
		if ((sp->type == PBX_ARG_INT && !is_int(argv[i])) ||
		    (sp->type == PBX_ARG_NUMBER && !is_number(argv[i])))
			return lerror(L, "bad argument #%d '%s' to '%s' (%s expected, got '%.40s')",
				      i + 1, sp->name, app->name,
				      sp->type == PBX_ARG_INT ? "integer" : "number", argv[i]);
	}

	struct pbx_app_call *ac = &c->ac;
	free(ac->result);
	*ac = (struct pbx_app_call){.call = c, .app = app, .state = AC_EXEC};
	pbx_info("%s: %s@%s: %s(\"%.200s\")", cname(c), c->exten, c->context, app->name, joined);
	if (c->ch)
		pbx_transfer_app(c->ch, app); /* a transferee's target that takes the call itself */
	int rc = app->exec(c->ch, argv, ac);
	if (rc == EINPROGRESS && ac->state == AC_EXEC) {
		if (c->phase != DP_H && is_hungup(c)) {
			cancel_app(c); /* hung up inside exec: the event could not cancel it */
			return app_done(L, c);
		}
		ac->state = AC_PENDING;
		c->jumps = 0;
		return lua_yieldk(L, 0, 0, app_cont);
	}
	if (rc && rc != EINPROGRESS)
		ac->err = rc;
	return app_done(L, c);
}

/* app.X: a caller for application X, looked up when called (apps may come and go). */
static int app_index(lua_State *L)
{
	if (lua_type(L, 2) != LUA_TSTRING)
		return lerror(L, "app: an application name is a string, not a %s",
			      luaL_typename(L, 2));
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, app_call, 1);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, -2);
	lua_rawset(L, 1); /* the next app.X is a plain table read */
	return 1;
}

/* ---- goto: the one application that is the engine's own -------------------------------------- */

static const struct pbx_arg_spec goto_args[] = {
	{"context", PBX_ARG_STRING, true},
	{"extension", PBX_ARG_STRING, false},
	{"priority", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

/*
 * Goto([[context,]extension,]priority) as in Asterisk: it sets where the
 * call goes when the running function returns (pbx_lua behaves the same:
 * write `return app["goto"](...)` to leave at once). Lua extensions have one
 * priority, 1.
 */
static int goto_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *ac)
{
	struct dp_call *c = ac->call;
	const char *ctx = c->context, *ext = c->exten, *prio;
	if (*argv[2]) {
		ctx = *argv[0] ? argv[0] : c->context;
		ext = argv[1];
		prio = argv[2];
	} else if (*argv[1]) {
		ext = argv[0];
		prio = argv[1];
	} else {
		prio = argv[0];
	}
	if (strcmp(prio, "1")) {
		pbx_app_error(ac, "goto: priority '%s': a Lua extension has one priority, 1", prio);
		return EINVAL;
	}
	if (c->phase == DP_H) {
		pbx_app_error(ac, "goto: not from the h extension (the call is over)");
		return EINVAL;
	}
	if (strlen(ctx) >= DP_NAME_MAX || strlen(ext) >= DP_NAME_MAX) {
		pbx_app_error(ac, "goto: context or extension name too long");
		return EINVAL;
	}
	snprintf(c->goto_ctx, sizeof c->goto_ctx, "%s", ctx);
	snprintf(c->goto_exten, sizeof c->goto_exten, "%s", *ext ? ext : "s");
	c->goto_set = true;
	return 0;
}

static const struct pbx_app goto_app = {
	.name = "goto",
	.synopsis = "Continue at [[context,]extension,]1 when the extension function returns",
	.args = goto_args,
	.exec = goto_exec,
	.takes_no_call = true,
	.without_channel = true,
};

/* ---- channel.NAME ---------------------------------------------------------------------------- */

static bool is_func(const char *name)
{
	size_t n = strlen(name);
	return n > 2 && name[n - 1] == ')' && strchr(name, '(');
}

/*
 * CALLERID(num|name|all): the one dialplan function a Lua dialplan needs
 * (the rest are Lua itself). Returns the field, or NULL with *err set.
 */
static char *callerid_field(struct pbx_chan *ch, const char *name, size_t *size, const char **err)
{
	static const char prefix[] = "CALLERID(";
	*err = NULL;
	if (strncasecmp(name, prefix, sizeof prefix - 1)) {
		*err = "unknown dialplan function";
		return NULL;
	}
	const char *arg = name + sizeof prefix - 1;
	size_t len = strlen(arg) - 1; /* without ')' */
	if (len == 3 && !strncasecmp(arg, "num", 3)) {
		*size = sizeof ch->caller_num;
		return ch->caller_num;
	}
	if (len == 4 && !strncasecmp(arg, "name", 4)) {
		*size = sizeof ch->caller_name;
		return ch->caller_name;
	}
	*err = len == 3 && !strncasecmp(arg, "all", 3) ? "CALLERID(all) is read-only"
						       : "CALLERID takes num, name or all";
	return NULL;
}

/*
 * MESSAGE(body|from|to|content_type) of a message's run, as Asterisk's
 * message channel names them. The field, or NULL with *err set; *size is
 * the room of the text fields (0 for the body, which is sized apart).
 */
static char *message_field(struct pbx_im *im, const char *name, size_t *size, const char **err)
{
	static const char prefix[] = "MESSAGE(";
	*err = NULL;
	*size = 0;
	if (strncasecmp(name, prefix, sizeof prefix - 1))
		return NULL;
	if (!im) {
		*err = "only in a message's dialplan run (the messages context)";
		return NULL;
	}
	const char *arg = name + sizeof prefix - 1;
	size_t len = strlen(arg) - 1;
	if (len == 4 && !strncasecmp(arg, "body", 4))
		return im->body;
	if (len == 4 && !strncasecmp(arg, "from", 4)) {
		*size = sizeof im->from;
		return im->from;
	}
	if (len == 2 && !strncasecmp(arg, "to", 2)) {
		*size = sizeof im->to;
		return im->to;
	}
	if (len == 12 && !strncasecmp(arg, "content_type", 12)) {
		*size = sizeof im->type;
		return im->type;
	}
	*err = "MESSAGE takes body, from, to or content_type";
	return NULL;
}

/* The value of NAME on the call's channel or message; NULL when unset. @p buf for made values. */
static const char *var_read(lua_State *L, struct dp_call *c, const char *name, char *buf,
			    size_t len)
{
	struct pbx_chan *ch = c->ch;
	if (is_func(name) && !strncasecmp(name, "MESSAGE(", 8)) {
		size_t size;
		const char *err;
		const char *f = message_field(c->im, name, &size, &err);
		if (!f)
			lerror(L, "%s: %s", name, err);
		return f;
	}
	if (!ch) {
		if (!strcmp(name, "EXTEN"))
			return c->exten;
		if (!strcmp(name, "CONTEXT"))
			return c->context;
		if (!strcmp(name, "CHANNEL"))
			return c->im_name;
		if (is_func(name)) {
			lerror(L, "%s: a message has no channel (MESSAGE(from) is its sender)",
			       name);
			return NULL;
		}
		return pbx_vars_get(c->im->vars, name);
	}
	if (is_func(name)) {
		size_t size;
		const char *err;
		char *f = callerid_field(ch, name, &size, &err);
		if (f)
			return f;
		if (!strncasecmp(name, "CALLERID(all)", 13)) {
			snprintf(buf, len, "\"%s\" <%s>", ch->caller_name, ch->caller_num);
			return buf;
		}
		lerror(L, "%s: %s", name, err);
		return NULL;
	}
	if (!strcmp(name, "EXTEN"))
		return c->exten;
	if (!strcmp(name, "CONTEXT"))
		return c->context;
	if (!strcmp(name, "CHANNEL"))
		return ch->name;
	if (!strcmp(name, "UNIQUEID")) {
		snprintf(buf, len, "%u", ch->id);
		return buf;
	}
	return pbx_chan_var_get(ch, name);
}

/* MESSAGE(field) = value: the body any bytes (nil empties it), the others one line. */
static void message_write(lua_State *L, struct dp_call *c, const char *name, const char *value,
			  size_t vlen)
{
	size_t size;
	const char *err;
	char *f = message_field(c->im, name, &size, &err);
	if (!f) {
		lerror(L, "%s: %s", name, err);
		return;
	}
	if (!size) {
		int e = pbx_im_set_body(c->im, value ? value : "", value ? vlen : 0);
		if (e)
			lerror(L, "%s: %s", name,
			       e == EINVAL ? "longer than a message may be" : "out of memory");
		return;
	}
	if (value && (vlen >= size || strlen(value) != vlen || strpbrk(value, "\r\n"))) {
		lerror(L, "%s: one line of at most %zu characters", name, size - 1);
		return;
	}
	snprintf(f, size, "%s", value ? value : "");
}

static void var_write(lua_State *L, struct dp_call *c, const char *name, int vidx)
{
	const char *value = NULL;
	size_t vlen = 0;
	int t = lua_type(L, vidx);
	if (t == LUA_TSTRING || t == LUA_TNUMBER)
		value = lua_tolstring(L, vidx, &vlen);
	else if (t != LUA_TNIL)
		lerror(L, "channel.%s: a value is a string or a number, not a %s", name,
		       luaL_typename(L, vidx));
	if (is_func(name) && !strncasecmp(name, "MESSAGE(", 8)) {
		message_write(L, c, name, value, vlen);
		return;
	}
	if (!c->ch) {
		if (is_func(name) || !strcmp(name, "EXTEN") || !strcmp(name, "CONTEXT") ||
		    !strcmp(name, "CHANNEL"))
			lerror(L,
			       "channel.%s: not in a message's run (MESSAGE(...) are its fields)",
			       name);
		if (pbx_vars_set(&c->im->vars, name, value))
			lerror(L, "channel.%s: out of memory", name);
		return;
	}
	if (is_func(name)) {
		size_t size;
		const char *err;
		char *f = callerid_field(c->ch, name, &size, &err);
		if (!f) {
			lerror(L, "%s: %s", name, err);
			return;
		}
		snprintf(f, size, "%s", value ? value : "");
		return;
	}
	if (!strcmp(name, "EXTEN") || !strcmp(name, "CONTEXT") || !strcmp(name, "CHANNEL") ||
	    !strcmp(name, "UNIQUEID"))
		lerror(L, "channel.%s is read-only (app.goto moves a call)", name);
	if (pbx_chan_var_set(c->ch, name, value))
		lerror(L, "channel.%s: out of memory", name);
}

/* A variable object: { name = NAME, value = ... } with get/set and, for functions, (). */
static void push_var(lua_State *L, struct dp_call *c, const char *name, bool with_value)
{
	lua_createtable(L, 0, 2);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "name");
	if (with_value && !is_func(name)) { /* pbx_lua fills .value the same way */
		char buf[200];
		const char *v = var_read(L, c, name, buf, sizeof buf);
		if (v) {
			lua_pushstring(L, v);
			lua_setfield(L, -2, "value");
		}
	}
	luaL_setmetatable(L, "dp.variable");
}

static const char *self_name(lua_State *L, const char *method)
{
	if (!lua_istable(L, 1) || lua_getfield(L, 1, "name") != LUA_TSTRING)
		luaL_error(L, "%s: write channel.NAME:%s(), with ':'", method, method);
	return lua_tostring(L, -1);
}

static int var_get(lua_State *L)
{
	const char *name = self_name(L, "get");
	struct dp_call *c = need_call(L, "channel");
	char buf[200];
	const char *v = var_read(L, c, name, buf, sizeof buf);
	if (v && c->im && v == c->im->body)
		lua_pushlstring(L, v, c->im->len); /* a body may hold NULs */
	else if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

static int var_set(lua_State *L)
{
	lua_settop(L, 2);
	const char *name = self_name(L, "set");
	var_write(L, need_call(L, "channel"), name, 2);
	return 0;
}

/* channel.CALLERID("num") names the function CALLERID(num), as pbx_lua does. */
static int var_call(lua_State *L)
{
	int n = lua_gettop(L);
	const char *name = self_name(L, "()");
	struct dp_call *c = need_call(L, "channel");
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addstring(&b, name);
	luaL_addchar(&b, '(');
	for (int i = 2; i <= n; i++) {
		if (i > 2)
			luaL_addchar(&b, ',');
		int t = lua_type(L, i);
		if (t == LUA_TSTRING || t == LUA_TNUMBER) {
			lua_pushvalue(L, i);
			luaL_addvalue(&b);
		} else if (t != LUA_TNIL) {
			return lerror(L, "bad argument #%d to '%s' (string expected, got %s)",
				      i - 1, name, luaL_typename(L, i));
		}
	}
	luaL_addchar(&b, ')');
	luaL_pushresult(&b);
	push_var(L, c, lua_tostring(L, -1), false);
	return 1;
}

static int chan_index(lua_State *L)
{
	const char *name = luaL_checkstring(L, 2);
	push_var(L, need_call(L, "channel"), name, true);
	return 1;
}

static int chan_newindex(lua_State *L)
{
	const char *name = luaL_checkstring(L, 2);
	var_write(L, need_call(L, "channel"), name, 3);
	return 0;
}

/* ---- other globals: check_hangup, autoservice, print ----------------------------------------- */

static int check_hangup(lua_State *L)
{
	lua_pushboolean(L, is_hungup(need_call(L, "check_hangup")));
	return 1;
}

/*
 * Asterisk's autoservice reads a channel's media while the script does
 * something slow. Here media workers always serve the channel and a script
 * never blocks anything, so there is nothing to do; the flag is kept so
 * pbx_lua scripts that test it work unchanged.
 */
static int autoservice_start(lua_State *L)
{
	need_call(L, "autoservice_start")->autoservice = true;
	lua_pushboolean(L, 1);
	return 1;
}

static int autoservice_stop(lua_State *L)
{
	need_call(L, "autoservice_stop")->autoservice = false;
	lua_pushboolean(L, 1);
	return 1;
}

static int autoservice_status(lua_State *L)
{
	lua_pushboolean(L, need_call(L, "autoservice_status")->autoservice);
	return 1;
}

/* print() goes to the log (stdout is nobody's once the PBX runs in the background). */
static int dp_print(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	if (dc.running)
		pbx_notice("%s: %s", cname(dc.running), lua_tostring(L, -1));
	else
		pbx_notice("dialplan: %s", lua_tostring(L, -1));
	return 0;
}

/* os.exit() would stop the PBX under every call, without cleaning up. */
static int dp_exit(lua_State *L)
{
	return luaL_error(L, "os.exit: not from a dialplan (`core stop` stops the PBX)");
}

/* ---- per-call globals ------------------------------------------------------------------------ */

/* _ENV.k: the call's own globals, then the shared ones, then EXTEN, CONTEXT, ... */
static int env_index(lua_State *L)
{
	struct dp_call *c = dc.running;
	if (c) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, c->env_ref);
		lua_pushvalue(L, 2);
		if (lua_rawget(L, -2) != LUA_TNIL)
			return 1;
		lua_pop(L, 2);
	}
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL || !c || lua_type(L, 2) != LUA_TSTRING)
		return 1;
	const char *k = lua_tostring(L, 2), *v = NULL;
	if (!strcmp(k, "EXTEN") || !strcmp(k, "CONTEXT") || !strcmp(k, "DIALSTATUS") ||
	    !strcmp(k, "HANGUPCAUSE")) {
		char buf[32];
		v = var_read(L, c, k, buf, sizeof buf);
	}
	if (v)
		lua_pushstring(L, v);
	return 1; /* nil from the rawget when not one of those */
}

static int env_newindex(lua_State *L)
{
	struct dp_call *c = dc.running;
	if (c)
		lua_rawgeti(L, LUA_REGISTRYINDEX, c->env_ref);
	else
		lua_pushvalue(L, lua_upvalueindex(1)); /* loading: the shared globals */
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, -3);
	return 0;
}

void dp_lua_setup(lua_State *L)
{
	static const luaL_Reg var_methods[] = {
		{"get", var_get},
		{"set", var_set},
		{NULL, NULL},
	};
	static const luaL_Reg globals[] = {
		{"check_hangup", check_hangup},
		{"autoservice_start", autoservice_start},
		{"autoservice_stop", autoservice_stop},
		{"autoservice_status", autoservice_status},
		{"print", dp_print},
		{NULL, NULL},
	};
	lua_sethook(L, dp_lua_hook, LUA_MASKCOUNT, DP_HOOK_COUNT); /* threads inherit it */

	lua_pushglobaltable(L); /* G: what the file defines, shared */
	int g = lua_gettop(L);
	lua_pushvalue(L, g);
	lua_setfield(L, LUA_REGISTRYINDEX, "dp.G");
	luaL_setfuncs(L, globals, 0);
	if (lua_getfield(L, g, "os") == LUA_TTABLE) {
		lua_pushcfunction(L, dp_exit);
		lua_setfield(L, -2, "exit");
	}
	lua_pop(L, 1);

	lua_newtable(L); /* app */
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, app_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_setfield(L, g, "app");

	lua_newtable(L); /* channel */
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, chan_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, chan_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_setfield(L, g, "channel");

	luaL_newmetatable(L, "dp.variable");
	luaL_newlib(L, var_methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, var_call);
	lua_setfield(L, -2, "__call");
	lua_pop(L, 1);

	/* The proxy P becomes "the globals": the file's _ENV, load()'s default, _G. */
	lua_newtable(L);
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, g);
	lua_pushcclosure(L, env_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, g);
	lua_pushcclosure(L, env_newindex, 1);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable"); /* a script cannot swap it out */
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, g, "_G");
	lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_pop(L, 1);
}

/* ---- running a call -------------------------------------------------------------------------- */

static void on_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	struct dp_call *c = arg;
	c->hungup = true;
	if (c->ac.state == AC_PENDING) {
		cancel_app(c);
		queue(c); /* the app call raises "hung up"; the function ends; h runs */
	}
}

/* Taken by a transfer or a redirect: the function stops where it waits, and no h runs. */
static void on_released(struct pbx_chan *ch, void *arg)
{
	struct dp_call *c = arg;
	c->released = true;
	if (c->ac.state == AC_PENDING)
		cancel_app(c);
	if (dc.running != c)
		queue(c); /* else step() sees the flag when the script yields */
}

static const struct pbx_chan_events chan_events = {
	.hangup = on_hangup,
	.released = on_released,
};

/* Protected: a memory error here must not panic the PBX. */
static int prepare_run(lua_State *L)
{
	struct dp_call *c = lua_touserdata(L, 1);
	int fn = (int)lua_tointeger(L, 2);
	if (c->env_ref == LUA_NOREF) {
		lua_newtable(L);
		c->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_State *co = lua_newthread(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, fn);
	lua_pushstring(L, c->context); /* pbx_lua passes (context, extension) */
	lua_pushstring(L, c->exten);
	lua_xmove(L, co, 3);
	int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (c->co_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, c->co_ref);
	c->co_ref = ref;
	c->co = co;
	c->nargs = 2;
	return 0;
}

/* Set the call up to run @p e (found as c->exten in c->context) on its next step. */
static int prepare(struct dp_call *c, const struct dp_exten *e)
{
	lua_State *L = c->st->L;
	lua_pushcfunction(L, prepare_run);
	lua_pushlightuserdata(L, c);
	lua_pushinteger(L, e->fn);
	if (lua_pcall(L, 2, 0, 0)) {
		pbx_error("%s: cannot run %s@%s: %s", cname(c), c->exten, c->context,
			  lua_tostring(L, -1));
		lua_pop(L, 1);
		return ENOMEM;
	}
	return 0;
}

/*
 * Where a dialled extension runs: never h, i, t (the engine's own, which a
 * caller must not reach by dialling them), else the extension or `i`.
 */
static const struct dp_exten *find_dialled(struct dp_call *c, const char *exten, bool *invalid)
{
	const struct dp_exten *e = NULL;
	*invalid = false;
	if (strcmp(exten, "h") && strcmp(exten, "i") && strcmp(exten, "t"))
		e = dp_state_find(c->st, c->context, exten, false);
	if (!e && (e = dp_state_find(c->st, c->context, "i", true)))
		*invalid = true;
	return e;
}

static void call_free(struct dp_call *c)
{
	lua_State *L = c->st->L;
	if (c->ac.state == AC_PENDING)
		cancel_app(c);
	luaL_unref(L, LUA_REGISTRYINDEX, c->co_ref); /* the coroutine goes with the next GC */
	luaL_unref(L, LUA_REGISTRYINDEX, c->env_ref);
	free(c->ac.result);
	if (c->prev)
		c->prev->next = c->next;
	else
		dc.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	dc.n--;
	if (c->im) {
		c->im_done(c->im, c->im_err, c->im_arg);
		pbx_im_unref(c->im);
	} else {
		if (c->ch->ev == &chan_events && c->ch->ev_arg == c)
			pbx_chan_set_owner(c->ch, NULL, NULL);
		pbx_chan_unref(c->ch);
	}
	c->st->calls--;
	dp_state_unref(c->st);
	free(c);
}

/* The innermost Lua position of a coroutine, for messages that lack one. */
static void where(lua_State *co, char *buf, size_t len)
{
	lua_Debug ar;
	buf[0] = '\0';
	for (int level = 0; lua_getstack(co, level, &ar); level++) {
		if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
			snprintf(buf, len, "%s:%d", ar.short_src, ar.currentline);
			return;
		}
	}
}

/* The function ended with an error (or was stopped): say so, once, with file:line. */
static void report(struct dp_call *c, int rc)
{
	char pos[LUA_IDSIZE + 16];
	const char *name = cname(c);
	c->im_err = rc == LUA_YIELD ? ETIME : EIO;
	where(c->co, pos, sizeof pos);
	if (rc == LUA_YIELD) {
		pbx_error("%s: %s@%s: %s%sran longer than %d ms without waiting (an endless "
			  "loop?): call ended",
			  name, c->exten, c->context, pos, *pos ? ": " : "", DP_SLICE_MS);
		return;
	}
	const char *msg = lua_tostring(c->co, -1);
	if (c->hangup_raised && is_hungup(c)) {
		pbx_debug("%s: %s@%s ended: %s", name, c->exten, c->context, msg ? msg : "hangup");
		return;
	}
	if (!msg)
		msg = "(error object is not a string)";
	if (*pos && !strstr(msg, pos))
		pbx_error("%s: %s@%s: %s (at %s)", name, c->exten, c->context, msg, pos);
	else
		pbx_error("%s: %s@%s: %s", name, c->exten, c->context, msg);
}

/* The main function is over: hang up, then `h` with the call's globals, or the end. */
static bool start_h(struct dp_call *c)
{
	if (!c->ch)
		return false; /* a message's run: no hang-up, no h */
	/* A cause left by an application (a failed dial) tells the caller why. */
	if (!is_hungup(c))
		pbx_chan_hangup(c->ch,
				c->ch->hangup_cause ? c->ch->hangup_cause : PBX_CAUSE_NORMAL);
	c->phase = DP_H;
	const struct dp_exten *e = dp_state_find(c->st, c->context, "h", true);
	if (!e)
		return false;
	snprintf(c->exten, sizeof c->exten, "h");
	return !prepare(c, e);
}

/* After `return app.goto(...)`: the next extension, on the next turn of the loop. */
static bool jump(struct dp_call *c)
{
	bool invalid;
	c->goto_set = false;
	if (++c->jumps > DP_MAX_JUMPS) {
		pbx_error("%s: %d gotos without any application waiting in between (a loop?): "
			  "call ended",
			  cname(c), DP_MAX_JUMPS);
		c->im_err = ELOOP;
		return false;
	}
	snprintf(c->context, sizeof c->context, "%s", c->goto_ctx);
	const struct dp_exten *e = find_dialled(c, c->goto_exten, &invalid);
	if (!e) {
		pbx_notice("%s: goto %s@%s: no such extension, and no 'i' there: call ended",
			   cname(c), c->goto_exten, c->context);
		c->im_err = ENOENT;
		return false;
	}
	if (invalid)
		call_var_set(c, "INVALID_EXTEN", c->goto_exten);
	snprintf(c->exten, sizeof c->exten, "%s", invalid ? "i" : c->goto_exten);
	if (prepare(c, e))
		return false;
	queue(c);
	return true;
}

static void step(struct dp_call *c)
{
	for (;;) {
		int nres, rc;
		if (c->released) {
			pbx_debug("%s: %s@%s: the channel was taken away", cname(c), c->exten,
				  c->context);
			call_free(c);
			return;
		}
		dc.running = c;
		dp_slice_start();
		rc = lua_resume(c->co, NULL, c->nargs, &nres);
		dc.running = NULL;
		c->nargs = 0;
		if (rc == LUA_YIELD && !c->killed && c->ac.state == AC_PENDING && !c->released)
			return; /* an application is waiting; op_finish or on_hangup queues us */
		if (c->ac.state == AC_PENDING)
			cancel_app(c); /* stopped while an app waits: it must not finish later */
		if (c->released)
			continue; /* freed at the top, with no h */
		if (rc == LUA_OK) {
			lua_settop(c->co, 0);
			if (c->phase == DP_MAIN && c->goto_set && !is_hungup(c) && jump(c))
				return;
		} else if (rc == LUA_YIELD && !c->killed) {
			pbx_error(
				"%s: %s@%s: coroutine.yield() outside a coroutine the script made: "
				"call ended",
				cname(c), c->exten, c->context);
			c->im_err = EIO;
		} else {
			report(c, rc);
		}
		c->killed = false;
		c->hangup_raised = false; /* an error in h is an error again */
		c->goto_set = false;
		if (c->phase == DP_H || !start_h(c)) {
			call_free(c);
			return;
		}
	}
}

/* Characters a caller may not put into a dialled extension: the app argument syntax. */
static bool exten_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ',' || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* A new call on the current state at @p exten of @p context (or its `i`), not started yet. */
static struct dp_call *call_new(const char *context, const char *exten, const char *who,
				bool *invalid, int *err)
{
	struct dp_state *st = dp_current();
	*err = ENOENT;
	if (!st)
		return NULL;
	if (!exten_safe(exten)) {
		pbx_notice("%s: extension with a control character, ',', '\"' or '\\' refused",
			   who);
		return NULL;
	}
	struct dp_call *c = calloc(1, sizeof *c);
	if (!c) {
		*err = ENOMEM;
		return NULL;
	}
	c->st = st;
	c->co_ref = c->env_ref = LUA_NOREF;
	snprintf(c->context, sizeof c->context, "%s", context);
	const struct dp_exten *e = find_dialled(c, exten, invalid);
	if (!e) {
		pbx_notice("%s: no extension %s in context %s, and no 'i' there", who, exten,
			   context);
		free(c);
		return NULL;
	}
	snprintf(c->exten, sizeof c->exten, "%s", *invalid ? "i" : exten);
	if (prepare(c, e)) {
		luaL_unref(st->L, LUA_REGISTRYINDEX, c->env_ref);
		free(c);
		*err = ENOMEM;
		return NULL;
	}
	dp_state_ref(st);
	st->calls++;
	return c;
}

/* Into the list of calls, and run on the next turn (not inside the caller's call). */
static void call_add(struct dp_call *c)
{
	c->next = dc.all;
	if (dc.all)
		dc.all->prev = c;
	dc.all = c;
	dc.n++;
	pbx_info("%s: dialplan %s@%s", cname(c), c->exten, c->context);
	queue(c);
}

int dp_call_start(struct pbx_chan *ch)
{
	bool invalid;
	int err;
	const char *exten = *ch->exten ? ch->exten : "s";
	struct dp_call *c = call_new(ch->context, exten, ch->name, &invalid, &err);
	if (!c)
		return err;
	c->ch = pbx_chan_ref(ch);
	if (invalid)
		pbx_chan_var_set(ch, "INVALID_EXTEN", exten);
	c->hungup = ch->state == PBX_CHAN_HUNGUP;
	pbx_chan_set_owner(ch, &chan_events, c);
	call_add(c);
	return 0;
}

int dp_message_start(struct pbx_im *im, const char *context, const char *exten,
		     pbx_dialplan_im_done_h *done, void *arg)
{
	bool invalid;
	int err;
	char name[sizeof((struct dp_call *)0)->im_name];
	snprintf(name, sizeof name, "Message/%u", im->id);
	/* A message has nowhere to go from `i`: its sender hears "no such extension". */
	if (!dp_exists(context, exten))
		return ENOENT;
	struct dp_call *c = call_new(context, exten, name, &invalid, &err);
	if (!c)
		return err;
	c->im = pbx_im_ref(im);
	c->im_done = done;
	c->im_arg = arg;
	snprintf(c->im_name, sizeof c->im_name, "%s", name);
	call_add(c);
	return 0;
}

unsigned dp_call_count(void)
{
	return dc.n;
}

/* ---- start and stop -------------------------------------------------------------------------- */

int dp_calls_init(uv_loop_t *loop)
{
	if (!(dc.idle = malloc(sizeof *dc.idle)))
		return ENOMEM;
	uv_idle_init(loop, dc.idle);
	pbx_app_set_call_ops(&call_ops);
	int e = pbx_app_register(&goto_app);
	if (e)
		pbx_notice("dialplan: an application named goto is registered already; using it");
	return 0;
}

static void idle_closed(uv_handle_t *h)
{
	free(h);
}

void dp_calls_shutdown(void)
{
	while (dc.all) {
		struct dp_call *c = dc.all;
		struct pbx_chan *ch = c->ch ? pbx_chan_ref(c->ch) : NULL;
		c->queued = false;
		c->im_err = ECANCELED;
		call_free(c); /* cancels a waiting app; no h: the PBX is stopping */
		if (ch) {
			pbx_chan_hangup(ch, PBX_CAUSE_NORMAL);
			pbx_chan_unref(ch);
		}
	}
	dc.qhead = NULL;
	dc.qtail = &dc.qhead;
	pbx_app_unregister(&goto_app);
	pbx_app_set_call_ops(NULL);
	if (dc.idle) {
		uv_idle_stop(dc.idle);
		uv_close((uv_handle_t *)dc.idle, idle_closed);
		dc.idle = NULL;
	}
}
