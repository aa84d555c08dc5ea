/* SPDX-License-Identifier: MIT */
/*
 * Checking received messages: what every parser shares (headers, VERSION,
 * bitmap sizes), region capabilities and the heads of messages received in
 * place.  The commands are in parse_cmd.c, the replies in parse_reply.c.
 * Every rule exists because some peer in the field got it wrong; the tests
 * in tests/test_codec.c name them.
 */
#include "wire/parse_priv.h"

/* Largest errno a peer may send: Linux's MAX_ERRNO; above it, an error_no
 * is garbage, not a reason. */
#define WIRE_MAX_ERRNO 4096u

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
	if (error_no == 0 || error_no > WIRE_MAX_ERRNO)
		return -EIO;
	return -(int)error_no;
}

/* The one bitmap-size rule of the library (uvfio_dma_logging_bitmap_size()
 * and the DMA window table use it too). */
uint64_t uvfio_bitmap_bytes(uint64_t length, uint64_t page_size)
{
	if (page_size == 0 || length == 0)
		return 0;
	uint64_t pages = length / page_size + (length % page_size != 0);
	uint64_t words = pages / WIRE_BITMAP_WORD_BITS +
			 (pages % WIRE_BITMAP_WORD_BITS != 0);
	/* pages < 2^64, so words <= 2^58 and the product <= 2^61: it cannot
	 * wrap, and no result needs to saturate. */
	return words * sizeof(uint64_t);
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

int wire_parse_version(const uint8_t *p, uint32_t len, uint16_t *major,
		       uint16_t *minor, const char **json, uint32_t *json_len,
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

/* The head of a message whose data is received in place: the header and
 * the fixed part, which REGION_READ replies and the spec's DMA messages
 * share the size of. */
#define WIRE_RW_HEAD (UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_rw))
_Static_assert(sizeof(struct uvfio_region_rw) == sizeof(struct uvfio_dma_rw),
	       "one head size for region and DMA data messages");

ssize_t uvfio_check_head(const void *msg, size_t have,
			 const struct uvfio_expect *exp,
			 const struct uvfio_limits *lim)
{
	struct uvfio_hdr h;
	uint8_t head[WIRE_RW_HEAD];
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
