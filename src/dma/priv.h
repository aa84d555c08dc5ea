/* SPDX-License-Identifier: MIT */
/*
 * Inside the DMA window table (internal to src/dma/): the tree both
 * lookups use (avl.c), the windows and their lookups (dma.c), the shared
 * file mappings (file.c) and dirty logging (logging.c).  Every function
 * here that touches a struct dmat is called with d->lock held.
 */
#ifndef UVFIO_DMA_PRIV_H
#define UVFIO_DMA_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dma/dma.h"

#define DMA_PROT_ALL (DMAT_READ | DMAT_WRITE)

/* ---- AVL tree on an embedded header (avl.c) ------------------------------- */

struct avl {
	struct avl *l, *r;
	int8_t h; /* height; a tree of 2^32 nodes is < 48 high */
};

typedef int (*avl_cmp_fn)(const struct avl *a, const struct avl *b);

/* Keys are unique by construction (callers check first). */
struct avl *dmat_avl_insert(struct avl *root, struct avl *n, avl_cmp_fn cmp);
/* Unlink node n (which must be in the tree); the in-order successor takes
 * its place so no other node's address changes meaning. */
struct avl *dmat_avl_remove(struct avl *root, struct avl *n, avl_cmp_fn cmp);
uint32_t dmat_avl_count(const struct avl *n);

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

#define W(n) ((struct dmat_window *)(n))
#define F(n) ((struct dmat_file *)(n))
#define N(p) ((struct avl *)(p))

/* Last byte of a window: windows may end at 2^64 - 1, so never iova + size. */
static inline uint64_t win_last(const struct dmat_window *w)
{
	return w->iova + (w->size - 1);
}

/* Window with the greatest iova <= key, and with the smallest iova > key
 * (dma.c). */
struct dmat_window *dmat_win_floor(struct dmat *d, uint64_t key);
struct dmat_window *dmat_win_above(struct dmat *d, uint64_t key);
/* Take w out of the tree, and wait until no reference to it is held, then
 * let go of its mapping and bitmap (dma.c). */
void dmat_win_unlink(struct dmat *d, struct dmat_window *w);
void dmat_win_drain(struct dmat *d, struct dmat_window *w);

/* What dmat_map() learned about an fd before taking the lock (file.c). */
struct dmat_fd_info {
	struct stat st;
	uint32_t prot; /* widest DMAT_* the open mode allows */
};

/* Check that fd may back a window of size bytes at offset with prot;
 * fills fi.  -EACCES, -EINVAL (past the end of a regular file) or -errno. */
int dmat_fd_probe(int fd, uint64_t offset, uint64_t size, uint32_t prot,
		  struct dmat_fd_info *fi);
/* Give window w a mapping of fd.  On success *close_fd is an fd the caller
 * must close after unlocking (a duplicate), or -1. */
int dmat_file_attach(struct dmat *d, struct dmat_window *w, int fd,
		     const struct dmat_fd_info *fi, int *close_fd);
/* Drop one window's use of f; the last one unmaps and closes. */
void dmat_file_release(struct dmat *d, struct dmat_file *f);

/* Free w's bitmap; bitmaps of an earlier session count as none
 * (logging.c). */
void dmat_win_dirty_free(struct dmat *d, struct dmat_window *w);

#endif
