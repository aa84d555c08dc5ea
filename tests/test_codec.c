/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the pure codec: builders, command and reply parsers,
 * region capability walking and the VERSION capability JSON.
 *
 * Every message is made in memory.  Failure cases assert the exact errno
 * the parser returns, because that errno is what goes back to the peer in
 * an error reply; a parser that starts refusing with a different errno
 * changes the wire behaviour and must show up here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#define MSG_MAX 16384u
#define ID 0x1234u

/* The request QEMU 10.x sends, byte for byte (docs/protocol.md 5.3). */
static const char qemu_json[] =
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, "
	"\"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, "
	"\"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}";

static const struct uvfio_limits lim = {
	.max_data_xfer = 1u << 20,
	.max_msg_fds = 16,
	.write_multiple = true,
};

static uint8_t m[MSG_MAX];    /* message under test */
static uint8_t out[MSG_MAX];  /* builder output */
static uint8_t want[MSG_MAX]; /* what the builder must produce */

/* ---- helpers --------------------------------------------------------------
 * Fields are host-endian on the wire, so memcpy is the honest way to place
 * them at an offset without assuming alignment. */

static void put16(void *b, size_t off, uint16_t v)
{
	memcpy((uint8_t *)b + off, &v, sizeof(v));
}

static void put32(void *b, size_t off, uint32_t v)
{
	memcpy((uint8_t *)b + off, &v, sizeof(v));
}

static void put64(void *b, size_t off, uint64_t v)
{
	memcpy((uint8_t *)b + off, &v, sizeof(v));
}

static uint16_t get16(const void *b, size_t off)
{
	uint16_t v;
	memcpy(&v, (const uint8_t *)b + off, sizeof(v));
	return v;
}

static uint32_t get32(const void *b, size_t off)
{
	uint32_t v;
	memcpy(&v, (const uint8_t *)b + off, sizeof(v));
	return v;
}

static uint64_t get64(const void *b, size_t off)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)b + off, sizeof(v));
	return v;
}

static bool all_bytes(const uint8_t *p, uint8_t val, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != val)
			return false;
	return true;
}

/* Start the expected image of a message: zeroes, then the header. */
static void want_hdr(uint16_t id, uint16_t cmd, uint32_t size, uint32_t flags,
		     uint32_t error_no)
{
	memset(want, 0, sizeof(want));
	put16(want, 0, id);
	put16(want, 2, cmd);
	put32(want, 4, size);
	put32(want, 8, flags);
	put32(want, 12, error_no);
}

/*
 * Run a builder one byte short (it must refuse and leave the buffer alone),
 * with exactly enough room, and with room to spare (it must not write past
 * the message).  The buffer starts as 0xAA each time, so any byte the
 * builder forgot shows up as a mismatch against want[].  `call` uses CAP.
 */
#define CHECK_BUILD(total, call)                                               \
	do {                                                                   \
		size_t t_ = (total);                                           \
		size_t CAP;                                                    \
		ssize_t r_;                                                    \
		memset(out, 0xAA, sizeof(out));                                \
		CAP = t_ - 1;                                                  \
		r_ = (call);                                                   \
		assert_int_equal(r_, -ENOSPC);                                 \
		assert_true(all_bytes(out, 0xAA, sizeof(out)));                \
		CAP = t_;                                                      \
		r_ = (call);                                                   \
		assert_int_equal(r_, t_);                                      \
		assert_memory_equal(out, want, t_);                            \
		assert_true(all_bytes(out + t_, 0xAA, sizeof(out) - t_));      \
		memset(out, 0xAA, sizeof(out));                                \
		CAP = sizeof(out);                                             \
		r_ = (call);                                                   \
		assert_int_equal(r_, t_);                                      \
		assert_memory_equal(out, want, t_);                            \
		assert_true(all_bytes(out + t_, 0xAA, sizeof(out) - t_));      \
	} while (0)

/* Any message: header with msg_size right, then fixed part and data. */
static size_t mkid(uint8_t *b, uint16_t id, uint16_t cmd, uint32_t flags,
		   const void *fixed, size_t flen, const void *data,
		   size_t dlen)
{
	ssize_t n = uvfio_build(b, MSG_MAX, id, cmd, flags, fixed, flen, data,
				dlen);
	assert_true(n >= (ssize_t)UVFIO_HDR_SIZE);
	return (size_t)n;
}

static size_t mk(uint16_t cmd, uint32_t flags, const void *fixed, size_t flen,
		 const void *data, size_t dlen)
{
	return mkid(m, ID, cmd, flags, fixed, flen, data, dlen);
}

#define CMD_FAILS_AS(role_, lim_, b, n, nfds, err)                             \
	do {                                                                   \
		struct uvfio_cmd_view v_;                                      \
		int r_ = uvfio_parse_command((b), (n), (nfds), (role_), (lim_), \
					     &v_);                             \
		if (r_ != -(err))                                              \
			print_error("parse_command: got %d (%s), want %d\n",   \
				    r_, v_.why ? v_.why : "no reason", -(err)); \
		assert_int_equal(r_, -(err));                                  \
		assert_non_null(v_.why);                                       \
	} while (0)

#define CMD_FAILS(b, n, nfds, err)                                             \
	CMD_FAILS_AS(UVFIO_ROLE_SERVER, &lim, b, n, nfds, err)

#define CMD_OK_AS(role_, lim_, b, n, nfds, vp)                                 \
	do {                                                                   \
		int r_ = uvfio_parse_command((b), (n), (nfds), (role_), (lim_), \
					     (vp));                            \
		if (r_)                                                        \
			print_error("parse_command: got %d (%s)\n", r_,        \
				    (vp)->why ? (vp)->why : "no reason");      \
		assert_int_equal(r_, 0);                                       \
	} while (0)

#define CMD_OK(b, n, nfds, vp) CMD_OK_AS(UVFIO_ROLE_SERVER, &lim, b, n, nfds, vp)

/* Every reply refusal is EPROTO: the connection is out of step. */
#define REPLY_FAILS(b, n, nfds, e)                                             \
	do {                                                                   \
		struct uvfio_reply_view v_;                                    \
		int r_ = uvfio_parse_reply((b), (n), (nfds), (e), &v_);        \
		if (r_ != -EPROTO)                                             \
			print_error("parse_reply: got %d (%s), want EPROTO\n", \
				    r_, v_.why ? v_.why : "no reason");        \
		assert_int_equal(r_, -EPROTO);                                 \
		assert_non_null(v_.why);                                       \
	} while (0)

#define REPLY_OK(b, n, nfds, e, vp)                                            \
	do {                                                                   \
		int r_ = uvfio_parse_reply((b), (n), (nfds), (e), (vp));       \
		if (r_)                                                        \
			print_error("parse_reply: got %d (%s)\n", r_,          \
				    (vp)->why ? (vp)->why : "no reason");      \
		assert_int_equal(r_, 0);                                       \
	} while (0)

#define RPL UVFIO_F_TYPE_REPLY

/* ---- 1. builders ---------------------------------------------------------- */

static void test_build_generic(void **state)
{
	(void)state;

	/* uvfio_build_hdr writes only the 16 header bytes. */
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(uvfio_build_hdr(out, 7, UVFIO_CMD_REGION_READ,
					 UVFIO_F_NO_REPLY, 48),
			 48);
	want_hdr(7, UVFIO_CMD_REGION_READ, 48, UVFIO_F_NO_REPLY, 0);
	assert_memory_equal(out, want, 16);
	assert_true(all_bytes(out + 16, 0xAA, sizeof(out) - 16));
	assert_int_equal(uvfio_build_hdr(out, 7, 9, 0, 15), -EINVAL);
	assert_int_equal(uvfio_build_hdr(out, 7, 9, 0, (size_t)UINT32_MAX + 1),
			 -EINVAL);
	assert_int_equal(uvfio_build_hdr(out, 7, 9, 0, 16), 16);

	/* Data NULL means zero-filled data, not garbage. */
	const uint8_t fixed[4] = { 1, 2, 3, 4 };
	want_hdr(0xbeef, UVFIO_CMD_DEVICE_FEATURE, 23, RPL, 0);
	memcpy(want + 16, fixed, 4);
	CHECK_BUILD(23, uvfio_build(out, CAP, 0xbeef, UVFIO_CMD_DEVICE_FEATURE,
				    RPL, fixed, 4, NULL, 3));
	const uint8_t data[3] = { 9, 8, 7 };
	memcpy(want + 20, data, 3);
	CHECK_BUILD(23, uvfio_build(out, CAP, 0xbeef, UVFIO_CMD_DEVICE_FEATURE,
				    RPL, fixed, 4, data, 3));
	/* msg_size is 32 bits; a larger message must not be framed at all. */
	assert_int_equal(uvfio_build(out, SIZE_MAX, 1, 1, 0, NULL, 0, NULL,
				     (size_t)UINT32_MAX),
			 -EOVERFLOW);

	/* Error reply: header only, REPLY|ERROR, positive errno. */
	want_hdr(0x4321, UVFIO_CMD_REGION_WRITE, 16,
		 UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR, EINVAL);
	CHECK_BUILD(16, uvfio_build_error(out, CAP, 0x4321,
					  UVFIO_CMD_REGION_WRITE, EINVAL));
	assert_int_equal(get32(out, 8), 0x21);
	assert_int_equal(get32(out, 12), 22);
	/* A non-positive errno would read as "no reason"; EIO goes out. */
	want_hdr(1, UVFIO_CMD_VERSION, 16, UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR,
		 EIO);
	CHECK_BUILD(16, uvfio_build_error(out, CAP, 1, UVFIO_CMD_VERSION, 0));
	assert_int_equal(get16(out, 0), 1);
	assert_int_equal(get16(out, 2), UVFIO_CMD_VERSION);
	assert_int_equal(get32(out, 4), 16);
	assert_int_equal(get32(out, 12), EIO);
	CHECK_BUILD(16, uvfio_build_error(out, CAP, 1, UVFIO_CMD_VERSION,
					  -EINVAL));
}

