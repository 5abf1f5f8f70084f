/**
 * @file test_media.c  Media engine on loopback: relay, transcoding, latching, DTMF, timeout, play
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * There is no running core here: each test starts the engine with its own
 * config (two workers) through pbx__media_start_with and drives the
 * signalling loop itself. The "phones" are UDP sockets owned by the test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "pbx/config.h"
#include "media_loop.h"
#include "unit.h"

static uv_loop_t loop;
static struct pbx_media_cfg cfg;

struct rec {
	char digits[32];
	int dur[32];
	int ndigits;
	int timeouts;
	int play_done;
	int play_err;
};

static void on_dtmf(void *arg, char digit, int ms)
{
	struct rec *r = arg;
	if (r->ndigits < 31) {
		r->dur[r->ndigits] = ms;
		r->digits[r->ndigits++] = digit;
	}
}

static void on_timeout(void *arg)
{
	((struct rec *)arg)->timeouts++;
}

static void on_play_done(void *arg, int err)
{
	struct rec *r = arg;
	r->play_done++;
	r->play_err = err;
}

static const struct pbx_rtp_events events = {
	.dtmf = on_dtmf, .timeout = on_timeout, .play_done = on_play_done};

static void pump(int ms)
{
	unit_pump(&loop, ms);
}

static int start_engine(int port_min, int port_max, int timeout)
{
	return unit_media_start(&loop, &cfg, port_min, port_max, timeout);
}

/* A port range of our own below the ephemeral ports, apart from other test runs. */
static int base_port(void)
{
	return 20000 + (int)(getpid() % 90) * 100;
}

static int setup(void **state)
{
	(void)state;
	return start_engine(base_port(), base_port() + 99, 1);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 500 && pbx__play_loading(); i++)
		pump(2);
	return unit_media_stop(&loop);
}

/* ---- phones ---------------------------------------------------------------------------------- */

static int phone(struct sockaddr_in *addr)
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

static struct sockaddr_in to_port(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	return a;
}

static size_t mkpkt(uint8_t *p, uint8_t pt, bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc,
		    const uint8_t *pl, size_t plen)
{
	p[0] = 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	memcpy(p + 12, pl, plen);
	return 12 + plen;
}

