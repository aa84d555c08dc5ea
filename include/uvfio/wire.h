/* SPDX-License-Identifier: MIT */
/*
 * uvfio/wire.h - the vfio-user wire format.
 *
 * Packed, host-endian structures exactly as they travel on the socket, the
 * command numbers and the flag values.  Nothing here allocates or does I/O;
 * include <uvfio/codec.h> to check and build messages.
 *
 * Constants that vfio-user borrows from the kernel's VFIO interface are
 * taken from <linux/vfio.h> so the two can never drift apart.  A few newer
 * ones (PRE_COPY) are absent from older kernel headers; those are given
 * their published values here when the header lacks them.
 */
#ifndef UVFIO_WIRE_H
#define UVFIO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * C++ only: the variable-length tails below are C99 flexible array members,
 * which C++ lacks.  g++ and clang++ accept them as an extension that lays
 * them out as C does (sizeof leaves the tail out, which the size checks at
 * the end rely on), but -Wpedantic makes that an error in a C++ program
 * that includes us.  The warning is off for this header's declarations.
 */
#ifdef __cplusplus
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc99-extensions"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#endif

#define UVFIO_PACKED __attribute__((packed))

/* Protocol version we implement.  Minor 0 is what QEMU sends; we accept any
 * minor from the peer and answer min(peer, ours). */
#define UVFIO_VERSION_MAJOR 0
#define UVFIO_VERSION_MINOR 2

/* Spec defaults used when the peer's VERSION omits a key. */
#define UVFIO_DEFAULT_MAX_MSG_FDS 1u
#define UVFIO_DEFAULT_MAX_DATA_XFER (1u << 20)
#define UVFIO_DEFAULT_MAX_DMA_MAPS 65535u
#define UVFIO_DEFAULT_PGSIZES 4096ull

enum uvfio_cmd {
	UVFIO_CMD_VERSION = 1,
	UVFIO_CMD_DMA_MAP = 2,
	UVFIO_CMD_DMA_UNMAP = 3,
	UVFIO_CMD_DEVICE_GET_INFO = 4,
	UVFIO_CMD_DEVICE_GET_REGION_INFO = 5,
	UVFIO_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	UVFIO_CMD_DEVICE_GET_IRQ_INFO = 7,
	UVFIO_CMD_DEVICE_SET_IRQS = 8,
	UVFIO_CMD_REGION_READ = 9,
	UVFIO_CMD_REGION_WRITE = 10,
	UVFIO_CMD_DMA_READ = 11,
	UVFIO_CMD_DMA_WRITE = 12,
	UVFIO_CMD_DEVICE_RESET = 13,
	UVFIO_CMD_DIRTY_PAGES = 14, /* legacy, removed from the spec */
	UVFIO_CMD_REGION_WRITE_MULTI = 15,
	UVFIO_CMD_DEVICE_FEATURE = 16,
	UVFIO_CMD_MIG_DATA_READ = 17,
	UVFIO_CMD_MIG_DATA_WRITE = 18,
	UVFIO_CMD_MAX = 18,
};

/* ---- header (every message) ------------------------------------------- */

#define UVFIO_F_TYPE_MASK 0x0fu
#define UVFIO_F_TYPE_COMMAND 0x00u
#define UVFIO_F_TYPE_REPLY 0x01u
#define UVFIO_F_NO_REPLY 0x10u
#define UVFIO_F_ERROR 0x20u

struct uvfio_hdr {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t msg_size; /* whole message, header included */
	uint32_t flags;
	uint32_t error_no; /* positive errno in an ERROR reply, else 0 */
} UVFIO_PACKED;

#define UVFIO_HDR_SIZE 16u

/* ---- VERSION (1) ------------------------------------------------------- */

struct uvfio_version {
	uint16_t major;
	uint16_t minor;
	char data[]; /* NUL-terminated JSON, optional */
} UVFIO_PACKED;

/* ---- DMA_MAP (2) / DMA_UNMAP (3) -------------------------------------- */

