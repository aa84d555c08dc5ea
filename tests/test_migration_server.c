/* SPDX-License-Identifier: MIT */
/*
 * Live migration and DMA dirty logging, server side, over a real socket:
 * an in-process server (its loop on a thread) with a test device, driven
 * by a raw-protocol client written here with the codec.  The client serves
 * the server's DMA_WRITE messages from a local buffer, as a VMM would.
 *
 * Covers DEVICE_FEATURE probe/get/set, the transitions the device sees,
 * refusals, MIG_DATA_READ in odd chunk sizes of a 3 MiB state and its
 * MIG_DATA_WRITE into a second server, command gating by state, and dirty
 * logging: scattered writes through an fd-backed window, message DMA and
 * the explicit mark, reported at 4 KiB, 16 KiB and 2 KiB pages and
 * compared bit for bit, cleared by the report, and DMA_UNMAP with the
 * bitmap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "util.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define STATE_SIZE (3 * MIB + 12345) /* not a multiple of anything */
#define PRECOPY_PART (1 * MIB + 7)   /* what PRE_COPY hands out */
#define BAR0_SIZE 4096u

/* Test device registers in BAR0. */
enum { REG_IOVA = 0, REG_LEN = 8, REG_GO = 12, REG_MARK = 16, REG_SCRATCH = 32 };

#define FD_IOVA 0x100000ull
#define FD_SIZE MIB
#define MSG_IOVA 0x400000ull
#define MSG_SIZE (256 * KIB)

/* ---- the device ---------------------------------------------------------- */

struct step {
	uint32_t from, to;
};

struct dev {
	struct uvfio_server *srv;
	pthread_t thr;
	char dir[64], path[128];
	uint8_t regs[64];
	/* migration */
	uint8_t *state;  /* what is saved */
	uint8_t *loaded; /* what was restored */
	size_t pos, loaded_len;
	unsigned chunk_seed;
	struct step steps[32];
	unsigned nsteps;
	int fail_next; /* error the next transition returns */
	uint8_t wbuf[64 * KIB];
	int dma_result;
	bool logging;
	uint64_t log_page;
};

static ssize_t bar0(void *opaque, unsigned index, uint64_t off, void *buf,
		    size_t count, bool is_write)
{
	struct dev *d = opaque;
	(void)index;
	if (off + count > sizeof(d->regs)) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (!is_write) {
		memcpy(buf, d->regs + off, count);
		return (ssize_t)count;
	}
	memcpy(d->regs + off, buf, count);
	uint64_t iova;
	uint32_t len;
	memcpy(&iova, d->regs + REG_IOVA, 8);
	memcpy(&len, d->regs + REG_LEN, 4);
	if (off == REG_GO) {
		/* Fills the range with a pattern derived from the iova. */
		if (len > sizeof(d->wbuf))
			return -EINVAL;
		for (uint32_t i = 0; i < len; i++)
			d->wbuf[i] = (uint8_t)((iova + i) * 13 + 1);
		d->dma_result = 1;
		int r = uvfio_server_dma_write_async(d->srv, iova, d->wbuf, len,
						     NULL, NULL);
		return r ? r : (ssize_t)count;
	}
	if (off == REG_MARK) {
		int r = uvfio_server_dma_mark_dirty(d->srv, iova, len);
		return r ? r : (ssize_t)count;
	}
	return (ssize_t)count;
}

static int transition(void *opaque, enum uvfio_mig_state from,
		      enum uvfio_mig_state to)
{
	struct dev *d = opaque;
	if (d->nsteps < 32)
		d->steps[d->nsteps++] = (struct step){ from, to };
	if (d->fail_next) {
		int r = d->fail_next;
		d->fail_next = 0;
		return r;
	}
	if (to == UVFIO_MIG_STOP_COPY && from == UVFIO_MIG_STOP)
		d->pos = 0;
	if (to == UVFIO_MIG_PRE_COPY)
		d->pos = 0;
	if (to == UVFIO_MIG_RESUMING)
		d->loaded_len = 0;
	if (from == UVFIO_MIG_RESUMING && to == UVFIO_MIG_STOP &&
	    d->loaded_len != STATE_SIZE)
		return -EINVAL; /* incomplete stream */
	return 0;
}

/* Hands out odd-sized pieces so the library must loop. */
static ssize_t read_data(void *opaque, void *buf, size_t len)
{
	struct dev *d = opaque;
	size_t end = uvfio_server_migration_state(d->srv) == UVFIO_MIG_PRE_COPY
			     ? PRECOPY_PART
			     : STATE_SIZE;
	size_t n = end > d->pos ? end - d->pos : 0;
	d->chunk_seed = d->chunk_seed * 1103515245u + 12345u;
	size_t piece = 1 + (d->chunk_seed >> 8) % 5000;
	if (n > piece)
		n = piece;
	if (n > len)
		n = len;
	memcpy(buf, d->state + d->pos, n);
	d->pos += n;
	return (ssize_t)n;
}

static ssize_t write_data(void *opaque, const void *buf, size_t len)
{
	struct dev *d = opaque;
	if (d->loaded_len + len > STATE_SIZE)
		return -EFBIG;
	/* Take at most 3000 bytes at a time: the library must loop. */
	if (len > 3000)
		len = 3000;
	memcpy(d->loaded + d->loaded_len, buf, len);
	d->loaded_len += len;
	return (ssize_t)len;
}

static int log_start(void *opaque, uint64_t page)
{
	struct dev *d = opaque;
	d->logging = true;
	d->log_page = page;
	return 0;
}

static void log_stop(void *opaque)
{
	((struct dev *)opaque)->logging = false;
}

static int dev_reset(void *opaque, enum uvfio_reset_reason why)
{
	(void)opaque;
	(void)why;
	return 0;
}

static const struct uvfio_migration_ops mig_ops = {
	.struct_size = sizeof(struct uvfio_migration_ops),
	.transition = transition,
	.read_data = read_data,
	.write_data = write_data,
	.log_start = log_start,
	.log_stop = log_stop,
};
static const struct uvfio_device_ops dev_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = dev_reset,
};

static void *loop(void *arg)
{
	struct dev *d = arg;
	int r = uvfio_server_run(d->srv);
	return (void *)(intptr_t)r;
}

/* Optional migration flags the next dev_start() registers besides
 * STOP_COPY | PRE_COPY. */
static uint64_t extra_mig_flags;

