/**
 * @file media.h  The media engine: RTP sessions on media workers, relay and
 *                transcoding, playback and hold music, recording, echo, DTMF
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
#include "pbx/codec.h"
#include "pbx/frame.h"

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
	/**
	 * A recording (pbx_rtp_record) ended for @p why: the file holds
	 * @p ms of audio, or @p err says why there is none (then why is
	 * PBX_REC_ERROR).
	 */
	void (*record_done)(void *arg, int why, int err, unsigned ms);
	/** A monitor (pbx_rtp_monitor) closed its files: @p err 0 or the first error. */
	void (*monitor_done)(void *arg, int err);
	/** As play_done, for a playback started with pbx_rtp_play_music. */
	void (*music_done)(void *arg, int err);
};

/** SRTP crypto suites (RFC 4568 names in pbx_srtp_suite_name). */
enum pbx_srtp_suite {
	PBX_SRTP_AES_CM_128_HMAC_SHA1_80,
	PBX_SRTP_AES_CM_128_HMAC_SHA1_32,
	PBX_SRTP_AEAD_AES_128_GCM,
	PBX_SRTP_AEAD_AES_256_GCM,
};

/** One direction's master key and salt, as carried in a=crypto inline:. */
struct pbx_srtp_key {
	enum pbx_srtp_suite suite;
	uint8_t key[46]; /* master key || master salt: 30, 28 or 44 bytes */
	uint8_t len;
};

const char *pbx_srtp_suite_name(enum pbx_srtp_suite s); /* "AES_CM_128_HMAC_SHA1_80" */
/** Key+salt length of a suite in bytes (30 for AES_CM_128, 28/44 for GCM). */
unsigned pbx_srtp_suite_key_len(enum pbx_srtp_suite s);
/** Fill @p k with fresh random key material for @p suite. 0 or EIO. */
int pbx_srtp_key_new(struct pbx_srtp_key *k, enum pbx_srtp_suite suite);

/** What SDP negotiated for one leg. */
struct pbx_rtp_params {
	struct sockaddr_storage remote; /* RTP address from SDP; symmetric RTP may latch another */
	const struct pbx_codec_desc *codec; /* a registered codec (codec.h) */
	char fmtp[64];      /* the far end's a=fmtp for it (what it can take), may be "" */
	uint8_t pt;         /* payload type used for the codec on this leg */
	uint8_t dtmf_pt;    /* telephone-event payload type; 0 when not negotiated */
	unsigned dtmf_rate; /* its clock (a=rtpmap): 8000, or the codec's; 0: 8000 */
	/* Ours, as our SDP says: we send if sendrecv/sendonly, use what arrives if
	 * sendrecv/recvonly; the no-RTP timeout runs only for sendrecv. */
	enum pbx_media_dir dir;
	unsigned ptime; /* ms of audio per packet, usually 20 */
	/* SRTP (SDES, RFC 4568): when set, this leg is encrypted. tx is the
	 * key we offered/answered (we encrypt with it), rx the peer's. */
	bool srtp;
	struct pbx_srtp_key tx, rx;
};

/**
 * Counters for the console; read without locks (may be a packet behind).
 * rx_dropped counts every RTP packet received and not used; rx_strict and
 * rx_malformed are two of its reasons (the others: no SDP yet, a direction
 * that takes nothing, a frame the jitter buffer refused). SRTP and SRTCP
 * packets that fail authentication are in srtp_rejected only.
 */
struct pbx_rtp_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
	uint64_t rx_dropped;     /* every packet not used, for any reason below or another */
	uint64_t srtp_rejected;  /* failed authentication or replay (SRTP and SRTCP): dropped */
	uint64_t rx_strict;      /* from a source other than the latched one (strict RTP) */
	uint64_t rx_malformed;   /* not usable RTP: version, lengths, payload type, size */
	uint64_t rtcp_packets;   /* RTCP datagrams received on the odd port */
	uint64_t rtcp_malformed; /* ... of them truncated or invalid (RFC 3550 A.2): dropped */
};

/** The same counters summed over every session since the engine started (signalling thread). */
void pbx_rtp_totals(struct pbx_rtp_stats *st, unsigned *sessions);

#define PBX_MEDIA_MAX_CODECS 16 /* rtp.codecs entries; more than are registered */

/** The media engine's configuration: the rtp section, and pbx.media_workers. */
struct pbx_media_cfg {
	int port_min, port_max;
	int srtp;        /* enum pbx_srtp_policy: the default of new users */
	int timeout;     /* seconds without RTP before hangup; 0 = never */
	bool strict_rtp; /* a new source takes over only as rtp.c says; false: at once */
	int workers;     /* not a key of rtp: pbx.media_workers, filled by pbx_media_start */
	bool no_batch;   /* not a key: one sendto per packet, no io_uring (tests, benchmarks) */
	/* rtp.codecs, resolved at load: what SIP offers and accepts, best first */
	const struct pbx_codec_desc *codecs[PBX_MEDIA_MAX_CODECS];
	int n_codecs;
};

