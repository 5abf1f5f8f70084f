/**
 * @file test_sip_sdp.c  SDP: parsing phones' offers, offer/answer, a=crypto, building, bad input
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The bodies below are written for these tests in the shape that common
 * phones send (Yealink, Polycom, baresip, Linphone), not copied from any.
 * Keys are counting byte sequences so a decoded key can be checked byte by
 * byte; their base64 forms were computed independently.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_sdp.h"
#include "pbx/codec.h"
#include "unit.h"

/* Bytes 0x00..0x1d (30), 0x40.. (28), 0x80.. (44), 0xa0.. (30), in base64. */
#define KEY30_00 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define KEY28_40 "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaWw=="
#define KEY44_80 "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp+goaKjpKWmp6ipqqs="
#define KEY30_A0 "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9"

/* Large: keep them off the stack of each test. */
static struct sdp_session offer_s, answer_s, third_s;

/* The registered codecs, and lists of ours as chan_sip hands them in; filled by group_setup. */
static const struct pbx_codec_desc *pcmu, *pcma, *g722, *opus;
static const struct pbx_codec_desc *both[2], *alaw_first[2], *ulaw_only[1];
static const struct pbx_codec_desc *shipped[4]; /* rtp.codecs by default */

static const struct sdp_prefs prefs_plain = {both, 2, SDP_SRTP_OFF, PBX_DIR_SENDRECV};
static const struct sdp_prefs prefs_optional = {both, 2, SDP_SRTP_OPTIONAL, PBX_DIR_SENDRECV};
static const struct sdp_prefs prefs_shipped = {shipped, 4, SDP_SRTP_OFF, PBX_DIR_SENDRECV};

static int group_setup(void **state)
{
	pcmu = pbx_codec_find("PCMU");
	pcma = pbx_codec_find("PCMA");
	g722 = pbx_codec_find("G722");
	opus = pbx_codec_find("opus");
	if (!pcmu || !pcma || !g722 || !opus)
		return -1;
	both[0] = alaw_first[1] = ulaw_only[0] = pcmu;
	both[1] = alaw_first[0] = pcma;
	shipped[0] = opus;
	shipped[1] = g722;
	shipped[2] = pcmu;
	shipped[3] = pcma;
	return 0;
}

static void parse_ok(struct sdp_session *s, const char *body)
{
	const char *why = NULL;
	int err = sdp_parse(s, body, strlen(body), &why);
	if (err)
		fail_msg("sdp_parse: %s (line %u)", why ? why : "?", s->err_line);
}

static void parse_bad(const char *body, size_t len)
{
	const char *why = NULL;
	assert_int_equal(sdp_parse(&third_s, body, len, &why), EBADMSG);
	assert_non_null(why);
	assert_int_equal(third_s.nmedia, 0);
}

static void assert_addr(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	char text[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
		assert_int_equal(ntohs(sin->sin_port), port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		assert_int_equal(ss->ss_family, AF_INET6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
		assert_int_equal(ntohs(sin6->sin6_port), port);
	}
	assert_string_equal(text, ip);
}

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	return ss;
}

/* Answer @p offer_s with @p ch from 10.0.0.1:20000 into @p out. */
static void build_answer(struct pbx_buf *out, const struct sdp_choice *ch,
			 const struct sdp_crypto *key)
{
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {
		.username = "pbx",
		.sess_id = 42,
		.sess_version = 1,
		.addr = (struct sockaddr *)&a,
		.port = 20000,
		.crypto = key,
		.ncrypto = key ? 1 : 0,
		.offer = &offer_s,
		.choice = ch,
	};
	pbx_buf_init(out);
	assert_int_equal(sdp_build(out, &sp), 0);
}

/* ---- real phones ------------------------------------------------------------- */

static const char yealink[] = "v=0\r\n"
			      "o=- 20011 20011 IN IP4 192.168.10.51\r\n"
			      "s=SDP data\r\n"
			      "c=IN IP4 192.168.10.51\r\n"
			      "t=0 0\r\n"
			      "m=audio 11790 RTP/AVP 0 8 18 9 101\r\n"
			      "a=rtpmap:0 PCMU/8000\r\n"
			      "a=rtpmap:8 PCMA/8000\r\n"
			      "a=rtpmap:18 G729/8000\r\n"
			      "a=fmtp:18 annexb=no\r\n"
			      "a=rtpmap:9 G722/8000\r\n"
			      "a=fmtp:101 0-15\r\n"
			      "a=rtpmap:101 telephone-event/8000\r\n"
			      "a=ptime:20\r\n"
			      "a=sendrecv\r\n";

static void test_sdp_yealink(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, yealink);
	assert_string_equal(offer_s.origin.username, "-");
	assert_string_equal(offer_s.origin.sess_id, "20011");
	assert_string_equal(offer_s.origin.sess_version, "20011");
	assert_string_equal(offer_s.origin.addr, "192.168.10.51");
	assert_int_equal(offer_s.conn.family, AF_INET);
	assert_int_equal(offer_s.nmedia, 1);
	const struct sdp_media *m = &offer_s.media[0];
	assert_int_equal(m->type, SDP_MTYPE_AUDIO);
	assert_int_equal(m->port, 11790);
	assert_int_equal(m->proto, SDP_PROTO_RTP_AVP);
	assert_int_equal(m->nfmts, 5);
	assert_int_equal(m->fmts[2].pt, 18);
	assert_string_equal(m->fmts[2].name, "G729");
	assert_string_equal(m->fmts[2].fmtp, "annexb=no");
	assert_int_equal(m->fmts[4].pt, 101);
	assert_string_equal(m->fmts[4].name, "telephone-event");
	assert_string_equal(m->fmts[4].fmtp, "0-15");
	assert_int_equal(m->ptime, 20);
	assert_int_equal(m->dir, PBX_DIR_SENDRECV);
	assert_string_equal(m->conn.addr, "192.168.10.51");

	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_int_equal(ch.index, 0);
	assert_ptr_equal(ch.codec, pcmu);
	assert_int_equal(ch.pt, 0);
	assert_int_equal(ch.dtmf_pt, 101);
	assert_string_equal(ch.dtmf_fmtp, "0-15");
	assert_int_equal(ch.ptime, 20);
	assert_int_equal(ch.rtcp_port, 11791);
	assert_int_equal(ch.dir, PBX_DIR_SENDRECV);
	assert_false(ch.srtp);
	assert_addr(&ch.remote, "192.168.10.51", 11790);

	struct pbx_rtp_params rp;
	sdp_choice_rtp_params(&ch, &rp);
	assert_ptr_equal(rp.codec, pbx_codec_find("PCMU"));
	assert_int_equal(rp.pt, 0);
	assert_int_equal(rp.dtmf_pt, 101);
	assert_int_equal(rp.ptime, 20);
	assert_int_equal(rp.dir, PBX_DIR_SENDRECV);
	assert_addr(&rp.remote, "192.168.10.51", 11790);

	struct pbx_buf b;
	build_answer(&b, &ch, NULL);
	assert_string_equal(b.data, "v=0\r\n"
				    "o=pbx 42 1 IN IP4 10.0.0.1\r\n"
				    "s=-\r\n"
				    "c=IN IP4 10.0.0.1\r\n"
				    "t=0 0\r\n"
				    "m=audio 20000 RTP/AVP 0 101\r\n"
				    "a=rtpmap:0 PCMU/8000\r\n"
				    "a=rtpmap:101 telephone-event/8000\r\n"
				    "a=fmtp:101 0-15\r\n"
				    "a=ptime:20\r\n"
				    "a=sendrecv\r\n");
	pbx_buf_free(&b);
}

/* Wideband first, telephone-event on 127, a session name with spaces. */
static const char polycom[] = "v=0\r\n"
			      "o=- 1712345678 1712345678 IN IP4 172.16.4.20\r\n"
			      "s=Polycom IP Phone\r\n"
			      "c=IN IP4 172.16.4.20\r\n"
			      "t=0 0\r\n"
			      "a=sendrecv\r\n"
			      "m=audio 2222 RTP/AVP 9 102 115 0 8 127\r\n"
			      "a=rtpmap:9 G722/8000\r\n"
			      "a=rtpmap:102 G7221/16000\r\n"
			      "a=fmtp:102 bitrate=32000\r\n"
			      "a=rtpmap:115 G7221/32000\r\n"
			      "a=fmtp:115 bitrate=48000\r\n"
			      "a=rtpmap:0 PCMU/8000\r\n"
			      "a=rtpmap:8 PCMA/8000\r\n"
			      "a=rtpmap:127 telephone-event/8000\r\n";

