/* SPDX-License-Identifier: MIT */
/*
 * Tests for the DMA window table (src/dma) against real memfds, so that
 * "the pointer aliases the file", "one kernel mapping for many windows" and
 * "no fd leaks" are checked in the kernel's own books (/proc/self/fd, maps,
 * statm) rather than assumed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dma/dma.h"
#include "util.h"

#define PG 4096ull
#define RW (DMAT_READ | DMAT_WRITE)
#define R DMAT_READ
#define NWIN 65535u

/* ---- helpers ------------------------------------------------------------ */

static int new_memfd(uint64_t size)
{
	int fd = memfd_create("uvfio-dma-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static int xdup(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	assert_true(d >= 0);
	return d;
}

/* A read-only fd of the same file, as a client with a read-only section
 * would send. */
static int reopen_ro(int fd)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(r >= 0);
	return r;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static unsigned count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned n = 0;
	int c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, res;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
	struct dmat *d = calloc(1, sizeof(*d));

	if (!d || dmat_init(d, NWIN))
		return -1;
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dmat *d = *state;

	dmat_fini(d);
	free(d);
	return 0;
}

/* ---- basic mapping ------------------------------------------------------ */

static void test_map_get_put_unmap(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;
	int fd = new_memfd(16 * PG);
	char buf[8] = { 0 };

	assert_int_equal(dmat_map(d, 0x100000, 4 * PG, RW, xdup(fd),
				       2 * PG), 0);
	assert_int_equal(dmat_count(d), 1);
	assert_int_equal(dmat_file_count(d), 1);

	assert_int_equal(dmat_get(d, 0x100000 + PG + 8, 16, RW, &ref), 0);
	assert_non_null(ref.ptr);
	assert_int_equal(ref.iova, 0x100000 + PG + 8);
	assert_int_equal(ref.len, 3 * PG - 8);
	assert_int_equal(ref.prot, RW);
	memcpy(ref.ptr, "abcdefg", 8);
	/* iova + PG + 8 is file offset 2 pages + PG + 8 */
	assert_int_equal(pread(fd, buf, 8, 3 * PG + 8), 8);
	assert_string_equal(buf, "abcdefg");

	/* and the other way round: the file's bytes show through */
	assert_int_equal(pwrite(fd, "XYZ", 4, 2 * PG), 4);
	dmat_put(d, &ref);
	assert_int_equal(dmat_get(d, 0x100000, 1, R, &ref), 0);
	assert_string_equal((char *)ref.ptr, "XYZ");
	assert_int_equal(ref.len, 4 * PG);
	dmat_put(d, &ref);

	/* last byte in, one past out */
	assert_int_equal(dmat_get(d, 0x100000 + 4 * PG - 1, 1, R, &ref), 0);
	assert_int_equal(ref.len, 1);
	dmat_put(d, &ref);
	assert_int_equal(dmat_get(d, 0x100000 + 4 * PG, 1, R, &ref),
			 -ENOENT);
	assert_int_equal(dmat_get(d, 0x100000 - 1, 1, R, &ref), -ENOENT);

	assert_int_equal(dmat_unmap(d, 0x100000, 4 * PG), 0);
	assert_int_equal(dmat_count(d), 0);
	assert_int_equal(dmat_file_count(d), 0);
	assert_int_equal(dmat_get(d, 0x100000, 1, R, &ref), -ENOENT);
	close(fd);
}

static void test_message_window(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;

	assert_int_equal(dmat_map(d, 0x1000, 0x3000, RW, -1, 0), 0);
	assert_int_equal(dmat_file_count(d), 0);
	assert_int_equal(dmat_get(d, 0x2000, 0x100, DMAT_WRITE, &ref),
			 0);
	assert_null(ref.ptr);
	assert_int_equal(ref.len, 0x2000);
	dmat_put(d, &ref);
	/* identical message re-map is fine, a file-backed one on top is not */
	assert_int_equal(dmat_map(d, 0x1000, 0x3000, RW, -1, 0), 0);
	assert_int_equal(dmat_count(d), 1);
	int fd = new_memfd(0x3000);
	assert_int_equal(dmat_map(d, 0x1000, 0x3000, RW, fd, 0), -EEXIST);
	assert_true(fd_open(fd)); /* failure leaves it to the caller */
	close(fd);
	assert_int_equal(dmat_unmap(d, 0x1000, 0x3000), 0);
}

