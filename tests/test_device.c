/* SPDX-License-Identifier: MIT */
/*
 * Server features a device author reaches for beyond BARs: the device
 * callbacks (ops), the config-space hook, device-specific regions with a
 * TYPE capability and sparse areas, ioeventfds (GET_REGION_IO_FDS).
 * Server in a thread of this process, so the callbacks can be observed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#define VENDOR_TYPE (0x80000000u | 0x1234)

struct dev {
	struct uvfio_server *srv;
	pthread_t thread;
	char dir[64], path[128];
	int iofd;
	/* what the callbacks saw (written by the server thread, read after
	 * the client's synchronous calls returned) */
	int connected, disconnected, resets_client, resets_lost;
	uint64_t map_iova, map_size, unmap_iova;
	unsigned maps, unmaps, masks;
	uint32_t map_prot;
	bool last_masked;
	uint32_t cfg_written;
};

static int on_reset(void *o, enum uvfio_reset_reason why)
{
	struct dev *d = o;
	if (why == UVFIO_RESET_CLIENT)
		d->resets_client++;
	else
		d->resets_lost++;
	return 0;
}

static void on_connected(void *o)
{
	((struct dev *)o)->connected++;
}

static void on_disconnected(void *o)
{
	((struct dev *)o)->disconnected++;
}

static void on_map(void *o, uint64_t iova, uint64_t size, uint32_t prot)
{
	struct dev *d = o;
	d->map_prot = prot;
	d->maps++;
	d->map_iova = iova;
	d->map_size = size;
}

static void on_unmap(void *o, uint64_t iova, uint64_t size)
{
	struct dev *d = o;
	(void)size;
	d->unmaps++;
	d->unmap_iova = iova;
}

static void on_mask(void *o, unsigned index, uint32_t start, uint32_t count,
		    bool masked)
{
	struct dev *d = o;
	(void)index;
	(void)start;
	(void)count;
	d->masks++;
	d->last_masked = masked;
}

static const struct uvfio_device_ops ops = {
	.reset = on_reset,
	.connected = on_connected,
	.disconnected = on_disconnected,
	.dma_map = on_map,
	.dma_unmap = on_unmap,
	.irq_mask = on_mask,
};

/* Device-specific config: 0x40 is a scratch dword the device watches,
 * 0x44 reads as a live value the device computes. */
static int config_hook(void *o, uint32_t off, void *buf, uint32_t count,
		       bool is_write)
{
	struct dev *d = o;
	if (is_write && off == 0x40 && count == 4)
		memcpy(&d->cfg_written, buf, 4);
	if (!is_write && off == 0x44 && count == 4) {
		uint32_t v = 0xabcd0000u | (d->cfg_written & 0xffff);
		memcpy(buf, &v, 4);
	}
	if (is_write && off == 0x48)
		return -EPERM; /* the device refuses this one */
	return 0;
}

static void *loop(void *arg)
{
	struct dev *d = arg;
	assert_int_equal(uvfio_server_run(d->srv), 0);
	return NULL;
}

static int setup(void **state)
{
	struct dev *d = calloc(1, sizeof(*d));
	strcpy(d->dir, "/tmp/uvfio-dev-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/d.sock", d->dir);
	assert_int_equal(uvfio_server_create(&d->srv, d->path, 0), 0);
	uvfio_server_set_log(d->srv, NULL, NULL, UVFIO_LOG_ERR);
	const struct uvfio_pci_ids ids = { .vendor = 0x1234, .device = 0xabcd };
	assert_int_equal(uvfio_server_set_pci_ids(d->srv, &ids), 0);
	assert_int_equal(uvfio_server_setup_region(d->srv, 0, 4096,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   NULL, NULL),
			 0);
	/* A device-specific region: memory, half of it mappable. */
	const struct uvfio_sparse_area half = { 4096, 4096 };
	const struct uvfio_region_desc r9 = {
		.size = 8192,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_MEM,
		.sparse = &half,
		.nr_sparse = 1,
		.type = VENDOR_TYPE,
		.subtype = 7,
	};
	assert_int_equal(uvfio_server_add_region(d->srv, 9, &r9), 0);
	/* Bad descriptions are refused. */
	const struct uvfio_sparse_area odd = { 100, 4096 };
	struct uvfio_region_desc bad = r9;
	bad.sparse = &odd;
	assert_int_equal(uvfio_server_add_region(d->srv, 10, &bad), -EINVAL);
	bad = r9;
	bad.flags |= UVFIO_REGION_IO;
	assert_int_equal(uvfio_server_add_region(d->srv, 10, &bad), -EINVAL);
	assert_int_equal(uvfio_server_setup_region(d->srv, 1, 3000,
						   UVFIO_REGION_READ, NULL, NULL),
			 -EINVAL); /* BARs are powers of two */

	d->iofd = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 0x100, 4, d->iofd,
						    true, 0x5a),
			 0);
	assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 4094, 4, d->iofd,
						    false, 0),
			 -EINVAL);
	uvfio_server_set_ops(d->srv, &ops, d);
	uvfio_server_set_config_fn(d->srv, config_hook, d);
	pthread_create(&d->thread, NULL, loop, d);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dev *d = *state;
	uvfio_server_stop(d->srv);
	pthread_join(d->thread, NULL);
	uvfio_server_destroy(d->srv);
	close(d->iofd);
	rmdir(d->dir);
	free(d);
	return 0;
}

