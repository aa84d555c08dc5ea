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
#include "server/priv.h" /* srv_copy_struct */

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
	.struct_size = sizeof(struct uvfio_device_ops),
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
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = 8192,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_MEM,
		.sparse = &half,
		.nr_sparse = 1,
		.type = VENDOR_TYPE,
		.subtype = 7,
	};
	/* Copied: the caller's struct may go at once. */
	struct uvfio_region_desc tmp = r9;
	assert_int_equal(uvfio_server_add_region(d->srv, 9, &tmp), 0);
	memset(&tmp, 0xa5, sizeof(tmp));
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
	/* Copied too: the callbacks the tests see come from the copy. */
	struct uvfio_device_ops tmp_ops = ops;
	assert_int_equal(uvfio_server_set_ops(d->srv, &tmp_ops, d), 0);
	memset(&tmp_ops, 0xa5, sizeof(tmp_ops));
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

/* ---- structs that grow (server.h) ------------------------------------------- */

/* A struct as two versions of a header would declare it. */
struct grow_v1 {
	size_t struct_size;
	uint32_t a, b;
};
struct grow_v2 {
	size_t struct_size;
	uint32_t a, b;
	uint64_t c;
};

static void test_copy_struct(void **state)
{
	(void)state;
	const size_t min1 = SRV_FIELD_END(struct grow_v1, b);
	struct grow_v2 ours;

	/* An older caller: what it does not know reads as zero. */
	struct grow_v1 old = { .struct_size = sizeof(old), .a = 1, .b = 2 };
	memset(&ours, 0xa5, sizeof(ours));
	assert_int_equal(srv_copy_struct(&ours, sizeof(ours), &old, min1), 0);
	assert_int_equal(ours.a, 1);
	assert_int_equal(ours.b, 2);
	assert_int_equal(ours.c, 0);

	/* A newer caller: accepted while what we do not know is zero. */
	struct grow_v2 nw = { .struct_size = sizeof(nw), .a = 3, .b = 4 };
	struct grow_v1 ours1;
	assert_int_equal(srv_copy_struct(&ours1, sizeof(ours1), &nw, min1), 0);
	assert_int_equal(ours1.a, 3);
	assert_int_equal(ours1.b, 4);
	nw.c = 1;
	assert_int_equal(srv_copy_struct(&ours1, sizeof(ours1), &nw, min1),
			 -E2BIG);

	/* Smaller than the first version, or absurd. */
	old.struct_size = 0;
	assert_int_equal(srv_copy_struct(&ours, sizeof(ours), &old, min1),
			 -EINVAL);
	old.struct_size = min1 - 1;
	assert_int_equal(srv_copy_struct(&ours, sizeof(ours), &old, min1),
			 -EINVAL);
	old.struct_size = UVFIO_STRUCT_SIZE_MAX + 1;
	assert_int_equal(srv_copy_struct(&ours, sizeof(ours), &old, min1),
			 -EINVAL);
}

