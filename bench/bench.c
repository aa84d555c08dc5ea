/* SPDX-License-Identifier: MIT */
/*
 * uvfio-bench: how fast is vfio-user through uvfio, next to the kernel
 * round trip alone.
 *
 * Every measured figure is taken together with a "floor" measured in the
 * same run: a forked responder on a socketpair that reads requests of the
 * same sizes and writes replies of the same sizes with plain
 * recvmsg/write, doing no protocol work.  Ratios (measured / floor, >1 is
 * slower) are computed per run; each printed figure is the median over
 * --runs runs.  Round trips and posted writes also have a blocking floor
 * ("bfloor"): both of its ends block in recvmsg()/read() instead of
 * sleeping in poll() first, the plain kernel round trip.
 *
 * stdout carries only "name=value unit" lines; everything else goes to
 * stderr.  See docs/performance.md for what each figure means.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "dma/dma.h"

#include "../samples/dmadev.h"
#include "figures.h"
#define DMA_IOVA 0x40000000ull

#define MAX_SAMPLES 200000
#define FLOOR_BUF (4u << 20)
/* The responder's request header says how big a reply to write in the
 * header's error_no field (the floor protocol is ours alone). */
#define FLOOR_REPLY 1u

struct cfg {
	int runs;
	bool quick, no_pin;
	const char *only;
	int srv_cpu, cli_cpu;
	const char *socket; /* external server */
	const char *busy_poll; /* uvfio-dmadev --busy-poll, or NULL */
	char dmadev[PATH_MAX];
	uint64_t dur_ns; /* per measurement */
	cpu_set_t all_cpus;
};
static struct cfg G = { .runs = 5, .srv_cpu = -1, .cli_cpu = -1 };

/* ---- helpers ------------------------------------------------------------------- */




static bool selected(const char *name)
{
	if (!G.only)
		return true;
	size_t n = strlen(name);
	for (const char *p = G.only; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, name, n))
			return true;
		p += l + (e ? 1 : 0);
	}
	return false;
}


static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Percentile of sorted samples, nearest rank. */
static double pct(const uint64_t *s, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	return (double)s[i ? i - 1 : 0];
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("write: %s", strerror(errno));
		b += n;
		len -= (size_t)n;
	}
}

/*
 * Sleep in poll() rather than in read(): the library sleeps in poll and
 * epoll_wait, and on a KVM guest a task sleeping in a blocking socket read
 * was measured to wake ~20 us later than one sleeping in poll, which made
 * the floor slower than the real thing.
 */
static void wait_in(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	while (poll(&pf, 1, -1) < 0 && errno == EINTR)
		;
}

static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *b = buf;
	while (len) {
		wait_in(fd);
		ssize_t n = read(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("read: %s", n ? strerror(errno) : "end of file");
		b += n;
		len -= (size_t)n;
	}
}

/* VmRSS / VmHWM of a process in KiB, or -1. */
static long proc_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Reset the peak RSS to the current RSS, so VmHWM is per scenario. */
static void reset_hwm(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "5", 1) != 1)
		bench_note("cannot reset the peak RSS of %d: %s", (int)pid,
		     strerror(errno));
	if (fd >= 0)
		close(fd);
}

static const char *size_name(uint64_t n, char *buf, size_t len)
{
	if (n >= (1u << 20) && !(n % (1u << 20)))
		snprintf(buf, len, "%" PRIu64 "m", n >> 20);
	else if (n >= 1024 && !(n % 1024))
		snprintf(buf, len, "%" PRIu64 "k", n >> 10);
	else
		snprintf(buf, len, "%" PRIu64 "b", n);
	return buf;
}

/* ---- figures: recorded once per run, printed as medians -------------------------- */






/* ---- sampling --------------------------------------------------------------------- */

typedef int (*op_fn)(void *ctx);

struct samples {
	uint64_t *s;
	uint64_t n, total;
};
/* measured, its floor, its blocking floor */
static struct samples S, FS, BS;

/*
 * Time op and fop (the floor; either may be NULL) alternately, one call
 * each, until the measurement's duration has passed (at least min calls
 * each), after a short warm-up that faults in buffers.  Alternating puts
 * both under the same conditions: on a VM whose two ends sometimes share
 * a CPU and sometimes wake each other across CPUs, separate blocks of
 * samples would each catch a different mode.  Sorted samples in ns.
 */
static int sample3(op_fn op, void *ctx, struct samples *out, op_fn fop,
		   void *fctx, struct samples *fout, op_fn bop, void *bctx,
		   struct samples *bout, size_t min)
{
	int r;
	for (int i = 0; i < 3; i++)
		if ((op && (r = op(ctx))) || (fop && (r = fop(fctx))) ||
		    (bop && (r = bop(bctx))))
			return r;
	out->n = out->total = 0;
	if (fout)
		fout->n = fout->total = 0;
	if (bout)
		bout->n = bout->total = 0;
	uint64_t start = bench_now_ns();
	for (size_t n = 0; n < MAX_SAMPLES &&
			   (n < min || bench_now_ns() - start < G.dur_ns); n++) {
		uint64_t t0 = bench_now_ns(), t1;
		if (fop) {
			fop(fctx);
			t1 = bench_now_ns();
			fout->s[fout->n++] = t1 - t0;
			fout->total += t1 - t0;
			t0 = t1;
		}
		if (bop) {
			bop(bctx);
			t1 = bench_now_ns();
			bout->s[bout->n++] = t1 - t0;
			bout->total += t1 - t0;
			t0 = t1;
		}
		if (op) {
			if ((r = op(ctx)))
				return r;
			t1 = bench_now_ns();
			out->s[out->n++] = t1 - t0;
			out->total += t1 - t0;
		}
	}
	qsort(out->s, out->n, sizeof(uint64_t), cmp_u64);
	if (fout)
		qsort(fout->s, fout->n, sizeof(uint64_t), cmp_u64);
	if (bout)
		qsort(bout->s, bout->n, sizeof(uint64_t), cmp_u64);
	return 0;
}

static int sample2(op_fn op, void *ctx, struct samples *out, op_fn fop,
		   void *fctx, struct samples *fout, size_t min)
{
	return sample3(op, ctx, out, fop, fctx, fout, NULL, NULL, NULL, min);
}

/* ---- the floor: a responder that only moves the bytes --------------------------- */

struct floor {
	pid_t pid;
	int fd;
	uint8_t *tx, *rx;
	size_t txlen;
	/* Both ends block in the read itself, no poll() first: the plain
	 * kernel round trip, the lowest a poll-driven library can hope for. */
	bool blocking;
};

