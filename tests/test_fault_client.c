/* SPDX-License-Identifier: MIT */
/*
 * The client survives its server: a server process killed (SIGKILL) in the
 * middle of a reply, of a DMA request, or with fds in flight; and the
 * values a server states in VERSION (max_data_xfer_size 0, 1, 2^32).
 *
 * The server is a raw fake in a forked process that speaks exactly the
 * bytes a test wants, then dies where the test says.  The library client
 * in this process must fail its calls promptly (not at the timeout) with
 * a connection error, complete every asynchronous request with an error,
 * and hold no fd of the dead connection.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

#define MIB (1024u * 1024u)
#define REGION_SIZE (4 * MIB)

enum mode {
	M_SERVE,          /* answer everything */
	M_DIE_MID_REPLY,  /* half a REGION_READ reply, then SIGKILL */
	M_DIE_MID_DMA,    /* half a DMA_READ request, then SIGKILL */
	M_DIE_FDS,        /* a reply header carrying an fd, then SIGKILL */
	M_DIE_AFTER_DMA,  /* a whole DMA_WRITE request, then SIGKILL */
};

struct stats {
	uint32_t reads, max_count;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the fake server (child process) -------------------------------------------- */

/* A whole message; fds that come with it are closed.  Size, or 0 at EOF. */
static ssize_t recv_msg(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0, want = UVFIO_HDR_SIZE;
	while (got < want) {
		ssize_t n = recv(fd, buf + got, want - got, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return 0;
		got += (size_t)n;
		if (got == UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, buf, sizeof(h));
			if (h.msg_size > cap || h.msg_size < UVFIO_HDR_SIZE)
				return 0;
			want = h.msg_size;
		}
	}
	return (ssize_t)got;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 29 + 11);
}

static void die(void)
{
	usleep(20000); /* let the bytes reach the peer before the kill */
	raise(SIGKILL);
}

static int fake_server(int fd, enum mode mode, const char *json, int stats_fd)
{
	static uint8_t in[64 * 1024], out[2 * MIB];
	struct stats st = { 0, 0 };
	for (;;) {
		ssize_t n = recv_msg(fd, in, sizeof(in));
		if (n == 0)
			break;
		struct uvfio_hdr h;
		memcpy(&h, in, sizeof(h));
		ssize_t m = -1;
		switch (h.cmd) {
		case UVFIO_CMD_VERSION:
			m = uvfio_build_version(out, sizeof(out), h.msg_id, true, 0,
						0, json);
			break;
		case UVFIO_CMD_DEVICE_GET_INFO:
			m = uvfio_build_device_info_reply(out, sizeof(out),
							  h.msg_id,
							  UVFIO_DEV_PCI, 9, 5);
			break;
		case UVFIO_CMD_DEVICE_GET_REGION_INFO: {
			struct uvfio_region_info ri = { .flags = UVFIO_REGION_READ |
								 UVFIO_REGION_WRITE,
							.size = REGION_SIZE };
			memcpy(&ri.index, in + UVFIO_HDR_SIZE + 8, 4);
			bool complete;
			m = uvfio_build_region_info_reply(out, sizeof(out),
							  h.msg_id, &ri, NULL, 0,
							  32, &complete);
			break;
		}
		case UVFIO_CMD_REGION_READ: {
			struct uvfio_region_rw rw;
			memcpy(&rw, in + UVFIO_HDR_SIZE, sizeof(rw));
			st.reads++;
			if (rw.count > st.max_count)
				st.max_count = rw.count;
			static uint8_t data[2 * MIB];
			for (uint32_t i = 0; i < rw.count && i < sizeof(data); i++)
				data[i] = pattern(rw.offset + i);
			m = uvfio_build_region_read_reply(out, sizeof(out),
							  h.msg_id, rw.region,
							  rw.offset, data,
							  rw.count);
			if (mode == M_DIE_MID_REPLY) {
				if (tu_send(fd, out, (size_t)m / 2, NULL, 0))
					return 1;
				die();
			}
			if (mode == M_DIE_MID_DMA) {
				m = uvfio_build_dma_read(out, sizeof(out), 1,
							 0x10000, 4096);
				if (tu_send(fd, out, (size_t)m - 8, NULL, 0))
					return 1;
				die();
			}
			if (mode == M_DIE_AFTER_DMA) {
				static const uint8_t d[64] = { 1, 2, 3 };
				m = uvfio_build_dma_write(out, sizeof(out), 1,
							  0x10000, d, sizeof(d));
				if (tu_send(fd, out, (size_t)m, NULL, 0))
					return 1;
				die();
			}
			if (mode == M_DIE_FDS) {
				int mfd = memfd_create("region", MFD_CLOEXEC);
				if (mfd < 0 ||
				    tu_send(fd, out, UVFIO_HDR_SIZE + 4, &mfd, 1))
					return 1;
				die();
			}
			break;
		}
		case UVFIO_CMD_REGION_WRITE: {
			struct uvfio_region_rw rw;
			memcpy(&rw, in + UVFIO_HDR_SIZE, sizeof(rw));
			m = uvfio_build_region_write_reply(out, sizeof(out),
							   h.msg_id, rw.region,
							   rw.offset, rw.count);
			break;
		}
		default:
			m = uvfio_build_error(out, sizeof(out), h.msg_id, h.cmd,
					      ENOTSUP);
			break;
		}
		if (m < 0 || tu_send(fd, out, (size_t)m, NULL, 0))
			break;
	}
	if (stats_fd >= 0 && write(stats_fd, &st, sizeof(st)) != sizeof(st))
		return 1;
	return 0;
}

