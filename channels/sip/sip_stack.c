/**
 * @file sip_stack.c  The SIP driver module: receive path, core behaviour, auth
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every received message goes: address ban check (in the transport, before
 * parsing) -> flood guard (pike, requests only) -> pair ban check ->
 * transactions (retransmissions end there) -> sanity (Max-Forwards,
 * Require, Request-URI) -> a new server transaction -> the method's
 * handler. What no handler takes is answered 405 (a method we know) or
 * 501 (one we do not), with Allow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "sip_auth.h"
#include "sip_ban.h"
#include "sip_build.h"
#include "sip_config.h"
#include "sip_pike.h"
#include "sip_registrar.h"
#include "sip_stack.h"
#include "sip_subscription.h"
#include "sip_tsx.h"
#include "sip_uri.h"

/* Option tags we implement; a Require naming anything else gets 420. */
static const char *const supported_tags[] = {"path", "timer", NULL};
#define SUPPORTED_HDR "Supported: path, timer\r\n"
#define ACCEPT_HDR    "Accept: application/sdp, text/plain, application/pidf+xml\r\n"

static struct sip_stack *the_stack;

struct sip_stack *sip_stack_get(void)
{
	return the_stack;
}

int64_t sip_stack_now_s(void)
{
	return (int64_t)time(NULL);
}

static uint64_t stack_clock(void *arg)
{
	struct sip_stack *s = arg;
	return uv_now(s->loop);
}

static void timer_fire(uv_timer_t *h)
{
	struct sip_stack *s = h->data;
	sip_timers_run(&s->timers, uv_now(s->loop));
	sip_stack_timers_kick(s);
}

void sip_stack_timers_kick(struct sip_stack *s)
{
	uint64_t next = sip_timers_next(&s->timers);
	if (next == UINT64_MAX)
		uv_timer_stop(&s->timer);
	else
		uv_timer_start(&s->timer, timer_fire, next, 0);
}

void sip_stack_set_handler(struct sip_stack *s, enum sip_method method, sip_method_h *h)
{
	s->handlers[method] = h;
	/* Allow lists what we answer; ACK and CANCEL always are. */
	s->allow[0] = '\0';
	for (int i = SIP_METHOD_OTHER + 1; i < SIP_METHOD__COUNT; i++)
		if (s->handlers[i] || i == SIP_METHOD_ACK || i == SIP_METHOD_CANCEL ||
		    i == SIP_METHOD_OPTIONS)
			snprintf(s->allow + strlen(s->allow), sizeof s->allow - strlen(s->allow),
				 "%s%s", s->allow[0] ? ", " : "", sip_msg_method_name(i));
}

void sip_stack_set_cancel_handler(struct sip_stack *s, sip_cancel_h *h)
{
	s->cancel_handler = h;
}

int sip_stack_reply(struct sip_stack *s, struct sip_stsx *t, const struct sip_msg *req,
		    const struct sip_peer *src, uint16_t code, const char *reason,
		    const char *extra, const char *body_type, const char *body)
{
	int err = sip_build_response(&s->out, req, src, code, reason, s->to_tag, extra, body_type,
				     body);
	if (err)
		return err;
	s->stats.tx_resp++;
	if (t)
		return sip_stsx_reply(t, code, s->out.data, s->out.len);
	struct sip_peer dst;
	sip_response_peer(req, src, &dst);
	return sip_transport_send(s->tp, &dst, s->out.data, s->out.len);
}

void sip_stack_forget(struct sip_stsx *t, const struct sip_peer *src)
{
	if (t && src->tp == PBX_TP_UDP)
		sip_stsx_forget(t);
}

int sip_msg_to_user(const struct sip_msg *m, char *buf, size_t len)
{
	struct sip_addr to;
	struct sip_uri uri;
	size_t n;
	if (sip_msg_to(m, &to) || sip_uri_parse(&uri, to.uri) || !uri.user.l)
		return EINVAL;
	int err = sip_uri_unescape(uri.user, buf, len, &n);
	if (!err && strlen(buf) != n)
		return EINVAL; /* %00 in a user name */
	return err;
}

