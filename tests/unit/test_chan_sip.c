/**
 * @file test_chan_sip.c  The SIP channel driver's stateless helpers: causes, DTMF INFO, timers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The call flows themselves need a network and the channel core; they are
 * exercised end to end with SIPp. What can be checked alone is here: the
 * mapping between SIP codes and hangup causes that DIALSTATUS depends on,
 * the parsing of what phones send in INFO and Session-Expires, escaping.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/chan_sip.h"
#include "unit.h"

struct pmsg {
	char buf[2048];
	struct sip_msg m;
};

static struct pmsg *pm_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct pmsg *pm_new(const char *fmt, ...)
{
	struct pmsg *p = malloc(sizeof *p);
	const char *reason;
	va_list ap;
	assert_non_null(p);
	va_start(ap, fmt);
	int n = vsnprintf(p->buf, sizeof p->buf, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof p->buf);
	assert_int_equal(sip_msg_parse(&p->m, p->buf, (size_t)n, &reason), 0);
	return p;
}

/* A request with extra header lines @p hdrs and a body of type @p type. */
static struct pmsg *req(const char *hdrs, const char *type, const char *body)
{
	return pm_new("INFO sip:pbx@192.0.2.1 SIP/2.0\r\n"
		      "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\n"
		      "From: <sip:1001@pbx.local>;tag=a\r\nTo: <sip:1002@pbx.local>;tag=b\r\n"
		      "Call-ID: c\r\nCSeq: 5 INFO\r\n%s%s%s%s"
		      "Content-Length: %zu\r\n\r\n%s",
		      hdrs, type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "",
		      strlen(body), body);
}

static void test_cause_to_code(void **state)
{
	/* An unanswered incoming call hung up with a cause: the final response. */
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_BUSY), 486);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_UNALLOCATED), 404);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_UNAVAILABLE), 480);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_NO_ANSWER), 480);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_NO_USER_RESPONSE), 408);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_CONGESTION), 503);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_INCOMPATIBLE), 488);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_CANCEL), 487);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_FAILURE), 500);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_NORMAL), 603);
	assert_int_equal(sip__cause_to_code(PBX_CAUSE_REJECTED), 603);
}

static void test_text_answer(void **state)
{
	(void)state;
	const char *r;
	assert_int_equal(sip__text_answer(200, &r), 200);
	assert_null(r);
	assert_int_equal(sip__text_answer(202, &r), 200);
	/* About the message: the sender hears it as it is. */
	assert_int_equal(sip__text_answer(486, &r), 486);
	assert_non_null(r);
	assert_int_equal(sip__text_answer(488, &r), 488);
	assert_int_equal(sip__text_answer(415, &r), 415);
	assert_int_equal(sip__text_answer(603, &r), 603);
	/* About the other hop: never a 481 or 408 that would end the sender's call. */
	assert_int_equal(sip__text_answer(481, &r), 480);
	assert_int_equal(sip__text_answer(408, &r), 480);
	assert_string_equal(r, "The other party did not answer");
	assert_int_equal(sip__text_answer(401, &r), 480);
	assert_int_equal(sip__text_answer(407, &r), 480);
	assert_int_equal(sip__text_answer(405, &r), 488);
	assert_int_equal(sip__text_answer(501, &r), 488);
	assert_int_equal(sip__text_answer(503, &r), 480);
	assert_int_equal(sip__text_answer(500, &r), 502);
	assert_int_equal(sip__text_answer(302, &r), 480);
	assert_int_equal(sip__text_answer(0, &r), 480);
}

static void test_code_to_cause(void **state)
{
	/* The mapping DIALSTATUS rests on (the issue's table). */
	assert_int_equal(sip__code_to_cause(486, false), PBX_CAUSE_BUSY);
	assert_int_equal(sip__code_to_cause(600, false), PBX_CAUSE_BUSY);
	assert_int_equal(sip__code_to_cause(404, false), PBX_CAUSE_UNALLOCATED);
	assert_int_equal(sip__code_to_cause(480, false), PBX_CAUSE_UNAVAILABLE);
	assert_int_equal(sip__code_to_cause(408, false), PBX_CAUSE_UNAVAILABLE);
	assert_int_equal(sip__code_to_cause(503, false), PBX_CAUSE_CONGESTION);
	assert_int_equal(sip__code_to_cause(488, false), PBX_CAUSE_INCOMPATIBLE);
	assert_int_equal(sip__code_to_cause(487, false), PBX_CAUSE_CANCEL);
	assert_int_equal(sip__code_to_cause(500, false), PBX_CAUSE_FAILURE);
	assert_int_equal(sip__code_to_cause(603, false), PBX_CAUSE_FAILURE);
	assert_int_equal(sip__code_to_cause(403, false), PBX_CAUSE_FAILURE);
	/* No response at all: Timer B (408) or a transport error (503) is "unreachable". */
	assert_int_equal(sip__code_to_cause(408, true), PBX_CAUSE_UNAVAILABLE);
	assert_int_equal(sip__code_to_cause(503, true), PBX_CAUSE_UNAVAILABLE);
	/* Busy wins over everything, as with Asterisk's Dial; a phone's answer over the network's. */
	assert_true(sip__cause_rank(PBX_CAUSE_BUSY) > sip__cause_rank(PBX_CAUSE_CONGESTION));
	assert_true(sip__cause_rank(PBX_CAUSE_CONGESTION) > sip__cause_rank(PBX_CAUSE_FAILURE));
	assert_true(sip__cause_rank(PBX_CAUSE_FAILURE) > sip__cause_rank(PBX_CAUSE_UNAVAILABLE));
	assert_true(sip__cause_rank(PBX_CAUSE_UNAVAILABLE) > sip__cause_rank(PBX_CAUSE_CANCEL));
	assert_true(sip__cause_rank(PBX_CAUSE_CANCEL) > sip__cause_rank(0));
}