static void send_to(int fd, int port, const uint8_t *p, size_t len)
{
	struct sockaddr_in a = to_port(port);
	assert_int_equal(sendto(fd, p, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

/* Receive one datagram within @p ms while the signalling loop runs; -1 on timeout. */
static ssize_t recv_wait(int fd, uint8_t *buf, size_t len, struct sockaddr_in *from, int ms)
{
	uint64_t end = unit_now_ms() + (uint64_t)ms;
	for (;;) {
		socklen_t fl = sizeof *from;
		ssize_t n = recvfrom(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)from, &fl);
		if (n >= 0)
			return n;
		uv_run(&loop, UV_RUN_NOWAIT);
		if (unit_now_ms() >= end)
			return -1;
		struct pollfd p = {fd, POLLIN, 0};
		poll(&p, 1, 1);
	}
}

static void set_params(struct pbx_rtp *r, const void *remote, enum pbx_codec codec, uint8_t pt,
		       uint8_t dtmf_pt, enum pbx_media_dir dir)
{
	struct pbx_rtp_params p;
	memset(&p, 0, sizeof p);
	const struct sockaddr *sa = remote;
	memcpy(&p.remote, remote,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in));
	p.codec = pbx_codec_find(codec == PBX_CODEC_PCMA ? "PCMA" : "PCMU");
	p.pt = pt;
	p.dtmf_pt = dtmf_pt;
	p.dir = dir;
	p.ptime = 20;
	assert_int_equal(pbx_rtp_set_params(r, &p), 0);
	/* Commands and packets race (the worker may see either first), as on a
	 * real call; tests wait for the command to be applied. */
	pump(20);
}

static struct pbx_rtp *alloc(struct pbx_rtp *near, struct rec *rec)
{
	struct pbx_rtp *r = NULL;
	struct sockaddr_in lo = to_port(0);
	assert_int_equal(pbx_rtp_alloc(&r, (struct sockaddr *)&lo, near, &events, rec), 0);
	assert_non_null(r);
	int port = pbx_rtp_port(r);
	assert_true(port >= cfg.port_min && port < cfg.port_max && !(port & 1));
	return r;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- RTP header ------------------------------------------------------------------------------ */

static void test_rtp_parse(void **state)
{
	(void)state;
	uint8_t p[64], pl[20];
	struct pbx__rtp_hdr h;
	memset(pl, 0xAB, sizeof pl);
	size_t n = mkpkt(p, 8, true, 0x1234, 0xDEADBEEF, 0x01020304, pl, 20);
	assert_int_equal(pbx__rtp_parse(p, n, &h), 0);
	assert_int_equal(h.pt, 8);
	assert_true(h.marker);
	assert_int_equal(h.seq, 0x1234);
	assert_int_equal(h.ts, 0xDEADBEEF);
	assert_int_equal(h.ssrc, 0x01020304);
	assert_int_equal(h.hlen, 12);
	assert_int_equal(h.plen, 20);

	/* Two CSRCs, a one-word extension, three bytes of padding. */
	uint8_t q[64];
	memset(q, 0, sizeof q);
	memcpy(q, p, 12);
	q[0] = 0x80 | 0x20 | 0x10 | 2;
	q[20] = 0xBE;
	q[21] = 0xDE;
	q[23] = 1; /* extension length: one word */
	memset(q + 28, 0x55, 10);
	q[38] = 0;
	q[39] = 0;
	q[40] = 3;
	assert_int_equal(pbx__rtp_parse(q, 41, &h), 0);
	assert_int_equal(h.hlen, 28);
	assert_int_equal(h.plen, 10);

	/* Malformed. */
	assert_int_equal(pbx__rtp_parse(p, 11, &h), EBADMSG);
	p[0] = 0x40; /* version 1 */
	assert_int_equal(pbx__rtp_parse(p, n, &h), EBADMSG);
	p[0] = 0x80 | 15; /* 15 CSRCs in 32 bytes */
	assert_int_equal(pbx__rtp_parse(p, n, &h), EBADMSG);
	p[0] = 0x90; /* extension longer than the packet */
	p[12] = 0;
	p[13] = 0;
	p[14] = 0x10;
	p[15] = 0;
	assert_int_equal(pbx__rtp_parse(p, n, &h), EBADMSG);
	p[0] = 0x90; /* extension header cut */
	assert_int_equal(pbx__rtp_parse(p, 14, &h), EBADMSG);
	p[0] = 0xA0; /* padding of zero */
	p[n - 1] = 0;
	assert_int_equal(pbx__rtp_parse(p, n, &h), EBADMSG);
	p[n - 1] = 21; /* padding longer than the payload */
	assert_int_equal(pbx__rtp_parse(p, n, &h), EBADMSG);
	p[n - 1] = 20; /* all padding: an empty payload is fine */
	assert_int_equal(pbx__rtp_parse(p, n, &h), 0);
	assert_int_equal(h.plen, 0);
}

/* ---- relay ----------------------------------------------------------------------------------- */

/* PCMU on one leg, PCMA on the other: payload translated, PT rewritten,
 * sent from the other session's port, under that leg's own SSRC. */
static void test_relay_transcode(void **state)
{
	(void)state;
	struct rec ra = {0}, rb = {0};
	struct sockaddr_in aa, ab, from;
	int fa = phone(&aa), fb = phone(&ab);
	struct pbx_rtp *r1 = alloc(NULL, &ra), *r2 = alloc(r1, &rb);
	set_params(r1, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	set_params(r2, &ab, PBX_CODEC_PCMA, 8, 96, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(20);

	uint8_t pl[160], pkt[256], got[256];
	for (int i = 0; i < 160; i++)
		pl[i] = (uint8_t)(i + 50);
	uint32_t prev_ts = 0;
	uint16_t prev_seq = 0;
	for (int k = 0; k < 3; k++) {
		size_t n = mkpkt(pkt, 0, k == 0, (uint16_t)(100 + k), 5000 + 160 * (uint32_t)k,
				 0xA1A1A1A1, pl, 160);
		send_to(fa, pbx_rtp_port(r1), pkt, n);
		ssize_t m = recv_wait(fb, got, sizeof got, &from, 1000);
		assert_int_equal(m, (ssize_t)n);
		assert_int_equal(ntohs(from.sin_port), pbx_rtp_port(r2));
		assert_int_equal(got[1] & 0x7f, 8);
		assert_int_equal(!!(got[1] & 0x80), k == 0);
		assert_int_not_equal(be32(got + 8), 0xA1A1A1A1);
		uint16_t seq = (uint16_t)(got[2] << 8 | got[3]);
		uint32_t ts = be32(got + 4);
		if (k) {
			assert_int_equal((uint16_t)(seq - prev_seq), 1);
			assert_int_equal(ts - prev_ts, 160);
		}
		prev_seq = seq;
		prev_ts = ts;
		for (int i = 0; i < 160; i++)
			assert_int_equal(got[12 + i], pbx__ulaw_to_alaw[pl[i]]);
	}

	/* And back: A-law from B arrives at A as u-law, PT 0, from r1's port. */
	size_t n = mkpkt(pkt, 8, true, 7, 99, 0xB2B2B2B2, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 1000), (ssize_t)n);
	assert_int_equal(ntohs(from.sin_port), pbx_rtp_port(r1));
	assert_int_equal(got[1] & 0x7f, 0);
	for (int i = 0; i < 160; i++)
		assert_int_equal(got[12 + i], pbx__alaw_to_ulaw[pl[i]]);

	/* An unexpected payload type is dropped and counted. */
	n = mkpkt(pkt, 18, false, 8, 259, 0xB2B2B2B2, pl, 20);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 100), -1);
	struct pbx_rtp_stats st;
	pbx_rtp_get_stats(r2, &st);
	assert_int_equal(st.rx_packets, 2);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(st.tx_packets, 3);
	pbx_rtp_get_stats(r1, &st);
	assert_int_equal(st.rx_packets, 3);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, 172);

	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	close(fa);
	close(fb);
}

