/**
 * @file bench_sip_parse.c  SIP parser throughput: typical INVITE and REGISTER, one core
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each round parses the message and calls what the transaction layer calls
 * on every message: top Via and its branch, CSeq, Call-ID, From tag, To
 * tag. The messages have no folded lines, so parsing leaves the buffer as
 * it was and the same buffer serves every round; the copy from the socket
 * is the transport's cost, not the parser's. A fixed round count keeps
 * the run bounded (about a second per message on a 2020 laptop).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../channels/sip/sip_msg.h"

#define ROUNDS 2000000

static const char sdp[] = "v=0\r\n"
			  "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
			  "s=-\r\n"
			  "c=IN IP4 192.0.2.10\r\n"
			  "t=0 0\r\n"
			  "m=audio 49170 RTP/AVP 0 8 9 101\r\n"
			  "a=rtpmap:0 PCMU/8000\r\n"
			  "a=rtpmap:8 PCMA/8000\r\n"
			  "a=rtpmap:9 G722/8000\r\n"
			  "a=rtpmap:101 telephone-event/8000\r\n"
			  "a=fmtp:101 0-16\r\n"
			  "a=ptime:20\r\n"
			  "a=sendrecv\r\n";

static const char invite_hdrs[] =
	"INVITE sip:1002@pbx.example.org SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.254:5060;branch=z9hG4bK5a1e.3f9c0b12a7c1;rport\r\n"
	"Via: SIP/2.0/UDP "
	"192.0.2.10:5062;received=198.51.100.7;rport=40112;branch=z9hG4bK-524287-1---"
	"9d3c6a1b2f4e\r\n"
	"Max-Forwards: 69\r\n"
	"Record-Route: <sip:192.0.2.254;lr;ftag=4fd2a1b7>\r\n"
	"Contact: "
	"<sip:1001@198.51.100.7:40112;transport=udp;ob>;+sip.instance=\"<urn:uuid:00000000-0000-"
	"1000-8000-000A95A0E128>\"\r\n"
	"To: <sip:1002@pbx.example.org>\r\n"
	"From: \"Alice\" <sip:1001@pbx.example.org>;tag=4fd2a1b7\r\n"
	"Call-ID: 8d2c0b1d6f3a4e5b9c7d1e2f3a4b5c6d@192.0.2.10\r\n"
	"CSeq: 20 INVITE\r\n"
	"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE, "
	"UPDATE, PRACK\r\n"
	"Supported: replaces, norefersub, timer, outbound, path\r\n"
	"User-Agent: ExamplePhone 5.2.1\r\n"
	"Session-Expires: 1800\r\n"
	"Min-SE: 90\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: ";

static const char register_msg[] =
	"REGISTER sip:pbx.example.org SIP/2.0\r\n"
	"Via: SIP/2.0/UDP "
	"192.0.2.10:5062;rport;branch=z9hG4bKPj4d7c9f1e2a3b4c5d6e7f8a9b0c1d2e3f\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:1001@pbx.example.org>;tag=9a8b7c6d5e4f3a2b1c0d\r\n"
	"To: <sip:1001@pbx.example.org>\r\n"
	"Call-ID: 1f2e3d4c5b6a79880a1b2c3d4e5f6a7b\r\n"
	"CSeq: 4711 REGISTER\r\n"
	"User-Agent: ExamplePhone 5.2.1\r\n"
	"Contact: "
	"<sip:1001@192.0.2.10:5062;ob>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
	"000A95A0E128>\"\r\n"
	"Expires: 300\r\n"
	"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, "
	"OPTIONS\r\n"
	"Authorization: Digest username=\"1001\", realm=\"pbx.example.org\", "
	"nonce=\"Y2FmZWJhYmUxMjM0NTY3ODkwYWJjZGVmOjE3MDAwMDAwMDA=\", uri=\"sip:pbx.example.org\", "
	"response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", "
	"qop=auth, nc=00000001\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a transaction layer reads from every message. Returns a value
 * that depends on all of it, so the compiler cannot drop any. */
static size_t one(char *buf, size_t len)
{
	struct sip_msg m;
	struct sip_via via;
	struct sip_addr from, to;
	struct sip_pl callid, method;
	const char *reason;
	uint32_t cseq;

	if (sip_msg_parse(&m, buf, len, &reason) || sip_msg_via_top(&m, &via) || !via.branch.l ||
	    sip_msg_cseq(&m, &cseq, &method) || sip_msg_callid(&m, &callid) ||
	    sip_msg_from(&m, &from) || !from.tag.l || sip_msg_to(&m, &to)) {
		fprintf(stderr, "bench_sip_parse: message does not parse\n");
		exit(1);
	}
	return via.branch.l + cseq + callid.l + from.tag.l + to.tag.l + m.body.l;
}

static void run(const char *name, char *buf, size_t len)
{
	volatile size_t sink = 0;
	double t0, dt;
	for (int i = 0; i < ROUNDS / 20; i++) /* warm caches and branch predictors */
		sink += one(buf, len);
	t0 = now();
	for (int i = 0; i < ROUNDS; i++)
		sink += one(buf, len);
	dt = now() - t0;
	printf("sip_parse %s: %.0f msg/s (%zu bytes, %.0f ns/msg)\n", name, ROUNDS / dt, len,
	       dt * 1e9 / ROUNDS);
	(void)sink;
}

int main(void)
{
	static char invite[2048], reg[sizeof(register_msg)];
	int n = snprintf(invite, sizeof(invite), "%s%zu\r\n\r\n%s", invite_hdrs, strlen(sdp), sdp);
	if (n < 0 || (size_t)n >= sizeof(invite))
		return 1;
	memcpy(reg, register_msg, sizeof(register_msg));
	run("INVITE", invite, (size_t)n);
	run("REGISTER", reg, sizeof(register_msg) - 1);
	return 0;
}