static void test_reason(void **state)
{
	char b[128];
	sip__reason_hdr(PBX_CAUSE_NORMAL, b, sizeof b);
	assert_string_equal(b, "Reason: Q.850;cause=16\r\n");
	sip__reason_hdr(CAUSE_ANSWERED_ELSEWHERE, b, sizeof b);
	assert_string_equal(b, "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n");
	sip__reason_hdr(PBX_CAUSE_CANCEL, b, sizeof b); /* internal, not Q.850 */
	assert_string_equal(b, "");
}

static char dtmf(const char *type, const char *body)
{
	struct pmsg *p = req("", type, body);
	char c = sip__info_dtmf(&p->m);
	free(p);
	return c;
}

static void test_info_dtmf(void **state)
{
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"), '5');
	assert_int_equal(dtmf("application/dtmf-relay", "Duration=160\r\nSignal= #\r\n"), '#');
	assert_int_equal(dtmf("Application/DTMF-Relay", "signal=*\n"), '*');
	assert_int_equal(dtmf("application/dtmf-relay; charset=x", "Signal=A\r\n"), 'A');
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=d\r\n"), 'D');
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=10\r\n"), '*');
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=11\r\n"), '#');
	assert_int_equal(dtmf("application/dtmf", "7"), '7');
	assert_int_equal(dtmf("application/dtmf", " 0\r\n"), '0');
	/* Not DTMF: other types, no Signal, two keys, a flash (16). */
	assert_int_equal(dtmf("application/dtmf-relay", "Duration=160\r\n"), 0);
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=55\r\n"), 0);
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=16\r\n"), 0);
	assert_int_equal(dtmf("application/dtmf-relay", "Signal=x\r\n"), 0);
	assert_int_equal(dtmf("application/media_control+xml", "<x/>"), 0);
	assert_int_equal(dtmf(NULL, ""), 0);
}

static void test_session_expires(void **state)
{
	struct sip_se h;
	struct pmsg *p = req(
		"Supported: replaces, timer\r\nSession-Expires: 1800;refresher=uac\r\n", NULL, "");
	assert_int_equal(sip__se_get(&p->m, &h), 0);
	assert_int_equal(h.se, 1800);
	assert_int_equal(h.refresher, SIP_REFRESHER_UAC);
	assert_true(h.supported);
	free(p);
	p = req("x: 90 ; refresher=UAS\r\n", NULL, ""); /* compact form, spaces, case */
	assert_int_equal(sip__se_get(&p->m, &h), 0);
	assert_int_equal(h.se, 90);
	assert_int_equal(h.refresher, SIP_REFRESHER_UAS);
	assert_false(h.supported);
	free(p);
	p = req("Session-Expires: 120\r\nRequire: timer\r\n", NULL, "");
	assert_int_equal(sip__se_get(&p->m, &h), 0);
	assert_int_equal(h.refresher, SIP_REFRESHER_NONE);
	assert_true(h.supported);
	free(p);
	p = req("k: timer\r\n", NULL, "");
	assert_int_equal(sip__se_get(&p->m, &h), ENOENT);
	assert_true(h.supported);
	free(p);
	p = req("Session-Expires: soon\r\n", NULL, "");
	assert_int_equal(sip__se_get(&p->m, &h), EINVAL);
	free(p);
	p = req("Session-Expires: 0\r\n", NULL, "");
	assert_int_equal(sip__se_get(&p->m, &h), EINVAL);
	free(p);
}

static void test_escaping(void **state)
{
	char b[128];
	sip__user_escape("1001", b, sizeof b);
	assert_string_equal(b, "1001");
	sip__user_escape("+1 (555) a@b:c", b, sizeof b);
	assert_string_equal(b, "+1%20(555)%20a%40b%3Ac");
	sip__user_escape("\xc3\xa9", b, sizeof b);
	assert_string_equal(b, "%C3%A9");
	sip__quote_name("Alice", b, sizeof b);
	assert_string_equal(b, "\"Alice\"");
	sip__quote_name("Bob \"B\" \\o/", b, sizeof b);
	assert_string_equal(b, "\"Bob \\\"B\\\" \\\\o/\"");
	sip__quote_name("tab\there", b, sizeof b); /* control characters are dropped */
	assert_string_equal(b, "\"tabhere\"");
	/* Short buffers stay terminated. */
	sip__quote_name("a long display name", b, 8);
	assert_string_equal(b, "\"a lo\""); /* room is kept for an escape pair */
	sip__quote_name("\"\"\"\"", b, 8);
	assert_string_equal(b, "\"\\\"\\\"\"");
	sip__user_escape("@@@@", b, 8);
	assert_string_equal(b, "%40%40"); /* whole escapes only */
}

static void test_hostport(void **state)
{
	struct sockaddr_storage ss;
	char ip[64];
	assert_int_equal(sip__hostport_sa("192.0.2.1:5060", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
	assert_string_equal(ip, "192.0.2.1");
	assert_int_equal(sip__hostport_sa("[2001:db8::1]:5060", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
	assert_string_equal(ip, "2001:db8::1");
	assert_int_equal(sip__hostport_sa("pbx.local:5060", &ss), EINVAL);
	assert_int_equal(sip__hostport_sa("[::1", &ss), EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_cause_to_code),   cmocka_unit_test(test_code_to_cause),
	cmocka_unit_test(test_reason),          cmocka_unit_test(test_info_dtmf),
	cmocka_unit_test(test_session_expires), cmocka_unit_test(test_escaping),
	cmocka_unit_test(test_hostport),        cmocka_unit_test(test_text_answer),
};

UNIT_GROUP(chan_sip, tests, NULL, NULL);
