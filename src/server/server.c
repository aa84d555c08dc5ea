/* SPDX-License-Identifier: MIT */
/*
 * Server: accept a client, negotiate, dispatch its commands to the device.
 *
 * Everything runs from uvfio_server_process(); one epoll fd gathers the
 * listening socket, the connection, the twin socket and the stop eventfd so
 * a caller's loop has a single fd to watch.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/codec.h>
#include <uvfio/server.h>

#include "transport/sock.h"
#include "transport/transport.h"
#include "util/log.h"

#define SRV_MAX_MSG_FDS 16u /* QEMU refuses a server value above 16 */
#define SRV_MAX_DATA_XFER (1u << 20)
#define SRV_MAX_DMA_MAPS 65535u
#define SRV_CTRL_MAX 65536u /* largest non-data command we accept */

enum { TAG_LISTEN = 1, TAG_CONN, TAG_TWIN, TAG_STOP };

struct region {
	uint64_t size;
	uint32_t flags;
	uvfio_region_fn fn;
	void *opaque;
};

struct conn {
	struct uvfio_tp tp;
	struct uvfio_tp twin;
	bool has_twin;
	bool negotiated;
	uint16_t minor;
	struct uvfio_caps peer;
	struct uvfio_limits lim;
	bool drop; /* fatal protocol error: close after flushing */
	uint32_t events; /* registered with epoll */
};

struct uvfio_server {
	struct uvfio_logger log;
	int listen_fd;
	char *path; /* socket file we created, removed on destroy */
	int epfd;
	int stop_fd;
	volatile int stopping;
	bool listening_armed;
	struct conn *conn;

	uint32_t max_data_xfer;
	unsigned max_msg_fds;
	unsigned num_regions, num_irqs;
	struct region regions[UVFIO_PCI_NUM_REGIONS];
	uint8_t config[UVFIO_PCI_CONFIG_SIZE];
};

/* ---- setup ------------------------------------------------------------------ */

static int ep_ctl(struct uvfio_server *s, int op, int fd, uint32_t ev,
		  uint64_t tag)
{
	struct epoll_event e = { .events = ev, .data.u64 = tag };
	return epoll_ctl(s->epfd, op, fd, &e) < 0 ? -errno : 0;
}

static int server_alloc(struct uvfio_server **out)
{
	struct uvfio_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	uvfio_logger_init(&s->log, "server");
	s->listen_fd = -1;
	s->max_data_xfer = SRV_MAX_DATA_XFER;
	s->max_msg_fds = SRV_MAX_MSG_FDS;
	s->num_regions = UVFIO_PCI_NUM_REGIONS;
	s->num_irqs = UVFIO_PCI_NUM_IRQS;
	s->regions[UVFIO_PCI_CONFIG].size = UVFIO_PCI_CONFIG_SIZE;
	s->regions[UVFIO_PCI_CONFIG].flags = UVFIO_REGION_READ |
					     UVFIO_REGION_WRITE;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epfd < 0 || s->stop_fd < 0 ||
	    ep_ctl(s, EPOLL_CTL_ADD, s->stop_fd, EPOLLIN, TAG_STOP)) {
		int err = -errno;
		if (s->epfd >= 0)
			close(s->epfd);
		if (s->stop_fd >= 0)
			close(s->stop_fd);
		free(s);
		return err ? err : -ENOMEM;
	}
	*out = s;
	return 0;
}

static int conn_open(struct uvfio_server *s, int fd);

int uvfio_server_create(struct uvfio_server **srvp, const char *socket_path,
			unsigned flags)
{
	struct uvfio_server *s;
	if (flags || !srvp || !socket_path)
		return -EINVAL;
	int r = server_alloc(&s);
	if (r)
		return r;
	r = uvfio_sock_listen(socket_path);
	if (r < 0) {
		uvfio_server_destroy(s);
		return r;
	}
	s->listen_fd = r;
	s->path = strdup(socket_path);
	r = ep_ctl(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, TAG_LISTEN);
	if (r || !s->path) {
		uvfio_server_destroy(s);
		return r ? r : -ENOMEM;
	}
	s->listening_armed = true;
	*srvp = s;
	return 0;
}

