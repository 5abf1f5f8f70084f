/**
 * @file sip_transport.h  SIP transports: UDP and TCP listeners, connections, send
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Owns every socket of the SIP driver. Received datagrams and framed stream
 * messages are parsed in place and handed up with the peer they came from;
 * sends go to a peer, over its own connection when it has one.
 */
#ifndef SIP_TRANSPORT_H
#define SIP_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pbx/net.h"
#include "sip_msg.h"
#include "sip_overload.h" /* SIP_WAIT_UNKNOWN */

struct sip_config;
struct uv_loop_s;

/** Where a message came from, or where one goes. */
struct sip_peer {
	enum pbx_transport tp;
	struct sockaddr_storage addr; /* remote address and port */
	uint32_t conn;                /* stream connection id; 0: UDP, or open one */
};

struct sip_transport;

/**
 * A message arrived. @p m is parsed (sip_msg_parse returned 0) and lives in
 * the transport's buffer until the callback returns: copy what you keep.
 * @p wait_us is how long it waited in the socket after the kernel took it
 * (UDP), or SIP_WAIT_UNKNOWN (streams).
 *
 * UDP is read in batches (recvmmsg); within a batch, responses, ACK,
 * CANCEL, BYE and requests with a To tag are handed up before new
 * out-of-dialog requests, so that work already started goes first.
 */
typedef void sip_recv_h(void *arg, struct sip_msg *m, const struct sip_peer *src, uint32_t wait_us);
/**
 * A message arrived that did not parse. @p reason says why; when
 * sip_msg_can_reply(m) the receiver answers 400 (or 505/513), else drops it.
 */
typedef void sip_recv_bad_h(void *arg, struct sip_msg *m, int err, const char *reason,
			    const struct sip_peer *src);

/**
 * May a message from @p src be parsed at all? Asked for every message
 * before parsing, so that a banned address costs a lookup, not a parse.
 * False drops it unanswered.
 */
typedef bool sip_admit_h(void *arg, const struct sip_peer *src);

struct sip_transport_ops {
	sip_admit_h *admit; /* may be NULL: admit all */
	sip_recv_h *recv;
	sip_recv_bad_h *recv_bad;
};

int sip_transport_alloc(struct sip_transport **tp, struct uv_loop_s *loop,
			const struct sip_config *cfg, const char *state_dir,
			const struct sip_transport_ops *ops, void *arg);
void sip_transport_free(struct sip_transport *t);

/**
 * Send @p buf to @p dst. Streams: over connection dst->conn when it is
 * still open, else any open connection to dst->addr, else a new one
 * (asynchronously; the message is queued). Returns 0 or errno
 * (ENOTCONN when dst->conn is gone and no other route exists for TLS).
 */
int sip_transport_send(struct sip_transport *t, const struct sip_peer *dst, const char *buf,
		       size_t len);

/** "host:port" of our listener for @p tp and the family of @p dst (for Via/Contact). */
int sip_transport_local(struct sip_transport *t, const struct sip_peer *dst, char *buf, size_t len);

/** Reliable transports need no retransmission timers (RFC 3261 17.1.1.2). */
static inline bool sip_transport_reliable(enum pbx_transport tp)
{
	return tp != PBX_TP_UDP;
}

/** Print every message sent and received, with addresses (sip set debug). */
void sip_transport_set_debug(struct sip_transport *t, bool on);
/** Keep the stream connection @p conn open while a binding uses it. */
void sip_transport_conn_hold(struct sip_transport *t, uint32_t conn, bool hold);
/** Is stream connection @p conn still open? */
bool sip_transport_conn_alive(struct sip_transport *t, uint32_t conn);
/** "udp:1.2.3.4:5060" for logs and the console. */
char *sip_peer_str(const struct sip_peer *p, char *buf, size_t len);

#endif
