/**
 * @file test_rtp_input.c  Bad RTP input: strict RTP, malformed RTP, truncated RTCP, their counters
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine runs in-process with two workers (media_loop.h); the "phones"
 * are loopback sockets of the test: A and B are the two legs of a relayed
 * call, F a foreign socket that sends to A's leg. Each packet's payload
 * says who sent it, so what reaches B shows whose packets were relayed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "media_loop.h"
#include "unit.h"

static uv_loop_t loop;
static struct pbx_media_cfg cfg;

static int base_port(void)
{
	/* Apart from test_media.c's range (20000 + pid % 90 * 100, 100 ports). */
	return 30000 + (int)(getpid() % 90) * 100;
}

static int setup(void **state)
{
	(void)state;
	return unit_media_start(&loop, &cfg, base_port(), base_port() + 39, 0);
}

static int setup_loose(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.workers = 2;
	cfg.port_min = base_port();
	cfg.port_max = base_port() + 39;
	cfg.strict_rtp = false;
	if (uv_loop_init(&loop))
		return -1;
	return pbx__media_start_with(&cfg, &loop);
}

static int teardown(void **state)
{
	(void)state;
	return unit_media_stop(&loop);
}

/* ---- phones and packets ---------------------------------------------------------------------- */

struct call {
	int fa, fb, ff; /* A, B, and F, the foreign one */
	struct sockaddr_in aa, ab, af;
	struct pbx_rtp *ra, *rb;
	uint16_t seq_a, seq_f;
};

