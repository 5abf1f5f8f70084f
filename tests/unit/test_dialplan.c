/**
 * @file test_dialplan.c  The Lua dialplan engine: load, lookup, reload, and whole calls
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Scripts are written to a temporary directory and loaded as the PBX loads
 * them. Calls run on channels of a fake driver with fake applications: one
 * answers at once, one from a libuv timer on a later turn (EINPROGRESS),
 * one never (until the hangup cancels it), one fails. The log goes to a
 * file so the tests can check that errors name the script's file:line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/im.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "../../dialplan/dp_priv.h"
#include "unit.h"

static char dir[64], script[96], logpath[96];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_log(void)
{
	static char buf[65536];
	FILE *f = fopen(logpath, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static void clear_log(void)
{
	pbx_log_set_file(NULL);
	unlink(logpath);
	pbx_log_set_file(logpath);
}

/* Line of the first occurrence of @p what in @p text (1-based). */
static int line_of(const char *text, const char *what)
{
	const char *p = strstr(text, what);
	assert_non_null(p);
	int line = 1;
	for (const char *q = text; q < p; q++)
		line += *q == '\n';
	return line;
}

static void assert_log_has(const char *what)
{
	const char *log = read_log();
	if (!strstr(log, what))
		fail_msg("log lacks \"%s\"; it has:\n%s", what, log);
}

/* ---- fake driver ----------------------------------------------------------------------------- */

static int hangups;

static int t_answer(struct pbx_chan *ch)
{
	pbx_chan_set_state(ch, PBX_CHAN_UP);
	return 0;
}

static void t_hangup(struct pbx_chan *ch, int cause)
{
	hangups++;
}

static const struct pbx_chan_tech tech = {
	.name = "DPTEST",
	.answer = t_answer,
	.hangup = t_hangup,
};

static struct pbx_chan *new_chan(const char *context, const char *exten)
{
	struct pbx_chan *ch;
	assert_int_equal(pbx_chan_alloc(&ch, &tech, "t", false), 0);
	snprintf(ch->context, sizeof ch->context, "%s", context);
	snprintf(ch->exten, sizeof ch->exten, "%s", exten);
	snprintf(ch->caller_num, sizeof ch->caller_num, "1001");
	snprintf(ch->caller_name, sizeof ch->caller_name, "Alice");
	pbx_chan_set_state(ch, PBX_CHAN_RING);
	return ch;
}

static const char *var(struct pbx_chan *ch, const char *name)
{
	const char *v = pbx_chan_var_get(ch, name);
	return v ? v : "(unset)";
}

/* Turn the loop until no call runs (bounded). */
static void run_calls(void)
{
	uint64_t deadline = uv_hrtime() + 5000000000ull;
	while (dp_call_count() && uv_hrtime() < deadline)
		uv_run(pbx_loop(), UV_RUN_ONCE);
	assert_int_equal(dp_call_count(), 0);
}

static void turn(int n)
{
	while (n--)
		uv_run(pbx_loop(), UV_RUN_NOWAIT);
}

/* ---- fake applications ----------------------------------------------------------------------- */

static int cancels;

static const struct pbx_arg_spec tdone_args[] = {
	{"a", PBX_ARG_STRING, true},
	{"b", PBX_ARG_INT, false},
	{"rest", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static int tdone_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	char r[256];
	snprintf(r, sizeof r, "OK:%s|%s|%s", argv[0], argv[1], argv[2]);
	pbx_app_set_result(call, r);
	return 0;
}

struct waiter {
	uv_timer_t timer;
	struct pbx_app_call *call;
	char value[64];
};

static void waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

static void waiter_fire(uv_timer_t *t)
{
	struct waiter *w = t->data;
	struct pbx_app_call *call = w->call;
	char value[64];
	snprintf(value, sizeof value, "%s", w->value);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
	pbx_app_finish(call, 0, value);
}

static const struct pbx_arg_spec twait_args[] = {
	{"value", PBX_ARG_STRING, false},
	{NULL, PBX_ARG_STRING, false},
};

static int twait_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct waiter *w = calloc(1, sizeof *w);
	assert_non_null(w);
	w->call = call;
	snprintf(w->value, sizeof w->value, "%s", argv[0]);
	uv_timer_init(pbx_loop(), &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, waiter_fire, 5, 0);
	pbx_app_set_data(call, w);
	return EINPROGRESS;
}

static void twait_cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct waiter *w = pbx_app_data(call);
	cancels++;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static struct pbx_app_call *blocked;

static int tblock_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	blocked = call;
	return EINPROGRESS;
}

static void tblock_cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	cancels++;
}

static int tfail_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	pbx_app_error(call, "tfail: it broke");
	return EIO;
}

static int tsync_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	pbx_app_finish(call, 0, "sync");
	return EINPROGRESS;
}

static const struct pbx_arg_spec tnum_args[] = {
	{"n", PBX_ARG_NUMBER, true},
	{NULL, PBX_ARG_STRING, false},
};

static int tnum_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	pbx_app_set_result(call, argv[0]);
	return 0;
}

