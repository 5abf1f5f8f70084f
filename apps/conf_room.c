/**
 * @file conf_room.c  Conference rooms now: a mixing bridge each, members, mute, kick, lock, record, play
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A room exists while someone is in it: the first join makes it (from
 * its directory row when there is one, else from the joiner's options)
 * and the last leave frees it, with its bridge and mixer. What a member
 * hears of itself (prompts, hold music while alone) is the application's
 * business; the room tells it when the room around it changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pbx/bridge.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/mixer.h"

#include "apps.h"
#include "conf.h"

struct conf_play {
	char path[APPS_PATH_MAX];
	bool unlink_after;
	struct conf_play *next;
};

static struct {
	struct conf_room *head;
	unsigned members;
} R;

struct conf_room *conf_room_find(const char *name)
{
	struct conf_room *r = R.head;
	while (r && strcmp(r->name, name))
		r = r->next;
	return r;
}

int conf_room_each(int (*cb)(struct conf_room *r, void *arg), void *arg)
{
	for (struct conf_room *r = R.head, *next; r; r = next) {
		next = r->next;
		int rc = cb(r, arg);
		if (rc)
			return rc;
	}
	return 0;
}

unsigned conf_members_total(void)
{
	return R.members;
}

/* ---- sounds into the room ------------------------------------------------------------------ */

static void play_next(struct conf_room *r)
{
	while (r->plays && !r->playing) {
		int err = pbx_mix_play(r->b->mix, r->plays->path);
		if (!err) {
			r->playing = true;
			return;
		}
		pbx_warning("confbridge %s: cannot play %s: %s", r->name, r->plays->path,
			    strerror(err));
		struct conf_play *p = r->plays;
		r->plays = p->next;
		if (p->unlink_after)
			unlink(p->path);
		free(p);
	}
}

static void plays_free(struct conf_play *p)
{
	while (p) {
		struct conf_play *next = p->next;
		free(p);
		p = next;
	}
}

int conf_room_play(struct conf_room *r, const char *list, bool unlink_after)
{
	/* The whole list or nothing: its sounds are found first, then queued,
	 * so a name that does not exist leaves no part of the list behind to
	 * play with the next one. */
	struct conf_play *head = NULL, **tail = &head;
	char buf[1024];
	if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
		return ENAMETOOLONG;
	char *save = NULL;
	for (char *name = strtok_r(buf, "&", &save); name; name = strtok_r(NULL, "&", &save)) {
		struct conf_play *p = calloc(1, sizeof *p);
		if (!p) {
			plays_free(head);
			return ENOMEM;
		}
		int err = apps_sound_path(p->path, sizeof p->path, name);
		if (err || access(p->path, R_OK)) {
			err = err ? err : errno;
			free(p);
			plays_free(head);
			return err;
		}
		p->unlink_after = unlink_after;
		*tail = p;
		tail = &p->next;
	}
	if (!head)
		return ENOENT;
	for (tail = &r->plays; *tail;)
		tail = &(*tail)->next;
	*tail = head;
	play_next(r);
	return 0;
}

static void on_play_done(void *arg, int err)
{
	struct conf_room *r = arg;
	struct conf_play *p = r->plays;
	r->playing = false;
	if (p) {
		if (err && err != ECANCELED)
			pbx_warning("confbridge %s: %s: %s", r->name, p->path, strerror(err));
		r->plays = p->next;
		if (p->unlink_after)
			unlink(p->path);
		free(p);
	}
	play_next(r);
}

/* ---- the mixer's events -------------------------------------------------------------------- */

static void on_talking(void *arg, struct pbx_rtp *rtp, bool on)
{
	struct conf_room *r = arg;
	for (struct conf_member *m = r->members; m; m = m->next) {
		if (m->ch->rtp != rtp || m->talking == on)
			continue;
		m->talking = on;
		time_t now = time(NULL);
		if (on)
			m->talk_start = now;
		else
			m->talked_s += (unsigned)(now - m->talk_start);
		pbx_chan_var_set(m->ch, "CONFBRIDGE_TALKING", on ? "1" : "0");
		pbx_debug("confbridge %s: %s %s talking", r->name, m->ch->name,
			  on ? "started" : "stopped");
	}
}

static void on_record_done(void *arg, int err, unsigned ms)
{
	struct conf_room *r = arg;
	if (err)
		pbx_warning("confbridge %s: recording failed: %s", r->name, strerror(err));
	else
		pbx_info("confbridge %s: recording of %u.%03u s done", r->name, ms / 1000,
			 ms % 1000);
	/* Only cleared here: an older recording's end (one a new start replaced)
	 * may come after a stop and a start, and says nothing of the newest. */
	if (!pbx_mix_recording(r->b->mix))
		r->recording = false;
}

