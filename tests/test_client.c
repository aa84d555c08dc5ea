/* SPDX-License-Identifier: MIT */
/*
 * The client library against uvfio-dmadev running as a process: DMA served
 * by the client through fd-backed and message-only windows, with and
 * without twin socket, while other requests are in flight; thousands of
 * asynchronous requests; MSI-X; mmap of a sparse region; the server killed
 * mid-request; reconnect restoring windows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "util.h"
#include "../samples/dmadev.h"

#define BAR2_SIZE DMADEV_BAR2_SIZE
#define GUEST_SIZE (4u << 20)
#define FD_IOVA 0x100000000ull
#define MSG_IOVA 0x200000000ull

static const char *dmadev_bin;

struct ctx {
	char dir[64], path[128];
	pid_t pid;
	struct uvfio_client *c;
	int memfd;
	uint8_t *fdmem;  /* guest memory behind the fd window */
	uint8_t *msgmem; /* guest memory behind the message window */
};

static pid_t start_dmadev(const char *path)
{
	pid_t pid = tu_spawn_server(dmadev_bin, path);
	assert_true(pid > 0);
	return pid;
}

static void stop(pid_t pid)
{
	int status;
	assert_int_equal(tu_reap(pid, SIGTERM, &status), pid);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 11));
}

static int setup(void **state, bool twin)
{
	struct ctx *x = calloc(1, sizeof(*x));
	strcpy(x->dir, "/tmp/uvfio-cli-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/dmadev.sock", x->dir);
	x->pid = start_dmadev(x->path);
	assert_int_equal(uvfio_client_create(&x->c), 0);
	uvfio_client_set_log(x->c, NULL, NULL, UVFIO_LOG_ERR);
	uvfio_client_set_twin_socket(x->c, twin);
	assert_int_equal(uvfio_client_connect(x->c, x->path), 0);
	assert_int_equal(uvfio_client_has_twin_socket(x->c), twin);

	x->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(x->memfd, GUEST_SIZE), 0);
	x->fdmem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			x->memfd, 0);
	assert_true(x->fdmem != MAP_FAILED);
	x->msgmem = malloc(GUEST_SIZE);
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;
	assert_int_equal(uvfio_client_dma_map(x->c, FD_IOVA, GUEST_SIZE, rw,
					      x->fdmem, x->memfd, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(x->c, MSG_IOVA, GUEST_SIZE, rw,
					      x->msgmem, -1, 0),
			 0);
	/* Overlaps are refused here, before the server sees them. */
	assert_int_equal(uvfio_client_dma_map(x->c, MSG_IOVA + 4096, 4096, rw,
					      x->msgmem, -1, 0),
			 -EEXIST);
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
	uvfio_client_destroy(x->c);
	stop(x->pid);
	munmap(x->fdmem, GUEST_SIZE);
	close(x->memfd);
	free(x->msgmem);
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

static void program(struct uvfio_client *c, uint64_t iova, uint32_t len,
		    uint32_t dir)
{
	assert_int_equal(uvfio_client_region_write(c, 0, REG_IOVA, &iova, 8), 0);
	wr32(c, REG_LEN, len);
	wr32(c, REG_COUNT, 1);
	wr32(c, REG_DIR, dir);
}

/* GO=2 and poll STATUS, serving DMA meanwhile (every call does). */
static uint32_t go_async(struct uvfio_client *c)
{
	wr32(c, REG_GO, 2);
	uint32_t st;
	for (int i = 0; i < 100000 && (st = rd32(c, REG_STATUS)) == EINPROGRESS;
	     i++)
		;
	return st;
}

static void check_transfers(struct ctx *x, uint64_t iova, uint8_t *guest,
			    bool sync_go)
{
	uint8_t *bar = malloc(BAR2_SIZE);
	static const uint32_t lens[] = { 1, 8, 4096, 300001, BAR2_SIZE };
	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint32_t len = lens[k];
		/* device reads guest memory into BAR2 */
		fill(guest, len, k);
		program(x->c, iova, len, 0);
		if (sync_go) {
			wr32(x->c, REG_GO, 1);
			assert_int_equal(rd32(x->c, REG_STATUS), 0);
		} else {
			assert_int_equal(go_async(x->c), 0);
		}
		assert_int_equal(uvfio_client_region_read(x->c, 2, 0, bar, len),
				 0);
		assert_memory_equal(bar, guest, len);
		/* device writes BAR2 into guest memory */
		fill(bar, len, k + 100);
		assert_int_equal(uvfio_client_region_write(x->c, 2, 0, bar, len),
				 0);
		memset(guest, 0, len);
		program(x->c, iova, len, 1);
		if (sync_go) {
			wr32(x->c, REG_GO, 1);
			assert_int_equal(rd32(x->c, REG_STATUS), 0);
		} else {
			assert_int_equal(go_async(x->c), 0);
		}
		assert_memory_equal(guest, bar, len);
	}
	free(bar);
}

