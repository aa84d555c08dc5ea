/* SPDX-License-Identifier: MIT */
/*
 * The client under threads, as a VMM uses it: vCPU threads make
 * synchronous region accesses while a main loop polls
 * uvfio_client_poll_fd() and calls uvfio_client_process(), against
 * uvfio-dmadev running as a process.
 *
 * Every synchronous call must return as soon as its reply is in, whichever
 * thread read it.  A call slower than 1 s (far above the ~100 us a round
 * trip takes here) fails the test: that is a waiter that slept until its
 * request timeout although its reply had been delivered, or forever with
 * the timeout set to 0.  Meanwhile the loop thread keeps asynchronous
 * reads in flight, and the device does message DMA into a message-only
 * window, started by a synchronous GO=1 (served while that write waits)
 * or GO=2 (served by whoever services the connection, the loop thread
 * most of the time), and another thread maps and unmaps windows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "util.h"

#include "../samples/dmadev.h"

#define MSG_IOVA 0x200000000ull
#define GUEST_SIZE (1u << 20)
#define SLOW_NS 1000000000ll /* 1 s: a call this slow is a missed wake-up */
#define WORKERS 3            /* plus one thread doing DMA */
#define WORKER_BASE 0x40000u /* BAR2: one page per worker */
#define ASYNC_BASE 0x80000u  /* BAR2: what the loop thread reads async */
#define ASYNC_LEN 0x10000u
#define ASYNC_SLOTS 16u
#define DMA_MAX 40000u       /* BAR2 [0, DMA_MAX): the DMA thread's */

static const char *dmadev_bin;
static volatile pid_t device_pid; /* for the watchdog */

