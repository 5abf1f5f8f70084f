/**
 * @file test_sip_auth.c  Digest authentication: known answers, nonces, replay, parser errors
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Responses are checked against an independent computation (the strings
 * built here and hashed with EVP directly) and against the published
 * examples of RFC 7616 3.9.1 and RFC 2617 3.5.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../../channels/sip/sip_auth.h"
#include "unit.h"

#define REALM "pbx.local"
#define LIFE  300

static void hexdigest(enum sip_auth_alg alg, const char *s, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), md, &n,
				    alg == SIP_AUTH_SHA256 ? EVP_sha256() : EVP_md5(), NULL),
			 1);
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* The whole RFC 7616 3.4.1 computation from the password, written out. */
static void expected_response(enum sip_auth_alg alg, const char *user, const char *realm,
			      const char *pass, const char *method, const char *uri,
			      const char *nonce, const char *nc, const char *cnonce, char *out)
{
	char a1[512], a2[512], kd[1024], ha1[65], ha2[65];
	snprintf(a1, sizeof a1, "%s:%s:%s", user, realm, pass);
	snprintf(a2, sizeof a2, "%s:%s", method, uri);
	hexdigest(alg, a1, ha1);
	hexdigest(alg, a2, ha2);
	snprintf(kd, sizeof kd, "%s:%s:%s:%s:auth:%s", ha1, nonce, nc, cnonce, ha2);
	hexdigest(alg, kd, out);
}

struct nonce {
	char nonce[128];
	char opaque[128];
};

/* A fresh nonce, read back through the parser as a client would. */
static void get_nonce(struct sip_auth *a, int64_t now, struct nonce *n)
{
	struct sip_auth_chal ch;
	struct sip_auth_cred c;
	assert_int_equal(sip_auth_challenge(a, now, false, &ch), 0);
	assert_int_equal(sip_auth_parse(ch.value[0], strlen(ch.value[0]), &c), 0);
	strcpy(n->nonce, c.nonce);
	strcpy(n->opaque, c.opaque);
}

struct req {
	enum sip_auth_alg alg;
	const char *user, *realm, *pass, *method, *uri, *nc, *cnonce, *opaque;
	const char *nonce;
};

static void build(const struct req *r, char *hdr, size_t len)
{
	char resp[65];
	expected_response(r->alg, r->user, r->realm, r->pass, r->method, r->uri, r->nonce, r->nc,
			  r->cnonce, resp);
	int n = snprintf(hdr, len,
			 "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
			 "response=\"%s\", algorithm=%s, cnonce=\"%s\", qop=auth, nc=%s",
			 r->user, r->realm, r->nonce, r->uri, resp,
			 r->alg == SIP_AUTH_SHA256 ? "SHA-256" : "MD5", r->cnonce, r->nc);
	if (r->opaque)
		snprintf(hdr + n, len - (size_t)n, ", opaque=\"%s\"", r->opaque);
}

/* Parse @p hdr and verify it with the HA1 of user 1001, password "s3cret". */
static int check(struct sip_auth *a, const char *hdr, int64_t now, const char **why)
{
	struct sip_auth_cred c;
	char a1[256], ha1[65];
	int err = sip_auth_parse(hdr, strlen(hdr), &c);
	if (err)
		return err;
	snprintf(a1, sizeof a1, "1001:%s:s3cret", REALM);
	hexdigest(c.alg, a1, ha1);
	return sip_auth_verify(a, &c, "REGISTER", ha1, now, why);
}

static struct req good(enum sip_auth_alg alg, const struct nonce *n, const char *nc)
{
	return (struct req){alg, "1001",     REALM,     "s3cret", "REGISTER", "sip:pbx.local",
			    nc,  "0a4f113b", n->opaque, n->nonce};
}