static void test_sdp_polycom(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, polycom);
	assert_int_equal(offer_s.media[0].nfmts, 6);
	assert_int_equal(offer_s.media[0].fmts[1].rate, 16000);
	/* Our order decides, not the offer's: A-law, listed after u-law. */
	static const struct sdp_prefs p = {alaw_first, 2, SDP_SRTP_OFF, PBX_DIR_SENDRECV};
	assert_int_equal(sdp_negotiate_offer(&offer_s, &p, &ch), 0);
	assert_ptr_equal(ch.codec, pcma);
	assert_int_equal(ch.pt, 8);
	assert_int_equal(ch.dtmf_pt, 127);
	assert_string_equal(ch.dtmf_fmtp, "");
	assert_int_equal(ch.ptime, 20);
}

/* Opus first, telephone-event at two rates, rtcp-mux and a=rtcp. */
static const char baresip[] = "v=0\r\n"
			      "o=- 3915463812 1466232114 IN IP4 10.20.30.40\r\n"
			      "s=-\r\n"
			      "c=IN IP4 10.20.30.40\r\n"
			      "t=0 0\r\n"
			      "m=audio 10462 RTP/AVP 96 0 8 97 101\r\n"
			      "b=AS:64\r\n"
			      "a=rtpmap:96 opus/48000/2\r\n"
			      "a=fmtp:96 stereo=1;sprop-stereo=1\r\n"
			      "a=rtpmap:97 telephone-event/48000\r\n"
			      "a=rtpmap:101 telephone-event/8000\r\n"
			      "a=fmtp:101 0-15\r\n"
			      "a=rtcp:10463\r\n"
			      "a=rtcp-mux\r\n"
			      "a=sendrecv\r\n"
			      "a=label:1\r\n"
			      "a=ssrc:2840188340 cname:eb1c8e3a\r\n";

static void test_sdp_baresip(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, baresip);
	const struct sdp_media *m = &offer_s.media[0];
	assert_string_equal(m->fmts[0].name, "opus");
	assert_int_equal(m->fmts[0].rate, 48000);
	assert_int_equal(m->fmts[0].channels, 2);
	assert_int_equal(m->rtcp_port, 10463);
	assert_true(m->rtcp_mux);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_ptr_equal(ch.codec, pcmu);
	/* The telephone-event at the codec's clock, not the first one listed. */
	assert_int_equal(ch.dtmf_pt, 101);
	assert_int_equal(ch.rtcp_port, 10463);
}

/* Many codecs, three telephone-events, session-level extras Linphone sends. */
static const char linphone[] =
	"v=0\n"
	"o=alice 2471 3044 IN IP4 192.168.0.23\n"
	"s=Talk\n"
	"c=IN IP4 192.168.0.23\n"
	"t=0 0\n"
	"a=ice-pwd:9d0d4c1e5b0f0d7a\n"
	"a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\n"
	"m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\n"
	"a=rtpmap:96 opus/48000/2\n"
	"a=fmtp:96 useinbandfec=1\n"
	"a=rtpmap:97 speex/16000\n"
	"a=fmtp:97 vbr=on\n"
	"a=rtpmap:98 speex/8000\n"
	"a=fmtp:98 vbr=on\n"
	"a=fmtp:18 annexb=yes\n"
	"a=rtpmap:101 telephone-event/48000\n"
	"a=rtpmap:99 telephone-event/16000\n"
	"a=rtpmap:100 telephone-event/8000\n"
	"a=rtcp:7079\n"
	"a=rtcp-fb:* trr-int 1000\n"
	"a=rtcp-fb:* ccm tmmbr\n";

static void test_sdp_linphone(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, linphone);
	assert_string_equal(offer_s.origin.username, "alice");
	assert_int_equal(offer_s.media[0].nfmts, 9);
	/* Static 18 without rtpmap gets its RFC 3551 name. */
	assert_string_equal(offer_s.media[0].fmts[5].name, "G729");
	assert_false(offer_s.media[0].fmts[5].rtpmap);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_ptr_equal(ch.codec, pcmu);
	assert_int_equal(ch.pt, 0);
	assert_int_equal(ch.dtmf_pt, 100);
	assert_int_equal(ch.rtcp_port, 7079);
}

/* Static payload types without any rtpmap, A-law first. */
static void test_sdp_static_only(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, "v=0\r\n"
			   "o=gw 1 1 IN IP4 198.51.100.7\r\n"
			   "s=-\r\n"
			   "c=IN IP4 198.51.100.7\r\n"
			   "t=0 0\r\n"
			   "m=audio 40000 RTP/AVP 8 0\r\n");
	assert_string_equal(offer_s.media[0].fmts[0].name, "PCMA");
	assert_int_equal(offer_s.media[0].fmts[0].rate, 8000);
	static const struct sdp_prefs a = {alaw_first, 2, SDP_SRTP_OFF, PBX_DIR_SENDRECV};
	assert_int_equal(sdp_negotiate_offer(&offer_s, &a, &ch), 0);
	assert_ptr_equal(ch.codec, pcma);
	assert_int_equal(ch.pt, 8);
	assert_int_equal(ch.dtmf_pt, 0);
	assert_int_equal(ch.ptime, 20);

	/* U-law first on our side: the second format is taken, our order decides. */
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_ptr_equal(ch.codec, pcmu);
	assert_int_equal(ch.pt, 0);
	/* Only u-law on our side: the same. */
	static const struct sdp_prefs p = {ulaw_only, 1, SDP_SRTP_OFF, PBX_DIR_SENDRECV};
	assert_int_equal(sdp_negotiate_offer(&offer_s, &p, &ch), 0);
	assert_ptr_equal(ch.codec, pcmu);

	struct pbx_buf b;
	build_answer(&b, &ch, NULL);
	assert_non_null(strstr(b.data, "m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
				       "a=ptime:20\r\na=sendrecv\r\n"));
	assert_null(strstr(b.data, "telephone-event"));
	pbx_buf_free(&b);
}

/* Dynamic PTs for G.711 and telephone-event on 96; uppercase names. */
static void test_sdp_dynamic_pts(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, "v=0\r\n"
			   "o=- 5 5 IN IP4 203.0.113.9\r\n"
			   "s=-\r\n"
			   "t=0 0\r\n"
			   "m=audio 16384 RTP/AVP 110 96\r\n"
			   "c=IN IP4 203.0.113.9\r\n"
			   "a=rtpmap:110 pcmu/8000/1\r\n"
			   "a=rtpmap:96 TELEPHONE-EVENT/8000\r\n"
			   "a=fmtp:96 0-16\r\n"
			   "a=ptime:30\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_ptr_equal(ch.codec, pcmu);
	assert_int_equal(ch.pt, 110);
	assert_int_equal(ch.dtmf_pt, 96);
	assert_int_equal(ch.ptime, 30);
	struct pbx_buf b;
	build_answer(&b, &ch, NULL);
	assert_non_null(strstr(b.data, "m=audio 20000 RTP/AVP 110 96\r\n"
				       "a=rtpmap:110 PCMU/8000\r\n"
				       "a=rtpmap:96 telephone-event/8000\r\n"
				       "a=fmtp:96 0-16\r\n"));
	/* Our answer parses, and reads back as the same choice. */
	parse_ok(&answer_s, b.data);
	struct sdp_choice back;
	assert_int_equal(sdp_negotiate_answer(&offer_s, &answer_s, &back), 0);
	assert_ptr_equal(back.codec, pcmu);
	assert_int_equal(back.pt, 110);
	assert_int_equal(back.dtmf_pt, 96);
	pbx_buf_free(&b);
	/* A tab inside the fmtp is echoed as it came (found by the fuzzer). */
	struct sdp_choice tab = ch;
	strcpy(tab.dtmf_fmtp, "0-\t15");
	build_answer(&b, &tab, NULL);
	assert_non_null(strstr(b.data, "a=fmtp:96 0-\t15\r\n"));
	pbx_buf_free(&b);

	/* Stereo G.711 or the wrong clock is no codec of ours. */
	parse_ok(&offer_s, "v=0\r\no=- 5 5 IN IP4 203.0.113.9\r\nc=IN IP4 203.0.113.9\r\n"
			   "m=audio 16384 RTP/AVP 110 111\r\n"
			   "a=rtpmap:110 PCMU/8000/2\r\na=rtpmap:111 PCMA/16000\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), ENOTSUP);
}

static void test_sdp_ipv6(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, "v=0\r\n"
			   "o=- 77 77 IN IP6 2001:db8::5\r\n"
			   "s=-\r\n"
			   "c=IN IP6 2001:db8::5\r\n"
			   "t=0 0\r\n"
			   "m=audio 5004 RTP/AVP 0\r\n"
			   "c=IN IP6 2001:DB8:0:0:0:0:0:77\r\n");
	assert_int_equal(offer_s.conn.family, AF_INET6);
	assert_int_equal(offer_s.media[0].conn.family, AF_INET6);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	/* The media-level c= wins over the session's. */
	assert_addr(&ch.remote, "2001:db8::77", 5004);

	struct sockaddr_storage a = v6("2001:db8::1");
	struct sdp_build_spec sp = {.sess_id = 1,
				    .sess_version = 2,
				    .addr = (struct sockaddr *)&a,
				    .port = 30000,
				    .offer = &offer_s,
				    .choice = &ch};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	assert_non_null(strstr(b.data, "o=- 1 2 IN IP6 2001:db8::1\r\n"));
	assert_non_null(strstr(b.data, "c=IN IP6 2001:db8::1\r\n"));
	parse_ok(&answer_s, b.data);
	assert_int_equal(answer_s.media[0].conn.family, AF_INET6);
	pbx_buf_free(&b);
}

