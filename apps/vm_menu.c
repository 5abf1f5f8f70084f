/**
 * @file vm_menu.c  VoiceMailMain's menu logic and phrases, without a call (see vm_menu.h)
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_menu.h"

/* ---- views ------------------------------------------------------------------------------------ */

int vm_view_of_key(char key)
{
	return key >= '0' && key < '0' + VM_NVIEWS ? key - '0' : -1;
}

static bool is_inbox(int folder)
{
	return folder == PBX_VM_INBOX || folder == PBX_VM_URGENT;
}

bool vm_view_has(int view, const struct pbx_vm_msg *m)
{
	switch (view) {
	case VM_VIEW_NEW: return is_inbox(m->folder) && !m->read;
	/* Heard but not yet moved (a call that ended oddly) counts as old, as the lamp counts it. */
	case VM_VIEW_OLD: return m->folder == PBX_VM_OLD || (is_inbox(m->folder) && m->read);
	case VM_VIEW_WORK: return m->folder == PBX_VM_WORK;
	case VM_VIEW_FAMILY: return m->folder == PBX_VM_FAMILY;
	case VM_VIEW_FRIENDS: return m->folder == PBX_VM_FRIENDS;
	default: return false;
	}
}

int vm_view_folder(int view)
{
	static const int folders[VM_NVIEWS] = {PBX_VM_INBOX, PBX_VM_OLD, PBX_VM_WORK, PBX_VM_FAMILY,
					       PBX_VM_FRIENDS};
	return view >= 0 && view < VM_NVIEWS ? folders[view] : -1;
}

const char *vm_view_prompt(int view)
{
	static const char *const names[VM_NVIEWS] = {"vm-INBOX", "vm-Old", "vm-Work", "vm-Family",
						     "vm-Friends"};
	return view >= 0 && view < VM_NVIEWS ? names[view] : "vm-INBOX";
}

/* ---- the list --------------------------------------------------------------------------------- */

int vm_list_add(struct vm_list *l, const struct pbx_vm_msg *m)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct vm_entry *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct vm_entry){.m = *m};
	return 0;
}

void vm_list_clear(struct vm_list *l)
{
	l->n = l->cur = 0;
}

void vm_list_free(struct vm_list *l)
{
	free(l->v);
	memset(l, 0, sizeof *l);
}

enum vm_act vm_list_key(struct vm_list *l, char key)
{
	switch (key) {
	case '0': return VM_ACT_OPTIONS;
	case '2': return VM_ACT_FOLDER;
	case '*': return VM_ACT_HELP;
	case '#': return VM_ACT_EXIT;
	case '1':
	case '3':
	case '4':
	case '6':
	case '7':
	case '8':
	case '9': break;
	default: return VM_ACT_INVALID;
	}
	if (!l->n)
		return VM_ACT_NOMSGS;
	struct vm_entry *e = &l->v[l->cur];
	switch (key) {
	case '1': return VM_ACT_PLAY;
	case '3': return VM_ACT_ENVELOPE;
	case '4':
		if (!l->cur)
			return VM_ACT_NOMORE;
		l->cur--;
		return VM_ACT_PLAY;
	case '6':
		if (l->cur + 1 >= l->n)
			return VM_ACT_NOMORE;
		l->cur++;
		return VM_ACT_PLAY;
	case '7': e->deleted = !e->deleted; return e->deleted ? VM_ACT_DELETED : VM_ACT_UNDELETED;
	case '8': return VM_ACT_FORWARD;
	default: return VM_ACT_SAVE;
	}
}

enum vm_fate vm_entry_fate(const struct vm_entry *e)
{
	if (e->deleted)
		return VM_FATE_DELETE;
	if (e->heard && !e->saved && is_inbox(e->m.folder))
		return VM_FATE_OLD;
	return VM_FATE_KEEP;
}

/* ---- phrases ---------------------------------------------------------------------------------- */

/* "N <kind> message(s)"; "no <kind> messages" for 0. */
static int say_amount(unsigned n, const char *kind, apps_say_h *say, void *arg)
{
	int err = n ? apps_say_number(n, say, arg) : say(arg, "vm-no");
	if (!err && kind)
		err = say(arg, kind);
	if (!err)
		err = say(arg, n == 1 ? "vm-message" : "vm-messages");
	return err;
}

int vm_say_counts(unsigned new_msgs, unsigned old_msgs, apps_say_h *say, void *arg)
{
	int err = say(arg, "vm-youhave");
	if (err)
		return err;
	if (!new_msgs && !old_msgs)
		return say_amount(0, NULL, say, arg);
	if (new_msgs && (err = say_amount(new_msgs, "vm-INBOX", say, arg)))
		return err;
	if (new_msgs && old_msgs && (err = say(arg, "vm-and")))
		return err;
	if (old_msgs)
		err = say_amount(old_msgs, "vm-Old", say, arg);
	return err;
}

int vm_say_view_count(int view, size_t n, apps_say_h *say, void *arg)
{
	int err = say(arg, "vm-youhave");
	return err ? err : say_amount((unsigned)n, vm_view_prompt(view), say, arg);
}

int vm_say_header(const struct vm_list *l, apps_say_h *say, void *arg)
{
	int err = 0;
	if (!l->n)
		return 0;
	if (l->v[l->cur].m.urgent)
		err = say(arg, "vm-Urgent");
	if (!err)
		err = say(arg, "vm-message");
	return err ? err : apps_say_number((long long)l->cur + 1, say, arg);
}

/* "3 oh 5 P M", "11 45 A M", "12 P M", as Asterisk's English time. */
static int say_time(const struct tm *tm, apps_say_h *say, void *arg)
{
	int hour = tm->tm_hour % 12 ? tm->tm_hour % 12 : 12;
	int err = apps_say_number(hour, say, arg);
	if (!err && tm->tm_min) {
		if (tm->tm_min < 10)
			err = say(arg, "digits/oh");
		if (!err)
			err = apps_say_number(tm->tm_min, say, arg);
	}
	return err ? err : say(arg, tm->tm_hour < 12 ? "digits/a-m" : "digits/p-m");
}

int vm_say_envelope(const struct pbx_vm_msg *m, const struct tm *tm, apps_say_h *say, void *arg)
{
	char name[24];
	int err = say(arg, "vm-received");
	if (!err && tm->tm_mon >= 0 && tm->tm_mon < 12) {
		snprintf(name, sizeof name, "digits/mon-%d", tm->tm_mon);
		if (!(err = say(arg, name)))
			err = apps_say_number(tm->tm_mday, say, arg);
	}
	if (!err)
		err = say(arg, "vm-at");
	if (!err)
		err = say_time(tm, say, arg);
	if (!err)
		err = say(arg, "vm-from");
	bool any = false;
	for (const char *p = m->cid_num; !err && *p; p++) {
		if (*p < '0' || *p > '9')
			continue; /* "+", blanks, a SIP user's letters: digits are what a phone can say */
		snprintf(name, sizeof name, "digits/%c", *p);
		err = say(arg, name);
		any = true;
	}
	if (!err && !any)
		err = say(arg, "vm-unknowncaller");
	return err;
}

bool vm_pin_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return !diff && lb;
}

void vm_log_escape(char *out, size_t size, const char *in)
{
	static const char ok[] = "-_.!~*+@$&/";
	size_t o = 0;
	if (!size)
		return;
	if (!*in)
		in = "-";
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr(ok, *p);
		size_t need = plain ? 1 : 3;
		if (o + need >= size)
			break;
		if (plain)
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", *p);
	}
	out[o] = '\0';
}