static int thang_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	pbx_chan_hangup(ch, PBX_CAUSE_BUSY);
	return 0;
}

/* A messaging application: runs without a channel; its result is the message's address. */
static int tmsg_exec(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call)
{
	struct pbx_im *im = pbx_app_message(call);
	assert_null(ch);
	assert_non_null(im);
	im->best = PBX_IM_QUEUED;
	pbx_app_var_set(call, "TMSG", "ran");
	pbx_app_set_result(call, im->to);
	return 0;
}

static const struct pbx_app tmsg_app = {
	.name = "tmsg", .synopsis = "test", .exec = tmsg_exec, .without_channel = true};

static const struct pbx_app apps[] = {
	{"tdone", "test", tdone_args, tdone_exec, NULL, false, false},
	{"twait", "test", twait_args, twait_exec, twait_cancel, false, false},
	{"tblock", "test", NULL, tblock_exec, tblock_cancel, false, false},
	{"tfail", "test", NULL, tfail_exec, NULL, false, false},
	{"tsync", "test", NULL, tsync_exec, NULL, false, false},
	{"tnum", "test", tnum_args, tnum_exec, NULL, false, false},
	{"thang", "test", NULL, thang_exec, NULL, false, false},
};

/* ---- the script ------------------------------------------------------------------------------ */

static const char sample[] =
	"counter = 0 -- a global set at load: shared, read-only in effect\n"
	"extensions = {\n"
	"  default = {\n"
	"    [\"100\"] = function(context, exten)\n"
	"      channel.ARGS = context .. \"/\" .. exten\n"
	"      channel.R1 = app.tdone(\"a\", 2, nil, \"d\")\n"
	"      channel.R2 = app.TWait(\"later\")\n"
	"      channel.R3 = app[\"tsync\"]()\n"
	"      channel.R4 = app.tnum(1.0) .. \" \" .. app.tnum(\" 2.5 \")\n"
	"      mine = \"x\" .. counter\n"
	"      counter = counter + 1\n"
	"      channel.G = EXTEN .. \"@\" .. CONTEXT\n"
	"      channel.CID = channel.CALLERID(\"num\"):get() .. \"/\" ..\n"
	"                    channel[\"CALLERID(name)\"]:get()\n"
	"      channel.CALLERID(\"name\"):set(\"Bob\")\n"
	"      channel.V1 = channel.ARGS:get()\n"
	"      channel.V2 = channel.ARGS.value\n"
	"      channel.SET:set(42)\n"
	"      channel.AS = tostring(autoservice_start()) .. tostring(autoservice_status())\n"
	"      channel.T1 = app.tdone({admin = true}, 3, {n = 2.5})\n"
	"      channel.T2 = app.tdone({quiet = false, moh = \"jazz\"})\n"
	"    end,\n"
	"    [\"200\"] = function() app.tdone(print) end,\n"
	"    [\"201\"] = function() app.tdone({[1] = \"x\"}) end,\n"
	"    [\"202\"] = function() app.tdone({moh = \"a;b\"}) end,\n"
	"    [\"203\"] = function() app.tdone({moh = {}}) end,\n"
	"    [\"300\"] = function() app.tblock(); channel.AFTER = \"yes\" end,\n"
	"    [\"400\"] = function()\n"
	"      if shared == nil then shared = channel.WHO:get() end\n"
	"      app.twait()\n"
	"      channel.SEEN = shared\n"
	"    end,\n"
	"    [\"500\"] = function()\n"
	"      local ok, e = pcall(app.tblock)\n"
	"      channel.PC = tostring(ok) .. \" \" .. e\n"
	"      channel.HUP = tostring(check_hangup())\n"
	"      app.tdone(\"x\")\n"
	"      channel.AFTER = \"yes\"\n"
	"    end,\n"
	"    [\"600\"] = function() app.tfail() end,\n"
	"    [\"601\"] = function() app.nosuchapp() end,\n"
	"    [\"602\"] = function() app.tnum(\"abc\") end,\n"
	"    [\"603\"] = function() app.tdone() end,\n"
	"    [\"604\"] = function() app.tdone(\"a\", \"b\") end,\n"
	"    [\"605\"] = function() app.thang(); channel.AFTER = \"yes\" end,\n"
	"    [\"700\"] = function() app[\"goto\"](\"other\", \"710\", 1); channel.BEFORE = \"yes\" "
	"end,\n"
	"    [\"701\"] = function() return app[\"goto\"](\"default\", \"701\", 1) end,\n"
	"    [\"800\"] = function() while true do end end,\n"
	"    [\"801\"] = function() coroutine.yield() end,\n"
	"    [\"802\"] = function() local t = nil; t.x = 1 end,\n"
	"    [\"803\"] = function() channel.EXTEN = \"1\" end,\n"
	"    [\"804\"] = function() -- the inner loop cannot yield: the hook raises instead\n"
	"      while true do pcall(string.gsub, \"x\", \".\", function() while true do end end) "
	"end\n"
	"    end,\n"
	"    [\"805\"] = function() coroutine.wrap(function() app.tdone(\"a\") end)() end,\n"
	"    [\"806\"] = function() os.exit(1) end,\n"
	"    [\"807\"] = function() mine = \"m\"; app.tfail() end,\n"
	"    h = function(context, exten)\n"
	"      channel.H = (mine or \"nil\") .. \":\" .. exten .. \":\" .. "
	"tostring(check_hangup())\n"
	"    end,\n"
	"    include = { \"other\" },\n"
	"  },\n"
	"  other = {\n"
	"    [\"710\"] = function(c, e) channel.JUMPED = c .. \"/\" .. e end,\n"
	"    [\"_9XX\"] = function(c, e) channel.PAT = e end,\n"
	"    i = function() channel.INV = channel.INVALID_EXTEN:get() end,\n"
	"    [\"555-1212\"] = function() end,\n"
	"    [\"5551212\"] = function() end,\n"
	"    [\"bad\"] = 42,\n"
	"  },\n"
	"  noi = { [1] = function() end, include = { \"nowhere\" } },\n"
	"  herr = { [\"1\"] = function() app.thang() end,\n"
	"           h = function() app.tdone(print) end },\n"
	"}\n"
	"hints = { default = { [\"100\"] = \"SIP/100\" }, blf = { [2000] = \"SIP/2000\" } }\n";

