/* SPDX-License-Identifier: MIT */
/*
 * Client DMA windows: DMA_MAP/DMA_UNMAP, and serving the server's
 * DMA_READ/DMA_WRITE against them (from memory or through a window's
 * callbacks), with bounds and permissions checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

/* Index of the first window whose end is above iova (binary search). */
static uint32_t win_find(const struct uvfio_client *c, uint64_t iova)
{
	uint32_t lo = 0, hi = c->nwin;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct cli_window *w = &c->win[mid];
		if (w->iova + (w->size - 1) < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The window with this iova and gen, or -1 (gone meanwhile). */
static int64_t win_by_gen(const struct uvfio_client *c, uint64_t iova,
			  uint64_t gen)
{
	uint32_t i = win_find(c, iova);
	return i < c->nwin && c->win[i].iova == iova && c->win[i].gen == gen
		       ? (int64_t)i
		       : -1;
}

static void win_remove(struct uvfio_client *c, uint32_t i);

/* DMA_MAP of w, built into msg (64 bytes); the expected reply in *exp. */
static ssize_t build_map(struct uvfio_client *c, const struct cli_window *w,
			 uint8_t *msg, struct uvfio_expect *exp)
{
	uint16_t id = cli_next_id(c);
	*exp = (struct uvfio_expect){ .cmd = UVFIO_CMD_DMA_MAP, .msg_id = id };
	return uvfio_build_dma_map(msg, 64, id, w->prot,
				   w->fd >= 0 ? w->offset : 0, w->iova,
				   w->size);
}

static int send_map(struct uvfio_client *c, const struct cli_window *w)
{
	uint8_t msg[64];
	struct pending p = { 0 };
	ssize_t n = build_map(c, w, msg, &p.exp);
	return cli_call(c, msg, (size_t)n, w->fd >= 0 ? &w->fd : NULL,
			w->fd >= 0 ? 1 : 0, &p);
}

/*
 * Check w and enter it in the table before its DMA_MAP goes out (lock
 * held): the overlap check and the insertion are one step, whatever other
 * threads map meanwhile.  Takes w->fd on success.
 */
static int win_insert(struct uvfio_client *c, struct cli_window *w)
{
	uint32_t i = win_find(c, w->iova);
	if (i < c->nwin && c->win[i].iova <= w->iova + (w->size - 1))
		return -EEXIST;
	if (c->nwin >= CLI_MAX_WINDOWS ||
	    (c->connected && c->nwin >= c->srv.max_dma_maps))
		return -ENOSPC;
	if (!c->connected)
		return -ENOTCONN;
	if (c->nwin == c->win_cap) {
		uint32_t cap = c->win_cap ? c->win_cap * 2 : 16;
		struct cli_window *n = realloc(c->win, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->win = n;
		c->win_cap = cap;
	}
	w->gen = ++c->win_gen;
	w->conn = c->conn_id;
	memmove(&c->win[i + 1], &c->win[i], (c->nwin - i) * sizeof(*w));
	c->win[i] = *w;
	c->nwin++;
	return 0;
}

/* The window goes, if it is still there: its map failed, or it was
 * unmapped (lock held). */
static void win_forget(struct uvfio_client *c, uint64_t iova, uint64_t gen)
{
	int64_t i = win_by_gen(c, iova, gen);
	if (i >= 0)
		win_remove(c, (uint32_t)i);
}

struct map_op {
	struct uvfio_client *c;
	uint64_t iova, gen;
	uvfio_client_done_fn done;
	void *opaque;
};

static void map_done(void *opaque, int result)
{
	struct map_op *m = opaque;
	if (result) {
		ulog_err(&m->c->log, "DMA_MAP of %#llx failed: %s",
			  (unsigned long long)m->iova, strerror(-result));
		win_forget(m->c, m->iova, m->gen);
	}
	if (m->done)
		m->done(m->opaque, result);
	free(m);
}

/* Enter a window and map it: waiting for the reply (done NULL and !async)
 * or not. */
static int map_window(struct uvfio_client *c, struct cli_window *w, int fd,
		      bool async, uvfio_client_done_fn done, void *opaque)
{
	if (!w->size || w->iova + (w->size - 1) < w->iova ||
	    (w->prot & ~(UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)))
		return -EINVAL;
	struct map_op *m = NULL;
	if (async && !(m = malloc(sizeof(*m))))
		return -ENOMEM;
	cli_lock(c);
	int r = 0;
	w->fd = -1;
	/* Our own duplicate, to map again after a reconnect. */
	if (fd >= 0 && (w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		r = -errno;
		goto out;
	}
	r = win_insert(c, w);
	if (r) {
		if (w->fd >= 0)
			close(w->fd);
		goto out;
	}
	uint64_t iova = w->iova, gen = w->gen;
	if (!async) {
		r = send_map(c, w);
		if (r)
			win_forget(c, iova, gen);
		goto out;
	}
	uint8_t msg[64];
	struct uvfio_expect exp;
	ssize_t n = build_map(c, w, msg, &exp);
	*m = (struct map_op){ c, iova, gen, done, opaque };
	/* w is our copy: the table's may move while the map is sent. */
	r = cli_call_async(c, msg, (size_t)n, w->fd >= 0 ? &w->fd : NULL,
			   w->fd >= 0 ? 1 : 0, &exp, map_done, m);
	if (r)
		win_forget(c, iova, gen);
	else
		m = NULL;
out:
	cli_unlock(c);
	free(m);
	return r;
}

int uvfio_client_dma_map(struct uvfio_client *c, uint64_t iova, uint64_t size,
			 uint32_t prot, void *vaddr, int fd, uint64_t offset)
{
	struct cli_window w = {
		.iova = iova, .size = size, .prot = prot, .vaddr = vaddr,
		.offset = offset,
	};
	return map_window(c, &w, fd, false, NULL, NULL);
}

int uvfio_client_dma_map_async(struct uvfio_client *c, uint64_t iova,
			       uint64_t size, uint32_t prot, void *vaddr,
			       int fd, uint64_t offset,
			       uvfio_client_done_fn done, void *opaque)
{
	struct cli_window w = {
		.iova = iova, .size = size, .prot = prot, .vaddr = vaddr,
		.offset = offset,
	};
	return map_window(c, &w, fd, true, done, opaque);
}

int uvfio_client_dma_map_ops(struct uvfio_client *c, uint64_t iova,
			     uint64_t size, uint32_t prot,
			     const struct uvfio_client_dma_ops *ops,
			     void *opaque)
{
	if (!ops || ((prot & UVFIO_DMA_MAP_READ) && !ops->read) ||
	    ((prot & UVFIO_DMA_MAP_WRITE) && !ops->write))
		return -EINVAL;
	struct cli_window w = {
		.iova = iova, .size = size, .prot = prot, .has_ops = true,
		.ops = *ops, .ops_opaque = opaque,
	};
	return map_window(c, &w, -1, false, NULL, NULL);
}

/* The client address of [addr, addr + count) if one window with `need`
 * holds all of it, else NULL. */
static uint8_t *win_span(struct uvfio_client *c, uint64_t addr,
			 uint64_t count, uint32_t need)
{
	uint32_t i = win_find(c, addr);
	if (!count || i >= c->nwin)
		return NULL;
	struct cli_window *w = &c->win[i];
	if (w->iova > addr || !(w->prot & need) || !w->vaddr ||
	    count > w->size - (addr - w->iova))
		return NULL;
	return w->vaddr + (addr - w->iova);
}

/*
 * A window's memory may go once this returns: replies still sending from
 * it get a copy, and a DMA_WRITE being received into it drops its data.
 * false: out of memory for the copy.  The caller then fails the
 * connection, once it is done with the table: failing completes pending
 * maps, which remove their windows.
 */
static bool win_release(struct uvfio_client *c, struct cli_window *w)
{
	bool ok = true;
	if (!c->connected || !w->vaddr)
		return ok;
	struct tp *tps[2] = { &c->tp, c->has_twin ? &c->twin : NULL };
	for (int k = 0; k < 2; k++) {
		if (!tps[k])
			continue;
		tp_direct_cancel(tps[k], w->vaddr, w->size);
		if (tp_ext_detach(tps[k], w->vaddr))
			ok = false;
	}
	return ok;
}

static void release_failed(struct uvfio_client *c)
{
	cli_fail(c, -ENOMEM, "out of memory keeping a reply whose window "
			     "was unmapped");
}

static void win_remove(struct uvfio_client *c, uint32_t i)
{
	bool ok = win_release(c, &c->win[i]);
	if (c->win[i].fd >= 0)
		close(c->win[i].fd);
	memmove(&c->win[i], &c->win[i + 1], (c->nwin - i - 1) * sizeof(c->win[0]));
	c->nwin--;
	if (!ok)
		release_failed(c);
}

static int send_unmap(struct uvfio_client *c, uint32_t flags, uint64_t iova,
		      uint64_t size)
{
	uint8_t msg[64];
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_dma_unmap(msg, sizeof(msg), id, flags, iova,
					  size, 0);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DMA_UNMAP, .msg_id = id,
			 .argsz = sizeof(struct uvfio_dma_unmap) },
	};
	return cli_call(c, msg, (size_t)n, NULL, 0, &p);
}

int uvfio_client_dma_unmap(struct uvfio_client *c, uint64_t iova,
			   uint64_t size)
{
	cli_lock(c);
	uint32_t i = win_find(c, iova);
	int r = -ENOENT;
	if (i < c->nwin && c->win[i].iova == iova && c->win[i].size == size) {
		uint64_t gen = c->win[i].gen;
		/* The server must stop using it before it is gone here.
		 * Other threads may change the table while we wait, hence
		 * gen. */
		r = send_unmap(c, 0, iova, size);
		if (!r || r == -ENOTCONN)
			win_forget(c, iova, gen);
		if (r == -ENOTCONN)
			r = 0;
	}
	cli_unlock(c);
	return r;
}

/* Remove the windows entered up to gen (all: UINT64_MAX). */
static void windows_drop_upto(struct uvfio_client *c, uint64_t gen)
{
	uint32_t k = 0;
	bool ok = true;
	for (uint32_t i = 0; i < c->nwin; i++) {
		struct cli_window *w = &c->win[i];
		if (w->gen > gen) {
			c->win[k++] = *w;
			continue;
		}
		ok &= win_release(c, w);
		if (w->fd >= 0)
			close(w->fd);
	}
	c->nwin = k;
	if (!k) {
		free(c->win);
		c->win = NULL;
		c->win_cap = 0;
	}
	if (!ok)
		release_failed(c);
}

int uvfio_client_dma_unmap_all(struct uvfio_client *c)
{
	cli_lock(c);
	/* Windows another thread maps while we wait were sent after the
	 * UNMAP_ALL: the server keeps those. */
	uint64_t upto = c->win_gen;
	int r = c->connected ? send_unmap(c, UVFIO_DMA_UNMAP_ALL, 0, 0) : 0;
	if (!r || r == -ENOTCONN) {
		windows_drop_upto(c, upto);
		r = 0;
	}
	cli_unlock(c);
	return r;
}

void cli_windows_drop(struct uvfio_client *c)
{
	windows_drop_upto(c, UINT64_MAX);
}

int cli_windows_resend(struct uvfio_client *c)
{
	/*
	 * In iova order from a cursor rather than an index: the table may
	 * change while each map waits.  Windows entered on this connection
	 * (conn_id) are mapped by whoever entered them.
	 */
	uint64_t at = 0;
	for (;;) {
		uint32_t i = win_find(c, at);
		while (i < c->nwin && c->win[i].conn == c->conn_id)
			i++;
		if (i >= c->nwin)
			return 0;
		struct cli_window *w = &c->win[i];
		w->conn = c->conn_id;
		uint64_t last = w->iova + (w->size - 1);
		int r = send_map(c, w);
		if (r)
			return r;
		if (last == UINT64_MAX)
			return 0;
		at = last + 1;
	}
}

/*
 * Copy between buf and the windows covering [addr, addr + count), which
 * must all exist, be contiguous, have the right and a client address.
 */
static int win_check(struct uvfio_client *c, uint64_t addr, uint32_t count,
		     uint32_t need)
{
	uint32_t i = win_find(c, addr);
	uint32_t done = 0;
	while (done < count) {
		uint64_t at = addr + done;
		if (i >= c->nwin || c->win[i].iova > at)
			return -EFAULT;
		struct cli_window *w = &c->win[i];
		if (!(w->prot & need))
			return -EPERM;
		if (!w->vaddr && !w->has_ops)
			return -EFAULT;
		uint64_t in = w->size - (at - w->iova);
		done += count - done < in ? count - done : (uint32_t)in;
		i++;
	}
	return 0;
}

static int win_copy(struct uvfio_client *c, uint64_t addr, uint8_t *buf,
		    uint32_t count, bool server_writes)
{
	uint32_t need = server_writes ? UVFIO_DMA_MAP_WRITE : UVFIO_DMA_MAP_READ;
	/* The whole range first: a refused DMA_WRITE writes nothing. */
	int r = win_check(c, addr, count, need);
	if (r)
		return r;
	uint32_t i = win_find(c, addr);
	uint32_t done = 0;
	while (done < count) {
		uint64_t at = addr + done;
		struct cli_window *w = &c->win[i];
		uint64_t in = w->size - (at - w->iova);
		uint32_t n = count - done < in ? count - done : (uint32_t)in;
		if (w->has_ops) {
			r = server_writes
				    ? w->ops.write(w->ops_opaque, at, buf + done, n)
				    : w->ops.read(w->ops_opaque, at, buf + done, n);
			if (r)
				return r < 0 ? r : -EIO;
			done += n;
			i++;
			continue;
		}
		uint8_t *p = w->vaddr + (at - w->iova);
		if (server_writes)
			memcpy(p, buf + done, n);
		else
			memcpy(buf + done, p, n);
		done += n;
		i++;
	}
	return 0;
}

static int reply_error(struct tp *tp, const struct uvfio_hdr *h, int err)
{
	uint8_t b[UVFIO_HDR_SIZE];
	if (h->flags & UVFIO_F_NO_REPLY)
		return 0;
	ssize_t n = uvfio_build_error(b, sizeof(b), h->msg_id, h->cmd, err);
	return tp_send(tp, b, (size_t)n, NULL, 0);
}

/*
 * The direct-receive sink for a large DMA_WRITE: its data goes straight
 * into the window it names, if one message window with the right holds it
 * all.  Everything else is received (and checked) the usual way.
 */
void *cli_dma_sink(struct uvfio_client *c, const uint8_t *msg, size_t have,
		   size_t *skip)
{
	struct uvfio_limits lim = { CLI_MAX_DATA_XFER, 0, false };
	struct uvfio_dma_rw d;
	ssize_t pre = uvfio_check_head(msg, have, NULL, &lim);
	if (pre < 0)
		return NULL;
	memcpy(&d, msg + UVFIO_HDR_SIZE, sizeof(d));
	uint8_t *dst = win_span(c, d.addr, d.count, UVFIO_DMA_MAP_WRITE);
	if (dst)
		*skip = (size_t)pre;
	return dst;
}

/* A DMA_WRITE of count bytes at addr is done: count it, answer it. */
static int write_done(struct uvfio_client *c, struct tp *tp,
		      const struct uvfio_hdr *h, uint64_t addr, uint32_t count)
{
	c->dma_served += count;
	if (h->flags & UVFIO_F_NO_REPLY)
		return 0;
	uint8_t b[UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw)];
	ssize_t n = uvfio_build_dma_write_reply(b, sizeof(b), h->msg_id, addr,
						count);
	return tp_send(tp, b, (size_t)n, NULL, 0);
}

/* The rest of a DMA_WRITE whose data cli_dma_sink() placed. */
static int serve_direct_write(struct uvfio_client *c, struct tp *tp,
			      struct tp_msg *m)
{
	struct uvfio_hdr h;
	struct uvfio_dma_rw d;
	memcpy(&h, m->buf, sizeof(h));
	memcpy(&d, m->buf + UVFIO_HDR_SIZE, sizeof(d));
	if (!m->direct) {
		/* Its window was unmapped while the data came in. */
		ulog_warn(&c->log, "DMA_WRITE of %llu bytes at %#llx dropped: "
				    "the window was unmapped meanwhile",
			   (unsigned long long)d.count,
			   (unsigned long long)d.addr);
		return reply_error(tp, &h, EFAULT);
	}
	return write_done(c, tp, &h, d.addr, (uint32_t)d.count);
}

/* The header and dma_rw of a DMA_READ reply carrying count bytes, whose
 * data follows (in the buffer, or sent from the window). */
static void read_reply_head(uint8_t *p, const struct uvfio_hdr *h,
			    uint64_t addr, uint32_t count)
{
	struct uvfio_dma_rw d = { .addr = addr, .count = count };
	uvfio_build_hdr(p, h->msg_id, h->cmd, UVFIO_F_TYPE_REPLY,
			UVFIO_HDR_SIZE + sizeof(d) + count);
	memcpy(p + UVFIO_HDR_SIZE, &d, sizeof(d));
}

int cli_serve_dma(struct uvfio_client *c, struct tp *tp,
		  struct tp_msg *m)
{
	struct uvfio_cmd_view v;
	if (m->is_direct)
		return serve_direct_write(c, tp, m);
	struct uvfio_limits lim = { CLI_MAX_DATA_XFER, 0, false };
	int r = uvfio_parse_command(m->buf, m->size, m->nfds, UVFIO_ROLE_CLIENT,
				    &lim, &v);
	if (r) {
		ulog_warn(&c->log, "server sent a bad %s (id %u): %s",
			   uvfio_cmd_name(v.hdr.cmd), v.hdr.msg_id, v.why);
		return reply_error(tp, &v.hdr, -r);
	}
	uint64_t addr = v.u.dma_rw.addr;
	uint32_t count = v.u.dma_rw.count;

	if (v.hdr.cmd == UVFIO_CMD_DMA_WRITE) {
		r = win_copy(c, addr, (uint8_t *)v.u.dma_rw.data, count, true);
		if (r) {
			ulog_warn(&c->log, "DMA_WRITE of %u bytes at %#llx "
					    "refused: %s",
				   count, (unsigned long long)addr, strerror(-r));
			return reply_error(tp, &v.hdr, -r);
		}
		return write_done(c, tp, &v.hdr, addr, count);
	}

	/* DMA_READ.  A large one inside one window is sent from the window
	 * itself (win_release() copies what is left if it goes first). */
	size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw);
	size_t total = pre + count;
	uint8_t *src = count >= TP_DIRECT_MIN
			       ? win_span(c, addr, count, UVFIO_DMA_MAP_READ)
			       : NULL;
	if (src) {
		uint8_t *h = tp_reserve(tp, pre);
		if (!h)
			return -errno;
		read_reply_head(h, &v.hdr, addr, count);
		uint32_t i = win_find(c, addr);
		r = tp_commit_ext(tp, pre, src, count, c->win[i].vaddr);
		if (r != -ENOBUFS) {
			if (!r)
				c->dma_served += count;
			return r;
		}
	}
	/* Otherwise the data is copied from the windows into the reply. */
	uint8_t *p = tp_reserve(tp, total);
	if (!p)
		return -errno;
	r = win_copy(c, addr, p + UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw),
		     count, false);
	if (r) {
		tp_cancel(tp);
		ulog_warn(&c->log, "DMA_READ of %u bytes at %#llx refused: %s",
			   count, (unsigned long long)addr, strerror(-r));
		return reply_error(tp, &v.hdr, -r);
	}
	read_reply_head(p, &v.hdr, addr, count);
	c->dma_served += count;
	return tp_commit(tp, total, NULL, 0);
}