static const struct pbx_mix_events mix_events = {
	.talking = on_talking, .record_done = on_record_done, .play_done = on_play_done};

/* ---- members -------------------------------------------------------------------------------- */

static int apply_mix(struct conf_member *m)
{
	struct pbx_mix_member_opts o = {
		.muted = m->muted || m->waiting,
		.talk_volume = m->talk_volume,
		.listen_volume = m->listen_volume,
		.denoise = m->o.denoise,
		.agc = m->o.agc,
	};
	return pbx_bridge_mix_member(m->ch, &o);
}

static void tell_all(struct conf_room *r)
{
	for (struct conf_member *m = r->members, *next; m; m = next) {
		next = m->next;
		if (m->ops && m->ops->changed)
			m->ops->changed(m, m->arg);
	}
}

/* A leader came or went: the waiting wait, the others do not. */
static void leaders_changed(struct conf_room *r)
{
	for (struct conf_member *m = r->members; m; m = m->next) {
		bool waiting = m->o.wait_marked && !m->o.marked && !r->nmarked;
		if (waiting != m->waiting) {
			m->waiting = waiting;
			apply_mix(m);
		}
	}
}

static bool room_alive(const struct conf_room *r)
{
	for (const struct conf_room *x = R.head; x; x = x->next)
		if (x == r)
			return true;
	return false;
}