static struct pbx_chan *call(const char *context, const char *exten)
{
	struct pbx_chan *ch = new_chan(context, exten);
	assert_int_equal(dp_call_start(ch), 0);
	return ch;
}

static void open_sample(void)
{
	struct pbx_buf err;
	pbx_buf_init(&err);
	write_file(script, sample);
	int e = dp_engine_open(pbx_loop(), script, &err);
	if (e)
		fail_msg("load failed: %s", err.data);
	pbx_buf_free(&err);
}

static void close_engine(void)
{
	dp_engine_close();
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
}

/* ---- loading and lookup ---------------------------------------------------------------------- */

static void test_load_lookup(void **state)
{
	open_sample();
	struct dp_state *st = dp_current();
	assert_non_null(st);
	assert_int_equal(st->n, 5); /* blf comes from hints only */
	assert_string_equal(st->ctx[0].name, "blf");
	assert_string_equal(st->ctx[1].name, "default");
	assert_string_equal(st->ctx[2].name, "herr");
	assert_string_equal(st->ctx[3].name, "noi");
	assert_string_equal(st->ctx[4].name, "other");

	const struct dp_context *other = dp_state_context(st, "other");
	assert_non_null(other);
	/* 555-1212 and 5551212 are one extension; "bad" is not a function */
	assert_int_equal(other->n, 4);
	assert_string_equal(other->ext[other->n - 1].name, "_9XX"); /* patterns last */

	const struct dp_exten *e = dp_state_find(st, "default", "100", false);
	assert_non_null(e);
	assert_string_equal(e->name, "100");
	assert_int_equal(e->line, line_of(sample, "[\"100\"]"));
	e = dp_state_find(st, "default", "910", false); /* through the include */
	assert_non_null(e);
	assert_string_equal(e->name, "_9XX");
	assert_null(dp_state_find(st, "default", "9100", false));
	assert_null(dp_state_find(st, "nosuch", "100", false));
	assert_non_null(dp_state_find(st, "noi", "1", false)); /* [1] = is "1" */
	assert_null(dp_state_find(st, "default", "910", true));

	assert_true(dp_exists("default", "100"));
	assert_true(dp_exists("other", "555-1212"));
	assert_true(dp_exists("other", "5551212"));
	assert_false(dp_exists("default", "h")); /* never dialled */
	assert_false(dp_exists("default", "i"));
	assert_false(dp_exists("nosuch", "100"));

	const struct dp_context *d = dp_state_context(st, "default");
	assert_int_equal(d->nhints, 1);
	assert_string_equal(d->hints[0].exten, "100");
	assert_string_equal(d->hints[0].device, "SIP/100");
	assert_int_equal(d->nincl, 1);
	const struct dp_context *noi = dp_state_context(st, "noi");
	assert_int_equal(noi->incl_idx[0], -1);
	assert_string_equal(dp_state_context(st, "blf")->hints[0].exten, "2000");
	close_engine();
}

static void load_fails(const char *text, const char *want1, const char *want2)
{
	struct dp_state *st = NULL;
	struct pbx_buf err;
	pbx_buf_init(&err);
	write_file(script, text);
	assert_int_not_equal(dp_state_load(&st, script, &err), 0);
	assert_null(st);
	assert_non_null(err.data);
	if (!strstr(err.data, want1) || (want2 && !strstr(err.data, want2)))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err.data, want1, want2 ? want2 : "");
	pbx_buf_free(&err);
}

