/**
 * @file test_config.c  Config validation: defaults, types, ranges, unknown keys
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../channels/sip/sip_config.h"
#include "pbx/codec.h"
#include "pbx/config.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "config_load.h"
#include "unit.h"

static void test_defaults(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	assert_int_equal(load_text("", &cfg, err, sizeof err), 0);
	const struct pbx_core_cfg *core = pbx_config_core(cfg);
	const struct sip_config *sip = sip_config_get(cfg);
	const struct pbx_media_cfg *rtp = pbx_media_config(cfg);
	/* Paths are relative to the config's folder (/tmp here). */
	assert_string_equal(core->state_dir, "/tmp/var");
	assert_int_equal(core->log_level, PBX_LOG_NOTICE);
	assert_null(core->log_file);
	assert_string_equal(sip->domain, "pbx.local");
	assert_int_equal(sip->n_listen, 2);
	assert_int_equal(sip->listen[0].tp, PBX_TP_UDP);
	assert_int_equal(sip->listen[1].tp, PBX_TP_TCP);
	assert_int_equal(rtp->port_min, 10000);
	assert_int_equal(rtp->port_max, 20000);
	assert_int_equal(rtp->srtp, PBX_SRTP_OPTIONAL);
	assert_int_equal(sip->ban_users, 5);
	pbx_config_free(cfg);
}

static void test_values(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512], a[64];
	const char *text = "pbx = { state_dir = '/tmp/x', log_level = 'debug' }\n"
			   "local port = 5070\n"
			   "sip = { listen = { 'udp:127.0.0.1:' .. port, 'tcp:[::1]:5071' },\n"
			   "        domain = 'example.org', max_contacts = 3 }\n"
			   "rtp = { port_min = 30000, port_max = 30100, srtp = 'mandatory' }\n";
	assert_int_equal(load_text(text, &cfg, err, sizeof err), 0);
	const struct sip_config *sip = sip_config_get(cfg);
	assert_string_equal(pbx_config_core(cfg)->state_dir, "/tmp/x");
	assert_int_equal(pbx_config_core(cfg)->log_level, PBX_LOG_DEBUG);
	assert_int_equal(sip->n_listen, 2);
	assert_string_equal(pbx_listen_str(&sip->listen[0], a, sizeof a), "udp:127.0.0.1:5070");
	assert_string_equal(pbx_listen_str(&sip->listen[1], a, sizeof a), "tcp:[::1]:5071");
	assert_string_equal(sip->domain, "example.org");
	assert_int_equal(sip->max_contacts, 3);
	assert_int_equal(pbx_media_config(cfg)->srtp, PBX_SRTP_MANDATORY);
	struct pbx_buf dump;
	pbx_buf_init(&dump);
	pbx_config_dump(cfg, &dump);
	assert_non_null(strstr(dump.data, "sip.domain"));
	assert_non_null(strstr(dump.data, "\"example.org\""));
	assert_non_null(strstr(dump.data, "\"tcp:[::1]:5071\""));
	pbx_buf_free(&dump);
	pbx_config_free(cfg);
}

static void test_unknown_keys(void **state)
{
	expect_error("bogus = 1\n", "CFG: bogus: unknown key (no module has this section)");
	expect_error("pbx = { state_dri = 'x' }\n",
		     "CFG: pbx.state_dri: unknown key (module core)");
	/* A module's section: the error names the module that owns it. */
	expect_error("sip = { domian = 'x' }\n", "CFG: sip.domian: unknown key (module sip)");
	expect_error("sip = { tls = { crt = 'x' } }\n",
		     "CFG: sip.tls.crt: unknown key (module sip)");
	expect_error("rtp = { prot_min = 1 }\n", "CFG: rtp.prot_min: unknown key (module media)");
	expect_error("dialplan = { fiel = 'x' }\n",
		     "CFG: dialplan.fiel: unknown key (module dialplan)");
	expect_error("pbx = { [1] = 'x' }\n", "CFG: pbx: keys must be names");
}

