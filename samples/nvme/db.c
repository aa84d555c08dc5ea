/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme's doorbells beyond region writes: the mmap-able doorbell
 * page, and shadow doorbells (Doorbell Buffer Config) with EventIdx.
 *
 * --doorbells mmap: BAR0's doorbell page (0x1000..0x1fff; the MSI-X table
 * and PBA after it stay emulated) is a sparse mmap area of a memfd the
 * device owns, mapped here too.  A client that maps it stores doorbell
 * values there without a message; the device finds them by polling the
 * page from its loop (nvme_db_poll, after every round and on a timer
 * while the controller is enabled: main.c).  A dword is loaded once,
 * with acquire order (the SQ entries the host wrote before its store are
 * then seen), and the value is checked as a region write's is
 * (nvme_db_apply).  It counts when it differs from the one last taken
 * from the page.  Region writes of the page go on working beside it (QEMU
 * sends them when it does not map the page); a host should not mix both
 * on one queue, as nothing orders a posted write against a store.  The
 * device writes a doorbell's dword only when its queue is created (0),
 * when no host may store to it.
 *
 * Doorbell Buffer Config (admin 0x7C, NVMe 1.3; OACS bit 8): the host
 * gives two pages of its memory, a shadow doorbell buffer and an EventIdx
 * buffer, each laid out as the doorbell registers.  It then writes new
 * I/O queue tails and heads into the shadow buffer and rings the real
 * doorbell only when the EventIdx rule says so.  This follows what
 * Linux's drivers/nvme/host/pci.c does (nvme_dbbuf_dma_alloc,
 * nvme_dbbuf_init, nvme_dbbuf_set, nvme_dbbuf_update_and_check_event,
 * nvme_dbbuf_need_event, nvme_write_sq_db, nvme_ring_cq_doorbell, and
 * nvme_reset_work's order of them):
 *
 * - The host updates the shadow, then (full barrier) reads EventIdx, and
 *   rings when (u16)(new - ei - 1) < (u16)(new - old), old being what the
 *   shadow held: when ei lies in [old, new).  So an EventIdx equal to the
 *   value last taken asks for a ring at the host's next new value, and
 *   only that one (the host passes it once per lap of the queue).  The
 *   controller's side of the pairing: write EventIdx, full barrier, read
 *   the shadow again (nvme_db_arm).
 * - Only I/O queues: Linux never writes the admin queue's shadow entries
 *   (nvme_dbbuf_init skips qid 0), so admin doorbells are taken from the
 *   register writes as always; their EventIdx follows every value, so
 *   that a host that does use the admin shadow rings each time.
 * - Linux configures the buffers after creating its I/O queues and before
 *   any I/O on them (it zeroes both buffers first; kernels before 2024
 *   could submit before the command, and reused them unzeroed): the
 *   shadow and EventIdx entries of the queues already there are set to
 *   the controller's own values, so the host's next value is seen as new
 *   and rings.  A queue created later starts at 0 in both buffers.
 * - With the buffers configured, a register write of an I/O queue's
 *   doorbell (message or page) only says "look": the value is the
 *   shadow's.  The written value may be older than what the shadow
 *   already said (a posted write arrives late) and would move the tail
 *   back.
 * - The settings do not survive a controller reset (CC.EN = 0, FLR,
 *   DEVICE_RESET, a lost client) or a shutdown: forgotten there, and
 *   Linux sends the command again after each reset.
 *
 * The buffers are read and written through mappings of fd-backed guest
 * memory (uvfio_server_dma_sg_map), held while configured: a look is a
 * load, not a message.  Message-only memory would make every look a
 * round trip, so such buffers get Invalid Field in Command, as any
 * address the controller cannot use (NVMe 1.4 section 5.7).  A DMA_UNMAP
 * of their window drops the mapping (the library waits for it); the next
 * look maps them again, and until it can, those queues' shadow values
 * wait.  EventIdx writes are marked dirty for the client's dirty logging.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nvme.h"

#define EI_UNKNOWN 0xffffffffu

/* The part of each buffer the controller uses: its doorbells. */
static uint64_t buf_bytes(const struct nvme_ctrl *n)
{
	return 8ull * (n->max_ioq + 1u);
}

static unsigned ndb(const struct nvme_ctrl *n)
{
	return 2u * (n->max_ioq + 1u);
}

static bool db_live(const struct nvme_ctrl *n, unsigned idx)
{
	unsigned q = idx / 2;
	return q <= n->max_ioq && (idx & 1 ? n->cq[q].live : n->sq[q].live);
}

/* ---- the doorbell page ------------------------------------------------------- */

