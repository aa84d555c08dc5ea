/* SPDX-License-Identifier: MIT */
/*
 * DMA: the client's DMA_MAP/DMA_UNMAP, and the device's accesses to client
 * memory, directly through fd-backed windows or with DMA_READ/DMA_WRITE
 * messages (on the twin socket, twin.c, when there is one).
 *
 * Message DMA never blocks the command channel: a transfer is an op queued
 * here, sent in chunks by srv_dma_pump() on the server thread (on the twin
 * socket when there is one), and completed by srv_dma_reply() as replies
 * arrive, while the client's commands keep being answered.  The synchronous
 * calls wait for an op: on another thread with a condition variable; on
 * the server thread by running the loop (outside callbacks), or inside a
 * callback by reading the twin socket, or the main socket through a second
 * buffer while the commands arriving meanwhile are stashed for later.  With
 * QEMU that last wait is refused (-EDEADLK): QEMU answers DMA only after
 * the command being handled is answered.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "priv.h"
#include "util/util.h"

/* ---- DMA_MAP / DMA_UNMAP -------------------------------------------------------- */

void srv_handle_dma_map(struct uvfio_server *s, struct uvfio_cmd_view *v,
			int *fds)
{
	const struct uvfio_dma_map *m = &v->u.dma_map;
	uint32_t prot = 0;

	if (m->flags & UVFIO_DMA_MAP_READ)
		prot |= DMAT_READ;
	if (m->flags & UVFIO_DMA_MAP_WRITE)
		prot |= DMAT_WRITE;
	if (m->flags & UVFIO_DMA_MAP_FILE_IO) {
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"FILE_IO DMA windows are not supported; map the "
				"fd instead");
		return;
	}
	int fd = v->nfds ? fds[0] : -1;
	int r = dmat_map(&s->dma, m->addr, m->size, prot, fd, m->offset);
	if (r) {
		srv_reply_error(s, &v->hdr, -r,
				r == -EEXIST	? "window overlaps an existing one"
				: r == -ENOSPC	? "too many DMA windows"
				: r == -EINVAL	? "window outside its file or invalid"
						: "cannot map the window");
		return;
	}
	if (fd >= 0)
		fds[0] = -1; /* consumed by the window table */
	if (s->ops.dma_map)
		s->ops.dma_map(s->ops_opaque, m->addr, m->size,
			       (m->flags & (UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)) |
				       (fd >= 0 ? UVFIO_DMA_MAP_MMAP : 0));
	srv_reply_ok(s, &v->hdr, NULL, 0, NULL, 0);
}

void srv_handle_dma_unmap(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	const struct uvfio_dma_unmap *u = &v->u.dma_unmap.req;
	int r;

	if (u->flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP) {
		srv_handle_unmap_dirty(s, v); /* migration.c */
		return;
	}
	/* The device hears first so it can stop using the window; the
	 * table then waits for accesses still in flight before unmapping. */
	if (u->flags & UVFIO_DMA_UNMAP_ALL) {
		if (s->ops.dma_unmap)
			s->ops.dma_unmap(s->ops_opaque, 0, 0);
		dmat_unmap_all(&s->dma);
		r = 0;
	} else {
		struct dmat_ref ref;
		r = dmat_get(&s->dma, u->addr, u->size, 0, &ref);
		if (!r) {
			dmat_put(&s->dma, &ref);
			if (s->ops.dma_unmap)
				s->ops.dma_unmap(s->ops_opaque, u->addr, u->size);
			r = dmat_unmap(&s->dma, u->addr, u->size);
		}
	}
	if (r) {
		srv_reply_error(s, &v->hdr, -r,
				"no window matches addr and size exactly");
		return;
	}
	/* Echo of the request, within the argsz the client allowed. */
	srv_reply_ok(s, &v->hdr, u, sizeof(*u), NULL, 0);
}

/* ---- ops --------------------------------------------------------------------------- */

static void op_free(struct srv_dma_op *op)
{
	pthread_cond_destroy(&op->cond);
	free(op);
}