/* Video and a BFCP stream around the audio: both rejected in place. */
static void test_sdp_reject_other_streams(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, "v=0\r\n"
			   "o=- 9 9 IN IP4 192.0.2.10\r\n"
			   "s=-\r\n"
			   "c=IN IP4 192.0.2.10\r\n"
			   "t=0 0\r\n"
			   "m=video 9000 RTP/AVP 96 97\r\n"
			   "a=rtpmap:96 H264/90000\r\n"
			   "a=fmtp:96 profile-level-id=42801f; packetization-mode=1\r\n"
			   "a=rtpmap:97 VP8/90000\r\n"
			   "m=audio 8000 RTP/AVP 8 101\r\n"
			   "a=rtpmap:101 telephone-event/8000\r\n"
			   "m=application 5070 TCP/BFCP *\r\n"
			   "a=floorctrl:c-s\r\n");
	assert_int_equal(offer_s.nmedia, 3);
	assert_int_equal(offer_s.media[0].type, SDP_MTYPE_VIDEO);
	assert_int_equal(offer_s.media[0].nfmts, 0); /* not kept: only ever rejected */
	assert_string_equal(offer_s.media[2].type_name, "application");
	assert_string_equal(offer_s.media[2].proto_name, "TCP/BFCP");
	assert_int_equal(offer_s.media[2].proto, SDP_PROTO_OTHER);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_int_equal(ch.index, 1);
	assert_ptr_equal(ch.codec, pcma);

	struct pbx_buf b;
	build_answer(&b, &ch, NULL);
	assert_string_equal(b.data, "v=0\r\n"
				    "o=pbx 42 1 IN IP4 10.0.0.1\r\n"
				    "s=-\r\n"
				    "c=IN IP4 10.0.0.1\r\n"
				    "t=0 0\r\n"
				    "m=video 0 RTP/AVP 96\r\n"
				    "m=audio 20000 RTP/AVP 8 101\r\n"
				    "a=rtpmap:8 PCMA/8000\r\n"
				    "a=rtpmap:101 telephone-event/8000\r\n"
				    "a=ptime:20\r\n"
				    "a=sendrecv\r\n"
				    "m=application 0 TCP/BFCP *\r\n");
	parse_ok(&answer_s, b.data);
	assert_int_equal(answer_s.nmedia, 3);
	assert_int_equal(answer_s.media[0].port, 0);
	assert_int_equal(answer_s.media[2].port, 0);
	pbx_buf_free(&b);

	/* Two audio streams: the first usable one is taken, the other rejected. */
	parse_ok(&offer_s, "v=0\r\no=- 9 9 IN IP4 192.0.2.10\r\nc=IN IP4 192.0.2.10\r\n"
			   "m=audio 8000 RTP/AVP 18\r\n"
			   "m=audio 8002 RTP/AVP 0\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_int_equal(ch.index, 1);
	build_answer(&b, &ch, NULL);
	assert_non_null(strstr(b.data, "m=audio 0 RTP/AVP 18\r\nm=audio 20000 RTP/AVP 0\r\n"));
	pbx_buf_free(&b);
}

static void test_sdp_no_common_codec(void **state)
{
	struct sdp_choice ch;
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			   "t=0 0\r\nm=audio 4000 RTP/AVP 18 3 101\r\n"
			   "a=rtpmap:101 telephone-event/8000\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), ENOTSUP);
	assert_string_equal(ch.why, "no common codec");
	/* Only a disabled audio stream, or only video: nothing to answer. */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
			   "m=audio 0 RTP/AVP 0\r\nm=video 5000 RTP/AVP 31\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), ENOTSUP);
	assert_non_null(ch.why);
	/* DTLS-SRTP (WebRTC) is not ours. */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
			   "m=audio 5000 UDP/TLS/RTP/SAVPF 111 0\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), ENOTSUP);
	/* Bad arguments. */
	static const struct sdp_prefs none = {both, 0, SDP_SRTP_OFF, PBX_DIR_SENDRECV};
	assert_int_equal(sdp_negotiate_offer(&offer_s, &none, &ch), EINVAL);
	assert_int_equal(sdp_negotiate_offer(NULL, &prefs_plain, &ch), EINVAL);
}

static enum pbx_media_dir answer_dir(const char *session_attr, const char *media_attr,
				     enum pbx_media_dir ours, enum pbx_media_dir *remote)
{
	char body[512];
	struct sdp_choice ch;
	struct sdp_prefs p = {both, 2, SDP_SRTP_OFF, ours};
	snprintf(body, sizeof(body),
		 "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n%s"
		 "m=audio 4000 RTP/AVP 0\r\n%s",
		 session_attr, media_attr);
	parse_ok(&offer_s, body);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &p, &ch), 0);
	*remote = ch.remote_dir;
	return ch.dir;
}

static void test_sdp_direction(void **state)
{
	enum pbx_media_dir r;
	const enum pbx_media_dir SR = PBX_DIR_SENDRECV, SO = PBX_DIR_SENDONLY,
				 RO = PBX_DIR_RECVONLY, IN = PBX_DIR_INACTIVE;
	assert_int_equal(answer_dir("", "", SR, &r), SR);
	assert_int_equal(r, SR);
	assert_int_equal(answer_dir("", "a=sendonly\r\n", SR, &r), RO);
	assert_int_equal(r, SO);
	assert_int_equal(answer_dir("", "a=recvonly\r\n", SR, &r), SO);
	assert_int_equal(answer_dir("", "a=inactive\r\n", SR, &r), IN);
	assert_int_equal(answer_dir("", "a=sendrecv\r\n", SR, &r), SR);
	/* Session level applies to media without their own; media level wins. */
	assert_int_equal(answer_dir("a=sendonly\r\n", "", SR, &r), RO);
	assert_int_equal(answer_dir("a=sendonly\r\n", "a=sendrecv\r\n", SR, &r), SR);
	/* We hold (sendonly) and they offer sendrecv / sendonly. */
	assert_int_equal(answer_dir("", "", SO, &r), SO);
	assert_int_equal(answer_dir("", "a=sendonly\r\n", SO, &r), IN);

	assert_int_equal(sdp_dir_reverse(SO), RO);
	assert_int_equal(sdp_dir_reverse(RO), SO);
	assert_int_equal(sdp_dir_reverse(SR), SR);
	assert_int_equal(sdp_dir_reverse(IN), IN);
	assert_int_equal(sdp_dir_intersect(SO, RO), IN);
	assert_int_equal(sdp_dir_intersect(SR, RO), RO);
	assert_int_equal(sdp_dir_intersect(SO, SO), SO);
	assert_string_equal(sdp_dir_name(RO), "recvonly");
	assert_string_equal(sdp_dir_name(IN), "inactive");
}