#define UVFIO_DMA_MAP_READ VFIO_DMA_MAP_FLAG_READ
#define UVFIO_DMA_MAP_WRITE VFIO_DMA_MAP_FLAG_WRITE
/* libvfio-user extensions (2026): access mode requested by the client. */
#define UVFIO_DMA_MAP_MMAP (1u << 2)
#define UVFIO_DMA_MAP_FILE_IO (1u << 3)
#define UVFIO_DMA_MAP_KNOWN                                                    \
	(UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE | UVFIO_DMA_MAP_MMAP |        \
	 UVFIO_DMA_MAP_FILE_IO)

struct uvfio_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset; /* into the passed fd */
	uint64_t addr;   /* iova */
	uint64_t size;
} UVFIO_PACKED;

#define UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
#define UVFIO_DMA_UNMAP_ALL VFIO_DMA_UNMAP_FLAG_ALL
#define UVFIO_DMA_UNMAP_KNOWN                                                  \
	(UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP | UVFIO_DMA_UNMAP_ALL)

struct uvfio_bitmap {
	uint64_t pgsize;
	uint64_t size; /* bytes of bitmap that follow */
} UVFIO_PACKED;

struct uvfio_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
	/* with GET_DIRTY_BITMAP: struct uvfio_bitmap, then the bitmap */
} UVFIO_PACKED;

/* ---- DEVICE_GET_INFO (4) ------------------------------------------------ */

#define UVFIO_DEV_RESET VFIO_DEVICE_FLAGS_RESET
#define UVFIO_DEV_PCI VFIO_DEVICE_FLAGS_PCI

struct uvfio_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
} UVFIO_PACKED;

/* ---- DEVICE_GET_REGION_INFO (5) ---------------------------------------- */

#define UVFIO_REGION_READ VFIO_REGION_INFO_FLAG_READ
#define UVFIO_REGION_WRITE VFIO_REGION_INFO_FLAG_WRITE
#define UVFIO_REGION_MMAP VFIO_REGION_INFO_FLAG_MMAP
#define UVFIO_REGION_CAPS VFIO_REGION_INFO_FLAG_CAPS

/* PCI region indexes */
#define UVFIO_PCI_BAR0 VFIO_PCI_BAR0_REGION_INDEX
#define UVFIO_PCI_ROM VFIO_PCI_ROM_REGION_INDEX
#define UVFIO_PCI_CONFIG VFIO_PCI_CONFIG_REGION_INDEX
#define UVFIO_PCI_VGA VFIO_PCI_VGA_REGION_INDEX
#define UVFIO_PCI_NUM_REGIONS VFIO_PCI_NUM_REGIONS

struct uvfio_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset; /* from the start of this struct; 0 = none */
	uint64_t size;
	uint64_t offset; /* mmap offset of the region fd */
} UVFIO_PACKED;

#define UVFIO_CAP_SPARSE_MMAP VFIO_REGION_INFO_CAP_SPARSE_MMAP
#define UVFIO_CAP_TYPE VFIO_REGION_INFO_CAP_TYPE
#define UVFIO_CAP_MSIX_MAPPABLE VFIO_REGION_INFO_CAP_MSIX_MAPPABLE

struct uvfio_cap_hdr {
	uint16_t id;
	uint16_t version;
	uint32_t next; /* from the start of the region info; 0 ends the chain */
} UVFIO_PACKED;

struct uvfio_sparse_area {
	uint64_t offset;
	uint64_t size;
} UVFIO_PACKED;

struct uvfio_cap_sparse_mmap {
	struct uvfio_cap_hdr hdr;
	uint32_t nr_areas;
	uint32_t reserved;
	struct uvfio_sparse_area areas[];
} UVFIO_PACKED;

struct uvfio_cap_type {
	struct uvfio_cap_hdr hdr;
	uint32_t type;
	uint32_t subtype;
} UVFIO_PACKED;

/* ---- DEVICE_GET_REGION_IO_FDS (6) --------------------------------------- */

#define UVFIO_IO_FD_IOEVENTFD 0u
#define UVFIO_IO_FD_IOREGIONFD 1u
#define UVFIO_IO_FD_IOEVENTFD_SHADOW 2u /* libvfio-user extension */
#define UVFIO_IO_FD_NONE 0xffffffffu  /* fd_index meaning "no fd" */

