/**
 * @file test_sip_subscription.c  RFC 6665 subscriptions on a fake stack: Expires, states, NOTIFYs; MWI bodies
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The framework runs on a stack of its real parts (transactions, dialog
 * table, timer heap) with a fake send and simulated time, past the
 * authentication: SUBSCRIBEs go in through sip__subs_accept and the
 * subscription's dialog usage, responses to our NOTIFYs through the
 * transaction layer, as on the wire.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_mwi.h"
#include "../../channels/sip/sip_stack.h"
#include "../../channels/sip/sip_subscription.h"
#include "../../channels/sip/sip_tsx.h"
#include "unit.h"

struct env {
	struct sip_stack s;
	struct sip_config cfg;
	char *sent[64];
	unsigned nsent;
	int state;    /* what the test package reports */
	int watching; /* subscriptions the package was told watch (on minus off) */
};

static int fake_send(void *arg, const struct sip_peer *dst, const char *buf, size_t len)
{
	struct env *e = arg;
	assert_true(e->nsent < 64);
	e->sent[e->nsent] = malloc(len + 1);
	assert_non_null(e->sent[e->nsent]);
	memcpy(e->sent[e->nsent], buf, len);
	e->sent[e->nsent++][len] = '\0';
	return 0;
}

static const struct sip_tsx_ops ops = {.send = fake_send};
static struct env *the_env; /* the test package's body reads it */

static int fake_local(struct sip_stack *s, const struct sip_peer *dst, char *buf, size_t len)
{
	snprintf(buf, len, "192.0.2.1:5060");
	return 0;
}

static uint16_t test_authorize(const char *user, const char *resource, const char **reason)
{
	*reason = NULL;
	return strcmp(user, resource) ? 403 : 0;
}

static int test_body(struct sip_stack *s, const struct sip_sub *sub, struct pbx_buf *b)
{
	return pbx_buf_printf(b, "state=%d\r\n", the_env->state);
}

static void test_watch(struct sip_sub *sub, bool on)
{
	the_env->watching += on ? 1 : -1;
	assert_true(the_env->watching >= 0);
}

static const struct sip_event_pkg test_pkg = {"test-event", "text/plain", test_authorize, test_body,
					      test_watch};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	e->cfg.domain = "pbx.test";
	e->cfg.sub_min_expires = 60;
	e->cfg.sub_max_expires = 3600;
	e->cfg.sub_default_expires = 600;
	e->s.cfg = &e->cfg;
	sip_timers_init(&e->s.timers, 1000);
	assert_int_equal(sip_tsx_layer_alloc(&e->s.tsx, &e->s.timers, &ops, e), 0);
	assert_int_equal(sip_dialog_table_alloc(&e->s.dialogs), 0);
	pbx_buf_init(&e->s.out);
	snprintf(e->s.to_tag, sizeof e->s.to_tag, "stacktag");
	assert_int_equal(sip_subs_alloc(&e->s.subs, &e->s, false), 0);
	sip__subs_set_local(e->s.subs, fake_local);
	assert_int_equal(sip_event_register(e->s.subs, &test_pkg), 0);
	assert_int_equal(sip_event_register(e->s.subs, &test_pkg), EEXIST);
	assert_string_equal(sip_subs_allow_events(e->s.subs), "test-event");
	the_env = e;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	sip_subs_free(e->s.subs);
	sip_tsx_layer_free(e->s.tsx);
	sip_dialog_table_free(e->s.dialogs);
	sip_timers_free(&e->s.timers);
	pbx_buf_free(&e->s.out);
	for (unsigned i = 0; i < e->nsent; i++)
		free(e->sent[i]);
	free(e);
	return 0;
}

static const struct sip_peer src = {.tp = PBX_TP_UDP};

/* A parsed message that owns its text. */
struct pm {
	char buf[2048];
	struct sip_msg m;
};

static struct pm *pm_parse(const char *text)
{
	struct pm *p = malloc(sizeof *p);
	const char *why;
	assert_non_null(p);
	snprintf(p->buf, sizeof p->buf, "%s", text);
	assert_int_equal(sip_msg_parse(&p->m, p->buf, strlen(p->buf), &why), 0);
	return p;
}