static void test_build_commands(void **state)
{
	(void)state;

	/* VERSION: 16 + 4 + JSON + NUL; QEMU's request is 214 bytes. */
	assert_int_equal(strlen(qemu_json), 193);
	want_hdr(1, UVFIO_CMD_VERSION, 214, 0, 0);
	put16(want, 16, 0);
	put16(want, 18, 0);
	memcpy(want + 20, qemu_json, sizeof(qemu_json));
	CHECK_BUILD(214, uvfio_build_version(out, CAP, 1, false, 0, 0,
					     qemu_json));
	want_hdr(1, UVFIO_CMD_VERSION, 23, RPL, 0);
	put16(want, 16, 0);
	put16(want, 18, 2);
	memcpy(want + 20, "{}", 3);
	CHECK_BUILD(23, uvfio_build_version(out, CAP, 1, true, 0, 2, "{}"));
	want_hdr(2, UVFIO_CMD_VERSION, 20, 0, 0);
	put16(want, 16, 0x0102);
	put16(want, 18, 0x0304);
	CHECK_BUILD(20, uvfio_build_version(out, CAP, 2, false, 0x0102, 0x0304,
					    NULL));

	/* DMA_MAP: total 48, argsz 32, addr at msg offset 32. */
	want_hdr(3, UVFIO_CMD_DMA_MAP, 48, 0, 0);
	put32(want, 16, 32);
	put32(want, 20, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE);
	put64(want, 24, 0x1000);
	put64(want, 32, 0x80000000ull);
	put64(want, 40, 0x200000);
	CHECK_BUILD(48, uvfio_build_dma_map(out, CAP, 3,
					    UVFIO_DMA_MAP_READ |
						    UVFIO_DMA_MAP_WRITE,
					    0x1000, 0x80000000ull, 0x200000));
	assert_int_equal(get64(out, 32), 0x80000000ull);

	/* DMA_UNMAP: total 40, argsz 24 (what QEMU sends). */
	want_hdr(4, UVFIO_CMD_DMA_UNMAP, 40, 0, 0);
	put32(want, 16, 24);
	put32(want, 20, 0);
	put64(want, 24, 0x80000000ull);
	put64(want, 32, 0x200000);
	CHECK_BUILD(40, uvfio_build_dma_unmap(out, CAP, 4, 0, 0x80000000ull,
					      0x200000, 4096));
	want_hdr(4, UVFIO_CMD_DMA_UNMAP, 40, 0, 0);
	put32(want, 16, 24);
	put32(want, 20, UVFIO_DMA_UNMAP_ALL);
	CHECK_BUILD(40, uvfio_build_dma_unmap(out, CAP, 4, UVFIO_DMA_UNMAP_ALL,
					      0, 0, 0));
	/* With a dirty bitmap: 512 pages = 64 bytes; argsz 40 + 64. */
	want_hdr(5, UVFIO_CMD_DMA_UNMAP, 56, 0, 0);
	put32(want, 16, 104);
	put32(want, 20, UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP);
	put64(want, 24, 0x80000000ull);
	put64(want, 32, 0x200000);
	put64(want, 40, 4096);
	put64(want, 48, 64);
	CHECK_BUILD(56, uvfio_build_dma_unmap(out, CAP, 5,
					      UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP,
					      0x80000000ull, 0x200000, 4096));

	/* DEVICE_GET_INFO: total 32, argsz 16, all else 0. */
	want_hdr(6, UVFIO_CMD_DEVICE_GET_INFO, 32, 0, 0);
	put32(want, 16, 16);
	CHECK_BUILD(32, uvfio_build_device_get_info(out, CAP, 6));

	/* GET_REGION_INFO: total 48, argsz and index only. */
	want_hdr(7, UVFIO_CMD_DEVICE_GET_REGION_INFO, 48, 0, 0);
	put32(want, 16, 32);
	put32(want, 24, UVFIO_PCI_CONFIG);
	CHECK_BUILD(48, uvfio_build_get_region_info(out, CAP, 7,
						    UVFIO_PCI_CONFIG, 32));

	/* GET_REGION_IO_FDS: total 32, flags and count 0. */
	want_hdr(8, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 32, 0, 0);
	put32(want, 16, 4096);
	put32(want, 24, 2);
	CHECK_BUILD(32, uvfio_build_get_region_io_fds(out, CAP, 8, 2, 4096));

	/* GET_IRQ_INFO: total 32, argsz 16. */
	want_hdr(9, UVFIO_CMD_DEVICE_GET_IRQ_INFO, 32, 0, 0);
	put32(want, 16, 16);
	put32(want, 24, UVFIO_PCI_MSIX_IRQ);
	CHECK_BUILD(32, uvfio_build_get_irq_info(out, CAP, 9,
						 UVFIO_PCI_MSIX_IRQ));

	/* SET_IRQS eventfd: total 36, argsz 20, no data (QEMU's shape). */
	want_hdr(10, UVFIO_CMD_DEVICE_SET_IRQS, 36, 0, 0);
	put32(want, 16, 20);
	put32(want, 20, UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER);
	put32(want, 24, UVFIO_PCI_MSIX_IRQ);
	put32(want, 28, 1);
	put32(want, 32, 4);
	CHECK_BUILD(36, uvfio_build_set_irqs(out, CAP, 10,
					     UVFIO_IRQ_DATA_EVENTFD |
						     UVFIO_IRQ_ACTION_TRIGGER,
					     UVFIO_PCI_MSIX_IRQ, 1, 4, NULL));
	/* SET_IRQS bool: count data bytes follow, argsz includes them. */
	const uint8_t bools[3] = { 1, 0, 1 };
	want_hdr(11, UVFIO_CMD_DEVICE_SET_IRQS, 39, 0, 0);
	put32(want, 16, 23);
	put32(want, 20, UVFIO_IRQ_DATA_BOOL | UVFIO_IRQ_ACTION_UNMASK);
	put32(want, 24, UVFIO_PCI_INTX_IRQ);
	put32(want, 28, 0);
	put32(want, 32, 3);
	memcpy(want + 36, bools, 3);
	CHECK_BUILD(39, uvfio_build_set_irqs(out, CAP, 11,
					     UVFIO_IRQ_DATA_BOOL |
						     UVFIO_IRQ_ACTION_UNMASK,
					     UVFIO_PCI_INTX_IRQ, 0, 3, bools));

	/* REGION_READ: total 32; offset, region, count at 16/24/28. */
	want_hdr(12, UVFIO_CMD_REGION_READ, 32, 0, 0);
	put64(want, 16, 0x40);
	put32(want, 24, UVFIO_PCI_CONFIG);
	put32(want, 28, 4);
	CHECK_BUILD(32, uvfio_build_region_read(out, CAP, 12, UVFIO_PCI_CONFIG,
						0x40, 4));

	/* REGION_WRITE posted: NO_REPLY, data at msg offset 32. */
	const uint8_t wdata[4] = { 0x11, 0x22, 0x33, 0x44 };
	want_hdr(13, UVFIO_CMD_REGION_WRITE, 36, UVFIO_F_NO_REPLY, 0);
	put64(want, 16, 0x10);
	put32(want, 24, UVFIO_PCI_BAR0 + 2);
	put32(want, 28, 4);
	memcpy(want + 32, wdata, 4);
	CHECK_BUILD(36, uvfio_build_region_write(out, CAP, 13, true,
						 UVFIO_PCI_BAR0 + 2, 0x10,
						 wdata, 4));
	want_hdr(13, UVFIO_CMD_REGION_WRITE, 36, 0, 0);
	put64(want, 16, 0x10);
	put32(want, 24, UVFIO_PCI_BAR0 + 2);
	put32(want, 28, 4);
	memcpy(want + 32, wdata, 4);
	CHECK_BUILD(36, uvfio_build_region_write(out, CAP, 13, false,
						 UVFIO_PCI_BAR0 + 2, 0x10,
						 wdata, 4));

	/* DMA_READ/WRITE, spec layout: u64 count, data at payload 16. */
	want_hdr(14, UVFIO_CMD_DMA_READ, 32, 0, 0);
	put64(want, 16, 0xfee00000ull);
	put64(want, 24, 256);
	CHECK_BUILD(32, uvfio_build_dma_read(out, CAP, 14, 0xfee00000ull, 256));
	const uint8_t ddata[5] = { 1, 2, 3, 4, 5 };
	want_hdr(15, UVFIO_CMD_DMA_WRITE, 37, 0, 0);
	put64(want, 16, 0x2000);
	put64(want, 24, 5);
	memcpy(want + 32, ddata, 5);
	CHECK_BUILD(37, uvfio_build_dma_write(out, CAP, 15, 0x2000, ddata, 5));

	/* DEVICE_RESET: header only. */
	want_hdr(16, UVFIO_CMD_DEVICE_RESET, 16, 0, 0);
	CHECK_BUILD(16, uvfio_build_device_reset(out, CAP, 16));

	/* WRITE_MULTI: always NO_REPLY, u64 wr_cnt, 24-byte entries. */
	struct uvfio_write_multi_entry e[2];
	memset(e, 0, sizeof(e));
	e[0].offset = 0x100;
	e[0].region = 0;
	e[0].count = 4;
	memcpy(e[0].data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	e[1].offset = 0x204;
	e[1].region = 1;
	e[1].count = 8;
	memcpy(e[1].data, "\x11\x12\x13\x14\x15\x16\x17\x18", 8);
	want_hdr(17, UVFIO_CMD_REGION_WRITE_MULTI, 72, UVFIO_F_NO_REPLY, 0);
	put64(want, 16, 2);
	put64(want, 24, 0x100);
	put32(want, 32, 0);
	put32(want, 36, 4);
	memcpy(want + 40, e[0].data, 8);
	put64(want, 48, 0x204);
	put32(want, 56, 1);
	put32(want, 60, 8);
	memcpy(want + 64, e[1].data, 8);
	CHECK_BUILD(72, uvfio_build_write_multi(out, CAP, 17, e, 2));

	/* DEVICE_FEATURE: argsz, flags, then data. */
	want_hdr(18, UVFIO_CMD_DEVICE_FEATURE, 24, 0, 0);
	put32(want, 16, 16);
	put32(want, 20, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION);
	CHECK_BUILD(24, uvfio_build_device_feature(out, CAP, 18, 16,
						   UVFIO_FEATURE_GET |
							   UVFIO_FEATURE_MIGRATION,
						   NULL, 0));
	struct uvfio_feature_mig_state st = { .device_state = UVFIO_MIG_STOP };
	want_hdr(19, UVFIO_CMD_DEVICE_FEATURE, 32, 0, 0);
	put32(want, 16, 16);
	put32(want, 20, UVFIO_FEATURE_SET | UVFIO_FEATURE_MIG_DEVICE_STATE);
	put32(want, 24, UVFIO_MIG_STOP);
	put32(want, 28, 0);
	CHECK_BUILD(32, uvfio_build_device_feature(
				out, CAP, 19, 16,
				UVFIO_FEATURE_SET |
					UVFIO_FEATURE_MIG_DEVICE_STATE,
				&st, sizeof(st)));

	/* MIG_DATA_READ: argsz 8 + size; MIG_DATA_WRITE carries data. */
	want_hdr(20, UVFIO_CMD_MIG_DATA_READ, 24, 0, 0);
	put32(want, 16, 8 + 4096);
	put32(want, 20, 4096);
	CHECK_BUILD(24, uvfio_build_mig_data_read(out, CAP, 20, 4096));
	want_hdr(21, UVFIO_CMD_MIG_DATA_WRITE, 27, 0, 0);
	put32(want, 16, 11);
	put32(want, 20, 3);
	memcpy(want + 24, "xyz", 3);
	CHECK_BUILD(27, uvfio_build_mig_data_write(out, CAP, 21, "xyz", 3));
	/* argsz is 32 bits; 8 + size must not wrap silently. */
	assert_int_equal(uvfio_build_mig_data_read(out, sizeof(out), 22,
						   UINT32_MAX - 3),
			 -EOVERFLOW);
}

/* ---- 2. round trips ------------------------------------------------------- */

static void test_roundtrip_server(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	ssize_t n;

	n = uvfio_build_version(m, sizeof(m), 1, false, 0, 0, qemu_json);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.hdr.msg_id, 1);
	assert_int_equal(v.hdr.cmd, UVFIO_CMD_VERSION);
	assert_int_equal(v.hdr.msg_size, 214);
	assert_int_equal(v.len, 198);
	assert_int_equal(v.nfds, 0);
	assert_int_equal(v.u.version.major, 0);
	assert_int_equal(v.u.version.minor, 0);
	assert_int_equal(v.u.version.json_len, 194);
	assert_ptr_equal(v.u.version.json, (const char *)m + 20);
	assert_string_equal(v.u.version.json, qemu_json);
	assert_null(v.why);

	n = uvfio_build_version(m, sizeof(m), 2, false, 0, 2, NULL);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.version.minor, 2);
	assert_null(v.u.version.json);
	assert_int_equal(v.u.version.json_len, 0);

	n = uvfio_build_dma_map(m, sizeof(m), 3,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				0x1000, 0x80000000ull, 0x200000);
	CMD_OK(m, (size_t)n, 1, &v);
	assert_int_equal(v.nfds, 1);
	assert_int_equal(v.u.dma_map.argsz, 32);
	assert_int_equal(v.u.dma_map.flags, 3);
	assert_int_equal(v.u.dma_map.offset, 0x1000);
	assert_int_equal(v.u.dma_map.addr, 0x80000000ull);
	assert_int_equal(v.u.dma_map.size, 0x200000);
	/* Without fd: message-mode DMA, also fine. */
	CMD_OK(m, (size_t)n, 0, &v);
	n = uvfio_build_dma_map(m, sizeof(m), 3,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_MMAP, 0,
				0x100000, 0x1000);
	CMD_OK(m, (size_t)n, 1, &v);
	assert_int_equal(v.u.dma_map.flags,
			 UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_MMAP);

	n = uvfio_build_dma_unmap(m, sizeof(m), 4, 0, 0x80000000ull, 0x200000,
				  0);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.dma_unmap.req.argsz, 24);
	assert_int_equal(v.u.dma_unmap.req.flags, 0);
	assert_int_equal(v.u.dma_unmap.req.addr, 0x80000000ull);
	assert_int_equal(v.u.dma_unmap.req.size, 0x200000);
	n = uvfio_build_dma_unmap(m, sizeof(m), 4, UVFIO_DMA_UNMAP_ALL, 0, 0,
				  0);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.dma_unmap.req.flags, UVFIO_DMA_UNMAP_ALL);
	n = uvfio_build_dma_unmap(m, sizeof(m), 4,
				  UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP,
				  0x80000000ull, 0x200000, 4096);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.dma_unmap.req.argsz, 104);
	assert_int_equal(v.u.dma_unmap.bitmap.pgsize, 4096);
	assert_int_equal(v.u.dma_unmap.bitmap.size, 64);

	n = uvfio_build_device_get_info(m, sizeof(m), 5);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.hdr.cmd, UVFIO_CMD_DEVICE_GET_INFO);
	assert_int_equal(v.u.device_info.argsz, 16);

	n = uvfio_build_get_region_info(m, sizeof(m), 6, 3, 4096);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.region_info.argsz, 4096);
	assert_int_equal(v.u.region_info.index, 3);

	n = uvfio_build_get_region_io_fds(m, sizeof(m), 7, 2, 1024);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.io_fds.argsz, 1024);
	assert_int_equal(v.u.io_fds.index, 2);
	assert_int_equal(v.u.io_fds.count, 0);

	n = uvfio_build_get_irq_info(m, sizeof(m), 8, UVFIO_PCI_ERR_IRQ);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.irq_info.argsz, 16);
	assert_int_equal(v.u.irq_info.index, UVFIO_PCI_ERR_IRQ);

	n = uvfio_build_set_irqs(m, sizeof(m), 9,
				 UVFIO_IRQ_DATA_EVENTFD |
					 UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSIX_IRQ, 2, 3, NULL);
	CMD_OK(m, (size_t)n, 3, &v);
	assert_int_equal(v.u.irq_set.req.argsz, 20);
	assert_int_equal(v.u.irq_set.req.index, UVFIO_PCI_MSIX_IRQ);
	assert_int_equal(v.u.irq_set.req.start, 2);
	assert_int_equal(v.u.irq_set.req.count, 3);
	assert_null(v.u.irq_set.bools);
	const uint8_t bools[3] = { 0, 1, 1 };
	n = uvfio_build_set_irqs(m, sizeof(m), 9,
				 UVFIO_IRQ_DATA_BOOL | UVFIO_IRQ_ACTION_MASK,
				 UVFIO_PCI_INTX_IRQ, 0, 3, bools);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_ptr_equal(v.u.irq_set.bools, m + 36);
	assert_memory_equal(v.u.irq_set.bools, bools, 3);
	n = uvfio_build_set_irqs(m, sizeof(m), 9,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSI_IRQ, 0, 0, NULL);
	CMD_OK(m, (size_t)n, 0, &v); /* disable all */
	assert_int_equal(v.u.irq_set.req.count, 0);

	n = uvfio_build_region_read(m, sizeof(m), 10, UVFIO_PCI_CONFIG, 0x3d,
				    1);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.region_rw.req.offset, 0x3d);
	assert_int_equal(v.u.region_rw.req.region, UVFIO_PCI_CONFIG);
	assert_int_equal(v.u.region_rw.req.count, 1);
	assert_null(v.u.region_rw.data);
	/* count exactly max_data_xfer is allowed */
	n = uvfio_build_region_read(m, sizeof(m), 10, 0, 0, lim.max_data_xfer);
	CMD_OK(m, (size_t)n, 0, &v);

	const uint8_t wdata[4] = { 0xde, 0xad, 0xbe, 0xef };
	n = uvfio_build_region_write(m, sizeof(m), 11, true, 2, 0x8, wdata, 4);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.hdr.flags, UVFIO_F_NO_REPLY);
	assert_int_equal(v.u.region_rw.req.offset, 8);
	assert_int_equal(v.u.region_rw.req.region, 2);
	assert_int_equal(v.u.region_rw.req.count, 4);
	assert_ptr_equal(v.u.region_rw.data, m + 32);
	assert_memory_equal(v.u.region_rw.data, wdata, 4);

	n = uvfio_build_device_reset(m, sizeof(m), 13);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.hdr.cmd, UVFIO_CMD_DEVICE_RESET);
	assert_int_equal(v.len, 0);

	struct uvfio_write_multi_entry e[3];
	memset(e, 0, sizeof(e));
	for (unsigned i = 0; i < 3; i++) {
		e[i].offset = 0x10 * i;
		e[i].region = 2;
		e[i].count = 1 + i;
		e[i].data[0] = (uint8_t)(0x40 + i);
	}
	n = uvfio_build_write_multi(m, sizeof(m), 15, e, 3);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.hdr.flags, UVFIO_F_NO_REPLY);
	assert_int_equal(v.u.write_multi.n, 3);
	assert_ptr_equal(v.u.write_multi.wrs, m + 24);
	assert_memory_equal(v.u.write_multi.wrs, e, sizeof(e));

	n = uvfio_build_device_feature(m, sizeof(m), 16, 16,
				       UVFIO_FEATURE_GET |
					       UVFIO_FEATURE_MIGRATION,
				       NULL, 0);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.feature.feature, UVFIO_FEATURE_MIGRATION);
	assert_int_equal(v.u.feature.req.argsz, 16);
	assert_int_equal(v.u.feature.data_len, 0);
	struct uvfio_feature_mig_state st = { .device_state =
						      UVFIO_MIG_STOP_COPY };
	n = uvfio_build_device_feature(m, sizeof(m), 16, 16,
				       UVFIO_FEATURE_SET |
					       UVFIO_FEATURE_MIG_DEVICE_STATE,
				       &st, sizeof(st));
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.feature.feature, UVFIO_FEATURE_MIG_DEVICE_STATE);
	assert_int_equal(v.u.feature.data_len, 8);
	assert_ptr_equal(v.u.feature.data, m + 24);
	assert_int_equal(get32(v.u.feature.data, 0), UVFIO_MIG_STOP_COPY);
	struct uvfio_feature_log_report rep = {
		.iova = 0x100000, .length = 4096 * 65, .page_size = 4096
	};
	n = uvfio_build_device_feature(m, sizeof(m), 16, 8 + 24 + 16,
				       UVFIO_FEATURE_GET |
					       UVFIO_FEATURE_DMA_LOGGING_REPORT,
				       &rep, sizeof(rep));
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.feature.feature, UVFIO_FEATURE_DMA_LOGGING_REPORT);
	assert_int_equal(v.u.feature.bitmap_bytes, 16);

	n = uvfio_build_mig_data_read(m, sizeof(m), 17, 4096);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.mig_data.req.argsz, 4104);
	assert_int_equal(v.u.mig_data.req.size, 4096);
	assert_null(v.u.mig_data.data);
	n = uvfio_build_mig_data_write(m, sizeof(m), 18, "state", 5);
	CMD_OK(m, (size_t)n, 0, &v);
	assert_int_equal(v.u.mig_data.req.argsz, 13);
	assert_int_equal(v.u.mig_data.req.size, 5);
	assert_ptr_equal(v.u.mig_data.data, m + 24);
	assert_memory_equal(v.u.mig_data.data, "state", 5);
}

