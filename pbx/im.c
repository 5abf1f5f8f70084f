/**
 * @file im.c  Instant messages on their way: reference counting and the router
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/im.h"

static const struct pbx_im_router *router;
static unsigned last_id;

const char *pbx_im_status_name(enum pbx_im_status st)
{
	switch (st) {
	case PBX_IM_SUCCESS: return "SUCCESS";
	case PBX_IM_QUEUED: return "QUEUED";
	case PBX_IM_FAILURE: return "FAILURE";
	case PBX_IM_INVALID_URI: return "INVALID_URI";
	case PBX_IM_NONE: break;
	}
	return "";
}

int pbx_im_set_body(struct pbx_im *im, const void *body, size_t len)
{
	if (len > PBX_MSG_BODY_MAX)
		return EINVAL;
	char *b = malloc(len + 1);
	if (!b)
		return ENOMEM;
	memcpy(b, body, len);
	b[len] = '\0';
	free(im->body);
	im->body = b;
	im->len = len;
	return 0;
}

struct pbx_im *pbx_im_new(const char *from, const char *to, const char *type, const void *body,
			  size_t len)
{
	struct pbx_im *im = calloc(1, sizeof *im);
	if (!im || pbx_im_set_body(im, body, len)) {
		free(im);
		return NULL;
	}
	im->refs = 1;
	im->id = ++last_id;
	snprintf(im->from, sizeof im->from, "%s", from);
	snprintf(im->to, sizeof im->to, "%s", to);
	snprintf(im->type, sizeof im->type, "%s", type);
	return im;
}

struct pbx_im *pbx_im_ref(struct pbx_im *im)
{
	im->refs++;
	return im;
}

void pbx_im_unref(struct pbx_im *im)
{
	if (!im || --im->refs)
		return;
	pbx_vars_clear(&im->vars);
	free(im->body);
	free(im);
}

int pbx_im_router_register(const struct pbx_im_router *r)
{
	if (router)
		return EEXIST;
	router = r;
	return 0;
}

void pbx_im_router_unregister(const struct pbx_im_router *r)
{
	if (router == r)
		router = NULL;
}

enum pbx_im_status pbx_im_send(const struct pbx_im *im, const char *to, const char *from,
			       pbx_im_sent_h *cb, void *arg, void **handle)
{
	*handle = NULL;
	if (!router)
		return PBX_IM_FAILURE;
	return router->send(to, from && *from ? from : im->from, im->type, im->body, im->len, cb,
			    arg, handle);
}

void pbx_im_send_cancel(void *handle)
{
	if (router && handle)
		router->cancel(handle);
}
