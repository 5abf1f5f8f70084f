/**
 * @file media.c  The media engine: worker threads, their queues, and the public RTP API
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * N workers (pbx.media_workers, 0 = one per core), each a thread running
 * its own uv loop. The signalling thread owns every struct pbx_rtp; a
 * worker owns the struct pbx__sess behind it. They talk in two directions:
 *
 *  - commands, signalling -> worker: a mutex-protected list per worker and
 *    a uv_async wake-up. Commands come per call event (set params, bridge,
 *    play), never per packet, so the lock is uncontended and costs nothing
 *    measurable; each command is one small allocation.
 *  - events, worker -> signalling: one list for all workers and a uv_async
 *    on pbx_loop(). Events name the session by id; an event for a session
 *    freed meanwhile finds nothing and is dropped.
 *
 * Every API function returns at once; what it asks happens on the worker
 * an instant later, in the order asked.
 *
 * Bridged sessions must share a worker (relay is then a function call). A
 * session allocated "near" its future peer is placed there at once; when
 * two sessions on different workers are bridged anyway (a transfer joins
 * two calls), the second moves: its old worker unwatches its sockets and
 * hands it to the new one, which watches them again and says so. Commands
 * for a moving session wait here, in order, until it has arrived.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "media_priv.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"

#define MAX_WORKERS 64

static struct {
	bool running;
	uv_loop_t *sig;
	uv_async_t *ev_async;
	struct pbx__queue evq;
	struct pbx__worker *w;
	int nw;
	uint32_t next_id;
	uint64_t rnd;
	struct pbx_rtp **tab; /* sessions by id: chained, power-of-two buckets */
	unsigned tab_size, tab_n;
	/* Counters of the sessions closed since the start: workers add to them
	 * (atomically, once per session) as a session's sockets close. */
	struct pbx_rtp_stats retired;
} M;

/* ---- small things ---------------------------------------------------------------------------- */

uint32_t pbx__rand(void)
{
	if (!M.rnd) {
		if (getrandom(&M.rnd, sizeof M.rnd, 0) != sizeof M.rnd)
			M.rnd = (uint64_t)uv_hrtime() ^ (uint64_t)getpid() << 32;
		M.rnd |= 1;
	}
	/* xorshift64*: SSRCs and port cursors need to be unpredictable enough
	 * to stay apart, not secret. */
	M.rnd ^= M.rnd >> 12;
	M.rnd ^= M.rnd << 25;
	M.rnd ^= M.rnd >> 27;
	return (uint32_t)((M.rnd * 2685821657736338717ULL) >> 32);
}

void pbx__queue_init(struct pbx__queue *q, uv_async_t *wake)
{
	pthread_mutex_init(&q->mu, NULL);
	q->head = NULL;
	q->tail = &q->head;
	q->wake = wake;
	q->closed = false;
}

void pbx__queue_push(struct pbx__queue *q, void *item)
{
	*(void **)item = NULL;
	pthread_mutex_lock(&q->mu);
	*q->tail = item;
	q->tail = (void **)item;
	if (!q->closed)
		uv_async_send(q->wake);
	pthread_mutex_unlock(&q->mu);
}

void *pbx__queue_take(struct pbx__queue *q)
{
	pthread_mutex_lock(&q->mu);
	void *all = q->head;
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&q->mu);
	return all;
}

void pbx__queue_close(struct pbx__queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_mutex_unlock(&q->mu);
}

static void post_ev(enum pbx__ev_type type, uint32_t id, int val, uint32_t gen, char digit,
		    unsigned ms);

void pbx__media_post(enum pbx__ev_type type, uint32_t id, int val, uint32_t gen, char digit)
{
	post_ev(type, id, val, gen, digit, 0);
}

void pbx__media_post_ms(enum pbx__ev_type type, uint32_t id, int val, uint32_t gen, unsigned ms)
{
	post_ev(type, id, val, gen, 0, ms);
}

static void post_ev(enum pbx__ev_type type, uint32_t id, int val, uint32_t gen, char digit,
		    unsigned ms)
{
	struct pbx__ev *e = malloc(sizeof *e);
	if (!e) {
		pbx_error("rtp %u: out of memory, event %d lost", id, (int)type);
		return;
	}
	e->type = type;
	e->id = id;
	e->val = val;
	e->gen = gen;
	e->digit = digit;
	e->ms = ms;
	pbx__queue_push(&M.evq, e);
}

void pbx__worker_push(struct pbx__worker *w, struct pbx__cmd *c)
{
	pbx__queue_push(&w->q, c);
}

static void cmd_free(struct pbx__cmd *c)
{
	if (c->type == PBX__CMD_PARAMS && c->u.params.srtp)
		explicit_bzero(&c->u.params, sizeof c->u.params); /* no keys left in freed memory */
	if (c->type == PBX__CMD_PLAY && c->u.play.snd)
		pbx__sound_unref(c->u.play.snd);
	if (c->type == PBX__CMD_RECORD || c->type == PBX__CMD_MONITOR)
		for (int i = 0; i < 3; i++)
			free(c->u.rec.path[i]);
	if (c->type == PBX__CMD_MIX_RECORD)
		free(c->u.mix.path);
	if (c->type == PBX__CMD_MIX_PLAY && c->u.mix.snd)
		pbx__sound_unref(c->u.mix.snd);
	if (c->type != PBX__CMD_STOP)
		free(c);
}

/* ---- the worker thread ----------------------------------------------------------------------- */