/* RFC 2543 hold: c=0.0.0.0 means "send nothing to me". */
static void test_sdp_old_hold(void **state)
{
	struct sdp_choice ch;
	struct pbx_buf b;
	parse_ok(&offer_s, "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
			   "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
	assert_true(offer_s.media[0].zero_addr);
	assert_int_equal(offer_s.media[0].dir, PBX_DIR_SENDRECV);
	assert_int_equal(sdp_media_remote_dir(&offer_s.media[0]), PBX_DIR_SENDONLY);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_int_equal(ch.remote_dir, PBX_DIR_SENDONLY);
	assert_int_equal(ch.dir, PBX_DIR_RECVONLY);
	build_answer(&b, &ch, NULL);
	assert_non_null(strstr(b.data, "a=recvonly\r\n"));
	pbx_buf_free(&b);

	parse_ok(&offer_s, "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
			   "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_int_equal(ch.remote_dir, PBX_DIR_INACTIVE);
	assert_int_equal(ch.dir, PBX_DIR_INACTIVE);

	parse_ok(&offer_s, "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::\r\n"
			   "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n");
	assert_true(offer_s.media[0].zero_addr);
	assert_int_equal(sdp_media_remote_dir(&offer_s.media[0]), PBX_DIR_SENDONLY);

	/* A real address with sendonly is the modern hold; same result for us. */
	parse_ok(&offer_s, "v=0\r\no=- 1 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			   "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n");
	assert_false(offer_s.media[0].zero_addr);
	assert_int_equal(sdp_media_remote_dir(&offer_s.media[0]), PBX_DIR_SENDONLY);
}

/* ---- a=crypto ------------------------------------------------------------------ */

static void assert_counting_key(const struct sdp_crypto *c, unsigned first, unsigned n)
{
	assert_int_equal(c->key_len, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(c->key[i], (first + i) & 255);
}

static int crypto(struct sdp_crypto *c, const char *s, const char **why)
{
	*why = NULL;
	int err = sdp_crypto_parse(c, s, strlen(s), why);
	if (err)
		assert_non_null(*why);
	return err;
}

static void test_sdp_crypto_suites(void **state)
{
	struct sdp_crypto c;
	const char *why;
	assert_int_equal(crypto(&c, "1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^20|1:4", &why),
			 0);
	assert_int_equal(c.tag, 1);
	assert_int_equal(c.suite, SDP_SUITE_AES_CM_128_HMAC_SHA1_80);
	assert_counting_key(&c, 0, 30);
	assert_int_equal(c.lifetime, 1 << 20);
	assert_int_equal(c.mki, 1);
	assert_int_equal(c.mki_len, 4);
	assert_int_equal(c.nkeys, 1);
	assert_int_equal(c.kdr, -1);
	assert_true(sdp_crypto_usable(&c));

	assert_int_equal(crypto(&c, "2 AES_CM_128_HMAC_SHA1_32 inline:" KEY30_A0 "|1048576", &why),
			 0);
	assert_int_equal(c.suite, SDP_SUITE_AES_CM_128_HMAC_SHA1_32);
	assert_counting_key(&c, 0xa0, 30);
	assert_int_equal(c.lifetime, 1048576);
	assert_int_equal(c.mki_len, 0);

	assert_int_equal(crypto(&c, "3 AEAD_AES_128_GCM inline:" KEY28_40 "|2^31|7:2", &why), 0);
	assert_int_equal(c.suite, SDP_SUITE_AEAD_AES_128_GCM);
	assert_counting_key(&c, 0x40, 28);
	assert_int_equal(c.mki, 7);
	assert_int_equal(c.mki_len, 2);

	assert_int_equal(crypto(&c, "4 AEAD_AES_256_GCM inline:" KEY44_80 " WSH=128", &why), 0);
	assert_int_equal(c.suite, SDP_SUITE_AEAD_AES_256_GCM);
	assert_counting_key(&c, 0x80, 44);
	assert_int_equal(c.lifetime, 0);
	assert_int_equal(c.wsh, 128);
	assert_true(sdp_crypto_usable(&c));

	/* MKI without lifetime; padding left out; optional "-" parameter ignored. */
	assert_int_equal(
		crypto(&c,
		       "5 AEAD_AES_128_GCM inline:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaWw|3:1"
		       " -X_FUTURE=1",
		       &why),
		0);
	assert_counting_key(&c, 0x40, 28);
	assert_int_equal(c.mki, 3);
	assert_int_equal(c.mki_len, 1);

	/* Two keys: both checked, the first kept, not usable by us. */
	assert_int_equal(crypto(&c,
				"6 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00
				"|2^20|1:4;inline:" KEY30_A0 "|2^20|2:4",
				&why),
			 0);
	assert_int_equal(c.nkeys, 2);
	assert_counting_key(&c, 0, 30);
	assert_false(sdp_crypto_usable(&c));

	/* Session parameters we parse but will not use. */
	assert_int_equal(
		crypto(&c, "7 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 " KDR=0 UNENCRYPTED_SRTCP",
		       &why),
		0);
	assert_int_equal(c.kdr, 0);
	assert_true(c.unencrypted_srtcp);
	assert_false(sdp_crypto_usable(&c));
	assert_int_equal(crypto(&c,
				"8 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00
				" FEC_ORDER=FEC_SRTP FEC_KEY=inline:" KEY30_A0,
				&why),
			 0);
	assert_true(c.fec);
	assert_counting_key(&c, 0, 30);

	/* 2^0 is a lifetime of one packet: silly, but in the grammar (found by the fuzzer). */
	assert_int_equal(crypto(&c, "9 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^0", &why), 0);
	assert_int_equal(c.lifetime, 1);

	assert_string_equal(sdp_suite_name(SDP_SUITE_AEAD_AES_256_GCM), "AEAD_AES_256_GCM");
	assert_null(sdp_suite_name(SDP_SUITE_UNKNOWN));
	assert_int_equal(sdp_suite_key_len(SDP_SUITE_AES_CM_128_HMAC_SHA1_32), 30);
	assert_int_equal(sdp_suite_key_len(SDP_SUITE_AEAD_AES_128_GCM), 28);
	assert_int_equal(sdp_suite_key_len(SDP_SUITE_AEAD_AES_256_GCM), 44);
}

static void test_sdp_crypto_malformed(void **state)
{
	struct sdp_crypto c;
	const char *why;
	static const char *const bad[] = {
		"1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaG$wd",
		"1 AES_CM_128_HMAC_SHA1_80 inline:AAEC=wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",
		"1 AES_CM_128_HMAC_SHA1_80 inline:A",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY28_40, /* 28 bytes for a 30-byte suite */
		"1 AEAD_AES_256_GCM inline:" KEY30_00,        /* 30 for 44 */
		"1 AES_CM_128_HMAC_SHA1_80 " KEY30_00,        /* no inline: */
		"1 AES_CM_128_HMAC_SHA1_80 uri:" KEY30_00,    /* another key method */
		"1 AES_CM_128_HMAC_SHA1_80",                  /* no key at all */
		"x AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00, /* bad tag */
		"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00,
		"",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^49",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|0",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^20|1:0",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^20|256:1",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^20|1:4|9",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 " KDR=25",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 " WSH=32",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 " FEC_ORDER=BOTH",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 " NEW_MANDATORY_THING",
		"1 AES-CM inline:" KEY30_00,
		"1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 KEY30_00
			KEY30_00, /* longer than any key */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (crypto(&c, bad[i], &why) != EBADMSG)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(crypto(&c, "1 AES_CM_128_HMAC_SHA1_80 " KEY30_00, &why), EBADMSG);
	assert_string_equal(why, "a=crypto key without inline:");
	assert_int_equal(crypto(&c, "1 AES_CM_128_HMAC_SHA1_80 inline:" KEY28_40, &why), EBADMSG);
	assert_string_equal(why, "a=crypto key length does not match the suite");

	/* An unknown suite is kept, flagged, and never used. */
	assert_int_equal(crypto(&c, "9 F8_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^20", &why), 0);
	assert_int_equal(c.suite, SDP_SUITE_UNKNOWN);
	assert_string_equal(c.suite_name, "F8_128_HMAC_SHA1_80");
	assert_counting_key(&c, 0, 30);
	assert_false(sdp_crypto_usable(&c));

	/* In a body: bad lines are dropped and counted, good ones kept. */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			   "t=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
			   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:@@@\r\n"
			   "a=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:" KEY44_80 "\r\n"
			   "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:" KEY30_00 "\r\n");
	const struct sdp_media *m = &offer_s.media[0];
	assert_int_equal(m->crypto_bad, 1);
	assert_string_equal(m->crypto_why, "a=crypto key is not base64");
	assert_int_equal(m->ncrypto, 2);
	assert_int_equal(m->crypto[0].tag, 2);
	assert_int_equal(m->crypto[0].suite, SDP_SUITE_UNKNOWN);
	assert_int_equal(m->crypto[1].tag, 3);
	struct sdp_choice ch;
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_optional, &ch), 0);
	assert_true(ch.srtp);
	assert_int_equal(ch.crypto.tag, 3); /* the first usable one */
}

static void test_sdp_crypto_roundtrip(void **state)
{
	static const enum sdp_suite s[] = {SDP_SUITE_AES_CM_128_HMAC_SHA1_80,
					   SDP_SUITE_AES_CM_128_HMAC_SHA1_32,
					   SDP_SUITE_AEAD_AES_128_GCM, SDP_SUITE_AEAD_AES_256_GCM};
	struct sdp_crypto keys[4];
	struct pbx_buf b;
	pbx_buf_init(&b);
	for (unsigned i = 0; i < 4; i++) {
		struct sdp_crypto *c = &keys[i], back;
		const char *why;
		memset(c, 0, sizeof(*c));
		c->tag = i + 1;
		c->suite = s[i];
		strcpy(c->suite_name, sdp_suite_name(s[i]));
		c->key_len = (uint8_t)sdp_suite_key_len(s[i]);
		for (unsigned k = 0; k < c->key_len; k++)
			c->key[k] = (uint8_t)(k * 37 + i);
		c->lifetime = i == 1 ? 1000000 : (uint64_t)1 << (20 + i);
		c->mki = i;
		c->mki_len = (uint8_t)(i ? i : 0);
		c->nkeys = 1;
		c->kdr = -1;
		pbx_buf_reset(&b);
		assert_int_equal(sdp_crypto_print(&b, c), 0);
		assert_int_equal(sdp_crypto_parse(&back, b.data, b.len, &why), 0);
		assert_memory_equal(&back, c, sizeof(back));
	}
	assert_int_equal(b.len, strlen(b.data));
	pbx_buf_reset(&b);
	assert_int_equal(sdp_crypto_print(&b, &keys[0]), 0);
	assert_string_equal(
		b.data,
		"1 AES_CM_128_HMAC_SHA1_80 inline:ACVKb5S53gMoTXKXvOEGK1B1mr/kCS5TeJ3C5wwx|2^20");

	/* A whole SAVP offer with two keys, built and parsed back. */
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {.username = "pbx",
				    .sess_id = 7,
				    .sess_version = 8,
				    .sess_name = "call",
				    .addr = (struct sockaddr *)&a,
				    .port = 12000,
				    .dir = PBX_DIR_SENDRECV,
				    .codecs = both,
				    .ncodecs = 2,
				    .dtmf_pt = 101,
				    .proto = SDP_PROTO_RTP_SAVP,
				    .crypto = keys,
				    .ncrypto = 4};
	pbx_buf_reset(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	parse_ok(&offer_s, b.data);
	const struct sdp_media *m = &offer_s.media[0];
	assert_int_equal(m->proto, SDP_PROTO_RTP_SAVP);
	assert_int_equal(m->ncrypto, 4);
	assert_int_equal(m->crypto_bad, 0);
	for (unsigned i = 0; i < 4; i++)
		assert_memory_equal(&m->crypto[i], &keys[i], sizeof(keys[i]));
	pbx_buf_free(&b);

	/* Nothing that cannot be written back. */
	struct sdp_crypto c = keys[0];
	c.key_len = 29;
	pbx_buf_init(&b);
	assert_int_equal(sdp_crypto_print(&b, &c), EINVAL);
	c = keys[0];
	c.mki = 300;
	c.mki_len = 1;
	assert_int_equal(sdp_crypto_print(&b, &c), EINVAL);
	c = keys[0];
	c.suite = SDP_SUITE_UNKNOWN;
	strcpy(c.suite_name, "BAD NAME");
	assert_int_equal(sdp_crypto_print(&b, &c), EINVAL);
	pbx_buf_free(&b);
}

static void test_sdp_srtp_negotiation(void **state)
{
	struct sdp_choice ch;
	static const char savp[] =
		"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
		"t=0 0\r\nm=audio 4000 RTP/SAVP 0 101\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=crypto:1 AEAD_AES_256_GCM inline:" KEY44_80 "\r\n"
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "|2^20|1:4\r\n";
	parse_ok(&offer_s, savp);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_optional, &ch), 0);
	assert_true(ch.srtp);
	assert_int_equal(ch.proto, SDP_PROTO_RTP_SAVP);
	assert_int_equal(ch.crypto.tag, 1);
	assert_int_equal(ch.crypto.suite, SDP_SUITE_AEAD_AES_256_GCM);
	assert_counting_key(&ch.crypto, 0x80, 44);

	/* Our answer: one key, the offer's tag and suite, our key bytes. */
	struct sdp_crypto ours = {
		.tag = ch.crypto.tag, .suite = ch.crypto.suite, .kdr = -1, .nkeys = 1};
	ours.key_len = (uint8_t)sdp_suite_key_len(ours.suite);
	memset(ours.key, 0x5a, ours.key_len);
	struct pbx_buf b;
	build_answer(&b, &ch, &ours);
	assert_non_null(strstr(b.data, "m=audio 20000 RTP/SAVP 0 101\r\n"));
	assert_non_null(strstr(b.data, "a=crypto:1 AEAD_AES_256_GCM inline:"));
	parse_ok(&answer_s, b.data);
	struct sdp_choice back;
	assert_int_equal(sdp_negotiate_answer(&offer_s, &answer_s, &back), 0);
	assert_true(back.srtp);
	assert_int_equal(back.crypto.key[0], 0x5a);
	pbx_buf_free(&b);

	/* The answer's key must match the choice: a wrong tag, or none, is refused. */
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {.addr = (struct sockaddr *)&a,
				    .port = 20000,
				    .offer = &offer_s,
				    .choice = &ch,
				    .crypto = &ours,
				    .ncrypto = 1};
	ours.tag = 2;
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), EINVAL);
	sp.ncrypto = 0;
	assert_int_equal(sdp_build(&b, &sp), EINVAL);
	assert_int_equal(b.len, 0);
	pbx_buf_free(&b);

	/* SRTP off for this user: RTP/SAVP cannot be answered. */
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), ENOTSUP);
	assert_string_equal(ch.why, "SRTP offered but not enabled");

	/* RTP/SAVP whose only key is unusable. */
	parse_ok(&offer_s,
		 "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
		 "m=audio 4000 RTP/SAVP 0\r\n"
		 "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 " UNENCRYPTED_SRTP\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_optional, &ch), ENOTSUP);

	/* Best-effort SRTP: RTP/AVP with keys. */
	static const char avp_keys[] = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
				       "m=audio 4000 RTP/AVP 8\r\n"
				       "a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:" KEY30_A0 "\r\n";
	parse_ok(&offer_s, avp_keys);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_optional, &ch), 0);
	assert_true(ch.srtp);
	assert_int_equal(ch.crypto.tag, 5);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_false(ch.srtp);

	/* Mandatory: plain RTP is refused. */
	static const struct sdp_prefs mand = {both, 2, SDP_SRTP_MANDATORY, PBX_DIR_SENDRECV};
	parse_ok(&offer_s, yealink);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &mand, &ch), ENOTSUP);
	assert_string_equal(ch.why, "SRTP required but not offered");

	/* SAVP and AVP streams side by side: the policy picks one. */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
			   "m=audio 4000 RTP/SAVP 0\r\n"
			   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "\r\n"
			   "m=audio 4002 RTP/AVP 0\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_int_equal(ch.index, 1);
	assert_false(ch.srtp);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &mand, &ch), 0);
	assert_int_equal(ch.index, 0);
	assert_true(ch.srtp);
}

