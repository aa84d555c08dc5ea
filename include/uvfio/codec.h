/* SPDX-License-Identifier: MIT */
/*
 * uvfio/codec.h - checking and building vfio-user messages, without I/O.
 *
 * The parse functions take the bytes of one complete message (header
 * included) and the number of fds that arrived with it, check every field
 * against the rules of the protocol, and fill a typed view whose pointers
 * point into the caller's buffer.  They return 0 or a negative errno; the
 * errno is the one to put in an error reply, and view->why explains the
 * refusal in words for the log.  They never allocate, never touch fds and
 * never read outside [buf, buf + len).
 *
 * The build functions write a whole message (header included) into a
 * caller buffer and return its size, or -ENOSPC if cap is too small.  They
 * zero every byte they do not set, so no padding leaks onto the wire.
 */
#ifndef UVFIO_CODEC_H
#define UVFIO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uvfio/common.h>
#include <uvfio/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The views below hold copies of wire structs that end in a flexible array
 * (the array itself is reached through a pointer).  Nesting such a struct
 * is an extension compilers warn about under -Wpedantic (and clang under
 * -Wall); it is deliberate here, so the warning is off for these types
 * only, whatever flags the including program uses.
 */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
#pragma clang diagnostic ignored "-Wflexible-array-extensions"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif

/* What the receiving side accepts; fields describe *our* limits. */
struct uvfio_limits {
	uint32_t max_data_xfer; /* bytes of data in one R/W message */
	uint32_t max_msg_fds;   /* fds in one message */
	bool write_multiple;    /* REGION_WRITE_MULTI negotiated */
};

/* Which end is parsing: decides which commands are legal. */
enum uvfio_role {
	UVFIO_ROLE_SERVER = 0, /* receives client commands */
	UVFIO_ROLE_CLIENT = 1, /* receives DMA_READ/DMA_WRITE */
};

/*
 * DMA_READ/DMA_WRITE layouts: the spec's, and QEMU 10.x's.
 *
 * Spec: {u64 address; u64 count; data}, data at payload 16, nothing after.
 * QEMU: its message struct is {header; u64 offset; u32 count; data[]}
 * without packing, so its sizeof is 32: the data starts at payload 12 and
 * the fixed part is followed by 4 bytes of padding.  QEMU checks sizes
 * against that sizeof (hw/vfio-user/pci.c, vfio_user_dma_read/_write):
 *   - a request shorter than 32 bytes gets EINVAL;
 *   - a DMA_WRITE whose count exceeds msg_size - 32 gets E2BIG, so the data
 *     must be followed by 4 trailing bytes (sent as zeros);
 *   - its DMA_READ reply is 32 + count bytes: data at payload 12, then 4
 *     zero bytes; its DMA_WRITE reply is a bare header.
 * Both layouts thus make a DMA_WRITE, and a DMA_READ reply, 32 + count
 * bytes long; they differ in where the data lies.  The helpers below give
 * the sizes, so no caller works them out by hand.
 */
enum uvfio_dma_layout {
	UVFIO_DMA_LAYOUT_SPEC = 0,
	UVFIO_DMA_LAYOUT_QEMU = 1,
};
/* sizeof QEMU's DMA message struct, header included: its minimum. */
#define UVFIO_DMA_QEMU_MIN_MSG 32u

/* Message bytes before the data of a DMA_WRITE or DMA_READ reply (header
 * and fixed part): 32 (spec) or 28 (QEMU). */
UVFIO_API size_t uvfio_dma_data_offset(enum uvfio_dma_layout layout);
/* Bytes after the data: 0 (spec) or 4 (QEMU). */
UVFIO_API size_t uvfio_dma_data_trailer(enum uvfio_dma_layout layout);
/* msg_size of a DMA_WRITE carrying count bytes, or of the DMA_READ reply
 * carrying count bytes; 0 if it would not fit 32 bits. */
UVFIO_API size_t uvfio_dma_data_msg_size(enum uvfio_dma_layout layout,
					 uint32_t count);
/* msg_size of a DMA_READ request (32 in both layouts). */
UVFIO_API size_t uvfio_dma_read_msg_size(enum uvfio_dma_layout layout);

/* Largest bitmap a DMA logging report or dirty unmap may ask for. */
#define UVFIO_MAX_BITMAP_BYTES (256u << 20)
/* Most entries accepted in one REGION_WRITE_MULTI. */
#define UVFIO_MAX_WRITE_MULTI 1024u

