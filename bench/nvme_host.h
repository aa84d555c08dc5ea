/* SPDX-License-Identifier: MIT */
/*
 * A minimal NVMe host driver on the uvfio client, for benchmarks: guest
 * memory is a memfd given to the device as an fd-backed DMA window, so
 * the device reaches queues and data without messages; doorbells are
 * posted region writes, as a VMM forwards a guest's MMIO stores.
 *
 * What it leaves to its caller is what a benchmark wants to control: when
 * SQ entries are written, when doorbells are rung, how completions are
 * found (polling the phase tag, or waiting on the MSI-X eventfds this
 * module asks the client to create).  Nothing here allocates or makes a
 * system call on the I/O path besides the doorbell's message.
 *
 * Not a general driver: one namespace, 4 KiB pages, contiguous queues,
 * PRP lists that fit one page (transfers up to 2 MiB).
 */
#ifndef UVFIO_BENCH_NVME_HOST_H
#define UVFIO_BENCH_NVME_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <uvfio/client.h>

#define NH_PAGE 4096u
#define NH_IOVA 0x100000000ull /* where guest memory starts for the device */
#define NH_MAX_QUEUES 16u      /* admin queue included */

/* BAR0 layout of an NVMe controller (CAP.DSTRD 0) and uvfio-nvme's MSI-X
 * table, which the driver unmasks vectors in. */
enum {
	NH_REG_CAP = 0x00,
	NH_REG_CC = 0x14,
	NH_REG_CSTS = 0x1c,
	NH_REG_AQA = 0x24,
	NH_REG_ASQ = 0x28,
	NH_REG_ACQ = 0x30,
	NH_DOORBELLS = 0x1000,
	NH_MSIX_TABLE = 0x2000,
};

enum {
	NH_OPC_WRITE = 0x01,
	NH_OPC_READ = 0x02,
};

struct nh_sqe {
	uint32_t dw[16];
};

struct nh_queue {
	unsigned qid;
	uint16_t size;
	uint16_t sq_tail;
	uint16_t sq_rung;  /* the tail the device was last told */
	uint16_t cq_head;
	uint16_t cq_rung;  /* the head the device was last told */
	bool phase;        /* the phase tag that marks a new CQE */
	bool irq;          /* created with interrupts enabled */
	int efd;           /* its MSI-X vector's eventfd, -1 without */
	uint8_t *sq, *cq;  /* in guest memory */
	uint64_t sq_off, cq_off;
};

struct nh {
	struct uvfio_client *c;
	int memfd;
	uint8_t *mem;
	size_t mem_size;
	size_t queue_bytes; /* guest memory at the start kept for queues */
	uint16_t cid;       /* admin command ids */
	struct nh_queue q[NH_MAX_QUEUES];
	int efds[NH_MAX_QUEUES]; /* by vector; -1 before nh_msix_enable */
};

/*
 * Map mem_size bytes of memfd-backed guest memory at NH_IOVA (read and
 * write for the device), touched so that no page faults during a
 * measurement.  The first queue_bytes of it are where nh_create_pair()
 * puts queues; the rest is the caller's (nh_data_off() is where it
 * starts).  0 or -errno.
 */
int nh_open(struct nh *h, struct uvfio_client *c, size_t mem_size,
	    size_t queue_bytes);
/* Unmap the window, close the eventfds; the client stays the caller's. */
void nh_close(struct nh *h);

static inline size_t nh_data_off(const struct nh *h)
{
	return h->queue_bytes;
}

/* Map BAR0 (only a server that offers its doorbell page as a sparse
 * mmap area lets that happen): doorbell writes then become stores into
 * the page, which the device polls, instead of messages.  0 or -errno. */
int nh_map_doorbells(struct nh *h);

/* Disable the controller, build the admin queues (entries each), enable
 * it and wait for CSTS.RDY.  0 or -errno (-EIO: CSTS.CFS). */
int nh_enable(struct nh *h, uint16_t entries);

/* Enable MSI-X (config space, the function mask off), unmask vectors
 * [0, nvec) and give the server an eventfd for each (the client makes
 * them).  0 or -errno. */
int nh_msix_enable(struct nh *h, unsigned nvec);

/* Run one admin command, polling for its CQE (up to 5 s).  Its status
 * (type and code, without phase and DNR) or -errno; *dw0 if not NULL. */