static void test_load_errors(void **state)
{
	char where[128];
	snprintf(where, sizeof where, "%s:4:", script);
	load_fails("extensions = {\n  default = {\n    [\"1\"] = function() end\n  ,,\n}\n", where,
		   NULL);
	snprintf(where, sizeof where, "%s:2:", script);
	load_fails("x = nil\nx.y = 1\nextensions = {}\n", where, "attempt to index");
	load_fails("foo = 1\n", "no 'extensions' table", NULL);
	load_fails("extensions = {}\napp.dial('x')\n", "no call is running", NULL);
	load_fails("extensions = {}\ncoroutine.yield()\n", "yields while loading", NULL);
	load_fails("\x1bLua", "attempt to load a binary chunk", NULL);
	char missing[128];
	snprintf(missing, sizeof missing, "%s/nonexistent.lua", dir);
	struct dp_state *st = NULL;
	struct pbx_buf err;
	pbx_buf_init(&err);
	assert_int_not_equal(dp_state_load(&st, missing, &err), 0);
	assert_non_null(strstr(err.data, "cannot open"));
	pbx_buf_free(&err);
}

static void test_load_endless(void **state)
{
	load_fails("extensions = {}\nwhile true do end\n", "longer than the limit", NULL);
}

static void test_args_split(void **state)
{
	static const struct {
		const char *in;
		int n;
		const char *want; /* arguments joined with '|' */
	} cases[] = {
		{"a,b,c", 3, "a|b|c"},
		{"a,b,c,d", 3, "a|b|c,d"},
		{"a", 3, "a||"},
		{"", 2, "|"},
		{"\"a,b\",c", 2, "a,b|c"},
		{"a\\,b,c", 2, "a,b|c"},
		{"x,\"y,z\"", 2, "x|\"y,z\""},
		{"a,,c", 3, "a||c"},
		{",", 1, ","},
		{"a\\", 2, "a\\|"},
		{"abc", 0, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char store[64], got[64] = "";
		const char *argv[8];
		dp_args_split(cases[i].in, cases[i].n, store, argv);
		for (int k = 0; k < cases[i].n; k++)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? "|" : "",
				 argv[k]);
		if (strcmp(got, cases[i].want))
			fail_msg("split(\"%s\", %d) = \"%s\", want \"%s\"", cases[i].in, cases[i].n,
				 got, cases[i].want);
	}
}

/* ---- calls ----------------------------------------------------------------------------------- */

static void test_call_flow(void **state)
{
	open_sample();
	struct pbx_chan *a = call("default", "100");
	struct pbx_chan *b = call("default", "100");
	run_calls();
	assert_string_equal(var(a, "ARGS"), "default/100");
	assert_string_equal(var(a, "R1"), "OK:a|2|,d");
	assert_string_equal(var(a, "R2"), "later");
	assert_string_equal(var(a, "R3"), "sync");
	assert_string_equal(var(a, "R4"), "1 2.5");
	assert_string_equal(var(a, "G"), "100@default");
	assert_string_equal(var(a, "CID"), "1001/Alice");
	assert_string_equal(a->caller_name, "Bob");
	assert_string_equal(var(a, "V1"), "default/100");
	assert_string_equal(var(a, "V2"), "default/100");
	assert_string_equal(var(a, "SET"), "42");
	assert_string_equal(var(a, "AS"), "truetrue");
	/* A table is an options string, key=value;... (booleans as yes/no). */
	assert_string_equal(var(a, "T1"), "OK:admin=yes|3|n=2.5");
	const char *t2 = var(a, "T2"); /* a table's order is Lua's */
	assert_true(!strcmp(t2, "OK:quiet=no;moh=jazz||") || !strcmp(t2, "OK:moh=jazz;quiet=no||"));
	/* each call read the shared counter 0 and wrote its own; h saw the call's global */
	assert_string_equal(var(a, "H"), "x0:h:true");
	assert_string_equal(var(b, "H"), "x0:h:true");
	assert_int_equal(a->state, PBX_CHAN_HUNGUP);
	assert_int_equal(a->hangup_cause, PBX_CAUSE_NORMAL);
	pbx_chan_unref(a);
	pbx_chan_unref(b);
	close_engine();
}

static void test_globals_per_call(void **state)
{
	open_sample();
	struct pbx_chan *a = new_chan("default", "400"), *b = new_chan("default", "400");
	pbx_chan_var_set(a, "WHO", "1");
	pbx_chan_var_set(b, "WHO", "2");
	assert_int_equal(dp_call_start(a), 0);
	assert_int_equal(dp_call_start(b), 0);
	run_calls();
	assert_string_equal(var(a, "SEEN"), "1");
	assert_string_equal(var(b, "SEEN"), "2");
	pbx_chan_unref(a);
	pbx_chan_unref(b);
	close_engine();
}

