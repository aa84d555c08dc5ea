/* SPDX-License-Identifier: MIT */
/*
 * Dirty bitmaps (internal, pure): the arithmetic of DMA logging, kept out
 * of the window table so it can be tested alone.
 *
 * A tracking bitmap counts pages of 1 << shift bytes aligned in IOVA
 * space, from page `first` (iova >> shift) on.  A report bitmap has bit n
 * for [iova + n * page, iova + (n + 1) * page) of the reported range, in
 * u64 words (bit n in word n / 64 at n % 64), as the protocol sends it.
 */
#ifndef UVFIO_MIGRATION_DIRTY_H
#define UVFIO_MIGRATION_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "dma/dma.h"

/* Sort and merge overlapping or touching ranges in place; new count. */
uint32_t dirty_ranges_normalize(struct dmat_range *r, uint32_t n);

/* Does [first, last] (bytes, inclusive) meet any of the sorted ranges? */
bool dirty_ranges_overlap(const struct dmat_range *r, uint32_t n,
			  uint64_t first, uint64_t last);

/* Set bits [from, to] (inclusive) of a bitmap. */
void dirty_bits_set(uint64_t *bm, uint64_t from, uint64_t to);

/* Words of a tracking bitmap for bytes [first, last] at 1 << shift. */
uint64_t dirty_track_words(uint64_t first, uint64_t last, uint32_t shift);

/*
 * Mark bytes [a, b] (inclusive) in the tracking bitmap bm of a window
 * whose bytes are [wfirst, wlast]; the part outside the window is ignored.
 */
void dirty_track_mark(uint64_t *bm, uint64_t wfirst, uint64_t wlast,
		      uint32_t shift, uint64_t a, uint64_t b);

/*
 * Report: for every dirty tracking page of the window [wfirst, wlast]
 * (bm NULL with all: every page is dirty) that meets the report range
 * [iova, iova + len), set the report bits (page 1 << pg_shift) the
 * overlap touches in out.  With clear, tracking pages lying wholly inside
 * the report range are cleared afterwards (partly covered ones stay dirty
 * for the next report: reported twice rather than lost).
 */
void dirty_track_report(uint64_t *bm, bool all, uint64_t wfirst,
			uint64_t wlast, uint32_t shift, uint64_t iova,
			uint64_t len, uint32_t pg_shift, uint64_t *out,
			bool clear);

#endif