static void floor_serve(int fd, bool blocking)
{
	uint8_t *in = malloc(FLOOR_BUF), *out = calloc(1, FLOOR_BUF);
	size_t have = 0, olen = 0;
	if (!in || !out)
		_exit(1);
	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 16)];
		} cb;
		struct iovec iov = { in + have, FLOOR_BUF - have };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cb.b,
				    .msg_controllen = sizeof(cb.b) };
		if (!blocking)
			wait_in(fd);
		ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* Passed fds are received (the kernel's cost) and dropped. */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c;
		     c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS) {
				size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (size_t i = 0; i < k; i++) {
					int f;
					memcpy(&f, CMSG_DATA(c) + i * sizeof(int),
					       sizeof(int));
					close(f);
				}
			}
		have += (size_t)n;
		size_t pos = 0;
		while (have - pos >= UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, in + pos, sizeof(h));
			if (h.msg_size < UVFIO_HDR_SIZE || h.msg_size > FLOOR_BUF / 2)
				_exit(2);
			if (have - pos < h.msg_size)
				break;
			uint32_t rl = h.error_no;
			if (rl) {
				/* Replies of one read go out in one write, as
				 * the real transport batches them. */
				if (olen + rl > FLOOR_BUF) {
					write_all(fd, out, olen);
					olen = 0;
				}
				struct uvfio_hdr rh = {
					.msg_id = h.msg_id, .cmd = h.cmd,
					.msg_size = rl,
					.flags = UVFIO_F_TYPE_REPLY,
				};
				memcpy(out + olen, &rh, sizeof(rh));
				olen += rl;
			}
			pos += h.msg_size;
		}
		if (olen) {
			write_all(fd, out, olen);
			olen = 0;
		}
		memmove(in, in + pos, have - pos);
		have -= pos;
	}
	free(in);
	free(out);
}

static void floor_start(struct floor *f, bool blocking)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		bench_die("socketpair: %s", strerror(errno));
	fflush(NULL);
	f->pid = fork();
	if (f->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (!f->pid) {
		close(sv[0]);
		bench_pin(G.srv_cpu, &G.all_cpus);
		floor_serve(sv[1], blocking);
		_exit(0);
	}
	close(sv[1]);
	f->fd = sv[0];
	f->blocking = blocking;
	f->tx = calloc(1, FLOOR_BUF);
	f->rx = malloc(FLOOR_BUF);
	f->txlen = 0;
	if (!f->tx || !f->rx)
		bench_die("out of memory");
}

static void floor_stop(struct floor *f)
{
	close(f->fd);
	waitpid(f->pid, NULL, 0);
	free(f->tx);
	free(f->rx);
}

/* Queue a message of size bytes that asks for a reply of reply bytes. */
static void fl_queue(struct floor *f, uint32_t size, uint32_t reply)
{
	if (f->txlen + size > FLOOR_BUF)
		bench_die("floor message too big");
	struct uvfio_hdr h = { .msg_id = 1, .cmd = UVFIO_CMD_REGION_READ,
			       .msg_size = size, .error_no = reply };
	memcpy(f->tx + f->txlen, &h, sizeof(h));
	f->txlen += size;
}

/* Send what is queued, fd (if >= 0) with its first byte. */
static void fl_flush(struct floor *f, int fd)
{
	if (fd >= 0) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cb;
		memset(&cb, 0, sizeof(cb));
		struct iovec iov = { f->tx, f->txlen };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cb.b,
				    .msg_controllen = sizeof(cb.b) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		ssize_t n = sendmsg(f->fd, &m, MSG_NOSIGNAL);
		if (n <= 0)
			bench_die("sendmsg: %s", strerror(errno));
		if ((size_t)n < f->txlen)
			write_all(f->fd, f->tx + n, f->txlen - (size_t)n);
	} else {
		write_all(f->fd, f->tx, f->txlen);
	}
	f->txlen = 0;
}

