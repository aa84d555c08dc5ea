/* SPDX-License-Identifier: MIT */
/*
 * The server survives its clients: a client process killed with SIGKILL
 * in the middle of a message, of DMA, of a reply, or with fds in flight;
 * clients that stop reading or stop answering DMA; limits and hostile
 * values sent over a real socket; the socket file's safety and fds that
 * must not reach child processes.
 *
 * The server runs in a thread of this process, so this process's fd count,
 * mappings and RSS are the server's: after each fault they must come back
 * to what they were, the device must keep its state, and the next client
 * must be served.  Clients are raw sockets (in forked processes where they
 * are to be killed) that send exactly the bytes a test wants.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define BAR2_SIZE (4 * MIB)
#define REG_STATE 0x10 /* BAR0 register whose value must survive */
#define TRIG_SYNC 0    /* BAR1: {iova, len} -> synchronous DMA read */
#define TRIG_ASYNC 16  /* BAR1: {iova, len} -> asynchronous DMA read */
#define WIN_IOVA 0x40000000ull
#define WIN_SIZE (4 * MIB)

static const char *self_exe;

/* ASan keeps freed memory in quarantine and valgrind runs its own
 * allocator: RSS says nothing about leaks there (they have their own
 * leak checkers). */
static bool rss_meaningful(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return false;
#endif
#endif
	const char *pre = getenv("LD_PRELOAD");
	return !(pre && strstr(pre, "vgpreload"));
}

static bool under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");
	return pre && strstr(pre, "vgpreload");
}

/* ---- the device --------------------------------------------------------------- */

struct srv {
	struct uvfio_server *srv;
	pthread_t thread;
	char dir[64];
	char path[128];
	uint8_t bar0[4096];
	uint8_t *bar2;
	uint8_t *dmabuf;
	/* last synchronous DMA from the trigger */
	int sync_result;
	int64_t sync_ms;
	/* asynchronous DMA from the trigger */
	int async_started, async_result;
	int async_done; /* atomic */
	/* async DMA issued by the test thread, completed on the server's */
	int many_done, many_err; /* atomic */
	pthread_mutex_t log_lock;
	char log[64][256];
	unsigned nlog;
};

static struct srv *S; /* the group's server, for forked clients */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_fn(void *opaque, int level, const char *msg)
{
	struct srv *x = opaque;
	(void)level;
	pthread_mutex_lock(&x->log_lock);
	snprintf(x->log[x->nlog % 64], sizeof(x->log[0]), "%s", msg);
	x->nlog++;
	pthread_mutex_unlock(&x->log_lock);
	if (getenv("FAULT_VERBOSE"))
		fprintf(stderr, "server log: %s\n", msg);
}

static void log_clear(struct srv *x)
{
	pthread_mutex_lock(&x->log_lock);
	x->nlog = 0;
	pthread_mutex_unlock(&x->log_lock);
}

/* Some line logged since log_clear() contains all of the given words. */
static bool logged(struct srv *x, const char *a, const char *b)
{
	bool found = false;
	pthread_mutex_lock(&x->log_lock);
	unsigned n = x->nlog < 64 ? x->nlog : 64;
	for (unsigned i = 0; i < n && !found; i++)
		found = strstr(x->log[i], a) && (!b || strstr(x->log[i], b));
	pthread_mutex_unlock(&x->log_lock);
	if (!found)
		print_message("no log line with \"%s\"%s%s%s\n", a, b ? " and \"" : "",
			      b ? b : "", b ? "\"" : "");
	return found;
}

static ssize_t mem_access(void *opaque, unsigned index, uint64_t off,
			  void *buf, size_t count, bool is_write)
{
	struct srv *x = opaque;
	uint8_t *mem = index == 0 ? x->bar0 : x->bar2;
	if (is_write)
		memcpy(mem + off, buf, count);
	else
		memcpy(buf, mem + off, count);
	return (ssize_t)count;
}

static void async_done(void *opaque, int result)
{
	struct srv *x = opaque;
	x->async_result = result;
	__atomic_store_n(&x->async_done, 1, __ATOMIC_RELEASE);
}

static ssize_t trigger(void *opaque, unsigned index, uint64_t off, void *buf,
		       size_t count, bool is_write)
{
	struct srv *x = opaque;
	uint64_t a[2];
	(void)index;
	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (count != 16 || (off != TRIG_SYNC && off != TRIG_ASYNC))
		return -EINVAL;
	memcpy(a, buf, 16);
	if (a[1] > BAR2_SIZE)
		return -EINVAL;
	if (off == TRIG_SYNC) {
		int64_t t0 = now_ms();
		x->sync_result = uvfio_server_dma_read(x->srv, a[0], x->dmabuf,
						       a[1]);
		x->sync_ms = now_ms() - t0;
	} else {
		__atomic_store_n(&x->async_done, 0, __ATOMIC_RELEASE);
		x->async_result = 1;
		x->async_started = uvfio_server_dma_read_async(
			x->srv, a[0], x->dmabuf, a[1], async_done, x);
	}
	return (ssize_t)count;
}

static void *srv_thread(void *arg)
{
	struct srv *x = arg;
	int r = uvfio_server_run(x->srv);
	if (r)
		fprintf(stderr, "server loop failed: %d\n", r);
	return NULL;
}

static int group_setup(void **state)
{
	struct srv *x = calloc(1, sizeof(*x));
	pthread_mutex_init(&x->log_lock, NULL);
	strcpy(x->dir, "/tmp/uvfio-fault-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/dev.sock", x->dir);
	assert_int_equal(uvfio_server_create(&x->srv, x->path, 0), 0);
	uvfio_server_set_log(x->srv, log_fn, x, UVFIO_LOG_INFO);
	const struct uvfio_pci_ids ids = { .vendor = 0x1af4, .device = 0x10f0,
					   .irq_pin = 1 };
	assert_int_equal(uvfio_server_set_pci_ids(x->srv, &ids), 0);
	assert_true(uvfio_server_pci_add_msi(x->srv, 8, true) > 0);
	x->bar2 = malloc(BAR2_SIZE);
	x->dmabuf = malloc(BAR2_SIZE);
	for (unsigned i = 0; i < BAR2_SIZE; i++)
		x->bar2[i] = (uint8_t)(i * 31 + 7);
	assert_int_equal(uvfio_server_setup_region(x->srv, 0, sizeof(x->bar0),
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   mem_access, x),
			 0);
	assert_int_equal(uvfio_server_setup_region(x->srv, 1, 4096,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   trigger, x),
			 0);
	assert_int_equal(uvfio_server_setup_region(x->srv, 2, BAR2_SIZE,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   mem_access, x),
			 0);
	pthread_create(&x->thread, NULL, srv_thread, x);
	S = x;
	*state = x;
	return 0;
}

