/**
 * @file test_devstate.c  Device states: from channels and registrations, hint lists, watchers
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Channels of a driver with no media ("DST/1001-..." belong to device
 * "DST/1001"); registrations are told as a driver tells them.
 */
#include <stdio.h>
#include <string.h>

#include "pbx/chan.h"
#include "pbx/devstate.h"
#include "unit.h"

static void d_hangup(struct pbx_chan *ch, int cause)
{
	(void)ch;
	(void)cause;
}

static const struct pbx_chan_tech tech = {.name = "DST", .hangup = d_hangup};

static struct pbx_chan *chan(const char *peer, bool outgoing)
{
	struct pbx_chan *ch;
	assert_int_equal(pbx_chan_alloc(&ch, &tech, peer, outgoing), 0);
	return ch;
}

struct seen {
	char device[32];
	enum pbx_devstate st;
	int n;
};

static void watch(const char *device, enum pbx_devstate st, void *arg)
{
	struct seen *s = arg;
	snprintf(s->device, sizeof s->device, "%s", device);
	s->st = st;
	s->n++;
}

static void test_registrations(void **state)
{
	(void)state;
	struct seen s = {0};
	assert_int_equal(pbx_devstate_watch(watch, &s), 0);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_UNAVAILABLE);
	pbx_devstate_contacts("DST/1001", 2);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_NOT_INUSE);
	assert_string_equal(s.device, "DST/1001");
	assert_int_equal(s.st, PBX_DEV_NOT_INUSE);
	assert_int_equal(s.n, 1);
	pbx_devstate_contacts("DST/1001", 1); /* still registered: no change told */
	assert_int_equal(s.n, 1);
	pbx_devstate_contacts("DST/1001", 0);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_UNAVAILABLE);
	assert_int_equal(s.n, 2);
	pbx_devstate_contacts("DST/9999", 0); /* never seen: nothing */
	assert_int_equal(s.n, 2);
	pbx_devstate_unwatch(watch, &s);
	assert_string_equal(pbx_devstate_name(PBX_DEV_ONHOLD), "ONHOLD");
}

static void test_calls(void **state)
{
	(void)state;
	struct seen s = {0};
	assert_int_equal(pbx_devstate_watch(watch, &s), 0);
	pbx_devstate_contacts("DST/1001", 1);
	pbx_devstate_contacts("DST/1002", 1);
	/* 1001 calls (its channel rings in: the caller is in use), 1002 is rung. */
	struct pbx_chan *in = chan("1001", false), *out = chan("1002", true);
	pbx_chan_set_state(in, PBX_CHAN_RING);
	pbx_chan_set_state(out, PBX_CHAN_DIALING);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_INUSE);
	assert_int_equal(pbx_devstate_get("DST/1002"), PBX_DEV_RINGING);
	assert_int_equal(pbx_devstate_of_list("DST/1001&DST/1002"), PBX_DEV_INUSE);
	assert_int_equal(pbx_devstate_of_list("DST/1002&DST/7777"), PBX_DEV_RINGING);
	pbx_chan_set_state(out, PBX_CHAN_RINGING); /* still ringing: nothing new */
	assert_int_equal(pbx_devstate_get("DST/1002"), PBX_DEV_RINGING);
	pbx_chan_set_state(out, PBX_CHAN_UP);
	pbx_chan_set_state(in, PBX_CHAN_UP);
	assert_int_equal(pbx_devstate_get("DST/1002"), PBX_DEV_INUSE);
	/* 1001's phone holds: ONHOLD; resumes: INUSE. */
	pbx_chan_remote_media_dir(in, PBX_DIR_SENDONLY);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_ONHOLD);
	assert_int_equal(pbx_devstate_of_list("DST/1001&DST/7777"), PBX_DEV_ONHOLD);
	pbx_chan_remote_media_dir(in, PBX_DIR_SENDRECV);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_INUSE);
	pbx_chan_hangup(in, PBX_CAUSE_NORMAL);
	pbx_chan_hangup(out, PBX_CAUSE_NORMAL);
	assert_int_equal(pbx_devstate_get("DST/1001"), PBX_DEV_NOT_INUSE);
	assert_int_equal(pbx_devstate_get("DST/1002"), PBX_DEV_NOT_INUSE);
	assert_int_equal(s.st, PBX_DEV_NOT_INUSE);
	/* A device with calls but no registration (a trunk, a phone that just left). */
	pbx_devstate_contacts("DST/1001", 0);
	pbx_devstate_contacts("DST/1002", 0);
	struct pbx_chan *c = chan("1003", true);
	pbx_chan_set_state(c, PBX_CHAN_UP);
	assert_int_equal(pbx_devstate_get("DST/1003"), PBX_DEV_INUSE);
	pbx_chan_hangup(c, PBX_CAUSE_NORMAL);
	assert_int_equal(pbx_devstate_get("DST/1003"), PBX_DEV_UNAVAILABLE);
	assert_int_equal(pbx_devstate_of_list("DST/1001&DST/1002"), PBX_DEV_UNAVAILABLE);
	assert_int_equal(pbx_devstate_of_list(""), PBX_DEV_UNAVAILABLE);
	pbx_devstate_unwatch(watch, &s);
	pbx_chan_unref(in);
	pbx_chan_unref(out);
	pbx_chan_unref(c);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_registrations),
	cmocka_unit_test(test_calls),
};

UNIT_GROUP(devstate, tests, NULL, NULL);
