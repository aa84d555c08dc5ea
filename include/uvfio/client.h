/* SPDX-License-Identifier: MIT */
/*
 * uvfio/client.h - drive a vfio-user device from C.
 *
 * A client handle is created once and then connected to a server socket
 * (or given a connected fd); connecting performs VERSION negotiation.
 *
 * Synchronous calls send their command, then service the socket (serving
 * the server's DMA requests too) until the reply arrives or the request
 * times out (default 5 s, as QEMU).  Asynchronous calls queue the command
 * and return; their completion runs from whichever call next services the
 * socket (uvfio_client_process() in your loop, or any synchronous call).
 * A timed-out or protocol-violating connection is closed, since the
 * stream cannot be resynchronised: every pending request completes with
 * the error, and later calls fail with -ENOTCONN until a reconnect.
 *
 * Threads: every call may be made from any thread.  Completions and DMA
 * service run with the handle's lock held, on the thread servicing the
 * socket; they may submit asynchronous requests but not make synchronous
 * calls (-EDEADLK).
 */
#ifndef UVFIO_CLIENT_H
#define UVFIO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/codec.h>
#include <uvfio/common.h>
#include <uvfio/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uvfio_client;

UVFIO_API int uvfio_client_create(struct uvfio_client **cp);
/* Closes the connection, if any, and frees the handle. */
UVFIO_API void uvfio_client_destroy(struct uvfio_client *c);

UVFIO_API void uvfio_client_set_log(struct uvfio_client *c, uvfio_log_fn fn,
				    void *opaque, int level);
/* Offer a twin socket when negotiating (default true): server DMA then
 * travels apart from replies.  Takes effect at the next connect. */
UVFIO_API void uvfio_client_set_twin_socket(struct uvfio_client *c,
					    bool offer);
/* Per-request timeout in milliseconds; 0 waits forever. */
UVFIO_API void uvfio_client_set_timeout(struct uvfio_client *c,
					unsigned timeout_ms);

/*
 * Connect to the server listening on path and negotiate.  -ENOENT: no such
 * socket; -ECONNREFUSED: nobody listens; -EPROTO: the server answered
 * VERSION with something we cannot accept (logged).
 */
UVFIO_API int uvfio_client_connect(struct uvfio_client *c, const char *path);
/* Same, on a connected socket whose ownership passes to the client. */
UVFIO_API int uvfio_client_adopt_fd(struct uvfio_client *c, int fd);
UVFIO_API void uvfio_client_disconnect(struct uvfio_client *c);

/* What the server stated in its VERSION reply (spec defaults for absent
 * keys), or NULL when not connected. */
UVFIO_API const struct uvfio_caps *
uvfio_client_server_caps(struct uvfio_client *c);
/* Negotiated protocol minor version and whether a twin socket is in use. */
UVFIO_API int uvfio_client_version_minor(struct uvfio_client *c);
UVFIO_API bool uvfio_client_has_twin_socket(struct uvfio_client *c);

UVFIO_API int uvfio_client_get_device_info(struct uvfio_client *c,
					   struct uvfio_device_info *info);
UVFIO_API int uvfio_client_get_region_info(struct uvfio_client *c,
					   unsigned index,
					   struct uvfio_region_info *info);
/* The region's capabilities (sparse mmap areas, type), checked; valid
 * until disconnect.  NULL on error.  Region info is fetched once and
 * cached per connection. */
UVFIO_API const struct uvfio_region_caps *
uvfio_client_region_caps(struct uvfio_client *c, unsigned index);
UVFIO_API int uvfio_client_get_irq_info(struct uvfio_client *c, unsigned index,
					struct uvfio_irq_info *info);

/* Read or write len bytes of a region, in chunks the server accepts.
 * Returns 0 or -errno (the server's error, or -EIO for a short access). */
UVFIO_API int uvfio_client_region_read(struct uvfio_client *c, unsigned index,
				       uint64_t offset, void *buf, size_t len);
UVFIO_API int uvfio_client_region_write(struct uvfio_client *c,
					unsigned index, uint64_t offset,
					const void *buf, size_t len);

UVFIO_API int uvfio_client_reset(struct uvfio_client *c);

/*
 * Reconnect to the socket of the last uvfio_client_connect(), negotiate,
 * and give the server back every DMA window and interrupt eventfd this
 * handle had registered.
 */
UVFIO_API int uvfio_client_reconnect(struct uvfio_client *c);
UVFIO_API bool uvfio_client_connected(struct uvfio_client *c);

/* ---- asynchronous region access ---------------------------------------------- */

/* result: 0, or -errno (the server's error, -EIO for a short access,
 * -ENOTCONN/-ETIMEDOUT when the connection ended). */
typedef void (*uvfio_client_done_fn)(void *opaque, int result);

/*
 * Queue a read or write of len bytes (in chunks the server accepts) and
 * return; done runs once all of it completed.  buf must stay valid until
 * then for reads; write data is copied at once.  -EAGAIN when too many
 * requests are pending: process and retry.  When the call returns an
 * error, done is not called; otherwise it is called exactly once.
 */
