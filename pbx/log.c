/**
 * @file log.c  Levelled logging, and the feed of log lines to attached consoles
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Any thread may log (the signalling thread, media workers, the thread
 * pool). Lines for consoles cannot be written to their sockets from here:
 * the console server belongs to the signalling thread. So they go into a
 * bounded queue, and the console server is woken to drain it. A full queue
 * drops the line and counts it; the caller never waits for a console.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/log.h"

const char *const pbx_log_level_names[] = {"error", "warning", "notice", "info", "debug", NULL};

static struct {
	pthread_mutex_t lock;
	enum pbx_log_level level;
	int fd; /* log file, -1 when none */
	int to_stderr;
} lg = {PTHREAD_MUTEX_INITIALIZER, PBX_LOG_NOTICE, -1, 1};

/*
 * 256 KiB holds about two thousand typical lines: a burst of debug lines
 * while the signalling thread is busy for a moment fits; a flood does not,
 * and is counted instead of growing memory.
 */
#define FEED_BYTES (256u << 10)

static struct {
	pthread_mutex_t lock;
	int level; /* the most verbose console's level; -1: no console listens */
	pbx__log_wake_h *wake;
	void *arg;
	struct pbx__logq q;
	char buf[FEED_BYTES];
} feed = {.lock = PTHREAD_MUTEX_INITIALIZER, .level = -1};

int pbx_log_level_parse(const char *name)
{
	for (int i = 0; i < PBX_LOG_DEBUG + 1; i++)
		if (!strcasecmp(name, pbx_log_level_names[i]))
			return i;
	return -1;
}

const char *pbx_log_level_name(enum pbx_log_level level)
{
	return (unsigned)level < PBX_LOG_DEBUG + 1 ? pbx_log_level_names[level] : "?";
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

enum pbx_log_level pbx_log_level_of_verbose(unsigned verbose)
{
	return verbose > PBX_LOG_DEBUG ? PBX_LOG_DEBUG : (enum pbx_log_level)verbose;
}

/* ---- the queue of lines for consoles --------------------------------------- */

/* A record is one byte of level, two of length (host order), then the line. */
#define REC_HEAD 3u

void pbx__logq_init(struct pbx__logq *q, char *buf, size_t cap)
{
	*q = (struct pbx__logq){.buf = buf, .cap = cap};
}

static void ring_put(struct pbx__logq *q, size_t at, const void *src, size_t n)
{
	at %= q->cap;
	size_t first = n < q->cap - at ? n : q->cap - at;
	memcpy(q->buf + at, src, first);
	memcpy(q->buf, (const char *)src + first, n - first);
}

static void ring_get(const struct pbx__logq *q, size_t at, void *dst, size_t n)
{
	at %= q->cap;
	size_t first = n < q->cap - at ? n : q->cap - at;
	memcpy(dst, q->buf + at, first);
	memcpy((char *)dst + first, q->buf, n - first);
}

int pbx__logq_push(struct pbx__logq *q, int level, const char *line, size_t len)
{
	if (len > 0xffff)
		len = 0xffff;
	if (REC_HEAD + len > q->cap - q->len) {
		q->dropped++;
		return ENOBUFS;
	}
	unsigned char head[REC_HEAD] = {(unsigned char)level, (unsigned char)(len >> 8),
					(unsigned char)len};
	size_t tail = q->head + q->len;
	ring_put(q, tail, head, REC_HEAD);
	ring_put(q, tail + REC_HEAD, line, len);
	q->len += REC_HEAD + len;
	return 0;
}

int pbx__logq_pop(struct pbx__logq *q, int *level, char *out, size_t size)
{
	if (!q->len)
		return -1;
	unsigned char head[REC_HEAD];
	ring_get(q, q->head, head, REC_HEAD);
	size_t len = (size_t)head[1] << 8 | head[2];
	size_t copy = len < size ? len : size;
	ring_get(q, q->head + REC_HEAD, out, copy);
	q->head = (q->head + REC_HEAD + len) % q->cap;
	q->len -= REC_HEAD + len;
	*level = head[0];
	return (int)copy;
}

unsigned long pbx__logq_take_dropped(struct pbx__logq *q)
{
	unsigned long n = q->dropped;
	q->dropped = 0;
	return n;
}

void pbx__log_feed_start(pbx__log_wake_h *wake, void *arg)
{
	pthread_mutex_lock(&feed.lock);
	pbx__logq_init(&feed.q, feed.buf, sizeof feed.buf);
	feed.wake = wake;
	feed.arg = arg;
	pthread_mutex_unlock(&feed.lock);
}

void pbx__log_feed_stop(void)
{
	pthread_mutex_lock(&feed.lock);
	feed.wake = NULL;
	feed.arg = NULL;
	__atomic_store_n(&feed.level, -1, __ATOMIC_RELAXED);
	pbx__logq_init(&feed.q, feed.buf, sizeof feed.buf);
	pthread_mutex_unlock(&feed.lock);
}

void pbx__log_feed_set_level(int level)
{
	__atomic_store_n(&feed.level, level, __ATOMIC_RELAXED);
}

int pbx__log_feed_pop(int *level, char *out, size_t size, unsigned long *dropped)
{
	pthread_mutex_lock(&feed.lock);
	*dropped += pbx__logq_take_dropped(&feed.q);
	int n = pbx__logq_pop(&feed.q, level, out, size);
	pthread_mutex_unlock(&feed.lock);
	return n;
}

/* Called with any thread's line; holds the lock for a copy, never for I/O. */
static void feed_push(enum pbx_log_level level, const char *line, size_t len)
{
	pthread_mutex_lock(&feed.lock);
	if (feed.wake) {
		bool was_empty = feed.q.len == 0;
		/* Wake only on empty -> not empty: the drain empties the queue, and
		 * the wake-up (uv_async_send) is a system call. Under the lock, so
		 * pbx__log_feed_stop() cannot close the handle in between. */
		if (!pbx__logq_push(&feed.q, (int)level, line, len) && was_empty)
			feed.wake(feed.arg);
	}
	pthread_mutex_unlock(&feed.lock);
}

/* ---- writing a line ------------------------------------------------------- */

static bool to_consoles(enum pbx_log_level level)
{
	return (int)level <= __atomic_load_n(&feed.level, __ATOMIC_RELAXED);
}

bool pbx_log_wanted(enum pbx_log_level level)
{
	return level <= pbx_log_get_level() || to_consoles(level);
}

void pbx_vlog(enum pbx_log_level level, const char *fmt, va_list ap)
{
	bool to_log = level <= pbx_log_get_level();
	bool to_cons = to_consoles(level);
	if (!to_log && !to_cons)
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
	if (to_cons)
		feed_push(level, line, (size_t)n);
	if (!to_log)
		return;
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
