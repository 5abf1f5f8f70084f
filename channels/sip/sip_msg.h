/**
 * @file sip_msg.h  SIP message parser (RFC 3261 section 7 and 25): in place, lazy
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * sip_msg_parse() splits a received message into a start line, an array of
 * header slices and a body slice, without copying and without allocating.
 * Only what every message needs is checked at parse time: the start line,
 * the header syntax, the mandatory headers, CSeq and Content-Length.
 * Everything else (Via parameters, From/To tags, Contact lists, ...) is
 * parsed when an accessor asks for it, so a message that is dropped or
 * answered early never pays for it.
 *
 * Every slice (struct sip_pl) points into the caller's buffer: the buffer
 * must outlive the struct sip_msg and every slice taken from it.
 */
#ifndef SIP_MSG_H
#define SIP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits. A datagram can carry at most 65535 bytes; a stream message is held
 * to the same bound so one peer cannot make the transport buffer grow. */
#define SIP_MSG_MAX_SIZE 65535u
/* Headers kept per message; a real INVITE has 10 to 25. The array lives in
 * struct sip_msg, so this is also what a message costs in memory. */
#define SIP_MSG_MAX_HDRS 64u
/* One header line after unfolding, name included. Long Route sets and
 * Authorization headers stay far below. */
#define SIP_MSG_MAX_LINE 8192u

/** A slice of a buffer: not NUL-terminated, not owned. */
struct sip_pl {
	const char *p;
	size_t l;
};

#define SIP_PL(s) ((struct sip_pl){(s), sizeof(s) - 1}) /* from a literal */

/** Slice of a NUL-terminated string (NULL gives an empty slice). */
struct sip_pl sip_pl_str(const char *s);
/** Byte-wise equality. */
bool sip_pl_eq(struct sip_pl a, struct sip_pl b);
/** Case-insensitive (ASCII) equality. */
bool sip_pl_caseeq(struct sip_pl a, struct sip_pl b);
/** Like strcasecmp(): 0 when @p a equals the string @p s ignoring ASCII case. */
int sip_pl_casecmp_str(struct sip_pl a, const char *s);
/** Decimal digits only, no sign, no space. Returns 0, EINVAL or ERANGE. */
int sip_pl_u32(struct sip_pl pl, uint32_t *v);
/** Slice without leading and trailing SP, HTAB, CR and LF. */
struct sip_pl sip_pl_trim(struct sip_pl pl);
/**
 * Copy into @p dst as a C string. Returns 0, or ENOSPC when it does not fit
 * (dst then holds the empty string). Embedded NUL bytes are copied as is.
 */
int sip_pl_strcpy(struct sip_pl pl, char *dst, size_t size);
/**
 * Copy the contents of a quoted-string (with or without its surrounding
 * quotes) into @p dst, resolving quoted-pairs (\" and \\). Returns 0,
 * EINVAL when a quote is unterminated, or ENOSPC.
 */
int sip_pl_unquote(struct sip_pl pl, char *dst, size_t size);

/** Request methods we know; anything else is SIP_METHOD_OTHER. */
enum sip_method {
	SIP_METHOD_OTHER = 0,
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_REGISTER,
	SIP_METHOD_PRACK,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_PUBLISH,
	SIP_METHOD_INFO,
	SIP_METHOD_REFER,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_UPDATE,
	SIP_METHOD__COUNT
};

/** "INVITE", ...; "" for SIP_METHOD_OTHER and out-of-range values. */
const char *sip_msg_method_name(enum sip_method method);
/** Method names are case-sensitive (RFC 3261 7.1): "invite" is OTHER. */
enum sip_method sip_method_lookup(struct sip_pl name);

