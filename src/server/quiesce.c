/* SPDX-License-Identifier: MIT */
/*
 * Quiescing (server.h, "Quiescing"): commands that change what the device
 * may DMA to wait for the device's quiesce op, and while it takes its time
 * (-EBUSY) they and every command after them are held here, copied out of
 * the receive buffer, so the transport keeps reading: the replies to the
 * server's own DMA, which the device may need to finish, arrive behind
 * them on the same socket.  uvfio_server_device_quiesced() may come from
 * any thread; it only records the outcome and wakes the loop, whose
 * thread then handles the held commands in order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "priv.h"

/* ---- which commands ------------------------------------------------------------ */

static bool config_flr(struct uvfio_server *s, uint32_t region,
		       uint64_t offset, const void *data, uint32_t count)
{
	return region == UVFIO_PCI_CONFIG && offset < PCICFG_PCIE_CFG_SIZE &&
	       pcicfg_flr_requested(&s->pci, (uint32_t)offset, data, count);
}

static bool needs_quiesce(struct uvfio_server *s,
			  const struct uvfio_cmd_view *v)
{
	switch (v->hdr.cmd) {
	case UVFIO_CMD_DMA_MAP:
	case UVFIO_CMD_DMA_UNMAP:
	case UVFIO_CMD_DEVICE_RESET:
		return true;
	case UVFIO_CMD_DEVICE_FEATURE: {
		uint32_t fl = v->u.feature.req.flags;
		struct uvfio_feature_mig_state st;
		if (!s->mig.enabled ||
		    v->u.feature.feature != UVFIO_FEATURE_MIG_DEVICE_STATE ||
		    !(fl & UVFIO_FEATURE_SET) || (fl & UVFIO_FEATURE_PROBE) ||
		    v->u.feature.data_len < sizeof(st.device_state))
			return false;
		memcpy(&st.device_state, v->u.feature.data,
		       sizeof(st.device_state));
		/* A SET to the state it is in changes nothing. */
		return st.device_state !=
		       (uint32_t)uvfio_server_migration_state(s);
	}
	case UVFIO_CMD_REGION_WRITE:
		return config_flr(s, v->u.region_rw.req.region,
				  v->u.region_rw.req.offset,
				  v->u.region_rw.data, v->u.region_rw.req.count);
	case UVFIO_CMD_REGION_WRITE_MULTI:
		for (uint32_t i = 0; i < v->u.write_multi.n; i++) {
			struct uvfio_write_multi_entry e;
			memcpy(&e, v->u.write_multi.wrs + i * sizeof(e),
			       sizeof(e));
			if (e.count <= sizeof(e.data) &&
			    config_flr(s, e.region, e.offset, e.data, e.count))
				return true;
		}
		return false;
	default:
		return false;
	}
}

/* ---- calling the device ----------------------------------------------------------- */

/*
 * Run the quiesce op.  q_state is ARMED before the call, so a quiesced()
 * from another thread that beats our return is not lost.  0, 1 (pending:
 * wait for quiesced, which may have come already) or the op's -errno.
 */
static int call_quiesce(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->q_state = SRV_Q_ARMED;
	s->q_err = 0;
	pthread_mutex_unlock(&s->lock);
	int r = s->ops.quiesce(s->ops_opaque);
	pthread_mutex_lock(&s->lock);
	if (r == -EBUSY) {
		if (s->q_state == SRV_Q_ARMED)
			s->q_state = SRV_Q_PENDING;
	} else {
		s->q_state = SRV_Q_IDLE;
	}
	pthread_mutex_unlock(&s->lock);
	if (r > 0) /* not a valid answer: treat as a failure */
		r = -EIO;
	return r == -EBUSY ? 1 : r;
}

void uvfio_server_device_quiesced(struct uvfio_server *s, int err)
{
	pthread_mutex_lock(&s->lock);
	bool waited = s->q_state == SRV_Q_ARMED || s->q_state == SRV_Q_PENDING;
	if (waited) {
		s->q_state = SRV_Q_DONE;
		s->q_err = err > 0 ? -err : err;
	}
	pthread_mutex_unlock(&s->lock);
	if (!waited) {
		ulog_warn(&s->log, "uvfio_server_device_quiesced() with no "
				   "quiesce pending: ignored");
		return;
	}
	srv_wake(s);
}

