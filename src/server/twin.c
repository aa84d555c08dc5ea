/* SPDX-License-Identifier: MIT */
/*
 * The twin socket: a second connection, offered in VERSION, on which the
 * server sends its DMA_READ/DMA_WRITE and the client only answers them
 * (docs/protocol.md 5).  It carries nothing but message DMA, so it lives
 * here, beside dmaops.c; core.c only routes its epoll events here.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "priv.h"
#include "transport/sock.h"
#include "util/util.h"

static int deliver_twin(void *opaque, struct tp_msg *m)
{
	struct uvfio_server *s = opaque;
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_REPLY) {
		s->conn->twin.why = "command on the twin socket, which carries "
				    "only server commands and their replies";
		return -EPROTO;
	}
	return srv_dma_reply(s, m);
}

static void *sink_twin(void *opaque, const uint8_t *msg, size_t have,
		       size_t *skip)
{
	return srv_dma_sink(opaque, msg, have, skip);
}

int srv_twin_create(struct uvfio_server *s, int sp[2])
{
	int r = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		r = -errno;
		sp[0] = sp[1] = -1;
	} else {
		r = usock_set_nonblock(sp[0]);
	}
	if (!r)
		return 0;
	ulog_warn(&s->log, "cannot create twin socket (%s); continuing without",
		   strerror(-r));
	if (sp[0] >= 0) {
		close(sp[0]);
		close(sp[1]);
	}
	sp[0] = sp[1] = -1;
	return r;
}

int srv_twin_start(struct uvfio_server *s, int fd)
{
	struct srv_conn *c = s->conn;
	tp_init(&c->twin, fd);
	tp_set_sink(&c->twin, sink_twin);
	c->twin.max_fds = 0;
	/* Only DMA replies come here: a DMA_READ reply is the largest. */
	c->twin.max_msg_size = UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw) +
			       s->max_data_xfer;
	int r = srv_ep_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN, SRV_TAG_TWIN);
	if (r) {
		tp_fini(&c->twin);
		return r;
	}
	c->twin_events = EPOLLIN;
	c->has_twin = true;
	return 0;
}

void srv_twin_close(struct uvfio_server *s, struct srv_conn *c)
{
	if (!c->has_twin)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->twin.fd, NULL);
	tp_fini(&c->twin);
	c->has_twin = false;
}

/* Send what is queued; wait for room when the socket is full. */
static int twin_flush(struct uvfio_server *s, const char **why)
{
	struct srv_conn *c = s->conn;
	int r = tp_flush(&c->twin);
	if (r < 0 && r != -EAGAIN) {
		*why = c->twin.why ? c->twin.why : strerror(-r);
		return r;
	}
	/* Only a change costs a system call: this runs at every wake-up. */
	uint32_t want = r == -EAGAIN ? EPOLLIN | EPOLLOUT : EPOLLIN;
	if (want != c->twin_events &&
	    !srv_ep_ctl(s, EPOLL_CTL_MOD, c->twin.fd, want, SRV_TAG_TWIN))
		c->twin_events = want;
	return 0;
}

int srv_twin_service(struct uvfio_server *s, const char **why)
{
	struct srv_conn *c = s->conn;
	int r = tp_recv(&c->twin, deliver_twin, s);
	if (r < 0) {
		*why = c->twin.why ? c->twin.why : strerror(-r);
		return r;
	}
	srv_dma_pump(s);
	return twin_flush(s, why);
}

int srv_dma_kick(struct uvfio_server *s, const char **why)
{
	struct srv_conn *c = s->conn;
	srv_dma_pump(s);
	/* Without a twin the main socket carries DMA: core.c flushes it. */
	return c && c->has_twin ? twin_flush(s, why) : 0;
}

int srv_twin_wait(struct uvfio_server *s, struct srv_dma_op *op)
{
	int64_t deadline = util_now_ms() + s->dma_timeout_ms;
	while (!op->finished) {
		struct srv_conn *c = s->conn;
		srv_dma_pump(s);
		int r = tp_flush(&c->twin);
		if (r < 0 && r != -EAGAIN)
			return r;
		struct pollfd pf = {
			.fd = c->twin.fd,
			.events = POLLIN | (r == -EAGAIN ? POLLOUT : 0),
		};
		int64_t left = deadline - util_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		r = tp_recv(&c->twin, deliver_twin, s);
		if (r < 0)
			return r;
	}
	return 0;
}
