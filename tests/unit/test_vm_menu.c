/**
 * @file test_vm_menu.c  SayNumber's words, and VoiceMailMain's menu and phrases without a call
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The prompt lists are joined with '&' into a string, so each case reads
 * as what the caller hears. The integration tests
 * (tests/integration/calls/test_voicemailmain.py) play them in real calls.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../apps/apps.h"
#include "../../apps/vm_menu.h"
#include "unit.h"

struct said {
	char text[1024];
	int fail_at; /* the say call (from 1) that fails with ENOMEM; 0 never */
	int calls;
};

static int said_h(void *arg, const char *name)
{
	struct said *s = arg;
	if (++s->calls == s->fail_at)
		return ENOMEM;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof s->text - n, "%s%s", n ? "&" : "", name);
	return 0;
}

static const char *number(long long n)
{
	static struct said s;
	memset(&s, 0, sizeof s);
	assert_int_equal(apps_say_number(n, said_h, &s), 0);
	return s.text;
}

static void test_saynumber_words(void **state)
{
	assert_string_equal(number(0), "digits/0");
	assert_string_equal(number(7), "digits/7");
	assert_string_equal(number(13), "digits/13");
	assert_string_equal(number(20), "digits/20");
	assert_string_equal(number(21), "digits/20&digits/1");
	assert_string_equal(number(99), "digits/90&digits/9");
	assert_string_equal(number(100), "digits/1&digits/hundred");
	assert_string_equal(number(105), "digits/1&digits/hundred&digits/5");
	assert_string_equal(number(119), "digits/1&digits/hundred&digits/19");
	assert_string_equal(number(999), "digits/9&digits/hundred&digits/90&digits/9");
	assert_string_equal(number(1000), "digits/1&digits/thousand");
	assert_string_equal(number(2005), "digits/2&digits/thousand&digits/5");
	assert_string_equal(number(21500),
			    "digits/20&digits/1&digits/thousand&digits/5&digits/hundred");
	assert_string_equal(number(1000000), "digits/1&digits/million");
	assert_string_equal(number(3000021), "digits/3&digits/million&digits/20&digits/1");
	assert_string_equal(number(999999999),
			    "digits/9&digits/hundred&digits/90&digits/9&digits/million&"
			    "digits/9&digits/hundred&digits/90&digits/9&digits/thousand&"
			    "digits/9&digits/hundred&digits/90&digits/9");
	assert_string_equal(number(-42), "digits/minus&digits/40&digits/2");
}

static void test_saynumber_limits(void **state)
{
	struct said s = {0};
	assert_int_equal(apps_say_number(1000000000LL, said_h, &s), ERANGE);
	assert_int_equal(apps_say_number(-1000000000LL, said_h, &s), ERANGE);
	assert_int_equal(s.calls, 0);
	/* The speaker's own error stops it and comes back. */
	s = (struct said){.fail_at = 2};
	assert_int_equal(apps_say_number(1234, said_h, &s), ENOMEM);
	assert_int_equal(s.calls, 2);
}

/* ---- the menu -------------------------------------------------------------------------------- */

static void list_of(struct vm_list *l, size_t n)
{
	memset(l, 0, sizeof *l);
	for (size_t i = 0; i < n; i++) {
		struct pbx_vm_msg m = {.id = (int64_t)i + 10, .folder = PBX_VM_INBOX};
		assert_int_equal(vm_list_add(l, &m), 0);
	}
}

static void test_menu_moves(void **state)
{
	struct vm_list l;
	list_of(&l, 3);
	assert_int_equal(vm_list_key(&l, '4'), VM_ACT_NOMORE); /* nothing before the first */
	assert_int_equal(l.cur, 0);
	assert_int_equal(vm_list_key(&l, '6'), VM_ACT_PLAY);
	assert_int_equal(vm_list_key(&l, '6'), VM_ACT_PLAY);
	assert_int_equal(l.cur, 2);
	assert_int_equal(vm_list_key(&l, '6'), VM_ACT_NOMORE); /* nothing after the last */
	assert_int_equal(l.cur, 2);
	assert_int_equal(vm_list_key(&l, '4'), VM_ACT_PLAY);
	assert_int_equal(l.cur, 1);
	assert_int_equal(vm_list_key(&l, '1'), VM_ACT_PLAY);
	assert_int_equal(l.cur, 1);
	assert_int_equal(vm_list_key(&l, '3'), VM_ACT_ENVELOPE);
	assert_int_equal(vm_list_key(&l, '8'), VM_ACT_FORWARD);
	assert_int_equal(vm_list_key(&l, '9'), VM_ACT_SAVE);
	assert_int_equal(vm_list_key(&l, '2'), VM_ACT_FOLDER);
	assert_int_equal(vm_list_key(&l, '0'), VM_ACT_OPTIONS);
	assert_int_equal(vm_list_key(&l, '*'), VM_ACT_HELP);
	assert_int_equal(vm_list_key(&l, '#'), VM_ACT_EXIT);
	assert_int_equal(vm_list_key(&l, '5'), VM_ACT_INVALID);
	assert_int_equal(vm_list_key(&l, 'A'), VM_ACT_INVALID);
	assert_int_equal(l.cur, 1);
	vm_list_free(&l);
}

