/**
 * @file console.c  Console server: a unix socket speaking lines
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Protocol: the client sends one command per line. The server answers with
 * the command's output, then a line "\x04STATUS" that ends the reply. A line
 * that starts with "\x01" asks for Tab completions of the rest; the reply
 * lists one candidate per line. Commands run to completion on the
 * signalling thread, so a console that disconnects mid-command changes
 * nothing: the command finished (or never started) before we notice.
 *
 * The line "\x02" asks for the log (pbx -r does, -rx does not); it is
 * answered like a command. From then on log lines, each "\x02LINE", come
 * between replies, never inside one, at the console's own level (at first
 * the PBX's log level; "core set verbose" changes it). They carry no
 * control bytes, so a log line cannot end a reply or drive the terminal.
 *
 * A console that does not read costs bounded memory: log lines past
 * LOG_PENDING_OUT of unsent output are dropped for it and counted, and a
 * console whose replies pile up past MAX_PENDING_OUT is disconnected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/cli.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"

#define LINE_MAX_BYTES  4096
#define MAX_CONSOLES    64
#define MAX_PENDING_OUT (4u << 20)   /* a console that stops reading is dropped */
#define LOG_PENDING_OUT (256u << 10) /* past this, log lines for a console are dropped */
#define LOG_LINE_BYTES  2048         /* as log.c formats them */

struct conn {
	uv_pipe_t pipe;
	struct conn *next;
	int log_level;             /* -1: this console does not show the log */
	unsigned long log_dropped; /* lines it missed; told once it catches up */
	struct pbx_buf logs;       /* log lines of the drain in progress */
	size_t len;
	bool discarding; /* skipping the rest of an over-long line */
	char line[LINE_MAX_BYTES];
};

static struct {
	uv_pipe_t listener;
	bool listening;
	uv_async_t feed; /* log lines are queued (log.c) */
	bool feeding;
	struct conn *conns;
	unsigned count;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} srv;

void pbx__console_path(const struct pbx_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/run/pbx.ctl", pbx_config_core(cfg)->state_dir);
}

unsigned pbx__console_count(void)
{
	return srv.count;
}

/* Tell log.c how verbose the most verbose console is. Linear: consoles are few. */
static void feed_level_update(void)
{
	int level = -1;
	/* Once stopping, the feed is gone: consoles closing after it must not
	 * turn it back on for nobody. */
	if (!srv.feeding)
		return;
	for (struct conn *c = srv.conns; c; c = c->next)
		if (c->log_level > level && !uv_is_closing((uv_handle_t *)&c->pipe))
			level = c->log_level;
	pbx__log_feed_set_level(level);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	for (struct conn **pp = &srv.conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	srv.count--;
	pbx_buf_free(&c->logs);
	free(c);
	feed_level_update();
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void conn_send(struct conn *c, const char *data, size_t len);

/* Append the count of lines @p c missed to @p b, and start counting again. */
static void log_dropped_note(struct conn *c, struct pbx_buf *b)
{
	pbx_buf_printf(b,
		       "\x02[console] %lu log line(s) dropped: this console did not read them in "
		       "time\n",
		       c->log_dropped);
	c->log_dropped = 0;
}

static void on_written(uv_write_t *req, int status)
{
	struct conn *c = req->handle->data;
	free(req->data);
	free(req);
	/* Caught up after missing lines: say how many, without waiting for the next. */
	if (!status && c->log_dropped && !uv_is_closing((uv_handle_t *)&c->pipe) &&
	    !uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe)) {
		struct pbx_buf note;
		pbx_buf_init(&note);
		log_dropped_note(c, &note);
		if (note.len)
			conn_send(c, note.data, note.len);
		pbx_buf_free(&note);
	}
}

static void conn_send(struct conn *c, const char *data, size_t len)
{
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > MAX_PENDING_OUT) {
		pbx_warning("console: client not reading its output; disconnecting it");
		conn_close(c);
		return;
	}
	uv_write_t *req = malloc(sizeof *req);
	char *copy = malloc(len);
	if (!req || !copy) {
		free(req);
		free(copy);
		conn_close(c);
		return;
	}
	memcpy(copy, data, len);
	req->data = copy;
	uv_buf_t b = uv_buf_init(copy, (unsigned)len);
	if (uv_write(req, (uv_stream_t *)&c->pipe, &b, 1, on_written)) {
		free(copy);
		free(req);
		conn_close(c);
	}
}

