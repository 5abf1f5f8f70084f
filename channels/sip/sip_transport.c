/**
 * @file sip_transport.c  UDP, TCP and TLS transports on libuv
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * UDP: one socket per listen address. Sent with uv_udp_try_send, falling
 * back to a queued send only when the socket buffer is full; the responses
 * made while a received batch is handed up leave together (sendmmsg). Read with
 * recvmmsg in batches of UDP_BATCH on a second descriptor of the same
 * socket (libuv's UDP reader has no control messages), each datagram with
 * the kernel's receive time (SO_TIMESTAMPNS), so the stack knows how long
 * it waited (sip_overload.h); a batch is parsed in place in its own
 * buffers, and what continues work already started is handed up first. TCP: accepted and outgoing connections, each framed by
 * Content-Length (RFC 3261 18.3) with its own bounded buffer, so a slow or
 * half-sent peer costs only its own buffer and never blocks the loop. TLS:
 * the same connections with an OpenSSL session on memory BIOs between the
 * socket and the framing (sip_tls.c); a handshake has HANDSHAKE_TIMEOUT_MS
 * to finish, so a stalled or hostile client holds one connection at most.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "pbx/config.h"
#include "sip_config.h"
#include "pbx/log.h"
#include "sip_tls.h"
#include "sip_transport.h"

/* A partial message may sit in a connection buffer this long. */
#define PARTIAL_TIMEOUT_MS 32000
/* TLS clients get this long from accept to a finished handshake. */
#define HANDSHAKE_TIMEOUT_MS 10000
/* Once a second: the handshake deadline needs the resolution; a pass over
 * the connection list is cheap next to the messages they carry. */
#define IDLE_CHECK_MS  1000
#define MAX_QUEUED_OUT (1u << 20) /* per connection, then it is dropped */
/* Datagrams taken per recvmmsg, and batches per readable event before the
 * loop gets a turn for timers and streams (libuv polls level-triggered:
 * what is left wakes us again). */
#define UDP_BATCH  16
#define UDP_ROUNDS 8
/* Responses made while a batch is handed up leave together in one
 * sendmmsg: under overload most of them are 401s and 503s, and a system
 * call each was a tenth of the signalling thread's time. Longer ones go
 * at once. */
#define UDP_OUT      32
#define UDP_OUT_SIZE 1500
/* A kernel stamp further off than this is a clock step, not a wait. */
#define MAX_PLAUSIBLE_WAIT_US 30000000

struct listener {
	struct sip_transport *t;
	struct pbx_listen cfg;
	union {
		uv_udp_t udp;
		uv_tcp_t tcp;
		uv_handle_t h;
	} u;
	uv_poll_t rpoll; /* UDP: readable, on rfd */
	int rfd;         /* UDP: dup() of the socket, read with recvmmsg; -1 without */
	char local[80];  /* "host:port" as bound */
};

/* Responses waiting for the end of the batch being handed up. */
struct udp_out {
	struct listener *l[UDP_OUT];
	struct sockaddr_storage to[UDP_OUT];
	struct iovec iov[UDP_OUT];
	struct mmsghdr mm[UDP_OUT];
	char data[UDP_OUT][UDP_OUT_SIZE];
	int n;
	bool open; /* a batch is being handed up */
};

/* One batch of datagrams: the signalling thread reads one at a time. */
struct udp_batch {
	struct udp_out out;
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl[UDP_BATCH];
	struct sip_msg msg[UDP_BATCH];
	bool first[UDP_BATCH]; /* handed up in the first pass */
	char data[UDP_BATCH][65536 + 1];
};

struct conn {
	struct sip_transport *t;
	uv_tcp_t tcp;
	uint32_t id;
	struct conn *next; /* in the transport's list */
	struct sip_peer peer;
	bool connected; /* outgoing connections: connect finished */
	bool closing;
	unsigned holds;         /* bindings that route through it */
	uint64_t last_rx;       /* uv_now ms */
	uint64_t partial_since; /* 0 when the buffer holds no partial message */
	char *buf;
	size_t len, cap;
	struct pending *pending; /* messages queued while connecting */
	uv_connect_t creq;
	struct ssl_st *ssl; /* TLS connections only */
	uint64_t hs_since;  /* TLS: accepted at, until the handshake is done */
};

