/**
 * @file test_sip_uri.c  sip:/sips:/tel: URI parsing, unescaping and RFC 3261 19.1.4 comparison
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../channels/sip/sip_uri.h"

static bool pl_is(struct sip_pl pl, const char *s)
{
	return pl.l == strlen(s) && (pl.l == 0 || !memcmp(pl.p, s, pl.l));
}

#define assert_pl(pl, s) assert_true(pl_is((pl), (s)))

/* Parse from an exact-size heap copy so ASan sees any overread. */
static int parse(struct sip_uri *u, const char *s, char **keep)
{
	size_t n = strlen(s);
	*keep = malloc(n ? n : 1);
	assert_non_null(*keep);
	memcpy(*keep, s, n);
	return sip_uri_parse(u, (struct sip_pl){*keep, n});
}

static int parse_tmp(const char *s)
{
	struct sip_uri u;
	char *k;
	int err = parse(&u, s, &k);
	free(k);
	return err;
}

static void test_uri_basic(void **state)
{
	struct sip_uri u;
	char *k;
	assert_int_equal(
		parse(&u,
		      "sip:1001@pbx.example.org:5070;transport=tcp;lr?Subject=hi&Priority=urgent",
		      &k),
		0);
	assert_int_equal(u.scheme, SIP_URI_SIP);
	assert_pl(u.user, "1001");
	assert_int_equal(u.password.l, 0);
	assert_pl(u.host, "pbx.example.org");
	assert_false(u.host_ipv6);
	assert_true(u.has_port);
	assert_int_equal(u.port, 5070);
	assert_pl(u.params, ";transport=tcp;lr");
	assert_pl(u.headers, "Subject=hi&Priority=urgent");
	free(k);

	assert_int_equal(parse(&u, "SIP:pbx.example.org", &k), 0);
	assert_int_equal(u.scheme, SIP_URI_SIP);
	assert_int_equal(u.user.l, 0);
	assert_pl(u.host, "pbx.example.org");
	assert_false(u.has_port);
	assert_int_equal(u.params.l, 0);
	assert_int_equal(u.headers.l, 0);
	free(k);

	assert_int_equal(parse(&u, "sip:192.0.2.4", &k), 0);
	assert_pl(u.host, "192.0.2.4");
	free(k);
	assert_int_equal(parse(&u, "sip:host.example.org.", &k), 0);
	free(k);
}

static void test_uri_schemes(void **state)
{
	struct sip_uri u;
	char *k;
	assert_int_equal(parse(&u, "sips:alice@secure.example.org", &k), 0);
	assert_int_equal(u.scheme, SIP_URI_SIPS);
	assert_pl(u.user, "alice");
	free(k);

	assert_int_equal(parse(&u, "tel:+1-201-555-0123;phone-context=example.org", &k), 0);
	assert_int_equal(u.scheme, SIP_URI_TEL);
	assert_pl(u.user, "+1-201-555-0123");
	assert_int_equal(u.host.l, 0);
	assert_pl(u.params, ";phone-context=example.org");
	struct sip_pl v;
	assert_int_equal(sip_uri_param(&u, "phone-context", &v), 0);
	assert_pl(v, "example.org");
	free(k);
	assert_int_equal(parse_tmp("tel:*97#"), 0);
	assert_int_equal(parse_tmp("tel:"), EINVAL);
	assert_int_equal(parse_tmp("tel:+"), EINVAL);
	assert_int_equal(parse_tmp("tel:12 34"), EINVAL);
	assert_int_equal(parse_tmp("tel:12+34"), EINVAL);

	/* Other schemes: well-formed but not ours, so the caller answers 416. */
	assert_int_equal(parse_tmp("mailto:alice@example.org"), EPROTONOSUPPORT);
	assert_int_equal(parse_tmp("http://example.org/x"), EPROTONOSUPPORT);
	assert_int_equal(parse_tmp("urn:service:sos"), EPROTONOSUPPORT);
	assert_int_equal(parse_tmp("http:"), EINVAL);
	assert_int_equal(parse_tmp("http:a b"), EINVAL);
	assert_int_equal(parse_tmp("1sip:a@b"), EINVAL);
	assert_int_equal(parse_tmp("sip"), EINVAL);
	assert_int_equal(parse_tmp(""), EINVAL);
}

