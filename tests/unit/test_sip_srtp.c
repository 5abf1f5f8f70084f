/**
 * @file test_sip_srtp.c  The SIP driver's SRTP signalling: our SDES offers, answers, refusals, keys
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The driver's key and policy helpers with the SDP module around them, as
 * chan_sip uses them: an offer we build must parse back with every suite
 * usable; an answer to an SRTP offer carries the offer's tag and suite
 * with a key of ours; a plain offer to a mandatory user is refused with a
 * reason; the media parameters carry our key out and the peer's in; the
 * profile a callee is offered first, and which refusals earn it the other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/chan_sip.h"
#include "pbx/codec.h"
#include "pbx/config.h"
#include "unit.h"

static const struct pbx_codec_desc *codecs[2]; /* PCMU, PCMA: filled by group_setup */

static int group_setup(void **state)
{
	codecs[0] = pbx_codec_find("PCMU");
	codecs[1] = pbx_codec_find("PCMA");
	return codecs[0] && codecs[1] ? 0 : -1;
}

static struct sockaddr_storage local_addr(void)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	return ss;
}

static struct sdp_session *parse(const char *body)
{
	struct sdp_session *s = malloc(sizeof *s);
	const char *why = NULL;
	assert_non_null(s);
	assert_int_equal(sdp_parse(s, body, strlen(body), &why), 0);
	return s;
}

/* A phone's offer: RTP/SAVP or RTP/AVP, with a=crypto lines @p crypto ("" for none). */
static struct sdp_session *phone_offer(const char *proto, const char *crypto)
{
	char body[1024];
	snprintf(body, sizeof body,
		 "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
		 "m=audio 4000 %s 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n%s"
		 "a=sendrecv\r\n",
		 proto, crypto);
	return parse(body);
}

static void test_policy_map(void **state)
{
	(void)state;
	assert_int_equal(sip__srtp_policy(PBX_SRTP_OFF), SDP_SRTP_OFF);
	assert_int_equal(sip__srtp_policy(PBX_SRTP_OPTIONAL), SDP_SRTP_OPTIONAL);
	assert_int_equal(sip__srtp_policy(PBX_SRTP_MANDATORY), SDP_SRTP_MANDATORY);
	assert_int_equal(sip__srtp_policy(-1), SDP_SRTP_OPTIONAL);
}

