/* SPDX-License-Identifier: MIT */
/* Server internals shared by the files of src/server/. */
#ifndef UVFIO_SERVER_PRIV_H
#define UVFIO_SERVER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/codec.h>
#include <uvfio/server.h>

#include "dma/dma.h"
#include "pci/pci.h"
#include "transport/transport.h"
#include "util/log.h"

/* ---- limits and what we announce in VERSION ------------------------------- */

#define SRV_MAX_MSG_FDS 16u /* QEMU refuses a server value above 16 */
#define SRV_MAX_DATA_XFER (1u << 20)
#define SRV_MAX_DMA_MAPS 65535u
#define SRV_PGSIZE 4096u     /* the only IOMMU page size we announce */
#define SRV_CTRL_MAX 65536u  /* largest non-data command we accept */
#define SRV_MAX_REGIONS 16u  /* 9 PCI regions + device-specific ones */
/* Our VERSION JSON: the keys we send fit with room to spare, and the whole
 * reply stays under the 214 bytes QEMU 10.x accepts. */
#define SRV_VERSION_JSON_MAX 256u

/* ioeventfds: one GET_REGION_IO_FDS reply carries all of a region's, and a
 * message carries at most TP_MAX_FDS; so a device holds at most
 * SRV_MAX_REGIONS * this many. */
#define SRV_MAX_REGION_IOEVENTFDS UVFIO_MAX_REGION_IOEVENTFDS
_Static_assert(SRV_MAX_REGION_IOEVENTFDS <= TP_MAX_FDS,
	       "a region's ioeventfds must fit one message");

/* ---- message DMA ------------------------------------------------------------ */

#define SRV_QEMU_DMA_CHUNK (64u << 10) /* QEMU truncates larger replies */
/* DMA_READ reply bytes a QEMU client may owe us at once.  QEMU sends each
 * reply with one non-blocking write and loses what does not fit its socket
 * buffer (208 KiB by default), so what it owes must stay below that;
 * uvfio_server_set_dma_read_budget. */
#define SRV_DMA_READ_BUDGET (128u << 10)
#define SRV_DMA_READ_BUDGET_MIN 4096u
/* DMA_READ chunks within the budget stay whole pages of this size. */
#define SRV_DMA_CHUNK_ALIGN 4096u
#define SRV_DMA_TIMEOUT_MS 5000 /* default; uvfio_server_set_dma_timeout */
/* Message DMA transfers queued and not yet fully sent: beyond, the async
 * calls say -EAGAIN, so a client that stops answering cannot make a
 * device's queue grow without bound (SRV_DMA_INFLIGHT caps what is sent). */
#define SRV_DMA_MAX_QUEUED 1024u
#define SRV_DMA_INFLIGHT 64u /* DMA requests sent and not yet answered */

/* ---- the loop ------------------------------------------------------------------ */

/* Commands read and answered per wake-up of the connection before the
 * other fds get their turn. */
#define SRV_ROUNDS_PER_WAKE 8
/* epoll events taken per uvfio_server_process(). */
#define SRV_EVENTS_PER_PROCESS 8

/* What an epoll event is about. */
enum srv_tag {
	SRV_TAG_LISTEN = 1,
	SRV_TAG_CONN,
	SRV_TAG_TWIN,
	SRV_TAG_STOP,
	SRV_TAG_WAKE,
	SRV_TAG_RESAMPLE,
};

struct srv_region {
	bool present;
	struct uvfio_region_desc d;
	struct uvfio_sparse_area *sparse; /* owned copy of d.sparse */
	void *mem;  /* UVFIO_REGION_MEM */
	int memfd;  /* its fd, -1 otherwise */
	unsigned n_iofds; /* ioeventfds of this region in s->iofds */
};

struct srv_irq {
	uint32_t count;
	int *efd;        /* per vector, -1 when none */
	uint8_t *masked; /* client mask (ACTION_MASK) per vector */
	bool intx_level; /* INTx: device holds the line asserted */
};

/* Live migration (migration.c). */
struct srv_mig {
	bool enabled; /* uvfio_server_set_migration() succeeded */
	struct uvfio_migration_ops ops; /* the device's copy */
	void *opaque;
	uint64_t flags;  /* UVFIO_MIGRATION_* */
	uint32_t state;  /* enum uvfio_mig_state; atomic for other threads */
};
/* Largest dirty bitmap one REPORT or DMA_UNMAP answers (128 GiB at 4 KiB
 * pages): it must fit the send queue, whose limit is 8 MiB. */
#define SRV_MAX_REPORT_BITMAP (4u << 20)
/* All tracking bitmaps of a logging session together (2 TiB at 4 KiB). */
#define SRV_MAX_LOG_BYTES (64ull << 20)

