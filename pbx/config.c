/**
 * @file config.c  Load and validate the Lua configuration file
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The config is Lua (one language for config and dialplan), run in a
 * sandbox with only the base, string, math and table libraries; this is
 * the one place in the core that uses Lua. Every key is described once in
 * the schema below: its type, default, limits and where it is stored.
 * Anything the schema does not know is refused, so a typo never starts a
 * half-configured PBX.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbx/config.h"
#include "pbx/log.h"

enum key_type { K_TABLE, K_STRING, K_INT, K_ENUM, K_LISTEN, K_LOGLEVEL, K_DIGESTS };

struct key {
	const char *path; /* "sip.domain" */
	enum key_type type;
	size_t off;                 /* offsetof in struct pbx_config */
	const char *def;            /* default, as text; NULL: none (optional) */
	long min, max;              /* K_INT */
	const char *const *choices; /* K_ENUM, NULL-terminated */
	const char *help;
};

#define OFF(f) offsetof(struct pbx_config, f)

static const char *const srtp_choices[] = {"off", "optional", "mandatory", NULL};

static const struct key schema[] = {
	{"pbx", K_TABLE, 0, NULL, 0, 0, NULL, "core settings"},
	{"pbx.state_dir", K_STRING, OFF(pbx.state_dir), "var", 0, 0, NULL,
	 "directory for pbx.db, voicemail/, run/pbx.ctl"},
	{"pbx.log_level", K_LOGLEVEL, OFF(pbx.log_level), "notice", 0, 0, NULL,
	 "error, warning, notice, info or debug"},
	{"pbx.log_file", K_STRING, OFF(pbx.log_file), NULL, 0, 0, NULL,
	 "also log to this file (relative to the working directory)"},
	{"pbx.media_workers", K_INT, OFF(pbx.media_workers), "0", 0, 64, NULL,
	 "media threads; 0 = one per core"},
	{"sip", K_TABLE, 0, NULL, 0, 0, NULL, "SIP driver"},
	{"sip.listen", K_LISTEN, OFF(sip.listen), NULL, 0, 0, NULL,
	 "list of \"udp|tcp|tls:ADDRESS:PORT\""},
	{"sip.domain", K_STRING, OFF(sip.domain), "pbx.local", 0, 0, NULL,
	 "SIP domain and digest realm"},
	{"sip.user_agent", K_STRING, OFF(sip.user_agent), "pbx", 0, 0, NULL,
	 "Server/User-Agent header value"},
	{"sip.tls", K_TABLE, 0, NULL, 0, 0, NULL, "TLS certificate and key"},
	{"sip.tls.cert", K_STRING, OFF(sip.tls_cert), NULL, 0, 0, NULL, "PEM certificate chain"},
	{"sip.tls.key", K_STRING, OFF(sip.tls_key), NULL, 0, 0, NULL, "PEM private key"},
	{"sip.max_contacts", K_INT, OFF(sip.max_contacts), "5", 1, 100, NULL,
	 "contacts per user; the oldest is replaced"},
	{"sip.min_expires", K_INT, OFF(sip.min_expires), "60", 1, 86400, NULL,
	 "shorter REGISTER expiry gets 423"},
	{"sip.max_expires", K_INT, OFF(sip.max_expires), "3600", 1, 604800, NULL,
	 "longer expiry is cut to this"},
	{"sip.default_expires", K_INT, OFF(sip.default_expires), "3600", 1, 604800, NULL,
	 "expiry when the phone gives none"},
	{"sip.qualify_interval", K_INT, OFF(sip.qualify_interval), "60", 0, 3600, NULL,
	 "seconds between OPTIONS to each contact; 0 = off"},
	{"sip.nonce_lifetime", K_INT, OFF(sip.nonce_lifetime), "300", 10, 86400, NULL,
	 "seconds a digest nonce stays valid"},
	{"sip.ban_threshold", K_INT, OFF(sip.ban_threshold), "10", 0, 100000, NULL,
	 "failed authentications that ban an address; 0 = never ban"},
	{"sip.ban_window", K_INT, OFF(sip.ban_window), "60", 1, 86400, NULL,
	 "seconds in which those failures count"},
	{"sip.ban_time", K_INT, OFF(sip.ban_time), "600", 1, 604800, NULL,
	 "seconds an address stays banned"},
	{"sip.tcp_idle_timeout", K_INT, OFF(sip.tcp_idle_timeout), "300", 5, 86400, NULL,
	 "close TCP/TLS connections idle this long (no binding on them)"},
	{"sip.max_message_size", K_INT, OFF(sip.max_message_size), "65535", 1024, 1048576, NULL,
	 "larger messages get 513"},
	{"sip.auth_algorithms", K_DIGESTS, OFF(sip.auth_algs), NULL, 0, 0, NULL,
	 "digest algorithms offered, in order: \"SHA-256\", \"MD5\""},
	{"rtp", K_TABLE, 0, NULL, 0, 0, NULL, "media"},
	{"rtp.port_min", K_INT, OFF(rtp.port_min), "10000", 1024, 65535, NULL, "first RTP port"},
	{"rtp.port_max", K_INT, OFF(rtp.port_max), "20000", 1024, 65535, NULL, "last RTP port"},
	{"rtp.srtp", K_ENUM, OFF(rtp.srtp), "optional", 0, 0, srtp_choices,
	 "default SRTP policy: off, optional or mandatory"},
	{"rtp.timeout", K_INT, OFF(rtp.timeout), "30", 0, 3600, NULL,
	 "hang up after this many seconds without RTP; 0 = never"},
	{"dialplan", K_TABLE, 0, NULL, 0, 0, NULL, "dialplan"},
	{"dialplan.file", K_STRING, OFF(dialplan.file), "etc/extensions.lua", 0, 0, NULL,
	 "the Lua dialplan"},
};

