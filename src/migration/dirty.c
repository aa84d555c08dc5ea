/* SPDX-License-Identifier: MIT */
/*
 * Dirty bitmap arithmetic.  Everything works on inclusive last bytes so a
 * window or range may end at 2^64 - 1 without overflow.
 */
#include <stdlib.h>

#include "migration/dirty.h"

static int range_cmp(const void *a, const void *b)
{
	const struct dmat_range *x = a, *y = b;
	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

uint32_t dirty_ranges_normalize(struct dmat_range *r, uint32_t n)
{
	if (n < 2)
		return n;
	qsort(r, n, sizeof(*r), range_cmp);
	uint32_t out = 0;
	for (uint32_t i = 1; i < n; i++) {
		uint64_t last = r[out].iova + (r[out].len - 1);
		if (r[i].iova <= last || r[i].iova - 1 == last) {
			uint64_t il = r[i].iova + (r[i].len - 1);
			if (il > last)
				r[out].len = il - r[out].iova + 1;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

bool dirty_ranges_overlap(const struct dmat_range *r, uint32_t n,
			  uint64_t first, uint64_t last)
{
	/* Binary search for the last range starting at or before last. */
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r[mid].iova <= last)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	const struct dmat_range *c = &r[lo - 1];
	return c->iova + (c->len - 1) >= first;
}

void dirty_bits_set(uint64_t *bm, uint64_t from, uint64_t to)
{
	uint64_t wf = from / 64, wt = to / 64;
	uint64_t mf = ~0ull << (from % 64);
	uint64_t mt = ~0ull >> (63 - to % 64);

	if (wf == wt) {
		bm[wf] |= mf & mt;
		return;
	}
	bm[wf] |= mf;
	for (uint64_t w = wf + 1; w < wt; w++)
		bm[w] = ~0ull;
	bm[wt] |= mt;
}

static void bits_clear(uint64_t *bm, uint64_t from, uint64_t to)
{
	uint64_t wf = from / 64, wt = to / 64;
	uint64_t mf = ~0ull << (from % 64);
	uint64_t mt = ~0ull >> (63 - to % 64);

	if (wf == wt) {
		bm[wf] &= ~(mf & mt);
		return;
	}
	bm[wf] &= ~mf;
	for (uint64_t w = wf + 1; w < wt; w++)
		bm[w] = 0;
	bm[wt] &= ~mt;
}

uint64_t dirty_track_words(uint64_t first, uint64_t last, uint32_t shift)
{
	uint64_t pages = (last >> shift) - (first >> shift) + 1;
	return pages / 64 + (pages % 64 != 0);
}

void dirty_track_mark(uint64_t *bm, uint64_t wfirst, uint64_t wlast,
		      uint32_t shift, uint64_t a, uint64_t b)
{
	if (b < wfirst || a > wlast)
		return;
	if (a < wfirst)
		a = wfirst;
	if (b > wlast)
		b = wlast;
	uint64_t base = wfirst >> shift;
	dirty_bits_set(bm, (a >> shift) - base, (b >> shift) - base);
}

/* Report bits for bytes [a, b], already inside the report range. */
static void emit(uint64_t *out, uint64_t iova, uint32_t pg_shift, uint64_t a,
		 uint64_t b)
{
	dirty_bits_set(out, (a - iova) >> pg_shift, (b - iova) >> pg_shift);
}

void dirty_track_report(uint64_t *bm, bool all, uint64_t wfirst,
			uint64_t wlast, uint32_t shift, uint64_t iova,
			uint64_t len, uint32_t pg_shift, uint64_t *out,
			bool clear)
{
	uint64_t rlast = iova + (len - 1);
	uint64_t lo = wfirst > iova ? wfirst : iova;
	uint64_t hi = wlast < rlast ? wlast : rlast;
	if (lo > hi)
		return;
	if (all) {
		emit(out, iova, pg_shift, lo, hi);
		return;
	}
	if (!bm)
		return;

	uint64_t base = wfirst >> shift;
	uint64_t p = (lo >> shift) - base, pend = (hi >> shift) - base;
	while (p <= pend) {
		uint64_t w = bm[p / 64] >> (p % 64);
		if (!w) {
			/* Skip the rest of a clean word. */
			p = (p / 64 + 1) * 64;
			continue;
		}
		p += (uint64_t)__builtin_ctzll(w);
		if (p > pend)
			break;
		/* A run of dirty pages [p, q). */
		uint64_t q = p;
		while (q <= pend && (bm[q / 64] >> (q % 64)) & 1)
			q++;
		uint64_t a = (base + p) << shift, b = ((base + q) << shift) - 1;
		emit(out, iova, pg_shift, a < lo ? lo : a, b > hi ? hi : b);
		if (clear) {
			/* Only pages wholly inside the report range. */
			uint64_t cf = p, ct = q - 1;
			if (a < iova)
				cf++;
			if (b > rlast)
				ct--;
			if (cf <= ct && ct != UINT64_MAX)
				bits_clear(bm, cf, ct);
		}
		p = q;
	}
}
