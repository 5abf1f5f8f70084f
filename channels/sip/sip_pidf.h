/**
 * @file sip_pidf.h  What a PIDF presence document (RFC 3863, RPID RFC 4480) says, read minimally
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Phones PUBLISH (RFC 3903) a PIDF document of their user; the PBX keeps
 * only what it shows to watchers: basic open/closed, a note, and the RPID
 * activities phones send (away, busy, on-the-phone, ...). Everything else
 * in the document is skipped. The reader is a bounded scanner of tags in
 * the document's own buffer, not an XML library: no entities but XML's
 * five and character references, no DTD, namespaces by prefix-less local
 * name. Network data never reaches anything but this reader.
 */
#ifndef SIP_PIDF_H
#define SIP_PIDF_H

#include <stddef.h>

/* Bytes of a note we keep (UTF-8); a longer one is cut at a character. */
#define SIP_PIDF_NOTE_MAX 128
/* Elements nested deeper than this make the document refused. */
#define SIP_PIDF_DEPTH_MAX 24

/** RPID activities (RFC 4480 3.2) the PBX knows, as bits. */
enum sip_pidf_activity {
	SIP_PIDF_AWAY = 1u << 0,
	SIP_PIDF_BUSY = 1u << 1,
	SIP_PIDF_ON_THE_PHONE = 1u << 2,
	SIP_PIDF_MEAL = 1u << 3,
	SIP_PIDF_MEETING = 1u << 4,
	SIP_PIDF_APPOINTMENT = 1u << 5,
	SIP_PIDF_VACATION = 1u << 6,
	SIP_PIDF_HOLIDAY = 1u << 7,
	SIP_PIDF_TRAVEL = 1u << 8,
	SIP_PIDF_SLEEPING = 1u << 9,
	SIP_PIDF__ACTIVITIES = 10 /* how many there are */
};

enum sip_pidf_basic { SIP_PIDF_NONE, SIP_PIDF_OPEN, SIP_PIDF_CLOSED };

/** What a document says. */
struct sip_pidf {
	enum sip_pidf_basic basic;        /* open when any tuple is open; NONE without <basic> */
	char note[SIP_PIDF_NOTE_MAX + 1]; /* the first non-empty <note> (tuple, person or
					   * presence), entities decoded; "" when none */
	unsigned activities;              /* enum sip_pidf_activity bits */
};

/**
 * Read the PIDF document @p body of @p len bytes (not NUL-terminated)
 * into @p out. 0, or EINVAL when it is not a well-nested document whose
 * root element is <presence> (with *why a static phrase).
 */
int sip_pidf_parse(const char *body, size_t len, struct sip_pidf *out, const char **why);

/** RPID's element name of activity bit index @p i ("on-the-phone"); NULL past the end. */
const char *sip_pidf_activity_name(unsigned i);
/** A few words for activity bit index @p i ("On the phone"); NULL past the end. */
const char *sip_pidf_activity_words(unsigned i);

#endif
