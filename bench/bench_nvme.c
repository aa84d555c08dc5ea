/* SPDX-License-Identifier: MIT */
/*
 * uvfio-bench-nvme: block I/O through uvfio-nvme, driven by the NVMe host
 * driver of nvme_host.h on the uvfio client (no VM), next to the same I/O
 * issued straight to the backing file with io_uring.
 *
 * The server runs as a child process on a backing file in tmpfs
 * (/dev/shm), filled so that every read hits a real page.  Guest memory
 * is a memfd mapped as an fd-backed DMA window; the driver writes SQ
 * entries into it, rings doorbells with posted region writes and finds
 * completions either by polling the CQ's phase tags ("poll": the CQs have
 * interrupts off) or by sleeping in poll() on the MSI-X eventfds the
 * client created ("irq").
 *
 * The floor is the same I/O on the same file from this process with
 * io_uring: same sizes, offset pattern and seed, one ring per NVMe queue
 * pair with the same depth, completions reaped by spinning on the ring
 * ("poll") or by sleeping on an eventfd registered with the ring ("irq").
 * Floor and driver alternate in slices of each configuration, so both
 * meet the same machine.  On tmpfs io_uring hands every request to a
 * kernel worker thread (floor_rings() says why), so for depth 1 the same
 * I/O is also timed as plain pread/pwrite calls: the copy alone.
 *
 * stdout: only "name=value unit" lines (medians over --runs); stderr:
 * progress, a table, and the targets.  docs/performance.md says
 * what every figure means.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "figures.h"
#include "nvme_host.h"

#define MAX_RUNS BENCH_MAX_RUNS
#define MAX_QUEUES 4u   /* I/O queue pairs of one configuration */
#define MAX_QD 128u
#define QENTRIES 256u   /* > MAX_QD: an SQ holds size - 1 commands */
#define POLL_QID 1u     /* pairs 1..4: interrupts off */
#define IRQ_QID 5u      /* pairs 5..8: MSI-X vector = qid */
#define SERVER_QUEUES "8"
#define STALL_NS 5000000000ull /* no completion for this long: give up */

/* Guest memory: queues, then one PRP list page per command slot, then
 * the data buffers of the slots. */
#define GM_QUEUES (1u << 20)
#define GM_LISTS (MAX_QUEUES * MAX_QD * NH_PAGE)
#define GM_DATA (8u << 20)
#define GM_SIZE (GM_QUEUES + GM_LISTS + GM_DATA)

struct cfg {
	int runs;
	bool quick, no_pin, no_floor;
	bool lazy_cq;       /* --lazy-cq-doorbell */
	bool mmap_db;       /* --doorbells mmap */
	bool dir_given;     /* --dir: no falling back to /tmp */
	double secs;        /* per configuration, for each of driver and floor */
	const char *only;
	const char *dir;
	const char *busy_poll;
	const char *server_args[8]; /* --server-arg, passed on to uvfio-nvme */
	int nserver_args;
	uint64_t disk_size;
	int srv_cpu, cli_cpu;
	char nvme[PATH_MAX];
	cpu_set_t all_cpus;
};
static struct cfg G = { .runs = 3, .secs = 1.0, .srv_cpu = -1,
			.cli_cpu = -1, .dir = "/dev/shm" };

/* What the exit path removes: the backing file is 256 MiB of RAM. */
static char dir_path[96], disk_path[128], sock_path[128];
static volatile pid_t server_pid;

/* ---- helpers ------------------------------------------------------------------- */




/* Async-signal-safe: from atexit and from the signal handler. */
static void cleanup(void)
{
	pid_t pid = server_pid;
	if (pid > 0) {
		server_pid = 0;
		kill(pid, SIGTERM);
		/* A server that hangs (or is stopped) gets 2 s, then SIGKILL. */
		struct timespec ms = { 0, 10000000 };
		int i = 0;
		while (waitpid(pid, NULL, WNOHANG) == 0) {
			if (++i == 200)
				kill(pid, SIGKILL);
			nanosleep(&ms, NULL);
		}
	}
	if (sock_path[0])
		unlink(sock_path);
	if (disk_path[0])
		unlink(disk_path);
	if (dir_path[0])
		rmdir(dir_path);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}


static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- latency histogram: every sample, 1/256 relative resolution ---------------- */

/*
 * Log-linear buckets: values below 512 ns exactly, above that 256
 * buckets per power of two (a bucket is at most 0.4% wide).  All samples
 * of a run go in without sorting or storing them, which keeps the I/O
 * loop's bookkeeping to one increment.
 */
#define HSUB 256u
#define HBUCKETS ((64u - 7u) * HSUB)

struct hist {
	uint64_t n;
	uint32_t b[HBUCKETS];
};

static inline unsigned hbucket(uint64_t v)
{
	if (v < HSUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
	return (e - 7u) * HSUB + (unsigned)((v >> (e - 8u)) & (HSUB - 1u));
}

static inline void hadd(struct hist *h, uint64_t v)
{
	h->b[hbucket(v)]++;
	h->n++;
}

/* The middle of bucket i. */
static double hvalue(unsigned i)
{
	if (i < HSUB)
		return i;
	unsigned e = i / HSUB + 7u, m = i % HSUB;
	double lo = (double)((uint64_t)(HSUB + m) << (e - 8u));
	return lo + (double)(1ull << (e - 8u)) / 2.0;
}

/* Nearest-rank percentile, ns. */
static double hpct(const struct hist *h, double p)
{
	if (!h->n)
		return 0;
	uint64_t rank = (uint64_t)((p / 100.0) * (double)h->n + 0.999999);
	if (!rank)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hvalue(i);
	}
	return hvalue(HBUCKETS - 1);
}

/* ---- figures: one value per run, printed as medians ----------------------------- */







/* ---- configurations ---------------------------------------------------------------- */

