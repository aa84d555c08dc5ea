/* SPDX-License-Identifier: MIT */
/*
 * Tests for the internal stream transport (src/transport) over real
 * AF_UNIX socketpairs: one end is driven by struct tp, the other is
 * written and read raw (or by a second tp), so framing, fd passing and
 * back-pressure are exercised against the kernel's actual behaviour rather
 * than a mock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/codec.h>
#include "transport/transport.h"
#include "util.h"

#define MAX_SINK 256
#define POLL_MS 5000 /* a hang fails the test instead of stalling it */
#define BIG (1u << 20)

/* ---- helpers ------------------------------------------------------------ */

struct got {
	uint8_t *buf;
	uint32_t size;
	unsigned nfds;
	int fds[TP_MAX_FDS];
	bool fds_open; /* every fd was valid while the callback ran */
	bool is_direct;
	uint8_t *direct;
	uint32_t direct_size;
};

struct sink {
	struct got m[MAX_SINK];
	unsigned n;
	bool keep;        /* take ownership of every fd */
	unsigned fail_at; /* 1-based message whose callback fails; 0: none */
	int fail_err;
};

static int sink_fn(void *opaque, struct tp_msg *m)
{
	struct sink *s = opaque;

	if (s->n == MAX_SINK)
		return -ENOSPC;
	struct got *g = &s->m[s->n++];
	g->buf = malloc(m->size);
	if (!g->buf)
		return -ENOMEM;
	memcpy(g->buf, m->buf, m->size);
	g->size = m->size;
	g->nfds = m->nfds;
	g->is_direct = m->is_direct;
	g->direct = m->direct;
	g->direct_size = m->direct_size;
	g->fds_open = true;
	for (unsigned i = 0; i < m->nfds; i++) {
		g->fds[i] = m->fds[i];
		if (m->fds[i] < 0 || fcntl(m->fds[i], F_GETFD) < 0)
			g->fds_open = false;
		if (s->keep)
			m->fds[i] = -1;
	}
	if (s->fail_at && s->n == s->fail_at)
		return s->fail_err;
	return 0;
}

static void sink_reset(struct sink *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free(s->m[i].buf);
	memset(s, 0, sizeof(*s));
}

static struct sink *sink_new(void)
{
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	return s;
}

static void sink_free(struct sink *s)
{
	sink_reset(s);
	free(s);
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* Compare fd numbers alone and a recycled number could hide a leak. */
struct pair {
	struct tp tp;
	int peer; /* blocking raw end */
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void pair_open(struct pair *p)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	set_nonblock(sv[0]);
	assert_int_equal(tp_init(&p->tp, sv[0]), 0);
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	tp_fini(&p->tp);
	if (p->peer >= 0)
		close(p->peer);
	p->peer = -1;
}

/* Payload pattern seeded by id and position, so any misplaced or
 * corrupted byte shows up in a compare. */
static uint8_t pat(unsigned id, size_t i)
{
	return (uint8_t)(id * 31u + i * 7u + (i >> 8));
}

static size_t mk_msg(uint8_t *buf, uint16_t id, uint16_t cmd, uint32_t flags,
		     size_t total)
{
	assert_int_equal(uvfio_build_hdr(buf, id, cmd, flags, total),
			 (ssize_t)total);
	for (size_t i = UVFIO_HDR_SIZE; i < total; i++)
		buf[i] = pat(id, i);
	return total;
}

/* A header with arbitrary (possibly invalid) fields. */
static void raw_hdr(uint8_t *buf, uint16_t id, uint32_t size, uint32_t flags)
{
	struct uvfio_hdr h = {
		.msg_id = id,
		.cmd = UVFIO_CMD_REGION_WRITE,
		.msg_size = size,
		.flags = flags,
	};
	memcpy(buf, &h, sizeof(h));
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* One sendmsg, so the fds ride on buf[0]. */
static void send_fds(int fd, const void *buf, size_t len, const int *fds,
		     unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 128)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(nfds <= 128);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)len);
}

/* recvmsg of exactly len bytes; returns the number of fds that came with
 * it (stored in fds). */
static unsigned recv_fds(int fd, void *buf, size_t len, int *fds,
			 unsigned max)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TP_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	assert_int_equal(recvmsg(fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC),
			 (ssize_t)len);
	assert_int_equal(mh.msg_flags & MSG_CTRUNC, 0);
	unsigned n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		assert_int_equal(c->cmsg_level, SOL_SOCKET);
		assert_int_equal(c->cmsg_type, SCM_RIGHTS);
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		assert_true(n + k <= max);
		memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
		n += k;
	}
	return n;
}

static void wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;
	do
		r = poll(&p, 1, POLL_MS);
	while (r < 0 && errno == EINTR);
	assert_int_equal(r, 1);
}

