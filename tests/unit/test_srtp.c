/**
 * @file test_srtp.c  SRTP in the media engine on loopback: plain and SRTP legs, replay, forgery
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As in test_media.c, the engine runs with its own config and the "phones"
 * are UDP sockets owned by the test. An SRTP phone here does its own
 * crypto with libsrtp2, keyed as SDES would key it: it encrypts with the
 * key the PBX decrypts with (the leg's params.rx) and decrypts with the key
 * the PBX encrypts with (params.tx). So a pass means a real phone holding
 * the other side of the a=crypto exchange would hear the call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <srtp2/srtp.h>
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
static int ndigits;

static void on_dtmf(void *arg, char digit, int ms)
{
	(void)arg;
	(void)digit;
	(void)ms;
	ndigits++;
}

static const struct pbx_rtp_events events = {.dtmf = on_dtmf};

static void pump(int ms)
{
	unit_pump(&loop, ms);
}

/* A range of our own, apart from test_media's (same process, other times) and other runs. */
static int setup(void **state)
{
	(void)state;
	int base = 20000 + (int)(getpid() % 90) * 100 + 60;
	ndigits = 0;
	return unit_media_start(&loop, &cfg, base, base + 39, 0);
}

static int teardown(void **state)
{
	(void)state;
	return unit_media_stop(&loop);
}

/* ---- phones ---------------------------------------------------------------------------------- */

struct phone {
	int fd;
	struct sockaddr_in addr;
	srtp_t in, out; /* NULL for a plain phone */
};

static struct sockaddr_in to_port(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	return a;
}

static srtp_t ctx(const struct pbx_srtp_key *k, srtp_ssrc_type_t type)
{
	srtp_policy_t pol;
	srtp_t c = NULL;
	pbx__srtp_policy(&pol, k, type);
	assert_int_equal(srtp_create(&c, &pol), srtp_err_status_ok);
	return c;
}

static void phone_open(struct phone *ph, const struct pbx_rtp_params *p)
{
	socklen_t len = sizeof ph->addr;
	memset(ph, 0, sizeof *ph);
	ph->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(ph->fd >= 0);
	ph->addr = to_port(0);
	assert_int_equal(bind(ph->fd, (struct sockaddr *)&ph->addr, sizeof ph->addr), 0);
	assert_int_equal(getsockname(ph->fd, (struct sockaddr *)&ph->addr, &len), 0);
	if (p && p->srtp) {
		ph->in = ctx(&p->tx, ssrc_any_inbound);   /* what the PBX sends us */
		ph->out = ctx(&p->rx, ssrc_any_outbound); /* what the PBX takes from us */
	}
}

static void phone_close(struct phone *ph)
{
	if (ph->in)
		srtp_dealloc(ph->in);
	if (ph->out)
		srtp_dealloc(ph->out);
	close(ph->fd);
}

static size_t mkpkt(uint8_t *p, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
		    const uint8_t *pl, size_t plen)
{
	p[0] = 0x80;
	p[1] = pt;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	memcpy(p + 12, pl, plen);
	return 12 + plen;
}