/*
 * The 20 ms clock: a timerfd armed at absolute deadlines of the monotonic
 * clock. libuv's repeating timer re-arms from the loop time read before
 * its callback, so each period would stretch by the tick's own work (a
 * mix of 200 members: 22 ms periods, then two frames at once to catch
 * up); the kernel's timer keeps the grid, and says how many periods went
 * by when the worker was late.
 */
static void on_tick(uv_poll_t *h, int status, int events)
{
	struct pbx__worker *w = h->data;
	uint64_t n = 0;
	(void)events;
	if (status < 0 || read(w->tick_fd, &n, sizeof n) != sizeof n || !n)
		return;
	/* A late tick (a busy worker) takes every frame it owes, up to 200 ms,
	 * so a recording keeps its length; beyond that the time is lost. */
	pbx__worker_tick(w, n > 10 ? 10 : (unsigned)n);
}

static int tick_set(struct pbx__worker *w, bool on)
{
	struct itimerspec its = {0};
	if (on) {
		clock_gettime(CLOCK_MONOTONIC, &its.it_value);
		its.it_value.tv_nsec += PBX_FRAME_MS * 1000000L;
		if (its.it_value.tv_nsec >= 1000000000L) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000L;
		}
		its.it_interval.tv_nsec = PBX_FRAME_MS * 1000000L;
	}
	return timerfd_settime(w->tick_fd, TFD_TIMER_ABSTIME, &its, NULL) ? errno : 0;
}

void pbx__tick_start(struct pbx__worker *w)
{
	int err;
	if (w->ticking)
		return;
	if ((err = tick_set(w, true)) || (err = -uv_poll_start(&w->tick, UV_READABLE, on_tick))) {
		pbx_error("media worker %d: cannot start its 20 ms clock: %s", w->idx,
			  strerror(err));
		return;
	}
	w->ticking = true;
}

static void tick_stop(struct pbx__worker *w)
{
	if (!w->ticking)
		return;
	tick_set(w, false);
	uv_poll_stop(&w->tick);
	w->ticking = false;
}

static void tick_closed(uv_handle_t *h)
{
	struct pbx__worker *w = h->data;
	close(w->tick_fd);
	w->tick_fd = -1;
}

void pbx__worker_tick(struct pbx__worker *w, unsigned due)
{
	uint64_t now = uv_now(&w->loop);
	for (struct pbx__sess *s = w->gens, *next; s; s = next) {
		next = s->gnext;
		if (pbx__dtmf_sending(s))
			pbx__dtmf_tick(s, now);
		if (s->play)
			pbx__play_tick(s, now);
		if (s->tone_on)
			pbx__tone_tick(s, now);
		pbx__gens_update(s);
	}
	for (struct pbx__sess *s = w->gens, *next; s; s = next) {
		next = s->gnext;
		if (s->rx_deferred)
			pbx__rtp_drain(s); /* may end its recording (a '#'): next is kept first */
	}
	for (unsigned k = 0; k < due; k++) {
		w->tick_no++;
		for (struct pbx__sess *s = w->gens, *next; s; s = next) {
			next = s->gnext;
			if (s->rec)
				pbx__rec_tick(s);
			if (s->mon)
				pbx__mon_tick(s);
			pbx__gens_update(s);
		}
		pbx__mix_tick(w, now);
	}
	if (!w->gens)
		tick_stop(w);
}

static void on_check(uv_timer_t *t)
{
	pbx__sess_check(t->data);
}

/*
 * The packets of a turn go out twice a turn. Before the loop blocks in
 * epoll (prepare): what the timers made (playback, DTMF) must not wait for
 * the next wake-up. After the I/O callbacks (check): what was relayed goes
 * out before the closing phase frees or hands on the sessions closed in
 * the turn, whose counters the queue still names.
 */
static void on_flush_prepare(uv_prepare_t *h)
{
	struct pbx__worker *w = h->data;
	pbx__io_flush(w->io);
}

static void on_flush_check(uv_check_t *h)
{
	struct pbx__worker *w = h->data;
	pbx__io_flush(w->io);
}

static void worker_stop(struct pbx__worker *w)
{
	w->stopping = true;
	pbx__io_flush(w->io); /* the flush handle closes below, before its turn */
	pbx__mix_stop_all(w);
	while (w->sessions)
		pbx__sess_close(w->sessions);
	pbx__queue_close(&w->q);
	uv_close((uv_handle_t *)&w->wake, NULL);
	uv_close((uv_handle_t *)&w->tick, tick_closed);
	uv_close((uv_handle_t *)&w->check, NULL);
	uv_close((uv_handle_t *)&w->flush, NULL);
	uv_close((uv_handle_t *)&w->flush_timers, NULL);
}

/* A session handed to a worker that has stopped: it was never watched there. */
static void sess_discard(struct pbx__sess *s)
{
	close(s->fd);
	close(s->rtcp_fd);
	pbx__srtp_free(s->srtp);
	if (s->play)
		pbx__sound_unref(s->play);
	free(s);
}

