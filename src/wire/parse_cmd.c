/* SPDX-License-Identifier: MIT */
/*
 * Checking received commands: one checker per command, reached through a
 * table by command number.  Every rule here exists because some peer in
 * the field got it wrong; the tests in tests/test_codec.c name them.
 */
#include "wire/parse_priv.h"

#include "util/util.h"

typedef int (*cmd_parser_fn)(struct uvfio_cmd_view *v,
			     const struct uvfio_limits *lim);

static int parse_version(struct uvfio_cmd_view *v,
			 const struct uvfio_limits *lim)
{
	(void)lim;
	return wire_parse_version(v->payload, v->len, &v->u.version.major,
				  &v->u.version.minor, &v->u.version.json,
				  &v->u.version.json_len, &v->why);
}

static int parse_dma_map(struct uvfio_cmd_view *v,
			 const struct uvfio_limits *lim)
{
	struct uvfio_dma_map *m = &v->u.dma_map;
	unsigned nfds = v->nfds;

	(void)lim;
	TAKE(*m, v);
	if (m->argsz < sizeof(*m))
		FAIL(EINVAL, "DMA_MAP argsz smaller than 32");
	if (m->flags & ~UVFIO_DMA_MAP_KNOWN)
		FAIL(EINVAL, "DMA_MAP has unknown flag bits");
	if ((m->flags & UVFIO_DMA_MAP_MMAP) &&
	    (m->flags & UVFIO_DMA_MAP_FILE_IO))
		FAIL(EINVAL, "DMA_MAP asks for both MMAP and FILE_IO");
	if (nfds > 1)
		FAIL(EINVAL, "DMA_MAP carries more than one fd");
	if (!nfds && (m->flags & (UVFIO_DMA_MAP_MMAP | UVFIO_DMA_MAP_FILE_IO)))
		FAIL(EINVAL, "DMA_MAP asks for MMAP/FILE_IO without an fd");
	if (m->size == 0)
		FAIL(EINVAL, "DMA_MAP size is 0");
	if (add_overflows(m->addr, m->size - 1))
		FAIL(EOVERFLOW, "DMA_MAP addr + size wraps");
	if (add_overflows(m->offset, m->size))
		FAIL(EOVERFLOW, "DMA_MAP offset + size wraps");
	return 0;
}

/* The bitmap header that follows a DMA_UNMAP with GET_DIRTY_BITMAP. */
static int parse_unmap_bitmap(struct uvfio_cmd_view *v)
{
	const struct uvfio_dma_unmap *u = &v->u.dma_unmap.req;
	struct uvfio_bitmap *b = &v->u.dma_unmap.bitmap;

	if (v->len < sizeof(*u) + sizeof(*b))
		FAIL(EINVAL, "DMA_UNMAP dirty bitmap header missing");
	memcpy(b, v->payload + sizeof(*u), sizeof(*b));
	if (!util_is_pow2(b->pgsize))
		FAIL(EINVAL, "DMA_UNMAP bitmap pgsize not a power of 2");
	uint64_t need = uvfio_bitmap_bytes(u->size, b->pgsize);
	if (b->size != need)
		FAIL(EINVAL, "DMA_UNMAP bitmap size does not match size/pgsize");
	if (need > UVFIO_MAX_BITMAP_BYTES)
		FAIL(E2BIG, "DMA_UNMAP bitmap larger than 256 MiB");
	if ((uint64_t)u->argsz < sizeof(*u) + sizeof(*b) + need)
		FAIL(EINVAL, "DMA_UNMAP argsz cannot hold the bitmap");
	return 0;
}

