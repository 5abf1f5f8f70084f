/**
 * @file jitter.c  Receive jitter buffer: speexdsp's adaptive buffer behind a small interface
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * speexdsp copies each payload it is given into a malloc'd block (freed
 * when the frame is taken or dropped): one small allocation per received
 * packet on legs that consume frames, which glibc's per-thread cache
 * serves without a lock. A pool of our own would cost every such leg its
 * worst case in memory up front; this costs only what is held.
 */
#include <errno.h>
#include <speex/speex_jitter.h>
#include <stdbool.h>
#include <stdlib.h>

#include "jitter.h"

struct pbx__jitter {
	JitterBuffer *jb;
	uint32_t span;
	bool started; /* a packet came: from now on a missing frame is a loss */
};

int pbx__jitter_alloc(struct pbx__jitter **jp, uint32_t span)
{
	struct pbx__jitter *j = calloc(1, sizeof *j);
	*jp = NULL;
	if (!j)
		return ENOMEM;
	j->span = span;
	/* Adjust the delay in steps of one frame. */
	j->jb = jitter_buffer_init((int)span);
	if (!j->jb) {
		free(j);
		return ENOMEM;
	}
	*jp = j;
	return 0;
}

void pbx__jitter_free(struct pbx__jitter *j)
{
	if (!j)
		return;
	jitter_buffer_destroy(j->jb);
	free(j);
}

void pbx__jitter_put(struct pbx__jitter *j, const uint8_t *payload, size_t len, uint32_t ts,
		     uint16_t seq)
{
	/* speexdsp only reads the data (it copies it), whatever the cast says. */
	JitterBufferPacket p = {.data = (char *)(uintptr_t)payload,
				.len = (spx_uint32_t)len,
				.timestamp = ts,
				.span = j->span,
				.sequence = seq};
	jitter_buffer_put(j->jb, &p);
	j->started = true;
}

enum pbx__jitter_got pbx__jitter_get(struct pbx__jitter *j, uint8_t *out, size_t max, size_t *lenp)
{
	JitterBufferPacket p = {.data = (char *)out, .len = (spx_uint32_t)max};
	spx_int32_t offset = 0;
	int r = jitter_buffer_get(j->jb, &p, (spx_int32_t)j->span, &offset);
	jitter_buffer_tick(j->jb);
	*lenp = 0;
	if (r == JITTER_BUFFER_OK) {
		*lenp = p.len;
		return PBX__JITTER_FRAME;
	}
	return j->started ? PBX__JITTER_LOST : PBX__JITTER_FILLING;
}

int pbx__jitter_held(struct pbx__jitter *j)
{
	int n = 0;
	jitter_buffer_ctl(j->jb, JITTER_BUFFER_GET_AVAILABLE_COUNT, &n);
	return n;
}
