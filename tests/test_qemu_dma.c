/* SPDX-License-Identifier: MIT */
/*
 * Message DMA against a client that behaves as QEMU 10.2.2 does
 * (qemu_peer.c): uvfio-dmadev runs as a process, the peer's guest RAM has
 * no fd, so every transfer the device makes is a DMA_READ or DMA_WRITE
 * message in QEMU's layout.  GO=2 transfers of 4 B to 1 MiB go both ways,
 * repeated; the peer fails the test on any request it would refuse or any
 * reply it could not send whole.
 *
 * usage: test-qemu-dma PATH-TO-uvfio-dmadev
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../samples/dmadev.h"
#include "qemu_peer.h"
#include "util.h"

static const char *dmadev_bin;

#define RAM_IOVA 0x40000000ull
#define RAM_SIZE (4u << 20)
#define SRC_OFF 0u          /* pattern the device reads */
#define DST_OFF (2u << 20)  /* where the device writes it back */
#define GUARD 64u
#define EINPROGRESS_ 115u

struct fixture {
	pid_t pid;
	struct qpeer *p;
	char dir[64], path[128]; /* compat_samples() only */
};

/*
 * UVFIO_TEST_COMPAT: the device is uvfio-compat-dmadev, written against
 * libvfio-user's API (tests/meson.build), which serves only a socket path
 * it creates (no --fd) and has no DMA read budget to set.
 */
static bool compat_samples(void)
{
	const char *e = getenv("UVFIO_TEST_COMPAT");
	return e && *e && strcmp(e, "0");
}

/* The compat device on a socket file, and the peer connected to it. */
static void start_on_path(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(f->dir, "/tmp/uvfio-qdma-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/dev.sock", f->dir);
	f->pid = tu_spawn_server(dmadev_bin, f->path);
	assert_true(f->pid > 0);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	f->p = qpeer_new(fd, RAM_IOVA, RAM_SIZE);
	assert_non_null(f->p);
	assert_int_equal(qpeer_version(f->p), 0);
	assert_int_equal(qpeer_map_ram(f->p), 0);
}

/* The device on one end of a socketpair: no socket file, no start race. */
static void start(struct fixture *f, const char *budget)
{
	int sv[2];
	if (compat_samples()) {
		start_on_path(f);
		return;
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	f->pid = tu_fork(); /* killed if the test program dies */
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		char fd[16];
		int s = dup(sv[1]); /* without CLOEXEC */
		snprintf(fd, sizeof(fd), "%d", s);
		if (budget)
			execl(dmadev_bin, dmadev_bin, "--fd", fd,
			      "--dma-read-budget", budget, (char *)NULL);
		else
			execl(dmadev_bin, dmadev_bin, "--fd", fd, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	f->p = qpeer_new(sv[0], RAM_IOVA, RAM_SIZE);
	assert_non_null(f->p);
	assert_int_equal(qpeer_version(f->p), 0);
	assert_int_equal(qpeer_map_ram(f->p), 0);
}

static void stop(struct fixture *f)
{
	int status;
	qpeer_free(f->p);
	f->p = NULL;
	assert_int_equal(tu_reap(f->pid, SIGTERM, &status), f->pid);
	f->pid = 0;
	if (f->path[0]) {
		unlink(f->path);
		rmdir(f->dir);
	}
}

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct fixture));
	return *state ? 0 : -1;
}

/* Runs whatever failed: no device outlives its test. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	qpeer_free(f->p);
	if (f->pid > 0) {
		tu_reap(f->pid, SIGKILL, NULL);
	}
	if (f->path[0]) {
		unlink(f->path);
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

static void check_peer(struct qpeer *p)
{
	const char *why = qpeer_failure(p);
	if (why)
		fail_msg("the QEMU peer failed: %s", why);
}

static void wr32(struct qpeer *p, uint32_t off, uint32_t v)
{
	/* QEMU posts BAR writes. */
	assert_int_equal(qpeer_region_write(p, 0, off, &v, 4, true), 0);
}

static uint32_t rd32(struct qpeer *p, uint32_t off)
{
	uint32_t v = 0;
	assert_int_equal(qpeer_region_read(p, 0, off, &v, 4), 0);
	return v;
}

/* Program and start one transfer, then poll STATUS as dmatest does. */
static uint32_t go(struct qpeer *p, uint64_t iova, uint32_t len, uint32_t dir,
		   uint32_t how)
{
	wr32(p, REG_IOVA, (uint32_t)iova);
	wr32(p, REG_IOVA + 4, (uint32_t)(iova >> 32));
	wr32(p, REG_LEN, len);
	wr32(p, REG_COUNT, 1);
	wr32(p, REG_DIR, dir);
	wr32(p, REG_GO, how);
	uint32_t st;
	for (int i = 0; i < 20000; i++) {
		st = rd32(p, REG_STATUS);
		check_peer(p);
		if (st != EINPROGRESS_)
			return st;
		qpeer_idle(p, 2); /* the guest spins; DMA is served meanwhile */
	}
	fail_msg("transfer of %u bytes (dir %u) still running after 20000 "
		 "polls",
		 len, dir);
	return st;
}

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
}

