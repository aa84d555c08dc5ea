/* SPDX-License-Identifier: MIT */
/*
 * Large message bodies the client sends from, or receives into, its DMA
 * windows in place: against a fake server on a real socket pair that
 * negotiates a twin socket and decides when it reads.
 *  - a DMA_READ reply still on its way when the window is unmapped is
 *    finished from a copy: the memory may be reused at once;
 *  - a DMA_WRITE whose window is unmapped while its data arrives is
 *    dropped and answered with an error, the stream staying in step;
 *  - the normal paths put every byte where it belongs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

#define MIB (1u << 20)
#define WIN_IOVA 0x40000000ull

/* The test thread drives the client; the fake's steps are explicit. */
struct fake {
	int main_fd, twin_fd;
	pthread_t th;
	bool answer_unmap; /* the thread answers one DMA_UNMAP, then exits */
	uint16_t unmap_id;
};

static uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)(i * 13 + seed + (i >> 10));
}

static size_t read_msg(int fd, uint8_t *b, size_t cap)
{
	size_t got = 0, want = UVFIO_HDR_SIZE;
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			return 0;
		ssize_t n = recv(fd, b + got, want - got, 0);
		if (n <= 0)
			return 0;
		got += (size_t)n;
		if (got == UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, b, sizeof(h));
			if (h.msg_size > cap || h.msg_size < UVFIO_HDR_SIZE)
				return 0;
			want = h.msg_size;
		}
	}
	return got;
}

static void reply_ok(int fd, const uint8_t *req, const void *fixed,
		     size_t flen)
{
	static uint8_t out[256];
	struct uvfio_hdr h;
	memcpy(&h, req, sizeof(h));
	ssize_t m = uvfio_build_reply(out, sizeof(out), h.msg_id, h.cmd, fixed,
				      flen, NULL, 0);
	assert_true(m > 0);
	assert_int_equal(tu_send(fd, out, (size_t)m, NULL, 0), 0);
}

/* Answer the next command on the main socket (VERSION, DMA_MAP, ...). */
static void *serve_one(void *arg)
{
	struct fake *f = arg;
	static uint8_t in[4096];
	size_t n = read_msg(f->main_fd, in, sizeof(in));
	if (!n)
		return NULL;
	struct uvfio_hdr h;
	memcpy(&h, in, sizeof(h));
	if (h.cmd == UVFIO_CMD_DMA_UNMAP)
		reply_ok(f->main_fd, in, in + UVFIO_HDR_SIZE,
			 sizeof(struct uvfio_dma_unmap));
	else
		reply_ok(f->main_fd, in, NULL, 0);
	return NULL;
}

static void fake_open(struct fake *f, struct uvfio_client **cp)
{
	int sv[2], tw[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tw),
			 0);
	f->main_fd = sv[1];
	f->twin_fd = tw[0];
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, UVFIO_LOG_ERR);
	uvfio_client_set_twin_socket(c, true);

	/* The VERSION reply, with the twin socket, is written before the
	 * client asks: it reads it after sending its own. */
	static uint8_t out[512];
	const char *json = "{\"capabilities\":{\"max_msg_fds\":8,"
			   "\"max_data_xfer_size\":1048576,"
			   "\"twin_socket\":{\"supported\":true,"
			   "\"fd_index\":0}}}";
	ssize_t m = uvfio_build_version(out, sizeof(out), 0, true, 0, 0, json);
	assert_true(m > 0);
	assert_int_equal(tu_send(f->main_fd, out, (size_t)m, &tw[1], 1), 0);
	close(tw[1]);
	assert_int_equal(uvfio_client_adopt_fd(c, sv[0]), 0);
	assert_true(uvfio_client_has_twin_socket(c));
	static uint8_t in[4096];
	assert_true(read_msg(f->main_fd, in, sizeof(in)) > 0); /* its VERSION */
	*cp = c;
}

static void fake_close(struct fake *f)
{
	close(f->main_fd);
	close(f->twin_fd);
}

/* Map a message-only window, the fake answering on its thread. */
static void map_window(struct fake *f, struct uvfio_client *c, void *mem,
		       size_t size)
{
	assert_int_equal(pthread_create(&f->th, NULL, serve_one, f), 0);
	assert_int_equal(uvfio_client_dma_map(c, WIN_IOVA, size,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      mem, -1, 0),
			 0);
	assert_int_equal(pthread_join(f->th, NULL), 0);
}

static void unmap_window(struct fake *f, struct uvfio_client *c, size_t size)
{
	assert_int_equal(pthread_create(&f->th, NULL, serve_one, f), 0);
	assert_int_equal(uvfio_client_dma_unmap(c, WIN_IOVA, size), 0);
	assert_int_equal(pthread_join(f->th, NULL), 0);
}

static void process_for(struct uvfio_client *c, int ms)
{
	for (int i = 0; i < ms; i++) {
		assert_int_equal(uvfio_client_process(c), 0);
		usleep(1000);
	}
}

/* Write to the twin socket while the client reads: it may not all fit. */
static void feed(int fd, struct uvfio_client *c, const uint8_t *b, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, b + off, len - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else
			assert_true(errno == EAGAIN);
		assert_int_equal(uvfio_client_process(c), 0);
	}
}

