/* SPDX-License-Identifier: MIT */
/*
 * Client DMA windows: DMA_MAP/DMA_UNMAP, and serving the server's
 * DMA_READ/DMA_WRITE against them, with bounds and permissions checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

#define LOCK(c) pthread_mutex_lock(&(c)->lock)
#define UNLOCK(c) pthread_mutex_unlock(&(c)->lock)

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

static int send_map(struct uvfio_client *c, const struct cli_window *w)
{
	uint8_t msg[64];
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_dma_map(msg, sizeof(msg), id, w->prot,
					w->fd >= 0 ? w->offset : 0, w->iova,
					w->size);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DMA_MAP, .msg_id = id },
	};
	return cli_call(c, msg, (size_t)n, w->fd >= 0 ? &w->fd : NULL,
			w->fd >= 0 ? 1 : 0, &p);
}

int uvfio_client_dma_map(struct uvfio_client *c, uint64_t iova, uint64_t size,
			 uint32_t prot, void *vaddr, int fd, uint64_t offset)
{
	if (!size || iova + (size - 1) < iova ||
	    (prot & ~(UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)))
		return -EINVAL;
	LOCK(c);
	int r = 0;
	uint32_t i = win_find(c, iova);
	if (i < c->nwin && c->win[i].iova <= iova + (size - 1)) {
		r = -EEXIST;
		goto out;
	}
	if (c->nwin >= CLI_MAX_WINDOWS ||
	    (c->connected && c->nwin >= c->srv.max_dma_maps)) {
		r = -ENOSPC;
		goto out;
	}
	if (c->nwin == c->win_cap) {
		uint32_t cap = c->win_cap ? c->win_cap * 2 : 16;
		struct cli_window *n = realloc(c->win, cap * sizeof(*n));
		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		c->win = n;
		c->win_cap = cap;
	}
	struct cli_window w = {
		.iova = iova, .size = size, .prot = prot, .vaddr = vaddr,
		.fd = -1, .offset = offset,
	};
	/* Our own duplicate, to map again after a reconnect. */
	if (fd >= 0 && (w.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		r = -errno;
		goto out;
	}
	r = send_map(c, &w);
	if (r) {
		if (w.fd >= 0)
			close(w.fd);
		goto out;
	}
	memmove(&c->win[i + 1], &c->win[i], (c->nwin - i) * sizeof(w));
	c->win[i] = w;
	c->nwin++;
out:
	UNLOCK(c);
	return r;
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

/* A window's memory may go once this returns: replies still sending from
 * it get a copy, and a DMA_WRITE being received into it drops its data. */
static void win_release(struct uvfio_client *c, struct cli_window *w)
{
	if (!c->connected || !w->vaddr)
		return;
	struct uvfio_tp *tps[2] = { &c->tp, c->has_twin ? &c->twin : NULL };
	for (int k = 0; k < 2 && c->connected; k++) {
		if (!tps[k])
			continue;
		uvfio_tp_direct_cancel(tps[k], w->vaddr, w->size);
		if (uvfio_tp_ext_detach(tps[k], w->vaddr))
			cli_fail(c, -ENOMEM, "out of memory keeping a reply "
					     "whose window was unmapped");
	}
}

static void win_remove(struct uvfio_client *c, uint32_t i)
{
	win_release(c, &c->win[i]);
	if (c->win[i].fd >= 0)
		close(c->win[i].fd);
	memmove(&c->win[i], &c->win[i + 1], (c->nwin - i - 1) * sizeof(c->win[0]));
	c->nwin--;
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
	LOCK(c);
	uint32_t i = win_find(c, iova);
	int r = -ENOENT;
	if (i < c->nwin && c->win[i].iova == iova && c->win[i].size == size) {
		/* The server must stop using it before it is gone here. */
		r = send_unmap(c, 0, iova, size);
		if (!r || r == -ENOTCONN)
			win_remove(c, i);
		if (r == -ENOTCONN)
			r = 0;
	}
	UNLOCK(c);
	return r;
}

int uvfio_client_dma_unmap_all(struct uvfio_client *c)
{
	LOCK(c);
	int r = c->connected ? send_unmap(c, UVFIO_DMA_UNMAP_ALL, 0, 0) : 0;
	if (!r || r == -ENOTCONN) {
		cli_windows_drop(c);
		r = 0;
	}
	UNLOCK(c);
	return r;
}

void cli_windows_drop(struct uvfio_client *c)
{
	for (uint32_t i = 0; i < c->nwin; i++) {
		win_release(c, &c->win[i]);
		if (c->win[i].fd >= 0)
			close(c->win[i].fd);
	}
	free(c->win);
	c->win = NULL;
	c->nwin = c->win_cap = 0;
}

int cli_windows_resend(struct uvfio_client *c)
{
	for (uint32_t i = 0; i < c->nwin; i++) {
		int r = send_map(c, &c->win[i]);
		if (r)
			return r;
	}
	return 0;
}

/*
 * Copy between buf and the windows covering [addr, addr + count), which
 * must all exist, be contiguous, have the right and a client address.
 */
static int win_copy(struct uvfio_client *c, uint64_t addr, uint8_t *buf,
		    uint32_t count, bool server_writes)
{
	uint32_t need = server_writes ? UVFIO_DMA_MAP_WRITE : UVFIO_DMA_MAP_READ;
	uint32_t i = win_find(c, addr);
	uint32_t done = 0;
	while (done < count) {
		uint64_t at = addr + done;
		if (i >= c->nwin || c->win[i].iova > at)
			return -EFAULT;
		struct cli_window *w = &c->win[i];
		if (!(w->prot & need))
			return -EPERM;
		if (!w->vaddr)
			return -EFAULT;
		uint64_t in = w->size - (at - w->iova);
		uint32_t n = count - done < in ? count - done : (uint32_t)in;
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

static int reply_error(struct uvfio_tp *tp, const struct uvfio_hdr *h, int err)
{
	uint8_t b[UVFIO_HDR_SIZE];
	if (h->flags & UVFIO_F_NO_REPLY)
		return 0;
	ssize_t n = uvfio_build_error(b, sizeof(b), h->msg_id, h->cmd, err);
	return uvfio_tp_send(tp, b, (size_t)n, NULL, 0);
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

/* The rest of a DMA_WRITE whose data cli_dma_sink() placed. */
static int serve_direct_write(struct uvfio_client *c, struct uvfio_tp *tp,
			      struct uvfio_tp_msg *m)
{
	struct uvfio_hdr h;
	struct uvfio_dma_rw d;
	memcpy(&h, m->buf, sizeof(h));
	memcpy(&d, m->buf + UVFIO_HDR_SIZE, sizeof(d));
	if (!m->direct) {
		/* Its window was unmapped while the data came in. */
		uvfio_warn(&c->log, "DMA_WRITE of %llu bytes at %#llx dropped: "
				    "the window was unmapped meanwhile",
			   (unsigned long long)d.count,
			   (unsigned long long)d.addr);
		return reply_error(tp, &h, EFAULT);
	}
	c->dma_served += d.count;
	if (h.flags & UVFIO_F_NO_REPLY)
		return 0;
	uint8_t b[UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw)];
	ssize_t n = uvfio_build_dma_write_reply(b, sizeof(b), h.msg_id, d.addr,
						(uint32_t)d.count);
	return uvfio_tp_send(tp, b, (size_t)n, NULL, 0);
}

int cli_serve_dma(struct uvfio_client *c, struct uvfio_tp *tp,
		  struct uvfio_tp_msg *m)
{
	struct uvfio_cmd_view v;
	if (m->is_direct)
		return serve_direct_write(c, tp, m);
	struct uvfio_limits lim = { CLI_MAX_DATA_XFER, 0, false };
	int r = uvfio_parse_command(m->buf, m->size, m->nfds, UVFIO_ROLE_CLIENT,
				    &lim, &v);
	if (r) {
		uvfio_warn(&c->log, "server sent a bad %s (id %u): %s",
			   uvfio_cmd_name(v.hdr.cmd), v.hdr.msg_id, v.why);
		return reply_error(tp, &v.hdr, -r);
	}
	uint64_t addr = v.u.dma_rw.addr;
	uint32_t count = v.u.dma_rw.count;

	if (v.hdr.cmd == UVFIO_CMD_DMA_WRITE) {
		r = win_copy(c, addr, (uint8_t *)v.u.dma_rw.data, count, true);
		if (r) {
			uvfio_warn(&c->log, "DMA_WRITE of %u bytes at %#llx "
					    "refused: %s",
				   count, (unsigned long long)addr, strerror(-r));
			return reply_error(tp, &v.hdr, -r);
		}
		c->dma_served += count;
		if (v.hdr.flags & UVFIO_F_NO_REPLY)
			return 0;
		uint8_t b[UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw)];
		ssize_t n = uvfio_build_dma_write_reply(b, sizeof(b), v.hdr.msg_id,
							addr, count);
		return uvfio_tp_send(tp, b, (size_t)n, NULL, 0);
	}

	/* DMA_READ.  A large one inside one window is sent from the window
	 * itself (win_release() copies what is left if it goes first). */
	size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw);
	size_t total = pre + count;
	uint8_t *src = count >= UVFIO_TP_DIRECT_MIN
			       ? win_span(c, addr, count, UVFIO_DMA_MAP_READ)
			       : NULL;
	if (src) {
		uint8_t *h = uvfio_tp_reserve(tp, pre);
		if (!h)
			return -errno;
		struct uvfio_dma_rw d = { .addr = addr, .count = count };
		uvfio_build_hdr(h, v.hdr.msg_id, v.hdr.cmd, UVFIO_F_TYPE_REPLY,
				total);
		memcpy(h + UVFIO_HDR_SIZE, &d, sizeof(d));
		uint32_t i = win_find(c, addr);
		r = uvfio_tp_commit_ext(tp, pre, src, count, c->win[i].vaddr);
		if (r != -ENOBUFS) {
			if (!r)
				c->dma_served += count;
			return r;
		}
	}
	/* Otherwise the data is copied from the windows into the reply. */
	uint8_t *p = uvfio_tp_reserve(tp, total);
	if (!p)
		return -errno;
	r = win_copy(c, addr, p + UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw),
		     count, false);
	if (r) {
		uvfio_tp_cancel(tp);
		uvfio_warn(&c->log, "DMA_READ of %u bytes at %#llx refused: %s",
			   count, (unsigned long long)addr, strerror(-r));
		return reply_error(tp, &v.hdr, -r);
	}
	struct uvfio_dma_rw d = { .addr = addr, .count = count };
	uvfio_build_hdr(p, v.hdr.msg_id, v.hdr.cmd, UVFIO_F_TYPE_REPLY, total);
	memcpy(p + UVFIO_HDR_SIZE, &d, sizeof(d));
	c->dma_served += count;
	return uvfio_tp_commit(tp, total, NULL, 0);
}