static struct dev *dev_start(unsigned seed)
{
	struct dev *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	strcpy(d->dir, "/tmp/uvfio-mig-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/s", d->dir);
	assert_int_equal(uvfio_server_create(&d->srv, d->path, 0), 0);
	uvfio_server_set_log(d->srv, NULL, NULL, UVFIO_LOG_ERR);
	const struct uvfio_pci_ids ids = { .vendor = 0x1234, .device = 0x5678 };
	assert_int_equal(uvfio_server_set_pci_ids(d->srv, &ids), 0);
	assert_int_equal(uvfio_server_setup_region(d->srv, 0, BAR0_SIZE,
						   UVFIO_REGION_READ |
							   UVFIO_REGION_WRITE,
						   bar0, d),
			 0);
	assert_int_equal(uvfio_server_set_ops(d->srv, &dev_ops, d), 0);
	/* Bad registrations first. */
	struct uvfio_migration_ops bad = mig_ops;
	bad.read_data = NULL;
	assert_int_equal(uvfio_server_set_migration(d->srv, &bad, d,
						    UVFIO_MIGRATION_STOP_COPY),
			 -EINVAL);
	assert_int_equal(uvfio_server_set_migration(d->srv, &mig_ops, d,
						    UVFIO_MIGRATION_PRE_COPY),
			 -EINVAL);
	bad = mig_ops;
	bad.struct_size = 0; /* forgotten */
	assert_int_equal(uvfio_server_set_migration(d->srv, &bad, d,
						    UVFIO_MIGRATION_STOP_COPY),
			 -EINVAL);
	struct {
		struct uvfio_migration_ops ops;
		uint64_t future; /* a field of a newer header */
	} newer = { .ops = mig_ops, .future = 1 };
	newer.ops.struct_size = sizeof(newer);
	assert_int_equal(uvfio_server_set_migration(d->srv, &newer.ops, d,
						    UVFIO_MIGRATION_STOP_COPY),
			 -E2BIG);
	assert_int_equal(uvfio_server_migration_state(d->srv),
			 UVFIO_MIG_RUNNING);
	/* Copied: the registration outlives the caller's struct. */
	struct uvfio_migration_ops tmp = mig_ops;
	assert_int_equal(uvfio_server_set_migration(d->srv, &tmp, d,
						    UVFIO_MIGRATION_STOP_COPY |
							    UVFIO_MIGRATION_PRE_COPY |
							    extra_mig_flags),
			 0);
	memset(&tmp, 0xa5, sizeof(tmp));
	d->state = malloc(STATE_SIZE);
	d->loaded = malloc(STATE_SIZE);
	assert_non_null(d->state);
	assert_non_null(d->loaded);
	for (size_t i = 0; i < STATE_SIZE; i++)
		d->state[i] = (uint8_t)(i * 7 + i / 4096 + seed);
	d->chunk_seed = seed;
	assert_int_equal(pthread_create(&d->thr, NULL, loop, d), 0);
	return d;
}

static void dev_stop(struct dev *d)
{
	void *ret;
	uvfio_server_stop(d->srv);
	pthread_join(d->thr, &ret);
	uvfio_server_destroy(d->srv);
	rmdir(d->dir);
	free(d->state);
	free(d->loaded);
	free(d);
	assert_int_equal((int)(intptr_t)ret, 0);
}

/* ---- the raw client ------------------------------------------------------- */

struct cl {
	int fd;
	uint16_t id;
	uint8_t *rx;
	size_t rx_cap;
	uint8_t msgmem[MSG_SIZE]; /* the message-only window's memory */
	unsigned dma_writes;
	char version_json[512];
};

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 5000), 1);
		ssize_t n = recv(fd, p, len, 0);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* One whole message into c->rx; returns its size. */
static size_t recv_msg(struct cl *c)
{
	struct uvfio_hdr h;
	read_all(c->fd, &h, sizeof(h));
	assert_true(h.msg_size >= sizeof(h));
	if (h.msg_size > c->rx_cap) {
		c->rx = realloc(c->rx, h.msg_size);
		assert_non_null(c->rx);
		c->rx_cap = h.msg_size;
	}
	memcpy(c->rx, &h, sizeof(h));
	read_all(c->fd, c->rx + sizeof(h), h.msg_size - sizeof(h));
	return h.msg_size;
}

/* The server's DMA_WRITE into the message window (spec layout). */
static void serve_dma(struct cl *c, size_t len)
{
	struct uvfio_hdr h;
	struct uvfio_dma_rw rw;
	memcpy(&h, c->rx, sizeof(h));
	assert_int_equal(h.cmd, UVFIO_CMD_DMA_WRITE);
	assert_true(len >= sizeof(h) + sizeof(rw));
	memcpy(&rw, c->rx + sizeof(h), sizeof(rw));
	assert_true(rw.addr >= MSG_IOVA && rw.addr + rw.count <= MSG_IOVA + MSG_SIZE);
	assert_int_equal(len, sizeof(h) + sizeof(rw) + rw.count);
	memcpy(c->msgmem + (rw.addr - MSG_IOVA), c->rx + sizeof(h) + sizeof(rw),
	       rw.count);
	c->dma_writes++;
	uint8_t rep[64];
	ssize_t n = uvfio_build_reply(rep, sizeof(rep), h.msg_id, h.cmd, &rw,
				      sizeof(rw), NULL, 0);
	assert_true(n > 0);
	write_all(c->fd, rep, (size_t)n);
}

/*
 * Send msg (its id is patched in) and wait for its reply, serving DMA
 * meanwhile.  Returns 0 or the reply's -errno; the reply stays in c->rx.
 */
static int call(struct cl *c, void *msg, size_t len, size_t *rlen)
{
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	h.msg_id = ++c->id;
	memcpy(msg, &h, sizeof(h));
	write_all(c->fd, msg, len);
	for (;;) {
		size_t n = recv_msg(c);
		struct uvfio_hdr r;
		memcpy(&r, c->rx, sizeof(r));
		if ((r.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND) {
			serve_dma(c, n);
			continue;
		}
		assert_int_equal(r.msg_id, h.msg_id);
		assert_int_equal(r.cmd, h.cmd);
		if (rlen)
			*rlen = n;
		if (r.flags & UVFIO_F_ERROR) {
			assert_int_equal(n, sizeof(r));
			return -(int)r.error_no;
		}
		return 0;
	}
}

static struct cl *cl_open(const char *path)
{
	struct cl *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	uint8_t m[512];
	ssize_t n = uvfio_build_version(m, sizeof(m), 0, false, 0, 2,
					"{\"capabilities\":{\"max_msg_fds\":8,"
					"\"max_data_xfer_size\":1048576}}");
	size_t rl;
	assert_int_equal(call(c, m, (size_t)n, &rl), 0);
	size_t jl = rl - UVFIO_HDR_SIZE - 4;
	assert_true(jl < sizeof(c->version_json));
	memcpy(c->version_json, c->rx + UVFIO_HDR_SIZE + 4, jl);
	return c;
}

static void cl_close(struct cl *c)
{
	close(c->fd);
	free(c->rx);
	free(c);
}

/* DEVICE_FEATURE with data; the reply payload lands in c->rx + 16. */
static int feature(struct cl *c, uint32_t argsz, uint32_t flags,
		   const void *data, uint32_t len, size_t *rlen)
{
	uint8_t *m = malloc(UVFIO_HDR_SIZE + 8 + len);
	assert_non_null(m);
	ssize_t n = uvfio_build_device_feature(m, UVFIO_HDR_SIZE + 8 + len, 0,
					       argsz, flags, data, len);
	assert_true(n > 0);
	int r = call(c, m, (size_t)n, rlen);
	free(m);
	return r;
}

static int set_state(struct cl *c, uint32_t st)
{
	struct uvfio_feature_mig_state ms = { .device_state = st };
	return feature(c, 16, UVFIO_FEATURE_SET | UVFIO_FEATURE_MIG_DEVICE_STATE,
		       &ms, sizeof(ms), NULL);
}

static uint32_t get_state(struct cl *c)
{
	size_t rl;
	assert_int_equal(feature(c, 16,
				 UVFIO_FEATURE_GET | UVFIO_FEATURE_MIG_DEVICE_STATE,
				 NULL, 0, &rl),
			 0);
	assert_int_equal(rl, UVFIO_HDR_SIZE + 16);
	struct uvfio_feature_mig_state ms;
	memcpy(&ms, c->rx + UVFIO_HDR_SIZE + 8, sizeof(ms));
	return ms.device_state;
}

/* MIG_DATA_READ of want bytes: returns bytes got, copied to out. */
static int mig_read(struct cl *c, uint32_t want, uint8_t *out)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_mig_data_read(m, sizeof(m), 0, want);
	size_t rl;
	int r = call(c, m, (size_t)n, &rl);
	if (r)
		return r;
	struct uvfio_mig_data md;
	memcpy(&md, c->rx + UVFIO_HDR_SIZE, sizeof(md));
	assert_true(md.size <= want);
	assert_int_equal(rl, UVFIO_HDR_SIZE + sizeof(md) + md.size);
	assert_int_equal(md.argsz, sizeof(md) + md.size);
	memcpy(out, c->rx + UVFIO_HDR_SIZE + sizeof(md), md.size);
	return (int)md.size;
}

