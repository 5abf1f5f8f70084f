/**
 * @file sip_tls.h  TLS for the SIP stream transport: context set-up and the BIO pump
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Private to the transport. OpenSSL never touches a socket: each TLS
 * connection has two memory BIOs, the transport feeds what libuv read into
 * one and writes out what OpenSSL left in the other, so nothing here blocks
 * and libuv keeps owning every file descriptor.
 */
#ifndef SIP_TLS_H
#define SIP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sip_config;
struct ssl_ctx_st;
struct ssl_st;

/**
 * The server context from sip.tls.cert and sip.tls.key, or, when sip.tls is
 * not configured, from a self-signed pair made (once) under the state dir.
 * Errors are logged naming the file; returns 0 or errno.
 */
int sip_tls_ctx_alloc(struct ssl_ctx_st **ctxp, const struct sip_config *cfg,
		      const char *state_dir);
void sip_tls_ctx_free(struct ssl_ctx_st *ctx);

/** A server-side session on memory BIOs, waiting for the ClientHello. */
int sip_tls_accept_alloc(struct ssl_st **sslp, struct ssl_ctx_st *ctx);
void sip_tls_free(struct ssl_st *ssl);

/** Hand @p len bytes read from the network to the session. */
int sip_tls_feed(struct ssl_st *ssl, const char *buf, size_t len);
/**
 * Advance the handshake. 0: done; EAGAIN: needs more input; EPROTO: failed,
 * with OpenSSL's reason in @p why.
 */
int sip_tls_handshake(struct ssl_st *ssl, char *why, size_t whylen);
bool sip_tls_handshake_done(struct ssl_st *ssl);
/**
 * Decrypted bytes into @p buf: > 0 bytes, 0 when nothing more is buffered,
 * -ECONNRESET when the peer sent close_notify, -EPROTO on a broken record.
 */
ssize_t sip_tls_read(struct ssl_st *ssl, char *buf, size_t cap);
/** Encrypt @p len bytes into the output BIO; 0 or errno. */
int sip_tls_write(struct ssl_st *ssl, const char *buf, size_t len);
/** Take up to @p cap bytes of ciphertext to send; 0 when none is waiting. */
size_t sip_tls_drain(struct ssl_st *ssl, char *buf, size_t cap);
/** "TLSv1.3" once the handshake is done, for logs. */
const char *sip_tls_version(struct ssl_st *ssl);

#endif