static void test_uri_userinfo(void **state)
{
	struct sip_uri u;
	char *k;
	assert_int_equal(parse(&u, "sip:alice:secret%21@example.org", &k), 0);
	assert_pl(u.user, "alice");
	assert_pl(u.password, "secret%21");
	free(k);
	/* ';' '?' '/' are user-unreserved: telephone-subscriber in the user part. */
	assert_int_equal(
		parse(&u, "sip:+1-212-555-1212;isub=1411?x/y@gw.example.org;user=phone", &k), 0);
	assert_pl(u.user, "+1-212-555-1212;isub=1411?x/y");
	assert_pl(u.host, "gw.example.org");
	assert_pl(u.params, ";user=phone");
	free(k);
	assert_int_equal(parse(&u, "sip:*97#@pbx.example.org", &k), 0);
	assert_pl(u.user, "*97#");
	free(k);
	assert_int_equal(parse_tmp("sip:@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip::pw@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip:al ice@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip:al%2@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip:al%zz@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip:alice:p;w@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip:alice<@example.org"), EINVAL);
	assert_int_equal(parse_tmp("sip:alice@"), EINVAL);
}

static void test_uri_ipv6(void **state)
{
	struct sip_uri u;
	char *k;
	assert_int_equal(parse(&u, "sip:1001@[2001:db8::10]:5061;transport=tls", &k), 0);
	assert_true(u.host_ipv6);
	assert_pl(u.host, "2001:db8::10");
	assert_int_equal(u.port, 5061);
	free(k);
	assert_int_equal(parse(&u, "sip:[::ffff:192.0.2.1]", &k), 0);
	assert_pl(u.host, "::ffff:192.0.2.1");
	assert_false(u.has_port);
	free(k);
	assert_int_equal(parse_tmp("sip:[2001:db8::10"), EINVAL);
	assert_int_equal(parse_tmp("sip:[2001:db8::g]"), EINVAL);
	assert_int_equal(parse_tmp("sip:[]"), EINVAL);
	assert_int_equal(parse_tmp("sip:2001:db8::10"), EINVAL);
	assert_int_equal(parse_tmp("sip:[2001:db8::10]x"), EINVAL);
	assert_int_equal(parse_tmp("sip:[1:2:3:4:5:6:7:8:9]"), EINVAL);
}