static void on_wake(uv_async_t *a)
{
	struct pbx__worker *w = a->data;
	struct pbx__cmd *c = pbx__queue_take(&w->q), *next;
	for (; c; c = next) {
		struct pbx__sess *s = c->s;
		next = c->next;
		if (w->stopping) { /* another worker handed a session on meanwhile */
			if (c->type == PBX__CMD_ADD || c->type == PBX__CMD_ADOPT)
				sess_discard(s);
			cmd_free(c);
			continue;
		}
		switch (c->type) {
		case PBX__CMD_ADD: pbx__sess_add(w, s); break;
		case PBX__CMD_ADOPT:
			pbx__sess_add(w, s);
			pbx__media_post(PBX__EV_ADOPTED, s->id, w->idx, 0, 0);
			break;
		case PBX__CMD_PARAMS: pbx__sess_params(s, &c->u.params); break;
		case PBX__CMD_BRIDGE: pbx__sess_bridge(s, c->s2); break;
		case PBX__CMD_UNBRIDGE: pbx__sess_unbridge(s); break;
		case PBX__CMD_PLAY:
			s->play_loop = c->u.play.loop;
			pbx__play_start(s, c->u.play.snd, c->u.play.gen);
			c->u.play.snd = NULL; /* the playback holds the reference now */
			break;
		case PBX__CMD_TONE: pbx__tone_set(s, &c->u.tone); break;
		case PBX__CMD_TONE_STOP: pbx__tone_set(s, NULL); break;
		case PBX__CMD_RECORD: pbx__rec_start(s, c); break;
		case PBX__CMD_RECORD_STOP: pbx__rec_stop(s, PBX_REC_STOPPED, c->u.on); break;
		case PBX__CMD_MONITOR: pbx__mon_start(s, c); break;
		case PBX__CMD_MONITOR_STOP: pbx__mon_stop(s); break;
		case PBX__CMD_PLAY_STOP:
			/* Answered even when nothing plays (it ended, or never
			 * arrived): the signalling side knows which to deliver. */
			pbx__play_stop(s, -1);
			pbx__media_post(PBX__EV_PLAY_DONE, s->id, ECANCELED, c->u.play.gen, 0);
			break;
		case PBX__CMD_ECHO:
			s->echo = c->u.on;
			pbx__rx_mode_update(s);
			break;
		case PBX__CMD_DTMF_RELAY:
			/* The end packets of a key the signalling side held (the '#'
			 * that ends a transfer's number) repeat after it decided: they
			 * must not reach the peer as half an event. */
			s->dtmf_tail = c->u.on && s->dtmf_no_relay && s->drx.active;
			s->dtmf_tail_ts = s->drx.ts;
			s->dtmf_no_relay = !c->u.on;
			break;
		case PBX__CMD_DTMF:
			pbx__dtmf_enqueue(s, c->u.dtmf.digit, c->u.dtmf.ms);
			pbx__dtmf_tick(s, uv_now(&w->loop));
			break;
		case PBX__CMD_CLOSE: pbx__sess_close(s); break;
		case PBX__CMD_MIGRATE:
			pbx__sess_migrate(s, c);
			continue; /* the command travels on with the session */
		case PBX__CMD_STOP: worker_stop(w); break;
		default: pbx__mix_cmd(w, c); break;
		}
		cmd_free(c);
	}
}

static void worker_main(void *arg)
{
	struct pbx__worker *w = arg;
	char name[16];
	snprintf(name, sizeof name, "pbx-media-%d", w->idx);
	pthread_setname_np(pthread_self(), name);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	int err = uv_loop_close(&w->loop);
	if (err)
		pbx_warning("media worker %d: loop not closed: %s", w->idx, uv_strerror(err));
	pbx__io_free(w->io);
	w->io = NULL;
}

/* ---- sessions by id (signalling thread) ------------------------------------------------------ */

struct pbx_rtp *pbx__rtp_find(uint32_t id)
{
	if (!M.tab)
		return NULL;
	struct pbx_rtp *r = M.tab[id & (M.tab_size - 1)];
	while (r && r->id != id)
		r = r->hnext;
	return r;
}

static int tab_insert(struct pbx_rtp *r)
{
	if (M.tab_n >= M.tab_size) {
		unsigned size = M.tab_size ? M.tab_size * 2 : 256;
		struct pbx_rtp **tab = calloc(size, sizeof *tab);
		if (!tab)
			return ENOMEM;
		for (unsigned i = 0; i < M.tab_size; i++)
			for (struct pbx_rtp *x = M.tab[i], *next; x; x = next) {
				next = x->hnext;
				x->hnext = tab[x->id & (size - 1)];
				tab[x->id & (size - 1)] = x;
			}
		free(M.tab);
		M.tab = tab;
		M.tab_size = size;
	}
	struct pbx_rtp **b = &M.tab[r->id & (M.tab_size - 1)];
	r->hnext = *b;
	*b = r;
	M.tab_n++;
	return 0;
}

static void tab_remove(struct pbx_rtp *r)
{
	if (!M.tab)
		return;
	for (struct pbx_rtp **p = &M.tab[r->id & (M.tab_size - 1)]; *p; p = &(*p)->hnext)
		if (*p == r) {
			*p = r->hnext;
			M.tab_n--;
			return;
		}
}

/* The signalling half holds the leg's SRTP keys in its params: wiped before the memory goes. */
static void rtp_release(struct pbx_rtp *r)
{
	if (r)
		explicit_bzero(&r->params, sizeof r->params);
	free(r);
}

/* ---- posting commands (signalling thread) ---------------------------------------------------- */

static struct pbx__cmd *cmd_new(enum pbx__cmd_type type, struct pbx_rtp *r)
{
	struct pbx__cmd *c = calloc(1, sizeof *c);
	if (c) {
		c->type = type;
		c->s = r->s;
		c->id = r->id;
	}
	return c;
}

/*
 * Send @p c on for @p r, in order. While @p r moves between workers its
 * commands wait. A bridge waits for both sessions and goes only if the two
 * are still meant to be bridged by then: a later bridge or unbridge won.
 */