static void test_types_and_ranges(void **state)
{
	expect_error("rtp = { port_min = 'abc' }\n",
		     "CFG: rtp.port_min: 'abc': must be an integer");
	expect_error("rtp = { port_min = 1.5 }\n", "CFG: rtp.port_min: '1.5': must be an integer");
	expect_error("rtp = { port_min = 80 }\n",
		     "CFG: rtp.port_min: '80': out of range 1024..65535");
	expect_error("pbx = { state_dir = 5 }\n", "CFG: pbx.state_dir: '5': must be a string");
	expect_error("pbx = { state_dir = '' }\n", "CFG: pbx.state_dir: '': must not be empty");
	expect_error("pbx = 'x'\n", "CFG: pbx: 'x': must be a table");
	expect_error(
		"pbx = { log_level = 'loud' }\n",
		"CFG: pbx.log_level: 'loud': must be one of error, warning, notice, info, debug");
	expect_error("rtp = { srtp = 'always' }\n",
		     "CFG: rtp.srtp: 'always': must be one of off, optional, mandatory");
	expect_error("rtp = { port_min = 20000, port_max = 10000 }\n",
		     "CFG: rtp.port_max: '10000': must be greater than rtp.port_min");
	expect_error("sip = { domain = 'a b' }\n", "CFG: sip.domain: 'a b': not a host name");
	{ /* the realm of every stored HA1: never cut */
		char text[200], want[240], name[129];
		memset(name, 'a', 128);
		name[128] = '\0';
		snprintf(text, sizeof text, "sip = { domain = '%s' }\n", name);
		snprintf(want, sizeof want, "CFG: sip.domain: '%s': longer than 127 characters",
			 name);
		expect_error(text, want);
	}
}

static void test_listen(void **state)
{
	expect_error("sip = { listen = { 'udp:1.2.3:5060' } }\n",
		     "CFG: sip.listen[1]: 'udp:1.2.3:5060': not an IPv4 or [IPv6] address");
	expect_error(
		"sip = { listen = { 'sctp:1.2.3.4:5060' } }\n",
		"CFG: sip.listen[1]: 'sctp:1.2.3.4:5060': unknown transport (udp, tcp or tls)");
	expect_error("sip = { listen = { 'udp:1.2.3.4:99999' } }\n",
		     "CFG: sip.listen[1]: 'udp:1.2.3.4:99999': port must be 1-65535");
	expect_error("sip = { listen = { 'udp:1.2.3.4:5060', 'udp:1.2.3.4:5060' } }\n",
		     "CFG: sip.listen[2]: 'udp:1.2.3.4:5060': listed twice");
	expect_error("sip = { listen = {} }\n", "CFG: sip.listen: must list at least one address");
	expect_error("sip = { listen = { udp = 'udp:1.2.3.4:5060' } }\n",
		     "CFG: sip.listen: must be a list, not a table with keys");
	expect_error("sip = { listen = 'udp:1.2.3.4:5060' }\n",
		     "CFG: sip.listen: 'udp:1.2.3.4:5060': must be a list of strings like "
		     "\"udp:0.0.0.0:5060\"");
	expect_error("sip = { listen = { 5060 } }\n",
		     "CFG: sip.listen[1]: '5060': must be a string");
	expect_error("sip = { listen = { 'tls:0.0.0.0:5061' }, tls = { cert = 'a.pem' } }\n",
		     "CFG: sip.tls: needs both cert and key");
}

static void test_auth_algorithms(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	/* MD5 alone by default: what phones in the field answer. */
	assert_int_equal(load_text("", &cfg, err, sizeof err), 0);
	assert_int_equal(sip_config_get(cfg)->n_auth_algs, 1);
	assert_int_equal(sip_config_get(cfg)->auth_algs[0], SIP_AUTH_MD5);
	pbx_config_free(cfg);
	assert_int_equal(load_text("sip = { auth_algorithms = { 'sha-256', 'MD5' } }", &cfg, err,
				   sizeof err),
			 0);
	assert_int_equal(sip_config_get(cfg)->n_auth_algs, 2);
	assert_int_equal(sip_config_get(cfg)->auth_algs[0], SIP_AUTH_SHA256);
	assert_int_equal(sip_config_get(cfg)->auth_algs[1], SIP_AUTH_MD5);
	pbx_config_free(cfg);
	expect_error("sip = { auth_algorithms = { 'SHA-1' } }",
		     "CFG: sip.auth_algorithms[1]: 'SHA-1': must be \"SHA-256\" or \"MD5\"");
	expect_error("sip = { auth_algorithms = { 'MD5', 'md5' } }",
		     "CFG: sip.auth_algorithms[2]: 'md5': listed twice");
	expect_error("sip = { auth_algorithms = {} }",
		     "CFG: sip.auth_algorithms: must list at least one algorithm");
	expect_error(
		"sip = { auth_algorithms = 'MD5' }",
		"CFG: sip.auth_algorithms: 'MD5': must be a list of \"SHA-256\" and/or \"MD5\"");
}

