/**
 * @file sip_publish.c  PUBLISH (RFC 3903) of the presence event: the PBX as its users' state compositor
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A phone PUBLISHes a PIDF document (application/pidf+xml) of its own
 * user, authenticated as any request that acts for a user; the
 * Request-URI names the user (the presentity), and a user may publish
 * only for themself (403). The answer carries the publication's
 * entity-tag (SIP-ETag) and its expiry; later PUBLISHes name it in
 * SIP-If-Match to refresh it (no body), modify it (a new document) or
 * remove it (Expires: 0), and every success hands out a new tag (RFC 3903
 * 6, step 8). An unknown tag gets 412, an expiry below
 * sip.publish_min_expires 423 with Min-Expires, another event 489, another
 * body type 415.
 *
 * What is kept is the little sip_pidf_parse reads (basic, note, RPID
 * activities), in memory: a publication lives at most its expiry, and a
 * restart loses them as phones expect (they republish on their next
 * refresh, when the 412 tells them). Each user has at most
 * SIP_PUBLISH_PER_USER live publications; a new one beyond that replaces
 * the oldest, since a phone that lost its tag (rebooted) publishes anew
 * and its old publication would otherwise linger for its whole expiry.
 * Lookups walk the list: linear in live publications, a handful per user.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "sip_build.h"
#include "sip_publish.h"
#include "sip_stack.h"
#include "sip_subscription.h"
#include "sip_uri.h"

#define PUB_EVENT "presence"
#define PUB_TYPE  "application/pidf+xml"
#define ETAG_LEN  21 /* 20 characters and the NUL */

struct pub {
	struct pub *prev, *next;
	char user[PBX_EXT_MAX + 1];
	char etag[ETAG_LEN];
	struct sip_pidf doc;
	unsigned long long seq; /* when made or modified: the newest wins */
	struct sip_timer expiry;
};

static struct {
	struct sip_stack *s;
	struct pub *head;
	unsigned long long seq;
	sip_publish_changed_h *watchers[SIP_PUBLISH_WATCHERS];
} P;

int sip_publish_watch(sip_publish_changed_h *fn)
{
	for (int i = 0; i < SIP_PUBLISH_WATCHERS; i++)
		if (!P.watchers[i]) {
			P.watchers[i] = fn;
			return 0;
		}
	return ENOSPC;
}

void sip_publish_unwatch(sip_publish_changed_h *fn)
{
	for (int i = 0; i < SIP_PUBLISH_WATCHERS; i++)
		if (P.watchers[i] == fn)
			P.watchers[i] = NULL;
}

static void changed(const char *user)
{
	for (int i = 0; i < SIP_PUBLISH_WATCHERS; i++)
		if (P.watchers[i])
			P.watchers[i](user);
}

bool sip_publish_get(const char *user, struct sip_pidf *out)
{
	const struct pub *best = NULL;
	for (const struct pub *p = P.head; p; p = p->next)
		if (!strcmp(p->user, user) && (!best || p->seq > best->seq))
			best = p;
	if (best)
		*out = best->doc;
	return best != NULL;
}

static void pub_free(struct pub *p)
{
	sip_timer_cancel(&P.s->timers, &p->expiry);
	*(p->prev ? &p->prev->next : &P.head) = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p);
}

static void expiry_fire(struct sip_timer *t, void *arg)
{
	struct pub *p = arg;
	char user[PBX_EXT_MAX + 1];
	(void)t;
	snprintf(user, sizeof user, "%s", p->user);
	pbx_info("sip: presence publication of %s expired", user);
	pub_free(p);
	changed(user);
}

static struct pub *find(const char *user, struct sip_pl etag)
{
	for (struct pub *p = P.head; p; p = p->next)
		if (!strcmp(p->user, user) && strlen(p->etag) == etag.l &&
		    !memcmp(p->etag, etag.p, etag.l))
			return p;
	return NULL;
}

/* A new publication of @p user, the user's oldest dropped when it has too many. */
static struct pub *pub_new(const char *user)
{
	struct pub *oldest = NULL;
	unsigned n = 0;
	for (struct pub *p = P.head; p; p = p->next)
		if (!strcmp(p->user, user)) {
			n++;
			if (!oldest || p->seq < oldest->seq)
				oldest = p;
		}
	if (n >= SIP_PUBLISH_PER_USER) {
		pbx_notice("sip: %s has %u presence publications: the oldest (%s) is dropped", user,
			   n, oldest->etag);
		pub_free(oldest);
	}
	struct pub *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	snprintf(p->user, sizeof p->user, "%s", user);
	p->next = P.head;
	if (P.head)
		P.head->prev = p;
	P.head = p;
	return p;
}

static void reply(struct sip_stack *s, struct sip_stsx *t, const struct sip_msg *m,
		  const struct sip_peer *src, uint16_t code, const char *reason, const char *extra)
{
	(void)sip_stack_reply(s, t, m, src, code, reason, extra, NULL, NULL);
}

/* Is the Content-Type PIDF (parameters aside)? */
static bool is_pidf(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	if (!h)
		return false;
	struct sip_pl v = h->value;
	const char *semi = memchr(v.p, ';', v.l);
	if (semi)
		v.l = (size_t)(semi - v.p);
	return !sip_pl_casecmp_str(sip_pl_trim(v), PUB_TYPE);
}