static int sock(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	socklen_t len = sizeof *addr;
	assert_true(fd >= 0);
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

static void send_to(int fd, int port, const uint8_t *p, size_t len)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(sendto(fd, p, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

/* A PCMU packet of 160 bytes of @p fill. */
static size_t mkpkt(uint8_t *p, uint16_t seq, uint32_t ssrc, uint8_t fill)
{
	uint32_t ts = (uint32_t)seq * 160;
	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	memset(p + 12, fill, 160);
	return 172;
}

#define SSRC_A 0xA0A0A0A0u
#define SSRC_F 0xF0F0F0F0u
#define FILL_A 0x11
#define FILL_F 0x66

static void send_a(struct call *c)
{
	uint8_t p[256];
	send_to(c->fa, pbx_rtp_port(c->ra), p, mkpkt(p, ++c->seq_a, SSRC_A, FILL_A));
}

static void send_f(struct call *c)
{
	uint8_t p[256];
	send_to(c->ff, pbx_rtp_port(c->ra), p, mkpkt(p, ++c->seq_f, SSRC_F, FILL_F));
}

/* What reached B within @p ms: the fill byte of each packet into @p fills, how many. */
static int recv_b(struct call *c, uint8_t *fills, int max, int ms)
{
	int n = 0;
	uint64_t end = unit_now_ms() + (uint64_t)ms;
	while (unit_now_ms() < end && n < max) {
		uint8_t b[2048];
		ssize_t len = recv(c->fb, b, sizeof b, MSG_DONTWAIT);
		if (len >= 13) {
			fills[n++] = b[12];
			continue;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		struct pollfd pf = {c->fb, POLLIN, 0};
		poll(&pf, 1, 1);
	}
	return n;
}

static void set_params(struct pbx_rtp *r, const struct sockaddr_in *remote)
{
	struct pbx_rtp_params p;
	memset(&p, 0, sizeof p);
	memcpy(&p.remote, remote, sizeof *remote);
	p.codec = pbx_codec_find("PCMU");
	p.pt = 0;
	p.dir = PBX_DIR_SENDRECV;
	p.ptime = 20;
	assert_int_equal(pbx_rtp_set_params(r, &p), 0);
}

static const struct pbx_rtp_events no_events;

/* A and B bridged; A's SDP names A's own socket, so latching is the only question. */
static void call_open(struct call *c)
{
	struct sockaddr_in lo;
	memset(c, 0, sizeof *c);
	memset(&lo, 0, sizeof lo);
	lo.sin_family = AF_INET;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fa = sock(&c->aa);
	c->fb = sock(&c->ab);
	c->ff = sock(&c->af);
	assert_int_equal(pbx_rtp_alloc(&c->ra, (struct sockaddr *)&lo, NULL, &no_events, NULL), 0);
	assert_int_equal(pbx_rtp_alloc(&c->rb, (struct sockaddr *)&lo, c->ra, &no_events, NULL), 0);
	set_params(c->ra, &c->aa);
	set_params(c->rb, &c->ab);
	assert_int_equal(pbx_rtp_bridge(c->ra, c->rb), 0);
	unit_pump(&loop, 20); /* the commands reach the worker before the packets */
	c->seq_a = 100;
	c->seq_f = 5000;
}

static void call_close(struct call *c)
{
	pbx_rtp_free(c->ra);
	pbx_rtp_free(c->rb);
	close(c->fa);
	close(c->fb);
	close(c->ff);
}

/* The leg's counters once @p field of them reaches @p want (the worker counts as it reads). */
#define WAIT_STAT(r, st, field, want)                                            \
	do {                                                                     \
		uint64_t end_ = unit_now_ms() + 2000;                            \
		do {                                                             \
			unit_pump(&loop, 2);                                     \
			pbx_rtp_get_stats((r), &(st));                           \
		} while ((st).field < (uint64_t)(want) && unit_now_ms() < end_); \
		assert_int_equal((st).field, (want));                            \
	} while (0)

/* ---- RTCP validation ------------------------------------------------------------------------- */

/* An RTCP part of @p type with @p words 32-bit words after its header, into @p p. */
static size_t rtcp_part(uint8_t *p, uint8_t type, uint16_t words, bool pad)
{
	memset(p, 0, 4 + 4 * (size_t)words);
	p[0] = (uint8_t)(0x80 | (pad ? 0x20 : 0));
	p[1] = type;
	p[2] = (uint8_t)(words >> 8);
	p[3] = (uint8_t)words;
	return 4 + 4 * (size_t)words;
}

static void test_rtcp_check(void **state)
{
	(void)state;
	uint8_t p[256];
	size_t n;

	/* An empty receiver report (8 bytes), and SR + SDES + BYE in one datagram. */
	n = rtcp_part(p, 201, 1, false);
	assert_int_equal(pbx__rtcp_check(p, n), 0);
	n = rtcp_part(p, 200, 6, false);
	n += rtcp_part(p + n, 202, 3, false);
	n += rtcp_part(p + n, 203, 0, false);
	assert_int_equal(pbx__rtcp_check(p, n), 0);
	/* Reduced-size (RFC 5506): a feedback message alone; XR (207) too. */
	n = rtcp_part(p, 205, 2, false);
	assert_int_equal(pbx__rtcp_check(p, n), 0);
	n = rtcp_part(p, 207, 4, false);
	assert_int_equal(pbx__rtcp_check(p, n), 0);
	/* Padding on the last part, its count within the part. */
	n = rtcp_part(p, 201, 1, false);
	n += rtcp_part(p + n, 202, 2, true);
	p[n - 1] = 8;
	assert_int_equal(pbx__rtcp_check(p, n), 0);

	/* Truncated: shorter than 8 bytes, or cut inside a part. */
	n = rtcp_part(p, 201, 1, false);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(pbx__rtcp_check(p, k), EBADMSG);
	n = rtcp_part(p, 200, 6, false);
	n += rtcp_part(p + n, 202, 3, false);
	assert_int_equal(pbx__rtcp_check(p, n - 1), EBADMSG);
	assert_int_equal(pbx__rtcp_check(p, n - 4), EBADMSG);
	/* Bytes after the last part that are no part. */
	n = rtcp_part(p, 201, 1, false);
	assert_int_equal(pbx__rtcp_check(p, n + 3), EBADMSG);
	/* Not version 2; not an RTCP packet type (RTP with PT 72..79 looks close). */
	n = rtcp_part(p, 201, 1, false);
	p[0] = 0x40;
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	n = rtcp_part(p, 199, 1, false);
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	n = rtcp_part(p, 208, 1, false);
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	/* A second part of another version. */
	n = rtcp_part(p, 201, 1, false);
	n += rtcp_part(p + n, 202, 1, false);
	p[8] = 0x00;
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	/* A length field past the end. */
	n = rtcp_part(p, 201, 1, false);
	p[3] = 50;
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	p[2] = 0xff;
	p[3] = 0xff;
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	/* Padding: a count of 0, one larger than the part's body, or not on the last part. */
	n = rtcp_part(p, 201, 1, true);
	p[n - 1] = 0;
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	p[n - 1] = 5;
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
	p[n - 1] = 4;
	assert_int_equal(pbx__rtcp_check(p, n), 0);
	n = rtcp_part(p, 201, 1, true);
	p[n - 1] = 4;
	n += rtcp_part(p + n, 202, 1, false);
	assert_int_equal(pbx__rtcp_check(p, n), EBADMSG);
}

/* ---- strict RTP ------------------------------------------------------------------------------ */

/* A foreign source's packets, mixed into the real stream, are dropped and counted. */
static void test_strict_drops_foreign(void **state)
{
	(void)state;
	struct call c;
	struct pbx_rtp_stats st;
	uint8_t fills[64];
	call_open(&c);
	send_a(&c); /* A latches */
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	assert_int_equal(fills[0], FILL_A);

	/* Ten rounds of A's packet and three of F's: only A's reach B. */
	for (int i = 0; i < 10; i++) {
		send_a(&c);
		send_f(&c);
		send_f(&c);
		send_f(&c);
		unit_pump(&loop, 2);
	}
	int got = recv_b(&c, fills, 64, 300);
	assert_int_equal(got, 10);
	for (int i = 0; i < got; i++)
		assert_int_equal(fills[i], FILL_A);
	WAIT_STAT(c.ra, st, rx_strict, 30);
	assert_int_equal(st.rx_packets, 41);
	assert_int_equal(st.rx_dropped, 30);
	assert_int_equal(st.rx_malformed, 0);

	call_close(&c);
}

/* A burst of forgeries between two real packets never takes over, however
 * long; once the real source is quiet, a new one that keeps sending does. */
static void test_strict_burst_cannot_steal(void **state)
{
	(void)state;
	struct call c;
	struct pbx_rtp_stats st;
	uint8_t fills[64];
	call_open(&c);
	send_a(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	for (int i = 0; i < 3; i++) {
		send_a(&c);
		for (int k = 0; k < 10; k++)
			send_f(&c);
		unit_pump(&loop, 20); /* a phone's 20 ms */
	}
	send_a(&c);
	int got = recv_b(&c, fills, 64, 300);
	assert_int_equal(got, 4);
	for (int i = 0; i < got; i++)
		assert_int_equal(fills[i], FILL_A);
	WAIT_STAT(c.ra, st, rx_strict, 30);

	/* A falls silent (its phone moved to F's address, say): F takes over
	 * after 4 packets in a row once A has been quiet for 100 ms. */
	unit_pump(&loop, 150);
	for (int i = 0; i < 3; i++)
		send_f(&c);
	assert_int_equal(recv_b(&c, fills, 1, 100), 0);
	send_f(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	assert_int_equal(fills[0], FILL_F);
	WAIT_STAT(c.ra, st, rx_strict, 33);
	/* ... and A is now the stranger. */
	send_a(&c);
	assert_int_equal(recv_b(&c, fills, 1, 100), 0);
	WAIT_STAT(c.ra, st, rx_strict, 34);

	call_close(&c);
}

/* rtp.strict_rtp = false: every new source takes over at once. */
static void test_loose_takes_any_source(void **state)
{
	(void)state;
	struct call c;
	struct pbx_rtp_stats st;
	uint8_t fills[8];
	call_open(&c);
	send_a(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	send_f(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	assert_int_equal(fills[0], FILL_F);
	send_a(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	assert_int_equal(fills[0], FILL_A);
	pbx_rtp_get_stats(c.ra, &st);
	assert_int_equal(st.rx_strict, 0);
	assert_int_equal(st.rx_dropped, 0);
	call_close(&c);
}

/* ---- malformed RTP and RTCP ------------------------------------------------------------------ */

static void test_malformed_counted(void **state)
{
	(void)state;
	struct call c;
	struct pbx_rtp_stats st, tot;
	uint8_t fills[8], p[3000];
	size_t n;
	unsigned nsess;
	call_open(&c);
	send_a(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	int port = pbx_rtp_port(c.ra);

	n = mkpkt(p, 1, SSRC_A, FILL_A);
	p[0] = 0x40; /* version 1 */
	send_to(c.fa, port, p, n);
	send_to(c.fa, port, p, 11); /* shorter than the fixed header */
	n = mkpkt(p, 2, SSRC_A, FILL_A);
	p[0] = 0x8f; /* 15 CSRCs: 72 bytes of header in a 20-byte packet */
	send_to(c.fa, port, p, 20);
	n = mkpkt(p, 3, SSRC_A, FILL_A);
	p[0] = 0x90; /* an extension of 0x1111 words */
	send_to(c.fa, port, p, n);
	n = mkpkt(p, 4, SSRC_A, FILL_A);
	p[0] = 0x90; /* an extension header cut short */
	send_to(c.fa, port, p, 14);
	n = mkpkt(p, 5, SSRC_A, FILL_A);
	p[0] = 0xa0; /* padding of 0 */
	p[n - 1] = 0;
	send_to(c.fa, port, p, n);
	p[n - 1] = 200; /* padding longer than the payload */
	send_to(c.fa, port, p, n);
	n = mkpkt(p, 6, SSRC_A, FILL_A);
	p[1] = 99; /* a payload type nobody negotiated */
	send_to(c.fa, port, p, n);
	memset(p, 0, sizeof p);
	n = mkpkt(p, 7, SSRC_A, FILL_A);
	send_to(c.fa, port, p, sizeof p); /* too large for voice */
	/* From the foreign socket, malformed is malformed: not a strict-RTP drop. */
	send_to(c.ff, port, p, 11);

	WAIT_STAT(c.ra, st, rx_malformed, 10);
	assert_int_equal(st.rx_dropped, 10);
	assert_int_equal(st.rx_strict, 0);
	assert_int_equal(recv_b(&c, fills, 8, 100), 0);
	/* The call goes on. */
	send_a(&c);
	assert_int_equal(recv_b(&c, fills, 1, 1000), 1);
	assert_int_equal(fills[0], FILL_A);

	/* RTCP on the odd port: one good report, then truncated and invalid ones. */
	n = rtcp_part(p, 201, 1, false);
	send_to(c.fa, port + 1, p, n);
	send_to(c.fa, port + 1, p, 4); /* truncated */
	send_to(c.fa, port + 1, p, 0); /* empty */
	send_to(c.fa, port + 1, (const uint8_t *)"\x80\xc9\x00\x05xxxx",
		8);                            /* length past the end */
	send_to(c.fa, port + 1, p + 1, n - 1); /* shifted: not version 2 */
	WAIT_STAT(c.ra, st, rtcp_packets, 5);
	assert_int_equal(st.rtcp_malformed, 4);
	assert_int_equal(st.rx_malformed, 10); /* RTCP counts apart */

	/* Totals: the live sessions, then the same once they are closed. */
	pbx_rtp_totals(&tot, &nsess);
	assert_int_equal(nsess, 2);
	assert_int_equal(tot.rx_malformed, 10);
	assert_int_equal(tot.rtcp_malformed, 4);
	call_close(&c);
	unit_pump(&loop, 50);
	pbx_rtp_totals(&tot, &nsess);
	assert_int_equal(nsess, 0);
	assert_int_equal(tot.rx_malformed, 10);
	assert_int_equal(tot.rx_dropped, 10);
	assert_int_equal(tot.rtcp_packets, 5);
	assert_int_equal(tot.rtcp_malformed, 4);
	assert_int_equal(tot.rx_packets, 12); /* 2 good, 10 bad */
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_rtcp_check),
	cmocka_unit_test_setup_teardown(test_strict_drops_foreign, setup, teardown),
	cmocka_unit_test_setup_teardown(test_strict_burst_cannot_steal, setup, teardown),
	cmocka_unit_test_setup_teardown(test_loose_takes_any_source, setup_loose, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_counted, setup, teardown),
};

UNIT_GROUP(rtp_input, tests, NULL, NULL);
