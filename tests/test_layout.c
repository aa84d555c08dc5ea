/* SPDX-License-Identifier: MIT */
/*
 * A device that chooses its own layout (server.h): regions backed by the
 * device's fd at an offset (UVFIO_REGION_FD), capabilities at fixed
 * offsets, the config space size chosen after creation, and the count of
 * commands handled.  Over a real socket with our client: the server on
 * its built-in loop in a thread, the client with a loop thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "loops.h"

#define PAGE 4096u
#define FD_OFF (2 * PAGE) /* where the regions start in the file */
#define REG_SIZE (4 * PAGE)

struct t {
	struct uvfio_server *srv;
	struct uvfio_client *cli;
	struct tu_server_thread srv_loop;
	struct tu_client_loop cl;
	int fd;       /* the device's memory: a memfd */
	uint8_t *mem; /* the device's own view of it */
	int cb_reads, cb_writes;
};

/* Region 2's callback: it sees the messages, the file is untouched. */
static ssize_t cb(void *o, unsigned index, uint64_t off, void *buf,
		  size_t count, bool is_write)
{
	struct t *t = o;
	(void)index, (void)off;
	if (is_write) {
		__atomic_add_fetch(&t->cb_writes, 1, __ATOMIC_ACQ_REL);
	} else {
		memset(buf, 0x5a, count);
		__atomic_add_fetch(&t->cb_reads, 1, __ATOMIC_ACQ_REL);
	}
	return (ssize_t)count;
}

static void add_fd_region(struct t *t, unsigned index, uvfio_region_fn fn,
			  const struct uvfio_sparse_area *sp, uint32_t nsp)
{
	struct uvfio_region_desc d = {
		.struct_size = sizeof(d),
		.size = REG_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			 UVFIO_REGION_FD,
		.fn = fn,
		.opaque = t,
		.sparse = sp,
		.nr_sparse = nsp,
		.fd = t->fd,
		.fd_offset = FD_OFF,
	};
	assert_int_equal(uvfio_server_add_region(t->srv, index, &d), 0);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	/* Created conventional, made Express afterwards. */
	assert_int_equal(uvfio_server_create_fd(&t->srv, sv[0], 0), 0);
	uvfio_server_set_log(t->srv, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_server_pci_add_ext_cap(t->srv, 0x23, 1, "ab", 2,
						      NULL),
			 -EINVAL);
	assert_int_equal(uvfio_server_set_pcie(t->srv, true), 0);

	t->fd = memfd_create("layout", MFD_CLOEXEC);
	assert_true(t->fd >= 0);
	assert_int_equal(ftruncate(t->fd, FD_OFF + REG_SIZE), 0);
	t->mem = mmap(NULL, FD_OFF + REG_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, t->fd, 0);
	assert_true(t->mem != MAP_FAILED);
	for (unsigned i = 0; i < FD_OFF + REG_SIZE; i++)
		t->mem[i] = (uint8_t)(i / PAGE + 1); /* page n holds n + 1 */

	/* Region 0: the file serves messages; pages 1-2 mmap-able. */
	static const struct uvfio_sparse_area sp = { PAGE, 2 * PAGE };
	add_fd_region(t, 0, NULL, &sp, 1);
	/* Region 2: a callback serves messages; all of it mmap-able. */
	add_fd_region(t, 2, cb, NULL, 0);

	/* Capabilities where the device wants them. */
	uint8_t body[8] = { 4, 1, 2, 3, 4, 5 };
	assert_int_equal(uvfio_server_pci_add_cap_at(t->srv, 0x60, 0x09, body,
						     6, NULL),
			 0x60);
	assert_int_equal(uvfio_server_pci_add_cap_at(t->srv, 0x50, 0x09, body,
						     6, NULL),
			 -EEXIST);
	assert_int_equal(uvfio_server_pci_add_cap_at(t->srv, 0x62, 0x09, body,
						     6, NULL),
			 -EINVAL);
	assert_int_equal(uvfio_server_pci_add_cap_at(t->srv, 0xfc, 0x09, body,
						     6, NULL),
			 -ENOSPC);
	assert_int_equal(uvfio_server_pci_add_cap(t->srv, 0x09, body, 6, NULL),
			 0x68);
	assert_int_equal(uvfio_server_pci_add_ext_cap_at(t->srv, 0x140, 0x0b,
							 1, body, 4, NULL),
			 -EINVAL); /* the first one is at 0x100 */
	assert_int_equal(uvfio_server_pci_add_ext_cap_at(t->srv, 0x100, 0x0b,
							 1, body, 4, NULL),
			 0x100);
	assert_int_equal(uvfio_server_pci_add_ext_cap_at(t->srv, 0x180, 0x03,
							 1, body, 8, NULL),
			 0x180);
	/* Extended capabilities need the 4 KiB space they are in. */
	assert_int_equal(uvfio_server_set_pcie(t->srv, false), -EBUSY);

	assert_int_equal(tu_server_thread_start(&t->srv_loop, t->srv), 0);
	assert_int_equal(uvfio_client_create(&t->cli), 0);
	uvfio_client_set_log(t->cli, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_adopt_fd(t->cli, sv[1]), 0);
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
	munmap(t->mem, FD_OFF + REG_SIZE);
	close(t->fd);
	free(t);
	return 0;
}