/* ---- authentication -------------------------------------------------------- */

/*
 * The algorithms a user is challenged with: the user's own `auth` setting
 * when it has one, else sip.auth_algorithms. Returns how many, in order.
 */
static int algs_for(const struct sip_stack *s, const char *user_auth, enum sip_auth_alg out[2])
{
	int n = 0;
	if (user_auth && *user_auth) {
		char copy[16];
		snprintf(copy, sizeof copy, "%s", user_auth);
		for (char *save = NULL, *w = strtok_r(copy, ",", &save); w && n < 2;
		     w = strtok_r(NULL, ",", &save))
			out[n++] = !strcmp(w, "sha-256") ? SIP_AUTH_SHA256 : SIP_AUTH_MD5;
		if (n)
			return n;
	}
	for (; n < s->cfg->n_auth_algs; n++)
		out[n] = s->cfg->auth_algs[n];
	return n;
}

/* A 401 with the challenges @p user_auth is offered; @p failed: to wrong credentials. */
static void challenge(struct sip_stack *s, struct sip_stsx *t, const struct sip_msg *m,
		      const struct sip_peer *src, bool stale, bool failed, const char *user_auth)
{
	struct sip_auth_chal ch;
	enum sip_auth_alg want[2];
	char extra[2 * SIP_AUTH_CHAL_MAX + 64];
	size_t o = 0;
	int n = algs_for(s, user_auth, want);
	sip_auth_challenge(s->auth, sip_stack_now_s(), stale, &ch);
	for (int k = 0; k < n; k++)
		for (unsigned i = 0; i < ch.n; i++)
			if (ch.alg[i] == want[k])
				o += (size_t)snprintf(extra + o, sizeof extra - o,
						      "WWW-Authenticate: %s\r\n", ch.value[i]);
	sip_stack_reply(s, t, m, src, 401, NULL, extra, NULL, NULL);
	/* A fresh challenge (none sent, a stale nonce, another algorithm) is
	 * stateless, as Kamailio's (RFC 3261 8.2.7): kept for Timer J, the 401s
	 * of a registration storm were most of its memory (86 MB 20 s after a
	 * 3x REGISTER overload, all stale 401s); a retransmission just gets
	 * another one. An INVITE's 401 waits for its ACK; a 401 to wrong
	 * credentials stays, so that a retransmission is not another failure. */
	if (t && m->method != SIP_METHOD_INVITE && !failed)
		sip_stack_forget(t, src);
}

/*
 * Every ban writes one line, at warning level, for log watchers (fail2ban,
 * a SIEM). Its format is fixed: these fields, in this order, separated by
 * one space, no value holding a space:
 *
 *   SECURITY sip ban scope=pair address=192.0.2.7 users=1001 user_count=1 failures=10 ban_s=600
 *   SECURITY sip ban scope=address address=2001:db8::7 users=1001,1002,1003,1004,1005
 *            user_count=5 failures=5 ban_s=600                     (one line)
 *
 * scope: "pair" (that user from that address) or "address" (everyone
 * there). users: the pair's user, or the users that failed from the
 * address in its window, in order, as many as fit in 63 bytes; user_count
 * is how many there were. Bytes of a user name outside
 * [A-Za-z0-9-_.!~*+@$&] are written %XX, so a name chosen by an attacker
 * cannot add a field, a comma or a line. failures: within the window (the
 * pair's, or the address's for any user). The notice of each failure
 * ("sip: authentication failed for '1001' from udp:192.0.2.7:5060: wrong
 * password") precedes it, its user escaped the same way; a watcher should
 * still match "SECURITY sip ban " right after the level, not anywhere.
 */