void pbx__rtp_submit(struct pbx_rtp *r, struct pbx__cmd *c)
{
	if (c->type == PBX__CMD_BRIDGE) {
		struct pbx_rtp *a = pbx__rtp_find(c->id), *b = pbx__rtp_find(c->id2);
		if (!a || !b || a->freed || b->freed || a->peer != b || b->peer != a) {
			cmd_free(c);
			return;
		}
		r = a->migrating ? a : b->migrating ? b : a;
		if (!r->migrating && a->w != b->w) {
			cmd_free(c);
			return;
		}
	}
	if (r->migrating) {
		c->next = NULL;
		*r->pending_tail = c;
		r->pending_tail = &c->next;
		return;
	}
	if (c->type == PBX__CMD_MIGRATE) {
		if (c->u.to == r->w) {
			cmd_free(c);
			return;
		}
		pbx__worker_push(r->w, c);
		r->w->nsess_sig--;
		r->w = c->u.to;
		r->w->nsess_sig++;
		r->migrating = true;
		r->pending = NULL;
		r->pending_tail = &r->pending;
		return;
	}
	pbx__worker_push(r->w, c);
}

int pbx__rtp_post(struct pbx_rtp *r, enum pbx__cmd_type type, struct pbx__cmd **cp)
{
	struct pbx__cmd *c = cmd_new(type, r);
	if (!c)
		return ENOMEM;
	if (cp)
		*cp = c; /* the caller fills it in and submits */
	else
		pbx__rtp_submit(r, c);
	return 0;
}

static void arrived(struct pbx_rtp *r, int widx)
{
	struct pbx__cmd *c = r->pending, *next;
	r->migrating = false;
	r->pending = NULL;
	r->pending_tail = &r->pending;
	if (widx >= 0 && widx < M.nw && &M.w[widx] != r->w)
		pbx_warning("rtp %u arrived on worker %d, not %d", r->id, widx, r->w->idx);
	for (; c; c = next) {
		next = c->next;
		pbx__rtp_submit(r, c); /* a later move makes the rest wait again */
	}
	if (r->freed && !r->migrating) {
		tab_remove(r);
		rtp_release(r);
	}
}

/* ---- events (signalling thread) -------------------------------------------------------------- */

static void play_done(struct pbx_rtp *r, int err);

static void dispatch(const struct pbx__ev *e)
{
	struct pbx_rtp *r;
	if (e->type == PBX__EV_CLOSED) {
		pbx__ports_release((uint16_t)e->val);
		return;
	}
	if (e->type >= PBX__EV_MIX_TALK) {
		pbx__mix_event(e);
		return;
	}
	if (!(r = pbx__rtp_find(e->id)))
		return;
	if (e->type == PBX__EV_ADOPTED) {
		arrived(r, e->val);
		return;
	}
	if (r->freed || !r->ev)
		return;
	switch (e->type) {
	case PBX__EV_DTMF:
		pbx_debug("rtp %u: DTMF '%c' %d ms", r->id, e->digit, e->val);
		if (r->ev->dtmf)
			r->ev->dtmf(r->arg, e->digit, e->val);
		break;
	case PBX__EV_TIMEOUT:
		pbx_notice("rtp %u (port %u): no RTP for %u s", r->id, r->port,
			   r->w ? r->w->timeout_ms / 1000 : 0);
		if (r->ev->timeout)
			r->ev->timeout(r->arg);
		break;
	case PBX__EV_PLAY_DONE:
		if (!r->play_active || e->gen != r->play_gen)
			break; /* superseded by a newer playback, or already told */
		play_done(r, e->val);
		break;
	case PBX__EV_RECORD_DONE:
		r->recording = r->rec_on = false;
		if (r->ev->record_done)
			r->ev->record_done(r->arg, e->digit, e->val, e->gen);
		break;
	case PBX__EV_MONITOR_DONE:
		if (e->gen != r->mon_gen)
			break; /* a monitor since replaced: the new one still runs */
		r->monitoring = r->mon_on = false;
		if (r->ev->monitor_done)
			r->ev->monitor_done(r->arg, e->val);
		break;
	default: break;
	}
}

static void on_events(uv_async_t *a)
{
	(void)a;
	struct pbx__ev *e = pbx__queue_take(&M.evq), *next;
	for (; e; e = next) {
		next = e->next;
		if (M.running)
			dispatch(e);
		free(e);
	}
}

/* ---- start and stop -------------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* Whatever is still queued for a worker that has stopped. */
static void drain(struct pbx__worker *w)
{
	struct pbx__cmd *c = pbx__queue_take(&w->q), *next;
	for (; c; c = next) {
		next = c->next;
		if ((c->type == PBX__CMD_ADD || c->type == PBX__CMD_ADOPT) && c->s)
			sess_discard(c->s);
		cmd_free(c);
	}
}