struct pbx_config;
/** The rtp section of @p cfg. */
const struct pbx_media_cfg *pbx_media_config(const struct pbx_config *cfg);
/**
 * rtp.codecs of @p cfg: registered codecs, at least one, none twice, in the
 * administrator's order of preference; *@p n gets how many. Owned by @p cfg.
 */
const struct pbx_codec_desc *const *pbx_media_codecs(const struct pbx_config *cfg, size_t *n);

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
/**
 * Play a tone (pbx/frame.h: up to two frequencies and a cadence) in the
 * background until pbx_rtp_tone_stop, a `once` tone's end, or the leg's
 * end. A playback takes the stream while it runs; the tone goes on after.
 * Replaces a tone playing. 0, EINVAL (a frequency at or above 4 kHz) or errno.
 */
int pbx_rtp_tone(struct pbx_rtp *r, const struct pbx_tone_spec *spec);
void pbx_rtp_tone_stop(struct pbx_rtp *r);
/** Play a WAV file (any rate, mono), resampled and paced at 20 ms. */
int pbx_rtp_play(struct pbx_rtp *r, const char *path);
/**
 * Hold music: as pbx_rtp_play, but its end is told to music_done, not
 * play_done (the core plays it, not the application that waits for its
 * own prompts), and with @p loop it starts again at its end until stopped.
 * pbx_rtp_play_stop stops it too.
 */
int pbx_rtp_play_music(struct pbx_rtp *r, const char *path, bool loop);
/** Stop the playback if it is hold music (a prompt that replaced it plays on). */
void pbx_rtp_music_stop(struct pbx_rtp *r);
/** Whether hold music is what plays now (not stopped nor replaced by a prompt). */
bool pbx_rtp_playing_music(const struct pbx_rtp *r);
void pbx_rtp_play_stop(struct pbx_rtp *r);
/** Send every received packet back to its sender (app echo). */
int pbx_rtp_echo(struct pbx_rtp *r, bool on);
/**
 * Whether telephone-events received on @p r go straight out of its bridged
 * peer (@p on, the default). Off, they only come up as dtmf events, so the
 * signalling side decides which keys reach the other party (Dial's feature
 * codes, see pbx_chan_dtmf_hold). Kept across bridges, re-INVITEs and
 * worker moves. 0 or errno.
 */
int pbx_rtp_set_dtmf_relay(struct pbx_rtp *r, bool on);
/** Send an RFC 4733 event (needs dtmf_pt). */
int pbx_rtp_send_dtmf(struct pbx_rtp *r, char digit, int duration_ms);
void pbx_rtp_get_stats(const struct pbx_rtp *r, struct pbx_rtp_stats *st);
/** The media worker the session is on, or moving to (0-based; for the console). */
int pbx_rtp_worker(const struct pbx_rtp *r);

/* ---- frames out of a leg: recording -------------------------------------------------------- */

/** Why a recording ended; pbx_rec_status_name gives Asterisk's RECORD_STATUS word. */
enum pbx_rec_why {
	PBX_REC_DTMF,    /* a terminator key: "DTMF" */
	PBX_REC_SILENCE, /* silence_ms without speech: "SILENCE" */
	PBX_REC_MAXLEN,  /* max_ms reached: "TIMEOUT" */
	PBX_REC_STOPPED, /* pbx_rtp_record_stop (the caller hung up): "HANGUP" */
	PBX_REC_ERROR,   /* the file could not be written: "ERROR" */
};
const char *pbx_rec_status_name(int why);

struct pbx_rec_opts {
	unsigned max_ms;      /* 0: no limit */
	unsigned silence_ms;  /* stop after this much silence once speech was heard; 0: never */
	char terminators[20]; /* DTMF keys that end it ("#"); empty: none */
};

/**
 * Record what the leg receives (decoded through a jitter buffer) into a
 * mono WAV at @p path, at 8 kHz for narrowband codecs and 16 kHz for the
 * others. The file appears under its name only when the recording ends
 * (record_done). Replaces a recording running on the leg. 0 or errno.
 */
int pbx_rtp_record(struct pbx_rtp *r, const char *path, const struct pbx_rec_opts *o);
/** End the recording now (record_done follows with PBX_REC_STOPPED); @p keep: or remove it. */
void pbx_rtp_record_stop(struct pbx_rtp *r, bool keep);

/**
 * Call recording: what the leg receives and what is sent to it (its
 * bridge peer's audio), mixed into @p mixed and/or each alone into
 * @p rx_path and @p tx_path (any may be NULL, not all). Follows the leg
 * across bridges; ends at pbx_rtp_monitor_stop or pbx_rtp_free. 0 or errno.
 */
int pbx_rtp_monitor(struct pbx_rtp *r, const char *mixed, const char *rx_path, const char *tx_path);
void pbx_rtp_monitor_stop(struct pbx_rtp *r);
/** Whether a recording or a monitor takes this leg's audio now (a bridge's frames mode). */
bool pbx_rtp_has_consumers(const struct pbx_rtp *r);
const struct pbx_rtp_params *pbx_rtp_get_params(const struct pbx_rtp *r);
/** Whether the leg is encrypted (its latest params); its suite in *@p suite (may be NULL). */
bool pbx_rtp_is_srtp(const struct pbx_rtp *r, enum pbx_srtp_suite *suite);

#endif
