/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme: an NVMe 1.4 controller over vfio-user, one namespace of
 * 512-byte blocks backed by a file or block device (docs/nvme.md).
 *
 *   uvfio-nvme --socket PATH --disk FILE [--create-size SIZE]
 *              [--queues N] [--readonly] [--io-backend uring|threads]
 *              [--io-inline auto|never|always]
 *              [--doorbells msg|mmap] [--db-poll USEC] [-v]
 *
 * PCI: class 010802, PCIe endpoint, PM, MSI-X with one vector for the
 * admin queue and one per I/O queue.  BAR0 (64-bit, 16 KiB): registers at
 * 0, doorbells at 0x1000 (with --doorbells mmap an mmap-able page the
 * device polls), MSI-X table at 0x2000, PBA at 0x3000.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "ctrl.h"
#include "nvme.h"

#define BAR0_SIZE 0x4000u
#define MSIX_TABLE 0x2000u
#define MSIX_PBA 0x3000u
/* --doorbells mmap: the page is polled at least this often while the host
 * is idle (a first command after a pause waits up to an eighth of the
 * pause, never longer than this), every --db-poll while it is busy. */
#define DB_POLL_IDLE_MAX_NS 1000000ull
#define DB_POLL_DEFAULT_US 20u

struct options {
	const char *disk;
	uint64_t create_size;
	unsigned queues;
	bool readonly;
	enum nvme_backend_kind backend;
	enum nvme_inline_mode io_inline;
	bool mmap_doorbells;
	unsigned db_poll_us;
};

#ifdef UVFIO_NVME_URING
#define DEFAULT_BACKEND "uring"
#else
#define DEFAULT_BACKEND "threads"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-nvme --socket PATH --disk FILE [--create-size SIZE]\n"
		"                  [--queues N] [--readonly]\n"
		"                  [--io-backend uring|threads]\n"
		"                  [--io-inline auto|never|always]\n"
		"                  [--doorbells msg|mmap] [--db-poll USEC] [-v]\n"
		"\n"
		"Serve an NVMe 1.4 controller with one namespace over vfio-user\n"
		"until SIGTERM or SIGINT.\n"
		"  --socket PATH       UNIX socket to listen on\n"
		"  --fd N              use this listening or connected socket instead\n"
		"  --disk FILE         file or block device holding the namespace\n"
		"  --create-size SIZE  create FILE, or grow it, to SIZE bytes\n"
		"                      (suffixes K, M, G)\n"
		"  --queues N          I/O queue pairs offered, 1-%u (default %u)\n"
		"  --readonly          the namespace is write protected\n"
		"  --io-backend B      disk I/O through io_uring (uring) or a\n"
		"                      thread pool (threads); default %s, and\n"
		"                      threads where io_uring is not available\n"
		"  --io-inline MODE    auto: reads and writes at low depth run on\n"
		"                      the server thread when FILE is in memory\n"
		"                      (tmpfs...); never; always: whatever FILE\n"
		"                      is on (tests); default auto\n"
		"  --doorbells MODE    msg: doorbell writes arrive as messages\n"
		"                      (default); mmap: the doorbell page may\n"
		"                      be mapped by the client, and is polled\n"
		"  --db-poll USEC      with mmap: poll the page this often while\n"
		"                      the host is busy (default %u)\n"
		"  --busy-poll USEC    see uvfio_server_set_busy_poll\n"
		"  -v                  log connections and protocol errors\n",
		NVME_MAX_IOQ, NVME_MAX_IOQ, DEFAULT_BACKEND, DB_POLL_DEFAULT_US);
	app_server_usage_env(f);
	fprintf(f, "UVFIO_NVME_INJECT=OP:ERRNO[:LBA[:COUNT]],... fails the file\n"
		   "operations (read, write, flush, zero, any) on those blocks\n"
		   "with that error, for tests (docs/nvme.md).\n");
}