/* KVM ioeventfd flags carried in ioeventfd entries */
#define UVFIO_IOEVENTFD_DATAMATCH (1u << 0)
#define UVFIO_IOEVENTFD_PIO (1u << 1)
#define UVFIO_IOEVENTFD_VIRTIO_CCW_NOTIFY (1u << 3)

struct uvfio_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
	/* reply: count entries of 40 (spec) or 48 (libvfio-user) bytes */
} UVFIO_PACKED;

/* The spec's 40-byte entry; ioeventfd and ioregionfd share the layout,
 * the last field being datamatch or user_data. */
struct uvfio_io_fd_entry {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch; /* ioregionfd: user_data */
} UVFIO_PACKED;

/* libvfio-user's 48-byte entry (ioeventfd with optional shadow memory). */
struct uvfio_io_fd_entry_lvu {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t shadow_mem_fd_index;
	uint64_t shadow_offset;
	uint64_t datamatch;
} UVFIO_PACKED;

/* ---- DEVICE_GET_IRQ_INFO (7) / DEVICE_SET_IRQS (8) --------------------- */

#define UVFIO_PCI_INTX_IRQ VFIO_PCI_INTX_IRQ_INDEX
#define UVFIO_PCI_MSI_IRQ VFIO_PCI_MSI_IRQ_INDEX
#define UVFIO_PCI_MSIX_IRQ VFIO_PCI_MSIX_IRQ_INDEX
#define UVFIO_PCI_ERR_IRQ VFIO_PCI_ERR_IRQ_INDEX
#define UVFIO_PCI_REQ_IRQ VFIO_PCI_REQ_IRQ_INDEX
#define UVFIO_PCI_NUM_IRQS VFIO_PCI_NUM_IRQS

#define UVFIO_IRQ_INFO_EVENTFD VFIO_IRQ_INFO_EVENTFD
#define UVFIO_IRQ_INFO_MASKABLE VFIO_IRQ_INFO_MASKABLE
#define UVFIO_IRQ_INFO_AUTOMASKED VFIO_IRQ_INFO_AUTOMASKED
#define UVFIO_IRQ_INFO_NORESIZE VFIO_IRQ_INFO_NORESIZE

struct uvfio_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} UVFIO_PACKED;

#define UVFIO_IRQ_DATA_NONE VFIO_IRQ_SET_DATA_NONE
#define UVFIO_IRQ_DATA_BOOL VFIO_IRQ_SET_DATA_BOOL
#define UVFIO_IRQ_DATA_EVENTFD VFIO_IRQ_SET_DATA_EVENTFD
#define UVFIO_IRQ_ACTION_MASK VFIO_IRQ_SET_ACTION_MASK
#define UVFIO_IRQ_ACTION_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define UVFIO_IRQ_ACTION_TRIGGER VFIO_IRQ_SET_ACTION_TRIGGER
#define UVFIO_IRQ_DATA_MASK VFIO_IRQ_SET_DATA_TYPE_MASK
#define UVFIO_IRQ_ACTION_MASK_ALL VFIO_IRQ_SET_ACTION_TYPE_MASK

struct uvfio_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	uint8_t data[]; /* DATA_BOOL: count bytes */
} UVFIO_PACKED;

/* ---- REGION_READ (9) / REGION_WRITE (10) ------------------------------- */

struct uvfio_region_rw {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];
} UVFIO_PACKED;

/* ---- DMA_READ (11) / DMA_WRITE (12), server to client ------------------- */

/* The specified layout.  QEMU 10.x uses {u64 address; u32 count} with data
 * at payload offset 12 and a header-only DMA_WRITE reply; see
 * struct uvfio_dma_rw_qemu. */
struct uvfio_dma_rw {
	uint64_t addr;
	uint64_t count;
	uint8_t data[];
} UVFIO_PACKED;

struct uvfio_dma_rw_qemu {
	uint64_t addr;
	uint32_t count;
	uint8_t data[];
} UVFIO_PACKED;

/* ---- REGION_WRITE_MULTI (15) -------------------------------------------- */

#define UVFIO_WRITE_MULTI_DATA 8u /* bytes of data per entry */
#define UVFIO_WRITE_MULTI_MAX 200u  /* QEMU's batch size */

