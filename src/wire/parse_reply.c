/* SPDX-License-Identifier: MIT */
/*
 * Checking received replies against the request they answer: one checker
 * per command, reached through a table by command number.  Any mismatch is
 * -EPROTO: a peer that answers something else than was asked cannot be
 * trusted with the rest of the stream either.
 */
#include "wire/parse_priv.h"

typedef int (*reply_parser_fn)(struct uvfio_reply_view *v,
			       const struct uvfio_expect *e);

static int reply_version(struct uvfio_reply_view *v,
			 const struct uvfio_expect *e)
{
	(void)e;
	return wire_parse_version(v->payload, v->len, &v->u.version.major,
				  &v->u.version.minor, &v->u.version.json,
				  &v->u.version.json_len, &v->why)
		       ? -EPROTO
		       : 0;
}

/* DMA_MAP, SET_IRQS, DEVICE_RESET, MIG_DATA_WRITE. */
static int reply_empty(struct uvfio_reply_view *v,
		       const struct uvfio_expect *e)
{
	(void)e;
	if (v->len)
		FAIL(EPROTO, "reply to this command must be header-only");
	return 0;
}

static int reply_dma_unmap(struct uvfio_reply_view *v,
			   const struct uvfio_expect *e)
{
	if (v->len < sizeof(struct uvfio_dma_unmap) || v->len > e->argsz)
		FAIL(EPROTO, "DMA_UNMAP reply size outside [24, argsz]");
	memcpy(&v->u.dma_unmap, v->payload, sizeof(v->u.dma_unmap));
	return 0;
}

static int reply_device_info(struct uvfio_reply_view *v,
			     const struct uvfio_expect *e)
{
	if (v->len < sizeof(struct uvfio_device_info) || v->len > e->argsz)
		FAIL(EPROTO, "DEVICE_GET_INFO reply size outside [16, argsz]");
	memcpy(&v->u.device_info, v->payload, sizeof(v->u.device_info));
	return 0;
}

static int reply_region_info(struct uvfio_reply_view *v,
			     const struct uvfio_expect *e)
{
	struct uvfio_region_info *ri = &v->u.region_info.info;
	unsigned nfds = v->nfds;

	if (v->len < sizeof(*ri) || v->len > e->argsz)
		FAIL(EPROTO, "GET_REGION_INFO reply size outside [32, argsz]");
	memcpy(ri, v->payload, sizeof(*ri));
	if (ri->index != e->index)
		FAIL(EPROTO, "GET_REGION_INFO reply index differs");
	if (ri->argsz < sizeof(*ri))
		FAIL(EPROTO, "GET_REGION_INFO reply argsz below 32");
	v->u.region_info.complete = ri->argsz <= v->len;
	if (nfds && !(ri->flags & UVFIO_REGION_MMAP))
		FAIL(EPROTO, "GET_REGION_INFO fd for a region without MMAP");
	/* libvfio-user sends the fd only with the complete reply, so only
	 * there is it required. */
	if (v->u.region_info.complete && (ri->flags & UVFIO_REGION_MMAP) &&
	    nfds != 1)
		FAIL(EPROTO, "GET_REGION_INFO MMAP region without its fd");
	if ((ri->flags & UVFIO_REGION_CAPS) && v->u.region_info.complete) {
		if (ri->cap_offset < sizeof(*ri) ||
		    ri->cap_offset > v->len - sizeof(struct uvfio_cap_hdr))
			FAIL(EPROTO, "GET_REGION_INFO cap_offset outside "
				     "the reply");
	}
	return 0;
}

