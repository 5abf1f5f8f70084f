/**
 * @file test_sip_pidf.c  The PIDF reader: basic, note, RPID activities, and what it refuses
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../channels/sip/sip_pidf.h"

/* Parse from an exact-size heap copy so ASan sees any overread. */
static int parse(const char *s, struct sip_pidf *out, const char **why)
{
	size_t n = strlen(s);
	char *k = malloc(n ? n : 1);
	assert_non_null(k);
	memcpy(k, s, n);
	int err = sip_pidf_parse(k, n, out, why);
	free(k);
	return err;
}

/* What baresip 1.0's presence module publishes. */
static void test_pidf_baresip(void **state)
{
	struct sip_pidf d;
	const char *why = NULL;
	assert_int_equal(parse("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\r\n"
			       "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\r\n"
			       "    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"\r\n"
			       "    xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"\r\n"
			       "    entity=\"sip:1001@127.0.0.1\">\r\n"
			       "  <dm:person id=\"p4159\"><rpid:activities/></dm:person>\r\n"
			       "  <tuple id=\"t4109\">\r\n"
			       "    <status>\r\n"
			       "      <basic>closed</basic>\r\n"
			       "    </status>\r\n"
			       "    <contact>sip:1001@127.0.0.1</contact>\r\n"
			       "  </tuple>\r\n"
			       "</presence>\r\n",
			       &d, &why),
			 0);
	assert_int_equal(d.basic, SIP_PIDF_CLOSED);
	assert_string_equal(d.note, "");
	assert_int_equal(d.activities, 0);
}

static void test_pidf_note_and_activities(void **state)
{
	struct sip_pidf d;
	assert_int_equal(parse("<presence xmlns='urn:ietf:params:xml:ns:pidf' "
			       "xmlns:r='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:a@b'>"
			       "<tuple id='a'><status><basic> open </basic></status>"
			       "<note xml:lang=\"en\">  Out to\tlunch &amp; back &#x263A; &#65;"
			       "<![CDATA[ <soon> ]]></note></tuple>"
			       "<tuple id='b'><status><basic>closed</basic></status></tuple>"
			       "<person><r:activities><r:away/><r:on-the-phone></r:on-the-phone>"
			       "<r:unknown-thing/></r:activities><note>second</note></person>"
			       "<!-- <note>in a comment</note> --></presence>",
			       &d, NULL),
			 0);
	assert_int_equal(d.basic, SIP_PIDF_OPEN); /* open when any tuple is */
	assert_string_equal(d.note, "Out to lunch & back \xE2\x98\xBA A <soon>");
	assert_int_equal(d.activities, SIP_PIDF_AWAY | SIP_PIDF_ON_THE_PHONE);
	assert_string_equal(sip_pidf_activity_name(2), "on-the-phone");
	assert_string_equal(sip_pidf_activity_words(0), "Away");
	assert_null(sip_pidf_activity_name(SIP_PIDF__ACTIVITIES));

	/* No basic, the note of the person; a '>' inside an attribute value. */
	assert_int_equal(parse("<presence a='x>y'><dm:person><dm:note>Busy busy</dm:note>"
			       "<rpid:activities><rpid:busy/></rpid:activities></dm:person>"
			       "</presence>",
			       &d, NULL),
			 0);
	assert_int_equal(d.basic, SIP_PIDF_NONE);
	assert_string_equal(d.note, "Busy busy");
	assert_int_equal(d.activities, SIP_PIDF_BUSY);
}

static void test_pidf_long_note_is_cut_whole(void **state)
{
	struct sip_pidf d;
	char doc[1024];
	char note[600] = "";
	for (int i = 0; i < 100; i++)
		strcat(note, "\xC3\xA9"); /* é, two bytes each: 200 bytes */
	snprintf(doc, sizeof doc, "<presence><tuple><note>%s</note></tuple></presence>", note);
	assert_int_equal(parse(doc, &d, NULL), 0);
	assert_true(strlen(d.note) <= SIP_PIDF_NOTE_MAX);
	assert_int_equal(strlen(d.note) % 2, 0); /* never half a character */
	assert_true(strlen(d.note) >= SIP_PIDF_NOTE_MAX - 1);

	/* Bad UTF-8 and controls do not pass through. */
	assert_int_equal(parse("<presence><note>a\xFF\x01z</note></presence>", &d, NULL), 0);
	assert_string_equal(d.note, "a? z");
	/* A UTF-16 surrogate and an overlong slash as raw bytes: not characters either. */
	assert_int_equal(parse("<presence><note>\xED\xA0\x80x\xC0\xAF</note></presence>", &d, NULL),
			 0);
	assert_string_equal(d.note, "???x??");
}

static void test_pidf_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"just text",
		"<other/>",
		"<presence>",
		"<presence><tuple></presence></tuple>",
		"<presence></presence><presence></presence>",
		"<!DOCTYPE presence [<!ENTITY x 'y'>]><presence/>",
		"<presence><note>&unknown;</note></presence>",
		"<presence><note>&#0;</note></presence>",
		"<presence><note>&#xD800;</note></presence>",
		"<presence><note>&#x110000;</note></presence>",
		"<presence><note>&amp</note></presence>",
		"<presence><!-- unterminated </presence>",
		"<presence a='unterminated></presence>",
		"<presence><tuple",
		"<presence></>",
	};
	struct sip_pidf d;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *why = NULL;
		memset(&d, 0x55, sizeof d);
		assert_int_equal(parse(bad[i], &d, &why), EINVAL);
		assert_non_null(why);
		assert_int_equal(d.basic, SIP_PIDF_NONE); /* nothing half-read is left */
		assert_string_equal(d.note, "");
	}
	/* Nested past the bound. */
	char deep[4096] = "<presence>";
	for (int i = 0; i < SIP_PIDF_DEPTH_MAX; i++)
		strcat(deep, "<a>");
	assert_int_equal(parse(deep, &d, NULL), EINVAL);
	/* Just within it: fine. */
	strcpy(deep, "<presence>");
	for (int i = 0; i < SIP_PIDF_DEPTH_MAX - 1; i++)
		strcat(deep, "<a>");
	for (int i = 0; i < SIP_PIDF_DEPTH_MAX - 1; i++)
		strcat(deep, "</a>");
	strcat(deep, "</presence>");
	assert_int_equal(parse(deep, &d, NULL), 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_pidf_baresip),
	cmocka_unit_test(test_pidf_note_and_activities),
	cmocka_unit_test(test_pidf_long_note_is_cut_whole),
	cmocka_unit_test(test_pidf_refused),
};

UNIT_GROUP(sip_pidf, tests, NULL, NULL);