/* BAR2 holds what the device read: compare through region reads. */
static void check_bar2(struct qpeer *p, const uint8_t *want, uint32_t len)
{
	static uint8_t got[64 << 10];
	for (uint32_t off = 0; off < len; off += sizeof(got)) {
		uint32_t n = len - off < sizeof(got) ? len - off : sizeof(got);
		assert_int_equal(qpeer_region_read(p, DMADEV_BAR2, off, got, n),
				 0);
		if (memcmp(got, want + off, n))
			fail_msg("BAR2 differs from guest memory in [%u, %u) "
				 "after a device read of %u bytes",
				 off, off + n, len);
	}
}

static void round_trips(struct fixture *f, unsigned rounds)
{
	static const uint32_t lens[] = { 4, 4096, 65536, 262144, 1u << 20 };
	uint8_t *ram = qpeer_ram(f->p);

	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			uint32_t len = lens[i];
			/* guest → device (DMA_READ) */
			fill(ram + SRC_OFF, len, r * 16 + (uint32_t)i + 1);
			assert_int_equal(go(f->p, RAM_IOVA + SRC_OFF, len, 0, 2),
					 0);
			check_bar2(f->p, ram + SRC_OFF, len);
			/* device → guest (DMA_WRITE), guard bytes around */
			memset(ram + DST_OFF - GUARD, 0xee, len + 2 * GUARD);
			assert_int_equal(go(f->p, RAM_IOVA + DST_OFF, len, 1, 2),
					 0);
			if (memcmp(ram + DST_OFF, ram + SRC_OFF, len))
				fail_msg("guest memory differs from what the "
					 "device wrote, %u bytes, round %u",
					 len, r);
			for (uint32_t g = 0; g < GUARD; g++) {
				assert_int_equal(ram[DST_OFF - GUARD + g], 0xee);
				assert_int_equal(ram[DST_OFF + len + g], 0xee);
			}
		}
	}
	check_peer(f->p);
}

static void test_go2_both_ways(void **state)
{
	struct fixture *f = *state;
	start(f, NULL);
	round_trips(f, 3);

	struct qpeer_stats st;
	qpeer_get_stats(f->p, &st);
	assert_int_equal(st.einval, 0);
	assert_int_equal(st.e2big, 0);
	assert_int_equal(st.efault, 0);
	/* 3 rounds of 4 + 4096 + 64 Ki + 256 Ki + 1 Mi each way. */
	uint64_t bytes = 3ull * (4 + 4096 + 65536 + 262144 + (1u << 20));
	assert_int_equal(st.dma_read_bytes, bytes);
	assert_int_equal(st.dma_write_bytes, bytes);
	/* What QEMU owed at once stayed within the default budget. */
	assert_true(st.max_batch_reply_bytes <= (128u << 10));
	print_message("DMA_READ %llu, DMA_WRITE %llu requests; largest batch "
		      "of DMA_READ replies %llu bytes; %llu sends found the "
		      "socket full\n",
		      (unsigned long long)st.dma_reads,
		      (unsigned long long)st.dma_writes,
		      (unsigned long long)st.max_batch_reply_bytes,
		      (unsigned long long)st.eagain);
	stop(f);
}

/* A smaller budget is kept to, and transfers still complete. */
static void test_small_budget(void **state)
{
	struct fixture *f = *state;
	/* libvfio-user's API cannot set the budget: uvfio-compat-dmadev
	 * accepts --dma-read-budget and runs with the default one. */
	if (compat_samples())
		skip();
	start(f, "16384");
	round_trips(f, 1);
	struct qpeer_stats st;
	qpeer_get_stats(f->p, &st);
	assert_true(st.max_batch_reply_bytes <= 16384);
	assert_int_equal(st.e2big + st.einval, 0);
	stop(f);
}

/*
 * GO=1 waits for its DMA inside the write's callback: QEMU would answer
 * only after that write, so the server refuses (EDEADLK) at once instead
 * of blocking the command channel, and the connection stays usable.
 */
static void test_sync_in_callback_refused(void **state)
{
	struct fixture *f = *state;
	start(f, NULL);
	assert_int_equal(go(f->p, RAM_IOVA, 4096, 0, 1), EDEADLK);
	assert_int_equal(go(f->p, RAM_IOVA, 4096, 0, 2), 0);
	check_peer(f->p);
	stop(f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-uvfio-dmadev\n", argv[0]);
		return 2;
	}
	dmadev_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_go2_both_ways, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_small_budget, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sync_in_callback_refused,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
