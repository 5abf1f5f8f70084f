/**
 * @file conf_opts.c  ConfBridge's options (Lua table or letters) and the conference config section
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A Lua table reaches the application as "key=value;key=value" (the
 * dialplan engine flattens it; true and false become yes and no), so
 *
 *     app.confbridge("8000", { admin = true, muted = true, moh = "jazz" })
 *
 * and app.confbridge("8000", "admin=yes;muted=yes;moh=jazz") are the same
 * call. A string without '=' is read as MeetMe's option letters, which
 * Asterisk users carry over from MeetMe dialplans ("Amq").
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/chan.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/frame.h"
#include "pbx/mixer.h"

#include "conf.h"

void conf_opts_default(struct conf_opts *o)
{
	memset(o, 0, sizeof *o);
	o->announce_count = true;
	o->announce_only_user = true;
	o->moh_when_empty = true;
	o->menu = true;
}

static int bool_of(const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "1", "on", ""};
	static const char *const no[] = {"no", "false", "0", "off"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		if (!strcasecmp(v, yes[i]))
			return *out = true, 0;
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		if (!strcasecmp(v, no[i]))
			return *out = false, 0;
	return EINVAL;
}

static int uint_of(const char *v, unsigned max, unsigned *out)
{
	char *end;
	if (!*v || strspn(v, "0123456789") != strlen(v))
		return EINVAL;
	unsigned long n = strtoul(v, &end, 10);
	if (n > max)
		return EINVAL;
	*out = (unsigned)n;
	return 0;
}

static int volume_of(const char *v, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < -PBX_MIX_VOLUME_MAX || n > PBX_MIX_VOLUME_MAX)
		return EINVAL;
	*out = (int)n;
	return 0;
}

/* A class name as hold music takes it (pbx_moh_check_class). */
static bool class_ok(const char *v)
{
	return strlen(v) < CONF_MOH_MAX && !pbx_moh_check_class(v);
}

struct flag {
	const char *key;
	size_t off;
};

#define FLAG(k, f)                               \
	{                                        \
		k, offsetof(struct conf_opts, f) \
	}

/* Keys as Asterisk's confbridge.conf names them, and the short names of the issue. */
static const struct flag flags[] = {
	FLAG("admin", admin),
	FLAG("marked", marked),
	FLAG("muted", muted),
	FLAG("startmuted", muted),
	FLAG("wait_marked", wait_marked),
	FLAG("end_marked", end_marked),
	FLAG("quiet", quiet),
	FLAG("announce_name", announce_name),
	FLAG("announce_join_leave", announce_name),
	FLAG("announce_count", announce_count),
	FLAG("announce_user_count", announce_count),
	FLAG("announce_only_user", announce_only_user),
	FLAG("music_on_hold_when_empty", moh_when_empty),
	FLAG("moh_when_empty", moh_when_empty),
	FLAG("menu", menu),
	FLAG("denoise", denoise),
	FLAG("agc", agc),
	FLAG("record", record),
	FLAG("record_conference", record),
};

static int fail(char *why, size_t whylen, const char *key, const char *value, const char *what)
{
	snprintf(why, whylen, "option '%s' = '%s': %s", key, value, what);
	return EINVAL;
}

static int apply_pair(struct conf_opts *o, const char *key, const char *v, char *why, size_t whylen)
{
	for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
		if (!strcmp(key, flags[i].key))
			return bool_of(v, (bool *)((char *)o + flags[i].off))
				       ? fail(why, whylen, key, v, "yes or no expected")
				       : 0;
	if (!strcmp(key, "talk_volume") || !strcmp(key, "listen_volume"))
		return volume_of(v, key[0] == 't' ? &o->talk_volume : &o->listen_volume)
			       ? fail(why, whylen, key, v, "a step from -4 to 4 expected")
			       : 0;
	if (!strcmp(key, "moh") || !strcmp(key, "music_on_hold_class")) {
		if (!class_ok(v))
			return fail(why, whylen, key, v, "not a hold-music class name");
		snprintf(o->moh, sizeof o->moh, "%s", v);
		return 0;
	}
	if (!strcmp(key, "pin")) {
		if (strlen(v) > PBX_CONF_PIN_MAX || strspn(v, "0123456789") != strlen(v))
			return fail(why, whylen, key, v, "up to 16 digits expected");
		snprintf(o->pin, sizeof o->pin, "%s", v);
		return 0;
	}
	if (!strcmp(key, "max_members"))
		return uint_of(v, 10000, &o->max_members)
			       ? fail(why, whylen, key, v, "0 to 10000 expected")
			       : 0;
	if (!strcmp(key, "talkers") || !strcmp(key, "mixing_talkers"))
		return uint_of(v, 16, &o->talkers) || !o->talkers
			       ? fail(why, whylen, key, v, "1 to 16 expected")
			       : 0;
	if (!strcmp(key, "rate") || !strcmp(key, "internal_sample_rate")) {
		if (!strcmp(v, "auto"))
			return o->rate = 0, 0;
		if (uint_of(v, 48000, &o->rate) || !pbx_frame_rate_ok(o->rate))
			return fail(why, whylen, key, v, "8000, 16000, 48000 or auto expected");
		return 0;
	}
	snprintf(why, whylen, "unknown option '%s'", key);
	return EINVAL;
}