/**
 * Header fields we look up by id. Compact forms map to the same id as the
 * full name. Anything else is SIP_HDR_OTHER and is found by name.
 */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_ACCEPT,
	SIP_HDR_ACCEPT_CONTACT, /* a */
	SIP_HDR_ACCEPT_ENCODING,
	SIP_HDR_ACCEPT_LANGUAGE,
	SIP_HDR_ALERT_INFO,
	SIP_HDR_ALLOW,
	SIP_HDR_ALLOW_EVENTS, /* u */
	SIP_HDR_AUTHENTICATION_INFO,
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_CALL_ID, /* i */
	SIP_HDR_CALL_INFO,
	SIP_HDR_CONTACT, /* m */
	SIP_HDR_CONTENT_DISPOSITION,
	SIP_HDR_CONTENT_ENCODING, /* e */
	SIP_HDR_CONTENT_LANGUAGE,
	SIP_HDR_CONTENT_LENGTH, /* l */
	SIP_HDR_CONTENT_TYPE,   /* c */
	SIP_HDR_CSEQ,
	SIP_HDR_DATE,
	SIP_HDR_ERROR_INFO,
	SIP_HDR_EVENT, /* o */
	SIP_HDR_EXPIRES,
	SIP_HDR_FROM,     /* f */
	SIP_HDR_IDENTITY, /* y */
	SIP_HDR_IN_REPLY_TO,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_MIME_VERSION,
	SIP_HDR_MIN_EXPIRES,
	SIP_HDR_MIN_SE,
	SIP_HDR_ORGANIZATION,
	SIP_HDR_P_ASSERTED_IDENTITY,
	SIP_HDR_P_PREFERRED_IDENTITY,
	SIP_HDR_PATH,
	SIP_HDR_PRIORITY,
	SIP_HDR_PRIVACY,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_RACK,
	SIP_HDR_REASON,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REFER_SUB,
	SIP_HDR_REFER_TO,       /* r */
	SIP_HDR_REFERRED_BY,    /* b */
	SIP_HDR_REJECT_CONTACT, /* j */
	SIP_HDR_REPLACES,
	SIP_HDR_REPLY_TO,
	SIP_HDR_REQUEST_DISPOSITION, /* d */
	SIP_HDR_REQUIRE,
	SIP_HDR_RETRY_AFTER,
	SIP_HDR_ROUTE,
	SIP_HDR_RSEQ,
	SIP_HDR_SERVER,
	SIP_HDR_SERVICE_ROUTE,
	SIP_HDR_SESSION_EXPIRES, /* x */
	SIP_HDR_SIP_ETAG,
	SIP_HDR_SIP_IF_MATCH,
	SIP_HDR_SUBJECT, /* s */
	SIP_HDR_SUBSCRIPTION_STATE,
	SIP_HDR_SUPPORTED, /* k */
	SIP_HDR_TARGET_DIALOG,
	SIP_HDR_TIMESTAMP,
	SIP_HDR_TO, /* t */
	SIP_HDR_UNSUPPORTED,
	SIP_HDR_USER_AGENT,
	SIP_HDR_VIA, /* v */
	SIP_HDR_WARNING,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR__COUNT
};

/** Canonical full name ("Call-ID"); "" for SIP_HDR_OTHER. */
const char *sip_hdr_name(enum sip_hdr_id id);
/** Id of a header name, full or compact, any case. */
enum sip_hdr_id sip_hdr_lookup(const char *name, size_t len);

/** One header line. name and value are trimmed; value has no CR or LF. */
struct sip_hdr {
	struct sip_pl name;
	struct sip_pl value;
	enum sip_hdr_id id;
	uint8_t next; /* internal: 1 + index of the next header with this id */
};

/**
 * A parsed message. Large (about 2.7 KB, mostly the header array): keep it
 * on the stack of the receive path or embed it, do not copy it around.
 */
struct sip_msg {
	const char *buf; /* start line .. end of body */
	size_t len;
	bool request;
	bool hdrs_ok; /* start line and every header split */

	/* Request line. */
	enum sip_method method;
	struct sip_pl method_name;
	struct sip_pl ruri;

	/* Status line. */
	uint16_t status;
	struct sip_pl reason;

	struct sip_pl version; /* "SIP/2.0" */

	/* Checked and cached at parse time. */
	uint32_t cseq_num;
	enum sip_method cseq_method;
	struct sip_pl cseq_method_name;
	bool has_clen;
	uint32_t clen;

	struct sip_pl body;

	unsigned nhdrs;
	uint8_t first[SIP_HDR__COUNT]; /* 1 + index of the first header with that id */
	struct sip_hdr hdr[SIP_MSG_MAX_HDRS];
};

