/**
 * @file mixer_api.c  Conference mixers, the signalling side: members, recording, playback, events
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The worker half of a mixer (mixer.c) is made by a command to its worker
 * and named by id afterwards, so a command that arrives after the mixer
 * closed (a member's join that waited for the member to move) finds
 * nothing and does nothing. Joins, option changes and leaves travel with
 * the member's session, in order with its other commands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "media_priv.h"
#include "pbx/log.h"

struct pbx_mix {
	uint32_t id;
	struct pbx__worker *w;
	struct pbx_mix_cfg cfg;
	const struct pbx_mix_events *ev;
	void *arg;
	struct pbx_rtp *members; /* through mnext */
	unsigned n;
	bool rec_on; /* a recording was started and its end not yet heard */
	uint32_t rec_gen;
	bool play_active; /* play_done still to come for play_gen */
	uint32_t play_gen;
	struct pbx_mix *next;
};

static struct {
	struct pbx_mix *all;
	uint32_t next_id;
} X;

static struct pbx_mix *find(uint32_t id)
{
	struct pbx_mix *m = X.all;
	while (m && m->id != id)
		m = m->next;
	return m;
}

static struct pbx__cmd *cmd_new(struct pbx_mix *m, enum pbx__cmd_type type)
{
	struct pbx__cmd *c = calloc(1, sizeof *c);
	if (c) {
		c->type = type;
		c->u.mix.id = m->id;
	}
	return c;
}

int pbx_mix_alloc(struct pbx_mix **mp, const struct pbx_mix_cfg *cfg, struct pbx_rtp *near,
		  const struct pbx_mix_events *ev, void *arg)
{
	*mp = NULL;
	if (!pbx__media_running())
		return ENODEV;
	if (cfg && cfg->rate && !pbx_frame_rate_ok(cfg->rate))
		return EINVAL;
	struct pbx_mix *m = calloc(1, sizeof *m);
	if (!m)
		return ENOMEM;
	do
		m->id = PBX__MIX_ID_BIT | (++X.next_id & ~PBX__MIX_ID_BIT);
	while (m->id == PBX__MIX_ID_BIT || find(m->id));
	if (cfg)
		m->cfg = *cfg;
	m->ev = ev;
	m->arg = arg;
	m->w = near && near->w ? near->w : pbx__media_least_loaded();
	struct pbx__cmd *c = cmd_new(m, PBX__CMD_MIX_ADD);
	if (!c) {
		free(m);
		return ENOMEM;
	}
	c->u.mix.cfg = m->cfg;
	pbx__worker_push(m->w, c);
	m->next = X.all;
	X.all = m;
	*mp = m;
	return 0;
}

static void unlink_member(struct pbx_rtp *r)
{
	struct pbx_mix *m = r->mix;
	for (struct pbx_rtp **p = &m->members; *p; p = &(*p)->mnext)
		if (*p == r) {
			*p = r->mnext;
			break;
		}
	m->n--;
	r->mix = NULL;
	r->mnext = NULL;
}

