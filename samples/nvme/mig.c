/* SPDX-License-Identifier: MIT */
/*
 * Live migration of uvfio-nvme's controller state (STOP_COPY only;
 * docs/nvme.md, docs/migration.md).
 *
 * The queues live in guest memory, which is the client's and migrates
 * with it; the namespace is a file both servers open.  What moves is what
 * only the controller knows: registers, each queue's place (base, size,
 * head, tail, phase, vector), features, held AERs, the shadow doorbell
 * buffers' addresses and the SMART counters.  RUNNING -> STOP quiesces:
 * nothing is fetched any more and every request at the backend ends (its
 * CQE posted), so the state saved is one no completion will change.
 *
 * The stream is one fixed-layout little-endian record:
 *   magic u32, version u16, reserved u16, length u32 (the whole record),
 *   queue pairs u16, reserved u16, namespace blocks u64,
 *   CC, CSTS, AQA, INTMS u32, ASQ, ACQ u64,
 *   VWC u8, coalescing, async event config, arbitration, power u32,
 *   flush failed u8, held AERs u8, their command ids 4 x u16,
 *   shadow doorbells on u8, buffer iova, EventIdx iova u64,
 *   SMART: units read, units written, reads, writes, media errors u64,
 *   then NVME_MAX_IOQ + 1 queue pairs (index 0 the admin pair):
 *     SQ live u8, cqid, size, head, tail u16, base u64;
 *     CQ live, ien, phase u8, vector, size, head, tail u16, base u64.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme.h"

#define MIG_MAGIC 0x4d4e5655u /* "UVNM" little-endian */
#define MIG_VERSION 1u
#define MIG_CTRL 140u /* up to the queues */
#define MIG_QUEUE 36u /* one pair */
#define MIG_LEN (MIG_CTRL + (NVME_MAX_IOQ + 1) * MIG_QUEUE)

struct nvme_mig {
	uint8_t buf[MIG_LEN];
	size_t len, pos; /* bytes held; read position when saving */
};

/* A cursor over the record: every field is put or got in order, so save
 * and load cannot disagree on the layout. */
struct cur {
	uint8_t *p;
	size_t off;
};

static void put(struct cur *c, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		c->p[c->off++] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(struct cur *c, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)c->p[c->off++] << (8 * i);
	return v;
}

static void save_ctrl(const struct nvme_ctrl *n, struct cur *c)
{
	put(c, MIG_MAGIC, 4);
	put(c, MIG_VERSION, 2);
	put(c, 0, 2);
	put(c, MIG_LEN, 4);
	put(c, n->max_ioq, 2);
	put(c, 0, 2);
	put(c, n->nlb, 8);
	put(c, n->cc, 4);
	put(c, n->csts, 4);
	put(c, n->aqa, 4);
	put(c, n->intms, 4);
	put(c, n->asq, 8);
	put(c, n->acq, 8);
	put(c, n->vwc, 1);
	put(c, n->coalescing, 4);
	put(c, n->aec, 4);
	put(c, n->arbitration, 4);
	put(c, n->power, 4);
	put(c, n->flush_failed, 1);
	put(c, n->naer, 1);
	for (unsigned i = 0; i < NVME_MAX_AER; i++)
		put(c, n->aer_cid[i], 2);
	put(c, n->dbbuf.on, 1);
	put(c, n->dbbuf.db_iova, 8);
	put(c, n->dbbuf.ei_iova, 8);
	put(c, n->units_read, 8);
	put(c, n->units_written, 8);
	put(c, n->cmds_read, 8);
	put(c, n->cmds_written, 8);
	put(c, n->media_errors, 8);
}

static void save_queues(const struct nvme_ctrl *n, struct cur *c)
{
	for (unsigned q = 0; q <= NVME_MAX_IOQ; q++) {
		const struct nvme_sq *sq = &n->sq[q];
		const struct nvme_cq *cq = &n->cq[q];
		put(c, sq->live, 1);
		put(c, sq->cqid, 2);
		put(c, sq->size, 2);
		put(c, sq->head, 2);
		put(c, sq->tail, 2);
		put(c, sq->base, 8);
		put(c, cq->live, 1);
		put(c, cq->ien, 1);
		put(c, cq->phase, 1);
		put(c, cq->iv, 2);
		put(c, cq->size, 2);
		put(c, cq->head, 2);
		put(c, cq->tail, 2);
		put(c, cq->base, 8);
	}
}

/* Everything but the queues, into a scratch controller t; false when a
 * field cannot be ours. */
