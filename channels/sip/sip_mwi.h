/**
 * @file sip_mwi.h  The message-summary event package (RFC 3842): message-waiting lamps
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SIP_MWI_H
#define SIP_MWI_H

#include "pbx/buf.h"
#include "pbx/voicemail.h"

#define SIP_MWI_EVENT "message-summary"
#define SIP_MWI_TYPE  "application/simple-message-summary"

/**
 * The body of a message-summary NOTIFY for mailbox @p ext of @p domain
 * into @p b (appended):
 *
 *   Messages-Waiting: yes
 *   Message-Account: sip:1003@pbx.local
 *   Voice-Message: 1/0 (0/0)
 *
 * 0 or ENOMEM.
 */
int sip_mwi_body(struct pbx_buf *b, const char *ext, const char *domain,
		 const struct pbx_vm_counts *c);

#endif