static void test_menu_delete_and_fate(void **state)
{
	struct vm_list l;
	list_of(&l, 2);
	/* Not heard, not marked: kept as it is. */
	assert_int_equal(vm_entry_fate(&l.v[0]), VM_FATE_KEEP);
	l.v[0].heard = true;
	assert_int_equal(vm_entry_fate(&l.v[0]), VM_FATE_OLD);
	assert_int_equal(vm_list_key(&l, '7'), VM_ACT_DELETED);
	assert_true(l.v[0].deleted);
	assert_int_equal(vm_entry_fate(&l.v[0]), VM_FATE_DELETE);
	assert_int_equal(vm_list_key(&l, '7'), VM_ACT_UNDELETED);
	assert_int_equal(vm_entry_fate(&l.v[0]), VM_FATE_OLD);
	/* Saved to a folder already: not moved again; heard in Old: stays. */
	l.v[0].saved = true;
	assert_int_equal(vm_entry_fate(&l.v[0]), VM_FATE_KEEP);
	l.v[1].heard = true;
	l.v[1].m.folder = PBX_VM_OLD;
	assert_int_equal(vm_entry_fate(&l.v[1]), VM_FATE_KEEP);
	/* Urgent ones are new until heard, as INBOX ones. */
	l.v[1].m.folder = PBX_VM_URGENT;
	assert_int_equal(vm_entry_fate(&l.v[1]), VM_FATE_OLD);
	vm_list_free(&l);
}

static void test_menu_empty(void **state)
{
	struct vm_list l = {0};
	for (const char *k = "1346789"; *k; k++)
		assert_int_equal(vm_list_key(&l, *k), VM_ACT_NOMSGS);
	assert_int_equal(vm_list_key(&l, '0'), VM_ACT_OPTIONS);
	assert_int_equal(vm_list_key(&l, '2'), VM_ACT_FOLDER);
	assert_int_equal(vm_list_key(&l, '#'), VM_ACT_EXIT);
	assert_int_equal(vm_list_key(&l, '*'), VM_ACT_HELP);
	vm_list_free(&l);
}

static void test_views(void **state)
{
	struct pbx_vm_msg m = {.folder = PBX_VM_INBOX};
	assert_true(vm_view_has(VM_VIEW_NEW, &m));
	assert_false(vm_view_has(VM_VIEW_OLD, &m));
	m.read = true; /* heard, not yet moved: old, as the lamp counts it */
	assert_false(vm_view_has(VM_VIEW_NEW, &m));
	assert_true(vm_view_has(VM_VIEW_OLD, &m));
	m = (struct pbx_vm_msg){.folder = PBX_VM_URGENT};
	assert_true(vm_view_has(VM_VIEW_NEW, &m));
	m.folder = PBX_VM_FAMILY;
	assert_true(vm_view_has(VM_VIEW_FAMILY, &m));
	assert_false(vm_view_has(VM_VIEW_NEW, &m));
	assert_false(vm_view_has(VM_VIEW_OLD, &m));
	assert_int_equal(vm_view_of_key('0'), VM_VIEW_NEW);
	assert_int_equal(vm_view_of_key('4'), VM_VIEW_FRIENDS);
	assert_int_equal(vm_view_of_key('5'), -1);
	assert_int_equal(vm_view_of_key('*'), -1);
	assert_int_equal(vm_view_folder(VM_VIEW_NEW), PBX_VM_INBOX);
	assert_int_equal(vm_view_folder(VM_VIEW_OLD), PBX_VM_OLD);
	assert_int_equal(vm_view_folder(VM_VIEW_WORK), PBX_VM_WORK);
	assert_int_equal(vm_view_folder(9), -1);
	assert_string_equal(vm_view_prompt(VM_VIEW_FRIENDS), "vm-Friends");
}

/* ---- phrases --------------------------------------------------------------------------------- */

static const char *counts(unsigned n, unsigned o)
{
	static struct said s;
	memset(&s, 0, sizeof s);
	assert_int_equal(vm_say_counts(n, o, said_h, &s), 0);
	return s.text;
}