/* Read a floor reply the way that floor's ends wait. */
static void fl_read(struct floor *f, size_t len)
{
	if (!f->blocking) {
		read_all(f->fd, f->rx, len);
		return;
	}
	uint8_t *b = f->rx;
	while (len) {
		ssize_t n = read(f->fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("read: %s", n ? strerror(errno) : "end of file");
		b += n;
		len -= (size_t)n;
	}
}

static void fl_rt(struct floor *f, uint32_t size, uint32_t reply)
{
	fl_queue(f, size, reply);
	fl_flush(f, -1);
	fl_read(f, reply);
}

/* ---- our server: uvfio-dmadev as a child process ------------------------------- */

struct dmadev {
	pid_t pid;
	char dir[64], sock[128];
	long rss0; /* KiB, before any client */
};

static void dmadev_start(struct dmadev *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/uvfio-bench.XXXXXX");
	if (!mkdtemp(d->dir))
		bench_die("mkdtemp: %s", strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%s/dmadev.sock", d->dir);
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (!d->pid) {
		/* A bench that dies (bench_die(), a signal) takes its server along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bench_pin(G.srv_cpu, &G.all_cpus);
		if (G.busy_poll)
			execl(G.dmadev, G.dmadev, "--socket", d->sock,
			      "--busy-poll", G.busy_poll, (char *)NULL);
		else
			execl(G.dmadev, G.dmadev, "--socket", d->sock,
			      (char *)NULL);
		fprintf(stderr, "uvfio-bench: cannot run %s: %s\n", G.dmadev,
			strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (!stat(d->sock, &st))
			break;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
			bench_die("%s exited at start", G.dmadev);
		usleep(10000);
	}
	d->rss0 = proc_kib(d->pid, "VmRSS");
}

static void dmadev_stop(struct dmadev *d)
{
	kill(d->pid, SIGTERM);
	waitpid(d->pid, NULL, 0);
	unlink(d->sock);
	rmdir(d->dir);
}

/* Record the server's peak RSS over the scenario since reset_hwm(). */
static void rec_rss(const struct dmadev *d, const char *scenario)
{
	if (!d)
		return;
	long hwm = proc_kib(d->pid, "VmHWM");
	bench_rec("KiB", 0, (double)hwm, "srv_rss_peak_%s", scenario);
	bench_rec("KiB", 0, (double)(hwm - d->rss0), "srv_rss_growth_%s", scenario);
}

static struct uvfio_client *cli_connect(const char *path, bool twin)
{
	struct uvfio_client *c;
	int r = uvfio_client_create(&c);
	if (r)
		bench_die("client: %s", strerror(-r));
	uvfio_client_set_log(c, NULL, NULL, UVFIO_LOG_ERR);
	uvfio_client_set_twin_socket(c, twin);
	for (int i = 0; i < 200; i++) {
		r = uvfio_client_connect(c, path);
		if (r != -ECONNREFUSED && r != -ENOENT)
			break;
		usleep(10000);
	}
	if (r)
		bench_die("cannot connect to %s: %s", path, strerror(-r));
	return c;
}

static void reg_write(struct uvfio_client *c, unsigned reg, uint64_t v,
		      size_t len)
{
	int r = uvfio_client_region_write(c, 0, reg, &v, len);
	if (r)
		bench_die("dmadev register 0x%x: %s", reg, strerror(-r));
}

/* ---- the region under test ------------------------------------------------------ */

struct target {
	struct uvfio_client *c;
	unsigned region;
	uint64_t size;
	bool writable;
	uint8_t *buf;  /* read destination / write source */
	uint64_t len;  /* of the access being timed */
	struct floor *fl, *bfl; /* poll floor, blocking floor */
};

/* dmadev: BAR2 memory.  Elsewhere: the largest readable BAR, whose bytes
 * are written back as they were read (writes are skipped when the region
 * cannot be written). */
static void target_open(struct target *t, struct uvfio_client *c, bool dmadev)
{
	memset(t, 0, sizeof(*t));
	t->c = c;
	if (dmadev) {
		t->region = DMADEV_BAR2;
		t->size = DMADEV_BAR2_SIZE;
		t->writable = true;
	} else {
		struct uvfio_device_info di;
		int r = uvfio_client_get_device_info(c, &di);
		if (r)
			bench_die("DEVICE_GET_INFO: %s", strerror(-r));
		for (unsigned i = 0; i < di.num_regions && i <= 5; i++) {
			struct uvfio_region_info ri;
			if (uvfio_client_get_region_info(c, i, &ri) ||
			    !(ri.flags & UVFIO_REGION_READ) || ri.size <= t->size)
				continue;
			t->region = i;
			t->size = ri.size;
			t->writable = ri.flags & UVFIO_REGION_WRITE;
		}
		if (!t->size) {
			/* No BAR: config space still answers 4-byte reads. */
			t->region = UVFIO_PCI_CONFIG;
			t->size = 256;
			t->writable = false;
		}
		bench_note("external server: region %u, %" PRIu64 " bytes%s", t->region,
		     t->size, t->writable ? "" : ", read-only");
	}
	uint64_t n = t->size < (1u << 20) ? t->size : (1u << 20);
	t->buf = calloc(1, 1u << 20);
	if (!t->buf)
		bench_die("out of memory");
	int r = uvfio_client_region_read(c, t->region, 0, t->buf, n);
	if (r)
		bench_die("region %u read: %s", t->region, strerror(-r));
}

static int op_read(void *p)
{
	struct target *t = p;
	return uvfio_client_region_read(t->c, t->region, 0, t->buf, t->len);
}

static int op_write(void *p)
{
	struct target *t = p;
	return uvfio_client_region_write(t->c, t->region, 0, t->buf, t->len);
}

/* The same access on a floor: which floor, and the access it mirrors. */
struct floor_op {
	struct floor *fl;
	const struct target *t;
};

/* REGION_READ: 32-byte request, reply 32 + count; REGION_WRITE the
 * reverse. */
static int op_floor_read(void *p)
{
	struct floor_op *o = p;
	fl_rt(o->fl, 32, 32 + (uint32_t)o->t->len);
	return 0;
}

static int op_floor_write(void *p)
{
	struct floor_op *o = p;
	fl_rt(o->fl, 32 + (uint32_t)o->t->len, 32);
	return 0;
}

/* ---- round trips ------------------------------------------------------------------ */

static const uint64_t rt_sizes[] = { 4, 4096, 65536, 1u << 20 };

/* p50/p99 of a floor's samples and the ratios to the measured ones. */
static void rec_floor(const char *what, const char *sz, const char *floor,
		      const char *ratio, const struct samples *fs, double p50,
		      double p99)
{
	double f50 = pct(fs->s, fs->n, 50), f99 = pct(fs->s, fs->n, 99);
	bench_rec("us", 2, f50 / 1e3, "rt_%s_%s_%s_p50", what, sz, floor);
	bench_rec("us", 2, f99 / 1e3, "rt_%s_%s_%s_p99", what, sz, floor);
	bench_rec("x", 3, p50 / f50, "rt_%s_%s_p50_%s", what, sz, ratio);
	bench_rec("x", 3, p99 / f99, "rt_%s_%s_p99_%s", what, sz, ratio);
}

static void rt_pair(struct target *t, const char *what, op_fn op, op_fn fop)
{
	char sz[24];
	size_name(t->len, sz, sizeof(sz));
	struct floor_op fo = { t->fl, t }, bo = { t->bfl, t };
	int r = sample3(op, t, &S, fop, &fo, &FS, fop, &bo, &BS, 20);
	if (r)
		bench_die("%s of %s: %s", what, sz, strerror(-r));
	double p50 = pct(S.s, S.n, 50), p99 = pct(S.s, S.n, 99);
	bench_rec("us", 2, p50 / 1e3, "rt_%s_%s_p50", what, sz);
	bench_rec("us", 2, p99 / 1e3, "rt_%s_%s_p99", what, sz);
	rec_floor(what, sz, "floor", "ratio", &FS, p50, p99);
	rec_floor(what, sz, "bfloor", "bratio", &BS, p50, p99);
}

static void test_rt(struct target *t, struct floor *fl, struct floor *bfl)
{
	t->fl = fl;
	t->bfl = bfl;
	for (size_t i = 0; i < sizeof(rt_sizes) / sizeof(rt_sizes[0]); i++) {
		if (rt_sizes[i] > t->size)
			continue;
		t->len = rt_sizes[i];
		rt_pair(t, "read", op_read, op_floor_read);
		if (t->writable)
			rt_pair(t, "write", op_write, op_floor_write);
	}
}

/* ---- requests in flight ------------------------------------------------------------ */

struct inflight {
	struct target *t;
	unsigned inflight;
	uint64_t done;
	bool stop;
	int err;
};

static void infl_done(void *opaque, int result);

static int infl_submit(struct inflight *st)
{
	int r = uvfio_client_region_read_async(st->t->c, st->t->region, 0,
					       st->t->buf, 4, infl_done, st);
	if (!r)
		st->inflight++;
	return r;
}

static void infl_done(void *opaque, int result)
{
	struct inflight *st = opaque;
	st->inflight--;
	st->done++;
	if (result && !st->err)
		st->err = result;
	/* Resubmitting from the completion lets the client batch the new
	 * requests into the send that follows this receive. */
	if (!st->stop && !st->err) {
		int r = infl_submit(st);
		if (r && !st->err)
			st->err = r;
	}
}

static void cli_wait(struct uvfio_client *c)
{
	struct pollfd pf = { .fd = uvfio_client_poll_fd(c), .events = POLLIN };
	poll(&pf, 1, 100);
	int r = uvfio_client_process(c);
	if (r)
		bench_die("client: %s", strerror(-r));
}

/* Completions per second over dur ns. */
static double inflight_real(struct target *t, unsigned window, uint64_t dur)
{
	struct inflight st = { .t = t };
	for (unsigned i = 0; i < window; i++)
		if (infl_submit(&st))
			bench_die("async read: cannot queue %u requests", window);
	/* Warm up as sample() does, then count completions over the
	 * duration. */
	while (st.done < window * 2u && !st.err)
		cli_wait(t->c);
	uint64_t t0 = bench_now_ns(), d0 = st.done, t1, d1;
	for (;;) {
		cli_wait(t->c);
		t1 = bench_now_ns();
		d1 = st.done;
		if (st.err || t1 - t0 >= dur)
			break;
	}
	st.stop = true;
	while (st.inflight && !st.err)
		cli_wait(t->c);
	if (st.err)
		bench_die("async read: %s", strerror(-st.err));
	return (double)(d1 - d0) * 1e9 / (double)(t1 - t0);
}

static double inflight_floor(struct floor *f, unsigned window, uint64_t dur)
{
	const uint32_t rep = 36;
	uint64_t done = 0, out = 0, acc = 0, t0 = 0, d0 = 0, t1 = 0, d1 = 0;
	bool stop = false;
	for (unsigned i = 0; i < window; i++)
		fl_queue(f, 32, rep);
	fl_flush(f, -1);
	out = window;
	while (out) {
		if (!f->blocking)
			wait_in(f->fd);
		ssize_t n = read(f->fd, f->rx, FLOOR_BUF);
		if (n <= 0)
			bench_die("floor read: %s", strerror(errno));
		acc += (uint64_t)n;
		uint64_t k = acc / rep;
		acc %= rep;
		done += k;
		out -= k;
		if (!t0 && done >= window * 2u) {
			t0 = bench_now_ns();
			d0 = done;
		} else if (t0 && !stop) {
			t1 = bench_now_ns();
			d1 = done;
			stop = t1 - t0 >= dur;
		}
		if (!stop && k) {
			for (uint64_t i = 0; i < k; i++)
				fl_queue(f, 32, rep);
			fl_flush(f, -1);
			out += k;
		}
	}
	return (double)(d1 - d0) * 1e9 / (double)(t1 - t0);
}

static void test_inflight(struct target *t, struct floor *fl)
{
	static const unsigned windows[] = { 1, 8, 32, 128 };
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		unsigned w = windows[i];
		double f = 0, m = 0;
		/* Alternating slices, so that both see the same machine. */
		for (int k = 0; k < 4; k++) {
			f += inflight_floor(fl, w, G.dur_ns / 4) / 4;
			m += inflight_real(t, w, G.dur_ns / 4) / 4;
		}
		bench_rec("ops/s", 0, m, "inflight_%u_ops", w);
		bench_rec("ops/s", 0, f, "inflight_%u_floor_ops", w);
		/* cost per op over the floor's: >1 is slower */
		bench_rec("x", 3, f / m, "inflight_%u_ratio", w);
	}
}

/* ---- posted writes ---------------------------------------------------------------- */

/* ns per posted write over about dur ns. */
static double posted_real(struct target *t, uint64_t dur)
{
	uint64_t n = 0, t0 = bench_now_ns(), t1;
	int r;
	do {
		for (int i = 0; i < 64; i++, n++) {
			while ((r = uvfio_client_region_write_posted(
					t->c, t->region, 0, t->buf, 4)) == -EAGAIN)
				cli_wait(t->c);
			if (r)
				bench_die("posted write: %s", strerror(-r));
		}
	} while (bench_now_ns() - t0 < dur);
	/* A read after them completes only once they all were applied. */
	if ((r = uvfio_client_region_read(t->c, t->region, 0, t->buf, 4)))
		bench_die("read: %s", strerror(-r));
	t1 = bench_now_ns();
	return (double)(t1 - t0) / (double)n;
}

static double posted_floor(struct floor *f, uint64_t dur)
{
	uint64_t n = 0, t0 = bench_now_ns(), t1;
	do {
		for (int i = 0; i < 64; i++, n++) {
			fl_queue(f, 36, 0);
			fl_flush(f, -1);
		}
	} while (bench_now_ns() - t0 < dur);
	fl_rt(f, 32, 36);
	t1 = bench_now_ns();
	return (double)(t1 - t0) / (double)n;
}

static void test_posted(struct target *t, struct floor *fl, struct floor *bfl)
{
	if (!t->writable)
		return;
	double f = 0, b = 0, m = 0;
	posted_floor(fl, G.dur_ns / 20); /* warm-up */
	posted_floor(bfl, G.dur_ns / 20);
	for (int k = 0; k < 4; k++) {
		f += posted_floor(fl, G.dur_ns / 6) / 4;
		b += posted_floor(bfl, G.dur_ns / 6) / 4;
		m += posted_real(t, G.dur_ns / 6) / 4;
	}
	bench_rec("ns", 0, m, "posted_4b_ns");
	bench_rec("ops/s", 0, 1e9 / m, "posted_4b_ops");
	bench_rec("ns", 0, f, "posted_4b_floor_ns");
	bench_rec("x", 3, m / f, "posted_4b_ratio");
	bench_rec("ns", 0, b, "posted_4b_bfloor_ns");
	bench_rec("x", 3, m / b, "posted_4b_bratio");
}

/* ---- message and fd DMA through uvfio-dmadev ------------------------------------- */

static const uint64_t dma_sizes[] = { 8, 4096, 65536, 1u << 20 };

struct dmaop {
	struct uvfio_client *c;
	struct floor *fl;
	uint32_t len, dir;
	uint64_t polls, ops;
};

static int op_dma(void *p)
{
	struct dmaop *o = p;
	uint32_t go = 2, st;
	int r = uvfio_client_region_write(o->c, 0, REG_GO, &go, 4);
	if (r)
		return r;
	/* Each STATUS read also serves the device's DMA requests. */
	do {
		if ((r = uvfio_client_region_read(o->c, 0, REG_STATUS, &st, 4)))
			return r;
		o->polls++;
	} while (st == EINPROGRESS);
	o->ops++;
	return st ? -(int)st : 0;
}

/*
 * The fewest bytes and turnarounds the same transfer needs: GO (36 B) is
 * answered (32 B) together with the device's DMA request (32 B, + data
 * when the device writes); the client answers it (32 B, + data when the
 * device reads) and reads STATUS (32 B, reply 36 B).
 */
static int op_floor_dma(void *p)
{
	struct dmaop *o = p;
	uint32_t in = o->dir ? o->len : 0, out = o->dir ? 0 : o->len;
	fl_rt(o->fl, 36, 64 + in);
	fl_queue(o->fl, 32 + out, 0);
	fl_queue(o->fl, 32, 36);
	fl_flush(o->fl, -1);
	fl_read(o->fl, 36);
	return 0;
}

static void dma_program(struct uvfio_client *c, uint32_t len, uint32_t dir)
{
	reg_write(c, REG_IOVA, DMA_IOVA, 8);
	reg_write(c, REG_LEN, len, 4);
	reg_write(c, REG_COUNT, 1, 4);
	reg_write(c, REG_DIR, dir, 4);
}

/* kind: "msg", "msg_notwin", "fd".  Message DMA is timed alternately
 * with its floor; fd DMA has none (the copy is the device's). */
static void dma_series(struct uvfio_client *c, struct floor *fl,
		       const char *kind)
{
	for (uint32_t dir = 0; dir < 2; dir++)
		for (size_t i = 0; i < 4; i++) {
			char sz[24];
			const char *dn = dir ? "write" : "read";
			struct dmaop o = { .c = c, .len = (uint32_t)dma_sizes[i],
					   .dir = dir };
			struct dmaop fo = { .fl = fl, .len = o.len, .dir = dir };
			dma_program(c, o.len, dir);
			int r = sample2(op_dma, &o, &S, fl ? op_floor_dma : NULL,
					&fo, &FS, 10);
			if (r)
				bench_die("DMA %s %s %u: %s", kind, dn, o.len,
				    strerror(-r));
			size_name(o.len, sz, sizeof(sz));
			double p50 = pct(S.s, S.n, 50);
			bench_rec("us", 2, p50 / 1e3, "dma_%s_%s_%s_p50", kind, dn, sz);
			bench_rec("MB/s", 1, (double)o.len * (double)S.n * 1e3 /
					       (double)S.total,
			    "dma_%s_%s_%s_mbps", kind, dn, sz);
			if (fl) {
				double f50 = pct(FS.s, FS.n, 50);
				bench_rec("us", 2, f50 / 1e3, "dma_%s_%s_%s_floor_p50",
				    kind, dn, sz);
				bench_rec("x", 3, p50 / f50, "dma_%s_%s_%s_ratio", kind,
				    dn, sz);
				bench_rec("reads", 2, (double)o.polls / (double)o.ops,
				    "dma_%s_%s_%s_status_reads", kind, dn, sz);
			}
		}
}

static void test_dma(struct dmadev *d, struct floor *fl)
{
	/* Message-only window over malloc'd memory the client serves. */
	void *mem = aligned_alloc(4096, DMADEV_BAR2_SIZE);
	if (!mem)
		bench_die("out of memory");
	memset(mem, 0x5a, DMADEV_BAR2_SIZE);
	for (int twin = 1; twin >= 0; twin--) {
		reset_hwm(d->pid);
		struct uvfio_client *c = cli_connect(d->sock, twin);
		if (twin && !uvfio_client_has_twin_socket(c))
			bench_note("the server refused the twin socket");
		int r = uvfio_client_dma_map(c, DMA_IOVA, DMADEV_BAR2_SIZE,
					     UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
					     mem, -1, 0);
		if (r)
			bench_die("DMA_MAP: %s", strerror(-r));
		dma_series(c, fl, twin ? "msg" : "msg_notwin");
		uvfio_client_destroy(c);
		rec_rss(d, twin ? "dma_msg" : "dma_msg_notwin");
	}
	free(mem);

	/* Fd-backed window: the device copies with memcpy. */
	int fd = memfd_create("uvfio-bench-dma", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DMADEV_BAR2_SIZE))
		bench_die("memfd: %s", strerror(errno));
	void *fmem = mmap(NULL, DMADEV_BAR2_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, fd, 0);
	if (fmem == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	memset(fmem, 0x5a, DMADEV_BAR2_SIZE);
	reset_hwm(d->pid);
	struct uvfio_client *c = cli_connect(d->sock, true);
	int r = uvfio_client_dma_map(c, DMA_IOVA, DMADEV_BAR2_SIZE,
				     UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				     fmem, fd, 0);
	if (r)
		bench_die("DMA_MAP with fd: %s", strerror(-r));
	dma_series(c, NULL, "fd");
	uvfio_client_destroy(c);
	rec_rss(d, "dma_fd");
	munmap(fmem, DMADEV_BAR2_SIZE);
	close(fd);
}

/* ---- DMA_MAP / DMA_UNMAP --------------------------------------------------------- */

struct mapop {
	struct uvfio_client *c;
	struct floor *fl;
	void *mem;
	int fd;
	uint64_t *map_s, *unmap_s;
	size_t n;
};

static int op_map(void *p)
{
	struct mapop *o = p;
	uint64_t t0 = bench_now_ns();
	int r = uvfio_client_dma_map(o->c, DMA_IOVA, DMADEV_BAR2_SIZE,
				     UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				     o->mem, o->fd, 0);
	uint64_t t1 = bench_now_ns();
	if (!r)
		r = uvfio_client_dma_unmap(o->c, DMA_IOVA, DMADEV_BAR2_SIZE);
	uint64_t t2 = bench_now_ns();
	if (o->n < MAX_SAMPLES) {
		o->map_s[o->n] = t1 - t0;
		o->unmap_s[o->n++] = t2 - t1;
	}
	return r;
}

/* DMA_MAP: 48 B (+ fd), reply 16 B; DMA_UNMAP: 40 B, reply 40 B. */
static int op_floor_map(void *p)
{
	struct mapop *o = p;
	uint64_t t0 = bench_now_ns();
	fl_queue(o->fl, 48, 16);
	fl_flush(o->fl, o->fd);
	fl_read(o->fl, 16);
	uint64_t t1 = bench_now_ns();
	fl_rt(o->fl, 40, 40);
	uint64_t t2 = bench_now_ns();
	if (o->n < MAX_SAMPLES) {
		o->map_s[o->n] = t1 - t0;
		o->unmap_s[o->n++] = t2 - t1;
	}
	return 0;
}

/* sample2() times map + unmap together; the ops keep them apart. */
static void map_half(struct mapop *o, double *map50, double *unmap50)
{
	size_t skip = 3; /* warm-up calls */
	size_t n = o->n > skip ? o->n - skip : 0;
	qsort(o->map_s + skip, n, sizeof(uint64_t), cmp_u64);
	qsort(o->unmap_s + skip, n, sizeof(uint64_t), cmp_u64);
	*map50 = pct(o->map_s + skip, n, 50);
	*unmap50 = pct(o->unmap_s + skip, n, 50);
}

static void test_map(struct dmadev *d, struct floor *fl)
{
	int fd = memfd_create("uvfio-bench-map", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DMADEV_BAR2_SIZE))
		bench_die("memfd: %s", strerror(errno));
	void *mem = mmap(NULL, DMADEV_BAR2_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	struct mapop o = { .mem = mem,
			   .map_s = malloc(MAX_SAMPLES * sizeof(uint64_t)),
			   .unmap_s = malloc(MAX_SAMPLES * sizeof(uint64_t)) };
	struct mapop fo = { .fl = fl, .mem = mem,
			    .map_s = malloc(MAX_SAMPLES * sizeof(uint64_t)),
			    .unmap_s = malloc(MAX_SAMPLES * sizeof(uint64_t)) };
	if (!o.map_s || !o.unmap_s || !fo.map_s || !fo.unmap_s)
		bench_die("out of memory");
	reset_hwm(d->pid);
	o.c = cli_connect(d->sock, true);
	for (int withfd = 1; withfd >= 0; withfd--) {
		const char *k = withfd ? "fd" : "nofd";
		double m50, u50, fm50, fu50;
		o.fd = fo.fd = withfd ? fd : -1;
		o.n = fo.n = 0;
		int r = sample2(op_map, &o, &S, op_floor_map, &fo, &FS, 20);
		if (r)
			bench_die("DMA_MAP/UNMAP: %s", strerror(-r));
		map_half(&o, &m50, &u50);
		map_half(&fo, &fm50, &fu50);
		bench_rec("us", 2, m50 / 1e3, "dma_map_%s_p50", k);
		bench_rec("us", 2, u50 / 1e3, "dma_unmap_%s_p50", k);
		bench_rec("us", 2, fm50 / 1e3, "dma_map_%s_floor_p50", k);
		bench_rec("us", 2, fu50 / 1e3, "dma_unmap_%s_floor_p50", k);
		bench_rec("x", 3, m50 / fm50, "dma_map_%s_ratio", k);
		bench_rec("x", 3, u50 / fu50, "dma_unmap_%s_ratio", k);
	}
	uvfio_client_destroy(o.c);
	rec_rss(d, "dma_map");
	free(o.map_s);
	free(o.unmap_s);
	free(fo.map_s);
	free(fo.unmap_s);
	munmap(mem, DMADEV_BAR2_SIZE);
	close(fd);
}

/* ---- translation: the server's window table, in process ------------------------- */

static uint64_t xs_state = 0x9e3779b97f4a7c15ull;
static uint64_t xs(void)
{
	xs_state ^= xs_state << 13;
	xs_state ^= xs_state >> 7;
	xs_state ^= xs_state << 17;
	return xs_state;
}

/* One dependent load that misses every cache, ns: what any lookup that
 * must touch a random part of a large table pays at least once. */
static double mem_miss_ns(void)
{
	const size_t n = (64u << 20) / sizeof(size_t);
	size_t *next = malloc(n * sizeof(size_t));
	if (!next)
		bench_die("out of memory");
	/* One random cycle over the whole array (Sattolo). */
	for (size_t i = 0; i < n; i++)
		next[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = xs() % i, t = next[i];
		next[i] = next[j];
		next[j] = t;
	}
	const size_t steps = G.quick ? (1u << 16) : (1u << 22);
	size_t k = 0;
	uint64_t t0 = bench_now_ns();
	for (size_t i = 0; i < steps; i++)
		k = next[k];
	double r = (double)(bench_now_ns() - t0) / (double)steps;
	if (k == n)
		bench_note("impossible");
	free(next);
	return r;
}

/* ns per dmat_get + put over the iovas, best of three passes: the
 * table is what is measured, not the neighbours of this VM. */
static double xlat_pass(struct dmat *d, const uint64_t *iovas,
			size_t nlook)
{
	uintptr_t sink = 0;
	uint64_t best = UINT64_MAX;
	for (int pass = 0; pass < 3; pass++) {
		uint64_t t0 = bench_now_ns();
		for (size_t j = 0; j < nlook; j++) {
			struct dmat_ref ref;
			if (dmat_get(d, iovas[j], 8, DMAT_READ, &ref))
				bench_die("lookup of 0x%" PRIx64 " failed", iovas[j]);
			sink += (uintptr_t)ref.ptr;
			dmat_put(d, &ref);
		}
		uint64_t dt = bench_now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	if (!sink)
		bench_note("no pointers?");
	return (double)best / (double)nlook;
}

static void test_xlat(void)
{
	static const uint32_t counts[] = { 1, 1000, 65535 };
	const size_t nlook = G.quick ? (1u << 16) : (1u << 20);
	uint64_t *iovas = malloc(nlook * sizeof(uint64_t));
	double ns[3], lns[3];
	if (!iovas)
		bench_die("out of memory");
	for (size_t k = 0; k < 3; k++) {
		uint32_t nw = counts[k];
		struct dmat d;
		int fd = memfd_create("uvfio-bench-xlat", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)nw * 4096))
			bench_die("memfd: %s", strerror(errno));
		if (dmat_init(&d, 65535))
			bench_die("dma init");
		/* 4 KiB windows with gaps between them, all on one file as
		 * guest RAM is. */
		for (uint32_t i = 0; i < nw; i++) {
			int f = dup(fd);
			int r = f < 0 ? -errno
				      : dmat_map(&d, (uint64_t)i * 8192, 4096,
						      DMAT_READ | DMAT_WRITE,
						      f, (uint64_t)i * 4096);
			if (r) {
				if (f >= 0)
					close(f);
				bench_die("window %u: %s", i, strerror(-r));
			}
		}
		close(fd);
		/* Pattern 0: every lookup a random window.  Pattern 1: a
		 * device moving a 4 KiB buffer in 512-byte pieces, i.e. 8
		 * lookups per randomly chosen window. */
		for (size_t j = 0; j < nlook; j++)
			iovas[j] = (xs() % nw) * 8192 + xs() % 4088;
		ns[k] = xlat_pass(&d, iovas, nlook);
		bench_rec("ns", 1, ns[k], "xlat_%u_ns", nw);
		for (size_t j = 0; j < nlook; j++)
			iovas[j] = j % 8 ? iovas[j - 1] + 511
					 : (xs() % nw) * 8192;
		lns[k] = xlat_pass(&d, iovas, nlook);
		bench_rec("ns", 1, lns[k], "xlat_%u_local_ns", nw);
		dmat_fini(&d);
	}
	bench_rec("x", 3, ns[2] / ns[0], "xlat_65535_vs_1_ratio");
	bench_rec("x", 3, lns[2] / lns[0], "xlat_65535_local_vs_1_ratio");
	bench_rec("ns", 1, mem_miss_ns(), "mem_miss_ns");
	free(iovas);
}

/* ---- N clients, N devices, one server process ----------------------------------- */

/* A device of 32 bytes of registers behind a callback. */
static ssize_t mini_access(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	uint8_t *regs = opaque;
	(void)index;
	if (off >= 32 || count > 32 - off) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (is_write)
		memcpy(regs + off, buf, count);
	else
		memcpy(buf, regs + off, count);
	return (ssize_t)count;
}

/* The child: N servers on the given connected fds, one thread, one
 * epoll set; runs until ctl (a pipe) reaches end of file. */
static void multi_serve(int *fds, unsigned n, int ctl, int report)
{
	long rss0 = proc_kib(getpid(), "VmRSS");
	struct uvfio_server **srv = calloc(n, sizeof(*srv));
	uint8_t *regs = calloc(n, 32);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!srv || !regs || ep < 0)
		_exit(1);
	const struct uvfio_pci_ids ids = { .vendor = 0x1234, .device = 0xbe1c,
					   .class_code = 0xff0000 };
	for (unsigned i = 0; i < n; i++) {
		int r = uvfio_server_create_fd(&srv[i], fds[i], 0);
		if (r) {
			fprintf(stderr, "uvfio-bench: server %u: %s\n", i,
				strerror(-r));
			_exit(1);
		}
		uvfio_server_set_pci_ids(srv[i], &ids);
		uvfio_server_setup_region(srv[i], 0, 4096,
					  UVFIO_REGION_READ | UVFIO_REGION_WRITE,
					  mini_access, regs + 32 * i);
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_ADD, uvfio_server_poll_fd(srv[i]), &e);
	}
	struct epoll_event e = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &e);
	write_all(report, &rss0, sizeof(rss0));
	for (bool run = true; run;) {
		struct epoll_event ev[64];
		int k = epoll_wait(ep, ev, 64, -1);
		for (int i = 0; i < k; i++) {
			if (ev[i].data.u32 == UINT32_MAX)
				run = false;
			else
				uvfio_server_process(srv[ev[i].data.u32]);
		}
	}
	for (unsigned i = 0; i < n; i++)
		uvfio_server_destroy(srv[i]);
	free(srv);
	free(regs);
	close(ep);
}