int pbx__media_start_with(const struct pbx_media_cfg *cfg, uv_loop_t *sig_loop)
{
	int err, n = cfg->workers;
	if (M.running)
		return EALREADY;
	if ((err = pbx__srtp_init()))
		return err;
	if (n <= 0)
		n = (int)uv_available_parallelism();
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	if ((err = pbx__ports_init(cfg->port_min, cfg->port_max))) {
		pbx_error("media: bad RTP port range %d-%d", cfg->port_min, cfg->port_max);
		return err;
	}
	M.sig = sig_loop;
	memset(&M.retired, 0, sizeof M.retired); /* no worker runs yet */
	M.ev_async = malloc(sizeof *M.ev_async);
	M.w = calloc((size_t)n, sizeof *M.w);
	if (!M.ev_async || !M.w) {
		err = ENOMEM;
		goto out;
	}
	if ((err = uv_async_init(sig_loop, M.ev_async, on_events))) {
		err = -err;
		goto out;
	}
	pbx__queue_init(&M.evq, M.ev_async);
	M.nw = 0;
	for (int i = 0; i < n; i++) {
		struct pbx__worker *w = &M.w[i];
		w->idx = i;
		w->timeout_ms = cfg->timeout > 0 ? (unsigned)cfg->timeout * 1000 : 0;
		w->strict_rtp = cfg->strict_rtp;
		w->stop.type = PBX__CMD_STOP;
		if ((err = pbx__io_alloc(&w->io, !cfg->no_batch)))
			break;
		if ((err = uv_loop_init(&w->loop))) {
			err = -err;
			pbx__io_free(w->io);
			break;
		}
		w->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (w->tick_fd < 0 || uv_poll_init(&w->loop, &w->tick, w->tick_fd)) {
			err = w->tick_fd < 0 ? errno : EIO;
			if (w->tick_fd >= 0)
				close(w->tick_fd);
			uv_loop_close(&w->loop);
			pbx__io_free(w->io);
			break;
		}
		uv_async_init(&w->loop, &w->wake, on_wake);
		uv_timer_init(&w->loop, &w->check);
		uv_check_init(&w->loop, &w->flush);
		uv_prepare_init(&w->loop, &w->flush_timers);
		w->wake.data = w->tick.data = w->check.data = w;
		w->flush.data = w->flush_timers.data = w;
		pbx__queue_init(&w->q, &w->wake);
		uv_timer_start(&w->check, on_check, 1000, 1000);
		if (pbx__io_batched(w->io)) {
			uv_check_start(&w->flush, on_flush_check);
			uv_prepare_start(&w->flush_timers, on_flush_prepare);
		}
		if ((err = uv_thread_create(&w->thread, worker_main, w))) {
			err = -err;
			uv_close((uv_handle_t *)&w->wake, NULL);
			uv_close((uv_handle_t *)&w->tick, tick_closed);
			uv_close((uv_handle_t *)&w->check, NULL);
			uv_close((uv_handle_t *)&w->flush, NULL);
			uv_close((uv_handle_t *)&w->flush_timers, NULL);
			uv_run(&w->loop, UV_RUN_DEFAULT);
			uv_loop_close(&w->loop);
			pbx__io_free(w->io);
			break;
		}
		M.nw++;
	}
	M.running = true;
	if (err) {
		pbx_media_stop();
		return err;
	}
	pbx_info("media: %d worker(s), RTP ports %d-%d, timeout %d s", n, cfg->port_min,
		 cfg->port_max, cfg->timeout);
	return 0;
out:
	free(M.ev_async);
	M.ev_async = NULL;
	free(M.w);
	M.w = NULL;
	pbx__ports_free();
	return err;
}

int pbx_media_start(void)
{
	struct pbx_media_cfg mc = *pbx_media_config(pbx_cfg());
	mc.workers = pbx_config_core(pbx_cfg())->media_workers;
	return pbx__media_start_with(&mc, pbx_loop());
}

void pbx_media_stop(void)
{
	if (!M.running)
		return;
	for (int i = 0; i < M.nw; i++)
		pbx__worker_push(&M.w[i], &M.w[i].stop);
	for (int i = 0; i < M.nw; i++)
		uv_thread_join(&M.w[i].thread);
	for (int i = 0; i < M.nw; i++)
		drain(&M.w[i]);
	M.running = false;
	on_events(M.ev_async); /* dropped: nobody is told after stop */
	pbx__mix_forget_all();
	pbx__queue_close(&M.evq);
	uv_close((uv_handle_t *)M.ev_async, free_handle);
	M.ev_async = NULL;

	/* What the signalling side still holds no longer has a worker half;
	 * pbx_rtp_free on it just frees it. */
	for (unsigned i = 0; i < M.tab_size; i++)
		for (struct pbx_rtp *r = M.tab[i], *next; r; r = next) {
			next = r->hnext;
			for (struct pbx__cmd *c = r->pending, *cn; c; c = cn) {
				cn = c->next;
				cmd_free(c);
			}
			r->pending = NULL;
			r->migrating = false;
			r->s = NULL;
			r->w = NULL;
			if (r->freed) {
				tab_remove(r);
				rtp_release(r);
			}
		}
	free(M.w);
	M.w = NULL;
	M.nw = 0;
	pbx__ports_free();
	pbx__play_cache_flush();
	if (!M.tab_n) {
		free(M.tab);
		M.tab = NULL;
		M.tab_size = 0;
	}
	pbx_info("media: stopped");
}

uv_loop_t *pbx__media_loop(void)
{
	return M.sig;
}

bool pbx__media_running(void)
{
	return M.running;
}

unsigned pbx__media_sessions(void)
{
	return M.tab_n;
}

int pbx__media_workers(void)
{
	return M.nw;
}

struct pbx__worker *pbx__media_least_loaded(void)
{
	struct pbx__worker *w = &M.w[0];
	for (int i = 1; i < M.nw; i++)
		if (M.w[i].nsess_sig < w->nsess_sig)
			w = &M.w[i];
	return w;
}

/* ---- the API --------------------------------------------------------------------------------- */

