/**
 * @file apps.c  What several applications share: sound file names and the prompt player
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pbx/app.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/recorder.h"

#include "apps.h"

int apps_sound_path(char *out, size_t size, const char *name)
{
	if (!name || !*name)
		return EINVAL;
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (!*base)
		return EINVAL;
	const char *ext = strchr(base, '.') ? "" : ".wav";
	int n = name[0] == '/' ? snprintf(out, size, "%s%s", name, ext)
			       : snprintf(out, size, "%s/%s%s", pbx_sounds_dir(), name, ext);
	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/*
 * Names handed out lately. A recording's file appears (as NAME.part) only
 * when its first second is written, so two calls recording "msg%d.wav" at
 * once would both find msg0 free; a name handed out is held here for a
 * minute, by which time its file is on disk.
 */
#define RESERVED      32
#define RESERVED_SECS 60

static struct {
	char path[APPS_PATH_MAX];
	time_t until;
} reserved[RESERVED];
static unsigned reserved_next;

static time_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool name_taken(const char *path)
{
	char part[APPS_PATH_MAX + 8];
	time_t now = mono_now();
	for (unsigned i = 0; i < RESERVED; i++)
		if (reserved[i].until > now && !strcmp(reserved[i].path, path))
			return true;
	snprintf(part, sizeof part, "%s.part", path);
	return !access(path, F_OK) || !access(part, F_OK);
}

static void name_reserve(const char *path)
{
	unsigned i = reserved_next++ % RESERVED;
	snprintf(reserved[i].path, sizeof reserved[i].path, "%s", path);
	reserved[i].until = mono_now() + RESERVED_SECS;
}

/* "%d" in @p name replaced by @p n into @p out; false when it does not fit. */
static bool numbered(char *out, size_t size, const char *name, unsigned n)
{
	const char *d = strstr(name, "%d");
	int len = d ? snprintf(out, size, "%.*s%u%s", (int)(d - name), name, n, d + 2)
		    : snprintf(out, size, "%s", name);
	return len >= 0 && (size_t)len < size;
}

int apps_recording_path(char *out, size_t size, const char *name, const char *subdir)
{
	char dir[APPS_PATH_MAX], full[APPS_PATH_MAX];
	if (!name || !*name)
		return EINVAL;
	if (name[0] == '/') {
		snprintf(full, sizeof full, "%s", name);
	} else {
		if (!strncmp(name, "../", 3) || strstr(name, "/../"))
			return EINVAL; /* a relative name stays under its folder */
		const struct pbx_config *cfg = pbx_cfg();
		int n = snprintf(dir, sizeof dir, "%s/%s",
				 cfg ? pbx_config_core(cfg)->state_dir : ".", subdir);
		if (n < 0 || (size_t)n >= sizeof dir)
			return ENAMETOOLONG;
		if (mkdir(dir, 0750) && errno != EEXIST)
			return errno;
		n = snprintf(full, sizeof full, "%s/%s", dir, name);
		if (n < 0 || (size_t)n >= sizeof full)
			return ENAMETOOLONG;
	}
	if (!strstr(full, "%d"))
		return numbered(out, size, full, 0) ? 0 : ENAMETOOLONG;
	for (unsigned i = 0; i < 10000; i++) {
		if (!numbered(out, size, full, i))
			return ENAMETOOLONG;
		if (!name_taken(out)) {
			name_reserve(out);
			return 0;
		}
	}
	return EEXIST;
}

bool apps_var_name_ok(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '$' || *p == 0x7f)
			return false;
	return true;
}

void player_init(struct player *pl, struct pbx_chan *ch)
{
	memset(pl, 0, sizeof *pl);
	pl->ch = ch;
}

int player_add(struct player *pl, const char *name)
{
	char path[APPS_PATH_MAX];
	int err = apps_sound_path(path, sizeof path, name);
	if (err)
		return err;
	char **paths = realloc(pl->paths, (pl->count + 1) * sizeof *paths);
	if (!paths)
		return ENOMEM;
	pl->paths = paths;
	if (!(paths[pl->count] = strdup(path)))
		return ENOMEM;
	pl->count++;
	return 0;
}

