/* SPDX-License-Identifier: MIT */
/*
 * Server core: lifecycle, connections and the loop.
 *
 * Everything runs from uvfio_server_process(); one epoll fd gathers the
 * listening socket, the connection, the twin socket, the stop eventfd and
 * the wake eventfd (work queued by other threads), so a caller's loop has a
 * single fd to watch, the same one across reconnects.  Commands are
 * answered in dispatch.c, DMA (and the twin socket, which only DMA uses)
 * is dmaops.c and twin.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "priv.h"
#include "util/util.h"
#include "transport/sock.h"

int srv_ep_ctl(struct uvfio_server *s, int op, int fd, uint32_t events,
	       enum srv_tag tag)
{
	struct epoll_event e = { .events = events, .data.u64 = tag };
	return epoll_ctl(s->epfd, op, fd, &e) < 0 ? -errno : 0;
}

void srv_wake(struct uvfio_server *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->wake_fd, &one, sizeof(one));
	(void)r; /* a full counter still wakes the loop */
}

void srv_watch_resample(struct uvfio_server *s)
{
	/* Called with s->lock held, from SET_IRQS on the server thread. */
	if (s->intx_resample_fd >= 0)
		srv_ep_ctl(s, EPOLL_CTL_ADD, s->intx_resample_fd, EPOLLIN,
			   SRV_TAG_RESAMPLE);
}

/* ---- connections ---------------------------------------------------------------- */

static void conn_cleanup(struct uvfio_server *s, bool was_negotiated);
static void conn_service(struct uvfio_server *s);

static void conn_close(struct uvfio_server *s, const char *why)
{
	struct srv_conn *c = s->conn;
	if (!c)
		return;
	if (why)
		ulog_info(&s->log, "client disconnected: %s", why);
	srv_dma_abort(s, -ENOTCONN);
	if (!c->direct)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->tp.fd, NULL);

	pthread_mutex_lock(&s->lock);
	s->conn = NULL;
	pthread_mutex_unlock(&s->lock);

	tp_fini(&c->tp);
	srv_twin_close(s, c);
	tp_stash_free(&c->stash);
	srv_held_free(c);
	bool was_negotiated = c->negotiated;
	free(c);

	/* The device stops its DMA before its windows go (server.h,
	 * "Quiescing"); until it has, the next client waits in the backlog. */
	if (was_negotiated && srv_quiesce_lost(s))
		return;
	conn_cleanup(s, was_negotiated);
}

/* What a lost client leaves behind, once the device has quiesced. */
static void conn_cleanup(struct uvfio_server *s, bool was_negotiated)
{
	/* The spec: drop every DMA window and eventfd of the client, keep
	 * the device's state; the device decides what a lost client resets.
	 * The device hears of the windows going first, as for a client's
	 * unmap-all: the table waits for the references it still holds
	 * (uvfio_server_dma_sg_map), and this is its cue to release them. */
	if (dmat_count(&s->dma) && s->ops.dma_unmap)
		s->ops.dma_unmap(s->ops_opaque, 0, 0);
	dmat_unmap_all(&s->dma);
	srv_mig_disconnect(s);
	srv_irqs_release(s);
	if (was_negotiated && s->ops.reset)
		s->ops.reset(s->ops_opaque, UVFIO_RESET_LOST_CONN);
	if (was_negotiated && s->ops.disconnected)
		s->ops.disconnected(s->ops_opaque);

	if (s->listen_fd >= 0 && !s->listening_armed &&
	    !srv_ep_ctl(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, SRV_TAG_LISTEN))
		s->listening_armed = true;
}

