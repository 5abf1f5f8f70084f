/**
 * @file devstate.h  Device states: what each phone is doing, for BLF lamps and presence
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A device is what a channel technology names, "SIP/1001": a user's
 * phones together. Its state comes from two sources, as Asterisk's
 * devstate does:
 *
 *  - its channels (the core counts them as their state changes): a call
 *    the PBX places to it and that rings makes it RINGING, a call up (or
 *    one it is placing) INUSE, a call its phone holds ONHOLD;
 *  - its registrations (the driver says how many contacts it has): with
 *    none and no channel it is UNAVAILABLE, with one NOT_INUSE.
 *
 * Watchers hear every change. Signalling thread only.
 */
#ifndef PBX_DEVSTATE_H
#define PBX_DEVSTATE_H

#include <stdbool.h>
#include <stddef.h>

struct pbx_chan;

enum pbx_devstate {
	PBX_DEV_UNAVAILABLE, /* no registration, no call */
	PBX_DEV_NOT_INUSE,   /* registered, idle */
	PBX_DEV_INUSE,       /* a call up or being placed */
	PBX_DEV_RINGING,     /* a call to it rings */
	PBX_DEV_ONHOLD,      /* its only calls are held by its phone */
};

/** Asterisk's names: "NOT_INUSE", "INUSE", "RINGING", "ONHOLD", "UNAVAILABLE". */
const char *pbx_devstate_name(enum pbx_devstate st);
/** The state of @p device ("SIP/1001") now. */
enum pbx_devstate pbx_devstate_get(const char *device);
/**
 * The state of a hint's devices "SIP/1001&SIP/1002" together, as Asterisk
 * combines them: in use if any is, else ringing, on hold, idle, and
 * unavailable only when all are.
 */
enum pbx_devstate pbx_devstate_of_list(const char *devices);
/** Whether the hint's "SIP/1001&SIP/1002" names @p device. */
bool pbx_devstate_in_list(const char *devices, const char *device);
/** The device of @p ch: "SIP/1001-0000002a" is a channel of "SIP/1001". */
void pbx_devstate_chan_device(const struct pbx_chan *ch, char *out, size_t size);
/** Driver side: @p device has @p n registered contacts now. */
void pbx_devstate_contacts(const char *device, unsigned n);
/** The channel core: @p ch changed (state, hold, hangup); its device is counted again. */
void pbx_devstate_chan_changed(struct pbx_chan *ch);

typedef void pbx_devstate_watch_h(const char *device, enum pbx_devstate st, void *arg);
/** Hear every change of every device. 0 or ENOMEM. */
int pbx_devstate_watch(pbx_devstate_watch_h *fn, void *arg);
void pbx_devstate_unwatch(pbx_devstate_watch_h *fn, void *arg);

/*
 * Watchers of hints: how many subscriptions (a BLF key, a buddy list)
 * watch each extension, for `core show hints`. The driver that holds the
 * subscriptions counts them here; the core only keeps the numbers. The
 * count is per (context, exten) as the watcher's context sees the
 * extension: the hint it sees may be defined in a context it includes,
 * and a reload may move it; the dialplan resolves that when it shows them.
 */
/** One more (@p delta 1) or one less (-1) watcher of @p exten seen from @p context. */
void pbx_hint_watchers_add(const char *context, const char *exten, int delta);
/** Watchers of @p exten seen from @p context now. */
unsigned pbx_hint_watchers(const char *context, const char *exten);
typedef void pbx_hint_watchers_each_h(const char *context, const char *exten, unsigned n,
				      void *arg);
/** Every (context, exten) with at least one watcher. */
void pbx_hint_watchers_each(pbx_hint_watchers_each_h *fn, void *arg);

#endif