static void reply(struct conn *c, struct pbx_buf *out, int status)
{
	/* A line of output that starts with a protocol byte (a User-Agent
	 * from the network, say) must not pass for a log line or the end. */
	for (size_t i = 0; i < out->len; i++)
		if ((!i || out->data[i - 1] == '\n') &&
		    (out->data[i] == '\x02' || out->data[i] == '\x04'))
			out->data[i] = '?';
	if (out->len && out->data[out->len - 1] != '\n')
		pbx_buf_puts(out, "\n");
	pbx_buf_printf(out, "\x04%d\n", status);
	conn_send(c, out->data, out->len);
}

/* Control bytes and broken UTF-8 never reach a command or the database. */
static const char *line_check(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];
		if (ch < 0x20 && ch != '\t')
			return "control characters in command";
		if (ch == 0x7f)
			return "control characters in command";
		if (ch < 0x80)
			continue;
		int extra = ch >= 0xf0 && ch < 0xf5   ? 3
			    : ch >= 0xe0              ? 2
			    : ch >= 0xc2 && ch < 0xe0 ? 1
						      : -1;
		if (extra < 0 || i + (size_t)extra >= n)
			return "invalid UTF-8 in command";
		for (int k = 1; k <= extra; k++)
			if ((s[i + (size_t)k] & 0xc0) != 0x80)
				return "invalid UTF-8 in command";
		i += (size_t)extra;
	}
	return NULL;
}

static void handle_line(struct conn *c, char *line, size_t n)
{
	struct pbx_cli cli = {.conn = c};
	pbx_buf_init(&cli.out);
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n == 1 && line[0] == '\x02') {
		if (c->log_level < 0) {
			c->log_level = (int)pbx_log_get_level();
			feed_level_update();
		}
		reply(c, &cli.out, 0);
	} else if (n && line[0] == '\x01') {
		if (!line_check((unsigned char *)line + 1, n - 1))
			pbx_cli_complete(line + 1, &cli.out);
		reply(c, &cli.out, 0);
	} else {
		const char *bad = line_check((unsigned char *)line, n);
		int status;
		if (bad) {
			status = pbx_cli_error(&cli, "%s", bad);
		} else {
			/* Only the command words: arguments may be passwords or PINs. */
			size_t w = strspn(line, " \t");
			for (int words = 0; words < 2 && line[w]; words++) {
				w += strcspn(line + w, " \t");
				w += strspn(line + w, " \t");
			}
			pbx_debug("console: %.*s...", (int)w, line);
			status = pbx_cli_run(&cli, line);
		}
		reply(c, &cli.out, status);
	}
	pbx_buf_free(&cli.out);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	buf->base = c->line + c->len;
	buf->len = sizeof c->line - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	char *nl;
	while ((nl = memchr(c->line, '\n', c->len))) {
		size_t n = (size_t)(nl - c->line);
		*nl = '\0';
		if (c->discarding)
			c->discarding = false;
		else
			handle_line(c, c->line, n); /* NUL bytes are refused there */
		if (uv_is_closing((uv_handle_t *)s))
			return;
		memmove(c->line, nl + 1, c->len - n - 1);
		c->len -= n + 1;
	}
	if (c->len == sizeof c->line) {
		if (!c->discarding) {
			struct pbx_cli cli = {.conn = c};
			pbx_buf_init(&cli.out);
			int st = pbx_cli_error(&cli, "line too long (at most %d bytes)",
					       LINE_MAX_BYTES - 1);
			reply(c, &cli.out, st);
			pbx_buf_free(&cli.out);
		}
		c->discarding = true;
		c->len = 0;
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	conn_close(req->data);
	free(req);
}

static void on_connection(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	uv_pipe_init(pbx_loop(), &c->pipe, 0);
	c->pipe.data = c;
	c->log_level = -1;
	pbx_buf_init(&c->logs);
	c->next = srv.conns;
	srv.conns = c;
	srv.count++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe)) {
		conn_close(c);
		return;
	}
	if (srv.count > MAX_CONSOLES) {
		static const char msg[] = "Error: too many consoles attached\n\x04"
					  "1\n";
		conn_send(c, msg, sizeof msg - 1);
		/* Shut down, not close: the client must be able to read why. */
		uv_shutdown_t *req = malloc(sizeof *req);
		if (req) {
			req->data = c;
			if (!uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown))
				return;
			free(req);
		}
		conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

int pbx__console_log_level(const void *conn)
{
	const struct conn *c = conn;
	return c ? c->log_level : -1;
}