int player_add_list(struct player *pl, const char *list)
{
	while (list && *list) {
		const char *amp = strchr(list, '&');
		size_t len = amp ? (size_t)(amp - list) : strlen(list);
		/* Blanks around names come from "a & b" in Lua strings; Asterisk skips them too. */
		while (len && (*list == ' ' || *list == '\t'))
			list++, len--;
		while (len && (list[len - 1] == ' ' || list[len - 1] == '\t'))
			len--;
		if (len) {
			char name[APPS_PATH_MAX];
			if (len >= sizeof name)
				return ENAMETOOLONG;
			memcpy(name, list, len);
			name[len] = '\0';
			int err = player_add(pl, name);
			if (err)
				return err;
		}
		list = amp ? amp + 1 : NULL;
	}
	return 0;
}

int player_start(struct player *pl)
{
	while (pl->next < pl->count) {
		const char *path = pl->paths[pl->next++];
		if (!pl->ch->rtp) {
			pbx_warning("%s: no media session, cannot play %s", pl->ch->name, path);
			pl->failed = true;
			pl->next = pl->count;
			break;
		}
		/*
		 * A local stat on the signalling thread, once per prompt; it lets
		 * a missing file fail here with a clear line instead of as an
		 * error event from the media worker.
		 */
		if (access(path, R_OK)) {
			pbx_warning("%s: cannot play %s: %s", pl->ch->name, path, strerror(errno));
			pl->failed = true;
			continue;
		}
		int err = pbx_rtp_play(pl->ch->rtp, path);
		if (err) {
			pbx_warning("%s: cannot play %s: %s", pl->ch->name, path, strerror(err));
			pl->failed = true;
			continue;
		}
		pbx_debug("%s: playing %s", pl->ch->name, path);
		pl->busy = true;
		pl->stopping = false;
		return 0;
	}
	return ENODATA;
}

int player_event(struct player *pl, int err)
{
	if (!pl->busy) {
		pbx_debug("%s: media_done %d not for this player, ignored", pl->ch->name, err);
		return EALREADY;
	}
	pl->busy = false;
	if (pl->stopping || err == ECANCELED) {
		/* Stopped by someone else (a bridge replaces playback): the list cannot go on. */
		if (!pl->stopping)
			pl->failed = true;
		pl->stopping = false;
		return ECANCELED;
	}
	if (err) {
		pbx_warning("%s: playback of %s failed: %s", pl->ch->name, pl->paths[pl->next - 1],
			    strerror(err));
		pl->failed = true;
	}
	return player_start(pl);
}

bool player_stop(struct player *pl)
{
	if (!pl->busy)
		return false;
	if (!pl->stopping && pl->ch->rtp)
		pbx_rtp_play_stop(pl->ch->rtp);
	pl->stopping = true;
	return true;
}

void player_rewind(struct player *pl)
{
	pl->next = 0;
}

void player_release(struct player *pl)
{
	if (pl->busy && !pl->stopping && pl->ch->rtp)
		pbx_rtp_play_stop(pl->ch->rtp);
	for (size_t i = 0; i < pl->count; i++)
		free(pl->paths[i]);
	free(pl->paths);
	memset(pl, 0, sizeof *pl);
}

int apps_answer(struct pbx_chan *ch, bool early)
{
	if (ch->state == PBX_CHAN_UP)
		return 0;
	/* Early media: the driver sends 183 with SDP so the caller hears the prompt unanswered. */
	int err = early ? pbx_chan_indicate(ch, PBX_IND_PROGRESS) : pbx_chan_answer(ch);
	if (err)
		pbx_warning("%s: cannot %s: %s", ch->name, early ? "start early media" : "answer",
			    strerror(err));
	return err;
}

static void play_free(struct apps_play *ap)
{
	player_release(&ap->pl);
	free(ap);
}

/* The prompts are over (or stopped by a digit): unhook, then resume the script. */
static void play_end(struct apps_play *ap)
{
	struct pbx_app_call *call = ap->call;
	pbx_chan_app_events(ap->pl.ch, NULL, NULL);
	const char *result = ap->end ? ap->end(ap) : NULL;
	/* The result may live in ap: finish first; the channel may be gone after finish. */
	pbx_app_finish(call, 0, result);
	play_free(ap);
}

static void play_media_done(struct pbx_chan *ch, int err, void *arg)
{
	struct apps_play *ap = arg;
	switch (player_event(&ap->pl, err)) {
	case EALREADY:
	case 0: return;
	default: play_end(ap);
	}
}