static void test_kat_rfc7616(void **state)
{
	char ha1[SIP_AUTH_HEX_MAX], resp[SIP_AUTH_HEX_MAX];
	const char *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
	const char *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
	/* RFC 7616 3.9.1 (password "Circle of Life", lowercase "of", erratum 4495). */
	assert_int_equal(sip_auth_ha1(SIP_AUTH_MD5, "Mufasa", "http-auth@example.org",
				      "Circle of Life", ha1),
			 0);
	assert_int_equal(sip_auth_response(SIP_AUTH_MD5, ha1, nonce, "00000001", cnonce, "auth",
					   "GET", "/dir/index.html", resp),
			 0);
	assert_string_equal(resp, "8ca523f5e9506fed4657c9700eebdbec");
	assert_int_equal(sip_auth_ha1(SIP_AUTH_SHA256, "Mufasa", "http-auth@example.org",
				      "Circle of Life", ha1),
			 0);
	assert_int_equal(sip_auth_response(SIP_AUTH_SHA256, ha1, nonce, "00000001", cnonce, "auth",
					   "GET", "/dir/index.html", resp),
			 0);
	assert_string_equal(resp,
			    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
	/* RFC 2617 3.5 ("Circle Of Life", capital O). */
	assert_int_equal(
		sip_auth_ha1(SIP_AUTH_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", ha1),
		0);
	assert_int_equal(sip_auth_response(SIP_AUTH_MD5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093",
					   "00000001", "0a4f113b", "auth", "GET", "/dir/index.html",
					   resp),
			 0);
	assert_string_equal(resp, "6629fae49393a05397450978507c4ef1");

	/* The RFC's SHA-256 Authorization header, as its section 3.9.1 lays it out. */
	const char *hdr =
		"Digest username=\"Mufasa\",\r\n"
		"       realm=\"http-auth@example.org\",\r\n"
		"       uri=\"/dir/index.html\",\r\n"
		"       algorithm=SHA-256,\r\n"
		"       nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n"
		"       nc=00000001,\r\n"
		"       cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n"
		"       qop=auth,\r\n"
		"       response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5"
		"856cb6c1\",\r\n"
		"       opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
	struct sip_auth_cred c;
	assert_int_equal(sip_auth_parse(hdr, strlen(hdr), &c), 0);
	assert_null(c.why);
	assert_true(sip_auth_cred_is_sha256(&c));
	assert_string_equal(c.username, "Mufasa");
	assert_string_equal(c.realm, "http-auth@example.org");
	assert_string_equal(c.uri, "/dir/index.html");
	assert_string_equal(c.nonce, nonce);
	assert_string_equal(c.cnonce, cnonce);
	assert_string_equal(c.nc, "00000001");
	assert_int_equal(c.nc_val, 1);
	assert_string_equal(c.qop, "auth");
	assert_string_equal(c.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
	assert_int_equal(sip_auth_ha1(SIP_AUTH_SHA256, "Mufasa", "http-auth@example.org",
				      "Circle of Life", ha1),
			 0);
	assert_int_equal(
		sip_auth_response(c.alg, ha1, c.nonce, c.nc, c.cnonce, c.qop, "GET", c.uri, resp),
		0);
	assert_string_equal(resp, c.response);
}

static void test_kat_independent(void **state)
{
	static const enum sip_auth_alg algs[] = {SIP_AUTH_MD5, SIP_AUTH_SHA256};
	for (size_t i = 0; i < 2; i++) {
		char ha1[SIP_AUTH_HEX_MAX], want_ha1[65], resp[SIP_AUTH_HEX_MAX], want[65];
		assert_int_equal(sip_auth_ha1(algs[i], "alice", "example.com", "p@ss:word", ha1),
				 0);
		hexdigest(algs[i], "alice:example.com:p@ss:word", want_ha1);
		assert_string_equal(ha1, want_ha1);
		assert_int_equal(strlen(ha1), sip_auth_hex_len(algs[i]));
		assert_int_equal(sip_auth_response(algs[i], ha1, "abcdef0123", "0000002a", "xyz",
						   "auth", "INVITE", "sip:bob@example.com", resp),
				 0);
		expected_response(algs[i], "alice", "example.com", "p@ss:word", "INVITE",
				  "sip:bob@example.com", "abcdef0123", "0000002a", "xyz", want);
		assert_string_equal(resp, want);
	}
}

static void test_challenge(void **state)
{
	struct sip_auth *a;
	struct sip_auth_chal ch;
	struct sip_auth_cred c, c2;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	assert_string_equal(sip_auth_realm(a), REALM);
	assert_int_equal(sip_auth_challenge(a, 1000, false, &ch), 0);
	assert_int_equal(ch.n, 2);
	assert_int_equal(ch.alg[0], SIP_AUTH_SHA256);
	assert_int_equal(ch.alg[1], SIP_AUTH_MD5);
	assert_non_null(strstr(ch.value[0], "algorithm=SHA-256"));
	assert_non_null(strstr(ch.value[1], "algorithm=MD5"));
	for (int i = 0; i < 2; i++) {
		assert_memory_equal(ch.value[i], "Digest realm=\"pbx.local\", nonce=\"", 32);
		assert_non_null(strstr(ch.value[i], "qop=\"auth\""));
		assert_non_null(strstr(ch.value[i], "opaque=\""));
		assert_null(strstr(ch.value[i], "stale"));
	}
	assert_int_equal(sip_auth_parse(ch.value[0], strlen(ch.value[0]), &c), 0);
	assert_int_equal(sip_auth_parse(ch.value[1], strlen(ch.value[1]), &c2), 0);
	assert_int_equal(c.alg, SIP_AUTH_SHA256);
	assert_int_equal(c2.alg, SIP_AUTH_MD5);
	assert_string_equal(c.nonce, c2.nonce); /* one nonce for both */
	assert_int_equal(strlen(c.nonce), 64);
	assert_int_equal(strspn(c.nonce, "0123456789abcdef"), 64);

	/* Two challenges in the same second still differ. */
	assert_int_equal(sip_auth_challenge(a, 1000, true, &ch), 0);
	assert_int_equal(sip_auth_parse(ch.value[0], strlen(ch.value[0]), &c2), 0);
	assert_string_not_equal(c.nonce, c2.nonce);
	assert_string_equal(c.opaque, c2.opaque);
	for (int i = 0; i < 2; i++)
		assert_non_null(strstr(ch.value[i], ", stale=true"));
	sip_auth_free(a);
}

static void test_verify_ok(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	char hdr[1024];
	const char *why = "unset";
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	get_nonce(a, 1000, &n);
	struct req r = good(SIP_AUTH_SHA256, &n, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1010, &why), 0);
	assert_null(why);
	get_nonce(a, 1000, &n);
	r = good(SIP_AUTH_MD5, &n, "00000001");
	r.opaque = NULL; /* echoing the opaque is optional here */
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1000 + LIFE, NULL), 0);
	sip_auth_free(a);
}

