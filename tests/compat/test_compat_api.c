/* SPDX-License-Identifier: MIT */
/*
 * The libvfio-user API's documented edge cases (docs/libvfio-user-compat.md):
 * a device written against <libvfio-user.h> on a thread of its own, in
 * non-blocking mode, driven over a real socket by uvfio's client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "../loops.h"

#include "libvfio-user.h"

#define BAR0_SIZE 4096u
#define WIN (64u << 10)
#define IOVA 0x100000ull
#define RW (UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)

struct dev {
	vfu_ctx_t *ctx;
	char dir[64], path[96];
	pthread_t thread;
	int stop;          /* atomics below: the device thread writes */
	int quiesce_busy;  /* quiesce callback answers EBUSY */
	int quiesce_now;   /* the device thread calls vfu_device_quiesced */
	int quiesces, registers, unregisters, resets, last_reset;
	int run_busy;      /* vfu_run_ctx said EBUSY */
	int lost;          /* vfu_run_ctx said ENOTCONN */
	int attaches;
	int reg_in_quiesced; /* dma_register ran inside vfu_device_quiesced */
	int in_quiesced;
	int masks;
	uint8_t bar0[BAR0_SIZE];
	int bar0_fail;
	struct uvfio_client *cli;
	struct tu_client_loop cl; /* serves the device's message DMA */
	int trigger_req;          /* vector + 1 for the device thread */
	int trigger_res;          /* its vfu_irq_trigger(): 1 + errno, or 1 */
	uint8_t *mem; /* the client's memory: a memfd of 3 windows */
	int memfd;
	char logbuf[256];
};

static int ld(int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void inc(int *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_ACQ_REL);
}

/* ---- the device ----------------------------------------------------------------- */

static ssize_t bar0_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off,
		       bool is_write)
{
	struct dev *d = vfu_get_private(ctx);
	if (ld(&d->bar0_fail)) {
		errno = EIO;
		return -1;
	}
	if (is_write)
		memcpy(d->bar0 + off, buf, count);
	else
		memcpy(buf, d->bar0 + off, count);
	return (ssize_t)count;
}

static int quiesce_cb(vfu_ctx_t *ctx)
{
	struct dev *d = vfu_get_private(ctx);
	inc(&d->quiesces);
	if (ld(&d->quiesce_busy)) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

static void dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	struct dev *d = vfu_get_private(ctx);
	(void)info;
	if (d->in_quiesced)
		inc(&d->reg_in_quiesced);
	inc(&d->registers);
}

static void dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	struct dev *d = vfu_get_private(ctx);
	(void)info;
	inc(&d->unregisters);
}

static int reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct dev *d = vfu_get_private(ctx);
	st(&d->last_reset, (int)type);
	inc(&d->resets);
	return 0;
}

static void irq_state(vfu_ctx_t *ctx, uint32_t start, uint32_t count,
		      bool mask)
{
	struct dev *d = vfu_get_private(ctx);
	(void)start, (void)count, (void)mask;
	inc(&d->masks);
}

static void log_fn(vfu_ctx_t *ctx, int level, const char *msg)
{
	struct dev *d = vfu_get_private(ctx);
	(void)level;
	snprintf(d->logbuf, sizeof(d->logbuf), "%s", msg);
}

/* The device's own loop: attach, run, attach again after a loss; a
 * quiesce it was asked to finish is finished here, on its thread. */
static void *device_thread(void *o)
{
	struct dev *d = o;
	struct pollfd p = { .fd = vfu_get_poll_fd(d->ctx), .events = POLLIN };
	bool attached = false;
	while (!ld(&d->stop)) {
		int t = ld(&d->trigger_req);
		if (t) {
			int r = vfu_irq_trigger(d->ctx, (uint32_t)t - 1);
			st(&d->trigger_req, 0);
			st(&d->trigger_res, r ? 1 + errno : 1);
		}
		if (ld(&d->quiesce_now)) {
			st(&d->quiesce_now, 0);
			d->in_quiesced = 1;
			assert_int_equal(vfu_device_quiesced(d->ctx, 0), 0);
			d->in_quiesced = 0;
		}
		int r;
		if (!attached) {
			r = vfu_attach_ctx(d->ctx);
			if (r == 0) {
				attached = true;
				inc(&d->attaches);
			} else {
				assert_int_equal(errno, EAGAIN);
			}
		} else {
			r = vfu_run_ctx(d->ctx);
			if (r < 0 && errno == ENOTCONN) {
				attached = false;
				inc(&d->lost);
			} else if (r < 0) {
				assert_int_equal(errno, EBUSY);
				st(&d->run_busy, 1);
			}
		}
		poll(&p, 1, 10);
	}
	return NULL;
}

