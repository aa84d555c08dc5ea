/* SPDX-License-Identifier: MIT */
/*
 * uvfio-dmadev: a DMA engine, to exercise every DMA path of vfio-user.
 *
 * BAR0 (4 KiB registers, little-endian; MSI-X table at 0x800, PBA at 0xc00):
 *   0x00 u64 IOVA    guest address of the transfers
 *   0x08 u32 LEN     bytes per transfer (at most the size of BAR2)
 *   0x0c u32 COUNT   transfers per GO (0 counts as 1)
 *   0x10 u32 DIR     0: the device reads guest memory into BAR2,
 *                    1: the device writes BAR2 into guest memory
 *   0x14 u32 GO      1: do the transfers before acknowledging the write;
 *                    2: acknowledge at once and transfer in the background
 *   0x18 u32 STATUS  0, 115 (EINPROGRESS) while a GO=2 runs, or the errno
 *                    of the last GO
 *   0x1c u32 IRQ     non-zero: raise MSI-X vector 0 when a GO completes
 * BAR2: 1 MiB of memory the client may mmap; transfers use it from offset 0.
 *
 * Transfers go through the mapped window when the IOVA is fd-backed, and
 * with DMA_READ/DMA_WRITE messages otherwise.  GO=1 with message DMA needs
 * a client that answers DMA while it waits for its write to complete (our
 * client, libvfio-user's); QEMU cannot, so against QEMU STATUS says
 * EDEADLK and GO=2 is the way.
 *
 * Live migration (STOP_COPY and PRE_COPY; docs/migration.md): the stream
 * is a sequence of records, each a 16-byte little-endian header
 *   u32 magic "UVDM", u16 version 1, u16 kind, u32 regs bytes, u32 mem bytes
 * followed by that many register bytes, then BAR2 bytes.  PRE_COPY sends
 * one record of kind 1 (BAR2 only, taken while the device runs); STOP_COPY
 * then sends kind 2 (registers and all of BAR2 again: the simplest choice
 * that is always right, as BAR2 may have changed after the pre-copy).  The
 * destination applies records in order and needs a kind 2 last.  In STOP
 * (and STOP_COPY, RESUMING) a GO is refused with EBUSY, and STOP itself is
 * refused (EBUSY, still running) while a background GO=2 runs.
 *
 *   uvfio-dmadev --socket PATH [-v]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/server.h>

#include "app.h"
#include "dmadev.h"

#define BAR0_SIZE DMADEV_BAR0_SIZE
#define BAR2_SIZE DMADEV_BAR2_SIZE
#define MSIX_VECTORS DMADEV_MSIX_VECTORS
#define MSIX_TABLE DMADEV_MSIX_TABLE
#define MSIX_PBA DMADEV_MSIX_PBA

struct dmadev {
	struct uvfio_server *srv;
	uint8_t regs[REG_END];
	uint8_t *mem; /* BAR2 */
	/* the running GO=2 */
	bool busy;
	uint32_t left;
	int result;
	/* migration: the outgoing stream and its read position, or the
	 * incoming one */
	enum uvfio_mig_state mig;
	uint8_t *out, *in;
	size_t out_len, out_pos, in_len, in_cap;
};

static uint32_t rd32(const struct dmadev *d, unsigned reg)
{
	uint32_t v;
	memcpy(&v, d->regs + reg, 4);
	return v;
}

static void wr32(struct dmadev *d, unsigned reg, uint32_t v)
{
	memcpy(d->regs + reg, &v, 4);
}

static uint64_t iova(const struct dmadev *d)
{
	uint64_t v;
	memcpy(&v, d->regs + REG_IOVA, 8);
	return v;
}

static void finish(struct dmadev *d, int result)
{
	wr32(d, REG_STATUS, (uint32_t)-result);
	d->busy = false;
	if (rd32(d, REG_IRQ))
		uvfio_server_irq_trigger(d->srv, UVFIO_PCI_MSIX_IRQ, 0);
}

static int transfer_sync(struct dmadev *d)
{
	uint32_t len = rd32(d, REG_LEN), count = rd32(d, REG_COUNT);
	for (uint32_t i = 0; i < (count ? count : 1); i++) {
		int r = rd32(d, REG_DIR)
				? uvfio_server_dma_write(d->srv, iova(d), d->mem, len)
				: uvfio_server_dma_read(d->srv, iova(d), d->mem, len);
		if (r)
			return r;
	}
	return 0;
}