static void test_wrong_password(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	char hdr[1024];
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	for (int alg = 0; alg < 2; alg++) {
		get_nonce(a, 1000, &n);
		struct req r = good((enum sip_auth_alg)alg, &n, "00000001");
		r.pass = "s3cre7";
		build(&r, hdr, sizeof hdr);
		assert_int_equal(check(a, hdr, 1001, &why), EACCES);
		assert_string_equal(why, "wrong response");
		/* Another user's name with this user's password. */
		r = good((enum sip_auth_alg)alg, &n, "00000001");
		r.user = "1002";
		build(&r, hdr, sizeof hdr);
		assert_int_equal(check(a, hdr, 1001, &why), EACCES);
		/* A method other than the one the response was made for. */
		r = good((enum sip_auth_alg)alg, &n, "00000001");
		r.method = "INVITE";
		build(&r, hdr, sizeof hdr);
		assert_int_equal(check(a, hdr, 1001, &why), EACCES);
	}
	sip_auth_free(a);
}

/* Edit @p nonce at position @p how, or: -1 uppercase, -2 truncate,
 * -3 extend, -4 a non-hex digit. */
static void edit_nonce(char *nonce, int how)
{
	if (how >= 0)
		nonce[how] = nonce[how] == '0' ? '1' : '0';
	else if (how == -1)
		for (char *p = nonce; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	else if (how == -2)
		nonce[63] = '\0';
	else if (how == -3)
		strcat(nonce, "00");
	else
		nonce[10] = 'g';
}

static void test_tampered_nonce(void **state)
{
	struct sip_auth *a, *other;
	struct nonce n, bad;
	struct sip_auth_cred c;
	char hdr[1024], ha1[SIP_AUTH_HEX_MAX];
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	assert_int_equal(sip_auth_alloc(&other, REALM, LIFE), 0);
	assert_int_equal(sip_auth_ha1(SIP_AUTH_SHA256, "1001", REALM, "s3cret", ha1), 0);
	get_nonce(a, 1000, &n);
	struct req r = good(SIP_AUTH_SHA256, &n, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(sip_auth_parse(hdr, strlen(hdr), &c), 0);
	/* An attacker edits the nonce of a captured request (to move its issue
	 * time, say): the response no longer matches. Each part: the issue
	 * time, the sequence number, the HMAC; then uppercase, truncated,
	 * extended, not hex. */
	static const int pos[] = {0, 15, 16, 31, 32, 63, -1, -2, -3, -4};
	for (size_t i = 0; i < sizeof pos / sizeof *pos; i++) {
		struct sip_auth_cred t = c;
		edit_nonce(t.nonce, pos[i]);
		assert_int_equal(sip_auth_verify(a, &t, "REGISTER", ha1, 1001, &why), EACCES);
		assert_string_equal(why, "wrong response");
	}
	/* Whoever knows the password but holds a nonce we did not issue (the
	 * same edits, answered correctly) is sent a fresh one: stale, no ban. */
	for (size_t i = 0; i < sizeof pos / sizeof *pos; i++) {
		bad = n;
		edit_nonce(bad.nonce, pos[i]);
		r = good(SIP_AUTH_SHA256, &bad, "00000001");
		build(&r, hdr, sizeof hdr);
		assert_int_equal(check(a, hdr, 1001, &why), ESTALE);
		assert_string_equal(why, "nonce not issued by this server");
		r.pass = "guess";
		build(&r, hdr, sizeof hdr);
		assert_int_equal(check(a, hdr, 1001, &why), EACCES);
	}
	/* A nonce from another server (another secret, as after a restart). */
	get_nonce(other, 1000, &bad);
	r = good(SIP_AUTH_SHA256, &bad, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1001, &why), ESTALE);
	r.opaque = NULL;
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1001, &why), ESTALE);
	assert_int_equal(check(other, hdr, 1001, &why), 0);
	r.pass = "guess";
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1001, &why), EACCES);
	/* The untouched request still goes through. */
	assert_int_equal(sip_auth_verify(a, &c, "REGISTER", ha1, 1001, &why), 0);
	sip_auth_free(other);
	sip_auth_free(a);
}

