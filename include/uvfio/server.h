/* SPDX-License-Identifier: MIT */
/*
 * uvfio/server.h - emulate a vfio-user PCI device.
 *
 * A server owns one device and serves one client at a time on a UNIX
 * socket.  It owns no thread: drive it from your own event loop with
 * uvfio_server_poll_fd() and uvfio_server_process(), or call
 * uvfio_server_run() for a built-in loop.  Device callbacks run on the
 * thread that called process/run, one at a time, in the order the client's
 * commands arrived.
 *
 * On disconnect the server drops everything the client gave it (fds, DMA
 * windows, eventfds), keeps the device state, and accepts the next client.
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

/* Size of the emulated PCI configuration space. */
#define UVFIO_PCI_CONFIG_SIZE 256u

/*
 * Region access callback.  buf holds count bytes to write, or receives
 * count bytes read.  Return count on success or a negative errno, which is
 * sent to the client as the error of its REGION_READ/WRITE.
 */
typedef ssize_t (*uvfio_region_fn)(void *opaque, unsigned index,
				   uint64_t offset, void *buf, size_t count,
				   bool is_write);

/*
 * Create a server listening on socket_path (a stale socket file there is
 * replaced; any other file is an error, -EEXIST).  flags must be 0.
 */
UVFIO_API int uvfio_server_create(struct uvfio_server **srvp,
				  const char *socket_path, unsigned flags);

/*
 * Create a server on an fd you own and hand over: a listening UNIX socket,
 * or one already connected to a client (the spec's --fd=FDNUM).  The server
 * closes it on destroy.
 */
UVFIO_API int uvfio_server_create_fd(struct uvfio_server **srvp, int fd,
				     unsigned flags);

/* Disconnect the client, close every fd and remove the socket file the
 * server created. */
UVFIO_API void uvfio_server_destroy(struct uvfio_server *srv);

UVFIO_API void uvfio_server_set_log(struct uvfio_server *srv, uvfio_log_fn fn,
				    void *opaque, int level);

/*
 * Describe a region.  index < UVFIO_PCI_NUM_REGIONS; flags is a mask of
 * UVFIO_REGION_READ/WRITE.  The config region (7) is emulated by the library
 * and cannot be set up this way (-EINVAL).  fn may be NULL for a region that
 * reads as zeros and ignores writes.
 */
UVFIO_API int uvfio_server_setup_region(struct uvfio_server *srv,
					unsigned index, uint64_t size,
					uint32_t flags, uvfio_region_fn fn,
					void *opaque);

/*
 * The device's configuration space, UVFIO_PCI_CONFIG_SIZE bytes, for the
 * device to fill before the first client.  Client writes reach only the
 * command register and bytes from 0x40 on.
 */
UVFIO_API uint8_t *uvfio_server_config_space(struct uvfio_server *srv);

/*
 * A file descriptor that becomes readable when the server has work; add it
 * to your poll/epoll set and call uvfio_server_process() when it fires.
 */
UVFIO_API int uvfio_server_poll_fd(struct uvfio_server *srv);

/*
 * Do all pending work without blocking: accept a client, read and answer
 * its commands, flush replies.  A client that disconnects or breaks the
 * protocol is dropped (and logged); that is not an error of process.
 * Returns 0, or a negative errno for failures of the server itself.
 */
UVFIO_API int uvfio_server_process(struct uvfio_server *srv);

/* Built-in loop: process until uvfio_server_stop().  Returns 0 or -errno. */
UVFIO_API int uvfio_server_run(struct uvfio_server *srv);

/* Make uvfio_server_run() return.  Safe from any thread and from signal
 * handlers. */
UVFIO_API void uvfio_server_stop(struct uvfio_server *srv);

/* true while a client is connected and has completed VERSION. */
UVFIO_API bool uvfio_server_connected(struct uvfio_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_SERVER_H */