/* Messages to an fd region without a callback read and write the file at
 * fd_offset; the client's mmap of a sparse area is the same memory. */
static void test_fd_region_file(void **state)
{
	struct t *t = *state;
	uint8_t b[8];

	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_get_region_info(t->cli, 0, &ri), 0);
	assert_int_equal(ri.size, REG_SIZE);
	assert_true(ri.flags & UVFIO_REGION_MMAP);
	assert_int_equal(ri.offset, FD_OFF);

	assert_int_equal(uvfio_client_region_read(t->cli, 0, 3 * PAGE + 8, b,
						  sizeof(b)),
			 0);
	assert_int_equal(b[0], 3 + 2 + 1); /* page 3 of the region */
	memset(b, 0xee, sizeof(b));
	assert_int_equal(uvfio_client_region_write(t->cli, 0, 16, b, sizeof(b)),
			 0);
	assert_int_equal(t->mem[FD_OFF + 16], 0xee);
	assert_int_equal(t->mem[16], 1); /* before fd_offset: untouched */

	void *addr = NULL;
	assert_int_equal(uvfio_client_region_mmap(t->cli, 0, &addr), 0);
	uint8_t *m = addr;
	assert_int_equal(m[PAGE], 1 + 2 + 1);
	m[PAGE + 5] = 0x77; /* the device sees the client's store */
	assert_int_equal(t->mem[FD_OFF + PAGE + 5], 0x77);
	t->mem[FD_OFF + 2 * PAGE] = 0x99;
	assert_int_equal(m[2 * PAGE], 0x99);
}

/* With a callback, messages go to it and not to the file. */
static void test_fd_region_callback(void **state)
{
	struct t *t = *state;
	uint8_t b[4] = { 1, 2, 3, 4 };
	uint8_t before = t->mem[FD_OFF + 8];

	assert_int_equal(uvfio_client_region_write(t->cli, 2, 8, b, sizeof(b)),
			 0);
	assert_int_equal(t->mem[FD_OFF + 8], before);
	assert_int_equal(uvfio_client_region_read(t->cli, 2, 8, b, sizeof(b)),
			 0);
	assert_int_equal(b[0], 0x5a);
	assert_int_equal(__atomic_load_n(&t->cb_writes, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(__atomic_load_n(&t->cb_reads, __ATOMIC_ACQUIRE), 1);

	void *addr = NULL;
	assert_int_equal(uvfio_client_region_mmap(t->cli, 2, &addr), 0);
	assert_int_equal(((uint8_t *)addr)[0], t->mem[FD_OFF]);
}

/* The capability list the client reads is the one the device laid out. */
static void test_caps_at(void **state)
{
	struct t *t = *state;
	uint8_t cfg[0x70];
	uint32_t h;

	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_get_region_info(t->cli,
						      UVFIO_PCI_CONFIG, &ri),
			 0);
	assert_int_equal(ri.size, 4096);
	assert_int_equal(uvfio_client_region_read(t->cli, UVFIO_PCI_CONFIG, 0,
						  cfg, sizeof(cfg)),
			 0);
	assert_int_equal(cfg[0x34], 0x60);
	assert_int_equal(cfg[0x60], 0x09);
	assert_int_equal(cfg[0x61], 0x68);
	assert_int_equal(cfg[0x62], 4);
	assert_int_equal(cfg[0x69], 0);
	assert_int_equal(cfg[0x40], 0); /* skipped bytes read as 0 */
	assert_int_equal(uvfio_client_region_read(t->cli, UVFIO_PCI_CONFIG,
						  0x100, &h, 4),
			 0);
	assert_int_equal(h & 0xffff, 0x0b);
	assert_int_equal(h >> 20, 0x180);
	assert_int_equal(uvfio_client_region_read(t->cli, UVFIO_PCI_CONFIG,
						  0x180, &h, 4),
			 0);
	assert_int_equal(h & 0xffff, 0x03);
	assert_int_equal(h >> 20, 0);
}

/* Each command counts once, whatever it was. */
static void test_commands_handled(void **state)
{
	struct t *t = *state;
	uint8_t b[4];

	/* The server thread counts; two reads and a failing one later it
	 * has counted at least three more (the loop may add its own). */
	uint64_t before = uvfio_server_commands_handled(t->srv);
	assert_int_equal(uvfio_client_region_read(t->cli, 0, 0, b, 4), 0);
	assert_int_equal(uvfio_client_region_read(t->cli, 0, 0, b, 4), 0);
	assert_int_equal(uvfio_client_region_read(t->cli, 0, REG_SIZE, b, 4),
			 -EINVAL);
	assert_int_equal(uvfio_server_commands_handled(t->srv) - before, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fd_region_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fd_region_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_caps_at, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_handled, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
