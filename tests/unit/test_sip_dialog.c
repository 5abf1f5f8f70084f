/**
 * @file test_sip_dialog.c  Dialogs: route sets, in-dialog requests, CSeq, matching by tags
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Messages are literal text parsed with sip_msg_parse, as the transport
 * would; requests we build are parsed back and checked field by field.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_dialog.h"
#include "../../channels/sip/sip_uri.h"
#include "unit.h"

/* A parsed message and its buffer. */
struct pmsg {
	char buf[4096];
	size_t len;
	struct sip_msg m;
};

static struct pmsg *pm_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct pmsg *pm_new(const char *fmt, ...)
{
	struct pmsg *p = malloc(sizeof *p);
	const char *reason;
	va_list ap;
	int n;
	assert_non_null(p);
	va_start(ap, fmt);
	n = vsnprintf(p->buf, sizeof p->buf, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof p->buf);
	p->len = (size_t)n;
	assert_int_equal(sip_msg_parse(&p->m, p->buf, p->len, &reason), 0);
	return p;
}

/* Parse what we built. */
static struct pmsg *pm_from_buf(const struct pbx_buf *b)
{
	assert_non_null(b->data);
	return pm_new("%.*s", (int)b->len, b->data);
}

static struct sip_peer peer(enum pbx_transport tp, const char *ip, int port)
{
	struct sip_peer p;
	struct sockaddr_in *a = (struct sockaddr_in *)&p.addr;
	memset(&p, 0, sizeof p);
	p.tp = tp;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	return p;
}

static void assert_pl(struct sip_pl pl, const char *want)
{
	char buf[1024];
	assert_int_equal(sip_pl_strcpy(pl, buf, sizeof buf), 0);
	assert_string_equal(buf, want);
}

/* The n-th header line with @p id (0-based), as text. */
static void assert_hdr(const struct sip_msg *m, enum sip_hdr_id id, unsigned n, const char *want)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);
	for (unsigned i = 0; h && i < n; i++)
		h = sip_msg_hdr_next(m, h);
	if (!want) {
		assert_null(h);
		return;
	}
	assert_non_null(h);
	assert_pl(h->value, want);
}

/* An INVITE from a phone through two proxies (one Record-Route line
 * holding two values, one holding one). */
static struct pmsg *invite_rr(const char *transport, const char *scheme)
{
	return pm_new("INVITE %s:1002@pbx.local SIP/2.0\r\n"
		      "Via: SIP/2.0/%s 192.0.2.10:5060;branch=z9hG4bKinv1;rport\r\n"
		      "Max-Forwards: 68\r\n"
		      "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;ftag=x>\r\n"
		      "Record-Route: <sip:p3.example.com:5070;lr>\r\n"
		      "From: \"Alice \\\"A\\\" Smith\" <sip:1001@pbx.local>;tag=ft1;x-p=\"q v\"\r\n"
		      "To: <sip:1002@pbx.local>\r\n"
		      "Call-ID: cid-1@192.0.2.10\r\n"
		      "CSeq: 20 INVITE\r\n"
		      "Contact: <sip:1001@192.0.2.10:5060;ob>;expires=60\r\n"
		      "Content-Length: 0\r\n\r\n",
		      scheme, transport);
}

/* ---- UAS ------------------------------------------------------------------ */