static int parse_dma_unmap(struct uvfio_cmd_view *v,
			   const struct uvfio_limits *lim)
{
	struct uvfio_dma_unmap *u = &v->u.dma_unmap.req;

	(void)lim;
	TAKE(*u, v);
	if (u->argsz < sizeof(*u))
		FAIL(EINVAL, "DMA_UNMAP argsz smaller than 24");
	if (u->flags & ~UVFIO_DMA_UNMAP_KNOWN)
		FAIL(EINVAL, "DMA_UNMAP has unknown flag bits");
	if (u->flags & UVFIO_DMA_UNMAP_ALL) {
		if (u->flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP)
			FAIL(EINVAL, "DMA_UNMAP ALL with GET_DIRTY_BITMAP");
		if (u->addr || u->size)
			FAIL(EINVAL, "DMA_UNMAP ALL needs addr 0 and size 0");
		return 0;
	}
	if (u->size == 0)
		FAIL(EINVAL, "DMA_UNMAP size is 0");
	if (add_overflows(u->addr, u->size - 1))
		FAIL(EOVERFLOW, "DMA_UNMAP addr + size wraps");
	if (u->flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP)
		return parse_unmap_bitmap(v);
	return 0;
}

static int parse_device_info(struct uvfio_cmd_view *v,
			     const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.device_info, v);
	if (v->u.device_info.argsz < sizeof(struct uvfio_device_info))
		FAIL(EINVAL, "DEVICE_GET_INFO argsz smaller than 16");
	return 0;
}

static int parse_region_info(struct uvfio_cmd_view *v,
			     const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.region_info, v);
	if (v->u.region_info.argsz < sizeof(struct uvfio_region_info))
		FAIL(EINVAL, "GET_REGION_INFO argsz smaller than 32");
	return 0;
}

static int parse_io_fds(struct uvfio_cmd_view *v,
			const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.io_fds, v);
	if (v->u.io_fds.argsz < sizeof(struct uvfio_io_fds))
		FAIL(EINVAL, "GET_REGION_IO_FDS argsz smaller than 16");
	if (v->u.io_fds.flags || v->u.io_fds.count)
		FAIL(EINVAL, "GET_REGION_IO_FDS flags and count must be 0");
	return 0;
}

static int parse_irq_info(struct uvfio_cmd_view *v,
			  const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.irq_info, v);
	if (v->u.irq_info.argsz < sizeof(struct uvfio_irq_info))
		FAIL(EINVAL, "GET_IRQ_INFO argsz smaller than 16");
	return 0;
}

/* What follows SET_IRQS's fixed part: bools, or fds beside the message. */
static int parse_set_irqs_data(struct uvfio_cmd_view *v, uint32_t data)
{
	const struct uvfio_irq_set *s = &v->u.irq_set.req;
	unsigned nfds = v->nfds;

	if (data == UVFIO_IRQ_DATA_BOOL) {
		if (v->len - sizeof(*s) != s->count)
			FAIL(EINVAL, "SET_IRQS DATA_BOOL payload is not "
				     "20 + count bytes");
		v->u.irq_set.bools = v->payload + sizeof(*s);
	}
	if (data == UVFIO_IRQ_DATA_EVENTFD) {
		if (nfds && nfds != s->count)
			FAIL(EINVAL, "SET_IRQS DATA_EVENTFD needs count fds "
				     "or none");
	} else if (nfds) {
		FAIL(EINVAL, "SET_IRQS fds without DATA_EVENTFD");
	}
	return 0;
}

static int parse_set_irqs(struct uvfio_cmd_view *v,
			  const struct uvfio_limits *lim)
{
	struct uvfio_irq_set *s = &v->u.irq_set.req;

	(void)lim;
	TAKE(*s, v);
	uint32_t data = s->flags & UVFIO_IRQ_DATA_MASK;
	uint32_t action = s->flags & UVFIO_IRQ_ACTION_MASK_ALL;
	if (s->argsz < sizeof(*s))
		FAIL(EINVAL, "SET_IRQS argsz smaller than 20");
	if (s->flags & ~(UVFIO_IRQ_DATA_MASK | UVFIO_IRQ_ACTION_MASK_ALL))
		FAIL(EINVAL, "SET_IRQS has unknown flag bits");
	if (!util_is_pow2(data) || !util_is_pow2(action))
		FAIL(EINVAL, "SET_IRQS needs exactly one DATA and one "
			     "ACTION flag");
	if (add_overflows(s->start, s->count) ||
	    (uint64_t)s->start + s->count > UINT32_MAX)
		FAIL(EOVERFLOW, "SET_IRQS start + count wraps");
	if (s->count == 0 &&
	    (s->start != 0 || data != UVFIO_IRQ_DATA_NONE ||
	     action != UVFIO_IRQ_ACTION_TRIGGER))
		FAIL(EINVAL, "SET_IRQS count 0 is only valid as "
			     "NONE|TRIGGER with start 0 (disable)");
	return parse_set_irqs_data(v, data);
}