int pbx_rtp_alloc(struct pbx_rtp **rp, const struct sockaddr *local, struct pbx_rtp *near,
		  const struct pbx_rtp_events *ev, void *arg)
{
	struct pbx_rtp *r = NULL;
	struct pbx__sess *s = NULL;
	struct pbx__cmd *c = NULL;
	int err;
	if (!M.running)
		return ENODEV;
	if (local && local->sa_family != AF_INET && local->sa_family != AF_INET6)
		return EAFNOSUPPORT;
	r = calloc(1, sizeof *r);
	s = calloc(1, sizeof *s);
	if (!r || !s) {
		err = ENOMEM;
		goto out;
	}
	s->fd = s->rtcp_fd = -1;
	if ((err = pbx__ports_open(local, &s->fd, &s->rtcp_fd, &s->port))) {
		if (err != ENOSPC)
			pbx_error("rtp: cannot bind a port pair: %s", strerror(err));
		goto out;
	}
	do /* below the mixers' ids */
		r->id = M.next_id = (M.next_id + 1) & ~PBX__MIX_ID_BIT;
	while (!r->id || pbx__rtp_find(r->id));
	s->id = r->id;
	s->out.ssrc = pbx__rand();
	s->out.next_seq = (uint16_t)pbx__rand();
	s->out.last_ts = pbx__rand();
	pbx__leg_set_codec(s, NULL); /* u-law until params say */
	s->dtmf_khz = 8;
	s->ptime = 20; /* playback before any params still keeps time */
	s->spp = 160;
	r->s = s;
	r->port = s->port;
	r->family = local ? local->sa_family : AF_INET;
	r->ev = ev;
	r->arg = arg;
	r->pending_tail = &r->pending;
	r->w = near && near->w ? near->w : pbx__media_least_loaded();
	if (!(c = cmd_new(PBX__CMD_ADD, r)) || (err = tab_insert(r))) {
		err = ENOMEM;
		goto out;
	}
	r->w->nsess_sig++;
	pbx__worker_push(r->w, c);
	*rp = r;
	return 0;
out:
	free(c);
	if (s && s->fd >= 0) {
		close(s->fd);
		close(s->rtcp_fd);
		pbx__ports_release(s->port);
	}
	free(s);
	rtp_release(r);
	return err;
}

void pbx_rtp_free(struct pbx_rtp *r)
{
	if (!r)
		return;
	pbx_mix_leave(r);
	if (r->peer) {
		r->peer->peer = NULL;
		r->peer = NULL;
	}
	r->ev = NULL;
	r->freed = true;
	if (!M.running || !r->s) {
		tab_remove(r);
		rtp_release(r);
		return;
	}
	struct pbx__cmd *c = cmd_new(PBX__CMD_CLOSE, r);
	if (!c) {
		/* Leave the session to the worker's stop rather than crash; its
		 * ports stay taken until then. */
		pbx_error("rtp %u: out of memory closing it", r->id);
	} else {
		pbx__rtp_submit(r, c);
	}
	r->w->nsess_sig--;
	if (!r->migrating) {
		tab_remove(r);
		rtp_release(r);
	}
}

int pbx_rtp_port(const struct pbx_rtp *r)
{
	return r->port;
}

int pbx_rtp_set_params(struct pbx_rtp *r, const struct pbx_rtp_params *p)
{
	struct pbx__cmd *c;
	int err;
	if (!p->codec || p->pt > 127 || p->dtmf_pt > 127 || (unsigned)p->dir > PBX_DIR_INACTIVE ||
	    p->ptime > PBX__MAX_PTIME)
		return EINVAL;
	if (p->remote.ss_family != AF_INET && p->remote.ss_family != AF_INET6 &&
	    p->remote.ss_family != AF_UNSPEC)
		return EAFNOSUPPORT;
	if (p->remote.ss_family == AF_INET6 && r->family == AF_INET)
		return EAFNOSUPPORT;
	if (p->srtp && (!pbx__srtp_key_valid(&p->tx) || !pbx__srtp_key_valid(&p->rx)))
		return EINVAL;
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_PARAMS, &c)))
		return err;
	c->u.params = *p;
	if (p->remote.ss_family == AF_INET && r->family == AF_INET6) {
		/* A dual-stack socket reaches IPv4 phones at ::ffff:a.b.c.d. */
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)&p->remote;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->u.params.remote;
		struct in_addr a = v4->sin_addr;
		uint16_t port = v4->sin_port;
		memset(v6, 0, sizeof *v6);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = port;
		v6->sin6_addr.s6_addr[10] = v6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&v6->sin6_addr.s6_addr[12], &a, 4);
	}
	r->params = *p;
	r->have_params = true;
	pbx__rtp_submit(r, c);
	return 0;
}

const struct pbx_rtp_params *pbx_rtp_get_params(const struct pbx_rtp *r)
{
	return r->have_params ? &r->params : NULL;
}

bool pbx_rtp_is_srtp(const struct pbx_rtp *r, enum pbx_srtp_suite *suite)
{
	if (!r->have_params || !r->params.srtp)
		return false;
	if (suite)
		*suite = r->params.tx.suite;
	return true;
}