#define NKEYS (sizeof schema / sizeof *schema)

static const char *const default_listen[] = {"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"};

const char *pbx_srtp_policy_name(int policy)
{
	return policy >= 0 && policy < 3 ? srtp_choices[policy] : "?";
}

int pbx_srtp_policy_parse(const char *name)
{
	for (int i = 0; srtp_choices[i]; i++)
		if (!strcmp(name, srtp_choices[i]))
			return i;
	return -1;
}

static const struct key *key_find(const char *path)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(schema[i].path, path))
			return &schema[i];
	return NULL;
}

struct loader {
	struct pbx_config *cfg;
	struct pbx_buf *err;
	const char *file;
	unsigned char seen[NKEYS];
};

static int fail(struct loader *ld, const char *path, const char *value, const char *why)
{
	if (value)
		pbx_buf_printf(ld->err, "%s: %s: '%s': %s", ld->file, path, value, why);
	else
		pbx_buf_printf(ld->err, "%s: %s: %s", ld->file, path, why);
	return EINVAL;
}

static char **str_slot(struct pbx_config *cfg, const struct key *k)
{
	return (char **)((char *)cfg + k->off);
}

static int *int_slot(struct pbx_config *cfg, const struct key *k)
{
	return (int *)((char *)cfg + k->off);
}

/* Store a scalar given as text (defaults, and string values from Lua). */
static int store_text(struct loader *ld, const struct key *k, const char *v)
{
	char *end;
	long n;
	switch (k->type) {
	case K_STRING:
		if (!*v)
			return fail(ld, k->path, v, "must not be empty");
		free(*str_slot(ld->cfg, k));
		*str_slot(ld->cfg, k) = strdup(v);
		return *str_slot(ld->cfg, k) ? 0 : ENOMEM;
	case K_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (!*v || *end || errno)
			return fail(ld, k->path, v, "not an integer");
		if (n < k->min || n > k->max) {
			char why[96];
			snprintf(why, sizeof why, "out of range %ld..%ld", k->min, k->max);
			return fail(ld, k->path, v, why);
		}
		*int_slot(ld->cfg, k) = (int)n;
		return 0;
	case K_ENUM:
		for (int i = 0; k->choices[i]; i++)
			if (!strcmp(v, k->choices[i])) {
				*int_slot(ld->cfg, k) = i;
				return 0;
			}
		return fail(ld, k->path, v, "must be one of off, optional, mandatory");
	case K_LOGLEVEL:
		n = pbx_log_level_parse(v);
		if (n < 0)
			return fail(ld, k->path, v,
				    "must be one of error, warning, notice, info, debug");
		*int_slot(ld->cfg, k) = (int)n;
		return 0;
	default: return EINVAL;
	}
}

