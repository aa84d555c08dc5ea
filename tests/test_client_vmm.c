/* SPDX-License-Identifier: MIT */
/*
 * What a VMM needs of the client beyond region access: the io fds of a
 * region for KVM ioeventfds (against a device built here with the server
 * API, as the samples register none), thousands of DMA maps in flight
 * without waiting, and DMA windows served through callbacks (against
 * uvfio-dmadev as a process, with and without twin socket).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "../samples/dmadev.h"
#include "util.h"

static const char *dmadev_bin;

/* ---- GET_REGION_IO_FDS ------------------------------------------------------------- */

struct dev {
	char dir[40], path[80];
	struct uvfio_server *srv;
	pthread_t thread;
	int efd[2]; /* the device's ends */
	struct uvfio_client *c;
};

static void *dev_loop(void *arg)
{
	struct dev *d = arg;
	assert_int_equal(uvfio_server_run(d->srv), 0);
	return NULL;
}

static int dev_setup(void **state)
{
	struct dev *d = calloc(1, sizeof(*d));
	strcpy(d->dir, "/tmp/uvfio-vmm-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/d.sock", d->dir);
	assert_int_equal(uvfio_server_create(&d->srv, d->path, 0), 0);
	uvfio_server_set_log(d->srv, NULL, NULL, UVFIO_LOG_ERR);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(uvfio_server_setup_region(d->srv, i, 4096,
							   UVFIO_REGION_READ |
								   UVFIO_REGION_WRITE,
							   NULL, NULL),
				 0);
		d->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(d->efd[i] >= 0);
	}
	/* Region 0: a doorbell with datamatch, a plain one, and the first
	 * eventfd again elsewhere.  Region 1: none. */
	assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 0x100, 4,
						    d->efd[0], true, 0x5a),
			 0);
	assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 0x200, 8,
						    d->efd[1], false, 0),
			 0);
	assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 0x300, 2,
						    d->efd[0], false, 0),
			 0);
	assert_int_equal(pthread_create(&d->thread, NULL, dev_loop, d), 0);
	assert_int_equal(uvfio_client_create(&d->c), 0);
	uvfio_client_set_log(d->c, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_connect(d->c, d->path), 0);
	*state = d;
	return 0;
}

static int dev_teardown(void **state)
{
	struct dev *d = *state;
	uvfio_client_destroy(d->c);
	uvfio_server_stop(d->srv);
	pthread_join(d->thread, NULL);
	uvfio_server_destroy(d->srv);
	close(d->efd[0]);
	close(d->efd[1]);
	rmdir(d->dir);
	free(d);
	return 0;
}

/* The eventfd behind fd is the device's efd: a signal on one is seen on
 * the other. */
static void same_eventfd(int fd, int efd)
{
	uint64_t v = 3;
	assert_int_equal(write(fd, &v, 8), 8);
	v = 0;
	assert_int_equal(read(efd, &v, 8), 8);
	assert_int_equal(v, 3);
}

/*
 * The device runs in this process, on its own thread: it closes its
 * duplicates of the fds it sent just after sendmsg() returns, which may be
 * after our reply arrived.  Wait for the count to settle, not longer.
 */
static void expect_fd_count(int want)
{
	int n = tu_fd_count(0);
	for (int i = 0; i < 200 && n != want; i++) {
		usleep(5000);
		n = tu_fd_count(0);
	}
	assert_int_equal(n, want);
}

static void test_io_fds(void **state)
{
	struct dev *d = *state;
	struct uvfio_client_io_fd e[8];
	/* The device runs in this process: let it finish with the fds of
	 * the connection's setup (a round trip) before counting ours. */
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 1, NULL, 0), 0);
	usleep(20000);
	int fds0 = tu_fd_count(0);

	memset(e, 0xff, sizeof(e));
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 0, e, 8), 3);
	assert_int_equal(e[0].offset, 0x100);
	assert_int_equal(e[0].size, 4);
	assert_int_equal(e[0].type, UVFIO_IO_FD_IOEVENTFD);
	assert_int_equal(e[0].flags, UVFIO_IOEVENTFD_DATAMATCH);
	assert_int_equal(e[0].datamatch, 0x5a);
	assert_int_equal(e[1].offset, 0x200);
	assert_int_equal(e[1].size, 8);
	assert_int_equal(e[1].flags, 0);
	assert_int_equal(e[2].offset, 0x300);
	assert_int_equal(e[2].size, 2);
	expect_fd_count(fds0 + 3);
	same_eventfd(e[0].fd, d->efd[0]);
	same_eventfd(e[1].fd, d->efd[1]);
	same_eventfd(e[2].fd, d->efd[0]);
	for (unsigned i = 0; i < 3; i++)
		close(e[i].fd);

	/* Room for fewer: the count, the first entries, no fd left over. */
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 0, e, 1), 3);
	assert_int_equal(e[0].offset, 0x100);
	expect_fd_count(fds0 + 1);
	close(e[0].fd);
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 0, NULL, 0), 3);
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 0, NULL, 2),
			 -EINVAL);
	/* A region without, and one that does not exist. */
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 1, e, 8), 0);
	assert_int_equal(uvfio_client_get_region_io_fds(d->c, 20, e, 8),
			 -EINVAL);
	expect_fd_count(fds0);
	assert_true(uvfio_client_connected(d->c));
}