static int group_teardown(void **state)
{
	struct srv *x = *state;
	uvfio_server_stop(x->srv);
	pthread_join(x->thread, NULL);
	uvfio_server_destroy(x->srv);
	rmdir(x->dir);
	free(x->bar2);
	free(x->dmabuf);
	pthread_mutex_destroy(&x->log_lock);
	free(x);
	return 0;
}

/* ---- process measurements ---------------------------------------------------------- */

/* Lines of /proc/self/maps, or those naming `what`. */
static int count_maps_of(const char *what)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += !what || strstr(line, what);
	fclose(f);
	return n;
}

static int count_maps(void)
{
	return count_maps_of(NULL);
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The server drops a dead client asynchronously: wait for the fd count to
 * settle at `want`, or give up after a while and return what it is. */
static int wait_fds(int want)
{
	int n = tu_fd_count(0);
	for (int i = 0; i < 400 && n != want; i++) {
		usleep(5000);
		n = tu_fd_count(0);
	}
	return n;
}

struct baseline {
	int fds, maps;
	long rss;
};

static struct baseline measure(void)
{
	struct baseline b = { tu_fd_count(0), count_maps(), rss_kib() };
	return b;
}

/* ---- raw client ------------------------------------------------------------------ */

static const char *plain_json = "{\"capabilities\":{\"max_msg_fds\":16}}";
static const char *twin_json =
	"{\"capabilities\":{\"max_msg_fds\":16,"
	"\"twin_socket\":{\"supported\":true}}}";

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

/* One whole message (header, then body), its fds into fds[]; returns its
 * size, 0 on EOF, -1 on error or timeout. */
static ssize_t recv_msg(int fd, void *buf, size_t cap, int *fds, unsigned *nfds,
			int timeout_ms)
{
	uint8_t *p = buf;
	size_t got = 0, want = UVFIO_HDR_SIZE;
	if (nfds)
		*nfds = 0;
	while (got < want) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, timeout_ms) <= 0)
			return -1;
		union {
			char b[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { p + got, want - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
						sizeof(int));
			for (unsigned i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				if (fds && nfds && *nfds < 16)
					fds[(*nfds)++] = f;
				else
					close(f);
			}
		}
		got += (size_t)n;
		if (got == UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, p, sizeof(h));
			if (h.msg_size > cap || h.msg_size < UVFIO_HDR_SIZE)
				return -1;
			want = h.msg_size;
		}
	}
	return (ssize_t)got;
}

/* VERSION; returns the twin socket when one was negotiated, else -1 (or
 * -2 on failure). */
static int negotiate(int fd, const char *json)
{
	uint8_t m[600];
	int fds[16];
	unsigned nfds;
	ssize_t n = uvfio_build_version(m, sizeof(m), 1, false, 0, 2, json);
	if (n < 0 || tu_send(fd, m, (size_t)n, NULL, 0))
		return -2;
	n = recv_msg(fd, m, sizeof(m), fds, &nfds, 5000);
	struct uvfio_hdr h;
	if (n < (ssize_t)UVFIO_HDR_SIZE)
		return -2;
	memcpy(&h, m, sizeof(h));
	if (h.flags != UVFIO_F_TYPE_REPLY)
		return -2;
	for (unsigned i = 1; i < nfds; i++)
		close(fds[i]);
	return nfds ? fds[0] : -1;
}

/* Send a command and take its reply; returns the reply's errno (0 for
 * success), or -1 when the connection failed.  Server commands (DMA)
 * arriving meanwhile are not expected here. */
static int call(int fd, const void *msg, size_t len, const int *fds,
		unsigned nfds, void *rep, size_t cap, ssize_t *replen)
{
	uint8_t tmp[512];
	if (!rep) {
		rep = tmp;
		cap = sizeof(tmp);
	}
	if (tu_send(fd, msg, len, fds, nfds))
		return -1;
	ssize_t n = recv_msg(fd, rep, cap, NULL, NULL, 5000);
	if (replen)
		*replen = n;
	if (n < (ssize_t)UVFIO_HDR_SIZE)
		return -1;
	struct uvfio_hdr h;
	memcpy(&h, rep, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) != UVFIO_F_TYPE_REPLY)
		return -1;
	return h.flags & UVFIO_F_ERROR ? (int)h.error_no : 0;
}

static int write_reg(int fd, uint16_t id, unsigned region, uint64_t off,
		     const void *val, uint32_t len)
{
	uint8_t m[128];
	ssize_t n = uvfio_build_region_write(m, sizeof(m), id, false, region,
					     off, val, len);
	return call(fd, m, (size_t)n, NULL, 0, NULL, 0, NULL);
}

static int map_window(int fd, uint16_t id, int memfd)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_dma_map(
		m, sizeof(m), id, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
		WIN_IOVA, WIN_SIZE);
	return call(fd, m, (size_t)n, memfd >= 0 ? &memfd : NULL,
		    memfd >= 0 ? 1 : 0, NULL, 0, NULL);
}

/* ---- killed clients ------------------------------------------------------------ */

/*
 * A client in a child process: fn connects and works, writes one byte to
 * `ready` at the moment it is to die, and waits; the parent kills it with
 * SIGKILL.  fn returns non-zero on failure (the parent then sees EOF
 * instead of the byte).
 */
typedef int (*client_fn)(int ready, uint32_t tag);

static void signal_ready(int ready)
{
	char c = 1;
	if (write(ready, &c, 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

static void run_and_kill(client_fn fn, uint32_t tag)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(fn(p[1], tag) ? 2 : 0);
	}
	close(p[1]);
	struct pollfd pf = { .fd = p[0], .events = POLLIN };
	char c = 0;
	int ok = poll(&pf, 1, 20000) == 1 && read(p[0], &c, 1) == 1;
	close(p[0]);
	int status;
	assert_int_equal(tu_reap(pid, SIGKILL, &status), pid);
	if (!ok)
		fail_msg("client process failed before its kill point (status "
			 "%d)",
			 status);
}

/* Every client first leaves its mark in device state. */
static int hello(int fd, uint32_t tag)
{
	return write_reg(fd, 2, 0, REG_STATE, &tag, 4);
}

static int c_mid_header(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag))
		return 1;
	uint8_t m[64];
	ssize_t n = uvfio_build_region_read(m, sizeof(m), 3, 0, 0, 4);
	if (tu_send(fd, m, 7, NULL, 0) || n < 7)
		return 1;
	signal_ready(ready);
	return 0;
}

static int c_mid_body(int ready, uint32_t tag)
{
	static uint8_t m[MIB + 64];
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag))
		return 1;
	ssize_t n = uvfio_build_region_write(m, sizeof(m), 3, false, 2, 0,
					     S->bar2, MIB);
	if (n < 0 || tu_send(fd, m, (size_t)n / 2, NULL, 0))
		return 1;
	signal_ready(ready);
	return 0;
}

/* Dies when the server's DMA request arrives: sync (tag bit 31 clear) or
 * async trigger, with a twin socket when bit 30 is set. */
