/* SPDX-License-Identifier: MIT */
/*
 * Regions: BARs, ROM and VGA become native regions (a device fd becomes a
 * UVFIO_REGION_FD region); the config region's callback is reached
 * through the native config hook for the bytes libvfio-user leaves to
 * the device.  Also ioeventfds.
 */
#include <stdlib.h>
#include <string.h>

#include "priv.h"

#define STD_HEADER 64u

static ssize_t region_fn(void *o, unsigned index, uint64_t off, void *buf,
			 size_t count, bool is_write)
{
	vfu_ctx_t *ctx = o;
	vfu_region_access_cb_t *cb = ctx->region_cb[index];
	ctx->cb_depth++;
	ssize_t n = cb(ctx, buf, count, (loff_t)off, is_write);
	ctx->cb_depth--;
	if (n < 0)
		return lvu_cb_err();
	return n;
}

/* The capability holding off, or NULL. */
static const struct lvu_cap *cap_at(const vfu_ctx_t *ctx, uint32_t off)
{
	for (unsigned i = 0; i < ctx->ncaps; i++)
		if (off >= ctx->caps[i].off &&
		    off < (uint32_t)ctx->caps[i].off + ctx->caps[i].len)
			return &ctx->caps[i];
	return NULL;
}

/*
 * Called after the native library emulated the access.  libvfio-user
 * handles the standard header and the capabilities it knows; the rest
 * (and capabilities added with VFU_CAP_FLAG_CALLBACK) belongs to the
 * device's callback, or, with VFU_REGION_FLAG_ALWAYS_CB, everything does.
 * The access is classified by its first byte.
 */
static int cfg_fn(void *o, uint32_t off, void *buf, uint32_t count,
		  bool is_write)
{
	vfu_ctx_t *ctx = o;
	vfu_region_access_cb_t *cb = ctx->region_cb[VFU_PCI_DEV_CFG_REGION_IDX];
	if (!ctx->cfg_always_cb) {
		if (off < STD_HEADER)
			return 0;
		const struct lvu_cap *c = cap_at(ctx, off);
		if (c && !(c->flags & VFU_CAP_FLAG_CALLBACK))
			return 0;
		if (!cb) /* plain memory: readable, not writable */
			return is_write ? -EINVAL : 0;
	}
	ctx->cb_depth++;
	ssize_t n = cb(ctx, buf, count, (loff_t)off, is_write);
	ctx->cb_depth--;
	if (n < 0)
		return lvu_cb_err();
	return n == (ssize_t)count ? 0 : -EIO;
}

int lvu_region_prepare_cfg(vfu_ctx_t *ctx)
{
	uvfio_server_set_config_fn(ctx->srv, cfg_fn, ctx);
	return 0;
}

static int check_areas(size_t size, const struct iovec *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t off = (uintptr_t)a[i].iov_base;
		if (!a[i].iov_len || off > size || a[i].iov_len > size - off)
			return -EINVAL;
	}
	return 0;
}

static uint32_t native_flags(int idx, int flags, int fd)
{
	uint32_t f = 0;
	if (flags & VFU_REGION_FLAG_READ)
		f |= UVFIO_REGION_READ;
	if (flags & VFU_REGION_FLAG_WRITE)
		f |= UVFIO_REGION_WRITE;
	if (idx <= VFU_PCI_DEV_BAR5_REGION_IDX) {
		if (!(flags & VFU_REGION_FLAG_MEM))
			f |= UVFIO_REGION_IO;
		if (flags & VFU_REGION_FLAG_64_BITS)
			f |= UVFIO_REGION_64BIT;
		if (flags & VFU_REGION_FLAG_PREFETCH)
			f |= UVFIO_REGION_PREFETCH;
	}
	if (fd >= 0)
		f |= UVFIO_REGION_FD;
	return f;
}

static int setup_cfg(vfu_ctx_t *ctx, vfu_region_access_cb_t *cb, int flags,
		     int fd)
{
	if (fd >= 0) {
		vfu_log(ctx, LOG_ERR, "the config region cannot be mmap-able");
		return lvu_fail(EINVAL);
	}
	/* Its size is the bus type's (vfu_pci_init). */
	ctx->region_cb[VFU_PCI_DEV_CFG_REGION_IDX] = cb;
	ctx->cfg_always_cb = flags & VFU_REGION_FLAG_ALWAYS_CB;
	if (ctx->cfg_always_cb && !cb)
		return lvu_fail(EINVAL);
	return 0;
}

int vfu_setup_region(vfu_ctx_t *ctx, int idx, size_t size,
		     vfu_region_access_cb_t *cb, int flags,
		     struct iovec *mmap_areas, uint32_t nr_mmap_areas, int fd,
		     uint64_t offset)
{
	if (lvu_check_setup(ctx))
		return -1;
	if (idx < 0 || idx >= VFU_PCI_DEV_NUM_REGIONS ||
	    (flags & ~VFU_REGION_FLAG_MASK) || !(flags & VFU_REGION_FLAG_RW) ||
	    (nr_mmap_areas && !mmap_areas) || (mmap_areas && !nr_mmap_areas) ||
	    (mmap_areas && fd < 0) ||
	    check_areas(size, mmap_areas, nr_mmap_areas)) {
		vfu_log(ctx, LOG_ERR, "region %d: bad index, flags or mmap "
				      "areas", idx);
		return lvu_fail(EINVAL);
	}
	if (idx == VFU_PCI_DEV_CFG_REGION_IDX)
		return setup_cfg(ctx, cb, flags, fd);

	struct uvfio_sparse_area *sp = NULL;
	if (nr_mmap_areas) {
		sp = calloc(nr_mmap_areas, sizeof(*sp));
		if (!sp)
			return lvu_fail(ENOMEM);
		for (uint32_t i = 0; i < nr_mmap_areas; i++) {
			sp[i].offset = (uintptr_t)mmap_areas[i].iov_base;
			sp[i].size = mmap_areas[i].iov_len;
		}
	}
	struct uvfio_region_desc d = {
		.struct_size = sizeof(d),
		.size = size,
		.flags = native_flags(idx, flags, fd),
		.nr_sparse = nr_mmap_areas,
		.fn = cb ? region_fn : NULL,
		.opaque = ctx,
		.sparse = sp,
		.fd = fd,
		.fd_offset = offset,
	};
	int r = uvfio_server_add_region(ctx->srv, (unsigned)idx, &d);
	free(sp);
	if (r) {
		vfu_log(ctx, LOG_ERR, "region %d: refused (%s); BARs are powers "
				      "of two, mmap-able areas page aligned",
			idx, strerror(-r));
		return lvu_fail(r);
	}
	ctx->region_cb[idx] = cb;
	return 0;
}

int vfu_create_ioeventfd(vfu_ctx_t *ctx, uint32_t region_idx, int fd,
			 size_t gpa_offset, uint32_t size, uint32_t flags,
			 uint64_t datamatch, int shadow_fd, size_t shadow_offset)
{
	if (!ctx || region_idx >= VFU_PCI_DEV_NUM_REGIONS || fd < 0 ||
	    (flags & ~1u))
		return lvu_fail(EINVAL);
	if (lvu_check_setup(ctx))
		return -1;
	if (shadow_fd != -1)
		return lvu_ret(uvfio_server_add_ioeventfd_shadow(
			ctx->srv, region_idx, gpa_offset, size, fd, flags & 1u,
			datamatch, shadow_fd, shadow_offset));
	return lvu_ret(uvfio_server_add_ioeventfd(ctx->srv, region_idx,
						  gpa_offset, size, fd,
						  flags & 1u, datamatch));
}
