/**
 * @file media_priv.h  Media engine internals: workers, queues, sessions, codec tables, DTMF
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Two halves per RTP session. struct pbx_rtp belongs to the signalling
 * thread (what the API hands out); struct pbx__sess belongs to one media
 * worker (sockets, latching, relay state). The signalling thread creates a
 * pbx__sess, hands it over in a command and from then on only keeps its
 * address to name it in later commands and to read its counters; the
 * worker frees it after a close command. Events come back by session id,
 * so an event for a session already freed is dropped by lookup.
 */
#ifndef PBX_MEDIA_PRIV_H
#define PBX_MEDIA_PRIV_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "pbx/frame.h"
#include "pbx/media.h"
#include "pbx/mixer.h"

struct pbx_config;
struct pbx__legf;
struct pbx__rec;
struct pbx__mon;
struct pbx__mixm;
struct pbx__mixer;

/* The two G.711 laws, which the relay translates by byte table (g711.c). */
enum pbx_codec {
	PBX_CODEC_PCMU, /* G.711 u-law, PT 0 */
	PBX_CODEC_PCMA, /* G.711 A-law, PT 8 */
	PBX_CODEC__COUNT
};

/* ---- g711.c ---------------------------------------------------------------------------------- */

/* Built by a constructor before main(); 33 KiB in all. */
extern int16_t pbx__ulaw_dec[256], pbx__alaw_dec[256];
extern uint8_t pbx__ulaw_enc[16384], pbx__alaw_enc[16384]; /* by (uint16_t)sample >> 2 */
extern uint8_t pbx__ulaw_to_alaw[256], pbx__alaw_to_ulaw[256];

/** The byte translation table from @p from to @p to; NULL when they are the same codec. */
const uint8_t *pbx__g711_xlat(enum pbx_codec from, enum pbx_codec to);
/** The registered descriptor of a G.711 law (codec_g711.c). */
const struct pbx_codec_desc *pbx__g711_desc(enum pbx_codec law);
/** PBX_CODEC_PCMU or _PCMA when @p c is that G.711 law, else -1. */
int pbx__g711_law(const struct pbx_codec_desc *c);
void pbx__g711_encode(enum pbx_codec c, const int16_t *pcm, uint8_t *out, size_t n);
void pbx__g711_decode(enum pbx_codec c, const uint8_t *in, int16_t *pcm, size_t n);

/* ---- RTP header (rtp.c) ---------------------------------------------------------------------- */

#define PBX__RTP_HDR   12
#define PBX__RTP_MAX   2048 /* larger datagrams are not voice: dropped */
#define PBX__MAX_PTIME 120
/* Room a buffer keeps after a packet for SRTP's tag and MKI, SRTCP's index too. */
#define PBX__SRTP_TRAILER 148

struct pbx__rtp_hdr {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts, ssrc;
	size_t hlen; /* payload offset: fixed header, CSRCs, extension */
	size_t plen; /* payload length without padding */
};

/** Validate and parse an RTP header: version 2, lengths consistent. 0 or EBADMSG. */
int pbx__rtp_parse(const uint8_t *p, size_t len, struct pbx__rtp_hdr *h);
/**
 * Validate a (compound) RTCP datagram as RFC 3550 A.2 does: each part at
 * least 4 bytes, version 2, a packet type of 200..207, its length within
 * the datagram, padding only within its part; the parts fill the datagram
 * exactly, at least 8 bytes in all. 0 or EBADMSG.
 */
int pbx__rtcp_check(const uint8_t *p, size_t len);

/* ---- DTMF, RFC 4733 (dtmf.c) ----------------------------------------------------------------- */

/** Event code of a key ("0-9*#A-D", '!' flash), -1 if none. */
int pbx__dtmf_code(char digit);
/** The key of an event code, 0 if it is not a key. */
char pbx__dtmf_digit(int code);

