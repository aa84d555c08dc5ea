/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme as a process, driven by a host NVMe driver written here on
 * the uvfio client: memfd-backed "guest memory" given as an fd-backed DMA
 * window, queues built in it, doorbells rung with posted writes,
 * completions found by polling the CQ phase tag.  The backing file is
 * read directly to check that data landed where the LBAs say.
 *
 * Every case runs twice: with the memfd window, and with message-only
 * guest memory (anonymous, mapped with fd -1, as QEMU maps anonymous
 * guest RAM), where every access of the device is a DMA message the
 * client serves while it polls the CQ (uvfio_client_process).  Then, on
 * fd-backed memory, what asynchronous I/O must get right: many commands
 * in flight on every queue, completing in any order, exactly once; and
 * reset, shutdown, Delete I/O SQ, DEVICE_RESET, DMA_UNMAP and a lost
 * client while they are; backing-store errors as NVMe statuses; and the
 * fall back to the thread pool where io_uring is refused.
 *
 * Doorbells three ways: posted region writes; stores to the doorbell page
 * of a server with --doorbells mmap, mapped with uvfio_client_region_mmap
 * (the device polls it); and shadow doorbells (Doorbell Buffer Config),
 * where the host follows Linux's EventIdx rule and writes the register
 * (by message or store) only when it says so.
 *
 * Migration: the controller's state moved to a second server on the same
 * file, the host going on there on the same queues and guest memory.
 *
 *   test-nvme PATH-TO-uvfio-nvme [uring|threads [auto|never|always]]
 *
 * The second argument is the --io-backend every server gets, the third
 * its --io-inline (default auto); the test checks in the server's log
 * (-v) that the backend is the one that ran, and with always that reads
 * and writes at low depth ran inline (the files are under /tmp, which
 * may be on a disk file system, where auto never inlines), while the
 * deep tests (test_qd, load) still reach the backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>

#include "util.h"

static const char *nvme_bin;
static const char *backend = "threads";
static const char *io_inline = "auto";

#define IOVA 0x10000000ull
#define IOVA2 0x40000000ull /* a second window (unmap tests) */
#define DBB_SHADOW 0x30000u   /* shadow doorbell buffer (guest offset) */
#define DBB_EVENTIDX 0x31000u /* EventIdx buffer */
#define GMEM (16u << 20)
#define GMEM2 (4u << 20)
#define PAGE 4096u
#define DISK_SIZE (16u << 20)
#define QSIZE 64u
#define NQ 4u

struct hq {
	uint64_t sq, cq; /* offsets in guest memory */
	uint16_t tail, head, size;
	bool phase;
};

/* How the server is started (set by the setup functions). */
struct srv_cfg {
	bool msg_only;
	const char *inject; /* UVFIO_NVME_INJECT */
	rlim_t fsize;       /* RLIMIT_FSIZE, 0: none */
	bool no_uring;      /* seccomp: io_uring_setup fails with ENOSYS */
	bool mmap_db;       /* --doorbells mmap */
	bool map_bar;       /* the client maps BAR0: doorbells are stores */
};

struct host {
	char dir[64], sock[128], disk[128], log[128];
	struct srv_cfg cfg;
	pid_t pid;
	struct uvfio_client *c;
	int memfd; /* -1: message-only guest memory */
	uint8_t *mem;
	int memfd2; /* the second window's, -1 while unmapped */
	uint8_t *mem2;
	struct hq q[NQ + 1];
	uint16_t cid;
	uint8_t *bar;   /* BAR0 mapped (only its doorbell page is there) */
	bool dbbuf;     /* shadow doorbells configured: the EventIdx rule */
	uint32_t *sdb, *sei; /* the shadow doorbell and EventIdx buffers */
	unsigned rings; /* doorbell registers written (message or store) */
	unsigned shadow_writes;
	/* --io-inline always: reads and writes that must have run inline,
	 * others that must have reached the backend */
	bool want_inline, want_backend;
};

struct sqe {
	uint32_t dw[16];
};

/* ---- the host driver ----------------------------------------------------------- */

static uint32_t reg_read(struct host *h, unsigned off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(h->c, 0, off, &v, 4), 0);
	return v;
}

static void reg_write(struct host *h, unsigned off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(h->c, 0, off, &v, 4), 0);
}

static void reg_write64(struct host *h, unsigned off, uint64_t v)
{
	assert_int_equal(uvfio_client_region_write(h->c, 0, off, &v, 8), 0);
}

static void wait_csts(struct host *h, uint32_t mask, uint32_t want)
{
	for (int i = 0; i < 2000; i++) {
		if ((reg_read(h, 0x1c) & mask) == want)
			return;
		usleep(1000);
	}
	fail_msg("CSTS %#x: & %#x never became %#x", reg_read(h, 0x1c), mask,
		 want);
}

/*
 * With shadow doorbells, as Linux's nvme_dbbuf_update_and_check_event():
 * the new value into the shadow buffer (after the queue entries), a full
 * barrier, then EventIdx read; the register is written too only when
 * EventIdx lies in [old, new), old being what the shadow held.
 */
