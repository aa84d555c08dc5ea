/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme: an NVMe 1.4 controller over vfio-user, one namespace of
 * 512-byte blocks backed by a file or block device (docs/nvme.md).
 *
 *   uvfio-nvme --socket PATH --disk FILE [--create-size SIZE]
 *              [--queues N] [--readonly] [-v]
 *
 * PCI: class 010802, PCIe endpoint, PM, MSI-X with one vector for the
 * admin queue and one per I/O queue.  BAR0 (64-bit, 16 KiB): registers at
 * 0, doorbells at 0x1000, MSI-X table at 0x2000, PBA at 0x3000.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "ctrl.h"
#include "nvme.h"

#define BAR0_SIZE 0x4000u
#define MSIX_TABLE 0x2000u
#define MSIX_PBA 0x3000u

struct options {
	const char *disk;
	uint64_t create_size;
	unsigned queues;
	bool readonly;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-nvme --socket PATH --disk FILE [--create-size SIZE]\n"
		"                  [--queues N] [--readonly] [-v]\n"
		"\n"
		"Serve an NVMe 1.4 controller with one namespace over vfio-user\n"
		"until SIGTERM or SIGINT.\n"
		"  --socket PATH       UNIX socket to listen on\n"
		"  --fd N              use this listening or connected socket instead\n"
		"  --disk FILE         file or block device holding the namespace\n"
		"  --create-size SIZE  create FILE, or grow it, to SIZE bytes\n"
		"                      (suffixes K, M, G)\n"
		"  --queues N          I/O queue pairs offered, 1-%u (default %u)\n"
		"  --readonly          the namespace is write protected\n"
		"  --busy-poll USEC    see uvfio_server_set_busy_poll\n"
		"  -v                  log connections and protocol errors\n",
		NVME_MAX_IOQ, NVME_MAX_IOQ);
	app_server_usage_env(f);
}

static int parse_size(const char *arg, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 0);
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (errno || *end || !v || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int option(void *opaque, int val, const char *arg)
{
	struct options *o = opaque;
	char *end;

	switch (val) {
	case 'd':
		o->disk = arg;
		return 0;
	case 'c':
		if (parse_size(arg, &o->create_size)) {
			fprintf(stderr, "uvfio-nvme: --create-size wants a size, "
					"got '%s'\n", arg);
			return 2;
		}
		return 0;
	case 'q':
		o->queues = (unsigned)strtoul(arg, &end, 10);
		if (*end || o->queues < 1 || o->queues > NVME_MAX_IOQ) {
			fprintf(stderr, "uvfio-nvme: --queues wants 1 to %u, "
					"got '%s'\n", NVME_MAX_IOQ, arg);
			return 2;
		}
		return 0;
	case 'r':
		o->readonly = true;
		return 0;
	default:
		return 2;
	}
}

/* Open the backing store; its size in bytes into *size. */
static int open_disk(const struct options *o, uint64_t *size)
{
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	if (o->create_size)
		flags |= O_CREAT;
	int fd = open(o->disk, flags, 0600);
	if (fd < 0 || fstat(fd, &st))
		goto fail;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			goto fail;
		return fd;
	}
	if (o->create_size && (uint64_t)st.st_size < o->create_size) {
		if (ftruncate(fd, (off_t)o->create_size))
			goto fail;
		st.st_size = (off_t)o->create_size;
	}
	*size = (uint64_t)st.st_size;
	return fd;
fail:
	fprintf(stderr, "uvfio-nvme: %s: %s\n", o->disk, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Serial number and NGUID: stable for one disk path, different across. */
static void identity(struct nvme_ctrl *n, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull, g;
	for (const char *p = path; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	g = (h ^ 0x5555) * 0x100000001b3ull;
	snprintf(n->sn, sizeof(n->sn), "UVFIO%08X", (unsigned)(h >> 32));
	memcpy(n->nguid, &h, 8);
	memcpy(n->nguid + 8, &g, 8);
}

static int nvme_reset(void *opaque, enum uvfio_reset_reason why)
{
	/* A reset (FLR) or a client gone: the queues referred to memory of
	 * that client, so nothing of them may survive. */
	(void)why;
	nvme_power_on(opaque);
	return 0;
}

static const struct uvfio_device_ops nvme_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = nvme_reset,
};

static int describe(struct nvme_ctrl *n)
{
	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0xd3a1,
		.subsys_vendor = 0x1234, .subsys = 0x0001,
		.class_code = 0x010802, /* mass storage, NVM, NVMe */
	};
	const struct uvfio_region_desc bar0 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR0_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			 UVFIO_REGION_64BIT,
		.fn = nvme_bar0,
		.opaque = n,
	};
	int r;
	if ((r = uvfio_server_set_pci_ids(n->srv, &ids)) ||
	    (r = uvfio_server_add_region(n->srv, 0, &bar0)) ||
	    (r = uvfio_server_pci_add_pm(n->srv)) < 0 ||
	    (r = uvfio_server_pci_add_pcie(n->srv, 0)) < 0 ||
	    (r = uvfio_server_pci_add_msix(n->srv, n->max_ioq + 1, 0, MSIX_TABLE,
					   0, MSIX_PBA)) < 0 ||
	    (r = uvfio_server_set_ops(n->srv, &nvme_ops, n)))
		return r;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "create-size", required_argument, NULL, 'c' },
		{ "queues", required_argument, NULL, 'q' },
		{ "readonly", no_argument, NULL, 'r' },
		{ 0 },
	};
	struct options o = { .queues = NVME_MAX_IOQ };
	struct app_server a = {
		.prog = "uvfio-nvme", .usage = usage,
		.flags = UVFIO_SERVER_PCIE,
		.options = opts, .option = option, .opaque = &o,
	};
	static struct nvme_ctrl n; /* large (PRP page table): not on the stack */
	uint64_t size;
	int r;

	app_server_start(&a, argc, argv);
	if (!o.disk) {
		fprintf(stderr, "uvfio-nvme: --disk FILE is needed\n");
		usage(stderr);
		uvfio_server_destroy(a.srv);
		return 2;
	}
	if (o.readonly && o.create_size) {
		/* Creating or growing the file would be a write. */
		fprintf(stderr, "uvfio-nvme: --create-size and --readonly "
				"exclude each other\n");
		uvfio_server_destroy(a.srv);
		return 2;
	}
	n.fd = open_disk(&o, &size);
	if (n.fd < 0) {
		uvfio_server_destroy(a.srv);
		return 1;
	}
	n.nlb = size >> NVME_LBA_SHIFT;
	if (!n.nlb) {
		fprintf(stderr, "uvfio-nvme: %s: smaller than one block\n", o.disk);
		uvfio_server_destroy(a.srv);
		return 1;
	}
	n.srv = a.srv;
	n.readonly = o.readonly;
	n.max_ioq = o.queues;
	identity(&n, o.disk);
	nvme_power_on(&n);
	if ((r = describe(&n)))
		return app_server_fail(&a, "device setup", r);
	r = app_server_run(&a);
	nvme_jobs_free(&n); /* the server is gone: no completion is left */
	close(n.fd);
	return r;
}
