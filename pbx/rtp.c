/**
 * @file rtp.c  RTP sessions on a media worker: port pool, receive path, latching, relay
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The receive path is the hot one: a thousand relayed calls are 100,000
 * packets a second. Per packet it costs one recvfrom into the worker's
 * single buffer, a header check, a few compares, and one send out of the
 * peer's socket; no allocation, no lock. The send is queued (one copy of
 * the packet, 172 bytes) and issued with the rest of the turn's in one
 * io_uring submission at the end of the turn (media_io.c). Payload bytes
 * are only touched when the legs use different G.711 laws (one table
 * lookup each).
 *
 * Sessions are watched with uv_poll, not uv_udp: libuv's UDP reader calls
 * recvmsg until it fails with EAGAIN, which at 50 packets a second per
 * socket doubles the system calls. epoll is level-triggered, so reading one
 * datagram per wake-up loses nothing: a second one queued wakes us again.
 *
 * Outgoing packets form one stream per session (struct pbx__out): our own
 * SSRC, with sequence numbers and timestamps continued across relay, echo,
 * playback and DTMF. The phone sees one source for the whole call, as if
 * it talked to one device, whoever is on the other side (transfers too).
 * Relayed packets keep their spacing: out = in + offset, the offsets set
 * again when the relayed source changes. That is two additions a packet.
 *
 * Direction (params.dir) is the negotiated one from our side, as our SDP
 * states it: we send only when sendrecv or sendonly, and use what arrives
 * only when sendrecv or recvonly (anything else is counted as dropped);
 * inactive is neither. The no-RTP timeout runs only for sendrecv: a phone
 * that put us on hold (it says sendonly, we recvonly) often sends nothing.
 *
 * SRTP is per leg (srtp.c): a packet from an SRTP leg is authenticated and
 * decrypted in place before anything looks at it, so a forged or replayed
 * one can neither latch nor reach the peer; what goes out of an SRTP leg is
 * encrypted in place last, with that leg's own key. Relaying between two
 * SRTP legs thus re-keys each packet (decrypt with A's, encrypt with B's),
 * and the plain G.711 bytes exist only in the worker's buffer.
 *
 * Symmetric RTP and strict RTP (as Asterisk's strictrtp). Replies go where
 * the phone's packets come from, not where its SDP said (a phone behind a
 * NAT knows only its private address), and a leg listens to one source:
 *
 *  - Before anything is latched, the first usable packet (RTP version 2,
 *    lengths right, a negotiated payload type; on an SRTP leg one that
 *    authenticated) latches its source address and SSRC.
 *  - After that a packet from another address is dropped (counted in
 *    rx_strict), except that it takes over: at once when its SSRC is the
 *    latched one's (the phone's NAT binding moved); or when that source
 *    sent LATCH_PACKETS (4) packets in a row, none from the latched source
 *    between, and the latched source has been quiet for LATCH_QUIET_MS (or
 *    two packet times, if longer). The quiet time is what keeps a burst of
 *    injected packets between two real ones from stealing the stream.
 *  - A re-INVITE or UPDATE whose SDP gives a new address starts over: we
 *    send there and the next source is latched as the first one was. The
 *    same address keeps what was learnt.
 *  - With rtp.strict_rtp = false every new source takes over at once (for
 *    NATs that spread one stream over several ports).
 *  - On an SRTP leg a packet is authenticated before latching looks at
 *    it: only the holder of the keys can latch or take over.
 *  - On hold the old way (SDP address 0.0.0.0) nothing is latched: what
 *    arrives is used and nothing is sent.
 *
 * Bad input is counted and dropped, never trusted: a datagram too large,
 * not RTP version 2, with CSRC, extension or padding lengths past its end,
 * or with a payload type not negotiated counts in rx_malformed; a forged or
 * replayed SRTP packet in srtp_rejected; an RTCP datagram that is truncated
 * or not RTCP (pbx__rtcp_check) in rtcp_malformed. Each is one increment
 * on a branch the relay of good packets never takes, in counters of the
 * session's hot lines, which its packets touch anyway.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media_priv.h"
#include "pbx/log.h"

/* A new source takes over a latched session after this many packets in a row
 * (none from the latched one between) unless its SSRC already matches: a
 * phone whose NAT binding changed keeps its SSRC and moves at once, while a
 * stray or injected stream has to outlast the real one. */
