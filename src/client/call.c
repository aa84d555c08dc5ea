/* SPDX-License-Identifier: MIT */
/*
 * Client requests: send commands, match their replies, wait for them.
 *
 * Requests wait in a FIFO; replies arrive in command order (the server
 * processes commands in order), so each reply must answer the oldest
 * pending request, and is checked against what that request expects.
 * A reply that does not fit is a protocol error and ends the connection:
 * on a byte stream there is no way to skip a bad message safely.  The
 * server's DMA_READ/DMA_WRITE commands are served as they arrive, on the
 * main socket between replies or on the twin socket.
 *
 * Threads: one recursive mutex, held by every call except while a
 * synchronous caller sleeps (see cli_wait()), so other threads can submit
 * then.  Any thread that services the sockets (a synchronous caller, or
 * the application's loop in uvfio_client_process()) may read the reply to
 * another thread's request: completing it wakes that thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "priv.h"
#include "util/util.h"

/* ---- completion ------------------------------------------------------------------ */

/* Make the reader's poll() return (lock held). */
static void kick_reader(struct uvfio_client *c)
{
	uint64_t one = 1;
	if (c->kicked)
		return;
	/* Cannot fail but by overflowing the counter, which we drain. */
	if (write(c->wakefd, &one, sizeof(one)) == sizeof(one))
		c->kicked = true;
}

/* A request is over: wake its synchronous caller or run its async op. */
static void complete(struct uvfio_client *c, struct pending *p, int result)
{
	struct async_op *op = p->op;
	p->result = result;
	p->done = true;
	if (!op) {
		/* Its caller sleeps on c->wake, or in poll() as the reader,
		 * unless it is this very thread. */
		if (c->waiters)
			pthread_cond_broadcast(&c->wake);
		if (c->reader == p && c->reader_asleep)
			kick_reader(c);
		return;
	}
	free(p);
	if (result && !op->result)
		op->result = result;
	if (--op->chunks)
		return;
	if (op->done) {
		/* The callback may submit more: we hold a recursive lock. */
		op->done(op->opaque, op->result);
	}
	free(op);
}

/* The oldest request leaves the queue. */
static struct pending *dequeue(struct uvfio_client *c)
{
	struct pending *p = c->q[c->q_head];
	c->q_head = (c->q_head + 1) % CLI_MAX_PENDING;
	c->q_len--;
	return p;
}

void cli_fail_pending(struct uvfio_client *c, int err)
{
	while (c->q_len)
		complete(c, dequeue(c), err);
}

/* ---- receive path ---------------------------------------------------------------- */

/*
 * Direct-receive sinks (tp_set_sink): a large REGION_READ reply goes
 * straight into the caller's buffer, a large DMA_WRITE into its window.
 */
void *cli_main_sink(void *opaque, const uint8_t *msg, size_t have,
		    size_t *skip)
{
	struct uvfio_client *c = opaque;
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND)
		return c->has_twin ? NULL : cli_dma_sink(c, msg, have, skip);
	if (!c->q_len)
		return NULL;
	struct pending *p = c->q[c->q_head];
	if (p->exp.cmd != UVFIO_CMD_REGION_READ)
		return NULL;
	ssize_t pre = uvfio_check_head(msg, have, &p->exp, NULL);
	if (pre < 0)
		return NULL;
	*skip = (size_t)pre;
	return p->rx_into;
}

void *cli_twin_sink(void *opaque, const uint8_t *msg, size_t have,
		    size_t *skip)
{
	return cli_dma_sink(opaque, msg, have, skip);
}

static int deliver(void *opaque, struct tp_msg *m)
{
	struct uvfio_client *c = opaque;
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));

	if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND) {
		if (c->has_twin) {
			c->tp.why = "server command on the main socket although "
				    "a twin socket was negotiated";
			return -EPROTO;
		}
		return cli_serve_dma(c, &c->tp, m);
	}
	if (!c->q_len) {
		c->tp.why = "reply with no request pending";
		return -EPROTO;
	}
	struct pending *p = c->q[c->q_head];
	struct uvfio_reply_view v;
	if (m->is_direct) {
		/* cli_main_sink checked it against this request; the data is
		 * in the caller's buffer already. */
		v = (struct uvfio_reply_view){ .hdr = h };
		v.u.region_rw.count = p->exp.count;
		dequeue(c);
		p->complete(c, p, &v, NULL);
		complete(c, p, 0);
		return 0;
	}
	int r = uvfio_parse_reply(m->buf, m->size, m->nfds, &p->exp, &v);
	if (r) {
		ulog_err(&c->log, "bad reply to %s (id %u): %s",
			  uvfio_cmd_name(p->exp.cmd), p->exp.msg_id, v.why);
		c->tp.why = "server sent a malformed reply";
		return r;
	}
	dequeue(c);
	if (!v.error && p->complete)
		p->complete(c, p, &v, m->fds);
	complete(c, p, v.error);
	return 0;
}