struct srv_ioeventfd {
	unsigned index;
	uint64_t offset, size;
	int fd;
	bool has_datamatch;
	uint64_t datamatch;
	int shadow_fd; /* -1, or the shadow memory (libvfio-user's extension) */
	uint64_t shadow_offset;
};

/* One asynchronous DMA transfer, possibly several messages. */
struct srv_dma_op {
	struct srv_dma_op *next; /* queue of ops waiting to be sent */
	uint64_t iova;
	uint8_t *buf;
	size_t len;
	size_t sent;     /* bytes covered by messages sent so far */
	unsigned inflight;
	int result;
	bool is_write;
	bool queued;   /* still in s->dma_q: chunks left to send */
	bool finished;
	bool orphan;   /* its synchronous caller gave up: free when done */
	uvfio_dma_done_fn done;
	void *opaque;
	/* a synchronous caller on another thread waits on this */
	bool waiting;
	pthread_cond_t cond;
};

/* A DMA_READ/WRITE message sent, awaiting its reply. */
struct srv_dma_req {
	bool active; /* answered requests stay until they reach the head */
	struct uvfio_expect exp;
	struct srv_dma_op *op;
	size_t buf_off; /* where in op->buf this chunk's data goes */
	uint32_t owed;  /* DMA_READ reply bytes counted in conn->read_owed */
};

/* A command held while the device quiesces (quiesce.c), in a list in
 * arrival order. */
struct srv_held {
	struct srv_held *next;
	uint32_t size;
	unsigned nfds;
	int fds[TP_MAX_FDS];
	uint8_t buf[]; /* the whole message */
};
/* Bytes of held commands before the socket pushes back (TP_PAUSE). */
#define SRV_HELD_MAX (8u << 20)

/* Where a quiesce stands (s->q_state, under s->lock). */
enum srv_q_state {
	SRV_Q_IDLE = 0,
	SRV_Q_ARMED,   /* quiesce op running: a quiesced() now counts */
	SRV_Q_PENDING, /* -EBUSY: waiting for uvfio_server_device_quiesced */
	SRV_Q_DONE,    /* it came: the server thread goes on */
};

struct srv_conn {
	struct tp tp;
	struct tp twin; /* twin.c */
	bool has_twin;
	uint32_t twin_events; /* registered with epoll for the twin */
	bool negotiated;
	uint16_t minor;
	struct uvfio_caps peer;
	struct uvfio_limits lim;
	bool drop; /* fatal protocol error: close after flushing */
	uint8_t *reply; /* the reply srv_reply_reserve() made room for */
	uint32_t events; /* wanted: registered with epoll, or polled */
	/* Polled by the built-in loop itself, not in the epoll set (see
	 * uvfio_server_run). */
	bool direct;
	bool qemu;       /* treated as QEMU 10.x (uvfio_server_set_client_quirks) */
	uint32_t dma_chunk;
	enum uvfio_dma_layout dma_layout;
	/* DMA_READ reply bytes the client owes us, held within
	 * s->dma_read_budget when it is QEMU (it cannot take back-pressure) */
	size_t read_owed;
	uint16_t next_dma_id;
	struct srv_dma_req reqs[SRV_DMA_INFLIGHT]; /* ring of sent requests */
	unsigned req_head, req_len;
	/* Commands that arrived while a callback waited for message DMA,
	 * handed back to tp once that callback returns. */
	struct tp_stash stash;
	bool nesting;
	/* Commands held while the device quiesces (quiesce.c): q_held while
	 * it has not; q_granted/q_err: the front one was quiesced for (with
	 * that outcome) and must not quiesce again. */
	struct srv_held *held, **held_tail;
	size_t held_bytes;
	bool q_held;
	bool q_granted;
	int q_err;
};

struct uvfio_server {
	struct ulogger log;
	int listen_fd;
	char *path; /* socket file we created, removed on destroy */
	int epfd;
	int stop_fd; /* stop requests */
	int wake_fd; /* work queued by other threads */
	int stopping; /* uvfio_server_stop(); __atomic_* only */
	bool listening_armed;
	bool pcie;
	bool described; /* a client has seen the device: description frozen */
	uint64_t cmds_handled; /* uvfio_server_commands_handled() */
	pthread_t loop_thread;
	bool in_process;
	uint32_t quirks; /* enum uvfio_client_quirks; atomic */

	/* lock: conn pointer for other threads, DMA op queue, irq eventfds */
	pthread_mutex_t lock;
	struct srv_conn *conn;
	struct srv_dma_op *dma_q, **dma_q_tail;
	unsigned dma_q_len;
	unsigned dma_timeout_ms; /* synchronous message DMA */
	uint32_t dma_read_budget; /* see SRV_DMA_READ_BUDGET */
	unsigned busy_poll_us; /* uvfio_server_set_busy_poll */
	bool own_loop; /* inside uvfio_server_run */

