/**
 * @file test_conf_opts.c  ConfBridge's options: the Lua table form, MeetMe letters, refusals
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "../../apps/conf.h"
#include "unit.h"

static void test_defaults(void **state)
{
	(void)state;
	struct conf_opts o;
	conf_opts_default(&o);
	assert_true(o.announce_count && o.announce_only_user && o.moh_when_empty && o.menu);
	assert_false(o.admin || o.marked || o.muted || o.quiet || o.wait_marked || o.end_marked);
	char why[128] = "";
	assert_int_equal(conf_opts_parse("", &o, why, sizeof why), 0);
	assert_int_equal(conf_opts_parse(NULL, &o, why, sizeof why), 0);
	assert_false(o.admin);
}

static void test_table_form(void **state)
{
	(void)state;
	struct conf_opts o;
	char why[128] = "";
	conf_opts_default(&o);
	assert_int_equal(conf_opts_parse("admin=yes;muted=yes;wait_marked=no;end_marked=true;"
					 "quiet=no;moh=jazz;talk_volume=-2;listen_volume=3;"
					 "pin=0042;max_members=20;talkers=5;rate=48000;record=1;"
					 "announce_user_count=no;menu=off",
					 &o, why, sizeof why),
			 0);
	assert_true(o.admin && o.marked && o.muted && o.end_marked && o.record);
	assert_false(o.wait_marked || o.quiet || o.announce_count || o.menu);
	assert_string_equal(o.moh, "jazz");
	assert_int_equal(o.talk_volume, -2);
	assert_int_equal(o.listen_volume, 3);
	assert_string_equal(o.pin, "0042");
	assert_int_equal(o.max_members, 20);
	assert_int_equal(o.talkers, 5);
	assert_int_equal(o.rate, 48000);
	/* A bare key is true, as in Asterisk's profiles written "quiet=yes". */
	conf_opts_default(&o);
	assert_int_equal(conf_opts_parse("quiet;rate=auto", &o, why, sizeof why), 0);
	assert_true(o.quiet);
	assert_int_equal(o.rate, 0);
}

static void test_letters(void **state)
{
	(void)state;
	struct conf_opts o;
	char why[128] = "";
	conf_opts_default(&o);
	assert_int_equal(conf_opts_parse("AmwxqM(jazz)r", &o, why, sizeof why), 0);
	assert_true(o.admin && o.marked && o.muted && o.wait_marked && o.end_marked && o.quiet &&
		    o.record);
	assert_string_equal(o.moh, "jazz");
	conf_opts_default(&o);
	assert_int_equal(conf_opts_parse("a", &o, why, sizeof why), 0);
	assert_true(o.admin && o.marked); /* an admin leads the room */
}

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *in, *why;
	} bad[] = {
		{"admin=maybe", "option 'admin' = 'maybe': yes or no expected"},
		{"talk_volume=5", "option 'talk_volume' = '5': a step from -4 to 4 expected"},
		{"pin=12a", "option 'pin' = '12a': up to 16 digits expected"},
		{"pin=12345678901234567",
		 "option 'pin' = '12345678901234567': up to 16 digits expected"},
		{"moh=../etc", "option 'moh' = '../etc': not a hold-music class name"},
		{"rate=11025", "option 'rate' = '11025': 8000, 16000, 48000 or auto expected"},
		{"talkers=0", "option 'talkers' = '0': 1 to 16 expected"},
		{"max_members=-1", "option 'max_members' = '-1': 0 to 10000 expected"},
		{"colour=red", "unknown option 'colour'"},
		{"Z", "unknown option letter 'Z'"},
		{"M(jazz", "option M: M(class) expected"},
		{"M(..)", "option M: '..' is not a hold-music class name"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct conf_opts o;
		char why[128] = "";
		conf_opts_default(&o);
		assert_int_equal(conf_opts_parse(bad[i].in, &o, why, sizeof why), EINVAL);
		assert_string_equal(why, bad[i].why);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_defaults),
	cmocka_unit_test(test_table_form),
	cmocka_unit_test(test_letters),
	cmocka_unit_test(test_refused),
};

UNIT_GROUP(conf_opts, tests, NULL, NULL);
