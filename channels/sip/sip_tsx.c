/**
 * @file sip_tsx.c  SIP transaction state machines (RFC 3261 17, RFC 6026) and their hash tables
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Two chained hash tables, one per side, keyed by a byte string that holds
 * the method and the branch (plus, for server transactions, the sent-by of
 * the top Via, RFC 3261 17.2.3). Lookups are O(1) on average and the hash
 * is SipHash-1-3 with a random key: branches come from the network, and a
 * predictable hash would let one sender pile every transaction into one
 * chain and turn each received message into a list walk.
 *
 * "Terminated" is not a state here: a transaction that reaches it is
 * unlinked and freed on the spot, and that includes the zero-length Timers
 * I, J, K and D of reliable transports, which end a transaction inside the
 * call that completed it.
 *
 * A server transaction costs one allocation for itself and its key, plus
 * one for the last response over UDP; a client transaction keeps a copy of
 * its request (for retransmission) and, for INVITE, the ACK it may send.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pbx/hash.h"
#include "sip_tsx.h"

/* Longest transaction key. Branches are a few dozen bytes; only the keys of
 * RFC 2543 requests (Call-ID, top Via, Request-URI) come near this, and a
 * request whose key does not fit is refused rather than truncated. */
#define KEY_MAX   2048
#define TABLE_MIN 256 /* buckets; power of two */

#define COOKIE_LEN (sizeof(SIP_BRANCH_COOKIE) - 1)

enum tsx_state {
	ST_TRYING,     /* non-INVITE, nothing sent or received yet */
	ST_CALLING,    /* client INVITE, no response yet */
	ST_PROCEEDING, /* a provisional response went by */
	ST_COMPLETED,  /* final sent/received; absorbing retransmissions */
	ST_CONFIRMED,  /* server INVITE: ACK received, Timer I */
	ST_ACCEPTED,   /* INVITE 2xx (RFC 6026): Timer L / M */
};

/* Chains are doubly linked (pprev points at whatever points at us) so
 * that removal does not walk the chain: with 100,000s of transactions
 * every node visited is a cache miss. */
struct tsx_node {
	struct tsx_node *next, **pprev; /* hash chain */
	uint64_t hash;
	const char *key;
	size_t klen;
};

struct tsx_table {
	struct tsx_node **b;
	size_t mask; /* buckets - 1 */
	size_t n;
};

struct sip_tsx_layer {
	struct sip_timers *timers;
	const struct sip_tsx_ops *ops;
	void *arg;
	uint64_t k0, k1; /* hash key */
	struct tsx_table srv, cli;
	uint64_t absorbed; /* requests that matched a server transaction (retransmissions, ACKs) */
};

struct sip_stsx {
	struct tsx_node node; /* first: container of */
	struct sip_tsx_layer *l;
	enum tsx_state state;
	bool invite;
	bool reliable;
	bool rfc2543;  /* key without branch: To tag compared too */
	uint16_t code; /* last response sent, 0 before the first */
	struct sip_peer src;
	void *tu;
	struct sip_timer retx; /* G */
	struct sip_timer end;  /* H, I, J, L */
	uint64_t interval;     /* current Timer G */
	char *resp;            /* last response, kept over UDP to answer retransmissions */
	size_t resp_len, resp_cap;
	const char *totag; /* RFC 2543 only; stored after the key */
	size_t totag_len;
	char key[];
};

struct sip_ctsx {
	struct tsx_node node; /* first: container of */
	struct sip_tsx_layer *l;
	enum tsx_state state;
	bool invite;
	bool reliable;
	struct sip_peer dst;
	sip_ctsx_resp_h *cb; /* NULL once abandoned */
	void *arg;
	struct sip_timer retx; /* A, E */
	struct sip_timer end;  /* B, F, D, K, M, and the guard of an abandoned INVITE */
	uint64_t interval;     /* current Timer A / E */
	char *req;
	size_t req_len;
	char *ack;                    /* INVITE: the ACK without its To line, then with it */
	size_t ack_len, ack_head_len; /* ack_head_len: where the To line goes */
	bool ack_ready;
	const char *branch; /* NUL-terminated, in key */
	char key[];
};

/* ---- hash tables -------------------------------------------------------- */

static int table_init(struct tsx_table *tb)
{
	tb->b = calloc(TABLE_MIN, sizeof(*tb->b));
	tb->mask = TABLE_MIN - 1;
	tb->n = 0;
	return tb->b ? 0 : ENOMEM;
}

/* Rehash into @p nb buckets. On ENOMEM the table keeps its size: chains get
 * longer, lookups slower, nothing breaks. */