/* The value on top of the stack as the user wrote it, or its type for tables. */
static const char *shown(lua_State *L, char *buf, size_t len)
{
	int t = lua_type(L, -1);
	if (t == LUA_TSTRING || t == LUA_TNUMBER) {
		lua_pushvalue(L, -1); /* tostring converts in place: work on a copy */
		snprintf(buf, len, "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
	} else if (t == LUA_TBOOLEAN) {
		snprintf(buf, len, "%s", lua_toboolean(L, -1) ? "true" : "false");
	} else {
		snprintf(buf, len, "%s", luaL_typename(L, -1));
	}
	return buf;
}

static int store_listen(struct loader *ld, const struct key *k, lua_State *L)
{
	char v[256];
	if (!lua_istable(L, -1))
		return fail(ld, k->path, shown(L, v, sizeof v),
			    "must be a list of strings like \"udp:0.0.0.0:5060\"");
	lua_Integer n = luaL_len(L, -1);
	/* Only the array part: a key like { udp = "..." } is a mistake. */
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
			lua_pop(L, 1);
			return fail(ld, k->path, NULL, "must be a list, not a table with keys");
		}
	}
	if (n < 1)
		return fail(ld, k->path, NULL, "must list at least one address");
	if (n > PBX_CFG_MAX_LISTEN)
		return fail(ld, k->path, NULL, "too many addresses (at most 16)");
	for (lua_Integer i = 1; i <= n; i++) {
		char path[64];
		snprintf(path, sizeof path, "%s[%lld]", k->path, (long long)i);
		lua_geti(L, -1, i);
		if (lua_type(L, -1) != LUA_TSTRING) {
			int e = fail(ld, path, shown(L, v, sizeof v), "must be a string");
			lua_pop(L, 1);
			return e;
		}
		const char *why, *text = lua_tostring(L, -1);
		struct pbx_listen *l = &ld->cfg->sip.listen[i - 1];
		if (pbx_listen_parse(text, l, &why)) {
			int e = fail(ld, path, text, why);
			lua_pop(L, 1);
			return e;
		}
		for (lua_Integer j = 1; j < i; j++) {
			struct pbx_listen *o = &ld->cfg->sip.listen[j - 1];
			if (o->tp == l->tp &&
			    !memcmp(&o->addr, &l->addr, pbx_sa_len((struct sockaddr *)&l->addr))) {
				int e = fail(ld, path, text, "listed twice");
				lua_pop(L, 1);
				return e;
			}
		}
		lua_pop(L, 1);
	}
	ld->cfg->sip.n_listen = (int)n;
	return 0;
}

static int store_digests(struct loader *ld, const struct key *k, lua_State *L)
{
	static const char *const names[] = {"MD5", "SHA-256"};
	if (!lua_istable(L, -1) || luaL_len(L, -1) < 1 || luaL_len(L, -1) > 2)
		return fail(ld, k->path, luaL_typename(L, -1),
			    "must be a list of one or two of \"SHA-256\", \"MD5\"");
	lua_Integer n = luaL_len(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		char path[64];
		snprintf(path, sizeof path, "%s[%lld]", k->path, (long long)i);
		lua_geti(L, -1, i);
		const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		int alg = -1;
		for (int j = 0; v && j < 2; j++)
			if (!strcasecmp(v, names[j]))
				alg = j;
		if (alg < 0 || (i == 2 && alg == ld->cfg->sip.auth_algs[0])) {
			int e = fail(ld, path, v ? v : luaL_typename(L, -1),
				     alg < 0 ? "must be \"SHA-256\" or \"MD5\"" : "listed twice");
			lua_pop(L, 1);
			return e;
		}
		ld->cfg->sip.auth_algs[i - 1] = alg;
		lua_pop(L, 1);
	}
	ld->cfg->sip.n_auth_algs = (int)n;
	return 0;
}

