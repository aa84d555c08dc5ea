/* SPDX-License-Identifier: MIT */
/* Server internals shared by core.c, region.c, irq.c and dmaops.c. */
#ifndef UVFIO_SERVER_PRIV_H
#define UVFIO_SERVER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uvfio/codec.h>
#include <uvfio/server.h>

#include "dma/dma.h"
#include "pci/pci.h"
#include "transport/transport.h"
#include "util/log.h"

#define SRV_MAX_MSG_FDS 16u /* QEMU refuses a server value above 16 */
#define SRV_MAX_DATA_XFER (1u << 20)
#define SRV_MAX_DMA_MAPS 65535u
#define SRV_CTRL_MAX 65536u  /* largest non-data command we accept */
#define SRV_MAX_REGIONS 16u  /* 9 PCI regions + device-specific ones */
#define SRV_QEMU_DMA_CHUNK (64u << 10) /* QEMU truncates larger replies */
/* DMA_READ reply bytes a QEMU client may owe us at once.  QEMU sends each
 * reply with one non-blocking write and loses what does not fit its socket
 * buffer (208 KiB by default), so what it owes must stay below that;
 * uvfio_server_set_dma_read_budget. */
#define SRV_DMA_READ_BUDGET (128u << 10)
#define SRV_DMA_READ_BUDGET_MIN 4096u
#define SRV_DMA_TIMEOUT_MS 5000 /* default; uvfio_server_set_dma_timeout */
/* Message DMA transfers queued and not yet fully sent: beyond, the async
 * calls say -EAGAIN, so a client that stops answering cannot make a
 * device's queue grow without bound (SRV_DMA_INFLIGHT caps what is sent). */
#define SRV_DMA_MAX_QUEUED 1024u

struct srv_region {
	bool present;
	struct uvfio_region_desc d;
	struct uvfio_sparse_area *sparse; /* owned copy of d.sparse */
	void *mem;  /* UVFIO_REGION_MEM */
	int memfd;  /* its fd, -1 otherwise */
};

struct srv_irq {
	uint32_t count;
	int *efd;        /* per vector, -1 when none */
	uint8_t *masked; /* client mask (ACTION_MASK) per vector */
	bool intx_level; /* INTx: device holds the line asserted */
};

/* Live migration (migration.c). */
struct srv_mig {
	const struct uvfio_migration_ops *ops; /* NULL: not migratable */
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
};

/* One asynchronous DMA transfer, possibly several messages. */
struct dma_op {
	struct dma_op *next; /* queue of ops waiting to be sent */
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
struct dma_req {
	bool active; /* answered requests stay until they reach the head */
	struct uvfio_expect exp;
	struct dma_op *op;
	size_t buf_off; /* where in op->buf this chunk's data goes */
	uint32_t owed;  /* DMA_READ reply bytes counted in conn->read_owed */
};

#define SRV_DMA_INFLIGHT 64u

struct conn {
	struct tp tp;
	struct tp twin;
	bool has_twin;
	bool negotiated;
	uint16_t minor;
	struct uvfio_caps peer;
	struct uvfio_limits lim;
	bool drop; /* fatal protocol error: close after flushing */
	uint32_t events; /* registered with epoll */
	bool qemu;       /* peer looks like QEMU 10.x: its DMA layout */
	uint32_t dma_chunk;
	enum uvfio_dma_layout dma_layout;
	/* DMA_READ reply bytes the client owes us, held within
	 * s->dma_read_budget when it is QEMU (it cannot take back-pressure) */
	size_t read_owed;
	uint16_t next_dma_id;
	struct dma_req reqs[SRV_DMA_INFLIGHT]; /* ring of sent requests */
	unsigned req_head, req_len;
	/* Commands that arrived while a callback waited for message DMA,
	 * handed back to tp once that callback returns. */
	struct tp_stash stash;
	bool nesting;
};

struct uvfio_server {
	struct ulogger log;
	int listen_fd;
	char *path; /* socket file we created, removed on destroy */
	int epfd;
	int stop_fd; /* stop requests */
	int wake_fd; /* work queued by other threads */
	volatile int stopping;
	bool listening_armed;
	bool pcie;
	bool described; /* a client has seen the device: description frozen */
	pthread_t loop_thread;
	bool in_process;

	/* lock: conn pointer for other threads, DMA op queue, irq eventfds */
	pthread_mutex_t lock;
	struct conn *conn;
	struct dma_op *dma_q, **dma_q_tail;
	unsigned dma_q_len;
	unsigned dma_timeout_ms; /* synchronous message DMA */
	uint32_t dma_read_budget; /* see SRV_DMA_READ_BUDGET */

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

	const struct uvfio_device_ops *ops;
	void *ops_opaque;
	struct srv_mig mig;
	uvfio_config_fn config_fn;
	void *config_opaque;
};

/* core.c */
void srv_reply_error(struct uvfio_server *s, const struct uvfio_hdr *h,
		     int err, const char *why);
void srv_reply_ok(struct uvfio_server *s, const struct uvfio_hdr *h,
		  const void *payload, size_t len, const int *fds,
		  unsigned nfds);
void srv_wake(struct uvfio_server *s);
void srv_flush_twin(struct uvfio_server *s);
/* Read replies on the twin socket (server thread). */
int srv_twin_recv(struct uvfio_server *s);
int srv_regions_check_msix(struct uvfio_server *s);

/* region.c */
int srv_regions_init(struct uvfio_server *s);
void srv_regions_fini(struct uvfio_server *s);
void srv_handle_region_info(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_region_rw(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_write_multi(struct uvfio_server *s, struct uvfio_cmd_view *v);
void srv_handle_io_fds(struct uvfio_server *s, struct uvfio_cmd_view *v);

/* irq.c */
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
/* core.c: (re)register the INTx resample eventfd with the loop. */
void srv_watch_resample(struct uvfio_server *s);

/* dmaops.c */
void srv_handle_dma_map(struct uvfio_server *s, struct uvfio_cmd_view *v,
			int *fds);
void srv_handle_dma_unmap(struct uvfio_server *s, struct uvfio_cmd_view *v);
/* A reply to one of our DMA messages (main or twin socket). */
int srv_dma_reply(struct uvfio_server *s, struct tp_msg *m);
/* Direct-receive sinks for DMA_READ replies (tp_set_sink), for the
 * main socket and the twin socket. */
void *srv_dma_sink_main(void *opaque, const uint8_t *msg, size_t have,
			size_t *skip);
void *srv_dma_sink_twin(void *opaque, const uint8_t *msg, size_t have,
			size_t *skip);
/* Send queued DMA work (server thread). */
void srv_dma_pump(struct uvfio_server *s);
/* Fail every DMA op (connection gone). */
void srv_dma_abort(struct uvfio_server *s, int err);

/* migration.c */
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
