/* SPDX-License-Identifier: MIT */
/* Client internals shared by client.c, dma.c and irq.c. */
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
 * DMA_WRITE land, and what to re-send after a reconnect. */
struct cli_window {
	uint64_t iova, size;
	uint32_t prot; /* UVFIO_DMA_MAP_READ/WRITE: what the server may do */
	uint8_t *vaddr;
	int fd; /* our duplicate, -1 for message-only windows */
	uint64_t offset;
};

struct uvfio_client {
	/* Recursive: completions may submit; held except while polling. */
	pthread_mutex_t lock;
	struct uvfio_logger log;
	unsigned timeout_ms;
	bool connected;
	bool in_deliver; /* inside a reply or DMA handler */
	bool no_twin;    /* do not offer a twin socket */
	int epfd;        /* the poll fd: main and twin sockets */
	uint32_t ev_main, ev_twin; /* registered epoll events */
	char *path;      /* for uvfio_client_reconnect() */
	struct uvfio_tp tp;
	struct uvfio_tp twin;
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
	uint64_t dma_served; /* bytes, for tests and tools */

	/* eventfds given with SET_IRQS, kept to re-send on reconnect */
	int *irq_fds[UVFIO_PCI_NUM_IRQS];
	uint32_t irq_n[UVFIO_PCI_NUM_IRQS];
};

/* client.c */
uint16_t cli_next_id(struct uvfio_client *c);
/* Send a built message and wait for its reply (lock held). */
int cli_call(struct uvfio_client *c, const void *msg, size_t len,
	     const int *fds, unsigned nfds, struct pending *p);

/* The connection cannot go on: log why, fail everything pending. */
void cli_fail(struct uvfio_client *c, int err, const char *why);

/* dma.c */
/* Direct-receive sink for DMA_WRITE data (see uvfio_tp_set_sink). */
void *cli_dma_sink(struct uvfio_client *c, const uint8_t *msg, size_t have,
		   size_t *skip);
/* A DMA_READ/DMA_WRITE from the server on tp (main or twin). */
int cli_serve_dma(struct uvfio_client *c, struct uvfio_tp *tp,
		  struct uvfio_tp_msg *m);
void cli_windows_drop(struct uvfio_client *c);
int cli_windows_resend(struct uvfio_client *c);

/* irq.c */
void cli_irqs_drop(struct uvfio_client *c);
int cli_irqs_resend(struct uvfio_client *c);

#endif
