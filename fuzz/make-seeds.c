/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of fuzz/corpus/ from the codec's builders, so
 * every seed is a well-formed input of its harness's format (see the
 * comment at the top of each fuzz_*.c):
 *
 *   make-seeds DIR      writes DIR/codec, DIR/caps, DIR/pci, DIR/server,
 *                       DIR/client (existing files of the same name are
 *                       replaced)
 *
 * Run it again after changing an input format; it is built in the normal
 * build so it keeps compiling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uvfio/codec.h>

static const char *outdir;

struct buf {
	uint8_t b[65536];
	size_t n;
};

static void add(struct buf *s, const void *p, size_t n)
{
	if (s->n + n > sizeof(s->b))
		abort();
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void add8(struct buf *s, uint8_t v)
{
	add(s, &v, 1);
}

static void add16(struct buf *s, uint16_t v)
{
	add(s, &v, 2); /* little-endian host, as the harnesses read it */
}

static void save(const char *target, const char *name, const struct buf *s)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
		fprintf(stderr, "make-seeds: cannot write %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
}

static const char *const jsons[] = {
	/* QEMU 10.x's request (docs/protocol.md 5.3) */
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, "
	"\"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, "
	"\"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}",
	/* libvfio-user's server reply */
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"migration\":{\"pgsize\":4096},\"twin_socket\":{\"supported\":true,"
	"\"fd_index\":0}}}",
	/* libvfio-user's sample client */
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}",
	/* libvfio-user's Python client */
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"twin_socket\":{\"supported\":true}}}",
	"{}",
	"{\"capabilities\":{}}",
	"{\"capabilities\":{\"pgsizes\":12288,\"max_dma_maps\":1,"
	"\"write_multiple\":false,\"unknown\":[1,2,{\"x\":null}]}}",
};

/* One message of every command, valid, in buf order 1..18. */
static ssize_t build_cmd(uint8_t *m, size_t cap, unsigned cmd, uint16_t id,
			 unsigned *nfds)
{
	static const uint8_t data[64] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	*nfds = 0;
	switch (cmd) {
	case UVFIO_CMD_VERSION:
		return uvfio_build_version(m, cap, id, false, 0, 2, jsons[2]);
	case UVFIO_CMD_DMA_MAP:
		*nfds = 1;
		return uvfio_build_dma_map(m, cap, id,
					   UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
					   0, 0x10000, 0x10000);
	case UVFIO_CMD_DMA_UNMAP:
		return uvfio_build_dma_unmap(m, cap, id, 0, 0x10000, 0x10000, 0);
	case UVFIO_CMD_DEVICE_GET_INFO:
		return uvfio_build_device_get_info(m, cap, id);
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		return uvfio_build_get_region_info(m, cap, id, 2, 32);
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		return uvfio_build_get_region_io_fds(m, cap, id, 0, 4096);
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		return uvfio_build_get_irq_info(m, cap, id, UVFIO_PCI_MSIX_IRQ);
	case UVFIO_CMD_DEVICE_SET_IRQS:
		*nfds = 2;
		return uvfio_build_set_irqs(m, cap, id,
					    UVFIO_IRQ_DATA_EVENTFD |
						    UVFIO_IRQ_ACTION_TRIGGER,
					    UVFIO_PCI_MSIX_IRQ, 0, 2, NULL);
	case UVFIO_CMD_REGION_READ:
		return uvfio_build_region_read(m, cap, id, 0, 0, 8);
	case UVFIO_CMD_REGION_WRITE:
		return uvfio_build_region_write(m, cap, id, false, 0, 0x08, data,
						4);
	case UVFIO_CMD_DMA_READ:
		return uvfio_build_dma_read(m, cap, id, 0x10000, 16);
	case UVFIO_CMD_DMA_WRITE:
		return uvfio_build_dma_write(m, cap, id, 0x10000, data, 16);
	case UVFIO_CMD_DEVICE_RESET:
		return uvfio_build_device_reset(m, cap, id);
	case UVFIO_CMD_DIRTY_PAGES: {
		struct uvfio_dirty_pages d = { sizeof(d), UVFIO_DIRTY_PAGES_START };
		return uvfio_build(m, cap, id, cmd, 0, &d, sizeof(d), NULL, 0);
	}
	case UVFIO_CMD_REGION_WRITE_MULTI: {
		struct uvfio_write_multi_entry e[2] = {
			{ .offset = 0, .region = 0, .count = 8 },
			{ .offset = 0x14, .region = 0, .count = 4, .data = { 2 } },
		};
		return uvfio_build_write_multi(m, cap, id, e, 2);
	}
	case UVFIO_CMD_DEVICE_FEATURE: {
		uint64_t f = 0;
		return uvfio_build_device_feature(
			m, cap, id, 16,
			UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION, &f, 8);
	}
	case UVFIO_CMD_MIG_DATA_READ:
		return uvfio_build_mig_data_read(m, cap, id, 64);
	case UVFIO_CMD_MIG_DATA_WRITE:
		return uvfio_build_mig_data_write(m, cap, id, data, 64);
	}
	return -EINVAL;
}

