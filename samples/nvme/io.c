/* SPDX-License-Identifier: MIT */
/*
 * NVM command set I/O of uvfio-nvme.
 *
 * A command becomes a request: its checks, its guest pages mapped, then
 * a few file operations in turn (readv or writev until every byte moved,
 * fdatasync, fallocate or zeros written), each run by the backend while
 * the loop goes on.  Completions come back on the server thread
 * (nvme_io_poll), which starts the next operation or ends the request:
 * pages unmapped, CQE written, vector raised, in that order, so the host
 * sees a CQE only once its data is in place.  Requests of one SQ complete
 * in any order, as NVMe allows; the CQ slot each will use was reserved
 * when it was fetched, so a completion never finds its CQ full.
 *
 * Inline: a job's command (on its bounce buffer), a command whose CQ is
 * message-only (its CQE may need a job, one per SQ), and every command
 * without a backend (fuzz/fuzz_nvme.c) run the same operations on the
 * server thread and complete before nvme_io returns; so do reads and
 * writes at low depth on a store in memory (run_here, --io-inline).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nvme.h"

static uint64_t slba(const struct nvme_cmd *c)
{
	return (uint64_t)c->cdw[11] << 32 | c->cdw[10];
}

/* The range [lba, lba + nlb) lies in the namespace. */
static bool in_range(const struct nvme_ctrl *n, uint64_t lba, uint64_t nlb)
{
	return lba < n->nlb && nlb <= n->nlb - lba;
}

/* ---- backing-store errors as NVMe statuses (docs/nvme.md) ------------------ */

static uint16_t err_status(int err, bool read)
{
	switch (err) {
	case -ENOSPC: /* the file system is full: so is the namespace */
	case -EDQUOT:
	case -EFBIG:  /* past the file size limit */
		return NVME_CAPACITY_EXCEEDED;
	case -EIO: /* the store failed; it may not the next time */
		return (read ? NVME_UNRECOVERED_READ : NVME_WRITE_FAULT) |
		       NVME_RETRY;
	case -ENOMEM: /* short of resources for a moment */
	case -EAGAIN:
	case -EINTR:
	case -EBUSY:
		return NVME_INTERNAL_ERROR | NVME_RETRY;
	default: /* EROFS, EBADF, EINVAL...: the same again next time */
		return read ? NVME_UNRECOVERED_READ : NVME_WRITE_FAULT;
	}
}

/* An injected error replaces the result of an operation it covers. */
static void inject(const struct nvme_ctrl *n, struct nvme_req *r)
{
	struct nvme_aio *a = &r->aio;
	uint64_t len = a->op == NVME_AIO_FALLOC ? a->len : r->left;
	uint64_t lo = a->off >> NVME_LBA_SHIFT;
	uint64_t hi = (a->off + (len ? len : 1) - 1) >> NVME_LBA_SHIFT;
	for (unsigned i = 0; i < n->nfault; i++) {
		const struct nvme_fault *f = &n->fault[i];
		if (f->kind >= 0 && f->kind != (int)a->op)
			continue;
		uint64_t last = f->nlb - 1 > UINT64_MAX - f->lba
					? UINT64_MAX
					: f->lba + f->nlb - 1;
		if (a->op == NVME_AIO_FSYNC || (lo <= last && hi >= f->lba)) {
			a->res = -f->err;
			return;
		}
	}
}

/* ---- one request's operations ------------------------------------------------------ */

/* 64 KiB of zeros, written where the file cannot punch a hole. */
static const uint8_t zeros[64 * 1024];
#define ZERO_CHUNK (16 * sizeof(zeros)) /* per write */

static void rw_prep(struct nvme_ctrl *n, struct nvme_req *r)
{
	r->aio = (struct nvme_aio){
		.op = r->to_guest ? NVME_AIO_READ : NVME_AIO_WRITE,
		.fd = n->fd,
		.flags = r->dsync ? RWF_DSYNC : 0,
		.iov = r->iov + r->iovi,
		.iovcnt = (int)(r->niov - r->iovi),
		.off = r->off,
	};
}