struct pending {
	struct pending *next;
	size_t len;
	char data[];
};

struct sip_transport {
	uv_loop_t *loop;
	const struct sip_config *cfg;
	struct sip_transport_ops ops;
	void *arg;
	struct listener *ls;
	int nls;
	struct conn *conns;
	unsigned nconns;
	uint32_t next_id;
	bool debug;
	bool freeing;
	unsigned closes; /* handles still closing after sip_transport_free */
	uv_timer_t idle;
	struct ssl_ctx_st *tls;  /* when a tls: listener is configured */
	struct udp_batch *batch; /* when a udp: listener is configured */
	char rxbuf[65536 + 1];   /* TLS ciphertext on its way into OpenSSL */
};

char *sip_peer_str(const struct sip_peer *p, char *buf, size_t len)
{
	char a[64];
	snprintf(buf, len, "%s:%s", pbx_transport_name(p->tp),
		 pbx_sa_str((const struct sockaddr *)&p->addr, a, sizeof a));
	return buf;
}

static void trace(struct sip_transport *t, bool in, const struct sip_peer *p, const char *buf,
		  size_t len)
{
	char a[96];
	int n = (int)(len > 16384 ? 16384 : len);
	/* Logged at notice so `sip set debug on` shows with the default level. */
	pbx_notice("<--- SIP %s %zu bytes %s %s --->\n%.*s", in ? "received" : "sent", len,
		   in ? "from" : "to", sip_peer_str(p, a, sizeof a), n, buf);
}

void sip_transport_set_debug(struct sip_transport *t, bool on)
{
	t->debug = on;
}

/*
 * Parse one message (datagram or framed stream unit) into @p m. False when
 * it goes no further: not admitted, or bad (answered through recv_bad).
 */
static bool parse_in(struct sip_transport *t, struct sip_msg *m, char *buf, size_t len,
		     const struct sip_peer *src)
{
	const char *reason = NULL;
	if (t->ops.admit && !t->ops.admit(t->arg, src))
		return false;
	if (t->debug)
		trace(t, true, src, buf, len);
	int err = sip_msg_parse(m, buf, len, &reason);
	if (!err && m->len > (size_t)t->cfg->max_message_size) {
		err = EMSGSIZE;
		reason = "Message Too Large";
	}
	if (err) {
		char a[96];
		pbx_debug("sip: bad message from %s: %s", sip_peer_str(src, a, sizeof a),
			  reason ? reason : strerror(err));
		if (t->ops.recv_bad)
			t->ops.recv_bad(t->arg, m, err, reason ? reason : "Bad Request", src);
		return false;
	}
	return true;
}

/* ---- UDP ------------------------------------------------------------------ */

static uint32_t waited_us(const struct msghdr *h, const struct timespec *now)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_TIMESTAMPNS)
			continue;
		struct timespec at;
		memcpy(&at, CMSG_DATA(c), sizeof at);
		int64_t us = ((int64_t)now->tv_sec - at.tv_sec) * 1000000 +
			     (now->tv_nsec - at.tv_nsec) / 1000;
		if (us < 0 || us > MAX_PLAUSIBLE_WAIT_US)
			return SIP_WAIT_UNKNOWN;
		return (uint32_t)us;
	}
	return SIP_WAIT_UNKNOWN;
}

static void udp_hand_up(struct listener *l, int n, const struct timespec *now, bool first)
{
	struct sip_transport *t = l->t;
	struct udp_batch *b = t->batch;
	for (int i = 0; i < n; i++) {
		if (!b->msg[i].buf || b->first[i] != first)
			continue;
		struct sip_peer src = {.tp = PBX_TP_UDP};
		memcpy(&src.addr, &b->from[i], sizeof src.addr);
		t->ops.recv(t->arg, &b->msg[i], &src, waited_us(&b->mm[i].msg_hdr, now));
	}
}

static void udp_flush(struct sip_transport *t);