static void test_roundtrip_client(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	ssize_t n;

	n = uvfio_build_dma_read(m, sizeof(m), 0x77, 0xfee00000ull, 256);
	CMD_OK_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, &v);
	assert_int_equal(v.hdr.msg_id, 0x77);
	assert_int_equal(v.hdr.cmd, UVFIO_CMD_DMA_READ);
	assert_int_equal(v.u.dma_rw.addr, 0xfee00000ull);
	assert_int_equal(v.u.dma_rw.count, 256);
	assert_null(v.u.dma_rw.data);

	const uint8_t data[6] = { 6, 5, 4, 3, 2, 1 };
	n = uvfio_build_dma_write(m, sizeof(m), 0x78, 0x3000, data, 6);
	CMD_OK_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, &v);
	assert_int_equal(v.u.dma_rw.addr, 0x3000);
	assert_int_equal(v.u.dma_rw.count, 6);
	assert_ptr_equal(v.u.dma_rw.data, m + 32);
	assert_memory_equal(v.u.dma_rw.data, data, 6);

	/* Limits and exact lengths apply to the client too. */
	n = uvfio_build_dma_read(m, sizeof(m), 1, 0, lim.max_data_xfer + 1);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, E2BIG);
	n = uvfio_build_dma_read(m, sizeof(m), 1, UINT64_MAX - 2, 4);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, EOVERFLOW);
	n = uvfio_build_dma_write(m, sizeof(m), 1, 0x3000, data, 6);
	put64(m, 24, 5);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, EINVAL);
	put64(m, 24, 7);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, EINVAL);
	struct uvfio_dma_rw d = { .addr = 0x1000, .count = 4 };
	n = (ssize_t)mk(UVFIO_CMD_DMA_READ, 0, &d, sizeof(d), "x", 1);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 0, EINVAL);
	/* The server side never sends fds with DMA_READ. */
	n = uvfio_build_dma_read(m, sizeof(m), 1, 0x1000, 4);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, (size_t)n, 1, EINVAL);
}

/* ---- 3. bad commands ------------------------------------------------------ */

static void test_check_header(void **state)
{
	(void)state;
	struct uvfio_hdr h = { .msg_id = 1, .cmd = 9, .msg_size = 32 };
	const char *why;

	why = NULL;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), 0);
	h.msg_size = 15;
	why = NULL;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), -EBADMSG);
	assert_non_null(why);
	h.msg_size = 16;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), 0);
	h.msg_size = 1024;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), 0);
	h.msg_size = 1025;
	why = NULL;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), -EMSGSIZE);
	assert_non_null(why);
	h.msg_size = UINT32_MAX;
	assert_int_equal(uvfio_check_header(&h, 1024, NULL), -EMSGSIZE);

	h.msg_size = 32;
	for (uint32_t t = 2; t <= 15; t++) {
		h.flags = t;
		why = NULL;
		assert_int_equal(uvfio_check_header(&h, 1024, &why), -EPROTO);
		assert_non_null(why);
	}
	h.flags = UVFIO_F_TYPE_REPLY | UVFIO_F_NO_REPLY;
	why = NULL;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), -EPROTO);
	assert_non_null(why);
	h.flags = UVFIO_F_TYPE_COMMAND | UVFIO_F_NO_REPLY;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), 0);
	h.flags = UVFIO_F_TYPE_COMMAND | UVFIO_F_ERROR;
	why = NULL;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), -EPROTO);
	assert_non_null(why);
	h.flags = UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR;
	assert_int_equal(uvfio_check_header(&h, 1024, &why), 0);
	/* Reserved bits are not checked by anyone; we stay compatible. */
	h.flags = UVFIO_F_TYPE_REPLY | 0x80000000u;
	assert_int_equal(uvfio_check_header(&h, 1024, NULL), 0);
}

static void test_bad_framing(void **state)
{
	(void)state;
	struct uvfio_limits lim1 = lim;
	struct uvfio_cmd_view v;
	size_t n;

	n = (size_t)uvfio_build_region_read(m, sizeof(m), 1, 0, 0, 4);
	CMD_FAILS(m, 15, 0, EBADMSG);
	CMD_FAILS(m, 0, 0, EBADMSG);
	/* msg_size must equal the bytes handed in, both directions */
	CMD_FAILS(m, n - 1, 0, EBADMSG);
	put32(m, 4, (uint32_t)n + 1);
	CMD_FAILS(m, n, 0, EBADMSG);
	put32(m, 4, (uint32_t)n);
	CMD_OK(m, n, 0, &v);

	/* payload too short for the fixed structure of each command */
	struct uvfio_dma_map dm = { .argsz = 32, .size = 4096 };
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm) - 1, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	struct uvfio_region_rw rw = { .count = 0 };
	n = mk(UVFIO_CMD_REGION_READ, 0, &rw, 8, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_DEVICE_GET_INFO, 0, NULL, 0, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, NULL, 0, NULL, 19);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_DEVICE_FEATURE, 0, NULL, 0, NULL, 7);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_MIG_DATA_READ, 0, NULL, 0, NULL, 7);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_VERSION, 0, NULL, 0, NULL, 3);
	CMD_FAILS(m, n, 0, EINVAL);

	/* type bits: replies and unknown types are not commands */
	n = (size_t)uvfio_build_region_read(m, sizeof(m), 1, 0, 0, 4);
	put32(m, 8, UVFIO_F_TYPE_REPLY);
	CMD_FAILS(m, n, 0, EPROTO);
	put32(m, 8, 2);
	CMD_FAILS(m, n, 0, EPROTO);
	put32(m, 8, 0xf);
	CMD_FAILS(m, n, 0, EPROTO);
	put32(m, 8, UVFIO_F_ERROR);
	CMD_FAILS(m, n, 0, EPROTO);

	/* unknown command numbers */
	n = mk(0, 0, NULL, 0, NULL, 16);
	CMD_FAILS(m, n, 0, ENOSYS);
	n = mk(19, 0, NULL, 0, NULL, 16);
	CMD_FAILS(m, n, 0, ENOSYS);
	n = mk(0xffff, 0, NULL, 0, NULL, 16);
	CMD_FAILS(m, n, 0, ENOSYS);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, n, 0, ENOSYS);

	/* wrong direction */
	n = (size_t)uvfio_build_dma_read(m, sizeof(m), 1, 0x1000, 4);
	CMD_FAILS(m, n, 0, EINVAL);
	n = (size_t)uvfio_build_dma_write(m, sizeof(m), 1, 0x1000, "abcd", 4);
	CMD_FAILS(m, n, 0, EINVAL);
	n = (size_t)uvfio_build_region_read(m, sizeof(m), 1, 0, 0, 4);
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, n, 0, EINVAL);
	n = (size_t)uvfio_build_version(m, sizeof(m), 1, false, 0, 0, "{}");
	CMD_FAILS_AS(UVFIO_ROLE_CLIENT, &lim, m, n, 0, EINVAL);

	/* fds on commands that take none */
	n = (size_t)uvfio_build_version(m, sizeof(m), 1, false, 0, 0, "{}");
	CMD_OK(m, n, 0, &v);
	CMD_FAILS(m, n, 1, EINVAL);
	n = (size_t)uvfio_build_region_read(m, sizeof(m), 1, 0, 0, 4);
	CMD_FAILS(m, n, 1, EINVAL);
	n = (size_t)uvfio_build_device_reset(m, sizeof(m), 1);
	CMD_FAILS(m, n, 1, EINVAL);
	n = (size_t)uvfio_build_get_region_info(m, sizeof(m), 1, 0, 32);
	CMD_FAILS(m, n, 2, EINVAL);

	/* more fds than we advertised: 17 eventfds for 17 vectors is a
	 * well-formed SET_IRQS, refused only for the fd limit */
	n = (size_t)uvfio_build_set_irqs(m, sizeof(m), 1,
					 UVFIO_IRQ_DATA_EVENTFD |
						 UVFIO_IRQ_ACTION_TRIGGER,
					 UVFIO_PCI_MSIX_IRQ, 0, 17, NULL);
	CMD_FAILS(m, n, 17, EINVAL);
	lim1.max_msg_fds = 17;
	CMD_OK_AS(UVFIO_ROLE_SERVER, &lim1, m, n, 17, &v);
	lim1.max_msg_fds = 0;
	n = (size_t)uvfio_build_dma_map(m, sizeof(m), 1, UVFIO_DMA_MAP_READ, 0,
					0x1000, 0x1000);
	CMD_FAILS_AS(UVFIO_ROLE_SERVER, &lim1, m, n, 1, EINVAL);
}

static void test_bad_dma_map(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_dma_map dm;
	size_t n;

#define DM_RESET()                                                             \
	dm = (struct uvfio_dma_map){ .argsz = 32,                              \
				     .flags = UVFIO_DMA_MAP_READ |             \
					      UVFIO_DMA_MAP_WRITE,             \
				     .offset = 0,                              \
				     .addr = 0x100000,                         \
				     .size = 0x1000 }
	DM_RESET();
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_OK(m, n, 1, &v);

	dm.argsz = 31;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 1, EINVAL);

	DM_RESET();
	dm.flags |= 1u << 4;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 1, EINVAL);
	dm.flags = UVFIO_DMA_MAP_READ | (1u << 31);
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 1, EINVAL);

	DM_RESET();
	dm.size = 0;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 1, EINVAL);

	/* A window may end exactly at the top of the address space... */
	DM_RESET();
	dm.addr = UINT64_MAX - 0xfff;
	dm.size = 0x1000;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_OK(m, n, 0, &v);
	/* ...but not beyond it. */
	dm.size = 0x2000;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 0, EOVERFLOW);
	dm.addr = UINT64_MAX;
	dm.size = UINT64_MAX;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 0, EOVERFLOW);

	DM_RESET();
	dm.offset = UINT64_MAX - 0xfff;
	dm.size = 0x2000;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 1, EOVERFLOW);

	DM_RESET();
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 2, EINVAL);

	/* MMAP/FILE_IO name how to use the fd, so they need one */
	DM_RESET();
	dm.flags |= UVFIO_DMA_MAP_MMAP;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	CMD_OK(m, n, 1, &v);
	DM_RESET();
	dm.flags |= UVFIO_DMA_MAP_FILE_IO;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	CMD_OK(m, n, 1, &v);
	dm.flags |= UVFIO_DMA_MAP_MMAP;
	n = mk(UVFIO_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0);
	CMD_FAILS(m, n, 1, EINVAL);
#undef DM_RESET
}

static void test_bad_dma_unmap(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_dma_unmap u;
	size_t n;

	u = (struct uvfio_dma_unmap){ .argsz = 23, .addr = 0x1000,
				      .size = 0x1000 };
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	u.argsz = 24;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_OK(m, n, 0, &v);
	u.flags = 1u << 2;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	/* ALL means addr 0 size 0 and no bitmap */
	u = (struct uvfio_dma_unmap){ .argsz = 24,
				      .flags = UVFIO_DMA_UNMAP_ALL,
				      .addr = 0x1000 };
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	u.addr = 0;
	u.size = 0x1000;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	u.size = 0;
	u.flags |= UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	u = (struct uvfio_dma_unmap){ .argsz = 24, .addr = 0x1000 };
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	u.addr = UINT64_MAX - 0xfff;
	u.size = 0x2000;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	CMD_FAILS(m, n, 0, EOVERFLOW);

	/* dirty bitmap: start from a valid one and break one field */
	struct {
		struct uvfio_dma_unmap u;
		struct uvfio_bitmap b;
	} UVFIO_PACKED d = {
		.u = { .argsz = 40 + 64,
		       .flags = UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP,
		       .addr = 0x100000,
		       .size = 0x200000 },
		.b = { .pgsize = 4096, .size = 64 },
	}, d0 = d;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_OK(m, n, 0, &v);
	assert_int_equal(v.u.dma_unmap.bitmap.size, 64);
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d.u), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL); /* bitmap header missing */
	d.b.size = 56;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	d.b.size = 72;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	d = d0;
	d.u.argsz = 40 + 63;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	d = d0;
	d.b.pgsize = 3000;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	d.b.pgsize = 0;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	/* 2^44 bytes at 4 KiB = 2^32 pages = 512 MiB of bitmap */
	d = d0;
	d.u.addr = 0;
	d.u.size = 1ull << 44;
	d.b.size = 1ull << 29;
	d.u.argsz = UINT32_MAX;
	n = mk(UVFIO_CMD_DMA_UNMAP, 0, &d, sizeof(d), NULL, 0);
	CMD_FAILS(m, n, 0, E2BIG);
}