static void test_wrong_calls(void **state)
{
	static const struct {
		const char *exten, *marker, *msg;
	} cases[] = {
		{"200", "[\"200\"]", "bad argument #1 to 'tdone' (string expected, got function)"},
		{"201", "[\"201\"]", "bad argument #1 to 'tdone' (option names must be strings)"},
		{"202", "[\"202\"]",
		 "bad argument #1 to 'tdone' (options must not hold ',' or ';')"},
		{"203", "[\"203\"]",
		 "bad argument #1 to 'tdone' (option values must be strings, numbers or booleans)"},
		{"600", "[\"600\"]", "tfail: it broke"},
		{"601", "[\"601\"]", "unknown application 'nosuchapp'"},
		{"602", "[\"602\"]", "bad argument #1 'n' to 'tnum' (number expected, got 'abc')"},
		{"603", "[\"603\"]", "missing argument #1 'a' to 'tdone'"},
		{"604", "[\"604\"]", "bad argument #2 'b' to 'tdone' (integer expected, got 'b')"},
		{"802", "[\"802\"]", "attempt to index a nil value"},
		{"803", "[\"803\"]", "channel.EXTEN is read-only"},
		{"805", "[\"805\"]",
		 "app.tdone: applications cannot run inside a coroutine the script made"},
		{"806", "[\"806\"]", "os.exit: not from a dialplan"},
	};
	open_sample();
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char want[256];
		clear_log();
		struct pbx_chan *ch = call("default", cases[i].exten);
		run_calls();
		snprintf(want, sizeof want, "%s:%d: %s", script, line_of(sample, cases[i].marker),
			 cases[i].msg);
		assert_log_has(want);
		assert_int_equal(ch->state, PBX_CHAN_HUNGUP);
		assert_string_equal(var(ch, "H"), "nil:h:true"); /* h ran */
		pbx_chan_unref(ch);
	}
	close_engine();
}

/* h sees the call's globals after an application failed; an error inside h is an error. */
static void test_h(void **state)
{
	open_sample();
	struct pbx_chan *ch = call("default", "807");
	run_calls();
	assert_string_equal(var(ch, "H"), "m:h:true");
	pbx_chan_unref(ch);

	clear_log();
	ch = call("herr", "1");
	run_calls();
	char want[256];
	snprintf(want, sizeof want, "error: %s: h@herr: %s:%d: bad argument #1 to 'tdone'",
		 ch->name, script, line_of(sample, "h = function() app.tdone(print)"));
	assert_log_has(want);
	pbx_chan_unref(ch);
	close_engine();
}

static void test_hangup_cancels(void **state)
{
	open_sample();
	cancels = 0;
	struct pbx_chan *ch = call("default", "300");
	turn(3);
	assert_int_equal(dp_call_count(), 1);
	pbx_chan_remote_hangup(ch, PBX_CAUSE_NORMAL);
	assert_int_equal(cancels, 1);
	run_calls();
	assert_string_equal(var(ch, "AFTER"), "(unset)");
	assert_string_equal(var(ch, "H"), "nil:h:true");
	pbx_chan_unref(ch);

	/* pcall catches the hangup error; the next application raises it again */
	ch = call("default", "500");
	turn(3);
	pbx_chan_remote_hangup(ch, PBX_CAUSE_NORMAL);
	run_calls();
	assert_non_null(strstr(var(ch, "PC"), "false"));
	assert_non_null(strstr(var(ch, "PC"), "tblock: the channel hung up"));
	assert_string_equal(var(ch, "HUP"), "true");
	assert_string_equal(var(ch, "AFTER"), "(unset)");
	assert_string_equal(var(ch, "H"), "nil:h:true");
	pbx_chan_unref(ch);

	/* an application that hangs up ends the function too */
	ch = call("default", "605");
	run_calls();
	assert_string_equal(var(ch, "AFTER"), "(unset)");
	assert_int_equal(ch->hangup_cause, PBX_CAUSE_BUSY);
	assert_string_equal(var(ch, "H"), "nil:h:true");
	pbx_chan_unref(ch);

	/* hangup while an app waits on a timer: cancelled, never finishes */
	cancels = 0;
	ch = call("default", "400");
	turn(1);
	pbx_chan_remote_hangup(ch, PBX_CAUSE_NORMAL);
	assert_int_equal(cancels, 1);
	run_calls();
	assert_string_equal(var(ch, "SEEN"), "(unset)");
	pbx_chan_unref(ch);

	/* hangup between finish and resume: not cancelled, the result is dropped, h runs */
	cancels = 0;
	ch = call("default", "300");
	turn(2);
	assert_non_null(blocked);
	pbx_app_finish(blocked, 0, "late");
	pbx_chan_remote_hangup(ch, PBX_CAUSE_NORMAL);
	assert_int_equal(cancels, 0);
	run_calls();
	assert_string_equal(var(ch, "AFTER"), "(unset)");
	assert_string_equal(var(ch, "H"), "nil:h:true");
	pbx_chan_unref(ch);
	close_engine();
}

static void test_goto_and_invalid(void **state)
{
	open_sample();
	struct pbx_chan *ch = call("default", "700");
	run_calls();
	assert_string_equal(var(ch, "BEFORE"), "yes"); /* goto takes effect on return */
	assert_string_equal(var(ch, "JUMPED"), "other/710");
	pbx_chan_unref(ch);

	clear_log();
	ch = call("default", "701");
	run_calls();
	assert_log_has("gotos without any application waiting");
	assert_int_equal(ch->state, PBX_CHAN_HUNGUP);
	pbx_chan_unref(ch);

	ch = call("default", "123"); /* no such extension: `i`, found through the include */
	run_calls();
	assert_string_equal(var(ch, "INV"), "123");
	pbx_chan_unref(ch);

	ch = call("default", "h"); /* the engine's own names are never dialled */
	run_calls();
	assert_string_equal(var(ch, "INV"), "h");
	pbx_chan_unref(ch);

	ch = call("default", "955");
	run_calls();
	assert_string_equal(var(ch, "PAT"), "955");
	pbx_chan_unref(ch);

	ch = new_chan("noi", "2");
	assert_int_equal(dp_call_start(ch), ENOENT); /* no extension, no `i`: the driver rejects */
	pbx_chan_unref(ch);
	ch = new_chan("default", "1,2");
	assert_int_equal(dp_call_start(ch), ENOENT); /* argument syntax in a dialled number */
	pbx_chan_unref(ch);
	close_engine();
}