static void udp_readable(uv_poll_t *p, int status, int events)
{
	struct listener *l = p->data;
	struct sip_transport *t = l->t;
	struct udp_batch *b = t->batch;
	if (status < 0)
		return;
	for (int round = 0; round < UDP_ROUNDS; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			b->iov[i] = (struct iovec){b->data[i], sizeof b->data[i] - 1};
			b->mm[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
							   .msg_namelen = sizeof b->from[i],
							   .msg_iov = &b->iov[i],
							   .msg_iovlen = 1,
							   .msg_control = b->ctl[i].buf,
							   .msg_controllen = sizeof b->ctl[i].buf};
		}
		int n = recvmmsg(l->rfd, b->mm, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* EAGAIN: drained; errors (ICMP) are not ours to handle */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now); /* the clock of SO_TIMESTAMPNS */
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &b->mm[i].msg_hdr;
			size_t len = b->mm[i].msg_len;
			char *data = b->data[i];
			b->msg[i].buf = NULL; /* not handed up */
			if (h->msg_flags & MSG_TRUNC) {
				pbx_debug("sip: truncated datagram dropped");
				continue;
			}
			data[len] = '\0';
			/* RFC 5626 keep-alive over UDP is a bare CRLF (or STUN). */
			if (len <= 4 && strspn(data, "\r\n") == len)
				continue;
			struct sip_peer src = {.tp = PBX_TP_UDP};
			memcpy(&src.addr, &b->from[i], sizeof src.addr);
			if (!parse_in(t, &b->msg[i], data, len, &src)) {
				b->msg[i].buf = NULL;
				continue;
			}
			b->first[i] = sip_msg_continues_work(&b->msg[i]) ||
				      sip_msg_answers_challenge(&b->msg[i]);
		}
		b->out.open = true;
		udp_hand_up(l, n, &now, true);
		udp_hand_up(l, n, &now, false);
		b->out.open = false;
		udp_flush(t);
		if (n < UDP_BATCH)
			return;
	}
}

struct udp_send_req {
	uv_udp_send_t req;
	char data[];
};

static void udp_sent(uv_udp_send_t *req, int status)
{
	free(req);
}

static struct listener *find_listener(struct sip_transport *t, enum pbx_transport tp, int family)
{
	struct listener *any = NULL;
	for (int i = 0; i < t->nls; i++) {
		if (t->ls[i].cfg.tp != tp)
			continue;
		if (t->ls[i].cfg.addr.ss_family == family)
			return &t->ls[i];
		if (!any)
			any = &t->ls[i];
	}
	return any;
}

static int udp_send_now(struct listener *l, const struct sockaddr_storage *dst, const char *buf,
			size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_udp_try_send(&l->u.udp, &b, 1, (const struct sockaddr *)dst);
	if (rc == (int)len)
		return 0;
	if (rc != UV_EAGAIN)
		return rc < 0 ? -rc : EIO;
	struct udp_send_req *r = malloc(sizeof *r + len);
	if (!r)
		return ENOMEM;
	memcpy(r->data, buf, len);
	b = uv_buf_init(r->data, (unsigned)len);
	rc = uv_udp_send(&r->req, &l->u.udp, &b, 1, (const struct sockaddr *)dst, udp_sent);
	if (rc) {
		free(r);
		return -rc;
	}
	return 0;
}

/* Send what waits in t->batch->out, in order; what the kernel does not take at once
 * goes one by one as any other datagram. */
static void udp_flush(struct sip_transport *t)
{
	struct udp_out *o = &t->batch->out;
	for (int i = 0, j; i < o->n; i = j) {
		for (j = i; j < o->n && o->l[j] == o->l[i]; j++)
			o->mm[j].msg_hdr = (struct msghdr){
				.msg_name = &o->to[j],
				.msg_namelen = o->to[j].ss_family == AF_INET
						       ? sizeof(struct sockaddr_in)
						       : sizeof(struct sockaddr_in6),
				.msg_iov = &o->iov[j],
				.msg_iovlen = 1};
		int sent = sendmmsg(o->l[i]->rfd, &o->mm[i], (unsigned)(j - i), MSG_DONTWAIT);
		for (int k = i + (sent > 0 ? sent : 0); k < j; k++)
			udp_send_now(o->l[k], &o->to[k], o->data[k], o->iov[k].iov_len);
	}
	o->n = 0;
}