/* Called with s->lock held, once per op. */
static void op_finish_locked(struct uvfio_server *s, struct srv_dma_op *op,
			     struct srv_dma_op **completed)
{
	op->finished = true;
	if (op->waiting) {
		pthread_cond_broadcast(&op->cond);
		return; /* the waiter frees it */
	}
	if (op->orphan) {
		op_free(op);
		return;
	}
	/* Async completion runs after the lock is dropped. */
	op->next = *completed;
	*completed = op;
	(void)s;
}

static void op_release(struct uvfio_server *s, struct srv_dma_op *op);

static void run_completions(struct uvfio_server *s, struct srv_dma_op *list)
{
	while (list) {
		struct srv_dma_op *op = list;
		list = op->next;
		op_release(s, op);
		if (op->done)
			op->done(op->opaque, op->result);
		op_free(op);
	}
}

static void queue_remove_locked(struct uvfio_server *s, struct srv_dma_op *op)
{
	struct srv_dma_op **pp = &s->dma_q;
	while (*pp && *pp != op)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = op->next;
	if (s->dma_q_tail == &op->next)
		s->dma_q_tail = pp;
	op->queued = false;
	s->dma_q_len--;
}

/*
 * Queue a large DMA_WRITE of an asynchronous transfer with its data sent
 * from op->buf itself, which stays valid until the op completes.  0, or
 * -errno to build it the usual way.
 */
static int send_write_ext(struct srv_conn *c, struct tp *tp,
			  struct srv_dma_op *op, uint16_t id, uint64_t addr,
			  uint32_t n)
{
	size_t around = uvfio_dma_data_offset(c->dma_layout) +
			uvfio_dma_data_trailer(c->dma_layout);
	uint8_t *p = tp_reserve(tp, around);
	if (!p)
		return -errno;
	ssize_t r = uvfio_build_dma_write_head(p, around, c->dma_layout, id,
					       addr, n);
	if (r < 0) {
		tp_cancel(tp);
		return (int)r;
	}
	return tp_commit_ext_tail(tp, around, op->buf + op->sent, n,
					uvfio_dma_data_trailer(c->dma_layout),
					op);
}

/*
 * An asynchronous op that ends early (error, disconnect, stop) may still
 * have data queued to go from its buffer, or a reply being received into
 * it; its owner frees the buffer in done(), so both stop referring to it
 * here first.
 */
static void op_release(struct uvfio_server *s, struct srv_dma_op *op)
{
	struct srv_conn *c = s->conn;
	if (!c || !op->result || !op->buf)
		return;
	struct tp *tp = srv_dma_tp(c);
	tp_direct_cancel(tp, op->buf, op->len);
	if (tp_ext_detach(tp, op)) {
		/* Cannot keep the bytes: the stream must end here. */
		tp->why = "out of memory keeping DMA data of a failed transfer";
		c->drop = true;
		shutdown(tp->fd, SHUT_RDWR);
	}
}

/*
 * Direct-receive sink: the data of a large DMA_READ reply to an
 * asynchronous transfer goes straight into the transfer's buffer.
 */
