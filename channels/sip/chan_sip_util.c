/**
 * @file chan_sip_util.c  Pure helpers of the SIP channel driver: causes, headers, DTMF, escaping
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * No state and no I/O here, so the unit tests call these directly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "chan_sip.h"
#include "pbx/config.h"

/* "1.2.3.4:5060" or "[::1]:5060" into an address (port kept). */
int sip__hostport_sa(const char *hp, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon;
	memset(ss, 0, sizeof *ss);
	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');
		if (!end || (size_t)(end - hp - 1) >= sizeof host)
			return EINVAL;
		memcpy(host, hp + 1, (size_t)(end - hp - 1));
		host[end - hp - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : EINVAL;
	}
	colon = strrchr(hp, ':');
	size_t n = colon ? (size_t)(colon - hp) : strlen(hp);
	if (n >= sizeof host)
		return EINVAL;
	memcpy(host, hp, n);
	host[n] = '\0';
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : EINVAL;
}

void sip__random_u64(uint64_t *v)
{
	if (getrandom(v, sizeof *v, 0) != (ssize_t)sizeof *v)
		*v = (uint64_t)time(NULL);
}

/* SIP final response for a cause, for an incoming call not answered. */
uint16_t sip__cause_to_code(int cause)
{
	switch (cause) {
	case PBX_CAUSE_UNALLOCATED: return 404;
	case PBX_CAUSE_BUSY: return 486;
	case PBX_CAUSE_NO_USER_RESPONSE: return 408;
	case PBX_CAUSE_NO_ANSWER:
	case PBX_CAUSE_UNAVAILABLE: return 480;
	case PBX_CAUSE_CONGESTION: return 503;
	case PBX_CAUSE_FAILURE: return 500;
	case PBX_CAUSE_INCOMPATIBLE: return 488;
	case PBX_CAUSE_CANCEL: return 487;
	default: return 603; /* as Asterisk: a call turned away for no stated reason */
	}
}

/*
 * What the sender of a relayed MESSAGE hears when the other party's phone
 * answered @p status. A few codes are about the hop between the PBX and
 * that phone, not about the message, and must not reach the sender as
 * they are: a 481 or 408 in a dialog tells its phone that the call is
 * gone (RFC 5057), a challenge (401, 407) asks for credentials it cannot
 * have, a 405 needs an Allow of ours. Those become 480 or 488.
 */
uint16_t sip__text_answer(int status, const char **reason)
{
	*reason = NULL;
	if (status >= 200 && status < 300)
		return 200;
	switch (status) {
	case 408:
	case 503: *reason = "The other party did not answer"; return 480;
	case 405:
	case 501: *reason = "The other party cannot take messages"; return 488;
	case 401:
	case 407:
	case 420:
	case 421:
	case 481:
	case 482:
	case 483:
	case 491: *reason = "The other party did not take the message"; return 480;
	default: break;
	}
	if (status >= 400 && status < 500) {
		*reason = "Refused by the other party";
		return (uint16_t)status;
	}
	if (status >= 500 && status < 600) {
		*reason = "The other party's phone failed";
		return 502;
	}
	if (status >= 600 && status < 700) {
		*reason = "Refused by the other party";
		return (uint16_t)status;
	}
	*reason = "The other party did not take the message"; /* 1xx, 3xx: nothing we follow */
	return 480;
}

/* Cause of a failed fork. @p code is 408 or 503 without a response:
 * timeout and transport error both mean the phone is not reachable. */
int sip__code_to_cause(uint16_t code, bool no_resp)
{
	if (no_resp)
		return PBX_CAUSE_UNAVAILABLE;
	switch (code) {
	case 486:
	case 600: return PBX_CAUSE_BUSY;
	case 404: return PBX_CAUSE_UNALLOCATED;
	case 408:
	case 480: return PBX_CAUSE_UNAVAILABLE;
	case 503: return PBX_CAUSE_CONGESTION;
	case 488:
	case 606: return PBX_CAUSE_INCOMPATIBLE;
	case 487: return PBX_CAUSE_CANCEL;
	default: return PBX_CAUSE_FAILURE;
	}
}

/* Which fork failure speaks for the call: busy first, as Asterisk's Dial
 * does, then what a phone said over what the network did. */