static int udp_send(struct sip_transport *t, const struct sip_peer *dst, const char *buf,
		    size_t len)
{
	struct listener *l = find_listener(t, PBX_TP_UDP, dst->addr.ss_family);
	if (!l || l->cfg.addr.ss_family != dst->addr.ss_family)
		return EAFNOSUPPORT;
	struct udp_out *o = t->batch ? &t->batch->out : NULL;
	/* Only responses wait: a request's send error must reach its transaction now. */
	if (o && o->open && len <= UDP_OUT_SIZE && len > 8 && !memcmp(buf, "SIP/2.0 ", 8)) {
		if (o->n == UDP_OUT)
			udp_flush(t);
		o->l[o->n] = l;
		o->to[o->n] = dst->addr;
		memcpy(o->data[o->n], buf, len);
		o->iov[o->n] = (struct iovec){o->data[o->n], len};
		o->n++;
		return 0;
	}
	if (o && o->n)
		udp_flush(t); /* what waits goes first */
	return udp_send_now(l, &dst->addr, buf, len);
}

/* ---- TCP connections ------------------------------------------------------ */

/* Every handle's close callback ends here; the last one frees the transport. */
static void transport_close_done(struct sip_transport *t)
{
	if (t->freeing && --t->closes == 0) {
		free(t->batch);
		free(t->ls);
		free(t);
	}
}

static void handle_closed(uv_handle_t *h)
{
	transport_close_done(h->data);
}

static void rpoll_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	close(l->rfd);
	transport_close_done(l->t);
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct sip_transport *t = c->t;
	for (struct conn **pp = &t->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	t->nconns--;
	while (c->pending) {
		struct pending *p = c->pending;
		c->pending = p->next;
		free(p);
	}
	sip_tls_free(c->ssl);
	free(c->buf);
	free(c);
	transport_close_done(t);
}

static void conn_close(struct conn *c, const char *why)
{
	char a[96];
	if (c->closing)
		return;
	c->closing = true;
	if (c->t->freeing)
		c->t->closes++;
	pbx_debug("sip: closing %s (conn %u): %s", sip_peer_str(&c->peer, a, sizeof a), c->id, why);
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static struct conn *conn_new(struct sip_transport *t, enum pbx_transport tp)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->t = t;
	c->id = ++t->next_id ? t->next_id : ++t->next_id; /* 0 means "no connection" */
	c->peer.tp = tp;
	c->peer.conn = c->id;
	c->last_rx = uv_now(t->loop);
	uv_tcp_init(t->loop, &c->tcp);
	c->tcp.data = c;
	c->next = t->conns;
	t->conns = c;
	t->nconns++;
	return c;
}

static struct conn *conn_by_id(struct sip_transport *t, uint32_t id)
{
	/* Linear in open connections; a hash is the next step when phones on
	 * TCP number in the thousands. */
	for (struct conn *c = t->conns; c; c = c->next)
		if (c->id == id && !c->closing)
			return c;
	return NULL;
}

static struct conn *conn_by_addr(struct sip_transport *t, const struct sip_peer *p)
{
	socklen_t sl = pbx_sa_len((const struct sockaddr *)&p->addr);
	for (struct conn *c = t->conns; c; c = c->next)
		if (!c->closing && c->peer.tp == p->tp && !memcmp(&c->peer.addr, &p->addr, sl))
			return c;
	return NULL;
}

bool sip_transport_conn_alive(struct sip_transport *t, uint32_t conn)
{
	return conn_by_id(t, conn) != NULL;
}

void sip_transport_conn_hold(struct sip_transport *t, uint32_t conn, bool hold)
{
	struct conn *c = conn_by_id(t, conn);
	if (!c)
		return;
	if (hold)
		c->holds++;
	else if (c->holds)
		c->holds--;
}

