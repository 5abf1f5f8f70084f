/**
 * @file test_sip_tsx.c  Transactions under a simulated clock: timers, retransmissions, ACK, RFC 6026
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The clock is a struct sip_timers run step by step to each next deadline,
 * so every send is recorded with the exact millisecond it happened at; the
 * transport is a function that records bytes and destination. Messages are
 * literal text parsed with sip_msg_parse, as the transport would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_tsx.h"
#include "unit.h"

/* ---- environment --------------------------------------------------------- */

struct sent {
	char *buf;
	size_t len;
	struct sip_peer dst;
	uint64_t at;
};

struct cbrec {
	uint16_t code;
	bool has_resp;
	uint16_t status; /* resp->status */
	char totag[32];
	uint64_t at;
};

struct env {
	struct sip_timers ts;
	struct sip_tsx_layer *l;
	struct sent *sent;
	unsigned nsent, capsent;
	int send_err;        /* returned by the next sends while non-zero */
	struct cbrec cb[64]; /* client callbacks */
	unsigned ncb;
	void *timeout_tu[8]; /* stsx_timeout */
	unsigned ntimeout;
	struct sip_ctsx *abandon_in_cb; /* abandon from inside the callback */
};

static int fake_send(void *arg, const struct sip_peer *dst, const char *buf, size_t len)
{
	struct env *e = arg;
	if (e->send_err)
		return e->send_err;
	if (e->nsent == e->capsent) {
		e->capsent = e->capsent ? 2 * e->capsent : 64;
		e->sent = realloc(e->sent, e->capsent * sizeof(*e->sent));
		assert_non_null(e->sent);
	}
	struct sent *s = &e->sent[e->nsent++];
	s->buf = malloc(len + 1);
	assert_non_null(s->buf);
	memcpy(s->buf, buf, len);
	s->buf[len] = '\0';
	s->len = len;
	s->dst = *dst;
	s->at = e->ts.now;
	return 0;
}

static void fake_timeout(void *arg, void *tu)
{
	struct env *e = arg;
	assert_true(e->ntimeout < 8);
	e->timeout_tu[e->ntimeout++] = tu;
}

static const struct sip_tsx_ops ops = {fake_send, fake_timeout};

static void resp_cb(void *arg, const struct sip_msg *resp, uint16_t code)
{
	struct env *e = arg;
	struct cbrec *r;
	/* Counted always, recorded while there is room (test_many). */
	if (e->ncb++ >= 64)
		return;
	r = &e->cb[e->ncb - 1];
	memset(r, 0, sizeof(*r));
	r->code = code;
	r->at = e->ts.now;
	r->has_resp = resp != NULL;
	if (resp) {
		struct sip_addr to;
		r->status = resp->status;
		assert_int_equal(code, resp->status);
		assert_int_equal(sip_msg_to(resp, &to), 0);
		assert_int_equal(sip_pl_strcpy(to.tag, r->totag, sizeof(r->totag)), 0);
	}
	if (e->abandon_in_cb) {
		sip_ctsx_abandon(e->abandon_in_cb);
		e->abandon_in_cb = NULL;
	}
}

static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	sip_timers_init(&e->ts, 0);
	assert_int_equal(sip_tsx_layer_alloc(&e->l, &e->ts, &ops, e), 0);
	return e;
}

static void env_free(struct env *e)
{
	sip_tsx_layer_free(e->l);
	assert_int_equal(e->ts.n, 0); /* every timer cancelled */
	sip_timers_free(&e->ts);
	for (unsigned i = 0; i < e->nsent; i++)
		free(e->sent[i].buf);
	free(e->sent);
	free(e);
}

/* Advance the clock to @p t, stopping at every deadline on the way. */
static void run_to(struct env *e, uint64_t t)
{
	for (;;) {
		uint64_t next = sip_timers_next(&e->ts);
		if (next == UINT64_MAX || e->ts.now + next > t)
			break;
		sip_timers_run(&e->ts, e->ts.now + next);
	}
	sip_timers_run(&e->ts, t);
}

static struct sip_peer peer(enum pbx_transport tp, const char *ip, int port)
{
	struct sip_peer p;
	struct sockaddr_in *a = (struct sockaddr_in *)&p.addr;
	memset(&p, 0, sizeof(p));
	p.tp = tp;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	p.conn = tp == PBX_TP_UDP ? 0 : 7;
	return p;
}

static bool peer_eq(const struct sip_peer *a, const struct sip_peer *b)
{
	return a->tp == b->tp && a->conn == b->conn &&
	       !memcmp(&a->addr, &b->addr, sizeof(struct sockaddr_in));
}

/* A parsed message and its buffer. */
struct pmsg {
	char buf[4096];
	size_t len;
	struct sip_msg m;
};

static struct pmsg *pm_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct pmsg *pm_new(const char *fmt, ...)
{
	struct pmsg *p = malloc(sizeof(*p));
	const char *reason;
	va_list ap;
	int n;
	assert_non_null(p);
	va_start(ap, fmt);
	n = vsnprintf(p->buf, sizeof(p->buf), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(p->buf));
	p->len = (size_t)n;
	assert_int_equal(sip_msg_parse(&p->m, p->buf, p->len, &reason), 0);
	return p;
}

/* ---- messages ------------------------------------------------------------ */

/* Requests we receive (server side): from 192.0.2.1. */
#define REQ_FMT                                                  \
	"%s sip:%s@pbx.local SIP/2.0\r\n"                        \
	"Via: SIP/2.0/%s %s:5060;branch=%s;rport\r\n"            \
	"Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKproxy1\r\n" \
	"Max-Forwards: 70\r\n"                                   \
	"From: <sip:alice@pbx.local>;tag=a1\r\n"                 \
	"To: <sip:bob@pbx.local>%s\r\n"                          \
	"Call-ID: %s\r\n"                                        \
	"CSeq: %u %s\r\n"                                        \
	"Content-Length: 0\r\n\r\n"

static struct pmsg *rx_req(const char *method, const char *branch, const char *host,
			   const char *to_params, unsigned cseq, const char *cseq_method)
{
	return pm_new(REQ_FMT, method, "bob", "UDP", host, branch, to_params, "call-1@192.0.2.1",
		      cseq, cseq_method);
}

