/**
 * @file test_sip_msg.c  SIP message parser: torture cases in the spirit of RFC 4475
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every message is copied into a heap buffer of its exact length, so that
 * AddressSanitizer catches a read one byte past the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../channels/sip/sip_msg.h"

#define CRLF      "\r\n"
#define RL_INVITE "INVITE sip:1002@pbx.example.org SIP/2.0" CRLF
#define H_VIA     "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport" CRLF
#define H_MAXF    "Max-Forwards: 70" CRLF
#define H_FROM    "From: \"Alice\" <sip:1001@pbx.example.org>;tag=1928301774" CRLF
#define H_TO      "To: <sip:1002@pbx.example.org>" CRLF
#define H_CALLID  "Call-ID: a84b4c76e66710@192.0.2.10" CRLF
#define H_CSEQ    "CSeq: 314159 INVITE" CRLF
#define H_CONTACT "Contact: <sip:1001@192.0.2.10:5062>" CRLF
#define MANDATORY H_VIA H_MAXF H_FROM H_TO H_CALLID H_CSEQ

static const char invite[] = RL_INVITE MANDATORY H_CONTACT "Content-Type: application/sdp" CRLF
							   "Content-Length: 4" CRLF CRLF "v=0\n";

struct pm {
	struct sip_msg m;
	char *buf;
	size_t len;
	const char *reason;
	int err;
};

static int parse_n(struct pm *x, const char *s, size_t n)
{
	x->buf = malloc(n ? n : 1);
	assert_non_null(x->buf);
	memcpy(x->buf, s, n);
	x->len = n;
	x->reason = NULL;
	x->err = sip_msg_parse(&x->m, x->buf, n, &x->reason);
	return x->err;
}

static int parse_s(struct pm *x, const char *s)
{
	return parse_n(x, s, strlen(s));
}

static void pm_free(struct pm *x)
{
	free(x->buf);
	x->buf = NULL;
}

/* Parse @p s and expect EBADMSG with @p reason. */
static void expect_bad(const char *s, size_t n, const char *reason)
{
	struct pm x;
	assert_int_equal(parse_n(&x, s, n), EBADMSG);
	assert_non_null(x.reason);
	assert_string_equal(x.reason, reason);
	pm_free(&x);
}

#define EXPECT_BAD(s, reason) expect_bad(s, strlen(s), reason)

static bool pl_is(struct sip_pl pl, const char *s)
{
	return pl.l == strlen(s) && (pl.l == 0 || !memcmp(pl.p, s, pl.l));
}

#define assert_pl(pl, s) assert_true(pl_is((pl), (s)))

/* ---- well-formed messages ---------------------------------------------- */

static void test_invite_basic(void **state)
{
	struct pm x;
	struct sip_pl pl;
	uint32_t n;
	assert_int_equal(parse_s(&x, invite), 0);
	assert_null(x.reason);
	assert_true(x.m.request);
	assert_int_equal(x.m.method, SIP_METHOD_INVITE);
	assert_pl(x.m.method_name, "INVITE");
	assert_pl(x.m.ruri, "sip:1002@pbx.example.org");
	assert_pl(x.m.version, "SIP/2.0");
	assert_int_equal(x.m.nhdrs, 9);
	assert_int_equal(x.m.hdr[0].id, SIP_HDR_VIA);
	assert_pl(x.m.hdr[0].name, "Via");
	assert_pl(x.m.hdr[0].value, "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport");
	assert_true(x.m.has_clen);
	assert_int_equal(x.m.clen, 4);
	assert_pl(x.m.body, "v=0\n");
	assert_int_equal(x.m.len, strlen(invite));
	assert_int_equal(sip_msg_cseq(&x.m, &n, &pl), 0);
	assert_int_equal(n, 314159);
	assert_pl(pl, "INVITE");
	assert_int_equal(x.m.cseq_method, SIP_METHOD_INVITE);
	assert_int_equal(sip_msg_callid(&x.m, &pl), 0);
	assert_pl(pl, "a84b4c76e66710@192.0.2.10");
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_CONTENT_TYPE)->value, "application/sdp");
	assert_null(sip_msg_hdr_first(&x.m, SIP_HDR_ROUTE));
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
}

static void test_response_basic(void **state)
{
	struct pm x;
	assert_int_equal(
		parse_s(&x, "SIP/2.0 180 Ringing Now" CRLF MANDATORY "Content-Length: 0" CRLF CRLF),
		0);
	assert_false(x.m.request);
	assert_int_equal(x.m.status, 180);
	assert_pl(x.m.reason, "Ringing Now");
	assert_int_equal(x.m.body.l, 0);
	/* CSeq method is not checked against anything in a response. */
	assert_int_equal(x.m.cseq_method, SIP_METHOD_INVITE);
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);

	/* No reason phrase, with and without the SP. */
	assert_int_equal(parse_s(&x, "SIP/2.0 200 " CRLF MANDATORY CRLF), 0);
	assert_int_equal(x.m.status, 200);
	assert_int_equal(x.m.reason.l, 0);
	pm_free(&x);
	assert_int_equal(parse_s(&x, "SIP/2.0 404" CRLF MANDATORY CRLF), 0);
	assert_int_equal(x.m.status, 404);
	pm_free(&x);

	EXPECT_BAD("SIP/2.0 099 Low" CRLF MANDATORY CRLF, "Bad status code");
	EXPECT_BAD("SIP/2.0 700 High" CRLF MANDATORY CRLF, "Bad status code");
	EXPECT_BAD("SIP/2.0 2x0 OK" CRLF MANDATORY CRLF, "Bad Status-Line");
	EXPECT_BAD("SIP/2.0 2000 OK" CRLF MANDATORY CRLF, "Bad Status-Line");
	EXPECT_BAD("SIP/2.0  200 OK" CRLF MANDATORY CRLF, "Bad Status-Line");
	EXPECT_BAD("SIP/3.0 200 OK" CRLF MANDATORY CRLF, "Unsupported SIP version");
}

/* What overload never sheds (responses, ACK/CANCEL/BYE, requests inside a dialog), and
 * what it sheds late (requests with credentials). */