static void table_resize(struct tsx_table *tb, size_t nb)
{
	struct tsx_node **b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i <= tb->mask; i++) {
		struct tsx_node *n = tb->b[i], *next;
		for (; n; n = next) {
			struct tsx_node **head = &b[n->hash & (nb - 1)];
			next = n->next;
			n->next = *head;
			if (*head)
				(*head)->pprev = &n->next;
			*head = n;
			n->pprev = head;
		}
	}
	free(tb->b);
	tb->b = b;
	tb->mask = nb - 1;
}

static void table_insert(struct tsx_table *tb, struct tsx_node *n)
{
	if (tb->n > tb->mask)
		table_resize(tb, 2 * (tb->mask + 1));
	struct tsx_node **head = &tb->b[n->hash & tb->mask];
	n->next = *head;
	if (*head)
		(*head)->pprev = &n->next;
	*head = n;
	n->pprev = head;
	tb->n++;
}

static void table_remove(struct tsx_table *tb, struct tsx_node *n)
{
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	tb->n--;
	/* Give back the buckets of a burst once load falls to 1/8; the next
	 * growth is then 8 times as many inserts away. */
	if (tb->mask + 1 > TABLE_MIN && tb->n < (tb->mask + 1) / 8)
		table_resize(tb, (tb->mask + 1) / 2);
}

static inline bool node_is(const struct tsx_node *n, uint64_t hash, const char *key, size_t klen)
{
	return n->hash == hash && n->klen == klen && !memcmp(n->key, key, klen);
}

/* ---- keys --------------------------------------------------------------- */

struct kbuf {
	char *p;
	size_t n;
	bool over;
};

static void kput(struct kbuf *k, const char *s, size_t len)
{
	if (k->over || len > KEY_MAX - k->n) {
		k->over = true;
		return;
	}
	memcpy(k->p + k->n, s, len);
	k->n += len;
}

static void kputc(struct kbuf *k, char c)
{
	kput(k, &c, 1);
}

static void kput_u32(struct kbuf *k, uint32_t v)
{
	char d[10];
	size_t i = sizeof(d);
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	kput(k, d + i, sizeof(d) - i);
}

/* The first byte of every key: the method, so that a CANCEL and its INVITE
 * (same branch) are two transactions. Unknown methods add their name. */
static void kput_method(struct kbuf *k, enum sip_method method)
{
	kputc(k, (char)('A' + method));
}

static void kput_other(struct kbuf *k, enum sip_method method, struct sip_pl name)
{
	if (method == SIP_METHOD_OTHER) {
		kputc(k, '\n');
		kput(k, name.p, name.l);
	}
}

static inline bool has_cookie(struct sip_pl branch)
{
	return branch.l > COOKIE_LEN && !memcmp(branch.p, SIP_BRANCH_COOKIE, COOKIE_LEN);
}

/**
 * Server key of request @p m, looked up as method @p method (INVITE for an
 * ACK and for a CANCEL's INVITE). RFC 3261 17.2.3: branch and sent-by; for
 * RFC 2543 requests the fields of the old rule, with the To tag returned
 * in @p totag (NULL slice for RFC 3261 keys) to be compared apart, since
 * an ACK's differs from its INVITE's.
 */
static int srv_key(const struct sip_msg *m, enum sip_method method, struct kbuf *k,
		   struct sip_pl *totag)
{
	struct sip_via v;
	struct sip_addr from, to;
	struct sip_pl callid;