int sip__cause_rank(int cause)
{
	switch (cause) {
	case PBX_CAUSE_BUSY: return 7;
	case PBX_CAUSE_CONGESTION: return 6;
	case PBX_CAUSE_INCOMPATIBLE: return 5;
	case PBX_CAUSE_UNALLOCATED: return 4;
	case PBX_CAUSE_FAILURE: return 3;
	case PBX_CAUSE_UNAVAILABLE: return 2;
	case PBX_CAUSE_CANCEL: return 1;
	default: return 0;
	}
}

void sip__reason_hdr(int cause, char *buf, size_t len)
{
	if (cause == CAUSE_ANSWERED_ELSEWHERE)
		snprintf(buf, len, "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n");
	else if (cause > 0 && cause < 128)
		snprintf(buf, len, "Reason: Q.850;cause=%d\r\n", cause);
	else
		buf[0] = '\0';
}

/* Is @p tag among the comma-separated values of header @p id? */
bool sip__has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tag)
{
	struct sip_value_iter it;
	struct sip_pl v;
	sip_value_iter_init(&it, m, id);
	while (!sip_value_iter_next(&it, &v))
		if (!sip_pl_casecmp_str(v, tag))
			return true;
	return false;
}

/* The media type of the body, parameters cut: "application/sdp". */
struct sip_pl sip__content_type(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	struct sip_pl v = h ? h->value : (struct sip_pl){"", 0};
	const char *semi = memchr(v.p, ';', v.l);
	if (semi)
		v.l = (size_t)(semi - v.p);
	return sip_pl_trim(v);
}

/* 0, ENOENT (no Session-Expires) or EINVAL. */
int sip__se_get(const struct sip_msg *m, struct sip_se *h)
{
	const struct sip_hdr *hd = sip_msg_hdr_first(m, SIP_HDR_SESSION_EXPIRES);
	struct sip_pl v, params = {"", 0}, val;
	uint32_t se;
	h->supported = sip__has_option(m, SIP_HDR_SUPPORTED, "timer") ||
		       sip__has_option(m, SIP_HDR_REQUIRE, "timer");
	h->se = 0;
	h->refresher = SIP_REFRESHER_NONE;
	if (!hd)
		return ENOENT;
	v = hd->value;
	const char *semi = memchr(v.p, ';', v.l);
	if (semi) {
		params = (struct sip_pl){semi, v.l - (size_t)(semi - v.p)};
		v.l = (size_t)(semi - v.p);
	}
	if (sip_pl_u32(sip_pl_trim(v), &se) || !se)
		return EINVAL;
	h->se = se;
	if (!sip_param_get(params, "refresher", &val))
		h->refresher = !sip_pl_casecmp_str(val, "uac")   ? SIP_REFRESHER_UAC
			       : !sip_pl_casecmp_str(val, "uas") ? SIP_REFRESHER_UAS
								 : SIP_REFRESHER_NONE;
	return 0;
}

/* The key of an INFO (application/dtmf-relay "Signal=5", application/dtmf "5"); 0 if none. */
char sip__info_dtmf(const struct sip_msg *m)
{
	struct sip_pl type = sip__content_type(m), b = m->body, v = {NULL, 0};
	if (!sip_pl_casecmp_str(type, "application/dtmf-relay")) {
		/* Lines of "Name=value"; only Signal matters (Duration is the
		 * sender's, and we report key presses, not tones). */
		while (b.l) {
			const char *nl = memchr(b.p, '\n', b.l);
			struct sip_pl line = {b.p, nl ? (size_t)(nl - b.p) : b.l};
			b.p += line.l + (nl ? 1 : 0);
			b.l -= line.l + (nl ? 1 : 0);
			const char *eq = memchr(line.p, '=', line.l);
			if (!eq)
				continue;
			struct sip_pl name =
				sip_pl_trim((struct sip_pl){line.p, (size_t)(eq - line.p)});
			if (!sip_pl_casecmp_str(name, "signal")) {
				v = sip_pl_trim((struct sip_pl){
					eq + 1, line.l - (size_t)(eq + 1 - line.p)});
				break;
			}
		}
	} else if (!sip_pl_casecmp_str(type, "application/dtmf")) {
		v = sip_pl_trim(b);
	}
	if (v.l == 2 && v.p[0] == '1' && (v.p[1] == '0' || v.p[1] == '1'))
		return v.p[1] == '0' ? '*' : '#'; /* events 10 and 11 (RFC 4733) */
	if (v.l != 1)
		return 0;
	char c = v.p[0];
	if (c >= 'a' && c <= 'd')
		c = (char)(c - 'a' + 'A');
	return (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D') ? c : 0;
}

/* Percent-escape @p in for the user part of a URI (RFC 3261 25.1). */
void sip__user_escape(const char *in, char *out, size_t len)
{
	static const char ok[] = "-_.!~*'()&=+$,;?/";
	size_t o = 0;
	for (; *in && o + 4 < len; in++) {
		unsigned char c = (unsigned char)*in;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    strchr(ok, c))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", c);
	}
	out[o] = '\0';
}

