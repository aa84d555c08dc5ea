/* SPDX-License-Identifier: MIT */
/*
 * Commands of uvfio-nvme on message-only guest memory (windows without an
 * fd: every access is a DMA_READ/DMA_WRITE message to the client).
 *
 * Such an access may never wait inside a callback (QEMU answers DMA only
 * after the doorbell write in hand: EDEADLK), so a command that meets
 * message-only memory becomes a job that completes later: fetch the SQ
 * entry -> walk the PRP list -> data in to a bounce buffer -> run the
 * command against the bounce buffer -> data out -> write the CQE ->
 * raise the vector.  Every step is an async DMA whose completion runs on
 * the server thread and moves the job on; steps wait for every transfer
 * of the one before, so the host sees a CQE only after its data is in
 * its memory, and the vector only after the CQE.
 *
 * One job per SQ, and the SQ waits for it: commands of an SQ complete in
 * order, memory is one bounce buffer per SQ, and at most one command per
 * SQ is in flight.  A reset or SQ deletion moves n->qgen: completions of
 * the job that arrive after it only let go of the buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme.h"

enum {
	J_IDLE = 0,
	J_FETCH = NVME_JOB_FETCH,
	J_PREP = NVME_JOB_PREP,
	J_POST = NVME_JOB_POST,
	J_FETCHED,
	J_IN_WALK,
	J_IN_DATA,
	J_EXEC,
	J_OUT_WALK,
	J_OUT_DATA,
	J_POSTED,
};

/* Transfers a job starts per step: with NVME_MAX_IOQ + 1 jobs that stays
 * far below the library's 1024 queued transfers (-EAGAIN). */
#define BATCH 64u

static void job_run(struct nvme_job *j, bool kick);

static bool stale(const struct nvme_job *j)
{
	return j->gen != j->n->qgen[j->sqid];
}

static void job_done(void *opaque, int result)
{
	struct nvme_job *j = opaque;
	if (result && !j->err)
		j->err = result;
	if (--j->pending || j->running)
		return;
	job_run(j, true);
}

static int xfer(struct nvme_job *j, bool to_guest, uint64_t iova, void *buf,
		size_t len)
{
	j->pending++;
	int r = to_guest ? uvfio_server_dma_write_async(j->n->srv, iova, buf,
							len, job_done, j)
			 : uvfio_server_dma_read_async(j->n->srv, iova, buf,
						       len, job_done, j);
	if (r)
		j->pending--; /* not started: done will not run */
	return r;
}

static void finish(struct nvme_job *j)
{
	if (j->resv && !stale(j))
		j->n->cq[j->n->sq[j->sqid].cqid].resv--;
	j->resv = false;
	j->active = false;
	j->state = J_IDLE;
}

/* Queue memory failed: the controller is fatal, as on the sync path. */
static void fatal(struct nvme_job *j)
{
	j->n->csts |= NVME_CSTS_CFS;
	finish(j);
}

/* The command ends with status; a transfer error it ends with is spent. */
static void fail(struct nvme_job *j, uint16_t status)
{
	j->err = 0;
	j->status = status;
	j->state = J_POST;
}

/* Begin walking the command's PRPs for len bytes; false: failed. */
static bool walk_begin(struct nvme_job *j, uint64_t len)
{
	j->xlen = len;
	j->xi = 0;
	j->xoff = 0;
	j->w_left = 0;
	j->w_read = false;
	uint16_t st = nvme_prp_first(&j->cmd, len, j->pages, &j->npages,
				     &j->w_list, &j->w_left);
	if (st && st != NVME_WALK_LIST) {
		fail(j, st);
		return false;
	}
	return true;
}