/* ---- against uvfio-dmadev --------------------------------------------------------- */

struct ctx {
	char dir[40], path[80];
	pid_t pid;
	struct uvfio_client *c;
};

static pid_t start_dmadev(const char *path)
{
	pid_t pid = tu_spawn_server(dmadev_bin, path);
	assert_true(pid > 0);
	return pid;
}

static void quiet(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static int setup(void **state, bool twin)
{
	struct ctx *x = calloc(1, sizeof(*x));
	strcpy(x->dir, "/tmp/uvfio-vmm-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/dmadev.sock", x->dir);
	x->pid = start_dmadev(x->path);
	assert_int_equal(uvfio_client_create(&x->c), 0);
	/* Refused maps and DMA are logged: expected here. */
	uvfio_client_set_log(x->c, quiet, NULL, UVFIO_LOG_ERR);
	uvfio_client_set_twin_socket(x->c, twin);
	assert_int_equal(uvfio_client_connect(x->c, x->path), 0);
	*state = x;
	return 0;
}

static int setup_twin(void **state)
{
	return setup(state, true);
}

static int setup_single(void **state)
{
	return setup(state, false);
}

static int teardown(void **state)
{
	struct ctx *x = *state;
	int status;
	uvfio_client_destroy(x->c);
	tu_reap(x->pid, SIGTERM, &status);
	unlink(x->path);
	rmdir(x->dir);
	free(x);
	return 0;
}

static void wr32(struct uvfio_client *c, uint32_t reg, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, reg, &v, 4), 0);
}

static uint32_t rd32(struct uvfio_client *c, uint32_t reg)
{
	uint32_t v = 0xdeadbeef;
	assert_int_equal(uvfio_client_region_read(c, 0, reg, &v, 4), 0);
	return v;
}

/* One transfer of len bytes between iova and BAR2 offset 0; GO=1 or 2. */
static uint32_t transfer(struct uvfio_client *c, uint64_t iova, uint32_t len,
			 uint32_t dir, uint32_t go)
{
	assert_int_equal(uvfio_client_region_write(c, 0, REG_IOVA, &iova, 8), 0);
	wr32(c, REG_LEN, len);
	wr32(c, REG_COUNT, 1);
	wr32(c, REG_DIR, dir);
	wr32(c, REG_GO, go);
	uint32_t st;
	while ((st = rd32(c, REG_STATUS)) == EINPROGRESS)
		usleep(100);
	return st;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed + (i >> 10));
}

struct tally {
	unsigned done, failed, first_err;
};

static void tally_done(void *opaque, int result)
{
	struct tally *t = opaque;
	t->done++;
	if (result) {
		if (!t->failed++)
			t->first_err = (unsigned)-result;
	}
}

#define MANY 3000u
#define MANY_IOVA 0x1000000000ull
#define MANY_SIZE 4096u

