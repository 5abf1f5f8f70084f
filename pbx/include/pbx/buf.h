/**
 * @file buf.h  Growable byte/string buffer used for console output and JSON
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PBX_BUF_H
#define PBX_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct pbx_buf {
	char *data; /* always NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
};

void pbx_buf_init(struct pbx_buf *b);
void pbx_buf_free(struct pbx_buf *b);
void pbx_buf_reset(struct pbx_buf *b);
/** Append; returns 0 or ENOMEM. */
int pbx_buf_append(struct pbx_buf *b, const void *data, size_t len);
int pbx_buf_puts(struct pbx_buf *b, const char *s);
int pbx_buf_printf(struct pbx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pbx_buf_vprintf(struct pbx_buf *b, const char *fmt, va_list ap);
/** Append @p s as a JSON string literal, quotes included. */
int pbx_buf_json_str(struct pbx_buf *b, const char *s);

#endif