static bool shadow_update(struct host *h, unsigned idx, uint32_t v)
{
	uint32_t *db = h->sdb + idx, *ei = h->sei + idx;
	uint16_t old = (uint16_t)__atomic_load_n(db, __ATOMIC_RELAXED);
	__atomic_store_n(db, v, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t e = (uint16_t)__atomic_load_n(ei, __ATOMIC_RELAXED);
	h->shadow_writes++;
	return (uint16_t)(v - e - 1) < (uint16_t)(v - old);
}

/* Doorbell idx (SQ y tail 2y, CQ y head 2y + 1): a posted write, or a
 * plain store into the mapped page (release: the SQ entries first). */
static void doorbell(struct host *h, unsigned idx, uint32_t v)
{
	if (h->dbbuf && idx >= 2 && !shadow_update(h, idx, v))
		return;
	h->rings++;
	if (h->bar) {
		__atomic_store_n((uint32_t *)(void *)(h->bar + 0x1000 + 4 * idx),
				 v, __ATOMIC_RELEASE);
		return;
	}
	assert_int_equal(uvfio_client_region_write_posted(h->c, 0,
							  0x1000 + 4 * idx, &v, 4),
			 0);
}

/* Write e at qid's tail with the next command id (returned); the
 * doorbell is rung by ring(). */
static uint16_t place(struct host *h, unsigned qid, struct sqe *e)
{
	struct hq *q = &h->q[qid];
	e->dw[0] = (e->dw[0] & 0xffff) | (uint32_t)++h->cid << 16;
	memcpy(h->mem + q->sq + q->tail * 64u, e, 64);
	q->tail = (uint16_t)((q->tail + 1) % q->size);
	return h->cid;
}

static void ring(struct host *h, unsigned qid)
{
	doorbell(h, 2 * qid, h->q[qid].tail);
}

static void submit(struct host *h, unsigned qid, struct sqe *e)
{
	place(h, qid, e);
	ring(h, qid);
}

/* The next CQE of qid within timeout_ms, whatever its command id: 1 with
 * *cid and *status (the 15 bits: code, type, DNR), 0 on timeout. */
static int reap_any(struct host *h, unsigned qid, uint16_t *cid,
		    uint16_t *status, int timeout_ms)
{
	struct hq *q = &h->q[qid];
	uint8_t *e = h->mem + q->cq + q->head * 16u;
	for (int i = 0; i <= timeout_ms * 10; i++) {
		uint32_t dw3 = __atomic_load_n((uint32_t *)(e + 12),
					       __ATOMIC_ACQUIRE);
		if (((dw3 >> 16) & 1) == q->phase) {
			*cid = (uint16_t)dw3;
			*status = (uint16_t)(dw3 >> 17);
			if (++q->head == q->size) {
				q->head = 0;
				q->phase = !q->phase;
			}
			doorbell(h, 2 * qid + 1, q->head);
			return 1;
		}
		uvfio_client_process(h->c);
		if (i < timeout_ms * 10)
			usleep(100);
	}
	return 0;
}

/* The next CQE of qid within timeout_ms: its status (code and type,
 * without phase or DNR), -1 on timeout. */
static int reap(struct host *h, unsigned qid, uint32_t *dw0, int timeout_ms)
{
	struct hq *q = &h->q[qid];
	uint8_t *e = h->mem + q->cq + q->head * 16u;
	uint16_t cid, st;
	if (!reap_any(h, qid, &cid, &st, timeout_ms))
		return -1;
	assert_int_equal(cid, h->cid);
	if (dw0)
		memcpy(dw0, e, 4);
	return st & 0x7ff;
}

static int run(struct host *h, unsigned qid, struct sqe *e, uint32_t *dw0)
{
	submit(h, qid, e);
	return reap(h, qid, dw0, 2000);
}

static struct sqe cmd(uint8_t opc, uint32_t nsid, uint64_t prp1, uint64_t prp2)
{
	struct sqe e = { .dw = { opc, nsid } };
	e.dw[6] = (uint32_t)prp1;
	e.dw[7] = (uint32_t)(prp1 >> 32);
	e.dw[8] = (uint32_t)prp2;
	e.dw[9] = (uint32_t)(prp2 >> 32);
	return e;
}

/* PRPs for len bytes at guest offset data; a list, when one is needed,
 * starts at guest offset list (any dword offset: it chains across pages
 * into the pages that follow). */
static void prps(struct host *h, uint64_t data, size_t len, uint64_t list,
		 struct sqe *e)
{
	uint64_t first = PAGE - (data % PAGE), prp2 = 0;
	size_t npages = len > first ? (len - first + PAGE - 1) / PAGE : 0;
	if (npages == 1) {
		prp2 = IOVA + data + first;
	} else if (npages > 1) {
		prp2 = IOVA + list;
		for (size_t i = 0; i < npages; i++) {
			bool last_slot = (list % PAGE) == PAGE - 8;
			if (last_slot && i < npages - 1) { /* chain */
				uint64_t next = list + 8;
				memcpy(h->mem + list, &(uint64_t){ IOVA + next }, 8);
				list = next;
			}
			uint64_t pa = IOVA + data + first + i * PAGE;
			memcpy(h->mem + list, &pa, 8);
			list += 8;
		}
	}
	e->dw[6] = (uint32_t)(IOVA + data);
	e->dw[7] = (uint32_t)((IOVA + data) >> 32);
	e->dw[8] = (uint32_t)prp2;
	e->dw[9] = (uint32_t)(prp2 >> 32);
}

static int rw(struct host *h, unsigned qid, uint8_t opc, uint64_t lba,
	      uint64_t data, size_t len, uint64_t list)
{
	struct sqe e = cmd(opc, 1, 0, 0);
	prps(h, data, len, list, &e);
	e.dw[10] = (uint32_t)lba;
	e.dw[11] = (uint32_t)(lba >> 32);
	e.dw[12] = (uint32_t)(len / 512 - 1);
	return run(h, qid, &e, NULL);
}

static void enable(struct host *h)
{
	reg_write(h, 0x14, 0);
	wait_csts(h, 1, 0);
	memset(h->q, 0, sizeof(h->q));
	for (unsigned i = 0; i <= NQ; i++) {
		h->q[i].sq = 0x10000 + i * 0x2000u;
		h->q[i].cq = h->q[i].sq + 0x1000;
		h->q[i].size = QSIZE;
		h->q[i].phase = true;
		memset(h->mem + h->q[i].cq, 0, PAGE);
	}
	reg_write(h, 0x24, (QSIZE - 1) << 16 | (QSIZE - 1));
	reg_write64(h, 0x28, IOVA + h->q[0].sq);
	reg_write64(h, 0x30, IOVA + h->q[0].cq);
	reg_write(h, 0x14, 1 | 6u << 16 | 4u << 20);
	wait_csts(h, 3, 1);
}

static int create_cq(struct host *h, unsigned qid, unsigned size)
{
	struct sqe e = cmd(0x05, 0, IOVA + h->q[qid < NQ + 1 ? qid : 1].cq, 0);
	e.dw[10] = (size - 1) << 16 | qid;
	e.dw[11] = qid << 16 | 3; /* vector qid, interrupts, contiguous */
	return run(h, 0, &e, NULL);
}

static int create_sq(struct host *h, unsigned qid, unsigned cqid)
{
	struct sqe e = cmd(0x01, 0, IOVA + h->q[qid < NQ + 1 ? qid : 1].sq, 0);
	e.dw[10] = (QSIZE - 1) << 16 | qid;
	e.dw[11] = cqid << 16 | 1;
	return run(h, 0, &e, NULL);
}

static void create_pairs(struct host *h, unsigned n)
{
	for (unsigned q = 1; q <= n; q++) {
		assert_int_equal(create_cq(h, q, QSIZE), 0);
		assert_int_equal(create_sq(h, q, q), 0);
	}
}

/* ---- fixture ------------------------------------------------------------------------- */

/* io_uring_setup fails with ENOSYS, as under a container's seccomp
 * profile or on a kernel without it; everything else is allowed. */
static void refuse_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(126);
}

/* The child: the server as cfg says, its stderr into h->log. */
static void exec_server(const struct host *h)
{
	int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, 2) < 0)
		_exit(125);
	if (h->cfg.inject)
		setenv("UVFIO_NVME_INJECT", h->cfg.inject, 1);
	if (h->cfg.fsize) {
		struct rlimit rl = { h->cfg.fsize, h->cfg.fsize };
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(124);
	}
	if (h->cfg.no_uring)
		refuse_io_uring();
	execl(nvme_bin, nvme_bin, "--socket", h->sock, "--disk", h->disk,
	      "--io-backend", backend, "--io-inline", io_inline, "--doorbells",
	      h->cfg.mmap_db ? "mmap" : "msg", "-v", (char *)NULL);
	_exit(127);
}

static void start_server(struct host *h)
{
	h->pid = tu_fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0)
		exec_server(h);
	assert_int_equal(tu_wait_server(h->pid, h->sock, 10000), 0);
}

/* The doorbell page is BAR0's only mmap-able area: registers and the
 * MSI-X table and PBA (0x2000, 0x3000) stay behind messages. */
static void map_bar(struct host *h)
{
	const struct uvfio_region_caps *rc = uvfio_client_region_caps(h->c, 0);
	assert_non_null(rc);
	assert_true(rc->has_sparse);
	assert_int_equal(rc->nr_areas, 1);
	struct uvfio_sparse_area a;
	memcpy(&a, rc->areas, sizeof(a));
	assert_int_equal(a.offset, 0x1000);
	assert_int_equal(a.size, PAGE);
	void *bar;
	assert_int_equal(uvfio_client_region_mmap(h->c, 0, &bar), 0);
	h->bar = bar;
}

/* A client with guest memory mapped at IOVA (fd-backed or not). */
static void connect_client(struct host *h)
{
	assert_int_equal(uvfio_client_create(&h->c), 0);
	assert_int_equal(uvfio_client_connect(h->c, h->sock), 0);
	assert_int_equal(uvfio_client_dma_map(h->c, IOVA, GMEM,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      h->mem, h->memfd, 0),
			 0);
	h->bar = NULL;
	if (h->cfg.map_bar)
		map_bar(h);
}

