/**
 * @file test_vm_mail.c  Voicemail mail: template variables, cleaning, the MIME message
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The text side of apps/vm_mail.c, without a mail server: what a caller ID
 * can put into a mail (nothing that shapes it), the templates as Asterisk
 * expands them, and the message's headers, parts and encodings. The
 * integration tests send real mails to a local SMTP server.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../apps/vm_mail.h"
#include "unit.h"

static const struct vm_mail_vars vars = {
	.name = "Carol",
	.mailbox = "1003",
	.callerid = "Alice <1001>",
	.cidnum = "1001",
	.cidname = "Alice",
	.dur = "0:05",
	.date = "Monday, March 02, 2026 at 10:00:00 AM",
	.msgnum = "1",
};

static char *expand(const char *tmpl)
{
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(vm_mail_expand(&b, tmpl, &vars), 0);
	pbx_buf_append(&b, "", 1);
	return b.data;
}

static void test_expand_vars(void **state)
{
	char *s = expand("[${VM_NAME}|${VM_MAILBOX}|${VM_CALLERID}|${VM_CIDNUM}|${VM_CIDNAME}|"
			 "${VM_DUR}|${VM_MSGNUM}]");
	assert_string_equal(s, "[Carol|1003|Alice <1001>|1001|Alice|0:05|1]");
	free(s);
	s = expand("on ${VM_DATE}.");
	assert_string_equal(s, "on Monday, March 02, 2026 at 10:00:00 AM.");
	free(s);
}

static void test_expand_unknown_kept(void **state)
{
	/* Typos, lone dollars and an unclosed brace stay as written, so the admin sees them. */
	char *s = expand("${VM_NOPE} $5 ${VM_MAILBOX ${ $ ${}");
	assert_string_equal(s, "${VM_NOPE} $5 ${VM_MAILBOX ${ $ ${}");
	free(s);
	s = expand("${VM_DUR}${VM_DUR}$");
	assert_string_equal(s, "0:050:05$");
	free(s);
	s = expand("");
	assert_string_equal(s, "");
	free(s);
}

static void test_clean(void **state)
{
	char out[64];
	vm_mail_clean(out, sizeof out, "Bob\r\nBcc: x@evil\tz");
	assert_string_equal(out, "Bob  Bcc: x@evil z");
	/* Valid UTF-8 stays; a stray byte, an overlong form and a surrogate become '?'. */
	vm_mail_clean(out, sizeof out, "J\xc3\xbcrgen \xff \xc0\xaf \xed\xa0\x80");
	assert_string_equal(out, "J\xc3\xbcrgen ? ?? ???");
	/* C1 controls (NEL) are blanked too. */
	vm_mail_clean(out, sizeof out,
		      "a\xc2\x85"
		      "b\x7f");
	assert_string_equal(out, "a b ");
	/* A sequence that does not fit is left out whole, never cut. */
	char small[4];
	vm_mail_clean(small, sizeof small, "ab\xc3\xbc");
	assert_string_equal(small, "ab");
}

static void test_vars_fill(void **state)
{
	struct vm_mail_vars v;
	struct vm_mail_store st;
	vm_mail_vars_fill(&v, &st, "", "1003", "1001", "Alice\r\nX-Evil: 1", 1772445600, 65400, 3);
	assert_string_equal(v.name, "1003"); /* no user name: the mailbox */
	assert_string_equal(v.cidname, "Alice  X-Evil: 1");
	assert_string_equal(v.callerid, "Alice  X-Evil: 1 <1001>");
	assert_string_equal(v.dur, "1:05");
	assert_string_equal(v.msgnum, "3");
	assert_non_null(strstr(v.date, "2026"));
	assert_non_null(strstr(v.date, " at "));

	vm_mail_vars_fill(&v, &st, "Carol", "1003", "1001", "", 0, 0, 1);
	assert_string_equal(v.name, "Carol");
	assert_string_equal(v.callerid, "1001");
	assert_string_equal(v.dur, "0:00");
	vm_mail_vars_fill(&v, &st, "Carol", "1003", "", "Alice", 0, 1500, 1);
	assert_string_equal(v.callerid, "Alice");
	assert_string_equal(v.dur, "0:02");
	vm_mail_vars_fill(&v, &st, "Carol", "1003", NULL, NULL, 0, 0, 1);
	assert_string_equal(v.callerid, "an unknown caller");
}

static void test_date_addr_boundary(void **state)
{
	char d[64];
	vm_mail_date(d, sizeof d, 1772445600);
	/* "Mon, 02 Mar 2026 10:00:00 +0000" in whatever zone the test runs. */
	assert_int_equal(strlen(d), 31);
	assert_int_equal(d[3], ',');
	assert_true(d[26] == '+' || d[26] == '-');
	assert_non_null(strstr(d, " 2026 "));

	char a[64];
	vm_mail_addr(a, sizeof a, "Voicemail <vm@pbx.example>");
	assert_string_equal(a, "vm@pbx.example");
	vm_mail_addr(a, sizeof a, "vm@pbx.example");
	assert_string_equal(a, "vm@pbx.example");
	vm_mail_addr(a, sizeof a, "x <vm@pbx\r\n.example>");
	assert_string_equal(a, "vm@pbx.example");

	char b[64];
	const unsigned char seed[] = {0x01, 0xab, 0xff};
	vm_mail_boundary(b, sizeof b, seed, sizeof seed);
	assert_string_equal(b, "=_pbx_01abff");
}

