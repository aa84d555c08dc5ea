/* SPDX-License-Identifier: MIT */
/*
 * fuzz_codec: every parser of src/wire/parse*.c, both directions.
 *
 * Input: a mode byte, then what the mode needs.
 *   0 command as the server parses it    (limits byte, nfds byte, message)
 *   1 command as the client parses it    (DMA_READ/DMA_WRITE)
 *   2 reply against an expectation       (expect fields, nfds, message)
 *   3 region capability chain            (a GET_REGION_INFO payload)
 *   4 header check                       (max size, 16 bytes)
 *   5 builders: fields -> message -> parse -> the same fields
 * The message is copied into a buffer of exactly its size, so any read
 * past it is an ASan report.
 *
 * Invariants: every pointer of an accepted view lies inside the message
 * with its counted bytes after it; counts times sizes fit the payload;
 * reply sizes stay within argsz and counts within the request; a
 * successful parse rebuilt with the builders parses to the same fields.
 */
#include <errno.h>

#include <uvfio/codec.h>

#include "fuzz.h"

static const uint32_t xfer_choices[4] = { 0, 16, 4096, 1u << 20 };

static void lim_from(struct fz *f, struct uvfio_limits *lim)
{
	uint8_t b = fz_u8(f);
	lim->max_data_xfer = xfer_choices[b & 3];
	lim->max_msg_fds = (b >> 2) & 7;
	lim->write_multiple = b & 0x20;
}

/* The message, alone in its own allocation. */
static uint8_t *take_msg(struct fz *f, size_t *len)
{
	const uint8_t *p = fz_bytes(f, f->n, len);
	uint8_t *m = malloc(*len ? *len : 1);
	if (!m)
		abort();
	memcpy(m, p, *len);
	return m;
}

static void check_version(const uint8_t *buf, size_t len, const char *json,
			  uint32_t json_len)
{
	if (!json) {
		FZ_CHECK(json_len == 0);
		return;
	}
	FZ_CHECK(fz_within(buf, len, json, json_len));
	FZ_CHECK(json_len >= 1 && json_len <= UVFIO_MAX_JSON_LEN);
	FZ_CHECK(json[json_len - 1] == '\0');
	FZ_CHECK(strlen(json) + 1 == json_len);
}

