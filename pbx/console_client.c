/**
 * @file console_client.c  `pbx -r` and `pbx -rx CMD`: talk to the console socket
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Blocking I/O on purpose: this runs in its own process (or, for `-f` on a
 * terminal, its own thread), never on the signalling loop.
 *
 * `pbx -r` asks for the log (console.c has the protocol). Log lines come
 * while a command runs, and are printed in order with its output; or while
 * the user types, and then they are printed above the prompt, which is
 * drawn again with what was typed, as Asterisk's remote console does.
 */
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <wchar.h>

#include "core_priv.h"
#include "pbx/buf.h"

#define PROMPT "pbx> "

struct client {
	int fd;
	EditLine *el; /* while el_gets() may have the prompt on screen */
	bool erased;  /* we wrote over the prompt: draw it again */
	bool gone;    /* the PBX closed the connection */
	bool logs;    /* the PBX streams log lines to us */
	char rbuf[8192];
	size_t rlen;
};

static int client_connect(struct client *cl, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "Unable to connect to PBX: socket path too long: %s\n", path);
		return ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	cl->rlen = 0;
	cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl->fd < 0 || connect(cl->fd, (struct sockaddr *)&sa, sizeof sa)) {
		int err = errno;
		fprintf(stderr, "Unable to connect to PBX at %s: %s (is it running?)\n", path,
			strerror(err));
		if (cl->fd >= 0)
			close(cl->fd);
		return err;
	}
	return 0;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return EPIPE;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Before the first log line that arrives while the prompt is on screen:
 * move to where the prompt starts and clear from there, so the line takes
 * its place. The terminal's own sequences (termcap, through libedit); a
 * terminal without them gets a new line instead, and the old prompt stays.
 */
static void prompt_erase(struct client *cl)
{
	const LineInfo *li = el_line(cl->el);
	int cols = 0;
	char *up = NULL, *cd = NULL, *ce = NULL;
	el_get(cl->el, EL_GETTC, "co", &cols, NULL);
	el_get(cl->el, EL_GETTC, "up", &up, NULL);
	el_get(cl->el, EL_GETTC, "cd", &cd, NULL);
	el_get(cl->el, EL_GETTC, "ce", &ce, NULL);
	const char *clear = cd && *cd ? cd : ce;
	if (cols <= 0 || !clear || !*clear || !up || !*up) {
		fputs("\n", stdout);
		return;
	}
	/* Bytes for columns: typed commands are ASCII. */
	int rows = (int)(sizeof PROMPT - 1 + (size_t)(li->cursor - li->buffer)) / cols;
	for (int i = 0; i < rows; i++)
		fputs(up, stdout);
	fputs("\r", stdout);
	fputs(clear, stdout);
}

static void log_line(struct client *cl, const char *line, size_t n)
{
	if (!cl->logs)
		return; /* not asked for */
	if (cl->el && !cl->erased) {
		prompt_erase(cl);
		cl->erased = true;
	}
	fwrite(line, 1, n, stdout);
}

/* After log lines went where the prompt was: draw the prompt and the typed line. */
static void prompt_redraw(struct client *cl)
{
	if (!cl->erased)
		return;
	cl->erased = false;
	fflush(stdout);
	el_set(cl->el, EL_REFRESH);
}

/*
 * Handle the complete lines in the buffer: log lines are shown; output lines
 * go to @p out (stdout when NULL). Returns the status of a "\x04N" line,
 * which ends a reply and stops there, or -2 when none came yet.
 */
static int take_lines(struct client *cl, struct pbx_buf *out)
{
	char *nl;
	int status = -2;
	while (status == -2 && (nl = memchr(cl->rbuf, '\n', cl->rlen))) {
		size_t n = (size_t)(nl - cl->rbuf) + 1;
		if (cl->rbuf[0] == '\x04')
			status = atoi(cl->rbuf + 1);
		else if (cl->rbuf[0] == '\x02')
			log_line(cl, cl->rbuf + 1, n - 1);
		else if (out)
			pbx_buf_append(out, cl->rbuf, n);
		else
			fwrite(cl->rbuf, 1, n, stdout);
		memmove(cl->rbuf, cl->rbuf + n, cl->rlen - n);
		cl->rlen -= n;
	}
	return status;
}

