/* SPDX-License-Identifier: MIT */
/*
 * uvfio/server.h - emulate a vfio-user PCI device.
 *
 * A server owns one device and serves one client at a time on a UNIX
 * socket.  It owns no thread: drive it from your own event loop with
 * uvfio_server_poll_fd() and uvfio_server_process(), or call
 * uvfio_server_run() for a built-in loop.  Device callbacks (region
 * accesses, config accesses, the ops) run on the thread that called
 * process/run, one at a time, in the order the client's commands arrived.
 * Functions documented "any thread" may also be called from other threads.
 *
 * Describe the device (ids, regions, capabilities, irq counts) before the
 * first client connects; the description is fixed once a client has seen
 * it.  On disconnect the server drops everything the client gave it (DMA
 * windows, eventfds), calls the reset op with UVFIO_RESET_LOST_CONN, keeps
 * the device state, and accepts the next client.  The poll fd stays the
 * same across reconnects.
 *
 * Structs that grow.  struct uvfio_region_desc, struct uvfio_device_ops and
 * struct uvfio_migration_ops begin with struct_size, which the caller sets
 * to sizeof() the struct as its header declares it:
 *
 *	static const struct uvfio_device_ops ops = {
 *		.struct_size = sizeof(struct uvfio_device_ops),
 *		.reset = my_reset,
 *	};
 *
 * Later versions only append fields, so a program built against an older
 * header keeps working with a newer library: the fields beyond its
 * struct_size read as zero (NULL callbacks).  The registration call copies
 * the struct, and what a region description points to (its sparse areas),
 * so none of it need outlive the call.  It returns -EINVAL when struct_size
 * is smaller than the struct's first version (a struct_size left at 0,
 * usually) or larger than UVFIO_STRUCT_SIZE_MAX.  A struct_size larger than
 * this library knows (a program built against a newer header, run with an
 * older library) is accepted when every byte beyond the fields the library
 * knows is zero, as Linux's copy_struct_from_user() does, and refused with
 * -E2BIG otherwise: the program asks for something this library cannot do.
 * (Maintainers: a new field starts at or after the previous version's
 * sizeof, never in its tail padding, which a caller may leave undefined.)
 */
#ifndef UVFIO_SERVER_H
#define UVFIO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uvfio/common.h>
#include <uvfio/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uvfio_server;

/* Size of a conventional PCI configuration space; PCI Express: 4096. */
#define UVFIO_PCI_CONFIG_SIZE 256u
#define UVFIO_PCIE_CONFIG_SIZE 4096u

/* uvfio_server_create() flags */
#define UVFIO_SERVER_PCIE (1u << 0) /* 4 KiB config space, extended caps */

/* The largest struct_size a registration call accepts (see the top). */
#define UVFIO_STRUCT_SIZE_MAX 4096u

/*
 * Region access callback.  buf holds count bytes to write, or receives
 * count bytes read.  Return count on success or a negative errno, which is
 * sent to the client as the error of its REGION_READ/WRITE.  Runs on the
 * server thread; it may call uvfio_server_dma_*() (see there).
 */
typedef ssize_t (*uvfio_region_fn)(void *opaque, unsigned index,
				   uint64_t offset, void *buf, size_t count,
				   bool is_write);

/*
 * Create a server listening on socket_path.  The socket file is created
 * with mode 0600 (only this user may connect), whatever the umask; see
 * uvfio_server_set_socket_mode().  It appears only once the server
 * listens (it is renamed into place), so a client may connect as soon as
 * it sees the file.  A stale socket file there (nobody listening) is
 * replaced; -EADDRINUSE when another process still listens on it,
 * -EEXIST when a file that is not a socket is in the way, -ENAMETOOLONG
 * when the path exceeds 107 bytes or its directory 82 (all logged).
 * flags: UVFIO_SERVER_*.
 */
UVFIO_API int uvfio_server_create(struct uvfio_server **srvp,
				  const char *socket_path, unsigned flags);

/*
 * Permission bits (e.g. 0660 to let a group connect) of the socket file
 * uvfio_server_create() made.  -EINVAL for bits outside 0777, -ENOENT for
 * a server created on an fd (its owner chose the file's mode).
 */
UVFIO_API int uvfio_server_set_socket_mode(struct uvfio_server *srv,
					   unsigned mode);

/*
 * Create a server on an fd you own and hand over: a listening UNIX stream
 * socket, or one already connected to a client (the spec's --fd=FDNUM).
 * Ownership: on success the fd is the server's (made non-blocking, closed
 * by uvfio_server_destroy()); on failure it is still yours, open and as it
 * was, whatever the error -- as with fdopen().  So a caller always knows
 * who closes it, may retry or report on it, and an fd number passed by
 * mistake (-ENOTSOCK: not a stream socket, -EBADF) is never closed behind
 * its owner's back.  Errors: -EINVAL (srvp NULL, fd < 0, unknown flags),
 * -EBADF, -ENOTSOCK, -ENOMEM, -EMFILE and other errnos of the fds the
 * server opens for itself.
 */
UVFIO_API int uvfio_server_create_fd(struct uvfio_server **srvp, int fd,
				     unsigned flags);

