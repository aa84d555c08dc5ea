/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme's controller: BAR0 registers and doorbells, enable, disable
 * and shutdown, and the processing of submission queues.
 *
 * A doorbell arrives as a region write (posted, from QEMU) and, with
 * fd-backed memory, its queue is processed before the callback returns:
 * every command runs to completion, its CQE is written and the CQ's
 * vector raised.  A command that meets message-only memory becomes the
 * SQ's job (job.c) and the SQ waits for it; reset and SQ deletion leave
 * such a job to drain without touching queues.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "nvme.h"

/* The queues stop: guest memory they live in is unusable.  The host sees
 * CSTS.CFS and resets the controller. */
static void fatal(struct nvme_ctrl *n)
{
	n->csts |= NVME_CSTS_CFS;
}

uint64_t nvme_cqe_take(struct nvme_ctrl *n, unsigned sqid, uint16_t cid,
		       uint32_t dw0, uint16_t status, uint32_t cqe[4])
{
	struct nvme_sq *sq = &n->sq[sqid];
	struct nvme_cq *cq = &n->cq[sq->cqid];
	/* Every error is final: a retry would meet the same input. */
	uint32_t sf = status ? (uint32_t)status | NVME_DNR : 0;
	uint64_t at = cq->base + cq->tail * 16ull;

	cqe[0] = dw0;
	cqe[1] = 0;
	cqe[2] = (uint32_t)sq->head | (uint32_t)sqid << 16;
	cqe[3] = (uint32_t)cid | (uint32_t)cq->phase << 16 | sf << 17;
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	return at;
}

void nvme_complete(struct nvme_ctrl *n, unsigned sqid, uint16_t cid,
		   uint32_t dw0, uint16_t status)
{
	struct nvme_cq *cq = &n->cq[n->sq[sqid].cqid];
	struct nvme_cq saved = *cq;
	uint32_t cqe[4];
	uint64_t at = nvme_cqe_take(n, sqid, cid, dw0, status, cqe);
	int r = nvme_guest_write_cqe(n, at, cqe);

	if (r == -EFAULT) {
		/* A message-only CQ: the job posts it (and takes the slot). */
		*cq = saved;
		struct nvme_cmd c = { .cid = cid };
		nvme_job_start(n, sqid, NVME_JOB_POST, &c, status, dw0);
		return;
	}
	if (r) {
		fatal(n);
		return;
	}
	cq->irq_due = true;
}

void nvme_parse_cmd(const uint8_t raw[64], struct nvme_cmd *c)
{
	uint32_t dw[16];
	memcpy(dw, raw, 64);
	c->opc = (uint8_t)dw[0];
	c->psdt = (dw[0] >> 14) & 3;
	c->cid = (uint16_t)(dw[0] >> 16);
	c->nsid = dw[1];
	c->prp1 = (uint64_t)dw[7] << 32 | dw[6];
	c->prp2 = (uint64_t)dw[9] << 32 | dw[8];
	memcpy(c->cdw, dw, sizeof(dw));
}

/* No room for one more CQE, counting the slots jobs will post to. */
static bool cq_full(const struct nvme_cq *cq)
{
	unsigned used = (cq->tail + cq->size - cq->head) % cq->size;
	return used + cq->resv + 1u >= cq->size;
}

static void run_cmd(struct nvme_ctrl *n, unsigned sqid, const uint8_t raw[64])
{
	struct nvme_cmd c;
	uint32_t dw0 = 0;

	nvme_parse_cmd(raw, &c);
	n->efault = false;
	int st = sqid == 0 ? nvme_admin(n, &c, &dw0) : nvme_io(n, &c);
	if (n->efault) {
		/* Message-only memory: nothing happened yet, so the job runs
		 * the command again, from the start. */
		n->efault = false;
		nvme_job_start(n, sqid, NVME_JOB_PREP, &c, 0, 0);
		return;
	}
	if (st >= 0)
		nvme_complete(n, sqid, c.cid, dw0, (uint16_t)st);
}

/* Run the commands between head and tail, while their CQ has room and
 * no job holds the SQ; a full CQ resumes from its head doorbell, a job
 * from its end. */