/* Grow the framing buffer while it is nearly full, up to the message limit. */
static void conn_reserve(struct conn *c)
{
	size_t max = (size_t)c->t->cfg->max_message_size + 1024;
	if (c->cap - c->len < 4096 && c->cap < max) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		if (cap > max)
			cap = max;
		char *nb = realloc(c->buf, cap + 1);
		if (nb) {
			c->buf = nb;
			c->cap = cap;
		}
	}
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	if (c->ssl) {
		/* Ciphertext goes straight into OpenSSL's input BIO in conn_read. */
		buf->base = c->t->rxbuf;
		buf->len = sizeof c->t->rxbuf - 1;
		return;
	}
	conn_reserve(c);
	buf->base = c->buf ? c->buf + c->len : NULL;
	buf->len = c->buf ? c->cap - c->len : 0;
}

static int conn_write(struct conn *c, const char *buf, size_t len);

/* Frame and deliver every complete unit in the buffer; keep the rest. */
static void conn_frame(struct conn *c)
{
	struct sip_transport *t = c->t;
	size_t off = 0;
	while (off < c->len && !c->closing) {
		size_t n = 0;
		int err = sip_msg_frame(c->buf + off, c->len - off,
					(size_t)t->cfg->max_message_size, &n);
		if (err == EAGAIN)
			break;
		if (err) {
			conn_close(c, err == EMSGSIZE ? "message too large" : "garbage on stream");
			return;
		}
		char *unit = c->buf + off;
		off += n;
		if (sip_msg_is_ping(unit, n)) {
			conn_write(c, "\r\n", 2); /* RFC 5626 3.5.1 pong */
			continue;
		}
		if (sip_msg_is_keepalive(unit, n))
			continue;
		/* The parser wants a NUL after the unit for safety of C-string
		 * helpers; save the byte it overwrites. */
		char saved = unit[n];
		unit[n] = '\0';
		struct sip_msg m;
		if (parse_in(t, &m, unit, n, &c->peer))
			t->ops.recv(t->arg, &m, &c->peer, SIP_WAIT_UNKNOWN);
		unit[n] = saved;
	}
	if (c->closing)
		return;
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	c->partial_since = c->len ? (c->partial_since ? c->partial_since : uv_now(t->loop)) : 0;
	if (c->len == c->cap && c->cap >= (size_t)t->cfg->max_message_size + 1024)
		conn_close(c, "message too large");
}

static int raw_write(struct conn *c, const char *buf, size_t len);

/* Send whatever OpenSSL has encrypted (records, handshake, alerts). */
static int tls_flush(struct conn *c)
{
	char out[16384 + 512];
	size_t n;
	int err = 0;
	while (!err && (n = sip_tls_drain(c->ssl, out, sizeof out)))
		err = raw_write(c, out, n);
	return err;
}