/* Disconnect the client, close every fd and remove the socket file the
 * server created. */
UVFIO_API void uvfio_server_destroy(struct uvfio_server *srv);

UVFIO_API void uvfio_server_set_log(struct uvfio_server *srv, uvfio_log_fn fn,
				    void *opaque, int level);

/* ---- device identity and configuration space ------------------------------ */

struct uvfio_pci_ids {
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys;
	uint32_t class_code; /* 24 bits: base class, sub class, prog-if */
	uint8_t revision;
	uint8_t irq_pin; /* 0 none, 1 = INTA# ... 4 = INTD#; enables INTx */
};

UVFIO_API int uvfio_server_set_pci_ids(struct uvfio_server *srv,
				       const struct uvfio_pci_ids *ids);

/*
 * Capability builders.  Each appends to the capability list and returns
 * the capability's offset in config space, or -ENOSPC when the space is
 * full, -EINVAL for bad arguments.  MSI and MSI-X also set the irq count
 * of their index; the MSI-X table and PBA are emulated by the library
 * inside the named BARs (a memory BAR's sparse mmap areas must leave them
 * out: the library refuses overlapping areas).
 */
UVFIO_API int uvfio_server_pci_add_pm(struct uvfio_server *srv);
UVFIO_API int uvfio_server_pci_add_msi(struct uvfio_server *srv, unsigned nvec,
				       bool maskable);
UVFIO_API int uvfio_server_pci_add_msix(struct uvfio_server *srv,
					unsigned nvec, unsigned table_bar,
					uint32_t table_off, unsigned pba_bar,
					uint32_t pba_off);
/* port_type: 0 PCI Express endpoint, 9 root-complex integrated endpoint. */
UVFIO_API int uvfio_server_pci_add_pcie(struct uvfio_server *srv,
					unsigned port_type);
UVFIO_API int uvfio_server_pci_add_vendor(struct uvfio_server *srv,
					  const void *data, size_t len);
/*
 * Advertise Function Level Reset (FLReset in the PCIe capability's Device
 * Capabilities).  The client then resets the function by writing Initiate
 * FLR (bit 15) to Device Control: the reset op runs with UVFIO_RESET_FLR
 * (after quiesce, when the device has that op), and on success config
 * space returns to its power-on state as for DEVICE_RESET (the write's
 * other bits are applied first, then lost to the reset); on failure the
 * client's write fails with the op's errno.  Initiate FLR always reads
 * 0.  A device that set FLReset itself through uvfio_server_config_space()
 * gets the same.  After uvfio_server_pci_add_pcie(), before the first
 * client: 0, -ENOENT (no PCIe capability), -EBUSY.
 */
UVFIO_API int uvfio_server_pci_enable_flr(struct uvfio_server *srv);
/* Extended capabilities need UVFIO_SERVER_PCIE. */
UVFIO_API int uvfio_server_pci_add_dsn(struct uvfio_server *srv,
				       uint64_t serial);
/* Any other capability: body follows the 2-byte id/next header; wmask
 * (len bytes or NULL) marks the bits the client may write. */
UVFIO_API int uvfio_server_pci_add_cap(struct uvfio_server *srv, uint8_t id,
				       const void *body, size_t len,
				       const void *wmask);
UVFIO_API int uvfio_server_pci_add_ext_cap(struct uvfio_server *srv,
					   uint16_t id, uint8_t version,
					   const void *body, size_t len,
					   const void *wmask);
/*
 * The same at a chosen config offset pos (0: the next free one, as
 * above), for a device whose layout is fixed (a model of real hardware, a
 * driver that expects a capability where the silicon has it).  pos is
 * dword aligned, in 0x40..0xff (standard) or 0x100..0xfff (extended; the
 * first one at 0x100), and not before the end of the capabilities already
 * added: the list stays in ascending order.  Bytes skipped read as 0.
 * -EINVAL (bad pos), -EEXIST (pos inside or before what is taken),
 * -ENOSPC (does not fit below the end), -EBUSY (a client has seen the
 * device).  A PCI Express capability added this way that sets FLReset in
 * Device Capabilities gets FLR handled as uvfio_server_pci_enable_flr().
 */
UVFIO_API int uvfio_server_pci_add_cap_at(struct uvfio_server *srv,
					  unsigned pos, uint8_t id,
					  const void *body, size_t len,
					  const void *wmask);
UVFIO_API int uvfio_server_pci_add_ext_cap_at(struct uvfio_server *srv,
					      unsigned pos, uint16_t id,
					      uint8_t version, const void *body,
					      size_t len, const void *wmask);

/*
 * Choose the config space size after creation, as UVFIO_SERVER_PCIE does
 * at creation: 4096 bytes with extended capabilities (pcie true) or 256.
 * For a device that learns its bus type after creating its server.  0, or
 * -EBUSY once an extended capability exists or a client has seen the
 * device.
 */
UVFIO_API int uvfio_server_set_pcie(struct uvfio_server *srv, bool pcie);

/*
 * The emulated configuration space bytes (256 or 4096), for a device that
 * wants to fill in more than ids and capabilities before the first client.
 * Client writes are filtered by the write masks the builders set.
 */
