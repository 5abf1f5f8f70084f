/**
 * @file test_dp_match.c  Extension patterns: every pattern character, and Asterisk's order
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The expected orders are Asterisk's (ext_cmp in main/pbx.c), worked out by
 * hand from its scoring: a pbx_lua file must pick the same extension here.
 */
#include <stdlib.h>
#include <string.h>

#include "../../dialplan/dp_match.h"
#include "unit.h"

static const struct {
	const char *name, *exten;
	enum dp_match_result want;
} match_cases[] = {
	/* literal names: exact, '-' is decoration, case counts */
	{"100", "100", DP_MATCH},
	{"100", "1000", DP_NOMATCH},
	{"100", "10", DP_NOMATCH},
	{"555-1212", "5551212", DP_MATCH},
	{"5551212", "555-1212", DP_MATCH},
	{"s", "s", DP_MATCH},
	{"abc", "ABC", DP_NOMATCH},
	{"*97", "*97", DP_MATCH},
	{"100", "_100", DP_NOMATCH},
	/* X: 0-9 */
	{"_X", "0", DP_MATCH},
	{"_X", "9", DP_MATCH},
	{"_X", "a", DP_NOMATCH},
	{"_X", "55", DP_NOMATCH},
	{"_X", "", DP_NOMATCH},
	{"_x", "5", DP_MATCH},
	/* Z: 1-9 */
	{"_Z", "0", DP_NOMATCH},
	{"_Z", "1", DP_MATCH},
	{"_z", "9", DP_MATCH},
	/* N: 2-9 */
	{"_N", "1", DP_NOMATCH},
	{"_N", "2", DP_MATCH},
	{"_n", "9", DP_MATCH},
	{"_NXX-XXXX", "5551234", DP_MATCH},
	{"_NXX-XXXX", "555-1234", DP_MATCH},
	{"_NXX-XXXX", "155-1234", DP_NOMATCH},
	/* sets */
	{"_[1-3]", "2", DP_MATCH},
	{"_[1-3]", "4", DP_NOMATCH},
	{"_[13]", "3", DP_MATCH},
	{"_[13]", "2", DP_NOMATCH},
	{"_[a-c]x", "b5", DP_MATCH},
	{"_[a-c]x", "d5", DP_NOMATCH},
	{"_[1-35]", "5", DP_MATCH},
	{"_[1-35]", "4", DP_NOMATCH},
	{"_[]1", "1", DP_MATCH},   /* an empty set is ignored */
	{"_[1-", "1", DP_NOMATCH}, /* unterminated: never matches */
	{"_1[", "1", DP_NOMATCH},
	/* '.': one or more of anything */
	{"_X.", "1", DP_NOMATCH},
	{"_X.", "12", DP_MATCH},
	{"_X.", "1abc#", DP_MATCH},
	{"_.", "a", DP_MATCH},
	{"_.", "", DP_NOMATCH},
	{"_X.1", "123", DP_MATCH}, /* '.' ends the pattern */
	/* '!': zero or more of anything */
	{"_X!", "1", DP_EARLY},
	{"_X!", "123", DP_EARLY},
	{"_X!", "", DP_NOMATCH},
	{"_!", "", DP_EARLY},
	{"_1!", "1", DP_EARLY},
	/* literal characters in patterns are case-sensitive, pattern letters are not */
	{"_aXc", "a5c", DP_MATCH},
	{"_aXc", "A5c", DP_NOMATCH},
	{"_+1NXX", "+1555", DP_MATCH},
	{"_1-2", "12", DP_MATCH},
	{"_12", "1-2", DP_MATCH},
};

static void test_match_table(void **state)
{
	for (size_t i = 0; i < sizeof match_cases / sizeof *match_cases; i++) {
		enum dp_match_result got = dp_match(match_cases[i].name, match_cases[i].exten);
		if (got != match_cases[i].want)
			fail_msg("dp_match(\"%s\", \"%s\") = %d, want %d", match_cases[i].name,
				 match_cases[i].exten, got, match_cases[i].want);
	}
}