/*
 * Check the 16-byte header that starts a message on the stream: size within
 * [16, max_msg_size], type command or reply, no NO_REPLY on replies, no
 * ERROR on commands.  Framing errors are fatal for the connection.
 * Returns 0, -EBADMSG (size < 16), -EMSGSIZE (size > max) or -EPROTO.
 */
UVFIO_API int uvfio_check_header(const struct uvfio_hdr *hdr,
				 uint32_t max_msg_size, const char **why);

/* Typed view of a received command. */
struct uvfio_cmd_view {
	struct uvfio_hdr hdr;
	const uint8_t *payload;
	uint32_t len; /* payload bytes */
	unsigned nfds;
	const char *why; /* set when parsing fails */
	union {
		struct {
			uint16_t major, minor;
			const char *json; /* NUL-terminated, or NULL */
			uint32_t json_len; /* bytes including the NUL */
		} version;
		struct uvfio_dma_map dma_map;
		struct {
			struct uvfio_dma_unmap req;
			struct uvfio_bitmap bitmap; /* with GET_DIRTY_BITMAP */
		} dma_unmap;
		struct uvfio_device_info device_info;
		struct uvfio_region_info region_info;
		struct uvfio_io_fds io_fds;
		struct uvfio_irq_info irq_info;
		struct {
			struct uvfio_irq_set req;
			const uint8_t *bools; /* DATA_BOOL: count bytes */
		} irq_set;
		struct {
			struct uvfio_region_rw req;
			const uint8_t *data; /* WRITE: count bytes */
		} region_rw;
		struct {
			uint64_t addr;
			uint32_t count;
			const uint8_t *data; /* DMA_WRITE: count bytes */
		} dma_rw;
		struct {
			uint32_t n;
			const uint8_t *wrs; /* n packed write_multi entries */
		} write_multi;
		struct {
			struct uvfio_feature req;
			uint32_t feature;       /* flags & UVFIO_FEATURE_MASK */
			const uint8_t *data;
			uint32_t data_len;
			uint64_t bitmap_bytes;  /* DMA_LOGGING_REPORT */
		} feature;
		struct {
			struct uvfio_mig_data req;
			const uint8_t *data; /* MIG_DATA_WRITE */
		} mig_data;
		struct uvfio_dirty_pages dirty_pages;
	} u;
};

/*
 * Parse a command (type bits 0).  buf holds len bytes: header and payload.
 * For DMA_READ/DMA_WRITE (client role) the layout is the spec's.
 */
UVFIO_API int uvfio_parse_command(const void *buf, size_t len, unsigned nfds,
				  enum uvfio_role role,
				  const struct uvfio_limits *lim,
				  struct uvfio_cmd_view *v);

/* What the sender of a command expects back; kept with the pending request. */
struct uvfio_expect {
	uint16_t cmd;
	uint16_t msg_id;
	uint32_t argsz;   /* the request's argsz, where it has one */
	uint32_t count;   /* REGION_READ/WRITE, DMA_READ/WRITE, MIG_DATA size */
	uint32_t index;   /* region or irq index echoed by the reply */
	uint64_t addr;    /* region offset or DMA address echoed */
	unsigned max_fds; /* fds we accept in the reply */
	enum uvfio_dma_layout dma_layout;
};

/* Typed view of a received reply. */
struct uvfio_reply_view {
	struct uvfio_hdr hdr;
	const uint8_t *payload;
	uint32_t len;
	unsigned nfds;
	int error; /* 0, or -errno from an ERROR reply (clamped) */
	const char *why;
	union {
		struct {
			uint16_t major, minor;
			const char *json;
			uint32_t json_len;
		} version;
		struct uvfio_device_info device_info;
		struct {
			struct uvfio_region_info info;
			bool complete; /* caps (and fd) present: argsz fitted */
		} region_info;
		struct {
			struct uvfio_io_fds hdr;
			uint32_t stride; /* 40 or 48; 0 if entries omitted */
			const uint8_t *entries;
		} io_fds;
		struct uvfio_irq_info irq_info;
		struct {
			uint32_t count;
			const uint8_t *data;
		} region_rw;
		struct {
			const uint8_t *data; /* DMA_READ */
			uint32_t count;
		} dma_rw;
		uint64_t write_multi_done;
		struct {
			struct uvfio_feature hdr;
			const uint8_t *data;
			uint32_t data_len;
		} feature;
		struct {
			uint32_t size;
			const uint8_t *data;
		} mig_data;
		struct uvfio_dma_unmap dma_unmap;
	} u;
};

