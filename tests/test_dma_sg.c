/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy DMA (server.h, uvfio_server_dma_addr_to_sg and the sg calls):
 * entries per window crossed, ranges checked whole before anything is
 * described, mappings that the client's unmap and disconnect wait for,
 * dirty marking for the client's logging, and the message fallback.
 *
 * In-process as test_dma_atomic.c: the server on its built-in loop, our
 * client with a loop thread, the test's thread acting as the device.
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
#include <sys/uio.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "loops.h"

#define WIN (64u << 10)
#define PG 4096u
#define A_IOVA 0x10000000ull    /* fd-backed, memfd [0, WIN) */
#define B_IOVA (A_IOVA + WIN)   /* fd-backed, memfd [WIN, 2 WIN) */
#define C_IOVA (B_IOVA + WIN)   /* message-only, then a hole */
#define RO_IOVA 0x40000000ull   /* fd-backed, read-only: memfd [2 WIN, 3 WIN) */
#define RW (UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)

struct t {
	struct uvfio_server *srv;
	struct uvfio_client *cli;
	struct tu_server_thread srv_loop;
	struct tu_client_loop cl;
	int memfd;
	uint8_t *fdmem, *msgmem;
	int unmaps, disconnects;
};

static void on_unmap(void *o, uint64_t iova, uint64_t size)
{
	struct t *t = o;
	(void)iova, (void)size;
	__atomic_add_fetch(&t->unmaps, 1, __ATOMIC_RELEASE);
}

static void on_disconnected(void *o)
{
	struct t *t = o;
	__atomic_add_fetch(&t->disconnects, 1, __ATOMIC_RELEASE);
}

/* Dirty logging comes with migration: a device that has nothing to save. */
static int mig_transition(void *o, enum uvfio_mig_state from,
			  enum uvfio_mig_state to)
{
	(void)o, (void)from, (void)to;
	return 0;
}

static ssize_t mig_read(void *o, void *buf, size_t len)
{
	(void)o, (void)buf, (void)len;
	return 0;
}

static ssize_t mig_write(void *o, const void *buf, size_t len)
{
	(void)o, (void)buf;
	return (ssize_t)len;
}