/* ---- the whole message ---------------------------------------------------------------------- */

static const unsigned char wav[] = {'R', 'I', 'F', 'F', 0x24, 0,   0,   0,
				    'W', 'A', 'V', 'E', 'f',  'm', 't', ' '};

static char *build(const char *subject, const char *body, bool attach)
{
	struct vm_mail_parts p = {
		.from = "Voicemail <vm@pbx.example>",
		.to = "carol@example.com",
		.subject = subject,
		.body = body,
		.date = "Mon, 02 Mar 2026 10:00:00 +0000",
		.msgid = "<vm.1.2@pbx.example>",
		.boundary = "=_pbx_0123",
		.attach_name = attach ? "msg7.wav" : NULL,
		.attach = wav,
		.attach_len = sizeof wav,
	};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(vm_mail_build(&b, &p), 0);
	pbx_buf_append(&b, "", 1);
	return b.data;
}

/* Every line ends in CRLF and is at most @p max characters; returns the header part's lines. */
static int check_lines(const char *m, size_t max)
{
	int header_lines = -1, n = 0;
	for (const char *p = m; *p;) {
		const char *lf = strchr(p, '\n');
		assert_non_null(lf);
		assert_int_equal(lf[-1], '\r');
		const char *cr = strchr(p, '\r');
		assert_ptr_equal(cr, lf - 1); /* no bare CR inside a line */
		assert_true((size_t)(lf - 1 - p) <= max);
		if (lf - 1 == p && header_lines < 0)
			header_lines = n;
		n++;
		p = lf + 1;
	}
	return header_lines;
}

static void test_build_message(void **state)
{
	char *m = build("New message 1 in 1003", "Dear Carol,\n\nline two\n", true);
	assert_int_equal(check_lines(m, 78), 7);
	assert_true(!strncmp(m, "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n", 39));
	assert_non_null(strstr(m, "\r\nFrom: Voicemail <vm@pbx.example>\r\n"));
	assert_non_null(strstr(m, "\r\nTo: carol@example.com\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: New message 1 in 1003\r\n"));
	assert_non_null(strstr(m, "\r\nMessage-ID: <vm.1.2@pbx.example>\r\n"));
	assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(
		strstr(m, "\r\nContent-Type: multipart/mixed; boundary=\"=_pbx_0123\"\r\n\r\n"));
	assert_non_null(strstr(m, "\r\n--=_pbx_0123\r\nContent-Type: text/plain; charset=UTF-8\r\n"
				  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
				  "Dear Carol,\r\n\r\nline two\r\n--=_pbx_0123\r\n"));
	assert_non_null(strstr(m, "Content-Type: audio/wav; name=\"msg7.wav\"\r\n"
				  "Content-Transfer-Encoding: base64\r\n"
				  "Content-Disposition: attachment; filename=\"msg7.wav\"\r\n\r\n"
				  "UklGRiQAAABXQVZFZm10IA==\r\n--=_pbx_0123--\r\n"));
	/* The closing boundary ends the message. */
	assert_string_equal(m + strlen(m) - 16, "\r\n--=_pbx_0123--\r\n" + 2);
	free(m);
}

static void test_build_no_attachment(void **state)
{
	char *m = build("s", "b", false);
	check_lines(m, 78);
	assert_null(strstr(m, "audio/wav"));
	assert_non_null(strstr(m, "\r\n\r\nb\r\n--=_pbx_0123--\r\n"));
	free(m);
}

static void test_build_header_injection(void **state)
{
	/*
	 * A template that got a hostile caller name through a path that did not
	 * clean it: the builder still makes the subject one header line.
	 */
	char *m = build("Message from Bob\r\nBcc: victim@example.com\n\r\nbody", "x", false);
	assert_int_equal(check_lines(m, 78), 7);
	assert_null(strstr(m, "\nBcc:"));
	assert_non_null(
		strstr(m, "\r\nSubject: Message from Bob  Bcc: victim@example.com   body\r\n"));
	free(m);

	/* Headers from the config and the directory are one line each too. */
	struct vm_mail_parts p = {.from = "PBX\r\nBcc: a@b <vm@x>",
				  .to = "c@d\nBcc: e@f",
				  .subject = "s",
				  .body = "b",
				  .date = "d",
				  .msgid = "<m@x>",
				  .boundary = "=_pbx_1"};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(vm_mail_build(&b, &p), 0);
	pbx_buf_append(&b, "", 1);
	assert_null(strstr(b.data, "\nBcc:"));
	assert_int_equal(check_lines(b.data, 78), 7);
	pbx_buf_free(&b);
}