static void test_runaway(void **state)
{
	open_sample();
	static const char *const extens[] = {"800", "804"};
	for (size_t i = 0; i < 2; i++) {
		clear_log();
		struct pbx_chan *ch = call("default", extens[i]);
		run_calls();
		assert_log_has("without waiting (an endless loop?)");
		assert_string_equal(var(ch, "H"), "nil:h:true");
		pbx_chan_unref(ch);
	}
	clear_log();
	struct pbx_chan *ch = call("default", "801");
	run_calls();
	assert_log_has("coroutine.yield() outside a coroutine");
	pbx_chan_unref(ch);
	close_engine();
}

static void test_reload(void **state)
{
	static const char v1[] = "extensions = { default = {\n"
				 "  [\"1\"] = function() channel.V = \"old\" .. app.tblock() end,\n"
				 "} }\n";
	static const char v2[] = "extensions = { default = {\n"
				 "  [\"1\"] = function() channel.V = \"new\" end,\n"
				 "  [\"2\"] = function() end,\n"
				 "} }\n";
	struct pbx_buf err;
	pbx_buf_init(&err);
	write_file(script, v1);
	assert_int_equal(dp_engine_open(pbx_loop(), script, &err), 0);
	struct dp_state *old = dp_current();
	struct pbx_chan *a = call("default", "1");
	turn(2); /* a waits in tblock on the old state */
	struct pbx_app_call *a_app = blocked;

	write_file(script, "extensions = {}\nlocal x = = 1\n");
	assert_int_not_equal(dp_reload(&err), 0);
	char where[128];
	snprintf(where, sizeof where, "%s:2:", script);
	assert_non_null(strstr(err.data, where));
	assert_ptr_equal(dp_current(), old); /* the old one stays */
	assert_false(dp_exists("default", "2"));

	pbx_buf_reset(&err);
	write_file(script, v2);
	assert_int_equal(dp_reload(&err), 0);
	assert_ptr_not_equal(dp_current(), old);
	assert_true(dp_exists("default", "2"));
	assert_int_equal(old->refs, 1); /* only the call keeps it */
	struct pbx_chan *b = call("default", "1");
	pbx_app_finish(a_app, 0, "!");
	run_calls();
	assert_string_equal(var(a, "V"), "old!");
	assert_string_equal(var(b, "V"), "new");
	pbx_chan_unref(a);
	pbx_chan_unref(b);
	pbx_buf_free(&err);
	close_engine();
}

/* Calls in progress when the engine stops: waiting apps are cancelled, channels hung up. */
static void test_close_with_calls(void **state)
{
	open_sample();
	cancels = 0;
	struct pbx_chan *ch = call("default", "300");
	turn(2);
	close_engine();
	assert_int_equal(cancels, 1);
	assert_int_equal(ch->state, PBX_CHAN_HUNGUP);
	pbx_chan_unref(ch);
}

/* The shipped etc/extensions.lua loads, and so do its commented examples once uncommented. */
static void test_sample(void **state)
{
	struct dp_state *st = NULL;
	struct pbx_buf err;
	pbx_buf_init(&err);
	if (dp_state_load(&st, "etc/extensions.lua", &err))
		fail_msg("etc/extensions.lua: %s", err.data);
	const struct dp_exten *e = dp_state_find(st, "default", "1001", false);
	assert_non_null(e);
	assert_string_equal(e->name, "_1XXX");
	assert_non_null(dp_state_find(st, "default", "600", false));
	assert_non_null(dp_state_find(st, "default", "601", false));
	assert_non_null(dp_state_find(st, "default", "i", true));
	assert_non_null(dp_state_find(st, "default", "h", true));
	assert_null(dp_state_find(st, "default", "700", false));
	dp_state_unref(st);

	/* uncomment the examples: drop the lines that open and close the long comment */
	FILE *in = fopen("etc/extensions.lua", "r"), *out = fopen(script, "w");
	char line[512];
	assert_non_null(in);
	assert_non_null(out);
	while (fgets(line, sizeof line, in))
		if (strcmp(line, "    --[=[\n") && strcmp(line, "    --]=]\n"))
			fputs(line, out);
	fclose(in);
	fclose(out);
	pbx_buf_reset(&err);
	if (dp_state_load(&st, script, &err))
		fail_msg("uncommented examples: %s", err.data);
	assert_non_null(dp_state_find(st, "default", "700", false)); /* via include demo */
	dp_state_unref(st);
	pbx_buf_free(&err);
}