static bool load_ctrl(const struct nvme_ctrl *n, struct cur *c,
		      struct nvme_ctrl *t)
{
	bool ok = get(c, 4) == MIG_MAGIC && get(c, 2) == MIG_VERSION;
	get(c, 2);
	ok = ok && get(c, 4) == MIG_LEN && get(c, 2) == n->max_ioq;
	get(c, 2);
	ok = ok && get(c, 8) == n->nlb;
	t->cc = (uint32_t)get(c, 4);
	t->csts = (uint32_t)get(c, 4);
	t->aqa = (uint32_t)get(c, 4);
	t->intms = (uint32_t)get(c, 4);
	t->asq = get(c, 8);
	t->acq = get(c, 8);
	uint64_t vwc = get(c, 1);
	t->vwc = vwc;
	t->coalescing = (uint32_t)get(c, 4);
	t->aec = (uint32_t)get(c, 4);
	t->arbitration = (uint32_t)get(c, 4);
	t->power = (uint32_t)get(c, 4);
	uint64_t ff = get(c, 1);
	t->flush_failed = ff;
	t->naer = (unsigned)get(c, 1);
	for (unsigned i = 0; i < NVME_MAX_AER; i++)
		t->aer_cid[i] = (uint16_t)get(c, 2);
	uint64_t on = get(c, 1);
	t->dbbuf.on = on;
	t->dbbuf.db_iova = get(c, 8);
	t->dbbuf.ei_iova = get(c, 8);
	t->units_read = get(c, 8);
	t->units_written = get(c, 8);
	t->cmds_read = get(c, 8);
	t->cmds_written = get(c, 8);
	t->media_errors = get(c, 8);
	/* A queue can only be live on an enabled, ready controller, and
	 * the held AERs need the admin pair. */
	return ok && vwc <= 1 && ff <= 1 && on <= 1 && t->naer <= NVME_MAX_AER &&
	       (!on || !((t->dbbuf.db_iova | t->dbbuf.ei_iova) & (NVME_PAGE - 1)));
}

static bool qsize_ok(uint16_t size, uint16_t head, uint16_t tail)
{
	return size >= 2 && size <= NVME_MQES + 1 && head < size && tail < size;
}

static bool load_queue(struct cur *c, struct nvme_sq *sq, struct nvme_cq *cq)
{
	uint64_t sl = get(c, 1);
	sq->cqid = (uint16_t)get(c, 2);
	sq->size = (uint16_t)get(c, 2);
	sq->head = (uint16_t)get(c, 2);
	sq->tail = (uint16_t)get(c, 2);
	sq->base = get(c, 8);
	uint64_t cl = get(c, 1), ien = get(c, 1), ph = get(c, 1);
	cq->iv = (uint16_t)get(c, 2);
	cq->size = (uint16_t)get(c, 2);
	cq->head = (uint16_t)get(c, 2);
	cq->tail = (uint16_t)get(c, 2);
	cq->base = get(c, 8);
	sq->live = sl;
	cq->live = cl;
	cq->ien = ien;
	cq->phase = ph;
	return sl <= 1 && cl <= 1 && ien <= 1 && ph <= 1 &&
	       (!sl || qsize_ok(sq->size, sq->head, sq->tail)) &&
	       (!cl || qsize_ok(cq->size, cq->head, cq->tail));
}

/* The queues into t, checked against each other and --queues. */
static bool load_queues(const struct nvme_ctrl *n, struct cur *c,
			struct nvme_ctrl *t)
{
	bool ok = true;
	for (unsigned q = 0; q <= NVME_MAX_IOQ; q++) {
		ok = load_queue(c, &t->sq[q], &t->cq[q]) && ok;
		if (q > n->max_ioq && (t->sq[q].live || t->cq[q].live))
			ok = false;
		if (t->cq[q].live && t->cq[q].iv > n->max_ioq)
			ok = false;
	}
	for (unsigned q = 0; q <= NVME_MAX_IOQ && ok; q++) {
		struct nvme_sq *sq = &t->sq[q];
		if (!sq->live)
			continue;
		if (sq->cqid > n->max_ioq || !t->cq[sq->cqid].live ||
		    (q == 0) != (sq->cqid == 0))
			return false;
		t->cq[sq->cqid].nsq++;
	}
	bool ready = (t->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) == NVME_CSTS_RDY;
	return ok && t->sq[0].live == t->cq[0].live &&
	       (ready || !t->sq[0].live) && (t->sq[0].live || !t->naer);
}

