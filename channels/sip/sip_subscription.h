/**
 * @file sip_subscription.h  SUBSCRIBE/NOTIFY (RFC 6665): subscriptions as dialog usages, event packages
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The notifier side of RFC 6665. A SUBSCRIBE outside a dialog is
 * authenticated as any request that acts for a user, then makes a dialog
 * (in the stack's table, usage "subscription") and one subscription on
 * it; refreshes and unsubscribes come inside that dialog. Every accepted
 * or refreshed subscription gets a NOTIFY at once, and again whenever its
 * package says the state changed (sip_subs_notify). Expiry runs on the
 * stack's timer heap; a NOTIFY answered 481, 408 or not at all ends the
 * subscription.
 *
 * What is watched and what a NOTIFY says belong to event packages
 * (message-summary now; presence, dialog and refer later), which register
 * a static descriptor. The framework knows nothing of their state.
 *
 * Subscriptions are saved to the directory (batched, as the registrar's
 * bindings are), so a restarted PBX still has them; restored ones are not
 * NOTIFYed by the framework, since only the package knows when its state
 * is ready after a start: it calls sip_subs_notify for them.
 *
 * Signalling thread only.
 */
#ifndef SIP_SUBSCRIPTION_H
#define SIP_SUBSCRIPTION_H

#include <stdbool.h>
#include <stdint.h>

#include "pbx/buf.h"
#include "pbx/directory.h"
#include "sip_dialog.h"
#include "sip_timer.h"

struct sip_stack;
struct sip_stsx;
struct sip_ctsx;
struct sip_subs;
struct sip_sub;

/* Event packages at most; each is a static descriptor. */
#define SIP_EVENT_PKGS_MAX 8

/** An event package (RFC 6665 7.2). */
struct sip_event_pkg {
	const char *name; /* the Event header's package: "message-summary" */
	const char *type; /* Content-Type of its NOTIFY bodies */
	/**
	 * May authenticated user @p user watch @p resource (the Request-URI
	 * user, unescaped; "" when none)? 0, or the SIP code to refuse with
	 * (403, 404), and *reason a static phrase or NULL.
	 */
	uint16_t (*authorize)(const char *user, const char *resource, const char **reason);
	/** The NOTIFY body for @p sub into @p body (empty: no body). 0 or errno. */
	int (*body)(struct sip_stack *s, const struct sip_sub *sub, struct pbx_buf *body);
	/**
	 * Optional: @p sub starts watching (@p on: accepted with an expiry, or
	 * restored at a start) or stops (terminated, or freed). Called once
	 * each way; sub->pkg_data is the package's to set on and free off.
	 */
	void (*watch)(struct sip_sub *sub, bool on);
};

enum sip_sub_state {
	SIP_SUB_ACTIVE,
	SIP_SUB_TERMINATED, /* the final NOTIFY is out or about to go; then it is freed */
};

/** One subscription. Packages and the console read it; the framework owns it. */
struct sip_sub {
	struct sip_sub *prev, *next; /* in the framework's list */
	struct sip_subs *ss;
	struct sip_dialog dlg;
	const struct sip_event_pkg *pkg;
	char user[PBX_EXT_MAX + 1];     /* who subscribed (authenticated) */
	char resource[PBX_EXT_MAX + 1]; /* what is watched: the Request-URI user */
	char event_id[64];              /* the Event header's id parameter; "" when none */
	char local[72];                 /* our "host:port" toward dlg.peer */
	char contact[128];              /* our Contact URI */
	int64_t expires;                /* unix seconds */
	enum sip_sub_state state;
	const char *reason; /* terminated: RFC 6665 reason ("timeout", "noresource") */
	struct sip_timer expiry;
	struct sip_ctsx *tsx;  /* the NOTIFY out, if any: one at a time, in order */
	bool again;            /* the state changed while a NOTIFY was out, or too soon after one */
	struct sip_timer pace; /* the next NOTIFY may go (see SIP_SUB_NOTIFY_GAP_MS) */
	uint64_t last_notify;  /* ms (the stack's timer clock) of the last NOTIFY sent */
	bool final_sent;       /* the terminated NOTIFY is out */
	bool dirty;            /* to be written at the next flush */
	bool watching;         /* pkg->watch was told on, not yet off */
	void *pkg_data;        /* the package's own (see watch) */
	unsigned notifies;     /* NOTIFYs sent */
};