/* The entries of a GET_REGION_IO_FDS reply, stride bytes apart. */
static int io_fds_entries(struct uvfio_reply_view *v)
{
	uint32_t stride = v->u.io_fds.stride;

	for (uint32_t i = 0; i < v->u.io_fds.hdr.count; i++) {
		struct uvfio_io_fd_entry ent;
		memcpy(&ent, v->u.io_fds.entries + (size_t)i * stride,
		       sizeof(ent));
		if (ent.fd_index != UVFIO_IO_FD_NONE && ent.fd_index >= v->nfds)
			FAIL(EPROTO, "GET_REGION_IO_FDS fd_index beyond "
				     "the fds received");
		if (ent.type > UVFIO_IO_FD_IOEVENTFD_SHADOW)
			FAIL(EPROTO, "GET_REGION_IO_FDS unknown entry type");
		if (add_overflows(ent.offset, ent.size))
			FAIL(EPROTO, "GET_REGION_IO_FDS entry wraps");
	}
	return 0;
}

static int reply_io_fds(struct uvfio_reply_view *v,
			const struct uvfio_expect *e)
{
	struct uvfio_io_fds *h = &v->u.io_fds.hdr;

	if (v->len < sizeof(*h) || v->len > e->argsz)
		FAIL(EPROTO, "GET_REGION_IO_FDS reply size outside [16, argsz]");
	memcpy(h, v->payload, sizeof(*h));
	if (h->index != e->index)
		FAIL(EPROTO, "GET_REGION_IO_FDS reply index differs");
	uint32_t body = v->len - (uint32_t)sizeof(*h);
	if (body == 0) {
		if (v->nfds)
			FAIL(EPROTO, "GET_REGION_IO_FDS fds without entries");
		return 0; /* truncated or empty: count says how many */
	}
	if (h->count == 0 || body % h->count)
		FAIL(EPROTO, "GET_REGION_IO_FDS entries do not divide evenly");
	uint32_t stride = body / h->count;
	if (stride != sizeof(struct uvfio_io_fd_entry) &&
	    stride != sizeof(struct uvfio_io_fd_entry_lvu))
		FAIL(EPROTO, "GET_REGION_IO_FDS entry size is neither 40 "
			     "nor 48");
	v->u.io_fds.stride = stride;
	v->u.io_fds.entries = v->payload + sizeof(*h);
	return io_fds_entries(v);
}

static int reply_irq_info(struct uvfio_reply_view *v,
			  const struct uvfio_expect *e)
{
	if (v->len < sizeof(struct uvfio_irq_info) || v->len > e->argsz)
		FAIL(EPROTO, "GET_IRQ_INFO reply size outside [16, argsz]");
	memcpy(&v->u.irq_info, v->payload, sizeof(v->u.irq_info));
	if (v->u.irq_info.index != e->index)
		FAIL(EPROTO, "GET_IRQ_INFO reply index differs");
	return 0;
}

/* REGION_READ and REGION_WRITE. */
static int reply_region_rw(struct uvfio_reply_view *v,
			   const struct uvfio_expect *e)
{
	struct uvfio_region_rw r;

	/* libvfio-user answers a zero-byte access with no payload. */
	if (v->len == 0 && e->count == 0)
		return 0;
	if (v->len < sizeof(r))
		FAIL(EPROTO, "region access reply shorter than 16 bytes");
	memcpy(&r, v->payload, sizeof(r));
	if (r.region != e->index || r.offset != e->addr)
		FAIL(EPROTO, "region access reply does not echo region/offset");
	if (r.count > e->count)
		FAIL(EPROTO, "region access reply count exceeds request");
	if (e->cmd == UVFIO_CMD_REGION_READ) {
		if (v->len - sizeof(r) != r.count)
			FAIL(EPROTO, "REGION_READ reply is not 16 + count bytes");
		v->u.region_rw.data = v->payload + sizeof(r);
	} else if (v->len != sizeof(r)) {
		FAIL(EPROTO, "REGION_WRITE reply is not 16 bytes");
	}
	v->u.region_rw.count = r.count;
	return 0;
}

/* A DMA reply's echoed address and count and where its data starts. */
struct dma_echo {
	uint64_t addr, count;
	size_t fixed;
};

/* QEMU's layout: a bare header for DMA_WRITE (*done set: nothing to echo),
 * {u64 addr; u32 count} + data [+ padding] for DMA_READ. */
