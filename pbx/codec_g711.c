/**
 * @file codec_g711.c  G.711 u-law and A-law as registered codecs (the tables are g711.c's)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Stateless: one byte a sample each way, a table lookup per sample. With
 * no history to continue, a lost packet is concealed by silence here; the
 * frame path's concealment (speexdsp) sits above the codec.
 */
#include <errno.h>
#include <string.h>

#include "media_priv.h"
#include "pbx/codec.h"

static int encode_with(enum pbx_codec law, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	if (n > max)
		return -ENOBUFS;
	pbx__g711_encode(law, pcm, out, n);
	return (int)n;
}

static int ulaw_encode(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	(void)st;
	return encode_with(PBX_CODEC_PCMU, pcm, n, out, max);
}

static int alaw_encode(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	(void)st;
	return encode_with(PBX_CODEC_PCMA, pcm, n, out, max);
}

static int decode_with(enum pbx_codec law, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	if (!in) {
		memset(pcm, 0, max * sizeof *pcm);
		return (int)max;
	}
	if (len > max)
		return -ENOBUFS;
	pbx__g711_decode(law, in, pcm, len);
	return (int)len;
}

static int ulaw_decode(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	(void)st;
	return decode_with(PBX_CODEC_PCMU, in, len, pcm, max);
}

static int alaw_decode(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	(void)st;
	return decode_with(PBX_CODEC_PCMA, in, len, pcm, max);
}

PBX_CODEC_REGISTER(pcmu) = {
	.name = "PCMU",
	.rate = 8000,
	.clock = 8000,
	.channels = 1,
	.static_pt = 0,
	.max_frame = 160,
	.encode = ulaw_encode,
	.decode = ulaw_decode,
};

PBX_CODEC_REGISTER(pcma) = {
	.name = "PCMA",
	.rate = 8000,
	.clock = 8000,
	.channels = 1,
	.static_pt = 8,
	.max_frame = 160,
	.encode = alaw_encode,
	.decode = alaw_decode,
};

const struct pbx_codec_desc *pbx__g711_desc(enum pbx_codec law)
{
	return law == PBX_CODEC_PCMA ? &pcma : &pcmu;
}

int pbx__g711_law(const struct pbx_codec_desc *c)
{
	return c == &pcmu ? PBX_CODEC_PCMU : c == &pcma ? PBX_CODEC_PCMA : -1;
}