/* The rule on each public struct, and the quirks setting's values. */
static void test_struct_size(void **state)
{
	(void)state;
	int sv[2];
	struct uvfio_server *s;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_server_create_fd(&s, sv[0], 0), 0);
	uvfio_server_set_log(s, NULL, NULL, -1);

	struct uvfio_device_ops o = ops;
	o.struct_size = 0; /* forgotten */
	assert_int_equal(uvfio_server_set_ops(s, &o, NULL), -EINVAL);
	/* The first version ended with irq_mask: a program built then is
	 * accepted, and one byte short of it is not. */
	size_t v1 = offsetof(struct uvfio_device_ops, irq_mask) +
		    sizeof(o.irq_mask);
	o.struct_size = v1;
	assert_int_equal(uvfio_server_set_ops(s, &o, NULL), 0);
	o.struct_size = v1 - 1;
	assert_int_equal(uvfio_server_set_ops(s, &o, NULL), -EINVAL);
	o.struct_size = UVFIO_STRUCT_SIZE_MAX + sizeof(o);
	assert_int_equal(uvfio_server_set_ops(s, &o, NULL), -EINVAL);
	struct {
		struct uvfio_device_ops o;
		uint64_t future[2];
	} big = { .o = ops };
	big.o.struct_size = sizeof(big);
	assert_int_equal(uvfio_server_set_ops(s, &big.o, NULL), 0);
	big.future[1] = 1;
	assert_int_equal(uvfio_server_set_ops(s, &big.o, NULL), -E2BIG);
	assert_int_equal(uvfio_server_set_ops(s, NULL, NULL), 0);

	struct uvfio_region_desc r = {
		.size = 4096, .flags = UVFIO_REGION_READ,
	};
	assert_int_equal(uvfio_server_add_region(s, 0, &r), -EINVAL);
	struct {
		struct uvfio_region_desc r;
		uint64_t future; /* no padding the test would have to zero */
	} bigr = { .r = r };
	bigr.r.struct_size = sizeof(bigr);
	assert_int_equal(uvfio_server_add_region(s, 0, &bigr.r), 0);
	bigr.future = 7;
	assert_int_equal(uvfio_server_add_region(s, 1, &bigr.r), -E2BIG);

	assert_int_equal(uvfio_server_set_client_quirks(s, UVFIO_QUIRKS_QEMU), 0);
	assert_int_equal(uvfio_server_set_client_quirks(s, UVFIO_QUIRKS_NONE), 0);
	assert_int_equal(uvfio_server_set_client_quirks(s, UVFIO_QUIRKS_AUTO), 0);
	assert_int_equal(uvfio_server_set_client_quirks(
				 s, (enum uvfio_client_quirks)3),
			 -EINVAL);
	uvfio_server_destroy(s);
	close(sv[1]);
}

/* ---- ioeventfds: a limit per region ------------------------------------------ */

static void *run_server(void *arg)
{
	assert_int_equal(uvfio_server_run(arg), 0);
	return NULL;
}

/*
 * Up to UVFIO_MAX_REGION_IOEVENTFDS per region, whatever the others hold;
 * a client gets a region's eventfds while they fit its max_msg_fds (16
 * for uvfio's client), and E2BIG beyond.
 */
static void test_ioeventfd_limits(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-iofd-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	struct uvfio_server *s;
	assert_int_equal(uvfio_server_create(&s, path, 0), 0);
	uvfio_server_set_log(s, NULL, NULL, -1);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(uvfio_server_setup_region(s, i * 2, 4096,
							   UVFIO_REGION_WRITE,
							   NULL, NULL),
				 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	unsigned n[3] = { 16, 16, UVFIO_MAX_REGION_IOEVENTFDS };
	for (unsigned r = 0; r < 3; r++)
		for (unsigned i = 0; i < n[r]; i++)
			assert_int_equal(uvfio_server_add_ioeventfd(s, r * 2,
								    i * 8, 4,
								    efd, false,
								    0),
					 0);
	assert_int_equal(uvfio_server_add_ioeventfd(s, 4, 0, 4, efd, false, 0),
			 -ENOSPC);
	close(efd);
	pthread_t t;
	pthread_create(&t, NULL, run_server, s);

	struct uvfio_client *c;
	struct uvfio_client_io_fd out[16];
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, -1);
	assert_int_equal(uvfio_client_connect(c, path), 0);
	for (unsigned r = 0; r < 2; r++) {
		assert_int_equal(uvfio_client_get_region_io_fds(c, r * 2, out, 16),
				 16);
		for (unsigned i = 0; i < 16; i++) {
			assert_int_equal(out[i].offset, i * 8);
			close(out[i].fd);
		}
	}
	assert_int_equal(uvfio_client_get_region_io_fds(c, 4, out, 16), -E2BIG);
	uvfio_client_destroy(c);

	uvfio_server_stop(s);
	pthread_join(t, NULL);
	uvfio_server_destroy(s);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_region),
		cmocka_unit_test(test_config_hook_and_ops),
		cmocka_unit_test(test_io_fds),
		cmocka_unit_test(test_copy_struct),
		cmocka_unit_test(test_struct_size),
		cmocka_unit_test(test_ioeventfd_limits),
	};
	return cmocka_run_group_tests_name("device", tests, setup, teardown);
}
