/**
 * @file sip_config.c  The SIP driver's config section: keys, defaults, checks
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pbx/config.h"
#include "pbx/directory.h"
#include "sip_config.h"

#define OFF(f) PBX_CFG_OFF(struct sip_config, f)

static int listen_item(void *sect, int i, const char *text, const char **why)
{
	struct sip_config *c = sect;
	struct pbx_listen *l = &c->listen[i];
	if (pbx_listen_parse(text, l, why))
		return EINVAL;
	for (int j = 0; j < i; j++) {
		const struct pbx_listen *o = &c->listen[j];
		if (o->tp == l->tp &&
		    !memcmp(&o->addr, &l->addr, pbx_sa_len((const struct sockaddr *)&l->addr))) {
			*why = "listed twice";
			return EINVAL;
		}
	}
	c->n_listen = i + 1;
	return 0;
}

static int alg_item(void *sect, int i, const char *text, const char **why)
{
	struct sip_config *c = sect;
	enum sip_auth_alg a;
	if (!strcasecmp(text, "MD5"))
		a = SIP_AUTH_MD5;
	else if (!strcasecmp(text, "SHA-256"))
		a = SIP_AUTH_SHA256;
	else {
		*why = "must be \"SHA-256\" or \"MD5\"";
		return EINVAL;
	}
	if (i && c->auth_algs[0] == a) {
		*why = "listed twice";
		return EINVAL;
	}
	c->auth_algs[i] = a;
	c->n_auth_algs = i + 1;
	return 0;
}

static int ban_ignore_item(void *sect, int i, const char *text, const char **why)
{
	struct sip_config *c = sect;
	if (sip_ban_net_parse(&c->ban_ignore[i], text, why))
		return EINVAL;
	c->n_ban_ignore = i + 1;
	return 0;
}

static int pike_ignore_item(void *sect, int i, const char *text, const char **why)
{
	struct sip_config *c = sect;
	if (sip_ban_net_parse(&c->pike_ignore[i], text, why))
		return EINVAL;
	c->n_pike_ignore = i + 1;
	return 0;
}

static const char *const default_listen[] = {"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060", NULL};
/* MD5 alone, as Asterisk and Kamailio offer: many phones (baresip 1.0,
 * SIPp, desk phones) give up on a challenge naming an algorithm they do
 * not know, even beside one they do. SHA-256 is opt-in, here or per user. */
static const char *const default_algs[] = {"MD5", NULL};
/* Loopback, as fail2ban's ignoreip: a test phone with a typo on the PBX's
 * own host must not lock out the admin's tools. `{}` bans loopback too. */
static const char *const default_ban_ignore[] = {"127.0.0.0/8", "::1/128", NULL};

