/**
 * @file recorder.c  WAV recording through libsndfile on the thread pool
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Blocks of one second (32 KiB at 16 kHz) are filled on the loop and
 * written by a thread-pool job. At most one job runs per recorder: the
 * job owns the blocks handed to it and the file handle; the loop owns the
 * rest. A recording costs its open block plus whatever the disk has not
 * taken yet; a disk that stalls grows the queue by one block a second.
 *
 * The write latencies (pbx_recorder_get_stats) are process-wide counters
 * updated with relaxed atomics: one clock read per block on the loop, one
 * per block and two per close in the job, nothing shared under a lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/log.h"
#include "pbx/recorder.h"

struct block {
	struct block *next;
	uint64_t handed_ns; /* uv_hrtime when the loop let go of it (full, or at close) */
	size_t n;           /* samples used */
	int16_t pcm[];
};

/* Of every recorder in the process; see pbx_recorder_stats. */
static struct pbx_recorder_stats stats;

static void stat_max(uint64_t *max, uint64_t v)
{
	uint64_t cur = __atomic_load_n(max, __ATOMIC_RELAXED);
	while (v > cur &&
	       !__atomic_compare_exchange_n(max, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void stat_add(uint64_t *count, uint64_t *sum, uint64_t *max, uint64_t us)
{
	__atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(sum, us, __ATOMIC_RELAXED);
	stat_max(max, us);
}

void pbx_recorder_get_stats(struct pbx_recorder_stats *st)
{
	st->blocks = __atomic_load_n(&stats.blocks, __ATOMIC_RELAXED);
	st->block_wait_us = __atomic_load_n(&stats.block_wait_us, __ATOMIC_RELAXED);
	st->block_wait_max_us = __atomic_load_n(&stats.block_wait_max_us, __ATOMIC_RELAXED);
	st->closes = __atomic_load_n(&stats.closes, __ATOMIC_RELAXED);
	st->close_us = __atomic_load_n(&stats.close_us, __ATOMIC_RELAXED);
	st->close_max_us = __atomic_load_n(&stats.close_max_us, __ATOMIC_RELAXED);
}

void pbx_recorder_reset_stats(void)
{
	uint64_t *all[] = {&stats.blocks, &stats.block_wait_us, &stats.block_wait_max_us,
			   &stats.closes, &stats.close_us,      &stats.close_max_us};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		__atomic_store_n(all[i], 0, __ATOMIC_RELAXED);
}

struct pbx_recorder {
	uv_loop_t *loop;
	uv_work_t work;
	char path[PATH_MAX];
	char tmp[PATH_MAX + 8];
	unsigned rate;
	size_t block_samples;
	pbx_recorder_done_h *done;
	void *arg;
	/* Loop side. */
	struct block *cur;          /* being filled */
	struct block *full, **tail; /* filled, waiting for a job */
	bool busy;                  /* a job is running */
	bool closing, keep;
	uint64_t samples;
	uint64_t keep_samples; /* at close, cut the file to this many; UINT64_MAX: all */
	int err;               /* the first error a job met, as the loop knows it */
	/* Job side (only while busy). */
	struct block *job_blocks;
	int job_err; /* err when the job started, then the job's own */
	bool job_final;
	int fd;
	SNDFILE *sf;
};

static void start_job(struct pbx_recorder *r);

static struct block *block_new(const struct pbx_recorder *r)
{
	struct block *b = malloc(sizeof *b + r->block_samples * sizeof *b->pcm);
	if (b) {
		b->next = NULL;
		b->n = 0;
	}
	return b;
}

static void free_blocks(struct block *b)
{
	while (b) {
		struct block *next = b->next;
		free(b);
		b = next;
	}
}

/* In the thread pool. */
static void job_run(uv_work_t *w)
{
	struct pbx_recorder *r = w->data;
	uint64_t t0 = uv_hrtime();
	int err = r->job_err;
	if (!err && !r->sf) {
		r->fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (r->fd < 0) {
			err = errno;
		} else {
			SF_INFO info = {.samplerate = (int)r->rate,
					.channels = 1,
					.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
			r->sf = sf_open_fd(r->fd, SFM_WRITE, &info, 0);
			if (!r->sf)
				err = EIO;
		}
	}
	for (struct block *b = r->job_blocks; b && !err; b = b->next) {
		errno = 0; /* a short write leaves the system's reason (ENOSPC) here */
		if (sf_write_short(r->sf, b->pcm, (sf_count_t)b->n) != (sf_count_t)b->n)
			err = errno ? errno : EIO;
		else
			stat_add(&stats.blocks, &stats.block_wait_us, &stats.block_wait_max_us,
				 (uv_hrtime() - b->handed_ns) / 1000);
	}
	if (r->job_final) {
		sf_count_t frames = (sf_count_t)r->keep_samples;
		if (r->sf && !err && r->keep_samples != UINT64_MAX &&
		    sf_command(r->sf, SFC_FILE_TRUNCATE, &frames, sizeof frames))
			err = EIO;
		if (r->sf && sf_close(r->sf) && !err)
			err = EIO;
		r->sf = NULL;
		if (r->fd >= 0) {
			if (!err && r->keep && fsync(r->fd))
				err = errno;
			close(r->fd);
			r->fd = -1;
		}
		if (!err && r->keep) {
			if (rename(r->tmp, r->path))
				err = errno;
			else
				err = pbx__fsync_dir_of(r->path);
		}
		if (err || !r->keep)
			unlink(r->tmp);
		stat_add(&stats.closes, &stats.close_us, &stats.close_max_us,
			 (uv_hrtime() - t0) / 1000);
	}
	r->job_err = err;
}

/* Back on the loop. */
static void job_done(uv_work_t *w, int status)
{
	struct pbx_recorder *r = w->data;
	free_blocks(r->job_blocks);
	r->job_blocks = NULL;
	r->err = r->job_err;
	r->busy = false;
	if (r->job_final) {
		if (r->done)
			r->done(r->err, r->path, r->rate ? (double)r->samples / r->rate : 0,
				r->arg);
		free(r);
		return;
	}
	(void)status;
	if (r->full || r->closing)
		start_job(r);
}

static void start_job(struct pbx_recorder *r)
{
	if (r->busy)
		return;
	if (r->closing) {
		/* The last job takes the open block too, and closes. */
		if (r->cur && r->cur->n) {
			r->cur->handed_ns = uv_hrtime();
			*r->tail = r->cur;
			r->tail = &r->cur->next;
		} else {
			free(r->cur);
		}
		r->cur = NULL;
		r->job_final = true;
	}
	r->job_blocks = r->full;
	r->full = NULL;
	r->tail = &r->full;
	r->busy = true;
	r->job_err = r->err;
	r->work.data = r;
	if (uv_queue_work(r->loop, &r->work, job_run, job_done)) {
		/* Cannot happen with a valid loop; fail the recording rather than leak. */
		r->job_err = EIO;
		job_run(&r->work);
		job_done(&r->work, 0);
	}
}

int pbx_recorder_open(struct pbx_recorder **rp, uv_loop_t *loop, const char *path, unsigned rate,
		      pbx_recorder_done_h *done, void *arg)
{
	struct pbx_recorder *r;
	*rp = NULL;
	if (!pbx_frame_rate_ok(rate) || strlen(path) >= PATH_MAX)
		return EINVAL;
	if (!(r = calloc(1, sizeof *r)))
		return ENOMEM;
	r->loop = loop;
	snprintf(r->path, sizeof r->path, "%s", path);
	snprintf(r->tmp, sizeof r->tmp, "%s.part", path);
	r->rate = rate;
	r->block_samples = rate; /* one second */
	r->done = done;
	r->arg = arg;
	r->tail = &r->full;
	r->fd = -1;
	r->keep_samples = UINT64_MAX;
	*rp = r;
	return 0;
}

int pbx_recorder_write(struct pbx_recorder *r, const struct pbx_frame *f)
{
	if (f->rate != r->rate || r->closing)
		return EINVAL;
	if (r->err)
		return r->err;
	for (unsigned i = 0; i < f->samples;) {
		if (!r->cur && !(r->cur = block_new(r)))
			return ENOMEM;
		size_t room = r->block_samples - r->cur->n;
		size_t take = f->samples - i < room ? f->samples - i : room;
		memcpy(r->cur->pcm + r->cur->n, f->pcm + i, take * sizeof *f->pcm);
		r->cur->n += take;
		i += (unsigned)take;
		if (r->cur->n == r->block_samples) {
			r->cur->handed_ns = uv_hrtime();
			*r->tail = r->cur;
			r->tail = &r->cur->next;
			r->cur = NULL;
			start_job(r);
		}
	}
	r->samples += f->samples;
	return 0;
}

void pbx_recorder_truncate(struct pbx_recorder *r, uint64_t samples)
{
	if (samples < r->samples) {
		r->keep_samples = samples;
		r->samples = samples;
	}
}

void pbx_recorder_close(struct pbx_recorder *r, bool keep)
{
	r->closing = true;
	r->keep = keep;
	start_job(r); /* now, or when the running job comes back */
}

/* ---- recovery after a kill ------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int put_le32(int fd, off_t at, uint64_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	return pwrite(fd, b, 4, at) == 4 ? 0 : errno ? errno : EIO;
}

/*
 * Set the RIFF and data sizes of the WAV in @p fd from its length (libsndfile
 * writes them only at close). The chunks before "data" are walked, not
 * assumed: their sizes were final when written. EBADMSG when there is no
 * header or no data chunk; *bytes the audio kept, *rate its sample rate.
 */
static int wav_mend(int fd, uint64_t *bytes, unsigned *rate)
{
	struct stat st;
	unsigned char h[12];
	*bytes = 0;
	if (fstat(fd, &st))
		return errno;
	if (st.st_size < 12 || pread(fd, h, 12, 0) != 12 || memcmp(h, "RIFF", 4) ||
	    memcmp(h + 8, "WAVE", 4))
		return EBADMSG;
	for (uint64_t pos = 12; pos + 8 <= (uint64_t)st.st_size;) {
		unsigned char c[8];
		if (pread(fd, c, 8, (off_t)pos) != 8)
			return EIO;
		if (memcmp(c, "data", 4)) {
			uint32_t sz = le32(c + 4);
			unsigned char fmt[8];
			if (!memcmp(c, "fmt ", 4) && sz >= 16 &&
			    pread(fd, fmt, 8, (off_t)pos + 8) == 8)
				*rate = le32(fmt + 4);
			pos += 8 + (uint64_t)sz + (sz & 1);
			continue;
		}
		uint64_t n = ((uint64_t)st.st_size - pos - 8) & ~(uint64_t)1; /* 16-bit samples */
		uint64_t room = (UINT32_MAX - pos - 8) & ~(uint64_t)1; /* a RIFF size is 32 bits */
		if (n > room)
			n = room;
		int err;
		if (ftruncate(fd, (off_t)(pos + 8 + n)))
			return errno;
		if ((err = put_le32(fd, (off_t)pos + 4, n)) || (err = put_le32(fd, 4, pos + n)))
			return err;
		*bytes = n;
		return fsync(fd) ? errno : 0;
	}
	return EBADMSG;
}

/* Keep @p part (mended) under a free "-interrupted" name, or remove it. 1 when handled. */
static int recover_one(const char *dir, const char *part)
{
	char from[PATH_MAX], to[PATH_MAX], base[PATH_MAX];
	size_t n = strlen(part) - strlen(".part");
	if (snprintf(from, sizeof from, "%s/%s", dir, part) >= (int)sizeof from)
		return 0;
	if (n >= 4 && !strncmp(part + n - 4, ".wav", 4))
		n -= 4;
	snprintf(base, sizeof base, "%s/%.*s-interrupted", dir, (int)n, part);
	uint64_t bytes = 0;
	unsigned rate = 0;
	int err = EIO, fd = open(from, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		err = wav_mend(fd, &bytes, &rate);
		close(fd);
	}
	if (err || !bytes) {
		if (unlink(from))
			return 0;
		pbx_notice("recording %s was cut short by a kill and holds no audio: removed",
			   from);
		return 1;
	}
	/* link + unlink, not rename: a file already under the name stays. */
	for (int i = 1; i < 100; i++) {
		int len = i == 1 ? snprintf(to, sizeof to, "%s.wav", base)
				 : snprintf(to, sizeof to, "%s-%d.wav", base, i);
		if (len < 0 || (size_t)len >= sizeof to) {
			errno = ENAMETOOLONG;
			break;
		}
		if (!link(from, to)) {
			unlink(from);
			pbx_notice("recording %s was cut short by a kill: kept as %s (%.1f s)",
				   from, to, rate ? (double)bytes / 2 / rate : 0.0);
			return 1;
		}
		if (errno != EEXIST)
			break;
	}
	pbx_warning("recording %s was cut short by a kill and cannot be renamed (%s): left as is",
		    from, strerror(errno));
	return 0;
}

int pbx_recorder_recover(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] != '.' && len > 5 && !strcmp(e->d_name + len - 5, ".part"))
			n += recover_one(dir, e->d_name);
	}
	closedir(d);
	if (n) {
		char probe[PATH_MAX];
		snprintf(probe, sizeof probe, "%s/.", dir);
		pbx__fsync_dir_of(probe);
	}
	return n;
}
