/**
 * @file sip_build.h  Build SIP responses and requests as text
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Messages are written into a caller's pbx_buf, which the receive path
 * reuses, so a steady stream of requests allocates nothing.
 */
#ifndef SIP_BUILD_H
#define SIP_BUILD_H

#include <stdint.h>

#include "pbx/buf.h"
#include "sip_msg.h"
#include "sip_transport.h"

/** Standard reason phrase for @p code ("Not Found"); "" when unknown. */
const char *sip_reason(uint16_t code);

/**
 * Response to @p req received from @p src (RFC 3261 8.2.6): Via headers
 * copied (the top one gets received= and rport= as RFC 3581 asks), From,
 * To (with @p to_tag added when it has none and code > 100), Call-ID, CSeq,
 * then @p extra (complete header lines, each ending in CRLF; may be NULL),
 * Server, Content-Length and @p body (may be NULL).
 */
int sip_build_response(struct pbx_buf *out, const struct sip_msg *req, const struct sip_peer *src,
		       uint16_t code, const char *reason, const char *to_tag, const char *extra,
		       const char *body_type, const char *body);

/** Where to send responses to a request (RFC 3261 18.2.2, RFC 3581). */
void sip_response_peer(const struct sip_msg *req, const struct sip_peer *src, struct sip_peer *dst);

/** Fields of an out-of-dialog request. */
struct sip_req_spec {
	const char *method;
	const char *ruri;
	enum pbx_transport tp;
	const char *local; /* our "host:port" for Via and Contact */
	const char *branch;
	const char *from; /* URI */
	const char *from_tag;
	const char *to; /* URI */
	const char *call_id;
	uint32_t cseq;
	const char *extra; /* header lines with CRLF, or NULL */
	const char *body_type;
	const char *body;
	size_t body_len; /* 0: strlen(body); else the body's bytes (MESSAGE bodies may hold NULs) */
};

int sip_build_request(struct pbx_buf *out, const struct sip_req_spec *spec);

/** Random token for tags and Call-IDs: @p len - 1 characters of [0-9a-z]. */
void sip_random_token(char *buf, size_t len);

/** Value of the Server and User-Agent headers we send (sip.user_agent). */
void sip_build_set_server(const char *server);
const char *sip_build_server(void);

#endif
