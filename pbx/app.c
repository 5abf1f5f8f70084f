/**
 * @file app.c  Registry of dialplan applications
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The core holds the table; the dialplan engine runs the applications and
 * provides what an application calls back (finish, result, error), so
 * apps/ and dialplan/ never include each other.
 */
#include <errno.h>
#include <stddef.h>
#include <strings.h>

#include "pbx/app.h"
#include "pbx/log.h"

#define MAX_APPS 128

static const struct pbx_app *apps[MAX_APPS];
static const struct pbx_app_call_ops *call_ops;

int pbx_app_register(const struct pbx_app *app)
{
	if (pbx_app_find(app->name))
		return EEXIST;
	for (int i = 0; i < MAX_APPS; i++)
		if (!apps[i]) {
			apps[i] = app;
			return 0;
		}
	return ENOSPC;
}

void pbx_app_unregister(const struct pbx_app *app)
{
	for (int i = 0; i < MAX_APPS; i++)
		if (apps[i] == app)
			apps[i] = NULL;
}

const struct pbx_app *pbx_app_find(const char *name)
{
	/* Linear over a few dozen names; the engine caches what it finds. */
	for (int i = 0; i < MAX_APPS; i++)
		if (apps[i] && !strcasecmp(apps[i]->name, name))
			return apps[i];
	return NULL;
}

void pbx_app_each(pbx_app_each_h *fn, void *arg)
{
	for (int i = 0; i < MAX_APPS; i++)
		if (apps[i] && fn(apps[i], arg))
			return;
}

void pbx_app_set_call_ops(const struct pbx_app_call_ops *ops)
{
	call_ops = ops;
}

void pbx_app_set_result(struct pbx_app_call *call, const char *result)
{
	if (call_ops)
		call_ops->set_result(call, result);
}

void pbx_app_error(struct pbx_app_call *call, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (call_ops)
		call_ops->error(call, fmt, ap);
	else
		pbx_vlog(PBX_LOG_ERROR, fmt, ap);
	va_end(ap);
}

void pbx_app_set_data(struct pbx_app_call *call, void *data)
{
	if (call_ops)
		call_ops->set_data(call, data);
}

void *pbx_app_data(struct pbx_app_call *call)
{
	return call_ops ? call_ops->data(call) : NULL;
}

void pbx_app_finish(struct pbx_app_call *call, int err, const char *result)
{
	if (call_ops)
		call_ops->finish(call, err, result);
}

struct pbx_im *pbx_app_message(struct pbx_app_call *call)
{
	return call_ops && call_ops->message ? call_ops->message(call) : NULL;
}

int pbx_app_var_set(struct pbx_app_call *call, const char *name, const char *value)
{
	return call_ops && call_ops->var_set ? call_ops->var_set(call, name, value) : ENOSYS;
}