static int mig_write(struct cl *c, const uint8_t *data, uint32_t len)
{
	size_t cap = UVFIO_HDR_SIZE + 8 + len;
	uint8_t *m = malloc(cap);
	assert_non_null(m);
	ssize_t n = uvfio_build_mig_data_write(m, cap, 0, data, len);
	int r = call(c, m, (size_t)n, NULL);
	free(m);
	return r;
}

static int region_rw_at(struct cl *c, uint32_t region, bool wr, uint64_t off,
			void *buf, uint32_t count)
{
	size_t cap = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw) + count;
	uint8_t *m = malloc(cap);
	assert_non_null(m);
	ssize_t n = wr ? uvfio_build_region_write(m, cap, 0, false, region, off,
						  buf, count)
		       : uvfio_build_region_read(m, cap, 0, region, off, count);
	int r = call(c, m, (size_t)n, NULL);
	if (!r && !wr)
		memcpy(buf, c->rx + UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw),
		       count);
	free(m);
	return r;
}

static int region_rw(struct cl *c, bool wr, uint64_t off, void *buf,
		     uint32_t count)
{
	return region_rw_at(c, 0, wr, off, buf, count);
}

static int dma_map(struct cl *c, uint64_t iova, uint64_t size, int fd)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_dma_map(m, sizeof(m), 0,
					UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
					0, iova, size);
	struct uvfio_hdr h;
	memcpy(&h, m, sizeof(h));
	h.msg_id = ++c->id;
	memcpy(m, &h, sizeof(h));
	/* send with the fd, then wait for the reply like call() */
	struct iovec iov = { .iov_base = m, .iov_len = (size_t)n };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl)); /* the padding goes out too */
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(c->fd, &mh, MSG_NOSIGNAL), n);
	recv_msg(c);
	struct uvfio_hdr r;
	memcpy(&r, c->rx, sizeof(r));
	assert_int_equal(r.msg_id, h.msg_id);
	return r.flags & UVFIO_F_ERROR ? -(int)r.error_no : 0;
}

static void go_write(struct cl *c, uint64_t iova, uint32_t len, unsigned reg)
{
	uint8_t regs[16];
	memcpy(regs, &iova, 8);
	memcpy(regs + 8, &len, 4);
	assert_int_equal(region_rw(c, true, REG_IOVA, regs, 12), 0);
	uint32_t one = 1;
	assert_int_equal(region_rw(c, true, reg, &one, 4), 0);
}

/* A round trip that also serves the DMA_WRITEs queued before it. */
static void sync_point(struct cl *c)
{
	uint8_t m[64];
	ssize_t n = uvfio_build_device_get_info(m, sizeof(m), 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), 0);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_features(void **st)
{
	(void)st;
	struct dev *d = dev_start(1);
	struct cl *c = cl_open(d->path);
	size_t rl;

	/* VERSION advertises migration with our page size. */
	assert_non_null(strstr(c->version_json, "\"migration\""));
	assert_non_null(strstr(c->version_json, "\"pgsize\":4096"));
	/* Still within QEMU's VERSION reply buffer (docs/protocol.md 5.3). */
	assert_true(UVFIO_HDR_SIZE + 4 + strlen(c->version_json) + 1 <= 214);

	/* PROBE: echoed. */
	assert_int_equal(feature(c, 8, UVFIO_FEATURE_PROBE | UVFIO_FEATURE_GET |
					       UVFIO_FEATURE_MIGRATION,
				 NULL, 0, &rl),
			 0);
	assert_int_equal(rl, UVFIO_HDR_SIZE + 8);
	assert_int_equal(feature(c, 8, UVFIO_FEATURE_PROBE | UVFIO_FEATURE_SET |
					       UVFIO_FEATURE_GET |
					       UVFIO_FEATURE_MIG_DEVICE_STATE,
				 NULL, 0, NULL),
			 0);
	assert_int_equal(feature(c, 8, UVFIO_FEATURE_PROBE | UVFIO_FEATURE_SET |
					       UVFIO_FEATURE_DMA_LOGGING_START,
				 NULL, 0, NULL),
			 0);
	/* GET MIGRATION: the flags. */
	assert_int_equal(feature(c, 16, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION,
				 NULL, 0, &rl),
			 0);
	assert_int_equal(rl, UVFIO_HDR_SIZE + 16);
	struct uvfio_feature fh;
	uint64_t mflags;
	memcpy(&fh, c->rx + UVFIO_HDR_SIZE, sizeof(fh));
	memcpy(&mflags, c->rx + UVFIO_HDR_SIZE + 8, 8);
	assert_int_equal(fh.argsz, 16);
	assert_int_equal(mflags, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	assert_int_equal(get_state(c), UVFIO_MIG_RUNNING);

	/* Refusals: each an error reply, the connection goes on. */
	assert_int_equal(feature(c, 8, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION,
				 NULL, 0, NULL),
			 -EINVAL); /* argsz too small */
	assert_int_equal(feature(c, 8, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIG_DEVICE_STATE,
				 NULL, 0, NULL),
			 -EINVAL);
	assert_int_equal(feature(c, 16, UVFIO_FEATURE_SET | UVFIO_FEATURE_MIGRATION,
				 NULL, 0, NULL),
			 -EINVAL); /* not settable */
	assert_int_equal(feature(c, 16, UVFIO_FEATURE_GET | 3, NULL, 0, NULL),
			 -ENOTSUP); /* low power: not in vfio-user */
	assert_int_equal(set_state(c, 9), -EINVAL);
	assert_int_equal(set_state(c, 8), -EINVAL);
	assert_int_equal(set_state(c, UVFIO_MIG_ERROR), -EINVAL);
	assert_int_equal(set_state(c, UVFIO_MIG_RUNNING_P2P), -EINVAL); /* no P2P */
	struct uvfio_feature_mig_state ms = { .device_state = UVFIO_MIG_STOP };
	assert_int_equal(feature(c, 16, UVFIO_FEATURE_SET |
						UVFIO_FEATURE_MIG_DEVICE_STATE,
				 &ms, 4, NULL),
			 -EINVAL); /* payload too short */
	uint8_t buf[64] = { 0 };
	assert_int_equal(mig_read(c, 16, buf), -EINVAL);  /* not saving */
	assert_int_equal(mig_write(c, buf, 16), -EINVAL); /* not resuming */
	struct uvfio_feature_log_report rep = { 0, 4096, 4096 };
	assert_int_equal(feature(c, 8 + 24 + 8,
				 UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep), NULL),
			 -EINVAL); /* logging off */
	assert_int_equal(get_state(c), UVFIO_MIG_RUNNING);
	assert_int_equal(d->nsteps, 0);
	cl_close(c);
	dev_stop(d);
}

