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

static int encode_with(const uint8_t table[16384], const int16_t *pcm, size_t n, uint8_t *out,
		       size_t max)
{
	if (n > max)
		return -ENOBUFS;
	for (size_t i = 0; i < n; i++)
		out[i] = table[(uint16_t)pcm[i] >> 2];
	return (int)n;
}

static int ulaw_encode(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	(void)st;
	return encode_with(pbx__ulaw_enc, pcm, n, out, max);
}

static int alaw_encode(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	(void)st;
	return encode_with(pbx__alaw_enc, pcm, n, out, max);
}

static int decode_with(const int16_t table[256], const uint8_t *in, size_t len, int16_t *pcm,
		       size_t max)
{
	if (!in) {
		memset(pcm, 0, max * sizeof *pcm);
		return (int)max;
	}
	if (len > max)
		return -ENOBUFS;
	for (size_t i = 0; i < len; i++)
		pcm[i] = table[in[i]];
	return (int)len;
}

static int ulaw_decode(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	(void)st;
	return decode_with(pbx__ulaw_dec, in, len, pcm, max);
}

static int alaw_decode(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	(void)st;
	return decode_with(pbx__alaw_dec, in, len, pcm, max);
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
