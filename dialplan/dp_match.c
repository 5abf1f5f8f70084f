/**
 * @file dp_match.c  Extension patterns: matching and Asterisk's sort order
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The order reproduces Asterisk's ext_cmp() so that a context written for
 * Asterisk picks the same extension here: each pattern position scores
 * the number of characters it admits (fewer is more specific), ties go to
 * the set holding the lower characters, and the wildcards and the end of
 * the pattern score above every set.
 */
#include <string.h>

#include "dp_match.h"

/* Scores of one pattern position; a set scores (size << 8) | lowest char. */
#define POS_DOT    0x18000 /* '.': one or more of anything */
#define POS_BANG   0x28000 /* '!': zero or more of anything */
#define POS_END    0x30000 /* the pattern ended */
#define POS_BROKEN 0x40000 /* '[' without ']': sorts last, never matches */

/* Characters as a 256-bit map, lowest character in the most significant bit
 * of the first byte, so that memcmp() ranks the set with lower characters
 * higher. */
struct charset {
	unsigned char bits[32];
};

static int set_add(struct charset *s, int lo, int hi)
{
	int added = 0;
	for (int c = lo; c <= hi; c++) {
		unsigned char mask = (unsigned char)(0x80 >> (c % 8));
		if (!(s->bits[c / 8] & mask)) {
			s->bits[c / 8] |= mask;
			added++;
		}
	}
	return added;
}

/*
 * Score the next position of the pattern at *pp (after the '_') and fill
 * its character set. Sets out of which nothing can be built ("[]", "[9-3]")
 * are skipped, as in Asterisk. *pp becomes NULL at the end.
 */
static int pos_next(const char **pp, struct charset *set)
{
	const char *p = *pp;
	for (;;) {
		while (*p == '-')
			p++;
		unsigned char c = (unsigned char)*p++;
		memset(set, 0, sizeof *set);
		switch (c) {
		case '\0': *pp = NULL; return POS_END;
		case '.': *pp = p; return POS_DOT;
		case '!': *pp = p; return POS_BANG;
		case 'N':
		case 'n':
			set_add(set, '2', '9');
			*pp = p;
			return (8 << 8) | '2';
		case 'Z':
		case 'z':
			set_add(set, '1', '9');
			*pp = p;
			return (9 << 8) | '1';
		case 'X':
		case 'x':
			set_add(set, '0', '9');
			*pp = p;
			return (10 << 8) | '0';
		case '[': break;
		default:
			set_add(set, c, c);
			*pp = p;
			return (1 << 8) | c;
		}
		const char *end = strchr(p, ']');
		if (!end) {
			*pp = p;
			return POS_BROKEN;
		}
		int count = 0, lowest = 0xff;
		for (; p < end; p++) {
			int lo = (unsigned char)p[0], hi = lo;
			if (p + 2 < end && p[1] == '-') {
				hi = (unsigned char)p[2];
				p += 2;
			}
			if (lo < lowest)
				lowest = lo;
			count += set_add(set, lo, hi);
		}
		p = end + 1;
		if (count) {
			*pp = p;
			return (count << 8) | lowest;
		}
	}
}

static int pattern_cmp(const char *a, const char *b)
{
	for (;;) {
		struct charset sa, sb;
		int cmp = pos_next(&a, &sa) - pos_next(&b, &sb);
		if (!cmp) /* same size and lowest char: the set with lower chars first */
			cmp = memcmp(sb.bits, sa.bits, sizeof sa.bits);
		if (cmp || !a)
			return cmp;
	}
}

/* Literal names compare character by character, '-' being decoration. */
static int literal_cmp(const char *a, const char *b)
{
	for (;;) {
		while (*a == '-')
			a++;
		while (*b == '-')
			b++;
		if (*a != *b || !*a)
			return (unsigned char)*a - (unsigned char)*b;
		a++;
		b++;
	}
}

int dp_ext_cmp(const char *a, const char *b)
{
	bool pa = dp_is_pattern(a), pb = dp_is_pattern(b);
	if (pa != pb)
		return pa ? 1 : -1;
	return pa ? pattern_cmp(a + 1, b + 1) : literal_cmp(a, b);
}

/* Is @p c in the set between '[' and ']' (exclusive: @p p .. @p end)? */
static bool set_has(const char *p, const char *end, char c)
{
	for (; p < end; p++) {
		if (p + 2 < end && p[1] == '-') {
			if ((unsigned char)c >= (unsigned char)p[0] &&
			    (unsigned char)c <= (unsigned char)p[2])
				return true;
			p += 2;
		} else if (c == *p) {
			return true;
		}
	}
	return false;
}

enum dp_match_result dp_match(const char *name, const char *exten)
{
	if (!dp_is_pattern(name))
		return literal_cmp(name, exten) ? DP_NOMATCH : DP_MATCH;
	const char *p = name + 1, *d = exten;
	for (;;) {
		while (*d == '-')
			d++;
		while (*p == '-' || (p[0] == '[' && p[1] == ']'))
			p += *p == '-' ? 1 : 2; /* decoration and empty sets admit nothing */
		if (!*d || !*p)
			break;
		switch (*p) {
		case '[': {
			const char *end = strchr(p + 1, ']');
			if (!end || !set_has(p + 1, end, *d))
				return DP_NOMATCH;
			p = end;
			break;
		}
		case 'N':
		case 'n':
			if (*d < '2' || *d > '9')
				return DP_NOMATCH;
			break;
		case 'Z':
		case 'z':
			if (*d < '1' || *d > '9')
				return DP_NOMATCH;
			break;
		case 'X':
		case 'x':
			if (*d < '0' || *d > '9')
				return DP_NOMATCH;
			break;
		case '.': return DP_MATCH; /* at least this character is there */
		case '!': return DP_EARLY;
		default:
			if (*d != *p)
				return DP_NOMATCH;
			break;
		}
		d++;
		p++;
	}
	if (*d)
		return DP_NOMATCH; /* the extension is longer than the pattern */
	if (!*p)
		return DP_MATCH;
	return *p == '!' ? DP_EARLY : DP_NOMATCH; /* the pattern wants more: '.' needs one */
}
