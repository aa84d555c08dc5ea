/* SPDX-License-Identifier: MIT */
/*
 * uvfio-nvme: an NVMe 1.4 controller with one namespace backed by a file
 * or block device.  What the parts share:
 *   main.c   command line, PCI description, BAR0 registers and doorbells,
 *            controller enable/disable/shutdown, SQ processing;
 *   admin.c  admin commands;
 *   io.c     NVM I/O commands: requests of file operations, their
 *            completions and errors;
 *   prp.c    guest memory: queue entries, PRP walking, mapping the pages
 *            a request reads or writes in place;
 *   job.c    commands that meet message-only guest memory;
 *   db.c     doorbells from the mmap-able page and from the shadow
 *            doorbell buffer (Doorbell Buffer Config), EventIdx;
 *   aio.c    the I/O backends' common part, the thread pool;
 *   mig.c    live migration of the controller's state;
 *   uring.c  the io_uring backend (built with liburing).
 *
 * Device state is only touched on the server thread.  A doorbell write
 * fetches its SQ's commands; a read or write maps its guest pages and
 * submits its file operations to the backend, which runs them elsewhere
 * (the kernel, pool threads) while the pages stay mapped; the completion
 * comes back to the server thread (an eventfd the loop in main.c polls),
 * which unmaps the pages, writes the CQE and raises the vector.  A
 * command that meets message-only memory (no fd: DMA_READ/DMA_WRITE
 * messages) becomes a job, one per SQ, that moves through a bounce buffer
 * with the async DMA calls and completes later (docs/nvme.md).
 */
#ifndef UVFIO_SAMPLES_NVME_H
#define UVFIO_SAMPLES_NVME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <uvfio/server.h>

/* ---- facts of NVMe 1.4 ---------------------------------------------------- */

/* Controller registers (BAR0 offsets). */
enum {
	NVME_REG_CAP = 0x00,
	NVME_REG_VS = 0x08,
	NVME_REG_INTMS = 0x0c,
	NVME_REG_INTMC = 0x10,
	NVME_REG_CC = 0x14,
	NVME_REG_CSTS = 0x1c,
	NVME_REG_NSSR = 0x20,
	NVME_REG_AQA = 0x24,
	NVME_REG_ASQ = 0x28,
	NVME_REG_ACQ = 0x30,
	NVME_REG_END = 0x40,
	NVME_DOORBELLS = 0x1000, /* stride 4 bytes (CAP.DSTRD 0) */
};

#define NVME_CC_EN (1u << 0)
#define NVME_CC_SHN(cc) (((cc) >> 14) & 3u)
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1)
#define NVME_CSTS_SHST_DONE (2u << 2)
#define NVME_CSTS_SHST_MASK (3u << 2)

#define NVME_PAGE 4096u /* CAP.MPSMIN = MPSMAX = 0 */

/* Admin opcodes. */
enum {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_AER = 0x0c,
	NVME_ADM_KEEP_ALIVE = 0x18,
	NVME_ADM_DBBUF = 0x7c, /* Doorbell Buffer Config (NVMe 1.3) */
};

/* NVM command set opcodes. */
enum {
	NVME_CMD_FLUSH = 0x00,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02,
	NVME_CMD_WRITE_ZEROES = 0x08,
	NVME_CMD_DSM = 0x09,
};