static void test_continues_work(void **state)
{
	static const struct {
		const char *msg;
		bool continues;
	} cases[] = {
		{RL_INVITE MANDATORY CRLF, false},
		{RL_INVITE H_VIA H_MAXF H_FROM
		 "To: <sip:1002@pbx.example.org>;tag=8321234356" CRLF H_CALLID H_CSEQ CRLF,
		 true},
		{"SIP/2.0 200 OK" CRLF MANDATORY CRLF, true},
		{"BYE sip:1002@pbx.example.org SIP/2.0" CRLF H_VIA H_MAXF H_FROM H_TO H_CALLID
		 "CSeq: 2 BYE" CRLF CRLF,
		 true},
		{"REGISTER sip:pbx.example.org SIP/2.0" CRLF H_VIA H_MAXF H_FROM H_TO H_CALLID
		 "CSeq: 2 REGISTER" CRLF CRLF,
		 false},
		{"REGISTER sip:pbx.example.org SIP/2.0" CRLF H_VIA H_MAXF H_FROM H_TO H_CALLID
		 "CSeq: 3 REGISTER" CRLF "Authorization: Digest username=\"1001\"" CRLF CRLF,
		 false},
		{RL_INVITE MANDATORY "Proxy-Authorization: Digest username=\"1001\"" CRLF CRLF,
		 false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct pm x;
		assert_int_equal(parse_s(&x, cases[i].msg), 0);
		assert_int_equal(sip_msg_continues_work(&x.m), cases[i].continues);
		assert_int_equal(sip_msg_has_to_tag(&x.m), i == 1);
		/* Credentials answer a challenge: not work in progress, but first in a batch. */
		assert_int_equal(sip_msg_answers_challenge(&x.m), i >= 5);
		pm_free(&x);
	}
}

static void test_compact_forms(void **state)
{
	static const struct {
		char c;
		enum sip_hdr_id id;
	} forms[] = {
		{'v', SIP_HDR_VIA},
		{'f', SIP_HDR_FROM},
		{'t', SIP_HDR_TO},
		{'i', SIP_HDR_CALL_ID},
		{'m', SIP_HDR_CONTACT},
		{'l', SIP_HDR_CONTENT_LENGTH},
		{'k', SIP_HDR_SUPPORTED},
		{'s', SIP_HDR_SUBJECT},
		{'c', SIP_HDR_CONTENT_TYPE},
		{'e', SIP_HDR_CONTENT_ENCODING},
		{'o', SIP_HDR_EVENT},
		{'u', SIP_HDR_ALLOW_EVENTS},
		{'r', SIP_HDR_REFER_TO},
		{'b', SIP_HDR_REFERRED_BY},
		{'x', SIP_HDR_SESSION_EXPIRES},
		{'y', SIP_HDR_IDENTITY},
	};
	struct pm x;
	struct sip_addr a;
	struct sip_via v;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char up = (char)(forms[i].c - 32);
		assert_int_equal(sip_hdr_lookup(&forms[i].c, 1), forms[i].id);
		assert_int_equal(sip_hdr_lookup(&up, 1), forms[i].id);
	}
	assert_int_equal(sip_hdr_lookup("g", 1), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_lookup("\xe9", 1), SIP_HDR_OTHER);

	assert_int_equal(parse_s(&x,
				 "OPTIONS sip:pbx.example.org SIP/2.0" CRLF
				 "v: SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKc1" CRLF
				 "f: <sip:bob@example.org>;tag=77" CRLF
				 "T: sip:pbx.example.org" CRLF "i: compact-1@192.0.2.7" CRLF
				 "CSeq: 9 OPTIONS" CRLF "m: <sip:bob@192.0.2.7;transport=tcp>" CRLF
				 "k: timer, 100rel" CRLF "s: hello" CRLF "o: presence" CRLF
				 "u: dialog" CRLF "x: 1800;refresher=uac" CRLF "c: text/plain" CRLF
				 "e: gzip" CRLF "l: 2" CRLF CRLF "hi"),
			 0);
	assert_int_equal(sip_msg_via_top(&x.m, &v), 0);
	assert_pl(v.transport, "TCP");
	assert_pl(v.branch, "z9hG4bKc1");
	assert_int_equal(sip_msg_from(&x.m, &a), 0);
	assert_pl(a.tag, "77");
	assert_int_equal(sip_msg_to(&x.m, &a), 0);
	assert_pl(a.uri, "sip:pbx.example.org");
	assert_false(a.angle);
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_CONTACT)->name, "m");
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_SUPPORTED)->value, "timer, 100rel");
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_SUBJECT)->value, "hello");
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_EVENT)->value, "presence");
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_SESSION_EXPIRES)->value, "1800;refresher=uac");
	assert_pl(sip_msg_hdr_find(&x.m, "Content-Type")->value, "text/plain");
	assert_pl(sip_msg_hdr_find(&x.m, "content-encoding")->value, "gzip");
	assert_int_equal(x.m.clen, 2);
	assert_pl(x.m.body, "hi");
	pm_free(&x);
}

static void test_hdr_lookup_table(void **state)
{
	char up[64], low[64];
	for (int id = 1; id < SIP_HDR__COUNT; id++) {
		const char *n = sip_hdr_name((enum sip_hdr_id)id);
		size_t l = strlen(n);
		assert_true(l > 1 && l < sizeof(up));
		for (size_t i = 0; i <= l; i++) {
			up[i] = (char)((n[i] >= 'a' && n[i] <= 'z') ? n[i] - 32 : n[i]);
			low[i] = (char)((n[i] >= 'A' && n[i] <= 'Z') ? n[i] + 32 : n[i]);
		}
		assert_int_equal(sip_hdr_lookup(n, l), id);
		assert_int_equal(sip_hdr_lookup(up, l), id);
		assert_int_equal(sip_hdr_lookup(low, l), id);
		/* One byte short must not match (two-letter "To" would become a
		 * compact form). */
		if (l > 2)
			assert_int_not_equal(sip_hdr_lookup(n, l - 1), id);
	}
	assert_string_equal(sip_hdr_name(SIP_HDR_CALL_ID), "Call-ID");
	assert_string_equal(sip_hdr_name(SIP_HDR_OTHER), "");
	assert_string_equal(sip_hdr_name(SIP_HDR__COUNT), "");
	assert_int_equal(sip_hdr_lookup("Vias", 4), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_lookup("Cal-ID", 6), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_lookup("X-Custom", 8), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_lookup("Call_ID", 7), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_lookup("", 0), SIP_HDR_OTHER);
}

static void test_method_names(void **state)
{
	for (int i = 1; i < SIP_METHOD__COUNT; i++) {
		const char *n = sip_msg_method_name((enum sip_method)i);
		assert_true(strlen(n) > 2);
		assert_int_equal(sip_method_lookup(sip_pl_str(n)), i);
	}
	assert_string_equal(sip_msg_method_name(SIP_METHOD_REGISTER), "REGISTER");
	assert_string_equal(sip_msg_method_name(SIP_METHOD_OTHER), "");
	assert_string_equal(sip_msg_method_name(SIP_METHOD__COUNT), "");
	assert_int_equal(sip_method_lookup(SIP_PL("invite")), SIP_METHOD_OTHER);
	assert_int_equal(sip_method_lookup(SIP_PL("INVITES")), SIP_METHOD_OTHER);
	assert_int_equal(sip_method_lookup(SIP_PL("INF")), SIP_METHOD_OTHER);
	assert_int_equal(sip_method_lookup(SIP_PL("PRACKS")), SIP_METHOD_OTHER);
	assert_int_equal(sip_method_lookup(SIP_PL("")), SIP_METHOD_OTHER);
}

static void test_unknown_method(void **state)
{
	struct pm x;
	assert_int_equal(
		parse_s(&x, "NEWMETHOD sip:pbx.example.org SIP/2.0" CRLF H_VIA H_FROM H_TO H_CALLID
			    "CSeq: 8 NEWMETHOD" CRLF CRLF),
		0);
	assert_int_equal(x.m.method, SIP_METHOD_OTHER);
	assert_pl(x.m.method_name, "NEWMETHOD");
	assert_int_equal(x.m.cseq_method, SIP_METHOD_OTHER);
	pm_free(&x);
	/* Methods are case-sensitive: "newmethod" is another method. */
	EXPECT_BAD("NEWMETHOD sip:pbx.example.org SIP/2.0" CRLF H_VIA H_FROM H_TO H_CALLID
		   "CSeq: 8 newmethod" CRLF CRLF,
		   "CSeq method does not match");
}

/* ---- folding, quoting, addresses --------------------------------------- */

static void test_folding(void **state)
{
	struct pm x;
	struct sip_via v;
	const struct sip_hdr *h;
	assert_int_equal(parse_s(&x, RL_INVITE
				 "Via: SIP/2.0/UDP" CRLF "  192.0.2.10:5062" CRLF
				 "\t;branch=z9hG4bKfold" CRLF H_FROM H_TO H_CALLID H_CSEQ
				 "Subject: I know you're there," CRLF
				 "         pick up the phone" CRLF "\t and talk to me!" CRLF
				 "Max-Forwards:" CRLF " 69" CRLF "Content-Length: 0" CRLF CRLF),
			 0);
	h = sip_msg_hdr_first(&x.m, SIP_HDR_SUBJECT);
	assert_non_null(h);
	assert_null(memchr(h->value.p, '\r', h->value.l));
	assert_null(memchr(h->value.p, '\n', h->value.l));
	assert_pl(h->value, "I know you're there,"
			    "  " /* the CRLF */
			    "         pick up the phone"
			    "  \t and talk to me!");
	assert_int_equal(sip_msg_via_top(&x.m, &v), 0);
	assert_pl(v.host, "192.0.2.10");
	assert_int_equal(v.port, 5062);
	assert_pl(v.branch, "z9hG4bKfold");
	uint32_t mf;
	assert_int_equal(sip_msg_max_forwards(&x.m, &mf), 0);
	assert_int_equal(mf, 69);
	/* The buffer was rewritten in place, nothing else moved. */
	assert_int_equal(x.m.nhdrs, 8);
	assert_int_equal(x.m.len, x.len);
	pm_free(&x);

	/* A continuation right after the start line has nothing to continue. */
	EXPECT_BAD(RL_INVITE " folded: x" CRLF MANDATORY CRLF, "Malformed header line");
	/* Folded Content-Length: still one value. */
	assert_int_equal(
		parse_s(&x, RL_INVITE MANDATORY "Content-Length:" CRLF "  3" CRLF CRLF "abc"), 0);
	assert_int_equal(x.m.clen, 3);
	pm_free(&x);
}

