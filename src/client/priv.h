/* SPDX-License-Identifier: MIT */
/*
 * Client internals shared by its files:
 *   conn.c      handle, connect/adopt, VERSION, twin socket, disconnect
 *   call.c      pending requests, the receive path, waiting, process
 *   device.c    device/region/irq info, the region info cache, io fds, reset
 *   region.c    region access (sync, async, posted, WRITE_MULTI), mmap
 *   dma.c       DMA windows and serving the server's DMA
 *   irq.c       SET_IRQS, eventfds kept for reconnects, irq_wait
 *   migration.c migration state and stream, dirty logging, migrate()
 */
#ifndef UVFIO_CLIENT_PRIV_H
#define UVFIO_CLIENT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "transport/transport.h"
#include "util/log.h"

#define CLI_MAX_MSG_FDS 16u
#define CLI_MAX_DATA_XFER (1u << 20)
#define CLI_CTRL_MAX 65536u
#define CLI_MAX_PENDING 4096u
#define CLI_DEFAULT_TIMEOUT_MS 5000u
#define CLI_MAX_REGIONS 64u
#define CLI_MAX_WINDOWS 65535u

struct pending;
typedef void (*complete_fn)(struct uvfio_client *c, struct pending *p,
			    struct uvfio_reply_view *v, int *fds);

/* One chunked asynchronous request: completes when its last chunk does. */
struct async_op {
	unsigned chunks; /* outstanding */
	int result;
	uvfio_client_done_fn done;
	void *opaque;
};

struct pending {
	struct uvfio_expect exp;
	complete_fn complete;
	bool done;
	int result;
	void *out;      /* where completion copies the reply payload */
	size_t out_len; /* its size */
	size_t got;     /* payload bytes copied */
	int fd;         /* an fd taken from the reply, or -1 */
	int64_t deadline; /* ms, CLOCK_MONOTONIC; 0 none */
	struct async_op *op; /* async chunk: owned by the library */
	/* REGION_READ: where its data goes, so that a large reply can be
	 * received there in place (see cli_main_sink()); else NULL. */
	void *rx_into;
};

struct cli_region {
	bool valid;
	struct uvfio_region_info info;
	uint8_t *raw; /* the whole reply payload: info and capabilities */
	struct uvfio_region_caps caps; /* points into raw */
	int fd;       /* MMAP regions: the region fd, else -1 */
	void *map;    /* uvfio_client_region_mmap(): base of the region */
};

/* A DMA window the client registered: where the server's DMA_READ and
 * DMA_WRITE land, and what to re-send after a reconnect.  A window is in
 * the table from the moment its DMA_MAP is queued (so DMA the server does
 * right after mapping it is served) until its unmap completes or its map
 * fails. */
struct cli_window {
	uint64_t iova, size;
	uint32_t prot; /* UVFIO_DMA_MAP_READ/WRITE: what the server may do */
	uint8_t *vaddr;
	int fd; /* our duplicate, -1 for message-only windows */
	uint64_t offset;
	/* Served through callbacks instead of vaddr (has_ops). */
	bool has_ops;
	struct uvfio_client_dma_ops ops;
	void *ops_opaque;
	/* Which window this is, since windows move in the array and a range
	 * may be unmapped and mapped again while a thread waits. */
	uint64_t gen;
	/* The connection its DMA_MAP was sent on (c->conn_id). */
	uint64_t conn;
};

struct uvfio_client {
	/*
	 * Recursive: completions may submit.  Held by every call except while
	 * a synchronous caller sleeps, which it does holding it exactly once
	 * (lock_depth 1): either as the reader, in poll() on the sockets and
	 * wakefd, or in pthread_cond_wait() on `wake`.  See cli_wait() in
	 * call.c.
	 */
	pthread_mutex_t lock;
	unsigned lock_depth; /* levels held by the owner; 0 when free */
	pthread_cond_t wake;  /* broadcast: a sync request completed, or the
				 reader left */
	unsigned waiters;     /* callers sleeping on wake */
	struct pending *reader; /* the request of the caller reading */
	bool reader_asleep;   /* ... which sleeps in poll() */
	bool kicked;          /* wakefd was written since it slept */
	int wakefd;           /* eventfd: wakes the reader's poll() */
	struct ulogger log;
	unsigned timeout_ms;
	bool connected;
	bool in_deliver; /* inside a reply or DMA handler */
	bool no_twin;    /* do not offer a twin socket */
	int epfd;        /* the poll fd: main and twin sockets */
	uint32_t ev_main, ev_twin; /* registered epoll events */
	char *path;      /* for uvfio_client_reconnect() */
	struct tp tp;
	struct tp twin;
	bool has_twin;
	uint16_t next_id;
	uint16_t minor;
	struct uvfio_caps srv;
	uint32_t xfer; /* chunk size for region data */