/* Same codec: bytes untouched; telephone-events relayed with their PT
 * rewritten and also reported, once per press, to the application. */
static void test_relay_dtmf(void **state)
{
	(void)state;
	struct rec ra = {0}, rb = {0};
	struct sockaddr_in aa, ab, from;
	int fa = phone(&aa), fb = phone(&ab);
	struct pbx_rtp *r1 = alloc(NULL, &ra), *r2 = alloc(r1, &rb);
	set_params(r1, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 96, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(20);

	uint8_t pl[160], pkt[256], got[256];
	memset(pl, 0x33, sizeof pl);
	size_t n = mkpkt(pkt, 0, true, 1, 1000, 0xC3C3C3C3, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 1000), (ssize_t)n);
	assert_memory_equal(got + 12, pl, 160);

	/* '7': start, two updates, three ends, all with timestamp 1160. */
	static const unsigned durs[] = {160, 320, 480, 640, 640, 640};
	for (int i = 0; i < 6; i++) {
		uint8_t ev[4] = {7, (uint8_t)((i >= 3 ? 0x80 : 0) | 10), (uint8_t)(durs[i] >> 8),
				 (uint8_t)durs[i]};
		n = mkpkt(pkt, 101, i == 0, (uint16_t)(2 + i), 1160, 0xC3C3C3C3, ev, 4);
		send_to(fa, pbx_rtp_port(r1), pkt, n);
		assert_int_equal(recv_wait(fb, got, sizeof got, &from, 1000), 16);
		assert_int_equal(got[1] & 0x7f, 96);
		assert_int_equal(!!(got[1] & 0x80), i == 0);
		assert_memory_equal(got + 12, ev, 4);
	}
	pump(30);
	assert_int_equal(ra.ndigits, 1);
	assert_int_equal(ra.digits[0], '7');
	assert_int_equal(ra.dur[0], 80);
	assert_int_equal(rb.ndigits, 0);

	/* A leg without telephone-event: events are consumed, still reported. */
	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	pump(10);
	for (int i = 0; i < 4; i++) {
		uint8_t ev[4] = {11, (uint8_t)((i >= 1 ? 0x80 : 0) | 10), 0, 160};
		n = mkpkt(pkt, 101, i == 0, (uint16_t)(10 + i), 3000, 0xC3C3C3C3, ev, 4);
		send_to(fa, pbx_rtp_port(r1), pkt, n);
	}
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 100), -1);
	assert_int_equal(ra.ndigits, 2);
	assert_int_equal(ra.digits[1], '#');

	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	close(fa);
	close(fb);
}

/* Symmetric RTP: replies go where packets come from, not where SDP said. */
static void test_latching(void **state)
{
	(void)state;
	struct rec ra = {0}, rb = {0};
	struct sockaddr_in aa, ab, asdp, a2, a3, from;
	int fa = phone(&aa), fb = phone(&ab), fa2 = phone(&a2), fa3 = phone(&a3);
	int fsdp = phone(&asdp); /* what SDP says: a private address nobody sends from */
	struct pbx_rtp *r1 = alloc(NULL, &ra), *r2 = alloc(r1, &rb);
	set_params(r1, &asdp, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(20);

	uint8_t pl[160], pkt[256], got[256];
	memset(pl, 0x44, sizeof pl);
	size_t n;
	/* Before r1 hears anything, B's packets go to the SDP address. */
	n = mkpkt(pkt, 0, true, 1, 160, 0xB0B0B0B0, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fsdp, got, sizeof got, &from, 1000), (ssize_t)n);

	/* A sends from its NAT address: r1 latches to it. */
	n = mkpkt(pkt, 0, true, 1, 160, 0xA0A0A0A0, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 1000), (ssize_t)n);
	n = mkpkt(pkt, 0, false, 2, 320, 0xB0B0B0B0, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 1000), (ssize_t)n);

	/* A's NAT binding moves (same SSRC, new port): the reply follows at once. */
	n = mkpkt(pkt, 0, false, 2, 320, 0xA0A0A0A0, pl, 160);
	send_to(fa2, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 1000), (ssize_t)n);
	n = mkpkt(pkt, 0, false, 3, 480, 0xB0B0B0B0, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa2, got, sizeof got, &from, 1000), (ssize_t)n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 50), -1);

	/* A stranger with another SSRC is ignored ... */
	n = mkpkt(pkt, 0, false, 900, 9999, 0x66666666, pl, 160);
	send_to(fa3, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 100), -1);
	/* ... until it outlasts the latched source (4 packets in a row, the
	 * latched one quiet for LATCH_QUIET_MS: test_rtp_input.c has the rest). */
	pump(150);
	for (int i = 1; i < 4; i++) {
		n = mkpkt(pkt, 0, false, (uint16_t)(900 + i), 9999 + 160 * (uint32_t)i, 0x66666666,
			  pl, 160);
		send_to(fa3, pbx_rtp_port(r1), pkt, n);
	}
	assert_true(recv_wait(fb, got, sizeof got, &from, 1000) > 0);
	n = mkpkt(pkt, 0, false, 4, 640, 0xB0B0B0B0, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa3, got, sizeof got, &from, 1000), (ssize_t)n);
	struct pbx_rtp_stats st;
	pbx_rtp_get_stats(r1, &st);
	assert_int_equal(st.rx_dropped, 3);

	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	close(fa);
	close(fb);
	close(fa2);
	close(fa3);
	close(fsdp);
}