/* Receiver: one key press per event timestamp, however many end packets repeat it. */
struct pbx__dtmf_rx {
	uint64_t last_ms;  /* arrival of the latest packet of the event */
	uint32_t ts;       /* RTP timestamp of the current event */
	uint16_t duration; /* latest duration seen, in timestamp units */
	uint8_t code;
	uint8_t khz; /* the telephone-event clock, per ms (0: 8, RFC 4733's usual 8000 Hz) */
	bool active; /* an event with timestamp ts was seen ... */
	bool ended;  /* ... and was reported */
};

/**
 * Feed one telephone-event payload. Returns true with the key and its
 * duration (8 kHz clock) when a press completed: at its first end packet,
 * or when a new event starts before an end of the previous one arrived.
 */
bool pbx__dtmf_rx_feed(struct pbx__dtmf_rx *d, uint32_t ts, const uint8_t *pl, size_t len,
		       uint64_t now_ms, char *digit, int *duration_ms);
/** A press whose end packets were all lost: reported after @p idle_ms without packets. */
bool pbx__dtmf_rx_flush(struct pbx__dtmf_rx *d, uint64_t now_ms, uint64_t idle_ms, char *digit,
			int *duration_ms);

/* Sender: updates every packet interval, then three end packets. */
struct pbx__dtmf_tx {
	uint32_t ts;    /* timestamp of the event (the stream's when it began) */
	uint16_t total; /* duration to reach, timestamp units */
	uint16_t dur;   /* duration sent so far */
	uint16_t step;  /* timestamp units per packet */
	uint8_t code;
	uint8_t ends; /* end packets sent */
	bool active;
};

/** Durations count @p khz units per ms (the telephone-event clock); @p step per packet. */
void pbx__dtmf_tx_start(struct pbx__dtmf_tx *t, int code, uint32_t ts, int duration_ms,
			unsigned step, unsigned khz);
/** The next 4-byte payload; false when the event is over. *marker is set on the first. */
bool pbx__dtmf_tx_next(struct pbx__dtmf_tx *t, uint8_t pl[4], bool *marker);

/* ---- SRTP (srtp.c), worker side except the key check --------------------------------------- */

struct pbx__srtp;

/** Load libsrtp2 (once per process, whoever calls first). 0 or EIO. */
int pbx__srtp_init(void);
struct srtp_policy_t;
/**
 * libsrtp2's policy for key @p k (its suite, the key, a 1024-packet replay
 * window, no repeated keystream) and SSRC type @p ssrc_type (an
 * srtp_ssrc_type_t). The one place that maps our suites onto libsrtp2's;
 * the unit tests make their raw contexts with it too.
 */
void pbx__srtp_policy(struct srtp_policy_t *pol, const struct pbx_srtp_key *k, int ssrc_type);
/** The key's length matches its suite. */
bool pbx__srtp_key_valid(const struct pbx_srtp_key *k);
/**
 * Make, re-key or free (@p p->srtp false) the contexts of session @p id in
 * *@p xp. A key that did not change keeps its context. On an error *@p xp
 * stays set but cannot protect or unprotect: an SRTP leg fails closed.
 */
int pbx__srtp_set(struct pbx__srtp **xp, uint32_t id, const struct pbx_rtp_params *p);
void pbx__srtp_free(struct pbx__srtp *x);
/** In place; the buffer has PBX__SRTP_TRAILER bytes after *@p len. 0 or EINVAL. */
int pbx__srtp_protect(struct pbx__srtp *x, uint8_t *p, size_t *len);
/** In place: authenticate (replay window too) and decrypt. 0 or EBADMSG. */
int pbx__srtp_unprotect(struct pbx__srtp *x, uint8_t *p, size_t *len);
int pbx__srtp_unprotect_rtcp(struct pbx__srtp *x, uint8_t *p, size_t *len);

/* ---- sessions, worker side ------------------------------------------------------------------- */

union pbx__sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* Decoded audio of one file at 8 and 16 kHz: immutable once loaded, shared by workers. */
struct pbx__sound {
	int refs;       /* atomic: the cache and every playback hold one */
	size_t n;       /* samples at 8 kHz (a playback's position counts these) */
	size_t n16;     /* samples at 16 kHz */
	int16_t *pcm16; /* into the same block, after pcm */
	int16_t pcm[];  /* 8 kHz */
};