/* Serve a connected socket.  On failure fd is left open (the caller's). */
static int conn_open(struct uvfio_server *s, int fd)
{
	struct srv_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	tp_init(&c->tp, fd);
	tp_set_sink(&c->tp, srv_dma_sink_main);
	c->twin.fd = -1;
	/* Until VERSION, only a small message makes sense. */
	c->tp.max_msg_size = UVFIO_HDR_SIZE + sizeof(struct uvfio_version) +
			     UVFIO_MAX_JSON_LEN;
	/* More fds than max_msg_fds (up to the transport's hard cap) reach
	 * the codec, which refuses the command with EINVAL and closes them;
	 * the connection goes on. */
	c->tp.max_fds = TP_MAX_FDS;
	c->lim.max_data_xfer = s->max_data_xfer;
	c->lim.max_msg_fds = s->max_msg_fds;
	/* The built-in loop polls the connection itself (see
	 * uvfio_server_run); otherwise it is in the epoll set. */
	c->direct = s->own_loop;
	int r = c->direct ? 0
			  : srv_ep_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN, SRV_TAG_CONN);
	c->events = EPOLLIN;
	if (r) {
		c->tp.fd = -1; /* not ours to close */
		tp_fini(&c->tp);
		free(c);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	s->conn = c;
	pthread_mutex_unlock(&s->lock);
	/* One client at a time: further ones wait in the backlog. */
	if (s->listening_armed) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
		s->listening_armed = false;
	}
	return 0;
}

/*
 * Socket full: wait for room only, which also stops reading.  Still paused,
 * or commands buffered, with room to write: ask to be woken at once.
 */
static void conn_arm(struct uvfio_server *s, bool tx_full)
{
	struct srv_conn *c = s->conn;
	bool more = c->tp.rx_paused || tp_rx_ready(&c->tp) ||
		    srv_held_ready(c);
	uint32_t ev = tx_full ? EPOLLOUT : more ? EPOLLIN | EPOLLOUT : EPOLLIN;
	if (ev != c->events) {
		if (!c->direct &&
		    srv_ep_ctl(s, EPOLL_CTL_MOD, c->tp.fd, ev, SRV_TAG_CONN)) {
			conn_close(s, "epoll_ctl failed");
			return;
		}
		c->events = ev;
	}
}

/*
 * A command too large for any buffer cannot be skipped (its body would
 * have to be read), so the connection ends; the client first gets an
 * E2BIG reply for it, so it learns why.
 */
static void refuse_oversize(struct uvfio_server *s, int err)
{
	struct srv_conn *c = s->conn;
	struct uvfio_hdr h;
	if (err != -EMSGSIZE || tp_rx_pending(&c->tp) < UVFIO_HDR_SIZE)
		return;
	memcpy(&h, c->tp.rx + c->tp.rx_start, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_COMMAND ||
	    h.msg_size <= c->tp.max_msg_size)
		return;
	tp_cancel(&c->tp);
	srv_reply_error(s, &h, E2BIG,
			"message larger than max_data_xfer_size allows; "
			"closing the connection");
	(void)tp_flush(&c->tp);
}

/* The main socket is ready: answer commands, send replies and DMA. */
static void conn_service(struct uvfio_server *s)
{
	struct srv_conn *c = s->conn;
	const char *why;
	int r = 0;

	/* Replies are flushed between batches of commands; a batch can pause
	 * when the send queue is half full, and resumes once it drains. */
	for (int round = 0; round < SRV_ROUNDS_PER_WAKE; round++) {
		/* Commands held for a quiesce go before anything newer. */
		srv_held_drain(s);
		r = c->drop ? 0 : tp_recv(&c->tp, srv_deliver, s);
		if (r < 0 && !c->drop) {
			refuse_oversize(s, r);
			conn_close(s, c->tp.why ? c->tp.why : strerror(-r));
			return;
		}
		if (!c->drop && srv_dma_kick(s, &why)) {
			conn_close(s, why);
			return;
		}
		r = tp_flush(&c->tp);
		if (r < 0 && r != -EAGAIN) {
			conn_close(s, c->tp.why ? c->tp.why : strerror(-r));
			return;
		}
		if (c->drop) {
			conn_close(s, "protocol error (see above)");
			return;
		}
		if (r == -EAGAIN || (!c->tp.rx_paused && !tp_rx_ready(&c->tp) &&
				     !srv_held_ready(c)))
			break;
	}
	conn_arm(s, r == -EAGAIN);
}

/* The twin socket is ready: DMA replies in, DMA requests out. */
static void twin_service(struct uvfio_server *s)
{
	const char *why;
	if (srv_twin_service(s, &why))
		conn_close(s, why);
}

