/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes uvfio-nvme's controller (samples/nvme: ctrl.c, admin.c, io.c,
 * prp.c, job.c, db.c; not main.c) behind a real server on a socketpair: the
 * harness is the host, with two DMA windows of guest memory, one a
 * memfd (zero-copy path) and one message-only (fd -1: jobs, DMA_READ and
 * DMA_WRITE answered by the harness, possibly late or with an error).
 * The backing disk is a 1 MiB file in /tmp, unlinked once opened.
 *
 * Input: byte 0 configures (bit 0 --readonly, bits 1-3 queues - 1, bit 4
 * --doorbells mmap), then operations, each an opcode byte and its
 * operands (see run_op): register writes, doorbells, SQ entries written
 * at an SQ's tail and rung, PRP lists, raw guest memory, enable, DMA
 * answers, DEVICE_RESET, a turn of main.c's loop (doorbell page and
 * shadow doorbells polled, EventIdx armed), a store to the doorbell page.
 * Doorbell Buffer Config comes as any admin command does.
 *
 * Checked: every CQE is written at its CQ's tail slot, inside the CQ,
 * with the phase tag of that pass; commands the harness knows to be
 * invalid complete with an error; queue indexes stay in range; bytes
 * around both windows (canaries) never change; no fd outlives the input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/codec.h>
#include <uvfio/server.h>
#include <uvfio/wire.h>

#include "ctrl.h"
#include "fuzz.h"
#include "nvme.h"

#define PG 4096u
#define FD_PAGES 32u  /* fd-backed window */
#define MSG_PAGES 16u /* message-only window */
#define CANARY_PAGES 1u
#define IOVA_FD 0x100000ull
#define IOVA_MSG 0x200000ull
#define DISK_SIZE (1u << 20)
#define MAX_XFER 65536u
#define RXCAP (1u << 20)
#define CANARY 0xa5

#define BAR0_SIZE 0x4000u

static struct nvme_ctrl n; /* large: static, as in main.c */
static int disk_fd = -1;
static uint8_t *rxbuf;
static uint8_t msgmem[(MSG_PAGES + 2 * CANARY_PAGES) * PG];

/* The host's end and its view of guest memory. */
struct host {
	int fd;
	uint8_t *fdmem; /* the whole memfd: canary pages around the window */
	uint16_t next_id;
	struct fz_rx rx;
	/* DMA commands of the server not answered yet */
	struct {
		uint16_t id, cmd;
		uint64_t addr;
		uint32_t count;
	} pend[64];
	unsigned npend;
	bool auto_answer, fail_next;
	unsigned map_errors;
	uint16_t cid;
};
static struct host H;

/* What the harness knows about the command in SQ q's slot: written by
 * it (not overwritten by raw memory since), and whether it must fail. */
struct slot {
	bool valid, must_fail;
	uint16_t cid;
};
static struct slot slots[NVME_MAX_IOQ + 1][NVME_MQES + 1];

static void forget_slots(void)
{
	memset(slots, 0, sizeof(slots));
}

/* ---- guest memory as the host sees it --------------------------------- */

static uint8_t *host_ptr(uint64_t iova, uint64_t len)
{
	if (iova >= IOVA_FD && len <= FD_PAGES * PG &&
	    iova - IOVA_FD <= FD_PAGES * PG - len)
		return H.fdmem + CANARY_PAGES * PG + (iova - IOVA_FD);
	if (iova >= IOVA_MSG && len <= MSG_PAGES * PG &&
	    iova - IOVA_MSG <= MSG_PAGES * PG - len)
		return msgmem + CANARY_PAGES * PG + (iova - IOVA_MSG);
	return NULL;
}

static void check_canaries(void)
{
	static const size_t c = CANARY_PAGES * PG;
	uint8_t *ends[4] = { H.fdmem, H.fdmem + c + FD_PAGES * PG, msgmem,
			     msgmem + c + MSG_PAGES * PG };
	for (int i = 0; i < 4; i++)
		for (size_t k = 0; k < c; k++)
			FZ_CHECK(ends[i][k] == CANARY);
}

/* ---- the invariants at each CQE --------------------------------------- */

int __real_nvme_guest_write_cqe(struct nvme_ctrl *c, uint64_t iova,
				const uint32_t cqe[4]);
