/**
 * @file codec_opus.c  Opus (RFC 7587) through libopus: 48 kHz mono, VoIP mode, FEC on receive
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * RFC 7587: the rtpmap is always opus/48000/2, whatever is sent; we send
 * and decode mono (a stereo packet decodes to mono in libopus). The fmtp
 * asks for mono and in-band FEC, and keeps DTX off so the no-RTP timeout
 * never mistakes a quiet caller for a dead one.
 *
 * A lost packet is concealed by libopus itself (decode with no data). The
 * FEC copy of a lost packet travels in the next one; using it needs the
 * jitter buffer to hand us the next packet early, which comes with the
 * frame path.
 *
 * Cost: an encoder is about 30 KiB and a decoder about 26 KiB of state
 * (opus_encoder_get_size), made once per stream.
 */
#include <errno.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/codec.h"

#define OPUS_RATE    48000
#define OPUS_BITRATE 32000 /* wideband speech with room for FEC */

struct opus {
	OpusEncoder *enc;
	OpusDecoder *dec;
};

/* libopus defaults to 9 of 10: as good as it gets, at ten times a relayed
 * packet's cost when a PBX transcodes. 5 keeps speech clean at 32 kbit/s
 * for about half the CPU, which is what decides how many calls a core takes. */
#define OPUS_COMPLEXITY 5

static int map_err(int e)
{
	return e == OPUS_ALLOC_FAIL ? ENOMEM : e == OPUS_BUFFER_TOO_SMALL ? ENOBUFS : EINVAL;
}

static int opus_init(void *st, bool encoder, unsigned rate)
{
	struct opus *o = st;
	int err = OPUS_OK;
	if (encoder) {
		o->enc = opus_encoder_create((opus_int32)rate, 1, OPUS_APPLICATION_VOIP, &err);
		if (!o->enc)
			return map_err(err);
		if ((err = opus_encoder_ctl(o->enc, OPUS_SET_BITRATE(OPUS_BITRATE))) ||
		    (err = opus_encoder_ctl(o->enc, OPUS_SET_INBAND_FEC(1))) ||
		    (err = opus_encoder_ctl(o->enc, OPUS_SET_PACKET_LOSS_PERC(5))) ||
		    (err = opus_encoder_ctl(o->enc, OPUS_SET_DTX(0))) ||
		    (err = opus_encoder_ctl(o->enc, OPUS_SET_COMPLEXITY(OPUS_COMPLEXITY)))) {
			opus_encoder_destroy(o->enc);
			o->enc = NULL;
			return map_err(err);
		}
	} else {
		o->dec = opus_decoder_create((opus_int32)rate, 1, &err);
		if (!o->dec)
			return map_err(err);
	}
	return 0;
}

static void opus_fini(void *st)
{
	struct opus *o = st;
	opus_encoder_destroy(o->enc);
	opus_decoder_destroy(o->dec);
}

static int opus_enc(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	struct opus *o = st;
	if (n > 5760 || max > 0x7fffffff)
		return -EINVAL;
	int r = opus_encode(o->enc, pcm, (int)n, out, (opus_int32)max);
	return r < 0 ? -map_err(r) : r;
}

static int opus_dec(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	struct opus *o = st;
	if (len > 0x7fffffff)
		return -EINVAL;
	if (max > 5760) /* 120 ms, the longest packet: more room is never used */
		max = 5760;
	int r = opus_decode(o->dec, in, in ? (opus_int32)len : 0, pcm, (int)max, 0);
	return r < 0 ? -map_err(r) : r;
}

/* The value of @p key in an fmtp line ("a=1; key=20000"), or -1. */
static long fmtp_value(const char *fmtp, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = fmtp; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		if (!strncasecmp(p, key, n) && p[n] == '=')
			return strtol(p + n + 1, NULL, 10);
		p = strchr(p, ';');
	}
	return -1;
}

/*
 * RFC 7587 6.1: what the far end says it can take. maxaveragebitrate caps
 * our rate, useinbandfec=0 turns FEC off, maxplaybackrate narrows the band
 * we encode (no use sending 20 kHz to a phone that plays 8 kHz), cbr=1.
 */
static int opus_fmtp(void *st, const char *fmtp)
{
	struct opus *o = st;
	long v;
	int err = OPUS_OK;
	if (!o->enc)
		return EINVAL;
	if ((v = fmtp_value(fmtp, "maxaveragebitrate")) >= 6000 && v < OPUS_BITRATE)
		err = opus_encoder_ctl(o->enc, OPUS_SET_BITRATE((opus_int32)v));
	if (!err && fmtp_value(fmtp, "useinbandfec") == 0)
		err = opus_encoder_ctl(o->enc, OPUS_SET_INBAND_FEC(0));
	if (!err && fmtp_value(fmtp, "cbr") == 1)
		err = opus_encoder_ctl(o->enc, OPUS_SET_VBR(0));
	if (!err && (v = fmtp_value(fmtp, "maxplaybackrate")) > 0) {
		int bw = v <= 8000    ? OPUS_BANDWIDTH_NARROWBAND
			 : v <= 12000 ? OPUS_BANDWIDTH_MEDIUMBAND
			 : v <= 16000 ? OPUS_BANDWIDTH_WIDEBAND
			 : v <= 24000 ? OPUS_BANDWIDTH_SUPERWIDEBAND
				      : OPUS_BANDWIDTH_FULLBAND;
		err = opus_encoder_ctl(o->enc, OPUS_SET_MAX_BANDWIDTH(bw));
	}
	return err ? map_err(err) : 0;
}

/* Narrowband or wideband audio is coded as such (SILK alone), at a fraction
 * of the fullband hybrid's cost; the far end's maxplaybackrate still caps it. */
static void opus_source_rate(void *st, unsigned rate)
{
	struct opus *o = st;
	int bw = rate <= 8000    ? OPUS_BANDWIDTH_NARROWBAND
		 : rate <= 16000 ? OPUS_BANDWIDTH_WIDEBAND
				 : OPUS_AUTO;
	if (o->enc)
		opus_encoder_ctl(o->enc, OPUS_SET_BANDWIDTH(bw));
}

/* libopus takes and gives PCM at any of the frame path's rates itself. */
static const unsigned opus_rates[] = {8000, 16000, 0};

PBX_CODEC_REGISTER(opus) = {
	.name = "opus",
	.rate = OPUS_RATE,
	.clock = OPUS_RATE,
	.rates = opus_rates,
	.channels = 2,
	.static_pt = -1,
	.fmtp = "useinbandfec=1;stereo=0;sprop-stereo=0",
	.state_size = sizeof(struct opus),
	.max_frame = 400,
	.init = opus_init,
	.fini = opus_fini,
	.encode = opus_enc,
	.decode = opus_dec,
	.fmtp_in = opus_fmtp,
	.source_rate = opus_source_rate,
};