static void test_display_names(void **state)
{
	struct pm x;
	struct sip_addr a;
	char buf[64];
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA
				 "From: \"Alice \\\"Al\\\" O\\\\Neil, <sales>\" "
				 "<sip:1001@pbx.example.org>;tag=abc" CRLF
				 "To: Bob  The Builder <sip:1002@pbx.example.org>" CRLF H_CALLID
					 H_CSEQ CRLF),
			 0);
	assert_int_equal(sip_msg_from(&x.m, &a), 0);
	assert_true(a.dname_quoted);
	assert_pl(a.dname, "Alice \\\"Al\\\" O\\\\Neil, <sales>");
	assert_int_equal(sip_pl_unquote(a.dname, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Alice \"Al\" O\\Neil, <sales>");
	assert_pl(a.uri, "sip:1001@pbx.example.org");
	assert_pl(a.tag, "abc");
	assert_int_equal(sip_msg_to(&x.m, &a), 0);
	assert_false(a.dname_quoted);
	assert_pl(a.dname, "Bob  The Builder");
	assert_int_equal(a.tag.l, 0);
	assert_true(a.angle);
	pm_free(&x);

	/* The comma inside the quoted name does not split the list. */
	struct sip_pl rest = SIP_PL("\"Smith, J\" <sip:a@b>, <sip:c@d;x=1,2>;q=0.5 , sip:e@f"),
		      item;
	assert_int_equal(sip_pl_list_next(&rest, &item), 0);
	assert_pl(item, "\"Smith, J\" <sip:a@b>");
	assert_int_equal(sip_pl_list_next(&rest, &item), 0);
	assert_pl(item, "<sip:c@d;x=1,2>;q=0.5");
	assert_int_equal(sip_pl_list_next(&rest, &item), 0);
	assert_pl(item, "sip:e@f");
	assert_int_equal(sip_pl_list_next(&rest, &item), ENOENT);

	/* Invalid display names and addresses. */
	assert_int_equal(sip_addr_parse(&a, SIP_PL("Bob@home <sip:a@b>")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("\"unterminated <sip:a@b>")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("\"name\" sip:a@b")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<sip:a@b")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<>")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<sip:a@b> junk")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<sip:a@b>, <sip:c@d>")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("\"\" <sip:a@b>")), 0);
	assert_int_equal(a.dname.l, 0);
	assert_true(a.dname_quoted);

	assert_int_equal(sip_pl_unquote(SIP_PL("\"abc"), buf, sizeof(buf)), EINVAL);
	assert_int_equal(sip_pl_unquote(SIP_PL("\"a\"b\""), buf, sizeof(buf)), EINVAL);
	assert_int_equal(sip_pl_unquote(SIP_PL("\"abc\\\""), buf, sizeof(buf)), EINVAL);
	assert_int_equal(sip_pl_unquote(SIP_PL("\"abcdef\""), buf, 4), ENOSPC);
	assert_int_equal(sip_pl_unquote(SIP_PL("plain"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "plain");
}

static void test_addr_spec_params(void **state)
{
	struct sip_addr a;
	struct sip_pl v;
	/* Without < >, the parameters belong to the header, not the URI. */
	assert_int_equal(sip_addr_parse(&a, SIP_PL("sip:1001@192.0.2.10;expires=30 ;q=0.7;tag=t1")),
			 0);
	assert_false(a.angle);
	assert_pl(a.uri, "sip:1001@192.0.2.10");
	assert_pl(a.params, ";expires=30 ;q=0.7;tag=t1");
	assert_pl(a.tag, "t1");
	assert_int_equal(sip_param_get(a.params, "expires", &v), 0);
	assert_pl(v, "30");
	assert_int_equal(sip_param_get(a.params, "Q", &v), 0);
	assert_pl(v, "0.7");
	/* With < >, parameters inside belong to the URI. */
	assert_int_equal(
		sip_addr_parse(&a, SIP_PL("<sip:1001@192.0.2.10;transport=tcp>;expires=60")), 0);
	assert_true(a.angle);
	assert_pl(a.uri, "sip:1001@192.0.2.10;transport=tcp");
	assert_int_equal(sip_param_get(a.params, "transport", &v), ENOENT);
	assert_int_equal(sip_param_get(a.params, "expires", &v), 0);
	assert_pl(v, "60");
	/* A bad header parameter fails the address. */
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<sip:a@b>;=x")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<sip:a@b>;tag=")), EINVAL);
	assert_int_equal(sip_addr_parse(&a, SIP_PL("<sip:a@b>;tag=\"open")), EINVAL);
}

static void test_params(void **state)
{
	struct sip_pl params = SIP_PL(" ; lr ; Received = 192.0.2.1;x=\"a;b \\\" c\";rport"), n, v;
	assert_int_equal(sip_param_get(params, "lr", &v), 0);
	assert_null(v.p);
	assert_int_equal(v.l, 0);
	assert_int_equal(sip_param_get(params, "received", &v), 0);
	assert_pl(v, "192.0.2.1");
	assert_int_equal(sip_param_get(params, "X", &v), 0);
	assert_pl(v, "a;b \\\" c");
	assert_int_equal(sip_param_get(params, "rport", &v), 0);
	assert_null(v.p);
	assert_int_equal(sip_param_get(params, "branch", &v), ENOENT);
	assert_int_equal(sip_param_get(params, "l", &v), ENOENT);
	/* Iteration order. */
	assert_int_equal(sip_param_next(&params, &n, &v), 0);
	assert_pl(n, "lr");
	assert_int_equal(sip_param_next(&params, &n, &v), 0);
	assert_pl(n, "Received");
	assert_int_equal(sip_param_next(&params, &n, &v), 0);
	assert_int_equal(sip_param_next(&params, &n, &v), 0);
	assert_int_equal(sip_param_next(&params, &n, &v), ENOENT);
	/* Syntax errors are not "not found". */
	assert_int_equal(sip_param_get(SIP_PL(";a=1 b;c"), "c", &v), EINVAL);
	assert_int_equal(sip_param_get(SIP_PL(";a=\"x;c"), "c", &v), EINVAL);
	assert_int_equal(sip_param_get(SIP_PL(";;c"), "c", &v), EINVAL);
	assert_int_equal(sip_param_get(SIP_PL(""), "c", &v), ENOENT);
}

/* ---- Via --------------------------------------------------------------- */

static void test_via_ipv6(void **state)
{
	struct pm x;
	struct sip_via v;
	assert_int_equal(
		parse_s(&x,
			"REGISTER sip:[2001:db8::10] SIP/2.0" CRLF "Via: SIP/2.0/TLS "
			"[2001:db8::9]:5071;branch=z9hG4bK6;received=2001:db8::1;rport=5072" CRLF
			"From: <sip:1001@[2001:db8::10]>;tag=r1" CRLF
			"To: <sip:1001@[2001:db8::10]>" CRLF "Call-ID: v6@2001:db8::9" CRLF
			"CSeq: 1 REGISTER" CRLF CRLF),
		0);
	assert_int_equal(sip_msg_via_top(&x.m, &v), 0);
	assert_pl(v.transport, "TLS");
	assert_true(v.host_ipv6);
	assert_pl(v.host, "2001:db8::9");
	assert_int_equal(v.port, 5071);
	assert_pl(v.received, "2001:db8::1");
	assert_true(v.rport);
	assert_int_equal(v.rport_port, 5072);
	pm_free(&x);

	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP [::1];branch=z9hG4bKx")), 0);
	assert_pl(v.host, "::1");
	assert_int_equal(v.port, 0);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP [2001:db8::zz]:5060")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP [2001:db8::1:5060")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP 2001:db8::1")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP []")), EINVAL);
}