/* Receive until want messages arrived in total; returns the last result. */
static int recv_until(struct tp *tp, struct sink *s, unsigned want)
{
	int r = 0;
	while (s->n < want) {
		wait_fd(tp->fd, POLLIN);
		r = tp_recv(tp, sink_fn, s);
		if (r < 0)
			return r;
	}
	return r;
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Both fds name the same eventfd: a count written to one is read from the
 * other. */
static void assert_same_eventfd(int a, int b)
{
	uint64_t v = 0x1234;
	assert_int_equal(write(a, &v, sizeof(v)), sizeof(v));
	v = 0;
	assert_int_equal(read(b, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 0x1234);
}

static void assert_got(const struct got *g, const uint8_t *want, size_t len,
		       unsigned nfds)
{
	assert_int_equal(g->size, len);
	assert_memory_equal(g->buf, want, len);
	assert_int_equal(g->nfds, nfds);
}

/* ---- 1. framing across every read boundary ---------------------------------- */

/* Header-only, REGION_WRITE with 100 data bytes, REGION_READ. */
static size_t three_msgs(uint8_t *buf, size_t cap, size_t ends[3])
{
	uint8_t data[100];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	size_t off = mk_msg(buf, 1, UVFIO_CMD_DEVICE_RESET, 0, UVFIO_HDR_SIZE);
	ends[0] = off;
	ssize_t n = uvfio_build_region_write(buf + off, cap - off, 2, false, 0,
					     0x40, data, sizeof(data));
	assert_int_equal(n, 16 + 16 + 100);
	off += (size_t)n;
	ends[1] = off;
	n = uvfio_build_region_read(buf + off, cap - off, 3, 1, 0x10, 8);
	assert_int_equal(n, 16 + 16);
	off += (size_t)n;
	ends[2] = off;
	return off;
}

static unsigned complete_in(const size_t *ends, unsigned n, size_t k)
{
	unsigned c = 0;
	while (c < n && ends[c] <= k)
		c++;
	return c;
}

static void check_prefix(const struct sink *s, const uint8_t *all,
			 const size_t *ends, unsigned n)
{
	assert_int_equal(s->n, n);
	size_t start = 0;
	for (unsigned i = 0; i < n; i++) {
		assert_got(&s->m[i], all + start, ends[i] - start, 0);
		start = ends[i];
	}
}

static void test_split_every_offset(void **state)
{
	uint8_t all[512];
	size_t ends[3];
	size_t total = three_msgs(all, sizeof(all), ends);
	struct sink *s = sink_new();

	for (size_t k = 0; k <= total; k++) {
		struct pair p;
		pair_open(&p);
		if (k)
			write_all(p.peer, all, k);
		unsigned c = complete_in(ends, 3, k);
		int r = tp_recv(&p.tp, sink_fn, s);
		assert_int_equal(r, (int)c);
		check_prefix(s, all, ends, c);
		assert_int_equal(tp_rx_pending(&p.tp),
				 k - (c ? ends[c - 1] : 0));

		if (k < total)
			write_all(p.peer, all + k, total - k);
		r = tp_recv(&p.tp, sink_fn, s);
		assert_int_equal(r, (int)(3 - c));
		check_prefix(s, all, ends, 3);
		assert_int_equal(tp_rx_pending(&p.tp), 0);
		assert_int_equal(p.tp.n_rx_msgs, 3);

		sink_reset(s);
		pair_close(&p);
	}
	sink_free(s);
}

static void test_byte_by_byte(void **state)
{
	uint8_t all[512];
	size_t ends[3];
	size_t total = three_msgs(all, sizeof(all), ends);
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	for (size_t i = 0; i < total; i++) {
		write_all(p.peer, all + i, 1);
		unsigned before = complete_in(ends, 3, i);
		unsigned after = complete_in(ends, 3, i + 1);
		int r = tp_recv(&p.tp, sink_fn, s);
		assert_int_equal(r, (int)(after - before));
		check_prefix(s, all, ends, after);
	}
	check_prefix(s, all, ends, 3);
	pair_close(&p);
	sink_free(s);
}

/* ---- 2. batching ------------------------------------------------------------ */

#define NBATCH 200

static size_t batch_msgs(uint8_t *buf, size_t *ends, uint32_t flags)
{
	size_t off = 0;
	for (unsigned i = 0; i < NBATCH; i++) {
		off += mk_msg(buf + off, (uint16_t)i, UVFIO_CMD_REGION_READ,
			      flags, UVFIO_HDR_SIZE + (i % 5) * 8);
		ends[i] = off;
	}
	return off;
}

static void test_batch_recv(void **state)
{
	static uint8_t all[NBATCH * 64];
	size_t ends[NBATCH];
	size_t total = batch_msgs(all, ends, 0);
	struct sink *s = sink_new();
	struct pair p;

	assert_true(total < TP_RX_INITIAL);
	pair_open(&p);
	write_all(p.peer, all, total);
	int r = tp_recv(&p.tp, sink_fn, s);
	assert_int_equal(r, NBATCH);
	assert_int_equal(s->n, NBATCH);
	assert_true(p.tp.n_recvmsg <= 2);
	assert_int_equal(p.tp.n_rx_msgs, NBATCH);
	size_t start = 0;
	for (unsigned i = 0; i < NBATCH; i++) {
		assert_got(&s->m[i], all + start, ends[i] - start, 0);
		start = ends[i];
	}
	pair_close(&p);
	sink_free(s);
}

static void test_batch_send(void **state)
{
	static uint8_t all[NBATCH * 64], back[NBATCH * 64];
	size_t ends[NBATCH];
	size_t total = batch_msgs(all, ends, UVFIO_F_TYPE_REPLY);
	struct pair p;

	pair_open(&p);
	size_t start = 0;
	for (unsigned i = 0; i < NBATCH; i++) {
		assert_int_equal(tp_send(&p.tp, all + start,
					       ends[i] - start, NULL, 0),
				 0);
		start = ends[i];
	}
	assert_int_equal(p.tp.n_sendmsg, 0);
	assert_int_equal(tp_tx_pending(&p.tp), total);
	assert_int_equal(tp_flush(&p.tp), 0);
	assert_int_equal(p.tp.n_sendmsg, 1);
	assert_int_equal(tp_tx_pending(&p.tp), 0);

	read_all(p.peer, back, total);
	assert_memory_equal(back, all, total);
	/* Nothing more than the concatenation. */
	assert_int_equal(recv(p.peer, back, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	pair_close(&p);
}

/* ---- 3. a 1 MiB body, both directions ----------------------------------------- */

struct io_job {
	int fd;
	uint8_t *buf;
	size_t len;
	size_t chunk;
	int err;
};

static void *writer_main(void *arg)
{
	struct io_job *j = arg;
	size_t off = 0;
	while (off < j->len) {
		size_t n = j->len - off < j->chunk ? j->len - off : j->chunk;
		ssize_t w = write(j->fd, j->buf + off, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			j->err = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	return NULL;
}

static void *reader_main(void *arg)
{
	struct io_job *j = arg;
	size_t off = 0;
	while (off < j->len) {
		ssize_t r = read(j->fd, j->buf + off, j->len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			j->err = r < 0 ? errno : EIO;
			break;
		}
		off += (size_t)r;
	}
	return NULL;
}

/* Small socket buffers, so 1 MiB cannot fit and both sides must wait. */
static void small_sndbuf(int fd)
{
	int v = 64 << 10;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)),
			 0);
}

static size_t big_msg(uint8_t **out, uint16_t id)
{
	size_t cap = 2 * UVFIO_HDR_SIZE + BIG;
	uint8_t *data = malloc(BIG), *buf = malloc(cap);
	assert_non_null(data);
	assert_non_null(buf);
	for (size_t i = 0; i < BIG; i++)
		data[i] = pat(id, i);
	ssize_t n = uvfio_build_region_write(buf, cap, id, false, 0, 0, data,
					     BIG);
	assert_int_equal(n, (ssize_t)cap);
	free(data);
	*out = buf;
	return cap;
}

static void test_big_recv(void **state)
{
	uint8_t *msg;
	size_t len = big_msg(&msg, 0x77);
	struct sink *s = sink_new();
	struct pair p;
	pthread_t th;

	pair_open(&p);
	p.tp.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	small_sndbuf(p.peer);
	/* An odd chunk so writes straddle the header and page boundaries. */
	struct io_job j = { .fd = p.peer, .buf = msg, .len = len,
			    .chunk = 65537 };
	assert_int_equal(pthread_create(&th, NULL, writer_main, &j), 0);
	int r = 0;
	unsigned calls = 0;
	while (s->n < 1) {
		wait_fd(p.tp.fd, POLLIN);
		r = tp_recv(&p.tp, sink_fn, s);
		assert_true(r >= 0);
		assert_true(p.tp.rx_cap <= p.tp.max_msg_size);
		calls++;
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(j.err, 0);
	/* The socket buffer is far smaller than the message, so it really
	 * arrived over several reads. */
	assert_true(calls > 1);
	assert_int_equal(s->n, 1);
	assert_got(&s->m[0], msg, len, 0);
	assert_int_equal(tp_rx_pending(&p.tp), 0);

	/* Idle again: the next small message must not keep 1 MiB around. */
	uint8_t small[64];
	size_t sl = mk_msg(small, 1, UVFIO_CMD_REGION_READ, 0, sizeof(small));
	write_all(p.peer, small, sl);
	r = recv_until(&p.tp, s, 2);
	assert_true(r >= 0);
	assert_got(&s->m[1], small, sl, 0);
	assert_true(p.tp.rx_cap <= 4 * TP_RX_INITIAL);

	pair_close(&p);
	sink_free(s);
	free(msg);
}

static void test_big_send(void **state)
{
	uint8_t *msg;
	size_t len = big_msg(&msg, 0x99);
	uint8_t *back = malloc(len);
	struct pair p;
	pthread_t th;

	assert_non_null(back);
	pair_open(&p);
	p.tp.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	small_sndbuf(p.tp.fd);
	assert_int_equal(tp_send(&p.tp, msg, len, NULL, 0), 0);
	/* Nobody reads yet: the socket fills and the rest stays queued. */
	assert_int_equal(tp_flush(&p.tp), -EAGAIN);
	size_t left = tp_tx_pending(&p.tp);
	assert_true(left > 0 && left < len);
	assert_int_equal(tp_flush(&p.tp), -EAGAIN);
	assert_int_equal(tp_tx_pending(&p.tp), left);

	struct io_job j = { .fd = p.peer, .buf = back, .len = len };
	assert_int_equal(pthread_create(&th, NULL, reader_main, &j), 0);
	int r;
	do {
		wait_fd(p.tp.fd, POLLOUT);
		r = tp_flush(&p.tp);
		assert_true(r == 0 || r == -EAGAIN);
	} while (r);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(j.err, 0);
	assert_int_equal(tp_tx_pending(&p.tp), 0);
	assert_memory_equal(back, msg, len);
	assert_true(p.tp.n_sendmsg > 1);
	/* A drained queue does not hold on to a 1 MiB buffer. */
	assert_true(p.tp.tx_cap < BIG);

	pair_close(&p);
	free(back);
	free(msg);
}

/* ---- 4. fds ---------------------------------------------------------------- */

static void test_fd_on_header_kept(void **state)
{
	uint8_t msg[48];
	size_t len = mk_msg(msg, 5, UVFIO_CMD_DMA_MAP, 0, sizeof(msg));
	int efd = new_eventfd();
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	s->keep = true;
	send_fds(p.peer, msg, len, &efd, 1);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), 1);
	assert_got(&s->m[0], msg, len, 1);
	assert_true(s->m[0].fds_open);
	int fd = s->m[0].fds[0];
	assert_true(fd >= 0 && fd != efd);
	/* Kept: still open after the transport is done with the message. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_same_eventfd(efd, fd);
	close(fd);
	close(efd);
	pair_close(&p);
	sink_free(s);
}

static void test_fd_on_header_closed(void **state)
{
	uint8_t msg[48];
	size_t len = mk_msg(msg, 5, UVFIO_CMD_DMA_MAP, 0, sizeof(msg));
	int efd = new_eventfd();
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	int before = tu_fd_count(0);
	send_fds(p.peer, msg, len, &efd, 1);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), 1);
	assert_got(&s->m[0], msg, len, 1);
	assert_true(s->m[0].fds_open);
	assert_true(s->m[0].fds[0] != efd);
	assert_true(fd_closed(s->m[0].fds[0]));
	assert_int_equal(tu_fd_count(0), before);
	assert_true(fcntl(efd, F_GETFD) >= 0);
	close(efd);
	pair_close(&p);
	sink_free(s);
}

static void test_fd_on_body(void **state)
{
	uint8_t msg[48];
	size_t len = mk_msg(msg, 6, UVFIO_CMD_DMA_MAP, 0, sizeof(msg));
	int efd = new_eventfd();
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	int before = tu_fd_count(0);
	write_all(p.peer, msg, UVFIO_HDR_SIZE);
	/* The header is consumed first, so the read carrying the fd starts
	 * in the body; a read gluing both would be indistinguishable from a
	 * correct peer. */
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), 0);
	assert_int_equal(tp_rx_pending(&p.tp), UVFIO_HDR_SIZE);
	send_fds(p.peer, msg + UVFIO_HDR_SIZE, len - UVFIO_HDR_SIZE, &efd, 1);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), -EPROTO);
	assert_non_null(p.tp.why);
	assert_non_null(strstr(p.tp.why, "body"));
	assert_int_equal(s->n, 0);
	assert_int_equal(tu_fd_count(0), before);
	close(efd);
	pair_close(&p);
	sink_free(s);
}

