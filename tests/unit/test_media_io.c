/**
 * @file test_media_io.c  A worker's send queue: batching, flush, overflow, failed sends, fallback
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Real UDP sockets on loopback. A send that fails in the kernel (EAGAIN on
 * a full buffer, EINVAL, an ICMP error) is one case for the queue: the
 * packet is lost and not counted. Loopback never fills a UDP send buffer,
 * so the tests fail sends with addresses the kernel refuses instead.
 * Without io_uring (a kernel or sandbox that refuses it) the batching tests
 * are skipped and the direct mode is still tested.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "unit.h"

struct pair {
	int tx, rx;
	union pbx__sa to;
	socklen_t tolen;
};

static void pair_open(struct pair *p)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int buf = 1 << 20;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	p->rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(p->tx >= 0 && p->rx >= 0);
	assert_int_equal(setsockopt(p->rx, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf), 0);
	assert_int_equal(bind(p->rx, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(p->rx, (struct sockaddr *)&a, &len), 0);
	memset(&p->to, 0, sizeof p->to);
	p->to.in = a;
	p->tolen = sizeof a;
}

static void pair_close(struct pair *p)
{
	close(p->tx);
	close(p->rx);
}

/* The next datagram waiting on @p fd: its length, -1 when there is none. */
static ssize_t next_pkt(int fd, uint8_t *b, size_t size)
{
	return recv(fd, b, size, MSG_DONTWAIT);
}

static struct pbx__io *batching(void)
{
	struct pbx__io *io = NULL;
	assert_int_equal(pbx__io_alloc(&io, true), 0);
	if (!pbx__io_batched(io)) {
		pbx__io_free(io);
		return NULL;
	}
	return io;
}

static void test_io_batch(void **state)
{
	(void)state;
	struct pbx__io *io = batching();
	struct pbx_rtp_stats st;
	struct pair p;
	uint8_t pkt[172], b[2048];
	if (!io)
		skip();
	pair_open(&p);
	memset(&st, 0, sizeof st);
	for (int i = 0; i < 5; i++) {
		memset(pkt, i, sizeof pkt);
		pbx__io_send(io, p.tx, pkt, sizeof pkt - (size_t)i, &p.to, p.tolen, &st);
	}
	memset(pkt, 0xee, sizeof pkt); /* copied when queued: the caller's buffer is free again */
	assert_int_equal(pbx__io_queued(io), 5);
	assert_int_equal(next_pkt(p.rx, b, sizeof b), -1); /* nothing before the flush */
	assert_int_equal(st.tx_packets, 0);
	pbx__io_flush(io);
	assert_int_equal(pbx__io_queued(io), 0);
	assert_int_equal(st.tx_packets, 5);
	assert_int_equal(st.tx_bytes, 5 * 172 - (0 + 1 + 2 + 3 + 4));
	for (int i = 0; i < 5; i++) { /* in order, each its own length and bytes */
		assert_int_equal(next_pkt(p.rx, b, sizeof b), 172 - i);
		assert_int_equal(b[0], i);
		assert_int_equal(b[171 - i], i);
	}
	assert_int_equal(next_pkt(p.rx, b, sizeof b), -1);
	pbx__io_flush(io); /* an empty flush is nothing */
	assert_int_equal(st.tx_packets, 5);
	pbx__io_free(io);
	pair_close(&p);
}

/* A turn with a packet or two sends them by sendto at the flush: same result. */
static void test_io_small_turn(void **state)
{
	(void)state;
	struct pbx__io *io = batching();
	struct pbx_rtp_stats st;
	struct pair p;
	uint8_t pkt[172] = {0x80}, b[2048];
	if (!io)
		skip();
	pair_open(&p);
	memset(&st, 0, sizeof st);
	pbx__io_send(io, p.tx, pkt, sizeof pkt, &p.to, p.tolen, &st);
	assert_int_equal(pbx__io_queued(io), 1);
	pbx__io_flush(io);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(next_pkt(p.rx, b, sizeof b), 172);
	pbx__io_free(io);
	pair_close(&p);
}

/* More packets than slots, larger ones than the arena holds: flushed on the way, none lost. */
static void test_io_overflow(void **state)
{
	(void)state;
	struct pbx__io *io = batching();
	struct pbx_rtp_stats st;
	struct pair p;
	static uint8_t pkt[2000], b[2048];
	if (!io)
		skip();
	pair_open(&p);
	memset(&st, 0, sizeof st);
	for (int i = 0; i < 300; i++) {
		pkt[0] = (uint8_t)i;
		pbx__io_send(io, p.tx, pkt, 172, &p.to, p.tolen, &st);
	}
	assert_true(pbx__io_queued(io) < 300);
	assert_true(st.tx_packets > 0);
	pbx__io_flush(io);
	assert_int_equal(st.tx_packets, 300);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(next_pkt(p.rx, b, sizeof b), 172);
		assert_int_equal(b[0], (uint8_t)i);
	}
	memset(&st, 0, sizeof st);
	for (int i = 0; i < 40; i++) /* 80 KB: more than the arena */
		pbx__io_send(io, p.tx, pkt, sizeof pkt, &p.to, p.tolen, &st);
	assert_true(pbx__io_queued(io) < 40);
	pbx__io_flush(io);
	assert_int_equal(st.tx_packets, 40);
	assert_int_equal(st.tx_bytes, 40 * sizeof pkt);
	for (int i = 0; i < 40; i++)
		assert_int_equal(next_pkt(p.rx, b, sizeof b), sizeof pkt);
	pbx__io_free(io);
	pair_close(&p);
}