int pbx_rtp_bridge(struct pbx_rtp *a, struct pbx_rtp *b)
{
	struct pbx__cmd *c;
	int err;
	if (!a->s || (b && !b->s))
		return ENODEV;
	if (!b) {
		/* Not joined: nothing to tell the worker (the signalling side's
		 * view follows every join, so it is the worker's too). */
		if (!a->peer)
			return 0;
		a->peer->peer = NULL;
		a->peer = NULL;
		return pbx__rtp_post(a, PBX__CMD_UNBRIDGE, NULL);
	}
	if (a == b)
		return EINVAL;
	if (a->peer == b && b->peer == a)
		return 0;
	/* A conference member that is bridged leaves the conference first. */
	pbx_mix_leave(a);
	pbx_mix_leave(b);
	/* A bridge replaces playback on both legs (their owners hear ECANCELED). */
	pbx_rtp_play_stop(a);
	pbx_rtp_play_stop(b);
	if (a->peer)
		a->peer->peer = NULL;
	if (b->peer)
		b->peer->peer = NULL;
	a->peer = b;
	b->peer = a;
	if (a->w != b->w) {
		/* A recorder belongs to its worker: the leg being recorded stays. */
		struct pbx_rtp *mover =
			pbx_rtp_has_consumers(b) && !pbx_rtp_has_consumers(a) ? a : b;
		struct pbx_rtp *stay = mover == a ? b : a;
		if ((err = pbx__rtp_post(mover, PBX__CMD_MIGRATE, &c)))
			return err;
		c->u.to = stay->w;
		pbx_debug("rtp %u moves to worker %d to be bridged with rtp %u", mover->id,
			  stay->w->idx, stay->id);
		pbx__rtp_submit(mover, c);
	}
	if ((err = pbx__rtp_post(a, PBX__CMD_BRIDGE, &c)))
		return err;
	c->s2 = b->s;
	c->id2 = b->id;
	pbx__rtp_submit(a, c);
	return 0;
}

static int play(struct pbx_rtp *r, const char *path, bool music, bool loop)
{
	if (!path || !*path)
		return EINVAL;
	if (!r->s)
		return ENODEV;
	uint32_t gen = r->play_gen;
	bool active = r->play_active;
	r->play_gen++;
	r->play_active = true;
	bool was_loop = r->play_loop, was_music = r->play_music;
	r->play_loop = loop;
	r->play_music = music;
	int err = pbx__play_request(r->id, r->play_gen, path);
	if (err) {
		r->play_gen = gen; /* the playback before, if any, goes on and reports */
		r->play_active = active;
		r->play_loop = was_loop;
		r->play_music = was_music;
	}
	return err;
}

int pbx_rtp_play(struct pbx_rtp *r, const char *path)
{
	return play(r, path, false, false);
}

int pbx_rtp_play_music(struct pbx_rtp *r, const char *path, bool loop)
{
	return play(r, path, true, loop);
}

/* The end of the current playback, to whoever started it. */
static void play_done(struct pbx_rtp *r, int err)
{
	r->play_active = false;
	if (r->play_music ? r->ev->music_done : r->ev->play_done)
		(r->play_music ? r->ev->music_done : r->ev->play_done)(r->arg, err);
}

void pbx__media_play_ready(uint32_t id, uint32_t gen, struct pbx__sound *snd, int err)
{
	if (id & PBX__MIX_ID_BIT) {
		pbx__mix_play_ready(id, gen, snd, err);
		return;
	}
	struct pbx_rtp *r = M.running ? pbx__rtp_find(id) : NULL;
	struct pbx__cmd *c;
	if (!r || r->freed || !r->s || !r->play_active || r->play_gen != gen)
		return; /* freed, stopped or replaced meanwhile */
	if (!err && !(err = pbx__rtp_post(r, PBX__CMD_PLAY, &c))) {
		pbx__sound_ref(snd);
		c->u.play.snd = snd;
		c->u.play.gen = gen;
		c->u.play.loop = r->play_loop;
		pbx__rtp_submit(r, c);
		return;
	}
	if (r->ev)
		play_done(r, err);
	else
		r->play_active = false;
}

void pbx_rtp_play_stop(struct pbx_rtp *r)
{
	struct pbx__cmd *c;
	if (!r->play_active || !r->s || pbx__rtp_post(r, PBX__CMD_PLAY_STOP, &c))
		return;
	c->u.play.gen = r->play_gen;
	pbx__rtp_submit(r, c);
}

bool pbx_rtp_playing_music(const struct pbx_rtp *r)
{
	return r->play_active && r->play_music;
}

void pbx_rtp_music_stop(struct pbx_rtp *r)
{
	if (r->play_music)
		pbx_rtp_play_stop(r);
}

int pbx_rtp_tone(struct pbx_rtp *r, const struct pbx_tone_spec *spec)
{
	struct pbx_tone t;
	struct pbx__cmd *c;
	int err;
	if (!spec || pbx_tone_init(&t, spec, 8000)) /* what the worker would refuse */
		return EINVAL;
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_TONE, &c)))
		return err;
	c->u.tone = *spec;
	pbx__rtp_submit(r, c);
	return 0;
}

void pbx_rtp_tone_stop(struct pbx_rtp *r)
{
	if (r->s)
		pbx__rtp_post(r, PBX__CMD_TONE_STOP, NULL);
}

int pbx_rtp_echo(struct pbx_rtp *r, bool on)
{
	struct pbx__cmd *c;
	int err;
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_ECHO, &c)))
		return err;
	c->u.on = on;
	pbx__rtp_submit(r, c);
	return 0;
}

int pbx_rtp_set_dtmf_relay(struct pbx_rtp *r, bool on)
{
	struct pbx__cmd *c;
	int err;
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_DTMF_RELAY, &c)))
		return err;
	c->u.on = on;
	pbx__rtp_submit(r, c);
	return 0;
}

int pbx_rtp_send_dtmf(struct pbx_rtp *r, char digit, int duration_ms)
{
	struct pbx__cmd *c;
	int err;
	if (pbx__dtmf_code(digit) < 0)
		return EINVAL;
	if (!r->have_params || !r->params.dtmf_pt)
		return ENOTSUP; /* the driver falls back to SIP INFO */
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_DTMF, &c)))
		return err;
	c->u.dtmf.digit = digit;
	c->u.dtmf.ms = duration_ms;
	pbx__rtp_submit(r, c);
	return 0;
}

