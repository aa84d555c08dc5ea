/* SPDX-License-Identifier: MIT */
/*
 * Client: connect, negotiate, send commands and match their replies.
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
 * synchronous caller sleeps (see wait_for()), so other threads can submit
 * then.  Any thread that services the sockets (a synchronous caller, or
 * the application's loop in uvfio_client_process()) may read the reply to
 * another thread's request: completing it wakes that thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "priv.h"
#include "util/util.h"
#include "transport/sock.h"

int uvfio_client_create(struct uvfio_client **cp)
{
	struct uvfio_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->lock, &a);
	pthread_mutexattr_destroy(&a);
	pthread_cond_init(&c->wake, NULL);
	ulogger_init(&c->log, "client");
	c->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
	c->tp.fd = -1;
	c->twin.fd = -1;
	for (unsigned i = 0; i < CLI_MAX_REGIONS; i++)
		c->regions[i].fd = -1;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->epfd < 0 || c->wakefd < 0) {
		int err = -errno;
		if (c->epfd >= 0)
			close(c->epfd);
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return err;
	}
	*cp = c;
	return 0;
}

void uvfio_client_set_log(struct uvfio_client *c, uvfio_log_fn fn,
			  void *opaque, int level)
{
	LOCK(c);
	c->log.fn = fn;
	c->log.opaque = opaque;
	if (!c->log.env_level)
		c->log.level = level;
	UNLOCK(c);
}

void uvfio_client_set_twin_socket(struct uvfio_client *c, bool offer)
{
	LOCK(c);
	c->no_twin = !offer;
	UNLOCK(c);
}

void uvfio_client_set_timeout(struct uvfio_client *c, unsigned timeout_ms)
{
	LOCK(c);
	c->timeout_ms = timeout_ms;
	UNLOCK(c);
}

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
	(void)c;
}

static void fail_pending(struct uvfio_client *c, int err)
{
	while (c->q_len) {
		struct pending *p = c->q[c->q_head];
		c->q_head = (c->q_head + 1) % CLI_MAX_PENDING;
		c->q_len--;
		complete(c, p, err);
	}
}

static void regions_drop(struct uvfio_client *c);

static void teardown(struct uvfio_client *c, int err)
{
	/* Marked first: completions run below may call into the client. */
	c->connected = false;
	if (c->tp.fd >= 0)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->tp.fd, NULL);
	if (c->has_twin)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->twin.fd, NULL);
	c->ev_main = c->ev_twin = 0;
	tp_fini(&c->tp);
	if (c->has_twin)
		tp_fini(&c->twin);
	c->has_twin = false;
	c->tp.fd = -1;
	c->twin.fd = -1;
	regions_drop(c);
	fail_pending(c, err);
}

void uvfio_client_disconnect(struct uvfio_client *c)
{
	LOCK(c);
	if (c->connected || c->tp.fd >= 0)
		teardown(c, -ENOTCONN);
	UNLOCK(c);
}

void uvfio_client_destroy(struct uvfio_client *c)
{
	if (!c)
		return;
	uvfio_client_disconnect(c);
	cli_windows_drop(c);
	cli_irqs_drop(c);
	free(c->path);
	close(c->epfd);
	close(c->wakefd);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void conn_fail(struct uvfio_client *c, int err, const char *why)
{
	ulog_err(&c->log, "connection failed: %s", why ? why : strerror(-err));
	teardown(c, err);
}

void cli_fail(struct uvfio_client *c, int err, const char *why)
{
	conn_fail(c, err, why);
}

/* ---- receive path ---------------------------------------------------------------- */

/* Where a synchronous region access puts its data and says how much. */
struct rw_out {
	void *buf;
	uint32_t want;
	uint32_t got;
};


/*
 * Direct-receive sinks (tp_set_sink): a large REGION_READ reply goes
 * straight into the caller's buffer, a large DMA_WRITE into its window.
 */
static void *main_sink(void *opaque, const uint8_t *msg, size_t have,
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
	return p->op ? p->out : ((struct rw_out *)p->out)->buf;
}

static void *twin_sink(void *opaque, const uint8_t *msg, size_t have,
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
		/* main_sink checked it against this request; the data is
		 * in the caller's buffer already. */
		v = (struct uvfio_reply_view){ .hdr = h };
		v.u.region_rw.count = p->exp.count;
		c->q_head = (c->q_head + 1) % CLI_MAX_PENDING;
		c->q_len--;
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
	c->q_head = (c->q_head + 1) % CLI_MAX_PENDING;
	c->q_len--;
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

/* Keep the poll fd's interest in line with what is queued to send. */
static void arm_one(struct uvfio_client *c, struct tp *tp, uint32_t *ev)
{
	uint32_t want = EPOLLIN | (tp_tx_pending(tp) ? EPOLLOUT : 0);
	if (want == *ev)
		return;
	struct epoll_event e = { .events = want };
	if (!epoll_ctl(c->epfd, *ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, tp->fd, &e))
		*ev = want;
}

static void arm(struct uvfio_client *c)
{
	if (!c->connected)
		return;
	arm_one(c, &c->tp, &c->ev_main);
	if (c->has_twin)
		arm_one(c, &c->twin, &c->ev_twin);
}

/* Read, serve and flush both sockets without blocking (lock held). */
static int pump(struct uvfio_client *c)
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
		conn_fail(c, r, bad->why);
		return r;
	}
	arm(c);
	/* The oldest request has the earliest deadline. */
	if (c->q_len) {
		struct pending *p = c->q[c->q_head];
		if (p->deadline && util_now_ms() >= p->deadline) {
			ulog_err(&c->log, "%s (id %u): no reply within %u ms",
				  uvfio_cmd_name(p->exp.cmd), p->exp.msg_id,
				  c->timeout_ms);
			conn_fail(c, -ETIMEDOUT,
				  "request timed out; the stream cannot be "
				  "resynchronised");
			return -ETIMEDOUT;
		}
	}
	return 0;
}

