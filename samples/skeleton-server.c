/* SPDX-License-Identifier: MIT */
/*
 * uvfio-skeleton: the smallest useful vfio-user device.  A PCI function
 * with a 256-byte config space and BAR0: 4 KiB of scratch registers that
 * read back what was written.  It exists to show the library's shape and
 * to be driven by tests and `make demo`.
 *
 *   uvfio-skeleton --socket-path=PATH | --fd=FDNUM [-v]
 */
#include <stdio.h>
#include <string.h>

#include <uvfio/server.h>

#include "app.h"

#define BAR0_SIZE 4096u

static uint8_t bar0[BAR0_SIZE];

static ssize_t bar0_access(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	(void)opaque;
	(void)index;
	if (is_write)
		memcpy(bar0 + off, buf, count);
	else
		memcpy(buf, bar0 + off, count);
	return (ssize_t)count;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: uvfio-skeleton --socket-path=PATH | --fd=FDNUM [-v]\n"
		   "\n"
		   "Serve a minimal vfio-user PCI device (config space and a\n"
		   "4 KiB scratch BAR0) until SIGTERM or SIGINT.\n"
		   "  --socket-path=PATH  listen on this UNIX socket\n"
		   "  --fd=FDNUM          use this listening or connected socket\n"
		   "  --busy-poll USEC    after work, look for more for USEC us\n"
		   "                      before sleeping\n"
		   "  -v                  log connections and negotiation\n");
	app_server_usage_env(f);
}

int main(int argc, char **argv)
{
	/* --socket-path=PATH and --fd=FDNUM: the spelling of the vfio-user
	 * spec's "Backend Program Conventions". */
	struct app_server a = {
		.prog = "uvfio-skeleton", .usage = usage,
		.socket_opt = "--socket-path",
	};
	int r;

	app_server_start(&a, argc, argv);

	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0x0001, .revision = 1,
		.class_code = 0xff0000, /* unassigned class */
		.irq_pin = 1,
	};
	if ((r = uvfio_server_set_pci_ids(a.srv, &ids)) ||
	    (r = uvfio_server_setup_region(a.srv, UVFIO_PCI_BAR0, BAR0_SIZE,
					   UVFIO_REGION_READ | UVFIO_REGION_WRITE,
					   bar0_access, NULL)))
		return app_server_fail(&a, "device setup", r);
	return app_server_run(&a);
}
