/**
 * @file recorder.h  Recording frames to a WAV file without blocking the media worker
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The worker hands frames over as they come (a copy into a one-second
 * block, no system call); full blocks are written by libuv's thread pool,
 * one job at a time, so the file grows in order. The file is written
 * under a temporary name (PATH.part), and on close it is flushed, fsynced
 * and renamed, then the folder fsynced: a crash leaves either no file or
 * the whole recording, never a truncated one under the real name.
 *
 * A recorder belongs to the loop it was opened on (a media worker's, or
 * the signalling loop in tests); every call and the done callback happen
 * on that loop's thread.
 */
#ifndef PBX_RECORDER_H
#define PBX_RECORDER_H

#include <stdbool.h>
#include <uv.h>

#include "pbx/frame.h"

struct pbx_recorder;

/**
 * The recording is over: @p err 0 and the file at @p path holding
 * @p seconds of audio, or an errno (the file could not be made, written or
 * renamed; nothing is left under @p path). Called once, on the loop.
 */
typedef void pbx_recorder_done_h(int err, const char *path, double seconds, void *arg);

/**
 * Start recording mono 16-bit WAV at @p rate to @p path (its folder must
 * exist). The file is created in the thread pool; an error comes to
 * @p done at close. 0, EINVAL (rate) or ENOMEM.
 */
int pbx_recorder_open(struct pbx_recorder **rp, uv_loop_t *loop, const char *path, unsigned rate,
		      pbx_recorder_done_h *done, void *arg);

/** Append a frame (its rate must be the recorder's). 0, EINVAL, ENOMEM, or the write error so far. */
int pbx_recorder_write(struct pbx_recorder *r, const struct pbx_frame *f);

/**
 * Finish: keep the file (@p keep) or remove it (a message too short to
 * keep). The recorder frees itself after calling done; @p r must not be
 * used after this call.
 */
void pbx_recorder_close(struct pbx_recorder *r, bool keep);

#endif