/* Another thread queued work (DMA, interrupts' side effects): send it. */
static void send_queued(struct uvfio_server *s)
{
	struct srv_conn *c = s->conn;
	const char *why;
	if (!c || !c->negotiated)
		return;
	if (srv_dma_kick(s, &why)) {
		conn_close(s, why);
		return;
	}
	int r = tp_flush(&c->tp);
	if (r < 0 && r != -EAGAIN) {
		conn_close(s, "send failed");
		return;
	}
	conn_arm(s, r == -EAGAIN);
}

static int do_accept(struct uvfio_server *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		return -errno;
	}
	if (s->conn) {
		/* Cannot happen while the listener is disarmed; be safe. */
		close(fd);
		return 0;
	}
	int r = conn_open(s, fd);
	if (r) {
		ulog_err(&s->log, "cannot set up connection: %s", strerror(-r));
		close(fd);
		return 0;
	}
	ulog_info(&s->log, "client connected");
	return 0;
}

/* ---- the loop ------------------------------------------------------------------- */

static int handle_event(struct uvfio_server *s, enum srv_tag tag)
{
	uint64_t x;
	switch (tag) {
	case SRV_TAG_LISTEN:
		return do_accept(s);
	case SRV_TAG_CONN:
		if (s->conn)
			conn_service(s);
		return 0;
	case SRV_TAG_TWIN:
		if (s->conn && s->conn->has_twin)
			twin_service(s);
		return 0;
	case SRV_TAG_RESAMPLE:
		srv_irq_resample(s);
		return 0;
	case SRV_TAG_STOP:
	case SRV_TAG_WAKE: {
		int fd = tag == SRV_TAG_STOP ? s->stop_fd : s->wake_fd;
		int r = read(fd, &x, sizeof(x)) < 0 && errno != EAGAIN ? -errno
								       : 0;
		switch (srv_quiesce_poll(s)) {
		case 1: /* the held commands may go */
			if (s->conn)
				conn_service(s);
			break;
		case 2: /* the lost client's cleanup may */
			conn_cleanup(s, true);
			break;
		}
		send_queued(s);
		return r;
	}
	}
	return 0;
}

/* Wait up to timeout_ms (-1: for ever, 0: not at all) and handle what
 * came.  *got: events handled.  0 or -errno. */
static int process_wait(struct uvfio_server *s, int timeout_ms, int *got)
{
	struct epoll_event ev[SRV_EVENTS_PER_PROCESS];
	int n = epoll_wait(s->epfd, ev, SRV_EVENTS_PER_PROCESS, timeout_ms);
	*got = n > 0 ? n : 0;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	__atomic_store_n(&s->loop_thread, pthread_self(), __ATOMIC_RELEASE);
	s->in_process = true;
	int ret = 0;
	for (int i = 0; i < n && !ret; i++)
		ret = handle_event(s, (enum srv_tag)ev[i].data.u64);
	s->in_process = false;
	return ret;
}

int uvfio_server_process(struct uvfio_server *s)
{
	int got;
	return process_wait(s, 0, &got);
}

void uvfio_server_set_busy_poll(struct uvfio_server *s, unsigned usec)
{
	__atomic_store_n(&s->busy_poll_us, usec, __ATOMIC_RELAXED);
}

/*
 * The built-in loop waits in poll() on the epoll fd and on the connection
 * itself, which it keeps out of the epoll set.  An fd in an epoll set has
 * epoll's callback on its wait queue for good, so every message the client
 * sends runs that callback, even while the server is awake and reading;
 * with poll() the client's send finds no one to wake unless the server is
 * asleep.  That was most of the cost of posted writes over the plain
 * kernel round trip (docs/performance.md).
 */
static void set_direct(struct uvfio_server *s, bool on)
{
	struct srv_conn *c = s->conn;
	s->own_loop = on;
	if (!c || c->direct == on)
		return;
	if (on) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->tp.fd, NULL);
		c->direct = true;
	} else if (!srv_ep_ctl(s, EPOLL_CTL_ADD, c->tp.fd, c->events,
			       SRV_TAG_CONN)) {
		c->direct = false;
	} else {
		conn_close(s, "epoll_ctl failed");
	}
}