int nvme_db_page_create(struct nvme_ctrl *n, uint64_t bar_size)
{
	/* The file spans BAR0 as the region's offsets do; only the
	 * doorbell page is ever touched, the rest costs nothing. */
	int fd = memfd_create("uvfio-nvme-doorbells", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	void *p = MAP_FAILED;
	if (ftruncate(fd, (off_t)bar_size) == 0)
		p = mmap(NULL, NVME_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 NVME_DOORBELLS);
	if (p == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return e;
	}
	n->db_page = p;
	n->db_fd = fd;
	memset(n->page_seen, 0, sizeof(n->page_seen));
	return 0;
}

void nvme_db_page_destroy(struct nvme_ctrl *n)
{
	if (!n->db_page)
		return;
	munmap(n->db_page, NVME_PAGE);
	close(n->db_fd);
	n->db_page = NULL;
	n->db_fd = -1;
}

/* ---- the shadow buffers ------------------------------------------------------ */

/* Map b's buffers (one piece each, fd-backed): 0 or -errno. */
static int dbbuf_map(struct nvme_ctrl *n, struct nvme_dbbuf *b)
{
	/* The shadow is read, and written when a queue starts; EventIdx
	 * only written. */
	const uint32_t prot[2] = { UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				   UVFIO_DMA_MAP_WRITE };
	const uint64_t at[2] = { b->db_iova, b->ei_iova };
	struct iovec iov[2];
	for (int i = 0; i < 2; i++) {
		int cnt = uvfio_server_dma_addr_to_sg(n->srv, at[i], buf_bytes(n),
						      prot[i], &b->sg[i], 1);
		if (cnt < 0)
			return cnt;
		if (cnt != 1)
			return -E2BIG; /* across windows */
		if (!(b->sg[i].flags & UVFIO_DMA_SG_MAPPABLE))
			return -EFAULT;
	}
	int r = uvfio_server_dma_sg_map(n->srv, b->sg, 2, iov);
	if (r)
		return r;
	b->db = iov[0].iov_base;
	b->ei = iov[1].iov_base;
	if (((uintptr_t)b->db | (uintptr_t)b->ei) & 3) {
		/* no single load or store of a dword there */
		uvfio_server_dma_sg_unmap(n->srv, b->sg, 2, false);
		return -EINVAL;
	}
	b->mapped = true;
	memset(b->ei_val, 0xff, sizeof(b->ei_val));
	return 0;
}

static void dbbuf_unmap(struct nvme_ctrl *n, struct nvme_dbbuf *b)
{
	if (b->mapped)
		uvfio_server_dma_sg_unmap(n->srv, b->sg, 2, true);
	b->mapped = false;
	b->db = b->ei = NULL;
}

/* Configured and mapped (again, after an unmap) now. */
static bool dbbuf_ready(struct nvme_ctrl *n)
{
	struct nvme_dbbuf *b = &n->dbbuf;
	return b->on && (b->mapped || dbbuf_map(n, b) == 0);
}

static void ei_write(struct nvme_ctrl *n, unsigned idx, uint16_t v)
{
	struct nvme_dbbuf *b = &n->dbbuf;
	if (b->ei_val[idx] == v)
		return; /* the host's cache line stays where it is */
	__atomic_store_n(&b->ei[idx], (uint32_t)v, __ATOMIC_RELEASE);
	b->ei_val[idx] = v;
	uvfio_server_dma_sg_mark_dirty(n->srv, &b->sg[1], 1);
}

/* Doorbell idx is at v in the shadow buffer, taken, and its next new
 * value rings: where a queue (or the configuration) starts. */
static void shadow_set(struct nvme_ctrl *n, unsigned idx, uint16_t v)
{
	struct nvme_dbbuf *b = &n->dbbuf;
	__atomic_store_n(&b->db[idx], (uint32_t)v, __ATOMIC_RELAXED);
	b->seen[idx] = v;
	uvfio_server_dma_sg_mark_dirty(n->srv, &b->sg[0], 1);
	ei_write(n, idx, v);
}

/* Take doorbell idx's shadow value if it is new: true if it was. */
static bool shadow_take(struct nvme_ctrl *n, unsigned idx)
{
	struct nvme_dbbuf *b = &n->dbbuf;
	/* Read once (the host may change it any time); acquire: what the
	 * host wrote before it (SQ entries) is seen after it. */
	uint16_t v = (uint16_t)__atomic_load_n(&b->db[idx], __ATOMIC_ACQUIRE);
	if (v == b->seen[idx])
		return false;
	b->seen[idx] = v;
	nvme_db_apply(n, idx, v);
	return true;
}

/* A write of doorbell register idx, by message or in the page. */
static void ring(struct nvme_ctrl *n, unsigned idx, uint32_t v)
{
	if (n->dbbuf.on && idx >= 2) {
		/* Only "look": see the top. */
		if (dbbuf_ready(n))
			shadow_take(n, idx);
		return;
	}
	nvme_db_apply(n, idx, v);
	if (idx < 2 && dbbuf_ready(n))
		ei_write(n, idx, (uint16_t)v); /* the admin queue: every time */
}

void nvme_db_write(struct nvme_ctrl *n, unsigned idx, uint32_t v)
{
	ring(n, idx, v);
	/* Submits what the commands queued at the backend, and completes
	 * what is done already; raises the vectors. */
	nvme_io_poll(n);
	nvme_raise_irqs(n);
}

void nvme_db_queue_init(struct nvme_ctrl *n, unsigned idx)
{
	if (n->db_page) {
		__atomic_store_n(&n->db_page[idx], 0, __ATOMIC_RELAXED);
		n->page_seen[idx] = 0;
	}
	if (idx < 2 || !n->dbbuf.on)
		return;
	if (dbbuf_ready(n)) {
		shadow_set(n, idx, 0);
	} else {
		/* Set when mapped again: until then, what the host wrote
		 * after a reset (0, Linux zeroes the buffers) is right. */
		n->dbbuf.seen[idx] = 0;
	}
}

/* ---- polling ----------------------------------------------------------------- */

bool nvme_db_polling(const struct nvme_ctrl *n)
{
	return n->db_page && nvme_ready(n);
}

bool nvme_db_poll(struct nvme_ctrl *n)
{
	bool found = false;
	if (!nvme_ready(n))
		return false;
	for (unsigned idx = 0; n->db_page && idx < ndb(n); idx++) {
		if (!db_live(n, idx))
			continue;
		uint16_t v = (uint16_t)__atomic_load_n(&n->db_page[idx],
						       __ATOMIC_ACQUIRE);
		if (v == n->page_seen[idx])
			continue;
		n->page_seen[idx] = v;
		ring(n, idx, v);
		found = true;
	}
	if (dbbuf_ready(n))
		for (unsigned idx = 2; idx < ndb(n); idx++)
			if (db_live(n, idx) && shadow_take(n, idx))
				found = true;
	if (found) {
		nvme_io_poll(n);
		nvme_raise_irqs(n);
	}
	return found;
}

bool nvme_db_arm(struct nvme_ctrl *n)
{
	if (!nvme_ready(n) || !dbbuf_ready(n))
		return false;
	struct nvme_dbbuf *b = &n->dbbuf;
	for (unsigned q = 1; q <= n->max_ioq; q++) {
		if (n->sq[q].live)
			ei_write(n, 2 * q, b->seen[2 * q]);
		/* A CQ head only matters to an SQ that waits for room: asking
		 * for every one would ring once per completion. */
		if (n->cq[q].live && nvme_cq_waited(n, q))
			ei_write(n, 2 * q + 1, b->seen[2 * q + 1]);
	}
	/* EventIdx stored before the shadow is read again, as the host
	 * stores the shadow before it reads EventIdx: one of the two sees
	 * the other's store, so a new value is either taken here or rung. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return nvme_db_poll(n);
}

/* ---- Doorbell Buffer Config ---------------------------------------------------- */

uint16_t nvme_dbbuf_config(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	struct nvme_dbbuf nb = { .on = true, .db_iova = c->prp1,
				 .ei_iova = c->prp2 };
	/* Each buffer is a memory page: page aligned (NVMe 1.4 5.7), and
	 * two that are one would have the host and the controller write
	 * each other's entries. */
	if (c->psdt || ((c->prp1 | c->prp2) & (NVME_PAGE - 1)) ||
	    c->prp1 == c->prp2)
		return NVME_INVALID_FIELD;
	if (dbbuf_map(n, &nb))
		return NVME_INVALID_FIELD;
	nvme_dbbuf_forget(n); /* a second command replaces the first */
	n->dbbuf = nb;
	/* The queues already there go on from the controller's values (see
	 * the top): the host's next value is new and rings. */
	for (unsigned q = 1; q <= n->max_ioq; q++) {
		if (n->sq[q].live)
			shadow_set(n, 2 * q, n->sq[q].tail);
		if (n->cq[q].live)
			shadow_set(n, 2 * q + 1, n->cq[q].head);
	}
	ei_write(n, 0, n->sq[0].tail);
	ei_write(n, 1, n->cq[0].head);
	return NVME_SUCCESS;
}

void nvme_dbbuf_forget(struct nvme_ctrl *n)
{
	dbbuf_unmap(n, &n->dbbuf);
	memset(&n->dbbuf, 0, sizeof(n->dbbuf));
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

void nvme_dbbuf_unmap(struct nvme_ctrl *n, uint64_t iova, uint64_t size)
{
	struct nvme_dbbuf *b = &n->dbbuf;
	if (!b->mapped)
		return;
	if (!size || overlaps(iova, size, b->db_iova, buf_bytes(n)) ||
	    overlaps(iova, size, b->ei_iova, buf_bytes(n)))
		dbbuf_unmap(n, b);
}
