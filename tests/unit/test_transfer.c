/**
 * @file test_transfer.c  The transfer state machine (pbx/transfer.c) on channels with no media
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A driver that records hangups and connected-line updates, owners that
 * record being released, and a dialplan that records what it is asked to
 * run: blind transfers (success, refusal, failure and reconnection, either
 * side gone), attended (a swap in the first call's bridge), semi-attended
 * (a blind transfer to the extension still ringing), replace and pickup.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/transfer.h"
#include "unit.h"

/* What happened, in order, as short words: "hangup:t1", "progress:200", ... */
static char seen[1024];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	size_t len = strlen(seen);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(seen + len, sizeof seen - len, fmt, ap);
	va_end(ap);
}

/* "t1" of "XFT/t1-0000000d". */
static const char *nm(const struct pbx_chan *ch)
{
	static char buf[2][32];
	static int i;
	char *b = buf[i++ & 1];
	snprintf(b, sizeof buf[0], "%.*s", (int)strcspn(ch->name + 4, "-"), ch->name + 4);
	return b;
}

static void x_hangup(struct pbx_chan *ch, int cause)
{
	(void)cause;
	note("hangup:%s ", nm(ch));
}

static void x_connected(struct pbx_chan *ch, const char *num, const char *name)
{
	(void)name;
	note("connected:%s=%s ", nm(ch), num);
}

static const struct pbx_chan_tech tech = {
	.name = "XFT", .hangup = x_hangup, .connected_line = x_connected};

/* An owner (a Dial, a dialplan run) that hears it lost the channel. */
static void o_released(struct pbx_chan *ch, void *arg)
{
	(void)arg;
	note("released:%s ", nm(ch));
}

static void o_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	(void)cause;
	(void)arg;
	note("gone:%s ", nm(ch));
}

static const struct pbx_chan_events owner = {.hangup = o_hangup, .released = o_released};

/* The dialplan: extensions 1003 and 700 exist; a run is recorded and owns its channel. */
static bool dp_exists(const char *context, const char *exten)
{
	return !strcmp(context, "default") && (!strcmp(exten, "1003") || !strcmp(exten, "700"));
}

static int dp_start(struct pbx_chan *ch)
{
	note("run:%s@%s:%s ", ch->exten, ch->context, nm(ch));
	pbx_chan_set_owner(ch, &owner, NULL);
	return 0;
}

static const struct pbx_dialplan_ops dp = {.start = dp_start, .exists = dp_exists};

static void progress(void *arg, int code, const char *reason)
{
	(void)arg;
	(void)reason;
	note("progress:%d ", code);
}

static const struct pbx_xfer_report rep = {.progress = progress};

static struct pbx_chan *chan(const char *name, bool outgoing)
{
	struct pbx_chan *ch;
	assert_int_equal(pbx_chan_alloc(&ch, &tech, name, outgoing), 0);
	ch->state = PBX_CHAN_UP;
	pbx_chan_set_owner(ch, &owner, NULL);
	return ch;
}

/* Two channels in a bridge of their own; the bridge's reference is dropped (members hold it). */
static struct pbx_bridge *call(struct pbx_chan *a, struct pbx_chan *b)
{
	struct pbx_bridge *br;
	assert_int_equal(pbx_bridge_alloc(&br), 0);
	assert_int_equal(pbx_bridge_join(br, a), 0);
	assert_int_equal(pbx_bridge_join(br, b), 0);
	pbx_bridge_unref(br);
	return br;
}

static bool has(const char *what)
{
	return strstr(seen, what) != NULL;
}

/* "a" comes before "b" in what happened. */
static bool before(const char *a, const char *b)
{
	const char *x = strstr(seen, a), *y = strstr(seen, b);
	return x && y && x < y;
}

static int setup(void **state)
{
	seen[0] = '\0';
	return pbx_dialplan_register(&dp);
}

static int teardown(void **state)
{
	pbx_dialplan_unregister(&dp);
	return 0;
}

static void done(struct pbx_chan *const *chs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pbx_chan_hangup(chs[i], PBX_CAUSE_NORMAL);
		pbx_chan_unref(chs[i]);
	}
	assert_int_equal(pbx_bridge_count(), 0);
}

