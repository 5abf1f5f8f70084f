/**
 * @file media_phone.h  Loopback "phones" for media unit tests: a UDP socket that encodes and decodes
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each phone sends a sine tone through a registered codec and decodes what
 * comes back, so a test measures what a leg hears (tone_check.h).
 */
#ifndef MEDIA_PHONE_H
#define MEDIA_PHONE_H

#include <arpa/inet.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pbx/codec.h"
#include "pbx/frame.h"
#include "unit.h"

struct phone {
	int fd;
	struct sockaddr_in addr;
	const struct pbx_codec_desc *codec;
	uint8_t pt;
	struct pbx_coder *enc, *dec;
	uint16_t seq;
	uint32_t ts;
	double phase;
	double amp; /* peak of the tone sent: 8000 unless a test changes it */
};

static inline void phone_open(struct phone *p, const char *codec, uint8_t pt)
{
	socklen_t len = sizeof p->addr;
	memset(p, 0, sizeof *p);
	p->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(p->fd >= 0);
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->fd, (struct sockaddr *)&p->addr, sizeof p->addr), 0);
	assert_int_equal(getsockname(p->fd, (struct sockaddr *)&p->addr, &len), 0);
	assert_non_null(p->codec = pbx_codec_find(codec));
	p->pt = pt;
	assert_int_equal(pbx_coder_alloc(&p->enc, p->codec, true), 0);
	assert_int_equal(pbx_coder_alloc(&p->dec, p->codec, false), 0);
	p->amp = 8000;
	p->seq = 1000;
	p->ts = 50000;
}

static inline void phone_close(struct phone *p)
{
	pbx_coder_free(p->enc);
	pbx_coder_free(p->dec);
	close(p->fd);
}

/* @p ms of a @p freq tone, encoded, sent to @p port; @p lose skips the send (a lost packet). */
static inline void phone_send_ms(struct phone *p, int port, double freq, bool lose, unsigned ms)
{
	int16_t pcm[PBX_FRAME_MAX_SAMPLES * 3];
	uint8_t pkt[1500];
	size_t n = pbx_codec_samples(p->codec, ms);
	for (size_t i = 0; i < n; i++) {
		pcm[i] = (int16_t)(p->amp * sin(p->phase));
		p->phase += 2 * M_PI * freq / p->codec->rate;
	}
	int len = pbx_coder_encode(p->enc, pcm, n, pkt + 12, sizeof pkt - 12);
	assert_true(len > 0);
	pkt[0] = 0x80;
	pkt[1] = p->pt;
	pkt[2] = (uint8_t)(p->seq >> 8);
	pkt[3] = (uint8_t)p->seq;
	for (int i = 0; i < 4; i++) {
		pkt[4 + i] = (uint8_t)(p->ts >> (24 - 8 * i));
		pkt[8 + i] = (uint8_t)(0x5EED0000u >> (24 - 8 * i));
	}
	p->seq++;
	p->ts += p->codec->clock / 1000 * ms;
	if (lose)
		return;
	struct sockaddr_in to = p->addr;
	to.sin_port = htons((uint16_t)port);
	assert_int_equal(sendto(p->fd, pkt, 12 + (size_t)len, 0, (struct sockaddr *)&to, sizeof to),
			 12 + len);
}

static inline void phone_send(struct phone *p, int port, double freq, bool lose)
{
	phone_send_ms(p, port, freq, lose, 20);
}

/* Decode what arrived (all of it) into @p pcm; returns samples. Packets of another PT count in *bad. */
static inline size_t phone_drain(struct phone *p, int16_t *pcm, size_t max, int *packets, int *bad)
{
	uint8_t pkt[1500];
	size_t got = 0;
	ssize_t n;
	while ((n = recv(p->fd, pkt, sizeof pkt, MSG_DONTWAIT)) > 12) {
		if ((pkt[1] & 0x7f) != p->pt) {
			(*bad)++;
			continue;
		}
		(*packets)++;
		int k = pbx_coder_decode(p->dec, pkt + 12, (size_t)n - 12, pcm + got, max - got);
		if (k > 0)
			got += (size_t)k;
	}
	return got;
}

#endif
