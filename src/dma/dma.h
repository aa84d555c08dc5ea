/* SPDX-License-Identifier: MIT */
/*
 * DMA windows of one client connection (internal).
 *
 * A window is an IOVA range the client mapped with DMA_MAP, either backed
 * by an fd (the server maps it and the device accesses it directly) or
 * message-only (accessed with DMA_READ/DMA_WRITE).  Windows never overlap.
 *
 * Lookup is O(log n) (balanced tree keyed by IOVA), so 65535 windows cost
 * little more than one.  Windows backed by the same file (same st_dev and
 * st_ino) share one mmap of that file, made once with the widest protection
 * the fd allows, so 65535 windows of one guest-RAM memfd create one kernel
 * mapping, not 65535 (which would hit vm.max_map_count).
 *
 * Thread safety: all functions may be called from any thread.  A pointer
 * returned by dmat_get() stays valid until dmat_put(); unmapping
 * a window waits for every such reference to be put first, so a device
 * thread's in-flight access never touches unmapped memory.
 */
#ifndef UVFIO_DMA_H
#define UVFIO_DMA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMAT_READ (1u << 0)  /* the device may read (DMA_MAP READ) */
#define DMAT_WRITE (1u << 1) /* the device may write */

struct dmat_window; /* opaque, private to src/dma/ (priv.h) */
struct dmat_file;

struct dmat {
	pthread_mutex_t lock;
	pthread_cond_t idle;       /* signalled when a reference is put */
	struct dmat_window *root; /* balanced tree by iova */
	struct dmat_window *hint; /* window of the last lookup, or NULL */
	struct dmat_file *files;  /* shared mappings, by (dev, ino) */
	uint32_t n, max;
	uint64_t max_window; /* largest window accepted, bytes */
	/* Dirty logging (uvfio_dma_log_*): read unlocked as a cheap hint. */
	bool logging;
	uint32_t log_shift;  /* log2 of the tracking page size */
	uint32_t log_gen;    /* session number: stale window bitmaps differ */
	struct dmat_range *log_ranges; /* sorted, merged; NULL: all */
	uint32_t n_log_ranges;
	uint64_t log_bytes, log_max_bytes; /* bitmap memory used / allowed */
};

struct dmat_range {
	uint64_t iova, len;
};

/* What dmat_get() found for the start of a range. */
struct dmat_ref {
	struct dmat_window *w; /* internal */
	void *ptr;       /* host address of iova, NULL for message windows */
	uint64_t iova;   /* as asked */
	uint64_t len;    /* bytes available from iova within this window */
	uint32_t prot;   /* DMAT_READ/WRITE of the window */
};

int dmat_init(struct dmat *d, uint32_t max_windows);
/* Unmaps and closes everything (no references may be held). */
void dmat_fini(struct dmat *d);

/*
 * Add a window.  fd >= 0: the window is backed by fd at offset (the fd is
 * consumed on success: closed now or kept by the shared mapping; on failure
 * the caller still owns it).  fd < 0: message-only window.
 * Errors: -EINVAL (size 0, wrap, prot has unknown bits, offset + size beyond
 * the end of a regular file or memfd), -EEXIST (overlaps a window; an
 * identical re-map of the same range, file, offset and prot returns 0 and
 * consumes the fd), -ENOSPC (max windows reached), -E2BIG (size above
 * max_window), -errno from fstat/mmap.
 */
int dmat_map(struct dmat *d, uint64_t iova, uint64_t size,
		  uint32_t prot, int fd, uint64_t offset);

/*
 * Remove the window that is exactly [iova, iova + size): -ENOENT if no
 * window matches exactly.  Waits until no reference to it is held; the
 * memory is unmapped (when the file's last window goes) before returning.
 */
int dmat_unmap(struct dmat *d, uint64_t iova, uint64_t size);
/* Remove every window (same waiting rule).  Returns how many. */
int dmat_unmap_all(struct dmat *d);