static void test_bad_info_argsz(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	size_t n;

	struct uvfio_device_info di = { .argsz = 15 };
	n = mk(UVFIO_CMD_DEVICE_GET_INFO, 0, &di, sizeof(di), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	di.argsz = 16;
	n = mk(UVFIO_CMD_DEVICE_GET_INFO, 0, &di, sizeof(di), NULL, 0);
	CMD_OK(m, n, 0, &v);

	struct uvfio_region_info ri = { .argsz = 31 };
	n = mk(UVFIO_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	ri.argsz = 32;
	n = mk(UVFIO_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0);
	CMD_OK(m, n, 0, &v);

	struct uvfio_irq_info ii = { .argsz = 15 };
	n = mk(UVFIO_CMD_DEVICE_GET_IRQ_INFO, 0, &ii, sizeof(ii), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	ii.argsz = 16;
	n = mk(UVFIO_CMD_DEVICE_GET_IRQ_INFO, 0, &ii, sizeof(ii), NULL, 0);
	CMD_OK(m, n, 0, &v);

	struct uvfio_io_fds io = { .argsz = 15 };
	n = mk(UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 0, &io, sizeof(io), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	io.argsz = 16;
	n = mk(UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 0, &io, sizeof(io), NULL, 0);
	CMD_OK(m, n, 0, &v);
	io.flags = 1;
	n = mk(UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 0, &io, sizeof(io), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	io.flags = 0;
	io.count = 1;
	n = mk(UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 0, &io, sizeof(io), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
}

static void test_bad_set_irqs(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_irq_set s;
	const uint8_t bools[5] = { 1, 1, 1, 1, 1 };
	size_t n;

#define IRQ(fl, st, cnt)                                                       \
	(s = (struct uvfio_irq_set){ .argsz = 20,                              \
				     .flags = (fl),                            \
				     .index = UVFIO_PCI_MSIX_IRQ,              \
				     .start = (st),                            \
				     .count = (cnt) },                         \
	 mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), NULL, 0))
	const uint32_t NT = UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_TRIGGER;
	const uint32_t ET = UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER;

	n = IRQ(NT, 0, 1);
	CMD_OK(m, n, 0, &v);
	s.argsz = 19;
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	/* exactly one DATA and one ACTION bit */
	n = IRQ(UVFIO_IRQ_ACTION_TRIGGER, 0, 1);
	CMD_FAILS(m, n, 0, EINVAL);
	n = IRQ(UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_DATA_BOOL |
			UVFIO_IRQ_ACTION_TRIGGER,
		0, 1);
	CMD_FAILS(m, n, 0, EINVAL);
	n = IRQ(UVFIO_IRQ_DATA_NONE, 0, 1);
	CMD_FAILS(m, n, 0, EINVAL);
	n = IRQ(UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_MASK |
			UVFIO_IRQ_ACTION_UNMASK,
		0, 1);
	CMD_FAILS(m, n, 0, EINVAL);
	n = IRQ(NT | 0x40, 0, 1);
	CMD_FAILS(m, n, 0, EINVAL);

	n = IRQ(NT, UINT32_MAX, 2);
	CMD_FAILS(m, n, 0, EOVERFLOW);
	n = IRQ(NT, 0x80000000u, 0x80000000u);
	CMD_FAILS(m, n, 0, EOVERFLOW);

	/* count 0 only as "disable all": start 0, NONE|TRIGGER */
	n = IRQ(NT, 0, 0);
	CMD_OK(m, n, 0, &v);
	n = IRQ(NT, 1, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = IRQ(ET, 0, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = IRQ(UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_MASK, 0, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	/* DATA_BOOL: exactly count bytes after the 20-byte struct */
	s = (struct uvfio_irq_set){ .argsz = 24,
				    .flags = UVFIO_IRQ_DATA_BOOL |
					     UVFIO_IRQ_ACTION_TRIGGER,
				    .index = UVFIO_PCI_MSIX_IRQ,
				    .count = 4 };
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), bools, 4);
	CMD_OK(m, n, 0, &v);
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), bools, 3);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), bools, 5);
	CMD_FAILS(m, n, 0, EINVAL);
	s.count = 3; /* now the 4 bytes are one too many */
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), bools, 4);
	CMD_FAILS(m, n, 0, EINVAL);
	/* bools never come with fds */
	s.count = 4;
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), bools, 4);
	CMD_FAILS(m, n, 4, EINVAL);

	/* EVENTFD: one fd per vector, or none at all (= de-assign) */
	n = IRQ(ET, 0, 3);
	CMD_OK(m, n, 3, &v);
	CMD_OK(m, n, 0, &v);
	CMD_FAILS(m, n, 2, EINVAL);
	CMD_FAILS(m, n, 4, EINVAL);
	/* QEMU's INTx/MSI-X pattern: argsz 20, no data, count 1, one fd */
	s = (struct uvfio_irq_set){ .argsz = 20, .flags = ET,
				    .index = UVFIO_PCI_INTX_IRQ, .count = 1 };
	n = mk(UVFIO_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), NULL, 0);
	assert_int_equal(n, 36);
	CMD_OK(m, n, 1, &v);
	assert_int_equal(v.u.irq_set.req.count, 1);

	/* fds without DATA_EVENTFD */
	n = IRQ(NT, 0, 1);
	CMD_FAILS(m, n, 1, EINVAL);
	n = IRQ(UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_UNMASK, 0, 1);
	CMD_FAILS(m, n, 1, EINVAL);
#undef IRQ
}

static void test_bad_region_rw(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_region_rw r = { .offset = 0, .region = 0,
				     .count = (1u << 20) + 1 };
	static uint8_t data[64];
	size_t n;

	n = mk(UVFIO_CMD_REGION_READ, 0, &r, sizeof(r), NULL, 0);
	CMD_FAILS(m, n, 0, E2BIG);
	r.count = 4;
	r.offset = UINT64_MAX - 2;
	n = mk(UVFIO_CMD_REGION_READ, 0, &r, sizeof(r), NULL, 0);
	CMD_FAILS(m, n, 0, EOVERFLOW);
	r.offset = 0x10;
	n = mk(UVFIO_CMD_REGION_READ, 0, &r, sizeof(r), NULL, 0);
	CMD_OK(m, n, 0, &v);
	n = mk(UVFIO_CMD_REGION_READ, 0, &r, sizeof(r), data, 1);
	CMD_FAILS(m, n, 0, EINVAL); /* READ carries no data */

	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), data, 4);
	CMD_OK(m, n, 0, &v);
	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), data, 5);
	CMD_FAILS(m, n, 0, EINVAL);
	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), data, 3);
	CMD_FAILS(m, n, 0, EINVAL);
	r.count = (1u << 20) + 1;
	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), NULL, 0);
	CMD_FAILS(m, n, 0, E2BIG);
	r.count = 4;
	r.offset = UINT64_MAX;
	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), data, 4);
	CMD_FAILS(m, n, 0, EOVERFLOW);

	/* A smaller negotiated limit is the one that counts. */
	struct uvfio_limits small = lim;
	small.max_data_xfer = 8;
	r.offset = 0;
	r.count = 9;
	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), data, 9);
	CMD_FAILS_AS(UVFIO_ROLE_SERVER, &small, m, n, 0, E2BIG);
	r.count = 8;
	n = mk(UVFIO_CMD_REGION_WRITE, 0, &r, sizeof(r), data, 8);
	CMD_OK_AS(UVFIO_ROLE_SERVER, &small, m, n, 0, &v);
}

static void test_bad_reset_write_multi(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_limits nowm = lim;
	size_t n;

	n = mk(UVFIO_CMD_DEVICE_RESET, 0, NULL, 0, "x", 1);
	CMD_FAILS(m, n, 0, EINVAL);

	struct {
		uint64_t cnt;
		struct uvfio_write_multi_entry e[2];
	} UVFIO_PACKED w;
	memset(&w, 0, sizeof(w));
	w.cnt = 2;
	w.e[0].count = 4;
	w.e[1].count = 8;
	w.e[1].offset = 8;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, sizeof(w),
	       NULL, 0);
	CMD_OK(m, n, 0, &v);
	assert_int_equal(v.u.write_multi.n, 2);
	nowm.write_multiple = false;
	CMD_FAILS_AS(UVFIO_ROLE_SERVER, &nowm, m, n, 0, EINVAL);

	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, 7, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.cnt = 0;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, 8, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.cnt = 3; /* two entries present */
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, sizeof(w),
	       NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.cnt = 1;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, sizeof(w),
	       NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.cnt = 2;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w,
	       sizeof(w) - 1, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.cnt = (uint64_t)1 << 62; /* 24 * wr_cnt must not wrap to a match */
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, 8, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	w.cnt = 2;
	w.e[1].count = 0;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, sizeof(w),
	       NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.e[1].count = 9;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, sizeof(w),
	       NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	w.e[1].count = 8;
	w.e[1].offset = UINT64_MAX - 3;
	n = mk(UVFIO_CMD_REGION_WRITE_MULTI, UVFIO_F_NO_REPLY, &w, sizeof(w),
	       NULL, 0);
	CMD_FAILS(m, n, 0, EOVERFLOW);
}

static void test_bad_feature(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	const uint32_t G = UVFIO_FEATURE_GET, S = UVFIO_FEATURE_SET,
		       P = UVFIO_FEATURE_PROBE;
	size_t n;

#define FEAT(argsz, flags, data, dl)                                           \
	(size_t)uvfio_build_device_feature(m, sizeof(m), ID, (argsz), (flags),  \
					   (data), (dl))

	/* operation bits */
	n = FEAT(16, G | S | UVFIO_FEATURE_MIG_DEVICE_STATE, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(16, G | S | P | UVFIO_FEATURE_MIG_DEVICE_STATE, NULL, 0);
	CMD_OK(m, n, 0, &v);
	n = FEAT(16, UVFIO_FEATURE_MIG_DEVICE_STATE, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(16, G | (1u << 19) | UVFIO_FEATURE_MIGRATION, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(7, P | UVFIO_FEATURE_MIGRATION, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	/* feature indexes vfio-user does not define */
	n = FEAT(16, G | 0, NULL, 0);
	CMD_FAILS(m, n, 0, ENOTSUP);
	n = FEAT(16, G | 3, NULL, 0);
	CMD_FAILS(m, n, 0, ENOTSUP);
	n = FEAT(16, P | 0xffff, NULL, 0);
	CMD_FAILS(m, n, 0, ENOTSUP);

	/* MIGRATION: GET/PROBE only, GET needs room for the u64 */
	n = FEAT(16, G | UVFIO_FEATURE_MIGRATION, NULL, 0);
	CMD_OK(m, n, 0, &v);
	n = FEAT(15, G | UVFIO_FEATURE_MIGRATION, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(16, S | UVFIO_FEATURE_MIGRATION, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	/* MIG_DEVICE_STATE */
	struct uvfio_feature_mig_state st = { .device_state = 8 };
	n = FEAT(16, S | UVFIO_FEATURE_MIG_DEVICE_STATE, &st, sizeof(st));
	CMD_FAILS(m, n, 0, EINVAL);
	st.device_state = UINT32_MAX;
	n = FEAT(16, S | UVFIO_FEATURE_MIG_DEVICE_STATE, &st, sizeof(st));
	CMD_FAILS(m, n, 0, EINVAL);
	st.device_state = UVFIO_MIG_PRE_COPY_P2P; /* in range; FSM decides */
	n = FEAT(16, S | UVFIO_FEATURE_MIG_DEVICE_STATE, &st, sizeof(st));
	CMD_OK(m, n, 0, &v);
	n = FEAT(16, S | UVFIO_FEATURE_MIG_DEVICE_STATE, &st, 4);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(15, G | UVFIO_FEATURE_MIG_DEVICE_STATE, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(16, G | UVFIO_FEATURE_MIG_DEVICE_STATE, NULL, 0);
	CMD_OK(m, n, 0, &v);

	/* DMA_LOGGING_START */
	/* The header's fields spelled out: a struct ending in a flexible
	 * array may not sit inside another one (ISO C; clang says so). */
	struct {
		struct {
			uint64_t page_size;
			uint32_t num_ranges, reserved;
		} UVFIO_PACKED h;
		struct uvfio_log_range r[1];
	} UVFIO_PACKED ls = {
		.h = { .page_size = 4096, .num_ranges = 1 },
		.r = { { .iova = 0x100000, .length = 0x100000 } },
	}, ls0 = ls;
	_Static_assert(sizeof(ls.h) == sizeof(struct uvfio_feature_log_start),
		       "ls.h mirrors uvfio_feature_log_start");
	const uint32_t LS = S | UVFIO_FEATURE_DMA_LOGGING_START;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_OK(m, n, 0, &v);
	ls.h.page_size = 3;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);
	ls.h.page_size = 0;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);
	ls = ls0;
	ls.h.num_ranges = 2;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);
	ls.h.num_ranges = UINT32_MAX;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);
	ls = ls0;
	ls.r[0].length = 0;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);
	ls.r[0].iova = UINT64_MAX - 0xfff;
	ls.r[0].length = 0x2000;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);
	ls = ls0;
	n = FEAT(8 + sizeof(ls), LS, &ls, sizeof(ls.h) - 1);
	CMD_FAILS(m, n, 0, EINVAL);
	ls.h.num_ranges = 0; /* log everything */
	n = FEAT(8 + sizeof(ls.h), LS, &ls, sizeof(ls.h));
	CMD_OK(m, n, 0, &v);
	n = FEAT(8 + sizeof(ls), G | UVFIO_FEATURE_DMA_LOGGING_START, &ls,
		 sizeof(ls));
	CMD_FAILS(m, n, 0, EINVAL);

	/* DMA_LOGGING_STOP */
	n = FEAT(8, S | UVFIO_FEATURE_DMA_LOGGING_STOP, NULL, 0);
	CMD_OK(m, n, 0, &v);
	n = FEAT(8, G | UVFIO_FEATURE_DMA_LOGGING_STOP, NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);

	/* DMA_LOGGING_REPORT */
	const uint32_t RG = G | UVFIO_FEATURE_DMA_LOGGING_REPORT;
	struct uvfio_feature_log_report rep = {
		.iova = 0, .length = 1ull << 44, .page_size = 4096
	};
	n = FEAT(UINT32_MAX, RG, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, E2BIG); /* 512 MiB of bitmap */
	rep.length = 1ull << 43;   /* exactly 256 MiB: allowed */
	n = FEAT(32 + (256u << 20), RG, &rep, sizeof(rep));
	CMD_OK(m, n, 0, &v);
	assert_int_equal(v.u.feature.bitmap_bytes, 256u << 20);
	n = FEAT(32 + (256u << 20) - 1, RG, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, EINVAL);
	rep.length = 4096 * 64;
	n = FEAT(32 + 8, RG, &rep, sizeof(rep));
	CMD_OK(m, n, 0, &v);
	assert_int_equal(v.u.feature.bitmap_bytes, 8);
	n = FEAT(32 + 7, RG, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, EINVAL);
	rep.page_size = 3;
	n = FEAT(64, RG, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, EINVAL);
	rep.page_size = 4096;
	rep.length = 4095;
	n = FEAT(64, RG, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, EINVAL);
	rep.iova = UINT64_MAX - 0xfff;
	rep.length = 0x2000;
	n = FEAT(64, RG, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, EOVERFLOW);
	rep.iova = 0;
	n = FEAT(64, RG, &rep, sizeof(rep) - 1);
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(64, S | UVFIO_FEATURE_DMA_LOGGING_REPORT, &rep, sizeof(rep));
	CMD_FAILS(m, n, 0, EINVAL);
	n = FEAT(8, P | G | UVFIO_FEATURE_DMA_LOGGING_REPORT, NULL, 0);
	CMD_OK(m, n, 0, &v);
#undef FEAT
}

static void test_bad_mig_data(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_mig_data md = { .argsz = 8 + (1u << 20) + 1,
				     .size = (1u << 20) + 1 };
	size_t n;

	n = mk(UVFIO_CMD_MIG_DATA_READ, 0, &md, sizeof(md), NULL, 0);
	CMD_FAILS(m, n, 0, E2BIG);
	md.size = 1u << 20;
	md.argsz = 8 + (1u << 20);
	n = mk(UVFIO_CMD_MIG_DATA_READ, 0, &md, sizeof(md), NULL, 0);
	CMD_OK(m, n, 0, &v);
	md.argsz--;
	n = mk(UVFIO_CMD_MIG_DATA_READ, 0, &md, sizeof(md), NULL, 0);
	CMD_FAILS(m, n, 0, EINVAL);
	md.size = UINT32_MAX - 3; /* 8 + size must not wrap past argsz */
	md.argsz = 4;
	struct uvfio_limits big = lim;
	big.max_data_xfer = UINT32_MAX;
	n = mk(UVFIO_CMD_MIG_DATA_READ, 0, &md, sizeof(md), NULL, 0);
	CMD_FAILS_AS(UVFIO_ROLE_SERVER, &big, m, n, 0, EINVAL);

	md = (struct uvfio_mig_data){ .argsz = 12, .size = 4 };
	n = mk(UVFIO_CMD_MIG_DATA_WRITE, 0, &md, sizeof(md), "abcd", 4);
	CMD_OK(m, n, 0, &v);
	n = mk(UVFIO_CMD_MIG_DATA_WRITE, 0, &md, sizeof(md), "abc", 3);
	CMD_FAILS(m, n, 0, EINVAL);
	md.argsz = 11;
	n = mk(UVFIO_CMD_MIG_DATA_WRITE, 0, &md, sizeof(md), "abcd", 4);
	CMD_FAILS(m, n, 0, EINVAL);
	md = (struct uvfio_mig_data){ .argsz = 8 + (1u << 20) + 1,
				      .size = (1u << 20) + 1 };
	n = mk(UVFIO_CMD_MIG_DATA_WRITE, 0, &md, sizeof(md), NULL, 0);
	CMD_FAILS(m, n, 0, E2BIG);
}

static void test_bad_version(void **state)
{
	(void)state;
	struct uvfio_cmd_view v;
	struct uvfio_version ver = { 0, 0 };
	static char big[UVFIO_MAX_JSON_LEN + 1];
	size_t n;

	n = mk(UVFIO_CMD_VERSION, 0, &ver, sizeof(ver), "{}", 2);
	CMD_FAILS(m, n, 0, EINVAL); /* no NUL */
	n = mk(UVFIO_CMD_VERSION, 0, &ver, sizeof(ver), "{}\0{}", 6);
	CMD_FAILS(m, n, 0, EINVAL); /* interior NUL */
	/* A lone NUL frames correctly; that it is not JSON is for
	 * uvfio_caps_parse to say (test_caps_errors). */
	n = mk(UVFIO_CMD_VERSION, 0, &ver, sizeof(ver), "\0", 1);
	CMD_OK(m, n, 0, &v);
	assert_int_equal(v.u.version.json_len, 1);
	assert_string_equal(v.u.version.json, "");

	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 3] = '}';
	big[sizeof(big) - 2] = ' ';
	big[sizeof(big) - 1] = '\0';
	n = mk(UVFIO_CMD_VERSION, 0, &ver, sizeof(ver), big, sizeof(big));
	CMD_FAILS(m, n, 0, E2BIG);
	n = mk(UVFIO_CMD_VERSION, 0, &ver, sizeof(ver), big + 1,
	       sizeof(big) - 1);
	CMD_OK(m, n, 0, &v);
	assert_int_equal(v.u.version.json_len, UVFIO_MAX_JSON_LEN);
}