UVFIO_API int uvfio_client_region_read_async(struct uvfio_client *c,
					     unsigned index, uint64_t offset,
					     void *buf, size_t len,
					     uvfio_client_done_fn done,
					     void *opaque);
UVFIO_API int uvfio_client_region_write_async(struct uvfio_client *c,
					      unsigned index, uint64_t offset,
					      const void *buf, size_t len,
					      uvfio_client_done_fn done,
					      void *opaque);
/* Posted write (NO_REPLY): ordered before every later command; errors are
 * not reported, as the protocol has no way to. */
UVFIO_API int uvfio_client_region_write_posted(struct uvfio_client *c,
					       unsigned index,
					       uint64_t offset,
					       const void *buf, size_t len);

/*
 * Several small posted writes (1-8 bytes each, applied in order) in one
 * REGION_WRITE_MULTI message per 200, when the server offered
 * write_multiple; otherwise as posted REGION_WRITEs.  -EINVAL for a count
 * outside 1..8.
 */
UVFIO_API int uvfio_client_region_write_multi(
	struct uvfio_client *c, const struct uvfio_write_multi_entry *e,
	unsigned n);

/*
 * Map a mappable region (MMAP flag) into this process: the server's sparse
 * areas are mapped, the rest of the range is inaccessible.  Afterwards the
 * read/write calls use the mapping where the whole access lies in an area,
 * messages elsewhere.  The mapping lasts until disconnect.
 */
UVFIO_API int uvfio_client_region_mmap(struct uvfio_client *c, unsigned index,
				       void **addr);

/* ---- DMA ---------------------------------------------------------------------------- */

/*
 * Let the device access [iova, iova + size): prot is UVFIO_DMA_MAP_READ
 * and/or UVFIO_DMA_MAP_WRITE (what the server may do).  vaddr is where this
 * process sees that memory: the client serves the server's DMA_READ and
 * DMA_WRITE from it.  fd >= 0 (with its offset) also lets the server map
 * the memory itself (a memfd or shared file behind vaddr); fd < 0 makes a
 * message-only window.  The client keeps a duplicate of fd.  Returns 0,
 * -EEXIST (overlap), -ENOSPC, or the server's error.
 */
UVFIO_API int uvfio_client_dma_map(struct uvfio_client *c, uint64_t iova,
				   uint64_t size, uint32_t prot, void *vaddr,
				   int fd, uint64_t offset);
/* Exactly a window given to uvfio_client_dma_map; -ENOENT otherwise. */
UVFIO_API int uvfio_client_dma_unmap(struct uvfio_client *c, uint64_t iova,
				     uint64_t size);
UVFIO_API int uvfio_client_dma_unmap_all(struct uvfio_client *c);

/* ---- interrupts ----------------------------------------------------------------------- */

/*
 * Give the server eventfds for vectors [start, start + count) of an irq
 * index (sent in runs of the server's max_msg_fds); fds NULL takes them
 * away.  The client keeps duplicates to give again after a reconnect.
 */
UVFIO_API int uvfio_client_irq_set_eventfds(struct uvfio_client *c,
					    unsigned index, uint32_t start,
					    uint32_t count, const int *fds);
/* Same with eventfds the library creates (non-blocking); the caller owns
 * the count fds written to efds. */
UVFIO_API int uvfio_client_irq_enable(struct uvfio_client *c, unsigned index,
				      uint32_t start, uint32_t count,
				      int *efds);
/* Disable every vector of the index (NONE|TRIGGER, count 0). */
UVFIO_API int uvfio_client_irq_disable(struct uvfio_client *c,
				       unsigned index);
UVFIO_API int uvfio_client_irq_mask(struct uvfio_client *c, unsigned index,
				    uint32_t start, uint32_t count, bool mask);
/* Ask the server to fire vectors (NONE|TRIGGER), mostly for tests. */
UVFIO_API int uvfio_client_irq_trigger(struct uvfio_client *c, unsigned index,
				       uint32_t start, uint32_t count);
/*
 * Wait until eventfd efd is signalled (its counter goes to *count) while
 * servicing the connection, so DMA the device needs first is served.
 * timeout_ms < 0 waits forever.  0, -ETIMEDOUT or -errno.
 */
UVFIO_API int uvfio_client_irq_wait(struct uvfio_client *c, int efd,
				    int timeout_ms, uint64_t *count);

/* ---- event loop ------------------------------------------------------------------------ */

/*
 * One fd for your poll/epoll set, readable whenever the client has work:
 * replies or server commands to read on either socket, or queued bytes the
 * sockets can now take.  The same fd for the handle's whole life.
 */
UVFIO_API int uvfio_client_poll_fd(struct uvfio_client *c);
/* Milliseconds until the oldest pending request times out, for your
 * poll() timeout (call uvfio_client_process() then); -1: none pending. */
UVFIO_API int uvfio_client_next_timeout(struct uvfio_client *c);
/* The twin socket itself (for tracing tools), or -1 when there is none. */
UVFIO_API int uvfio_client_twin_fd(struct uvfio_client *c);
/* Service the sockets without blocking: read replies and server commands,
 * run completions, flush queued messages.  0 or -errno (connection
 * failed). */
UVFIO_API int uvfio_client_process(struct uvfio_client *c);

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_CLIENT_H */
