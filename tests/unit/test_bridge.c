/**
 * @file test_bridge.c  Bridge state machine: join, leave, swap, hangup, limits, references
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Channels of a driver with no media: the bridge's membership rules are
 * tested alone here; the relay mode with real RTP sessions is shown by the
 * integration tests (calls/test_bridges.py).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "unit.h"

static void b_hangup(struct pbx_chan *ch, int cause)
{
	(void)ch;
	(void)cause;
}

static const struct pbx_chan_tech tech = {.name = "BRT", .hangup = b_hangup};

static struct pbx_chan *chan(const char *name)
{
	struct pbx_chan *ch;
	assert_int_equal(pbx_chan_alloc(&ch, &tech, name, false), 0);
	return ch;
}

static int count_cb(struct pbx_bridge *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static int listed(void)
{
	int n = 0;
	pbx_bridge_each(count_cb, &n);
	return n;
}

static void test_join_leave(void **state)
{
	(void)state;
	struct pbx_bridge *b;
	struct pbx_chan *a = chan("a"), *c = chan("c"), *x = chan("x");
	unsigned before = pbx_bridge_count();
	assert_int_equal(pbx_bridge_alloc(&b), 0);
	assert_int_equal(pbx_bridge_count(), before + 1);
	assert_int_equal(listed(), (int)before + 1);
	assert_int_equal(pbx_bridge_join(b, a), 0);
	assert_ptr_equal(a->bridge, b);
	assert_null(pbx_bridge_peer(a));            /* alone: no peer */
	assert_int_equal(pbx_bridge_join(b, a), 0); /* again: nothing changes */
	assert_int_equal(b->n, 1);
	assert_int_equal(pbx_bridge_join(b, c), 0);
	assert_ptr_equal(pbx_bridge_peer(a), c);
	assert_ptr_equal(pbx_bridge_peer(c), a);
	/* Without media on either leg there is nothing to relay. */
	assert_int_equal(pbx_bridge_mode(b), PBX_BRIDGE_IDLE);
	assert_string_equal(pbx_bridge_mode_name(pbx_bridge_mode(b)), "idle");
	/* Two-party for now: a third is refused and stays out. */
	assert_int_equal(pbx_bridge_join(b, x), ENOSPC);
	assert_null(x->bridge);
	pbx_bridge_leave(c);
	assert_null(c->bridge);
	assert_null(pbx_bridge_peer(a));
	assert_int_equal(b->n, 1);
	pbx_bridge_leave(c); /* not in one: nothing */
	pbx_bridge_leave(a);
	assert_int_equal(b->n, 0);
	pbx_bridge_unref(b); /* the last reference: gone from the list */
	assert_int_equal(pbx_bridge_count(), before);
	pbx_chan_unref(a);
	pbx_chan_unref(c);
	pbx_chan_unref(x);
}

/* The bridge lives while a member holds it, even after its maker lets go. */
static void test_members_hold_the_bridge(void **state)
{
	(void)state;
	struct pbx_bridge *b;
	struct pbx_chan *a = chan("a"), *c = chan("c");
	unsigned before = pbx_bridge_count();
	assert_int_equal(pbx_bridge_alloc(&b), 0);
	pbx_bridge_join(b, a);
	pbx_bridge_join(b, c);
	pbx_bridge_unref(b);
	assert_int_equal(pbx_bridge_count(), before + 1);
	assert_ptr_equal(pbx_bridge_peer(a), c);
	/* A hangup takes the member out; the last one out frees the bridge. */
	pbx_chan_hangup(a, PBX_CAUSE_NORMAL);
	assert_null(a->bridge);
	assert_null(pbx_bridge_peer(c));
	assert_int_equal(pbx_bridge_count(), before + 1);
	pbx_chan_hangup(c, PBX_CAUSE_NORMAL);
	assert_int_equal(pbx_bridge_count(), before);
	/* A channel that hung up cannot join. */
	assert_int_equal(pbx_bridge_alloc(&b), 0);
	assert_int_equal(pbx_bridge_join(b, a), ENOTCONN);
	pbx_bridge_unref(b);
	pbx_chan_unref(a);
	pbx_chan_unref(c);
}

static void test_swap(void **state)
{
	(void)state;
	struct pbx_bridge *b, *other;
	struct pbx_chan *a = chan("a"), *c = chan("c"), *t = chan("t"), *y = chan("y");
	assert_int_equal(pbx_bridge_alloc(&b), 0);
	pbx_bridge_join(b, a);
	pbx_bridge_join(b, c);
	/* t takes c's place; a never leaves. */
	assert_int_equal(pbx_bridge_swap(b, c, t), 0);
	assert_null(c->bridge);
	assert_ptr_equal(t->bridge, b);
	assert_ptr_equal(pbx_bridge_peer(a), t);
	assert_ptr_equal(pbx_bridge_peer(t), a);
	assert_int_equal(b->n, 2);
	/* Errors: out not a member; in hung up. */
	assert_int_equal(pbx_bridge_swap(b, c, y), ENOENT);
	pbx_chan_hangup(y, PBX_CAUSE_NORMAL);
	assert_int_equal(pbx_bridge_swap(b, t, y), ENOTCONN);
	assert_ptr_equal(pbx_bridge_peer(a), t);
	/* Swapping in a member of another bridge moves it out of that one. */
	assert_int_equal(pbx_bridge_alloc(&other), 0);
	pbx_bridge_join(other, c);
	assert_int_equal(pbx_bridge_swap(b, t, c), 0);
	assert_ptr_equal(c->bridge, b);
	assert_int_equal(other->n, 0);
	assert_ptr_equal(pbx_bridge_peer(a), c);
	pbx_bridge_unref(other);
	pbx_bridge_leave(a);
	pbx_bridge_leave(c);
	pbx_bridge_unref(b);
	pbx_chan_unref(a);
	pbx_chan_unref(c);
	pbx_chan_unref(t);
	pbx_chan_unref(y);
}