static void test_say_counts(void **state)
{
	assert_string_equal(counts(0, 0), "vm-youhave&vm-no&vm-messages");
	assert_string_equal(counts(1, 0), "vm-youhave&digits/1&vm-INBOX&vm-message");
	assert_string_equal(counts(0, 2), "vm-youhave&digits/2&vm-Old&vm-messages");
	assert_string_equal(counts(21, 1), "vm-youhave&digits/20&digits/1&vm-INBOX&vm-messages&"
					   "vm-and&digits/1&vm-Old&vm-message");

	struct said s = {0};
	assert_int_equal(vm_say_view_count(VM_VIEW_WORK, 0, said_h, &s), 0);
	assert_string_equal(s.text, "vm-youhave&vm-no&vm-Work&vm-messages");
	s = (struct said){0};
	assert_int_equal(vm_say_view_count(VM_VIEW_FAMILY, 1, said_h, &s), 0);
	assert_string_equal(s.text, "vm-youhave&digits/1&vm-Family&vm-message");
	s = (struct said){.fail_at = 1};
	assert_int_equal(vm_say_counts(3, 3, said_h, &s), ENOMEM);
}

static void test_say_header(void **state)
{
	struct vm_list l;
	struct said s = {0};
	list_of(&l, 12);
	l.cur = 11;
	assert_int_equal(vm_say_header(&l, said_h, &s), 0);
	assert_string_equal(s.text, "vm-message&digits/12");
	l.cur = 0;
	l.v[0].m.urgent = true;
	s = (struct said){0};
	assert_int_equal(vm_say_header(&l, said_h, &s), 0);
	assert_string_equal(s.text, "vm-Urgent&vm-message&digits/1");
	vm_list_free(&l);
}

static const char *envelope(const char *cid, int mon, int mday, int hour, int min)
{
	static struct said s;
	struct pbx_vm_msg m = {0};
	struct tm tm = {.tm_mon = mon, .tm_mday = mday, .tm_hour = hour, .tm_min = min};
	snprintf(m.cid_num, sizeof m.cid_num, "%s", cid);
	memset(&s, 0, sizeof s);
	assert_int_equal(vm_say_envelope(&m, &tm, said_h, &s), 0);
	return s.text;
}

static void test_say_envelope(void **state)
{
	assert_string_equal(envelope("1001", 2, 21, 15, 5),
			    "vm-received&digits/mon-2&digits/20&digits/1&vm-at&digits/3&digits/oh&"
			    "digits/5&digits/p-m&vm-from&digits/1&digits/0&digits/0&digits/1");
	/* Midnight and noon are twelve; a whole hour has no minutes. */
	assert_string_equal(envelope("+1 (555) 0", 0, 1, 0, 0),
			    "vm-received&digits/mon-0&digits/1&vm-at&digits/12&digits/a-m&"
			    "vm-from&digits/1&digits/5&digits/5&digits/5&digits/0");
	assert_string_equal(envelope("", 11, 31, 12, 45),
			    "vm-received&digits/mon-11&digits/30&digits/1&vm-at&digits/12&"
			    "digits/40&digits/5&digits/p-m&vm-from&vm-unknowncaller");
	assert_string_equal(envelope("anonymous", 5, 9, 23, 59),
			    "vm-received&digits/mon-5&digits/9&vm-at&digits/11&digits/50&"
			    "digits/9&digits/p-m&vm-from&vm-unknowncaller");
}

static void test_pin_and_escape(void **state)
{
	assert_true(vm_pin_equal("1234", "1234"));
	assert_false(vm_pin_equal("1235", "1234"));
	assert_false(vm_pin_equal("123", "1234"));
	assert_false(vm_pin_equal("12345", "1234"));
	assert_false(vm_pin_equal("", "1234"));
	assert_false(vm_pin_equal("", "")); /* no PIN set never opens */

	char out[32];
	vm_log_escape(out, sizeof out, "1001");
	assert_string_equal(out, "1001");
	vm_log_escape(out, sizeof out, "SIP/1001-0000000a");
	assert_string_equal(out, "SIP/1001-0000000a");
	vm_log_escape(out, sizeof out, "");
	assert_string_equal(out, "-");
	vm_log_escape(out, sizeof out, "a b=c\nSECURITY");
	assert_string_equal(out, "a%20b%3Dc%0ASECURITY");
	vm_log_escape(out, 8, "ab cdef");
	assert_string_equal(out, "ab%20cd"); /* cut whole, never half an escape */
	vm_log_escape(out, 5, "abc d");
	assert_string_equal(out, "abc");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_saynumber_words), cmocka_unit_test(test_saynumber_limits),
	cmocka_unit_test(test_menu_moves),      cmocka_unit_test(test_menu_delete_and_fate),
	cmocka_unit_test(test_menu_empty),      cmocka_unit_test(test_views),
	cmocka_unit_test(test_say_counts),      cmocka_unit_test(test_say_header),
	cmocka_unit_test(test_say_envelope),    cmocka_unit_test(test_pin_and_escape),
};

UNIT_GROUP(vm_menu, tests, NULL, NULL);