static void send_raw(struct phone *ph, int port, const uint8_t *p, size_t len)
{
	struct sockaddr_in a = to_port(port);
	assert_int_equal(sendto(ph->fd, p, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

/* Protect (an SRTP phone) and send; the packet as sent is left in @p p, its length returned. */
static size_t send_rtp(struct phone *ph, int port, uint8_t *p, size_t len)
{
	if (ph->out) {
		int n = (int)len;
		assert_int_equal(srtp_protect(ph->out, p, &n), srtp_err_status_ok);
		len = (size_t)n;
	}
	send_raw(ph, port, p, len);
	return len;
}

/* One datagram within @p ms while the signalling loop runs; -1 on timeout. */
static ssize_t recv_raw(struct phone *ph, uint8_t *buf, size_t len, int ms)
{
	uint64_t end = unit_now_ms() + (uint64_t)ms;
	for (;;) {
		ssize_t n = recv(ph->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		uv_run(&loop, UV_RUN_NOWAIT);
		if (unit_now_ms() >= end)
			return -1;
		struct pollfd pf = {ph->fd, POLLIN, 0};
		poll(&pf, 1, 1);
	}
}

/* Receive and, for an SRTP phone, unprotect (it must authenticate); the plain length. */
static ssize_t recv_rtp(struct phone *ph, uint8_t *buf, size_t len, int ms)
{
	ssize_t n = recv_raw(ph, buf, len, ms);
	if (n < 0 || !ph->in)
		return n;
	int m = (int)n;
	assert_int_equal(srtp_unprotect(ph->in, buf, &m), srtp_err_status_ok);
	return m;
}

static struct pbx_rtp_params params(const struct phone *ph, enum pbx_codec codec, int suite)
{
	struct pbx_rtp_params p;
	memset(&p, 0, sizeof p);
	memcpy(&p.remote, &ph->addr, sizeof ph->addr);
	p.codec = pbx_codec_find(codec == PBX_CODEC_PCMA ? "PCMA" : "PCMU");
	p.pt = codec == PBX_CODEC_PCMA ? 8 : 0;
	p.dtmf_pt = 101;
	p.dir = PBX_DIR_SENDRECV;
	p.ptime = 20;
	if (suite >= 0) {
		p.srtp = true;
		assert_int_equal(pbx_srtp_key_new(&p.tx, (enum pbx_srtp_suite)suite), 0);
		assert_int_equal(pbx_srtp_key_new(&p.rx, (enum pbx_srtp_suite)suite), 0);
	}
	return p;
}

static struct pbx_rtp *leg(struct pbx_rtp *near, const struct pbx_rtp_params *p)
{
	struct pbx_rtp *r = NULL;
	struct sockaddr_in lo = to_port(0);
	assert_int_equal(pbx_rtp_alloc(&r, (struct sockaddr *)&lo, near, &events, NULL), 0);
	assert_int_equal(pbx_rtp_set_params(r, p), 0);
	return r;
}

static uint64_t rejected(const struct pbx_rtp *r)
{
	struct pbx_rtp_stats st;
	pbx_rtp_get_stats(r, &st);
	return st.srtp_rejected;
}

/* True when @p pl (n bytes) appears anywhere in @p buf: plaintext on the wire. */
static bool contains(const uint8_t *buf, size_t len, const uint8_t *pl, size_t n)
{
	return memmem(buf, len, pl, n) != NULL;
}

/* ---- suites and keys ------------------------------------------------------------------------- */

static void test_suites(void **state)
{
	(void)state;
	assert_string_equal(pbx_srtp_suite_name(PBX_SRTP_AES_CM_128_HMAC_SHA1_80),
			    "AES_CM_128_HMAC_SHA1_80");
	assert_string_equal(pbx_srtp_suite_name(PBX_SRTP_AES_CM_128_HMAC_SHA1_32),
			    "AES_CM_128_HMAC_SHA1_32");
	assert_string_equal(pbx_srtp_suite_name(PBX_SRTP_AEAD_AES_128_GCM), "AEAD_AES_128_GCM");
	assert_string_equal(pbx_srtp_suite_name(PBX_SRTP_AEAD_AES_256_GCM), "AEAD_AES_256_GCM");
	assert_int_equal(pbx_srtp_suite_key_len(PBX_SRTP_AES_CM_128_HMAC_SHA1_80), 30);
	assert_int_equal(pbx_srtp_suite_key_len(PBX_SRTP_AES_CM_128_HMAC_SHA1_32), 30);
	assert_int_equal(pbx_srtp_suite_key_len(PBX_SRTP_AEAD_AES_128_GCM), 28);
	assert_int_equal(pbx_srtp_suite_key_len(PBX_SRTP_AEAD_AES_256_GCM), 44);
	assert_int_equal(pbx_srtp_suite_key_len((enum pbx_srtp_suite)99), 0);

	struct pbx_srtp_key a, b;
	for (int s = 0; s <= PBX_SRTP_AEAD_AES_256_GCM; s++) {
		assert_int_equal(pbx_srtp_key_new(&a, (enum pbx_srtp_suite)s), 0);
		assert_int_equal(pbx_srtp_key_new(&b, (enum pbx_srtp_suite)s), 0);
		assert_int_equal(a.suite, s);
		assert_int_equal(a.len, pbx_srtp_suite_key_len((enum pbx_srtp_suite)s));
		assert_memory_not_equal(a.key, b.key, a.len);
		assert_true(pbx__srtp_key_valid(&a));
	}
	assert_int_equal(pbx_srtp_key_new(&a, (enum pbx_srtp_suite)99), EINVAL);
	a.len = 29;
	assert_false(pbx__srtp_key_valid(&a));
}

/* ---- plain <-> SRTP -------------------------------------------------------------------------- */

static void test_plain_srtp(void **state)
{
	(void)state;
	struct phone pa, pb;
	phone_open(&pa, NULL);
	struct pbx_rtp_params qa = params(&pa, PBX_CODEC_PCMU, -1);
	/* The phone's crypto follows the leg's keys, so the keys come first. */
	struct pbx_rtp_params qb = params(&pa, PBX_CODEC_PCMU, PBX_SRTP_AES_CM_128_HMAC_SHA1_80);
	phone_open(&pb, &qb);
	memcpy(&qb.remote, &pb.addr, sizeof pb.addr);

	struct pbx_rtp *ra = leg(NULL, &qa), *rb = leg(ra, &qb);
	enum pbx_srtp_suite suite = PBX_SRTP_AEAD_AES_256_GCM;
	assert_false(pbx_rtp_is_srtp(ra, &suite));
	assert_true(pbx_rtp_is_srtp(rb, &suite));
	assert_int_equal(suite, PBX_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_true(pbx_rtp_is_srtp(rb, NULL));
	/* The same through a channel, as a driver asks about the caller's leg. */
	struct pbx_chan plain = {.rtp = ra}, srtp = {.rtp = rb}, none = {.rtp = NULL};
	assert_false(pbx_chan_media_encrypted(&plain));
	assert_true(pbx_chan_media_encrypted(&srtp));
	assert_false(pbx_chan_media_encrypted(&none));

	/* A key whose length does not fit its suite is refused at once. */
	struct pbx_rtp_params bad = qb;
	bad.rx.len = 16;
	assert_int_equal(pbx_rtp_set_params(rb, &bad), EINVAL);

	assert_int_equal(pbx_rtp_bridge(ra, rb), 0);
	pump(30);

	uint8_t pl[160], pkt[256], got[256];
	for (int i = 0; i < 160; i++)
		pl[i] = (uint8_t)(i * 7 + 1);

	/* Plain into A: out of B encrypted (80-bit tag), and B's phone decrypts it. */
	for (int k = 0; k < 3; k++) {
		size_t n = mkpkt(pkt, 0, (uint16_t)(10 + k), 1000 + 160 * (uint32_t)k, 0xA1A1A1A1,
				 pl, 160);
		send_rtp(&pa, pbx_rtp_port(ra), pkt, n);
		ssize_t m = recv_raw(&pb, got, sizeof got, 1000);
		assert_int_equal(m, (ssize_t)n + 10);
		assert_false(contains(got, (size_t)m, pl + 8, 32));
		int len = (int)m;
		assert_int_equal(srtp_unprotect(pb.in, got, &len), srtp_err_status_ok);
		assert_int_equal(len, (int)n);
		assert_int_equal(got[1] & 0x7f, 0);
		assert_memory_equal(got + 12, pl, 160);
	}

	/* SRTP from B's phone arrives plain at A. */
	size_t n = mkpkt(pkt, 0, 500, 8000, 0xB2B2B2B2, pl, 160);
	size_t sent = send_rtp(&pb, pbx_rtp_port(rb), pkt, n);
	assert_int_equal(sent, n + 10);
	uint8_t replay[256];
	memcpy(replay, pkt, sent);
	assert_int_equal(recv_rtp(&pa, got, sizeof got, 1000), (ssize_t)n);
	assert_memory_equal(got + 12, pl, 160);
	assert_int_equal(rejected(rb), 0);

	/* The same packet again: a replay, dropped and counted. */
	send_raw(&pb, pbx_rtp_port(rb), replay, sent);
	assert_int_equal(recv_raw(&pa, got, sizeof got, 100), -1);
	assert_int_equal(rejected(rb), 1);

	/* A new packet with one byte flipped: fails authentication. */
	n = mkpkt(pkt, 0, 501, 8160, 0xB2B2B2B2, pl, 160);
	int len = (int)n;
	assert_int_equal(srtp_protect(pb.out, pkt, &len), srtp_err_status_ok);
	pkt[40] ^= 0x01;
	send_raw(&pb, pbx_rtp_port(rb), pkt, (size_t)len);
	assert_int_equal(recv_raw(&pa, got, sizeof got, 100), -1);
	assert_int_equal(rejected(rb), 2);

	/* Plain RTP into the SRTP leg is no better than a forgery. */
	n = mkpkt(pkt, 0, 502, 8320, 0xB2B2B2B2, pl, 160);
	send_raw(&pb, pbx_rtp_port(rb), pkt, n);
	assert_int_equal(recv_raw(&pa, got, sizeof got, 100), -1);
	assert_int_equal(rejected(rb), 3);

	/* The next genuine packet still goes through. */
	n = mkpkt(pkt, 0, 503, 8480, 0xB2B2B2B2, pl, 160);
	send_rtp(&pb, pbx_rtp_port(rb), pkt, n);
	assert_int_equal(recv_rtp(&pa, got, sizeof got, 1000), (ssize_t)n);

	/* SRTCP: a report protected with the phone's key is taken, a plain one is not. */
	uint8_t rtcp[64 + PBX__SRTP_TRAILER];
	memset(rtcp, 0, sizeof rtcp);
	rtcp[0] = 0x80; /* RR, no report blocks */
	rtcp[1] = 201;
	rtcp[3] = 1;
	rtcp[4] = 0xB2;
	int rl = 8;
	assert_int_equal(srtp_protect_rtcp(pb.out, rtcp, &rl), srtp_err_status_ok);
	send_raw(&pb, pbx_rtp_port(rb) + 1, rtcp, (size_t)rl);
	pump(50);
	assert_int_equal(rejected(rb), 3);
	memset(rtcp, 0, sizeof rtcp);
	rtcp[0] = 0x80;
	rtcp[1] = 201;
	rtcp[3] = 1;
	send_raw(&pb, pbx_rtp_port(rb) + 1, rtcp, 8);
	send_raw(&pb, pbx_rtp_port(rb) + 1, rtcp, 2);
	pump(50);
	assert_int_equal(rejected(rb), 5);

	/* A re-INVITE with fresh keys: the old key no longer gets in, the new one does. */
	srtp_dealloc(pb.out);
	srtp_dealloc(pb.in);
	struct pbx_rtp_params old = qb;
	assert_int_equal(pbx_srtp_key_new(&qb.tx, PBX_SRTP_AEAD_AES_128_GCM), 0);
	assert_int_equal(pbx_srtp_key_new(&qb.rx, PBX_SRTP_AEAD_AES_128_GCM), 0);
	assert_int_equal(pbx_rtp_set_params(rb, &qb), 0);
	pump(30);
	assert_true(pbx_rtp_is_srtp(rb, &suite));
	assert_int_equal(suite, PBX_SRTP_AEAD_AES_128_GCM);
	pb.out = ctx(&old.rx, ssrc_any_outbound);
	n = mkpkt(pkt, 0, 504, 8640, 0xB2B2B2B2, pl, 160);
	send_rtp(&pb, pbx_rtp_port(rb), pkt, n);
	assert_int_equal(recv_raw(&pa, got, sizeof got, 100), -1);
	assert_int_equal(rejected(rb), 6);
	srtp_dealloc(pb.out);
	pb.out = ctx(&qb.rx, ssrc_any_outbound);
	pb.in = ctx(&qb.tx, ssrc_any_inbound);
	n = mkpkt(pkt, 0, 505, 8800, 0xB2B2B2B2, pl, 160);
	assert_int_equal(send_rtp(&pb, pbx_rtp_port(rb), pkt, n), n + 16);
	assert_int_equal(recv_rtp(&pa, got, sizeof got, 1000), (ssize_t)n);
	assert_memory_equal(got + 12, pl, 160);
	n = mkpkt(pkt, 0, 20, 2000, 0xA1A1A1A1, pl, 160);
	send_rtp(&pa, pbx_rtp_port(ra), pkt, n);
	assert_int_equal(recv_rtp(&pb, got, sizeof got, 1000), (ssize_t)n);
	assert_memory_equal(got + 12, pl, 160);

	/* And back to plain: B now relays in the clear. */
	qb.srtp = false;
	assert_int_equal(pbx_rtp_set_params(rb, &qb), 0);
	pump(30);
	assert_false(pbx_rtp_is_srtp(rb, NULL));
	n = mkpkt(pkt, 0, 21, 2160, 0xA1A1A1A1, pl, 160);
	send_rtp(&pa, pbx_rtp_port(ra), pkt, n);
	assert_int_equal(recv_raw(&pb, got, sizeof got, 1000), (ssize_t)n);
	assert_memory_equal(got + 12, pl, 160);

	pbx_rtp_free(ra);
	pbx_rtp_free(rb);
	pump(30);
	phone_close(&pa);
	phone_close(&pb);
}

/* ---- SRTP <-> SRTP, with transcoding --------------------------------------------------------- */

/* Each leg has its own suite and keys: every packet is decrypted with one
 * leg's and encrypted with the other's, PCMU turned to PCMA on the way. */
static void test_srtp_srtp(void **state)
{
	(void)state;
	struct phone tmp, pa, pb;
	phone_open(&tmp, NULL);
	struct pbx_rtp_params qa = params(&tmp, PBX_CODEC_PCMU, PBX_SRTP_AEAD_AES_128_GCM);
	struct pbx_rtp_params qb = params(&tmp, PBX_CODEC_PCMA, PBX_SRTP_AES_CM_128_HMAC_SHA1_32);
	close(tmp.fd);
	phone_open(&pa, &qa);
	phone_open(&pb, &qb);
	memcpy(&qa.remote, &pa.addr, sizeof pa.addr);
	memcpy(&qb.remote, &pb.addr, sizeof pb.addr);
	struct pbx_rtp *ra = leg(NULL, &qa), *rb = leg(ra, &qb);
	assert_int_equal(pbx_rtp_bridge(ra, rb), 0);
	pump(30);

	uint8_t pl[160], pkt[256], got[256];
	for (int i = 0; i < 160; i++)
		pl[i] = (uint8_t)(i + 40);
	for (int k = 0; k < 3; k++) {
		size_t n = mkpkt(pkt, 0, (uint16_t)(1 + k), 160 * (uint32_t)k, 0xA5A5A5A5, pl, 160);
		assert_int_equal(send_rtp(&pa, pbx_rtp_port(ra), pkt, n), n + 16); /* GCM tag */
		ssize_t m = recv_raw(&pb, got, sizeof got, 1000);
		assert_int_equal(m, (ssize_t)n + 4); /* 32-bit tag */
		uint8_t alaw[160];
		for (int i = 0; i < 160; i++)
			alaw[i] = pbx__ulaw_to_alaw[pl[i]];
		assert_false(contains(got, (size_t)m, pl + 8, 32));
		assert_false(contains(got, (size_t)m, alaw + 8, 32));
		int len = (int)m;
		assert_int_equal(srtp_unprotect(pb.in, got, &len), srtp_err_status_ok);
		assert_int_equal(got[1] & 0x7f, 8);
		assert_memory_equal(got + 12, alaw, 160);
	}
	size_t n = mkpkt(pkt, 8, 9, 999, 0xB5B5B5B5, pl, 160);
	send_rtp(&pb, pbx_rtp_port(rb), pkt, n);
	assert_int_equal(recv_rtp(&pa, got, sizeof got, 1000), (ssize_t)n);
	assert_int_equal(got[1] & 0x7f, 0);
	for (int i = 0; i < 160; i++)
		assert_int_equal(got[12 + i], pbx__alaw_to_ulaw[pl[i]]);

	/* A's phone encrypting for B's key (a packet meant for the other leg) is rejected. */
	srtp_t wrong = ctx(&qb.rx, ssrc_any_outbound);
	n = mkpkt(pkt, 0, 4, 640, 0xA5A5A5A5, pl, 160);
	int len = (int)n;
	assert_int_equal(srtp_protect(wrong, pkt, &len), srtp_err_status_ok);
	srtp_dealloc(wrong);
	send_raw(&pa, pbx_rtp_port(ra), pkt, (size_t)len);
	assert_int_equal(recv_raw(&pb, got, sizeof got, 100), -1);
	assert_int_equal(rejected(ra), 1);
	assert_int_equal(rejected(rb), 0);

	pbx_rtp_free(ra);
	pbx_rtp_free(rb);
	pump(30);
	phone_close(&pa);
	phone_close(&pb);
}

/* ---- what the PBX makes itself: echo and DTMF ------------------------------------------------ */

static void test_srtp_local(void **state)
{
	(void)state;
	struct phone tmp, pa;
	phone_open(&tmp, NULL);
	struct pbx_rtp_params qa = params(&tmp, PBX_CODEC_PCMU, PBX_SRTP_AEAD_AES_256_GCM);
	close(tmp.fd);
	phone_open(&pa, &qa);
	memcpy(&qa.remote, &pa.addr, sizeof pa.addr);
	struct pbx_rtp *ra = leg(NULL, &qa);
	assert_int_equal(pbx_rtp_echo(ra, true), 0);
	pump(30);

	uint8_t pl[160], pkt[256], got[256];
	memset(pl, 0x5A, sizeof pl);
	size_t n = mkpkt(pkt, 0, 77, 7700, 0x0D0D0D0D, pl, 160);
	send_rtp(&pa, pbx_rtp_port(ra), pkt, n);
	ssize_t m = recv_raw(&pa, got, sizeof got, 1000);
	assert_int_equal(m, (ssize_t)n + 16);
	assert_false(contains(got, (size_t)m, pl, 32));
	int len = (int)m;
	assert_int_equal(srtp_unprotect(pa.in, got, &len), srtp_err_status_ok);
	assert_memory_equal(got + 12, pl, 160);

	/* An RFC 4733 event from the phone over SRTP is heard; one sent to it is encrypted. */
	for (int i = 0; i < 4; i++) {
		uint8_t ev[4] = {5, (uint8_t)((i ? 0x80 : 0) | 10), 0, 160};
		n = mkpkt(pkt, 101, (uint16_t)(78 + i), 7860, 0x0D0D0D0D, ev, 4);
		send_rtp(&pa, pbx_rtp_port(ra), pkt, n);
	}
	pump(50);
	assert_int_equal(ndigits, 1);
	assert_int_equal(pbx_rtp_echo(ra, false), 0);
	pump(30);
	while (recv_raw(&pa, got, sizeof got, 0) >= 0) /* the echoed events */
		;
	assert_int_equal(pbx_rtp_send_dtmf(ra, '9', 60), 0);
	int nev = 0;
	while ((m = recv_rtp(&pa, got, sizeof got, 300)) >= 0) {
		assert_int_equal(m, 16);
		assert_int_equal(got[1] & 0x7f, 101);
		assert_int_equal(got[12], 9);
		nev++;
	}
	assert_true(nev >= 4);
	assert_int_equal(rejected(ra), 0);

	pbx_rtp_free(ra);
	pump(30);
	phone_close(&pa);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_suites),
	cmocka_unit_test_setup_teardown(test_plain_srtp, setup, teardown),
	cmocka_unit_test_setup_teardown(test_srtp_srtp, setup, teardown),
	cmocka_unit_test_setup_teardown(test_srtp_local, setup, teardown),
};

UNIT_GROUP(srtp, tests, NULL, NULL);