/*
 * Parse a reply against what the request expected: id, command, sizes
 * against argsz and count, echoed fields, fd count.  An ERROR reply parses
 * successfully with view->error set; its payload is ignored.
 * Returns -EPROTO for any mismatch.
 */
UVFIO_API int uvfio_parse_reply(const void *buf, size_t len, unsigned nfds,
				const struct uvfio_expect *exp,
				struct uvfio_reply_view *v);

/*
 * Check the head of a large message whose data is received elsewhere (read
 * straight into its destination): the first `have` bytes of a REGION_READ
 * reply or DMA_READ reply (exp set, spec layout), or of a DMA_WRITE command
 * (exp NULL, client role).  Every rule of uvfio_parse_reply() and
 * uvfio_parse_command() is applied except those about the data bytes, and
 * the header's msg_size must be exactly the head plus the count it names
 * (and, for a reply, exp->count).  Returns the head's size (the data
 * starts there) or -errno; an ERROR reply is -EPROTO here (it has no data).
 */
UVFIO_API ssize_t uvfio_check_head(const void *msg, size_t have,
				   const struct uvfio_expect *exp,
				   const struct uvfio_limits *lim);

/* Region info capabilities, checked and decoded. */
#define UVFIO_MAX_SPARSE_AREAS 1024u
struct uvfio_region_caps {
	bool has_sparse;
	uint32_t nr_areas;
	const uint8_t *areas; /* nr_areas packed struct uvfio_sparse_area */
	bool has_type;
	uint32_t type, subtype;
	bool msix_mappable;
};

/*
 * Walk the capability chain of a complete GET_REGION_INFO reply payload
 * (info + caps, len bytes).  Offsets must lie in [32, len - 8], strictly
 * increase, and each capability must fit.  Sparse areas must lie within
 * the region.  Unknown capability ids are skipped.
 */
UVFIO_API int uvfio_parse_region_caps(const void *info, uint32_t len,
				      struct uvfio_region_caps *caps,
				      const char **why);

/*
 * Bytes of a dirty bitmap for length bytes at page_size granularity: one
 * bit per page, rounded up to whole u64 words; 0 for length 0 or page_size
 * 0.  The one bitmap-size rule of the library (see also
 * uvfio_dma_logging_bitmap_size()), with one overflow convention: a size
 * the result type cannot hold saturates at that type's maximum, so that
 * every limit check refuses it.  In 64 bits no size needs to: the largest
 * is 2^61 bytes (UINT64_MAX bytes at page_size 1).
 */
UVFIO_API uint64_t uvfio_bitmap_bytes(uint64_t length, uint64_t page_size);

/* Clamp a peer's error_no into a negative errno in [-4096, -1]. */
UVFIO_API int uvfio_errno_from_wire(uint32_t error_no);

/* ---- builders ------------------------------------------------------------
 * Each returns the total message size written into buf, or -ENOSPC.
 */

/* Only the 16-byte header, for a message whose payload (total - 16 bytes)
 * the caller writes in place after it.  Returns total or -EINVAL. */
UVFIO_API ssize_t uvfio_build_hdr(void *buf, uint16_t id, uint16_t cmd,
				  uint32_t flags, size_t total);

/* A message with an arbitrary fixed part and optional trailing data
 * (data NULL: data_len zero bytes). */
UVFIO_API ssize_t uvfio_build(void *buf, size_t cap, uint16_t id, uint16_t cmd,
			      uint32_t flags, const void *fixed,
			      size_t fixed_len, const void *data,
			      size_t data_len);

/* Header-only error reply; errno_pos is a positive errno. */
UVFIO_API ssize_t uvfio_build_error(void *buf, size_t cap, uint16_t id,
				    uint16_t cmd, int errno_pos);

UVFIO_API ssize_t uvfio_build_version(void *buf, size_t cap, uint16_t id,
				      bool reply, uint16_t major,
				      uint16_t minor, const char *json);