/* We offer; the phone answers. */
static void offer_ours(struct pbx_buf *b, enum sdp_proto proto, const struct sdp_crypto *keys,
		       int nkeys, enum pbx_media_dir dir)
{
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {.username = "pbx",
				    .sess_id = 100,
				    .sess_version = 1,
				    .addr = (struct sockaddr *)&a,
				    .port = 10000,
				    .dir = dir,
				    .codecs = both,
				    .ncodecs = 2,
				    .dtmf_pt = 101,
				    .proto = proto,
				    .crypto = keys,
				    .ncrypto = nkeys};
	pbx_buf_init(b);
	assert_int_equal(sdp_build(b, &sp), 0);
	parse_ok(&offer_s, b->data);
}

static int answer(const char *media, struct sdp_choice *ch)
{
	char body[1024];
	snprintf(
		body, sizeof(body),
		"v=0\r\no=phone 8 8 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n%s",
		media);
	parse_ok(&answer_s, body);
	return sdp_negotiate_answer(&offer_s, &answer_s, ch);
}

static void test_sdp_offer_answer(void **state)
{
	struct sdp_choice ch;
	struct pbx_buf b;
	offer_ours(&b, SDP_PROTO_RTP_AVP, NULL, 0, PBX_DIR_SENDRECV);
	assert_string_equal(b.data, "v=0\r\n"
				    "o=pbx 100 1 IN IP4 10.0.0.1\r\n"
				    "s=-\r\n"
				    "c=IN IP4 10.0.0.1\r\n"
				    "t=0 0\r\n"
				    "m=audio 10000 RTP/AVP 0 8 101\r\n"
				    "a=rtpmap:0 PCMU/8000\r\n"
				    "a=rtpmap:8 PCMA/8000\r\n"
				    "a=rtpmap:101 telephone-event/8000\r\n"
				    "a=fmtp:101 0-16\r\n"
				    "a=ptime:20\r\n"
				    "a=sendrecv\r\n");
	pbx_buf_free(&b);

	assert_int_equal(
		answer("m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
		       "a=ptime:40\r\n",
		       &ch),
		0);
	assert_ptr_equal(ch.codec, pcma);
	assert_int_equal(ch.pt, 8);
	assert_int_equal(ch.dtmf_pt, 101);
	assert_int_equal(ch.ptime, 40);
	assert_int_equal(ch.dir, PBX_DIR_SENDRECV);
	assert_addr(&ch.remote, "192.0.2.50", 30000);
	assert_false(ch.srtp);

	/* The answerer may renumber telephone-event; we send with its number. */
	assert_int_equal(
		answer("m=audio 30000 RTP/AVP 0 100\r\na=rtpmap:100 telephone-event/8000\r\n", &ch),
		0);
	assert_int_equal(ch.dtmf_pt, 100);
	/* Hold answered: they say recvonly, so we only send. */
	assert_int_equal(answer("m=audio 30000 RTP/AVP 0\r\na=recvonly\r\n", &ch), 0);
	assert_int_equal(ch.dir, PBX_DIR_SENDONLY);
	assert_int_equal(ch.dtmf_pt, 0);

	assert_int_equal(answer("m=audio 30000 RTP/AVP 18\r\n", &ch), ENOTSUP);
	assert_int_equal(answer("m=audio 0 RTP/AVP 0\r\n", &ch), ENOTSUP);
	assert_string_equal(ch.why, "audio stream rejected");
	assert_int_equal(answer("m=audio 30000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n", &ch),
			 EBADMSG);
	assert_int_equal(answer("m=video 30000 RTP/AVP 31\r\n", &ch), EBADMSG);

	/* We hold: an answer of sendrecv still leaves us sending only. */
	offer_ours(&b, SDP_PROTO_RTP_AVP, NULL, 0, PBX_DIR_SENDONLY);
	assert_non_null(strstr(b.data, "a=sendonly\r\n"));
	pbx_buf_free(&b);
	assert_int_equal(answer("m=audio 30000 RTP/AVP 0\r\na=recvonly\r\n", &ch), 0);
	assert_int_equal(ch.dir, PBX_DIR_SENDONLY);
	assert_int_equal(answer("m=audio 30000 RTP/AVP 0\r\n", &ch), 0);
	assert_int_equal(ch.dir, PBX_DIR_SENDONLY);

	/* SRTP: the answer must name one of our tags with the same suite. */
	struct sdp_crypto keys[2] = {
		{.tag = 1,
		 .suite = SDP_SUITE_AES_CM_128_HMAC_SHA1_80,
		 .key_len = 30,
		 .nkeys = 1,
		 .kdr = -1},
		{.tag = 2,
		 .suite = SDP_SUITE_AEAD_AES_128_GCM,
		 .key_len = 28,
		 .nkeys = 1,
		 .kdr = -1},
	};
	offer_ours(&b, SDP_PROTO_RTP_SAVP, keys, 2, PBX_DIR_SENDRECV);
	pbx_buf_free(&b);
	assert_int_equal(answer("m=audio 30000 RTP/SAVP 0\r\n"
				"a=crypto:2 AEAD_AES_128_GCM inline:" KEY28_40 "\r\n",
				&ch),
			 0);
	assert_true(ch.srtp);
	assert_int_equal(ch.crypto.tag, 2);
	assert_counting_key(&ch.crypto, 0x40, 28);
	assert_int_equal(answer("m=audio 30000 RTP/SAVP 0\r\n"
				"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "\r\n",
				&ch),
			 ENOTSUP);
	assert_int_equal(answer("m=audio 30000 RTP/SAVP 0\r\n", &ch), ENOTSUP);
	assert_int_equal(answer("m=audio 30000 RTP/SAVP 0\r\n"
				"a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_00 "\r\n",
				&ch),
			 ENOTSUP);

	/* Best effort: keys on RTP/AVP; a plain answer is plain RTP. */
	offer_ours(&b, SDP_PROTO_RTP_AVP, keys, 1, PBX_DIR_SENDRECV);
	pbx_buf_free(&b);
	assert_int_equal(answer("m=audio 30000 RTP/AVP 0\r\n", &ch), 0);
	assert_false(ch.srtp);
	assert_int_equal(answer("m=audio 30000 RTP/AVP 0\r\n"
				"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_A0 "\r\n",
				&ch),
			 0);
	assert_true(ch.srtp);
	assert_counting_key(&ch.crypto, 0xa0, 30);
}