/* ---- 4. replies ----------------------------------------------------------- */

static void test_reply_common(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DEVICE_RESET,
				  .msg_id = 0x42 };
	size_t n;

	n = mkid(m, 0x42, UVFIO_CMD_DEVICE_RESET, RPL, NULL, 0, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.error, 0);
	assert_null(v.why);
	REPLY_FAILS(m, 15, 0, &e);
	REPLY_FAILS(m, 0, 0, &e);
	put32(m, 4, 17);
	REPLY_FAILS(m, n, 0, &e);

	n = mkid(m, 0x43, UVFIO_CMD_DEVICE_RESET, RPL, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 0x42, UVFIO_CMD_DEVICE_GET_INFO, RPL, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 0x42, UVFIO_CMD_DEVICE_RESET, UVFIO_F_TYPE_COMMAND, NULL, 0,
		 NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 0x42, UVFIO_CMD_DEVICE_RESET, 3, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 0x42, UVFIO_CMD_DEVICE_RESET, RPL | UVFIO_F_NO_REPLY, NULL,
		 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	/* header-only commands get header-only replies */
	n = mkid(m, 0x42, UVFIO_CMD_DEVICE_RESET, RPL, NULL, 0, "x", 1);
	REPLY_FAILS(m, n, 0, &e);
	e.cmd = UVFIO_CMD_DMA_MAP;
	n = mkid(m, 0x42, UVFIO_CMD_DMA_MAP, RPL, NULL, 0, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	n = mkid(m, 0x42, UVFIO_CMD_DMA_MAP, RPL, NULL, 0, NULL, 4);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 0x42, UVFIO_CMD_DMA_MAP, RPL, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 1, &e); /* max_fds 0 */

	/* ERROR replies parse with error = -errno */
	e.cmd = UVFIO_CMD_REGION_READ;
	e.count = 4;
	n = (size_t)uvfio_build_error(m, sizeof(m), 0x42,
				      UVFIO_CMD_REGION_READ, EFAULT);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.error, -EFAULT);
	assert_int_equal(v.hdr.error_no, EFAULT);
	put32(m, 12, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.error, -EIO);
	put32(m, 12, 5000);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.error, -EIO);
	put32(m, 12, 4096);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.error, -4096);
	/* libvfio-user sometimes puts a payload on error replies */
	n = mkid(m, 0x42, UVFIO_CMD_REGION_READ, RPL | UVFIO_F_ERROR, NULL, 0,
		 "0123456789abcdefXY", 18);
	put32(m, 12, EINVAL);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.error, -EINVAL);
	/* but fds with an error make no sense */
	e.max_fds = 1;
	n = (size_t)uvfio_build_error(m, sizeof(m), 0x42,
				      UVFIO_CMD_REGION_READ, EINVAL);
	REPLY_FAILS(m, n, 1, &e);
	REPLY_OK(m, n, 0, &e, &v);

	assert_int_equal(uvfio_errno_from_wire(1), -1);
	assert_int_equal(uvfio_errno_from_wire(EINVAL), -EINVAL);
	assert_int_equal(uvfio_errno_from_wire(4096), -4096);
	assert_int_equal(uvfio_errno_from_wire(4097), -EIO);
	assert_int_equal(uvfio_errno_from_wire(0), -EIO);
	assert_int_equal(uvfio_errno_from_wire(UINT32_MAX), -EIO);
	assert_int_equal(uvfio_errno_from_wire(0x80000000u), -EIO);
}

static void test_reply_region_rw(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_REGION_READ, .msg_id = 9,
				  .count = 4, .index = UVFIO_PCI_CONFIG,
				  .addr = 0x40 };
	struct uvfio_region_rw r = { .offset = 0x40,
				     .region = UVFIO_PCI_CONFIG, .count = 4 };
	const uint8_t data[5] = { 0x86, 0x80, 0x34, 0x12, 0x99 };
	size_t n;

	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 4);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.region_rw.count, 4);
	assert_ptr_equal(v.u.region_rw.data, m + 32);
	assert_memory_equal(v.u.region_rw.data, data, 4);
	/* a short read is legal */
	r.count = 2;
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 2);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.region_rw.count, 2);
	/* more than asked for is not */
	r.count = 5;
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 5);
	REPLY_FAILS(m, n, 0, &e);
	/* data length must match the reply's count */
	r.count = 4;
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 3);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 5);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, 15, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	/* echoed offset and region */
	r.offset = 0x44;
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 4);
	REPLY_FAILS(m, n, 0, &e);
	r.offset = 0x40;
	r.region = 0;
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, &r, sizeof(r), data, 4);
	REPLY_FAILS(m, n, 0, &e);
	/* libvfio-user answers count 0 with no payload at all */
	n = mkid(m, 9, UVFIO_CMD_REGION_READ, RPL, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	e.count = 0;
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.region_rw.count, 0);
	assert_null(v.u.region_rw.data);

	/* REGION_WRITE: a 16-byte echo */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_REGION_WRITE, .msg_id = 9,
				   .count = 4, .index = 2, .addr = 0x10 };
	r = (struct uvfio_region_rw){ .offset = 0x10, .region = 2, .count = 4 };
	n = mkid(m, 9, UVFIO_CMD_REGION_WRITE, RPL, &r, sizeof(r), NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.region_rw.count, 4);
	n = mkid(m, 9, UVFIO_CMD_REGION_WRITE, RPL, &r, sizeof(r), data, 4);
	REPLY_FAILS(m, n, 0, &e);
	r.region = 3;
	n = mkid(m, 9, UVFIO_CMD_REGION_WRITE, RPL, &r, sizeof(r), NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
}

/* A GET_REGION_INFO reply payload into b; returns its length. */
static uint32_t region_info(uint8_t *b, uint32_t argsz, uint32_t flags,
			    uint32_t index, uint32_t cap_offset, uint64_t size)
{
	memset(b, 0, 32);
	put32(b, 0, argsz);
	put32(b, 4, flags);
	put32(b, 8, index);
	put32(b, 12, cap_offset);
	put64(b, 16, size);
	put64(b, 24, 0);
	return 32;
}

static void sparse_cap(uint8_t *b, uint32_t off, uint32_t next, uint32_t nr)
{
	put16(b, off, UVFIO_CAP_SPARSE_MMAP);
	put16(b, off + 2, 1);
	put32(b, off + 4, next);
	put32(b, off + 8, nr);
	put32(b, off + 12, 0);
}

static void sparse_area(uint8_t *b, uint32_t off, uint64_t o, uint64_t s)
{
	put64(b, off, o);
	put64(b, off + 8, s);
}

static void type_cap(uint8_t *b, uint32_t off, uint32_t next, uint32_t type,
		     uint32_t subtype)
{
	put16(b, off, UVFIO_CAP_TYPE);
	put16(b, off + 2, 1);
	put32(b, off + 4, next);
	put32(b, off + 8, type);
	put32(b, off + 12, subtype);
}

