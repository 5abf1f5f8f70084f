/**
 * @file recorder.h  Recording frames to a WAV file without blocking the media worker
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The worker hands frames over as they come (a copy into a one-second
 * block, no system call); full blocks are written by libuv's thread pool,
 * one job at a time, so the file grows in order. The file is written
 * under a temporary name (PATH.part), and on close it is flushed, fsynced
 * and renamed, then the folder fsynced: a crash leaves either no file or
 * the whole recording, never a truncated one under the real name (the
 * next start may keep the PATH.part under another: pbx_recorder_recover).
 *
 * A recorder belongs to the loop it was opened on (a media worker's, or
 * the signalling loop in tests); every call and the done callback happen
 * on that loop's thread.
 */
#ifndef PBX_RECORDER_H
#define PBX_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
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
 * Keep only the first @p samples of what was written when the file is
 * closed (a recording that ended on silence drops that silence). The
 * done callback's length follows. No effect when fewer were written.
 */
void pbx_recorder_truncate(struct pbx_recorder *r, uint64_t samples);

/**
 * Finish: keep the file (@p keep) or remove it (a message too short to
 * keep). The recorder frees itself after calling done; @p r must not be
 * used after this call.
 */
void pbx_recorder_close(struct pbx_recorder *r, bool keep);

/**
 * Finish what a kill -9 left in @p dir (not its subfolders): each NAME.part
 * whose WAV header can be mended (its sizes set from the file's length,
 * cut to whole samples) becomes NAME-interrupted.wav (NAME without .wav;
 * -interrupted-2.wav... when taken), so that a call's recording is kept
 * but never looks complete; one without audio is removed. Each file is
 * logged. Blocking (reads the folder, fsyncs): for start-up, before any
 * recording runs. Returns how many files were kept or removed.
 */
int pbx_recorder_recover(const char *dir);

/**
 * How long the thread pool keeps recordings waiting, summed over every
 * recorder in the process since the start or the last reset (for `make
 * bench` and diagnostics). A block's wait runs from the moment the loop
 * lets go of it (full, or the open block at close) until its write has
 * returned: the time queued behind this recorder's running job and other
 * thread-pool work, the file's creation for the first block, and the
 * write itself (into the page cache; the disk is fsync's business). A
 * close is the run of the last job: the last blocks' writes (and the
 * file's creation when the recording was shorter than a block), the WAV
 * header, fsync, rename and the folder's fsync; its wait in the queue is
 * not in it. Microseconds.
 */
struct pbx_recorder_stats {
	uint64_t blocks;            /* blocks written */
	uint64_t block_wait_us;     /* their waits, summed */
	uint64_t block_wait_max_us; /* the longest */
	uint64_t closes;            /* last jobs run, kept or discarded, failed or not */
	uint64_t close_us;          /* their run times, summed */
	uint64_t close_max_us;      /* the longest */
};

/**
 * Read the counters, each atomically (a write finishing meanwhile may
 * show in one counter and not yet in another). Any thread.
 */
void pbx_recorder_get_stats(struct pbx_recorder_stats *st);
/** Zero the counters. Any thread; a job that runs across it may count on either side. */
void pbx_recorder_reset_stats(void);

#endif