	*totag = (struct sip_pl){NULL, 0};
	if (!m->request || sip_msg_via_top(m, &v))
		return EINVAL;
	kput_method(k, method);
	if (has_cookie(v.branch)) {
		kputc(k, 'B');
		kput(k, v.branch.p, v.branch.l);
		kputc(k, '\n');
		/* Host names compare case-insensitively; the sent-by of a
		 * retransmission is the same text anyway, so no other
		 * normalisation (default ports) is attempted. */
		for (size_t i = 0; i < v.host.l && !k->over; i++) {
			char c = v.host.p[i];
			kputc(k, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
		}
		kputc(k, ':');
		kput_u32(k, v.port);
	} else {
		if (sip_msg_from(m, &from) || sip_msg_to(m, &to) || sip_msg_callid(m, &callid))
			return EINVAL;
		kputc(k, '2');
		kput(k, callid.p, callid.l);
		kputc(k, '\n');
		kput(k, from.tag.p, from.tag.l);
		kputc(k, '\n');
		kput_u32(k, m->cseq_num);
		kputc(k, '\n');
		kput(k, v.value.p, v.value.l);
		kputc(k, '\n');
		kput(k, m->ruri.p, m->ruri.l);
		*totag = to.tag.p ? to.tag : (struct sip_pl){"", 0};
	}
	kput_other(k, method, m->method_name);
	return k->over ? EMSGSIZE : 0;
}

/* Client key (RFC 3261 17.1.3): branch and CSeq method, for the request we
 * send and the responses we receive alike. */
static int cli_key(const struct sip_msg *m, struct kbuf *k, struct sip_pl *branch)
{
	struct sip_via v;
	if (sip_msg_via_top(m, &v) || !v.branch.l)
		return EINVAL;
	kput_method(k, m->cseq_method);
	*branch = v.branch;
	kput(k, v.branch.p, v.branch.l);
	/* NUL after the branch, so sip_ctsx_branch() can point into the key. */
	kputc(k, '\0');
	kput_other(k, m->cseq_method, m->cseq_method_name);
	return k->over ? EMSGSIZE : 0;
}

static struct sip_stsx *srv_find(struct sip_tsx_layer *l, const char *key, size_t klen,
				 struct sip_pl totag)
{
	uint64_t h = pbx_siphash(key, klen, l->k0, l->k1);
	for (struct tsx_node *n = l->srv.b[h & l->srv.mask]; n; n = n->next) {
		struct sip_stsx *t = (struct sip_stsx *)n;
		if (!node_is(n, h, key, klen))
			continue;
		if (!t->rfc2543 || !totag.p)
			return t;
		if (t->totag_len == totag.l && !memcmp(t->totag, totag.p, totag.l))
			return t;
	}
	return NULL;
}

static struct sip_ctsx *cli_find(struct sip_tsx_layer *l, const char *key, size_t klen)
{
	uint64_t h = pbx_siphash(key, klen, l->k0, l->k1);
	for (struct tsx_node *n = l->cli.b[h & l->cli.mask]; n; n = n->next)
		if (node_is(n, h, key, klen))
			return (struct sip_ctsx *)n;
	return NULL;
}

/* ---- server transactions ------------------------------------------------ */

static void stsx_destroy(struct sip_stsx *t, bool unlink)
{
	struct sip_tsx_layer *l = t->l;
	sip_timer_cancel(l->timers, &t->retx);
	sip_timer_cancel(l->timers, &t->end);
	if (unlink)
		table_remove(&l->srv, &t->node);
	free(t->resp);
	free(t);
}

static int stsx_send(struct sip_stsx *t)
{
	return t->l->ops->send(t->l->arg, &t->src, t->resp, t->resp_len);
}

/* Timer G: retransmit the final until the ACK comes or Timer H fires. A
 * failed send is not fatal here; Timer H ends the transaction either way. */
static void stsx_timer_g(struct sip_timer *tm, void *arg)
{
	struct sip_stsx *t = arg;
	(void)tm;
	if (t->resp_len)
		(void)stsx_send(t);
	t->interval = t->interval * 2 < SIP_T2 ? t->interval * 2 : SIP_T2;
	(void)sip_timer_start(t->l->timers, &t->retx, t->interval, stsx_timer_g, t);
}

/* Timers H, I, J, L: the end. Only H tells the TU anything. */
static void stsx_timer_end(struct sip_timer *tm, void *arg)
{
	struct sip_stsx *t = arg;
	struct sip_tsx_layer *l = t->l;
	bool timeout = t->invite && t->state == ST_COMPLETED;
	void *tu = t->tu;
	(void)tm;
	/* Free first, so the callback sees a layer without this transaction. */
	stsx_destroy(t, true);
	if (timeout && l->ops->stsx_timeout)
		l->ops->stsx_timeout(l->arg, tu);
}

/* Start the timer that ends the transaction, or end it now when the delay
 * is 0 or the timer cannot be started (a transaction without its end timer
 * would live until the layer is freed). Returns false when @p t is gone. */
static bool stsx_end_in(struct sip_stsx *t, uint64_t delay)
{
	if (delay && !sip_timer_start(t->l->timers, &t->end, delay, stsx_timer_end, t))
		return true;
	stsx_destroy(t, true);
	return false;
}

/* Keep the response to answer retransmissions (only UDP sees them). Best
 * effort: without memory the response is still sent, and retransmitted
 * requests are then absorbed unanswered. */
static void stsx_store(struct sip_stsx *t, const char *buf, size_t len)
{
	if (len > t->resp_cap) {
		char *p = realloc(t->resp, len);
		if (!p) {
			t->resp_len = 0;
			return;
		}
		t->resp = p;
		t->resp_cap = len;
	}
	memcpy(t->resp, buf, len);
	t->resp_len = len;
}

int sip_stsx_alloc(struct sip_stsx **tp, struct sip_tsx_layer *l, const struct sip_msg *req,
		   const struct sip_peer *src)
{
	char kb[KEY_MAX];
	struct kbuf k = {kb, 0, false};
	struct sip_pl totag;
	struct sip_stsx *t;
	int err;

	if (!req->request || req->method == SIP_METHOD_ACK)
		return EINVAL;
	err = srv_key(req, req->method, &k, &totag);
	if (err)
		return err;
	if (srv_find(l, kb, k.n, totag))
		return EEXIST;

	t = malloc(sizeof(*t) + k.n + totag.l);
	if (!t)
		return ENOMEM;
	memset(t, 0, sizeof(*t));
	memcpy(t->key, kb, k.n);
	t->node.key = t->key;
	t->node.klen = k.n;
	t->node.hash = pbx_siphash(kb, k.n, l->k0, l->k1);
	if (totag.p) {
		t->rfc2543 = true;
		memcpy(t->key + k.n, totag.p, totag.l);
		t->totag = t->key + k.n;
		t->totag_len = totag.l;
	}
	t->l = l;
	t->invite = req->method == SIP_METHOD_INVITE;
	t->state = t->invite ? ST_PROCEEDING : ST_TRYING;
	t->src = *src;
	t->reliable = sip_transport_reliable(src->tp);
	table_insert(&l->srv, &t->node);
	*tp = t;
	return 0;
}

void sip_stsx_set_tu(struct sip_stsx *t, void *tu)
{
	t->tu = tu;
}

void *sip_stsx_tu(const struct sip_stsx *t)
{
	return t->tu;
}

bool sip_stsx_final_sent(const struct sip_stsx *t)
{
	return t->code >= 200;
}

int sip_stsx_reply(struct sip_stsx *t, uint16_t code, const char *buf, size_t len)
{
	struct sip_tsx_layer *l = t->l;
	int err;

	if (code < 100 || code > 699 || !buf || !len || t->code >= 200)
		return EINVAL;
	t->code = code;
	/* A 2xx to INVITE is retransmitted by the TU, and absorbed
	 * retransmissions are not answered from here (RFC 6026 8.7). */
	if (!t->reliable && !(t->invite && code >= 200 && code < 300))
		stsx_store(t, buf, len);
	err = l->ops->send(l->arg, &t->src, buf, len);

	if (code < 200) {
		t->state = ST_PROCEEDING;
		return err;
	}
	if (!t->invite) {
		t->state = ST_COMPLETED;
		(void)stsx_end_in(t, t->reliable ? 0 : SIP_TIMER_64T1);
		return err;
	}
	if (code < 300) {
		t->state = ST_ACCEPTED;
		free(t->resp);
		t->resp = NULL;
		t->resp_len = t->resp_cap = 0;
		(void)stsx_end_in(t, SIP_TIMER_64T1);
		return err;
	}
	t->state = ST_COMPLETED;
	if (!stsx_end_in(t, SIP_TIMER_64T1))
		return err;
	if (!t->reliable) {
		t->interval = SIP_T1;
		(void)sip_timer_start(l->timers, &t->retx, t->interval, stsx_timer_g, t);
	}
	return err;
}

void sip_stsx_forget(struct sip_stsx *t)
{
	if (!t->invite && t->code >= 200)
		stsx_destroy(t, true);
}

struct sip_stsx *sip_stsx_find_invite(struct sip_tsx_layer *l, const struct sip_msg *cancel)
{
	char kb[KEY_MAX];
	struct kbuf k = {kb, 0, false};
	struct sip_pl totag;
	if (cancel->method != SIP_METHOD_CANCEL)
		return NULL;
	if (srv_key(cancel, SIP_METHOD_INVITE, &k, &totag))
		return NULL;
	struct sip_stsx *t = srv_find(l, kb, k.n, totag);
	return t && t->invite ? t : NULL;
}

/* A request that matched server transaction @p t. */
static bool stsx_recv(struct sip_stsx *t, const struct sip_msg *m)
{
	if (m->method == SIP_METHOD_ACK) {
		switch (t->state) {
		case ST_COMPLETED:
			/* RFC 3261 17.2.1: Confirmed, Timer I (T4; 0 reliable). */
			sip_timer_cancel(t->l->timers, &t->retx);
			sip_timer_cancel(t->l->timers, &t->end);
			t->state = ST_CONFIRMED;
			(void)stsx_end_in(t, t->reliable ? 0 : SIP_T4);
			return true;
		case ST_ACCEPTED:
			/* RFC 6026 8.7: the ACK of a 2xx goes to the TU. Only an
			 * RFC 2543 ACK can match here: RFC 3261 ones carry a
			 * branch of their own. */
			return false;
		default: return true;
		}
	}
	/* A retransmission: answered in Proceeding and Completed with what
	 * was sent last, absorbed otherwise (Trying, Confirmed, Accepted). */
	if ((t->state == ST_PROCEEDING || t->state == ST_COMPLETED) && t->resp_len)
		(void)stsx_send(t);
	return true;
}

/* ---- client transactions ------------------------------------------------ */

static void ctsx_destroy(struct sip_ctsx *t, bool unlink)
{
	struct sip_tsx_layer *l = t->l;
	sip_timer_cancel(l->timers, &t->retx);
	sip_timer_cancel(l->timers, &t->end);
	if (unlink)
		table_remove(&l->cli, &t->node);
	free(t->req);
	free(t->ack);
	free(t);
}

static inline void ctsx_deliver(struct sip_ctsx *t, const struct sip_msg *m, uint16_t code)
{
	if (t->cb)
		t->cb(t->arg, m, code);
}

/* Timer B, F, or a failed retransmission: tell the TU, end. */
static void ctsx_fail(struct sip_ctsx *t, uint16_t code)
{
	sip_timer_cancel(t->l->timers, &t->retx);
	sip_timer_cancel(t->l->timers, &t->end);
	ctsx_deliver(t, NULL, code);
	ctsx_destroy(t, true);
}

static void ctsx_timer_end(struct sip_timer *tm, void *arg)
{
	struct sip_ctsx *t = arg;
	(void)tm;
	switch (t->state) {
	case ST_CALLING:
	case ST_TRYING: ctsx_fail(t, 408); return;
	case ST_PROCEEDING:
		/* Timer F, or the guard of an abandoned INVITE (silent). */
		if (!t->invite) {
			ctsx_fail(t, 408);
			return;
		}
		break;
	default: break; /* Timers D, K, M */
	}
	ctsx_destroy(t, true);
}

/* Timers A and E. */
static void ctsx_timer_retx(struct sip_timer *tm, void *arg)
{
	struct sip_ctsx *t = arg;
	struct sip_tsx_layer *l = t->l;
	(void)tm;
	if (l->ops->send(l->arg, &t->dst, t->req, t->req_len)) {
		/* RFC 3261 17.1.4: a transport error is a 503. */
		ctsx_fail(t, 503);
		return;
	}
	if (t->invite) /* A doubles without a cap; B ends it first */
		t->interval *= 2;
	else if (t->state == ST_PROCEEDING) /* E in Proceeding: T2 */
		t->interval = SIP_T2;
	else
		t->interval = t->interval * 2 < SIP_T2 ? t->interval * 2 : SIP_T2;
	(void)sip_timer_start(l->timers, &t->retx, t->interval, ctsx_timer_retx, t);
}

static void ack_put(char **p, const char *s, size_t len)
{
	memcpy(*p, s, len);
	*p += len;
}

#define ACK_PUT_LIT(p, s) ack_put(p, s, sizeof(s) - 1)

/**
 * What the request decides of the ACK for a non-2xx (RFC 3261 17.1.1.3):
 * Request-URI, the top Via alone, Route, From, Call-ID, CSeq number. Kept
 * as two parts, before and after the To line, which comes from the
 * response (ack_finish). Built now because the request is parsed now;
 * costs one allocation per client INVITE.
 */
static int ack_head(struct sip_ctsx *t, const struct sip_msg *m)
{
	static const char mf[] = "Max-Forwards: 70\r\n";
	static const char tail[] = " ACK\r\nContent-Length: 0\r\n\r\n";
	struct sip_via v;
	struct sip_pl callid;
	const struct sip_hdr *from = sip_msg_hdr_first(m, SIP_HDR_FROM);
	char num[10];
	size_t nl = 0, head, len;
	uint32_t cseq = m->cseq_num;
	char *p;

	if (sip_msg_via_top(m, &v) || sip_msg_callid(m, &callid) || !from)
		return EINVAL;
	do {
		num[sizeof(num) - ++nl] = (char)('0' + cseq % 10);
		cseq /= 10;
	} while (cseq);

	head = 4 + m->ruri.l + 10 + 5 + v.value.l + 2 + sizeof(mf) - 1 + 6 + from->value.l + 2;
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_ROUTE); h;
	     h = sip_msg_hdr_next(m, h))
		head += 7 + h->value.l + 2;
	len = head + 9 + callid.l + 2 + 6 + nl + sizeof(tail) - 1;

	t->ack = malloc(len);
	if (!t->ack)
		return ENOMEM;
	p = t->ack;
	ACK_PUT_LIT(&p, "ACK ");
	ack_put(&p, m->ruri.p, m->ruri.l);
	ACK_PUT_LIT(&p, " SIP/2.0\r\n");
	ACK_PUT_LIT(&p, "Via: ");
	ack_put(&p, v.value.p, v.value.l);
	ACK_PUT_LIT(&p, "\r\n");
	ack_put(&p, mf, sizeof(mf) - 1);
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_ROUTE); h;
	     h = sip_msg_hdr_next(m, h)) {
		ACK_PUT_LIT(&p, "Route: ");
		ack_put(&p, h->value.p, h->value.l);
		ACK_PUT_LIT(&p, "\r\n");
	}
	ACK_PUT_LIT(&p, "From: ");
	ack_put(&p, from->value.p, from->value.l);
	ACK_PUT_LIT(&p, "\r\n");
	assert((size_t)(p - t->ack) == head);
	ACK_PUT_LIT(&p, "Call-ID: ");
	ack_put(&p, callid.p, callid.l);
	ACK_PUT_LIT(&p, "\r\n");
	ACK_PUT_LIT(&p, "CSeq: ");
	ack_put(&p, num + sizeof(num) - nl, nl);
	ack_put(&p, tail, sizeof(tail) - 1);
	assert((size_t)(p - t->ack) == len);
	t->ack_head_len = head;
	t->ack_len = len;
	return 0;
}