void pbx__sound_ref(struct pbx__sound *snd);
void pbx__sound_unref(struct pbx__sound *snd);

/* What a session sends is one stream: one SSRC, continuous sequence numbers and
 * timestamps, whether its packets are relayed, echoed or made here. */
enum pbx__out_mode { PBX__OUT_NONE, PBX__OUT_RELAY, PBX__OUT_LOCAL };

struct pbx__out {
	uint64_t last_ms; /* when the latest audio packet went out */
	uint32_t ssrc;
	uint32_t last_ts; /* timestamp of that packet */
	uint32_t in_ssrc; /* relayed source the offsets below belong to */
	uint32_t ts_off;  /* out = in + off, for relayed packets */
	uint16_t seq_off;
	uint16_t next_seq;
	uint8_t mode; /* enum pbx__out_mode */
	bool sent;    /* anything sent yet (last_ts valid) */
};

#define PBX__DTMF_QUEUE 16

struct pbx__worker;

/*
 * The fields every packet touches come first, in about three cache lines:
 * with a thousand calls a session is cold in the cache whenever its next
 * packet arrives 20 ms later, so each further line is a miss per packet.
 */
struct pbx__sess {
	/* Hot: the receiving session and the one it relays to. */
	uint32_t id;
	uint16_t port;
	bool have_params;
	bool can_send; /* remote known and dir lets us send */
	bool echo;
	bool latched;
	bool sdp_null;  /* the SDP address is 0.0.0.0 or port 0: send nothing, latch nothing */
	bool rx_frames; /* a consumer wants this leg's audio as frames: fill the jitter buffer */
	uint8_t pt, dtmf_pt, dir;
	int8_t law;              /* enum pbx_codec of a G.711 codec (table relay), -1 for others */
	uint8_t dq_head, dq_len; /* DTMF keys waiting to be sent */
	uint8_t cand_count;      /* packets in a row from cand */
	uint16_t spp;            /* samples per packet (ptime * 8) */
	uint16_t ptime;
	uint16_t khz;     /* RTP clock units per ms: 8 for G.711 and G.722, 48 for Opus */
	uint8_t dtmf_khz; /* telephone-event clock per ms: event durations count in it */
	int fd;
	socklen_t remote_len;
	uint32_t remote_ssrc;
	struct pbx__worker *w;
	struct pbx__sess *peer; /* bridged with; on the same worker */
	const struct pbx_codec_desc *codec;
	struct pbx__srtp *srtp;  /* NULL when the leg is plain RTP */
	struct pbx__sound *play; /* NULL when not playing */
	struct pbx__legf *f;     /* the frame path's state; NULL while only relaying */
	struct pbx__rec *rec;    /* recording what it receives */
	struct pbx__mon *mon;    /* call recording of both directions */
	struct pbx__mixm *mixm;  /* a conference member: its mixer state (mixer.c) */
	uint64_t last_rx_ms;
	union pbx__sa remote; /* where packets go: from SDP, then latched */
	struct pbx__out out;
	struct pbx__dtmf_tx dtx;
	/* Written by the worker only, read by the signalling thread: relaxed atomics. */
	struct pbx_rtp_stats st;

