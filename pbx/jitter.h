/**
 * @file jitter.h  Receive jitter buffer for the frame path (speexdsp's, adaptive)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Private to the media engine. Packets go in as they arrive, in any order;
 * once per frame period the consumer asks for the frame due now and gets
 * its payload, or "lost" (conceal it), or "not yet" (still filling). The
 * delay adapts to the jitter seen (speexdsp weighs late loss against
 * delay). Only legs whose audio is consumed as frames have one: the packet
 * relay never buffers.
 */
#ifndef PBX_JITTER_H
#define PBX_JITTER_H

#include <stddef.h>
#include <stdint.h>

struct pbx__jitter;

enum pbx__jitter_got {
	PBX__JITTER_FRAME,   /* a payload for this period */
	PBX__JITTER_LOST,    /* nothing for this period: conceal one frame */
	PBX__JITTER_FILLING, /* nothing received yet: play nothing */
};

/** A buffer for frames of @p span RTP timestamp units (160 for 20 ms at 8000 Hz). 0 or ENOMEM. */
int pbx__jitter_alloc(struct pbx__jitter **jp, uint32_t span);
void pbx__jitter_free(struct pbx__jitter *j);

/** One packet's payload, timestamp and sequence number; copied. */
void pbx__jitter_put(struct pbx__jitter *j, const uint8_t *payload, size_t len, uint32_t ts,
		     uint16_t seq);

/**
 * The frame due now, once per frame period: its payload into @p out (at
 * most @p max bytes; longer payloads are cut) with its length in *lenp.
 */
enum pbx__jitter_got pbx__jitter_get(struct pbx__jitter *j, uint8_t *out, size_t max, size_t *lenp);

/** Packets held now, for stats. */
int pbx__jitter_held(struct pbx__jitter *j);

#endif
