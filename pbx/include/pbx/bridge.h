/**
 * @file bridge.h  Bridges: the core object that joins channels' media
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A bridge is refcounted and holds its members; a member holds a reference
 * to its bridge (ch->bridge) and the bridge one to each member, until the
 * member leaves (a hangup makes it leave). The bridge picks its mode from
 * its members, and shows it (pbx_bridge_mode) as it is now:
 *
 *  - relay: two legs with media and one codec; the engine passes packets
 *    on without decoding them (the fast path), on one worker;
 *  - transcode: two legs of different codecs; a table per byte between
 *    the G.711 laws, otherwise decode, resample and encode per packet;
 *  - frames: a consumer (a recording) takes a leg's audio as frames; the
 *    packets still go on as in relay or transcode;
 *  - mixing: a conference (pbx_bridge_alloc_mixing): any number of
 *    members, each hearing the others through the media engine's mixer
 *    (pbx/mixer.h);
 *  - idle: fewer than two legs with media.
 *
 * A bridge that does not mix holds at most two members: a third join is
 * ENOSPC.
 *
 * Signalling thread only.
 */
#ifndef PBX_BRIDGE_H
#define PBX_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct pbx_chan;

#define PBX_BRIDGE_MAX_MEMBERS 2 /* of a bridge that does not mix */

struct pbx_mix;
struct pbx_mix_cfg;
struct pbx_mix_events;
struct pbx_mix_member_opts;

enum pbx_bridge_mode {
	PBX_BRIDGE_IDLE,      /* fewer than two members with media */
	PBX_BRIDGE_RELAY,     /* two legs, one codec: packets relayed */
	PBX_BRIDGE_TRANSCODE, /* two legs, two codecs */
	PBX_BRIDGE_FRAMES,    /* a consumer takes frames of a member's audio */
	PBX_BRIDGE_MIXING,    /* a conference: every member hears the others mixed */
};

struct pbx_bridge {
	unsigned id; /* for the console: "bridge 7" */
	unsigned refs;
	size_t n, cap;
	struct pbx_chan **members; /* in join order */
	struct pbx_mix *mix;       /* a mixing bridge's mixer (owned); NULL for the others */
	time_t created;
	struct pbx_bridge *next, *prev; /* all bridges, for the console */
};

/** A new, empty bridge with one reference (the caller's). 0 or ENOMEM. */
int pbx_bridge_alloc(struct pbx_bridge **bp);
/**
 * A new, empty mixing bridge (a conference room) whose mixer mixes per
 * @p cfg (may be NULL) and tells @p ev (may be NULL) with @p arg. Members'
 * media join the mixer as they join. 0, ENOMEM or the engine's error.
 */
int pbx_bridge_alloc_mixing(struct pbx_bridge **bp, const struct pbx_mix_cfg *cfg,
			    const struct pbx_mix_events *ev, void *arg);
/** A member's options in a mixing bridge (mute, volumes). 0, ENOENT (not a member of one) or errno. */
int pbx_bridge_mix_member(struct pbx_chan *ch, const struct pbx_mix_member_opts *o);
struct pbx_bridge *pbx_bridge_ref(struct pbx_bridge *b);
/** Drop a reference; the last one frees the bridge (it has no members then). */
void pbx_bridge_unref(struct pbx_bridge *b);

/**
 * Put @p ch into @p b (leaving the bridge it was in). Early media works:
 * @p ch may still be ringing. 0; ENOTCONN (hung up); ENOSPC (full); or the
 * media engine's error (the member is in, but its media is not joined).
 */
int pbx_bridge_join(struct pbx_bridge *b, struct pbx_chan *ch);
/** Take @p ch out of its bridge, if any. */
void pbx_bridge_leave(struct pbx_chan *ch);
/**
 * Put @p in where @p out is, without breaking the other members' media:
 * their legs are joined to @p in directly (a transfer). @p out leaves.
 * 0; ENOENT (@p out not in @p b); ENOTCONN (@p in hung up).
 */
int pbx_bridge_swap(struct pbx_bridge *b, struct pbx_chan *out, struct pbx_chan *in);

/** The other member of a two-member bridge that does not mix, or NULL. */
struct pbx_chan *pbx_bridge_peer(const struct pbx_chan *ch);

/** The mode now: members, their codecs and consumers decide (see above). */
enum pbx_bridge_mode pbx_bridge_mode(const struct pbx_bridge *b);
const char *pbx_bridge_mode_name(enum pbx_bridge_mode m);
/** Call @p cb for every bridge, oldest first, until it returns non-zero. */
int pbx_bridge_each(int (*cb)(struct pbx_bridge *b, void *arg), void *arg);
unsigned pbx_bridge_count(void);

#endif