static void too_many_fds(unsigned max_fds, unsigned nfds)
{
	uint8_t msg[32];
	size_t len = mk_msg(msg, 7, UVFIO_CMD_DMA_MAP, 0, sizeof(msg));
	int fds[TP_MAX_FDS + 1];
	struct sink *s = sink_new();
	struct pair p;

	assert_true(nfds <= TP_MAX_FDS + 1);
	fds[0] = new_eventfd();
	for (unsigned i = 1; i < nfds; i++) {
		fds[i] = dup(fds[0]);
		assert_true(fds[i] >= 0);
	}
	pair_open(&p);
	p.tp.max_fds = max_fds;
	int before = tu_fd_count(0);
	send_fds(p.peer, msg, len, fds, nfds);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), -EPROTO);
	assert_int_equal(s->n, 0);
	assert_int_equal(tu_fd_count(0), before);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	pair_close(&p);
	sink_free(s);
}

static void test_fds_over_max(void **state)
{
	too_many_fds(2, 3);
	too_many_fds(0, 1);
}

/* More than the transport's own control buffer holds (MSG_CTRUNC). */
static void test_fds_over_hard_cap(void **state)
{
	too_many_fds(TP_MAX_FDS, TP_MAX_FDS + 1);
}

static void test_fds_on_second_of_two(void **state)
{
	uint8_t m1[40], m2[24];
	size_t l1 = mk_msg(m1, 1, UVFIO_CMD_REGION_WRITE, 0, sizeof(m1));
	size_t l2 = mk_msg(m2, 2, UVFIO_CMD_DMA_MAP, 0, sizeof(m2));
	int efd = new_eventfd();
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	s->keep = true;
	write_all(p.peer, m1, l1);
	send_fds(p.peer, m2, l2, &efd, 1);
	/* Both are in the socket before the transport reads: one read. */
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), 2);
	assert_got(&s->m[0], m1, l1, 0);
	assert_got(&s->m[1], m2, l2, 1);
	assert_same_eventfd(efd, s->m[1].fds[0]);
	close(s->m[1].fds[0]);
	close(efd);
	pair_close(&p);
	sink_free(s);
}

/*
 * The read that brings a message's fds can end inside that message (the
 * receive buffer is full); the next read then brings the rest of it and the
 * next message with its own fds, before the first one was delivered.
 */
static void test_fds_two_messages_across_reads(void **state)
{
	static uint8_t fill[TP_RX_INITIAL];
	uint8_t b[32], c[16];
	size_t nfill = TP_RX_INITIAL - 8, off = 0;
	unsigned nf = 0;
	while (off < nfill) {
		off += mk_msg(fill + off, (uint16_t)(100 + nf), UVFIO_CMD_REGION_WRITE,
			      0, nfill / 4);
		nf++;
	}
	assert_int_equal(off, nfill);
	size_t lb = mk_msg(b, 1, UVFIO_CMD_DMA_MAP, 0, sizeof(b));
	size_t lc = mk_msg(c, 2, UVFIO_CMD_DMA_MAP, 0, sizeof(c));
	int e1 = new_eventfd(), e2 = new_eventfd();
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	s->keep = true;
	int before = tu_fd_count(0);
	write_all(p.peer, fill, nfill);
	send_fds(p.peer, b, lb, &e1, 1);
	send_fds(p.peer, c, lc, &e2, 1);
	int r = recv_until(&p.tp, s, nf + 2);
	assert_true(r >= 0);
	assert_int_equal(s->n, nf + 2);
	for (unsigned i = 0; i < nf; i++)
		assert_got(&s->m[i], fill + i * (nfill / 4), nfill / 4, 0);
	assert_got(&s->m[nf], b, lb, 1);
	assert_got(&s->m[nf + 1], c, lc, 1);
	assert_same_eventfd(e1, s->m[nf].fds[0]);
	assert_same_eventfd(e2, s->m[nf + 1].fds[0]);
	close(s->m[nf].fds[0]);
	close(s->m[nf + 1].fds[0]);
	assert_int_equal(tu_fd_count(0), before);
	close(e1);
	close(e2);
	pair_close(&p);
	sink_free(s);
}

/* The send side, checked with raw reads: the fd arrives with the 16 header
 * bytes of its message and nowhere else. */