/* Insert the To of the response being acknowledged (RFC 3261 17.1.1.3:
 * equal to it, tag included). Returns false without memory: the final is
 * still delivered, unacknowledged, and the far end retransmits it until
 * its Timer H. */
static bool ack_finish(struct sip_ctsx *t, const struct sip_msg *resp)
{
	const struct sip_hdr *to = sip_msg_hdr_first(resp, SIP_HDR_TO);
	struct sip_pl tv = to ? to->value : (struct sip_pl){"", 0};
	size_t len = t->ack_len + 4 + tv.l + 2;
	char *a = malloc(len), *p = a;
	if (!a)
		return false;
	ack_put(&p, t->ack, t->ack_head_len);
	ACK_PUT_LIT(&p, "To: ");
	ack_put(&p, tv.p, tv.l);
	ACK_PUT_LIT(&p, "\r\n");
	ack_put(&p, t->ack + t->ack_head_len, t->ack_len - t->ack_head_len);
	free(t->ack);
	t->ack = a;
	t->ack_len = len;
	t->ack_ready = true;
	return true;
}

static void ctsx_send_ack(struct sip_ctsx *t)
{
	/* A lost ACK is recovered by the far end's retransmission; an error
	 * here changes nothing. */
	if (t->ack_ready)
		(void)t->l->ops->send(t->l->arg, &t->dst, t->ack, t->ack_len);
}

