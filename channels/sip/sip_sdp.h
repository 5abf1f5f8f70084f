/**
 * @file sip_sdp.h  SDP (RFC 4566): parse, offer/answer (RFC 3264), build; SDES a=crypto (RFC 4568)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A pure module: no sockets, no clock, no randomness. The SIP driver hands
 * in a received body as (pointer, length) and gets back fixed-size structs;
 * it hands in what it wants and gets back a body in a pbx_buf.
 *
 * Answering an offer (INVITE or re-INVITE with a body):
 *
 *   sdp_parse(&offer, body, len, &why)        != 0 -> 400 (or 488) with why
 *   sdp_negotiate_offer(&offer, &prefs, &ch)  ENOTSUP -> 488, ch.why says why
 *   fill an sdp_build_spec with .offer = &offer, .choice = &ch, our address,
 *   port, and (when ch.srtp) one sdp_crypto of ours with ch.crypto's tag and
 *   suite; sdp_build() -> the answer, every other m= line rejected with
 *   port 0 in the offer's order (RFC 3264 6)
 *   apply ch to the media session: sdp_choice_rtp_params()
 *
 * Making an offer (outgoing INVITE, hold, resume):
 *
 *   sdp_build() with .codecs, .dtmf_pt, .dir, .proto and our keys; the
 *   caller keeps o= sess-id fixed and increments sess-version whenever the
 *   offer changes (RFC 3264 8); parse our own body back into an
 *   sdp_session to remember the offer, then for the answer:
 *   sdp_parse(&answer, ...); sdp_negotiate_answer(&our_offer, &answer, &ch)
 *
 * Hold: a re-INVITE saying sendonly or inactive, or the RFC 2543 way with
 * c=IN IP4 0.0.0.0 (which means "send nothing to me", RFC 3264 8.4);
 * sdp_media_remote_dir() folds both into one direction and
 * sdp_choice.remote_dir carries it.
 *
 * Strings in the parsed structs are NUL-terminated copies; the body can be
 * freed after sdp_parse. A value that does not fit its field makes the body
 * malformed (EBADMSG), except where a field's comment says otherwise.
 * struct sdp_session is about 36 KiB: parse into a short-lived object and
 * keep the (small) sdp_choice for the life of the call.
 */
#ifndef SIP_SDP_H
#define SIP_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pbx/buf.h"
#include "pbx/chan.h"
#include "pbx/media.h"

#define SDP_MAX_BODY      65536 /* bytes; a SIP message is smaller anyway */
#define SDP_MAX_LINE      1024  /* bytes of one line, without its CRLF */
#define SDP_MAX_MEDIA     8     /* m= lines */
#define SDP_MAX_FMTS      32    /* formats kept per RTP m= line */
#define SDP_MAX_CRYPTO    8     /* well-formed a=crypto kept per m= line */
#define SDP_CRYPTO_KEYMAX 64 /* bytes of master key + salt; the largest registered suite needs 46 */

enum sdp_mtype { SDP_MTYPE_OTHER, SDP_MTYPE_AUDIO, SDP_MTYPE_VIDEO };

/** Transport protocol of an m= line; only the RTP profiles are ever accepted. */
enum sdp_proto {
	SDP_PROTO_OTHER, /* udptl, TCP/BFCP, UDP/TLS/RTP/SAVPF (DTLS), ...: rejected */
	SDP_PROTO_RTP_AVP,
	SDP_PROTO_RTP_SAVP,
	SDP_PROTO_RTP_AVPF,
	SDP_PROTO_RTP_SAVPF,
};

/** SRTP crypto suites of RFC 4568 and RFC 7714 (the ones libsrtp2 gives us). */
enum sdp_suite {
	SDP_SUITE_UNKNOWN, /* well-formed but not ours: kept, flagged, never chosen */
	SDP_SUITE_AES_CM_128_HMAC_SHA1_80,
	SDP_SUITE_AES_CM_128_HMAC_SHA1_32,
	SDP_SUITE_AEAD_AES_128_GCM,
	SDP_SUITE_AEAD_AES_256_GCM,
};

/** SRTP policy of a user (config: rtp.srtp and the directory). */
enum sdp_srtp { SDP_SRTP_OFF, SDP_SRTP_OPTIONAL, SDP_SRTP_MANDATORY };

/**
 * One a=crypto line: `TAG SUITE inline:KEY[|LIFETIME][|MKI:LEN] [PARAMS]`.
 * Only the first key-param is kept (nkeys counts them all, each checked).
 */
