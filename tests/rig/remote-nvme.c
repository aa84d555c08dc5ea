/* SPDX-License-Identifier: MIT */
/*
 * A rig check, not built by meson (docs/qemu.md): an NVMe host on uvfio's
 * client (bench/nvme_host.c, polled queues) against any vfio-user NVMe
 * controller -- QEMU's own nvme device model behind x-vfio-user-server
 * linked with uvfio's libvfio-user.so.0, for one.  It places BAR0 and
 * enables decoding and MSI-X as a VMM would, then writes random patterns
 * at random offsets, reads them back and compares.
 * usage: remote-nvme SOCKET; exit 0 when every round matched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_host.h"

/* One command on q, polled to completion: its status, or -1. */
static int io(struct nh *h, struct nh_queue *q, uint8_t opc, uint64_t pos,
	      size_t data, size_t len, size_t list)
{
	static uint16_t cid;
	struct nh_sqe e;
	nh_rw_cmd(h, &e, opc, ++cid, pos, data, len, list);
	nh_sq_put(q, &e);
	if (nh_sq_ring(h, q))
		return -1;
	const uint8_t *c;
	for (long i = 0; !(c = nh_cq_peek(q)); i++)
		if (i > 50000000)
			return -1;
	int st = (int)nh_cqe_status(c);
	nh_cq_pop(q);
	nh_cq_ring(h, q);
	return st;
}

/* What a VMM does before a driver runs: BAR0 placed, memory decoding and
 * bus mastering on, and MSI-X enabled (QEMU's model refuses CQ vectors
 * other than 0 without it, even for the polled queues used here). */
static void as_a_vmm(struct uvfio_client *c)
{
	uint32_t bar0 = 0xfe000000u, bar1 = 0;
	uint16_t cmd = 0x6;
	uint8_t cfg[256];
	uvfio_client_region_write(c, UVFIO_PCI_CONFIG, 0x10, &bar0, 4);
	uvfio_client_region_write(c, UVFIO_PCI_CONFIG, 0x14, &bar1, 4);
	uvfio_client_region_write(c, UVFIO_PCI_CONFIG, 0x04, &cmd, 2);
	uvfio_client_region_read(c, UVFIO_PCI_CONFIG, 0, cfg, sizeof(cfg));
	for (unsigned p = cfg[0x34], n = 0; p && n < 48; p = cfg[p + 1], n++) {
		if (cfg[p] != 0x11)
			continue;
		uint16_t mc = (uint16_t)(cfg[p + 2] | cfg[p + 3] << 8 | 0x8000);
		uvfio_client_region_write(c, UVFIO_PCI_CONFIG, p + 2, &mc, 2);
	}
}

int main(int argc, char **argv)
{
	struct uvfio_client *c;
	struct nh h;
	if (argc != 2 || uvfio_client_create(&c) ||
	    uvfio_client_connect(c, argv[1])) {
		fprintf(stderr, "usage: remote-nvme SOCKET (a listening "
				"vfio-user NVMe controller)\n");
		return 2;
	}
	as_a_vmm(c);
	uint64_t ns = 0;
	if (nh_open(&h, c, 64u << 20, 1u << 20) || nh_enable(&h, 32) ||
	    !(ns = nh_ns_bytes(&h)) || nh_create_pair(&h, 1, 64, false)) {
		fprintf(stderr, "remote-nvme: controller set-up failed\n");
		return 1;
	}
	printf("namespace: %llu bytes\n", (unsigned long long)ns);
	size_t list = nh_data_off(&h), data = list + 8 * NH_PAGE;
	size_t back = data + (1u << 20);
	int ok = 0, bad = 0;
	srand(7);
	for (int round = 0; round < 8; round++) {
		size_t len = (size_t)4096 << (round % 6); /* 4 KiB..128 KiB */
		uint64_t pos = (uint64_t)(rand() % (int)((ns - len) / 4096)) * 4096;
		for (size_t i = 0; i < len; i++)
			h.mem[data + i] = (uint8_t)rand();
		memset(h.mem + back, 0, len);
		int w = io(&h, &h.q[1], NH_OPC_WRITE, pos, data, len, list);
		int r = io(&h, &h.q[1], NH_OPC_READ, pos, back, len,
			   list + NH_PAGE);
		bool same = !memcmp(h.mem + data, h.mem + back, len);
		printf("%zu bytes at %llu: write %d read %d %s\n", len,
		       (unsigned long long)pos, w, r, same ? "same" : "DIFFER");
		if (!w && !r && same)
			ok++;
		else
			bad++;
	}
	printf("QNVME ok=%d bad=%d\n", ok, bad);
	nh_close(&h);
	uvfio_client_destroy(c);
	return bad != 0;
}
