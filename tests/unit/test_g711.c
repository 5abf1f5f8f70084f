/**
 * @file test_g711.c  G.711 tables: reference values, round trips, monotonicity, u<->A tables
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdlib.h>

#include "../../pbx/media_priv.h"
#include "unit.h"

static void test_known_values(void **state)
{
	(void)state;
	assert_int_equal(pbx_ulaw_decode(0xFF), 0);
	assert_int_equal(pbx_ulaw_decode(0x7F), 0);
	assert_int_equal(pbx_ulaw_decode(0x00), -32124);
	assert_int_equal(pbx_ulaw_decode(0x80), 32124);
	assert_int_equal(pbx_ulaw_decode(0xFE), 8);
	assert_int_equal(pbx_alaw_decode(0xD5), 8);
	assert_int_equal(pbx_alaw_decode(0x55), -8);
	assert_int_equal(pbx_alaw_decode(0xAA), 32256);
	assert_int_equal(pbx_alaw_decode(0x2A), -32256);
	assert_int_equal(pbx_ulaw_encode(0), 0xFF);
	assert_int_equal(pbx_alaw_encode(0), 0xD5);
	assert_int_equal(pbx_ulaw_encode(32767), 0x80);
	assert_int_equal(pbx_ulaw_encode(-32768), 0x00);
	assert_int_equal(pbx_alaw_encode(32767), 0xAA);
	assert_int_equal(pbx_alaw_encode(-32768), 0x2A);
}

/* Every code decodes to a value that encodes back to it, except u-law's
 * negative zero (0x7F), which is the same sample as 0xFF. */
static void test_round_trip(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		if (c != 0x7F)
			assert_int_equal(pbx_ulaw_encode(pbx_ulaw_decode((uint8_t)c)), c);
		assert_int_equal(pbx_alaw_encode(pbx_alaw_decode((uint8_t)c)), c);
	}
	assert_int_equal(pbx_ulaw_encode(pbx_ulaw_decode(0x7F)), 0xFF);
}

/* Quantising is monotonic and close: decode(encode(s)) never goes down as s
 * goes up, and is within half a step (1/32 of the magnitude, plus the
 * smallest step) of s. */
static void test_monotonic(void **state)
{
	(void)state;
	int pu = -40000, pa = -40000;
	for (int s = -32768; s <= 32767; s++) {
		int u = pbx_ulaw_decode(pbx_ulaw_encode((int16_t)s));
		int a = pbx_alaw_decode(pbx_alaw_encode((int16_t)s));
		assert_true(u >= pu);
		assert_true(a >= pa);
		pu = u;
		pa = a;
		int mag = abs(s);
		if (mag < 32000) { /* the top code clips the last few hundred */
			assert_true(abs(u - s) <= mag / 16 + 8);
			assert_true(abs(a - s) <= mag / 16 + 16);
		}
	}
}

static void test_translation_tables(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		assert_int_equal(pbx__ulaw_to_alaw[c],
				 pbx_alaw_encode(pbx_ulaw_decode((uint8_t)c)));
		assert_int_equal(pbx__alaw_to_ulaw[c],
				 pbx_ulaw_encode(pbx_alaw_decode((uint8_t)c)));
	}
	assert_ptr_equal(pbx__g711_xlat(PBX_CODEC_PCMU, PBX_CODEC_PCMA), pbx__ulaw_to_alaw);
	assert_ptr_equal(pbx__g711_xlat(PBX_CODEC_PCMA, PBX_CODEC_PCMU), pbx__alaw_to_ulaw);
	assert_null(pbx__g711_xlat(PBX_CODEC_PCMU, PBX_CODEC_PCMU));
	/* Silence stays (nearly) silence across the two laws: A-law has no zero, only +-8. */
	assert_int_equal(pbx__ulaw_to_alaw[0xFF], 0xD5);
	assert_int_equal(pbx__alaw_to_ulaw[0xD5], 0xFE);
}

static void test_blocks(void **state)
{
	(void)state;
	int16_t pcm[300], back[300];
	uint8_t enc[300];
	for (int i = 0; i < 300; i++)
		pcm[i] = (int16_t)(i * 211 - 30000);
	for (int c = 0; c < PBX_CODEC__COUNT; c++) {
		pbx__g711_encode((enum pbx_codec)c, pcm, enc, 300);
		pbx__g711_decode((enum pbx_codec)c, enc, back, 300);
		for (int i = 0; i < 300; i++) {
			uint8_t one = c == PBX_CODEC_PCMU ? pbx_ulaw_encode(pcm[i])
							  : pbx_alaw_encode(pcm[i]);
			assert_int_equal(enc[i], one);
			assert_int_equal(back[i], c == PBX_CODEC_PCMU ? pbx_ulaw_decode(one)
								      : pbx_alaw_decode(one));
		}
	}
}

/* The laws the byte tables serve are the registered PCMU and PCMA. */
static void test_names(void **state)
{
	(void)state;
	const struct pbx_codec_desc *u = pbx_codec_find("pcmu"), *a = pbx_codec_find("PCMA");
	assert_ptr_equal(pbx__g711_desc(PBX_CODEC_PCMU), u);
	assert_ptr_equal(pbx__g711_desc(PBX_CODEC_PCMA), a);
	assert_int_equal(pbx__g711_law(u), PBX_CODEC_PCMU);
	assert_int_equal(pbx__g711_law(a), PBX_CODEC_PCMA);
	assert_int_equal(pbx__g711_law(pbx_codec_find("G722")), -1);
	assert_int_equal(u->static_pt, 0);
	assert_int_equal(a->static_pt, 8);
	assert_int_equal(a->rate, 8000);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_known_values), cmocka_unit_test(test_round_trip),
	cmocka_unit_test(test_monotonic),    cmocka_unit_test(test_translation_tables),
	cmocka_unit_test(test_blocks),       cmocka_unit_test(test_names),
};

UNIT_GROUP(g711, tests, NULL, NULL);