static void ban_logged(const struct sip_stack *s, const struct sip_ban_info *b)
{
	pbx_warning("SECURITY sip ban scope=%s address=%s users=%s user_count=%u failures=%u "
		    "ban_s=%d",
		    b->pair ? "pair" : "address", b->addr, b->users, b->n_users, b->failures,
		    s->cfg->ban_time);
}

static void auth_failed(struct sip_stack *s, const struct sip_peer *src, const char *user,
			const char *why)
{
	char a[96], shown[SIP_BAN_TEXT_MAX];
	struct sip_ban_info b;
	s->stats.auth_fail++;
	bool banned = sip_ban_fail(s->ban, (const struct sockaddr *)&src->addr, user,
				   sip_stack_now_s(), &b);
	/* Escaped as in the SECURITY line: a user name holding "SECURITY sip
	 * ban ..." must not pass for one in a watcher's eyes. */
	bool whole = sip_ban_escape(shown, user);
	pbx_notice("sip: authentication failed for '%s%s' from %s: %s%s", shown, whole ? "" : "...",
		   sip_peer_str(src, a, sizeof a), why,
		   !banned  ? ""
		   : b.pair ? "; user banned at this address"
			    : "; address banned");
	if (banned)
		ban_logged(s, &b);
}

/* The user a request acts for before it has credentials: the From user. */
static void claimed_user(const struct sip_msg *m, char *buf, size_t len)
{
	struct sip_addr from;
	struct sip_uri uri;
	size_t n;
	buf[0] = '\0';
	if (sip_msg_from(m, &from) || sip_uri_parse(&uri, from.uri) || !uri.user.l ||
	    sip_uri_unescape(uri.user, buf, len, &n) || strlen(buf) != n)
		buf[0] = '\0';
}

