/**
 * @file vm_menu.h  VoiceMailMain's menu without a call: what each key does, what is said
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Private to apps/ (app_voicemailmain.c and its unit tests). Nothing here
 * plays, waits or touches the store: the browsing state (which message,
 * what this session did to each) and the prompt lists are plain data, so
 * tests/unit/test_vm_menu.c checks them without a running call.
 */
#ifndef VM_MENU_H
#define VM_MENU_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "pbx/voicemail.h"

#include "apps.h"

/*
 * The folders a caller picks by key, as Asterisk numbers them: 0 new
 * (INBOX and Urgent, unheard), 1 old (heard ones and the Old folder),
 * 2 Work, 3 Family, 4 Friends.
 */
enum vm_view { VM_VIEW_NEW, VM_VIEW_OLD, VM_VIEW_WORK, VM_VIEW_FAMILY, VM_VIEW_FRIENDS, VM_NVIEWS };

/** The view a key picks ('0'..'4'), or -1. */
int vm_view_of_key(char key);
/** Whether message @p m belongs in view @p view. */
bool vm_view_has(int view, const struct pbx_vm_msg *m);
/** The store folder a message saved "to view @p view" goes to (new: INBOX). */
int vm_view_folder(int view);
/** The prompt naming the view: "vm-INBOX" ("new"), "vm-Old", "vm-Work", ... */
const char *vm_view_prompt(int view);

/** One message of the view being browsed, with what this session did to it. */
struct vm_entry {
	struct pbx_vm_msg m;
	bool deleted; /* 7: deleted when the mailbox is closed, unless 7 again */
	bool heard;   /* played, even in part */
	bool saved;   /* 9: moved to a folder already */
};

struct vm_list {
	struct vm_entry *v;
	size_t n, cap;
	size_t cur; /* the message open (when n > 0) */
	int view;   /* enum vm_view */
};

/** Append a copy of @p m (with cleared flags). 0 or ENOMEM. */
int vm_list_add(struct vm_list *l, const struct pbx_vm_msg *m);
/** Empty the list (kept allocated for the next view). */
void vm_list_clear(struct vm_list *l);
void vm_list_free(struct vm_list *l);

/** What a key of the message menu asks for. */
enum vm_act {
	VM_ACT_PLAY,      /* play the message now open (1, or 4/6 moved) */
	VM_ACT_ENVELOPE,  /* 3: date, time and caller of the message open */
	VM_ACT_NOMORE,    /* 4 on the first, 6 on the last: "no more messages" */
	VM_ACT_NOMSGS,    /* a message key with an empty view */
	VM_ACT_DELETED,   /* 7: marked deleted */
	VM_ACT_UNDELETED, /* 7 again: the mark is gone */
	VM_ACT_FORWARD,   /* 8: ask for a mailbox */
	VM_ACT_SAVE,      /* 9: ask for a folder */
	VM_ACT_FOLDER,    /* 2: ask for a view to change to */
	VM_ACT_OPTIONS,   /* 0: mailbox options */
	VM_ACT_HELP,      /* *: every key said */
	VM_ACT_EXIT,      /* #: goodbye */
	VM_ACT_INVALID,   /* any other key */
};

/**
 * Apply @p key to the list: moves cur for 4 and 6, toggles the delete
 * mark for 7; the rest is the caller's to do.
 */
enum vm_act vm_list_key(struct vm_list *l, char key);

/** What closing the mailbox does to an entry. */
enum vm_fate {
	VM_FATE_KEEP,
	VM_FATE_DELETE, /* marked deleted */
	VM_FATE_OLD,    /* heard while new: to the Old folder, as Asterisk does at exit */
};
enum vm_fate vm_entry_fate(const struct vm_entry *e);

/* ---- what is said (each a list of prompt names to @p say) ------------------------------------- */

/** "You have N new and M old messages", "You have no messages", singular for one. */
int vm_say_counts(unsigned new_msgs, unsigned old_msgs, apps_say_h *say, void *arg);
/** After a change of view: "You have N work messages" / "You have no work messages". */
int vm_say_view_count(int view, size_t n, apps_say_h *say, void *arg);
/** Before a message: "Message 2", "Urgent message 1". */
int vm_say_header(const struct vm_list *l, apps_say_h *say, void *arg);
/**
 * The envelope (key 3): "Received March 21 at 3 oh 5 P M from 1 0 0 1"
 * (the caller's number digit by digit; "an unknown caller" without one).
 * @p tm is the message's time, local.
 */
int vm_say_envelope(const struct pbx_vm_msg *m, const struct tm *tm, apps_say_h *say, void *arg);

/**
 * @p in for a log line that watchers parse (fail2ban, a SIEM), as the SIP
 * driver writes user names in its SECURITY lines: bytes outside
 * [A-Za-z0-9-_.!~*+@$&/] become %XX ('/' too, for channel names), so a caller ID cannot add a field or
 * a line; "-" when empty. Cut to fit @p size.
 */
void vm_log_escape(char *out, size_t size, const char *in);

/** Compare two PINs in time that depends on their lengths only. */
bool vm_pin_equal(const char *a, const char *b);

#endif