static void test_build_subject_rfc2047(void **state)
{
	char *m = build("Nachricht von J\xc3\xbcrgen", "x", false);
	assert_non_null(strstr(m, "\r\nSubject: =?UTF-8?B?TmFjaHJpY2h0IHZvbiBKw7xyZ2Vu?=\r\n"));
	free(m);

	/* A long one is folded into words of whole characters, each line short. */
	char subj[400] = "";
	for (int i = 0; i < 60; i++)
		strcat(subj, "\xc3\xbc\xe2\x82\xac"); /* "ü€", 5 bytes */
	m = build(subj, "x", false);
	int hdr = check_lines(m, 78);
	assert_true(hdr > 7);
	const char *s = strstr(m, "\r\nSubject: =?UTF-8?B?");
	assert_non_null(s);
	/* Each continuation line is one word: " =?UTF-8?B?...?=". */
	const char *line = strstr(s + 2, "\r\n") + 2;
	int words = 1;
	while (!strncmp(line, " =?UTF-8?B?", 11)) {
		const char *end = strstr(line, "\r\n");
		assert_memory_equal(end - 2, "?=", 2);
		words++;
		line = end + 2;
	}
	/* 300 bytes in words of at most 45 (39 on the Subject: line), no character cut. */
	assert_true(words == 7 || words == 8);
	free(m);

	/* ASCII that looks like an encoded word is encoded, so a reader cannot be fooled. */
	m = build("=?UTF-8?B?SGk=?=", "x", false);
	assert_null(strstr(m, "Subject: =?UTF-8?B?SGk=?=\r\n"));
	free(m);
}

static void test_build_quoted_printable(void **state)
{
	char body[200];
	/* '=' encoded, a trailing blank encoded, 8-bit encoded, a long line softly broken. */
	snprintf(body, sizeof body, "a=b \ntab\t\r\n\xc3\xbc\n%s", "");
	char *m = build("s", body, false);
	assert_non_null(strstr(m, "\r\n\r\na=3Db=20\r\ntab=09\r\n=C3=BC\r\n--=_pbx_0123--"));
	free(m);

	char longline[301];
	memset(longline, 'x', 300);
	longline[300] = '\0';
	m = build("s", longline, false);
	check_lines(m, 76);
	const char *p = strstr(m, "xxxx");
	/* 75 characters and the soft break's '=' make the longest line allowed, 76. */
	assert_int_equal(strstr(p, "\r\n") - p, 76);
	assert_int_equal(p[75], '=');
	int soft = 0;
	for (const char *q = p; (q = strstr(q, "=\r\n")); q++)
		soft++;
	assert_int_equal(soft, 3);
	char last[100];
	memset(last, 'x', 75);
	snprintf(last + 75, sizeof last - 75, "\r\n--=_pbx_0123--");
	assert_non_null(strstr(p, last));
	free(m);
}

static void test_build_base64_lines(void **state)
{
	unsigned char data[100];
	for (int i = 0; i < 100; i++)
		data[i] = (unsigned char)i;
	struct vm_mail_parts p = {.from = "f@x",
				  .to = "t@x",
				  .subject = "s",
				  .body = "b",
				  .date = "d",
				  .msgid = "<m@x>",
				  .boundary = "=_pbx_1",
				  .attach_name = "msg1.wav",
				  .attach = data,
				  .attach_len = sizeof data};
	struct pbx_buf b;
	pbx_buf_init(&b);
	assert_int_equal(vm_mail_build(&b, &p), 0);
	pbx_buf_append(&b, "", 1);
	check_lines(b.data, 76);
	assert_non_null(strstr(
		b.data,
		"\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Nj"
		"c4"
		"\r\nOTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==\r\n--=_pbx_1--"));
	pbx_buf_free(&b);
}

static void test_backoff(void **state)
{
	assert_int_equal(vm_mail_backoff(60, 1), 60);
	assert_int_equal(vm_mail_backoff(60, 2), 120);
	assert_int_equal(vm_mail_backoff(60, 4), 480);
	assert_int_equal(vm_mail_backoff(60, 7), 3600); /* 3840 capped */
	assert_int_equal(vm_mail_backoff(60, 1000), 3600);
	assert_int_equal(vm_mail_backoff(1, 3), 4);
	assert_int_equal(vm_mail_backoff(3600, 1), 3600);
	assert_int_equal(vm_mail_backoff(5000, 1), 3600);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_backoff),
	cmocka_unit_test(test_expand_vars),
	cmocka_unit_test(test_expand_unknown_kept),
	cmocka_unit_test(test_clean),
	cmocka_unit_test(test_vars_fill),
	cmocka_unit_test(test_date_addr_boundary),
	cmocka_unit_test(test_build_message),
	cmocka_unit_test(test_build_no_attachment),
	cmocka_unit_test(test_build_header_injection),
	cmocka_unit_test(test_build_subject_rfc2047),
	cmocka_unit_test(test_build_quoted_printable),
	cmocka_unit_test(test_build_base64_lines),
};

UNIT_GROUP(vm_mail, tests, NULL, NULL);