/* Wait up to timeout_ms and handle what came; *got: anything did. */
static int run_wait(struct uvfio_server *s, int timeout_ms, bool *got)
{
	struct srv_conn *c = s->conn;
	struct pollfd p[2] = {
		{ .fd = s->epfd, .events = POLLIN },
		/* EPOLLIN/OUT and POLLIN/OUT have the same values */
		{ .fd = c && c->direct ? c->tp.fd : -1,
		  .events = c ? (short)c->events : 0 },
	};
	int n = poll(p, 2, timeout_ms);
	*got = n > 0;
	if (n <= 0)
		return n < 0 && errno != EINTR ? -errno : 0;
	int r = 0;
	if (p[1].revents && s->conn == c) {
		__atomic_store_n(&s->loop_thread, pthread_self(),
				 __ATOMIC_RELEASE);
		s->in_process = true;
		conn_service(s);
		s->in_process = false;
	}
	if (p[0].revents) {
		int g;
		r = process_wait(s, 0, &g);
	}
	return r;
}

/*
 * After work, look again without sleeping for up to busy_poll_us: a client
 * that sends its next message meanwhile finds us awake, and neither side
 * pays for a sleep and a cross-CPU wake-up.  Returns as soon as something
 * was handled, or when the time is up.
 */
static int busy_poll(struct uvfio_server *s)
{
	unsigned us = __atomic_load_n(&s->busy_poll_us, __ATOMIC_RELAXED);
	if (!us)
		return 0;
	uint64_t end = util_now_ns() + (uint64_t)us * 1000;
	do {
		bool got;
		int r = run_wait(s, 0, &got);
		if (r || got)
			return r;
	} while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) &&
		 util_now_ns() < end);
	return 0;
}

int uvfio_server_run(struct uvfio_server *s)
{
	/* A stop requested before the loop starts (a SIGTERM right after
	 * the handler is installed) counts: stopping is cleared only on the
	 * way out, so the server can be run again. */
	int r = 0;
	set_direct(s, true);
	while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
		bool got;
		r = run_wait(s, -1, &got);
		if (!r && got)
			r = busy_poll(s);
		if (r)
			break;
	}
	/* Back in the epoll set, for a caller's own loop from now on. */
	set_direct(s, false);
	if (r)
		return r;
	/* Nobody will read the replies now: DMA waiting for them fails at
	 * once instead of at its timeout. */
	if (s->conn)
		srv_dma_abort(s, -ESHUTDOWN);
	__atomic_store_n(&s->stopping, 0, __ATOMIC_RELEASE);
	return 0;
}

void uvfio_server_stop(struct uvfio_server *s)
{
	uint64_t one = 1;
	/* Any thread, or a signal handler: atomic, not just volatile. */
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
	/* write() is async-signal-safe; the eventfd wakes the poll. */
	ssize_t r = write(s->stop_fd, &one, sizeof(one));
	(void)r;
}

int uvfio_server_poll_fd(struct uvfio_server *s)
{
	return s->epfd;
}

bool uvfio_server_connected(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->lock);
	bool r = s->conn && s->conn->negotiated;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- creation and destruction ------------------------------------------------- */

static int server_alloc(struct uvfio_server **out, unsigned flags)
{
	if (flags & ~UVFIO_SERVER_PCIE)
		return -EINVAL;
	struct uvfio_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ulogger_init(&s->log, "server");
	s->listen_fd = -1;
	s->stop_fd = s->wake_fd = -1;
	s->pcie = flags & UVFIO_SERVER_PCIE;
	s->max_data_xfer = SRV_MAX_DATA_XFER;
	s->max_msg_fds = SRV_MAX_MSG_FDS;
	s->dma_timeout_ms = SRV_DMA_TIMEOUT_MS;
	s->dma_read_budget = SRV_DMA_READ_BUDGET;
	s->quirks = UVFIO_QUIRKS_AUTO;
	s->dma_q_tail = &s->dma_q;
	pthread_mutex_init(&s->lock, NULL);
	int r = pcicfg_init(&s->pci, s->pcie);
	if (!r)
		r = dmat_init(&s->dma, SRV_MAX_DMA_MAPS);
	if (!r)
		r = srv_regions_init(s);
	srv_irqs_init(s);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r || s->epfd < 0 || s->stop_fd < 0 || s->wake_fd < 0 ||
	    srv_ep_ctl(s, EPOLL_CTL_ADD, s->stop_fd, EPOLLIN, SRV_TAG_STOP) ||
	    srv_ep_ctl(s, EPOLL_CTL_ADD, s->wake_fd, EPOLLIN, SRV_TAG_WAKE)) {
		int err = r ? r : -errno;
		uvfio_server_destroy(s);
		return err ? err : -ENOMEM;
	}
	*out = s;
	return 0;
}