static void test_via_multi(void **state)
{
	struct pm x;
	struct sip_value_iter it;
	struct sip_pl val;
	struct sip_via v;
	const char *hosts[] = {"proxy1.example.org", "192.0.2.20", "192.0.2.30"};
	int n = 0;
	assert_int_equal(
		parse_s(&x, "SIP/2.0 200 OK" CRLF
			    "Via: SIP/2.0/UDP proxy1.example.org;branch=z9hG4bKp1, SIP / 2.0 / TCP "
			    "192.0.2.20:5080 ;branch=z9hG4bKp2" CRLF H_FROM H_TO
			    "v: SIP/2.0/UDP 192.0.2.30;branch=z9hG4bKp3" CRLF H_CALLID H_CSEQ CRLF),
		0);
	assert_int_equal(sip_msg_hdr_count(&x.m, SIP_HDR_VIA), 2);
	sip_value_iter_init(&it, &x.m, SIP_HDR_VIA);
	while (sip_value_iter_next(&it, &val) == 0) {
		assert_true(n < 3);
		assert_int_equal(sip_via_parse(&v, val), 0);
		assert_pl(v.host, hosts[n]);
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(sip_value_iter_next(&it, &val), ENOENT);
	assert_int_equal(sip_msg_via_top(&x.m, &v), 0);
	assert_pl(v.branch, "z9hG4bKp1");
	assert_pl(v.value, "SIP/2.0/UDP proxy1.example.org;branch=z9hG4bKp1");
	/* Iterating an absent header yields nothing. */
	sip_value_iter_init(&it, &x.m, SIP_HDR_ROUTE);
	assert_int_equal(sip_value_iter_next(&it, &val), ENOENT);
	pm_free(&x);
}

static void test_via_params(void **state)
{
	struct sip_via v;
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/WSS "
						  "df7jal23ls0d.invalid;RPORT;Branch=z9hG4bKws;"
						  "maddr=192.0.2.99;ttl=1")),
			 0);
	assert_pl(v.transport, "WSS");
	assert_pl(v.host, "df7jal23ls0d.invalid");
	assert_true(v.rport);
	assert_int_equal(v.rport_port, 0);
	assert_pl(v.branch, "z9hG4bKws");
	assert_pl(v.maddr, "192.0.2.99");
	assert_pl(v.params, ";RPORT;Branch=z9hG4bKws;maddr=192.0.2.99;ttl=1");
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP host : 5070 ; branch = z9hG4bKs")),
			 0);
	assert_int_equal(v.port, 5070);
	assert_pl(v.branch, "z9hG4bKs");
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP host:65536")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP host:")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP host;rport=99999")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP host;branch")), 0);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP host;branch=a b")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0 host")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDPhost")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP ho$t")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("SIP/2.0/UDP 192.0.2.300")), EINVAL);
	assert_int_equal(sip_via_parse(&v, SIP_PL("")), EINVAL);
}

/* ---- headers ----------------------------------------------------------- */

static void test_unknown_headers(void **state)
{
	struct pm x;
	const struct sip_hdr *h;
	assert_int_equal(parse_s(&x, RL_INVITE "X-Custom: one" CRLF MANDATORY "x-custom: two" CRLF
					       "P-Other :  three  " CRLF "X-CUSTOM:three" CRLF
					       "Empty:" CRLF CRLF),
			 0);
	h = sip_msg_hdr_find(&x.m, "X-Custom");
	assert_non_null(h);
	assert_int_equal(h->id, SIP_HDR_OTHER);
	assert_pl(h->value, "one");
	h = sip_msg_hdr_next(&x.m, h);
	assert_non_null(h);
	assert_pl(h->value, "two");
	h = sip_msg_hdr_next(&x.m, h);
	assert_non_null(h);
	assert_pl(h->name, "X-CUSTOM");
	assert_null(sip_msg_hdr_next(&x.m, h));
	assert_int_equal(sip_msg_hdr_count(&x.m, SIP_HDR_OTHER), 3);
	h = sip_msg_hdr_find(&x.m, "p-other");
	assert_non_null(h);
	assert_pl(h->name, "P-Other");
	assert_pl(h->value, "three");
	h = sip_msg_hdr_find(&x.m, "Empty");
	assert_non_null(h);
	assert_int_equal(h->value.l, 0);
	assert_null(sip_msg_hdr_find(&x.m, "X-Absent"));
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_OTHER)->value, "one");
	assert_null(sip_msg_hdr_first(&x.m, SIP_HDR__COUNT));
	assert_null(sip_msg_hdr_next(&x.m, NULL));
	pm_free(&x);

	EXPECT_BAD(RL_INVITE MANDATORY "No colon here" CRLF CRLF, "Malformed header line");
	EXPECT_BAD(RL_INVITE MANDATORY ": no name" CRLF CRLF, "Malformed header line");
	EXPECT_BAD(RL_INVITE MANDATORY "Bad<name>: x" CRLF CRLF, "Malformed header line");
}

static void test_repeated_chain(void **state)
{
	struct pm x;
	struct sip_value_iter it;
	struct sip_pl v;
	const char *routes[] = {"<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>",
				"<sip:p3.example.org;lr>", "<sip:p4.example.org;lr>"};
	int n = 0;
	assert_int_equal(
		parse_s(&x, RL_INVITE
			"Route: <sip:p1.example.org;lr>,<sip:p2.example.org;lr>" CRLF MANDATORY
			"Route: <sip:p3.example.org;lr>" CRLF "Supported: timer" CRLF
			"Route: ,<sip:p4.example.org;lr>," CRLF CRLF),
		0);
	assert_int_equal(sip_msg_hdr_count(&x.m, SIP_HDR_ROUTE), 3);
	sip_value_iter_init(&it, &x.m, SIP_HDR_ROUTE);
	while (!sip_value_iter_next(&it, &v)) {
		assert_true(n < 4);
		assert_pl(v, routes[n]);
		n++;
	}
	assert_int_equal(n, 4);
	pm_free(&x);
}

static void test_missing_mandatory(void **state)
{
	static const struct {
		const char *skip, *reason;
	} cases[] = {
		{H_VIA, "Missing Via header"},   {H_FROM, "Missing From header"},
		{H_TO, "Missing To header"},     {H_CALLID, "Missing Call-ID header"},
		{H_CSEQ, "Missing CSeq header"},
	};
	const char *all[] = {H_VIA, H_MAXF, H_FROM, H_TO, H_CALLID, H_CSEQ};
	struct pm x;
	char buf[1024];
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		strcpy(buf, RL_INVITE);
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			if (all[i] != cases[c].skip)
				strcat(buf, all[i]);
		strcat(buf, CRLF);
		EXPECT_BAD(buf, cases[c].reason);
	}
	/* Max-Forwards is tolerated when absent. */
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CALLID H_CSEQ CRLF), 0);
	uint32_t mf;
	assert_int_equal(sip_msg_max_forwards(&x.m, &mf), ENOENT);
	pm_free(&x);
}

static void test_duplicates(void **state)
{
	struct pm x;
	struct sip_addr a;
	EXPECT_BAD(RL_INVITE MANDATORY "Call-ID: second@host" CRLF CRLF,
		   "Duplicate Call-ID header");
	EXPECT_BAD(RL_INVITE MANDATORY "f: <sip:x@y>;tag=2" CRLF CRLF, "Duplicate From header");
	EXPECT_BAD(RL_INVITE MANDATORY "To: <sip:x@y>" CRLF CRLF, "Duplicate To header");
	EXPECT_BAD(RL_INVITE MANDATORY "CSeq: 314159 INVITE" CRLF CRLF, "Duplicate CSeq header");
	EXPECT_BAD(RL_INVITE MANDATORY H_MAXF CRLF, "Duplicate Max-Forwards header");
	EXPECT_BAD(RL_INVITE H_VIA H_FROM H_TO "Call-ID: has space@x" CRLF H_CSEQ CRLF,
		   "Bad Call-ID");
	EXPECT_BAD(RL_INVITE H_VIA H_FROM H_TO "Call-ID:" CRLF H_CSEQ CRLF, "Bad Call-ID");
	/* Two addresses in one To header: parse succeeds, the accessor refuses. */
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_FROM H_CALLID H_CSEQ
				 "To: <sip:a@example.org>, <sip:b@example.org>" CRLF CRLF),
			 0);
	assert_int_equal(sip_msg_to(&x.m, &a), EINVAL);
	assert_int_equal(sip_msg_from(&x.m, &a), 0);
	pm_free(&x);
}

