/* SPDX-License-Identifier: MIT */
/*
 * Commands: checking each with the codec, handing it to its handler, and
 * the replies; VERSION negotiation (limits, the twin socket, recognising
 * QEMU) and DEVICE_RESET, which belong to no other part.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

/* ---- replies ------------------------------------------------------------------ */

void srv_reply_error(struct uvfio_server *s, const struct uvfio_hdr *h,
		     int err, const char *why)
{
	struct srv_conn *c = s->conn;
	ulog_warn(&s->log, "%s (id %u) failed: %s: %s", uvfio_cmd_name(h->cmd),
		   h->msg_id, strerror(err), why ? why : "refused");
	if (h->flags & UVFIO_F_NO_REPLY)
		return;
	uint8_t buf[UVFIO_HDR_SIZE];
	ssize_t n = uvfio_build_error(buf, sizeof(buf), h->msg_id, h->cmd, err);
	if (tp_send(&c->tp, buf, (size_t)n, NULL, 0))
		c->drop = true;
}

uint8_t *srv_reply_reserve(struct uvfio_server *s, size_t len)
{
	struct srv_conn *c = s->conn;
	uint8_t *p = tp_reserve(&c->tp, UVFIO_HDR_SIZE + len);
	if (!p) {
		ulog_err(&s->log, "cannot queue a %zu-byte reply: %s; dropping "
				   "the client",
			  UVFIO_HDR_SIZE + len, strerror(errno));
		c->drop = true;
		return NULL;
	}
	c->reply = p;
	return p + UVFIO_HDR_SIZE;
}

void srv_reply_cancel(struct uvfio_server *s)
{
	tp_cancel(&s->conn->tp);
}

void srv_reply_commit(struct uvfio_server *s, const struct uvfio_hdr *h,
		      size_t len, const int *fds, unsigned nfds)
{
	struct srv_conn *c = s->conn;
	if (h->flags & UVFIO_F_NO_REPLY) {
		tp_cancel(&c->tp);
		return;
	}
	uvfio_build_hdr(c->reply, h->msg_id, h->cmd, UVFIO_F_TYPE_REPLY,
			UVFIO_HDR_SIZE + len);
	if (tp_commit(&c->tp, UVFIO_HDR_SIZE + len, fds, nfds))
		c->drop = true;
}

void srv_reply_ok(struct uvfio_server *s, const struct uvfio_hdr *h,
		  const void *payload, size_t len, const int *fds,
		  unsigned nfds)
{
	if (h->flags & UVFIO_F_NO_REPLY)
		return;
	uint8_t *p = srv_reply_reserve(s, len);
	if (!p)
		return;
	if (len)
		memcpy(p, payload, len);
	srv_reply_commit(s, h, len, fds, nfds);
}

/* ---- VERSION ------------------------------------------------------------------ */

/* QEMU 10.x speaks minor 0 and offers keys only it sends; it has no twin
 * socket and its own DMA_READ/WRITE layout (see docs/protocol.md 6.1, 6.2). */
static bool looks_like_qemu(const struct uvfio_cmd_view *v,
			    const struct uvfio_caps *peer)
{
	return v->u.version.minor == 0 && !peer->twin_socket &&
	       (peer->present & UVFIO_CAP_HAS_WRITE_MULTIPLE) &&
	       (peer->present & UVFIO_CAP_HAS_PGSIZES);
}

static bool client_is_qemu(struct uvfio_server *s,
			   const struct uvfio_cmd_view *v,
			   const struct uvfio_caps *peer)
{
	switch (__atomic_load_n(&s->quirks, __ATOMIC_RELAXED)) {
	case UVFIO_QUIRKS_NONE:
		return false;
	case UVFIO_QUIRKS_QEMU:
		return true;
	default:
		return looks_like_qemu(v, peer);
	}
}

/* One VERSION, first, with our major and JSON we can read; false when it
 * was refused (answered, and the connection ends unless negotiated). */
static bool version_acceptable(struct uvfio_server *s,
			       struct uvfio_cmd_view *v)
{
	struct srv_conn *c = s->conn;
	const char *why = NULL;

	if (c->negotiated) {
		srv_reply_error(s, &v->hdr, EINVAL, "VERSION after negotiation");
		return false;
	}
	if (v->u.version.major != UVFIO_VERSION_MAJOR) {
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"client protocol major version is not 0");
		c->drop = true;
		return false;
	}
	int r = uvfio_caps_parse(v->u.version.json, v->u.version.json_len,
				 &c->peer, &why);
	if (r) {
		srv_reply_error(s, &v->hdr, -r, why);
		c->drop = true;
		return false;
	}
	return true;
}

