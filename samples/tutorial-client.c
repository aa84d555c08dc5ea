/* SPDX-License-Identifier: MIT */
/*
 * uvfio-tutorial-client: the client that docs/client.md walks through.
 * Drives uvfio-tutorial-device: lists it, maps its memory BAR, gives it
 * two DMA windows (one fd-backed, one served with messages), has it copy
 * from each, takes its interrupts, then disconnects, reconnects and resets
 * it.  Prints "ok: ..." per check and exits 0 only if all passed.
 *
 *   uvfio-tutorial-client [-v] SOCKET
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/client.h>

/* The device's registers in BAR0 (see samples/tutorial-device.c). */
enum {
	REG_SCRATCH = 0x00, REG_DMA_ADDR = 0x08, REG_DMA_LEN = 0x10,
	REG_DOORBELL = 0x14, REG_STATUS = 0x18, REG_TICK_ADDR = 0x20,
};
#define WIN_SIZE 0x10000u
#define FD_IOVA 0x100000000ull  /* a memfd the device maps itself */
#define MSG_IOVA 0x200000000ull /* plain memory served with messages */
#define COPY_LEN 0x8000u

static int failures;
static bool verbose;

static void check(int r, const char *what)
{
	if (r) {
		failures++;
		printf("FAIL: %s: %s\n", what, strerror(r < 0 ? -r : r));
	} else {
		printf("ok: %s\n", what);
	}
}

static void log_fn(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (verbose)
		fprintf(stderr, "  uvfio (%d): %s\n", level, msg);
}

static uint32_t rd32(struct uvfio_client *c, unsigned reg)
{
	uint32_t v = 0xffffffff;
	uvfio_client_region_read(c, 0, reg, &v, 4);
	return v;
}

/* Let vectors 0 and 1 fire: set MSI-X Enable in config space and clear
 * the vectors' mask bits in the table. */
static int msix_enable(struct uvfio_client *c)
{
	uint8_t cfg[256];
	int r = uvfio_client_region_read(c, UVFIO_PCI_CONFIG, 0, cfg, sizeof(cfg));
	if (r)
		return r;
	for (unsigned off = cfg[0x34], n = 0; off >= 0x40 && n < 48;
	     off = cfg[off + 1], n++) {
		if (cfg[off] != 0x11) /* MSI-X capability id */
			continue;
		uint16_t ctl = (uint16_t)(cfg[off + 2] | cfg[off + 3] << 8 | 0x8000);
		uint32_t table, unmasked = 0;
		memcpy(&table, cfg + off + 4, 4); /* BIR in bits 0-2 */
		r = uvfio_client_region_write(c, UVFIO_PCI_CONFIG, off + 2, &ctl, 2);
		for (unsigned v = 0; v < 2 && !r; v++)
			r = uvfio_client_region_write(c, table & 7,
						      (table & ~7u) + 16 * v + 12,
						      &unmasked, 4);
		return r;
	}
	return -ENOENT;
}

static void list_device(struct uvfio_client *c)
{
	struct uvfio_device_info di;
	check(uvfio_client_get_device_info(c, &di), "device info");
	for (unsigned i = 0; i < di.num_regions; i++) {
		struct uvfio_region_info ri;
		if (uvfio_client_get_region_info(c, i, &ri) || !ri.size)
			continue;
		printf("  region %u: %#llx bytes%s\n", i, (unsigned long long)ri.size,
		       ri.flags & UVFIO_REGION_MMAP ? ", mappable" : "");
		const struct uvfio_region_caps *rc = uvfio_client_region_caps(c, i);
		for (uint32_t a = 0; rc && rc->has_sparse && a < rc->nr_areas; a++) {
			struct uvfio_sparse_area sa;
			memcpy(&sa, rc->areas + a * sizeof(sa), sizeof(sa));
			printf("    mmap area %#llx+%#llx\n",
			       (unsigned long long)sa.offset,
			       (unsigned long long)sa.size);
		}
	}
	for (unsigned i = 0; i < di.num_irqs; i++) {
		struct uvfio_irq_info ii;
		if (!uvfio_client_get_irq_info(c, i, &ii) && ii.count)
			printf("  irq index %u: %u vectors\n", i, ii.count);
	}
}

