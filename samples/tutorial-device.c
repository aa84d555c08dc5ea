/* SPDX-License-Identifier: MIT */
/*
 * uvfio-tutorial-device: the device that docs/writing-a-device.md walks
 * through.  A copy engine with a heartbeat.
 *
 * BAR0 (4 KiB of registers, little-endian; accesses of 1-8 bytes):
 *   0x00 u32 SCRATCH   read/write, no effect
 *   0x08 u64 DMA_ADDR  guest address to copy from
 *   0x10 u32 DMA_LEN   bytes to copy into BAR2 (at most 60 KiB)
 *   0x14 u32 DOORBELL  write 1: copy, then raise MSI-X vector 0
 *   0x18 u32 STATUS    0, EINPROGRESS (115) while copying, or an errno
 *   0x20 u64 TICK_ADDR non-zero: every 100 ms a device thread writes TICKS
 *                      there and raises MSI-X vector 1
 *   0x28 u64 TICKS     heartbeats so far
 * BAR2 (64 KiB of memory): the first 60 KiB may be mmap'ed by the client;
 * the last page holds the MSI-X table (0xf000) and PBA (0xf800).
 *
 *   uvfio-tutorial-device [-v] [--own-loop] SOCKET
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sigaction, nanosleep with -std=c11 */
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uvfio/server.h>

enum {
	REG_SCRATCH = 0x00, REG_DMA_ADDR = 0x08, REG_DMA_LEN = 0x10,
	REG_DOORBELL = 0x14, REG_STATUS = 0x18, REG_TICK_ADDR = 0x20,
	REG_TICKS = 0x28, REG_END = 0x30,
};
#define BAR2_SIZE 0x10000u
#define BAR2_MAPPABLE 0xf000u /* MSI-X table and PBA live above */

struct dev {
	struct uvfio_server *srv;
	pthread_mutex_t lock; /* regs: the server thread and the ticker */
	uint8_t regs[REG_END];
	uint8_t *mem; /* BAR2 */
	bool verbose;
};

static volatile sig_atomic_t quit;
static struct uvfio_server *the_srv;

static uint64_t reg_get(struct dev *d, unsigned off, size_t len)
{
	uint64_t v = 0;
	memcpy(&v, d->regs + off, len);
	return v;
}

static void reg_set(struct dev *d, unsigned off, uint64_t v, size_t len)
{
	memcpy(d->regs + off, &v, len);
}

/* ---- DMA: the doorbell ---------------------------------------------------- */

/* Runs on the server thread when the copy is over (maybe before
 * uvfio_server_dma_read_async() even returned). */
static void copy_done(void *opaque, int result)
{
	struct dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	reg_set(d, REG_STATUS, (uint32_t)-result, 4);
	pthread_mutex_unlock(&d->lock);
	/* -EAGAIN: vector masked (it stays pending) or no eventfd. */
	uvfio_server_irq_trigger(d->srv, UVFIO_PCI_MSIX_IRQ, 0);
}

static int ring_doorbell(struct dev *d)
{
	pthread_mutex_lock(&d->lock);
	uint64_t addr = reg_get(d, REG_DMA_ADDR, 8);
	uint32_t len = (uint32_t)reg_get(d, REG_DMA_LEN, 4);
	bool busy = reg_get(d, REG_STATUS, 4) == EINPROGRESS;
	if (!busy)
		reg_set(d, REG_STATUS, len > BAR2_MAPPABLE ? EINVAL : EINPROGRESS, 4);
	pthread_mutex_unlock(&d->lock);

	if (busy)
		return -EBUSY; /* the client sees EBUSY for its write */
	if (len > BAR2_MAPPABLE)
		return 0;
	/* Inside a callback: asynchronous, so a client that serves DMA only
	 * after this write is answered (QEMU) is not deadlocked. */
	int r = uvfio_server_dma_read_async(d->srv, addr, d->mem, len,
					    copy_done, d);
	if (r)
		copy_done(d, r); /* not started: done will not run */
	return 0;
}

