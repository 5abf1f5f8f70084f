/**
 * @file test_dial_features.c  Dial's feature codes: the matcher key by key, the features section
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../apps/dial_features.h"
#include "pbx/config.h"
#include "config_load.h"
#include "unit.h"

static const char *const codes[] = {"##", "*2", "*3"};

/* Feed @p keys one by one; the passed keys gather in @p passed, the last result is returned. */
static enum feat_result feed(struct feat_match *m, const char *keys, char *passed, int *which)
{
	enum feat_result r = FEAT_PASS;
	char out[FEAT_CODE_MAX + 2];
	passed[0] = '\0';
	for (const char *k = keys; *k; k++) {
		r = feat_match_digit(m, codes, 3, *k, which, out);
		strcat(passed, out);
	}
	return r;
}

static void test_match_codes(void **state)
{
	struct feat_match m = {0};
	char passed[64];
	int which = -1;
	assert_int_equal(feed(&m, "#", passed, &which), FEAT_HOLD);
	assert_string_equal(passed, "");
	assert_int_equal(feed(&m, "#", passed, &which), FEAT_MATCH);
	assert_int_equal(which, 0);
	assert_string_equal(passed, ""); /* a code never reaches the other party */
	assert_int_equal(feed(&m, "*2", passed, &which), FEAT_MATCH);
	assert_int_equal(which, 1);
	assert_int_equal(feed(&m, "*3", passed, &which), FEAT_MATCH);
	assert_int_equal(which, 2);
	assert_int_equal(m.n, 0);
}

static void test_match_passes_others(void **state)
{
	struct feat_match m = {0};
	char passed[64];
	int which = -1;
	/* Keys that begin no code go on at once. */
	assert_int_equal(feed(&m, "123", passed, &which), FEAT_PASS);
	assert_string_equal(passed, "123");
	/* Held, then the sequence stops matching: the held key goes first, in order. */
	assert_int_equal(feed(&m, "#1", passed, &which), FEAT_PASS);
	assert_string_equal(passed, "#1");
	assert_int_equal(feed(&m, "*4", passed, &which), FEAT_PASS);
	assert_string_equal(passed, "*4");
	/* "**2": the first '*' goes on, the rest is the code. */
	assert_int_equal(feed(&m, "**2", passed, &which), FEAT_MATCH);
	assert_string_equal(passed, "*");
	assert_int_equal(which, 1);
	/* "*#": '*' goes on, '#' may begin "##". */
	assert_int_equal(feed(&m, "*#", passed, &which), FEAT_HOLD);
	assert_string_equal(passed, "*");
	assert_int_equal(feed(&m, "#", passed, &which), FEAT_MATCH);
	assert_int_equal(which, 0);
}

static void test_match_timeout_flush(void **state)
{
	struct feat_match m = {0};
	char passed[64], out[FEAT_CODE_MAX + 2];
	int which;
	assert_int_equal(feed(&m, "*", passed, &which), FEAT_HOLD);
	feat_match_flush(&m, out);
	assert_string_equal(out, "*");
	assert_int_equal(m.n, 0);
	feat_match_flush(&m, out);
	assert_string_equal(out, "");
	/* Without codes (a side that may not transfer) everything passes. */
	const char *const none[] = {NULL, NULL};
	assert_int_equal(feat_match_digit(&m, none, 2, '#', &which, out), FEAT_PASS);
	assert_string_equal(out, "#");
}

static void test_match_long_codes(void **state)
{
	const char *const longc[] = {"12345678", "1234567#"};
	struct feat_match m = {0};
	char out[FEAT_CODE_MAX + 2];
	int which;
	for (const char *k = "1234567"; *k; k++)
		assert_int_equal(feat_match_digit(&m, longc, 2, *k, &which, out), FEAT_HOLD);
	assert_int_equal(feat_match_digit(&m, longc, 2, '#', &which, out), FEAT_MATCH);
	assert_int_equal(which, 1);
	for (const char *k = "1234567"; *k; k++)
		feat_match_digit(&m, longc, 2, *k, &which, out);
	assert_int_equal(feat_match_digit(&m, longc, 2, '9', &which, out), FEAT_PASS);
	assert_string_equal(out, "12345679");
}

static void test_code_ok(void **state)
{
	assert_true(feat_code_ok("##"));
	assert_true(feat_code_ok("*2"));
	assert_true(feat_code_ok("0123456#"));
	assert_false(feat_code_ok(""));
	assert_false(feat_code_ok(NULL));
	assert_false(feat_code_ok("123456789"));
	assert_false(feat_code_ok("*A"));
	assert_false(feat_code_ok("# #"));
}

/* ---- the features section ------------------------------------------------------------------ */

static void test_features_section(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	assert_int_equal(load_text("features = { blind_transfer = '#1', digit_timeout = 1500 }\n",
				   &cfg, err, sizeof err),
			 0);
	struct pbx_buf dump;
	pbx_buf_init(&dump);
	pbx_config_dump(cfg, &dump);
	assert_non_null(strstr(dump.data, "\"#1\""));
	assert_non_null(strstr(dump.data, "\"*2\""));
	assert_non_null(strstr(dump.data, "= 1500"));
	pbx_buf_free(&dump);
	pbx_config_free(cfg);

	expect_error("features = { blind_transfer = '#A' }\n",
		     "CFG: features.blind_transfer: '#A': must be 1 to 8 keys of 0-9, * and #");
	expect_error("features = { attended_transfer = '123456789' }\n",
		     "CFG: features.attended_transfer: '123456789': must be 1 to 8 keys of 0-9, "
		     "* and #");
	expect_error("features = { abort_transfer = '##' }\n",
		     "CFG: features.blind_transfer: '##': is the same as features.abort_transfer");
	expect_error("features = { blind_transfer = '*' }\n",
		     "CFG: features.blind_transfer: '*': begins features.attended_transfer");
	expect_error("features = { digit_timeout = 5 }\n",
		     "CFG: features.digit_timeout: '5': out of range 100..60000");
	expect_error("features = { park = '700' }\n",
		     "CFG: features.park: unknown key (module dial)");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_match_codes),
	cmocka_unit_test(test_match_passes_others),
	cmocka_unit_test(test_match_timeout_flush),
	cmocka_unit_test(test_match_long_codes),
	cmocka_unit_test(test_code_ok),
	cmocka_unit_test(test_features_section),
};

UNIT_GROUP(dial_features, tests, NULL, NULL);