/* Check the whole record, then apply it: all or nothing. */
static int load(struct nvme_ctrl *n)
{
	static struct nvme_ctrl t; /* large: not on the stack */
	struct cur c = { n->mig->buf, 0 };

	memset(&t, 0, sizeof(t));
	if (n->mig->len != MIG_LEN || !load_ctrl(n, &c, &t) ||
	    !load_queues(n, &c, &t))
		return -EINVAL;
	nvme_reset_queues(n); /* what the destination held goes */
	n->cc = t.cc;
	n->csts = t.csts;
	n->aqa = t.aqa;
	n->intms = t.intms;
	n->asq = t.asq;
	n->acq = t.acq;
	n->vwc = t.vwc;
	n->coalescing = t.coalescing;
	n->aec = t.aec;
	n->arbitration = t.arbitration;
	n->power = t.power;
	n->flush_failed = t.flush_failed;
	n->naer = t.naer;
	memcpy(n->aer_cid, t.aer_cid, sizeof(n->aer_cid));
	memcpy(n->sq, t.sq, sizeof(n->sq));
	memcpy(n->cq, t.cq, sizeof(n->cq));
	n->units_read = t.units_read;
	n->units_written = t.units_written;
	n->cmds_read = t.cmds_read;
	n->cmds_written = t.cmds_written;
	n->media_errors = t.media_errors;
	if (t.dbbuf.on)
		n->dbbuf = t.dbbuf; /* mapped at the first look */
	return 0;
}

/* What the shadow buffers were last seen holding: the values the source
 * took, so the host's next store is new and no old one is taken again.
 * EventIdx is unknown here and written afresh. */
static void dbbuf_resume(struct nvme_ctrl *n)
{
	struct nvme_dbbuf *b = &n->dbbuf;
	for (unsigned q = 0; q <= n->max_ioq; q++) {
		b->seen[2 * q] = n->sq[q].tail;
		b->seen[2 * q + 1] = n->cq[q].head;
	}
	memset(b->ei_val, 0xff, sizeof(b->ei_val));
}

/* Nothing fetched from now on; what is in flight ends here, its CQEs
 * posted (the guest's memory still moves).  A job waits for messages the
 * client must serve, which no callback can wait on: try again. */
static int quiesce(struct nvme_ctrl *n)
{
	if (!nvme_jobs_idle(n))
		return -EBUSY;
	n->mig_stopped = true;
	nvme_io_drain(n);
	/* A reset or Delete I/O SQ that waited on the requests ends now,
	 * and a shutdown's sync starts and ends too. */
	nvme_settle(n);
	nvme_io_drain(n);
	nvme_settle(n);
	return 0;
}

static void resume(struct nvme_ctrl *n)
{
	n->mig_stopped = false;
	/* Doorbells rung while stopped were taken without fetching. */
	n->kick = true;
	nvme_io_poll(n);
}

static int transition(void *opaque, enum uvfio_mig_state from,
		      enum uvfio_mig_state to)
{
	struct nvme_ctrl *n = opaque;
	struct cur c = { n->mig->buf, 0 };
	int r = 0;

	switch (to) {
	case UVFIO_MIG_STOP:
		if (from == UVFIO_MIG_RUNNING)
			r = quiesce(n);
		else if (from == UVFIO_MIG_RESUMING && !(r = load(n)))
			dbbuf_resume(n);
		break;
	case UVFIO_MIG_STOP_COPY:
		/* Doorbell page stores not polled yet (made before the stop,
		 * or while stopped) leave no message behind: taken now, as a
		 * rung register is while stopped, or they would be lost. */
		nvme_db_poll(n);
		save_ctrl(n, &c);
		save_queues(n, &c);
		assert(c.off == MIG_LEN); /* load reads exactly MIG_LEN */
		n->mig->len = c.off;
		break;
	case UVFIO_MIG_RESUMING:
		break;
	case UVFIO_MIG_RUNNING:
		resume(n);
		break;
	default:
		return -EINVAL;
	}
	n->mig->pos = 0;
	if (to != UVFIO_MIG_STOP_COPY)
		n->mig->len = 0;
	return r;
}

static ssize_t read_data(void *opaque, void *buf, size_t len)
{
	struct nvme_mig *m = ((struct nvme_ctrl *)opaque)->mig;
	size_t left = m->len - m->pos;
	if (len > left)
		len = left;
	memcpy(buf, m->buf + m->pos, len);
	m->pos += len;
	return (ssize_t)len;
}

static ssize_t write_data(void *opaque, const void *buf, size_t len)
{
	struct nvme_mig *m = ((struct nvme_ctrl *)opaque)->mig;
	/* The record has one size: more is not ours. */
	if (len > MIG_LEN - m->len)
		return -EFBIG;
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return (ssize_t)len;
}

static const struct uvfio_migration_ops mig_ops = {
	.struct_size = sizeof(struct uvfio_migration_ops),
	.transition = transition,
	.read_data = read_data,
	.write_data = write_data,
};

int nvme_mig_setup(struct nvme_ctrl *n)
{
	n->mig = calloc(1, sizeof(*n->mig));
	if (!n->mig)
		return -ENOMEM;
	int r = uvfio_server_set_migration(n->srv, &mig_ops, n,
					   UVFIO_MIGRATION_STOP_COPY);
	if (r)
		nvme_mig_free(n);
	return r;
}

void nvme_mig_free(struct nvme_ctrl *n)
{
	free(n->mig);
	n->mig = NULL;
}