UVFIO_API ssize_t uvfio_build_dma_map(void *buf, size_t cap, uint16_t id,
				      uint32_t flags, uint64_t offset,
				      uint64_t addr, uint64_t size);
UVFIO_API ssize_t uvfio_build_dma_unmap(void *buf, size_t cap, uint16_t id,
					uint32_t flags, uint64_t addr,
					uint64_t size, uint64_t bitmap_pgsize);
UVFIO_API ssize_t uvfio_build_device_get_info(void *buf, size_t cap,
					      uint16_t id);
UVFIO_API ssize_t uvfio_build_get_region_info(void *buf, size_t cap,
					      uint16_t id, uint32_t index,
					      uint32_t argsz);
UVFIO_API ssize_t uvfio_build_get_region_io_fds(void *buf, size_t cap,
						uint16_t id, uint32_t index,
						uint32_t argsz);
UVFIO_API ssize_t uvfio_build_get_irq_info(void *buf, size_t cap, uint16_t id,
					   uint32_t index);
UVFIO_API ssize_t uvfio_build_set_irqs(void *buf, size_t cap, uint16_t id,
				       uint32_t flags, uint32_t index,
				       uint32_t start, uint32_t count,
				       const uint8_t *bools);
UVFIO_API ssize_t uvfio_build_region_read(void *buf, size_t cap, uint16_t id,
					  uint32_t region, uint64_t offset,
					  uint32_t count);
UVFIO_API ssize_t uvfio_build_region_write(void *buf, size_t cap, uint16_t id,
					   bool no_reply, uint32_t region,
					   uint64_t offset, const void *data,
					   uint32_t count);
UVFIO_API ssize_t uvfio_build_dma_read(void *buf, size_t cap, uint16_t id,
				       uint64_t addr, uint32_t count);
UVFIO_API ssize_t uvfio_build_dma_write(void *buf, size_t cap, uint16_t id,
					uint64_t addr, const void *data,
					uint32_t count);
/*
 * The same in either layout.  uvfio_build_dma_write_head() writes only
 * what surrounds the data of a DMA_WRITE whose data is sent from
 * elsewhere: the first uvfio_dma_data_offset() bytes (header and fixed
 * part, msg_size counting the data) followed by the
 * uvfio_dma_data_trailer() zero bytes that go after the data; it returns
 * the sum of the two, and cap must hold it.
 */
UVFIO_API ssize_t uvfio_build_dma_read_in(void *buf, size_t cap,
					  enum uvfio_dma_layout layout,
					  uint16_t id, uint64_t addr,
					  uint32_t count);
UVFIO_API ssize_t uvfio_build_dma_write_in(void *buf, size_t cap,
					   enum uvfio_dma_layout layout,
					   uint16_t id, uint64_t addr,
					   const void *data, uint32_t count);
UVFIO_API ssize_t uvfio_build_dma_write_head(void *buf, size_t cap,
					     enum uvfio_dma_layout layout,
					     uint16_t id, uint64_t addr,
					     uint32_t count);
UVFIO_API ssize_t uvfio_build_device_reset(void *buf, size_t cap, uint16_t id);
UVFIO_API ssize_t uvfio_build_write_multi(void *buf, size_t cap, uint16_t id,
					  const struct uvfio_write_multi_entry *e,
					  uint32_t n);
UVFIO_API ssize_t uvfio_build_device_feature(void *buf, size_t cap,
					     uint16_t id, uint32_t argsz,
					     uint32_t flags, const void *data,
					     uint32_t data_len);
UVFIO_API ssize_t uvfio_build_mig_data_read(void *buf, size_t cap, uint16_t id,
					    uint32_t size);
UVFIO_API ssize_t uvfio_build_mig_data_write(void *buf, size_t cap,
					     uint16_t id, const void *data,
					     uint32_t size);

/* ---- reply builders ------------------------------------------------------ */

/* A successful reply: fixed part then data (data NULL: zeros). */
UVFIO_API ssize_t uvfio_build_reply(void *buf, size_t cap, uint16_t id,
				    uint16_t cmd, const void *fixed,
				    size_t fixed_len, const void *data,
				    size_t data_len);
UVFIO_API ssize_t uvfio_build_device_info_reply(void *buf, size_t cap,
						uint16_t id, uint32_t flags,
						uint32_t num_regions,
						uint32_t num_irqs);