UVFIO_API uint8_t *uvfio_server_config_space(struct uvfio_server *srv);

/*
 * Optional hook on config accesses, called after the library emulated the
 * access: for a read, buf already holds the emulated bytes and may be
 * changed; for a write, the new value is in config space.  Return 0, or a
 * negative errno to fail the client's access.
 */
typedef int (*uvfio_config_fn)(void *opaque, uint32_t offset, void *buf,
			       uint32_t count, bool is_write);
UVFIO_API void uvfio_server_set_config_fn(struct uvfio_server *srv,
					  uvfio_config_fn fn, void *opaque);

/* ---- regions ------------------------------------------------------------------ */

/* Region description flags, beyond UVFIO_REGION_READ / UVFIO_REGION_WRITE. */
#define UVFIO_REGION_MEM (1u << 16)      /* library memory the client may mmap */
#define UVFIO_REGION_IO (1u << 17)       /* I/O space BAR */
#define UVFIO_REGION_64BIT (1u << 18)    /* 64-bit memory BAR (uses index+1) */
#define UVFIO_REGION_PREFETCH (1u << 19) /* prefetchable memory BAR */
/* The device's own fd backs the region: fd and fd_offset below.  The
 * client may mmap the sparse areas (or, with none, the whole region) from
 * it; message accesses go to fn, or without fn are read and written on
 * the fd (pread/pwrite at fd_offset + offset).  The library keeps a
 * duplicate of fd and never maps it itself.  Not with MEM or IO. */
#define UVFIO_REGION_FD (1u << 20)

struct uvfio_region_desc {
	size_t struct_size; /* sizeof(struct uvfio_region_desc); see the top */
	uint64_t size;      /* power of two for BARs */
	uint32_t flags;     /* UVFIO_REGION_* */
	uint32_t nr_sparse; /* entries of sparse */
	/* Accesses that are not served from MEM memory; for a MEM region the
	 * callback, if any, sees every access after the memory is updated
	 * (writes) or before it is read (reads may fill buf themselves). */
	uvfio_region_fn fn;
	void *opaque;
	/* MEM regions: the parts the client may mmap (page aligned); NULL
	 * with nr_sparse 0 means the whole region.  Copied. */
	const struct uvfio_sparse_area *sparse;
	/* Device-specific regions (index >= 9): the TYPE capability. */
	uint32_t type, subtype;
	/* UVFIO_REGION_FD only: the file and where the region starts in it
	 * (page aligned), what the client's mmap offsets are relative to. */
	int fd;
	uint64_t fd_offset;
};

/*
 * Describe region `index` (BAR 0-5, ROM 6, VGA 8, or device-specific from
 * 9).  The config region (7) is the library's.  BAR sizing and type bits in
 * config space follow from the description, which is copied.  Returns 0,
 * -EINVAL (bad description or struct_size), -E2BIG (struct_size, see the
 * top), -EBUSY (a client has seen the device) or -ENOMEM.
 */
UVFIO_API int uvfio_server_add_region(struct uvfio_server *srv,
				      unsigned index,
				      const struct uvfio_region_desc *desc);

/* Shorthand for a callback region. */
UVFIO_API int uvfio_server_setup_region(struct uvfio_server *srv,
					unsigned index, uint64_t size,
					uint32_t flags, uvfio_region_fn fn,
					void *opaque);

/* Memory of a UVFIO_REGION_MEM region (what the client mmaps), or NULL. */
UVFIO_API void *uvfio_server_region_mem(struct uvfio_server *srv,
					unsigned index);

/*
 * Register an eventfd the client may use to signal writes to
 * [offset, offset + size) of a region without a message (KVM ioeventfd;
 * returned by GET_REGION_IO_FDS).  datamatch: only writes of that value,
 * when has_datamatch.  The server keeps a duplicate of fd.
 *
 * At most UVFIO_MAX_REGION_IOEVENTFDS per region (-ENOSPC beyond), as one
 * GET_REGION_IO_FDS reply carries all of a region's fds; a device thus
 * holds at most that many times its region count.  A client receives a
 * region's eventfds only if they fit its max_msg_fds (otherwise its query
 * fails with E2BIG); QEMU and uvfio's client accept 16.
 */
#define UVFIO_MAX_REGION_IOEVENTFDS 64u
UVFIO_API int uvfio_server_add_ioeventfd(struct uvfio_server *srv,
					 unsigned index, uint64_t offset,
					 uint64_t size, int fd,
					 bool has_datamatch,
					 uint64_t datamatch);

/*
 * The same with shadow memory, libvfio-user's extension for a KVM and a
 * VMM patched to support it: the client maps shadow_fd at shadow_offset
 * and KVM stores each write's value there before signalling fd, so the
 * device finds the value without a message.  A region with such an entry
 * answers GET_REGION_IO_FDS in libvfio-user's 48-byte entry layout (this
 * one typed UVFIO_IO_FD_IOEVENTFD_SHADOW, with the shadow fd as a second
 * fd), which only clients that know the extension parse; regions without
 * keep the specification's 40-byte layout.  The server keeps duplicates
 * of both fds.  Errors as above; -EINVAL for shadow_fd < 0.
 */