static int apply_letters(struct conf_opts *o, const char *s, char *why, size_t whylen)
{
	for (const char *p = s; *p; p++) {
		switch (*p) {
		case 'A': o->admin = o->marked = true; break;
		case 'a': o->admin = true; break;
		case 'm': o->muted = true; break;
		case 'w': o->wait_marked = true; break;
		case 'x': o->end_marked = true; break;
		case 'q': o->quiet = true; break;
		case 'i': o->announce_name = true; break;
		case 'c': o->announce_count = true; break;
		case 'r': o->record = true; break;
		case 'd': o->denoise = true; break;
		case 'g': o->agc = true; break;
		case 'M': {
			const char *end = p[1] == '(' ? strchr(p + 2, ')') : NULL;
			char cls[CONF_MOH_MAX];
			if (!end || (size_t)(end - p - 2) >= sizeof cls) {
				snprintf(why, whylen, "option M: M(class) expected");
				return EINVAL;
			}
			memcpy(cls, p + 2, (size_t)(end - p - 2));
			cls[end - p - 2] = '\0';
			if (!class_ok(cls)) {
				snprintf(why, whylen,
					 "option M: '%s' is not a hold-music class name", cls);
				return EINVAL;
			}
			snprintf(o->moh, sizeof o->moh, "%s", cls);
			p = end;
			break;
		}
		case ' ': break;
		default: snprintf(why, whylen, "unknown option letter '%c'", *p); return EINVAL;
		}
	}
	return 0;
}

static int apply_pairs(struct conf_opts *o, const char *s, char *why, size_t whylen)
{
	char buf[512];
	if (strlen(s) >= sizeof buf) {
		snprintf(why, whylen, "options too long");
		return EINVAL;
	}
	strcpy(buf, s);
	char *save = NULL;
	for (char *item = strtok_r(buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(item, '=');
		const char *v = eq ? eq + 1 : "yes";
		if (eq)
			*eq = '\0';
		int err = apply_pair(o, item, v, why, whylen);
		if (err)
			return err;
	}
	return 0;
}

int conf_opts_parse(const char *s, struct conf_opts *o, char *why, size_t whylen)
{
	if (!s || !*s)
		return 0;
	int err =
		strchr(s, '=') ? apply_pairs(o, s, why, whylen) : apply_letters(o, s, why, whylen);
	if (o->admin)
		o->marked = true; /* an admin leads the room */
	return err;
}

/* ---- the conference section ---------------------------------------------------------------- */

#define OFF(f) PBX_CFG_OFF(struct conf_cfg, f)

static const struct pbx_cfg_key keys[] = {
	{.name = "max_members",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_members),
	 .def = "0",
	 .min = 0,
	 .max = 100000,
	 .help = "members in all conferences together; 0: no limit"},
	{.name = "rate",
	 .type = PBX_CFG_INT,
	 .off = OFF(rate),
	 .def = "0",
	 .min = 0,
	 .max = 48000,
	 .help = "Hz rooms mix at: 8000, 16000 or 48000; 0: 16000, and 48000 while an Opus "
		 "member is in"},
	{.name = "talkers",
	 .type = PBX_CFG_INT,
	 .off = OFF(talkers),
	 .def = "3",
	 .min = 1,
	 .max = 16,
	 .help = "the loudest talkers mixed at once; the others are not heard until one stops"},
	{0},
};

static int check(void *sect, struct pbx_cfg_err *e)
{
	const struct conf_cfg *c = sect;
	static char val[16];
	if (c->rate && !pbx_frame_rate_ok((unsigned)c->rate)) {
		snprintf(val, sizeof val, "%d", c->rate);
		return pbx_cfg_error(e, "rate", val, "must be 0, 8000, 16000 or 48000");
	}
	return 0;
}

PBX_CONFIG_SECTION(conf_section) = {
	.name = "conference",
	.module = "confbridge",
	.order = 61,
	.size = sizeof(struct conf_cfg),
	.keys = keys,
	.check = check,
	.help = "conferences (ConfBridge): limits and mixing",
};

const struct conf_cfg *conf_cfg(void)
{
	static const struct conf_cfg defaults = {.max_members = 0, .rate = 0, .talkers = 3};
	const struct pbx_config *cfg = pbx_cfg();
	return cfg ? pbx_config_get(cfg, &conf_section) : &defaults;
}
