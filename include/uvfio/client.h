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
 * Threads: every call may be made from any thread, for example
 * synchronous region accesses from a VMM's vCPU threads while its main
 * loop calls uvfio_client_process().  A synchronous caller returns as soon
 * as its reply has been read, whichever thread read it (another caller,
 * or the loop).  Completions and DMA service run with the handle's lock
 * held, on the thread servicing the socket; completions may submit
 * asynchronous requests but not make synchronous calls (-EDEADLK), and
 * the callbacks of a DMA window (uvfio_client_dma_map_ops) no calls at all.
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
 * socket; -ECONNREFUSED: nobody listens; -EAGAIN: the server's backlog
 * stayed full for the request timeout (it serves another client); -EPROTO:
 * the server answered VERSION with something we cannot accept (logged).
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

/* One entry of a region's GET_REGION_IO_FDS reply. */
struct uvfio_client_io_fd {
	uint64_t offset;    /* in the region */
	uint64_t size;      /* bytes a write covers (at most 8 for ioeventfds) */
	int fd;             /* the caller's to close; -1 if the entry has none */
	uint32_t type;      /* UVFIO_IO_FD_IOEVENTFD, _IOREGIONFD, ... */
	uint32_t flags;     /* UVFIO_IOEVENTFD_DATAMATCH, _PIO, ... */
	uint64_t datamatch; /* with DATAMATCH: only writes of this value;
			       ioregionfd: its user_data */
};

/*
 * GET_REGION_IO_FDS: the fds through which the server accepts writes to
 * parts of a region without a message, typically eventfds to register as
 * KVM ioeventfds (KVM_IOEVENTFD with the entry's offset (plus the BAR's
 * guest address), size, fd and datamatch).  Fills up to max entries of out
 * (out may be NULL when max is 0) and returns how many the region has,
 * which may be more than max: the fds of the entries left out are closed.
 * The fds written to out are the caller's.  -EINVAL from the server for a
 * region that does not exist; -ENOTSUP/-EINVAL from servers without the
 * command; -E2BIG when the server has more fds than one message carries.
 */
UVFIO_API int uvfio_client_get_region_io_fds(struct uvfio_client *c,
					     unsigned index,
					     struct uvfio_client_io_fd *out,
					     unsigned max);

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
/*
 * Posted write (NO_REPLY): ordered before every later command; errors are
 * not reported, as the protocol has no way to.  Returns once the message
 * is sent or queued: when the socket is full it waits in the client until
 * the connection is serviced (uvfio_client_process() when the poll fd
 * says so, or any synchronous call), so a driver that then only watches
 * memory for the effect must keep servicing the connection.
 */
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
/*
 * The same without waiting for the server, for the many maps of a VMM's
 * boot: the window is checked (-EEXIST, -ENOSPC, -EINVAL), entered and
 * its DMA_MAP sent (or queued, when the socket is full) before the call
 * returns; done(opaque, result) runs once the server answered, from
 * whichever call services the connection (uvfio_client_process() in your
 * loop, or any synchronous call).  If the server refuses, the window is
 * removed before done runs with the error; done may be NULL (the error is
 * logged).  -EAGAIN when too many requests are pending (4096): process
 * and retry.  When the call returns an error, done is not called;
 * otherwise exactly once.  DMA the server does to the window once it has
 * mapped it is served at once, even before done ran.  The message is sent
 * right away when the socket takes it; replies are read by later
 * processing, so a burst of calls keeps thousands of maps in flight.
 */
UVFIO_API int uvfio_client_dma_map_async(struct uvfio_client *c,
					 uint64_t iova, uint64_t size,
					 uint32_t prot, void *vaddr, int fd,
					 uint64_t offset,
					 uvfio_client_done_fn done,
					 void *opaque);

/*
 * A window whose DMA the client serves through callbacks instead of from
 * memory: for a vIOMMU (translate iova, then copy), or memory that is not
 * plain RAM.  read fills buf with the len bytes at iova the device reads
 * (DMA_READ); write takes the len bytes the device writes at iova
 * (DMA_WRITE).  Both return 0 or -errno, which the server's DMA request
 * fails with.  A transfer spanning windows reaches each for its part.
 * The callbacks run with the handle's lock held, on the thread servicing
 * the connection, in the middle of building the reply: keep them short
 * and make no calls on the handle from them.
 */