static int setup_cfg(void **state, struct srv_cfg cfg)
{
	struct host *h = calloc(1, sizeof(*h));
	h->cfg = cfg;
	h->memfd2 = -1;
	strcpy(h->dir, "/tmp/uvfio-nvme-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->sock, sizeof(h->sock), "%s/nvme.sock", h->dir);
	snprintf(h->disk, sizeof(h->disk), "%s/disk.img", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/server.log", h->dir);
	/* Made here, not with --create-size: the server may run under a
	 * file size limit below it. */
	int fd = open(h->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	start_server(h);
	if (cfg.msg_only) {
		h->memfd = -1;
		h->mem = mmap(NULL, GMEM, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} else {
		h->memfd = memfd_create("guest", MFD_CLOEXEC);
		assert_true(h->memfd >= 0);
		assert_int_equal(ftruncate(h->memfd, GMEM), 0);
		h->mem = mmap(NULL, GMEM, PROT_READ | PROT_WRITE, MAP_SHARED,
			      h->memfd, 0);
	}
	assert_true(h->mem != MAP_FAILED);
	connect_client(h);
	*state = h;
	return 0;
}

static int setup(void **state)
{
	return setup_cfg(state, (struct srv_cfg){ 0 });
}

static int setup_msg(void **state)
{
	return setup_cfg(state, (struct srv_cfg){ .msg_only = true });
}

/* Reads of LBAs 96-103 and writes of 200-207 fail with EIO, writes of
 * 300-307 with ENOSPC, every flush with EIO, every hole punched with
 * EOPNOTSUPP (95: the file system cannot); no write reaches past 12 MiB
 * of the file (EFBIG). */
#define FSIZE_LIMIT (12u << 20)
static int setup_errors(void **state)
{
	return setup_cfg(state, (struct srv_cfg){
		.inject = "read:EIO:96:8,write:EIO:200:8,write:ENOSPC:300:8,"
			  "flush:EIO,zero:95",
		.fsize = FSIZE_LIMIT,
	});
}

static int setup_no_uring(void **state)
{
	return setup_cfg(state, (struct srv_cfg){ .no_uring = true });
}

/* --doorbells mmap, the page mapped: every doorbell a store. */
static int setup_mmap(void **state)
{
	return setup_cfg(state, (struct srv_cfg){ .mmap_db = true,
						  .map_bar = true });
}

/* --doorbells mmap, the page not mapped: doorbells are messages still. */
static int setup_mmap_unmapped(void **state)
{
	return setup_cfg(state, (struct srv_cfg){ .mmap_db = true });
}

/* The server's log: it said which backend runs its I/O, and no
 * sanitizer spoke (UBSan goes on after a report: the status is not
 * enough). */
static void check_log(const struct host *h, int status)
{
	static char buf[65536];
	int fd = open(h->log, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(got >= 0);
	buf[got] = 0;
	const char *want = !strcmp(backend, "threads")
				   ? "I/O through thread pool"
			   : h->cfg.no_uring ? "io_uring: Function not implemented: "
					       "using the thread pool"
					     : "I/O through io_uring";
	bool inl = !strcmp(io_inline, "always");
	unsigned long long ninl = 0, nbe = 0;
	const char *cnt = strstr(buf, "uvfio-nvme: ");
	while (cnt && sscanf(cnt, "uvfio-nvme: %llu requests inline, %llu at",
			     &ninl, &nbe) != 2)
		cnt = strstr(cnt + 1, "uvfio-nvme: ");
	bool where = !cnt || (inl && h->want_inline && !ninl) ||
		     (inl && h->want_backend && !nbe) ||
		     (!strcmp(io_inline, "never") && ninl);
	if (!WIFEXITED(status) || WEXITSTATUS(status) || !strstr(buf, want) ||
	    where ||
	    (inl && !strstr(buf, "reads and writes inline at low depth")) ||
	    strstr(buf, "runtime error") || strstr(buf, "Sanitizer"))
		fail_msg("server status %#x; log (wanted \"%s\"):\n%s", status,
			 want, buf);
}

static int teardown(void **state)
{
	struct host *h = *state;
	int status;
	if (h->c)
		uvfio_client_destroy(h->c);
	munmap(h->mem, GMEM);
	if (h->memfd >= 0)
		close(h->memfd);
	if (h->mem2) {
		munmap(h->mem2, GMEM2);
		close(h->memfd2);
	}
	assert_int_equal(tu_reap(h->pid, SIGTERM, &status), h->pid);
	check_log(h, status);
	unlink(h->disk);
	unlink(h->sock);
	unlink(h->log);
	rmdir(h->dir);
	free(h);
	return 0;
}

/* ---- cases ------------------------------------------------------------------------------ */

#define DATA 0x100000u  /* data buffers: 256 KiB per queue */
#define LISTS 0x40000u  /* PRP lists: 16 KiB per queue */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
}

static void test_identify(void **state)
{
	struct host *h = *state;
	uint32_t dw0;
	enable(h);
	uint8_t *d = h->mem + DATA;

	struct sqe e = cmd(0x06, 0, IOVA + DATA, 0);
	e.dw[10] = 1;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	assert_int_equal(d[0] | d[1] << 8, 0x1234);
	assert_memory_equal(d + 24, "uvfio-nvme ", 11);
	assert_int_equal(d[80] | d[81] << 8 | d[82] << 16, 0x010400);
	assert_int_equal(d[512], 0x66);
	assert_int_equal(d[513], 0x44);
	assert_int_equal(d[516], 1);
	assert_int_equal(d[257] & 1, 1); /* OACS: Doorbell Buffer Config */

	/* namespace: from a PRP1 with an offset, so PRP2 carries the rest */
	e = cmd(0x06, 1, IOVA + DATA + 0x800, IOVA + DATA + PAGE);
	assert_int_equal(run(h, 0, &e, NULL), 0);
	uint64_t nsze;
	memcpy(&nsze, d + 0x800, 8);
	assert_int_equal(nsze, DISK_SIZE / 512);
	assert_int_equal(d[0x800 + 130], 9);

	e = cmd(0x06, 0, IOVA + DATA, 0);
	e.dw[10] = 2;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	assert_int_equal(d[0], 1);
	assert_int_equal(d[4], 0);
	e = cmd(0x06, 1, IOVA + DATA, 0);
	e.dw[10] = 3;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	assert_int_equal(d[0], 2);
	assert_int_equal(d[1], 16);

	e = cmd(0x0a, 0, 0, 0); /* number of queues */
	e.dw[10] = 7;
	assert_int_equal(run(h, 0, &e, &dw0), 0);
	assert_int_equal(dw0, 7u << 16 | 7u);
	e = cmd(0x09, 0, 0, 0);
	e.dw[10] = 7;
	e.dw[11] = 3u << 16 | 3u;
	assert_int_equal(run(h, 0, &e, &dw0), 0);
	e.dw[10] = 6; /* volatile write cache */
	e.dw[11] = 1;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	e.dw[10] = 8; /* interrupt coalescing */
	e.dw[11] = 0x0102;
	assert_int_equal(run(h, 0, &e, NULL), 0);

	for (unsigned lid = 1; lid <= 3; lid++) {
		e = cmd(0x02, 0xffffffffu, IOVA + DATA, 0);
		e.dw[10] = lid | (lid == 1 ? 15u : 127u) << 16;
		memset(d, 0xee, PAGE);
		assert_int_equal(run(h, 0, &e, NULL), 0);
		if (lid == 2)
			assert_int_equal(d[3], 100);
		if (lid == 3)
			assert_int_equal(d[0], 1);
	}
	e = cmd(0x18, 0, 0, 0); /* keep alive */
	assert_int_equal(run(h, 0, &e, NULL), 0);
	e = cmd(0x08, 0, 0, 0); /* abort: never aborts */
	e.dw[10] = 1u << 16;
	assert_int_equal(run(h, 0, &e, &dw0), 0);
	assert_int_equal(dw0 & 1, 1);
}

/* Write a pattern through qid, read it back elsewhere, compare with the
 * guest buffer and with the backing file. */
static void write_read(struct host *h, unsigned qid, uint64_t lba, size_t len,
		       unsigned woff, unsigned roff)
{
	uint64_t wbuf = DATA + qid * 0x40000u + woff;
	uint64_t rbuf = DATA + qid * 0x40000u + 0x20000u + roff;
	uint64_t list = LISTS + qid * 0x4000u;
	fill(h->mem + wbuf, len, qid * 13 + (unsigned)lba);
	memset(h->mem + rbuf, 0, len);
	assert_int_equal(rw(h, qid, 0x01, lba, wbuf, len, list), 0);
	assert_int_equal(rw(h, qid, 0x02, lba, rbuf, len, list + 0x2000), 0);
	assert_memory_equal(h->mem + wbuf, h->mem + rbuf, len);

	uint8_t *f = malloc(len);
	int fd = open(h->disk, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, f, len, (off_t)lba * 512), (ssize_t)len);
	close(fd);
	assert_memory_equal(f, h->mem + wbuf, len);
	free(f);
}

static void test_io(void **state)
{
	struct host *h = *state;
	/* One command at a time; a message-only CQ runs them inline
	 * anyway, through its own path. */
	h->want_inline = !h->cfg.msg_only;
	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++) {
		write_read(h, q, q * 1000, 64 * 1024, 0x200, 0);
		write_read(h, q, q * 1000 + 200, 4096, 0, 0x100);  /* PRP1 only */
		write_read(h, q, q * 1000 + 300, 8192, 0x400, 0);  /* PRP2 page */
	}
	/* A PRP list that starts 16 bytes before a page end and chains. */
	write_read(h, 1, 5000, 128 * 1024, 0, PAGE - 16);
	/* The last block of the namespace. */
	write_read(h, 2, DISK_SIZE / 512 - 1, 512, 0, 0);

	/* Deallocate, then the blocks read as zeros. */
	uint8_t *r = h->mem + DATA + 0x20000u;
	uint64_t range[2] = { (uint64_t)128 << 32, 1000 }; /* 128 blocks at 1000 */
	memcpy(h->mem + DATA + 0x10000, range, 16);
	struct sqe e = cmd(0x09, 1, IOVA + DATA + 0x10000, 0);
	e.dw[10] = 0;     /* one range */
	e.dw[11] = 1 << 2; /* deallocate */
	assert_int_equal(run(h, 1, &e, NULL), 0);
	memset(r, 0xaa, 65536);
	assert_int_equal(rw(h, 1, 0x02, 1000, DATA + 0x20000u, 65536, LISTS), 0);
	for (size_t i = 0; i < 65536; i++)
		if (r[i])
			fail_msg("byte %zu is %#x after deallocate", i, r[i]);

	/* Write Zeroes on what queue 2 wrote. */
	e = cmd(0x08, 1, 0, 0);
	e.dw[10] = 2000;
	e.dw[12] = 7;
	assert_int_equal(run(h, 2, &e, NULL), 0);
	memset(r, 0xaa, 4096);
	assert_int_equal(rw(h, 2, 0x02, 2000, DATA + 0x20000u, 4096, LISTS), 0);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(r[i], 0);

	e = cmd(0x00, 1, 0, 0); /* flush */
	assert_int_equal(run(h, 3, &e, NULL), 0);
	/* Queue wrap-around: more commands than entries. */
	for (unsigned i = 0; i < QSIZE + 8; i++) {
		e = cmd(0x00, 1, 0, 0);
		assert_int_equal(run(h, 4, &e, NULL), 0);
	}
}

static void test_reset(void **state)
{
	struct host *h = *state;
	enable(h);
	create_pairs(h, 2);
	write_read(h, 1, 10, 16384, 0, 0);
	/* An AER is held; a reset drops it: no CQE after CC.EN = 0. */
	struct sqe e = cmd(0x0c, 0, 0, 0);
	submit(h, 0, &e);
	assert_int_equal(reap(h, 0, NULL, 50), -1);
	uint64_t cq0 = h->q[0].cq, head = h->q[0].head;
	reg_write(h, 0x14, 0);
	wait_csts(h, 1, 0);
	usleep(20000);
	assert_int_equal(h->mem[cq0 + head * 16 + 14] & 1, 0);

	/* Re-init: the same queue ids are free again, data is still there. */
	enable(h);
	create_pairs(h, 2);
	uint8_t *r = h->mem + DATA + 0x60000u;
	assert_int_equal(rw(h, 2, 0x02, 10, DATA + 0x60000u, 16384, LISTS), 0);
	assert_memory_equal(r, h->mem + DATA + 0x40000u, 16384);

	/* Shutdown. */
	uint32_t cc = reg_read(h, 0x14);
	reg_write(h, 0x14, cc | 1u << 14);
	wait_csts(h, 0xc, 0x8);
}

/* Serve the client (the device's DMA messages) for ms milliseconds. */
static void pump(struct host *h, int ms)
{
	for (int i = 0; i < ms * 10; i++) {
		uvfio_client_process(h->c);
		usleep(100);
	}
}

/* A reset while commands wait for their DMA: the device must post none
 * of them after CC.EN = 0 and work afresh after re-enabling. */
static void test_reset_inflight(void **state)
{
	struct host *h = *state;
	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++) {
		uint64_t wbuf = DATA + q * 0x40000u;
		fill(h->mem + wbuf, 128 * 1024, q);
		for (unsigned k = 0; k < 3; k++) {
			struct sqe e = cmd(k == 1 ? 0x02 : 0x01, 1, 0, 0);
			prps(h, wbuf, 128 * 1024, LISTS + q * 0x4000u, &e);
			e.dw[10] = q * 4000 + k * 256;
			e.dw[12] = 255;
			submit(h, q, &e);
		}
	}
	/* Not pumped: the device's DMA requests are unanswered when the
	 * CC write reaches it. */
	reg_write(h, 0x14, 0);
	wait_csts(h, 1, 0);
	uint8_t *snap = malloc(GMEM);
	memcpy(snap, h->mem, GMEM);
	pump(h, 100);
	for (unsigned q = 0; q <= NQ; q++)
		assert_memory_equal(snap + h->q[q].cq, h->mem + h->q[q].cq, PAGE);
	free(snap);

	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++)
		write_read(h, q, q * 1000, 64 * 1024, 0x200, 0);
	test_io(state);
}

