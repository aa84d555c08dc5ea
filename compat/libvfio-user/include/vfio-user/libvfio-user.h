/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/libvfio-user.h - the libvfio-user server API, implemented by
 * uvfio (libvfio-user compatible interface, migration v2 generation).
 *
 * A program written against libvfio-user builds unchanged against this
 * header and links against uvfio's compat library.  Names, signatures,
 * constants and structure layouts are libvfio-user's; the descriptions are
 * uvfio's.
 *
 * Conventions: unless said otherwise a function returns 0 on success and
 * -1 with errno set on failure.  Callbacks follow the same rule.  Nothing
 * here is thread-safe: callers serialise their calls on one context.
 */
#ifndef LIB_VFIO_USER_H
#define LIB_VFIO_USER_H

#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>
#include <syslog.h>
#include <sys/queue.h>

#include "pci_caps/dsn.h"
#include "pci_caps/msi.h"
#include "pci_caps/msix.h"
#include "pci_caps/pm.h"
#include "pci_caps/px.h"
#include "pci_defs.h"
#include "vfio-user.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LIB_VFIO_USER_MAJOR 0
#define LIB_VFIO_USER_MINOR 2

/* A client (guest) DMA address; never dereference it directly. */
typedef void *vfu_dma_addr_t;

/* One scatter/gather entry; opaque, allocate dma_sg_size() bytes each. */
struct dma_sg;
typedef struct dma_sg dma_sg_t;

/* A device context. */
typedef struct vfu_ctx vfu_ctx_t;

/* The size in bytes of one dma_sg_t, for sizing scatter/gather arrays. */
size_t
dma_sg_size(void);

/*
 * vfu_create_ctx() flag: vfu_attach_ctx() does not block waiting for a
 * client (it fails with EAGAIN instead), and vfu_run_ctx() handles only
 * what is already pending before returning.
 */
#define LIBVFIO_USER_FLAG_ATTACH_NB  (1 << 0)

typedef enum {
    VFU_TRANS_SOCK,
    VFU_TRANS_PIPE,     /* libvfio-user's own tests only */
    VFU_TRANS_MAX
} vfu_trans_t;

typedef enum {
    VFU_DEV_TYPE_PCI
} vfu_dev_type_t;

/*
 * Creates a context serving the UNIX socket @path (created here).  @flags
 * is a set of LIBVFIO_USER_FLAG_*; @pvt is returned by vfu_get_private().
 * One ERR and one REQ interrupt exist unless vfu_setup_device_nr_irqs()
 * says otherwise.  Returns NULL with errno set on failure.
 */
vfu_ctx_t *
vfu_create_ctx(vfu_trans_t trans, const char *path,
               int flags, void *pvt, vfu_dev_type_t dev_type);

/*
 * Ends set-up: after this the device description is fixed.  Must be called
 * once, before vfu_attach_ctx().
 */
int
vfu_realize_ctx(vfu_ctx_t *vfu_ctx);

/*
 * Accepts a client and negotiates the protocol version with it.  In
 * non-blocking mode, fails with EAGAIN/EWOULDBLOCK while nobody connects.
 */
int
vfu_attach_ctx(vfu_ctx_t *vfu_ctx);

/*
 * The file descriptor to wait on for the next vfu_attach_ctx() or
 * vfu_run_ctx().  It changes after a successful attach and after
 * vfu_run_ctx() reports ENOTCONN, so ask again then.
 */
int
vfu_get_poll_fd(vfu_ctx_t *vfu_ctx);

/*
 * Serves client requests.  Blocking contexts loop until an error or the
 * client leaves; non-blocking ones handle what is pending and return.
 * Returns the number of requests handled, or -1 with errno: ENOTCONN when
 * the client went away (attach again), EBUSY while a quiesce requested
 * from the device is still in progress, or another error.
 */
int
vfu_run_ctx(vfu_ctx_t *vfu_ctx);

/*
 * Frees the context.  The device must already be quiet: the quiesce
 * callback is not called, though other callbacks (DMA unregister, reset)
 * may be.
 */
void
vfu_destroy_ctx(vfu_ctx_t *vfu_ctx);

/* The @pvt pointer given to vfu_create_ctx(). */
void *
vfu_get_private(vfu_ctx_t *vfu_ctx);

