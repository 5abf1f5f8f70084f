/**
 * @file fuzz_sip_auth.c  libFuzzer target: digest credentials parser, then verification
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Whatever parses is verified too. A random nonce never passes the HMAC,
 * so the input's last byte may ask for a real nonce (bit 0) and a correct
 * response (bit 1), which takes the fuzzer through the expiry and
 * nonce-count paths; bit 2 moves the clock past the nonce lifetime.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../channels/sip/sip_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sip_auth *auth;
static char ha1[SIP_AUTH_NALG][SIP_AUTH_HEX_MAX];
static int64_t now = 1000;

static void setup(void)
{
	if (sip_auth_alloc(&auth, "pbx.local", 60))
		abort();
	if (sip_auth_ha1(SIP_AUTH_MD5, "1001", "pbx.local", "s3cret", ha1[SIP_AUTH_MD5]) ||
	    sip_auth_ha1(SIP_AUTH_SHA256, "1001", "pbx.local", "s3cret", ha1[SIP_AUTH_SHA256]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_auth_cred c, ch_cred;
	struct sip_auth_chal ch;
	const char *why;
	unsigned mode = size ? data[size - 1] : 0;
	if (!auth)
		setup();
	int err = sip_auth_parse((const char *)data, size, &c);
	if (err) {
		if (!c.why)
			abort(); /* every refusal says why */
		return 0;
	}
	if (mode & 1) {
		if (sip_auth_challenge(auth, now, mode & 8, &ch) ||
		    sip_auth_parse(ch.value[0], strlen(ch.value[0]), &ch_cred))
			abort();
		strcpy(c.nonce, ch_cred.nonce);
		strcpy(c.realm, ch_cred.realm);
	}
	if ((mode & 2) && *c.nc && *c.cnonce && *c.qop)
		sip_auth_response(c.alg, ha1[c.alg], c.nonce, c.nc, c.cnonce, c.qop, "REGISTER",
				  c.uri, c.response);
	err = sip_auth_verify(auth, &c, "REGISTER", ha1[c.alg], now + (mode & 4 ? 61 : 0), &why);
	if (err && !why)
		abort();
	/* A second time: the same nc must never be accepted twice. */
	if (!err && !sip_auth_verify(auth, &c, "REGISTER", ha1[c.alg], now, &why))
		abort();
	now++;
	return 0;
}