struct job {
	const char *op;  /* randread, seqread, seqwrite */
	bool write, seq;
	size_t size;
	unsigned qd, nq; /* depth per queue, queues */
	bool irq;
	char name[64];
};

static struct job jobs[64];
static unsigned njobs;

static void add_job(const char *op, size_t size, unsigned qd, unsigned nq,
		    bool irq)
{
	struct job *j = &jobs[njobs++];
	j->op = op;
	j->write = !strcmp(op, "seqwrite");
	j->seq = strncmp(op, "seq", 3) == 0;
	j->size = size;
	j->qd = qd;
	j->nq = nq;
	j->irq = irq;
	snprintf(j->name, sizeof(j->name), "%s_%zuk_qd%u_q%u_%s", op,
		 size / 1024, qd, nq, irq ? "irq" : "poll");
}

static void make_jobs(void)
{
	static const unsigned qds[] = { 1, 8, 32, 128 };
	for (unsigned m = 0; m < 2; m++)
		for (unsigned nq = 1; nq <= 4; nq += 3)
			for (unsigned i = 0; i < 4; i++)
				add_job("randread", 4096, qds[i], nq, m);
	static const char *const seq[] = { "seqread", "seqwrite" };
	for (unsigned m = 0; m < 2; m++)
		for (unsigned o = 0; o < 2; o++) {
			add_job(seq[o], 128 * 1024, 1, 1, m);
			add_job(seq[o], 128 * 1024, 32, 1, m);
		}
}

static bool selected(const struct job *j)
{
	if (!G.only)
		return true;
	/* Comma-separated substrings of the configuration's name. */
	for (const char *p = G.only; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char pat[64];
		if (l && l < sizeof(pat)) {
			memcpy(pat, p, l);
			pat[l] = 0;
			if (strstr(j->name, pat))
				return true;
		}
		p += l + (e ? 1 : 0);
	}
	return false;
}

/* Where the I/O goes: the same stream for driver and floor (same seed),
 * uniform 4 KiB-aligned blocks, or consecutive ones from 0, wrapping. */
struct gen {
	uint64_t x, cursor, nblocks;
	size_t size;
	bool seq;
};

static void gen_init(struct gen *g, const struct job *j, uint64_t seed)
{
	g->x = seed | 1;
	g->cursor = 0;
	g->size = j->size;
	g->seq = j->seq;
	g->nblocks = G.disk_size / j->size;
}

static inline uint64_t gen_next(struct gen *g)
{
	if (g->seq) {
		uint64_t pos = g->cursor;
		g->cursor = g->cursor + 1 == g->nblocks ? 0 : g->cursor + 1;
		return pos * g->size;
	}
	/* xorshift64*: cheap, and the modulo bias over 2^16 blocks is nil */
	g->x ^= g->x >> 12;
	g->x ^= g->x << 25;
	g->x ^= g->x >> 27;
	return ((g->x * 0x2545f4914f6cdd1dull) >> 11) % g->nblocks * g->size;
}

/* One side's figures for one configuration of one run. */
struct result {
	uint64_t ios;     /* completed before the stop time */
	uint64_t ns;      /* from the first submission to the stop time */
	uint64_t doorbells; /* posted writes (driver only) */
	uint64_t wakeups;   /* poll() returns (irq mode) */
	struct hist h;    /* every completion's latency */
};

/* ---- the driver side ----------------------------------------------------------------- */

struct slot {
	uint64_t t0;
	size_t data, list; /* guest offsets */
};

struct nvme_ctx {
	struct nh h;
	struct uvfio_client *c;
	size_t lists, data;
};

static struct nvme_ctx N;
static struct slot slots[MAX_QUEUES * MAX_QD];

static inline void nvme_put(const struct job *j, struct nh_queue *q,
			    unsigned k, unsigned cid, struct gen *g)
{
	struct nh_sqe e;
	nh_rw_cmd(&N.h, &e, j->write ? NH_OPC_WRITE : NH_OPC_READ,
		  (uint16_t)cid, gen_next(g), slots[k].data, j->size,
		  slots[k].list);
	nh_sq_put(q, &e);
}

/* No completion for STALL_NS: say what the device and the queues look
 * like, so a hang can be told from a dead server. */
static void stall(const struct job *j, struct nh_queue *const *qs)
	__attribute__((noreturn));
static void stall(const struct job *j, struct nh_queue *const *qs)
{
	int status;
	pid_t pid = server_pid;
	if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
		server_pid = 0;
		if (WIFSIGNALED(status))
			bench_die("%s: uvfio-nvme died of signal %d", j->name,
			    WTERMSIG(status));
		bench_die("%s: uvfio-nvme exited with status %d", j->name,
		    WEXITSTATUS(status));
	}
	uint32_t csts = 0;
	int r = uvfio_client_region_read(N.c, UVFIO_PCI_BAR0, NH_REG_CSTS, &csts, 4);
	for (unsigned i = 0; i < j->nq; i++)
		bench_note("queue %u: SQ tail %u (device told %u), CQ head %u (told "
		     "%u), phase %d", qs[i]->qid, qs[i]->sq_tail, qs[i]->sq_rung,
		     qs[i]->cq_head, qs[i]->cq_rung, qs[i]->phase);
	bench_die("%s: no completion for %llu s; CSTS %#x (%s)", j->name,
	    STALL_NS / 1000000000ull, csts, r ? strerror(-r) : "read");
}

static void ring(struct nh_queue *q, bool cq, struct result *r)
{
	bool moved = cq ? q->cq_head != q->cq_rung : q->sq_tail != q->sq_rung;
	if (!moved)
		return;
	int e = cq ? nh_cq_ring(&N.h, q) : nh_sq_ring(&N.h, q);
	if (e)
		bench_die("doorbell: %s", strerror(-e));
	r->doorbells++;
}