	struct dmat dma; /* windows of the current client */
	uint32_t max_data_xfer;
	unsigned max_msg_fds;

	struct pcicfg pci;
	unsigned num_regions;
	struct srv_region regions[SRV_MAX_REGIONS];
	struct srv_irq irqs[UVFIO_PCI_NUM_IRQS];
	struct srv_ioeventfd *iofds;
	unsigned n_iofds;

	/* QEMU emulates the MSI/MSI-X capability and table itself and only
	 * hands us eventfds (none = masked); our copies of the enable and
	 * mask bits then mean nothing and must not hold interrupts back.
	 * Other clients forward the guest's accesses, and the bits count. */
	bool client_emulates_msi;
	int intx_resample_fd; /* KVM's resample eventfd (INTx UNMASK) */
	bool intx_pending;    /* triggered while masked: fire at unmask */

	struct uvfio_device_ops ops; /* the device's copy; all NULL: none */
	void *ops_opaque;
	struct srv_mig mig;
	uvfio_config_fn config_fn;
	void *config_opaque;

	/* Quiesce (quiesce.c): q_state and q_err under lock; lost_pending:
	 * the client is gone and its cleanup waits for the device. */
	uint32_t q_state; /* enum srv_q_state */
	int q_err;
	bool lost_pending;
	bool destroying;
};

/* ---- core.c: lifecycle and the loop ------------------------------------------ */

int srv_ep_ctl(struct uvfio_server *s, int op, int fd, uint32_t events,
	       enum srv_tag tag);
void srv_wake(struct uvfio_server *s);
/* (Re)register the INTx resample eventfd with the loop. */
void srv_watch_resample(struct uvfio_server *s);

/* ---- quiesce.c ---------------------------------------------------------------------- */

/*
 * Before dispatching a checked command: 0 to handle it now, 1 when it is
 * held until the device has quiesced (m was copied), or -errno to fail it.
 */
int srv_quiesce_cmd(struct uvfio_server *s, const struct uvfio_cmd_view *v,
		    struct tp_msg *m);
/* Hold a command behind others (srv_deliver): 0, TP_PAUSE when full, or
 * -errno (the client is dropped). */
int srv_held_push(struct uvfio_server *s, struct tp_msg *m);
/* Held commands can be handled now. */
static inline bool srv_held_ready(const struct srv_conn *c)
{
	return c->held && !c->q_held;
}
/* Handle held commands while the device allows and the send queue has
 * room (conn_service). */
void srv_held_drain(struct uvfio_server *s);
void srv_held_free(struct srv_conn *c);
/* The client is gone: quiesce for its cleanup.  true when the cleanup
 * must wait (s->lost_pending). */
bool srv_quiesce_lost(struct uvfio_server *s);
/* On a wake-up: the device called quiesced.  Returns 1 when held commands
 * may go on, 2 when a lost client's cleanup may, else 0. */
int srv_quiesce_poll(struct uvfio_server *s);

/* ---- device.c: the description and settings API ------------------------------ */

/*
 * Copy a caller's growing struct (server.h, "Structs that grow") into ours
 * of ours_size bytes: src's struct_size bytes, the rest zero.  min: the
 * size of the struct's first version.  0, -EINVAL or -E2BIG.
 */
int srv_copy_struct(void *ours, size_t ours_size, const void *src, size_t min);
/* Where a struct's field ends: the first version's size is where its last
 * field ends. */
#define SRV_FIELD_END(type, field) \
	(offsetof(type, field) + sizeof(((type *)0)->field))

/* ---- dispatch.c: commands and replies ------------------------------------------ */

/* Deliver callback of the main socket (tp_recv). */
int srv_deliver(void *opaque, struct tp_msg *m);
/* A command, from the socket or held (quiesce.c): 0 or -EPROTO. */
int srv_deliver_command(struct uvfio_server *s, struct tp_msg *m);
/* Reset the device for why (DEVICE_RESET, FLR): the reset op, then config
 * space and migration state.  0 or the op's -errno. */
int srv_device_reset(struct uvfio_server *s, enum uvfio_reset_reason why);
void srv_reply_error(struct uvfio_server *s, const struct uvfio_hdr *h,
		     int err, const char *why);
void srv_reply_ok(struct uvfio_server *s, const struct uvfio_hdr *h,
		  const void *payload, size_t len, const int *fds,
		  unsigned nfds);
/*
 * Replies produced in place in the send queue (the device writes a read's
 * data straight into it): srv_reply_reserve() makes room for a payload of
 * up to len bytes and returns where the payload goes, or NULL when nothing
 * can be queued (the client is then dropped, and it is logged); fill it,
 * then srv_reply_commit() writes the header and queues the reply with the
 * payload bytes used and its fds, or srv_reply_cancel() drops it.  A
 * command flagged NO_REPLY gets none: commit drops it then (the device has
 * run, for its side effects).
 */