static void test_bad_input(void **state)
{
	struct host *h = *state;
	enable(h);
	struct sqe e = cmd(0x7f, 0, 0, 0);
	assert_int_equal(run(h, 0, &e, NULL), 0x001); /* invalid opcode */
	assert_int_equal(create_cq(h, 0, QSIZE), 0x101);
	assert_int_equal(create_cq(h, 9, QSIZE), 0x101);
	assert_int_equal(create_cq(h, 1, 1), 0x102);
	assert_int_equal(create_cq(h, 1, 4096), 0x102);
	assert_int_equal(create_sq(h, 1, 1), 0x100); /* no CQ 1 yet */
	assert_int_equal(create_cq(h, 1, QSIZE), 0);
	assert_int_equal(create_cq(h, 1, QSIZE), 0x101); /* in use */
	assert_int_equal(create_sq(h, 1, 1), 0);
	assert_int_equal(create_sq(h, 1, 1), 0x101);
	e = cmd(0x04, 0, 0, 0); /* delete CQ 1 with SQ 1 on it */
	e.dw[10] = 1;
	assert_int_equal(run(h, 0, &e, NULL), 0x10c);
	e = cmd(0x05, 0, IOVA + h->q[2].cq, 0); /* vector 20 */
	e.dw[10] = (QSIZE - 1) << 16 | 2;
	e.dw[11] = 20u << 16 | 3;
	assert_int_equal(run(h, 0, &e, NULL), 0x108);
	e = cmd(0x05, 0, 0x1000, 0); /* CQ memory in no window */
	e.dw[10] = (QSIZE - 1) << 16 | 2;
	e.dw[11] = 2u << 16 | 3;
	assert_int_equal(run(h, 0, &e, NULL), 0x004);
	e = cmd(0x06, 0, IOVA + DATA, 0);
	e.dw[10] = 0x55; /* unknown CNS */
	assert_int_equal(run(h, 0, &e, NULL), 0x002);
	e = cmd(0x06, 7, IOVA + DATA, 0); /* namespace 7 */
	assert_int_equal(run(h, 0, &e, NULL), 0x00b);
	e = cmd(0x02, 0, IOVA + DATA, 0);
	e.dw[10] = 0x7f | 127u << 16;
	assert_int_equal(run(h, 0, &e, NULL), 0x109);
	e = cmd(0x0a, 0, 0, 0);
	e.dw[10] = 0x77; /* unknown feature */
	assert_int_equal(run(h, 0, &e, NULL), 0x002);

	/* I/O */
	e = cmd(0x7e, 1, 0, 0);
	assert_int_equal(run(h, 1, &e, NULL), 0x001);
	assert_int_equal(rw(h, 1, 0x02, DISK_SIZE / 512 - 1, DATA, 1024, LISTS),
			 0x080);
	assert_int_equal(rw(h, 1, 0x02, ~0ull - 3, DATA, 4096, LISTS), 0x080);
	e = cmd(0x02, 1, 0x1000, 0); /* PRP1 in no window */
	assert_int_equal(run(h, 1, &e, NULL), 0x004);
	e = cmd(0x01, 1, IOVA + DATA + 2, 0); /* misaligned PRP1 */
	assert_int_equal(run(h, 1, &e, NULL), 0x013);
	e = cmd(0x02, 1, IOVA + DATA, IOVA + DATA + PAGE + 0x200);
	e.dw[12] = 15; /* 8 KiB: PRP2 is a page and has an offset */
	assert_int_equal(run(h, 1, &e, NULL), 0x013);
	e = cmd(0x02, 1, IOVA + DATA, 0x3000); /* PRP list in no window */
	e.dw[12] = 63;
	assert_int_equal(run(h, 1, &e, NULL), 0x004);
	uint64_t bad = 0x5000; /* a list entry in no window */
	memcpy(h->mem + LISTS, &bad, 8);
	e = cmd(0x02, 1, IOVA + DATA, IOVA + LISTS);
	e.dw[12] = 15 + 8;
	assert_int_equal(run(h, 1, &e, NULL), 0x004);
	e = cmd(0x02, 2, IOVA + DATA, 0); /* namespace 2 */
	assert_int_equal(run(h, 1, &e, NULL), 0x00b);

	/* Doorbells past the queue size or of queues that do not exist are
	 * dropped; the queues go on. */
	doorbell(h, 2 * 1, QSIZE + 5);
	doorbell(h, 2 * 7, 3);
	doorbell(h, 2 * 40, 3); /* beyond the doorbells: a plain register */
	e = cmd(0x00, 1, 0, 0);
	assert_int_equal(run(h, 1, &e, NULL), 0);

	/* AERs beyond AERL + 1 */
	for (int i = 0; i < 4; i++) {
		e = cmd(0x0c, 0, 0, 0);
		submit(h, 0, &e);
	}
	e = cmd(0x0c, 0, 0, 0);
	assert_int_equal(run(h, 0, &e, NULL), 0x105);

	/* Disabled: a doorbell does nothing, the next enable starts clean. */
	reg_write(h, 0x14, 0);
	wait_csts(h, 1, 0);
	doorbell(h, 0, 1);
	doorbell(h, 2, 1);
	enable(h);
	e = cmd(0x18, 0, 0, 0);
	assert_int_equal(run(h, 0, &e, NULL), 0);
}

/* ---- many commands in flight ---------------------------------------------------------- */

#define QD 64u          /* commands per queue at once */
#define QDSIZE 128u     /* entries of the queues these tests make */
#define QDQ 0x300000u   /* their queues: 16 KiB per pair */
#define QDL 0x340000u   /* PRP lists: 64 bytes per command */
#define QDD 0x400000u   /* data written: 16 KiB per command */
#define QDR 0x800000u   /* data read */
#define QDLEN (16u * 1024)

/* I/O queue pair q of size entries at guest offset at (SQ, then CQ). */
static void create_pair_at(struct host *h, unsigned q, unsigned size,
			   uint64_t at)
{
	struct hq *hq = &h->q[q];
	*hq = (struct hq){ .sq = at, .cq = at + size * 64u, .size = (uint16_t)size,
			   .phase = true };
	memset(h->mem + hq->cq, 0, size * 16u);
	struct sqe e = cmd(0x05, 0, IOVA + hq->cq, 0);
	e.dw[10] = (size - 1) << 16 | q;
	e.dw[11] = q << 16 | 3;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	e = cmd(0x01, 0, IOVA + hq->sq, 0);
	e.dw[10] = (size - 1) << 16 | q;
	e.dw[11] = q << 16 | 1;
	assert_int_equal(run(h, 0, &e, NULL), 0);
}

