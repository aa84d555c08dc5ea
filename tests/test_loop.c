/* SPDX-License-Identifier: MIT */
/*
 * One connection served in turn by the built-in loop, by a caller's own
 * loop (poll fd + uvfio_server_process), and by the built-in loop again,
 * with and without busy polling.  The built-in loop polls the connection
 * itself, outside the epoll set (core.c, set_direct): leaving it must put
 * the connection back, or a caller's loop would never hear the client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

struct t {
	struct uvfio_server *srv;
	struct uvfio_client *cli;
	pthread_t thread;
	volatile int own_stop;
};

static void *builtin(void *arg)
{
	struct t *t = arg;
	assert_int_equal(uvfio_server_run(t->srv), 0);
	return NULL;
}

static void *own(void *arg)
{
	struct t *t = arg;
	struct pollfd p = { .fd = uvfio_server_poll_fd(t->srv), .events = POLLIN };
	while (!__atomic_load_n(&t->own_stop, __ATOMIC_ACQUIRE)) {
		if (poll(&p, 1, 20) > 0)
			assert_int_equal(uvfio_server_process(t->srv), 0);
	}
	return NULL;
}

/* A posted write, then a config read that answers after it: the
 * connection is served, in order. */
static void round_trip(struct t *t, uint32_t v)
{
	uint16_t ids[2] = { 0 };
	assert_int_equal(uvfio_client_region_write_posted(t->cli, 0, 0x10, &v,
							  4),
			 0);
	assert_int_equal(uvfio_client_region_read(t->cli, UVFIO_PCI_CONFIG, 0,
						  ids, 4),
			 0);
	assert_int_equal(ids[0], 0x1234);
	assert_int_equal(ids[1], 0x5678);
}

static void start(struct t *t, void *(*fn)(void *))
{
	t->own_stop = 0;
	assert_int_equal(pthread_create(&t->thread, NULL, fn, t), 0);
}

/* A stop request counts even when made before run() starts (server.h):
 * only the built-in loop is stopped with it. */
static void stop(struct t *t, bool builtin_loop)
{
	__atomic_store_n(&t->own_stop, 1, __ATOMIC_RELEASE);
	if (builtin_loop)
		uvfio_server_stop(t->srv);
	assert_int_equal(pthread_join(t->thread, NULL), 0);
}

static void test_loops_take_turns(void **state)
{
	(void)state;
	struct t t = { 0 };
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_server_create_fd(&t.srv, sv[0], 0), 0);
	uvfio_server_set_log(t.srv, NULL, NULL, UVFIO_LOG_ERR);
	const struct uvfio_pci_ids pids = { .vendor = 0x1234, .device = 0x5678 };
	assert_int_equal(uvfio_server_set_pci_ids(t.srv, &pids), 0);
	assert_int_equal(uvfio_server_setup_region(t.srv, 0, 4096,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   NULL, NULL),
			 0);
	start(&t, builtin);
	assert_int_equal(uvfio_client_create(&t.cli), 0);
	uvfio_client_set_timeout(t.cli, 2000);
	assert_int_equal(uvfio_client_adopt_fd(t.cli, sv[1]), 0);
	round_trip(&t, 1);
	stop(&t, true);

	/* The caller's loop: the connection must be in the epoll set again. */
	start(&t, own);
	for (uint32_t i = 0; i < 100; i++)
		round_trip(&t, 100 + i);
	stop(&t, false);

	/* And back, busy polling after each burst. */
	uvfio_server_set_busy_poll(t.srv, 200);
	start(&t, builtin);
	for (uint32_t i = 0; i < 100; i++)
		round_trip(&t, 1000 + i);
	stop(&t, true);
	uvfio_server_set_busy_poll(t.srv, 0);
	start(&t, builtin);
	round_trip(&t, 7);
	assert_true(uvfio_client_connected(t.cli));
	uvfio_client_destroy(t.cli);
	stop(&t, true);
	uvfio_server_destroy(t.srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loops_take_turns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