static const struct pbx_cfg_key keys[] = {
	{.name = "listen",
	 .type = PBX_CFG_LIST,
	 .off = OFF(listen),
	 .min = 1,
	 .max = SIP_CFG_MAX_LISTEN,
	 .item = listen_item,
	 .list_def = default_listen,
	 .list_of = "strings like \"udp:0.0.0.0:5060\"",
	 .list_noun = "address",
	 .help = "list of \"udp|tcp|tls:ADDRESS:PORT\""},
	{.name = "domain",
	 .type = PBX_CFG_STRING,
	 .off = OFF(domain),
	 .def = "pbx.local",
	 .help = "SIP domain and digest realm"},
	{.name = "user_agent",
	 .type = PBX_CFG_STRING,
	 .off = OFF(user_agent),
	 .def = "pbx",
	 .help = "Server/User-Agent header value"},
	{.name = "tls", .type = PBX_CFG_TABLE, .help = "TLS certificate and key"},
	{.name = "tls.cert",
	 .type = PBX_CFG_PATH,
	 .off = OFF(tls_cert),
	 .help = "PEM certificate chain"},
	{.name = "tls.key", .type = PBX_CFG_PATH, .off = OFF(tls_key), .help = "PEM private key"},
	{.name = "max_contacts",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_contacts),
	 .def = "5",
	 .min = 1,
	 .max = 100,
	 .help = "contacts per user; the oldest is replaced"},
	{.name = "min_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(min_expires),
	 .def = "60",
	 .min = 1,
	 .max = 86400,
	 .help = "shorter REGISTER expiry gets 423"},
	{.name = "max_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_expires),
	 .def = "3600",
	 .min = 1,
	 .max = 604800,
	 .help = "longer expiry is cut to this"},
	{.name = "default_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(default_expires),
	 .def = "3600",
	 .min = 1,
	 .max = 604800,
	 .help = "expiry when the phone gives none"},
	{.name = "subscribe_min_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(sub_min_expires),
	 .def = "60",
	 .min = 1,
	 .max = 86400,
	 .help = "shorter SUBSCRIBE expiry gets 423"},
	{.name = "subscribe_max_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(sub_max_expires),
	 .def = "86400",
	 .min = 1,
	 .max = 604800,
	 .help = "longer SUBSCRIBE expiry is cut to this"},
	{.name = "subscribe_default_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(sub_default_expires),
	 .def = "3600",
	 .min = 1,
	 .max = 604800,
	 .help = "SUBSCRIBE expiry when the phone gives none"},
	{.name = "publish_min_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(pub_min_expires),
	 .def = "60",
	 .min = 1,
	 .max = 86400,
	 .help = "shorter PUBLISH expiry gets 423"},
	{.name = "publish_max_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(pub_max_expires),
	 .def = "86400",
	 .min = 1,
	 .max = 604800,
	 .help = "longer PUBLISH expiry is cut to this"},
	{.name = "publish_default_expires",
	 .type = PBX_CFG_INT,
	 .off = OFF(pub_default_expires),
	 .def = "3600",
	 .min = 1,
	 .max = 604800,
	 .help = "PUBLISH expiry when the phone gives none"},
	{.name = "qualify_interval",
	 .type = PBX_CFG_INT,
	 .off = OFF(qualify_interval),
	 .def = "60",
	 .min = 0,
	 .max = 3600,
	 .help = "seconds between OPTIONS to each contact; 0 = off"},
	{.name = "nonce_lifetime",
	 .type = PBX_CFG_INT,
	 .off = OFF(nonce_lifetime),
	 .def = "300",
	 .min = 10,
	 .max = 86400,
	 .help = "seconds a digest nonce stays valid"},
	{.name = "auth_algorithms",
	 .type = PBX_CFG_LIST,
	 .off = OFF(auth_algs),
	 .min = 1,
	 .max = 2,
	 .item = alg_item,
	 .list_def = default_algs,
	 .list_of = "\"SHA-256\" and/or \"MD5\"",
	 .list_noun = "algorithm",
	 .help = "digest algorithms offered, in order: \"MD5\", \"SHA-256\" (RFC 8760)"},
	{.name = "ban_threshold",
	 .type = PBX_CFG_INT,
	 .off = OFF(ban_threshold),
	 .def = "10",
	 .min = 0,
	 .max = 100000,
	 .help = "failed logins of one user from one address that ban that pair; 0 = never ban"},
	{.name = "ban_users",
	 .type = PBX_CFG_INT,
	 .off = OFF(ban_users),
	 .def = "5",
	 .min = 2,
	 .max = 1000,
	 .help = "different users failing from one address that ban the address"},
	{.name = "ban_threshold_address",
	 .type = PBX_CFG_INT,
	 .off = OFF(ban_threshold_address),
	 .def = "50",
	 .min = 1,
	 .max = 1000000,
	 .help = "failed logins from one address, any users, that ban the address"},
	{.name = "ban_window",
	 .type = PBX_CFG_INT,
	 .off = OFF(ban_window),
	 .def = "60",
	 .min = 1,
	 .max = 86400,
	 .help = "seconds in which those failures count"},
	{.name = "ban_time",
	 .type = PBX_CFG_INT,
	 .off = OFF(ban_time),
	 .def = "600",
	 .min = 1,
	 .max = 604800,
	 .help = "seconds a ban lasts"},
	{.name = "ban_ignore",
	 .type = PBX_CFG_LIST,
	 .off = OFF(ban_ignore),
	 .min = 0,
	 .max = SIP_CFG_MAX_BAN_IGNORE,
	 .item = ban_ignore_item,
	 .list_def = default_ban_ignore,
	 .list_of = "networks like \"192.0.2.0/24\" or \"2001:db8::/32\"",
	 .list_noun = "network",
	 .help = "networks (CIDR, IPv4 or IPv6) never counted nor banned; default loopback"},
	/* Off by default, as Kamailio's pike is a module one loads: a limit
	 * too low for a busy NAT router would silence an office. */
	{.name = "pike_rate",
	 .type = PBX_CFG_INT,
	 .off = OFF(pike_rate),
	 .def = "0",
	 .min = 0,
	 .max = 1000000,
	 .help = "requests from one address within sip.pike_window that block it; 0 = off "
		 "(try 200 in 2 s)"},
	{.name = "pike_window",
	 .type = PBX_CFG_INT,
	 .off = OFF(pike_window),
	 .def = "2",
	 .min = 1,
	 .max = 3600,
	 .help = "seconds in which those requests count (a sliding window)"},
	{.name = "pike_time",
	 .type = PBX_CFG_INT,
	 .off = OFF(pike_time),
	 .def = "60",
	 .min = 1,
	 .max = 86400,
	 .help = "seconds a flooding address is ignored; longer while it keeps flooding"},
	{.name = "pike_ignore",
	 .type = PBX_CFG_LIST,
	 .off = OFF(pike_ignore),
	 .min = 0,
	 .max = SIP_CFG_MAX_BAN_IGNORE,
	 .item = pike_ignore_item,
	 .list_of = "networks like \"192.0.2.0/24\" or \"2001:db8::/32\"",
	 .list_noun = "network",
	 .help = "networks (CIDR, IPv4 or IPv6) never counted nor blocked by pike; default none"},
	{.name = "tcp_idle_timeout",
	 .type = PBX_CFG_INT,
	 .off = OFF(tcp_idle_timeout),
	 .def = "300",
	 .min = 5,
	 .max = 86400,
	 .help = "close TCP/TLS connections idle this long (no binding on them)"},
	{.name = "max_message_size",
	 .type = PBX_CFG_INT,
	 .off = OFF(max_message_size),
	 .def = "65535",
	 .min = 1024,
	 .max = 1048576,
	 .help = "larger messages get 513"},
	{.name = "overload_queue_delay",
	 .type = PBX_CFG_INT,
	 .off = OFF(overload_queue_delay),
	 .def = "100",
	 .min = 0,
	 .max = 5000,
	 .help = "ms a new out-of-dialog request may wait in the socket before it gets 503 "
		 "(0: never)"},
	{.name = "overload_retry_after",
	 .type = PBX_CFG_INT,
	 .off = OFF(overload_retry_after),
	 .def = "5",
	 .min = 1,
	 .max = 3600,
	 .help = "seconds in Retry-After of an overload 503 (spread up to twice that)"},
	{.name = "udp_receive_buffer",
	 .type = PBX_CFG_INT,
	 .off = OFF(udp_receive_buffer),
	 .def = "16777216",
	 .min = 65536,
	 .max = 268435456,
	 .help = "bytes of kernel receive buffer per UDP socket"},
	{0},
};

