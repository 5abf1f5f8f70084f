/**
 * @file net.h  Transport addresses as written in config: "udp:1.2.3.4:5060"
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PBX_NET_H
#define PBX_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

enum pbx_transport { PBX_TP_UDP, PBX_TP_TCP, PBX_TP_TLS, PBX_TP_WS, PBX_TP_WSS };

struct pbx_listen {
	enum pbx_transport tp;
	struct sockaddr_storage addr;
};

const char *pbx_transport_name(enum pbx_transport tp); /* "udp" */
/** Parse "udp:0.0.0.0:5060" / "tcp:[::1]:5060"; 0 or EINVAL with *why set. */
int pbx_listen_parse(const char *text, struct pbx_listen *out, const char **why);
/** "udp:127.0.0.1:5060" form into @p buf; returns buf. */
char *pbx_listen_str(const struct pbx_listen *l, char *buf, size_t len);
/** "1.2.3.4:5060" or "[::1]:5060"; returns buf. */
char *pbx_sa_str(const struct sockaddr *sa, char *buf, size_t len);
int pbx_sa_port(const struct sockaddr *sa);
socklen_t pbx_sa_len(const struct sockaddr *sa);

#endif