static void test_reply_region_info(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_INFO,
				  .msg_id = 5, .argsz = 32, .index = 0,
				  .max_fds = 1 };
	const uint32_t RWM = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			     UVFIO_REGION_MMAP;
	uint8_t p[128];
	size_t n;

	/* first ask with argsz 32: libvfio-user says 64 needed, no fd/caps */
	region_info(p, 64, RWM, 0, 0, 0x10000);
	n = mkid(m, 5, e.cmd, RPL, p, 32, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_false(v.u.region_info.complete);
	assert_int_equal(v.u.region_info.info.argsz, 64);
	assert_int_equal(v.u.region_info.info.size, 0x10000);
	/* an fd on the short reply is harmless (MMAP is set) */
	REPLY_OK(m, n, 1, &e, &v);

	/* then with argsz 64: sparse cap with one area, and the fd */
	e.argsz = 64;
	region_info(p, 64, RWM | UVFIO_REGION_CAPS, 0, 32, 0x10000);
	sparse_cap(p, 32, 0, 1);
	sparse_area(p, 48, 0, 0x10000);
	n = mkid(m, 5, e.cmd, RPL, p, 64, NULL, 0);
	REPLY_OK(m, n, 1, &e, &v);
	assert_true(v.u.region_info.complete);
	assert_int_equal(v.u.region_info.info.cap_offset, 32);
	assert_int_equal(v.nfds, 1);
	REPLY_FAILS(m, n, 2, &e);

	/* reply larger than the argsz we offered */
	e.argsz = 32;
	REPLY_FAILS(m, n, 1, &e);
	e.argsz = 64;

	/* index must echo */
	e.index = 1;
	REPLY_FAILS(m, n, 1, &e);
	e.index = 0;

	/* an fd for a region that cannot be mapped */
	region_info(p, 32, UVFIO_REGION_READ | UVFIO_REGION_WRITE, 0, 0, 256);
	n = mkid(m, 5, e.cmd, RPL, p, 32, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_true(v.u.region_info.complete);
	REPLY_FAILS(m, n, 1, &e);

	/* reply argsz below the fixed struct */
	region_info(p, 31, UVFIO_REGION_READ, 0, 0, 256);
	n = mkid(m, 5, e.cmd, RPL, p, 32, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 5, e.cmd, RPL, p, 31, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* cap_offset must point inside the reply, after the struct */
	region_info(p, 64, RWM | UVFIO_REGION_CAPS, 0, 16, 0x10000);
	sparse_cap(p, 32, 0, 1);
	sparse_area(p, 48, 0, 0x10000);
	n = mkid(m, 5, e.cmd, RPL, p, 64, NULL, 0);
	REPLY_FAILS(m, n, 1, &e);
	put32(p, 12, 57); /* 64 - 8 + 1 */
	n = mkid(m, 5, e.cmd, RPL, p, 64, NULL, 0);
	REPLY_FAILS(m, n, 1, &e);
	put32(p, 12, 56);
	n = mkid(m, 5, e.cmd, RPL, p, 64, NULL, 0);
	REPLY_OK(m, n, 1, &e, &v);
}

/* An IO_FDS entry of the given stride at b + off. */
static void io_fd_entry(uint8_t *b, size_t off, uint32_t stride,
			uint32_t fd_index, uint32_t type)
{
	memset(b + off, 0, stride);
	put64(b, off, 0x100);
	put64(b, off + 8, 4);
	put32(b, off + 16, fd_index);
	put32(b, off + 20, type);
}

static void test_reply_io_fds(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_IO_FDS,
				  .msg_id = 6, .argsz = 4096, .index = 1,
				  .max_fds = 8 };
	uint8_t p[256];
	size_t n;

#define IOHDR(cnt)                                                             \
	do {                                                                   \
		put32(p, 0, 16);                                               \
		put32(p, 4, 0);                                                \
		put32(p, 8, 1);                                                \
		put32(p, 12, (cnt));                                           \
	} while (0)

	/* spec stride 40 */
	IOHDR(2);
	io_fd_entry(p, 16, 40, 0, UVFIO_IO_FD_IOEVENTFD);
	io_fd_entry(p, 56, 40, 1, UVFIO_IO_FD_IOREGIONFD);
	n = mkid(m, 6, e.cmd, RPL, p, 96, NULL, 0);
	REPLY_OK(m, n, 2, &e, &v);
	assert_int_equal(v.u.io_fds.stride, 40);
	assert_int_equal(v.u.io_fds.hdr.count, 2);
	assert_ptr_equal(v.u.io_fds.entries, m + 32);
	/* fd_index 1 but only one fd arrived */
	REPLY_FAILS(m, n, 1, &e);

	/* libvfio-user stride 48 */
	IOHDR(1);
	io_fd_entry(p, 16, 48, 0, UVFIO_IO_FD_IOEVENTFD_SHADOW);
	n = mkid(m, 6, e.cmd, RPL, p, 64, NULL, 0);
	REPLY_OK(m, n, 1, &e, &v);
	assert_int_equal(v.u.io_fds.stride, 48);
	REPLY_FAILS(m, n, 0, &e);

	/* 44 is neither */
	IOHDR(1);
	io_fd_entry(p, 16, 44, 0, UVFIO_IO_FD_IOEVENTFD);
	n = mkid(m, 6, e.cmd, RPL, p, 60, NULL, 0);
	REPLY_FAILS(m, n, 1, &e);
	/* mixed 40 + 48: averages to 44, refused */
	IOHDR(2);
	io_fd_entry(p, 16, 40, 0, 0);
	io_fd_entry(p, 56, 48, 0, 0);
	n = mkid(m, 6, e.cmd, RPL, p, 104, NULL, 0);
	REPLY_FAILS(m, n, 1, &e);
	/* body present but count 0 */
	IOHDR(0);
	io_fd_entry(p, 16, 40, 0, 0);
	n = mkid(m, 6, e.cmd, RPL, p, 56, NULL, 0);
	REPLY_FAILS(m, n, 1, &e);

	/* 0xffffffff = no fd */
	IOHDR(1);
	io_fd_entry(p, 16, 40, UVFIO_IO_FD_NONE, UVFIO_IO_FD_IOREGIONFD);
	n = mkid(m, 6, e.cmd, RPL, p, 56, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	/* unknown entry type */
	io_fd_entry(p, 16, 40, UVFIO_IO_FD_NONE, 3);
	n = mkid(m, 6, e.cmd, RPL, p, 56, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	/* entry wrapping */
	io_fd_entry(p, 16, 40, UVFIO_IO_FD_NONE, 0);
	put64(p, 16, UINT64_MAX - 1);
	n = mkid(m, 6, e.cmd, RPL, p, 56, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* truncated reply: header only, count says how many, no fds */
	IOHDR(5);
	put32(p, 0, 16 + 5 * 48);
	n = mkid(m, 6, e.cmd, RPL, p, 16, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.io_fds.stride, 0);
	assert_int_equal(v.u.io_fds.hdr.count, 5);
	assert_int_equal(v.u.io_fds.hdr.argsz, 256);
	REPLY_FAILS(m, n, 1, &e);

	/* index echo and argsz bound */
	IOHDR(1);
	put32(p, 8, 2);
	io_fd_entry(p, 16, 40, 0, 0);
	n = mkid(m, 6, e.cmd, RPL, p, 56, NULL, 0);
	REPLY_FAILS(m, n, 1, &e);
	put32(p, 8, 1);
	n = mkid(m, 6, e.cmd, RPL, p, 56, NULL, 0);
	e.argsz = 55;
	REPLY_FAILS(m, n, 1, &e);
#undef IOHDR
}

static void test_reply_dma(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DMA_READ, .msg_id = 11,
				  .count = 4, .addr = 0x1000,
				  .dma_layout = UVFIO_DMA_LAYOUT_SPEC };
	const uint8_t data[8] = { 0xa1, 0xa2, 0xa3, 0xa4, 0, 0, 0, 0 };
	struct uvfio_dma_rw d = { .addr = 0x1000, .count = 4 };
	struct uvfio_dma_rw_qemu q = { .addr = 0x1000, .count = 4 };
	size_t n;

	/* spec layout: u64 count, data at payload 16 */
	n = mkid(m, 11, e.cmd, RPL, &d, sizeof(d), data, 4);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.dma_rw.count, 4);
	assert_ptr_equal(v.u.dma_rw.data, m + 32);
	n = mkid(m, 11, e.cmd, RPL, &d, sizeof(d), data, 3);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 11, e.cmd, RPL, &d, sizeof(d), data, 8);
	REPLY_FAILS(m, n, 0, &e);
	d.addr = 0x1004;
	n = mkid(m, 11, e.cmd, RPL, &d, sizeof(d), data, 4);
	REPLY_FAILS(m, n, 0, &e);
	d.addr = 0x1000;
	d.count = 2;
	n = mkid(m, 11, e.cmd, RPL, &d, sizeof(d), data, 2);
	REPLY_FAILS(m, n, 0, &e);
	/* QEMU's reply parsed as spec layout: its "count" swallows data */
	n = mkid(m, 11, e.cmd, RPL, &q, sizeof(q), data, 8);
	REPLY_FAILS(m, n, 0, &e);

	/* QEMU layout: u32 count, data at 12, maybe 4 bytes of padding */
	e.dma_layout = UVFIO_DMA_LAYOUT_QEMU;
	n = mkid(m, 11, e.cmd, RPL, &q, sizeof(q), data, 4);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.dma_rw.count, 4);
	assert_ptr_equal(v.u.dma_rw.data, m + 28);
	assert_memory_equal(v.u.dma_rw.data, data, 4);
	n = mkid(m, 11, e.cmd, RPL, &q, sizeof(q), data, 8);
	REPLY_OK(m, n, 0, &e, &v);
	assert_ptr_equal(v.u.dma_rw.data, m + 28);
	n = mkid(m, 11, e.cmd, RPL, &q, sizeof(q), data, 5);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 11, e.cmd, RPL, &q, sizeof(q), data, 3);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 11, e.cmd, RPL, &q, 11, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	q.addr = 0;
	n = mkid(m, 11, e.cmd, RPL, &q, sizeof(q), data, 4);
	REPLY_FAILS(m, n, 0, &e);

	/* DMA_WRITE: spec 16-byte echo; QEMU header only */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DMA_WRITE, .msg_id = 12,
				   .count = 4, .addr = 0x1000 };
	d = (struct uvfio_dma_rw){ .addr = 0x1000, .count = 4 };
	n = mkid(m, 12, e.cmd, RPL, &d, sizeof(d), NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.dma_rw.count, 4);
	assert_null(v.u.dma_rw.data);
	n = mkid(m, 12, e.cmd, RPL, &d, sizeof(d), data, 4);
	REPLY_FAILS(m, n, 0, &e);
	d.count = 3;
	n = mkid(m, 12, e.cmd, RPL, &d, sizeof(d), NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 12, e.cmd, RPL, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	e.dma_layout = UVFIO_DMA_LAYOUT_QEMU;
	REPLY_OK(m, n, 0, &e, &v);
	d.count = 4;
	n = mkid(m, 12, e.cmd, RPL, &d, sizeof(d), NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
}

/*
 * Both DMA layouts from the codec's builders.  QEMU's rules
 * (hw/vfio-user/pci.c, vfio_user_dma_read/_write): nothing shorter than
 * 32 bytes, and a DMA_WRITE's count at most msg_size - 32.
 */
static void test_build_dma_layouts(void **state)
{
	(void)state;
	const enum uvfio_dma_layout S = UVFIO_DMA_LAYOUT_SPEC;
	const enum uvfio_dma_layout Q = UVFIO_DMA_LAYOUT_QEMU;
	const uint8_t data[5] = { 1, 2, 3, 4, 5 };
	struct uvfio_hdr h;
	uint32_t c32;
	uint64_t a, c64;

	assert_int_equal(uvfio_dma_data_offset(S), 32);
	assert_int_equal(uvfio_dma_data_offset(Q), 28);
	assert_int_equal(uvfio_dma_data_trailer(S), 0);
	assert_int_equal(uvfio_dma_data_trailer(Q), 4);
	for (uint32_t n = 0; n < 70000; n += 4099) {
		assert_int_equal(uvfio_dma_data_msg_size(S, n), 32 + n);
		assert_int_equal(uvfio_dma_data_msg_size(Q, n), 32 + n);
	}
	assert_int_equal(uvfio_dma_data_msg_size(Q, UINT32_MAX), 0);
	assert_int_equal(uvfio_dma_read_msg_size(Q), UVFIO_DMA_QEMU_MIN_MSG);

	/* DMA_WRITE of 5 bytes in QEMU's layout: 16 + 12 + 5 + 4 */
	memset(m, 0xcc, 64);
	assert_int_equal(uvfio_build_dma_write_in(m, sizeof(m), Q, 9, 0x2000,
						  data, 5),
			 37);
	memcpy(&h, m, sizeof(h));
	assert_int_equal(h.msg_size, 37);
	assert_int_equal(h.cmd, UVFIO_CMD_DMA_WRITE);
	assert_int_equal(h.flags, 0);
	memcpy(&a, m + 16, 8);
	memcpy(&c32, m + 24, 4);
	assert_int_equal(a, 0x2000);
	assert_int_equal(c32, 5);
	assert_memory_equal(m + 28, data, 5);
	const uint8_t zero4[4] = { 0 };
	assert_memory_equal(m + 33, zero4, 4);
	/* what QEMU checks */
	assert_true(h.msg_size >= UVFIO_DMA_QEMU_MIN_MSG);
	assert_true(c32 <= h.msg_size - UVFIO_DMA_QEMU_MIN_MSG);
	/* too small a buffer */
	assert_int_equal(uvfio_build_dma_write_in(m, 36, Q, 9, 0, data, 5),
			 -ENOSPC);

	/* The same in the spec's layout: u64 count, data at 32. */
	assert_int_equal(uvfio_build_dma_write_in(m, sizeof(m), S, 9, 0x2000,
						  data, 5),
			 37);
	memcpy(&c64, m + 24, 8);
	assert_int_equal(c64, 5);
	assert_memory_equal(m + 32, data, 5);

	/* The head of a write whose data is sent from elsewhere: header and
	 * fixed part, then the trailer, msg_size counting the data. */
	memset(m, 0xcc, 64);
	assert_int_equal(uvfio_build_dma_write_head(m, 32, Q, 3, 0x3000, 65536),
			 32);
	memcpy(&h, m, sizeof(h));
	assert_int_equal(h.msg_size, 32 + 65536);
	memcpy(&c32, m + 24, 4);
	assert_int_equal(c32, 65536);
	assert_memory_equal(m + 28, zero4, 4);
	assert_int_equal(uvfio_build_dma_write_head(m, 31, Q, 3, 0, 1), -ENOSPC);
	assert_int_equal(uvfio_build_dma_write_head(m, 64, S, 3, 0, 1), 32);

	/* DMA_READ requests: 32 bytes in both, no uninitialised padding. */
	memset(m, 0xcc, 64);
	assert_int_equal(uvfio_build_dma_read_in(m, sizeof(m), Q, 4, 0x4000,
						 4096),
			 32);
	memcpy(&c32, m + 24, 4);
	assert_int_equal(c32, 4096);
	assert_memory_equal(m + 28, zero4, 4);
	assert_int_equal(uvfio_build_dma_read_in(m, 31, Q, 4, 0, 1), -ENOSPC);

	/* QEMU's replies, parsed as a server expects them. */
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DMA_READ, .msg_id = 4,
				  .count = 5, .addr = 0x4000,
				  .dma_layout = Q };
	ssize_t n = uvfio_build_dma_read_reply_in(m, sizeof(m), Q, 4, 0x4000,
						  data, 5);
	assert_int_equal(n, 37);
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_memory_equal(v.u.dma_rw.data, data, 5);
	e.cmd = UVFIO_CMD_DMA_WRITE;
	n = uvfio_build_dma_write_reply_in(m, sizeof(m), Q, 4, 0x4000, 5);
	assert_int_equal(n, 16);
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	e.dma_layout = S;
	n = uvfio_build_dma_write_reply_in(m, sizeof(m), S, 4, 0x4000, 5);
	assert_int_equal(n, 32);
	REPLY_OK(m, (size_t)n, 0, &e, &v);
}

static void test_reply_misc(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	struct uvfio_expect e;
	static uint8_t p[8 + 4096 + 1];
	size_t n;

	/* VERSION reply */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_VERSION, .msg_id = 1 };
	n = (size_t)uvfio_build_version(m, sizeof(m), 1, true, 0, 0,
					"{\"capabilities\":{}}");
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.version.major, 0);
	assert_string_equal(v.u.version.json, "{\"capabilities\":{}}");
	assert_int_equal(v.u.version.json_len, 20);
	struct uvfio_version ver = { 0, 0 };
	n = mkid(m, 1, UVFIO_CMD_VERSION, RPL, &ver, sizeof(ver), "{}", 2);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 1, UVFIO_CMD_VERSION, RPL, &ver, 2, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* MIG_DATA_READ: libvfio-user pads to the requested size */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_MIG_DATA_READ, .msg_id = 17,
				   .argsz = 8 + 4096, .count = 4096 };
	memset(p, 0, sizeof(p));
	put32(p, 0, 8 + 100);
	put32(p, 4, 100);
	memset(p + 8, 0x5a, 100);
	n = mkid(m, 17, e.cmd, RPL, p, 8 + 4096, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.mig_data.size, 100);
	assert_ptr_equal(v.u.mig_data.data, m + 24);
	n = mkid(m, 17, e.cmd, RPL, p, 8 + 100, NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.mig_data.size, 100);
	n = mkid(m, 17, e.cmd, RPL, p, 8 + 99, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 17, e.cmd, RPL, p, 8 + 4096 + 1, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	put32(p, 4, 4097);
	n = mkid(m, 17, e.cmd, RPL, p, 8 + 4096, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 17, e.cmd, RPL, p, 7, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* DMA_UNMAP reply: the echo, within argsz */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DMA_UNMAP, .msg_id = 3,
				   .argsz = 24 };
	struct uvfio_dma_unmap u = { .argsz = 24, .addr = 0x1000,
				     .size = 0x2000 };
	n = mkid(m, 3, e.cmd, RPL, &u, sizeof(u), NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.dma_unmap.addr, 0x1000);
	assert_int_equal(v.u.dma_unmap.size, 0x2000);
	n = mkid(m, 3, e.cmd, RPL, &u, sizeof(u), NULL, 16);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 3, e.cmd, RPL, &u, 23, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* DEVICE_GET_INFO / GET_IRQ_INFO */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DEVICE_GET_INFO,
				   .msg_id = 4, .argsz = 16 };
	struct uvfio_device_info di = { .argsz = 16,
					.flags = UVFIO_DEV_PCI |
						 UVFIO_DEV_RESET,
					.num_regions = 9, .num_irqs = 5 };
	n = mkid(m, 4, e.cmd, RPL, &di, sizeof(di), NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.device_info.num_regions, 9);
	assert_int_equal(v.u.device_info.num_irqs, 5);
	n = mkid(m, 4, e.cmd, RPL, &di, sizeof(di), NULL, 1);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 4, e.cmd, RPL, &di, 15, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO,
				   .msg_id = 7, .argsz = 16,
				   .index = UVFIO_PCI_MSIX_IRQ };
	struct uvfio_irq_info ii = { .argsz = 16,
				     .flags = UVFIO_IRQ_INFO_EVENTFD,
				     .index = UVFIO_PCI_MSIX_IRQ,
				     .count = 32 };
	n = mkid(m, 7, e.cmd, RPL, &ii, sizeof(ii), NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.irq_info.count, 32);
	ii.index = UVFIO_PCI_MSI_IRQ;
	n = mkid(m, 7, e.cmd, RPL, &ii, sizeof(ii), NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* WRITE_MULTI reply: u64 writes completed */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_REGION_WRITE_MULTI,
				   .msg_id = 15 };
	uint64_t done = 7;
	n = mkid(m, 15, e.cmd, RPL, &done, sizeof(done), NULL, 0);
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.write_multi_done, 7);
	n = mkid(m, 15, e.cmd, RPL, &done, 4, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* DEVICE_FEATURE reply within argsz */
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DEVICE_FEATURE,
				   .msg_id = 16, .argsz = 16 };
	struct uvfio_feature f = { .argsz = 16,
				   .flags = UVFIO_FEATURE_GET |
					    UVFIO_FEATURE_MIGRATION };
	uint64_t mflags = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY;
	n = mkid(m, 16, e.cmd, RPL, &f, sizeof(f), &mflags, sizeof(mflags));
	REPLY_OK(m, n, 0, &e, &v);
	assert_int_equal(v.u.feature.data_len, 8);
	assert_int_equal(get64(v.u.feature.data, 0), 5);
	n = mkid(m, 16, e.cmd, RPL, &f, sizeof(f), NULL, 9);
	REPLY_FAILS(m, n, 0, &e);
	n = mkid(m, 16, e.cmd, RPL, &f, 7, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);

	/* a reply to a command number we never send */
	e = (struct uvfio_expect){ .cmd = 19, .msg_id = 1 };
	n = mkid(m, 1, 19, RPL, NULL, 0, NULL, 0);
	REPLY_FAILS(m, n, 0, &e);
}

/* ---- 5. region capabilities ------------------------------------------------ */

