/* SPDX-License-Identifier: MIT */
/*
 * Server core: lifecycle, the loop, negotiation and command dispatch.
 *
 * Everything runs from uvfio_server_process(); one epoll fd gathers the
 * listening socket, the connection, the twin socket, the stop eventfd and
 * the wake eventfd (work queued by other threads), so a caller's loop has a
 * single fd to watch, the same one across reconnects.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priv.h"
#include "transport/sock.h"

enum { TAG_LISTEN = 1, TAG_CONN, TAG_TWIN, TAG_STOP, TAG_WAKE, TAG_RESAMPLE };

/* ---- setup ------------------------------------------------------------------ */

static int ep_ctl(struct uvfio_server *s, int op, int fd, uint32_t ev,
		  uint64_t tag)
{
	struct epoll_event e = { .events = ev, .data.u64 = tag };
	return epoll_ctl(s->epfd, op, fd, &e) < 0 ? -errno : 0;
}

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
	    ep_ctl(s, EPOLL_CTL_ADD, s->stop_fd, EPOLLIN, TAG_STOP) ||
	    ep_ctl(s, EPOLL_CTL_ADD, s->wake_fd, EPOLLIN, TAG_WAKE)) {
		int err = r ? r : -errno;
		uvfio_server_destroy(s);
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
	if (!srvp || !socket_path)
		return -EINVAL;
	int r = server_alloc(&s, flags);
	if (r)
		return r;
	r = usock_listen(socket_path);
	if (r == -ENAMETOOLONG)
		ulog_err(&s->log, "cannot listen on %s: too long for a UNIX "
			  "socket, whose path has at most %d bytes, and its "
			  "directory at most %d (the socket is bound there "
			  "under a %d-byte temporary name first)",
			  socket_path, USOCK_PATH_MAX,
			  USOCK_PATH_MAX - USOCK_TMP_NAME_LEN - 1,
			  USOCK_TMP_NAME_LEN);
	else if (r < 0)
		ulog_err(&s->log, "cannot listen on %s: %s", socket_path,
			  r == -EADDRINUSE
				  ? "another process is serving that socket; "
				    "stop it or choose another path"
			  : r == -EEXIST ? "a file that is not a socket is "
					   "in the way"
					 : strerror(-r));
	if (r < 0) {
		uvfio_server_destroy(s);
		return r;
	}
	s->listen_fd = r;
	s->path = strdup(socket_path);
	r = ep_ctl(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, TAG_LISTEN);
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

int uvfio_server_create_fd(struct uvfio_server **srvp, int fd, unsigned flags)
{
	struct uvfio_server *s;
	if (!srvp || fd < 0)
		return -EINVAL;
	int kind = usock_is_listening(fd);
	if (kind < 0)
		return kind;
	int r = server_alloc(&s, flags);
	if (r)
		return r;
	r = usock_set_nonblock(fd);
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

int uvfio_server_set_socket_mode(struct uvfio_server *s, unsigned mode)
{
	if (mode & ~0777u)
		return -EINVAL;
	if (!s->path)
		return -ENOENT; /* created on an fd: the caller owns the file */
	return chmod(s->path, mode) < 0 ? -errno : 0;
}

int uvfio_server_set_dma_read_budget(struct uvfio_server *s, size_t bytes)
{
	if (bytes && (bytes < SRV_DMA_READ_BUDGET_MIN || bytes > UINT32_MAX))
		return -EINVAL;
	__atomic_store_n(&s->dma_read_budget,
			 bytes ? (uint32_t)bytes : SRV_DMA_READ_BUDGET, __ATOMIC_RELAXED);
	return 0;
}

void uvfio_server_set_dma_timeout(struct uvfio_server *s, unsigned timeout_ms)
{
	s->dma_timeout_ms = timeout_ms ? timeout_ms : SRV_DMA_TIMEOUT_MS;
}

void uvfio_server_set_log(struct uvfio_server *s, uvfio_log_fn fn,
			  void *opaque, int level)
{
	s->log.fn = fn;
	s->log.opaque = opaque;
	if (!s->log.env_level)
		s->log.level = level;
}

void uvfio_server_set_ops(struct uvfio_server *s,
			  const struct uvfio_device_ops *ops, void *opaque)
{
	s->ops = ops;
	s->ops_opaque = opaque;
}

void uvfio_server_set_config_fn(struct uvfio_server *s, uvfio_config_fn fn,
				void *opaque)
{
	s->config_fn = fn;
	s->config_opaque = opaque;
}

int uvfio_server_set_pci_ids(struct uvfio_server *s,
			     const struct uvfio_pci_ids *ids)
{
	if (s->described)
		return -EBUSY;
	pcicfg_set_ids(&s->pci, ids);
	if (ids->irq_pin && !s->irqs[UVFIO_PCI_INTX_IRQ].count)
		return uvfio_server_set_irq_count(s, UVFIO_PCI_INTX_IRQ, 1);
	return 0;
}

uint8_t *uvfio_server_config_space(struct uvfio_server *s)
{
	return s->pci.cfg;
}

/* Capability builders: thin, but they also size the irq indexes. */
int uvfio_server_pci_add_pm(struct uvfio_server *s)
{
	return s->described ? -EBUSY : pcicfg_add_pm(&s->pci);
}

int uvfio_server_pci_add_msi(struct uvfio_server *s, unsigned nvec,
			     bool maskable)
{
	if (s->described)
		return -EBUSY;
	int off = pcicfg_add_msi(&s->pci, nvec, maskable);
	if (off >= 0) {
		int r = uvfio_server_set_irq_count(s, UVFIO_PCI_MSI_IRQ, nvec);
		if (r)
			return r;
	}
	return off;
}

int uvfio_server_pci_add_msix(struct uvfio_server *s, unsigned nvec,
			      unsigned table_bar, uint32_t table_off,
			      unsigned pba_bar, uint32_t pba_off)
{
	if (s->described)
		return -EBUSY;
	int off = pcicfg_add_msix(&s->pci, nvec, table_bar, table_off,
				     pba_bar, pba_off);
	if (off >= 0) {
		int r = uvfio_server_set_irq_count(s, UVFIO_PCI_MSIX_IRQ, nvec);
		if (!r)
			r = srv_regions_check_msix(s);
		if (r)
			return r;
	}
	return off;
}

int uvfio_server_pci_add_pcie(struct uvfio_server *s, unsigned port_type)
{
	return s->described ? -EBUSY : pcicfg_add_pcie(&s->pci, port_type);
}

int uvfio_server_pci_add_vendor(struct uvfio_server *s, const void *data,
				size_t len)
{
	return s->described ? -EBUSY : pcicfg_add_vendor(&s->pci, data, len);
}

int uvfio_server_pci_add_dsn(struct uvfio_server *s, uint64_t serial)
{
	return s->described ? -EBUSY : pcicfg_add_dsn(&s->pci, serial);
}

int uvfio_server_pci_add_cap(struct uvfio_server *s, uint8_t id,
			     const void *body, size_t len, const void *wmask)
{
	return s->described ? -EBUSY
			    : pcicfg_add_cap(&s->pci, id, body, len, wmask);
}

int uvfio_server_pci_add_ext_cap(struct uvfio_server *s, uint16_t id,
				 uint8_t version, const void *body, size_t len,
				 const void *wmask)
{
	return s->described ? -EBUSY
			    : pcicfg_add_ext_cap(&s->pci, id, version, body,
						    len, wmask);
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

void srv_watch_resample(struct uvfio_server *s)
{
	/* Called with s->lock held, from SET_IRQS on the server thread. */
	if (s->intx_resample_fd >= 0)
		ep_ctl(s, EPOLL_CTL_ADD, s->intx_resample_fd, EPOLLIN,
		       TAG_RESAMPLE);
}

void srv_wake(struct uvfio_server *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->wake_fd, &one, sizeof(one));
	(void)r; /* a full counter still wakes the loop */
}

/* ---- connection lifecycle ----------------------------------------------------- */

static void conn_close(struct uvfio_server *s, const char *why)
{
	struct conn *c = s->conn;
	if (!c)
		return;
	if (why)
		ulog_info(&s->log, "client disconnected: %s", why);
	srv_dma_abort(s, -ENOTCONN);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->tp.fd, NULL);
	if (c->has_twin)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->twin.fd, NULL);

	pthread_mutex_lock(&s->lock);
	s->conn = NULL;
	pthread_mutex_unlock(&s->lock);

	tp_fini(&c->tp);
	if (c->has_twin)
		tp_fini(&c->twin);
	tp_stash_free(&c->stash);
	bool was_negotiated = c->negotiated;
	free(c);

	/* The spec: drop every DMA window and eventfd of the client, keep
	 * the device's state; the device decides what a lost client resets. */
	dmat_unmap_all(&s->dma);
	srv_mig_disconnect(s);
	srv_irqs_release(s);
	if (was_negotiated && s->ops && s->ops->reset)
		s->ops->reset(s->ops_opaque, UVFIO_RESET_LOST_CONN);
	if (was_negotiated && s->ops && s->ops->disconnected)
		s->ops->disconnected(s->ops_opaque);

	if (s->listen_fd >= 0 && !s->listening_armed &&
	    !ep_ctl(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, TAG_LISTEN))
		s->listening_armed = true;
}

