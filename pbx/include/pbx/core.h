/**
 * @file core.h  The running PBX: event loop, configuration, directory, stop
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Everything here belongs to the signalling thread.
 */
#ifndef PBX_CORE_H
#define PBX_CORE_H

#include <stdbool.h>
#include <time.h>
#include <uv.h>

struct pbx_config;
struct pbx_dir;

uv_loop_t *pbx_loop(void);
const struct pbx_config *pbx_cfg(void);
/** pbx.sounds_dir: prompts, and moh/CLASS/ hold music (the built-in default before a config). */
const char *pbx_sounds_dir(void);
struct pbx_dir *pbx_dir(void);
time_t pbx_start_time(void);

/**
 * Ask the PBX to stop. Now: at the next loop turn, every call ended.
 * Gracefully: once no call is up (see pbx_core_set_busy_probe), or after
 * pbx.stop_timeout seconds, when the calls still up are ended as by a stop
 * now; new calls are refused meanwhile.
 */
void pbx_stop(bool graceful);
/**
 * Stop gracefully, ending the calls still up after @p timeout_s seconds
 * (0: wait without limit). A later call sets a new limit from now; a stop
 * now always wins. Returns the seconds granted (0: no limit), or -1 when
 * a stop now is already under way (nothing changes).
 */
int pbx_stop_within(unsigned timeout_s);
bool pbx_stopping(void);

/**
 * The realm of the directory's password hashes (HA1 = H(ext:realm:pw)).
 * The driver that authenticates users sets it at load (SIP: sip.domain);
 * the console's `user passwd` hashes for it. "" until set.
 */
void pbx_auth_realm_set(const char *realm);
const char *pbx_auth_realm(void);

/** Reports how many calls are up, for graceful stop; set by the channel core. */
typedef unsigned pbx_busy_probe_h(void);
void pbx_core_set_busy_probe(pbx_busy_probe_h *probe);

#endif
