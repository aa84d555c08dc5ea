/* SPDX-License-Identifier: MIT */
/*
 * DMA: the register/unregister callbacks with their vfu_dma_info_t, and
 * the sgl calls, which are the native scatter-gather calls (dma_sg_t is
 * struct uvfio_dma_sg) with libvfio-user's errno conventions.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "priv.h"

size_t dma_sg_size(void)
{
	return sizeof(struct dma_sg);
}

int vfu_setup_device_dma(vfu_ctx_t *ctx, vfu_dma_register_cb_t *dma_register,
			 vfu_dma_unregister_cb_t *dma_unregister)
{
	if (lvu_check_setup(ctx))
		return -1;
	ctx->dma_setup = true;
	ctx->dma_register = dma_register;
	ctx->dma_unregister = dma_unregister;
	return 0;
}

/* ---- windows ------------------------------------------------------------------ */

static int win_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct lvu_window *)a)->info.iova.iov_base;
	uintptr_t y = (uintptr_t)((const struct lvu_window *)b)->info.iova.iov_base;
	return x < y ? -1 : x > y;
}

/* Where the native library mapped a window, if it did: a one-entry map
 * and release tells us without holding a reference. */
static void *window_vaddr(vfu_ctx_t *ctx, uint64_t iova, uint64_t size,
			  uint32_t prot)
{
	struct uvfio_dma_sg sg;
	struct iovec iov;
	uint32_t p = prot & (UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE);
	if (uvfio_server_dma_addr_to_sg(ctx->srv, iova, size, p ? p
						 : UVFIO_DMA_MAP_READ, &sg, 1) != 1 ||
	    uvfio_server_dma_sg_map(ctx->srv, &sg, 1, &iov))
		return NULL;
	uvfio_server_dma_sg_unmap(ctx->srv, &sg, 1, false);
	return iov.iov_base;
}

void lvu_op_dma_map(void *o, uint64_t iova, uint64_t size, uint32_t prot)
{
	vfu_ctx_t *ctx = o;
	struct lvu_window *w = calloc(1, sizeof(*w));
	if (!w)
		return; /* the window works; the device just is not told */
	w->info.iova.iov_base = (void *)(uintptr_t)iova;
	w->info.iova.iov_len = size;
	if (prot & UVFIO_DMA_MAP_MMAP)
		w->info.vaddr = window_vaddr(ctx, iova, size, prot);
	if (w->info.vaddr) {
		w->info.mapping.iov_base = w->info.vaddr;
		w->info.mapping.iov_len = size;
		w->info.page_size = (size_t)sysconf(_SC_PAGESIZE);
		w->info.prot = (prot & UVFIO_DMA_MAP_READ ? PROT_READ : 0) |
			       (prot & UVFIO_DMA_MAP_WRITE ? PROT_WRITE : 0);
	}
	if (!tsearch(w, &ctx->windows, win_cmp)) {
		free(w);
		return;
	}
	if (ctx->dma_setup && ctx->dma_register) {
		ctx->cb_depth++;
		ctx->dma_register(ctx, &w->info);
		ctx->cb_depth--;
	}
}

static void drop_window(vfu_ctx_t *ctx, struct lvu_window *w)
{
	if (ctx->dma_setup && ctx->dma_unregister) {
		ctx->cb_depth++;
		ctx->dma_unregister(ctx, &w->info);
		ctx->cb_depth--;
	}
	tdelete(w, &ctx->windows, win_cmp);
	free(w);
}

void lvu_op_dma_unmap(void *o, uint64_t iova, uint64_t size)
{
	vfu_ctx_t *ctx = o;
	if (iova || size) {
		struct lvu_window key = { .info.iova.iov_base =
						  (void *)(uintptr_t)iova };
		void *n = tfind(&key, &ctx->windows, win_cmp);
		if (n)
			drop_window(ctx, *(struct lvu_window **)n);
		return;
	}
	/* All of them (unmap-all, the client gone). */
	while (ctx->windows)
		drop_window(ctx, *(struct lvu_window **)ctx->windows);
}

void lvu_windows_forget(vfu_ctx_t *ctx)
{
	while (ctx->windows) {
		struct lvu_window *w = *(struct lvu_window **)ctx->windows;
		tdelete(w, &ctx->windows, win_cmp);
		free(w);
	}
}

/* ---- scatter-gather ------------------------------------------------------------- */

static struct uvfio_dma_sg *native(dma_sg_t *sg)
{
	return &sg->n;
}

static uint32_t map_prot(int prot)
{
	return (prot & PROT_READ ? UVFIO_DMA_MAP_READ : 0) |
	       (prot & PROT_WRITE ? UVFIO_DMA_MAP_WRITE : 0);
}

