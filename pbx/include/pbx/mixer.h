/**
 * @file mixer.h  Conference mixing: many legs, each hearing the loudest talkers but itself
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A mixer lives on one media worker, and its members' sessions move there
 * when they join. Every 20 ms the worker takes each member's audio out of
 * its jitter buffer (decoded, at the room rate), finds who talks (energy
 * with a hangover), mixes the loudest few and sends:
 *
 *  - to each of those talkers, the mix without its own voice, through its
 *    own encoder;
 *  - to everyone else, the same mix, encoded once per codec and listening
 *    volume (a G.711 room of 200 encodes one or two payloads, not 200).
 *
 * A member that plays something of its own (a prompt, hold music, DTMF)
 * hears that instead of the room meanwhile, and still speaks into it. The
 * mix can be recorded, and a sound played into it for everyone.
 *
 * Signalling thread only; events arrive on it.
 */
#ifndef PBX_MIXER_H
#define PBX_MIXER_H

#include <stdbool.h>

struct pbx_mix;
struct pbx_rtp;

#define PBX_MIX_VOLUME_MAX 4 /* volume steps either way; each is 3 dB */

struct pbx_mix_cfg {
	unsigned rate;    /* 8000, 16000 or 48000; 0: 16000, or 48000 while an Opus member is in */
	unsigned talkers; /* loudest talkers mixed; 0: 3 */
};

struct pbx_mix_member_opts {
	bool muted;        /* heard by nobody (still hears the room) */
	int talk_volume;   /* -PBX_MIX_VOLUME_MAX..PBX_MIX_VOLUME_MAX: its voice into the room */
	int listen_volume; /* ... what it hears */
	bool denoise;      /* speexdsp noise suppression on its voice */
	bool agc;          /* speexdsp automatic gain on its voice */
};

struct pbx_mix_events {
	/** @p member started (@p on) or stopped talking. */
	void (*talking)(void *arg, struct pbx_rtp *member, bool on);
	/** A recording (pbx_mix_record) ended: @p err 0 and @p ms of audio in its file, or why not. */
	void (*record_done)(void *arg, int err, unsigned ms);
	/** A playback into the room ended: 0, ECANCELED (stopped or replaced) or an error. */
	void (*play_done)(void *arg, int err);
};

/** A mixer on the worker of @p near (or the least loaded one). 0, EINVAL, ENOMEM or ENODEV. */
int pbx_mix_alloc(struct pbx_mix **mp, const struct pbx_mix_cfg *cfg, struct pbx_rtp *near,
		  const struct pbx_mix_events *ev, void *arg);
/** Stop it: members still in leave, a recording is kept, a playback stops. No event after. */
void pbx_mix_free(struct pbx_mix *m);
/**
 * Make @p r a member (leaving a bridge or another mixer; its session moves to
 * the mixer's worker). Joining again only changes the options. 0, EINVAL or ENOMEM.
 */
int pbx_mix_join(struct pbx_mix *m, struct pbx_rtp *r, const struct pbx_mix_member_opts *o);
/** Take @p r out of its mixer, if any. */
void pbx_mix_leave(struct pbx_rtp *r);
/** The mixer @p r is a member of, or NULL. */
struct pbx_mix *pbx_mix_of(const struct pbx_rtp *r);
unsigned pbx_mix_members(const struct pbx_mix *m);

/** Record the mix (everyone's voices) into a WAV at @p path (replacing a recording). 0 or errno. */
int pbx_mix_record(struct pbx_mix *m, const char *path);
/** End the recording (record_done follows); nothing when none runs. */
void pbx_mix_record_stop(struct pbx_mix *m);
bool pbx_mix_recording(const struct pbx_mix *m);
/** Play a WAV (any rate, mono) into the room for everyone, replacing one playing. 0 or errno. */
int pbx_mix_play(struct pbx_mix *m, const char *path);
void pbx_mix_play_stop(struct pbx_mix *m);
/** The rate it mixes at now (changes when an Opus member comes or goes in an automatic room). */
unsigned pbx_mix_rate(const struct pbx_mix *m);

#endif