static void test_send_fds_raw(void **state)
{
	uint8_t m1[32], m2[48], m3[16], got[64];
	size_t l1 = mk_msg(m1, 1, UVFIO_CMD_REGION_READ, 0, sizeof(m1));
	size_t l2 = mk_msg(m2, 2, UVFIO_CMD_DMA_MAP, 0, sizeof(m2));
	size_t l3 = mk_msg(m3, 3, UVFIO_CMD_DEVICE_RESET, 0, sizeof(m3));
	int efd = new_eventfd(), fds[4];
	struct pair p;

	pair_open(&p);
	assert_int_equal(tp_send(&p.tp, m1, l1, NULL, 0), 0);
	assert_int_equal(tp_send(&p.tp, m2, l2, &efd, 1), 0);
	assert_int_equal(tp_send(&p.tp, m3, l3, NULL, 0), 0);
	assert_int_equal(tp_flush(&p.tp), 0);
	/* m1 | m2 alone, so no later message shares its segment | m3 */
	assert_int_equal(p.tp.n_sendmsg, 3);
	/* The transport sent duplicates: ours is untouched. */
	assert_true(fcntl(efd, F_GETFD) >= 0);

	assert_int_equal(recv_fds(p.peer, got, l1, fds, 4), 0);
	assert_memory_equal(got, m1, l1);
	assert_int_equal(recv_fds(p.peer, got, UVFIO_HDR_SIZE, fds, 4), 1);
	assert_memory_equal(got, m2, UVFIO_HDR_SIZE);
	assert_true(fds[0] != efd);
	assert_same_eventfd(efd, fds[0]);
	close(fds[0]);
	assert_int_equal(recv_fds(p.peer, got, l2 - UVFIO_HDR_SIZE, fds, 4), 0);
	assert_memory_equal(got, m2 + UVFIO_HDR_SIZE, l2 - UVFIO_HDR_SIZE);
	assert_int_equal(recv_fds(p.peer, got, l3, fds, 4), 0);
	assert_memory_equal(got, m3, l3);

	close(efd);
	pair_close(&p);
}

/* Transport to transport: whatever the sender batches, the receiver must
 * attribute every fd to the message it was sent with. */
static void test_fds_tp_to_tp(void **state)
{
	uint8_t m[5][40];
	size_t l[5];
	int e1 = new_eventfd(), e2 = new_eventfd();
	int fds2[2] = { e1, e2 };
	struct sink *s = sink_new();
	struct tp b;
	struct pair p;

	for (unsigned i = 0; i < 5; i++)
		l[i] = mk_msg(m[i], (uint16_t)i, UVFIO_CMD_DMA_MAP, 0,
			      24 + i * 4);
	pair_open(&p);
	set_nonblock(p.peer);
	assert_int_equal(tp_init(&b, p.peer), 0);
	p.peer = -1; /* b owns it now */
	s->keep = true;

	assert_int_equal(tp_send(&p.tp, m[0], l[0], NULL, 0), 0);
	assert_int_equal(tp_send(&p.tp, m[1], l[1], &e1, 1), 0);
	assert_int_equal(tp_send(&p.tp, m[2], l[2], NULL, 0), 0);
	assert_int_equal(tp_send(&p.tp, m[3], l[3], fds2, 2), 0);
	assert_int_equal(tp_send(&p.tp, m[4], l[4], NULL, 0), 0);
	assert_int_equal(tp_flush(&p.tp), 0);

	int r = recv_until(&b, s, 5);
	assert_true(r >= 0);
	assert_int_equal(s->n, 5);
	assert_got(&s->m[0], m[0], l[0], 0);
	assert_got(&s->m[1], m[1], l[1], 1);
	assert_got(&s->m[2], m[2], l[2], 0);
	assert_got(&s->m[3], m[3], l[3], 2);
	assert_got(&s->m[4], m[4], l[4], 0);
	assert_same_eventfd(e1, s->m[1].fds[0]);
	assert_same_eventfd(e1, s->m[3].fds[0]);
	assert_same_eventfd(e2, s->m[3].fds[1]);
	close(s->m[1].fds[0]);
	close(s->m[3].fds[0]);
	close(s->m[3].fds[1]);

	tp_fini(&b);
	close(e1);
	close(e2);
	pair_close(&p);
	sink_free(s);
}

/*
 * A 1 MiB message with an fd goes out over many partial sendmsg() calls,
 * with messages on both sides of it; a single thread pumps both transports.
 */
static void test_fds_big_tp_to_tp(void **state)
{
	uint8_t *big;
	size_t lbig = big_msg(&big, 0x55);
	uint8_t m[3][40];
	size_t l[3];
	int efd = new_eventfd(), e2 = new_eventfd();
	struct sink *s = sink_new();
	struct tp b;
	struct pair p;

	for (unsigned i = 0; i < 3; i++)
		l[i] = mk_msg(m[i], (uint16_t)(10 + i), UVFIO_CMD_DMA_MAP, 0,
			      16 + i * 8);
	pair_open(&p);
	small_sndbuf(p.tp.fd);
	set_nonblock(p.peer);
	assert_int_equal(tp_init(&b, p.peer), 0);
	p.peer = -1;
	b.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	s->keep = true;
	int before = tu_fd_count(0);

	assert_int_equal(tp_send(&p.tp, m[0], l[0], NULL, 0), 0);
	assert_int_equal(tp_send(&p.tp, big, lbig, &efd, 1), 0);
	assert_int_equal(tp_send(&p.tp, m[1], l[1], NULL, 0), 0);
	assert_int_equal(tp_send(&p.tp, m[2], l[2], &e2, 1), 0);
	int fr = -EAGAIN, eagains = 0;
	while (s->n < 4) {
		if (fr == -EAGAIN) {
			fr = tp_flush(&p.tp);
			assert_true(fr == 0 || fr == -EAGAIN);
			eagains += fr == -EAGAIN;
		}
		int r = tp_recv(&b, sink_fn, s);
		assert_true(r >= 0);
	}
	assert_int_equal(fr, 0);
	assert_true(eagains > 0);
	assert_got(&s->m[0], m[0], l[0], 0);
	assert_got(&s->m[1], big, lbig, 1);
	assert_got(&s->m[2], m[1], l[1], 0);
	assert_got(&s->m[3], m[2], l[2], 1);
	assert_same_eventfd(efd, s->m[1].fds[0]);
	assert_same_eventfd(e2, s->m[3].fds[0]);
	close(s->m[1].fds[0]);
	close(s->m[3].fds[0]);
	assert_int_equal(tu_fd_count(0), before);

	tp_fini(&b);
	close(efd);
	close(e2);
	pair_close(&p);
	sink_free(s);
	free(big);
}

/* ---- 5. peer going away ---------------------------------------------------------- */

/* EOF may take one more call to be seen after the last bytes. */
static int recv_to_end(struct tp *tp, struct sink *s)
{
	int r = 0;
	for (int i = 0; i < 3 && r >= 0; i++) {
		wait_fd(tp->fd, POLLIN);
		r = tp_recv(tp, sink_fn, s);
	}
	return r;
}

static void test_close_mid_message(void **state)
{
	uint8_t all[512];
	size_t ends[3];
	three_msgs(all, sizeof(all), ends);
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	/* The first message and part of the second. */
	write_all(p.peer, all, ends[0] + 20);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(recv_to_end(&p.tp, s), -ECONNRESET);
	assert_non_null(p.tp.why);
	assert_non_null(strstr(p.tp.why, "middle"));
	assert_int_equal(s->n, 1);
	assert_got(&s->m[0], all, ends[0], 0);
	pair_close(&p);
	sink_free(s);
}

static void test_close_between_messages(void **state)
{
	uint8_t all[512];
	size_t ends[3];
	three_msgs(all, sizeof(all), ends);
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	write_all(p.peer, all, ends[1]);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(recv_to_end(&p.tp, s), -ECONNRESET);
	assert_non_null(p.tp.why);
	assert_null(strstr(p.tp.why, "middle"));
	check_prefix(s, all, ends, 2);
	pair_close(&p);
	sink_free(s);
}

static void test_flush_to_closed_peer(void **state)
{
	uint8_t m[64];
	size_t l = mk_msg(m, 1, UVFIO_CMD_REGION_READ, UVFIO_F_TYPE_REPLY,
			  sizeof(m));
	struct pair p;

	pair_open(&p);
	close(p.peer);
	p.peer = -1;
	/* SIGPIPE is at its default here: raising it would kill the test. */
	assert_int_equal(tp_send(&p.tp, m, l, NULL, 0), 0);
	assert_int_equal(tp_flush(&p.tp), -ECONNRESET);
	assert_non_null(p.tp.why);
	pair_close(&p);
}