int uvfio_client_process(struct uvfio_client *c)
{
	LOCK(c);
	int r = pump(c);
	UNLOCK(c);
	return r;
}

int uvfio_client_poll_fd(struct uvfio_client *c)
{
	return c->epfd;
}

int uvfio_client_next_timeout(struct uvfio_client *c)
{
	LOCK(c);
	int ms = -1;
	if (c->connected && c->q_len && c->q[c->q_head]->deadline) {
		int64_t left = c->q[c->q_head]->deadline - util_now_ms();
		ms = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
	}
	UNLOCK(c);
	return ms;
}

int uvfio_client_twin_fd(struct uvfio_client *c)
{
	LOCK(c);
	int fd = c->connected && c->has_twin ? c->twin.fd : -1;
	UNLOCK(c);
	return fd;
}

/* The oldest request's deadline (ms, CLOCK_MONOTONIC), 0 for none. */
static int64_t next_deadline(const struct uvfio_client *c)
{
	return c->q_len ? c->q[c->q_head]->deadline : 0;
}

/* The reader sleeps until a socket has work, its request was completed by
 * another thread (wakefd), or the oldest deadline (lock dropped). */
static int reader_sleep(struct uvfio_client *c)
{
	struct pollfd pf[2] = {
		{ .fd = c->epfd, .events = POLLIN },
		{ .fd = c->wakefd, .events = POLLIN },
	};
	int64_t dl = next_deadline(c);
	int wait = -1;
	if (dl) {
		int64_t left = dl - util_now_ms();
		wait = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
	}
	arm(c);
	c->reader_asleep = true;
	UNLOCK(c);
	int r = poll(pf, 2, wait);
	int err = errno;
	LOCK(c);
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
 * the reader's request, writes wakefd so the reader's poll() returns.  A
 * reader whose request completed leaves and broadcasts, and the first
 * waiter to get the lock becomes the reader.  All of this state changes
 * under the lock, and a sleeper checks its condition under the lock
 * before sleeping, so no wake-up is lost.  Deadlines: the reader's poll()
 * ends at the oldest one and the pump after it fails the connection,
 * which completes (and so wakes) every waiter.
 */
static int wait_for(struct uvfio_client *c, struct pending *p)
{
	bool was_reader = false;
	while (!p->done) {
		int r = pump(c);
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
			conn_fail(c, r, "poll failed");
			break;
		}
	}
	/* Hand reading over to a waiter still waiting. */
	if (was_reader && c->waiters)
		pthread_cond_broadcast(&c->wake);
	return p->result;
}

uint16_t cli_next_id(struct uvfio_client *c)
{
	return c->next_id++;
}

/* Queue a built message waiting for p's reply (lock held). */
static int submit(struct uvfio_client *c, const void *msg, size_t len,
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

/* Whether this thread may wait for a reply (lock held). */
static int may_wait(struct uvfio_client *c)
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
	int r = may_wait(c);
	if (r)
		return r;
	r = submit(c, msg, len, fds, nfds, p);
	if (r == -EAGAIN) {
		/* Full queue: let replies drain, then try once more. */
		pump(c);
		r = submit(c, msg, len, fds, nfds, p);
	}
	return r ? r : wait_for(c, p);
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
	int r = submit(c, msg, len, fds, nfds, p);
	if (r) {
		free(op);
		free(p);
		return r;
	}
	/* Sent now if the socket takes it; replies are read by later
	 * processing, or here when the socket pushes back (a server may stop
	 * reading until its replies are taken).  Reading only then keeps a
	 * burst of calls at one send each.  Not from a callback: the caller
	 * is delivering. */
	if (!c->in_deliver) {
		r = tp_flush(&c->tp);
		if (r < 0 || tp_tx_pending(&c->tp))
			pump(c);
	}
	return 0;
}

#define call cli_call
#define next_id cli_next_id

/* Completion: copy the payload out (as much as fits) and keep one fd. */
static void complete_copy(struct uvfio_client *c, struct pending *p,
			  struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	p->got = v->len < p->out_len ? v->len : p->out_len;
	if (p->got)
		memcpy(p->out, v->payload, p->got);
	if (v->nfds) {
		p->fd = fds[0];
		fds[0] = -1;
	}
}

/* ---- negotiation ----------------------------------------------------------------- */

struct version_result {
	int twin_fd;
	char json[UVFIO_MAX_JSON_LEN];
	uint32_t json_len;
	uint16_t major, minor;
	bool twin_fd_ok;
};

