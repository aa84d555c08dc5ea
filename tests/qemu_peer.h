/* SPDX-License-Identifier: MIT */
/*
 * qpeer: a vfio-user client that behaves as QEMU 10.2.2's vfio-user-pci
 * does, where it matters to a server's message DMA.  qemu_peer.c says
 * which QEMU functions each rule comes from.
 *
 * The test's thread plays the vCPU: its requests (region accesses, maps)
 * wait for their replies, and the DMA the server asks for is served only
 * between them (qpeer_serve), as QEMU's main loop serves it.  A second
 * thread plays QEMU's iothread: it reads every message as it arrives.
 */
#ifndef UVFIO_TESTS_QEMU_PEER_H
#define UVFIO_TESTS_QEMU_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qpeer;

struct qpeer_stats {
	uint64_t dma_reads, dma_writes;  /* requests served successfully */
	uint64_t dma_read_bytes, dma_write_bytes;
	uint64_t einval, e2big, efault; /* requests refused, by reason */
	uint64_t eagain;     /* sends that found the socket full (queued) */
	uint64_t max_batch_reply_bytes; /* most DMA_READ reply bytes written
					 * by one run of the bottom half */
};

/*
 * Take over fd (a connected stream socket to the server, left at the
 * default SO_SNDBUF) and start the iothread.  Guest RAM of ram_size bytes
 * is at guest address ram_iova.  NULL on failure.
 */
struct qpeer *qpeer_new(int fd, uint64_t ram_iova, size_t ram_size);
/* Stop the iothread, close the socket, free everything. */
void qpeer_free(struct qpeer *p);

uint8_t *qpeer_ram(struct qpeer *p);

/* QEMU's VERSION (0.0 and its capabilities); 0 or -errno. */
int qpeer_version(struct qpeer *p);
/* DMA_MAP all of guest RAM without an fd: DMA must then use messages. */
int qpeer_map_ram(struct qpeer *p);

/* Region accesses as the vCPU makes them; a posted write does not wait.
 * Each runs the bottom half when it returns.  0 or -errno. */
int qpeer_region_read(struct qpeer *p, uint32_t region, uint64_t off,
		      void *buf, uint32_t count);
int qpeer_region_write(struct qpeer *p, uint32_t region, uint64_t off,
		       const void *buf, uint32_t count, bool posted);

/* The main loop's bottom half: serve the DMA requests queued so far. */
void qpeer_serve(struct qpeer *p);
/* Wait up to timeout_ms for requests to arrive, then serve them. */
void qpeer_idle(struct qpeer *p, int timeout_ms);

/* NULL while all is well; else what QEMU would have got wrong or lost: a
 * short write, DMA_READ replies owed at once beyond its socket buffer
 * (it would lose data whenever the server did not read fast enough), an
 * oversized request, a stream it cannot follow. */
const char *qpeer_failure(struct qpeer *p);
void qpeer_get_stats(struct qpeer *p, struct qpeer_stats *st);

#endif