/* ---- 6. framing errors ------------------------------------------------------------- */

static void bad_header(uint32_t size, uint32_t flags, uint32_t max,
		       int want)
{
	uint8_t buf[64];
	size_t l = mk_msg(buf, 1, UVFIO_CMD_REGION_READ, 0, 32);
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	if (max)
		p.tp.max_msg_size = max;
	/* A good message first, to see it still gets through; then only
	 * the bad header, no body: the error must not wait for one. */
	raw_hdr(buf + l, 2, size, flags);
	write_all(p.peer, buf, l + UVFIO_HDR_SIZE);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), want);
	assert_non_null(p.tp.why);
	assert_int_equal(s->n, 1);
	assert_got(&s->m[0], buf, l, 0);
	pair_close(&p);
	sink_free(s);
}

static void test_framing_errors(void **state)
{
	bad_header(8, 0, 0, -EBADMSG);
	bad_header(0, 0, 0, -EBADMSG);
	bad_header(4097, 0, 4096, -EMSGSIZE);
	bad_header(UINT32_MAX, 0, 0, -EMSGSIZE);
	bad_header(16, 3, 0, -EPROTO);
	bad_header(16, 2, 0, -EPROTO);
}

static void test_max_size_boundary(void **state)
{
	static uint8_t buf[4096];
	size_t l = mk_msg(buf, 9, UVFIO_CMD_REGION_WRITE, 0, sizeof(buf));
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	p.tp.max_msg_size = sizeof(buf);
	write_all(p.peer, buf, l);
	assert_int_equal(recv_until(&p.tp, s, 1), 1);
	assert_got(&s->m[0], buf, l, 0);
	pair_close(&p);
	sink_free(s);
}

/* ---- 7. bounded memory ----------------------------------------------------------- */

static void test_reserve_limits(void **state)
{
	static uint8_t m[1000], back[1000];
	size_t l = mk_msg(m, 1, UVFIO_CMD_REGION_READ, UVFIO_F_TYPE_REPLY,
			  sizeof(m));
	struct pair p;

	pair_open(&p);
	p.tp.tx_limit = 1024;
	assert_int_equal(tp_send(&p.tp, m, l, NULL, 0), 0);
	assert_int_equal(tp_tx_pending(&p.tp), 1000);

	/* Exactly at the limit is fine. */
	uint8_t *q = tp_reserve(&p.tp, 24);
	assert_non_null(q);
	errno = 0;
	assert_null(tp_reserve(&p.tp, 16));
	assert_int_equal(errno, EBUSY);
	tp_cancel(&p.tp);

	errno = 0;
	assert_null(tp_reserve(&p.tp, 25));
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(tp_send(&p.tp, m, 25, NULL, 0), -ENOBUFS);
	assert_int_equal(tp_tx_pending(&p.tp), 1000);
	assert_true(p.tp.tx_cap <= 16384);

	/* A short commit queues only what was committed. */
	q = tp_reserve(&p.tp, 24);
	assert_non_null(q);
	assert_int_equal(uvfio_build_hdr(q, 2, UVFIO_CMD_DEVICE_RESET,
					 UVFIO_F_TYPE_REPLY, 16),
			 16);
	assert_int_equal(tp_commit(&p.tp, 16, NULL, 0), 0);
	assert_int_equal(tp_tx_pending(&p.tp), 1016);
	assert_int_equal(tp_commit(&p.tp, 16, NULL, 0), -EINVAL);

	assert_int_equal(tp_flush(&p.tp), 0);
	read_all(p.peer, back, l);
	assert_memory_equal(back, m, l);
	read_all(p.peer, back, 16);
	struct uvfio_hdr h;
	memcpy(&h, back, sizeof(h));
	assert_int_equal(h.msg_id, 2);
	assert_int_equal(h.cmd, UVFIO_CMD_DEVICE_RESET);
	assert_int_equal(h.msg_size, 16);

	/* Drained: room again. */
	assert_non_null(tp_reserve(&p.tp, 1024));
	tp_cancel(&p.tp);
	/* msg_size is 32 bits, whatever the queue holds. */
	if (SIZE_MAX > UINT32_MAX) {
		errno = 0;
		assert_null(tp_reserve(&p.tp, (size_t)UINT32_MAX + 1));
		assert_int_equal(errno, EMSGSIZE);
	}
	pair_close(&p);
}

/* Flushing what is queued while a message is being built in place must not
 * move or lose the reservation. */
static void test_flush_during_reservation(void **state)
{
	uint8_t m1[64], m2[48], back[64];
	size_t l1 = mk_msg(m1, 1, UVFIO_CMD_REGION_READ, UVFIO_F_TYPE_REPLY,
			   sizeof(m1));
	size_t l2 = mk_msg(m2, 2, UVFIO_CMD_REGION_WRITE, UVFIO_F_TYPE_REPLY,
			   sizeof(m2));
	struct pair p;

	pair_open(&p);
	assert_int_equal(tp_send(&p.tp, m1, l1, NULL, 0), 0);
	uint8_t *q = tp_reserve(&p.tp, l2);
	assert_non_null(q);
	memcpy(q, m2, 20);
	assert_int_equal(tp_flush(&p.tp), 0);
	memcpy(q + 20, m2 + 20, l2 - 20);
	assert_int_equal(tp_commit(&p.tp, l2, NULL, 0), 0);
	assert_int_equal(tp_tx_pending(&p.tp), l2);
	assert_int_equal(tp_flush(&p.tp), 0);

	read_all(p.peer, back, l1);
	assert_memory_equal(back, m1, l1);
	read_all(p.peer, back, l2);
	assert_memory_equal(back, m2, l2);
	pair_close(&p);
}

#define FLOOD (10u << 20)

struct flood {
	uint32_t seq;
	size_t bytes;
	int bad; /* first mismatch, for a precise failure */
};

static size_t flood_size(uint32_t seq)
{
	return UVFIO_HDR_SIZE + (seq * 37u) % 1009u;
}

static int flood_fn(void *opaque, struct tp_msg *m)
{
	struct flood *f = opaque;
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	if (m->size != flood_size(f->seq) || h.msg_id != (uint16_t)f->seq ||
	    m->nfds)
		return f->bad = -EBADE;
	for (size_t i = UVFIO_HDR_SIZE; i < m->size; i++)
		if (m->buf[i] != pat((uint16_t)f->seq, i))
			return f->bad = -EBADE;
	f->seq++;
	f->bytes += m->size;
	return 0;
}

static void test_rx_bounded_flood(void **state)
{
	uint8_t *all = malloc(FLOOD + 2048);
	size_t total = 0;
	uint32_t n = 0;
	struct flood f = { 0 };
	struct pair p;
	pthread_t th;

	assert_non_null(all);
	while (total < FLOOD) {
		total += mk_msg(all + total, (uint16_t)n, UVFIO_CMD_REGION_WRITE,
				0, flood_size(n));
		n++;
	}
	pair_open(&p);
	/* Bigger than the initial buffer, so growing would be allowed but
	 * never needed for small messages. */
	p.tp.max_msg_size = 20000;
	small_sndbuf(p.peer);
	struct io_job j = { .fd = p.peer, .buf = all, .len = total,
			    .chunk = 100003 };
	assert_int_equal(pthread_create(&th, NULL, writer_main, &j), 0);
	size_t max_cap = 0;
	while (f.bytes < total) {
		wait_fd(p.tp.fd, POLLIN);
		int r = tp_recv(&p.tp, flood_fn, &f);
		assert_int_equal(f.bad, 0);
		assert_true(r >= 0);
		if (p.tp.rx_cap > max_cap)
			max_cap = p.tp.rx_cap;
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(j.err, 0);
	assert_int_equal(f.seq, n);
	assert_int_equal(f.bytes, total);
	assert_true(max_cap <= p.tp.max_msg_size);
	assert_int_equal(p.tp.n_rx_msgs, n);
	/* Batching: far fewer reads than messages. */
	assert_true(p.tp.n_recvmsg < n / 10);
	pair_close(&p);
	free(all);
}

/* ---- 8. deliver callback errors ------------------------------------------------------ */

static void test_callback_error_stops(void **state)
{
	uint8_t all[5 * 32];
	size_t off = 0;
	for (unsigned i = 0; i < 5; i++)
		off += mk_msg(all + off, (uint16_t)i, UVFIO_CMD_REGION_READ, 0,
			      32);
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	s->fail_at = 2;
	s->fail_err = -ENOTRECOVERABLE;
	write_all(p.peer, all, off);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), -ENOTRECOVERABLE);
	assert_int_equal(s->n, 2);
	assert_got(&s->m[0], all, 32, 0);
	assert_got(&s->m[1], all + 32, 32, 0);
	pair_close(&p);
	sink_free(s);
}