static void test_fd_window(void **state)
{
	struct ctx *x = *state;
	check_transfers(x, FD_IOVA + 4096, x->fdmem + 4096, true);
	check_transfers(x, FD_IOVA, x->fdmem, false);
}

static void test_message_window_async(void **state)
{
	struct ctx *x = *state;
	check_transfers(x, MSG_IOVA + 123, x->msgmem + 123, false);
}

static void test_message_window_sync(void **state)
{
	/* GO=1: the device does message DMA inside its write callback; the
	 * client serves it while waiting for the write's reply. */
	struct ctx *x = *state;
	check_transfers(x, MSG_IOVA + 5, x->msgmem + 5, true);
}

static void test_dma_errors(void **state)
{
	struct ctx *x = *state;
	/* Outside every window: the device sees an error. */
	program(x->c, 0x900000000ull, 4096, 0);
	wr32(x->c, REG_GO, 1);
	assert_int_not_equal(rd32(x->c, REG_STATUS), 0);
	/* A read-only window cannot be written by the device. */
	static uint8_t ro[8192];
	assert_int_equal(uvfio_client_dma_map(x->c, 0x300000000ull, sizeof(ro),
					      UVFIO_DMA_MAP_READ, ro, -1, 0),
			 0);
	program(x->c, 0x300000000ull, 4096, 1);
	/* The server knows the window is read-only: it refuses itself. */
	assert_int_equal(go_async(x->c), EACCES);
	program(x->c, 0x300000000ull, 4096, 0);
	assert_int_equal(go_async(x->c), 0);
	assert_int_equal(uvfio_client_dma_unmap(x->c, 0x300000000ull, 4096),
			 -ENOENT);
	assert_int_equal(uvfio_client_dma_unmap(x->c, 0x300000000ull, sizeof(ro)),
			 0);
	program(x->c, 0x300000000ull, 4096, 0);
	assert_int_equal(go_async(x->c), ENOENT);
}

struct counter {
	unsigned done, failed;
};

static void count_done(void *opaque, int result)
{
	struct counter *k = opaque;
	k->done++;
	if (result)
		k->failed++;
}

static void test_async_many(void **state)
{
	struct ctx *x = *state;
	enum { N = 6000 };
	uint32_t *vals = calloc(N, sizeof(uint32_t));
	struct counter k = { 0 };
	uint8_t *bar = malloc(BAR2_SIZE);

	fill(bar, BAR2_SIZE, 9);
	assert_int_equal(uvfio_client_region_write(x->c, 2, 0, bar, BAR2_SIZE), 0);
	/* Thousands in flight: submit until the queue is full, then let
	 * replies drain, and so on. */
	for (unsigned i = 0; i < N;) {
		int r = uvfio_client_region_read_async(x->c, 2, (i * 4) % BAR2_SIZE,
						       &vals[i], 4, count_done,
						       &k);
		if (r == -EAGAIN) {
			assert_int_equal(uvfio_client_process(x->c), 0);
			continue;
		}
		assert_int_equal(r, 0);
		i++;
	}
	while (k.done < N) {
		struct pollfd pf = { uvfio_client_poll_fd(x->c), POLLIN, 0 };
		assert_true(poll(&pf, 1, 5000) > 0);
		assert_int_equal(uvfio_client_process(x->c), 0);
	}
	assert_int_equal(k.failed, 0);
	for (unsigned i = 0; i < N; i++)
		assert_memory_equal(&vals[i], bar + (i * 4) % BAR2_SIZE, 4);

	/* Asynchronous requests interleaved with message DMA served in the
	 * same loop. */
	fill(x->msgmem, 200000, 77);
	program(x->c, MSG_IOVA, 200000, 0);
	wr32(x->c, REG_GO, 2);
	k = (struct counter){ 0 };
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(uvfio_client_region_read_async(
					 x->c, 0, REG_STATUS, &vals[i], 4,
					 count_done, &k),
				 0);
	while (k.done < 100 || rd32(x->c, REG_STATUS) == EINPROGRESS)
		assert_int_equal(uvfio_client_process(x->c), 0);
	assert_int_equal(rd32(x->c, REG_STATUS), 0);
	assert_int_equal(uvfio_client_region_read(x->c, 2, 0, bar, 200000), 0);
	assert_memory_equal(bar, x->msgmem, 200000);

	/* Posted writes are ordered before later reads. */
	for (uint32_t i = 0; i < 64; i++)
		assert_int_equal(uvfio_client_region_write_posted(x->c, 2, i * 4,
								  &i, 4),
				 0);
	for (uint32_t i = 0; i < 64; i++) {
		uint32_t v;
		assert_int_equal(uvfio_client_region_read(x->c, 2, i * 4, &v, 4),
				 0);
		assert_int_equal(v, i);
	}
	free(vals);
	free(bar);
}