static int deliver_twin(void *opaque, struct tp_msg *m)
{
	struct uvfio_client *c = opaque;
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_COMMAND) {
		c->twin.why = "reply on the twin socket, which carries only "
			      "server commands";
		return -EPROTO;
	}
	return cli_serve_dma(c, &c->twin, m);
}

static void arm_one(struct uvfio_client *c, struct tp *tp, uint32_t *ev)
{
	uint32_t want = EPOLLIN | (tp_tx_pending(tp) ? EPOLLOUT : 0);
	if (want == *ev)
		return;
	struct epoll_event e = { .events = want };
	if (!epoll_ctl(c->epfd, *ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, tp->fd, &e))
		*ev = want;
}

void cli_arm(struct uvfio_client *c)
{
	if (!c->connected)
		return;
	arm_one(c, &c->tp, &c->ev_main);
	if (c->has_twin)
		arm_one(c, &c->twin, &c->ev_twin);
}

/* A connection that failed the oldest request's deadline is over. */
static int check_deadline(struct uvfio_client *c)
{
	/* The oldest request has the earliest deadline. */
	if (!c->q_len)
		return 0;
	struct pending *p = c->q[c->q_head];
	if (!p->deadline || util_now_ms() < p->deadline)
		return 0;
	ulog_err(&c->log, "%s (id %u): no reply within %u ms",
		  uvfio_cmd_name(p->exp.cmd), p->exp.msg_id, c->timeout_ms);
	cli_fail(c, -ETIMEDOUT,
		 "request timed out; the stream cannot be resynchronised");
	return -ETIMEDOUT;
}

int cli_pump(struct uvfio_client *c)
{
	if (!c->connected)
		return -ENOTCONN;
	c->in_deliver = true;
	int r = tp_recv(&c->tp, deliver, c);
	if (r >= 0 && c->connected && c->has_twin)
		r = tp_recv(&c->twin, deliver_twin, c);
	c->in_deliver = false;
	if (r >= 0 && c->connected)
		r = tp_flush(&c->tp);
	if ((r >= 0 || r == -EAGAIN) && c->connected && c->has_twin) {
		int r2 = tp_flush(&c->twin);
		if (r2 < 0 && r2 != -EAGAIN)
			r = r2;
	}
	if (r == -EAGAIN)
		r = 0;
	if (!c->connected)
		return -ENOTCONN;
	if (r < 0) {
		struct tp *bad = c->twin.why ? &c->twin : &c->tp;
		cli_fail(c, r, bad->why);
		return r;
	}
	cli_arm(c);
	return check_deadline(c);
}

/*
 * Sent now if the socket takes it; replies are read by later processing,
 * or here when the socket pushes back (a server may stop reading until its
 * replies or DMA requests are taken, and must not wedge us).  Reading only
 * then keeps a burst of calls at one send each.  A failed send is reported
 * by the pump, which disconnects.
 */
int cli_flush(struct uvfio_client *c)
{
	int r = tp_flush(&c->tp);
	if (r < 0 || tp_tx_pending(&c->tp))
		r = cli_pump(c);
	return r;
}

int uvfio_client_process(struct uvfio_client *c)
{
	cli_lock(c);
	int r = cli_pump(c);
	cli_unlock(c);
	return r;
}