/* Status: type in bits 10:8, code in 7:0 (the CQE's status field >> 1). */
#define NVME_SC(sct, sc) ((uint16_t)((sct) << 8 | (sc)))
enum {
	NVME_SUCCESS = NVME_SC(0, 0x00),
	NVME_INVALID_OPCODE = NVME_SC(0, 0x01),
	NVME_INVALID_FIELD = NVME_SC(0, 0x02),
	NVME_DATA_XFER_ERROR = NVME_SC(0, 0x04),
	NVME_INTERNAL_ERROR = NVME_SC(0, 0x06),
	NVME_ABORTED_SQ_DELETION = NVME_SC(0, 0x08),
	NVME_INVALID_NS = NVME_SC(0, 0x0b),
	NVME_INVALID_PRP_OFFSET = NVME_SC(0, 0x13),
	NVME_NS_WRITE_PROTECTED = NVME_SC(0, 0x20),
	NVME_LBA_RANGE = NVME_SC(0, 0x80),
	NVME_CAPACITY_EXCEEDED = NVME_SC(0, 0x81),
	NVME_CQ_INVALID = NVME_SC(1, 0x00),
	NVME_INVALID_QID = NVME_SC(1, 0x01),
	NVME_INVALID_QSIZE = NVME_SC(1, 0x02),
	NVME_AER_LIMIT = NVME_SC(1, 0x05),
	NVME_INVALID_VECTOR = NVME_SC(1, 0x08),
	NVME_INVALID_LOG_PAGE = NVME_SC(1, 0x09),
	NVME_INVALID_QUEUE_DELETION = NVME_SC(1, 0x0c),
	NVME_WRITE_FAULT = NVME_SC(2, 0x80),
	NVME_UNRECOVERED_READ = NVME_SC(2, 0x81),
};
#define NVME_DNR 0x4000u /* do not retry: bit 14 of the 15-bit status */
/* Ours, above the 15 bits: an error a retry may not meet again (the
 * backing store failed), so the CQE goes without DNR. */
#define NVME_RETRY 0x8000u

/* ---- the controller ---------------------------------------------------------- */

#define NVME_MAX_IOQ 8u    /* I/O queue pairs at most (--queues) */
#define NVME_MQES 1023u    /* largest queue: 1024 entries (0-based) */
#define NVME_MAX_AER 4u    /* AERL + 1 */
#define NVME_MDTS 8u       /* largest transfer: 2^8 pages, 1 MiB */
#define NVME_MAX_PAGES ((1u << NVME_MDTS) + 1) /* an offset adds one */
#define NVME_LBA_SHIFT 9u  /* 512-byte blocks */
#define NVME_MAX_INFLIGHT 256u /* requests at the backend, all queues */
#define NVME_MAX_SG (NVME_MAX_PAGES + 16) /* pieces of one transfer */
#define NVME_MAX_RANGES 256u /* Dataset Management ranges */
/* Doorbells: SQ y's tail is number 2y, CQ y's head 2y + 1 (CAP.DSTRD 0:
 * dword y at NVME_DOORBELLS + 4 * number, and the same index into the
 * shadow doorbell and EventIdx buffers). */
#define NVME_NDB (2 * (NVME_MAX_IOQ + 1))

struct nvme_sq {
	bool live;
	uint16_t cqid, size, head, tail;
	uint64_t base;
};

struct nvme_cq {
	bool live, ien, phase, irq_due;
	uint16_t iv, size, head, tail;
	uint16_t resv; /* slots promised to jobs that have not posted yet */
	unsigned nsq; /* SQs posting here: it cannot be deleted before them */
	uint64_t base;
};

/* A command as the host wrote it, copied out of the SQ once. */
struct nvme_cmd {
	uint8_t opc;
	uint16_t cid;
	uint32_t nsid;
	uint8_t psdt;
	uint64_t prp1, prp2;
	uint32_t cdw[16]; /* 10..15 used */
};

/* A command of one SQ on message-only memory (job.c); at most one per SQ,
 * so the SQ's completions stay in order and memory stays bounded. */
struct nvme_job {
	struct nvme_ctrl *n;
	unsigned sqid;
	bool active;  /* the SQ waits for it */
	bool running; /* inside job_run: completions must not recurse */
	bool resv;    /* holds one of its CQ's slots */
	int state;
	unsigned pending; /* async transfers not done yet */
	int err;          /* the first of them that failed */
	uint64_t gen;     /* n->qgen[sqid] when it started */
	uint8_t raw[64];
	struct nvme_cmd cmd;
	int status; /* -1: no CQE (a held AER) */
	uint32_t dw0, cqe[4];
	uint8_t *bounce;        /* NVME_BOUNCE bytes, allocated on first use */
	uint64_t in_len, out_len;
	/* PRP walk and transfer progress */
	uint64_t pages[NVME_MAX_PAGES];
	unsigned npages, xi;
	uint64_t w_list, w_left, w_take, xlen, xoff;
	bool w_read; /* ent holds a list piece read for the walk */
	uint64_t ent[NVME_PAGE / 8];
};

#define NVME_BOUNCE ((size_t)NVME_PAGE << NVME_MDTS)