static void expect_steps(struct dev *d, const uint32_t *pairs, unsigned n)
{
	if (d->nsteps != n)
		for (unsigned i = 0; i < d->nsteps; i++)
			fprintf(stderr, "step %u: %u -> %u\n", i, d->steps[i].from,
				d->steps[i].to);
	assert_int_equal(d->nsteps, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(d->steps[i].from, pairs[2 * i]);
		assert_int_equal(d->steps[i].to, pairs[2 * i + 1]);
	}
	d->nsteps = 0;
}

static void test_transitions(void **st)
{
	(void)st;
	struct dev *d = dev_start(2);
	struct cl *c = cl_open(d->path);
	enum { S = UVFIO_MIG_STOP, R = UVFIO_MIG_RUNNING, SC = UVFIO_MIG_STOP_COPY,
	       RS = UVFIO_MIG_RESUMING, PC = UVFIO_MIG_PRE_COPY, E = UVFIO_MIG_ERROR };

	assert_int_equal(set_state(c, SC), 0);
	expect_steps(d, (const uint32_t[]){ R, S, S, SC }, 2);
	assert_int_equal(get_state(c), SC);
	assert_int_equal(uvfio_server_migration_state(d->srv), SC);
	assert_int_equal(set_state(c, PC), -EINVAL); /* STOP_COPY -> PRE_COPY */
	assert_int_equal(d->nsteps, 0);
	assert_int_equal(set_state(c, RS), 0);
	expect_steps(d, (const uint32_t[]){ SC, S, S, RS }, 2);
	d->loaded_len = STATE_SIZE; /* pretend a whole stream came */
	assert_int_equal(set_state(c, PC), 0);
	expect_steps(d, (const uint32_t[]){ RS, S, S, R, R, PC }, 3);
	assert_int_equal(set_state(c, SC), 0);
	expect_steps(d, (const uint32_t[]){ PC, SC }, 1);
	assert_int_equal(set_state(c, R), 0);
	expect_steps(d, (const uint32_t[]){ SC, S, S, R }, 2);
	assert_int_equal(set_state(c, R), 0); /* no-op */
	assert_int_equal(d->nsteps, 0);

	/* EBUSY: the device stays where it was, mid-path states kept. */
	d->fail_next = -EBUSY;
	assert_int_equal(set_state(c, S), -EBUSY);
	expect_steps(d, (const uint32_t[]){ R, S }, 1);
	assert_int_equal(get_state(c), R);

	/* Another error: ERROR, left only by DEVICE_RESET. */
	assert_int_equal(set_state(c, S), 0);
	d->nsteps = 0;
	assert_int_equal(set_state(c, RS), 0);
	d->nsteps = 0;
	d->loaded_len = 5; /* incomplete: RESUMING -> STOP fails */
	assert_int_equal(set_state(c, R), -EINVAL);
	expect_steps(d, (const uint32_t[]){ RS, S }, 1);
	assert_int_equal(get_state(c), E);
	assert_int_equal(set_state(c, R), -EINVAL);
	assert_int_equal(set_state(c, S), -EINVAL);
	assert_int_equal(d->nsteps, 0);
	uint8_t m[64];
	ssize_t n = uvfio_build_device_reset(m, sizeof(m), 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), 0);
	assert_int_equal(get_state(c), R);

	/* A failure in the middle of a chain: the first step stays done. */
	d->nsteps = 0;
	assert_int_equal(set_state(c, S), 0);
	assert_int_equal(set_state(c, R), 0);
	d->nsteps = 0;
	assert_int_equal(set_state(c, PC), 0);
	d->nsteps = 0;
	assert_int_equal(set_state(c, S), 0); /* PC -> R -> S */
	expect_steps(d, (const uint32_t[]){ PC, R, R, S }, 2);
	assert_int_equal(set_state(c, R), 0);
	d->nsteps = 0;
	cl_close(c);
	dev_stop(d);
}

/* A device that announces P2P: its states are reachable and lie on the
 * paths, as in <linux/vfio.h> (RUNNING to STOP passes RUNNING_P2P). */
static void test_p2p_transitions(void **st)
{
	(void)st;
	enum { S = UVFIO_MIG_STOP, R = UVFIO_MIG_RUNNING,
	       RP = UVFIO_MIG_RUNNING_P2P };
	extra_mig_flags = UVFIO_MIGRATION_P2P;
	struct dev *d = dev_start(4);
	extra_mig_flags = 0;
	struct cl *c = cl_open(d->path);
	assert_int_equal(set_state(c, S), 0);
	expect_steps(d, (const uint32_t[]){ R, RP, RP, S }, 2);
	assert_int_equal(set_state(c, RP), 0);
	expect_steps(d, (const uint32_t[]){ S, RP }, 1);
	assert_int_equal(get_state(c), RP);
	assert_int_equal(set_state(c, R), 0);
	expect_steps(d, (const uint32_t[]){ RP, R }, 1);
	cl_close(c);
	dev_stop(d);
}