/* ---- codecs: our list, our order ---------------------------------------------------------- */

/* Our offer of the shipped rtp.codecs: opus dynamic with its fmtp, G.722 on 9 at 8000, G.711. */
static void test_sdp_offer_codecs(void **state)
{
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {.username = "pbx",
				    .sess_id = 100,
				    .sess_version = 1,
				    .addr = (struct sockaddr *)&a,
				    .port = 10000,
				    .dir = PBX_DIR_SENDRECV,
				    .codecs = shipped,
				    .ncodecs = 4,
				    .dtmf_pt = 101,
				    .proto = SDP_PROTO_RTP_AVP};
	struct sdp_choice ch;
	struct pbx_rtp_params rp;
	char want[1024];
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	assert_non_null(opus->fmtp);
	snprintf(want, sizeof(want),
		 "v=0\r\n"
		 "o=pbx 100 1 IN IP4 10.0.0.1\r\n"
		 "s=-\r\n"
		 "c=IN IP4 10.0.0.1\r\n"
		 "t=0 0\r\n"
		 "m=audio 10000 RTP/AVP 96 9 0 8 101\r\n"
		 "a=rtpmap:96 opus/48000/2\r\n"
		 "a=fmtp:96 %s\r\n"
		 "a=rtpmap:9 G722/8000\r\n"
		 "a=rtpmap:0 PCMU/8000\r\n"
		 "a=rtpmap:8 PCMA/8000\r\n"
		 "a=rtpmap:101 telephone-event/8000\r\n"
		 "a=fmtp:101 0-16\r\n"
		 "a=ptime:20\r\n"
		 "a=sendrecv\r\n",
		 opus->fmtp);
	assert_string_equal(b.data, want);
	/* Read back, each format is the codec it was written for. */
	parse_ok(&offer_s, b.data);
	const struct sdp_media *m = &offer_s.media[0];
	assert_int_equal(m->nfmts, 5);
	for (unsigned i = 0; i < 4; i++)
		assert_true(sdp_fmt_is(&m->fmts[i], shipped[i]));
	assert_false(sdp_fmt_is(&m->fmts[1], pcmu));
	assert_string_equal(m->fmts[0].fmtp, opus->fmtp);

	/* The phone answers opus on a number of its own, with telephone-event/8000. */
	assert_int_equal(answer("m=audio 30000 RTP/AVP 111 101\r\n"
				"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"
				"a=rtpmap:101 telephone-event/8000\r\n",
				&ch),
			 0);
	assert_ptr_equal(ch.codec, opus);
	assert_int_equal(ch.pt, 111);
	assert_int_equal(ch.dtmf_pt, 101);
	assert_int_equal(ch.dtmf_rate, 8000);
	/* Its fmtp goes to the engine, whose encoder follows it. */
	assert_string_equal(ch.fmtp, "useinbandfec=1");
	sdp_choice_rtp_params(&ch, &rp);
	assert_ptr_equal(rp.codec, opus);
	assert_int_equal(rp.pt, 111);
	assert_string_equal(rp.fmtp, "useinbandfec=1");
	/* G.722 by its static number alone. */
	assert_int_equal(answer("m=audio 30000 RTP/AVP 9\r\n", &ch), 0);
	assert_ptr_equal(ch.codec, g722);
	assert_int_equal(ch.pt, 9);
	assert_int_equal(ch.dtmf_pt, 0);
	/* An answer's own order among what we offered: the answerer chose. */
	assert_int_equal(answer("m=audio 30000 RTP/AVP 8 0\r\n", &ch), 0);
	assert_ptr_equal(ch.codec, pcma);
	/* Telephone-event only at the clock we offered it at. */
	assert_int_equal(answer("m=audio 30000 RTP/AVP 111 100\r\na=rtpmap:111 opus/48000/2\r\n"
				"a=rtpmap:100 telephone-event/48000\r\n",
				&ch),
			 0);
	assert_ptr_equal(ch.codec, opus);
	assert_int_equal(ch.dtmf_pt, 0);
	/* Opus at another clock is not what we offered. */
	assert_int_equal(answer("m=audio 30000 RTP/AVP 111\r\na=rtpmap:111 opus/16000/2\r\n", &ch),
			 ENOTSUP);

	/* Dynamic numbers pass over telephone-event's. */
	sp.dtmf_pt = 96;
	pbx_buf_reset(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	assert_non_null(strstr(b.data, "m=audio 10000 RTP/AVP 97 9 0 8 96\r\n"
				       "a=rtpmap:97 opus/48000/2\r\n"));
	/* Without telephone-event, no line for it. */
	sp.dtmf_pt = 0;
	pbx_buf_reset(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	assert_non_null(strstr(b.data, "m=audio 10000 RTP/AVP 96 9 0 8\r\n"));
	assert_null(strstr(b.data, "telephone-event"));
	pbx_buf_free(&b);
}

/* A B2BUA offers the other leg's codec first, so that the call can be relayed as it is. */
static void test_sdp_offer_caller_codec_first(void **state)
{
	const struct pbx_codec_desc *out[4];
	const struct pbx_codec_desc *const want_pcma[] = {pcma, opus, g722, pcmu};
	assert_int_equal(sdp_codecs_prefer(shipped, 4, pcma, out), 4);
	assert_memory_equal(out, want_pcma, sizeof(want_pcma));
	/* Already first, none, or not among ours: our order as it is. */
	assert_int_equal(sdp_codecs_prefer(shipped, 4, opus, out), 4);
	assert_memory_equal(out, shipped, sizeof(shipped));
	assert_int_equal(sdp_codecs_prefer(shipped, 4, NULL, out), 4);
	assert_memory_equal(out, shipped, sizeof(shipped));
	assert_int_equal(sdp_codecs_prefer(both, 2, g722, out), 2);
	assert_memory_equal(out, both, sizeof(both));

	/* The offer lists it first; a phone that takes the first it has keeps it. */
	assert_int_equal(sdp_codecs_prefer(shipped, 4, pcma, out), 4);
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {.sess_id = 1,
				    .sess_version = 1,
				    .addr = (struct sockaddr *)&a,
				    .port = 10000,
				    .dir = PBX_DIR_SENDRECV,
				    .codecs = out,
				    .ncodecs = 4,
				    .dtmf_pt = 101,
				    .proto = SDP_PROTO_RTP_AVP};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	assert_non_null(strstr(b.data, "m=audio 10000 RTP/AVP 8 96 9 0 101\r\n"
				       "a=rtpmap:8 PCMA/8000\r\n"
				       "a=rtpmap:96 opus/48000/2\r\n"));
	pbx_buf_free(&b);
}

/* An offer is answered with the first of OUR codecs that it has, on the offer's PT. */
static void test_sdp_answer_our_order(void **state)
{
	struct sdp_choice ch, back;
	struct pbx_buf b;
	char want[512];
	/* A desk phone lists G.711 first, then G.722, then opus (named in capitals). */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
			   "m=audio 4000 RTP/AVP 0 8 9 107 101\r\n"
			   "a=rtpmap:107 OPUS/48000/2\r\n"
			   "a=fmtp:107 maxplaybackrate=16000\r\n"
			   "a=rtpmap:101 telephone-event/8000\r\n"
			   "a=fmtp:101 0-15\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_shipped, &ch), 0);
	assert_ptr_equal(ch.codec, opus);
	assert_int_equal(ch.pt, 107);
	/* Telephone-event/8000 beside opus/48000: what phones offer. */
	assert_int_equal(ch.dtmf_pt, 101);
	assert_int_equal(ch.dtmf_rate, 8000);
	build_answer(&b, &ch, NULL);
	snprintf(want, sizeof(want),
		 "m=audio 20000 RTP/AVP 107 101\r\n"
		 "a=rtpmap:107 opus/48000/2\r\n"
		 "a=fmtp:107 %s\r\n"
		 "a=rtpmap:101 telephone-event/8000\r\n"
		 "a=fmtp:101 0-15\r\n",
		 opus->fmtp);
	assert_non_null(strstr(b.data, want));
	/* Our answer reads back as the same choice. */
	parse_ok(&answer_s, b.data);
	assert_int_equal(sdp_negotiate_answer(&offer_s, &answer_s, &back), 0);
	assert_ptr_equal(back.codec, opus);
	assert_int_equal(back.pt, 107);
	assert_int_equal(back.dtmf_pt, 101);
	assert_int_equal(back.dtmf_rate, 8000);
	pbx_buf_free(&b);

	/* Without opus on our side: G.722, on 9 at its 8000 clock (RFC 3551 4.5.2). */
	static const struct sdp_prefs wide = {shipped + 1, 3, SDP_SRTP_OFF, PBX_DIR_SENDRECV};
	assert_int_equal(sdp_negotiate_offer(&offer_s, &wide, &ch), 0);
	assert_ptr_equal(ch.codec, g722);
	assert_int_equal(ch.pt, 9);
	assert_int_equal(ch.dtmf_pt, 101);
	build_answer(&b, &ch, NULL);
	assert_non_null(strstr(b.data, "m=audio 20000 RTP/AVP 9 101\r\n"
				       "a=rtpmap:9 G722/8000\r\n"
				       "a=rtpmap:101 telephone-event/8000\r\n"));
	pbx_buf_free(&b);

	/* Telephone-event at the codec's own clock when offered (RFC 4733 2.1). */
	parse_ok(&offer_s, baresip);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_shipped, &ch), 0);
	assert_ptr_equal(ch.codec, opus);
	assert_int_equal(ch.pt, 96);
	assert_int_equal(ch.dtmf_pt, 97);
	assert_int_equal(ch.dtmf_rate, 48000);
	build_answer(&b, &ch, NULL);
	assert_non_null(strstr(b.data, "a=rtpmap:97 telephone-event/48000\r\n"));
	pbx_buf_free(&b);

	/* opus/48000 without a channel count is opus; at another clock it is not. */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
			   "m=audio 4000 RTP/AVP 97 0 96\r\n"
			   "a=rtpmap:97 opus/16000/2\r\na=rtpmap:96 opus/48000\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_shipped, &ch), 0);
	assert_ptr_equal(ch.codec, opus);
	assert_int_equal(ch.pt, 96);
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), 0);
	assert_ptr_equal(ch.codec, pcmu);

	/* Nothing of ours: refused as before (the driver answers 488). */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
			   "m=audio 4000 RTP/AVP 96 18 101\r\n"
			   "a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n");
	assert_int_equal(sdp_negotiate_offer(&offer_s, &prefs_plain, &ch), ENOTSUP);
	assert_string_equal(ch.why, "no common codec");
	assert_null(ch.codec);
}

