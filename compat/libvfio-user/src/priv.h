/* SPDX-License-Identifier: MIT */
/*
 * libvfio-user's API on uvfio's server (docs/libvfio-user-compat.md).
 *
 * A vfu_ctx is a uvfio_server plus what the libvfio-user calling
 * convention needs on top of it: -1 and errno instead of -errno, the
 * device's callbacks with vfu_ctx_t as their first argument, the
 * attach/run life cycle, and the few bits of state the native library
 * has no reason to keep (which irq index is live, each DMA window's
 * vfu_dma_info_t).  Everything else -- protocol, validation, config
 * space, DMA, migration, quiescing -- is the native library's.
 *
 * Threads: as libvfio-user, one thread owns a context (the one calling
 * vfu_run_ctx); the native callbacks all run there.  The sgl calls may
 * come from any thread, as the native ones they wrap.
 */
#ifndef UVFIO_COMPAT_LVU_PRIV_H
#define UVFIO_COMPAT_LVU_PRIV_H

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uvfio/server.h>

#include "libvfio-user.h"

/* The opaque dma_sg_t is exactly the native entry, so an array of
 * dma_sg_size()-strided entries is an array of struct uvfio_dma_sg. */
struct dma_sg {
	struct uvfio_dma_sg n;
};

/* Config-space ranges the library owns (capabilities); the rest beyond
 * the standard header goes to the config callback. */
#define LVU_MAX_CAPS 64

struct lvu_cap {
	uint16_t off, len;
	int flags; /* VFU_CAP_FLAG_* */
};

struct lvu_window {
	vfu_dma_info_t info;
};

struct vfu_ctx {
	struct uvfio_server *srv;
	void *pvt;
	int flags;
	vfu_log_fn_t *log_fn;
	int log_level;

	bool realized;
	bool attached;     /* a client completed VERSION since attach */
	bool lost;         /* that client went away: run says ENOTCONN */
	bool quiescing;    /* quiesce said EBUSY; vfu_device_quiesced not yet */
	int cb_depth;      /* inside one of our native callbacks */
	pthread_t owner;   /* the thread that runs the context */
	bool owner_set;

	bool pci_inited;
	vfu_pci_type_t pci_type;
	struct uvfio_pci_ids ids;

	vfu_region_access_cb_t *region_cb[VFU_PCI_DEV_NUM_REGIONS];
	bool cfg_always_cb;
	struct lvu_cap caps[LVU_MAX_CAPS];
	unsigned ncaps;

	uint32_t irq_count[VFU_DEV_NUM_IRQS];
	/* Which vectors the client gave an eventfd (the irq_state op), so
	 * vfu_irq_trigger() knows which index is live. */
	uint8_t *irq_on[VFU_DEV_NUM_IRQS];
	uint32_t irq_live[VFU_DEV_NUM_IRQS];
	vfu_dev_irq_state_cb_t *irq_state_cb[VFU_DEV_NUM_IRQS];

	vfu_reset_cb_t *reset_cb;
	vfu_device_quiesce_cb_t *quiesce_cb;

	bool dma_setup;
	vfu_dma_register_cb_t *dma_register;
	vfu_dma_unregister_cb_t *dma_unregister;
	void *windows; /* tsearch() tree of struct lvu_window, by iova */

	bool has_migration;
	vfu_migration_callbacks_t mig;
};

/* errno = err (a positive errno or a negative -errno), return -1. */
static inline int lvu_fail(int err)
{
	errno = err < 0 ? -err : err;
	return -1;
}

/* A native result (0 or -errno) the libvfio-user way. */
static inline int lvu_ret(int r)
{
	return r < 0 ? lvu_fail(r) : 0;
}

/* A device callback's -1/errno as -errno, never 0 for a failure. */
static inline int lvu_cb_err(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Setup calls: only before vfu_realize_ctx(). */
int lvu_check_setup(vfu_ctx_t *ctx);

void lvu_ops_install(vfu_ctx_t *ctx);
void lvu_op_dma_map(void *o, uint64_t iova, uint64_t size, uint32_t prot);
void lvu_op_dma_unmap(void *o, uint64_t iova, uint64_t size);
int lvu_install_migration(vfu_ctx_t *ctx);
void lvu_op_irq_state(void *o, unsigned index, uint32_t start,
		      uint32_t count, bool enabled);
int lvu_irqs_realize(vfu_ctx_t *ctx);
void lvu_irqs_forget(vfu_ctx_t *ctx);
void lvu_irqs_free(vfu_ctx_t *ctx);
void lvu_windows_forget(vfu_ctx_t *ctx);
int lvu_region_prepare_cfg(vfu_ctx_t *ctx);

void lvu_vlog(vfu_ctx_t *ctx, int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