static void test_uri_host_port(void **state)
{
	assert_int_equal(parse_tmp("sip:a@host:0"), 0);
	assert_int_equal(parse_tmp("sip:a@host:65535"), 0);
	assert_int_equal(parse_tmp("sip:a@host:65536"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@host:0000005060"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@host:"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@host:50x"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@-host"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@ho$t"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@192.0.2.256"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@192.0.2"), EINVAL);
	assert_int_equal(parse_tmp("sip:a@192.0.2.1.example.org"), 0);
	assert_int_equal(parse_tmp("sip:a@_sip._udp.example.org"), 0);
	assert_int_equal(sip_uri_host_check(SIP_PL("example.org"), false), 0);
	assert_int_equal(sip_uri_host_check(SIP_PL(""), false), EINVAL);
	assert_int_equal(sip_uri_host_check(SIP_PL("::1"), true), 0);
	assert_int_equal(sip_uri_host_check(SIP_PL("::1"), false), EINVAL);
	assert_int_equal(
		sip_uri_host_check(SIP_PL("1234:1234:1234:1234:1234:1234:123.123.123.123x"), true),
		EINVAL);
}

static void test_uri_params(void **state)
{
	struct sip_uri u;
	struct sip_pl v;
	char *k;
	assert_int_equal(
		parse(&u, "sip:p1.example.org;LR;Transport=UDP;maddr=239.255.255.1;x%20y=%41", &k),
		0);
	assert_int_equal(sip_uri_param(&u, "lr", &v), 0);
	assert_null(v.p);
	assert_int_equal(sip_uri_param(&u, "transport", &v), 0);
	assert_pl(v, "UDP");
	assert_int_equal(sip_uri_param(&u, "MADDR", &v), 0);
	assert_pl(v, "239.255.255.1");
	assert_int_equal(sip_uri_param(&u, "x%20y", &v), 0);
	assert_pl(v, "%41");
	assert_int_equal(sip_uri_param(&u, "ttl", &v), ENOENT);
	assert_int_equal(sip_uri_param(&u, "l", &v), ENOENT);
	free(k);
	assert_int_equal(parse_tmp("sip:host;"), EINVAL);
	assert_int_equal(parse_tmp("sip:host;a=;b"), EINVAL);
	assert_int_equal(parse_tmp("sip:host;=b"), EINVAL);
	assert_int_equal(parse_tmp("sip:host;a==b"), EINVAL);
	assert_int_equal(parse_tmp("sip:host;a=\"b\""), EINVAL);
	assert_int_equal(parse_tmp("sip:host;a b"), EINVAL);
	assert_int_equal(parse_tmp("sip:host;[x]=/:&+$"), 0);
}

static void test_uri_headers(void **state)
{
	struct sip_uri u;
	char *k;
	assert_int_equal(
		parse(&u, "sip:bob@example.org?Replaces=a%40b%3Bto-tag%3D1&Require=replaces", &k),
		0);
	assert_pl(u.headers, "Replaces=a%40b%3Bto-tag%3D1&Require=replaces");
	free(k);
	/* A raw '@' in a header value is tolerated. */
	assert_int_equal(parse_tmp("sip:bob@example.org?Replaces=1234@192.0.2.1"), 0);
	assert_int_equal(parse_tmp("sip:bob@example.org?Subject="), 0);
	assert_int_equal(parse_tmp("sip:bob@example.org?"), EINVAL);
	assert_int_equal(parse_tmp("sip:bob@example.org?Subject"), EINVAL);
	assert_int_equal(parse_tmp("sip:bob@example.org?=x"), EINVAL);
	assert_int_equal(parse_tmp("sip:bob@example.org?a=1&&b=2"), EINVAL);
	assert_int_equal(parse_tmp("sip:bob@example.org?a=1 2"), EINVAL);
	assert_int_equal(parse_tmp("sip:bob@example.org?a=<x>"), EINVAL);
}

static void test_uri_unescape(void **state)
{
	char buf[16];
	size_t n;
	assert_int_equal(sip_uri_unescape(SIP_PL("a%20b%2fc%41"), buf, sizeof(buf), &n), 0);
	assert_string_equal(buf, "a b/cA");
	assert_int_equal(n, 6);
	assert_int_equal(sip_uri_unescape(SIP_PL("x%00y"), buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(buf[1], '\0');
	assert_int_equal(buf[2], 'y');
	assert_int_equal(sip_uri_unescape(SIP_PL("bad%2"), buf, sizeof(buf), NULL), EINVAL);
	assert_int_equal(sip_uri_unescape(SIP_PL("bad%g1"), buf, sizeof(buf), NULL), EINVAL);
	assert_int_equal(sip_uri_unescape(SIP_PL("%"), buf, sizeof(buf), NULL), EINVAL);
	assert_int_equal(sip_uri_unescape(SIP_PL("0123456789abcdef"), buf, sizeof(buf), NULL),
			 ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(sip_uri_unescape(SIP_PL("0123456789abcde"), buf, sizeof(buf), NULL), 0);
	assert_int_equal(sip_uri_unescape(SIP_PL(""), buf, 0, NULL), ENOSPC);
}

static int cmp(const char *a, const char *b)
{
	struct sip_uri ua, ub;
	char *ka, *kb;
	assert_int_equal(parse(&ua, a, &ka), 0);
	assert_int_equal(parse(&ub, b, &kb), 0);
	int r = sip_uri_cmp(&ua, &ub);
	/* Equivalence is symmetric. */
	assert_int_equal(sip_uri_cmp(&ub, &ua), r);
	free(ka);
	free(kb);
	return r;
}

static void test_uri_cmp_equal(void **state)
{
	/* Pairs in the spirit of RFC 3261 19.1.4, written anew. */
	assert_int_equal(cmp("sip:%62ob@biloxi.example.com;transport=TCP",
			     "sip:bob@BiLoXi.Example.COM;Transport=tcp"),
			 0);
	assert_int_equal(
		cmp("sip:carol@chicago.example.com", "sip:carol@chicago.example.com;newparam=5"),
		0);
	assert_int_equal(cmp("sip:carol@chicago.example.com;security=on",
			     "sip:carol@chicago.example.com;other=1"),
			 0);
	assert_int_equal(cmp("sip:chicago.example.com;transport=tcp;method=REGISTER?to=sip:bob%"
			     "40chicago.example.com",
			     "sip:chicago.example.com;method=REGISTER;transport=tcp?to=sip:bob%"
			     "40chicago.example.com"),
			 0);
	assert_int_equal(cmp("sip:alice@atlanta.example.com?subject=project%20x&priority=urgent",
			     "sip:alice@atlanta.example.com?priority=urgent&subject=project%20x"),
			 0);
	assert_int_equal(cmp("sip:a@[2001:db8::1]:5060", "sip:a@[2001:0db8:0:0::1]:5060"), 0);
	assert_int_equal(cmp("sip:a@h;lr", "sip:a@h;LR"), 0);
	assert_int_equal(cmp("tel:+1-201-555-0123", "tel:+1.201.555.0123"), 0);
	assert_int_equal(
		cmp("tel:7042;phone-context=Example.org", "tel:7042;PHONE-CONTEXT=example.org"), 0);
	assert_int_equal(cmp("sip:alice:pw@h", "sip:alice:%70w@h"), 0);
}

static void test_uri_cmp_differ(void **state)
{
	/* User parts are case-sensitive. */
	assert_int_equal(cmp("SIP:BOB@BiLoXi.Example.COM", "sip:bob@biloxi.example.com"), 1);
	/* A default made explicit is not the default. */
	assert_int_equal(cmp("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com:5060"), 1);
	assert_int_equal(
		cmp("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com;transport=udp"), 1);
	assert_int_equal(cmp("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com;user=phone"),
			 1);
	assert_int_equal(cmp("sip:bob@h;maddr=192.0.2.1", "sip:bob@h"), 1);
	assert_int_equal(cmp("sip:bob@h;ttl=1", "sip:bob@h"), 1);
	assert_int_equal(cmp("sip:bob@h;method=INVITE", "sip:bob@h"), 1);
	assert_int_equal(cmp("sip:carol@chicago.example.com",
			     "sip:carol@chicago.example.com?Subject=next%20meeting"),
			 1);
	assert_int_equal(cmp("sip:bob@phone21.example.com", "sip:bob@192.0.2.4"), 1);
	/* A parameter present in both must agree. */
	assert_int_equal(cmp("sip:carol@h;security=on", "sip:carol@h;security=off"), 1);
	assert_int_equal(cmp("sip:carol@h;security", "sip:carol@h;security=on"), 1);
	/* sip and sips never match. */
	assert_int_equal(cmp("sip:bob@h", "sips:bob@h"), 1);
	/* An escaped reserved character is not the character. */
	assert_int_equal(cmp("sip:a%3Bb@h", "sip:a;b@h"), 1);
	assert_int_equal(cmp("sip:a@h", "sip:a@h.example.org"), 1);
	assert_int_equal(cmp("sip:a@h", "sip:b@h"), 1);
	assert_int_equal(cmp("sip:a:x@h", "sip:a:y@h"), 1);
	assert_int_equal(cmp("sip:a@[::1]", "sip:a@[::2]"), 1);
	assert_int_equal(cmp("sip:a@[::1]", "sip:a@h"), 1);
	assert_int_equal(cmp("sip:a@h:5060", "sip:a@h:5061"), 1);
	assert_int_equal(cmp("sip:a@h?x=1", "sip:a@h?x=2"), 1);
	assert_int_equal(cmp("sip:a@h?x=1&x=1", "sip:a@h?x=1"), 1);
	assert_int_equal(cmp("sip:a@h?X=abc", "sip:a@h?x=ABC"), 1);
	assert_int_equal(cmp("tel:+12015550123", "tel:+12015550124"), 1);
	assert_int_equal(cmp("tel:+12015550123", "tel:+120155501234"), 1);
	assert_int_equal(cmp("tel:7042;phone-context=example.org", "tel:7042"), 1);
	assert_int_equal(cmp("tel:+12015550123", "sip:+12015550123@h"), 1);
}

/* A URI header's value, unescaped: Refer-To's ?Replaces=... (RFC 3891). */
static void test_uri_header_value(void **state)
{
	struct sip_uri u;
	char v[64];
	assert_int_equal(sip_uri_parse(&u, sip_pl_str("sip:1003@pbx?Subject=hi&replaces="
						      "abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2")),
			 0);
	assert_int_equal(sip_uri_header(&u, "Replaces", v, sizeof v), 0);
	assert_string_equal(v, "abc@h;to-tag=1;from-tag=2");
	assert_int_equal(sip_uri_header(&u, "subject", v, sizeof v), 0);
	assert_string_equal(v, "hi");
	assert_int_equal(sip_uri_header(&u, "Priority", v, sizeof v), ENOENT);
	assert_int_equal(sip_uri_header(&u, "Replaces", v, 8), ENOSPC);
	assert_int_equal(sip_uri_parse(&u, sip_pl_str("sip:b@h?Replaces=a%00b")), 0);
	assert_int_equal(sip_uri_header(&u, "Replaces", v, sizeof v), EINVAL);
	assert_int_equal(sip_uri_parse(&u, sip_pl_str("sip:b@h")), 0);
	assert_int_equal(sip_uri_header(&u, "Replaces", v, sizeof v), ENOENT);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_uri_header_value), cmocka_unit_test(test_uri_basic),
	cmocka_unit_test(test_uri_schemes),      cmocka_unit_test(test_uri_userinfo),
	cmocka_unit_test(test_uri_ipv6),         cmocka_unit_test(test_uri_host_port),
	cmocka_unit_test(test_uri_params),       cmocka_unit_test(test_uri_headers),
	cmocka_unit_test(test_uri_unescape),     cmocka_unit_test(test_uri_cmp_equal),
	cmocka_unit_test(test_uri_cmp_differ),
};

UNIT_GROUP(sip_uri, tests, NULL, NULL);
