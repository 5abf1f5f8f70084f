/**
 * @file core_config.c  The core's config section: pbx.*
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "pbx/config.h"
#include "pbx/log.h"

#define OFF(f) PBX_CFG_OFF(struct pbx_core_cfg, f)

static const struct pbx_cfg_key keys[] = {
	{.name = "state_dir",
	 .type = PBX_CFG_PATH,
	 .off = OFF(state_dir),
	 .def = "var",
	 .help = "directory for pbx.db, voicemail/, run/pbx.ctl"},
	{.name = "log_level",
	 .type = PBX_CFG_ENUM,
	 .off = OFF(log_level),
	 .def = "notice",
	 .choices = pbx_log_level_names,
	 .help = "error, warning, notice, info or debug"},
	{.name = "log_file",
	 .type = PBX_CFG_PATH,
	 .off = OFF(log_file),
	 .help = "also log to this file"},
	{.name = "media_workers",
	 .type = PBX_CFG_INT,
	 .off = OFF(media_workers),
	 .def = "0",
	 .min = 0,
	 .max = 64,
	 .help = "media threads; 0 = one per core"},
	{.name = "sounds_dir",
	 .type = PBX_CFG_PATH,
	 .off = OFF(sounds_dir),
	 .def = PBX_SOUNDS_DIR,
	 .help = "prompts, and moh/CLASS/ folders of hold music; default: the source tree's "
		 "sounds/"},
	{.name = "stop_timeout",
	 .type = PBX_CFG_INT,
	 .off = OFF(stop_timeout),
	 .def = "600",
	 .min = 0,
	 .max = 86400,
	 .help = "seconds 'core stop gracefully' waits for calls to end before it ends them; "
		 "0 = no limit"},
	{0},
};

PBX_CONFIG_SECTION(core_section) = {
	.name = "pbx",
	.module = "core",
	.order = 0,
	.size = sizeof(struct pbx_core_cfg),
	.keys = keys,
	.help = "core settings",
};

const struct pbx_core_cfg *pbx_config_core(const struct pbx_config *cfg)
{
	return pbx_config_get(cfg, &core_section);
}