static void codec_seeds(void)
{
	uint8_t m[8192];
	char name[64];
	unsigned nfds;
	for (unsigned cmd = 1; cmd <= UVFIO_CMD_MAX; cmd++) {
		struct buf s = { .n = 0 };
		ssize_t n = build_cmd(m, sizeof(m), cmd, (uint16_t)cmd, &nfds);
		bool s2c = cmd == UVFIO_CMD_DMA_READ || cmd == UVFIO_CMD_DMA_WRITE;
		add8(&s, s2c ? 1 : 0);
		add8(&s, 0x3f); /* 1 MiB, 15 fds allowed, write_multiple */
		add8(&s, (uint8_t)nfds);
		add(&s, m, (size_t)n);
		snprintf(name, sizeof(name), "cmd-%02u", cmd);
		save("codec", name, &s);
	}
	/* replies, each with the expectation that matches it */
	struct {
		uint16_t cmd;
		uint32_t count, index;
		uint64_t addr;
	} rs[] = {
		{ UVFIO_CMD_DEVICE_GET_INFO, 0, 0, 0 },
		{ UVFIO_CMD_DEVICE_GET_REGION_INFO, 0, 2, 0 },
		{ UVFIO_CMD_DEVICE_GET_IRQ_INFO, 0, 2, 0 },
		{ UVFIO_CMD_REGION_READ, 8, 0, 0x10 },
		{ UVFIO_CMD_REGION_WRITE, 4, 0, 0x10 },
		{ UVFIO_CMD_DMA_READ, 16, 0, 0x10000 },
		{ UVFIO_CMD_DMA_WRITE, 16, 0, 0x10000 },
		{ UVFIO_CMD_VERSION, 0, 0, 0 },
		{ UVFIO_CMD_DMA_MAP, 0, 0, 0 },
		{ UVFIO_CMD_DEVICE_FEATURE, 0, 0, 0 },
		{ UVFIO_CMD_MIG_DATA_READ, 64, 0, 0 },
		{ UVFIO_CMD_DMA_UNMAP, 0, 0, 0 },
	};
	for (unsigned i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		struct buf s = { .n = 0 };
		ssize_t n = -1;
		uint8_t d[16] = { 0 };
		switch (rs[i].cmd) {
		case UVFIO_CMD_DEVICE_GET_INFO:
			n = uvfio_build_device_info_reply(m, sizeof(m), 7, 3, 9, 5);
			break;
		case UVFIO_CMD_DEVICE_GET_REGION_INFO: {
			/* uvfio_cap_sparse_mmap's fixed part spelled
			 * out: its flexible array may not be nested */
			struct {
				struct {
					struct uvfio_cap_hdr hdr;
					uint32_t nr_areas, reserved;
				} __attribute__((packed)) s;
				struct uvfio_sparse_area a[1];
			} __attribute__((packed)) caps = {
				.s = { .hdr = { UVFIO_CAP_SPARSE_MMAP, 1, 0 },
				       .nr_areas = 1 },
				.a = { { 0, 4096 } },
			};
			struct uvfio_region_info ri = {
				.index = 2, .flags = 3, .size = 8192,
			};
			bool complete;
			n = uvfio_build_region_info_reply(m, sizeof(m), 7, &ri,
							  &caps, sizeof(caps),
							  4096, &complete);
			break;
		}
		case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
			n = uvfio_build_irq_info_reply(m, sizeof(m), 7, 2, 1, 8);
			break;
		case UVFIO_CMD_REGION_READ:
			n = uvfio_build_region_read_reply(m, sizeof(m), 7, 0, 0x10,
							  d, 8);
			break;
		case UVFIO_CMD_REGION_WRITE:
			n = uvfio_build_region_write_reply(m, sizeof(m), 7, 0,
							   0x10, 4);
			break;
		case UVFIO_CMD_DMA_READ:
			n = uvfio_build_dma_read_reply(m, sizeof(m), 7, 0x10000, d,
						       16);
			break;
		case UVFIO_CMD_DMA_WRITE:
			n = uvfio_build_dma_write_reply(m, sizeof(m), 7, 0x10000,
							16);
			break;
		case UVFIO_CMD_VERSION:
			n = uvfio_build_version(m, sizeof(m), 7, true, 0, 2,
						jsons[1]);
			break;
		case UVFIO_CMD_DEVICE_FEATURE: {
			struct uvfio_feature f = {
				16, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION
			};
			n = uvfio_build_reply(m, sizeof(m), 7, rs[i].cmd, &f,
					      sizeof(f), NULL, 8);
			break;
		}
		case UVFIO_CMD_MIG_DATA_READ: {
			struct uvfio_mig_data md = { 8 + 64, 32 };
			n = uvfio_build_reply(m, sizeof(m), 7, rs[i].cmd, &md,
					      sizeof(md), NULL, 64);
			break;
		}
		case UVFIO_CMD_DMA_UNMAP: {
			struct uvfio_dma_unmap u = { 24, 0, 0x10000, 0x10000 };
			n = uvfio_build_reply(m, sizeof(m), 7, rs[i].cmd, &u,
					      sizeof(u), NULL, 0);
			break;
		}
		default:
			n = uvfio_build_reply(m, sizeof(m), 7, rs[i].cmd, NULL, 0,
					      NULL, 0);
			break;
		}
		add8(&s, 2);
		add8(&s, (uint8_t)rs[i].cmd);
		add16(&s, 7);        /* msg_id */
		add16(&s, 4096);     /* argsz */
		add16(&s, (uint16_t)rs[i].count);
		add8(&s, (uint8_t)rs[i].index);
		add(&s, &rs[i].addr, 8);
		add8(&s, 3); /* max_fds 3, spec layout, no fds */
		add(&s, m, (size_t)n);
		snprintf(name, sizeof(name), "reply-%02u", rs[i].cmd);
		save("codec", name, &s);
		if (rs[i].cmd == UVFIO_CMD_DEVICE_GET_REGION_INFO) {
			struct buf c = { .n = 0 };
			add8(&c, 3);
			add(&c, m + UVFIO_HDR_SIZE, (size_t)n - UVFIO_HDR_SIZE);
			save("codec", "region-caps", &c);
		}
	}
	/* replies the builders do not make: io_fds with entries of both
	 * sizes, WRITE_MULTI, QEMU's DMA_READ; a dirty-bitmap unmap */
	for (unsigned stride = 40; stride <= 48; stride += 8) {
		struct buf s = { .n = 0 };
		uint8_t p[16 + 2 * 48] = { 0 };
		struct uvfio_io_fds h = { .argsz = sizeof(p), .index = 0,
					  .count = 2 };
		memcpy(p, &h, sizeof(h));
		for (unsigned i = 0; i < 2; i++) {
			struct uvfio_io_fd_entry e = { .offset = 0x100 * i,
						       .size = 4, .fd_index = i };
			memcpy(p + 16 + i * stride, &e, sizeof(e));
		}
		ssize_t n = uvfio_build_reply(m, sizeof(m), 7,
					      UVFIO_CMD_DEVICE_GET_REGION_IO_FDS,
					      p, 16 + 2 * stride, NULL, 0);
		add8(&s, 2);
		add8(&s, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS);
		add16(&s, 7);
		add16(&s, 4096);
		add16(&s, 0);
		add8(&s, 0);
		add(&s, "\0\0\0\0\0\0\0\0", 8);
		add8(&s, 3 | 2 << 3); /* 2 fds */
		add(&s, m, (size_t)n);
		snprintf(name, sizeof(name), "reply-io-fds-%u", stride);
		save("codec", name, &s);
	}
	{
		struct buf s = { .n = 0 };
		uint64_t done = 3;
		ssize_t n = uvfio_build_reply(m, sizeof(m), 7,
					      UVFIO_CMD_REGION_WRITE_MULTI, &done,
					      8, NULL, 0);
		add8(&s, 2);
		add8(&s, UVFIO_CMD_REGION_WRITE_MULTI);
		add16(&s, 7), add16(&s, 0), add16(&s, 0), add8(&s, 0);
		add(&s, "\0\0\0\0\0\0\0\0", 8);
		add8(&s, 0);
		add(&s, m, (size_t)n);
		save("codec", "reply-write-multi", &s);
	}
	{
		struct buf s = { .n = 0 };
		struct uvfio_dma_rw_qemu q = { .addr = 0x10000, .count = 16 };
		ssize_t n = uvfio_build_reply(m, sizeof(m), 7, UVFIO_CMD_DMA_READ,
					      &q, sizeof(q), NULL, 16 + 4);
		uint64_t addr = 0x10000;
		add8(&s, 2);
		add8(&s, UVFIO_CMD_DMA_READ);
		add16(&s, 7), add16(&s, 0), add16(&s, 16), add8(&s, 0);
		add(&s, &addr, 8);
		add8(&s, 4); /* QEMU layout */
		add(&s, m, (size_t)n);
		save("codec", "reply-dma-read-qemu", &s);
	}
	{
		struct buf s = { .n = 0 };
		ssize_t n = uvfio_build_dma_unmap(m, sizeof(m), 9,
						  UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP,
						  0x10000, 0x100000, 4096);
		add8(&s, 0), add8(&s, 0x3f), add8(&s, 0);
		add(&s, m, (size_t)n);
		save("codec", "cmd-unmap-bitmap", &s);
	}

	/* builders: command number, then the fields the harness reads */
	for (unsigned cmd = 1; cmd <= UVFIO_CMD_MAX; cmd++) {
		struct buf s = { .n = 0 };
		add8(&s, 5);
		add8(&s, (uint8_t)cmd);
		add16(&s, 1024);
		add16(&s, 1);
		uint32_t a = 3, c = 8;
		uint64_t x = 0x1000, y = 0x1000;
		add(&s, &a, 4);
		add(&s, &c, 4);
		add(&s, &x, 8);
		add(&s, &y, 8);
		add(&s, "{}\0\0\0\0\0\0", 8);
		snprintf(name, sizeof(name), "build-%02u", cmd);
		save("codec", name, &s);
	}
}