UVFIO_API int uvfio_server_add_ioeventfd_shadow(
	struct uvfio_server *srv, unsigned index, uint64_t offset,
	uint64_t size, int fd, bool has_datamatch, uint64_t datamatch,
	int shadow_fd, uint64_t shadow_offset);

/* ---- interrupts ----------------------------------------------------------------- */

/* Vectors of an irq index (INTx: 1 when irq_pin is set; MSI/MSI-X: from
 * their capability; ERR and REQ: 1).  Use to override. */
UVFIO_API int uvfio_server_set_irq_count(struct uvfio_server *srv,
					 unsigned index, uint32_t count);

/*
 * Raise an interrupt.  Any thread.  MSI-X: a masked vector (function or
 * vector mask) sets its pending bit and fires when unmasked.  MSI honours
 * per-vector masks.  INTx is signalled as in VFIO: each trigger is an
 * assertion of the line; after firing, INTx stays masked until the client
 * unmasks it (the guest's EOI), and a trigger meanwhile is remembered and
 * fires at that unmask -- the line is still asserted then, unless the
 * device said otherwise with uvfio_server_irq_deassert().  So no event is
 * lost to the race between the guest's EOI and a new one.  Returns 0,
 * -EINVAL (bad index/vector), -ENOTCONN (no client) or -EAGAIN (nothing
 * sent now: no eventfd configured, or the interrupt is disabled or
 * masked; a masked MSI-X vector or INTx fires later as said).
 */
UVFIO_API int uvfio_server_irq_trigger(struct uvfio_server *srv,
				       unsigned index, uint32_t vector);

/*
 * The device no longer asserts the interrupt (its status was cleared): a
 * trigger remembered while masked -- INTx, or an MSI-X vector's pending
 * bit -- is dropped instead of firing at unmask.  A device whose
 * interrupt status can be cleared before the guest's EOI calls this when
 * it is; without it, that case costs the guest one spurious interrupt.
 * Any thread.  0, or -EINVAL (bad index or vector; other indexes have
 * nothing pending).
 */
UVFIO_API int uvfio_server_irq_deassert(struct uvfio_server *srv,
					unsigned index, uint32_t vector);

/* ---- clients that differ from the specification ------------------------------ */

/*
 * QEMU 10.x differs from the specification where a server has to follow it
 * (docs/protocol.md section 6): its own DMA_READ/DMA_WRITE message layout;
 * at most 64 KiB per DMA message and a budget for the DMA_READ reply bytes
 * it owes; no DMA answered while one of its commands waits for its reply
 * (a synchronous message DMA inside a callback fails with -EDEADLK); MSI
 * and MSI-X emulated on its side (the server's copies of their enable and
 * mask bits do not hold interrupts back).  A client cannot be asked what
 * it is, so by default (UVFIO_QUIRKS_AUTO) the server recognises QEMU from
 * its VERSION request; the other modes force the choice for every client,
 * for a QEMU the rule misses or a client the rule takes for QEMU.
 */
enum uvfio_client_quirks {
	UVFIO_QUIRKS_AUTO = 0, /* QEMU's when the VERSION looks like QEMU 10.x */
	UVFIO_QUIRKS_NONE = 1, /* every client follows the specification */
	UVFIO_QUIRKS_QEMU = 2, /* every client is QEMU 10.x */
};

/* Applies from the next VERSION negotiation on.  Any thread.  Returns 0,
 * or -EINVAL for a value not in enum uvfio_client_quirks. */
UVFIO_API int uvfio_server_set_client_quirks(struct uvfio_server *srv,
					     enum uvfio_client_quirks quirks);

/* ---- DMA ----------------------------------------------------------------------------- */

/*
 * How long a synchronous message DMA waits for the client's replies before
 * it returns -ETIMEDOUT (default 5000 ms; 0 restores the default).  The
 * connection stays up; replies that come later are dropped.  Asynchronous
 * transfers have no timeout: they complete when the client answers or
 * goes away; at most 64 requests are in flight and 1024 transfers queued
 * (then the async calls return -EAGAIN).
 */
UVFIO_API void uvfio_server_set_dma_timeout(struct uvfio_server *srv,
					    unsigned timeout_ms);

/*
 * The most DMA_READ reply bytes a QEMU client may owe the server at once
 * (default 128 KiB; 0 restores it; -EINVAL below 4096).  QEMU writes each
 * reply with one non-blocking write and cannot take back-pressure: what
 * does not fit its socket buffer (net.core.wmem_default, 208 KiB on most
 * hosts) is lost, and QEMU aborts.  So toward QEMU, DMA_READs are chunked
 * at most at half the budget (rounded down to 4 KiB) and sent only while
 * the replies owed fit it; DMA_WRITEs are not limited (their replies are
 * headers).  Other clients read with back-pressure and are not limited.
 * Any thread; applies to requests sent from then on.
 */
UVFIO_API int uvfio_server_set_dma_read_budget(struct uvfio_server *srv,
					       size_t bytes);

