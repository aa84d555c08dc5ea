/* SPDX-License-Identifier: MIT */
/*
 * The sample devices (uvfio-gpio, uvfio-dmadev) as real processes, driven
 * by a raw-protocol client written here: every byte the client sends is
 * built with the codec, every reply is checked with uvfio_parse_reply(),
 * and the server's DMA_READ/DMA_WRITE commands are served from a local
 * "guest memory" buffer, in the spec's layout or in QEMU 10.x's.
 *
 *   test-server PATH/uvfio-gpio PATH/uvfio-dmadev
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "util.h"

#define MIB (1u << 20)
#define KIB 1024u
#define BUF_CAP (2 * MIB + 4096) /* a 1 MiB message with headers, twice */
#define IO_TIMEOUT_MS 5000

#include "../samples/dmadev.h"

#define MSIX_TABLE DMADEV_MSIX_TABLE
#define MSIX_PBA DMADEV_MSIX_PBA
#define BAR2_SIZE MIB

static const char *gpio_bin, *dmadev_bin;

/* ---- helpers: time, /proc ------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int proc_maps_count(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	int n = 0, ch;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* The server notices a hang-up asynchronously: poll /proc for up to 2 s. */
static int wait_fd_count(pid_t pid, int want)
{
	int n = tu_fd_count(pid);
	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = tu_fd_count(pid);
	}
	return n;
}

/* ---- the sample as a process --------------------------------------------- */

struct proc {
	pid_t pid;
	char dir[64];
	char path[128];
};

/* UVFIO_QEMU_DMA_LAYOUT for the next proc_start() (NULL: unset, so the
 * layout choice comes from negotiation alone). */
static const char *proc_layout_env;

static void proc_start(struct proc *p, const char *bin, const char *extra1,
		       const char *extra2)
{
	char arg[160];
	strcpy(p->dir, "/tmp/uvfio-srv-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/dev.sock", p->dir);
	snprintf(arg, sizeof(arg), "--socket=%s", p->path);
	p->pid = tu_fork(); /* killed if the test program dies */
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		if (proc_layout_env)
			setenv("UVFIO_QEMU_DMA_LAYOUT", proc_layout_env, 1);
		else
			unsetenv("UVFIO_QEMU_DMA_LAYOUT");
		execl(bin, bin, arg, extra1, extra2, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(tu_wait_server(p->pid, p->path, 10000), 0);
}

/* SIGTERM: the sample exits 0 and removes its socket file. */
static void proc_stop(struct proc *p)
{
	int status = -1;
	struct stat st;
	pid_t w = tu_reap(p->pid, SIGTERM, &status);
	int gone = stat(p->path, &st) == -1 && errno == ENOENT;
	/* Clean up first: a failed check must not leave files behind. */
	unlink(p->path);
	rmdir(p->dir);
	assert_int_equal(w, p->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(gone);
}

/* ---- raw client ---------------------------------------------------------- */

static const char qemu_json[] =
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, "
	"\"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, "
	"\"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}";
static const char twin_json[] =
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
	"\"twin_socket\":{\"supported\":true}}}";
static const char plain_json[] =
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}";
/* A smaller max_data_xfer_size: the server must chunk DMA below it. */
static const char plain64k_json[] =
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":65536}}";

enum neg { NEG_QEMU, NEG_TWIN, NEG_PLAIN, NEG_PLAIN64K };

struct deferred {
	int fd;
	size_t len;
	uint8_t *msg;
};

struct cl {
	int fd, twin;
	bool qemu; /* QEMU's DMA_READ/WRITE layout negotiated */
	uint32_t max_xfer; /* what we advertised */
	uint16_t minor;
	uint16_t next_id;
	uint8_t *rx;  /* replies and DMA commands */
	uint8_t *tx;  /* DMA replies */
	uint8_t *cmd; /* commands */
	int fds[16];  /* fds that came with the last message */
	unsigned nfds;
	/* guest memory served to message DMA */
	uint8_t *mem;
	uint64_t mem_iova;
	size_t mem_len;
	/* what the server's DMA looked like */
	unsigned dma_main, dma_twin, dma_reads, dma_writes, dma_bad;
	uint32_t dma_max_chunk;
	/* hold DMA commands unanswered to prove a reply does not need them */
	bool defer;
	struct deferred dq[256];
	unsigned ndq;
};

static void send_all(int fd, const void *buf, size_t len, const int *fds,
		     unsigned nfds)
{
	assert_int_equal(tu_send(fd, buf, len, fds, nfds), 0);
}

static void wait_readable(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int r;
	do
		r = poll(&pf, 1, IO_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	assert_int_equal(r, 1);
}

static size_t read_some(int fd, uint8_t *buf, size_t want, int *fds,
			unsigned *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = { buf, want };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	assert_false(mh.msg_flags & MSG_CTRUNC);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		assert_true(*nfds + k <= 16);
		memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
		*nfds += k;
	}
	return (size_t)n;
}

/* One whole message with its fds; 0 on EOF before its first byte. */
static size_t recv_msg(int fd, uint8_t *buf, int *fds, unsigned *nfds)
{
	size_t got = 0;
	*nfds = 0;
	while (got < UVFIO_HDR_SIZE) {
		wait_readable(fd);
		size_t n = read_some(fd, buf + got, UVFIO_HDR_SIZE - got, fds,
				     nfds);
		if (!n) {
			assert_int_equal(got, 0);
			return 0;
		}
		got += n;
	}
	struct uvfio_hdr h;
	memcpy(&h, buf, sizeof(h));
	assert_true(h.msg_size >= UVFIO_HDR_SIZE && h.msg_size <= BUF_CAP);
	while (got < h.msg_size) {
		wait_readable(fd);
		size_t n = read_some(fd, buf + got, h.msg_size - got, fds, nfds);
		assert_true(n > 0);
		got += n;
	}
	return got;
}

static void close_fds(int *fds, unsigned *nfds)
{
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

/* A DMA range must lie in the local guest memory (the one window). */
static uint8_t *guest_ptr(struct cl *c, uint64_t addr, uint64_t count)
{
	if (!c->mem || addr < c->mem_iova || count > c->mem_len ||
	    addr - c->mem_iova > c->mem_len - count)
		return NULL;
	return c->mem + (addr - c->mem_iova);
}

/* Answer one DMA_READ/DMA_WRITE from the server, in the negotiated layout. */
static void serve_dma(struct cl *c, int fd, const uint8_t *msg, size_t len,
		      unsigned nfds)
{
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	assert_int_equal(nfds, 0);
	assert_true(h.cmd == UVFIO_CMD_DMA_READ || h.cmd == UVFIO_CMD_DMA_WRITE);
	bool is_write = h.cmd == UVFIO_CMD_DMA_WRITE;
	uint64_t addr;
	uint32_t count;
	const uint8_t *data = NULL;
	ssize_t n;

	if (c->qemu) {
		/* QEMU's struct {u64 offset; u32 count; data[]}, sizeof 32
		 * with the header: QEMU refuses anything shorter (EINVAL) and
		 * a DMA_WRITE whose count exceeds msg_size - 32 (E2BIG), so
		 * the server sends 4 zero bytes after the data
		 * (hw/vfio-user/pci.c, vfio_user_dma_read/_write). */
		const uint8_t *pl = msg + UVFIO_HDR_SIZE;
		size_t plen = len - UVFIO_HDR_SIZE;
		assert_int_equal(h.flags, UVFIO_F_TYPE_COMMAND);
		assert_true(len >= 32);
		memcpy(&addr, pl, 8);
		memcpy(&count, pl + 8, 4);
		if (is_write) {
			assert_true(count <= len - 32);
			assert_int_equal(len, 32 + (size_t)count);
			static const uint8_t zero4[4];
			assert_memory_equal(pl + 12 + count, zero4, 4);
			data = pl + 12;
		} else {
			assert_int_equal(plen, 16);
			uint32_t hi;
			memcpy(&hi, pl + 12, 4);
			assert_int_equal(hi, 0);
		}
	} else {
		struct uvfio_limits lim = { .max_data_xfer = c->max_xfer,
					    .max_msg_fds = 16 };
		struct uvfio_cmd_view v;
		int r = uvfio_parse_command(msg, len, nfds, UVFIO_ROLE_CLIENT,
					    &lim, &v);
		if (r)
			fail_msg("bad DMA command from the server: %s", v.why);
		addr = v.u.dma_rw.addr;
		count = v.u.dma_rw.count;
		data = v.u.dma_rw.data;
	}
	assert_true(count > 0 && count <= c->max_xfer);
	if (c->qemu)
		assert_true(count <= 64 * KIB);
	if (count > c->dma_max_chunk)
		c->dma_max_chunk = count;
	uint8_t *g = guest_ptr(c, addr, count);

	if (!g) {
		/* Outside what we mapped: refuse, as QEMU or a careful
		 * client would, and let the test see it happened. */
		c->dma_bad++;
		n = uvfio_build_error(c->tx, BUF_CAP, h.msg_id, h.cmd, EFAULT);
	} else if (is_write) {
		c->dma_writes++;
		memcpy(g, data, count);
		if (c->qemu)
			n = uvfio_build_reply(c->tx, BUF_CAP, h.msg_id,
					      UVFIO_CMD_DMA_WRITE, NULL, 0, NULL,
					      0);
		else
			n = uvfio_build_dma_write_reply(c->tx, BUF_CAP, h.msg_id,
							addr, count);
	} else {
		c->dma_reads++;
		if (c->qemu) {
			/* QEMU: u32 count at 8, data at 12, 4 trailing zeros
			 * (its unpacked struct's padding). */
			size_t pl = 12 + count + 4;
			n = uvfio_build_hdr(c->tx, h.msg_id, UVFIO_CMD_DMA_READ,
					    UVFIO_F_TYPE_REPLY,
					    UVFIO_HDR_SIZE + pl);
			uint8_t *p = c->tx + UVFIO_HDR_SIZE;
			memcpy(p, &addr, 8);
			memcpy(p + 8, &count, 4);
			memcpy(p + 12, g, count);
			memset(p + 12 + count, 0, 4);
		} else {
			n = uvfio_build_dma_read_reply(c->tx, BUF_CAP, h.msg_id,
						       addr, g, count);
		}
	}
	assert_true(n > 0);
	send_all(fd, c->tx, (size_t)n, NULL, 0);
}

static void take_dma(struct cl *c, int fd, const uint8_t *msg, size_t len,
		     unsigned nfds)
{
	if (fd == c->fd)
		c->dma_main++;
	else
		c->dma_twin++;
	if (!c->defer) {
		serve_dma(c, fd, msg, len, nfds);
		return;
	}
	assert_true(c->ndq < 256);
	assert_int_equal(nfds, 0);
	struct deferred *d = &c->dq[c->ndq++];
	d->fd = fd;
	d->len = len;
	d->msg = malloc(len);
	memcpy(d->msg, msg, len);
}

static void release_deferred(struct cl *c)
{
	c->defer = false;
	for (unsigned i = 0; i < c->ndq; i++) {
		serve_dma(c, c->dq[i].fd, c->dq[i].msg, c->dq[i].len, 0);
		free(c->dq[i].msg);
	}
	c->ndq = 0;
}

/*
 * Wait for the reply to command `id` on the main socket (replies come in
 * order), answering the server's DMA commands meanwhile, on whichever
 * socket they come.  The reply is in c->rx, its fds in c->fds.
 */
static size_t wait_reply(struct cl *c, uint16_t id)
{
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;
	close_fds(c->fds, &c->nfds);
	for (;;) {
		struct pollfd pf[2] = { { .fd = c->fd, .events = POLLIN },
					{ .fd = c->twin, .events = POLLIN } };
		int left = (int)(deadline - now_ms());
		assert_true(left > 0);
		int r = poll(pf, c->twin >= 0 ? 2 : 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		if (c->twin >= 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
			unsigned nf;
			int fds[16];
			size_t n = recv_msg(c->twin, c->rx, fds, &nf);
			assert_true(n > 0);
			struct uvfio_hdr h;
			memcpy(&h, c->rx, sizeof(h));
			/* The twin carries server commands only. */
			assert_int_equal(h.flags & UVFIO_F_TYPE_MASK,
					 UVFIO_F_TYPE_COMMAND);
			take_dma(c, c->twin, c->rx, n, nf);
			continue;
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP)))
			continue;
		size_t n = recv_msg(c->fd, c->rx, c->fds, &c->nfds);
		if (!n)
			fail_msg("server hung up while reply %u was awaited", id);
		struct uvfio_hdr h;
		memcpy(&h, c->rx, sizeof(h));
		if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND) {
			unsigned nf = c->nfds;
			c->nfds = 0;
			take_dma(c, c->fd, c->rx, n, nf);
			continue;
		}
		assert_int_equal(h.msg_id, id);
		return n;
	}
}