/* Walk the table on top of the stack whose path is @p prefix. */
static int walk_table(struct loader *ld, lua_State *L, const char *prefix)
{
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		char path[128];
		int err = 0;
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			return fail(ld, prefix[0] ? prefix : "(top level)", NULL,
				    "keys must be names");
		}
		const char *name = lua_tostring(L, -2);
		snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", name);
		const struct key *k = key_find(path);
		if (!k) {
			lua_pop(L, 2);
			return fail(ld, path, NULL, "unknown key");
		}
		ld->seen[k - schema] = 1;
		int t = lua_type(L, -1);
		char v[256];
		switch (k->type) {
		case K_TABLE:
			if (t != LUA_TTABLE)
				err = fail(ld, path, shown(L, v, sizeof v), "must be a table");
			else
				err = walk_table(ld, L, path);
			break;
		case K_LISTEN: err = store_listen(ld, k, L); break;
		case K_DIGESTS: err = store_digests(ld, k, L); break;
		case K_INT:
			if (t != LUA_TNUMBER || !lua_isinteger(L, -1)) {
				err = fail(ld, path, shown(L, v, sizeof v), "must be an integer");
				break;
			}
			err = store_text(ld, k, lua_tostring(L, -1)); /* range check */
			break;
		default:
			if (t != LUA_TSTRING) {
				err = fail(ld, path, shown(L, v, sizeof v), "must be a string");
				break;
			}
			err = store_text(ld, k, lua_tostring(L, -1));
		}
		lua_pop(L, 1);
		if (err) {
			lua_pop(L, 1);
			return err;
		}
	}
	return 0;
}

static int apply_defaults(struct loader *ld)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &schema[i];
		if (ld->seen[i] || !k->def)
			continue;
		int err = store_text(ld, k, k->def);
		if (err)
			return err;
	}
	if (!ld->seen[key_find("sip.listen") - schema]) {
		const char *why;
		for (size_t i = 0; i < sizeof default_listen / sizeof *default_listen; i++)
			pbx_listen_parse(default_listen[i], &ld->cfg->sip.listen[i], &why);
		ld->cfg->sip.n_listen = 2;
	}
	if (!ld->seen[key_find("sip.auth_algorithms") - schema]) {
		/* RFC 8760: strongest first; clients take the first they know. */
		ld->cfg->sip.auth_algs[0] = PBX_DIGEST_SHA256;
		ld->cfg->sip.auth_algs[1] = PBX_DIGEST_MD5;
		ld->cfg->sip.n_auth_algs = 2;
	}
	return 0;
}

static int cross_check(struct loader *ld)
{
	struct pbx_config *c = ld->cfg;
	char v[64];
	if (c->rtp.port_min >= c->rtp.port_max) {
		snprintf(v, sizeof v, "%d", c->rtp.port_max);
		return fail(ld, "rtp.port_max", v, "must be greater than rtp.port_min");
	}
	if ((c->rtp.port_max - c->rtp.port_min) < 3) {
		snprintf(v, sizeof v, "%d", c->rtp.port_max);
		return fail(ld, "rtp.port_max", v, "range too small for one call");
	}
	if (c->sip.min_expires > c->sip.max_expires) {
		snprintf(v, sizeof v, "%d", c->sip.min_expires);
		return fail(ld, "sip.min_expires", v, "greater than sip.max_expires");
	}
	if (c->sip.default_expires < c->sip.min_expires ||
	    c->sip.default_expires > c->sip.max_expires) {
		snprintf(v, sizeof v, "%d", c->sip.default_expires);
		return fail(ld, "sip.default_expires", v,
			    "must lie between sip.min_expires and sip.max_expires");
	}
	for (const char *p = c->sip.domain; *p; p++)
		if (*p <= ' ' || strchr("\"<>@;:,\\/", *p))
			return fail(ld, "sip.domain", c->sip.domain, "not a host name");
	/* Without sip.tls the SIP module makes a self-signed pair in the state
	 * dir; half a pair is a mistake worth stopping for. */
	if (!c->sip.tls_cert != !c->sip.tls_key)
		return fail(ld, "sip.tls", NULL, "needs both cert and key");
	return 0;
}

