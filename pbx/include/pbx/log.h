/**
 * @file log.h  Levelled, timestamped logging to stderr and an optional file
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Safe to call from any thread: one write(2) per line under a mutex. Lines
 * are also queued, without waiting, for consoles attached with `pbx -r`,
 * each at its own level.
 */
#ifndef PBX_LOG_H
#define PBX_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum pbx_log_level {
	PBX_LOG_ERROR,
	PBX_LOG_WARNING,
	PBX_LOG_NOTICE,
	PBX_LOG_INFO,
	PBX_LOG_DEBUG,
};

/** Parse "error|warning|notice|info|debug"; returns level or -1. */
/** The level names in order, NULL-terminated: "error" .. "debug" (config ENUM choices). */
extern const char *const pbx_log_level_names[];
int pbx_log_level_parse(const char *name);
const char *pbx_log_level_name(enum pbx_log_level level);

/**
 * The level a console's "core set verbose N" shows, as Asterisk's verbosity
 * numbers: 0 error, 1 warning, 2 notice, 3 info, 4 and more debug.
 */
enum pbx_log_level pbx_log_level_of_verbose(unsigned verbose);

/** Level of the log on stderr and in the log file (consoles have their own). */
void pbx_log_set_level(enum pbx_log_level level);
enum pbx_log_level pbx_log_get_level(void);
/**
 * Would a line at @p level be written anywhere (the log, or a console at its
 * own level)? For callers that prepare costly arguments only when needed.
 */
bool pbx_log_wanted(enum pbx_log_level level);
/** Also append to @p path (NULL: stop). Returns 0 or errno. */
int pbx_log_set_file(const char *path);
/** Send log lines to stderr (default true). */
void pbx_log_set_stderr(int on);

void pbx_log(enum pbx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pbx_vlog(enum pbx_log_level level, const char *fmt, va_list ap);

#define pbx_error(...)   pbx_log(PBX_LOG_ERROR, __VA_ARGS__)
#define pbx_warning(...) pbx_log(PBX_LOG_WARNING, __VA_ARGS__)
#define pbx_notice(...)  pbx_log(PBX_LOG_NOTICE, __VA_ARGS__)
#define pbx_info(...)    pbx_log(PBX_LOG_INFO, __VA_ARGS__)
#define pbx_debug(...)   pbx_log(PBX_LOG_DEBUG, __VA_ARGS__)

#endif