/* A read or write moved res bytes: true when more is left to move. */
static bool rw_advance(struct nvme_ctrl *n, struct nvme_req *r, int64_t res)
{
	if (res == 0 && r->to_guest) {
		/* End of file inside the namespace: the file shrank since
		 * start-up, and those blocks are gone. */
		r->status = NVME_UNRECOVERED_READ;
		return false;
	}
	if (res <= 0) {
		r->status = err_status(res ? (int)res : -EIO, r->to_guest);
		return false;
	}
	if ((uint64_t)res >= r->left)
		return false;
	/* A short transfer: on from where it stopped. */
	r->off += (uint64_t)res;
	r->left -= (uint64_t)res;
	size_t done = (size_t)res;
	while (done >= r->iov[r->iovi].iov_len)
		done -= r->iov[r->iovi++].iov_len;
	r->iov[r->iovi].iov_base = (uint8_t *)r->iov[r->iovi].iov_base + done;
	r->iov[r->iovi].iov_len -= done;
	rw_prep(n, r);
	return true;
}

/* The next operation of a zeroing request: punch the range in hand, or
 * write zeros over the next part of it; false when every range is done. */
static bool zero_next(struct nvme_ctrl *n, struct nvme_req *r)
{
	while (!r->left) {
		if (r->ri == r->nrange)
			return false;
		r->off = r->range[r->ri].lba << NVME_LBA_SHIFT;
		r->left = r->range[r->ri++].nlb << NVME_LBA_SHIFT;
	}
	r->aio = (struct nvme_aio){ .fd = n->fd, .off = r->off };
	if (!n->no_punch) {
		/* A hole reads as zeros, as Identify's DLFEAT promises. */
		r->aio.op = NVME_AIO_FALLOC;
		r->aio.flags = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		r->aio.len = r->left;
		return true;
	}
	uint64_t len = r->left < ZERO_CHUNK ? r->left : ZERO_CHUNK;
	unsigned k = 0;
	for (uint64_t at = 0; at < len; at += sizeof(zeros), k++) {
		uint64_t l = len - at < sizeof(zeros) ? len - at : sizeof(zeros);
		/* Only read from: the cast drops const for struct iovec. */
		r->iov[k] = (struct iovec){ (void *)zeros, (size_t)l };
	}
	r->aio.op = NVME_AIO_WRITE;
	r->aio.iov = r->iov;
	r->aio.iovcnt = (int)k;
	return true;
}

static bool zero_advance(struct nvme_ctrl *n, struct nvme_req *r, int64_t res)
{
	if (r->aio.op == NVME_AIO_FALLOC) {
		if (res == -EOPNOTSUPP || res == -ENOSYS || res == -ENODEV) {
			n->no_punch = true; /* and for good: zeros from now on */
			return zero_next(n, r);
		}
		if (res < 0) {
			r->status = err_status((int)res, false);
			return false;
		}
		r->left = 0;
		return zero_next(n, r);
	}
	if (res <= 0) {
		r->status = err_status(res ? (int)res : -EIO, false);
		return false;
	}
	r->off += (uint64_t)res;
	r->left -= (uint64_t)res < r->left ? (uint64_t)res : r->left;
	return zero_next(n, r);
}

/* The operation in r->aio completed: true when r->aio holds the next. */
static bool req_advance(struct nvme_ctrl *n, struct nvme_req *r)
{
	if (n->nfault)
		inject(n, r);
	int64_t res = r->aio.res;
	switch (r->kind) {
	case NVME_REQ_RW:
		return rw_advance(n, r, res);
	case NVME_REQ_ZERO:
		return zero_advance(n, r, res);
	default: /* flush */
		/* EINVAL: a file that cannot sync has nothing cached to lose.
		 * Any other failure stays: after a failed fdatasync the page
		 * cache may have dropped the data it could not write, and
		 * the next fdatasync would succeed without it. */
		if (res < 0 && res != -EINVAL)
			n->flush_failed = true;
		if (n->flush_failed)
			r->status = NVME_WRITE_FAULT;
		return false;
	}
}

/* ---- requests from start to end ------------------------------------------------------ */