static void test_prot(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;
	int fd = new_memfd(4 * PG);

	assert_int_equal(dmat_map(d, 0, PG, R, xdup(fd), 0), 0);
	assert_int_equal(dmat_get(d, 0, 1, DMAT_WRITE, &ref),
			 -EACCES);
	assert_int_equal(dmat_get(d, 0, 1, RW, &ref), -EACCES);
	assert_int_equal(dmat_get(d, 0, 1, R, &ref), 0);
	dmat_put(d, &ref);

	assert_int_equal(dmat_map(d, PG, PG, DMAT_WRITE, xdup(fd),
				       PG), 0);
	assert_int_equal(dmat_get(d, PG, 1, R, &ref), -EACCES);
	assert_int_equal(dmat_get(d, PG, 1, DMAT_WRITE, &ref), 0);
	dmat_put(d, &ref);

	/* unknown bits */
	assert_int_equal(dmat_map(d, 2 * PG, PG, 4, -1, 0), -EINVAL);
	assert_int_equal(dmat_unmap_all(d), 2);
	close(fd);
}

static void test_bad_args(void **state)
{
	struct dmat *d = *state;
	int fd = new_memfd(4 * PG);

	assert_int_equal(dmat_map(d, 0, 0, RW, -1, 0), -EINVAL);
	/* wraps */
	assert_int_equal(dmat_map(d, UINT64_MAX - PG + 2, PG, RW, -1, 0),
			 -EINVAL);
	assert_int_equal(dmat_map(d, 0, PG, RW, fd, UINT64_MAX - 10),
			 -EINVAL);
	/* ends exactly at 2^64: allowed */
	assert_int_equal(dmat_map(d, UINT64_MAX - PG + 1, PG, RW, -1, 0),
			 0);
	assert_int_equal(dmat_unmap(d, UINT64_MAX - PG + 1, PG), 0);
	/* above max_window */
	assert_int_equal(dmat_map(d, 0, (1ull << 40) + 1, RW, -1, 0),
			 -E2BIG);
	assert_int_equal(dmat_map(d, 0, 1ull << 40, RW, -1, 0), 0);
	assert_int_equal(dmat_unmap(d, 0, 1ull << 40), 0);
	/* beyond the end of the file: SIGBUS territory */
	assert_int_equal(dmat_map(d, 0, 4 * PG, RW, fd, PG), -EINVAL);
	assert_int_equal(dmat_map(d, 0, 5 * PG, RW, fd, 0), -EINVAL);
	assert_int_equal(dmat_map(d, 0, 1, RW, fd, 4 * PG), -EINVAL);
	assert_true(fd_open(fd));
	assert_int_equal(dmat_count(d), 0);
	assert_int_equal(dmat_file_count(d), 0);
	/* the very last byte is fine */
	assert_int_equal(dmat_map(d, 0, 1, RW, fd, 4 * PG - 1), 0);
	assert_int_equal(dmat_unmap(d, 0, 1), 0);
}

