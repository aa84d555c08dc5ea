/* SPDX-License-Identifier: MIT */
/*
 * Quiescing, FLR and irq state (server.h: "Quiescing",
 * uvfio_server_pci_enable_flr, the irq_state op), over a real socket with
 * our client: the server on its built-in loop, the client with a loop
 * thread, the test's thread acting as the device.
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
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "loops.h"

#define IOVA 0x100000ull
#define WIN (64u << 10)
#define RW (UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE)
#define NVEC 4u

struct t {
	struct uvfio_server *srv;
	struct uvfio_client *cli;
	struct tu_server_thread srv_loop;
	struct tu_client_loop cl;
	int pcie_off;
	uint8_t *mem;
	/* the device's record; atomics: the server thread writes */
	int quiesce_ret;
	int quiesces, maps, resets, seq;
	int last_reset;
	int map_seq, write_seq, map_done, write_done, map_result;
	struct { unsigned start, count; bool on; } st[16];
	int nst, masks;
};

static int q_quiesce(void *o)
{
	struct t *t = o;
	__atomic_add_fetch(&t->quiesces, 1, __ATOMIC_ACQ_REL);
	return __atomic_load_n(&t->quiesce_ret, __ATOMIC_ACQUIRE);
}

static void q_map(void *o, uint64_t iova, uint64_t size, uint32_t prot)
{
	struct t *t = o;
	(void)iova, (void)size, (void)prot;
	__atomic_add_fetch(&t->maps, 1, __ATOMIC_ACQ_REL);
}