static void test_expired(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	char hdr[1024];
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	get_nonce(a, 1000, &n);
	struct req r = good(SIP_AUTH_SHA256, &n, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1000 + LIFE + 1, &why), ESTALE);
	assert_string_equal(why, "nonce expired");
	assert_int_equal(check(a, hdr, 1000 + 100000, &why), ESTALE);
	/* Issued "in the future": the clock went back. */
	assert_int_equal(check(a, hdr, 990, &why), ESTALE);
	assert_int_equal(check(a, hdr, 999, &why), 0); /* within the skew */
	/* stale=true only for a right password: a wrong one stays EACCES. */
	get_nonce(a, 1000, &n);
	r = good(SIP_AUTH_SHA256, &n, "00000001");
	r.pass = "guess";
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1000 + LIFE + 1, &why), EACCES);
	/* A challenge issued after an ESTALE works. */
	get_nonce(a, 1000 + LIFE + 1, &n);
	r = good(SIP_AUTH_SHA256, &n, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1000 + LIFE + 2, &why), 0);
	sip_auth_free(a);
}

static int with_nc(struct sip_auth *a, const struct nonce *n, uint32_t nc, const char **why)
{
	char hdr[1024], ncs[9];
	snprintf(ncs, sizeof ncs, "%08x", nc);
	struct req r = good(SIP_AUTH_MD5, n, ncs);
	build(&r, hdr, sizeof hdr);
	return check(a, hdr, 1001, why);
}

/* As check(), through sip_auth_verify_retransmittable. */
static int check_rt(struct sip_auth *a, const char *hdr, int64_t now, const char **why)
{
	struct sip_auth_cred c;
	char a1[256], ha1[65];
	int err = sip_auth_parse(hdr, strlen(hdr), &c);
	if (err)
		return err;
	snprintf(a1, sizeof a1, "1001:%s:s3cret", REALM);
	hexdigest(c.alg, a1, ha1);
	/* The header stands for the whole request here. */
	return sip_auth_verify_retransmittable(a, &c, "REGISTER", ha1, now, hdr, strlen(hdr), why);
}

/* A stateless REGISTER's retransmission: the same request again is
 * accepted within 32 s; anything else that reuses the count is not, even
 * with the same digest response (another Contact, say). */
static void test_nc_retransmission(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	char hdr[1024], other[1100];
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	get_nonce(a, 1000, &n);
	struct req r = good(SIP_AUTH_MD5, &n, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check_rt(a, hdr, 1000, &why), 0);
	assert_int_equal(check_rt(a, hdr, 1001, &why), 0);   /* retransmitted */
	assert_int_equal(check_rt(a, hdr, 1032, &why), 0);   /* ...up to Timer J */
	assert_int_equal(check(a, hdr, 1001, &why), EACCES); /* not for other requests */
	assert_string_equal(why, "nonce count replayed");
	assert_int_equal(check_rt(a, hdr, 1033, &why), EACCES); /* later: a replay */
	/* The same count with another cnonce is another request: a replay. */
	r.cnonce = "77777777";
	build(&r, other, sizeof other);
	assert_int_equal(check_rt(a, other, 1001, &why), EACCES);
	/* The same credentials in another request (here: a parameter more). */
	snprintf(other, sizeof other, "%s, x=1", hdr);
	assert_int_equal(check_rt(a, other, 1001, &why), EACCES);
	assert_string_equal(why, "nonce count replayed");
	/* A newer count takes over: the older request is no longer repeatable. */
	r = good(SIP_AUTH_MD5, &n, "00000002");
	build(&r, other, sizeof other);
	assert_int_equal(check_rt(a, other, 1002, &why), 0);
	assert_int_equal(check_rt(a, other, 1003, &why), 0);
	assert_int_equal(check_rt(a, hdr, 1003, &why), EACCES);
	sip_auth_free(a);
}