int sip_stack_authenticate(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t, struct pbx_user *u)
{
	/* A stand-in HA1 for unknown users, so they cost the same work. */
	static const char no_user_ha1[] =
		"0000000000000000000000000000000000000000000000000000000000000000";
	const struct sip_hdr *h;
	struct sip_auth_cred cred;
	const char *why = NULL;
	const char *realm = sip_auth_realm(s->auth);
	bool have = false;

	/* A phone may send one Authorization per realm; use the one for ours. */
	for (h = sip_msg_hdr_first(m, SIP_HDR_AUTHORIZATION); h; h = sip_msg_hdr_next(m, h)) {
		int perr = sip_auth_parse(h->value.p, h->value.l, &cred);
		if (perr == ENOTSUP)
			continue; /* an algorithm we do not offer: challenge afresh */
		if (perr) {
			why = cred.why;
			continue;
		}
		if (!strcmp(cred.realm, realm)) {
			have = true;
			break;
		}
	}
	/* The user's own algorithms decide the challenge (unknown users and
	 * users without a setting get sip.auth_algorithms). Linear in the
	 * header count; one directory lookup per request. */
	char who[sizeof cred.username];
	if (have)
		snprintf(who, sizeof who, "%s", cred.username);
	else
		claimed_user(m, who, sizeof who);
	/* A banned pair's new requests are dropped before they get here
	 * (pair_banned); one that claims a dialog it does not have (a To tag,
	 * no match) comes through, and must not get to guess: refused
	 * without checking its credentials, and without counting. */
	if (sip_ban_pairs_banned(s->ban) &&
	    sip_ban_check_user(s->ban, (const struct sockaddr *)&src->addr, who,
			       sip_stack_now_s())) {
		sip_stack_reply(s, t, m, src, 403, "Forbidden (banned)", NULL, NULL, NULL);
		return EACCES;
	}
	int found = who[0] ? pbx_user_find(pbx_dir(), who, u) : ENOENT;
	const char *user_auth = found ? NULL : u->auth;
	if (!have) {
		if (why) { /* credentials were sent but none could be read */
			char reason[160];
			snprintf(reason, sizeof reason, "Bad Authorization header: %s", why);
			sip_stack_reply(s, t, m, src, 400, reason, NULL, NULL, NULL);
			return EACCES;
		}
		challenge(s, t, m, src, false, false, user_auth);
		return EACCES;
	}
	/* Credentials in an algorithm this user is not offered (a downgrade to
	 * MD5 for a SHA-256 user): not a wrong password, a fresh challenge. */
	enum sip_auth_alg allowed[2];
	int nallowed = algs_for(s, user_auth, allowed);
	bool alg_ok = false;
	for (int k = 0; k < nallowed; k++)
		alg_ok |= allowed[k] == cred.alg;
	if (!alg_ok) {
		challenge(s, t, m, src, false, false, user_auth);
		return EACCES;
	}
	/* The stand-in has the right length for the algorithm, so verify does
	 * the same hashing for unknown users as for known ones. */
	const char *ha1 = no_user_ha1 + 64 - sip_auth_hex_len(cred.alg);
	bool real = false;
	if (!found && u->ha1_md5[0] && !strcmp(u->realm, realm)) {
		ha1 = cred.alg == SIP_AUTH_SHA256 ? u->ha1_sha256 : u->ha1_md5;
		real = true;
	}
	char method[32];
	sip_pl_strcpy(m->method_name, method, sizeof method);
	/* A REGISTER over UDP is answered statelessly (sip_registrar.c): its
	 * retransmission comes through here again and must not be a replay. */
	int err = m->method == SIP_METHOD_REGISTER && src->tp == PBX_TP_UDP
			  ? sip_auth_verify_retransmittable(s->auth, &cred, method, ha1,
							    sip_stack_now_s(), m->buf, m->len, &why)
			  : sip_auth_verify(s->auth, &cred, method, ha1, sip_stack_now_s(), &why);
	if (err == ESTALE) {
		challenge(s, t, m, src, true, false, user_auth);
		return EACCES;
	}
	if (err == EBADMSG) {
		char reason[160];
		snprintf(reason, sizeof reason, "Bad Authorization header: %s",
			 why ? why : "malformed");
		sip_stack_reply(s, t, m, src, 400, reason, NULL, NULL, NULL);
		return EACCES;
	}
	if (err || !real) {
		auth_failed(s, src, cred.username,
			    found   ? "no such user"
			    : !real ? "no password set"
				    : "wrong password");
		challenge(s, t, m, src, false, true, user_auth);
		return EACCES;
	}
	sip_ban_success(s->ban, (const struct sockaddr *)&src->addr, cred.username,
			sip_stack_now_s());
	if (!u->enabled) {
		sip_stack_reply(s, t, m, src, 403, "Forbidden (account disabled)", NULL, NULL,
				NULL);
		return EACCES;
	}
	return 0;
}

/* ---- receive path ------------------------------------------------------------ */

static void handle_options(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
			   struct sip_stsx *t)
{
	char extra[800];
	const char *events = sip_subs_allow_events(s->subs);
	snprintf(extra, sizeof extra,
		 "Allow: %s\r\n%s%s%s" ACCEPT_HDR SUPPORTED_HDR "Accept-Language: en\r\n", s->allow,
		 events[0] ? "Allow-Events: " : "", events, events[0] ? "\r\n" : "");
	sip_stack_reply(s, t, m, src, 200, NULL, extra, NULL, NULL);
}

/* Option tags in Require that we do not support, as a header line; "" if none. */
static void unsupported_tags(const struct sip_msg *m, char *out, size_t len)
{
	struct sip_value_iter it;
	struct sip_pl tag;
	size_t o = 0;
	out[0] = '\0';
	sip_value_iter_init(&it, m, SIP_HDR_REQUIRE);
	while (!sip_value_iter_next(&it, &tag)) {
		bool ok = false;
		for (int i = 0; supported_tags[i]; i++)
			ok |= !sip_pl_casecmp_str(tag, supported_tags[i]);
		if (ok || o + tag.l + 24 >= len)
			continue;
		o += (size_t)snprintf(out + o, len - o, "%s%.*s",
				      o ? ", " : "Unsupported: ", (int)tag.l, tag.p);
	}
	if (o)
		snprintf(out + o, len - o, "\r\n");
}

