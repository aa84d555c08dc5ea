/* SPDX-License-Identifier: MIT */
/*
 * DMA windows of one client connection.
 *
 * Two AVL trees (avl.c) live under one mutex:
 *  - windows, keyed by iova: floor lookup answers "which window holds this
 *    address" and, with the strict successor, the overlap check on insert;
 *  - file mappings, keyed by (st_dev, st_ino) (file.c).
 * Dirty logging, on the same windows, is in logging.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma/priv.h"

#define DMA_DEFAULT_MAX_WINDOWS 65535u /* what the server advertises */
#define DMA_DEFAULT_MAX_WINDOW (1ull << 40)

static int win_cmp(const struct avl *a, const struct avl *b)
{
	return W(a)->iova < W(b)->iova ? -1 : W(a)->iova > W(b)->iova;
}

struct dmat_window *dmat_win_floor(struct dmat *d, uint64_t key)
{
	struct dmat_window *n = d->root, *best = NULL;

	while (n) {
		if (n->iova <= key) {
			best = n;
			n = W(n->node.r);
		} else {
			n = W(n->node.l);
		}
	}
	return best;
}

struct dmat_window *dmat_win_above(struct dmat *d, uint64_t key)
{
	struct dmat_window *n = d->root, *best = NULL;

	while (n) {
		if (n->iova > key) {
			best = n;
			n = W(n->node.l);
		} else {
			n = W(n->node.r);
		}
	}
	return best;
}

static bool same_window(const struct dmat_window *w, uint64_t iova,
			uint64_t size, uint32_t prot, int fd, uint64_t offset,
			const struct dmat_fd_info *fi)
{
	if (w->iova != iova || w->size != size || w->prot != prot)
		return false;
	if (fd < 0)
		return !w->file;
	return w->file && w->offset == offset &&
	       w->file->dev == (uint64_t)fi->st.st_dev &&
	       w->file->ino == (uint64_t)fi->st.st_ino;
}

int dmat_init(struct dmat *d, uint32_t max_windows)
{
	int ret;

	memset(d, 0, sizeof(*d));
	ret = pthread_mutex_init(&d->lock, NULL);
	if (ret)
		return -ret;
	ret = pthread_cond_init(&d->idle, NULL);
	if (ret) {
		pthread_mutex_destroy(&d->lock);
		return -ret;
	}
	d->max = max_windows ? max_windows : DMA_DEFAULT_MAX_WINDOWS;
	d->max_window = DMA_DEFAULT_MAX_WINDOW;
	return 0;
}

void dmat_fini(struct dmat *d)
{
	dmat_unmap_all(d);
	pthread_cond_destroy(&d->idle);
	pthread_mutex_destroy(&d->lock);
}

int dmat_map(struct dmat *d, uint64_t iova, uint64_t size,
		  uint32_t prot, int fd, uint64_t offset)
{
	struct dmat_window *w, *p;
	struct dmat_fd_info fi = { .prot = 0 };
	int ret = 0, close_fd = -1;

	if (!size || (prot & ~DMA_PROT_ALL) || size - 1 > UINT64_MAX - iova)
		return -EINVAL;
	if (fd < 0)
		offset = 0;
	else if (size > UINT64_MAX - offset)
		return -EINVAL;
	if (size > d->max_window)
		return -E2BIG;

	if (fd >= 0) {
		/* Outside the lock: these syscalls need no shared state. */
		ret = dmat_fd_probe(fd, offset, size, prot, &fi);
		if (ret)
			return ret;
	}

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->iova = iova;
	w->size = size;
	w->offset = offset;
	w->prot = (uint8_t)prot;

	pthread_mutex_lock(&d->lock);
	p = dmat_win_floor(d, iova);
	if (p && same_window(p, iova, size, prot, fd, offset, &fi)) {
		/* QEMU re-sends maps; libvfio-user accepts them, so do we. */
		close_fd = fd;
		goto out_free;
	}
	if (p && win_last(p) >= iova) {
		ret = -EEXIST;
		goto out_free;
	}
	p = dmat_win_above(d, iova);
	if (p && p->iova <= win_last(w)) {
		ret = -EEXIST;
		goto out_free;
	}
	if (d->n >= d->max) {
		ret = -ENOSPC;
		goto out_free;
	}
	if (fd >= 0) {
		ret = dmat_file_attach(d, w, fd, &fi, &close_fd);
		if (ret)
			goto out_free;
	}
	d->root = W(dmat_avl_insert(N(d->root), N(w), win_cmp));
	d->n++;
	w = NULL;
out_free:
	pthread_mutex_unlock(&d->lock);
	free(w);
	if (close_fd >= 0)
		close(close_fd);
	return ret;
}

/* The lookup hint goes with w before anything can wait, so no new
 * reference can reach w through the hint. */
void dmat_win_unlink(struct dmat *d, struct dmat_window *w)
{
	d->root = W(dmat_avl_remove(N(d->root), N(w), win_cmp));
	d->n--;
	if (d->hint == w)
		d->hint = NULL;
}