static void test_blind_success(void **state)
{
	struct pbx_chan *t = chan("t", false), *e = chan("e", true);
	snprintf(e->exten, sizeof e->exten, "1002");
	seen[0] = '\0';
	call(t, e);
	assert_int_equal(pbx_transfer_blind(t, "default", "1003", &rep, NULL), 0);
	/* Both taken from their owners; the transferee runs the target, out of the bridge. */
	assert_true(has("released:t") && has("released:e"));
	assert_true(has("run:1003@default:e"));
	assert_null(e->bridge);
	assert_non_null(e->xfer);
	assert_string_equal(pbx_chan_var_get(e, "BLINDTRANSFER"), t->name);
	assert_string_equal(e->caller_num, "1002"); /* an outgoing leg calls as itself */
	assert_int_equal(pbx_transfer_blind(t, "default", "1003", &rep, NULL), ENOTCONN);
	pbx_transfer_ringing(e);
	pbx_transfer_ringing(e); /* once */
	pbx_transfer_answered(e);
	assert_null(e->xfer);
	assert_string_equal(pbx_chan_var_get(e, "TRANSFERSTATUS"), "SUCCESS");
	/* The final report goes before the transferor is released. */
	assert_true(before("progress:180", "progress:200"));
	assert_true(before("progress:200", "hangup:t"));
	assert_int_equal(t->state, PBX_CHAN_HUNGUP);
	done((struct pbx_chan *[]){t, e}, 2);
}

static void test_blind_refused(void **state)
{
	struct pbx_chan *t = chan("t", false), *e = chan("e", false), *lone = chan("l", false);
	seen[0] = '\0';
	call(t, e);
	assert_int_equal(pbx_transfer_blind(t, "default", "1999", &rep, NULL), ENOENT);
	assert_int_equal(pbx_transfer_blind(t, "other", "1003", &rep, NULL), ENOENT);
	assert_int_equal(pbx_transfer_blind(lone, "default", "1003", &rep, NULL), ENOTCONN);
	/* Nothing changed hands. */
	assert_string_equal(seen, "");
	assert_ptr_equal(pbx_bridge_peer(t), e);
	assert_ptr_equal(t->ev, &owner);
	done((struct pbx_chan *[]){t, e, lone}, 3);
}

static void test_blind_failure_reconnects(void **state)
{
	struct pbx_chan *t = chan("t", false), *e = chan("e", false);
	seen[0] = '\0';
	call(t, e);
	assert_int_equal(pbx_transfer_blind(t, "default", "1003", &rep, NULL), 0);
	pbx_transfer_failed(e, "BUSY");
	assert_true(has("progress:486"));
	assert_string_equal(pbx_chan_var_get(e, "TRANSFERSTATUS"), "FAILED");
	/* Back together, as a pair: the new run lost the transferee. */
	assert_ptr_equal(pbx_bridge_peer(e), t);
	assert_int_equal(t->state, PBX_CHAN_UP);
	assert_null(e->xfer);
	/* One of a pair hangs up: the other goes too. */
	pbx_chan_hangup(e, PBX_CAUSE_NORMAL);
	assert_int_equal(t->state, PBX_CHAN_HUNGUP);
	done((struct pbx_chan *[]){t, e}, 2);
}

static void test_blind_with_a_side_gone(void **state)
{
	struct pbx_chan *t = chan("t", false), *e = chan("e", false);
	seen[0] = '\0';
	call(t, e);
	assert_int_equal(pbx_transfer_blind(t, "default", "1003", &rep, NULL), 0);
	/* The transferor's phone hangs up after the 202: no report, the transfer goes on. */
	pbx_chan_remote_hangup(t, PBX_CAUSE_NORMAL);
	pbx_transfer_ringing(e);
	pbx_transfer_failed(e, "NOANSWER"); /* nobody to go back to: the dialplan goes on */
	assert_false(has("progress"));
	assert_string_equal(pbx_chan_var_get(e, "TRANSFERSTATUS"), "FAILED");
	assert_int_equal(e->state, PBX_CHAN_UP);
	assert_null(e->xfer);
	done((struct pbx_chan *[]){t, e}, 2);

	t = chan("t", false);
	e = chan("e", false);
	seen[0] = '\0';
	call(t, e);
	assert_int_equal(pbx_transfer_blind(t, "default", "1003", &rep, NULL), 0);
	/* The transferee hangs up meanwhile: the transferor has nothing left. */
	pbx_chan_remote_hangup(e, PBX_CAUSE_NORMAL);
	assert_true(before("progress:487", "hangup:t"));
	assert_int_equal(t->state, PBX_CHAN_HUNGUP);
	done((struct pbx_chan *[]){t, e}, 2);
}

