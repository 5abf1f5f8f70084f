/**
 * @file devstate.c  Device states from channels and registrations, and their watchers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each device in use has an entry with counters: its channels by what
 * they contribute (ringing, in use, on hold) and its registered contacts.
 * A channel remembers what it counts for (ch->dev, ch->dev_as), so a
 * change costs one lookup and two counter updates, never a walk over the
 * channels. An entry with nothing counted goes (its state is UNAVAILABLE,
 * which is also what a device never seen has).
 *
 * Hint watchers are a plain list of (context, exten, count): it changes
 * when a subscription comes or goes, and is read by `core show hints`,
 * both rare next to a call; linear in the extensions watched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/chan.h"
#include "pbx/devstate.h"
#include "pbx/hash.h"
#include "pbx/log.h"

#define DEVICE_MAX 96

struct pbx_dev {
	char name[DEVICE_MAX];
	unsigned ringing, inuse, onhold, contacts;
	enum pbx_devstate last; /* as last told to the watchers */
	struct pbx_dev *next;
};

struct watcher {
	pbx_devstate_watch_h *fn;
	void *arg;
	struct watcher *next;
};

static struct {
	struct pbx_dev **tab;
	unsigned size, n;
	struct watcher *watchers;
} D;

/* What a channel counts for. */
enum { AS_NONE, AS_RINGING, AS_INUSE, AS_ONHOLD };

const char *pbx_devstate_name(enum pbx_devstate st)
{
	switch (st) {
	case PBX_DEV_UNAVAILABLE: return "UNAVAILABLE";
	case PBX_DEV_NOT_INUSE: return "NOT_INUSE";
	case PBX_DEV_INUSE: return "INUSE";
	case PBX_DEV_RINGING: return "RINGING";
	case PBX_DEV_ONHOLD: return "ONHOLD";
	}
	return "UNKNOWN";
}

static unsigned bucket(const char *name, unsigned size)
{
	/* Device names come from the directory, not from strangers: a fixed key does. */
	return (unsigned)(pbx_siphash(name, strlen(name), 0x6465767374617465ULL,
				      0x7062782d31303031ULL) &
			  (size - 1));
}

static struct pbx_dev *find(const char *name)
{
	if (!D.tab)
		return NULL;
	struct pbx_dev *d = D.tab[bucket(name, D.size)];
	while (d && strcmp(d->name, name))
		d = d->next;
	return d;
}

static struct pbx_dev *get(const char *name)
{
	struct pbx_dev *d = find(name);
	if (d || strlen(name) >= DEVICE_MAX)
		return d;
	if (D.n >= D.size) {
		unsigned size = D.size ? D.size * 2 : 64;
		struct pbx_dev **tab = calloc(size, sizeof *tab);
		if (!tab)
			return NULL;
		for (unsigned i = 0; i < D.size; i++)
			for (struct pbx_dev *x = D.tab[i], *next; x; x = next) {
				next = x->next;
				x->next = tab[bucket(x->name, size)];
				tab[bucket(x->name, size)] = x;
			}
		free(D.tab);
		D.tab = tab;
		D.size = size;
	}
	if (!(d = calloc(1, sizeof *d)))
		return NULL;
	strcpy(d->name, name);
	d->last = PBX_DEV_UNAVAILABLE;
	struct pbx_dev **b = &D.tab[bucket(name, D.size)];
	d->next = *b;
	*b = d;
	D.n++;
	return d;
}

static enum pbx_devstate state_of(const struct pbx_dev *d)
{
	if (!d)
		return PBX_DEV_UNAVAILABLE;
	if (d->inuse)
		return PBX_DEV_INUSE;
	if (d->ringing)
		return PBX_DEV_RINGING;
	if (d->onhold)
		return PBX_DEV_ONHOLD;
	return d->contacts ? PBX_DEV_NOT_INUSE : PBX_DEV_UNAVAILABLE;
}