static void test_nc_replay(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	get_nonce(a, 1000, &n);
	assert_int_equal(with_nc(a, &n, 0, &why), EACCES); /* counts start at 1 */
	assert_int_equal(with_nc(a, &n, 1, &why), 0);
	assert_int_equal(with_nc(a, &n, 1, &why), EACCES);
	assert_string_equal(why, "nonce count replayed");
	assert_int_equal(with_nc(a, &n, 2, &why), 0);
	assert_int_equal(with_nc(a, &n, 5, &why), 0);
	/* 3 and 4 were never used: a request overtaken over UDP still counts once. */
	assert_int_equal(with_nc(a, &n, 3, &why), 0);
	assert_int_equal(with_nc(a, &n, 3, &why), EACCES);
	assert_int_equal(with_nc(a, &n, 5, &why), EACCES);
	assert_int_equal(with_nc(a, &n, 4, &why), 0);
	assert_int_equal(with_nc(a, &n, 2, &why), EACCES);
	/* More than 32 behind the highest: refused even if never used. */
	assert_int_equal(with_nc(a, &n, 100, &why), 0);
	assert_int_equal(with_nc(a, &n, 60, &why), EACCES);
	assert_int_equal(with_nc(a, &n, 69, &why), 0);
	assert_int_equal(with_nc(a, &n, 68, &why), EACCES);
	assert_int_equal(with_nc(a, &n, 101, &why), 0);
	assert_int_equal(with_nc(a, &n, 0xffffffffu, &why), 0);
	assert_int_equal(with_nc(a, &n, 0xffffffffu, &why), EACCES);
	/* Another nonce has its own count. */
	struct nonce n2;
	get_nonce(a, 1000, &n2);
	assert_int_equal(with_nc(a, &n2, 1, &why), 0);
	/* Uppercase hex digits in nc: the response hashes them as sent. */
	char hdr[1024];
	struct req r = good(SIP_AUTH_SHA256, &n2, "0000000A");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1001, &why), 0);
	assert_int_equal(check(a, hdr, 1001, &why), EACCES);
	sip_auth_free(a);
}

/* More nonces than the table's slots: a replay is never accepted, an
 * evicted history is answered ESTALE, and memory stays fixed. */
static void test_nc_table_bounded(void **state)
{
	struct sip_auth *a;
	struct sip_auth_nonce_stats st;
	const char *why;
	int stale = 0;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	sip_auth_nonce_stats(a, 1000, &st);
	assert_int_equal(st.slots, 65536);
	assert_int_equal(st.live, 0);
	const int N = (int)st.slots + 808, slots = (int)st.slots;
	struct nonce *n = calloc((size_t)N, sizeof *n);
	assert_non_null(n);
	for (int i = 0; i < N; i++) {
		get_nonce(a, 1000, &n[i]);
		assert_int_equal(with_nc(a, &n[i], 1, &why), 0);
	}
	for (int i = 0; i < N; i++) {
		int err = with_nc(a, &n[i], 1, &why);
		assert_true(err == EACCES || err == ESTALE);
		stale += err == ESTALE;
	}
	assert_int_equal(stale, N - slots); /* sets fill evenly: exactly the excess went */
	sip_auth_nonce_stats(a, 1000, &st);
	assert_int_equal(st.live, slots);
	assert_int_equal(st.evictions, N - slots);
	sip_auth_nonce_stats(a, 1000 + LIFE + 1, &st); /* all expired */
	assert_int_equal(st.live, 0);
	for (int i = 0; i < N; i++) {
		int err = with_nc(a, &n[i], 2, &why);
		assert_true(err == 0 || err == ESTALE);
	}
	sip_auth_free(a);
	free(n);
}

static void test_realm_opaque(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	char hdr[1024];
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	get_nonce(a, 1000, &n);
	struct req r = good(SIP_AUTH_SHA256, &n, "00000001");
	r.realm = "other.realm";
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1001, &why), EACCES);
	assert_string_equal(why, "realm mismatch");
	r = good(SIP_AUTH_SHA256, &n, "00000001");
	r.opaque = "0123456789abcdef";
	build(&r, hdr, sizeof hdr);
	assert_int_equal(check(a, hdr, 1001, &why), EACCES);
	assert_string_equal(why, "opaque mismatch");
	sip_auth_free(a);
}