/* Milliseconds until t (ms, CLOCK_MONOTONIC) as poll() takes them. */
static int ms_until(int64_t t)
{
	int64_t left = t - util_now_ms();
	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int uvfio_client_next_timeout(struct uvfio_client *c)
{
	cli_lock(c);
	int ms = -1;
	if (c->connected && c->q_len && c->q[c->q_head]->deadline)
		ms = ms_until(c->q[c->q_head]->deadline);
	cli_unlock(c);
	return ms;
}

/* ---- waiting --------------------------------------------------------------------- */

/* The reader sleeps until a socket has work, its request was completed by
 * another thread (wakefd), or the oldest deadline (lock dropped). */
static int reader_sleep(struct uvfio_client *c)
{
	struct pollfd pf[2] = {
		{ .fd = c->epfd, .events = POLLIN },
		{ .fd = c->wakefd, .events = POLLIN },
	};
	/* The oldest request has the earliest deadline. */
	int64_t dl = c->q_len ? c->q[c->q_head]->deadline : 0;
	int wait = dl ? ms_until(dl) : -1;
	cli_arm(c);
	c->reader_asleep = true;
	cli_unlock(c);
	int r = poll(pf, 2, wait);
	int err = errno;
	cli_lock(c);
	c->reader_asleep = false;
	/* Kicks are only sent under the lock while we sleep: draining here
	 * leaves none to wake the next reader for nothing. */
	if (c->kicked) {
		uint64_t v;
		if (read(c->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
		c->kicked = false;
	}
	return r < 0 && err != EINTR ? -err : 0;
}

/*
 * Service the sockets until p completes (lock held exactly once).
 *
 * Every waiter first pumps (non-blocking, under the lock).  Then one of
 * them, the reader (c->reader), sleeps in poll() on the sockets; the
 * others sleep on c->wake.  Whoever completes a synchronous request,
 * whichever thread and call it is in, broadcasts c->wake and, if it is
 * the reader's request, writes wakefd so the reader's poll() returns (see
 * complete()).  A reader whose request completed leaves and broadcasts,
 * and the first waiter to get the lock becomes the reader.  All of this
 * state changes under the lock, and a sleeper checks its condition under
 * the lock before sleeping, so no wake-up is lost.  Deadlines: the
 * reader's poll() ends at the oldest one and the pump after it fails the
 * connection, which completes (and so wakes) every waiter.
 */
int cli_wait(struct uvfio_client *c, struct pending *p)
{
	bool was_reader = false;
	while (!p->done) {
		int r = cli_pump(c);
		if (r < 0 || p->done)
			break;
		if (c->reader) {
			c->waiters++;
			c->lock_depth = 0;
			pthread_cond_wait(&c->wake, &c->lock);
			c->lock_depth = 1;
			c->waiters--;
			continue;
		}
		c->reader = p;
		was_reader = true;
		r = reader_sleep(c);
		c->reader = NULL;
		if (r < 0) {
			cli_fail(c, r, "poll failed");
			break;
		}
	}
	/* Hand reading over to a waiter still waiting. */
	if (was_reader && c->waiters)
		pthread_cond_broadcast(&c->wake);
	return p->result;
}

/* ---- submitting ------------------------------------------------------------------ */

uint16_t cli_next_id(struct uvfio_client *c)
{
	return c->next_id++;
}

int cli_submit(struct uvfio_client *c, const void *msg, size_t len,
	       const int *fds, unsigned nfds, struct pending *p)
{
	if (!c->connected)
		return -ENOTCONN;
	if (c->q_len == CLI_MAX_PENDING)
		return -EAGAIN;
	int r = msg ? tp_send(&c->tp, msg, len, fds, nfds) : 0;
	if (r)
		return r == -ENOBUFS ? -EAGAIN : r;
	p->done = false;
	p->result = 0;
	p->fd = -1;
	p->deadline = c->timeout_ms ? util_now_ms() + c->timeout_ms : 0;
	c->q[(c->q_head + c->q_len) % CLI_MAX_PENDING] = p;
	c->q_len++;
	return 0;
}

int cli_may_wait(struct uvfio_client *c)
{
	if (c->in_deliver) {
		ulog_err(&c->log, "synchronous call from a completion or DMA "
				   "callback; use the asynchronous calls there");
		return -EDEADLK;
	}
	if (c->lock_depth != 1) {
		/* It would sleep holding the lock: a bug of the library's. */
		ulog_err(&c->log, "synchronous call with the client lock held "
				   "%u times", c->lock_depth);
		return -EDEADLK;
	}
	return 0;
}

int cli_call(struct uvfio_client *c, const void *msg, size_t len,
	     const int *fds, unsigned nfds, struct pending *p)
{
	int r = cli_may_wait(c);
	if (r)
		return r;
	r = cli_submit(c, msg, len, fds, nfds, p);
	if (r == -EAGAIN) {
		/* Full queue: let replies drain, then try once more. */
		cli_pump(c);
		r = cli_submit(c, msg, len, fds, nfds, p);
	}
	return r ? r : cli_wait(c, p);
}

int cli_call_async(struct uvfio_client *c, const void *msg, size_t len,
		   const int *fds, unsigned nfds, const struct uvfio_expect *exp,
		   uvfio_client_done_fn done, void *opaque)
{
	struct async_op *op = calloc(1, sizeof(*op));
	struct pending *p = calloc(1, sizeof(*p));
	if (!op || !p) {
		free(op);
		free(p);
		return -ENOMEM;
	}
	*op = (struct async_op){ .chunks = 1, .done = done, .opaque = opaque };
	p->exp = *exp;
	p->op = op;
	int r = cli_submit(c, msg, len, fds, nfds, p);
	if (r) {
		free(op);
		free(p);
		return r;
	}
	/* Not from a callback: the caller is delivering. */
	if (!c->in_deliver)
		cli_flush(c);
	return 0;
}