/* ---- console --------------------------------------------------------------------------------- */

extern const struct pbx_module *const __start_pbx_modules[] __attribute__((weak));
extern const struct pbx_module *const __stop_pbx_modules[] __attribute__((weak));

static const struct pbx_module *module(const char *name)
{
	// cppcheck-suppress comparePointers ; both ends of one linker section
	for (const struct pbx_module *const *m = __start_pbx_modules; m < __stop_pbx_modules; m++)
		if (!strcmp((*m)->name, name))
			return *m;
	return NULL;
}

static void cli(const char *line, int status, const char *want)
{
	struct pbx_cli c;
	pbx_buf_init(&c.out);
	int rc = pbx_cli_run(&c, line);
	const char *out = c.out.data ? c.out.data : "";
	if (rc != status || (want && !strstr(out, want)))
		fail_msg("'%s': status %d, output:\n%s\nwanted %d and '%s'", line, rc, out, status,
			 want ? want : "");
	pbx_buf_free(&c.out);
}

static void test_console(void **state)
{
	const struct pbx_module *m = module("dialplan_cmds");
	assert_non_null(m);
	assert_int_equal(m->load(), 0);
	open_sample();
	cli("dialplan show", 0, "[ default ]");
	cli("dialplan show", 0, " extensions in 5 contexts; ");
	cli("dialplan show other", 0, "'_9XX' =>");
	cli("dialplan show default", 0, "Include =>");
	cli("dialplan show default", 0, "[ other ]"); /* what it includes, too */
	cli("dialplan show default", 0, "Hint '100' =>");
	cli("dialplan show noi", 0, "'nowhere' (no such context)");
	cli("dialplan show nosuch", 1, "no context 'nosuch'");
	cli("dialplan show other --json", 0, "{\"name\":\"_9XX\",\"line\":");
	cli("dialplan reload", 0, "Dialplan reloaded from");
	write_file(script, "extensions = 1 +\n");
	cli("dialplan reload", 1, "the dialplan in use stays");
	close_engine();
	m->unload();
}

static int group_setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/pbx-dp-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(script, sizeof script, "%s/test.lua", dir);
	snprintf(logpath, sizeof logpath, "%s/log", dir);
	uv_loop_init(pbx_loop());
	pbx_log_set_stderr(0);
	pbx_log_set_file(logpath);
	if (pbx_chan_tech_register(&tech))
		return -1;
	for (size_t i = 0; i < sizeof apps / sizeof *apps; i++)
		if (pbx_app_register(&apps[i]))
			return -1;
	return pbx_app_register(&tmsg_app) ? -1 : 0;
}

static int group_teardown(void **state)
{
	for (size_t i = 0; i < sizeof apps / sizeof *apps; i++)
		pbx_app_unregister(&apps[i]);
	pbx_app_unregister(&tmsg_app);
	pbx_chan_tech_unregister(&tech);
	pbx_log_set_file(NULL);
	pbx_log_set_stderr(1);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	unlink(script);
	unlink(logpath);
	rmdir(dir);
	return uv_loop_close(pbx_loop()) ? -1 : 0;
}

/* ---- a message's run: no channel --------------------------------------------------------------- */

static const char msg_script[] =
	"extensions = {\n"
	"  messages = {\n"
	"    [\"_1XXX\"] = function(context, exten)\n"
	"      local b = channel[\"MESSAGE(body)\"]:get()\n"
	"      channel[\"MESSAGE(body)\"] = b .. \" (\" .. exten .. \"@\" .. context .. \")\"\n"
	"      channel.MESSAGE(\"content_type\"):set(\"text/x-test\")\n"
	"      channel.SEEN = channel[\"MESSAGE(from)\"]:get() .. \" \" .. "
	"tostring(check_hangup())\n"
	"      channel.GOT = app.tmsg() .. \" \" .. channel.TMSG:get() .. \" \" .. "
	"channel.CHANNEL:get()\n"
	"      app[\"goto\"](\"messages\", \"2000\", 1)\n"
	"    end,\n"
	"    [\"2000\"] = function() channel.JUMPED = \"yes\" end,\n"
	"    [\"3000\"] = function() app.tdone(\"a\", 1) end,\n"
	"    [\"3001\"] = function() channel[\"MESSAGE(from)\"] = \"a\\r\\nb\" end,\n"
	"    [\"3002\"] = function() channel[\"CALLERID(num)\"] = \"1\" end,\n"
	"    [\"3003\"] = function() channel[\"MESSAGE(nope)\"]:get() end,\n"
	"    i = function() channel.INVALID = \"ran\" end,\n"
	"  },\n"
	"  default = {\n"
	"    [\"1\"] = function() channel.M = channel[\"MESSAGE(body)\"]:get() end,\n"
	"  },\n"
	"}\n";

struct msg_end {
	int calls, err;
};

static void msg_done(struct pbx_im *im, int err, void *arg)
{
	struct msg_end *e = arg;
	e->calls++;
	e->err = err;
}