/*
 * A send the kernel refuses is lost and not counted; the packets around it
 * in the same batch go out. The destination is copied when queued: the
 * session may latch elsewhere before the flush.
 */
static void send_errors(struct pbx__io *io)
{
	struct pbx_rtp_stats ok, bad;
	struct pair p;
	union pbx__sa port0, v6, to;
	uint8_t pkt[172] = {0x80}, b[2048];
	pair_open(&p);
	memset(&ok, 0, sizeof ok);
	memset(&bad, 0, sizeof bad);
	port0 = p.to;
	port0.in.sin_port = 0; /* EINVAL */
	memset(&v6, 0, sizeof v6);
	v6.in6.sin6_family = AF_INET6; /* from an IPv4 socket: refused */
	v6.in6.sin6_port = htons(9);
	v6.in6.sin6_addr = in6addr_loopback;
	to = p.to;
	pbx__io_send(io, p.tx, pkt, sizeof pkt, &to, p.tolen, &ok);
	pbx__io_send(io, p.tx, pkt, sizeof pkt, &port0, p.tolen, &bad);
	pbx__io_send(io, p.tx, pkt, sizeof pkt, &to, p.tolen, &ok);
	pbx__io_send(io, p.tx, pkt, sizeof pkt, &v6, sizeof v6.in6, &bad);
	pbx__io_send(io, -1, pkt, sizeof pkt, &to, p.tolen, &bad); /* EBADF */
	pbx__io_send(io, p.tx, pkt, sizeof pkt, &to, p.tolen, &ok);
	to.in.sin_port = 0; /* too late for what is queued */
	pbx__io_flush(io);
	assert_int_equal(ok.tx_packets, 3);
	assert_int_equal(bad.tx_packets, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(next_pkt(p.rx, b, sizeof b), 172);
	assert_int_equal(next_pkt(p.rx, b, sizeof b), -1);
	pair_close(&p);
}

static void test_io_errors(void **state)
{
	(void)state;
	struct pbx__io *io = batching();
	if (!io)
		skip();
	send_errors(io);
	assert_true(pbx__io_batched(io)); /* a refused packet is not a broken ring */
	pbx__io_free(io);
}

/* Without batching every send goes at once; the flush has nothing to do. */
static void test_io_direct(void **state)
{
	(void)state;
	struct pbx__io *io = NULL;
	struct pbx_rtp_stats st;
	struct pair p;
	uint8_t pkt[172] = {0x80}, b[2048];
	assert_int_equal(pbx__io_alloc(&io, false), 0);
	assert_false(pbx__io_batched(io));
	pair_open(&p);
	memset(&st, 0, sizeof st);
	for (int i = 0; i < 5; i++)
		pbx__io_send(io, p.tx, pkt, sizeof pkt, &p.to, p.tolen, &st);
	assert_int_equal(pbx__io_queued(io), 0);
	assert_int_equal(st.tx_packets, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(next_pkt(p.rx, b, sizeof b), 172);
	pbx__io_flush(io);
	send_errors(io);
	pbx__io_free(io);
	pair_close(&p);
}

/* Freed with packets queued (a worker that stopped): dropped, nothing leaks. */
static void test_io_free_queued(void **state)
{
	(void)state;
	struct pbx__io *io = batching();
	struct pbx_rtp_stats st;
	struct pair p;
	uint8_t pkt[172] = {0x80};
	if (!io)
		skip();
	pair_open(&p);
	memset(&st, 0, sizeof st);
	for (int i = 0; i < 4; i++)
		pbx__io_send(io, p.tx, pkt, sizeof pkt, &p.to, p.tolen, &st);
	pbx__io_free(io);
	assert_int_equal(st.tx_packets, 0);
	pair_close(&p);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_io_batch),    cmocka_unit_test(test_io_small_turn),
	cmocka_unit_test(test_io_overflow), cmocka_unit_test(test_io_errors),
	cmocka_unit_test(test_io_direct),   cmocka_unit_test(test_io_free_queued),
};

UNIT_GROUP(media_io, tests, NULL, NULL);