/* The SUBSCRIBE of 1001 for @p resource, CSeq @p cseq, with @p to_tag (NULL: none). */
static struct pm *subscribe(const char *resource, unsigned cseq, const char *to_tag,
			    const char *extra)
{
	static unsigned branch; /* a new transaction each time */
	char text[1024];
	snprintf(text, sizeof text,
		 "SUBSCRIBE sip:%s@pbx.test SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsub%u.%u\r\n"
		 "From: <sip:1001@pbx.test>;tag=phone\r\nTo: <sip:%s@pbx.test>%s%s\r\n"
		 "Call-ID: sub-call\r\nCSeq: %u SUBSCRIBE\r\n"
		 "Contact: <sip:1001@192.0.2.10:5060>\r\n%s%s"
		 "Content-Length: 0\r\n\r\n",
		 resource, cseq, ++branch, resource, to_tag ? ";tag=" : "", to_tag ? to_tag : "",
		 cseq, extra && strstr(extra, "Event:") ? "" : "Event: test-event\r\n",
		 extra ? extra : "");
	return pm_parse(text);
}

/* Feed a SUBSCRIBE as the stack would: new outside a dialog, else to its usage. */
static void feed(struct env *e, struct pm *p)
{
	struct sip_stsx *t;
	assert_int_equal(sip_stsx_alloc(&t, e->s.tsx, &p->m, &src), 0);
	struct sip_dialog *d = sip_dialog_find(e->s.dialogs, &p->m);
	if (d)
		assert_true(d->usage->request(&e->s, d, &p->m, &src, t));
	else
		sip__subs_accept(e->s.subs, &test_pkg, &p->m, &src, t, "1001");
	free(p);
}

/* Answer sent message @p i (a NOTIFY) with @p code. */
static void answer(struct env *e, unsigned i, unsigned code)
{
	struct pm *req = pm_parse(e->sent[i]);
	char text[1024];
	struct sip_via v;
	struct sip_pl cid;
	assert_int_equal(sip_msg_via_top(&req->m, &v), 0);
	assert_int_equal(sip_msg_callid(&req->m, &cid), 0);
	const struct sip_hdr *from = sip_msg_hdr_first(&req->m, SIP_HDR_FROM);
	const struct sip_hdr *to = sip_msg_hdr_first(&req->m, SIP_HDR_TO);
	snprintf(text, sizeof text,
		 "SIP/2.0 %u X\r\nVia: %.*s\r\nFrom: %.*s\r\nTo: %.*s\r\nCall-ID: %.*s\r\n"
		 "CSeq: %u NOTIFY\r\nContent-Length: 0\r\n\r\n",
		 code, (int)v.value.l, v.value.p, (int)from->value.l, from->value.p,
		 (int)to->value.l, to->value.p, (int)cid.l, cid.p, req->m.cseq_num);
	free(req);
	struct pm *resp = pm_parse(text);
	assert_true(sip_tsx_recv(e->s.tsx, &resp->m, &src));
	free(resp);
}

static bool has(const char *msg, const char *what)
{
	return strstr(msg, what) != NULL;
}

