/**
 * @file media_loop.h  Driving the signalling loop in media unit tests: the clock and a pump
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The media tests run the engine in-process and turn the signalling loop
 * themselves, between sending and reading their loopback "phones".
 */
#ifndef MEDIA_LOOP_H
#define MEDIA_LOOP_H

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../../pbx/media_priv.h"

static inline uint64_t unit_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run @p loop until the monotonic clock reaches @p end_ms, at least once. */
static inline void unit_pump_until(uv_loop_t *loop, uint64_t end_ms)
{
	do {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	} while (unit_now_ms() < end_ms);
}

static inline void unit_pump(uv_loop_t *loop, int ms)
{
	unit_pump_until(loop, unit_now_ms() + (uint64_t)ms);
}

/*
 * Start the engine on @p loop with two workers, RTP ports @p port_min to
 * @p port_max, a no-RTP timeout of @p timeout seconds (0: none) and strict
 * RTP, the config kept in *@p cfg. 0 or errno.
 */
static inline int unit_media_start(uv_loop_t *loop, struct pbx_media_cfg *cfg, int port_min,
				   int port_max, int timeout)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->workers = 2;
	cfg->port_min = port_min;
	cfg->port_max = port_max;
	cfg->timeout = timeout;
	cfg->strict_rtp = true; /* as shipped */
	if (uv_loop_init(loop))
		return -1;
	return pbx__media_start_with(cfg, loop);
}

/* Stop the engine and close @p loop once its last handles are closed. */
static inline int unit_media_stop(uv_loop_t *loop)
{
	pbx_media_stop();
	uv_run(loop, UV_RUN_DEFAULT);
	return uv_loop_close(loop);
}

#endif