static void create_qd_pairs(struct host *h)
{
	for (unsigned q = 1; q <= NQ; q++)
		create_pair_at(h, q, QDSIZE, QDQ + q * 0x4000u);
}

/* Commands in flight, per queue, by command id. */
struct batch {
	uint16_t cid[NQ + 1][QDSIZE];
	unsigned n[NQ + 1];
};

/*
 * cnt commands of opcode opc (dw12 flags: FUA) on each of queues 1..nq,
 * each queue rung once: command i of queue q (k = (q - 1) * cnt + i)
 * moves QDLEN bytes between LBA lba0 + k * QDLEN / 512 and guest offset
 * buf + k * QDLEN, with its PRP list at list0 + k * 64.  Their ids go
 * into b.
 */
static void burst_flags(struct host *h, struct batch *b, unsigned nq,
			unsigned cnt, uint8_t opc, uint32_t flags, uint64_t buf,
			uint64_t lba0, uint64_t list0)
{
	for (unsigned q = 1; q <= nq; q++) {
		for (unsigned i = 0; i < cnt; i++) {
			unsigned k = (q - 1) * cnt + i;
			struct sqe e = cmd(opc, 1, 0, 0);
			prps(h, buf + (uint64_t)k * QDLEN, QDLEN, list0 + k * 64u,
			     &e);
			uint64_t lba = lba0 + (uint64_t)k * (QDLEN / 512);
			e.dw[10] = (uint32_t)lba;
			e.dw[11] = (uint32_t)(lba >> 32);
			e.dw[12] = (QDLEN / 512 - 1) | flags;
			assert_true(b->n[q] < QDSIZE);
			b->cid[q][b->n[q]++] = place(h, q, &e);
		}
		ring(h, q);
	}
}

static void burst(struct host *h, struct batch *b, unsigned nq, unsigned cnt,
		  uint8_t opc, uint64_t buf, uint64_t lba0, uint64_t list0)
{
	burst_flags(h, b, nq, cnt, opc, 0, buf, lba0, list0);
}

/* Every command of b completes once, in any order, with status 0; no CQE
 * follows. */
static void collect(struct host *h, struct batch *b)
{
	for (unsigned q = 1; q <= NQ; q++) {
		while (b->n[q]) {
			uint16_t cid, st;
			if (!reap_any(h, q, &cid, &st, 5000))
				fail_msg("queue %u: %u commands never completed",
					 q, b->n[q]);
			assert_int_equal(st, 0);
			unsigned i = 0;
			while (i < b->n[q] && b->cid[q][i] != cid)
				i++;
			if (i == b->n[q])
				fail_msg("queue %u: CQE for command %u, not in "
					 "flight (twice?)", q, cid);
			b->cid[q][i] = b->cid[q][--b->n[q]];
		}
		uint16_t cid, st;
		assert_int_equal(reap_any(h, q, &cid, &st, 0), 0);
	}
}

static void check_file(struct host *h, uint64_t off, const uint8_t *want,
		       size_t len)
{
	uint8_t *f = malloc(len);
	int fd = open(h->disk, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, f, len, (off_t)off), (ssize_t)len);
	close(fd);
	assert_memory_equal(f, want, len);
	free(f);
}

/* QD 64 on 4 queues: writes, reads of them, writes again (the queues
 * wrap), each batch checked against guest memory and the file. */
static void test_qd(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	const size_t all = (size_t)NQ * QD * QDLEN;
	h->want_backend = !h->cfg.msg_only; /* bursts: deep queues */
	enable(h);
	create_qd_pairs(h);
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned k = 0; k < NQ * QD; k++)
			fill(h->mem + QDD + (uint64_t)k * QDLEN, QDLEN,
			     k * 7 + round);
		burst(h, &b, NQ, QD, 0x01, QDD, 0, QDL);
		collect(h, &b);
		check_file(h, 0, h->mem + QDD, all);
		memset(h->mem + QDR, 0, all);
		burst(h, &b, NQ, QD, 0x02, QDR, 0, QDL);
		collect(h, &b);
		assert_memory_equal(h->mem + QDD, h->mem + QDR, all);
	}
}

/* Guest memory does not change for 100 ms: no DMA, no CQE. */
static void check_quiet(struct host *h)
{
	uint8_t *snap = malloc(GMEM);
	memcpy(snap, h->mem, GMEM);
	usleep(100000);
	for (size_t i = 0; i < GMEM; i += PAGE)
		if (memcmp(snap + i, h->mem + i, PAGE))
			fail_msg("guest memory at %#zx changed after the reset",
				 i);
	free(snap);
}

/* Work afresh after a reset. */
static void check_works(struct host *h)
{
	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++)
		write_read(h, q, q * 1000, 64 * 1024, 0x200, 0);
}

/* Half writes, half reads in flight on every queue; the writes with FUA,
 * so that they are still there when the test goes on. */
static void load(struct host *h, struct batch *b)
{
	for (unsigned k = 0; k < NQ * QD; k++)
		fill(h->mem + QDD + (uint64_t)k * QDLEN, QDLEN, k);
	burst_flags(h, b, NQ, QD / 2, 0x01, 1u << 30, QDD, 0, QDL);
	burst(h, b, NQ, QD / 2, 0x02, QDR, 8192, QDL + 0x4000);
}

/* CC.EN = 0 with 256 commands in flight: once CSTS.RDY is 0, nothing
 * touches guest memory any more. */
static void test_reset_many(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	enable(h);
	create_qd_pairs(h);
	load(h, &b);
	reg_write(h, 0x14, 0);
	wait_csts(h, 1, 0);
	check_quiet(h);
	check_works(h);
}

/* Shutdown with writes in flight: complete only once they are done (their
 * CQEs posted) and in the file. */
static void test_shutdown_inflight(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	enable(h);
	create_qd_pairs(h);
	for (unsigned k = 0; k < NQ * QD; k++)
		fill(h->mem + QDD + (uint64_t)k * QDLEN, QDLEN, k + 3);
	burst(h, &b, NQ, QD, 0x01, QDD, 0, QDL);
	reg_write(h, 0x14, reg_read(h, 0x14) | 1u << 14);
	wait_csts(h, 0xc, 0x8);
	for (unsigned q = 1; q <= NQ; q++) {
		/* All there already: posted before SHST said complete. */
		struct hq *hq = &h->q[q];
		uint32_t dw3;
		memcpy(&dw3, h->mem + hq->cq + (QD - 1) * 16u + 12, 4);
		assert_int_equal((dw3 >> 16) & 1, 1);
	}
	collect(h, &b);
	check_file(h, 0, h->mem + QDD, (size_t)NQ * QD * QDLEN);
}

/* Delete I/O SQ with writes in flight (FUA: each waits for the disk):
 * it completes once they are done; no CQE of theirs comes after it. */
static void test_delete_sq_inflight(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	enable(h);
	create_pair_at(h, 1, QDSIZE, QDQ + 0x4000);
	burst_flags(h, &b, 1, 100, 0x01, 1u << 30, QDD, 0, QDL);
	struct sqe e = cmd(0x00, 0, 0, 0);
	e.dw[10] = 1;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	check_quiet(h);
	/* What was posted before it: commands of the batch, once each. */
	uint16_t cid, st;
	while (reap_any(h, 1, &cid, &st, 0)) {
		unsigned i = 0;
		while (i < b.n[1] && b.cid[1][i] != cid)
			i++;
		assert_true(i < b.n[1]);
		b.cid[1][i] = b.cid[1][--b.n[1]];
	}
	e = cmd(0x04, 0, 0, 0); /* its CQ goes too */
	e.dw[10] = 1;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	create_pair_at(h, 1, QSIZE, h->q[1].sq);
	write_read(h, 1, 77, 8192, 0, 0);
}

/* DEVICE_RESET with commands in flight: none touches memory after it. */
static void test_device_reset_inflight(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	enable(h);
	create_qd_pairs(h);
	load(h, &b);
	assert_int_equal(uvfio_client_reset(h->c), 0);
	check_quiet(h);
	check_works(h);
}

/* A second fd-backed window at IOVA2 (made on first use). */
static void map_window2(struct host *h)
{
	if (!h->mem2) {
		h->memfd2 = memfd_create("guest2", MFD_CLOEXEC);
		assert_true(h->memfd2 >= 0);
		assert_int_equal(ftruncate(h->memfd2, GMEM2), 0);
		h->mem2 = mmap(NULL, GMEM2, PROT_READ | PROT_WRITE, MAP_SHARED,
			       h->memfd2, 0);
		assert_true(h->mem2 != MAP_FAILED);
	}
	assert_int_equal(uvfio_client_dma_map(h->c, IOVA2, GMEM2,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      h->mem2, h->memfd2, 0),
			 0);
}

/* The client unmaps the window the data of 256 commands in flight lies
 * in: the server finishes them first, so each has completed, with its
 * data moved, once the unmap returns; later commands there fail. */