/* Direction from our side: recvonly (the phone holds us) gets nothing,
 * inactive neither; sendonly is sent to, but what it sends is dropped. */
static void test_direction(void **state)
{
	(void)state;
	struct rec ra = {0}, rb = {0};
	struct sockaddr_in aa, ab, from;
	int fa = phone(&aa), fb = phone(&ab);
	struct pbx_rtp *r1 = alloc(NULL, &ra), *r2 = alloc(r1, &rb);
	uint8_t pl[160], pkt[256], got[256];
	memset(pl, 0x55, sizeof pl);
	set_params(r1, &aa, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 0, PBX_DIR_RECVONLY);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(20);
	size_t n = mkpkt(pkt, 0, true, 1, 160, 0xA0A0A0A0, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 150), -1);
	n = mkpkt(pkt, 0, true, 1, 160, 0xB0B0B0B0, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n); /* on hold it may still send music */
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 1000), (ssize_t)n);

	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDONLY);
	n = mkpkt(pkt, 0, false, 2, 320, 0xA0A0A0A0, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 1000), (ssize_t)n);
	n = mkpkt(pkt, 0, false, 2, 320, 0xB0B0B0B0, pl, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 150), -1);

	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 0, PBX_DIR_INACTIVE);
	n = mkpkt(pkt, 0, false, 3, 480, 0xA0A0A0A0, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 150), -1);

	/* Unbridged: nothing flows. */
	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_bridge(r1, NULL), 0);
	pump(20);
	n = mkpkt(pkt, 0, false, 4, 640, 0xA0A0A0A0, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 150), -1);

	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	close(fa);
	close(fb);
}

/* Two sessions on different workers are bridged: one moves, relay works. */
static void test_bridge_across_workers(void **state)
{
	(void)state;
	struct rec ra = {0}, rb = {0};
	struct sockaddr_in aa, ab, from;
	int fa = phone(&aa), fb = phone(&ab);
	/* No "near": the least loaded worker each, so two different ones. */
	struct pbx_rtp *r1 = alloc(NULL, &ra), *r2 = alloc(NULL, &rb);
	set_params(r1, &aa, PBX_CODEC_PCMA, 8, 101, PBX_DIR_SENDRECV);
	set_params(r2, &ab, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(20);
	/* Asked at once, applied in order once it has moved. */
	assert_int_equal(pbx_rtp_send_dtmf(r2, '9', 40), 0);

	uint8_t pl[160], pkt[256], got[256];
	memset(pl, 0xD5, sizeof pl);
	int dtmf_pkts = 0;
	for (int k = 0; k < 7; k++) {
		ssize_t m = recv_wait(fb, got, sizeof got, &from, 1000);
		assert_true(m > 0);
		if ((got[1] & 0x7f) == 101)
			dtmf_pkts++;
		if (dtmf_pkts == 4)
			break;
	}
	assert_int_equal(dtmf_pkts, 4); /* 40 ms: two updates (the second the first end), 2 more */
	size_t n = mkpkt(pkt, 8, true, 1, 160, 0xA0A0A0A0, pl, 160);
	send_to(fa, pbx_rtp_port(r1), pkt, n);
	assert_int_equal(recv_wait(fb, got, sizeof got, &from, 1000), (ssize_t)n);
	assert_int_equal(got[1] & 0x7f, 0);
	assert_int_equal(got[12], pbx__alaw_to_ulaw[0xD5]);
	n = mkpkt(pkt, 0, true, 1, 160, 0xB0B0B0B0, got + 12, 160);
	send_to(fb, pbx_rtp_port(r2), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 1000), (ssize_t)n);
	assert_int_equal(got[12], 0xD5);

	/* Freed at once after another move: no event, no leak, ports come back. */
	struct pbx_rtp *r3 = alloc(NULL, &ra);
	struct pbx_rtp *r4 = alloc(r3, &ra);
	assert_int_equal(pbx_rtp_bridge(r1, r3), 0);
	pump(20);
	pbx_rtp_free(r3);
	pbx_rtp_free(r4);
	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	pump(50);
	assert_int_equal(pbx__media_sessions(), 0);
	close(fa);
	close(fb);
}