static void test_bad_cseq(void **state)
{
	static const char *bad[] = {
		"CSeq: abc INVITE",
		"CSeq: 1",
		"CSeq: INVITE",
		"CSeq: -1 INVITE",
		"CSeq: 2147483648 INVITE",
		"CSeq: 99999999999999999999 INVITE",
		"CSeq: 1INVITE",
		"CSeq: 1 INVITE extra",
		"CSeq: 1 INV<ITE",
		"CSeq:",
	};
	char buf[1024];
	struct pm x;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), RL_INVITE H_VIA H_FROM H_TO H_CALLID "%s" CRLF CRLF,
			 bad[i]);
		EXPECT_BAD(buf, "Bad CSeq");
	}
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CALLID
				 "CSeq:\t2147483647 \t INVITE" CRLF CRLF),
			 0);
	assert_int_equal(x.m.cseq_num, 2147483647u);
	pm_free(&x);
	assert_int_equal(
		parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CALLID "CSeq: 0 INVITE" CRLF CRLF), 0);
	assert_int_equal(x.m.cseq_num, 0);
	pm_free(&x);
}

static void test_cseq_mismatch(void **state)
{
	struct pm x;
	EXPECT_BAD(RL_INVITE H_VIA H_FROM H_TO H_CALLID "CSeq: 1 BYE" CRLF CRLF,
		   "CSeq method does not match");
	EXPECT_BAD("ACK sip:1002@pbx.example.org SIP/2.0" CRLF MANDATORY CRLF,
		   "CSeq method does not match");
	assert_int_equal(
		parse_s(&x, "ACK sip:1002@pbx.example.org SIP/2.0" CRLF H_VIA H_FROM H_TO H_CALLID
			    "CSeq: 314159 ACK" CRLF CRLF),
		0);
	assert_int_equal(x.m.method, SIP_METHOD_ACK);
	/* ACK is never answered. */
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);
}

/* ---- Content-Length and body ------------------------------------------- */

static void test_content_length_conflict(void **state)
{
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 4" CRLF "Content-Length: 5" CRLF CRLF
				       "v=0\nx",
		   "Conflicting Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 4" CRLF "l: 4" CRLF CRLF "v=0\n",
		   "Duplicate Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "l: 4" CRLF "Content-Length: 2" CRLF CRLF "v=0\n",
		   "Conflicting Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 4" CRLF "Content-Length: x" CRLF CRLF
				       "v=0\n",
		   "Conflicting Content-Length");
}

static void test_content_length_bad(void **state)
{
	struct pm x;
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: -4" CRLF CRLF "v=0\n",
		   "Bad Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 4x" CRLF CRLF "v=0\n",
		   "Bad Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length:" CRLF CRLF, "Bad Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 4 4" CRLF CRLF "v=0\n",
		   "Bad Content-Length");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 4294967296" CRLF CRLF "v=0\n",
		   "Content-Length too large");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 99999999999999999999999" CRLF CRLF,
		   "Content-Length too large");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 65536" CRLF CRLF,
		   "Content-Length too large");
	EXPECT_BAD(RL_INVITE MANDATORY "Content-Length: 5" CRLF CRLF "v=0\n",
		   "Body shorter than Content-Length");
	/* Leading zeros are digits like any other. */
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY "Content-Length: 0004" CRLF CRLF "v=0\n"),
			 0);
	assert_int_equal(x.m.clen, 4);
	pm_free(&x);
}

static void test_body_framing_udp(void **state)
{
	struct pm x;
	/* Longer than Content-Length: the rest is discarded (RFC 3261 18.3). */
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY "Content-Length: 3" CRLF CRLF "abcdef"),
			 0);
	assert_pl(x.m.body, "abc");
	assert_int_equal(x.m.len, x.len - 3);
	pm_free(&x);
	/* No Content-Length: the body runs to the end of the datagram. */
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY CRLF "abcdef"), 0);
	assert_false(x.m.has_clen);
	assert_pl(x.m.body, "abcdef");
	pm_free(&x);
	/* A body may hold anything, NUL included. */
	assert_int_equal(parse_n(&x, RL_INVITE MANDATORY "l: 3" CRLF CRLF "a\0b",
				 sizeof(RL_INVITE MANDATORY "l: 3" CRLF CRLF "a\0b") - 1),
			 0);
	assert_int_equal(x.m.body.l, 3);
	assert_int_equal(x.m.body.p[1], '\0');
	pm_free(&x);
}

/* ---- malformed input --------------------------------------------------- */

static void test_request_line(void **state)
{
	struct pm x;
	EXPECT_BAD("INVITE  sip:a@b SIP/2.0" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE sip:a@b  SIP/2.0" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE sip:a@b" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE sip:a@b SIP/2.0 " CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE sip:a b@c SIP/2.0" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE sip:a@b HTTP/1.1" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE sip:a@b SIP/2" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INV/ITE sip:a@b SIP/2.0" CRLF MANDATORY CRLF, "Bad Request-Line");
	EXPECT_BAD("INVITE 1002 SIP/2.0" CRLF MANDATORY CRLF, "Bad Request-URI");
	EXPECT_BAD("INVITE sip: SIP/2.0" CRLF MANDATORY CRLF, "Bad Request-URI");
	/* The version token is case-insensitive (RFC 3261 7.1). */
	assert_int_equal(parse_s(&x, "INVITE sip:1002@pbx.example.org sip/2.0" CRLF MANDATORY CRLF),
			 0);
	pm_free(&x);
	/* Another version is answered 505, so the headers must be usable. */
	assert_int_equal(parse_s(&x, "INVITE sip:1002@pbx.example.org SIP/7.0" CRLF MANDATORY CRLF),
			 EPROTONOSUPPORT);
	assert_string_equal(x.reason, "Unsupported SIP version");
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
	assert_int_equal(
		parse_s(&x, "INVITE sip:1002@pbx.example.org SIP/2.00" CRLF MANDATORY CRLF),
		EPROTONOSUPPORT);
	pm_free(&x);
}

static void test_garbage(void **state)
{
	static const unsigned char bin[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
					    0xfc, 0x03, 0x03, '\r', '\n', '\r', '\n'};
	struct pm x;
	assert_int_equal(parse_n(&x, "", 0), EBADMSG);
	assert_string_equal(x.reason, "Empty message");
	pm_free(&x);
	EXPECT_BAD("\r\n\r\n\r\n", "Empty message");
	EXPECT_BAD("hello world", "Truncated message");
	EXPECT_BAD("hello world" CRLF CRLF, "Bad Request-Line");
	EXPECT_BAD("GET / HTTP/1.1" CRLF "Host: x" CRLF CRLF, "Bad Request-Line");
	EXPECT_BAD("SIP/2.0" CRLF CRLF, "Bad Status-Line");
	EXPECT_BAD(":::::" CRLF CRLF, "Bad Request-Line");
	expect_bad((const char *)bin, sizeof(bin), "Bad Request-Line");
	/* Garbage after a good start line. */
	EXPECT_BAD(RL_INVITE "\x01\x02\x03" CRLF CRLF, "Malformed header line");
	EXPECT_BAD(RL_INVITE MANDATORY "\r"
				       "x" CRLF CRLF,
		   "Malformed header line");
	assert_int_equal(parse_s(&x, "hello"), EBADMSG);
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);
}

static void test_nul_bytes(void **state)
{
	static const char in_hdr[] =
		RL_INVITE H_VIA H_FROM "To: <sip:1002@pbx\0.example.org>" CRLF H_CALLID H_CSEQ CRLF;
	static const char in_rl[] =
		"INVITE sip:10\0002@pbx.example.org SIP/2.0" CRLF MANDATORY CRLF;
	static const char in_name[] = RL_INVITE MANDATORY "X-\0: a" CRLF CRLF;
	struct pm x;
	assert_int_equal(parse_n(&x, in_hdr, sizeof(in_hdr) - 1), EBADMSG);
	assert_string_equal(x.reason, "NUL byte in header");
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);
	assert_int_equal(parse_n(&x, in_rl, sizeof(in_rl) - 1), EBADMSG);
	assert_string_equal(x.reason, "Bad Request-URI");
	pm_free(&x);
	assert_int_equal(parse_n(&x, in_name, sizeof(in_name) - 1), EBADMSG);
	assert_string_equal(x.reason, "Malformed header line");
	pm_free(&x);
}