static void test_uas_init(void **state)
{
	struct pmsg *inv = invite_rr("UDP", "sip");
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.10", 5060);
	struct sip_dialog d;
	sip_dialog_init(&d);
	assert_int_equal(sip_dialog_uas_init(&d, &inv->m, &src, "lt1"), 0);
	assert_string_equal(d.call_id, "cid-1@192.0.2.10");
	assert_string_equal(d.local_tag, "lt1");
	assert_string_equal(d.remote_tag, "ft1");
	/* The tag goes, other parameters and the quoted display name stay. */
	assert_string_equal(d.remote_uri,
			    "\"Alice \\\"A\\\" Smith\" <sip:1001@pbx.local>;x-p=\"q v\"");
	assert_string_equal(d.local_uri, "<sip:1002@pbx.local>");
	assert_string_equal(d.remote_target, "sip:1001@192.0.2.10:5060;ob");
	/* UAS: the route set in Record-Route order (RFC 3261 12.1.1). */
	assert_int_equal(d.nroute, 3);
	assert_string_equal(d.route[0], "<sip:p1.example.com;lr>");
	assert_string_equal(d.route[1], "<sip:p2.example.com;lr;ftag=x>");
	assert_string_equal(d.route[2], "<sip:p3.example.com:5070;lr>");
	assert_int_equal(d.remote_cseq, 20);
	assert_true(d.remote_cseq_set);
	assert_false(d.uac);
	assert_false(d.secure);
	sip_dialog_reset(&d);
	free(inv);

	/* sips: over TLS is a secure dialog; sips over TCP is not. */
	inv = invite_rr("TLS", "sips");
	src.tp = PBX_TP_TLS;
	assert_int_equal(sip_dialog_uas_init(&d, &inv->m, &src, "lt1"), 0);
	assert_true(d.secure);
	sip_dialog_reset(&d);
	free(inv);
	inv = invite_rr("TCP", "sips");
	src.tp = PBX_TP_TCP;
	assert_int_equal(sip_dialog_uas_init(&d, &inv->m, &src, "lt1"), 0);
	assert_false(d.secure);
	sip_dialog_reset(&d);
	free(inv);
}

