/* SPDX-License-Identifier: MIT */
/*
 * DMA windows of one client connection.
 *
 * Two AVL trees live under one mutex:
 *  - windows, keyed by iova: floor lookup answers "which window holds this
 *    address" and, with the strict successor, the overlap check on insert;
 *  - file mappings, keyed by (st_dev, st_ino), so a client that sends one
 *    fd per window (QEMU does) still costs one lookup, not a list walk.
 *
 * The tree code works on an embedded node header and is shared by both.
 * Nodes move (never their contents) on deletion, because callers hold
 * pointers to windows through struct dmat_ref.
 *
 * File growth policy: a regular file is mapped once from offset 0 to its
 * st_size at the time.  When a later window needs bytes past that mapping
 * (the file grew) or write access the mapping lacks (first fd was
 * read-only), the mapping is replaced in place if no reference into it is
 * held; otherwise the new window gets a fresh mapping that becomes the
 * current one for that file, and the old one lives on, out of the lookup,
 * until its last window is unmapped.  Waiting for references here instead
 * could block the message loop forever on a device that keeps a long-lived
 * reference into guest RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dma/dma.h"
#include "migration/dirty.h"

#define DMA_PROT_ALL (DMAT_READ | DMAT_WRITE)
#define DMA_DEFAULT_MAX_WINDOWS 65535u /* what the server advertises */
#define DMA_DEFAULT_MAX_WINDOW (1ull << 40)

/* ---- AVL tree on an embedded header --------------------------------------- */

struct avl {
	struct avl *l, *r;
	int8_t h; /* height; a tree of 2^32 nodes is < 48 high */
};

typedef int (*avl_cmp_fn)(const struct avl *a, const struct avl *b);

static inline int avl_h(const struct avl *n)
{
	return n ? n->h : 0;
}

static inline void avl_fix(struct avl *n)
{
	int l = avl_h(n->l), r = avl_h(n->r);

	n->h = (int8_t)(1 + (l > r ? l : r));
}

static struct avl *avl_rot_right(struct avl *y)
{
	struct avl *x = y->l;

	y->l = x->r;
	x->r = y;
	avl_fix(y);
	avl_fix(x);
	return x;
}

static struct avl *avl_rot_left(struct avl *x)
{
	struct avl *y = x->r;

	x->r = y->l;
	y->l = x;
	avl_fix(x);
	avl_fix(y);
	return y;
}

/* Restore the AVL invariant at n after one of its subtrees changed by 1. */
static struct avl *avl_balance(struct avl *n)
{
	int bf = avl_h(n->l) - avl_h(n->r);

	if (bf > 1) {
		if (avl_h(n->l->l) < avl_h(n->l->r))
			n->l = avl_rot_left(n->l);
		return avl_rot_right(n);
	}
	if (bf < -1) {
		if (avl_h(n->r->r) < avl_h(n->r->l))
			n->r = avl_rot_right(n->r);
		return avl_rot_left(n);
	}
	avl_fix(n);
	return n;
}

/* Keys are unique by construction (callers check first). */
static struct avl *avl_insert(struct avl *root, struct avl *n, avl_cmp_fn cmp)
{
	if (!root) {
		n->l = n->r = NULL;
		n->h = 1;
		return n;
	}
	if (cmp(n, root) < 0)
		root->l = avl_insert(root->l, n, cmp);
	else
		root->r = avl_insert(root->r, n, cmp);
	return avl_balance(root);
}

static struct avl *avl_remove_min(struct avl *n, struct avl **min)
{
	if (!n->l) {
		*min = n;
		return n->r;
	}
	n->l = avl_remove_min(n->l, min);
	return avl_balance(n);
}

/* Unlink node n (which must be in the tree); the in-order successor takes
 * its place so no other node's address changes meaning. */
static struct avl *avl_remove(struct avl *root, struct avl *n, avl_cmp_fn cmp)
{
	if (!root)
		return NULL;
	if (root == n) {
		struct avl *m, *r;

		if (!n->r)
			return n->l;
		r = avl_remove_min(n->r, &m);
		m->l = n->l;
		m->r = r;
		return avl_balance(m);
	}
	if (cmp(n, root) < 0)
		root->l = avl_remove(root->l, n, cmp);
	else
		root->r = avl_remove(root->r, n, cmp);
	return avl_balance(root);
}

static uint32_t avl_count(const struct avl *n)
{
	return n ? 1 + avl_count(n->l) + avl_count(n->r) : 0;
}