/* Copy COPY_LEN bytes from guest memory at iova into BAR2 and wait for
 * the completion interrupt (serving DMA messages while waiting). */
static int copy_sync(struct uvfio_client *c, uint64_t iova, int efd)
{
	uint32_t len = COPY_LEN, one = 1;
	uint64_t n;
	int r;
	if ((r = uvfio_client_region_write(c, 0, REG_DMA_ADDR, &iova, 8)) ||
	    (r = uvfio_client_region_write(c, 0, REG_DMA_LEN, &len, 4)) ||
	    (r = uvfio_client_region_write(c, 0, REG_DOORBELL, &one, 4)) ||
	    (r = uvfio_client_irq_wait(c, efd, 2000, &n)))
		return r;
	return (int)rd32(c, REG_STATUS);
}

static void check_copy(int r, const uint8_t *bar2, const uint8_t *src,
		       const char *what)
{
	check(r ? r : memcmp(bar2, src, COPY_LEN) ? -EIO : 0, what);
}

struct async_state {
	struct uvfio_client *c;
	bool done;
	int result, nested;
};

/* A completion: runs inside uvfio_client_process(), lock held. */
static void doorbell_done(void *opaque, int result)
{
	struct async_state *st = opaque;
	uint32_t v;
	st->done = true;
	st->result = result;
	/* Synchronous calls are refused here; only async ones may be made. */
	st->nested = uvfio_client_region_read(st->c, 0, REG_STATUS, &v, 4);
}

/* The same copy from the caller's own event loop: posted writes for the
 * set-up, an asynchronous doorbell, poll on the client fd and the
 * eventfd together. */
static int copy_async(struct uvfio_client *c, uint64_t iova, int efd,
		      struct async_state *st)
{
	uint32_t len = COPY_LEN, one = 1;
	bool irq = false;
	int r;
	if ((r = uvfio_client_region_write_posted(c, 0, REG_DMA_ADDR, &iova, 8)) ||
	    (r = uvfio_client_region_write_posted(c, 0, REG_DMA_LEN, &len, 4)) ||
	    (r = uvfio_client_region_write_async(c, 0, REG_DOORBELL, &one, 4,
						 doorbell_done, st)))
		return r;
	struct pollfd pfd[2] = {
		{ .fd = uvfio_client_poll_fd(c), .events = POLLIN },
		{ .fd = efd, .events = POLLIN },
	};
	while (!st->done || !irq) {
		if (poll(pfd, 2, 2000) == 0)
			return -ETIMEDOUT;
		if ((r = uvfio_client_process(c)))
			return r;
		uint64_t n;
		if (read(efd, &n, 8) == 8)
			irq = true;
	}
	return st->result;
}

