/* SPDX-License-Identifier: MIT */
/*
 * Dirty logging on the DMA windows: each logged window gets a tracking
 * bitmap (migration/dirty.c does the arithmetic), created at start for the
 * windows that exist and on first write for later ones, within a memory
 * budget past which a window is reported all dirty.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/codec.h>

#include "dma/priv.h"
#include "migration/dirty.h"

/* Tracking pages are at most 2^62 bytes: shift stays below this. */
#define LOG_SHIFT_LIMIT 63u

/* Bytes of w's tracking bitmap at this session's page size. */
static uint64_t track_bytes(const struct dmat *d, const struct dmat_window *w)
{
	return dirty_track_words(w->iova, win_last(w), d->log_shift) *
	       sizeof(uint64_t);
}

void dmat_win_dirty_free(struct dmat *d, struct dmat_window *w)
{
	if (w->dirty) {
		d->log_bytes -= track_bytes(d, w);
		free(w->dirty);
		w->dirty = NULL;
	}
	w->dirty_all = false;
}

static bool win_logged(struct dmat *d, struct dmat_window *w)
{
	return !d->n_log_ranges ||
	       dirty_ranges_overlap(d->log_ranges, d->n_log_ranges, w->iova,
				    win_last(w));
}

/* Called locked while logging: the bitmap of w for this session, created
 * if needed; NULL when w is not logged or is reported all dirty. */
static uint64_t *win_bitmap(struct dmat *d, struct dmat_window *w)
{
	if (w->dirty_gen == d->log_gen)
		return w->dirty;
	w->dirty_gen = d->log_gen;
	if (!win_logged(d, w))
		return NULL;
	uint64_t bytes = track_bytes(d, w);
	if (bytes > d->log_max_bytes - d->log_bytes || bytes > SIZE_MAX ||
	    !(w->dirty = calloc(1, (size_t)bytes))) {
		w->dirty_all = true;
		return NULL;
	}
	d->log_bytes += bytes;
	return w->dirty;
}

static void tree_dirty_free(struct dmat *d, struct avl *n)
{
	if (!n)
		return;
	tree_dirty_free(d, n->l);
	tree_dirty_free(d, n->r);
	dmat_win_dirty_free(d, W(n));
}

/* Bitmap bytes windows logged now would take. */
static uint64_t tree_dirty_need(struct dmat *d, struct avl *n)
{
	if (!n)
		return 0;
	uint64_t b = tree_dirty_need(d, n->l) + tree_dirty_need(d, n->r);
	if (win_logged(d, W(n)))
		b += track_bytes(d, W(n));
	return b;
}

static bool tree_dirty_alloc(struct dmat *d, struct avl *n)
{
	if (!n)
		return true;
	if (!tree_dirty_alloc(d, n->l) || !tree_dirty_alloc(d, n->r))
		return false;
	win_bitmap(d, W(n));
	return !W(n)->dirty_all;
}