static void setup_device(struct dev *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/uvfio-compat-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/sock", d->dir);
	d->ctx = vfu_create_ctx(VFU_TRANS_SOCK, d->path,
				LIBVFIO_USER_FLAG_ATTACH_NB, d,
				VFU_DEV_TYPE_PCI);
	assert_non_null(d->ctx);
	assert_int_equal(vfu_setup_log(d->ctx, log_fn, LOG_DEBUG), 0);
	assert_int_equal(vfu_pci_init(d->ctx, VFU_PCI_TYPE_EXPRESS,
				      PCI_HEADER_TYPE_NORMAL, 2),
			 0);
	vfu_pci_set_id(d->ctx, 0x1af4, 0x10f0, 0x1af4, 0x0001);
	vfu_pci_set_class(d->ctx, 0x05, 0x80, 0x00);
	assert_int_equal(vfu_setup_region(d->ctx, VFU_PCI_DEV_BAR0_REGION_IDX,
					  BAR0_SIZE, bar0_cb,
					  VFU_REGION_FLAG_RW |
						  VFU_REGION_FLAG_MEM,
					  NULL, 0, -1, 0),
			 0);
	assert_int_equal(vfu_setup_device_dma(d->ctx, dma_register,
					      dma_unregister),
			 0);
	assert_int_equal(vfu_setup_device_reset_cb(d->ctx, reset_cb), 0);
	vfu_setup_device_quiesce_cb(d->ctx, quiesce_cb);
	assert_int_equal(vfu_setup_device_nr_irqs(d->ctx, VFU_DEV_MSIX_IRQ, 4),
			 0);
	assert_int_equal(vfu_setup_irq_state_callback(d->ctx, VFU_DEV_MSIX_IRQ,
						      irq_state),
			 0);
}

static void connect_client(struct dev *d)
{
	assert_int_equal(uvfio_client_create(&d->cli), 0);
	uvfio_client_set_log(d->cli, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_connect(d->cli, d->path), 0);
	assert_int_equal(tu_client_loop_start(&d->cl, d->cli), 0);
}

static void disconnect_client(struct dev *d)
{
	tu_client_loop_stop(&d->cl);
	uvfio_client_destroy(d->cli);
	d->cli = NULL;
}

/* vfu_irq_trigger() on the device's thread (the API is single-threaded):
 * 0, or the errno it set. */
static int trigger(struct dev *d, uint32_t vec)
{
	st(&d->trigger_res, 0);
	st(&d->trigger_req, (int)vec + 1);
	for (int i = 0; i < 1000 && !ld(&d->trigger_res); i++)
		usleep(1000);
	int r = ld(&d->trigger_res);
	assert_true(r > 0);
	return r - 1;
}

static int setup(void **state)
{
	struct dev *d = calloc(1, sizeof(*d));
	setup_device(d);
	assert_int_equal(vfu_realize_ctx(d->ctx), 0);
	assert_int_equal(pthread_create(&d->thread, NULL, device_thread, d), 0);
	d->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(d->memfd >= 0);
	assert_int_equal(ftruncate(d->memfd, 3 * WIN), 0);
	d->mem = mmap(NULL, 3 * WIN, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->memfd, 0);
	assert_true(d->mem != MAP_FAILED);
	connect_client(d);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dev *d = *state;
	if (d->cli)
		disconnect_client(d);
	st(&d->stop, 1);
	pthread_join(d->thread, NULL);
	vfu_destroy_ctx(d->ctx);
	munmap(d->mem, 3 * WIN);
	close(d->memfd);
	rmdir(d->dir);
	free(d);
	return 0;
}

/* ---- before a client: arguments and order ------------------------------------ */