/* Find a capability in config space. */
static unsigned find_cap(struct uvfio_client *c, uint8_t id)
{
	uint8_t cfg[256];
	assert_int_equal(uvfio_client_region_read(c, 7, 0, cfg, sizeof(cfg)), 0);
	for (unsigned off = cfg[0x34], n = 0; off && n < 48;
	     off = cfg[off + 1], n++)
		if (cfg[off] == id)
			return off;
	return 0;
}

static void test_msix(void **state)
{
	struct ctx *x = *state;
	struct uvfio_irq_info ii;
	assert_int_equal(uvfio_client_get_irq_info(x->c, UVFIO_PCI_MSIX_IRQ, &ii),
			 0);
	assert_int_equal(ii.count, 4);
	unsigned cap = find_cap(x->c, 0x11);
	assert_true(cap >= 0x40);
	uint16_t ctl;
	assert_int_equal(uvfio_client_region_read(x->c, 7, cap + 2, &ctl, 2), 0);
	ctl |= 0x8000;
	assert_int_equal(uvfio_client_region_write(x->c, 7, cap + 2, &ctl, 2), 0);
	/* Unmask vector 0 in the table (the library starts them masked). */
	uint32_t vctl = 0;
	assert_int_equal(uvfio_client_region_write(x->c, 0, 0x800 + 12, &vctl, 4),
			 0);

	int efd;
	assert_int_equal(uvfio_client_irq_enable(x->c, UVFIO_PCI_MSIX_IRQ, 0, 1,
						 &efd),
			 0);
	wr32(x->c, REG_IRQ, 1);
	/* Message DMA, then the interrupt: waiting serves the DMA. */
	fill(x->msgmem, 65536, 3);
	program(x->c, MSG_IOVA, 65536, 0);
	wr32(x->c, REG_GO, 2);
	uint64_t n = 0;
	assert_int_equal(uvfio_client_irq_wait(x->c, efd, 5000, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rd32(x->c, REG_STATUS), 0);
	/* Masked: pending, delivered on unmask. */
	vctl = 1;
	assert_int_equal(uvfio_client_region_write(x->c, 0, 0x800 + 12, &vctl, 4),
			 0);
	wr32(x->c, REG_GO, 1);
	assert_int_equal(uvfio_client_irq_wait(x->c, efd, 100, &n), -ETIMEDOUT);
	uint64_t pba = 0;
	assert_int_equal(uvfio_client_region_read(x->c, 0, 0xc00, &pba, 8), 0);
	assert_int_equal(pba & 1, 1);
	vctl = 0;
	assert_int_equal(uvfio_client_region_write(x->c, 0, 0x800 + 12, &vctl, 4),
			 0);
	assert_int_equal(uvfio_client_irq_wait(x->c, efd, 5000, &n), 0);
	assert_int_equal(uvfio_client_irq_disable(x->c, UVFIO_PCI_MSIX_IRQ), 0);
	close(efd);
}

static void test_mmap(void **state)
{
	struct ctx *x = *state;
	const struct uvfio_region_caps *caps = uvfio_client_region_caps(x->c, 2);
	assert_non_null(caps);
	assert_true(caps->has_sparse);
	assert_int_equal(caps->nr_areas, 1);
	void *p;
	assert_int_equal(uvfio_client_region_mmap(x->c, 2, &p), 0);
	fill(p, BAR2_SIZE, 42);
	/* The device sees what we wrote through the mapping. */
	program(x->c, FD_IOVA, BAR2_SIZE, 1);
	wr32(x->c, REG_GO, 1);
	assert_int_equal(rd32(x->c, REG_STATUS), 0);
	assert_memory_equal(x->fdmem, p, BAR2_SIZE);
	/* Region access goes through the mapping now, and still works. */
	uint64_t v = 0x1122334455667788ull, r = 0;
	assert_int_equal(uvfio_client_region_write(x->c, 2, 8, &v, 8), 0);
	assert_memory_equal((uint8_t *)p + 8, &v, 8);
	assert_int_equal(uvfio_client_region_read(x->c, 2, 8, &r, 8), 0);
	assert_int_equal(r, v);
	/* A region without MMAP cannot be mapped. */
	assert_int_equal(uvfio_client_region_mmap(x->c, 0, &p), -ENOTSUP);
}

static void test_reconnect_and_kill(void **state)
{
	struct ctx *x = *state;
	/* Restart the device on the same socket: the client gives the new
	 * process its windows back. */
	stop(x->pid);
	uint32_t v;
	int r = uvfio_client_region_read(x->c, 0, REG_STATUS, &v, 4);
	assert_true(r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE);
	assert_false(uvfio_client_connected(x->c));
	x->pid = start_dmadev(x->path);
	assert_int_equal(uvfio_client_reconnect(x->c), 0);
	fill(x->msgmem, 4096, 8);
	program(x->c, MSG_IOVA, 4096, 0);
	assert_int_equal(go_async(x->c), 0);
	fill(x->fdmem, 4096, 9);
	program(x->c, FD_IOVA, 4096, 0);
	wr32(x->c, REG_GO, 1);
	assert_int_equal(rd32(x->c, REG_STATUS), 0);

	/* Killed with requests in flight: every one completes with an
	 * error, nothing hangs. */
	struct counter k = { 0 };
	uint32_t vals[200];
	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(uvfio_client_region_read_async(
					 x->c, 2, i * 4, &vals[i], 4, count_done,
					 &k),
				 0);
	tu_reap(x->pid, SIGKILL, NULL);
	for (int i = 0; i < 1000 && k.done < 200; i++) {
		uvfio_client_process(x->c);
		usleep(1000);
	}
	assert_int_equal(k.done, 200);
	assert_false(uvfio_client_connected(x->c));
	assert_int_equal(uvfio_client_region_read(x->c, 0, 0, &v, 4), -ENOTCONN);
	x->pid = start_dmadev(x->path); /* for teardown */
}

static void test_write_multi(void **state)
{
	struct ctx *x = *state;
	enum { N = 450 };
	struct uvfio_write_multi_entry *e = calloc(N, sizeof(*e));
	for (unsigned i = 0; i < N; i++) {
		e[i].region = 2;
		e[i].offset = 0x8000 + i * 8;
		e[i].count = 1 + i % 8;
		memset(e[i].data, (int)(i & 0xff), sizeof(e[i].data));
	}
	/* A later entry overwrites an earlier one: order matters. */
	e[N - 1].offset = e[0].offset;
	assert_int_equal(uvfio_client_region_write_multi(x->c, e, N), 0);
	uint8_t got[8 * N];
	assert_int_equal(uvfio_client_region_read(x->c, 2, 0x8000, got, sizeof(got)),
			 0);
	for (unsigned i = 1; i < N - 1; i++)
		for (unsigned b = 0; b < e[i].count; b++)
			assert_int_equal(got[i * 8 + b], i & 0xff);
	assert_int_equal(got[0], (N - 1) & 0xff);
	e[0].count = 9;
	assert_int_equal(uvfio_client_region_write_multi(x->c, e, 1), -EINVAL);
	free(e);
}

/* Several threads share one handle. */
struct worker {
	struct uvfio_client *c;
	unsigned id;
	int errors;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	for (uint32_t i = 0; i < 300; i++) {
		uint32_t v = w->id << 16 | i, r = 0;
		uint64_t off = 0x40000 + w->id * 4096 + (i % 256) * 4;
		if (uvfio_client_region_write(w->c, 2, off, &v, 4) ||
		    uvfio_client_region_read(w->c, 2, off, &r, 4) || r != v)
			w->errors++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct ctx *x = *state;
	struct worker w[4];
	pthread_t t[4];
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ x->c, i, 0 };
		pthread_create(&t[i], NULL, worker_fn, &w[i]);
	}
	/* Meanwhile this thread has the device do message DMA, which the
	 * workers' calls serve as much as this one's. */
	fill(x->msgmem, 100000, 5);
	program(x->c, MSG_IOVA, 100000, 0);
	assert_int_equal(go_async(x->c), 0);
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
}