struct uvfio_write_multi_entry {
	uint64_t offset;
	uint32_t region;
	uint32_t count; /* 1..8 */
	uint8_t data[UVFIO_WRITE_MULTI_DATA];
} UVFIO_PACKED;

struct uvfio_write_multi {
	uint64_t wr_cnt;
	struct uvfio_write_multi_entry wrs[];
} UVFIO_PACKED;

/* ---- DEVICE_FEATURE (16) ------------------------------------------------ */

#define UVFIO_FEATURE_MASK VFIO_DEVICE_FEATURE_MASK
#define UVFIO_FEATURE_GET VFIO_DEVICE_FEATURE_GET
#define UVFIO_FEATURE_SET VFIO_DEVICE_FEATURE_SET
#define UVFIO_FEATURE_PROBE VFIO_DEVICE_FEATURE_PROBE

#define UVFIO_FEATURE_MIGRATION VFIO_DEVICE_FEATURE_MIGRATION
#define UVFIO_FEATURE_MIG_DEVICE_STATE VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
#define UVFIO_FEATURE_DMA_LOGGING_START VFIO_DEVICE_FEATURE_DMA_LOGGING_START
#define UVFIO_FEATURE_DMA_LOGGING_STOP VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP
#define UVFIO_FEATURE_DMA_LOGGING_REPORT VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT

#define UVFIO_MIGRATION_STOP_COPY VFIO_MIGRATION_STOP_COPY
#define UVFIO_MIGRATION_P2P VFIO_MIGRATION_P2P
#ifdef VFIO_MIGRATION_PRE_COPY
#define UVFIO_MIGRATION_PRE_COPY VFIO_MIGRATION_PRE_COPY
#else
#define UVFIO_MIGRATION_PRE_COPY (1u << 2)
#endif

/* enum vfio_device_mig_state; PRE_COPY states postdate Linux 6.1. */
enum uvfio_mig_state {
	UVFIO_MIG_ERROR = 0,
	UVFIO_MIG_STOP = 1,
	UVFIO_MIG_RUNNING = 2,
	UVFIO_MIG_STOP_COPY = 3,
	UVFIO_MIG_RESUMING = 4,
	UVFIO_MIG_RUNNING_P2P = 5,
	UVFIO_MIG_PRE_COPY = 6,
	UVFIO_MIG_PRE_COPY_P2P = 7,
	UVFIO_MIG_NUM_STATES = 8,
};

struct uvfio_feature {
	uint32_t argsz;
	uint32_t flags;
	uint8_t data[];
} UVFIO_PACKED;

struct uvfio_feature_migration {
	uint64_t flags;
} UVFIO_PACKED;

struct uvfio_feature_mig_state {
	uint32_t device_state;
	uint32_t data_fd; /* unused by vfio-user, 0 */
} UVFIO_PACKED;

struct uvfio_log_range {
	uint64_t iova;
	uint64_t length;
} UVFIO_PACKED;

struct uvfio_feature_log_start {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	struct uvfio_log_range ranges[];
} UVFIO_PACKED;

struct uvfio_feature_log_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	uint64_t bitmap[]; /* reply only */
} UVFIO_PACKED;

/* ---- MIG_DATA_READ (17) / MIG_DATA_WRITE (18) --------------------------- */

struct uvfio_mig_data {
	uint32_t argsz;
	uint32_t size;
	uint8_t data[];
} UVFIO_PACKED;

/* ---- legacy DIRTY_PAGES (14), for decoding old peers only --------------- */

#define UVFIO_DIRTY_PAGES_START (1u << 0)
#define UVFIO_DIRTY_PAGES_STOP (1u << 1)
#define UVFIO_DIRTY_PAGES_GET_BITMAP (1u << 2)

struct uvfio_dirty_pages {
	uint32_t argsz;
	uint32_t flags;
} UVFIO_PACKED;

/* ---- sizes checked at compile time ------------------------------------- */