static void test_gating(void **st)
{
	(void)st;
	struct dev *d = dev_start(3);
	struct cl *c = cl_open(d->path);
	uint8_t m[256];
	ssize_t n;
	uint32_t v = 0x1234abcd, got = 0;
	int mfd = memfd_create("g", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 64 * KIB), 0);

	assert_int_equal(set_state(c, UVFIO_MIG_STOP), 0);
	/* STOP: region access and queries answer; changes are refused. */
	assert_int_equal(region_rw(c, true, REG_SCRATCH, &v, 4), 0);
	assert_int_equal(region_rw(c, false, REG_SCRATCH, &got, 4), 0);
	assert_int_equal(got, v);
	n = uvfio_build_get_region_info(m, sizeof(m), 0, 0, 32);
	assert_int_equal(call(c, m, (size_t)n, NULL), 0);
	assert_int_equal(dma_map(c, 0x10000000, 64 * KIB, mfd), -EINVAL);
	n = uvfio_build_dma_unmap(m, sizeof(m), 0, 0, 0x10000000, 64 * KIB, 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), -EINVAL);
	n = uvfio_build_set_irqs(m, sizeof(m), 0,
				 UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_TRIGGER,
				 UVFIO_PCI_ERR_IRQ, 0, 0, NULL);
	assert_int_equal(call(c, m, (size_t)n, NULL), -EINVAL);
	n = uvfio_build_device_reset(m, sizeof(m), 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), -EINVAL);

	/* STOP_COPY: region accesses refused too. */
	assert_int_equal(set_state(c, UVFIO_MIG_STOP_COPY), 0);
	assert_int_equal(region_rw(c, false, REG_SCRATCH, &got, 4), -EINVAL);
	assert_int_equal(region_rw(c, true, REG_SCRATCH, &v, 4), -EINVAL);
	assert_int_equal(mig_write(c, m, 8), -EINVAL);

	/* RUNNING again: everything works. */
	assert_int_equal(set_state(c, UVFIO_MIG_RUNNING), 0);
	assert_int_equal(dma_map(c, 0x10000000, 64 * KIB, mfd), 0);
	n = uvfio_build_dma_unmap(m, sizeof(m), 0, 0, 0x10000000, 64 * KIB, 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), 0);
	assert_int_equal(region_rw(c, false, REG_SCRATCH, &got, 4), 0);
	n = uvfio_build_device_reset(m, sizeof(m), 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), 0);
	close(mfd);
	cl_close(c);
	dev_stop(d);
}

static void test_data_stream(void **st)
{
	(void)st;
	struct dev *src = dev_start(4), *dst = dev_start(99);
	struct cl *c = cl_open(src->path), *c2 = cl_open(dst->path);
	uint8_t *got = malloc(STATE_SIZE + MIB);
	assert_non_null(got);
	size_t have = 0;
	const uint32_t sizes[] = { 1, 7, 4096, MIB, 100000, 3 };
	unsigned k = 0;

	/* Oversized or inconsistent requests. */
	assert_int_equal(set_state(c, UVFIO_MIG_PRE_COPY), 0);
	uint8_t m[64];
	ssize_t n = uvfio_build_mig_data_read(m, sizeof(m), 0, MIB + 1);
	assert_int_equal(call(c, m, (size_t)n, NULL), -E2BIG);
	struct uvfio_mig_data bad = { .argsz = 8 + 99, .size = 100 };
	n = uvfio_build(m, sizeof(m), 0, UVFIO_CMD_MIG_DATA_READ, 0, &bad,
			sizeof(bad), NULL, 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), -EINVAL);

	/* PRE_COPY: the first part, then "nothing more now". */
	for (;;) {
		uint32_t want = sizes[k++ % 6];
		int r = mig_read(c, want, got + have);
		assert_true(r >= 0);
		have += (size_t)r;
		if (r == 0)
			break;
	}
	assert_int_equal(have, PRECOPY_PART);
	/* STOP_COPY: the rest, same session, until the end (0). */
	assert_int_equal(set_state(c, UVFIO_MIG_STOP_COPY), 0);
	for (;;) {
		uint32_t want = sizes[k++ % 6];
		int r = mig_read(c, want, got + have);
		assert_true(r >= 0);
		have += (size_t)r;
		if (r == 0)
			break;
	}
	assert_int_equal(have, STATE_SIZE);
	assert_memory_equal(got, src->state, STATE_SIZE);
	assert_int_equal(mig_read(c, 4096, got + have), 0); /* stays at end */
	assert_int_equal(set_state(c, UVFIO_MIG_STOP), 0);
	assert_int_equal(mig_read(c, 16, got), -EINVAL);

	/* Into the second device in other odd pieces. */
	assert_int_equal(set_state(c2, UVFIO_MIG_RESUMING), 0);
	const uint32_t wsizes[] = { 1, 9999, MIB, 13, 65536 };
	size_t off = 0;
	k = 0;
	while (off < STATE_SIZE) {
		uint32_t len = wsizes[k++ % 5];
		if (len > STATE_SIZE - off)
			len = (uint32_t)(STATE_SIZE - off);
		assert_int_equal(mig_write(c2, got + off, len), 0);
		off += len;
	}
	assert_int_equal(mig_write(c2, got, 1), -EFBIG); /* device refuses */
	assert_int_equal(set_state(c2, UVFIO_MIG_RUNNING), 0);
	assert_int_equal(dst->loaded_len, STATE_SIZE);
	assert_memory_equal(dst->loaded, src->state, STATE_SIZE);
	assert_int_equal(get_state(c2), UVFIO_MIG_RUNNING);

	free(got);
	cl_close(c);
	cl_close(c2);
	dev_stop(src);
	dev_stop(dst);
}

/* ---- dirty logging ------------------------------------------------------------------- */

static void bit_set(uint64_t *bm, uint64_t i)
{
	bm[i / 64] |= 1ull << (i % 64);
}

/* Expected bitmap for byte ranges [a, b) written, over [iova, iova+len). */
static void expect_bits(uint64_t *bm, size_t words, uint64_t iova, uint64_t len,
			uint64_t page, const uint64_t (*w)[2], unsigned nw)
{
	memset(bm, 0, words * 8);
	for (unsigned i = 0; i < nw; i++) {
		uint64_t a = w[i][0], b = w[i][0] + w[i][1];
		/* Logging tracks 4 KiB pages: a write dirties whole ones. */
		a &= ~4095ull;
		b = (b + 4095) & ~4095ull;
		for (uint64_t x = a; x < b; x++)
			if (x >= iova && x < iova + len)
				bit_set(bm, (x - iova) / page);
	}
}

static int report(struct cl *c, uint64_t iova, uint64_t len, uint64_t page,
		  uint64_t *out, size_t words)
{
	struct uvfio_feature_log_report rep = { iova, len, page };
	size_t rl;
	int r = feature(c, (uint32_t)(8 + 24 + words * 8),
			UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
			&rep, sizeof(rep), &rl);
	if (r)
		return r;
	assert_int_equal(rl, UVFIO_HDR_SIZE + 8 + 24 + words * 8);
	struct uvfio_feature_log_report echo;
	memcpy(&echo, c->rx + UVFIO_HDR_SIZE + 8, sizeof(echo));
	assert_int_equal(echo.iova, iova);
	assert_int_equal(echo.length, len);
	memcpy(out, c->rx + UVFIO_HDR_SIZE + 8 + 24, words * 8);
	return 0;
}

