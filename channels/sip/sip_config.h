/**
 * @file sip_config.h  The SIP driver's config section: sip.*
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SIP_CONFIG_H
#define SIP_CONFIG_H

#include "pbx/net.h"
#include "sip_auth.h"
#include "sip_ban.h"

#define SIP_CFG_MAX_LISTEN     16
#define SIP_CFG_MAX_BAN_IGNORE 64

struct pbx_config;

struct sip_config {
	struct pbx_listen listen[SIP_CFG_MAX_LISTEN];
	int n_listen;
	char *domain;
	char *user_agent;
	char *tls_cert, *tls_key;
	int max_contacts; /* per user; the oldest is replaced */
	int min_expires, max_expires, default_expires;
	int sub_min_expires, sub_max_expires, sub_default_expires; /* SUBSCRIBE */
	int pub_min_expires, pub_max_expires, pub_default_expires; /* PUBLISH */
	int qualify_interval;      /* seconds; 0 disables OPTIONS qualify */
	int nonce_lifetime;        /* seconds */
	int ban_threshold;         /* failed auths of one (address, user) that ban the pair */
	int ban_threshold_address; /* ... of one address, any users, that ban the address */
	int ban_users;             /* distinct users failing from one address that ban it */
	int ban_window;            /* seconds in which failures count */
	int ban_time;              /* seconds a ban lasts */
	struct sip_ban_net ban_ignore[SIP_CFG_MAX_BAN_IGNORE]; /* never banned */
	int n_ban_ignore;
	int pike_rate;   /* requests from one address in pike_window that block it; 0 = off */
	int pike_window; /* seconds */
	int pike_time;   /* seconds a block lasts */
	struct sip_ban_net pike_ignore[SIP_CFG_MAX_BAN_IGNORE]; /* never counted */
	int n_pike_ignore;
	int tcp_idle_timeout;           /* seconds */
	int max_message_size;           /* bytes */
	int overload_queue_delay;       /* ms a new request may wait before 503; 0: never */
	int overload_retry_after;       /* seconds in the 503's Retry-After (up to twice) */
	int udp_receive_buffer;         /* bytes: SO_RCVBUF of each UDP socket */
	enum sip_auth_alg auth_algs[2]; /* offered, in this order */
	int n_auth_algs;
};

/** The sip section of @p cfg (defaults filled in). */
const struct sip_config *sip_config_get(const struct pbx_config *cfg);

#endif