static void test_unmap_inflight(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	const size_t half = GMEM2 / 2;
	const uint64_t w2 = IOVA2 - IOVA; /* prps() adds IOVA back */
	map_window2(h);
	/* The reads find this at 4 MiB in the file. */
	uint8_t *pat = malloc(half);
	fill(pat, half, 99);
	int fd = open(h->disk, O_WRONLY);
	assert_int_equal(pwrite(fd, pat, half, 4u << 20), (ssize_t)half);
	close(fd);
	fill(h->mem2, half, 5);

	enable(h);
	create_qd_pairs(h);
	unsigned per = (unsigned)(half / QDLEN / NQ);
	burst_flags(h, &b, NQ, per, 0x01, 1u << 30, w2, 0, QDL); /* FUA */
	burst(h, &b, NQ, per, 0x02, w2 + half, 8192, QDL + 0x4000);
	assert_int_equal(uvfio_client_dma_unmap(h->c, IOVA2, GMEM2), 0);
	collect(h, &b);
	assert_memory_equal(h->mem2 + half, pat, half);
	check_file(h, 0, h->mem2, half);
	free(pat);
	assert_int_equal(rw(h, 1, 0x02, 0, w2, 4096, LISTS), 0x004);
}

/* The client goes away with 256 commands in flight: the server drops
 * them (no hang waiting for mapped pages) and serves the next one. */
static void test_disconnect_inflight(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	enable(h);
	create_qd_pairs(h);
	load(h, &b);
	uvfio_client_destroy(h->c);
	h->c = NULL;
	connect_client(h);
	check_works(h);
}

/* ---- backing-store errors ----------------------------------------------------------- */

/* The whole 15-bit status of one command on queue 1. */
static uint16_t status_of(struct host *h, struct sqe *e)
{
	uint16_t cid, st;
	uint16_t want = place(h, 1, e);
	ring(h, 1);
	assert_int_equal(reap_any(h, 1, &cid, &st, 2000), 1);
	assert_int_equal(cid, want);
	return st;
}

static uint16_t rw_status(struct host *h, uint8_t opc, uint64_t lba,
			  size_t len)
{
	struct sqe e = cmd(opc, 1, 0, 0);
	prps(h, DATA, len, LISTS, &e);
	e.dw[10] = (uint32_t)lba;
	e.dw[11] = (uint32_t)(lba >> 32);
	e.dw[12] = (uint32_t)(len / 512 - 1);
	return status_of(h, &e);
}

#define DNR 0x4000u

static void test_errors(void **state)
{
	struct host *h = *state;
	const uint64_t limit = FSIZE_LIMIT / 512, half = (8u << 20) / 512;
	h->want_inline = true; /* injected errors inline too */
	enable(h);
	create_pairs(h, 1);
	/* EIO: Unrecovered Read Error, Write Fault; a retry may work. */
	assert_int_equal(rw_status(h, 0x02, 96, 4096), 0x281);
	assert_int_equal(rw_status(h, 0x01, 200, 4096), 0x280);
	/* ENOSPC, and EFBIG (the file size limit, also after a part of the
	 * command was written): Capacity Exceeded. */
	assert_int_equal(rw_status(h, 0x01, 300, 4096), 0x081 | DNR);
	assert_int_equal(rw_status(h, 0x01, limit, 4096), 0x081 | DNR);
	assert_int_equal(rw_status(h, 0x01, limit - 4, 4096), 0x081 | DNR);
	assert_int_equal(rw_status(h, 0x02, 0, 4096), 0);
	/* The file shrinks under the namespace: end of file inside it. */
	assert_int_equal(truncate(h->disk, 8u << 20), 0);
	assert_int_equal(rw_status(h, 0x02, half, 4096), 0x281 | DNR);
	assert_int_equal(rw_status(h, 0x02, half - 1, 1024), 0x281 | DNR);
	assert_int_equal(truncate(h->disk, DISK_SIZE), 0);
	assert_int_equal(rw_status(h, 0x02, half, 4096), 0);

	/* No holes: Write Zeroes and deallocate write zeros (the first
	 * punch learns it, the rest do not try). */
	uint8_t *r = h->mem + DATA + 0x20000u;
	for (uint64_t lba = 2000; lba <= 3000; lba += 1000) {
		fill(h->mem + DATA, 4096, 1);
		assert_int_equal(rw_status(h, 0x01, lba, 4096), 0);
		struct sqe z = cmd(0x08, 1, 0, 0);
		z.dw[10] = (uint32_t)lba;
		z.dw[12] = 7;
		assert_int_equal(status_of(h, &z), 0);
		memset(r, 0xaa, 4096);
		assert_int_equal(rw(h, 1, 0x02, lba, DATA + 0x20000u, 4096, LISTS),
				 0);
		for (size_t i = 0; i < 4096; i++)
			assert_int_equal(r[i], 0);
	}

	/* A failed flush stays failed: the next one cannot know better. */
	struct sqe e = cmd(0x00, 1, 0, 0);
	assert_int_equal(status_of(h, &e), 0x280 | DNR);
	e = cmd(0x00, 1, 0, 0);
	assert_int_equal(status_of(h, &e), 0x280 | DNR);

	/* SMART: media and data integrity errors, counted. */
	e = cmd(0x02, 0xffffffffu, IOVA + DATA, 0);
	e.dw[10] = 2 | 127u << 16;
	assert_int_equal(run(h, 0, &e, NULL), 0);
	uint64_t v;
	memcpy(&v, h->mem + DATA + 160, 8);
	assert_int_equal(v, 6);
	memcpy(&v, h->mem + DATA + 32, 8); /* data units read */
	assert_true(v >= 1);
}

/* io_uring refused (seccomp): the thread pool does the work. */
static void test_fallback(void **state)
{
	struct host *h = *state;
	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++)
		write_read(h, q, q * 1000, 64 * 1024, 0x200, 0);
}

/* ---- doorbells: the mmap-able page, shadow doorbells --------------------------- */

/* Stores into the mapped doorbell page (setup_mmap) on every queue; a
 * posted region write of a doorbell still works beside them (QEMU sends
 * those when it does not map the page), and stores after it too. */
static void test_mmap_doorbells(void **state)
{
	struct host *h = *state;
	assert_non_null(h->bar);
	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++) {
		write_read(h, q, q * 1000, 64 * 1024, 0x200, 0);
		write_read(h, q, q * 1000 + 300, 8192, 0x400, 0);
	}
	uint8_t *bar = h->bar;
	h->bar = NULL;
	write_read(h, 4, 4500, 16384, 0, 0);
	struct sqe e = cmd(0x18, 0, 0, 0);
	assert_int_equal(run(h, 0, &e, NULL), 0);
	h->bar = bar;
	write_read(h, 4, 4600, 16384, 0, 0);
	assert_int_equal(run(h, 0, &e, NULL), 0);
	/* Queue wrap-around through the page. */
	for (unsigned i = 0; i < QSIZE + 8; i++) {
		e = cmd(0x00, 1, 0, 0);
		assert_int_equal(run(h, 2, &e, NULL), 0);
	}
}

static int dbbuf_config(struct host *h, uint64_t db, uint64_t ei)
{
	struct sqe e = cmd(0x7c, 0, db, ei);
	return run(h, 0, &e, NULL);
}

/* As Linux: both buffers zeroed, the command sent once the I/O queues
 * exist and before any I/O on them; from then on the EventIdx rule. */
static void dbbuf_on(struct host *h, uint8_t *mem, uint64_t iova)
{
	memset(mem + DBB_SHADOW, 0, 2 * PAGE);
	h->sdb = (uint32_t *)(void *)(mem + DBB_SHADOW);
	h->sei = (uint32_t *)(void *)(mem + DBB_EVENTIDX);
	assert_int_equal(dbbuf_config(h, iova + DBB_SHADOW, iova + DBB_EVENTIDX),
			 0);
	h->dbbuf = true;
	h->rings = h->shadow_writes = 0;
}

/* (b) The host follows the EventIdx rule: write, read back and compare
 * on every queue, then 64 commands at once on each, twice (the queues
 * wrap).  Far fewer register writes than new values; idle, the
 * controller has set every SQ's EventIdx to the tail it took, so that
 * the next command rings (with the page, it polls and asks for none). */
static void test_dbbuf(void **state)
{
	struct host *h = *state;
	struct batch b = { 0 };
	const size_t all = (size_t)NQ * QD * QDLEN;
	enable(h);
	create_qd_pairs(h);
	dbbuf_on(h, h->mem, IOVA);
	for (unsigned q = 1; q <= NQ; q++) {
		write_read(h, q, q * 1000, 64 * 1024, 0x200, 0);
		write_read(h, q, q * 1000 + 200, 4096, 0, 0x100);
	}
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned k = 0; k < NQ * QD; k++)
			fill(h->mem + QDD + (uint64_t)k * QDLEN, QDLEN,
			     k * 3 + round);
		burst(h, &b, NQ, QD, 0x01, QDD, 0, QDL);
		collect(h, &b);
		check_file(h, 0, h->mem + QDD, all);
		memset(h->mem + QDR, 0, all);
		burst(h, &b, NQ, QD, 0x02, QDR, 0, QDL);
		collect(h, &b);
		assert_memory_equal(h->mem + QDD, h->mem + QDR, all);
	}
	if (h->rings * 3 > h->shadow_writes)
		fail_msg("%u register writes for %u new doorbell values",
			 h->rings, h->shadow_writes);
	if (h->cfg.mmap_db)
		return;
	usleep(20000);
	for (unsigned q = 1; q <= NQ; q++)
		assert_int_equal(__atomic_load_n(&h->sei[2 * q], __ATOMIC_ACQUIRE),
				 h->q[q].tail);
	unsigned before = h->rings;
	struct sqe e = cmd(0x00, 1, 0, 0);
	assert_int_equal(run(h, 3, &e, NULL), 0);
	assert_true(h->rings > before);
}