static uint16_t nid(struct cl *c)
{
	return c->next_id++;
}

/*
 * Send one command (msg built with id = its header's msg_id) and check the
 * reply against e.  Returns 0 or the reply's -errno; v describes it.
 */
static int call_fds(struct cl *c, const void *msg, size_t len, const int *fds,
		    unsigned nfds, struct uvfio_expect *e,
		    struct uvfio_reply_view *v)
{
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	e->msg_id = h.msg_id;
	e->cmd = h.cmd;
	send_all(c->fd, msg, len, fds, nfds);
	size_t n = wait_reply(c, h.msg_id);
	int r = uvfio_parse_reply(c->rx, n, c->nfds, e, v);
	if (r)
		fail_msg("bad reply to command %u: %s", h.cmd, v->why);
	return v->error;
}

static int call(struct cl *c, const void *msg, size_t len,
		struct uvfio_expect *e, struct uvfio_reply_view *v)
{
	return call_fds(c, msg, len, NULL, 0, e, v);
}

/* Clients a failed test left open; closed by its teardown so the server
 * can take the next test's client. */
static struct cl *open_clients[8];

static void cl_track(struct cl *c, bool add)
{
	for (unsigned i = 0; i < 8; i++) {
		if (add && !open_clients[i]) {
			open_clients[i] = c;
			return;
		}
		if (!add && open_clients[i] == c) {
			open_clients[i] = NULL;
			return;
		}
	}
	assert_false(add);
}

static struct cl *cl_open(const char *path, enum neg how)
{
	struct cl *c = calloc(1, sizeof(*c));
	c->rx = malloc(BUF_CAP);
	c->tx = malloc(BUF_CAP);
	c->cmd = malloc(BUF_CAP);
	c->twin = -1;
	c->next_id = 1;

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	cl_track(c, true);
	/* A server that stops reading fails the test instead of hanging it. */
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

	const char *json = how == NEG_QEMU ? qemu_json
			   : how == NEG_TWIN ? twin_json
			   : how == NEG_PLAIN ? plain_json
					      : plain64k_json;
	uint16_t minor = how == NEG_QEMU ? 0 : 2;
	c->max_xfer = how == NEG_PLAIN64K ? 64 * KIB : MIB;
	ssize_t n = uvfio_build_version(c->cmd, BUF_CAP, nid(c), false, 0, minor,
					json);
	assert_true(n > 0);
	if (how == NEG_QEMU)
		assert_int_equal(n, 214);
	struct uvfio_expect e = { .max_fds = 1 };
	struct uvfio_reply_view v;
	assert_int_equal(call(c, c->cmd, (size_t)n, &e, &v), 0);
	assert_int_equal(v.u.version.major, 0);
	assert_int_equal(v.u.version.minor, minor);
	c->minor = v.u.version.minor;
	assert_non_null(v.u.version.json);
	if (how == NEG_QEMU) /* QEMU sizes its reply buffer from its request */
		assert_true(v.hdr.msg_size <= 214);
	struct uvfio_caps caps;
	const char *why;
	assert_int_equal(uvfio_caps_parse(v.u.version.json, v.u.version.json_len,
					  &caps, &why),
			 0);
	assert_true(caps.write_multiple);
	assert_int_equal(caps.max_msg_fds, 16);
	if (how == NEG_TWIN) {
		assert_true(caps.twin_socket);
		assert_true(caps.present & UVFIO_CAP_HAS_TWIN_FD_INDEX);
		assert_int_equal(caps.twin_fd_index, 0);
		assert_int_equal(c->nfds, 1);
		struct stat st;
		assert_int_equal(fstat(c->fds[0], &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		c->twin = c->fds[0];
		c->nfds = 0;
		setsockopt(c->twin, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	} else {
		assert_false(caps.twin_socket);
		assert_int_equal(c->nfds, 0);
	}
	c->qemu = how == NEG_QEMU;
	return c;
}

static void cl_close(struct cl *c)
{
	cl_track(c, false);
	close_fds(c->fds, &c->nfds);
	for (unsigned i = 0; i < c->ndq; i++)
		free(c->dq[i].msg);
	if (c->twin >= 0)
		close(c->twin);
	close(c->fd);
	free(c->rx);
	free(c->tx);
	free(c->cmd);
	free(c);
}

/* ---- commands ------------------------------------------------------------ */

static int region_read(struct cl *c, uint32_t region, uint64_t off, void *buf,
		       uint32_t count)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_region_read(m, sizeof(m), nid(c), region, off,
					    count);
	struct uvfio_expect e = { .index = region, .addr = off, .count = count };
	struct uvfio_reply_view v;
	int r = call(c, m, (size_t)n, &e, &v);
	if (!r) {
		assert_int_equal(v.u.region_rw.count, count);
		memcpy(buf, v.u.region_rw.data, count);
	}
	return r;
}

static int region_write(struct cl *c, uint32_t region, uint64_t off,
			const void *buf, uint32_t count)
{
	ssize_t n = uvfio_build_region_write(c->cmd, BUF_CAP, nid(c), false,
					     region, off, buf, count);
	assert_true(n > 0);
	struct uvfio_expect e = { .index = region, .addr = off, .count = count };
	struct uvfio_reply_view v;
	int r = call(c, c->cmd, (size_t)n, &e, &v);
	if (!r)
		assert_int_equal(v.u.region_rw.count, count);
	return r;
}

/* Large ranges go in 64 KiB pieces, within every max_data_xfer_size here. */
static void read_big(struct cl *c, uint32_t region, uint64_t off, void *buf,
		     size_t len)
{
	for (size_t done = 0; done < len;) {
		uint32_t n = len - done > 64 * KIB ? 64 * KIB
						   : (uint32_t)(len - done);
		assert_int_equal(region_read(c, region, off + done,
					     (uint8_t *)buf + done, n),
				 0);
		done += n;
	}
}

static void write_big(struct cl *c, uint32_t region, uint64_t off,
		      const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		uint32_t n = len - done > 64 * KIB ? 64 * KIB
						   : (uint32_t)(len - done);
		assert_int_equal(region_write(c, region, off + done,
					      (const uint8_t *)buf + done, n),
				 0);
		done += n;
	}
}

static uint8_t rd8(struct cl *c, uint32_t region, uint64_t off)
{
	uint8_t v;
	assert_int_equal(region_read(c, region, off, &v, 1), 0);
	return v;
}

static uint16_t rd16(struct cl *c, uint32_t region, uint64_t off)
{
	uint16_t v;
	assert_int_equal(region_read(c, region, off, &v, 2), 0);
	return v;
}

static uint32_t rd32(struct cl *c, uint32_t region, uint64_t off)
{
	uint32_t v;
	assert_int_equal(region_read(c, region, off, &v, 4), 0);
	return v;
}

static uint64_t rd64(struct cl *c, uint32_t region, uint64_t off)
{
	uint64_t v;
	assert_int_equal(region_read(c, region, off, &v, 8), 0);
	return v;
}

static void wr8(struct cl *c, uint32_t region, uint64_t off, uint8_t v)
{
	assert_int_equal(region_write(c, region, off, &v, 1), 0);
}

static void wr16(struct cl *c, uint32_t region, uint64_t off, uint16_t v)
{
	assert_int_equal(region_write(c, region, off, &v, 2), 0);
}

static void wr32(struct cl *c, uint32_t region, uint64_t off, uint32_t v)
{
	assert_int_equal(region_write(c, region, off, &v, 4), 0);
}

static void wr64(struct cl *c, uint32_t region, uint64_t off, uint64_t v)
{
	assert_int_equal(region_write(c, region, off, &v, 8), 0);
}

/* GET_REGION_INFO; caps (if asked) receive the whole reply payload. */
static int region_info(struct cl *c, uint32_t index, uint32_t argsz,
		       struct uvfio_region_info *ri, uint8_t *payload,
		       uint32_t *plen, int *fd)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_get_region_info(m, sizeof(m), nid(c), index,
						argsz);
	struct uvfio_expect e = { .argsz = argsz, .index = index, .max_fds = 1 };
	struct uvfio_reply_view v;
	int r = call(c, m, (size_t)n, &e, &v);
	if (fd)
		*fd = -1;
	if (r)
		return r;
	*ri = v.u.region_info.info;
	if (payload) {
		memcpy(payload, v.payload, v.len);
		*plen = v.len;
	}
	if (c->nfds) {
		assert_non_null(fd);
		*fd = c->fds[0];
		c->nfds = 0;
	}
	return 0;
}