static void test_control_chars(void **state)
{
	struct pm x;
	/* A lone CR could end a line for another stack: header injection. */
	EXPECT_BAD(RL_INVITE MANDATORY "Subject: a\rInjected: yes" CRLF CRLF,
		   "Control character in header");
	EXPECT_BAD(RL_INVITE MANDATORY "Subject: bell\a" CRLF CRLF, "Control character in header");
	EXPECT_BAD("SIP/2.0 200 O\x1bK" CRLF MANDATORY CRLF, "Control character in header");
	/* HTAB, DEL and UTF-8 are text. */
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY "Subject:\tcaf\xc3\xa9\x7f" CRLF CRLF), 0);
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_SUBJECT)->value, "caf\xc3\xa9\x7f");
	pm_free(&x);
	/* Controls in the body are not our business. */
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY "l: 3" CRLF CRLF "\r\x01\n"), 0);
	pm_free(&x);
}

/* White space everywhere the grammar allows it (RFC 4475 3.1.1.2 in spirit). */
static void test_whitespace_torture(void **state)
{
	struct pm x;
	struct sip_value_iter it;
	struct sip_pl v;
	struct sip_via via;
	struct sip_addr a;
	uint32_t n;
	assert_int_equal(parse_s(&x, "OPTIONS sip:pbx.example.org;lr SIP/2.0" CRLF
				     "Via  :  SIP  /  2.0" CRLF "  /UDP" CRLF
				     "    192.0.2.7  ;  rport ; branch =  z9hG4bKws1  ," CRLF
				     " SIP / 2.0 / TCP   [2001:db8::7]  :  5080 ; branch=" CRLF
				     "  z9hG4bKws2" CRLF "t:" CRLF "  sip:pbx.example.org" CRLF
				     "f  : caller<sip:caller@example.org>  ;  tag = 9x" CRLF
				     "Max-Forwards: 0068" CRLF "i: ws-torture" CRLF "CSeq:" CRLF
				     "  0009" CRLF "\tOPTIONS" CRLF "Odd-Header: ;;,,;;,;" CRLF
				     "m:\"Quoted \\\"x\\\"\" <sip:q@example.org> ; newparam =" CRLF
				     "      newvalue ;" CRLF "  secondparam ; q = 0.33" CRLF CRLF),
			 0);
	sip_value_iter_init(&it, &x.m, SIP_HDR_VIA);
	assert_int_equal(sip_value_iter_next(&it, &v), 0);
	assert_int_equal(sip_via_parse(&via, v), 0);
	assert_pl(via.transport, "UDP");
	assert_pl(via.host, "192.0.2.7");
	assert_true(via.rport);
	assert_pl(via.branch, "z9hG4bKws1");
	assert_int_equal(sip_value_iter_next(&it, &v), 0);
	assert_int_equal(sip_via_parse(&via, v), 0);
	assert_pl(via.transport, "TCP");
	assert_pl(via.host, "2001:db8::7");
	assert_int_equal(via.port, 5080);
	assert_pl(via.branch, "z9hG4bKws2");
	assert_int_equal(sip_value_iter_next(&it, &v), ENOENT);
	assert_int_equal(sip_msg_cseq(&x.m, &n, &v), 0);
	assert_int_equal(n, 9);
	assert_int_equal(sip_msg_max_forwards(&x.m, &n), 0);
	assert_int_equal(n, 68);
	assert_int_equal(sip_msg_from(&x.m, &a), 0);
	assert_pl(a.dname, "caller");
	assert_pl(a.tag, "9x");
	assert_int_equal(sip_msg_to(&x.m, &a), 0);
	assert_pl(a.uri, "sip:pbx.example.org");
	sip_value_iter_init(&it, &x.m, SIP_HDR_CONTACT);
	assert_int_equal(sip_value_iter_next(&it, &v), 0);
	assert_int_equal(sip_addr_parse(&a, v), 0);
	assert_pl(a.dname, "Quoted \\\"x\\\"");
	assert_int_equal(sip_param_get(a.params, "newparam", &v), 0);
	assert_pl(v, "newvalue");
	assert_int_equal(sip_param_get(a.params, "q", &v), 0);
	assert_pl(v, "0.33");
	assert_int_equal(sip_param_get(a.params, "secondparam", &v), 0);
	assert_null(v.p);
	assert_pl(sip_msg_hdr_find(&x.m, "odd-header")->value, ";;,,;;,;");
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
}

static void test_too_many_headers(void **state)
{
	char buf[8192];
	size_t n;
	struct pm x;
	/* 6 mandatory ones plus fillers up to exactly the limit. */
	n = (size_t)snprintf(buf, sizeof(buf), "%s", RL_INVITE MANDATORY);
	for (unsigned i = 6; i < SIP_MSG_MAX_HDRS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-H%u: %u" CRLF, i, i);
	strcpy(buf + n, CRLF);
	assert_int_equal(parse_s(&x, buf), 0);
	assert_int_equal(x.m.nhdrs, SIP_MSG_MAX_HDRS);
	pm_free(&x);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-One-More: 1" CRLF CRLF);
	EXPECT_BAD(buf, "Too many headers");
}

static void test_long_line(void **state)
{
	size_t cap = SIP_MSG_MAX_LINE + 1024, n;
	char *buf = malloc(cap);
	struct pm x;
	assert_non_null(buf);
	/* "Subject: " + value: exactly at the limit, then one byte over. */
	for (int over = 0; over <= 1; over++) {
		n = (size_t)snprintf(buf, cap, "%s", RL_INVITE MANDATORY "Subject: ");
		size_t line = strlen("Subject: ");
		size_t want = SIP_MSG_MAX_LINE - 1 + (size_t)over; /* bytes before LF */
		memset(buf + n, 'a', want - line - 1);
		n += want - line - 1;
		strcpy(buf + n, "\r\n\r\n");
		if (over) {
			EXPECT_BAD(buf, "Header line too long");
		} else {
			assert_int_equal(parse_s(&x, buf), 0);
			pm_free(&x);
		}
	}
	/* A header name longer than the limit. */
	n = (size_t)snprintf(buf, cap, "%s", RL_INVITE MANDATORY);
	memset(buf + n, 'X', SIP_MSG_MAX_LINE + 10);
	strcpy(buf + n + SIP_MSG_MAX_LINE + 10, ": x\r\n\r\n");
	EXPECT_BAD(buf, "Header line too long");
	/* An over-long start line. */
	memcpy(buf, "INVITE sip:", 11);
	memset(buf + 11, 'a', SIP_MSG_MAX_LINE + 10);
	strcpy(buf + 11 + SIP_MSG_MAX_LINE + 10, " SIP/2.0\r\n\r\n");
	EXPECT_BAD(buf, "Start line too long");
	free(buf);
}

static void test_truncated(void **state)
{
	size_t full = strlen(invite), hdr_end = strstr(invite, "\r\n\r\n") + 4 - invite;
	struct pm x;
	/* Every proper prefix fails cleanly: before the blank line as a
	 * truncated header block, after it as a short body. */
	for (size_t n = 0; n < full; n++) {
		assert_int_not_equal(parse_n(&x, invite, n), 0);
		if (n > 2 && n < hdr_end - 1)
			assert_string_equal(x.reason, "Truncated message");
		if (n >= hdr_end)
			assert_string_equal(x.reason, "Body shorter than Content-Length");
		pm_free(&x);
	}
	assert_int_equal(parse_n(&x, invite, full), 0);
	pm_free(&x);
}

static void test_message_too_large(void **state)
{
	size_t n = SIP_MSG_MAX_SIZE + 1;
	char *buf = malloc(n);
	struct sip_msg m;
	const char *reason;
	assert_non_null(buf);
	memset(buf, 'a', n);
	memcpy(buf, invite, strlen(invite));
	assert_int_equal(sip_msg_parse(&m, buf, n, &reason), EMSGSIZE);
	assert_string_equal(reason, "Message too large");
	assert_false(sip_msg_can_reply(&m));
	free(buf);
}

static void test_line_endings(void **state)
{
	struct pm x;
	/* Leading CRLFs before the start line are ignored (RFC 3261 7.5). */
	assert_int_equal(parse_s(&x, "\r\n\r\n" RL_INVITE MANDATORY CRLF), 0);
	assert_ptr_equal(x.m.buf, x.buf + 4);
	assert_pl(x.m.method_name, "INVITE");
	pm_free(&x);
	/* Bare LF line ends are tolerated. */
	assert_int_equal(parse_s(&x, "BYE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
				     "From: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: x\n"
				     "CSeq: 2 BYE\nSubject: a\n  b\nContent-Length: 1\n\nZ"),
			 0);
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_CALL_ID)->value, "x");
	assert_pl(sip_msg_hdr_first(&x.m, SIP_HDR_SUBJECT)->value, "a   b");
	assert_pl(x.m.body, "Z");
	pm_free(&x);
}

