/**
 * @file buf.c  Growable buffer
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/buf.h"

void pbx_buf_init(struct pbx_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void pbx_buf_free(struct pbx_buf *b)
{
	free(b->data);
	pbx_buf_init(b);
}

void pbx_buf_reset(struct pbx_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(struct pbx_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int pbx_buf_append(struct pbx_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len))
		return ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int pbx_buf_puts(struct pbx_buf *b, const char *s)
{
	return pbx_buf_append(b, s, strlen(s));
}

int pbx_buf_vprintf(struct pbx_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return EINVAL;
	if (buf_reserve(b, (size_t)n))
		return ENOMEM;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int pbx_buf_printf(struct pbx_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int err = pbx_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

int pbx_buf_json_str(struct pbx_buf *b, const char *s)
{
	int err = pbx_buf_append(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p && !err; p++) {
		switch (*p) {
		case '"': err = pbx_buf_puts(b, "\\\""); break;
		case '\\': err = pbx_buf_puts(b, "\\\\"); break;
		case '\n': err = pbx_buf_puts(b, "\\n"); break;
		case '\r': err = pbx_buf_puts(b, "\\r"); break;
		case '\t': err = pbx_buf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20)
				err = pbx_buf_printf(b, "\\u%04x", *p);
			else
				err = pbx_buf_append(b, p, 1);
		}
	}
	return err ? err : pbx_buf_append(b, "\"", 1);
}