static int irq_info(struct cl *c, uint32_t index, struct uvfio_irq_info *ii)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_get_irq_info(m, sizeof(m), nid(c), index);
	struct uvfio_expect e = { .argsz = 16, .index = index };
	struct uvfio_reply_view v;
	int r = call(c, m, (size_t)n, &e, &v);
	if (!r)
		*ii = v.u.irq_info;
	return r;
}

static int set_irqs(struct cl *c, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, const int *fds,
		    unsigned nfds)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_set_irqs(m, sizeof(m), nid(c), flags, index,
					 start, count, NULL);
	struct uvfio_expect e = { 0 };
	struct uvfio_reply_view v;
	return call_fds(c, m, (size_t)n, fds, nfds, &e, &v);
}

static int dma_map(struct cl *c, uint32_t flags, uint64_t offset, uint64_t iova,
		   uint64_t size, int fd)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_dma_map(m, sizeof(m), nid(c), flags, offset, iova,
					size);
	struct uvfio_expect e = { 0 };
	struct uvfio_reply_view v;
	return call_fds(c, m, (size_t)n, &fd, fd >= 0 ? 1 : 0, &e, &v);
}

static int dma_unmap(struct cl *c, uint32_t flags, uint64_t iova,
		     uint64_t size)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_dma_unmap(m, sizeof(m), nid(c), flags, iova, size,
					  4096);
	struct uvfio_expect e = { .argsz = 24 };
	struct uvfio_reply_view v;
	int r = call(c, m, (size_t)n, &e, &v);
	if (!r) {
		/* The reply echoes the request. */
		assert_int_equal(v.u.dma_unmap.addr, iova);
		assert_int_equal(v.u.dma_unmap.size, size);
		assert_int_equal(v.u.dma_unmap.flags, flags);
	}
	return r;
}

static int memfd_sized(size_t size)
{
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* ---- config space walking ------------------------------------------------ */

/* Offset of standard capability `id`, 0 if absent. */
static unsigned find_cap(const uint8_t *cfg, uint8_t id)
{
	unsigned off = cfg[0x34] & 0xfc;
	for (int guard = 0; off && guard < 48; guard++) {
		if (cfg[off] == id)
			return off;
		off = cfg[off + 1] & 0xfc;
	}
	return 0;
}

/* ---- dmadev programming -------------------------------------------------- */

static void dmadev_program(struct cl *c, uint64_t iova, uint32_t len,
			   uint32_t dir)
{
	wr64(c, 0, REG_IOVA, iova);
	wr32(c, 0, REG_LEN, len);
	wr32(c, 0, REG_COUNT, 1);
	wr32(c, 0, REG_DIR, dir);
}

/* GO=2, then poll STATUS until the background transfer ends. */
static uint32_t dmadev_go_async(struct cl *c)
{
	/* DMA commands are held back while the GO write is answered: its
	 * reply must not depend on them. */
	c->defer = true;
	wr32(c, 0, REG_GO, 2);
	assert_int_equal(rd32(c, 0, REG_STATUS), EINPROGRESS);
	release_deferred(c);
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;
	uint32_t st;
	while ((st = rd32(c, 0, REG_STATUS)) == EINPROGRESS)
		assert_true(now_ms() < deadline);
	return st;
}

/* GO=2 for a transfer that may fail at once: just wait for the end. */
static uint32_t dmadev_go_async_result(struct cl *c)
{
	wr32(c, 0, REG_GO, 2);
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;
	uint32_t st;
	while ((st = rd32(c, 0, REG_STATUS)) == EINPROGRESS)
		assert_true(now_ms() < deadline);
	return st;
}

static uint32_t dmadev_go_sync(struct cl *c)
{
	wr32(c, 0, REG_GO, 1);
	return rd32(c, 0, REG_STATUS);
}

static int test_teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 8; i++) {
		if (open_clients[i]) {
			free(open_clients[i]->mem);
			cl_close(open_clients[i]);
		}
	}
	return 0;
}

/* ---- groups -------------------------------------------------------------- */

static int group_setup(void **state, const char *bin)
{
	struct proc *p = calloc(1, sizeof(*p));
	proc_start(p, bin, NULL, NULL);
	*state = p;
	return 0;
}

static int gpio_setup(void **state)
{
	return group_setup(state, gpio_bin);
}

static int dmadev_setup(void **state)
{
	return group_setup(state, dmadev_bin);
}

static int group_teardown(void **state)
{
	struct proc *p = *state;
	proc_stop(p);
	free(p);
	return 0;
}

/* ---- 1, 2: gpio ---------------------------------------------------------- */

static void test_gpio_identity(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_QEMU);
	uint8_t cfg[256];

	assert_int_equal(region_read(c, UVFIO_PCI_CONFIG, 0, cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 0x494f);
	assert_int_equal(cfg[2] | cfg[3] << 8, 0x0dc8);
	assert_int_equal(cfg[0x3d], 1);
	assert_int_equal(cfg[6] & 0x10, 0); /* no capability list */
	assert_int_equal(cfg[0x18] & 1, 1); /* BAR2 is I/O */
	for (unsigned b = 0; b < 6; b++)
		if (b != 2)
			assert_int_equal(cfg[0x10 + 4 * b] | cfg[0x11 + 4 * b] |
						 cfg[0x12 + 4 * b] |
						 cfg[0x13 + 4 * b],
					 0);

	/* BAR sizing as a guest does it, then put it back. */
	uint32_t old = rd32(c, UVFIO_PCI_CONFIG, 0x18);
	wr32(c, UVFIO_PCI_CONFIG, 0x18, 0xffffffff);
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0x18), 0xffffff01);
	wr32(c, UVFIO_PCI_CONFIG, 0x18, old);
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0x18), old);

	struct uvfio_region_info ri;
	int fd;
	assert_int_equal(region_info(c, 2, 32, &ri, NULL, NULL, &fd), 0);
	assert_int_equal(ri.size, 256);
	assert_int_equal(ri.flags, UVFIO_REGION_READ | UVFIO_REGION_WRITE);
	assert_int_equal(ri.argsz, 32);
	assert_int_equal(fd, -1);
	assert_int_equal(region_info(c, 0, 32, &ri, NULL, NULL, &fd), 0);
	assert_int_equal(ri.size, 0);
	assert_int_equal(ri.flags, 0);
	assert_int_equal(region_info(c, UVFIO_PCI_CONFIG, 32, &ri, NULL, NULL,
				     &fd),
			 0);
	assert_int_equal(ri.size, 256);

	struct uvfio_irq_info ii;
	assert_int_equal(irq_info(c, UVFIO_PCI_INTX_IRQ, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ii.flags, UVFIO_IRQ_INFO_EVENTFD |
					   UVFIO_IRQ_INFO_MASKABLE |
					   UVFIO_IRQ_INFO_AUTOMASKED);
	assert_int_equal(irq_info(c, UVFIO_PCI_MSI_IRQ, &ii), 0);
	assert_int_equal(ii.count, 0);
	assert_int_equal(irq_info(c, UVFIO_PCI_MSIX_IRQ, &ii), 0);
	assert_int_equal(ii.count, 0);
	cl_close(c);
}

static uint64_t efd_take(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, sizeof(v)) != sizeof(v)) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return v;
}

/*
 * UVFIO_TEST_COMPAT: the samples under test are uvfio-compat-gpio and
 * uvfio-compat-dmadev, written against libvfio-user's API (tests/meson.build).
 */
static bool compat_samples(void)
{
	const char *e = getenv("UVFIO_TEST_COMPAT");
	return e && *e && strcmp(e, "0");
}

