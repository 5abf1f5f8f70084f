/**
 * @file sip_pidf.c  A bounded reader of the few things the PBX takes from a PIDF document
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One pass over the body, a stack of open element names (slices of the
 * body, at most SIP_PIDF_DEPTH_MAX deep) and one small text buffer: the
 * cost is linear in the body, which the transport already bounds
 * (sip.max_message_size), and nothing is allocated. Elements are known by
 * their local name whatever their prefix ("basic", "rpid:away", "dm:note"):
 * phones spell the RPID and data-model prefixes differently, and a wrong
 * namespace costs at most a note shown that the sender did not mean as
 * one. Well-nesting is checked; a DTD is refused, which also shuts out
 * entity expansion.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sip_pidf.h"

static const char *const act_names[SIP_PIDF__ACTIVITIES] = {
	"away",        "busy",     "on-the-phone", "meal",   "meeting",
	"appointment", "vacation", "holiday",      "travel", "sleeping",
};
static const char *const act_words[SIP_PIDF__ACTIVITIES] = {
	"Away",        "Busy",         "On the phone",
	"At a meal",   "In a meeting", "In an appointment",
	"On vacation", "On holiday",   "Travelling",
	"Sleeping",
};

const char *sip_pidf_activity_name(unsigned i)
{
	return i < SIP_PIDF__ACTIVITIES ? act_names[i] : NULL;
}

const char *sip_pidf_activity_words(unsigned i)
{
	return i < SIP_PIDF__ACTIVITIES ? act_words[i] : NULL;
}

struct slice {
	const char *p;
	size_t l;
};

enum capture { CAP_NONE, CAP_BASIC, CAP_NOTE };

struct reader {
	const char *p, *end;
	struct slice stack[SIP_PIDF_DEPTH_MAX];
	unsigned depth;
	bool root_seen;
	enum capture cap;
	unsigned cap_depth; /* the depth of the element whose text is captured */
	char text[SIP_PIDF_NOTE_MAX + 8];
	size_t tl;
	bool full;
	const char *why;
};

static bool slice_is(struct slice s, const char *lit)
{
	return s.l == strlen(lit) && !memcmp(s.p, lit, s.l);
}

/* The part after the last ':' of a qualified name. */
static struct slice local_name(struct slice q)
{
	const char *c = memrchr(q.p, ':', q.l);
	if (!c)
		return q;
	return (struct slice){c + 1, q.l - (size_t)(c + 1 - q.p)};
}

static int fail(struct reader *r, const char *why)
{
	r->why = why;
	return EINVAL;
}

static void put(struct reader *r, const char *s, size_t n)
{
	if (r->tl + n > sizeof r->text - 1) {
		n = sizeof r->text - 1 - r->tl;
		r->full = true;
	}
	memcpy(r->text + r->tl, s, n);
	r->tl += n;
}

static void put_utf8(struct reader *r, uint32_t c)
{
	char b[4];
	size_t n;
	if (c < 0x80) {
		b[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xC0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3F));
		n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xE0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | c >> 18);
		b[1] = (char)(0x80 | (c >> 12 & 0x3F));
		b[2] = (char)(0x80 | (c >> 6 & 0x3F));
		b[3] = (char)(0x80 | (c & 0x3F));
		n = 4;
	}
	put(r, b, n);
}