static void process_sq(struct nvme_ctrl *n, unsigned sqid)
{
	struct nvme_sq *sq = &n->sq[sqid];
	uint8_t raw[64];

	while (sq->live && sq->head != sq->tail &&
	       (n->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) == NVME_CSTS_RDY &&
	       !n->job[sqid].active && !cq_full(&n->cq[sq->cqid])) {
		int r = nvme_guest_read(n, sq->base + sq->head * 64ull, raw, 64);
		if (r == -EFAULT) {
			nvme_job_start(n, sqid, NVME_JOB_FETCH, NULL, 0, 0);
			continue;
		}
		if (r) {
			fatal(n);
			return;
		}
		sq->head = (uint16_t)((sq->head + 1u) % sq->size);
		run_cmd(n, sqid, raw);
	}
}

void nvme_sq_kick(struct nvme_ctrl *n, unsigned sqid)
{
	process_sq(n, sqid);
	nvme_raise_irqs(n);
}

void nvme_shutdown_check(struct nvme_ctrl *n)
{
	/* Shutdown waited for the jobs: their writes are in the file now. */
	if (!n->shn_pending || !nvme_jobs_idle(n))
		return;
	n->shn_pending = false;
	fdatasync(n->fd);
	n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
}

/* Raise the vectors of the CQs that got entries (a masked MSI-X vector
 * keeps it pending in the PBA: the library's rule). */
void nvme_raise_irqs(struct nvme_ctrl *n)
{
	for (unsigned q = 0; q <= n->max_ioq; q++) {
		struct nvme_cq *cq = &n->cq[q];
		if (!cq->irq_due)
			continue;
		cq->irq_due = false;
		if (cq->live && cq->ien)
			uvfio_server_irq_trigger(n->srv, UVFIO_PCI_MSIX_IRQ, cq->iv);
	}
}

void nvme_reset_queues(struct nvme_ctrl *n)
{
	/* Held AERs go with the admin CQ: after CC.EN = 0 the host owns
	 * the queue memory again and must see no completion there. */
	memset(n->sq, 0, sizeof(n->sq));
	memset(n->cq, 0, sizeof(n->cq));
	n->naer = 0;
	/* Jobs in flight belong to queues that are gone. */
	for (unsigned q = 0; q <= NVME_MAX_IOQ; q++)
		n->qgen[q]++;
}

static void enable(struct nvme_ctrl *n)
{
	uint32_t cc = n->cc, iosqes = (cc >> 16) & 0xf, iocqes = (cc >> 20) & 0xf;
	unsigned asqs = (n->aqa & 0xfff) + 1, acqs = ((n->aqa >> 16) & 0xfff) + 1;

	/* NVM command set, 4 KiB pages, round robin; entry sizes 64/16 or
	 * not yet chosen. */
	if ((cc & 0x3ff0) || (iosqes && iosqes != 6) || (iocqes && iocqes != 4) ||
	    asqs < 2 || acqs < 2) {
		fatal(n);
		return;
	}
	n->sq[0] = (struct nvme_sq){ .live = true, .size = (uint16_t)asqs,
				     .base = n->asq };
	n->cq[0] = (struct nvme_cq){ .live = true, .ien = true, .phase = true,
				     .size = (uint16_t)acqs, .nsq = 1,
				     .base = n->acq };
	n->csts |= NVME_CSTS_RDY;
}

static void write_cc(struct nvme_ctrl *n, uint32_t v)
{
	uint32_t old = n->cc;

	n->cc = v;
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		n->csts &= ~(NVME_CSTS_SHST_MASK | NVME_CSTS_CFS);
		enable(n);
	} else if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
		nvme_reset_queues(n);
		n->csts = 0;
	}
	if (NVME_CC_SHN(v) && !NVME_CC_SHN(old)) {
		/* Once the jobs are done (now, on fd-backed memory) what is
		 * left is the file's own cache: shutdown occurring till then. */
		n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | 1u << 2;
		n->shn_pending = true;
		nvme_shutdown_check(n);
	}
}