#define LATCH_PACKETS 4
/* ... and only once the latched source has been quiet this long: a phone
 * that moved sends nothing from its old address, while a real stream 20 ms
 * apart never leaves a gap for a burst of forgeries. A legitimate move
 * costs at most this much audio, once. */
#define LATCH_QUIET_MS 100

/* ---- RTP header ------------------------------------------------------------------------------ */

int pbx__rtp_parse(const uint8_t *p, size_t len, struct pbx__rtp_hdr *h)
{
	if (len < PBX__RTP_HDR || (p[0] >> 6) != 2)
		return EBADMSG;
	size_t hl = PBX__RTP_HDR + 4 * (size_t)(p[0] & 0x0f);
	if (p[0] & 0x10) { /* extension: 16-bit profile, 16-bit length in words */
		if (len < hl + 4)
			return EBADMSG;
		hl += 4 + 4 * (size_t)(p[hl + 2] << 8 | p[hl + 3]);
	}
	if (len < hl)
		return EBADMSG;
	size_t pl = len - hl;
	if (p[0] & 0x20) { /* padding: the last byte counts itself and the rest */
		uint8_t pad = p[len - 1];
		if (!pad || pad > pl)
			return EBADMSG;
		pl -= pad;
	}
	h->marker = p[1] >> 7;
	h->pt = p[1] & 0x7f;
	h->seq = (uint16_t)(p[2] << 8 | p[3]);
	h->ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	h->ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	h->hlen = hl;
	h->plen = pl;
	return 0;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int pbx__rtcp_check(const uint8_t *p, size_t len)
{
	if (len < 8)
		return EBADMSG;
	for (size_t off = 0; off < len;) {
		if (len - off < 4 || (p[off] >> 6) != 2 || p[off + 1] < 200 || p[off + 1] > 207)
			return EBADMSG;
		size_t part = 4 * ((size_t)(p[off + 2] << 8 | p[off + 3]) + 1);
		if (part > len - off)
			return EBADMSG;
		/* Padding only on the last part (RFC 3550 6.4.1); its last byte
		 * counts itself and the rest, within the part's body. */
		if (p[off] & 0x20) {
			uint8_t pad = p[off + part - 1];
			if (off + part != len || !pad || pad > part - 4)
				return EBADMSG;
		}
		off += part;
	}
	return 0;
}

/* ---- port pool (signalling thread) ----------------------------------------------------------- */

/* One bit per even/odd pair: 4 KiB for the whole port space. The cursor
 * walks on from a random start, so a port just released is the last to be
 * handed out again and stray packets of the old call find nobody. */
static struct {
	int base;
	int npairs;
	int cursor;
	uint8_t *used;
} pool;

int pbx__ports_init(int port_min, int port_max)
{
	int base = port_min + (port_min & 1);
	int n = port_max >= base + 1 ? (port_max - base + 1) / 2 : 0;
	if (n <= 0)
		return EINVAL;
	uint8_t *used = calloc((size_t)(n + 7) / 8, 1);
	if (!used)
		return ENOMEM;
	free(pool.used);
	pool.used = used;
	pool.base = base;
	pool.npairs = n;
	pool.cursor = (int)(pbx__rand() % (unsigned)n);
	return 0;
}

void pbx__ports_free(void)
{
	free(pool.used);
	memset(&pool, 0, sizeof pool);
}

static int bind_one(const struct sockaddr *local, int port, int *fdp)
{
	union pbx__sa a;
	socklen_t len;
	int fam = local ? local->sa_family : AF_INET;
	memset(&a, 0, sizeof a);
	if (fam == AF_INET6) {
		a.in6 = *(const struct sockaddr_in6 *)local;
		a.in6.sin6_port = htons((uint16_t)port);
		len = sizeof a.in6;
	} else if (fam == AF_INET) {
		if (local)
			a.in = *(const struct sockaddr_in *)local;
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons((uint16_t)port);
		len = sizeof a.in;
	} else {
		return EAFNOSUPPORT;
	}
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	/* DSCP EF, as phones mark voice; best effort. */
	int tos = 0xb8;
	if (fam == AF_INET)
		(void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
	else
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
	if (bind(fd, &a.sa, len)) {
		int err = errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

int pbx__ports_open(const struct sockaddr *local, int *fd, int *rtcp_fd, uint16_t *port)
{
	for (int i = 0; i < pool.npairs; i++) {
		int k = (pool.cursor + i) % pool.npairs;
		if (pool.used[k / 8] & (1u << (k % 8)))
			continue;
		int p = pool.base + 2 * k, err;
		if ((err = bind_one(local, p, fd))) {
			if (err == EADDRINUSE)
				continue; /* someone else's: skip it */
			return err;
		}
		if ((err = bind_one(local, p + 1, rtcp_fd))) {
			close(*fd);
			if (err == EADDRINUSE)
				continue;
			return err;
		}
		pool.used[k / 8] |= (uint8_t)(1u << (k % 8));
		pool.cursor = (k + 1) % pool.npairs;
		*port = (uint16_t)p;
		return 0;
	}
	return ENOSPC;
}

void pbx__ports_release(uint16_t port)
{
	int k = (port - pool.base) / 2;
	if (!pool.used || k < 0 || k >= pool.npairs)
		return;
	pool.used[k / 8] &= (uint8_t) ~(1u << (k % 8));
}

/* ---- addresses ------------------------------------------------------------------------------- */

static bool sa_eq(const union pbx__sa *a, const union pbx__sa *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof a->in6.sin6_addr);
	return false;
}

static bool sa_null(const union pbx__sa *a)
{
	if (a->sa.sa_family == AF_INET)
		return !a->in.sin_port || a->in.sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->sa.sa_family == AF_INET6) {
		static const uint8_t zero[4];
		const struct in6_addr *x = &a->in6.sin6_addr;
		return !a->in6.sin6_port || IN6_IS_ADDR_UNSPECIFIED(x) ||
		       (IN6_IS_ADDR_V4MAPPED(x) && !memcmp(&x->s6_addr[12], zero, 4));
	}
	return true;
}

static socklen_t sa_len(const union pbx__sa *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof a->in6 : sizeof a->in;
}

static void update_can_send(struct pbx__sess *s)
{
	s->can_send = s->have_params && !s->sdp_null &&
		      (s->dir == PBX_DIR_SENDRECV || s->dir == PBX_DIR_SENDONLY);
}

/* ---- the outgoing stream --------------------------------------------------------------------- */

/* The timestamp that follows what was sent, advanced by the time since (@p khz
 * clock units per ms), at least one packet's worth so it never repeats. */
static uint32_t out_next_ts(const struct pbx__out *o, uint64_t now, unsigned spp, unsigned khz)
{
	if (!o->sent)
		return o->last_ts;
	uint64_t gap = (now - o->last_ms) * khz;
	if (gap < spp)
		gap = spp;
	return o->last_ts + (uint32_t)gap;
}

uint32_t pbx__out_local_ts(struct pbx__sess *s, uint64_t now, bool *marker)
{
	return pbx__out_local_ts_step(s, now, marker, s->spp);
}

uint32_t pbx__out_local_ts_step(struct pbx__sess *s, uint64_t now, bool *marker, unsigned step)
{
	struct pbx__out *o = &s->out;
	/* A pause (the source went quiet, or lost packets beyond concealment)
	 * starts a new talk spurt, with the clock moved on by the pause. */
	/* Longer than any packet time a source may burst at (120 ms frames of
	 * Opus come as six of ours at once), so only a real pause counts. */
	if (o->mode != PBX__OUT_LOCAL || !o->sent || now - o->last_ms > 3 * PBX__MAX_PTIME) {
		o->mode = PBX__OUT_LOCAL;
		*marker = true;
		return out_next_ts(o, now, step, s->khz);
	}
	*marker = false;
	return o->last_ts + step;
}

/* @p p has PBX__SRTP_TRAILER bytes of room after @p len for an SRTP leg. */
static void send_pkt(struct pbx__sess *s, uint8_t *p, size_t len)
{
	/* A refused protect (no context, or our own stream's index repeated) is
	 * a lost packet: never send it in the clear. */
	if (s->srtp && pbx__srtp_protect(s->srtp, p, &len))
		return;
	pbx__io_send(s->w->io, s->fd, p, len, &s->remote, s->remote_len, &s->st);
}

void pbx__sess_send_local(struct pbx__sess *s, uint8_t pt, bool marker, uint32_t ts, uint8_t *pkt,
			  size_t len)
{
	struct pbx__out *o = &s->out;
	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	put16(pkt + 2, o->next_seq++);
	put32(pkt + 4, ts);
	put32(pkt + 8, o->ssrc);
	if (pt != s->dtmf_pt || !s->dtmf_pt) {
		o->last_ts = ts;
		o->last_ms = uv_now(&s->w->loop);
		o->sent = true;
	}
	if (s->srtp) {
		/* The callers' buffers fit the plain packet only; a copy of at
		 * most one packet each 20 ms per playing leg costs nothing. */
		uint8_t b[PBX__RTP_HDR + PBX__MAX_PTIME * 8 + PBX__SRTP_TRAILER];
		if (len > PBX__RTP_HDR + PBX__MAX_PTIME * 8)
			return;
		memcpy(b, pkt, len);
		send_pkt(s, b, len);
		return;
	}
	send_pkt(s, pkt, len);
}

/* Relay (or echo) the packet in the worker's buffer out of @p d. */
static void relay(struct pbx__sess *d, uint8_t *p, size_t len, const struct pbx__rtp_hdr *h,
		  int law, bool dtmf, uint64_t now)
{
	/* Playback, a tone and DTMF being sent own the leg's stream meanwhile. */
	if (!d->can_send || d->play || d->tone_on || pbx__dtmf_sending(d))
		return;
	uint8_t pt;
	if (dtmf) {
		if (!d->dtmf_pt)
			return; /* consumed: the event went to the application */
		pt = d->dtmf_pt;
	} else {
		pt = d->pt;
		const uint8_t *x =
			law >= 0 && law != d->law
				? pbx__g711_xlat((enum pbx_codec)law, (enum pbx_codec)d->law)
				: NULL;
		if (x)
			for (uint8_t *b = p + h->hlen, *e = b + h->plen; b < e; b++)
				*b = x[*b];
	}
	struct pbx__out *o = &d->out;
	bool marker = h->marker;
	if (o->mode != PBX__OUT_RELAY || o->in_ssrc != h->ssrc) {
		o->seq_off = (uint16_t)(o->next_seq - h->seq);
		o->ts_off = out_next_ts(o, now, d->spp, d->khz) - h->ts;
		o->in_ssrc = h->ssrc;
		o->mode = PBX__OUT_RELAY;
		marker |= !dtmf; /* a new talk spurt for the far jitter buffer */
	}
	uint16_t seq = (uint16_t)(h->seq + o->seq_off);
	uint32_t ts = h->ts + o->ts_off;
	if ((int16_t)(seq - o->next_seq) >= 0)
		o->next_seq = (uint16_t)(seq + 1);
	if (!dtmf && (!o->sent || (int32_t)(ts - o->last_ts) > 0)) {
		o->last_ts = ts;
		o->last_ms = now;
		o->sent = true;
	}
	p[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	put16(p + 2, seq);
	put32(p + 4, ts);
	put32(p + 8, o->ssrc);
	send_pkt(d, p, len);
}

/* Symmetric and strict RTP (the rules are in the file's header): true when the
 * packet from @p src may be used. Past the first test only for another source. */
static bool latch(struct pbx__sess *s, const union pbx__sa *src, uint32_t ssrc, uint64_t now)
{
	if (s->sdp_null)
		return true; /* on hold the old way (c=0.0.0.0): listen, never answer */
	if (s->latched && sa_eq(src, &s->remote)) {
		s->cand_count = 0;
		s->remote_ssrc = ssrc; /* both in the session's first cache line */
		return true;
	}
	bool take = !s->latched || ssrc == s->remote_ssrc || !s->w->strict_rtp;
	if (!take && sa_eq(src, &s->cand)) {
		unsigned quiet = 2u * s->ptime > LATCH_QUIET_MS ? 2u * s->ptime : LATCH_QUIET_MS;
		/* Counted on to the limit, not past it: the source may have to
		 * wait for the quiet time with its count complete. */
		if (s->cand_count < LATCH_PACKETS)
			s->cand_count++;
		take = s->cand_count >= LATCH_PACKETS && now - s->last_rx_ms >= quiet;
	}
	if (!take) {
		if (!sa_eq(src, &s->cand)) {
			s->cand = *src;
			s->cand_count = 1;
		}
		return false;
	}
	if (pbx_log_wanted(PBX_LOG_DEBUG)) {
		char b[64];
		inet_ntop(src->sa.sa_family,
			  src->sa.sa_family == AF_INET6 ? (const void *)&src->in6.sin6_addr
							: (const void *)&src->in.sin_addr,
			  b, sizeof b);
		pbx_debug("rtp %u: latched to %s port %u", s->id, b,
			  ntohs(src->sa.sa_family == AF_INET6 ? src->in6.sin6_port
							      : src->in.sin_port));
	}
	s->remote = *src;
	s->remote_len = sa_len(src);
	s->remote_ssrc = ssrc;
	s->latched = true;
	s->cand_count = 0;
	memset(&s->cand, 0, sizeof s->cand);
	return true;
}

/* Counted always, told at most every 10 s: a flood of forgeries must not flood the log. */
static void srtp_reject(struct pbx__sess *s, const char *what)
{
	uint64_t now = uv_now(&s->w->loop);
	uint64_t n = s->st.srtp_rejected + 1;
	PBX__STAT_ADD(s->st.srtp_rejected, 1);
	if (s->srtp_warn_ms && now - s->srtp_warn_ms < 10000)
		return;
	pbx_warning("rtp %u (port %u): %llu %s packet(s) failed authentication or replay check",
		    s->id, s->port, (unsigned long long)(n - s->srtp_warned), what);
	s->srtp_warn_ms = now;
	s->srtp_warned = n;
}

/* Take one datagram off the leg's socket and deal with it. False when none was waiting. */
static bool rtp_read(struct pbx__sess *s)
{
	struct pbx__worker *w = s->w;
	union pbx__sa src;
	socklen_t slen = sizeof src;
	/* At most PBX__RTP_MAX taken: the rest of the buffer stays free for
	 * the SRTP trailer when the packet is relayed. */
	ssize_t n = recvfrom(s->fd, w->buf, PBX__RTP_MAX, MSG_TRUNC, &src.sa, &slen);
	if (n < 0)
		return false;
	PBX__STAT_ADD(s->st.rx_packets, 1);
	PBX__STAT_ADD(s->st.rx_bytes, (uint64_t)n);

	struct pbx__rtp_hdr hd;
	if ((size_t)n > PBX__RTP_MAX)
		goto malformed;
	if (!s->have_params || (s->dir != PBX_DIR_SENDRECV && s->dir != PBX_DIR_RECVONLY))
		goto drop;
	if (s->srtp) {
		size_t len = (size_t)n;
		if (pbx__srtp_unprotect(s->srtp, w->buf, &len)) {
			srtp_reject(s, "SRTP");
			return true;
		}
		n = (ssize_t)len;
	}
	if (pbx__rtp_parse(w->buf, (size_t)n, &hd))
		goto malformed;
	const struct pbx_codec_desc *codec = NULL;
	int law = -1;
	bool dtmf = false;
	if (hd.pt == s->pt) {
		codec = s->codec;
		law = s->law;
	} else if (s->dtmf_pt && hd.pt == s->dtmf_pt) {
		dtmf = true;
	} else if (hd.pt == 0 || hd.pt == 8) { /* the static G.711 numbers, whatever SDP chose */
		law = hd.pt == 0 ? PBX_CODEC_PCMU : PBX_CODEC_PCMA;
		codec = pbx__g711_desc((enum pbx_codec)law);
	} else {
		goto malformed; /* a payload type that was not negotiated */
	}
	uint64_t now = uv_now(&w->loop);
	if (!latch(s, &src, hd.ssrc, now)) {
		PBX__STAT_ADD(s->st.rx_strict, 1);
		goto drop;
	}
	s->last_rx_ms = now;
	if (dtmf) {
		char digit;
		int ms;
		if (pbx__dtmf_rx_feed(&s->drx, hd.ts, w->buf + hd.hlen, hd.plen, now, &digit,
				      &ms)) {
			pbx__media_post(PBX__EV_DTMF, s->id, ms, 0, digit);
			if (s->rec)
				pbx__rec_dtmf(s, digit);
		}
		/* Held back (feature codes): the signalling side decides what passes. */
		if (s->dtmf_tail && hd.ts != s->dtmf_tail_ts)
			s->dtmf_tail = false;
		if (s->peer && !s->dtmf_no_relay && !s->dtmf_tail) {
			/* A duration counts in the event clock: Opus legs may agree on
			 * 48 kHz, G.711 ones on 8. Rescaled for the far leg's. */
			if (s->peer->dtmf_khz != s->dtmf_khz && hd.plen >= 4) {
				uint8_t *d = w->buf + hd.hlen + 2;
				unsigned dur = (unsigned)d[0] << 8 | d[1];
				dur = dur * s->peer->dtmf_khz / s->dtmf_khz;
				dur = dur > 0xffff ? 0xffff : dur;
				d[0] = (uint8_t)(dur >> 8);
				d[1] = (uint8_t)dur;
			}
			relay(s->peer, w->buf, (size_t)n, &hd, -1, true, now);
		}
		return true;
	}
	if (s->rx_frames)
		pbx__leg_rx_put(s, codec, w->buf + hd.hlen, hd.plen, &hd);
	if (s->peer) {
		/* Same codec, or the two G.711 laws (a byte table): the packet
		 * itself goes on. Other pairs decode, resample and encode. */
		if (codec == s->peer->codec || (law >= 0 && s->peer->law >= 0))
			relay(s->peer, w->buf, (size_t)n, &hd, law, false, now);
		else
			pbx__leg_transcode(s, s->peer, codec, w->buf + hd.hlen, hd.plen, &hd, now);
	} else if (s->echo) {
		relay(s, w->buf, (size_t)n, &hd, law, false, now);
	}
	return true;
malformed:
	PBX__STAT_ADD(s->st.rx_malformed, 1);
drop:
	PBX__STAT_ADD(s->st.rx_dropped, 1);
	return true;
}

static void on_rtp(uv_poll_t *h, int status, int events)
{
	(void)events;
	if (status >= 0)
		rtp_read(h->data);
}

/*
 * A leg whose audio only a recording or a conference takes (voicemail,
 * Record, ConfBridge: no peer, no echo) is read at the worker's 20 ms
 * tick, not on each packet: its frames
 * are taken on the tick anyway, and one wake-up a tick for every such leg,
 * instead of one per packet, saves most of what such a leg costs (a wake-up
 * is a context switch). Anything that needs a packet at once (a relay, the
 * echo) puts the leg back on epoll.
 */
void pbx__rx_mode_update(struct pbx__sess *s)
{
	bool want = s->in_gens && (s->rec || s->mon || s->mixm) && !s->peer && !s->echo;
	uv_handle_t *h = (uv_handle_t *)&s->poll;
	if (want == s->rx_deferred || uv_is_closing(h))
		return;
	if (want && !uv_is_active(h))
		return; /* not watched at all (its watch failed): nothing to move */
	s->rx_deferred = want;
	if (want)
		uv_poll_stop(&s->poll);
	else
		uv_poll_start(&s->poll, UV_READABLE, on_rtp);
}

/* A tick's worth and a little more: a late tick leaves the rest in the socket for the next. */
#define DRAIN_MAX 16

void pbx__rtp_drain(struct pbx__sess *s)
{
	for (int i = 0; i < DRAIN_MAX && s->rx_deferred && rtp_read(s); i++) {
	}
}

/* RTCP is counted, checked and otherwise ignored: with our own SSRC on each
 * leg the far end's reports describe a stream the other phone never saw. On
 * an SRTP leg a report that does not authenticate is rejected; one that
 * does, or any on a plain leg, is then checked as RTCP. */
static void on_rtcp(uv_poll_t *h, int status, int events)
{
	struct pbx__sess *s = h->data;
	(void)events;
	if (status < 0)
		return;
	ssize_t n = recv(s->rtcp_fd, s->w->buf, PBX__RTP_MAX, MSG_TRUNC);
	if (n < 0)
		return;
	PBX__STAT_ADD(s->st.rtcp_packets, 1);
	size_t len = (size_t)n;
	if (s->srtp && len <= PBX__RTP_MAX && pbx__srtp_unprotect_rtcp(s->srtp, s->w->buf, &len)) {
		srtp_reject(s, "SRTCP");
		return;
	}
	if (len > PBX__RTP_MAX || pbx__rtcp_check(s->w->buf, len))
		PBX__STAT_ADD(s->st.rtcp_malformed, 1);
}

/* ---- session life on the worker -------------------------------------------------------------- */

void pbx__sess_add(struct pbx__worker *w, struct pbx__sess *s)
{
	int err;
	s->w = w;
	s->poll.data = s;
	s->rtcp_poll.data = s;
	if ((err = uv_poll_init(&w->loop, &s->poll, s->fd)) ||
	    (err = uv_poll_init(&w->loop, &s->rtcp_poll, s->rtcp_fd)))
		pbx_error("rtp %u: cannot watch its sockets: %s", s->id, uv_strerror(err));
	else if ((err = uv_poll_start(&s->poll, UV_READABLE, on_rtp)) ||
		 (err = uv_poll_start(&s->rtcp_poll, UV_READABLE, on_rtcp)))
		pbx_error("rtp %u: cannot watch its sockets: %s", s->id, uv_strerror(err));
	s->prev = NULL;
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	s->in_gens = false;
	s->rx_deferred = false; /* the poll handle was started above */
	pbx__gens_update(s);
}

void pbx__sess_params(struct pbx__sess *s, const struct pbx_rtp_params *p)
{
	union pbx__sa sdp;
	memset(&sdp, 0, sizeof sdp);
	if (p->remote.ss_family == AF_INET)
		sdp.in = *(const struct sockaddr_in *)&p->remote;
	else if (p->remote.ss_family == AF_INET6)
		sdp.in6 = *(const struct sockaddr_in6 *)&p->remote;
	/* A new address from SDP (a re-INVITE moved the media) starts latching
	 * afresh; the same one keeps what symmetric RTP learnt. */
	if (!s->have_params || !sa_eq(&sdp, &s->sdp)) {
		s->sdp = sdp;
		s->remote = sdp;
		s->remote_len = sa_len(&sdp);
		s->latched = false;
		s->cand_count = 0;
	}
	s->sdp_null = sa_null(&sdp);
	/* Another fmtp (a re-INVITE) makes the encoder again, on the new terms. */
	if (strncmp(s->fmtp, p->fmtp, sizeof s->fmtp))
		pbx__leg_frames_free(s);
	memcpy(s->fmtp, p->fmtp, sizeof s->fmtp);
	s->fmtp[sizeof s->fmtp - 1] = 0;
	pbx__leg_set_codec(s, p->codec);
	s->pt = p->pt & 0x7f;
	s->dtmf_pt = p->dtmf_pt & 0x7f;
	s->dtmf_khz =
		(uint8_t)(p->dtmf_rate >= 8000 && p->dtmf_rate <= 48000 ? p->dtmf_rate / 1000 : 8);
	s->drx.khz = s->dtmf_khz;
	s->dir = (uint8_t)p->dir;
	unsigned ptime = p->ptime ? p->ptime : 20;
	if (ptime < 10)
		ptime = 10;
	if (ptime > PBX__MAX_PTIME)
		ptime = PBX__MAX_PTIME;
	s->ptime = (uint16_t)ptime;
	s->spp = (uint16_t)(ptime * s->khz);
	/* Keys come fresh with each offer/answer; an unchanged one keeps its
	 * context. A failure leaves the leg unable to send or receive rather
	 * than falling back to plain RTP. */
	if (pbx__srtp_set(&s->srtp, s->id, p) == ENOMEM)
		pbx_error("rtp %u: out of memory for SRTP: the leg stays silent", s->id);
	s->have_params = true;
	/* The no-RTP clock starts (again) now: a phone taken off hold needs a moment. */
	s->last_rx_ms = uv_now(&s->w->loop);
	s->timed_out = false;
	update_can_send(s);
}

void pbx__sess_unbridge(struct pbx__sess *s)
{
	if (s->peer) {
		struct pbx__sess *p = s->peer;
		p->peer = NULL;
		p->out.mode = PBX__OUT_NONE;
		s->peer = NULL;
		pbx__frames_update(p);
		pbx__rx_mode_update(p);
	}
	s->out.mode = PBX__OUT_NONE;
	pbx__frames_update(s);
	pbx__rx_mode_update(s);
}

void pbx__sess_bridge(struct pbx__sess *a, struct pbx__sess *b)
{
	pbx__sess_unbridge(a);
	pbx__sess_unbridge(b);
	pbx__mix_remove(a);
	pbx__mix_remove(b);
	if (a == b)
		return;
	a->peer = b;
	b->peer = a;
	a->echo = b->echo = false;
	pbx__frames_update(a);
	pbx__frames_update(b);
	pbx__rx_mode_update(a);
	pbx__rx_mode_update(b);
}

void pbx__gens_update(struct pbx__sess *s)
{
	struct pbx__worker *w = s->w;
	bool need = s->play || pbx__dtmf_sending(s) || s->rec || s->mon || s->tone_on || s->mixm;
	if (need && !s->in_gens) {
		s->gprev = NULL;
		s->gnext = w->gens;
		if (w->gens)
			w->gens->gprev = s;
		w->gens = s;
		s->in_gens = true;
		pbx__tick_start(w);
	} else if (!need && s->in_gens) {
		if (s->gprev)
			s->gprev->gnext = s->gnext;
		else
			w->gens = s->gnext;
		if (s->gnext)
			s->gnext->gprev = s->gprev;
		s->gnext = s->gprev = NULL;
		s->in_gens = false;
	}
	pbx__rx_mode_update(s);
}

/* Take @p s off its worker: bridge, lists, 20 ms tick. Play and DTMF state stay. */
static void detach(struct pbx__sess *s)
{
	struct pbx__worker *w = s->w;
	pbx__sess_unbridge(s);
	if (s->in_gens) {
		if (s->gprev)
			s->gprev->gnext = s->gnext;
		else
			w->gens = s->gnext;
		if (s->gnext)
			s->gnext->gprev = s->gprev;
		s->in_gens = false;
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static void on_closed(uv_handle_t *h)
{
	struct pbx__sess *s = h->data;
	if (--s->closing)
		return;
	/* Packets of this session still queued (a send from a callback of this
	 * very turn) go out now, while its socket and counters exist: the
	 * queue must never outlive what it points at. Cheap when empty. */
	pbx__io_flush(s->w->io);
	if (s->migrate) {
		struct pbx__cmd *c = s->migrate;
		s->migrate = NULL;
		c->type = PBX__CMD_ADOPT;
		pbx__worker_push(c->u.to, c);
		return; /* from here on the session is the other worker's */
	}
	pbx__stats_retire(&s->st);
	close(s->fd);
	close(s->rtcp_fd);
	pbx__srtp_free(s->srtp);
	if (!s->w->stopping)
		pbx__media_post(PBX__EV_CLOSED, s->id, s->port, 0, 0);
	free(s);
}

void pbx__sess_close(struct pbx__sess *s)
{
	/* Recordings end with what they have: the files are kept. */
	pbx__rec_stop(s, PBX_REC_STOPPED, true);
	pbx__mon_stop(s);
	pbx__mix_remove(s);
	detach(s);
	pbx__play_stop(s, -1);
	pbx__leg_frames_free(s);
	s->closing = 2;
	uv_close((uv_handle_t *)&s->poll, on_closed);
	uv_close((uv_handle_t *)&s->rtcp_poll, on_closed);
}

void pbx__sess_migrate(struct pbx__sess *s, struct pbx__cmd *c)
{
	/* A recorder belongs to this worker's loop: it ends here. The frame
	 * state is made again on the new worker when needed. */
	pbx__rec_stop(s, PBX_REC_STOPPED, true);
	pbx__mon_stop(s);
	pbx__mix_remove(s); /* the signalling side joins it again where it goes */
	detach(s);
	pbx__leg_frames_free(s);
	s->migrate = c;
	s->closing = 2;
	uv_close((uv_handle_t *)&s->poll, on_closed);
	uv_close((uv_handle_t *)&s->rtcp_poll, on_closed);
}

/* Once a second: linear in the worker's sessions, a few compares each. */
void pbx__sess_check(struct pbx__worker *w)
{
	uint64_t now = uv_now(&w->loop);
	for (struct pbx__sess *s = w->sessions; s; s = s->next) {
		char digit;
		int ms;
		if (pbx__dtmf_rx_flush(&s->drx, now, 1000, &digit, &ms)) {
			pbx__media_post(PBX__EV_DTMF, s->id, ms, 0, digit);
			if (s->rec)
				pbx__rec_dtmf(s, digit);
		}
		if (w->timeout_ms && s->have_params && s->dir == PBX_DIR_SENDRECV &&
		    !s->timed_out && now - s->last_rx_ms >= w->timeout_ms) {
			s->timed_out = true;
			pbx__media_post(PBX__EV_TIMEOUT, s->id, 0, 0, 0);
		}
	}
}
