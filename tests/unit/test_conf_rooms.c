/**
 * @file test_conf_rooms.c  Conference room store: round trip, replace, refusals, order, migration
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The store reaches the directory through pbx_dir(), so each test opens a
 * directory on a fresh file and hands it to the core (pbx__core_set_dir).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pbx/conf_rooms.h"
#include "pbx/directory.h"
#include "dir_fixture.h"
#include "unit.h"

static int setup(void **state)
{
	return unit_dir_setup(state, "rooms");
}

static int teardown(void **state)
{
	return unit_dir_teardown(state);
}

static struct pbx_conf_room room(const char *number)
{
	struct pbx_conf_room r = {0};
	snprintf(r.number, sizeof r.number, "%s", number);
	return r;
}

static int count(const struct pbx_conf_room *r, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int rooms(void)
{
	int n = 0;
	assert_int_equal(pbx_conf_room_each(count, &n), 0);
	return n;
}

static void test_round_trip(void **state)
{
	struct pbx_conf_room r = room("800"), got;
	snprintf(r.pin, sizeof r.pin, "1234");
	snprintf(r.admin_pin, sizeof r.admin_pin, "9876543210123456");
	r.max_members = 10;
	r.record = true;
	snprintf(r.moh, sizeof r.moh, "jazz");
	assert_int_equal(pbx_conf_room_put(&r), 0);
	memset(&got, 0x55, sizeof got);
	assert_int_equal(pbx_conf_room_get("800", &got), 0);
	assert_string_equal(got.number, "800");
	assert_string_equal(got.pin, "1234");
	assert_string_equal(got.admin_pin, "9876543210123456");
	assert_int_equal(got.max_members, 10);
	assert_true(got.record);
	assert_string_equal(got.moh, "jazz");

	/* The defaults: no PINs, no limit, no recording, the default music. */
	struct pbx_conf_room bare = room("conf-A_1");
	assert_int_equal(pbx_conf_room_put(&bare), 0);
	assert_int_equal(pbx_conf_room_get("conf-A_1", &got), 0);
	assert_string_equal(got.pin, "");
	assert_string_equal(got.admin_pin, "");
	assert_int_equal(got.max_members, 0);
	assert_false(got.record);
	assert_string_equal(got.moh, "");

	assert_int_equal(pbx_conf_room_get("801", &got), ENOENT);
	assert_int_equal(pbx_conf_room_get("", &got), EINVAL);
	assert_int_equal(pbx_conf_room_get("8 0", &got), EINVAL);
	assert_int_equal(pbx_conf_room_get("123456789012345678901234567890123", &got), EINVAL);
}

static void test_put_replaces(void **state)
{
	struct pbx_conf_room r = room("800"), got;
	snprintf(r.pin, sizeof r.pin, "1234");
	r.record = true;
	r.max_members = 5;
	assert_int_equal(pbx_conf_room_put(&r), 0);
	/* Every field is replaced, those left at their defaults too. */
	struct pbx_conf_room again = room("800");
	snprintf(again.moh, sizeof again.moh, "default");
	assert_int_equal(pbx_conf_room_put(&again), 0);
	assert_int_equal(pbx_conf_room_get("800", &got), 0);
	assert_string_equal(got.pin, "");
	assert_false(got.record);
	assert_int_equal(got.max_members, 0);
	assert_string_equal(got.moh, "default");
	assert_int_equal(rooms(), 1);
}

/* @p r is refused: EINVAL, @p field named, and nothing written. */
static void refused(const struct pbx_conf_room *r, const char *field)
{
	const char *got = NULL;
	assert_non_null(pbx__conf_room_check(r, &got));
	assert_string_equal(got, field);
	assert_int_equal(pbx_conf_room_put(r), EINVAL);
	assert_int_equal(rooms(), 0);
}

static void test_refusals(void **state)
{
	const char *bad_numbers[] = {
		"",    "8 0",  "a/b",      "a.b",
		"80+", "x'--", "\xc3\xa4", "123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof bad_numbers / sizeof *bad_numbers; i++) {
		struct pbx_conf_room r = {0};
		/* Cut to the array, unterminated when too long, as a caller might pass it. */
		memcpy(r.number, bad_numbers[i],
		       strlen(bad_numbers[i]) < sizeof r.number ? strlen(bad_numbers[i]) + 1
								: sizeof r.number);
		refused(&r, "number");
	}
	struct pbx_conf_room r = room("800");
	snprintf(r.pin, sizeof r.pin, "12a4");
	refused(&r, "pin");
	memset(r.pin, '1', sizeof r.pin); /* 17 digits, no terminator */
	refused(&r, "pin");
	r = room("800");
	snprintf(r.admin_pin, sizeof r.admin_pin, " 1");
	refused(&r, "admin_pin");
	r = room("800");
	r.max_members = 10001;
	refused(&r, "max_members");
	r.max_members = ~0u;
	refused(&r, "max_members");
	const char *bad_moh[] = {"a/b", ".", "..", "/etc"};
	for (size_t i = 0; i < sizeof bad_moh / sizeof *bad_moh; i++) {
		r = room("800");
		snprintf(r.moh, sizeof r.moh, "%s", bad_moh[i]);
		refused(&r, "moh");
	}
	r = room("800");
	memset(r.moh, 'm', sizeof r.moh); /* 64 characters, no terminator */
	refused(&r, "moh");

	/* The limits themselves are fine. */
	r = room("12345678901234567890123456789012");
	snprintf(r.pin, sizeof r.pin, "1234567890123456");
	r.max_members = 10000;
	memset(r.moh, 'm', sizeof r.moh - 1);
	const char *field = NULL;
	assert_null(pbx__conf_room_check(&r, &field));
	assert_int_equal(pbx_conf_room_put(&r), 0);
}