	/* Cold: latching candidates, DTMF and playback state, lists, handles. */
	union pbx__sa sdp;  /* the address SDP gave, to see a re-INVITE change it */
	char fmtp[64];      /* the far end's fmtp for the codec: its encoder follows it */
	union pbx__sa cand; /* another source that may take over */
	bool timed_out;
	bool in_gens;
	bool rx_deferred;      /* read at the worker's 20 ms tick, not per packet (rtp.c) */
	bool dtmf_no_relay;    /* telephone-events go up as events only (pbx_rtp_set_dtmf_relay) */
	bool dtmf_tail;        /* relay is back, but the event held at that moment stays held */
	uint32_t dtmf_tail_ts; /* ... that event's timestamp: its trailing end packets */
	uint8_t closing;       /* poll handles still closing */
	int rtcp_fd;
	struct pbx__dtmf_rx drx;
	uint64_t dtx_next_ms;
	struct {
		char digit;
		uint16_t ms;
	} dq[PBX__DTMF_QUEUE];
	size_t play_pos;
	uint64_t play_next_ms;
	uint32_t play_gen;
	bool play_loop;
	bool tone_on;         /* a tone plays (tone) when no playback does */
	struct pbx_tone tone; /* at 8 kHz */
	uint64_t tone_next_ms;
	uint64_t srtp_warn_ms;           /* the last "SRTP packets rejected" warning */
	uint64_t srtp_warned;            /* st.srtp_rejected at that warning */
	struct pbx__cmd *migrate;        /* moving: this command goes on as the adopt once closed */
	struct pbx__sess *next, *prev;   /* the worker's sessions */
	struct pbx__sess *gnext, *gprev; /* the worker's sessions that make packets (play, DTMF) */
	uv_poll_t poll, rtcp_poll;
};

/* ---- commands and events --------------------------------------------------------------------- */

enum pbx__cmd_type {
	PBX__CMD_ADD,
	PBX__CMD_PARAMS,
	PBX__CMD_BRIDGE,
	PBX__CMD_UNBRIDGE,
	PBX__CMD_PLAY,
	PBX__CMD_PLAY_STOP,
	PBX__CMD_ECHO,
	PBX__CMD_DTMF,
	PBX__CMD_DTMF_RELAY,
	PBX__CMD_TONE,
	PBX__CMD_TONE_STOP,
	PBX__CMD_RECORD,
	PBX__CMD_RECORD_STOP,
	PBX__CMD_MONITOR,
	PBX__CMD_MONITOR_STOP,
	PBX__CMD_CLOSE,
	PBX__CMD_MIGRATE,
	PBX__CMD_ADOPT,
	PBX__CMD_STOP,
	/* Conferences (mixer.c). ADD, CLOSE, RECORD* and PLAY* go to the mixer's
	 * worker; JOIN, MEMBER and LEAVE travel with the member's session. */
	PBX__CMD_MIX_ADD,
	PBX__CMD_MIX_CLOSE,
	PBX__CMD_MIX_JOIN,
	PBX__CMD_MIX_MEMBER,
	PBX__CMD_MIX_LEAVE,
	PBX__CMD_MIX_RECORD,
	PBX__CMD_MIX_RECORD_STOP,
	PBX__CMD_MIX_PLAY,
	PBX__CMD_MIX_PLAY_STOP,
};

struct pbx__cmd {
	struct pbx__cmd *next;
	enum pbx__cmd_type type;
	struct pbx__sess *s, *s2;
	uint32_t id, id2; /* the sessions' ids, for the signalling side to route it */
	union {
		struct pbx_rtp_params params;
		struct {
			struct pbx__sound *snd;
			uint32_t gen;
			bool loop;
		} play;
		struct {
			char *path[3]; /* record: [0]; monitor: mixed, rx, tx */
			struct pbx_rec_opts o;
			uint32_t gen; /* monitor: its generation, back in its done event */
		} rec;
		struct pbx_tone_spec tone;
		bool on;
		struct {
			char digit;
			int ms;
		} dtmf;
		struct pbx__worker *to;
		struct {
			uint32_t id; /* the mixer's (a worker finds it by id) */
			struct pbx_mix_cfg cfg;
			struct pbx_mix_member_opts o;
			struct pbx__sound *snd; /* MIX_PLAY */
			uint32_t gen;           /* MIX_PLAY, MIX_RECORD */
			char *path;             /* MIX_RECORD */
		} mix;
	} u;
};

