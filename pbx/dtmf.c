/**
 * @file dtmf.c  RFC 4733 telephone-events: detecting key presses, sending them
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * All packets of one event carry the timestamp of its start; the duration
 * grows in each update and the end is sent three times. The receiver
 * therefore keys a press on the timestamp: the first end packet reports
 * it, its retransmissions and late updates with the same timestamp are
 * ignored, and a new timestamp is a new press (reporting the previous one
 * if its ends were lost). Both halves are plain state machines, tested
 * without sockets; the worker glue at the end sends from the 20 ms tick.
 */
#include <string.h>

#include "media_priv.h"
#include "pbx/log.h"

#define DTMF_VOLUME     10 /* -10 dBm0, what phones send */
#define DTMF_DEFAULT_MS 100
#define DTMF_MIN_MS     40
#define DTMF_MAX_MS     8000 /* the 16-bit duration field holds 8.19 s at 8 kHz */
#define DTMF_GAP_MS     40   /* between queued keys, as a phone's dialler leaves */

static const char keys[] = "0123456789*#ABCD!";

int pbx__dtmf_code(char digit)
{
	if (digit >= 'a' && digit <= 'd')
		digit = (char)(digit - 'a' + 'A');
	const char *p = digit ? strchr(keys, digit) : NULL;
	return p ? (int)(p - keys) : -1;
}

char pbx__dtmf_digit(int code)
{
	return code >= 0 && code < (int)sizeof keys - 1 ? keys[code] : 0;
}

static bool report(struct pbx__dtmf_rx *d, char *digit, int *duration_ms)
{
	d->ended = true;
	*digit = pbx__dtmf_digit(d->code);
	*duration_ms = d->duration / (d->khz ? d->khz : 8);
	return *digit != 0;
}

bool pbx__dtmf_rx_feed(struct pbx__dtmf_rx *d, uint32_t ts, const uint8_t *pl, size_t len,
		       uint64_t now_ms, char *digit, int *duration_ms)
{
	if (len < 4)
		return false;
	uint8_t code = pl[0];
	bool end = pl[1] & 0x80;
	uint16_t dur = (uint16_t)(pl[2] << 8 | pl[3]);

	if (d->active && ts == d->ts) {
		d->last_ms = now_ms;
		if (d->ended)
			return false; /* a retransmitted end, or an update that came late */
		if (dur > d->duration)
			d->duration = dur;
		return end && report(d, digit, duration_ms);
	}
	/* A timestamp older than the current event's is a stray from before it. */
	if (d->active && (int32_t)(ts - d->ts) < 0)
		return false;
	bool prev = d->active && !d->ended && report(d, digit, duration_ms);
	d->active = true;
	d->ended = false;
	d->ts = ts;
	d->code = code;
	d->duration = dur;
	d->last_ms = now_ms;
	/* The new event's own end, if this is it, is seen in a retransmission. */
	if (prev)
		return true;
	return end && report(d, digit, duration_ms);
}

bool pbx__dtmf_rx_flush(struct pbx__dtmf_rx *d, uint64_t now_ms, uint64_t idle_ms, char *digit,
			int *duration_ms)
{
	if (!d->active || d->ended || now_ms - d->last_ms < idle_ms)
		return false;
	return report(d, digit, duration_ms);
}

void pbx__dtmf_tx_start(struct pbx__dtmf_tx *t, int code, uint32_t ts, int duration_ms,
			unsigned step, unsigned khz)
{
	if (!khz)
		khz = 8;
	if (duration_ms <= 0)
		duration_ms = DTMF_DEFAULT_MS;
	if (duration_ms < DTMF_MIN_MS)
		duration_ms = DTMF_MIN_MS;
	if (duration_ms > DTMF_MAX_MS)
		duration_ms = DTMF_MAX_MS;
	if ((unsigned)duration_ms * khz > 65535) /* the 16-bit field: 1.3 s at 48 kHz */
		duration_ms = (int)(65535 / khz);
	memset(t, 0, sizeof *t);
	t->code = (uint8_t)code;
	t->ts = ts;
	t->total = (uint16_t)((unsigned)duration_ms * khz);
	t->step = (uint16_t)(step ? step : 160);
	t->active = true;
}

bool pbx__dtmf_tx_next(struct pbx__dtmf_tx *t, uint8_t pl[4], bool *marker)
{
	if (!t->active || t->ends >= 3) {
		t->active = false;
		return false;
	}
	*marker = t->dur == 0;
	if (t->dur < t->total) {
		unsigned d = (unsigned)t->dur + t->step;
		t->dur = (uint16_t)(d < t->total ? d : t->total);
	}
	bool end = t->dur == t->total; /* the update that reaches the length is the first end */
	if (end)
		t->ends++;
	pl[0] = t->code;
	pl[1] = (uint8_t)((end ? 0x80 : 0) | DTMF_VOLUME);
	pl[2] = (uint8_t)(t->dur >> 8);
	pl[3] = (uint8_t)t->dur;
	return true;
}

/* ---- worker side ----------------------------------------------------------------------------- */

void pbx__dtmf_enqueue(struct pbx__sess *s, char digit, int ms)
{
	if (s->dq_len == PBX__DTMF_QUEUE) {
		pbx_warning("rtp %u: DTMF queue full, '%c' dropped", s->id, digit);
		return;
	}
	unsigned i = (s->dq_head + s->dq_len++) % PBX__DTMF_QUEUE;
	s->dq[i].digit = digit;
	s->dq[i].ms = (uint16_t)(ms > 0 && ms < 65535 ? ms : 0);
	pbx__gens_update(s);
}

/* One packet per packet interval; what the stream said about audio meanwhile is held back
 * (see rtp.c), so the event's timestamps and sequence numbers are not interleaved. */
void pbx__dtmf_tick(struct pbx__sess *s, uint64_t now)
{
	if (now < s->dtx_next_ms)
		return;
	if (!s->dtx.active) {
		if (!s->dq_len)
			return;
		char digit = s->dq[s->dq_head].digit;
		int ms = s->dq[s->dq_head].ms;
		s->dq_head = (uint8_t)((s->dq_head + 1) % PBX__DTMF_QUEUE);
		s->dq_len--;
		bool m;
		pbx__dtmf_tx_start(&s->dtx, pbx__dtmf_code(digit), pbx__out_local_ts(s, now, &m),
				   ms, s->ptime * s->dtmf_khz, s->dtmf_khz);
	}
	uint8_t pkt[PBX__RTP_HDR + 4];
	bool marker;
	if (pbx__dtmf_tx_next(&s->dtx, pkt + PBX__RTP_HDR, &marker)) {
		if (s->dtmf_pt && s->can_send)
			pbx__sess_send_local(s, s->dtmf_pt, marker, s->dtx.ts, pkt, sizeof pkt);
		s->dtx_next_ms = now + s->ptime;
		if (s->dtx.ends < 3)
			return;
	}
	/* The event is over: the stream's clock resumes after its length, and the
	 * next key (if any) waits for the gap. */
	s->dtx.active = false;
	/* The event counted in its clock; the stream's may be another (Opus at
	 * 48 kHz with telephone-event/8000). */
	s->out.last_ts = s->dtx.ts + (uint32_t)s->dtx.total * s->khz / s->dtmf_khz;
	s->out.last_ms = now;
	s->out.mode = PBX__OUT_NONE;
	s->dtx_next_ms = now + DTMF_GAP_MS;
}