/* The fake's DMA_READ of the whole window, then its reply read back. */
static void test_read_reply_outlives_unmap(void **state)
{
	(void)state;
	struct fake f;
	struct uvfio_client *c;
	fake_open(&f, &c);
	uint8_t *win = malloc(MIB);
	assert_non_null(win);
	for (size_t i = 0; i < MIB; i++)
		win[i] = pat(i, 1);
	map_window(&f, c, win, MIB);

	static uint8_t msg[2 * MIB];
	ssize_t m = uvfio_build_dma_read(msg, sizeof(msg), 7, WIN_IOVA, MIB);
	assert_int_equal(tu_send(f.twin_fd, msg, (size_t)m, NULL, 0), 0);
	/* The client answers; nobody reads the twin socket, so most of the
	 * 1 MiB reply is still to go, from the window itself. */
	process_for(c, 20);
	/* Unmapped meanwhile: the window's memory is the caller's again. */
	unmap_window(&f, c, MIB);
	memset(win, 0xee, MIB);
	free(win);
	/* Now the fake reads the reply, while the client keeps sending. */
	size_t got = 0, want = UVFIO_HDR_SIZE + 16 + MIB;
	while (got < want) {
		assert_int_equal(uvfio_client_process(c), 0);
		ssize_t n = recv(f.twin_fd, msg + got, want - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			usleep(1000);
	}
	struct uvfio_expect e = { .cmd = UVFIO_CMD_DMA_READ, .msg_id = 7,
				  .count = MIB, .addr = WIN_IOVA };
	struct uvfio_reply_view v;
	assert_int_equal(uvfio_parse_reply(msg, want, 0, &e, &v), 0);
	assert_int_equal(v.error, 0);
	for (size_t i = 0; i < MIB; i++)
		if (v.u.dma_rw.data[i] != pat(i, 1))
			fail_msg("reply byte %zu is %#x, not the window's", i,
				 v.u.dma_rw.data[i]);
	uvfio_client_destroy(c);
	fake_close(&f);
}

/* A DMA_WRITE of the whole window with a pattern; *data keeps it. */
static size_t whole_window_write(uint8_t *msg, size_t cap, uint16_t id,
				 unsigned seed, uint8_t **data)
{
	*data = malloc(MIB);
	assert_non_null(*data);
	for (size_t i = 0; i < MIB; i++)
		(*data)[i] = pat(i, seed);
	ssize_t m = uvfio_build_dma_write(msg, cap, id, WIN_IOVA, *data, MIB);
	assert_true(m > 0);
	return (size_t)m;
}

/* A DMA_WRITE of the whole window, sent in two halves around an unmap. */
static void test_write_into_unmapped_window(void **state)
{
	(void)state;
	struct fake f;
	struct uvfio_client *c;
	fake_open(&f, &c);
	uint8_t *win = calloc(1, MIB);
	assert_non_null(win);
	map_window(&f, c, win, MIB);

	static uint8_t msg[2 * MIB];
	uint8_t *data;
	size_t m = whole_window_write(msg, sizeof(msg), 8, 2, &data);
	const size_t half = m / 2;
	feed(f.twin_fd, c, msg, half);
	process_for(c, 10);
	/* The first half is in the window already: it went straight there. */
	assert_memory_equal(win, data, half - UVFIO_HDR_SIZE - 16);
	unmap_window(&f, c, MIB);
	memset(win, 0, MIB);
	feed(f.twin_fd, c, msg + half, m - half);
	process_for(c, 10);
	for (size_t i = 0; i < MIB; i++)
		if (win[i])
			fail_msg("byte %zu written after the unmap", i);
	/* The client refuses it with an error; the twin stream is in step:
	 * a small DMA_WRITE to nowhere is refused the same way. */
	static uint8_t in[256];
	size_t n = read_msg(f.twin_fd, in, sizeof(in));
	struct uvfio_hdr h;
	memcpy(&h, in, sizeof(h));
	assert_int_equal(n, UVFIO_HDR_SIZE);
	assert_int_equal(h.msg_id, 8);
	assert_true(h.flags & UVFIO_F_ERROR);
	assert_int_equal(h.error_no, EFAULT);
	ssize_t sm = uvfio_build_dma_write(msg, sizeof(msg), 9, WIN_IOVA, data,
					   64);
	assert_int_equal(tu_send(f.twin_fd, msg, (size_t)sm, NULL, 0), 0);
	process_for(c, 5);
	n = read_msg(f.twin_fd, in, sizeof(in));
	memcpy(&h, in, sizeof(h));
	assert_int_equal(h.msg_id, 9);
	assert_true(h.flags & UVFIO_F_ERROR);
	assert_true(uvfio_client_connected(c));
	uvfio_client_destroy(c);
	fake_close(&f);
	free(data);
	free(win);
}

/* Undisturbed, a body in odd pieces lands whole. */
static void test_write_in_pieces(void **state)
{
	(void)state;
	struct fake f;
	struct uvfio_client *c;
	fake_open(&f, &c);
	uint8_t *win = calloc(1, MIB);
	assert_non_null(win);
	map_window(&f, c, win, MIB);
	static uint8_t msg[2 * MIB];
	uint8_t *data;
	size_t m = whole_window_write(msg, sizeof(msg), 10, 3, &data);
	/* In odd pieces, so the body arrives over many reads. */
	for (size_t off = 0; off < m; off += 70001)
		feed(f.twin_fd, c, msg + off, m - off < 70001 ? m - off : 70001);
	static uint8_t in[256];
	process_for(c, 5);
	assert_int_equal(read_msg(f.twin_fd, in, sizeof(in)),
			 UVFIO_HDR_SIZE + 16);
	assert_memory_equal(win, data, MIB);
	unmap_window(&f, c, MIB);
	uvfio_client_destroy(c);
	fake_close(&f);
	free(data);
	free(win);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_reply_outlives_unmap),
		cmocka_unit_test(test_write_into_unmapped_window),
		cmocka_unit_test(test_write_in_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
