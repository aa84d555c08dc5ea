/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme's controller: BAR0 registers and doorbells, enable, disable
 * and shutdown, and the processing of submission queues.
 *
 * A doorbell arrives as a region write (posted, from QEMU), or db.c
 * finds it in the doorbell page or the shadow doorbells, and its queue is
 * processed at once: with fd-backed memory a read or write is submitted
 * to the I/O backend (io.c) and completes later, other commands complete
 * at once.  A command that meets message-only
 * memory becomes the SQ's job (job.c) and the SQ waits for it.
 *
 * What ends I/O in flight: CC.EN = 0 drops the queues at once, but
 * CSTS.RDY goes to 0 only once no request is at the backend (their
 * completions are dropped), so a host that waits for it knows no DMA is
 * left; Delete I/O SQ completes once that SQ's requests and job have
 * ended, posting nothing for them; shutdown waits for all of them, then
 * syncs the file.  Resets of the library (DEVICE_RESET, FLR, a lost
 * client) and its unmaps wait on the spot (main.c).
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
	/* An error is final (a retry would meet the same input) unless the
	 * backing store failed (io.c). */
	uint32_t sf = status & 0x7ff;
	if (status && !(status & NVME_RETRY))
		sf |= NVME_DNR;
	if ((status & 0x700) == 0x200) /* media and data integrity (SMART) */
		n->media_errors++;
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