static int q_reset(void *o, enum uvfio_reset_reason why)
{
	struct t *t = o;
	__atomic_store_n(&t->last_reset, (int)why, __ATOMIC_RELEASE);
	__atomic_add_fetch(&t->resets, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static void q_irq_state(void *o, unsigned index, uint32_t start,
			uint32_t count, bool on)
{
	struct t *t = o;
	if (index != UVFIO_PCI_MSIX_IRQ || t->nst == 16)
		return;
	t->st[t->nst].start = start;
	t->st[t->nst].count = count;
	t->st[t->nst].on = on;
	__atomic_add_fetch(&t->nst, 1, __ATOMIC_ACQ_REL);
}

static void q_irq_mask(void *o, unsigned index, uint32_t start,
		       uint32_t count, bool masked)
{
	struct t *t = o;
	(void)index, (void)start, (void)count, (void)masked;
	__atomic_add_fetch(&t->masks, 1, __ATOMIC_ACQ_REL);
}

static int setup(void **state)
{
	static const struct uvfio_device_ops ops = {
		.struct_size = sizeof(struct uvfio_device_ops),
		.quiesce = q_quiesce,
		.dma_map = q_map,
		.reset = q_reset,
		.irq_state = q_irq_state,
		.irq_mask = q_irq_mask,
	};
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_server_create_fd(&t->srv, sv[0],
						UVFIO_SERVER_PCIE),
			 0);
	uvfio_server_set_log(t->srv, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_server_setup_region(t->srv, 0, 4096,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   NULL, NULL),
			 0);
	t->pcie_off = uvfio_server_pci_add_pcie(t->srv, 0);
	assert_true(t->pcie_off > 0);
	assert_int_equal(uvfio_server_pci_enable_flr(t->srv), 0);
	assert_true(uvfio_server_pci_add_msix(t->srv, NVEC, 0, 0, 0, 2048) > 0);
	assert_int_equal(uvfio_server_set_ops(t->srv, &ops, t), 0);
	assert_int_equal(tu_server_thread_start(&t->srv_loop, t->srv), 0);

	assert_int_equal(uvfio_client_create(&t->cli), 0);
	uvfio_client_set_log(t->cli, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_adopt_fd(t->cli, sv[1]), 0);
	t->mem = calloc(1, WIN);
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
	free(t->mem);
	free(t);
	return 0;
}

static int get(int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void wait_for(int *p, int v)
{
	for (int i = 0; i < 500 && get(p) < v; i++)
		usleep(10000);
	assert_true(get(p) >= v);
}

/* quiesce 0: the command goes on at once; each command quiesces anew. */
static void test_quiesce_now(void **state)
{
	struct t *t = *state;
	assert_int_equal(uvfio_client_dma_map(t->cli, IOVA, WIN, RW, t->mem,
					      -1, 0),
			 0);
	assert_int_equal(get(&t->quiesces), 1);
	assert_int_equal(get(&t->maps), 1);
	assert_int_equal(uvfio_client_reset(t->cli), 0);
	assert_int_equal(get(&t->quiesces), 2);
	assert_int_equal(get(&t->last_reset), UVFIO_RESET_CLIENT);
	/* Commands that change nothing the device DMAs to do not quiesce. */
	uint32_t x = 0;
	assert_int_equal(uvfio_client_region_read(t->cli, 0, 0, &x, 4), 0);
	assert_int_equal(get(&t->quiesces), 2);
	/* A failing quiesce fails the command. */
	__atomic_store_n(&t->quiesce_ret, -EIO, __ATOMIC_RELEASE);
	assert_int_equal(uvfio_client_reset(t->cli), -EIO);
	assert_int_equal(get(&t->resets), 1);
}

static void map_done(void *o, int r)
{
	struct t *t = o;
	t->map_result = r;
	__atomic_store_n(&t->map_seq, __atomic_add_fetch(&t->seq, 1,
							 __ATOMIC_ACQ_REL),
			 __ATOMIC_RELEASE);
	__atomic_store_n(&t->map_done, 1, __ATOMIC_RELEASE);
}

static void write_done(void *o, int r)
{
	struct t *t = o;
	assert_int_equal(r, 0);
	__atomic_store_n(&t->write_seq, __atomic_add_fetch(&t->seq, 1,
							   __ATOMIC_ACQ_REL),
			 __ATOMIC_RELEASE);
	__atomic_store_n(&t->write_done, 1, __ATOMIC_RELEASE);
}

struct later {
	struct t *t;
	int err;
};

static void *quiesced_later(void *arg)
{
	struct later *l = arg;
	usleep(100000);
	uvfio_server_device_quiesced(l->t->srv, l->err);
	return NULL;
}

/*
 * -EBUSY: the DMA_MAP and the write after it wait, the device's other
 * thread says quiesced, then both are answered, in order.
 */
static void test_quiesce_busy(void **state)
{
	struct t *t = *state;
	__atomic_store_n(&t->quiesce_ret, -EBUSY, __ATOMIC_RELEASE);
	assert_int_equal(uvfio_client_dma_map_async(t->cli, IOVA, WIN, RW,
						    t->mem, -1, 0, map_done, t),
			 0);
	uint32_t v = 0x12345678;
	assert_int_equal(uvfio_client_region_write_async(t->cli, 0, 0, &v, 4,
							 write_done, t),
			 0);
	wait_for(&t->quiesces, 1);
	usleep(50000);
	assert_int_equal(get(&t->map_done), 0);
	assert_int_equal(get(&t->write_done), 0);
	assert_int_equal(get(&t->maps), 0);

	struct later l = { t, 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, quiesced_later, &l), 0);
	wait_for(&t->write_done, 1);
	pthread_join(th, NULL);
	assert_int_equal(get(&t->map_done), 1);
	assert_int_equal(t->map_result, 0);
	assert_true(get(&t->map_seq) < get(&t->write_seq));
	assert_int_equal(get(&t->maps), 1);
	assert_int_equal(get(&t->quiesces), 1);

	/* A reset held the same way; quiesced with an error fails it. */
	l.err = -EIO;
	assert_int_equal(pthread_create(&th, NULL, quiesced_later, &l), 0);
	assert_int_equal(uvfio_client_reset(t->cli), -EIO);
	pthread_join(th, NULL);
	assert_int_equal(get(&t->resets), 0);
	l.err = 0;
	assert_int_equal(pthread_create(&th, NULL, quiesced_later, &l), 0);
	assert_int_equal(uvfio_client_reset(t->cli), 0);
	pthread_join(th, NULL);
	assert_int_equal(get(&t->resets), 1);
	assert_int_equal(get(&t->quiesces), 3);
	/* Nothing held: ignored. */
	uvfio_server_device_quiesced(t->srv, 0);
}

static uint16_t cfg16(struct t *t, unsigned off)
{
	uint16_t v = 0;
	assert_int_equal(uvfio_client_region_read(t->cli, UVFIO_PCI_CONFIG, off,
						  &v, 2),
			 0);
	return v;
}

/* Initiate FLR written through config space resets the function. */
static void test_flr(void **state)
{
	struct t *t = *state;
	uint32_t devcap = 0;
	assert_int_equal(uvfio_client_region_read(t->cli, UVFIO_PCI_CONFIG,
						  (unsigned)t->pcie_off + 4,
						  &devcap, 4),
			 0);
	assert_true(devcap & (1u << 28));
	uint16_t cmd = 0x0006; /* memory space, bus master */
	assert_int_equal(uvfio_client_region_write(t->cli, UVFIO_PCI_CONFIG, 4,
						   &cmd, 2),
			 0);
	assert_int_equal(cfg16(t, 4) & 0x6, 0x6);
	unsigned devctl = (unsigned)t->pcie_off + 8;
	uint16_t ctl = cfg16(t, devctl);
	ctl |= 1u << 15;
	assert_int_equal(uvfio_client_region_write(t->cli, UVFIO_PCI_CONFIG,
						   devctl, &ctl, 2),
			 0);
	assert_int_equal(get(&t->resets), 1);
	assert_int_equal(get(&t->last_reset), UVFIO_RESET_FLR);
	assert_int_equal(get(&t->quiesces), 1);
	assert_int_equal(cfg16(t, 4) & 0x6, 0);
	assert_int_equal(cfg16(t, devctl) & (1u << 15), 0);
	/* A Device Control write without it is no reset. */
	ctl &= (uint16_t)~(1u << 15);
	assert_int_equal(uvfio_client_region_write(t->cli, UVFIO_PCI_CONFIG,
						   devctl, &ctl, 2),
			 0);
	assert_int_equal(get(&t->resets), 1);
	assert_int_equal(get(&t->quiesces), 1);
}

/* Eventfds given and taken per vector run; masks through irq_mask. */
static void test_irq_state(void **state)
{
	struct t *t = *state;
	int efds[NVEC];
	assert_int_equal(uvfio_client_irq_enable(t->cli, UVFIO_PCI_MSIX_IRQ, 0,
						 NVEC, efds),
			 0);
	assert_int_equal(get(&t->nst), 1);
	assert_int_equal(t->st[0].start, 0);
	assert_int_equal(t->st[0].count, NVEC);
	assert_true(t->st[0].on);
	assert_int_equal(uvfio_client_irq_set_eventfds(t->cli,
						       UVFIO_PCI_MSIX_IRQ, 1, 1,
						       NULL),
			 0);
	assert_int_equal(get(&t->nst), 2);
	assert_int_equal(t->st[1].start, 1);
	assert_int_equal(t->st[1].count, 1);
	assert_false(t->st[1].on);
	assert_int_equal(uvfio_client_irq_mask(t->cli, UVFIO_PCI_MSIX_IRQ, 2, 1,
					       true),
			 0);
	assert_int_equal(uvfio_client_irq_mask(t->cli, UVFIO_PCI_MSIX_IRQ, 2, 1,
					       false),
			 0);
	assert_int_equal(get(&t->masks), 2);
	/* Disabling the index reports the vectors that still had one. */
	assert_int_equal(uvfio_client_irq_disable(t->cli, UVFIO_PCI_MSIX_IRQ),
			 0);
	assert_int_equal(get(&t->nst), 4);
	assert_int_equal(t->st[2].start, 0);
	assert_int_equal(t->st[2].count, 1);
	assert_false(t->st[2].on);
	assert_int_equal(t->st[3].start, 2);
	assert_int_equal(t->st[3].count, 2);
	assert_false(t->st[3].on);
	for (unsigned i = 0; i < NVEC; i++)
		close(efds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quiesce_now, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_busy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_state, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