#define DMA_ASYNC (1u << 31)
#define DMA_TWIN (1u << 30)
static int c_mid_dma(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0)
		return 1;
	int twin = negotiate(fd, tag & DMA_TWIN ? twin_json : plain_json);
	if (twin == -2 || ((tag & DMA_TWIN) != 0) != (twin >= 0) ||
	    hello(fd, tag))
		return 1;
	if (map_window(fd, 3, -1))
		return 1;
	uint64_t a[2] = { WIN_IOVA + 4096, 256 * KIB };
	uint8_t m[64];
	ssize_t n = uvfio_build_region_write(m, sizeof(m), 4, false, 1,
					     tag & DMA_ASYNC ? TRIG_ASYNC
							     : TRIG_SYNC,
					     a, 16);
	if (tu_send(fd, m, (size_t)n, NULL, 0))
		return 1;
	/* Wait for the first DMA_READ, then die without answering. */
	static uint8_t buf[MIB + 64];
	int from = twin >= 0 ? twin : fd;
	for (;;) {
		ssize_t k = recv_msg(from, buf, sizeof(buf), NULL, NULL, 5000);
		if (k < (ssize_t)UVFIO_HDR_SIZE)
			return 1;
		struct uvfio_hdr h;
		memcpy(&h, buf, sizeof(h));
		if (h.cmd == UVFIO_CMD_DMA_READ &&
		    (h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND)
			signal_ready(ready);
	}
}

/* 64 reads of 1 MiB, never reading a reply: the server sits with a full
 * send queue when the client dies. */
static int c_mid_reply(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag))
		return 1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (unsigned i = 0; i < 64; i++) {
		uint8_t m[64];
		ssize_t n = uvfio_build_region_read(m, sizeof(m),
						    (uint16_t)(10 + i), 2,
						    (i % 4) * MIB, MIB);
		if (send(fd, m, (size_t)n, MSG_NOSIGNAL) != n)
			break; /* the server stopped reading: also fine */
	}
	usleep(200000); /* let the server fill its queue */
	signal_ready(ready);
	return 0;
}

/* Gives the server a mapped fd-backed window and eventfds, then dies with
 * a DMA_MAP whose header (and memfd) arrived and whose body did not. */
static int c_fds_in_flight(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag))
		return 1;
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, WIN_SIZE) || map_window(fd, 3, mfd))
		return 1;
	int efds[4];
	for (int i = 0; i < 4; i++)
		efds[i] = eventfd(0, EFD_CLOEXEC);
	uint8_t m[64];
	ssize_t n = uvfio_build_set_irqs(m, sizeof(m), 4,
					 UVFIO_IRQ_DATA_EVENTFD |
						 UVFIO_IRQ_ACTION_TRIGGER,
					 UVFIO_PCI_MSI_IRQ, 0, 4, NULL);
	if (call(fd, m, (size_t)n, efds, 4, NULL, 0, NULL))
		return 1;
	int mfd2 = memfd_create("guest2", MFD_CLOEXEC);
	n = uvfio_build_dma_map(m, sizeof(m), 5,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				WIN_IOVA + WIN_SIZE, 4096);
	if (mfd2 < 0 || ftruncate(mfd2, 4096) ||
	    tu_send(fd, m, UVFIO_HDR_SIZE, &mfd2, 1))
		return 1;
	signal_ready(ready);
	return 0;
}

/* After a fault: resources back, state kept, next client served. */
static void check_recovered(struct srv *x, const struct baseline *b,
			    uint32_t tag, const char *what)
{
	int fds = wait_fds(b->fds);
	int maps = count_maps();
	long rss = rss_kib();
	print_message("%-28s fds %d -> %d, maps %d -> %d, rss %ld -> %ld KiB\n",
		      what, b->fds, fds, b->maps, maps, b->rss, rss);
	assert_int_equal(fds, b->fds);
	/* The clients' DMA memory (memfds named "guest") is unmapped. */
	assert_int_equal(count_maps_of("memfd:guest"), 0);
	/* Sanitizer and valgrind allocators map memory as they go. */
	if (rss_meaningful()) {
		assert_int_equal(maps, b->maps);
		assert_true(rss - b->rss < 12 * 1024);
	}
	(void)x;

	/* The next client: the killed one's register value is still there,
	 * and the device still works. */
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, -1);
	assert_int_equal(uvfio_client_connect(c, x->path), 0);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, REG_STATE, &v, 4), 0);
	assert_int_equal(v, tag);
	uint8_t big[4096];
	assert_int_equal(uvfio_client_region_read(c, 2, 8192, big, sizeof(big)),
			 0);
	assert_memory_equal(big, x->bar2 + 8192, sizeof(big));
	uvfio_client_destroy(c);
	assert_int_equal(wait_fds(b->fds), b->fds);
}

/* One library client first, so that lazily allocated things exist before
 * the baseline is taken. */
static void *nothing(void *arg)
{
	return arg;
}

static struct baseline warm_baseline(struct srv *x)
{
	/* glibc keeps a joined thread's stack for the next thread: have
	 * one cached, so a test's helper thread adds no mapping. */
	pthread_t t;
	pthread_create(&t, NULL, nothing, NULL);
	pthread_join(t, NULL);
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, -1);
	assert_int_equal(uvfio_client_connect(c, x->path), 0);
	uint8_t buf[64 * 1024];
	assert_int_equal(uvfio_client_region_read(c, 2, 0, buf, sizeof(buf)),
			 0);
	uvfio_client_destroy(c);
	usleep(20000);
	struct baseline b = measure();
	b.fds = wait_fds(b.fds);
	return b;
}

static void test_kill_mid_message(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	for (uint32_t i = 0; i < 3; i++) {
		run_and_kill(c_mid_header, 0x100 + i);
		check_recovered(x, &b, 0x100 + i, "killed mid-header");
		run_and_kill(c_mid_body, 0x200 + i);
		check_recovered(x, &b, 0x200 + i, "killed mid-body (1 MiB)");
	}
}

static void test_kill_mid_reply(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	for (uint32_t i = 0; i < 3; i++) {
		run_and_kill(c_mid_reply, 0x300 + i);
		check_recovered(x, &b, 0x300 + i, "killed with 64 MiB unread");
	}
}

static void test_kill_fds_in_flight(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	for (uint32_t i = 0; i < 3; i++) {
		run_and_kill(c_fds_in_flight, 0x400 + i);
		check_recovered(x, &b, 0x400 + i, "killed with fds in flight");
	}
}