static void test_overlap(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;

	assert_int_equal(dmat_map(d, 0x10000, 0x4000, RW, -1, 0), 0);
	/* same start, other size */
	assert_int_equal(dmat_map(d, 0x10000, 0x1000, RW, -1, 0), -EEXIST);
	assert_int_equal(dmat_map(d, 0x10000, 0x8000, RW, -1, 0), -EEXIST);
	/* same range, other prot: not identical */
	assert_int_equal(dmat_map(d, 0x10000, 0x4000, R, -1, 0), -EEXIST);
	/* inside */
	assert_int_equal(dmat_map(d, 0x11000, 0x1000, RW, -1, 0), -EEXIST);
	/* covering */
	assert_int_equal(dmat_map(d, 0xf000, 0x6000, RW, -1, 0), -EEXIST);
	/* straddling start and end */
	assert_int_equal(dmat_map(d, 0xf000, 0x1001, RW, -1, 0), -EEXIST);
	assert_int_equal(dmat_map(d, 0x13fff, 0x2000, RW, -1, 0), -EEXIST);
	assert_int_equal(dmat_count(d), 1);
	/* exactly adjacent on both sides */
	assert_int_equal(dmat_map(d, 0xf000, 0x1000, R, -1, 0), 0);
	assert_int_equal(dmat_map(d, 0x14000, 0x1000, R, -1, 0), 0);
	assert_int_equal(dmat_count(d), 3);
	/* a gap filler that touches both neighbours only by its edges */
	assert_int_equal(dmat_map(d, 0x20000, 0x1000, R, -1, 0), 0);
	assert_int_equal(dmat_map(d, 0x15000, 0xb000, R, -1, 0), 0);
	assert_int_equal(dmat_map(d, 0x15000, 0xb001, R, -1, 0), -EEXIST);

	assert_int_equal(dmat_get(d, 0xffff, 1, R, &ref), 0);
	assert_int_equal(ref.len, 1);
	dmat_put(d, &ref);
	assert_int_equal(dmat_get(d, 0x14000, 1, R, &ref), 0);
	assert_int_equal(ref.len, 0x1000);
	dmat_put(d, &ref);

	/* unmap must match exactly */
	assert_int_equal(dmat_unmap(d, 0x10000, 0x1000), -ENOENT);
	assert_int_equal(dmat_unmap(d, 0x11000, 0x3000), -ENOENT);
	assert_int_equal(dmat_unmap(d, 0x10000, 0x5000), -ENOENT);
	assert_int_equal(dmat_unmap(d, 0x30000, 0x1000), -ENOENT);
	assert_int_equal(dmat_count(d), 5);
	assert_int_equal(dmat_unmap(d, 0x10000, 0x4000), 0);
	assert_int_equal(dmat_get(d, 0x12000, 1, R, &ref), -ENOENT);
	assert_int_equal(dmat_unmap_all(d), 4);
	assert_int_equal(dmat_count(d), 0);
	assert_int_equal(dmat_get(d, 0xf000, 1, R, &ref), -ENOENT);
	assert_int_equal(dmat_unmap_all(d), 0);
}

static void test_identical_remap(void **state)
{
	struct dmat *d = *state;
	int fd = new_memfd(8 * PG);
	unsigned base = (unsigned)tu_fd_count(0);
	int a = xdup(fd), b = xdup(fd), c = xdup(fd), e = xdup(fd);

	assert_int_equal((unsigned)tu_fd_count(0), base + 4);
	assert_int_equal(dmat_map(d, 0x4000, 2 * PG, RW, a, PG), 0);
	assert_true(fd_open(a)); /* kept by the mapping */
	assert_int_equal(dmat_map(d, 0x4000, 2 * PG, RW, b, PG), 0);
	assert_false(fd_open(b)); /* consumed */
	assert_int_equal((unsigned)tu_fd_count(0), base + 3);
	assert_int_equal(dmat_count(d), 1);
	/* other offset or other file: not identical */
	assert_int_equal(dmat_map(d, 0x4000, 2 * PG, RW, c, 0), -EEXIST);
	assert_true(fd_open(c));
	int other = new_memfd(8 * PG);
	assert_int_equal(dmat_map(d, 0x4000, 2 * PG, RW, other, PG),
			 -EEXIST);
	close(other);
	/* a second window of the same file: its fd is a duplicate */
	assert_int_equal(dmat_map(d, 0x10000, PG, RW, e, 0), 0);
	assert_false(fd_open(e));
	assert_int_equal(dmat_file_count(d), 1);
	assert_int_equal((unsigned)tu_fd_count(0), base + 2); /* a and c */
	close(c);
	assert_int_equal(dmat_unmap_all(d), 2);
	assert_false(fd_open(a));
	assert_int_equal((unsigned)tu_fd_count(0), base);
	close(fd);
}