/*
 * Run j for dur ns: fill every queue to its depth, then each completion
 * resubmits its slot until the stop time, then drain.  A pass over a CQ
 * reaps what the device posted, writes the slots' next commands, then
 * rings the SQ tail and the CQ head once each (SQ first: the new work
 * reaches the device one message sooner), as Linux's nvme driver does
 * per batch.
 */
static void nvme_slice(const struct job *j, uint64_t dur, struct gen *g,
		       struct result *res)
{
	struct nh_queue *qs[MAX_QUEUES];
	struct pollfd pfd[MAX_QUEUES + 1];
	unsigned inflight = 0;

	for (unsigned i = 0; i < j->nq; i++) {
		qs[i] = &N.h.q[(j->irq ? IRQ_QID : POLL_QID) + i];
		pfd[i] = (struct pollfd){ .fd = qs[i]->efd, .events = POLLIN };
		for (unsigned s = 0; s < j->qd; s++)
			nvme_put(j, qs[i], i * j->qd + s, s, g);
	}
	/* The client's own fd: in fd-backed memory the device sends us
	 * nothing, but a VMM's loop would watch it, and so do we. */
	pfd[j->nq] = (struct pollfd){ .fd = uvfio_client_poll_fd(N.c),
				      .events = POLLIN };
	uint64_t start = bench_now_ns(), stop = start + dur, last = start;
	uint64_t serviced = start;
	for (unsigned i = 0; i < j->nq; i++) {
		uint64_t t = bench_now_ns();
		for (unsigned s = 0; s < j->qd; s++)
			slots[i * j->qd + s].t0 = t;
		ring(qs[i], false, res);
		inflight += j->qd;
	}
	bool running = true;
	uint64_t spins = 0;
	while (inflight) {
		if (j->irq) {
			int n = poll(pfd, j->nq + 1, (int)(STALL_NS / 1000000));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_die("poll: %s", strerror(errno));
			if (n == 0)
				stall(j, qs);
			res->wakeups++;
			for (unsigned i = 0; i < j->nq; i++) {
				uint64_t v;
				if ((pfd[i].revents & POLLIN) &&
				    read(pfd[i].fd, &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					bench_die("eventfd: %s", strerror(errno));
			}
			if (pfd[j->nq].revents & POLLIN) {
				int r = uvfio_client_process(N.c);
				if (r)
					bench_die("client: %s", strerror(-r));
			}
		}
		bool found = false;
		for (unsigned i = 0; i < j->nq; i++) {
			struct nh_queue *q = qs[i];
			const uint8_t *e = nh_cq_peek(q);
			if (!e)
				continue;
			found = true;
			uint64_t t = bench_now_ns();
			unsigned resub[MAX_QD], nr = 0;
			do {
				unsigned cid = nh_cqe_cid(e), st = nh_cqe_status(e);
				if (cid >= j->qd || st)
					bench_die("%s: CQE cid %u status %#x", j->name,
					    cid, st);
				unsigned k = i * j->qd + cid;
				hadd(&res->h, t - slots[k].t0);
				if (t < stop)
					res->ios++;
				nh_cq_pop(q);
				if (running) {
					nvme_put(j, q, k, cid, g);
					resub[nr++] = k;
				} else {
					inflight--;
				}
			} while ((e = nh_cq_peek(q)));
			if (nr) {
				uint64_t t1 = bench_now_ns();
				for (unsigned x = 0; x < nr; x++)
					slots[resub[x]].t0 = t1;
				ring(q, false, res);
			}
			/* Lazily: the device needs the CQ head only to know
			 * the CQ has room; a quarter of it is plenty while
			 * at most MAX_QD of its QENTRIES are in flight. */
			if (!G.lazy_cq ||
			    (uint16_t)(q->cq_head - q->cq_rung + q->size) % q->size >=
				    q->size / 4)
				ring(q, true, res);
			last = t;
			if (running && t >= stop)
				running = false;
		}
		if (!found && !j->irq) {
			cpu_relax();
			if (++spins % 256 == 0) {
				uint64_t t = bench_now_ns();
				if (running && t >= stop)
					running = false;
				/*
				 * A posted write the socket had no room for
				 * waits in the client's queue until the client
				 * is serviced (a VMM's loop does that when the
				 * poll fd says so): a polled driver that only
				 * watched memory would wait for ever.  After
				 * 50 us without a completion, service it.
				 */
				if (t - last > 50000 && t - serviced > 50000) {
					int r = uvfio_client_process(N.c);
					if (r)
						bench_die("client: %s", strerror(-r));
					serviced = t;
				}
				if (t - last > STALL_NS)
					stall(j, qs);
			}
		}
	}
	res->ns += stop - start;
	/* Untimed and uncounted: the next slice starts with the device
	 * knowing every CQ head (a lazy driver may owe it some). */
	for (unsigned i = 0; i < j->nq; i++) {
		int r = nh_cq_ring(&N.h, qs[i]);
		if (r)
			bench_die("doorbell: %s", strerror(-r));
	}
}

/* ---- the floor: io_uring on the same file ----------------------------------------------- */

struct floor_ctx {
	int fd;
	uint8_t *buf; /* anonymous: one slot buffer per command */
	size_t buf_size;
	struct io_uring ring[MAX_QUEUES];
	unsigned ring_qd[MAX_QUEUES];
	int efd[MAX_QUEUES];
	uint64_t t0[MAX_QUEUES * MAX_QD];
};

static struct floor_ctx F;

static void floor_rings(const struct job *j)
{
	/* One ring per NVMe queue pair, with the pair's depth; rings are
	 * kept across configurations of the same depth. */
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		unsigned want = i < j->nq ? j->qd : 0;
		if (F.ring_qd[i] == want)
			continue;
		if (F.ring_qd[i])
			io_uring_queue_exit(&F.ring[i]);
		F.ring_qd[i] = 0;
		if (!want)
			continue;
		int r = io_uring_queue_init(want, &F.ring[i], 0);
		if (r) {
			fprintf(stderr, "uvfio-bench-nvme: io_uring: %s: no "
					"floor, nothing to compare with\n",
				strerror(-r));
			/* meson's "skipped": a kernel or sandbox without
			 * io_uring is no failure of ours */
			exit(77);
		}
		r = io_uring_register_eventfd(&F.ring[i], F.efd[i]);
		if (r)
			bench_die("io_uring_register_eventfd: %s", strerror(-r));
		/*
		 * tmpfs cannot read or write without blocking as io_uring
		 * asks first (no FMODE_NOWAIT), so every request goes to an
		 * io-wq worker thread.  It would inherit our CPU, where the
		 * polling loop spins, and wait for the scheduler to preempt
		 * it (milliseconds).  The worker does what uvfio-nvme does,
		 * so it gets uvfio-nvme's CPU.
		 */
		if (G.srv_cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(G.srv_cpu, &set);
			r = io_uring_register_iowq_aff(&F.ring[i], sizeof(set), &set);
			if (r)
				bench_die("io_uring_register_iowq_aff: %s", strerror(-r));
		}
		F.ring_qd[i] = want;
	}
}

static inline void floor_put(const struct job *j, unsigned i, unsigned s,
			     struct gen *g)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&F.ring[i]);
	if (!sqe)
		bench_die("io_uring: no SQE free");
	uint8_t *b = F.buf + (size_t)(i * j->qd + s) * j->size;
	if (j->write)
		io_uring_prep_write(sqe, F.fd, b, (unsigned)j->size,
				    gen_next(g));
	else
		io_uring_prep_read(sqe, F.fd, b, (unsigned)j->size,
				   gen_next(g));
	io_uring_sqe_set_data64(sqe, s);
}

