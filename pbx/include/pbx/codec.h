/**
 * @file codec.h  Audio codecs as registered descriptors, and coders (one encoder or decoder each)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A codec is a static descriptor that a file declares with
 * PBX_CODEC_REGISTER(): its SDP name, the rate of the PCM it takes and
 * gives, its RTP clock (not always the same: G.722 is 16 kHz audio on an
 * 8000 Hz clock, RFC 3551 4.5.2), a static payload type or none, its
 * fmtp, and encode/decode functions over a private state. Nothing in the
 * core names a codec: adding one is adding a file.
 *
 * A coder is one encoder or one decoder of one codec for one stream; it
 * belongs to the thread that made it (a media worker), like the RTP
 * session it serves. Frames are signed 16-bit mono PCM at the codec's rate.
 *
 * The SDP side offers and answers with these descriptors (rtp.codecs picks
 * and orders them); the media engine relays legs of one codec untouched
 * and transcodes the others through coders, which can run at another PCM
 * rate where the codec allows it (pbx_coder_alloc_rate).
 */
#ifndef PBX_CODEC_H
#define PBX_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pbx_codec_desc {
	const char
		*name;  /* SDP encoding name, matched case-insensitively: "PCMU", "G722", "opus" */
	unsigned rate;  /* PCM sample rate in and out: 8000, 16000, 48000 */
	unsigned clock; /* RTP clock rate, as in a=rtpmap */
	unsigned channels;     /* as in a=rtpmap (opus/48000/2 says 2; we send mono) */
	int static_pt;         /* RFC 3551 payload type, or -1: dynamic */
	const char *fmtp;      /* our a=fmtp parameters, NULL: none */
	const unsigned *rates; /* other PCM rates a coder can run at, 0-ended (Opus: any frame
				* rate); NULL: rate only */
	size_t state_size;     /* of the private state init() fills */
	unsigned max_frame;    /* bytes one 20 ms frame can encode to, at most */
	/* Set up @p st (state_size bytes, zeroed) as an encoder or a decoder of
	 * PCM at @p rate (rate, or one of rates). 0 or errno. */
	int (*init)(void *st, bool encoder, unsigned rate);
	void (*fini)(void *st); /* may be NULL */
	/* @p n samples of PCM to at most @p max bytes; returns bytes written or -errno. */
	int (*encode)(void *st, const int16_t *pcm, size_t n, uint8_t *out, size_t max);
	/* A payload to at most @p max samples; returns samples or -errno. @p in
	 * NULL: a lost packet, conceal @p max samples (the codec's own PLC). */
	int (*decode)(void *st, const uint8_t *in, size_t len, int16_t *pcm, size_t max);
	/* An encoder follows the far end's a=fmtp ("maxaveragebitrate=20000;...")
	 * as far as it can; unknown parameters are ignored. May be NULL. 0 or errno. */
	int (*fmtp_in)(void *st, const char *fmtp);
	/* An encoder is told the rate its audio came from (8000 for a G.711
	 * leg's): nothing above half of it is there to encode, and a
	 * wideband codec can spend less. May be NULL. */
	void (*source_rate)(void *st, unsigned rate);
};

/** Declare a codec; the descriptor lands in a linker section the registry walks. */
#define PBX_CODEC_REGISTER(var)                                                               \
	static const struct pbx_codec_desc var;                                               \
	__attribute__((                                                                       \
		used,                                                                         \
		section("pbx_codecs"))) static const struct pbx_codec_desc *const var##_ptr = \
		&var;                                                                         \
	static const struct pbx_codec_desc var

/** The codec named @p name (case-insensitive), or NULL. Linear; there are a handful. */
const struct pbx_codec_desc *pbx_codec_find(const char *name);
/** The codec with static payload type @p pt, or NULL. */
const struct pbx_codec_desc *pbx_codec_find_pt(int pt);
/** Call @p cb for every registered codec until it returns non-zero; returns that. */
int pbx_codec_each(int (*cb)(const struct pbx_codec_desc *c, void *arg), void *arg);

/** Samples in @p ms milliseconds of this codec's PCM. */
static inline size_t pbx_codec_samples(const struct pbx_codec_desc *c, unsigned ms)
{
	return (size_t)c->rate * ms / 1000;
}

struct pbx_coder;

/** An encoder (@p encoder true) or decoder of @p codec. 0, ENOMEM or the codec's error. */
int pbx_coder_alloc(struct pbx_coder **cp, const struct pbx_codec_desc *codec, bool encoder);
/**
 * As pbx_coder_alloc, taking or giving PCM at @p rate, which saves a
 * resampler where the codec can run there itself (an Opus decoder feeding
 * a G.711 leg decodes at 8 kHz). EINVAL when @p codec cannot.
 */
int pbx_coder_alloc_rate(struct pbx_coder **cp, const struct pbx_codec_desc *codec, bool encoder,
			 unsigned rate);
/** Whether @p codec's coders can run at @p rate. */
bool pbx_codec_has_rate(const struct pbx_codec_desc *codec, unsigned rate);
/** The PCM rate of a coder. */
unsigned pbx_coder_rate(const struct pbx_coder *c);
void pbx_coder_free(struct pbx_coder *c);
const struct pbx_codec_desc *pbx_coder_codec(const struct pbx_coder *c);
/** See struct pbx_codec_desc: bytes written, or -errno (-EINVAL from a decoder). */
int pbx_coder_encode(struct pbx_coder *c, const int16_t *pcm, size_t n, uint8_t *out, size_t max);
/** An encoder takes the far end's fmtp (see struct pbx_codec_desc). 0, EINVAL (a decoder) or errno. */
int pbx_coder_fmtp(struct pbx_coder *c, const char *fmtp);
/** An encoder's audio comes from @p rate Hz (see struct pbx_codec_desc); a decoder ignores it. */
void pbx_coder_source_rate(struct pbx_coder *c, unsigned rate);
/** See struct pbx_codec_desc: samples written, or -errno (-EINVAL from an encoder). */
int pbx_coder_decode(struct pbx_coder *c, const uint8_t *in, size_t len, int16_t *pcm, size_t max);

#endif
