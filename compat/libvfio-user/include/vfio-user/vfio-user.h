/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/vfio-user.h - vfio-user wire messages as libvfio-user names
 * them (uvfio's libvfio-user compatible interface).
 *
 * Every message body starts after a 16-byte struct vfio_user_header.  All
 * integers are little-endian on the wire; the structures are packed so a
 * received buffer can be read through them directly.  Where a structure
 * mirrors one of <linux/vfio.h>, its flag values are the kernel's, and are
 * only defined here when the installed kernel header lacks them.
 */
#ifndef VFIO_USER_H
#define VFIO_USER_H

#include <inttypes.h>
#include <linux/vfio.h>
#include <linux/version.h>

#ifndef UVFIO_LVU_STATIC_ASSERT
#ifdef __cplusplus
#define UVFIO_LVU_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define UVFIO_LVU_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#endif

/* Trailing variable-length payloads are flexible array members. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest data payload of one message unless the peers agree otherwise. */
#define VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE (1024 * 1024)

/* Command codes (struct vfio_user_header.cmd). */
enum vfio_user_command {
    VFIO_USER_VERSION                   = 1,
    VFIO_USER_DMA_MAP                   = 2,
    VFIO_USER_DMA_UNMAP                 = 3,
    VFIO_USER_DEVICE_GET_INFO           = 4,
    VFIO_USER_DEVICE_GET_REGION_INFO    = 5,
    VFIO_USER_DEVICE_GET_REGION_IO_FDS  = 6,
    VFIO_USER_DEVICE_GET_IRQ_INFO       = 7,
    VFIO_USER_DEVICE_SET_IRQS           = 8,
    VFIO_USER_REGION_READ               = 9,
    VFIO_USER_REGION_WRITE              = 10,
    VFIO_USER_DMA_READ                  = 11,
    VFIO_USER_DMA_WRITE                 = 12,
    VFIO_USER_DEVICE_RESET              = 13,
    /* 14 was the pre-v2 dirty page command; it is no longer defined. */
    VFIO_USER_REGION_WRITE_MULTI        = 15,
    VFIO_USER_DEVICE_FEATURE            = 16,
    VFIO_USER_MIG_DATA_READ             = 17,
    VFIO_USER_MIG_DATA_WRITE            = 18,
    VFIO_USER_MAX,
};

enum vfio_user_message_type {
    VFIO_USER_MESSAGE_COMMAND   = 0,
    VFIO_USER_MESSAGE_REPLY     = 1,
};

#define VFIO_USER_FLAGS_NO_REPLY    (0x1)

/* The header of every message, command or reply. */
struct vfio_user_header {
    uint16_t    msg_id;
    uint16_t    cmd;
    uint32_t    msg_size;       /* header included */
    uint32_t    flags;
/* The low four bits of flags say what the message is. */
#define VFIO_USER_F_TYPE_MASK       (0xf)
#define VFIO_USER_F_TYPE_COMMAND    (0x0)
#define VFIO_USER_F_TYPE_REPLY      (0x1)
/* The sender of a command wants no reply. */
#define VFIO_USER_F_NO_REPLY        (0x10)
/* A reply reporting failure; error_no holds the errno. */
#define VFIO_USER_F_ERROR           (0x20)
    uint32_t    error_no;
} __attribute__((packed));

/* VFIO_USER_VERSION: version, then a NUL-terminated JSON capability string. */
struct vfio_user_version {
    uint16_t    major;
    uint16_t    minor;
    uint8_t     data[];
} __attribute__((packed));

/* VFIO_USER_DEVICE_GET_INFO (struct vfio_device_info without caps). */
struct vfio_user_device_info {
    uint32_t    argsz;
    uint32_t    flags;          /* VFIO_DEVICE_FLAGS_* */
    uint32_t    num_regions;
    uint32_t    num_irqs;
} __attribute__((packed));

/* A dirty bitmap: one bit per pgsize page, size bytes of bits. */
struct vfio_user_bitmap {
    uint64_t pgsize;
    uint64_t size;
    char data[];
} __attribute__((packed));

/* VFIO_USER_DMA_MAP: a range of client memory, with its fd if mappable. */
struct vfio_user_dma_map {
    uint32_t argsz;
#define VFIO_USER_F_DMA_REGION_READ     (1 << 0)
#define VFIO_USER_F_DMA_REGION_WRITE    (1 << 1)
/* The fd may be mmap()ed (rather than only read/written at offsets). */
#define VFIO_USER_F_DMA_REGION_MMAP     (1 << 2)
    uint32_t flags;
    uint64_t offset;            /* of the range within the fd */
    uint64_t addr;              /* DMA (IOVA) address */
    uint64_t size;
} __attribute__((packed));

/* VFIO_USER_DMA_UNMAP; not packed, unlike its neighbours. */
struct vfio_user_dma_unmap {
    uint32_t argsz;
#ifndef VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1 << 0)
#endif
#ifndef VFIO_DMA_UNMAP_FLAG_ALL
#define VFIO_DMA_UNMAP_FLAG_ALL (1 << 1)
#endif
    uint32_t flags;
    uint64_t addr;
    uint64_t size;
    struct vfio_user_bitmap bitmap[];
};

/* VFIO_USER_REGION_READ / _WRITE. */
struct vfio_user_region_access {
    uint64_t    offset;
    uint32_t    region;
    uint32_t    count;
    uint8_t     data[];
} __attribute__((packed));

/* VFIO_USER_DMA_READ / _WRITE (server to client). */
struct vfio_user_dma_region_access {
    uint64_t    addr;
    uint64_t    count;
    uint8_t     data[];
} __attribute__((packed));

struct vfio_user_irq_info {
    uint32_t    subindex;
} __attribute__((packed));

/* VFIO_USER_DEVICE_GET_REGION_IO_FDS request. */
typedef struct vfio_user_region_io_fds_request {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
} __attribute__((packed)) vfio_user_region_io_fds_request_t;

#define VFIO_USER_IO_FD_TYPE_IOEVENTFD 0
#define VFIO_USER_IO_FD_TYPE_IOREGIONFD 1
#define VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW 2

/* One ioeventfd sub-region in the GET_REGION_IO_FDS reply. */
typedef struct vfio_user_sub_region_ioeventfd {
    uint64_t gpa_offset;
    uint64_t size;
    uint32_t fd_index;
    uint32_t type;
    uint32_t flags;
    uint32_t shadow_mem_fd_index;
    uint64_t shadow_offset;
    uint64_t datamatch;
} __attribute__((packed)) vfio_user_sub_region_ioeventfd_t;

/* One ioregionfd sub-region in the GET_REGION_IO_FDS reply. */
typedef struct vfio_user_sub_region_ioregionfd {
    uint64_t offset;
    uint64_t size;
    uint32_t fd_index;
    uint32_t type;
    uint32_t flags;
    uint32_t padding;
    uint64_t user_data;
} __attribute__((packed)) vfio_user_sub_region_ioregionfd_t;

/* VFIO_USER_DEVICE_GET_REGION_IO_FDS reply. */
typedef struct vfio_user_region_io_fds_reply {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
    union sub_region {
        struct vfio_user_sub_region_ioeventfd ioeventfd;
        struct vfio_user_sub_region_ioregionfd ioregionfd;
    } sub_regions[];
} __attribute__((packed)) vfio_user_region_io_fds_reply_t;

/* DMA logging (dirty page tracking) through VFIO_USER_DEVICE_FEATURE. */
struct vfio_user_device_feature_dma_logging_range {
    uint64_t iova;
    uint64_t length;
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_control {
    uint64_t page_size;
    uint32_t num_ranges;
    uint32_t reserved;
    struct vfio_user_device_feature_dma_logging_range ranges[];
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_report {
    uint64_t iova;
    uint64_t length;
    uint64_t page_size;
    uint8_t  bitmap[];
} __attribute__((packed));

#ifndef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START  6
#endif
#ifndef VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP   7
#endif
#ifndef VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT 8
#endif

/* VFIO_USER_DEVICE_FEATURE: feature index and direction, then its data. */
struct vfio_user_device_feature {
    uint32_t argsz;
    uint32_t flags;
#ifndef VFIO_DEVICE_FEATURE_MASK
#define VFIO_DEVICE_FEATURE_MASK    (0xffff)
#endif
#ifndef VFIO_DEVICE_FEATURE_GET
#define VFIO_DEVICE_FEATURE_GET     (1 << 16)
#endif
#ifndef VFIO_DEVICE_FEATURE_SET
#define VFIO_DEVICE_FEATURE_SET     (1 << 17)
#endif
#ifndef VFIO_DEVICE_FEATURE_PROBE
#define VFIO_DEVICE_FEATURE_PROBE   (1 << 18)
#endif
    uint8_t data[];
} __attribute__((packed));

/* VFIO_DEVICE_FEATURE_MIGRATION: the migration abilities of the device. */
struct vfio_user_device_feature_migration {
    uint64_t flags;
#ifndef VFIO_MIGRATION_STOP_COPY
#define VFIO_MIGRATION_STOP_COPY    (1 << 0)
#endif
#ifndef VFIO_MIGRATION_P2P
#define VFIO_MIGRATION_P2P          (1 << 1)
#endif
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY     (1 << 2)
#endif
} __attribute__((packed));
#ifndef VFIO_DEVICE_FEATURE_MIGRATION
#define VFIO_DEVICE_FEATURE_MIGRATION 1
#endif
UVFIO_LVU_STATIC_ASSERT(sizeof(struct vfio_user_device_feature_migration) == 8,
                        "vfio_user_device_feature_migration size");

/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE; data_fd is unused by vfio-user. */
struct vfio_user_device_feature_mig_state {
    uint32_t    device_state;   /* enum vfio_user_device_mig_state */
    uint32_t    data_fd;
} __attribute__((packed));
#ifndef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
#define VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE 2
#endif
UVFIO_LVU_STATIC_ASSERT(sizeof(struct vfio_user_device_feature_mig_state) == 8,
                        "vfio_user_device_feature_mig_state size");

/* The v2 migration states, numbered as the kernel's vfio_device_mig_state. */
enum vfio_user_device_mig_state {
    VFIO_USER_DEVICE_STATE_ERROR = 0,
    VFIO_USER_DEVICE_STATE_STOP = 1,
    VFIO_USER_DEVICE_STATE_RUNNING = 2,
    VFIO_USER_DEVICE_STATE_STOP_COPY = 3,
    VFIO_USER_DEVICE_STATE_RESUMING = 4,
    VFIO_USER_DEVICE_STATE_RUNNING_P2P = 5,
    VFIO_USER_DEVICE_STATE_PRE_COPY = 6,
    VFIO_USER_DEVICE_STATE_PRE_COPY_P2P = 7,
    VFIO_USER_DEVICE_NUM_STATES = 8,
};

/* VFIO_USER_MIG_DATA_READ / _WRITE. */
struct vfio_user_mig_data {
    uint32_t    argsz;
    uint32_t    size;
    uint8_t     data[];
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* VFIO_USER_H */