static void req_account(struct nvme_ctrl *n, const struct nvme_req *r)
{
	if (r->status || r->kind != NVME_REQ_RW)
		return;
	/* SMART counts thousands of 512-byte units. */
	if (r->to_guest) {
		n->units_read += r->bytes >> NVME_LBA_SHIFT;
		n->cmds_read++;
	} else {
		n->units_written += r->bytes >> NVME_LBA_SHIFT;
		n->cmds_written++;
	}
}

static struct nvme_req *req_get(struct nvme_ctrl *n, unsigned sqid,
				const struct nvme_cmd *c, int kind)
{
	/* process_sq fetched the command only with a request free. */
	struct nvme_req *r = &n->inline_req;
	if (!n->cur && !n->inline_io && n->free_req) {
		r = n->free_req;
		n->free_req = r->next_free;
	}
	r->kind = kind;
	r->sqid = (uint16_t)sqid;
	r->cid = c->cid;
	r->status = NVME_SUCCESS;
	r->to_guest = r->dsync = false;
	r->off = r->left = r->bytes = 0;
	r->iovi = r->niov = r->ri = r->nrange = 0;
	r->nsg = 0;
	return r;
}

static void req_put(struct nvme_ctrl *n, struct nvme_req *r)
{
	if (r == &n->inline_req)
		return;
	r->next_free = n->free_req;
	n->free_req = r;
}

/* Run r on this thread to its end: its status, for the caller's CQE,
 * which follows the unmapping of its pages as after the backend. */
static int req_run(struct nvme_ctrl *n, struct nvme_req *r)
{
	do
		nvme_aio_execute(&r->aio);
	while (req_advance(n, r));
	nvme_prp_release(n, r);
	req_account(n, r);
	return r->status;
}

/*
 * Low depth on a store in memory (n->fast_inline): a read or write costs
 * a memcpy here, against two thread hops through io-wq, which io_uring
 * takes for every request to such a file.  Only when nothing else of the
 * controller is at the backend and its SQ holds no further command: a
 * lone request has nothing to overlap with, while a burst or a deep
 * queue would be serialised on this thread and lose the parallel workers
 * and batched submissions that make the backend fast there.  One more in
 * flight (a threshold of 2) would buy nothing: the loop, busy copying,
 * could not reap the other one meanwhile.  Flush and zeroing stay at the
 * backend, rare and of unbounded length.
 */
static bool run_here(const struct nvme_ctrl *n, const struct nvme_req *r)
{
	const struct nvme_sq *sq = &n->sq[r->sqid];
	return n->fast_inline && r->kind == NVME_REQ_RW && !n->inflight &&
	       sq->head == sq->tail;
}

/* Run r, whose first operation is in r->aio: inline to its end (returns
 * its status) or at the backend (returns -1; its CQ slot reserved). */
static int req_start(struct nvme_ctrl *n, struct nvme_req *r)
{
	if (r == &n->inline_req) {
		int st = req_run(n, r);
		if (n->cur && r->to_guest && !st)
			n->cur->out_len = r->bytes; /* the job sends it */
		return st;
	}
	if (run_here(n, r)) {
		/* process_sq found the CQ with room before the fetch. */
		n->ran_inline++;
		int st = req_run(n, r);
		req_put(n, r);
		return st;
	}
	n->ran_backend++;
	r->gen = n->qgen[r->sqid];
	n->cq[n->sq[r->sqid].cqid].resv++;
	n->inflight++;
	n->qbusy[r->sqid]++;
	nvme_backend_submit(n->be, &r->aio);
	return -1;
}

/* The request failed before any operation: nothing to undo but itself. */
static int req_fail(struct nvme_ctrl *n, struct nvme_req *r, uint16_t st)
{
	nvme_prp_release(n, r);
	req_put(n, r);
	return st;
}