static void test_kill_mid_dma(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	/* A long timeout: the waits must end because the client died. */
	uvfio_server_set_dma_timeout(x->srv, 20000);
	for (uint32_t twin = 0; twin < 2; twin++) {
		uint32_t tag = 0x500 | (twin ? DMA_TWIN : 0);
		x->sync_result = 1;
		run_and_kill(c_mid_dma, tag);
		check_recovered(x, &b, tag,
				twin ? "killed mid sync DMA, twin"
				     : "killed mid sync DMA, nested");
		print_message("sync DMA returned %d after %lld ms\n",
			      x->sync_result, (long long)x->sync_ms);
		assert_true(x->sync_result < 0);
		assert_true(x->sync_ms < 5000);

		tag = 0x600 | DMA_ASYNC | (twin ? DMA_TWIN : 0);
		run_and_kill(c_mid_dma, tag);
		check_recovered(x, &b, tag, "killed mid async DMA");
		assert_int_equal(x->async_started, 0);
		assert_int_equal(__atomic_load_n(&x->async_done, __ATOMIC_ACQUIRE),
				 1);
		assert_true(x->async_result < 0);
	}
	uvfio_server_set_dma_timeout(x->srv, 0);
}

/* Synchronous DMA from a device thread (not the server's) while the
 * client dies: the wait ends with an error, not at the timeout. */
struct dev_thread {
	struct srv *x;
	int ready;   /* read end: the child saw the DMA request */
	pid_t pid;
};

static int c_map_and_wait_dma(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag) ||
	    map_window(fd, 3, -1))
		return 1;
	char c = 1;
	if (write(ready, &c, 1) != 1) /* mapped */
		return 1;
	static uint8_t buf[MIB + 64];
	for (;;) {
		ssize_t k = recv_msg(fd, buf, sizeof(buf), NULL, NULL, 10000);
		if (k < (ssize_t)UVFIO_HDR_SIZE)
			return 1;
		struct uvfio_hdr h;
		memcpy(&h, buf, sizeof(h));
		if (h.cmd == UVFIO_CMD_DMA_READ)
			signal_ready(ready);
	}
}

static void *killer(void *arg)
{
	struct dev_thread *d = arg;
	struct pollfd pf = { .fd = d->ready, .events = POLLIN };
	char c;
	if (poll(&pf, 1, 10000) == 1 && read(d->ready, &c, 1) == 1)
		kill(d->pid, SIGKILL);
	return NULL;
}

static void test_kill_mid_dma_other_thread(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	uvfio_server_set_dma_timeout(x->srv, 20000);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(c_map_and_wait_dma(p[1], 0x700));
	}
	close(p[1]);
	char c;
	struct pollfd pf = { .fd = p[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 10000), 1);
	assert_int_equal(read(p[0], &c, 1), 1); /* window mapped */
	struct dev_thread d = { x, p[0], pid };
	pthread_t t;
	pthread_create(&t, NULL, killer, &d);
	int64_t t0 = now_ms();
	int r = uvfio_server_dma_read(x->srv, WIN_IOVA, x->dmabuf, 64 * KIB);
	int64_t ms = now_ms() - t0;
	pthread_join(t, NULL);
	int status; /* killed already, unless it never got that far */
	tu_reap(pid, SIGKILL, &status);
	close(p[0]);
	print_message("sync DMA on a device thread: %d after %lld ms\n", r,
		      (long long)ms);
	assert_true(r < 0);
	assert_true(ms < 5000);
	check_recovered(x, &b, 0x700, "killed mid DMA, device thread");
	uvfio_server_set_dma_timeout(x->srv, 0);
}

/* ---- stalled clients ------------------------------------------------------------- */

/* Floods 64 KiB reads and never reads a reply; reports how many it got
 * into the socket before the server stopped taking them. */
static int c_never_reads(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag))
		return 1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	static uint8_t m[32 * 1024];
	uint32_t sent = 0;
	int64_t stuck_since = 0;
	while (sent < 100000) {
		unsigned batch = 0;
		for (; batch < 1024 && sent + batch < 100000; batch++)
			uvfio_build_region_read(m + batch * 32, 32,
						(uint16_t)(sent + batch), 2,
						((sent + batch) % 64) * 64 * KIB,
						64 * KIB);
		/* Whole messages only: a partial one would be fine for the
		 * server but make the count harder to tell. */
		ssize_t n = send(fd, m, batch * 32, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			return 1;
		if (n > 0) {
			sent += (uint32_t)n / 32;
			if (n % 32) {
				/* finish the message blocking */
				fcntl(fd, F_SETFL, 0);
				if (send(fd, m + n, 32 - (size_t)(n % 32),
					 MSG_NOSIGNAL) < 0)
					return 1;
				fcntl(fd, F_SETFL, O_NONBLOCK);
				sent++;
			}
			stuck_since = 0;
			continue;
		}
		if (!stuck_since)
			stuck_since = now_ms();
		else if (now_ms() - stuck_since > 500)
			break;
		usleep(5000);
	}
	if (write(ready, &sent, 4) != 4)
		return 1;
	for (;;)
		pause();
}

static void test_client_never_reads(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(c_never_reads(p[1], 0x800));
	}
	close(p[1]);
	uint32_t sent = 0;
	struct pollfd pf = { .fd = p[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 30000), 1);
	assert_int_equal(read(p[0], &sent, 4), 4);
	long rss = rss_kib();
	/* The server must still be responsive to everything else: stop and
	 * destroy are tested by teardown; here, an async DMA refusal. */
	print_message("stalled reader: %u requests of 64 KiB accepted before "
		      "the server stopped reading; rss %ld -> %ld KiB\n",
		      sent, b.rss, rss);
	/* 100k x 64 KiB would be 6.4 GB of replies: what is buffered is the
	 * send limit plus the socket buffers. */
	assert_true(sent < 100000);
	if (rss_meaningful())
		assert_true(rss - b.rss < 32 * 1024);
	int status;
	tu_reap(pid, SIGKILL, &status);
	close(p[0]);
	check_recovered(x, &b, 0x800, "stalled reader killed");
}

/* Maps a message window and never answers a DMA request; counts those
 * that arrive until told to stop, and reports the count. */
static int c_never_answers(int ready, uint32_t tag)
{
	int fd = raw_connect(S->path);
	if (fd < 0 || negotiate(fd, plain_json) != -1 || hello(fd, tag) ||
	    map_window(fd, 3, -1))
		return 1;
	char c = 1;
	if (write(ready, &c, 1) != 1)
		return 1;
	/* The synchronous trigger: its reply comes after the timeout. */
	uint64_t a[2] = { WIN_IOVA, 8192 };
	uint8_t m[64];
	ssize_t n = uvfio_build_region_write(m, sizeof(m), 4, false, 1,
					     TRIG_SYNC, a, 16);
	if (tu_send(fd, m, (size_t)n, NULL, 0))
		return 1;
	static uint8_t buf[MIB + 64];
	uint32_t dma_reqs = 0;
	bool replied = false;
	for (;;) {
		ssize_t k = recv_msg(fd, buf, sizeof(buf), NULL, NULL,
				     replied ? 1000 : 10000);
		if (k < 0 && replied)
			break; /* quiet for a second: no more requests */
		if (k < (ssize_t)UVFIO_HDR_SIZE)
			return 1;
		struct uvfio_hdr h;
		memcpy(&h, buf, sizeof(h));
		if (h.cmd == UVFIO_CMD_DMA_READ)
			dma_reqs++;
		else if (h.msg_id == 4 && !replied) {
			replied = true;
			if (write(ready, &c, 1) != 1) /* trigger answered */
				return 1;
		}
	}
	if (write(ready, &dma_reqs, 4) != 4)
		return 1;
	for (;;)
		pause();
}