/* ---- windows and file mappings -------------------------------------------- */

struct dmat_file {
	struct avl node; /* first: the tree code casts */
	uint64_t dev, ino;
	uint64_t held;    /* references into this mapping (all its windows) */
	uint8_t *base;    /* mmap of [map_off, map_off + len) of the file */
	uint64_t map_off;
	size_t len;
	uint32_t nwin;    /* windows using this mapping */
	int fd;
	uint8_t prot;     /* UVFIO_DMA_* the mapping allows */
	/*
	 * Current: the one mapping new windows of this (dev, ino) may share;
	 * key (dev, ino, 0).  Others (superseded or per-window mappings of
	 * non-regular fds) are keyed (dev, ino, 1, address) to stay unique.
	 */
	bool current;
};

/* 56 bytes on LP64: well under the budget of 100 per window. */
struct dmat_window {
	struct avl node; /* first: the tree code casts */
	uint64_t iova;
	uint64_t size;
	uint64_t offset; /* in the file, for fd-backed windows */
	struct dmat_file *file; /* NULL: message-only */
	uint32_t refs;
	uint8_t prot;
	bool dirty_all;   /* logging, but no bitmap fitted: all dirty */
	uint32_t dirty_gen; /* logging session the bitmap belongs to */
	uint64_t *dirty;  /* tracking bitmap while logging, or NULL */
};

static void win_dirty_free(struct dmat *d, struct dmat_window *w);

#define W(n) ((struct dmat_window *)(n))
#define F(n) ((struct dmat_file *)(n))
#define N(p) ((struct avl *)(p))

static int win_cmp(const struct avl *a, const struct avl *b)
{
	return W(a)->iova < W(b)->iova ? -1 : W(a)->iova > W(b)->iova;
}

static int file_cmp(const struct avl *a, const struct avl *b)
{
	const struct dmat_file *x = F(a), *y = F(b);

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->current != y->current)
		return x->current ? -1 : 1;
	if (x->current)
		return 0;
	return (uintptr_t)x < (uintptr_t)y ? -1 : (uintptr_t)x > (uintptr_t)y;
}

/* Last byte of a window: windows may end at 2^64 - 1, so never iova + size. */
static inline uint64_t win_last(const struct dmat_window *w)
{
	return w->iova + (w->size - 1);
}

/* Window with the greatest iova <= key. */
static struct dmat_window *win_floor(struct dmat *d, uint64_t key)
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

/* Window with the smallest iova > key. */
static struct dmat_window *win_above(struct dmat *d, uint64_t key)
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

static struct dmat_file *file_current(struct dmat *d, uint64_t dev,
					   uint64_t ino)
{
	struct dmat_file key = { .dev = dev, .ino = ino, .current = true };
	struct avl *n = N(d->files);

	while (n) {
		int c = file_cmp(N(&key), n);

		if (!c)
			return F(n);
		n = c < 0 ? n->l : n->r;
	}
	return NULL;
}

static void file_insert(struct dmat *d, struct dmat_file *f)
{
	d->files = F(avl_insert(N(d->files), N(f), file_cmp));
}

static void file_remove(struct dmat *d, struct dmat_file *f)
{
	d->files = F(avl_remove(N(d->files), N(f), file_cmp));
}

/* Drop one window's use of f; the last one unmaps and closes. */
static void file_release(struct dmat *d, struct dmat_file *f)
{
	if (--f->nwin)
		return;
	file_remove(d, f);
	munmap(f->base, f->len);
	close(f->fd);
	free(f);
}

static int mmap_prot(uint32_t p)
{
	return (p & DMAT_READ ? PROT_READ : 0) |
	       (p & DMAT_WRITE ? PROT_WRITE : 0);
}