struct mcli {
	struct uvfio_client *c;
	uint8_t buf[8];
	unsigned inflight;
	uint64_t *done;
	const bool *stop;
	int *err;
};

static void mcli_done(void *opaque, int result);

static int mcli_submit(struct mcli *m)
{
	int r = uvfio_client_region_read_async(m->c, 0, 0, m->buf, 4, mcli_done,
					       m);
	if (!r)
		m->inflight++;
	return r;
}

static void mcli_done(void *opaque, int result)
{
	struct mcli *m = opaque;
	m->inflight--;
	(*m->done)++;
	if (result && !*m->err)
		*m->err = result;
	if (!*m->stop && !*m->err) {
		int r = mcli_submit(m);
		if (r && !*m->err)
			*m->err = r;
	}
}

static void multi_one(unsigned n)
{
	const unsigned window = 4;
	int *sfd = calloc(n, sizeof(int)), *cfd = calloc(n, sizeof(int));
	struct mcli *m = calloc(n, sizeof(*m));
	int ctl[2], rep[2];
	if (!sfd || !cfd || !m)
		bench_die("out of memory");
	for (unsigned i = 0; i < n; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			bench_die("socketpair: %s", strerror(errno));
		cfd[i] = sv[0];
		sfd[i] = sv[1];
	}
	if (pipe2(ctl, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
		bench_die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (!pid) {
		bench_pin(G.srv_cpu, &G.all_cpus);
		for (unsigned i = 0; i < n; i++)
			close(cfd[i]);
		close(ctl[1]);
		close(rep[0]);
		multi_serve(sfd, n, ctl[0], rep[1]);
		_exit(0);
	}
	for (unsigned i = 0; i < n; i++)
		close(sfd[i]);
	close(ctl[0]);
	close(rep[1]);
	long rss0;
	read_all(rep[0], &rss0, sizeof(rss0));
	close(rep[0]);

	uint64_t done = 0;
	bool stop = false;
	int err = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (unsigned i = 0; i < n; i++) {
		int r = uvfio_client_create(&m[i].c);
		if (r)
			bench_die("client: %s", strerror(-r));
		uvfio_client_set_log(m[i].c, NULL, NULL, UVFIO_LOG_ERR);
		if ((r = uvfio_client_adopt_fd(m[i].c, cfd[i])))
			bench_die("client %u: %s", i, strerror(-r));
		m[i].done = &done;
		m[i].stop = &stop;
		m[i].err = &err;
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_ADD, uvfio_client_poll_fd(m[i].c), &e);
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < window; j++)
			if (mcli_submit(&m[i]))
				bench_die("async read: cannot queue");
	uint64_t t0 = 0, d0 = 0, t1 = 0, d1 = 0;
	unsigned busy = n;
	while (busy && !err) {
		struct epoll_event ev[64];
		int k = epoll_wait(ep, ev, 64, 1000);
		for (int i = 0; i < k; i++)
			if (uvfio_client_process(m[ev[i].data.u32].c))
				bench_die("client %u failed", ev[i].data.u32);
		if (!t0 && done >= (uint64_t)n * window * 2) {
			t0 = bench_now_ns();
			d0 = done;
		} else if (t0 && !stop) {
			t1 = bench_now_ns();
			d1 = done;
			stop = t1 - t0 >= G.dur_ns;
		}
		if (stop) {
			busy = 0;
			for (unsigned i = 0; i < n; i++)
				busy += m[i].inflight != 0;
		}
	}
	if (err)
		bench_die("multi %u: %s", n, strerror(-err));
	long rss = proc_kib(pid, "VmRSS"), hwm = proc_kib(pid, "VmHWM");
	bench_rec("ops/s", 0, (double)(d1 - d0) * 1e9 / (double)(t1 - t0),
	    "multi_%u_ops", n);
	bench_rec("KiB", 1, (double)(rss - rss0) / n, "multi_%u_conn_kib", n);
	bench_rec("KiB", 0, (double)hwm, "multi_%u_srv_rss_peak", n);
	bench_rec("KiB", 0, (double)(hwm - rss0), "multi_%u_srv_rss_growth", n);
	for (unsigned i = 0; i < n; i++)
		uvfio_client_destroy(m[i].c);
	close(ep);
	close(ctl[1]);
	waitpid(pid, NULL, 0);
	free(sfd);
	free(cfd);
	free(m);
}

static void test_multi(void)
{
	static const unsigned ns[] = { 1, 16, 256 };
	for (size_t i = 0; i < 3; i++)
		multi_one(ns[i]);
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-bench [options]\n"
		"\n"
		"Measure uvfio against uvfio-dmadev (or --socket's server) and a\n"
		"socketpair floor in the same run; print name=value unit lines\n"
		"(medians over the runs).\n"
		"  --runs N          runs per figure (default 5)\n"
		"  --only T[,T...]   tests: rt inflight posted dma map xlat multi\n"
		"  --server-cpu N    pin the servers and the floor responder\n"
		"  --client-cpu N    pin the client (this process)\n"
		"                    (default: client on the first allowed CPU,\n"
		"                    servers on the last)\n"
		"  --no-pin          leave placement to the scheduler\n"
		"  --socket PATH     bench this vfio-user server instead\n"
		"                    (rt, inflight and posted only)\n"
		"  --dmadev PATH     uvfio-dmadev to run (default: next to us,\n"
		"                    ../samples/uvfio-dmadev)\n"
		"  --busy-poll USEC  run uvfio-dmadev with --busy-poll USEC\n"
		"                    (uvfio_server_set_busy_poll)\n"
		"  --quick           short measurements (a smoke test)\n");
}