/* ---- timeout, ports -------------------------------------------------------------------------- */

static void test_timeout(void **state)
{
	(void)state;
	struct rec r1e = {0}, r2e = {0}, r3e = {0};
	struct sockaddr_in aa;
	int fa = phone(&aa);
	struct pbx_rtp *r1 = alloc(NULL, &r1e), *r2 = alloc(NULL, &r2e), *r3 = alloc(NULL, &r3e);
	set_params(r1, &aa, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	set_params(r2, &aa, PBX_CODEC_PCMU, 0, 0, PBX_DIR_RECVONLY); /* held: may be silent */
	set_params(r3, &aa, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	uint8_t pl[160], pkt[256];
	memset(pl, 0xFF, sizeof pl);
	/* r3 keeps getting RTP; r1 gets none. */
	uint64_t t0 = unit_now_ms();
	for (int i = 0; i < 130 && !r1e.timeouts; i++) {
		size_t n = mkpkt(pkt, 0, false, (uint16_t)i, 160 * (uint32_t)i, 0x1, pl, 160);
		send_to(fa, pbx_rtp_port(r3), pkt, n);
		pump(20);
	}
	uint64_t took = unit_now_ms() - t0;
	assert_int_equal(r1e.timeouts, 1);
	assert_true(took >= 900 && took <= 2600);
	assert_int_equal(r2e.timeouts, 0);
	assert_int_equal(r3e.timeouts, 0);
	pump(1100);
	assert_int_equal(r1e.timeouts, 1); /* once */
	assert_int_equal(r2e.timeouts, 0);
	/* New params restart the clock. */
	set_params(r1, &aa, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	pump(500);
	assert_int_equal(r1e.timeouts, 1);
	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	pbx_rtp_free(r3);
	close(fa);
}

static int setup_small(void **state)
{
	(void)state;
	return start_engine(base_port() + 50, base_port() + 57, 0); /* four pairs */
}

static void test_ports(void **state)
{
	(void)state;
	struct pbx_rtp *r[8];
	struct rec e = {0};
	struct sockaddr_in lo = to_port(0);
	int n = 0, err;
	while (n < 8 && !(err = pbx_rtp_alloc(&r[n], (struct sockaddr *)&lo, NULL, &events, &e)))
		n++;
	assert_int_equal(err, ENOSPC);
	assert_true(n >= 1 && n <= 4);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			assert_int_not_equal(pbx_rtp_port(r[i]), pbx_rtp_port(r[j]));
	/* The RTCP port is the odd one above and is bound. */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in rtcp = to_port(pbx_rtp_port(r[0]) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&rtcp, sizeof rtcp), -1);
	close(fd);

	int freed = pbx_rtp_port(r[0]);
	pbx_rtp_free(r[0]);
	pump(30); /* the worker closes the sockets, then the pair is free */
	assert_int_equal(pbx_rtp_alloc(&r[0], (struct sockaddr *)&lo, NULL, &events, &e), 0);
	assert_int_equal(pbx_rtp_port(r[0]), freed);
	for (int i = 0; i < n; i++)
		pbx_rtp_free(r[i]);
	pump(30);
	for (n = 0; n < 8 && !pbx_rtp_alloc(&r[n], (struct sockaddr *)&lo, NULL, &events, &e); n++)
		;
	assert_true(n >= 1);
	for (int i = 0; i < n; i++)
		pbx_rtp_free(r[i]);
}

/* ---- playback, echo, DTMF out ---------------------------------------------------------------- */

static const char *write_wav(char *path, size_t len, int rate, double seconds)
{
	snprintf(path, len, "/tmp/pbx-test-media-%d-%d.wav", (int)getpid(), rate);
	SF_INFO info;
	memset(&info, 0, sizeof info);
	info.samplerate = rate;
	info.channels = 1;
	info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
	SNDFILE *f = sf_open(path, SFM_WRITE, &info);
	assert_non_null(f);
	int n = (int)(rate * seconds);
	short *s = malloc(sizeof *s * (size_t)n);
	assert_non_null(s);
	for (int i = 0; i < n; i++)
		s[i] = (short)(8000 * sin(2 * M_PI * 440 * i / rate));
	assert_int_equal(sf_write_short(f, s, n), n);
	free(s);
	sf_close(f);
	return path;
}

static void test_playback(void **state)
{
	(void)state;
	char path[128];
	struct rec e = {0};
	struct sockaddr_in aa, from;
	int fa = phone(&aa);
	struct pbx_rtp *r = alloc(NULL, &e);
	set_params(r, &aa, PBX_CODEC_PCMA, 8, 101, PBX_DIR_SENDRECV);
	write_wav(path, sizeof path, 16000, 1.0);
	assert_int_equal(pbx_rtp_play(r, "/nonexistent/x.wav"), ENOENT);

	for (int round = 0; round < 2; round++) { /* the second from the cache */
		assert_int_equal(pbx_rtp_play(r, path), 0);
		uint8_t got[512];
		int pkts = 0, markers = 0, bad = 0;
		uint16_t seq0 = 0;
		uint32_t ts0 = 0;
		uint64_t t_first = 0, t_last = 0;
		int16_t peak = 0;
		for (int spin = 0; spin < 100; spin++) {
			ssize_t m = recv_wait(fa, got, sizeof got, &from, 100);
			if (m < 0 && e.play_done > round)
				break; /* the last packet went out before the event */
			if (m < 0)
				continue;
			if (m != 172 || (got[1] & 0x7f) != 8) {
				bad++;
				continue;
			}
			uint16_t seq = (uint16_t)(got[2] << 8 | got[3]);
			uint32_t ts = be32(got + 4);
			if (!pkts) {
				seq0 = seq;
				ts0 = ts;
				t_first = unit_now_ms();
			}
			assert_int_equal((uint16_t)(seq - seq0), pkts);
			assert_int_equal(ts - ts0, 160 * (uint32_t)pkts);
			markers += !!(got[1] & 0x80);
			for (int i = 12; i < 172; i++)
				if (abs(pbx_alaw_decode(got[i])) > peak)
					peak = (int16_t)abs(pbx_alaw_decode(got[i]));
			pkts++;
			t_last = unit_now_ms();
			assert_true(pkts < 100);
		}
		assert_int_equal(bad, 0);
		assert_int_equal(e.play_done, round + 1);
		assert_int_equal(e.play_err, 0);
		assert_true(pkts == 50 || pkts == 51);
		assert_int_equal(markers, 1);
		/* Paced: 49 intervals of 20 ms. */
		assert_true(t_last - t_first >= 900 && t_last - t_first <= 1150);
		assert_true(peak > 7000 && peak < 9000); /* the resampled sine kept its level */
	}

	/* Not a sound file: the load fails on the thread pool and says so. */
	char bad[128];
	snprintf(bad, sizeof bad, "/tmp/pbx-test-media-%d.bad", (int)getpid());
	FILE *f = fopen(bad, "w");
	assert_non_null(f);
	fputs("not a WAV file\n", f);
	fclose(f);
	assert_int_equal(pbx_rtp_play(r, bad), 0);
	for (int i = 0; i < 500 && e.play_done < 3; i++)
		pump(2);
	assert_int_equal(e.play_done, 3);
	assert_int_equal(e.play_err, EINVAL);
	unlink(bad);
	e.play_done = 2;

	/* Stopped: ECANCELED. */
	assert_int_equal(pbx_rtp_play(r, path), 0);
	pump(60);
	pbx_rtp_play_stop(r);
	pump(30);
	assert_int_equal(e.play_done, 3);
	assert_int_equal(e.play_err, ECANCELED);
	/* Freed while playing: no event after free. */
	assert_int_equal(pbx_rtp_play(r, path), 0);
	pump(30);
	pbx_rtp_free(r);
	pump(50);
	assert_int_equal(e.play_done, 3);
	unlink(path);
	close(fa);
}

/* Stereo at 44.1 kHz: mixed to mono, resampled to 8 kHz, length kept. */
static void test_sound_load(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof path, "/tmp/pbx-test-media-%d-stereo.wav", (int)getpid());
	SF_INFO info;
	memset(&info, 0, sizeof info);
	info.samplerate = 44100;
	info.channels = 2;
	info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
	SNDFILE *f = sf_open(path, SFM_WRITE, &info);
	assert_non_null(f);
	static short s[44100 * 2];
	for (int i = 0; i < 44100; i++) {
		s[2 * i] = (short)(10000 * sin(2 * M_PI * 300 * i / 44100.0));
		s[2 * i + 1] = s[2 * i]; /* the same in both: the mix keeps the level */
	}
	assert_int_equal(sf_writef_short(f, s, 44100), 44100);
	sf_close(f);
	struct pbx__sound *snd = NULL;
	assert_int_equal(pbx__sound_load(path, &snd), 0);
	assert_true(snd->n >= 7990 && snd->n <= 8010);
	int peak = 0;
	for (size_t i = 100; i < snd->n - 100; i++)
		peak = abs(snd->pcm[i]) > peak ? abs(snd->pcm[i]) : peak;
	assert_true(peak > 9500 && peak < 10500);
	pbx__sound_unref(snd);
	unlink(path);
	assert_int_equal(pbx__sound_load("/nonexistent.wav", &snd), EINVAL);
}

static void test_echo(void **state)
{
	(void)state;
	struct rec e = {0};
	struct sockaddr_in aa, from;
	int fa = phone(&aa);
	struct pbx_rtp *r = alloc(NULL, &e);
	set_params(r, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_echo(r, true), 0);
	pump(20);
	uint8_t pl[160], pkt[256], got[256];
	for (int i = 0; i < 160; i++)
		pl[i] = (uint8_t)i;
	size_t n = mkpkt(pkt, 0, true, 10, 1600, 0x12345678, pl, 160);
	send_to(fa, pbx_rtp_port(r), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 1000), (ssize_t)n);
	assert_int_equal(ntohs(from.sin_port), pbx_rtp_port(r));
	assert_memory_equal(got + 12, pl, 160);
	assert_int_not_equal(be32(got + 8), 0x12345678); /* our SSRC, not its own */
	assert_int_equal(pbx_rtp_echo(r, false), 0);
	pump(20); /* commands and packets race: the worker may see either first */
	send_to(fa, pbx_rtp_port(r), pkt, n);
	assert_int_equal(recv_wait(fa, got, sizeof got, &from, 100), -1);
	pbx_rtp_free(r);
	close(fa);
}