/*
 * Copy between device and client memory.  Fd-backed windows are accessed
 * directly; message-only windows with DMA_READ/DMA_WRITE messages chunked at
 * min(both max_data_xfer_size).  The whole range is checked against the
 * windows before a byte moves.  Synchronous: returns 0 when done, or
 * -ENOENT (some of it not inside mapped windows), -EACCES (a window lacks
 * the right) -- for both nothing was copied --,
 * -ENOTCONN, -ETIMEDOUT, the client's error, or -EDEADLK.  Any thread.
 * Inside a callback on the server thread the wait reads the twin socket,
 * or without one the main socket, keeping the client's other commands for
 * after the callback, in order; -EDEADLK when the client is QEMU, which
 * answers DMA only after the command being handled (use the async form),
 * or when called from a completion run during such a wait.
 */
UVFIO_API int uvfio_server_dma_read(struct uvfio_server *srv, uint64_t iova,
				    void *buf, size_t len);
UVFIO_API int uvfio_server_dma_write(struct uvfio_server *srv, uint64_t iova,
				     const void *buf, size_t len);

/*
 * Asynchronous forms: start the transfer and return 0; done(opaque, result)
 * runs on the server thread (from uvfio_server_process) when it finishes
 * (result 0 or -errno).  buf must stay valid until then (large transfers
 * are sent from and received into it in place).  Safe inside any
 * callback: the server keeps answering commands while the transfer runs.
 * Fd-backed transfers complete before the call returns, done included.
 * Errors found before anything moves (-ENOENT, -EACCES: the range is not
 * all inside windows with the right; -ENOTCONN; -EAGAIN: too many
 * transfers queued, see uvfio_server_set_dma_timeout) are returned; then
 * no byte was copied or sent and done is not called.  Otherwise done is
 * called exactly once.
 */
typedef void (*uvfio_dma_done_fn)(void *opaque, int result);
UVFIO_API int uvfio_server_dma_read_async(struct uvfio_server *srv,
					  uint64_t iova, void *buf, size_t len,
					  uvfio_dma_done_fn done,
					  void *opaque);
UVFIO_API int uvfio_server_dma_write_async(struct uvfio_server *srv,
					   uint64_t iova, const void *buf,
					   size_t len, uvfio_dma_done_fn done,
					   void *opaque);

/*
 * Zero-copy DMA: scatter-gather entries, each one contiguous piece of a
 * client range inside a single DMA window, that a device maps to host
 * addresses and accesses in place (reads and writes of its own, readv,
 * io_uring) instead of copying through a buffer.
 *
 * The usual sequence:
 *
 *	struct uvfio_dma_sg sg[4];
 *	struct iovec iov[4];
 *	int n = uvfio_server_dma_addr_to_sg(srv, iova, len,
 *					    UVFIO_DMA_MAP_WRITE, sg, 4);
 *	if (n > 4) ... retry with n entries;
 *	if (uvfio_server_dma_sg_map(srv, sg, n, iov) == -EFAULT)
 *		... message-only: uvfio_server_dma_sg_write() or the async
 *		    calls on each entry's iova and len;
 *	... write through iov[0..n) from any thread ...
 *	uvfio_server_dma_sg_unmap(srv, sg, n, true);
 *
 * struct uvfio_dma_sg is 32 bytes in every version (the library checks
 * it at build time), so arrays of it may be allocated by the caller.
 * Read iova, len, prot and flags; leave the rest alone: it says which
 * window an entry holds while it is mapped.
 *
 * Threads: every call below may be made from any thread, including I/O
 * completion threads and inside callbacks; none sends a message or waits
 * for the client, except uvfio_server_dma_sg_read/_write (the rules of
 * uvfio_server_dma_read/_write).
 *
 * References: a mapped entry holds its window.  The client's DMA_UNMAP of
 * that window (or unmap-all) waits on the server thread until every entry
 * holding it is unmapped -- the dma_unmap op runs first, so a device can
 * finish or cancel its I/O there or let its other threads do so -- and
 * so does a client disconnect, which unmaps every window (dma_unmap with
 * iova 0 and size 0 first, as for unmap-all; the reset and disconnected
 * ops run after: references must be released by then, from dma_unmap or
 * by threads that do not wait for the server thread).  While the server
 * thread waits no command is answered, so hold mappings for the length
 * of an I/O, not indefinitely, and never unmap only from a callback the
 * waiting server thread would have to run.
 */
struct uvfio_dma_sg {
	uint64_t iova;  /* client address of the piece */
	uint64_t len;   /* bytes; > 0; all inside one window */
	uint32_t prot;  /* UVFIO_DMA_MAP_READ/_WRITE asked (the window has them) */
	uint32_t flags; /* UVFIO_DMA_SG_MAPPABLE */
	uint64_t priv;  /* the library's: 0 unless mapped */
};

/* The window is fd-backed: uvfio_server_dma_sg_map() can map the entry.
 * Without it the window is message-only (DMA_READ/DMA_WRITE messages). */
#define UVFIO_DMA_SG_MAPPABLE (1u << 0)

