/* SPDX-License-Identifier: MIT */
/*
 * Client and server talking over real UNIX sockets: the server in a thread
 * of this process or as the uvfio-skeleton program, the client either the
 * library's or a raw socket that sends exactly the bytes a test wants.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

#define BIG_SIZE (4u << 20) /* larger than one max_data_xfer_size chunk */

static const char *skeleton_bin;

struct srv_ctx {
	struct uvfio_server *srv;
	pthread_t thread;
	char dir[64];
	char path[128];
	uint8_t bar0[4096];
	uint8_t *big;
	unsigned big_calls;
	uint8_t dmabuf[100000];
	int dma_result;
};

/* BAR5: writing an IOVA makes the device read 100000 bytes from it with
 * synchronous message DMA, inside this callback. */
static ssize_t dma_trigger(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	struct srv_ctx *x = opaque;
	uint64_t iova = 0;
	(void)index;
	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (off != 0 || count != 8)
		return -EINVAL;
	memcpy(&iova, buf, 8);
	x->dma_result = uvfio_server_dma_read(x->srv, iova, x->dmabuf,
					      sizeof(x->dmabuf));
	return (ssize_t)count;
}

static ssize_t mem_access(void *opaque, unsigned index, uint64_t off,
			  void *buf, size_t count, bool is_write)
{
	struct srv_ctx *x = opaque;
	uint8_t *mem = index == 0 ? x->bar0 : x->big;
	if (index == 2) {
		x->big_calls++;
		/* A device error travels back as the reply's errno. */
		if (off == 0 && count == 1 && is_write && *(uint8_t *)buf == 0xee)
			return -EIO;
	}
	if (is_write)
		memcpy(mem + off, buf, count);
	else
		memcpy(buf, mem + off, count);
	return (ssize_t)count;
}

static void *srv_thread(void *arg)
{
	struct srv_ctx *x = arg;
	int r = uvfio_server_run(x->srv);
	assert_int_equal(r, 0);
	return NULL;
}

static int srv_setup(void **state)
{
	struct srv_ctx *x = calloc(1, sizeof(*x));
	strcpy(x->dir, "/tmp/uvfio-test-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/dev.sock", x->dir);
	assert_int_equal(uvfio_server_create(&x->srv, x->path, 0), 0);
	uvfio_server_set_log(x->srv, NULL, NULL, UVFIO_LOG_ERR);
	const struct uvfio_pci_ids ids = { .vendor = 0x1234, .device = 0x5678,
					   .irq_pin = 1 };
	assert_int_equal(uvfio_server_set_pci_ids(x->srv, &ids), 0);
	x->big = malloc(BIG_SIZE);
	for (unsigned i = 0; i < BIG_SIZE; i++)
		x->big[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(uvfio_server_setup_region(x->srv, 0, sizeof(x->bar0),
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   mem_access, x),
			 0);
	assert_int_equal(uvfio_server_setup_region(x->srv, 2, BIG_SIZE,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   mem_access, x),
			 0);
	assert_int_equal(uvfio_server_setup_region(x->srv, 5, 16,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   dma_trigger, x),
			 0);
	/* A read-only region. */
	assert_int_equal(uvfio_server_setup_region(x->srv, 4, 64,
						   UVFIO_REGION_READ, NULL, NULL),
			 0);
	assert_int_equal(uvfio_server_setup_region(x->srv, 7, 256,
						   UVFIO_REGION_READ, NULL, NULL),
			 -EINVAL);
	pthread_create(&x->thread, NULL, srv_thread, x);
	*state = x;
	return 0;
}

static int srv_teardown(void **state)
{
	struct srv_ctx *x = *state;
	uvfio_server_stop(x->srv);
	pthread_join(x->thread, NULL);
	uvfio_server_destroy(x->srv);
	struct stat st;
	assert_int_equal(stat(x->path, &st), -1); /* socket file removed */
	rmdir(x->dir);
	free(x->big);
	free(x);
	return 0;
}

/* The server notices a hang-up asynchronously; wait until it has. */
static void wait_idle(struct srv_ctx *x)
{
	for (int i = 0; i < 500 && uvfio_server_connected(x->srv); i++)
		usleep(2000);
	usleep(2000);
}

static struct uvfio_client *connect_client(const char *path)
{
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_connect(c, path), 0);
	return c;
}

/* ---- library client against library server ----------------------------------- */