static void test_read_only_fd(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;
	int fd = new_memfd(4 * PG);
	int ro = reopen_ro(fd);

	assert_int_equal(pwrite(fd, "ro!", 4, PG), 4);
	assert_int_equal(dmat_map(d, 0, 2 * PG, RW, ro, 0), -EACCES);
	assert_int_equal(dmat_map(d, 0, 2 * PG, DMAT_WRITE, ro, 0),
			 -EACCES);
	assert_true(fd_open(ro));
	assert_int_equal(dmat_map(d, 0, 2 * PG, R, ro, 0), 0);
	assert_int_equal(dmat_get(d, PG, 4, R, &ref), 0);
	assert_string_equal((char *)ref.ptr, "ro!");
	dmat_put(d, &ref);

	/* A later RW fd of the same file may upgrade the shared mapping
	 * (nothing held), so both windows share one RW mapping. */
	assert_int_equal(dmat_map(d, 4 * PG, 2 * PG, RW, xdup(fd), 2 * PG),
			 0);
	assert_int_equal(dmat_file_count(d), 1);
	assert_false(fd_open(ro)); /* the RW fd is the one kept */
	assert_int_equal(dmat_get(d, 4 * PG, 4, DMAT_WRITE, &ref), 0);
	memcpy(ref.ptr, "rw", 3);
	dmat_put(d, &ref);
	/* the first window still reads the same file, and is still R only */
	assert_int_equal(dmat_get(d, 0, 1, DMAT_WRITE, &ref),
			 -EACCES);
	assert_int_equal(dmat_get(d, PG, 4, R, &ref), 0);
	assert_string_equal((char *)ref.ptr, "ro!");
	dmat_put(d, &ref);
	char buf[3];
	assert_int_equal(pread(fd, buf, 3, 2 * PG), 3);
	assert_string_equal(buf, "rw");
	assert_int_equal(dmat_unmap_all(d), 2);
	close(fd);
}

/* The file grows while a reference is held: the new window gets its own
 * mapping and the old one stays valid for the holder. */
static void test_file_growth(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref a, b;
	int fd = new_memfd(2 * PG);
	unsigned base = (unsigned)tu_fd_count(0);

	assert_int_equal(dmat_map(d, 0, 2 * PG, RW, xdup(fd), 0), 0);
	assert_int_equal(dmat_get(d, 0, 1, RW, &a), 0);
	*(char *)a.ptr = 'A';

	assert_int_equal(ftruncate(fd, 8 * PG), 0);
	assert_int_equal(dmat_map(d, 0x100000, 4 * PG, RW, xdup(fd),
				       4 * PG), 0);
	assert_int_equal(dmat_file_count(d), 2); /* held: not replaced */
	assert_int_equal(dmat_get(d, 0x100000, 1, RW, &b), 0);
	*(char *)b.ptr = 'B';
	assert_int_equal(*(char *)a.ptr, 'A'); /* old pointer still good */
	dmat_put(d, &b);
	dmat_put(d, &a);

	/* next window of that file shares the newest mapping */
	assert_int_equal(dmat_map(d, 0x200000, PG, RW, xdup(fd), 7 * PG),
			 0);
	assert_int_equal(dmat_file_count(d), 2);
	assert_int_equal((unsigned)tu_fd_count(0), base + 2);

	/* nothing held now: growing again replaces the current mapping */
	assert_int_equal(ftruncate(fd, 16 * PG), 0);
	assert_int_equal(dmat_map(d, 0x300000, PG, RW, xdup(fd), 15 * PG),
			 0);
	assert_int_equal(dmat_file_count(d), 2);
	assert_int_equal((unsigned)tu_fd_count(0), base + 2);
	assert_int_equal(dmat_get(d, 0x100000, 1, R, &b), 0);
	assert_int_equal(*(char *)b.ptr, 'B'); /* remapped, same bytes */
	dmat_put(d, &b);

	char c;
	assert_int_equal(pread(fd, &c, 1, 4 * PG), 1);
	assert_int_equal(c, 'B');

	assert_int_equal(dmat_unmap(d, 0, 2 * PG), 0);
	assert_int_equal(dmat_file_count(d), 1);
	assert_int_equal((unsigned)tu_fd_count(0), base + 1);
	assert_int_equal(dmat_unmap_all(d), 3);
	assert_int_equal(dmat_file_count(d), 0);
	assert_int_equal((unsigned)tu_fd_count(0), base);
	close(fd);
}