/* An operation of r came back from the backend. */
static void req_done(struct nvme_ctrl *n, struct nvme_req *r)
{
	/* Its SQ went away (reset, deletion): nothing more is started for
	 * it and its CQ, reserved slot included, is not touched. */
	bool stale = r->gen != n->qgen[r->sqid];
	if (!stale && req_advance(n, r)) {
		nvme_backend_submit(n->be, &r->aio);
		return;
	}
	/* The data is in place: the pages go before the CQE says so. */
	nvme_prp_release(n, r);
	n->inflight--;
	n->qbusy[r->sqid]--;
	if (!stale) {
		req_account(n, r);
		nvme_complete_reserved(n, r->sqid, r->cid, r->status);
	}
	req_put(n, r);
	n->kick = true;
}

/* ---- commands --------------------------------------------------------------------------- */

static int rw(struct nvme_ctrl *n, unsigned sqid, const struct nvme_cmd *c,
	      bool write)
{
	uint64_t lba = slba(c), nlb = (c->cdw[12] & 0xffff) + 1ull;
	if (write && n->readonly)
		return NVME_NS_WRITE_PROTECTED;
	if (!in_range(n, lba, nlb))
		return NVME_LBA_RANGE;
	if (nlb << NVME_LBA_SHIFT > (uint64_t)NVME_PAGE << NVME_MDTS)
		return NVME_INVALID_FIELD;
	struct nvme_req *r = req_get(n, sqid, c, NVME_REQ_RW);
	r->to_guest = !write;
	/* FUA (bit 30), or a write cache the host turned off: on media
	 * before the completion, with the write itself (RWF_DSYNC). */
	r->dsync = write && ((c->cdw[12] & (1u << 30)) || !n->vwc);
	r->off = lba << NVME_LBA_SHIFT;
	r->left = r->bytes = nlb << NVME_LBA_SHIFT;
	uint16_t st = nvme_prp_map(n, c, r->bytes, !write, r);
	if (st)
		return req_fail(n, r, st);
	rw_prep(n, r);
	return req_start(n, r);
}

static int write_zeroes(struct nvme_ctrl *n, unsigned sqid,
			const struct nvme_cmd *c)
{
	uint64_t lba = slba(c), nlb = (c->cdw[12] & 0xffff) + 1ull;
	if (n->readonly)
		return NVME_NS_WRITE_PROTECTED;
	if (!in_range(n, lba, nlb))
		return NVME_LBA_RANGE;
	struct nvme_req *r = req_get(n, sqid, c, NVME_REQ_ZERO);
	r->range[0] = (struct nvme_range){ lba, nlb };
	r->nrange = 1;
	zero_next(n, r);
	return req_start(n, r);
}

/* Dataset Management: only the deallocate attribute does anything. */
static int dsm(struct nvme_ctrl *n, unsigned sqid, const struct nvme_cmd *c)
{
	unsigned nr = (c->cdw[10] & 0xff) + 1;
	bool deallocate = c->cdw[11] & (1u << 2);
	uint8_t ranges[NVME_MAX_RANGES * 16];

	if (!deallocate)
		return NVME_SUCCESS; /* hints only */
	if (n->readonly)
		return NVME_NS_WRITE_PROTECTED;
	uint16_t st = nvme_prp_buf(n, c, ranges, nr * 16u, false);
	if (st)
		return st;
	/* Check every range before touching any. */
	for (unsigned i = 0; i < nr; i++) {
		uint32_t len;
		uint64_t lba;
		memcpy(&len, ranges + i * 16 + 4, 4);
		memcpy(&lba, ranges + i * 16 + 8, 8);
		if (len && !in_range(n, lba, len))
			return NVME_LBA_RANGE;
	}
	struct nvme_req *r = req_get(n, sqid, c, NVME_REQ_ZERO);
	for (unsigned i = 0; i < nr; i++) {
		uint32_t len;
		uint64_t lba;
		memcpy(&len, ranges + i * 16 + 4, 4);
		memcpy(&lba, ranges + i * 16 + 8, 8);
		if (len)
			r->range[r->nrange++] = (struct nvme_range){ lba, len };
	}
	if (!zero_next(n, r))
		return req_fail(n, r, NVME_SUCCESS); /* every range empty */
	return req_start(n, r);
}