/* The config runs with a small, side-effect free library set. */
static void open_safe_libs(lua_State *L)
{
	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	lua_pop(L, 4);
	static const char *const unsafe[] = {"dofile",  "loadfile",       "load",
					     "require", "collectgarbage", NULL};
	for (int i = 0; unsafe[i]; i++) {
		lua_pushnil(L);
		lua_setglobal(L, unsafe[i]);
	}
}

int pbx_config_load(struct pbx_config **cfgp, const char *file, struct pbx_buf *err)
{
	struct loader ld = {.err = err, .file = file};
	int rc = ENOMEM;
	lua_State *L = luaL_newstate();
	ld.cfg = calloc(1, sizeof *ld.cfg);
	if (!L || !ld.cfg)
		goto out;
	ld.cfg->file = strdup(file);
	open_safe_libs(L);

	if (luaL_loadfilex(L, file, "t") != LUA_OK) {
		/* Lua's message already names file:line, or says why it cannot open. */
		pbx_buf_printf(err, "%s", lua_tostring(L, -1));
		rc = EINVAL;
		goto out;
	}
	/* Run with a fresh _ENV whose reads fall back to the safe globals, so
	 * what the file assigns is exactly the env table's own keys. */
	lua_newtable(L);
	lua_newtable(L);
	lua_pushglobaltable(L);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setupvalue(L, -3, 1);
	lua_insert(L, -2); /* env below the chunk */
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		pbx_buf_printf(err, "%s", lua_tostring(L, -1));
		rc = EINVAL;
		goto out;
	}
	rc = walk_table(&ld, L, "");
	if (!rc)
		rc = apply_defaults(&ld);
	if (!rc)
		rc = cross_check(&ld);
out:
	if (L)
		lua_close(L);
	if (rc) {
		if (rc == ENOMEM && !err->len)
			pbx_buf_printf(err, "%s: out of memory", file);
		pbx_config_free(ld.cfg);
		return rc;
	}
	*cfgp = ld.cfg;
	return 0;
}

void pbx_config_free(struct pbx_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NKEYS; i++)
		if (schema[i].type == K_STRING)
			free(*str_slot(cfg, &schema[i]));
	free(cfg->file);
	free(cfg);
}

void pbx_config_dump(const struct pbx_config *cfg, struct pbx_buf *out)
{
	pbx_buf_printf(out, "-- %s\n", cfg->file);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &schema[i];
		struct pbx_config *c = (struct pbx_config *)cfg;
		char lbuf[80];
		switch (k->type) {
		case K_TABLE: continue;
		case K_STRING: {
			const char *s = *str_slot(c, k);
			pbx_buf_printf(out, "%-24s = ", k->path);
			if (s)
				pbx_buf_json_str(out, s);
			else
				pbx_buf_puts(out, "nil");
			break;
		}
		case K_INT: pbx_buf_printf(out, "%-24s = %d", k->path, *int_slot(c, k)); break;
		case K_ENUM:
			pbx_buf_printf(out, "%-24s = \"%s\"", k->path, k->choices[*int_slot(c, k)]);
			break;
		case K_LOGLEVEL:
			pbx_buf_printf(out, "%-24s = \"%s\"", k->path,
				       pbx_log_level_name(*int_slot(c, k)));
			break;
		case K_DIGESTS:
			pbx_buf_printf(out, "%-24s = {", k->path);
			for (int j = 0; j < cfg->sip.n_auth_algs; j++)
				pbx_buf_printf(out, "%s\"%s\"", j ? ", " : " ",
					       cfg->sip.auth_algs[j] == PBX_DIGEST_MD5 ? "MD5"
										       : "SHA-256");
			pbx_buf_puts(out, " }");
			break;
		case K_LISTEN:
			pbx_buf_printf(out, "%-24s = {", k->path);
			for (int j = 0; j < cfg->sip.n_listen; j++)
				pbx_buf_printf(
					out, "%s\"%s\"", j ? ", " : " ",
					pbx_listen_str(&cfg->sip.listen[j], lbuf, sizeof lbuf));
			pbx_buf_puts(out, " }");
			break;
		}
		pbx_buf_printf(out, "  -- %s\n", k->help);
	}
}
