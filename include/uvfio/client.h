/* SPDX-License-Identifier: MIT */
/*
 * uvfio/client.h - drive a vfio-user device from C.
 *
 * A client handle is created once and then connected to a server socket
 * (or given a connected fd); connecting performs VERSION negotiation.  The
 * calls below are synchronous: each sends its command, then services the
 * socket until the reply arrives or the request times out (default 5 s, as
 * QEMU).  A timed-out or protocol-violating connection is closed, since the
 * stream cannot be resynchronised; every later call fails with -ENOTCONN
 * until the next connect.  A handle is used from one thread at a time.
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

/* Socket to poll for readability, or -1 when not connected. */
UVFIO_API int uvfio_client_poll_fd(struct uvfio_client *c);
/* Service the socket without blocking: read replies and server commands,
 * flush queued messages.  0 or -errno (connection failed). */
UVFIO_API int uvfio_client_process(struct uvfio_client *c);

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_CLIENT_H */