static int parse_size(const char *arg, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 0);
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (errno || *end || !v || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int option(void *opaque, int val, const char *arg)
{
	struct options *o = opaque;
	char *end;

	switch (val) {
	case 'd':
		o->disk = arg;
		return 0;
	case 'c':
		if (parse_size(arg, &o->create_size)) {
			fprintf(stderr, "uvfio-nvme: --create-size wants a size, "
					"got '%s'\n", arg);
			return 2;
		}
		return 0;
	case 'q':
		o->queues = (unsigned)strtoul(arg, &end, 10);
		if (*end || o->queues < 1 || o->queues > NVME_MAX_IOQ) {
			fprintf(stderr, "uvfio-nvme: --queues wants 1 to %u, "
					"got '%s'\n", NVME_MAX_IOQ, arg);
			return 2;
		}
		return 0;
	case 'r':
		o->readonly = true;
		return 0;
	case 'b':
		if (!strcmp(arg, "uring")) {
			o->backend = NVME_BACKEND_URING;
		} else if (!strcmp(arg, "threads")) {
			o->backend = NVME_BACKEND_THREADS;
		} else {
			fprintf(stderr, "uvfio-nvme: --io-backend wants uring or "
					"threads, got '%s'\n", arg);
			return 2;
		}
		return 0;
	case 'i':
		if (!strcmp(arg, "auto")) {
			o->io_inline = NVME_INLINE_AUTO;
		} else if (!strcmp(arg, "never")) {
			o->io_inline = NVME_INLINE_NEVER;
		} else if (!strcmp(arg, "always")) {
			o->io_inline = NVME_INLINE_ALWAYS;
		} else {
			fprintf(stderr, "uvfio-nvme: --io-inline wants auto, never "
					"or always, got '%s'\n", arg);
			return 2;
		}
		return 0;
	case 'D':
		if (strcmp(arg, "msg") && strcmp(arg, "mmap")) {
			fprintf(stderr, "uvfio-nvme: --doorbells wants msg or "
					"mmap, got '%s'\n", arg);
			return 2;
		}
		o->mmap_doorbells = !strcmp(arg, "mmap");
		return 0;
	case 'P':
		o->db_poll_us = (unsigned)strtoul(arg, &end, 10);
		if (*end || !*arg || o->db_poll_us < 1 || o->db_poll_us > 1000) {
			fprintf(stderr, "uvfio-nvme: --db-poll wants 1 to 1000 "
					"microseconds, got '%s'\n", arg);
			return 2;
		}
		return 0;
	default:
		return 2;
	}
}

/* Open the backing store; its size in bytes into *size. */
static int open_disk(const struct options *o, uint64_t *size)
{
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	if (o->create_size)
		flags |= O_CREAT;
	int fd = open(o->disk, flags, 0600);
	if (fd < 0 || fstat(fd, &st))
		goto fail;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			goto fail;
		return fd;
	}
	if (o->create_size && (uint64_t)st.st_size < o->create_size) {
		if (ftruncate(fd, (off_t)o->create_size))
			goto fail;
		st.st_size = (off_t)o->create_size;
	}
	*size = (uint64_t)st.st_size;
	return fd;
fail:
	fprintf(stderr, "uvfio-nvme: %s: %s\n", o->disk, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Serial number and NGUID: stable for one disk path, different across. */
static void identity(struct nvme_ctrl *n, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull, g;
	for (const char *p = path; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	g = (h ^ 0x5555) * 0x100000001b3ull;
	snprintf(n->sn, sizeof(n->sn), "UVFIO%08X", (unsigned)(h >> 32));
	memcpy(n->nguid, &h, 8);
	memcpy(n->nguid + 8, &g, 8);
}

static int nvme_reset(void *opaque, enum uvfio_reset_reason why)
{
	/* A reset (FLR) or a client gone: the queues referred to memory of
	 * that client, so nothing of them may survive; I/O in flight ends
	 * before the reset is answered. */
	(void)why;
	nvme_power_on(opaque);
	return 0;
}

static void nvme_dma_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	/* The library unmaps the window once this returns, after waiting
	 * for every piece of it still mapped.  Requests in flight hold such
	 * pieces, and only this thread can end them: so they end here, all
	 * of them (unmaps are rare), posting their CQEs as usual. */
	nvme_io_drain(opaque);
	/* The shadow doorbells' pages are held too: let go of them if they
	 * are there (mapped again at the next look, if still in a window). */
	nvme_dbbuf_unmap(opaque, iova, size);
}

static const struct uvfio_device_ops nvme_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = nvme_reset,
	.dma_unmap = nvme_dma_unmap,
};

static int describe(struct nvme_ctrl *n)
{
	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0xd3a1,
		.subsys_vendor = 0x1234, .subsys = 0x0001,
		.class_code = 0x010802, /* mass storage, NVM, NVMe */
	};
	/* --doorbells mmap: the client may map the doorbell page (only it:
	 * registers and MSI-X stay emulated) from our memfd; every message
	 * access still goes to nvme_bar0. */
	const struct uvfio_sparse_area db_area = { NVME_DOORBELLS, NVME_PAGE };
	struct uvfio_region_desc bar0 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR0_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			 UVFIO_REGION_64BIT,
		.fn = nvme_bar0,
		.opaque = n,
	};
	if (n->db_page) {
		bar0.flags |= UVFIO_REGION_FD;
		bar0.fd = n->db_fd;
		bar0.sparse = &db_area;
		bar0.nr_sparse = 1;
	}
	int r;
	if ((r = uvfio_server_set_pci_ids(n->srv, &ids)) ||
	    (r = uvfio_server_add_region(n->srv, 0, &bar0)) ||
	    (r = uvfio_server_pci_add_pm(n->srv)) < 0 ||
	    (r = uvfio_server_pci_add_pcie(n->srv, 0)) < 0 ||
	    (r = uvfio_server_pci_add_msix(n->srv, n->max_ioq + 1, 0, MSIX_TABLE,
					   0, MSIX_PBA)) < 0 ||
	    (r = uvfio_server_set_ops(n->srv, &nvme_ops, n)))
		return r;
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static volatile sig_atomic_t stopping;
static struct uvfio_server *stop_srv;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	uvfio_server_stop(stop_srv); /* its fd wakes the poll in serve() */
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* How long the loop may sleep: -1 until an fd wakes it; with the
 * doorbell page, a timer that stretches with the time since the last
 * work (idle_ns), from min_ns up to DB_POLL_IDLE_MAX_NS. */
