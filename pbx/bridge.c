/**
 * @file bridge.c  Bridges: members, references, mode, media joins, the list for the console
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The bridge decides; the media engine executes: after every change the
 * bridge sets its mode again and tells the engine which RTP sessions to
 * join (pbx_rtp_bridge), which moves them to one worker. Joining two legs
 * whose sessions are already joined costs nothing, so recomputing after
 * each change is cheap and keeps one code path for join, leave and swap.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/mixer.h"

static struct {
	struct pbx_bridge *head, *tail;
	unsigned count, next_id;
} all;

int pbx_bridge_alloc(struct pbx_bridge **bp)
{
	struct pbx_bridge *b = calloc(1, sizeof *b);
	*bp = NULL;
	if (!b)
		return ENOMEM;
	b->id = ++all.next_id;
	b->refs = 1;
	b->created = time(NULL);
	b->prev = all.tail;
	*(all.tail ? &all.tail->next : &all.head) = b;
	all.tail = b;
	all.count++;
	*bp = b;
	return 0;
}

int pbx_bridge_alloc_mixing(struct pbx_bridge **bp, const struct pbx_mix_cfg *cfg,
			    const struct pbx_mix_events *ev, void *arg)
{
	int err = pbx_bridge_alloc(bp);
	if (!err && (err = pbx_mix_alloc(&(*bp)->mix, cfg, NULL, ev, arg))) {
		pbx_bridge_unref(*bp);
		*bp = NULL;
	}
	return err;
}

int pbx_bridge_mix_member(struct pbx_chan *ch, const struct pbx_mix_member_opts *o)
{
	if (!ch->bridge || !ch->bridge->mix)
		return ENOENT;
	if (!ch->rtp || ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	return pbx_mix_join(ch->bridge->mix, ch->rtp, o);
}

struct pbx_bridge *pbx_bridge_ref(struct pbx_bridge *b)
{
	b->refs++;
	return b;
}

void pbx_bridge_unref(struct pbx_bridge *b)
{
	if (!b)
		return;
	assert(b->refs > 0);
	if (--b->refs)
		return;
	/* Members hold references: the last one cannot go while any is in. */
	assert(b->n == 0);
	*(b->prev ? &b->prev->next : &all.head) = b->next;
	*(b->next ? &b->next->prev : &all.tail) = b->prev;
	all.count--;
	pbx_mix_free(b->mix);
	free(b->members);
	free(b);
}

static bool has_media(const struct pbx_chan *ch)
{
	return ch->rtp && ch->state != PBX_CHAN_HUNGUP;
}

/* Set the mode from the members and join their media. */
static int update(struct pbx_bridge *b)
{
	if (b->mix) {
		/* A member whose media is a member already keeps its options. */
		int err = 0;
		for (size_t i = 0; i < b->n; i++)
			if (has_media(b->members[i]) && pbx_mix_of(b->members[i]->rtp) != b->mix) {
				int e = pbx_mix_join(b->mix, b->members[i]->rtp, NULL);
				err = err ? err : e;
			}
		return err;
	}
	assert(b->n <= PBX_BRIDGE_MAX_MEMBERS);
	if (b->n == 2 && has_media(b->members[0]) && has_media(b->members[1]))
		return pbx_rtp_bridge(b->members[0]->rtp, b->members[1]->rtp);
	/* Out of relay: the engine unjoins both sides of a pair at once, and a
	 * session never joined costs nothing (pbx_rtp_bridge checks). */
	int err = 0;
	for (size_t i = 0; i < b->n; i++)
		if (has_media(b->members[i])) {
			int e = pbx_rtp_bridge(b->members[i]->rtp, NULL);
			err = err ? err : e;
		}
	return err;
}

/* Take @p ch out of @p b without telling the media engine (the caller updates). */
static void remove_member(struct pbx_bridge *b, struct pbx_chan *ch)
{
	size_t i = 0;
	while (i < b->n && b->members[i] != ch)
		i++;
	assert(i < b->n);
	memmove(&b->members[i], &b->members[i + 1], (b->n - i - 1) * sizeof *b->members);
	b->n--;
	ch->bridge = NULL;
}

