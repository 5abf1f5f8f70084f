/**
 * @file app.h  Dialplan applications: registry, typed arguments, completion
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * An application is a static const descriptor registered by a module in
 * apps/. The dialplan engine calls it for `app.<name>(...)`: it checks the
 * arguments against the declared spec first, so a wrong call from Lua is a
 * Lua error with file and line, never a crash in C.
 *
 * Arguments arrive as strings, as Asterisk gives them: the engine joins
 * what Lua passed with ',' (nil is empty) and splits that again into the
 * declared arguments, the last one taking the rest. So app.dial("SIP/1001",
 * 20) and app.dial("SIP/1001,20") mean the same, as in Asterisk's pbx_lua.
 */
#ifndef PBX_APP_H
#define PBX_APP_H

#include <stdarg.h>
#include <stdbool.h>

struct pbx_chan;
struct pbx_app_call;
struct pbx_im;

enum pbx_arg_type {
	PBX_ARG_STRING, /* any text */
	PBX_ARG_INT,    /* decimal integer, may be negative */
	PBX_ARG_NUMBER, /* decimal, fractions allowed (seconds: "1.5") */
};

struct pbx_arg_spec {
	const char *name; /* for error messages: "timeout" */
	enum pbx_arg_type type;
	bool required;
};

/**
 * Run the application. @p argv has one entry per declared argument (""
 * when not given). Return 0 when done (set the result with
 * pbx_app_set_result first, if any), EINPROGRESS to finish later with
 * pbx_app_finish, or an errno after pbx_app_error to raise a Lua error.
 */
typedef int pbx_app_exec_h(struct pbx_chan *ch, const char *const *argv, struct pbx_app_call *call);
/** The call is being torn down while in progress (hangup): stop, free, do not finish. */
typedef void pbx_app_cancel_h(struct pbx_chan *ch, struct pbx_app_call *call);

struct pbx_app {
	const char *name;                /* as called from Lua, lower case: "dial" */
	const char *synopsis;            /* one line for `core show applications` */
	const struct pbx_arg_spec *args; /* terminated by an entry with name NULL */
	pbx_app_exec_h *exec;
	pbx_app_cancel_h *cancel; /* NULL for apps that never return EINPROGRESS */
	/**
	 * It only sets, logs, waits or jumps, or reports on its own (dial):
	 * starting it does not mean the call is taken (pbx_transfer_app).
	 */
	bool takes_no_call;
	/**
	 * It may run where there is no channel: a message's dialplan run
	 * (pbx_dialplan_message). Its exec gets a NULL channel there and
	 * finds the message with pbx_app_message.
	 */
	bool without_channel;
};

int pbx_app_register(const struct pbx_app *app);
void pbx_app_unregister(const struct pbx_app *app);
/** By name, case-insensitive ("Dial" finds "dial"). */
const struct pbx_app *pbx_app_find(const char *name);
typedef int pbx_app_each_h(const struct pbx_app *app, void *arg);
void pbx_app_each(pbx_app_each_h *fn, void *arg);

/* ---- inside an application ---------------------------------------------------- */

/** What app.<name>() returns to Lua (also e.g. DIALSTATUS is set by the app itself). */
void pbx_app_set_result(struct pbx_app_call *call, const char *result);
/** Message of the Lua error raised when exec returns an errno. */
void pbx_app_error(struct pbx_app_call *call, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Per-call state of an EINPROGRESS application. */
void pbx_app_set_data(struct pbx_app_call *call, void *data);
void *pbx_app_data(struct pbx_app_call *call);
/** The message a channel-less run routes; NULL in a call. */
struct pbx_im *pbx_app_message(struct pbx_app_call *call);
/** Set a variable of the run: the channel's, or the message run's. 0 or ENOMEM. */
int pbx_app_var_set(struct pbx_app_call *call, const char *name, const char *value);
/**
 * Finish an application that returned EINPROGRESS: @p err 0 resumes the
 * script with @p result; an errno raises a Lua error (hangup: the script
 * ends and `h` runs). Call once; @p call is gone afterwards.
 */
void pbx_app_finish(struct pbx_app_call *call, int err, const char *result);

/**
 * The engine side: the dialplan provides these when it runs an app. Set
 * once by the dialplan module.
 */
struct pbx_app_call_ops {
	void (*finish)(struct pbx_app_call *call, int err, const char *result);
	void (*set_result)(struct pbx_app_call *call, const char *result);
	void (*error)(struct pbx_app_call *call, const char *fmt, va_list ap);
	void (*set_data)(struct pbx_app_call *call, void *data);
	void *(*data)(struct pbx_app_call *call);
	struct pbx_im *(*message)(struct pbx_app_call *call);
	int (*var_set)(struct pbx_app_call *call, const char *name, const char *value);
};
void pbx_app_set_call_ops(const struct pbx_app_call_ops *ops);

#endif
