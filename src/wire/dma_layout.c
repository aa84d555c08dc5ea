/* SPDX-License-Identifier: MIT */
/*
 * DMA_READ/DMA_WRITE messages in both layouts, the spec's and QEMU 10.x's
 * (codec.h says how they differ).  Kept in one place so that the sizes a
 * peer checks are worked out once: a DMA_WRITE 4 bytes short of what QEMU
 * expects is refused whole, and the device sees a failed transfer.
 */
#include <errno.h>
#include <string.h>

#include <uvfio/codec.h>

size_t uvfio_dma_data_offset(enum uvfio_dma_layout layout)
{
	return UVFIO_HDR_SIZE + (layout == UVFIO_DMA_LAYOUT_QEMU
					 ? sizeof(struct uvfio_dma_rw_qemu)
					 : sizeof(struct uvfio_dma_rw));
}

size_t uvfio_dma_data_trailer(enum uvfio_dma_layout layout)
{
	/* QEMU's struct ends 4 bytes after its fixed part, and QEMU counts
	 * them (count <= msg_size - sizeof). */
	return layout == UVFIO_DMA_LAYOUT_QEMU
		       ? UVFIO_DMA_QEMU_MIN_MSG - uvfio_dma_data_offset(layout)
		       : 0;
}

size_t uvfio_dma_data_msg_size(enum uvfio_dma_layout layout, uint32_t count)
{
	uint64_t n = (uint64_t)uvfio_dma_data_offset(layout) + count +
		     uvfio_dma_data_trailer(layout);
	return n > UINT32_MAX ? 0 : (size_t)n;
}

size_t uvfio_dma_read_msg_size(enum uvfio_dma_layout layout)
{
	/* The spec's request is 32 bytes; QEMU wants at least its sizeof. */
	(void)layout;
	return UVFIO_DMA_QEMU_MIN_MSG;
}

/* Header and fixed part of any of these messages, msg_size bytes in all. */
static void put_head(uint8_t *p, enum uvfio_dma_layout layout, uint16_t id,
		     uint16_t cmd, uint32_t flags, size_t msg_size,
		     uint64_t addr, uint32_t count)
{
	uvfio_build_hdr(p, id, cmd, flags, msg_size);
	if (layout == UVFIO_DMA_LAYOUT_QEMU) {
		struct uvfio_dma_rw_qemu q = { .addr = addr, .count = count };
		memcpy(p + UVFIO_HDR_SIZE, &q, sizeof(q));
	} else {
		struct uvfio_dma_rw d = { .addr = addr, .count = count };
		memcpy(p + UVFIO_HDR_SIZE, &d, sizeof(d));
	}
}

/* A message with count data bytes: head, data (or zeros), trailer. */
static ssize_t build_data_msg(void *buf, size_t cap,
			      enum uvfio_dma_layout layout, uint16_t id,
			      uint16_t cmd, uint32_t flags, uint64_t addr,
			      const void *data, uint32_t count)
{
	size_t total = uvfio_dma_data_msg_size(layout, count);
	size_t off = uvfio_dma_data_offset(layout);
	if (!total)
		return -EOVERFLOW;
	if (total > cap)
		return -ENOSPC;
	uint8_t *p = buf;
	put_head(p, layout, id, cmd, flags, total, addr, count);
	if (count) {
		if (data)
			memcpy(p + off, data, count);
		else
			memset(p + off, 0, count);
	}
	memset(p + off + count, 0, uvfio_dma_data_trailer(layout));
	return (ssize_t)total;
}

ssize_t uvfio_build_dma_read_in(void *buf, size_t cap,
				enum uvfio_dma_layout layout, uint16_t id,
				uint64_t addr, uint32_t count)
{
	size_t total = uvfio_dma_read_msg_size(layout);
	if (total > cap)
		return -ENOSPC;
	uint8_t *p = buf;
	/* In QEMU's layout the last 4 bytes are its struct padding. */
	memset(p, 0, total);
	put_head(p, layout, id, UVFIO_CMD_DMA_READ, 0, total, addr, count);
	return (ssize_t)total;
}

ssize_t uvfio_build_dma_write_in(void *buf, size_t cap,
				 enum uvfio_dma_layout layout, uint16_t id,
				 uint64_t addr, const void *data,
				 uint32_t count)
{
	return build_data_msg(buf, cap, layout, id, UVFIO_CMD_DMA_WRITE, 0,
			      addr, data, count);
}

ssize_t uvfio_build_dma_write_head(void *buf, size_t cap,
				   enum uvfio_dma_layout layout, uint16_t id,
				   uint64_t addr, uint32_t count)
{
	size_t total = uvfio_dma_data_msg_size(layout, count);
	size_t off = uvfio_dma_data_offset(layout);
	size_t tail = uvfio_dma_data_trailer(layout);
	if (!total)
		return -EOVERFLOW;
	if (off + tail > cap)
		return -ENOSPC;
	uint8_t *p = buf;
	put_head(p, layout, id, UVFIO_CMD_DMA_WRITE, 0, total, addr, count);
	memset(p + off, 0, tail);
	return (ssize_t)(off + tail);
}

ssize_t uvfio_build_dma_read(void *buf, size_t cap, uint16_t id, uint64_t addr,
			     uint32_t count)
{
	return uvfio_build_dma_read_in(buf, cap, UVFIO_DMA_LAYOUT_SPEC, id,
				       addr, count);
}

ssize_t uvfio_build_dma_write(void *buf, size_t cap, uint16_t id,
			      uint64_t addr, const void *data, uint32_t count)
{
	return uvfio_build_dma_write_in(buf, cap, UVFIO_DMA_LAYOUT_SPEC, id,
					addr, data, count);
}

ssize_t uvfio_build_dma_read_reply_in(void *buf, size_t cap,
				      enum uvfio_dma_layout layout,
				      uint16_t id, uint64_t addr,
				      const void *data, uint32_t count)
{
	return build_data_msg(buf, cap, layout, id, UVFIO_CMD_DMA_READ,
			      UVFIO_F_TYPE_REPLY, addr, data, count);
}

ssize_t uvfio_build_dma_write_reply_in(void *buf, size_t cap,
				       enum uvfio_dma_layout layout,
				       uint16_t id, uint64_t addr,
				       uint32_t count)
{
	if (layout == UVFIO_DMA_LAYOUT_QEMU)
		return uvfio_build(buf, cap, id, UVFIO_CMD_DMA_WRITE,
				   UVFIO_F_TYPE_REPLY, NULL, 0, NULL, 0);
	struct uvfio_dma_rw d = { .addr = addr, .count = count };
	return uvfio_build(buf, cap, id, UVFIO_CMD_DMA_WRITE,
			   UVFIO_F_TYPE_REPLY, &d, sizeof(d), NULL, 0);
}

ssize_t uvfio_build_dma_read_reply(void *buf, size_t cap, uint16_t id,
				   uint64_t addr, const void *data,
				   uint32_t count)
{
	return uvfio_build_dma_read_reply_in(buf, cap, UVFIO_DMA_LAYOUT_SPEC, id,
					     addr, data, count);
}

ssize_t uvfio_build_dma_write_reply(void *buf, size_t cap, uint16_t id,
				    uint64_t addr, uint32_t count)
{
	return uvfio_build_dma_write_reply_in(buf, cap, UVFIO_DMA_LAYOUT_SPEC,
					      id, addr, count);
}