/**
 * Parse the message in @p buf (one datagram, or one unit from
 * sip_msg_frame()). Leading CRLFs are skipped. The buffer is modified only
 * where a header is folded over several lines: the line break of each
 * continuation is overwritten with spaces, so that every header value is one
 * contiguous slice and no value parser needs to know about folding.
 *
 * A body longer than Content-Length is cut to Content-Length (RFC 3261
 * 18.3); without Content-Length the body runs to the end of @p buf.
 *
 * Returns 0, or with *reason set to a short phrase naming the fault:
 *  - EBADMSG: malformed ("Missing Call-ID header", "Bad CSeq", ...). Answer
 *    400 with the phrase if sip_msg_can_reply(), else drop.
 *  - EPROTONOSUPPORT: a request for another SIP version; answer 505.
 *  - EMSGSIZE: larger than SIP_MSG_MAX_SIZE; drop (nothing was parsed).
 */
int sip_msg_parse(struct sip_msg *m, char *buf, size_t len, const char **reason);

/**
 * True when @p m, even after a failed parse, is a request whose headers were
 * all split and which has a parsable top Via, From, To, Call-ID and CSeq, so
 * that a response can be built from it and routed back.
 */
bool sip_msg_can_reply(const struct sip_msg *m);

/** First header with that id, NULL if none. */
const struct sip_hdr *sip_msg_hdr_first(const struct sip_msg *m, enum sip_hdr_id id);
/** Next header with the same id (for SIP_HDR_OTHER: the same name). */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h);
/** First header with that name, full or compact, any case. */
const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, const char *name);
/** Number of header lines with that id. */
unsigned sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id);

/**
 * Split the first element off a comma-separated header value. Commas inside
 * quoted strings and <...> do not split. Elements are trimmed; empty ones
 * are skipped. Returns 0 with @p item set and @p rest advanced, or ENOENT.
 * Not for the authentication headers, whose commas separate auth-params.
 */
int sip_pl_list_next(struct sip_pl *rest, struct sip_pl *item);

/** Iterates the comma-separated values of every header with one id. */
struct sip_value_iter {
	const struct sip_msg *m;
	const struct sip_hdr *h;
	struct sip_pl rest;
};

void sip_value_iter_init(struct sip_value_iter *it, const struct sip_msg *m, enum sip_hdr_id id);
/** 0 with the next value in @p val, or ENOENT after the last. */
int sip_value_iter_next(struct sip_value_iter *it, struct sip_pl *val);

/**
 * Next parameter of a ";name=value;flag" list (a leading ';' is optional).
 * A quoted value is returned without its quotes (quoted-pairs kept); a flag
 * has an empty value with val->p == NULL. Returns 0, ENOENT at the end, or
 * EINVAL on a syntax error.
 */
int sip_param_next(struct sip_pl *params, struct sip_pl *name, struct sip_pl *val);
/** Find parameter @p name (case-insensitive). Returns 0, ENOENT or EINVAL. */
int sip_param_get(struct sip_pl params, const char *name, struct sip_pl *val);

/** One via-parm (RFC 3261 20.42). */
struct sip_via {
	struct sip_pl value;     /* the whole via-parm */
	struct sip_pl transport; /* "UDP", "TCP", "TLS", "WS", ... */
	struct sip_pl host;      /* IPv6 without brackets; see host_ipv6 */
	bool host_ipv6;
	uint16_t port;        /* 0 when absent */
	struct sip_pl params; /* from the first ';' (included), may be empty */
	struct sip_pl branch; /* empty when absent */
	struct sip_pl received;
	struct sip_pl maddr;
	bool rport;          /* rport parameter present */
	uint16_t rport_port; /* its value, 0 when none */
};

/**
 * "token;params": the token before the first ';', trimmed, and the
 * parameters from that ';' (included; empty when none), for
 * sip_param_next and sip_param_get. Event, Subscription-State, Replaces.
 */
void sip_pl_token_params(struct sip_pl v, struct sip_pl *token, struct sip_pl *params);

