/**
 * @file vm_mail_mime.c  Voicemail mail: template variables and the MIME message
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Text only, no I/O and no shared state: vm_mail.c calls it on the
 * signalling thread (templates) and in the thread pool (the message, whose
 * attachment may be megabytes of base64).
 *
 * What comes from the network (caller ID names and numbers) can never
 * shape the message: values are cleaned to one line of valid UTF-8 before
 * they enter a template; the subject is one header line, encoded per
 * RFC 2047 when it is not plain ASCII; the body is quoted-printable; and
 * the boundary holds "=_", which neither quoted-printable nor base64 can
 * produce.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vm_mail.h"

/* Mail lines may be 998 bytes; a subject is kept well below that. */
#define SUBJECT_MAX 900
/*
 * Input bytes per RFC 2047 encoded word: 60 characters of base64, 72 with
 * the frame (75 at most); the first shares its line with "Subject: ".
 */
#define WORD_BYTES       45
#define FIRST_WORD_BYTES 39
/* Quoted-printable and base64 lines are at most 76 characters (RFC 2045). */
#define LINE_MAX 76

/* Length of the valid UTF-8 sequence at @p s (at most @p n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0; /* overlong */
	else if (c == 0xED)
		hi = 0x9F; /* surrogates */
	else if (c == 0xF0)
		lo = 0x90; /* overlong */
	else if (c == 0xF4)
		hi = 0x8F; /* above U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

void vm_mail_clean(char *out, size_t size, const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(s + i, n - i);
		if (len == 0) {
			len = 1;
			if (o + 1 >= size)
				break;
			out[o++] = '?';
		} else if (len == 1) {
			if (o + 1 >= size)
				break;
			out[o++] = s[i] < 0x20 || s[i] == 0x7f ? ' ' : (char)s[i];
		} else if (len == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0) {
			/* C1 controls (U+0080..U+009F, NEL among them) are blanked as the ASCII ones. */
			if (o + 1 >= size)
				break;
			out[o++] = ' ';
		} else {
			if (o + len >= size)
				break; /* never a sequence cut in half */
			memcpy(out + o, s + i, len);
			o += len;
		}
		i += len;
	}
	out[o] = '\0';
}

static void ascii_only(char *out, size_t size, const char *in)
{
	vm_mail_clean(out, size, in);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
}

/* ---- templates ------------------------------------------------------------------------------ */

int vm_mail_expand(struct pbx_buf *out, const char *tmpl, const struct vm_mail_vars *v)
{
	const struct {
		const char *name;
		const char *value;
	} vars[] = {
		{"VM_NAME", v->name},     {"VM_MAILBOX", v->mailbox}, {"VM_CALLERID", v->callerid},
		{"VM_CIDNUM", v->cidnum}, {"VM_CIDNAME", v->cidname}, {"VM_DUR", v->dur},
		{"VM_DATE", v->date},     {"VM_MSGNUM", v->msgnum},
	};
	int err = 0;
	const char *p = tmpl;
	while (*p && !err) {
		const char *d = strstr(p, "${");
		if (!d) {
			err = pbx_buf_puts(out, p);
			break;
		}
		if ((err = pbx_buf_append(out, p, (size_t)(d - p))))
			break;
		const char *end = strchr(d + 2, '}');
		size_t i = 0, nlen = end ? (size_t)(end - d - 2) : 0;
		for (; end && i < sizeof vars / sizeof *vars; i++)
			if (strlen(vars[i].name) == nlen && !memcmp(vars[i].name, d + 2, nlen))
				break;
		if (!end || i == sizeof vars / sizeof *vars) {
			/* Not ours: written as it is, so the admin sees the typo in the mail. */
			err = pbx_buf_append(out, d, 2);
			p = d + 2;
			continue;
		}
		err = pbx_buf_puts(out, vars[i].value ? vars[i].value : "");
		p = end + 1;
	}
	return err ? ENOMEM : 0;
}