int vfu_addr_to_sgl(vfu_ctx_t *ctx, vfu_dma_addr_t dma_addr, size_t len,
		    dma_sg_t *sgl, size_t max_nr_sgs, int prot)
{
	if (!ctx || !ctx->dma_setup || (prot & ~(PROT_READ | PROT_WRITE)) ||
	    (max_nr_sgs && !sgl))
		return lvu_fail(EINVAL);
	/* A mapping for no access at all is still a lookup. */
	uint32_t p = map_prot(prot);
	int n = uvfio_server_dma_addr_to_sg(ctx->srv, (uintptr_t)dma_addr, len,
					    p ? p : UVFIO_DMA_MAP_READ,
					    sgl ? native(sgl) : NULL,
					    max_nr_sgs);
	if (n < 0)
		return lvu_fail(n == -EINVAL && len ? ENOENT : n);
	if ((size_t)n > max_nr_sgs) {
		errno = 0;
		return -n - 1;
	}
	return n;
}

int vfu_sgl_get(vfu_ctx_t *ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt,
		int flags)
{
	if (!ctx || !sgl || !iov || flags || !ctx->dma_unregister)
		return lvu_fail(EINVAL);
	return lvu_ret(uvfio_server_dma_sg_map(ctx->srv, native(sgl), cnt,
					       iov));
}

void vfu_sgl_put(vfu_ctx_t *ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt)
{
	(void)iov;
	if (!ctx || !sgl)
		return;
	/* Entries mapped for writing are dirtied, as libvfio-user does:
	 * it cannot know whether the device wrote. */
	for (size_t i = 0; i < cnt; i++)
		uvfio_server_dma_sg_unmap(ctx->srv, native(sgl) + i, 1,
					  native(sgl)[i].prot &
						  UVFIO_DMA_MAP_WRITE);
}

void vfu_sgl_mark_dirty(vfu_ctx_t *ctx, dma_sg_t *sgl, size_t cnt)
{
	if (!ctx || !sgl)
		return;
	for (size_t i = 0; i < cnt; i++)
		if (native(sgl)[i].prot & UVFIO_DMA_MAP_WRITE)
			uvfio_server_dma_sg_mark_dirty(ctx->srv, native(sgl) + i,
						       1);
}

/* VFU_SGL_DIRECT_ACCESS: through our own mapping only, never messages. */
static int direct_copy(vfu_ctx_t *ctx, dma_sg_t *sg, size_t cnt, void *data,
		       bool to_guest)
{
	for (size_t i = 0; i < cnt; i++)
		if (!(native(sg)[i].flags & UVFIO_DMA_SG_MAPPABLE))
			return lvu_fail(EFAULT);
	uint8_t *p = data;
	for (size_t i = 0; i < cnt; i++) {
		struct uvfio_dma_sg one = native(sg)[i];
		struct iovec iov;
		one.priv = 0;
		int r = uvfio_server_dma_sg_map(ctx->srv, &one, 1, &iov);
		if (r)
			return lvu_fail(r);
		if (to_guest)
			memcpy(iov.iov_base, p, iov.iov_len);
		else
			memcpy(p, iov.iov_base, iov.iov_len);
		uvfio_server_dma_sg_unmap(ctx->srv, &one, 1, to_guest);
		p += iov.iov_len;
	}
	return 0;
}

int vfu_sgl_read(vfu_ctx_t *ctx, dma_sg_t *sg, size_t cnt, void *data,
		 int flags)
{
	if (!ctx || !sg || !data || (flags & ~VFU_SGL_DIRECT_ACCESS))
		return lvu_fail(EINVAL);
	if (flags & VFU_SGL_DIRECT_ACCESS)
		return direct_copy(ctx, sg, cnt, data, false);
	return lvu_ret(uvfio_server_dma_sg_read(ctx->srv, native(sg), cnt,
						data));
}

int vfu_sgl_write(vfu_ctx_t *ctx, dma_sg_t *sg, size_t cnt, void *data,
		  int flags)
{
	if (!ctx || !sg || !data || (flags & ~VFU_SGL_DIRECT_ACCESS))
		return lvu_fail(EINVAL);
	if (flags & VFU_SGL_DIRECT_ACCESS)
		return direct_copy(ctx, sg, cnt, data, true);
	return lvu_ret(uvfio_server_dma_sg_write(ctx->srv, native(sg), cnt,
						 data));
}

bool vfu_sg_is_mappable(vfu_ctx_t *ctx, dma_sg_t *sg)
{
	(void)ctx;
	return sg && (native(sg)->flags & UVFIO_DMA_SG_MAPPABLE);
}