static void test_negotiate_and_enumerate(void **state)
{
	struct srv_ctx *x = *state;
	struct uvfio_client *c = connect_client(x->path);

	assert_int_equal(uvfio_client_version_minor(c), UVFIO_VERSION_MINOR);
	assert_true(uvfio_client_has_twin_socket(c));
	const struct uvfio_caps *caps = uvfio_client_server_caps(c);
	assert_non_null(caps);
	assert_int_equal(caps->max_msg_fds, 16);
	assert_int_equal(caps->max_data_xfer_size, 1u << 20);
	assert_int_equal(caps->max_dma_maps, 65535);
	assert_int_equal(caps->pgsizes, 4096);
	assert_true(caps->present & UVFIO_CAP_HAS_MAX_MSG_FDS);

	struct uvfio_device_info di;
	assert_int_equal(uvfio_client_get_device_info(c, &di), 0);
	assert_int_equal(di.argsz, 16);
	assert_int_equal(di.flags, UVFIO_DEV_PCI | UVFIO_DEV_RESET);
	assert_int_equal(di.num_regions, 9);
	assert_int_equal(di.num_irqs, 5);

	static const uint64_t sizes[9] = { 4096, 0, BIG_SIZE, 0, 64, 16, 0, 256, 0 };
	for (unsigned i = 0; i < 9; i++) {
		struct uvfio_region_info ri;
		assert_int_equal(uvfio_client_get_region_info(c, i, &ri), 0);
		assert_int_equal(ri.index, i);
		assert_int_equal(ri.size, sizes[i]);
		assert_int_equal(ri.argsz, 32);
		if (i == 4)
			assert_int_equal(ri.flags, UVFIO_REGION_READ);
		else if (sizes[i])
			assert_int_equal(ri.flags,
					 UVFIO_REGION_READ | UVFIO_REGION_WRITE);
		else
			assert_int_equal(ri.flags, 0);
	}
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_get_region_info(c, 9, &ri), -EINVAL);

	struct uvfio_irq_info ii;
	assert_int_equal(uvfio_client_get_irq_info(c, UVFIO_PCI_INTX_IRQ, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ii.flags & UVFIO_IRQ_INFO_EVENTFD, UVFIO_IRQ_INFO_EVENTFD);
	assert_int_equal(uvfio_client_get_irq_info(c, 5, &ii), -EINVAL);
	uvfio_client_destroy(c);
}

static void test_config_and_bar(void **state)
{
	struct srv_ctx *x = *state;
	struct uvfio_client *c = connect_client(x->path);
	uint8_t cfg[256];

	assert_int_equal(uvfio_client_region_read(c, 7, 0, cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg[0], 0x34);
	assert_int_equal(cfg[3], 0x56);

	/* Vendor ID is read-only, the command register is not. */
	uint16_t v = 0xbeef, cmd = 0x0006, rd;
	assert_int_equal(uvfio_client_region_write(c, 7, 0, &v, 2), 0);
	assert_int_equal(uvfio_client_region_write(c, 7, 4, &cmd, 2), 0);
	assert_int_equal(uvfio_client_region_read(c, 7, 0, &rd, 2), 0);
	assert_int_equal(rd, 0x1234);
	assert_int_equal(uvfio_client_region_read(c, 7, 4, &rd, 2), 0);
	assert_int_equal(rd, 0x0006);

	/* Beyond the end of a region, in any width. */
	uint32_t w = 0;
	assert_int_equal(uvfio_client_region_read(c, 7, 254, &w, 4), -EINVAL);
	assert_int_equal(uvfio_client_region_read(c, 0, UINT64_MAX - 1, &w, 4),
			 -EOVERFLOW);
	/* Permissions are enforced. */
	assert_int_equal(uvfio_client_region_write(c, 4, 0, &w, 4), -EPERM);
	assert_int_equal(uvfio_client_region_read(c, 4, 0, &w, 4), 0);
	assert_int_equal(w, 0);
	/* Region without size. */
	assert_int_equal(uvfio_client_region_read(c, 1, 0, &w, 4), -EINVAL);

	uint64_t q = 0x0123456789abcdefull, qr = 0;
	assert_int_equal(uvfio_client_region_write(c, 0, 8, &q, 8), 0);
	assert_int_equal(uvfio_client_region_read(c, 0, 8, &qr, 8), 0);
	assert_int_equal(qr, q);
	assert_memory_equal(x->bar0 + 8, &q, 8);

	/* The device's error comes back as the request's error. */
	uint8_t bad = 0xee;
	assert_int_equal(uvfio_client_region_write(c, 2, 0, &bad, 1), -EIO);
	/* ... and the connection is still fine. */
	assert_int_equal(uvfio_client_reset(c), 0);
	uvfio_client_destroy(c);
}

static void test_large_transfers(void **state)
{
	struct srv_ctx *x = *state;
	struct uvfio_client *c = connect_client(x->path);
	uint8_t *buf = malloc(BIG_SIZE);

	x->big_calls = 0;
	assert_int_equal(uvfio_client_region_read(c, 2, 0, buf, BIG_SIZE), 0);
	assert_memory_equal(buf, x->big, BIG_SIZE);
	/* Chunked at 1 MiB: four accesses. */
	assert_int_equal(x->big_calls, 4);

	for (unsigned i = 0; i < BIG_SIZE; i++)
		buf[i] = (uint8_t)(i ^ (i >> 9));
	assert_int_equal(uvfio_client_region_write(c, 2, 0, buf, BIG_SIZE), 0);
	assert_memory_equal(buf, x->big, BIG_SIZE);

	/* Odd sizes and offsets. */
	assert_int_equal(uvfio_client_region_read(c, 2, 12345, buf, 1000001), 0);
	assert_memory_equal(buf, x->big + 12345, 1000001);
	free(buf);
	uvfio_client_destroy(c);
}

static void test_reconnect(void **state)
{
	struct srv_ctx *x = *state;
	for (int i = 0; i < 5; i++) {
		struct uvfio_client *c = connect_client(x->path);
		uint64_t q = i;
		assert_int_equal(uvfio_client_region_write(c, 0, 0, &q, 8), 0);
		uvfio_client_destroy(c);
	}
	/* Device state survives the client. */
	struct uvfio_client *c = connect_client(x->path);
	uint64_t q;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &q, 8), 0);
	assert_int_equal(q, 4);

	/* A second client waits until the first leaves. */
	struct uvfio_client *c2;
	assert_int_equal(uvfio_client_create(&c2), 0);
	uvfio_client_set_log(c2, NULL, NULL, -1);
	uvfio_client_set_timeout(c2, 300);
	assert_int_equal(uvfio_client_connect(c2, x->path), -ETIMEDOUT);
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &q, 8), 0);
	uvfio_client_destroy(c);
	uvfio_client_set_timeout(c2, 5000);
	assert_int_equal(uvfio_client_connect(c2, x->path), 0);
	uvfio_client_destroy(c2);
}

