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
 * client serves while it polls the CQ (uvfio_client_process).
 *
 *   test-nvme PATH-TO-uvfio-nvme
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>

#include "util.h"

static const char *nvme_bin;

#define IOVA 0x10000000ull
#define GMEM (4u << 20)
#define PAGE 4096u
#define DISK_SIZE (16u << 20)
#define QSIZE 64u
#define NQ 4u

struct hq {
	uint64_t sq, cq; /* offsets in guest memory */
	uint16_t tail, head;
	bool phase;
};

struct host {
	char dir[64], sock[128], disk[128];
	pid_t pid;
	struct uvfio_client *c;
	int memfd; /* -1: message-only guest memory */
	uint8_t *mem;
	struct hq q[NQ + 1];
	uint16_t cid;
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

static void doorbell(struct host *h, unsigned idx, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write_posted(h->c, 0,
							  0x1000 + 4 * idx, &v, 4),
			 0);
}

static void submit(struct host *h, unsigned qid, struct sqe *e)
{
	struct hq *q = &h->q[qid];
	e->dw[0] = (e->dw[0] & 0xffff) | (uint32_t)++h->cid << 16;
	memcpy(h->mem + q->sq + q->tail * 64u, e, 64);
	q->tail = (uint16_t)((q->tail + 1) % QSIZE);
	doorbell(h, 2 * qid, q->tail);
}

/* The next CQE of qid within timeout_ms: its status (code and type,
 * without phase or DNR), -1 on timeout. */
static int reap(struct host *h, unsigned qid, uint32_t *dw0, int timeout_ms)
{
	struct hq *q = &h->q[qid];
	uint8_t *e = h->mem + q->cq + q->head * 16u;
	for (int i = 0; i < timeout_ms * 10; i++) {
		uint32_t dw3 = __atomic_load_n((uint32_t *)(e + 12),
					       __ATOMIC_ACQUIRE);
		if (((dw3 >> 16) & 1) == q->phase) {
			uint16_t cid;
			memcpy(&cid, e + 12, 2);
			assert_int_equal(cid, h->cid);
			if (dw0)
				memcpy(dw0, e, 4);
			if (++q->head == QSIZE) {
				q->head = 0;
				q->phase = !q->phase;
			}
			doorbell(h, 2 * qid + 1, q->head);
			return (int)((dw3 >> 17) & 0x7ff);
		}
		uvfio_client_process(h->c);
		usleep(100);
	}
	return -1;
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

static int setup_mem(void **state, bool msg_only)
{
	struct host *h = calloc(1, sizeof(*h));
	strcpy(h->dir, "/tmp/uvfio-nvme-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->sock, sizeof(h->sock), "%s/nvme.sock", h->dir);
	snprintf(h->disk, sizeof(h->disk), "%s/disk.img", h->dir);
	h->pid = tu_fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		execl(nvme_bin, nvme_bin, "--socket", h->sock, "--disk", h->disk,
		      "--create-size", "16M", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(tu_wait_server(h->pid, h->sock, 10000), 0);
	assert_int_equal(uvfio_client_create(&h->c), 0);
	assert_int_equal(uvfio_client_connect(h->c, h->sock), 0);
	if (msg_only) {
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
	assert_int_equal(uvfio_client_dma_map(h->c, IOVA, GMEM,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      h->mem, h->memfd, 0),
			 0);
	*state = h;
	return 0;
}

static int setup(void **state)
{
	return setup_mem(state, false);
}

static int setup_msg(void **state)
{
	return setup_mem(state, true);
}

static int teardown(void **state)
{
	struct host *h = *state;
	int status;
	uvfio_client_destroy(h->c);
	munmap(h->mem, GMEM);
	if (h->memfd >= 0)
		close(h->memfd);
	assert_int_equal(tu_reap(h->pid, SIGTERM, &status), h->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(h->disk);
	unlink(h->sock);
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

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-nvme PATH-TO-uvfio-nvme\n");
		return 2;
	}
	nvme_bin = argv[1];
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