static void caps_seeds(void)
{
	char name[32];
	for (unsigned i = 0; i < sizeof(jsons) / sizeof(jsons[0]); i++) {
		struct buf s = { .n = 0 };
		add8(&s, 0);
		add(&s, jsons[i], strlen(jsons[i]));
		snprintf(name, sizeof(name), "json-%u", i);
		save("caps", name, &s);
	}
}

static void pci_seeds(void)
{
	/* PCIe, 3 BARs: 4 KiB mem at 0, 256 B I/O at 1, 64 KiB mem64 at 2;
	 * PM, MSI, MSI-X, PCIe, vendor, DSN; then sizing, writes, reset. */
	struct buf s = { .n = 0 };
	add8(&s, 1 | 3 << 1);
	add16(&s, 0x1234);
	add16(&s, 0x5678);
	uint32_t cls = 0x088000;
	add(&s, &cls, 4);
	add8(&s, 1);
	add8(&s, 0 << 3 | 0), add8(&s, 12);
	add8(&s, 1 << 3 | 1), add8(&s, 8);
	add8(&s, 2 << 3 | 2), add8(&s, 16);
	add8(&s, 1);
	add8(&s, 2), add8(&s, 0x82);
	add8(&s, 3), add16(&s, 8), add8(&s, 0), add16(&s, 0x800),
		add16(&s, 0xc00);
	add8(&s, 4), add8(&s, 0);
	add8(&s, 5), add8(&s, 2), add8(&s, 0xaa), add8(&s, 0xbb);
	add8(&s, 6);
	uint64_t dsn = 0x1122334455667788ull;
	add(&s, &dsn, 8);
	add8(&s, 0); /* end of capabilities */
	for (unsigned bar = 0; bar < 7; bar++)
		add8(&s, 5), add16(&s, (uint16_t)bar);
	add8(&s, 2 << 3 | 3), add16(&s, 4), add8(&s, 7), add8(&s, 5);
	add8(&s, 2 << 3 | 2), add16(&s, 6), add8(&s, 0), add8(&s, 0xf9);
	add8(&s, 4), add16(&s, 0x10);
	add8(&s, 6), add8(&s, 0x11), add16(&s, 12), add16(&s, 0),
		add16(&s, 0), add16(&s, 0), add16(&s, 0);
	add8(&s, 7), add16(&s, 0);
	add8(&s, 1 << 3 | 0), add16(&s, 0x40);
	save("pci", "full-pcie", &s);

	struct buf t = { .n = 0 };
	add8(&t, 0 | 1 << 1);
	add(&t, "\x86\x80\x00\x10\x00\x00\x02\x00\x01", 9);
	add8(&t, 6 << 3), add8(&t, 14); /* ROM 16 KiB */
	add8(&t, 7), add8(&t, 0x11), add8(&t, 4), add(&t, "\0\0\0\0", 4),
		add(&t, "\xff\xff\0\0", 4);
	add8(&t, 0);
	add8(&t, 5), add16(&t, 6);
	add8(&t, 2 << 3 | 3), add16(&t, 0x30), add(&t, "\xff\xff\xff\xff", 4);
	add8(&t, 7), add16(&t, 0);
	save("pci", "rom-custom-cap", &t);
}