/* REGION_READ and REGION_WRITE. */
static int parse_region_rw(struct uvfio_cmd_view *v,
			   const struct uvfio_limits *lim)
{
	struct uvfio_region_rw *r = &v->u.region_rw.req;

	TAKE(*r, v);
	if (r->count > lim->max_data_xfer)
		FAIL(E2BIG, "region access count exceeds max_data_xfer_size");
	if (add_overflows(r->offset, r->count))
		FAIL(EOVERFLOW, "region access offset + count wraps");
	if (v->hdr.cmd == UVFIO_CMD_REGION_WRITE) {
		if (v->len - sizeof(*r) != r->count)
			FAIL(EINVAL, "REGION_WRITE payload is not "
				     "16 + count bytes");
		v->u.region_rw.data = v->payload + sizeof(*r);
	} else if (v->len != sizeof(*r)) {
		FAIL(EINVAL, "REGION_READ payload is not 16 bytes");
	}
	return 0;
}

/* DMA_READ and DMA_WRITE, the spec's layout (the client receives them). */
static int parse_dma_rw(struct uvfio_cmd_view *v,
			const struct uvfio_limits *lim)
{
	struct uvfio_dma_rw d;

	TAKE(d, v);
	if (d.count > lim->max_data_xfer)
		FAIL(E2BIG, "DMA access count exceeds max_data_xfer_size");
	if (add_overflows(d.addr, d.count))
		FAIL(EOVERFLOW, "DMA access addr + count wraps");
	v->u.dma_rw.addr = d.addr;
	v->u.dma_rw.count = (uint32_t)d.count;
	if (v->hdr.cmd == UVFIO_CMD_DMA_WRITE) {
		if (v->len - sizeof(d) != d.count)
			FAIL(EINVAL, "DMA_WRITE payload is not "
				     "16 + count bytes");
		v->u.dma_rw.data = v->payload + sizeof(d);
	} else if (v->len != sizeof(d)) {
		FAIL(EINVAL, "DMA_READ payload is not 16 bytes");
	}
	return 0;
}

static int parse_reset(struct uvfio_cmd_view *v,
		       const struct uvfio_limits *lim)
{
	(void)lim;
	if (v->len != 0)
		FAIL(EINVAL, "DEVICE_RESET carries a payload");
	return 0;
}

static int parse_dirty_pages(struct uvfio_cmd_view *v,
			     const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.dirty_pages, v);
	return 0;
}

static int parse_write_multi(struct uvfio_cmd_view *v,
			     const struct uvfio_limits *lim)
{
	uint64_t n;

	if (!lim->write_multiple)
		FAIL(EINVAL, "REGION_WRITE_MULTI was not negotiated");
	if (v->len < sizeof(n))
		FAIL(EINVAL, "REGION_WRITE_MULTI payload shorter than 8");
	memcpy(&n, v->payload, sizeof(n));
	if (n == 0 || n > UVFIO_MAX_WRITE_MULTI)
		FAIL(EINVAL, "REGION_WRITE_MULTI wr_cnt is 0 or too large");
	if (v->len - sizeof(n) != n * sizeof(struct uvfio_write_multi_entry))
		FAIL(EINVAL, "REGION_WRITE_MULTI payload is not "
			     "8 + 24 * wr_cnt bytes");
	const uint8_t *p = v->payload + sizeof(n);
	for (uint64_t i = 0; i < n; i++) {
		struct uvfio_write_multi_entry e;
		memcpy(&e, p + i * sizeof(e), sizeof(e));
		if (e.count == 0 || e.count > UVFIO_WRITE_MULTI_DATA)
			FAIL(EINVAL, "REGION_WRITE_MULTI entry count "
				     "not in 1..8");
		if (add_overflows(e.offset, e.count))
			FAIL(EOVERFLOW, "REGION_WRITE_MULTI entry wraps");
	}
	v->u.write_multi.n = (uint32_t)n;
	v->u.write_multi.wrs = p;
	return 0;
}