/* Start the timer that ends the transaction, or end it now. */
static bool ctsx_end_in(struct sip_ctsx *t, uint64_t delay)
{
	if (delay && !sip_timer_start(t->l->timers, &t->end, delay, ctsx_timer_end, t))
		return true;
	ctsx_destroy(t, true);
	return false;
}

int sip_ctsx_alloc(struct sip_ctsx **tp, struct sip_tsx_layer *l, const char *buf, size_t len,
		   const struct sip_peer *dst, sip_ctsx_resp_h *cb, void *arg)
{
	char kb[KEY_MAX];
	struct kbuf k = {kb, 0, false};
	struct sip_pl branch;
	struct sip_msg m;
	const char *reason;
	struct sip_ctsx *t = NULL;
	char *req;
	int err;

	if (!buf || !len || len > SIP_MSG_MAX_SIZE)
		return EINVAL;
	/* Parsed in place in our own copy: the parser only rewrites folded
	 * line breaks, and the ACK's pieces are copied out before it goes. */
	req = malloc(len);
	if (!req)
		return ENOMEM;
	memcpy(req, buf, len);
	err = sip_msg_parse(&m, req, len, &reason) ? EINVAL : 0;
	if (!err && (!m.request || m.method == SIP_METHOD_ACK))
		err = EINVAL;
	if (!err)
		err = cli_key(&m, &k, &branch);
	if (!err && !has_cookie(branch))
		err = EINVAL;
	if (!err && cli_find(l, kb, k.n))
		err = EEXIST;
	if (err)
		goto out;

	t = malloc(sizeof(*t) + k.n);
	if (!t) {
		err = ENOMEM;
		goto out;
	}
	memset(t, 0, sizeof(*t));
	memcpy(t->key, kb, k.n);
	t->node.key = t->key;
	t->node.klen = k.n;
	t->node.hash = pbx_siphash(kb, k.n, l->k0, l->k1);
	t->branch = t->key + 1;
	t->l = l;
	t->invite = m.method == SIP_METHOD_INVITE;
	t->state = t->invite ? ST_CALLING : ST_TRYING;
	t->reliable = sip_transport_reliable(dst->tp);
	t->dst = *dst;
	t->cb = cb;
	t->arg = arg;
	t->req = req;
	t->req_len = len;
	req = NULL;
	if (t->invite && (err = ack_head(t, &m)))
		goto out;
	err = sip_timer_start(l->timers, &t->end, SIP_TIMER_64T1, ctsx_timer_end, t);
	if (!err && !t->reliable) {
		t->interval = SIP_T1;
		err = sip_timer_start(l->timers, &t->retx, t->interval, ctsx_timer_retx, t);
	}
	if (err)
		goto out;
	/* The transport must not deliver a response from inside send: the
	 * TU has no pointer to the transaction yet. */
	table_insert(&l->cli, &t->node);
	err = l->ops->send(l->arg, dst, t->req, t->req_len);
	if (err) {
		ctsx_destroy(t, true);
		return err;
	}
	*tp = t;
	return 0;
out:
	if (t)
		ctsx_destroy(t, false);
	free(req);
	return err;
}