struct ctx {
	char dir[40], path[80];
	pid_t pid;
	struct uvfio_client *c;
	uint8_t *guest; /* behind the message-only window */
	uint16_t vendor;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t pattern(uint32_t off)
{
	return off * 2654435761u ^ 0x5a5a5a5au;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

static pid_t start_dmadev(const char *path)
{
	pid_t pid = tu_spawn_server(dmadev_bin, path);
	assert_true(pid > 0);
	return pid;
}

static int setup(void **state, bool twin)
{
	struct ctx *x = calloc(1, sizeof(*x));
	strcpy(x->dir, "/tmp/uvfio-thr-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/dmadev.sock", x->dir);
	x->pid = start_dmadev(x->path);
	device_pid = x->pid;
	assert_int_equal(uvfio_client_create(&x->c), 0);
	uvfio_client_set_log(x->c, NULL, NULL, UVFIO_LOG_ERR);
	uvfio_client_set_twin_socket(x->c, twin);
	assert_int_equal(uvfio_client_connect(x->c, x->path), 0);
	assert_int_equal(uvfio_client_has_twin_socket(x->c), twin);
	x->guest = calloc(1, GUEST_SIZE);
	assert_int_equal(uvfio_client_dma_map(x->c, MSG_IOVA, GUEST_SIZE,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      x->guest, -1, 0),
			 0);
	assert_int_equal(uvfio_client_region_read(x->c, UVFIO_PCI_CONFIG, 0,
						  &x->vendor, 2),
			 0);
	/* What the asynchronous reads expect to find. */
	uint32_t *pat = malloc(ASYNC_LEN);
	for (uint32_t i = 0; i < ASYNC_LEN / 4; i++)
		pat[i] = pattern(ASYNC_BASE + i * 4);
	assert_int_equal(uvfio_client_region_write(x->c, DMADEV_BAR2,
						   ASYNC_BASE, pat, ASYNC_LEN),
			 0);
	free(pat);
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
	free(x->guest);
	unlink(x->path);
	rmdir(x->dir);
	free(x);
	return 0;
}

/* ---- one run: sync threads, a DMA thread, maybe a loop thread ---------------- */

struct run {
	struct ctx *x;
	unsigned iters;      /* per worker */
	unsigned dma_rounds;
	bool loop;           /* a loop thread runs */
	atomic_bool stop;    /* something failed: everyone winds down */
	atomic_bool workers_done;
	atomic_uint_fast64_t calls, max_ns, slow;
	atomic_uint_fast64_t async_done, async_max_ns, dma_bytes;
	atomic_uint errors;
	pthread_mutex_t why_lock;
	char why[256];       /* the first failure */
};

static void run_fail(struct run *R, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void run_fail(struct run *R, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&R->why_lock);
	if (!R->errors++) {
		va_start(ap, fmt);
		vsnprintf(R->why, sizeof(R->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&R->why_lock);
	R->stop = true;
}

static void max_update(atomic_uint_fast64_t *m, uint64_t v)
{
	uint_fast64_t cur = atomic_load(m);
	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

/* Account for one synchronous call that started at t0. */
static int note(struct run *R, int64_t t0, int r, const char *what,
		uint64_t off)
{
	int64_t d = now_ns() - t0;
	R->calls++;
	max_update(&R->max_ns, (uint64_t)d);
	if (d > SLOW_NS) {
		R->slow++;
		run_fail(R, "%s at %#llx took %lld ms", what,
		     (unsigned long long)off, (long long)(d / 1000000));
	}
	if (r)
		run_fail(R, "%s at %#llx: %s", what, (unsigned long long)off,
		     strerror(-r));
	return r;
}

static int t_read(struct run *R, unsigned index, uint64_t off, void *buf,
		  size_t len)
{
	int64_t t0 = now_ns();
	int r = uvfio_client_region_read(R->x->c, index, off, buf, len);
	return note(R, t0, r, "read", off);
}

static int t_write(struct run *R, unsigned index, uint64_t off,
		   const void *buf, size_t len)
{
	int64_t t0 = now_ns();
	int r = uvfio_client_region_write(R->x->c, index, off, buf, len);
	return note(R, t0, r, "write", off);
}

struct worker {
	struct run *R;
	unsigned id;
};

/* A vCPU: register-sized accesses to its own page of BAR2, and config
 * space reads now and then. */
static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct run *R = w->R;
	for (unsigned i = 0; i < R->iters && !R->stop; i++) {
		uint32_t v = w->id << 24 | i, back = 0;
		uint64_t off = WORKER_BASE + w->id * 4096 + (i % 1024) * 4;
		if (t_write(R, DMADEV_BAR2, off, &v, 4) ||
		    t_read(R, DMADEV_BAR2, off, &back, 4))
			break;
		if (back != v) {
			run_fail(R, "worker %u read %#x after writing %#x", w->id,
			     back, v);
			break;
		}
		if (i % 4 == 3) {
			uint16_t vid = 0;
			if (t_read(R, UVFIO_PCI_CONFIG, 0, &vid, 2))
				break;
			if (vid != R->x->vendor) {
				run_fail(R, "worker %u: vendor id %#x", w->id, vid);
				break;
			}
		}
	}
	return NULL;
}

static int w32(struct run *R, uint32_t reg, uint32_t v)
{
	return t_write(R, 0, reg, &v, 4);
}

static int program(struct run *R, uint32_t len, uint32_t count, uint32_t dir)
{
	uint64_t iova = MSG_IOVA;
	if (t_write(R, 0, REG_IOVA, &iova, 8) || w32(R, REG_LEN, len) ||
	    w32(R, REG_COUNT, count) || w32(R, REG_DIR, dir))
		return -1;
	return 0;
}

static int status(struct run *R, uint32_t *st)
{
	return t_read(R, 0, REG_STATUS, st, 4);
}

/* The device's DMA into the message-only window, started by synchronous
 * calls: GO=1 is served while the GO write waits for its reply, GO=2 in
 * the background while this thread polls STATUS. */
static void *dma_fn(void *arg)
{
	struct run *R = arg;
	uint8_t *guest = R->x->guest;
	uint8_t *bar = malloc(DMA_MAX);
	uint32_t st;
	for (unsigned k = 0; k < R->dma_rounds && !R->stop; k++) {
		uint32_t len = 512 + (k * 7919) % (DMA_MAX - 512);
		/* GO=1, guest memory into BAR2 (DMA_READ) */
		fill(guest, len, k);
		if (program(R, len, 1, 0) || w32(R, REG_GO, 1) || status(R, &st))
			break;
		if (st) {
			run_fail(R, "GO=1 read of %u bytes: status %u", len, st);
			break;
		}
		if (t_read(R, DMADEV_BAR2, 0, bar, len))
			break;
		if (memcmp(bar, guest, len)) {
			run_fail(R, "GO=1: BAR2 differs from guest memory");
			break;
		}
		/* GO=1, BAR2 into guest memory (DMA_WRITE) */
		fill(bar, len, k + 50);
		memset(guest, 0, len);
		if (t_write(R, DMADEV_BAR2, 0, bar, len) || program(R, len, 1, 1) ||
		    w32(R, REG_GO, 1) || status(R, &st))
			break;
		if (st || memcmp(bar, guest, len)) {
			run_fail(R, "GO=1 write of %u bytes: status %u%s", len, st,
			     st ? "" : ", guest memory differs");
			break;
		}
		/* GO=2, twice, guest memory into BAR2, in the background */
		fill(guest, len, k + 100);
		if (program(R, len, 2, 0) || w32(R, REG_GO, 2))
			break;
		int64_t t0 = now_ns();
		do {
			if (status(R, &st))
				break;
			if (st == EINPROGRESS)
				usleep(100);
		} while (st == EINPROGRESS && !R->stop &&
			 now_ns() - t0 < 2 * SLOW_NS);
		if (R->stop)
			break;
		if (st) {
			run_fail(R, "GO=2 of %u bytes: status %u after %lld ms", len,
			     st, (long long)((now_ns() - t0) / 1000000));
			break;
		}
		if (t_read(R, DMADEV_BAR2, 0, bar, len))
			break;
		if (memcmp(bar, guest, len)) {
			run_fail(R, "GO=2: BAR2 differs from guest memory");
			break;
		}
		R->dma_bytes += 4 * (uint64_t)len;
	}
	free(bar);
	return NULL;
}

/* A thread changing the DMA windows meanwhile (a guest's memory hotplug,
 * a vIOMMU): the table must stay right for the DMA thread's window. */
#define MAPPER_IOVA 0x300000000ull

static void *mapper_fn(void *arg)
{
	struct run *R = arg;
	struct uvfio_client *c = R->x->c;
	static uint8_t mem[8][4096];
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;
	for (unsigned i = 0; i < R->iters / 4 && !R->stop; i++) {
		uint64_t iova = MAPPER_IOVA + (i % 8) * 0x10000;
		int64_t t0 = now_ns();
		if (note(R, t0, uvfio_client_dma_map(c, iova, 4096, rw,
						     mem[i % 8], -1, 0),
			 "map", iova))
			break;
		t0 = now_ns();
		if (note(R, t0, uvfio_client_dma_unmap(c, iova, 4096), "unmap",
			 iova))
			break;
	}
	return NULL;
}

/* The main loop's asynchronous reads, each checked against the pattern. */
struct slot {
	struct run *R;
	atomic_bool busy;
	uint32_t off, val;
	int64_t t0;
};

static void slot_done(void *opaque, int result)
{
	struct slot *s = opaque;
	struct run *R = s->R;
	int64_t d = now_ns() - s->t0;
	max_update(&R->async_max_ns, (uint64_t)d);
	if (d > SLOW_NS)
		run_fail(R, "async read at %#x took %lld ms", s->off,
		     (long long)(d / 1000000));
	if (result)
		run_fail(R, "async read at %#x: %s", s->off, strerror(-result));
	else if (s->val != pattern(s->off))
		run_fail(R, "async read at %#x: %#x, expected %#x", s->off, s->val,
		     pattern(s->off));
	R->async_done++;
	s->busy = false;
}

static void *loop_fn(void *arg)
{
	struct run *R = arg;
	struct uvfio_client *c = R->x->c;
	struct slot slots[ASYNC_SLOTS];
	uint32_t next = 0;
	int64_t burst = 0;
	bool woken = true;
	for (unsigned i = 0; i < ASYNC_SLOTS; i++)
		slots[i] = (struct slot){ .R = R };
	for (;;) {
		/* A VMM's loop is idle most of the time: it sleeps in poll()
		 * (where it competes with the synchronous callers for their
		 * replies) and now and then sends a burst of asynchronous
		 * reads.  Only when woken by the socket, never by its poll
		 * timeout: traffic of its own would wake synchronous callers
		 * that nobody else woke, and hide exactly that. */
		bool inflight = false;
		bool submit = woken && now_ns() - burst > 10000000;
		if (submit)
			burst = now_ns();
		for (unsigned i = 0; i < ASYNC_SLOTS; i++) {
			struct slot *s = &slots[i];
			if (s->busy) {
				inflight = true;
				continue;
			}
			if (!submit || R->workers_done || R->stop)
				continue;
			s->off = ASYNC_BASE + (next++ * 4) % ASYNC_LEN;
			s->val = 0;
			s->t0 = now_ns();
			s->busy = true;
			int r = uvfio_client_region_read_async(c, DMADEV_BAR2,
							       s->off, &s->val,
							       4, slot_done, s);
			if (r) {
				s->busy = false;
				if (r != -EAGAIN)
					run_fail(R, "async read: %s", strerror(-r));
			} else {
				inflight = true;
			}
		}
		if (R->workers_done && !inflight)
			break;
		struct pollfd pf = { uvfio_client_poll_fd(c), POLLIN, 0 };
		woken = poll(&pf, 1, 100) > 0;
		int r = uvfio_client_process(c);
		if (r) {
			run_fail(R, "process: %s", strerror(-r));
			/* The connection is gone: pending requests have
			 * completed with the error. */
			break;
		}
	}
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "test-threads: a call never returned "
				"(watchdog)\n";
	ssize_t n = write(2, m, sizeof(m) - 1);
	(void)n;
	/* The device holds our stdout: the test runner would wait for it. */
	if (device_pid > 0)
		kill(device_pid, SIGKILL);
	_exit(1);
}

static void run(struct ctx *x, unsigned iters, unsigned dma_rounds,
		bool loop, unsigned timeout_ms, const char *name)
{
	struct run *R = calloc(1, sizeof(*R));
	*R = (struct run){ .x = x, .iters = iters, .dma_rounds = dma_rounds,
			   .loop = loop };
	pthread_mutex_init(&R->why_lock, NULL);
	uvfio_client_set_timeout(x->c, timeout_ms);
	/* With no request timeout a missed wake-up hangs for good. */
	signal(SIGALRM, on_alarm);
	alarm(20);

	pthread_t lt, dt, mt, wt[WORKERS];
	struct worker w[WORKERS];
	int64_t t0 = now_ns();
	if (loop)
		assert_int_equal(pthread_create(&lt, NULL, loop_fn, R), 0);
	for (unsigned i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ R, i };
		assert_int_equal(pthread_create(&wt[i], NULL, worker_fn, &w[i]),
				 0);
	}
	assert_int_equal(pthread_create(&dt, NULL, dma_fn, R), 0);
	if (loop)
		assert_int_equal(pthread_create(&mt, NULL, mapper_fn, R), 0);
	for (unsigned i = 0; i < WORKERS; i++)
		pthread_join(wt[i], NULL);
	pthread_join(dt, NULL);
	if (loop)
		pthread_join(mt, NULL);
	R->workers_done = true;
	if (loop)
		pthread_join(lt, NULL);
	int64_t total = now_ns() - t0;
	alarm(0);
	uvfio_client_set_timeout(x->c, 5000);

	print_message("%s: %llu sync calls (max %.2f ms), %llu async reads "
		      "(max %.2f ms), %llu DMA bytes, in %.0f ms%s%s\n",
		      name, (unsigned long long)R->calls, R->max_ns / 1e6,
		      (unsigned long long)R->async_done, R->async_max_ns / 1e6,
		      (unsigned long long)R->dma_bytes, total / 1e6,
		      R->errors ? "; first failure: " : "", R->why);
	assert_int_equal(R->errors, 0);
	assert_int_equal(R->slow, 0);
	assert_true(R->calls >= (uint64_t)WORKERS * iters * 2);
	if (loop)
		assert_true(R->async_done > 0);
	assert_true(uvfio_client_connected(x->c));
	pthread_mutex_destroy(&R->why_lock);
	free(R);
}

/* The VMM's shape: vCPU threads and a main loop. */
static void test_vcpus_and_loop(void **state)
{
	run(*state, 700, 40, true, 5000, "vcpus+loop");
}

/* No loop thread: the synchronous callers alone must hand reading the
 * socket over to each other, DMA included. */
static void test_vcpus_only(void **state)
{
	run(*state, 400, 20, false, 5000, "vcpus only");
}

/* Timeout 0 (wait forever): a missed wake-up would hang; the watchdog
 * fails the test then. */
static void test_no_timeout(void **state)
{
	run(*state, 300, 15, true, 0, "no timeout");
}

int main(int argc, char **argv)
{
	dmadev_bin = argc > 1 ? argv[1] : "samples/uvfio-dmadev";
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest twin[] = {
		cmocka_unit_test(test_vcpus_and_loop),
		cmocka_unit_test(test_vcpus_only),
		cmocka_unit_test(test_no_timeout),
	};
	const struct CMUnitTest single[] = {
		cmocka_unit_test(test_vcpus_and_loop),
		cmocka_unit_test(test_no_timeout),
	};
	int r = cmocka_run_group_tests_name("threads-twin-socket", twin,
					    setup_twin, teardown);
	r |= cmocka_run_group_tests_name("threads-single-socket", single,
					 setup_single, teardown);
	return r;
}