static void test_sdp_build_invalid(void **state)
{
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sockaddr_storage unix_sa = {.ss_family = AF_UNIX};
	const struct pbx_codec_desc *nullc[] = {NULL}, *twice[] = {pcmu, pcmu};
	struct sdp_build_spec ok = {.addr = (struct sockaddr *)&a,
				    .port = 10000,
				    .codecs = both,
				    .ncodecs = 2,
				    .proto = SDP_PROTO_RTP_AVP};
	struct sdp_build_spec sp;
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(pbx_buf_puts(&b, "keep"), 0);
	assert_int_equal(sdp_build(&b, &ok), 0);
	assert_int_equal(strncmp(b.data, "keepv=0\r\n", 9), 0);
	pbx_buf_reset(&b);
	assert_int_equal(pbx_buf_puts(&b, "keep"), 0);

#define BAD(field, value)                                     \
	do {                                                  \
		sp = ok;                                      \
		sp.field = value;                             \
		assert_int_equal(sdp_build(&b, &sp), EINVAL); \
		assert_string_equal(b.data, "keep");          \
	} while (0)
	BAD(addr, NULL);
	BAD(addr, (struct sockaddr *)&unix_sa);
	BAD(port, 0);
	BAD(ncodecs, 0);
	BAD(codecs, nullc);
	BAD(codecs, twice);
	BAD(codecs, NULL);
	BAD(dtmf_pt, 13);
	BAD(proto, SDP_PROTO_OTHER);
	BAD(username, "has space");
	BAD(username, "");
	BAD(sess_name, "two\r\nlines");
	BAD(offer, &offer_s); /* without a choice */
	BAD(ncrypto, 1);      /* without keys */
#undef BAD
	pbx_buf_free(&b);
}

/* ---- bad and odd input ------------------------------------------------------------ */

#define HDR "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"