/*
 * The client unmasks INTx after the card's status was cleared.  uvfio's
 * library remembers a trigger that came while INTx was masked and fires it
 * at the unmask, unless the device withdrew it meanwhile
 * (uvfio_server_irq_deassert(), which uvfio-gpio calls when its status is
 * cleared).  libvfio-user's API has no such call, so with the compat
 * sample the remembered trigger fires here, a spurious interrupt, and
 * masks INTx again: take it and unmask once more, as the guest would.
 */
static void intx_unmask_after_clear(struct cl *c, int efd)
{
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_NONE |
					     UVFIO_IRQ_ACTION_UNMASK,
				  UVFIO_PCI_INTX_IRQ, 0, 1, NULL, 0),
			 0);
	if (compat_samples() && efd_take(efd))
		assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_NONE |
						     UVFIO_IRQ_ACTION_UNMASK,
					  UVFIO_PCI_INTX_IRQ, 0, 1, NULL, 0),
				 0);
}

static void test_gpio_behaviour(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_QEMU);

	/* Loopback: inputs read what the outputs drive. */
	wr8(c, 2, 0, 0x5a);
	assert_int_equal(rd8(c, 2, 1), 0x5a);
	assert_int_equal(rd8(c, 2, 0), 0x5a);
	wr8(c, 2, 4, 0xc3);
	assert_int_equal(rd8(c, 2, 5), 0xc3);
	assert_int_equal(rd8(c, 2, 1), 0x5a);
	assert_int_equal(rd16(c, 2, 0), 0x5a5a); /* OUT0-7, IN0-7 */

	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_EVENTFD |
					     UVFIO_IRQ_ACTION_TRIGGER,
				  UVFIO_PCI_INTX_IRQ, 0, 1, &efd, 1),
			 0);
	/* Interrupts still disabled in the card: a change is silent. */
	wr8(c, 2, 0, 0x00);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(rd8(c, 2, 6), 0);

	(void)rd8(c, 2, 2); /* a read enables change-of-state interrupts */
	wr8(c, 2, 0, 0x01);
	/* The eventfd was written before the write's reply was queued. */
	assert_int_equal(efd_take(efd), 1);
	assert_int_equal(rd8(c, 2, 6), 0x5);
	wr8(c, 2, 1, 0); /* clear */
	assert_int_equal(rd8(c, 2, 6), 0);

	/* Automasked until the client unmasks: no second event. */
	wr8(c, 2, 0, 0x02);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(rd8(c, 2, 6), 0x5);
	wr8(c, 2, 1, 0);
	/* The upper byte changing sets bit 1 (and bit 0, which Linux's
	 * newer driver looks at for any change). */
	intx_unmask_after_clear(c, efd);
	assert_int_equal(efd_take(efd), 0); /* nothing pending */
	wr8(c, 2, 4, 0x3c);
	assert_int_equal(efd_take(efd), 1);
	assert_int_equal(rd8(c, 2, 6), 0x7);
	wr8(c, 2, 1, 0);

	/* Masked explicitly: silent; unmasked: the next change fires. */
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_NONE |
					     UVFIO_IRQ_ACTION_UNMASK,
				  UVFIO_PCI_INTX_IRQ, 0, 1, NULL, 0),
			 0);
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_MASK,
				  UVFIO_PCI_INTX_IRQ, 0, 1, NULL, 0),
			 0);
	wr8(c, 2, 0, 0x03);
	assert_int_equal(efd_take(efd), 0);
	wr8(c, 2, 1, 0);
	intx_unmask_after_clear(c, efd);
	wr8(c, 2, 0, 0x04);
	assert_int_equal(efd_take(efd), 1);
	wr8(c, 2, 1, 0);
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_NONE |
					     UVFIO_IRQ_ACTION_UNMASK,
				  UVFIO_PCI_INTX_IRQ, 0, 1, NULL, 0),
			 0);

	/* A write to offset 2 disables the card's interrupts. */
	wr8(c, 2, 2, 0);
	wr8(c, 2, 0, 0x05);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(rd8(c, 2, 6), 0);
	close(efd);
	cl_close(c);

	/* A card whose inputs are wired to fixed levels. */
	struct proc fixed;
	proc_start(&fixed, gpio_bin, "--inputs", "0x1234");
	c = cl_open(fixed.path, NEG_TWIN);
	assert_int_equal(rd8(c, 2, 1), 0x34);
	assert_int_equal(rd8(c, 2, 5), 0x12);
	wr8(c, 2, 0, 0xff);
	wr8(c, 2, 4, 0x00);
	assert_int_equal(rd8(c, 2, 0), 0xff);
	assert_int_equal(rd8(c, 2, 4), 0x00);
	assert_int_equal(rd8(c, 2, 1), 0x34);
	assert_int_equal(rd8(c, 2, 5), 0x12);
	cl_close(c);
	proc_stop(&fixed);
}

/* ---- 3, 4: dmadev config and BAR2 ---------------------------------------- */

static void test_dmadev_config(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_PLAIN);
	uint8_t *cfg = malloc(4096);

	struct uvfio_region_info ri;
	int fd;
	assert_int_equal(region_info(c, UVFIO_PCI_CONFIG, 32, &ri, NULL, NULL,
				     &fd),
			 0);
	assert_int_equal(ri.size, 4096);
	assert_int_equal(ri.flags, UVFIO_REGION_READ | UVFIO_REGION_WRITE);
	assert_int_equal(region_read(c, UVFIO_PCI_CONFIG, 0, cfg, 4096), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 0x1234);
	assert_int_equal(cfg[2] | cfg[3] << 8, 0xd3a0);
	assert_int_equal(cfg[6] & 0x10, 0x10);
	assert_true(cfg[0x34] >= 0x40);

	assert_true(find_cap(cfg, 0x01) != 0);
	unsigned pcie = find_cap(cfg, 0x10);
	assert_true(pcie != 0);
	unsigned mx = find_cap(cfg, 0x11);
	assert_true(mx != 0);
	uint16_t ctrl = (uint16_t)(cfg[mx + 2] | cfg[mx + 3] << 8);
	assert_int_equal((ctrl & 0x7ff) + 1, 4);
	assert_int_equal(ctrl & 0xc000, 0); /* disabled, not function-masked */
	uint32_t t, pba;
	memcpy(&t, cfg + mx + 4, 4);
	memcpy(&pba, cfg + mx + 8, 4);
	assert_int_equal(t & 7, 0);
	assert_int_equal(t & ~7u, 0x800);
	assert_int_equal(pba & 7, 0);
	assert_int_equal(pba & ~7u, 0xc00);

	uint32_t ext;
	memcpy(&ext, cfg + 0x100, 4);
	assert_int_equal(ext & 0xffff, 3); /* Device Serial Number */
	uint64_t dsn;
	memcpy(&dsn, cfg + 0x104, 8);
	assert_int_equal(dsn, 0x00d3a0d3a0d3a001ull);

	/* BAR2: 64-bit prefetchable memory, 1 MiB. */
	uint32_t lo, hi;
	memcpy(&lo, cfg + 0x18, 4);
	assert_int_equal(lo & 0xf, 0xc);
	wr32(c, UVFIO_PCI_CONFIG, 0x18, 0xffffffff);
	wr32(c, UVFIO_PCI_CONFIG, 0x1c, 0xffffffff);
	lo = rd32(c, UVFIO_PCI_CONFIG, 0x18);
	hi = rd32(c, UVFIO_PCI_CONFIG, 0x1c);
	assert_int_equal(lo, 0xfff0000c);
	assert_int_equal(hi, 0xffffffff);
	wr32(c, UVFIO_PCI_CONFIG, 0x18, 0);
	wr32(c, UVFIO_PCI_CONFIG, 0x1c, 0);
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0x18), 0xc);
	/* BAR0: 32-bit memory, 4 KiB. */
	memcpy(&lo, cfg + 0x10, 4);
	assert_int_equal(lo & 0xf, 0);
	wr32(c, UVFIO_PCI_CONFIG, 0x10, 0xffffffff);
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0x10), 0xfffff000);
	wr32(c, UVFIO_PCI_CONFIG, 0x10, 0);

	assert_int_equal(region_info(c, 2, 32, &ri, NULL, NULL, &fd), 0);
	assert_int_equal(ri.size, BAR2_SIZE);
	if (fd >= 0)
		close(fd);
	assert_int_equal(region_info(c, 3, 32, &ri, NULL, NULL, &fd), 0);
	assert_int_equal(ri.size, 0); /* BAR2's upper half */
	free(cfg);
	cl_close(c);
}

static void test_dmadev_bar2_info_and_mmap(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_QEMU);
	struct uvfio_region_info ri;
	uint8_t pl[256];
	uint32_t plen;
	int fd;

	/* Short argsz: the size needed, no caps, no fd. */
	assert_int_equal(region_info(c, 2, 32, &ri, pl, &plen, &fd), 0);
	assert_int_equal(plen, 32);
	assert_int_equal(ri.argsz, 64);
	assert_int_equal(ri.flags, UVFIO_REGION_READ | UVFIO_REGION_WRITE |
					   UVFIO_REGION_MMAP);
	assert_int_equal(ri.cap_offset, 0);
	assert_int_equal(ri.size, BAR2_SIZE);
	assert_int_equal(fd, -1);

	/* Asked again with that argsz: caps and the fd. */
	assert_int_equal(region_info(c, 2, 64, &ri, pl, &plen, &fd), 0);
	assert_int_equal(plen, 64);
	assert_int_equal(ri.argsz, 64);
	assert_int_equal(ri.flags, UVFIO_REGION_READ | UVFIO_REGION_WRITE |
					   UVFIO_REGION_MMAP | UVFIO_REGION_CAPS);
	assert_true(fd >= 0);
	struct uvfio_region_caps caps;
	const char *why;
	assert_int_equal(uvfio_parse_region_caps(pl, plen, &caps, &why), 0);
	assert_true(caps.has_sparse);
	assert_int_equal(caps.nr_areas, 1);
	struct uvfio_sparse_area a;
	memcpy(&a, caps.areas, sizeof(a));
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.size, BAR2_SIZE);

	uint8_t *m = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			  (off_t)(ri.offset + a.offset));
	assert_true(m != MAP_FAILED);
	close(fd);

	uint8_t w[64], r[64];
	fill(w, sizeof(w), 4);
	assert_int_equal(region_write(c, 2, 0x12340, w, sizeof(w)), 0);
	assert_memory_equal(m + 0x12340, w, sizeof(w));
	fill(m + BAR2_SIZE - 64, 64, 5);
	assert_int_equal(region_read(c, 2, BAR2_SIZE - 64, r, 64), 0);
	assert_memory_equal(r, m + BAR2_SIZE - 64, 64);
	munmap(m, a.size);
	cl_close(c);
}

