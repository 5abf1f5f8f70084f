/**
 * @file playback.c  Playing WAV files: load, resample, cache, pace at 20 ms
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A file is decoded once (libsndfile), mixed to mono and resampled to
 * 8 and 16 kHz (speexdsp) on the thread pool, since reading and resampling
 * a long voicemail takes milliseconds the signalling thread must not spend.
 * The result is immutable and reference counted, kept in a cache by path
 * (and inode, size and mtime, so a re-recorded greeting is loaded again)
 * and shared read-only by every worker playing it: a prompt playing on a
 * thousand calls is in memory once, at 48 KB a second of audio. The cache
 * keeps at most CACHE_BYTES of sounds nobody plays, least recently used
 * first out.
 *
 * Each playing session encodes its next frame for its own codec from the
 * shared PCM on the worker's 20 ms tick: G.711 from the 8 kHz copy, one
 * table lookup per sample; wideband codecs from the 16 kHz copy through
 * their encoder, so a G.722 or Opus phone hears the prompt's full band.
 */
#include <errno.h>
#include <math.h>
#include <speex/speex_resampler.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media_priv.h"
#include "pbx/log.h"

#define CACHE_BYTES (32u << 20)
#define CHUNK       1024                            /* frames read from the file at a time */
#define MAX_SECONDS (4 * 3600)                      /* longer files are refused, not swapped in */
#define RS_QUALITY  SPEEX_RESAMPLER_QUALITY_DESKTOP /* once per file: afford quality */

struct entry {
	struct entry *next;
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct pbx__sound *snd;
	uint64_t used; /* LRU stamp */
};

struct waiter {
	uint32_t id, gen;
};

struct load {
	uv_work_t req;
	struct load *next;
	char *path;
	struct stat st;
	struct pbx__sound *snd;
	int err;
	struct waiter *wait;
	size_t nwait, cap;
};

static struct {
	struct entry *cache;
	size_t bytes;
	uint64_t clock;
	struct load *loads;
	unsigned nloads;
} P;

void pbx__sound_ref(struct pbx__sound *snd)
{
	__atomic_add_fetch(&snd->refs, 1, __ATOMIC_RELAXED);
}

void pbx__sound_unref(struct pbx__sound *snd)
{
	if (snd && !__atomic_sub_fetch(&snd->refs, 1, __ATOMIC_ACQ_REL))
		free(snd);
}

/* ---- decoding (thread pool) ------------------------------------------------------------------ */

struct sink {
	int16_t *pcm;
	size_t n, cap;
	float out[CHUNK];
};

static void sink_put(struct sink *k, const float *v, size_t n)
{
	for (size_t i = 0; i < n && k->n < k->cap; i++) {
		float x = v[i] * 32767.0f;
		x = x > 32767.0f ? 32767.0f : x < -32768.0f ? -32768.0f : x;
		k->pcm[k->n++] = (int16_t)lrintf(x);
	}
}

static void feed(SpeexResamplerState *rs, struct sink *k, const float *in, size_t n)
{
	if (!rs) {
		sink_put(k, in, n);
		return;
	}
	while (n) {
		spx_uint32_t in_len = (spx_uint32_t)n, out_len = CHUNK;
		speex_resampler_process_float(rs, 0, in, &in_len, k->out, &out_len);
		sink_put(k, k->out, out_len);
		if (!in_len && !out_len)
			break; /* cannot happen with room for output; never spin */
		in += in_len;
		n -= in_len;
	}
}