static void tls_read(struct conn *c, const char *in, size_t len)
{
	char a[96], why[256] = "";
	if (sip_tls_feed(c->ssl, in, len)) {
		conn_close(c, "out of memory");
		return;
	}
	if (!sip_tls_handshake_done(c->ssl)) {
		int err = sip_tls_handshake(c->ssl, why, sizeof why);
		/* Alerts go out too, so the client learns why. */
		tls_flush(c);
		if (err == EAGAIN || c->closing)
			return;
		if (err) {
			pbx_warning("sip: TLS handshake with %s failed: %s",
				    sip_peer_str(&c->peer, a, sizeof a), why);
			conn_close(c, "TLS handshake failed");
			return;
		}
		c->hs_since = 0;
		pbx_debug("sip: TLS %s with %s (conn %u)", sip_tls_version(c->ssl),
			  sip_peer_str(&c->peer, a, sizeof a), c->id);
		/* Anything queued while the handshake ran goes out now. */
		while (c->pending && !c->closing) {
			struct pending *p = c->pending;
			c->pending = p->next;
			conn_write(c, p->data, p->len);
			free(p);
		}
	}
	while (!c->closing) {
		conn_reserve(c);
		if (c->cap == c->len) {
			conn_close(c, "message too large");
			return;
		}
		ssize_t n = sip_tls_read(c->ssl, c->buf + c->len, c->cap - c->len);
		if (n == 0)
			break;
		if (n < 0) {
			conn_close(c, n == -ECONNRESET ? "closed by peer" : "TLS record error");
			return;
		}
		c->len += (size_t)n;
		conn_frame(c);
	}
	/* A TLS 1.3 key update or a close_notify may leave a record to send. */
	if (!c->closing)
		tls_flush(c);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;
	char a[96];
	if (nread < 0) {
		if (c->ssl && c->hs_since)
			pbx_notice("sip: TLS handshake with %s not completed: %s",
				   sip_peer_str(&c->peer, a, sizeof a),
				   nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
		conn_close(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	c->last_rx = uv_now(c->t->loop);
	if (c->ssl) {
		tls_read(c, b->base, (size_t)nread);
		return;
	}
	c->len += (size_t)nread;
	conn_frame(c);
}

struct tcp_write_req {
	uv_write_t req;
	char data[];
};

static void tcp_written(uv_write_t *req, int status)
{
	free(req);
}

static int conn_write(struct conn *c, const char *buf, size_t len)
{
	if (c->closing)
		return ENOTCONN;
	if (!c->connected || (c->ssl && !sip_tls_handshake_done(c->ssl))) {
		struct pending *p = malloc(sizeof *p + len), **pp = &c->pending;
		if (!p)
			return ENOMEM;
		p->next = NULL;
		p->len = len;
		memcpy(p->data, buf, len);
		while (*pp)
			pp = &(*pp)->next;
		*pp = p;
		return 0;
	}
	if (c->ssl) {
		if (sip_tls_write(c->ssl, buf, len)) {
			conn_close(c, "TLS write failed");
			return ENOTCONN;
		}
		return tls_flush(c);
	}
	return raw_write(c, buf, len);
}

/* Bytes onto the socket: at once when it takes them, else queued. */
static int raw_write(struct conn *c, const char *buf, size_t len)
{
	if (c->closing)
		return ENOTCONN;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp)
			 ? UV_EAGAIN
			 : uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (rc == (int)len)
		return 0;
	if (rc < 0 && rc != UV_EAGAIN) {
		conn_close(c, uv_strerror(rc));
		return ENOTCONN;
	}
	size_t done = rc > 0 ? (size_t)rc : 0;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_QUEUED_OUT) {
		conn_close(c, "peer does not read");
		return ENOBUFS;
	}
	struct tcp_write_req *r = malloc(sizeof *r + len - done);
	if (!r)
		return ENOMEM;
	memcpy(r->data, buf + done, len - done);
	b = uv_buf_init(r->data, (unsigned)(len - done));
	if ((rc = uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, tcp_written))) {
		free(r);
		conn_close(c, uv_strerror(rc));
		return ENOTCONN;
	}
	return 0;
}

static void conn_start(struct conn *c)
{
	c->connected = true;
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
	while (c->pending && !c->closing) {
		struct pending *p = c->pending;
		c->pending = p->next;
		conn_write(c, p->data, p->len);
		free(p);
	}
}

static void tcp_accept(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	if (status < 0)
		return;
	struct conn *c = conn_new(l->t, l->cfg.tp);
	if (!c)
		return;
	int len = sizeof c->peer.addr;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) ||
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer.addr, &len)) {
		conn_close(c, "accept failed");
		return;
	}
	if (l->cfg.tp == PBX_TP_TLS) {
		if (sip_tls_accept_alloc(&c->ssl, l->t->tls)) {
			conn_close(c, "out of memory");
			return;
		}
		c->hs_since = uv_now(l->t->loop);
	}
	conn_start(c);
}

static void tcp_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	conn_start(c);
}

static int tcp_send(struct sip_transport *t, const struct sip_peer *dst, const char *buf,
		    size_t len)
{
	struct conn *c = dst->conn ? conn_by_id(t, dst->conn) : NULL;
	if (!c)
		c = conn_by_addr(t, dst);
	if (!c) {
		/* TLS needs the phone's own connection; TCP may open a new one. */
		if (dst->tp != PBX_TP_TCP)
			return ENOTCONN;
		c = conn_new(t, dst->tp);
		if (!c)
			return ENOMEM;
		memcpy(&c->peer.addr, &dst->addr, sizeof dst->addr);
		c->creq.data = c;
		int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&dst->addr,
					tcp_connected);
		if (rc) {
			conn_close(c, uv_strerror(rc));
			return -rc;
		}
	}
	return conn_write(c, buf, len);
}

