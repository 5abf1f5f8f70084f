/**
 * @file sip_tls.c  OpenSSL 3 server context, self-signed fallback and the BIO pump
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Sessions run on memory BIOs: the transport's libuv connection reads and
 * writes the ciphertext, so a peer that stalls a handshake costs one
 * connection and never the loop. TLS 1.2 is the floor: older versions have
 * no AEAD suites and RFC 8996 deprecates them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pbx/config.h"
#include "sip_config.h"
#include "pbx/log.h"
#include "sip_tls.h"

#define SELF_SIGNED_DAYS (10 * 365)

/* OpenSSL's latest error as text, clearing the queue for the next caller. */
static const char *ssl_why(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", strerror(errno ? errno : EIO));
	ERR_clear_error();
	return buf;
}

/* Write @p what (key or certificate) as PEM to @p path with @p mode, via a
 * temporary file so a crash never leaves half a key behind. */
static int pem_save(const char *path, mode_t mode, EVP_PKEY *key, X509 *crt)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int err = errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		     : PEM_write_X509(f, crt);
	if (fclose(f) || !ok || rename(tmp, path)) {
		unlink(tmp);
		return EIO;
	}
	return 0;
}

/* An EC P-256 key and a certificate for CN=@p cn signed by it. */
static int self_signed_make(const char *cn, EVP_PKEY **keyp, X509 **crtp)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = X509_new();
	X509_NAME *name = NULL;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int err = EIO;
	if (!key || !crt || RAND_bytes(serial, sizeof serial) != 1)
		goto out;
	serial[0] &= 0x7f; /* a positive serial number (RFC 5280 4.1.2.2) */
	if (!(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) || !X509_set_version(crt, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(crt), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(crt), (long)SELF_SIGNED_DAYS * 86400) ||
	    !X509_set_pubkey(crt, key) || !(name = X509_get_subject_name(crt)) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(crt, name) || !X509_sign(crt, key, EVP_sha256()))
		goto out;
	*keyp = key;
	*crtp = crt;
	key = NULL;
	crt = NULL;
	err = 0;
out:
	BN_free(bn);
	EVP_PKEY_free(key);
	X509_free(crt);
	return err;
}

/*
 * The state dir's pair, made on first use. Both files are reused as long as
 * both exist, so phones that pinned the certificate keep trusting it across
 * restarts.
 */
static int self_signed_files(const struct sip_config *cfg, const char *state_dir, char *crt_path,
			     char *key_path, size_t len)
{
	char dir[4096], why[256];
	snprintf(dir, sizeof dir, "%s/tls", state_dir);
	snprintf(crt_path, len, "%s/pbx.pem", dir);
	snprintf(key_path, len, "%s/pbx.key", dir);
	if (!access(crt_path, F_OK) && !access(key_path, F_OK))
		return 0;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		int err = errno;
		pbx_error("sip: cannot create %s: %s", dir, strerror(err));
		return err;
	}
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	int err = self_signed_make(cfg->domain, &key, &crt);
	if (err) {
		pbx_error("sip: cannot make a self-signed certificate: %s",
			  ssl_why(why, sizeof why));
		return err;
	}
	if ((err = pem_save(key_path, 0600, key, NULL)))
		pbx_error("sip: cannot write %s: %s", key_path, strerror(err));
	else if ((err = pem_save(crt_path, 0644, NULL, crt)))
		pbx_error("sip: cannot write %s: %s", crt_path, strerror(err));
	EVP_PKEY_free(key);
	X509_free(crt);
	return err;
}