static void test_null_and_order(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(vfu_realize_ctx(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(vfu_run_ctx(NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_attach_ctx(NULL), -1);
	assert_int_equal(vfu_get_poll_fd(NULL), -1);
	assert_null(vfu_get_private(NULL));
	assert_int_equal(vfu_setup_region(NULL, 0, 4096, NULL,
					  VFU_REGION_FLAG_RW, NULL, 0, -1, 0),
			 -1);
	assert_int_equal(vfu_irq_trigger(NULL, 0), -1);
	vfu_destroy_ctx(NULL); /* harmless */
	assert_null(vfu_create_ctx(VFU_TRANS_MAX, "/tmp/x", 0, NULL,
				   VFU_DEV_TYPE_PCI));
	assert_int_equal(errno, EINVAL);

	struct dev d = { 0 };
	setup_device(&d);
	/* Attach and run need a realized device. */
	errno = 0;
	assert_int_equal(vfu_attach_ctx(d.ctx), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_run_ctx(d.ctx), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_log(d.ctx, log_fn, LOG_DEBUG + 1), -1);
	assert_int_equal(errno, EINVAL);

	/* Bad region indexes, flags and mmap areas. */
	int idxs[] = { -1, VFU_PCI_DEV_NUM_REGIONS, 1000 };
	for (unsigned i = 0; i < 3; i++) {
		errno = 0;
		assert_int_equal(vfu_setup_region(d.ctx, idxs[i], 4096, bar0_cb,
						  VFU_REGION_FLAG_RW, NULL, 0,
						  -1, 0),
				 -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(vfu_setup_region(d.ctx, 1, 4096, bar0_cb, 0x40,
					  NULL, 0, -1, 0),
			 -1);
	struct iovec area = { .iov_base = 0, .iov_len = 4096 };
	assert_int_equal(vfu_setup_region(d.ctx, 1, 4096, bar0_cb,
					  VFU_REGION_FLAG_RW, &area, 1, -1, 0),
			 -1);
	assert_int_equal(errno, EINVAL);
	/* A 64-bit BAR takes the odd index after it. */
	assert_int_equal(vfu_setup_region(d.ctx, 3, 4096, bar0_cb,
					  VFU_REGION_FLAG_RW |
						  VFU_REGION_FLAG_MEM |
						  VFU_REGION_FLAG_64_BITS,
					  NULL, 0, -1, 0),
			 -1);

	/* Migration callbacks of another version. */
	vfu_migration_callbacks_t mig = { .version = VFU_MIGR_CALLBACKS_VERS + 1 };
	assert_int_equal(vfu_setup_device_migration_callbacks(d.ctx, &mig), -1);
	assert_int_equal(errno, EINVAL);

	/* Realized: a NB attach with nobody there asks to retry. */
	assert_int_equal(vfu_realize_ctx(d.ctx), 0);
	assert_int_equal(vfu_realize_ctx(d.ctx), 0); /* idempotent */
	errno = 0;
	assert_int_equal(vfu_attach_ctx(d.ctx), -1);
	assert_int_equal(errno, EAGAIN);
	errno = 0;
	assert_int_equal(vfu_run_ctx(d.ctx), -1);
	assert_int_equal(errno, ENOTCONN);

	/* Setup after realize. */
	errno = 0;
	assert_int_equal(vfu_setup_region(d.ctx, 2, 4096, bar0_cb,
					  VFU_REGION_FLAG_RW, NULL, 0, -1, 0),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_setup_device_nr_irqs(d.ctx, VFU_DEV_MSI_IRQ, 1),
			 -1);
	assert_int_equal(vfu_setup_device_dma(d.ctx, NULL, NULL), -1);
	struct vsc v = { .hdr.id = PCI_CAP_ID_VNDR, .size = 8 };
	assert_int_equal(vfu_pci_add_capability(d.ctx, 0, 0, &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(d.logbuf, "realize"));
	vfu_destroy_ctx(d.ctx);
	rmdir(d.dir);
}

static void test_capabilities(void **state)
{
	(void)state;
	struct dev d = { 0 };
	setup_device(&d);
	struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM, .pc.vs = 3 };
	ssize_t pm_off = vfu_pci_add_capability(d.ctx, 0, 0, &pm);
	assert_true(pm_off >= 0x40);
	struct msixcap mx = { .hdr.id = PCI_CAP_ID_MSIX, .mxc.ts = 3,
			      .mtab.tbir = 0, .mtab.to = 0x2000 >> 3,
			      .mpba.pbir = 0, .mpba.pbao = 0x3000 >> 3 };
	ssize_t mx_off = vfu_pci_add_capability(d.ctx, 0x80, 0, &mx);
	assert_int_equal(mx_off, 0x80);
	/* Placed before what is there, or where it does not fit. */
	assert_int_equal(vfu_pci_add_capability(d.ctx, 0x60, 0, &pm), -1);
	uint8_t big[3 + 120] = { PCI_CAP_ID_VNDR, 0, sizeof(big) };
	errno = 0;
	assert_int_equal(vfu_pci_add_capability(d.ctx, 0xa0, 0, big), -1);
	assert_int_equal(errno, ENOSPC);
	uint8_t unknown[8] = { 0x42 };
	assert_int_equal(vfu_pci_add_capability(d.ctx, 0, 0, unknown), -1);
	struct pxcap px = { .hdr.id = PCI_CAP_ID_EXP, .pxcaps.ver = 2,
			    .pxdcap.flrc = 1 };
	ssize_t px_off = vfu_pci_add_capability(d.ctx, 0, 0, &px);
	assert_true(px_off > mx_off);
	struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN, .hdr.version = 1,
			      .sn_lo = 0x1234 };
	assert_int_equal(vfu_pci_add_capability(d.ctx, 0,
						VFU_CAP_FLAG_EXTENDED, &dsn),
			 0x100);

	assert_int_equal(vfu_pci_find_capability(d.ctx, false, PCI_CAP_ID_PM),
			 pm_off);
	assert_int_equal(vfu_pci_find_capability(d.ctx, false, PCI_CAP_ID_MSIX),
			 mx_off);
	assert_int_equal(vfu_pci_find_next_capability(d.ctx, false, pm_off,
						      PCI_CAP_ID_EXP),
			 px_off);
	errno = 0;
	assert_int_equal(vfu_pci_find_next_capability(d.ctx, false, px_off,
						      PCI_CAP_ID_PM),
			 0);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(vfu_pci_find_next_capability(d.ctx, false, 0x41,
						      PCI_CAP_ID_PM),
			 0);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vfu_pci_find_capability(d.ctx, true,
						 PCI_EXT_CAP_ID_DSN),
			 0x100);
	vfu_pci_config_space_t *cs = vfu_pci_get_config_space(d.ctx);
	assert_int_equal(cs->hdr.id.vid, 0x1af4);
	assert_int_equal(cs->hdr.cc.bcc, 0x05);
	assert_int_equal(cs->hdr.rid, 2);
	assert_int_equal(cs->hdr.cap, pm_off);
	vfu_destroy_ctx(d.ctx);
	rmdir(d.dir);
}

/* Two ioeventfds on BAR0, one with shadow memory: the client gets both
 * (the region then answers in libvfio-user's 48-byte layout), and a write
 * to the fd it received reaches the device's eventfd. */
static void test_ioeventfds(void **state)
{
	(void)state;
	struct dev d = { 0 };
	setup_device(&d);
	int e1 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int e2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int shadow = memfd_create("shadow", MFD_CLOEXEC);
	assert_int_equal(ftruncate(shadow, 4096), 0);
	assert_int_equal(vfu_create_ioeventfd(d.ctx, 0, e1, 0x100, 4, 0, 0, -1,
					      0),
			 0);
	assert_int_equal(vfu_create_ioeventfd(d.ctx, 0, e2, 0x200, 4, 1, 7,
					      shadow, 0x80),
			 0);
	assert_int_equal(vfu_create_ioeventfd(d.ctx, 0, e1, BAR0_SIZE, 4, 0, 0,
					      -1, 0),
			 -1);
	assert_int_equal(vfu_create_ioeventfd(d.ctx, 0, e1, 0, 4, 0x80, 0, -1,
					      0),
			 -1);
	assert_int_equal(vfu_realize_ctx(d.ctx), 0);
	assert_int_equal(pthread_create(&d.thread, NULL, device_thread, &d), 0);
	connect_client(&d);

	struct uvfio_client_io_fd io[4];
	assert_int_equal(uvfio_client_get_region_io_fds(d.cli, 0, io, 4), 2);
	assert_int_equal(io[0].offset, 0x100);
	assert_int_equal(io[0].type, UVFIO_IO_FD_IOEVENTFD);
	assert_int_equal(io[1].offset, 0x200);
	assert_int_equal(io[1].type, UVFIO_IO_FD_IOEVENTFD_SHADOW);
	assert_true(io[1].flags & UVFIO_IOEVENTFD_DATAMATCH);
	assert_int_equal(io[1].datamatch, 7);
	uint64_t one = 1, got = 0;
	assert_int_equal(write(io[1].fd, &one, 8), 8);
	assert_int_equal(read(e2, &got, 8), 8);
	assert_int_equal(got, 1);
	assert_int_equal(read(e1, &got, 8), -1);
	close(io[0].fd);
	close(io[1].fd);

	disconnect_client(&d);
	st(&d.stop, 1);
	pthread_join(d.thread, NULL);
	vfu_destroy_ctx(d.ctx);
	close(e1);
	close(e2);
	close(shadow);
	rmdir(d.dir);
}

/* ---- with a client ---------------------------------------------------------------- */

static void test_region_access(void **state)
{
	struct dev *d = *state;
	uint32_t v = 0xfeedf00d, r = 0;
	assert_int_equal(uvfio_client_region_write(d->cli, 0, 8, &v, 4), 0);
	assert_int_equal(uvfio_client_region_read(d->cli, 0, 8, &r, 4), 0);
	assert_int_equal(r, v);
	/* The callback's -1/errno reaches the client. */
	st(&d->bar0_fail, 1);
	assert_int_equal(uvfio_client_region_read(d->cli, 0, 8, &r, 4), -EIO);
	st(&d->bar0_fail, 0);
	uint8_t cfg[4];
	assert_int_equal(uvfio_client_region_read(d->cli, UVFIO_PCI_CONFIG, 0,
						  cfg, 4),
			 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 0x1af4);
}

/* Two adjacent fd-backed windows: an sgl across the boundary needs two
 * entries, and both map to the client's memory. */
static void test_sgl_across_windows(void **state)
{
	struct dev *d = *state;
	assert_int_equal(uvfio_client_dma_map(d->cli, IOVA, WIN, RW, d->mem,
					      d->memfd, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(d->cli, IOVA + WIN, WIN, RW,
					      d->mem + WIN, d->memfd, WIN),
			 0);
	assert_int_equal(ld(&d->registers), 2);

	uint8_t sgbuf[4][64];
	assert_true(dma_sg_size() <= sizeof(sgbuf[0]));
	dma_sg_t *sg = (dma_sg_t *)sgbuf;
	vfu_dma_addr_t a = (vfu_dma_addr_t)(uintptr_t)(IOVA + WIN - 4096);
	errno = 1;
	assert_int_equal(vfu_addr_to_sgl(d->ctx, a, 8192, sg, 1,
					 PROT_READ | PROT_WRITE),
			 -3);
	assert_int_equal(errno, 0);
	assert_int_equal(vfu_addr_to_sgl(d->ctx, a, 8192, sg, 2,
					 PROT_READ | PROT_WRITE),
			 2);
	dma_sg_t *sg1 = (dma_sg_t *)((char *)sg + dma_sg_size());
	assert_true(vfu_sg_is_mappable(d->ctx, sg));
	assert_true(vfu_sg_is_mappable(d->ctx, sg1));
	struct iovec iov[2];
	assert_int_equal(vfu_sgl_get(d->ctx, sg, iov, 2, 0), 0);
	assert_int_equal(iov[0].iov_len, 4096);
	assert_int_equal(iov[1].iov_len, 4096);
	memset(iov[0].iov_base, 0xa1, 4096);
	memset(iov[1].iov_base, 0xb2, 4096);
	vfu_sgl_put(d->ctx, sg, iov, 2);
	assert_int_equal(d->mem[WIN - 1], 0xa1);
	assert_int_equal(d->mem[WIN], 0xb2);
	/* Outside every window; and flags sgl_get does not know. */
	errno = 0;
	assert_int_equal(vfu_addr_to_sgl(d->ctx, (vfu_dma_addr_t)0x10, 16, sg,
					 1, PROT_READ),
			 -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(vfu_addr_to_sgl(d->ctx, a, 16, sg, 1, PROT_READ), 1);
	assert_int_equal(vfu_sgl_get(d->ctx, sg, iov, 1, 0x80), -1);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(uvfio_client_dma_unmap(d->cli, IOVA, WIN), 0);
	assert_int_equal(ld(&d->unregisters), 1);
	errno = 0;
	assert_int_equal(vfu_addr_to_sgl(d->ctx, a, 8192, sg, 2, PROT_READ),
			 -1);
	assert_int_equal(errno, ENOENT);
}

/* A window without an fd: described, not mappable, reached by messages. */
static void test_sgl_message_only(void **state)
{
	struct dev *d = *state;
	uint64_t iova = IOVA + 2 * WIN;
	assert_int_equal(uvfio_client_dma_map(d->cli, iova, WIN, RW,
					      d->mem + 2 * WIN, -1, 0),
			 0);
	uint8_t sgbuf[64];
	dma_sg_t *sg = (dma_sg_t *)sgbuf;
	assert_int_equal(vfu_addr_to_sgl(d->ctx, (vfu_dma_addr_t)(uintptr_t)iova,
					 256, sg, 1, PROT_READ | PROT_WRITE),
			 1);
	assert_false(vfu_sg_is_mappable(d->ctx, sg));
	struct iovec iov;
	errno = 0;
	assert_int_equal(vfu_sgl_get(d->ctx, sg, &iov, 1, 0), -1);
	assert_int_equal(errno, EFAULT);
	/* Direct access only: refused too; by message: works. */
	char buf[256];
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(vfu_sgl_write(d->ctx, sg, 1, buf,
				       VFU_SGL_DIRECT_ACCESS),
			 -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(vfu_sgl_write(d->ctx, sg, 1, buf, 0), 0);
	assert_int_equal(d->mem[2 * WIN + 255], 0x3c);
	d->mem[2 * WIN] = 0x77;
	assert_int_equal(vfu_sgl_read(d->ctx, sg, 1, buf, 0), 0);
	assert_int_equal((uint8_t)buf[0], 0x77);
}

/* quiesce says EBUSY: the DMA_MAP waits, vfu_run_ctx says EBUSY, and
 * vfu_device_quiesced() runs the held command (dma_register inside it). */
static void test_quiesce_busy(void **state)
{
	struct dev *d = *state;
	st(&d->quiesce_busy, 1);
	int q0 = ld(&d->quiesces);
	assert_int_equal(uvfio_client_dma_map_async(d->cli, IOVA, WIN, RW,
						    d->mem, d->memfd, 0, NULL,
						    NULL),
			 0);
	for (int i = 0; i < 500 && !ld(&d->run_busy); i++)
		usleep(2000);
	assert_int_equal(ld(&d->run_busy), 1);
	assert_int_equal(ld(&d->quiesces), q0 + 1);
	assert_int_equal(ld(&d->registers), 0);
	st(&d->quiesce_busy, 0);
	st(&d->quiesce_now, 1);
	for (int i = 0; i < 500 && !ld(&d->registers); i++)
		usleep(2000);
	assert_int_equal(ld(&d->registers), 1);
	assert_int_equal(ld(&d->reg_in_quiesced), 1);
	/* And the device runs normally again. */
	uint32_t r;
	assert_int_equal(uvfio_client_region_read(d->cli, 0, 0, &r, 4), 0);
}

static void test_irqs(void **state)
{
	struct dev *d = *state;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* Nothing wired yet: nothing to signal. */
	assert_int_equal(trigger(d, 1), ENOENT);
	assert_int_equal(uvfio_client_irq_set_eventfds(d->cli,
						       UVFIO_PCI_MSIX_IRQ, 1,
						       1, &efd),
			 0);
	/* SET_IRQS was answered, so the device has seen it. */
	assert_int_equal(trigger(d, 1), 0);
	uint64_t n = 0;
	assert_int_equal(read(efd, &n, 8), 8);
	assert_int_equal(n, 1);
	assert_int_equal(trigger(d, 4), EINVAL);
	assert_int_equal(uvfio_client_irq_mask(d->cli, UVFIO_PCI_MSIX_IRQ, 1, 1,
					       true),
			 0);
	assert_true(ld(&d->masks) >= 1);
	close(efd);
}

/* DEVICE_RESET, then the client goes: LOST_CONN, ENOTCONN from run, and
 * a new client attaches. */
static void test_reset_reconnect(void **state)
{
	struct dev *d = *state;
	assert_int_equal(uvfio_client_reset(d->cli), 0);
	assert_int_equal(ld(&d->last_reset), VFU_RESET_DEVICE);
	int resets = ld(&d->resets);
	disconnect_client(d);
	for (int i = 0; i < 500 && !ld(&d->lost); i++)
		usleep(2000);
	assert_int_equal(ld(&d->lost), 1);
	assert_int_equal(ld(&d->resets), resets + 1);
	assert_int_equal(ld(&d->last_reset), VFU_RESET_LOST_CONN);
	connect_client(d);
	for (int i = 0; i < 500 && ld(&d->attaches) < 2; i++)
		usleep(2000);
	assert_int_equal(ld(&d->attaches), 2);
	uint32_t r;
	assert_int_equal(uvfio_client_region_read(d->cli, 0, 0, &r, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_and_order),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_ioeventfds),
		cmocka_unit_test_setup_teardown(test_region_access, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sgl_across_windows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sgl_message_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_busy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_reconnect, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
