/**
 * @file media_config.c  The media engine's config section: rtp.*
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include "pbx/config.h"
#include "pbx/media.h"

#define OFF(f) PBX_CFG_OFF(struct pbx_media_cfg, f)

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