void vm_mail_vars_fill(struct vm_mail_vars *v, struct vm_mail_store *st, const char *user_name,
		       const char *mailbox, const char *cid_num, const char *cid_name, int64_t t,
		       unsigned duration_ms, unsigned msgnum)
{
	vm_mail_clean(st->mailbox, sizeof st->mailbox, mailbox);
	vm_mail_clean(st->name, sizeof st->name, user_name && *user_name ? user_name : mailbox);
	vm_mail_clean(st->cidnum, sizeof st->cidnum, cid_num ? cid_num : "");
	vm_mail_clean(st->cidname, sizeof st->cidname, cid_name ? cid_name : "");
	/* As Asterisk's ast_callerid_merge: both, either one, or a placeholder. */
	if (st->cidname[0] && st->cidnum[0])
		snprintf(st->callerid, sizeof st->callerid, "%s <%s>", st->cidname, st->cidnum);
	else if (st->cidname[0] || st->cidnum[0])
		snprintf(st->callerid, sizeof st->callerid, "%s",
			 st->cidname[0] ? st->cidname : st->cidnum);
	else
		snprintf(st->callerid, sizeof st->callerid, "an unknown caller");
	unsigned secs = (duration_ms + 500) / 1000;
	snprintf(st->dur, sizeof st->dur, "%u:%02u", secs / 60, secs % 60);
	/* Asterisk's default emaildateformat, "%A, %B %d, %Y at %r". */
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	if (!strftime(st->date, sizeof st->date, "%A, %B %d, %Y at %r", &tm))
		st->date[0] = '\0';
	snprintf(st->msgnum, sizeof st->msgnum, "%u", msgnum);
	*v = (struct vm_mail_vars){st->name,    st->mailbox, st->callerid, st->cidnum,
				   st->cidname, st->dur,     st->date,     st->msgnum};
}

/* ---- small formats ------------------------------------------------------------------------ */

void vm_mail_date(char *out, size_t size, int64_t t)
{
	/* Names written out: RFC 5322 wants English whatever the locale. */
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, sign, off / 60, off % 60);
}

void vm_mail_boundary(char *out, size_t size, const unsigned char *seed, size_t n)
{
	size_t o = (size_t)snprintf(out, size, "=_pbx_");
	for (size_t i = 0; i < n && o + 2 < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%02x", seed[i]);
}

void vm_mail_addr(char *out, size_t size, const char *from)
{
	const char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt)
		snprintf(out, size, "%.*s", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, size, "%s", from);
	/* The SMTP envelope takes no blanks, brackets or line breaks. */
	char *w = out;
	for (const char *r = out; *r; r++)
		if ((unsigned char)*r > 0x20 && *r != 0x7f && *r != '<' && *r != '>')
			*w++ = *r;
	*w = '\0';
}

/* ---- encodings ---------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of @p n bytes, on one line (an encoded word) or in LINE_MAX lines each ending CRLF. */
static int base64(struct pbx_buf *out, const unsigned char *s, size_t n, bool lines)
{
	char line[LINE_MAX + 2];
	size_t o = 0;
	int err = 0;
	for (size_t i = 0; i < n && !err; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		line[o++] = b64[v >> 18 & 63];
		line[o++] = b64[v >> 12 & 63];
		line[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		line[o++] = i + 2 < n ? b64[v & 63] : '=';
		if (o == LINE_MAX || i + 3 >= n) {
			if (lines) {
				line[o++] = '\r';
				line[o++] = '\n';
			}
			err = pbx_buf_append(out, line, o);
			o = 0;
		}
	}
	return err;
}

/* Quoted-printable (RFC 2045 6.7) of @p s; any of CRLF, LF or CR ends a line. */
static int quoted_printable(struct pbx_buf *out, const char *s)
{
	int err = 0;
	size_t col = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && !err; p++) {
		if (*p == '\r' || *p == '\n') {
			if (*p == '\r' && p[1] == '\n')
				p++;
			err = pbx_buf_puts(out, "\r\n");
			col = 0;
			continue;
		}
		bool at_eol = !p[1] || p[1] == '\r' || p[1] == '\n';
		bool plain = (*p >= 33 && *p <= 126 && *p != '=') ||
			     ((*p == ' ' || *p == '\t') && !at_eol);
		size_t w = plain ? 1 : 3;
		/* Room for the soft break's '=' too, unless this is the line's last character. */
		if (col + w > (at_eol ? LINE_MAX : LINE_MAX - 1)) {
			err = pbx_buf_puts(out, "=\r\n");
			col = 0;
		}
		if (plain)
			err = err ? err : pbx_buf_append(out, p, 1);
		else
			err = err ? err : pbx_buf_printf(out, "=%02X", *p);
		col += w;
	}
	if (!err && col)
		err = pbx_buf_puts(out, "\r\n");
	return err;
}