static void test_attended_is_a_swap(void **state)
{
	struct pbx_chan *e = chan("e", false), *t1 = chan("t1", true);
	struct pbx_chan *t2 = chan("t2", false), *c = chan("c", true);
	snprintf(e->caller_num, sizeof e->caller_num, "1001");
	snprintf(c->exten, sizeof c->exten, "1003");
	seen[0] = '\0';
	struct pbx_bridge *b1 = call(e, t1);
	call(t2, c);
	assert_int_equal(pbx_transfer_attended(t1, t1, &rep, NULL), EINVAL);
	assert_int_equal(pbx_transfer_attended(t1, t2, &rep, NULL), 0);
	/* C took t1's place in the first call's bridge; both transferor legs are released. */
	assert_ptr_equal(e->bridge, b1);
	assert_ptr_equal(pbx_bridge_peer(e), c);
	assert_int_equal(t1->state, PBX_CHAN_HUNGUP);
	assert_int_equal(t2->state, PBX_CHAN_HUNGUP);
	assert_true(before("progress:200", "hangup:t1"));
	assert_true(has("connected:e=1003") && has("connected:c=1001"));
	assert_true(has("released:e") && has("released:c"));
	/* A pair: C hangs up, E goes. */
	pbx_chan_remote_hangup(c, PBX_CAUSE_NORMAL);
	assert_int_equal(e->state, PBX_CHAN_HUNGUP);
	done((struct pbx_chan *[]){e, t1, t2, c}, 4);
}

static void test_semi_attended(void **state)
{
	struct pbx_chan *e = chan("e", false), *t1 = chan("t1", true);
	struct pbx_chan *t2 = chan("t2", false), *c = chan("c", true);
	t2->state = PBX_CHAN_RING; /* its call to C rings */
	c->state = PBX_CHAN_RINGING;
	snprintf(t2->exten, sizeof t2->exten, "1003");
	snprintf(t2->context, sizeof t2->context, "default");
	seen[0] = '\0';
	call(e, t1);
	assert_int_equal(pbx_transfer_attended(t1, t2, &rep, NULL), 0);
	/* T2's call ends; E runs T2's extension itself. */
	assert_int_equal(t2->state, PBX_CHAN_HUNGUP);
	assert_true(has("run:1003@default:e"));
	assert_non_null(e->xfer);
	pbx_transfer_answered(e);
	assert_int_equal(t1->state, PBX_CHAN_HUNGUP);
	done((struct pbx_chan *[]){e, t1, t2, c}, 4);
}

static struct pbx_chan *adopted;

static void o_replaced(struct pbx_chan *ch, struct pbx_chan *by, void *arg)
{
	adopted = by;
}

static const struct pbx_chan_events picker = {.replaced = o_replaced};

static void test_replace_and_pickup(void **state)
{
	struct pbx_chan *a = chan("a", false), *b = chan("b", true), *d = chan("d", false);
	seen[0] = '\0';
	struct pbx_bridge *br = call(a, b);
	assert_int_equal(pbx_transfer_replace(b, d), 0);
	assert_ptr_equal(d->bridge, br);
	assert_ptr_equal(pbx_bridge_peer(a), d);
	assert_int_equal(b->state, PBX_CHAN_HUNGUP);
	done((struct pbx_chan *[]){a, b, d}, 3);

	/* A leg that still rings: its owner adopts the newcomer (pickup). */
	struct pbx_chan *r = chan("r", true), *n = chan("n", false), *lone = chan("l", false);
	r->state = PBX_CHAN_RINGING;
	pbx_chan_set_owner(r, &picker, NULL);
	adopted = NULL;
	assert_int_equal(pbx_transfer_replace(r, n), 0);
	assert_ptr_equal(adopted, n);
	assert_int_equal(pbx_transfer_replace(lone, n), ENOTCONN); /* no owner to adopt it */
	done((struct pbx_chan *[]){r, n, lone}, 3);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_blind_success, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blind_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blind_failure_reconnects, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blind_with_a_side_gone, setup, teardown),
	cmocka_unit_test_setup_teardown(test_attended_is_a_swap, setup, teardown),
	cmocka_unit_test_setup_teardown(test_semi_attended, setup, teardown),
	cmocka_unit_test_setup_teardown(test_replace_and_pickup, setup, teardown),
};

UNIT_GROUP(transfer, tests, NULL, NULL);