/* ---- 5: fd-backed DMA ---------------------------------------------------- */

#define FD_IOVA 0x10000000ull
#define FD_SIZE (4 * MIB)

static void test_dmadev_fd_dma(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_TWIN);
	int mfd = memfd_sized(FD_SIZE);
	uint8_t *ram = mmap(NULL, FD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
			    0);
	assert_true(ram != MAP_FAILED);
	fill(ram, FD_SIZE, 1);

	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				 FD_IOVA, FD_SIZE, mfd),
			 0);
	uint8_t *bar = malloc(64 * KIB), *want = malloc(64 * KIB);

	/* Device reads guest memory into BAR2. */
	dmadev_program(c, FD_IOVA + 0x3000, 64 * KIB, 0);
	assert_int_equal(dmadev_go_sync(c), 0);
	read_big(c, 2, 0, bar, 64 * KIB);
	assert_memory_equal(bar, ram + 0x3000, 64 * KIB);

	/* Device writes BAR2 into guest memory. */
	fill(want, 64 * KIB, 2);
	write_big(c, 2, 0, want, 64 * KIB);
	dmadev_program(c, FD_IOVA + FD_SIZE - 64 * KIB, 64 * KIB, 1);
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_memory_equal(ram + FD_SIZE - 64 * KIB, want, 64 * KIB);
	/* Through the fd as well, not just this mapping. */
	assert_int_equal(pread(mfd, bar, 64 * KIB,
			       (off_t)(FD_SIZE - 64 * KIB)),
			 64 * KIB);
	assert_memory_equal(bar, want, 64 * KIB);
	/* No message DMA for fd-backed windows. */
	assert_int_equal(c->dma_main + c->dma_twin, 0);

	/* Outside every window; and straddling the end of the window. */
	dmadev_program(c, 0x50000000, 4096, 0);
	assert_int_equal(dmadev_go_sync(c), ENOENT);
	dmadev_program(c, FD_IOVA + FD_SIZE - 4096, 8192, 1);
	assert_int_equal(dmadev_go_sync(c), ENOENT);

	/* Overlap; inexact unmaps; the exact one. */
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ, 0, FD_IOVA + 4096, 4096,
				 -1),
			 -EEXIST);
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ, 0, FD_IOVA - 4096, 8192,
				 -1),
			 -EEXIST);
	assert_int_equal(dma_unmap(c, 0, FD_IOVA, 4096), -ENOENT);
	assert_int_equal(dma_unmap(c, 0, FD_IOVA + 4096, FD_SIZE - 4096),
			 -ENOENT);
	assert_int_equal(dma_unmap(c, 0, FD_IOVA, FD_SIZE), 0);
	assert_int_equal(dma_unmap(c, 0, FD_IOVA, FD_SIZE), -ENOENT);
	dmadev_program(c, FD_IOVA, 4096, 0);
	assert_int_equal(dmadev_go_sync(c), ENOENT);

	/* A read-only window refuses device writes. */
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ, 0, FD_IOVA, FD_SIZE, mfd),
			 0);
	dmadev_program(c, FD_IOVA, 4096, 1);
	assert_int_equal(dmadev_go_sync(c), EACCES);
	dmadev_program(c, FD_IOVA, 4096, 0);
	assert_int_equal(dmadev_go_sync(c), 0);

	free(bar);
	free(want);
	munmap(ram, FD_SIZE);
	close(mfd);
	cl_close(c);
}

/* ---- 6, 7, 8: message DMA ------------------------------------------------ */

#define MSG_IOVA 0x20000000ull
#define MSG_SIZE MIB

static void msg_window(struct cl *c, unsigned seed)
{
	c->mem = malloc(MSG_SIZE);
	c->mem_iova = MSG_IOVA;
	c->mem_len = MSG_SIZE;
	fill(c->mem, MSG_SIZE, seed);
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				 MSG_IOVA, MSG_SIZE, -1),
			 0);
}

static void dma_counts_reset(struct cl *c)
{
	c->dma_main = c->dma_twin = c->dma_reads = c->dma_writes = 0;
	c->dma_bad = 0;
	c->dma_max_chunk = 0;
}

/* One message-DMA round trip each way through BAR2, GO=2 or GO=1. */
static void msg_dma_roundtrip(struct cl *c, uint64_t off, uint32_t len,
			      bool async, unsigned seed)
{
	uint8_t *bar = malloc(len);

	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA + off, len, 0);
	assert_int_equal(async ? dmadev_go_async(c) : dmadev_go_sync(c), 0);
	read_big(c, 2, 0, bar, len);
	assert_memory_equal(bar, c->mem + off, len);
	assert_true(c->dma_reads >= 1);
	assert_int_equal(c->dma_writes, 0);
	unsigned reads = c->dma_reads;

	fill(bar, len, seed);
	write_big(c, 2, 0, bar, len);
	dmadev_program(c, MSG_IOVA + off, len, 1);
	assert_int_equal(async ? dmadev_go_async(c) : dmadev_go_sync(c), 0);
	assert_memory_equal(c->mem + off, bar, len);
	assert_int_equal(c->dma_reads, reads);
	assert_true(c->dma_writes >= 1);
	assert_true(c->dma_max_chunk <= MIB);
	assert_int_equal(c->dma_bad, 0);
	free(bar);
}

static void test_dmadev_msg_dma_async(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_PLAIN64K);
	msg_window(c, 6);

	msg_dma_roundtrip(c, 0x1234, 300000, true, 60);
	/* Chunked at our 64 KiB: 300000 = 4 x 65536 + 37856. */
	assert_int_equal(c->dma_reads, 5);
	assert_int_equal(c->dma_writes, 5);
	assert_int_equal(c->dma_max_chunk, 64 * KIB);
	assert_int_equal(c->dma_twin, 0);
	assert_int_equal(c->dma_main, 10);

	/* A transfer running off the window's end fails with ENOENT and
	 * never reaches us for the unmapped part. */
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA + MSG_SIZE - 4096, 8192, 0);
	uint32_t st = dmadev_go_async_result(c);
	assert_int_equal(st, ENOENT);
	assert_int_equal(c->dma_bad, 0);
	free(c->mem);
	cl_close(c);
}