static void check_report(struct cl *c, uint64_t iova, uint64_t len,
			 uint64_t page, const uint64_t (*w)[2], unsigned nw)
{
	size_t words = uvfio_bitmap_bytes(len, page) / 8;
	uint64_t *got = calloc(words, 8), *want = calloc(words, 8);
	assert_int_equal(report(c, iova, len, page, got, words), 0);
	expect_bits(want, words, iova, len, page, w, nw);
	for (size_t i = 0; i < words; i++)
		if (got[i] != want[i])
			fprintf(stderr, "page %llu word %zu: got %016llx want %016llx\n",
				(unsigned long long)page, i,
				(unsigned long long)got[i],
				(unsigned long long)want[i]);
	assert_memory_equal(got, want, words * 8);
	free(got);
	free(want);
}

static void test_dirty_logging(void **st)
{
	(void)st;
	struct dev *d = dev_start(5);
	struct cl *c = cl_open(d->path);
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, FD_SIZE), 0);
	uint8_t *guest = mmap(NULL, FD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			      mfd, 0);
	assert_true(guest != MAP_FAILED);
	assert_int_equal(dma_map(c, FD_IOVA, FD_SIZE, mfd), 0);
	assert_int_equal(dma_map(c, MSG_IOVA, MSG_SIZE, -1), 0);
	assert_false(uvfio_server_dma_logging(d->srv));

	/* Absurd: three 1 TiB windows would need 96 MiB of bitmaps. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(dma_map(c, (2ull + i) << 40, 1ull << 40, -1), 0);
	struct uvfio_feature_log_start ls = { .page_size = 4096 };
	size_t rl;
	assert_int_equal(feature(c, 8 + 16, UVFIO_FEATURE_SET |
						    UVFIO_FEATURE_DMA_LOGGING_START,
				 &ls, sizeof(ls), NULL),
			 -E2BIG);
	uint8_t m[128];
	for (int i = 0; i < 3; i++) {
		ssize_t n = uvfio_build_dma_unmap(m, sizeof(m), 0, 0, (2ull + i) << 40,
						  1ull << 40, 0);
		assert_int_equal(call(c, m, (size_t)n, NULL), 0);
	}

	/* START over two ranges covering both windows; a 512-byte hint
	 * comes back as the 4 KiB we track at. */
	const struct uvfio_feature_log_start h = { .page_size = 512,
						   .num_ranges = 2 };
	const struct uvfio_log_range r[2] = { { MSG_IOVA, MSG_SIZE },
					      { FD_IOVA, FD_SIZE } };
	uint8_t start[sizeof(h) + sizeof(r)];
	memcpy(start, &h, sizeof(h));
	memcpy(start + sizeof(h), r, sizeof(r));
	assert_int_equal(feature(c, 8 + sizeof(start),
				 UVFIO_FEATURE_SET | UVFIO_FEATURE_DMA_LOGGING_START,
				 start, sizeof(start), &rl),
			 0);
	assert_int_equal(rl, UVFIO_HDR_SIZE + 8 + sizeof(start));
	struct uvfio_feature_log_start echo;
	memcpy(&echo, c->rx + UVFIO_HDR_SIZE + 8, sizeof(echo));
	assert_int_equal(echo.page_size, 4096);
	assert_int_equal(echo.num_ranges, 2);
	assert_true(d->logging);
	assert_int_equal(d->log_page, 4096);
	assert_true(uvfio_server_dma_logging(d->srv));
	/* A second START is refused while logging. */
	assert_int_equal(feature(c, 8 + sizeof(start),
				 UVFIO_FEATURE_SET | UVFIO_FEATURE_DMA_LOGGING_START,
				 start, sizeof(start), NULL),
			 -EBUSY);

	/* Scattered device writes: fd window (direct), message window
	 * (DMA_WRITE), and the explicit mark. */
	const uint64_t fdw[][2] = {
		{ FD_IOVA, 1 },                      /* page 0 */
		{ FD_IOVA + 5 * 4096 + 100, 10 },    /* page 5 */
		{ FD_IOVA + 17 * 4096 - 1, 2 },      /* pages 16, 17 */
		{ FD_IOVA + 200 * 4096, 3 * 4096 },  /* 200..202 */
		{ FD_IOVA + 255 * 4096 + 4095, 1 },  /* last page */
	};
	const uint64_t markw[][2] = { { FD_IOVA + 100 * 4096 + 5, 8192 } }; /* 100..102 */
	const uint64_t msgw[][2] = {
		{ MSG_IOVA + 3 * 4096, 4096 },       /* page 3 */
		{ MSG_IOVA + 40 * 4096 + 4000, 200 },/* 40, 41 */
	};
	for (unsigned i = 0; i < 5; i++)
		go_write(c, fdw[i][0], (uint32_t)fdw[i][1], REG_GO);
	go_write(c, markw[0][0], (uint32_t)markw[0][1], REG_MARK);
	for (unsigned i = 0; i < 2; i++)
		go_write(c, msgw[i][0], (uint32_t)msgw[i][1], REG_GO);
	sync_point(c);
	assert_int_equal(c->dma_writes, 2);
	/* The data itself arrived. */
	assert_int_equal(guest[5 * 4096 + 100], (uint8_t)((FD_IOVA + 5 * 4096 + 100) * 13 + 1));
	assert_int_equal(c->msgmem[3 * 4096], (uint8_t)((MSG_IOVA + 3 * 4096) * 13 + 1));

	uint64_t all_fd[7][2];
	memcpy(all_fd, fdw, sizeof(fdw));
	memcpy(all_fd[5], markw[0], sizeof(markw[0]));
	check_report(c, FD_IOVA, FD_SIZE, 4096, (const uint64_t(*)[2])all_fd, 6);
	/* Read-and-clear: nothing left. */
	check_report(c, FD_IOVA, FD_SIZE, 4096, NULL, 0);
	check_report(c, MSG_IOVA, MSG_SIZE, 4096, msgw, 2);
	check_report(c, MSG_IOVA, MSG_SIZE, 4096, NULL, 0);

	/* Again, reported coarser (OR of 4 pages) and finer (replicated),
	 * the finer one over a range that does not start on a page. */
	for (unsigned i = 0; i < 5; i++)
		go_write(c, fdw[i][0], (uint32_t)fdw[i][1], REG_GO);
	sync_point(c);
	check_report(c, FD_IOVA, FD_SIZE, 16384, fdw, 5);
	for (unsigned i = 0; i < 5; i++)
		go_write(c, fdw[i][0], (uint32_t)fdw[i][1], REG_GO);
	sync_point(c);
	check_report(c, FD_IOVA + 2048, 64 * KIB, 2048, fdw, 5);
	/* Pages wholly inside the reported range were cleared; the rest
	 * (0 and 16, partly inside, and 17, 200..202, 255) are still dirty. */
	const uint64_t rest[][2] = { { fdw[0][0], fdw[0][1] },
				     { fdw[2][0], fdw[2][1] },
				     { fdw[3][0], fdw[3][1] },
				     { fdw[4][0], fdw[4][1] } };
	check_report(c, FD_IOVA, FD_SIZE, 4096, rest, 4);

	/* A range across both windows and the hole between them. */
	go_write(c, msgw[0][0], (uint32_t)msgw[0][1], REG_GO);
	go_write(c, fdw[4][0], (uint32_t)fdw[4][1], REG_GO);
	sync_point(c);
	const uint64_t both[][2] = { { msgw[0][0], msgw[0][1] }, { fdw[4][0], fdw[4][1] } };
	check_report(c, FD_IOVA, MSG_IOVA + MSG_SIZE - FD_IOVA, 4096, both, 2);

	/* Bad reports. */
	uint64_t tmp[4];
	struct uvfio_feature_log_report rep = { FD_IOVA, 1ull << 40, 4096 };
	assert_int_equal(feature(c, 8 + 24 + (32u << 20),
				 UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep), NULL),
			 -E2BIG); /* 32 MiB bitmap */
	rep = (struct uvfio_feature_log_report){ FD_IOVA, FD_SIZE, 4096 };
	assert_int_equal(feature(c, 8 + 24 + 8,
				 UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep), NULL),
			 -EINVAL); /* argsz cannot hold 32 bytes of bitmap */
	rep.page_size = 3000;
	assert_int_equal(feature(c, 8 + 24 + 4096,
				 UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep), NULL),
			 -EINVAL); /* not a power of 2 */
	(void)tmp;

	/* DMA_UNMAP of the message window with its bitmap (16 KiB pages). */
	go_write(c, msgw[1][0], (uint32_t)msgw[1][1], REG_GO);
	sync_point(c);
	ssize_t n = uvfio_build_dma_unmap(m, sizeof(m), 0,
					  UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP,
					  MSG_IOVA, MSG_SIZE, 16384);
	struct uvfio_dma_unmap um;
	memcpy(&um, m + UVFIO_HDR_SIZE, sizeof(um));
	um.argsz = 24 + 16 + 8;
	memcpy(m + UVFIO_HDR_SIZE, &um, sizeof(um));
	assert_int_equal(call(c, m, (size_t)n, &rl), 0);
	assert_int_equal(rl, UVFIO_HDR_SIZE + 24 + 16 + 8);
	struct uvfio_bitmap bh;
	uint64_t bits;
	memcpy(&um, c->rx + UVFIO_HDR_SIZE, sizeof(um));
	memcpy(&bh, c->rx + UVFIO_HDR_SIZE + 24, sizeof(bh));
	memcpy(&bits, c->rx + UVFIO_HDR_SIZE + 40, 8);
	assert_int_equal(um.addr, MSG_IOVA);
	assert_int_equal(um.size, MSG_SIZE);
	assert_int_equal(bh.pgsize, 16384);
	assert_int_equal(bh.size, 8);
	assert_int_equal(bits, 1ull << 10); /* pages 40, 41 of 4 KiB */
	/* The window is gone. */
	n = uvfio_build_dma_unmap(m, sizeof(m), 0, 0, MSG_IOVA, MSG_SIZE, 0);
	assert_int_equal(call(c, m, (size_t)n, NULL), -ENOENT);

	/* STOP: reports refused, marks ignored, the device hears. */
	assert_int_equal(feature(c, 8, UVFIO_FEATURE_SET |
					       UVFIO_FEATURE_DMA_LOGGING_STOP,
				 NULL, 0, NULL),
			 0);
	assert_false(d->logging);
	assert_false(uvfio_server_dma_logging(d->srv));
	assert_int_equal(uvfio_server_dma_mark_dirty(d->srv, FD_IOVA, 4096), 0);
	rep = (struct uvfio_feature_log_report){ FD_IOVA, FD_SIZE, 4096 };
	assert_int_equal(feature(c, 8 + 24 + 32,
				 UVFIO_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep), NULL),
			 -EINVAL);
	n = uvfio_build_dma_unmap(m, sizeof(m), 0, UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP,
				  FD_IOVA, FD_SIZE, 4096);
	assert_int_equal(call(c, m, (size_t)n, NULL), -ENOTSUP);

	/* A new session starts clean, logging everything (no ranges). */
	ls.page_size = 4096;
	assert_int_equal(feature(c, 8 + 16, UVFIO_FEATURE_SET |
						    UVFIO_FEATURE_DMA_LOGGING_START,
				 &ls, sizeof(ls), NULL),
			 0);
	check_report(c, FD_IOVA, FD_SIZE, 4096, NULL, 0);
	go_write(c, fdw[1][0], (uint32_t)fdw[1][1], REG_GO);
	sync_point(c);
	/* Explicit marks outside any window: -ENOENT, the rest marked. */
	assert_int_equal(uvfio_server_dma_mark_dirty(d->srv, FD_IOVA + FD_SIZE - 4096,
						     8192),
			 -ENOENT);
	const uint64_t last2[][2] = { { fdw[1][0], fdw[1][1] },
				      { FD_IOVA + FD_SIZE - 4096, 4096 } };
	check_report(c, FD_IOVA, FD_SIZE, 4096, last2, 2);
	/* The client leaving ends logging. */
	cl_close(c);
	for (int i = 0; i < 200 && uvfio_server_dma_logging(d->srv); i++)
		usleep(10000);
	assert_false(uvfio_server_dma_logging(d->srv));
	assert_false(d->logging);
	munmap(guest, FD_SIZE);
	close(mfd);
	dev_stop(d);
}