int nh_admin(struct nh *h, struct nh_sqe *e, uint32_t *dw0);

/* Create I/O CQ qid then SQ qid on it, entries each, in the queue area;
 * with irq, the CQ raises MSI-X vector qid.  Status or -errno. */
int nh_create_pair(struct nh *h, unsigned qid, uint16_t entries, bool irq);

/* The namespace's size in bytes (Identify Namespace); 0 on failure. */
uint64_t nh_ns_bytes(struct nh *h);

/* ---- the I/O path: inline, no locks and no system calls but doorbells ---- */

static inline uint64_t nh_iova(size_t off)
{
	return NH_IOVA + off;
}

/*
 * A Read or Write of len bytes (a multiple of 512) at byte offset pos of
 * namespace 1, data at guest offset data (page aligned); a transfer of
 * more than two pages needs a PRP list, written at guest offset list
 * (page aligned, one page for up to 2 MiB).
 */
static inline void nh_rw_cmd(struct nh *h, struct nh_sqe *e, uint8_t opc,
			     uint16_t cid, uint64_t pos, size_t data, size_t len,
			     size_t list)
{
	uint64_t prp1 = nh_iova(data), prp2 = 0, lba = pos >> 9;
	size_t pages = (len + NH_PAGE - 1) / NH_PAGE;

	if (pages == 2) {
		prp2 = prp1 + NH_PAGE;
	} else if (pages > 2) {
		uint64_t *l = (uint64_t *)(void *)(h->mem + list);
		for (size_t i = 1; i < pages; i++)
			l[i - 1] = prp1 + i * NH_PAGE;
		prp2 = nh_iova(list);
	}
	memset(e, 0, sizeof(*e));
	e->dw[0] = opc | (uint32_t)cid << 16;
	e->dw[1] = 1;
	e->dw[6] = (uint32_t)prp1;
	e->dw[7] = (uint32_t)(prp1 >> 32);
	e->dw[8] = (uint32_t)prp2;
	e->dw[9] = (uint32_t)(prp2 >> 32);
	e->dw[10] = (uint32_t)lba;
	e->dw[11] = (uint32_t)(lba >> 32);
	e->dw[12] = (uint32_t)(len / 512 - 1);
}

/* Put e at the SQ's tail; the device sees it at the next nh_sq_ring(). */
static inline void nh_sq_put(struct nh_queue *q, const struct nh_sqe *e)
{
	memcpy(q->sq + (size_t)q->sq_tail * 64u, e, 64);
	q->sq_tail = (uint16_t)(q->sq_tail + 1 == q->size ? 0 : q->sq_tail + 1);
}

/* The CQE at the head if the device has posted it, else NULL.  The
 * acquire load of its last dword (the phase tag, which the device stores
 * last) orders the reads of the rest after it. */
static inline const uint8_t *nh_cq_peek(const struct nh_queue *q)
{
	const uint8_t *e = q->cq + (size_t)q->cq_head * 16u;
	uint32_t dw3 = __atomic_load_n((const uint32_t *)(const void *)(e + 12),
				       __ATOMIC_ACQUIRE);
	return ((dw3 >> 16) & 1) == q->phase ? e : NULL;
}

static inline uint16_t nh_cqe_cid(const uint8_t *e)
{
	uint16_t cid;
	memcpy(&cid, e + 12, 2);
	return cid;
}

/* Status type and code, without the phase tag and DNR. */
static inline unsigned nh_cqe_status(const uint8_t *e)
{
	uint32_t dw3;
	memcpy(&dw3, e + 12, 4);
	return (dw3 >> 17) & 0x7ff;
}

static inline void nh_cq_pop(struct nh_queue *q)
{
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase = !q->phase;
	}
}

/* Tell the device the SQ tail (if it moved) and the CQ head (if it
 * moved): one posted write each.  0 or -errno.  When the socket is full
 * the write waits in the client's queue, and leaves only when the client
 * is serviced (uvfio_client_process(), or any later call): a caller that
 * waits for a completion must keep doing that. */
int nh_sq_ring(struct nh *h, struct nh_queue *q);
int nh_cq_ring(struct nh *h, struct nh_queue *q);

#endif /* UVFIO_BENCH_NVME_HOST_H */