static void test_expires(void **state)
{
	const struct sip_sub_limits lim = {60, 3600, 600};
	struct {
		const char *hdr;
		int err;
		uint32_t want;
	} cases[] = {
		{"", 0, 600},                   /* none: the default */
		{"Expires: 0\r\n", 0, 0},       /* unsubscribe or fetch */
		{"Expires: 30\r\n", ERANGE, 0}, /* 423 */
		{"Expires: 60\r\n", 0, 60},
		{"Expires: 99999\r\n", 0, 3600}, /* clamped */
		{"Expires: soon\r\n", EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct pm *p = subscribe("1001", 1, NULL, cases[i].hdr);
		uint32_t v = 12345;
		assert_int_equal(sip_sub_expires(&p->m, &lim, &v), cases[i].err);
		if (!cases[i].err)
			assert_int_equal(v, cases[i].want);
		free(p);
	}
}

static void test_lifecycle(void **state)
{
	struct env *e = *state;
	feed(e, subscribe("1001", 1, NULL, "Expires: 600\r\n"));
	assert_int_equal(e->nsent, 2);
	assert_true(has(e->sent[0], "SIP/2.0 200 OK"));
	assert_true(has(e->sent[0], "Expires: 600\r\n"));
	assert_true(has(e->sent[0], "Allow-Events: test-event\r\n"));
	assert_true(has(e->sent[0], "Contact: <sip:pbx@192.0.2.1:5060>"));
	assert_true(has(e->sent[1], "NOTIFY sip:1001@192.0.2.10:5060 SIP/2.0"));
	assert_true(has(e->sent[1], "CSeq: 1 NOTIFY"));
	assert_true(has(e->sent[1], "Event: test-event\r\n"));
	assert_true(has(e->sent[1], "Subscription-State: active;expires=60"));
	assert_true(has(e->sent[1], "To: <sip:1001@pbx.test>;tag=phone"));
	assert_true(has(e->sent[1], "state=0"));
	assert_int_equal(sip_subs_count(e->s.subs), 1);
	assert_int_equal(e->watching, 1);

	/* Changes while a NOTIFY is out: one NOTIFY of the latest state after it. */
	e->state = 1;
	assert_int_equal(sip_subs_notify(e->s.subs, &test_pkg, "1001"), 1);
	e->state = 2;
	assert_int_equal(sip_subs_notify(e->s.subs, &test_pkg, "1001"), 1);
	assert_int_equal(sip_subs_notify(e->s.subs, &test_pkg, "1002"), 0);
	assert_int_equal(e->nsent, 2);
	answer(e, 1, 200);
	/* Paced: the next NOTIFY waits SIP_SUB_NOTIFY_GAP_MS after the last one. */
	assert_int_equal(e->nsent, 2);
	sip_timers_run(&e->s.timers, e->s.timers.now + SIP_SUB_NOTIFY_GAP_MS - 1);
	assert_int_equal(e->nsent, 2);
	sip_timers_run(&e->s.timers, e->s.timers.now + 1);
	assert_int_equal(e->nsent, 3);
	assert_true(has(e->sent[2], "CSeq: 2 NOTIFY"));
	assert_true(has(e->sent[2], "state=2"));
	answer(e, 2, 200);
	assert_int_equal(e->nsent, 3);
	/* A burst of changes inside one gap: one NOTIFY, of the last state. */
	for (int i = 3; i < 13; i++) {
		e->state = i;
		sip_subs_notify(e->s.subs, &test_pkg, "1001");
	}
	assert_int_equal(e->nsent, 3);
	sip_timers_run(&e->s.timers, e->s.timers.now + SIP_SUB_NOTIFY_GAP_MS);
	assert_int_equal(e->nsent, 4);
	assert_true(has(e->sent[3], "state=12"));
	answer(e, 3, 200);
	sip_timers_run(&e->s.timers, e->s.timers.now + SIP_SUB_NOTIFY_GAP_MS);
	assert_int_equal(e->nsent, 4);

	/* A refresh in the dialog: 200 and a NOTIFY. A lower CSeq: 500. */
	char to_tag[40];
	const char *tt = strstr(e->sent[0], "To: <sip:1001@pbx.test>;tag=") + 28;
	snprintf(to_tag, sizeof to_tag, "%.*s", (int)strcspn(tt, "\r\n;"), tt);
	feed(e, subscribe("1001", 3, to_tag, "Expires: 1200\r\n"));
	assert_int_equal(e->nsent, 6); /* at once, however soon after the last NOTIFY */
	assert_true(has(e->sent[4], "200 OK") && has(e->sent[4], "Expires: 1200\r\n"));
	assert_true(has(e->sent[5], "CSeq: 4 NOTIFY"));
	answer(e, 5, 200);
	feed(e, subscribe("1001", 2, to_tag, "Expires: 1200\r\n"));
	assert_true(has(e->sent[6], "SIP/2.0 500 "));

	/* Another event in this dialog: 489. */
	feed(e, subscribe("1001", 4, to_tag, "Expires: 1200\r\nEvent: other\r\n"));
	assert_true(has(e->sent[7], "SIP/2.0 489 "));

	/* Unsubscribe: 200, the final NOTIFY, then gone once it is answered. */
	feed(e, subscribe("1001", 5, to_tag, "Expires: 0\r\n"));
	unsigned n = e->nsent;
	assert_true(has(e->sent[n - 2], "200 OK") && has(e->sent[n - 2], "Expires: 0\r\n"));
	assert_true(has(e->sent[n - 1], "Subscription-State: terminated;reason=timeout"));
	assert_int_equal(sip_subs_count(e->s.subs), 1);
	assert_int_equal(e->watching, 0); /* terminated: no longer watching */
	/* Terminated: no more NOTIFYs, a refresh gets 481. */
	assert_int_equal(sip_subs_notify(e->s.subs, &test_pkg, "1001"), 0);
	feed(e, subscribe("1001", 6, to_tag, "Expires: 600\r\n"));
	assert_true(has(e->sent[e->nsent - 1], "SIP/2.0 481 "));
	answer(e, n - 1, 200);
	assert_int_equal(sip_subs_count(e->s.subs), 0);
	assert_int_equal(sip_dialog_count(e->s.dialogs), 0);
}

static void test_expiry(void **state)
{
	struct env *e = *state;
	feed(e, subscribe("1001", 1, NULL, "Expires: 120\r\n"));
	answer(e, 1, 200);
	sip_timers_run(&e->s.timers, e->s.timers.now + 119000);
	assert_int_equal(e->nsent, 2);
	sip_timers_run(&e->s.timers, e->s.timers.now + 1001);
	assert_int_equal(e->nsent, 3);
	assert_true(has(e->sent[2], "Subscription-State: terminated;reason=timeout"));
	assert_int_equal(e->watching, 0);
	answer(e, 2, 200);
	assert_int_equal(sip_subs_count(e->s.subs), 0);
}

static void test_notify_failures_end_it(void **state)
{
	struct env *e = *state;
	/* 481: the phone has no such subscription. */
	feed(e, subscribe("1001", 1, NULL, NULL));
	assert_true(has(e->sent[0], "Expires: 600\r\n")); /* the default */
	answer(e, 1, 481);
	assert_int_equal(sip_subs_count(e->s.subs), 0);
	assert_int_equal(e->watching, 0); /* freed without a final NOTIFY */
	/* No answer at all (Timer F): over too. */
	feed(e, subscribe("1001", 1, NULL, NULL));
	assert_int_equal(sip_subs_count(e->s.subs), 1);
	for (int i = 0; i < 40; i++)
		sip_timers_run(&e->s.timers, e->s.timers.now + 1000);
	assert_int_equal(sip_subs_count(e->s.subs), 0);
}

static void test_refusals(void **state)
{
	struct env *e = *state;
	feed(e, subscribe("1002", 1, NULL, NULL)); /* not 1001's */
	assert_true(has(e->sent[0], "SIP/2.0 403 "));
	feed(e, subscribe("1001", 1, NULL, "Expires: 10\r\n"));
	assert_true(has(e->sent[1], "SIP/2.0 423 ") && has(e->sent[1], "Min-Expires: 60\r\n"));
	feed(e, subscribe("1001", 1, NULL, "Accept: application/pidf+xml\r\n"));
	assert_true(has(e->sent[2], "SIP/2.0 406 "));
	assert_int_equal(sip_subs_count(e->s.subs), 0);
	/* A fetch (Expires: 0): 200, one terminated NOTIFY, nothing kept after it. */
	feed(e, subscribe("1001", 1, NULL, "Expires: 0\r\nAccept: text/*\r\n"));
	assert_true(has(e->sent[3], "SIP/2.0 200 "));
	assert_true(has(e->sent[4], "Subscription-State: terminated;reason=timeout"));
	assert_true(has(e->sent[4], "state=0"));
	answer(e, 4, 200);
	assert_int_equal(sip_subs_count(e->s.subs), 0);
}

static void test_drop_user(void **state)
{
	struct env *e = *state;
	feed(e, subscribe("1001", 1, NULL, NULL));
	answer(e, 1, 200);
	sip_subs_drop_user(e->s.subs, "1001");
	assert_true(has(e->sent[2], "Subscription-State: terminated;reason=noresource"));
	answer(e, 2, 200);
	assert_int_equal(sip_subs_count(e->s.subs), 0);
}

static void test_state_value(void **state)
{
	struct sip_sub sub = {.state = SIP_SUB_ACTIVE, .expires = 1000};
	char buf[64];
	sip_sub_state_value(&sub, 400, buf, sizeof buf);
	assert_string_equal(buf, "active;expires=600");
	sip_sub_state_value(&sub, 2000, buf, sizeof buf);
	assert_string_equal(buf, "active;expires=0");
	sub.state = SIP_SUB_TERMINATED;
	sub.reason = "noresource";
	sip_sub_state_value(&sub, 400, buf, sizeof buf);
	assert_string_equal(buf, "terminated;reason=noresource");
}

static void test_mwi_body(void **state)
{
	struct pbx_buf b;
	pbx_buf_init(&b);
	struct pbx_vm_counts c = {.new_msgs = 2, .old_msgs = 5, .urgent_new = 1, .urgent_old = 0};
	assert_int_equal(sip_mwi_body(&b, "1003", "pbx.local", &c), 0);
	assert_string_equal(b.data, "Messages-Waiting: yes\r\n"
				    "Message-Account: sip:1003@pbx.local\r\n"
				    "Voice-Message: 2/5 (1/0)\r\n");
	pbx_buf_reset(&b);
	struct pbx_vm_counts none = {.old_msgs = 3};
	assert_int_equal(sip_mwi_body(&b, "1003", "pbx.local", &none), 0);
	assert_string_equal(b.data, "Messages-Waiting: no\r\n"
				    "Message-Account: sip:1003@pbx.local\r\n"
				    "Voice-Message: 0/3 (0/0)\r\n");
	pbx_buf_free(&b);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_expires),
	cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_notify_failures_end_it, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	cmocka_unit_test_setup_teardown(test_drop_user, setup, teardown),
	cmocka_unit_test(test_state_value),
	cmocka_unit_test(test_mwi_body),
};

UNIT_GROUP(sip_subscription, tests, NULL, NULL);