static void complete_version(struct uvfio_client *c, struct pending *p,
			     struct uvfio_reply_view *v, int *fds)
{
	struct version_result *vr = p->out;
	vr->major = v->u.version.major;
	vr->minor = v->u.version.minor;
	vr->json_len = v->u.version.json_len;
	if (vr->json_len)
		memcpy(vr->json, v->u.version.json, vr->json_len);
	/* Only the fd named by twin_socket.fd_index is kept; the transport
	 * closes the others.  Which one that is is known only after the JSON
	 * is parsed, so parse here. */
	struct uvfio_caps caps;
	if (uvfio_caps_parse(v->u.version.json, v->u.version.json_len, &caps,
			     NULL) == 0 &&
	    caps.twin_socket && (caps.present & UVFIO_CAP_HAS_TWIN_FD_INDEX) &&
	    caps.twin_fd_index < v->nfds) {
		vr->twin_fd = fds[caps.twin_fd_index];
		fds[caps.twin_fd_index] = -1;
	}
	(void)c;
}

static int negotiate(struct uvfio_client *c)
{
	struct uvfio_caps mine;
	char json[256];
	uint8_t msg[512];
	const char *why = NULL;

	uvfio_caps_defaults(&mine);
	mine.max_msg_fds = CLI_MAX_MSG_FDS;
	mine.max_data_xfer_size = CLI_MAX_DATA_XFER;
	mine.twin_socket = true;
	ssize_t jl = uvfio_caps_format(&mine,
				       UVFIO_CAP_HAS_MAX_MSG_FDS |
					       UVFIO_CAP_HAS_MAX_DATA_XFER |
					       (c->no_twin ? 0 : UVFIO_CAP_HAS_TWIN_SOCKET),
				       json, sizeof(json));
	if (jl < 0)
		return (int)jl;
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_version(msg, sizeof(msg), id, false,
					UVFIO_VERSION_MAJOR,
					UVFIO_VERSION_MINOR, json);
	if (n < 0)
		return (int)n;

	struct version_result *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return -ENOMEM;
	vr->twin_fd = -1;
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_VERSION, .msg_id = id, .max_fds = CLI_MAX_MSG_FDS },
		.complete = complete_version,
		.out = vr,
	};
	int r = call(c, msg, (size_t)n, NULL, 0, &p);
	if (r) {
		ulog_err(&c->log, "VERSION refused by the server: %s",
			  strerror(-r));
		goto out;
	}
	r = -EPROTO;
	if (vr->major != UVFIO_VERSION_MAJOR || vr->minor > UVFIO_VERSION_MINOR) {
		ulog_err(&c->log, "server answered protocol version %u.%u; "
				   "this client speaks 0.0 to 0.%u",
			  vr->major, vr->minor, UVFIO_VERSION_MINOR);
		goto out;
	}
	if (uvfio_caps_parse(vr->json_len ? vr->json : NULL, vr->json_len,
			     &c->srv, &why)) {
		ulog_err(&c->log, "server VERSION capabilities rejected: %s", why);
		goto out;
	}
	if (c->srv.twin_socket) {
		struct stat st;
		if (vr->twin_fd < 0 || fstat(vr->twin_fd, &st) < 0 ||
		    !S_ISSOCK(st.st_mode)) {
			ulog_err(&c->log, "server claims a twin socket but did "
					   "not pass a socket at fd_index");
			goto out;
		}
		if (usock_set_nonblock(vr->twin_fd))
			goto out;
		tp_init(&c->twin, vr->twin_fd);
		tp_set_sink(&c->twin, twin_sink);
		c->twin.max_fds = 0;
		c->has_twin = true;
		vr->twin_fd = -1;
	}
	c->minor = vr->minor;
	c->xfer = c->srv.max_data_xfer_size < CLI_MAX_DATA_XFER
			  ? c->srv.max_data_xfer_size
			  : CLI_MAX_DATA_XFER;
	r = 0;
out:
	if (vr->twin_fd >= 0)
		close(vr->twin_fd);
	free(vr);
	return r;
}

int uvfio_client_adopt_fd(struct uvfio_client *c, int fd)
{
	if (fd < 0)
		return -EBADF;
	LOCK(c);
	if (c->connected || c->tp.fd >= 0)
		teardown(c, -ENOTCONN);
	int r = usock_set_nonblock(fd);
	if (r) {
		close(fd);
		UNLOCK(c);
		return r;
	}
	tp_init(&c->tp, fd);
	tp_set_sink(&c->tp, main_sink);
	c->conn_id++;
	c->tp.max_fds = CLI_MAX_MSG_FDS;
	c->tp.max_msg_size = UVFIO_HDR_SIZE + CLI_CTRL_MAX + CLI_MAX_DATA_XFER;
	c->connected = true;
	arm(c);
	r = negotiate(c);
	arm(c); /* the twin socket, if negotiated */
	/* After a reconnect, the device gets back what it had. */
	if (!r)
		r = cli_windows_resend(c);
	if (!r)
		r = cli_irqs_resend(c);
	if (r) {
		if (c->connected || c->tp.fd >= 0)
			teardown(c, -ENOTCONN);
		UNLOCK(c);
		return r;
	}
	ulog_info(&c->log, "connected: protocol 0.%u, server max_data_xfer_size "
			    "%u, max_msg_fds %u%s",
		   c->minor, c->srv.max_data_xfer_size, c->srv.max_msg_fds,
		   c->has_twin ? ", twin socket" : "");
	UNLOCK(c);
	return 0;
}

int uvfio_client_connect(struct uvfio_client *c, const char *path)
{
	LOCK(c);
	unsigned wait_ms = c->timeout_ms ? c->timeout_ms : UINT32_MAX;
	UNLOCK(c);
	int fd = usock_connect(path, wait_ms);
	if (fd < 0) {
		ulog_err(&c->log, "cannot connect to %s: %s", path,
			  fd == -EAGAIN ? "the server is busy with another "
					  "client (its backlog stayed full)"
					: strerror(-fd));
		return fd;
	}
	LOCK(c);
	if (!c->path || strcmp(c->path, path)) {
		free(c->path);
		c->path = strdup(path);
	}
	UNLOCK(c);
	return uvfio_client_adopt_fd(c, fd);
}