void pbx_mix_free(struct pbx_mix *m)
{
	if (!m)
		return;
	while (m->members)
		pbx_mix_leave(m->members);
	for (struct pbx_mix **p = &X.all; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	struct pbx__cmd *c = pbx__media_running() ? cmd_new(m, PBX__CMD_MIX_CLOSE) : NULL;
	if (c)
		pbx__worker_push(m->w, c);
	else if (pbx__media_running())
		pbx_error("conference mixer: out of memory closing it: it ends with the engine");
	free(m);
}

void pbx__mix_forget_all(void)
{
	while (X.all) {
		struct pbx_mix *m = X.all;
		while (m->members)
			unlink_member(m->members);
		m->w = NULL;
		X.all = m->next;
		m->next = NULL;
		/* The owner still holds it and frees it: it stays off the list. */
	}
}

static int member_cmd(struct pbx_mix *m, struct pbx_rtp *r, enum pbx__cmd_type type,
		      const struct pbx_mix_member_opts *o)
{
	struct pbx__cmd *c;
	int err = pbx__rtp_post(r, type, &c);
	if (err)
		return err;
	c->u.mix.id = m->id;
	if (o)
		c->u.mix.o = *o;
	pbx__rtp_submit(r, c);
	return 0;
}

int pbx_mix_join(struct pbx_mix *m, struct pbx_rtp *r, const struct pbx_mix_member_opts *o)
{
	static const struct pbx_mix_member_opts none;
	struct pbx__cmd *c;
	int err;
	if (!r->s || !m->w)
		return ENODEV;
	if (!o)
		o = &none;
	if (r->mix == m)
		return member_cmd(m, r, PBX__CMD_MIX_MEMBER, o);
	pbx_mix_leave(r);
	if (r->peer)
		pbx_rtp_bridge(r, NULL);
	if (r->w != m->w) {
		if ((err = pbx__rtp_post(r, PBX__CMD_MIGRATE, &c)))
			return err;
		c->u.to = m->w;
		pbx_debug("rtp %u moves to worker %d to join conference mixer %u", r->id, m->w->idx,
			  m->id & ~PBX__MIX_ID_BIT);
		pbx__rtp_submit(r, c);
	}
	if ((err = member_cmd(m, r, PBX__CMD_MIX_JOIN, o)))
		return err;
	r->mix = m;
	r->mnext = m->members;
	m->members = r;
	m->n++;
	return 0;
}

void pbx_mix_leave(struct pbx_rtp *r)
{
	struct pbx_mix *m = r->mix;
	if (!m)
		return;
	unlink_member(r);
	/* Without memory the worker still drops it when it closes or moves. */
	if (r->s && member_cmd(m, r, PBX__CMD_MIX_LEAVE, NULL))
		pbx_error("rtp %u: out of memory leaving its conference", r->id);
}

struct pbx_mix *pbx_mix_of(const struct pbx_rtp *r)
{
	return r->mix;
}

unsigned pbx_mix_members(const struct pbx_mix *m)
{
	return m->n;
}

unsigned pbx_mix_rate(const struct pbx_mix *m)
{
	if (m->cfg.rate)
		return m->cfg.rate;
	for (const struct pbx_rtp *r = m->members; r; r = r->mnext)
		if (r->have_params && r->params.codec->rate >= 48000)
			return 48000;
	return 16000;
}

/* ---- recording and playback ------------------------------------------------------------------ */

int pbx_mix_record(struct pbx_mix *m, const char *path)
{
	if (!path || !*path)
		return EINVAL;
	if (!m->w)
		return ENODEV;
	struct pbx__cmd *c = cmd_new(m, PBX__CMD_MIX_RECORD);
	if (!c || !(c->u.mix.path = strdup(path))) {
		free(c);
		return ENOMEM;
	}
	c->u.mix.gen = ++m->rec_gen;
	m->rec_on = true;
	pbx__worker_push(m->w, c);
	return 0;
}

void pbx_mix_record_stop(struct pbx_mix *m)
{
	if (!m->rec_on || !m->w)
		return;
	struct pbx__cmd *c = cmd_new(m, PBX__CMD_MIX_RECORD_STOP);
	if (!c) {
		pbx_error("conference mixer: out of memory stopping its recording");
		return;
	}
	pbx__worker_push(m->w, c);
}

bool pbx_mix_recording(const struct pbx_mix *m)
{
	return m->rec_on;
}

int pbx_mix_play(struct pbx_mix *m, const char *path)
{
	if (!path || !*path)
		return EINVAL;
	if (!m->w)
		return ENODEV;
	uint32_t gen = m->play_gen;
	bool active = m->play_active;
	m->play_gen++;
	m->play_active = true;
	int err = pbx__play_request(m->id, m->play_gen, path);
	if (err) {
		m->play_gen = gen;
		m->play_active = active;
	} else if (active && m->ev && m->ev->play_done) {
		m->ev->play_done(m->arg, ECANCELED); /* the one before is replaced */
	}
	return err;
}

void pbx_mix_play_stop(struct pbx_mix *m)
{
	if (!m->play_active || !m->w)
		return;
	struct pbx__cmd *c = cmd_new(m, PBX__CMD_MIX_PLAY_STOP);
	if (!c)
		return;
	c->u.mix.gen = m->play_gen;
	pbx__worker_push(m->w, c);
}

static void play_done(struct pbx_mix *m, int err)
{
	m->play_active = false;
	if (m->ev && m->ev->play_done)
		m->ev->play_done(m->arg, err);
}

void pbx__mix_play_ready(uint32_t id, uint32_t gen, struct pbx__sound *snd, int err)
{
	struct pbx_mix *m = find(id);
	struct pbx__cmd *c;
	if (!m || !m->w || !m->play_active || m->play_gen != gen)
		return;
	if (!err && !(c = cmd_new(m, PBX__CMD_MIX_PLAY)))
		err = ENOMEM;
	if (err) {
		play_done(m, err);
		return;
	}
	pbx__sound_ref(snd);
	c->u.mix.snd = snd;
	c->u.mix.gen = gen;
	pbx__worker_push(m->w, c);
}

/* ---- events ---------------------------------------------------------------------------------- */

void pbx__mix_event(const struct pbx__ev *e)
{
	struct pbx_mix *m;
	struct pbx_rtp *r;
	switch (e->type) {
	case PBX__EV_MIX_TALK:
		r = pbx__rtp_find(e->id);
		if (r && !r->freed && r->mix && r->mix->id == e->gen && r->mix->ev &&
		    r->mix->ev->talking)
			r->mix->ev->talking(r->mix->arg, r, e->val != 0);
		break;
	case PBX__EV_MIX_RECORD_DONE:
		if (!(m = find(e->id)))
			break;
		if (e->gen == m->rec_gen)
			m->rec_on =
				false; /* the latest recording ended (an older one's end is not) */
		if (m->ev && m->ev->record_done)
			m->ev->record_done(m->arg, e->val, e->ms);
		break;
	case PBX__EV_MIX_PLAY_DONE:
		if ((m = find(e->id)) && m->play_active && e->gen == m->play_gen)
			play_done(m, e->val);
		break;
	default: break;
	}
}