int pbx_bridge_join(struct pbx_bridge *b, struct pbx_chan *ch)
{
	if (ch->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (ch->bridge == b)
		return 0;
	if (!b->mix && b->n == PBX_BRIDGE_MAX_MEMBERS)
		return ENOSPC;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 2;
		struct pbx_chan **m = realloc(b->members, cap * sizeof *m);
		if (!m)
			return ENOMEM;
		b->members = m;
		b->cap = cap;
	}
	pbx_bridge_leave(ch);
	b->members[b->n++] = pbx_chan_ref(ch);
	ch->bridge = pbx_bridge_ref(b);
	int err = update(b);
	pbx_debug("bridge %u: %s joined (%zu member%s, %s)", b->id, ch->name, b->n,
		  b->n == 1 ? "" : "s", pbx_bridge_mode_name(pbx_bridge_mode(b)));
	return err;
}

void pbx_bridge_leave(struct pbx_chan *ch)
{
	struct pbx_bridge *b = ch->bridge;
	if (!b)
		return;
	/* Its session, whatever its state: gone() marks a channel hung up
	 * before it leaves, and its media must stop being relayed. */
	if (ch->rtp && b->mix)
		pbx_mix_leave(ch->rtp);
	else if (ch->rtp)
		pbx_rtp_bridge(ch->rtp, NULL);
	remove_member(b, ch);
	int err = update(b);
	if (err)
		pbx_warning("bridge %u: media of the others after %s left: %s", b->id, ch->name,
			    strerror(err));
	pbx_debug("bridge %u: %s left (%zu member%s)", b->id, ch->name, b->n, b->n == 1 ? "" : "s");
	pbx_chan_unref(ch);
	pbx_bridge_unref(b);
}

int pbx_bridge_swap(struct pbx_bridge *b, struct pbx_chan *out, struct pbx_chan *in)
{
	size_t i = 0;
	if (out->bridge != b)
		return ENOENT;
	if (in->state == PBX_CHAN_HUNGUP)
		return ENOTCONN;
	if (in == out)
		return 0;
	if (in->bridge)
		pbx_bridge_leave(in);
	while (b->members[i] != out)
		i++;
	/* In place: the other members' legs are joined to the newcomer
	 * directly, so their media never passes through an unbridged moment. */
	b->members[i] = pbx_chan_ref(in);
	in->bridge = pbx_bridge_ref(b);
	out->bridge = NULL;
	if (b->mix && out->rtp)
		pbx_mix_leave(out->rtp);
	/* In relay, joining the other leg to @p in unjoins @p out in the
	 * engine; when idle, update() unjoined everyone. */
	int err = update(b);
	pbx_info("bridge %u: %s replaces %s", b->id, in->name, out->name);
	pbx_chan_unref(out);
	pbx_bridge_unref(b);
	return err;
}

struct pbx_chan *pbx_bridge_peer(const struct pbx_chan *ch)
{
	const struct pbx_bridge *b = ch->bridge;
	if (!b || b->n != 2 || b->mix)
		return NULL;
	return b->members[0] == ch ? b->members[1] : b->members[0];
}

enum pbx_bridge_mode pbx_bridge_mode(const struct pbx_bridge *b)
{
	if (b->mix)
		return PBX_BRIDGE_MIXING;
	if (b->n != 2 || !has_media(b->members[0]) || !has_media(b->members[1]))
		return PBX_BRIDGE_IDLE;
	const struct pbx_rtp *x = b->members[0]->rtp, *y = b->members[1]->rtp;
	if (pbx_rtp_has_consumers(x) || pbx_rtp_has_consumers(y))
		return PBX_BRIDGE_FRAMES;
	const struct pbx_rtp_params *px = pbx_rtp_get_params(x), *py = pbx_rtp_get_params(y);
	/* Until both have negotiated, nothing flows: what is set up is a relay. */
	if (px && py && px->codec != py->codec)
		return PBX_BRIDGE_TRANSCODE;
	return PBX_BRIDGE_RELAY;
}

const char *pbx_bridge_mode_name(enum pbx_bridge_mode m)
{
	switch (m) {
	case PBX_BRIDGE_IDLE: return "idle";
	case PBX_BRIDGE_RELAY: return "relay";
	case PBX_BRIDGE_TRANSCODE: return "transcode";
	case PBX_BRIDGE_FRAMES: return "frames";
	case PBX_BRIDGE_MIXING: return "mixing";
	}
	return "?";
}

int pbx_bridge_each(int (*cb)(struct pbx_bridge *b, void *arg), void *arg)
{
	for (struct pbx_bridge *b = all.head, *next; b; b = next) {
		next = b->next;
		int r = cb(b, arg);
		if (r)
			return r;
	}
	return 0;
}

unsigned pbx_bridge_count(void)
{
	return all.count;
}
