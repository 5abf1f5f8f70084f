/**
 * @file test_directory.c  User directory: validation, CRUD, HA1, bindings, migration
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../pbx/core_priv.h"
#include "pbx/config.h"
#include "pbx/directory.h"
#include "unit.h"

static char dbpath[64];

static int setup(void **state)
{
	snprintf(dbpath, sizeof dbpath, "/tmp/pbx-unit-dir-%d.db", (int)getpid());
	unlink(dbpath);
	struct pbx_dir *d;
	if (pbx_dir_open(&d, dbpath))
		return -1;
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	char p[80];
	pbx_dir_close(*state);
	unlink(dbpath);
	snprintf(p, sizeof p, "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", dbpath);
	unlink(p);
	return 0;
}

static struct pbx_user make(const char *ext)
{
	struct pbx_user u = {.enabled = true, .srtp = PBX_SRTP_OPTIONAL};
	snprintf(u.ext, sizeof u.ext, "%s", ext);
	snprintf(u.context, sizeof u.context, "default");
	return u;
}

static void test_validation(void **state)
{
	assert_null(pbx_user_check_ext("1001"));
	assert_null(pbx_user_check_ext("alice.b-2+x"));
	assert_non_null(pbx_user_check_ext(""));
	assert_non_null(pbx_user_check_ext("a&b"));
	assert_non_null(pbx_user_check_ext("a b"));
	assert_non_null(pbx_user_check_ext("a/b"));
	assert_non_null(pbx_user_check_ext("a@b"));
	assert_non_null(pbx_user_check_ext("_1XXX"));
	assert_non_null(pbx_user_check_ext("123456789012345678901234567890123"));
	assert_null(pbx_user_check_password("s3cret"));
	assert_string_equal(pbx_user_check_password(""), "must not be empty");
	assert_non_null(pbx_user_check_password("12345"));
	assert_non_null(pbx_user_check_password("abc\001def"));
	assert_null(pbx_user_check_pin("1234"));
	assert_string_equal(pbx_user_check_pin("12a4"), "must be digits only");
	assert_non_null(pbx_user_check_pin("123"));
	assert_null(pbx_user_check_email("a@b.org"));
	assert_null(pbx_user_check_email(""));
	assert_non_null(pbx_user_check_email("nobody"));
	assert_non_null(pbx_user_check_email("a@@b.org"));
	assert_non_null(pbx_user_check_email("a b@c.org"));
	assert_null(pbx_user_check_context("from-internal"));
	assert_non_null(pbx_user_check_context("a.b"));
	assert_non_null(pbx_user_check_name("bad\"quote"));
}

static void hash_hex(const EVP_MD *md, const char *s, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n;
	EVP_Digest(s, strlen(s), d, &n, md, NULL);
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_ha1(void **state)
{
	struct pbx_user u = make("1001");
	char want[65];
	pbx_user_set_ha1(&u, "pbx.local", "s3cret");
	hash_hex(EVP_md5(), "1001:pbx.local:s3cret", want);
	assert_string_equal(u.ha1_md5, want);
	hash_hex(EVP_sha256(), "1001:pbx.local:s3cret", want);
	assert_string_equal(u.ha1_sha256, want);
	assert_string_equal(u.realm, "pbx.local");
}

static void test_crud(void **state)
{
	struct pbx_dir *d = *state;
	struct pbx_user u = make("1001"), got;
	snprintf(u.name, sizeof u.name, "Alice");
	snprintf(u.pin, sizeof u.pin, "1234");
	pbx_user_set_ha1(&u, "pbx.local", "s3cret");
	assert_int_equal(pbx_user_add(d, &u), 0);
	assert_int_equal(pbx_user_add(d, &u), EEXIST);
	assert_int_equal(pbx_user_find(d, "1001", &got), 0);
	assert_string_equal(got.name, "Alice");
	assert_string_equal(got.pin, "1234");
	assert_string_equal(got.ha1_md5, u.ha1_md5);
	assert_true(got.enabled);
	assert_true(got.created > 0);
	assert_int_equal(pbx_user_find(d, "1002", &got), ENOENT);

	/* A value that would break spliced SQL is just data here. */
	struct pbx_user evil = make("2000");
	snprintf(evil.name, sizeof evil.name, "x'); DROP TABLE users; --");
	assert_int_equal(pbx_user_add(d, &evil), 0);
	assert_int_equal(pbx_user_find(d, "2000", &got), 0);
	assert_string_equal(got.name, "x'); DROP TABLE users; --");

	got.enabled = false;
	got.srtp = PBX_SRTP_MANDATORY;
	assert_int_equal(pbx_user_update(d, &got), 0);
	assert_int_equal(pbx_user_find(d, "2000", &got), 0);
	assert_false(got.enabled);
	assert_int_equal(got.srtp, PBX_SRTP_MANDATORY);
	struct pbx_user ghost = make("9999");
	assert_int_equal(pbx_user_update(d, &ghost), ENOENT);

	assert_int_equal(pbx_user_count_other_realm(d, "pbx.local"), 0);
	assert_int_equal(pbx_user_count_other_realm(d, "other.org"), 1);

	assert_int_equal(pbx_user_del(d, "2000"), 0);
	assert_int_equal(pbx_user_del(d, "2000"), ENOENT);
	/* Read again after the delete: not served from memory. */
	assert_int_equal(pbx_user_find(d, "2000", &got), ENOENT);
}