static void many_done(void *opaque, int result)
{
	struct srv *x = opaque;
	if (result)
		__atomic_add_fetch(&x->many_err, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&x->many_done, 1, __ATOMIC_RELEASE);
}

static void test_client_never_answers_dma(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	uvfio_server_set_dma_timeout(x->srv, 300);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(c_never_answers(p[1], 0x900));
	}
	close(p[1]);
	char c;
	struct pollfd pf = { .fd = p[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 10000), 1);
	assert_int_equal(read(p[0], &c, 1), 1); /* mapped */
	log_clear(x);
	assert_int_equal(poll(&pf, 1, 10000), 1);
	assert_int_equal(read(p[0], &c, 1), 1); /* trigger answered */
	print_message("sync DMA to a silent client: %d after %lld ms\n",
		      x->sync_result, (long long)x->sync_ms);
	assert_int_equal(x->sync_result, -ETIMEDOUT);
	assert_true(x->sync_ms >= 290 && x->sync_ms < 3000);
	assert_true(logged(x, "timed out", NULL));

	/* Async transfers pile up to the cap, then -EAGAIN. */
	static uint8_t dst[4096];
	__atomic_store_n(&x->many_done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&x->many_err, 0, __ATOMIC_RELAXED);
	log_clear(x);
	int accepted = 0, r = 0;
	for (int i = 0; i < 5000; i++) {
		r = uvfio_server_dma_read_async(x->srv, WIN_IOVA, dst,
						sizeof(dst), many_done, x);
		if (r)
			break;
		accepted++;
	}
	print_message("async DMA to a silent client: %d accepted, then %d\n",
		      accepted, r);
	assert_int_equal(r, -EAGAIN);
	assert_true(accepted >= 1024 && accepted <= 1024 + 64 + 1);
	assert_true(logged(x, "queued", "EAGAIN"));
	uint32_t reqs = 0;
	assert_int_equal(poll(&pf, 1, 10000), 1);
	assert_int_equal(read(p[0], &reqs, 4), 4);
	print_message("DMA requests the client saw: %u (1 sync, cap 64 in "
		      "flight)\n",
		      reqs);
	/* One left over from the timed-out synchronous read, then at most 64
	 * in flight for the async ones. */
	assert_true(reqs <= 1 + 64);
	assert_int_equal(__atomic_load_n(&x->many_done, __ATOMIC_ACQUIRE), 0);

	int status;
	tu_reap(pid, SIGKILL, &status);
	close(p[0]);
	/* Every accepted transfer completes, with an error. */
	for (int i = 0; i < 400 &&
	     __atomic_load_n(&x->many_done, __ATOMIC_ACQUIRE) < accepted;
	     i++)
		usleep(5000);
	assert_int_equal(__atomic_load_n(&x->many_done, __ATOMIC_ACQUIRE),
			 accepted);
	assert_int_equal(__atomic_load_n(&x->many_err, __ATOMIC_ACQUIRE),
			 accepted);
	uvfio_server_set_dma_timeout(x->srv, 0);
	check_recovered(x, &b, 0x900, "silent DMA client killed");
}

/* ---- limits ---------------------------------------------------------------------- */

static int alive(int fd, uint16_t id)
{
	uint32_t v = 0xfeed0000u | id;
	return write_reg(fd, id, 0, 0x20, &v, 4);
}

static void test_limits(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	uint8_t m[256];
	ssize_t n;
	int fd = raw_connect(x->path);
	assert_int_equal(negotiate(fd, plain_json), -1);
	assert_int_equal(hello(fd, 0xa00), 0);

	/* Data beyond max_data_xfer_size (1 MiB). */
	log_clear(x);
	n = uvfio_build_region_read(m, sizeof(m), 2, 2, 0, MIB + 1);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, NULL, 0, NULL), E2BIG);
	assert_true(logged(x, "REGION_READ", "max_data_xfer_size"));
	assert_int_equal(alive(fd, 3), 0);

	/* More fds than max_msg_fds (16): refused, all closed, and the
	 * connection goes on. */
	int before = tu_fd_count(0);
	int efds[20];
	for (int i = 0; i < 20; i++)
		efds[i] = eventfd(0, EFD_CLOEXEC);
	log_clear(x);
	n = uvfio_build_set_irqs(m, sizeof(m), 4,
				 UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSI_IRQ, 0, 20, NULL);
	assert_int_equal(call(fd, m, (size_t)n, efds, 20, NULL, 0, NULL), EINVAL);
	assert_true(logged(x, "SET_IRQS", "max_msg_fds"));
	for (int i = 0; i < 20; i++)
		close(efds[i]);
	assert_int_equal(alive(fd, 5), 0);
	assert_int_equal(tu_fd_count(0), before);

	/* A command larger than any buffer: E2BIG, then the server hangs up
	 * (the body cannot be skipped without reading it). */
	log_clear(x);
	struct uvfio_hdr h = { .msg_id = 6, .cmd = UVFIO_CMD_REGION_WRITE,
			       .msg_size = 64 * MIB };
	assert_int_equal(call(fd, &h, sizeof(h), NULL, 0, NULL, 0, NULL), E2BIG);
	assert_true(logged(x, "REGION_WRITE", "larger than"));
	assert_int_equal(recv_msg(fd, m, sizeof(m), NULL, NULL, 5000), 0);
	close(fd);

	/* More fds than the transport takes at all (64): connection
	 * dropped, every fd closed. */
	fd = raw_connect(x->path);
	assert_int_equal(negotiate(fd, plain_json), -1);
	int many[70];
	for (int i = 0; i < 70; i++)
		many[i] = eventfd(0, EFD_CLOEXEC);
	log_clear(x);
	n = uvfio_build_set_irqs(m, sizeof(m), 7,
				 UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSI_IRQ, 0, 70, NULL);
	assert_int_equal(tu_send(fd, m, (size_t)n, many, 70), 0);
	assert_true(recv_msg(fd, m, sizeof(m), NULL, NULL, 5000) <= 0);
	for (int i = 0; i < 70; i++)
		close(many[i]);
	close(fd);
	assert_int_equal(wait_fds(b.fds), b.fds);
	assert_true(logged(x, "disconnected", NULL));
	check_recovered(x, &b, 0xa00, "after the limits");
}

/* ---- values a client sends --------------------------------------------------------- */

/* Answer the server's DMA_READs from guest[] until the async trigger's
 * transfer is done; returns the number of requests, *maxc the largest. */