struct sdp_crypto {
	uint32_t tag; /* 0..999999999 */
	enum sdp_suite suite;
	char suite_name[32];            /* as written; the only name for an unknown suite */
	uint8_t key[SDP_CRYPTO_KEYMAX]; /* master key then master salt, decoded */
	uint8_t key_len;                /* checked against the suite when it is known */
	uint64_t lifetime;              /* packets; 0: not given (the suite's maximum) */
	uint64_t mki;                   /* MKI value, meaningful when mki_len > 0 */
	uint8_t mki_len;                /* bytes on the wire, 1..128; 0: no MKI */
	uint8_t nkeys;                  /* key-params in the line */
	int8_t kdr;                     /* KDR=n, 0..24; -1: not given */
	uint16_t wsh;                   /* WSH=n, 64.. ; 0: not given */
	bool unencrypted_srtp, unencrypted_srtcp, unauthenticated_srtp;
	bool fec; /* FEC_ORDER or FEC_KEY given */
};

/** A payload format of an RTP m= line, with its rtpmap and fmtp when present. */
struct sdp_fmt {
	uint8_t pt;       /* 0..127 */
	bool rtpmap;      /* a=rtpmap seen; else name/rate come from the static table */
	char name[20];    /* encoding name as written ("" unknown or too long) */
	uint32_t rate;    /* clock rate; 0 unknown */
	uint8_t channels; /* 1 when not given */
	char fmtp[64];    /* a=fmtp parameters; "" when absent or longer than this */
};

/** A connection address (c=): numeric IPv4 or IPv6 only. */
struct sdp_conn {
	int family;                 /* AF_INET, AF_INET6; 0: no c= line */
	struct sockaddr_storage sa; /* port 0 */
	char addr[46];              /* as text (INET6_ADDRSTRLEN) */
};

struct sdp_media {
	enum sdp_mtype type;
	char type_name[16]; /* "audio", "video", "image", ... */
	uint16_t port;      /* 0: stream disabled */
	enum sdp_proto proto;
	char proto_name[32]; /* as written, echoed when rejecting */
	char first_fmt[32];  /* the first format token, echoed when rejecting */
	/*
	 * Formats of RTP m= lines of type audio only, in the offer's order:
	 * other lines are only ever rejected, and a browser's video line can
	 * list forty formats. nfmts counts the kept ones.
	 */
	unsigned nfmts;
	struct sdp_fmt fmts[SDP_MAX_FMTS];
	struct sdp_conn conn;   /* the media c=, else the session's */
	bool zero_addr;         /* conn is 0.0.0.0 or :: (RFC 2543 hold) */
	enum pbx_media_dir dir; /* a=sendrecv etc.: media level, else session, else sendrecv */
	unsigned ptime;         /* a=ptime ms; 0: not given */
	uint16_t rtcp_port;     /* a=rtcp; 0: not given */
	bool rtcp_mux;          /* a=rtcp-mux */
	unsigned ncrypto;       /* well-formed a=crypto lines (audio m= lines only) */
	struct sdp_crypto crypto[SDP_MAX_CRYPTO];
	unsigned crypto_bad;    /* a=crypto lines refused (malformed, or past SDP_MAX_CRYPTO) */
	const char *crypto_why; /* static text: why the last one was refused */
};

struct sdp_origin {
	char username[64];
	char sess_id[32]; /* digits; compared as text */
	char sess_version[32];
	char addr[64]; /* unicast address as written: may be a host name */
};

struct sdp_session {
	struct sdp_origin origin;
	struct sdp_conn conn;   /* session-level c=; family 0 when absent */
	enum pbx_media_dir dir; /* session-level direction attribute, sendrecv by default */
	unsigned nmedia;
	struct sdp_media media[SDP_MAX_MEDIA];
	unsigned err_line; /* 1-based line of the error when sdp_parse fails; 0 otherwise */
};

/** What we accept and offer. */
struct sdp_prefs {
	const struct pbx_codec_desc *const *codecs; /* ours, best first: rtp.codecs */
	int ncodecs;
	enum sdp_srtp srtp;
	enum pbx_media_dir dir; /* what we want: sendrecv, or sendonly while we hold */
};