static void test_verify_badmsg(void **state)
{
	struct sip_auth *a;
	struct nonce n;
	struct sip_auth_cred c, ok;
	char hdr[1024], ha1[SIP_AUTH_HEX_MAX];
	const char *why;
	assert_int_equal(sip_auth_alloc(&a, REALM, LIFE), 0);
	get_nonce(a, 1000, &n);
	struct req r = good(SIP_AUTH_MD5, &n, "00000001");
	build(&r, hdr, sizeof hdr);
	assert_int_equal(sip_auth_parse(hdr, strlen(hdr), &ok), 0);
	assert_int_equal(sip_auth_ha1(SIP_AUTH_MD5, "1001", REALM, "s3cret", ha1), 0);

	static const size_t fields[] = {
		offsetof(struct sip_auth_cred, username), offsetof(struct sip_auth_cred, realm),
		offsetof(struct sip_auth_cred, nonce),    offsetof(struct sip_auth_cred, uri),
		offsetof(struct sip_auth_cred, response), offsetof(struct sip_auth_cred, qop),
		offsetof(struct sip_auth_cred, nc),       offsetof(struct sip_auth_cred, cnonce),
	};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		c = ok;
		((char *)&c)[fields[i]] = '\0';
		assert_int_equal(sip_auth_verify(a, &c, "REGISTER", ha1, 1001, &why), EBADMSG);
	}
	c = ok;
	strcpy(c.qop, "auth-int");
	assert_int_equal(sip_auth_verify(a, &c, "REGISTER", ha1, 1001, &why), EBADMSG);
	assert_string_equal(why, "unsupported qop");
	c = ok;
	strcat(c.response, "00"); /* 34 digits for MD5 */
	assert_int_equal(sip_auth_verify(a, &c, "REGISTER", ha1, 1001, &why), EBADMSG);
	c = ok;
	c.alg = SIP_AUTH_SHA256; /* a 32-digit response for SHA-256 */
	assert_int_equal(sip_auth_verify(a, &c, "REGISTER", ha1, 1001, &why), EBADMSG);
	/* Caller errors: an HA1 of the wrong length or not hex. */
	assert_int_equal(sip_auth_verify(a, &ok, "REGISTER", "abc", 1001, &why), EINVAL);
	assert_int_equal(sip_auth_verify(a, &ok, "REGISTER", NULL, 1001, &why), EINVAL);
	assert_int_equal(
		sip_auth_verify(a, &ok, "REGISTER", "zz345678901234567890123456789012", 1001, &why),
		EINVAL);
	/* RFC 2069 style, no qop: refused by design. */
	snprintf(hdr, sizeof hdr,
		 "Digest username=\"1001\", realm=\"pbx.local\", nonce=\"%s\", "
		 "uri=\"sip:pbx.local\", "
		 "response=\"%s\"",
		 n.nonce, ok.response);
	assert_int_equal(check(a, hdr, 1001, &why), EBADMSG);
	assert_string_equal(why, "qop=auth required");
	/* All of that left the nonce unused: the real request goes through. */
	assert_int_equal(sip_auth_verify(a, &ok, "REGISTER", ha1, 1001, &why), 0);
	/* Uppercase hex in the directory's HA1 or the client's response is the same digest. */
	c = ok;
	strcpy(c.nc, "00000002");
	c.nc_val = 2;
	char up[SIP_AUTH_HEX_MAX];
	for (size_t i = 0; i <= strlen(ha1); i++)
		up[i] = (char)(ha1[i] >= 'a' && ha1[i] <= 'f' ? ha1[i] - 32 : ha1[i]);
	assert_int_equal(sip_auth_response(c.alg, ha1, c.nonce, c.nc, c.cnonce, c.qop, "REGISTER",
					   c.uri, c.response),
			 0);
	for (char *p = c.response; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	assert_int_equal(sip_auth_verify(a, &c, "REGISTER", up, 1001, &why), 0);
	sip_auth_free(a);
}

static void test_parse_ok(void **state)
{
	struct sip_auth_cred c;
	const char *h = "digest\tUserName = \"al\\\"ice\\\\\" ,REALM=\"pbx.local\",foo=bar, "
			"Nonce=\"abc\",uri=\"sip:pbx.local;transport=tcp\",, response=\"0123\","
			"QOP=\"auth\", NC=0000001F, cnonce=\"c n\", opaque=\"\", "
			"x-unknown=\"any, \\\"thing\\\"\", algorithm=md5 ";
	assert_int_equal(sip_auth_parse(h, strlen(h), &c), 0);
	assert_null(c.why);
	assert_string_equal(c.username, "al\"ice\\");
	assert_string_equal(c.realm, "pbx.local");
	assert_string_equal(c.nonce, "abc");
	assert_string_equal(c.uri, "sip:pbx.local;transport=tcp");
	assert_string_equal(c.response, "0123");
	assert_string_equal(c.qop, "auth");
	assert_string_equal(c.nc, "0000001F");
	assert_int_equal(c.nc_val, 31);
	assert_string_equal(c.cnonce, "c n");
	assert_string_equal(c.opaque, "");
	assert_int_equal(c.alg, SIP_AUTH_MD5);

	/* Not NUL-terminated: only len bytes are read. */
	char buf[64];
	memcpy(buf, "Digest username=\"bob\"XXXXXXXX", 29);
	assert_int_equal(sip_auth_parse(buf, 21, &c), 0);
	assert_string_equal(c.username, "bob");
	/* The longest values that fit. */
	char big[1024], name[128];
	memset(name, 'u', 127);
	name[127] = '\0';
	snprintf(big, sizeof big, "Digest username=\"%s\", nc=ffffffff", name);
	assert_int_equal(sip_auth_parse(big, strlen(big), &c), 0);
	assert_string_equal(c.username, name);
	assert_int_equal(c.nc_val, 0xffffffffu);
}