int sip_tls_ctx_alloc(SSL_CTX **ctxp, const struct sip_config *cfg, const char *state_dir)
{
	char crt_buf[4200], key_buf[4200], why[256];
	const char *crt = cfg->tls_cert, *key = cfg->tls_key;
	int err;
	ERR_clear_error();
	if (!crt || !key) {
		if ((err = self_signed_files(cfg, state_dir, crt_buf, key_buf, sizeof crt_buf)))
			return err;
		crt = crt_buf;
		key = key_buf;
		pbx_notice("sip: no sip.tls configured: using a self-signed certificate %s", crt);
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return ENOMEM;
	err = EINVAL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		pbx_error("sip: TLS: cannot set TLS 1.2 as the minimum: %s",
			  ssl_why(why, sizeof why));
		goto out;
	}
	/* Renegotiation is a DoS lever and SIP never needs it; small idle
	 * buffers matter with thousands of registered phones. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* OpenSSL says "system lib" for a missing file: name the cause first. */
	if (access(crt, R_OK) || access(key, R_OK)) {
		const char *which = access(crt, R_OK) ? "cert" : "key";
		pbx_error("sip: sip.tls.%s: cannot read '%s': %s", which, *which == 'c' ? crt : key,
			  strerror(errno));
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		pbx_error("sip: sip.tls.cert: cannot load '%s': %s", crt, ssl_why(why, sizeof why));
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
			pbx_error("sip: sip.tls.key: '%s' does not match the certificate '%s'", key,
				  crt);
			ERR_clear_error();
			goto out;
		}
		pbx_error("sip: sip.tls.key: cannot load '%s': %s", key, ssl_why(why, sizeof why));
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		pbx_error("sip: sip.tls.key: '%s' does not match the certificate '%s'", key, crt);
		ERR_clear_error();
		goto out;
	}
	*ctxp = ctx;
	return 0;
out:
	SSL_CTX_free(ctx);
	return err;
}

void sip_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

int sip_tls_accept_alloc(SSL **sslp, SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	if (!ssl || !in || !out) {
		SSL_free(ssl);
		BIO_free(in);
		BIO_free(out);
		ERR_clear_error();
		return ENOMEM;
	}
	/* An empty memory BIO reads as "retry", not as end of file. */
	BIO_set_mem_eof_return(in, -1);
	BIO_set_mem_eof_return(out, -1);
	SSL_set_bio(ssl, in, out);
	SSL_set_accept_state(ssl);
	*sslp = ssl;
	return 0;
}

void sip_tls_free(SSL *ssl)
{
	SSL_free(ssl);
}

int sip_tls_feed(SSL *ssl, const char *buf, size_t len)
{
	size_t done = 0;
	if (len && !BIO_write_ex(SSL_get_rbio(ssl), buf, len, &done)) {
		ERR_clear_error();
		return ENOMEM;
	}
	return 0;
}

bool sip_tls_handshake_done(SSL *ssl)
{
	return SSL_is_init_finished(ssl);
}

int sip_tls_handshake(SSL *ssl, char *why, size_t whylen)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return 0;
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return EAGAIN;
	if (e == SSL_ERROR_SSL)
		ssl_why(why, whylen);
	else
		snprintf(why, whylen, "%s",
			 e == SSL_ERROR_ZERO_RETURN ? "closed" : "protocol error");
	ERR_clear_error();
	return EPROTO;
}

ssize_t sip_tls_read(SSL *ssl, char *buf, size_t cap)
{
	size_t n = 0;
	ERR_clear_error();
	if (SSL_read_ex(ssl, buf, cap, &n))
		return (ssize_t)n;
	int e = SSL_get_error(ssl, 0);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
}

int sip_tls_write(SSL *ssl, const char *buf, size_t len)
{
	size_t n = 0;
	ERR_clear_error();
	/* The output is a memory BIO: a write completes or fails outright. */
	if (len && (!SSL_write_ex(ssl, buf, len, &n) || n != len)) {
		ERR_clear_error();
		return EIO;
	}
	return 0;
}

size_t sip_tls_drain(SSL *ssl, char *buf, size_t cap)
{
	int n = BIO_read(SSL_get_wbio(ssl), buf, (int)cap);
	return n > 0 ? (size_t)n : 0;
}

const char *sip_tls_version(SSL *ssl)
{
	return SSL_get_version(ssl);
}