enum pbx__ev_type {
	PBX__EV_DTMF,
	PBX__EV_TIMEOUT,
	PBX__EV_PLAY_DONE,
	PBX__EV_RECORD_DONE,  /* val err, gen ms, digit why */
	PBX__EV_MONITOR_DONE, /* val err, gen the monitor's */
	PBX__EV_CLOSED,
	PBX__EV_ADOPTED,
	PBX__EV_MIX_TALK,        /* id the member's session, val talking, gen the mixer */
	PBX__EV_MIX_RECORD_DONE, /* id the mixer, val err, gen ms */
	PBX__EV_MIX_PLAY_DONE,   /* id the mixer, val err, gen the playback's */
};

struct pbx__ev {
	struct pbx__ev *next;
	enum pbx__ev_type type;
	uint32_t id;
	int val;      /* duration ms, err, port */
	uint32_t gen; /* playback generation */
	unsigned ms;  /* a mix recording's length */
	char digit;
};

/* Multi-producer, single-consumer list under a mutex, with a wake-up. Commands
 * and events are rare (per call, not per packet), so a lock costs nothing. */
struct pbx__queue {
	pthread_mutex_t mu;
	void *head;
	void **tail;
	uv_async_t *wake;
	bool closed; /* the consumer is gone: items stay for whoever drains it */
};

void pbx__queue_init(struct pbx__queue *q, uv_async_t *wake);
/** Append @p item (its first member is the next pointer) and wake the consumer. */
void pbx__queue_push(struct pbx__queue *q, void *item);
/** Take everything queued, oldest first. */
void *pbx__queue_take(struct pbx__queue *q);
/** No more wake-ups: the consumer closes its async handle. */
void pbx__queue_close(struct pbx__queue *q);

/* ---- media_io.c: a worker's outgoing packets ------------------------------------------------ */

struct pbx__io;

/**
 * A send queue for one worker's thread. With @p batch, packets wait for
 * pbx__io_flush and go out in one io_uring submission; without it, or where
 * io_uring is refused, pbx__io_send sends at once. 0 or ENOMEM.
 */
int pbx__io_alloc(struct pbx__io **iop, bool batch);
/** Free @p io; packets still queued are dropped. */
void pbx__io_free(struct pbx__io *io);
/**
 * Send @p len bytes of @p p from @p fd to @p to, now or at the next flush
 * (copied: @p p and @p to are the caller's again on return). @p st counts
 * the packet once sent, so it must stay valid until the flush.
 */
void pbx__io_send(struct pbx__io *io, int fd, const uint8_t *p, size_t len, const union pbx__sa *to,
		  socklen_t tolen, struct pbx_rtp_stats *st);
/** Send everything queued; on return each packet is sent or lost, and counted. */
void pbx__io_flush(struct pbx__io *io);
/** Whether sends wait for the flush (io_uring in use). */
bool pbx__io_batched(const struct pbx__io *io);
unsigned pbx__io_queued(const struct pbx__io *io);

struct pbx__worker {
	int idx;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wake;
	uv_poll_t tick; /* 20 ms (tick_fd), while some session makes packets */
	int tick_fd;    /* a timerfd on absolute 20 ms deadlines */
	bool ticking;
	uv_timer_t check;          /* 1 s: timeouts, DTMF presses without an end */
	uv_check_t flush;          /* after the I/O callbacks: the turn's packets go out */
	uv_prepare_t flush_timers; /* before epoll_wait: the timers' packets go out */
	struct pbx__io *io;
	struct pbx__queue q;
	struct pbx__sess *sessions;
	struct pbx__sess *gens;
	struct pbx__mixer *mixers; /* conferences mixed here (mixer.c) */
	unsigned timeout_ms;       /* rtp.timeout; 0 = never */
	bool strict_rtp;           /* rtp.strict_rtp: how a new source takes over (rtp.c) */
	unsigned nsess_sig;        /* sessions placed here: the signalling thread's count */
	uint32_t tick_no; /* 20 ms frame periods so far: frames are pulled once per period */
	bool stopping;
	struct pbx__cmd stop; /* preallocated, so stopping cannot fail */
	/* The one receive buffer; relayed packets leave from it, so it has room
	 * for the SRTP trailer after the largest datagram taken. */
	uint8_t buf[PBX__RTP_MAX + PBX__SRTP_TRAILER] __attribute__((aligned(16)));
};