int uvfio_client_reconnect(struct uvfio_client *c)
{
	LOCK(c);
	char *path = c->path ? strdup(c->path) : NULL;
	UNLOCK(c);
	if (!path)
		return -EINVAL;
	int r = uvfio_client_connect(c, path);
	free(path);
	return r;
}

bool uvfio_client_connected(struct uvfio_client *c)
{
	LOCK(c);
	bool r = c->connected;
	UNLOCK(c);
	return r;
}

const struct uvfio_caps *uvfio_client_server_caps(struct uvfio_client *c)
{
	return c->connected ? &c->srv : NULL;
}

int uvfio_client_version_minor(struct uvfio_client *c)
{
	return c->connected ? c->minor : -ENOTCONN;
}

bool uvfio_client_has_twin_socket(struct uvfio_client *c)
{
	return c->connected && c->has_twin;
}

/* ---- device queries -------------------------------------------------------------- */

int uvfio_client_get_device_info(struct uvfio_client *c,
				 struct uvfio_device_info *info)
{
	uint8_t msg[64];
	LOCK(c);
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_device_get_info(msg, sizeof(msg), id);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_GET_INFO, .msg_id = id,
			 .argsz = sizeof(*info) },
		.complete = complete_copy,
		.out = info,
		.out_len = sizeof(*info),
	};
	memset(info, 0, sizeof(*info));
	int r = call(c, msg, (size_t)n, NULL, 0, &p);
	UNLOCK(c);
	return r;
}

/* Ask once with argsz 32 and, if the server needs more, once more with
 * what it says; keep the reply (caps included) and the region fd. */
static int fetch_region(struct uvfio_client *c, unsigned index,
			struct cli_region *cr)
{
	uint8_t msg[64];
	uint32_t argsz = sizeof(struct uvfio_region_info);

	for (int attempt = 0; attempt < 2; attempt++) {
		uint8_t *buf = calloc(1, argsz);
		if (!buf)
			return -ENOMEM;
		uint16_t id = next_id(c);
		ssize_t n = uvfio_build_get_region_info(msg, sizeof(msg), id,
							index, argsz);
		struct pending p = {
			.exp = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_INFO,
				 .msg_id = id, .argsz = argsz, .index = index,
				 .max_fds = 1 },
			.complete = complete_copy,
			.out = buf,
			.out_len = argsz,
		};
		int r = call(c, msg, (size_t)n, NULL, 0, &p);
		/* The reply can arrive in the same pump that then loses the
		 * connection: teardown has dropped the cache already, so
		 * caching now would keep the fd past the connection. */
		if (!r && !c->connected)
			r = -ENOTCONN;
		/* Another thread fetched it while we waited: keep theirs,
		 * whose caps pointers may be in use already. */
		if (!r && cr->valid) {
			if (p.fd >= 0)
				close(p.fd);
			free(buf);
			return 0;
		}
		struct uvfio_region_info ri;
		if (!r)
			memcpy(&ri, buf, sizeof(ri));
		if (r || ri.argsz > argsz) {
			/* Short reply: any fd that came with it is re-sent
			 * with the full one. */
			if (p.fd >= 0)
				close(p.fd);
			free(buf);
			if (r)
				return r;
			if (ri.argsz > CLI_CTRL_MAX) {
				ulog_err(&c->log, "region %u info needs %u "
						   "bytes; refusing",
					  index, ri.argsz);
				return -E2BIG;
			}
			argsz = ri.argsz;
			continue;
		}
		const char *why = NULL;
		r = uvfio_parse_region_caps(buf, (uint32_t)p.got, &cr->caps, &why);
		if (r) {
			ulog_err(&c->log, "region %u capabilities rejected: %s",
				  index, why);
			if (p.fd >= 0)
				close(p.fd);
			free(buf);
			return r;
		}
		cr->info = ri;
		cr->raw = buf;
		cr->fd = p.fd;
		cr->valid = true;
		return 0;
	}
	return -EPROTO; /* the server asked for more twice */
}

static struct cli_region *region_get(struct uvfio_client *c, unsigned index,
				     int *err)
{
	if (!c->connected) {
		*err = -ENOTCONN;
		return NULL;
	}
	if (index >= CLI_MAX_REGIONS) {
		*err = -EINVAL;
		return NULL;
	}
	struct cli_region *cr = &c->regions[index];
	if (!cr->valid && (*err = fetch_region(c, index, cr)))
		return NULL;
	return cr;
}

int uvfio_client_get_region_info(struct uvfio_client *c, unsigned index,
				 struct uvfio_region_info *info)
{
	int r = 0;
	LOCK(c);
	struct cli_region *cr = region_get(c, index, &r);
	if (cr)
		*info = cr->info;
	UNLOCK(c);
	return r;
}

const struct uvfio_region_caps *
uvfio_client_region_caps(struct uvfio_client *c, unsigned index)
{
	int r;
	LOCK(c);
	struct cli_region *cr = region_get(c, index, &r);
	UNLOCK(c);
	return cr ? &cr->caps : NULL;
}

