/**
 * @file codec.c  The codec registry (descriptors in a linker section) and coders
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A coder is the descriptor plus its private state in one allocation, made
 * when a stream starts, never per packet.
 */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "pbx/codec.h"

/* Bounds of the "pbx_codecs" linker section; weak so a build without any links. */
extern const struct pbx_codec_desc *const __start_pbx_codecs[] __attribute__((weak));
extern const struct pbx_codec_desc *const __stop_pbx_codecs[] __attribute__((weak));

struct pbx_coder {
	const struct pbx_codec_desc *codec;
	bool encoder;
	unsigned rate; /* of the PCM in or out */
	_Alignas(max_align_t) unsigned char state[];
};

int pbx_codec_each(int (*cb)(const struct pbx_codec_desc *c, void *arg), void *arg)
{
	// cppcheck-suppress comparePointers
	for (const struct pbx_codec_desc *const *p = __start_pbx_codecs; p < __stop_pbx_codecs;
	     p++) {
		int r = cb(*p, arg);
		if (r)
			return r;
	}
	return 0;
}

struct find {
	const char *name;
	int pt;
	const struct pbx_codec_desc *found;
};

static int find_cb(const struct pbx_codec_desc *c, void *arg)
{
	struct find *f = arg;
	if (f->name ? !strcasecmp(c->name, f->name) : c->static_pt >= 0 && c->static_pt == f->pt)
		f->found = c;
	return f->found != NULL;
}

const struct pbx_codec_desc *pbx_codec_find(const char *name)
{
	struct find f = {.name = name};
	pbx_codec_each(find_cb, &f);
	return f.found;
}

const struct pbx_codec_desc *pbx_codec_find_pt(int pt)
{
	struct find f = {.pt = pt};
	pbx_codec_each(find_cb, &f);
	return f.found;
}

bool pbx_codec_has_rate(const struct pbx_codec_desc *codec, unsigned rate)
{
	if (rate == codec->rate)
		return true;
	for (const unsigned *r = codec->rates; r && *r; r++)
		if (*r == rate)
			return true;
	return false;
}

int pbx_coder_alloc_rate(struct pbx_coder **cp, const struct pbx_codec_desc *codec, bool encoder,
			 unsigned rate)
{
	int err;
	*cp = NULL;
	if (!pbx_codec_has_rate(codec, rate))
		return EINVAL;
	struct pbx_coder *c = calloc(1, sizeof *c + codec->state_size);
	if (!c)
		return ENOMEM;
	c->codec = codec;
	c->encoder = encoder;
	c->rate = rate;
	if (codec->init && (err = codec->init(c->state, encoder, rate))) {
		free(c);
		return err;
	}
	*cp = c;
	return 0;
}

int pbx_coder_alloc(struct pbx_coder **cp, const struct pbx_codec_desc *codec, bool encoder)
{
	return pbx_coder_alloc_rate(cp, codec, encoder, codec->rate);
}

unsigned pbx_coder_rate(const struct pbx_coder *c)
{
	return c->rate;
}

void pbx_coder_free(struct pbx_coder *c)
{
	if (!c)
		return;
	if (c->codec->fini)
		c->codec->fini(c->state);
	free(c);
}

const struct pbx_codec_desc *pbx_coder_codec(const struct pbx_coder *c)
{
	return c->codec;
}

int pbx_coder_encode(struct pbx_coder *c, const int16_t *pcm, size_t n, uint8_t *out, size_t max)
{
	if (!c->encoder)
		return -EINVAL;
	return c->codec->encode(c->state, pcm, n, out, max);
}

int pbx_coder_fmtp(struct pbx_coder *c, const char *fmtp)
{
	if (!c->encoder)
		return EINVAL;
	return c->codec->fmtp_in && fmtp && *fmtp ? c->codec->fmtp_in(c->state, fmtp) : 0;
}

void pbx_coder_source_rate(struct pbx_coder *c, unsigned rate)
{
	if (c->encoder && c->codec->source_rate)
		c->codec->source_rate(c->state, rate);
}

int pbx_coder_decode(struct pbx_coder *c, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	if (c->encoder)
		return -EINVAL;
	return c->codec->decode(c->state, in, len, pcm, max);
}
