/**
 * @file user_cmds.c  Console commands: user add|del|list|show|passwd|set|enable|disable
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbx/cli.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/media.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"

#define SRTP_CHOICES "off|optional|mandatory"
#define FIELDS       "name|password|pin|email|context|message_context|srtp|auth|mwi|max_messages"

/* Apply one field to @p u after checking it; NULL on success, else the reason. */
static const char *apply_field(struct pbx_user *u, const char *field, const char *value, char *why,
			       size_t whylen)
{
	const char *bad = NULL;
	if (!strcmp(field, "name")) {
		if (!(bad = pbx_user_check_name(value)))
			snprintf(u->name, sizeof u->name, "%s", value);
	} else if (!strcmp(field, "password")) {
		if (!(bad = pbx_user_check_password(value)))
			pbx_user_set_ha1(u, pbx_auth_realm(), value);
	} else if (!strcmp(field, "pin")) {
		if (!(bad = pbx_user_check_pin(value)))
			snprintf(u->pin, sizeof u->pin, "%s", value);
	} else if (!strcmp(field, "email")) {
		if (!(bad = pbx_user_check_email(value)))
			snprintf(u->email, sizeof u->email, "%s", value);
	} else if (!strcmp(field, "context")) {
		if (!(bad = pbx_user_check_context(value)))
			snprintf(u->context, sizeof u->context, "%s", value);
	} else if (!strcmp(field, "message_context")) {
		if (!*value || !(bad = pbx_user_check_context(value)))
			snprintf(u->message_context, sizeof u->message_context, "%s", value);
	} else if (!strcmp(field, "srtp")) {
		int p = pbx_srtp_policy_parse(value);
		if (p < 0)
			bad = "must be one of off, optional, mandatory";
		else
			u->srtp = p;
	} else if (!strcmp(field, "auth")) {
		bad = pbx_user_check_auth(value, u->auth, sizeof u->auth);
	} else if (!strcmp(field, "mwi")) {
		if (!strcmp(value, "unsolicited") || !strcmp(value, "subscribe"))
			u->mwi_unsolicited = value[0] == 'u';
		else
			bad = "must be subscribe or unsolicited";
	} else if (!strcmp(field, "max_messages")) {
		char *end;
		long n = strtol(value, &end, 10);
		if (!*value || *end || n < 0 || n > 9999)
			bad = "must be a number from 0 (voicemail.max_messages) to 9999";
		else
			u->vm_max_messages = (int)n;
	}
	if (!bad)
		return NULL;
	/* Passwords are never echoed back, not even in an error. */
	if (!strcmp(field, "password"))
		snprintf(why, whylen, "invalid password: %s", bad);
	else
		snprintf(why, whylen, "invalid %s '%s': %s", !strcmp(field, "pin") ? "PIN" : field,
			 value, bad);
	return why;
}

static int user_add(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	static const char *const opts[][2] = {{"--name", "name"},       {"--password", "password"},
					      {"--pin", "pin"},         {"--email", "email"},
					      {"--context", "context"}, {"--srtp", "srtp"},
					      {"--auth", "auth"}};
	const char *ext = pbx_cli_arg(a, "EXT"), *bad;
	struct pbx_user u = {.srtp = pbx_media_config(pbx_cfg())->srtp, .enabled = true};
	char why[256];

	if ((bad = pbx_user_check_ext(ext)))
		return pbx_cli_error(cli, "user add: invalid extension '%s': %s", ext, bad);
	snprintf(u.ext, sizeof u.ext, "%s", ext);
	snprintf(u.context, sizeof u.context, "default");
	snprintf(u.realm, sizeof u.realm, "%s", pbx_auth_realm());
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
		const char *v = pbx_cli_arg(a, opts[i][0]);
		if (v && apply_field(&u, opts[i][1], v, why, sizeof why))
			return pbx_cli_error(cli, "user add: %s", why);
	}
	int err = pbx_user_add(pbx_dir(), &u);
	if (err == EEXIST)
		return pbx_cli_error(cli, "user add: extension %s already exists", ext);
	if (err)
		return pbx_cli_error(cli, "user add: database error (%s)", strerror(err));
	pbx_vm_changed(ext); /* a phone subscribed to this mailbox learns it exists */
	pbx_cli_printf(cli, "User %s added.%s\n", ext,
		       u.ha1_md5[0] ? "" : " It has no password yet: it cannot register.");
	return 0;
}

static int find_or_complain(struct pbx_cli *cli, const char *cmd, const char *ext,
			    struct pbx_user *u)
{
	int err = pbx_user_find(pbx_dir(), ext, u);
	if (err == ENOENT)
		return pbx_cli_error(cli, "%s: no such user '%s'", cmd, ext);
	if (err)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	return 0;
}

