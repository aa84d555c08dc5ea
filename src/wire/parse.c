/* SPDX-License-Identifier: MIT */
/*
 * Checking received messages.  Every rule here exists because some peer in
 * the field got it wrong; the tests in tests/test_codec.c name them.
 */
#include <errno.h>
#include <string.h>

#include <uvfio/codec.h>

#include "util/util.h"

#define FAIL(err, msg)                                                         \
	do {                                                                   \
		v->why = (msg);                                                \
		return -(err);                                                 \
	} while (0)

static const char *const cmd_names[] = {
	[0] = "UNKNOWN",
	[UVFIO_CMD_VERSION] = "VERSION",
	[UVFIO_CMD_DMA_MAP] = "DMA_MAP",
	[UVFIO_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[UVFIO_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[UVFIO_CMD_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[UVFIO_CMD_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[UVFIO_CMD_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[UVFIO_CMD_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[UVFIO_CMD_REGION_READ] = "REGION_READ",
	[UVFIO_CMD_REGION_WRITE] = "REGION_WRITE",
	[UVFIO_CMD_DMA_READ] = "DMA_READ",
	[UVFIO_CMD_DMA_WRITE] = "DMA_WRITE",
	[UVFIO_CMD_DEVICE_RESET] = "DEVICE_RESET",
	[UVFIO_CMD_DIRTY_PAGES] = "DIRTY_PAGES",
	[UVFIO_CMD_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[UVFIO_CMD_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[UVFIO_CMD_MIG_DATA_READ] = "MIG_DATA_READ",
	[UVFIO_CMD_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *uvfio_cmd_name(unsigned cmd)
{
	if (cmd > UVFIO_CMD_MAX)
		return cmd_names[0];
	return cmd_names[cmd];
}

int uvfio_errno_from_wire(uint32_t error_no)
{
	/* 0 with ERROR set is legal and means "failed, no reason given". */
	if (error_no == 0 || error_no > 4096)
		return -EIO;
	return -(int)error_no;
}

uint64_t uvfio_bitmap_bytes(uint64_t length, uint64_t page_size)
{
	if (page_size == 0 || length == 0)
		return 0;
	uint64_t pages = length / page_size + (length % page_size != 0);
	uint64_t words = pages / 64 + (pages % 64 != 0);
	if (words > UINT64_MAX / 8)
		return 0;
	return words * 8;
}

static bool add_overflows(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r);
}

int uvfio_check_header(const struct uvfio_hdr *hdr, uint32_t max_msg_size,
		       const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	uint32_t type = hdr->flags & UVFIO_F_TYPE_MASK;

	if (hdr->msg_size < UVFIO_HDR_SIZE) {
		*why = "msg_size is smaller than the 16-byte header";
		return -EBADMSG;
	}
	if (hdr->msg_size > max_msg_size) {
		*why = "msg_size exceeds the negotiated maximum message size";
		return -EMSGSIZE;
	}
	if (type != UVFIO_F_TYPE_COMMAND && type != UVFIO_F_TYPE_REPLY) {
		*why = "message type is neither command nor reply";
		return -EPROTO;
	}
	if (type == UVFIO_F_TYPE_REPLY && (hdr->flags & UVFIO_F_NO_REPLY)) {
		*why = "reply carries the NO_REPLY flag";
		return -EPROTO;
	}
	if (type == UVFIO_F_TYPE_COMMAND && (hdr->flags & UVFIO_F_ERROR)) {
		*why = "command carries the ERROR flag";
		return -EPROTO;
	}
	return 0;
}

/* Fixed-size part of a payload, copied out so no caller ever dereferences a
 * misaligned packed pointer into the receive buffer. */
#define TAKE(dst, v)                                                           \
	do {                                                                   \
		if ((v)->len < sizeof(dst))                                    \
			FAIL(EINVAL, "payload shorter than the command's "     \
				     "fixed structure");                       \
		memcpy(&(dst), (v)->payload, sizeof(dst));                     \
	} while (0)

static int parse_version_payload(const uint8_t *p, uint32_t len,
				 uint16_t *major, uint16_t *minor,
				 const char **json, uint32_t *json_len,
				 const char **why)
{
	struct uvfio_version ver;
	if (len < sizeof(ver)) {
		*why = "VERSION payload shorter than 4 bytes";
		return -EINVAL;
	}
	memcpy(&ver, p, sizeof(ver));
	*major = ver.major;
	*minor = ver.minor;
	*json = NULL;
	*json_len = len - (uint32_t)sizeof(ver);
	if (*json_len == 0)
		return 0;
	const char *s = (const char *)p + sizeof(ver);
	if (*json_len > UVFIO_MAX_JSON_LEN) {
		*why = "VERSION JSON longer than 4096 bytes";
		return -E2BIG;
	}
	if (s[*json_len - 1] != '\0') {
		*why = "VERSION JSON is not NUL-terminated";
		return -EINVAL;
	}
	if (strlen(s) + 1 != *json_len) {
		*why = "VERSION JSON contains an interior NUL byte";
		return -EINVAL;
	}
	*json = s;
	return 0;
}

static int parse_feature(struct uvfio_cmd_view *v, const struct uvfio_limits *lim)
{
	(void)lim;
	TAKE(v->u.feature.req, v);
	uint32_t flags = v->u.feature.req.flags;
	uint32_t ops = flags & (UVFIO_FEATURE_GET | UVFIO_FEATURE_SET |
				UVFIO_FEATURE_PROBE);
	uint32_t feature = flags & UVFIO_FEATURE_MASK;
	bool probe = flags & UVFIO_FEATURE_PROBE;
	bool get = flags & UVFIO_FEATURE_GET;
	bool set = flags & UVFIO_FEATURE_SET;

	v->u.feature.feature = feature;
	v->u.feature.data = v->payload + sizeof(struct uvfio_feature);
	v->u.feature.data_len = v->len - (uint32_t)sizeof(struct uvfio_feature);
	v->u.feature.bitmap_bytes = 0;

	if (flags & ~(ops | UVFIO_FEATURE_MASK))
		FAIL(EINVAL, "DEVICE_FEATURE has unknown flag bits");
	if (!ops)
		FAIL(EINVAL, "DEVICE_FEATURE names none of GET, SET, PROBE");
	if (get && set && !probe)
		FAIL(EINVAL, "DEVICE_FEATURE has both GET and SET without PROBE");
	if (v->u.feature.req.argsz < sizeof(struct uvfio_feature))
		FAIL(EINVAL, "DEVICE_FEATURE argsz smaller than 8");

	uint32_t dl = v->u.feature.data_len;
	switch (feature) {
	case UVFIO_FEATURE_MIGRATION:
		if (set)
			FAIL(EINVAL, "MIGRATION feature cannot be SET");
		if (get && !probe &&
		    v->u.feature.req.argsz < sizeof(struct uvfio_feature) +
						     sizeof(struct uvfio_feature_migration))
			FAIL(EINVAL, "MIGRATION GET argsz smaller than 16");
		return 0;
	case UVFIO_FEATURE_MIG_DEVICE_STATE: {
		if (probe)
			return 0;
		if (get && v->u.feature.req.argsz <
				   sizeof(struct uvfio_feature) +
					   sizeof(struct uvfio_feature_mig_state))
			FAIL(EINVAL, "MIG_DEVICE_STATE GET argsz smaller than 16");
		if (set) {
			struct uvfio_feature_mig_state st;
			if (dl < sizeof(st))
				FAIL(EINVAL, "MIG_DEVICE_STATE SET payload "
					     "shorter than 16");
			memcpy(&st, v->u.feature.data, sizeof(st));
			if (st.device_state >= UVFIO_MIG_NUM_STATES)
				FAIL(EINVAL, "MIG_DEVICE_STATE state out of range");
		}
		return 0;
	}
	case UVFIO_FEATURE_DMA_LOGGING_START: {
		if (get)
			FAIL(EINVAL, "DMA_LOGGING_START cannot be GET");
		if (probe)
			return 0;
		struct uvfio_feature_log_start ls;
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
				FAIL(EINVAL, "DMA_LOGGING_START range empty or "
					     "wrapping");
		}
		return 0;
	}
	case UVFIO_FEATURE_DMA_LOGGING_STOP:
		if (get)
			FAIL(EINVAL, "DMA_LOGGING_STOP cannot be GET");
		return 0;
	case UVFIO_FEATURE_DMA_LOGGING_REPORT: {
		if (set)
			FAIL(EINVAL, "DMA_LOGGING_REPORT cannot be SET");
		if (probe)
			return 0;
		struct uvfio_feature_log_report rep;
		if (dl < sizeof(rep))
			FAIL(EINVAL, "DMA_LOGGING_REPORT payload shorter than 32");
		memcpy(&rep, v->u.feature.data, sizeof(rep));
		if (!util_is_pow2(rep.page_size))
			FAIL(EINVAL, "DMA_LOGGING_REPORT page_size not a power of 2");
		if (rep.length < rep.page_size)
			FAIL(EINVAL, "DMA_LOGGING_REPORT length below page_size");
		if (add_overflows(rep.iova, rep.length))
			FAIL(EOVERFLOW, "DMA_LOGGING_REPORT range wraps");
		uint64_t bm = uvfio_bitmap_bytes(rep.length, rep.page_size);
		if (bm == 0 || bm > UVFIO_MAX_BITMAP_BYTES)
			FAIL(E2BIG, "DMA_LOGGING_REPORT bitmap larger than 256 MiB");
		if ((uint64_t)v->u.feature.req.argsz <
		    sizeof(struct uvfio_feature) + sizeof(rep) + bm)
			FAIL(EINVAL, "DMA_LOGGING_REPORT argsz cannot hold the "
				     "bitmap");
		v->u.feature.bitmap_bytes = bm;
		return 0;
	}
	default:
		FAIL(ENOTSUP, "DEVICE_FEATURE index not supported by vfio-user");
	}
}

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
	if (cmd == 0 || cmd > UVFIO_CMD_MAX)
		FAIL(ENOSYS, "unknown command number");
	if (role == UVFIO_ROLE_SERVER && s2c)
		FAIL(EINVAL, "DMA_READ/DMA_WRITE are server-to-client commands");
	if (role == UVFIO_ROLE_CLIENT && !s2c)
		FAIL(EINVAL, "only DMA_READ/DMA_WRITE go server-to-client");

	/* Only DMA_MAP and SET_IRQS carry fds in a command. */
	if (nfds && cmd != UVFIO_CMD_DMA_MAP &&
	    cmd != UVFIO_CMD_DEVICE_SET_IRQS)
		FAIL(EINVAL, "fds attached to a command that takes none");

	switch (cmd) {
	case UVFIO_CMD_VERSION:
		return parse_version_payload(v->payload, v->len,
					     &v->u.version.major,
					     &v->u.version.minor,
					     &v->u.version.json,
					     &v->u.version.json_len, &v->why);

	case UVFIO_CMD_DMA_MAP: {
		struct uvfio_dma_map *m = &v->u.dma_map;
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
		if (!nfds && (m->flags & (UVFIO_DMA_MAP_MMAP |
					  UVFIO_DMA_MAP_FILE_IO)))
			FAIL(EINVAL, "DMA_MAP asks for MMAP/FILE_IO without an fd");
		if (m->size == 0)
			FAIL(EINVAL, "DMA_MAP size is 0");
		if (add_overflows(m->addr, m->size - 1))
			FAIL(EOVERFLOW, "DMA_MAP addr + size wraps");
		if (add_overflows(m->offset, m->size))
			FAIL(EOVERFLOW, "DMA_MAP offset + size wraps");
		return 0;
	}

	case UVFIO_CMD_DMA_UNMAP: {
		struct uvfio_dma_unmap *u = &v->u.dma_unmap.req;
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
		if (u->flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP) {
			struct uvfio_bitmap *b = &v->u.dma_unmap.bitmap;
			if (v->len < sizeof(*u) + sizeof(*b))
				FAIL(EINVAL, "DMA_UNMAP dirty bitmap header missing");
			memcpy(b, v->payload + sizeof(*u), sizeof(*b));
			if (!util_is_pow2(b->pgsize))
				FAIL(EINVAL, "DMA_UNMAP bitmap pgsize not a power of 2");
			uint64_t need = uvfio_bitmap_bytes(u->size, b->pgsize);
			if (b->size != need)
				FAIL(EINVAL, "DMA_UNMAP bitmap size does not match "
					     "size/pgsize");
			if (need > UVFIO_MAX_BITMAP_BYTES)
				FAIL(E2BIG, "DMA_UNMAP bitmap larger than 256 MiB");
			if ((uint64_t)u->argsz < sizeof(*u) + sizeof(*b) + need)
				FAIL(EINVAL, "DMA_UNMAP argsz cannot hold the bitmap");
		}
		return 0;
	}

	case UVFIO_CMD_DEVICE_GET_INFO:
		TAKE(v->u.device_info, v);
		if (v->u.device_info.argsz < sizeof(struct uvfio_device_info))
			FAIL(EINVAL, "DEVICE_GET_INFO argsz smaller than 16");
		return 0;

	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		TAKE(v->u.region_info, v);
		if (v->u.region_info.argsz < sizeof(struct uvfio_region_info))
			FAIL(EINVAL, "GET_REGION_INFO argsz smaller than 32");
		return 0;

	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		TAKE(v->u.io_fds, v);
		if (v->u.io_fds.argsz < sizeof(struct uvfio_io_fds))
			FAIL(EINVAL, "GET_REGION_IO_FDS argsz smaller than 16");
		if (v->u.io_fds.flags || v->u.io_fds.count)
			FAIL(EINVAL, "GET_REGION_IO_FDS flags and count must be 0");
		return 0;

	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		TAKE(v->u.irq_info, v);
		if (v->u.irq_info.argsz < sizeof(struct uvfio_irq_info))
			FAIL(EINVAL, "GET_IRQ_INFO argsz smaller than 16");
		return 0;

	case UVFIO_CMD_DEVICE_SET_IRQS: {
		struct uvfio_irq_set *s = &v->u.irq_set.req;
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

	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE: {
		struct uvfio_region_rw *r = &v->u.region_rw.req;
		TAKE(*r, v);
		if (r->count > lim->max_data_xfer)
			FAIL(E2BIG, "region access count exceeds "
				    "max_data_xfer_size");
		if (add_overflows(r->offset, r->count))
			FAIL(EOVERFLOW, "region access offset + count wraps");
		if (cmd == UVFIO_CMD_REGION_WRITE) {
			if (v->len - sizeof(*r) != r->count)
				FAIL(EINVAL, "REGION_WRITE payload is not "
					     "16 + count bytes");
			v->u.region_rw.data = v->payload + sizeof(*r);
		} else if (v->len != sizeof(*r)) {
			FAIL(EINVAL, "REGION_READ payload is not 16 bytes");
		}
		return 0;
	}

	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE: {
		struct uvfio_dma_rw d;
		TAKE(d, v);
		if (d.count > lim->max_data_xfer)
			FAIL(E2BIG, "DMA access count exceeds max_data_xfer_size");
		if (add_overflows(d.addr, d.count))
			FAIL(EOVERFLOW, "DMA access addr + count wraps");
		v->u.dma_rw.addr = d.addr;
		v->u.dma_rw.count = (uint32_t)d.count;
		if (cmd == UVFIO_CMD_DMA_WRITE) {
			if (v->len - sizeof(d) != d.count)
				FAIL(EINVAL, "DMA_WRITE payload is not "
					     "16 + count bytes");
			v->u.dma_rw.data = v->payload + sizeof(d);
		} else if (v->len != sizeof(d)) {
			FAIL(EINVAL, "DMA_READ payload is not 16 bytes");
		}
		return 0;
	}

	case UVFIO_CMD_DEVICE_RESET:
		if (v->len != 0)
			FAIL(EINVAL, "DEVICE_RESET carries a payload");
		return 0;

	case UVFIO_CMD_DIRTY_PAGES:
		TAKE(v->u.dirty_pages, v);
		return 0;

	case UVFIO_CMD_REGION_WRITE_MULTI: {
		uint64_t n;
		if (!lim->write_multiple)
			FAIL(EINVAL, "REGION_WRITE_MULTI was not negotiated");
		if (v->len < sizeof(n))
			FAIL(EINVAL, "REGION_WRITE_MULTI payload shorter than 8");
		memcpy(&n, v->payload, sizeof(n));
		if (n == 0 || n > UVFIO_MAX_WRITE_MULTI)
			FAIL(EINVAL, "REGION_WRITE_MULTI wr_cnt is 0 or too large");
		if (v->len - sizeof(n) !=
		    n * sizeof(struct uvfio_write_multi_entry))
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

	case UVFIO_CMD_DEVICE_FEATURE:
		return parse_feature(v, lim);

	case UVFIO_CMD_MIG_DATA_READ:
	case UVFIO_CMD_MIG_DATA_WRITE: {
		struct uvfio_mig_data *m = &v->u.mig_data.req;
		TAKE(*m, v);
		if (m->size > lim->max_data_xfer)
			FAIL(E2BIG, "MIG_DATA size exceeds max_data_xfer_size");
		if ((uint64_t)m->argsz < sizeof(*m) + (uint64_t)m->size)
			FAIL(EINVAL, "MIG_DATA argsz smaller than 8 + size");
		if (cmd == UVFIO_CMD_MIG_DATA_WRITE) {
			if (v->len - sizeof(*m) < m->size)
				FAIL(EINVAL, "MIG_DATA_WRITE payload shorter "
					     "than 8 + size");
			v->u.mig_data.data = v->payload + sizeof(*m);
		}
		return 0;
	}
	}
	FAIL(ENOSYS, "unknown command number");
}

/* ---- replies -------------------------------------------------------------- */

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

	switch (e->cmd) {
	case UVFIO_CMD_VERSION:
		return parse_version_payload(v->payload, v->len,
					     &v->u.version.major,
					     &v->u.version.minor,
					     &v->u.version.json,
					     &v->u.version.json_len, &v->why)
			       ? -EPROTO
			       : 0;

	case UVFIO_CMD_DMA_MAP:
	case UVFIO_CMD_DEVICE_SET_IRQS:
	case UVFIO_CMD_DEVICE_RESET:
	case UVFIO_CMD_MIG_DATA_WRITE:
		if (v->len)
			FAIL(EPROTO, "reply to this command must be header-only");
		return 0;

	case UVFIO_CMD_DMA_UNMAP:
		if (v->len < sizeof(struct uvfio_dma_unmap) || v->len > e->argsz)
			FAIL(EPROTO, "DMA_UNMAP reply size outside [24, argsz]");
		memcpy(&v->u.dma_unmap, v->payload, sizeof(v->u.dma_unmap));
		return 0;

	case UVFIO_CMD_DEVICE_GET_INFO:
		if (v->len < sizeof(struct uvfio_device_info) || v->len > e->argsz)
			FAIL(EPROTO, "DEVICE_GET_INFO reply size outside "
				     "[16, argsz]");
		memcpy(&v->u.device_info, v->payload,
		       sizeof(v->u.device_info));
		return 0;

	case UVFIO_CMD_DEVICE_GET_REGION_INFO: {
		struct uvfio_region_info *ri = &v->u.region_info.info;
		if (v->len < sizeof(*ri) || v->len > e->argsz)
			FAIL(EPROTO, "GET_REGION_INFO reply size outside "
				     "[32, argsz]");
		memcpy(ri, v->payload, sizeof(*ri));
		if (ri->index != e->index)
			FAIL(EPROTO, "GET_REGION_INFO reply index differs");
		if (ri->argsz < sizeof(*ri))
			FAIL(EPROTO, "GET_REGION_INFO reply argsz below 32");
		v->u.region_info.complete = ri->argsz <= v->len;
		if (nfds && !(ri->flags & UVFIO_REGION_MMAP))
			FAIL(EPROTO, "GET_REGION_INFO fd for a region without MMAP");
		/* libvfio-user sends the fd only with the complete reply, so
		 * only there is it required. */
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

	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS: {
		struct uvfio_io_fds *h = &v->u.io_fds.hdr;
		if (v->len < sizeof(*h) || v->len > e->argsz)
			FAIL(EPROTO, "GET_REGION_IO_FDS reply size outside "
				     "[16, argsz]");
		memcpy(h, v->payload, sizeof(*h));
		if (h->index != e->index)
			FAIL(EPROTO, "GET_REGION_IO_FDS reply index differs");
		uint32_t body = v->len - (uint32_t)sizeof(*h);
		if (body == 0) {
			if (nfds)
				FAIL(EPROTO, "GET_REGION_IO_FDS fds without entries");
			return 0; /* truncated or empty: count says how many */
		}
		if (h->count == 0 || body % h->count)
			FAIL(EPROTO, "GET_REGION_IO_FDS entries do not divide "
				     "evenly");
		uint32_t stride = body / h->count;
		if (stride != sizeof(struct uvfio_io_fd_entry) &&
		    stride != sizeof(struct uvfio_io_fd_entry_lvu))
			FAIL(EPROTO, "GET_REGION_IO_FDS entry size is neither 40 "
				     "nor 48");
		v->u.io_fds.stride = stride;
		v->u.io_fds.entries = v->payload + sizeof(*h);
		for (uint32_t i = 0; i < h->count; i++) {
			struct uvfio_io_fd_entry ent;
			memcpy(&ent, v->u.io_fds.entries + (size_t)i * stride,
			       sizeof(ent));
			if (ent.fd_index != UVFIO_IO_FD_NONE &&
			    ent.fd_index >= nfds)
				FAIL(EPROTO, "GET_REGION_IO_FDS fd_index beyond "
					     "the fds received");
			if (ent.type > UVFIO_IO_FD_IOEVENTFD_SHADOW)
				FAIL(EPROTO, "GET_REGION_IO_FDS unknown entry type");
			if (add_overflows(ent.offset, ent.size))
				FAIL(EPROTO, "GET_REGION_IO_FDS entry wraps");
		}
		return 0;
	}

	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		if (v->len < sizeof(struct uvfio_irq_info) || v->len > e->argsz)
			FAIL(EPROTO, "GET_IRQ_INFO reply size outside [16, argsz]");
		memcpy(&v->u.irq_info, v->payload, sizeof(v->u.irq_info));
		if (v->u.irq_info.index != e->index)
			FAIL(EPROTO, "GET_IRQ_INFO reply index differs");
		return 0;

	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE: {
		struct uvfio_region_rw r;
		/* libvfio-user answers a zero-byte access with no payload. */
		if (v->len == 0 && e->count == 0)
			return 0;
		if (v->len < sizeof(r))
			FAIL(EPROTO, "region access reply shorter than 16 bytes");
		memcpy(&r, v->payload, sizeof(r));
		if (r.region != e->index || r.offset != e->addr)
			FAIL(EPROTO, "region access reply does not echo "
				     "region/offset");
		if (r.count > e->count)
			FAIL(EPROTO, "region access reply count exceeds request");
		if (e->cmd == UVFIO_CMD_REGION_READ) {
			if (v->len - sizeof(r) != r.count)
				FAIL(EPROTO, "REGION_READ reply is not 16 + count "
					     "bytes");
			v->u.region_rw.data = v->payload + sizeof(r);
		} else if (v->len != sizeof(r)) {
			FAIL(EPROTO, "REGION_WRITE reply is not 16 bytes");
		}
		v->u.region_rw.count = r.count;
		return 0;
	}

	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE: {
		uint64_t addr, count;
		size_t fixed;
		if (e->dma_layout == UVFIO_DMA_LAYOUT_QEMU) {
			struct uvfio_dma_rw_qemu q;
			if (e->cmd == UVFIO_CMD_DMA_WRITE) {
				if (v->len)
					FAIL(EPROTO, "QEMU DMA_WRITE reply must be "
						     "header-only");
				return 0;
			}
			if (v->len < sizeof(q))
				FAIL(EPROTO, "DMA_READ reply shorter than 12");
			memcpy(&q, v->payload, sizeof(q));
			addr = q.addr;
			count = q.count;
			fixed = sizeof(q);
			/* QEMU appends 4 bytes of struct padding. */
			if (v->len != fixed + count && v->len != fixed + count + 4)
				FAIL(EPROTO, "DMA_READ reply size does not match "
					     "count");
		} else {
			struct uvfio_dma_rw d;
			if (v->len < sizeof(d))
				FAIL(EPROTO, "DMA reply shorter than 16 bytes");
			memcpy(&d, v->payload, sizeof(d));
			addr = d.addr;
			count = d.count;
			fixed = sizeof(d);
			uint64_t want = e->cmd == UVFIO_CMD_DMA_READ ? count : 0;
			if (v->len - fixed != want)
				FAIL(EPROTO, "DMA reply size does not match count");
		}
		if (addr != e->addr || count != e->count)
			FAIL(EPROTO, "DMA reply does not echo address/count");
		v->u.dma_rw.count = (uint32_t)count;
		if (e->cmd == UVFIO_CMD_DMA_READ)
			v->u.dma_rw.data = v->payload + fixed;
		return 0;
	}

	case UVFIO_CMD_REGION_WRITE_MULTI:
		if (v->len != sizeof(uint64_t))
			FAIL(EPROTO, "REGION_WRITE_MULTI reply is not 8 bytes");
		memcpy(&v->u.write_multi_done, v->payload, sizeof(uint64_t));
		return 0;

	case UVFIO_CMD_DEVICE_FEATURE:
		if (v->len < sizeof(struct uvfio_feature) || v->len > e->argsz)
			FAIL(EPROTO, "DEVICE_FEATURE reply size outside [8, argsz]");
		memcpy(&v->u.feature.hdr, v->payload, sizeof(v->u.feature.hdr));
		v->u.feature.data = v->payload + sizeof(struct uvfio_feature);
		v->u.feature.data_len = v->len - (uint32_t)sizeof(struct uvfio_feature);
		return 0;

	case UVFIO_CMD_MIG_DATA_READ: {
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
	}
	FAIL(EPROTO, "reply to an unknown command");
}

/* ---- region capabilities --------------------------------------------------- */

int uvfio_parse_region_caps(const void *info, uint32_t len,
			    struct uvfio_region_caps *caps, const char **why)
{
	const uint8_t *p = info;
	struct uvfio_region_info ri;
	const char *dummy;
	if (!why)
		why = &dummy;
	memset(caps, 0, sizeof(*caps));
	if (len < sizeof(ri)) {
		*why = "region info shorter than 32 bytes";
		return -EPROTO;
	}
	memcpy(&ri, p, sizeof(ri));
	if (!(ri.flags & UVFIO_REGION_CAPS) || ri.cap_offset == 0)
		return 0;

	uint32_t off = ri.cap_offset, next_min = sizeof(ri);
	while (off) {
		struct uvfio_cap_hdr h;
		/* Each capability must start after the previous one ends:
		 * no loops, no overlaps. */
		if (off < next_min || (uint64_t)off + sizeof(h) > len) {
			*why = "capability offset outside the reply or "
			       "overlapping the previous one";
			return -EPROTO;
		}
		memcpy(&h, p + off, sizeof(h));
		uint32_t room = len - off;
		uint32_t size = sizeof(h);
		switch (h.id) {
		case UVFIO_CAP_SPARSE_MMAP: {
			struct uvfio_cap_sparse_mmap s;
			if (caps->has_sparse || room < sizeof(s)) {
				*why = "sparse mmap capability truncated or "
				       "repeated";
				return -EPROTO;
			}
			memcpy(&s, p + off, sizeof(s));
			if (s.nr_areas > UVFIO_MAX_SPARSE_AREAS ||
			    (uint64_t)s.nr_areas * sizeof(struct uvfio_sparse_area) >
				    room - sizeof(s)) {
				*why = "sparse mmap areas exceed the capability";
				return -EPROTO;
			}
			for (uint32_t i = 0; i < s.nr_areas; i++) {
				struct uvfio_sparse_area a;
				memcpy(&a, p + off + sizeof(s) + i * sizeof(a),
				       sizeof(a));
				if (add_overflows(a.offset, a.size) ||
				    a.offset + a.size > ri.size) {
					*why = "sparse mmap area outside the region";
					return -EPROTO;
				}
			}
			caps->has_sparse = true;
			caps->nr_areas = s.nr_areas;
			caps->areas = p + off + sizeof(s);
			size = sizeof(s) + s.nr_areas * sizeof(struct uvfio_sparse_area);
			break;
		}
		case UVFIO_CAP_TYPE: {
			struct uvfio_cap_type t;
			if (caps->has_type || room < sizeof(t)) {
				*why = "type capability truncated or repeated";
				return -EPROTO;
			}
			memcpy(&t, p + off, sizeof(t));
			caps->has_type = true;
			caps->type = t.type;
			caps->subtype = t.subtype;
			size = sizeof(t);
			break;
		}
		case UVFIO_CAP_MSIX_MAPPABLE:
			caps->msix_mappable = true;
			break;
		default:
			break;
		}
		next_min = off + size;
		off = h.next;
	}
	return 0;
}

ssize_t uvfio_check_head(const void *msg, size_t have,
			 const struct uvfio_expect *exp,
			 const struct uvfio_limits *lim)
{
	struct uvfio_hdr h;
	uint8_t head[UVFIO_HDR_SIZE + 16];
	size_t pre = sizeof(head);
	uint64_t count;

	if (have < pre)
		return -EINVAL;
	memcpy(&h, msg, sizeof(h));
	memcpy(head, msg, pre);
	/* Parsed as if the message ended after its head: count 0. */
	if (h.cmd == UVFIO_CMD_REGION_READ) {
		struct uvfio_region_rw rw;
		memcpy(&rw, head + UVFIO_HDR_SIZE, sizeof(rw));
		count = rw.count;
		rw.count = 0;
		memcpy(head + UVFIO_HDR_SIZE, &rw, sizeof(rw));
	} else if (h.cmd == UVFIO_CMD_DMA_READ || h.cmd == UVFIO_CMD_DMA_WRITE) {
		struct uvfio_dma_rw d;
		memcpy(&d, head + UVFIO_HDR_SIZE, sizeof(d));
		count = d.count;
		if (add_overflows(d.addr, count))
			return -EOVERFLOW; /* the check count 0 would skip */
		d.count = 0;
		memcpy(head + UVFIO_HDR_SIZE, &d, sizeof(d));
	} else {
		return -EINVAL;
	}
	if (h.msg_size != pre + count)
		return -EINVAL;
	h.msg_size = (uint32_t)pre;
	memcpy(head, &h, sizeof(h));
	if (!exp) {
		struct uvfio_cmd_view v;
		if (h.cmd != UVFIO_CMD_DMA_WRITE || !lim ||
		    count > lim->max_data_xfer)
			return -EINVAL;
		int r = uvfio_parse_command(head, pre, 0, UVFIO_ROLE_CLIENT, lim,
					    &v);
		return r ? r : (ssize_t)pre;
	}
	if (exp->cmd != h.cmd || count != exp->count ||
	    exp->dma_layout != UVFIO_DMA_LAYOUT_SPEC ||
	    (h.cmd != UVFIO_CMD_REGION_READ && h.cmd != UVFIO_CMD_DMA_READ))
		return -EINVAL;
	struct uvfio_expect e = *exp;
	e.count = 0;
	struct uvfio_reply_view v;
	int r = uvfio_parse_reply(head, pre, 0, &e, &v);
	if (!r && v.error)
		r = -EPROTO;
	return r ? r : (ssize_t)pre;
}