struct fake {
	pid_t pid;
	int client_fd; /* for uvfio_client_adopt_fd */
	int stats;     /* read end: struct stats when the fake ends */
};

static struct fake fake_start(enum mode mode, const char *json)
{
	int sv[2], p[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		close(p[0]);
		_exit(fake_server(sv[1], mode, json, p[1]));
	}
	close(sv[1]);
	close(p[1]);
	struct fake f = { pid, sv[0], p[0] };
	return f;
}

static int fake_end(struct fake *f, struct stats *st)
{
	int status;
	assert_int_equal(tu_reap(f->pid, 0, &status), f->pid);
	int r = 0;
	if (st && read(f->stats, st, sizeof(*st)) != sizeof(*st))
		r = -1;
	close(f->stats);
	return r ? r : status;
}

/* ---- client log ---------------------------------------------------------------- */

static char last_log[8][256];
static unsigned n_log;

static void log_fn(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	snprintf(last_log[n_log % 8], sizeof(last_log[0]), "%s", msg);
	n_log++;
}

static bool logged(const char *word)
{
	for (unsigned i = 0; i < 8 && i < n_log; i++)
		if (strstr(last_log[i], word))
			return true;
	return false;
}

static struct uvfio_client *new_client(void)
{
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, log_fn, NULL, UVFIO_LOG_INFO);
	/* Failures must come from the dead socket, not from this. */
	uvfio_client_set_timeout(c, 20000);
	n_log = 0;
	return c;
}

static const char *serve_json = "{\"capabilities\":{\"max_msg_fds\":8}}";

/* ---- the server dies ----------------------------------------------------------- */

struct done {
	int calls, result;
};

static void on_done(void *opaque, int result)
{
	struct done *d = opaque;
	d->calls++;
	d->result = result;
}

static bool conn_error(int r)
{
	return r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN;
}