/* Route one message to @p exten of "messages"; the run's end. */
static struct msg_end route_one(struct pbx_im *im, const char *exten, int want_start)
{
	struct msg_end e = {0};
	assert_int_equal(pbx_dialplan_message(im, "messages", exten, msg_done, &e), want_start);
	assert_int_equal(e.calls, 0); /* never from inside the call */
	run_calls();
	assert_int_equal(e.calls, want_start ? 0 : 1);
	return e;
}

static void test_message_runs(void **state)
{
	struct pbx_buf err;
	pbx_buf_init(&err);
	write_file(script, msg_script);
	assert_int_equal(dp_engine_open(pbx_loop(), script, &err), 0);
	static const struct pbx_dialplan_ops ops = {.message = dp_message_start};
	assert_int_equal(pbx_dialplan_register(&ops), 0);

	struct pbx_im *im = pbx_im_new("sip:1001@pbx", "sip:1002@pbx", "text/plain", "hi", 2);
	clear_log();
	struct msg_end e = route_one(im, "1002", 0);
	if (e.err)
		fail_msg("the run failed: %s", read_log());
	assert_int_equal(e.err, 0);
	assert_string_equal(im->body, "hi (1002@messages)");
	assert_int_equal(im->len, strlen("hi (1002@messages)"));
	assert_string_equal(im->type, "text/x-test");
	assert_string_equal(pbx_vars_get(im->vars, "SEEN"), "sip:1001@pbx false");
	assert_string_equal(pbx_vars_get(im->vars, "GOT"), "sip:1002@pbx ran Message/1");
	assert_string_equal(pbx_vars_get(im->vars, "JUMPED"), "yes");
	assert_int_equal(im->best, PBX_IM_QUEUED);
	assert_int_equal(im->refs, 1); /* the engine let its reference go */

	/* A body with a NUL comes to Lua whole, and goes back whole. */
	assert_int_equal(pbx_im_set_body(im, "a\0b", 3), 0);
	e = route_one(im, "1002", 0);
	assert_int_equal(e.err, 0);
	assert_int_equal(im->len, 3 + strlen(" (1002@messages)"));
	assert_memory_equal(im->body, "a\0b (1002@messages)", im->len);

	/* No extension: not run (the SIP side routes it by default), `i` or not. */
	route_one(im, "9999", ENOENT);
	assert_null(pbx_vars_get(im->vars, "INVALID"));

	/* A call's application, bad fields: Lua errors with file:line; the run ends with EIO. */
	static const struct {
		const char *exten, *marker, *msg;
	} bad[] = {
		{"3000", "[\"3000\"]", "tdone: a message's dialplan has no channel"},
		{"3001", "[\"3001\"]", "MESSAGE(from): one line of at most"},
		{"3002", "[\"3002\"]", "channel.CALLERID(num): not in a message's run"},
		{"3003", "[\"3003\"]",
		 "MESSAGE(nope): MESSAGE takes body, from, to or content_type"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[256];
		clear_log();
		e = route_one(im, bad[i].exten, 0);
		assert_int_equal(e.err, EIO);
		snprintf(want, sizeof want, "%s:%d: %s", script, line_of(msg_script, bad[i].marker),
			 bad[i].msg);
		assert_log_has(want);
	}
	assert_int_equal(dp_call_count(), 0);

	/* Closing the engine under a waiting run ends it with ECANCELED. */
	struct msg_end w = {0};
	assert_int_equal(pbx_dialplan_message(im, "messages", "1002", msg_done, &w), 0);
	dp_engine_close();
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.err, ECANCELED);
	assert_int_equal(im->refs, 1);
	pbx_im_unref(im);
	pbx_dialplan_unregister(&ops);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	pbx_buf_free(&err);
}

/* In a call, MESSAGE() is an error: there is no message. */
static void test_message_in_a_call(void **state)
{
	struct pbx_buf err;
	pbx_buf_init(&err);
	write_file(script, msg_script);
	assert_int_equal(dp_engine_open(pbx_loop(), script, &err), 0);
	clear_log();
	struct pbx_chan *ch = call("default", "1");
	run_calls();
	assert_log_has("MESSAGE(body): only in a message's dialplan run");
	assert_string_equal(var(ch, "M"), "(unset)");
	pbx_chan_unref(ch);
	close_engine();
	pbx_buf_free(&err);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_load_lookup),       cmocka_unit_test(test_load_errors),
	cmocka_unit_test(test_load_endless),      cmocka_unit_test(test_args_split),
	cmocka_unit_test(test_call_flow),         cmocka_unit_test(test_globals_per_call),
	cmocka_unit_test(test_wrong_calls),       cmocka_unit_test(test_h),
	cmocka_unit_test(test_hangup_cancels),    cmocka_unit_test(test_goto_and_invalid),
	cmocka_unit_test(test_runaway),           cmocka_unit_test(test_reload),
	cmocka_unit_test(test_close_with_calls),  cmocka_unit_test(test_sample),
	cmocka_unit_test(test_console),           cmocka_unit_test(test_message_runs),
	cmocka_unit_test(test_message_in_a_call),
};

UNIT_GROUP(dialplan, tests, group_setup, group_teardown);