/* A display name as a quoted-string. */
void sip__quote_name(const char *in, char *out, size_t len)
{
	size_t o = 0;
	out[o++] = '"';
	for (; *in && o + 3 < len; in++) {
		if (*in == '"' || *in == '\\')
			out[o++] = '\\';
		if ((unsigned char)*in >= 0x20)
			out[o++] = *in;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* ---- SRTP (SDES, RFC 4568) ------------------------------------------------------------------ */

enum sdp_srtp sip__srtp_policy(int pbx_policy)
{
	switch (pbx_policy) {
	case PBX_SRTP_OFF: return SDP_SRTP_OFF;
	case PBX_SRTP_MANDATORY: return SDP_SRTP_MANDATORY;
	default: return SDP_SRTP_OPTIONAL;
	}
}

static int pbx_suite(enum sdp_suite s, enum pbx_srtp_suite *out);

/* The media engine makes the key (it owns SRTP); the SDP side only carries it. */
int sip__srtp_key_new(struct sdp_crypto *c, uint32_t tag, enum sdp_suite suite)
{
	struct pbx_srtp_key k;
	enum pbx_srtp_suite ps;
	const char *name = sdp_suite_name(suite);
	int err;
	if (!name || pbx_suite(suite, &ps) || sdp_suite_key_len(suite) > sizeof c->key)
		return EINVAL;
	if ((err = pbx_srtp_key_new(&k, ps)))
		return err;
	if (k.len != sdp_suite_key_len(suite)) {
		memset(&k, 0, sizeof k);
		return EINVAL;
	}
	memset(c, 0, sizeof *c);
	c->tag = tag;
	c->suite = suite;
	snprintf(c->suite_name, sizeof c->suite_name, "%s", name);
	memcpy(c->key, k.key, k.len);
	c->key_len = k.len;
	c->nkeys = 1;
	c->kdr = -1;
	memset(&k, 0, sizeof k);
	return 0;
}

/* AES_CM_128_HMAC_SHA1_80 first: every SRTP phone has it (RFC 4568 6.2.1's default). */
static const enum sdp_suite offer_suites[SIP_SRTP_NSUITES] = {
	SDP_SUITE_AES_CM_128_HMAC_SHA1_80,
	SDP_SUITE_AES_CM_128_HMAC_SHA1_32,
	SDP_SUITE_AEAD_AES_128_GCM,
	SDP_SUITE_AEAD_AES_256_GCM,
};

int sip__srtp_offer_keys(struct sdp_crypto keys[SIP_SRTP_NSUITES])
{
	for (int i = 0; i < SIP_SRTP_NSUITES; i++) {
		int err = sip__srtp_key_new(&keys[i], (uint32_t)i + 1, offer_suites[i]);
		if (err)
			return -err;
	}
	return SIP_SRTP_NSUITES;
}

int sip__srtp_answer_key(struct sdp_crypto *key, const struct sdp_choice *ch)
{
	if (!ch->srtp)
		return EINVAL;
	return sip__srtp_key_new(key, ch->crypto.tag, ch->crypto.suite);
}

static int pbx_suite(enum sdp_suite s, enum pbx_srtp_suite *out)
{
	switch (s) {
	case SDP_SUITE_AES_CM_128_HMAC_SHA1_80: *out = PBX_SRTP_AES_CM_128_HMAC_SHA1_80; return 0;
	case SDP_SUITE_AES_CM_128_HMAC_SHA1_32: *out = PBX_SRTP_AES_CM_128_HMAC_SHA1_32; return 0;
	case SDP_SUITE_AEAD_AES_128_GCM: *out = PBX_SRTP_AEAD_AES_128_GCM; return 0;
	case SDP_SUITE_AEAD_AES_256_GCM: *out = PBX_SRTP_AEAD_AES_256_GCM; return 0;
	default: return EINVAL;
	}
}

static int srtp_key(const struct sdp_crypto *c, struct pbx_srtp_key *k)
{
	if (pbx_suite(c->suite, &k->suite) || c->key_len > sizeof k->key)
		return EINVAL;
	memcpy(k->key, c->key, c->key_len);
	k->len = c->key_len;
	return 0;
}

int sip__srtp_params(const struct sdp_choice *ch, const struct sdp_crypto *ours, int nours,
		     struct pbx_rtp_params *p)
{
	p->srtp = false;
	memset(&p->tx, 0, sizeof p->tx);
	memset(&p->rx, 0, sizeof p->rx);
	if (!ch->srtp)
		return 0;
	for (int i = 0; i < nours; i++) {
		if (ours[i].tag != ch->crypto.tag || ours[i].suite != ch->crypto.suite)
			continue;
		if (srtp_key(&ours[i], &p->tx) || srtp_key(&ch->crypto, &p->rx))
			break;
		p->srtp = true;
		return 0;
	}
	memset(&p->tx, 0, sizeof p->tx);
	memset(&p->rx, 0, sizeof p->rx);
	return ENOENT;
}

uint16_t sip__offer_refusal(const struct sdp_choice *ch, enum sdp_srtp policy, const char **reason,
			    char *warn, size_t wlen)
{
	const char *why = ch->why ? ch->why : "no common codec";
	/* sdp_negotiate_offer refuses a plain stream under a mandatory policy
	 * with this text; a codec mismatch keeps the default phrase. */
	bool srtp = policy == SDP_SRTP_MANDATORY && strstr(why, "SRTP required");
	*reason = srtp ? "SRTP required" : NULL;
	snprintf(warn, wlen, "Warning: 305 pbx \"Incompatible media format: %s\"\r\n", why);
	return 488;
}

bool sip__offer_srtp(enum sdp_srtp policy, bool caller_srtp)
{
	switch (policy) {
	case SDP_SRTP_MANDATORY: return true;
	case SDP_SRTP_OFF: return false;
	default: return caller_srtp;
	}
}

/* Does @p pl contain @p word, any case? Linear in both; a reason phrase is short. */
static bool pl_has_casestr(struct sip_pl pl, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; n && i + n <= pl.l; i++)
		if (!strncasecmp(pl.p + i, word, n))
			return true;
	return false;
}

bool sip__media_refused(const struct sip_msg *resp, uint16_t code)
{
	/* What phones write when they turn a profile down: baresip and
	 * most desk phones answer 488; some say 415 or 406 with a Warning
	 * 305 "Incompatible media format" or a phrase such as "SRTP
	 * required" or "Encryption required". */
	static const char *const words[] = {"rtp", "savp", "crypto", "encrypt", "sdes"};
	if (code == 488)
		return true;
	if ((code != 415 && code != 406) || !resp)
		return false;
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (pl_has_casestr(resp->reason, words[i]))
			return true;
	struct sip_value_iter it;
	struct sip_pl v;
	sip_value_iter_init(&it, resp, SIP_HDR_WARNING);
	while (!sip_value_iter_next(&it, &v))
		if (v.l >= 4 && v.p[0] == '3' && v.p[1] >= '0' && v.p[1] <= '9' && v.p[2] >= '0' &&
		    v.p[2] <= '9' && v.p[3] == ' ')
			return true;
	return false;
}

bool sip__reoffer_wanted(enum sdp_srtp policy, bool reoffered, const struct sip_msg *resp,
			 uint16_t code)
{
	return policy == SDP_SRTP_OPTIONAL && !reoffered && sip__media_refused(resp, code);
}