/* The Event header names presence (its parameters aside)? */
static bool is_presence(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_EVENT);
	struct sip_pl v, params;
	if (!h)
		return false;
	sip_pl_token_params(h->value, &v, &params);
	return !sip_pl_casecmp_str(v, PUB_EVENT);
}

static void handle_publish(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t)
{
	struct sip_addr to;
	struct sip_uri ruri;
	struct pbx_user u;
	struct sip_pidf doc = {0};
	char user[PBX_EXT_MAX + 1] = "", extra[160];
	const char *why = NULL;
	size_t n = 0;
	uint32_t expires;
	int err;

	if (!sip_msg_to(m, &to) && to.tag.l) {
		reply(s, t, m, src, 481, "PUBLISH is not sent in a dialog", NULL);
		return;
	}
	/* As for SUBSCRIBE, the event before the credentials: a 489 tells
	 * nothing the Allow-Events of any answer does not. */
	if (!is_presence(m)) {
		reply(s, t, m, src, 489, "Bad Event", "Allow-Events: " PUB_EVENT "\r\n");
		return;
	}
	if (sip_stack_authenticate(s, m, src, t, &u))
		return;
	if (sip_uri_parse(&ruri, m->ruri) || !ruri.user.l ||
	    sip_uri_unescape(ruri.user, user, sizeof user, &n) || strlen(user) != n) {
		reply(s, t, m, src, 404, "No user in the Request-URI", NULL);
		return;
	}
	if (strcmp(user, u.ext)) {
		reply(s, t, m, src, 403, "You may publish only your own presence", NULL);
		return;
	}
	struct pub *p = NULL;
	const struct sip_hdr *im = sip_msg_hdr_first(m, SIP_HDR_SIP_IF_MATCH);
	if (im && !(p = find(user, sip_pl_trim(im->value)))) {
		reply(s, t, m, src, 412, "Conditional Request Failed", NULL);
		return;
	}
	const struct sip_config *c = s->cfg;
	struct sip_sub_limits lim = {(uint32_t)c->pub_min_expires, (uint32_t)c->pub_max_expires,
				     (uint32_t)c->pub_default_expires};
	if ((err = sip_sub_expires(m, &lim, &expires))) {
		if (err == ERANGE) {
			snprintf(extra, sizeof extra, "Min-Expires: %d\r\n", c->pub_min_expires);
			reply(s, t, m, src, 423, "Interval Too Brief", extra);
		} else {
			reply(s, t, m, src, 400, "Bad Expires header", NULL);
		}
		return;
	}
	if (!expires) {
		if (!p) {
			reply(s, t, m, src, 400, "Expires: 0 needs SIP-If-Match", NULL);
			return;
		}
		/* RFC 3903 6, step 7: removed; the answer carries no new tag. */
		pbx_info("sip: %s removed a presence publication", user);
		pub_free(p);
		reply(s, t, m, src, 200, NULL, "Expires: 0\r\n");
		changed(user);
		return;
	}
	if (m->body.l) {
		if (!is_pidf(m)) {
			reply(s, t, m, src, 415, NULL, "Accept: " PUB_TYPE "\r\n");
			return;
		}
		if (sip_pidf_parse(m->body.p, m->body.l, &doc, &why)) {
			snprintf(extra, sizeof extra, "Bad PIDF: %s", why);
			reply(s, t, m, src, 400, extra, NULL);
			return;
		}
	} else if (!p) {
		reply(s, t, m, src, 400, "An initial PUBLISH needs a body", NULL);
		return;
	}
	bool made = !p;
	if (!p && !(p = pub_new(user))) {
		reply(s, t, m, src, 500, "Out of memory", NULL);
		return;
	}
	if (m->body.l) {
		p->doc = doc;
		p->seq = ++P.seq;
	}
	sip_random_token(p->etag, sizeof p->etag);
	(void)sip_timer_start(&s->timers, &p->expiry, (uint64_t)expires * 1000, expiry_fire, p);
	snprintf(extra, sizeof extra, "SIP-ETag: %s\r\nExpires: %u\r\n", p->etag, expires);
	reply(s, t, m, src, 200, NULL, extra);
	if (m->body.l) {
		pbx_info("sip: %s %s presence: %s \"%s\" (activities 0x%x) for %u s", user,
			 made ? "published" : "modified",
			 doc.basic == SIP_PIDF_OPEN     ? "open"
			 : doc.basic == SIP_PIDF_CLOSED ? "closed"
							: "-",
			 doc.note, doc.activities, expires);
		changed(user);
	} else {
		pbx_debug("sip: %s refreshed a presence publication for %u s", user, expires);
	}
	sip_stack_timers_kick(s);
}

static int load(void)
{
	struct sip_stack *s = sip_stack_get();
	if (!s)
		return ENOENT;
	P.s = s;
	sip_stack_set_handler(s, SIP_METHOD_PUBLISH, handle_publish);
	return 0;
}

static void unload(void)
{
	if (!P.s)
		return;
	sip_stack_set_handler(P.s, SIP_METHOD_PUBLISH, NULL);
	while (P.head)
		pub_free(P.head);
	P.s = NULL;
}

/* After the stack (10) and the presence package (14) that reads it. */
PBX_MODULE(sip_publish_module) = {"sip_publish", 16, load, unload};