/* "Subject: ..." as one line, or RFC 2047 words folded on CRLF SP when not plain ASCII. */
static int header_text(struct pbx_buf *out, const char *name, const char *value)
{
	char v[SUBJECT_MAX + 1];
	vm_mail_clean(v, sizeof v, value);
	bool ascii = true;
	for (const char *p = v; *p; p++)
		ascii &= (unsigned char)*p < 0x80;
	/* "=?" would read as the start of an encoded word: encode such a subject too. */
	if (ascii && !strstr(v, "=?"))
		return pbx_buf_printf(out, "%s: %s\r\n", name, v);
	int err = pbx_buf_printf(out, "%s:", name);
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v);
	for (size_t i = 0; i < n && !err;) {
		size_t most = i ? WORD_BYTES : FIRST_WORD_BYTES;
		size_t take = n - i < most ? n - i : most;
		/* A word holds whole characters (RFC 2047 5): back off a cut sequence. */
		while (take < n - i && take > 0 && (s[i + take] & 0xC0) == 0x80)
			take--;
		err = pbx_buf_puts(out, i ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?");
		err = err ? err : base64(out, s + i, take, false);
		err = err ? err : pbx_buf_puts(out, "?=");
		i += take;
	}
	return err ? err : pbx_buf_puts(out, "\r\n");
}

/* ---- the message -------------------------------------------------------------------------- */

int vm_mail_build(struct pbx_buf *out, const struct vm_mail_parts *p)
{
	char from[256], to[256], msgid[256], name[64];
	ascii_only(from, sizeof from, p->from);
	ascii_only(to, sizeof to, p->to);
	ascii_only(msgid, sizeof msgid, p->msgid);
	int err = pbx_buf_printf(out, "Date: %s\r\nFrom: %s\r\nTo: %s\r\n", p->date, from, to);
	err = err ? err : header_text(out, "Subject", p->subject);
	err = err ? err
		  : pbx_buf_printf(out,
				   "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
				   "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
				   "This is a message in MIME format.\r\n\r\n--%s\r\n"
				   "Content-Type: text/plain; charset=UTF-8\r\n"
				   "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
				   msgid, p->boundary, p->boundary);
	err = err ? err : quoted_printable(out, p->body);
	if (!err && p->attach_name) {
		/* Our own name ("msg12.wav"); cleaned anyway, as it sits in quotes. */
		size_t o = 0;
		for (const char *c = p->attach_name; *c && o + 1 < sizeof name; c++)
			if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_')
				name[o++] = *c;
		name[o] = '\0';
		err = pbx_buf_printf(out,
				     "--%s\r\nContent-Type: audio/wav; name=\"%s\"\r\n"
				     "Content-Transfer-Encoding: base64\r\n"
				     "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n",
				     p->boundary, name, name);
		err = err ? err : base64(out, p->attach, p->attach_len, true);
	}
	err = err ? err : pbx_buf_printf(out, "--%s--\r\n", p->boundary);
	return err ? ENOMEM : 0;
}