/*
 * Describe [iova, iova + len) as entries, one per window it crosses, for
 * an access needing prot (UVFIO_DMA_MAP_READ and/or _WRITE).  Fills the
 * first min(count, max) entries (priv 0: not mapped) and returns count,
 * the number the whole range needs: a count above max means "call again
 * with more" (sg may be NULL when max is 0).  The whole range is checked
 * first: -ENOENT (part of it in no window), -EACCES (a window lacks a
 * right in prot), -EINVAL (len 0, prot 0 or with other bits, range past
 * 2^64).  No reference is taken: an entry is a description, checked again
 * when mapped.
 */
UVFIO_API int uvfio_server_dma_addr_to_sg(struct uvfio_server *srv,
					  uint64_t iova, uint64_t len,
					  uint32_t prot, struct uvfio_dma_sg *sg,
					  size_t max);

/*
 * Map n entries: iov[i] gets the host address and length of sg[i], and
 * sg[i] holds its window until unmapped.  All or nothing: on error no
 * entry is held.  Returns 0, -EFAULT (an entry is in a message-only
 * window: use the read/write calls), -ENOENT (its window is gone or
 * smaller: the client unmapped it since), -EACCES (the window now lacks
 * the entry's rights), -EBUSY (an entry is mapped already), -EINVAL.
 * The memory is the client's, shared: another party may change it at
 * any time, so read a value you check only once.
 */
struct iovec;
UVFIO_API int uvfio_server_dma_sg_map(struct uvfio_server *srv,
				      struct uvfio_dma_sg *sg, size_t n,
				      struct iovec *iov);

/*
 * Release n mapped entries (entries not mapped are skipped).  written:
 * the device wrote through them, so their bytes are marked dirty for the
 * client's dirty logging first (what uvfio_server_dma_write() does on its
 * own); false for reads.  After this the iovecs must not be used.
 */
UVFIO_API void uvfio_server_dma_sg_unmap(struct uvfio_server *srv,
					 struct uvfio_dma_sg *sg, size_t n,
					 bool written);

/*
 * Mark n entries' bytes dirty without unmapping them, mapped or not: for a
 * device that keeps a mapping across a dirty report (a ring it owns) and
 * wants a write seen in the next one.  Cheap when nothing is logged.
 */
UVFIO_API void uvfio_server_dma_sg_mark_dirty(struct uvfio_server *srv,
					      const struct uvfio_dma_sg *sg,
					      size_t n);

/*
 * Copy between buf and n entries in order (buf holds the sum of their
 * lengths), on whatever path each window takes: the fallback for entries
 * that refuse mapping.  Every entry is checked before a byte moves; then
 * as uvfio_server_dma_read/_write (thread rules and errors included).
 * Inside callbacks prefer the async calls on each entry's iova and len.
 */
UVFIO_API int uvfio_server_dma_sg_read(struct uvfio_server *srv,
				       const struct uvfio_dma_sg *sg, size_t n,
				       void *buf);
UVFIO_API int uvfio_server_dma_sg_write(struct uvfio_server *srv,
					const struct uvfio_dma_sg *sg,
					size_t n, const void *buf);

/* ---- device callbacks ------------------------------------------------------------- */

enum uvfio_reset_reason {
	UVFIO_RESET_CLIENT = 1,    /* DEVICE_RESET from the client */
	UVFIO_RESET_LOST_CONN = 2, /* the client went away */
	UVFIO_RESET_FLR = 3,       /* Initiate FLR written (pci_enable_flr) */
};

/* All optional; all run on the server thread. */
struct uvfio_device_ops {
	size_t struct_size; /* sizeof(struct uvfio_device_ops); see the top */
	/* Return 0 or -errno (sent as the DEVICE_RESET error). */
	int (*reset)(void *opaque, enum uvfio_reset_reason why);
	void (*connected)(void *opaque);
	void (*disconnected)(void *opaque);
	/* A DMA window appeared or is about to go.  prot: UVFIO_DMA_MAP_READ
	 * and/or _WRITE, plus UVFIO_DMA_MAP_MMAP when the window is backed by
	 * the client's fd (direct access, no messages); without it, DMA
	 * there travels as messages (prefer the async calls).  For unmap-all,
	 * and when the client goes away with windows mapped, dma_unmap gets
	 * iova 0 and size 0. */
	void (*dma_map)(void *opaque, uint64_t iova, uint64_t size,
			uint32_t prot);
	void (*dma_unmap)(void *opaque, uint64_t iova, uint64_t size);
	/* The client masked (true) or unmasked vectors of an irq index. */
	void (*irq_mask)(void *opaque, unsigned index, uint32_t start,
			 uint32_t count, bool masked);
	/* Stop DMA before the library changes what DMA may touch; see
	 * "Quiescing" below.  Return 0 (quiesced), -EBUSY (will call
	 * uvfio_server_device_quiesced() later) or another -errno (the
	 * command fails with it). */
	int (*quiesce)(void *opaque);
	/* The client gave (enabled true) or took away (false) the eventfds
	 * of vectors [start, start + count) of an irq index: SET_IRQS
	 * ACTION_TRIGGER with DATA_EVENTFD, called once per run of vectors
	 * of the request that end in the same state (a vector whose fd is
	 * replaced by another is reported enabled again).  Also every
	 * vector with an eventfd is reported disabled when SET_IRQS with
	 * count 0 clears the index or the client goes away (before the
	 * reset op then).  Masking is irq_mask's. */
	void (*irq_state)(void *opaque, unsigned index, uint32_t start,
			  uint32_t count, bool enabled);
};