/* What we announce; returns the UVFIO_CAP_HAS_* bits of the keys to send. */
static unsigned server_caps(struct uvfio_server *s, struct uvfio_caps *mine)
{
	uvfio_caps_defaults(mine);
	mine->max_msg_fds = s->max_msg_fds;
	mine->max_data_xfer_size = s->max_data_xfer;
	mine->max_dma_maps = SRV_MAX_DMA_MAPS;
	mine->pgsizes = SRV_PGSIZE;
	mine->write_multiple = true;
	unsigned which = UVFIO_CAP_HAS_MAX_MSG_FDS |
			 UVFIO_CAP_HAS_MAX_DATA_XFER |
			 UVFIO_CAP_HAS_MAX_DMA_MAPS | UVFIO_CAP_HAS_PGSIZES |
			 UVFIO_CAP_HAS_WRITE_MULTIPLE;
	if (s->mig.enabled) {
		/* Any client page size is fine: we report at any size. */
		mine->mig_pgsize = SRV_PGSIZE;
		mine->mig_max_bitmap_size = SRV_MAX_REPORT_BITMAP;
		which |= UVFIO_CAP_HAS_MIGRATION;
	}
	return which;
}

static uint16_t agreed_minor(const struct uvfio_cmd_view *v)
{
	return v->u.version.minor < UVFIO_VERSION_MINOR ? v->u.version.minor
							 : UVFIO_VERSION_MINOR;
}

/* Queue our VERSION reply, with the twin socket's fd if any.  0, or -1
 * when it cannot be built (answered with an error; the client goes). */
static int version_reply(struct uvfio_server *s, struct uvfio_cmd_view *v,
			 const struct uvfio_caps *mine, unsigned which,
			 int twin_fd)
{
	const struct uvfio_version head = {
		.major = UVFIO_VERSION_MAJOR,
		.minor = agreed_minor(v),
	};
	uint8_t *p = srv_reply_reserve(s, sizeof(head) + SRV_VERSION_JSON_MAX);
	if (!p)
		return -1;
	memcpy(p, &head, sizeof(head));
	ssize_t jl = uvfio_caps_format(mine, which, (char *)p + sizeof(head),
				       SRV_VERSION_JSON_MAX);
	if (jl < 0) {
		srv_reply_cancel(s);
		srv_reply_error(s, &v->hdr, ENOMEM, "cannot format VERSION JSON");
		s->conn->drop = true;
		return -1;
	}
	srv_reply_commit(s, &v->hdr, sizeof(head) + (size_t)jl,
			 twin_fd >= 0 ? &twin_fd : NULL, twin_fd >= 0 ? 1 : 0);
	return 0;
}

/* The client is ours: what was agreed applies from now on. */
static void version_agreed(struct uvfio_server *s,
			   const struct uvfio_cmd_view *v)
{
	struct srv_conn *c = s->conn;

	c->minor = agreed_minor(v);
	c->qemu = client_is_qemu(s, v, &c->peer);
	pthread_mutex_lock(&s->lock);
	s->client_emulates_msi = c->qemu;
	pthread_mutex_unlock(&s->lock);
	srv_dma_configure(s);
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
	if (s->ops.connected)
		s->ops.connected(s->ops_opaque);
}

static void handle_version(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct srv_conn *c = s->conn;
	int sp[2] = { -1, -1 };

	if (!version_acceptable(s, v))
		return;
	struct uvfio_caps mine;
	unsigned which = server_caps(s, &mine);
	if (c->peer.twin_socket && c->peer.max_msg_fds >= 1 &&
	    !srv_twin_create(s, sp)) {
		mine.twin_socket = true;
		mine.twin_fd_index = 0;
		which |= UVFIO_CAP_HAS_TWIN_SOCKET | UVFIO_CAP_HAS_TWIN_FD_INDEX;
	}
	int r = version_reply(s, v, &mine, which, sp[1]);
	if (sp[1] >= 0)
		close(sp[1]); /* the transport sends its own duplicate */
	if (r) {
		if (sp[0] >= 0)
			close(sp[0]);
		return;
	}
	if (sp[0] >= 0 && srv_twin_start(s, sp[0]))
		c->drop = true;
	version_agreed(s, v);
}

/* ---- the device as a whole ------------------------------------------------------ */

static void handle_device_info(struct uvfio_server *s,
			       struct uvfio_cmd_view *v)
{
	struct uvfio_device_info di = {
		.argsz = sizeof(di),
		.flags = UVFIO_DEV_PCI | UVFIO_DEV_RESET,
		.num_regions = s->num_regions,
		.num_irqs = UVFIO_PCI_NUM_IRQS,
	};
	srv_reply_ok(s, &v->hdr, &di, sizeof(di), NULL, 0);
}

