/* SPDX-License-Identifier: MIT */
/* The set-up half of the benchmark's NVMe host driver (nvme_host.h). */
#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvme_host.h"

static int reg_read32(struct nh *h, unsigned off, uint32_t *v)
{
	return uvfio_client_region_read(h->c, UVFIO_PCI_BAR0, off, v, 4);
}

static int reg_write32(struct nh *h, unsigned off, uint32_t v)
{
	return uvfio_client_region_write(h->c, UVFIO_PCI_BAR0, off, &v, 4);
}

static int reg_write64(struct nh *h, unsigned off, uint64_t v)
{
	return uvfio_client_region_write(h->c, UVFIO_PCI_BAR0, off, &v, 8);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int nh_open(struct nh *h, struct uvfio_client *c, size_t mem_size,
	    size_t queue_bytes)
{
	memset(h, 0, sizeof(*h));
	h->c = c;
	h->memfd = -1;
	for (unsigned i = 0; i < NH_MAX_QUEUES; i++)
		h->efds[i] = h->q[i].efd = -1;
	if (queue_bytes % NH_PAGE || queue_bytes >= mem_size)
		return -EINVAL;
	h->mem_size = mem_size;
	h->queue_bytes = queue_bytes;
	h->memfd = memfd_create("uvfio-bench-nvme-guest", MFD_CLOEXEC);
	if (h->memfd < 0)
		return -errno;
	if (ftruncate(h->memfd, (off_t)mem_size)) {
		int e = -errno;
		nh_close(h);
		return e;
	}
	h->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      h->memfd, 0);
	if (h->mem == MAP_FAILED) {
		int e = -errno;
		h->mem = NULL;
		nh_close(h);
		return e;
	}
	/* Allocate every page now: a first touch inside a measurement
	 * (ours, or the server's through its own mapping) would be timed. */
	memset(h->mem, 0, mem_size);
	int r = uvfio_client_dma_map(c, NH_IOVA, mem_size,
				     UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				     h->mem, h->memfd, 0);
	if (r) {
		nh_close(h);
		return r;
	}
	return 0;
}

void nh_close(struct nh *h)
{
	if (h->mem) {
		if (h->c && uvfio_client_connected(h->c))
			uvfio_client_dma_unmap(h->c, NH_IOVA, h->mem_size);
		munmap(h->mem, h->mem_size);
		h->mem = NULL;
	}
	if (h->memfd >= 0)
		close(h->memfd);
	h->memfd = -1;
	for (unsigned i = 0; i < NH_MAX_QUEUES; i++) {
		if (h->efds[i] >= 0)
			close(h->efds[i]);
		h->efds[i] = h->q[i].efd = -1;
	}
}

int nh_map_doorbells(struct nh *h)
{
	const struct uvfio_region_caps *caps =
		uvfio_client_region_caps(h->c, UVFIO_PCI_BAR0);
	void *addr;
	if (!caps || !caps->has_sparse)
		return -ENOTSUP;
	/* The library sends a region write that lies in a mapped area as a
	 * store into the mapping from then on, posted ones included. */
	return uvfio_client_region_mmap(h->c, UVFIO_PCI_BAR0, &addr);
}

