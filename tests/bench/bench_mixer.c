/**
 * @file bench_mixer.c  Conference mixing: CPU per member and how late mix frames go out
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/bench/bench_mixer [SECONDS]` (default BENCH_MIX_SECONDS from the
 * environment, else 10) starts the media engine in this process with one
 * media worker (pbx__media_start_with, no SIP), on CPU 0, and measures
 * conference rooms (pbx/mixer.h) of G.711 u-law members:
 *
 *  - one room of 10, one of 50, one of 200 members;
 *  - 1,000 members in 100 rooms of 10.
 *
 * Each member is an RTP session in its room (two sockets on our side) and a
 * phone played by a forked child pinned to CPU 1: one thread that sends a
 * 20 ms PCMU packet every 20 ms per member on an absolute clock, the members
 * spread over the 20 ms in 1 ms slots, in sendmmsg batches, and reads what
 * the PBX sends back (a packet to every member every 20 ms) with recvmmsg.
 * The phones share a few sockets, as in bench_rtp_relay, except the
 * listeners below, which have one each.
 *
 * Members talk as people do: each alternates talk spurts of 1-3 s with
 * silences of 2-6 s, random from a fixed seed, and sends low-level noise
 * (about -60 dBFS, below the mixer's talk level) while silent, as a phone
 * without VAD does. The silences are stretched by the room's size over 10
 * (a room of 200 is silent 40-120 s between spurts), so that a room has
 * three to five talkers at once whatever its size. The speech is a voiced
 * sound (150 Hz and harmonics) with a syllable envelope, encoded once
 * before the start and sent over and over, as is the noise.
 *
 * CPU is the media worker thread's (pbx-media-0, exact from
 * /proc/self/task/TID/schedstat) over the measured window, as % of one core
 * and as microseconds per member per second. It includes the kernel's work
 * for its sends (the delivery of a datagram on loopback is charged to the
 * sender) and not the phones' sends to it (charged to the phones).
 *
 * How late the mix goes out is measured where it arrives: a few members
 * that never talk (listeners: two in a single room, four in four of the
 * hundred rooms) have a socket of their own with kernel receive timestamps
 * (SO_TIMESTAMPNS, taken when the PBX's datagram enters loopback, whenever
 * the phones read it). Each packet's time is compared with a 20 ms grid
 * laid by its RTP sequence number through the packet that came earliest
 * against it (the first one, unless that one was itself late): lateness
 * p50, p99 and max over all listeners' packets of the window. Loss is
 * counted as RTP receivers count it (RFC 3550): per member, the sequence
 * numbers from the first to the last of the window against the packets
 * received; the packets received against 50 per member per second are
 * shown beside it (a frame the PBX never made has no sequence number).
 *
 * Timeline per room set: the engine is started afresh (the worker's
 * user/system split is the set's own), the rooms and members are set up,
 * the phones start; 1.5 s of warm-up (the jitter buffers fill, the first
 * spurts begin), SECONDS measured, 0.3 s more for the phones, then all is
 * freed. Runtime: about 4 * (SECONDS + 2.5) s, 50 s by default.
 *
 * Aims (the conference issue), printed beside the figures: a 200-member
 * room under 50% of one core, 1,000 members in rooms of 10 under 100%, mix
 * frames p99 under 2 ms late.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../pbx/media_priv.h"
#include "bench_util.h"
#include "pbx/log.h"
#include "pbx/mixer.h"

#define MAX_MEMBERS 1000
#define MAX_ROOMS   100
#define NSOCK       16 /* phone sockets shared round robin by the members that are not listeners */
#define NLISTEN     4  /* listeners' sockets, one each */
#define TICKS       20 /* the 20 ms period in 1 ms slots */
#define PER_SLOT    (MAX_MEMBERS / TICKS)
#define PAYLOAD     160 /* 20 ms of PCMU */
#define PKT         (12 + PAYLOAD)
#define CLIP_FRAMES 50 /* one second of speech, and of noise, sent over and over */
#define WARM_S      1.5
#define TAIL_S      0.3
#define START_S     0.05
#define TALK_LEVEL  180 /* mixer.c's: mean absolute sample from which a member talks */
#define LATE_AIM_MS 2.0
#define TALK_MIN_S  1.0
#define TALK_MAX_S  3.0
#define QUIET_MIN_S 2.0 /* times the room's size over 10 */
#define QUIET_MAX_S 6.0
#define RX_BATCH    64

struct scenario {
	int rooms, size;
	double aim_cpu; /* % of one core; 0: none */
};