/* Rebuild an accepted command from its view and parse it again. */
static void command_round_trip(const struct uvfio_cmd_view *v,
			       enum uvfio_role role,
			       const struct uvfio_limits *lim)
{
	size_t cap = v->len + 64;
	uint8_t *b = malloc(cap);
	struct uvfio_cmd_view w;
	ssize_t n = -1;
	uint16_t id = v->hdr.msg_id;

	if (!b)
		abort();
	switch (v->hdr.cmd) {
	case UVFIO_CMD_VERSION:
		n = uvfio_build_version(b, cap, id, false, v->u.version.major,
					v->u.version.minor, v->u.version.json);
		break;
	case UVFIO_CMD_DMA_MAP:
		n = uvfio_build_dma_map(b, cap, id, v->u.dma_map.flags,
					v->u.dma_map.offset, v->u.dma_map.addr,
					v->u.dma_map.size);
		break;
	case UVFIO_CMD_DEVICE_GET_INFO:
		n = uvfio_build_device_get_info(b, cap, id);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		n = uvfio_build_get_region_info(b, cap, id,
						v->u.region_info.index,
						v->u.region_info.argsz);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		n = uvfio_build_get_region_io_fds(b, cap, id, v->u.io_fds.index,
						  v->u.io_fds.argsz);
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		n = uvfio_build_get_irq_info(b, cap, id, v->u.irq_info.index);
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS:
		n = uvfio_build_set_irqs(b, cap, id, v->u.irq_set.req.flags,
					 v->u.irq_set.req.index,
					 v->u.irq_set.req.start,
					 v->u.irq_set.req.count,
					 v->u.irq_set.bools);
		break;
	case UVFIO_CMD_REGION_READ:
		n = uvfio_build_region_read(b, cap, id, v->u.region_rw.req.region,
					    v->u.region_rw.req.offset,
					    v->u.region_rw.req.count);
		break;
	case UVFIO_CMD_REGION_WRITE:
		n = uvfio_build_region_write(b, cap, id, false,
					     v->u.region_rw.req.region,
					     v->u.region_rw.req.offset,
					     v->u.region_rw.data,
					     v->u.region_rw.req.count);
		break;
	case UVFIO_CMD_DMA_READ:
		n = uvfio_build_dma_read(b, cap, id, v->u.dma_rw.addr,
					 v->u.dma_rw.count);
		break;
	case UVFIO_CMD_DMA_WRITE:
		n = uvfio_build_dma_write(b, cap, id, v->u.dma_rw.addr,
					  v->u.dma_rw.data, v->u.dma_rw.count);
		break;
	case UVFIO_CMD_DEVICE_RESET:
		n = uvfio_build_device_reset(b, cap, id);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI: {
		struct uvfio_write_multi_entry *e =
			malloc((size_t)v->u.write_multi.n * sizeof(*e));
		if (!e)
			abort();
		memcpy(e, v->u.write_multi.wrs,
		       (size_t)v->u.write_multi.n * sizeof(*e));
		n = uvfio_build_write_multi(b, cap, id, e, v->u.write_multi.n);
		free(e);
		break;
	}
	case UVFIO_CMD_DEVICE_FEATURE:
		n = uvfio_build_device_feature(b, cap, id,
					       v->u.feature.req.argsz,
					       v->u.feature.req.flags,
					       v->u.feature.data,
					       v->u.feature.data_len);
		break;
	case UVFIO_CMD_MIG_DATA_READ:
		n = uvfio_build_mig_data_read(b, cap, id,
					      v->u.mig_data.req.size);
		break;
	case UVFIO_CMD_MIG_DATA_WRITE:
		n = uvfio_build_mig_data_write(b, cap, id, v->u.mig_data.data,
					       v->u.mig_data.req.size);
		break;
	default:
		break; /* DMA_UNMAP (bitmap), DIRTY_PAGES: no builder */
	}
	if (n < 0) {
		free(b);
		return;
	}
	FZ_CHECK((size_t)n <= cap);
	int r = uvfio_parse_command(b, (size_t)n, v->nfds, role, lim, &w);
	if (r) {
		fprintf(stderr, "rebuilt %s does not parse: %s\n",
			uvfio_cmd_name(v->hdr.cmd), w.why);
		abort();
	}
	FZ_CHECK(w.hdr.cmd == v->hdr.cmd && w.hdr.msg_id == v->hdr.msg_id);
	switch (v->hdr.cmd) {
	case UVFIO_CMD_VERSION:
		FZ_CHECK(w.u.version.major == v->u.version.major &&
			 w.u.version.minor == v->u.version.minor &&
			 w.u.version.json_len == v->u.version.json_len);
		break;
	case UVFIO_CMD_DMA_MAP:
		FZ_CHECK(w.u.dma_map.addr == v->u.dma_map.addr &&
			 w.u.dma_map.size == v->u.dma_map.size &&
			 w.u.dma_map.offset == v->u.dma_map.offset &&
			 w.u.dma_map.flags == v->u.dma_map.flags);
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS:
		FZ_CHECK(w.u.irq_set.req.flags == v->u.irq_set.req.flags &&
			 w.u.irq_set.req.index == v->u.irq_set.req.index &&
			 w.u.irq_set.req.count == v->u.irq_set.req.count &&
			 w.u.irq_set.req.start == v->u.irq_set.req.start);
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		FZ_CHECK(!memcmp(&w.u.region_rw.req, &v->u.region_rw.req,
				 sizeof(w.u.region_rw.req)));
		if (v->hdr.cmd == UVFIO_CMD_REGION_WRITE)
			FZ_CHECK(!memcmp(w.u.region_rw.data, v->u.region_rw.data,
					 v->u.region_rw.req.count));
		break;
	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE:
		FZ_CHECK(w.u.dma_rw.addr == v->u.dma_rw.addr &&
			 w.u.dma_rw.count == v->u.dma_rw.count);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI:
		FZ_CHECK(w.u.write_multi.n == v->u.write_multi.n &&
			 !memcmp(w.u.write_multi.wrs, v->u.write_multi.wrs,
				 (size_t)v->u.write_multi.n *
					 sizeof(struct uvfio_write_multi_entry)));
		break;
	case UVFIO_CMD_DEVICE_FEATURE:
		FZ_CHECK(w.u.feature.feature == v->u.feature.feature &&
			 w.u.feature.data_len == v->u.feature.data_len &&
			 w.u.feature.bitmap_bytes == v->u.feature.bitmap_bytes);
		break;
	case UVFIO_CMD_MIG_DATA_READ:
	case UVFIO_CMD_MIG_DATA_WRITE:
		FZ_CHECK(w.u.mig_data.req.size == v->u.mig_data.req.size);
		break;
	}
	free(b);
}