static void test_send_dtmf(void **state)
{
	(void)state;
	struct rec e = {0};
	struct sockaddr_in aa, from;
	int fa = phone(&aa);
	struct pbx_rtp *r = alloc(NULL, &e);
	assert_int_equal(pbx_rtp_send_dtmf(r, '1', 100), ENOTSUP); /* no params yet */
	set_params(r, &aa, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_send_dtmf(r, '1', 100), ENOTSUP); /* not negotiated */
	set_params(r, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_send_dtmf(r, 'x', 100), EINVAL);
	assert_int_equal(pbx_rtp_send_dtmf(r, '4', 100), 0);
	assert_int_equal(pbx_rtp_send_dtmf(r, '2', 60), 0);

	struct pbx__dtmf_rx d;
	memset(&d, 0, sizeof d);
	char keys[4] = {0};
	int nkeys = 0, pkts = 0, durs[4] = {0};
	uint8_t got[64];
	uint16_t prev_seq = 0;
	uint32_t ts_first = 0;
	ssize_t m;
	while ((m = recv_wait(fa, got, sizeof got, &from, 300)) > 0) {
		struct pbx__rtp_hdr h;
		assert_int_equal(pbx__rtp_parse(got, (size_t)m, &h), 0);
		assert_int_equal(h.pt, 101);
		assert_int_equal(h.plen, 4);
		if (pkts) {
			assert_int_equal((uint16_t)(h.seq - prev_seq), 1);
		}
		if (!pkts)
			ts_first = h.ts;
		prev_seq = h.seq;
		pkts++;
		char k;
		int ms;
		if (pbx__dtmf_rx_feed(&d, h.ts, got + h.hlen, h.plen, 0, &k, &ms) && nkeys < 4) {
			durs[nkeys] = ms;
			keys[nkeys++] = k;
		}
		if (pkts == 7 + 5)
			break;
	}
	assert_int_equal(pkts, 7 + 5); /* 100 ms: 4 updates, 3 ends; 60 ms: 2 updates, 3 ends */
	assert_int_equal(nkeys, 2);
	assert_memory_equal(keys, "42", 2);
	assert_int_equal(durs[0], 100);
	assert_int_equal(durs[1], 60);
	assert_true(d.ts - ts_first >= 800); /* the second event starts after the first */
	pbx_rtp_free(r);
	close(fa);
}