/* One file operation, as a backend runs it. */
enum nvme_aio_op { NVME_AIO_READ, NVME_AIO_WRITE, NVME_AIO_FSYNC,
		   NVME_AIO_FALLOC };
struct nvme_aio {
	enum nvme_aio_op op;
	int fd;
	int flags;         /* RWF_* of a read or write; fallocate's mode */
	struct iovec *iov; /* read, write */
	int iovcnt;
	uint64_t off, len; /* len: fallocate only */
	int64_t res;       /* bytes moved, 0, or -errno */
	struct nvme_aio *next; /* the backend's lists */
};

enum { NVME_REQ_RW, NVME_REQ_FLUSH, NVME_REQ_ZERO };

struct nvme_range {
	uint64_t lba, nlb;
};

/*
 * A command's file operations, from submission to its CQE.  Its guest
 * pages (sg) stay mapped until the last operation completes: the kernel
 * or a pool thread reads or writes them in place meanwhile.
 */
struct nvme_req {
	struct nvme_aio aio; /* first: the backend hands this back */
	struct nvme_req *next_free;
	int kind;
	uint16_t sqid, cid;
	bool to_guest; /* a read: the device writes guest memory */
	bool dsync;    /* durable before it completes (FUA, no write cache) */
	uint16_t status;
	uint64_t gen;    /* n->qgen[sqid] at submission: stale after a reset */
	uint64_t off;    /* file offset of the next operation */
	uint64_t left;   /* bytes it still has to move (or zero) */
	uint64_t bytes;  /* of the whole command, for SMART */
	unsigned iovi, niov, ri, nrange;
	size_t nsg;
	struct iovec iov[NVME_MAX_SG];
	union {
		struct uvfio_dma_sg sg[NVME_MAX_SG]; /* reads and writes */
		struct nvme_range range[NVME_MAX_RANGES]; /* zeroing */
	};
};

/* A backing-store error on purpose (UVFIO_NVME_INJECT, docs/nvme.md). */
struct nvme_fault {
	int kind; /* NVME_AIO_* or -1: any */
	int err;  /* positive errno */
	uint64_t lba, nlb;
};
#define NVME_MAX_FAULTS 8u

struct nvme_backend;

/* Doorbell Buffer Config (db.c): the host's shadow doorbells and the
 * EventIdx the controller writes, each the first 8 * (queues + 1) bytes
 * of a page of guest memory, held mapped while configured. */
struct nvme_dbbuf {
	bool on;     /* configured: I/O queues' doorbells come from db[] */
	bool mapped; /* db, ei and sg below are valid (a DMA_UNMAP drops
		      * them; the next use maps again) */
	uint64_t db_iova, ei_iova;
	struct uvfio_dma_sg sg[2]; /* shadow doorbells, EventIdx */
	uint32_t *db, *ei;
	uint16_t seen[NVME_NDB];   /* the shadow value last taken */
	uint32_t ei_val[NVME_NDB]; /* the EventIdx last written; ~0: unknown */
};

