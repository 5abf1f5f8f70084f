/**
 * @file tone_check.h  Measuring tones in unit tests: Goertzel share and RMS level
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Audio is checked by measuring it: the share of a signal's power at one
 * frequency (near 1 for a pure tone of it, near 0 without it) and its RMS.
 */
#ifndef TONE_CHECK_H
#define TONE_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Power of @p f in @p x relative to the whole signal's. */
static inline double tone_share(const int16_t *x, size_t n, double f, double rate)
{
	double w = 2 * M_PI * f / rate, c = 2 * cos(w), s1 = 0, s2 = 0, energy = 0;
	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
		energy += (double)x[i] * x[i];
	}
	double power = s1 * s1 + s2 * s2 - c * s1 * s2;
	return energy > 0 ? 2 * power / ((double)n * energy) : 0;
}

static inline double rms(const int16_t *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return n ? sqrt(e / (double)n) : 0;
}

#endif