void sip_ctsx_abandon(struct sip_ctsx *t)
{
	t->cb = NULL;
	t->arg = NULL;
	/* Only Proceeding has no end timer for an INVITE: the TU was to
	 * decide. Without a TU, wait 64*T1 for the final its CANCEL brings. */
	if (t->invite && t->state == ST_PROCEEDING && !sip_timer_running(&t->end))
		(void)ctsx_end_in(t, SIP_TIMER_64T1);
}

const char *sip_ctsx_branch(const struct sip_ctsx *t)
{
	return t->branch;
}

/* A response that matched client transaction @p t. */
static bool ctsx_recv(struct sip_ctsx *t, const struct sip_msg *m)
{
	struct sip_timers *ts = t->l->timers;
	uint16_t code = m->status;
	bool consumed;

	switch (t->state) {
	case ST_TRYING:
	case ST_CALLING:
	case ST_PROCEEDING: break;
	case ST_COMPLETED:
		/* A retransmitted non-2xx final of an INVITE: ACK it again. */
		if (t->invite && code >= 300)
			ctsx_send_ack(t);
		return true;
	case ST_ACCEPTED:
		/* RFC 6026 (17.1.1.2 amended): every 2xx goes to the TU (retransmissions and
		 * other forks); without a TU, to the core, to ACK and BYE. */
		if (code >= 200 && code < 300) {
			consumed = t->cb != NULL;
			ctsx_deliver(t, m, code);
			return consumed;
		}
		return true;
	default: return true;
	}

	if (code < 200) {
		if (t->state == ST_CALLING) {
			/* Timer A stops; Timer B only applies to Calling. */
			sip_timer_cancel(ts, &t->retx);
			sip_timer_cancel(ts, &t->end);
			t->state = ST_PROCEEDING;
			if (!t->cb && !ctsx_end_in(t, SIP_TIMER_64T1)) /* the abandon guard */
				return true;
		}
		/* non-INVITE: Timer E keeps running and goes to T2 when it
		 * next fires; Timer F keeps running. */
		t->state = ST_PROCEEDING;
		ctsx_deliver(t, m, code);
		return true;
	}

	sip_timer_cancel(ts, &t->retx);
	sip_timer_cancel(ts, &t->end);
	if (!t->invite) {
		/* Completed; Timer K (T4; 0 reliable). */
		t->state = ST_COMPLETED;
		ctsx_deliver(t, m, code);
		(void)ctsx_end_in(t, t->reliable ? 0 : SIP_T4);
		return true;
	}
	if (code < 300) {
		/* RFC 6026: Accepted, Timer M. */
		t->state = ST_ACCEPTED;
		consumed = t->cb != NULL;
		ctsx_deliver(t, m, code);
		(void)ctsx_end_in(t, SIP_TIMER_64T1);
		return consumed;
	}
	/* Completed: ACK, Timer D (32 s; 0 reliable). */
	t->state = ST_COMPLETED;
	if (ack_finish(t, m))
		ctsx_send_ack(t);
	free(t->req); /* no more retransmissions of the request */
	t->req = NULL;
	ctsx_deliver(t, m, code);
	(void)ctsx_end_in(t, t->reliable ? 0 : SIP_TIMER_D);
	return true;
}