static const char *gpio_bin;

/* The GPIO card through the client: identity, loopback, INTx. */
static void test_gpio(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-gpio-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gpio.sock", dir);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(gpio_bin, gpio_bin, "--socket", path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(tu_wait_server(pid, path, 10000), 0);
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	assert_int_equal(uvfio_client_connect(c, path), 0);

	uint16_t ids[2];
	assert_int_equal(uvfio_client_region_read(c, 7, 0, ids, 4), 0);
	assert_int_equal(ids[0], 0x494f);
	assert_int_equal(ids[1], 0x0dc8);
	struct uvfio_irq_info ii;
	assert_int_equal(uvfio_client_get_irq_info(c, UVFIO_PCI_INTX_IRQ, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_true(ii.flags & UVFIO_IRQ_INFO_AUTOMASKED);

	int efd;
	assert_int_equal(uvfio_client_irq_enable(c, UVFIO_PCI_INTX_IRQ, 0, 1, &efd),
			 0);
	uint8_t b;
	assert_int_equal(uvfio_client_region_read(c, 2, 2, &b, 1), 0); /* IRQs on */
	for (unsigned round = 0; round < 3; round++) {
		uint8_t out = (uint8_t)(0x11 * (round + 1)), in = 0;
		assert_int_equal(uvfio_client_region_write(c, 2, 0, &out, 1), 0);
		uint64_t n = 0;
		assert_int_equal(uvfio_client_irq_wait(c, efd, 2000, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(uvfio_client_region_read(c, 2, 1, &in, 1), 0);
		assert_int_equal(in, out);
		assert_int_equal(uvfio_client_region_read(c, 2, 6, &b, 1), 0);
		assert_int_equal(b & 0x5, 0x5);
		b = 0;
		assert_int_equal(uvfio_client_region_write(c, 2, 1, &b, 1), 0);
		/* The guest's EOI: unmask the automasked INTx. */
		assert_int_equal(uvfio_client_irq_mask(c, UVFIO_PCI_INTX_IRQ, 0, 1,
						       false),
				 0);
	}
	close(efd);
	uvfio_client_destroy(c);
	stop(pid);
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	dmadev_bin = argc > 1 ? argv[1] : "samples/uvfio-dmadev";
	gpio_bin = argc > 2 ? argv[2] : "samples/uvfio-gpio";
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest twin[] = {
		cmocka_unit_test(test_fd_window),
		cmocka_unit_test(test_message_window_async),
		cmocka_unit_test(test_message_window_sync),
		cmocka_unit_test(test_dma_errors),
		cmocka_unit_test(test_async_many),
		cmocka_unit_test(test_msix),
		cmocka_unit_test(test_write_multi),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_mmap),
		cmocka_unit_test(test_reconnect_and_kill),
	};
	const struct CMUnitTest single[] = {
		cmocka_unit_test(test_message_window_async),
		cmocka_unit_test(test_message_window_sync),
		cmocka_unit_test(test_dma_errors),
		cmocka_unit_test(test_async_many),
		cmocka_unit_test(test_msix),
		cmocka_unit_test(test_write_multi),
		cmocka_unit_test(test_threads),
	};
	int r = cmocka_run_group_tests_name("client-twin-socket", twin,
					    setup_twin, teardown);
	r |= cmocka_run_group_tests_name("client-single-socket", single,
					 setup_single, teardown);
	const struct CMUnitTest gpio[] = { cmocka_unit_test(test_gpio) };
	r |= cmocka_run_group_tests_name("client-gpio", gpio, NULL, NULL);
	return r;
}
