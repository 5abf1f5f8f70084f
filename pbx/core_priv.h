/**
 * @file core_priv.h  Core-internal entry points (not for modules)
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PBX_CORE_PRIV_H
#define PBX_CORE_PRIV_H

#include <stdbool.h>

struct pbx_config;
struct pbx_buf;

/** Run the server until it stops; takes ownership of @p cfg. Exit status. */
int pbx__core_run(struct pbx_config *cfg, bool foreground);

/** Console socket path for @p cfg into @p buf. */
void pbx__console_path(const struct pbx_config *cfg, char *buf, size_t len);
int pbx__console_start(const char *path);
void pbx__console_stop(void);
unsigned pbx__console_count(void);

/**
 * Client side: run @p cmd (or an interactive session when NULL) against the
 * console socket at @p path. Returns the exit status.
 */
int pbx__console_client(const char *path, const char *cmd);

/** Create @p dir and parents; check it is a writable directory. 0 or errno; *what names the failing step. */
int pbx__mkdir_writable(const char *dir, const char **what);

/** Does the loaded dialplan have @p exten in @p context? */
bool pbx__dialplan_exists(const char *context, const char *exten);
/** Hang up every channel (at stop). */
void pbx__chan_hangup_all(int cause);

#endif