static void test_parse_algorithms(void **state)
{
	static const struct {
		const char *alg;
		int err;
		enum sip_auth_alg want;
	} cases[] = {
		{"MD5", 0, SIP_AUTH_MD5},
		{"md5", 0, SIP_AUTH_MD5},
		{"\"MD5\"", 0, SIP_AUTH_MD5},
		{"SHA-256", 0, SIP_AUTH_SHA256},
		{"sha-256", 0, SIP_AUTH_SHA256},
		{"MD5-sess", ENOTSUP, 0},
		{"SHA-256-sess", ENOTSUP, 0},
		{"SHA-512-256", ENOTSUP, 0},
		{"SHA-512-256-sess", ENOTSUP, 0},
		{"SHA-1", ENOTSUP, 0},
		{"SHA-256xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ENOTSUP, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char h[256];
		struct sip_auth_cred c;
		snprintf(h, sizeof h, "Digest username=\"a\", algorithm=%s, realm=\"r\"",
			 cases[i].alg);
		assert_int_equal(sip_auth_parse(h, strlen(h), &c), cases[i].err);
		if (!cases[i].err)
			assert_int_equal(c.alg, cases[i].want);
		else
			assert_string_equal(c.why, "unsupported algorithm");
	}
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *h;
		size_t len; /* 0: strlen */
		const char *why;
	} cases[] = {
		{"Digest username=\"alice", 0, "unterminated quoted string"},
		{"Digest username=\"alice\\", 0, "unterminated quoted string"},
		{"Digest username=\"a\", realm=\"r\", USERNAME=\"b\"", 0, "duplicate parameter"},
		{"Digest nc=00000001, nc=00000002", 0, "duplicate parameter"},
		{"Digest username=\"a\" realm=\"r\"", 0, "expected ',' between parameters"},
		{"Digest username", 0, "expected '=' after parameter name"},
		{"Digest username=", 0, "missing parameter value"},
		{"Digest username=,realm=\"r\"", 0, "missing parameter value"},
		{"Digest =\"x\"", 0, "bad parameter name"},
		{"Digest \"x\"", 0, "bad parameter name"},
		{"Digest", 0, "no parameters"},
		{"Digest   ,  ", 0, "no parameters"},
		{"", 0, "scheme is not Digest"},
		{"Basic YWxpY2U6cGFzcw==", 0, "scheme is not Digest"},
		{"Digestusername=\"a\"", 0, "scheme is not Digest"},
		{"Digest,username=\"a\"", 0, "scheme is not Digest"},
		{"Dig", 0, "scheme is not Digest"},
		{"Digest nc=1", 0, "nc is not 8 hex digits"},
		{"Digest nc=0000000g", 0, "nc is not 8 hex digits"},
		{"Digest nc=000000001", 0, "nc is not 8 hex digits"},
		{"Digest nc=\"0000 001\"", 0, "nc is not 8 hex digits"},
		{"Digest username=\"a\x01\"", 0, "control character in quoted string"},
		{"Digest username=\"a\nb\"", 0, "control character in quoted string"},
		{"Digest username=\"a\x7f\"", 0, "control character in quoted string"},
		{"Digest username=\"a\\\nb\"", 0, "bad escape in quoted string"},
		{"Digest username=a@b", 0, "expected ',' between parameters"},
		{"Digest uri=sip:x", 0, "expected ',' between parameters"},
		{"Digest username=\"a\"; realm=\"b\"", 0, "expected ',' between parameters"},
		{"Digest username=\"a\xff\xfe\", \x80=1", 0, "bad parameter name"},
		/* NUL bytes inside the given length. */
		{"Digest username=\"a\0b\"", 21, "control character in quoted string"},
		{"Digest username=\"a\\\0b\"", 22, "bad escape in quoted string"},
		{"Digest username=a\0", 18, "expected ',' between parameters"},
		{"\0Digest username=\"a\"", 20, "scheme is not Digest"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct sip_auth_cred c;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].h);
		int err = sip_auth_parse(cases[i].h, len, &c);
		if (err != EBADMSG || strcmp(c.why, cases[i].why))
			fail_msg("case %zu: err %d why \"%s\", wanted EBADMSG \"%s\"", i, err,
				 c.why ? c.why : "(null)", cases[i].why);
	}
	struct sip_auth_cred c;
	assert_int_equal(sip_auth_parse(NULL, 0, &c), EBADMSG);
}