static const struct scenario scenarios[] = {
	{1, 10, 0},
	{1, 50, 0},
	{1, 200, 50},
	{100, 10, 100},
};

/* One member's phone: where it sends, and where it is in its talk pattern. */
struct member {
	struct sockaddr_in to; /* its PBX session's port */
	int sock;              /* index in the phone sockets */
	int room;
	int listener; /* index among the listeners; -1: none */
	uint16_t seq;
	uint32_t ts, ssrc;
	bool talking;
	unsigned left; /* 20 ms frames left of this spurt or silence */
	unsigned clip; /* frame of its clip it sends next */
	/* What came from the PBX in the window, by sequence number (RFC 3550's loss). */
	bool rx_have;
	uint16_t rx_last;
	int64_t rx_ext, rx_first, rx_max;
	unsigned rx_n;
};

static uv_loop_t loop;
static struct pbx_rtp *rtp[MAX_MEMBERS];
static struct pbx_mix *mix[MAX_ROOMS];
static struct member members[MAX_MEMBERS];
static int16_t port_member[65536]; /* a PBX session's port: its member, or -1 */
static uint8_t speech[CLIP_FRAMES][PAYLOAD], noise[CLIP_FRAMES][PAYLOAD];
static uint64_t talk_on; /* talking events with on, from the mixers */

static void on_talking(void *arg, struct pbx_rtp *member, bool on)
{
	(void)arg;
	(void)member;
	talk_on += on;
}

static const struct pbx_mix_events mix_events = {.talking = on_talking};

/* ---- the talk pattern ------------------------------------------------------------------------ */

static uint32_t rng = 1;

/* xorshift32: the same pattern on every run and machine. */
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* 20 ms frames in a uniform draw from @p lo to @p hi seconds; at least one. */
static unsigned frames_between(double lo, double hi)
{
	double s = lo + (hi - lo) * (rnd() / 4294967296.0);
	unsigned n = (unsigned)(s * 1000 / PBX_FRAME_MS);
	return n ? n : 1;
}

static unsigned draw(bool talking, double scale)
{
	return talking ? frames_between(TALK_MIN_S, TALK_MAX_S)
		       : frames_between(QUIET_MIN_S * scale, QUIET_MAX_S * scale);
}

/* Speech and noise, encoded once: a voiced sound with six syllables a second, and -60 dBFS noise. */
static void clips_make(void)
{
	uint32_t saved = rng;
	rng = 0x5eed;
	for (int k = 0; k < CLIP_FRAMES; k++)
		for (int i = 0; i < PAYLOAD; i++) {
			double t = (k * PAYLOAD + i) / 8000.0, w = 2 * M_PI * 150 * t;
			double env = 0.35 + 0.65 * fabs(sin(2 * M_PI * 3 * t));
			double v =
				sin(w) + 0.5 * sin(2 * w) + 0.25 * sin(3 * w) + 0.15 * sin(8 * w);
			speech[k][i] = pbx_ulaw_encode((int16_t)(6000 * env * v / 1.9));
			noise[k][i] = pbx_ulaw_encode((int16_t)((int)(rnd() % 81) - 40));
		}
	rng = saved;
}

/* ---- the phones (child process) -------------------------------------------------------------- */

/* A listener: its packets of the window, by extended sequence number and arrival. */
struct listener {
	bool have;
	uint16_t last;
	int64_t ext;
	unsigned n, cap, reorder, b2b, voice;
	double prev_t, gap_min, gap_max;
	int64_t *k;
	double *t;
};

/* What the phones tell at their end, through a pipe. */
struct gen_result {
	uint64_t sent_win;  /* packets sent in the window */
	uint64_t rx_win;    /* received from the PBX, kernel timestamp in the window */
	uint64_t rx_seq;    /* sequence numbers the PBX sent the members in the window */
	uint64_t missing;   /* of those, not received; a member that got none counts 50 a second */
	uint64_t spurts;    /* talk spurts begun in the window */
	double talkers_sum; /* members talking, summed over the window's 20 ms periods */
	unsigned talkers_max, periods;
	unsigned late_slots; /* 1 ms slots sent more than 5 ms late */
	double late_max_s;
	double cpu_s, wall_s; /* the phones' CPU over their run */
	/* The listeners. */
	uint64_t lis_got, lis_expected;
	unsigned reorder, b2b;   /* out of order; less than 5 ms after the one before */
	double p50, p99, max;    /* ms late */
	double gap_min, gap_max; /* ms from one packet of a listener to its next */
	unsigned voice;     /* packets that carried voice (mean absolute sample >= TALK_LEVEL) */
	unsigned room_talk; /* periods in which someone in a listener's room talked, summed */
};

