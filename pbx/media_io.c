/**
 * @file media_io.c  A media worker's outgoing packets, sent in one io_uring submission per turn
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every leg has its own socket, and a relayed call sends one packet per leg
 * every 20 ms, so within one turn of a worker's loop no socket has two
 * packets to send: sendmmsg, which batches per socket, would batch nothing.
 * io_uring batches across sockets: what the turn sends is copied into a
 * queue (a slot and a few bytes of an arena per packet), and at the end of
 * the turn (the worker's uv_check; uv_prepare for what its timers made)
 * one io_uring_enter issues every send. A packet waits at most for the
 * rest of its turn's callbacks: microseconds, a few milliseconds at most
 * under full load.
 *
 * Measured on loopback (Linux 6.18, 2 cores, relay of 512 sockets): the
 * kernel's UDP send path itself is more than half of a relayed packet's
 * cost and no batching removes it; what one submission saves over a sendto
 * per packet is the crossing, about 10% of the whole. Receiving through
 * io_uring too (multishot recvmsg, provided buffers) measured no better
 * than epoll and recvfrom, so receiving stays as rtp.c says.
 *
 * The sends carry MSG_DONTWAIT: a UDP send completes (or fails) within the
 * submission, so the flush returns with the queue empty and no packet or
 * counter outlives the turn. That is what keeps the session pointers of the
 * queue valid: a session closed or moved in a turn is freed or handed on
 * only in the loop's closing phase, after the check phase.
 *
 * Where io_uring is refused (an old kernel, a seccomp filter, the
 * kernel.io_uring_disabled sysctl) each packet goes out at once with sendto,
 * as before.
 */
#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "media_priv.h"
#include "pbx/log.h"

/* 256 packets is a quarter of what one epoll_wait of libuv hands over;
 * fuller turns flush more than once. The arena holds them at their G.711
 * size (172 bytes), and 30 of the largest datagrams taken. */
#define IO_SLOTS 256
#define IO_ARENA (64 * 1024)

struct io_slot {
	struct msghdr mh;
	struct iovec iov;
	union pbx__sa to;
	struct pbx_rtp_stats *st;
	int fd;
};

struct pbx__io {
	struct io_uring ring;
	bool ring_ok;
	unsigned n;  /* packets queued */
	size_t used; /* arena bytes used */
	struct io_slot slot[IO_SLOTS];
	uint8_t arena[IO_ARENA] __attribute__((aligned(16)));
};

static void count(struct pbx_rtp_stats *st, ssize_t n)
{
	/* A full socket buffer or an ICMP error: the packet is lost, as on the wire. */
	if (n < 0)
		return;
	PBX__STAT_ADD(st->tx_packets, 1);
	PBX__STAT_ADD(st->tx_bytes, (uint64_t)n);
}

int pbx__io_alloc(struct pbx__io **iop, bool batch)
{
	struct pbx__io *io = calloc(1, sizeof *io);
	if (!io)
		return ENOMEM;
	if (batch) {
		/* SUBMIT_ALL: an SQE that fails its checks does not stop the rest. */
		int err = io_uring_queue_init(IO_SLOTS, &io->ring, IORING_SETUP_SUBMIT_ALL);
		if (err == -EINVAL)
			err = io_uring_queue_init(IO_SLOTS, &io->ring, 0);
		if (err)
			pbx_info("media: io_uring unavailable (%s): one sendto per packet",
				 strerror(-err));
		io->ring_ok = !err;
	}
	*iop = io;
	return 0;
}

void pbx__io_free(struct pbx__io *io)
{
	if (!io)
		return;
	/* Whatever is still queued belonged to sessions gone by now: dropped. */
	if (io->ring_ok)
		io_uring_queue_exit(&io->ring);
	free(io);
}

bool pbx__io_batched(const struct pbx__io *io)
{
	return io->ring_ok;
}

/* Below this many packets a turn's sends go out by sendto: a submission of
 * one packet costs more than its sendto, and a lightly loaded worker's turn
 * has one packet (measured: 100 calls cost about 10% more per packet when
 * each single packet went through the ring). */
#define IO_MIN_BATCH 3

