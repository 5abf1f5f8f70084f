/**
 * @file dial_features.c  The features config section and the feature code matcher (see dial_features.h)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Why a matcher that holds keys back: a code must never reach the other
 * party (a "#" would end its voicemail recording, a "*" start its menu),
 * and a key that is not part of one must still arrive, late by at most
 * digit_timeout. Linear in codes times their length; both are tiny.
 */
#include <stdio.h>
#include <string.h>

#include "pbx/config.h"
#include "pbx/core.h"

#include "dial_features.h"

#define OFF(f) PBX_CFG_OFF(struct feat_cfg, f)

bool feat_code_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > FEAT_CODE_MAX)
		return false;
	return strspn(s, "0123456789*#") == n;
}

static const struct pbx_cfg_key keys[] = {
	{.name = "blind_transfer",
	 .type = PBX_CFG_STRING,
	 .off = OFF(blind),
	 .def = "##",
	 .help = "code for a blind transfer during a call of Dial with option t or T"},
	{.name = "attended_transfer",
	 .type = PBX_CFG_STRING,
	 .off = OFF(attended),
	 .def = "*2",
	 .help = "code for an attended transfer (consult the target first)"},
	{.name = "abort_transfer",
	 .type = PBX_CFG_STRING,
	 .off = OFF(abort),
	 .def = "*3",
	 .help = "code that abandons an attended transfer: back to the held party"},
	{.name = "digit_timeout",
	 .type = PBX_CFG_INT,
	 .off = OFF(digit_timeout),
	 .def = "3000",
	 .min = 100,
	 .max = 60000,
	 .help = "ms between the keys of a code, and of a transfer's target number"},
	{0},
};

static bool prefix_of(const char *a, const char *b)
{
	return !strncmp(a, b, strlen(a));
}

static int check(void *sect, struct pbx_cfg_err *e)
{
	const struct feat_cfg *c = sect;
	const char *names[] = {"blind_transfer", "attended_transfer", "abort_transfer"};
	const char *codes[] = {c->blind, c->attended, c->abort};
	static char why[96]; /* the loader shows it at once, on the one thread that loads */
	for (int i = 0; i < 3; i++)
		if (!feat_code_ok(codes[i]))
			return pbx_cfg_error(e, names[i], codes[i],
					     "must be 1 to 8 keys of 0-9, * and #");
	/* A code that begins another could never let the longer one be dialled. */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j && prefix_of(codes[i], codes[j])) {
				snprintf(why, sizeof why, "%s features.%s",
					 strcmp(codes[i], codes[j]) ? "begins" : "is the same as",
					 names[j]);
				return pbx_cfg_error(e, names[i], codes[i], why);
			}
	return 0;
}

PBX_CONFIG_SECTION(feat_section) = {
	.name = "features",
	.module = "dial",
	.order = 60,
	.size = sizeof(struct feat_cfg),
	.keys = keys,
	.check = check,
	.help = "in-call feature codes of Dial (options t and T): transfers",
};

const struct feat_cfg *feat_cfg(void)
{
	static const struct feat_cfg defaults = {
		.blind = "##", .attended = "*2", .abort = "*3", .digit_timeout = 3000};
	const struct pbx_config *cfg = pbx_cfg();
	return cfg ? pbx_config_get(cfg, &feat_section) : &defaults;
}

/* Whether the held keys begin (or are) a code; *which gets the one they complete. */
static bool begins_code(const struct feat_match *m, const char *const *codes, size_t n, int *which)
{
	bool any = false;
	*which = -1;
	for (size_t i = 0; i < n; i++) {
		if (!codes[i] || strlen(codes[i]) < m->n || memcmp(codes[i], m->held, m->n))
			continue;
		any = true;
		if (strlen(codes[i]) == m->n)
			*which = (int)i;
	}
	return any;
}

enum feat_result feat_match_digit(struct feat_match *m, const char *const *codes, size_t n,
				  char digit, int *which, char *out)
{
	size_t nout = 0;
	if (m->n == FEAT_CODE_MAX) { /* only with codes longer than allowed: never overflow */
		out[nout++] = m->held[0];
		memmove(m->held, m->held + 1, m->n--);
	}
	m->held[m->n++] = digit;
	m->held[m->n] = '\0';
	while (m->n && !begins_code(m, codes, n, which)) {
		out[nout++] = m->held[0];
		memmove(m->held, m->held + 1, m->n--);
	}
	out[nout] = '\0';
	if (m->n && *which >= 0) {
		m->n = 0;
		m->held[0] = '\0';
		return FEAT_MATCH;
	}
	return m->n ? FEAT_HOLD : FEAT_PASS;
}

void feat_match_flush(struct feat_match *m, char *out)
{
	memcpy(out, m->held, m->n);
	out[m->n] = '\0';
	m->n = 0;
	m->held[0] = '\0';
}
