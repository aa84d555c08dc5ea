/* SPDX-License-Identifier: MIT */
/*
 * uvfio-demo SOCKET: drive uvfio-dmadev and say what happens.
 *
 * Negotiates, lists the device, maps two buffers (one backed by a memfd the
 * device maps itself, one the client serves with messages), has the device
 * copy into and out of each, takes an MSI-X interrupt, resets the device.
 * Exits 0 only if every byte checked out.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "dmadev.h"

#define BUF_SIZE (256u << 10)
#define FD_IOVA 0x10000000ull
#define MSG_IOVA 0x20000000ull

static struct uvfio_client *c;
static int steps, failures;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("  ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static int check(int r, const char *what)
{
	steps++;
	if (r) {
		failures++;
		printf("  FAILED: %s: %s\n", what, strerror(r < 0 ? -r : r));
	}
	return r;
}

static uint32_t reg(uint32_t off)
{
	uint32_t v = 0;
	uvfio_client_region_read(c, 0, off, &v, 4);
	return v;
}

static void set(uint32_t off, uint32_t v)
{
	uvfio_client_region_write(c, 0, off, &v, 4);
}

/* One transfer of len bytes between guest memory at iova and BAR2. */
static int transfer(uint64_t iova, uint32_t len, uint32_t dir, uint32_t go)
{
	uvfio_client_region_write(c, 0, REG_IOVA, &iova, 8);
	set(REG_LEN, len);
	set(REG_COUNT, 1);
	set(REG_DIR, dir);
	set(REG_GO, go);
	uint32_t st;
	/* Each status read also serves the DMA the device is doing. */
	while ((st = reg(REG_STATUS)) == EINPROGRESS)
		;
	return (int)st;
}

static void round_trip(const char *name, uint64_t iova, uint8_t *guest,
		       uint32_t go)
{
	uint8_t *bar = malloc(BUF_SIZE);
	for (uint32_t i = 0; i < BUF_SIZE; i++)
		guest[i] = (uint8_t)(i * 7 + 3);
	int r = transfer(iova, BUF_SIZE, 0, go);
	if (!check(r, "device reads guest memory") &&
	    !check(uvfio_client_region_read(c, 2, 0, bar, BUF_SIZE),
		   "read BAR2"))
		check(memcmp(bar, guest, BUF_SIZE) ? EIO : 0,
		      "BAR2 holds the guest's bytes");
	say("device read %u KiB from the %s buffer (GO=%u): %s", BUF_SIZE >> 10,
	    name, go, r ? strerror(r) : "bytes match");

	memset(guest, 0, BUF_SIZE);
	r = transfer(iova, BUF_SIZE, 1, go);
	if (!check(r, "device writes guest memory"))
		check(memcmp(bar, guest, BUF_SIZE) ? EIO : 0,
		      "guest holds BAR2's bytes");
	say("device wrote %u KiB into the %s buffer (GO=%u): %s", BUF_SIZE >> 10,
	    name, go, r ? strerror(r) : "bytes match");
	free(bar);
}