struct gen {
	int nm, size, nsock, nlis;
	const int *socks;
	double scale, w0, w1, end;
	struct listener lis[NLISTEN];
	int lis_room[NLISTEN];
	double *late; /* room for every listener's packets, to sort their lateness */
	struct gen_result res;
};

static bool in_window(const struct gen *g, double t)
{
	return t >= g->w0 && t < g->w1;
}

/* The payload @p m sends now; its talk pattern moves on by one frame. */
static const uint8_t *member_next(struct gen *g, struct member *m, double now)
{
	const uint8_t *pl =
		m->talking ? speech[m->clip % CLIP_FRAMES] : noise[m->clip % CLIP_FRAMES];
	m->clip++;
	if (m->listener < 0 && --m->left == 0) {
		m->talking = !m->talking;
		m->left = draw(m->talking, g->scale);
		if (m->talking && in_window(g, now))
			g->res.spurts++;
	}
	return pl;
}

static void member_rx(struct member *m, const uint8_t *p)
{
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	if (!m->rx_have) {
		m->rx_have = true;
		m->rx_ext = m->rx_first = m->rx_max = seq;
	} else {
		m->rx_ext += (int16_t)(seq - m->rx_last);
		m->rx_max = m->rx_ext > m->rx_max ? m->rx_ext : m->rx_max;
		m->rx_first = m->rx_ext < m->rx_first ? m->rx_ext : m->rx_first;
	}
	m->rx_last = seq;
	m->rx_n++;
}

static void listener_packet(struct listener *l, const uint8_t *p, size_t len, double t)
{
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	if (!l->have) {
		l->have = true;
		l->ext = seq;
	} else {
		int16_t d = (int16_t)(seq - l->last);
		l->reorder += d <= 0;
		l->ext += d;
	}
	l->last = seq;
	if (l->n) {
		double gap = t - l->prev_t;
		l->b2b += gap < 0.005;
		l->gap_min = l->n == 1 || gap < l->gap_min ? gap : l->gap_min;
		l->gap_max = gap > l->gap_max ? gap : l->gap_max;
	}
	l->prev_t = t;
	unsigned sum = 0;
	for (size_t i = 12; i < len; i++)
		sum += (unsigned)abs(pbx_ulaw_decode(p[i]));
	l->voice += len > 12 && sum / (len - 12) >= TALK_LEVEL;
	if (l->n < l->cap) {
		l->k[l->n] = l->ext;
		l->t[l->n] = t;
	}
	l->n++;
}

/*
 * Read what waits on phone socket @p s, 64 datagrams a call. Each is dated
 * by the kernel (CLOCK_REALTIME, moved onto CLOCK_MONOTONIC by @p off) at
 * its arrival, so a late read does not make a packet late.
 */