static void regions_drop(struct uvfio_client *c)
{
	for (unsigned i = 0; i < CLI_MAX_REGIONS; i++) {
		struct cli_region *cr = &c->regions[i];
		if (cr->map)
			munmap(cr->map, cr->info.size);
		if (cr->fd >= 0)
			close(cr->fd);
		free(cr->raw);
		memset(cr, 0, sizeof(*cr));
		cr->fd = -1;
	}
}

int uvfio_client_get_irq_info(struct uvfio_client *c, unsigned index,
			      struct uvfio_irq_info *info)
{
	uint8_t msg[64];
	LOCK(c);
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_get_irq_info(msg, sizeof(msg), id, index);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO, .msg_id = id,
			 .argsz = sizeof(*info), .index = index },
		.complete = complete_copy,
		.out = info,
		.out_len = sizeof(*info),
	};
	memset(info, 0, sizeof(*info));
	int r = call(c, msg, (size_t)n, NULL, 0, &p);
	UNLOCK(c);
	return r;
}

/* Where a GET_REGION_IO_FDS reply goes. */
struct io_fds_out {
	struct uvfio_client_io_fd *out;
	unsigned max;
	uint32_t count; /* entries the region has */
	uint32_t argsz; /* what the server says the whole reply needs */
	bool entries;   /* entries (and their fds) came with the reply */
};

static void complete_io_fds(struct uvfio_client *c, struct pending *p,
			    struct uvfio_reply_view *v, int *fds)
{
	struct io_fds_out *o = p->out;
	uint32_t stride = v->u.io_fds.stride;
	/* Entries may share an fd: each gets its own. */
	int given[CLI_MAX_MSG_FDS];
	for (unsigned i = 0; i < CLI_MAX_MSG_FDS; i++)
		given[i] = -1;
	o->count = v->u.io_fds.hdr.count;
	o->argsz = v->u.io_fds.hdr.argsz;
	o->entries = stride != 0;
	for (uint32_t i = 0; o->entries && i < o->count && i < o->max; i++) {
		const uint8_t *e = v->u.io_fds.entries + (size_t)i * stride;
		struct uvfio_io_fd_entry ent;
		memcpy(&ent, e, sizeof(ent));
		uint64_t dm = ent.datamatch;
		if (stride == sizeof(struct uvfio_io_fd_entry_lvu)) {
			struct uvfio_io_fd_entry_lvu l;
			memcpy(&l, e, sizeof(l));
			dm = l.datamatch;
		}
		int fd = -1;
		uint32_t k = ent.fd_index;
		if (k != UVFIO_IO_FD_NONE && k < CLI_MAX_MSG_FDS) {
			if (given[k] < 0) {
				fd = given[k] = fds[k];
				fds[k] = -1;
			} else {
				fd = fcntl(given[k], F_DUPFD_CLOEXEC, 3);
				if (fd < 0)
					ulog_warn(&c->log, "io fd entry %u: %s", i,
						   strerror(errno));
			}
		}
		o->out[i] = (struct uvfio_client_io_fd){
			.offset = ent.offset, .size = ent.size, .fd = fd,
			.type = ent.type, .flags = ent.flags, .datamatch = dm,
		};
	}
}

int uvfio_client_get_region_io_fds(struct uvfio_client *c, unsigned index,
				   struct uvfio_client_io_fd *out,
				   unsigned max)
{
	if (max && !out)
		return -EINVAL;
	/* Room for max entries of the larger (libvfio-user) layout; the
	 * server sends entries only if all of them fit. */
	uint64_t want = sizeof(struct uvfio_io_fds) +
			(uint64_t)max * sizeof(struct uvfio_io_fd_entry_lvu);
	uint32_t argsz = want > CLI_CTRL_MAX ? CLI_CTRL_MAX : (uint32_t)want;
	uint8_t msg[64];
	int r = -EPROTO;
	LOCK(c);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct io_fds_out o = { .out = out, .max = max };
		uint16_t id = next_id(c);
		ssize_t n = uvfio_build_get_region_io_fds(msg, sizeof(msg), id,
							  index, argsz);
		struct pending p = {
			.exp = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_IO_FDS,
				 .msg_id = id, .argsz = argsz, .index = index,
				 .max_fds = CLI_MAX_MSG_FDS },
			.complete = complete_io_fds,
			.out = &o,
		};
		r = n < 0 ? (int)n : call(c, msg, (size_t)n, NULL, 0, &p);
		if (r)
			break;
		if (o.entries || !o.count || !max) {
			r = o.count > INT32_MAX ? INT32_MAX : (int)o.count;
			break;
		}
		/* More entries than we made room for: ask for all of them,
		 * with the size the server says they need. */
		if (o.argsz <= argsz || o.argsz > CLI_CTRL_MAX) {
			ulog_err(&c->log, "GET_REGION_IO_FDS of region %u: %u "
					   "entries in %u bytes; refusing",
				  index, o.count, o.argsz);
			r = -EPROTO;
			break;
		}
		argsz = o.argsz;
		r = -EPROTO;
	}
	UNLOCK(c);
	return r;
}

int uvfio_client_reset(struct uvfio_client *c)
{
	uint8_t msg[UVFIO_HDR_SIZE];
	LOCK(c);
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_device_reset(msg, sizeof(msg), id);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_RESET, .msg_id = id },
	};
	int r = call(c, msg, (size_t)n, NULL, 0, &p);
	UNLOCK(c);
	return r;
}

/* ---- region access ----------------------------------------------------------------- */