struct uvfio_client_dma_ops {
	int (*read)(void *opaque, uint64_t iova, void *buf, size_t len);
	int (*write)(void *opaque, uint64_t iova, const void *buf, size_t len);
};

/*
 * Map [iova, iova + size) as a message-only window served by ops (copied;
 * opaque is passed to them).  prot READ needs ops->read, WRITE ops->write
 * (-EINVAL otherwise).  Synchronous; errors as uvfio_client_dma_map().
 * Unmapped with uvfio_client_dma_unmap(); after it returns, the callbacks
 * are not called for the window any more.
 */
UVFIO_API int uvfio_client_dma_map_ops(struct uvfio_client *c, uint64_t iova,
				       uint64_t size, uint32_t prot,
				       const struct uvfio_client_dma_ops *ops,
				       void *opaque);

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

/* ---- live migration (v2) and dirty page logging --------------------------------------- */

/*
 * Migration uses DEVICE_FEATURE (MIGRATION, MIG_DEVICE_STATE, DMA_LOGGING_*)
 * and MIG_DATA_READ/MIG_DATA_WRITE; see docs/migration.md.  Every call is
 * synchronous and may fail with what any request fails with (-ENOTCONN,
 * -ETIMEDOUT, -EPROTO for a malformed reply, which also closes the
 * connection) as well as the errors listed.  States are enum
 * uvfio_mig_state (<uvfio/wire.h>).
 */

/* "RUNNING", "STOP_COPY", ... or "UNKNOWN". */
UVFIO_API const char *uvfio_mig_state_name(unsigned state);

/*
 * GET MIGRATION: *flags receives UVFIO_MIGRATION_STOP_COPY (always set by
 * a device that migrates), _P2P, _PRE_COPY.  -ENOTSUP when the device
 * does not support migration (the server answered ENOTSUP, ENOTTY or
 * EINVAL, or left STOP_COPY out); -EPROTO for a reply without flags.
 */
UVFIO_API int uvfio_client_mig_query(struct uvfio_client *c, uint64_t *flags);

/* GET MIG_DEVICE_STATE.  -EPROTO if the device names a state that does not
 * exist. */
UVFIO_API int uvfio_client_mig_get_state(struct uvfio_client *c,
					 enum uvfio_mig_state *st);

/*
 * SET MIG_DEVICE_STATE: the server walks the path to st (e.g. RUNNING to
 * STOP_COPY passes through STOP) and answers once the device is there.
 * -EINVAL locally for ERROR or a value out of range (never sent); otherwise
 * the server's error, typically -EINVAL for a transition it does not allow
 * (STOP_COPY to PRE_COPY, a P2P state of a device without P2P) or data it
 * could not load (RESUMING to STOP).  After a failed SET the device may be in ERROR; ask
 * with uvfio_client_mig_get_state().
 */
UVFIO_API int uvfio_client_mig_set_state(struct uvfio_client *c,
					 enum uvfio_mig_state st);

/*
 * MIG_DATA_READ, in PRE_COPY or STOP_COPY: fill buf with up to len bytes
 * of the device's migration stream, one message per max_data_xfer_size.
 * Returns the bytes read; fewer than len means the device has no more for
 * now (in STOP_COPY: read until 0 to be sure the stream ended).  -EINVAL
 * from the server in another state.
 */
UVFIO_API ssize_t uvfio_client_mig_read(struct uvfio_client *c, void *buf,
					size_t len);

/*
 * MIG_DATA_WRITE, in RESUMING: give the device len bytes of a stream read
 * from another device of its kind, in messages of max_data_xfer_size.
 * 0, or the server's error (-EINVAL: wrong state or data it refuses).
 */
UVFIO_API int uvfio_client_mig_write(struct uvfio_client *c, const void *buf,
				     size_t len);

/*
 * Dirty page logging (DEVICE_FEATURE DMA_LOGGING_START/STOP/REPORT): the
 * device records which pages of guest memory it writes.  page_size is a
 * power of two; n ranges (n 0: everything mapped).  *granularity, if not
 * NULL, receives the page size the device chose (the one asked for when
 * the server does not say).  -EINVAL locally for a bad page size or
 * overlapping/wrapping ranges, -E2BIG when the ranges do not fit one
 * message; -ENOTSUP/-EINVAL from a device that cannot log, -EBUSY or
 * -EINVAL when it already logs with another page size.
 */
UVFIO_API int uvfio_client_dma_logging_start(
	struct uvfio_client *c, uint64_t page_size,
	const struct uvfio_log_range *ranges, uint32_t n,
	uint64_t *granularity);