static void floor_submit(struct io_uring *r)
{
	int n = io_uring_submit(r);
	if (n < 0)
		bench_die("io_uring_submit: %s", strerror(-n));
}

/* The same loop as nvme_slice(), one ring for one queue pair: a ring's
 * submit is the doorbell, its CQ the NVMe CQ, its eventfd the vector. */
static void floor_slice(const struct job *j, uint64_t dur, struct gen *g,
			struct result *res)
{
	struct pollfd pfd[MAX_QUEUES];
	unsigned inflight = 0;

	floor_rings(j);
	for (unsigned i = 0; i < j->nq; i++) {
		pfd[i] = (struct pollfd){ .fd = F.efd[i], .events = POLLIN };
		for (unsigned s = 0; s < j->qd; s++)
			floor_put(j, i, s, g);
	}
	uint64_t start = bench_now_ns(), stop = start + dur, last = start;
	for (unsigned i = 0; i < j->nq; i++) {
		uint64_t t = bench_now_ns();
		for (unsigned s = 0; s < j->qd; s++)
			F.t0[i * j->qd + s] = t;
		floor_submit(&F.ring[i]);
		inflight += j->qd;
	}
	bool running = true;
	uint64_t spins = 0;
	while (inflight) {
		if (j->irq) {
			int n = poll(pfd, j->nq, (int)(STALL_NS / 1000000));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_die("poll: %s", strerror(errno));
			if (n == 0)
				bench_die("floor %s: no completion", j->name);
			res->wakeups++;
			for (unsigned i = 0; i < j->nq; i++) {
				uint64_t v;
				if ((pfd[i].revents & POLLIN) &&
				    read(pfd[i].fd, &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					bench_die("eventfd: %s", strerror(errno));
			}
		}
		bool found = false;
		for (unsigned i = 0; i < j->nq; i++) {
			struct io_uring *r = &F.ring[i];
			struct io_uring_cqe *cqe;
			unsigned head, n = 0, resub[MAX_QD], nr = 0;
			uint64_t t = 0;
			io_uring_for_each_cqe(r, head, cqe) {
				if (!n)
					t = bench_now_ns();
				n++;
				unsigned s = (unsigned)io_uring_cqe_get_data64(cqe);
				if (cqe->res != (int)j->size)
					bench_die("floor %s: I/O returned %d", j->name,
					    cqe->res);
				unsigned k = i * j->qd + s;
				hadd(&res->h, t - F.t0[k]);
				if (t < stop)
					res->ios++;
				if (running) {
					floor_put(j, i, s, g);
					resub[nr++] = k;
				} else {
					inflight--;
				}
			}
			if (!n)
				continue;
			found = true;
			io_uring_cq_advance(r, n);
			if (nr) {
				uint64_t t1 = bench_now_ns();
				for (unsigned x = 0; x < nr; x++)
					F.t0[resub[x]] = t1;
				floor_submit(r);
			}
			last = t;
			if (running && t >= stop)
				running = false;
		}
		if (!found && !j->irq) {
			cpu_relax();
			if (++spins % 256 == 0) {
				uint64_t t = bench_now_ns();
				if (running && t >= stop)
					running = false;
				if (t - last > STALL_NS)
					bench_die("floor %s: no completion", j->name);
			}
		}
	}
	res->ns += stop - start;
}

/* ---- one configuration: alternating slices ------------------------------------------- */

/*
 * Context, not the floor: the same I/O one at a time with
 * pread/pwrite from this thread, no queue and no hand-off to another
 * thread.  io_uring cannot do that on tmpfs (floor_rings() says why), so
 * this is what the copy alone costs; taken for the depth-1 single-queue
 * configurations only, where it bounds latency from below.
 */
static void sync_slice(const struct job *j, uint64_t dur, struct gen *g,
		       struct result *res)
{
	uint64_t start = bench_now_ns(), stop = start + dur, t = start;
	while (t < stop) {
		uint64_t pos = gen_next(g), t0 = t;
		ssize_t n = j->write ? pwrite(F.fd, F.buf, j->size, (off_t)pos)
				     : pread(F.fd, F.buf, j->size, (off_t)pos);
		if (n != (ssize_t)j->size)
			bench_die("sync %s: %zd", j->name, n);
		t = bench_now_ns();
		hadd(&res->h, t - t0);
		res->ios++;
	}
	res->ns += t - start;
}

static struct result RN, RF, RS;

static double iops_of(const struct result *r)
{
	return r->ns ? (double)r->ios / ((double)r->ns / 1e9) : 0;
}

static void record(const struct job *j, const struct result *r,
		   const char *side)
{
	double iops = iops_of(r);
	bench_rec("iops", 0, iops, "nvme_%s_%siops", j->name, side);
	bench_rec("MB/s", 1, iops * (double)j->size / 1e6, "nvme_%s_%smbps", j->name,
	    side);
	bench_rec("us", 1, hpct(&r->h, 50) / 1e3, "nvme_%s_%sp50", j->name, side);
	bench_rec("us", 1, hpct(&r->h, 99) / 1e3, "nvme_%s_%sp99", j->name, side);
}

static void run_job(const struct job *j, uint64_t seed)
{
	/* Slices: the floor and the driver take turns, so a neighbour's
	 * build or the hypervisor hits both alike. */
	unsigned nslices = G.quick ? 1 : 4;
	uint64_t total = (uint64_t)(G.secs * 1e9);
	uint64_t slice = total / nslices, warm = total / 20;
	bool sync = j->qd == 1 && j->nq == 1 && !G.no_floor;
	struct gen gn, gf, gs;
	gen_init(&gn, j, seed);
	gen_init(&gf, j, seed);
	gen_init(&gs, j, seed);

	if (warm < 2000000)
		warm = 2000000;
	/* Warm-up, not recorded: caches, the rings' first use, io-wq's
	 * workers starting. */
	if (!G.no_floor)
		floor_slice(j, warm, &gf, &RF);
	nvme_slice(j, warm, &gn, &RN);
	memset(&RN, 0, sizeof(RN));
	memset(&RF, 0, sizeof(RF));
	memset(&RS, 0, sizeof(RS));
	for (unsigned s = 0; s < nslices; s++) {
		if (!G.no_floor)
			floor_slice(j, slice, &gf, &RF);
		nvme_slice(j, slice, &gn, &RN);
		if (sync)
			sync_slice(j, slice, &gs, &RS);
	}
	record(j, &RN, "");
	double p50 = hpct(&RN.h, 50), fp50 = hpct(&RF.h, 50);
	if (G.no_floor) {
		bench_note("%-26s %8.0f iops %7.1f us p50 %7.1f us p99 | %.2f "
		     "doorbells/io, %.2f wake-ups/io", j->name, iops_of(&RN),
		     p50 / 1e3, hpct(&RN.h, 99) / 1e3,
		     RN.h.n ? (double)RN.doorbells / (double)RN.h.n : 0,
		     RN.h.n ? (double)RN.wakeups / (double)RN.h.n : 0);
		return;
	}
	record(j, &RF, "floor_");
	double ratio = iops_of(&RF) > 0 ? iops_of(&RN) / iops_of(&RF) : 0;
	bench_rec("x", 3, ratio, "nvme_%s_ratio", j->name);
	bench_rec("x", 3, fp50 > 0 ? p50 / fp50 : 0, "nvme_%s_p50_ratio", j->name);
	bench_rec("us", 1, (p50 - fp50) / 1e3, "nvme_%s_p50_excess", j->name);
	if (sync) {
		record(j, &RS, "sync_");
		bench_rec("x", 3, iops_of(&RS) > 0 ? iops_of(&RN) / iops_of(&RS) : 0,
		    "nvme_%s_sync_ratio", j->name);
	}
	bench_note("%-26s %8.0f iops %7.1f us p50 %7.1f us p99 | floor %8.0f iops "
	     "%6.1f us %6.1f us | %.3fx | %.2f doorbells/io%s",
	     j->name, iops_of(&RN), p50 / 1e3, hpct(&RN.h, 99) / 1e3,
	     iops_of(&RF), fp50 / 1e3, hpct(&RF.h, 99) / 1e3, ratio,
	     RN.h.n ? (double)RN.doorbells / (double)RN.h.n : 0,
	     j->irq ? "" : " (poll)");
	if (j->irq)
		bench_note("%-26s %.2f wake-ups/io, floor %.2f", "",
		     RN.h.n ? (double)RN.wakeups / (double)RN.h.n : 0,
		     RF.h.n ? (double)RF.wakeups / (double)RF.h.n : 0);
	if (sync)
		bench_note("%-26s sync pread/pwrite: %.0f iops, p50 %.1f us, p99 %.1f us",
		     "", iops_of(&RS), hpct(&RS.h, 50) / 1e3,
		     hpct(&RS.h, 99) / 1e3);
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* A fresh directory for the file and the socket in dir: true, or false
 * with errno set. */
static bool make_dir(const char *dir)
{
	snprintf(dir_path, sizeof(dir_path), "%s/uvfio-bench-nvme.XXXXXX", dir);
	if (mkdtemp(dir_path))
		return true;
	int e = errno;
	dir_path[0] = 0;
	errno = e;
	return false;
}

static void make_disk(void)
{
	/* The socket's path must fit sun_path (108 bytes). */
	if (strlen(G.dir) > 64)
		bench_die("--dir %s: too long for a socket path in it", G.dir);
	if (!make_dir(G.dir)) {
		int e = errno;
		if (G.dir_given)
			bench_die("mkdtemp in %s: %s", G.dir, strerror(e));
		/* A sandbox without /dev/shm can still smoke-test us. */
		const char *tmp = getenv("TMPDIR");
		tmp = tmp && *tmp && strlen(tmp) <= 64 ? tmp : "/tmp";
		bench_note("%s: %s: the file goes in %s, which may not be tmpfs",
		     G.dir, strerror(e), tmp);
		G.dir = tmp;
		if (!make_dir(G.dir))
			bench_die("mkdtemp in %s: %s (give --dir)", G.dir,
			    strerror(errno));
	}
	snprintf(disk_path, sizeof(disk_path), "%s/disk.img", dir_path);
	snprintf(sock_path, sizeof(sock_path), "%s/nvme.sock", dir_path);

	int fd = open(disk_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_die("%s: %s", disk_path, strerror(errno));
	/* Real pages with data in them: a hole in tmpfs reads as the shared
	 * zero page, which would flatter both sides. */
	size_t chunk = 1u << 20;
	uint8_t *b = malloc(chunk);
	if (!b)
		bench_die("out of memory");
	for (uint64_t off = 0; off < G.disk_size; off += chunk) {
		for (size_t i = 0; i < chunk; i += 8) {
			uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull;
			memcpy(b + i, &v, 8);
		}
		if (pwrite(fd, b, chunk, (off_t)off) != (ssize_t)chunk)
			bench_die("filling %s: %s", disk_path, strerror(errno));
	}
	free(b);
	F.fd = fd;
}

/* The client's complaints, except those of the connection attempts made
 * before the server listens. */
static bool connecting = true;

static void client_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	if (!connecting)
		bench_note("client: %s", msg);
}

static void start_server(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (!pid) {
		/* A bench that dies takes its server along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bench_pin(G.srv_cpu, &G.all_cpus);
		const char *argv[24];
		int n = 0;
		argv[n++] = G.nvme;
		argv[n++] = "--socket";
		argv[n++] = sock_path;
		argv[n++] = "--disk";
		argv[n++] = disk_path;
		argv[n++] = "--queues";
		argv[n++] = SERVER_QUEUES;
		if (G.busy_poll) {
			argv[n++] = "--busy-poll";
			argv[n++] = G.busy_poll;
		}
		if (G.mmap_db) {
			argv[n++] = "--doorbells";
			argv[n++] = "mmap";
		}
		for (int i = 0; i < G.nserver_args; i++)
			argv[n++] = G.server_args[i];
		argv[n] = NULL;
		execv(G.nvme, (char *const *)argv);
		fprintf(stderr, "uvfio-bench-nvme: cannot run %s: %s\n", G.nvme,
			strerror(errno));
		_exit(127);
	}
	server_pid = pid;

	int r = uvfio_client_create(&N.c);
	if (r)
		bench_die("client: %s", strerror(-r));
	uvfio_client_set_log(N.c, client_log, NULL, UVFIO_LOG_ERR);
	/* Until the socket accepts a connection: the server creates it
	 * some time after exec. */
	for (int i = 0; i < 1000; i++) {
		r = uvfio_client_connect(N.c, sock_path);
		if (r != -ENOENT && r != -ECONNREFUSED)
			break;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			server_pid = 0;
			bench_die("%s exited at start", G.nvme);
		}
		usleep(10000);
	}
	connecting = false;
	if (r)
		bench_die("cannot connect to %s: %s", sock_path, strerror(-r));
}

static void setup_driver(void)
{
	int r = nh_open(&N.h, N.c, GM_SIZE, GM_QUEUES);
	if (r)
		bench_die("guest memory: %s", strerror(-r));
	N.lists = GM_QUEUES;
	N.data = GM_QUEUES + GM_LISTS;
	if (G.mmap_db && (r = nh_map_doorbells(&N.h)))
		bench_die("mapping the doorbell page: %s", strerror(-r));
	if ((r = nh_enable(&N.h, 32)))
		bench_die("enable: %s", r > 0 ? "command failed" : strerror(-r));
	if ((r = nh_msix_enable(&N.h, IRQ_QID + MAX_QUEUES)))
		bench_die("MSI-X: %s", strerror(-r));
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		if ((r = nh_create_pair(&N.h, POLL_QID + i, QENTRIES, false)) ||
		    (r = nh_create_pair(&N.h, IRQ_QID + i, QENTRIES, true)))
			bench_die("queue creation: %s",
			    r > 0 ? "command failed" : strerror(-r));
	}
	uint64_t ns = nh_ns_bytes(&N.h);
	if (ns != G.disk_size)
		bench_die("namespace of %" PRIu64 " bytes, the file has %" PRIu64, ns,
		    G.disk_size);

	/* One read through the whole path, compared with the file: the
	 * figures are of I/O that really happened. */
	struct nh_queue *q = &N.h.q[POLL_QID];
	struct nh_sqe e;
	uint64_t pos = G.disk_size / 2 + 3 * NH_PAGE;
	nh_rw_cmd(&N.h, &e, NH_OPC_READ, 7, pos, N.data, 3 * NH_PAGE, N.lists);
	nh_sq_put(q, &e);
	if ((r = nh_sq_ring(&N.h, q)))
		bench_die("doorbell: %s", strerror(-r));
	uint64_t t = bench_now_ns();
	const uint8_t *c;
	while (!(c = nh_cq_peek(q))) {
		if (bench_now_ns() - t > STALL_NS)
			bench_die("the check read did not complete");
		uvfio_client_process(N.c);
	}
	if (nh_cqe_cid(c) != 7 || nh_cqe_status(c))
		bench_die("the check read failed: status %#x", nh_cqe_status(c));
	nh_cq_pop(q);
	if ((r = nh_cq_ring(&N.h, q)))
		bench_die("doorbell: %s", strerror(-r));
	uint8_t want[3 * NH_PAGE];
	if (pread(F.fd, want, sizeof(want), (off_t)pos) != (ssize_t)sizeof(want) ||
	    memcmp(want, N.h.mem + N.data, sizeof(want)))
		bench_die("the check read returned other data than the file holds");

	for (unsigned i = 0; i < njobs; i++)
		if ((size_t)jobs[i].qd * jobs[i].nq * jobs[i].size > GM_DATA)
			bench_die("guest data area too small for %s", jobs[i].name);
}

/* Buffers of configuration j: slot k at k * size, in both worlds. */
static void layout(const struct job *j)
{
	for (unsigned k = 0; k < j->nq * j->qd; k++) {
		slots[k].data = N.data + (size_t)k * j->size;
		slots[k].list = N.lists + (size_t)k * NH_PAGE;
	}
}

static void setup_floor(void)
{
	size_t biggest = 0;
	for (unsigned i = 0; i < njobs; i++) {
		size_t b = (size_t)jobs[i].qd * jobs[i].nq * jobs[i].size;
		if (b > biggest)
			biggest = b;
	}
	F.buf_size = biggest;
	F.buf = mmap(NULL, biggest, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (F.buf == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	memset(F.buf, 0x5a, biggest); /* faulted in now, not while timed */
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		F.efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (F.efd[i] < 0)
			bench_die("eventfd: %s", strerror(errno));
	}
}

/* ---- report ---------------------------------------------------------------------------------- */

static void print_figures(void)
{
	bench_flush();
	fflush(stdout);
}

static void print_table(void)
{
	fprintf(stderr,
		"\n%-26s %9s %8s %7s %7s | %9s %8s %7s %7s | %6s %6s\n",
		"configuration", "iops", "MB/s", "p50 us", "p99 us",
		"floor iops", "MB/s", "p50 us", "p99 us", "ratio", "p50+");
	for (unsigned i = 0; i < njobs; i++) {
		const char *n = jobs[i].name;
		if (bench_fig("nvme_%s_iops", n) < 0)
			continue;
		fprintf(stderr,
			"%-26s %9.0f %8.1f %7.1f %7.1f | %9.0f %8.1f %7.1f "
			"%7.1f | %6.3f %6.1f\n",
			n, bench_fig("nvme_%s_iops", n), bench_fig("nvme_%s_mbps", n),
			bench_fig("nvme_%s_p50", n), bench_fig("nvme_%s_p99", n),
			bench_fig("nvme_%s_floor_iops", n), bench_fig("nvme_%s_floor_mbps", n),
			bench_fig("nvme_%s_floor_p50", n), bench_fig("nvme_%s_floor_p99", n),
			bench_fig("nvme_%s_ratio", n), bench_fig("nvme_%s_p50_excess", n));
	}
	fprintf(stderr, "\n%-26s %9s %8s %7s %7s | %6s\n",
		"sync pread/pwrite", "iops", "MB/s", "p50 us", "p99 us",
		"ratio");
	for (unsigned i = 0; i < njobs; i++) {
		const char *n = jobs[i].name;
		if (bench_fig("nvme_%s_sync_iops", n) < 0)
			continue;
		fprintf(stderr, "%-26s %9.0f %8.1f %7.1f %7.1f | %6.3f\n", n,
			bench_fig("nvme_%s_sync_iops", n), bench_fig("nvme_%s_sync_mbps", n),
			bench_fig("nvme_%s_sync_p50", n), bench_fig("nvme_%s_sync_p99", n),
			bench_fig("nvme_%s_sync_ratio", n));
	}
}

/* The targets, judged on the medians (stderr only: they are
 * verdicts, not figures). */
static void print_targets(void)
{
	if (G.quick) {
		fprintf(stderr, "\ntargets: not judged on a --quick run\n");
		return;
	}
	fprintf(stderr, "\ntargets:\n");
	for (unsigned i = 0; i < njobs; i++) {
		const struct job *j = &jobs[i];
		double v;
		if (!strcmp(j->op, "randread") && j->qd == 32 &&
		    (v = bench_fig("nvme_%s_ratio", j->name)) >= 0)
			fprintf(stderr, "  %-26s IOPS %.3f of the floor's (>= 0.50): %s\n",
				j->name, v, v >= 0.5 ? "met" : "MISSED");
		if (!strcmp(j->op, "randread") && j->qd == 1 && j->nq == 1 &&
		    (v = bench_fig("nvme_%s_p50", j->name)) >= 0) {
			double f = bench_fig("nvme_%s_floor_p50", j->name);
			fprintf(stderr, "  %-26s p50 %.1f us, floor %.1f + 15 = %.1f: %s\n",
				j->name, v, f, f + 15, v <= f + 15 ? "met" : "MISSED");
		}
		if (j->seq && (v = bench_fig("nvme_%s_ratio", j->name)) >= 0)
			fprintf(stderr, "  %-26s MB/s %.3f of the floor's (>= 0.80): %s\n",
				j->name, v, v >= 0.8 ? "met" : "MISSED");
	}
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-bench-nvme [options]\n"
		"\n"
		"Block I/O through uvfio-nvme from an NVMe host driver on the\n"
		"uvfio client, next to the same I/O with io_uring on the same\n"
		"tmpfs file; prints name=value unit lines (medians over runs).\n"
		"  --runs N          runs of every configuration (default 3)\n"
		"  --time SEC        per configuration and run, for the driver and\n"
		"                    again for the floor (default 1)\n"
		"  --only S[,S...]   configurations whose name contains S\n"
		"                    (e.g. randread_4k_qd32, _irq, seqwrite)\n"
		"  --quick           a smoke test: tiny file, ~25 ms per\n"
		"                    configuration, one run unless --runs\n"
		"  --nvme PATH       uvfio-nvme to run (default: next to us,\n"
		"                    ../samples/nvme/uvfio-nvme)\n"
		"  --dir DIR         where the backing file goes (default\n"
		"                    /dev/shm: tmpfs; else $TMPDIR or /tmp)\n"
		"  --disk-size MIB   backing file size in MiB (default 256)\n"
		"  --busy-poll USEC  run uvfio-nvme with --busy-poll USEC\n"
		"  --server-arg ARG  one more argument for uvfio-nvme (repeat it:\n"
		"                    --server-arg=--io-backend --server-arg=uring)\n"
		"  --server-cpu N, --client-cpu N   pin them (default: client\n"
		"                    on the first allowed CPU, server on the last)\n"
		"  --no-pin          leave placement to the scheduler\n"
		"  --no-floor        the driver alone, no floor and no ratios\n"
		"                    (for profiling the driver and the server)\n"
		"  --lazy-cq-doorbell  ring a CQ's head doorbell once a quarter\n"
		"                    of it was consumed, not after every batch\n"
		"  --doorbells MODE  msg: posted writes as messages (default);\n"
		"                    mmap: uvfio-nvme --doorbells mmap, and the\n"
		"                    driver maps BAR0, so a doorbell is a store\n");
}

static void find_nvme(void)
{
	bench_sibling(G.nvme, sizeof(G.nvme), "../samples/nvme/uvfio-nvme");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, 'q' },
		{ "nvme", required_argument, NULL, 'N' },
		{ "dir", required_argument, NULL, 'D' },
		{ "disk-size", required_argument, NULL, 'z' },
		{ "busy-poll", required_argument, NULL, 'b' },
		{ "server-arg", required_argument, NULL, 'A' },
		{ "server-cpu", required_argument, NULL, 's' },
		{ "client-cpu", required_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'n' },
		{ "no-floor", no_argument, NULL, 'F' },
		{ "lazy-cq-doorbell", no_argument, NULL, 'L' },
		{ "doorbells", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};

	bench_prog = "uvfio-bench-nvme";
	uint64_t disk_mib = 0;
	bool runs_given = false;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			runs_given = true;
			G.runs = atoi(optarg);
			if (G.runs < 1 || G.runs > MAX_RUNS)
				bench_die("--runs: 1 to %d", MAX_RUNS);
			break;
		case 't':
			G.secs = strtod(optarg, &end);
			if (*end || !(G.secs > 0) || G.secs > 3600)
				bench_die("--time wants seconds, got '%s'", optarg);
			break;
		case 'o':
			G.only = optarg;
			break;
		case 'q':
			G.quick = true;
			break;
		case 'N':
			snprintf(G.nvme, sizeof(G.nvme), "%s", optarg);
			break;
		case 'D':
			G.dir = optarg;
			G.dir_given = true;
			break;
		case 'z':
			disk_mib = strtoull(optarg, &end, 10);
			if (*end || disk_mib < 1 || disk_mib > (1u << 20))
				bench_die("--disk-size wants MiB, got '%s'", optarg);
			break;
		case 'b':
			G.busy_poll = optarg;
			break;
		case 'A':
			if (G.nserver_args == 8)
				bench_die("--server-arg: 8 at most");
			G.server_args[G.nserver_args++] = optarg;
			break;
		case 's':
			G.srv_cpu = atoi(optarg);
			break;
		case 'c':
			G.cli_cpu = atoi(optarg);
			break;
		case 'n':
			G.no_pin = true;
			break;
		case 'F':
			G.no_floor = true;
			break;
		case 'L':
			G.lazy_cq = true;
			break;
		case 'B':
			if (strcmp(optarg, "msg") && strcmp(optarg, "mmap"))
				bench_die("--doorbells wants msg or mmap, got '%s'",
				    optarg);
			G.mmap_db = !strcmp(optarg, "mmap");
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
	if (G.quick) {
		G.secs = 0.012;
		if (!runs_given)
			G.runs = 1;
	}
	G.disk_size = (disk_mib ? disk_mib : G.quick ? 16 : 256) << 20;
	if (!G.nvme[0])
		find_nvme();
	if (access(G.nvme, X_OK))
		bench_die("%s: %s (give --nvme)", G.nvme, strerror(errno));
	make_jobs();
	bool any = false;
	for (unsigned i = 0; i < njobs; i++)
		any |= selected(&jobs[i]);
	if (!any)
		bench_die("--only %s selects no configuration", G.only);

	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (sched_getaffinity(0, sizeof(G.all_cpus), &G.all_cpus))
		CPU_ZERO(&G.all_cpus);
	/* As uvfio-bench: unpinned, whether the two ends share a CPU is the
	 * scheduler's choice, and may differ between driver and floor. */
	if (!G.no_pin && G.srv_cpu < 0 && G.cli_cpu < 0 &&
	    CPU_COUNT(&G.all_cpus) >= 2) {
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &G.all_cpus)) {
				if (G.cli_cpu < 0)
					G.cli_cpu = i;
				G.srv_cpu = i;
			}
	}

	make_disk();
	start_server();
	/* Pin after the server exists: bench_pin(, &G.all_cpus) gives it its own CPU. */
	if (G.cli_cpu >= 0)
		bench_pin(G.cli_cpu, &G.all_cpus);
	setup_floor();
	setup_driver();
	double load[3] = { 0 };
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	bench_note("%d run(s)%s of %.3g s per side, %s (%" PRIu64 " MiB in %s), "
	     "doorbells %s%s, client CPU %d, server CPU %d, load %.2f",
	     G.runs, G.quick ? " (quick)" : "", G.secs, G.nvme,
	     G.disk_size >> 20, G.dir, G.mmap_db ? "mmap" : "msg",
	     G.lazy_cq ? " (lazy CQ head)" : "", G.cli_cpu, G.srv_cpu,
	     load[0]);
	for (int i = 0; i < G.nserver_args; i++)
		bench_note("server argument: %s", G.server_args[i]);

	for (int run = 0; run < G.runs; run++)
		for (unsigned i = 0; i < njobs; i++) {
			if (!selected(&jobs[i]))
				continue;
			layout(&jobs[i]);
			run_job(&jobs[i], 0x5eed0000u + i * 7919u + (unsigned)run);
		}
	print_figures();
	if (!G.no_floor) {
		print_table();
		print_targets();
	}

	nh_close(&N.h);
	uvfio_client_destroy(N.c);
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		if (F.ring_qd[i])
			io_uring_queue_exit(&F.ring[i]);
		close(F.efd[i]);
	}
	close(F.fd);
	munmap(F.buf, F.buf_size);
	return 0;
}
