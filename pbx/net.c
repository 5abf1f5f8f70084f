/**
 * @file net.c  Transport address parsing and printing
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/net.h"

static const char *const tp_names[] = {"udp", "tcp", "tls", "ws", "wss"};

const char *pbx_transport_name(enum pbx_transport tp)
{
	return (unsigned)tp < sizeof tp_names / sizeof *tp_names ? tp_names[tp] : "?";
}

int pbx_listen_parse(const char *text, struct pbx_listen *out, const char **why)
{
	const char *colon = strchr(text, ':');
	char host[64];
	memset(out, 0, sizeof *out);
	*why = "expected TRANSPORT:ADDRESS:PORT, e.g. udp:0.0.0.0:5060";
	if (!colon)
		return EINVAL;
	size_t tl = (size_t)(colon - text);
	int tp = -1;
	for (int i = 0; i < 3; i++) /* ws/wss are not built yet */
		if (strlen(tp_names[i]) == tl && !strncmp(text, tp_names[i], tl))
			tp = i;
	if (tp < 0) {
		*why = "unknown transport (udp, tcp or tls)";
		return EINVAL;
	}
	const char *h = colon + 1, *portstr;
	if (*h == '[') {
		const char *end = strchr(h, ']');
		if (!end || end[1] != ':' || (size_t)(end - h - 1) >= sizeof host)
			return EINVAL;
		memcpy(host, h + 1, (size_t)(end - h - 1));
		host[end - h - 1] = '\0';
		portstr = end + 2;
	} else {
		const char *pc = strrchr(h, ':');
		if (!pc || (size_t)(pc - h) >= sizeof host)
			return EINVAL;
		memcpy(host, h, (size_t)(pc - h));
		host[pc - h] = '\0';
		portstr = pc + 1;
	}
	char *end;
	errno = 0;
	long port = strtol(portstr, &end, 10);
	if (!*portstr || *end || errno || port < 1 || port > 65535) {
		*why = "port must be 1-65535";
		return EINVAL;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->addr;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	} else {
		*why = "not an IPv4 or [IPv6] address";
		return EINVAL;
	}
	out->tp = (enum pbx_transport)tp;
	*why = NULL;
	return 0;
}

char *pbx_sa_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%d", host, pbx_sa_port(sa));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
			  sizeof host);
		snprintf(buf, len, "[%s]:%d", host, pbx_sa_port(sa));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

char *pbx_listen_str(const struct pbx_listen *l, char *buf, size_t len)
{
	char a[64];
	snprintf(buf, len, "%s:%s", pbx_transport_name(l->tp),
		 pbx_sa_str((const struct sockaddr *)&l->addr, a, sizeof a));
	return buf;
}

int pbx_sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

socklen_t pbx_sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}