static unsigned serve_dma(struct srv *x, int fd, const uint8_t *guest,
			  uint32_t *maxc)
{
	static uint8_t buf[MIB + 64], rep[MIB + 64];
	unsigned reqs = 0;
	*maxc = 0;
	int64_t t0 = now_ms();
	while (!__atomic_load_n(&x->async_done, __ATOMIC_ACQUIRE) &&
	       now_ms() - t0 < 20000) {
		ssize_t k = recv_msg(fd, buf, sizeof(buf), NULL, NULL, 100);
		if (k < 0)
			continue;
		assert_true(k >= (ssize_t)UVFIO_HDR_SIZE);
		struct uvfio_hdr h;
		memcpy(&h, buf, sizeof(h));
		if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY)
			continue; /* the trigger's */
		struct uvfio_cmd_view v;
		struct uvfio_limits lim = { 0xffffffffu, 0, false };
		assert_int_equal(uvfio_parse_command(buf, (size_t)k, 0,
						     UVFIO_ROLE_CLIENT, &lim, &v),
				 0);
		assert_int_equal(v.hdr.cmd, UVFIO_CMD_DMA_READ);
		uint64_t a = v.u.dma_rw.addr;
		uint32_t cnt = v.u.dma_rw.count;
		assert_true(a >= WIN_IOVA && a + cnt <= WIN_IOVA + WIN_SIZE);
		if (cnt > *maxc)
			*maxc = cnt;
		ssize_t r = uvfio_build_dma_read_reply(rep, sizeof(rep), h.msg_id,
						       a, guest + (a - WIN_IOVA),
						       cnt);
		assert_int_equal(tu_send(fd, rep, (size_t)r, NULL, 0), 0);
		reqs++;
	}
	return reqs;
}

static void test_client_max_data_xfer(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	uint8_t m[600];
	char json[128];
	uint8_t *guest = malloc(WIN_SIZE);
	for (unsigned i = 0; i < WIN_SIZE; i++)
		guest[i] = (uint8_t)(i * 17 + 1);

	/* 0: nothing could ever be transferred; refused. */
	log_clear(x);
	int fd = raw_connect(x->path);
	ssize_t n = uvfio_build_version(m, sizeof(m), 1, false, 0, 2,
					"{\"capabilities\":{\"max_data_xfer_size\":0}}");
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, NULL, 0, NULL), EINVAL);
	assert_true(logged(x, "VERSION", "max_data_xfer_size"));
	assert_int_equal(recv_msg(fd, m, sizeof(m), NULL, NULL, 5000), 0);
	close(fd);

	/* 1 and 2^32: accepted; the server chunks its DMA at
	 * min(theirs, its own 1 MiB). */
	static const struct {
		const char *val;
		uint32_t len, chunk;
	} cases[] = {
		{ "1", 100, 1 },
		{ "4294967296", 2 * MIB + 5, MIB },
	};
	for (unsigned i = 0; i < 2; i++) {
		fd = raw_connect(x->path);
		snprintf(json, sizeof(json),
			 "{\"capabilities\":{\"max_data_xfer_size\":%s}}",
			 cases[i].val);
		assert_int_equal(negotiate(fd, json), -1);
		assert_int_equal(map_window(fd, 2, -1), 0);
		memset(x->dmabuf, 0, cases[i].len);
		__atomic_store_n(&x->async_done, 0, __ATOMIC_RELEASE);
		uint64_t a[2] = { WIN_IOVA + 3, cases[i].len };
		n = uvfio_build_region_write(m, sizeof(m), 3, false, 1, TRIG_ASYNC,
					     a, 16);
		assert_int_equal(tu_send(fd, m, (size_t)n, NULL, 0), 0);
		uint32_t maxc;
		unsigned reqs = serve_dma(x, fd, guest, &maxc);
		print_message("client max_data_xfer_size %s: %u bytes in %u "
			      "DMA_READs of at most %u\n",
			      cases[i].val, cases[i].len, reqs, maxc);
		assert_int_equal(x->async_result, 0);
		assert_int_equal(maxc, cases[i].chunk);
		assert_int_equal(reqs, (cases[i].len + cases[i].chunk - 1) /
					       cases[i].chunk);
		assert_memory_equal(x->dmabuf, guest + 3, cases[i].len);
		assert_int_equal(alive(fd, 9), 0);
		close(fd);
		assert_int_equal(wait_fds(b.fds), b.fds);
	}
	free(guest);
}

static void patch_argsz(uint8_t *m, uint32_t argsz)
{
	memcpy(m + UVFIO_HDR_SIZE, &argsz, 4);
}

struct argsz_case {
	const char *what;
	uint32_t argsz;
	int err;
	uint8_t msg[128];
	ssize_t len;
};