/** The outcome of an offer/answer exchange for the one audio stream we use. */
struct sdp_choice {
	unsigned index; /* the m= line */
	enum sdp_proto proto;
	const struct pbx_codec_desc *codec; /* a registered codec */
	uint8_t pt;                         /* the codec's payload type in the remote SDP */
	char fmtp[64];                      /* the remote's a=fmtp for the codec, may be "" */
	uint8_t dtmf_pt;                    /* telephone-event PT; 0: none */
	uint32_t dtmf_rate;                 /* its clock: the codec's, or 8000 */
	char dtmf_fmtp[64];                 /* the remote's a=fmtp for it ("0-16"), may be "" */
	unsigned ptime;                     /* the remote's a=ptime, else 20 */
	struct sockaddr_storage remote;     /* RTP address and port to send to */
	uint16_t rtcp_port;                 /* a=rtcp, else port + 1 (we never agree to rtcp-mux) */
	enum pbx_media_dir remote_dir;      /* what the remote does, after the c=0.0.0.0 rule */
	enum pbx_media_dir dir;             /* what we do: as in our answer, or after theirs */
	bool srtp;                          /* SRTP with crypto below; else plain RTP */
	struct sdp_crypto crypto; /* the remote's key (it encrypts what it sends with it) */
	const char *why;          /* static text when negotiation fails */
};

/**
 * What sdp_build writes. Offer mode: @p offer and @p choice NULL; one
 * m=audio with @p codecs in their order (a codec's static PT when it has
 * one, else dynamic PTs from 96 up, passing over @p dtmf_pt; an rtpmap for
 * each, with the channel count when above one, and the codec's fmtp),
 * telephone-event/8000 on @p dtmf_pt when non-zero, @p proto and every key
 * in @p crypto (AVP with keys is "best effort" SRTP, as many phones do).
 * Answer mode: @p offer and @p choice set, from sdp_negotiate_offer; every
 * m= line of the offer in order, the chosen one with the chosen codec on
 * the offer's PT with our fmtp for it (and telephone-event if offered),
 * the others with port 0; @p codecs, @p dtmf_pt and @p proto are ignored
 * and @p crypto must hold exactly one key with choice->crypto's tag and
 * suite when choice->srtp (none otherwise).
 */
struct sdp_build_spec {
	const char *username;        /* o= username; NULL: "-" */
	uint64_t sess_id;            /* fixed for the dialog */
	uint64_t sess_version;       /* incremented by the caller on every change */
	const char *sess_name;       /* s=; NULL: "-" */
	const struct sockaddr *addr; /* our media address (AF_INET or AF_INET6; port ignored) */
	uint16_t port;               /* our RTP port */
	enum pbx_media_dir dir;      /* offer: what we want; answer: choice->dir is used */
	unsigned ptime;              /* 0: 20 */
	const struct pbx_codec_desc *const *codecs; /* offer: registered codecs, none twice */
	int ncodecs;
	uint8_t dtmf_pt; /* 96..127, usually 101; 0: no telephone-event */
	enum sdp_proto proto;
	const struct sdp_crypto *crypto;
	int ncrypto;
	const struct sdp_session *offer;
	const struct sdp_choice *choice;
};

/**
 * Parse @p len bytes of @p body (need not be NUL-terminated). Lines end in
 * CRLF or LF; v=0 must come first, o= must be present, every stream with a
 * non-zero port needs a c= (its own or the session's), addresses must be
 * numeric. Unknown lines and attributes are skipped. A malformed a=crypto
 * only drops that line (sdp_media.crypto_bad, crypto_why).
 * Returns 0, or EBADMSG with *reason (static text) set and s->err_line.
 * @p reason may be NULL.
 */
int sdp_parse(struct sdp_session *s, const char *body, size_t len, const char **reason);

/**
 * Parse the value of an a=crypto attribute (after "crypto:"). Returns 0 or
 * EBADMSG with *reason set: bad tag, missing inline:, bad base64, a key of
 * the wrong length for a known suite, bad lifetime or MKI, an unknown
 * mandatory session parameter (RFC 4568 6.3.7). An unknown suite is not an
 * error: it parses with SDP_SUITE_UNKNOWN.
 */