/* A failing callback that did not take its message's fds: they are closed. */
static void test_callback_error_closes_fds(void **state)
{
	uint8_t m1[32], m2[32], m3[32];
	size_t l1 = mk_msg(m1, 1, UVFIO_CMD_REGION_READ, 0, sizeof(m1));
	size_t l2 = mk_msg(m2, 2, UVFIO_CMD_DMA_MAP, 0, sizeof(m2));
	size_t l3 = mk_msg(m3, 3, UVFIO_CMD_REGION_READ, 0, sizeof(m3));
	int efd = new_eventfd();
	struct sink *s = sink_new();
	struct pair p;

	pair_open(&p);
	int before = tu_fd_count(0);
	s->fail_at = 2;
	s->fail_err = -EIO;
	write_all(p.peer, m1, l1);
	send_fds(p.peer, m2, l2, &efd, 1);
	write_all(p.peer, m3, l3);
	assert_int_equal(tp_recv(&p.tp, sink_fn, s), -EIO);
	assert_int_equal(s->n, 2);
	assert_got(&s->m[1], m2, l2, 1);
	assert_true(s->m[1].fds_open);
	assert_true(fd_closed(s->m[1].fds[0]));
	assert_int_equal(tu_fd_count(0), before);
	close(efd);
	pair_close(&p);
	sink_free(s);
}

/* A consumer that pauses on every message while told to. */
struct pauser {
	struct sink *sink;
	bool pause;
	unsigned offered;
};

static int pause_fn(void *opaque, struct tp_msg *m)
{
	struct pauser *p = opaque;
	p->offered++;
	if (p->pause)
		return TP_PAUSE;
	return sink_fn(p->sink, m);
}

/* Pausing leaves the message, with its fds, for the next call, and stops
 * reading from the socket in the meantime. */
static void test_pause_keeps_message_and_fds(void **state)
{
	(void)state;
	struct pair p;
	struct pauser pz = { .sink = sink_new() };
	uint8_t a[32], b[48], c[16];
	int efd = eventfd(0, EFD_CLOEXEC);

	pair_open(&p);
	int base = tu_fd_count(0);
	mk_msg(a, 1, UVFIO_CMD_REGION_WRITE, 0, sizeof(a));
	mk_msg(b, 2, UVFIO_CMD_DMA_MAP, 0, sizeof(b));
	mk_msg(c, 3, UVFIO_CMD_DEVICE_RESET, 0, sizeof(c));
	write_all(p.peer, a, sizeof(a));
	send_fds(p.peer, b, sizeof(b), &efd, 1);

	/* a is delivered, then the consumer pauses on b. */
	pz.sink->fail_at = 0;
	assert_int_equal(tp_recv(&p.tp, sink_fn, pz.sink), 2);
	sink_reset(pz.sink);
	write_all(p.peer, a, sizeof(a));
	send_fds(p.peer, b, sizeof(b), &efd, 1);
	pz.pause = true;
	assert_int_equal(tp_recv(&p.tp, pause_fn, &pz), 0);
	assert_true(p.tp.rx_paused);
	assert_int_equal(pz.offered, 1);
	/* While paused nothing more is read. */
	write_all(p.peer, c, sizeof(c));
	uint64_t reads = p.tp.n_recvmsg;
	assert_int_equal(tp_recv(&p.tp, pause_fn, &pz), 0);
	assert_int_equal(p.tp.n_recvmsg, reads);
	assert_int_equal(tu_fd_count(0), base + 1); /* b's fd, held */

	pz.pause = false;
	pz.sink->keep = false;
	assert_int_equal(tp_recv(&p.tp, pause_fn, &pz), 3);
	assert_false(p.tp.rx_paused);
	assert_int_equal(pz.sink->n, 3);
	assert_int_equal(pz.sink->m[0].nfds, 0);
	assert_int_equal(pz.sink->m[1].nfds, 1);
	assert_true(pz.sink->m[1].fds_open);
	assert_int_equal(pz.sink->m[2].nfds, 0);
	assert_memory_equal(pz.sink->m[2].buf, c, sizeof(c));
	assert_int_equal(tu_fd_count(0), base);

	close(efd);
	sink_free(pz.sink);
	pair_close(&p);
}

/* ---- 5. bodies sent and received in place ------------------------------------ */

/* Flush one transport into another until `want` messages arrived. */
static void pump_pair(struct tp *tx, struct tp *rx, struct sink *s,
		      unsigned want, void (*between)(void *), void *arg)
{
	for (int i = 0; i < 100000 && s->n < want; i++) {
		int r = tp_flush(tx);
		assert_true(r == 0 || r == -EAGAIN);
		if (between)
			between(arg);
		assert_true(tp_recv(rx, sink_fn, s) >= 0);
	}
	assert_int_equal(s->n, want);
}

static void tp_pair(struct tp *a, struct tp *b)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	tp_init(a, sv[0]);
	tp_init(b, sv[1]);
	b->max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	small_sndbuf(sv[0]);
}

/* Header and region_rw prefix of a REGION_WRITE whose data is elsewhere. */
static void *reserve_prefix(struct tp *tp, uint16_t id, size_t data)
{
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	uint8_t *p = tp_reserve(tp, pre);
	assert_non_null(p);
	struct uvfio_region_rw rw = { .offset = 0, .region = 2,
				      .count = (uint32_t)data };
	assert_int_equal(uvfio_build_hdr(p, id, UVFIO_CMD_REGION_WRITE, 0,
					 pre + data),
			 (ssize_t)(pre + data));
	memcpy(p + UVFIO_HDR_SIZE, &rw, sizeof(rw));
	return p;
}

struct ext_ctx {
	uint8_t *data;
	bool touched;
};

/* After the first flush: what has not left yet is read from data itself. */
static void touch_last(void *arg)
{
	struct ext_ctx *x = arg;
	if (!x->touched)
		x->data[BIG - 1] ^= 0xff;
	x->touched = true;
}

/*
 * QEMU's DMA_WRITE: head, data sent from where it lies, then 4 trailing
 * bytes that were built in the buffer with the head.  The receiver must see
 * them in that order, and the next message right after.
 */