static void test_sdp_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\r\n\r\n",
		"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n",             /* missing v= first */
		"v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\n",             /* version */
		"v=0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n",            /* no o= */
		"v=0\r\no=- 1 1 IN IP4\r\n",                       /* short o= */
		"v=0\r\no=- 1 1 IN IP4 a\r\no=- 1 1 IN IP4 a\r\n", /* two o= */
		"v=0\r\nv=0\r\no=- 1 1 IN IP4 a\r\n",
		HDR "m=audio\r\n",                 /* bad m= line */
		HDR "m=audio 4000 RTP/AVP\r\n",    /* no formats */
		HDR "m=audio 70000 RTP/AVP 0\r\n", /* port out of range */
		HDR "m=audio -1 RTP/AVP 0\r\n",
		HDR "m=audio 4000x RTP/AVP 0\r\n",
		HDR "m=audio 4000/ RTP/AVP 0\r\n",
		HDR "m=audio 4000 RTP/AVP 0 128\r\n", /* PT out of range */
		HDR "m=audio 4000 RTP/AVP PCMU\r\n",
		HDR
		"m=audio 4000 RTP/AVP 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 "
		"23 24 25 26 27 28 29 30 31 32\r\n",                 /* 33 formats */
		HDR "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", /* no rate */
		HDR "m=audio 4000 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n",
		HDR "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000/0\r\n",
		HDR "m=audio 4000 RTP/AVP 0\r\na=ptime:0\r\n",
		HDR "m=audio 4000 RTP/AVP 0\r\na=ptime:abc\r\n",
		HDR "m=audio 4000 RTP/AVP 0\r\na=rtcp:0\r\n",
		HDR "m=audio 4000 RTP/AVP 0\r\na=fmtp:x 0-16\r\n",
		"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 4000 RTP/AVP 0\r\n", /* no c= */
		"v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 pbx.example.org\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 ::1\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP6 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 224.2.1.1/127\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 a\r\nc=ATM NSAP 47\r\nm=audio 4000 RTP/AVP 0\r\n",
		HDR "this is not sdp\r\n", /* garbage */
		HDR "=\r\n",
		HDR "A=b\r\n",
		HDR "m=audio 4000 RTP/AVP 0\r\no=- 1 1 IN IP4 a\r\n", /* o= in media */
		HDR "m=audio 4000 RTP/AVP 0\rX\r\n",                  /* bare CR */
		HDR "m=audio 4000 RTP/AVP 0\r\na=\x01\r\n",           /* control char */
		HDR "m=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\n"
		    "m=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\n", /* 9 m= lines */
		HDR "m=averyveryverylongmediatype 0 RTP/AVP 0\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		if (sdp_parse(&third_s, bad[i], strlen(bad[i]), &why) != EBADMSG)
			fail_msg("accepted #%zu: %s", i, bad[i]);
		assert_non_null(why);
	}

	/* NUL bytes inside the body. */
	static const char nul[] = HDR "m=audio 4000 RTP/AVP 0\r\na=x\0y\r\n";
	parse_bad(nul, sizeof(nul) - 1);
	static const char nul2[] = "v=0\0\r\n";
	parse_bad(nul2, sizeof(nul2) - 1);

	/* A line over the limit, and a body over the limit. */
	size_t n = sizeof(HDR) + SDP_MAX_LINE + 8;
	char *big = malloc(SDP_MAX_BODY + 2);
	assert_non_null(big);
	memset(big, 'x', SDP_MAX_BODY + 2);
	memcpy(big, HDR "a=", sizeof(HDR "a=") - 1);
	memcpy(big + n, "\r\n", 2);
	parse_bad(big, n + 2);
	const char *why;
	assert_int_equal(sdp_parse(&third_s, big, n + 2, &why), EBADMSG);
	assert_string_equal(why, "SDP line too long");
	assert_int_equal(third_s.err_line, 6);
	parse_bad(big, SDP_MAX_BODY + 1);
	free(big);

	/* Reasons name the problem. */
	assert_int_equal(sdp_parse(&third_s, "o=x\r\n", 5, &why), EBADMSG);
	assert_string_equal(why, "SDP does not start with v=");
	static const char port[] = HDR "m=audio 65536 RTP/AVP 0\r\n";
	assert_int_equal(sdp_parse(&third_s, port, sizeof(port) - 1, &why), EBADMSG);
	assert_string_equal(why, "m= port out of range");
	assert_int_equal(third_s.err_line, 6);
	assert_int_equal(sdp_parse(&third_s, port, sizeof(port) - 1, NULL), EBADMSG);
}

static void test_sdp_lenient(void **state)
{
	/* LF only, trailing blanks, no s= or t=, no final newline, ptime with a fraction. */
	parse_ok(&offer_s, "v=0 \no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\t\n\n"
			   "m=audio 4000 RTP/AVP 0\na=ptime:20.0\na=x-unknown:1\nz=what\n"
			   "a=sendonly");
	assert_int_equal(offer_s.media[0].ptime, 20);
	assert_int_equal(offer_s.media[0].dir, PBX_DIR_SENDONLY);
	/* A disabled stream needs no c=; port counts are read; a second rtpmap is ignored. */
	parse_ok(&offer_s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
			   "m=audio 0 RTP/AVP 0\r\n"
			   "m=audio 5000/2 RTP/AVP 96\r\nc=IN IP4 192.0.2.2\r\n"
			   "a=rtpmap:96 PCMA/8000\r\na=rtpmap:96 PCMU/8000\r\n");
	assert_int_equal(offer_s.media[1].port, 5000);
	assert_string_equal(offer_s.media[1].fmts[0].name, "PCMA");
	/* A fmtp too long for its field is dropped, not the body. */
	parse_ok(&offer_s, HDR "m=audio 4000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n"
			       "a=fmtp:101 0-16,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,"
			       "49,50,51,52\r\n");
	assert_string_equal(offer_s.media[0].fmts[0].fmtp, "");
	/* Eight streams is the limit, not an error. */
	parse_ok(&offer_s, HDR "m=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\nm=x 0 a 1\r\n"
			       "m=x 0 a 1\r\nm=x 0 a 1\r\nm=audio 1 RTP/AVP 0\r\n");
	assert_int_equal(offer_s.nmedia, 8);
	/* A browser's long video line is not an error either: it is only rejected. */
	parse_ok(&offer_s, HDR "m=video 9 RTP/AVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 "
			       "109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 "
			       "125 126 127 35 36\r\n");
	assert_string_equal(offer_s.media[0].first_fmt, "96");
}

static void test_sdp_session_version(void **state)
{
	/* Same o= version: the re-INVITE changed nothing (RFC 3264 8). */
	parse_ok(&offer_s, yealink);
	parse_ok(&answer_s, yealink);
	assert_string_equal(offer_s.origin.sess_version, answer_s.origin.sess_version);
	struct sockaddr_storage a = v4("10.0.0.1");
	struct sdp_build_spec sp = {.sess_id = 5,
				    .sess_version = UINT64_MAX,
				    .addr = (struct sockaddr *)&a,
				    .port = 1,
				    .codecs = ulaw_only,
				    .ncodecs = 1,
				    .proto = SDP_PROTO_RTP_AVP};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(sdp_build(&b, &sp), 0);
	parse_ok(&third_s, b.data);
	assert_string_equal(third_s.origin.sess_version, "18446744073709551615");
	pbx_buf_free(&b);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_sdp_yealink),
	cmocka_unit_test(test_sdp_polycom),
	cmocka_unit_test(test_sdp_baresip),
	cmocka_unit_test(test_sdp_linphone),
	cmocka_unit_test(test_sdp_static_only),
	cmocka_unit_test(test_sdp_dynamic_pts),
	cmocka_unit_test(test_sdp_ipv6),
	cmocka_unit_test(test_sdp_reject_other_streams),
	cmocka_unit_test(test_sdp_no_common_codec),
	cmocka_unit_test(test_sdp_direction),
	cmocka_unit_test(test_sdp_old_hold),
	cmocka_unit_test(test_sdp_crypto_suites),
	cmocka_unit_test(test_sdp_crypto_malformed),
	cmocka_unit_test(test_sdp_crypto_roundtrip),
	cmocka_unit_test(test_sdp_srtp_negotiation),
	cmocka_unit_test(test_sdp_offer_answer),
	cmocka_unit_test(test_sdp_offer_codecs),
	cmocka_unit_test(test_sdp_offer_caller_codec_first),
	cmocka_unit_test(test_sdp_answer_our_order),
	cmocka_unit_test(test_sdp_build_invalid),
	cmocka_unit_test(test_sdp_malformed),
	cmocka_unit_test(test_sdp_lenient),
	cmocka_unit_test(test_sdp_session_version),
};

UNIT_GROUP(sip_sdp, tests, group_setup, NULL);
