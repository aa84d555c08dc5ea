/* SPDX-License-Identifier: MIT */
/*
 * uvfio-skeleton-client PATH: connect to a vfio-user server, negotiate,
 * and show what the device says about itself.  With the skeleton server it
 * also writes and reads back BAR0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/client.h>

static const char *region_names[] = { "BAR0", "BAR1", "BAR2", "BAR3", "BAR4",
				      "BAR5", "ROM",  "CONFIG", "VGA" };

int main(int argc, char **argv)
{
	struct uvfio_client *c;
	struct uvfio_device_info di;
	int r;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr,
			"usage: uvfio-skeleton-client SOCKET_PATH\n");
		return argc == 2 ? 0 : 2;
	}
	if ((r = uvfio_client_create(&c))) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	if ((r = uvfio_client_connect(c, argv[1]))) {
		fprintf(stderr, "cannot talk to %s: %s%s\n", argv[1],
			strerror(-r),
			r == -ENOENT ? " (is the server running?)" : "");
		uvfio_client_destroy(c);
		return 1;
	}
	const struct uvfio_caps *caps = uvfio_client_server_caps(c);
	printf("negotiated: protocol 0.%d, max_data_xfer_size %u, "
	       "max_msg_fds %u, twin socket %s\n",
	       uvfio_client_version_minor(c), caps->max_data_xfer_size,
	       caps->max_msg_fds, uvfio_client_has_twin_socket(c) ? "yes" : "no");

	if ((r = uvfio_client_get_device_info(c, &di)))
		goto fail;
	printf("device: flags 0x%x (%s%s), %u regions, %u irq indexes\n",
	       di.flags, di.flags & UVFIO_DEV_PCI ? "PCI" : "",
	       di.flags & UVFIO_DEV_RESET ? " RESET" : "", di.num_regions,
	       di.num_irqs);
	for (unsigned i = 0; i < di.num_regions && i < 9; i++) {
		struct uvfio_region_info ri;
		if ((r = uvfio_client_get_region_info(c, i, &ri)))
			goto fail;
		if (ri.size)
			printf("  region %u %-6s size %#llx flags%s%s%s\n", i,
			       region_names[i], (unsigned long long)ri.size,
			       ri.flags & UVFIO_REGION_READ ? " READ" : "",
			       ri.flags & UVFIO_REGION_WRITE ? " WRITE" : "",
			       ri.flags & UVFIO_REGION_MMAP ? " MMAP" : "");
	}

	uint8_t cfg[256];
	if ((r = uvfio_client_region_read(c, UVFIO_PCI_CONFIG, 0, cfg,
					  sizeof(cfg))))
		goto fail;
	printf("config: vendor %02x%02x device %02x%02x class %02x%02x%02x\n",
	       cfg[1], cfg[0], cfg[3], cfg[2], cfg[0xb], cfg[0xa], cfg[0x9]);

	struct uvfio_region_info bar0;
	if (!uvfio_client_get_region_info(c, 0, &bar0) && bar0.size >= 8 &&
	    (bar0.flags & UVFIO_REGION_WRITE)) {
		uint64_t w = 0x1122334455667788ull, rd = 0;
		if ((r = uvfio_client_region_write(c, 0, 0, &w, sizeof(w))) ||
		    (r = uvfio_client_region_read(c, 0, 0, &rd, sizeof(rd))))
			goto fail;
		printf("BAR0: wrote %#llx, read back %#llx: %s\n",
		       (unsigned long long)w, (unsigned long long)rd,
		       w == rd ? "ok" : "MISMATCH");
		if (w != rd)
			r = -EIO;
	}
	if (!r && (di.flags & UVFIO_DEV_RESET) && (r = uvfio_client_reset(c)))
		goto fail;
	if (!r)
		printf("reset: ok\n");
	uvfio_client_destroy(c);
	return r ? 1 : 0;
fail:
	fprintf(stderr, "request failed: %s\n", strerror(-r));
	uvfio_client_destroy(c);
	return 1;
}