int __wrap_nvme_guest_write_cqe(struct nvme_ctrl *c, uint64_t iova,
				const uint32_t cqe[4]);

/* Every CQE goes through here (ctrl.c and job.c, after nvme_cqe_take
 * moved the tail past it): linked with --wrap. */
int __wrap_nvme_guest_write_cqe(struct nvme_ctrl *c, uint64_t iova,
				const uint32_t cqe[4])
{
	unsigned sqid = cqe[2] >> 16, head = cqe[2] & 0xffff;
	FZ_CHECK(c == &n && sqid <= n.max_ioq);
	struct nvme_sq *sq = &n.sq[sqid];
	FZ_CHECK(sq->live && sq->cqid <= n.max_ioq);
	struct nvme_cq *cq = &n.cq[sq->cqid];
	FZ_CHECK(cq->live && cq->size >= 2 && cq->tail < cq->size);
	unsigned at = (cq->tail + cq->size - 1u) % cq->size;
	FZ_CHECK(iova == cq->base + 16ull * at);
	FZ_CHECK(iova >= cq->base && iova + 16 <= cq->base + 16ull * cq->size);
	bool phase = (cqe[3] >> 16) & 1;
	FZ_CHECK(phase == (cq->tail == 0 ? !cq->phase : cq->phase));
	FZ_CHECK(head < sq->size);
	uint16_t cid = (uint16_t)cqe[3], status = (uint16_t)(cqe[3] >> 17);
	struct slot *s = &slots[sqid][(head + sq->size - 1u) % sq->size];
	if (s->valid && s->cid == cid) {
		if (s->must_fail)
			FZ_CHECK(status != 0 && (status & NVME_DNR));
		s->valid = false;
	}
	return __real_nvme_guest_write_cqe(c, iova, cqe);
}

static void check_state(void)
{
	for (unsigned q = 0; q <= NVME_MAX_IOQ; q++) {
		const struct nvme_sq *sq = &n.sq[q];
		const struct nvme_cq *cq = &n.cq[q];
		if (sq->live)
			FZ_CHECK(q <= n.max_ioq && sq->size >= 2 &&
				 sq->head < sq->size && sq->tail < sq->size &&
				 n.cq[sq->cqid].live);
		if (cq->live)
			FZ_CHECK(q <= n.max_ioq && cq->size >= 2 &&
				 cq->head < cq->size && cq->tail < cq->size &&
				 cq->resv < cq->size);
	}
}

/* ---- the host's socket ------------------------------------------------ */