/* Character data [s, e) into the capture, XML's entities decoded. */
static int text(struct reader *r, const char *s, const char *e)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	if (r->cap == CAP_NONE)
		return 0;
	while (s < e && !r->full) {
		const char *amp = memchr(s, '&', (size_t)(e - s));
		if (!amp) {
			put(r, s, (size_t)(e - s));
			break;
		}
		put(r, s, (size_t)(amp - s));
		const char *semi = memchr(amp, ';', (size_t)(e - amp));
		if (!semi || semi - amp > 12)
			return fail(r, "bad entity");
		size_t n = (size_t)(semi + 1 - (amp + 1));
		size_t i;
		for (i = 0; i < sizeof ents / sizeof *ents; i++)
			if (strlen(ents[i].name) == n && !memcmp(amp + 1, ents[i].name, n))
				break;
		if (i < sizeof ents / sizeof *ents) {
			put(r, &ents[i].c, 1);
		} else if (amp[1] == '#') {
			bool hex = amp[2] == 'x';
			uint32_t c = 0;
			const char *d = amp + 2 + hex;
			if (d == semi)
				return fail(r, "bad character reference");
			for (; d < semi; d++) {
				unsigned v;
				if (*d >= '0' && *d <= '9')
					v = (unsigned)(*d - '0');
				else if (hex && *d >= 'a' && *d <= 'f')
					v = (unsigned)(*d - 'a' + 10);
				else if (hex && *d >= 'A' && *d <= 'F')
					v = (unsigned)(*d - 'A' + 10);
				else
					return fail(r, "bad character reference");
				c = c * (hex ? 16 : 10) + v;
				if (c > 0x10FFFF)
					return fail(r, "bad character reference");
			}
			if (!c || (c >= 0xD800 && c <= 0xDFFF))
				return fail(r, "bad character reference");
			put_utf8(r, c);
		} else {
			return fail(r, "unknown entity");
		}
		s = semi + 1;
	}
	return 0;
}

/* The captured text trimmed, its controls made spaces and bad UTF-8 '?', cut whole. */
static size_t tidy(char *t, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)t[i];
		size_t k = c < 0x80             ? 1
			   : (c & 0xE0) == 0xC0 ? 2
			   : (c & 0xF0) == 0xE0 ? 3
			   : (c & 0xF8) == 0xF0 ? 4
						: 0;
		bool ok = k && i + k <= n;
		for (size_t j = 1; ok && j < k; j++)
			ok = ((unsigned char)t[i + j] & 0xC0) == 0x80;
		unsigned char c1 = ok && k > 1 ? (unsigned char)t[i + 1] : 0x80;
		/* Overlong forms, UTF-16 surrogates and beyond U+10FFFF are not characters. */
		if (ok && ((k == 2 && c < 0xC2) || (c == 0xE0 && c1 < 0xA0) ||
			   (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
			   (c == 0xF4 && c1 >= 0x90) || c > 0xF4))
			ok = false;
		if (!ok) {
			if (o + 1 > max)
				break;
			t[o++] = '?';
			i++;
			continue;
		}
		if (o + k > max)
			break; /* cut before a character, never inside one */
		if (k == 1 && (c < 0x20 || c == 0x7F))
			c = ' ';
		if (k == 1)
			t[o++] = (char)c;
		else
			memmove(t + o, t + i, k), o += k;
		i += k;
	}
	size_t b = 0;
	while (b < o && t[b] == ' ')
		b++;
	while (o > b && t[o - 1] == ' ')
		o--;
	memmove(t, t + b, o - b);
	t[o - b] = '\0';
	return o - b;
}

static void capture_end(struct reader *r, struct sip_pidf *out)
{
	size_t n = tidy(r->text, r->tl, SIP_PIDF_NOTE_MAX);
	if (r->cap == CAP_BASIC) {
		if (!strcmp(r->text, "open"))
			out->basic = SIP_PIDF_OPEN;
		else if (!strcmp(r->text, "closed") && out->basic != SIP_PIDF_OPEN)
			out->basic = SIP_PIDF_CLOSED;
	} else if (r->cap == CAP_NOTE && n && !out->note[0]) {
		memcpy(out->note, r->text, n + 1);
	}
	r->cap = CAP_NONE;
	r->tl = 0;
	r->full = false;
}

static void element(struct reader *r, struct slice q, struct sip_pidf *out)
{
	struct slice name = local_name(q);
	if (r->depth >= 1 && slice_is(local_name(r->stack[r->depth - 1]), "activities")) {
		for (unsigned i = 0; i < SIP_PIDF__ACTIVITIES; i++)
			if (slice_is(name, act_names[i]))
				out->activities |= 1u << i;
		return;
	}
	if (r->cap != CAP_NONE)
		return;
	if (slice_is(name, "basic"))
		r->cap = CAP_BASIC;
	else if (slice_is(name, "note") && !out->note[0])
		r->cap = CAP_NOTE;
	else
		return;
	r->cap_depth = r->depth + 1;
	r->tl = 0;
	r->full = false;
}