/* IPv6, and IPv4 phones on a dual-stack session (reached as ::ffff:a.b.c.d). */
static void test_ipv6(void **state)
{
	(void)state;
	struct rec e = {0};
	struct sockaddr_in6 any6, lo6, from6;
	struct sockaddr_in a4, from4;
	struct pbx_rtp *r;
	memset(&lo6, 0, sizeof lo6);
	lo6.sin6_family = AF_INET6;
	lo6.sin6_addr = in6addr_loopback;
	int f6 = socket(AF_INET6, SOCK_DGRAM, 0);
	socklen_t len = sizeof lo6;
	if (f6 < 0 || bind(f6, (struct sockaddr *)&lo6, sizeof lo6)) {
		if (f6 >= 0)
			close(f6);
		skip(); /* no IPv6 on this machine */
	}
	assert_int_equal(getsockname(f6, (struct sockaddr *)&lo6, &len), 0);
	int f4 = phone(&a4);
	memset(&any6, 0, sizeof any6);
	any6.sin6_family = AF_INET6;
	any6.sin6_addr = in6addr_any;
	assert_int_equal(pbx_rtp_alloc(&r, (struct sockaddr *)&any6, NULL, &events, &e), 0);
	assert_int_equal(pbx_rtp_echo(r, true), 0);
	pump(20);
	uint8_t pl[160], pkt[256], got[256];
	memset(pl, 0x11, sizeof pl);
	size_t n = mkpkt(pkt, 0, true, 1, 160, 0x77, pl, 160);

	/* IPv6 phone. */
	set_params(r, &lo6, PBX_CODEC_PCMU, 0, 0, PBX_DIR_SENDRECV);
	struct sockaddr_in6 to6 = lo6;
	to6.sin6_port = htons((uint16_t)pbx_rtp_port(r));
	assert_int_equal(sendto(f6, pkt, n, 0, (struct sockaddr *)&to6, sizeof to6), (ssize_t)n);
	ssize_t m = -1;
	for (int i = 0; i < 1000 && m < 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		m = recvfrom(f6, got, sizeof got, MSG_DONTWAIT, NULL, NULL);
		usleep(1000);
	}
	assert_int_equal(m, (ssize_t)n);
	(void)from6;

	/* IPv4 phone, same session. */
	struct pbx_rtp_params p = *pbx_rtp_get_params(r);
	memset(&p.remote, 0, sizeof p.remote);
	memcpy(&p.remote, &a4, sizeof a4);
	assert_int_equal(pbx_rtp_set_params(r, &p), 0);
	pump(20);
	send_to(f4, pbx_rtp_port(r), pkt, n);
	assert_int_equal(recv_wait(f4, got, sizeof got, &from4, 1000), (ssize_t)n);
	assert_int_equal(ntohs(from4.sin_port), pbx_rtp_port(r));
	pbx_rtp_free(r);

	/* An IPv6 remote for an IPv4 session is refused. */
	r = alloc(NULL, &e);
	memset(&p.remote, 0, sizeof p.remote);
	memcpy(&p.remote, &lo6, sizeof lo6);
	assert_int_equal(pbx_rtp_set_params(r, &p), EAFNOSUPPORT);
	pbx_rtp_free(r);
	close(f4);
	close(f6);
}