uint8_t *srv_reply_reserve(struct uvfio_server *s, size_t len);
void srv_reply_commit(struct uvfio_server *s, const struct uvfio_hdr *h,
		      size_t len, const int *fds, unsigned nfds);
void srv_reply_cancel(struct uvfio_server *s);

/* ---- region.c -------------------------------------------------------------------- */

int srv_regions_init(struct uvfio_server *s);
void srv_regions_fini(struct uvfio_server *s);
int srv_regions_check_msix(struct uvfio_server *s);
void srv_handle_region_info(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_region_rw(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_write_multi(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_io_fds(struct uvfio_server *s, struct uvfio_cmd_view *v);

/* ---- irq.c ------------------------------------------------------------------------ */

void srv_irqs_init(struct uvfio_server *s);
void srv_irqs_fini(struct uvfio_server *s);
/* Close every eventfd the client gave (disconnect, reset). */
void srv_irqs_release(struct uvfio_server *s);
void srv_handle_irq_info(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_set_irqs(struct uvfio_server *s, struct uvfio_cmd_view *v,
			 int *fds);
/* Config or MSI-X table changes may unmask vectors with pending bits. */
void srv_irqs_config_changed(struct uvfio_server *s, unsigned events);
void srv_irq_msix_unmasked(struct uvfio_server *s, unsigned vec);
void srv_irq_resample(struct uvfio_server *s);

/* ---- dmaops.c: DMA_MAP/UNMAP and message DMA --------------------------------------- */

void srv_handle_dma_map(struct uvfio_server *s, struct uvfio_cmd_view *v,
			int *fds);
void srv_handle_dma_unmap(struct uvfio_server *s, struct uvfio_cmd_view *v);
/* VERSION done: chunk size and message layout of this client's DMA. */
void srv_dma_configure(struct uvfio_server *s);
/* A reply to one of our DMA messages (main or twin socket). */
int srv_dma_reply(struct uvfio_server *s, struct tp_msg *m);
/* Direct-receive sinks for DMA_READ replies (tp_set_sink): srv_dma_sink
 * for the socket that carries DMA, srv_dma_sink_main for the main one. */
void *srv_dma_sink(struct uvfio_server *s, const uint8_t *msg, size_t have,
		   size_t *skip);
void *srv_dma_sink_main(void *opaque, const uint8_t *msg, size_t have,
			size_t *skip);
/* Send queued DMA work (server thread). */
void srv_dma_pump(struct uvfio_server *s);
/* Fail every DMA op (connection gone). */
void srv_dma_abort(struct uvfio_server *s, int err);

/* The socket DMA messages travel on. */
static inline struct tp *srv_dma_tp(struct srv_conn *c)
{
	return c->has_twin ? &c->twin : &c->tp;
}

/* ---- twin.c: the twin socket, which carries only message DMA ----------------------- */

/* VERSION: the pair to offer (sp[1] goes to the client), or -errno (logged:
 * the connection goes on with one socket). */
int srv_twin_create(struct uvfio_server *s, int sp[2]);
/* VERSION answered: serve our end, which is taken over even on failure
 * (-errno: the connection cannot go on). */
int srv_twin_start(struct uvfio_server *s, int fd);
/* The connection ends (c is no longer s->conn). */
void srv_twin_close(struct uvfio_server *s, struct srv_conn *c);
/* The twin fd is ready: take replies, send what is queued.  -errno: the
 * connection is broken (*why says how). */
int srv_twin_service(struct uvfio_server *s, const char **why);
/* Send queued DMA work after the main socket's commands or a wake-up.
 * -errno: the connection is broken (*why says how). */
int srv_dma_kick(struct uvfio_server *s, const char **why);
/* A synchronous transfer inside a callback: wait for it on the twin
 * socket, which nothing else reads meanwhile. */
int srv_twin_wait(struct uvfio_server *s, struct srv_dma_op *op);

/* ---- migration.c ------------------------------------------------------------------- */

void srv_handle_feature(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_mig_data(struct uvfio_server *s, struct uvfio_cmd_view *v);
/* DMA_UNMAP with GET_DIRTY_BITMAP. */
void srv_handle_unmap_dirty(struct uvfio_server *s, struct uvfio_cmd_view *v);
/* Commands the migration state forbids are answered here: true if so. */
bool srv_mig_gate(struct uvfio_server *s, const struct uvfio_cmd_view *v);
/* After a successful DEVICE_RESET, and when the client goes away. */
void srv_mig_reset(struct uvfio_server *s);
void srv_mig_disconnect(struct uvfio_server *s);

#endif
