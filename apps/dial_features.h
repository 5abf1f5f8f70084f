/**
 * @file dial_features.h  In-call feature codes of Dial: the features config section and the matcher
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Private to apps/. The matcher is pure (no channel, no timer) so the
 * unit tests drive it digit by digit; Dial owns the timer and the calls.
 */
#ifndef DIAL_FEATURES_H
#define DIAL_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

#define FEAT_CODE_MAX 8 /* keys of one code, as Asterisk's features.conf allows in practice */

/** The features section of the config (defaults as Asterisk's features.conf). */
struct feat_cfg {
	char *blind;       /* "##": blind transfer */
	char *attended;    /* "*2": attended transfer */
	char *abort;       /* "*3": abort an attended transfer in progress */
	int digit_timeout; /* ms between keys of a code and of a transfer's target number */
};

/** The features section in force (its defaults without a config: unit tests). */
const struct feat_cfg *feat_cfg(void);

/** Whether @p s is a valid code: 1..FEAT_CODE_MAX of 0-9 * #. */
bool feat_code_ok(const char *s);

/** Keys held back while they may still become a code. */
struct feat_match {
	char held[FEAT_CODE_MAX + 1];
	size_t n;
};

enum feat_result {
	FEAT_PASS,  /* *out holds keys to pass to the other party now (maybe none) */
	FEAT_HOLD,  /* the keys so far begin a code: wait for more (or the timeout) */
	FEAT_MATCH, /* code number *which is complete; its keys are swallowed */
};

/**
 * Feed one key: match the held keys plus @p digit against @p codes (@p n
 * of them, NULL entries skipped). When the sequence stops matching, the
 * oldest keys are let go, one at a time, until the rest begins a code
 * again: "*" "*" "2" passes the first '*' and matches "*2". @p out
 * (FEAT_CODE_MAX + 2 bytes) receives the keys to pass, NUL-terminated,
 * whatever the result: pass them before acting on a match.
 */
enum feat_result feat_match_digit(struct feat_match *m, const char *const *codes, size_t n,
				  char digit, int *which, char *out);
/** The timeout passed: every held key goes into @p out (FEAT_CODE_MAX + 1 bytes). */
void feat_match_flush(struct feat_match *m, char *out);

#endif