/* ---- raw bytes against the server --------------------------------------------- */

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void raw_send(int fd, const void *msg, size_t len, int sfd)
{
	assert_int_equal(tu_send(fd, msg, len, &sfd, sfd >= 0 ? 1 : 0), 0);
}

/* Read one message; returns its size, 0 on EOF. */
static size_t raw_recv(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	while (got < UVFIO_HDR_SIZE) {
		ssize_t n = read(fd, buf + got, UVFIO_HDR_SIZE - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	struct uvfio_hdr h;
	memcpy(&h, buf, sizeof(h));
	assert_true(h.msg_size >= UVFIO_HDR_SIZE && h.msg_size <= cap);
	while (got < h.msg_size) {
		ssize_t n = read(fd, buf + got, h.msg_size - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	return got;
}

static const char qemu_json[] =
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, "
	"\"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, "
	"\"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}";

static void raw_negotiate(int fd, const char *json, uint16_t minor)
{
	uint8_t msg[512], rep[512];
	ssize_t n = uvfio_build_version(msg, sizeof(msg), 1, false, 0, minor, json);
	raw_send(fd, msg, (size_t)n, -1);
	size_t r = raw_recv(fd, rep, sizeof(rep));
	struct uvfio_expect e = { .cmd = UVFIO_CMD_VERSION, .msg_id = 1 };
	struct uvfio_reply_view v;
	assert_int_equal(uvfio_parse_reply(rep, r, 0, &e, &v), 0);
	assert_int_equal(v.error, 0);
}

static void expect_error(int fd, uint16_t id, uint16_t cmd, int err)
{
	uint8_t rep[256];
	size_t r = raw_recv(fd, rep, sizeof(rep));
	assert_int_equal(r, UVFIO_HDR_SIZE);
	struct uvfio_hdr h;
	memcpy(&h, rep, sizeof(h));
	assert_int_equal(h.msg_id, id);
	assert_int_equal(h.cmd, cmd);
	assert_int_equal(h.flags, UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR);
	assert_int_equal(h.error_no, err);
}

static void test_qemu_version(void **state)
{
	struct srv_ctx *x = *state;
	int fd = raw_connect(x->path);
	uint8_t msg[512], rep[512];
	ssize_t n = uvfio_build_version(msg, sizeof(msg), 7, false, 0, 0, qemu_json);
	/* QEMU sizes its reply buffer from its own request. */
	assert_int_equal(n, 214);
	raw_send(fd, msg, (size_t)n, -1);
	size_t r = raw_recv(fd, rep, sizeof(rep));
	assert_true(r <= 214);
	struct uvfio_expect e = { .cmd = UVFIO_CMD_VERSION, .msg_id = 7 };
	struct uvfio_reply_view v;
	assert_int_equal(uvfio_parse_reply(rep, r, 0, &e, &v), 0);
	assert_int_equal(v.u.version.major, 0);
	assert_int_equal(v.u.version.minor, 0);
	assert_non_null(v.u.version.json);
	assert_non_null(strstr(v.u.version.json, "\"max_msg_fds\":16"));
	/* Not offered by QEMU, so not in the reply. */
	assert_null(strstr(v.u.version.json, "twin_socket"));
	/* Offered, so QEMU batches posted writes into WRITE_MULTI. */
	assert_non_null(strstr(v.u.version.json, "\"write_multiple\":true"));
	close(fd);
}

static void test_bad_clients(void **state)
{
	struct srv_ctx *x = *state;
	uint8_t msg[512];
	ssize_t n;

	/* First command not VERSION: error reply, then the server hangs up. */
	int fd = raw_connect(x->path);
	n = uvfio_build_device_get_info(msg, sizeof(msg), 3);
	raw_send(fd, msg, (size_t)n, -1);
	expect_error(fd, 3, UVFIO_CMD_DEVICE_GET_INFO, EINVAL);
	assert_int_equal(raw_recv(fd, msg, sizeof(msg)), 0);
	close(fd);

	/* Malformed VERSION JSON: refused and disconnected. */
	fd = raw_connect(x->path);
	n = uvfio_build_version(msg, sizeof(msg), 4, false, 0, 0,
				"{\"capabilities\": {\"max_msg_fds\": \"many\"}}");
	raw_send(fd, msg, (size_t)n, -1);
	expect_error(fd, 4, UVFIO_CMD_VERSION, EINVAL);
	assert_int_equal(raw_recv(fd, msg, sizeof(msg)), 0);
	close(fd);

	/* Major version 1: refused. */
	fd = raw_connect(x->path);
	n = uvfio_build_version(msg, sizeof(msg), 5, false, 1, 0, "{}");
	raw_send(fd, msg, (size_t)n, -1);
	expect_error(fd, 5, UVFIO_CMD_VERSION, ENOTSUP);
	close(fd);

	/* After negotiation, bad commands get error replies and the
	 * connection goes on. */
	wait_idle(x);
	int before = tu_fd_count(0);
	fd = raw_connect(x->path);
	raw_negotiate(fd, qemu_json, 0);
	struct uvfio_hdr h = { .msg_id = 9, .cmd = 99, .msg_size = 16 };
	raw_send(fd, &h, sizeof(h), -1);
	expect_error(fd, 9, 99, ENOSYS);
	n = uvfio_build_version(msg, sizeof(msg), 10, false, 0, 0, "{}");
	raw_send(fd, msg, (size_t)n, -1);
	expect_error(fd, 10, UVFIO_CMD_VERSION, EINVAL);
	/* An fd where none is expected is refused and closed by the server
	 * (this process's fd count proves it: server and test share it). */
	int efd = eventfd(0, 0);
	n = uvfio_build_region_read(msg, sizeof(msg), 11, 7, 0, 4);
	raw_send(fd, msg, (size_t)n, efd);
	expect_error(fd, 11, UVFIO_CMD_REGION_READ, EINVAL);
	close(efd);
	/* A posted write that fails gets no reply at all: the next reply
	 * is for the next command. */
	uint32_t w = 1;
	n = uvfio_build_region_write(msg, sizeof(msg), 12, true, 7, 300, &w, 4);
	raw_send(fd, msg, (size_t)n, -1);
	n = uvfio_build_region_read(msg, sizeof(msg), 13, 7, 0, 4);
	raw_send(fd, msg, (size_t)n, -1);
	size_t r = raw_recv(fd, msg, sizeof(msg));
	assert_int_equal(r, 36);
	memcpy(&h, msg, sizeof(h));
	assert_int_equal(h.msg_id, 13);
	assert_int_equal(h.flags, UVFIO_F_TYPE_REPLY);
	/* A REGION_WRITE whose count disagrees with its size. */
	n = uvfio_build_region_write(msg, sizeof(msg), 14, false, 7, 0x40, &w, 4);
	struct uvfio_region_rw rw;
	memcpy(&rw, msg + 16, sizeof(rw));
	rw.count = 8;
	memcpy(msg + 16, &rw, sizeof(rw));
	raw_send(fd, msg, (size_t)n, -1);
	expect_error(fd, 14, UVFIO_CMD_REGION_WRITE, EINVAL);
	/* A header announcing a 1 GiB message: the server says E2BIG and
	 * hangs up at once instead of waiting for (or allocating) the body. */
	h = (struct uvfio_hdr){ .msg_id = 15, .cmd = UVFIO_CMD_REGION_WRITE,
				.msg_size = 1u << 30 };
	raw_send(fd, &h, sizeof(h), -1);
	expect_error(fd, 15, UVFIO_CMD_REGION_WRITE, E2BIG);
	assert_int_equal(raw_recv(fd, msg, sizeof(msg)), 0);
	close(fd);

	/* Let the server notice, then check it holds no fd of ours. */
	struct uvfio_client *c = connect_client(x->path);
	uvfio_client_destroy(c);
	c = connect_client(x->path);
	uvfio_client_destroy(c);
	wait_idle(x);
	assert_int_equal(tu_fd_count(0), before);
}

/* ---- a fake server against the client ----------------------------------------- */

struct fake {
	int fd;
	int mode;
};

static void *fake_server(void *arg)
{
	struct fake *f = arg;
	uint8_t buf[1024];
	size_t n = raw_recv(f->fd, buf, sizeof(buf));
	if (!n)
		return NULL;
	struct uvfio_hdr h;
	memcpy(&h, buf, sizeof(h));
	ssize_t m = 0;
	switch (f->mode) {
	case 0: /* major 1 */
		m = uvfio_build_version(buf, sizeof(buf), h.msg_id, true, 1, 0,
					"{}");
		break;
	case 1: /* twin socket claimed, no fd */
		m = uvfio_build_version(buf, sizeof(buf), h.msg_id, true, 0, 2,
					"{\"capabilities\":{\"twin_socket\":"
					"{\"supported\":true,\"fd_index\":0}}}");
		break;
	case 2: /* wrong id */
		m = uvfio_build_version(buf, sizeof(buf), h.msg_id + 1, true, 0,
					0, "{}");
		break;
	case 3: /* never answers */
		(void)raw_recv(f->fd, buf, sizeof(buf));
		return NULL;
	case 4: /* minor newer than the request */
		m = uvfio_build_version(buf, sizeof(buf), h.msg_id, true, 0, 9,
					"{}");
		break;
	}
	if (write(f->fd, buf, (size_t)m) != m)
		return NULL;
	(void)raw_recv(f->fd, buf, sizeof(buf)); /* until the client hangs up */
	return NULL;
}

static void test_client_refuses_bad_servers(void **state)
{
	(void)state;
	static const int expect[] = { -EPROTO, -EPROTO, -EPROTO, -ETIMEDOUT,
				      -EPROTO };
	for (int mode = 0; mode < 5; mode++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		struct fake f = { sv[1], mode };
		pthread_t t;
		pthread_create(&t, NULL, fake_server, &f);
		struct uvfio_client *c;
		assert_int_equal(uvfio_client_create(&c), 0);
		uvfio_client_set_log(c, NULL, NULL, -1);
		uvfio_client_set_timeout(c, 200);
		assert_int_equal(uvfio_client_adopt_fd(c, sv[0]), expect[mode]);
		struct uvfio_device_info di;
		assert_int_equal(uvfio_client_get_device_info(c, &di), -ENOTCONN);
		uvfio_client_destroy(c); /* closes sv[0]: the fake sees EOF */
		pthread_join(t, NULL);
		close(sv[1]);
	}
}

/* ---- the sample program as a real process ---------------------------------------- */

static pid_t spawn(const char *arg)
{
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(skeleton_bin, skeleton_bin, arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_skeleton_process(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-proc-XXXXXX", path[128], arg[160];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(arg, sizeof(arg), "--socket-path=%s", path);
	pid_t pid = spawn(arg);
	assert_int_equal(tu_wait_server(pid, path, 10000), 0);

	struct uvfio_client *c = connect_client(path);
	uint8_t cfg[4];
	assert_int_equal(uvfio_client_region_read(c, 7, 0, cfg, 4), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 0x1234);
	uint32_t w = 0xa5a5a5a5, rd = 0;
	assert_int_equal(uvfio_client_region_write(c, 0, 100, &w, 4), 0);
	assert_int_equal(uvfio_client_region_read(c, 0, 100, &rd, 4), 0);
	assert_int_equal(rd, w);
	uvfio_client_destroy(c);

	int status;
	assert_int_equal(tu_reap(pid, SIGTERM, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), -1); /* cleaned up on SIGTERM */
	rmdir(dir);
}

static void test_skeleton_fd(void **state)
{
	(void)state;
	int sv[2];
	char arg[32];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(arg, sizeof(arg), "--fd=%d", sv[1]);
	pid_t pid = spawn(arg);
	close(sv[1]);
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	assert_int_equal(uvfio_client_adopt_fd(c, sv[0]), 0);
	struct uvfio_device_info di;
	assert_int_equal(uvfio_client_get_device_info(c, &di), 0);
	assert_int_equal(di.num_regions, 9);
	uvfio_client_destroy(c);
	int status;
	assert_int_equal(tu_reap(pid, SIGTERM, &status), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Nobody listening / no socket: clear errors. */
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, -1);
	assert_int_equal(uvfio_client_connect(c, "/nonexistent/uvfio.sock"),
			 -ENOENT);
	uvfio_client_destroy(c);
}

/* A client that pipelines far more reply data than the server may queue
 * (64 x 1 MiB against an 8 MiB send limit) and reads only afterwards: the
 * server must pause, not drop it or grow without bound. */
static void test_backpressure(void **state)
{
	struct srv_ctx *x = *state;
	enum { N = 64, CHUNK = 1u << 20 };
	int fd = raw_connect(x->path);
	raw_negotiate(fd, qemu_json, 0);

	uint8_t *msgs = malloc(N * 32);
	for (unsigned i = 0; i < N; i++)
		uvfio_build_region_read(msgs + i * 32, 32, (uint16_t)(100 + i), 2,
					(i % 4) * CHUNK, CHUNK);
	raw_send(fd, msgs, N * 32, -1);
	free(msgs);

	uint8_t *rep = malloc(CHUNK + 64);
	for (unsigned i = 0; i < N; i++) {
		size_t r = raw_recv(fd, rep, CHUNK + 64);
		assert_int_equal(r, 32 + CHUNK);
		struct uvfio_hdr h;
		memcpy(&h, rep, sizeof(h));
		assert_int_equal(h.msg_id, 100 + i);
		assert_int_equal(h.flags, UVFIO_F_TYPE_REPLY);
		assert_memory_equal(rep + 32, x->big + (i % 4) * CHUNK, CHUNK);
	}
	free(rep);
	close(fd);
	wait_idle(x);
}

/*
 * Synchronous message DMA inside a region callback, without a twin socket:
 * the server must keep reading while it waits, take its DMA replies, and
 * keep the client's other commands for after the callback, in order.
 */
static void test_sync_dma_in_callback(void **state)
{
	struct srv_ctx *x = *state;
	uint8_t msg[256], *guest = malloc(1 << 20), *rep = malloc(1 << 20);
	const uint64_t base = 0x40000000;
	ssize_t n;

	for (unsigned i = 0; i < (1u << 20); i++)
		guest[i] = (uint8_t)(i * 13 + 5);
	int fd = raw_connect(x->path);
	raw_negotiate(fd, "{\"capabilities\":{\"max_msg_fds\":8}}", 2);
	n = uvfio_build_dma_map(msg, sizeof(msg), 2,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				base, 1 << 20);
	raw_send(fd, msg, (size_t)n, -1);
	assert_int_equal(raw_recv(fd, rep, 1 << 20), 16);

	/* The trigger write; once the server asks for DMA (so it is waiting
	 * inside the callback), a posted write and a read, which it must
	 * keep for later. */
	uint64_t iova = base + 1000;
	n = uvfio_build_region_write(msg, sizeof(msg), 3, false, 5, 0, &iova, 8);
	raw_send(fd, msg, (size_t)n, -1);
	uint32_t val = 0xcafef00d;

	unsigned dma_msgs = 0, replies = 0;
	while (replies < 2) {
		size_t r = raw_recv(fd, rep, 1 << 20);
		assert_true(r >= 16);
		struct uvfio_hdr h;
		memcpy(&h, rep, sizeof(h));
		if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND) {
			struct uvfio_cmd_view v;
			struct uvfio_limits lim = { 1 << 20, 0, false };
			assert_int_equal(uvfio_parse_command(rep, r, 0,
							     UVFIO_ROLE_CLIENT,
							     &lim, &v), 0);
			assert_int_equal(v.hdr.cmd, UVFIO_CMD_DMA_READ);
			uint64_t a = v.u.dma_rw.addr;
			uint32_t cnt = v.u.dma_rw.count;
			assert_true(a >= base && a + cnt <= base + (1 << 20));
			n = uvfio_build_dma_read_reply(rep,
						       1 << 20, h.msg_id, a,
						       guest + (a - base), cnt);
			if (dma_msgs++ == 0) {
				uint8_t m2[64];
				ssize_t k = uvfio_build_region_write(m2, sizeof(m2), 4,
								     true, 0, 64,
								     &val, 4);
				raw_send(fd, m2, (size_t)k, -1);
				k = uvfio_build_region_read(m2, sizeof(m2), 5, 0, 64,
							    4);
				raw_send(fd, m2, (size_t)k, -1);
			}
			raw_send(fd, rep, (size_t)n, -1);
			continue;
		}
		/* Replies in command order: the trigger, then the read. */
		assert_int_equal(h.msg_id, replies == 0 ? 3 : 5);
		assert_int_equal(h.flags, UVFIO_F_TYPE_REPLY);
		if (replies == 1) {
			uint32_t got;
			memcpy(&got, rep + 32, 4);
			assert_int_equal(got, val); /* the posted write came first */
		}
		replies++;
	}
	assert_true(dma_msgs >= 1);
	assert_int_equal(x->dma_result, 0);
	assert_memory_equal(x->dmabuf, guest + 1000, sizeof(x->dmabuf));
	free(guest);
	free(rep);
	close(fd);
	wait_idle(x);
}

/* A device thread doing message DMA and raising INTx while the server runs
 * in its own thread and this one plays the client. */
struct devthread {
	struct srv_ctx *x;
	uint64_t base;
	uint8_t buf[300000];
	int rd, wr;
	int done_fd;
};

static void *device_thread(void *arg)
{
	struct devthread *d = arg;
	uint64_t one = 1;
	d->rd = uvfio_server_dma_read(d->x->srv, d->base + 7, d->buf,
				      sizeof(d->buf));
	for (unsigned i = 0; i < sizeof(d->buf); i++)
		d->buf[i] ^= 0xff;
	d->wr = uvfio_server_dma_write(d->x->srv, d->base + 7, d->buf,
				       sizeof(d->buf));
	assert_int_equal(write(d->done_fd, &one, 8), 8);
	return NULL;
}

static void test_other_threads(void **state)
{
	struct srv_ctx *x = *state;
	struct devthread *d = calloc(1, sizeof(*d));
	uint8_t *guest = malloc(1 << 20), *rep = malloc((1 << 20) + 64);
	uint8_t msg[256];
	const uint64_t base = 0x80000000;
	ssize_t n;

	for (unsigned i = 0; i < (1u << 20); i++)
		guest[i] = (uint8_t)(i * 7 + 1);
	int fd = raw_connect(x->path);
	raw_negotiate(fd, "{}", 2);
	n = uvfio_build_dma_map(msg, sizeof(msg), 2,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				base, 1 << 20);
	raw_send(fd, msg, (size_t)n, -1);
	assert_int_equal(raw_recv(fd, rep, 64), 16);

	d->x = x;
	d->base = base;
	d->done_fd = eventfd(0, EFD_NONBLOCK);
	pthread_t t;
	pthread_create(&t, NULL, device_thread, d);
	/* Serve DMA until the device thread says it is done. */
	for (;;) {
		struct pollfd pf[2] = { { fd, POLLIN, 0 },
					{ d->done_fd, POLLIN, 0 } };
		assert_true(poll(pf, 2, 5000) > 0);
		if (pf[1].revents)
			break;
		size_t r = raw_recv(fd, rep, (1 << 20) + 64);
		struct uvfio_cmd_view v;
		struct uvfio_limits lim = { 1 << 20, 0, false };
		assert_int_equal(uvfio_parse_command(rep, r, 0, UVFIO_ROLE_CLIENT,
						     &lim, &v), 0);
		uint64_t a = v.u.dma_rw.addr;
		uint32_t cnt = v.u.dma_rw.count;
		assert_true(a >= base && a + cnt <= base + (1 << 20));
		if (v.hdr.cmd == UVFIO_CMD_DMA_READ) {
			n = uvfio_build_dma_read_reply(rep, (1 << 20) + 64,
						       v.hdr.msg_id, a,
						       guest + (a - base), cnt);
		} else {
			memcpy(guest + (a - base), v.u.dma_rw.data, cnt);
			n = uvfio_build_dma_write_reply(rep, 64, v.hdr.msg_id, a,
							cnt);
		}
		raw_send(fd, rep, (size_t)n, -1);
	}
	pthread_join(t, NULL);
	assert_int_equal(d->rd, 0);
	assert_int_equal(d->wr, 0);
	for (unsigned i = 0; i < sizeof(d->buf); i++)
		assert_int_equal(guest[7 + i], (uint8_t)~(uint8_t)((7 + i) * 7 + 1));

	/* INTx from this thread: edge, then automasked until UNMASK. */
	int efd = eventfd(0, EFD_NONBLOCK);
	n = uvfio_build_set_irqs(msg, sizeof(msg), 3,
				 UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_INTX_IRQ, 0, 1, NULL);
	raw_send(fd, msg, (size_t)n, efd);
	assert_int_equal(raw_recv(fd, rep, 64), 16);
	uint64_t cnt;
	assert_int_equal(uvfio_server_irq_trigger(x->srv, UVFIO_PCI_INTX_IRQ, 0), 0);
	assert_int_equal(read(efd, &cnt, 8), 8);
	assert_int_equal(cnt, 1);
	/* Masked: remembered, and sent when UNMASK comes. */
	assert_int_equal(uvfio_server_irq_trigger(x->srv, UVFIO_PCI_INTX_IRQ, 0),
			 -EAGAIN);
	assert_int_equal(read(efd, &cnt, 8), -1);
	n = uvfio_build_set_irqs(msg, sizeof(msg), 4,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_UNMASK,
				 UVFIO_PCI_INTX_IRQ, 0, 1, NULL);
	raw_send(fd, msg, (size_t)n, -1);
	assert_int_equal(raw_recv(fd, rep, 64), 16);
	assert_int_equal(read(efd, &cnt, 8), 8);
	/* Unmasked with nothing remembered: the next one goes at once. */
	n = uvfio_build_set_irqs(msg, sizeof(msg), 4,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_UNMASK,
				 UVFIO_PCI_INTX_IRQ, 0, 1, NULL);
	raw_send(fd, msg, (size_t)n, -1);
	assert_int_equal(raw_recv(fd, rep, 64), 16);
	assert_int_equal(read(efd, &cnt, 8), -1);
	assert_int_equal(uvfio_server_irq_trigger(x->srv, UVFIO_PCI_INTX_IRQ, 0), 0);
	assert_int_equal(read(efd, &cnt, 8), 8);
	/* INTx disabled in the command register: nothing is signalled. */
	uint16_t cmdreg = 1u << 10;
	n = uvfio_build_region_write(msg, sizeof(msg), 5, false, 7, 4, &cmdreg, 2);
	raw_send(fd, msg, (size_t)n, -1);
	assert_int_equal(raw_recv(fd, rep, 64), 32);
	n = uvfio_build_set_irqs(msg, sizeof(msg), 6,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_UNMASK,
				 UVFIO_PCI_INTX_IRQ, 0, 1, NULL);
	raw_send(fd, msg, (size_t)n, -1);
	assert_int_equal(raw_recv(fd, rep, 64), 16);
	assert_int_equal(uvfio_server_irq_trigger(x->srv, UVFIO_PCI_INTX_IRQ, 0),
			 -EAGAIN);
	assert_int_equal(read(efd, &cnt, 8), -1);
	close(efd);
	close(d->done_fd);
	close(fd);
	wait_idle(x);
	/* No client: nothing to signal. */
	assert_int_equal(uvfio_server_irq_trigger(x->srv, UVFIO_PCI_INTX_IRQ, 0),
			 -ENOTCONN);
	free(d);
	free(guest);
	free(rep);
}

/* One thread serving two devices through their poll fds. */
struct two {
	struct uvfio_server *a, *b;
	volatile int stop;
};

static void *two_loop(void *arg)
{
	struct two *t = arg;
	while (!t->stop) {
		struct pollfd pf[2] = {
			{ uvfio_server_poll_fd(t->a), POLLIN, 0 },
			{ uvfio_server_poll_fd(t->b), POLLIN, 0 },
		};
		if (poll(pf, 2, 20) < 0)
			break;
		assert_int_equal(uvfio_server_process(t->a), 0);
		assert_int_equal(uvfio_server_process(t->b), 0);
	}
	return NULL;
}

static void test_two_devices_one_thread(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-two-XXXXXX", pa[128], pb[128];
	assert_non_null(mkdtemp(dir));
	snprintf(pa, sizeof(pa), "%s/a.sock", dir);
	snprintf(pb, sizeof(pb), "%s/b.sock", dir);
	struct two t = { 0 };
	assert_int_equal(uvfio_server_create(&t.a, pa, 0), 0);
	assert_int_equal(uvfio_server_create(&t.b, pb, UVFIO_SERVER_PCIE), 0);
	struct uvfio_pci_ids ia = { .vendor = 0xaaaa, .device = 1 };
	struct uvfio_pci_ids ib = { .vendor = 0xbbbb, .device = 2 };
	assert_int_equal(uvfio_server_set_pci_ids(t.a, &ia), 0);
	assert_int_equal(uvfio_server_set_pci_ids(t.b, &ib), 0);
	int fd_a = uvfio_server_poll_fd(t.a);
	pthread_t th;
	pthread_create(&th, NULL, two_loop, &t);

	for (int round = 0; round < 3; round++) {
		struct uvfio_client *ca = connect_client(pa);
		struct uvfio_client *cb = connect_client(pb);
		uint16_t va, vb;
		struct uvfio_region_info ri;
		assert_int_equal(uvfio_client_region_read(ca, 7, 0, &va, 2), 0);
		assert_int_equal(uvfio_client_region_read(cb, 7, 0, &vb, 2), 0);
		assert_int_equal(va, 0xaaaa);
		assert_int_equal(vb, 0xbbbb);
		assert_int_equal(uvfio_client_get_region_info(cb, 7, &ri), 0);
		assert_int_equal(ri.size, 4096);
		uvfio_client_destroy(ca);
		uvfio_client_destroy(cb);
	}
	/* The poll fd stays the same across clients. */
	assert_int_equal(uvfio_server_poll_fd(t.a), fd_a);
	t.stop = 1;
	pthread_join(th, NULL);
	uvfio_server_destroy(t.a);
	uvfio_server_destroy(t.b);
	rmdir(dir);
}

/* INTx the way QEMU with KVM drives it: a trigger eventfd, and a resample
 * eventfd (EVENTFD|UNMASK) that KVM signals at the guest's EOI. */
static void test_intx_resample(void **state)
{
	struct srv_ctx *x = *state;
	uint8_t msg[128], rep[64];
	int fd = raw_connect(x->path);
	raw_negotiate(fd, qemu_json, 0);
	/* An earlier test left INTx disabled in the command register (the
	 * device keeps its state across clients): enable it. */
	uint16_t cmdreg = 0;
	ssize_t k = uvfio_build_region_write(msg, sizeof(msg), 1, false, 7, 4,
					     &cmdreg, 2);
	raw_send(fd, msg, (size_t)k, -1);
	assert_int_equal(raw_recv(fd, rep, sizeof(rep)), 32);
	int efd = eventfd(0, EFD_NONBLOCK), rfd = eventfd(0, EFD_NONBLOCK);
	ssize_t n = uvfio_build_set_irqs(msg, sizeof(msg), 2,
					 UVFIO_IRQ_DATA_EVENTFD |
						 UVFIO_IRQ_ACTION_TRIGGER,
					 UVFIO_PCI_INTX_IRQ, 0, 1, NULL);
	raw_send(fd, msg, (size_t)n, efd);
	assert_int_equal(raw_recv(fd, rep, sizeof(rep)), 16);
	n = uvfio_build_set_irqs(msg, sizeof(msg), 3,
				 UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_UNMASK,
				 UVFIO_PCI_INTX_IRQ, 0, 1, NULL);
	raw_send(fd, msg, (size_t)n, rfd);
	assert_int_equal(raw_recv(fd, rep, sizeof(rep)), 16);

	uint64_t one = 1, cnt;
	for (int round = 0; round < 3; round++) {
		assert_int_equal(uvfio_server_irq_trigger(x->srv,
							  UVFIO_PCI_INTX_IRQ, 0),
				 0);
		assert_int_equal(read(efd, &cnt, 8), 8);
		/* Automasked until the EOI; a trigger meanwhile is not sent
		 * now but remembered... */
		assert_int_equal(uvfio_server_irq_trigger(x->srv,
							  UVFIO_PCI_INTX_IRQ, 0),
				 -EAGAIN);
		assert_int_equal(read(efd, &cnt, 8), -1);
		/* ...and fires at the EOI, masking INTx again. */
		assert_int_equal(write(rfd, &one, 8), 8);
		int r = -1;
		for (int i = 0; i < 500 && r != 8; i++) {
			usleep(1000);
			r = (int)read(efd, &cnt, 8);
		}
		assert_int_equal(r, 8);
		assert_int_equal(uvfio_server_irq_trigger(x->srv,
							  UVFIO_PCI_INTX_IRQ, 0),
				 -EAGAIN);
		/* A device that stopped asserting before the EOI: nothing
		 * fires then, and the next trigger goes straight out. */
		assert_int_equal(uvfio_server_irq_deassert(x->srv,
							   UVFIO_PCI_INTX_IRQ,
							   0),
				 0);
		assert_int_equal(write(rfd, &one, 8), 8);
		usleep(20000);
		assert_int_equal(read(efd, &cnt, 8), -1); /* never fired */
		/* Trigger once the EOI got through; a trigger that came
		 * first is remembered and fires at it: EOI that one too. */
		r = -EAGAIN;
		for (int i = 0; i < 500 && r; i++) {
			usleep(1000);
			if (read(efd, &cnt, 8) == 8) {
				assert_int_equal(write(rfd, &one, 8), 8);
				continue;
			}
			uvfio_server_irq_deassert(x->srv, UVFIO_PCI_INTX_IRQ, 0);
			r = uvfio_server_irq_trigger(x->srv, UVFIO_PCI_INTX_IRQ, 0);
		}
		assert_int_equal(r, 0);
		assert_int_equal(read(efd, &cnt, 8), 8);
		assert_int_equal(write(rfd, &one, 8), 8);
		usleep(5000);
	}
	close(efd);
	close(rfd);
	close(fd);
	wait_idle(x);
}

int main(int argc, char **argv)
{
	skeleton_bin = argc > 1 ? argv[1] : "samples/uvfio-skeleton";
	const struct CMUnitTest with_server[] = {
		cmocka_unit_test(test_negotiate_and_enumerate),
		cmocka_unit_test(test_config_and_bar),
		cmocka_unit_test(test_large_transfers),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_qemu_version),
		cmocka_unit_test(test_bad_clients),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_sync_dma_in_callback),
		cmocka_unit_test(test_other_threads),
		cmocka_unit_test(test_intx_resample),
	};
	const struct CMUnitTest standalone[] = {
		cmocka_unit_test(test_client_refuses_bad_servers),
		cmocka_unit_test(test_two_devices_one_thread),
		cmocka_unit_test(test_skeleton_process),
		cmocka_unit_test(test_skeleton_fd),
	};
	int r = cmocka_run_group_tests_name("skeleton-server", with_server,
					    srv_setup, srv_teardown);
	r |= cmocka_run_group_tests_name("skeleton-standalone", standalone, NULL,
					 NULL);
	return r;
}