static void recv_request(struct sip_stack *s, struct sip_msg *m, const struct sip_peer *src)
{
	uint32_t mf;
	char extra[512];

	if (m->method == SIP_METHOD_ACK) {
		/* An ACK no transaction took: the ACK of a 2xx, for its dialog;
		 * anything else is stray and dropped. */
		struct sip_dialog *d = sip_dialog_find(s->dialogs, m);
		if (d && d->usage)
			(void)d->usage->request(s, d, m, src, NULL);
		return;
	}
	if (!sip_msg_max_forwards(m, &mf) && mf == 0) {
		sip_stack_reply(s, NULL, m, src, 483, NULL, NULL, NULL, NULL);
		return;
	}
	struct sip_uri ruri;
	int err = sip_uri_parse(&ruri, m->ruri);
	if (err) {
		sip_stack_reply(s, NULL, m, src, err == EPROTONOSUPPORT ? 416 : 400,
				err == EPROTONOSUPPORT ? NULL : "Bad Request-URI", NULL, NULL,
				NULL);
		return;
	}
	if (m->method != SIP_METHOD_CANCEL) {
		unsupported_tags(m, extra, sizeof extra);
		if (extra[0]) {
			sip_stack_reply(s, NULL, m, src, 420, NULL, extra, NULL, NULL);
			return;
		}
	}
	struct sip_stsx *t;
	struct sip_peer rsp; /* where responses go: RFC 3261 18.2.2 with RFC 3581 */
	sip_response_peer(m, src, &rsp);
	if ((err = sip_stsx_alloc(&t, s->tsx, m, &rsp))) {
		sip_stack_reply(s, NULL, m, src, err == ENOMEM ? 500 : 400,
				err == ENOMEM ? "Out of memory" : "Bad transaction key (Via, CSeq)",
				NULL, NULL, NULL);
		return;
	}
	if (m->method == SIP_METHOD_CANCEL) {
		struct sip_stsx *inv = sip_stsx_find_invite(s->tsx, m);
		if (inv && !sip_stsx_final_sent(inv) && s->cancel_handler)
			s->cancel_handler(s, m, src, t, inv);
		else /* RFC 3261 9.2: too late is 200 with no effect; no match is 481 */
			sip_stack_reply(s, t, m, src, inv && sip_stsx_final_sent(inv) ? 200 : 481,
					NULL, NULL, NULL, NULL);
		return;
	}
	struct sip_dialog *d = sip_dialog_find(s->dialogs, m); /* NULL without a To tag */
	if (d && d->usage && d->usage->request(s, d, m, src, t))
		return;
	sip_method_h *h = m->method != SIP_METHOD_OTHER ? s->handlers[m->method] : NULL;
	if (!h && m->method == SIP_METHOD_OPTIONS)
		h = handle_options;
	if (h) {
		h(s, m, src, t);
		return;
	}
	snprintf(extra, sizeof extra, "Allow: %s\r\n", s->allow);
	sip_stack_reply(s, t, m, src, m->method == SIP_METHOD_OTHER ? 501 : 405, NULL, extra, NULL,
			NULL);
}

/*
 * The user a request acts for, as the ban table keys it: the username of
 * its credentials for our realm (else of any it carries), else the From
 * user. Parses every Authorization header: paid only while a pair is banned.
 */