/* The signalling half of a session (media.c; the mixer API reads it too). */
struct pbx_rtp {
	uint32_t id;
	uint16_t port;
	uint16_t family; /* of the sockets */
	bool have_params;
	bool migrating;   /* commands wait in pending until the new worker has it */
	bool freed;       /* freed while migrating: kept until it arrives, then closed */
	bool play_active; /* play_done not yet delivered for play_gen */
	bool play_loop;   /* the playback asked starts again at its end */
	bool play_music;  /* ... and is hold music: its end goes to music_done */
	bool recording;   /* record_done not yet delivered */
	bool monitoring;  /* monitor_done not yet delivered */
	bool rec_on;      /* a recording was started and not stopped */
	bool mon_on;      /* a monitor was started and not stopped */
	uint32_t mon_gen; /* of the latest monitor: an older one's end is not ours */
	uint32_t play_gen;
	struct pbx__worker *w; /* where the session is, or is moving to */
	struct pbx__sess *s;  /* the worker's half: only named in commands, and its counters read */
	struct pbx_rtp *peer; /* bridged with, as the signalling thread sees it */
	struct pbx_mix *mix;  /* the conference it is a member of (mixer_api.c) */
	struct pbx_rtp *mnext; /* ... its other members */
	struct pbx_rtp *hnext;
	const struct pbx_rtp_events *ev;
	void *arg;
	struct pbx__cmd *pending, **pending_tail;
	struct pbx_rtp_params params;
};

struct pbx_rtp *pbx__rtp_find(uint32_t id);
/** Make a command for @p r: submitted at once, or handed to the caller in *@p cp to fill. */
int pbx__rtp_post(struct pbx_rtp *r, enum pbx__cmd_type type, struct pbx__cmd **cp);
/** Send @p c on for @p r, in order; it waits while @p r moves between workers. */
void pbx__rtp_submit(struct pbx_rtp *r, struct pbx__cmd *c);
/** The least loaded worker (signalling side). */
struct pbx__worker *pbx__media_least_loaded(void);

/* ---- media.c --------------------------------------------------------------------------------- */

/**
 * Start the engine from @p cfg (rtp.*, pbx.media_workers), delivering events
 * on @p sig_loop, whose thread becomes "the signalling thread". What
 * pbx_media_start does with the core's config; tests and benchmarks call it
 * with their own. 0 or errno.
 */
int pbx__media_start_with(const struct pbx_media_cfg *cfg, uv_loop_t *sig_loop);
/** Post an event to the signalling thread (any worker). */
void pbx__media_post(enum pbx__ev_type type, uint32_t id, int val, uint32_t gen, char digit);
/** As pbx__media_post, with a length in ms (a mix recording's end). */
void pbx__media_post_ms(enum pbx__ev_type type, uint32_t id, int val, uint32_t gen, unsigned ms);
/** The 20 ms tick of a worker's generating sessions: @p due periods went by. */
void pbx__worker_tick(struct pbx__worker *w, unsigned due);
/** Start the worker's 20 ms clock (it stops by itself when nothing needs it). */
void pbx__tick_start(struct pbx__worker *w);
/** Random numbers for ports and SSRCs; signalling thread only. */
uint32_t pbx__rand(void);
/** Push a command to a worker from a worker (migration hands a session on). */
void pbx__worker_push(struct pbx__worker *w, struct pbx__cmd *c);
/** A sound for playback @p gen of session @p id is ready (borrowed), or failed with @p err. */
void pbx__media_play_ready(uint32_t id, uint32_t gen, struct pbx__sound *snd, int err);
/** The signalling thread's loop (for the thread pool), and whether the engine runs. */
uv_loop_t *pbx__media_loop(void);
bool pbx__media_running(void);
/** The signalling side's session count and worker count, for tests. */
unsigned pbx__media_sessions(void);
int pbx__media_workers(void);

/* ---- rtp.c: the worker side ------------------------------------------------------------------ */