void *srv_dma_sink(struct uvfio_server *s, const uint8_t *msg, size_t have,
		   size_t *skip)
{
	struct srv_conn *c = s->conn;
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	if (!c || (h.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_REPLY ||
	    h.cmd != UVFIO_CMD_DMA_READ)
		return NULL;
	void *dst = NULL;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < c->req_len; i++) {
		struct srv_dma_req *q = &c->reqs[(c->req_head + i) % SRV_DMA_INFLIGHT];
		if (!q->active || q->exp.msg_id != h.msg_id)
			continue;
		struct srv_dma_op *op = q->op;
		ssize_t pre = uvfio_check_head(msg, have, &q->exp, NULL);
		if (pre >= 0 && op->done && op->buf) {
			*skip = (size_t)pre;
			dst = op->buf + q->buf_off;
		}
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return dst;
}

void *srv_dma_sink_main(void *opaque, const uint8_t *msg, size_t have,
			size_t *skip)
{
	struct uvfio_server *s = opaque;
	if (!s->conn || s->conn->has_twin)
		return NULL;
	return srv_dma_sink(s, msg, have, skip);
}

void srv_dma_configure(struct uvfio_server *s)
{
	struct srv_conn *c = s->conn;
	/* Chunk message DMA at what both ends accept (and below QEMU's
	 * truncation point for its replies). */
	c->dma_chunk = c->peer.max_data_xfer_size < s->max_data_xfer
			       ? c->peer.max_data_xfer_size
			       : s->max_data_xfer;
	if (c->qemu && c->dma_chunk > SRV_QEMU_DMA_CHUNK)
		c->dma_chunk = SRV_QEMU_DMA_CHUNK;
	c->dma_layout = c->qemu ? UVFIO_DMA_LAYOUT_QEMU : UVFIO_DMA_LAYOUT_SPEC;
}

/*
 * DMA_READ chunk toward a client that cannot take back-pressure: two
 * replies fit the budget, so one can be answered while the next is asked,
 * and chunks stay whole pages.
 */
static uint32_t budget_chunk(uint32_t chunk, uint32_t budget)
{
	uint32_t half = budget / 2, n;
	if (half >= UVFIO_DMA_QEMU_MIN_MSG + SRV_DMA_CHUNK_ALIGN)
		n = (half - UVFIO_DMA_QEMU_MIN_MSG) & ~(SRV_DMA_CHUNK_ALIGN - 1);
	else
		n = budget - UVFIO_DMA_QEMU_MIN_MSG;
	return n < chunk ? n : chunk;
}

/* Build and queue the next message of op: n bytes at addr.  0, or -errno
 * when the send queue is full (try again once it drains). */
static int send_chunk(struct srv_conn *c, struct tp *tp, struct srv_dma_op *op,
		      uint16_t id, uint64_t addr, uint32_t n)
{
	size_t total = op->is_write
			       ? uvfio_dma_data_msg_size(c->dma_layout, n)
			       : uvfio_dma_read_msg_size(c->dma_layout);
	if (op->is_write && op->done && n >= TP_DIRECT_MIN &&
	    !send_write_ext(c, tp, op, id, addr, n))
		return 0; /* sent from op->buf where it lies: see op_release */
	uint8_t *p = tp_reserve(tp, total);
	if (!p)
		return -errno;
	ssize_t r = op->is_write
			    ? uvfio_build_dma_write_in(p, total, c->dma_layout,
						       id, addr,
						       op->buf + op->sent, n)
			    : uvfio_build_dma_read_in(p, total, c->dma_layout,
						      id, addr, n);
	if (r < 0) {
		tp_cancel(tp);
		return (int)r;
	}
	return tp_commit(tp, (size_t)r, NULL, 0);
}

void srv_dma_pump(struct uvfio_server *s)
{
	struct srv_conn *c = s->conn;
	if (!c || !c->negotiated)
		return;
	struct tp *tp = srv_dma_tp(c);
	uint32_t budget = __atomic_load_n(&s->dma_read_budget, __ATOMIC_RELAXED);

	pthread_mutex_lock(&s->lock);
	while (s->dma_q && c->req_len < SRV_DMA_INFLIGHT) {
		struct srv_dma_op *op = s->dma_q;
		uint32_t chunk = c->dma_chunk;
		uint32_t owed = 0;
		if (!op->is_write && c->qemu) {
			chunk = budget_chunk(chunk, budget);
		}
		uint32_t n = op->len - op->sent < chunk
				     ? (uint32_t)(op->len - op->sent)
				     : chunk;
		if (!op->is_write && c->qemu) {
			/* One request always goes, whatever the budget, or
			 * nothing would move. */
			owed = (uint32_t)uvfio_dma_data_msg_size(c->dma_layout, n);
			if (c->read_owed && c->read_owed + owed > budget)
				break; /* the replies coming make room */
		}
		uint64_t addr = op->iova + op->sent;
		uint16_t id = c->next_dma_id;
		if (send_chunk(c, tp, op, id, addr, n))
			break;
		c->next_dma_id++;
		c->read_owed += owed;
		struct srv_dma_req *rq =
			&c->reqs[(c->req_head + c->req_len) % SRV_DMA_INFLIGHT];
		c->req_len++;
		*rq = (struct srv_dma_req){
			.active = true,
			.exp = { .cmd = op->is_write ? UVFIO_CMD_DMA_WRITE
						     : UVFIO_CMD_DMA_READ,
				 .msg_id = id, .count = n, .addr = addr,
				 .dma_layout = c->dma_layout },
			.op = op,
			.buf_off = op->sent,
			.owed = owed,
		};
		op->inflight++;
		op->sent += n;
		if (op->sent == op->len)
			queue_remove_locked(s, op);
	}
	pthread_mutex_unlock(&s->lock);
}

int srv_dma_reply(struct uvfio_server *s, struct tp_msg *m)
{
	struct srv_conn *c = s->conn;
	struct tp *tp = srv_dma_tp(c);
	struct uvfio_reply_view v;
	struct srv_dma_op *completed = NULL;
	struct uvfio_hdr h;

	/* Replies come in order, but one waited for inside a callback is
	 * read while replies to earlier requests may still sit unread in the
	 * main buffer: match the oldest pending request with this id. */
	memcpy(&h, m->buf, sizeof(h));
	struct srv_dma_req *rq = NULL;
	for (unsigned i = 0; i < c->req_len; i++) {
		struct srv_dma_req *q = &c->reqs[(c->req_head + i) % SRV_DMA_INFLIGHT];
		if (q->active && q->exp.msg_id == h.msg_id) {
			rq = q;
			break;
		}
	}
	if (!rq) {
		tp->why = "reply from the client matches no pending DMA request";
		return -EPROTO;
	}
	int r = 0;
	if (m->is_direct) {
		/* dma_sink matched it to this request and put the data in
		 * place; only the header is here. */
		v = (struct uvfio_reply_view){ .hdr = h };
	} else {
		r = uvfio_parse_reply(m->buf, m->size, m->nfds, &rq->exp, &v);
	}
	if (r) {
		ulog_err(&s->log, "bad reply to %s (id %u): %s",
			  uvfio_cmd_name(rq->exp.cmd), rq->exp.msg_id, v.why);
		tp->why = "malformed reply to a DMA request";
		return r;
	}
	pthread_mutex_lock(&s->lock);
	struct srv_dma_op *op = rq->op;
	rq->active = false;
	c->read_owed -= rq->owed;
	while (c->req_len && !c->reqs[c->req_head].active) {
		c->req_head = (c->req_head + 1) % SRV_DMA_INFLIGHT;
		c->req_len--;
	}
	op->inflight--;
	if (v.error) {
		if (!op->result)
			op->result = v.error;
		queue_remove_locked(s, op); /* send no more of it */
	} else if (rq->exp.cmd == UVFIO_CMD_DMA_READ && op->buf &&
		   !m->is_direct) {
		memcpy(op->buf + rq->buf_off, v.u.dma_rw.data, v.u.dma_rw.count);
	} else if (rq->exp.cmd == UVFIO_CMD_DMA_WRITE) {
		/* Again now that the client has written (see op_start). */
		dmat_mark_dirty(&s->dma, rq->exp.addr, rq->exp.count);
	}
	if (!op->inflight && !op->queued && !op->finished)
		op_finish_locked(s, op, &completed);
	pthread_mutex_unlock(&s->lock);
	run_completions(s, completed);
	return 0;
}

void srv_dma_abort(struct uvfio_server *s, int err)
{
	struct srv_conn *c = s->conn;
	struct srv_dma_op *completed = NULL;

	pthread_mutex_lock(&s->lock);
	while (c && c->req_len) {
		struct srv_dma_req *rq = &c->reqs[c->req_head];
		c->req_head = (c->req_head + 1) % SRV_DMA_INFLIGHT;
		c->req_len--;
		if (!rq->active)
			continue;
		rq->active = false;
		c->read_owed -= rq->owed;
		struct srv_dma_op *op = rq->op;
		op->inflight--;
		if (!op->result)
			op->result = err;
		if (!op->inflight && !op->queued && !op->finished)
			op_finish_locked(s, op, &completed);
	}
	while (s->dma_q) {
		struct srv_dma_op *op = s->dma_q;
		queue_remove_locked(s, op);
		if (!op->result)
			op->result = err;
		if (!op->inflight && !op->finished)
			op_finish_locked(s, op, &completed);
	}
	pthread_mutex_unlock(&s->lock);
	run_completions(s, completed);
}

/* ---- the device's API ----------------------------------------------------------------- */

/*
 * The whole of [iova, iova + len) must lie in windows with the right
 * before a single byte moves: a transfer that fails must not half-happen
 * (write its first part into guest memory, then say -ENOENT), and the
 * client must never be asked for memory it did not map.
 */
static int check_windows(struct uvfio_server *s, uint64_t iova, size_t len,
			 bool is_write)
{
	uint64_t done = 0;
	while (done < len) {
		struct dmat_ref ref;
		uint64_t at = iova + done;
		if (at < iova)
			return -EOVERFLOW;
		int r = dmat_get(&s->dma, at, len - done,
				      is_write ? DMAT_WRITE : DMAT_READ,
				      &ref);
		if (r)
			return r;
		dmat_put(&s->dma, &ref);
		if (!ref.len)
			return -ENOENT;
		done += ref.len < len - done ? ref.len : len - done;
	}
	return 0;
}

/*
 * Copy through fd-backed windows as far as they go.  Returns 0 with *done
 * the bytes copied (the rest, if any, starts in a message-only window), or
 * -errno.
 */
static int copy_direct(struct uvfio_server *s, uint64_t iova, uint8_t *buf,
		       size_t len, bool is_write, size_t *done)
{
	*done = 0;
	while (*done < len) {
		struct dmat_ref ref;
		uint64_t at = iova + *done;
		if (at < iova)
			return -EOVERFLOW;
		int r = dmat_get(&s->dma, at, len - *done,
				      is_write ? DMAT_WRITE : DMAT_READ,
				      &ref);
		if (r)
			return r;
		if (!ref.ptr) {
			dmat_put(&s->dma, &ref);
			return 0;
		}
		size_t n = ref.len < len - *done ? (size_t)ref.len : len - *done;
		if (is_write) {
			memcpy(ref.ptr, buf + *done, n);
			dmat_ref_mark_dirty(&s->dma, &ref, at, n);
		} else
			memcpy(buf + *done, ref.ptr, n);
		dmat_put(&s->dma, &ref);
		*done += n;
	}
	return 0;
}

/* Queue a message transfer; returns the op (not yet sent) or NULL+errno. */
static struct srv_dma_op *op_start(struct uvfio_server *s, uint64_t iova,
			       uint8_t *buf, size_t len, bool is_write,
			       uvfio_dma_done_fn done, void *opaque,
			       bool waiting, int *err)
{
	int r = check_windows(s, iova, len, is_write);
	if (r) {
		*err = r;
		return NULL;
	}
	/* Dirty logging: marked before the client writes, so a report it
	 * answers in between cannot miss the write, and again when it has
	 * (srv_dma_reply), so a report between those two cannot either. */
	if (is_write)
		dmat_mark_dirty(&s->dma, iova, len);
	struct srv_dma_op *op = calloc(1, sizeof(*op));
	if (!op) {
		*err = -ENOMEM;
		return NULL;
	}
	*op = (struct srv_dma_op){
		.iova = iova, .buf = buf, .len = len, .is_write = is_write,
		.done = done, .opaque = opaque, .waiting = waiting,
		.queued = true,
	};
	pthread_cond_init(&op->cond, NULL);
	pthread_mutex_lock(&s->lock);
	if (!s->conn || !s->conn->negotiated) {
		pthread_mutex_unlock(&s->lock);
		op_free(op);
		*err = -ENOTCONN;
		return NULL;
	}
	if (s->dma_q_len >= SRV_DMA_MAX_QUEUED) {
		pthread_mutex_unlock(&s->lock);
		op_free(op);
		ulog_warn(&s->log, "%u message DMA transfers already queued "
				    "(the client answers slowly or not at all); "
				    "refusing more with EAGAIN",
			   SRV_DMA_MAX_QUEUED);
		*err = -EAGAIN;
		return NULL;
	}
	*s->dma_q_tail = op;
	s->dma_q_tail = &op->next;
	s->dma_q_len++;
	pthread_mutex_unlock(&s->lock);
	return op;
}

/* The server thread, inside uvfio_server_process (i.e. in a callback). */
static bool on_loop_thread(struct uvfio_server *s)
{
	return pthread_equal(__atomic_load_n(&s->loop_thread, __ATOMIC_ACQUIRE),
			     pthread_self()) &&
	       s->in_process;
}

static int deliver_nested(void *opaque, struct tp_msg *m)
{
	struct uvfio_server *s = opaque;
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY)
		return srv_dma_reply(s, m);
	/* A command: its turn comes after the one being handled. */
	int r = tp_stash_msg(&s->conn->stash, m);
	if (r)
		ulog_err(&s->log, "too many commands arrived while waiting for "
				   "DMA; dropping the client");
	return r;
}