static void test_shared_file(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;
	int fd = new_memfd(8 * PG);
	unsigned maps = count_maps();

	assert_int_equal(dmat_map(d, 0x10000, 2 * PG, RW, xdup(fd), 0), 0);
	assert_int_equal(dmat_map(d, 0x80000, 2 * PG, RW, xdup(fd),
				       4 * PG), 0);
	assert_int_equal(dmat_file_count(d), 1);
	assert_true(count_maps() <= maps + 1);

	assert_int_equal(dmat_unmap(d, 0x10000, 2 * PG), 0);
	assert_int_equal(dmat_file_count(d), 1);
	assert_int_equal(dmat_get(d, 0x80000 + PG, 8, RW, &ref), 0);
	memcpy(ref.ptr, "still", 6);
	dmat_put(d, &ref);
	char buf[6];
	assert_int_equal(pread(fd, buf, 6, 5 * PG), 6);
	assert_string_equal(buf, "still");

	assert_int_equal(dmat_unmap(d, 0x80000, 2 * PG), 0);
	assert_int_equal(dmat_file_count(d), 0);
	assert_true(count_maps() <= maps);
	close(fd);
}

/* A socket is not a regular file: mapped per window, and mmap's error
 * comes back. */
static void test_non_regular_fd(void **state)
{
	struct dmat *d = *state;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	int ret = dmat_map(d, 0, PG, RW, sv[0], 0);
	assert_true(ret < 0);
	assert_int_not_equal(ret, -EEXIST);
	assert_true(fd_open(sv[0]));
	assert_int_equal(dmat_count(d), 0);
	assert_int_equal(dmat_file_count(d), 0);
	close(sv[0]);
	close(sv[1]);
}

/* ---- scale -------------------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_many_windows(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref, ref0;
	const uint64_t base_iova = 0x100000000ull;
	/* a gap of one page after each window so misses are tested too */
	const uint64_t stride = 2 * PG;
	int fd = new_memfd(256ull << 20);
	unsigned fds0 = (unsigned)tu_fd_count(0), maps0 = count_maps();
	uint64_t rss0 = rss_bytes();
	double t0, t_map, t_get, t_unmap;
	uint32_t i;

	/* Insert in a scrambled order so the tree is not fed sorted keys
	 * only (it must balance either way). */
	t0 = now();
	for (i = 0; i < NWIN; i++) {
		/* 40507 is coprime with 65535: a permutation */
		uint32_t k = (uint32_t)(((uint64_t)i * 40507u) % NWIN);
		int dup = xdup(fd);

		if (dmat_map(d, base_iova + k * stride, PG, RW, dup,
				  (uint64_t)k * PG))
			fail_msg("map %u failed", k);
	}
	t_map = now() - t0;

	uint64_t rss = rss_bytes() - rss0;
	unsigned maps = count_maps();
	assert_int_equal(dmat_count(d), NWIN);
	assert_int_equal(dmat_file_count(d), 1);
	assert_int_equal((unsigned)tu_fd_count(0), fds0 + 1);
	assert_true(maps <= maps0 + 4);
	assert_true(rss < (32ull << 20));

	/* one past the limit */
	int extra = xdup(fd);
	assert_int_equal(dmat_map(d, base_iova + NWIN * stride, PG, RW,
				       extra, 0), -ENOSPC);
	assert_true(fd_open(extra));
	close(extra);
	/* an identical re-map is still fine at the limit */
	assert_int_equal(dmat_map(d, base_iova, PG, RW, xdup(fd), 0), 0);

	assert_int_equal(dmat_get(d, base_iova, 1, R, &ref0), 0);
	uint8_t *p0 = ref0.ptr;
	dmat_put(d, &ref0);

	t0 = now();
	for (i = 0; i < 4 * NWIN; i++) {
		uint64_t k = rnd() % NWIN, in = rnd() % stride;
		uint64_t iova = base_iova + k * stride + in;
		int ret = dmat_get(d, iova, 1, R, &ref);

		if (in >= PG) {
			if (ret != -ENOENT)
				fail_msg("hit in gap at %#llx: %d",
					 (unsigned long long)iova, ret);
			continue;
		}
		if (ret || ref.ptr != p0 + k * PG + in || ref.len != PG - in)
			fail_msg("lookup %#llx wrong", (unsigned long long)iova);
		dmat_put(d, &ref);
	}
	t_get = now() - t0;

	/* a few real accesses through the shared mapping */
	for (i = 0; i < 64; i++) {
		uint64_t k = rnd() % NWIN, v = rnd(), got = 0;

		assert_int_equal(dmat_get(d, base_iova + k * stride + 8, 8,
					       DMAT_WRITE, &ref), 0);
		memcpy(ref.ptr, &v, 8);
		dmat_put(d, &ref);
		assert_int_equal(pread(fd, &got, 8, (off_t)(k * PG + 8)), 8);
		assert_int_equal(got, v);
	}

	/* Remove half one by one (in another scrambled order), the rest
	 * with unmap_all. */
	t0 = now();
	for (i = 0; i < NWIN; i++) {
		uint32_t k = (uint32_t)(((uint64_t)i * 7919u) % NWIN);

		if (k & 1)
			continue;
		if (dmat_unmap(d, base_iova + k * stride, PG))
			fail_msg("unmap %u failed", k);
	}
	assert_int_equal(dmat_count(d), NWIN - (NWIN + 1) / 2);
	assert_int_equal(dmat_get(d, base_iova, 1, R, &ref), -ENOENT);
	assert_int_equal(dmat_get(d, base_iova + stride, 1, R, &ref), 0);
	dmat_put(d, &ref);
	assert_int_equal(dmat_file_count(d), 1);
	assert_int_equal(dmat_unmap_all(d), NWIN / 2);
	t_unmap = now() - t0;

	assert_int_equal(dmat_count(d), 0);
	assert_int_equal(dmat_file_count(d), 0);
	assert_int_equal((unsigned)tu_fd_count(0), fds0);
	print_message("65535 windows: map %.1f ms, 262140 lookups %.1f ms, "
		      "unmap %.1f ms; RSS +%.2f MiB; maps +%d\n",
		      t_map * 1e3, t_get * 1e3, t_unmap * 1e3,
		      (double)rss / (1 << 20), (int)maps - (int)maps0);
	assert_true(t_map < 1.0);
	assert_true(t_get < 1.0);
	assert_true(t_unmap < 1.0);
	close(fd);
}