int pbx__ports_init(int port_min, int port_max);
void pbx__ports_free(void);
/** Bind an even/odd pair on @p local's address; ENOSPC when none is free. */
int pbx__ports_open(const struct sockaddr *local, int *fd, int *rtcp_fd, uint16_t *port);
void pbx__ports_release(uint16_t port);

void pbx__sess_add(struct pbx__worker *w, struct pbx__sess *s);
void pbx__sess_params(struct pbx__sess *s, const struct pbx_rtp_params *p);
void pbx__sess_bridge(struct pbx__sess *a, struct pbx__sess *b);
void pbx__sess_unbridge(struct pbx__sess *s);
/** Close the sockets and free @p s (the event says the ports are free). */
void pbx__sess_close(struct pbx__sess *s);
/**
 * Leave this worker for c->u.to: once the handles are closed, @p c (owned
 * from now on) is pushed there as the adopt command.
 */
void pbx__sess_migrate(struct pbx__sess *s, struct pbx__cmd *c);
void pbx__sess_check(struct pbx__worker *w);
/** Add a closing session's counters to the engine's totals (any worker; media.c). */
void pbx__stats_retire(const struct pbx_rtp_stats *st);
/** Send a packet this session made (play, DTMF): header from its stream. */
void pbx__sess_send_local(struct pbx__sess *s, uint8_t pt, bool marker, uint32_t ts, uint8_t *pkt,
			  size_t len);
/** The timestamp a locally made packet takes now, switching the stream to local. */
uint32_t pbx__out_local_ts(struct pbx__sess *s, uint64_t now, bool *marker);
/** As pbx__out_local_ts for packets of @p step clock units (the frame path's 20 ms). */
uint32_t pbx__out_local_ts_step(struct pbx__sess *s, uint64_t now, bool *marker, unsigned step);
/** Put @p s on / off its worker's list of sessions that need the 20 ms tick. */
void pbx__gens_update(struct pbx__sess *s);
/** Whether @p s is read per packet or at the tick; after a change of peer, echo or consumers. */
void pbx__rx_mode_update(struct pbx__sess *s);
/** Read what waits on a tick-read leg's socket (a few packets; the rest stays for the next tick). */
void pbx__rtp_drain(struct pbx__sess *s);

/* ---- playback.c ------------------------------------------------------------------------------ */

/**
 * Signalling side: find @p path in the cache or load it on the thread pool,
 * then call pbx__media_play_ready(id, gen, ...), at once when cached. 0, or
 * an errno when the file cannot be used (nothing is called then).
 */
int pbx__play_request(uint32_t id, uint32_t gen, const char *path);
/** Drop the cache (at stop); sounds still playing stay until their last reference. */
void pbx__play_cache_flush(void);
/** Loads still running on the thread pool. */
unsigned pbx__play_loading(void);
/** Worker side. */
void pbx__play_start(struct pbx__sess *s, struct pbx__sound *snd, uint32_t gen);
/** End the playback: event with @p err (0, ECANCELED), or none when @p err < 0. */
void pbx__play_stop(struct pbx__sess *s, int err);
void pbx__play_tick(struct pbx__sess *s, uint64_t now);
/** Decode @p path to 8 kHz PCM (any thread; the thread pool calls it). 0 or errno. */
int pbx__sound_load(const char *path, struct pbx__sound **sndp);

/* ---- leg_frames.c: a leg's frame path (worker side) ---------------------------------------- */

/** Set the leg's codec (NULL: u-law), its clock and law; frame state of another codec goes. */
void pbx__leg_set_codec(struct pbx__sess *s, const struct pbx_codec_desc *c);
/** Free the frame state (close, migrate). */
void pbx__leg_frames_free(struct pbx__sess *s);
/** Recompute rx_frames of @p s after a consumer or a bridge changed. */
void pbx__frames_update(struct pbx__sess *s);
/** A received audio payload of @p codec into the leg's jitter buffer (rx_frames is set). */
void pbx__leg_rx_put(struct pbx__sess *s, const struct pbx_codec_desc *codec, const uint8_t *pl,
		     size_t len, const struct pbx__rtp_hdr *h);
