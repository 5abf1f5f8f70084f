/**
 * @file media_config.c  The media engine's config section: rtp.*
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>

#include "pbx/codec.h"
#include "pbx/config.h"
#include "pbx/media.h"

#define OFF(f) PBX_CFG_OFF(struct pbx_media_cfg, f)

/* "unknown codec (known: PCMU, PCMA, ...)" into a buffer, one registered codec at a time. */
struct known {
	char *buf;
	size_t size, len;
};

static int known_cb(const struct pbx_codec_desc *c, void *arg)
{
	struct known *k = arg;
	int n = snprintf(k->buf + k->len, k->size - k->len, "%s%s", k->len ? ", " : "", c->name);
	if (n < 0 || (size_t)n >= k->size - k->len)
		return 1; /* cut short: the reason is still readable */
	k->len += (size_t)n;
	return 0;
}

/*
 * Each name is resolved to its registered descriptor here, once, so the SIP
 * driver never looks a codec up by name while a call waits. The reason for
 * an unknown name lists the codecs this build has, in a static buffer: the
 * loader shows it at once, on the one thread that loads.
 */
static int codec_item(void *sect, int i, const char *text, const char **why)
{
	static char reason[160];
	struct pbx_media_cfg *c = sect;
	const struct pbx_codec_desc *d = pbx_codec_find(text);
	if (!d) {
		char names[128] = "";
		struct known k = {names, sizeof names, 0};
		pbx_codec_each(known_cb, &k);
		snprintf(reason, sizeof reason, "unknown codec (known: %s)", names);
		*why = reason;
		return EINVAL;
	}
	for (int j = 0; j < i; j++)
		if (c->codecs[j] == d) {
			*why = "listed twice";
			return EINVAL;
		}
	c->codecs[i] = d;
	c->n_codecs = i + 1;
	return 0;
}

/* Opus and G.722 first for the quality, G.711 for every phone that has only it. */
static const char *const default_codecs[] = {"opus", "g722", "pcmu", "pcma", NULL};

static const struct pbx_cfg_key keys[] = {
	{.name = "port_min",
	 .type = PBX_CFG_INT,
	 .off = OFF(port_min),
	 .def = "10000",
	 .min = 1024,
	 .max = 65535,
	 .help = "first RTP port"},
	{.name = "port_max",
	 .type = PBX_CFG_INT,
	 .off = OFF(port_max),
	 .def = "20000",
	 .min = 1024,
	 .max = 65535,
	 .help = "last RTP port"},
	{.name = "srtp",
	 .type = PBX_CFG_ENUM,
	 .off = OFF(srtp),
	 .def = "optional",
	 .choices = pbx_srtp_policy_names,
	 .help = "default SRTP policy of new users: off, optional or mandatory"},
	{.name = "timeout",
	 .type = PBX_CFG_INT,
	 .off = OFF(timeout),
	 .def = "30",
	 .min = 0,
	 .max = 3600,
	 .help = "hang up after this many seconds without RTP; 0 = never"},
	{.name = "strict_rtp",
	 .type = PBX_CFG_BOOL,
	 .off = OFF(strict_rtp),
	 .def = "true",
	 .help = "drop RTP from a source other than the latched one until it takes over "
		 "(4 packets in a row, the latched one quiet); false: any new source at once"},
	{.name = "codecs",
	 .type = PBX_CFG_LIST,
	 .off = OFF(codecs),
	 .min = 1,
	 .max = PBX_MEDIA_MAX_CODECS,
	 .item = codec_item,
	 .list_def = default_codecs,
	 .list_of = "codec names like \"opus\" or \"pcmu\"",
	 .list_noun = "codec",
	 .help = "codecs offered and accepted over SIP, best first: opus, g722, pcmu, pcma"},
	{0},
};

static int check(void *sect, struct pbx_cfg_err *e)
{
	const struct pbx_media_cfg *c = sect;
	char v[32];
	snprintf(v, sizeof v, "%d", c->port_max);
	if (c->port_min >= c->port_max)
		return pbx_cfg_error(e, "port_max", v, "must be greater than rtp.port_min");
	/* One call needs an RTP/RTCP pair per leg. */
	if (c->port_max - c->port_min < 3)
		return pbx_cfg_error(e, "port_max", v, "range too small for one call");
	return 0;
}

PBX_CONFIG_SECTION(media_section) = {
	.name = "rtp",
	.module = "media",
	.order = 20,
	.size = sizeof(struct pbx_media_cfg),
	.keys = keys,
	.check = check,
	.help = "media engine",
};

const struct pbx_media_cfg *pbx_media_config(const struct pbx_config *cfg)
{
	return pbx_config_get(cfg, &media_section);
}

const struct pbx_codec_desc *const *pbx_media_codecs(const struct pbx_config *cfg, size_t *n)
{
	const struct pbx_media_cfg *c = pbx_media_config(cfg);
	*n = (size_t)c->n_codecs;
	return c->codecs;
}