int main(int argc, char **argv)
{
	struct uvfio_client *c;
	const char *path = argc > 1 ? argv[argc - 1] : NULL;
	int r;

	verbose = argc == 3 && !strcmp(argv[1], "-v");
	if (argc < 2 || argc > 3 || path[0] == '-' || (argc == 3 && !verbose)) {
		fprintf(stderr, "usage: uvfio-tutorial-client [-v] SOCKET\n");
		return 2;
	}

	/* Connect and negotiate. */
	if (uvfio_client_create(&c))
		return 1;
	uvfio_client_set_log(c, log_fn, NULL, UVFIO_LOG_DEBUG);
	uvfio_client_set_timeout(c, 2000);
	r = uvfio_client_connect(c, path);
	if (r) {
		fprintf(stderr, "uvfio-tutorial-client: %s: %s\n", path, strerror(-r));
		return 1;
	}
	const struct uvfio_caps *caps = uvfio_client_server_caps(c);
	printf("  protocol 0.%d, max_data_xfer_size %u, twin socket %s\n",
	       uvfio_client_version_minor(c), caps->max_data_xfer_size,
	       uvfio_client_has_twin_socket(c) ? "yes" : "no");
	list_device(c);

	/* BAR2's mappable part, shared with the device. */
	uint8_t *bar2;
	check(uvfio_client_region_mmap(c, 2, (void **)&bar2), "mmap BAR2");

	/* Guest memory: one window the device maps, one it reaches with
	 * DMA_READ/DMA_WRITE messages that this client serves from msgbuf. */
	int memfd = memfd_create("tutorial-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, WIN_SIZE) < 0)
		return 1;
	uint8_t *fdbuf = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE,
			      MAP_SHARED, memfd, 0);
	uint8_t *msgbuf = calloc(1, WIN_SIZE);
	if (fdbuf == MAP_FAILED || !msgbuf)
		return 1;
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;
	check(uvfio_client_dma_map(c, FD_IOVA, WIN_SIZE, rw, fdbuf, memfd, 0),
	      "fd-backed DMA window");
	check(uvfio_client_dma_map(c, MSG_IOVA, WIN_SIZE, rw, msgbuf, -1, 0),
	      "message-only DMA window");

	/* Interrupts: eventfds for MSI-X vectors 0 (copy done) and 1 (tick). */
	int efd[2];
	check(uvfio_client_irq_enable(c, UVFIO_PCI_MSIX_IRQ, 0, 2, efd),
	      "MSI-X eventfds");
	check(msix_enable(c), "MSI-X enabled and unmasked");

	/* Copies, checked through the mapping of BAR2. */
	memset(fdbuf, 0xa1, COPY_LEN);
	check_copy(copy_sync(c, FD_IOVA, efd[0]), bar2, fdbuf,
		   "copy from the fd-backed window, interrupt taken");
	memset(msgbuf, 0xb2, COPY_LEN);
	check_copy(copy_sync(c, MSG_IOVA, efd[0]), bar2, msgbuf,
		   "copy from the message-only window, interrupt taken");
	struct async_state st = { .c = c };
	memset(msgbuf, 0xc3, COPY_LEN);
	check_copy(copy_async(c, MSG_IOVA, efd[0], &st), bar2, msgbuf,
		   "asynchronous copy driven by our own poll loop");
	check(st.nested == -EDEADLK ? 0 : -EINVAL,
	      "a synchronous call inside a completion fails with EDEADLK");

	/* The heartbeat: a device thread writes its tick count into the
	 * message-only window with synchronous DMA, then raises vector 1. */
	uint64_t tick_addr = MSG_IOVA + 0x8000, ticks = 0, n;
	uvfio_client_region_write(c, 0, REG_TICK_ADDR, &tick_addr, 8);
	r = uvfio_client_irq_wait(c, efd[1], 2000, &n);
	memcpy(&ticks, msgbuf + 0x8000, 8);
	check(r ? r : ticks ? 0 : -EIO, "heartbeat DMA and interrupt");
	tick_addr = 0;
	uvfio_client_region_write(c, 0, REG_TICK_ADDR, &tick_addr, 8);

	/* Reconnect: the device keeps its state, and the client gives the
	 * new connection its DMA windows and eventfds again.  Mappings of
	 * regions end with the connection. */
	uint32_t magic = 0x5a5a5a5a, v = 0;
	uvfio_client_region_write(c, 0, REG_SCRATCH, &magic, 4);
	uvfio_client_disconnect(c);
	check(uvfio_client_region_read(c, 0, REG_SCRATCH, &v, 4) == -ENOTCONN
		      ? 0 : -EINVAL, "calls fail with ENOTCONN after disconnect");
	check(uvfio_client_reconnect(c), "reconnect");
	check(rd32(c, REG_SCRATCH) == magic ? 0 : -EIO, "device state kept");
	check(uvfio_client_region_mmap(c, 2, (void **)&bar2), "mmap BAR2 again");
	memset(fdbuf, 0xd4, COPY_LEN);
	check_copy(copy_sync(c, FD_IOVA, efd[0]), bar2, fdbuf,
		   "windows and eventfds restored");

	/* Reset: registers and config space return to power-on values. */
	check(uvfio_client_reset(c), "reset");
	check(rd32(c, REG_SCRATCH) == 0 ? 0 : -EIO, "registers cleared");

	uvfio_client_irq_disable(c, UVFIO_PCI_MSIX_IRQ);
	uvfio_client_dma_unmap(c, FD_IOVA, WIN_SIZE);
	uvfio_client_dma_unmap(c, MSG_IOVA, WIN_SIZE);
	uvfio_client_destroy(c);
	close(efd[0]);
	close(efd[1]);
	munmap(fdbuf, WIN_SIZE);
	close(memfd);
	free(msgbuf);
	printf("tutorial-client: %s\n", failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}