static int dma_reply_qemu(struct uvfio_reply_view *v,
			  const struct uvfio_expect *e, struct dma_echo *d,
			  bool *done)
{
	struct uvfio_dma_rw_qemu q;

	if (e->cmd == UVFIO_CMD_DMA_WRITE) {
		if (v->len)
			FAIL(EPROTO, "QEMU DMA_WRITE reply must be header-only");
		*done = true;
		return 0;
	}
	if (v->len < sizeof(q))
		FAIL(EPROTO, "DMA_READ reply shorter than 12");
	memcpy(&q, v->payload, sizeof(q));
	d->addr = q.addr;
	d->count = q.count;
	d->fixed = sizeof(q);
	/* With or without the padding that ends QEMU's struct. */
	if (v->len != d->fixed + d->count &&
	    v->len != d->fixed + d->count +
			      uvfio_dma_data_trailer(UVFIO_DMA_LAYOUT_QEMU))
		FAIL(EPROTO, "DMA_READ reply size does not match count");
	return 0;
}

/* The spec's layout: {u64 addr; u64 count}, data only for DMA_READ. */
static int dma_reply_spec(struct uvfio_reply_view *v,
			  const struct uvfio_expect *e, struct dma_echo *d)
{
	struct uvfio_dma_rw s;

	if (v->len < sizeof(s))
		FAIL(EPROTO, "DMA reply shorter than 16 bytes");
	memcpy(&s, v->payload, sizeof(s));
	d->addr = s.addr;
	d->count = s.count;
	d->fixed = sizeof(s);
	uint64_t want = e->cmd == UVFIO_CMD_DMA_READ ? d->count : 0;
	if (v->len - d->fixed != want)
		FAIL(EPROTO, "DMA reply size does not match count");
	return 0;
}

/* DMA_READ and DMA_WRITE, in the layout the peer uses. */
static int reply_dma_rw(struct uvfio_reply_view *v,
			const struct uvfio_expect *e)
{
	struct dma_echo d;
	bool done = false;
	int r;

	if (e->dma_layout == UVFIO_DMA_LAYOUT_QEMU)
		r = dma_reply_qemu(v, e, &d, &done);
	else
		r = dma_reply_spec(v, e, &d);
	if (r || done)
		return r;
	if (d.addr != e->addr || d.count != e->count)
		FAIL(EPROTO, "DMA reply does not echo address/count");
	v->u.dma_rw.count = (uint32_t)d.count;
	if (e->cmd == UVFIO_CMD_DMA_READ)
		v->u.dma_rw.data = v->payload + d.fixed;
	return 0;
}

static int reply_write_multi(struct uvfio_reply_view *v,
			     const struct uvfio_expect *e)
{
	(void)e;
	if (v->len != sizeof(uint64_t))
		FAIL(EPROTO, "REGION_WRITE_MULTI reply is not 8 bytes");
	memcpy(&v->u.write_multi_done, v->payload, sizeof(uint64_t));
	return 0;
}

static int reply_feature(struct uvfio_reply_view *v,
			 const struct uvfio_expect *e)
{
	if (v->len < sizeof(struct uvfio_feature) || v->len > e->argsz)
		FAIL(EPROTO, "DEVICE_FEATURE reply size outside [8, argsz]");
	memcpy(&v->u.feature.hdr, v->payload, sizeof(v->u.feature.hdr));
	v->u.feature.data = v->payload + sizeof(struct uvfio_feature);
	v->u.feature.data_len = v->len - (uint32_t)sizeof(struct uvfio_feature);
	return 0;
}