static int user_del(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	const char *ext = pbx_cli_arg(a, "EXT");
	int err = pbx_user_del(pbx_dir(), ext);
	if (err == ENOENT)
		return pbx_cli_error(cli, "user del: no such user '%s'", ext);
	if (err)
		return pbx_cli_error(cli, "user del: database error (%s)", strerror(err));
	return pbx_cli_printf(cli, "User %s deleted.\n", ext);
}

static void json_user(struct pbx_buf *b, const struct pbx_user *u)
{
	struct pbx_vm_counts vc;
	pbx_vm_counts(u->ext, &vc);
	pbx_buf_puts(b, "{\"extension\":");
	pbx_buf_json_str(b, u->ext);
	pbx_buf_puts(b, ",\"name\":");
	pbx_buf_json_str(b, u->name);
	pbx_buf_puts(b, ",\"email\":");
	pbx_buf_json_str(b, u->email);
	pbx_buf_puts(b, ",\"context\":");
	pbx_buf_json_str(b, u->context);
	pbx_buf_puts(b, ",\"message_context\":");
	pbx_buf_json_str(b, u->message_context[0] ? u->message_context : "messages");
	pbx_buf_puts(b, ",\"auth\":");
	pbx_buf_json_str(b, u->auth[0] ? u->auth : "default");
	pbx_buf_printf(b,
		       ",\"srtp\":\"%s\",\"enabled\":%s,\"has_password\":%s,\"has_pin\":%s,"
		       "\"created\":%lld,\"updated\":%lld,\"mwi\":\"%s\",\"max_messages\":%u,"
		       "\"messages_new\":%u,\"messages_old\":%u}",
		       pbx_srtp_policy_name(u->srtp), u->enabled ? "true" : "false",
		       u->ha1_md5[0] ? "true" : "false", u->pin[0] ? "true" : "false",
		       (long long)u->created, (long long)u->updated,
		       u->mwi_unsolicited ? "unsolicited" : "subscribe",
		       pbx_vm_max_messages(u->ext), vc.new_msgs, vc.old_msgs);
}

struct list_state {
	struct pbx_cli *cli;
	bool json;
	int n;
};

static int list_one(const struct pbx_user *u, void *arg)
{
	struct list_state *st = arg;
	if (st->json) {
		pbx_buf_puts(&st->cli->out, st->n ? ",\n " : "");
		json_user(&st->cli->out, u);
	} else {
		pbx_cli_printf(st->cli, "%-10s %-24s %-12s %-10s %-8s %s\n", u->ext, u->name,
			       u->context, pbx_srtp_policy_name(u->srtp), u->enabled ? "yes" : "no",
			       u->ha1_md5[0] ? "set" : "none");
	}
	st->n++;
	return 0;
}