int uvfio_server_create_fd(struct uvfio_server **srvp, int fd, unsigned flags)
{
	struct uvfio_server *s;
	if (flags || !srvp || fd < 0)
		return -EINVAL;
	int kind = uvfio_sock_is_listening(fd);
	if (kind < 0)
		return kind;
	int r = server_alloc(&s);
	if (r)
		return r;
	r = uvfio_sock_set_nonblock(fd);
	if (!r && kind == 1) {
		s->listen_fd = fd;
		r = ep_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN, TAG_LISTEN);
		s->listening_armed = !r;
	} else if (!r) {
		r = conn_open(s, fd);
	}
	if (r) {
		if (kind == 1)
			s->listen_fd = -1;
		uvfio_server_destroy(s);
		close(fd);
		return r;
	}
	*srvp = s;
	return 0;
}

void uvfio_server_set_log(struct uvfio_server *s, uvfio_log_fn fn,
			  void *opaque, int level)
{
	s->log.fn = fn;
	s->log.opaque = opaque;
	s->log.level = level;
}

int uvfio_server_setup_region(struct uvfio_server *s, unsigned index,
			      uint64_t size, uint32_t flags, uvfio_region_fn fn,
			      void *opaque)
{
	if (index >= s->num_regions || index == UVFIO_PCI_CONFIG ||
	    (flags & ~(UVFIO_REGION_READ | UVFIO_REGION_WRITE)))
		return -EINVAL;
	s->regions[index] = (struct region){ size, flags, fn, opaque };
	return 0;
}

uint8_t *uvfio_server_config_space(struct uvfio_server *s)
{
	return s->config;
}

int uvfio_server_poll_fd(struct uvfio_server *s)
{
	return s->epfd;
}

bool uvfio_server_connected(struct uvfio_server *s)
{
	return s->conn && s->conn->negotiated;
}

/* ---- connection lifecycle ----------------------------------------------------- */

static void conn_close(struct uvfio_server *s, const char *why)
{
	struct conn *c = s->conn;
	if (!c)
		return;
	if (why)
		uvfio_info(&s->log, "client disconnected: %s", why);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->tp.fd, NULL);
	uvfio_tp_fini(&c->tp);
	if (c->has_twin) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->twin.fd, NULL);
		uvfio_tp_fini(&c->twin);
	}
	free(c);
	s->conn = NULL;
	if (s->listen_fd >= 0 && !s->listening_armed &&
	    !ep_ctl(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, TAG_LISTEN))
		s->listening_armed = true;
}

static int conn_open(struct uvfio_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	uvfio_tp_init(&c->tp, fd);
	/* Until VERSION, only a small message makes sense. */
	c->tp.max_msg_size = UVFIO_HDR_SIZE + sizeof(struct uvfio_version) +
			     UVFIO_MAX_JSON_LEN;
	c->tp.max_fds = s->max_msg_fds;
	c->lim.max_data_xfer = s->max_data_xfer;
	c->lim.max_msg_fds = s->max_msg_fds;
	int r = ep_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN, TAG_CONN);
	c->events = EPOLLIN;
	if (r) {
		c->tp.fd = -1; /* caller closes fd */
		uvfio_tp_fini(&c->tp);
		free(c);
		return r;
	}
	s->conn = c;
	/* One client at a time: further ones wait in the backlog. */
	if (s->listening_armed) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
		s->listening_armed = false;
	}
	return 0;
}

void uvfio_server_destroy(struct uvfio_server *s)
{
	if (!s)
		return;
	conn_close(s, NULL);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path)
		unlink(s->path);
	free(s->path);
	close(s->epfd);
	close(s->stop_fd);
	free(s);
}