UVFIO_API int uvfio_client_dma_logging_stop(struct uvfio_client *c);

/* Bytes of bitmap a report of length bytes at page_size needs: one bit per
 * page, rounded up to whole 64-bit words.  0 for page_size 0.  This is
 * uvfio_bitmap_bytes() (codec.h) as a size_t, SIZE_MAX when it does not
 * fit one (only where size_t is narrower than 64 bits). */
UVFIO_API size_t uvfio_dma_logging_bitmap_size(uint64_t length,
					       uint64_t page_size);

/*
 * Fetch and clear the dirty bits of [iova, iova + length): bit n (word
 * n / 64, bit n % 64) is page iova + n * page_size.  bitmap holds
 * uvfio_dma_logging_bitmap_size(length, page_size) bytes.  Reports too big
 * for one message are asked for in pieces of whole 64-page words (some
 * servers, libvfio-user among them, only report a range that is exactly
 * one DMA window, and refuse pieces).  -EINVAL locally for a page size
 * that is not a power of two, length 0 or a wrapping range; from the
 * server -EINVAL when not logging, -ENOTSUP for a range it cannot report.
 */
UVFIO_API int uvfio_client_dma_logging_report(struct uvfio_client *c,
					      uint64_t iova, uint64_t length,
					      uint64_t page_size,
					      uint64_t *bitmap);

/* ---- one-call migration ---------------------------------------------------------------- */

enum uvfio_migrate_mode {
	/* Stop the source, copy its whole state, start the destination. */
	UVFIO_MIGRATE_STOP_COPY = 0,
	/* Copy while the source runs (PRE_COPY), then stop-copy the rest. */
	UVFIO_MIGRATE_PRE_COPY = 1,
};

struct uvfio_migrate_stats {
	uint64_t bytes_precopy;  /* moved while the source ran */
	uint64_t bytes_stopcopy; /* moved with the source stopped */
	unsigned iterations;     /* pre-copy passes, each read until the
				    device had nothing more for now */
	uint64_t downtime_ns;    /* source leaving RUNNING/PRE_COPY to the
				    destination RUNNING */
	uint64_t total_ns;       /* the whole call */
	enum uvfio_mig_state phase; /* the source's state, for progress */
};

/* Called after every chunk moved; non-zero cancels the migration
 * (-ECANCELED, both sides put back as on any failure). */
typedef int (*uvfio_migrate_progress_fn)(void *opaque,
					 const struct uvfio_migrate_stats *s);

struct uvfio_migrate_opts {
	enum uvfio_migrate_mode mode;
	/* PRE_COPY: most passes before stopping the source (0: 8). */
	unsigned max_iterations;
	/* PRE_COPY: stop iterating once a pass moved at most this many bytes
	 * (0: only when a pass moves nothing). */
	uint64_t precopy_threshold;
	/* Bytes read from the source before writing them to the destination
	 * (0: the smaller max_data_xfer_size of the two connections). */
	size_t chunk_size;
	uvfio_migrate_progress_fn progress; /* optional */
	void *opaque;
};

/*
 * Move the state of the device behind `from` into the device behind `to`
 * (another device of the same kind).  opts NULL: stop-copy with defaults;
 * stats may be NULL.  Sequence: both must support migration; destination
 * to RESUMING; with PRE_COPY the source goes RUNNING -> PRE_COPY and its
 * stream is fed to the destination pass after pass; then the source goes
 * to STOP_COPY and its stream is copied until it ends; source to STOP;
 * destination to STOP (which loads the state) then RUNNING.  The source
 * ends in STOP: resume it (uvfio_client_mig_set_state(from, RUNNING)) or
 * retire it, as the caller decides.
 *
 * Errors: -ENOTSUP when either side cannot migrate (or PRE_COPY asked of a
 * source without it), -EINVAL for from == to or a source in a state it
 * cannot be migrated from (it must be RUNNING, or STOP for stop-copy),
 * -ECANCELED from the progress callback, or the error of the failing
 * step.  On failure the source is put back in the state it was in and
 * the destination is reset (its state is not usable); each step that
 * failed is logged on from's log.
 */
UVFIO_API int uvfio_client_migrate(struct uvfio_client *from,
				   struct uvfio_client *to,
				   const struct uvfio_migrate_opts *opts,
				   struct uvfio_migrate_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_CLIENT_H */