static bool name_char(char c)
{
	return c && !strchr(" \t\r\n/>=\"'<", c);
}

/* A tag at r->p ('<'). */
static int tag(struct reader *r, struct sip_pidf *out)
{
	const char *p = r->p + 1, *e = r->end;
	size_t left = (size_t)(e - p);
	if (left >= 1 && *p == '?') {
		const char *q = memmem(p, left, "?>", 2);
		if (!q)
			return fail(r, "unterminated processing instruction");
		r->p = q + 2;
		return 0;
	}
	if (left >= 3 && !memcmp(p, "!--", 3)) {
		const char *q = memmem(p + 3, left - 3, "-->", 3);
		if (!q)
			return fail(r, "unterminated comment");
		r->p = q + 3;
		return 0;
	}
	if (left >= 8 && !memcmp(p, "![CDATA[", 8)) {
		const char *q = memmem(p + 8, left - 8, "]]>", 3);
		if (!q)
			return fail(r, "unterminated CDATA");
		if (r->cap != CAP_NONE && !r->full)
			put(r, p + 8, (size_t)(q - (p + 8)));
		r->p = q + 3;
		return 0;
	}
	if (left >= 1 && *p == '!')
		return fail(r, "no DTD in a presence document");
	bool closing = left && *p == '/';
	if (closing)
		p++;
	const char *n0 = p;
	while (p < e && name_char(*p))
		p++;
	struct slice q = {n0, (size_t)(p - n0)};
	if (!q.l)
		return fail(r, "bad tag");
	/* To the tag's end; a '>' inside a quoted attribute value does not end it. */
	char quote = 0;
	while (p < e && (quote || *p != '>')) {
		if (quote && *p == quote)
			quote = 0;
		else if (!quote && (*p == '"' || *p == '\''))
			quote = *p;
		else if (!quote && *p == '<')
			return fail(r, "bad tag");
		p++;
	}
	if (p == e)
		return fail(r, "unterminated tag");
	bool empty = !closing && p[-1] == '/';
	r->p = p + 1;
	if (closing) {
		if (!r->depth || r->stack[r->depth - 1].l != q.l ||
		    memcmp(r->stack[r->depth - 1].p, q.p, q.l))
			return fail(r, "elements not nested");
		if (r->cap != CAP_NONE && r->cap_depth == r->depth)
			capture_end(r, out);
		r->depth--;
		return 0;
	}
	if (!r->depth) {
		if (r->root_seen)
			return fail(r, "more than one root element");
		if (!slice_is(local_name(q), "presence"))
			return fail(r, "not a presence document");
		r->root_seen = true;
	}
	if (r->depth == SIP_PIDF_DEPTH_MAX)
		return fail(r, "nested too deep");
	element(r, q, out);
	if (empty) {
		if (r->cap != CAP_NONE && r->cap_depth == r->depth + 1)
			capture_end(r, out);
		return 0;
	}
	r->stack[r->depth++] = q;
	return 0;
}

int sip_pidf_parse(const char *body, size_t len, struct sip_pidf *out, const char **why)
{
	struct reader r = {.p = body, .end = body + len};
	int err = 0;
	memset(out, 0, sizeof *out);
	while (!err && r.p < r.end) {
		const char *lt = memchr(r.p, '<', (size_t)(r.end - r.p));
		if (!lt)
			lt = r.end;
		if (lt > r.p && r.depth)
			err = text(&r, r.p, lt);
		r.p = lt;
		if (!err && r.p < r.end)
			err = tag(&r, out);
	}
	if (!err && (r.depth || !r.root_seen))
		err = fail(&r, r.root_seen ? "unterminated document" : "not a presence document");
	if (err) {
		memset(out, 0, sizeof *out);
		if (why)
			*why = r.why;
	}
	return err;
}