static void test_dmadev_msg_dma_twin(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_TWIN);
	msg_window(c, 7);

	msg_dma_roundtrip(c, 0, 300000, true, 70);
	assert_int_equal(c->dma_main, 0);
	assert_int_equal(c->dma_twin, 2); /* one chunk each way */

	/* GO=1: the device waits inside its callback; we answer on the
	 * twin while our GO write waits for its reply. */
	msg_dma_roundtrip(c, 4096, MIB - 4096, false, 71);
	assert_int_equal(c->dma_main, 0);
	assert_int_equal(c->dma_twin, 2);
	assert_int_equal(c->dma_max_chunk, MIB - 4096);
	/* The whole window, 1 MiB in one message each way. */
	msg_dma_roundtrip(c, 0, MIB, false, 72);
	assert_int_equal(c->dma_max_chunk, MIB);
	assert_int_equal(c->dma_main, 0);
	free(c->mem);
	cl_close(c);

	/* QEMU answers DMA only after the command in progress: GO=1 with a
	 * message window cannot complete, and says so. */
	c = cl_open(p->path, NEG_QEMU);
	msg_window(c, 8);
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA, 4096, 0);
	assert_int_equal(dmadev_go_sync(c), EDEADLK);
	assert_int_equal(c->dma_main, 0);
	/* ... and the connection goes on. */
	msg_dma_roundtrip(c, 8192, 4096, true, 80);
	free(c->mem);
	cl_close(c);

	/* A client without twin socket that answers DMA while it waits for
	 * its own reply: the server reads the main socket inside the GO=1
	 * callback, and a command arriving meanwhile waits its turn. */
	c = cl_open(p->path, NEG_PLAIN);
	msg_window(c, 9);
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA, 200000, 0);
	uint8_t m[64];
	uint32_t go = 1, st;
	uint16_t go_id = nid(c), st_id = nid(c);
	ssize_t mn = uvfio_build_region_write(m, sizeof(m), go_id, false, 0,
					      REG_GO, &go, 4);
	send_all(c->fd, m, (size_t)mn, NULL, 0);
	/* The DMA_READ comes while GO is pending; before answering it, send
	 * the next command, which the server must hold until GO is done. */
	uint8_t *dma = malloc(BUF_CAP);
	int dfds[16];
	unsigned dnfds;
	size_t dn = recv_msg(c->fd, dma, dfds, &dnfds);
	struct uvfio_hdr dh;
	memcpy(&dh, dma, sizeof(dh));
	assert_int_equal(dh.cmd, UVFIO_CMD_DMA_READ);
	assert_int_equal(dh.flags, UVFIO_F_TYPE_COMMAND);
	mn = uvfio_build_region_read(m, sizeof(m), st_id, 0, REG_STATUS, 4);
	send_all(c->fd, m, (size_t)mn, NULL, 0);
	serve_dma(c, c->fd, dma, dn, dnfds);
	free(dma);
	struct uvfio_reply_view v;
	struct uvfio_expect e = { .cmd = UVFIO_CMD_REGION_WRITE, .msg_id = go_id,
				  .addr = REG_GO, .count = 4 };
	size_t rn = wait_reply(c, go_id);
	assert_int_equal(uvfio_parse_reply(c->rx, rn, c->nfds, &e, &v), 0);
	assert_int_equal(v.error, 0);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_REGION_READ, .msg_id = st_id,
				   .addr = REG_STATUS, .count = 4 };
	rn = wait_reply(c, st_id);
	assert_int_equal(uvfio_parse_reply(c->rx, rn, c->nfds, &e, &v), 0);
	memcpy(&st, v.u.region_rw.data, 4);
	assert_int_equal(st, 0);
	assert_int_equal(c->dma_reads, 1);
	uint8_t *bar = malloc(200000);
	read_big(c, 2, 0, bar, 200000);
	assert_memory_equal(bar, c->mem, 200000);
	free(bar);
	free(c->mem);
	cl_close(c);

	/* The same with the following command already in the GO write's
	 * segment, so nothing needs holding back; then plain GO=1 both ways. */
	c = cl_open(p->path, NEG_PLAIN);
	msg_window(c, 10);
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA + 4096, 8192, 0);
	uint8_t two[128];
	go_id = nid(c);
	st_id = nid(c);
	ssize_t n0 = uvfio_build_region_write(two, 64, go_id, false, 0, REG_GO,
					      &go, 4);
	ssize_t n1 = uvfio_build_region_read(two + n0, 64, st_id, 0, REG_STATUS,
					     4);
	send_all(c->fd, two, (size_t)(n0 + n1), NULL, 0);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_REGION_WRITE, .msg_id = go_id,
				   .addr = REG_GO, .count = 4 };
	rn = wait_reply(c, go_id);
	assert_int_equal(uvfio_parse_reply(c->rx, rn, c->nfds, &e, &v), 0);
	assert_int_equal(v.error, 0);
	e = (struct uvfio_expect){ .cmd = UVFIO_CMD_REGION_READ, .msg_id = st_id,
				   .addr = REG_STATUS, .count = 4 };
	rn = wait_reply(c, st_id);
	assert_int_equal(uvfio_parse_reply(c->rx, rn, c->nfds, &e, &v), 0);
	memcpy(&st, v.u.region_rw.data, 4);
	assert_int_equal(st, 0);
	assert_int_equal(c->dma_main, 1);
	uint8_t chk[8192];
	read_big(c, 2, 0, chk, sizeof(chk));
	assert_memory_equal(chk, c->mem + 4096, sizeof(chk));
	/* Both directions, nothing sent meanwhile. */
	msg_dma_roundtrip(c, 0x8000, 70000, false, 90);
	free(c->mem);
	cl_close(c);
}

static void test_dmadev_msg_dma_qemu(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_QEMU);
	msg_window(c, 9);
	uint8_t *bar = malloc(100000);

	/* Device to guest: QEMU's DMA_WRITE layout, at most 64 KiB each. */
	fill(bar, 100000, 90);
	write_big(c, 2, 0, bar, 100000);
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA + 0x777, 100000, 1);
	assert_int_equal(dmadev_go_async(c), 0);
	assert_memory_equal(c->mem + 0x777, bar, 100000);
	assert_int_equal(c->dma_writes, 2);
	assert_int_equal(c->dma_max_chunk, 64 * KIB);

	/* Guest to device: answered the way QEMU answers. */
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA + 0x10001, 100000, 0);
	assert_int_equal(dmadev_go_async(c), 0);
	read_big(c, 2, 0, bar, 100000);
	assert_memory_equal(bar, c->mem + 0x10001, 100000);
	assert_int_equal(c->dma_reads, 2);
	assert_int_equal(c->dma_main, 2);

	/* Tiny transfers: the DMA_WRITE payload is padded to 16 bytes. */
	wr8(c, 2, 0, 0xab);
	dmadev_program(c, MSG_IOVA + 5, 1, 1);
	assert_int_equal(dmadev_go_async(c), 0);
	assert_int_equal(c->mem[5], 0xab);
	free(bar);
	free(c->mem);
	cl_close(c);
}

/* ---- 9: MSI-X ------------------------------------------------------------ */

static void test_dmadev_msix(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_TWIN);
	uint8_t cfg[256];
	int mfd = memfd_sized(64 * KIB);

	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				 FD_IOVA, 64 * KIB, mfd),
			 0);
	close(mfd);
	assert_int_equal(region_read(c, UVFIO_PCI_CONFIG, 0, cfg, sizeof(cfg)), 0);
	unsigned mx = find_cap(cfg, 0x11);
	assert_true(mx != 0);
	uint16_t ctrl = rd16(c, UVFIO_PCI_CONFIG, mx + 2);
	wr16(c, UVFIO_PCI_CONFIG, mx + 2, (uint16_t)(ctrl | 0x8000));
	assert_int_equal(rd16(c, UVFIO_PCI_CONFIG, mx + 2), ctrl | 0x8000);

	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_EVENTFD |
					     UVFIO_IRQ_ACTION_TRIGGER,
				  UVFIO_PCI_MSIX_IRQ, 0, 1, &efd, 1),
			 0);
	wr32(c, 0, REG_IRQ, 1);
	dmadev_program(c, FD_IOVA, 4096, 0);

	/* Vectors come out of reset masked, as PCI says. */
	assert_int_equal(rd32(c, 0, MSIX_TABLE + 12), 1);
	wr32(c, 0, MSIX_TABLE + 12, 0);
	assert_int_equal(rd32(c, 0, MSIX_TABLE + 12), 0);
	assert_int_equal(efd_take(efd), 0);

	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(efd_take(efd), 1);
	assert_int_equal(rd64(c, 0, MSIX_PBA), 0);

	/* Masked: pending instead of delivered. */
	wr32(c, 0, MSIX_TABLE + 12, 1);
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(rd64(c, 0, MSIX_PBA), 1);
	/* Unmasking delivers it and clears the pending bit. */
	wr32(c, 0, MSIX_TABLE + 12, 0);
	assert_int_equal(efd_take(efd), 1);
	assert_int_equal(rd64(c, 0, MSIX_PBA), 0);

	/* The function mask holds it back the same way. */
	wr16(c, UVFIO_PCI_CONFIG, mx + 2, (uint16_t)(ctrl | 0xc000));
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(rd64(c, 0, MSIX_PBA), 1);
	wr16(c, UVFIO_PCI_CONFIG, mx + 2, (uint16_t)(ctrl | 0x8000));
	assert_int_equal(efd_take(efd), 1);
	assert_int_equal(rd64(c, 0, MSIX_PBA), 0);

	/* De-assigned (no fds): nothing fires. */
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_EVENTFD |
					     UVFIO_IRQ_ACTION_TRIGGER,
				  UVFIO_PCI_MSIX_IRQ, 0, 1, NULL, 0),
			 0);
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(efd_take(efd), 0);

	wr32(c, 0, REG_IRQ, 0);
	wr16(c, UVFIO_PCI_CONFIG, mx + 2, ctrl);
	close(efd);
	cl_close(c);
}

/* ---- 10: 65535 DMA windows ----------------------------------------------- */

#define MANY_IOVA 0x100000000ull
#define MANY_N 65535u
#define MANY_BATCH 256u /* fds in flight stay far below RLIMIT_NOFILE */

static void test_dmadev_many_windows(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_TWIN);
	int mfd = memfd_sized(256 * MIB);
	int maps_before = proc_maps_count(p->pid);
	double t0 = now_s();

	for (unsigned base = 0; base < MANY_N; base += MANY_BATCH) {
		unsigned n = MANY_N - base < MANY_BATCH ? MANY_N - base
							: MANY_BATCH;
		/* One message per sendmsg: its fd must go with its first
		 * byte.  Replies are read after the whole batch is out. */
		uint16_t first = c->next_id;
		for (unsigned i = 0; i < n; i++) {
			uint8_t m[64];
			uint64_t off = (uint64_t)(base + i) * 4096;
			ssize_t len = uvfio_build_dma_map(
				m, sizeof(m), nid(c),
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, off,
				MANY_IOVA + off, 4096);
			send_all(c->fd, m, (size_t)len, &mfd, 1);
		}
		for (unsigned i = 0; i < n; i++) {
			uint16_t id = (uint16_t)(first + i);
			size_t len = wait_reply(c, id);
			struct uvfio_expect e = { .cmd = UVFIO_CMD_DMA_MAP,
						  .msg_id = id };
			struct uvfio_reply_view v;
			assert_int_equal(uvfio_parse_reply(c->rx, len, c->nfds,
							   &e, &v),
					 0);
			if (v.error)
				fail_msg("DMA_MAP %u failed: %d", base + i,
					 v.error);
		}
	}
	double t = now_s() - t0;
	print_message("65535 fd-backed 4 KiB DMA_MAPs (pipelined by %u): "
		      "%.3f s, %.1f us each\n",
		      MANY_BATCH, t, t * 1e6 / MANY_N);

	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				 (uint64_t)MANY_N * 4096,
				 MANY_IOVA + (uint64_t)MANY_N * 4096, 4096, mfd),
			 -ENOSPC);
	/* Not even a message window fits. */
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ, 0, 0x1000, 4096, -1),
			 -ENOSPC);
	/* One shared mapping of the file, not one per window. */
	int maps_after = proc_maps_count(p->pid);
	print_message("server mappings: %d before, %d after\n", maps_before,
		      maps_after);
	assert_true(maps_after - maps_before <= 4);

	/* Two adjacent windows in the middle, fd-backed, GO=1. */
	uint8_t *w = malloc(8192), *g = malloc(8192);
	fill(w, 8192, 10);
	write_big(c, 2, 0, w, 8192);
	dmadev_program(c, MANY_IOVA + 30000ull * 4096 + 100, 8000, 1);
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(pread(mfd, g, 8000, (off_t)(30000ull * 4096 + 100)),
			 8000);
	assert_memory_equal(g, w, 8000);
	assert_int_equal(c->dma_main + c->dma_twin, 0);

	assert_int_equal(dma_unmap(c, UVFIO_DMA_UNMAP_ALL, 0, 0), 0);
	assert_int_equal(dmadev_go_sync(c), ENOENT);
	/* Room again. */
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ, 0, MANY_IOVA, 4096, mfd),
			 0);
	free(w);
	free(g);
	close(mfd);
	cl_close(c);
}