/* Receives one log message; @level is a syslog(3) LOG_* level, @msg has no
 * trailing newline. */
typedef void (vfu_log_fn_t)(vfu_ctx_t *vfu_ctx, int level, const char *msg);

/* Logs through the context's log function if @level is enabled; @fmt
 * should not end in a newline.  errno is preserved. */
void
vfu_log(vfu_ctx_t *vfu_ctx, int level, const char *fmt, ...) \
    __attribute__((format(printf, 3, 4)));

/* Installs @log and the most verbose syslog(3) @level to pass on. */
int
vfu_setup_log(vfu_ctx_t *vfu_ctx, vfu_log_fn_t *log, int level);

/*
 * loff_t is the type of the offset below.  glibc declares it only with
 * _DEFAULT_SOURCE/_GNU_SOURCE (gnu11 and C++ get it); in strict ISO C mode
 * the same type is reached through glibc's internal name.
 */
#if defined(__GLIBC__) && !defined(__USE_MISC)
#define UVFIO_LVU_LOFF_T __loff_t
#else
#define UVFIO_LVU_LOFF_T loff_t
#endif

/*
 * Called for a client read or write of a region: @count bytes at @offset,
 * into or out of @buf.  Returns the number of bytes handled, or -1 with
 * errno.
 */
typedef ssize_t (vfu_region_access_cb_t)(vfu_ctx_t *vfu_ctx, char *buf,
                                         size_t count,
                                         UVFIO_LVU_LOFF_T offset,
                                         bool is_write);

#define VFU_REGION_FLAG_READ      (1 << 0)
#define VFU_REGION_FLAG_WRITE     (1 << 1)
#define VFU_REGION_FLAG_RW        (VFU_REGION_FLAG_READ | VFU_REGION_FLAG_WRITE)
/* A memory BAR; without it the BAR is I/O space. */
#define VFU_REGION_FLAG_MEM       (1 << 2)
/* Config space: hand every access to the callback, even header fields. */
#define VFU_REGION_FLAG_ALWAYS_CB (1 << 3)
/* A 64-bit memory BAR, which also takes the next BAR slot. */
#define VFU_REGION_FLAG_64_BITS   (1 << 4)
/* A prefetchable memory BAR. */
#define VFU_REGION_FLAG_PREFETCH  (1 << 5)
#define VFU_REGION_FLAG_MASK      (VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM | \
                                   VFU_REGION_FLAG_ALWAYS_CB | \
                                   VFU_REGION_FLAG_64_BITS | \
                                   VFU_REGION_FLAG_PREFETCH)

/*
 * Describes region @region_idx (a VFU_PCI_DEV_*_REGION_IDX) of @size bytes.
 *
 * Client accesses go to @region_access, except where the client maps the
 * region: if @fd is not -1 the region is backed by @fd from @offset on,
 * and the client may mmap() the @nr_mmap_areas areas of @mmap_areas (each
 * iov_base an offset within the region), or the whole region when
 * @mmap_areas is NULL.  The client can in fact map any part of @fd.
 *
 * For VFU_PCI_DEV_CFG_REGION_IDX @size is ignored (the PCI type decides);
 * the library serves the standard header and the capabilities it knows,
 * and other bytes are read from the config space buffer and are not
 * writable, unless a callback is given (then it gets them) or
 * VFU_REGION_FLAG_ALWAYS_CB is set (then it gets everything).
 *
 * @flags must include READ or WRITE and nothing outside
 * VFU_REGION_FLAG_MASK (EINVAL).
 */
int
vfu_setup_region(vfu_ctx_t *vfu_ctx, int region_idx, size_t size,
                 vfu_region_access_cb_t *region_access, int flags,
                 struct iovec *mmap_areas, uint32_t nr_mmap_areas,
                 int fd, uint64_t offset);

typedef enum vfu_reset_type {
    /* The client asked for a device reset (e.g. the guest rebooted); the
     * connection stays, the device returns to its power-on state. */
    VFU_RESET_DEVICE,
    /* The client connection is gone; after the callback the connection is
     * cleaned up and vfu_attach_ctx() accepts the next client. */
    VFU_RESET_LOST_CONN,
    /* The guest started a PCI Express function level reset. */
    VFU_RESET_PCI_FLR
} vfu_reset_type_t;

