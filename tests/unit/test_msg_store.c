/**
 * @file test_msg_store.c  Offline message store: order, limit, bodies, del/failed/purge/expire, reopen
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The store reaches the directory through pbx_dir(), so each test opens a
 * directory on a fresh file and hands it to the core (pbx__core_set_dir).
 * Without a config the store uses the section's defaults: 100 per user.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pbx/directory.h"
#include "pbx/msg_store.h"
#include "dir_fixture.h"
#include "unit.h"

static int setup(void **state)
{
	return unit_dir_setup(state, "msgs");
}

static int teardown(void **state)
{
	return unit_dir_teardown(state);
}

static void reopen(void **state)
{
	pbx__core_set_dir(NULL);
	pbx_dir_close(*state);
	struct pbx_dir *d;
	assert_int_equal(pbx_dir_open(&d, dbpath), 0);
	*state = d;
	pbx__core_set_dir(d);
}

static int64_t add_text(const char *target, const char *sender, const char *text)
{
	int64_t id = 0;
	assert_int_equal(pbx_msg_store_add(target, sender, "text/plain", text, strlen(text), &id),
			 0);
	assert_true(id > 0);
	return id;
}

static unsigned count(const char *target)
{
	unsigned n = 99999;
	assert_int_equal(pbx_msg_store_count(target, &n), 0);
	return n;
}

/* Bodies as text ("to:body,"), in the order the store walks them. */
struct walk {
	char seen[512];
	int stop_after;
};

static int walk_one(const struct pbx_msg *m, void *arg)
{
	struct walk *w = arg;
	size_t at = strlen(w->seen);
	snprintf(w->seen + at, sizeof w->seen - at, "%s:%.*s,", m->target, (int)m->len,
		 (const char *)m->body);
	return --w->stop_after == 0;
}

static const char *walk(const char *target)
{
	static struct walk w;
	memset(&w, 0, sizeof w);
	w.stop_after = -1;
	assert_int_equal(pbx_msg_store_each(target, walk_one, &w), 0);
	return w.seen;
}

/* Copy the first message into @p arg (a struct pbx_msg the caller clears). */
static int first(const struct pbx_msg *m, void *arg)
{
	struct pbx_msg *out = arg;
	*out = *m;
	out->body = malloc(m->len ? m->len : 1);
	memcpy(out->body, m->body, m->len);
	return 1;
}

static void test_add_each_order(void **state)
{
	int64_t before = (int64_t)time(NULL);
	int64_t a = add_text("1001", "1002", "one");
	int64_t b = add_text("1002", "sip:bob@example.com", "two");
	int64_t c = add_text("1001", "1003", "three");
	assert_true(a < b && b < c);
	assert_string_equal(walk("1001"), "1001:one,1001:three,");
	assert_string_equal(walk("1002"), "1002:two,");
	assert_string_equal(walk(NULL), "1001:one,1002:two,1001:three,");
	assert_string_equal(walk("1004"), "");
	assert_string_equal(walk("bad ext"), "");
	assert_int_equal(count("1001"), 2);
	assert_int_equal(count("1002"), 1);
	assert_int_equal(count("1004"), 0);

	/* A stop from the callback ends the walk. */
	struct walk some = {"", 2};
	assert_int_equal(pbx_msg_store_each(NULL, walk_one, &some), 0);
	assert_string_equal(some.seen, "1001:one,1002:two,");

	/* Every field comes back. */
	struct pbx_msg got = {0};
	assert_int_equal(pbx_msg_store_each("1002", first, &got), 0);
	assert_int_equal(got.id, b);
	assert_string_equal(got.target, "1002");
	assert_string_equal(got.sender, "sip:bob@example.com");
	assert_string_equal(got.type, "text/plain");
	assert_true(got.created >= before && got.created <= (int64_t)time(NULL));
	assert_int_equal(got.attempts, 0);
	assert_int_equal(got.next_try, 0);
	assert_int_equal(got.len, 3);
	assert_memory_equal(got.body, "two", 3);
	pbx_msg_clear(&got);
	pbx_msg_clear(&got); /* twice is fine */
	assert_null(got.body);
}