/* The whole 15-bit status of admin command e. */
static uint16_t admin_status(struct host *h, struct sqe *e)
{
	uint16_t cid, st, want = place(h, 0, e);
	ring(h, 0);
	assert_int_equal(reap_any(h, 0, &cid, &st, 2000), 1);
	assert_int_equal(cid, want);
	return st;
}

/* (c) Buffers the controller cannot use: Invalid Field in Command, DNR;
 * on message-only guest memory too (it would poll through messages). */
static void test_dbbuf_bad(void **state)
{
	struct host *h = *state;
	const uint64_t db = IOVA + DBB_SHADOW, ei = IOVA + DBB_EVENTIDX;
	const uint64_t bad[][2] = {
		{ db + 4, ei },         /* misaligned */
		{ db, ei + 0x800 },
		{ db, db },             /* the same page */
		{ 0x1000, ei },         /* in no window */
		{ db, 0x2000 },
		{ db, IOVA + GMEM },    /* just past the window */
		{ IOVA + GMEM - PAGE, IOVA + GMEM }, /* the last page, and past it */
	};
	enable(h);
	create_pairs(h, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sqe e = cmd(0x7c, 0, bad[i][0], bad[i][1]);
		assert_int_equal(admin_status(h, &e), 0x002 | DNR);
	}
	struct sqe e = cmd(0x7c, 0, db, ei);
	e.dw[0] |= 1u << 14; /* SGL: PRPs only */
	assert_int_equal(admin_status(h, &e), 0x002 | DNR);
	e = cmd(0x7c, 0, db, ei);
	assert_int_equal(admin_status(h, &e), h->memfd < 0 ? 0x002 | DNR : 0);
	if (h->memfd >= 0) {
		h->dbbuf = true;
		h->sdb = (uint32_t *)(void *)(h->mem + DBB_SHADOW);
		h->sei = (uint32_t *)(void *)(h->mem + DBB_EVENTIDX);
	}
	/* Not an I/O command. */
	e = cmd(0x7c, 1, db, ei);
	assert_int_equal(run(h, 2, &e, NULL), 0x001);
	write_read(h, 1, 10, 4096, 0, 0);
	write_read(h, 2, 20, 8192, 0, 0);

	/* Disabled: the command, written and rung, does nothing (no CQE,
	 * no EventIdx); after enabling, nothing is configured. */
	reg_write(h, 0x14, 0);
	wait_csts(h, 1, 0);
	h->dbbuf = false;
	memset(h->mem + DBB_EVENTIDX, 0xee, PAGE);
	uint64_t cq0 = h->q[0].cq + h->q[0].head * 16u;
	e = cmd(0x7c, 0, db, ei);
	submit(h, 0, &e);
	usleep(20000);
	assert_int_equal(h->mem[cq0 + 14] & 1, h->q[0].phase ? 0 : 1);
	enable(h);
	create_pairs(h, 2);
	write_read(h, 1, 10, 4096, 0, 0);
	for (size_t i = 0; i < PAGE; i++)
		assert_int_equal(h->mem[DBB_EVENTIDX + i], 0xee);
}

/* Poisoned EventIdx page: the controller must write nothing there. */
static void dbbuf_off(struct host *h)
{
	h->dbbuf = false;
	memset(h->mem + DBB_EVENTIDX, 0xee, PAGE);
}

static void check_ei_untouched(struct host *h)
{
	for (size_t i = 0; i < PAGE; i++)
		if (h->mem[DBB_EVENTIDX + i] != 0xee)
			fail_msg("EventIdx byte %zu written after the reset", i);
}

/* Doorbell Buffer Config does not outlive CC.EN = 0, shutdown, a
 * DEVICE_RESET or a lost client: afterwards the registers alone drive the
 * queues (a controller that kept the buffers would take the I/O queues'
 * tails from the stale shadow and stall), and no EventIdx is written. */
static void test_dbbuf_reset(void **state)
{
	struct host *h = *state;
	for (int how = 0; how < 4; how++) {
		enable(h);
		create_pairs(h, NQ);
		dbbuf_on(h, h->mem, IOVA);
		write_read(h, 1, 100, 16384, 0, 0);
		dbbuf_off(h);
		if (how == 0) {
			reg_write(h, 0x14, 0);
			wait_csts(h, 1, 0);
		} else if (how == 1) {
			reg_write(h, 0x14, reg_read(h, 0x14) | 1u << 14);
			wait_csts(h, 0xc, 0x8);
		} else if (how == 2) {
			assert_int_equal(uvfio_client_reset(h->c), 0);
		} else {
			uvfio_client_destroy(h->c);
			connect_client(h);
		}
		check_works(h);
		write_read(h, 2, 200, 8192, 0, 0);
		check_ei_untouched(h);
	}
}

/* The buffers lie in a window the client unmaps: the unmap does not wait
 * on the controller (it lets go of them), the queues wait meanwhile, and
 * once the window is back the controller maps them again and goes on. */
static void test_dbbuf_unmap(void **state)
{
	struct host *h = *state;
	map_window2(h);
	enable(h);
	create_pairs(h, 2);
	dbbuf_on(h, h->mem2, IOVA2);
	write_read(h, 1, 10, 16384, 0, 0);
	assert_int_equal(uvfio_client_dma_unmap(h->c, IOVA2, GMEM2), 0);
	struct sqe e = cmd(0x00, 1, 0, 0);
	submit(h, 1, &e);
	assert_int_equal(reap(h, 1, NULL, 100), -1);
	map_window2(h);
	assert_int_equal(reap(h, 1, NULL, 2000), 0);
	write_read(h, 2, 20, 16384, 0, 0);
	write_read(h, 1, 30, 4096, 0, 0);
}

/* ---- migration ------------------------------------------------------------------------ */

/* A second server on h's disk file, and a client to it with the same
 * guest memory (the memfd mapped again). */
static void start_dest(const struct host *h, struct host *d)
{
	*d = *h;
	snprintf(d->sock, sizeof(d->sock), "%s/nvme2.sock", h->dir);
	snprintf(d->log, sizeof(d->log), "%s/server2.log", h->dir);
	start_server(d);
	connect_client(d);
}

static void stop_dest(struct host *d)
{
	int status;
	uvfio_client_destroy(d->c);
	assert_int_equal(tu_reap(d->pid, SIGTERM, &status), d->pid);
	check_log(d, status);
	unlink(d->sock);
	unlink(d->log);
}

/* The source's whole STOP_COPY stream, the source left in STOP. */
static size_t save_stream(struct host *h, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	ssize_t got;
	assert_int_equal(uvfio_client_mig_set_state(h->c, UVFIO_MIG_STOP_COPY), 0);
	while ((got = uvfio_client_mig_read(h->c, buf + len, cap - len)) > 0)
		len += (size_t)got;
	assert_int_equal(got, 0);
	assert_int_equal(uvfio_client_mig_set_state(h->c, UVFIO_MIG_STOP), 0);
	return len;
}

static int load_stream(struct host *d, const uint8_t *buf, size_t len)
{
	assert_int_equal(uvfio_client_mig_set_state(d->c, UVFIO_MIG_RESUMING), 0);
	assert_int_equal(uvfio_client_mig_write(d->c, buf, len), 0);
	return uvfio_client_mig_set_state(d->c, UVFIO_MIG_STOP);
}

/* A stream the destination must refuse, which leaves it in ERROR until a
 * reset. */
