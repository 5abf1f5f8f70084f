/**
 * @file log.c  Levelled logging
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pbx/log.h"

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

static struct {
	pthread_mutex_t lock;
	enum pbx_log_level level;
	int fd; /* log file, -1 when none */
	int to_stderr;
} lg = {PTHREAD_MUTEX_INITIALIZER, PBX_LOG_NOTICE, -1, 1};

int pbx_log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof level_names / sizeof *level_names); i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	return -1;
}

const char *pbx_log_level_name(enum pbx_log_level level)
{
	return (unsigned)level < sizeof level_names / sizeof *level_names ? level_names[level]
									  : "?";
}

void pbx_log_set_level(enum pbx_log_level level)
{
	__atomic_store_n(&lg.level, level, __ATOMIC_RELAXED);
}

enum pbx_log_level pbx_log_get_level(void)
{
	return __atomic_load_n(&lg.level, __ATOMIC_RELAXED);
}

void pbx_log_set_stderr(int on)
{
	lg.to_stderr = on;
}

int pbx_log_set_file(const char *path)
{
	int fd = -1;
	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0)
			return errno;
	}
	pthread_mutex_lock(&lg.lock);
	if (lg.fd >= 0)
		close(lg.fd);
	lg.fd = fd;
	pthread_mutex_unlock(&lg.lock);
	return 0;
}

void pbx_vlog(enum pbx_log_level level, const char *fmt, va_list ap)
{
	if (level > pbx_log_get_level())
		return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	int n = (int)strftime(line, sizeof line, "[%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, sizeof line - (size_t)n, ".%03d] %s: ", (int)(tv.tv_usec / 1000),
		      pbx_log_level_name(level));
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2; /* truncated: long lines are cut, not lost */
	line[n++] = '\n';
	pthread_mutex_lock(&lg.lock);
	if (lg.to_stderr && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report a failed log write */
	}
	if (lg.fd >= 0 && write(lg.fd, line, (size_t)n) < 0) {
	}
	pthread_mutex_unlock(&lg.lock);
}

void pbx_log(enum pbx_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pbx_vlog(level, fmt, ap);
	va_end(ap);
}