static int user_list(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct list_state st = {cli, pbx_cli_flag(a, "--json"), 0};
	if (st.json)
		pbx_cli_printf(cli, "[");
	else
		pbx_cli_printf(cli, "%-10s %-24s %-12s %-10s %-8s %s\n", "Extension", "Name",
			       "Context", "SRTP", "Enabled", "Password");
	if (pbx_user_each(pbx_dir(), "", list_one, &st))
		return pbx_cli_error(cli, "user list: database error");
	if (st.json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d user%s\n", st.n, st.n == 1 ? "" : "s");
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int user_show(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_user u;
	char c[32], up[32];
	if (find_or_complain(cli, "user show", pbx_cli_arg(a, "EXT"), &u))
		return 1;
	if (pbx_cli_flag(a, "--json")) {
		json_user(&cli->out, &u);
		return pbx_cli_printf(cli, "\n");
	}
	fmt_time(u.created, c, sizeof c);
	fmt_time(u.updated, up, sizeof up);
	struct pbx_vm_counts vc;
	pbx_vm_counts(u.ext, &vc);
	return pbx_cli_printf(
		cli,
		"Extension : %s\nName      : %s\nContext   : %s\nMessaging : %s\n"
		"E-mail    : %s\n"
		"SRTP      : %s\nAuth      : %s\nEnabled   : %s\nPassword  : %s\n"
		"PIN       : %s\nMessages  : %u new, %u old (at most %u)\n"
		"MWI       : %s\nCreated   : %s\nUpdated   : %s\n",
		u.ext, u.name, u.context, u.message_context[0] ? u.message_context : "messages",
		u.email, pbx_srtp_policy_name(u.srtp),
		u.auth[0] ? u.auth : "default (sip.auth_algorithms)", u.enabled ? "yes" : "no",
		u.ha1_md5[0] ? "set" : "not set", u.pin[0] ? "set" : "not set", vc.new_msgs,
		vc.old_msgs, pbx_vm_max_messages(u.ext),
		u.mwi_unsolicited ? "unsolicited" : "subscribe", c, up);
}

static int update(struct pbx_cli *cli, const char *cmd, struct pbx_user *u)
{
	int err = pbx_user_update(pbx_dir(), u);
	if (err == ENOENT)
		return pbx_cli_error(cli, "%s: no such user '%s'", cmd, u->ext);
	if (err)
		return pbx_cli_error(cli, "%s: database error (%s)", cmd, strerror(err));
	return 0;
}

static int user_passwd(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_user u;
	char why[256];
	if (find_or_complain(cli, "user passwd", pbx_cli_arg(a, "EXT"), &u))
		return 1;
	if (apply_field(&u, "password", pbx_cli_arg(a, "PASSWORD"), why, sizeof why))
		return pbx_cli_error(cli, "user passwd: %s", why);
	if (update(cli, "user passwd", &u))
		return 1;
	return pbx_cli_printf(cli, "Password of %s changed.\n", u.ext);
}

static int user_set(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	struct pbx_user u;
	char why[256];
	const char *field = pbx_cli_arg(a, FIELDS), *value = pbx_cli_arg(a, "VALUE");
	if (find_or_complain(cli, "user set", pbx_cli_arg(a, "EXT"), &u))
		return 1;
	if (apply_field(&u, field, value, why, sizeof why))
		return pbx_cli_error(cli, "user set: %s", why);
	if (update(cli, "user set", &u))
		return 1;
	if (!strcmp(field, "mwi"))
		pbx_vm_changed(u.ext); /* an unsolicited lamp is lit now, not at the next message */
	return pbx_cli_printf(cli, "User %s: %s updated.\n", u.ext, field);
}

static int set_enabled(struct pbx_cli *cli, const struct pbx_cli_args *a, bool on)
{
	struct pbx_user u;
	const char *cmd = on ? "user enable" : "user disable";
	if (find_or_complain(cli, cmd, pbx_cli_arg(a, "EXT"), &u))
		return 1;
	u.enabled = on;
	if (update(cli, cmd, &u))
		return 1;
	return pbx_cli_printf(cli, "User %s %s.\n", u.ext, on ? "enabled" : "disabled");
}

static int user_enable(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return set_enabled(cli, a, true);
}

static int user_disable(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	return set_enabled(cli, a, false);
}

static int complete_one(const struct pbx_user *u, void *arg)
{
	pbx_buf_printf(arg, "%s\n", u->ext);
	return 0;
}

/* Tab completion of EXT arguments: users whose extension starts with the prefix. */
static void complete_ext(const char *prefix, struct pbx_buf *out)
{
	pbx_user_each(pbx_dir(), prefix, complete_one, out);
}

static const struct pbx_cli_cmd cmds[] = {
	{"user add EXT [--name N] [--password P] [--pin N] [--email E] [--context C] "
	 "[--srtp " SRTP_CHOICES "] [--auth A]",
	 "add a user (extension)",
	 "The password is stored only as digest hashes (MD5 and SHA-256) for sip.domain.\n"
	 "Without --password the user exists but cannot register.",
	 user_add},
	{"user del EXT", "delete a user and its registrations", NULL, user_del},
	{"user list [--json]", "list users", NULL, user_list},
	{"user show EXT [--json]", "show one user", NULL, user_show},
	{"user passwd EXT PASSWORD", "set a user's SIP password", NULL, user_passwd},
	{"user set EXT " FIELDS " VALUE", "change one field of a user",
	 "srtp takes off, optional or mandatory; email \"\" clears the address.\n"
	 "auth sets the digest algorithms this user is challenged with, in order:\n"
	 "md5, sha-256, sha-256,md5 or md5,sha-256; default follows sip.auth_algorithms.\n"
	 "mwi unsolicited sends the message lamp's NOTIFY to phones that never subscribe;\n"
	 "max_messages N limits the user's mailbox (0: voicemail.max_messages);\n"
	 "message_context C is where the user's instant messages enter the dialplan\n"
	 "(\"\" goes back to the context \"messages\").",
	 user_set},
	{"user enable EXT", "allow a user to register and call", NULL, user_enable},
	{"user disable EXT", "stop a user from registering and calling", NULL, user_disable},
};

static int load(void)
{
	pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds);
	return pbx_cli_completer_register("EXT", complete_ext);
}

static void unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
}

PBX_MODULE(user_cmds_module) = {"user_cmds", 0, load, unload};