/*
 * Find the window holding iova and take a reference on it.  The access
 * must need only rights in prot (READ to read guest memory, WRITE to
 * write it).  Returns 0 and fills ref; -ENOENT if iova is in no window;
 * -EACCES if the window lacks the rights.  The window may end before
 * iova + want: ref->len says how much of it is available.
 */
int dmat_get(struct dmat *d, uint64_t iova, uint64_t want,
		  uint32_t prot, struct dmat_ref *ref);
void dmat_put(struct dmat *d, struct dmat_ref *ref);

/* One piece of a range inside a single window (dmat_split()). */
struct dmat_seg {
	uint64_t iova, len;
	bool mappable; /* fd-backed: dmat_get() gives a host address */
};
typedef void (*dmat_seg_fn)(void *opaque, int index,
			    const struct dmat_seg *seg);

/*
 * Cut [iova, iova + len) (len > 0, no wrap) at window boundaries, for an
 * access needing prot.  Returns how many pieces the whole range has, and
 * calls fn (under the table lock: it must not call back into the table)
 * for the first min(that, max) of them; or returns -ENOENT (part of the
 * range in no window), -EACCES (a window lacks a right in prot) or
 * -EINVAL, and then fn was not called.  One snapshot of the table; no
 * reference is taken.
 */
int dmat_split(struct dmat *d, uint64_t iova, uint64_t len, uint32_t prot,
	       size_t max, dmat_seg_fn fn, void *opaque);

/*
 * Dirty logging.  Each window that overlaps a logged range gets a bitmap,
 * one bit per tracking page (1 << shift bytes, aligned in IOVA space),
 * created at start for existing windows and on first write for later
 * ones.  Memory for all bitmaps together stays under max_bytes: start
 * fails with -E2BIG when existing windows would exceed it; a later window
 * that does not fit is reported all dirty instead (never clean by mistake).
 * ranges: n sorted or not, overlapping or not; n == 0 logs everything.
 * Returns 0, -EBUSY (already logging), -EINVAL, -E2BIG or -ENOMEM.
 */
int dmat_log_start(struct dmat *d, uint32_t shift,
			const struct dmat_range *ranges, uint32_t n,
			uint64_t max_bytes);
/* Stop and free every bitmap.  Harmless when not logging. */
void dmat_log_stop(struct dmat *d);
/* Mark [iova, iova + len) written.  0, or -ENOENT if part of it lies in no
 * window (the rest is marked).  Cheap when not logging. */
int dmat_mark_dirty(struct dmat *d, uint64_t iova, uint64_t len);
/* The same through a reference held on the window (a write just done
 * through ref->ptr), which finds the window even while an unmap waits. */
void dmat_ref_mark_dirty(struct dmat *d,
			      const struct dmat_ref *ref, uint64_t iova,
			      uint64_t len);
/*
 * Bitmap of [iova, iova + len) at 1 << pg_shift bytes per bit into out
 * (uvfio_bitmap_bytes(len, 1 << pg_shift) bytes, zeroed here), and clear
 * the tracking pages wholly inside the range.  Bit n covers
 * [iova + n * page, iova + (n + 1) * page).  -EINVAL when not logging.
 */
int dmat_log_report(struct dmat *d, uint64_t iova, uint64_t len,
			 uint32_t pg_shift, uint64_t *out);
/* Unmap the window that is exactly [iova, iova + size), like
 * dmat_unmap(), and give its bitmap (as dmat_log_report) once
 * no reference is held any more, so no write is missed. */
int dmat_unmap_dirty(struct dmat *d, uint64_t iova, uint64_t size,
			  uint32_t pg_shift, uint64_t *out);

/* Number of windows, and of distinct file mappings (for tests). */
uint32_t dmat_count(struct dmat *d);
uint32_t dmat_file_count(struct dmat *d);

#endif
