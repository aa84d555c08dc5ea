/* SPDX-License-Identifier: MIT */
/*
 * Built outside meson by check-link.sh, against the compat headers only,
 * with no rpath: it must find libvfio-user.so.0 through LD_LIBRARY_PATH.
 * Prints where the library came from, then serves one client-less round
 * of the API (create, set up, realize, a non-blocking attach, destroy).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "libvfio-user.h"

int main(int argc, char **argv)
{
	Dl_info info;
	if (argc != 2 || !dladdr((void *)vfu_create_ctx, &info)) {
		fprintf(stderr, "usage: link-probe SOCKET\n");
		return 2;
	}
	printf("%s\n", info.dli_fname);
	vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_SOCK, argv[1],
					LIBVFIO_USER_FLAG_ATTACH_NB, NULL,
					VFU_DEV_TYPE_PCI);
	if (!ctx || vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL,
				 PCI_HEADER_TYPE_NORMAL, 0) ||
	    vfu_realize_ctx(ctx)) {
		perror("link-probe: setting up a device");
		return 1;
	}
	int r = vfu_attach_ctx(ctx);
	if (r != -1 || errno != EAGAIN) {
		fprintf(stderr, "link-probe: attach with no client: %d\n", r);
		return 1;
	}
	printf("dma_sg_size=%zu\n", dma_sg_size());
	vfu_destroy_ctx(ctx);
	return 0;
}