int sdp_crypto_parse(struct sdp_crypto *c, const char *val, size_t len, const char **reason);
/** Write the value of an a=crypto attribute (no "a=crypto:", no CRLF). 0, EINVAL or ENOMEM. */
int sdp_crypto_print(struct pbx_buf *out, const struct sdp_crypto *c);
/** "AES_CM_128_HMAC_SHA1_80", ...; NULL for SDP_SUITE_UNKNOWN. */
const char *sdp_suite_name(enum sdp_suite s);
/** Bytes of master key + salt the suite needs (30, 30, 28, 44); 0 if unknown. */
size_t sdp_suite_key_len(enum sdp_suite s);
/** Can we use this crypto line: a suite of ours, one key, no KDR, FEC or unprotected mode? */
bool sdp_crypto_usable(const struct sdp_crypto *c);

/**
 * Answer an offer: pick the audio stream (the first m=audio with a non-zero
 * port, an RTP profile our SRTP policy allows and a codec we have), its
 * codec (the first of @p prefs, in OUR order, that the offer lists: the
 * administrator's rtp.codecs decides, RFC 3264 6.1 allows it), on the
 * offer's PT for it, telephone-event if offered at the codec's clock or
 * else at 8000 (phones offer telephone-event/8000 beside opus/48000),
 * the remote address (media c=, else session c=), the remote's
 * direction and ours (reversed, then limited by prefs->dir), and SRTP:
 * RTP/SAVP needs a usable a=crypto and a policy other than off; RTP/AVP
 * with usable a=crypto is taken as SRTP unless the policy is off; a
 * mandatory policy refuses plain RTP. Returns 0; ENOTSUP when nothing is
 * acceptable (answer 488; out->why says why); EINVAL for bad arguments.
 */
int sdp_negotiate_offer(const struct sdp_session *offer, const struct sdp_prefs *prefs,
			struct sdp_choice *out);

/**
 * Take the answer to our offer (@p offer: our body parsed back). The
 * answer must have as many m= lines as the offer (EBADMSG); our audio
 * stream (the first m=audio with a non-zero port in the offer) must be
 * accepted (ENOTSUP when the port is 0) with a codec we offered (the
 * first such in the answer's order, on its PT as the answer writes it:
 * that is the PT to send with), telephone-event as in sdp_negotiate_offer
 * and only at a clock we offered it at; an SRTP offer needs
 * an a=crypto answering one of our tags with the same suite (RTP/SAVP:
 * ENOTSUP without; RTP/AVP with keys: plain RTP without). Our direction is
 * the reverse of the answer's, limited by the direction we offered.
 * Returns 0, ENOTSUP, EBADMSG or EINVAL; out->why says why.
 */
int sdp_negotiate_answer(const struct sdp_session *offer, const struct sdp_session *answer,
			 struct sdp_choice *out);

/**
 * The codecs of an offer into @p out (room for @p n): @p ours in order,
 * with @p first moved to the front when it is among them (NULL, or not
 * ours: @p ours as it is). A B2BUA offers the codec of the other leg
 * first, so that the phone can choose it and the call is relayed without
 * transcoding. Returns how many (@p n).
 */
int sdp_codecs_prefer(const struct pbx_codec_desc *const *ours, int n,
		      const struct pbx_codec_desc *first, const struct pbx_codec_desc **out);

/** Append an SDP body to @p out (CRLF line ends). 0, EINVAL (bad spec) or ENOMEM. */
int sdp_build(struct pbx_buf *out, const struct sdp_build_spec *spec);

/** Fill the media engine's parameters from a choice. */
void sdp_choice_rtp_params(const struct sdp_choice *ch, struct pbx_rtp_params *p);

/** "sendrecv", "sendonly", "recvonly", "inactive". */
const char *sdp_dir_name(enum pbx_media_dir d);
/** The other side's view of a direction: sendonly <-> recvonly. */
enum pbx_media_dir sdp_dir_reverse(enum pbx_media_dir d);
/** Both directions at once: each way is on only if on in both. */
enum pbx_media_dir sdp_dir_intersect(enum pbx_media_dir a, enum pbx_media_dir b);
/**
 * What the remote does on this stream: its direction attribute, with
 * receiving taken away when the connection address is 0.0.0.0 or ::
 * (sendrecv -> sendonly, recvonly -> inactive). A remote that does not
 * receive has put us on hold.
 */
enum pbx_media_dir sdp_media_remote_dir(const struct sdp_media *m);

/**
 * Is format @p f codec @p c? The encoding name (case-insensitive) and the
 * clock rate must match; the channel count may be lower than the codec's
 * rtpmap says (opus/48000 for opus/48000/2) but not higher (stereo G.711
 * is not G.711).
 */
bool sdp_fmt_is(const struct sdp_fmt *f, const struct pbx_codec_desc *c);

#endif