int srv_quiesce_poll(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->lock);
	bool done = s->q_state == SRV_Q_DONE;
	int err = s->q_err;
	if (done)
		s->q_state = SRV_Q_IDLE;
	pthread_mutex_unlock(&s->lock);
	if (!done)
		return 0;
	if (s->lost_pending) {
		s->lost_pending = false;
		return 2;
	}
	struct srv_conn *c = s->conn;
	if (!c || !c->q_held)
		return 0;
	c->q_held = false;
	c->q_granted = true;
	c->q_err = err;
	return 1;
}

bool srv_quiesce_lost(struct uvfio_server *s)
{
	if (!s->ops.quiesce || s->destroying)
		return false;
	pthread_mutex_lock(&s->lock);
	uint32_t st = s->q_state;
	if (st == SRV_Q_DONE)
		s->q_state = SRV_Q_IDLE;
	pthread_mutex_unlock(&s->lock);
	/* A held command's quiesce is still running: the same quiesced()
	 * ends both. */
	if (st == SRV_Q_PENDING || st == SRV_Q_ARMED) {
		s->lost_pending = true;
		return true;
	}
	if (st == SRV_Q_DONE)
		return false;
	int r = call_quiesce(s);
	if (r < 0)
		ulog_warn(&s->log, "quiesce for the lost client failed: %s; "
				   "cleaning up anyway", strerror(-r));
	if (r != 1)
		return false;
	/* quiesced() may have come during the op: the wake-up it sent makes
	 * the loop finish. */
	s->lost_pending = true;
	return true;
}

/* ---- held commands ---------------------------------------------------------------- */

static int held_add(struct uvfio_server *s, struct tp_msg *m, bool front)
{
	struct srv_conn *c = s->conn;
	if (m->is_direct)
		return -EPROTO; /* only replies are received in place */
	if (!front && c->held_bytes + m->size > SRV_HELD_MAX)
		return TP_PAUSE;
	struct srv_held *h = malloc(sizeof(*h) + m->size);
	if (!h)
		return -ENOMEM;
	h->size = m->size;
	memcpy(h->buf, m->buf, m->size);
	h->nfds = m->nfds;
	for (unsigned i = 0; i < m->nfds; i++) {
		h->fds[i] = m->fds[i];
		m->fds[i] = -1;
	}
	if (!c->held)
		c->held_tail = &c->held;
	if (front) {
		h->next = c->held;
		if (!c->held)
			c->held_tail = &h->next;
		c->held = h;
	} else {
		h->next = NULL;
		*c->held_tail = h;
		c->held_tail = &h->next;
	}
	c->held_bytes += m->size;
	return 0;
}

int srv_held_push(struct uvfio_server *s, struct tp_msg *m)
{
	int r = held_add(s, m, false);
	if (r < 0) {
		ulog_err(&s->log, "cannot hold a command while the device "
				   "quiesces: %s; dropping the client",
			  strerror(-r));
		s->conn->drop = true;
	}
	return r;
}

void srv_held_free(struct srv_conn *c)
{
	while (c->held) {
		struct srv_held *h = c->held;
		c->held = h->next;
		tp_close_fds(h->fds, h->nfds);
		free(h);
	}
	c->held_bytes = 0;
}

void srv_held_drain(struct uvfio_server *s)
{
	struct srv_conn *c = s->conn;
	/* Replies wait for room as commands from the socket do (srv_deliver):
	 * the rest is handled once the send queue drains. */
	while (srv_held_ready(c) && !c->drop &&
	       tp_tx_pending(&c->tp) < c->tp.tx_limit / 2) {
		struct srv_held *h = c->held;
		c->held = h->next;
		c->held_bytes -= h->size;
		struct tp_msg m = {
			.buf = h->buf,
			.size = h->size,
			.fds = h->fds,
			.nfds = h->nfds,
		};
		srv_deliver_command(s, &m);
		tp_close_fds(h->fds, h->nfds);
		free(h);
	}
}

int srv_quiesce_cmd(struct uvfio_server *s, const struct uvfio_cmd_view *v,
		    struct tp_msg *m)
{
	struct srv_conn *c = s->conn;
	if (!s->ops.quiesce || !needs_quiesce(s, v))
		return 0;
	if (c->q_granted) {
		/* The front held command: its quiesce is done. */
		c->q_granted = false;
		return c->q_err;
	}
	int r = call_quiesce(s);
	if (r != 1)
		return r;
	r = held_add(s, m, true);
	if (r) {
		/* Nothing to resume: the device's quiesced() is ignored. */
		pthread_mutex_lock(&s->lock);
		s->q_state = SRV_Q_IDLE;
		pthread_mutex_unlock(&s->lock);
		return r < 0 ? r : -ENOMEM;
	}
	c->q_held = true;
	return 1;
}