/* ---- DEVICE_FEATURE: the operation, then one checker per feature ---------- */

/* Which of GET, SET and PROBE a DEVICE_FEATURE asks for. */
struct feature_ops {
	bool get, set, probe;
};

static int feature_migration(struct uvfio_cmd_view *v, struct feature_ops op)
{
	if (op.set)
		FAIL(EINVAL, "MIGRATION feature cannot be SET");
	if (op.get && !op.probe &&
	    v->u.feature.req.argsz < sizeof(struct uvfio_feature) +
					     sizeof(struct uvfio_feature_migration))
		FAIL(EINVAL, "MIGRATION GET argsz smaller than 16");
	return 0;
}

static int feature_mig_state(struct uvfio_cmd_view *v, struct feature_ops op)
{
	struct uvfio_feature_mig_state st;

	if (op.probe)
		return 0;
	if (op.get && v->u.feature.req.argsz <
			      sizeof(struct uvfio_feature) + sizeof(st))
		FAIL(EINVAL, "MIG_DEVICE_STATE GET argsz smaller than 16");
	if (!op.set)
		return 0;
	if (v->u.feature.data_len < sizeof(st))
		FAIL(EINVAL, "MIG_DEVICE_STATE SET payload shorter than 16");
	memcpy(&st, v->u.feature.data, sizeof(st));
	if (st.device_state >= UVFIO_MIG_NUM_STATES)
		FAIL(EINVAL, "MIG_DEVICE_STATE state out of range");
	return 0;
}

static int feature_log_start(struct uvfio_cmd_view *v, struct feature_ops op)
{
	struct uvfio_feature_log_start ls;
	uint32_t dl = v->u.feature.data_len;

	if (op.get)
		FAIL(EINVAL, "DMA_LOGGING_START cannot be GET");
	if (op.probe)
		return 0;
	if (dl < sizeof(ls))
		FAIL(EINVAL, "DMA_LOGGING_START payload shorter than 24");
	memcpy(&ls, v->u.feature.data, sizeof(ls));
	if (!util_is_pow2(ls.page_size))
		FAIL(EINVAL, "DMA_LOGGING_START page_size not a power of 2");
	if ((uint64_t)ls.num_ranges * sizeof(struct uvfio_log_range) >
	    dl - sizeof(ls))
		FAIL(EINVAL, "DMA_LOGGING_START ranges exceed the payload");
	for (uint32_t i = 0; i < ls.num_ranges; i++) {
		struct uvfio_log_range r;
		memcpy(&r, v->u.feature.data + sizeof(ls) + i * sizeof(r),
		       sizeof(r));
		if (r.length == 0 || add_overflows(r.iova, r.length))
			FAIL(EINVAL, "DMA_LOGGING_START range empty or wrapping");
	}
	return 0;
}

static int feature_log_stop(struct uvfio_cmd_view *v, struct feature_ops op)
{
	if (op.get)
		FAIL(EINVAL, "DMA_LOGGING_STOP cannot be GET");
	return 0;
}