/*
 * Quiescing.  With a quiesce op, these commands wait for the device to
 * stop its DMA first: DMA_MAP, DMA_UNMAP (with or without a dirty
 * bitmap), DEVICE_RESET, DEVICE_FEATURE SET of MIG_DEVICE_STATE to another
 * state, a config write of Initiate FLR (uvfio_server_pci_enable_flr),
 * and the loss of the client.  Without the op, nothing waits.
 *
 * Before handling such a command, the server calls quiesce.  0: the
 * command is handled at once.  -EBUSY: the command is held, and so is
 * every command after it (in order, up to 8 MiB, then the socket pushes
 * back), while replies to the server's own DMA keep being taken, so the
 * device can finish its I/O (message DMA included; but a QEMU client
 * answers DMA only after the held command, so with QEMU finish only what
 * needs no message DMA).  The device then calls
 * uvfio_server_device_quiesced() once, from any thread (also from inside
 * quiesce, which then still returns -EBUSY); the server thread handles
 * the held command, then the rest.  Another -errno from quiesce fails the
 * command with it, and nothing is held.
 *
 * The device stays quiesced (no new DMA, no sg mappings) until the
 * command's handler has returned: its reply is queued, the dma_map,
 * dma_unmap, reset or transition ops have run.  There is no unquiesce
 * op; a device restarts its I/O when that handler returns, or from the op
 * (dma_map, reset) that tells it.  Each such command quiesces again.
 *
 * Losing the client: quiesce runs before the windows and eventfds are
 * dropped; on -EBUSY those steps, the reset op (UVFIO_RESET_LOST_CONN),
 * the disconnected op and accepting the next client wait for
 * uvfio_server_device_quiesced().  A client lost while a command is held
 * joins that wait without a second quiesce call.  uvfio_server_destroy()
 * does not wait.
 */

/*
 * The device has quiesced after its quiesce op returned -EBUSY.  err: 0,
 * or a negative errno to fail the held command with (the client's loss
 * goes ahead regardless).  Any thread; a call with nothing held is
 * ignored (logged).
 */
UVFIO_API void uvfio_server_device_quiesced(struct uvfio_server *srv, int err);

/*
 * Register the device callbacks (copied; ops NULL removes them).  Before
 * the server runs, or on the server thread.  Returns 0, or -EINVAL /
 * -E2BIG for a struct_size the library refuses (see the top; the
 * callbacks registered before then stay).
 */
UVFIO_API int uvfio_server_set_ops(struct uvfio_server *srv,
				   const struct uvfio_device_ops *ops,
				   void *opaque);

/* ---- running ---------------------------------------------------------------------- */

/*
 * A file descriptor that becomes readable when the server has work; add it
 * to your poll/epoll set and call uvfio_server_process() when it fires.
 * The same fd for the server's whole life.
 */
UVFIO_API int uvfio_server_poll_fd(struct uvfio_server *srv);

/*
 * Do all pending work without blocking: accept a client, read and answer
 * its commands, flush replies, complete DMA.  A client that disconnects or
 * breaks the protocol is dropped (and logged); that is not an error of
 * process.  Returns 0, or a negative errno for failures of the server.
 */
UVFIO_API int uvfio_server_process(struct uvfio_server *srv);

/*
 * Built-in loop only: after handling work, keep looking for more without
 * sleeping for up to usec microseconds (default 0: sleep at once).  A
 * client that sends its next message within that time finds the server
 * awake, which saves both sides a sleep and a wake-up (a cross-CPU wake-up
 * costs tens of microseconds on a VM) at the price of a CPU spinning that
 * long after each burst.  Opt-in; docs/performance.md has the figures.
 * Any thread.
 */
UVFIO_API void uvfio_server_set_busy_poll(struct uvfio_server *srv,
					  unsigned usec);

/* Built-in loop: process until uvfio_server_stop().  Returns 0 or -errno. */
UVFIO_API int uvfio_server_run(struct uvfio_server *srv);

/* Make uvfio_server_run() return.  Any thread, and signal handlers. */
UVFIO_API void uvfio_server_stop(struct uvfio_server *srv);

/*
 * Client commands handled since the server was created (replies to the
 * server's own DMA are not commands).  For a caller's loop that wants to
 * know whether uvfio_server_process() found work.  Any thread.
 */
UVFIO_API uint64_t uvfio_server_commands_handled(struct uvfio_server *srv);

/* true while a client is connected and has completed VERSION.  Any thread. */
UVFIO_API bool uvfio_server_connected(struct uvfio_server *srv);

/* ---- live migration (docs/migration.md) ------------------------------------ */