static void play_dtmf(struct pbx_chan *ch, char digit, void *arg)
{
	struct apps_play *ap = arg;
	if (!ap->interruptible || ap->digit[0])
		return;
	ap->digit[0] = digit;
	pbx_debug("%s: prompt stopped by DTMF %c", ch->name, digit);
	/* Wait for the stopped file's media_done, so it cannot reach the next application. */
	if (!player_stop(&ap->pl))
		play_end(ap);
}

static const struct pbx_chan_events play_events = {
	.dtmf = play_dtmf,
	.media_done = play_media_done,
};

int apps_play_start(struct apps_play *ap)
{
	struct pbx_chan *ch = ap->pl.ch;
	pbx_chan_app_events(ch, &play_events, ap);
	if (player_start(&ap->pl) == 0) {
		pbx_app_set_data(ap->call, ap);
		return EINPROGRESS;
	}
	pbx_chan_app_events(ch, NULL, NULL);
	const char *result = ap->end ? ap->end(ap) : NULL;
	if (result)
		pbx_app_set_result(ap->call, result);
	play_free(ap);
	return 0;
}

void apps_play_cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	struct apps_play *ap = pbx_app_data(call);
	pbx_chan_app_events(ch, NULL, NULL);
	play_free(ap);
}

/* ---- sleeping (answer's delay, wait) ------------------------------------------------------ */

struct sleep {
	uv_timer_t timer;
	struct pbx_app_call *call;
};

static void sleep_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sleep_release(struct sleep *sl)
{
	uv_timer_stop(&sl->timer);
	uv_close((uv_handle_t *)&sl->timer, sleep_closed);
}

static void sleep_done(uv_timer_t *t)
{
	struct sleep *sl = t->data;
	struct pbx_app_call *call = sl->call;
	sleep_release(sl);
	pbx_app_finish(call, 0, NULL);
}

int apps_sleep(struct pbx_app_call *call, uint64_t ms, const char *app_name)
{
	struct sleep *sl = calloc(1, sizeof *sl);
	if (!sl) {
		pbx_app_error(call, "%s: out of memory", app_name);
		return ENOMEM;
	}
	sl->call = call;
	uv_timer_init(pbx_loop(), &sl->timer);
	sl->timer.data = sl;
	uv_timer_start(&sl->timer, sleep_done, ms, 0);
	pbx_app_set_data(call, sl);
	return EINPROGRESS;
}

void apps_sleep_cancel(struct pbx_chan *ch, struct pbx_app_call *call)
{
	sleep_release(pbx_app_data(call));
}

/* ---- start-up: what a kill left in the recording folders ------------------------------- */

/*
 * ConfBridge's recorded names are the app's own scratch files, removed when
 * their caller leaves: any found at start was left by a kill.
 */
static void remove_conf_names(const char *dir)
{
	static const char prefix[] = "confbridge-name-";
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[APPS_PATH_MAX];
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, sizeof prefix - 1))
			continue;
		int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (n > 0 && (size_t)n < sizeof path && !unlink(path))
			pbx_notice("confbridge: removed %s left by a kill", path);
	}
	closedir(d);
}

/*
 * Record, MixMonitor and ConfBridge write NAME.part and rename it when the
 * recording ends; after a kill -9 the .part stays. Mended and kept under
 * an "-interrupted" name (pbx_recorder_recover): a call recording cut
 * short is still worth having. Files under absolute names chosen by the
 * dialplan are not looked for. Linear in the folders' files, once at start.
 */
static int recordings_load(void)
{
	static const char *const subdirs[] = {"recordings", "monitor", "confbridge"};
	const struct pbx_config *cfg = pbx_cfg();
	char dir[APPS_PATH_MAX];
	if (!cfg)
		return 0; /* unit tests */
	for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		int n = snprintf(dir, sizeof dir, "%s/%s", pbx_config_core(cfg)->state_dir,
				 subdirs[i]);
		if (n < 0 || (size_t)n >= sizeof dir)
			continue;
		if (!strcmp(subdirs[i], "confbridge"))
			remove_conf_names(dir);
		pbx_recorder_recover(dir);
	}
	return 0;
}

PBX_MODULE(apps_recordings_module) = {"apps_recordings", APPS_MODULE_ORDER, recordings_load, NULL};