/*
 * Asks the device to stop touching guest memory and interrupts before the
 * library changes them (DMA map/unmap, reset, migration transitions).
 * Return 0 once quiet; or -1 with errno EBUSY to finish later by calling
 * vfu_device_quiesced(), vfu_run_ctx() failing with EBUSY until then.
 * While quiesced the device must not call vfu_addr_to_sgl() or vfu_sgl_*()
 * except from inside a library callback; it is unquiesced again when the
 * vfu_run_ctx() or vfu_device_quiesced() call that quiesced it returns.
 */
typedef int (vfu_device_quiesce_cb_t)(vfu_ctx_t *vfu_ctx);

/* Installs the quiesce callback; without one the device counts as always
 * quiesced. */
void
vfu_setup_device_quiesce_cb(vfu_ctx_t *vfu_ctx,
                            vfu_device_quiesce_cb_t *quiesce_cb);

/*
 * Completes a quiesce the callback deferred with EBUSY.  @quiesce_errno 0:
 * the pending operation now runs (its callbacks from within this call) and
 * the device is unquiesced on return.  Non-zero: the operation fails with
 * that errno and the device is reset.
 */
int
vfu_device_quiesced(vfu_ctx_t *vfu_ctx, int quiesce_errno);

/* Resets the device; all use of interrupts and guest memory must have
 * stopped when it returns. */
typedef int (vfu_reset_cb_t)(vfu_ctx_t *vfu_ctx, vfu_reset_type_t type);

int
vfu_setup_device_reset_cb(vfu_ctx_t *vfu_ctx, vfu_reset_cb_t *reset);

/*
 * A client DMA region.  @iova (the client's address range) is always set.
 * If the region is mapped into this process, @vaddr is where @iova starts,
 * @mapping the whole mmap()ed range (possibly larger, e.g. huge-page
 * aligned), @page_size that mapping's page size and @prot its PROT_* bits;
 * otherwise @vaddr is NULL.
 */
typedef struct vfu_dma_info {
    struct iovec iova;
    void *vaddr;
    struct iovec mapping;
    size_t page_size;
    uint32_t prot;
} vfu_dma_info_t;

/* A client added DMA region @info. */
typedef void (vfu_dma_register_cb_t)(vfu_ctx_t *vfu_ctx, vfu_dma_info_t *info);

/* A client removed DMA region @info: drop every reference into it before
 * returning. */
typedef void (vfu_dma_unregister_cb_t)(vfu_ctx_t *vfu_ctx, vfu_dma_info_t *info);

/*
 * Enables client DMA: without this vfu_addr_to_sgl() fails.  Both callbacks
 * are optional, but vfu_sgl_get() (direct access through a local mapping)
 * needs @dma_unregister.
 */
int
vfu_setup_device_dma(vfu_ctx_t *vfu_ctx, vfu_dma_register_cb_t *dma_register,
                     vfu_dma_unregister_cb_t *dma_unregister);

enum vfu_dev_irq_type {
    VFU_DEV_INTX_IRQ,
    VFU_DEV_MSI_IRQ,
    VFU_DEV_MSIX_IRQ,
    VFU_DEV_ERR_IRQ,
    VFU_DEV_REQ_IRQ,
    VFU_DEV_NUM_IRQS
};

/* Sets how many interrupts of @type the device has. */
int
vfu_setup_device_nr_irqs(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type,
                         uint32_t count);

/* Vectors [@start, @start + @count) were masked (@mask) or unmasked. */
typedef void (vfu_dev_irq_state_cb_t)(vfu_ctx_t *vfu_ctx, uint32_t start,
                                      uint32_t count, bool mask);

/* Installs @cb for mask/unmask changes of interrupts of @type. */
int
vfu_setup_irq_state_callback(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type,
                             vfu_dev_irq_state_cb_t *cb);

/* The device-facing migration states. */
typedef enum {
    VFU_MIGR_STATE_STOP,
    VFU_MIGR_STATE_RUNNING,
    VFU_MIGR_STATE_STOP_AND_COPY,
    VFU_MIGR_STATE_PRE_COPY,
    VFU_MIGR_STATE_RESUME
} vfu_migr_state_t;