/*
 * A device that can be migrated registers these callbacks; the library then
 * answers DEVICE_FEATURE (MIGRATION, MIG_DEVICE_STATE, DMA_LOGGING_*),
 * MIG_DATA_READ and MIG_DATA_WRITE, and advertises "migration" in VERSION.
 * Without them those commands fail with ENOTSUP.  All callbacks run on the
 * server thread, between client commands, and may use every server call
 * except the synchronous message DMA (uvfio_server_dma_read/write of a
 * message-only window), which they must not wait on.
 *
 * transition(from, to) is called once per single arc of the state machine
 * (enum uvfio_mig_state); a SET to a state no arc reaches is split into
 * the shortest legal chain of arcs, as <linux/vfio.h> defines, and
 * transition sees each step (e.g. RUNNING -> STOP, then STOP -> STOP_COPY).
 * Return 0 when the device is in `to`.  Return -EBUSY or -EAGAIN when it
 * cannot move now but is still fully in `from`: the SET fails with that
 * errno and the state stays at `from` (earlier steps of the chain are kept,
 * as the uapi allows).  Any other -errno means the device is in no valid
 * state: the state becomes ERROR, the SET fails with that errno, and only
 * DEVICE_RESET (-> RUNNING) leaves ERROR.  What each arc means:
 *   RUNNING -> STOP, PRE_COPY -> ...: stop: no DMA, no interrupts, no
 *     change of state until RUNNING again (region accesses may still come
 *     in STOP, config and MSI-X ones above all);
 *   STOP -> STOP_COPY, RUNNING -> PRE_COPY: a save session starts: the
 *     next read_data returns the stream from its beginning;
 *   PRE_COPY -> STOP_COPY: same session, the device now stopped;
 *   STOP_COPY -> STOP, PRE_COPY -> RUNNING: the save session ends;
 *   STOP -> RESUMING: a load session starts (write_data follows);
 *   RESUMING -> STOP: the load ends: check the data and apply it, and fail
 *     (-EINVAL) if it is incomplete or inconsistent.
 *
 * read_data(buf, len): in PRE_COPY and STOP_COPY, produce up to len bytes
 * of the stream; return the count, or -errno.  0 in STOP_COPY means the
 * end of the stream; 0 in PRE_COPY means nothing more for now (the device
 * may produce more later, and again in STOP_COPY).  One MIG_DATA_READ of
 * n bytes calls read_data until n bytes are produced or it returns 0, so a
 * device may hand out any chunk sizes; n is at most max_data_xfer_size.
 *
 * write_data(buf, len): in RESUMING, take len bytes of the stream (in
 * order, any chunking).  Return the bytes taken (the library calls again
 * for the rest) or -errno; 0 before all is taken fails the MIG_DATA_WRITE
 * with EINVAL.
 *
 * log_start/log_stop (optional): DMA dirty logging began (page size the
 * library tracks at) or ended.  The library marks everything it writes
 * for the device itself (see uvfio_server_dma_mark_dirty()); a device only
 * needs these to start or stop its own tracking.
 */
struct uvfio_migration_ops {
	size_t struct_size; /* sizeof(struct uvfio_migration_ops); see the top */
	int (*transition)(void *opaque, enum uvfio_mig_state from,
			  enum uvfio_mig_state to);
	ssize_t (*read_data)(void *opaque, void *buf, size_t len);
	ssize_t (*write_data)(void *opaque, const void *buf, size_t len);
	int (*log_start)(void *opaque, uint64_t page_size);
	void (*log_stop)(void *opaque);
};

/*
 * Make the device migratable.  flags: UVFIO_MIGRATION_STOP_COPY (required)
 * | UVFIO_MIGRATION_PRE_COPY | UVFIO_MIGRATION_P2P, the optional states it
 * implements.  transition, read_data and write_data are required.  ops is
 * copied.  Before the first client only (-EBUSY after); -EINVAL for bad
 * flags, ops or struct_size; -E2BIG for a struct_size with fields this
 * library does not know (see the top).  The state starts as RUNNING.
 */
UVFIO_API int uvfio_server_set_migration(struct uvfio_server *srv,
					 const struct uvfio_migration_ops *ops,
					 void *opaque, uint64_t flags);

/* Current migration state (RUNNING for a device without migration).
 * Any thread. */
UVFIO_API enum uvfio_mig_state
uvfio_server_migration_state(struct uvfio_server *srv);

/*
 * DMA dirty logging.  While the client logs (DMA_LOGGING_START ..
 * DMA_LOGGING_STOP), every byte the library writes into client memory for
 * the device is marked: uvfio_server_dma_write() and its async form,
 * through fd-backed windows and with DMA_WRITE messages alike.  A device
 * that changes client memory any other way (its own mapping of the same
 * memory) calls uvfio_server_dma_mark_dirty() after writing.  Any thread;
 * returns 0 (also when nothing is logged: cheap then), or -ENOENT if part
 * of the range lies in no window (the rest is still marked).
 */
UVFIO_API int uvfio_server_dma_mark_dirty(struct uvfio_server *srv,
					  uint64_t iova, uint64_t len);

/* true while the client has DMA logging on.  Any thread. */
UVFIO_API bool uvfio_server_dma_logging(struct uvfio_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_SERVER_H */
