/* SPDX-License-Identifier: MIT */
/* Building replies.  Like the command builders, every byte is written. */
#include <errno.h>
#include <string.h>

#include <uvfio/codec.h>

ssize_t uvfio_build_reply(void *buf, size_t cap, uint16_t id, uint16_t cmd,
			  const void *fixed, size_t fixed_len, const void *data,
			  size_t data_len)
{
	return uvfio_build(buf, cap, id, cmd, UVFIO_F_TYPE_REPLY, fixed,
			   fixed_len, data, data_len);
}

ssize_t uvfio_build_device_info_reply(void *buf, size_t cap, uint16_t id,
				      uint32_t flags, uint32_t num_regions,
				      uint32_t num_irqs)
{
	struct uvfio_device_info d = {
		.argsz = sizeof(d),
		.flags = flags,
		.num_regions = num_regions,
		.num_irqs = num_irqs,
	};
	return uvfio_build_reply(buf, cap, id, UVFIO_CMD_DEVICE_GET_INFO, &d,
				 sizeof(d), NULL, 0);
}

ssize_t uvfio_build_region_info_reply(void *buf, size_t cap, uint16_t id,
				      const struct uvfio_region_info *ri,
				      const void *caps, uint32_t caps_len,
				      uint32_t req_argsz, bool *complete)
{
	struct uvfio_region_info r = *ri;
	uint64_t need = sizeof(r) + (uint64_t)caps_len;

	if (need > UINT32_MAX)
		return -EOVERFLOW;
	r.argsz = (uint32_t)need;
	bool fits = caps_len && need <= req_argsz;
	if (fits) {
		r.flags |= UVFIO_REGION_CAPS;
		r.cap_offset = sizeof(r);
	} else {
		r.flags &= ~UVFIO_REGION_CAPS;
		r.cap_offset = 0;
	}
	if (complete)
		*complete = fits || !caps_len;
	return uvfio_build_reply(buf, cap, id, UVFIO_CMD_DEVICE_GET_REGION_INFO,
				 &r, sizeof(r), fits ? caps : NULL,
				 fits ? caps_len : 0);
}

ssize_t uvfio_build_irq_info_reply(void *buf, size_t cap, uint16_t id,
				   uint32_t index, uint32_t flags,
				   uint32_t count)
{
	struct uvfio_irq_info i = {
		.argsz = sizeof(i),
		.flags = flags,
		.index = index,
		.count = count,
	};
	return uvfio_build_reply(buf, cap, id, UVFIO_CMD_DEVICE_GET_IRQ_INFO, &i,
				 sizeof(i), NULL, 0);
}

ssize_t uvfio_build_region_read_reply(void *buf, size_t cap, uint16_t id,
				      uint32_t region, uint64_t offset,
				      const void *data, uint32_t count)
{
	struct uvfio_region_rw r = {
		.offset = offset, .region = region, .count = count
	};
	return uvfio_build_reply(buf, cap, id, UVFIO_CMD_REGION_READ, &r,
				 sizeof(r), data, count);
}

ssize_t uvfio_build_region_write_reply(void *buf, size_t cap, uint16_t id,
				       uint32_t region, uint64_t offset,
				       uint32_t count)
{
	struct uvfio_region_rw r = {
		.offset = offset, .region = region, .count = count
	};
	return uvfio_build_reply(buf, cap, id, UVFIO_CMD_REGION_WRITE, &r,
				 sizeof(r), NULL, 0);
}