static void test_map_async_many(void **state)
{
	struct ctx *x = *state;
	uint8_t *mem = calloc(MANY, MANY_SIZE);
	unsigned submitted = 0, most = 0;
	struct tally t = { 0 };
	struct timespec t0, t1;
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;

	/* A boot's worth of maps, none waited for. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < MANY; i++) {
		int r = uvfio_client_dma_map_async(x->c,
						   MANY_IOVA + i * 2ull * MANY_SIZE,
						   MANY_SIZE, rw,
						   mem + (size_t)i * MANY_SIZE,
						   -1, 0, tally_done, &t);
		if (r == -EAGAIN) {
			assert_int_equal(uvfio_client_process(x->c), 0);
			i--;
			continue;
		}
		assert_int_equal(r, 0);
		submitted++;
		if (submitted - t.done > most)
			most = submitted - t.done;
		if (i == 10) {
			/* In flight already counts for overlaps. */
			assert_int_equal(uvfio_client_dma_map_async(
						 x->c, MANY_IOVA + 4096, 8192,
						 rw, mem, -1, 0, tally_done, &t),
					 -EEXIST);
		}
	}
	/* done may be NULL. */
	assert_int_equal(uvfio_client_dma_map_async(x->c, MANY_IOVA - 8192, 4096,
						    rw, mem, -1, 0, NULL, NULL),
			 0);
	/* The server refuses this one (beyond the end of its file): the
	 * window goes and done hears why. */
	int memfd = memfd_create("small", MFD_CLOEXEC);
	assert_int_equal(ftruncate(memfd, 4096), 0);
	uint8_t *small = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED,
			      memfd, 0);
	assert_true(small != MAP_FAILED);
	struct tally bad = { 0 };
	assert_int_equal(uvfio_client_dma_map_async(x->c, 0x3000000000ull, 8192,
						    rw, small, memfd, 0,
						    tally_done, &bad),
			 0);
	while (t.done < MANY || !bad.done) {
		struct pollfd pf = { uvfio_client_poll_fd(x->c), POLLIN, 0 };
		assert_true(poll(&pf, 1, 5000) > 0);
		assert_int_equal(uvfio_client_process(x->c), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%u async maps in %.1f ms, at most %u in flight\n", MANY,
		      (t1.tv_sec - t0.tv_sec) * 1e3 +
			      (t1.tv_nsec - t0.tv_nsec) / 1e6,
		      most);
	assert_int_equal(t.failed, 0);
	assert_int_equal(bad.done, 1);
	assert_int_equal(bad.failed, 1);
	assert_int_equal(bad.first_err, EINVAL);
	/* It is gone from the client's table: the same range maps again. */
	static uint8_t again[8192];
	assert_int_equal(uvfio_client_dma_map(x->c, 0x3000000000ull, 8192, rw,
					      again, -1, 0),
			 0);
	assert_int_equal(uvfio_client_dma_unmap(x->c, 0x3000000000ull, 8192), 0);

	/* The device reaches the windows. */
	uint8_t *bar = malloc(MANY_SIZE);
	for (unsigned i = 0; i < MANY; i += 997) {
		uint8_t *win = mem + (size_t)i * MANY_SIZE;
		uint64_t iova = MANY_IOVA + i * 2ull * MANY_SIZE;
		fill(win, MANY_SIZE, i);
		assert_int_equal(transfer(x->c, iova, MANY_SIZE, 0, 1), 0);
		assert_int_equal(uvfio_client_region_read(x->c, DMADEV_BAR2, 0,
							  bar, MANY_SIZE),
				 0);
		assert_memory_equal(bar, win, MANY_SIZE);
	}
	/* Into the gap between two windows: nothing there. */
	assert_int_not_equal(transfer(x->c, MANY_IOVA + MANY_SIZE, 64, 0, 1), 0);
	assert_int_equal(uvfio_client_dma_unmap_all(x->c), 0);
	assert_int_not_equal(transfer(x->c, MANY_IOVA, 64, 0, 1), 0);
	munmap(small, 8192);
	close(memfd);
	free(bar);
	free(mem);
}

/* A window served by callbacks: device memory computed from the address,
 * writes kept aside. */
#define OPS_IOVA 0x4000000000ull
#define OPS_SIZE (1u << 20)

struct opsdev {
	uint8_t *written; /* what the device wrote, by offset */
	unsigned reads, writes;
	int fail; /* the next call fails with this */
	bool bad_range;
};

static uint8_t byte_at(uint64_t iova)
{
	return (uint8_t)(iova * 7 + (iova >> 12));
}

static bool in_window(uint64_t iova, size_t len)
{
	return iova >= OPS_IOVA && len <= OPS_SIZE &&
	       iova - OPS_IOVA <= OPS_SIZE - len;
}

static int ops_read(void *opaque, uint64_t iova, void *buf, size_t len)
{
	struct opsdev *o = opaque;
	o->reads++;
	if (!in_window(iova, len))
		o->bad_range = true;
	if (o->fail)
		return -o->fail;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = byte_at(iova + i);
	return 0;
}

static int ops_write(void *opaque, uint64_t iova, const void *buf, size_t len)
{
	struct opsdev *o = opaque;
	o->writes++;
	if (!in_window(iova, len)) {
		o->bad_range = true;
		return -EFAULT;
	}
	if (o->fail)
		return -o->fail;
	memcpy(o->written + (iova - OPS_IOVA), buf, len);
	return 0;
}