static void test_type_region(void **state)
{
	struct dev *d = *state;
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	assert_int_equal(uvfio_client_connect(c, d->path), 0);
	struct uvfio_device_info di;
	assert_int_equal(uvfio_client_get_device_info(c, &di), 0);
	assert_int_equal(di.num_regions, 10);
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_get_region_info(c, 9, &ri), 0);
	assert_int_equal(ri.size, 8192);
	assert_true(ri.flags & UVFIO_REGION_MMAP);
	assert_true(ri.flags & UVFIO_REGION_CAPS);
	const struct uvfio_region_caps *caps = uvfio_client_region_caps(c, 9);
	assert_non_null(caps);
	assert_true(caps->has_type);
	assert_int_equal(caps->type, VENDOR_TYPE);
	assert_int_equal(caps->subtype, 7);
	assert_true(caps->has_sparse);
	assert_int_equal(caps->nr_areas, 1);
	struct uvfio_sparse_area a;
	memcpy(&a, caps->areas, sizeof(a));
	assert_int_equal(a.offset, 4096);
	assert_int_equal(a.size, 4096);

	/* The mappable half through the mapping, the other half through
	 * messages, the device's memory behind both. */
	void *p;
	assert_int_equal(uvfio_client_region_mmap(c, 9, &p), 0);
	uint64_t v = 0x0123456789abcdefull, r = 0;
	assert_int_equal(uvfio_client_region_write(c, 9, 4096 + 8, &v, 8), 0);
	assert_memory_equal((uint8_t *)p + 4096 + 8, &v, 8);
	assert_memory_equal((uint8_t *)uvfio_server_region_mem(d->srv, 9) +
				    4096 + 8,
			    &v, 8);
	assert_int_equal(uvfio_client_region_write(c, 9, 16, &v, 8), 0);
	assert_int_equal(uvfio_client_region_read(c, 9, 16, &r, 8), 0);
	assert_int_equal(r, v);
	uvfio_client_destroy(c);
}

static void test_config_hook_and_ops(void **state)
{
	struct dev *d = *state;
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, -1);
	int before = d->connected;
	assert_int_equal(uvfio_client_connect(c, d->path), 0);
	uint32_t w = 0x1234beef, rd = 0;
	assert_int_equal(uvfio_client_region_write(c, 7, 0x40, &w, 4), 0);
	assert_int_equal(d->connected, before + 1);
	assert_int_equal(d->cfg_written, w);
	assert_int_equal(uvfio_client_region_read(c, 7, 0x44, &rd, 4), 0);
	assert_int_equal(rd, 0xabcdbeef);
	assert_int_equal(uvfio_client_region_write(c, 7, 0x48, &w, 4), -EPERM);

	static uint8_t mem[8192];
	assert_int_equal(uvfio_client_dma_map(c, 0x7000000, sizeof(mem),
					      UVFIO_DMA_MAP_READ, mem, -1, 0),
			 0);
	assert_int_equal(d->maps, 1);
	assert_int_equal(d->map_iova, 0x7000000);
	assert_int_equal(d->map_size, sizeof(mem));
	/* A message-only window: no MMAP bit for the device. */
	assert_int_equal(d->map_prot, UVFIO_DMA_MAP_READ);
	int mfd = memfd_create("w", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, 8192), 0);
	assert_int_equal(uvfio_client_dma_map(c, 0x9000000, 8192,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      NULL, mfd, 0),
			 0);
	close(mfd);
	assert_int_equal(d->map_prot, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE |
					      UVFIO_DMA_MAP_MMAP);
	/* Nothing pending: no timeout to wait for. */
	assert_int_equal(uvfio_client_next_timeout(c), -1);
	assert_int_equal(uvfio_client_dma_unmap(c, 0x7000000, sizeof(mem)), 0);
	assert_int_equal(d->unmaps, 1);
	assert_int_equal(d->unmap_iova, 0x7000000);
	assert_int_equal(uvfio_client_dma_unmap(c, 0x9000000, 8192), 0);

	/* No INTx on this device (no pin): masking its index is refused. */
	assert_int_equal(uvfio_client_irq_mask(c, UVFIO_PCI_INTX_IRQ, 0, 1, true),
			 -EINVAL);
	assert_int_equal(d->masks, 0);

	assert_int_equal(uvfio_client_reset(c), 0);
	assert_int_equal(d->resets_client, 1);
	int lost = d->resets_lost, gone = d->disconnected;
	uvfio_client_destroy(c);
	for (int i = 0; i < 500 && d->disconnected == gone; i++)
		usleep(2000);
	assert_int_equal(d->disconnected, gone + 1);
	assert_int_equal(d->resets_lost, lost + 1);
}