/* ---- the layer ---------------------------------------------------------- */

int sip_tsx_layer_alloc(struct sip_tsx_layer **lp, struct sip_timers *timers,
			const struct sip_tsx_ops *ops, void *arg)
{
	struct sip_tsx_layer *l;
	uint64_t key[2];
	int err;

	if (!timers || !ops || !ops->send)
		return EINVAL;
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return EIO;
	l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->timers = timers;
	l->ops = ops;
	l->arg = arg;
	l->k0 = key[0];
	l->k1 = key[1];
	err = table_init(&l->srv);
	if (!err)
		err = table_init(&l->cli);
	if (err) {
		sip_tsx_layer_free(l);
		return err;
	}
	*lp = l;
	return 0;
}

void sip_tsx_layer_free(struct sip_tsx_layer *l)
{
	if (!l)
		return;
	/* Walk the buckets without table_remove: it could shrink the table
	 * under the walk. */
	for (size_t i = 0; l->srv.b && i <= l->srv.mask; i++) {
		struct tsx_node *n = l->srv.b[i], *next;
		for (; n; n = next) {
			next = n->next;
			stsx_destroy((struct sip_stsx *)n, false);
		}
	}
	for (size_t i = 0; l->cli.b && i <= l->cli.mask; i++) {
		struct tsx_node *n = l->cli.b[i], *next;
		for (; n; n = next) {
			next = n->next;
			ctsx_destroy((struct sip_ctsx *)n, false);
		}
	}
	free(l->srv.b);
	free(l->cli.b);
	free(l);
}

