/* SPDX-License-Identifier: MIT */
/*
 * A device DMA that fails must not half-happen: the whole range is checked
 * against the client's windows before a byte moves, on the fd-backed path
 * (a memory copy) and on the message path (DMA_READ/DMA_WRITE), for the
 * synchronous and the asynchronous calls.  A failure found then is
 * returned and the async completion is not called (server.h).
 *
 * In-process: the server on its built-in loop in one thread, our client
 * with a loop thread of its own, the test's thread making the device's
 * DMA calls.  Connected through a socketpair: no socket file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "loops.h"

#define WIN (64u << 10)
#define FD_IOVA 0x10000000ull   /* fd-backed window */
#define MSG_IOVA (FD_IOVA + WIN) /* message-only window right after it */
#define OPS_IOVA 0x30000000ull  /* message-only window served by callbacks */
#define RO_IOVA 0x40000000ull   /* fd-backed, read-only for the device */

struct t {
	struct uvfio_server *srv;
	struct uvfio_client *cli;
	struct tu_server_thread srv_loop;
	struct tu_client_loop cl;
	int memfd;
	uint8_t *fdmem, *msgmem, *romem;
	unsigned ops_reads, ops_writes;
	int done_calls, done_result;
};

static int ops_read(void *o, uint64_t iova, void *buf, size_t len)
{
	struct t *t = o;
	(void)iova;
	memset(buf, 0x5a, len);
	__atomic_add_fetch(&t->ops_reads, 1, __ATOMIC_RELAXED);
	return 0;
}

static int ops_write(void *o, uint64_t iova, const void *buf, size_t len)
{
	struct t *t = o;
	(void)iova, (void)buf, (void)len;
	__atomic_add_fetch(&t->ops_writes, 1, __ATOMIC_RELAXED);
	return 0;
}

static const struct uvfio_client_dma_ops ops = { ops_read, ops_write };

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_server_create_fd(&t->srv, sv[0], 0), 0);
	uvfio_server_set_log(t->srv, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_server_setup_region(t->srv, 0, 4096,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   NULL, NULL),
			 0);
	assert_int_equal(tu_server_thread_start(&t->srv_loop, t->srv), 0);

	assert_int_equal(uvfio_client_create(&t->cli), 0);
	uvfio_client_set_log(t->cli, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_adopt_fd(t->cli, sv[1]), 0);

	/* Guest memory: a memfd holding the fd-backed window and the
	 * read-only one, and plain memory for the message-only window. */
	t->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(t->memfd >= 0);
	assert_int_equal(ftruncate(t->memfd, 2 * WIN), 0);
	t->fdmem = mmap(NULL, 2 * WIN, PROT_READ | PROT_WRITE, MAP_SHARED,
			t->memfd, 0);
	assert_true(t->fdmem != MAP_FAILED);
	t->romem = t->fdmem + WIN;
	t->msgmem = calloc(1, WIN);
	const uint32_t rw = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE;
	assert_int_equal(uvfio_client_dma_map(t->cli, FD_IOVA, WIN, rw,
					      t->fdmem, t->memfd, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(t->cli, MSG_IOVA, WIN, rw,
					      t->msgmem, -1, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map_ops(t->cli, OPS_IOVA, WIN, rw,
						  &ops, t),
			 0);
	assert_int_equal(uvfio_client_dma_map(t->cli, RO_IOVA, WIN,
					      UVFIO_DMA_MAP_READ, t->romem,
					      t->memfd, WIN),
			 0);
	assert_int_equal(tu_client_loop_start(&t->cl, t->cli), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	tu_client_loop_stop(&t->cl);
	uvfio_client_destroy(t->cli);
	tu_server_thread_stop(&t->srv_loop);
	uvfio_server_destroy(t->srv);
	munmap(t->fdmem, 2 * WIN);
	close(t->memfd);
	free(t->msgmem);
	free(t);
	return 0;
}

static void on_done(void *o, int result)
{
	struct t *t = o;
	__atomic_store_n(&t->done_result, result, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->done_calls, 1, __ATOMIC_RELEASE);
}

/* An async transfer that must complete: wait for its done(). */
static int async_ok(struct t *t, uint64_t iova, void *buf, size_t len,
		    bool write)
{
	int before = __atomic_load_n(&t->done_calls, __ATOMIC_ACQUIRE);
	int r = write ? uvfio_server_dma_write_async(t->srv, iova, buf, len,
						     on_done, t)
		      : uvfio_server_dma_read_async(t->srv, iova, buf, len,
						    on_done, t);
	if (r)
		return r;
	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&t->done_calls, __ATOMIC_ACQUIRE) != before)
			return __atomic_load_n(&t->done_result,
					       __ATOMIC_RELAXED);
		usleep(1000);
	}
	fail_msg("async DMA of %zu bytes at 0x%llx never completed", len,
		 (unsigned long long)iova);
	return -ETIMEDOUT;
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/*
 * Each failing write names a range that starts in mapped memory and runs
 * past it: the fd-backed window alone, fd-backed then message-only then
 * nothing, the message-only one alone.  Nothing of any may land.
 */