static int flush(struct nvme_ctrl *n, unsigned sqid, const struct nvme_cmd *c)
{
	if (n->flush_failed)
		return NVME_WRITE_FAULT; /* see req_advance */
	struct nvme_req *r = req_get(n, sqid, c, NVME_REQ_FLUSH);
	r->aio = (struct nvme_aio){ .op = NVME_AIO_FSYNC, .fd = n->fd };
	return req_start(n, r);
}

uint64_t nvme_io_data_in(const struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	/* Only what the command would read before it can fail on its own:
	 * those failures then keep their statuses. */
	if (c->nsid != 1 || n->readonly)
		return 0;
	if (c->opc == NVME_CMD_WRITE) {
		uint64_t nlb = (c->cdw[12] & 0xffff) + 1ull;
		if (!in_range(n, slba(c), nlb) ||
		    nlb << NVME_LBA_SHIFT > NVME_BOUNCE)
			return 0;
		return nlb << NVME_LBA_SHIFT;
	}
	if (c->opc == NVME_CMD_DSM && (c->cdw[11] & (1u << 2)))
		return ((c->cdw[10] & 0xff) + 1ull) * 16;
	return 0;
}

int nvme_io(struct nvme_ctrl *n, unsigned sqid, const struct nvme_cmd *c)
{
	bool known = c->opc <= NVME_CMD_READ || c->opc == NVME_CMD_WRITE_ZEROES ||
		     c->opc == NVME_CMD_DSM;
	if (!known)
		return NVME_INVALID_OPCODE;
	/* Flush may name every namespace (0xffffffff); others only ours. */
	if (c->nsid != 1 && !(c->opc == NVME_CMD_FLUSH && c->nsid == 0xffffffffu))
		return NVME_INVALID_NS;
	switch (c->opc) {
	case NVME_CMD_FLUSH:
		return flush(n, sqid, c);
	case NVME_CMD_WRITE:
		return rw(n, sqid, c, true);
	case NVME_CMD_READ:
		return rw(n, sqid, c, false);
	case NVME_CMD_WRITE_ZEROES:
		return write_zeroes(n, sqid, c);
	case NVME_CMD_DSM:
		return dsm(n, sqid, c);
	default:
		return NVME_INVALID_OPCODE;
	}
}

/* ---- the loop's side ----------------------------------------------------------------- */

int nvme_io_init(struct nvme_ctrl *n, struct nvme_backend *be)
{
	n->reqs = calloc(NVME_MAX_INFLIGHT, sizeof(*n->reqs));
	if (!n->reqs)
		return -ENOMEM;
	for (unsigned i = 0; i < NVME_MAX_INFLIGHT; i++)
		req_put(n, &n->reqs[i]);
	n->be = be;
	return 0;
}

void nvme_io_fini(struct nvme_ctrl *n)
{
	nvme_io_drain(n);
	if (n->be)
		nvme_backend_destroy(n->be);
	n->be = NULL;
	free(n->reqs);
	n->reqs = n->free_req = NULL;
}

static void shutdown_synced(struct nvme_ctrl *n, int64_t res)
{
	n->shn_syncing = false;
	if (res < 0 && res != -EINVAL)
		n->flush_failed = true; /* nothing to report it in but CSTS */
	if (!n->shn_pending)
		return;
	n->shn_pending = false;
	n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
}

void nvme_io_shutdown_sync(struct nvme_ctrl *n)
{
	n->shn_aio = (struct nvme_aio){ .op = NVME_AIO_FSYNC, .fd = n->fd };
	if (!n->be) {
		nvme_aio_execute(&n->shn_aio);
		shutdown_synced(n, n->shn_aio.res);
		return;
	}
	n->shn_syncing = true;
	nvme_backend_submit(n->be, &n->shn_aio);
}

static void complete_list(struct nvme_ctrl *n, struct nvme_aio *a)
{
	while (a) {
		struct nvme_aio *next = a->next;
		if (a == &n->shn_aio)
			shutdown_synced(n, a->res);
		else
			req_done(n, (struct nvme_req *)((char *)a -
				 offsetof(struct nvme_req, aio)));
		a = next;
	}
}