static void test_per_user_limit(void **state)
{
	/* The default limit: 100 per user; the 101st is refused, others are not affected. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(pbx_msg_store_add("1001", "1002", "text/plain", "x", 1, NULL), 0);
	assert_int_equal(pbx_msg_store_add("1001", "1002", "text/plain", "x", 1, NULL), ENOSPC);
	assert_int_equal(count("1001"), 100);
	add_text("1002", "1001", "room left");
	/* One delivered makes room for one. */
	struct pbx_msg m = {0};
	assert_int_equal(pbx_msg_store_each("1001", first, &m), 0);
	assert_int_equal(pbx_msg_store_del(m.id), 0);
	pbx_msg_clear(&m);
	assert_int_equal(pbx_msg_store_add("1001", "1002", "text/plain", "y", 1, NULL), 0);
	assert_int_equal(pbx_msg_store_add("1001", "1002", "text/plain", "z", 1, NULL), ENOSPC);
}

static void test_binary_body(void **state)
{
	uint8_t body[4096];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (uint8_t)(i * 7);
	body[0] = 0;
	body[1] = 0;
	body[100] = 0;
	int64_t id;
	assert_int_equal(pbx_msg_store_add("1001", "1002", "application/octet-stream", body,
					   sizeof body, &id),
			 0);
	struct pbx_msg m = {0};
	assert_int_equal(pbx_msg_store_each("1001", first, &m), 0);
	assert_int_equal(m.id, id);
	assert_int_equal(m.len, sizeof body);
	assert_memory_equal(m.body, body, sizeof body);
	assert_string_equal(m.type, "application/octet-stream");
	pbx_msg_clear(&m);

	/* An empty body, and the largest one. */
	assert_int_equal(pbx_msg_store_add("1002", "1001", "text/plain", NULL, 0, &id), 0);
	assert_int_equal(pbx_msg_store_each("1002", first, &m), 0);
	assert_int_equal(m.len, 0);
	assert_non_null(m.body);
	pbx_msg_clear(&m);
	uint8_t *big = calloc(1, PBX_MSG_BODY_MAX + 1);
	assert_int_equal(
		pbx_msg_store_add("1003", "1001", "text/plain", big, PBX_MSG_BODY_MAX, NULL), 0);
	assert_int_equal(
		pbx_msg_store_add("1003", "1001", "text/plain", big, PBX_MSG_BODY_MAX + 1, NULL),
		EINVAL);
	free(big);
	assert_int_equal(count("1003"), 1);
}