/* server harness: chunk = ctl, u16 length, bytes */
static void chunk(struct buf *s, uint8_t ctl, const uint8_t *m, size_t n)
{
	add8(s, ctl);
	add16(s, (uint16_t)n);
	add(s, m, n);
}

static void server_seeds(void)
{
	uint8_t m[4096];
	char name[32];
	unsigned nfds;
	/* one session per command, after the harness's VERSION */
	for (unsigned cmd = 2; cmd <= UVFIO_CMD_MAX; cmd++) {
		struct buf s = { .n = 0 };
		add8(&s, 1); /* harness VERSION, our client's JSON */
		ssize_t n = build_cmd(m, sizeof(m), cmd, 1, &nfds);
		uint8_t ctl = (uint8_t)(nfds | (cmd == UVFIO_CMD_DMA_MAP ? 4 : 0) |
					0x10 | 0x20);
		chunk(&s, ctl, m, (size_t)n);
		snprintf(name, sizeof(name), "cmd-%02u", cmd);
		save("server", name, &s);
	}
	/* a device session: map a message-only window, program a DMA read
	 * and a DMA write with an interrupt, answer them, read back */
	struct buf s = { .n = 0 };
	add8(&s, 1 | 2 << 1); /* QEMU-like VERSION */
	ssize_t n = uvfio_build_dma_map(m, sizeof(m), 1,
					UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
					0, 0x10000, 0x10000);
	chunk(&s, 0x30, m, (size_t)n);
	n = uvfio_build_set_irqs(m, sizeof(m), 2,
				 UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSIX_IRQ, 0, 1, NULL);
	chunk(&s, 0x31, m, (size_t)n);
	uint8_t regs[32] = { 0 };
	uint64_t iova = 0x10000;
	memcpy(regs, &iova, 8);
	regs[0x08] = 64;
	regs[0x1c] = 1;
	regs[0x14] = 1;
	n = uvfio_build_region_write(m, sizeof(m), 3, false, 0, 0, regs, 32);
	chunk(&s, 0x70, m, (size_t)n);
	regs[0x10] = 1;
	n = uvfio_build_region_write(m, sizeof(m), 4, false, 0, 0, regs, 32);
	chunk(&s, 0x70, m, (size_t)n);
	n = uvfio_build_region_read(m, sizeof(m), 5, 0, 0x18, 4);
	chunk(&s, 0x30, m, (size_t)n);
	n = uvfio_build_region_read(m, sizeof(m), 6, 7, 0, 64);
	chunk(&s, 0x30, m, (size_t)n);
	n = uvfio_build_region_write(m, sizeof(m), 7, false, 7, 4, "\x06\x04",
				     2);
	chunk(&s, 0x30, m, (size_t)n);
	n = uvfio_build_get_region_info(m, sizeof(m), 8, 2, 4096);
	chunk(&s, 0x30, m, (size_t)n);
	n = uvfio_build_device_reset(m, sizeof(m), 9);
	chunk(&s, 0x30, m, (size_t)n);
	save("server", "session-dma", &s);

	/* raw: the fuzzer's own VERSION */
	struct buf r = { .n = 0 };
	add8(&r, 0);
	n = uvfio_build_version(m, sizeof(m), 0, false, 0, 2, jsons[3]);
	chunk(&r, 0x20, m, (size_t)n);
	n = uvfio_build_get_region_info(m, sizeof(m), 1, 0, 32);
	chunk(&r, 0x20, m, (size_t)n);
	save("server", "twin-version", &r);
}