static int conn_open(struct uvfio_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
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
	int r = ep_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN, TAG_CONN);
	c->events = EPOLLIN;
	if (r) {
		c->tp.fd = -1; /* caller closes fd */
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

void uvfio_server_destroy(struct uvfio_server *s)
{
	if (!s)
		return;
	conn_close(s, NULL);
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

/* ---- replies ------------------------------------------------------------------ */

void srv_reply_error(struct uvfio_server *s, const struct uvfio_hdr *h,
		     int err, const char *why)
{
	struct conn *c = s->conn;
	ulog_warn(&s->log, "%s (id %u) failed: %s: %s", uvfio_cmd_name(h->cmd),
		   h->msg_id, strerror(err), why ? why : "refused");
	if (h->flags & UVFIO_F_NO_REPLY)
		return;
	uint8_t buf[UVFIO_HDR_SIZE];
	ssize_t n = uvfio_build_error(buf, sizeof(buf), h->msg_id, h->cmd, err);
	if (tp_send(&c->tp, buf, (size_t)n, NULL, 0))
		c->drop = true;
}

void srv_reply_ok(struct uvfio_server *s, const struct uvfio_hdr *h,
		  const void *payload, size_t len, const int *fds,
		  unsigned nfds)
{
	struct conn *c = s->conn;
	if (h->flags & UVFIO_F_NO_REPLY)
		return;
	void *p = tp_reserve(&c->tp, UVFIO_HDR_SIZE + len);
	if (!p) {
		ulog_err(&s->log, "cannot queue reply: %s; dropping client",
			  strerror(errno));
		c->drop = true;
		return;
	}
	ssize_t n = uvfio_build_reply(p, UVFIO_HDR_SIZE + len, h->msg_id, h->cmd,
				      payload, len, NULL, 0);
	if (tp_commit(&c->tp, (size_t)n, fds, nfds))
		c->drop = true;
}

/* ---- negotiation ------------------------------------------------------------------ */

/* QEMU 10.x speaks minor 0 and offers keys only it sends; it has no twin
 * socket and its own DMA_READ/WRITE layout (see docs/protocol.md 6.1, 6.2). */
static bool looks_like_qemu(const struct uvfio_cmd_view *v,
			    const struct uvfio_caps *peer)
{
	const char *env = getenv("UVFIO_QEMU_DMA_LAYOUT");
	if (env)
		return atoi(env) != 0;
	return v->u.version.minor == 0 && !peer->twin_socket &&
	       (peer->present & UVFIO_CAP_HAS_WRITE_MULTIPLE) &&
	       (peer->present & UVFIO_CAP_HAS_PGSIZES);
}

static void handle_version(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct conn *c = s->conn;
	const char *why = NULL;
	int sp[2] = { -1, -1 };

	if (c->negotiated) {
		srv_reply_error(s, &v->hdr, EINVAL, "VERSION after negotiation");
		return;
	}
	if (v->u.version.major != UVFIO_VERSION_MAJOR) {
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"client protocol major version is not 0");
		c->drop = true;
		return;
	}
	int r = uvfio_caps_parse(v->u.version.json, v->u.version.json_len,
				 &c->peer, &why);
	if (r) {
		srv_reply_error(s, &v->hdr, -r, why);
		c->drop = true;
		return;
	}

	struct uvfio_caps mine;
	uvfio_caps_defaults(&mine);
	mine.max_msg_fds = s->max_msg_fds;
	mine.max_data_xfer_size = s->max_data_xfer;
	mine.max_dma_maps = SRV_MAX_DMA_MAPS;
	mine.pgsizes = 4096;
	mine.write_multiple = true;
	unsigned which = UVFIO_CAP_HAS_MAX_MSG_FDS | UVFIO_CAP_HAS_MAX_DATA_XFER |
			 UVFIO_CAP_HAS_MAX_DMA_MAPS | UVFIO_CAP_HAS_PGSIZES |
			 UVFIO_CAP_HAS_WRITE_MULTIPLE;
	if (s->mig.ops) {
		/* Any client page size is fine: we report at any size. */
		mine.mig_pgsize = 4096;
		mine.mig_max_bitmap_size = SRV_MAX_REPORT_BITMAP;
		which |= UVFIO_CAP_HAS_MIGRATION;
	}

	if (c->peer.twin_socket && c->peer.max_msg_fds >= 1) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0 &&
		    usock_set_nonblock(sp[0]) == 0) {
			mine.twin_socket = true;
			mine.twin_fd_index = 0;
			which |= UVFIO_CAP_HAS_TWIN_SOCKET |
				 UVFIO_CAP_HAS_TWIN_FD_INDEX;
		} else {
			ulog_warn(&s->log, "cannot create twin socket (%s); "
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
		srv_reply_error(s, &v->hdr, ENOMEM, "cannot format VERSION JSON");
		c->drop = true;
		goto out;
	}
	srv_reply_ok(s, &v->hdr, &rep, sizeof(rep.v) + (size_t)jl,
		     sp[1] >= 0 ? &sp[1] : NULL, sp[1] >= 0 ? 1 : 0);
	if (sp[0] >= 0) {
		tp_init(&c->twin, sp[0]);
		tp_set_sink(&c->twin, srv_dma_sink_twin);
		c->twin.max_fds = 0;
		c->twin.max_msg_size = UVFIO_HDR_SIZE + 16 + s->max_data_xfer;
		if (ep_ctl(s, EPOLL_CTL_ADD, sp[0], EPOLLIN, TAG_TWIN)) {
			tp_fini(&c->twin);
			c->drop = true;
		} else {
			c->has_twin = true;
		}
		sp[0] = -1;
	}
	c->minor = rep.v.minor;
	c->qemu = looks_like_qemu(v, &c->peer);
	pthread_mutex_lock(&s->lock);
	s->client_emulates_msi = c->qemu;
	pthread_mutex_unlock(&s->lock);
	/* Chunk message DMA at what both ends accept (and below QEMU's
	 * truncation point for its replies). */
	c->dma_chunk = c->peer.max_data_xfer_size < s->max_data_xfer
			       ? c->peer.max_data_xfer_size
			       : s->max_data_xfer;
	if (c->qemu && c->dma_chunk > SRV_QEMU_DMA_CHUNK)
		c->dma_chunk = SRV_QEMU_DMA_CHUNK;
	c->dma_layout = c->qemu ? UVFIO_DMA_LAYOUT_QEMU : UVFIO_DMA_LAYOUT_SPEC;
	c->lim.write_multiple = true;
	pthread_mutex_lock(&s->lock);
	c->negotiated = true;
	pthread_mutex_unlock(&s->lock);
	s->described = true;
	/* Now the real limits apply: data messages and control messages. */
	c->tp.max_msg_size = UVFIO_HDR_SIZE + SRV_CTRL_MAX + s->max_data_xfer;
	ulog_info(&s->log,
		   "client negotiated v0.%u: max_msg_fds %u, "
		   "max_data_xfer_size %u%s%s",
		   c->minor, c->peer.max_msg_fds, c->peer.max_data_xfer_size,
		   c->has_twin ? ", twin socket" : "",
		   c->qemu ? ", QEMU DMA message layout" : "");
	if (s->ops && s->ops->connected)
		s->ops->connected(s->ops_opaque);
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]); /* the transport sends its own duplicate */
}