/* Idle connections without a binding are closed; so are stalled partial messages. */
static void idle_check(uv_timer_t *h)
{
	struct sip_transport *t = h->data;
	uint64_t now = uv_now(t->loop), idle = (uint64_t)t->cfg->tcp_idle_timeout * 1000;
	for (struct conn *c = t->conns; c; c = c->next) {
		if (c->closing)
			continue;
		if (c->hs_since && now - c->hs_since > HANDSHAKE_TIMEOUT_MS) {
			char a[96];
			pbx_warning("sip: TLS handshake with %s timed out after %d s",
				    sip_peer_str(&c->peer, a, sizeof a),
				    HANDSHAKE_TIMEOUT_MS / 1000);
			conn_close(c, "TLS handshake timeout");
		} else if (c->partial_since && now - c->partial_since > PARTIAL_TIMEOUT_MS)
			conn_close(c, "partial message stalled");
		else if (!c->holds && now - c->last_rx > idle)
			conn_close(c, "idle");
	}
}

/* ---- public ----------------------------------------------------------------- */

int sip_transport_send(struct sip_transport *t, const struct sip_peer *dst, const char *buf,
		       size_t len)
{
	if (t->debug)
		trace(t, false, dst, buf, len);
	if (dst->tp == PBX_TP_UDP)
		return udp_send(t, dst, buf, len);
	return tcp_send(t, dst, buf, len);
}

int sip_transport_local(struct sip_transport *t, const struct sip_peer *dst, char *buf, size_t len)
{
	struct listener *l = find_listener(t, dst->tp, dst->addr.ss_family);
	if (!l)
		return EAFNOSUPPORT;
	struct sockaddr_storage ss = l->cfg.addr;
	bool wildcard = ss.ss_family == AF_INET
				? ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)
				: IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
	if (wildcard && dst->addr.ss_family == ss.ss_family) {
		/* Ask the kernel which source address it would route from. */
		int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_storage me;
		socklen_t ml = sizeof me;
		if (fd >= 0 &&
		    !connect(fd, (const struct sockaddr *)&dst->addr,
			     pbx_sa_len((const struct sockaddr *)&dst->addr)) &&
		    !getsockname(fd, (struct sockaddr *)&me, &ml)) {
			int port = pbx_sa_port((struct sockaddr *)&l->cfg.addr);
			if (me.ss_family == AF_INET)
				((struct sockaddr_in *)&me)->sin_port = htons((uint16_t)port);
			else
				((struct sockaddr_in6 *)&me)->sin6_port = htons((uint16_t)port);
			ss = me;
		}
		if (fd >= 0)
			close(fd);
	}
	pbx_sa_str((struct sockaddr *)&ss, buf, len);
	return 0;
}

/* Size the receive buffer as configured: past net.core.rmem_max only with
 * CAP_NET_ADMIN (SO_RCVBUFFORCE); said once when the kernel gives less. */
static void udp_size_buffers(struct listener *l, int fd, const char *text)
{
	int want = l->t->cfg->udp_receive_buffer, got = 0;
	socklen_t len = sizeof got;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
	/* Linux reports twice what was asked (it counts its bookkeeping). */
	if (!getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) && got / 2 < want)
		pbx_warning("sip: %s: receive buffer is %d bytes, not sip.udp_receive_buffer %d "
			    "(raise net.core.rmem_max or run with CAP_NET_ADMIN)",
			    text, got / 2, want);
	int size = 4 << 20; /* bursts of answers to many phones */
	uv_send_buffer_size((uv_handle_t *)&l->u.udp, &size);
}

/* Reading goes through a second descriptor of the bound socket, so that
 * libuv's handle keeps the writes (and their queue) to itself. */
static int udp_reader_start(struct sip_transport *t, struct listener *l, const char *text)
{
	uv_os_fd_t fd;
	int on = 1, rc = uv_fileno(&l->u.h, &fd);
	if (rc)
		return rc;
	if (!t->batch && !(t->batch = malloc(sizeof *t->batch)))
		return UV_ENOMEM;
	udp_size_buffers(l, fd, text);
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on))
		pbx_warning("sip: no receive timestamps (%s): overload is not measured",
			    strerror(errno));
	if ((l->rfd = dup(fd)) < 0)
		return uv_translate_sys_error(errno);
	if ((rc = uv_poll_init(t->loop, &l->rpoll, l->rfd))) {
		close(l->rfd);
		l->rfd = -1;
		return rc;
	}
	l->rpoll.data = l;
	return uv_poll_start(&l->rpoll, UV_READABLE, udp_readable);
}