static void request_user(const struct sip_stack *s, const struct sip_msg *m, char *buf, size_t len)
{
	struct sip_auth_cred cred;
	buf[0] = '\0';
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_AUTHORIZATION); h;
	     h = sip_msg_hdr_next(m, h)) {
		if (sip_auth_parse(h->value.p, h->value.l, &cred) || !cred.username[0])
			continue;
		if (!buf[0] || !strcmp(cred.realm, sip_auth_realm(s->auth)))
			snprintf(buf, len, "%s", cred.username);
		if (!strcmp(cred.realm, sip_auth_realm(s->auth)))
			return;
	}
	if (!buf[0])
		claimed_user(m, buf, len);
}

/* Address bans: before parsing, so a banned scanner costs one lookup. */
static bool admit(void *arg, const struct sip_peer *src)
{
	struct sip_stack *s = arg;
	if (!sip_ban_check(s->ban, (const struct sockaddr *)&src->addr, sip_stack_now_s()))
		return true;
	s->stats.banned_drops++;
	return false;
}

/*
 * A banned pair's new requests are dropped silently, as an address is and as fail2ban
 * does, rather than answered 403: an answer would tell a guesser that it
 * was seen and that the name it tries is worth more guesses, and would
 * cost a response for each of its packets (a reflection, with UDP and a
 * forged source). A phone with a wrong password shows "no answer" or
 * "timeout" instead of "forbidden"; `sip show bans` and the log say why.
 */
static bool pair_banned(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src)
{
	char user[sizeof((struct sip_auth_cred *)0)->username];
	if (!sip_ban_pairs_banned(s->ban))
		return false;
	/* Inside a dialog (a To tag) the request belongs to a call that was
	 * authenticated when it began: a ban stops new work, not a BYE or a
	 * re-INVITE of a call already up. The ACK of a 401 carries a tag too,
	 * and only ends that transaction. */
	if (sip_msg_has_to_tag(m))
		return false;
	request_user(s, m, user, sizeof user);
	return sip_ban_check_user(s->ban, (const struct sockaddr *)&src->addr, user,
				  sip_stack_now_s());
}

/*
 * A flood guard block writes one line at warning level, in a fixed format
 * as the ban's (see ban_logged), when it starts:
 *
 *   SECURITY sip pike address=192.0.2.7 requests=201 window_s=2 block_s=60
 *
 * requests: in the last window_s seconds when it was blocked. A source that
 * still floods when block_s is over is blocked again without another line;
 * the end of the block is a notice with the requests received meanwhile.
 */
static void pike_logged(const struct sip_stack *s, const struct sip_pike_info *i)
{
	pbx_warning("SECURITY sip pike address=%s requests=%u window_s=%d block_s=%d", i->addr,
		    i->rate, s->cfg->pike_window, s->cfg->pike_time);
}

static void pike_ended(const struct sip_pike_info *i, void *arg)
{
	(void)arg;
	pbx_notice("sip: pike: %s unblocked after %lld s%s; %llu requests came while blocked",
		   i->addr, (long long)(i->blocked_ms / 1000),
		   i->evicted ? " (forgotten early: the table was full)" : "",
		   (unsigned long long)i->during);
}

/*
 * What a blocked source may still send: the requests of the calls and
 * subscriptions it has already (a request inside a dialog that exists: a
 * BYE, a re-INVITE, a NOTIFY), the CANCEL of an INVITE still pending, and
 * any ACK (never answered, so nothing is reflected; it stops our
 * retransmissions of a final response). A flood of made-up in-dialog
 * requests costs a hash lookup each beyond the parse.
 */
static bool pike_spares(struct sip_stack *s, const struct sip_msg *m)
{
	if (m->method == SIP_METHOD_ACK)
		return true;
	if (m->method == SIP_METHOD_CANCEL)
		return sip_stsx_find_invite(s->tsx, m) != NULL;
	return sip_msg_has_to_tag(m) && sip_dialog_find(s->dialogs, m);
}

/*
 * The flood guard sees requests only, after parsing: it must tell a
 * request from a response, and a blocked source's calls from its flood.
 * A parse costs more than the address ban's lookup before it, but the
 * parser is lazy (headers are slices found on demand), and a source
 * worth a real ban gets one. Dropped silently, as a ban drops.
 */