static void test_del(void **state)
{
	struct pbx_conf_room r = room("800"), got;
	assert_int_equal(pbx_conf_room_put(&r), 0);
	assert_int_equal(pbx_conf_room_del("800"), 0);
	assert_int_equal(pbx_conf_room_get("800", &got), ENOENT);
	assert_int_equal(pbx_conf_room_del("800"), ENOENT);
	assert_int_equal(pbx_conf_room_del("no such"), ENOENT);
	assert_int_equal(pbx_conf_room_del(""), ENOENT);
}

struct walk {
	char seen[256];
	int stop_after;
};

static int walk_one(const struct pbx_conf_room *r, void *arg)
{
	struct walk *w = arg;
	struct pbx_conf_room again;
	/* The callback may use the store while the walk is on. */
	assert_int_equal(pbx_conf_room_get(r->number, &again), 0);
	strcat(w->seen, r->number);
	strcat(w->seen, ",");
	return --w->stop_after == 0;
}

static void test_each_order_and_stop(void **state)
{
	const char *numbers[] = {"8001", "801", "800", "80", "B", "A", "81"};
	for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
		struct pbx_conf_room r = room(numbers[i]);
		assert_int_equal(pbx_conf_room_put(&r), 0);
	}
	struct walk w = {"", -1};
	assert_int_equal(pbx_conf_room_each(walk_one, &w), 0);
	/* Shorter numbers first, then in order: 80 before 800 before 8001. */
	assert_string_equal(w.seen, "A,B,80,81,800,801,8001,");
	struct walk some = {"", 2};
	assert_int_equal(pbx_conf_room_each(walk_one, &some), 0);
	assert_string_equal(some.seen, "A,B,");
}

static void test_values_are_data(void **state)
{
	/* Prepared statements: text that would break spliced SQL is only a class name. */
	struct pbx_conf_room r = room("800"), got;
	snprintf(r.moh, sizeof r.moh, "x'); DROP TABLE conf_rooms; --");
	assert_int_equal(pbx_conf_room_put(&r), 0);
	assert_int_equal(pbx_conf_room_get("800", &got), 0);
	assert_string_equal(got.moh, "x'); DROP TABLE conf_rooms; --");
	assert_int_equal(rooms(), 1);
}

static void test_without_directory(void **state)
{
	struct pbx_conf_room r = room("800"), got;
	int n = 0;
	pbx__core_set_dir(NULL);
	assert_int_equal(pbx_conf_room_put(&r), EIO);
	assert_int_equal(pbx_conf_room_get("800", &got), EIO);
	assert_int_equal(pbx_conf_room_del("800"), EIO);
	assert_int_equal(pbx_conf_room_each(count, &n), EIO);
	pbx__core_set_dir(*state);
}

static void test_kept_across_reopen(void **state)
{
	struct pbx_conf_room r = room("800"), got;
	snprintf(r.pin, sizeof r.pin, "4321");
	assert_int_equal(pbx_conf_room_put(&r), 0);
	pbx__core_set_dir(NULL);
	pbx_dir_close(*state);
	struct pbx_dir *d;
	assert_int_equal(pbx_dir_open(&d, dbpath), 0);
	*state = d;
	pbx__core_set_dir(d);
	assert_int_equal(pbx_conf_room_get("800", &got), 0);
	assert_string_equal(got.pin, "4321");
}

static void test_migration_from_version_5(void **state)
{
	/* A directory made before rooms existed gains the table at the next open. */
	sqlite3 *db;
	pbx__core_set_dir(NULL);
	pbx_dir_close(*state);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "ALTER TABLE users DROP COLUMN msg_context; "
				      "DROP TABLE messages; DROP TABLE conf_rooms; "
				      "PRAGMA user_version=5",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct pbx_dir *d;
	assert_int_equal(pbx_dir_open(&d, dbpath), 0);
	*state = d;
	pbx__core_set_dir(d);
	struct pbx_conf_room r = room("800");
	assert_int_equal(pbx_conf_room_put(&r), 0);
	assert_int_equal(rooms(), 1);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	cmocka_unit_test_setup_teardown(test_put_replaces, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	cmocka_unit_test_setup_teardown(test_del, setup, teardown),
	cmocka_unit_test_setup_teardown(test_each_order_and_stop, setup, teardown),
	cmocka_unit_test_setup_teardown(test_values_are_data, setup, teardown),
	cmocka_unit_test_setup_teardown(test_without_directory, setup, teardown),
	cmocka_unit_test_setup_teardown(test_kept_across_reopen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_migration_from_version_5, setup, teardown),
};

UNIT_GROUP(conf_rooms, tests, NULL, NULL);