/* Raw GET_REGION_IO_FDS: truncated first, then the entry and its fd. */
static void test_io_fds(void **state)
{
	struct dev *d = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, d->path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	uint8_t msg[512], rep[512];
	ssize_t n = uvfio_build_version(msg, sizeof(msg), 1, false, 0, 2, "{}");
	assert_int_equal(write(fd, msg, (size_t)n), n);
	assert_true(read(fd, rep, sizeof(rep)) > 16);

	n = uvfio_build_get_region_io_fds(msg, sizeof(msg), 2, 0, 16);
	assert_int_equal(write(fd, msg, (size_t)n), n);
	assert_int_equal(read(fd, rep, sizeof(rep)), 32);
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_IO_FDS,
				  .msg_id = 2, .argsz = 16, .index = 0,
				  .max_fds = 8 };
	struct uvfio_reply_view v;
	assert_int_equal(uvfio_parse_reply(rep, 32, 0, &e, &v), 0);
	assert_int_equal(v.u.io_fds.hdr.count, 1);
	assert_int_equal(v.u.io_fds.hdr.argsz, 16 + 40);

	n = uvfio_build_get_region_io_fds(msg, sizeof(msg), 3, 0, 56);
	assert_int_equal(write(fd, msg, (size_t)n), n);
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = { rep, sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	ssize_t got = recvmsg(fd, &mh, 0);
	assert_int_equal(got, 16 + 16 + 40);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	int efd;
	memcpy(&efd, CMSG_DATA(cm), sizeof(int));
	e.msg_id = 3;
	e.argsz = 56;
	assert_int_equal(uvfio_parse_reply(rep, (size_t)got, 1, &e, &v), 0);
	assert_int_equal(v.u.io_fds.stride, 40);
	struct uvfio_io_fd_entry ent;
	memcpy(&ent, v.u.io_fds.entries, sizeof(ent));
	assert_int_equal(ent.offset, 0x100);
	assert_int_equal(ent.size, 4);
	assert_int_equal(ent.fd_index, 0);
	assert_int_equal(ent.type, UVFIO_IO_FD_IOEVENTFD);
	assert_int_equal(ent.flags, UVFIO_IOEVENTFD_DATAMATCH);
	assert_int_equal(ent.datamatch, 0x5a);
	/* The very eventfd the device registered. */
	uint64_t one = 1, val = 0;
	assert_int_equal(write(efd, &one, 8), 8);
	assert_int_equal(read(d->iofd, &val, 8), 8);
	assert_int_equal(val, 1);
	close(efd);
	/* No ioeventfds on another region: count 0, no fds. */
	n = uvfio_build_get_region_io_fds(msg, sizeof(msg), 4, 7, 256);
	assert_int_equal(write(fd, msg, (size_t)n), n);
	assert_int_equal(read(fd, rep, sizeof(rep)), 32);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_region),
		cmocka_unit_test(test_config_hook_and_ops),
		cmocka_unit_test(test_io_fds),
	};
	return cmocka_run_group_tests_name("device", tests, setup, teardown);
}