static void complete_read(struct uvfio_client *c, struct pending *p,
			  struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	(void)fds;
	uint32_t got = v->u.region_rw.count;
	if (p->op) {
		/* Async: out is the caller's buffer; a short read is an error. */
		if (got && v->u.region_rw.data)
			memcpy(p->out, v->u.region_rw.data, got);
		if (got != p->exp.count && !p->op->result)
			p->op->result = -EIO;
		return;
	}
	struct rw_out *o = p->out;
	o->got = got;
	if (got && v->u.region_rw.data)
		memcpy(o->buf, v->u.region_rw.data, got);
}

static void complete_write(struct uvfio_client *c, struct pending *p,
			   struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	(void)fds;
	/* libvfio-user answers a 0-byte write without payload. */
	uint32_t got = v->len ? v->u.region_rw.count : p->exp.count;
	if (p->op) {
		if (got != p->exp.count && !p->op->result)
			p->op->result = -EIO;
		return;
	}
	((struct rw_out *)p->out)->got = got;
}

/* Build a REGION_READ/WRITE straight into the send queue: a write's data
 * is copied once, from the caller's buffer, and nothing is allocated. */
static int queue_rw(struct uvfio_client *c, unsigned index, uint64_t off,
		    const void *data, uint32_t n, bool is_write, bool no_reply,
		    uint16_t id, const void *in_place)
{
	if (in_place && is_write && n >= TP_DIRECT_MIN) {
		/* A synchronous write's data stays put until its reply: send
		 * it from there (the caller detaches if it must leave early). */
		struct uvfio_region_rw rw = { .offset = off, .region = index,
					      .count = n };
		const size_t pre = UVFIO_HDR_SIZE + sizeof(rw);
		uint8_t *m = tp_reserve(&c->tp, pre);
		if (!m)
			return errno == ENOBUFS ? -EAGAIN : -errno;
		uvfio_build_hdr(m, id, UVFIO_CMD_REGION_WRITE, 0, pre + n);
		memcpy(m + UVFIO_HDR_SIZE, &rw, sizeof(rw));
		int r = tp_commit_ext(&c->tp, pre, data, n, in_place);
		if (r != -ENOBUFS)
			return r;
	}
	size_t need = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw) +
		      (is_write ? n : 0);
	void *m = tp_reserve(&c->tp, need);
	if (!m)
		return errno == ENOBUFS ? -EAGAIN : -errno;
	ssize_t ml = is_write ? uvfio_build_region_write(m, need, id, no_reply,
							 index, off, data, n)
			      : uvfio_build_region_read(m, need, id, index,
							off, n);
	if (ml < 0) {
		tp_cancel(&c->tp);
		return (int)ml;
	}
	return tp_commit(&c->tp, (size_t)ml, NULL, 0);
}

/* Queue one region access with p waiting for its reply (lock held). */
static int submit_rw(struct uvfio_client *c, unsigned index, uint64_t off,
		     const void *data, uint32_t n, bool is_write,
		     struct pending *p, const void *in_place)
{
	if (!c->connected)
		return -ENOTCONN;
	if (c->q_len == CLI_MAX_PENDING)
		return -EAGAIN;
	int r = queue_rw(c, index, off, data, n, is_write, false,
			 p->exp.msg_id, in_place);
	return r ? r : submit(c, NULL, 0, NULL, 0, p);
}

/* Access through the client's mapping when the whole range is inside one
 * mapped sparse area.  Returns true if done. */
static bool access_mapped(struct uvfio_client *c, unsigned index,
			  uint64_t off, void *buf, size_t len, bool is_write)
{
	if (index >= CLI_MAX_REGIONS || !c->regions[index].map)
		return false;
	struct cli_region *cr = &c->regions[index];
	const struct uvfio_region_caps *caps = &cr->caps;
	struct uvfio_sparse_area whole = { 0, cr->info.size };
	uint32_t n = caps->has_sparse ? caps->nr_areas : 1;
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_sparse_area a = whole;
		if (caps->has_sparse)
			memcpy(&a, caps->areas + i * sizeof(a), sizeof(a));
		if (off >= a.offset && len <= a.size &&
		    off - a.offset <= a.size - len) {
			uint8_t *p = (uint8_t *)cr->map + off;
			if (is_write)
				memcpy(p, buf, len);
			else
				memcpy(buf, p, len);
			return true;
		}
	}
	return false;
}

static int region_rw(struct uvfio_client *c, unsigned index, uint64_t offset,
		     void *buf, size_t len, bool is_write)
{
	LOCK(c);
	if (!c->connected) {
		UNLOCK(c);
		return -ENOTCONN;
	}
	if (access_mapped(c, index, offset, buf, len, is_write)) {
		UNLOCK(c);
		return 0;
	}
	uint8_t *b = buf;
	size_t done = 0;
	int r = may_wait(c);
	if (r) {
		UNLOCK(c);
		return r;
	}
	do {
		uint32_t n = (uint32_t)(len - done < c->xfer ? len - done : c->xfer);
		struct rw_out o = { b + done, n, 0 };
		struct pending p = {
			.exp = { .cmd = is_write ? UVFIO_CMD_REGION_WRITE
						 : UVFIO_CMD_REGION_READ,
				 .msg_id = next_id(c), .count = n,
				 .index = index, .addr = offset + done },
			.complete = is_write ? complete_write : complete_read,
			.out = &o,
		};
		r = submit_rw(c, index, offset + done, b + done, n, is_write,
			      &p, &o);
		if (r == -EAGAIN) {
			/* Full queue: let replies drain, then try once more. */
			pump(c);
			r = submit_rw(c, index, offset + done, b + done, n,
				      is_write, &p, &o);
		}
		if (!r)
			r = wait_for(c, &p);
		/* A reply before the whole request left (a broken server)
		 * must not leave the send queue pointing into the caller's
		 * buffer. */
		if (c->connected && tp_ext_busy(&c->tp, &o) &&
		    tp_ext_detach(&c->tp, &o))
			conn_fail(c, -ENOMEM, "out of memory keeping a write");
		if (r)
			break;
		if (o.got != n) {
			r = -EIO;
			break;
		}
		done += n;
	} while (done < len);
	UNLOCK(c);
	return r;
}