/** A Replaces value (RFC 3891): slices into the text parsed. */
struct sip_replaces {
	struct sip_pl callid, to_tag, from_tag;
	bool early_only;
};
/** "callid;to-tag=a;from-tag=b[;early-only]". 0 or EINVAL (no Call-ID or a tag missing). */
int sip_replaces_parse(struct sip_replaces *r, struct sip_pl v);

/** Parse one via-parm. Returns 0 or EINVAL. */
int sip_via_parse(struct sip_via *v, struct sip_pl val);
/** The first Via value of the message. Returns 0, ENOENT or EINVAL. */
int sip_msg_via_top(const struct sip_msg *m, struct sip_via *v);

/** name-addr or addr-spec with header parameters (From, To, Contact, ...). */
struct sip_addr {
	struct sip_pl dname;  /* display name; quotes stripped, quoted-pairs kept */
	bool dname_quoted;    /* use sip_pl_unquote() to resolve quoted-pairs */
	struct sip_pl uri;    /* without < > */
	bool angle;           /* the URI was in < > */
	struct sip_pl params; /* from the first ';' (included), may be empty */
	struct sip_pl tag;    /* tag parameter, empty when absent */
};

/**
 * Parse a name-addr or addr-spec. In the addr-spec form the URI ends at the
 * first ';' or white space, and what follows are header parameters (RFC 3261
 * 20). A Contact "*" is not an address, yet it parses as an addr-spec
 * whose URI is "*": compare the value with "*" first. Returns 0 or EINVAL.
 */
int sip_addr_parse(struct sip_addr *a, struct sip_pl val);
/** From / To: exactly one address. Returns 0, ENOENT or EINVAL. */
int sip_msg_from(const struct sip_msg *m, struct sip_addr *a);
int sip_msg_to(const struct sip_msg *m, struct sip_addr *a);
/** True when the To header parses and carries a tag: a request inside a dialog. */
bool sip_msg_has_to_tag(const struct sip_msg *m);
/**
 * True for what continues work already started, which overload never sheds
 * and which is handed up first: a response, ACK, CANCEL, BYE, or any
 * request inside a dialog (a To tag).
 */
bool sip_msg_continues_work(const struct sip_msg *m);
/** True for a request with credentials (Authorization, Proxy-Authorization). */
bool sip_msg_answers_challenge(const struct sip_msg *m);

/** CSeq as checked by sip_msg_parse (method may be NULL). Returns 0 or ENOENT. */
int sip_msg_cseq(const struct sip_msg *m, uint32_t *num, struct sip_pl *method);
/** Call-ID value. Returns 0 or ENOENT. */
int sip_msg_callid(const struct sip_msg *m, struct sip_pl *callid);
/** Max-Forwards (0..255 per RFC 3261 20.22). Returns 0, ENOENT or EINVAL. */
int sip_msg_max_forwards(const struct sip_msg *m, uint32_t *v);
/** Expires header, delta-seconds. Returns 0, ENOENT or EINVAL. */
int sip_msg_expires(const struct sip_msg *m, uint32_t *v);

/**
 * Frame the next unit of a stream (TCP, TLS). Units are SIP messages and
 * the keep-alives of RFC 5626 3.5.1: a "\r\n\r\n" ping, which the caller
 * answers with "\r\n" (see sip_msg_is_ping), and single CRLFs (pongs, or
 * stray line ends before a start line), which it drops.
 *
 * Returns 0 with *msglen the length of the unit at @p buf; EAGAIN when more
 * bytes are needed (then *msglen is the total length needed when already
 * known, else 0, so a caller can wait for the body without framing again);
 * EBADMSG when the stream cannot be a SIP stream (garbage start line,
 * missing or bad Content-Length: RFC 3261 18.3 requires it on streams); or
 * EMSGSIZE when the message would exceed @p max bytes. After EBADMSG and
 * EMSGSIZE the stream has lost its framing: close the connection.
 */
int sip_msg_frame(const char *buf, size_t len, size_t max, size_t *msglen);
/** The unit is a "\r\n\r\n" keep-alive ping: answer "\r\n". */
bool sip_msg_is_ping(const char *buf, size_t msglen);
/** The unit is a keep-alive (ping or pong): nothing to parse. */
bool sip_msg_is_keepalive(const char *buf, size_t msglen);

#endif
