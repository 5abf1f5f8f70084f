/**
 * @file sip_build.c  Build SIP responses and requests
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "sip_build.h"

static char server_hdr[128] = "pbx";

void sip_build_set_server(const char *server)
{
	snprintf(server_hdr, sizeof server_hdr, "%s", server);
}

const char *sip_build_server(void)
{
	return server_hdr;
}

const char *sip_reason(uint16_t code)
{
	switch (code) {
	case 100: return "Trying";
	case 180: return "Ringing";
	case 183: return "Session Progress";
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 415: return "Unsupported Media Type";
	case 416: return "Unsupported URI Scheme";
	case 420: return "Bad Extension";
	case 423: return "Interval Too Brief";
	case 480: return "Temporarily Unavailable";
	case 481: return "Call/Transaction Does Not Exist";
	case 482: return "Loop Detected";
	case 483: return "Too Many Hops";
	case 486: return "Busy Here";
	case 487: return "Request Terminated";
	case 488: return "Not Acceptable Here";
	case 491: return "Request Pending";
	case 500: return "Server Internal Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "Version Not Supported";
	case 513: return "Message Too Large";
	case 603: return "Decline";
	default: return "";
	}
}

void sip_random_token(char *buf, size_t len)
{
	static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned char r[64];
	if (len == 0)
		return;
	size_t n = len - 1 < sizeof r ? len - 1 : sizeof r;
	if (RAND_bytes(r, (int)n) != 1)
		memset(r, 0x5a, n); /* RAND_bytes fails only without entropy at all */
	for (size_t i = 0; i < n; i++)
		buf[i] = alphabet[r[i] % 36];
	buf[n] = '\0';
}

static void put_pl(struct pbx_buf *b, struct sip_pl pl)
{
	pbx_buf_append(b, pl.p, pl.l);
}

void sip_response_peer(const struct sip_msg *req, const struct sip_peer *src, struct sip_peer *dst)
{
	struct sip_via v;
	*dst = *src;
	if (src->tp != PBX_TP_UDP)
		return; /* reliable: back over the same connection */
	if (sip_msg_via_top(req, &v) || v.rport)
		return; /* rport: where it came from, which is src */
	uint16_t port = v.port ? v.port : 5060;
	if (dst->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&dst->addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&dst->addr)->sin6_port = htons(port);
}

/* The top Via with received= (when the host is not the source address) and rport=. */
static void put_top_via(struct pbx_buf *b, const struct sip_via *v, const struct sip_peer *src)
{
	char ip[INET6_ADDRSTRLEN] = "";
	const struct sockaddr *sa = (const struct sockaddr *)&src->addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
	pbx_buf_puts(b, "Via: ");
	/* Copy the value, dropping any received/rport we are about to set. */
	const char *p = v->value.p, *end = v->value.p + v->value.l;
	const char *params = v->params.l ? v->params.p : end;
	pbx_buf_append(b, p, (size_t)(params - p));
	struct sip_pl rest = v->params, name, val;
	while (!sip_param_next(&rest, &name, &val)) {
		if (!sip_pl_casecmp_str(name, "rport") || !sip_pl_casecmp_str(name, "received"))
			continue;
		pbx_buf_puts(b, ";");
		/* name[=value] exactly as received, quotes included */
		const char *s = name.p, *e = val.p ? val.p + val.l : name.p + name.l;
		if (val.p && e < end && *e == '"')
			e++;
		pbx_buf_append(b, s, (size_t)(e - s));
	}
	bool host_is_src = sip_pl_casecmp_str(v->host, ip) == 0;
	if (!host_is_src)
		pbx_buf_printf(b, ";received=%s", ip);
	if (v->rport)
		pbx_buf_printf(b, ";rport=%d", pbx_sa_port(sa));
	pbx_buf_puts(b, "\r\n");
}

int sip_build_response(struct pbx_buf *out, const struct sip_msg *req, const struct sip_peer *src,
		       uint16_t code, const char *reason, const char *to_tag, const char *extra,
		       const char *body_type, const char *body)
{
	const struct sip_hdr *h;
	struct sip_via v;
	pbx_buf_reset(out);
	pbx_buf_printf(out, "SIP/2.0 %u %s\r\n", code, reason ? reason : sip_reason(code));
	/* Via: the top value rewritten, the rest verbatim and in order. */
	bool top = true;
	for (h = sip_msg_hdr_first(req, SIP_HDR_VIA); h; h = sip_msg_hdr_next(req, h)) {
		struct sip_pl rest = h->value, item;
		while (!sip_pl_list_next(&rest, &item)) {
			if (top && !sip_via_parse(&v, item)) {
				put_top_via(out, &v, src);
			} else {
				pbx_buf_puts(out, "Via: ");
				put_pl(out, item);
				pbx_buf_puts(out, "\r\n");
			}
			top = false;
		}
	}
	if ((h = sip_msg_hdr_first(req, SIP_HDR_FROM))) {
		pbx_buf_puts(out, "From: ");
		put_pl(out, h->value);
		pbx_buf_puts(out, "\r\n");
	}
	if ((h = sip_msg_hdr_first(req, SIP_HDR_TO))) {
		struct sip_addr to;
		pbx_buf_puts(out, "To: ");
		put_pl(out, h->value);
		if (code > 100 && to_tag && !sip_addr_parse(&to, h->value) && !to.tag.l)
			pbx_buf_printf(out, ";tag=%s", to_tag);
		pbx_buf_puts(out, "\r\n");
	}
	if ((h = sip_msg_hdr_first(req, SIP_HDR_CALL_ID))) {
		pbx_buf_puts(out, "Call-ID: ");
		put_pl(out, h->value);
		pbx_buf_puts(out, "\r\n");
	}
	if ((h = sip_msg_hdr_first(req, SIP_HDR_CSEQ))) {
		pbx_buf_puts(out, "CSeq: ");
		put_pl(out, h->value);
		pbx_buf_puts(out, "\r\n");
	}
	if (extra)
		pbx_buf_puts(out, extra);
	pbx_buf_printf(out, "Server: %s\r\n", server_hdr);
	if (body && body_type)
		pbx_buf_printf(out, "Content-Type: %s\r\n", body_type);
	pbx_buf_printf(out, "Content-Length: %zu\r\n\r\n", body ? strlen(body) : 0);
	if (body)
		pbx_buf_puts(out, body);
	return out->data ? 0 : ENOMEM;
}

int sip_build_request(struct pbx_buf *out, const struct sip_req_spec *s)
{
	static const char *const tpname[] = {"UDP", "TCP", "TLS", "WS", "WSS"};
	pbx_buf_reset(out);
	pbx_buf_printf(out,
		       "%s %s SIP/2.0\r\n"
		       "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		       "Max-Forwards: 70\r\n"
		       "From: <%s>;tag=%s\r\n"
		       "To: <%s>\r\n"
		       "Call-ID: %s\r\n"
		       "CSeq: %u %s\r\n"
		       "User-Agent: %s\r\n",
		       s->method, s->ruri, tpname[s->tp], s->local, s->branch, s->from, s->from_tag,
		       s->to, s->call_id, s->cseq, s->method, server_hdr);
	if (s->extra)
		pbx_buf_puts(out, s->extra);
	if (s->body && s->body_type)
		pbx_buf_printf(out, "Content-Type: %s\r\n", s->body_type);
	size_t blen = !s->body ? 0 : s->body_len ? s->body_len : strlen(s->body);
	pbx_buf_printf(out, "Content-Length: %zu\r\n\r\n", blen);
	if (blen)
		pbx_buf_append(out, s->body, blen);
	return out->data ? 0 : ENOMEM;
}