/* ---- BAR0: a callback region ------------------------------------------------ */

static ssize_t bar0_access(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	struct dev *d = opaque;

	(void)index; /* one callback could serve several BARs */
	if (off >= REG_END || count > REG_END - off) {
		if (!is_write)
			memset(buf, 0, count); /* unused space reads as 0 */
		return (ssize_t)count;
	}
	if (!is_write) {
		pthread_mutex_lock(&d->lock);
		memcpy(buf, d->regs + off, count);
		pthread_mutex_unlock(&d->lock);
		return (ssize_t)count;
	}
	if (off == REG_DOORBELL) {
		uint32_t v = 0;
		memcpy(&v, buf, count < 4 ? count : 4);
		int r = v == 1 ? ring_doorbell(d) : 0;
		return r ? r : (ssize_t)count;
	}
	if (off + count <= REG_DOORBELL || (off >= REG_TICK_ADDR &&
					    off + count <= REG_TICKS)) {
		pthread_mutex_lock(&d->lock);
		memcpy(d->regs + off, buf, count);
		pthread_mutex_unlock(&d->lock);
	}
	return (ssize_t)count; /* writes to read-only registers are dropped */
}

/* ---- a device thread: synchronous DMA and interrupts ------------------------ */

static void *ticker(void *opaque)
{
	struct dev *d = opaque;
	const struct timespec period = { 0, 100 * 1000 * 1000 };

	while (!quit) {
		nanosleep(&period, NULL);
		pthread_mutex_lock(&d->lock);
		uint64_t addr = reg_get(d, REG_TICK_ADDR, 8);
		uint64_t ticks = reg_get(d, REG_TICKS, 8) + 1;
		if (addr)
			reg_set(d, REG_TICKS, ticks, 8);
		pthread_mutex_unlock(&d->lock);
		if (!addr)
			continue;
		/* Never hold d->lock here: the server thread may need it to
		 * finish the callback it is in before it can do our DMA. */
		int r = uvfio_server_dma_write(d->srv, addr, &ticks, 8);
		if (r == 0)
			uvfio_server_irq_trigger(d->srv, UVFIO_PCI_MSIX_IRQ, 1);
		else if (d->verbose)
			fprintf(stderr, "tick %llu: %s\n",
				(unsigned long long)ticks, strerror(-r));
	}
	return NULL;
}

/* ---- device ops ------------------------------------------------------------- */

static int dev_reset(void *opaque, enum uvfio_reset_reason why)
{
	struct dev *d = opaque;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	if (why == UVFIO_RESET_LOST_CONN) {
		/* Its DMA windows are gone: stop the heartbeat, keep the rest
		 * for the next client. */
		reg_set(d, REG_TICK_ADDR, 0, 8);
	} else if (reg_get(d, REG_STATUS, 4) == EINPROGRESS) {
		r = -EBUSY;
	} else {
		memset(d->regs, 0, sizeof(d->regs));
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

static void dev_connected(void *opaque)
{
	struct dev *d = opaque;
	if (d->verbose)
		fprintf(stderr, "client connected\n");
}

static void dev_disconnected(void *opaque)
{
	struct dev *d = opaque;
	if (d->verbose)
		fprintf(stderr, "client gone\n");
}

static void dev_dma_map(void *opaque, uint64_t iova, uint64_t size,
			uint32_t prot)
{
	struct dev *d = opaque;
	if (d->verbose)
		fprintf(stderr, "DMA window %#llx+%#llx%s%s\n",
			(unsigned long long)iova, (unsigned long long)size,
			prot & UVFIO_DMA_MAP_READ ? " R" : "",
			prot & UVFIO_DMA_MAP_WRITE ? " W" : "");
}

static void dev_dma_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	struct dev *d = opaque;
	if (d->verbose)
		fprintf(stderr, "DMA window %#llx+%#llx going\n",
			(unsigned long long)iova, (unsigned long long)size);
}

static const struct uvfio_device_ops dev_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = dev_reset,
	.connected = dev_connected,
	.disconnected = dev_disconnected,
	.dma_map = dev_dma_map,
	.dma_unmap = dev_dma_unmap,
};

