/* SPDX-License-Identifier: MIT */
/*
 * uvfio-skeleton: the smallest useful vfio-user device.  A PCI function
 * with a 256-byte config space and BAR0: 4 KiB of scratch registers that
 * read back what was written.  It exists to show the library's shape and
 * to be driven by tests and `make demo`.
 *
 *   uvfio-skeleton --socket-path=PATH | --fd=FDNUM [-v]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/server.h>

#define BAR0_SIZE 4096u

static uint8_t bar0[BAR0_SIZE];
static struct uvfio_server *srv;

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

static void on_signal(int sig)
{
	(void)sig;
	uvfio_server_stop(srv);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: uvfio-skeleton --socket-path=PATH | --fd=FDNUM [-v]\n"
		   "\n"
		   "Serve a minimal vfio-user PCI device (config space and a\n"
		   "4 KiB scratch BAR0) until SIGTERM or SIGINT.\n"
		   "  --socket-path=PATH  listen on this UNIX socket\n"
		   "  --fd=FDNUM          use this listening or connected socket\n"
		   "  -v                  log connections and negotiation\n");
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int fd = -1, level = UVFIO_LOG_WARN;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--socket-path=", 14))
			path = argv[i] + 14;
		else if (!strncmp(argv[i], "--fd=", 5))
			fd = atoi(argv[i] + 5);
		else if (!strcmp(argv[i], "-v"))
			level = UVFIO_LOG_INFO;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "uvfio-skeleton: unknown argument '%s'\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if ((path == NULL) == (fd < 0)) {
		fprintf(stderr, "uvfio-skeleton: give exactly one of "
				"--socket-path and --fd\n");
		usage(stderr);
		return 2;
	}

	int r = path ? uvfio_server_create(&srv, path, 0)
		     : uvfio_server_create_fd(&srv, fd, 0);
	if (r) {
		fprintf(stderr, "uvfio-skeleton: cannot serve on %s: %s\n",
			path ? path : "the given fd", strerror(-r));
		return 1;
	}
	uvfio_server_set_log(srv, NULL, NULL, level);

	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0x0001, .revision = 1,
		.class_code = 0xff0000, /* unassigned class */
		.irq_pin = 1,
	};
	if ((r = uvfio_server_set_pci_ids(srv, &ids)) ||
	    (r = uvfio_server_setup_region(srv, UVFIO_PCI_BAR0, BAR0_SIZE,
					   UVFIO_REGION_READ | UVFIO_REGION_WRITE,
					   bar0_access, NULL))) {
		fprintf(stderr, "uvfio-skeleton: device setup failed: %s\n",
			strerror(-r));
		uvfio_server_destroy(srv);
		return 1;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = uvfio_server_run(srv);
	uvfio_server_destroy(srv);
	if (r) {
		fprintf(stderr, "uvfio-skeleton: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
