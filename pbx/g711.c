/**
 * @file g711.c  G.711 u-law and A-law: tables built once
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Encoding and decoding follow the ITU reference (as in Sun's public-domain
 * g711.c). Every conversion the engine makes per sample is a table lookup:
 * decode is 256 entries per law, encode is indexed by the top 14 bits of
 * the 16-bit sample (u-law keeps 14 bits, A-law 13, so nothing is lost),
 * and u-law <-> A-law transcoding is a 256-byte table derived through
 * 16-bit PCM, so transcoding a packet costs one lookup per byte. All
 * tables together take 33 KiB and are built by a constructor in well under
 * a millisecond, so no caller can see them empty.
 */
#include <stdint.h>
#include <strings.h>

#include "media_priv.h"

int16_t pbx__ulaw_dec[256], pbx__alaw_dec[256];
uint8_t pbx__ulaw_enc[16384], pbx__alaw_enc[16384];
uint8_t pbx__ulaw_to_alaw[256], pbx__alaw_to_ulaw[256];

/* Segment ends of the reference encoder. */
static const int16_t seg_aend[8] = {0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF};
static const int16_t seg_uend[8] = {0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF};

static int seg_search(int val, const int16_t *table)
{
	int i;
	for (i = 0; i < 8; i++)
		if (val <= table[i])
			break;
	return i;
}

/* @p v is the 16-bit sample arithmetically shifted right by 2 (14 bits). */
static uint8_t ulaw_encode14(int v)
{
	int mask;
	if (v < 0) {
		v = -v;
		mask = 0x7F;
	} else {
		mask = 0xFF;
	}
	if (v > 8159) /* clip so that the bias does not overflow the top segment */
		v = 8159;
	v += 0x84 >> 2;
	int seg = seg_search(v, seg_uend);
	if (seg >= 8)
		return (uint8_t)(0x7F ^ mask);
	return (uint8_t)(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask);
}

/* Arithmetic shift right (floor), without shifting a negative value. */
static int asr(int v, int n)
{
	return v >= 0 ? v >> n : -((-v - 1) >> n) - 1;
}

static uint8_t alaw_encode14(int v14)
{
	int v = asr(v14, 1), mask; /* A-law keeps 13 bits */
	if (v >= 0) {
		mask = 0xD5;
	} else {
		mask = 0x55;
		v = -v - 1;
	}
	int seg = seg_search(v, seg_aend);
	if (seg >= 8)
		return (uint8_t)(0x7F ^ mask);
	int aval = seg << 4;
	aval |= seg < 2 ? (v >> 1) & 0xF : (v >> seg) & 0xF;
	return (uint8_t)(aval ^ mask);
}

static int16_t ulaw_decode_ref(uint8_t u)
{
	u = (uint8_t)~u;
	int t = ((u & 0xF) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return (int16_t)((u & 0x80) ? 0x84 - t : t - 0x84);
}

static int16_t alaw_decode_ref(uint8_t a)
{
	a ^= 0x55;
	int t = (a & 0xF) << 4;
	int seg = (a & 0x70) >> 4;
	switch (seg) {
	case 0: t += 8; break;
	case 1: t += 0x108; break;
	default: t = (t + 0x108) << (seg - 1);
	}
	return (int16_t)((a & 0x80) ? t : -t);
}

__attribute__((constructor)) static void g711_build(void)
{
	for (int i = 0; i < 256; i++) {
		pbx__ulaw_dec[i] = ulaw_decode_ref((uint8_t)i);
		pbx__alaw_dec[i] = alaw_decode_ref((uint8_t)i);
	}
	for (int i = 0; i < 16384; i++) {
		int v = i < 8192 ? i : i - 16384; /* the index as a signed 14-bit sample */
		pbx__ulaw_enc[i] = ulaw_encode14(v);
		pbx__alaw_enc[i] = alaw_encode14(v);
	}
	for (int i = 0; i < 256; i++) {
		pbx__ulaw_to_alaw[i] = pbx_alaw_encode(pbx__ulaw_dec[i]);
		pbx__alaw_to_ulaw[i] = pbx_ulaw_encode(pbx__alaw_dec[i]);
	}
}

int16_t pbx_ulaw_decode(uint8_t u)
{
	return pbx__ulaw_dec[u];
}

uint8_t pbx_ulaw_encode(int16_t s)
{
	return pbx__ulaw_enc[(uint16_t)s >> 2];
}

int16_t pbx_alaw_decode(uint8_t a)
{
	return pbx__alaw_dec[a];
}

uint8_t pbx_alaw_encode(int16_t s)
{
	return pbx__alaw_enc[(uint16_t)s >> 2];
}

const uint8_t *pbx__g711_xlat(enum pbx_codec from, enum pbx_codec to)
{
	if (from == to)
		return NULL;
	return from == PBX_CODEC_PCMU ? pbx__ulaw_to_alaw : pbx__alaw_to_ulaw;
}

void pbx__g711_encode(enum pbx_codec c, const int16_t *pcm, uint8_t *out, size_t n)
{
	const uint8_t *t = c == PBX_CODEC_PCMA ? pbx__alaw_enc : pbx__ulaw_enc;
	for (size_t i = 0; i < n; i++)
		out[i] = t[(uint16_t)pcm[i] >> 2];
}

void pbx__g711_decode(enum pbx_codec c, const uint8_t *in, int16_t *pcm, size_t n)
{
	const int16_t *t = c == PBX_CODEC_PCMA ? pbx__alaw_dec : pbx__ulaw_dec;
	for (size_t i = 0; i < n; i++)
		pcm[i] = t[in[i]];
}