/* Stop with sessions bridged, playing and moving between workers; the
 * owners free them afterwards, as the core does at shutdown. */
static void test_stop_with_sessions(void **state)
{
	(void)state;
	char path[128];
	struct rec e = {0};
	struct sockaddr_in aa;
	int fa = phone(&aa);
	write_wav(path, sizeof path, 8000, 0.5);
	struct pbx_rtp *r1 = alloc(NULL, &e), *r2 = alloc(r1, &e), *r3 = alloc(NULL, &e);
	struct pbx_rtp *r4 = alloc(NULL, &e);
	set_params(r1, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	set_params(r3, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_rtp_bridge(r1, r2), 0);
	pump(20);
	assert_int_equal(pbx_rtp_play(r3, path), 0);
	pump(50);
	assert_int_equal(pbx_rtp_send_dtmf(r3, '1', 200), 0);
	assert_int_equal(pbx_rtp_bridge(r4, r1), 0); /* r1 moves, r2 is left alone */
	pbx_media_stop();
	assert_int_equal(pbx_rtp_play(r1, path), ENODEV);
	struct pbx_rtp_stats st;
	pbx_rtp_get_stats(r3, &st);
	assert_int_equal(st.tx_packets, 0);
	pbx_rtp_free(r1);
	pbx_rtp_free(r2);
	pbx_rtp_free(r3);
	pbx_rtp_free(r4);
	assert_int_equal(pbx__media_sessions(), 0);
	assert_int_equal(e.play_done, 0);
	unlink(path);
	close(fa);
}

/* Events of a freed session are dropped; stats of a live one are read without locks. */
static void test_free_drops_events(void **state)
{
	(void)state;
	struct rec e = {0};
	struct sockaddr_in aa;
	int fa = phone(&aa);
	struct pbx_rtp *r = alloc(NULL, &e);
	set_params(r, &aa, PBX_CODEC_PCMU, 0, 101, PBX_DIR_SENDRECV);
	uint8_t ev[4] = {1, 0x80 | 10, 0, 160}, pkt[64];
	size_t n = mkpkt(pkt, 101, true, 1, 160, 0x1, ev, 4);
	pump(10);
	send_to(fa, pbx_rtp_port(r), pkt, n);
	/* Wait until the worker has seen it, without running the signalling loop. */
	struct pbx_rtp_stats st;
	for (int i = 0; i < 1000; i++) {
		pbx_rtp_get_stats(r, &st);
		if (st.rx_packets)
			break;
		usleep(1000);
	}
	assert_int_equal(st.rx_packets, 1);
	usleep(20000);
	pbx_rtp_free(r);
	pump(50);
	assert_int_equal(e.ndigits, 0);
	close(fa);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_rtp_parse),
	cmocka_unit_test_setup_teardown(test_relay_transcode, setup, teardown),
	cmocka_unit_test_setup_teardown(test_relay_dtmf, setup, teardown),
	cmocka_unit_test_setup_teardown(test_latching, setup, teardown),
	cmocka_unit_test_setup_teardown(test_direction, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bridge_across_workers, setup, teardown),
	cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ports, setup_small, teardown),
	cmocka_unit_test_setup_teardown(test_playback, setup, teardown),
	cmocka_unit_test(test_sound_load),
	cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
	cmocka_unit_test_setup_teardown(test_send_dtmf, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stop_with_sessions, setup, teardown),
	cmocka_unit_test_setup_teardown(test_free_drops_events, setup, teardown),
};

UNIT_GROUP(media, tests, NULL, NULL);