static void test_write_past_end_writes_nothing(void **state)
{
	struct t *t = *state;
	size_t big = 3 * WIN;
	uint8_t *src = malloc(big);
	memset(src, 0xab, big);
	struct {
		uint64_t iova;
		size_t len;
	} bad[] = {
		{ FD_IOVA + WIN - 4096, 8192 + WIN },  /* fd, msg, gap */
		{ FD_IOVA, 2 * WIN + 1 },               /* both, then 1 byte */
		{ MSG_IOVA + 100, WIN },               /* msg, then gap */
		{ OPS_IOVA, WIN + 4096 },              /* callbacks, gap */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(t->fdmem, 0, WIN);
		memset(t->msgmem, 0, WIN);
		int calls = t->done_calls;
		assert_int_equal(uvfio_server_dma_write(t->srv, bad[i].iova, src,
							bad[i].len),
				 -ENOENT);
		assert_int_equal(uvfio_server_dma_write_async(
					 t->srv, bad[i].iova, src, bad[i].len,
					 on_done, t),
				 -ENOENT);
		usleep(20000); /* a stray message would have arrived by now */
		if (!all(t->fdmem, WIN, 0) || !all(t->msgmem, WIN, 0))
			fail_msg("a write of %zu bytes at 0x%llx that failed "
				 "left bytes in guest memory",
				 bad[i].len, (unsigned long long)bad[i].iova);
		assert_int_equal(t->done_calls, calls); /* done not called */
		assert_int_equal(t->ops_writes, 0);
	}

	/* A window without the write right: -EACCES, nothing written,
	 * including the fd-backed part before it. */
	assert_int_equal(uvfio_server_dma_write(t->srv, RO_IOVA, src, 4096),
			 -EACCES);
	assert_true(all(t->romem, WIN, 0));

	/* The control: the same ranges cut to what is mapped do land, by
	 * both paths, so the checks above can fail. */
	assert_int_equal(uvfio_server_dma_write(t->srv, FD_IOVA + WIN - 4096,
						src, 8192),
			 0);
	assert_true(all(t->fdmem + WIN - 4096, 4096, 0xab));
	assert_true(all(t->msgmem, 4096, 0xab));
	memset(t->msgmem, 0, WIN);
	assert_int_equal(async_ok(t, MSG_IOVA + 100, src, WIN - 100, true), 0);
	assert_true(all(t->msgmem + 100, WIN - 100, 0xab));
	assert_int_equal(async_ok(t, OPS_IOVA, src, WIN, true), 0);
	assert_true(t->ops_writes > 0);
	free(src);
}

/* Reads likewise: the caller's buffer is left alone and no DMA_READ
 * message goes out. */
static void test_read_past_end_reads_nothing(void **state)
{
	struct t *t = *state;
	size_t big = 2 * WIN + 4096;
	uint8_t *dst = malloc(big);
	memset(t->fdmem, 0x11, WIN);
	memset(t->msgmem, 0x22, WIN);
	memset(dst, 0, big);
	assert_int_equal(uvfio_server_dma_read(t->srv, FD_IOVA, dst, big),
			 -ENOENT);
	assert_int_equal(uvfio_server_dma_read_async(t->srv, FD_IOVA, dst, big,
						     on_done, t),
			 -ENOENT);
	assert_int_equal(uvfio_server_dma_read(t->srv, OPS_IOVA + WIN - 8, dst,
					       16),
			 -ENOENT);
	usleep(20000);
	assert_true(all(dst, big, 0));
	assert_int_equal(t->ops_reads, 0);

	/* control */
	assert_int_equal(uvfio_server_dma_read(t->srv, FD_IOVA, dst, 2 * WIN),
			 0);
	assert_true(all(dst, WIN, 0x11));
	assert_true(all(dst + WIN, WIN, 0x22));
	assert_int_equal(async_ok(t, OPS_IOVA, dst, 4096, false), 0);
	assert_true(all(dst, 4096, 0x5a));
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_write_past_end_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_read_past_end_reads_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