int srv_device_reset(struct uvfio_server *s, enum uvfio_reset_reason why)
{
	int r = 0;
	if (s->ops.reset)
		r = s->ops.reset(s->ops_opaque, why);
	if (r)
		return r > 0 ? -EIO : r;
	/* Config space returns to its power-on state; DMA windows and
	 * eventfds belong to the client and stay (as in libvfio-user). */
	pthread_mutex_lock(&s->lock);
	pcicfg_reset(&s->pci);
	pthread_mutex_unlock(&s->lock);
	srv_mig_reset(s);
	return 0;
}

static void handle_reset(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	int r = srv_device_reset(s, UVFIO_RESET_CLIENT);
	if (r) {
		srv_reply_error(s, &v->hdr, -r, "device reset failed");
		return;
	}
	srv_reply_ok(s, &v->hdr, NULL, 0, NULL, 0);
}

uint64_t uvfio_server_commands_handled(struct uvfio_server *s)
{
	return __atomic_load_n(&s->cmds_handled, __ATOMIC_RELAXED);
}

/* ---- dispatch ------------------------------------------------------------------- */

static void dispatch(struct uvfio_server *s, struct uvfio_cmd_view *v,
		     int *fds)
{
	__atomic_add_fetch(&s->cmds_handled, 1, __ATOMIC_RELAXED);
	switch (v->hdr.cmd) {
	case UVFIO_CMD_VERSION:
		handle_version(s, v);
		break;
	case UVFIO_CMD_DMA_MAP:
		srv_handle_dma_map(s, v, fds);
		break;
	case UVFIO_CMD_DMA_UNMAP:
		srv_handle_dma_unmap(s, v);
		break;
	case UVFIO_CMD_DEVICE_GET_INFO:
		handle_device_info(s, v);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		srv_handle_region_info(s, v);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		srv_handle_io_fds(s, v);
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		srv_handle_irq_info(s, v);
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS:
		srv_handle_set_irqs(s, v, fds);
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		srv_handle_region_rw(s, v);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI:
		srv_handle_write_multi(s, v);
		break;
	case UVFIO_CMD_DEVICE_RESET:
		handle_reset(s, v);
		break;
	case UVFIO_CMD_DIRTY_PAGES:
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"DIRTY_PAGES was removed from the protocol; use "
				"DEVICE_FEATURE DMA logging");
		break;
	case UVFIO_CMD_DEVICE_FEATURE:
		srv_handle_feature(s, v);
		break;
	case UVFIO_CMD_MIG_DATA_READ:
	case UVFIO_CMD_MIG_DATA_WRITE:
		srv_handle_mig_data(s, v);
		break;
	default:
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"command not supported by this server");
		break;
	}
}

/* A reply on the main socket: only to our DMA, and only without a twin. */
static int deliver_reply(struct uvfio_server *s, struct tp_msg *m)
{
	struct srv_conn *c = s->conn;
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

int srv_deliver_command(struct uvfio_server *s, struct tp_msg *m)
{
	struct srv_conn *c = s->conn;
	struct uvfio_cmd_view v;

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
	if (!srv_mig_gate(s, &v)) {
		/* Checked and allowed: only now may it wait for the device. */
		r = srv_quiesce_cmd(s, &v, m);
		if (r == 0)
			dispatch(s, &v, m->fds);
		else if (r < 0)
			srv_reply_error(s, &v.hdr, -r, "device quiesce failed");
	}
	/* Commands that came while the handler waited for DMA go next. */
	if (!c->drop && c->stash.len && tp_unstash(&c->tp, &c->stash))
		c->drop = true;
	return c->drop ? -EPROTO : 0;
}

int srv_deliver(void *opaque, struct tp_msg *m)
{
	struct uvfio_server *s = opaque;
	struct srv_conn *c = s->conn;
	struct uvfio_hdr h;

	memcpy(&h, m->buf, sizeof(h));
	bool reply = (h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY;
	/* Back-pressure: while the client leaves its replies unread, its
	 * further commands wait (in our buffer, then in the socket).  Its
	 * replies to our DMA never wait: they add nothing to send, and QEMU
	 * cannot hold them back (docs/protocol.md 6.3). */
	if (!reply && tp_tx_pending(&c->tp) >= c->tp.tx_limit / 2)
		return TP_PAUSE;
	if (reply)
		return deliver_reply(s, m);
	/* Behind a command held for quiescing, in order. */
	if (c->q_held || c->held)
		return srv_held_push(s, m);
	return srv_deliver_command(s, m);
}