/* 1: walk done; 0: a list piece is being read; -1: failed (to J_POST). */
static int walk_step(struct nvme_job *j)
{
	if (j->err) {
		fail(j, NVME_DATA_XFER_ERROR);
		return -1;
	}
	if (j->w_read) {
		j->w_read = false;
		for (uint64_t i = 0; i < j->w_take; i++) {
			uint64_t e = j->ent[i];
			if (e & (NVME_PAGE - 1)) {
				fail(j, NVME_INVALID_PRP_OFFSET);
				return -1;
			}
			j->pages[j->npages++] = e;
		}
		j->w_left -= j->w_take;
		if (j->w_left) {
			/* The chain slot: page aligned, so the walk advances. */
			j->w_list = j->ent[j->w_take];
			if (j->w_list & (NVME_PAGE - 1)) {
				fail(j, NVME_INVALID_PRP_OFFSET);
				return -1;
			}
		}
	}
	if (!j->w_left)
		return 1;
	uint64_t room = (NVME_PAGE - (j->w_list & (NVME_PAGE - 1))) / 8;
	j->w_take = j->w_left <= room ? j->w_left : room - 1;
	uint64_t want = j->w_take + (j->w_left > j->w_take ? 1 : 0);
	j->w_read = true;
	if (xfer(j, false, j->w_list, j->ent, want * 8)) {
		fail(j, NVME_DATA_XFER_ERROR);
		return -1;
	}
	return 0;
}

/* Move the walked pieces between guest and bounce buffer, contiguous
 * pieces as one transfer; state next once all are done. */
static void data_step(struct nvme_job *j, bool to_guest, int next)
{
	if (j->err) {
		fail(j, NVME_DATA_XFER_ERROR);
		return;
	}
	if (j->xi == j->npages) {
		j->state = next;
		return;
	}
	for (unsigned k = 0; k < BATCH && j->xi < j->npages; k++) {
		uint64_t start = j->pages[j->xi];
		uint64_t run = nvme_piece_len(j->pages[0], j->xi, j->xlen);
		for (j->xi++; j->xi < j->npages && j->pages[j->xi] == start + run;
		     j->xi++)
			run += nvme_piece_len(j->pages[0], j->xi, j->xlen);
		int r = xfer(j, to_guest, start, j->bounce + j->xoff, run);
		j->xoff += run;
		if (r) {
			j->err = r; /* reported once the others are done */
			return;
		}
	}
}

static void prep(struct nvme_job *j)
{
	j->status = NVME_SUCCESS;
	j->dw0 = 0;
	j->out_len = 0;
	if (!j->bounce && !(j->bounce = malloc(NVME_BOUNCE))) {
		fail(j, NVME_INTERNAL_ERROR);
		return;
	}
	j->in_len = j->sqid ? nvme_io_data_in(j->n, &j->cmd) : 0;
	if (!j->in_len)
		j->state = J_EXEC;
	else if (walk_begin(j, j->in_len))
		j->state = J_IN_WALK;
}

static void exec(struct nvme_job *j)
{
	struct nvme_ctrl *n = j->n;
	n->cur = j;
	/* n->cur: the command runs inline, on the bounce buffer. */
	int st = j->sqid ? nvme_io(n, j->sqid, &j->cmd)
			 : nvme_admin(n, &j->cmd, &j->dw0);
	n->cur = NULL;
	n->efault = false;
	if (st < 0) { /* held (an AER, a Delete I/O SQ): no CQE now */
		finish(j);
		return;
	}
	j->status = st;
	j->state = J_POST;
	if (!st && j->out_len && walk_begin(j, j->out_len))
		j->state = J_OUT_WALK;
}

static void post(struct nvme_job *j)
{
	struct nvme_ctrl *n = j->n;
	struct nvme_cq *cq = &n->cq[n->sq[j->sqid].cqid];
	cq->resv--;
	j->resv = false;
	uint64_t at = nvme_cqe_take(n, j->sqid, j->cmd.cid, j->dw0,
				    (uint16_t)j->status, j->cqe);
	/* Mappable: the phase tag stored last, as on the sync path. */
	int r = nvme_guest_write_cqe(n, at, j->cqe);
	if (r == -EFAULT)
		r = xfer(j, true, at, j->cqe, 16);
	if (r)
		fatal(j);
	else
		j->state = J_POSTED;
}