/* The SQs go on, the first one in turn, so none takes every request. */
static void kick_sqs(struct nvme_ctrl *n)
{
	n->kick = false;
	unsigned nq = n->max_ioq + 1;
	n->kick_from = (n->kick_from + 1) % nq;
	for (unsigned i = 0; i < nq; i++) {
		unsigned q = (n->kick_from + i) % nq;
		if (n->sq[q].live && n->sq[q].head != n->sq[q].tail)
			nvme_sq_kick(n, q);
	}
}

void nvme_io_poll(struct nvme_ctrl *n)
{
	if (n->in_poll || n->draining)
		return;
	n->in_poll = true;
	/* Ends with a reap that found nothing after the last flush, so
	 * what a flush completed at once is not left for the next wake-up.
	 * A few rounds at most: the client's messages must not wait behind
	 * a stream of completions; past them the eventfd brings the loop
	 * back. */
	for (int round = 0;; round++) {
		if (n->kick) /* requests ended (here, or in a drain) */
			kick_sqs(n);
		nvme_settle(n);
		if (!n->be)
			break;
		nvme_backend_flush(n->be);
		struct nvme_aio *done = nvme_backend_reap(n->be, false);
		if (!done)
			break;
		complete_list(n, done);
		if (round == 3) {
			nvme_backend_notify(n->be);
			break;
		}
	}
	nvme_raise_irqs(n);
	n->in_poll = false;
}

void nvme_io_drain(struct nvme_ctrl *n)
{
	bool was = n->draining;
	n->draining = true;
	while (n->be && (n->inflight || n->shn_syncing)) {
		nvme_backend_flush(n->be);
		complete_list(n, nvme_backend_reap(n->be, true));
	}
	n->draining = was;
	nvme_raise_irqs(n);
}

/* ---- injected errors ----------------------------------------------------------------- */

static int parse_errno(const char *s, size_t len)
{
	static const struct { const char *name; int err; } names[] = {
		{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
		{ "EFBIG", EFBIG }, { "EROFS", EROFS }, { "ENOMEM", ENOMEM },
		{ "EAGAIN", EAGAIN }, { "EINVAL", EINVAL },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && !memcmp(s, names[i].name, len))
			return names[i].err;
	char *end;
	long v = strtol(s, &end, 10);
	return end == s + len && v > 0 && v < 4096 ? (int)v : -1;
}

static int parse_fault(struct nvme_fault *f, const char *s, size_t len)
{
	static const char *const ops[] = { "read", "write", "flush", "zero" };
	const char *colon = memchr(s, ':', len);
	if (!colon)
		return -EINVAL;
	size_t ol = (size_t)(colon - s);
	f->kind = ol == 3 && !memcmp(s, "any", 3) ? -1 : -2;
	for (int i = 0; i < 4; i++)
		if (strlen(ops[i]) == ol && !memcmp(s, ops[i], ol))
			f->kind = i; /* the order of enum nvme_aio_op */
	const char *e = colon + 1, *end = s + len;
	const char *c2 = memchr(e, ':', (size_t)(end - e));
	f->err = parse_errno(e, (size_t)((c2 ? c2 : end) - e));
	f->lba = 0;
	f->nlb = UINT64_MAX;
	if (c2) {
		char buf[64], *p;
		size_t l = (size_t)(end - c2 - 1);
		if (l >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, c2 + 1, l);
		buf[l] = 0;
		f->lba = strtoull(buf, &p, 0);
		f->nlb = *p == ':' ? strtoull(p + 1, &p, 0) : 1;
		if (*p || !f->nlb)
			return -EINVAL;
	}
	return f->kind == -2 || f->err < 0 ? -EINVAL : 0;
}

int nvme_io_parse_faults(struct nvme_ctrl *n, const char *spec)
{
	n->nfault = 0;
	while (spec && *spec) {
		const char *comma = strchr(spec, ',');
		size_t len = comma ? (size_t)(comma - spec) : strlen(spec);
		if (n->nfault == NVME_MAX_FAULTS ||
		    parse_fault(&n->fault[n->nfault++], spec, len))
			return -EINVAL;
		spec = comma ? comma + 1 : NULL;
	}
	return 0;
}
