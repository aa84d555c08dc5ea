/* SPDX-License-Identifier: MIT */
/* Building outgoing messages.  Every byte of the result is written. */
#include <errno.h>
#include <string.h>

#include <uvfio/codec.h>

ssize_t uvfio_build_hdr(void *buf, uint16_t id, uint16_t cmd, uint32_t flags,
			size_t total)
{
	if (total < UVFIO_HDR_SIZE || total > UINT32_MAX)
		return -EINVAL;
	struct uvfio_hdr h = {
		.msg_id = id,
		.cmd = cmd,
		.msg_size = (uint32_t)total,
		.flags = flags,
	};
	memcpy(buf, &h, sizeof(h));
	return (ssize_t)total;
}

ssize_t uvfio_build(void *buf, size_t cap, uint16_t id, uint16_t cmd,
		    uint32_t flags, const void *fixed, size_t fixed_len,
		    const void *data, size_t data_len)
{
	size_t total = UVFIO_HDR_SIZE + fixed_len + data_len;
	if (total < fixed_len || total > UINT32_MAX)
		return -EOVERFLOW;
	if (total > cap)
		return -ENOSPC;
	struct uvfio_hdr h = {
		.msg_id = id,
		.cmd = cmd,
		.msg_size = (uint32_t)total,
		.flags = flags,
		.error_no = 0,
	};
	uint8_t *p = buf;
	memcpy(p, &h, sizeof(h));
	if (fixed_len)
		memcpy(p + UVFIO_HDR_SIZE, fixed, fixed_len);
	if (data_len) {
		if (data)
			memcpy(p + UVFIO_HDR_SIZE + fixed_len, data, data_len);
		else
			memset(p + UVFIO_HDR_SIZE + fixed_len, 0, data_len);
	}
	return (ssize_t)total;
}

ssize_t uvfio_build_error(void *buf, size_t cap, uint16_t id, uint16_t cmd,
			  int errno_pos)
{
	ssize_t n = uvfio_build(buf, cap, id, cmd,
				UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR, NULL, 0,
				NULL, 0);
	if (n > 0) {
		struct uvfio_hdr *h = buf;
		uint32_t e = errno_pos > 0 ? (uint32_t)errno_pos : EIO;
		memcpy(&h->error_no, &e, sizeof(e));
	}
	return n;
}

ssize_t uvfio_build_version(void *buf, size_t cap, uint16_t id, bool reply,
			    uint16_t major, uint16_t minor, const char *json)
{
	struct uvfio_version v = { .major = major, .minor = minor };
	size_t jl = json ? strlen(json) + 1 : 0;
	return uvfio_build(buf, cap, id, UVFIO_CMD_VERSION,
			   reply ? UVFIO_F_TYPE_REPLY : UVFIO_F_TYPE_COMMAND,
			   &v, sizeof(v), json, jl);
}

ssize_t uvfio_build_dma_map(void *buf, size_t cap, uint16_t id, uint32_t flags,
			    uint64_t offset, uint64_t addr, uint64_t size)
{
	struct uvfio_dma_map m = {
		.argsz = sizeof(m),
		.flags = flags,
		.offset = offset,
		.addr = addr,
		.size = size,
	};
	return uvfio_build(buf, cap, id, UVFIO_CMD_DMA_MAP, 0, &m, sizeof(m),
			   NULL, 0);
}

ssize_t uvfio_build_dma_unmap(void *buf, size_t cap, uint16_t id,
			      uint32_t flags, uint64_t addr, uint64_t size,
			      uint64_t bitmap_pgsize)
{
	struct {
		struct uvfio_dma_unmap u;
		struct uvfio_bitmap b;
	} UVFIO_PACKED m;
	memset(&m, 0, sizeof(m));
	m.u.argsz = sizeof(m.u);
	m.u.flags = flags;
	m.u.addr = addr;
	m.u.size = size;
	size_t len = sizeof(m.u);
	if (flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP) {
		m.b.pgsize = bitmap_pgsize;
		m.b.size = uvfio_bitmap_bytes(size, bitmap_pgsize);
		len = sizeof(m);
		uint64_t argsz = sizeof(m) + m.b.size;
		if (argsz > UINT32_MAX)
			return -EOVERFLOW;
		m.u.argsz = (uint32_t)argsz;
	}
	return uvfio_build(buf, cap, id, UVFIO_CMD_DMA_UNMAP, 0, &m, len, NULL,
			   0);
}

ssize_t uvfio_build_device_get_info(void *buf, size_t cap, uint16_t id)
{
	struct uvfio_device_info d = { .argsz = sizeof(d) };
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_GET_INFO, 0, &d,
			   sizeof(d), NULL, 0);
}