static int do_mmap(int fd, uint64_t off, uint64_t len, uint32_t prot,
		   uint8_t **base)
{
	void *p;

	if (len > SIZE_MAX || off > (uint64_t)INT64_MAX)
		return -EFBIG;
	p = mmap(NULL, (size_t)len, mmap_prot(prot), MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*base = p;
	return 0;
}

/* What the caller learned about the fd before taking the lock. */
struct fd_info {
	struct stat st;
	uint32_t prot; /* widest UVFIO_DMA_* the open mode allows */
};

/*
 * Give window w a mapping of fd.  On success *close_fd is an fd the caller
 * must close after unlocking (a duplicate), or -1.
 */
static int attach_file(struct dmat *d, struct dmat_window *w,
		       int fd, const struct fd_info *fi, int *close_fd)
{
	struct dmat_file *f, *g;
	uint64_t end = w->offset + w->size;
	int ret;

	*close_fd = -1;
	if (!S_ISREG(fi->st.st_mode)) {
		/* Not sized by st_size and maybe not mappable at offset 0:
		 * map this window alone, page-rounded. */
		uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
		uint64_t lo = w->offset & ~(pg - 1);
		uint64_t hi = (end + pg - 1) & ~(pg - 1);

		if (hi < end)
			return -EINVAL;
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		ret = do_mmap(fd, lo, hi - lo, fi->prot, &g->base);
		if (ret) {
			free(g);
			return ret;
		}
		g->map_off = lo;
		g->len = (size_t)(hi - lo);
		goto fill;
	}

	f = file_current(d, (uint64_t)fi->st.st_dev, (uint64_t)fi->st.st_ino);
	if (f && end <= f->len && !(w->prot & ~f->prot)) {
		*close_fd = fd;
		w->file = f;
		f->nwin++;
		return 0;
	}

	if (f && !f->held) {
		/* Nobody holds a pointer into the old mapping: replace it, with
		 * whichever of the two fds allows more, and keep only that one. */
		int keep = (fi->prot & DMAT_WRITE) ||
			   !(f->prot & DMAT_WRITE) ? fd : f->fd;
		uint32_t kprot = keep == fd ? fi->prot : f->prot;
		uint8_t *base = NULL;

		/* Never shorter than before: if the file shrank, old windows
		 * must still point into this mapping (SIGBUS, not stray memory). */
		uint64_t len = (uint64_t)fi->st.st_size > f->len ?
			       (uint64_t)fi->st.st_size : f->len;

		ret = do_mmap(keep, 0, len, kprot, &base);
		if (ret)
			return ret;
		munmap(f->base, f->len);
		f->base = base;
		f->len = (size_t)len;
		f->prot = (uint8_t)kprot;
		if (keep == fd) {
			*close_fd = f->fd;
			f->fd = fd;
		} else {
			*close_fd = fd;
		}
		w->file = f;
		f->nwin++;
		return 0;
	}

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	ret = do_mmap(fd, 0, (uint64_t)fi->st.st_size, fi->prot, &g->base);
	if (ret) {
		free(g);
		return ret;
	}
	g->len = (size_t)fi->st.st_size;
	if (f) {
		/* Held: the old mapping stays for its windows, out of the way. */
		file_remove(d, f);
		f->current = false;
		file_insert(d, f);
	}
	g->current = true;
fill:
	g->dev = (uint64_t)fi->st.st_dev;
	g->ino = (uint64_t)fi->st.st_ino;
	g->fd = fd;
	g->prot = (uint8_t)fi->prot;
	g->nwin = 1;
	file_insert(d, g);
	w->file = g;
	return 0;
}

static bool same_window(const struct dmat_window *w, uint64_t iova,
			uint64_t size, uint32_t prot, int fd, uint64_t offset,
			const struct fd_info *fi)
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
	struct fd_info fi = { .prot = 0 };
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
		int fl;

		/* Outside the lock: these syscalls need no shared state. */
		if (fstat(fd, &fi.st) < 0)
			return -errno;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0)
			return -errno;
		switch (fl & O_ACCMODE) {
		case O_RDWR:
			fi.prot = DMA_PROT_ALL;
			break;
		case O_RDONLY:
			fi.prot = DMAT_READ;
			break;
		default: /* a shared mapping needs read access */
			return -EACCES;
		}
		if (prot & ~fi.prot)
			return -EACCES;
		/* A device access past EOF would be SIGBUS, not an error. */
		if (S_ISREG(fi.st.st_mode) &&
		    offset + size > (uint64_t)fi.st.st_size)
			return -EINVAL;
	}

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->iova = iova;
	w->size = size;
	w->offset = offset;
	w->prot = (uint8_t)prot;

	pthread_mutex_lock(&d->lock);
	p = win_floor(d, iova);
	if (p && same_window(p, iova, size, prot, fd, offset, &fi)) {
		/* QEMU re-sends maps; libvfio-user accepts them, so do we. */
		close_fd = fd;
		goto out_free;
	}
	if (p && win_last(p) >= iova) {
		ret = -EEXIST;
		goto out_free;
	}
	p = win_above(d, iova);
	if (p && p->iova <= win_last(w)) {
		ret = -EEXIST;
		goto out_free;
	}
	if (d->n >= d->max) {
		ret = -ENOSPC;
		goto out_free;
	}
	if (fd >= 0) {
		ret = attach_file(d, w, fd, &fi, &close_fd);
		if (ret)
			goto out_free;
	}
	d->root = W(avl_insert(N(d->root), N(w), win_cmp));
	d->n++;
	w = NULL;