static void test_ban_ignore(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	/* Loopback by default, as fail2ban's ignoreip. */
	assert_int_equal(load_text("", &cfg, err, sizeof err), 0);
	const struct sip_config *sip = sip_config_get(cfg);
	assert_int_equal(sip->n_ban_ignore, 2);
	assert_int_equal(sip->ban_ignore[0].family, AF_INET);
	assert_int_equal(sip->ban_ignore[0].prefix, 8);
	assert_int_equal(sip->ban_ignore[0].ip[0], 127);
	assert_int_equal(sip->ban_ignore[1].family, AF_INET6);
	assert_int_equal(sip->ban_ignore[1].prefix, 128);
	assert_int_equal(sip->ban_threshold_address, 50);
	pbx_config_free(cfg);
	/* {} empties it: loopback is banned like any address. */
	assert_int_equal(load_text("sip = { ban_ignore = {} }", &cfg, err, sizeof err), 0);
	assert_int_equal(sip_config_get(cfg)->n_ban_ignore, 0);
	pbx_config_free(cfg);
	assert_int_equal(load_text("sip = { ban_ignore = { '10.0.0.0/8', '2001:db8::1', "
				   "'192.0.2.7/24' } }",
				   &cfg, err, sizeof err),
			 0);
	sip = sip_config_get(cfg);
	assert_int_equal(sip->n_ban_ignore, 3);
	assert_int_equal(sip->ban_ignore[1].prefix, 128);
	assert_int_equal(sip->ban_ignore[2].prefix, 24);
	assert_int_equal(sip->ban_ignore[2].ip[3], 0);
	pbx_config_free(cfg);
	expect_error("sip = { ban_ignore = { '10.0.0.0/8', 'office' } }",
		     "CFG: sip.ban_ignore[2]: 'office': not a network like \"192.0.2.0/24\", "
		     "\"2001:db8::/32\" or an address");
	expect_error("sip = { ban_ignore = { '10.0.0.0/33' } }",
		     "CFG: sip.ban_ignore[1]: '10.0.0.0/33': prefix length must be 0-32");
	expect_error("sip = { ban_ignore = { '::/200' } }",
		     "CFG: sip.ban_ignore[1]: '::/200': prefix length must be 0-128");
	expect_error("sip = { ban_ignore = '127.0.0.1' }",
		     "CFG: sip.ban_ignore: '127.0.0.1': must be a list of networks like "
		     "\"192.0.2.0/24\" or \"2001:db8::/32\"");
	expect_error("sip = { ban_ignore = { 127 } }",
		     "CFG: sip.ban_ignore[1]: '127': must be a string");
}

/* Paths in the file are relative to its folder, folded as the user reads them. */
/* rtp.codecs: names resolved to the registered codecs once, in the order written. */
static void test_rtp_codecs(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	size_t n;
	assert_int_equal(load_text("", &cfg, err, sizeof err), 0);
	const struct pbx_codec_desc *const *c = pbx_media_codecs(cfg, &n);
	assert_int_equal(n, 4);
	assert_ptr_equal(c[0], pbx_codec_find("opus"));
	assert_ptr_equal(c[1], pbx_codec_find("G722"));
	assert_ptr_equal(c[2], pbx_codec_find("PCMU"));
	assert_ptr_equal(c[3], pbx_codec_find("PCMA"));
	pbx_config_free(cfg);

	assert_int_equal(
		load_text("rtp = { codecs = { 'PCMA', 'Opus' } }\n", &cfg, err, sizeof err), 0);
	c = pbx_media_codecs(cfg, &n);
	assert_int_equal(n, 2);
	assert_ptr_equal(c[0], pbx_codec_find("PCMA"));
	assert_ptr_equal(c[1], pbx_codec_find("opus"));
	/* `core show settings` shows them as written. */
	struct pbx_buf dump;
	pbx_buf_init(&dump);
	pbx_config_dump(cfg, &dump);
	assert_non_null(strstr(dump.data, "{ \"PCMA\", \"Opus\" }"));
	pbx_buf_free(&dump);
	pbx_config_free(cfg);

	/* An unknown name: the reason lists what this build has (in link order). */
	assert_int_not_equal(
		load_text("rtp = { codecs = { 'pcmu', 'g729' } }\n", &cfg, err, sizeof err), 0);
	assert_int_equal(strncmp(err, "CFG: rtp.codecs[2]: 'g729': unknown codec (known: ", 50), 0);
	assert_non_null(strstr(err, "opus"));
	assert_non_null(strstr(err, "G722"));
	assert_non_null(strstr(err, "PCMU"));
	assert_non_null(strstr(err, "PCMA"));
	expect_error("rtp = { codecs = { 'pcmu', 'PCMU' } }\n",
		     "CFG: rtp.codecs[2]: 'PCMU': listed twice");
	expect_error("rtp = { codecs = {} }\n", "CFG: rtp.codecs: must list at least one codec");
	expect_error("rtp = { codecs = 'pcmu' }\n",
		     "CFG: rtp.codecs: 'pcmu': must be a list of codec names like \"opus\" or "
		     "\"pcmu\"");
}

