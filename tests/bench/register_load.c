/**
 * @file register_load.c  Open-loop REGISTER-with-digest load for tests/bench/overload.py
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Plays many phones registering at once, as SIPp's register_overload.xml
 * does, but fast enough to offer several times what the PBX sustains from
 * one core: SIPp saturates at about 30,000 registrations a second, which
 * is what the PBX sustains, so it cannot offer 2x or 3x.
 *
 * It is not one of the bench_* micro-benchmarks: overload.py compiles it
 * with cc (and -lcrypto, for MD5) into its temporary directory and runs it.
 *
 *     register_load --port PBX_PORT --rate R --seconds S [options]
 *
 * Each registration: REGISTER without credentials -> 401 with
 * WWW-Authenticate -> the same REGISTER with an MD5 Authorization (qop=auth,
 * nc=00000001, a cnonce of its own), CSeq 2, the same Call-ID and tags, a
 * new branch -> 200. A 503 to either REGISTER ends it as shed (Retry-After
 * noted); any other final response ends it as failed; a transaction with no
 * final response within --timeout s (10, as the SIPp scenario's recv
 * timeout) ends it as timed out. Requests are retransmitted as RFC 3261's
 * Timer E for non-INVITE: 500 ms, doubling to 4 s (4 s at once after a
 * provisional response).
 *
 * Open loop: registration k (from 0) is due at k / R s after the start, on
 * an absolute clock (CLOCK_MONOTONIC), whatever became of the earlier ones;
 * a late loop turn starts all that are due at once. Starting stops at S s:
 * registrations due by then but not started (the generator fell behind, or
 * --max-inflight was reached) are never started, so a generator that
 * cannot keep up shows as a lower offered rate (started / S), never as a
 * silent gap. After S s it waits for those in flight, at most until
 * --wall s (default S + timeout + 5) from the start; the rest are counted
 * as unfinished.
 *
 * Users are --users-from .. --users-from + --users - 1, in turn, all with
 * --password (overload.py's users: 3000.., "benchpw1"), on --domain. The
 * Contact is the user at the generator's socket, so every registration of
 * a user replaces the previous one's binding, as with SIPp.
 *
 * One loop turn a millisecond: read the answers, start what is due, run
 * the timers (a burst of retransmissions in parts, reading in between),
 * send. Costs, per registration: two requests built into a batch and sent
 * with sendmmsg, two responses read with recvmmsg and parsed (the status
 * line, Call-ID, CSeq, WWW-Authenticate, Retry-After), one MD5 (HA1 per
 * user and HA2 are computed once), one malloc for the authenticated
 * REGISTER, kept for its retransmissions (the first REGISTER is rebuilt
 * instead: cheaper than keeping it for the many that are never
 * retransmitted). Most of the time is the kernel's: each datagram sent
 * over loopback is also delivered to the PBX's socket on this CPU. UDP GSO
 * (see flush()) halves the rest of the sending cost; about 7.5 us of CPU
 * a registration in all, against the PBX at 20,000/s (12 without GSO,
 * --no-gso). The state of
 * a registration is 48 bytes in a table of --max-inflight slots whose
 * free list is last-in first-out, so only as many pages are touched as
 * were ever in flight at once. Its Call-ID carries the slot and a
 * generation, so finding the registration of a response is an index and a
 * compare, no hash chain; a late answer to a slot reused since is counted
 * as stray. Timers are a wheel of 1 ms ticks, one timer per registration.
 *
 * Every second it prints one line of cumulative counters,
 *     t=SECONDS started=N ok=N shed=N failed=N timeouts=N retrans=N
 *       inflight=N lag=N lag_max_us=N rxdrops=N cpu=SECONDS
 * (t = since the start; lag = registrations due but not started yet;
 * lag_max_us = the longest a loop turn of that second ended after its
 * millisecond began: oversleeping plus the turn's work; rxdrops =
 * answers the kernel dropped at our full socket, from /proc/net/udp; cpu =
 * this process's user + system time), and at the end one line "done
 * KEY=VALUE ..." with every counter (see print_done()). The caller derives
 * rates from those lines.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define BATCH       256
#define MSG_MAX     1400
#define RX_MAX      4096
#define RCVBUF      (32 * 1024 * 1024) /* SO_RCVBUFFORCE as root; else net.core.rmem_max */
#define SNDBUF      (4 * 1024 * 1024)
#define MAX_SOCKS   16
#define T1_MS       500
#define T2_MS       4000
#define WHEEL       16384 /* ms; more than the longest timer (--timeout is capped below it) */
#define NIL         UINT32_MAX
#define RX_BATCHES  16 /* per socket per loop turn, so that starts stay on time */
#define CODES       700
#define TIMER_BURST 2048 /* timers run between two reads of the sockets */
#define GSO_SEGS    64   /* UDP_MAX_SEGMENTS of older kernels; 6.x take 128 */
#define GSO_BYTES   60000
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

enum { R_FREE, R_WAIT1, R_WAIT2 };

struct reg {
	uint32_t gen;          /* bumped at every reuse of the slot */
	uint32_t user;         /* 0 .. users - 1 */
	uint32_t tprev, tnext; /* timer wheel list; tnext links the free slots */
	int64_t due_ms;        /* when the timer fires; -1: not armed */
	int64_t tsx_ms;        /* first send of the current transaction */
	uint32_t rto_ms;       /* the next retransmission interval */
	uint16_t len2;         /* of msg2 */
	uint8_t state;
	uint8_t cseq; /* of the current transaction: 1, 2, or 3 after a stale nonce */
	uint8_t sock;
	char *msg2; /* the authenticated REGISTER, for its retransmissions */
};