static void test_refusals(void **state)
{
	const char *field = NULL;
	struct {
		const char *target, *sender, *type, *field;
	} bad[] = {
		{"", "1002", "text/plain", "target"},
		{"10 01", "1002", "text/plain", "target"},
		{"_1001", "1002", "text/plain", "target"},
		{"123456789012345678901234567890123", "1002", "text/plain", "target"},
		{NULL, "1002", "text/plain", "target"},
		{"1001", "", "text/plain", "sender"},
		{"1001", "bob smith", "text/plain", "sender"},
		{"1001", "sip:", "text/plain", "sender"},
		{"1001", "sip:a b@c", "text/plain", "sender"},
		{"1001", "sip:a@b\r\nX: y", "text/plain", "sender"},
		{"1001", NULL, "text/plain", "sender"},
		{"1001", "1002", "", "type"},
		{"1001", "1002", "text", "type"},
		{"1001", "1002", "/plain", "type"},
		{"1001", "1002", "text/", "type"},
		{"1001", "1002", "text/pl ain", "type"},
		{"1001", "1002", "text/plain\r\n", "type"},
		{"1001", "1002", NULL, "type"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		field = NULL;
		assert_non_null(pbx_msg_check(bad[i].target, bad[i].sender, bad[i].type, &field));
		assert_string_equal(field, bad[i].field);
		assert_int_equal(
			pbx_msg_store_add(bad[i].target, bad[i].sender, bad[i].type, "x", 1, NULL),
			EINVAL);
	}
	char long_sender[300] = "sip:";
	memset(long_sender + 4, 'a', 252); /* 256 characters */
	assert_int_equal(pbx_msg_store_add("1001", long_sender, "text/plain", "x", 1, NULL),
			 EINVAL);
	char long_type[200] = "text/";
	memset(long_type + 5, 'a', 123); /* 128 characters */
	assert_int_equal(pbx_msg_store_add("1001", "1002", long_type, "x", 1, NULL), EINVAL);
	assert_int_equal(pbx_msg_store_add("1001", "1002", "text/plain", NULL, 1, NULL), EINVAL);
	assert_string_equal(walk(NULL), "");

	/* The limits themselves, and the usual forms, are fine. */
	long_sender[255] = '\0';
	long_type[127] = '\0';
	assert_int_equal(pbx_msg_store_add("1001", long_sender, long_type, "x", 1, NULL), 0);
	assert_int_equal(pbx_msg_store_add("12345678901234567890123456789012", "SIPS:a@b",
					   "text/plain;charset=UTF-8", "x", 1, NULL),
			 0);
	assert_int_equal(pbx_msg_store_add("+49.30-1_2", "sip:+4930123@gw.example.com;user=phone",
					   "message/cpim", "x", 1, NULL),
			 0);
	assert_int_equal(count("1001"), 1);
}

static void test_del_failed(void **state)
{
	int64_t a = add_text("1001", "1002", "one");
	int64_t b = add_text("1001", "1002", "two");
	assert_int_equal(pbx_msg_store_failed(a, 1234567), 0);
	assert_int_equal(pbx_msg_store_failed(a, 2345678), 0);
	struct pbx_msg m = {0};
	assert_int_equal(pbx_msg_store_each("1001", first, &m), 0);
	assert_int_equal(m.id, a);
	assert_int_equal(m.attempts, 2);
	assert_int_equal(m.next_try, 2345678);
	pbx_msg_clear(&m);
	assert_int_equal(pbx_msg_store_del(a), 0);
	assert_int_equal(pbx_msg_store_del(a), ENOENT);
	assert_int_equal(pbx_msg_store_failed(a, 1), ENOENT);
	assert_int_equal(pbx_msg_store_del(9999), ENOENT);
	assert_string_equal(walk("1001"), "1001:two,");
	assert_int_equal(pbx_msg_store_del(b), 0);
	assert_int_equal(count("1001"), 0);
}

static int del_each(const struct pbx_msg *m, void *arg)
{
	/* The callback may use the store: delete what it was given. */
	assert_int_equal(pbx_msg_store_del(m->id), 0);
	(*(int *)arg)++;
	return 0;
}

static void test_purge_and_delete_while_walking(void **state)
{
	add_text("1001", "1002", "a");
	add_text("1002", "1001", "b");
	add_text("1001", "1003", "c");
	unsigned n = 99;
	assert_int_equal(pbx_msg_store_purge("1001", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pbx_msg_store_purge("1001", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pbx_msg_store_purge("not valid!", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pbx_msg_store_purge("1003", NULL), 0);
	assert_string_equal(walk(NULL), "1002:b,");

	add_text("1002", "1001", "c");
	int seen = 0;
	assert_int_equal(pbx_msg_store_each("1002", del_each, &seen), 0);
	assert_int_equal(seen, 2);
	assert_int_equal(count("1002"), 0);
}

static void test_expire(void **state)
{
	int64_t old = add_text("1001", "1002", "old");
	add_text("1001", "1002", "new");
	/* Age the first by hand: the store stamps the time of the add. */
	sqlite3 *db = pbx__dir_db(*state);
	char sql[96];
	snprintf(sql, sizeof sql, "UPDATE messages SET created=created-86400*8 WHERE id=%lld",
		 (long long)old);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	unsigned n = 99;
	int64_t week_ago = (int64_t)time(NULL) - 7 * 86400;
	assert_int_equal(pbx_msg_store_expire(week_ago, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(walk(NULL), "1001:new,");
	assert_int_equal(pbx_msg_store_expire(week_ago, &n), 0);
	assert_int_equal(n, 0);
	/* "Older than": a message of second T stays for T, goes for T + 1. */
	struct pbx_msg m = {0};
	assert_int_equal(pbx_msg_store_each("1001", first, &m), 0);
	assert_int_equal(pbx_msg_store_expire(m.created, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pbx_msg_store_expire(m.created + 1, &n), 0);
	assert_int_equal(n, 1);
	pbx_msg_clear(&m);
	assert_int_equal(count("1001"), 0);
}

static void test_values_are_data(void **state)
{
	/* Prepared statements: text that would break spliced SQL is only text. */
	const char *evil = "x'); DROP TABLE messages; --";
	int64_t id;
	assert_int_equal(pbx_msg_store_add("1001", "sip:'--@a.b", "text/x-evil';--", evil,
					   strlen(evil), &id),
			 0);
	struct pbx_msg m = {0};
	assert_int_equal(pbx_msg_store_each("1001", first, &m), 0);
	assert_int_equal(m.len, strlen(evil));
	assert_memory_equal(m.body, evil, strlen(evil));
	assert_string_equal(m.sender, "sip:'--@a.b");
	assert_string_equal(m.type, "text/x-evil';--");
	pbx_msg_clear(&m);
	assert_int_equal(count("1001"), 1);
	/* A target that is a pattern of LIKE or GLOB matches only itself. */
	add_text("1.01", "1002", "dot");
	assert_int_equal(count("1.01"), 1);
	assert_int_equal(count("1001"), 1);
}

static void test_without_directory(void **state)
{
	unsigned n;
	int seen = 0;
	pbx__core_set_dir(NULL);
	assert_int_equal(pbx_msg_store_add("1001", "1002", "text/plain", "x", 1, NULL), EIO);
	assert_int_equal(pbx_msg_store_each(NULL, del_each, &seen), EIO);
	assert_int_equal(pbx_msg_store_del(1), EIO);
	assert_int_equal(pbx_msg_store_failed(1, 0), EIO);
	assert_int_equal(pbx_msg_store_purge("1001", &n), EIO);
	assert_int_equal(pbx_msg_store_expire(0, &n), EIO);
	assert_int_equal(pbx_msg_store_count("1001", &n), EIO);
	pbx__core_set_dir(*state);
}

static void test_kept_across_reopen(void **state)
{
	static const uint8_t bin[] = {0, 1, 0, 0xff, 0};
	add_text("1001", "1002", "first");
	int64_t id;
	assert_int_equal(
		pbx_msg_store_add("1001", "sip:a@b", "application/x-bin", bin, sizeof bin, &id), 0);
	assert_int_equal(pbx_msg_store_failed(id, 42), 0);
	reopen(state);
	assert_int_equal(count("1001"), 2);
	struct walk w = {"", 1};
	assert_int_equal(pbx_msg_store_each("1001", walk_one, &w), 0);
	assert_string_equal(w.seen, "1001:first,");
	assert_int_equal(pbx_msg_store_del(id - 1), 0);
	struct pbx_msg m = {0};
	assert_int_equal(pbx_msg_store_each("1001", first, &m), 0);
	assert_int_equal(m.id, id);
	assert_int_equal(m.len, sizeof bin);
	assert_memory_equal(m.body, bin, sizeof bin);
	assert_int_equal(m.attempts, 1);
	assert_int_equal(m.next_try, 42);
	pbx_msg_clear(&m);
	/* New ids keep rising after the reopen: the order of arrival holds. */
	int64_t later = add_text("1001", "1002", "later");
	assert_true(later > id);
}

static void test_migration_from_version_6(void **state)
{
	/* A directory made before messages existed gains the table at the next open. */
	sqlite3 *db;
	pbx__core_set_dir(NULL);
	pbx_dir_close(*state);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "ALTER TABLE users DROP COLUMN msg_context; DROP TABLE messages; "
			     "PRAGMA user_version=6",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	struct pbx_dir *d;
	assert_int_equal(pbx_dir_open(&d, dbpath), 0);
	*state = d;
	pbx__core_set_dir(d);
	add_text("1001", "1002", "hello");
	assert_int_equal(count("1001"), 1);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_add_each_order, setup, teardown),
	cmocka_unit_test_setup_teardown(test_per_user_limit, setup, teardown),
	cmocka_unit_test_setup_teardown(test_binary_body, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	cmocka_unit_test_setup_teardown(test_del_failed, setup, teardown),
	cmocka_unit_test_setup_teardown(test_purge_and_delete_while_walking, setup, teardown),
	cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	cmocka_unit_test_setup_teardown(test_values_are_data, setup, teardown),
	cmocka_unit_test_setup_teardown(test_without_directory, setup, teardown),
	cmocka_unit_test_setup_teardown(test_kept_across_reopen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_migration_from_version_6, setup, teardown),
};

UNIT_GROUP(msg_store, tests, NULL, NULL);
