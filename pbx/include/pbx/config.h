/**
 * @file config.h  The PBX configuration (a Lua file): sections that modules register
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The file is one Lua chunk whose top-level tables are sections: `pbx`,
 * `sip`, `rtp`, `dialplan`, ... Each section belongs to one module, which
 * declares it with PBX_CONFIG_SECTION(): its keys (type, default, limits,
 * help) and an optional check across keys. The core loads and validates
 * every section the same way before any module starts, so a module that
 * adds a key touches only its own file, and a mistake anywhere stops the
 * PBX with one line "FILE: KEY: 'VALUE': reason".
 *
 * Paths are relative to the config file's folder, not to the working
 * directory: `-c /etc/pbx/pbx.lua` with `file = "extensions.lua"` reads
 * /etc/pbx/extensions.lua wherever the PBX was started from.
 */
#ifndef PBX_CONFIG_H
#define PBX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "pbx/buf.h"

struct pbx_config;
struct pbx_cfg_err;

enum pbx_cfg_type {
	PBX_CFG_TABLE,  /* a sub-table: its keys are named "name.sub" */
	PBX_CFG_STRING, /* char *, not empty */
	PBX_CFG_PATH,   /* char *, resolved against the config file's folder */
	PBX_CFG_INT,    /* int within min..max */
	PBX_CFG_BOOL,   /* bool */
	PBX_CFG_ENUM,   /* int: the index of the value in choices */
	PBX_CFG_LIST,   /* a Lua list of strings, each handed to item() */
};

/**
 * Store item @p i (from 0) of a list key, given as @p text, into the
 * section's struct @p sect. Items arrive in order, so a check against the
 * earlier ones ("listed twice") is possible. 0, or EINVAL with *why set.
 */
typedef int pbx_cfg_item_h(void *sect, int i, const char *text, const char **why);

/**
 * Checks across the keys of a section, once all are stored. Report a
 * fault with pbx_cfg_error() and return its value.
 */
typedef int pbx_cfg_check_h(void *sect, struct pbx_cfg_err *e);

struct pbx_cfg_key {
	const char *name; /* "domain"; "tls.cert" for a key of sub-table "tls" */
	enum pbx_cfg_type type;
	size_t off;                  /* of the value in the section's struct */
	const char *def;             /* default as text; NULL: none (the value stays 0/NULL) */
	long min, max;               /* INT: the range; LIST: item count, max 0 = no limit */
	const char *const *choices;  /* ENUM: NULL-terminated */
	pbx_cfg_item_h *item;        /* LIST */
	const char *const *list_def; /* LIST: default items, NULL-terminated (NULL: empty) */
	const char *list_of;         /* LIST: what an item is, for errors ("strings like ...") */
	const char *list_noun;       /* LIST: one item, for "must list at least one address" */
	const char *help;            /* one line for `core show settings` and README */
	bool secret;                 /* STRING: `core show settings` hides the value */
};

struct pbx_cfg_section {
	const char *name;               /* the top-level table: "sip" */
	const char *module;             /* who owns it, named in errors: "sip" */
	int order;                      /* `core show settings` lists lower first */
	size_t size;                    /* of the struct the keys point into */
	const struct pbx_cfg_key *keys; /* terminated by a key with a NULL name */
	pbx_cfg_check_h *check;         /* may be NULL */
	const char *help;               /* one line about the section */
};

/** Declare a section; the descriptor lands in a linker section the loader walks. */
#define PBX_CONFIG_SECTION(var)                                                                \
	static const struct pbx_cfg_section var;                                               \
	__attribute__((used, section("pbx_cfg_sections"))) static const struct pbx_cfg_section \
		*const var##_ptr = &var;                                                       \
	static const struct pbx_cfg_section var

#define PBX_CFG_OFF(type, field) offsetof(type, field)

/**
 * Load and validate @p file. On error returns errno-style non-zero and puts
 * one line "FILE: KEY: 'VALUE': reason" in @p err; *cfgp is untouched.
 */
int pbx_config_load(struct pbx_config **cfgp, const char *file, struct pbx_buf *err);
void pbx_config_free(struct pbx_config *cfg);
/** Every key of every section with its value in force, in Lua syntax, with its help. */
void pbx_config_dump(const struct pbx_config *cfg, struct pbx_buf *out);
/** The file as given on the command line. */
const char *pbx_config_file(const struct pbx_config *cfg);

/**
 * The struct of section @p sec (defaults filled in), owned by @p cfg.
 * Never NULL for a section linked into the binary.
 */
const void *pbx_config_get(const struct pbx_config *cfg, const struct pbx_cfg_section *sec);

/** Whether key @p key of section @p sec was written in the file (not a default). */
bool pbx_config_is_set(const struct pbx_config *cfg, const struct pbx_cfg_section *sec,
		       const char *key);

/**
 * From a check callback: the fault of key @p key (relative to the section,
 * "port_max"), with the value shown (NULL: none) and the reason. Returns
 * EINVAL.
 */
int pbx_cfg_error(struct pbx_cfg_err *e, const char *key, const char *value, const char *why);

/* ---- the core's own section: pbx ------------------------------------------------------- */

struct pbx_core_cfg {
	char *state_dir;
	int log_level;     /* enum pbx_log_level */
	char *log_file;    /* NULL: stderr only (or STATE_DIR/pbx.log in the background) */
	int media_workers; /* 0: one per core */
	char *sounds_dir;  /* prompts and sounds/moh/<class>/ hold music */
	int stop_timeout;  /* seconds a graceful stop waits for calls; 0: no limit */
};

const struct pbx_core_cfg *pbx_config_core(const struct pbx_config *cfg);

/* ---- SRTP policy names (rtp.srtp, user srtp) ------------------------------------------- */

enum pbx_srtp_policy { PBX_SRTP_OFF, PBX_SRTP_OPTIONAL, PBX_SRTP_MANDATORY };

const char *pbx_srtp_policy_name(int policy);
int pbx_srtp_policy_parse(const char *name);      /* -1 if unknown */
extern const char *const pbx_srtp_policy_names[]; /* NULL-terminated, for ENUM keys */

#endif