/**
 * The leg's received audio for this tick of its worker, @p rate Hz (8000 or
 * 16000): decoded from the jitter buffer, concealed when lost; silence
 * while it fills. Once per tick; later calls give the same frame. 0 or errno.
 */
int pbx__leg_rx_frame(struct pbx__sess *s, unsigned rate, struct pbx_frame *out);
/** Decode a payload that arrived on @p s and send it, re-encoded, out of @p d. */
void pbx__leg_transcode(struct pbx__sess *s, struct pbx__sess *d,
			const struct pbx_codec_desc *codec, const uint8_t *pl, size_t len,
			const struct pbx__rtp_hdr *h, uint64_t now);
/** Encode @p f (any frame rate) in @p s's codec and send it as a 20 ms local packet. */
void pbx__leg_send_frame(struct pbx__sess *s, const struct pbx_frame *f, uint64_t now);
/** The rate frames of this leg are recorded at: 16000 for wideband codecs, else 8000. */
unsigned pbx__leg_rec_rate(const struct pbx__sess *s);

/* ---- media_record.c: recording consumers (worker side) --------------------------------------- */

/** Start recording per @p c (a PBX__CMD_RECORD; its path is taken). */
void pbx__rec_start(struct pbx__sess *s, struct pbx__cmd *c);
/** End the recording (if any) for @p why; keep the file or remove it. */
void pbx__rec_stop(struct pbx__sess *s, int why, bool keep);
void pbx__rec_dtmf(struct pbx__sess *s, char digit);
void pbx__rec_tick(struct pbx__sess *s);
void pbx__mon_start(struct pbx__sess *s, struct pbx__cmd *c);
void pbx__mon_stop(struct pbx__sess *s);
void pbx__mon_tick(struct pbx__sess *s);

/** Worker side of pbx_rtp_tone: start (@p spec) or stop (NULL) the leg's tone. */
void pbx__tone_set(struct pbx__sess *s, const struct pbx_tone_spec *spec);
void pbx__tone_tick(struct pbx__sess *s, uint64_t now);

/* ---- mixer.c: conferences, worker side ------------------------------------------------------ */

/* Mixer ids have this bit; session ids never reach it (playback routes by it). */
#define PBX__MIX_ID_BIT 0x80000000u

/** A mixer command (PBX__CMD_MIX_*) on worker @p w; the caller frees @p c after. */
void pbx__mix_cmd(struct pbx__worker *w, struct pbx__cmd *c);
/** One 20 ms period of every mixer of @p w (after the members' frames are due). */
void pbx__mix_tick(struct pbx__worker *w, uint64_t now);
/** Take @p s out of its mixer (it closes, moves or is bridged). */
void pbx__mix_remove(struct pbx__sess *s);
/** Close every mixer of a stopping worker. */
void pbx__mix_stop_all(struct pbx__worker *w);
/** Signalling side: a mixer event (PBX__EV_MIX_*). */
void pbx__mix_event(const struct pbx__ev *e);
/** Signalling side: the sound of the room's playback @p gen is ready, or failed. */
void pbx__mix_play_ready(uint32_t id, uint32_t gen, struct pbx__sound *snd, int err);
/** Signalling side: forget every mixer (the engine stopped). */
void pbx__mix_forget_all(void);
/** The rate a leg's frames come at when @p want is asked: @p want where its codec can, else its own. */
unsigned pbx__leg_native_rate(const struct pbx__sess *s, unsigned want);

/* ---- dtmf.c, worker side --------------------------------------------------------------------- */

void pbx__dtmf_enqueue(struct pbx__sess *s, char digit, int ms);
void pbx__dtmf_tick(struct pbx__sess *s, uint64_t now);
static inline bool pbx__dtmf_sending(const struct pbx__sess *s)
{
	return s->dtx.active || s->dq_len;
}

/* ---- counters -------------------------------------------------------------------------------- */

#define PBX__STAT_ADD(field, n)                                                       \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), \
			 __ATOMIC_RELAXED)

#endif