/* Read more from the PBX (see take_lines for @p out). 0, or -1 when it went away. */
static int fill(struct client *cl, struct pbx_buf *out)
{
	if (cl->rlen == sizeof cl->rbuf) { /* an output line longer than our buffer: pass it on */
		if (out)
			pbx_buf_append(out, cl->rbuf, cl->rlen);
		else
			fwrite(cl->rbuf, 1, cl->rlen, stdout);
		cl->rlen = 0;
	}
	for (;;) {
		ssize_t r = read(cl->fd, cl->rbuf + cl->rlen, sizeof cl->rbuf - cl->rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			cl->gone = true;
			return -1;
		}
		cl->rlen += (size_t)r;
		return 0;
	}
}

/*
 * Read one reply. Output lines go to @p out (or to stdout when NULL).
 * Returns the status from the "\x04N" line, or -1 when the server went
 * away.
 */
static int read_reply(struct client *cl, struct pbx_buf *out)
{
	int status;
	while ((status = take_lines(cl, out)) == -2)
		if (fill(cl, out)) {
			status = -1;
			break;
		}
	fflush(stdout);
	return status;
}

/* Returns the command's status, or -1 when the PBX went away. */
static int run_one(struct client *cl, const char *cmd)
{
	int status;
	if (strchr(cmd, '\n')) {
		fprintf(stderr, "Error: a command cannot contain a newline\n");
		return 1;
	}
	/* A send error still leaves the server's reason (e.g. too many consoles)
	 * in our receive buffer: read it before giving up. */
	send_all(cl->fd, cmd, strlen(cmd));
	send_all(cl->fd, "\n", 1);
	if ((status = read_reply(cl, NULL)) < 0) {
		fprintf(stderr, "Disconnected from PBX\n");
		return -1;
	}
	return status;
}

/* ---- interactive --------------------------------------------------------- */

static struct client *el_client; /* libedit callbacks carry no user pointer we can trust */

static const char *prompt(EditLine *el)
{
	return PROMPT;
}

/*
 * libedit's character reader, replaced so that waiting for a key also
 * watches the PBX: log lines are shown as they come, and a PBX that goes
 * away ends the session at once. Decodes as libedit's own reader does
 * (mbrtowc; an invalid sequence is skipped).
 */
static int read_char(EditLine *el, wchar_t *wc)
{
	struct client *cl = el_client;
	char mb[MB_LEN_MAX];
	size_t n = 0;
	for (;;) {
		if (n == 0) {
			take_lines(cl, NULL); /* what came with the last reply */
			prompt_redraw(cl);
			fflush(stdout);
			/* Without the log (the foreground console) the PBX only speaks
			 * when asked; and that console must not end by itself at stop,
			 * while the PBX is closing the handle that it signals then. */
			struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
					      {.fd = cl->fd, .events = POLLIN}};
			if (poll(p, cl->logs ? 2 : 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (p[1].revents && fill(cl, NULL)) {
				*wc = L'\0';
				return 0; /* as end of input: the session is over */
			}
			if (!p[0].revents)
				continue;
		}
		ssize_t r = read(STDIN_FILENO, mb + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*wc = L'\0';
			return r < 0 ? -1 : 0;
		}
		n++;
		mbstate_t st;
		memset(&st, 0, sizeof st);
		size_t k = mbrtowc(wc, mb, n, &st);
		if (k == (size_t)-2 && n < sizeof mb)
			continue;
		if (k == (size_t)-1 || k == (size_t)-2) {
			n = 0;
			continue;
		}
		return 1;
	}
}

/* Tab: ask the server what may follow, insert the common part, else list. */
static unsigned char complete(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);
	struct pbx_buf req, cands;
	pbx_buf_init(&req);
	pbx_buf_init(&cands);
	pbx_buf_puts(&req, "\x01");
	pbx_buf_append(&req, li->buffer, (size_t)(li->cursor - li->buffer));
	pbx_buf_puts(&req, "\n");
	unsigned char rc = CC_ERROR;
	int st = send_all(el_client->fd, req.data, req.len) ? -1 : read_reply(el_client, &cands);
	prompt_redraw(el_client); /* log lines may have come with the candidates */
	if (st < 0)
		goto out;
	/* the word under the cursor */
	const char *start = li->cursor;
	while (start > li->buffer && start[-1] != ' ' && start[-1] != '\t')
		start--;
	size_t typed = (size_t)(li->cursor - start);
	int n = 0;
	char *words[512], *save = NULL;
	for (char *w = strtok_r(cands.data, "\n", &save); w && n < 512;
	     w = strtok_r(NULL, "\n", &save))
		words[n++] = w;
	if (n == 0)
		goto out;
	size_t common = strlen(words[0]);
	for (int i = 1; i < n; i++) {
		size_t k = 0;
		while (k < common && words[i][k] == words[0][k])
			k++;
		common = k;
	}
	if (common > typed) {
		char ins[256];
		snprintf(ins, sizeof ins, "%.*s%s", (int)(common - typed), words[0] + typed,
			 n == 1 ? " " : "");
		el_insertstr(el, ins);
		rc = CC_REFRESH;
	} else if (n == 1) {
		el_insertstr(el, " ");
		rc = CC_REFRESH;
	} else {
		putchar('\n');
		for (int i = 0; i < n; i++)
			printf("%s%s", words[i], i + 1 < n ? "  " : "\n");
		rc = CC_REDISPLAY;
	}
out:
	pbx_buf_free(&req);
	pbx_buf_free(&cands);
	return rc;
}