/*
 * GET_REGION_INFO reply following the argsz protocol: the reply's argsz is
 * 32 + caps_len; when req_argsz cannot hold that, the caps are left out
 * (CAPS flag and cap_offset cleared) and only the 32-byte struct is sent.
 * ri->argsz, cap_offset and the CAPS flag are set here.  *complete tells
 * whether the caps went out (only then may the region fd be attached).
 */
UVFIO_API ssize_t uvfio_build_region_info_reply(
	void *buf, size_t cap, uint16_t id, const struct uvfio_region_info *ri,
	const void *caps, uint32_t caps_len, uint32_t req_argsz,
	bool *complete);
UVFIO_API ssize_t uvfio_build_irq_info_reply(void *buf, size_t cap,
					     uint16_t id, uint32_t index,
					     uint32_t flags, uint32_t count);
UVFIO_API ssize_t uvfio_build_region_read_reply(void *buf, size_t cap,
						uint16_t id, uint32_t region,
						uint64_t offset,
						const void *data,
						uint32_t count);
UVFIO_API ssize_t uvfio_build_region_write_reply(void *buf, size_t cap,
						 uint16_t id, uint32_t region,
						 uint64_t offset,
						 uint32_t count);
/* DMA replies in the spec's layout (client to server). */
UVFIO_API ssize_t uvfio_build_dma_read_reply(void *buf, size_t cap,
					     uint16_t id, uint64_t addr,
					     const void *data, uint32_t count);
UVFIO_API ssize_t uvfio_build_dma_write_reply(void *buf, size_t cap,
					      uint16_t id, uint64_t addr,
					      uint32_t count);
/* The same in either layout (what a client such as QEMU sends). */
UVFIO_API ssize_t uvfio_build_dma_read_reply_in(void *buf, size_t cap,
						enum uvfio_dma_layout layout,
						uint16_t id, uint64_t addr,
						const void *data,
						uint32_t count);
UVFIO_API ssize_t uvfio_build_dma_write_reply_in(void *buf, size_t cap,
						 enum uvfio_dma_layout layout,
						 uint16_t id, uint64_t addr,
						 uint32_t count);

/* ---- VERSION capabilities (JSON) ----------------------------------------- */

#define UVFIO_CAP_HAS_MAX_MSG_FDS (1u << 0)
#define UVFIO_CAP_HAS_MAX_DATA_XFER (1u << 1)
#define UVFIO_CAP_HAS_MAX_DMA_MAPS (1u << 2)
#define UVFIO_CAP_HAS_PGSIZES (1u << 3)
#define UVFIO_CAP_HAS_TWIN_SOCKET (1u << 4)
#define UVFIO_CAP_HAS_WRITE_MULTIPLE (1u << 5)
#define UVFIO_CAP_HAS_MIGRATION (1u << 6)
#define UVFIO_CAP_HAS_TWIN_FD_INDEX (1u << 7)

/* Limits beyond which a peer's capability value is refused. */
#define UVFIO_MAX_MSG_FDS_LIMIT 1024u
#define UVFIO_MAX_JSON_LEN 4096u

struct uvfio_caps {
	unsigned present; /* UVFIO_CAP_HAS_* seen in the JSON */
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size; /* clamped to UINT32_MAX */
	uint32_t max_dma_maps;       /* clamped to UINT32_MAX */
	uint64_t pgsizes;
	bool twin_socket;
	uint32_t twin_fd_index;
	bool write_multiple;
	uint64_t mig_pgsize;
	uint64_t mig_max_bitmap_size;
};

/* Spec defaults for every key (what an absent key means). */
UVFIO_API void uvfio_caps_defaults(struct uvfio_caps *caps);

/*
 * Parse the JSON of a VERSION message (len bytes including the final NUL;
 * json NULL or len 0 means none: all defaults).  Unknown keys are ignored;
 * a known key of the wrong type or out of range fails with -EINVAL.
 */
UVFIO_API int uvfio_caps_parse(const char *json, size_t len,
			       struct uvfio_caps *caps, const char **why);

/*
 * Write the keys selected by `which` (UVFIO_CAP_HAS_*) as compact JSON into
 * buf.  Returns the length including the NUL, or -ENOSPC.
 */
UVFIO_API ssize_t uvfio_caps_format(const struct uvfio_caps *caps,
				    unsigned which, char *buf, size_t cap);

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_CODEC_H */