static void server_up(struct t *t, int fd)
{
	static const struct uvfio_device_ops ops = {
		.struct_size = sizeof(struct uvfio_device_ops),
		.dma_unmap = on_unmap,
		.disconnected = on_disconnected,
	};
	static const struct uvfio_migration_ops mops = {
		.struct_size = sizeof(struct uvfio_migration_ops),
		.transition = mig_transition,
		.read_data = mig_read,
		.write_data = mig_write,
	};
	assert_int_equal(uvfio_server_create_fd(&t->srv, fd, 0), 0);
	uvfio_server_set_log(t->srv, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_server_setup_region(t->srv, 0, 4096,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   NULL, NULL),
			 0);
	assert_int_equal(uvfio_server_set_ops(t->srv, &ops, t), 0);
	assert_int_equal(uvfio_server_set_migration(t->srv, &mops, t,
						    UVFIO_MIGRATION_STOP_COPY),
			 0);
	assert_int_equal(tu_server_thread_start(&t->srv_loop, t->srv), 0);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	server_up(t, sv[0]);
	assert_int_equal(uvfio_client_create(&t->cli), 0);
	uvfio_client_set_log(t->cli, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_adopt_fd(t->cli, sv[1]), 0);

	t->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(t->memfd >= 0);
	assert_int_equal(ftruncate(t->memfd, 3 * WIN), 0);
	t->fdmem = mmap(NULL, 3 * WIN, PROT_READ | PROT_WRITE, MAP_SHARED,
			t->memfd, 0);
	assert_true(t->fdmem != MAP_FAILED);
	t->msgmem = calloc(1, WIN);
	assert_int_equal(uvfio_client_dma_map(t->cli, A_IOVA, WIN, RW,
					      t->fdmem, t->memfd, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(t->cli, B_IOVA, WIN, RW,
					      t->fdmem + WIN, t->memfd, WIN),
			 0);
	assert_int_equal(uvfio_client_dma_map(t->cli, C_IOVA, WIN, RW,
					      t->msgmem, -1, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(t->cli, RO_IOVA, WIN,
					      UVFIO_DMA_MAP_READ,
					      t->fdmem + 2 * WIN, t->memfd,
					      2 * WIN),
			 0);
	assert_int_equal(tu_client_loop_start(&t->cl, t->cli), 0);
	*state = t;
	return 0;
}

/* The client goes away (its loop stopped first: it uses the handle). */
static void client_gone(struct t *t)
{
	tu_client_loop_stop(&t->cl);
	uvfio_client_destroy(t->cli);
	t->cli = NULL;
}

static int teardown(void **state)
{
	struct t *t = *state;
	if (t->cli)
		client_gone(t);
	tu_server_thread_stop(&t->srv_loop);
	uvfio_server_destroy(t->srv);
	munmap(t->fdmem, 3 * WIN);
	close(t->memfd);
	free(t->msgmem);
	free(t);
	return 0;
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void expect_sg(const struct uvfio_dma_sg *e, uint64_t iova,
		      uint64_t len, bool mappable)
{
	assert_int_equal(e->iova, iova);
	assert_int_equal(e->len, len);
	assert_int_equal(e->flags & UVFIO_DMA_SG_MAPPABLE,
			 mappable ? UVFIO_DMA_SG_MAPPABLE : 0);
	assert_int_equal(e->priv, 0);
}

/* The client's unmap of a window completes, so no reference is held on
 * it; it is mapped again for what follows. */
static void assert_not_held(struct t *t, uint64_t iova, uint64_t off)
{
	assert_int_equal(uvfio_client_dma_unmap(t->cli, iova, WIN), 0);
	assert_int_equal(uvfio_client_dma_map(t->cli, iova, WIN, RW,
					      t->fdmem + off, t->memfd, off),
			 0);
}

static void test_addr_to_sg_windows(void **state)
{
	struct t *t = *state;
	struct uvfio_dma_sg sg[4];

	/* One window. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA + 100, 500,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 1);
	expect_sg(&sg[0], A_IOVA + 100, 500, true);
	assert_int_equal(sg[0].prot, UVFIO_DMA_MAP_READ);

	/* Two, ending exactly at the second one's end. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA + WIN - PG,
						     PG + WIN, RW, sg, 4),
			 2);
	expect_sg(&sg[0], A_IOVA + WIN - PG, PG, true);
	expect_sg(&sg[1], B_IOVA, WIN, true);

	/* Three, the last message-only. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA + 8,
						     2 * WIN + 16,
						     UVFIO_DMA_MAP_WRITE, sg, 4),
			 3);
	expect_sg(&sg[0], A_IOVA + 8, WIN - 8, true);
	expect_sg(&sg[1], B_IOVA, WIN, true);
	expect_sg(&sg[2], C_IOVA, 24, false);

	/* max too small: the count needed; only max entries written. */
	memset(sg, 0xee, sizeof(sg));
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 3 * WIN,
						     RW, sg, 1),
			 3);
	expect_sg(&sg[0], A_IOVA, WIN, true);
	assert_true(all((const uint8_t *)&sg[1], 3 * sizeof(sg[0]), 0xee));
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 3 * WIN,
						     RW, NULL, 0),
			 3);
	/* Describing took nothing. */
	assert_not_held(t, A_IOVA, 0);
	assert_not_held(t, B_IOVA, WIN);
}

static void test_addr_to_sg_refusals(void **state)
{
	struct t *t = *state;
	struct uvfio_dma_sg sg[4];
	memset(sg, 0xee, sizeof(sg));

	/* Holes: past the message-only window, before everything, between
	 * windows. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 3 * WIN + 1,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 -ENOENT);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA - 1, 2,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 -ENOENT);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, 0x20000000, 1,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 -ENOENT);
	/* Rights. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, RO_IOVA, PG,
						     UVFIO_DMA_MAP_WRITE, sg, 4),
			 -EACCES);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, RO_IOVA, PG, RW,
						     sg, 4),
			 -EACCES);
	/* Arguments. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 0,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 -EINVAL);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 1, 0, sg,
						     4),
			 -EINVAL);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 1, 1u << 7,
						     sg, 4),
			 -EINVAL);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, UINT64_MAX, 2,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 -EINVAL);
	/* Whole range first: no entry was written by any of these. */
	assert_true(all((const uint8_t *)sg, sizeof(sg), 0xee));
	/* The control: read-only window, read access. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, RO_IOVA, PG,
						     UVFIO_DMA_MAP_READ, sg, 4),
			 1);
	expect_sg(&sg[0], RO_IOVA, PG, true);
}

/* Writes through the iovecs land in the client's memory, in place. */
static void test_map_write_in_place(void **state)
{
	struct t *t = *state;
	struct uvfio_dma_sg sg[2];
	struct iovec iov[2];
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA + WIN - 100,
						     300, RW, sg, 2),
			 2);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, sg, 2, iov), 0);
	assert_int_equal(iov[0].iov_len, 100);
	assert_int_equal(iov[1].iov_len, 200);
	assert_true(sg[0].priv && sg[1].priv);
	memset(iov[0].iov_base, 0x5a, 100);
	memset(iov[1].iov_base, 0xa5, 200);
	/* The same memory, as the client sees it. */
	assert_true(all(t->fdmem + WIN - 100, 100, 0x5a));
	assert_true(all(t->fdmem + WIN, 200, 0xa5));
	/* And reads see the client's writes. */
	t->fdmem[WIN + 7] = 0x77;
	assert_int_equal(((uint8_t *)iov[1].iov_base)[7], 0x77);

	/* Mapped twice: refused, and the first mapping stays. */
	struct iovec again[2];
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, sg, 2, again), -EBUSY);
	assert_true(sg[0].priv && sg[1].priv);
	uvfio_server_dma_sg_unmap(t->srv, sg, 2, true);
	assert_true(!sg[0].priv && !sg[1].priv);
	assert_not_held(t, A_IOVA, 0);
	assert_not_held(t, B_IOVA, WIN);

	/* An entry whose window went away meanwhile is not mapped. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, PG, RW, sg,
						     1),
			 1);
	assert_int_equal(uvfio_client_dma_unmap(t->cli, A_IOVA, WIN), 0);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, sg, 1, iov), -ENOENT);
	assert_int_equal(sg[0].priv, 0);
}

/* Message-only entries refuse mapping, holding nothing; the read/write
 * calls serve them (and the fd-backed entries before them). */