/* The whole of @p f, mixed to mono, at @p rate into a new buffer *@p pcmp. */
static int decode_at(SNDFILE *f, const SF_INFO *info, unsigned rate, int16_t **pcmp, size_t *np)
{
	SpeexResamplerState *rs = NULL;
	struct sink k = {NULL, 0, 0, {0}};
	float *buf = NULL, mono[CHUNK];
	unsigned lat = 0;
	int err = 0;
	if (sf_seek(f, 0, SEEK_SET) < 0)
		return EIO;
	if (info->samplerate != (int)rate) {
		int e;
		rs = speex_resampler_init(1, (spx_uint32_t)info->samplerate, rate, RS_QUALITY, &e);
		if (!rs)
			return ENOMEM;
		/* Drop the filter's leading delay here, flush its tail with zeros below:
		 * the sound starts and ends where the file does. */
		speex_resampler_skip_zeros(rs);
		lat = (unsigned)speex_resampler_get_input_latency(rs);
	}
	k.cap = (size_t)((info->frames + lat) * rate / (unsigned)info->samplerate) + 16;
	k.pcm = malloc(k.cap * sizeof *k.pcm);
	buf = malloc(sizeof *buf * CHUNK * (size_t)info->channels);
	if (!k.pcm || !buf) {
		err = ENOMEM;
		goto out;
	}
	sf_count_t got;
	while ((got = sf_readf_float(f, buf, CHUNK)) > 0) {
		for (sf_count_t i = 0; i < got; i++) {
			float v = 0;
			for (int c = 0; c < info->channels; c++)
				v += buf[i * info->channels + c];
			mono[i] = v / (float)info->channels;
		}
		feed(rs, &k, mono, (size_t)got);
	}
	if (rs) {
		memset(mono, 0, sizeof mono);
		while (lat) {
			unsigned n = lat < CHUNK ? lat : CHUNK;
			feed(rs, &k, mono, n);
			lat -= n;
		}
	}
	*pcmp = k.pcm;
	*np = k.n;
	k.pcm = NULL;
out:
	free(k.pcm);
	free(buf);
	if (rs)
		speex_resampler_destroy(rs);
	return err;
}

int pbx__sound_load(const char *path, struct pbx__sound **sndp)
{
	SF_INFO info;
	int16_t *p8 = NULL, *p16 = NULL;
	size_t n8 = 0, n16 = 0;
	int err = 0;

	memset(&info, 0, sizeof info);
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (!f) {
		pbx_warning("playback: %s: %s", path, sf_strerror(NULL));
		return EINVAL;
	}
	if (info.channels < 1 || info.channels > 8 || info.samplerate < 1000 ||
	    info.samplerate > 192000 || info.frames < 0) {
		pbx_warning("playback: %s: %d channels at %d Hz: not playable", path, info.channels,
			    info.samplerate);
		err = EINVAL;
		goto out;
	}
	if (info.frames > (sf_count_t)info.samplerate * MAX_SECONDS) {
		err = EFBIG;
		goto out;
	}
	/* Both rates once: narrowband legs take 8 kHz by table, wideband ones
	 * 16 kHz, so a G.722 or Opus phone hears the prompt as recorded. */
	if ((err = decode_at(f, &info, 8000, &p8, &n8)) ||
	    (err = decode_at(f, &info, 16000, &p16, &n16)))
		goto out;
	struct pbx__sound *snd = malloc(sizeof *snd + (n8 + n16) * sizeof(int16_t));
	if (!snd) {
		err = ENOMEM;
		goto out;
	}
	snd->refs = 1;
	snd->n = n8;
	snd->n16 = n16;
	snd->pcm16 = snd->pcm + n8;
	memcpy(snd->pcm, p8, n8 * sizeof *p8);
	memcpy(snd->pcm16, p16, n16 * sizeof *p16);
	*sndp = snd;
out:
	free(p8);
	free(p16);
	sf_close(f);
	return err;
}

/* ---- cache and loading (signalling thread) --------------------------------------------------- */