static int feature_log_report(struct uvfio_cmd_view *v, struct feature_ops op)
{
	struct uvfio_feature_log_report rep;

	if (op.set)
		FAIL(EINVAL, "DMA_LOGGING_REPORT cannot be SET");
	if (op.probe)
		return 0;
	if (v->u.feature.data_len < sizeof(rep))
		FAIL(EINVAL, "DMA_LOGGING_REPORT payload shorter than 32");
	memcpy(&rep, v->u.feature.data, sizeof(rep));
	if (!util_is_pow2(rep.page_size))
		FAIL(EINVAL, "DMA_LOGGING_REPORT page_size not a power of 2");
	if (rep.length < rep.page_size)
		FAIL(EINVAL, "DMA_LOGGING_REPORT length below page_size");
	if (add_overflows(rep.iova, rep.length))
		FAIL(EOVERFLOW, "DMA_LOGGING_REPORT range wraps");
	/* length >= page_size: at least one word, never 0. */
	uint64_t bm = uvfio_bitmap_bytes(rep.length, rep.page_size);
	if (bm > UVFIO_MAX_BITMAP_BYTES)
		FAIL(E2BIG, "DMA_LOGGING_REPORT bitmap larger than 256 MiB");
	if ((uint64_t)v->u.feature.req.argsz <
	    sizeof(struct uvfio_feature) + sizeof(rep) + bm)
		FAIL(EINVAL, "DMA_LOGGING_REPORT argsz cannot hold the bitmap");
	v->u.feature.bitmap_bytes = bm;
	return 0;
}

static int parse_feature(struct uvfio_cmd_view *v,
			 const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.feature.req, v);
	uint32_t flags = v->u.feature.req.flags;
	uint32_t ops = flags & (UVFIO_FEATURE_GET | UVFIO_FEATURE_SET |
				UVFIO_FEATURE_PROBE);
	struct feature_ops op = {
		.get = flags & UVFIO_FEATURE_GET,
		.set = flags & UVFIO_FEATURE_SET,
		.probe = flags & UVFIO_FEATURE_PROBE,
	};

	v->u.feature.feature = flags & UVFIO_FEATURE_MASK;
	v->u.feature.data = v->payload + sizeof(struct uvfio_feature);
	v->u.feature.data_len = v->len - (uint32_t)sizeof(struct uvfio_feature);
	v->u.feature.bitmap_bytes = 0;

	if (flags & ~(ops | UVFIO_FEATURE_MASK))
		FAIL(EINVAL, "DEVICE_FEATURE has unknown flag bits");
	if (!ops)
		FAIL(EINVAL, "DEVICE_FEATURE names none of GET, SET, PROBE");
	if (op.get && op.set && !op.probe)
		FAIL(EINVAL, "DEVICE_FEATURE has both GET and SET without PROBE");
	if (v->u.feature.req.argsz < sizeof(struct uvfio_feature))
		FAIL(EINVAL, "DEVICE_FEATURE argsz smaller than 8");

	switch (v->u.feature.feature) {
	case UVFIO_FEATURE_MIGRATION:
		return feature_migration(v, op);
	case UVFIO_FEATURE_MIG_DEVICE_STATE:
		return feature_mig_state(v, op);
	case UVFIO_FEATURE_DMA_LOGGING_START:
		return feature_log_start(v, op);
	case UVFIO_FEATURE_DMA_LOGGING_STOP:
		return feature_log_stop(v, op);
	case UVFIO_FEATURE_DMA_LOGGING_REPORT:
		return feature_log_report(v, op);
	default:
		FAIL(ENOTSUP, "DEVICE_FEATURE index not supported by vfio-user");
	}
}

/* MIG_DATA_READ and MIG_DATA_WRITE. */
static int parse_mig_data(struct uvfio_cmd_view *v,
			  const struct uvfio_limits *lim)
{
	struct uvfio_mig_data *m = &v->u.mig_data.req;

	TAKE(*m, v);
	if (m->size > lim->max_data_xfer)
		FAIL(E2BIG, "MIG_DATA size exceeds max_data_xfer_size");
	if ((uint64_t)m->argsz < sizeof(*m) + (uint64_t)m->size)
		FAIL(EINVAL, "MIG_DATA argsz smaller than 8 + size");
	if (v->hdr.cmd == UVFIO_CMD_MIG_DATA_WRITE) {
		if (v->len - sizeof(*m) < m->size)
			FAIL(EINVAL, "MIG_DATA_WRITE payload shorter "
				     "than 8 + size");
		v->u.mig_data.data = v->payload + sizeof(*m);
	}
	return 0;
}