static void async_step(void *opaque, int result);

/* Start the next background transfer; done runs from the server loop. */
static void async_next(struct dmadev *d)
{
	uint32_t len = rd32(d, REG_LEN);
	int r = rd32(d, REG_DIR) ? uvfio_server_dma_write_async(
					   d->srv, iova(d), d->mem, len,
					   async_step, d)
				 : uvfio_server_dma_read_async(
					   d->srv, iova(d), d->mem, len,
					   async_step, d);
	if (r)
		finish(d, r);
}

static void async_step(void *opaque, int result)
{
	struct dmadev *d = opaque;
	if (result || --d->left == 0) {
		finish(d, result);
		return;
	}
	async_next(d);
}

static int go(struct dmadev *d, uint32_t how)
{
	/* Stopped for migration: no DMA, no interrupts. */
	if (d->busy || (d->mig != UVFIO_MIG_RUNNING && d->mig != UVFIO_MIG_PRE_COPY))
		return -EBUSY;
	if (rd32(d, REG_LEN) > BAR2_SIZE) {
		wr32(d, REG_STATUS, EINVAL);
		return 0;
	}
	if (how == 1) {
		finish(d, transfer_sync(d));
	} else if (how == 2) {
		d->busy = true;
		d->left = rd32(d, REG_COUNT) ? rd32(d, REG_COUNT) : 1;
		wr32(d, REG_STATUS, EINPROGRESS);
		async_next(d);
	}
	return 0;
}

static ssize_t bar0_access(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	struct dmadev *d = opaque;
	(void)index;
	if (off >= REG_END || count > REG_END - off) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (!is_write) {
		memcpy(buf, d->regs + off, count);
		return (ssize_t)count;
	}
	if (off <= REG_GO && off + count > REG_GO) {
		uint32_t how = 0;
		memcpy(&how, (uint8_t *)buf + (REG_GO - off),
		       count - (REG_GO - off) < 4 ? count - (REG_GO - off) : 4);
		int r = go(d, how);
		return r ? r : (ssize_t)count;
	}
	if (off < REG_STATUS || off >= REG_IRQ) /* STATUS is read-only */
		memcpy(d->regs + off, buf, count);
	return (ssize_t)count;
}

static int dmadev_reset(void *opaque, enum uvfio_reset_reason why)
{
	struct dmadev *d = opaque;
	/* A lost client leaves the registers as they were: the device keeps
	 * its state for the next client (a background GO has already ended
	 * with an error when its connection went). */
	if (why != UVFIO_RESET_CLIENT)
		return 0;
	if (d->busy)
		return -EBUSY;
	memset(d->regs, 0, sizeof(d->regs));
	/* The library leaves ERROR and RESUMING for RUNNING after a reset;
	 * a pre-copy goes on. */
	if (uvfio_server_migration_state(d->srv) != UVFIO_MIG_PRE_COPY) {
		d->mig = UVFIO_MIG_RUNNING;
		free(d->in);
		d->in = NULL;
		d->in_len = d->in_cap = 0;
	}
	return 0;
}

static const struct uvfio_device_ops dmadev_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = dmadev_reset,
};

/* ---- migration ---------------------------------------------------------------------- */

#define MIG_MAGIC 0x4d445655u /* "UVDM" little-endian */
#define MIG_VERSION 1
#define MIG_HDR 16u
enum { MIG_KIND_PRECOPY = 1, MIG_KIND_FINAL = 2 };

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Append a record to what is still unread of the outgoing stream. */
static int append_record(struct dmadev *d, unsigned kind)
{
	size_t regs = kind == MIG_KIND_FINAL ? REG_END : 0;
	size_t rec = MIG_HDR + regs + BAR2_SIZE;
	size_t left = d->out_len - d->out_pos;
	uint8_t *n = malloc(left + rec);
	if (!n)
		return -ENOMEM;
	if (left)
		memcpy(n, d->out + d->out_pos, left);
	uint8_t *p = n + left;
	put_le(p, MIG_MAGIC, 4);
	put_le(p + 4, MIG_VERSION, 2);
	put_le(p + 6, kind, 2);
	put_le(p + 8, regs, 4);
	put_le(p + 12, BAR2_SIZE, 4);
	memcpy(p + MIG_HDR, d->regs, regs);
	memcpy(p + MIG_HDR + regs, d->mem, BAR2_SIZE);
	free(d->out);
	d->out = n;
	d->out_len = left + rec;
	d->out_pos = 0;
	return 0;
}