/*
 * uvfio_check_head() judges a message by its first 32 bytes when its data
 * goes elsewhere; it must agree with the full parser about any whole
 * message it accepts, and never accept what the parser refuses.
 */
static void check_head_command(const uint8_t *buf, size_t len, unsigned nfds,
			       enum uvfio_role role,
			       const struct uvfio_limits *lim, int parsed)
{
	ssize_t pre = uvfio_check_head(buf, len, NULL, lim);
	if (pre < 0)
		return;
	struct uvfio_hdr h;
	struct uvfio_dma_rw d;
	FZ_CHECK(pre == UVFIO_HDR_SIZE + (ssize_t)sizeof(d) && len >= 32);
	memcpy(&h, buf, sizeof(h));
	memcpy(&d, buf + UVFIO_HDR_SIZE, sizeof(d));
	FZ_CHECK(h.cmd == UVFIO_CMD_DMA_WRITE && h.msg_size == 32 + d.count);
	FZ_CHECK(d.count <= lim->max_data_xfer);
	if (len == h.msg_size && !nfds && role == UVFIO_ROLE_CLIENT)
		FZ_CHECK(parsed == 0);
}

static void check_head_reply(const uint8_t *buf, size_t len, unsigned nfds,
			     const struct uvfio_expect *e, int parsed,
			     const struct uvfio_reply_view *v)
{
	ssize_t pre = uvfio_check_head(buf, len, e, NULL);
	if (pre < 0)
		return;
	struct uvfio_hdr h;
	FZ_CHECK(pre == 32 && len >= 32);
	memcpy(&h, buf, sizeof(h));
	FZ_CHECK(h.cmd == e->cmd && h.msg_size == 32 + (uint64_t)e->count);
	FZ_CHECK(e->cmd == UVFIO_CMD_REGION_READ ||
		 e->cmd == UVFIO_CMD_DMA_READ);
	if (len == h.msg_size && nfds <= e->max_fds)
		FZ_CHECK(parsed == 0 && !v->error);
}