static void handle_reset(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	int r = 0;
	if (s->ops && s->ops->reset)
		r = s->ops->reset(s->ops_opaque, UVFIO_RESET_CLIENT);
	if (r) {
		srv_reply_error(s, &v->hdr, -r, "device reset failed");
		return;
	}
	/* Config space returns to its power-on state; DMA windows and
	 * eventfds belong to the client and stay (as in libvfio-user). */
	pthread_mutex_lock(&s->lock);
	pcicfg_reset(&s->pci);
	pthread_mutex_unlock(&s->lock);
	srv_mig_reset(s);
	srv_reply_ok(s, &v->hdr, NULL, 0, NULL, 0);
}

/* ---- dispatch ------------------------------------------------------------------- */

static int deliver(void *opaque, struct tp_msg *m)
{
	struct uvfio_server *s = opaque;
	struct conn *c = s->conn;
	struct uvfio_cmd_view v;

	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	/* Back-pressure: while the client leaves its replies unread, its
	 * further commands wait (in our buffer, then in the socket).  Its
	 * replies to our DMA never wait: they add nothing to send, and QEMU
	 * cannot hold them back (docs/protocol.md 6.3). */
	if ((h.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_REPLY &&
	    tp_tx_pending(&c->tp) >= c->tp.tx_limit / 2)
		return TP_PAUSE;
	if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY) {
		/* Replies come only for our DMA messages, and only here when
		 * there is no twin socket. */
		if (c->has_twin) {
			c->tp.why = "reply on the main socket although a twin "
				    "socket carries server commands";
			c->drop = true;
			return -EPROTO;
		}
		int r = srv_dma_reply(s, m);
		if (r)
			c->drop = true;
		return r;
	}

	int r = uvfio_parse_command(m->buf, m->size, m->nfds, UVFIO_ROLE_SERVER,
				    &c->lim, &v);
	if (r) {
		srv_reply_error(s, &v.hdr, -r, v.why);
		if (!c->negotiated)
			c->drop = true;
		return c->drop ? -EPROTO : 0;
	}
	if (!c->negotiated && v.hdr.cmd != UVFIO_CMD_VERSION) {
		srv_reply_error(s, &v.hdr, EINVAL, "first command must be VERSION");
		c->drop = true;
		return -EPROTO;
	}

	if (srv_mig_gate(s, &v))
		goto handled;
	switch (v.hdr.cmd) {
	case UVFIO_CMD_VERSION:
		handle_version(s, &v);
		break;
	case UVFIO_CMD_DMA_MAP:
		srv_handle_dma_map(s, &v, m->fds);
		break;
	case UVFIO_CMD_DMA_UNMAP:
		srv_handle_dma_unmap(s, &v);
		break;
	case UVFIO_CMD_DEVICE_GET_INFO: {
		struct uvfio_device_info di = {
			.argsz = sizeof(di),
			.flags = UVFIO_DEV_PCI | UVFIO_DEV_RESET,
			.num_regions = s->num_regions,
			.num_irqs = UVFIO_PCI_NUM_IRQS,
		};
		srv_reply_ok(s, &v.hdr, &di, sizeof(di), NULL, 0);
		break;
	}
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		srv_handle_region_info(s, &v);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		srv_handle_io_fds(s, &v);
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		srv_handle_irq_info(s, &v);
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS:
		srv_handle_set_irqs(s, &v, m->fds);
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		srv_handle_region_rw(s, &v);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI:
		srv_handle_write_multi(s, &v);
		break;
	case UVFIO_CMD_DEVICE_RESET:
		handle_reset(s, &v);
		break;
	case UVFIO_CMD_DIRTY_PAGES:
		srv_reply_error(s, &v.hdr, ENOTSUP,
				"DIRTY_PAGES was removed from the protocol; use "
				"DEVICE_FEATURE DMA logging");
		break;
	case UVFIO_CMD_DEVICE_FEATURE:
		srv_handle_feature(s, &v);
		break;
	case UVFIO_CMD_MIG_DATA_READ:
	case UVFIO_CMD_MIG_DATA_WRITE:
		srv_handle_mig_data(s, &v);
		break;
	default:
		srv_reply_error(s, &v.hdr, ENOTSUP,
				"command not supported by this server");
		break;
	}
handled:
	/* Commands that came while the handler waited for DMA go next. */
	if (!c->drop && c->stash.len && tp_unstash(&c->tp, &c->stash))
		c->drop = true;
	return c->drop ? -EPROTO : 0;
}

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