/* ---- setup ------------------------------------------------------------------ */

static int describe(struct dev *d)
{
	static const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0x7e57,
		.subsys_vendor = 0x1234, .subsys = 0x0001,
		.class_code = 0xff0000, /* unassigned class */
	};
	static const struct uvfio_sparse_area mappable[] = {
		{ .offset = 0, .size = BAR2_MAPPABLE },
	};
	const struct uvfio_region_desc bar2 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR2_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_MEM,
		.sparse = mappable,
		.nr_sparse = 1,
	};
	int r;

	if ((r = uvfio_server_set_pci_ids(d->srv, &ids)) ||
	    (r = uvfio_server_setup_region(d->srv, 0, 4096,
					   UVFIO_REGION_READ | UVFIO_REGION_WRITE,
					   bar0_access, d)) ||
	    (r = uvfio_server_add_region(d->srv, 2, &bar2)))
		return r;
	r = uvfio_server_pci_add_msix(d->srv, 2, 2, 0xf000, 2, 0xf800);
	if (r < 0)
		return r;
	d->mem = uvfio_server_region_mem(d->srv, 2);
	return uvfio_server_set_ops(d->srv, &dev_ops, d);
}

/* The library recognises QEMU from its VERSION; UVFIO_QEMU_DMA_LAYOUT=1
 * (or 0) in the environment says the client is QEMU 10.x (or is not),
 * for a client the rule gets wrong. */
static int quirks_from_env(struct uvfio_server *srv)
{
	const char *e = getenv("UVFIO_QEMU_DMA_LAYOUT");
	if (!e || !*e)
		return 0;
	return uvfio_server_set_client_quirks(srv, atoi(e) ? UVFIO_QUIRKS_QEMU
							   : UVFIO_QUIRKS_NONE);
}

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
	uvfio_server_stop(the_srv);
}

/* The same as uvfio_server_run(), with room for your own fds. */
static int own_loop(struct uvfio_server *srv)
{
	struct pollfd pfd = { .fd = uvfio_server_poll_fd(srv), .events = POLLIN };

	while (!quit) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		int r = uvfio_server_process(srv);
		if (r)
			return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct dev d = { .lock = PTHREAD_MUTEX_INITIALIZER };
	const char *path = NULL;
	bool own = false, bad = false;
	pthread_t tid;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			d.verbose = true;
		else if (!strcmp(argv[i], "--own-loop"))
			own = true;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			bad = true;
	}
	if (!path || bad) {
		fprintf(stderr, "usage: uvfio-tutorial-device [-v] [--own-loop] SOCKET\n");
		return 2;
	}
	r = uvfio_server_create(&d.srv, path, 0);
	if (r) {
		fprintf(stderr, "uvfio-tutorial-device: %s: %s\n", path, strerror(-r));
		return 1;
	}
	the_srv = d.srv;
	if (d.verbose) /* otherwise UVFIO_LOG_LEVEL or the default (warnings) */
		uvfio_server_set_log(d.srv, NULL, NULL, UVFIO_LOG_INFO);
	r = quirks_from_env(d.srv);
	if (!r)
		r = describe(&d);
	if (r) {
		fprintf(stderr, "uvfio-tutorial-device: setup: %s\n", strerror(-r));
		uvfio_server_destroy(d.srv);
		return 1;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_create(&tid, NULL, ticker, &d);

	r = own ? own_loop(d.srv) : uvfio_server_run(d.srv);

	quit = 1;
	pthread_join(tid, NULL);
	uvfio_server_destroy(d.srv);
	if (r)
		fprintf(stderr, "uvfio-tutorial-device: %s\n", strerror(-r));
	return r ? 1 : 0;
}