static void answer(unsigned i, bool fail)
{
	static uint8_t out[UVFIO_HDR_SIZE + 16 + MAX_XFER];
	ssize_t r;
	uint8_t *p = host_ptr(H.pend[i].addr, H.pend[i].count);
	if (fail || !p)
		r = uvfio_build_error(out, sizeof(out), H.pend[i].id,
				      H.pend[i].cmd, EFAULT);
	else if (H.pend[i].cmd == UVFIO_CMD_DMA_READ)
		r = uvfio_build_dma_read_reply(out, sizeof(out), H.pend[i].id,
					       H.pend[i].addr, p,
					       H.pend[i].count);
	else
		r = uvfio_build_dma_write_reply(out, sizeof(out), H.pend[i].id,
						H.pend[i].addr,
						H.pend[i].count);
	FZ_CHECK(r > 0);
	size_t off = 0;
	for (int tries = 0; off < (size_t)r && tries < 1000; tries++) {
		ssize_t w = send(H.fd, out + off, (size_t)r - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			return;
		else
			uvfio_server_process(n.srv);
	}
}

static void on_msg(void *opaque, const uint8_t *m, uint32_t size, int *fds,
		   unsigned nfds)
{
	struct uvfio_hdr hd;
	(void)opaque;
	memcpy(&hd, m, sizeof(hd));
	if ((hd.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY) {
		if ((hd.flags & UVFIO_F_ERROR) && hd.cmd == UVFIO_CMD_DMA_MAP)
			H.map_errors++;
		return;
	}
	const struct uvfio_limits lim = { MAX_XFER, 0, false };
	struct uvfio_cmd_view v;
	FZ_CHECK(nfds == 0 && fds == NULL);
	FZ_CHECK(uvfio_parse_command(m, size, 0, UVFIO_ROLE_CLIENT, &lim, &v) ==
		 0);
	FZ_CHECK(v.hdr.cmd == UVFIO_CMD_DMA_READ ||
		 v.hdr.cmd == UVFIO_CMD_DMA_WRITE);
	/* The server may only reach guest memory through the windows. */
	uint8_t *p = host_ptr(v.u.dma_rw.addr, v.u.dma_rw.count);
	FZ_CHECK(p && v.u.dma_rw.addr >= IOVA_MSG);
	if (v.hdr.cmd == UVFIO_CMD_DMA_WRITE && !H.fail_next)
		memcpy(p, v.u.dma_rw.data, v.u.dma_rw.count);
	FZ_CHECK(H.npend < sizeof(H.pend) / sizeof(H.pend[0]));
	H.pend[H.npend].id = v.hdr.msg_id;
	H.pend[H.npend].cmd = v.hdr.cmd;
	H.pend[H.npend].addr = v.u.dma_rw.addr;
	H.pend[H.npend].count = v.u.dma_rw.count;
	H.npend++;
}

/* Answer the oldest k pending DMA commands (the first with an error if
 * asked). */
static void answer_some(unsigned k, bool fail)
{
	if (k > H.npend)
		k = H.npend;
	for (unsigned i = 0; i < k; i++)
		answer(i, fail && i == 0);
	H.npend -= k;
	memmove(&H.pend[0], &H.pend[k], H.npend * sizeof(H.pend[0]));
}

/* Let the server run and take what it sent, until all is quiet. */
static void pump(void)
{
	for (int i = 0; i < 64; i++) {
		FZ_CHECK(uvfio_server_process(n.srv) == 0);
		bool any = fz_rx_read(&H.rx, H.fd, on_msg, NULL);
		if (H.auto_answer && H.npend) {
			answer_some(H.npend, H.fail_next);
			H.fail_next = false;
			any = true;
		}
		if (!any && i > 0)
			break;
	}
	check_state();
}

static void send_msg(const uint8_t *b, size_t len, int fd)
{
	size_t off = 0;
	for (int tries = 0; off < len && tries < 1000; tries++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = { (void *)(b + off), len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (fd >= 0 && off == 0) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.b;
			mh.msg_controllen = sizeof(cm.b);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		ssize_t w = sendmsg(H.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			return;
		FZ_CHECK(uvfio_server_process(n.srv) == 0);
		fz_rx_read(&H.rx, H.fd, on_msg, NULL);
	}
	pump();
}

static void bar0_write(uint64_t off, const void *v, uint32_t count, bool post)
{
	uint8_t m[UVFIO_HDR_SIZE + 16 + 8];
	ssize_t r = uvfio_build_region_write(m, sizeof(m), H.next_id++, post, 0,
					     off, v, count);
	FZ_CHECK(r > 0);
	send_msg(m, (size_t)r, -1);
}

static void reg32(unsigned off, uint32_t v)
{
	bar0_write(off, &v, 4, true);
}

static void doorbell(unsigned qid, bool cq, uint32_t v)
{
	reg32(NVME_DOORBELLS + 8 * qid + (cq ? 4 : 0), v);
}

/* ---- the device --------------------------------------------------------- */

static int on_reset(void *opaque, enum uvfio_reset_reason why)
{
	(void)why;
	nvme_power_on(opaque);
	forget_slots();
	return 0;
}

/* As main.c's: the shadow doorbells' pages are let go of (nothing else is
 * held here: without a backend every command runs inline). */
static void on_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	nvme_dbbuf_unmap(opaque, iova, size);
}

static const struct uvfio_device_ops ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = on_reset,
	.dma_unmap = on_unmap,
};

static void quiet(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

/* As main.c's describe(). */
static void device_create(int fd, bool readonly, unsigned queues,
			  bool mmap_db)
{
	const struct uvfio_sparse_area db_area = { NVME_DOORBELLS, PG };
	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0xd3a1,
		.subsys_vendor = 0x1234, .subsys = 0x0001,
		.class_code = 0x010802,
	};
	struct uvfio_region_desc bar0 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR0_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			 UVFIO_REGION_64BIT,
		.fn = nvme_bar0,
		.opaque = &n,
	};
	struct uvfio_server *srv;
	memset(&n, 0, sizeof(n));
	if (mmap_db) {
		if (nvme_db_page_create(&n, BAR0_SIZE))
			abort();
		bar0.flags |= UVFIO_REGION_FD;
		bar0.fd = n.db_fd;
		bar0.sparse = &db_area;
		bar0.nr_sparse = 1;
	}
	if (uvfio_server_create_fd(&srv, fd, UVFIO_SERVER_PCIE))
		abort();
	uvfio_server_set_log(srv, quiet, NULL, UVFIO_LOG_DEBUG);
	n.srv = srv;
	n.fd = disk_fd;
	n.readonly = readonly;
	n.nlb = DISK_SIZE >> NVME_LBA_SHIFT;
	n.max_ioq = queues;
	memcpy(n.sn, "UVFIOFUZZ", 10);
	nvme_power_on(&n);
	if (uvfio_server_set_pci_ids(srv, &ids) ||
	    uvfio_server_add_region(srv, 0, &bar0) ||
	    uvfio_server_pci_add_pm(srv) < 0 ||
	    uvfio_server_pci_add_pcie(srv, 0) < 0 ||
	    uvfio_server_pci_add_msix(srv, queues + 1, 0, 0x2000, 0, 0x3000) < 0 ||
	    uvfio_server_set_ops(srv, &ops, &n))
		abort();
}

/* ---- operations ----------------------------------------------------------- */

/* A guest address: mostly inside a window (often page aligned), sometimes
 * at a window's end or anywhere. */
static uint64_t addr(struct fz *f)
{
	uint8_t sel = fz_u8(f);
	uint16_t off = fz_u16(f);
	switch (sel >> 6) {
	case 0:
		return IOVA_FD + (sel & (FD_PAGES - 1)) * (uint64_t)PG +
		       (off & 0x8000 ? off & (PG - 4) : 0);
	case 1:
		return IOVA_MSG + (sel & (MSG_PAGES - 1)) * (uint64_t)PG +
		       (off & 0x8000 ? off & (PG - 4) : 0);
	case 2:
		return (sel & 1 ? IOVA_MSG + MSG_PAGES * PG
				: IOVA_FD + FD_PAGES * PG) -
		       (off & 0xff);
	default:
		return fz_u64(f);
	}
}

static void host_write(uint64_t iova, const void *p, size_t len)
{
	uint8_t *h = host_ptr(iova, len);
	if (h)
		memcpy(h, p, len);
}

/* The harness's idea of an invalid command: wrong opcode, namespace or
 * LBA range. */
static bool must_fail(unsigned qid, const uint8_t e[64])
{
	uint32_t dw[16];
	memcpy(dw, e, 64);
	uint8_t opc = (uint8_t)dw[0];
	if (qid == 0) {
		static const uint8_t known[] = { 0x00, 0x01, 0x02, 0x04, 0x05,
						 0x06, 0x08, 0x09, 0x0a, 0x0c,
						 0x18, 0x7c };
		return !memchr(known, opc, sizeof(known));
	}
	if (opc != NVME_CMD_FLUSH && opc != NVME_CMD_WRITE &&
	    opc != NVME_CMD_READ && opc != NVME_CMD_WRITE_ZEROES &&
	    opc != NVME_CMD_DSM)
		return true;
	if (dw[1] != 1 && !(opc == NVME_CMD_FLUSH && dw[1] == 0xffffffffu))
		return true;
	if (opc == NVME_CMD_WRITE || opc == NVME_CMD_READ ||
	    opc == NVME_CMD_WRITE_ZEROES) {
		uint64_t slba = (uint64_t)dw[11] << 32 | dw[10];
		uint64_t nlb = (dw[12] & 0xffff) + 1ull;
		if (slba >= n.nlb || nlb > n.nlb - slba)
			return true;
		if (n.readonly && opc != NVME_CMD_READ)
			return true;
	}
	return false;
}

/* An SQ entry from the input, at SQ qid's tail; then its doorbell. */
static void submit(struct fz *f)
{
	uint8_t q = fz_u8(f), how = fz_u8(f);
	unsigned qid = q % (n.max_ioq + 1u);
	uint8_t e[64];
	size_t got;
	memset(e, 0, sizeof(e));
	e[0] = fz_u8(f);                        /* opcode */
	e[1] = how & 0x40 ? fz_u8(f) : 0;       /* fuse, psdt */
	uint16_t cid = H.cid++;
	memcpy(e + 2, &cid, 2);
	uint32_t nsid = how & 1 ? fz_u32(f) : 1;
	memcpy(e + 4, &nsid, 4);
	uint64_t prp1 = addr(f), prp2 = how & 2 ? addr(f) : 0;
	memcpy(e + 24, &prp1, 8);
	memcpy(e + 32, &prp2, 8);
	unsigned ndw = (how >> 2) & 7; /* cdw10 onwards, 6 at most */
	const uint8_t *cdw = fz_bytes(f, (ndw < 6 ? ndw : 6) * 4u, &got);
	memcpy(e + 40, cdw, got);
	struct nvme_sq *sq = &n.sq[qid];
	if (!sq->live || !(n.csts & NVME_CSTS_RDY))
		return;
	host_write(sq->base + sq->tail * 64ull, e, 64);
	slots[qid][sq->tail] = (struct slot){ true, must_fail(qid, e), cid };
	uint32_t tail = (sq->tail + 1u) % sq->size;
	if (!(how & 0x80))
		doorbell(qid, false, tail);
}

/* A PRP list: count entries at a guest address, each a guest address. */
static void prp_list(struct fz *f)
{
	uint64_t at = addr(f);
	unsigned cnt = fz_u8(f) % 64u + 1;
	forget_slots();
	for (unsigned i = 0; i < cnt && !fz_empty(f); i++) {
		uint64_t e = addr(f);
		host_write(at + 8ull * i, &e, 8);
	}
}

static void raw_mem(struct fz *f)
{
	uint64_t at = addr(f);
	size_t got;
	const uint8_t *p = fz_bytes(f, fz_u8(f), &got);
	forget_slots();
	host_write(at, p, got);
}

/* Admin queues and CC.EN = 1, as a driver does. */
static void enable(struct fz *f)
{
	uint8_t sizes = fz_u8(f);
	uint32_t aqa = ((sizes & 0xfu) + 1u) | ((sizes >> 4) + 1u) << 16;
	uint64_t asq = addr(f), acq = addr(f);
	reg32(NVME_REG_CC, 0);
	reg32(NVME_REG_AQA, aqa);
	reg32(NVME_REG_ASQ, (uint32_t)asq);
	reg32(NVME_REG_ASQ + 4, (uint32_t)(asq >> 32));
	reg32(NVME_REG_ACQ, (uint32_t)acq);
	reg32(NVME_REG_ACQ + 4, (uint32_t)(acq >> 32));
	reg32(NVME_REG_CC, 1 | 6u << 16 | 4u << 20);
}

static void run_op(struct fz *f)
{
	static const unsigned regs[] = { NVME_REG_CC, NVME_REG_AQA,
					 NVME_REG_ASQ, NVME_REG_ASQ + 4,
					 NVME_REG_ACQ, NVME_REG_ACQ + 4,
					 NVME_REG_INTMS, NVME_REG_INTMC };
	uint8_t op = fz_u8(f);
	switch (op % 12) {
	case 0: { /* a register, or any dword/qword of BAR0 */
		uint8_t r = fz_u8(f);
		uint64_t v = fz_u64(f);
		uint64_t off = r & 0x80 ? (uint64_t)fz_u16(f) % BAR0_SIZE
					: regs[r % 8];
		bar0_write(off, &v, r & 0x40 ? 8 : 4, r & 0x20);
		break;
	}
	case 1: { /* a doorbell */
		uint8_t q = fz_u8(f);
		doorbell(q % 10u, q & 0x80, fz_u16(f));
		break;
	}
	case 2:
		submit(f);
		break;
	case 3:
		prp_list(f);
		break;
	case 4:
		raw_mem(f);
		break;
	case 5:
		enable(f);
		break;
	case 6: { /* DMA answers: k now, maybe an error; or automatic */
		uint8_t a = fz_u8(f);
		H.auto_answer = a & 0x80;
		answer_some(a & 0x3f, a & 0x40);
		pump();
		break;
	}
	case 7: { /* DEVICE_RESET while anything may be in flight */
		uint8_t m[UVFIO_HDR_SIZE];
		ssize_t r = uvfio_build_device_reset(m, sizeof(m), H.next_id++);
		FZ_CHECK(r > 0);
		send_msg(m, (size_t)r, -1);
		break;
	}
	case 8: /* the CQ heads where the host has consumed all */
		for (unsigned q = 0; q <= n.max_ioq; q++)
			if (n.cq[q].live)
				doorbell(q, true, n.cq[q].tail);
		break;
	case 10: /* a turn of main.c's loop: what came without a message,
		  * then maybe EventIdx armed, as before it sleeps */
		nvme_db_poll(&n);
		if (fz_u8(f) & 1)
			nvme_db_arm(&n);
		pump();
		break;
	case 11: { /* a store to the mapped doorbell page */
		uint8_t i = fz_u8(f);
		uint32_t v = fz_u16(f);
		if (n.db_page)
			__atomic_store_n(&n.db_page[i % 24u], v,
					 __ATOMIC_RELEASE);
		break;
	}
	default: /* a BAR0 read (registers, doorbells read as 0) */
	{
		uint8_t m[UVFIO_HDR_SIZE + 16];
		ssize_t r = uvfio_build_region_read(m, sizeof(m), H.next_id++,
						    0, fz_u16(f) % BAR0_SIZE,
						    op & 0x10 ? 8 : 4);
		FZ_CHECK(r > 0);
		send_msg(m, (size_t)r, -1);
		break;
	}
	}
}

/* ---- one input ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int sv[2];

	if (disk_fd < 0) {
		/* Created once and unlinked: nothing is left in /tmp. */
		char path[64];
		snprintf(path, sizeof(path), "/tmp/uvfio-fuzz-nvme-%d.img",
			 (int)getpid());
		disk_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			       0600);
		if (disk_fd < 0 || ftruncate(disk_fd, DISK_SIZE))
			abort();
		unlink(path);
		rxbuf = malloc(RXCAP);
		if (!rxbuf)
			abort();
	}
	int fds_before = fz_count_fds();

	memset(&H, 0, sizeof(H));
	forget_slots();
	H.rx.buf = rxbuf;
	H.rx.cap = RXCAP;
	H.auto_answer = true;
	memset(msgmem, CANARY, sizeof(msgmem));
	memset(msgmem + CANARY_PAGES * PG, 0, MSG_PAGES * PG);

	size_t memlen = (FD_PAGES + 2 * CANARY_PAGES) * PG;
	int mfd = memfd_create("fuzz-nvme-guest", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)memlen))
		abort();
	H.fdmem = mmap(NULL, memlen, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (H.fdmem == MAP_FAILED)
		abort();
	memset(H.fdmem, CANARY, memlen);
	memset(H.fdmem + CANARY_PAGES * PG, 0, FD_PAGES * PG);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	H.fd = sv[0];
	fcntl(H.fd, F_SETFL, O_NONBLOCK);
	uint8_t cfg = fz_u8(&f);
	device_create(sv[1], cfg & 1, ((cfg >> 1) & 7) + 1u, cfg & 0x10);

	uint8_t m[512];
	ssize_t r = uvfio_build_version(
		m, sizeof(m), H.next_id++, false, 0, 2,
		"{\"capabilities\":{\"max_msg_fds\":8,"
		"\"max_data_xfer_size\":65536}}");
	FZ_CHECK(r > 0);
	send_msg(m, (size_t)r, -1);
	r = uvfio_build_dma_map(m, sizeof(m), H.next_id++,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
				CANARY_PAGES * PG, IOVA_FD, FD_PAGES * PG);
	FZ_CHECK(r > 0);
	send_msg(m, (size_t)r, mfd);
	r = uvfio_build_dma_map(m, sizeof(m), H.next_id++,
				UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE, 0,
				IOVA_MSG, MSG_PAGES * PG);
	FZ_CHECK(r > 0);
	send_msg(m, (size_t)r, -1);
	FZ_CHECK(H.map_errors == 0);
	close(mfd);

	while (!fz_empty(&f))
		run_op(&f);

	/* Answer everything, then hang up: the reset drops the queues. */
	H.auto_answer = true;
	pump();
	pump();
	close(H.fd);
	for (int i = 0; i < 4; i++)
		FZ_CHECK(uvfio_server_process(n.srv) == 0);
	FZ_CHECK(!uvfio_server_connected(n.srv));
	uvfio_server_destroy(n.srv);
	nvme_jobs_free(&n);
	nvme_db_page_destroy(&n);
	fz_rx_close_all(&H.rx);
	check_canaries();
	munmap(H.fdmem, memlen);
	fz_check_fds(fds_before);
	return 0;
}