/* Tell the watchers when the state moved; drop an entry that counts nothing. */
static void settle(struct pbx_dev *d)
{
	enum pbx_devstate st = state_of(d);
	if (st != d->last) {
		d->last = st;
		pbx_debug("devstate: %s is %s", d->name, pbx_devstate_name(st));
		for (struct watcher *w = D.watchers, *next; w; w = next) {
			next = w->next;
			w->fn(d->name, st, w->arg);
		}
	}
	if (d->ringing || d->inuse || d->onhold || d->contacts)
		return;
	for (struct pbx_dev **p = &D.tab[bucket(d->name, D.size)]; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	D.n--;
	free(d);
	if (!D.n) {
		free(D.tab);
		D.tab = NULL;
		D.size = 0;
	}
}

enum pbx_devstate pbx_devstate_get(const char *device)
{
	return state_of(find(device));
}

enum pbx_devstate pbx_devstate_of_list(const char *devices)
{
	/* Worst first: the first of these any device is in wins. */
	static const enum pbx_devstate order[] = {PBX_DEV_INUSE, PBX_DEV_RINGING, PBX_DEV_ONHOLD,
						  PBX_DEV_NOT_INUSE};
	bool seen[PBX_DEV_ONHOLD + 1] = {false};
	for (const char *p = devices; *p;) {
		size_t n = strcspn(p, "&");
		char name[DEVICE_MAX];
		if (n && n < sizeof name) {
			memcpy(name, p, n);
			name[n] = '\0';
			seen[pbx_devstate_get(name)] = true;
		}
		p += n + (p[n] == '&');
	}
	for (size_t i = 0; i < sizeof order / sizeof *order; i++)
		if (seen[order[i]])
			return order[i];
	return PBX_DEV_UNAVAILABLE;
}

bool pbx_devstate_in_list(const char *devices, const char *device)
{
	size_t n = strlen(device);
	for (const char *p = devices; *p;) {
		size_t k = strcspn(p, "&");
		if (k == n && !strncmp(p, device, n))
			return true;
		p += k + (p[k] == '&');
	}
	return false;
}

void pbx_devstate_contacts(const char *device, unsigned n)
{
	struct pbx_dev *d = n ? get(device) : find(device);
	if (!d)
		return;
	d->contacts = n;
	settle(d);
}

static unsigned *counter(struct pbx_dev *d, int as)
{
	switch (as) {
	case AS_RINGING: return &d->ringing;
	case AS_INUSE: return &d->inuse;
	case AS_ONHOLD: return &d->onhold;
	}
	return NULL;
}

void pbx_devstate_chan_device(const struct pbx_chan *ch, char *out, size_t size)
{
	const char *dash = strrchr(ch->name, '-');
	size_t n = dash ? (size_t)(dash - ch->name) : strlen(ch->name);
	if (n >= size)
		n = size - 1;
	memcpy(out, ch->name, n);
	out[n] = '\0';
}

void pbx_devstate_chan_changed(struct pbx_chan *ch)
{
	int as = AS_NONE;
	switch (ch->state) {
	case PBX_CHAN_DOWN: break;
	case PBX_CHAN_RING: as = AS_INUSE; break; /* its phone is calling */
	case PBX_CHAN_DIALING:
	case PBX_CHAN_RINGING:
	case PBX_CHAN_PROGRESS: as = AS_RINGING; break;
	case PBX_CHAN_UP: as = ch->held ? AS_ONHOLD : AS_INUSE; break;
	case PBX_CHAN_HUNGUP: break;
	}
	if (as == ch->dev_as)
		return;
	struct pbx_dev *old = ch->dev, *d = old;
	if (old)
		(*counter(old, ch->dev_as))--;
	if (as != AS_NONE && !d) {
		char name[DEVICE_MAX];
		pbx_devstate_chan_device(ch, name, sizeof name);
		d = get(name);
	}
	if (as != AS_NONE && d)
		(*counter(d, as))++;
	ch->dev_as = (uint8_t)(d ? as : AS_NONE);
	ch->dev = ch->dev_as == AS_NONE ? NULL : d;
	if (d && d != old)
		settle(d);
	if (old)
		settle(old); /* may free it: the last thing done with it */
}

int pbx_devstate_watch(pbx_devstate_watch_h *fn, void *arg)
{
	struct watcher *w = calloc(1, sizeof *w);
	if (!w)
		return ENOMEM;
	w->fn = fn;
	w->arg = arg;
	w->next = D.watchers;
	D.watchers = w;
	return 0;
}

void pbx_devstate_unwatch(pbx_devstate_watch_h *fn, void *arg)
{
	for (struct watcher **p = &D.watchers; *p; p = &(*p)->next)
		if ((*p)->fn == fn && (*p)->arg == arg) {
			struct watcher *w = *p;
			*p = w->next;
			free(w);
			return;
		}
}

/* ---- hint watchers ---------------------------------------------------------------------- */

struct hint_watch {
	struct hint_watch *next;
	unsigned n;
	char *context, *exten;
};

static struct hint_watch *hint_watches;

static struct hint_watch **hint_watch_find(const char *context, const char *exten)
{
	struct hint_watch **p = &hint_watches;
	while (*p && (strcmp((*p)->context, context) || strcmp((*p)->exten, exten)))
		p = &(*p)->next;
	return p;
}

void pbx_hint_watchers_add(const char *context, const char *exten, int delta)
{
	struct hint_watch **p = hint_watch_find(context, exten), *w = *p;
	if (delta < 0) {
		if (!w)
			return; /* its coming was not counted (out of memory) */
		w->n -= w->n < (unsigned)-delta ? w->n : (unsigned)-delta;
		if (!w->n) {
			*p = w->next;
			free(w->context);
			free(w->exten);
			free(w);
		}
		return;
	}
	if (!delta)
		return;
	if (!w) {
		if (!(w = calloc(1, sizeof *w)) || !(w->context = strdup(context)) ||
		    !(w->exten = strdup(exten))) {
			if (w)
				free(w->context);
			free(w);
			pbx_warning("devstate: out of memory; a watcher of %s@%s is not counted",
				    exten, context);
			return;
		}
		*p = w;
	}
	w->n += (unsigned)delta;
}

unsigned pbx_hint_watchers(const char *context, const char *exten)
{
	const struct hint_watch *w = *hint_watch_find(context, exten);
	return w ? w->n : 0;
}

void pbx_hint_watchers_each(pbx_hint_watchers_each_h *fn, void *arg)
{
	for (const struct hint_watch *w = hint_watches; w; w = w->next)
		fn(w->context, w->exten, w->n, arg);
}