out_free:
	pthread_mutex_unlock(&d->lock);
	free(w);
	if (close_fd >= 0)
		close(close_fd);
	return ret;
}

/* Take w out of the tree (locked).  The lookup hint goes with it before
 * anything can wait, so no new reference can reach w through the hint. */
static void win_unlink(struct dmat *d, struct dmat_window *w)
{
	d->root = W(avl_remove(N(d->root), N(w), win_cmp));
	d->n--;
	if (d->hint == w)
		d->hint = NULL;
}

/* Called locked with w already out of the tree. */
static void win_drain(struct dmat *d, struct dmat_window *w)
{
	while (w->refs)
		pthread_cond_wait(&d->idle, &d->lock);
	if (w->file)
		file_release(d, w->file);
	win_dirty_free(d, w);
}

int dmat_unmap(struct dmat *d, uint64_t iova, uint64_t size)
{
	struct dmat_window *w;

	pthread_mutex_lock(&d->lock);
	w = win_floor(d, iova);
	if (!w || w->iova != iova || w->size != size) {
		pthread_mutex_unlock(&d->lock);
		return -ENOENT;
	}
	/* Out of the tree first: new lookups fail while we wait. */
	win_unlink(d, w);
	win_drain(d, w);
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
	win_drain(d, W(n));
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
		w = win_floor(d, iova);
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
	n = avl_count(N(d->files));
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* ---- dirty logging ------------------------------------------------------- */

/* Called locked.  Bitmaps of an earlier session count as none. */
static void win_dirty_free(struct dmat *d, struct dmat_window *w)
{
	if (w->dirty) {
		d->log_bytes -= dirty_track_words(w->iova, win_last(w),
						  d->log_shift) * 8;
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
	uint64_t bytes = dirty_track_words(w->iova, win_last(w), d->log_shift) * 8;
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
	win_dirty_free(d, W(n));
}

/* Bitmap bytes windows logged now would take. */
static uint64_t tree_dirty_need(struct dmat *d, struct avl *n)
{
	if (!n)
		return 0;
	uint64_t b = tree_dirty_need(d, n->l) + tree_dirty_need(d, n->r);
	if (win_logged(d, W(n)))
		b += dirty_track_words(W(n)->iova, win_last(W(n)), d->log_shift) * 8;
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

	if (shift >= 63)
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
	struct dmat_window *w = win_floor(d, iova);
	uint64_t covered = iova; /* first byte not yet seen in a window */
	if (!w || win_last(w) < iova)
		w = win_above(d, iova);
	while (w && w->iova <= last) {
		if (w->iova > covered)
			ret = -ENOENT;
		win_mark(d, w, iova, last);
		if (win_last(w) >= last) {
			covered = last;
			goto out;
		}
		covered = win_last(w) + 1;
		w = win_above(d, w->iova);
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
	uint64_t pages = (len >> pg_shift) + ((len & ((1ull << pg_shift) - 1)) != 0);
	memset(out, 0, (size_t)((pages + 63) / 64 * 8));

	pthread_mutex_lock(&d->lock);
	if (!d->logging) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	struct dmat_window *w = win_floor(d, iova);
	if (!w || win_last(w) < iova)
		w = win_above(d, iova);
	for (; w && w->iova <= last; w = win_above(d, w->iova))
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
	uint64_t pages = (size >> pg_shift) +
			 ((size & ((1ull << pg_shift) - 1)) != 0);
	memset(out, 0, (size_t)((pages + 63) / 64 * 8));

	pthread_mutex_lock(&d->lock);
	if (!d->logging) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	w = win_floor(d, iova);
	if (!w || w->iova != iova || w->size != size) {
		pthread_mutex_unlock(&d->lock);
		return -ENOENT;
	}
	win_unlink(d, w);
	/* Writes through references still held end (and mark) first. */
	while (w->refs)
		pthread_cond_wait(&d->idle, &d->lock);
	if (d->logging)
		win_report(d, w, iova, size, pg_shift, out);
	win_drain(d, w);
	pthread_mutex_unlock(&d->lock);
	free(w);
	return 0;
}