/* ---- replies ------------------------------------------------------------------ */

static void reply_error(struct uvfio_server *s, const struct uvfio_hdr *h,
			int err, const char *why)
{
	struct conn *c = s->conn;
	uvfio_warn(&s->log, "%s (id %u) failed: %s: %s", uvfio_cmd_name(h->cmd),
		   h->msg_id, strerror(err), why ? why : "refused");
	if (h->flags & UVFIO_F_NO_REPLY)
		return;
	uint8_t buf[UVFIO_HDR_SIZE];
	ssize_t n = uvfio_build_error(buf, sizeof(buf), h->msg_id, h->cmd, err);
	if (uvfio_tp_send(&c->tp, buf, (size_t)n, NULL, 0))
		c->drop = true;
}

/* Reply with a fixed part no larger than the request's argsz allows. */
static void reply_ok(struct uvfio_server *s, const struct uvfio_hdr *h,
		     const void *payload, size_t len, const int *fds,
		     unsigned nfds)
{
	struct conn *c = s->conn;
	if (h->flags & UVFIO_F_NO_REPLY)
		return;
	void *p = uvfio_tp_reserve(&c->tp, UVFIO_HDR_SIZE + len);
	if (!p) {
		uvfio_err(&s->log, "cannot queue reply: %s; dropping client",
			  strerror(errno));
		c->drop = true;
		return;
	}
	ssize_t n = uvfio_build(p, UVFIO_HDR_SIZE + len, h->msg_id, h->cmd,
				UVFIO_F_TYPE_REPLY, payload, len, NULL, 0);
	if (uvfio_tp_commit(&c->tp, (size_t)n, fds, nfds))
		c->drop = true;
}

/* ---- commands ----------------------------------------------------------------- */

static void handle_version(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct conn *c = s->conn;
	const char *why = NULL;
	int sp[2] = { -1, -1 };

	if (c->negotiated) {
		reply_error(s, &v->hdr, EINVAL, "VERSION after negotiation");
		return;
	}
	if (v->u.version.major != UVFIO_VERSION_MAJOR) {
		reply_error(s, &v->hdr, ENOTSUP,
			    "client protocol major version is not 0");
		c->drop = true;
		return;
	}
	int r = uvfio_caps_parse(v->u.version.json, v->u.version.json_len,
				 &c->peer, &why);
	if (r) {
		reply_error(s, &v->hdr, -r, why);
		c->drop = true;
		return;
	}

	struct uvfio_caps mine;
	uvfio_caps_defaults(&mine);
	mine.max_msg_fds = s->max_msg_fds;
	mine.max_data_xfer_size = s->max_data_xfer;
	mine.max_dma_maps = SRV_MAX_DMA_MAPS;
	mine.pgsizes = 4096;
	unsigned which = UVFIO_CAP_HAS_MAX_MSG_FDS | UVFIO_CAP_HAS_MAX_DATA_XFER |
			 UVFIO_CAP_HAS_MAX_DMA_MAPS | UVFIO_CAP_HAS_PGSIZES;

	if (c->peer.twin_socket && c->peer.max_msg_fds >= 1) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0 &&
		    uvfio_sock_set_nonblock(sp[0]) == 0) {
			mine.twin_socket = true;
			mine.twin_fd_index = 0;
			which |= UVFIO_CAP_HAS_TWIN_SOCKET |
				 UVFIO_CAP_HAS_TWIN_FD_INDEX;
		} else {
			uvfio_warn(&s->log, "cannot create twin socket (%s); "
					    "continuing without",
				   strerror(errno));
			if (sp[0] >= 0) {
				close(sp[0]);
				close(sp[1]);
			}
			sp[0] = sp[1] = -1;
		}
	}

	struct {
		struct uvfio_version v;
		char json[256];
	} UVFIO_PACKED rep;
	rep.v.major = UVFIO_VERSION_MAJOR;
	rep.v.minor = v->u.version.minor < UVFIO_VERSION_MINOR
			      ? v->u.version.minor
			      : UVFIO_VERSION_MINOR;
	ssize_t jl = uvfio_caps_format(&mine, which, rep.json, sizeof(rep.json));
	if (jl < 0) {
		reply_error(s, &v->hdr, ENOMEM, "cannot format VERSION JSON");
		c->drop = true;
		goto out;
	}
	reply_ok(s, &v->hdr, &rep, sizeof(rep.v) + (size_t)jl,
		 sp[1] >= 0 ? &sp[1] : NULL, sp[1] >= 0 ? 1 : 0);
	if (sp[0] >= 0) {
		uvfio_tp_init(&c->twin, sp[0]);
		c->twin.max_fds = 0;
		c->twin.max_msg_size = UVFIO_HDR_SIZE + 16 + s->max_data_xfer;
		if (ep_ctl(s, EPOLL_CTL_ADD, sp[0], EPOLLIN, TAG_TWIN)) {
			uvfio_tp_fini(&c->twin);
			c->drop = true;
		} else {
			c->has_twin = true;
		}
		sp[0] = -1;
	}
	c->minor = rep.v.minor;
	c->negotiated = true;
	/* Now the real limits apply: data messages and control messages. */
	c->tp.max_msg_size = UVFIO_HDR_SIZE + SRV_CTRL_MAX + s->max_data_xfer;
	uvfio_info(&s->log,
		   "client negotiated v0.%u: max_msg_fds %u, "
		   "max_data_xfer_size %u%s",
		   c->minor, c->peer.max_msg_fds, c->peer.max_data_xfer_size,
		   c->has_twin ? ", twin socket" : "");
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]); /* the transport sends its own duplicate */
}