/* w is out of the tree already: no new reference can come. */
void dmat_win_drain(struct dmat *d, struct dmat_window *w)
{
	while (w->refs)
		pthread_cond_wait(&d->idle, &d->lock);
	if (w->file)
		dmat_file_release(d, w->file);
	dmat_win_dirty_free(d, w);
}

int dmat_unmap(struct dmat *d, uint64_t iova, uint64_t size)
{
	struct dmat_window *w;

	pthread_mutex_lock(&d->lock);
	w = dmat_win_floor(d, iova);
	if (!w || w->iova != iova || w->size != size) {
		pthread_mutex_unlock(&d->lock);
		return -ENOENT;
	}
	/* Out of the tree first: new lookups fail while we wait. */
	dmat_win_unlink(d, w);
	dmat_win_drain(d, w);
	pthread_mutex_unlock(&d->lock);
	free(w);
	return 0;
}

/* Post-order so each node is freed after its children were read. */
static void drain_tree(struct dmat *d, struct avl *n)
{
	if (!n)
		return;
	drain_tree(d, n->l);
	drain_tree(d, n->r);
	dmat_win_drain(d, W(n));
	free(n);
}

int dmat_unmap_all(struct dmat *d)
{
	struct avl *root;
	int n;

	pthread_mutex_lock(&d->lock);
	root = N(d->root);
	n = (int)d->n;
	d->root = NULL;
	d->n = 0;
	d->hint = NULL;
	drain_tree(d, root);
	pthread_mutex_unlock(&d->lock);
	return n;
}

int dmat_get(struct dmat *d, uint64_t iova, uint64_t want,
		  uint32_t prot, struct dmat_ref *ref)
{
	struct dmat_window *w;
	struct dmat_file *f;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	/* Devices stream through one window at a time: try the window of the
	 * last lookup before walking the tree. */
	w = d->hint;
	if (!w || iova < w->iova || iova > win_last(w)) {
		w = dmat_win_floor(d, iova);
		if (!w || iova > win_last(w)) {
			ret = -ENOENT;
			goto out;
		}
		d->hint = w;
	}
	if (prot & ~(uint32_t)w->prot) {
		ret = -EACCES;
		goto out;
	}
	if (w->refs == UINT32_MAX) {
		ret = -EAGAIN;
		goto out;
	}
	w->refs++;
	f = w->file;
	ref->w = w;
	ref->iova = iova;
	ref->len = w->size - (iova - w->iova);
	ref->prot = w->prot;
	ref->ptr = NULL;
	if (f) {
		f->held++;
		ref->ptr = f->base + (w->offset - f->map_off) + (iova - w->iova);
	}
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void dmat_put(struct dmat *d, struct dmat_ref *ref)
{
	struct dmat_window *w = ref->w;

	if (!w)
		return;
	pthread_mutex_lock(&d->lock);
	if (w->file)
		w->file->held--;
	/* Only the last reference matters to a waiting unmap. */
	if (!--w->refs)
		pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
	ref->w = NULL;
	ref->ptr = NULL;
}

/* Called locked.  max 0: check and count only. */
static int split_walk(struct dmat *d, uint64_t iova, uint64_t len,
		      uint32_t prot, size_t max, dmat_seg_fn fn, void *opaque)
{
	uint64_t done = 0;
	int count = 0;

	while (done < len) {
		uint64_t at = iova + done;
		struct dmat_window *w = dmat_win_floor(d, at);
		if (!w || at > win_last(w))
			return -ENOENT;
		if (prot & ~(uint32_t)w->prot)
			return -EACCES;
		uint64_t avail = w->size - (at - w->iova);
		struct dmat_seg seg = {
			.iova = at,
			.len = avail < len - done ? avail : len - done,
			.mappable = w->file != NULL,
		};
		if ((size_t)count < max)
			fn(opaque, count, &seg);
		/* The table may hold more windows than an int counts. */
		if (count == INT32_MAX)
			return -E2BIG;
		count++;
		done += seg.len;
	}
	return count;
}

int dmat_split(struct dmat *d, uint64_t iova, uint64_t len, uint32_t prot,
	       size_t max, dmat_seg_fn fn, void *opaque)
{
	int r;

	if (!len || len - 1 > UINT64_MAX - iova || (max && !fn))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	/* Checked whole before fn sees a piece: a caller's entries are never
	 * left half-filled by a range that fails. */
	r = split_walk(d, iova, len, prot, 0, NULL, NULL);
	if (r > 0 && max)
		r = split_walk(d, iova, len, prot, max, fn, opaque);
	pthread_mutex_unlock(&d->lock);
	return r;
}

uint32_t dmat_count(struct dmat *d)
{
	uint32_t n;

	pthread_mutex_lock(&d->lock);
	n = d->n;
	pthread_mutex_unlock(&d->lock);
	return n;
}

uint32_t dmat_file_count(struct dmat *d)
{
	uint32_t n;

	pthread_mutex_lock(&d->lock);
	n = dmat_avl_count(N(d->files));
	pthread_mutex_unlock(&d->lock);
	return n;
}

