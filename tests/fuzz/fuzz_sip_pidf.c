/**
 * @file fuzz_sip_pidf.c  libFuzzer target: the PIDF reader of published presence
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is parsed from an exact-size heap copy. A success must leave
 * a NUL-terminated note within its bound, valid UTF-8 without controls,
 * and only known activity bits; a refusal must leave nothing behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_pidf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_pidf d;
	const char *why = NULL;
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	int err = sip_pidf_parse(copy, size, &d, &why);
	free(copy);
	if (err) {
		if (!why || d.basic != SIP_PIDF_NONE || d.note[0] || d.activities)
			abort();
		return 0;
	}
	size_t n = strnlen(d.note, sizeof d.note);
	if (n > SIP_PIDF_NOTE_MAX || d.activities >> SIP_PIDF__ACTIVITIES)
		abort();
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)d.note[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
		if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xC2) || c > 0xF7 || i + k > n)
			abort();
		for (size_t j = 1; j < k; j++)
			if (((unsigned char)d.note[i + j] & 0xC0) != 0x80)
				abort();
		unsigned char c1 = k > 1 ? (unsigned char)d.note[i + 1] : 0x80;
		if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) ||
		    (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90) || c > 0xF4)
			abort();
		i += k;
	}
	return 0;
}