static void refused(struct host *d, const uint8_t *buf, size_t len, size_t at,
		    uint8_t val)
{
	uint8_t bad[4096];
	enum uvfio_mig_state st;
	memcpy(bad, buf, len);
	bad[at] = val;
	assert_int_equal(load_stream(d, bad, len), -EINVAL);
	assert_int_equal(uvfio_client_mig_get_state(d->c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_ERROR);
	assert_int_equal(uvfio_client_reset(d->c), 0);
}

/* Write len bytes at lba on qid without waiting: placed and rung. */
static void post_write(struct host *h, unsigned qid, uint64_t lba,
		       uint64_t data, size_t len)
{
	struct sqe e = cmd(0x01, 1, 0, 0);
	fill(h->mem + data, len, 77);
	prps(h, data, len, LISTS, &e);
	e.dw[10] = (uint32_t)lba;
	e.dw[12] = (uint32_t)(len / 512 - 1);
	submit(h, qid, &e);
}

/* The source (stopped) saved and its stream loaded into a fresh destination
 * (d), which is set running; the host then drives d: its client, and its
 * doorbell page if mapped (the source's page means nothing there). */
static void migrate(struct host *h, struct host *d)
{
	uint8_t buf[4096];
	size_t len = save_stream(h, buf, sizeof(buf));
	start_dest(h, d);
	assert_int_equal(load_stream(d, buf, len), 0);
	assert_int_equal(uvfio_client_mig_set_state(d->c, UVFIO_MIG_RUNNING), 0);
	uvfio_client_destroy(h->c);
	h->c = d->c;
	h->bar = d->bar;
}

/* Write, read back and compare on every queue, then queue 4 wraps. */
static void migrated_io(struct host *h, uint64_t lba)
{
	for (unsigned q = 1; q <= NQ; q++)
		write_read(h, q, lba + q * 1000, 65536, 0x200, 0);
	for (unsigned i = 0; i < h->q[4].size + 5u; i++) {
		struct sqe e = cmd(0x00, 1, 0, 0);
		assert_int_equal(run(h, 4, &e, NULL), 0);
	}
}

/*
 * I/O on every queue (queue 4 wrapped: its phase flipped), then the
 * source stopped with a write rung but not fetched; its state moves to a
 * second server on the same file, which finishes that write and goes on
 * on the same queues.  Corrupted streams are refused first.
 */
static void test_migrate(void **state)
{
	struct host *h = *state, d;
	uint8_t buf[4096];
	enable(h);
	create_pairs(h, NQ);
	for (unsigned q = 1; q <= NQ; q++)
		write_read(h, q, q * 1000, 8192, 0, 0);
	for (unsigned i = 0; i < QSIZE + 3; i++) {
		struct sqe e = cmd(0x00, 1, 0, 0);
		assert_int_equal(run(h, 4, &e, NULL), 0);
	}
	uint32_t cc = reg_read(h, 0x14), aqa = reg_read(h, 0x24);

	assert_int_equal(uvfio_client_mig_set_state(h->c, UVFIO_MIG_STOP), 0);
	post_write(h, 1, 6000, DATA, 16384);
	size_t len = save_stream(h, buf, sizeof(buf));
	assert_true(len > 16 && len < sizeof(buf));

	start_dest(h, &d);
	refused(&d, buf, len, 0, buf[0] ^ 1);        /* magic */
	refused(&d, buf, len, 4, 2);                 /* version */
	refused(&d, buf, len - 1, 0, buf[0]);        /* short */
	refused(&d, buf, len, 16, buf[16] ^ 0x80);   /* namespace size */
	refused(&d, buf, len, 140 + 36 * 5, 1);      /* SQ 5 live, size 0 */
	assert_int_equal(load_stream(&d, buf, len), 0);
	assert_int_equal(uvfio_client_mig_set_state(d.c, UVFIO_MIG_RUNNING), 0);

	/* The host goes on with the destination. */
	uvfio_client_destroy(h->c);
	h->c = d.c;
	assert_int_equal(reg_read(h, 0x14), cc);
	assert_int_equal(reg_read(h, 0x24), aqa);
	assert_int_equal(reg_read(h, 0x1c) & 3, 1);
	assert_int_equal(reap(h, 1, NULL, 2000), 0);
	uint8_t *r = h->mem + DATA + 0x20000u;
	memset(r, 0, 16384);
	assert_int_equal(rw(h, 1, 0x02, 6000, DATA + 0x20000u, 16384, LISTS), 0);
	assert_memory_equal(r, h->mem + DATA, 16384);
	for (unsigned q = 1; q <= NQ; q++)
		write_read(h, q, q * 1000 + 100, 65536, 0x200, 0);
	for (unsigned i = 0; i < QSIZE; i++) {
		struct sqe e = cmd(0x00, 1, 0, 0);
		assert_int_equal(run(h, 4, &e, NULL), 0);
	}
	h->c = NULL;
	stop_dest(&d);
}

/* --doorbells mmap: the destination has its own doorbell page, which the
 * host maps before it stores a doorbell there. */
static void test_migrate_mmap(void **state)
{
	struct host *h = *state, d;
	assert_non_null(h->bar);
	enable(h);
	create_pairs(h, NQ);
	migrated_io(h, 0);
	assert_int_equal(uvfio_client_mig_set_state(h->c, UVFIO_MIG_STOP), 0);
	post_write(h, 2, 7000, DATA, 16384); /* a store nobody polls */
	migrate(h, &d);
	assert_non_null(h->bar);
	assert_int_equal(reap(h, 2, NULL, 2000), 0);
	migrated_io(h, 100);
	h->c = NULL;
	stop_dest(&d);
}

/*
 * Shadow doorbells configured on the source: the destination goes on
 * with the host's buffers, without a new Doorbell Buffer Config.  The
 * host keeps to the EventIdx rule (few register writes), and idle, the
 * destination has set each SQ's EventIdx to the tail it took, so the
 * next command rings the register.
 */
static void test_migrate_dbbuf(void **state)
{
	struct host *h = *state, d;
	struct batch b = { 0 };
	const size_t all = (size_t)NQ * QD * QDLEN;
	enable(h);
	create_qd_pairs(h);
	dbbuf_on(h, h->mem, IOVA);
	migrated_io(h, 0);
	/* Stopped, with a write in queue 1's shadow only: its EventIdx
	 * (behind the tail) asks for no ring, so the destination must find
	 * it there. */
	assert_int_equal(uvfio_client_mig_set_state(h->c, UVFIO_MIG_STOP), 0);
	__atomic_store_n(&h->sei[2], (uint16_t)(h->q[1].tail - 1),
			 __ATOMIC_RELEASE);
	unsigned rung = h->rings;
	post_write(h, 1, 7000, DATA, 16384);
	assert_int_equal(h->rings, rung);
	migrate(h, &d);
	assert_int_equal(reap(h, 1, NULL, 2000), 0);
	migrated_io(h, 100);
	/* Bursts: one register write per queue at most, CQ heads none. */
	h->rings = h->shadow_writes = 0;
	for (unsigned k = 0; k < NQ * QD; k++)
		fill(h->mem + QDD + (uint64_t)k * QDLEN, QDLEN, k * 5);
	burst(h, &b, NQ, QD, 0x01, QDD, 0, QDL);
	collect(h, &b);
	check_file(h, 0, h->mem + QDD, all);
	memset(h->mem + QDR, 0, all);
	burst(h, &b, NQ, QD, 0x02, QDR, 0, QDL);
	collect(h, &b);
	assert_memory_equal(h->mem + QDD, h->mem + QDR, all);
	if (h->rings * 3 > h->shadow_writes)
		fail_msg("%u register writes for %u new doorbell values",
			 h->rings, h->shadow_writes);
	usleep(20000);
	for (unsigned q = 1; q <= NQ; q++)
		assert_int_equal(__atomic_load_n(&h->sei[2 * q], __ATOMIC_ACQUIRE),
				 h->q[q].tail);
	unsigned before = h->rings;
	struct sqe e = cmd(0x00, 1, 0, 0);
	assert_int_equal(run(h, 3, &e, NULL), 0);
	assert_true(h->rings > before);
	h->c = NULL;
	stop_dest(&d);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4 ||
	    (argc > 2 && strcmp(argv[2], "uring") &&
	     strcmp(argv[2], "threads")) ||
	    (argc > 3 && strcmp(argv[3], "auto") && strcmp(argv[3], "never") &&
	     strcmp(argv[3], "always"))) {
		fprintf(stderr, "usage: test-nvme PATH-TO-uvfio-nvme "
				"[uring|threads [auto|never|always]]\n");
		return 2;
	}
	nvme_bin = argv[1];
	if (argc > 2)
		backend = argv[2];
	if (argc > 3)
		io_inline = argv[3];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup_msg, teardown),
		cmocka_unit_test_setup_teardown(test_io, setup_msg, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup_msg, teardown),
		cmocka_unit_test_setup_teardown(test_reset_inflight, setup_msg,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup_msg,
						teardown),
		cmocka_unit_test_setup_teardown(test_qd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd, setup_msg, teardown),
		cmocka_unit_test_setup_teardown(test_reset_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_inflight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete_sq_inflight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_reset_inflight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unmap_inflight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_inflight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup_errors,
						teardown),
		cmocka_unit_test_setup_teardown(test_fallback, setup_no_uring,
						teardown),
		cmocka_unit_test_setup_teardown(test_mmap_doorbells, setup_mmap,
						teardown),
		cmocka_unit_test_setup_teardown(test_io, setup_mmap, teardown),
		cmocka_unit_test_setup_teardown(test_io, setup_mmap_unmapped,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup_mmap,
						teardown),
		cmocka_unit_test_setup_teardown(test_qd, setup_mmap, teardown),
		cmocka_unit_test_setup_teardown(test_reset_many, setup_mmap,
						teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf, setup_mmap, teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf_bad, setup_msg,
						teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf_unmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_mmap, setup_mmap,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrate_dbbuf, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
