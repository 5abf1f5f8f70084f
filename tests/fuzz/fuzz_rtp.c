/**
 * @file fuzz_rtp.c  libFuzzer target: RTP header parse and the RFC 4733 receiver
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a stream of datagrams, each a 2-byte big-endian length and
 * that many bytes (a last, shorter one takes what is left), as a media
 * worker receives them on one socket. Each is parsed from an exact-size
 * heap copy, so a read past the datagram shows; what the parser accepts
 * must describe a payload inside it. Packets that parse are fed, as a
 * phone's telephone-events, to one DTMF receiver that lives for the whole
 * stream, as it lives for a call; the keys it reports must be keys.
 *
 * There is no RTCP parser to fuzz: RTCP is only counted (and, on SRTP
 * legs, authenticated by libsrtp2), never read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../pbx/media_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void key_check(char digit, int duration_ms)
{
	if (!digit || !strchr("0123456789*#ABCD!", digit) || duration_ms < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pbx__dtmf_rx rx;
	uint64_t now = 1000;
	memset(&rx, 0, sizeof rx);
	while (size) {
		size_t len = size >= 2 ? (size_t)(data[0] << 8 | data[1]) : size;
		if (size >= 2) {
			data += 2;
			size -= 2;
		}
		if (len > size)
			len = size;
		uint8_t *p = malloc(len ? len : 1);
		if (!p)
			abort();
		memcpy(p, data, len);
		data += len;
		size -= len;
		now += 20;

		struct pbx__rtp_hdr h;
		if (!pbx__rtp_parse(p, len, &h)) {
			if (h.hlen < PBX__RTP_HDR || h.hlen > len || h.plen > len - h.hlen ||
			    h.pt > 127)
				abort();
			char digit = 0;
			int ms = -1;
			if (pbx__dtmf_rx_feed(&rx, h.ts, p + h.hlen, h.plen, now, &digit, &ms))
				key_check(digit, ms);
		}
		free(p);
	}
	char digit = 0;
	int ms = -1;
	if (pbx__dtmf_rx_flush(&rx, now + 1000, 200, &digit, &ms))
		key_check(digit, ms);
	return 0;
}