static int reply_mig_data_read(struct uvfio_reply_view *v,
			       const struct uvfio_expect *e)
{
	struct uvfio_mig_data m;

	if (v->len < sizeof(m))
		FAIL(EPROTO, "MIG_DATA_READ reply shorter than 8 bytes");
	memcpy(&m, v->payload, sizeof(m));
	if (m.size > e->count)
		FAIL(EPROTO, "MIG_DATA_READ reply size exceeds request");
	/* libvfio-user pads the message to the requested size. */
	if (v->len - sizeof(m) < m.size || v->len > sizeof(m) + e->count)
		FAIL(EPROTO, "MIG_DATA_READ reply length inconsistent");
	v->u.mig_data.size = m.size;
	v->u.mig_data.data = v->payload + sizeof(m);
	return 0;
}

/* DIRTY_PAGES (legacy) is never sent, so no reply to it is expected. */
static const reply_parser_fn reply_parsers[UVFIO_CMD_MAX + 1] = {
	[UVFIO_CMD_VERSION] = reply_version,
	[UVFIO_CMD_DMA_MAP] = reply_empty,
	[UVFIO_CMD_DMA_UNMAP] = reply_dma_unmap,
	[UVFIO_CMD_DEVICE_GET_INFO] = reply_device_info,
	[UVFIO_CMD_DEVICE_GET_REGION_INFO] = reply_region_info,
	[UVFIO_CMD_DEVICE_GET_REGION_IO_FDS] = reply_io_fds,
	[UVFIO_CMD_DEVICE_GET_IRQ_INFO] = reply_irq_info,
	[UVFIO_CMD_DEVICE_SET_IRQS] = reply_empty,
	[UVFIO_CMD_REGION_READ] = reply_region_rw,
	[UVFIO_CMD_REGION_WRITE] = reply_region_rw,
	[UVFIO_CMD_DMA_READ] = reply_dma_rw,
	[UVFIO_CMD_DMA_WRITE] = reply_dma_rw,
	[UVFIO_CMD_DEVICE_RESET] = reply_empty,
	[UVFIO_CMD_REGION_WRITE_MULTI] = reply_write_multi,
	[UVFIO_CMD_DEVICE_FEATURE] = reply_feature,
	[UVFIO_CMD_MIG_DATA_READ] = reply_mig_data_read,
	[UVFIO_CMD_MIG_DATA_WRITE] = reply_empty,
};

int uvfio_parse_reply(const void *buf, size_t len, unsigned nfds,
		      const struct uvfio_expect *e, struct uvfio_reply_view *v)
{
	memset(v, 0, sizeof(*v));
	if (len < UVFIO_HDR_SIZE)
		FAIL(EPROTO, "reply shorter than the 16-byte header");
	memcpy(&v->hdr, buf, sizeof(v->hdr));
	if (v->hdr.msg_size != len)
		FAIL(EPROTO, "reply msg_size does not match the bytes received");
	if ((v->hdr.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_REPLY)
		FAIL(EPROTO, "expected a reply, got another message type");
	if (v->hdr.flags & UVFIO_F_NO_REPLY)
		FAIL(EPROTO, "reply carries the NO_REPLY flag");
	if (v->hdr.msg_id != e->msg_id)
		FAIL(EPROTO, "reply id does not match the oldest pending request");
	if (v->hdr.cmd != e->cmd)
		FAIL(EPROTO, "reply command does not match the request");
	v->payload = (const uint8_t *)buf + UVFIO_HDR_SIZE;
	v->len = (uint32_t)(len - UVFIO_HDR_SIZE);
	v->nfds = nfds;
	if (nfds > e->max_fds)
		FAIL(EPROTO, "reply carries more fds than the command allows");

	if (v->hdr.flags & UVFIO_F_ERROR) {
		/* Payload on an error reply is ignored (libvfio-user sends
		 * one sometimes); fds on one are a protocol error. */
		if (nfds)
			FAIL(EPROTO, "error reply carries fds");
		v->error = uvfio_errno_from_wire(v->hdr.error_no);
		return 0;
	}

	if (e->cmd > UVFIO_CMD_MAX || !reply_parsers[e->cmd])
		FAIL(EPROTO, "reply to an unknown command");
	return reply_parsers[e->cmd](v, e);
}