static void room_free(struct conf_room *r)
{
	for (struct conf_room **p = &R.head; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	while (r->plays) {
		struct conf_play *p = r->plays;
		r->plays = p->next;
		if (p->unlink_after)
			unlink(p->path);
		free(p);
	}
	if (r->recording)
		pbx_info("confbridge %s: recording ends with the room: %s", r->name, r->rec_path);
	pbx_bridge_unref(r->b); /* its mixer goes with it; a recording is kept */
	pbx_info("confbridge %s: ended", r->name);
	free(r);
}

static int room_new(const char *name, const struct pbx_conf_room *def, const struct conf_opts *o,
		    struct conf_room **rp)
{
	const struct conf_cfg *cc = conf_cfg();
	struct conf_room *r = calloc(1, sizeof *r);
	if (!r)
		return ENOMEM;
	snprintf(r->name, sizeof r->name, "%s", name);
	struct pbx_mix_cfg mc = {
		.rate = o->rate ? o->rate : (unsigned)cc->rate,
		.talkers = o->talkers ? o->talkers : (unsigned)cc->talkers,
	};
	int err = pbx_bridge_alloc_mixing(&r->b, &mc, &mix_events, r);
	if (err) {
		free(r);
		return err;
	}
	if (def) {
		r->defined = true;
		r->def = *def;
		snprintf(r->moh, sizeof r->moh, "%s", def->moh);
	}
	r->max = def && def->max_members ? def->max_members : o->max_members;
	r->created = time(NULL);
	struct conf_room **tail = &R.head;
	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
	pbx_info("confbridge %s: started%s", name, def ? " (a room of the directory)" : "");
	*rp = r;
	return 0;
}

int conf_join(const char *name, const struct pbx_conf_room *def, struct pbx_chan *ch,
	      const struct conf_opts *o, const struct conf_member_ops *ops, void *arg,
	      struct conf_member **mp)
{
	const struct conf_cfg *cc = conf_cfg();
	struct conf_room *r = conf_room_find(name);
	int err;
	*mp = NULL;
	if (!ch->rtp || ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (r && r->locked && !o->admin)
		return EPERM;
	if ((r && r->max && r->n >= r->max) ||
	    (cc->max_members && R.members >= (unsigned)cc->max_members))
		return ENOSPC;
	struct conf_member *m = calloc(1, sizeof *m);
	if (!m)
		return ENOMEM;
	bool created = false;
	if (!r) {
		if ((err = room_new(name, def, o, &r))) {
			free(m);
			return err;
		}
		created = true;
	}
	m->room = r;
	m->ch = pbx_chan_ref(ch);
	m->o = *o;
	m->muted = o->muted;
	m->talk_volume = o->talk_volume;
	m->listen_volume = o->listen_volume;
	m->ops = ops;
	m->arg = arg;
	m->seq = ++r->seq;
	m->joined = time(NULL);
	if ((err = pbx_bridge_join(r->b, ch))) {
		pbx_chan_unref(m->ch);
		free(m);
		if (created)
			room_free(r);
		return err;
	}
	struct conf_member **tail = &r->members;
	while (*tail)
		tail = &(*tail)->next;
	*tail = m;
	r->n++;
	R.members++;
	if (o->marked)
		r->nmarked++;
	m->waiting = o->wait_marked && !o->marked && !r->nmarked;
	leaders_changed(r);
	apply_mix(m);
	pbx_chan_var_set(ch, "CONFBRIDGE", r->name);
	pbx_info("confbridge %s: %s joined (%u member%s%s%s)", r->name, ch->name, r->n,
		 r->n == 1 ? "" : "s", o->admin ? ", admin" : "", m->muted ? ", muted" : "");
	if (created && ((r->defined && r->def.record) || o->record) &&
	    (err = conf_room_record(r, "")))
		pbx_warning("confbridge %s: cannot record: %s", r->name, strerror(err));
	*mp = m;
	tell_all(r);
	return 0;
}

void conf_leave(struct conf_member *m)
{
	struct conf_room *r = m->room;
	for (struct conf_member **p = &r->members; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	r->n--;
	R.members--;
	if (m->talking)
		m->talked_s += (unsigned)(time(NULL) - m->talk_start);
	char talked[16];
	snprintf(talked, sizeof talked, "%u", m->talked_s);
	pbx_chan_var_set(m->ch, "CONFBRIDGE_TALK_TIME", talked);
	pbx_chan_var_set(m->ch, "CONFBRIDGE_TALKING", "0");
	if (m->ch->bridge == r->b)
		pbx_bridge_leave(m->ch);
	pbx_info("confbridge %s: %s left (%u member%s)", r->name, m->ch->name, r->n,
		 r->n == 1 ? "" : "s");
	bool leader_gone = m->o.marked && !--r->nmarked;
	pbx_chan_unref(m->ch);
	free(m);
	if (!r->n) {
		room_free(r);
		return;
	}
	if (leader_gone) {
		leaders_changed(r);
		/* end_marked members leave: each may free itself, so one at a time. */
		for (bool again = true; again;) {
			again = false;
			for (struct conf_member *x = r->members; x; x = x->next)
				if (x->o.end_marked && x->ops && x->ops->ended && !x->ended) {
					x->ended = true; /* told once */
					x->ops->ended(x, x->arg);
					again = true;
					break;
				}
			if (!room_alive(r))
				return; /* the last of them took the room with it */
		}
	}
	tell_all(r);
}

struct conf_member *conf_member_find(struct conf_room *r, const char *name)
{
	struct conf_member *found = NULL;
	size_t n = strlen(name);
	for (struct conf_member *m = r->members; m; m = m->next) {
		if (!strcmp(m->ch->name, name))
			return m;
		if (n && !strncmp(m->ch->name, name, n))
			found = found ? NULL : m; /* a prefix names one member only */
	}
	return found;
}

int conf_member_mute(struct conf_member *m, bool muted)
{
	if (m->muted == muted)
		return 0;
	m->muted = muted;
	pbx_info("confbridge %s: %s %s", m->room->name, m->ch->name, muted ? "muted" : "unmuted");
	return apply_mix(m);
}

int conf_member_volume(struct conf_member *m, bool talk, int delta)
{
	int *v = talk ? &m->talk_volume : &m->listen_volume;
	int nv = *v + delta;
	if (nv < -PBX_MIX_VOLUME_MAX || nv > PBX_MIX_VOLUME_MAX)
		return ERANGE;
	*v = nv;
	return apply_mix(m);
}

void conf_member_kick(struct conf_member *m)
{
	pbx_info("confbridge %s: %s kicked", m->room->name, m->ch->name);
	pbx_chan_var_set(m->ch, "CONFBRIDGE_RESULT", "KICKED");
	pbx_chan_hangup(m->ch, PBX_CAUSE_NORMAL);
}

void conf_room_lock(struct conf_room *r, bool locked)
{
	if (r->locked != locked)
		pbx_info("confbridge %s: %s", r->name, locked ? "locked" : "unlocked");
	r->locked = locked;
}

int conf_room_record(struct conf_room *r, const char *path)
{
	char name[APPS_PATH_MAX], file[sizeof r->rec_path];
	int err;
	if (!path || !*path) {
		snprintf(name, sizeof name, "confbridge-%s-%%d.wav", r->name);
		path = name;
	}
	/* rec_path keeps naming the recording that runs until this one does. */
	if ((err = apps_recording_path(file, sizeof file, path, "confbridge")) ||
	    (err = pbx_mix_record(r->b->mix, file)))
		return err;
	memcpy(r->rec_path, file, sizeof file);
	r->recording = true;
	pbx_info("confbridge %s: recording to %s", r->name, r->rec_path);
	return 0;
}

int conf_room_record_stop(struct conf_room *r)
{
	/* The mixer says it records until its worker has closed the file; a
	 * second stop meanwhile finds the room's own flag already off. */
	if (!r->recording || !pbx_mix_recording(r->b->mix))
		return ENOENT;
	pbx_mix_record_stop(r->b->mix);
	r->recording = false;
	return 0;
}