/* A response text as the TU would build it for a received request. */
static int reply(struct sip_stsx *t, uint16_t code, const char *branch, const char *method)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "SIP/2.0 %u Whatever\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s;rport=5060\r\n"
			 "From: <sip:alice@pbx.local>;tag=a1\r\n"
			 "To: <sip:bob@pbx.local>;tag=srv%u\r\n"
			 "Call-ID: call-1@192.0.2.1\r\n"
			 "CSeq: 1 %s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 code, branch, code, method);
	return sip_stsx_reply(t, code, buf, (size_t)n);
}

/* Requests we send (client side): to 203.0.113.5. */
#define OUT_FMT                                                       \
	"%s sip:carol@203.0.113.5:5060 SIP/2.0\r\n"                   \
	"Via: SIP/2.0/%s 10.0.0.1:5060;branch=%s;rport\r\n"           \
	"Max-Forwards: 70\r\n"                                        \
	"Route: <sip:proxy1.example;lr>\r\n"                          \
	"Route: <sip:proxy2.example;lr>, <sip:proxy3.example;lr>\r\n" \
	"From: \"PBX\" <sip:pbx@pbx.local>;tag=p1\r\n"                \
	"To: <sip:carol@example.com>\r\n"                             \
	"Call-ID: out-1@10.0.0.1\r\n"                                 \
	"CSeq: 42 %s\r\n"                                             \
	"Contact: <sip:pbx@10.0.0.1:5060>\r\n"                        \
	"Content-Length: 0\r\n\r\n"

static struct sip_ctsx *tx_req(struct env *e, const char *method, const char *branch,
			       const struct sip_peer *dst)
{
	char buf[1024];
	struct sip_ctsx *t = NULL;
	int n = snprintf(buf, sizeof(buf), OUT_FMT, method, dst->tp == PBX_TP_UDP ? "UDP" : "TCP",
			 branch, method);
	assert_int_equal(sip_ctsx_alloc(&t, e->l, buf, (size_t)n, dst, resp_cb, e), 0);
	assert_non_null(t);
	return t;
}

/* A response to what tx_req sent. */
static struct pmsg *rx_resp(unsigned code, const char *branch, const char *method,
			    const char *totag)
{
	return pm_new("SIP/2.0 %u Reason\r\n"
		      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=%s;rport=5060;received=10.0.0.1\r\n"
		      "From: \"PBX\" <sip:pbx@pbx.local>;tag=p1\r\n"
		      "To: <sip:carol@example.com>%s%s\r\n"
		      "Call-ID: out-1@10.0.0.1\r\n"
		      "CSeq: 42 %s\r\n"
		      "Content-Length: 0\r\n\r\n",
		      code, branch, totag ? ";tag=" : "", totag ? totag : "", method);
}

/* Offer @p p and free it; returns what sip_tsx_recv said. */
static bool offer(struct env *e, struct pmsg *p, const struct sip_peer *src)
{
	bool r = sip_tsx_recv(e->l, &p->m, src);
	free(p);
	return r;
}

static void check_sent_at(struct env *e, unsigned from, const uint64_t *at, unsigned n)
{
	assert_int_equal(e->nsent - from, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(e->sent[from + i].at, at[i]);
}

#define BR "z9hG4bKclient1"

/* ---- client, non-INVITE ------------------------------------------------- */

static void test_ctsx_nict_timeout(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	static const uint64_t at[] = {0,     500,   1500,  3500,  7500, 11500,
				      15500, 19500, 23500, 27500, 31500};
	tx_req(e, "OPTIONS", BR, &dst);
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 31999);
	assert_int_equal(e->ncb, 0);
	run_to(e, 40000);
	check_sent_at(e, 0, at, sizeof(at) / sizeof(at[0]));
	for (unsigned i = 0; i < e->nsent; i++) {
		assert_true(peer_eq(&e->sent[i].dst, &dst));
		assert_string_equal(e->sent[i].buf, e->sent[0].buf); /* same bytes */
	}
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 408);
	assert_false(e->cb[0].has_resp);
	assert_int_equal(e->cb[0].at, 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void test_ctsx_nict_proceeding(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	/* Before the 100: 0, 500; the E due at 1500 then resets to T2. */
	static const uint64_t at[] = {0, 500, 1500, 5500, 9500};
	tx_req(e, "REGISTER", BR, &dst);
	run_to(e, 700);
	assert_true(offer(e, rx_resp(100, BR, "REGISTER", NULL), &dst));
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 100);
	run_to(e, 12000);
	assert_true(offer(e, rx_resp(200, BR, "REGISTER", "r1"), &dst));
	assert_int_equal(e->ncb, 2);
	assert_int_equal(e->cb[1].code, 200);
	assert_true(e->cb[1].has_resp);
	/* Completed: retransmitted finals are absorbed, and so are late 1xx. */
	assert_true(offer(e, rx_resp(200, BR, "REGISTER", "r1"), &dst));
	assert_true(offer(e, rx_resp(100, BR, "REGISTER", NULL), &dst));
	assert_int_equal(e->ncb, 2);
	run_to(e, 16999);
	assert_int_equal(sip_tsx_count(e->l), 1);
	check_sent_at(e, 0, at, sizeof(at) / sizeof(at[0])); /* nothing after the final */
	run_to(e, 17000);                                    /* Timer K = T4 */
	assert_int_equal(sip_tsx_count(e->l), 0);
	/* Gone: the response is no transaction's now. */
	assert_false(offer(e, rx_resp(200, BR, "REGISTER", "r1"), &dst));
	assert_int_equal(e->ncb, 2);
	env_free(e);
}