struct nvme_ctrl {
	struct uvfio_server *srv;
	int fd;
	bool readonly;
	uint64_t nlb;     /* namespace size in blocks */
	unsigned max_ioq; /* I/O queue pairs offered (1..NVME_MAX_IOQ) */
	char sn[21];
	uint8_t nguid[16];
	/* registers */
	uint64_t cap, asq, acq;
	uint32_t cc, csts, aqa, intms;
	/* queues, index 0 the admin pair */
	struct nvme_sq sq[NVME_MAX_IOQ + 1];
	struct nvme_cq cq[NVME_MAX_IOQ + 1];
	/* held Asynchronous Event Requests: their command ids */
	uint16_t aer_cid[NVME_MAX_AER];
	unsigned naer;
	/* features */
	bool vwc;
	uint32_t coalescing, aec, arbitration, power;
	/* reused per command: guest pieces of a transfer */
	uint64_t pages[NVME_MAX_PAGES];
	/* message-only memory: per-SQ jobs; qgen[q] moves when SQ q goes
	 * away (reset, deletion), so late completions of its job are
	 * recognised and dropped */
	struct nvme_job job[NVME_MAX_IOQ + 1];
	uint64_t qgen[NVME_MAX_IOQ + 1];
	struct nvme_job *cur;  /* the job whose command runs: bounce mode */
	bool efault;          /* a synchronous access met message-only memory */
	bool shn_pending;     /* shutdown waits for jobs and requests */
	/* requests: n->be runs them; without a backend (or when the SQ's CQ
	 * is message-only, so a job may have to post) commands run inline */
	struct nvme_backend *be;
	struct nvme_req *reqs, *free_req; /* the pool, NVME_MAX_INFLIGHT */
	struct nvme_req inline_req;
	bool inline_io;       /* process_sq: this SQ's commands run inline */
	bool fast_inline;     /* reads and writes inline at low depth (io.c) */
	uint64_t ran_inline, ran_backend; /* pooled requests, for -v */
	unsigned inflight;    /* requests at the backend */
	unsigned qbusy[NVME_MAX_IOQ + 1]; /* of them, from SQ q */
	bool draining;        /* no command is fetched meanwhile */
	bool in_poll;
	bool kick;            /* SQs may go on: a request ended */
	unsigned kick_from;   /* round robin over the SQs */
	bool resetting;       /* CC.EN = 0: CSTS.RDY waits for requests */
	uint16_t del_sq, del_cid; /* Delete I/O SQ waiting for its requests */
	bool shn_syncing;     /* shutdown's fdatasync at the backend */
	struct nvme_aio shn_aio;
	bool flush_failed;    /* a flush failed: later ones must too */
	bool no_punch;        /* the file cannot punch holes: write zeros */
	struct nvme_fault fault[NVME_MAX_FAULTS];
	unsigned nfault;
	/* doorbells (db.c): --doorbells mmap maps the doorbell page of BAR0
	 * here, backed by db_fd, which the client may map and store to;
	 * page_seen[i] is the value of doorbell i last taken from it */
	uint32_t *db_page;
	int db_fd;
	uint16_t page_seen[NVME_NDB];
	struct nvme_dbbuf dbbuf;
	/* SMART / health counters (log page 2) */
	uint64_t units_read, units_written, cmds_read, cmds_written;
	uint64_t media_errors;
	/* live migration (mig.c): stopped, nothing is fetched; the stream
	 * being saved or loaded */
	bool mig_stopped;
	struct nvme_mig *mig;
};

/* ctrl.c: post a completion for a command of SQ sqid. */
void nvme_complete(struct nvme_ctrl *n, unsigned sqid, uint16_t cid,
		   uint32_t dw0, uint16_t status);
/* The CQE for it at its CQ's tail, and the tail moved past it. */
uint64_t nvme_cqe_take(struct nvme_ctrl *n, unsigned sqid, uint16_t cid,
		       uint32_t dw0, uint16_t status, uint32_t cqe[4]);
void nvme_reset_queues(struct nvme_ctrl *n);
/* Process SQ sqid as far as it goes, then raise the vectors due. */
void nvme_sq_kick(struct nvme_ctrl *n, unsigned sqid);
void nvme_raise_irqs(struct nvme_ctrl *n);
/* What waits for requests and jobs to end (a reset, a shutdown, a Delete
 * I/O SQ) goes on if they have. */
void nvme_settle(struct nvme_ctrl *n);
/* Post the CQE of an async request; the slot it reserved is used. */
void nvme_complete_reserved(struct nvme_ctrl *n, unsigned sqid, uint16_t cid,
			    uint16_t status);
/* The controller is enabled and not fatal: doorbells count. */
bool nvme_ready(const struct nvme_ctrl *n);
/* A new value v for doorbell idx (NVME_NDB numbering), from whichever
 * source: checked as a register write would be (dropped when disabled,
 * for a missing queue, past the queue's size, a head past the tail), then
 * applied: its queue processed.  The caller polls the I/O and raises the
 * vectors afterwards (nvme_io_poll). */
void nvme_db_apply(struct nvme_ctrl *n, unsigned idx, uint32_t v);
/* An SQ on CQ cqid has commands it cannot fetch for want of CQ slots: a
 * new head of that CQ is what it waits for. */
bool nvme_cq_waited(const struct nvme_ctrl *n, unsigned cqid);