static void drop_streams(struct dmadev *d)
{
	free(d->out);
	free(d->in);
	d->out = d->in = NULL;
	d->out_len = d->out_pos = d->in_len = d->in_cap = 0;
}

/* Check the whole incoming stream, then apply it: all or nothing. */
static int load_stream(struct dmadev *d)
{
	size_t off = 0;
	bool final = false;
	for (int pass = 0; pass < 2; pass++) {
		off = 0;
		final = false;
		while (off < d->in_len) {
			const uint8_t *p = d->in + off;
			if (d->in_len - off < MIG_HDR)
				return -EINVAL;
			uint64_t kind = get_le(p + 6, 2), regs = get_le(p + 8, 4);
			uint64_t mem = get_le(p + 12, 4);
			if (get_le(p, 4) != MIG_MAGIC || get_le(p + 4, 2) != MIG_VERSION ||
			    (kind != MIG_KIND_PRECOPY && kind != MIG_KIND_FINAL) ||
			    regs != (kind == MIG_KIND_FINAL ? REG_END : 0) ||
			    mem != BAR2_SIZE || d->in_len - off - MIG_HDR < regs + mem)
				return -EINVAL;
			if (pass == 1) {
				memcpy(d->regs, p + MIG_HDR, regs);
				memcpy(d->mem, p + MIG_HDR + regs, mem);
			}
			final = kind == MIG_KIND_FINAL;
			off += MIG_HDR + regs + mem;
		}
		if (!final)
			return -EINVAL; /* incomplete: the device state never came */
	}
	return 0;
}

static int dmadev_transition(void *opaque, enum uvfio_mig_state from,
			     enum uvfio_mig_state to)
{
	struct dmadev *d = opaque;
	int r = 0;

	if ((from == UVFIO_MIG_RUNNING || from == UVFIO_MIG_PRE_COPY) &&
	    to != UVFIO_MIG_RUNNING && to != UVFIO_MIG_PRE_COPY && d->busy)
		return -EBUSY; /* a background GO still runs: try again */
	switch (to) {
	case UVFIO_MIG_PRE_COPY: /* from RUNNING: a save session starts */
		drop_streams(d);
		r = append_record(d, MIG_KIND_PRECOPY);
		break;
	case UVFIO_MIG_STOP_COPY: /* from STOP or PRE_COPY */
		if (from == UVFIO_MIG_STOP)
			drop_streams(d);
		r = append_record(d, MIG_KIND_FINAL);
		break;
	case UVFIO_MIG_RESUMING:
		drop_streams(d);
		break;
	case UVFIO_MIG_STOP:
		if (from == UVFIO_MIG_RESUMING)
			r = load_stream(d);
		drop_streams(d);
		break;
	case UVFIO_MIG_RUNNING:
		drop_streams(d);
		break;
	default:
		return -EINVAL;
	}
	if (!r)
		d->mig = to;
	return r;
}

static ssize_t dmadev_read_data(void *opaque, void *buf, size_t len)
{
	struct dmadev *d = opaque;
	size_t n = d->out_len - d->out_pos;
	if (n > len)
		n = len;
	memcpy(buf, d->out + d->out_pos, n);
	d->out_pos += n;
	return (ssize_t)n;
}

static ssize_t dmadev_write_data(void *opaque, const void *buf, size_t len)
{
	struct dmadev *d = opaque;
	/* Bounded: a stream longer than a few records is not ours. */
	if (len > 8 * (MIG_HDR + REG_END + BAR2_SIZE) - d->in_len)
		return -EFBIG;
	if (d->in_len + len > d->in_cap) {
		size_t cap = d->in_cap ? d->in_cap : 64 * 1024;
		while (cap < d->in_len + len)
			cap *= 2;
		uint8_t *n = realloc(d->in, cap);
		if (!n)
			return -ENOMEM;
		d->in = n;
		d->in_cap = cap;
	}
	memcpy(d->in + d->in_len, buf, len);
	d->in_len += len;
	return (ssize_t)len;
}