/* Joining another bridge leaves the first. */
static void test_move(void **state)
{
	(void)state;
	struct pbx_bridge *b1, *b2;
	struct pbx_chan *a = chan("a"), *c = chan("c");
	pbx_bridge_alloc(&b1);
	pbx_bridge_alloc(&b2);
	pbx_bridge_join(b1, a);
	pbx_bridge_join(b1, c);
	assert_int_equal(pbx_bridge_join(b2, c), 0);
	assert_int_equal(b1->n, 1);
	assert_ptr_equal(c->bridge, b2);
	assert_null(pbx_bridge_peer(a));
	pbx_bridge_leave(a);
	pbx_bridge_leave(c);
	pbx_bridge_unref(b1);
	pbx_bridge_unref(b2);
	pbx_chan_unref(a);
	pbx_chan_unref(c);
}

/* A driver that takes text: what it was given, and its answer later. */
static struct {
	struct pbx_chan *to;
	char type[32];
	char body[32];
	size_t len;
	pbx_chan_text_done_h *done;
	void *arg;
} sent;

static int t_send_text(struct pbx_chan *ch, const char *type, const void *body, size_t len,
		       pbx_chan_text_done_h *done, void *arg)
{
	if (len > sizeof sent.body)
		return EMSGSIZE;
	sent.to = ch;
	snprintf(sent.type, sizeof sent.type, "%s", type);
	memcpy(sent.body, body, len);
	sent.len = len;
	sent.done = done;
	sent.arg = arg;
	return 0;
}

static const struct pbx_chan_tech text_tech = {
	.name = "BRTX", .hangup = b_hangup, .send_text = t_send_text};

static void text_done(int status, void *arg)
{
	*(int *)arg = status;
}

/* A text goes to the bridged peer's driver, unchanged; its answer comes back as it was. */
static void test_text_relay(void **state)
{
	(void)state;
	struct pbx_bridge *b;
	struct pbx_chan *a = chan("a"), *c, *plain = chan("p");
	int status = 0;
	static const char body[] = "hi\0there"; /* a NUL inside passes */
	assert_int_equal(pbx_chan_alloc(&c, &text_tech, "c", true), 0);
	memset(&sent, 0, sizeof sent);
	/* Not answered, then answered but alone: nobody to take it. */
	assert_int_equal(
		pbx_chan_remote_text(a, "text/plain", body, sizeof body - 1, text_done, &status),
		ENOTCONN);
	pbx_chan_set_state(a, PBX_CHAN_UP);
	assert_int_equal(
		pbx_chan_remote_text(a, "text/plain", body, sizeof body - 1, text_done, &status),
		ENOTCONN);
	assert_int_equal(pbx_bridge_alloc(&b), 0);
	pbx_bridge_join(b, a);
	pbx_bridge_join(b, c);
	/* The peer still ringing takes no text. */
	assert_int_equal(
		pbx_chan_remote_text(a, "text/plain", body, sizeof body - 1, text_done, &status),
		ENOTCONN);
	pbx_chan_set_state(c, PBX_CHAN_UP);
	assert_int_equal(pbx_chan_remote_text(a, "text/plain;charset=UTF-8", body, sizeof body - 1,
					      text_done, &status),
			 0);
	assert_ptr_equal(sent.to, c);
	assert_string_equal(sent.type, "text/plain;charset=UTF-8");
	assert_int_equal(sent.len, sizeof body - 1);
	assert_memory_equal(sent.body, body, sizeof body - 1);
	assert_int_equal(status, 0); /* the answer comes later, from the driver */
	sent.done(486, sent.arg);
	assert_int_equal(status, 486);
	/* The driver's refusal comes back as it is; a peer whose driver has no text is ENOTSUP. */
	char big[64] = {0};
	assert_int_equal(pbx_chan_remote_text(a, "text/plain", big, sizeof big, text_done, &status),
			 EMSGSIZE);
	assert_int_equal(pbx_chan_remote_text(c, "text/plain", body, 2, text_done, &status),
			 ENOTSUP);
	pbx_bridge_leave(a);
	pbx_bridge_leave(c);
	pbx_bridge_unref(b);
	pbx_chan_set_state(plain, PBX_CHAN_UP);
	assert_int_equal(pbx_chan_send_text(plain, "text/plain", body, 2, text_done, &status),
			 ENOTSUP);
	pbx_chan_hangup(c, PBX_CAUSE_NORMAL);
	assert_int_equal(pbx_chan_send_text(c, "text/plain", body, 2, text_done, &status),
			 ENOTCONN);
	pbx_chan_unref(a);
	pbx_chan_unref(c);
	pbx_chan_unref(plain);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_join_leave), cmocka_unit_test(test_members_hold_the_bridge),
	cmocka_unit_test(test_swap),       cmocka_unit_test(test_move),
	cmocka_unit_test(test_text_relay),
};

UNIT_GROUP(bridge, tests, NULL, NULL);