static int cmp_names(const void *a, const void *b)
{
	return dp_ext_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort @p in (any order) and compare with @p want (Asterisk's order). */
static void check_order(const char *const *in, const char *const *want, size_t n)
{
	const char **v = malloc(n * sizeof *v);
	assert_non_null(v);
	memcpy(v, in, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_names);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], want[i]))
			fail_msg("position %zu: got %s, want %s", i, v[i], want[i]);
	/* and the comparison is a consistent order: antisymmetric, never 0 between distinct */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++) {
			int a = dp_ext_cmp(want[i], want[k]), b = dp_ext_cmp(want[k], want[i]);
			assert_true((a > 0) == (b < 0));
			assert_true((a == 0) == (i == k));
			if (i < k)
				assert_true(a < 0);
		}
	free(v);
}

static void test_order(void **state)
{
	static const char *const in[] = {
		"_X.",  "_!", "_1XXX", "s",     "_NXXX", "1000",  "_1!",
		"_1X.", "_.", "100",   "_ZXXX", "_1ZXX", "_1000", "_[1-2]XXX",
	};
	static const char *const want[] = {
		"100", "1000",      "s",     "_1000", "_1ZXX", "_1XXX", "_1X.",
		"_1!", "_[1-2]XXX", "_NXXX", "_ZXXX", "_X.",   "_.",    "_!",
	};
	check_order(in, want, sizeof in / sizeof *in);
}

static void test_order_sets(void **state)
{
	/* Fewer characters first; equal sizes: the set with the lower characters first. */
	static const char *const in[] = {"_[0-9]5", "_[13]", "_[12]",  "_[a-c]",
					 "_[1-5]",  "_5",    "_[5-6]", "_[56]X"};
	/* [56]X before [5-6]: same set, then X comes before the end of the pattern */
	static const char *const want[] = {"_5",     "_[12]",  "_[13]",  "_[56]X",
					   "_[5-6]", "_[a-c]", "_[1-5]", "_[0-9]5"};
	check_order(in, want, sizeof in / sizeof *in);
}

static void test_order_ends(void **state)
{
	/* After every set come '.', then '!', then the end of the pattern (Asterisk's rule:
	 * so _1X! sorts before _1X and wins "12"). */
	static const char *const in[] = {"_1X", "_1X!", "_1X.", "_1XX"};
	static const char *const want[] = {"_1XX", "_1X.", "_1X!", "_1X"};
	check_order(in, want, sizeof in / sizeof *in);
}

static void test_same_extension(void **state)
{
	assert_int_equal(dp_ext_cmp("555-1212", "5551212"), 0);
	assert_int_equal(dp_ext_cmp("_X", "_[0-9]"), 0);
	assert_int_equal(dp_ext_cmp("_NXX-X", "_NXXX"), 0);
	assert_true(dp_ext_cmp("_[]X", "_X") == 0); /* the empty set is ignored */
	assert_true(dp_ext_cmp("100", "_100") < 0); /* literal names before patterns */
	assert_true(dp_ext_cmp("_1[2", "_1X") > 0); /* a broken set sorts last */
}

/* The first extension in order that matches is the one that runs. */
static const char *first_match(const char *const *names, size_t n, const char *exten)
{
	const char **v = malloc(n * sizeof *v);
	const char *found = NULL;
	memcpy(v, names, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_names);
	for (size_t i = 0; i < n && !found; i++)
		if (dp_match(v[i], exten))
			found = v[i];
	free(v);
	return found;
}

static void test_first_match(void **state)
{
	static const char *const ctx[] = {"_X.", "_1XXX", "1000", "_1ZXX", "_10!", "_NXXXXXX"};
	static const struct {
		const char *exten, *want;
	} cases[] = {
		{"1000", "1000"}, {"1100", "_1ZXX"},       {"1010", "_10!"}, {"1099", "_10!"},
		{"10", "_10!"},   {"5551234", "_NXXXXXX"}, {"55", "_X."},    {"5", NULL},
		{"1", NULL},      {"1abc", "_X."},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *got = first_match(ctx, sizeof ctx / sizeof *ctx, cases[i].exten);
		if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want)))
			fail_msg("%s: got %s, want %s", cases[i].exten, got ? got : "none",
				 cases[i].want ? cases[i].want : "none");
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_match_table),    cmocka_unit_test(test_order),
	cmocka_unit_test(test_order_sets),     cmocka_unit_test(test_order_ends),
	cmocka_unit_test(test_same_extension), cmocka_unit_test(test_first_match),
};

UNIT_GROUP(dp_match, tests, NULL, NULL);