int uvfio_client_region_read(struct uvfio_client *c, unsigned index,
			     uint64_t offset, void *buf, size_t len)
{
	return region_rw(c, index, offset, buf, len, false);
}

int uvfio_client_region_write(struct uvfio_client *c, unsigned index,
			      uint64_t offset, const void *buf, size_t len)
{
	return region_rw(c, index, offset, (void *)buf, len, true);
}

/*
 * Asynchronous access: one message per chunk, all queued now (the write's
 * data is copied into the send queue), done() once the last reply is in.
 */
static int region_rw_async(struct uvfio_client *c, unsigned index,
			   uint64_t offset, void *buf, size_t len,
			   bool is_write, uvfio_client_done_fn done,
			   void *opaque)
{
	LOCK(c);
	if (!c->connected) {
		UNLOCK(c);
		return -ENOTCONN;
	}
	size_t chunks = len ? (len + c->xfer - 1) / c->xfer : 1;
	if (chunks > CLI_MAX_PENDING - c->q_len) {
		UNLOCK(c);
		return -EAGAIN;
	}
	struct async_op *op = calloc(1, sizeof(*op));
	if (!op) {
		UNLOCK(c);
		return -ENOMEM;
	}
	*op = (struct async_op){ .chunks = 1, .done = done, .opaque = opaque };
	uint8_t *b = buf;
	size_t off = 0;
	int r = 0;
	do {
		uint32_t n = (uint32_t)(len - off < c->xfer ? len - off : c->xfer);
		uint16_t id = next_id(c);
		struct pending *p = calloc(1, sizeof(*p));
		if (!p) {
			r = -ENOMEM;
			break;
		}
		*p = (struct pending){
			.exp = { .cmd = is_write ? UVFIO_CMD_REGION_WRITE
						 : UVFIO_CMD_REGION_READ,
				 .msg_id = id, .count = n, .index = index,
				 .addr = offset + off },
			.complete = is_write ? complete_write : complete_read,
			.out = b + off,
			.op = op,
		};
		op->chunks++;
		r = submit_rw(c, index, offset + off, b + off, n, is_write, p,
			      NULL);
		if (r) {
			op->chunks--;
			free(p);
			break;
		}
		off += n;
	} while (off < len);
	/* Drop the submission's own count.  If some chunks went out, done()
	 * will run and carry the error; the call itself then succeeds, so
	 * the caller hears of the outcome exactly once. */
	bool queued = op->chunks > 1;
	if (r && queued) {
		if (!op->result)
			op->result = r;
		r = 0;
	}
	if (--op->chunks == 0) {
		if (op->done && !r)
			op->done(op->opaque, op->result);
		free(op);
	} else if (!c->in_deliver) {
		pump(c); /* send now; replies come with later processing */
	}
	UNLOCK(c);
	return r;
}

int uvfio_client_region_read_async(struct uvfio_client *c, unsigned index,
				   uint64_t offset, void *buf, size_t len,
				   uvfio_client_done_fn done, void *opaque)
{
	return region_rw_async(c, index, offset, buf, len, false, done, opaque);
}

int uvfio_client_region_write_async(struct uvfio_client *c, unsigned index,
				    uint64_t offset, const void *buf,
				    size_t len, uvfio_client_done_fn done,
				    void *opaque)
{
	return region_rw_async(c, index, offset, (void *)buf, len, true, done,
			       opaque);
}

int uvfio_client_region_write_posted(struct uvfio_client *c, unsigned index,
				     uint64_t offset, const void *buf,
				     size_t len)
{
	LOCK(c);
	if (!c->connected) {
		UNLOCK(c);
		return -ENOTCONN;
	}
	if (access_mapped(c, index, offset, (void *)buf, len, true)) {
		UNLOCK(c);
		return 0;
	}
	/* Posted writes are the hot path of a guest's MMIO stores: build each
	 * message straight into the send queue (no allocation, one copy) and
	 * only flush, since no reply will come.  The receive side is pumped
	 * only when the socket pushes back, so a server that stops reading
	 * until we drain its DMA requests cannot wedge us. */
	const uint8_t *b = buf;
	size_t off = 0;
	int r = 0;
	do {
		uint32_t n = (uint32_t)(len - off < c->xfer ? len - off : c->xfer);
		size_t need = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw) + n;
		void *m = tp_reserve(&c->tp, need);
		if (!m) {
			r = -errno;
			break;
		}
		ssize_t ml = uvfio_build_region_write(m, need, next_id(c), true,
						      index, offset + off,
						      b + off, n);
		if (ml < 0) {
			tp_cancel(&c->tp);
			r = (int)ml;
			break;
		}
		r = tp_commit(&c->tp, (size_t)ml, NULL, 0);
		off += n;
	} while (!r && off < len);
	if (!r && !c->in_deliver) {
		r = tp_flush(&c->tp);
		if (r == -EAGAIN || tp_tx_pending(&c->tp))
			r = pump(c);
		else if (r < 0)
			r = pump(c); /* reports the failure and disconnects */
	}
	UNLOCK(c);
	return r == -ENOBUFS ? -EAGAIN : r;
}