bool sip_tsx_recv(struct sip_tsx_layer *l, const struct sip_msg *m, const struct sip_peer *src)
{
	char kb[KEY_MAX];
	struct kbuf k = {kb, 0, false};
	struct sip_pl x;
	(void)src;

	if (m->request) {
		enum sip_method method =
			m->method == SIP_METHOD_ACK ? SIP_METHOD_INVITE : m->method;
		struct sip_stsx *t;
		if (srv_key(m, method, &k, &x))
			return false;
		/* An RFC 2543 ACK carries the To tag of our response, not the
		 * INVITE's: leave it out of the comparison. */
		if (m->method == SIP_METHOD_ACK)
			x = (struct sip_pl){NULL, 0};
		t = srv_find(l, kb, k.n, x);
		if (!t)
			return false;
		l->absorbed++;
		return stsx_recv(t, m);
	}
	if (cli_key(m, &k, &x))
		return false;
	struct sip_ctsx *t = cli_find(l, kb, k.n);
	return t ? ctsx_recv(t, m) : false;
}

void sip_tsx_branch(char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[12];
	size_t digits;

	assert(len >= COOKIE_LEN + 16 + 1);
	if (len < COOKIE_LEN + 16 + 1) { /* NDEBUG: no branch rather than a short one */
		if (len)
			buf[0] = '\0';
		return;
	}
	digits = len - 1 - COOKIE_LEN;
	if (digits > 2 * sizeof(rnd))
		digits = 2 * sizeof(rnd);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* Only without getrandom(2) (Linux < 3.17): uniqueness from
		 * the clock and a counter, not unpredictability. */
		static uint64_t counter;
		struct timespec ts;
		uint64_t a, b;
		clock_gettime(CLOCK_REALTIME, &ts);
		a = pbx_siphash((const char *)&counter, 8, (uint64_t)ts.tv_sec,
				(uint64_t)ts.tv_nsec);
		counter++;
		b = pbx_siphash((const char *)&counter, 8, a, (uint64_t)(uintptr_t)buf);
		memcpy(rnd, &a, 8);
		memcpy(rnd + 8, &b, 4);
	}
	memcpy(buf, SIP_BRANCH_COOKIE, COOKIE_LEN);
	for (size_t i = 0; i < digits; i++)
		buf[COOKIE_LEN + i] = hex[(rnd[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	buf[COOKIE_LEN + digits] = '\0';
}

unsigned sip_tsx_count(const struct sip_tsx_layer *l)
{
	return (unsigned)(l->srv.n + l->cli.n);
}

void sip_tsx_stats(const struct sip_tsx_layer *l, struct sip_tsx_stats *st)
{
	st->server = l->srv.n;
	st->client = l->cli.n;
	st->absorbed = l->absorbed;
}