/*
 * At most one NOTIFY per subscription in this many ms: a state that flaps
 * (a phone re-registering in a loop, a call ringing on and off) costs each
 * watcher a few NOTIFYs a second at most, the latest state in each. Short
 * enough that a lamp follows a person: ringing then answered a tenth of a
 * second apart still shows both, in order.
 */
#define SIP_SUB_NOTIFY_GAP_MS 100

/** Subscription limits (sip.subscribe_*): seconds. */
struct sip_sub_limits {
	uint32_t min, max, def;
};

/**
 * The framework of stack @p s (s->subs is set, and the SUBSCRIBE handler).
 * @p persist: save subscriptions in the directory (false in unit tests).
 * 0 or ENOMEM.
 */
int sip_subs_alloc(struct sip_subs **sp, struct sip_stack *s, bool persist);
/** Frees every subscription without a NOTIFY: they stay saved for the next start. NULL is fine. */
void sip_subs_free(struct sip_subs *ss);

/**
 * Add an event package; restores its saved subscriptions (not NOTIFYed,
 * see the file comment). 0, EEXIST or ENOSPC.
 */
int sip_event_register(struct sip_subs *ss, const struct sip_event_pkg *pkg);
/** Remove a package; its subscriptions are freed silently (they stay saved). */
void sip_event_unregister(struct sip_subs *ss, const struct sip_event_pkg *pkg);
/** "message-summary, presence" (the Allow-Events value); "" when none. */
const char *sip_subs_allow_events(const struct sip_subs *ss);

/** NOTIFY every active subscription of @p pkg to @p resource. Returns how many. */
unsigned sip_subs_notify(struct sip_subs *ss, const struct sip_event_pkg *pkg,
			 const char *resource);
/** End every subscription of @p user (deleted, disabled) with terminated;reason=noresource. */
void sip_subs_drop_user(struct sip_subs *ss, const char *user);

typedef int sip_sub_each_h(const struct sip_sub *sub, void *arg); /* non-zero stops */
/** Every subscription, oldest first. */
void sip_subs_each(struct sip_subs *ss, sip_sub_each_h *fn, void *arg);
unsigned sip_subs_count(const struct sip_subs *ss);

/**
 * The Expires a SUBSCRIBE asks for, within @p lim: the header's value,
 * @p lim->def when there is none, cut to @p lim->max; 0 stays 0 (an
 * unsubscribe, or a fetch). Returns 0 with *out set, EINVAL (unreadable:
 * 400) or ERANGE (non-zero below @p lim->min: 423 with Min-Expires).
 */
int sip_sub_expires(const struct sip_msg *m, const struct sip_sub_limits *lim, uint32_t *out);

/**
 * The Subscription-State value of @p sub at unix time @p now into @p buf:
 * "active;expires=N" or "terminated;reason=R".
 */
void sip_sub_state_value(const struct sip_sub *sub, int64_t now, char *buf, size_t len);

/* ---- internal, for the unit tests ------------------------------------------------------- */

/** Our "host:port" toward a peer; the transport's by default. */
typedef int sip_subs_local_h(struct sip_stack *s, const struct sip_peer *dst, char *buf,
			     size_t len);
void sip__subs_set_local(struct sip_subs *ss, sip_subs_local_h *fn);
/**
 * A SUBSCRIBE outside a dialog for @p pkg from authenticated @p user (the
 * handler's work after authentication). Answers @p t.
 */
void sip__subs_accept(struct sip_subs *ss, const struct sip_event_pkg *pkg, const struct sip_msg *m,
		      const struct sip_peer *src, struct sip_stsx *t, const char *user);

#endif