static void test_value_accessors(void **state)
{
	struct pm x;
	uint32_t v;
	struct sip_pl pl;
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY "Expires: 99999999999" CRLF CRLF), 0);
	assert_int_equal(sip_msg_expires(&x.m, &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(sip_msg_max_forwards(&x.m, &v), 0);
	assert_int_equal(v, 70);
	pm_free(&x);
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CALLID H_CSEQ
				 "Max-Forwards: 256" CRLF "Expires: soon" CRLF CRLF),
			 0);
	assert_int_equal(sip_msg_max_forwards(&x.m, &v), EINVAL);
	assert_int_equal(sip_msg_expires(&x.m, &v), EINVAL);
	pm_free(&x);
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY CRLF), 0);
	assert_int_equal(sip_msg_expires(&x.m, &v), ENOENT);
	pm_free(&x);
	/* Accessors on a message whose parse failed early find nothing. */
	assert_int_equal(parse_s(&x, "garbage"), EBADMSG);
	assert_int_equal(sip_msg_callid(&x.m, &pl), ENOENT);
	assert_int_equal(sip_msg_cseq(&x.m, &v, &pl), ENOENT);
	struct sip_via via;
	struct sip_addr a;
	assert_int_equal(sip_msg_via_top(&x.m, &via), ENOENT);
	assert_int_equal(sip_msg_from(&x.m, &a), ENOENT);
	assert_int_equal(sip_msg_to(&x.m, &a), ENOENT);
	assert_int_equal(sip_msg_hdr_count(&x.m, SIP_HDR_VIA), 0);
	pm_free(&x);
}

static void test_can_reply(void **state)
{
	struct pm x;
	/* A 400 needs the headers even though the message failed. */
	assert_int_equal(
		parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CALLID "CSeq: x INVITE" CRLF CRLF),
		EBADMSG);
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
	assert_int_equal(parse_s(&x, RL_INVITE H_FROM H_TO H_CALLID H_CSEQ CRLF), EBADMSG);
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);
	assert_int_equal(
		parse_s(&x, RL_INVITE "Via: SIP/2.0/UDP" CRLF H_FROM H_TO H_CALLID H_CSEQ CRLF), 0);
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);
	/* Truncated, missing Call-ID, a malformed line after Via and CSeq: a
	 * 400 naming the fault can still go back (RFC 4475 3.1.2.18). */
	assert_int_equal(parse_s(&x, RL_INVITE MANDATORY), EBADMSG);
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CSEQ CRLF), EBADMSG);
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_CSEQ "no colon here" CRLF CRLF), EBADMSG);
	assert_true(sip_msg_can_reply(&x.m));
	pm_free(&x);
	/* Without CSeq the client could not match an answer: drop. */
	assert_int_equal(parse_s(&x, RL_INVITE H_VIA H_FROM H_TO H_CALLID CRLF), EBADMSG);
	assert_false(sip_msg_can_reply(&x.m));
	pm_free(&x);
}