static void handle_region_info(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	uint32_t idx = v->u.region_info.index;
	if (idx >= s->num_regions) {
		reply_error(s, &v->hdr, EINVAL, "region index out of range");
		return;
	}
	struct region *r = &s->regions[idx];
	struct uvfio_region_info ri = {
		.argsz = sizeof(ri),
		.flags = r->size ? r->flags : 0,
		.index = idx,
		.size = r->size,
	};
	reply_ok(s, &v->hdr, &ri, sizeof(ri), NULL, 0);
}

static void handle_irq_info(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	uint32_t idx = v->u.irq_info.index;
	if (idx >= s->num_irqs) {
		reply_error(s, &v->hdr, EINVAL, "irq index out of range");
		return;
	}
	struct uvfio_irq_info ii = {
		.argsz = sizeof(ii),
		.flags = UVFIO_IRQ_INFO_EVENTFD,
		.index = idx,
		.count = (idx == UVFIO_PCI_INTX_IRQ || idx == UVFIO_PCI_ERR_IRQ ||
			  idx == UVFIO_PCI_REQ_IRQ)
				 ? 1
				 : 0,
	};
	reply_ok(s, &v->hdr, &ii, sizeof(ii), NULL, 0);
}

/* Config writes reach the command register and device-specific space only
 * until the PCI emulation takes over this job. */
static void config_write(struct uvfio_server *s, uint64_t off,
			 const uint8_t *data, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		uint64_t o = off + i;
		if (o == 0x04 || o == 0x05 || o >= 0x40)
			s->config[o] = data[i];
	}
}

static ssize_t region_access(struct uvfio_server *s, uint32_t idx,
			     uint64_t off, void *buf, uint32_t count,
			     bool is_write)
{
	struct region *r = &s->regions[idx];
	if (idx == UVFIO_PCI_CONFIG) {
		if (is_write)
			config_write(s, off, buf, count);
		else
			memcpy(buf, s->config + off, count);
		return count;
	}
	if (!r->fn) {
		if (!is_write)
			memset(buf, 0, count);
		return count;
	}
	return r->fn(r->opaque, idx, off, buf, count, is_write);
}