static void test_message_only_fallback(void **state)
{
	struct t *t = *state;
	struct uvfio_dma_sg sg[3];
	struct iovec iov[3];
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, B_IOVA + WIN - PG,
						     2 * PG, RW, sg, 3),
			 2);
	assert_false(sg[1].flags & UVFIO_DMA_SG_MAPPABLE);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, sg, 2, iov), -EFAULT);
	assert_true(!sg[0].priv && !sg[1].priv);
	assert_not_held(t, B_IOVA, WIN);

	uint8_t out[2 * PG], in[2 * PG];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(uvfio_server_dma_sg_write(t->srv, sg, 2, out), 0);
	assert_memory_equal(t->fdmem + 2 * WIN - PG, out, PG);
	assert_memory_equal(t->msgmem, out + PG, PG);
	memset(in, 0, sizeof(in));
	assert_int_equal(uvfio_server_dma_sg_read(t->srv, sg, 2, in), 0);
	assert_memory_equal(in, out, sizeof(in));

	/* Each entry checked before a byte moves: a second entry in a
	 * window without the right stops the write of the first. */
	struct uvfio_dma_sg two[2];
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, C_IOVA, PG, RW,
						     &two[0], 1),
			 1);
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, RO_IOVA, PG,
						     UVFIO_DMA_MAP_READ,
						     &two[1], 1),
			 1);
	memset(t->msgmem, 0, WIN);
	assert_int_equal(uvfio_server_dma_sg_write(t->srv, two, 2, out),
			 -EACCES);
	assert_true(all(t->msgmem, WIN, 0));
}

/* Dirty bitmap of window A (16 pages) from the client, cleared on read. */
static uint64_t report_a(struct t *t)
{
	uint64_t bm[1] = { 0 };
	assert_int_equal(uvfio_dma_logging_bitmap_size(WIN, PG), sizeof(bm));
	assert_int_equal(uvfio_client_dma_logging_report(t->cli, A_IOVA, WIN, PG,
							 bm),
			 0);
	return bm[0];
}

static void map_write(struct t *t, uint64_t iova, uint64_t len, bool written)
{
	struct uvfio_dma_sg sg;
	struct iovec iov;
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, iova, len, RW, &sg,
						     1),
			 1);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, &sg, 1, &iov), 0);
	memset(iov.iov_base, 0x3c, iov.iov_len);
	uvfio_server_dma_sg_unmap(t->srv, &sg, 1, written);
}

static void test_unmap_marks_dirty(void **state)
{
	struct t *t = *state;
	struct uvfio_log_range rg = { .iova = A_IOVA, .length = WIN };
	assert_int_equal(uvfio_client_dma_logging_start(t->cli, PG, &rg, 1,
							NULL),
			 0);
	assert_int_equal(report_a(t), 0);

	/* Read-only use: nothing. */
	map_write(t, A_IOVA + 3 * PG, 2 * PG, false);
	assert_int_equal(report_a(t), 0);
	/* Written: pages 5 and 6 (and 7, where the last byte falls). */
	map_write(t, A_IOVA + 5 * PG, 2 * PG + 1, true);
	assert_int_equal(report_a(t), 0xe0);
	assert_int_equal(report_a(t), 0);

	/* Marked while still mapped: seen before the unmap. */
	struct uvfio_dma_sg sg;
	struct iovec iov;
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA + 10 * PG,
						     10, RW, &sg, 1),
			 1);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, &sg, 1, &iov), 0);
	assert_int_equal(report_a(t), 0);
	uvfio_server_dma_sg_mark_dirty(t->srv, &sg, 1);
	assert_int_equal(report_a(t), 1u << 10);
	uvfio_server_dma_sg_unmap(t->srv, &sg, 1, false);
	assert_int_equal(report_a(t), 0);
	assert_int_equal(uvfio_client_dma_logging_stop(t->cli), 0);
}