static void fuzz_command(struct fz *f, enum uvfio_role role)
{
	struct uvfio_limits lim;
	struct uvfio_cmd_view v;
	lim_from(f, &lim);
	unsigned nfds = fz_u8(f) & 15;
	size_t len;
	uint8_t *buf = take_msg(f, &len);

	int r = uvfio_parse_command(buf, len, nfds, role, &lim, &v);
	check_head_command(buf, len, nfds, role, &lim, r);
	if (r) {
		FZ_CHECK(r < 0 && r >= -4095);
		FZ_CHECK(v.why != NULL);
		free(buf);
		return;
	}
	FZ_CHECK(len >= UVFIO_HDR_SIZE && v.hdr.msg_size == len);
	FZ_CHECK(v.payload == buf + UVFIO_HDR_SIZE &&
		 v.len == len - UVFIO_HDR_SIZE);
	FZ_CHECK(v.nfds <= lim.max_msg_fds);
	FZ_CHECK(v.hdr.cmd >= 1 && v.hdr.cmd <= UVFIO_CMD_MAX);
	FZ_CHECK((v.hdr.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND);

	switch (v.hdr.cmd) {
	case UVFIO_CMD_VERSION:
		check_version(buf, len, v.u.version.json, v.u.version.json_len);
		break;
	case UVFIO_CMD_DMA_MAP:
		FZ_CHECK(v.u.dma_map.size && v.nfds <= 1);
		FZ_CHECK(v.u.dma_map.addr + (v.u.dma_map.size - 1) >=
			 v.u.dma_map.addr);
		break;
	case UVFIO_CMD_DMA_UNMAP:
		if (v.u.dma_unmap.req.flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP)
			FZ_CHECK(v.u.dma_unmap.bitmap.size <=
					 UVFIO_MAX_BITMAP_BYTES &&
				 v.u.dma_unmap.req.argsz >=
					 40 + v.u.dma_unmap.bitmap.size);
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS:
		if (v.u.irq_set.bools)
			FZ_CHECK(fz_within(buf, len, v.u.irq_set.bools,
					   v.u.irq_set.req.count));
		FZ_CHECK(!v.nfds || v.nfds == v.u.irq_set.req.count);
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		FZ_CHECK(v.u.region_rw.req.count <= lim.max_data_xfer);
		if (v.hdr.cmd == UVFIO_CMD_REGION_WRITE)
			FZ_CHECK(fz_within(buf, len, v.u.region_rw.data,
					   v.u.region_rw.req.count));
		break;
	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE:
		FZ_CHECK(role == UVFIO_ROLE_CLIENT);
		FZ_CHECK(v.u.dma_rw.count <= lim.max_data_xfer);
		if (v.hdr.cmd == UVFIO_CMD_DMA_WRITE)
			FZ_CHECK(fz_within(buf, len, v.u.dma_rw.data,
					   v.u.dma_rw.count));
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI:
		FZ_CHECK(lim.write_multiple);
		FZ_CHECK(v.u.write_multi.n >= 1 &&
			 v.u.write_multi.n <= UVFIO_MAX_WRITE_MULTI);
		FZ_CHECK(fz_within(buf, len, v.u.write_multi.wrs,
				   (uint64_t)v.u.write_multi.n *
					   sizeof(struct uvfio_write_multi_entry)));
		for (uint32_t i = 0; i < v.u.write_multi.n; i++) {
			struct uvfio_write_multi_entry e;
			memcpy(&e, v.u.write_multi.wrs + i * sizeof(e),
			       sizeof(e));
			FZ_CHECK(e.count >= 1 && e.count <= 8);
		}
		break;
	case UVFIO_CMD_DEVICE_FEATURE:
		FZ_CHECK(fz_within(buf, len, v.u.feature.data,
				   v.u.feature.data_len));
		FZ_CHECK(v.u.feature.bitmap_bytes <= UVFIO_MAX_BITMAP_BYTES);
		break;
	case UVFIO_CMD_MIG_DATA_READ:
	case UVFIO_CMD_MIG_DATA_WRITE:
		FZ_CHECK(v.u.mig_data.req.size <= lim.max_data_xfer);
		if (v.hdr.cmd == UVFIO_CMD_MIG_DATA_WRITE)
			FZ_CHECK(fz_within(buf, len, v.u.mig_data.data,
					   v.u.mig_data.req.size));
		break;
	}
	command_round_trip(&v, role, &lim);
	free(buf);
}

/* Commands whose reply size is bounded by the request's argsz. */
static bool reply_bounded_by_argsz(uint16_t cmd)
{
	switch (cmd) {
	case UVFIO_CMD_DMA_UNMAP:
	case UVFIO_CMD_DEVICE_GET_INFO:
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
	case UVFIO_CMD_DEVICE_FEATURE:
		return true;
	}
	return false;
}

static void check_region_caps(const uint8_t *buf, size_t len,
			      const uint8_t *info, uint32_t ilen)
{
	struct uvfio_region_caps caps;
	struct uvfio_region_info ri;
	const char *why = NULL;
	if (uvfio_parse_region_caps(info, ilen, &caps, &why)) {
		FZ_CHECK(why != NULL);
		return;
	}
	if (!caps.has_sparse)
		return;
	memcpy(&ri, info, sizeof(ri));
	FZ_CHECK(caps.nr_areas <= UVFIO_MAX_SPARSE_AREAS);
	FZ_CHECK(fz_within(buf, len, caps.areas,
			   (uint64_t)caps.nr_areas *
				   sizeof(struct uvfio_sparse_area)));
	FZ_CHECK(fz_within(info, ilen, caps.areas,
			   (uint64_t)caps.nr_areas *
				   sizeof(struct uvfio_sparse_area)));
	for (uint32_t i = 0; i < caps.nr_areas; i++) {
		struct uvfio_sparse_area a;
		memcpy(&a, caps.areas + i * sizeof(a), sizeof(a));
		FZ_CHECK(a.offset + a.size >= a.offset &&
			 a.offset + a.size <= ri.size);
	}
}

static void fuzz_reply(struct fz *f)
{
	struct uvfio_expect e = { 0 };
	struct uvfio_reply_view v;
	e.cmd = (uint16_t)(fz_u8(f) % (UVFIO_CMD_MAX + 2));
	e.msg_id = fz_u16(f);
	e.argsz = fz_u16(f); /* realistic argsz values are small */
	e.count = fz_u16(f);
	e.index = fz_u8(f) & 15;
	e.addr = fz_u64(f);
	uint8_t b = fz_u8(f);
	e.max_fds = b & 3;
	e.dma_layout = b & 4 ? UVFIO_DMA_LAYOUT_QEMU : UVFIO_DMA_LAYOUT_SPEC;
	unsigned nfds = (b >> 3) & 7;
	size_t len;
	uint8_t *buf = take_msg(f, &len);

	int r = uvfio_parse_reply(buf, len, nfds, &e, &v);
	check_head_reply(buf, len, nfds, &e, r, &v);
	if (r) {
		FZ_CHECK(r < 0 && v.why != NULL);
		free(buf);
		return;
	}
	FZ_CHECK(v.hdr.msg_size == len && v.hdr.msg_id == e.msg_id &&
		 v.hdr.cmd == e.cmd && v.nfds <= e.max_fds);
	FZ_CHECK(v.payload == buf + UVFIO_HDR_SIZE &&
		 v.len == len - UVFIO_HDR_SIZE);
	if (v.error) {
		FZ_CHECK(v.error < 0 && v.error >= -4096 && !v.nfds);
		free(buf);
		return;
	}
	if (reply_bounded_by_argsz(e.cmd))
		FZ_CHECK(v.len <= e.argsz);

	switch (e.cmd) {
	case UVFIO_CMD_VERSION:
		check_version(buf, len, v.u.version.json, v.u.version.json_len);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		FZ_CHECK(v.u.region_info.info.index == e.index);
		if (v.u.region_info.complete)
			check_region_caps(buf, len, v.payload, v.len);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		if (v.u.io_fds.stride) {
			FZ_CHECK(v.u.io_fds.stride == 40 ||
				 v.u.io_fds.stride == 48);
			FZ_CHECK(fz_within(buf, len, v.u.io_fds.entries,
					   (uint64_t)v.u.io_fds.stride *
						   v.u.io_fds.hdr.count));
		}
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		FZ_CHECK(v.u.region_rw.count <= e.count);
		if (v.u.region_rw.data)
			FZ_CHECK(fz_within(buf, len, v.u.region_rw.data,
					   v.u.region_rw.count));
		break;
	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE:
		FZ_CHECK(v.u.dma_rw.count == e.count || (!v.len &&
			 e.dma_layout == UVFIO_DMA_LAYOUT_QEMU));
		if (v.u.dma_rw.data)
			FZ_CHECK(fz_within(buf, len, v.u.dma_rw.data,
					   v.u.dma_rw.count));
		break;
	case UVFIO_CMD_DEVICE_FEATURE:
		FZ_CHECK(fz_within(buf, len, v.u.feature.data,
				   v.u.feature.data_len));
		break;
	case UVFIO_CMD_MIG_DATA_READ:
		FZ_CHECK(v.u.mig_data.size <= e.count);
		FZ_CHECK(fz_within(buf, len, v.u.mig_data.data,
				   v.u.mig_data.size));
		break;
	}
	free(buf);
}

static void fuzz_caps_chain(struct fz *f)
{
	size_t len;
	uint8_t *buf = take_msg(f, &len);
	check_region_caps(buf, len, buf, (uint32_t)len);
	free(buf);
}

static void fuzz_header(struct fz *f)
{
	uint32_t max = fz_u32(f);
	struct uvfio_hdr h;
	size_t got;
	const uint8_t *p = fz_bytes(f, sizeof(h), &got);
	memset(&h, 0, sizeof(h));
	memcpy(&h, p, got);
	const char *why = NULL;
	int r = uvfio_check_header(&h, max, &why);
	if (r) {
		FZ_CHECK(why && (r == -EBADMSG || r == -EMSGSIZE ||
				 r == -EPROTO));
		return;
	}
	FZ_CHECK(h.msg_size >= UVFIO_HDR_SIZE && h.msg_size <= max);
}

/* Builders from fields; what parses must carry the same fields. */
static void fuzz_builders(struct fz *f)
{
	uint8_t cmd = fz_u8(f) % 19;
	size_t cap = fz_u16(f) % 2048;
	uint8_t *b = malloc(cap ? cap : 1);
	const struct uvfio_limits lim = { 1u << 20, 16, true };
	struct uvfio_cmd_view v;
	uint16_t id = fz_u16(f);
	uint32_t a = fz_u32(f), c = fz_u32(f) % 4096;
	uint64_t x = fz_u64(f), y = fz_u64(f);
	size_t got;
	const uint8_t *data = fz_bytes(f, c, &got);
	ssize_t n = -ENOSPC;
	unsigned nfds = 0;

	if (!b)
		abort();
	c = (uint32_t)got; /* data holds c bytes */
	switch (cmd) {
	case UVFIO_CMD_VERSION: {
		char *json = malloc(got + 1);
		if (!json)
			abort();
		memcpy(json, data, got);
		json[got] = 0;
		n = uvfio_build_version(b, cap, id, false, (uint16_t)a,
					(uint16_t)(a >> 16), json);
		free(json);
		break;
	}
	case UVFIO_CMD_DMA_MAP:
		nfds = (a & (UVFIO_DMA_MAP_MMAP | UVFIO_DMA_MAP_FILE_IO)) ? 1 : 0;
		n = uvfio_build_dma_map(b, cap, id, a, c, x, y);
		break;
	case UVFIO_CMD_DMA_UNMAP:
		n = uvfio_build_dma_unmap(b, cap, id, a & 3, x, y, 1ull << (c % 64));
		break;
	case UVFIO_CMD_DEVICE_GET_INFO:
		n = uvfio_build_device_get_info(b, cap, id);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		n = uvfio_build_get_region_info(b, cap, id, a, c);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		n = uvfio_build_get_region_io_fds(b, cap, id, a, c);
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		n = uvfio_build_get_irq_info(b, cap, id, a);
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS:
		if ((a & UVFIO_IRQ_DATA_MASK) == UVFIO_IRQ_DATA_BOOL)
			c = (uint32_t)got;
		n = uvfio_build_set_irqs(b, cap, id, a, (uint32_t)x,
					 (uint32_t)y, c, data);
		break;
	case UVFIO_CMD_REGION_READ:
		n = uvfio_build_region_read(b, cap, id, a, x, c);
		break;
	case UVFIO_CMD_REGION_WRITE:
		n = uvfio_build_region_write(b, cap, id, a & 1, a, x, data, c);
		break;
	case UVFIO_CMD_DEVICE_RESET:
		n = uvfio_build_device_reset(b, cap, id);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI:
		n = uvfio_build_write_multi(
			b, cap, id, (const struct uvfio_write_multi_entry *)data,
			c / sizeof(struct uvfio_write_multi_entry));
		break;
	case UVFIO_CMD_DEVICE_FEATURE:
		n = uvfio_build_device_feature(b, cap, id, a, (uint32_t)x, data,
					       c);
		break;
	case UVFIO_CMD_MIG_DATA_READ:
		n = uvfio_build_mig_data_read(b, cap, id, c);
		break;
	case UVFIO_CMD_MIG_DATA_WRITE:
		n = uvfio_build_mig_data_write(b, cap, id, data, c);
		break;
	default:
		n = uvfio_build_error(b, cap, id, cmd, (int)(c % 200) + 1);
		break;
	}
	if (n < 0) {
		FZ_CHECK(n == -ENOSPC || n == -EINVAL || n == -EOVERFLOW);
		free(b);
		return;
	}
	FZ_CHECK((size_t)n <= cap && (size_t)n >= UVFIO_HDR_SIZE);
	struct uvfio_hdr h;
	memcpy(&h, b, sizeof(h));
	FZ_CHECK(h.msg_size == (uint32_t)n && h.msg_id == id);
	if (uvfio_parse_command(b, (size_t)n, nfds, UVFIO_ROLE_SERVER, &lim,
				&v) == 0) {
		switch (cmd) {
		case UVFIO_CMD_REGION_READ:
		case UVFIO_CMD_REGION_WRITE:
			FZ_CHECK(v.u.region_rw.req.region == a &&
				 v.u.region_rw.req.offset == x &&
				 v.u.region_rw.req.count == c);
			break;
		case UVFIO_CMD_DMA_MAP:
			FZ_CHECK(v.u.dma_map.flags == a &&
				 v.u.dma_map.offset == c &&
				 v.u.dma_map.addr == x && v.u.dma_map.size == y);
			break;
		case UVFIO_CMD_DEVICE_GET_REGION_INFO:
			FZ_CHECK(v.u.region_info.index == a &&
				 v.u.region_info.argsz == c);
			break;
		case UVFIO_CMD_MIG_DATA_READ:
		case UVFIO_CMD_MIG_DATA_WRITE:
			FZ_CHECK(v.u.mig_data.req.size == c);
			break;
		}
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	switch (fz_u8(&f) % 6) {
	case 0:
		fuzz_command(&f, UVFIO_ROLE_SERVER);
		break;
	case 1:
		fuzz_command(&f, UVFIO_ROLE_CLIENT);
		break;
	case 2:
		fuzz_reply(&f);
		break;
	case 3:
		fuzz_caps_chain(&f);
		break;
	case 4:
		fuzz_header(&f);
		break;
	case 5:
		fuzz_builders(&f);
		break;
	}
	return 0;
}