static void log_listen_error(struct uvfio_server *s, const char *path, int r)
{
	if (r == -ENAMETOOLONG)
		ulog_err(&s->log, "cannot listen on %s: too long for a UNIX "
			  "socket, whose path has at most %d bytes, and its "
			  "directory at most %d (the socket is bound there "
			  "under a %d-byte temporary name first)",
			  path, USOCK_PATH_MAX,
			  USOCK_PATH_MAX - USOCK_TMP_NAME_LEN - 1,
			  USOCK_TMP_NAME_LEN);
	else
		ulog_err(&s->log, "cannot listen on %s: %s", path,
			  r == -EADDRINUSE
				  ? "another process is serving that socket; "
				    "stop it or choose another path"
			  : r == -EEXIST ? "a file that is not a socket is "
					   "in the way"
					 : strerror(-r));
}

int uvfio_server_create(struct uvfio_server **srvp, const char *socket_path,
			unsigned flags)
{
	struct uvfio_server *s;
	if (!srvp || !socket_path)
		return -EINVAL;
	int r = server_alloc(&s, flags);
	if (r)
		return r;
	r = usock_listen(socket_path);
	if (r < 0) {
		log_listen_error(s, socket_path, r);
		uvfio_server_destroy(s);
		return r;
	}
	s->listen_fd = r;
	s->path = strdup(socket_path);
	r = srv_ep_ctl(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, SRV_TAG_LISTEN);
	if (r || !s->path) {
		if (!s->path) /* destroy would not know the file's name */
			unlink(socket_path);
		uvfio_server_destroy(s);
		return r ? r : -ENOMEM;
	}
	s->listening_armed = true;
	*srvp = s;
	return 0;
}

/* Serve a listening socket.  On failure fd is left open (the caller's). */
static int listener_open(struct uvfio_server *s, int fd)
{
	int r = srv_ep_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN, SRV_TAG_LISTEN);
	if (r)
		return r;
	s->listen_fd = fd;
	s->listening_armed = true;
	return 0;
}

/*
 * The fd is the server's only once everything has succeeded: every failure
 * leaves it open and as it came (server.h says why), so nothing here
 * closes it, and its flags are put back.
 */
int uvfio_server_create_fd(struct uvfio_server **srvp, int fd, unsigned flags)
{
	struct uvfio_server *s;
	if (!srvp || fd < 0)
		return -EINVAL;
	int kind = usock_is_listening(fd);
	if (kind < 0)
		return kind;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	int r = server_alloc(&s, flags);
	if (r)
		return r;
	r = usock_set_nonblock(fd);
	if (!r)
		r = kind == 1 ? listener_open(s, fd) : conn_open(s, fd);
	if (r) {
		(void)fcntl(fd, F_SETFL, fl);
		uvfio_server_destroy(s);
		return r;
	}
	*srvp = s;
	return 0;
}

void uvfio_server_destroy(struct uvfio_server *s)
{
	if (!s)
		return;
	/* Nothing waits for the device now (server.h, "Quiescing"). */
	s->destroying = true;
	conn_close(s, NULL);
	if (s->lost_pending) {
		s->lost_pending = false;
		conn_cleanup(s, true);
	}
	/* The name first: while the file exists, connect() succeeds. */
	if (s->path)
		unlink(s->path);
	free(s->path);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	srv_irqs_fini(s);
	srv_regions_fini(s);
	dmat_fini(&s->dma);
	pcicfg_fini(&s->pci);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