static void test_pl_helpers(void **state)
{
	uint32_t v;
	char buf[8];
	assert_int_equal(sip_pl_u32(SIP_PL("4294967295"), &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(sip_pl_u32(SIP_PL("4294967296"), &v), ERANGE);
	assert_int_equal(sip_pl_u32(SIP_PL("99999999999999999999999x"), &v), EINVAL);
	assert_int_equal(sip_pl_u32(SIP_PL(""), &v), EINVAL);
	assert_int_equal(sip_pl_u32(SIP_PL(" 1"), &v), EINVAL);
	assert_int_equal(sip_pl_u32(SIP_PL("+1"), &v), EINVAL);
	assert_int_equal(sip_pl_casecmp_str(SIP_PL("Content-LENGTH"), "content-length"), 0);
	assert_true(sip_pl_casecmp_str(SIP_PL("abc"), "abd") < 0);
	assert_true(sip_pl_casecmp_str(SIP_PL("abcd"), "abc") > 0);
	assert_true(sip_pl_casecmp_str(SIP_PL("ab"), "abc") < 0);
	assert_true(sip_pl_eq(SIP_PL("abc"), sip_pl_str("abc")));
	assert_false(sip_pl_eq(SIP_PL("abc"), SIP_PL("ABC")));
	assert_true(sip_pl_caseeq(SIP_PL("abc"), SIP_PL("ABC")));
	assert_false(sip_pl_caseeq(SIP_PL("abc"), SIP_PL("ABCD")));
	assert_true(sip_pl_eq(sip_pl_str(NULL), SIP_PL("")));
	assert_pl(sip_pl_trim(SIP_PL(" \t\r\n x y \r\n")), "x y");
	assert_int_equal(sip_pl_trim(SIP_PL("   ")).l, 0);
	assert_int_equal(sip_pl_strcpy(SIP_PL("1234567"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1234567");
	assert_int_equal(sip_pl_strcpy(SIP_PL("12345678"), buf, sizeof(buf)), ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(sip_pl_strcpy(SIP_PL("1"), buf, 0), ENOSPC);
}

/* ---- stream framing ---------------------------------------------------- */

static void test_frame_partial(void **state)
{
	size_t full = strlen(invite), hdr_end = strstr(invite, "\r\n\r\n") + 4 - invite, len;
	/* Feed one more byte at a time into a buffer of exactly that size. */
	for (size_t n = 1; n <= full; n++) {
		char *b = malloc(n);
		assert_non_null(b);
		memcpy(b, invite, n);
		int err = sip_msg_frame(b, n, SIP_MSG_MAX_SIZE, &len);
		if (n < full) {
			assert_int_equal(err, EAGAIN);
			/* Once the headers are in, the caller learns how long to wait. */
			assert_int_equal(len, n >= hdr_end ? full : 0);
		} else {
			assert_int_equal(err, 0);
			assert_int_equal(len, full);
		}
		free(b);
	}
}

static void test_frame_two_messages(void **state)
{
	static const char two[] = "\r\n" RL_INVITE MANDATORY "Content-Length: 4" CRLF CRLF "v=0\n"
				  "BYE sip:a@b SIP/2.0" CRLF H_VIA H_FROM H_TO H_CALLID
				  "CSeq: 2 BYE" CRLF "l: 0" CRLF CRLF;
	size_t len, off = 0, n = sizeof(two) - 1;
	struct pm x;
	/* A stray CRLF first. */
	assert_int_equal(sip_msg_frame(two, n, SIP_MSG_MAX_SIZE, &len), 0);
	assert_int_equal(len, 2);
	assert_true(sip_msg_is_keepalive(two, len));
	assert_false(sip_msg_is_ping(two, len));
	off += len;
	assert_int_equal(sip_msg_frame(two + off, n - off, SIP_MSG_MAX_SIZE, &len), 0);
	assert_false(sip_msg_is_keepalive(two + off, len));
	assert_int_equal(parse_n(&x, two + off, len), 0);
	assert_int_equal(x.m.method, SIP_METHOD_INVITE);
	assert_pl(x.m.body, "v=0\n");
	pm_free(&x);
	off += len;
	assert_int_equal(sip_msg_frame(two + off, n - off, SIP_MSG_MAX_SIZE, &len), 0);
	assert_int_equal(off + len, n);
	assert_int_equal(parse_n(&x, two + off, len), 0);
	assert_int_equal(x.m.method, SIP_METHOD_BYE);
	assert_int_equal(x.m.body.l, 0);
	pm_free(&x);
}

static void test_frame_keepalive(void **state)
{
	size_t len;
	assert_int_equal(sip_msg_frame("\r\n\r\n", 4, 100, &len), 0);
	assert_int_equal(len, 4);
	assert_true(sip_msg_is_ping("\r\n\r\n", len));
	assert_true(sip_msg_is_keepalive("\r\n\r\n", len));
	assert_int_equal(sip_msg_frame("\r\n\r\nINVITE", 10, 100, &len), 0);
	assert_int_equal(len, 4);
	assert_int_equal(sip_msg_frame("\r\nINVITE", 8, 100, &len), 0);
	assert_int_equal(len, 2);
	assert_false(sip_msg_is_ping("\r\nINVITE", len));
	assert_int_equal(sip_msg_frame("\r\n", 2, 100, &len), EAGAIN);
	assert_int_equal(sip_msg_frame("\r\n\r", 3, 100, &len), EAGAIN);
	assert_int_equal(sip_msg_frame("\r", 1, 100, &len), EAGAIN);
	assert_int_equal(sip_msg_frame("\rX", 2, 100, &len), EBADMSG);
	assert_int_equal(sip_msg_frame("\r\n\rX", 4, 100, &len), EBADMSG);
	assert_int_equal(sip_msg_frame("\nINVITE", 7, 100, &len), 0);
	assert_int_equal(len, 1);
	assert_true(sip_msg_is_keepalive("\n", 1));
	assert_int_equal(sip_msg_frame("", 0, 100, &len), EAGAIN);
	assert_false(sip_msg_is_keepalive("\r\nX", 3));
	assert_false(sip_msg_is_keepalive("", 0));
}

static void test_frame_errors(void **state)
{
	static const char nocl[] = RL_INVITE MANDATORY CRLF;
	static const char conflict[] =
		RL_INVITE MANDATORY "l: 1" CRLF "Content-Length: 2" CRLF CRLF "ab";
	static const char same[] =
		RL_INVITE MANDATORY "l: 2" CRLF "Content-Length: 2" CRLF CRLF "ab";
	static const char badcl[] = RL_INVITE MANDATORY "Content-Length: -2" CRLF CRLF "ab";
	static const char folded[] =
		RL_INVITE MANDATORY "content-length :" CRLF " 2" CRLF CRLF "ab";
	static const char big[] = RL_INVITE MANDATORY "Content-Length: 60000" CRLF CRLF;
	size_t len;
	assert_int_equal(sip_msg_frame(nocl, sizeof(nocl) - 1, SIP_MSG_MAX_SIZE, &len), EBADMSG);
	assert_int_equal(sip_msg_frame(conflict, sizeof(conflict) - 1, SIP_MSG_MAX_SIZE, &len),
			 EBADMSG);
	assert_int_equal(sip_msg_frame(badcl, sizeof(badcl) - 1, SIP_MSG_MAX_SIZE, &len), EBADMSG);
	/* Same value twice frames fine; the parser then answers 400. */
	assert_int_equal(sip_msg_frame(same, sizeof(same) - 1, SIP_MSG_MAX_SIZE, &len), 0);
	assert_int_equal(len, sizeof(same) - 1);
	assert_int_equal(sip_msg_frame(folded, sizeof(folded) - 1, SIP_MSG_MAX_SIZE, &len), 0);
	assert_int_equal(len, sizeof(folded) - 1);
	/* Limits: the body would pass max; the headers alone pass max. */
	assert_int_equal(sip_msg_frame(big, sizeof(big) - 1, 1000, &len), EMSGSIZE);
	assert_int_equal(sip_msg_frame(big, sizeof(big) - 1, SIP_MSG_MAX_SIZE, &len), EAGAIN);
	assert_int_equal(len, sizeof(big) - 1 + 60000);
	assert_int_equal(sip_msg_frame(nocl, sizeof(nocl) - 1, 100, &len), EMSGSIZE);
	assert_int_equal(sip_msg_frame(nocl, 60, 100, &len), EAGAIN);
	/* Something that is not SIP is refused as soon as its first line is in,
	 * or its first byte. */
	assert_int_equal(sip_msg_frame("GET / HTTP/1.1\r\n", 16, SIP_MSG_MAX_SIZE, &len), EBADMSG);
	assert_int_equal(sip_msg_frame("GET / HTTP/1.1", 14, SIP_MSG_MAX_SIZE, &len), EAGAIN);
	assert_int_equal(sip_msg_frame("\x16\x03\x01", 3, SIP_MSG_MAX_SIZE, &len), EBADMSG);
	assert_int_equal(sip_msg_frame("INVITE sip:a\0 SIP/2.0\r\n", 23, SIP_MSG_MAX_SIZE, &len),
			 EBADMSG);
	assert_int_equal(
		sip_msg_frame("SIP/2.0 200 OK\r\nl: 0\r\n\r\n", 24, SIP_MSG_MAX_SIZE, &len), 0);
	assert_int_equal(len, 24);
}

/* RFC 3891 Replaces: Call-ID, both tags in any order, early-only; a tag missing is refused. */
static void test_replaces(void **state)
{
	struct sip_replaces r;
	assert_int_equal(sip_replaces_parse(&r, sip_pl_str("98asjd8@test.com;to-tag=12345;"
							   "from-tag=54321")),
			 0);
	assert_true(pl_is(r.callid, "98asjd8@test.com"));
	assert_true(pl_is(r.to_tag, "12345") && pl_is(r.from_tag, "54321"));
	assert_false(r.early_only);
	assert_int_equal(
		sip_replaces_parse(&r, sip_pl_str(" abc ; from-tag=f ;TO-TAG=t;early-only")), 0);
	assert_true(pl_is(r.callid, "abc") && pl_is(r.to_tag, "t") && pl_is(r.from_tag, "f"));
	assert_true(r.early_only);
	assert_int_equal(sip_replaces_parse(&r, sip_pl_str("abc;to-tag=t")), EINVAL);
	assert_int_equal(sip_replaces_parse(&r, sip_pl_str(";to-tag=t;from-tag=f")), EINVAL);
	assert_int_equal(sip_replaces_parse(&r, sip_pl_str("")), EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_replaces),
	cmocka_unit_test(test_invite_basic),
	cmocka_unit_test(test_response_basic),
	cmocka_unit_test(test_compact_forms),
	cmocka_unit_test(test_hdr_lookup_table),
	cmocka_unit_test(test_method_names),
	cmocka_unit_test(test_unknown_method),
	cmocka_unit_test(test_folding),
	cmocka_unit_test(test_display_names),
	cmocka_unit_test(test_addr_spec_params),
	cmocka_unit_test(test_params),
	cmocka_unit_test(test_via_ipv6),
	cmocka_unit_test(test_continues_work),
	cmocka_unit_test(test_via_multi),
	cmocka_unit_test(test_via_params),
	cmocka_unit_test(test_unknown_headers),
	cmocka_unit_test(test_repeated_chain),
	cmocka_unit_test(test_missing_mandatory),
	cmocka_unit_test(test_duplicates),
	cmocka_unit_test(test_bad_cseq),
	cmocka_unit_test(test_cseq_mismatch),
	cmocka_unit_test(test_content_length_conflict),
	cmocka_unit_test(test_content_length_bad),
	cmocka_unit_test(test_body_framing_udp),
	cmocka_unit_test(test_request_line),
	cmocka_unit_test(test_garbage),
	cmocka_unit_test(test_nul_bytes),
	cmocka_unit_test(test_control_chars),
	cmocka_unit_test(test_whitespace_torture),
	cmocka_unit_test(test_too_many_headers),
	cmocka_unit_test(test_long_line),
	cmocka_unit_test(test_truncated),
	cmocka_unit_test(test_message_too_large),
	cmocka_unit_test(test_line_endings),
	cmocka_unit_test(test_value_accessors),
	cmocka_unit_test(test_can_reply),
	cmocka_unit_test(test_pl_helpers),
	cmocka_unit_test(test_frame_partial),
	cmocka_unit_test(test_frame_two_messages),
	cmocka_unit_test(test_frame_keepalive),
	cmocka_unit_test(test_frame_errors),
};

UNIT_GROUP(sip_msg, tests, NULL, NULL);