static int64_t db_wait_ns(struct nvme_ctrl *n, uint64_t idle_ns,
			  uint64_t min_ns)
{
	if (!nvme_db_polling(n))
		return -1;
	uint64_t t = idle_ns / 8;
	if (t < min_ns)
		t = min_ns;
	return (int64_t)(t < DB_POLL_IDLE_MAX_NS ? t : DB_POLL_IDLE_MAX_NS);
}

/* One round of work on what poll() found: 0 or -errno. */
static int serve_round(struct nvme_ctrl *n, const struct pollfd p[2])
{
	if (p[1].revents) {
		/* Emptied before the reap: a completion after it signals
		 * again. */
		uint64_t x;
		ssize_t rd = read(p[1].fd, &x, sizeof(x));
		(void)rd;
	}
	int r = p[0].revents ? uvfio_server_process(n->srv) : 0;
	if (r)
		return r;
	nvme_io_poll(n);
	return 0;
}

/*
 * uvfio_server_run() polls only the server's own fds, and completions of
 * the backend must be handled on the server thread too (device state is
 * that thread's alone): so this loop polls both, calls
 * uvfio_server_process() for the server and nvme_io_poll() after every
 * round, which also lets SQs go on that a drain held.  Then it looks for
 * doorbells that came without a message (db.c), and before it sleeps
 * with only messages to wake it, asks the host for one (EventIdx).
 * --busy-poll: after work, look again without sleeping for that long,
 * as the built-in loop does.
 */
static int serve(struct nvme_ctrl *n, unsigned busy_us, unsigned db_poll_us)
{
	struct pollfd p[2] = {
		{ .fd = uvfio_server_poll_fd(n->srv), .events = POLLIN },
		{ .fd = nvme_backend_fd(n->be), .events = POLLIN },
	};
	uint64_t spin_until = 0, last_work = now_ns();
	while (!stopping) {
		uint64_t now = now_ns();
		if (spin_until && now >= spin_until)
			spin_until = 0;
		int64_t wait = spin_until ? 0
					  : db_wait_ns(n, now - last_work,
						       db_poll_us * 1000ull);
		bool news = wait < 0 && nvme_db_arm(n);
		if (news)
			wait = 0; /* a doorbell came meanwhile */
		struct timespec ts = { (time_t)(wait / 1000000000),
				       (long)(wait % 1000000000) };
		int k = ppoll(p, 2, wait < 0 ? NULL : &ts, NULL);
		if (k < 0 && errno != EINTR)
			return -errno;
		int r = k > 0 ? serve_round(n, p) : 0;
		if (r)
			return r;
		news = nvme_db_poll(n) || news;
		if (news || k > 0) {
			last_work = now_ns();
			if (busy_us)
				spin_until = last_work + busy_us * 1000ull;
		}
	}
	return 0;
}

/* Serve until SIGTERM or SIGINT; then no I/O is left, and the file is
 * synced. */