int main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr,
			"usage: uvfio-demo SOCKET_PATH\n"
			"Drive a running uvfio-dmadev and narrate.\n");
		return argc == 2 ? 0 : 2;
	}
	if (uvfio_client_create(&c))
		return 1;
	int r = uvfio_client_connect(c, argv[1]);
	if (r) {
		fprintf(stderr, "uvfio-demo: cannot talk to %s: %s\n", argv[1],
			strerror(-r));
		return 1;
	}
	const struct uvfio_caps *caps = uvfio_client_server_caps(c);
	printf("1. negotiated vfio-user 0.%d with %s: max_data_xfer_size %u, "
	       "max_msg_fds %u, twin socket %s\n",
	       uvfio_client_version_minor(c), argv[1], caps->max_data_xfer_size,
	       caps->max_msg_fds, uvfio_client_has_twin_socket(c) ? "yes" : "no");

	uint8_t cfg[16];
	struct uvfio_device_info di;
	check(uvfio_client_get_device_info(c, &di), "device info");
	check(uvfio_client_region_read(c, 7, 0, cfg, sizeof(cfg)), "config");
	printf("2. device %02x%02x:%02x%02x class %02x%02x%02x, %u regions, "
	       "%u irq indexes\n",
	       cfg[1], cfg[0], cfg[3], cfg[2], cfg[11], cfg[10], cfg[9],
	       di.num_regions, di.num_irqs);
	for (unsigned i = 0; i < di.num_regions; i++) {
		struct uvfio_region_info ri;
		if (uvfio_client_get_region_info(c, i, &ri) || !ri.size)
			continue;
		say("region %u: %llu bytes%s%s%s", i, (unsigned long long)ri.size,
		    ri.flags & UVFIO_REGION_READ ? " read" : "",
		    ri.flags & UVFIO_REGION_WRITE ? " write" : "",
		    ri.flags & UVFIO_REGION_MMAP ? " mmap" : "");
	}

	/* Two kinds of guest memory. */
	int memfd = memfd_create("demo-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, BUF_SIZE) < 0)
		return 1;
	uint8_t *fdbuf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			      memfd, 0);
	uint8_t *msgbuf = malloc(BUF_SIZE);
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;
	check(uvfio_client_dma_map(c, FD_IOVA, BUF_SIZE, rw, fdbuf, memfd, 0),
	      "map the fd-backed buffer");
	check(uvfio_client_dma_map(c, MSG_IOVA, BUF_SIZE, rw, msgbuf, -1, 0),
	      "map the message-only buffer");
	printf("3. mapped %u KiB at %#llx backed by a memfd (the device maps it) "
	       "and %u KiB at %#llx without fd (the client serves DMA "
	       "messages)\n",
	       BUF_SIZE >> 10, (unsigned long long)FD_IOVA, BUF_SIZE >> 10,
	       (unsigned long long)MSG_IOVA);

	printf("4. DMA\n");
	round_trip("fd-backed", FD_IOVA, fdbuf, 1);
	round_trip("message-only", MSG_IOVA, msgbuf, 2);

	/* MSI-X vector 0: enable in config space, unmask in the table. */
	uint8_t all[256];
	unsigned cap = 0;
	check(uvfio_client_region_read(c, 7, 0, all, sizeof(all)), "config");
	for (unsigned off = all[0x34], n = 0; off && n < 48; off = all[off + 1], n++)
		if (all[off] == 0x11)
			cap = off;
	int efd = -1;
	uint64_t count = 0;
	if (!check(cap ? 0 : ENOENT, "find the MSI-X capability")) {
		uint16_t ctl = (uint16_t)(all[cap + 2] | all[cap + 3] << 8 | 0x8000);
		uint32_t unmask = 0;
		uvfio_client_region_write(c, 7, cap + 2, &ctl, 2);
		uvfio_client_region_write(c, 0, 0x800 + 12, &unmask, 4);
		if (!check(uvfio_client_irq_enable(c, 2, 0, 1, &efd),
			   "give the device an eventfd")) {
			set(REG_IRQ, 1);
			uint64_t iova = MSG_IOVA;
			uvfio_client_region_write(c, 0, REG_IOVA, &iova, 8);
			set(REG_DIR, 0);
			set(REG_GO, 2);
			check(uvfio_client_irq_wait(c, efd, 5000, &count),
			      "MSI-X interrupt");
		}
	}
	printf("5. MSI-X vector 0 %s after a background transfer\n",
	       count ? "fired" : "did NOT fire");

	check(uvfio_client_reset(c), "reset");
	printf("6. device reset: registers read IRQ=%u STATUS=%u\n", reg(REG_IRQ),
	       reg(REG_STATUS));

	if (efd >= 0)
		close(efd);
	uvfio_client_destroy(c);
	munmap(fdbuf, BUF_SIZE);
	close(memfd);
	free(msgbuf);
	printf("demo: %d checks, %d failed: %s\n", steps, failures,
	       failures ? "FAILED" : "all bytes and the interrupt checked out");
	return failures ? 1 : 0;
}