/* Datagrams waiting for the next flush, and what flush() gives sendmmsg. */
struct txq {
	unsigned n;
	uint16_t len[BATCH];
	char buf[BATCH][MSG_MAX];
	struct mmsghdr m[BATCH];
	struct iovec v[BATCH];
	unsigned segs[BATCH]; /* datagrams in m[i] */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[BATCH];
};

struct counters {
	unsigned long long started, ok, shed, shed1, shed2, failed, timeouts, retrans, sent,
		senderr, recvd, stray, malformed, unusable, provisional, unfinished, stale, rxdrops;
	long long retry_min, retry_max, retry_sum;
	unsigned long long codes[CODES];
};

/* The challenge of a 401, slices of the received datagram. */
struct chal {
	const char *realm, *nonce, *opaque;
	size_t realm_l, nonce_l, opaque_l;
	bool qop_auth, qop_given, md5, stale;
};

struct resp {
	int code;
	unsigned long cseq;
	const char *callid;
	size_t callid_l;
	long retry_after; /* -1: none */
	struct chal chal;
	bool have_chal;
};

struct gen {
	/* options */
	double rate, seconds, wall;
	unsigned users_from, users, nsocks, timeout_ms, expires;
	uint32_t max_inflight;
	const char *password, *domain;
	/* sockets */
	int fd[MAX_SOCKS];
	unsigned lport[MAX_SOCKS];
	struct sockaddr_in pbx;
	struct txq *tx[MAX_SOCKS];
	bool gso; /* UDP_SEGMENT: equal-length datagrams leave in one send */
	/* registrations */
	struct reg *regs;
	uint32_t free_head, used; /* used: slots ever taken, the rest are fresh */
	uint32_t inflight;
	uint32_t wheel[WHEEL];
	int64_t wheel_ms; /* the next tick to run */
	unsigned run;     /* in every Call-ID: answers to another run are stray */
	/* digest */
	EVP_MD *md5;
	EVP_MD_CTX *ctx;
	char ha2[33];
	char (*ha1)[33]; /* per user, for realm */
	char realm[128];
	struct counters c;
	int64_t last_answer_ms;
	unsigned long long ok_window, shed_window; /* when starting stopped */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* ---- writing messages ------------------------------------------------------ */

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUTS(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_str(char *p, const char *s)
{
	return put(p, s, strlen(s));
}

static char *put_u(char *p, unsigned long v)
{
	char t[24];
	int n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = t[--n];
	return p;
}

static const char hexdig[] = "0123456789abcdef";

static char *put_hex32(char *p, uint32_t v)
{
	for (int i = 28; i >= 0; i -= 4)
		*p++ = hexdig[(v >> i) & 15];
	return p;
}

/* "RUN-SLOT-GEN": the Call-ID before its "@", and the tags and branches. */
static char *put_id(char *p, const struct gen *g, uint32_t slot)
{
	p = put_hex32(p, g->run);
	*p++ = '-';
	p = put_hex32(p, slot);
	*p++ = '-';
	return put_hex32(p, g->regs[slot].gen);
}

/* The REGISTER of @slot with CSeq @cseq and @auth (NULL: none) into @p; its length. */
static size_t build(const struct gen *g, uint32_t slot, unsigned cseq, const char *auth,
		    size_t auth_l, char *out)
{
	const struct reg *r = &g->regs[slot];
	unsigned ext = g->users_from + r->user, lport = g->lport[r->sock];
	char *p = out;
	p = PUTS(p, "REGISTER sip:");
	p = put_str(p, g->domain);
	p = PUTS(p, " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:");
	p = put_u(p, lport);
	p = PUTS(p, ";branch=z9hG4bK-");
	p = put_id(p, g, slot);
	*p++ = '-';
	p = put_u(p, cseq);
	p = PUTS(p, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:");
	p = put_u(p, ext);
	*p++ = '@';
	p = put_str(p, g->domain);
	p = PUTS(p, ">;tag=");
	p = put_id(p, g, slot);
	p = PUTS(p, "\r\nTo: <sip:");
	p = put_u(p, ext);
	*p++ = '@';
	p = put_str(p, g->domain);
	p = PUTS(p, ">\r\nCall-ID: ");
	p = put_id(p, g, slot);
	p = PUTS(p, "@127.0.0.1\r\nCSeq: ");
	p = put_u(p, cseq);
	p = PUTS(p, " REGISTER\r\nContact: <sip:");
	p = put_u(p, ext);
	p = PUTS(p, "@127.0.0.1:");
	p = put_u(p, lport);
	p = PUTS(p, ";transport=udp>\r\n");
	if (auth)
		p = put(p, auth, auth_l);
	p = PUTS(p, "Expires: ");
	p = put_u(p, g->expires);
	p = PUTS(p, "\r\nUser-Agent: register_load\r\nContent-Length: 0\r\n\r\n");
	return (size_t)(p - out);
}

/* ---- sending ---------------------------------------------------------------- */

/*
 * Sends what socket @s has queued. With GSO the datagrams of one length
 * (every first REGISTER of a run has the same length, and so has every
 * second one) go as one buffer that the kernel cuts into datagrams
 * (UDP_SEGMENT): one system call, route and skb for up to GSO_SEGS
 * datagrams instead of one each. Each datagram still costs its delivery
 * to the PBX's socket, on this CPU, which is most of what is left. The
 * order of datagrams changes; nothing depends on it.
 */
static void flush(struct gen *g, unsigned s)
{
	struct txq *q = g->tx[s];
	bool taken[BATCH];
	unsigned nm = 0, nv = 0;
	memset(taken, 0, q->n * sizeof taken[0]);
	for (unsigned i = 0; i < q->n; i++) {
		if (taken[i])
			continue;
		unsigned len = q->len[i], most = 1, segs = 0;
		if (g->gso) {
			most = GSO_BYTES / len;
			if (most > GSO_SEGS)
				most = GSO_SEGS;
		}
		struct msghdr *h = &q->m[nm].msg_hdr;
		memset(h, 0, sizeof *h);
		h->msg_iov = &q->v[nv];
		/* Quadratic in the number of distinct lengths, which is two or three. */
		for (unsigned j = i; j < q->n && segs < most; j++) {
			if (taken[j] || q->len[j] != len)
				continue;
			taken[j] = true;
			q->v[nv].iov_base = q->buf[j];
			q->v[nv].iov_len = len;
			nv++;
			segs++;
		}
		h->msg_iovlen = segs;
		if (segs > 1) {
			h->msg_control = q->ctl[nm].buf;
			h->msg_controllen = sizeof q->ctl[nm].buf;
			struct cmsghdr *c = CMSG_FIRSTHDR(h);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t gso = (uint16_t)len;
			memcpy(CMSG_DATA(c), &gso, sizeof gso);
		}
		q->segs[nm++] = segs;
	}
	unsigned done = 0;
	while (done < nm) {
		int r = sendmmsg(g->fd[s], q->m + done, nm - done, 0);
		if (r <= 0) { /* the first one failed: the timers send its datagrams again */
			g->c.senderr += q->segs[done++];
			continue;
		}
		for (int k = 0; k < r; k++)
			g->c.sent += q->segs[done++];
	}
	q->n = 0;
}

/* Whether this kernel takes UDP_SEGMENT on loopback: two datagrams sent as one. */
static bool gso_works(void)
{
	int a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to = {.sin_family = AF_INET};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t tl = sizeof to;
	int got = 0;
	if (a >= 0 && b >= 0 && !bind(b, (struct sockaddr *)&to, sizeof to) &&
	    !getsockname(b, (struct sockaddr *)&to, &tl)) {
		char data[200] = {0}, ctl[CMSG_SPACE(sizeof(uint16_t))] = {0};
		struct iovec v = {.iov_base = data, .iov_len = sizeof data};
		struct msghdr h = {.msg_name = &to,
				   .msg_namelen = sizeof to,
				   .msg_iov = &v,
				   .msg_iovlen = 1,
				   .msg_control = ctl,
				   .msg_controllen = sizeof ctl};
		struct cmsghdr *c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		uint16_t seg = sizeof data / 2;
		memcpy(CMSG_DATA(c), &seg, sizeof seg);
		if (sendmsg(a, &h, 0) == (ssize_t)sizeof data) {
			struct pollfd p = {.fd = b, .events = POLLIN};
			while (got < 3 && poll(&p, 1, 100) == 1 &&
			       recv(b, data, sizeof data, MSG_DONTWAIT) == seg)
				got++;
		}
	}
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return got == 2;
}

/* A buffer for one datagram on socket @s, sent at the next flush. */
static char *tx_slot(struct gen *g, unsigned s)
{
	struct txq *q = g->tx[s];
	if (q->n == BATCH)
		flush(g, s);
	return q->buf[q->n];
}

static void tx_commit(struct gen *g, unsigned s, size_t len)
{
	struct txq *q = g->tx[s];
	q->len[q->n++] = (uint16_t)len;
}

static void send_req(struct gen *g, uint32_t slot)
{
	struct reg *r = &g->regs[slot];
	char *buf = tx_slot(g, r->sock);
	size_t len;
	if (r->state == R_WAIT2) {
		memcpy(buf, r->msg2, r->len2);
		len = r->len2;
	} else {
		len = build(g, slot, 1, NULL, 0, buf);
	}
	tx_commit(g, r->sock, len);
}

/* ---- timers ------------------------------------------------------------------ */

static void timer_stop(struct gen *g, uint32_t slot)
{
	struct reg *r = &g->regs[slot];
	if (r->due_ms < 0)
		return;
	if (r->tprev != NIL)
		g->regs[r->tprev].tnext = r->tnext;
	else
		g->wheel[r->due_ms % WHEEL] = r->tnext;
	if (r->tnext != NIL)
		g->regs[r->tnext].tprev = r->tprev;
	r->tprev = r->tnext = NIL;
	r->due_ms = -1;
}

static void timer_start(struct gen *g, uint32_t slot, int64_t due_ms)
{
	struct reg *r = &g->regs[slot];
	assert(r->due_ms < 0);
	/* Within one turn of the wheel of the next tick to run; a loop that
	 * stalled for seconds fires some timers late rather than early. */
	if (due_ms < g->wheel_ms)
		due_ms = g->wheel_ms;
	if (due_ms >= g->wheel_ms + WHEEL)
		due_ms = g->wheel_ms + WHEEL - 1;
	r->due_ms = due_ms;
	uint32_t *head = &g->wheel[due_ms % WHEEL];
	r->tprev = NIL;
	r->tnext = *head;
	if (*head != NIL)
		g->regs[*head].tprev = slot;
	*head = slot;
}

/* A new transaction of @slot: its first send is now. */
static void tsx_begin(struct gen *g, uint32_t slot, int64_t now_ms)
{
	struct reg *r = &g->regs[slot];
	r->tsx_ms = now_ms;
	r->rto_ms = T1_MS;
	timer_start(g, slot, now_ms + T1_MS);
}

/* ---- registrations ---------------------------------------------------------- */

static void reg_end(struct gen *g, uint32_t slot)
{
	struct reg *r = &g->regs[slot];
	timer_stop(g, slot);
	free(r->msg2);
	r->msg2 = NULL;
	r->state = R_FREE;
	r->gen++;
	r->tnext = g->free_head;
	g->free_head = slot;
	g->inflight--;
}

static bool reg_start(struct gen *g, int64_t now_ms)
{
	uint32_t slot;
	if (g->free_head != NIL) {
		slot = g->free_head;
		g->free_head = g->regs[slot].tnext;
	} else if (g->used < g->max_inflight) {
		slot = g->used++;
	} else {
		return false;
	}
	struct reg *r = &g->regs[slot];
	r->user = (uint32_t)(g->c.started % g->users);
	r->sock = (uint8_t)(g->c.started % g->nsocks);
	r->state = R_WAIT1;
	r->cseq = 1;
	r->tprev = r->tnext = NIL;
	r->due_ms = -1;
	g->c.started++;
	g->inflight++;
	send_req(g, slot);
	tsx_begin(g, slot, now_ms);
	return true;
}

static void on_timer(struct gen *g, uint32_t slot, int64_t now_ms)
{
	struct reg *r = &g->regs[slot];
	int64_t deadline = r->tsx_ms + g->timeout_ms;
	if (now_ms >= deadline) {
		g->c.timeouts++;
		reg_end(g, slot);
		return;
	}
	send_req(g, slot);
	g->c.retrans++;
	int64_t due = now_ms + r->rto_ms;
	r->rto_ms = r->rto_ms * 2 > T2_MS ? T2_MS : r->rto_ms * 2;
	timer_start(g, slot, due < deadline ? due : deadline);
}

/* Runs up to @most due timers; whether some are left. */
static bool timers_run(struct gen *g, int64_t now_ms, unsigned most)
{
	for (; g->wheel_ms <= now_ms; g->wheel_ms++) {
		uint32_t *head = &g->wheel[g->wheel_ms % WHEEL];
		/* Timers start at least a tick ahead, so this list only shrinks. */
		while (*head != NIL) {
			if (!most--)
				return true;
			uint32_t slot = *head;
			timer_stop(g, slot);
			on_timer(g, slot, now_ms);
		}
	}
	return false;
}

/* ---- digest ------------------------------------------------------------------ */

static int md5_hex(struct gen *g, const char *const *parts, const size_t *lens, int n, char out[33])
{
	unsigned char d[16];
	if (!EVP_DigestInit_ex2(g->ctx, g->md5, NULL))
		return EIO;
	for (int i = 0; i < n; i++)
		if (!EVP_DigestUpdate(g->ctx, parts[i], lens[i]))
			return EIO;
	if (!EVP_DigestFinal_ex(g->ctx, d, NULL))
		return EIO;
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hexdig[d[i] >> 4];
		out[2 * i + 1] = hexdig[d[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

/* HA1 of @user in @realm, computed once per user (again if the realm changes). */
static const char *ha1_of(struct gen *g, uint32_t user, const char *realm, size_t realm_l)
{
	if (strlen(g->realm) != realm_l || memcmp(g->realm, realm, realm_l)) {
		memcpy(g->realm, realm, realm_l);
		g->realm[realm_l] = '\0';
		for (unsigned i = 0; i < g->users; i++)
			g->ha1[i][0] = '\0';
	}
	char *h = g->ha1[user];
	if (!h[0]) {
		char ext[16];
		int n = snprintf(ext, sizeof ext, "%u", g->users_from + user);
		const char *p[] = {ext, ":", realm, ":", g->password};
		const size_t l[] = {(size_t)n, 1, realm_l, 1, strlen(g->password)};
		if (md5_hex(g, p, l, 5, h))
			return NULL;
	}
	return h;
}

/* The Authorization header (with its CRLF) answering @c for @slot into @out; its length. */
static size_t authorization(struct gen *g, uint32_t slot, const struct chal *c, char *out)
{
	const struct reg *r = &g->regs[slot];
	const char *ha1 = ha1_of(g, r->user, c->realm, c->realm_l);
	if (!ha1)
		return 0;
	char cnonce[9], resp[33], ext[16];
	put_hex32(cnonce, r->gen * 2654435761u ^ slot);
	cnonce[8] = '\0';
	int en = snprintf(ext, sizeof ext, "%u", g->users_from + r->user);
	if (c->qop_auth) {
		const char *p[] = {ha1, ":", c->nonce, ":00000001:", cnonce, ":auth:", g->ha2};
		const size_t l[] = {32, 1, c->nonce_l, 10, 8, 6, 32};
		if (md5_hex(g, p, l, 7, resp))
			return 0;
	} else {
		const char *p[] = {ha1, ":", c->nonce, ":", g->ha2};
		const size_t l[] = {32, 1, c->nonce_l, 1, 32};
		if (md5_hex(g, p, l, 5, resp))
			return 0;
	}
	char *o = out;
	o = PUTS(o, "Authorization: Digest username=\"");
	o = put(o, ext, (size_t)en);
	o = PUTS(o, "\", realm=\"");
	o = put(o, c->realm, c->realm_l);
	o = PUTS(o, "\", nonce=\"");
	o = put(o, c->nonce, c->nonce_l);
	o = PUTS(o, "\", uri=\"sip:");
	o = put_str(o, g->domain);
	o = PUTS(o, "\", response=\"");
	o = put(o, resp, 32);
	o = PUTS(o, "\", algorithm=MD5");
	if (c->qop_auth) {
		o = PUTS(o, ", cnonce=\"");
		o = put(o, cnonce, 8);
		o = PUTS(o, "\", qop=auth, nc=00000001");
	}
	if (c->opaque) {
		o = PUTS(o, ", opaque=\"");
		o = put(o, c->opaque, c->opaque_l);
		*o++ = '"';
	}
	o = PUTS(o, "\r\n");
	return (size_t)(o - out);
}

/* ---- parsing responses ------------------------------------------------------- */

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp(p, name, n);
}

/* One "Digest k=v, ..." challenge into @c; false when it is not one we can answer. */
static bool chal_parse(const char *p, const char *end, struct chal *c)
{
	memset(c, 0, sizeof *c);
	c->md5 = true; /* RFC 2617: no algorithm means MD5 */
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 7 || strncasecmp(p, "Digest", 6) || (p[6] != ' ' && p[6] != '\t'))
		return false;
	p += 7;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *k = p;
		while (p < end && *p != '=' && *p != ' ' && *p != '\t')
			p++;
		size_t kl = (size_t)(p - k);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end || *p != '=')
			return false;
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *v;
		size_t vl;
		if (p < end && *p == '"') {
			v = ++p;
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			if (p >= end)
				return false;
			vl = (size_t)(p - v);
			p++;
		} else {
			v = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			vl = (size_t)(p - v);
		}
		if (name_is(k, kl, "realm")) {
			c->realm = v;
			c->realm_l = vl;
		} else if (name_is(k, kl, "nonce")) {
			c->nonce = v;
			c->nonce_l = vl;
		} else if (name_is(k, kl, "opaque")) {
			c->opaque = v;
			c->opaque_l = vl;
		} else if (name_is(k, kl, "stale")) {
			c->stale = name_is(v, vl, "true");
		} else if (name_is(k, kl, "algorithm")) {
			c->md5 = name_is(v, vl, "MD5");
		} else if (name_is(k, kl, "qop")) {
			c->qop_given = true;
			for (const char *q = v; q < v + vl;) { /* a list: "auth,auth-int" */
				const char *t = q;
				while (q < v + vl && *q != ',')
					q++;
				while (t < q && *t == ' ')
					t++;
				size_t tl = (size_t)(q - t);
				while (tl && t[tl - 1] == ' ')
					tl--;
				if (name_is(t, tl, "auth"))
					c->qop_auth = true;
				if (q < v + vl)
					q++;
			}
		}
	}
	return c->md5 && c->realm && c->nonce && c->realm_l < 128 && c->nonce_l <= 256 &&
	       c->opaque_l <= 256 && (!c->qop_given || c->qop_auth);
}

/* The parts of a response we need; false when it is not a SIP response. */
static bool resp_parse(const char *buf, size_t len, struct resp *r)
{
	const char *p = buf, *end = buf + len;
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
	if (len < 12 || memcmp(p, "SIP/2.0 ", 8))
		return false;
	if (p[8] < '1' || p[8] > '6' || p[9] < '0' || p[9] > '9' || p[10] < '0' || p[10] > '9')
		return false;
	r->code = (p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0');
	/* Lines end at LF, the CR before it dropped: memchr is quicker than memmem. */
	const char *eol = memchr(p, '\n', len);
	if (!eol)
		return false;
	for (p = eol + 1; p < end; p = eol + 1) {
		if (!(eol = memchr(p, '\n', (size_t)(end - p))))
			break;
		const char *lend = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (lend == p)
			break; /* the end of the headers */
		const char *colon = memchr(p, ':', (size_t)(lend - p));
		if (!colon)
			continue;
		size_t nl = (size_t)(colon - p);
		while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
			nl--;
		const char *v = colon + 1;
		while (v < lend && (*v == ' ' || *v == '\t'))
			v++;
		if (name_is(p, nl, "Call-ID") || name_is(p, nl, "i")) {
			r->callid = v;
			r->callid_l = (size_t)(lend - v);
		} else if (name_is(p, nl, "CSeq")) {
			r->cseq = strtoul(v, NULL, 10);
		} else if (name_is(p, nl, "Retry-After")) {
			r->retry_after = strtol(v, NULL, 10);
		} else if (!r->have_chal && name_is(p, nl, "WWW-Authenticate")) {
			r->have_chal = chal_parse(v, lend, &r->chal);
		}
	}
	return r->callid && r->cseq;
}

static bool hex32_at(const char *p, uint32_t *v)
{
	uint32_t x = 0;
	for (int i = 0; i < 8; i++) {
		char ch = p[i];
		int d = ch >= '0' && ch <= '9'   ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
						 : -1;
		if (d < 0)
			return false;
		x = x << 4 | (uint32_t)d;
	}
	*v = x;
	return true;
}

/* The slot a Call-ID "RUN-SLOT-GEN@127.0.0.1" names, if it is still that registration's. */
static uint32_t slot_of(const struct gen *g, const char *id, size_t n)
{
	uint32_t run, slot, gen;
	if (n < 27 || id[8] != '-' || id[17] != '-' || id[26] != '@' || !hex32_at(id, &run) ||
	    !hex32_at(id + 9, &slot) || !hex32_at(id + 18, &gen))
		return NIL;
	if (run != g->run || slot >= g->used || g->regs[slot].gen != gen ||
	    g->regs[slot].state == R_FREE)
		return NIL;
	return slot;
}

static void on_shed(struct gen *g, long retry_after)
{
	g->c.shed++;
	if (retry_after < 0)
		return;
	if (g->c.retry_min < 0 || retry_after < g->c.retry_min)
		g->c.retry_min = retry_after;
	if (retry_after > g->c.retry_max)
		g->c.retry_max = retry_after;
	g->c.retry_sum += retry_after;
}

static void on_response(struct gen *g, const char *buf, size_t len, int64_t now_ms)
{
	struct resp rs;
	if (!resp_parse(buf, len, &rs)) {
		g->c.malformed++;
		return;
	}
	uint32_t slot = slot_of(g, rs.callid, rs.callid_l);
	struct reg *r = slot == NIL ? NULL : &g->regs[slot];
	/* An answer to a retransmission of a finished transaction: ignored. */
	if (!r || rs.cseq != r->cseq) {
		g->c.stray++;
		return;
	}
	if (rs.code < 200) {
		g->c.provisional++;
		r->rto_ms = T2_MS; /* RFC 3261 17.1.2.2: Proceeding retransmits every T2 */
		return;
	}
	g->c.codes[rs.code < CODES ? rs.code : 0]++;
	g->last_answer_ms = now_ms;
	if (rs.code == 503) {
		on_shed(g, rs.retry_after);
		if (r->state == R_WAIT1)
			g->c.shed1++;
		else
			g->c.shed2++;
		reg_end(g, slot);
		return;
	}
	if (rs.code == 200) {
		g->c.ok++;
		reg_end(g, slot);
		return;
	}
	/* A 401 to the authenticated REGISTER with stale=true: the credentials
	 * were right but the nonce is no longer known. A phone answers the new
	 * challenge at once (RFC 7616 3.3); so does this, once. */
	bool stale = rs.code == 401 && r->state == R_WAIT2 && rs.have_chal && rs.chal.stale;
	if (stale)
		g->c.stale++;
	if (rs.code != 401 || (r->state != R_WAIT1 && !(stale && r->cseq == 2))) {
		g->c.failed++;
		reg_end(g, slot);
		return;
	}
	char auth[MSG_MAX];
	size_t al = 0;
	if (!rs.have_chal || (al = authorization(g, slot, &rs.chal, auth)) == 0) {
		g->c.unusable++;
		g->c.failed++;
		reg_end(g, slot);
		return;
	}
	r->state = R_WAIT2;
	r->cseq++;
	timer_stop(g, slot);
	char msg[2 * MSG_MAX];
	size_t len2 = build(g, slot, r->cseq, auth, al, msg);
	free(r->msg2);
	r->msg2 = NULL;
	if (len2 > MSG_MAX || !(r->msg2 = malloc(len2))) {
		g->c.unusable++;
		g->c.failed++;
		reg_end(g, slot);
		return;
	}
	memcpy(r->msg2, msg, len2);
	r->len2 = (uint16_t)len2;
	send_req(g, slot);
	tsx_begin(g, slot, now_ms);
}

static void recv_all(struct gen *g, int64_t now_ms)
{
	static struct mmsghdr rx[BATCH];
	static struct iovec rxv[BATCH];
	static char rxbuf[BATCH][RX_MAX + 1]; /* + 1: a NUL after the datagram, for strtoul */
	if (!rx[0].msg_hdr.msg_iov) {
		for (int i = 0; i < BATCH; i++) {
			rxv[i].iov_base = rxbuf[i];
			rxv[i].iov_len = RX_MAX;
			rx[i].msg_hdr.msg_iov = &rxv[i];
			rx[i].msg_hdr.msg_iovlen = 1;
		}
	}
	for (unsigned s = 0; s < g->nsocks; s++) {
		for (int b = 0; b < RX_BATCHES; b++) {
			int got = recvmmsg(g->fd[s], rx, BATCH, MSG_DONTWAIT, NULL);
			if (got <= 0)
				break;
			g->c.recvd += (unsigned)got;
			for (int i = 0; i < got; i++) {
				if (rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
					g->c.malformed++;
					continue;
				}
				rxbuf[i][rx[i].msg_len] = '\0';
				on_response(g, rxbuf[i], rx[i].msg_len, now_ms);
			}
			if (got < BATCH)
				break;
		}
	}
}

/* ---- set-up and the loop ----------------------------------------------------- */

/* Datagrams the kernel dropped at our sockets, full (the drops column of /proc/net/udp). */
static unsigned long long rx_drops(const struct gen *g)
{
	FILE *f = fopen("/proc/self/net/udp", "r");
	if (!f)
		return 0;
	char line[512];
	unsigned long long total = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned sl, addr, port;
		if (sscanf(line, " %u: %x:%x", &sl, &addr, &port) != 3 || addr != 0x0100007F)
			continue;
		for (unsigned i = 0; i < g->nsocks; i++) {
			if (port != g->lport[i])
				continue;
			size_t n = strlen(line);
			while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
				line[--n] = '\0';
			const char *last = strrchr(line, ' ');
			total += last ? strtoull(last + 1, NULL, 10) : 0;
		}
	}
	fclose(f);
	return total;
}

static int sock_open(struct gen *g, unsigned i, unsigned port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	/* Room for the answers of a loop turn that runs long (a burst of
	 * retransmissions): what the socket cannot hold is lost, and counted. */
	int sz = RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	sz = SNDBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t ml = sizeof me;
	if (bind(fd, (struct sockaddr *)&me, sizeof me) ||
	    getsockname(fd, (struct sockaddr *)&me, &ml)) {
		fprintf(stderr, "bind 127.0.0.1:%u: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	/* Connected: the kernel keeps the route, instead of a lookup per
	 * datagram. Only datagrams from the PBX's port come in then, which is
	 * where it answers from (the port the request went to, as with rport). */
	if (connect(fd, (const struct sockaddr *)&g->pbx, sizeof g->pbx)) {
		perror("connect");
		close(fd);
		return -1;
	}
	g->fd[i] = fd;
	g->lport[i] = ntohs(me.sin_port);
	return 0;
}

static int setup(struct gen *g, unsigned pbx_port, unsigned local_port, bool no_gso)
{
	g->gso = !no_gso && gso_works();
	g->pbx.sin_family = AF_INET;
	g->pbx.sin_port = htons((uint16_t)pbx_port);
	g->pbx.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (unsigned i = 0; i < g->nsocks; i++) {
		if (sock_open(g, i, local_port ? local_port + i : 0))
			return -1;
		if (!(g->tx[i] = calloc(1, sizeof *g->tx[i]))) {
			perror("calloc");
			return -1;
		}
	}
	/* calloc: pages are touched only as slots are first used. */
	g->regs = calloc(g->max_inflight, sizeof *g->regs);
	g->ha1 = calloc(g->users, sizeof *g->ha1);
	if (!g->regs || !g->ha1) {
		perror("calloc");
		return -1;
	}
	g->free_head = NIL;
	for (unsigned i = 0; i < WHEEL; i++)
		g->wheel[i] = NIL;
	g->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	g->ctx = EVP_MD_CTX_new();
	if (!g->md5 || !g->ctx) {
		fprintf(stderr, "OpenSSL: no MD5\n");
		return -1;
	}
	char uri[300];
	int ul = snprintf(uri, sizeof uri, "sip:%s", g->domain);
	const char *p[] = {"REGISTER:", uri};
	const size_t l[] = {9, (size_t)ul};
	if (md5_hex(g, p, l, 2, g->ha2)) {
		fprintf(stderr, "OpenSSL: MD5 failed\n");
		return -1;
	}
	g->run = (uint32_t)getpid() * 2654435761u ^ (uint32_t)now_ns();
	g->c.retry_min = -1;
	return 0;
}

/*
 * The last line: every counter, "done KEY=VALUE ...". started / seconds is
 * the rate achieved; notstarted were due but never started (behind, or
 * --max-inflight); shed1 and shed2 are 503s to the first and to the
 * authenticated REGISTER; stale counts the 401s with stale=true to the
 * authenticated one (also in failed); last_answer is when the last final
 * response came; ok_window and shed_window are the 200s and 503s that had
 * come when starting stopped (at --seconds, unless stopped earlier); codes
 * counts the final responses by status.
 */
/* CPU seconds this process used, user and system. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void print_done(const struct gen *g, double t, unsigned long long lagged)
{
	const struct counters *c = &g->c;
	double cpu = cpu_s();
	printf("done t=%.3f seconds=%.3f rate=%.0f offered=%.0f started=%llu ok=%llu shed=%llu "
	       "shed1=%llu shed2=%llu failed=%llu stale=%llu timeouts=%llu unfinished=%llu "
	       "notstarted=%llu retrans=%llu sent=%llu senderr=%llu recv=%llu rxdrops=%llu "
	       "stray=%llu provisional=%llu malformed=%llu unusable=%llu last_answer=%.3f "
	       "retry_after_min=%lld retry_after_max=%lld retry_after_mean=%.1f cpu=%.3f gso=%d "
	       "ok_window=%llu shed_window=%llu codes=",
	       t, g->seconds, g->rate, c->started / g->seconds, c->started, c->ok, c->shed,
	       c->shed1, c->shed2, c->failed, c->stale, c->timeouts, c->unfinished, lagged,
	       c->retrans, c->sent, c->senderr, c->recvd, rx_drops(g), c->stray, c->provisional,
	       c->malformed, c->unusable, g->last_answer_ms / 1e3, c->retry_min, c->retry_max,
	       c->shed ? (double)c->retry_sum / (double)c->shed : 0.0, cpu, g->gso, g->ok_window,
	       g->shed_window);
	bool any = false;
	for (int i = 0; i < CODES; i++) {
		if (c->codes[i]) {
			printf("%s%d:%llu", any ? "," : "", i, c->codes[i]);
			any = true;
		}
	}
	printf("%s\n", any ? "" : "-");
	fflush(stdout);
}

static void usage(const char *me)
{
	fprintf(stderr, "usage: %s --port PBX_PORT --rate R --seconds S\n", me);
	fputs("  [--users-from 3000] [--users 1000] [--password benchpw1]\n"
	      "  [--domain bench.local] [--local-port 0] [--sockets 1] [--timeout 10]\n"
	      "  [--max-inflight 1048576] [--expires 3600] [--wall S+timeout+5] [--no-gso]\n",
	      stderr);
}

int main(int argc, char **argv)
{
	static struct gen g;
	unsigned pbx_port = 0, local_port = 0;
	double timeout_s = 10;
	bool no_gso = false;
	g.users_from = 3000;
	g.users = 1000;
	g.nsocks = 1;
	g.expires = 3600;
	g.max_inflight = 1u << 20;
	g.password = "benchpw1";
	g.domain = "bench.local";
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"rate", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"users-from", required_argument, NULL, 'f'},
		{"users", required_argument, NULL, 'u'},
		{"password", required_argument, NULL, 'P'},
		{"domain", required_argument, NULL, 'd'},
		{"local-port", required_argument, NULL, 'l'},
		{"sockets", required_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 't'},
		{"max-inflight", required_argument, NULL, 'm'},
		{"expires", required_argument, NULL, 'e'},
		{"wall", required_argument, NULL, 'w'},
		{"no-gso", no_argument, NULL, 'G'},
		{NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': pbx_port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': g.rate = atof(optarg); break;
		case 's': g.seconds = atof(optarg); break;
		case 'f': g.users_from = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'u': g.users = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': g.password = optarg; break;
		case 'd': g.domain = optarg; break;
		case 'l': local_port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'k': g.nsocks = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': timeout_s = atof(optarg); break;
		case 'm': g.max_inflight = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'e': g.expires = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': g.wall = atof(optarg); break;
		case 'G': no_gso = true; break;
		default: usage(argv[0]); return 2;
		}
	}
	if (optind != argc || !pbx_port || pbx_port > 65535 || local_port > 65535 ||
	    !(g.rate > 0) || !(g.seconds > 0) || !g.users || !g.nsocks || g.nsocks > MAX_SOCKS ||
	    !(timeout_s >= 0.5) || timeout_s * 1000 >= WHEEL || !g.max_inflight ||
	    g.max_inflight >= NIL || strlen(g.domain) > 200 || strlen(g.password) > 200) {
		usage(argv[0]);
		return 2;
	}
	g.timeout_ms = (unsigned)(timeout_s * 1000);
	if (!(g.wall > 0))
		g.wall = g.seconds + timeout_s + 5;
	if (setup(&g, pbx_port, local_port, no_gso))
		return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	/* Registration k is due at k / rate s; all of them by the end of the window. */
	unsigned long long total = (unsigned long long)(g.rate * g.seconds);
	if (!total)
		total = 1;
	int64_t t0 = now_ns(), window = (int64_t)(g.seconds * 1e9), wall = (int64_t)(g.wall * 1e9);
	int64_t next_report = 1000000000LL, lag_max = 0;
	unsigned long long lagged = 0;
	bool starting = true;
	printf("start rate=%.0f seconds=%.3f users=%u sockets=%u port=%u timeout_ms=%u gso=%d\n",
	       g.rate, g.seconds, g.users, g.nsocks, g.lport[0], g.timeout_ms, g.gso);
	fflush(stdout);
	int64_t tick = 0; /* ns since t0 of the turn to run */
	while (!stop) {
		/* A turn a millisecond: read, start what is due, run timers, send. */
		struct timespec ts = {.tv_sec = (t0 + tick) / 1000000000LL,
				      .tv_nsec = (t0 + tick) % 1000000000LL};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
			;
		int64_t el = now_ns() - t0, now_ms = el / 1000000;
		if (el >= wall)
			break;
		recv_all(&g, now_ms);
		unsigned long long want = 0;
		if (starting) {
			if (el >= window) {
				want = total;
				starting = false;
			} else {
				want = (unsigned long long)((double)el * 1e-9 * g.rate) + 1;
				if (want > total)
					want = total;
			}
			while (g.c.started < want && reg_start(&g, now_ms))
				;
			if (!starting) {
				lagged = total - g.c.started;
				g.ok_window = g.c.ok;
				g.shed_window = g.c.shed;
			}
		}
		/* Registrations started together retransmit together: a burst is
		 * sent in parts, with the answers read in between, so that they
		 * do not overflow the socket meanwhile. */
		while (timers_run(&g, now_ms, TIMER_BURST)) {
			for (unsigned s = 0; s < g.nsocks; s++)
				flush(&g, s);
			recv_all(&g, now_ms);
		}
		for (unsigned s = 0; s < g.nsocks; s++)
			flush(&g, s);
		int64_t end = now_ns() - t0;
		if (end - tick > lag_max)
			lag_max = end - tick;
		if (el >= next_report) {
			printf("t=%.3f started=%llu ok=%llu shed=%llu failed=%llu timeouts=%llu "
			       "retrans=%llu inflight=%u lag=%llu lag_max_us=%lld rxdrops=%llu "
			       "cpu=%.3f\n",
			       el / 1e9, g.c.started, g.c.ok, g.c.shed, g.c.failed, g.c.timeouts,
			       g.c.retrans, g.inflight, starting ? want - g.c.started : lagged,
			       (long long)(lag_max / 1000), rx_drops(&g), cpu_s());
			fflush(stdout);
			lag_max = 0;
			while (next_report <= el)
				next_report += 1000000000LL;
		}
		if (!starting && !g.inflight)
			break;
		/* Behind by more than a turn: the next one at once, the starts catch up. */
		tick += 1000000LL;
		if (tick < end - 1000000LL)
			tick = end - end % 1000000LL;
	}
	if (g.c.started < total && starting)
		lagged = total - g.c.started;
	g.c.unfinished = g.inflight;
	print_done(&g, (now_ns() - t0) / 1e9, lagged);
	return 0;
}