static int wait_csts(struct nh *h, uint32_t mask, uint32_t want)
{
	uint64_t end = mono_ms() + 5000;
	for (;;) {
		uint32_t v;
		int r = reg_read32(h, NH_REG_CSTS, &v);
		if (r)
			return r;
		if ((v & mask) == want)
			return 0;
		if (v & 2) /* CFS: the controller gave up on us */
			return -EIO;
		if (mono_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/* Queue qid's memory: an SQ of up to 1024 entries (64 KiB) then its CQ
 * (16 KiB), each queue in an 80 KiB slot of the queue area. */
#define QSLOT (80u * 1024u)

static int place(struct nh *h, unsigned qid, uint16_t entries)
{
	struct nh_queue *q = &h->q[qid];
	if (qid >= NH_MAX_QUEUES || entries < 2 || entries > 1024 ||
	    (size_t)(qid + 1) * QSLOT > h->queue_bytes)
		return -EINVAL;
	q->qid = qid;
	q->size = entries;
	q->sq_tail = q->sq_rung = q->cq_head = q->cq_rung = 0;
	q->phase = true;
	q->sq_off = (size_t)qid * QSLOT;
	q->cq_off = q->sq_off + 64u * 1024u;
	q->sq = h->mem + q->sq_off;
	q->cq = h->mem + q->cq_off;
	/* Phase 0 everywhere: no entry looks posted until the device
	 * writes it with phase 1. */
	memset(q->cq, 0, 16u * entries);
	q->efd = h->efds[qid];
	return 0;
}

int nh_enable(struct nh *h, uint16_t entries)
{
	int r;
	if ((r = reg_write32(h, NH_REG_CC, 0)) || (r = wait_csts(h, 1, 0)))
		return r;
	if ((r = place(h, 0, entries)))
		return r;
	h->q[0].irq = false;
	uint32_t aqa = (uint32_t)(entries - 1) << 16 | (uint32_t)(entries - 1);
	/* EN, 64-byte SQ entries, 16-byte CQ entries, 4 KiB pages. */
	if ((r = reg_write32(h, NH_REG_AQA, aqa)) ||
	    (r = reg_write64(h, NH_REG_ASQ, nh_iova(h->q[0].sq_off))) ||
	    (r = reg_write64(h, NH_REG_ACQ, nh_iova(h->q[0].cq_off))) ||
	    (r = reg_write32(h, NH_REG_CC, 1u | 6u << 16 | 4u << 20)))
		return r;
	return wait_csts(h, 1, 1);
}

/* Offset of a capability in config space, 0 if absent. */
static unsigned find_cap(struct nh *h, uint8_t id)
{
	uint8_t cfg[256];
	if (uvfio_client_region_read(h->c, UVFIO_PCI_CONFIG, 0, cfg, sizeof(cfg)))
		return 0;
	/* Bounded: a looping list must not hang us. */
	for (unsigned off = cfg[0x34] & 0xfc, n = 0; off >= 0x40 && n < 48;
	     off = cfg[off + 1] & 0xfc, n++)
		if (cfg[off] == id)
			return off;
	return 0;
}

int nh_msix_enable(struct nh *h, unsigned nvec)
{
	unsigned cap = find_cap(h, 0x11);
	uint16_t ctl;
	int r;
	if (!cap || nvec > NH_MAX_QUEUES)
		return -ENOTSUP;
	if ((r = uvfio_client_region_read(h->c, UVFIO_PCI_CONFIG, cap + 2, &ctl, 2)))
		return r;
	ctl = (uint16_t)((ctl | 0x8000u) & ~0x4000u); /* enable, unmask all */
	if ((r = uvfio_client_region_write(h->c, UVFIO_PCI_CONFIG, cap + 2, &ctl,
					   2)))
		return r;
	for (unsigned v = 0; v < nvec; v++)
		if ((r = reg_write32(h, NH_MSIX_TABLE + 16 * v + 12, 0)))
			return r;
	int efds[NH_MAX_QUEUES];
	if ((r = uvfio_client_irq_enable(h->c, UVFIO_PCI_MSIX_IRQ, 0, nvec, efds)))
		return r;
	for (unsigned v = 0; v < nvec; v++) {
		h->efds[v] = efds[v];
		h->q[v].efd = efds[v];
	}
	return 0;
}

int nh_sq_ring(struct nh *h, struct nh_queue *q)
{
	if (q->sq_tail == q->sq_rung)
		return 0;
	uint32_t v = q->sq_tail;
	int r;
	/* A full socket pushes back: serve it and try again, as a VMM
	 * whose vCPU stores faster than the device reads would stall. */
	while ((r = uvfio_client_region_write_posted(
			h->c, UVFIO_PCI_BAR0, NH_DOORBELLS + 8u * q->qid, &v, 4)) ==
	       -EAGAIN)
		if ((r = uvfio_client_process(h->c)))
			return r;
	if (!r)
		q->sq_rung = q->sq_tail;
	return r;
}

int nh_cq_ring(struct nh *h, struct nh_queue *q)
{
	if (q->cq_head == q->cq_rung)
		return 0;
	uint32_t v = q->cq_head;
	int r;
	while ((r = uvfio_client_region_write_posted(
			h->c, UVFIO_PCI_BAR0, NH_DOORBELLS + 8u * q->qid + 4, &v,
			4)) == -EAGAIN)
		if ((r = uvfio_client_process(h->c)))
			return r;
	if (!r)
		q->cq_rung = q->cq_head;
	return r;
}

int nh_admin(struct nh *h, struct nh_sqe *e, uint32_t *dw0)
{
	struct nh_queue *q = &h->q[0];
	uint16_t cid = ++h->cid;
	e->dw[0] = (e->dw[0] & 0xffff) | (uint32_t)cid << 16;
	nh_sq_put(q, e);
	int r = nh_sq_ring(h, q);
	if (r)
		return r;
	uint64_t end = mono_ms() + 5000;
	const uint8_t *c;
	while (!(c = nh_cq_peek(q))) {
		if (mono_ms() > end)
			return -ETIMEDOUT;
		/* A doorbell the socket could not take yet is still in the
		 * client's queue: service it.  Set-up only, so no hurry. */
		if ((r = uvfio_client_process(h->c)))
			return r;
		usleep(50);
	}
	if (nh_cqe_cid(c) != cid)
		return -EPROTO;
	if (dw0)
		memcpy(dw0, c, 4);
	unsigned st = nh_cqe_status(c);
	nh_cq_pop(q);
	r = nh_cq_ring(h, q);
	return r ? r : (int)st;
}

int nh_create_pair(struct nh *h, unsigned qid, uint16_t entries, bool irq)
{
	if (qid == 0)
		return -EINVAL;
	int r = place(h, qid, entries);
	if (r)
		return r;
	struct nh_queue *q = &h->q[qid];
	q->irq = irq;
	struct nh_sqe e = { .dw = { 0x05 } }; /* Create I/O CQ */
	e.dw[6] = (uint32_t)nh_iova(q->cq_off);
	e.dw[7] = (uint32_t)(nh_iova(q->cq_off) >> 32);
	e.dw[10] = (uint32_t)(entries - 1) << 16 | qid;
	/* Vector qid; IEN only with irq; physically contiguous. */
	e.dw[11] = qid << 16 | (irq ? 2u : 0u) | 1u;
	if ((r = nh_admin(h, &e, NULL)))
		return r;
	e = (struct nh_sqe){ .dw = { 0x01 } }; /* Create I/O SQ on CQ qid */
	e.dw[6] = (uint32_t)nh_iova(q->sq_off);
	e.dw[7] = (uint32_t)(nh_iova(q->sq_off) >> 32);
	e.dw[10] = (uint32_t)(entries - 1) << 16 | qid;
	e.dw[11] = qid << 16 | 1u;
	return nh_admin(h, &e, NULL);
}

uint64_t nh_ns_bytes(struct nh *h)
{
	/* Identify Namespace 1 into the first data page. */
	size_t buf = nh_data_off(h);
	struct nh_sqe e = { .dw = { 0x06, 1 } };
	e.dw[6] = (uint32_t)nh_iova(buf);
	e.dw[7] = (uint32_t)(nh_iova(buf) >> 32);
	e.dw[10] = 0;
	if (nh_admin(h, &e, NULL))
		return 0;
	uint64_t nsze;
	memcpy(&nsze, h->mem + buf, 8);
	uint8_t flbas = h->mem[buf + 26] & 0xf;
	uint8_t lbads = h->mem[buf + 128 + 4u * flbas + 2];
	return lbads >= 9 && lbads < 32 ? nsze << lbads : 0;
}