static int interactive(struct client *cl, bool logs)
{
	EditLine *el = el_init("pbx", stdin, stdout, stderr);
	History *hist = history_init();
	HistEvent ev;
	char histfile[4096] = "";
	int status = 0;

	el_client = cl;
	history(hist, &ev, H_SETSIZE, 1000);
	history(hist, &ev, H_SETUNIQUE, 1);
	if (getenv("HOME")) {
		snprintf(histfile, sizeof histfile, "%s/.pbx_history", getenv("HOME"));
		history(hist, &ev, H_LOAD, histfile);
	}
	el_set(el, EL_EDITOR, "emacs");
	el_set(el, EL_PROMPT, prompt);
	el_set(el, EL_HIST, history, hist);
	/* The wide variant: the narrow one leaks its copies of these strings. */
	el_wset(el, EL_ADDFN, L"pbx-complete", L"Complete a command", complete);
	el_set(el, EL_BIND, "^I", "pbx-complete", NULL);
	el_set(el, EL_GETCFN, read_char);
	el_source(el, NULL); /* ~/.editrc, as other libedit programs do */
	/* A PBX that does not know "\x02" refuses it, and we go on without the log. */
	if (logs) {
		struct pbx_buf ignored;
		pbx_buf_init(&ignored);
		int st = send_all(cl->fd, "\x02\n", 2) ? -1 : read_reply(cl, &ignored);
		pbx_buf_free(&ignored);
		if (st < 0) {
			fprintf(stderr, "Disconnected from PBX\n");
			goto out;
		}
		cl->logs = st == 0;
	}
	printf("Connected to PBX. Type 'help' for commands, 'exit' to leave.\n");
	for (;;) {
		int count;
		cl->el = el;
		const char *line = el_gets(el, &count);
		cl->el = NULL;
		if (!line) {
			putchar('\n');
			if (cl->gone)
				fprintf(stderr, "Disconnected from PBX\n");
			break;
		}
		char cmd[4096];
		snprintf(cmd, sizeof cmd, "%s", line);
		cmd[strcspn(cmd, "\r\n")] = '\0';
		const char *p = cmd + strspn(cmd, " \t");
		if (!*p)
			continue;
		history(hist, &ev, H_ENTER, p);
		if (!strcmp(p, "exit") || !strcmp(p, "quit"))
			break;
		status = run_one(cl, p);
		if (status < 0) /* the PBX went away */
			break;
		if (!strncmp(p, "core stop", 9) && status == 0)
			break;
	}
out:
	if (histfile[0])
		history(hist, &ev, H_SAVE, histfile);
	history_end(hist);
	el_end(el);
	return 0;
}

int pbx__console_client(const char *path, const char *cmd, bool logs)
{
	struct client cl = {.fd = -1};
	if (client_connect(&cl, path))
		return 1;
	int status = cmd ? run_one(&cl, cmd) : interactive(&cl, logs);
	close(cl.fd);
	return status < 0 ? 1 : status;
}
