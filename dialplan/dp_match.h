/**
 * @file dp_match.h  Extension patterns and their order, as Asterisk has them
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A name starting with '_' is a pattern; anything else is a literal
 * extension. In a pattern:
 *
 *   X  one digit 0-9      Z  one digit 1-9      N  one digit 2-9
 *   [15-7a]  one character of the set (ranges with '-')
 *   .  one or more of anything (ends the pattern)
 *   !  zero or more of anything (ends the pattern)
 *   -  ignored, for readability ("_NXX-XXXX"), also in literal names
 *
 * The pattern letters X, Z, N may be written in lower case; every other
 * character, in patterns and in literal names, is compared case-sensitively,
 * as Asterisk does. An unterminated '[' never matches.
 */
#ifndef DP_MATCH_H
#define DP_MATCH_H

#include <stdbool.h>

enum dp_match_result {
	DP_NOMATCH = 0,
	DP_MATCH = 1, /* the whole extension matched */
	DP_EARLY = 2, /* matched through a '!' */
};

/** Does @p exten match @p name (a literal name, or a pattern with '_')? */
enum dp_match_result dp_match(const char *name, const char *exten);

/**
 * Order of two extension names as Asterisk sorts a context: literal names
 * first (among them, by their characters with '-' ignored), then patterns,
 * position by position: the fewer characters a position admits, the
 * earlier (a literal character admits 1, [1-5] 5, N 8, Z 9, X 10); equal
 * counts go by the lowest character admitted; after every set come '.',
 * then '!', then the end of the pattern, then a broken '[' set.
 * Returns <0, 0 or >0 like strcmp; 0 means the two names are the same
 * extension ("555-1212" and "5551212").
 */
int dp_ext_cmp(const char *a, const char *b);

static inline bool dp_is_pattern(const char *name)
{
	return name[0] == '_';
}

#endif