static void write_reg(struct nvme_ctrl *n, unsigned off, uint32_t v)
{
	switch (off) {
	case NVME_REG_INTMS:
		n->intms |= v;
		break;
	case NVME_REG_INTMC:
		n->intms &= ~v;
		break;
	case NVME_REG_CC:
		write_cc(n, v);
		break;
	case NVME_REG_AQA:
		n->aqa = v & 0x0fff0fff;
		break;
	case NVME_REG_ASQ:
		n->asq = (n->asq & ~0xffffffffull) | (v & ~(NVME_PAGE - 1));
		break;
	case NVME_REG_ASQ + 4:
		n->asq = (n->asq & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case NVME_REG_ACQ:
		n->acq = (n->acq & ~0xffffffffull) | (v & ~(NVME_PAGE - 1));
		break;
	case NVME_REG_ACQ + 4:
		n->acq = (n->acq & 0xffffffffull) | (uint64_t)v << 32;
		break;
	default: /* CAP, VS, CSTS are read-only; no NVM subsystem reset */
		break;
	}
}

static void read_regs(const struct nvme_ctrl *n, uint8_t img[NVME_REG_END])
{
	uint32_t vs = 0x00010400;
	memset(img, 0, NVME_REG_END);
	memcpy(img + NVME_REG_CAP, &n->cap, 8);
	memcpy(img + NVME_REG_VS, &vs, 4);
	memcpy(img + NVME_REG_INTMS, &n->intms, 4);
	memcpy(img + NVME_REG_INTMC, &n->intms, 4);
	memcpy(img + NVME_REG_CC, &n->cc, 4);
	memcpy(img + NVME_REG_CSTS, &n->csts, 4);
	memcpy(img + NVME_REG_AQA, &n->aqa, 4);
	memcpy(img + NVME_REG_ASQ, &n->asq, 8);
	memcpy(img + NVME_REG_ACQ, &n->acq, 8);
}

/* SQ y tail at 0x1000 + 8y, CQ y head at 0x1000 + 8y + 4. */
static void doorbell(struct nvme_ctrl *n, uint64_t off, uint32_t v)
{
	unsigned idx = (unsigned)((off - NVME_DOORBELLS) / 4), qid = idx / 2;

	/* Disabled, or a queue that is not there: the write is dropped (the
	 * spec's invalid-doorbell event is not reported yet). */
	if ((n->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) != NVME_CSTS_RDY ||
	    qid > n->max_ioq)
		return;
	if (idx & 1) {
		struct nvme_cq *cq = &n->cq[qid];
		if (!cq->live || v >= cq->size)
			return;
		cq->head = (uint16_t)v;
		/* Room again: the SQs that stopped on it go on. */
		for (unsigned q = 0; q <= n->max_ioq; q++)
			if (n->sq[q].live && n->sq[q].cqid == qid)
				process_sq(n, q);
	} else {
		struct nvme_sq *sq = &n->sq[qid];
		if (!sq->live || v >= sq->size)
			return;
		sq->tail = (uint16_t)v;
		process_sq(n, qid);
	}
	nvme_raise_irqs(n);
}

ssize_t nvme_bar0(void *opaque, unsigned index, uint64_t off, void *buf,
		  size_t count, bool is_write)
{
	struct nvme_ctrl *n = opaque;
	(void)index;

	/* Registers are dwords and qwords; anything else reads as zero and
	 * writes nothing. */
	if ((off & 3) || (count != 4 && count != 8)) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (off >= NVME_DOORBELLS && off < NVME_DOORBELLS + 8ull * (n->max_ioq + 1)) {
		uint32_t v;
		if (is_write) {
			memcpy(&v, buf, 4);
			doorbell(n, off, v & 0xffff);
		} else {
			memset(buf, 0, count); /* doorbells read as zero */
		}
		return (ssize_t)count;
	}
	if (off + count > NVME_REG_END) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (!is_write) {
		uint8_t img[NVME_REG_END];
		read_regs(n, img);
		memcpy(buf, img + off, count);
		return (ssize_t)count;
	}
	for (size_t i = 0; i < count; i += 4) {
		uint32_t v;
		memcpy(&v, (uint8_t *)buf + i, 4);
		write_reg(n, (unsigned)(off + i), v);
	}
	return (ssize_t)count;
}

void nvme_power_on(struct nvme_ctrl *n)
{
	nvme_reset_queues(n);
	n->shn_pending = false;
	n->cc = n->csts = n->aqa = n->intms = 0;
	n->asq = n->acq = 0;
	n->vwc = true;
	n->coalescing = n->aec = n->arbitration = n->power = 0;
	/* MQES, contiguous queues, 2 s ready timeout, stride 4, the NVM
	 * command set, 4 KiB pages only. */
	n->cap = NVME_MQES | 1ull << 16 | 4ull << 24 | 1ull << 37;
}
