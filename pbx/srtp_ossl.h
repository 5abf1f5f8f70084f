/**
 * @file srtp_ossl.h  OpenSSL (libcrypto 3) AES-CM, AES-GCM and HMAC-SHA1 for libsrtp2
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Private to the media engine: srtp.c installs these once, and the unit
 * test installs them again after it has made reference contexts with
 * libsrtp2's own types.
 */
#ifndef PBX_SRTP_OSSL_H
#define PBX_SRTP_OSSL_H

/**
 * Make libsrtp2 use OpenSSL for AES-ICM-128/256, AES-GCM-128/256 and
 * HMAC-SHA1 (srtp_replace_cipher_type / srtp_replace_auth_type). libsrtp2
 * self-tests each type against our known answers and its own before it
 * takes it. Contexts made before keep the types they were made with.
 *
 * Needs srtp_init() done; not thread-safe (the crypto kernel's list is
 * global): once before the media workers start, or from a test with no
 * engine running. 0, or EIO when OpenSSL lacks an algorithm or a type
 * failed its self-test (the types registered so far stay: each is
 * correct alone, libsrtp2's own included).
 */
int pbx__srtp_ossl_install(void);

struct srtp_cipher_type_t;
/** Our cipher type for libsrtp2's id @p id (SRTP_AES_ICM_128, ...); NULL if none. For tests. */
const struct srtp_cipher_type_t *pbx__srtp_ossl_cipher_type(int id);

#endif