/* db.c: where doorbell values come from.  All on the server thread. */
/* --doorbells mmap: the doorbell page, in a memfd (n->db_fd) the size of
 * BAR0 (bar_size) that the client maps, mapped here too.  0 or -errno. */
int nvme_db_page_create(struct nvme_ctrl *n, uint64_t bar_size);
void nvme_db_page_destroy(struct nvme_ctrl *n);
/* A REGION_WRITE of doorbell idx (value v): taken as the page's stores
 * are, then the I/O polled and vectors raised. */
void nvme_db_write(struct nvme_ctrl *n, unsigned idx, uint32_t v);
/* Queue (doorbell idx) created: its doorbell starts at 0 in the page and,
 * with Doorbell Buffer Config, in the shadow buffer and EventIdx. */
void nvme_db_queue_init(struct nvme_ctrl *n, unsigned idx);
/* Look at the doorbell page and the shadow doorbells for values that
 * changed, and take them; true if there was one.  The loop calls it after
 * every round and on a timer while nvme_db_polling(). */
bool nvme_db_poll(struct nvme_ctrl *n);
/* Doorbells arrive without a message (the page is mapped by the client,
 * or may be): only polling sees them. */
bool nvme_db_polling(const struct nvme_ctrl *n);
/* Before the loop sleeps with nothing to wake it but messages: EventIdx
 * set so that the host's next new value rings the doorbell register (a
 * message).  true: a value came meanwhile, taken; do not sleep. */
bool nvme_db_arm(struct nvme_ctrl *n);
/* Admin Doorbell Buffer Config: its status. */
uint16_t nvme_dbbuf_config(struct nvme_ctrl *n, const struct nvme_cmd *c);
/* Reset, shutdown: the buffers are forgotten (the mapping dropped). */
void nvme_dbbuf_forget(struct nvme_ctrl *n);
/* The client unmaps [iova, iova + size) (0, 0: everything): a mapping of
 * the buffers there is dropped; the next use maps them again. */
void nvme_dbbuf_unmap(struct nvme_ctrl *n, uint64_t iova, uint64_t size);

/* job.c.  States a job starts in: */
enum { NVME_JOB_FETCH = 1, NVME_JOB_PREP, NVME_JOB_POST };
/* Start SQ sqid's job: FETCH reads the entry at the SQ head (then the
 * head moves); PREP runs command c; POST posts status/dw0 for c.  The caller checked that the CQ has room. */
void nvme_job_start(struct nvme_ctrl *n, unsigned sqid, int state,
		    const struct nvme_cmd *c, int status, uint32_t dw0);
/* SQ sqid goes away: its job's late completions are dropped. */
void nvme_job_cancel(struct nvme_ctrl *n, unsigned sqid);
bool nvme_jobs_idle(const struct nvme_ctrl *n);
void nvme_jobs_free(struct nvme_ctrl *n);
void nvme_parse_cmd(const uint8_t raw[64], struct nvme_cmd *c);

/* admin.c: run one admin command; returns its status, *dw0 its result.
 * Returns -1 when the command completes later (AER; Delete I/O SQ while
 * that SQ has I/O in flight). */
int nvme_admin(struct nvme_ctrl *n, const struct nvme_cmd *c, uint32_t *dw0);

/* io.c: run one I/O command of SQ sqid; returns its status, or -1 when it
 * was submitted to the backend (its CQ slot reserved). */
int nvme_io(struct nvme_ctrl *n, unsigned sqid, const struct nvme_cmd *c);
/* Bytes the command will take from guest memory (0: none). */
uint64_t nvme_io_data_in(const struct nvme_ctrl *n, const struct nvme_cmd *c);
/* The backend (and the request pool) the controller uses from now on. */
int nvme_io_init(struct nvme_ctrl *n, struct nvme_backend *be);
void nvme_io_fini(struct nvme_ctrl *n);
/* Submit what is queued, complete what the backend finished, let the
 * SQs that waited go on, raise the vectors: the loop calls it when the
 * backend's eventfd fires and after each round of server work (so what
 * any callback submitted is flushed before the loop sleeps), doorbells
 * after their commands. */
void nvme_io_poll(struct nvme_ctrl *n);
/* Wait until no request is at the backend (completions of live queues
 * posted, stale ones dropped), fetching nothing meanwhile: before the
 * library unmaps guest memory, and at reset. */