static const struct uvfio_migration_ops dmadev_mig_ops = {
	.struct_size = sizeof(struct uvfio_migration_ops),
	.transition = dmadev_transition,
	.read_data = dmadev_read_data,
	.write_data = dmadev_write_data,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-dmadev --socket PATH [-v]\n"
		"\n"
		"Serve a DMA engine with MSI-X and a 1 MiB mmap-able memory BAR\n"
		"over vfio-user until SIGTERM or SIGINT.  Registers in BAR0:\n"
		"IOVA 0x00, LEN 0x08, COUNT 0x0c, DIR 0x10 (0 read guest memory,\n"
		"1 write it), GO 0x14 (1 synchronous, 2 background), STATUS 0x18,\n"
		"IRQ 0x1c (raise MSI-X vector 0 on completion).\n"
		"  --socket PATH  UNIX socket to listen on\n"
		"  --fd N         use this listening or connected socket instead\n"
		"  --dma-read-budget BYTES\n"
		"                 DMA_READ reply bytes a QEMU client may owe at once\n"
		"                 (default 131072; see uvfio_server_set_dma_read_budget)\n"
		"  --busy-poll USEC\n"
		"                 after work, look for more for USEC us before\n"
		"                 sleeping (see uvfio_server_set_busy_poll)\n"
		"  -v             log connections and protocol errors\n");
	app_server_usage_env(f);
}

/* --dma-read-budget BYTES, into the size_t at opaque. */
static int option(void *opaque, int val, const char *arg)
{
	size_t *read_budget = opaque;
	char *end;

	(void)val; /* our only option */
	errno = 0;
	*read_budget = strtoull(arg, &end, 0);
	if (errno || *end || !*read_budget) {
		fprintf(stderr, "uvfio-dmadev: --dma-read-budget wants a byte "
				"count, got '%s'\n",
			arg);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dma-read-budget", required_argument, NULL, 'b' },
		{ 0 },
	};
	struct dmadev d = { .mig = UVFIO_MIG_RUNNING };
	size_t read_budget = 0;
	struct app_server a = {
		.prog = "uvfio-dmadev", .usage = usage,
		.flags = UVFIO_SERVER_PCIE,
		.options = opts, .option = option, .opaque = &read_budget,
	};
	int r;

	app_server_start(&a, argc, argv);
	d.srv = a.srv;
	if (read_budget &&
	    (r = uvfio_server_set_dma_read_budget(d.srv, read_budget))) {
		fprintf(stderr, "uvfio-dmadev: --dma-read-budget %zu refused: "
				"%s (at least 4096)\n",
			read_budget, strerror(-r));
		uvfio_server_destroy(d.srv);
		return 2;
	}

	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0xd3a0,
		.subsys_vendor = 0x1234, .subsys = 0x0001,
		.class_code = 0x088000, /* system peripheral, other */
	};
	const struct uvfio_region_desc bar0 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR0_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
		.fn = bar0_access,
		.opaque = &d,
	};
	const struct uvfio_region_desc bar2 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR2_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			 UVFIO_REGION_MEM | UVFIO_REGION_64BIT |
			 UVFIO_REGION_PREFETCH,
	};
	if ((r = uvfio_server_set_pci_ids(d.srv, &ids)) ||
	    (r = uvfio_server_add_region(d.srv, 0, &bar0)) ||
	    (r = uvfio_server_add_region(d.srv, 2, &bar2)) ||
	    (r = uvfio_server_pci_add_pm(d.srv)) < 0 ||
	    (r = uvfio_server_pci_add_pcie(d.srv, 0)) < 0 ||
	    (r = uvfio_server_pci_add_msix(d.srv, MSIX_VECTORS, 0, MSIX_TABLE,
					   0, MSIX_PBA)) < 0 ||
	    (r = uvfio_server_pci_add_dsn(d.srv, 0x00d3a0d3a0d3a001ull)) < 0 ||
	    (r = uvfio_server_set_ops(d.srv, &dmadev_ops, &d)))
		return app_server_fail(&a, "device setup", r);
	d.mem = uvfio_server_region_mem(d.srv, 2);
	r = uvfio_server_set_migration(d.srv, &dmadev_mig_ops, &d,
				       UVFIO_MIGRATION_STOP_COPY |
					       UVFIO_MIGRATION_PRE_COPY);
	if (r)
		return app_server_fail(&a, "migration setup", r);

	r = app_server_run(&a);
	drop_streams(&d);
	return r;
}
