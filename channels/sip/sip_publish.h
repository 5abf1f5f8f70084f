/**
 * @file sip_publish.h  Presence that users' phones PUBLISH (RFC 3903), kept for the presence package
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The PBX is the event state compositor of its users' presence: each
 * user's phones PUBLISH PIDF documents for that user only, each kept
 * under its entity-tag until it expires or is removed. The presence
 * package (sip_hint_events.c) asks what a user publishes now and hears
 * when it changes. Signalling thread only.
 */
#ifndef SIP_PUBLISH_H
#define SIP_PUBLISH_H

#include <stdbool.h>

#include "sip_pidf.h"

/* Live publications per user; a new one beyond this replaces the oldest. */
#define SIP_PUBLISH_PER_USER 4
/* Watchers of changes at most (the presence package is the one). */
#define SIP_PUBLISH_WATCHERS 4

/**
 * What @p user publishes now into @p out: the document of the user's most
 * recently created or modified live publication (newest wins, whatever
 * the phone). false, and @p out untouched, when there is none.
 */
bool sip_publish_get(const char *user, struct sip_pidf *out);

/** What @p user publishes changed: made, modified, removed or expired. */
typedef void sip_publish_changed_h(const char *user);
/** Hear every change. Usable before the module loads. 0 or ENOSPC. */
int sip_publish_watch(sip_publish_changed_h *fn);
void sip_publish_unwatch(sip_publish_changed_h *fn);

#endif
