/**
 * @file fuzz_sip_sdp.c  libFuzzer target: SDP parse, negotiate both ways, build, parse back
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every input is parsed as a body and, on its own, as an a=crypto value.
 * A body that parses is answered under each SRTP policy; every answer we
 * build must parse, and when it answers the offer's first audio stream,
 * reading it back as the answer to that offer must give the same codec,
 * telephone-event and SRTP choice. The input is also taken as the answer
 * to an offer of ours. Refusals must always say why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_sdp.h"
#include "pbx/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sdp_session in, built, ours;

/* The shipped rtp.codecs: a dynamic PT, a static one with another clock, G.711. */
static const struct pbx_codec_desc *codecs[4];
#define NCODECS ((int)(sizeof(codecs) / sizeof(codecs[0])))

static void codecs_init(void)
{
	static const char *const names[NCODECS] = {"opus", "G722", "PCMU", "PCMA"};
	for (int i = 0; i < NCODECS; i++)
		if (!codecs[i] && !(codecs[i] = pbx_codec_find(names[i])))
			abort();
}

static void check_crypto(const uint8_t *data, size_t size)
{
	struct sdp_crypto c, back;
	const char *why = NULL;
	struct pbx_buf b;
	if (sdp_crypto_parse(&c, (const char *)data, size, &why)) {
		if (!why)
			abort();
		return;
	}
	/* Only the first key is written, and FEC keys are not kept. */
	if (c.nkeys != 1 || c.fec)
		return;
	pbx_buf_init(&b);
	if (sdp_crypto_print(&b, &c) || sdp_crypto_parse(&back, b.data, b.len, &why) ||
	    memcmp(&c, &back, sizeof(c)))
		abort();
	pbx_buf_free(&b);
}

static int first_audio(const struct sdp_session *s)
{
	for (unsigned i = 0; i < s->nmedia; i++)
		if (s->media[i].type == SDP_MTYPE_AUDIO && s->media[i].port &&
		    s->media[i].proto != SDP_PROTO_OTHER)
			return (int)i;
	return -1;
}

static void answer_it(enum sdp_srtp policy, const struct sockaddr *addr)
{
	struct sdp_prefs prefs = {codecs, NCODECS, policy, PBX_DIR_SENDRECV};
	struct sdp_choice ch, back;
	struct sdp_crypto key;
	struct pbx_rtp_params rp;
	const char *why = NULL;
	struct pbx_buf b;
	int err = sdp_negotiate_offer(&in, &prefs, &ch);
	if (err) {
		if (err != ENOTSUP || !ch.why)
			abort();
		return;
	}
	sdp_choice_rtp_params(&ch, &rp);
	memset(&key, 0, sizeof(key));
	key.tag = ch.crypto.tag;
	key.suite = ch.crypto.suite;
	key.key_len = (uint8_t)sdp_suite_key_len(key.suite);
	key.nkeys = 1;
	key.kdr = -1;
	memset(key.key, 0x42, key.key_len);
	struct sdp_build_spec sp = {.username = "pbx",
				    .sess_id = 1,
				    .sess_version = 2,
				    .addr = addr,
				    .port = 20000,
				    .crypto = &key,
				    .ncrypto = ch.srtp ? 1 : 0,
				    .offer = &in,
				    .choice = &ch};
	pbx_buf_init(&b);
	if (sdp_build(&b, &sp) || sdp_parse(&built, b.data, b.len, &why))
		abort();
	if (built.nmedia != in.nmedia)
		abort();
	if ((int)ch.index == first_audio(&in)) {
		if (sdp_negotiate_answer(&in, &built, &back) || back.codec != ch.codec ||
		    back.pt != ch.pt || back.dtmf_pt != ch.dtmf_pt ||
		    back.dtmf_rate != ch.dtmf_rate || back.srtp != ch.srtp || rp.codec != ch.codec)
			abort();
	}
	pbx_buf_free(&b);
}

static void offer_ours(const struct sockaddr *addr)
{
	struct sdp_crypto key = {.tag = 1,
				 .suite = SDP_SUITE_AES_CM_128_HMAC_SHA1_80,
				 .key_len = 30,
				 .nkeys = 1,
				 .kdr = -1};
	struct sdp_build_spec sp = {.addr = addr,
				    .port = 10000,
				    .dir = PBX_DIR_SENDRECV,
				    .codecs = codecs,
				    .ncodecs = NCODECS,
				    .dtmf_pt = 101,
				    .proto = SDP_PROTO_RTP_AVP,
				    .crypto = &key,
				    .ncrypto = 1};
	struct sdp_choice ch;
	const char *why = NULL;
	struct pbx_buf b;
	pbx_buf_init(&b);
	if (sdp_build(&b, &sp) || sdp_parse(&ours, b.data, b.len, &why))
		abort();
	pbx_buf_free(&b);
	if (sdp_negotiate_answer(&ours, &in, &ch) && !ch.why)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000001)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	const struct sockaddr *addr =
		size & 1 ? (const struct sockaddr *)&sin6 : (const struct sockaddr *)&sin;
	const char *why = NULL;
	codecs_init();
	check_crypto(data, size);
	if (sdp_parse(&in, (const char *)data, size, &why)) {
		if (!why)
			abort();
		return 0;
	}
	answer_it(SDP_SRTP_OFF, addr);
	answer_it(SDP_SRTP_OPTIONAL, addr);
	answer_it(SDP_SRTP_MANDATORY, addr);
	offer_ours(addr);
	return 0;
}