int pbx_rtp_worker(const struct pbx_rtp *r)
{
	return r->w ? r->w->idx : -1;
}

/* The counters as one array, for summing: every member of pbx_rtp_stats is a uint64_t. */
#define STATS_N (sizeof(struct pbx_rtp_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct pbx_rtp_stats) % sizeof(uint64_t) == 0,
	       "pbx_rtp_stats holds uint64_t counters only");

/* @p sum += @p x, each counter read once with a relaxed load (a worker writes them). */
static void stats_add(struct pbx_rtp_stats *sum, const struct pbx_rtp_stats *x)
{
	uint64_t *d = (uint64_t *)sum;
	const uint64_t *v = (const uint64_t *)x;
	for (size_t i = 0; i < STATS_N; i++)
		d[i] += __atomic_load_n(&v[i], __ATOMIC_RELAXED);
}

void pbx__stats_retire(const struct pbx_rtp_stats *st)
{
	uint64_t *d = (uint64_t *)&M.retired;
	const uint64_t *v = (const uint64_t *)st;
	for (size_t i = 0; i < STATS_N; i++)
		if (v[i])
			__atomic_fetch_add(&d[i], v[i], __ATOMIC_RELAXED);
}

void pbx_rtp_get_stats(const struct pbx_rtp *r, struct pbx_rtp_stats *st)
{
	memset(st, 0, sizeof *st);
	if (r->s)
		stats_add(st, &r->s->st);
}

/*
 * Closed sessions' counters, then the live ones'. A session freed by the
 * signalling side is out of the table before its worker closes it, so it
 * is never counted twice; the packets it gets meanwhile show once it has
 * closed. Linear in the live sessions: a console command, not a hot path.
 */
void pbx_rtp_totals(struct pbx_rtp_stats *st, unsigned *sessions)
{
	unsigned n = 0;
	memset(st, 0, sizeof *st);
	stats_add(st, &M.retired);
	for (unsigned i = 0; i < M.tab_size; i++)
		for (const struct pbx_rtp *r = M.tab[i]; r; r = r->hnext)
			if (r->s) {
				stats_add(st, &r->s->st);
				n++;
			}
	if (sessions)
		*sessions = n;
}

/* ---- recording ------------------------------------------------------------------------------- */

const char *pbx_rec_status_name(int why)
{
	static const char *const names[] = {
		[PBX_REC_DTMF] = "DTMF",      [PBX_REC_SILENCE] = "SILENCE",
		[PBX_REC_MAXLEN] = "TIMEOUT", [PBX_REC_STOPPED] = "HANGUP",
		[PBX_REC_ERROR] = "ERROR",
	};
	return why >= 0 && why <= PBX_REC_ERROR ? names[why] : "ERROR";
}

/* The worker opens the file; a path is copied into the command. */
static int rec_path(struct pbx__cmd *c, int i, const char *path)
{
	if (!path)
		return 0;
	if (!*path)
		return EINVAL;
	return (c->u.rec.path[i] = strdup(path)) ? 0 : ENOMEM;
}

int pbx_rtp_record(struct pbx_rtp *r, const char *path, const struct pbx_rec_opts *o)
{
	struct pbx__cmd *c;
	int err;
	if (!path || !*path)
		return EINVAL;
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_RECORD, &c)))
		return err;
	if ((err = rec_path(c, 0, path))) {
		cmd_free(c);
		return err;
	}
	if (o)
		c->u.rec.o = *o;
	c->u.rec.o.terminators[sizeof c->u.rec.o.terminators - 1] = 0;
	r->recording = r->rec_on = true;
	pbx__rtp_submit(r, c);
	return 0;
}

void pbx_rtp_record_stop(struct pbx_rtp *r, bool keep)
{
	struct pbx__cmd *c;
	if (r->recording && r->s && !pbx__rtp_post(r, PBX__CMD_RECORD_STOP, &c)) {
		c->u.on = keep;
		pbx__rtp_submit(r, c);
	}
	r->rec_on = false;
}

int pbx_rtp_monitor(struct pbx_rtp *r, const char *mixed, const char *rx_path, const char *tx_path)
{
	struct pbx__cmd *c;
	int err;
	if (!mixed && !rx_path && !tx_path)
		return EINVAL;
	if (!r->s)
		return ENODEV;
	if ((err = pbx__rtp_post(r, PBX__CMD_MONITOR, &c)))
		return err;
	if ((err = rec_path(c, 0, mixed)) || (err = rec_path(c, 1, rx_path)) ||
	    (err = rec_path(c, 2, tx_path))) {
		cmd_free(c);
		return err;
	}
	r->monitoring = r->mon_on = true;
	c->u.rec.gen = ++r->mon_gen;
	pbx__rtp_submit(r, c);
	return 0;
}

void pbx_rtp_monitor_stop(struct pbx_rtp *r)
{
	/* Without memory for the command the recording ends with the leg; say so. */
	if (r->monitoring && r->s && pbx__rtp_post(r, PBX__CMD_MONITOR_STOP, NULL))
		pbx_error("rtp %u: out of memory stopping a call recording: it ends with the call",
			  r->id);
	r->mon_on = false;
}

bool pbx_rtp_has_consumers(const struct pbx_rtp *r)
{
	return r->rec_on || r->mon_on;
}