/* ---- 11: pipelining and ordering ----------------------------------------- */

static void test_dmadev_pipelining(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_QEMU);
	enum { N = 100 };
	uint8_t *batch = malloc(N * 64);
	size_t len = 0;
	struct uvfio_expect exp[N];
	unsigned nexp = 0;
	uint64_t vals[N];

	/* Groups of four: posted write, read back, irq info, device info. */
	for (unsigned i = 0; i < N; i++) {
		uint16_t id = (uint16_t)(1000 + i);
		uint64_t off = 0x8000 + (i / 4) * 8;
		ssize_t n;
		switch (i % 4) {
		case 0:
			vals[i] = 0x0101010101010101ull * i + 0x1122334455667788ull;
			n = uvfio_build_region_write(batch + len, 64, id, true, 2,
						     off, &vals[i], 8);
			break;
		case 1:
			n = uvfio_build_region_read(batch + len, 64, id, 2, off,
						    8);
			exp[nexp++] = (struct uvfio_expect){
				.cmd = UVFIO_CMD_REGION_READ, .msg_id = id,
				.index = 2, .addr = off, .count = 8
			};
			break;
		case 2:
			n = uvfio_build_get_irq_info(batch + len, 64, id,
						     UVFIO_PCI_MSIX_IRQ);
			exp[nexp++] = (struct uvfio_expect){
				.cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO,
				.msg_id = id, .argsz = 16,
				.index = UVFIO_PCI_MSIX_IRQ
			};
			break;
		default:
			n = uvfio_build_device_get_info(batch + len, 64, id);
			exp[nexp++] = (struct uvfio_expect){
				.cmd = UVFIO_CMD_DEVICE_GET_INFO, .msg_id = id,
				.argsz = 16
			};
			break;
		}
		assert_true(n > 0);
		len += (size_t)n;
	}
	assert_int_equal(write(c->fd, batch, len), (ssize_t)len);

	/* Replies in msg_id order; none for the posted writes. */
	for (unsigned k = 0; k < nexp; k++) {
		size_t n = wait_reply(c, exp[k].msg_id);
		struct uvfio_reply_view v;
		assert_int_equal(uvfio_parse_reply(c->rx, n, c->nfds, &exp[k], &v),
				 0);
		assert_int_equal(v.error, 0);
		unsigned i = exp[k].msg_id - 1000u;
		if (exp[k].cmd == UVFIO_CMD_REGION_READ) {
			uint64_t got;
			memcpy(&got, v.u.region_rw.data, 8);
			assert_int_equal(got, vals[i - 1]);
		} else if (exp[k].cmd == UVFIO_CMD_DEVICE_GET_IRQ_INFO) {
			assert_int_equal(v.u.irq_info.count, 4);
		} else {
			assert_int_equal(v.u.device_info.num_regions, 9);
			assert_int_equal(v.u.device_info.num_irqs, 5);
		}
	}

	/* WRITE_MULTI (offered by the server, posted): in array order. */
	struct uvfio_write_multi_entry e[3] = {
		{ .offset = 0x9000, .region = 2, .count = 8 },
		{ .offset = 0x9002, .region = 2, .count = 2 },
		{ .offset = 0x9000, .region = 2, .count = 1 },
	};
	uint64_t v64 = 0x8877665544332211ull;
	memcpy(e[0].data, &v64, 8);
	e[1].data[0] = 0xaa;
	e[1].data[1] = 0xbb;
	e[2].data[0] = 0xcc;
	ssize_t n = uvfio_build_write_multi(c->cmd, BUF_CAP, nid(c), e, 3);
	assert_true(n > 0);
	struct uvfio_hdr h;
	memcpy(&h, c->cmd, sizeof(h));
	assert_true(h.flags & UVFIO_F_NO_REPLY);
	send_all(c->fd, c->cmd, (size_t)n, NULL, 0);
	assert_int_equal(rd64(c, 2, 0x9000), 0x88776655bbaa22ccull);

	/* A multi-write to BAR0 registers goes through the device too. */
	struct uvfio_write_multi_entry r[2] = {
		{ .offset = REG_LEN, .region = 0, .count = 4 },
		{ .offset = REG_DIR, .region = 0, .count = 4 },
	};
	uint32_t l = 12345, d = 1;
	memcpy(r[0].data, &l, 4);
	memcpy(r[1].data, &d, 4);
	n = uvfio_build_write_multi(c->cmd, BUF_CAP, nid(c), r, 2);
	send_all(c->fd, c->cmd, (size_t)n, NULL, 0);
	assert_int_equal(rd32(c, 0, REG_LEN), 12345);
	assert_int_equal(rd32(c, 0, REG_DIR), 1);
	free(batch);
	cl_close(c);
}

/* ---- 12: bad inputs ------------------------------------------------------ */

/* Send msg (with fds) and expect an error reply with err; then check the
 * connection still works, hang up and check the server kept no fd. */
static void bad_one(struct proc *p, int idle, enum neg how, const void *msg,
		    size_t len, const int *fds, unsigned nfds, int err)
{
	assert_int_equal(wait_fd_count(p->pid, idle), idle);
	struct cl *c = cl_open(p->path, how);
	uint8_t *m = malloc(len);
	memcpy(m, msg, len);
	struct uvfio_hdr h;
	memcpy(&h, m, sizeof(h));
	h.msg_id = nid(c);
	memcpy(m, &h, sizeof(h));
	send_all(c->fd, m, len, fds, nfds);
	size_t n = wait_reply(c, h.msg_id);
	struct uvfio_hdr rh;
	memcpy(&rh, c->rx, sizeof(rh));
	assert_int_equal(n, UVFIO_HDR_SIZE);
	assert_int_equal(c->nfds, 0);
	assert_int_equal(rh.cmd, h.cmd);
	assert_int_equal(rh.flags, UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR);
	assert_int_equal(rh.error_no, err);
	/* Still serving. */
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0), 0xd3a01234);
	free(m);
	cl_close(c);
	assert_int_equal(wait_fd_count(p->pid, idle), idle);
}

/* The server's fd count with no client, once a client's hang-up is done. */
static int idle_fd_count(struct proc *p)
{
	struct cl *c = cl_open(p->path, NEG_PLAIN);
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0), 0xd3a01234);
	cl_close(c);
	int n = tu_fd_count(p->pid), stable = 0;
	for (int i = 0; i < 200 && stable < 10; i++) {
		usleep(10000);
		int m = tu_fd_count(p->pid);
		stable = m == n ? stable + 1 : 0;
		n = m;
	}
	return n;
}