int uvfio_client_region_write_multi(struct uvfio_client *c,
				    const struct uvfio_write_multi_entry *e,
				    unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!e[i].count || e[i].count > UVFIO_WRITE_MULTI_DATA)
			return -EINVAL;
	LOCK(c);
	int r = c->connected ? 0 : -ENOTCONN;
	if (!r && !c->srv.write_multiple) {
		/* Not offered: the same writes, one posted message each. */
		for (unsigned i = 0; i < n && !r; i++)
			r = uvfio_client_region_write_posted(c, e[i].region,
							     e[i].offset,
							     e[i].data,
							     e[i].count);
		UNLOCK(c);
		return r;
	}
	uint8_t *msg = NULL;
	for (unsigned done = 0; !r && done < n;) {
		unsigned k = n - done < UVFIO_WRITE_MULTI_MAX ? n - done
							      : UVFIO_WRITE_MULTI_MAX;
		size_t cap = UVFIO_HDR_SIZE + 8 + k * sizeof(*e);
		uint8_t *m = realloc(msg, cap);
		if (!m) {
			r = -ENOMEM;
			break;
		}
		msg = m;
		/* Unused data bytes go out as zeros, not as stack contents. */
		ssize_t ml = uvfio_build_write_multi(msg, cap, next_id(c),
						     e + done, k);
		struct uvfio_write_multi_entry z;
		for (unsigned i = 0; i < k; i++) {
			memcpy(&z, msg + UVFIO_HDR_SIZE + 8 + i * sizeof(z),
			       sizeof(z));
			memset(z.data + z.count, 0, UVFIO_WRITE_MULTI_DATA - z.count);
			memcpy(msg + UVFIO_HDR_SIZE + 8 + i * sizeof(z), &z,
			       sizeof(z));
		}
		r = ml < 0 ? (int)ml : tp_send(&c->tp, msg, (size_t)ml,
						     NULL, 0);
		done += k;
	}
	free(msg);
	if (!r && !c->in_deliver)
		r = pump(c);
	UNLOCK(c);
	return r == -ENOBUFS ? -EAGAIN : r;
}

/* ---- mmap ----------------------------------------------------------------------------- */

int uvfio_client_region_mmap(struct uvfio_client *c, unsigned index,
			     void **addr)
{
	LOCK(c);
	int r = 0;
	struct cli_region *cr = region_get(c, index, &r);
	if (!cr)
		goto out;
	if (cr->map) {
		*addr = cr->map;
		goto out;
	}
	if (!(cr->info.flags & UVFIO_REGION_MMAP) || cr->fd < 0 ||
	    !cr->info.size) {
		r = -ENOTSUP;
		goto out;
	}
	int prot = (cr->info.flags & UVFIO_REGION_READ ? PROT_READ : 0) |
		   (cr->info.flags & UVFIO_REGION_WRITE ? PROT_WRITE : 0);
	/* Pages of a file beyond its end raise SIGBUS when touched: a file
	 * shorter than the areas the server announced is refused here
	 * rather than crashing us at the first access. */
	struct stat st;
	if (fstat(cr->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		const struct uvfio_region_caps *sc = &cr->caps;
		for (uint32_t i = 0; i < (sc->has_sparse ? sc->nr_areas : 1); i++) {
			struct uvfio_sparse_area a = { 0, cr->info.size };
			uint64_t end;
			if (sc->has_sparse)
				memcpy(&a, sc->areas + i * sizeof(a), sizeof(a));
			if (a.size && (__builtin_add_overflow(cr->info.offset,
							      a.offset + a.size,
							      &end) ||
				       end > (uint64_t)st.st_size)) {
				ulog_err(&c->log, "region %u: area %u ends beyond "
						   "the server's file (%lld bytes); "
						   "not mapping it",
					  index, i, (long long)st.st_size);
				r = -EINVAL;
				goto out;
			}
		}
	}
	/* Reserve the whole region, then map only the areas the server
	 * allows; the rest stays inaccessible (and goes through messages). */
	void *base = mmap(NULL, cr->info.size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	const struct uvfio_region_caps *caps = &cr->caps;
	uint32_t n = caps->has_sparse ? caps->nr_areas : 1;
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_sparse_area a = { 0, cr->info.size };
		if (caps->has_sparse)
			memcpy(&a, caps->areas + i * sizeof(a), sizeof(a));
		if (!a.size)
			continue;
		if (a.offset % 4096 || a.size % 4096 ||
		    mmap((uint8_t *)base + a.offset, a.size, prot,
			 MAP_SHARED | MAP_FIXED, cr->fd,
			 (off_t)(cr->info.offset + a.offset)) == MAP_FAILED) {
			r = a.offset % 4096 || a.size % 4096 ? -EINVAL : -errno;
			ulog_err(&c->log, "region %u: cannot map area %u: %s",
				  index, i, strerror(-r));
			munmap(base, cr->info.size);
			goto out;
		}
	}
	cr->map = base;
	*addr = base;
out:
	UNLOCK(c);
	return r;
}