static void test_ext_send_tail(void **state)
{
	(void)state;
	struct tp tx, rx;
	struct sink *s = sink_new();
	const enum uvfio_dma_layout q = UVFIO_DMA_LAYOUT_QEMU;
	const size_t off = uvfio_dma_data_offset(q);
	const size_t tail = uvfio_dma_data_trailer(q);
	uint8_t *data = malloc(BIG), small[64];
	assert_non_null(data);
	for (size_t i = 0; i < BIG; i++)
		data[i] = pat(9, i);
	tp_pair(&tx, &rx);

	uint8_t *p = tp_reserve(&tx, off + tail);
	assert_non_null(p);
	assert_int_equal(uvfio_build_dma_write_head(p, off + tail, q, 5, 0x1000,
						    BIG),
			 (ssize_t)(off + tail));
	assert_int_equal(tp_commit_ext_tail(&tx, off + tail, data, BIG,
						  tail, data),
			 0);
	size_t sl = mk_msg(small, 6, UVFIO_CMD_REGION_READ, 0, sizeof(small));
	assert_int_equal(tp_send(&tx, small, sl, NULL, 0), 0);
	s->keep = true;
	pump_pair(&tx, &rx, s, 2, NULL, NULL);
	assert_false(tp_ext_busy(&tx, NULL));

	assert_int_equal(s->m[0].size, uvfio_dma_data_msg_size(q, BIG));
	assert_memory_equal(s->m[0].buf + off, data, BIG);
	static const uint8_t zeros[4];
	assert_memory_equal(s->m[0].buf + off + BIG, zeros, tail);
	assert_got(&s->m[1], small, sl, 0);

	/* A tail that leaves no room for a header is refused. */
	p = tp_reserve(&tx, 20);
	assert_non_null(p);
	assert_int_equal(tp_commit_ext_tail(&tx, 20, data, BIG, 8, data),
			 -EINVAL);
	sink_free(s);
	tp_fini(&tx);
	tp_fini(&rx);
	free(data);
}

static void test_ext_send(void **state)
{
	struct tp tx, rx;
	struct sink *s = sink_new();
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	uint8_t *data = malloc(BIG), small[64], small2[48];
	assert_non_null(data);
	for (size_t i = 0; i < BIG; i++)
		data[i] = pat(5, i);
	tp_pair(&tx, &rx);
	int before = tu_fd_count(0);

	/* A buffered message, one with its body in place, one carrying an
	 * fd right behind it, and a last buffered one. */
	size_t sl = mk_msg(small, 1, UVFIO_CMD_REGION_READ, 0, sizeof(small));
	assert_int_equal(tp_send(&tx, small, sl, NULL, 0), 0);
	reserve_prefix(&tx, 2, BIG);
	assert_int_equal(tp_commit_ext(&tx, pre, data, BIG, data), 0);
	assert_true(tp_ext_busy(&tx, data));
	assert_int_equal(tp_tx_pending(&tx), sl + pre + BIG);
	int efd = new_eventfd();
	size_t sl2 = mk_msg(small2, 3, UVFIO_CMD_DMA_MAP, 0, sizeof(small2));
	assert_int_equal(tp_send(&tx, small2, sl2, &efd, 1), 0);
	assert_int_equal(tp_send(&tx, small, sl, NULL, 0), 0);

	struct ext_ctx x = { data, false };
	s->keep = true;
	pump_pair(&tx, &rx, s, 4, touch_last, &x);
	assert_false(tp_ext_busy(&tx, NULL));
	assert_int_equal(tp_tx_pending(&tx), 0);
	assert_int_equal(tx.n_tx_ext, 1);

	assert_got(&s->m[0], small, sl, 0);
	assert_int_equal(s->m[1].size, pre + BIG);
	/* The byte changed after the first flush arrived changed: the body
	 * went from where it lies, not from a copy. */
	assert_memory_equal(s->m[1].buf + pre, data, BIG);
	assert_int_equal(s->m[1].buf[pre + BIG - 1], pat(5, BIG - 1) ^ 0xff);
	assert_int_equal(s->m[2].nfds, 1);
	assert_memory_equal(s->m[2].buf, small2, sl2);
	assert_same_eventfd(s->m[2].fds[0], efd);
	assert_got(&s->m[3], small, sl, 0);

	close(s->m[2].fds[0]);
	close(efd);
	sink_free(s);
	tp_fini(&rx);
	tp_fini(&tx);
	assert_int_equal(tu_fd_count(0), before - 2);
	free(data);
}

static void test_ext_detach(void **state)
{
	struct tp tx, rx;
	struct sink *s = sink_new();
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	uint8_t *data = malloc(BIG);
	assert_non_null(data);
	for (size_t i = 0; i < BIG; i++)
		data[i] = pat(6, i);
	tp_pair(&tx, &rx);
	reserve_prefix(&tx, 7, BIG);
	assert_int_equal(tp_commit_ext(&tx, pre, data, BIG, data), 0);
	assert_int_equal(tp_flush(&tx), -EAGAIN); /* partly sent */
	assert_true(tp_ext_busy(&tx, data));
	assert_false(tp_ext_busy(&tx, s)); /* another owner's */
	assert_int_equal(tp_ext_detach(&tx, data), 0);
	assert_false(tp_ext_busy(&tx, data));
	/* The owner may now reuse or free its memory. */
	memset(data, 0xee, BIG);
	pump_pair(&tx, &rx, s, 1, NULL, NULL);
	for (size_t i = 0; i < BIG; i++)
		if (s->m[0].buf[pre + i] != pat(6, i))
			fail_msg("byte %zu differs after detach", i);
	/* A fini with a body still queued frees its copy (ASan checks). */
	reserve_prefix(&tx, 8, BIG);
	assert_int_equal(tp_commit_ext(&tx, pre, data, BIG, data), 0);
	assert_int_equal(tp_flush(&tx), -EAGAIN);
	assert_int_equal(tp_ext_detach(&tx, NULL), 0);
	sink_free(s);
	tp_fini(&rx);
	tp_fini(&tx);
	free(data);
}

struct direct_sink {
	uint8_t *dst;
	unsigned offered;
};

/* Takes the data of REGION_WRITEs of at least 64 KiB. */
static void *test_sink(void *opaque, const uint8_t *msg, size_t have,
		       size_t *skip)
{
	struct direct_sink *d = opaque;
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	d->offered++;
	assert_true(have >= UVFIO_HDR_SIZE && have < h.msg_size);
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	if (h.cmd != UVFIO_CMD_REGION_WRITE || have < pre)
		return NULL;
	*skip = pre;
	return d->dst;
}

/* The deliver side of the direct tests: the sink state and messages. */
struct direct_ctx {
	struct direct_sink ds;
	struct sink s;
};

static int direct_deliver(void *opaque, struct tp_msg *m)
{
	struct direct_ctx *x = opaque;
	return sink_fn(&x->s, m);
}

static void *direct_sink_fn(void *opaque, const uint8_t *msg, size_t have,
			    size_t *skip)
{
	struct direct_ctx *x = opaque;
	return test_sink(&x->ds, msg, have, skip);
}