ssize_t uvfio_build_get_region_info(void *buf, size_t cap, uint16_t id,
				    uint32_t index, uint32_t argsz)
{
	struct uvfio_region_info r = { .argsz = argsz, .index = index };
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_GET_REGION_INFO, 0, &r,
			   sizeof(r), NULL, 0);
}

ssize_t uvfio_build_get_region_io_fds(void *buf, size_t cap, uint16_t id,
				      uint32_t index, uint32_t argsz)
{
	struct uvfio_io_fds r = { .argsz = argsz, .index = index };
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 0,
			   &r, sizeof(r), NULL, 0);
}

ssize_t uvfio_build_get_irq_info(void *buf, size_t cap, uint16_t id,
				 uint32_t index)
{
	struct uvfio_irq_info r = { .argsz = sizeof(r), .index = index };
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_GET_IRQ_INFO, 0, &r,
			   sizeof(r), NULL, 0);
}

ssize_t uvfio_build_set_irqs(void *buf, size_t cap, uint16_t id,
			     uint32_t flags, uint32_t index, uint32_t start,
			     uint32_t count, const uint8_t *bools)
{
	bool with_bools = (flags & UVFIO_IRQ_DATA_MASK) == UVFIO_IRQ_DATA_BOOL;
	size_t dl = with_bools ? count : 0;
	struct uvfio_irq_set s = {
		.argsz = (uint32_t)(sizeof(s) + dl),
		.flags = flags,
		.index = index,
		.start = start,
		.count = count,
	};
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_SET_IRQS, 0, &s,
			   sizeof(s), bools, dl);
}

ssize_t uvfio_build_region_read(void *buf, size_t cap, uint16_t id,
				uint32_t region, uint64_t offset, uint32_t count)
{
	struct uvfio_region_rw r = {
		.offset = offset, .region = region, .count = count
	};
	return uvfio_build(buf, cap, id, UVFIO_CMD_REGION_READ, 0, &r, sizeof(r),
			   NULL, 0);
}

ssize_t uvfio_build_region_write(void *buf, size_t cap, uint16_t id,
				 bool no_reply, uint32_t region,
				 uint64_t offset, const void *data,
				 uint32_t count)
{
	struct uvfio_region_rw r = {
		.offset = offset, .region = region, .count = count
	};
	return uvfio_build(buf, cap, id, UVFIO_CMD_REGION_WRITE,
			   no_reply ? UVFIO_F_NO_REPLY : 0, &r, sizeof(r), data,
			   count);
}

ssize_t uvfio_build_device_reset(void *buf, size_t cap, uint16_t id)
{
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_RESET, 0, NULL, 0,
			   NULL, 0);
}

ssize_t uvfio_build_write_multi(void *buf, size_t cap, uint16_t id,
				const struct uvfio_write_multi_entry *e,
				uint32_t n)
{
	uint64_t cnt = n;
	return uvfio_build(buf, cap, id, UVFIO_CMD_REGION_WRITE_MULTI,
			   UVFIO_F_NO_REPLY, &cnt, sizeof(cnt), e,
			   (size_t)n * sizeof(*e));
}

ssize_t uvfio_build_device_feature(void *buf, size_t cap, uint16_t id,
				   uint32_t argsz, uint32_t flags,
				   const void *data, uint32_t data_len)
{
	struct uvfio_feature f = { .argsz = argsz, .flags = flags };
	return uvfio_build(buf, cap, id, UVFIO_CMD_DEVICE_FEATURE, 0, &f,
			   sizeof(f), data, data_len);
}

ssize_t uvfio_build_mig_data_read(void *buf, size_t cap, uint16_t id,
				  uint32_t size)
{
	struct uvfio_mig_data m = {
		.argsz = (uint32_t)sizeof(m) + size, .size = size
	};
	if (m.argsz < size)
		return -EOVERFLOW;
	return uvfio_build(buf, cap, id, UVFIO_CMD_MIG_DATA_READ, 0, &m,
			   sizeof(m), NULL, 0);
}

ssize_t uvfio_build_mig_data_write(void *buf, size_t cap, uint16_t id,
				   const void *data, uint32_t size)
{
	struct uvfio_mig_data m = {
		.argsz = (uint32_t)sizeof(m) + size, .size = size
	};
	if (m.argsz < size)
		return -EOVERFLOW;
	return uvfio_build(buf, cap, id, UVFIO_CMD_MIG_DATA_WRITE, 0, &m,
			   sizeof(m), data, size);
}
