/**
 * @file media.h  The media engine: RTP sessions on media workers, codecs,
 *                relay and transcoding bridges, playback, echo, DTMF
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every function here is called on the signalling thread. A session lives
 * on one media worker thread; calls are posted to that worker's queue and
 * events come back to the signalling loop, so nothing is shared under
 * locks. Sessions bridged together live on the same worker (ask for it
 * with @p near at allocation), so relaying a packet is a function call.
 */
#ifndef PBX_MEDIA_H
#define PBX_MEDIA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pbx/chan.h"

enum pbx_codec {
	PBX_CODEC_PCMU, /* G.711 u-law, PT 0 */
	PBX_CODEC_PCMA, /* G.711 A-law, PT 8 */
	PBX_CODEC__COUNT
};

const char *pbx_codec_name(enum pbx_codec c); /* "PCMU" as in SDP rtpmap */
int pbx_codec_by_name(const char *name);      /* -1 if unknown; case-insensitive */
int pbx_codec_static_pt(enum pbx_codec c);    /* 0, 8 */
unsigned pbx_codec_rate(enum pbx_codec c);    /* 8000 */

/* G.711 with 16-bit linear PCM; the tables are built once at start. */
int16_t pbx_ulaw_decode(uint8_t u);
uint8_t pbx_ulaw_encode(int16_t s);
int16_t pbx_alaw_decode(uint8_t a);
uint8_t pbx_alaw_encode(int16_t s);

struct pbx_rtp;

/** Events of a session, delivered on the signalling thread. Any may be NULL. */
struct pbx_rtp_events {
	/** An RFC 4733 telephone-event ended (one call per key press). */
	void (*dtmf)(void *arg, char digit, int duration_ms);
	/** No RTP arrived for rtp.timeout seconds while media was expected. */
	void (*timeout)(void *arg);
	/** A playback ended: @p err 0 at its end, ECANCELED when stopped, or an error. */
	void (*play_done)(void *arg, int err);
};

/** What SDP negotiated for one leg. */
struct pbx_rtp_params {
	struct sockaddr_storage remote; /* RTP address from SDP; symmetric RTP may latch another */
	enum pbx_codec codec;
	uint8_t pt;      /* payload type used for the codec on this leg */
	uint8_t dtmf_pt; /* telephone-event payload type; 0 when not negotiated */
	/* Ours, as our SDP says: we send if sendrecv/sendonly, use what arrives if
	 * sendrecv/recvonly; the no-RTP timeout runs only for sendrecv. */
	enum pbx_media_dir dir;
	unsigned ptime; /* ms of audio per packet, usually 20 */
};

/** Counters for the console; read without locks (may be a packet behind). */
struct pbx_rtp_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
	uint64_t rx_dropped; /* malformed, wrong source before latching, ... */
};

/** Start the media workers (rtp.* and pbx.media_workers from the config). */
int pbx_media_start(void);
void pbx_media_stop(void);

/**
 * A session with an RTP and an RTCP socket (an even/odd port pair from
 * rtp.port_min..port_max) bound to @p local's address (port ignored). On
 * the worker of @p near when given. ENOSPC when no ports are free.
 */
int pbx_rtp_alloc(struct pbx_rtp **rp, const struct sockaddr *local, struct pbx_rtp *near,
		  const struct pbx_rtp_events *ev, void *arg);
/** Stop and release (ports return to the pool). No event fires after this. */
void pbx_rtp_free(struct pbx_rtp *r);
/** The bound RTP port. */
int pbx_rtp_port(const struct pbx_rtp *r);
/** Apply negotiated parameters (again on every re-INVITE). 0 or errno. */
int pbx_rtp_set_params(struct pbx_rtp *r, const struct pbx_rtp_params *p);
/**
 * Bridge two sessions: packets from each go out of the other. Same codec:
 * relayed (payload type rewritten if it differs); else transcoded through
 * 16-bit PCM. Telephone-events are relayed when both legs negotiated them.
 * @p b NULL unbridges @p a (and its peer). A bridge replaces playback/echo.
 */
int pbx_rtp_bridge(struct pbx_rtp *a, struct pbx_rtp *b);
/** Play a WAV file (any rate, mono), resampled and paced at 20 ms. */
int pbx_rtp_play(struct pbx_rtp *r, const char *path);
void pbx_rtp_play_stop(struct pbx_rtp *r);
/** Send every received packet back to its sender (app echo). */
int pbx_rtp_echo(struct pbx_rtp *r, bool on);
/** Send an RFC 4733 event (needs dtmf_pt). */
int pbx_rtp_send_dtmf(struct pbx_rtp *r, char digit, int duration_ms);
void pbx_rtp_get_stats(const struct pbx_rtp *r, struct pbx_rtp_stats *st);
const struct pbx_rtp_params *pbx_rtp_get_params(const struct pbx_rtp *r);

#endif