/* C++ spells C11's _Static_assert static_assert. */
#ifdef __cplusplus
#define UVFIO_STATIC_ASSERT static_assert
#else
#define UVFIO_STATIC_ASSERT _Static_assert
#endif
#define UVFIO_WIRE_ASSERT_SIZE(t, n)                                           \
	UVFIO_STATIC_ASSERT(sizeof(struct t) == (n), #t " must be " #n " bytes")
#define UVFIO_WIRE_ASSERT_OFF(t, f, n)                                         \
	UVFIO_STATIC_ASSERT(offsetof(struct t, f) == (n), #t "." #f " must be at " #n)

UVFIO_WIRE_ASSERT_SIZE(uvfio_hdr, 16);
UVFIO_WIRE_ASSERT_OFF(uvfio_hdr, cmd, 2);
UVFIO_WIRE_ASSERT_OFF(uvfio_hdr, msg_size, 4);
UVFIO_WIRE_ASSERT_OFF(uvfio_hdr, flags, 8);
UVFIO_WIRE_ASSERT_OFF(uvfio_hdr, error_no, 12);
UVFIO_WIRE_ASSERT_SIZE(uvfio_version, 4);
UVFIO_WIRE_ASSERT_SIZE(uvfio_dma_map, 32);
UVFIO_WIRE_ASSERT_OFF(uvfio_dma_map, offset, 8);
UVFIO_WIRE_ASSERT_OFF(uvfio_dma_map, addr, 16);
UVFIO_WIRE_ASSERT_OFF(uvfio_dma_map, size, 24);
UVFIO_WIRE_ASSERT_SIZE(uvfio_dma_unmap, 24);
UVFIO_WIRE_ASSERT_SIZE(uvfio_bitmap, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_device_info, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_region_info, 32);
UVFIO_WIRE_ASSERT_OFF(uvfio_region_info, cap_offset, 12);
UVFIO_WIRE_ASSERT_OFF(uvfio_region_info, size, 16);
UVFIO_WIRE_ASSERT_OFF(uvfio_region_info, offset, 24);
UVFIO_WIRE_ASSERT_SIZE(uvfio_cap_hdr, 8);
UVFIO_WIRE_ASSERT_SIZE(uvfio_sparse_area, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_cap_sparse_mmap, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_cap_type, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_io_fds, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_io_fd_entry, 40);
UVFIO_WIRE_ASSERT_OFF(uvfio_io_fd_entry, fd_index, 16);
UVFIO_WIRE_ASSERT_OFF(uvfio_io_fd_entry, datamatch, 32);
UVFIO_WIRE_ASSERT_SIZE(uvfio_io_fd_entry_lvu, 48);
UVFIO_WIRE_ASSERT_OFF(uvfio_io_fd_entry_lvu, datamatch, 40);
UVFIO_WIRE_ASSERT_SIZE(uvfio_irq_info, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_irq_set, 20);
UVFIO_WIRE_ASSERT_OFF(uvfio_irq_set, count, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_region_rw, 16);
UVFIO_WIRE_ASSERT_OFF(uvfio_region_rw, region, 8);
UVFIO_WIRE_ASSERT_OFF(uvfio_region_rw, count, 12);
UVFIO_WIRE_ASSERT_SIZE(uvfio_dma_rw, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_dma_rw_qemu, 12);
UVFIO_WIRE_ASSERT_SIZE(uvfio_write_multi_entry, 24);
UVFIO_WIRE_ASSERT_OFF(uvfio_write_multi_entry, data, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_write_multi, 8);
UVFIO_WIRE_ASSERT_SIZE(uvfio_feature, 8);
UVFIO_WIRE_ASSERT_SIZE(uvfio_feature_migration, 8);
UVFIO_WIRE_ASSERT_SIZE(uvfio_feature_mig_state, 8);
UVFIO_WIRE_ASSERT_SIZE(uvfio_log_range, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_feature_log_start, 16);
UVFIO_WIRE_ASSERT_SIZE(uvfio_feature_log_report, 24);
UVFIO_WIRE_ASSERT_SIZE(uvfio_mig_data, 8);

UVFIO_STATIC_ASSERT(VFIO_PCI_NUM_REGIONS == 9, "vfio-user expects 9 PCI regions");
UVFIO_STATIC_ASSERT(VFIO_PCI_NUM_IRQS == 5, "vfio-user expects 5 PCI irq indexes");
UVFIO_STATIC_ASSERT(VFIO_PCI_CONFIG_REGION_INDEX == 7, "config region is 7");

#ifdef __cplusplus
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
#endif
#endif /* UVFIO_WIRE_H */