static void io_sendto_all(struct pbx__io *io)
{
	for (unsigned i = 0; i < io->n; i++) {
		struct io_slot *sl = &io->slot[i];
		count(sl->st, sendto(sl->fd, sl->iov.iov_base, sl->iov.iov_len, 0, &sl->to.sa,
				     sl->mh.msg_namelen));
	}
	io->n = 0;
	io->used = 0;
}

/* The ring failed under us: packets @p from.. of the queue go out by sendto,
 * and so does everything after. */
static void io_fallback(struct pbx__io *io, unsigned from, int err)
{
	pbx_error("media: io_uring submission failed (%s): one sendto per packet from now on",
		  strerror(err));
	for (unsigned i = from; i < io->n; i++) {
		struct io_slot *sl = &io->slot[i];
		count(sl->st, sendto(sl->fd, sl->iov.iov_base, sl->iov.iov_len, 0, &sl->to.sa,
				     sl->mh.msg_namelen));
	}
	io_uring_queue_exit(&io->ring);
	io->ring_ok = false;
	io->n = 0;
	io->used = 0;
}

void pbx__io_flush(struct pbx__io *io)
{
	unsigned n = io->n, done = 0;
	if (n < IO_MIN_BATCH) {
		io_sendto_all(io);
		return;
	}
	assert(io->ring_ok);
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
		assert(sqe); /* the ring has IO_SLOTS entries and is empty between flushes */
		io_uring_prep_sendmsg(sqe, io->slot[i].fd, &io->slot[i].mh, MSG_DONTWAIT);
		io_uring_sqe_set_data64(sqe, i);
	}
	int r;
	do
		r = io_uring_submit(&io->ring);
	while (r == -EINTR);
	unsigned sub = r > 0 ? (unsigned)r : 0;
	/* MSG_DONTWAIT sends complete within the submission: the completions
	 * are there already, and the wait below never waits in practice. */
	while (done < sub) {
		struct io_uring_cqe *cqe;
		unsigned head, k = 0;
		io_uring_for_each_cqe(&io->ring, head, cqe)
		{
			uint64_t i = io_uring_cqe_get_data64(cqe);
			if (i < n)
				count(io->slot[i].st, cqe->res);
			k++;
		}
		io_uring_cq_advance(&io->ring, k);
		done += k;
		int w = 0;
		if (done < sub && (w = io_uring_wait_cqe(&io->ring, &cqe)) < 0 && w != -EINTR) {
			io_fallback(io, n, -w); /* the ring is unusable; these are lost */
			return;
		}
	}
	if (sub < n) { /* an SQE refused at submission ends the batch there */
		io_fallback(io, sub, r < 0 ? -r : EIO);
		return;
	}
	io->n = 0;
	io->used = 0;
}

void pbx__io_send(struct pbx__io *io, int fd, const uint8_t *p, size_t len, const union pbx__sa *to,
		  socklen_t tolen, struct pbx_rtp_stats *st)
{
	if (!io->ring_ok) {
		count(st, sendto(fd, p, len, 0, &to->sa, tolen));
		return;
	}
	size_t room = (len + 15) & ~(size_t)15;
	if (room > IO_ARENA) /* larger than anything rtp.c takes */
		return;
	if (io->n == IO_SLOTS || io->used + room > IO_ARENA)
		pbx__io_flush(io);
	if (!io->ring_ok) { /* the flush fell back */
		count(st, sendto(fd, p, len, 0, &to->sa, tolen));
		return;
	}
	struct io_slot *sl = &io->slot[io->n++];
	uint8_t *b = io->arena + io->used;
	io->used += room;
	memcpy(b, p, len);
	sl->iov.iov_base = b;
	sl->iov.iov_len = len;
	sl->to = *to; /* the session may latch elsewhere before the flush */
	memset(&sl->mh, 0, sizeof sl->mh);
	sl->mh.msg_name = &sl->to;
	sl->mh.msg_namelen = tolen;
	sl->mh.msg_iov = &sl->iov;
	sl->mh.msg_iovlen = 1;
	sl->st = st;
	sl->fd = fd;
}

unsigned pbx__io_queued(const struct pbx__io *io)
{
	return io->n;
}