/* A mandatory offer: RTP/SAVP, four usable a=crypto lines, 80 first, fresh keys. */
static void test_mandatory_offer(void **state)
{
	(void)state;
	struct sdp_crypto keys[SIP_SRTP_NSUITES], again[SIP_SRTP_NSUITES];
	struct sockaddr_storage ss = local_addr();
	struct pbx_buf b;
	assert_int_equal(sip__srtp_offer_keys(keys), SIP_SRTP_NSUITES);
	struct sdp_build_spec sp = {.sess_id = 1,
				    .sess_version = 1,
				    .addr = (const struct sockaddr *)&ss,
				    .port = 10000,
				    .dir = PBX_DIR_SENDRECV,
				    .codecs = codecs,
				    .ncodecs = 2,
				    .dtmf_pt = 101,
				    .proto = SDP_PROTO_RTP_SAVP,
				    .crypto = keys,
				    .ncrypto = SIP_SRTP_NSUITES};
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	assert_non_null(strstr(b.data, "m=audio 10000 RTP/SAVP 0 8 101\r\n"));
	assert_non_null(strstr(b.data, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
	struct sdp_session *s = parse(b.data);
	assert_int_equal(s->nmedia, 1);
	const struct sdp_media *m = &s->media[0];
	assert_int_equal(m->proto, SDP_PROTO_RTP_SAVP);
	assert_int_equal(m->ncrypto, SIP_SRTP_NSUITES);
	assert_int_equal(m->crypto_bad, 0);
	static const enum sdp_suite want[] = {
		SDP_SUITE_AES_CM_128_HMAC_SHA1_80, SDP_SUITE_AES_CM_128_HMAC_SHA1_32,
		SDP_SUITE_AEAD_AES_128_GCM, SDP_SUITE_AEAD_AES_256_GCM};
	for (unsigned i = 0; i < SIP_SRTP_NSUITES; i++) {
		assert_true(sdp_crypto_usable(&m->crypto[i]));
		assert_int_equal(m->crypto[i].tag, i + 1);
		assert_int_equal(m->crypto[i].suite, want[i]);
		assert_int_equal(m->crypto[i].key_len, sdp_suite_key_len(want[i]));
		assert_memory_equal(m->crypto[i].key, keys[i].key, keys[i].key_len);
	}
	/* Every offer has its own keys. */
	assert_int_equal(sip__srtp_offer_keys(again), SIP_SRTP_NSUITES);
	for (unsigned i = 0; i < SIP_SRTP_NSUITES; i++)
		assert_memory_not_equal(again[i].key, keys[i].key, keys[i].key_len);
	free(s);
	pbx_buf_free(&b);
}

/* A phone's SAVP offer answered: its tag and suite, our own key; params tx ours, rx theirs. */
static void test_answer_savp(void **state)
{
	(void)state;
	struct sdp_session *offer = phone_offer(
		"RTP/SAVP",
		"a=crypto:7 AEAD_AES_128_GCM inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA==\r\n"
		"a=crypto:9 AES_CM_128_HMAC_SHA1_80 "
		"inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw\r\n");
	struct sdp_prefs prefs = {
		.codecs = codecs, .ncodecs = 2, .srtp = SDP_SRTP_OPTIONAL, .dir = PBX_DIR_SENDRECV};
	struct sdp_choice ch;
	assert_int_equal(sdp_negotiate_offer(offer, &prefs, &ch), 0);
	assert_true(ch.srtp);
	assert_int_equal(ch.crypto.tag, 7);
	assert_int_equal(ch.crypto.suite, SDP_SUITE_AEAD_AES_128_GCM);

	struct sdp_crypto key;
	assert_int_equal(sip__srtp_answer_key(&key, &ch), 0);
	assert_int_equal(key.tag, 7);
	assert_int_equal(key.suite, SDP_SUITE_AEAD_AES_128_GCM);
	assert_int_equal(key.key_len, 28);
	assert_memory_not_equal(key.key, ch.crypto.key, key.key_len);

	struct sockaddr_storage ss = local_addr();
	struct sdp_build_spec sp = {.sess_id = 1,
				    .sess_version = 1,
				    .addr = (const struct sockaddr *)&ss,
				    .port = 10000,
				    .offer = offer,
				    .choice = &ch,
				    .crypto = &key,
				    .ncrypto = 1};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	struct sdp_session *ans = parse(b.data);
	assert_int_equal(ans->media[0].proto, SDP_PROTO_RTP_SAVP);
	assert_int_equal(ans->media[0].ncrypto, 1);
	assert_int_equal(ans->media[0].crypto[0].tag, 7);
	assert_int_equal(ans->media[0].crypto[0].suite, SDP_SUITE_AEAD_AES_128_GCM);
	assert_memory_equal(ans->media[0].crypto[0].key, key.key, key.key_len);
	assert_memory_not_equal(ans->media[0].crypto[0].key, ch.crypto.key, key.key_len);

	struct pbx_rtp_params p;
	sdp_choice_rtp_params(&ch, &p);
	assert_int_equal(sip__srtp_params(&ch, &key, 1, &p), 0);
	assert_true(p.srtp);
	assert_int_equal(p.tx.suite, PBX_SRTP_AEAD_AES_128_GCM);
	assert_int_equal(p.rx.suite, PBX_SRTP_AEAD_AES_128_GCM);
	assert_int_equal(p.tx.len, 28);
	assert_memory_equal(p.tx.key, key.key, 28);
	assert_memory_equal(p.rx.key, ch.crypto.key, 28);

	/* A fresh answer (a re-INVITE) has another key. */
	struct sdp_crypto key2;
	assert_int_equal(sip__srtp_answer_key(&key2, &ch), 0);
	assert_memory_not_equal(key2.key, key.key, key.key_len);

	/* A key of another tag is not ours: no SRTP params. */
	key2.tag = 8;
	assert_int_equal(sip__srtp_params(&ch, &key2, 1, &p), ENOENT);
	assert_false(p.srtp);

	free(ans);
	free(offer);
	pbx_buf_free(&b);
}

/* Our offer's answer: params from the tag it chose. */
static void test_answer_to_our_offer(void **state)
{
	(void)state;
	struct sdp_crypto keys[SIP_SRTP_NSUITES];
	struct sockaddr_storage ss = local_addr();
	struct pbx_buf b;
	assert_int_equal(sip__srtp_offer_keys(keys), SIP_SRTP_NSUITES);
	struct sdp_build_spec sp = {.sess_id = 1,
				    .sess_version = 1,
				    .addr = (const struct sockaddr *)&ss,
				    .port = 10000,
				    .dir = PBX_DIR_SENDRECV,
				    .codecs = codecs,
				    .ncodecs = 2,
				    .dtmf_pt = 101,
				    .proto = SDP_PROTO_RTP_SAVP,
				    .crypto = keys,
				    .ncrypto = SIP_SRTP_NSUITES};
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	struct sdp_session *ours = parse(b.data);
	struct sdp_session *ans =
		phone_offer("RTP/SAVP", "a=crypto:2 AES_CM_128_HMAC_SHA1_32 "
					"inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw\r\n");
	struct sdp_choice ch;
	assert_int_equal(sdp_negotiate_answer(ours, ans, &ch), 0);
	assert_true(ch.srtp);
	struct pbx_rtp_params p;
	sdp_choice_rtp_params(&ch, &p);
	assert_int_equal(sip__srtp_params(&ch, keys, SIP_SRTP_NSUITES, &p), 0);
	assert_true(p.srtp);
	assert_int_equal(p.tx.suite, PBX_SRTP_AES_CM_128_HMAC_SHA1_32);
	assert_memory_equal(p.tx.key, keys[1].key, 30);
	assert_memory_equal(p.rx.key, ch.crypto.key, 30);
	free(ans);

	/* A plain answer to a SAVP offer is refused. */
	ans = phone_offer("RTP/AVP", "");
	assert_int_equal(sdp_negotiate_answer(ours, ans, &ch), ENOTSUP);
	free(ans);
	free(ours);
	pbx_buf_free(&b);
}

/* Mandatory + plain offer: 488 "SRTP required"; a codec mismatch keeps the default phrase. */
static void test_refusal(void **state)
{
	(void)state;
	struct sdp_session *offer = phone_offer("RTP/AVP", "");
	struct sdp_prefs prefs = {.codecs = codecs,
				  .ncodecs = 2,
				  .srtp = SDP_SRTP_MANDATORY,
				  .dir = PBX_DIR_SENDRECV};
	struct sdp_choice ch;
	const char *reason = "x";
	char warn[256];
	assert_int_equal(sdp_negotiate_offer(offer, &prefs, &ch), ENOTSUP);
	assert_int_equal(sip__offer_refusal(&ch, SDP_SRTP_MANDATORY, &reason, warn, sizeof warn),
			 488);
	assert_non_null(reason);
	assert_string_equal(reason, "SRTP required");
	assert_non_null(
		strstr(warn, "Warning: 305 pbx \"Incompatible media format: SRTP required"));

	/* The same offer under optional is taken as plain RTP. */
	prefs.srtp = SDP_SRTP_OPTIONAL;
	assert_int_equal(sdp_negotiate_offer(offer, &prefs, &ch), 0);
	assert_false(ch.srtp);
	free(offer);

	/* No common codec under mandatory: not an SRTP refusal. */
	offer = parse("v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n"
		      "t=0 0\r\nm=audio 4000 RTP/SAVP 18\r\n"
		      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
		      "inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw\r\n");
	prefs.srtp = SDP_SRTP_MANDATORY;
	assert_int_equal(sdp_negotiate_offer(offer, &prefs, &ch), ENOTSUP);
	assert_int_equal(sip__offer_refusal(&ch, SDP_SRTP_MANDATORY, &reason, warn, sizeof warn),
			 488);
	assert_null(reason);
	free(offer);

	/* No codec of ours in the offer: 488 with the default phrase, the Warning says why. */
	const struct pbx_codec_desc *opus_only[] = {pbx_codec_find("opus")};
	offer = phone_offer("RTP/AVP", "");
	prefs = (struct sdp_prefs){.codecs = opus_only,
				   .ncodecs = 1,
				   .srtp = SDP_SRTP_OPTIONAL,
				   .dir = PBX_DIR_SENDRECV};
	assert_int_equal(sdp_negotiate_offer(offer, &prefs, &ch), ENOTSUP);
	assert_int_equal(sip__offer_refusal(&ch, SDP_SRTP_OPTIONAL, &reason, warn, sizeof warn),
			 488);
	assert_null(reason);
	assert_non_null(strstr(warn, "Incompatible media format: no common codec"));
	free(offer);
}

/* The profile of a callee's first INVITE: its policy, and when optional the caller's leg. */
static void test_offer_profile(void **state)
{
	(void)state;
	assert_true(sip__offer_srtp(SDP_SRTP_MANDATORY, false));
	assert_true(sip__offer_srtp(SDP_SRTP_MANDATORY, true));
	assert_false(sip__offer_srtp(SDP_SRTP_OFF, false));
	assert_false(sip__offer_srtp(SDP_SRTP_OFF, true));
	assert_true(sip__offer_srtp(SDP_SRTP_OPTIONAL, true));
	assert_false(sip__offer_srtp(SDP_SRTP_OPTIONAL, false)); /* also: no caller */
}

struct resp {
	char buf[1024];
	struct sip_msg m;
};

/* A final response to an INVITE: status line @p status, extra header lines @p hdrs. */
static struct resp *response(const char *status, const char *hdrs)
{
	struct resp *r = malloc(sizeof *r);
	const char *why;
	assert_non_null(r);
	int n = snprintf(r->buf, sizeof r->buf,
			 "SIP/2.0 %s\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\n"
			 "From: <sip:1001@pbx.local>;tag=a\r\nTo: <sip:1002@pbx.local>;tag=b\r\n"
			 "Call-ID: c\r\nCSeq: 1 INVITE\r\n%sContent-Length: 0\r\n\r\n",
			 status, hdrs);
	assert_true(n > 0 && (size_t)n < sizeof r->buf);
	assert_int_equal(sip_msg_parse(&r->m, r->buf, (size_t)n, &why), 0);
	return r;
}

static bool refused(const char *status, const char *hdrs)
{
	struct resp *r = response(status, hdrs);
	bool yes = sip__media_refused(&r->m, r->m.status);
	free(r);
	return yes;
}

/* Which final responses refuse the media (and so earn a re-offer), and under which policy. */
static void test_reoffer_decision(void **state)
{
	(void)state;
	/* 488 always, whatever it says. */
	assert_true(refused("488 Not Acceptable Here", ""));
	assert_true(refused("488 Whatever", ""));
	/* 415 and 406 only when they name the media. */
	assert_false(refused("415 Unsupported Media Type", "Accept: application/sdp\r\n"));
	assert_true(refused("415 Unsupported Media Type",
			    "Warning: 305 phone \"Incompatible media format\"\r\n"));
	assert_true(refused("415 SRTP required", ""));
	assert_true(refused("406 Encryption Required", ""));
	assert_true(refused("406 Not Acceptable", "Warning: 399 a \"x\", 303 b \"RTP/SAVP\"\r\n"));
	assert_false(refused("406 Not Acceptable", "Warning: 399x a \"x\"\r\n"));
	assert_false(refused("406 Not Acceptable", "Warning: 499 a \"media\"\r\n"));
	assert_false(refused("406 Not Acceptable", ""));
	assert_true(refused("406 No crypto suite in common", ""));
	/* Other failures never, even naming the media. */
	assert_false(refused("486 Busy Here", ""));
	assert_false(
		refused("603 Decline", "Warning: 305 phone \"Incompatible media format\"\r\n"));
	assert_false(refused("500 SRTP failure", ""));
	/* No response (timeout, transport error): nothing was refused. */
	assert_false(sip__media_refused(NULL, 408));
	assert_true(sip__media_refused(NULL, 488));

	struct resp *r = response("488 Not Acceptable Here", "");
	/* Only an optional callee gets the other profile, and only once. */
	assert_true(sip__reoffer_wanted(SDP_SRTP_OPTIONAL, false, &r->m, 488));
	assert_false(sip__reoffer_wanted(SDP_SRTP_OPTIONAL, true, &r->m, 488));
	assert_false(sip__reoffer_wanted(SDP_SRTP_MANDATORY, false, &r->m, 488));
	assert_false(sip__reoffer_wanted(SDP_SRTP_OFF, false, &r->m, 488));
	free(r);
	r = response("486 Busy Here", "");
	assert_false(sip__reoffer_wanted(SDP_SRTP_OPTIONAL, false, &r->m, 486));
	free(r);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_policy_map),       cmocka_unit_test(test_mandatory_offer),
	cmocka_unit_test(test_answer_savp),      cmocka_unit_test(test_answer_to_our_offer),
	cmocka_unit_test(test_refusal),          cmocka_unit_test(test_offer_profile),
	cmocka_unit_test(test_reoffer_decision),
};

UNIT_GROUP(sip_srtp, tests, group_setup, NULL);