/* ---- the loop ------------------------------------------------------------------- */

int srv_twin_recv(struct uvfio_server *s)
{
	return tp_recv(&s->conn->twin, deliver_twin, s);
}

/* Server commands on the twin socket; wait for room when it is full. */
void srv_flush_twin(struct uvfio_server *s)
{
	struct conn *c = s->conn;
	if (!c || !c->has_twin)
		return;
	int r = tp_flush(&c->twin);
	if (r < 0 && r != -EAGAIN) {
		conn_close(s, c->twin.why ? c->twin.why : strerror(-r));
		return;
	}
	ep_ctl(s, EPOLL_CTL_MOD, c->twin.fd,
	       r == -EAGAIN ? EPOLLIN | EPOLLOUT : EPOLLIN, TAG_TWIN);
}

/*
 * Socket full: wait for room only, which also stops reading.  Still paused,
 * or commands buffered, with room to write: ask to be woken at once.
 */
static void conn_arm(struct uvfio_server *s, bool tx_full)
{
	struct conn *c = s->conn;
	bool more = c->tp.rx_paused || tp_rx_ready(&c->tp);
	uint32_t ev = tx_full ? EPOLLOUT : more ? EPOLLIN | EPOLLOUT : EPOLLIN;
	if (ev != c->events) {
		if (ep_ctl(s, EPOLL_CTL_MOD, c->tp.fd, ev, TAG_CONN)) {
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
	struct conn *c = s->conn;
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

static void conn_service(struct uvfio_server *s, bool twin)
{
	struct conn *c = s->conn;
	int r;

	if (twin) {
		r = tp_recv(&c->twin, deliver_twin, s);
		if (r < 0) {
			conn_close(s, c->twin.why ? c->twin.why : strerror(-r));
			return;
		}
		srv_dma_pump(s);
		srv_flush_twin(s);
		return;
	}

	/* Replies are flushed between batches of commands; a batch can pause
	 * when the send queue is half full, and resumes once it drains. */
	for (int round = 0; round < 8; round++) {
		r = tp_recv(&c->tp, deliver, s);
		if (r < 0 && !c->drop) {
			refuse_oversize(s, r);
			conn_close(s, c->tp.why ? c->tp.why : strerror(-r));
			return;
		}
		if (!c->drop) {
			srv_dma_pump(s);
			srv_flush_twin(s);
			if (s->conn != c)
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
		if (r == -EAGAIN ||
		    (!c->tp.rx_paused && !tp_rx_ready(&c->tp)))
			break;
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

int uvfio_server_process(struct uvfio_server *s)
{
	struct epoll_event ev[8];
	int n = epoll_wait(s->epfd, ev, 8, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	__atomic_store_n(&s->loop_thread, pthread_self(), __ATOMIC_RELEASE);
	s->in_process = true;
	int ret = 0;
	for (int i = 0; i < n && !ret; i++) {
		switch (ev[i].data.u64) {
		case TAG_LISTEN:
			ret = do_accept(s);
			break;
		case TAG_CONN:
			if (s->conn)
				conn_service(s, false);
			break;
		case TAG_TWIN:
			if (s->conn && s->conn->has_twin)
				conn_service(s, true);
			break;
		case TAG_RESAMPLE:
			srv_irq_resample(s);
			break;
		case TAG_STOP:
		case TAG_WAKE: {
			uint64_t x;
			int fd = ev[i].data.u64 == TAG_STOP ? s->stop_fd
							    : s->wake_fd;
			if (read(fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
				ret = -errno;
			/* Work queued by other threads goes out now. */
			if (s->conn && s->conn->negotiated) {
				srv_dma_pump(s);
				int r = tp_flush(&s->conn->tp);
				if (r < 0 && r != -EAGAIN) {
					conn_close(s, "send failed");
					break;
				}
				conn_arm(s, r == -EAGAIN);
				if (s->conn)
					srv_flush_twin(s);
			}
			break;
		}
		}
	}
	s->in_process = false;
	return ret;
}

int uvfio_server_run(struct uvfio_server *s)
{
	/* A stop requested before the loop starts (a SIGTERM right after
	 * the handler is installed) counts: stopping is cleared only on the
	 * way out, so the server can be run again. */
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
	/* Nobody will read the replies now: DMA waiting for them fails at
	 * once instead of at its timeout. */
	if (s->conn)
		srv_dma_abort(s, -ESHUTDOWN);
	s->stopping = 0;
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