void nvme_complete_reserved(struct nvme_ctrl *n, unsigned sqid, uint16_t cid,
			    uint16_t status)
{
	struct nvme_cq *cq = &n->cq[n->sq[sqid].cqid];
	uint32_t cqe[4];
	cq->resv--;
	/* A fatal controller posts nothing more: the host resets it. */
	if (n->csts & NVME_CSTS_CFS)
		return;
	uint64_t at = nvme_cqe_take(n, sqid, cid, 0, status, cqe);
	/* The CQ was fd-backed when the command was fetched (process_sq);
	 * a client that has since made it message-only gets CSTS.CFS. */
	if (nvme_guest_write_cqe(n, at, cqe))
		fatal(n);
	else
		cq->irq_due = true;
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

bool nvme_cq_waited(const struct nvme_ctrl *n, unsigned cqid)
{
	if (!cq_full(&n->cq[cqid]))
		return false;
	for (unsigned q = 0; q <= n->max_ioq; q++)
		if (n->sq[q].live && n->sq[q].cqid == cqid &&
		    n->sq[q].head != n->sq[q].tail)
			return true;
	return false;
}

static void run_cmd(struct nvme_ctrl *n, unsigned sqid, const uint8_t raw[64])
{
	struct nvme_cmd c;
	uint32_t dw0 = 0;

	nvme_parse_cmd(raw, &c);
	n->efault = false;
	int st = sqid == 0 ? nvme_admin(n, &c, &dw0) : nvme_io(n, sqid, &c);
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

/* The CQ lies in fd-backed memory, so a request's completion can write
 * its CQE in place whenever it comes.  A message-only one needs a job to
 * post (one per SQ), so its SQ's commands run inline, one at a time. */
static bool cq_mappable(struct nvme_ctrl *n, const struct nvme_cq *cq)
{
	struct uvfio_dma_sg sg[4];
	int cnt = uvfio_server_dma_addr_to_sg(n->srv, cq->base, cq->size * 16ull,
					      UVFIO_DMA_MAP_WRITE, sg, 4);
	if (cnt < 1 || cnt > 4)
		return false;
	for (int i = 0; i < cnt; i++)
		if (!(sg[i].flags & UVFIO_DMA_SG_MAPPABLE))
			return false;
	return true;
}

/* Run the commands between head and tail, while their CQ has room, no
 * job holds the SQ and (I/O queues) a request is free; a full CQ resumes
 * from its head doorbell, a job from its end, a request from the end of
 * another (nvme_io_poll). */
static void process_sq(struct nvme_ctrl *n, unsigned sqid)
{
	struct nvme_sq *sq = &n->sq[sqid];
	uint8_t raw[64];

	/* Draining: no new DMA until the library has done what it drains
	 * for.  A Delete I/O SQ in progress holds the admin queue. */
	if (n->draining || n->mig_stopped || !sq->live ||
	    (sqid == 0 && n->del_sq))
		return;
	n->inline_io = !n->be || !cq_mappable(n, &n->cq[sq->cqid]);
	while (sq->live && sq->head != sq->tail &&
	       (n->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) == NVME_CSTS_RDY &&
	       !n->job[sqid].active && !cq_full(&n->cq[sq->cqid]) &&
	       (sqid == 0 || n->inline_io || n->free_req) &&
	       !(sqid == 0 && n->del_sq)) {
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

/* CC.EN = 0 is complete: CSTS.RDY goes to 0, and an enable the host
 * wrote meanwhile (too early: it should wait for RDY = 0) is done now. */
static void reset_done(struct nvme_ctrl *n);

void nvme_settle(struct nvme_ctrl *n)
{
	if (n->resetting && !n->inflight)
		reset_done(n);
	if (n->del_sq && !n->qbusy[n->del_sq] && !n->job[n->del_sq].active) {
		/* The deleted SQ's DMA is over: the host may reuse its
		 * memory once it sees this. */
		uint16_t cid = n->del_cid;
		n->del_sq = 0;
		n->cq[0].resv--;
		nvme_complete(n, 0, cid, 0, NVME_SUCCESS);
		nvme_sq_kick(n, 0);
	}
	/* Shutdown waits for the writes in flight, then syncs the file. */
	if (n->shn_pending && !n->shn_syncing && !n->inflight &&
	    nvme_jobs_idle(n))
		nvme_io_shutdown_sync(n);
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
	n->del_sq = 0; /* its CQE would go to the admin CQ, gone too */
	/* Doorbell Buffer Config does not outlive a controller reset: the
	 * host configures it again (and Linux does). */
	nvme_dbbuf_forget(n);
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
	nvme_db_queue_init(n, 0);
	nvme_db_queue_init(n, 1);
	n->csts |= NVME_CSTS_RDY;
}

static void reset_done(struct nvme_ctrl *n)
{
	n->resetting = false;
	n->csts = 0;
	if (n->cc & NVME_CC_EN)
		enable(n);
}

static void write_cc(struct nvme_ctrl *n, uint32_t v)
{
	uint32_t old = n->cc;

	n->cc = v;
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN) && !n->resetting) {
		n->csts &= ~(NVME_CSTS_SHST_MASK | NVME_CSTS_CFS);
		enable(n);
	} else if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
		/* The queues go now: nothing more is fetched or posted.
		 * Requests in flight still move data; RDY says when not. */
		nvme_reset_queues(n);
		n->resetting = true;
	}
	if (NVME_CC_SHN(v) && !NVME_CC_SHN(old)) {
		/* Occurring until the jobs and requests are done and the
		 * file is synced (nvme_settle). */
		n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | 1u << 2;
		n->shn_pending = true;
		/* The host submits nothing after a shutdown: its buffers may
		 * be freed while the controller still has them mapped. */
		nvme_dbbuf_forget(n);
	}
	nvme_settle(n);
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

bool nvme_ready(const struct nvme_ctrl *n)
{
	return (n->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) == NVME_CSTS_RDY;
}

void nvme_db_apply(struct nvme_ctrl *n, unsigned idx, uint32_t v)
{
	unsigned qid = idx / 2;

	/* Disabled, or a queue that is not there: the write is dropped (the
	 * spec's invalid-doorbell event is not reported yet). */
	v &= 0xffff; /* the upper half of a doorbell is reserved */
	if (!nvme_ready(n) || qid > n->max_ioq)
		return;
	if (idx & 1) {
		struct nvme_cq *cq = &n->cq[qid];
		/* A head that passes the tail would hand us slots the host
		 * has not read yet: dropped, as an invalid value. */
		if (!cq->live || v >= cq->size ||
		    (v + cq->size - cq->head) % cq->size >
			    (unsigned)(cq->tail + cq->size - cq->head) % cq->size)
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
			nvme_db_write(n, (unsigned)((off - NVME_DOORBELLS) / 4), v);
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
	/* A library reset: the client's next command may remap memory, so
	 * the requests in flight end here (their completions dropped). */
	nvme_reset_queues(n);
	nvme_io_drain(n);
	n->resetting = false;
	n->shn_pending = false;
	n->mig_stopped = false; /* DEVICE_RESET leaves every migration state */
	n->cc = n->csts = n->aqa = n->intms = 0;
	n->asq = n->acq = 0;
	n->vwc = true;
	n->coalescing = n->aec = n->arbitration = n->power = 0;
	/* MQES, contiguous queues, 2 s ready timeout, stride 4, the NVM
	 * command set, 4 KiB pages only. */
	n->cap = NVME_MQES | 1ull << 16 | 4ull << 24 | 1ull << 37;
}