static bool same_file(const struct entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	       e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void entry_free(struct entry *e)
{
	P.bytes -= (e->snd->n + e->snd->n16) * sizeof(int16_t);
	pbx__sound_unref(e->snd);
	free(e->path);
	free(e);
}

static void cache_remove(struct entry *e)
{
	for (struct entry **p = &P.cache; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			entry_free(e);
			return;
		}
}

/* Linear in the cache; it holds prompts, a few hundred at most. */
static void cache_trim(void)
{
	while (P.bytes > CACHE_BYTES) {
		struct entry *old = NULL;
		for (struct entry *e = P.cache; e; e = e->next)
			if (!old || e->used < old->used)
				old = e;
		if (!old)
			break;
		cache_remove(old);
	}
}

static void cache_add(const char *path, const struct stat *st, struct pbx__sound *snd)
{
	struct entry *e = calloc(1, sizeof *e);
	if (!e || !(e->path = strdup(path))) {
		free(e);
		return; /* not cached: played all the same */
	}
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	e->snd = snd;
	pbx__sound_ref(snd);
	e->used = ++P.clock;
	e->next = P.cache;
	P.cache = e;
	P.bytes += (snd->n + snd->n16) * sizeof(int16_t);
	cache_trim();
}

static void load_work(uv_work_t *req)
{
	struct load *l = req->data;
	l->err = pbx__sound_load(l->path, &l->snd);
}

static void load_done(uv_work_t *req, int status)
{
	struct load *l = req->data;
	for (struct load **p = &P.loads; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	P.nloads--;
	if (status == UV_ECANCELED && !l->err)
		l->err = ECANCELED;
	if (!l->err && pbx__media_running())
		cache_add(l->path, &l->st, l->snd);
	/* A callback below may start another playback: l is off the list already. */
	for (size_t i = 0; i < l->nwait; i++)
		pbx__media_play_ready(l->wait[i].id, l->wait[i].gen, l->snd, l->err);
	pbx__sound_unref(l->snd);
	free(l->wait);
	free(l->path);
	free(l);
}

static int add_waiter(struct load *l, uint32_t id, uint32_t gen)
{
	if (l->nwait == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct waiter *w = realloc(l->wait, cap * sizeof *w);
		if (!w)
			return ENOMEM;
		l->wait = w;
		l->cap = cap;
	}
	l->wait[l->nwait].id = id;
	l->wait[l->nwait].gen = gen;
	l->nwait++;
	return 0;
}

int pbx__play_request(uint32_t id, uint32_t gen, const char *path)
{
	struct stat st;
	int err = 0;
	/* One stat per playback on the signalling thread: metadata of a local
	 * file, in the kernel's cache after the first time. */
	if (stat(path, &st))
		return errno;
	if (!S_ISREG(st.st_mode))
		return EINVAL;
	for (struct entry *e = P.cache; e; e = e->next) {
		if (strcmp(e->path, path))
			continue;
		if (same_file(e, &st)) {
			e->used = ++P.clock;
			pbx__media_play_ready(id, gen, e->snd, 0);
			return 0;
		}
		cache_remove(e); /* changed on disk: load it again */
		break;
	}
	for (struct load *l = P.loads; l; l = l->next)
		if (!strcmp(l->path, path) && l->st.st_ino == st.st_ino &&
		    l->st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
		    l->st.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
			return add_waiter(l, id, gen);

	struct load *l = calloc(1, sizeof *l);
	if (!l)
		return ENOMEM;
	l->req.data = l;
	l->st = st;
	if (!(l->path = strdup(path)) || (err = add_waiter(l, id, gen)))
		goto fail;
	if ((err = uv_queue_work(pbx__media_loop(), &l->req, load_work, load_done))) {
		err = -err;
		goto fail;
	}
	l->next = P.loads;
	P.loads = l;
	P.nloads++;
	return 0;
fail:
	free(l->wait);
	free(l->path);
	free(l);
	return err ? err : ENOMEM;
}

void pbx__play_cache_flush(void)
{
	while (P.cache) {
		struct entry *e = P.cache;
		P.cache = e->next;
		entry_free(e);
	}
}

unsigned pbx__play_loading(void)
{
	return P.nloads;
}

/* ---- playing (worker) ------------------------------------------------------------------------ */

void pbx__play_start(struct pbx__sess *s, struct pbx__sound *snd, uint32_t gen)
{
	pbx__play_stop(s, -1); /* a newer playback replaces it without a word */
	s->play = snd;
	s->play_pos = 0;
	s->play_gen = gen;
	s->play_next_ms = uv_now(&s->w->loop);
	if (s->out.mode == PBX__OUT_LOCAL)
		s->out.mode = PBX__OUT_NONE; /* marker bit on its first packet */
	pbx__gens_update(s);
	pbx__play_tick(s, s->play_next_ms);
}

void pbx__play_stop(struct pbx__sess *s, int err)
{
	if (!s->play)
		return;
	pbx__sound_unref(s->play);
	s->play = NULL;
	if (s->out.mode == PBX__OUT_LOCAL && !pbx__dtmf_sending(s))
		s->out.mode = PBX__OUT_NONE;
	if (err >= 0)
		pbx__media_post(PBX__EV_PLAY_DONE, s->id, err, s->play_gen, 0);
	pbx__gens_update(s);
}

/* The next 20 ms of a leg whose codec is not G.711: through its encoder
 * (leg_frames.c), from the 16 kHz copy for a wideband codec. */
static void play_frame(struct pbx__sess *s, const struct pbx__sound *snd, uint64_t now)
{
	struct pbx_frame f;
	bool wide = s->codec->rate >= 16000;
	unsigned rate = wide ? 16000 : 8000;
	const int16_t *pcm = wide ? snd->pcm16 : snd->pcm;
	size_t n = wide ? snd->n16 : snd->n, pos = wide ? s->play_pos * 2 : s->play_pos;
	if (pbx_frame_init(&f, rate, PBX_FRAME_MS, 0))
		return;
	size_t left = pos < n ? n - pos : 0;
	size_t k = left < f.samples ? left : f.samples; /* the rest stays silent */
	memcpy(f.pcm, pcm + pos, k * sizeof *f.pcm);
	pbx__leg_send_frame(s, &f, now);
}

void pbx__play_tick(struct pbx__sess *s, uint64_t now)
{
	/* A worker that stalled catches up by at most 200 ms, then skips: a burst
	 * of old frames would only overflow the phone's jitter buffer. */
	if (now > s->play_next_ms + 200)
		s->play_next_ms = now;
	while (s->play && s->play_next_ms <= now) {
		const struct pbx__sound *snd = s->play;
		size_t n = s->spp, left = snd->n - s->play_pos;
		unsigned ms = s->ptime;
		if (s->law < 0) {
			/* Sounds are 8 kHz; the frame path resamples and encodes. */
			n = 8 * PBX_FRAME_MS;
			ms = PBX_FRAME_MS;
			if (s->can_send && !pbx__dtmf_sending(s))
				play_frame(s, snd, now);
		} else if (s->can_send && !pbx__dtmf_sending(s)) {
			uint8_t pkt[PBX__RTP_HDR + PBX__MAX_PTIME * 8];
			uint8_t *pl = pkt + PBX__RTP_HDR;
			size_t k = left < n ? left : n;
			pbx__g711_encode((enum pbx_codec)s->law, snd->pcm + s->play_pos, pl, k);
			if (k < n) /* the last frame is filled with silence */
				memset(pl + k, s->law == PBX_CODEC_PCMA ? 0xD5 : 0xFF, n - k);
			bool marker;
			uint32_t ts = pbx__out_local_ts(s, now, &marker);
			pbx__sess_send_local(s, s->pt, marker, ts, pkt, PBX__RTP_HDR + n);
		}
		s->play_pos += n;
		s->play_next_ms += ms;
		if (s->play_pos >= snd->n) {
			if (s->play_loop)
				s->play_pos = 0; /* hold music: again, without a gap */
			else
				pbx__play_stop(s, 0);
		}
	}
}

/* ---- tones (worker) -------------------------------------------------------------------------- */

void pbx__tone_set(struct pbx__sess *s, const struct pbx_tone_spec *spec)
{
	s->tone_on = spec && !pbx_tone_init(&s->tone, spec, 8000);
	s->tone_next_ms = uv_now(&s->w->loop);
	if (s->out.mode == PBX__OUT_LOCAL && !s->play && !pbx__dtmf_sending(s))
		s->out.mode = PBX__OUT_NONE; /* a new talk spurt: marker bit */
	pbx__gens_update(s);
}

/* 20 ms of the tone each 20 ms; a playback or a key being sent has the stream meanwhile. */
void pbx__tone_tick(struct pbx__sess *s, uint64_t now)
{
	if (now > s->tone_next_ms + 200)
		s->tone_next_ms = now;
	while (s->tone_on && s->tone_next_ms <= now) {
		struct pbx_frame f;
		bool more = pbx_tone_next(&s->tone, &f, PBX_FRAME_MS);
		if (s->can_send && !s->play && !pbx__dtmf_sending(s))
			pbx__leg_send_frame(s, &f, now);
		s->tone_next_ms += PBX_FRAME_MS;
		if (!more)
			pbx__tone_set(s, NULL);
	}
}