static void test_argsz_and_wrapping(void **state)
{
	struct srv *x = *state;
	struct baseline b = warm_baseline(x);
	int fd = raw_connect(x->path);
	assert_int_equal(negotiate(fd, plain_json), -1);
	static uint8_t rep[MIB + 64];
	uint8_t m[128];
	ssize_t n, rl;
	uint16_t id = 10;
	const uint32_t sizes[2] = { 0, 0xffffffffu };

	for (unsigned k = 0; k < 2; k++) {
		uint32_t az = sizes[k];
		bool big = az != 0;
		print_message("argsz 0x%x\n", az);

		n = uvfio_build_dma_map(m, sizeof(m), id++, UVFIO_DMA_MAP_READ, 0,
					WIN_IOVA, 4096);
		patch_argsz(m, az);
		assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep),
				      &rl),
				 big ? 0 : EINVAL);

		n = uvfio_build_dma_unmap(m, sizeof(m), id++, 0, WIN_IOVA, 4096, 0);
		patch_argsz(m, az);
		assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep),
				      &rl),
				 big ? 0 : EINVAL);
		if (big) /* the echo of the request, nothing more */
			assert_int_equal(rl, UVFIO_HDR_SIZE +
						     sizeof(struct uvfio_dma_unmap));

		n = uvfio_build_device_get_info(m, sizeof(m), id++);
		patch_argsz(m, az);
		assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep),
				      &rl),
				 big ? 0 : EINVAL);
		if (big)
			assert_int_equal(rl, UVFIO_HDR_SIZE +
						     sizeof(struct uvfio_device_info));

		n = uvfio_build_get_region_info(m, sizeof(m), id++, 2, az);
		assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep),
				      &rl),
				 big ? 0 : EINVAL);
		if (big)
			assert_true(rl < 4096);

		n = uvfio_build_get_irq_info(m, sizeof(m), id++, UVFIO_PCI_MSI_IRQ);
		patch_argsz(m, az);
		assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep),
				      &rl),
				 big ? 0 : EINVAL);

		n = uvfio_build_set_irqs(m, sizeof(m), id++,
					 UVFIO_IRQ_DATA_NONE |
						 UVFIO_IRQ_ACTION_TRIGGER,
					 UVFIO_PCI_MSI_IRQ, 0, 0, NULL);
		patch_argsz(m, az);
		assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep),
				      &rl),
				 big ? 0 : EINVAL);

		n = uvfio_build_device_feature(m, sizeof(m), id++, az,
					       UVFIO_FEATURE_GET |
						       UVFIO_FEATURE_MIGRATION,
					       NULL, 0);
		int e = call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl);
		if (!big)
			assert_int_equal(e, EINVAL);
		else /* whatever the device supports, a bounded answer */
			assert_true(e >= 0 && rl >= (ssize_t)UVFIO_HDR_SIZE &&
				    rl < 4096);
		assert_int_equal(alive(fd, id++), 0);
	}

	/* Region access counts. */
	n = uvfio_build_region_read(m, sizeof(m), id++, 0, 0, 0);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EINVAL);
	n = uvfio_build_region_read(m, sizeof(m), id++, 0, 0, 0xffffffffu);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 E2BIG);
	uint32_t w = 1;
	n = uvfio_build_region_write(m, sizeof(m), id++, false, 0, 0, &w, 4);
	struct uvfio_region_rw rw;
	memcpy(&rw, m + UVFIO_HDR_SIZE, sizeof(rw));
	rw.count = 0xffffffffu;
	memcpy(m + UVFIO_HDR_SIZE, &rw, sizeof(rw));
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 E2BIG);
	n = uvfio_build_region_write(m, sizeof(m), id++, false, 0, 0, &w, 0);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EINVAL);

	/* Offsets and counts that wrap 2^64. */
	n = uvfio_build_region_read(m, sizeof(m), id++, 0, UINT64_MAX - 3, 8);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	n = uvfio_build_region_read(m, sizeof(m), id++, 0, UINT64_MAX, 1);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	n = uvfio_build_region_read(m, sizeof(m), id++, 0, UINT64_MAX - 1, 1);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EINVAL);
	n = uvfio_build_region_read(m, sizeof(m), id++, 2, BAR2_SIZE - 4, 8);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EINVAL);
	n = uvfio_build_dma_map(m, sizeof(m), id++, UVFIO_DMA_MAP_READ, 0,
				UINT64_MAX - 4095, 8192);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	int mfd = memfd_create("wrap", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, 4096), 0);
	n = uvfio_build_dma_map(m, sizeof(m), id++,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_MMAP,
				UINT64_MAX - 100, WIN_IOVA, 4096);
	assert_int_equal(call(fd, m, (size_t)n, &mfd, 1, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	close(mfd);
	n = uvfio_build_dma_map(m, sizeof(m), id++, UVFIO_DMA_MAP_READ, 0,
				WIN_IOVA, UINT64_MAX);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	n = uvfio_build_dma_unmap(m, sizeof(m), id++, 0, UINT64_MAX - 4095,
				  8192, 0);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	n = uvfio_build_set_irqs(m, sizeof(m), id++,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_MASK,
				 UVFIO_PCI_MSI_IRQ, 0xffffffffu, 2, NULL);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 EOVERFLOW);
	/* A window at the very top of the address space is fine, and so is
	 * DMA into its last byte; one past it is not mapped. */
	n = uvfio_build_dma_map(m, sizeof(m), id++, UVFIO_DMA_MAP_READ, 0,
				UINT64_MAX - 4095, 4096);
	assert_int_equal(call(fd, m, (size_t)n, NULL, 0, rep, sizeof(rep), &rl),
			 0);
	uint8_t one;
	assert_int_equal(uvfio_server_dma_read_async(x->srv, UINT64_MAX, &one, 2,
						     NULL, NULL),
			 -EOVERFLOW);
	assert_int_equal(alive(fd, id++), 0);
	close(fd);
	assert_int_equal(wait_fds(b.fds), b.fds);
}

/* ---- the socket file ------------------------------------------------------------ */

