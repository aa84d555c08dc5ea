/* SPDX-License-Identifier: MIT */
/* What aio.c and uring.c share: a backend is a table of these. */
#ifndef UVFIO_SAMPLES_NVME_BACKEND_H
#define UVFIO_SAMPLES_NVME_BACKEND_H

#include "nvme.h"

struct nvme_backend {
	const char *name;
	int efd; /* eventfd: readable once a completion waits */
	void (*submit)(struct nvme_backend *be, struct nvme_aio *a);
	void (*flush)(struct nvme_backend *be);
	struct nvme_aio *(*reap)(struct nvme_backend *be, bool wait);
	void (*destroy)(struct nvme_backend *be);
};

#ifdef UVFIO_NVME_URING
/* NULL with errno: the kernel has no usable io_uring (ENOSYS, EPERM
 * under seccomp, EOPNOTSUPP for a missing operation), or no memory. */
struct nvme_backend *nvme_uring_create(unsigned entries);
#endif

#endif