static int check(void *sect, struct pbx_cfg_err *e)
{
	const struct sip_config *c = sect;
	char v[64];
	if (c->min_expires > c->max_expires) {
		snprintf(v, sizeof v, "%d", c->min_expires);
		return pbx_cfg_error(e, "min_expires", v, "greater than sip.max_expires");
	}
	if (c->default_expires < c->min_expires || c->default_expires > c->max_expires) {
		snprintf(v, sizeof v, "%d", c->default_expires);
		return pbx_cfg_error(e, "default_expires", v,
				     "must lie between sip.min_expires and sip.max_expires");
	}
	if (c->sub_min_expires > c->sub_max_expires) {
		snprintf(v, sizeof v, "%d", c->sub_min_expires);
		return pbx_cfg_error(e, "subscribe_min_expires", v,
				     "greater than sip.subscribe_max_expires");
	}
	if (c->sub_default_expires < c->sub_min_expires ||
	    c->sub_default_expires > c->sub_max_expires) {
		snprintf(v, sizeof v, "%d", c->sub_default_expires);
		return pbx_cfg_error(e, "subscribe_default_expires", v,
				     "must lie between sip.subscribe_min_expires and "
				     "sip.subscribe_max_expires");
	}
	if (c->pub_min_expires > c->pub_max_expires) {
		snprintf(v, sizeof v, "%d", c->pub_min_expires);
		return pbx_cfg_error(e, "publish_min_expires", v,
				     "greater than sip.publish_max_expires");
	}
	if (c->pub_default_expires < c->pub_min_expires ||
	    c->pub_default_expires > c->pub_max_expires) {
		snprintf(v, sizeof v, "%d", c->pub_default_expires);
		return pbx_cfg_error(e, "publish_default_expires", v,
				     "must lie between sip.publish_min_expires and "
				     "sip.publish_max_expires");
	}
	/* The realm of every stored HA1: longer than the directory keeps
	 * would hash passwords for a cut name that no phone sends. */
	if (strlen(c->domain) >= sizeof((struct pbx_user *)0)->realm)
		return pbx_cfg_error(e, "domain", c->domain, "longer than 127 characters");
	for (const char *p = c->domain; *p; p++)
		if (*p <= ' ' || strchr("\"<>@;:,\\/", *p))
			return pbx_cfg_error(e, "domain", c->domain, "not a host name");
	/* Without sip.tls the driver makes a self-signed pair in the state
	 * dir; half a pair is a mistake worth stopping for. */
	if (!c->tls_cert != !c->tls_key)
		return pbx_cfg_error(e, "tls", NULL, "needs both cert and key");
	return 0;
}

PBX_CONFIG_SECTION(sip_section) = {
	.name = "sip",
	.module = "sip",
	.order = 10,
	.size = sizeof(struct sip_config),
	.keys = keys,
	.check = check,
	.help = "SIP driver",
};

const struct sip_config *sip_config_get(const struct pbx_config *cfg)
{
	return pbx_config_get(cfg, &sip_section);
}