static void test_ops_window(void **state)
{
	struct ctx *x = *state;
	struct opsdev o = { .written = calloc(1, OPS_SIZE) };
	const struct uvfio_client_dma_ops ops = { ops_read, ops_write };
	const struct uvfio_client_dma_ops ro = { ops_read, NULL };
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;
	uint8_t *bar = malloc(DMADEV_BAR2_SIZE);

	assert_int_equal(uvfio_client_dma_map_ops(x->c, OPS_IOVA, OPS_SIZE, rw,
						  &ro, &o),
			 -EINVAL);
	assert_int_equal(uvfio_client_dma_map_ops(x->c, OPS_IOVA, OPS_SIZE, rw,
						  &ops, &o),
			 0);
	static const uint32_t lens[] = { 1, 4096, 70000, 300001, OPS_SIZE };
	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint32_t len = lens[k];
		uint64_t iova = OPS_IOVA + (OPS_SIZE - len) / 2;
		/* device reads: the bytes come from ops_read */
		for (uint32_t go = 1; go <= 2; go++) {
			memset(bar, 0, len);
			assert_int_equal(uvfio_client_region_write(
						 x->c, DMADEV_BAR2, 0, bar, len),
					 0);
			assert_int_equal(transfer(x->c, iova, len, 0, go), 0);
			assert_int_equal(uvfio_client_region_read(
						 x->c, DMADEV_BAR2, 0, bar, len),
					 0);
			for (uint32_t i = 0; i < len; i++)
				if (bar[i] != byte_at(iova + i))
					fail_msg("len %u GO=%u: byte %u differs",
						 len, go, i);
		}
		/* device writes: the bytes reach ops_write */
		fill(bar, len, k);
		assert_int_equal(uvfio_client_region_write(x->c, DMADEV_BAR2, 0,
							   bar, len),
				 0);
		memset(o.written, 0, OPS_SIZE);
		assert_int_equal(transfer(x->c, iova, len, 1, k % 2 + 1), 0);
		assert_memory_equal(o.written + (iova - OPS_IOVA), bar, len);
	}
	assert_false(o.bad_range);
	assert_true(o.reads >= 10 && o.writes >= 5);

	/* The callbacks' errors are the device's. */
	o.fail = EIO;
	assert_int_equal(transfer(x->c, OPS_IOVA, 4096, 0, 1), EIO);
	assert_int_equal(transfer(x->c, OPS_IOVA, 4096, 1, 2), EIO);
	o.fail = 0;
	assert_int_equal(transfer(x->c, OPS_IOVA, 4096, 0, 1), 0);

	/* Unmapped: no more calls. */
	assert_int_equal(uvfio_client_dma_unmap(x->c, OPS_IOVA, OPS_SIZE), 0);
	unsigned calls = o.reads + o.writes;
	assert_int_not_equal(transfer(x->c, OPS_IOVA, 4096, 0, 1), 0);
	assert_int_equal(o.reads + o.writes, calls);
	assert_true(uvfio_client_connected(x->c));

	/* Reconnecting gives the server the window again. */
	assert_int_equal(uvfio_client_dma_map_ops(x->c, OPS_IOVA, OPS_SIZE, rw,
						  &ops, &o),
			 0);
	assert_int_equal(uvfio_client_reconnect(x->c), 0);
	assert_int_equal(transfer(x->c, OPS_IOVA + 8, 100, 0, 1), 0);
	assert_int_equal(uvfio_client_region_read(x->c, DMADEV_BAR2, 0, bar, 100),
			 0);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(bar[i], byte_at(OPS_IOVA + 8 + i));
	assert_int_equal(uvfio_client_dma_unmap_all(x->c), 0);
	free(bar);
	free(o.written);
}

int main(int argc, char **argv)
{
	dmadev_bin = argc > 1 ? argv[1] : "samples/uvfio-dmadev";
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest iofd[] = {
		cmocka_unit_test_setup_teardown(test_io_fds, dev_setup,
						dev_teardown),
	};
	const struct CMUnitTest dma[] = {
		cmocka_unit_test(test_map_async_many),
		cmocka_unit_test(test_ops_window),
	};
	int r = cmocka_run_group_tests_name("client-io-fds", iofd, NULL, NULL);
	r |= cmocka_run_group_tests_name("client-vmm-twin-socket", dma,
					 setup_twin, teardown);
	r |= cmocka_run_group_tests_name("client-vmm-single-socket", dma,
					 setup_single, teardown);
	return r;
}