	struct pending *q[CLI_MAX_PENDING];
	unsigned q_head, q_len;
	struct cli_region regions[CLI_MAX_REGIONS];

	struct cli_window *win; /* sorted by iova */
	uint32_t nwin, win_cap;
	uint64_t win_gen; /* the last window's gen */
	uint64_t conn_id; /* bumped at every connection */
	uint64_t dma_served; /* bytes, for tests and tools */

	/* eventfds given with SET_IRQS, kept to re-send on reconnect */
	int *irq_fds[UVFIO_PCI_NUM_IRQS];
	uint32_t irq_n[UVFIO_PCI_NUM_IRQS];
};

static inline void cli_lock(struct uvfio_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->lock_depth++;
}

static inline void cli_unlock(struct uvfio_client *c)
{
	c->lock_depth--;
	pthread_mutex_unlock(&c->lock);
}

/* Take the lock if connected (0); else -ENOTCONN, without the lock. */
static inline int cli_lock_connected(struct uvfio_client *c)
{
	cli_lock(c);
	if (c->connected)
		return 0;
	cli_unlock(c);
	return -ENOTCONN;
}

/* The next piece of a transfer with `left` bytes to go: as much as one
 * message may carry. */
static inline uint32_t cli_chunk(const struct uvfio_client *c, size_t left)
{
	return (uint32_t)(left < c->xfer ? left : c->xfer);
}

/* conn.c */
/* The connection cannot go on: log why, fail everything pending. */
void cli_fail(struct uvfio_client *c, int err, const char *why);

/* call.c (lock held for all) */
uint16_t cli_next_id(struct uvfio_client *c);
/* Queue p to wait for the reply to msg, sent now (msg NULL: the caller
 * queued the message itself).  -EAGAIN: queue or send buffer full. */
int cli_submit(struct uvfio_client *c, const void *msg, size_t len,
	       const int *fds, unsigned nfds, struct pending *p);
/* Whether this thread may wait for a reply: -EDEADLK if not (logged). */
int cli_may_wait(struct uvfio_client *c);
/* Service the connection until p completes; p's result. */
int cli_wait(struct uvfio_client *c, struct pending *p);
/* Send a built message and wait for its reply (lock held once). */
int cli_call(struct uvfio_client *c, const void *msg, size_t len,
	     const int *fds, unsigned nfds, struct pending *p);
/* Send a built message; done(opaque, result) runs when its reply came
 * (lock held; exactly once if this returns 0).  -EAGAIN: queue full. */
int cli_call_async(struct uvfio_client *c, const void *msg, size_t len,
		   const int *fds, unsigned nfds, const struct uvfio_expect *exp,
		   uvfio_client_done_fn done, void *opaque);
/* Read, serve and flush both sockets without blocking; check deadlines. */
int cli_pump(struct uvfio_client *c);
/* Send what is queued, reading only if the socket pushes back. */
int cli_flush(struct uvfio_client *c);
/* Keep the poll fd's interest in line with what is queued to send. */
void cli_arm(struct uvfio_client *c);
/* Complete every pending request with err. */
void cli_fail_pending(struct uvfio_client *c, int err);
/* Direct-receive sinks (tp_set_sink) of the main and twin sockets. */
void *cli_main_sink(void *opaque, const uint8_t *msg, size_t have,
		    size_t *skip);
void *cli_twin_sink(void *opaque, const uint8_t *msg, size_t have,
		    size_t *skip);

/* device.c */
/* The cached info of a region, fetched if need be (lock held once);
 * NULL and *err if it cannot be had. */
struct cli_region *cli_region_get(struct uvfio_client *c, unsigned index,
				  int *err);
/* Forget every region's info, fd and mapping: the connection ended. */
void cli_regions_drop(struct uvfio_client *c);

/* dma.c */
/* Direct-receive sink for DMA_WRITE data (see tp_set_sink). */
void *cli_dma_sink(struct uvfio_client *c, const uint8_t *msg, size_t have,
		   size_t *skip);
/* A DMA_READ/DMA_WRITE from the server on tp (main or twin). */
int cli_serve_dma(struct uvfio_client *c, struct tp *tp,
		  struct tp_msg *m);
void cli_windows_drop(struct uvfio_client *c);
int cli_windows_resend(struct uvfio_client *c);

/* irq.c */
void cli_irqs_drop(struct uvfio_client *c);
int cli_irqs_resend(struct uvfio_client *c);

#endif