static bool pike_dropped(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_pike_info info;
	enum sip_pike_verdict v = sip_pike_request(s->pike, (const struct sockaddr *)&src->addr,
						   uv_now(s->loop), &info);
	if (v == SIP_PIKE_BLOCK)
		pike_logged(s, &info);
	if (v == SIP_PIKE_PASS || pike_spares(s, m))
		return false;
	s->stats.pike_drops++;
	return true;
}

/* Credentials over a fresh nonce of ours: the first round trip was paid. Made-up
 * ones (a password guesser's) are shed as any new request. Read only when behind. */
static bool answers_our_challenge(struct sip_stack *s, const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_AUTHORIZATION);
	struct sip_auth_cred cred;
	if (!h)
		h = sip_msg_hdr_first(m, SIP_HDR_PROXY_AUTHORIZATION);
	return h && !sip_auth_parse(h->value.p, h->value.l, &cred) &&
	       sip_auth_nonce_fresh(s->auth, cred.nonce, sip_stack_now_s());
}

/*
 * Overload (sip_overload.h): a new out-of-dialog request that waited too
 * long is answered 503 at once, statelessly. Retry-After is spread between
 * the configured value and twice it, so that phones turned away together
 * do not all come back in the same second.
 */
static bool shed(struct sip_stack *s, const struct sip_msg *m, const struct sip_peer *src,
		 uint32_t wait_us, uint64_t now)
{
	/* The cheap test first: mostly nothing waited long, and the To header
	 * need not be read again (the transport read it for its priority pass). */
	if (!sip_overload_behind(&s->overload, wait_us, now) || sip_msg_continues_work(m))
		return false;
	if (wait_us != SIP_WAIT_UNKNOWN && answers_our_challenge(s, m) &&
	    !sip_overload_behind(&s->overload, wait_us / SIP_OVERLOAD_ANSWER_SLACK, now))
		return false;
	unsigned base = (unsigned)s->cfg->overload_retry_after;
	char extra[48];
	snprintf(extra, sizeof extra, "Retry-After: %u\r\n",
		 base + (unsigned)(s->stats.shed * 2654435761u % (base + 1)));
	s->stats.shed++;
	sip_stack_reply(s, NULL, m, src, 503, NULL, extra, NULL, NULL);
	return true;
}

static void on_recv(void *arg, struct sip_msg *m, const struct sip_peer *src, uint32_t wait_us)
{
	struct sip_stack *s = arg;
	uint64_t now = uv_now(s->loop);
	s->stats.rx++;
	sip_overload_note(&s->overload, wait_us, now);
	sip_timers_run(&s->timers, now);
	if (m->request && pike_dropped(s, m, src))
		return;
	if (m->request && pair_banned(s, m, src)) {
		s->stats.banned_drops++;
		return;
	}
	if (!sip_tsx_recv(s->tsx, m, src) && m->request && !shed(s, m, src, wait_us, now))
		recv_request(s, m, src);
	sip_stack_timers_kick(s);
}

static void on_recv_bad(void *arg, struct sip_msg *m, int err, const char *reason,
			const struct sip_peer *src)
{
	struct sip_stack *s = arg;
	s->stats.bad++;
	if (!sip_msg_can_reply(m))
		return;
	uint16_t code = err == EPROTONOSUPPORT ? 505 : err == EMSGSIZE ? 513 : 400;
	sip_stack_reply(s, NULL, m, src, code, code == 400 ? reason : NULL, NULL, NULL, NULL);
}

static int tsx_send(void *arg, const struct sip_peer *dst, const char *buf, size_t len)
{
	struct sip_stack *s = arg;
	return sip_transport_send(s->tp, dst, buf, len);
}

/* ---- module -------------------------------------------------------------------- */

