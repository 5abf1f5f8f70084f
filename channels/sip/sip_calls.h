/**
 * @file sip_calls.h  What the SIP driver's other parts may learn of its calls (chan_sip.c)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The event packages (sip_hint_events.c) describe calls without knowing
 * chan_sip's sessions: they get copies, looked up when a body is built,
 * never a pointer that could outlive the call.
 */
#ifndef SIP_CALLS_H
#define SIP_CALLS_H

/**
 * A call of ours ringing at a phone: its dialog toward that phone, as the
 * phone sees it (RFC 4235's local is the watched phone), and who calls. An
 * INVITE with Replaces naming this dialog picks the call up.
 */
struct sip_ringing {
	char call_id[128];
	char local_tag[128];  /* the ringing phone's tag (To of our INVITE) */
	char remote_tag[128]; /* ours (From of our INVITE) */
	char caller_num[80], caller_name[80];
};

/**
 * The first call ringing at one of @p devices ("SIP/1002&SIP/1003") in a
 * dialog that a phone can name: an outgoing leg whose callee sent a
 * provisional response with a tag, not yet answered or cancelled. Linear
 * in the live channels; it runs when a lamp's NOTIFY is built. 0 with @p r
 * filled, or ENOENT.
 */
int sip_calls_ringing(const char *devices, struct sip_ringing *r);

#endif