void nvme_io_drain(struct nvme_ctrl *n);
/* Start shutdown's fdatasync (settle calls it once nothing is in flight). */
void nvme_io_shutdown_sync(struct nvme_ctrl *n);
/* "OP:ERRNO[:LBA[:COUNT]]", comma separated: 0 or -EINVAL. */
int nvme_io_parse_faults(struct nvme_ctrl *n, const char *spec);

/* mig.c: make the controller migratable (STOP_COPY).  0 or -errno. */
int nvme_mig_setup(struct nvme_ctrl *n);
void nvme_mig_free(struct nvme_ctrl *n);

/* aio.c / uring.c: the backends.  Every call from the server thread. */
enum nvme_backend_kind { NVME_BACKEND_URING, NVME_BACKEND_THREADS };
/* The backend asked for; io_uring falls back to the thread pool where the
 * kernel refuses it (*why says so, else NULL).  NULL with errno set. */
struct nvme_backend *nvme_backend_create(enum nvme_backend_kind kind,
					 const char **why);
const char *nvme_backend_name(const struct nvme_backend *be);
/* Readable when completions wait: read it empty, then reap. */
int nvme_backend_fd(const struct nvme_backend *be);
void nvme_backend_submit(struct nvme_backend *be, struct nvme_aio *a);
void nvme_backend_flush(struct nvme_backend *be);
/* Finished operations (res set), in a list; wait: at least one, which
 * must be in flight. */
struct nvme_aio *nvme_backend_reap(struct nvme_backend *be, bool wait);
/* Make the fd readable: the loop comes back to reap. */
void nvme_backend_notify(struct nvme_backend *be);
/* Nothing may be in flight. */
void nvme_backend_destroy(struct nvme_backend *be);
/* Run one operation on this thread (the pool's threads, inline commands). */
void nvme_aio_execute(struct nvme_aio *a);
/* --io-inline: reads and writes on the server thread at low depth, where
 * the backing store is memory (auto), never, or whatever it is (always:
 * for tests, whose files may be on a disk file system). */
enum nvme_inline_mode { NVME_INLINE_AUTO, NVME_INLINE_NEVER, NVME_INLINE_ALWAYS };
/* Whether mode, for the backing store fd, lets reads and writes inline. */
bool nvme_inline_wanted(enum nvme_inline_mode mode, int fd);

/* prp.c: copy between guest memory and buf, through the mapped window;
 * -EFAULT when the window is message-only, -ENOENT/-EACCES outside. */
int nvme_guest_read(struct nvme_ctrl *n, uint64_t iova, void *buf, size_t len);
int nvme_guest_write(struct nvme_ctrl *n, uint64_t iova, const void *buf,
		     size_t len);
/* Write a CQE so that its last dword (phase tag) lands last. */
int nvme_guest_write_cqe(struct nvme_ctrl *n, uint64_t iova,
			 const uint32_t cqe[4]);
/* The guest pages of a len-byte transfer as r->iov[0..r->niov): mapped in
 * place (held in r->sg until nvme_prp_release), or a job's bounce buffer
 * (n->cur).  Returns an NVMe status; nothing is held on failure. */
uint16_t nvme_prp_map(struct nvme_ctrl *n, const struct nvme_cmd *c,
		      uint64_t len, bool to_guest, struct nvme_req *r);
void nvme_prp_release(struct nvme_ctrl *n, struct nvme_req *r);
/* The same with a buffer of the device's own (Identify, logs, DSM).
 * While a job runs its command (n->cur) both go through its bounce
 * buffer: data in was fetched before, data out is sent after. */
uint16_t nvme_prp_buf(struct nvme_ctrl *n, const struct nvme_cmd *c, void *buf,
		      size_t len, bool to_guest);

/* Walk a PRP pair for len bytes into pages; *count set.  Returns a status,
 * or NVME_WALK_LIST: the list at *list (entries *left) must be read. */
#define NVME_WALK_LIST 0xffffu
uint16_t nvme_prp_first(const struct nvme_cmd *c, uint64_t len,
			uint64_t *pages, unsigned *count, uint64_t *list,
			uint64_t *left);
uint64_t nvme_piece_len(uint64_t first, unsigned i, uint64_t len);

#endif