#define VFU_MIGR_CALLBACKS_VERS 2

typedef struct {
    /* Must be VFU_MIGR_CALLBACKS_VERS. */
    int version;

    /* Enter @state; -1 with errno refuses the transition. */
    int (*transition)(vfu_ctx_t *vfu_ctx, vfu_migr_state_t state);

    /*
     * Saving: copy up to @count bytes of device state into @buf and return
     * how many (fewer is fine); 0 means nothing more to send for now.
     */
    ssize_t (*read_data)(vfu_ctx_t *vfu_ctx, void *buf, uint64_t count);

    /*
     * Resuming: take all @count bytes of saved state from @buf; returning
     * anything but @count is an error.
     */
    ssize_t (*write_data)(vfu_ctx_t *vfu_ctx, void *buf, uint64_t count);
} vfu_migration_callbacks_t;

/*
 * Makes the device migratable (vfio-user migration v2, with dirty page
 * logging).  The callbacks are copied.  EINVAL if the version is wrong or
 * a callback is missing.
 */
int
vfu_setup_device_migration_callbacks(vfu_ctx_t *vfu_ctx,
                                     const vfu_migration_callbacks_t *callbacks);

/*
 * Raises vector @subindex of the interrupt type the guest enabled
 * (INTx, MSI or MSI-X).
 */
int
vfu_irq_trigger(vfu_ctx_t *vfu_ctx, uint32_t subindex);

/*
 * Splits client range [@dma_addr, @dma_addr + @len) into scatter/gather
 * entries, one per DMA region crossed, checking @prot (PROT_READ/WRITE).
 * Returns the number of entries written to @sgl; -1 with errno ENOENT
 * (not mapped) or EACCES (protection); or, when @max_nr_sgs is too small,
 * -(n + 1) where n entries are needed (errno 0).
 */
int
vfu_addr_to_sgl(vfu_ctx_t *vfu_ctx, vfu_dma_addr_t dma_addr, size_t len,
                dma_sg_t *sgl, size_t max_nr_sgs, int prot);

/*
 * Fills @iov with local addresses for the @cnt entries of @sgl, which must
 * stay untouched until vfu_sgl_put().  Needs mappable regions and a DMA
 * unregister callback.  @flags must be 0.
 */
int
vfu_sgl_get(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt,
            int flags);

/* Records the writable entries of @sgl as dirty (for dirty page logging)
 * without releasing them. */
void
vfu_sgl_mark_dirty(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt);

/* Releases what vfu_sgl_get() returned, recording writable entries dirty. */
void
vfu_sgl_put(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt);

/*
 * vfu_sgl_read()/vfu_sgl_write() flag: copy through this process's mapping
 * of the client memory only, never by VFIO_USER_DMA_READ/WRITE messages.
 */
#define VFU_SGL_DIRECT_ACCESS (1 << 0)

/*
 * Copies the client memory of @sg into @data.  Works for regions that are
 * not mapped here too (by VFIO_USER_DMA_READ messages to the client).
 */
int
vfu_sgl_read(vfu_ctx_t *vfu_ctx, dma_sg_t *sg, size_t cnt, void *data,
             int flags);

/*
 * Copies @data into the client memory of @sg, as vfu_sgl_read().  Pages
 * written by message are not recorded dirty: the client knows them.
 */
int
vfu_sgl_write(vfu_ctx_t *vfu_ctx, dma_sg_t *sg, size_t cnt, void *data,
              int flags);

/*
 * PCI region indices.  In vfio-user an index is only a name (mappings use
 * the offsets in the sparse mmap areas), so the numbering stays fixed.
 */
enum {
    VFU_PCI_DEV_BAR0_REGION_IDX,
    VFU_PCI_DEV_BAR1_REGION_IDX,
    VFU_PCI_DEV_BAR2_REGION_IDX,
    VFU_PCI_DEV_BAR3_REGION_IDX,
    VFU_PCI_DEV_BAR4_REGION_IDX,
    VFU_PCI_DEV_BAR5_REGION_IDX,
    VFU_PCI_DEV_ROM_REGION_IDX,
    VFU_PCI_DEV_CFG_REGION_IDX,
    VFU_PCI_DEV_VGA_REGION_IDX,
    VFU_PCI_DEV_NUM_REGIONS,
};