static void handle_region_rw(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct conn *c = s->conn;
	const struct uvfio_region_rw *req = &v->u.region_rw.req;
	bool is_write = v->hdr.cmd == UVFIO_CMD_REGION_WRITE;
	uint32_t idx = req->region, count = req->count;

	if (idx >= s->num_regions) {
		reply_error(s, &v->hdr, EINVAL, "region index out of range");
		return;
	}
	struct region *r = &s->regions[idx];
	if (req->offset > r->size || count > r->size - req->offset) {
		reply_error(s, &v->hdr, EINVAL, "access beyond the region's end");
		return;
	}
	if (!(r->flags & (is_write ? UVFIO_REGION_WRITE : UVFIO_REGION_READ))) {
		reply_error(s, &v->hdr, EPERM,
			    is_write ? "region is not writable"
				     : "region is not readable");
		return;
	}

	if (is_write) {
		/* Writes go from the receive buffer straight to the device;
		 * the parser guarantees count bytes are there. */
		ssize_t n = region_access(s, idx, req->offset,
					  (void *)v->u.region_rw.data, count, true);
		if (n != (ssize_t)count) {
			reply_error(s, &v->hdr, n < 0 ? (int)-n : EIO,
				    "device write callback failed");
			return;
		}
		reply_ok(s, &v->hdr, req, sizeof(*req), NULL, 0);
		return;
	}

	/* Reads are produced directly into the send buffer. */
	size_t total = UVFIO_HDR_SIZE + sizeof(*req) + count;
	uint8_t *p = uvfio_tp_reserve(&c->tp, total);
	if (!p) {
		uvfio_err(&s->log, "cannot queue %zu-byte reply: %s", total,
			  strerror(errno));
		c->drop = true;
		return;
	}
	ssize_t n = region_access(s, idx, req->offset,
				  p + UVFIO_HDR_SIZE + sizeof(*req), count, false);
	if (n != (ssize_t)count) {
		uvfio_tp_cancel(&c->tp);
		reply_error(s, &v->hdr, n < 0 ? (int)-n : EIO,
			    "device read callback failed");
		return;
	}
	uvfio_build_hdr(p, v->hdr.msg_id, v->hdr.cmd, UVFIO_F_TYPE_REPLY, total);
	memcpy(p + UVFIO_HDR_SIZE, req, sizeof(*req));
	if (uvfio_tp_commit(&c->tp, total, NULL, 0))
		c->drop = true;
}