static void rx_socket(struct gen *g, int s, double off)
{
	static uint8_t buf[RX_BATCH][256];
	static char ctl[RX_BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct sockaddr_in from[RX_BATCH];
	struct mmsghdr m[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct listener *l = s >= NSOCK ? &g->lis[s - NSOCK] : NULL;
	/* Bounded: a socket holds a few hundred datagrams at most. */
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < RX_BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof buf[i];
			memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &from[i];
			m[i].msg_hdr.msg_namelen = sizeof from[i];
			m[i].msg_hdr.msg_control = ctl[i];
			m[i].msg_hdr.msg_controllen = sizeof ctl[i];
		}
		int got = recvmmsg(g->socks[s], m, RX_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		double now = bench_now_s();
		for (int i = 0; i < got; i++) {
			double t = now;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c;
			     c = CMSG_NXTHDR(&m[i].msg_hdr, c))
				if (c->cmsg_level == SOL_SOCKET &&
				    c->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;
					memcpy(&ts, CMSG_DATA(c), sizeof ts);
					t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - off;
				}
			if (!in_window(g, t))
				continue;
			g->res.rx_win++;
			int who = port_member[ntohs(from[i].sin_port)];
			if (m[i].msg_len < 12)
				continue;
			if (who >= 0)
				member_rx(&members[who], buf[i]);
			if (l)
				listener_packet(l, buf[i], m[i].msg_len, t);
		}
		if (got < RX_BATCH)
			return;
	}
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC now: what the kernel's receive timestamps are ahead by. */
static double clock_offset(void)
{
	struct timespec r;
	double m = bench_now_s();
	clock_gettime(CLOCK_REALTIME, &r);
	return (double)r.tv_sec + (double)r.tv_nsec / 1e9 - m;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Each listener's packets against its 20 ms grid: p50, p99 and max of all, in ms. */
static void lateness(struct gen *g)
{
	double *late = g->late;
	size_t n = 0;
	struct gen_result *r = &g->res;
	bool gaps = false;
	for (int j = 0; j < g->nlis; j++) {
		const struct listener *l = &g->lis[j];
		unsigned kept = l->n < l->cap ? l->n : l->cap;
		double least = 1e9;
		for (unsigned i = 0; i < kept; i++) {
			double off = l->t[i] - (double)(l->k[i] - l->k[0]) * PBX_FRAME_MS / 1000;
			least = off < least ? off : least;
		}
		for (unsigned i = 0; i < kept; i++)
			late[n++] = (l->t[i] - (double)(l->k[i] - l->k[0]) * PBX_FRAME_MS / 1000 -
				     least) *
				    1000;
		r->lis_got += l->n;
		r->reorder += l->reorder;
		r->b2b += l->b2b;
		r->voice += l->voice;
		if (l->n > 1) {
			double lo = l->gap_min * 1000, hi = l->gap_max * 1000;
			r->gap_min = !gaps || lo < r->gap_min ? lo : r->gap_min;
			r->gap_max = hi > r->gap_max ? hi : r->gap_max;
			gaps = true;
		}
	}
	r->lis_expected = (uint64_t)g->nlis * (uint64_t)((g->w1 - g->w0) * 1000 / PBX_FRAME_MS);
	if (!n)
		return;
	qsort(late, n, sizeof *late, cmp_double);
	r->p50 = late[n / 2];
	r->p99 = late[(size_t)ceil((double)n * 0.99) - 1];
	r->max = late[n - 1];
}

/* Who talks in this 20 ms period: in all, and in each listener's room. */
static void count_talkers(struct gen *g)
{
	unsigned n = 0;
	for (int i = 0; i < g->nm; i++)
		n += members[i].talking;
	g->res.talkers_sum += n;
	g->res.talkers_max = n > g->res.talkers_max ? n : g->res.talkers_max;
	g->res.periods++;
	for (int j = 0; j < g->nlis; j++) {
		int first = g->lis_room[j] * g->size;
		bool any = false;
		for (int i = first; i < first + g->size && !any; i++)
			any = members[i].talking;
		g->res.room_talk += any;
	}
}

static void phones(struct gen *g, int out)
{
	static uint8_t pkt[PER_SLOT][PKT];
	static struct mmsghdr m[NSOCK + NLISTEN][PER_SLOT];
	static struct iovec iov[NSOCK + NLISTEN][PER_SLOT];
	int nb[NSOCK + NLISTEN];
	struct timespec next;
	double start = bench_now_s(), off = clock_offset();
	clock_gettime(CLOCK_MONOTONIC, &next);
	/* Bounded in count too: a clock that stalls cannot keep the phones going. */
	unsigned max_ticks = (unsigned)((g->end - start) * 1000) + 1000;
	for (unsigned tick = 0; tick < max_ticks && bench_now_s() < g->end; tick++) {
		double now = bench_now_s(), late_s = now - (start + tick / 1000.0);
		int np = 0;
		if (in_window(g, now)) {
			g->res.late_max_s = late_s > g->res.late_max_s ? late_s : g->res.late_max_s;
			g->res.late_slots += late_s > 0.005;
			if (tick % TICKS == 0)
				count_talkers(g);
		}
		memset(nb, 0, sizeof nb);
		for (int i = (int)(tick % TICKS); i < g->nm && np < PER_SLOT; i += TICKS) {
			struct member *mb = &members[i];
			uint8_t *p = pkt[np++];
			p[0] = 0x80;
			p[1] = 0; /* PCMU */
			p[2] = (uint8_t)(mb->seq >> 8);
			p[3] = (uint8_t)mb->seq;
			for (int j = 0; j < 4; j++) {
				p[4 + j] = (uint8_t)(mb->ts >> (24 - 8 * j));
				p[8 + j] = (uint8_t)(mb->ssrc >> (24 - 8 * j));
			}
			memcpy(p + 12, member_next(g, mb, now), PAYLOAD);
			mb->seq++;
			mb->ts += PAYLOAD;
			int s = mb->sock, b = nb[s]++;
			iov[s][b].iov_base = p;
			iov[s][b].iov_len = PKT;
			memset(&m[s][b].msg_hdr, 0, sizeof m[s][b].msg_hdr);
			m[s][b].msg_hdr.msg_name = &mb->to;
			m[s][b].msg_hdr.msg_namelen = sizeof mb->to;
			m[s][b].msg_hdr.msg_iov = &iov[s][b];
			m[s][b].msg_hdr.msg_iovlen = 1;
		}
		for (int s = 0; s < g->nsock; s++) {
			int sent = nb[s] ? bench_sendmmsg(g->socks[s], m[s], nb[s]) : 0;
			if (in_window(g, now))
				g->res.sent_win += (uint64_t)sent;
		}
		if (tick % 100 == 0)
			off = clock_offset(); /* NTP may slew the real-time clock */
		for (int s = 0; s < g->nsock; s++)
			rx_socket(g, s, off);
		bench_tick_wait(&next);
	}
	usleep(20000);
	for (int s = 0; s < g->nsock; s++)
		rx_socket(g, s, off);
	lateness(g);
	for (int i = 0; i < g->nm; i++) {
		const struct member *mb = &members[i];
		uint64_t want = mb->rx_have ? (uint64_t)(mb->rx_max - mb->rx_first + 1)
					    : (uint64_t)((g->w1 - g->w0) * 1000 / PBX_FRAME_MS);
		g->res.rx_seq += want;
		g->res.missing += want > mb->rx_n ? want - mb->rx_n : 0;
	}
	g->res.wall_s = bench_now_s() - start;
	g->res.cpu_s = bench_cpu_s(NULL);
	if (write(out, &g->res, sizeof g->res) != sizeof g->res)
		_exit(1);
	_exit(0);
}

/* ---- the rooms ------------------------------------------------------------------------------- */

static int setup(const struct scenario *sc, const struct sockaddr_in *phone_addr, int nlis)
{
	struct sockaddr_in l = bench_lo(0);
	struct pbx_rtp_params p;
	int nm = sc->rooms * sc->size, err;
	memset(&p, 0, sizeof p);
	p.codec = pbx_codec_find("PCMU");
	p.pt = 0;
	p.dtmf_pt = 101;
	p.dir = PBX_DIR_SENDRECV;
	p.ptime = 20;
	for (int r = 0; r < sc->rooms; r++)
		if ((err = pbx_mix_alloc(&mix[r], NULL, NULL, &mix_events, NULL))) {
			printf("FAILED: pbx_mix_alloc room %d: %s\n", r, strerror(err));
			return err;
		}
	for (int i = 0; i < nm; i++) {
		struct member *mb = &members[i];
		int j = (int)((long)i * nlis / nm);
		mb->listener = (long)j * nm / nlis == i ? j : -1;
		mb->sock = mb->listener >= 0 ? NSOCK + mb->listener : i % NSOCK;
		mb->room = i / sc->size;
		memcpy(&p.remote, &phone_addr[mb->sock], sizeof phone_addr[0]);
		if ((err = pbx_rtp_alloc(&rtp[i], (struct sockaddr *)&l, NULL, NULL, NULL)) ||
		    (err = pbx_rtp_set_params(rtp[i], &p)) ||
		    (err = pbx_mix_join(mix[mb->room], rtp[i], NULL))) {
			printf("FAILED: member %d: %s\n", i, strerror(err));
			return err;
		}
	}
	return 0;
}

static void teardown(const struct scenario *sc)
{
	for (int r = 0; r < sc->rooms; r++)
		if (mix[r]) {
			pbx_mix_free(mix[r]);
			mix[r] = NULL;
		}
	for (int i = 0; i < MAX_MEMBERS; i++)
		if (rtp[i]) {
			pbx_rtp_free(rtp[i]);
			rtp[i] = NULL;
		}
	for (int i = 0; i < 200 && pbx__media_sessions(); i++)
		bench_pump(&loop, 5);
	bench_pump(&loop, 50); /* the close events give the ports back */
}

/* The phones' first states: each member talking or not as it would be at a random moment. */
static void members_start(const struct scenario *sc, double scale)
{
	double p_talk = (TALK_MIN_S + TALK_MAX_S) /
			(TALK_MIN_S + TALK_MAX_S + (QUIET_MIN_S + QUIET_MAX_S) * scale);
	for (int i = 0; i < sc->rooms * sc->size; i++) {
		struct member *mb = &members[i];
		mb->to = bench_lo(pbx_rtp_port(rtp[i]));
		port_member[pbx_rtp_port(rtp[i])] = (int16_t)i;
		mb->rx_have = false;
		mb->rx_n = 0;
		mb->ssrc = 0x10000000u + (uint32_t)i;
		mb->seq = (uint16_t)rnd();
		mb->ts = rnd();
		mb->clip = (unsigned)i % CLIP_FRAMES;
		mb->talking = mb->listener < 0 && rnd() / 4294967296.0 < p_talk;
		unsigned full = draw(mb->talking, scale);
		mb->left = mb->listener >= 0 ? 0 : 1 + rnd() % full;
	}
}

/* Packets the PBX received from and sent to the members, so far. */
static void pbx_counts(int nm, uint64_t *rx, uint64_t *tx)
{
	*rx = *tx = 0;
	for (int i = 0; i < nm; i++) {
		struct pbx_rtp_stats st;
		pbx_rtp_get_stats(rtp[i], &st);
		*rx += st.rx_packets;
		*tx += st.tx_packets;
	}
}

/* The kernel's UDP drops for full receive buffers, machine-wide (/proc/net/snmp); -1 if unknown. */
static long long udp_rcvbuf_errors(void)
{
	char head[512], vals[512];
	long long v = -1;
	FILE *f = fopen("/proc/net/snmp", "r");
	while (f && fgets(head, sizeof head, f) && fgets(vals, sizeof vals, f)) {
		if (strncmp(head, "Udp: ", 5) || strncmp(vals, "Udp: ", 5))
			continue;
		/* "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors ..." */
		long long x[5];
		if (sscanf(vals + 5, "%lld %lld %lld %lld %lld", &x[0], &x[1], &x[2], &x[3],
			   &x[4]) == 5)
			v = x[4];
		break;
	}
	if (f)
		fclose(f);
	return v;
}

static const char *verdict(bool met)
{
	return met ? "met" : "NOT met";
}

/* One room set: set up, warm up, measure, print, free. 0, or 1 when it failed. */
static int scenario_run(const struct scenario *sc, double seconds)
{
	int nm = sc->rooms * sc->size, nlis = sc->rooms >= NLISTEN ? NLISTEN : 2;
	int nsock = NSOCK + nlis, socks[NSOCK + NLISTEN], fds[2] = {-1, -1}, failed = 0, err;
	struct sockaddr_in addr[NSOCK + NLISTEN];
	char name[64];
	pid_t pid = -1;
	static struct gen g;
	snprintf(name, sizeof name, "mixer %d room%s of %d", sc->rooms, sc->rooms > 1 ? "s" : "",
		 sc->size);
	for (int s = 0; s < NSOCK + NLISTEN; s++)
		socks[s] = -1;
	if ((err = bench_phone_socks(socks, addr, nsock))) {
		printf("FAILED: %s: phone socket: %s\n", name, strerror(err));
		failed = 1;
		goto out;
	}
	for (int s = 0; s < nsock; s++) {
		int on = 1;
		if (setsockopt(socks[s], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on))
			printf("note: no receive timestamps: %s; packets are dated when read\n",
			       strerror(errno));
	}
	if (setup(sc, addr, nlis)) {
		failed = 1;
		goto out;
	}
	bench_pump(&loop, 200);
	struct bench_tids worker;
	bench_threads_tids("pbx-media", &worker);
	if (worker.n != 1)
		printf("note: %d threads named pbx-media, for 1 worker: the worker's share below "
		       "is theirs together\n",
		       worker.n);

	/* The phones' run, on one clock for both processes. */
	double scale = sc->size > 10 ? sc->size / 10.0 : 1;
	memset(port_member, 0xff, sizeof port_member);
	rng = 0x1234567u + (uint32_t)nm;
	members_start(sc, scale);
	memset(&g, 0, sizeof g);
	g.nm = nm;
	g.size = sc->size;
	g.nsock = nsock;
	g.socks = socks;
	g.scale = scale;
	g.nlis = nlis;
	g.w0 = bench_now_s() + START_S + WARM_S;
	g.w1 = g.w0 + seconds;
	g.end = g.w1 + TAIL_S;
	/* Allocated before the fork: the phones' process only runs its loop. */
	unsigned cap = (unsigned)(seconds * 1000 / PBX_FRAME_MS) + 100;
	g.late = malloc((size_t)nlis * cap * sizeof *g.late);
	for (int i = 0; i < nm; i++)
		if (members[i].listener >= 0) {
			struct listener *l = &g.lis[members[i].listener];
			l->cap = cap;
			l->k = malloc(cap * sizeof *l->k);
			l->t = malloc(cap * sizeof *l->t);
			g.lis_room[members[i].listener] = members[i].room;
			if (!l->k || !l->t || !g.late) {
				printf("FAILED: out of memory\n");
				failed = 1;
				goto out;
			}
		}
	if (bench_fork_pipe(fds, &pid)) {
		failed = 1;
		goto out;
	}
	if (!pid) {
		bench_pin(1);
		close(fds[0]);
		phones(&g, fds[1]);
	}
	close(fds[1]);
	fds[1] = -1;
	for (int s = 0; s < nsock; s++) {
		close(socks[s]); /* the child's copies are what it sends on */
		socks[s] = -1;
	}

	/* Warm-up: the signalling loop runs (talk events); then the window, with this thread asleep. */
	while (bench_now_s() < g.w0 - 0.002)
		bench_pump(&loop, 1);
	bench_sleep_until(g.w0);
	uv_run(&loop, UV_RUN_NOWAIT);
	struct bench_tcpu w0, w1, a0, a1;
	uint64_t rx0, tx0, rx1, tx1, on0 = talk_on;
	long long drop0 = udp_rcvbuf_errors();
	double st0[2] = {bench_steal_s(0), bench_steal_s(1)};
	bench_threads_cpu_of("", &worker, &w0);
	bench_threads_cpu("", &a0);
	pbx_counts(nm, &rx0, &tx0);
	double t0 = bench_now_s();
	bench_sleep_until(g.w1);
	double t1 = bench_now_s();
	bench_threads_cpu_of("", &worker, &w1);
	bench_threads_cpu("", &a1);
	pbx_counts(nm, &rx1, &tx1);
	double st1[2] = {bench_steal_s(0), bench_steal_s(1)};
	long long drop1 = udp_rcvbuf_errors();
	uv_run(&loop, UV_RUN_NOWAIT); /* the talk events of the window */
	uint64_t spurts_seen = talk_on - on0;

	struct gen_result r;
	memset(&r, 0, sizeof r);
	if (read(fds[0], &r, sizeof r) != sizeof r) {
		printf("FAILED: %s: no result from the phones\n", name);
		failed = 1;
	}
	waitpid(pid, NULL, 0);
	pid = -1;
	if (failed)
		goto out;

	double wall = t1 - t0, run = w1.run_s - w0.run_s, wu, ws;
	double cpu = run / wall * 100, us = run * 1e6 / (nm * wall);
	double expected = nm * wall * 1000 / PBX_FRAME_MS;
	double loss = r.rx_seq ? 100.0 * (double)r.missing / (double)r.rx_seq : 0;
	bench_tcpu_split(&w0, &w1, &wu, &ws);
	if (sc->aim_cpu > 0)
		printf("%s: %.1f%% of one core (aim under %.0f%%: %s)\n", name, cpu, sc->aim_cpu,
		       verdict(cpu < sc->aim_cpu));
	else
		printf("%s: %.1f%% of one core\n", name, cpu);
	printf("%s, CPU per member: %.2f us/s\n", name, us);
	if (r.lis_got)
		printf("%s, mix late p99: %.2f ms (p50 %.2f ms, max %.2f ms; aim p99 under %.0f "
		       "ms: %s)\n",
		       name, r.p99, r.p50, r.max, LATE_AIM_MS, verdict(r.p99 < LATE_AIM_MS));
	printf("%s, loss: %.3f%% (%llu of %llu missing by sequence number; %llu received in the "
	       "window, %.0f due at 50 a member a second)\n",
	       name, loss, (unsigned long long)r.missing, (unsigned long long)r.rx_seq,
	       (unsigned long long)r.rx_win, expected);

	double other = (a1.run_s - a0.run_s) - run;
	unsigned long long runs = w1.runs - w0.runs;
	double waited = w1.wait_s - w0.wait_s;
	printf("    worker: user %.1f%%, system %.1f%% of one core; other threads %.2f%%; ran %llu "
	       "times (%.0f/s), waited for a CPU %.0f ms in all, %.0f us per run\n",
	       wu / wall * 100, ws / wall * 100, other / wall * 100, runs, (double)runs / wall,
	       waited * 1000, runs ? waited * 1e6 / (double)runs : 0.0);
	printf("    PBX: received %.0f packets/s (the phones sent %.0f/s), sent %.0f/s "
	       "(%.0f/s expected: 50 per member)\n",
	       (double)(rx1 - rx0) / wall, (double)r.sent_win / wall, (double)(tx1 - tx0) / wall,
	       nm * 1000.0 / PBX_FRAME_MS);
	printf("    talk: %.1f members talking at once on average (%.2f per room), %u at most; "
	       "%llu spurts began, the mixers saw %llu\n",
	       r.periods ? r.talkers_sum / r.periods : 0.0,
	       r.periods ? r.talkers_sum / r.periods / sc->rooms : 0.0, r.talkers_max,
	       (unsigned long long)r.spurts, (unsigned long long)spurts_seen);
	printf("    listeners: %d, %llu packets of %llu, %u out of order, %u within 5 ms of the "
	       "one before, %.1f to %.1f ms apart; voice in %.0f%% of them, someone talked in "
	       "their room %.0f%% of the time\n",
	       nlis, (unsigned long long)r.lis_got, (unsigned long long)r.lis_expected, r.reorder,
	       r.b2b, r.gap_min, r.gap_max, r.lis_got ? 100.0 * r.voice / (double)r.lis_got : 0.0,
	       r.periods ? 100.0 * r.room_talk / ((double)r.periods * nlis) : 0.0);
	printf("    phones: %.0f%% of CPU 1, %u of their 1 ms slots more than 5 ms late, the "
	       "latest by %.1f ms",
	       r.wall_s > 0 ? r.cpu_s / r.wall_s * 100 : 0.0, r.late_slots, r.late_max_s * 1000);
	if (drop0 >= 0 && drop1 >= 0)
		printf("; UDP receive-buffer drops on the machine: %lld", drop1 - drop0);
	if (st0[0] >= 0 && st1[0] >= 0 && st0[1] >= 0 && st1[1] >= 0)
		printf("; steal %.0f ms of CPU 0, %.0f ms of CPU 1", (st1[0] - st0[0]) * 1000,
		       (st1[1] - st0[1]) * 1000);
	printf("\n");
	/* Each wake-up on an idle CPU costs some; more, and a share of the window, is other work. */
	if (runs && waited / (double)runs > 100e-6 && waited > 0.01 * wall)
		printf("note: the worker waited %.0f us for CPU 0 each time it ran: other work ran "
		       "there, and the figures include its disturbance\n",
		       waited * 1e6 / (double)runs);
	if (r.lis_got < r.lis_expected / 2 || !r.lis_got) {
		printf("FAILED: %s: the listeners got %llu of %llu mix packets\n", name,
		       (unsigned long long)r.lis_got, (unsigned long long)r.lis_expected);
		failed = 1;
	}
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	for (int j = 0; j < NLISTEN; j++) {
		free(g.lis[j].k);
		free(g.lis[j].t);
	}
	free(g.late);
	memset(&g, 0, sizeof g);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (int s = 0; s < NSOCK + NLISTEN; s++)
		if (socks[s] >= 0)
			close(socks[s]);
	teardown(sc);
	return failed;
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_MIX_SECONDS");
	double seconds = argc > 1 ? atof(argv[1]) : env && *env ? atof(env) : 10;
	enum { NSCEN = sizeof scenarios / sizeof scenarios[0] };
	struct pbx_media_cfg cfg;
	int failed = 0;
	/* Four sets of SECONDS + 2.5 s: 25 s keeps a run within two minutes. */
	if (seconds <= 0 || seconds > 25) {
		fprintf(stderr, "usage: %s [SECONDS <= 25] (default BENCH_MIX_SECONDS or 10)\n",
			argv[0]);
		return 2;
	}
	pbx_log_set_level(PBX_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	/* Two descriptors per member on our side; the phones' few are in the child. */
	if (bench_nofile(2 * MAX_MEMBERS + 100))
		return 1;
	clips_make();
	memset(&cfg, 0, sizeof cfg);
	cfg.workers = 1;
	/* 2,000 ports for 1,000 members, below the kernel's ephemeral ports. */
	cfg.port_min = 30000;
	cfg.port_max = 39999;
	cfg.timeout = 0;
	printf("    1 media worker on CPU 0, the phones on CPU 1; %.1f s measured per room set "
	       "after %.1f s of warm-up; G.711 u-law, 20 ms\n",
	       seconds, WARM_S);
	printf("    aims: a 200-member room under 50%% of one core, 1,000 members in rooms of 10 "
	       "under 100%%, mix frames p99 under %.0f ms late\n",
	       LATE_AIM_MS);
	for (int n = 0; n < NSCEN && !failed; n++) {
		/* A fresh worker per set: its user/system split is the set's own. */
		bench_pin(0);
		if (uv_loop_init(&loop) || pbx__media_start_with(&cfg, &loop)) {
			printf("FAILED: cannot start the media engine\n");
			return 1;
		}
		failed = scenario_run(&scenarios[n], seconds);
		pbx_media_stop();
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	return failed;
}
