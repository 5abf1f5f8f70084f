/**
 * @file codec_g722.c  G.722 at 64 kbit/s through spandsp
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * 16 kHz audio, one byte per two samples, on an RTP clock of 8000 Hz: an
 * error in RFC 1890 kept by RFC 3551 (4.5.2) for compatibility, so the
 * timestamp advances 160 per 20 ms frame of 320 samples. The encoder and
 * decoder are ADPCM with state; a lost packet is concealed by silence here
 * (G.722 has no PLC of its own; the frame path's sits above).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

/* spandsp's headers need stdint.h first, and telephony.h before g722.h. */
#include <spandsp/telephony.h>

#include <spandsp/g722.h>

#include "pbx/codec.h"

struct g722 {
	g722_encode_state_t *enc;
	g722_decode_state_t *dec;
};

static int g722_init(void *st, bool encoder, unsigned rate)
{
	struct g722 *g = st;
	/* 64 kbit/s, 16 kHz samples, unpacked bytes: what RFC 3551 carries. */
	if (encoder)
		g->enc = g722_encode_init(NULL, 64000, 0);
	else
		g->dec = g722_decode_init(NULL, 64000, 0);
	return g->enc || g->dec ? 0 : ENOMEM;
}

static void g722_fini(void *st)
{
	struct g722 *g = st;
	if (g->enc)
		g722_encode_free(g->enc);
	if (g->dec)
		g722_decode_free(g->dec);
}

static int g722_enc(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	struct g722 *g = st;
	if ((n + 1) / 2 > max || n > 16000)
		return -ENOBUFS;
	return g722_encode(g->enc, out, pcm, (int)n);
}

static int g722_dec(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	struct g722 *g = st;
	if (!in) {
		memset(pcm, 0, max * sizeof *pcm);
		return (int)max;
	}
	if (2 * len > max || len > 8000)
		return -ENOBUFS;
	return g722_decode(g->dec, pcm, in, (int)len);
}

PBX_CODEC_REGISTER(g722) = {
	.name = "G722",
	.rate = 16000,
	.clock = 8000,
	.channels = 1,
	.static_pt = 9,
	.state_size = sizeof(struct g722),
	.max_frame = 160,
	.init = g722_init,
	.fini = g722_fini,
	.encode = g722_enc,
	.decode = g722_dec,
};