/*
 * Server thread inside a callback, no twin socket: read the main socket
 * with a second receive buffer (the first is in use by the command being
 * handled), take the DMA replies, and stash the commands that arrive
 * meanwhile; core.c hands them back to the main transport afterwards.
 */
static int wait_nested(struct uvfio_server *s, struct srv_dma_op *op)
{
	struct srv_conn *c = s->conn;
	struct tp nest;
	int64_t deadline = util_now_ms() + s->dma_timeout_ms;
	int r = 0;

	tp_init(&nest, c->tp.fd);
	nest.max_msg_size = c->tp.max_msg_size;
	nest.max_fds = c->tp.max_fds;
	c->nesting = true;
	while (!op->finished && !r) {
		srv_dma_pump(s);
		r = tp_flush(&c->tp);
		if (r < 0 && r != -EAGAIN)
			break;
		struct pollfd pf = {
			.fd = c->tp.fd,
			.events = POLLIN | (r == -EAGAIN ? POLLOUT : 0),
		};
		int64_t left = deadline - util_now_ms();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		r = tp_recv(&nest, deliver_nested, s);
		if (r > 0)
			r = 0;
	}
	c->nesting = false;
	int rr = tp_stash_rest(&c->stash, &nest);
	/* A timeout leaves the stream whole (what was read is stashed, late
	 * replies find their orphaned request): the client stays. */
	if ((r && r != -ETIMEDOUT) || rr) {
		/* The stream is broken or cannot be kept in order. */
		c->tp.why = nest.why ? nest.why : "lost the stream while "
						  "waiting for DMA";
		c->drop = true;
		if (!r)
			r = rr;
	}
	nest.fd = -1; /* the socket is c->tp's */
	tp_fini(&nest);
	return r;
}

