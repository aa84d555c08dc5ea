/* SPDX-License-Identifier: MIT */
/*
 * The server's asynchronous message DMA sends large DMA_WRITE data from
 * the transfer's own buffer.  When the transfer ends early (here: the
 * server loop stops, which ends every transfer) its done() may free that
 * buffer at once, so whatever was still to be sent must come from a copy.
 * Driven step by step from one thread against a raw client end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

#define MIB (1u << 20)
#define WIN_IOVA 0x40000000ull

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + 3 + (i >> 12));
}

struct xfer {
	uint8_t *buf;
	int result;
	bool done;
};

/* A device's done(): the buffer is its own again, and it reuses it. */
static void done_fn(void *opaque, int result)
{
	struct xfer *t = opaque;
	t->result = result;
	t->done = true;
	memset(t->buf, 0xee, MIB);
	free(t->buf);
	t->buf = NULL;
}

/* Step the server until the raw end has a whole message; its size. */
static size_t next_msg(struct uvfio_server *s, int fd, uint8_t *b, size_t cap)
{
	size_t got = 0, want = UVFIO_HDR_SIZE;
	for (int i = 0; i < 100000 && got < want; i++) {
		assert_true(uvfio_server_process(s) >= 0);
		ssize_t n = recv(fd, b + got, want - got, MSG_DONTWAIT);
		if (n <= 0) {
			usleep(100);
			continue;
		}
		got += (size_t)n;
		if (got == UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, b, sizeof(h));
			assert_true(h.msg_size <= cap);
			want = h.msg_size;
		}
	}
	assert_int_equal(got, want);
	return got;
}

static void test_write_data_outlives_transfer(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	struct uvfio_server *s;
	assert_int_equal(uvfio_server_create_fd(&s, sv[0], 0), 0);
	uvfio_server_set_log(s, NULL, NULL, UVFIO_LOG_ERR);
	const struct uvfio_pci_ids ids = { .vendor = 0x1af4, .device = 0x10f1 };
	assert_int_equal(uvfio_server_set_pci_ids(s, &ids), 0);
	static uint8_t m[2 * MIB];

	/* VERSION (no twin socket: DMA goes on the one socket), then a
	 * message-only window. */
	const char *json = "{\"capabilities\":{\"max_msg_fds\":8,"
			   "\"max_data_xfer_size\":1048576}}";
	ssize_t n = uvfio_build_version(m, sizeof(m), 1, false, 0, 2, json);
	assert_int_equal(tu_send(sv[1], m, (size_t)n, NULL, 0), 0);
	next_msg(s, sv[1], m, sizeof(m));
	n = uvfio_build_dma_map(m, sizeof(m), 2,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				WIN_IOVA, MIB);
	assert_int_equal(tu_send(sv[1], m, (size_t)n, NULL, 0), 0);
	next_msg(s, sv[1], m, sizeof(m));

	struct xfer t = { .buf = malloc(MIB) };
	assert_non_null(t.buf);
	for (size_t i = 0; i < MIB; i++)
		t.buf[i] = pat(i);
	assert_int_equal(uvfio_server_dma_write_async(s, WIN_IOVA, t.buf, MIB,
						      done_fn, &t),
			 0);
	/* The request goes out as far as the socket takes it; the client
	 * reads nothing yet. */
	for (int i = 0; i < 10; i++)
		assert_true(uvfio_server_process(s) >= 0);
	assert_false(t.done);
	/* The loop stops: every transfer ends, done() frees the buffer. */
	uvfio_server_stop(s);
	assert_int_equal(uvfio_server_run(s), 0);
	assert_true(t.done);
	assert_int_equal(t.result, -ESHUTDOWN);
	/* The message was already partly sent: the rest still comes, whole
	 * and with the bytes the transfer had, from the library's copy. */
	size_t got = next_msg(s, sv[1], m, sizeof(m));
	struct uvfio_cmd_view v;
	struct uvfio_limits lim = { MIB, 0, false };
	assert_int_equal(uvfio_parse_command(m, got, 0, UVFIO_ROLE_CLIENT, &lim,
					     &v),
			 0);
	assert_int_equal(v.hdr.cmd, UVFIO_CMD_DMA_WRITE);
	assert_int_equal(v.u.dma_rw.count, MIB);
	for (size_t i = 0; i < MIB; i++)
		if (v.u.dma_rw.data[i] != pat(i))
			fail_msg("byte %zu is %#x, not the transfer's", i,
				 v.u.dma_rw.data[i]);
	uvfio_server_destroy(s);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_data_outlives_transfer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