static void server_dies(enum mode mode, const char *what)
{
	struct uvfio_client *c = new_client();
	int base = tu_fd_count(0);
	struct fake f = fake_start(mode, serve_json);
	assert_int_equal(uvfio_client_adopt_fd(c, f.client_fd), 0);

	/* A few asynchronous reads in flight behind the one that dies. */
	static uint8_t a[3][4096], b[MIB];
	struct done d[3] = { { 0, 1 }, { 0, 1 }, { 0, 1 } };
	int64_t t0 = now_ms();
	int r = uvfio_client_region_read(c, 0, 0, b, sizeof(b));
	/* The synchronous call failed; async ones on the dead handle are
	 * refused at once. */
	int64_t ms = now_ms() - t0;
	print_message("%-36s read -> %d (%s) after %lld ms\n", what, r,
		      strerror(-r), (long long)ms);
	assert_true(conn_error(r));
	assert_true(ms < 3000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(uvfio_client_region_read_async(c, 0, 0, a[i],
								sizeof(a[i]),
								on_done, &d[i]),
				 -ENOTCONN);
	assert_false(uvfio_client_connected(c));
	assert_true(n_log > 0);
	assert_int_equal(tu_fd_count(0), base + 1); /* the fake's stats pipe */
	fake_end(&f, NULL);
	assert_int_equal(tu_fd_count(0), base);
	uvfio_client_destroy(c);
}

static void test_server_dies_mid_reply(void **state)
{
	(void)state;
	server_dies(M_DIE_MID_REPLY, "server killed mid-reply (1 MiB)");
}

static void test_server_dies_mid_dma_request(void **state)
{
	(void)state;
	server_dies(M_DIE_MID_DMA, "server killed mid-DMA_READ");
	server_dies(M_DIE_AFTER_DMA, "server killed after a DMA_WRITE");
}

static void test_server_dies_fds_in_flight(void **state)
{
	(void)state;
	server_dies(M_DIE_FDS, "server killed with an fd in flight");
}

/* Async requests already queued when the server dies complete, each
 * exactly once, with a connection error. */
static void test_server_dies_async_pending(void **state)
{
	(void)state;
	struct uvfio_client *c = new_client();
	int base = tu_fd_count(0);
	struct fake f = fake_start(M_DIE_MID_REPLY, serve_json);
	assert_int_equal(uvfio_client_adopt_fd(c, f.client_fd), 0);
	enum { N = 16 };
	static uint8_t bufs[N][64 * 1024];
	struct done d[N];
	for (int i = 0; i < N; i++) {
		d[i] = (struct done){ 0, 1 };
		assert_int_equal(uvfio_client_region_read_async(c, 0, 0, bufs[i],
								sizeof(bufs[i]),
								on_done, &d[i]),
				 0);
	}
	int64_t t0 = now_ms();
	int r = 0;
	struct pollfd pf = { .fd = uvfio_client_poll_fd(c), .events = POLLIN };
	while (r == 0 && now_ms() - t0 < 5000) {
		poll(&pf, 1, 100);
		r = uvfio_client_process(c);
	}
	print_message("16 async reads, server killed mid-reply: process -> %d "
		      "after %lld ms\n",
		      r, (long long)(now_ms() - t0));
	assert_true(conn_error(r));
	for (int i = 0; i < N; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_true(conn_error(d[i].result));
	}
	fake_end(&f, NULL);
	assert_int_equal(tu_fd_count(0), base);
	uvfio_client_destroy(c);
}

/* ---- what a server states --------------------------------------------------------- */

static void test_server_max_data_xfer(void **state)
{
	(void)state;
	/* 0: refused with a clear error. */
	struct uvfio_client *c = new_client();
	struct fake f = fake_start(M_SERVE, "{\"capabilities\":"
					    "{\"max_data_xfer_size\":0}}");
	assert_int_equal(uvfio_client_adopt_fd(c, f.client_fd), -EPROTO);
	assert_true(logged("max_data_xfer_size"));
	uvfio_client_destroy(c);
	fake_end(&f, NULL);

	/* 1: every byte its own message, and it works; 2^32: our own 1 MiB. */
	static const struct {
		const char *val;
		uint32_t len, chunk;
	} cases[] = {
		{ "1", 40, 1 },
		{ "4294967296", 2 * MIB + 5, MIB },
	};
	static uint8_t buf[3 * MIB];
	char json[96];
	for (unsigned i = 0; i < 2; i++) {
		snprintf(json, sizeof(json),
			 "{\"capabilities\":{\"max_data_xfer_size\":%s}}",
			 cases[i].val);
		c = new_client();
		f = fake_start(M_SERVE, json);
		assert_int_equal(uvfio_client_adopt_fd(c, f.client_fd), 0);
		const struct uvfio_caps *caps = uvfio_client_server_caps(c);
		assert_non_null(caps);
		assert_int_equal(caps->max_data_xfer_size,
				 i ? UINT32_MAX : 1u);
		assert_int_equal(uvfio_client_region_read(c, 0, 7, buf,
							  cases[i].len),
				 0);
		for (uint32_t k = 0; k < cases[i].len; k++)
			if (buf[k] != pattern(7 + k))
				fail_msg("byte %u wrong", k);
		uvfio_client_destroy(c);
		struct stats st;
		int status = fake_end(&f, &st);
		assert_int_equal(status, 0);
		print_message("server max_data_xfer_size %s: %u bytes in %u "
			      "REGION_READs of at most %u\n",
			      cases[i].val, cases[i].len, st.reads, st.max_count);
		assert_int_equal(st.max_count, cases[i].chunk);
		assert_int_equal(st.reads, (cases[i].len + cases[i].chunk - 1) /
						   cases[i].chunk);
	}
}

/* A server that never accepts, its backlog full: connect gives up with
 * -EAGAIN at the request timeout instead of blocking for good. */
static void test_server_backlog_full(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-fc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.sock", dir);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 0), 0);
	/* Fill the backlog with connections nobody accepts. */
	int q[4], nq = 0;
	for (; nq < 4; nq++) {
		q[nq] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(q[nq], (struct sockaddr *)&sa, sizeof(sa))) {
			assert_int_equal(errno, EAGAIN);
			close(q[nq]);
			break;
		}
	}
	assert_true(nq < 4);

	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, UVFIO_LOG_ERR);
	uvfio_client_set_timeout(c, 200);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(uvfio_client_connect(c, sa.sun_path), -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		  (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 190 && ms < 5000);
	uvfio_client_destroy(c);
	for (int i = 0; i < nq; i++)
		close(q[i]);
	close(l);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_dies_mid_reply),
		cmocka_unit_test(test_server_dies_mid_dma_request),
		cmocka_unit_test(test_server_dies_fds_in_flight),
		cmocka_unit_test(test_server_dies_async_pending),
		cmocka_unit_test(test_server_max_data_xfer),
		cmocka_unit_test(test_server_backlog_full),
	};
	return cmocka_run_group_tests_name("fault-client", tests, NULL, NULL);
}