static void test_direct_recv(void **state)
{
	uint8_t *msg;
	size_t len = big_msg(&msg, 0x42);
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	uint8_t small[64];
	size_t sl = mk_msg(small, 9, UVFIO_CMD_REGION_READ, 0, sizeof(small));
	/* The big message and a small one in one stream, in odd chunks. */
	uint8_t *all = malloc(len + sl);
	assert_non_null(all);
	memcpy(all, msg, len);
	memcpy(all + len, small, sl);
	struct direct_ctx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->ds.dst = calloc(1, BIG);
	assert_non_null(x->ds.dst);
	struct pair p;
	pthread_t th;
	pair_open(&p);
	p.tp.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	tp_set_sink(&p.tp, direct_sink_fn);
	small_sndbuf(p.peer);
	struct io_job j = { .fd = p.peer, .buf = all, .len = len + sl,
			    .chunk = 65537 };
	assert_int_equal(pthread_create(&th, NULL, writer_main, &j), 0);
	while (x->s.n < 2) {
		wait_fd(p.tp.fd, POLLIN);
		assert_true(tp_recv(&p.tp, direct_deliver, x) >= 0);
		/* The body never passes through the receive buffer. */
		assert_true(p.tp.rx_cap < 4 * TP_RX_INITIAL);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(j.err, 0);
	assert_int_equal(x->ds.offered, 1);
	assert_true(x->s.m[0].is_direct);
	assert_ptr_equal(x->s.m[0].direct, x->ds.dst);
	assert_int_equal(x->s.m[0].direct_size, len);
	assert_int_equal(x->s.m[0].size, pre);
	assert_memory_equal(x->s.m[0].buf, msg, pre);
	assert_memory_equal(x->ds.dst, msg + pre, BIG);
	assert_false(x->s.m[1].is_direct);
	assert_got(&x->s.m[1], small, sl, 0);
	assert_int_equal(p.tp.n_rx_direct, 1);
	assert_int_equal(tp_rx_pending(&p.tp), 0);

	pair_close(&p);
	sink_reset(&x->s);
	free(x->ds.dst);
	free(x);
	free(all);
	free(msg);
}

static void test_direct_cancel(void **state)
{
	uint8_t *msg;
	size_t len = big_msg(&msg, 0x43);
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	uint8_t small[64];
	size_t sl = mk_msg(small, 10, UVFIO_CMD_REGION_READ, 0, sizeof(small));
	struct direct_ctx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->ds.dst = calloc(1, BIG);
	assert_non_null(x->ds.dst);
	struct pair p;
	pair_open(&p);
	p.tp.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	tp_set_sink(&p.tp, direct_sink_fn);

	const size_t half = pre + 4096;
	write_all(p.peer, msg, half);
	assert_int_equal(tp_recv(&p.tp, direct_deliver, x), 0);
	assert_memory_equal(x->ds.dst, msg + pre, 4096);
	/* Other memory: nothing happens. */
	assert_false(tp_direct_cancel(&p.tp, msg, len));
	assert_true(tp_direct_cancel(&p.tp, x->ds.dst + 100, 1));
	memset(x->ds.dst, 0, BIG);
	/* The rest is read and dropped; the stream stays in step. */
	struct io_job j = { .fd = p.peer, .buf = msg + half,
			    .len = len - half, .chunk = 65536 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer_main, &j), 0);
	while (x->s.n < 1) {
		wait_fd(p.tp.fd, POLLIN);
		assert_true(tp_recv(&p.tp, direct_deliver, x) >= 0);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	write_all(p.peer, small, sl);
	while (x->s.n < 2) {
		wait_fd(p.tp.fd, POLLIN);
		assert_true(tp_recv(&p.tp, direct_deliver, x) >= 0);
	}
	assert_true(x->s.m[0].is_direct);
	assert_null(x->s.m[0].direct);
	assert_int_equal(x->s.m[0].direct_size, len);
	for (size_t i = 0; i < BIG; i++)
		if (x->ds.dst[i])
			fail_msg("byte %zu written after the cancel", i);
	assert_got(&x->s.m[1], small, sl, 0);

	pair_close(&p);
	sink_reset(&x->s);
	free(x->ds.dst);
	free(x);
	free(msg);
}

/* Fds on body bytes are as wrong in a body received in place. */
static void test_direct_fds_on_body(void **state)
{
	uint8_t *msg;
	big_msg(&msg, 0x44);
	const size_t pre = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	struct direct_ctx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->ds.dst = calloc(1, BIG);
	assert_non_null(x->ds.dst);
	struct pair p;
	pair_open(&p);
	p.tp.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	tp_set_sink(&p.tp, direct_sink_fn);
	int before = tu_fd_count(0);
	write_all(p.peer, msg, pre + 100);
	assert_int_equal(tp_recv(&p.tp, direct_deliver, x), 0);
	int efd = new_eventfd();
	send_fds(p.peer, msg + pre + 100, 100, &efd, 1);
	close(efd);
	assert_int_equal(tp_recv(&p.tp, direct_deliver, x), -EPROTO);
	assert_non_null(p.tp.why);
	assert_int_equal(x->s.n, 0);
	assert_int_equal(tu_fd_count(0), before);
	pair_close(&p);
	free(x->ds.dst);
	free(x);
	free(msg);
}

/* A handler may unstash behind a message received in place, as behind
 * any other: what it put back is delivered next, in order. */
static struct tp_stash *unstash_src;
static struct tp *unstash_tp;

static int unstash_deliver(void *opaque, struct tp_msg *m)
{
	struct direct_ctx *x = opaque;
	if (m->is_direct)
		assert_int_equal(tp_unstash(unstash_tp, unstash_src), 0);
	return sink_fn(&x->s, m);
}

static void test_direct_unstash(void **state)
{
	uint8_t *msg;
	size_t len = big_msg(&msg, 0x45);
	uint8_t small[64];
	size_t sl = mk_msg(small, 11, UVFIO_CMD_REGION_READ, 0, sizeof(small));
	struct tp_stash st = { 0 };
	int efd = new_eventfd();
	int fds[1] = { efd };
	struct tp_msg sm = { .buf = small, .size = (uint32_t)sl,
				   .fds = fds, .nfds = 1 };
	assert_int_equal(tp_stash_msg(&st, &sm), 0);
	assert_int_equal(fds[0], -1); /* the stash holds it now */
	struct direct_ctx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->ds.dst = calloc(1, BIG);
	assert_non_null(x->ds.dst);
	struct pair p;
	pair_open(&p);
	p.tp.max_msg_size = 2 * UVFIO_HDR_SIZE + BIG + 4096;
	tp_set_sink(&p.tp, direct_sink_fn);
	unstash_src = &st;
	unstash_tp = &p.tp;
	struct io_job j = { .fd = p.peer, .buf = msg, .len = len,
			    .chunk = 65536 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer_main, &j), 0);
	for (int i = 0; i < 100000 && x->s.n < 2; i++) {
		wait_fd(p.tp.fd, POLLIN);
		assert_true(tp_recv(&p.tp, unstash_deliver, x) >= 0);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(x->s.n, 2);
	assert_true(x->s.m[0].is_direct);
	assert_memory_equal(x->ds.dst, msg + len - BIG, BIG);
	assert_got(&x->s.m[1], small, sl, 1);
	assert_int_equal(tp_rx_pending(&p.tp), 0);
	pair_close(&p);
	tp_stash_free(&st);
	sink_reset(&x->s);
	free(x->ds.dst);
	free(x);
	free(msg);
}

int main(void)
{
	/* An inherited SIG_IGN would hide a missing MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_DFL);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ext_send),
		cmocka_unit_test(test_ext_send_tail),
		cmocka_unit_test(test_ext_detach),
		cmocka_unit_test(test_direct_recv),
		cmocka_unit_test(test_direct_cancel),
		cmocka_unit_test(test_direct_fds_on_body),
		cmocka_unit_test(test_direct_unstash),
		cmocka_unit_test(test_split_every_offset),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_batch_recv),
		cmocka_unit_test(test_batch_send),
		cmocka_unit_test(test_big_recv),
		cmocka_unit_test(test_big_send),
		cmocka_unit_test(test_fd_on_header_kept),
		cmocka_unit_test(test_fd_on_header_closed),
		cmocka_unit_test(test_fd_on_body),
		cmocka_unit_test(test_fds_over_max),
		cmocka_unit_test(test_fds_over_hard_cap),
		cmocka_unit_test(test_fds_on_second_of_two),
		cmocka_unit_test(test_fds_two_messages_across_reads),
		cmocka_unit_test(test_send_fds_raw),
		cmocka_unit_test(test_fds_tp_to_tp),
		cmocka_unit_test(test_fds_big_tp_to_tp),
		cmocka_unit_test(test_close_mid_message),
		cmocka_unit_test(test_close_between_messages),
		cmocka_unit_test(test_flush_to_closed_peer),
		cmocka_unit_test(test_framing_errors),
		cmocka_unit_test(test_max_size_boundary),
		cmocka_unit_test(test_reserve_limits),
		cmocka_unit_test(test_flush_during_reservation),
		cmocka_unit_test(test_rx_bounded_flood),
		cmocka_unit_test(test_callback_error_stops),
		cmocka_unit_test(test_callback_error_closes_fds),
		cmocka_unit_test(test_pause_keeps_message_and_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