static void test_region_caps(void **state)
{
	(void)state;
	struct uvfio_region_caps c;
	const char *why;
	uint8_t p[256];
	const uint32_t F = UVFIO_REGION_READ | UVFIO_REGION_MMAP |
			   UVFIO_REGION_CAPS;

	/* sparse mmap, two areas: cap at 32, 16 + 32 bytes, ends at 80 */
	memset(p, 0, sizeof(p));
	region_info(p, 80, F, 0, 32, 0x10000);
	sparse_cap(p, 32, 0, 2);
	sparse_area(p, 48, 0, 0x1000);
	sparse_area(p, 64, 0x3000, 0xd000);
	assert_int_equal(uvfio_parse_region_caps(p, 80, &c, &why), 0);
	assert_true(c.has_sparse);
	assert_false(c.has_type);
	assert_int_equal(c.nr_areas, 2);
	assert_ptr_equal(c.areas, p + 48);
	assert_int_equal(get64(c.areas, 16), 0x3000);
	assert_int_equal(get64(c.areas, 24), 0xd000);
	/* caps must fit the bytes we have */
	why = NULL;
	assert_int_equal(uvfio_parse_region_caps(p, 79, &c, &why), -EPROTO);
	assert_non_null(why);

	/* type cap alone */
	memset(p, 0, sizeof(p));
	region_info(p, 48, UVFIO_REGION_READ | UVFIO_REGION_CAPS, 9, 32, 4096);
	type_cap(p, 32, 0, 0x8086, 1);
	assert_int_equal(uvfio_parse_region_caps(p, 48, &c, &why), 0);
	assert_true(c.has_type);
	assert_false(c.has_sparse);
	assert_int_equal(c.type, 0x8086);
	assert_int_equal(c.subtype, 1);
	assert_int_equal(uvfio_parse_region_caps(p, 47, &c, &why), -EPROTO);

	/* chain: sparse at 32 -> type at 80 -> MSIX_MAPPABLE at 96 */
	memset(p, 0, sizeof(p));
	region_info(p, 104, F, 0, 32, 0x10000);
	sparse_cap(p, 32, 80, 2);
	sparse_area(p, 48, 0, 0x1000);
	sparse_area(p, 64, 0x3000, 0xd000);
	type_cap(p, 80, 96, 3, 4);
	put16(p, 96, UVFIO_CAP_MSIX_MAPPABLE);
	put16(p, 98, 1);
	put32(p, 100, 0);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), 0);
	assert_true(c.has_sparse);
	assert_true(c.has_type);
	assert_true(c.msix_mappable);
	assert_int_equal(c.nr_areas, 2);
	assert_int_equal(c.type, 3);
	assert_int_equal(c.subtype, 4);
	/* unknown ids are skipped, the chain goes on */
	put16(p, 80, 0x77);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), 0);
	assert_false(c.has_type);
	assert_true(c.msix_mappable);
	put16(p, 80, UVFIO_CAP_TYPE);

	/* a loop: the last cap points back to the first, or to itself */
	put32(p, 100, 32);
	why = NULL;
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	assert_non_null(why);
	put32(p, 100, 96);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 100, 80);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 100, 0);

	/* offsets beyond the reply */
	put32(p, 84, 200);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 84, 97); /* header would end at 105 */
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 84, 96);
	put32(p, 12, 104);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 12, UINT32_MAX);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	/* and before the struct's end */
	put32(p, 12, 16);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 12, 32);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), 0);

	/* nr_areas beyond the bytes present, and beyond any sane count */
	put32(p, 40, 5);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 40, UVFIO_MAX_SPARSE_AREAS + 1);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 40, UINT32_MAX);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	put32(p, 40, 2);

	/* areas must lie inside the region */
	sparse_area(p, 64, 0xf000, 0x2000);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	sparse_area(p, 64, UINT64_MAX, 2);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), -EPROTO);
	sparse_area(p, 64, 0xf000, 0x1000);
	assert_int_equal(uvfio_parse_region_caps(p, 104, &c, &why), 0);

	/* a second sparse cap in one chain */
	memset(p, 0, sizeof(p));
	region_info(p, 64, F, 0, 32, 0x10000);
	sparse_cap(p, 32, 48, 0);
	sparse_cap(p, 48, 0, 0);
	assert_int_equal(uvfio_parse_region_caps(p, 64, &c, &why), -EPROTO);

	/* no CAPS flag: nothing to walk, whatever cap_offset says */
	memset(p, 0, sizeof(p));
	region_info(p, 32, UVFIO_REGION_READ, 0, 12345, 4096);
	assert_int_equal(uvfio_parse_region_caps(p, 32, &c, &why), 0);
	assert_false(c.has_sparse);
	assert_false(c.has_type);
	assert_int_equal(uvfio_parse_region_caps(p, 31, &c, NULL), -EPROTO);
}

/* ---- 6. bitmap sizes --------------------------------------------------------- */

static void test_bitmap_bytes(void **state)
{
	(void)state;
	assert_int_equal(uvfio_bitmap_bytes(4096 * 64, 4096), 8);
	assert_int_equal(uvfio_bitmap_bytes(4096 * 65, 4096), 16);
	assert_int_equal(uvfio_bitmap_bytes(1, 4096), 8);
	assert_int_equal(uvfio_bitmap_bytes(4096 * 64 + 1, 4096), 16);
	assert_int_equal(uvfio_bitmap_bytes(4096, 0), 0);
	assert_int_equal(uvfio_bitmap_bytes(0, 4096), 0);
	assert_int_equal(uvfio_bitmap_bytes(1ull << 43, 4096), 256u << 20);
	assert_int_equal(uvfio_bitmap_bytes(UINT64_MAX, 1), 1ull << 61);
}

/*
 * The overflow edge, and the one convention both size functions keep: a
 * size is never wrapped and never 0 for a non-empty range; one that the
 * result type cannot hold saturates at its maximum.  In 64 bits the
 * largest bitmap is 2^61 bytes, so uvfio_bitmap_bytes() never saturates;
 * uvfio_dma_logging_bitmap_size() only does where size_t is narrower.
 */