int dmat_log_start(struct dmat *d, uint32_t shift,
			const struct dmat_range *ranges, uint32_t n,
			uint64_t max_bytes)
{
	struct dmat_range *r = NULL;

	if (shift >= LOG_SHIFT_LIMIT)
		return -EINVAL;
	if (n) {
		r = malloc(n * sizeof(*r));
		if (!r)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			if (!ranges[i].len) {
				free(r);
				return -EINVAL;
			}
			r[i] = ranges[i];
		}
		n = dirty_ranges_normalize(r, n);
	}
	pthread_mutex_lock(&d->lock);
	if (d->logging) {
		pthread_mutex_unlock(&d->lock);
		free(r);
		return -EBUSY;
	}
	tree_dirty_free(d, N(d->root)); /* nothing should be left; be sure */
	d->log_shift = shift;
	d->log_ranges = r;
	d->n_log_ranges = n;
	d->log_max_bytes = max_bytes;
	d->log_gen++;
	int ret = 0;
	if (tree_dirty_need(d, N(d->root)) > max_bytes)
		ret = -E2BIG;
	else if (!tree_dirty_alloc(d, N(d->root)))
		ret = -ENOMEM;
	if (ret) {
		tree_dirty_free(d, N(d->root));
		d->log_ranges = NULL;
		d->n_log_ranges = 0;
		d->log_gen++;
		free(r);
	} else {
		__atomic_store_n(&d->logging, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void dmat_log_stop(struct dmat *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->logging) {
		__atomic_store_n(&d->logging, false, __ATOMIC_RELEASE);
		tree_dirty_free(d, N(d->root));
		free(d->log_ranges);
		d->log_ranges = NULL;
		d->n_log_ranges = 0;
		d->log_gen++;
	}
	pthread_mutex_unlock(&d->lock);
}

/* Called locked while logging. */
static void win_mark(struct dmat *d, struct dmat_window *w,
		     uint64_t a, uint64_t b)
{
	uint64_t *bm = win_bitmap(d, w);
	if (bm)
		dirty_track_mark(bm, w->iova, win_last(w), d->log_shift, a, b);
}

int dmat_mark_dirty(struct dmat *d, uint64_t iova, uint64_t len)
{
	if (!len || !__atomic_load_n(&d->logging, __ATOMIC_ACQUIRE))
		return 0;
	uint64_t last = len - 1 > UINT64_MAX - iova ? UINT64_MAX : iova + (len - 1);
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	if (!d->logging)
		goto out;
	struct dmat_window *w = dmat_win_floor(d, iova);
	uint64_t covered = iova; /* first byte not yet seen in a window */
	if (!w || win_last(w) < iova)
		w = dmat_win_above(d, iova);
	while (w && w->iova <= last) {
		if (w->iova > covered)
			ret = -ENOENT;
		win_mark(d, w, iova, last);
		if (win_last(w) >= last)
			goto out;
		covered = win_last(w) + 1;
		w = dmat_win_above(d, w->iova);
	}
	ret = -ENOENT;
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void dmat_ref_mark_dirty(struct dmat *d,
			      const struct dmat_ref *ref, uint64_t iova,
			      uint64_t len)
{
	if (!len || !ref->w || !__atomic_load_n(&d->logging, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&d->lock);
	if (d->logging)
		win_mark(d, ref->w, iova,
			 len - 1 > UINT64_MAX - iova ? UINT64_MAX
						     : iova + (len - 1));
	pthread_mutex_unlock(&d->lock);
}

/* Called locked while logging. */
static void win_report(struct dmat *d, struct dmat_window *w,
		       uint64_t iova, uint64_t len, uint32_t pg_shift,
		       uint64_t *out)
{
	if (w->dirty_gen != d->log_gen)
		return; /* never written this session */
	dirty_track_report(w->dirty, w->dirty_all, w->iova, win_last(w),
			   d->log_shift, iova, len, pg_shift, out, true);
}

int dmat_log_report(struct dmat *d, uint64_t iova, uint64_t len,
			 uint32_t pg_shift, uint64_t *out)
{
	if (!len || pg_shift >= 64 || len - 1 > UINT64_MAX - iova)
		return -EINVAL;
	uint64_t last = iova + (len - 1);
	memset(out, 0, (size_t)uvfio_bitmap_bytes(len, 1ull << pg_shift));

	pthread_mutex_lock(&d->lock);
	if (!d->logging) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	struct dmat_window *w = dmat_win_floor(d, iova);
	if (!w || win_last(w) < iova)
		w = dmat_win_above(d, iova);
	for (; w && w->iova <= last; w = dmat_win_above(d, w->iova))
		win_report(d, w, iova, len, pg_shift, out);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int dmat_unmap_dirty(struct dmat *d, uint64_t iova, uint64_t size,
			  uint32_t pg_shift, uint64_t *out)
{
	struct dmat_window *w;

	if (!size || pg_shift >= 64 || size - 1 > UINT64_MAX - iova)
		return -EINVAL;
	memset(out, 0, (size_t)uvfio_bitmap_bytes(size, 1ull << pg_shift));

	pthread_mutex_lock(&d->lock);
	if (!d->logging) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	w = dmat_win_floor(d, iova);
	if (!w || w->iova != iova || w->size != size) {
		pthread_mutex_unlock(&d->lock);
		return -ENOENT;
	}
	dmat_win_unlink(d, w);
	/* Writes through references still held end (and mark) first. */
	while (w->refs)
		pthread_cond_wait(&d->idle, &d->lock);
	if (d->logging)
		win_report(d, w, iova, size, pg_shift, out);
	dmat_win_drain(d, w);
	pthread_mutex_unlock(&d->lock);
	free(w);
	return 0;
}