int pbx__console_set_log_level(void *conn, int level)
{
	struct conn *c = conn;
	if (!c || c->log_level < 0)
		return ENOTSUP;
	c->log_level = level;
	feed_level_update();
	return 0;
}

/* Append one log line for @p c to its batch, unless it is too far behind. */
static void conn_log(struct conn *c, const char *line, size_t n)
{
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + c->logs.len >
	    LOG_PENDING_OUT) {
		c->log_dropped++;
		return;
	}
	if (c->log_dropped)
		log_dropped_note(c, &c->logs);
	pbx_buf_puts(&c->logs, "\x02");
	pbx_buf_append(&c->logs, line, n);
	pbx_buf_puts(&c->logs, "\n");
}

/*
 * Deliver what log.c queued: each console gets the lines at or below its
 * level, in one write per drain. Bounded by the queue's size (log.c); a line
 * logged while we deliver (a console dropped for not reading) wakes us again.
 */
static void feed_drain(void)
{
	char line[LOG_LINE_BYTES];
	unsigned long dropped = 0;
	int level, n;
	while ((n = pbx__log_feed_pop(&level, line, sizeof line, &dropped)) >= 0) {
		/* A line quoting the network must not end a reply or move the cursor. */
		for (int i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
				line[i] = line[i] == '\t' ? ' ' : '?';
		for (struct conn *c = srv.conns; c; c = c->next)
			if (level <= c->log_level && !uv_is_closing((uv_handle_t *)&c->pipe))
				conn_log(c, line, (size_t)n);
	}
	for (struct conn *c = srv.conns; c; c = c->next) {
		if (dropped && c->log_level >= 0)
			pbx_buf_printf(&c->logs,
				       "\x02[console] %lu log line(s) dropped: the PBX logged "
				       "faster than the consoles were fed\n",
				       dropped);
		if (c->logs.len) {
			conn_send(c, c->logs.data, c->logs.len);
			if (c->logs.cap > (64u << 10))
				pbx_buf_free(&c->logs); /* a burst's buffer is not kept */
			else
				pbx_buf_reset(&c->logs);
		}
	}
}

static void on_feed(uv_async_t *a)
{
	feed_drain();
}

/* From any thread, with the feed locked (log.c). */
static void feed_wake(void *arg)
{
	uv_async_send(&srv.feed);
}

/* Is a PBX already answering on @p path? */
static bool path_alive(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	alive = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (fd >= 0)
		close(fd);
	return alive;
}

int pbx__console_start(const char *path)
{
	if (strlen(path) >= sizeof srv.path) {
		pbx_error("console socket path too long (%zu bytes, at most %zu): %s", strlen(path),
			  sizeof srv.path - 1, path);
		return ENAMETOOLONG;
	}
	snprintf(srv.path, sizeof srv.path, "%s", path);
	if (path_alive(path)) {
		pbx_error("another PBX is running with this state_dir (console at %s)", path);
		return EADDRINUSE;
	}
	unlink(path); /* stale socket from a crash */
	uv_pipe_init(pbx_loop(), &srv.listener, 0);
	/* umask makes the socket 0600 from birth: no window where others could connect */
	mode_t old = umask(0177);
	int err = uv_pipe_bind(&srv.listener, path);
	umask(old);
	if (!err)
		err = chmod(path, 0600) ? uv_translate_sys_error(errno) : 0;
	if (!err)
		err = uv_listen((uv_stream_t *)&srv.listener, 16, on_connection);
	if (err) {
		pbx_error("console: cannot listen on %s: %s", path, uv_strerror(err));
		uv_close((uv_handle_t *)&srv.listener, NULL);
		return EIO;
	}
	srv.listening = true;
	uv_async_init(pbx_loop(), &srv.feed, on_feed);
	srv.feeding = true;
	pbx__log_feed_start(feed_wake, NULL);
	return 0;
}

void pbx__console_stop(void)
{
	if (srv.listening) {
		uv_close((uv_handle_t *)&srv.listener, NULL);
		unlink(srv.path);
		srv.listening = false;
	}
	if (srv.feeding) {
		/* Consoles see the last lines ("pbx stopped") before they are let go. */
		feed_drain();
		pbx__log_feed_stop();
		uv_close((uv_handle_t *)&srv.feed, NULL);
		srv.feeding = false;
	}
	/* Shut down rather than close, so replies already queued reach the client. */
	for (struct conn *c = srv.conns; c; c = c->next) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		uv_shutdown_t *req = malloc(sizeof *req);
		if (req) {
			req->data = c;
			if (!uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown))
				continue;
			free(req);
		}
		conn_close(c);
	}
}
