/**
 * @file fuzz_config.c  libFuzzer target: the config loader, listen addresses, ban networks
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a config file: it is written to a temporary file and
 * loaded as the PBX loads etc/pbx.lua, so Lua runs it in the loader's
 * sandbox and every linked section (pbx, sip, rtp, features, confbridge)
 * turns its values into typed settings: integers in ranges, booleans,
 * enums, paths, lists whose items go through their parsers. A load either
 * succeeds (and the settings dump) or fails with a message; it never
 * crashes, hangs or leaks (libFuzzer's leak check runs on every input).
 *
 * The same bytes, as one C string, also go straight to the two address
 * parsers the lists use: pbx_listen_parse ("udp:127.0.0.1:5060") and
 * sip_ban_net_parse ("192.0.2.0/24"). What they accept must print and
 * parse back to the same value.
 *
 * The voicemail, messaging and dialplan sections live in files that need
 * the directory, SQLite and the dialplan engine; they are not linked, so
 * those names are unknown keys here.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../channels/sip/sip_ban.h"
#include "pbx/buf.h"
#include "pbx/config.h"
#include "pbx/log.h"
#include "pbx/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the linked sections call at run time, never while loading. */
const struct pbx_config *pbx_cfg(void);
const char *pbx_moh_check_class(const char *cls);

const struct pbx_config *pbx_cfg(void)
{
	return NULL;
}

const char *pbx_moh_check_class(const char *cls)
{
	return *cls ? NULL : "must not be empty";
}

static char path[64];

static void remove_file(void)
{
	unlink(path);
}

static void listen_roundtrip(const char *s)
{
	struct pbx_listen a, b;
	const char *why;
	char text[128];
	if (pbx_listen_parse(s, &a, &why)) {
		if (!why)
			abort();
		return;
	}
	if (why || a.tp > PBX_TP_TLS)
		abort();
	pbx_listen_str(&a, text, sizeof text);
	if (pbx_listen_parse(text, &b, &why) || a.tp != b.tp ||
	    memcmp(&a.addr, &b.addr, pbx_sa_len((const struct sockaddr *)&a.addr)))
		abort();
}

static void net_roundtrip(const char *s)
{
	struct sip_ban_net a, b;
	const char *why;
	char ip[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
	if (sip_ban_net_parse(&a, s, &why))
		return;
	if ((a.family != AF_INET || a.prefix > 32) && (a.family != AF_INET6 || a.prefix > 128))
		abort();
	if (!inet_ntop(a.family, a.ip, ip, sizeof ip))
		abort();
	snprintf(text, sizeof text, "%s/%d", ip, a.prefix);
	if (sip_ban_net_parse(&b, text, &why) || memcmp(&a, &b, sizeof a))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		snprintf(path, sizeof path, "/tmp/fuzz_config-%d.lua", (int)getpid());
		atexit(remove_file);
		pbx_log_set_level(PBX_LOG_ERROR);
	}
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	listen_roundtrip(s);
	net_roundtrip(s);
	free(s);

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd))
		abort();
	struct pbx_config *cfg = NULL;
	struct pbx_buf err, out;
	pbx_buf_init(&err);
	pbx_buf_init(&out);
	int rc = pbx_config_load(&cfg, path, &err);
	if (rc) {
		/* Refused: one message, and nothing handed out. */
		if (cfg || !err.len || strlen(err.data) != err.len)
			abort();
	} else {
		if (!cfg || err.len)
			abort();
		pbx_config_dump(cfg, &out);
		pbx_config_free(cfg);
	}
	pbx_buf_free(&err);
	pbx_buf_free(&out);
	return 0;
}
