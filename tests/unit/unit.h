/**
 * @file unit.h  One cmocka binary; each test file adds its group with UNIT_GROUP
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   static const struct CMUnitTest tests[] = { cmocka_unit_test(test_x), };
 *   UNIT_GROUP(sip_msg, tests, NULL, NULL);
 *
 * The descriptor goes into a linker section that unit_main.c walks, so a
 * new test file needs no edit anywhere else.
 */
#ifndef UNIT_H
#define UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

struct unit_group {
	const char *name;
	const struct CMUnitTest *tests;
	size_t count;
	CMFixtureFunction setup, teardown;
};

#define UNIT_GROUP(gname, tarray, gsetup, gteardown)                                      \
	static const struct unit_group unit_group_##gname = {                             \
		#gname, tarray, sizeof(tarray) / sizeof((tarray)[0]), gsetup, gteardown}; \
	__attribute__((used, section("unit_groups"))) static const struct unit_group      \
		*const unit_group_ptr_##gname = &unit_group_##gname

#endif