/* The server thread outside callbacks: run the loop until the op ends. */
static int wait_loop(struct uvfio_server *s, struct srv_dma_op *op)
{
	int64_t deadline = util_now_ms() + s->dma_timeout_ms;
	int r = 0;
	/* The loop sends the op once it sees the wake-up. */
	srv_wake(s);
	while (!op->finished && !r) {
		struct pollfd pf = { .fd = s->epfd, .events = POLLIN };
		int64_t left = deadline - util_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
			r = -errno;
		else
			r = uvfio_server_process(s);
	}
	return r;
}

/* Another thread: the server thread does the work; wait to hear. */
static int wait_cond(struct uvfio_server *s, struct srv_dma_op *op)
{
	struct timespec ts = util_deadline_ts(s->dma_timeout_ms);
	int r = 0;
	srv_wake(s);
	pthread_mutex_lock(&s->lock);
	while (!op->finished && !r)
		r = pthread_cond_timedwait(&op->cond, &s->lock, &ts) == ETIMEDOUT
			    ? -ETIMEDOUT
			    : 0;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/*
 * The synchronous caller gives up on an op that has not finished (r: why;
 * 0 when it simply took too long): the server thread frees it when its
 * replies come or the connection ends, and must not touch the caller's
 * buffer meanwhile.  Called with s->lock held; drops it.
 */
static int op_abandon_locked(struct uvfio_server *s, struct srv_dma_op *op,
			     int r)
{
	queue_remove_locked(s, op);
	op->buf = NULL;
	op->waiting = false;
	op->orphan = true;
	if (!op->inflight)
		op_free(op);
	pthread_mutex_unlock(&s->lock);
	return r ? r : -ETIMEDOUT;
}

/*
 * A synchronous message DMA inside a callback that cannot complete: QEMU
 * answers DMA only from its main loop, which waits for the reply to the
 * command this callback is handling; and a wait inside a wait has no
 * buffer left to read the main socket into.
 */
static bool would_deadlock(struct uvfio_server *s, bool in_cb, bool is_write)
{
	struct srv_conn *c = s->conn;
	if (!in_cb || !c || c->has_twin || !(c->qemu || c->nesting))
		return false;
	ulog_err(&s->log,
		  "synchronous message DMA inside a callback cannot complete "
		  "with this client (%s); use uvfio_server_dma_%s_async()",
		  c->qemu ? "QEMU answers DMA only after this command"
			  : "already waiting for DMA",
		  is_write ? "write" : "read");
	return true;
}

static int dma_sync(struct uvfio_server *s, uint64_t iova, void *buf,
		    size_t len, bool is_write)
{
	size_t done;
	int r = check_windows(s, iova, len, is_write);
	if (r)
		return r;
	r = copy_direct(s, iova, buf, len, is_write, &done);
	if (r || done == len)
		return r;

	bool mine = pthread_equal(__atomic_load_n(&s->loop_thread, __ATOMIC_ACQUIRE),
				  pthread_self());
	bool in_cb = mine && s->in_process;
	if (would_deadlock(s, in_cb, is_write))
		return -EDEADLK;
	struct srv_dma_op *op = op_start(s, iova + done, (uint8_t *)buf + done,
					 len - done, is_write, NULL, NULL,
					 true, &r);
	if (!op)
		return r;

	if (in_cb && s->conn->has_twin)
		r = srv_twin_wait(s, op);
	else if (in_cb)
		r = wait_nested(s, op);
	else if (mine)
		r = wait_loop(s, op);
	else
		r = wait_cond(s, op);

	pthread_mutex_lock(&s->lock);
	if (!op->finished) {
		r = op_abandon_locked(s, op, r);
		if (r == -ETIMEDOUT)
			ulog_warn(&s->log, "synchronous DMA %s of %zu bytes at "
					    "0x%llx timed out after %u ms: the "
					    "client does not answer",
				   is_write ? "write" : "read", len - done,
				   (unsigned long long)(iova + done),
				   s->dma_timeout_ms);
		return r;
	}
	pthread_mutex_unlock(&s->lock);
	r = op->result;
	op_free(op);
	return r;
}
int uvfio_server_dma_read(struct uvfio_server *s, uint64_t iova, void *buf,
			  size_t len)
{
	return dma_sync(s, iova, buf, len, false);
}

int uvfio_server_dma_write(struct uvfio_server *s, uint64_t iova,
			   const void *buf, size_t len)
{
	return dma_sync(s, iova, (void *)buf, len, true);
}

static int dma_async(struct uvfio_server *s, uint64_t iova, void *buf,
		     size_t len, bool is_write, uvfio_dma_done_fn done,
		     void *opaque)
{
	size_t n;
	int r = check_windows(s, iova, len, is_write);
	if (r)
		return r;
	r = copy_direct(s, iova, buf, len, is_write, &n);
	if (r)
		return r;
	if (n == len) {
		if (done)
			done(opaque, 0);
		return 0;
	}
	struct srv_dma_op *op = op_start(s, iova + n, (uint8_t *)buf + n, len - n,
				     is_write, done, opaque, false, &r);
	if (!op)
		return r;
	if (on_loop_thread(s))
		srv_dma_pump(s); /* flushed when the current batch ends */
	else
		srv_wake(s);
	return 0;
}

int uvfio_server_dma_read_async(struct uvfio_server *s, uint64_t iova,
				void *buf, size_t len, uvfio_dma_done_fn done,
				void *opaque)
{
	return dma_async(s, iova, buf, len, false, done, opaque);
}

int uvfio_server_dma_write_async(struct uvfio_server *s, uint64_t iova,
				 const void *buf, size_t len,
				 uvfio_dma_done_fn done, void *opaque)
{
	return dma_async(s, iova, (void *)buf, len, true, done, opaque);
}