static void client_seeds(void)
{
	/* flags: bit 0 offer twin, 1-2 VERSION kind, 3-4 xfer, 5 wm */
	static const uint8_t flag_sets[4] = { 0x20, 0x23, 0x08, 0x21 };
	char name[32];
	for (unsigned i = 0; i < 4; i++) {
		struct buf s = { .n = 0 };
		add8(&s, flag_sets[i]);
		add8(&s, 16), add8(&s, 4), add8(&s, 2); /* fds, maps, minor */
		/* dma_map window (sync, answered), DMA read and write into
		 * it, async read and write, answer them, write_multi,
		 * sync region info with caps, process */
		add8(&s, 8), add8(&s, 5), add8(&s, 1), add8(&s, 0), add8(&s, 0);
		add8(&s, 6), add8(&s, 0), add16(&s, 0x10), add16(&s, 64);
		add8(&s, 6), add8(&s, 1), add16(&s, 0x20), add16(&s, 64);
		add8(&s, 0), add8(&s, 0), add16(&s, 0), add16(&s, 8);
		add8(&s, 1), add8(&s, 0), add16(&s, 0), add16(&s, 8);
		add8(&s, 5);
		add8(&s, 5);
		add8(&s, 3), add8(&s, 0), add16(&s, 0), add16(&s, 1),
			add8(&s, 4), add8(&s, 4);
		add8(&s, 8), add8(&s, 1), add8(&s, 1 | 0x80), add8(&s, 2),
			add8(&s, 3), add8(&s, 2);
		add8(&s, 8), add8(&s, 7), add8(&s, 1), add8(&s, 2), add8(&s, 2);
		add8(&s, 7);
		add8(&s, 9), add8(&s, 2);
		snprintf(name, sizeof(name), "session-%u", i);
		save("client", name, &s);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\nWrite the fuzz seed corpora "
				"into DIR/<harness>/.\n",
			argv[0]);
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	codec_seeds();
	caps_seeds();
	pci_seeds();
	server_seeds();
	client_seeds();
	return 0;
}