/*
 * Sorted insertion is the worst case for an unbalanced tree (a 65535-long
 * chain, about 2e9 steps): if either rotation were wrong, this would take
 * seconds instead of milliseconds.
 */
static void test_sorted_order(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;
	double t0 = now();
	uint32_t i;

	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < NWIN; i++) {
			uint64_t k = pass ? NWIN - 1 - i : i;

			if (dmat_map(d, k * PG, PG, RW, -1, 0))
				fail_msg("map %llu", (unsigned long long)k);
		}
		for (i = 0; i < NWIN; i += 97) {
			assert_int_equal(dmat_get(d, (uint64_t)i * PG + 5, 1,
						       R, &ref), 0);
			assert_int_equal(ref.len, PG - 5);
			assert_null(ref.ptr);
			dmat_put(d, &ref);
		}
		/* remove in the same order: drains one side of the tree */
		for (i = 0; i < NWIN; i++) {
			uint64_t k = pass ? NWIN - 1 - i : i;

			if (dmat_unmap(d, k * PG, PG))
				fail_msg("unmap %llu", (unsigned long long)k);
		}
		assert_int_equal(dmat_count(d), 0);
	}
	double t = now() - t0;

	print_message("sorted: 2 x 65535 maps/unmaps %.1f ms\n", t * 1e3);
	assert_true(t < 1.0);
}

/* ---- references across threads ----------------------------------------- */

struct holder {
	struct dmat *d;
	uint64_t iova;
	atomic_bool got, go, put;
	atomic_int ret;
};

static void *holder_fn(void *arg)
{
	struct holder *h = arg;
	struct dmat_ref ref;
	int ret = dmat_get(h->d, h->iova, 1, RW, &ref);

	atomic_store(&h->ret, ret);
	atomic_store(&h->got, true);
	if (ret)
		return NULL;
	while (!atomic_load(&h->go))
		usleep(1000);
	/* The main thread is entering unmap now: an unmap that does not wait
	 * returns well within this sleep, before "put" is set. */
	usleep(100 * 1000);
	*(volatile char *)ref.ptr = 'h'; /* still mapped */
	atomic_store(&h->put, true);
	dmat_put(h->d, &ref);
	return NULL;
}

static void start_holder(struct holder *h, pthread_t *t)
{
	assert_int_equal(pthread_create(t, NULL, holder_fn, h), 0);
	while (!atomic_load(&h->got))
		usleep(1000);
	assert_int_equal(atomic_load(&h->ret), 0);
	atomic_store(&h->go, true);
}