static int listener_start(struct sip_transport *t, struct listener *l)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->cfg.addr;
	char text[80];
	int rc;
	pbx_listen_str(&l->cfg, text, sizeof text);
	l->t = t;
	l->rfd = -1;
	if (l->cfg.tp == PBX_TP_UDP) {
		uv_udp_init(t->loop, &l->u.udp);
		l->u.udp.data = l;
		rc = uv_udp_bind(&l->u.udp, sa, sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
		if (!rc)
			rc = udp_reader_start(t, l, text);
	} else if (l->cfg.tp == PBX_TP_TCP || l->cfg.tp == PBX_TP_TLS) {
		uv_tcp_init(t->loop, &l->u.tcp);
		l->u.tcp.data = l;
		rc = uv_tcp_bind(&l->u.tcp, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
		if (!rc)
			rc = uv_listen((uv_stream_t *)&l->u.tcp, 511, tcp_accept);
	} else {
		pbx_error("sip: %s: transport not built yet", text);
		return EPROTONOSUPPORT;
	}
	if (rc) {
		/* The handle is initialised: the caller counts it in and closes it. */
		pbx_error("sip: cannot listen on %s: %s", text, uv_strerror(rc));
		return EADDRINUSE;
	}
	pbx_sa_str(sa, l->local, sizeof l->local);
	pbx_notice("sip: listening on %s", text);
	return 0;
}

int sip_transport_alloc(struct sip_transport **tp, struct uv_loop_s *loop,
			const struct sip_config *cfg, const char *state_dir,
			const struct sip_transport_ops *ops, void *arg)
{
	struct sip_transport *t = calloc(1, sizeof *t);
	if (!t)
		return ENOMEM;
	t->loop = loop;
	t->cfg = cfg;
	t->ops = *ops;
	t->arg = arg;
	t->ls = calloc((size_t)cfg->n_listen, sizeof *t->ls);
	if (!t->ls) {
		free(t);
		return ENOMEM;
	}
	uv_timer_init(loop, &t->idle);
	t->idle.data = t;
	for (int i = 0; i < cfg->n_listen; i++) {
		if (cfg->listen[i].tp != PBX_TP_TLS)
			continue;
		int err = sip_tls_ctx_alloc(&t->tls, cfg, state_dir);
		if (err) {
			t->nls = 0;
			sip_transport_free(t);
			return err;
		}
		break;
	}
	for (int i = 0; i < cfg->n_listen; i++) {
		t->ls[i].cfg = cfg->listen[i];
		int err = listener_start(t, &t->ls[i]);
		if (err) {
			t->nls = i + (err == EADDRINUSE); /* handles initialised so far */
			sip_transport_free(t);
			return err;
		}
	}
	t->nls = cfg->n_listen;
	uv_timer_start(&t->idle, idle_check, IDLE_CHECK_MS, IDLE_CHECK_MS);
	*tp = t;
	return 0;
}

void sip_transport_free(struct sip_transport *t)
{
	if (!t)
		return;
	t->freeing = true;
	t->closes = 1; /* held until the end of this function */
	/* Sessions hold their own reference on the context. */
	sip_tls_ctx_free(t->tls);
	t->tls = NULL;
	for (struct conn *c = t->conns; c; c = c->next) {
		if (c->closing)
			t->closes++; /* its callback is already on the way */
		else
			conn_close(c, "stopping");
	}
	for (int i = 0; i < t->nls; i++) {
		t->ls[i].u.h.data = t;
		t->closes++;
		uv_close(&t->ls[i].u.h, handle_closed);
		if (t->ls[i].rfd >= 0) {
			t->closes++;
			uv_close((uv_handle_t *)&t->ls[i].rpoll, rpoll_closed);
		}
	}
	t->idle.data = t;
	t->closes++;
	uv_close((uv_handle_t *)&t->idle, handle_closed);
	transport_close_done(t);
}
