/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme's I/O backends: choosing one, running one operation, and the
 * thread pool, the backend for where io_uring is not available (an old
 * kernel, a seccomp filter, a build without liburing).
 *
 * The pool's threads take operations from a queue, run the system call
 * and put the operation on a done list; the first one on an empty list
 * writes the eventfd, so the loop wakes once per batch and takes the
 * whole list.  The threads touch nothing but the operation: what it
 * means for the device is worked out on the server thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "backend.h"

/* Enough to keep a few reads and writes of page-cache speed going on a
 * small machine; a file on a slow disk would want more. */
#define POOL_THREADS 4u

void nvme_aio_execute(struct nvme_aio *a)
{
	ssize_t r;
	do {
		switch (a->op) {
		case NVME_AIO_READ:
			r = preadv2(a->fd, a->iov, a->iovcnt, (off_t)a->off,
				    a->flags);
			break;
		case NVME_AIO_WRITE:
			r = pwritev2(a->fd, a->iov, a->iovcnt, (off_t)a->off,
				     a->flags);
			break;
		case NVME_AIO_FSYNC:
			r = fdatasync(a->fd);
			break;
		default:
			r = fallocate(a->fd, a->flags, (off_t)a->off,
				      (off_t)a->len);
			break;
		}
	} while (r < 0 && errno == EINTR);
	a->res = r < 0 ? -errno : r;
}

/*
 * A file in memory (tmpfs, ramfs, hugetlbfs) cannot do non-blocking I/O
 * (no FMODE_NOWAIT), so io_uring hands every request to an io-wq worker:
 * a thread hop each way for what is a memcpy, which doubles the latency
 * of a lone 4 KiB read.  Only there is running it on the server thread
 * cheap and bounded.  Anything else (a disk file system, a block device)
 * may block for a disk, and io_uring already completes its page-cache
 * hits inline where the file system supports NOWAIT.
 */
bool nvme_inline_wanted(enum nvme_inline_mode mode, int fd)
{
	struct statfs sf;
	struct stat st;
	if (mode != NVME_INLINE_AUTO)
		return mode == NVME_INLINE_ALWAYS;
	/* A block device's node lives on devtmpfs, which says TMPFS_MAGIC:
	 * the device behind it is what counts. */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || fstatfs(fd, &sf))
		return false; /* unknown: the backend is always safe */
	switch ((unsigned long)sf.f_type) {
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
	case HUGETLBFS_MAGIC:
		return true;
	default:
		return false;
	}
}

/* ---- the thread pool ---------------------------------------------------------- */

struct pool {
	struct nvme_backend be;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct nvme_aio *todo, **todo_tail;
	struct nvme_aio *done, **done_tail;
	bool stop;
	unsigned nthreads;
	pthread_t threads[POOL_THREADS];
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->todo && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->todo)
			break; /* stopping, and nothing left */
		struct nvme_aio *a = p->todo;
		p->todo = a->next;
		if (!p->todo)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->lock);

		nvme_aio_execute(a);

		pthread_mutex_lock(&p->lock);
		bool wake = !p->done;
		a->next = NULL;
		*p->done_tail = a;
		p->done_tail = &a->next;
		if (wake) {
			/* Not a full counter's overflow: the loop reads it. */
			uint64_t one = 1;
			ssize_t w = write(p->be.efd, &one, sizeof(one));
			(void)w;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void pool_submit(struct nvme_backend *be, struct nvme_aio *a)
{
	struct pool *p = (struct pool *)be;
	a->next = NULL;
	pthread_mutex_lock(&p->lock);
	*p->todo_tail = a;
	p->todo_tail = &a->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void pool_flush(struct nvme_backend *be)
{
	(void)be; /* submitted at once */
}

static struct nvme_aio *pool_reap(struct nvme_backend *be, bool wait)
{
	struct pool *p = (struct pool *)be;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		struct nvme_aio *list = p->done;
		p->done = NULL;
		p->done_tail = &p->done;
		pthread_mutex_unlock(&p->lock);
		if (list || !wait)
			return list;
		/* The next operation done on the empty list writes it. */
		struct pollfd pf = { .fd = be->efd, .events = POLLIN };
		if (poll(&pf, 1, -1) > 0) {
			uint64_t x;
			ssize_t r = read(be->efd, &x, sizeof(x));
			(void)r;
		}
	}
}

static void pool_destroy(struct nvme_backend *be)
{
	struct pool *p = (struct pool *)be;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	close(be->efd);
	free(p);
}

static struct nvme_backend *pool_create(void)
{
	struct pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->be = (struct nvme_backend){
		.name = "thread pool", .submit = pool_submit,
		.flush = pool_flush, .reap = pool_reap,
		.destroy = pool_destroy,
	};
	p->todo_tail = &p->todo;
	p->done_tail = &p->done;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->be.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->be.efd < 0)
		goto fail;
	/* Signals are the loop's (SIGTERM must wake its poll), and a system
	 * call of a worker should not end early for one. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->nthreads < POOL_THREADS; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p))
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nthreads)
		return &p->be;
	close(p->be.efd);
fail:
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	errno = EAGAIN;
	return NULL;
}

/* ---- the common part -------------------------------------------------------------- */

struct nvme_backend *nvme_backend_create(enum nvme_backend_kind kind,
					 const char **why)
{
	*why = NULL;
#ifdef UVFIO_NVME_URING
	if (kind == NVME_BACKEND_URING) {
		/* Every request has one operation at the ring at a time, and
		 * shutdown's fdatasync one more: the SQ never fills, and the
		 * CQ (twice as large) never overflows. */
		struct nvme_backend *be = nvme_uring_create(2 * NVME_MAX_INFLIGHT);
		if (be)
			return be;
		/* ENOMEM too: kernels before 5.12 charge the rings to
		 * RLIMIT_MEMLOCK, often 64 KiB in containers. */
		static char msg[96];
		snprintf(msg, sizeof(msg), "io_uring: %s",
			 errno == EOPNOTSUPP ? "an operation is missing"
					     : strerror(errno));
		*why = msg;
	}
#else
	if (kind == NVME_BACKEND_URING)
		*why = "built without liburing";
#endif
	return pool_create();
}

const char *nvme_backend_name(const struct nvme_backend *be)
{
	return be->name;
}

int nvme_backend_fd(const struct nvme_backend *be)
{
	return be->efd;
}

void nvme_backend_submit(struct nvme_backend *be, struct nvme_aio *a)
{
	be->submit(be, a);
}

void nvme_backend_flush(struct nvme_backend *be)
{
	be->flush(be);
}

struct nvme_aio *nvme_backend_reap(struct nvme_backend *be, bool wait)
{
	return be->reap(be, wait);
}

void nvme_backend_notify(struct nvme_backend *be)
{
	uint64_t one = 1;
	ssize_t w = write(be->efd, &one, sizeof(one));
	(void)w; /* a counter that cannot take more is readable already */
}

void nvme_backend_destroy(struct nvme_backend *be)
{
	be->destroy(be);
}