struct unmapper {
	struct t *t;
	int result;
	int done;
};

static void *do_unmap(void *arg)
{
	struct unmapper *u = arg;
	u->result = uvfio_client_dma_unmap(u->t->cli, A_IOVA, WIN);
	__atomic_store_n(&u->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool wait_for(int *p, int want)
{
	for (int i = 0; i < 3000; i++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) == want)
			return true;
		usleep(1000);
	}
	return false;
}

/* The client's unmap waits for the device's mapping to go, after telling
 * the device; the memory stays usable meanwhile. */
static void test_unmap_waits_for_reference(void **state)
{
	struct t *t = *state;
	struct uvfio_dma_sg sg;
	struct iovec iov;
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, WIN, RW,
						     &sg, 1),
			 1);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, &sg, 1, &iov), 0);

	struct unmapper u = { .t = t };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, do_unmap, &u), 0);
	assert_true(wait_for(&t->unmaps, 1)); /* the device heard */
	usleep(200 * 1000);
	assert_int_equal(__atomic_load_n(&u.done, __ATOMIC_ACQUIRE), 0);
	/* Still mapped: an I/O in flight completes into it. */
	memset(iov.iov_base, 0x42, iov.iov_len);
	/* No new mapping of the departing window meanwhile. */
	struct uvfio_dma_sg late = sg;
	late.priv = 0;
	struct iovec liov;
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, &late, 1, &liov),
			 -ENOENT);
	uvfio_server_dma_sg_unmap(t->srv, &sg, 1, true);
	pthread_join(th, NULL);
	assert_int_equal(u.result, 0);
	assert_true(all(t->fdmem, WIN, 0x42));
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, A_IOVA, 1, RW, &sg,
						     1),
			 -ENOENT);
}

struct releaser {
	struct t *t;
	struct uvfio_dma_sg *sg;
	int released;
};

static void *release_later(void *arg)
{
	struct releaser *r = arg;
	usleep(200 * 1000);
	/* The server thread is still stuck in the disconnect. */
	if (__atomic_load_n(&r->t->disconnects, __ATOMIC_ACQUIRE) == 0)
		__atomic_store_n(&r->released, 1, __ATOMIC_RELEASE);
	uvfio_server_dma_sg_unmap(r->t->srv, r->sg, 1, false);
	return NULL;
}

/* A client that disconnects with a window mapped by the device: the
 * server finishes dropping it (then reset, disconnected) only once the
 * device's thread lets go. */
static void test_disconnect_waits_for_reference(void **state)
{
	struct t *t = *state;
	struct uvfio_dma_sg sg;
	struct iovec iov;
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, B_IOVA, PG, RW,
						     &sg, 1),
			 1);
	assert_int_equal(uvfio_server_dma_sg_map(t->srv, &sg, 1, &iov), 0);

	struct releaser r = { .t = t, .sg = &sg };
	pthread_t th;
	unsigned unmaps = __atomic_load_n(&t->unmaps, __ATOMIC_ACQUIRE);
	assert_int_equal(pthread_create(&th, NULL, release_later, &r), 0);
	client_gone(t);
	pthread_join(th, NULL);
	assert_int_equal(r.released, 1);
	assert_true(wait_for(&t->disconnects, 1));
	/* The device heard the windows go (its cue to release) first. */
	assert_int_equal(__atomic_load_n(&t->unmaps, __ATOMIC_ACQUIRE),
			 unmaps + 1);
	/* Every window went with the client. */
	assert_int_equal(uvfio_server_dma_addr_to_sg(t->srv, B_IOVA, 1, RW, &sg,
						     1),
			 -ENOENT);
}

/* Mapping from several threads at once: references are counted, and
 * the window goes only when the last is put. */
static void *map_loop(void *arg)
{
	struct t *t = arg;
	for (int i = 0; i < 2000; i++) {
		struct uvfio_dma_sg sg[2];
		struct iovec iov[2];
		if (uvfio_server_dma_addr_to_sg(t->srv, A_IOVA + WIN - 64, 128,
						RW, sg, 2) != 2 ||
		    uvfio_server_dma_sg_map(t->srv, sg, 2, iov))
			return (void *)1;
		__atomic_add_fetch((uint8_t *)iov[0].iov_base, 1, __ATOMIC_RELAXED);
		uvfio_server_dma_sg_unmap(t->srv, sg, 2, true);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct t *t = *state;
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, map_loop, t), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	assert_not_held(t, A_IOVA, 0);
	assert_not_held(t, B_IOVA, WIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_addr_to_sg_windows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_addr_to_sg_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_map_write_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_message_only_fallback,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_marks_dirty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unmap_waits_for_reference,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_disconnect_waits_for_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
