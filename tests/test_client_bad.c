/* SPDX-License-Identifier: MIT */
/*
 * The client against a misbehaving fake server: every kind of bad reply
 * and bad server command.  The client must answer with an error or close
 * the connection, never crash, hang, or leak an fd.
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

enum mode {
	ID_MISMATCH,
	CMD_MISMATCH,
	INFO_TOO_LONG,
	READ_COUNT_TOO_BIG,
	READ_DATA_SHORT,
	CAPS_LOOP,
	FD_WITHOUT_MMAP,
	REPLY_NO_REPLY_FLAG,
	SIZE_BELOW_HEADER,
	SIZE_HUGE,
	CLOSE_MID_REPLY,
	TYPE_BITS_3,
	TWO_REPLIES,
	NEVER_ANSWER,
	ERRNO_ZERO,      /* an error reply: fails the request only */
	ERROR_WITH_BODY, /* libvfio-user does this: accepted */
	DMA_UNMAPPED,    /* server asks for memory we never mapped */
	DMA_BAD_COUNT,   /* DMA_WRITE whose size disagrees with count */
	NMODES,
};

struct fake {
	int fd;
	enum mode mode;
	bool dma_refused; /* DMA modes: the client answered with an error */
};

static size_t rd_msg(int fd, uint8_t *b, size_t cap)
{
	size_t got = 0;
	while (got < 16) {
		ssize_t n = read(fd, b + got, 16 - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	struct uvfio_hdr h;
	memcpy(&h, b, 16);
	if (h.msg_size > cap)
		return 0;
	while (got < h.msg_size) {
		ssize_t n = read(fd, b + got, h.msg_size - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return got;
}

static void send_fd(int sock, const void *b, size_t len, int fd)
{
	/* A peer that hung up is what some cases expect: not checked. */
	(void)tu_send(sock, b, len, &fd, fd >= 0 ? 1 : 0);
}

static void *fake_server(void *arg)
{
	struct fake *f = arg;
	uint8_t in[4096], out[4096];
	struct uvfio_hdr h;
	ssize_t n;

	/* A correct VERSION exchange first. */
	if (!rd_msg(f->fd, in, sizeof(in)))
		return NULL;
	memcpy(&h, in, 16);
	n = uvfio_build_version(out, sizeof(out), h.msg_id, true, 0, 2,
				"{\"capabilities\":{\"max_msg_fds\":8}}");
	send_fd(f->fd, out, (size_t)n, -1);

	if (f->mode == DMA_UNMAPPED || f->mode == DMA_BAD_COUNT) {
		/* Ask the client for DMA, then check its answer and answer its
		 * next request correctly. */
		uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		if (f->mode == DMA_UNMAPPED) {
			n = uvfio_build_dma_read(out, sizeof(out), 77, 0xdead0000, 8);
		} else {
			n = uvfio_build_dma_write(out, sizeof(out), 77, 0x1000,
						  data, 8);
			struct uvfio_dma_rw d = { 0x1000, 9 };
			memcpy(out + 16, &d, sizeof(d));
		}
		send_fd(f->fd, out, (size_t)n, -1);
		/* The client's error reply and its next command may come in
		 * either order. */
		bool got_err = false, answered = false;
		while (!got_err || !answered) {
			if (!rd_msg(f->fd, in, sizeof(in)))
				return NULL;
			memcpy(&h, in, 16);
			if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY) {
				if (h.msg_size == 16 && h.msg_id == 77 &&
				    (h.flags & UVFIO_F_ERROR) && h.error_no)
					f->dma_refused = true;
				got_err = true;
				continue;
			}
			n = uvfio_build_device_info_reply(out, sizeof(out),
							  h.msg_id, UVFIO_DEV_PCI,
							  9, 5);
			send_fd(f->fd, out, (size_t)n, -1);
			answered = true;
		}
		/* Then plain service until the client hangs up. */
		while (rd_msg(f->fd, in, sizeof(in))) {
			memcpy(&h, in, 16);
			n = uvfio_build_device_info_reply(out, sizeof(out),
							  h.msg_id, UVFIO_DEV_PCI,
							  9, 5);
			send_fd(f->fd, out, (size_t)n, -1);
		}
		return NULL;
	}

	/* The request under test. */
	if (!rd_msg(f->fd, in, sizeof(in)))
		return NULL;
	memcpy(&h, in, 16);
	struct uvfio_hdr rh = { .msg_id = h.msg_id, .cmd = h.cmd,
				.flags = UVFIO_F_TYPE_REPLY };
	uint8_t p[256];
	memset(p, 0, sizeof(p));
	size_t plen = 0;
	int fd = -1;
	switch (f->mode) {
	case ID_MISMATCH:
		rh.msg_id++;
		plen = 16;
		break;
	case CMD_MISMATCH:
		rh.cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO;
		plen = 16;
		break;
	case INFO_TOO_LONG:
		plen = 64; /* the request allowed 16 */
		break;
	case READ_COUNT_TOO_BIG: {
		struct uvfio_region_rw r = { 0, 7, 8 };
		memcpy(p, &r, 16);
		plen = 16 + 8;
		break;
	}
	case READ_DATA_SHORT: {
		struct uvfio_region_rw r = { 0, 7, 4 };
		memcpy(p, &r, 16);
		plen = 16 + 2;
		break;
	}
	case CAPS_LOOP: {
		/* First the short answer that asks for 48 bytes, then a chain
		 * whose capability points back at itself. */
		struct uvfio_region_info ri = {
			.argsz = 48, .flags = UVFIO_REGION_READ, .index = 0,
			.size = 4096,
		};
		n = uvfio_build_reply(out, sizeof(out), h.msg_id, h.cmd, &ri,
				      sizeof(ri), NULL, 0);
		send_fd(f->fd, out, (size_t)n, -1);
		if (!rd_msg(f->fd, in, sizeof(in)))
			return NULL;
		memcpy(&h, in, 16);
		rh.msg_id = h.msg_id;
		ri.flags |= UVFIO_REGION_CAPS;
		ri.cap_offset = 32;
		memcpy(p, &ri, 32);
		struct uvfio_cap_type tc = {
			.hdr = { UVFIO_CAP_TYPE, 1, 32 }, .type = 1, .subtype = 1
		};
		memcpy(p + 32, &tc, 16);
		plen = 48;
		break;
	}
	case FD_WITHOUT_MMAP: {
		struct uvfio_region_info ri = {
			.argsz = 32, .flags = UVFIO_REGION_READ, .index = 0,
			.size = 4096,
		};
		memcpy(p, &ri, 32);
		plen = 32;
		fd = eventfd(0, 0);
		if (fd < 0)
			abort();
		break;
	}
	case REPLY_NO_REPLY_FLAG:
		rh.flags |= UVFIO_F_NO_REPLY;
		plen = 16;
		break;
	case SIZE_BELOW_HEADER:
		rh.msg_size = 8;
		send_fd(f->fd, &rh, 16, -1);
		rd_msg(f->fd, in, sizeof(in));
		return NULL;
	case SIZE_HUGE:
		rh.msg_size = 1u << 30;
		send_fd(f->fd, &rh, 16, -1);
		rd_msg(f->fd, in, sizeof(in));
		return NULL;
	case CLOSE_MID_REPLY:
		send_fd(f->fd, &rh, 10, -1);
		shutdown(f->fd, SHUT_RDWR);
		return NULL;
	case TYPE_BITS_3:
		rh.flags = 3;
		plen = 16;
		break;
	case TWO_REPLIES:
		plen = 16;
		break;
	case NEVER_ANSWER:
		rd_msg(f->fd, in, sizeof(in));
		return NULL;
	case ERRNO_ZERO:
		rh.flags |= UVFIO_F_ERROR;
		break;
	case ERROR_WITH_BODY:
		rh.flags |= UVFIO_F_ERROR;
		rh.error_no = EBUSY;
		plen = 16;
		break;
	case DMA_UNMAPPED:
	case DMA_BAD_COUNT:
	case NMODES:
		abort(); /* served above, or not a mode */
	}
	/* The 16-byte bodies answer DEVICE_GET_INFO: a valid one, so only
	 * the header's fault is under test. */
	if (plen == 16 && !(rh.flags & UVFIO_F_ERROR)) {
		struct uvfio_device_info di = { 16, UVFIO_DEV_PCI, 9, 5 };
		memcpy(p, &di, 16);
	}
	rh.msg_size = (uint32_t)(16 + plen);
	memcpy(out, &rh, 16);
	memcpy(out + 16, p, plen);
	send_fd(f->fd, out, 16 + plen, fd);
	if (fd >= 0)
		close(fd);
	if (f->mode == TWO_REPLIES)
		send_fd(f->fd, out, 16 + plen, -1);
	/* Answer one more GET_INFO properly (error-reply modes go on). */
	if (rd_msg(f->fd, in, sizeof(in))) {
		memcpy(&h, in, 16);
		n = uvfio_build_device_info_reply(out, sizeof(out), h.msg_id,
						  UVFIO_DEV_PCI, 9, 5);
		send_fd(f->fd, out, (size_t)n, -1);
		rd_msg(f->fd, in, sizeof(in));
	}
	return NULL;
}

static void run(enum mode mode, int expect, bool stays_connected)
{
	int before = tu_fd_count(0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct fake f = { sv[1], mode, false };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fake_server, &f), 0);

	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, getenv("DEBUG") ? 7 : -1);
	uvfio_client_set_timeout(c, 300);
	uvfio_client_set_twin_socket(c, false);
	assert_int_equal(uvfio_client_adopt_fd(c, sv[0]), 0);

	struct uvfio_device_info di;
	struct uvfio_region_info ri;
	uint8_t buf[8];
	int r;
	switch (mode) {
	case READ_COUNT_TOO_BIG:
	case READ_DATA_SHORT:
		r = uvfio_client_region_read(c, 7, 0, buf, 4);
		break;
	case CAPS_LOOP:
	case FD_WITHOUT_MMAP:
		r = uvfio_client_get_region_info(c, 0, &ri);
		break;
	default:
		/* DMA_UNMAPPED, DMA_BAD_COUNT: the call lets the client read
		 * the fake's DMA request, which comes before the reply. */
		r = uvfio_client_get_device_info(c, &di);
		break;
	}
	assert_int_equal(r, expect);
	if (mode == TWO_REPLIES) {
		/* The call got the first reply; the unsolicited second one
		 * ends the connection when the client reads it. */
		for (int i = 0; i < 100 && uvfio_client_connected(c); i++) {
			uvfio_client_process(c);
			usleep(1000);
		}
	}
	assert_int_equal(uvfio_client_connected(c), stays_connected);
	if (stays_connected) {
		assert_int_equal(uvfio_client_get_device_info(c, &di), 0);
		assert_int_equal(di.num_regions, 9);
	}
	uvfio_client_destroy(c);
	shutdown(sv[1], SHUT_RDWR);
	pthread_join(t, NULL);
	if (mode == DMA_UNMAPPED || mode == DMA_BAD_COUNT)
		assert_true(f.dma_refused);
	close(sv[1]);
	assert_int_equal(tu_fd_count(0), before);
}

static void test_bad_replies(void **state)
{
	(void)state;
	run(ID_MISMATCH, -EPROTO, false);
	run(CMD_MISMATCH, -EPROTO, false);
	run(INFO_TOO_LONG, -EPROTO, false);
	run(READ_COUNT_TOO_BIG, -EPROTO, false);
	run(READ_DATA_SHORT, -EPROTO, false);
	run(CAPS_LOOP, -EPROTO, true);
	run(FD_WITHOUT_MMAP, -EPROTO, false);
	run(REPLY_NO_REPLY_FLAG, -EPROTO, false);
	run(TYPE_BITS_3, -EPROTO, false);
}

static void test_bad_framing(void **state)
{
	(void)state;
	run(SIZE_BELOW_HEADER, -EBADMSG, false);
	run(SIZE_HUGE, -EMSGSIZE, false);
	run(CLOSE_MID_REPLY, -ECONNRESET, false);
	run(TWO_REPLIES, 0, false);
	run(NEVER_ANSWER, -ETIMEDOUT, false);
}

static void test_error_replies(void **state)
{
	(void)state;
	run(ERRNO_ZERO, -EIO, true);
	run(ERROR_WITH_BODY, -EBUSY, true);
}

static void test_bad_server_commands(void **state)
{
	(void)state;
	run(DMA_UNMAPPED, 0, true);
	run(DMA_BAD_COUNT, 0, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_bad_framing),
		cmocka_unit_test(test_error_replies),
		cmocka_unit_test(test_bad_server_commands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