static const struct sip_tsx_ops tsx_ops = {.send = tsx_send};
static const struct sip_transport_ops tp_ops = {
	.admit = admit, .recv = on_recv, .recv_bad = on_recv_bad};

static void stack_closed(uv_handle_t *h)
{
	free(h->data);
}

static void stack_free(struct sip_stack *s)
{
	if (!s)
		return;
	sip_subs_free(s->subs);
	sip_registrar_free(s->reg);
	sip_dialog_table_free(s->dialogs);
	sip_tsx_layer_free(s->tsx);
	sip_transport_free(s->tp);
	sip_auth_free(s->auth);
	sip_ban_free(s->ban);
	sip_pike_free(s->pike);
	sip_timers_free(&s->timers);
	pbx_buf_free(&s->out);
	/* The loop timer is embedded: free the stack once it has closed. */
	uv_close((uv_handle_t *)&s->timer, stack_closed);
}

static int load(void)
{
	const struct sip_config *cfg = sip_config_get(pbx_cfg());
	const struct sip_ban_conf ban_conf = {.threshold = cfg->ban_threshold,
					      .users = cfg->ban_users,
					      .threshold_address = cfg->ban_threshold_address,
					      .window_s = cfg->ban_window,
					      .ban_s = cfg->ban_time,
					      .ignore = cfg->ban_ignore,
					      .n_ignore = cfg->n_ban_ignore};
	const struct sip_pike_conf pike_conf = {.rate = cfg->pike_rate,
						.window_s = cfg->pike_window,
						.block_s = cfg->pike_time,
						.ignore = cfg->pike_ignore,
						.n_ignore = cfg->n_pike_ignore,
						.on_end = pike_ended};
	struct sip_stack *s = calloc(1, sizeof *s);
	int err;
	if (!s)
		return ENOMEM;
	s->cfg = cfg;
	s->loop = pbx_loop();
	uv_timer_init(s->loop, &s->timer);
	s->timer.data = s;
	sip_timers_init(&s->timers, uv_now(s->loop));
	sip_overload_init(&s->overload, (uint32_t)cfg->overload_queue_delay, uv_now(s->loop));
	s->timers.clock = stack_clock;
	s->timers.clock_arg = s;
	pbx_buf_init(&s->out);
	sip_random_token(s->to_tag, sizeof s->to_tag);
	sip_build_set_server(cfg->user_agent);
	sip_stack_set_handler(s, SIP_METHOD_OPTIONS, NULL);
	if ((err = sip_auth_alloc(&s->auth, cfg->domain, cfg->nonce_lifetime)) ||
	    (err = sip_ban_alloc(&s->ban, &ban_conf)) ||
	    (err = sip_pike_alloc(&s->pike, &pike_conf)) ||
	    (err = sip_tsx_layer_alloc(&s->tsx, &s->timers, &tsx_ops, s)) ||
	    (err = sip_transport_alloc(&s->tp, s->loop, cfg, pbx_config_core(pbx_cfg())->state_dir,
				       &tp_ops, s)) ||
	    (err = sip_dialog_table_alloc(&s->dialogs)) ||
	    (err = sip_registrar_alloc(&s->reg, s)) || (err = sip_subs_alloc(&s->subs, s, true))) {
		stack_free(s);
		return err;
	}
	the_stack = s;
	/* The directory hashes passwords for our realm. */
	pbx_auth_realm_set(cfg->domain);
	int stale = pbx_user_count_other_realm(pbx_dir(), cfg->domain);
	if (stale > 0)
		pbx_warning("%d user(s) have passwords hashed for another realm than sip.domain "
			    "'%s': set their passwords again (user passwd)",
			    stale, cfg->domain);
	sip_stack_timers_kick(s);
	return 0;
}

static void unload(void)
{
	stack_free(the_stack);
	the_stack = NULL;
}

PBX_MODULE(sip_module) = {"sip", 10, load, unload};