static void test_unmap_waits_for_ref(void **state)
{
	struct dmat *d = *state;
	struct dmat_ref ref;
	struct holder h = { .d = d, .iova = 0x5000 };
	pthread_t t;
	int fd = new_memfd(4 * PG);

	assert_int_equal(dmat_map(d, 0x4000, 2 * PG, RW, xdup(fd), 0), 0);
	start_holder(&h, &t);
	assert_int_equal(dmat_unmap(d, 0x4000, 2 * PG), 0);
	assert_true(atomic_load(&h.put));
	assert_int_equal(dmat_get(d, 0x5000, 1, R, &ref), -ENOENT);
	assert_int_equal(dmat_file_count(d), 0);
	pthread_join(t, NULL);

	char c;
	assert_int_equal(pread(fd, &c, 1, PG), 1);
	assert_int_equal(c, 'h');

	/* unmap_all waits the same way */
	struct holder h2 = { .d = d, .iova = 0x9000 };
	assert_int_equal(dmat_map(d, 0x8000, 2 * PG, RW, xdup(fd), 0), 0);
	assert_int_equal(dmat_map(d, 0x1000, PG, RW, -1, 0), 0);
	start_holder(&h2, &t);
	assert_int_equal(dmat_unmap_all(d), 2);
	assert_true(atomic_load(&h2.put));
	assert_int_equal(dmat_get(d, 0x9000, 1, R, &ref), -ENOENT);
	pthread_join(t, NULL);
	close(fd);
}

/* Lookups from several threads while windows come and go: under ASan/TSan
 * this is where a missing lock or a use-after-free would show. */
struct churn {
	struct dmat *d;
	atomic_bool stop;
	atomic_ulong hits;
};

static void *reader_fn(void *arg)
{
	struct churn *c = arg;
	struct dmat_ref ref;
	uint64_t x = (uintptr_t)&ref | 1;

	while (!atomic_load(&c->stop)) {
		uint64_t k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x % 64;

		if (!dmat_get(c->d, k * PG, 1, RW, &ref)) {
			/* atomic: the readers share these bytes */
			__atomic_fetch_add((char *)ref.ptr, 1,
					   __ATOMIC_RELAXED);
			dmat_put(c->d, &ref);
			atomic_fetch_add(&c->hits, 1);
		}
	}
	return NULL;
}

static void test_concurrent_churn(void **state)
{
	struct dmat *d = *state;
	struct churn c = { .d = d };
	pthread_t t[3];
	int fd = new_memfd(64 * PG);
	unsigned fds0 = (unsigned)tu_fd_count(0);

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_fn, &c), 0);
	for (int round = 0; round < 2000; round++) {
		uint64_t k = (uint64_t)round % 64;

		assert_int_equal(dmat_map(d, k * PG, PG, RW, xdup(fd),
					       k * PG), 0);
		if (round % 3 == 2 && k != 0)
			assert_int_equal(dmat_unmap(d, ((uint64_t)round - 1)
							 % 64 * PG, PG), 0);
		if (k == 63)
			dmat_unmap_all(d);
	}
	/* On a loaded machine the readers may not have run yet: leave every
	 * window mapped until one of them has found one (bounded). */
	dmat_unmap_all(d);
	for (uint64_t k = 0; k < 64; k++)
		assert_int_equal(dmat_map(d, k * PG, PG, RW, xdup(fd),
					       k * PG), 0);
	for (int i = 0; i < 2000 && !atomic_load(&c.hits); i++)
		usleep(1000);
	atomic_store(&c.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	dmat_unmap_all(d);
	assert_int_equal(dmat_file_count(d), 0);
	assert_int_equal((unsigned)tu_fd_count(0), fds0);
	assert_true(atomic_load(&c.hits) > 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_map_get_put_unmap),
		T(test_message_window),
		T(test_prot),
		T(test_bad_args),
		T(test_overlap),
		T(test_identical_remap),
		T(test_read_only_fd),
		T(test_file_growth),
		T(test_shared_file),
		T(test_non_regular_fd),
		T(test_many_windows),
		T(test_sorted_order),
		T(test_unmap_waits_for_ref),
		T(test_concurrent_churn),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
