/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy DMA for the device: scatter-gather entries over the client's
 * windows, mapped to host addresses through references on the window
 * table (src/dma/), which DMA_UNMAP and disconnect wait for.
 *
 * An entry is only a description until mapped; mapping looks the window
 * up again, so an entry made before the client remapped its memory can
 * never reach memory that is no longer the window's.  While mapped, the
 * entry's priv holds the window (as a struct dmat_ref's w): the window is
 * out of the lookup tree as soon as an unmap starts, so only that pointer
 * still finds it to mark dirty pages and drop the reference.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>

#include "priv.h"

/* Callers allocate arrays of it from their own header: its size is ABI. */
_Static_assert(sizeof(struct uvfio_dma_sg) == 32,
	      "struct uvfio_dma_sg is 32 bytes in every version");

#define SG_PROT_ALL (UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)

static uint32_t to_dmat_prot(uint32_t prot)
{
	return ((prot & UVFIO_DMA_MAP_READ) ? DMAT_READ : 0) |
	       ((prot & UVFIO_DMA_MAP_WRITE) ? DMAT_WRITE : 0);
}

static struct dmat_ref sg_ref(const struct uvfio_dma_sg *e)
{
	return (struct dmat_ref){
		.w = (struct dmat_window *)(uintptr_t)e->priv,
		.iova = e->iova,
		.len = e->len,
	};
}

struct fill {
	struct uvfio_dma_sg *sg;
	uint32_t prot;
};

static void fill_one(void *opaque, int i, const struct dmat_seg *seg)
{
	struct fill *f = opaque;
	f->sg[i] = (struct uvfio_dma_sg){
		.iova = seg->iova, .len = seg->len, .prot = f->prot,
		.flags = seg->mappable ? UVFIO_DMA_SG_MAPPABLE : 0,
	};
}

int uvfio_server_dma_addr_to_sg(struct uvfio_server *s, uint64_t iova,
				uint64_t len, uint32_t prot,
				struct uvfio_dma_sg *sg, size_t max)
{
	if (!prot || (prot & ~SG_PROT_ALL) || (max && !sg))
		return -EINVAL;
	struct fill f = { .sg = sg, .prot = prot };
	return dmat_split(&s->dma, iova, len, to_dmat_prot(prot), max, fill_one,
			  &f);
}

/* Drop the references of the first n entries (mapped ones only). */
static void put_entries(struct uvfio_server *s, struct uvfio_dma_sg *sg,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!sg[i].priv)
			continue;
		struct dmat_ref ref = sg_ref(&sg[i]);
		dmat_put(&s->dma, &ref);
		sg[i].priv = 0;
	}
}

/* Take the window of one entry: 0, or -errno with nothing held. */
static int map_entry(struct uvfio_server *s, struct uvfio_dma_sg *e,
		     struct iovec *iov)
{
	if (!e->len || !e->prot || (e->prot & ~SG_PROT_ALL) ||
	    e->len > SIZE_MAX || e->len - 1 > UINT64_MAX - e->iova)
		return -EINVAL;
	if (e->priv)
		return -EBUSY;
	struct dmat_ref ref;
	int r = dmat_get(&s->dma, e->iova, e->len, to_dmat_prot(e->prot),
			 &ref);
	if (r)
		return r;
	/* The window that holds the start must hold the whole entry: the
	 * client may have unmapped and remapped smaller since it was made. */
	if (ref.len < e->len)
		r = -ENOENT;
	else if (!ref.ptr)
		r = -EFAULT;
	if (r) {
		dmat_put(&s->dma, &ref);
		return r;
	}
	e->priv = (uint64_t)(uintptr_t)ref.w;
	iov->iov_base = ref.ptr;
	iov->iov_len = (size_t)e->len;
	return 0;
}

int uvfio_server_dma_sg_map(struct uvfio_server *s, struct uvfio_dma_sg *sg,
			    size_t n, struct iovec *iov)
{
	if (n && (!sg || !iov))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r = map_entry(s, &sg[i], &iov[i]);
		if (r) {
			/* All or nothing, so a caller falling back to
			 * messages has no references to account for. */
			put_entries(s, sg, i);
			return r;
		}
	}
	return 0;
}

void uvfio_server_dma_sg_unmap(struct uvfio_server *s,
			       struct uvfio_dma_sg *sg, size_t n, bool written)
{
	if (!sg)
		return;
	/* Marked while the reference still holds the window: an unmap that
	 * reports the window's bitmap waits for the put, so it sees these. */
	if (written)
		uvfio_server_dma_sg_mark_dirty(s, sg, n);
	put_entries(s, sg, n);
}

void uvfio_server_dma_sg_mark_dirty(struct uvfio_server *s,
				    const struct uvfio_dma_sg *sg, size_t n)
{
	if (!sg || !uvfio_server_dma_logging(s))
		return;
	for (size_t i = 0; i < n; i++) {
		if (sg[i].priv) {
			struct dmat_ref ref = sg_ref(&sg[i]);
			dmat_ref_mark_dirty(&s->dma, &ref, sg[i].iova,
					    sg[i].len);
		} else {
			/* Not held: the window may be gone, and then there
			 * is nothing left to mark. */
			(void)dmat_mark_dirty(&s->dma, sg[i].iova, sg[i].len);
		}
	}
}

/* Every entry lies in windows with its rights, before anything moves. */
static int check_entries(struct uvfio_server *s, const struct uvfio_dma_sg *sg,
			 size_t n, bool is_write, size_t *total)
{
	uint32_t need = is_write ? UVFIO_DMA_MAP_WRITE : UVFIO_DMA_MAP_READ;
	*total = 0;
	for (size_t i = 0; i < n; i++) {
		if (sg[i].len > SIZE_MAX - *total)
			return -EINVAL;
		int r = uvfio_server_dma_addr_to_sg(s, sg[i].iova, sg[i].len,
						    need, NULL, 0);
		if (r < 0)
			return r;
		*total += (size_t)sg[i].len;
	}
	return 0;
}

static int sg_copy(struct uvfio_server *s, const struct uvfio_dma_sg *sg,
		   size_t n, uint8_t *buf, bool is_write)
{
	size_t total;
	if (n && (!sg || !buf))
		return -EINVAL;
	int r = check_entries(s, sg, n, is_write, &total);
	for (size_t i = 0; i < n && !r; i++) {
		r = is_write ? uvfio_server_dma_write(s, sg[i].iova, buf,
						      (size_t)sg[i].len)
			     : uvfio_server_dma_read(s, sg[i].iova, buf,
						     (size_t)sg[i].len);
		buf += sg[i].len;
	}
	return r;
}

int uvfio_server_dma_sg_read(struct uvfio_server *s,
			     const struct uvfio_dma_sg *sg, size_t n, void *buf)
{
	return sg_copy(s, sg, n, buf, false);
}

int uvfio_server_dma_sg_write(struct uvfio_server *s,
			      const struct uvfio_dma_sg *sg, size_t n,
			      const void *buf)
{
	return sg_copy(s, sg, n, (void *)buf, true);
}