static void test_ctsx_nict_proceeding_timeout(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	tx_req(e, "OPTIONS", BR, &dst);
	assert_true(offer(e, rx_resp(180, BR, "OPTIONS", NULL), &dst));
	run_to(e, 40000);
	/* 0, 500 (E fires in Proceeding, resets to T2), then every 4 s. */
	static const uint64_t at[] = {0, 500, 4500, 8500, 12500, 16500, 20500, 24500, 28500};
	check_sent_at(e, 0, at, sizeof(at) / sizeof(at[0]));
	assert_int_equal(e->ncb, 2);
	assert_int_equal(e->cb[1].code, 408); /* Timer F in Proceeding */
	assert_int_equal(e->cb[1].at, 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

/* ---- client, INVITE ----------------------------------------------------- */

static void test_ctsx_ict_timeout(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	static const uint64_t at[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
	tx_req(e, "INVITE", BR, &dst);
	run_to(e, 60000);
	check_sent_at(e, 0, at, sizeof(at) / sizeof(at[0])); /* Timer A doubles, no cap */
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 408);
	assert_int_equal(e->cb[0].at, 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void check_ack(const struct sent *s, const char *branch, const char *totag)
{
	struct pmsg p;
	struct sip_via v;
	struct sip_addr to, from;
	struct sip_pl callid;
	const char *reason;
	const struct sip_hdr *h;
	char tag[32];

	assert_true(s->len < sizeof(p.buf));
	memcpy(p.buf, s->buf, s->len);
	assert_int_equal(sip_msg_parse(&p.m, p.buf, s->len, &reason), 0);
	assert_true(p.m.request);
	assert_int_equal(p.m.method, SIP_METHOD_ACK);
	static const char line[] = "ACK sip:carol@203.0.113.5:5060 SIP/2.0\r\n";
	assert_int_equal(strncmp(s->buf, line, sizeof(line) - 1), 0);
	assert_int_equal(p.m.cseq_num, 42);
	assert_int_equal(p.m.cseq_method, SIP_METHOD_ACK);
	assert_non_null(strstr(s->buf, "\r\nCSeq: 42 ACK\r\n"));
	assert_int_equal(sip_msg_hdr_count(&p.m, SIP_HDR_VIA), 1);
	assert_int_equal(sip_msg_via_top(&p.m, &v), 0);
	assert_int_equal(sip_pl_casecmp_str(v.branch, branch), 0);
	assert_non_null(strstr(s->buf, "\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch="));
	assert_int_equal(sip_msg_to(&p.m, &to), 0);
	assert_int_equal(sip_pl_strcpy(to.tag, tag, sizeof(tag)), 0);
	assert_string_equal(tag, totag);
	assert_int_equal(sip_msg_from(&p.m, &from), 0);
	assert_int_equal(sip_pl_casecmp_str(from.tag, "p1"), 0);
	assert_int_equal(sip_msg_callid(&p.m, &callid), 0);
	assert_int_equal(sip_pl_casecmp_str(callid, "out-1@10.0.0.1"), 0);
	/* The Route set of the request, in order; no Contact, no body. */
	h = sip_msg_hdr_first(&p.m, SIP_HDR_ROUTE);
	assert_non_null(h);
	assert_int_equal(sip_pl_casecmp_str(h->value, "<sip:proxy1.example;lr>"), 0);
	h = sip_msg_hdr_next(&p.m, h);
	assert_non_null(h);
	assert_int_equal(
		sip_pl_casecmp_str(h->value, "<sip:proxy2.example;lr>, <sip:proxy3.example;lr>"),
		0);
	assert_null(sip_msg_hdr_next(&p.m, h));
	assert_null(sip_msg_hdr_first(&p.m, SIP_HDR_CONTACT));
	assert_true(p.m.has_clen);
	assert_int_equal(p.m.clen, 0);
	assert_int_equal(p.m.body.l, 0);
}

static void test_ctsx_ict_486(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	tx_req(e, "INVITE", BR, &dst);
	run_to(e, 600); /* one retransmission at 500 */
	assert_int_equal(e->nsent, 2);
	assert_true(offer(e, rx_resp(180, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 180);
	run_to(e, 100000); /* Proceeding: no retransmission, no Timer B */
	assert_int_equal(e->nsent, 2);
	assert_int_equal(e->ncb, 1);
	assert_true(offer(e, rx_resp(183, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 2);

	assert_true(offer(e, rx_resp(486, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 3);
	assert_int_equal(e->cb[2].code, 486);
	assert_string_equal(e->cb[2].totag, "b1");
	assert_int_equal(e->nsent, 3);
	check_ack(&e->sent[2], BR, "b1");
	assert_true(peer_eq(&e->sent[2].dst, &dst));

	/* A retransmitted 486: the same ACK again, no second callback. */
	run_to(e, 101000);
	assert_true(offer(e, rx_resp(486, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 3);
	assert_int_equal(e->nsent, 4);
	assert_string_equal(e->sent[3].buf, e->sent[2].buf);
	/* A stray 1xx or 2xx in Completed is absorbed. */
	assert_true(offer(e, rx_resp(180, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 3);

	/* Timer D: 32 s after the final. */
	run_to(e, 100000 + 31999);
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 100000 + 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_false(offer(e, rx_resp(486, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->nsent, 4);
	env_free(e);
}

static void test_ctsx_ict_2xx(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	tx_req(e, "INVITE", BR, &dst);
	run_to(e, 1000); /* sends at 0 and 500 */
	assert_true(offer(e, rx_resp(200, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 200);
	/* RFC 6026 Accepted: retransmissions and other forks reach the TU. */
	run_to(e, 5000);
	assert_true(offer(e, rx_resp(200, BR, "INVITE", "b1"), &dst));
	assert_true(offer(e, rx_resp(200, BR, "INVITE", "b2"), &dst));
	assert_int_equal(e->ncb, 3);
	assert_string_equal(e->cb[1].totag, "b1");
	assert_string_equal(e->cb[2].totag, "b2");
	/* Non-2xx and 1xx are absorbed. */
	assert_true(offer(e, rx_resp(180, BR, "INVITE", "b3"), &dst));
	assert_true(offer(e, rx_resp(486, BR, "INVITE", "b3"), &dst));
	assert_int_equal(e->ncb, 3);
	/* The layer never ACKs a 2xx nor retransmits after it. */
	assert_int_equal(e->nsent, 2);
	/* Timer M: 64*T1 after the first 2xx (at 1000). */
	run_to(e, 1000 + 31999);
	assert_true(offer(e, rx_resp(200, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 4);
	run_to(e, 1000 + 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_false(offer(e, rx_resp(200, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 4);
	assert_int_equal(e->nsent, 2);
	env_free(e);
}

static void test_ctsx_reliable(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_TCP, "203.0.113.5", 5060);

	/* Non-INVITE: one send, Timer F still ends it. */
	tx_req(e, "OPTIONS", BR, &dst);
	run_to(e, 40000);
	assert_int_equal(e->nsent, 1);
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 408);
	assert_int_equal(e->cb[0].at, 32000);

	/* Final: Timer K = 0, gone at once. */
	tx_req(e, "OPTIONS", "z9hG4bKtcp2", &dst);
	assert_true(offer(e, rx_resp(200, "z9hG4bKtcp2", "OPTIONS", "x"), &dst));
	assert_int_equal(e->ncb, 2);
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* INVITE: no Timer A; 486 is ACKed and Timer D = 0. */
	tx_req(e, "INVITE", "z9hG4bKtcp3", &dst);
	run_to(e, 50000);
	assert_int_equal(e->nsent, 3);
	assert_true(offer(e, rx_resp(486, "z9hG4bKtcp3", "INVITE", "t3"), &dst));
	assert_int_equal(e->nsent, 4);
	assert_int_equal(strncmp(e->sent[3].buf, "ACK ", 4), 0);
	assert_non_null(
		strstr(e->sent[3].buf, "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKtcp3"));
	assert_true(peer_eq(&e->sent[3].dst, &dst));
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* INVITE, no answer at all: Timer B. */
	tx_req(e, "INVITE", "z9hG4bKtcp4", &dst);
	run_to(e, 50000 + 32000);
	assert_int_equal(e->cb[e->ncb - 1].code, 408);
	assert_int_equal(e->nsent, 5);
	/* INVITE 2xx: Timer M is 64*T1 whatever the transport. */
	tx_req(e, "INVITE", "z9hG4bKtcp5", &dst);
	assert_true(offer(e, rx_resp(200, "z9hG4bKtcp5", "INVITE", "t5"), &dst));
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 82000 + 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void test_ctsx_send_error(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	struct sip_ctsx *t = NULL;
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), OUT_FMT, "OPTIONS", "UDP", BR, "OPTIONS");

	/* The first send fails: no transaction, no callback. */
	e->send_err = ENETUNREACH;
	assert_int_equal(sip_ctsx_alloc(&t, e->l, buf, (size_t)n, &dst, resp_cb, e), ENETUNREACH);
	assert_int_equal(sip_tsx_count(e->l), 0);
	/* A retransmission fails: 503 and the end. */
	e->send_err = 0;
	tx_req(e, "OPTIONS", BR, &dst);
	e->send_err = EHOSTUNREACH;
	run_to(e, 2000);
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb[0].code, 503);
	assert_false(e->cb[0].has_resp);
	assert_int_equal(e->cb[0].at, 500);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_int_equal(e->ts.n, 0);
	env_free(e);
}

static void test_ctsx_abandon(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	struct sip_ctsx *t;

	/* Abandoned while ringing: the 487 its CANCEL brings is still ACKed. */
	t = tx_req(e, "INVITE", BR, &dst);
	assert_string_equal(sip_ctsx_branch(t), BR);
	assert_true(offer(e, rx_resp(180, BR, "INVITE", "b1"), &dst));
	sip_ctsx_abandon(t);
	assert_true(offer(e, rx_resp(487, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->nsent, 2);
	check_ack(&e->sent[1], BR, "b1");
	run_to(e, 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* Abandoned while ringing and no final ever: gone 64*T1 later. */
	t = tx_req(e, "INVITE", "z9hG4bKab2", &dst);
	assert_true(offer(e, rx_resp(180, "z9hG4bKab2", "INVITE", "b1"), &dst));
	run_to(e, 100000);
	assert_int_equal(sip_tsx_count(e->l), 1);
	sip_ctsx_abandon(t);
	run_to(e, 100000 + 31999);
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 100000 + 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_int_equal(e->ncb, 2);

	/* Abandoned while calling, then a 1xx: the guard still applies. */
	t = tx_req(e, "INVITE", "z9hG4bKab3", &dst);
	sip_ctsx_abandon(t);
	assert_true(offer(e, rx_resp(100, "z9hG4bKab3", "INVITE", NULL), &dst));
	run_to(e, 200000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_int_equal(e->ncb, 2);

	/* An abandoned INVITE's 2xx goes to the core (false): it must be
	 * ACKed and BYEd by someone. */
	t = tx_req(e, "INVITE", "z9hG4bKab4", &dst);
	sip_ctsx_abandon(t);
	assert_false(offer(e, rx_resp(200, "z9hG4bKab4", "INVITE", "b4"), &dst));
	assert_false(offer(e, rx_resp(200, "z9hG4bKab4", "INVITE", "b4"), &dst));
	assert_int_equal(e->ncb, 2);
	run_to(e, 300000);
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* Abandoned from inside its own callback, on the 1xx. */
	t = tx_req(e, "INVITE", "z9hG4bKab5", &dst);
	e->abandon_in_cb = t;
	assert_true(offer(e, rx_resp(180, "z9hG4bKab5", "INVITE", "b5"), &dst));
	assert_int_equal(e->ncb, 3);
	assert_true(offer(e, rx_resp(480, "z9hG4bKab5", "INVITE", "b5"), &dst));
	assert_int_equal(e->ncb, 3);
	run_to(e, 400000);
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* A non-INVITE abandoned: silent Timer F. */
	t = tx_req(e, "OPTIONS", "z9hG4bKab6", &dst);
	sip_ctsx_abandon(t);
	run_to(e, 500000);
	assert_int_equal(e->ncb, 3);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void test_ctsx_cancel(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	/* CANCEL reuses the INVITE's branch (RFC 3261 9.1): two transactions. */
	tx_req(e, "INVITE", BR, &dst);
	assert_true(offer(e, rx_resp(180, BR, "INVITE", "b1"), &dst));
	tx_req(e, "CANCEL", BR, &dst);
	assert_int_equal(sip_tsx_count(e->l), 2);
	assert_true(offer(e, rx_resp(200, BR, "CANCEL", "b1"), &dst));
	assert_true(offer(e, rx_resp(487, BR, "INVITE", "b1"), &dst));
	assert_int_equal(e->ncb, 3);
	assert_int_equal(e->cb[1].code, 200);
	assert_int_equal(e->cb[2].code, 487);
	/* The CANCEL's 200 did not reach the INVITE: one ACK, for the 487. */
	assert_int_equal(strncmp(e->sent[e->nsent - 1].buf, "ACK ", 4), 0);
	assert_int_equal(strncmp(e->sent[e->nsent - 2].buf, "CANCEL ", 7), 0);
	run_to(e, 60000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void test_ctsx_alloc_errors(void **state)
{
	struct env *e = env_new();
	struct sip_peer dst = peer(PBX_TP_UDP, "203.0.113.5", 5060);
	struct sip_ctsx *t = NULL;
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), OUT_FMT, "ACK", "UDP", BR, "ACK");
	assert_int_equal(sip_ctsx_alloc(&t, e->l, buf, (size_t)n, &dst, resp_cb, e), EINVAL);
	n = snprintf(buf, sizeof(buf), OUT_FMT, "OPTIONS", "UDP", "1234", "OPTIONS");
	assert_int_equal(sip_ctsx_alloc(&t, e->l, buf, (size_t)n, &dst, resp_cb, e), EINVAL);
	assert_int_equal(sip_ctsx_alloc(&t, e->l, "garbage", 7, &dst, resp_cb, e), EINVAL);
	n = snprintf(buf, sizeof(buf),
		     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" BR
		     "\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: "
		     "x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(sip_ctsx_alloc(&t, e->l, buf, (size_t)n, &dst, resp_cb, e), EINVAL);
	tx_req(e, "OPTIONS", BR, &dst);
	n = snprintf(buf, sizeof(buf), OUT_FMT, "OPTIONS", "UDP", BR, "OPTIONS");
	assert_int_equal(sip_ctsx_alloc(&t, e->l, buf, (size_t)n, &dst, resp_cb, e), EEXIST);
	assert_int_equal(sip_tsx_count(e->l), 1);
	assert_int_equal(e->nsent, 1);
	/* Responses that match nothing. */
	assert_false(offer(e, rx_resp(200, "z9hG4bKother", "OPTIONS", "x"), &dst));
	assert_false(offer(e, rx_resp(200, BR, "INFO", "x"), &dst));
	env_free(e); /* frees the live one */
}

/* ---- server, non-INVITE ------------------------------------------------- */

static struct sip_stsx *new_stsx(struct env *e, struct pmsg *p, const struct sip_peer *src)
{
	struct sip_stsx *t = NULL;
	assert_false(sip_tsx_recv(e->l, &p->m, src));
	assert_int_equal(sip_stsx_alloc(&t, e->l, &p->m, src), 0);
	assert_non_null(t);
	free(p);
	return t;
}

#define SB "z9hG4bKsrv1"

static void test_stsx_nist(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t;
	int tu;

	t = new_stsx(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src);
	sip_stsx_set_tu(t, &tu);
	assert_ptr_equal(sip_stsx_tu(t), &tu);
	assert_false(sip_stsx_final_sent(t));
	/* Trying: a retransmission is absorbed unanswered. */
	assert_true(offer(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src));
	assert_int_equal(e->nsent, 0);
	assert_int_equal(reply(t, 100, SB, "REGISTER"), 0);
	assert_int_equal(e->nsent, 1);
	assert_true(offer(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src));
	assert_int_equal(e->nsent, 2);
	assert_string_equal(e->sent[1].buf, e->sent[0].buf);
	run_to(e, 1000);
	assert_int_equal(reply(t, 200, SB, "REGISTER"), 0);
	assert_true(sip_stsx_final_sent(t));
	assert_int_equal(e->nsent, 3);
	assert_non_null(strstr(e->sent[2].buf, "SIP/2.0 200 "));
	assert_true(peer_eq(&e->sent[2].dst, &src));
	assert_int_equal(reply(t, 200, SB, "REGISTER"), EINVAL); /* one final */
	assert_int_equal(reply(t, 180, SB, "REGISTER"), EINVAL);
	assert_int_equal(e->nsent, 3);
	/* Completed: answered with the final, to the request's source. */
	run_to(e, 20000);
	assert_true(offer(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src));
	assert_int_equal(e->nsent, 4);
	assert_string_equal(e->sent[3].buf, e->sent[2].buf);
	assert_true(peer_eq(&e->sent[3].dst, &src));
	/* No retransmission of its own; Timer J = 64*T1 after the final. */
	run_to(e, 1000 + 31999);
	assert_int_equal(e->nsent, 4);
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 1000 + 32000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_false(offer(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src));
	assert_int_equal(e->ntimeout, 0);
	env_free(e);
}

/* A stateless answer: the transaction goes at once; a retransmission is a new request. */
static void test_stsx_forget(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t =
		new_stsx(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src);
	sip_stsx_forget(t); /* no final yet: kept */
	assert_int_equal(sip_tsx_count(e->l), 1);
	assert_int_equal(reply(t, 401, SB, "REGISTER"), 0);
	sip_stsx_forget(t);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_false(offer(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src));
	assert_int_equal(e->nsent, 1);
	/* An INVITE's transaction stays for its ACK. */
	t = new_stsx(e, rx_req("INVITE", SB "i", "192.0.2.1", "", 1, "INVITE"), &src);
	assert_int_equal(reply(t, 401, SB "i", "INVITE"), 0);
	sip_stsx_forget(t);
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 40000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void test_stsx_reply_args(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t, *t2;
	struct pmsg *p;

	t = new_stsx(e, rx_req("OPTIONS", SB, "192.0.2.1", "", 1, "OPTIONS"), &src);
	assert_int_equal(sip_stsx_reply(t, 99, "x", 1), EINVAL);
	assert_int_equal(sip_stsx_reply(t, 700, "x", 1), EINVAL);
	assert_int_equal(sip_stsx_reply(t, 200, "x", 0), EINVAL);
	assert_int_equal(e->nsent, 0);
	/* A send error is returned, and the state machine moves on. */
	e->send_err = ENOBUFS;
	assert_int_equal(reply(t, 200, SB, "OPTIONS"), ENOBUFS);
	e->send_err = 0;
	assert_true(offer(e, rx_req("OPTIONS", SB, "192.0.2.1", "", 1, "OPTIONS"), &src));
	assert_int_equal(e->nsent, 1); /* the stored final, this time delivered */

	/* EEXIST for a request the layer would have matched; EINVAL for ACK
	 * and responses. */
	p = rx_req("OPTIONS", SB, "192.0.2.1", "", 1, "OPTIONS");
	assert_int_equal(sip_stsx_alloc(&t2, e->l, &p->m, &src), EEXIST);
	free(p);
	p = rx_req("ACK", SB, "192.0.2.1", "", 1, "ACK");
	assert_int_equal(sip_stsx_alloc(&t2, e->l, &p->m, &src), EINVAL);
	free(p);
	p = rx_resp(200, SB, "OPTIONS", "x");
	assert_int_equal(sip_stsx_alloc(&t2, e->l, &p->m, &src), EINVAL);
	free(p);
	run_to(e, 40000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

/* ---- server, INVITE ----------------------------------------------------- */

static void test_stsx_ist_486_ack(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t;

	t = new_stsx(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src);
	/* Proceeding, nothing sent yet: a retransmission is absorbed. */
	assert_true(offer(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src));
	assert_int_equal(e->nsent, 0);
	assert_int_equal(reply(t, 100, SB, "INVITE"), 0);
	assert_int_equal(reply(t, 180, SB, "INVITE"), 0);
	/* ...and then answered with the last provisional. */
	assert_true(offer(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src));
	assert_int_equal(e->nsent, 3);
	assert_non_null(strstr(e->sent[2].buf, "SIP/2.0 180 "));

	run_to(e, 10000);
	assert_int_equal(e->nsent, 3); /* provisionals are not retransmitted */
	assert_int_equal(reply(t, 486, SB, "INVITE"), 0);
	assert_int_equal(e->nsent, 4);
	/* Timer G: +500, +1000, +2000, +4000, +4000 */
	run_to(e, 10000 + 15000);
	static const uint64_t at[] = {10000, 10500, 11500, 13500, 17500, 21500};
	check_sent_at(e, 3, at, sizeof(at) / sizeof(at[0]));
	for (unsigned i = 4; i < e->nsent; i++)
		assert_string_equal(e->sent[i].buf, e->sent[3].buf);
	/* A retransmitted INVITE in Completed gets the final too. */
	assert_true(offer(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src));
	assert_int_equal(e->nsent, 10);
	assert_non_null(strstr(e->sent[9].buf, "SIP/2.0 486 "));

	/* The ACK (same branch, RFC 3261 17.1.1.3) is absorbed and stops G. */
	assert_true(offer(e, rx_req("ACK", SB, "192.0.2.1", ";tag=srv486", 1, "ACK"), &src));
	run_to(e, 25000 + 4999);
	assert_int_equal(e->nsent, 10);
	/* Confirmed: more ACKs and INVITEs are absorbed silently. */
	assert_true(offer(e, rx_req("ACK", SB, "192.0.2.1", ";tag=srv486", 1, "ACK"), &src));
	assert_true(offer(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src));
	assert_int_equal(e->nsent, 10);
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 25000 + 5000); /* Timer I = T4 */
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_int_equal(e->ntimeout, 0);
	/* A late ACK is the TU's (it matches no dialog and is dropped). */
	assert_false(offer(e, rx_req("ACK", SB, "192.0.2.1", ";tag=srv486", 1, "ACK"), &src));
	env_free(e);
}

static void test_stsx_ist_timer_h(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t;
	int tu;
	static const uint64_t at[] = {0,     500,   1500,  3500,  7500, 11500,
				      15500, 19500, 23500, 27500, 31500};

	t = new_stsx(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src);
	sip_stsx_set_tu(t, &tu);
	assert_int_equal(reply(t, 603, SB, "INVITE"), 0);
	run_to(e, 31999);
	assert_int_equal(e->ntimeout, 0);
	run_to(e, 32000);
	check_sent_at(e, 0, at, sizeof(at) / sizeof(at[0]));
	assert_int_equal(e->ntimeout, 1);
	assert_ptr_equal(e->timeout_tu[0], &tu);
	assert_int_equal(sip_tsx_count(e->l), 0);
	run_to(e, 100000);
	assert_int_equal(e->nsent, 11);
	env_free(e);
}

static void test_stsx_ist_2xx(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t;

	t = new_stsx(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src);
	assert_int_equal(reply(t, 180, SB, "INVITE"), 0);
	run_to(e, 2000);
	assert_int_equal(reply(t, 200, SB, "INVITE"), 0);
	assert_int_equal(e->nsent, 2);
	/* Accepted: INVITE retransmissions absorbed and not answered (the TU
	 * retransmits the 2xx itself); the layer sends nothing by itself. */
	assert_true(offer(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src));
	run_to(e, 20000);
	assert_int_equal(e->nsent, 2);
	/* The ACK of a 2xx is a transaction of its own: the TU gets it, with
	 * a new branch as RFC 3261 clients send, and even with the INVITE's. */
	assert_false(
		offer(e, rx_req("ACK", "z9hG4bKack2", "192.0.2.1", ";tag=srv200", 1, "ACK"), &src));
	assert_false(offer(e, rx_req("ACK", SB, "192.0.2.1", ";tag=srv200", 1, "ACK"), &src));
	run_to(e, 2000 + 31999);
	assert_true(offer(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src));
	assert_int_equal(sip_tsx_count(e->l), 1);
	run_to(e, 2000 + 32000); /* Timer L */
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_int_equal(e->ntimeout, 0);
	assert_int_equal(e->nsent, 2);
	env_free(e);
}

static void test_stsx_reliable(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_TCP, "192.0.2.1", 5060);
	struct sip_stsx *t;

	/* Non-INVITE: Timer J = 0, gone with the final. */
	t = new_stsx(e, rx_req("REGISTER", SB, "192.0.2.1", "", 1, "REGISTER"), &src);
	assert_int_equal(reply(t, 200, SB, "REGISTER"), 0);
	assert_int_equal(sip_tsx_count(e->l), 0);
	assert_true(peer_eq(&e->sent[0].dst, &src));

	/* INVITE 486: no Timer G; the ACK ends it at once (Timer I = 0). */
	t = new_stsx(e, rx_req("INVITE", "z9hG4bKt2", "192.0.2.1", "", 1, "INVITE"), &src);
	assert_int_equal(reply(t, 486, "z9hG4bKt2", "INVITE"), 0);
	run_to(e, 20000);
	assert_int_equal(e->nsent, 2);
	assert_true(
		offer(e, rx_req("ACK", "z9hG4bKt2", "192.0.2.1", ";tag=srv486", 1, "ACK"), &src));
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* INVITE 486 and no ACK: Timer H is 64*T1 on any transport. */
	t = new_stsx(e, rx_req("INVITE", "z9hG4bKt3", "192.0.2.1", "", 1, "INVITE"), &src);
	sip_stsx_set_tu(t, e);
	assert_int_equal(reply(t, 486, "z9hG4bKt3", "INVITE"), 0);
	run_to(e, 20000 + 32000);
	assert_int_equal(e->nsent, 3);
	assert_int_equal(e->ntimeout, 1);
	assert_ptr_equal(e->timeout_tu[0], e);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

static void test_stsx_cancel(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *inv, *can;
	struct pmsg *p;

	inv = new_stsx(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &src);
	assert_int_equal(reply(inv, 180, SB, "INVITE"), 0);
	/* The CANCEL is not consumed: it is a transaction of its own... */
	p = rx_req("CANCEL", SB, "192.0.2.1", "", 1, "CANCEL");
	assert_false(sip_tsx_recv(e->l, &p->m, &src));
	/* ...which finds its INVITE. */
	assert_ptr_equal(sip_stsx_find_invite(e->l, &p->m), inv);
	assert_int_equal(sip_stsx_alloc(&can, e->l, &p->m, &src), 0);
	free(p);
	assert_int_equal(sip_tsx_count(e->l), 2);
	assert_int_equal(reply(can, 200, SB, "CANCEL"), 0);
	assert_int_equal(reply(inv, 487, SB, "INVITE"), 0);
	/* A retransmitted CANCEL gets its 200 again, not the 487. */
	assert_true(offer(e, rx_req("CANCEL", SB, "192.0.2.1", "", 1, "CANCEL"), &src));
	assert_non_null(strstr(e->sent[e->nsent - 1].buf, "SIP/2.0 200 "));
	assert_non_null(strstr(e->sent[e->nsent - 1].buf, "CSeq: 1 CANCEL"));

	/* Other branch, other sent-by, or not a CANCEL: no INVITE. */
	p = rx_req("CANCEL", "z9hG4bKnope", "192.0.2.1", "", 1, "CANCEL");
	assert_null(sip_stsx_find_invite(e->l, &p->m));
	free(p);
	p = rx_req("CANCEL", SB, "192.0.2.99", "", 1, "CANCEL");
	assert_null(sip_stsx_find_invite(e->l, &p->m));
	free(p);
	p = rx_req("BYE", SB, "192.0.2.1", "", 1, "BYE");
	assert_null(sip_stsx_find_invite(e->l, &p->m));
	free(p);
	/* A CANCEL for a non-INVITE finds nothing either. */
	new_stsx(e, rx_req("OPTIONS", "z9hG4bKopt", "192.0.2.1", "", 1, "OPTIONS"), &src);
	p = rx_req("CANCEL", "z9hG4bKopt", "192.0.2.1", "", 1, "CANCEL");
	assert_null(sip_stsx_find_invite(e->l, &p->m));
	free(p);

	assert_true(offer(e, rx_req("ACK", SB, "192.0.2.1", ";tag=srv487", 1, "ACK"), &src));
	run_to(e, 60000);
	assert_int_equal(sip_tsx_count(e->l), 1); /* the OPTIONS never answered */
	env_free(e);                              /* ...is freed with the layer */
}

static void test_stsx_matching(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *a, *b;

	a = new_stsx(e, rx_req("MESSAGE", SB, "host.example", "", 1, "MESSAGE"), &src);
	/* Same branch from another sent-by: another transaction. */
	b = new_stsx(e, rx_req("MESSAGE", SB, "other.example", "", 1, "MESSAGE"), &src);
	assert_ptr_not_equal(a, b);
	/* Host names compare case-insensitively. */
	assert_int_equal(reply(a, 202, SB, "MESSAGE"), 0);
	assert_true(offer(e, rx_req("MESSAGE", SB, "HOST.Example", "", 1, "MESSAGE"), &src));
	assert_int_equal(e->nsent, 2);
	/* Same branch, other method: another transaction. */
	new_stsx(e, rx_req("INFO", SB, "host.example", "", 1, "INFO"), &src);
	/* Unknown methods are told apart by name. */
	new_stsx(e, rx_req("FOO", SB, "host.example", "", 1, "FOO"), &src);
	new_stsx(e, rx_req("BAR", SB, "host.example", "", 1, "BAR"), &src);
	assert_true(offer(e, rx_req("FOO", SB, "host.example", "", 1, "FOO"), &src));
	/* An ACK without an INVITE matches nothing. */
	assert_false(offer(e, rx_req("ACK", SB, "host.example", "", 1, "ACK"), &src));
	assert_int_equal(sip_tsx_count(e->l), 5);
	env_free(e);
}

/* RFC 2543 requests: no magic cookie. */
static void test_stsx_rfc2543(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t;
	struct pmsg *p;

	t = new_stsx(e, rx_req("INVITE", "oldbranch1", "192.0.2.1", "", 7, "INVITE"), &src);
	assert_int_equal(reply(t, 180, "oldbranch1", "INVITE"), 0);
	assert_true(offer(e, rx_req("INVITE", "oldbranch1", "192.0.2.1", "", 7, "INVITE"), &src));
	assert_int_equal(e->nsent, 2);
	/* Another CSeq or another To tag is another request. */
	assert_false(offer(e, rx_req("INVITE", "oldbranch1", "192.0.2.1", "", 8, "INVITE"), &src));
	assert_false(offer(e, rx_req("INVITE", "oldbranch1", "192.0.2.1", ";tag=zz", 7, "INVITE"),
			   &src));
	/* CANCEL finds it. */
	p = rx_req("CANCEL", "oldbranch1", "192.0.2.1", "", 7, "CANCEL");
	assert_ptr_equal(sip_stsx_find_invite(e->l, &p->m), t);
	free(p);
	assert_int_equal(reply(t, 486, "oldbranch1", "INVITE"), 0);
	/* The ACK carries our To tag and is still matched. */
	assert_true(
		offer(e, rx_req("ACK", "oldbranch1", "192.0.2.1", ";tag=srv486", 7, "ACK"), &src));
	run_to(e, 10000);
	assert_int_equal(e->nsent, 3); /* no Timer G after the ACK */
	assert_int_equal(sip_tsx_count(e->l), 0);

	/* No branch at all. */
	p = pm_new("OPTIONS sip:bob@pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060\r\n"
		   "From: <sip:a@b>;tag=1\r\nTo: <sip:bob@pbx.local>\r\nCall-ID: q\r\n"
		   "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	assert_false(sip_tsx_recv(e->l, &p->m, &src));
	assert_int_equal(sip_stsx_alloc(&t, e->l, &p->m, &src), 0);
	assert_true(sip_tsx_recv(e->l, &p->m, &src));
	free(p);
	assert_int_equal(reply(t, 200, "", "OPTIONS"), 0);
	run_to(e, 60000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	env_free(e);
}

/* ---- both --------------------------------------------------------------- */

/* Thousands at once: the tables grow and shrink, every one is found. */
static void test_many(void **state)
{
	struct env *e = env_new();
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	enum { N = 5000 };
	struct sip_stsx **t = calloc(N, sizeof(*t));
	char br[64];
	assert_non_null(t);
	for (int i = 0; i < N; i++) {
		snprintf(br, sizeof(br), "z9hG4bK%d", i);
		t[i] = new_stsx(e, rx_req("REGISTER", br, "192.0.2.1", "", 1, "REGISTER"), &src);
		if (i % 2 == 0) {
			snprintf(br, sizeof(br), "z9hG4bKc%d", i);
			tx_req(e, "OPTIONS", br, &src);
		}
	}
	assert_int_equal(sip_tsx_count(e->l), N + N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(br, sizeof(br), "z9hG4bK%d", i);
		assert_int_equal(reply(t[i], 200, br, "REGISTER"), 0);
	}
	for (int i = 0; i < N; i += 2) {
		snprintf(br, sizeof(br), "z9hG4bK%d", i);
		assert_true(offer(e, rx_req("REGISTER", br, "192.0.2.1", "", 1, "REGISTER"), &src));
		snprintf(br, sizeof(br), "z9hG4bKc%d", i);
		assert_true(offer(e, rx_resp(200, br, "OPTIONS", "x"), &src));
	}
	assert_int_equal(e->ncb, N / 2);
	run_to(e, 100000);
	assert_int_equal(sip_tsx_count(e->l), 0);
	free(t);
	env_free(e);
}

static void test_branch(void **state)
{
	char a[SIP_TSX_BRANCH_SIZE], b[SIP_TSX_BRANCH_SIZE], small[24];
	sip_tsx_branch(a, sizeof(a));
	sip_tsx_branch(b, sizeof(b));
	assert_int_equal(strlen(a), SIP_TSX_BRANCH_SIZE - 1);
	assert_int_equal(strncmp(a, "z9hG4bK", 7), 0);
	assert_int_equal(strspn(a + 7, "0123456789abcdef"), 24);
	assert_string_not_equal(a, b);
	sip_tsx_branch(small, sizeof(small));
	assert_int_equal(strlen(small), 23);
	assert_int_equal(strncmp(small, "z9hG4bK", 7), 0);
	assert_int_equal(strspn(small + 7, "0123456789abcdef"), 16);
}

/* Live transactions of every kind are freed with the layer. */
static void test_free_live(void **state)
{
	struct env *e = env_new();
	struct sip_peer u = peer(PBX_TP_UDP, "192.0.2.1", 5060);
	struct sip_stsx *t;
	tx_req(e, "INVITE", "z9hG4bKl1", &u);
	tx_req(e, "OPTIONS", "z9hG4bKl2", &u);
	tx_req(e, "INVITE", "z9hG4bKl3", &u);
	assert_true(offer(e, rx_resp(486, "z9hG4bKl3", "INVITE", "x"), &u));
	t = new_stsx(e, rx_req("INVITE", SB, "192.0.2.1", "", 1, "INVITE"), &u);
	assert_int_equal(reply(t, 180, SB, "INVITE"), 0);
	t = new_stsx(e, rx_req("INVITE", "z9hG4bKs2", "192.0.2.1", "", 1, "INVITE"), &u);
	assert_int_equal(reply(t, 500, "z9hG4bKs2", "INVITE"), 0);
	new_stsx(e, rx_req("BYE", "z9hG4bKs3", "192.0.2.1", "", 1, "BYE"), &u);
	assert_int_equal(sip_tsx_count(e->l), 6);
	assert_true(e->ts.n > 0);
	env_free(e); /* checks that no timer is left in the heap */
	sip_tsx_layer_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_ctsx_nict_timeout),
	cmocka_unit_test(test_ctsx_nict_proceeding),
	cmocka_unit_test(test_ctsx_nict_proceeding_timeout),
	cmocka_unit_test(test_ctsx_ict_timeout),
	cmocka_unit_test(test_ctsx_ict_486),
	cmocka_unit_test(test_ctsx_ict_2xx),
	cmocka_unit_test(test_ctsx_reliable),
	cmocka_unit_test(test_ctsx_send_error),
	cmocka_unit_test(test_ctsx_abandon),
	cmocka_unit_test(test_ctsx_cancel),
	cmocka_unit_test(test_ctsx_alloc_errors),
	cmocka_unit_test(test_stsx_nist),
	cmocka_unit_test(test_stsx_forget),
	cmocka_unit_test(test_stsx_reply_args),
	cmocka_unit_test(test_stsx_ist_486_ack),
	cmocka_unit_test(test_stsx_ist_timer_h),
	cmocka_unit_test(test_stsx_ist_2xx),
	cmocka_unit_test(test_stsx_reliable),
	cmocka_unit_test(test_stsx_cancel),
	cmocka_unit_test(test_stsx_matching),
	cmocka_unit_test(test_stsx_rfc2543),
	cmocka_unit_test(test_many),
	cmocka_unit_test(test_branch),
	cmocka_unit_test(test_free_live),
};

UNIT_GROUP(sip_tsx, tests, NULL, NULL);