static const cmd_parser_fn cmd_parsers[UVFIO_CMD_MAX + 1] = {
	[UVFIO_CMD_VERSION] = parse_version,
	[UVFIO_CMD_DMA_MAP] = parse_dma_map,
	[UVFIO_CMD_DMA_UNMAP] = parse_dma_unmap,
	[UVFIO_CMD_DEVICE_GET_INFO] = parse_device_info,
	[UVFIO_CMD_DEVICE_GET_REGION_INFO] = parse_region_info,
	[UVFIO_CMD_DEVICE_GET_REGION_IO_FDS] = parse_io_fds,
	[UVFIO_CMD_DEVICE_GET_IRQ_INFO] = parse_irq_info,
	[UVFIO_CMD_DEVICE_SET_IRQS] = parse_set_irqs,
	[UVFIO_CMD_REGION_READ] = parse_region_rw,
	[UVFIO_CMD_REGION_WRITE] = parse_region_rw,
	[UVFIO_CMD_DMA_READ] = parse_dma_rw,
	[UVFIO_CMD_DMA_WRITE] = parse_dma_rw,
	[UVFIO_CMD_DEVICE_RESET] = parse_reset,
	[UVFIO_CMD_DIRTY_PAGES] = parse_dirty_pages,
	[UVFIO_CMD_REGION_WRITE_MULTI] = parse_write_multi,
	[UVFIO_CMD_DEVICE_FEATURE] = parse_feature,
	[UVFIO_CMD_MIG_DATA_READ] = parse_mig_data,
	[UVFIO_CMD_MIG_DATA_WRITE] = parse_mig_data,
};

int uvfio_parse_command(const void *buf, size_t len, unsigned nfds,
			enum uvfio_role role, const struct uvfio_limits *lim,
			struct uvfio_cmd_view *v)
{
	memset(v, 0, sizeof(*v));
	if (len < UVFIO_HDR_SIZE)
		FAIL(EBADMSG, "message shorter than the 16-byte header");
	memcpy(&v->hdr, buf, sizeof(v->hdr));
	if (v->hdr.msg_size != len)
		FAIL(EBADMSG, "msg_size does not match the bytes received");
	if ((v->hdr.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_COMMAND)
		FAIL(EPROTO, "expected a command, got another message type");
	if (v->hdr.flags & UVFIO_F_ERROR)
		FAIL(EPROTO, "command carries the ERROR flag");
	v->payload = (const uint8_t *)buf + UVFIO_HDR_SIZE;
	v->len = (uint32_t)(len - UVFIO_HDR_SIZE);
	v->nfds = nfds;
	if (nfds > lim->max_msg_fds)
		FAIL(EINVAL, "more fds than max_msg_fds");

	uint16_t cmd = v->hdr.cmd;
	bool s2c = cmd == UVFIO_CMD_DMA_READ || cmd == UVFIO_CMD_DMA_WRITE;
	if (cmd == 0 || cmd > UVFIO_CMD_MAX || !cmd_parsers[cmd])
		FAIL(ENOSYS, "unknown command number");
	if (role == UVFIO_ROLE_SERVER && s2c)
		FAIL(EINVAL, "DMA_READ/DMA_WRITE are server-to-client commands");
	if (role == UVFIO_ROLE_CLIENT && !s2c)
		FAIL(EINVAL, "only DMA_READ/DMA_WRITE go server-to-client");

	/* Only DMA_MAP and SET_IRQS carry fds in a command. */
	if (nfds && cmd != UVFIO_CMD_DMA_MAP &&
	    cmd != UVFIO_CMD_DEVICE_SET_IRQS)
		FAIL(EINVAL, "fds attached to a command that takes none");

	return cmd_parsers[cmd](v, lim);
}