static void find_dmadev(void)
{
	bench_sibling(G.dmadev, sizeof(G.dmadev), "../samples/uvfio-dmadev");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "server-cpu", required_argument, NULL, 's' },
		{ "client-cpu", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "dmadev", required_argument, NULL, 'd' },
		{ "quick", no_argument, NULL, 'q' },
		{ "no-pin", no_argument, NULL, 'n' },
		{ "busy-poll", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			G.runs = atoi(optarg);
			if (G.runs < 1 || G.runs > BENCH_MAX_RUNS)
				bench_die("--runs: 1 to %d", BENCH_MAX_RUNS);
			break;
		case 'o':
			G.only = optarg;
			break;
		case 's':
			G.srv_cpu = atoi(optarg);
			break;
		case 'c':
			G.cli_cpu = atoi(optarg);
			break;
		case 'S':
			G.socket = optarg;
			break;
		case 'd':
			snprintf(G.dmadev, sizeof(G.dmadev), "%s", optarg);
			break;
		case 'q':
			G.quick = true;
			break;
		case 'n':
			G.no_pin = true;
			break;
		case 'b':
			G.busy_poll = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	G.dur_ns = G.quick ? 8000000ull : 250000000ull;
	if (!G.dmadev[0])
		find_dmadev();
	signal(SIGPIPE, SIG_IGN);
	if (sched_getaffinity(0, sizeof(G.all_cpus), &G.all_cpus))
		CPU_ZERO(&G.all_cpus);
	/*
	 * Unpinned, the scheduler sometimes runs both ends on one CPU (a
	 * round trip of a few us) and sometimes wakes the other CPU (tens of
	 * us on a VM), and may choose differently for the floor and for the
	 * server: their ratio would measure the scheduler.  So by default the
	 * client takes the first allowed CPU and every server the last.
	 */
	if (!G.no_pin && G.srv_cpu < 0 && G.cli_cpu < 0 &&
	    CPU_COUNT(&G.all_cpus) >= 2) {
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &G.all_cpus)) {
				if (G.cli_cpu < 0)
					G.cli_cpu = i;
				G.srv_cpu = i;
			}
	}
	/* 256 devices take about 2000 descriptors on both sides. */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 8192) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	S.s = malloc(MAX_SAMPLES * sizeof(uint64_t));
	FS.s = malloc(MAX_SAMPLES * sizeof(uint64_t));
	BS.s = malloc(MAX_SAMPLES * sizeof(uint64_t));
	if (!S.s || !FS.s || !BS.s)
		bench_die("out of memory");
	struct floor fl, bfl;
	floor_start(&fl, false);
	floor_start(&bfl, true);
	struct dmadev dd, *d = NULL;
	if (!G.socket) {
		if (access(G.dmadev, X_OK))
			bench_die("%s: %s (give --dmadev)", G.dmadev, strerror(errno));
		dmadev_start(&dd);
		d = &dd;
	}
	/* Pin after the children exist: bench_pin(, &G.all_cpus) gives them their own CPU. */
	if (G.cli_cpu >= 0)
		bench_pin(G.cli_cpu, &G.all_cpus);
	const char *path = G.socket ? G.socket : dd.sock;
	bench_note("%d run(s)%s, server %s, client CPU %d, server CPU %d", G.runs,
	     G.quick ? " (quick)" : "", G.socket ? G.socket : G.dmadev,
	     G.cli_cpu, G.srv_cpu);

	static const char *const groups[] = { "rt", "inflight", "posted", "dma",
					      "map", "xlat", "multi" };
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		const char *name = groups[g];
		bool region = g < 3;
		if (!selected(name) || (G.socket && !region))
			continue;
		bench_note("%s", name);
		for (int run = 0; run < G.runs; run++) {
			if (region) {
				struct target t;
				if (d)
					reset_hwm(d->pid);
				struct uvfio_client *cl = cli_connect(path, true);
				target_open(&t, cl, d != NULL);
				if (g == 0)
					test_rt(&t, &fl, &bfl);
				else if (g == 1)
					test_inflight(&t, &fl);
				else
					test_posted(&t, &fl, &bfl);
				uvfio_client_destroy(cl);
				free(t.buf);
				rec_rss(d, name);
			} else if (!strcmp(name, "dma")) {
				test_dma(d, &fl);
			} else if (!strcmp(name, "map")) {
				test_map(d, &fl);
			} else if (!strcmp(name, "xlat")) {
				test_xlat();
			} else {
				test_multi();
			}
		}
		bench_flush();
	}
	if (d)
		dmadev_stop(d);
	/* Last started, first stopped: bfl's responder inherited fl's end of
	 * the socketpair at fork, and fl's would never see end of file. */
	floor_stop(&bfl);
	floor_stop(&fl);
	free(S.s);
	free(FS.s);
	free(BS.s);
	return 0;
}