typedef enum {
    VFU_PCI_TYPE_CONVENTIONAL,
    VFU_PCI_TYPE_PCI_X_1,
    VFU_PCI_TYPE_PCI_X_2,
    VFU_PCI_TYPE_EXPRESS
} vfu_pci_type_t;

enum {
    VFU_GENERIC_DEV_MIGR_REGION_IDX,
    VFU_GENERIC_DEV_NUM_REGIONS
};

/*
 * Makes the context a PCI device of @pci_type, once.  Config space is 256
 * bytes, or 4096 for PCI-X mode 2 and PCI Express.  @hdr_type must be
 * PCI_HEADER_TYPE_NORMAL; @revision goes into the revision ID.
 */
int
vfu_pci_init(vfu_ctx_t *vfu_ctx, vfu_pci_type_t pci_type,
             int hdr_type, int revision);

/* Sets vendor, device, subsystem vendor and subsystem IDs (after
 * vfu_pci_init(), always needed for a PCI device). */
void
vfu_pci_set_id(vfu_ctx_t *vfu_ctx, uint16_t vid, uint16_t did,
               uint16_t ssvid, uint16_t ssid);

/* Sets the class code: base class, sub-class, programming interface
 * (zero when never called). */
void
vfu_pci_set_class(vfu_ctx_t *vfu_ctx, uint8_t base, uint8_t sub, uint8_t pi);

/* The config space buffer: a vfu_pci_hdr_t then capabilities and
 * device-specific bytes, PCI_CFG_SPACE_SIZE or PCI_CFG_SPACE_EXP_SIZE
 * long. */
vfu_pci_config_space_t *
vfu_pci_get_config_space(vfu_ctx_t *vfu_ctx);

#define VFU_CAP_FLAG_EXTENDED (1 << 0)
#define VFU_CAP_FLAG_CALLBACK (1 << 1)
#define VFU_CAP_FLAG_READONLY (1 << 2)

/*
 * Adds a capability, copied from @data, which starts with a struct cap_hdr
 * (or a struct pcie_ext_cap_hdr with VFU_CAP_FLAG_EXTENDED, PCI-X mode 2
 * and Express only); its next pointer is ignored and vendor-specific ones
 * carry their own length.  @pos 0 picks a free offset; otherwise the
 * capability goes at @pos, which must overlap neither the header nor
 * another capability.  The library emulates PM, MSI, MSI-X and PCI Express
 * capabilities itself.  VFU_CAP_FLAG_CALLBACK sends accesses to the config
 * region callback; VFU_CAP_FLAG_READONLY refuses client writes (otherwise
 * everything but the header is writable).  Returns the offset, or -1 with
 * errno.
 */
ssize_t
vfu_pci_add_capability(vfu_ctx_t *vfu_ctx, size_t pos, int flags, void *data);

/* The offset of the first capability @cap_id, or 0 with errno set. */
size_t
vfu_pci_find_capability(vfu_ctx_t *vfu_ctx, bool extended, int cap_id);

/* The offset of the next capability @cap_id after the one at @pos, or 0
 * with errno set. */
size_t
vfu_pci_find_next_capability(vfu_ctx_t *vfu_ctx, bool extended,
                             size_t pos, int cap_id);

/* Whether @sg lies in a region mapped into this process. */
bool
vfu_sg_is_mappable(vfu_ctx_t *vfu_ctx, dma_sg_t *sg);

/*
 * Offers the client an ioeventfd @fd for @size bytes at @gpa_offset in
 * region @region_idx, reported by VFIO_USER_DEVICE_GET_REGION_IO_FDS.
 * @flags and @datamatch are as for KVM's ioeventfds.  @shadow_fd (-1: none)
 * and @shadow_offset name memory where the written value is also stored
 * (shadow ioeventfds, experimental).  EINVAL if the range is outside the
 * region.
 */
int
vfu_create_ioeventfd(vfu_ctx_t *vfu_ctx, uint32_t region_idx, int fd,
                     size_t gpa_offset, uint32_t size, uint32_t flags,
                     uint64_t datamatch, int shadow_fd, size_t shadow_offset);

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_H */