static int run(struct app_server *a, struct nvme_ctrl *n, unsigned db_poll_us)
{
	stop_srv = a->srv;
	app_on_stop_signals(on_stop);
	int r = serve(n, a->busy_poll_us, db_poll_us);
	nvme_io_drain(n);
	if (!n->readonly)
		fdatasync(n->fd);
	/* A connected client is dropped: the reset and unmap ops run. */
	uvfio_server_destroy(a->srv);
	a->srv = NULL;
	nvme_io_fini(n);
	if (a->verbose) /* tests check where their I/O ran */
		fprintf(stderr, "uvfio-nvme: %llu requests inline, %llu at the "
				"backend\n", (unsigned long long)n->ran_inline,
			(unsigned long long)n->ran_backend);
	if (r) {
		fprintf(stderr, "uvfio-nvme: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}

/* The backend asked for, or the thread pool where io_uring cannot be. */
static int start_io(struct nvme_ctrl *n, const struct options *o, bool verbose)
{
	const char *why;
	struct nvme_backend *be = nvme_backend_create(o->backend, &why);
	if (!be) {
		fprintf(stderr, "uvfio-nvme: no I/O backend: %s\n",
			strerror(errno));
		return -1;
	}
	if (why)
		fprintf(stderr, "uvfio-nvme: %s: using the thread pool\n", why);
	else if (verbose)
		fprintf(stderr, "uvfio-nvme: I/O through %s\n",
			nvme_backend_name(be));
	n->fast_inline = nvme_inline_wanted(o->io_inline, n->fd);
	if (verbose && n->fast_inline)
		fprintf(stderr, "uvfio-nvme: reads and writes inline at low "
				"depth\n");
	if (nvme_io_init(n, be)) {
		nvme_backend_destroy(be);
		fprintf(stderr, "uvfio-nvme: out of memory\n");
		return -1;
	}
	const char *inj = getenv("UVFIO_NVME_INJECT");
	if (inj && *inj && nvme_io_parse_faults(n, inj)) {
		fprintf(stderr, "uvfio-nvme: UVFIO_NVME_INJECT: cannot parse "
				"'%s'\n", inj);
		nvme_io_fini(n);
		return -1;
	}
	return 0;
}

/* --doorbells mmap: the page the client may map, polled by the loop. */
static int start_doorbells(struct nvme_ctrl *n, const struct options *o,
			   bool verbose)
{
	n->db_fd = -1;
	if (!o->mmap_doorbells)
		return 0;
	int r = nvme_db_page_create(n, BAR0_SIZE);
	if (r)
		return r;
	/* Timers of a few tens of microseconds mean nothing with the
	 * default 50 us of slack. */
	prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);
	if (verbose)
		fprintf(stderr, "uvfio-nvme: doorbell page mmap-able, polled "
				"every %u us while busy\n", o->db_poll_us);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "create-size", required_argument, NULL, 'c' },
		{ "queues", required_argument, NULL, 'q' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "io-backend", required_argument, NULL, 'b' },
		{ "io-inline", required_argument, NULL, 'i' },
		{ "doorbells", required_argument, NULL, 'D' },
		{ "db-poll", required_argument, NULL, 'P' },
		{ 0 },
	};
	struct options o = {
		.queues = NVME_MAX_IOQ,
		.db_poll_us = DB_POLL_DEFAULT_US,
#ifdef UVFIO_NVME_URING
		.backend = NVME_BACKEND_URING,
#else
		.backend = NVME_BACKEND_THREADS,
#endif
	};
	struct app_server a = {
		.prog = "uvfio-nvme", .usage = usage,
		.flags = UVFIO_SERVER_PCIE,
		.options = opts, .option = option, .opaque = &o,
	};
	static struct nvme_ctrl n; /* large (PRP page table): not on the stack */
	uint64_t size;
	int r;

	app_server_start(&a, argc, argv);
	if (!o.disk) {
		fprintf(stderr, "uvfio-nvme: --disk FILE is needed\n");
		usage(stderr);
		uvfio_server_destroy(a.srv);
		return 2;
	}
	if (o.readonly && o.create_size) {
		/* Creating or growing the file would be a write. */
		fprintf(stderr, "uvfio-nvme: --create-size and --readonly "
				"exclude each other\n");
		uvfio_server_destroy(a.srv);
		return 2;
	}
	/* A file size limit fails writes past it (EFBIG: Capacity
	 * Exceeded) rather than ending the process. */
	signal(SIGXFSZ, SIG_IGN);
	n.fd = open_disk(&o, &size);
	if (n.fd < 0) {
		uvfio_server_destroy(a.srv);
		return 1;
	}
	n.nlb = size >> NVME_LBA_SHIFT;
	if (!n.nlb) {
		fprintf(stderr, "uvfio-nvme: %s: smaller than one block\n", o.disk);
		uvfio_server_destroy(a.srv);
		return 1;
	}
	n.srv = a.srv;
	n.readonly = o.readonly;
	n.max_ioq = o.queues;
	identity(&n, o.disk);
	if (start_io(&n, &o, a.verbose)) {
		uvfio_server_destroy(a.srv);
		return 1;
	}
	nvme_power_on(&n);
	if ((r = start_doorbells(&n, &o, a.verbose)) || (r = describe(&n)) ||
	    (r = nvme_mig_setup(&n))) {
		nvme_io_fini(&n);
		nvme_db_page_destroy(&n);
		return app_server_fail(&a, "device setup", r);
	}
	r = run(&a, &n, o.db_poll_us);
	nvme_jobs_free(&n); /* the server is gone: no completion is left */
	nvme_db_page_destroy(&n);
	nvme_mig_free(&n);
	close(n.fd);
	return r;
}