/* ---- the samples as processes ---------------------------------------------------- */

static const char *dmadev_bin, *gpio_bin;

struct proc {
	pid_t pid;
	char dir[64], path[128];
};

static void proc_start(struct proc *p, const char *bin)
{
	char arg[160];
	strcpy(p->dir, "/tmp/uvfio-migp-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/s", p->dir);
	snprintf(arg, sizeof(arg), "--socket=%s", p->path);
	p->pid = tu_fork(); /* killed if the test program dies */
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		execl(bin, bin, arg, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(tu_wait_server(p->pid, p->path, 10000), 0);
}

static void proc_stop(struct proc *p)
{
	int status = -1;
	tu_reap(p->pid, SIGTERM, &status);
	unlink(p->path);
	rmdir(p->dir);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Read the stream until the device says "nothing more" (0 bytes). */
static size_t drain(struct cl *c, uint8_t *out, size_t cap, uint32_t chunk)
{
	size_t have = 0;
	for (;;) {
		assert_true(have + chunk <= cap);
		int r = mig_read(c, chunk, out + have);
		assert_true(r >= 0);
		if (!r)
			return have;
		have += (size_t)r;
	}
}

#define DMADEV_BAR2 MIB

static void test_dmadev_migration(void **st)
{
	(void)st;
	struct proc ps, pd;
	proc_start(&ps, dmadev_bin);
	proc_start(&pd, dmadev_bin);
	struct cl *c = cl_open(ps.path), *c2 = cl_open(pd.path);
	uint8_t *mem = malloc(DMADEV_BAR2), *back = malloc(DMADEV_BAR2);
	size_t cap = 4 * DMADEV_BAR2;
	uint8_t *stream = malloc(cap);
	assert_non_null(mem);
	assert_non_null(back);
	assert_non_null(stream);

	/* Registers (IOVA, LEN, COUNT, DIR, IRQ) and BAR2 contents. */
	uint8_t regs[32] = { 0 }, rback[32];
	uint64_t iova = 0x123456789000ull;
	uint32_t len = 4096, count = 3, dir = 1, irq = 1;
	memcpy(regs, &iova, 8);
	memcpy(regs + 8, &len, 4);
	memcpy(regs + 12, &count, 4);
	memcpy(regs + 16, &dir, 4);
	memcpy(regs + 28, &irq, 4);
	assert_int_equal(region_rw(c, true, 0, regs, 20), 0);
	assert_int_equal(region_rw(c, true, 28, regs + 28, 4), 0);
	for (size_t i = 0; i < DMADEV_BAR2; i++)
		mem[i] = (uint8_t)(i * 31 + i / 977);
	for (size_t off = 0; off < DMADEV_BAR2; off += 64 * KIB)
		assert_int_equal(region_rw_at(c, 2, true, off, mem + off, 64 * KIB), 0);

	size_t rl;
	assert_int_equal(feature(c, 16, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION,
				 NULL, 0, &rl),
			 0);
	uint64_t mflags;
	memcpy(&mflags, c->rx + UVFIO_HDR_SIZE + 8, 8);
	assert_int_equal(mflags, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);

	/* Pre-copy while running, then BAR2 changes, then stop-and-copy. */
	assert_int_equal(set_state(c, UVFIO_MIG_PRE_COPY), 0);
	size_t pre = drain(c, stream, cap, 300000);
	assert_int_equal(pre, 16 + DMADEV_BAR2);
	memset(mem + 0x777, 0xee, 100);
	assert_int_equal(region_rw_at(c, 2, true, 0x777, mem + 0x777, 100), 0);
	assert_int_equal(set_state(c, UVFIO_MIG_STOP_COPY), 0);
	size_t total = pre + drain(c, stream + pre, cap - pre, MIB);
	assert_int_equal(total, pre + 16 + 32 + DMADEV_BAR2);
	assert_int_equal(set_state(c, UVFIO_MIG_STOP), 0);
	/* Stopped: a GO is refused, no DMA happens. */
	uint32_t go = 1;
	assert_int_equal(region_rw(c, true, 0x14, &go, 4), -EBUSY);

	/* A truncated stream fails the load: ERROR, then reset. */
	assert_int_equal(set_state(c2, UVFIO_MIG_RESUMING), 0);
	assert_int_equal(mig_write(c2, stream, 1000), 0);
	assert_int_equal(set_state(c2, UVFIO_MIG_RUNNING), -EINVAL);
	assert_int_equal(get_state(c2), UVFIO_MIG_ERROR);
	uint8_t m[64];
	ssize_t n = uvfio_build_device_reset(m, sizeof(m), 0);
	assert_int_equal(call(c2, m, (size_t)n, NULL), 0);
	assert_int_equal(get_state(c2), UVFIO_MIG_RUNNING);

	/* The whole stream restores registers and BAR2. */
	assert_int_equal(set_state(c2, UVFIO_MIG_RESUMING), 0);
	for (size_t off = 0; off < total; off += 100000) {
		uint32_t l = total - off < 100000 ? (uint32_t)(total - off) : 100000;
		assert_int_equal(mig_write(c2, stream + off, l), 0);
	}
	assert_int_equal(set_state(c2, UVFIO_MIG_RUNNING), 0);
	assert_int_equal(region_rw(c2, false, 0, rback, 32), 0);
	assert_memory_equal(rback, regs, 32);
	for (size_t off = 0; off < DMADEV_BAR2; off += 64 * KIB)
		assert_int_equal(region_rw_at(c2, 2, false, off, back + off, 64 * KIB), 0);
	assert_memory_equal(back, mem, DMADEV_BAR2);

	/* The source goes back to running. */
	assert_int_equal(set_state(c, UVFIO_MIG_RUNNING), 0);
	free(mem);
	free(back);
	free(stream);
	cl_close(c);
	cl_close(c2);
	proc_stop(&ps);
	proc_stop(&pd);
}

static void test_gpio_migration(void **st)
{
	(void)st;
	struct proc ps, pd;
	proc_start(&ps, gpio_bin);
	proc_start(&pd, gpio_bin);
	struct cl *c = cl_open(ps.path), *c2 = cl_open(pd.path);
	uint8_t v, stream[64];

	v = 0xa5;
	assert_int_equal(region_rw_at(c, 2, true, 0, &v, 1), 0);
	v = 0x3c;
	assert_int_equal(region_rw_at(c, 2, true, 4, &v, 1), 0);
	assert_int_equal(set_state(c, UVFIO_MIG_STOP), 0);
	v = 0xff; /* stopped: outputs do not change */
	assert_int_equal(region_rw_at(c, 2, true, 0, &v, 1), -EBUSY);
	assert_int_equal(region_rw_at(c, 2, false, 2, &v, 1), -EBUSY);
	assert_int_equal(region_rw_at(c, 2, false, 0, &v, 1), 0);
	assert_int_equal(v, 0xa5);
	assert_int_equal(set_state(c, UVFIO_MIG_STOP_COPY), 0);
	size_t len = drain(c, stream, sizeof(stream) - 7, 7);
	assert_int_equal(len, 16);
	assert_memory_equal(stream, "UVGP", 4);

	assert_int_equal(set_state(c2, UVFIO_MIG_RESUMING), 0);
	assert_int_equal(mig_write(c2, stream, 5), 0);
	assert_int_equal(mig_write(c2, stream + 5, 11), 0);
	assert_int_equal(set_state(c2, UVFIO_MIG_RUNNING), 0);
	const uint8_t want[] = { 0xa5, 0xa5, 0, 0, 0x3c, 0x3c }; /* OUT, IN (loopback) */
	for (unsigned i = 0; i < 6; i++) {
		if (i == 2 || i == 3)
			continue;
		assert_int_equal(region_rw_at(c2, 2, false, i, &v, 1), 0);
		assert_int_equal(v, want[i]);
	}
	cl_close(c);
	cl_close(c2);
	proc_stop(&ps);
	proc_stop(&pd);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH/uvfio-dmadev PATH/uvfio-gpio\n",
			argv[0]);
		return 2;
	}
	dmadev_bin = argv[1];
	gpio_bin = argv[2];
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_p2p_transitions),
		cmocka_unit_test(test_gating),
		cmocka_unit_test(test_data_stream),
		cmocka_unit_test(test_dirty_logging),
		cmocka_unit_test(test_dmadev_migration),
		cmocka_unit_test(test_gpio_migration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