static int deliver(void *opaque, struct uvfio_tp_msg *m)
{
	struct uvfio_server *s = opaque;
	struct conn *c = s->conn;
	struct uvfio_cmd_view v;

	/* Back-pressure: while the client leaves its replies unread, its
	 * further commands wait (in our buffer, then in the socket). */
	if (uvfio_tp_tx_pending(&c->tp) >= c->tp.tx_limit / 2)
		return UVFIO_TP_PAUSE;

	int r = uvfio_parse_command(m->buf, m->size, m->nfds, UVFIO_ROLE_SERVER,
				    &c->lim, &v);
	if (r) {
		if ((v.hdr.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY) {
			uvfio_warn(&s->log, "unexpected reply (id %u) from client",
				   v.hdr.msg_id);
			c->drop = true;
			return -EPROTO;
		}
		reply_error(s, &v.hdr, -r, v.why);
		if (!c->negotiated)
			c->drop = true;
		return c->drop ? -EPROTO : 0;
	}
	if (!c->negotiated && v.hdr.cmd != UVFIO_CMD_VERSION) {
		reply_error(s, &v.hdr, EINVAL, "first command must be VERSION");
		c->drop = true;
		return -EPROTO;
	}

	switch (v.hdr.cmd) {
	case UVFIO_CMD_VERSION:
		handle_version(s, &v);
		break;
	case UVFIO_CMD_DEVICE_GET_INFO: {
		struct uvfio_device_info di = {
			.argsz = sizeof(di),
			.flags = UVFIO_DEV_PCI | UVFIO_DEV_RESET,
			.num_regions = s->num_regions,
			.num_irqs = s->num_irqs,
		};
		reply_ok(s, &v.hdr, &di, sizeof(di), NULL, 0);
		break;
	}
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		handle_region_info(s, &v);
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		handle_irq_info(s, &v);
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		handle_region_rw(s, &v);
		break;
	case UVFIO_CMD_DEVICE_RESET:
		reply_ok(s, &v.hdr, NULL, 0, NULL, 0);
		break;
	default:
		reply_error(s, &v.hdr, ENOTSUP, "command not implemented yet");
		break;
	}
	return c->drop ? -EPROTO : 0;
}

/* ---- the loop ------------------------------------------------------------------- */

static void conn_service(struct uvfio_server *s, bool twin)
{
	struct conn *c = s->conn;
	int r;

	if (twin) {
		/* No server-to-client commands are issued yet, so anything
		 * arriving here is unexpected. */
		char b;
		ssize_t n = recv(c->twin.fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
		if (n == 0) {
			conn_close(s, "twin socket closed");
			return;
		}
		if (n > 0) {
			conn_close(s, "unexpected data on the twin socket");
			return;
		}
		return;
	}

	/* Replies are flushed between batches of commands; a batch can pause
	 * when the send queue is half full, and resumes once it drains. */
	for (int round = 0; round < 8; round++) {
		r = uvfio_tp_recv(&c->tp, deliver, s);
		if (r < 0 && !c->drop) {
			conn_close(s, c->tp.why ? c->tp.why : strerror(-r));
			return;
		}
		r = uvfio_tp_flush(&c->tp);
		if (r < 0 && r != -EAGAIN) {
			conn_close(s, c->tp.why ? c->tp.why : strerror(-r));
			return;
		}
		if (c->drop) {
			conn_close(s, "protocol error (see above)");
			return;
		}
		if (r == -EAGAIN || !c->tp.rx_paused)
			break;
	}
	/* Socket full: wait for room only, which also stops reading.  Still
	 * paused with room to write: ask to be woken at once to go on. */
	uint32_t ev = r == -EAGAIN    ? EPOLLOUT
		      : c->tp.rx_paused ? EPOLLIN | EPOLLOUT
					: EPOLLIN;
	if (ev != c->events) {
		if (ep_ctl(s, EPOLL_CTL_MOD, c->tp.fd, ev, TAG_CONN)) {
			conn_close(s, "epoll_ctl failed");
			return;
		}
		c->events = ev;
	}
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
		uvfio_err(&s->log, "cannot set up connection: %s", strerror(-r));
		close(fd);
		return 0;
	}
	uvfio_info(&s->log, "client connected");
	return 0;
}

int uvfio_server_process(struct uvfio_server *s)
{
	struct epoll_event ev[8];
	int n = epoll_wait(s->epfd, ev, 8, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		switch (ev[i].data.u64) {
		case TAG_LISTEN: {
			int r = do_accept(s);
			if (r)
				return r;
			break;
		}
		case TAG_CONN:
			if (s->conn)
				conn_service(s, false);
			break;
		case TAG_TWIN:
			if (s->conn && s->conn->has_twin)
				conn_service(s, true);
			break;
		case TAG_STOP: {
			uint64_t x;
			if (read(s->stop_fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
				return -errno;
			break;
		}
		}
	}
	return 0;
}

int uvfio_server_run(struct uvfio_server *s)
{
	s->stopping = 0;
	while (!s->stopping) {
		struct pollfd p = { .fd = s->epfd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		int r = uvfio_server_process(s);
		if (r)
			return r;
	}
	return 0;
}

void uvfio_server_stop(struct uvfio_server *s)
{
	uint64_t one = 1;
	s->stopping = 1;
	/* write() is async-signal-safe; the eventfd wakes the poll. */
	ssize_t r = write(s->stop_fd, &one, sizeof(one));
	(void)r;
}