static void test_dmadev_bad_inputs(void **state)
{
	struct proc *p = *state;
	uint8_t m[256];
	ssize_t n;
	int efd = eventfd(0, EFD_CLOEXEC);
	int mfd = memfd_sized(64 * KIB);
	int two[2] = { mfd, efd };
	int idle = idle_fd_count(p);

	/* MSI-X has 4 vectors. */
	n = uvfio_build_set_irqs(m, sizeof(m), 0, UVFIO_IRQ_DATA_EVENTFD |
							  UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSIX_IRQ, 4, 1, NULL);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, &efd, 1, EINVAL);
	n = uvfio_build_set_irqs(m, sizeof(m), 0, UVFIO_IRQ_DATA_EVENTFD |
							  UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_MSIX_IRQ, 3, 2, NULL);
	bad_one(p, idle, NEG_QEMU, m, (size_t)n, two, 2, EINVAL);
	/* ERR only triggers. */
	n = uvfio_build_set_irqs(m, sizeof(m), 0,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_MASK,
				 UVFIO_PCI_ERR_IRQ, 0, 1, NULL);
	bad_one(p, idle, NEG_PLAIN, m, (size_t)n, NULL, 0, EINVAL);
	/* Past the end of BAR2, and wrapping. */
	n = uvfio_build_region_read(m, sizeof(m), 0, 2, BAR2_SIZE - 4, 8);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, NULL, 0, EINVAL);
	n = uvfio_build_region_read(m, sizeof(m), 0, 2, BAR2_SIZE, 1);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, NULL, 0, EINVAL);
	/* No region 9. */
	n = uvfio_build_get_region_info(m, sizeof(m), 0, 9, 32);
	bad_one(p, idle, NEG_QEMU, m, (size_t)n, NULL, 0, EINVAL);
	/* DMA_MAP takes at most one fd; both are closed. */
	n = uvfio_build_dma_map(m, sizeof(m), 0,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				FD_IOVA, 64 * KIB);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, two, 2, EINVAL);
	/* Beyond the end of its file. */
	n = uvfio_build_dma_map(m, sizeof(m), 0, UVFIO_DMA_MAP_READ, 4096,
				FD_IOVA, 64 * KIB);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, &mfd, 1, EINVAL);
	/* The MSI-X table takes 4- and 8-byte accesses only. */
	uint16_t w = 0;
	n = uvfio_build_region_write(m, sizeof(m), 0, false, 0, MSIX_TABLE + 12,
				     &w, 2);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, NULL, 0, EINVAL);
	n = uvfio_build_region_read(m, sizeof(m), 0, 0, MSIX_PBA + 2, 4);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, NULL, 0, EINVAL);
	/* No dirty logging. */
	n = uvfio_build_dma_unmap(m, sizeof(m), 0,
				  UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP, FD_IOVA,
				  64 * KIB, 4096);
	bad_one(p, idle, NEG_TWIN, m, (size_t)n, NULL, 0, ENOTSUP);
	/* An fd with a command that takes none. */
	n = uvfio_build_region_read(m, sizeof(m), 0, 0, 0, 4);
	bad_one(p, idle, NEG_PLAIN, m, (size_t)n, &mfd, 1, EINVAL);
	close(efd);
	close(mfd);

	/* Framing errors end the connection; the next client is served. */
	int before = idle;
	struct cl *c = cl_open(p->path, NEG_TWIN);
	struct uvfio_hdr h = { .msg_id = 1, .cmd = UVFIO_CMD_REGION_WRITE,
			       .msg_size = 1u << 30 };
	send_all(c->fd, &h, sizeof(h), NULL, 0);
	wait_readable(c->fd);
	/* An E2BIG reply says why, then the server hangs up. */
	assert_int_equal(recv(c->fd, m, UVFIO_HDR_SIZE, MSG_WAITALL),
			 UVFIO_HDR_SIZE);
	memcpy(&h, m, sizeof(h));
	assert_int_equal(h.error_no, E2BIG);
	assert_int_equal(recv(c->fd, m, sizeof(m), 0), 0);
	cl_close(c);
	assert_int_equal(wait_fd_count(p->pid, before), before);
	c = cl_open(p->path, NEG_TWIN);
	/* A command on the twin socket, which carries server commands. */
	n = uvfio_build_device_get_info(m, sizeof(m), 1);
	send_all(c->twin, m, (size_t)n, NULL, 0);
	wait_readable(c->fd);
	assert_int_equal(recv(c->fd, m, sizeof(m), 0), 0);
	cl_close(c);
	assert_int_equal(wait_fd_count(p->pid, before), before);
	c = cl_open(p->path, NEG_QEMU);
	assert_int_equal(rd32(c, UVFIO_PCI_CONFIG, 0), 0xd3a01234);
	cl_close(c);
}

/* ---- 13: reconnect ------------------------------------------------------- */

static void test_dmadev_reconnect(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_TWIN);
	int mfd = memfd_sized(64 * KIB);
	uint8_t w[32], r[32];

	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				 0x30000000, 64 * KIB, mfd),
			 0);
	dmadev_program(c, 0x30000000, 4096, 1);
	assert_int_equal(dmadev_go_sync(c), 0);
	fill(w, sizeof(w), 13);
	assert_int_equal(region_write(c, 2, 0x4000, w, sizeof(w)), 0);
	cl_close(c);

	c = cl_open(p->path, NEG_QEMU);
	assert_int_equal(region_read(c, 2, 0x4000, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(r));
	assert_int_equal(rd64(c, 0, REG_IOVA), 0x30000000);
	assert_int_equal(rd32(c, 0, REG_LEN), 4096);
	assert_int_equal(rd32(c, 0, REG_DIR), 1);
	/* The old client's window went with it. */
	assert_int_equal(dmadev_go_sync(c), ENOENT);
	cl_close(c);
	close(mfd);
}

/* ---- 13: forcing the client quirks --------------------------------------- */

/* A device-to-guest transfer of 100000 bytes, checked; the DMA_WRITEs it
 * took are in c->dma_writes and c->dma_max_chunk. */
static void quirks_transfer(struct cl *c)
{
	uint8_t *bar = malloc(100000);
	msg_window(c, 11);
	fill(bar, 100000, 12);
	write_big(c, 2, 0, bar, 100000);
	dma_counts_reset(c);
	dmadev_program(c, MSG_IOVA + 0x100, 100000, 1);
	assert_int_equal(dmadev_go_async(c), 0);
	assert_memory_equal(c->mem + 0x100, bar, 100000);
	free(bar);
	free(c->mem);
	c->mem = NULL;
}

/*
 * The library no longer reads the environment: uvfio-dmadev reads
 * UVFIO_QEMU_DMA_LAYOUT and calls uvfio_server_set_client_quirks().  0
 * makes a QEMU-looking client a spec one; 1 makes a spec client QEMU.
 */
static void test_dmadev_quirks_env(void **state)
{
	(void)state;
	struct proc p;

	/* libvfio-user's API has no call to force the client quirks, so
	 * uvfio-compat-dmadev cannot apply UVFIO_QEMU_DMA_LAYOUT (it says
	 * so and goes by the client's VERSION, as by default here). */
	if (compat_samples())
		skip();

	proc_layout_env = "0";
	proc_start(&p, dmadev_bin, NULL, NULL);
	struct cl *c = cl_open(p.path, NEG_QEMU);
	c->qemu = false; /* the spec's layout, in one message */
	quirks_transfer(c);
	assert_int_equal(c->dma_writes, 1);
	assert_int_equal(c->dma_bad, 0);
	cl_close(c);
	proc_stop(&p);

	proc_layout_env = "1";
	proc_start(&p, dmadev_bin, NULL, NULL);
	proc_layout_env = NULL;
	c = cl_open(p.path, NEG_PLAIN);
	c->qemu = true; /* QEMU's layout, in 64 KiB messages */
	quirks_transfer(c);
	assert_int_equal(c->dma_writes, 2);
	assert_int_equal(c->dma_max_chunk, 64 * KIB);
	assert_int_equal(c->dma_bad, 0);
	cl_close(c);
	proc_stop(&p);
}

/* ---- 14: SIGTERM --------------------------------------------------------- */

static void test_sigterm(void **state)
{
	(void)state;
	struct proc g, d;
	proc_start(&g, gpio_bin, NULL, NULL);
	proc_start(&d, dmadev_bin, NULL, NULL);
	/* Idle, and with a client connected. */
	proc_stop(&g);
	struct cl *c = cl_open(d.path, NEG_TWIN);
	assert_int_equal(rd16(c, UVFIO_PCI_CONFIG, 0), 0x1234);
	proc_stop(&d);
	/* The server closed our connection on the way out. */
	uint8_t b[16];
	wait_readable(c->fd);
	assert_true(recv(c->fd, b, sizeof(b), 0) <= 0);
	cl_close(c);
}

/*
 * QEMU emulates the MSI-X capability and table itself: it never enables
 * MSI-X in our config space nor unmasks our table, it only gives eventfds
 * (and takes them away to mask).  Interrupts must still be delivered.
 */
static void test_dmadev_msix_qemu(void **state)
{
	struct proc *p = *state;
	struct cl *c = cl_open(p->path, NEG_QEMU);
	int mfd = memfd_sized(64 * KIB);
	assert_int_equal(dma_map(c, UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				 FD_IOVA, 64 * KIB, mfd),
			 0);
	close(mfd);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_EVENTFD |
					     UVFIO_IRQ_ACTION_TRIGGER,
				  UVFIO_PCI_MSIX_IRQ, 0, 1, &efd, 1),
			 0);
	wr32(c, 0, REG_IRQ, 1);
	dmadev_program(c, FD_IOVA, 4096, 0);
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(efd_take(efd), 1);
	/* QEMU masks by taking the eventfd away (a run of -1 fds is sent
	 * without fds). */
	assert_int_equal(set_irqs(c, UVFIO_IRQ_DATA_EVENTFD |
					     UVFIO_IRQ_ACTION_TRIGGER,
				  UVFIO_PCI_MSIX_IRQ, 0, 1, NULL, 0),
			 0);
	assert_int_equal(dmadev_go_sync(c), 0);
	assert_int_equal(efd_take(efd), 0);
	close(efd);
	cl_close(c);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s UVFIO-GPIO UVFIO-DMADEV\n", argv[0]);
		return 2;
	}
	gpio_bin = argv[1];
	dmadev_bin = argv[2];
	signal(SIGPIPE, SIG_IGN);

	const struct CMUnitTest gpio[] = {
		cmocka_unit_test_teardown(test_gpio_identity, test_teardown),
		cmocka_unit_test_teardown(test_gpio_behaviour, test_teardown),
	};
	const struct CMUnitTest dmadev[] = {
		cmocka_unit_test_teardown(test_dmadev_config, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_bar2_info_and_mmap, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_fd_dma, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_msg_dma_async, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_msg_dma_twin, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_msg_dma_qemu, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_msix, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_msix_qemu, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_many_windows, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_pipelining, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_bad_inputs, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_reconnect, test_teardown),
	};
	const struct CMUnitTest standalone[] = {
		cmocka_unit_test_teardown(test_sigterm, test_teardown),
		cmocka_unit_test_teardown(test_dmadev_quirks_env, test_teardown),
	};
	int r = cmocka_run_group_tests_name("server-gpio", gpio, gpio_setup,
					    group_teardown);
	r |= cmocka_run_group_tests_name("server-dmadev", dmadev, dmadev_setup,
					 group_teardown);
	r |= cmocka_run_group_tests_name("server-standalone", standalone, NULL,
					 NULL);
	return r;
}