static void posted(struct nvme_job *j)
{
	struct nvme_ctrl *n = j->n;
	if (j->err) {
		fatal(j);
		return;
	}
	n->cq[n->sq[j->sqid].cqid].irq_due = true;
	finish(j);
	nvme_raise_irqs(n);
}

static void fetch(struct nvme_job *j)
{
	struct nvme_sq *sq = &j->n->sq[j->sqid];
	if (xfer(j, false, sq->base + sq->head * 64ull, j->raw, 64))
		fatal(j);
	else
		j->state = J_FETCHED;
}

static void fetched(struct nvme_job *j)
{
	struct nvme_sq *sq = &j->n->sq[j->sqid];
	if (j->err) {
		fatal(j);
		return;
	}
	sq->head = (uint16_t)((sq->head + 1u) % sq->size);
	nvme_parse_cmd(j->raw, &j->cmd);
	j->state = J_PREP;
}

static void step(struct nvme_job *j)
{
	switch (j->state) {
	case J_FETCH: fetch(j); break;
	case J_FETCHED: fetched(j); break;
	case J_PREP: prep(j); break;
	case J_IN_WALK:
		if (walk_step(j) > 0)
			j->state = J_IN_DATA;
		break;
	case J_IN_DATA: data_step(j, false, J_EXEC); break;
	case J_EXEC: exec(j); break;
	case J_OUT_WALK:
		if (walk_step(j) > 0)
			j->state = J_OUT_DATA;
		break;
	case J_OUT_DATA: data_step(j, true, J_POST); break;
	case J_POST: post(j); break;
	case J_POSTED: posted(j); break;
	default: finish(j); break;
	}
}

/* Step while nothing is in flight.  kick: called from a completion, so
 * the SQ (which waited for the job) goes on once it is done; from
 * nvme_job_start the SQ's own loop does that. */
static void job_run(struct nvme_job *j, bool kick)
{
	struct nvme_ctrl *n = j->n;
	j->running = true;
	while (j->active && !j->pending) {
		if (stale(j)) {
			/* Its SQ is gone: touch no queue, write no CQE. */
			j->resv = false;
			j->active = false;
			j->state = J_IDLE;
			break;
		}
		/* Transfer errors are picked up by the state they end. */
		step(j);
	}
	j->running = false;
	if (j->active || !kick)
		return;
	if (n->sq[j->sqid].live)
		nvme_sq_kick(n, j->sqid);
	nvme_settle(n);
}

void nvme_job_start(struct nvme_ctrl *n, unsigned sqid, int state,
		    const struct nvme_cmd *c, int status, uint32_t dw0)
{
	struct nvme_job *j = &n->job[sqid];
	j->n = n;
	j->sqid = sqid;
	j->active = true;
	j->gen = n->qgen[sqid];
	j->pending = 0;
	j->err = 0;
	j->resv = true;
	n->cq[n->sq[sqid].cqid].resv++;
	j->state = state;
	if (c)
		j->cmd = *c;
	j->status = status;
	j->dw0 = dw0;
	job_run(j, false);
}

void nvme_job_cancel(struct nvme_ctrl *n, unsigned sqid)
{
	struct nvme_job *j = &n->job[sqid];
	if (j->active && !stale(j) && j->resv)
		n->cq[n->sq[sqid].cqid].resv--;
	j->resv = false;
	n->qgen[sqid]++;
}

bool nvme_jobs_idle(const struct nvme_ctrl *n)
{
	for (unsigned q = 0; q <= NVME_MAX_IOQ; q++)
		if (n->job[q].active)
			return false;
	return true;
}

void nvme_jobs_free(struct nvme_ctrl *n)
{
	for (unsigned q = 0; q <= NVME_MAX_IOQ; q++) {
		free(n->job[q].bounce);
		n->job[q].bounce = NULL;
	}
}