/* Users read once are answered from memory (user_cache.h): a write through
 * the directory is seen at once, a change behind its back is not. */
static void test_user_cache(void **state)
{
	struct pbx_dir *d = *state;
	struct pbx_user u = make("3001"), got;
	snprintf(u.name, sizeof u.name, "Carol");
	assert_int_equal(pbx_user_add(d, &u), 0);
	assert_int_equal(pbx_user_find(d, "3001", &got), 0); /* read: now kept */
	assert_int_equal(sqlite3_exec(pbx__dir_db(d),
				      "UPDATE users SET name='behind' "
				      "WHERE extension='3001'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(pbx_user_find(d, "3001", &got), 0);
	assert_string_equal(got.name, "Carol"); /* from memory */
	snprintf(got.name, sizeof got.name, "Carol B");
	assert_int_equal(pbx_user_update(d, &got), 0);
	assert_int_equal(pbx_user_find(d, "3001", &got), 0);
	assert_string_equal(got.name, "Carol B");
	/* A failed update (no such user) keeps nothing stale either. */
	struct pbx_user ghost = make("3999");
	assert_int_equal(pbx_user_update(d, &ghost), ENOENT);
	assert_int_equal(pbx_user_find(d, "3999", &got), ENOENT);
	assert_int_equal(pbx_user_del(d, "3001"), 0);
	assert_int_equal(pbx_user_find(d, "3001", &got), ENOENT);
	/* Re-created: the new row, not the old one. */
	snprintf(u.name, sizeof u.name, "Dave");
	assert_int_equal(pbx_user_add(d, &u), 0);
	assert_int_equal(pbx_user_find(d, "3001", &got), 0);
	assert_string_equal(got.name, "Dave");
}

static int collect(const struct pbx_user *u, void *arg)
{
	strcat(arg, u->ext);
	strcat(arg, ",");
	return 0;
}

static void test_each_order_and_prefix(void **state)
{
	struct pbx_dir *d = *state;
	const char *exts[] = {"1002", "100", "1001", "2001", "10010"};
	for (int i = 0; i < 5; i++) {
		struct pbx_user u = make(exts[i]);
		pbx_user_add(d, &u);
	}
	char all[128] = "", pre[128] = "";
	assert_int_equal(pbx_user_each(d, "", collect, all), 0);
	/* shorter extensions first, then lexical: what people expect of numbers */
	assert_string_equal(all, "100,1001,1002,2001,10010,");
	assert_int_equal(pbx_user_each(d, "1001", collect, pre), 0);
	assert_string_equal(pre, "1001,10010,");
}

static int collect_b(const struct pbx_binding *b, void *arg)
{
	strcat(arg, b->ext);
	strcat(arg, ">");
	strcat(arg, b->contact);
	strcat(arg, ",");
	return 0;
}

static void test_bindings(void **state)
{
	struct pbx_dir *d = *state;
	struct pbx_binding b = {.cseq = 7, .expires = 1000, .registered = 10};
	char got[512] = "";
	struct pbx_user u = make("1001");
	snprintf(b.ext, sizeof b.ext, "1001");
	snprintf(b.contact, sizeof b.contact, "sip:1001@127.0.0.1:5070");
	/* A binding needs its user: the foreign key is enforced. */
	assert_int_not_equal(pbx_binding_save(d, &b), 0);
	assert_int_equal(pbx_user_add(d, &u), 0);
	snprintf(b.contact, sizeof b.contact, "sip:1001@127.0.0.1:5070");
	snprintf(b.source, sizeof b.source, "udp:127.0.0.1:5070");
	assert_int_equal(pbx_binding_save(d, &b), 0);
	b.cseq = 8; /* refresh replaces */
	assert_int_equal(pbx_binding_save(d, &b), 0);
	snprintf(b.contact, sizeof b.contact, "sip:1001@127.0.0.1:5071");
	assert_int_equal(pbx_binding_save(d, &b), 0);
	assert_int_equal(pbx_binding_each(d, collect_b, got), 0);
	assert_string_equal(got, "1001>sip:1001@127.0.0.1:5070,1001>sip:1001@127.0.0.1:5071,");
	assert_int_equal(pbx_binding_del(d, "1001", "sip:1001@127.0.0.1:5070"), 0);
	got[0] = '\0';
	pbx_binding_each(d, collect_b, got);
	assert_string_equal(got, "1001>sip:1001@127.0.0.1:5071,");
	/* Deleting the user takes its bindings with it. */
	assert_int_equal(pbx_user_del(d, "1001"), 0);
	got[0] = '\0';
	pbx_binding_each(d, collect_b, got);
	assert_string_equal(got, "");
}

static void test_schema_version(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 8); /* 7 messages, 8 message_context */
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* A database from a newer build is refused, not silently used. */
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct pbx_dir *d2;
	assert_int_equal(pbx_dir_open(&d2, dbpath), EPROTO);
}

/* Per-user digest algorithms: canonical forms, refusals, and a round trip. */
static void test_auth_setting(void **state)
{
	struct pbx_dir *d = *state;
	char c[16];
	assert_null(pbx_user_check_auth("md5", c, sizeof c));
	assert_string_equal(c, "md5");
	assert_null(pbx_user_check_auth("SHA-256, MD5", c, sizeof c));
	assert_string_equal(c, "sha-256,md5");
	assert_null(pbx_user_check_auth("default", c, sizeof c));
	assert_string_equal(c, "");
	assert_non_null(pbx_user_check_auth("sha-1", c, sizeof c));
	assert_non_null(pbx_user_check_auth("md5,md5", c, sizeof c));
	assert_non_null(pbx_user_check_auth(",", c, sizeof c));
	struct pbx_user u = {.ext = "1001", .context = "default", .enabled = true}, got;
	snprintf(u.auth, sizeof u.auth, "sha-256");
	assert_int_equal(pbx_user_add(d, &u), 0);
	assert_int_equal(pbx_user_find(d, "1001", &got), 0);
	assert_string_equal(got.auth, "sha-256");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_auth_setting, setup, teardown),
	cmocka_unit_test(test_validation),
	cmocka_unit_test(test_ha1),
	cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
	cmocka_unit_test_setup_teardown(test_user_cache, setup, teardown),
	cmocka_unit_test_setup_teardown(test_each_order_and_prefix, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bindings, setup, teardown),
	cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
};

UNIT_GROUP(directory, tests, NULL, NULL);
