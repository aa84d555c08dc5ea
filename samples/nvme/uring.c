/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme's io_uring backend: operations become SQEs, queued until the
 * flush that ends a round of work submits them in one system call; the
 * ring's completions signal an eventfd (io_uring_register_eventfd) that
 * the loop polls next to the server's fd, and are reaped from the CQ ring
 * without a system call.  io_uring serves what it can at submission (a
 * read of cached pages) and passes the rest to its workers (writes, and
 * every operation on a file without non-blocking reads, tmpfs).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#include "backend.h"

struct uring {
	struct nvme_backend be;
	struct io_uring ring;
	/* operations that never reached the ring: completed by the next
	 * reap with their error */
	struct nvme_aio *failed, **failed_tail;
};

static void uring_flush(struct nvme_backend *be)
{
	struct uring *u = (struct uring *)be;
	/* -EBUSY/-EAGAIN: the kernel is short of room until completions are
	 * reaped; the SQEs stay queued for the next flush, which comes after
	 * the next reap. */
	while (io_uring_sq_ready(&u->ring) && io_uring_submit(&u->ring) == -EINTR)
		;
}

static void fail_op(struct uring *u, struct nvme_aio *a, int err)
{
	a->res = err;
	a->next = NULL;
	*u->failed_tail = a;
	u->failed_tail = &a->next;
}

static void uring_submit(struct nvme_backend *be, struct nvme_aio *a)
{
	struct uring *u = (struct uring *)be;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		uring_flush(be);
		sqe = io_uring_get_sqe(&u->ring);
	}
	if (!sqe) {
		fail_op(u, a, -EAGAIN);
		return;
	}
	switch (a->op) {
	case NVME_AIO_READ:
		io_uring_prep_readv2(sqe, a->fd, a->iov, (unsigned)a->iovcnt,
				     a->off, a->flags);
		break;
	case NVME_AIO_WRITE:
		io_uring_prep_writev2(sqe, a->fd, a->iov, (unsigned)a->iovcnt,
				      a->off, a->flags);
		break;
	case NVME_AIO_FSYNC:
		io_uring_prep_fsync(sqe, a->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_fallocate(sqe, a->fd, a->flags, (off_t)a->off,
					(off_t)a->len);
		break;
	}
	io_uring_sqe_set_data(sqe, a);
}

static struct nvme_aio *uring_reap(struct nvme_backend *be, bool wait)
{
	struct uring *u = (struct uring *)be;
	struct nvme_aio *list = u->failed, **tail = u->failed_tail;
	struct io_uring_cqe *cqe;
	u->failed = NULL;
	u->failed_tail = &u->failed;
	if (wait && !list) {
		uring_flush(be);
		while (io_uring_wait_cqe(&u->ring, &cqe) == -EINTR)
			;
	}
	if (!list)
		tail = &list;
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		struct nvme_aio *a = io_uring_cqe_get_data(cqe);
		a->res = cqe->res;
		a->next = NULL;
		*tail = a;
		tail = &a->next;
		seen++;
	}
	io_uring_cq_advance(&u->ring, seen);
	return list;
}

static void uring_destroy(struct nvme_backend *be)
{
	struct uring *u = (struct uring *)be;
	io_uring_queue_exit(&u->ring);
	close(be->efd);
	free(u);
}

/* The operations uvfio-nvme submits; a kernel before 5.6 lacks some. */
static bool has_ops(struct io_uring *ring)
{
	static const int ops[] = { IORING_OP_READV, IORING_OP_WRITEV,
				   IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok = p != NULL;
	for (size_t i = 0; ok && i < sizeof(ops) / sizeof(ops[0]); i++)
		ok = io_uring_opcode_supported(p, ops[i]);
	if (p)
		io_uring_free_probe(p);
	return ok;
}

struct nvme_backend *nvme_uring_create(unsigned entries)
{
	struct uring *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->be = (struct nvme_backend){
		.name = "io_uring", .submit = uring_submit,
		.flush = uring_flush, .reap = uring_reap,
		.destroy = uring_destroy, .efd = -1,
	};
	u->failed_tail = &u->failed;
	int r = io_uring_queue_init(entries, &u->ring, 0);
	if (r) {
		free(u);
		errno = -r;
		return NULL;
	}
	int err = EOPNOTSUPP;
	if (!has_ops(&u->ring))
		goto fail;
	u->be.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->be.efd < 0) {
		err = errno;
		goto fail;
	}
	/* Every completion signals it, also one that came during
	 * io_uring_submit and was reaped at once (a wasted wake-up then):
	 * the _async registration skips completions that task work posts
	 * on this thread too, and the loop would sleep through those. */
	r = io_uring_register_eventfd(&u->ring, u->be.efd);
	if (!r)
		return &u->be;
	err = -r;
	close(u->be.efd);
fail:
	io_uring_queue_exit(&u->ring);
	free(u);
	errno = err;
	return NULL;
}
