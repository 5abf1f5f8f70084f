/**
 * @file config.h  The PBX configuration (a Lua file), validated at start
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PBX_CONFIG_H
#define PBX_CONFIG_H

#include <stdbool.h>
#include <sys/socket.h>

#include "pbx/buf.h"
#include "pbx/net.h"

#define PBX_CFG_MAX_LISTEN 16

enum pbx_srtp_policy { PBX_SRTP_OFF, PBX_SRTP_OPTIONAL, PBX_SRTP_MANDATORY };
enum pbx_digest_alg { PBX_DIGEST_MD5, PBX_DIGEST_SHA256 };

struct pbx_config {
	char *file; /* path as given */
	struct {
		char *state_dir;
		int log_level;     /* enum pbx_log_level */
		char *log_file;    /* NULL: stderr only */
		int media_workers; /* 0: one per core */
	} pbx;
	struct {
		struct pbx_listen listen[PBX_CFG_MAX_LISTEN];
		int n_listen;
		char *domain;
		char *user_agent;
		char *tls_cert, *tls_key;
		int max_contacts; /* per user; the oldest is replaced */
		int min_expires, max_expires, default_expires;
		int qualify_interval; /* seconds; 0 disables OPTIONS qualify */
		int nonce_lifetime;   /* seconds */
		int ban_threshold;    /* failed auths from one address ... */
		int ban_window;       /* ... within this many seconds ... */
		int ban_time;         /* ... ban it for this long */
		int tcp_idle_timeout; /* seconds */
		int max_message_size; /* bytes */
		int auth_algs[2];     /* enum pbx_digest_alg, in the order offered */
		int n_auth_algs;
	} sip;
	struct {
		int port_min, port_max;
		int srtp;    /* enum pbx_srtp_policy */
		int timeout; /* seconds without RTP before hangup; 0 = never */
	} rtp;
	struct {
		char *file;
	} dialplan;
};

/**
 * Load and validate @p file. On error returns errno-style non-zero and puts
 * one line "FILE: KEY: 'VALUE': reason" in @p err; *cfgp is untouched.
 */
int pbx_config_load(struct pbx_config **cfgp, const char *file, struct pbx_buf *err);
void pbx_config_free(struct pbx_config *cfg);
/** Print every key with its effective value, Lua syntax. */
void pbx_config_dump(const struct pbx_config *cfg, struct pbx_buf *out);

const char *pbx_srtp_policy_name(int policy);
int pbx_srtp_policy_parse(const char *name); /* -1 if unknown */

#endif