static void test_parse_overlong(void **state)
{
	static const struct {
		const char *name;
		size_t max; /* longest accepted value */
		const char *why;
	} cases[] = {
		{"username", 127, "username too long"},
		{"realm", 127, "realm too long"},
		{"nonce", 127, "nonce too long"},
		{"uri", 511, "uri too long"},
		{"response", 64, "response too long"},
		{"cnonce", 127, "cnonce too long"},
		{"qop", 15, "qop too long"},
		{"opaque", 127, "opaque too long"},
	};
	char *h = malloc(70000), *v = malloc(70000);
	assert_non_null(h);
	assert_non_null(v);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct sip_auth_cred c;
		memset(v, 'a', cases[i].max);
		v[cases[i].max] = '\0';
		snprintf(h, 70000, "Digest %s=\"%s\"", cases[i].name, v);
		assert_int_equal(sip_auth_parse(h, strlen(h), &c), 0);
		snprintf(h, 70000, "Digest %s=%sa", cases[i].name, v); /* token form too */
		assert_int_equal(sip_auth_parse(h, strlen(h), &c), EBADMSG);
		assert_string_equal(c.why, cases[i].why);
		snprintf(h, 70000, "Digest %s=\"%sa\"", cases[i].name, v);
		assert_int_equal(sip_auth_parse(h, strlen(h), &c), EBADMSG);
		assert_string_equal(c.why, cases[i].why);
	}
	/* An unknown parameter of any length is skipped, not stored. */
	memset(v, 'x', 65000);
	v[65000] = '\0';
	snprintf(h, 70000, "Digest x-long=\"%s\", username=\"u\"", v);
	struct sip_auth_cred c;
	assert_int_equal(sip_auth_parse(h, strlen(h), &c), 0);
	assert_string_equal(c.username, "u");
	free(h);
	free(v);
}

/* Deterministic noise, with bias towards the bytes the grammar cares about. */
static void test_parse_garbage(void **state)
{
	static const char alphabet[] = "Digest usernamecqop=\",\\ \t\r\n\0\x01\x7f\xff-";
	uint32_t x = 12345;
	char buf[256];
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		if (round & 1) {
			memcpy(buf, "Digest ", 7);
			len = 7;
		}
		x = x * 1103515245u + 12345u;
		size_t n = (x >> 16) % (sizeof buf - len);
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			buf[len++] = (x >> 24) & 1 ? (char)(x >> 16)
						   : alphabet[(x >> 16) % (sizeof alphabet - 1)];
		}
		struct sip_auth_cred c;
		int err = sip_auth_parse(buf, len, &c);
		assert_true(err == 0 || err == EBADMSG || err == ENOTSUP);
		if (err)
			assert_non_null(c.why);
	}
}

static void test_alloc_args(void **state)
{
	struct sip_auth *a = (struct sip_auth *)1;
	char realm[200];
	assert_int_equal(sip_auth_alloc(&a, "", LIFE), EINVAL);
	assert_null(a);
	assert_int_equal(sip_auth_alloc(&a, NULL, LIFE), EINVAL);
	assert_int_equal(sip_auth_alloc(&a, "a\"b", LIFE), EINVAL);
	assert_int_equal(sip_auth_alloc(&a, "a\\b", LIFE), EINVAL);
	assert_int_equal(sip_auth_alloc(&a, "a\nb", LIFE), EINVAL);
	assert_int_equal(sip_auth_alloc(&a, REALM, 0), EINVAL);
	assert_int_equal(sip_auth_alloc(&a, REALM, 86401), EINVAL);
	memset(realm, 'r', 128);
	realm[128] = '\0';
	assert_int_equal(sip_auth_alloc(&a, realm, LIFE), EINVAL);
	realm[127] = '\0';
	assert_int_equal(sip_auth_alloc(&a, realm, LIFE), 0);
	/* The longest realm still fits the challenge, stale=true included. */
	struct sip_auth_chal ch;
	assert_int_equal(sip_auth_challenge(a, 1, true, &ch), 0);
	assert_non_null(strstr(ch.value[0], ", stale=true"));
	sip_auth_free(a);
	sip_auth_free(NULL);
	assert_string_equal(sip_auth_alg_name(SIP_AUTH_MD5), "MD5");
	assert_string_equal(sip_auth_alg_name(SIP_AUTH_SHA256), "SHA-256");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_kat_rfc7616),       cmocka_unit_test(test_kat_independent),
	cmocka_unit_test(test_challenge),         cmocka_unit_test(test_verify_ok),
	cmocka_unit_test(test_wrong_password),    cmocka_unit_test(test_tampered_nonce),
	cmocka_unit_test(test_expired),           cmocka_unit_test(test_nc_replay),
	cmocka_unit_test(test_nc_retransmission), cmocka_unit_test(test_nc_table_bounded),
	cmocka_unit_test(test_realm_opaque),      cmocka_unit_test(test_verify_badmsg),
	cmocka_unit_test(test_parse_ok),          cmocka_unit_test(test_parse_algorithms),
	cmocka_unit_test(test_parse_malformed),   cmocka_unit_test(test_parse_overlong),
	cmocka_unit_test(test_parse_garbage),     cmocka_unit_test(test_alloc_args),
};

UNIT_GROUP(sip_auth, tests, NULL, NULL);