static void test_socket_mode(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-mode-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m.sock", dir);
	mode_t old = umask(0);
	struct uvfio_server *s;
	assert_int_equal(uvfio_server_create(&s, path, 0), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(uvfio_server_set_socket_mode(s, 0660), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(uvfio_server_set_socket_mode(s, 01777), -EINVAL);
	uvfio_server_destroy(s);
	assert_int_equal(stat(path, &st), -1);

	/* An fd-created server has no file of its own. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_server_create_fd(&s, sv[0], 0), 0);
	assert_int_equal(uvfio_server_set_socket_mode(s, 0600), -ENOENT);
	uvfio_server_destroy(s);
	close(sv[1]);
	rmdir(dir);
}

/* Fault injection: epoll_ctl(EPOLL_CTL_ADD) of this fd fails (ENOMEM),
 * for the server's failures past its own setup.  This definition takes
 * the place of libc's in the whole process. */
static int fail_epoll_add = -1;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);
	static epoll_ctl_fn real_fn; /* any thread may be first here */
	epoll_ctl_fn real = __atomic_load_n(&real_fn, __ATOMIC_ACQUIRE);
	if (!real) {
		*(void **)&real = dlsym(RTLD_NEXT, "epoll_ctl");
		__atomic_store_n(&real_fn, real, __ATOMIC_RELEASE);
	}
	if (op == EPOLL_CTL_ADD &&
	    fd == __atomic_load_n(&fail_epoll_add, __ATOMIC_RELAXED)) {
		errno = ENOMEM;
		return -1;
	}
	return real(epfd, op, fd, ev);
}

/* The fd is open, with the file status flags it had. */
static void assert_fd_as_it_was(int fd, int flags)
{
	assert_int_equal(fcntl(fd, F_GETFL), flags);
}

/*
 * uvfio_server_create_fd() takes the fd only when it succeeds: on every
 * error the caller still has it, open and as it was, and the process has
 * exactly the fds it had before.
 */
static void test_create_fd_ownership(void **state)
{
	(void)state;
	struct uvfio_server *s = NULL;
	int before = tu_fd_count(0);
	int sv[2], p[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "@uvfio-own-%d", getpid());
	sa.sun_path[0] = 0; /* abstract: no file to clean up */
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	int fl = fcntl(sv[0], F_GETFL), lfl = fcntl(lfd, F_GETFL);
	assert_false(fl & O_NONBLOCK);

	assert_int_equal(uvfio_server_create_fd(NULL, sv[0], 0), -EINVAL);
	assert_int_equal(uvfio_server_create_fd(&s, sv[0], 1u << 7), -EINVAL);
	assert_int_equal(uvfio_server_create_fd(&s, lfd, 1u << 7), -EINVAL);
	assert_int_equal(uvfio_server_create_fd(&s, p[0], 0), -ENOTSOCK);
	assert_int_equal(uvfio_server_create_fd(&s, dg, 0), -ENOTSOCK);
	assert_int_equal(uvfio_server_create_fd(&s, 1000000, 0), -EBADF);
	assert_null(s);
	if (!under_valgrind()) { /* valgrind keeps RLIMIT_NOFILE to itself */
		/* No fd left for the server's own (epoll, eventfds): the
		 * limit is the lowest free fd number. */
		struct rlimit rl;
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
		int lowest = dup(0);
		assert_true(lowest >= 0);
		close(lowest);
		struct rlimit low = { (rlim_t)lowest, rl.rlim_max };
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
		int r1 = uvfio_server_create_fd(&s, sv[0], 0);
		int r2 = uvfio_server_create_fd(&s, lfd, 0);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
		assert_int_equal(r1, -EMFILE);
		assert_int_equal(r2, -EMFILE);
		assert_null(s);
	}
	/* Past the server's setup, after the fd was made non-blocking: the
	 * server cannot watch it. */
	__atomic_store_n(&fail_epoll_add, sv[0], __ATOMIC_RELAXED);
	assert_int_equal(uvfio_server_create_fd(&s, sv[0], 0), -ENOMEM);
	__atomic_store_n(&fail_epoll_add, lfd, __ATOMIC_RELAXED);
	assert_int_equal(uvfio_server_create_fd(&s, lfd, 0), -ENOMEM);
	__atomic_store_n(&fail_epoll_add, -1, __ATOMIC_RELAXED);
	assert_null(s);
	assert_fd_as_it_was(sv[0], fl);
	assert_fd_as_it_was(lfd, lfl);
	assert_int_equal(fcntl(p[0], F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(dg, F_GETFD), FD_CLOEXEC);
	assert_int_equal(tu_fd_count(0), before + 6);

	/* Success: the server's from then on, closed by destroy. */
	assert_int_equal(uvfio_server_create_fd(&s, sv[0], 0), 0);
	uvfio_server_destroy(s);
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	assert_int_equal(uvfio_server_create_fd(&s, lfd, 0), 0);
	uvfio_server_destroy(s);
	assert_int_equal(fcntl(lfd, F_GETFD), -1);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	close(dg);
	assert_int_equal(tu_fd_count(0), before);
}

/* What a failing create wrote to stderr (the log has no callback yet). */
static int create_capturing(struct uvfio_server **s, const char *path,
			    char *out, size_t cap)
{
	int p[2], saved = dup(2);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	dup2(p[1], 2);
	int r = uvfio_server_create(s, path, 0);
	dup2(saved, 2);
	close(saved);
	close(p[1]);
	ssize_t n = read(p[0], out, cap - 1);
	out[n > 0 ? n : 0] = 0;
	close(p[0]);
	return r;
}

static void test_stale_and_live_socket(void **state)
{
	struct srv *x = *state;
	char dir[] = "/tmp/uvfio-stale-XXXXXX", path[128], msg[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);

	/* Stale: a socket file nobody listens on (its server died). */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	struct uvfio_server *s;
	assert_int_equal(uvfio_server_create(&s, path, 0), 0);
	fd = raw_connect(path);
	assert_true(fd >= 0); /* waits in the backlog: it is listening */
	close(fd);
	uvfio_server_destroy(s);

	/* Live: the group's server; refused, and left alone. */
	assert_int_equal(create_capturing(&s, x->path, msg, sizeof(msg)),
			 -EADDRINUSE);
	print_message("second server on a live socket: \"%s\"\n", msg);
	assert_non_null(strstr(msg, x->path));
	assert_non_null(strstr(msg, "another process"));
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	assert_int_equal(uvfio_client_connect(c, x->path), 0);
	/* While a client is connected (the listener waits), still live. */
	assert_int_equal(create_capturing(&s, x->path, msg, sizeof(msg)),
			 -EADDRINUSE);
	uvfio_client_destroy(c);

	/* Not a socket: never removed. */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	assert_int_equal(create_capturing(&s, path, msg, sizeof(msg)), -EEXIST);
	assert_non_null(strstr(msg, "not a socket"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	unlink(path);
	rmdir(dir);
}

/* ---- fds reach no child ----------------------------------------------------------- */

static int inherited[64], n_inherited; /* open without CLOEXEC at start */

static void note_inherited(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd == dirfd(d) || fd <= 2)
			continue;
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC) && n_inherited < 64)
			inherited[n_inherited++] = fd;
	}
	closedir(d);
}

static int list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			printf("%s\n", e->d_name);
	closedir(d);
	return 0;
}

static void test_no_fd_leaks_to_children(void **state)
{
	struct srv *x = *state;
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	assert_int_equal(uvfio_client_connect(c, x->path), 0);
	assert_true(uvfio_client_has_twin_socket(c));
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, 1 << 20), 0);
	void *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
			 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(c, WIN_IOVA, 1 << 20,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      mem, mfd, 0),
			 0);
	int efds[4];
	assert_int_equal(uvfio_client_irq_enable(c, UVFIO_PCI_MSI_IRQ, 0, 4, efds),
			 0);
	/* The server now holds the memfd, the eventfds, the twin socket...
	 * and so does the client: all in this process. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = tu_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		execl(self_exe, self_exe, "--list-fds", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char out[4096];
	size_t got = 0;
	ssize_t n;
	while ((n = read(p[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(p[0]);
	int status;
	assert_int_equal(tu_reap(pid, 0, &status), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int seen = 0;
	for (char *tok = strtok(out, "\n"); tok; tok = strtok(NULL, "\n")) {
		int fd = atoi(tok);
		bool ok = fd <= 2;
		for (int i = 0; i < n_inherited; i++)
			ok |= inherited[i] == fd;
		if (!ok)
			fail_msg("fd %d reached the child process", fd);
		seen++;
	}
	print_message("child saw %d fds (%d inherited by this test)\n", seen,
		      n_inherited);
	assert_true(seen >= 3);
	for (int i = 0; i < 4; i++)
		close(efds[i]);
	uvfio_client_destroy(c);
	munmap(mem, 1 << 20);
	close(mfd);
}

/* ---- main ----------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--list-fds"))
		return list_fds();
	self_exe = argv[0];
	(void)under_valgrind;
	note_inherited();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_mid_message),
		cmocka_unit_test(test_kill_mid_reply),
		cmocka_unit_test(test_kill_fds_in_flight),
		cmocka_unit_test(test_kill_mid_dma),
		cmocka_unit_test(test_kill_mid_dma_other_thread),
		cmocka_unit_test(test_client_never_reads),
		cmocka_unit_test(test_client_never_answers_dma),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_client_max_data_xfer),
		cmocka_unit_test(test_argsz_and_wrapping),
		cmocka_unit_test(test_socket_mode),
		cmocka_unit_test(test_create_fd_ownership),
		cmocka_unit_test(test_stale_and_live_socket),
		cmocka_unit_test(test_no_fd_leaks_to_children),
	};
	return cmocka_run_group_tests_name("fault", tests, group_setup,
					   group_teardown);
}
