/**
 * @file frame.h  Audio frames (20 ms of s16 mono PCM), resampling, tones and mixing
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The unit the frame path moves: what a decoder gives, what a recorder
 * writes, what a player or tone generator makes, what a mixer adds. A
 * frame is a value (the samples are inside it), so it can be queued and
 * copied without an allocation: 1.9 KiB at 48 kHz, the largest rate.
 *
 * The pieces here are pure functions and small objects owned by the
 * thread that made them (a media worker); the bridge and the per-leg
 * receive/send paths (pbx/leg_frames.c) and recording are built on them.
 */
#ifndef PBX_FRAME_H
#define PBX_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PBX_FRAME_MS          20
#define PBX_FRAME_MAX_RATE    48000
#define PBX_FRAME_MAX_SAMPLES (PBX_FRAME_MAX_RATE * PBX_FRAME_MS / 1000)

struct pbx_frame {
	unsigned rate;    /* 8000, 16000 or 48000 */
	unsigned samples; /* rate * ms / 1000; 160, 320 or 960 for 20 ms */
	uint32_t ts;      /* in samples at this rate, from the stream's start */
	int16_t pcm[PBX_FRAME_MAX_SAMPLES];
};

/** Whether @p rate is one the frame path runs at. */
bool pbx_frame_rate_ok(unsigned rate);
/** An empty (silent) frame of @p ms at @p rate. EINVAL for another rate or too long a frame. */
int pbx_frame_init(struct pbx_frame *f, unsigned rate, unsigned ms, uint32_t ts);
/** Root mean square of the samples, for levels and talker detection. */
double pbx_frame_rms(const struct pbx_frame *f);

/* ---- resampling (speexdsp) ----------------------------------------------- */

struct pbx_resampler;

/** A converter from @p in_rate to @p out_rate (frame rates). 0, EINVAL or ENOMEM. */
int pbx_resampler_alloc(struct pbx_resampler **rp, unsigned in_rate, unsigned out_rate);
void pbx_resampler_free(struct pbx_resampler *r);
/**
 * Keep *@p rp converting @p in_rate to @p out_rate: made when NULL, made
 * again when the rates changed (its filter state starts afresh), kept
 * otherwise. 0 or as pbx_resampler_alloc (*@p rp is NULL then).
 */
int pbx_resampler_keep(struct pbx_resampler **rp, unsigned in_rate, unsigned out_rate);
/**
 * Convert @p in into @p out (same duration, the converter's out rate; the
 * timestamp scaled). Keeps its filter state between frames, so a stream
 * goes through one converter. 0, EINVAL (wrong input rate) or EIO
 * (speexdsp refused or left input over).
 */
int pbx_resampler_run(struct pbx_resampler *r, const struct pbx_frame *in, struct pbx_frame *out);

/* ---- tones ------------------------------------------------------------------ */

/**
 * A tone as telephones play them: up to two frequencies summed, and a
 * cadence of on/off times repeated (ringback 440+480 Hz 2 s on, 4 s off;
 * a beep 1000 Hz 250 ms once).
 */
struct pbx_tone_spec {
	unsigned freq[2];  /* Hz; 0: unused */
	int16_t amplitude; /* of each frequency; the sum must stay below 32767 */
	unsigned on_ms;    /* 0: always on */
	unsigned off_ms;   /* after each on_ms */
	bool once;         /* one on period, then silence for ever */
};

struct pbx_tone {
	struct pbx_tone_spec spec;
	unsigned rate;
	uint64_t n; /* samples made so far */
};

/** What a caller hears while the other side rings (North American ringback). */
extern const struct pbx_tone_spec pbx_tone_ringback;

/** Start @p t at @p rate. EINVAL for a bad rate or a frequency at or above half the rate. */
int pbx_tone_init(struct pbx_tone *t, const struct pbx_tone_spec *spec, unsigned rate);
/** The next @p ms of the tone into @p f. Returns false once a `once` tone is over. */
bool pbx_tone_next(struct pbx_tone *t, struct pbx_frame *f, unsigned ms);

/* ---- mixing --------------------------------------------------------------- */

/**
 * Sum @p n frames (same rate and length) into @p out, saturating at the
 * int16 limits; @p skip, when not NULL, is left out (mix minus self).
 * 0, or EINVAL when the frames do not match.
 */
int pbx_frame_mix(struct pbx_frame *out, const struct pbx_frame *const *in, size_t n,
		  const struct pbx_frame *skip);

#endif
