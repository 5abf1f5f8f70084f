/**
 * @file console_client.c  `pbx -r` and `pbx -rx CMD`: talk to the console socket
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Blocking I/O on purpose: this runs in its own process (or, for `-f` on a
 * terminal, its own thread), never on the signalling loop.
 */
#include <errno.h>
#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/buf.h"

struct client {
	int fd;
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
 * Read one reply. Output lines go to @p out (or to @p sink when NULL:
 * stdout). Returns the status from the "\x04N" line, or -1 when the server
 * went away.
 */
static int read_reply(struct client *cl, struct pbx_buf *out)
{
	for (;;) {
		char *nl;
		while ((nl = memchr(cl->rbuf, '\n', cl->rlen))) {
			size_t n = (size_t)(nl - cl->rbuf) + 1;
			int status = -2;
			if (cl->rbuf[0] == '\x04')
				status = atoi(cl->rbuf + 1);
			else if (out)
				pbx_buf_append(out, cl->rbuf, n);
			else
				fwrite(cl->rbuf, 1, n, stdout);
			memmove(cl->rbuf, cl->rbuf + n, cl->rlen - n);
			cl->rlen -= n;
			if (status != -2) {
				fflush(stdout);
				return status;
			}
		}
		if (cl->rlen == sizeof cl->rbuf) { /* a line longer than our buffer */
			if (out)
				pbx_buf_append(out, cl->rbuf, cl->rlen);
			else
				fwrite(cl->rbuf, 1, cl->rlen, stdout);
			cl->rlen = 0;
		}
		ssize_t r = read(cl->fd, cl->rbuf + cl->rlen, sizeof cl->rbuf - cl->rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		cl->rlen += (size_t)r;
	}
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
	return "pbx> ";
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
	if (send_all(el_client->fd, req.data, req.len) || read_reply(el_client, &cands) < 0)
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

static int interactive(struct client *cl)
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
	el_source(el, NULL); /* ~/.editrc, as other libedit programs do */
	printf("Connected to PBX. Type 'help' for commands, 'exit' to leave.\n");
	for (;;) {
		int count;
		const char *line = el_gets(el, &count);
		if (!line) {
			putchar('\n');
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
	if (histfile[0])
		history(hist, &ev, H_SAVE, histfile);
	history_end(hist);
	el_end(el);
	return 0;
}

int pbx__console_client(const char *path, const char *cmd)
{
	struct client cl;
	if (client_connect(&cl, path))
		return 1;
	int status = cmd ? run_one(&cl, cmd) : interactive(&cl);
	close(cl.fd);
	return status < 0 ? 1 : status;
}