static void test_bitmap_bytes_overflow_edge(void **state)
{
	(void)state;
	static const struct {
		uint64_t length, page_size, bytes;
	} edge[] = {
		{ UINT64_MAX, 1, 1ull << 61 },            /* the largest */
		{ UINT64_MAX - 62, 1, 1ull << 61 },       /* needs the last word */
		{ UINT64_MAX - 63, 1, (1ull << 61) - 8 }, /* fills the one before */
		{ UINT64_MAX, 2, 1ull << 60 },            /* a page rounded up */
		{ UINT64_MAX, 1ull << 63, 8 },
		{ UINT64_MAX, UINT64_MAX, 8 },
		{ 1, UINT64_MAX, 8 },
		{ (1ull << 43) + 1, 4096, (256u << 20) + 8 }, /* past the cap */
		{ 0, 1, 0 },
		{ UINT64_MAX, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		uint64_t b = uvfio_bitmap_bytes(edge[i].length,
						edge[i].page_size);
		size_t z = uvfio_dma_logging_bitmap_size(edge[i].length,
							 edge[i].page_size);
		if (b != edge[i].bytes)
			print_error("edge %zu: %llu bytes\n", i,
				    (unsigned long long)b);
		assert_true(b == edge[i].bytes);
		assert_true(z == (b > SIZE_MAX ? SIZE_MAX : (size_t)b));
	}
	/* The same rule over a sweep of lengths and page sizes. */
	for (unsigned sh = 0; sh < 64; sh++) {
		uint64_t ps = 1ull << sh;
		for (uint64_t len = 1; len < (1ull << 62); len = len * 3 + 1) {
			uint64_t pages = len / ps + (len % ps != 0);
			uint64_t b = uvfio_bitmap_bytes(len, ps);
			assert_true(b == (pages + 63) / 64 * 8);
			assert_true(uvfio_dma_logging_bitmap_size(len, ps) == b);
		}
	}
	/* A report past the cap is refused whatever argsz says. */
	struct uvfio_feature_log_report rep = {
		.iova = 0, .length = UINT64_MAX, .page_size = 1
	};
	ssize_t n = uvfio_build_device_feature(
		m, sizeof(m), ID, UINT32_MAX,
		UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT, &rep,
		sizeof(rep));
	assert_true(n > 0);
	CMD_FAILS(m, (size_t)n, 0, E2BIG);
}

/* ---- 7. capability JSON ------------------------------------------------------ */

#define CAPS_FAILS(s)                                                          \
	do {                                                                   \
		struct uvfio_caps c_;                                          \
		const char *w_ = NULL;                                         \
		int r_ = uvfio_caps_parse((s), sizeof(s), &c_, &w_);           \
		if (r_ != -EINVAL)                                             \
			print_error("caps_parse(%s): got %d\n", (s), r_);      \
		assert_int_equal(r_, -EINVAL);                                 \
		assert_non_null(w_);                                           \
	} while (0)

#define CAPS_OK(s, c)                                                          \
	do {                                                                   \
		const char *w_ = NULL;                                         \
		int r_ = uvfio_caps_parse((s), strlen(s) + 1, (c), &w_);       \
		if (r_)                                                        \
			print_error("caps_parse(%s): got %d (%s)\n", (s), r_,  \
				    w_ ? w_ : "no reason");                    \
		assert_int_equal(r_, 0);                                       \
	} while (0)

static void assert_defaults(const struct uvfio_caps *c)
{
	assert_int_equal(c->present, 0);
	assert_int_equal(c->max_msg_fds, 1);
	assert_int_equal(c->max_data_xfer_size, 1048576);
	assert_int_equal(c->max_dma_maps, 65535);
	assert_int_equal(c->pgsizes, 4096);
	assert_false(c->twin_socket);
	assert_false(c->write_multiple);
	assert_int_equal(c->mig_pgsize, 0);
}

static void test_caps_parse(void **state)
{
	(void)state;
	struct uvfio_caps c;

	CAPS_OK(qemu_json, &c);
	assert_int_equal(c.present,
			 UVFIO_CAP_HAS_MAX_MSG_FDS | UVFIO_CAP_HAS_MAX_DATA_XFER |
				 UVFIO_CAP_HAS_MAX_DMA_MAPS |
				 UVFIO_CAP_HAS_PGSIZES |
				 UVFIO_CAP_HAS_WRITE_MULTIPLE |
				 UVFIO_CAP_HAS_MIGRATION);
	assert_int_equal(c.max_msg_fds, 16);
	assert_int_equal(c.max_data_xfer_size, 1048576);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_int_equal(c.pgsizes, 4096);
	assert_true(c.write_multiple);
	assert_false(c.twin_socket);
	assert_int_equal(c.mig_pgsize, 4096);
	assert_int_equal(c.mig_max_bitmap_size, 268435456);

	/* libvfio-user's reply, in json-c's spaced style */
	CAPS_OK("{ \"capabilities\": { \"max_msg_fds\": 8, "
		"\"max_data_xfer_size\": 1048576, \"migration\": "
		"{ \"pgsize\": 4096 }, \"twin_socket\": { \"supported\": "
		"true, \"fd_index\": 0 } } }",
		&c);
	assert_int_equal(c.present,
			 UVFIO_CAP_HAS_MAX_MSG_FDS | UVFIO_CAP_HAS_MAX_DATA_XFER |
				 UVFIO_CAP_HAS_MIGRATION |
				 UVFIO_CAP_HAS_TWIN_SOCKET |
				 UVFIO_CAP_HAS_TWIN_FD_INDEX);
	assert_int_equal(c.max_msg_fds, 8);
	assert_true(c.twin_socket);
	assert_int_equal(c.twin_fd_index, 0);
	assert_int_equal(c.mig_pgsize, 4096);
	assert_int_equal(c.max_dma_maps, 65535); /* absent: default */
	assert_int_equal(c.pgsizes, 4096);
	assert_false(c.write_multiple);

	/* the python client: supported without fd_index */
	CAPS_OK("{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}",
		&c);
	assert_true(c.twin_socket);
	assert_int_equal(c.present, UVFIO_CAP_HAS_TWIN_SOCKET);
	CAPS_OK("{\"capabilities\":{\"twin_socket\":{\"supported\":false}}}",
		&c);
	assert_false(c.twin_socket);

	/* defaults */
	memset(&c, 0x55, sizeof(c));
	assert_int_equal(uvfio_caps_parse(NULL, 0, &c, NULL), 0);
	assert_defaults(&c);
	memset(&c, 0x55, sizeof(c));
	assert_int_equal(uvfio_caps_parse("{}", 0, &c, NULL), 0);
	assert_defaults(&c);
	CAPS_OK("{}", &c);
	assert_defaults(&c);
	CAPS_OK("{\"capabilities\":{}}", &c);
	assert_defaults(&c);
	CAPS_OK(" {\n\t\"capabilities\" : { } }\n", &c);
	assert_defaults(&c);
	uvfio_caps_defaults(&c);
	assert_defaults(&c);

	/* unknown keys are ignored, wherever they are */
	CAPS_OK("{\"vendor\":[1,{\"x\":null}],\"capabilities\":{\"foo\":"
		"\"bar\",\"max_msg_fds\":4,\"twin_socket\":{\"colour\":1}}}",
		&c);
	assert_int_equal(c.max_msg_fds, 4);
	assert_int_equal(c.present,
			 UVFIO_CAP_HAS_MAX_MSG_FDS | UVFIO_CAP_HAS_TWIN_SOCKET);

	/* boundaries that are still accepted */
	CAPS_OK("{\"capabilities\":{\"max_msg_fds\":1024}}", &c);
	assert_int_equal(c.max_msg_fds, 1024);
	CAPS_OK("{\"capabilities\":{\"max_msg_fds\":0}}", &c);
	assert_int_equal(c.max_msg_fds, 0);
	CAPS_OK("{\"capabilities\":{\"pgsizes\":3221229568}}", &c);
	assert_int_equal(c.pgsizes, 0xc0001000ull); /* 4K | 1G | 2G */

	/* values that do not fit 32 bits are clamped, not wrapped */
	CAPS_OK("{\"capabilities\":{\"max_data_xfer_size\":4294967296}}", &c);
	assert_int_equal(c.max_data_xfer_size, UINT32_MAX);
	CAPS_OK("{\"capabilities\":{\"max_dma_maps\":18446744073709551615}}",
		&c);
	assert_int_equal(c.max_dma_maps, UINT32_MAX);
}

static void test_caps_errors(void **state)
{
	(void)state;
	struct uvfio_caps c;
	const char *why;

	CAPS_FAILS("{\"capabilities\":{\"max_msg_fds\":\"8\"}}");
	CAPS_FAILS("{\"capabilities\":{\"max_msg_fds\":-1}}");
	CAPS_FAILS("{\"capabilities\":{\"max_msg_fds\":1025}}");
	CAPS_FAILS("{\"capabilities\":{\"max_msg_fds\":8.0}}");
	CAPS_FAILS("{\"capabilities\":{\"max_msg_fds\":true}}");
	CAPS_FAILS("{\"capabilities\":{\"max_data_xfer_size\":0}}");
	CAPS_FAILS("{\"capabilities\":{\"max_data_xfer_size\":-4096}}");
	CAPS_FAILS("{\"capabilities\":{\"pgsizes\":512}}");
	CAPS_FAILS("{\"capabilities\":{\"pgsizes\":4608}}");
	CAPS_FAILS("{\"capabilities\":{\"pgsizes\":0}}");
	CAPS_FAILS("{\"capabilities\":{\"max_dma_maps\":null}}");
	CAPS_FAILS("{\"capabilities\":{\"twin_socket\":{\"supported\":1}}}");
	CAPS_FAILS("{\"capabilities\":{\"twin_socket\":true}}");
	CAPS_FAILS("{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
		   "\"fd_index\":-1}}}");
	CAPS_FAILS("{\"capabilities\":{\"write_multiple\":1}}");
	CAPS_FAILS("{\"capabilities\":{\"migration\":4096}}");
	CAPS_FAILS("{\"capabilities\":{\"migration\":{\"pgsize\":\"4k\"}}}");
	CAPS_FAILS("[{\"capabilities\":{}}]");
	CAPS_FAILS("\"capabilities\"");
	CAPS_FAILS("{\"capabilities\":[]}");
	CAPS_FAILS("{\"capabilities\":1}");
	CAPS_FAILS("{\"capabilities\":{}}x");
	CAPS_FAILS("{\"capabilities\":{}}{}");
	CAPS_FAILS("{\"capabilities\":{}");
	CAPS_FAILS("{\"capabilities\":{},}");
	CAPS_FAILS("");
	CAPS_FAILS("{\"capabilities\":{\"x\xff\":1}}");
	CAPS_FAILS("{\"capabilities\":{\"x\xc3\x28\":1}}");

	/* length must be exactly the string plus its NUL */
	why = NULL;
	assert_int_equal(uvfio_caps_parse("{}", 2, &c, &why), -EINVAL);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(uvfio_caps_parse("{}\0{}", 6, &c, &why), -EINVAL);
	assert_non_null(why);
	/* and bounded */
	static char big[UVFIO_MAX_JSON_LEN + 1];
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[1] = '}';
	big[sizeof(big) - 1] = '\0';
	why = NULL;
	assert_int_equal(uvfio_caps_parse(big, sizeof(big), &c, &why), -E2BIG);
	assert_non_null(why);
	/* cut short: no NUL at the end */
	assert_int_equal(uvfio_caps_parse(big, sizeof(big) - 1, &c, &why),
			 -EINVAL);
}

static void test_caps_format(void **state)
{
	(void)state;
	struct uvfio_caps c, back;
	char buf[512];
	ssize_t n;

	/* what our server answers: must fit QEMU's 214-byte reply buffer */
	uvfio_caps_defaults(&c);
	c.max_msg_fds = 16;
	c.max_data_xfer_size = 1048576;
	c.max_dma_maps = 65535;
	c.pgsizes = 4096;
	c.twin_socket = true;
	c.twin_fd_index = 0;
	const unsigned srv = UVFIO_CAP_HAS_MAX_MSG_FDS |
			     UVFIO_CAP_HAS_MAX_DATA_XFER |
			     UVFIO_CAP_HAS_MAX_DMA_MAPS | UVFIO_CAP_HAS_PGSIZES |
			     UVFIO_CAP_HAS_TWIN_SOCKET |
			     UVFIO_CAP_HAS_TWIN_FD_INDEX;
	memset(buf, 0xAA, sizeof(buf));
	n = uvfio_caps_format(&c, srv, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(n <= 194);
	assert_int_equal((size_t)n, strlen(buf) + 1);
	assert_int_equal(uvfio_caps_parse(buf, (size_t)n, &back, NULL), 0);
	assert_int_equal(back.present, srv);
	assert_int_equal(back.max_msg_fds, 16);
	assert_int_equal(back.max_data_xfer_size, 1048576);
	assert_int_equal(back.max_dma_maps, 65535);
	assert_int_equal(back.pgsizes, 4096);
	assert_true(back.twin_socket);
	assert_int_equal(back.twin_fd_index, 0);
	n = uvfio_build_version(m, sizeof(m), 0, true, 0, 0, buf);
	assert_true(n > 0 && n <= 214);

	/* exactly enough room, and one byte short */
	char small[256];
	ssize_t need = uvfio_caps_format(&c, srv, small, sizeof(small));
	assert_int_equal(uvfio_caps_format(&c, srv, small, (size_t)need), need);
	assert_string_equal(small, buf);
	assert_int_equal(uvfio_caps_format(&c, srv, small, (size_t)need - 1),
			 -ENOSPC);
	assert_int_equal(uvfio_caps_format(&c, srv, small, 8), -ENOSPC);
	assert_int_equal(uvfio_caps_format(&c, srv, small, 0), -ENOSPC);

	/* every key, round trip */
	c.write_multiple = true;
	c.twin_socket = false;
	c.twin_fd_index = 3;
	c.mig_pgsize = 4096;
	c.mig_max_bitmap_size = 268435456;
	c.max_data_xfer_size = UINT32_MAX;
	c.pgsizes = 0x40201000ull;
	const unsigned all = srv | UVFIO_CAP_HAS_WRITE_MULTIPLE |
			     UVFIO_CAP_HAS_MIGRATION;
	n = uvfio_caps_format(&c, all, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvfio_caps_parse(buf, (size_t)n, &back, NULL), 0);
	assert_int_equal(back.present, all);
	assert_int_equal(back.max_data_xfer_size, UINT32_MAX);
	assert_int_equal(back.pgsizes, 0x40201000ull);
	assert_true(back.write_multiple);
	assert_false(back.twin_socket);
	assert_int_equal(back.twin_fd_index, 3);
	assert_int_equal(back.mig_pgsize, 4096);
	assert_int_equal(back.mig_max_bitmap_size, 268435456);

	/* only what was asked for */
	n = uvfio_caps_format(&c, UVFIO_CAP_HAS_MAX_MSG_FDS, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvfio_caps_parse(buf, (size_t)n, &back, NULL), 0);
	assert_int_equal(back.present, UVFIO_CAP_HAS_MAX_MSG_FDS);
	assert_int_equal(back.max_msg_fds, 16);
	assert_int_equal(back.max_data_xfer_size, 1048576);
	n = uvfio_caps_format(&c, 0, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvfio_caps_parse(buf, (size_t)n, &back, NULL), 0);
	assert_int_equal(back.present, 0);
}

/* Checks added with the reply builders and the stricter region info rules. */
static void test_reply_builders(void **state)
{
	(void)state;
	struct uvfio_reply_view v;
	uint8_t p[256], caps[48];
	ssize_t n;

	/* Region info following the argsz protocol: caps only when they fit. */
	struct uvfio_region_info ri = {
		.flags = UVFIO_REGION_READ | UVFIO_REGION_MMAP, .index = 2,
		.size = 0x10000,
	};
	memset(caps, 0, sizeof(caps));
	sparse_cap(caps, 0, 0, 2);
	sparse_area(caps, 16, 0, 0x1000);
	sparse_area(caps, 32, 0x2000, 0x1000);
	bool complete = true;
	n = uvfio_build_region_info_reply(m, sizeof(m), 3, &ri, caps, 48, 32,
					  &complete);
	assert_int_equal(n, 16 + 32);
	assert_false(complete);
	assert_int_equal(get32(m, 16), 80);                     /* argsz */
	assert_int_equal(get32(m, 20), UVFIO_REGION_READ | UVFIO_REGION_MMAP);
	assert_int_equal(get32(m, 28), 0);                      /* cap_offset */
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_INFO,
				  .msg_id = 3, .argsz = 32, .index = 2,
				  .max_fds = 1 };
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_false(v.u.region_info.complete);

	n = uvfio_build_region_info_reply(m, sizeof(m), 3, &ri, caps, 48, 80,
					  &complete);
	assert_int_equal(n, 16 + 80);
	assert_true(complete);
	assert_int_equal(get32(m, 20), UVFIO_REGION_READ | UVFIO_REGION_MMAP |
					       UVFIO_REGION_CAPS);
	assert_int_equal(get32(m, 28), 32);
	e.argsz = 80;
	REPLY_OK(m, (size_t)n, 1, &e, &v);
	assert_true(v.u.region_info.complete);
	/* The complete reply of a mappable region must bring its fd. */
	REPLY_FAILS(m, (size_t)n, 0, &e);
	struct uvfio_region_caps rc;
	assert_int_equal(uvfio_parse_region_caps(m + 16, 80, &rc, NULL), 0);
	assert_int_equal(rc.nr_areas, 2);

	/* Read/write replies parse against their requests. */
	uint8_t data[5] = { 1, 2, 3, 4, 5 };
	n = uvfio_build_region_read_reply(m, sizeof(m), 4, 7, 0x10, data, 5);
	assert_int_equal(n, 16 + 16 + 5);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_REGION_READ, .msg_id = 4,
				   .count = 5, .index = 7, .addr = 0x10 };
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_memory_equal(v.u.region_rw.data, data, 5);
	n = uvfio_build_region_write_reply(m, sizeof(m), 4, 7, 0x10, 5);
	assert_int_equal(n, 32);
	e.cmd = UVFIO_CMD_REGION_WRITE;
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_int_equal(v.u.region_rw.count, 5);

	n = uvfio_build_dma_read_reply(m, sizeof(m), 9, 0x1000, data, 5);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DMA_READ, .msg_id = 9,
				   .count = 5, .addr = 0x1000 };
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_memory_equal(v.u.dma_rw.data, data, 5);
	n = uvfio_build_dma_write_reply(m, sizeof(m), 9, 0x1000, 5);
	assert_int_equal(n, 32);
	e.cmd = UVFIO_CMD_DMA_WRITE;
	REPLY_OK(m, (size_t)n, 0, &e, &v);

	n = uvfio_build_device_info_reply(m, sizeof(m), 1, UVFIO_DEV_PCI, 9, 5);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DEVICE_GET_INFO, .msg_id = 1,
				   .argsz = 16 };
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_int_equal(v.u.device_info.num_regions, 9);
	n = uvfio_build_irq_info_reply(m, sizeof(m), 2, 2, UVFIO_IRQ_INFO_EVENTFD,
				       64);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO,
				   .msg_id = 2, .argsz = 16, .index = 2 };
	REPLY_OK(m, (size_t)n, 0, &e, &v);
	assert_int_equal(v.u.irq_info.count, 64);
	assert_int_equal(uvfio_build_irq_info_reply(m, 31, 2, 2, 0, 1), -ENOSPC);

	/* Capabilities may not overlap: a type cap inside the sparse areas. */
	memset(p, 0, sizeof(p));
	region_info(p, 96, UVFIO_REGION_READ | UVFIO_REGION_MMAP |
				   UVFIO_REGION_CAPS, 0, 32, 0x10000);
	sparse_cap(p, 32, 48, 2);
	sparse_area(p, 48, 0, 0x1000);
	sparse_area(p, 64, 0x2000, 0x1000);
	type_cap(p, 48, 0, 1, 1);
	assert_int_equal(uvfio_parse_region_caps(p, 96, &rc, NULL), -EPROTO);
	/* ...but right after them it is fine. */
	sparse_area(p, 48, 0, 0x1000);
	put32(p, 36, 80);
	type_cap(p, 80, 0, 1, 1);
	assert_int_equal(uvfio_parse_region_caps(p, 96, &rc, NULL), 0);
	assert_true(rc.has_type && rc.has_sparse);
}

/* Heads of large messages whose data goes straight to its destination. */
static void test_check_head(void **state)
{
	(void)state;
	const uint32_t big = 1u << 20;
	uint8_t h[32];
	struct uvfio_expect e = { .cmd = UVFIO_CMD_REGION_READ, .msg_id = 9,
				  .count = big, .index = 2, .addr = 0x1000 };
	struct uvfio_region_rw r = { .offset = 0x1000, .region = 2,
				     .count = big };
	struct uvfio_hdr hd = { .msg_id = 9, .cmd = UVFIO_CMD_REGION_READ,
				.msg_size = 32 + big, .flags = RPL };
	memcpy(h, &hd, 16);
	memcpy(h + 16, &r, 16);
	assert_int_equal(uvfio_check_head(h, 32, &e, NULL), 32);
	assert_int_equal(uvfio_check_head(h, 31, &e, NULL), -EINVAL);
	/* every other rule of the reply parser still holds */
	e.count = big - 1;
	assert_true(uvfio_check_head(h, 32, &e, NULL) < 0);
	e.count = big;
	e.addr = 0x2000;
	assert_true(uvfio_check_head(h, 32, &e, NULL) < 0);
	e.addr = 0x1000;
	e.msg_id = 8;
	assert_true(uvfio_check_head(h, 32, &e, NULL) < 0);
	e.msg_id = 9;
	hd.msg_size = 32 + big - 1; /* size and count disagree */
	memcpy(h, &hd, 16);
	assert_int_equal(uvfio_check_head(h, 32, &e, NULL), -EINVAL);
	hd.msg_size = 32 + big;
	hd.flags = RPL | UVFIO_F_ERROR;
	hd.error_no = EIO;
	memcpy(h, &hd, 16);
	assert_true(uvfio_check_head(h, 32, &e, NULL) < 0);

	/* a DMA_WRITE command, client side */
	struct uvfio_limits hl = { 1u << 20, 0, false };
	struct uvfio_dma_rw d = { .addr = 0x10000, .count = big };
	hd = (struct uvfio_hdr){ .msg_id = 3, .cmd = UVFIO_CMD_DMA_WRITE,
				 .msg_size = 32 + big };
	memcpy(h, &hd, 16);
	memcpy(h + 16, &d, 16);
	assert_int_equal(uvfio_check_head(h, 32, NULL, &hl), 32);
	hl.max_data_xfer = big - 1;
	assert_int_equal(uvfio_check_head(h, 32, NULL, &hl), -EINVAL);
	hl.max_data_xfer = big;
	d.addr = UINT64_MAX - 10; /* wraps */
	memcpy(h + 16, &d, 16);
	assert_true(uvfio_check_head(h, 32, NULL, &hl) < 0);
	d.addr = 0x10000;
	memcpy(h + 16, &d, 16);
	hd.flags = UVFIO_F_ERROR; /* no command carries it */
	memcpy(h, &hd, 16);
	assert_true(uvfio_check_head(h, 32, NULL, &hl) < 0);
	/* other commands have no head of this kind */
	hd = (struct uvfio_hdr){ .msg_id = 3, .cmd = UVFIO_CMD_DMA_MAP,
				 .msg_size = 32 };
	memcpy(h, &hd, 16);
	assert_int_equal(uvfio_check_head(h, 32, NULL, &hl), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_generic),
		cmocka_unit_test(test_build_commands),
		cmocka_unit_test(test_roundtrip_server),
		cmocka_unit_test(test_roundtrip_client),
		cmocka_unit_test(test_check_header),
		cmocka_unit_test(test_bad_framing),
		cmocka_unit_test(test_bad_dma_map),
		cmocka_unit_test(test_bad_dma_unmap),
		cmocka_unit_test(test_bad_info_argsz),
		cmocka_unit_test(test_bad_set_irqs),
		cmocka_unit_test(test_bad_region_rw),
		cmocka_unit_test(test_bad_reset_write_multi),
		cmocka_unit_test(test_bad_feature),
		cmocka_unit_test(test_bad_mig_data),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_reply_common),
		cmocka_unit_test(test_reply_region_rw),
		cmocka_unit_test(test_reply_region_info),
		cmocka_unit_test(test_reply_io_fds),
		cmocka_unit_test(test_reply_dma),
		cmocka_unit_test(test_build_dma_layouts),
		cmocka_unit_test(test_reply_misc),
		cmocka_unit_test(test_region_caps),
		cmocka_unit_test(test_bitmap_bytes),
		cmocka_unit_test(test_bitmap_bytes_overflow_edge),
		cmocka_unit_test(test_caps_parse),
		cmocka_unit_test(test_caps_errors),
		cmocka_unit_test(test_caps_format),
		cmocka_unit_test(test_reply_builders),
		cmocka_unit_test(test_check_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