static void test_uas_refused(void **state)
{
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.10", 5060);
	struct sip_dialog d;
	sip_dialog_init(&d);
	/* No Contact: nowhere to send in-dialog requests. */
	struct pmsg *m = pm_new("INVITE sip:1002@pbx.local SIP/2.0\r\n"
				"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\n"
				"From: <sip:1001@pbx.local>;tag=a\r\nTo: <sip:1002@pbx.local>\r\n"
				"Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(sip_dialog_uas_init(&d, &m->m, &src, "t"), EINVAL);
	assert_null(d.call_id);
	free(m);
	/* A Record-Route that is not a name-addr. */
	m = pm_new("INVITE sip:1002@pbx.local SIP/2.0\r\n"
		   "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\n"
		   "Record-Route: sip:p1.example.com;lr\r\n"
		   "From: <sip:1001@pbx.local>;tag=a\r\nTo: <sip:1002@pbx.local>\r\n"
		   "Call-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@192.0.2.10>\r\n"
		   "Content-Length: 0\r\n\r\n");
	assert_int_equal(sip_dialog_uas_init(&d, &m->m, &src, "t"), EINVAL);
	assert_null(d.call_id);
	free(m);
	/* More routes than we keep. */
	char rr[2048] = "";
	size_t o = 0;
	for (int i = 0; i <= SIP_DIALOG_ROUTES_MAX; i++)
		o += (size_t)snprintf(rr + o, sizeof rr - o, "Record-Route: <sip:p%d.ex;lr>\r\n",
				      i);
	m = pm_new("INVITE sip:1002@pbx.local SIP/2.0\r\n"
		   "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\n%s"
		   "From: <sip:1001@pbx.local>;tag=a\r\nTo: <sip:1002@pbx.local>\r\n"
		   "Call-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@192.0.2.10>\r\n"
		   "Content-Length: 0\r\n\r\n",
		   rr);
	assert_int_equal(sip_dialog_uas_init(&d, &m->m, &src, "t"), EINVAL);
	free(m);
	sip_dialog_reset(&d);
}

/* BYE from the UAS side: loose routes in order, To = the caller with its tag. */
static void test_uas_bye_loose(void **state)
{
	struct pmsg *inv = invite_rr("UDP", "sip");
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.10", 5060);
	struct sip_dialog d;
	struct pbx_buf b;
	uint32_t cseq = 0;
	sip_dialog_init(&d);
	pbx_buf_init(&b);
	assert_int_equal(sip_dialog_uas_init(&d, &inv->m, &src, "lt1"), 0);
	struct sip_dialog_req r = {.method = "BYE",
				   .local = "192.0.2.1:5060",
				   .branch = "z9hG4bKbye1",
				   .extra = "Reason: Q.850;cause=16\r\n"};
	assert_int_equal(sip_dialog_build(&b, &d, &r, &cseq), 0);
	assert_int_equal(cseq, 1);
	struct pmsg *bye = pm_from_buf(&b);
	assert_int_equal(bye->m.method, SIP_METHOD_BYE);
	assert_pl(bye->m.ruri, "sip:1001@192.0.2.10:5060;ob");
	assert_hdr(&bye->m, SIP_HDR_ROUTE, 0, "<sip:p1.example.com;lr>");
	assert_hdr(&bye->m, SIP_HDR_ROUTE, 1, "<sip:p2.example.com;lr;ftag=x>");
	assert_hdr(&bye->m, SIP_HDR_ROUTE, 2, "<sip:p3.example.com:5070;lr>");
	assert_hdr(&bye->m, SIP_HDR_ROUTE, 3, NULL);
	assert_hdr(&bye->m, SIP_HDR_VIA, 0, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbye1;rport");
	assert_hdr(&bye->m, SIP_HDR_FROM, 0, "<sip:1002@pbx.local>;tag=lt1");
	assert_hdr(&bye->m, SIP_HDR_TO, 0,
		   "\"Alice \\\"A\\\" Smith\" <sip:1001@pbx.local>;x-p=\"q v\";tag=ft1");
	assert_hdr(&bye->m, SIP_HDR_CALL_ID, 0, "cid-1@192.0.2.10");
	assert_hdr(&bye->m, SIP_HDR_CSEQ, 0, "1 BYE");
	assert_hdr(&bye->m, SIP_HDR_CONTACT, 0, NULL);
	assert_hdr(&bye->m, SIP_HDR_REASON, 0, "Q.850;cause=16");
	assert_int_equal(bye->m.clen, 0);
	/* Its tags find the dialog from the other side's point of view. */
	struct sip_addr from, to;
	assert_int_equal(sip_msg_from(&bye->m, &from), 0);
	assert_int_equal(sip_msg_to(&bye->m, &to), 0);
	assert_pl(from.tag, "lt1");
	assert_pl(to.tag, "ft1");
	free(bye);
	free(inv);
	pbx_buf_free(&b);
	sip_dialog_reset(&d);
}

/* A strict router first: it becomes the Request-URI and the remote target
 * goes last in Route (RFC 3261 12.2.1.1). */
static void test_strict_route(void **state)
{
	struct pmsg *inv = pm_new("INVITE sip:1002@pbx.local SIP/2.0\r\n"
				  "Via: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bKs1\r\n"
				  "Record-Route: <sip:strict.example.com;maddr=192.0.2.77>\r\n"
				  "Record-Route: <sip:p2.example.com;lr>\r\n"
				  "From: <sip:1001@pbx.local>;tag=a\r\nTo: <sip:1002@pbx.local>\r\n"
				  "Call-ID: cs\r\nCSeq: 1 INVITE\r\n"
				  "Contact: <sip:1001@192.0.2.10;transport=tcp>\r\n"
				  "Content-Length: 0\r\n\r\n");
	struct sip_peer src = peer(PBX_TP_TCP, "192.0.2.10", 5060);
	struct sip_dialog d;
	struct pbx_buf b;
	char hop[128];
	sip_dialog_init(&d);
	pbx_buf_init(&b);
	assert_int_equal(sip_dialog_uas_init(&d, &inv->m, &src, "x"), 0);
	struct sip_dialog_req r = {
		.method = "INFO", .local = "192.0.2.1:5060", .branch = "z9hG4bKi1"};
	assert_int_equal(sip_dialog_build(&b, &d, &r, NULL), 0);
	struct pmsg *m = pm_from_buf(&b);
	assert_pl(m->m.ruri, "sip:strict.example.com;maddr=192.0.2.77");
	assert_hdr(&m->m, SIP_HDR_ROUTE, 0, "<sip:p2.example.com;lr>");
	assert_hdr(&m->m, SIP_HDR_ROUTE, 1, "<sip:1001@192.0.2.10;transport=tcp>");
	assert_hdr(&m->m, SIP_HDR_ROUTE, 2, NULL);
	assert_hdr(&m->m, SIP_HDR_VIA, 0, "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKi1;rport");
	assert_int_equal(sip_dialog_next_hop(&d, hop, sizeof hop), 0);
	assert_string_equal(hop, "sip:strict.example.com;maddr=192.0.2.77");
	free(m);
	free(inv);
	pbx_buf_free(&b);
	sip_dialog_reset(&d);
}

/* ---- UAC -------------------------------------------------------------------- */

static void uac_new(struct sip_dialog *d)
{
	struct sip_peer p = peer(PBX_TP_UDP, "192.0.2.20", 5062);
	sip_dialog_init(d);
	assert_int_equal(sip_dialog_uac_init(d, "out-1", "ourtag", "\"Alice\" <sip:1001@pbx.local>",
					     "<sip:1002@pbx.local>",
					     "sip:1002@192.0.2.20:5062;line=x", 7, &p),
			 0);
}

#define RESP_FMT                                                       \
	"SIP/2.0 %u X\r\n"                                             \
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKo1;rport\r\n%s" \
	"From: \"Alice\" <sip:1001@pbx.local>;tag=ourtag\r\n"          \
	"To: <sip:1002@pbx.local>%s\r\n"                               \
	"Call-ID: out-1\r\nCSeq: 7 INVITE\r\n%s"                       \
	"Content-Length: 0\r\n\r\n"

static void test_uac_route_reversed(void **state)
{
	struct sip_dialog d;
	struct pbx_buf b;
	uac_new(&d);
	pbx_buf_init(&b);
	/* The initial INVITE: no To tag, no Route, our CSeq. */
	struct sip_dialog_req r = {.method = "INVITE",
				   .cseq = d.local_cseq,
				   .local = "192.0.2.1:5060",
				   .branch = "z9hG4bKo1",
				   .contact = "sip:pbx@192.0.2.1:5060",
				   .body_type = "application/sdp",
				   .body = "v=0\r\n"};
	assert_int_equal(sip_dialog_build(&b, &d, &r, NULL), 0);
	struct pmsg *m = pm_from_buf(&b);
	assert_pl(m->m.ruri, "sip:1002@192.0.2.20:5062;line=x");
	assert_hdr(&m->m, SIP_HDR_TO, 0, "<sip:1002@pbx.local>");
	assert_hdr(&m->m, SIP_HDR_FROM, 0, "\"Alice\" <sip:1001@pbx.local>;tag=ourtag");
	assert_hdr(&m->m, SIP_HDR_CSEQ, 0, "7 INVITE");
	assert_hdr(&m->m, SIP_HDR_CONTACT, 0, "<sip:pbx@192.0.2.1:5060>");
	assert_hdr(&m->m, SIP_HDR_CONTENT_TYPE, 0, "application/sdp");
	assert_int_equal(m->m.clen, 5);
	assert_int_equal(d.local_cseq, 7);
	free(m);

	/* A 180 with a tag makes an early dialog with the provisional's routes. */
	struct pmsg *r180 = pm_new(RESP_FMT, 180, "Record-Route: <sip:a.ex;lr>\r\n", ";tag=rt1",
				   "Contact: <sip:1002@192.0.2.20:5062;early>\r\n");
	assert_int_equal(sip_dialog_uac_response(&d, &r180->m), 0);
	assert_string_equal(d.remote_tag, "rt1");
	assert_string_equal(d.remote_target, "sip:1002@192.0.2.20:5062;early");
	assert_int_equal(d.nroute, 1);
	assert_false(d.confirmed);
	/* The 2xx decides: routes reversed (RFC 3261 12.1.2), target refreshed. */
	struct pmsg *r200 = pm_new(RESP_FMT, 200,
				   "Record-Route: <sip:p3.ex;lr>\r\n"
				   "Record-Route: <sip:p2.ex;lr>, <sip:p1.ex;lr>\r\n",
				   ";tag=rt1", "Contact: <sip:1002@192.0.2.20:5062>\r\n");
	assert_int_equal(sip_dialog_uac_response(&d, &r200->m), 0);
	assert_true(d.confirmed);
	assert_int_equal(d.nroute, 3);
	assert_string_equal(d.route[0], "<sip:p1.ex;lr>");
	assert_string_equal(d.route[1], "<sip:p2.ex;lr>");
	assert_string_equal(d.route[2], "<sip:p3.ex;lr>");
	assert_string_equal(d.remote_target, "sip:1002@192.0.2.20:5062");
	/* A late provisional changes nothing once confirmed. */
	assert_int_equal(sip_dialog_uac_response(&d, &r180->m), 0);
	assert_int_equal(d.nroute, 3);
	assert_string_equal(d.remote_target, "sip:1002@192.0.2.20:5062");
	/* A 2xx from another tag is another dialog. */
	struct pmsg *other =
		pm_new(RESP_FMT, 200, "", ";tag=rt2", "Contact: <sip:x@192.0.2.30>\r\n");
	assert_int_equal(sip_dialog_uac_response(&d, &other->m), EEXIST);
	/* A 100 without tag does not make a dialog. */
	struct pmsg *r100 = pm_new(RESP_FMT, 100, "", "", "");
	assert_int_equal(sip_dialog_uac_response(&d, &r100->m), EINVAL);

	/* ACK of the 2xx: the INVITE's CSeq number, the counter untouched. */
	struct sip_dialog_req ack = {
		.method = "ACK", .cseq = 7, .local = "192.0.2.1:5060", .branch = "z9hG4bKa1"};
	uint32_t used = 0;
	assert_int_equal(sip_dialog_build(&b, &d, &ack, &used), 0);
	assert_int_equal(used, 7);
	m = pm_from_buf(&b);
	assert_int_equal(m->m.method, SIP_METHOD_ACK);
	assert_pl(m->m.ruri, "sip:1002@192.0.2.20:5062");
	assert_hdr(&m->m, SIP_HDR_CSEQ, 0, "7 ACK");
	assert_hdr(&m->m, SIP_HDR_TO, 0, "<sip:1002@pbx.local>;tag=rt1");
	assert_hdr(&m->m, SIP_HDR_ROUTE, 0, "<sip:p1.ex;lr>");
	assert_hdr(&m->m, SIP_HDR_ROUTE, 2, "<sip:p3.ex;lr>");
	free(m);
	/* An ACK without a CSeq is refused: it has no number of its own. */
	ack.cseq = 0;
	assert_int_equal(sip_dialog_build(&b, &d, &ack, NULL), EINVAL);

	/* Then every new request takes the next number. */
	struct sip_dialog_req bye = {.method = "BYE", .local = "192.0.2.1:5060", .branch = "b"};
	assert_int_equal(sip_dialog_build(&b, &d, &bye, &used), 0);
	assert_int_equal(used, 8);
	struct sip_dialog_req reinv = {
		.method = "INVITE", .local = "192.0.2.1:5060", .branch = "c"};
	assert_int_equal(sip_dialog_build(&b, &d, &reinv, &used), 0);
	assert_int_equal(used, 9);
	assert_int_equal(d.local_cseq, 9);

	free(r180);
	free(r200);
	free(other);
	free(r100);
	pbx_buf_free(&b);
	sip_dialog_reset(&d);
}

static void test_from_2xx(void **state)
{
	struct sip_peer p = peer(PBX_TP_UDP, "192.0.2.20", 5062);
	struct sip_dialog d;
	struct pbx_buf b;
	sip_dialog_init(&d);
	pbx_buf_init(&b);
	struct pmsg *r200 =
		pm_new(RESP_FMT, 200, "Record-Route: <sip:p2.ex;lr>, <sip:p1.ex;lr>\r\n",
		       ";tag=rt9", "Contact: <sip:1002@192.0.2.20:5062>\r\n");
	assert_int_equal(sip_dialog_from_2xx(&d, &r200->m, &p), 0);
	assert_true(d.uac);
	assert_true(d.confirmed);
	assert_int_equal(d.local_cseq, 7);
	struct sip_dialog_req bye = {.method = "BYE", .local = "192.0.2.1:5060", .branch = "b"};
	assert_int_equal(sip_dialog_build(&b, &d, &bye, NULL), 0);
	struct pmsg *m = pm_from_buf(&b);
	assert_pl(m->m.ruri, "sip:1002@192.0.2.20:5062");
	assert_hdr(&m->m, SIP_HDR_FROM, 0, "\"Alice\" <sip:1001@pbx.local>;tag=ourtag");
	assert_hdr(&m->m, SIP_HDR_TO, 0, "<sip:1002@pbx.local>;tag=rt9");
	assert_hdr(&m->m, SIP_HDR_CSEQ, 0, "8 BYE");
	assert_hdr(&m->m, SIP_HDR_ROUTE, 0, "<sip:p1.ex;lr>");
	free(m);
	sip_dialog_reset(&d);
	/* A 2xx without Contact cannot be ended: refused. */
	struct pmsg *bad = pm_new(RESP_FMT, 200, "", ";tag=rt9", "");
	assert_int_equal(sip_dialog_from_2xx(&d, &bad->m, &p), EINVAL);
	assert_null(d.call_id);
	free(bad);
	free(r200);
	pbx_buf_free(&b);
}

static void test_cancel(void **state)
{
	struct sip_dialog d;
	struct pbx_buf b, c;
	uac_new(&d);
	pbx_buf_init(&b);
	pbx_buf_init(&c);
	struct sip_dialog_req r = {.method = "INVITE",
				   .cseq = d.local_cseq,
				   .local = "192.0.2.1:5060",
				   .branch = "z9hG4bKinv7",
				   .contact = "sip:pbx@192.0.2.1:5060",
				   .body_type = "application/sdp",
				   .body = "v=0\r\n"};
	assert_int_equal(sip_dialog_build(&b, &d, &r, NULL), 0);
	assert_int_equal(sip_dialog_build_cancel(&c, b.data, b.len, "Reason: Q.850;cause=16\r\n"),
			 0);
	struct pmsg *m = pm_from_buf(&c);
	assert_int_equal(m->m.method, SIP_METHOD_CANCEL);
	assert_pl(m->m.ruri, "sip:1002@192.0.2.20:5062;line=x");
	assert_hdr(&m->m, SIP_HDR_VIA, 0, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv7;rport");
	assert_hdr(&m->m, SIP_HDR_VIA, 1, NULL);
	assert_hdr(&m->m, SIP_HDR_TO, 0, "<sip:1002@pbx.local>");
	assert_hdr(&m->m, SIP_HDR_FROM, 0, "\"Alice\" <sip:1001@pbx.local>;tag=ourtag");
	assert_hdr(&m->m, SIP_HDR_CSEQ, 0, "7 CANCEL");
	assert_hdr(&m->m, SIP_HDR_CALL_ID, 0, "out-1");
	assert_hdr(&m->m, SIP_HDR_CONTACT, 0, NULL);
	assert_hdr(&m->m, SIP_HDR_REASON, 0, "Q.850;cause=16");
	assert_int_equal(m->m.clen, 0);
	free(m);
	/* Only an INVITE can be cancelled. */
	const char bye[] = "BYE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\n"
			   "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\n"
			   "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(sip_dialog_build_cancel(&c, bye, sizeof bye - 1, NULL), EINVAL);
	pbx_buf_free(&b);
	pbx_buf_free(&c);
	sip_dialog_reset(&d);
}

/* ---- CSeq and refresh ---------------------------------------------------------- */

static struct pmsg *in_dialog(const char *method, unsigned cseq, const char *from_tag,
			      const char *to_tag, const char *contact)
{
	return pm_new("%s sip:1002@192.0.2.1 SIP/2.0\r\n"
		      "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK%s%u\r\n"
		      "From: <sip:1001@pbx.local>;tag=%s\r\nTo: <sip:1002@pbx.local>;tag=%s\r\n"
		      "Call-ID: cid-1@192.0.2.10\r\nCSeq: %u %s\r\n%s%s%s"
		      "Content-Length: 0\r\n\r\n",
		      method, method, cseq, from_tag, to_tag, cseq, method,
		      contact ? "Contact: <" : "", contact ? contact : "", contact ? ">\r\n" : "");
}

static void test_remote_cseq(void **state)
{
	struct pmsg *inv = invite_rr("UDP", "sip");
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.10", 5060);
	struct sip_dialog d;
	sip_dialog_init(&d);
	assert_int_equal(sip_dialog_uas_init(&d, &inv->m, &src, "lt1"), 0);
	struct pmsg *ack = in_dialog("ACK", 20, "ft1", "lt1", NULL);
	struct pmsg *reinv = in_dialog("INVITE", 21, "ft1", "lt1", "sip:1001@192.0.2.99:5070");
	struct pmsg *old = in_dialog("INFO", 19, "ft1", "lt1", NULL);
	struct pmsg *bye = in_dialog("BYE", 22, "ft1", "lt1", NULL);
	assert_int_equal(sip_dialog_request_check(&d, &ack->m), 0);
	assert_int_equal(d.remote_cseq, 20);
	assert_int_equal(sip_dialog_request_check(&d, &reinv->m), 0);
	assert_int_equal(d.remote_cseq, 21);
	assert_int_equal(sip_dialog_target_refresh(&d, &reinv->m), 0);
	assert_string_equal(d.remote_target, "sip:1001@192.0.2.99:5070");
	assert_int_equal(sip_dialog_target_refresh(&d, &old->m), ENOENT);
	assert_string_equal(d.remote_target, "sip:1001@192.0.2.99:5070");
	/* Lower than the last one: out of order (RFC 3261 12.2.2 says 500). */
	assert_int_equal(sip_dialog_request_check(&d, &old->m), EPROTO);
	assert_int_equal(d.remote_cseq, 21);
	/* CSeq may jump. */
	assert_int_equal(sip_dialog_request_check(&d, &bye->m), 0);
	assert_int_equal(d.remote_cseq, 22);
	free(ack);
	free(reinv);
	free(old);
	free(bye);
	free(inv);
	sip_dialog_reset(&d);
}

/* ---- the table -------------------------------------------------------------------- */

static void test_matching(void **state)
{
	struct sip_dialog_table *t;
	struct pmsg *inv = invite_rr("UDP", "sip");
	struct sip_peer src = peer(PBX_TP_UDP, "192.0.2.10", 5060);
	struct sip_dialog uas, uac;
	assert_int_equal(sip_dialog_table_alloc(&t), 0);
	sip_dialog_init(&uas);
	assert_int_equal(sip_dialog_uas_init(&uas, &inv->m, &src, "lt1"), 0);
	assert_int_equal(sip_dialog_link(t, &uas), 0);
	assert_int_equal(sip_dialog_link(t, &uas), EEXIST);
	/* Our UAC dialog before any response: no remote tag yet. */
	uac_new(&uac);
	assert_int_equal(sip_dialog_link(t, &uac), 0);
	assert_int_equal(sip_dialog_count(t), 2);

	struct pmsg *good = in_dialog("BYE", 21, "ft1", "lt1", NULL);
	struct pmsg *wrong_local = in_dialog("BYE", 21, "ft1", "lt2", NULL);
	struct pmsg *wrong_remote = in_dialog("BYE", 21, "ft2", "lt1", NULL);
	struct pmsg *no_tag = pm_new("BYE sip:1002@192.0.2.1 SIP/2.0\r\n"
				     "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKn\r\n"
				     "From: <sip:1001@pbx.local>;tag=ft1\r\n"
				     "To: <sip:1002@pbx.local>\r\n"
				     "Call-ID: cid-1@192.0.2.10\r\nCSeq: 5 BYE\r\n"
				     "Content-Length: 0\r\n\r\n");
	assert_ptr_equal(sip_dialog_find(t, &good->m), &uas);
	assert_null(sip_dialog_find(t, &wrong_local->m));
	assert_null(sip_dialog_find(t, &wrong_remote->m));
	assert_null(sip_dialog_find(t, &no_tag->m));

	/* The UAC dialog matches any From tag until it learns one. */
	struct sip_pl cid = SIP_PL("out-1");
	assert_ptr_equal(sip_dialog_lookup(t, cid, SIP_PL("ourtag"), SIP_PL("anything")), &uac);
	assert_null(sip_dialog_lookup(t, cid, SIP_PL("ourtaG"), SIP_PL("anything")));
	struct pmsg *r200 = pm_new(RESP_FMT, 200, "", ";tag=rt1", "Contact: <sip:1002@h>\r\n");
	assert_int_equal(sip_dialog_uac_response(&uac, &r200->m), 0);
	assert_null(sip_dialog_lookup(t, cid, SIP_PL("ourtag"), SIP_PL("anything")));
	assert_ptr_equal(sip_dialog_lookup(t, cid, SIP_PL("ourtag"), SIP_PL("rt1")), &uac);

	/* Reset unlinks. */
	sip_dialog_reset(&uas);
	assert_null(sip_dialog_find(t, &good->m));
	assert_int_equal(sip_dialog_count(t), 1);
	sip_dialog_table_free(t); /* leaves uac unlinked */
	assert_null(uac.table);
	sip_dialog_reset(&uac);

	free(good);
	free(wrong_local);
	free(wrong_remote);
	free(no_tag);
	free(r200);
	free(inv);
}

/* Many dialogs with one Call-ID prefix: the table grows and finds each. */
static void test_many(void **state)
{
	enum { N = 1000 };
	struct sip_dialog_table *t;
	struct sip_dialog *d = calloc(N, sizeof *d);
	struct sip_peer p = peer(PBX_TP_UDP, "192.0.2.20", 5060);
	char cid[32], tag[16];
	assert_non_null(d);
	assert_int_equal(sip_dialog_table_alloc(&t), 0);
	for (int i = 0; i < N; i++) {
		snprintf(cid, sizeof cid, "call-%d", i);
		snprintf(tag, sizeof tag, "t%d", i % 7);
		sip_dialog_init(&d[i]);
		assert_int_equal(sip_dialog_uac_init(&d[i], cid, tag, "<sip:a@b>", "<sip:c@d>",
						     "sip:c@192.0.2.20", 1, &p),
				 0);
		assert_int_equal(sip_dialog_link(t, &d[i]), 0);
	}
	assert_int_equal(sip_dialog_count(t), N);
	for (int i = 0; i < N; i++) {
		snprintf(cid, sizeof cid, "call-%d", i);
		snprintf(tag, sizeof tag, "t%d", i % 7);
		assert_ptr_equal(
			sip_dialog_lookup(t, sip_pl_str(cid), sip_pl_str(tag), SIP_PL("r")), &d[i]);
	}
	for (int i = 0; i < N; i += 2)
		sip_dialog_reset(&d[i]);
	assert_int_equal(sip_dialog_count(t), N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(cid, sizeof cid, "call-%d", i);
		snprintf(tag, sizeof tag, "t%d", i % 7);
		struct sip_dialog *f =
			sip_dialog_lookup(t, sip_pl_str(cid), sip_pl_str(tag), SIP_PL("r"));
		if (i % 2)
			assert_ptr_equal(f, &d[i]);
		else
			assert_null(f);
	}
	for (int i = 1; i < N; i += 2)
		sip_dialog_reset(&d[i]);
	assert_int_equal(sip_dialog_count(t), 0);
	sip_dialog_table_free(t);
	free(d);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_uas_init),
	cmocka_unit_test(test_uas_refused),
	cmocka_unit_test(test_uas_bye_loose),
	cmocka_unit_test(test_strict_route),
	cmocka_unit_test(test_uac_route_reversed),
	cmocka_unit_test(test_from_2xx),
	cmocka_unit_test(test_cancel),
	cmocka_unit_test(test_remote_cseq),
	cmocka_unit_test(test_matching),
	cmocka_unit_test(test_many),
};

UNIT_GROUP(sip_dialog, tests, NULL, NULL);