static void test_paths(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	assert_int_equal(load_text("pbx = { state_dir = '../var', log_file = 'a/./b/../pbx.log' }\n"
				   "dialplan = { file = '/etc/pbx/x.lua' }\n",
				   &cfg, err, sizeof err),
			 0);
	assert_string_equal(pbx_config_core(cfg)->state_dir, "/var");
	assert_string_equal(pbx_config_core(cfg)->log_file, "/tmp/a/pbx.log");
	struct pbx_buf dump;
	pbx_buf_init(&dump);
	pbx_config_dump(cfg, &dump);
	assert_non_null(strstr(dump.data, "\"/etc/pbx/x.lua\""));
	pbx_buf_free(&dump);
	pbx_config_free(cfg);
}

static void test_lua_errors(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	assert_int_not_equal(load_text("pbx = {\n", &cfg, err, sizeof err), 0);
	assert_non_null(strstr(err, ":2:")); /* file:line from Lua */
	assert_int_not_equal(load_text("error('boom')\n", &cfg, err, sizeof err), 0);
	assert_non_null(strstr(err, "boom"));
	/* The sandbox has no io or os: a config cannot run programs. */
	assert_int_not_equal(load_text("os.execute('true')\n", &cfg, err, sizeof err), 0);
	assert_int_not_equal(load_text("io.open('/etc/passwd')\n", &cfg, err, sizeof err), 0);
	struct pbx_buf e;
	pbx_buf_init(&e);
	assert_int_not_equal(pbx_config_load(&cfg, "/nonexistent/pbx.lua", &e), 0);
	assert_non_null(strstr(e.data, "/nonexistent/pbx.lua"));
	pbx_buf_free(&e);
}

/* Found while fuzzing the loader (fuzz_config): errors outside the file's
 * own run aborted the PBX through Lua's panic, and nothing bounded what a
 * file may spend. */
static void test_lua_limits(void **state)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	/* A list's __len ran again while the loader walked the file, outside
	 * any pcall, and its error aborted the PBX. Lists are read raw now,
	 * and metatables are not in the sandbox at all (a __gc finalizer
	 * runs with hooks off, beyond the budget below). */
	assert_int_not_equal(load_text("sip = { listen = setmetatable({}, { __len = function() "
				       "error('boom') end }) }\n",
				       &cfg, err, sizeof err),
			     0);
	assert_null(cfg);
	assert_non_null(strstr(err, "setmetatable"));
	/* A loop that never ends stops with the file and line. */
	expect_error("local n = 0\nwhile true do n = n + 1 end\n",
		     "CFG:2: runs too long (a loop that never ends?)");
	/* So does one that allocates, whatever it does with it. */
	assert_int_not_equal(load_text("while true do local s = ('x'):rep(1000000) end\n", &cfg,
				       err, sizeof err),
			     0);
	assert_string_equal(err, "CFG:1: runs too long (a loop that never ends?)");
	/* Memory is bounded, and the message names the file. */
	expect_error("local t = {}\nfor i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end\n",
		     "CFG: uses more than 64 MB of memory");
	/* error() with no message, or no position, still names the file. */
	expect_error("error({})\n", "CFG: error with a table value");
	expect_error("error('plain', 0)\n", "CFG: plain");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_defaults),     cmocka_unit_test(test_values),
	cmocka_unit_test(test_unknown_keys), cmocka_unit_test(test_types_and_ranges),
	cmocka_unit_test(test_listen),       cmocka_unit_test(test_auth_algorithms),
	cmocka_unit_test(test_lua_errors),   cmocka_unit_test(test_lua_limits),
	cmocka_unit_test(test_paths),        cmocka_unit_test(test_ban_ignore),
	cmocka_unit_test(test_rtp_codecs),
};

UNIT_GROUP(config, tests, NULL, NULL);
