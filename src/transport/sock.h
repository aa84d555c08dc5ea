/* SPDX-License-Identifier: MIT */
/* AF_UNIX socket setup shared by server, client and tools. */
#ifndef UVFIO_SOCK_H
#define UVFIO_SOCK_H

#include <stdbool.h>

/* Mode of a socket file we create: only our user may connect. */
#define UVFIO_SOCK_DEFAULT_MODE 0600u

/* Listening socket bound to path with file mode `mode` (whatever the
 * umask).  A stale socket file there (nobody listening) is replaced;
 * -EADDRINUSE when a process still listens on it, -EEXIST when path is
 * not a socket.  Returns fd or -errno. */
int uvfio_sock_listen_mode(const char *path, unsigned mode);
/* The same with UVFIO_SOCK_DEFAULT_MODE. */
int uvfio_sock_listen(const char *path);
/* Non-blocking socket connected to path, or -errno: -EAGAIN when the
 * server's backlog stayed full for timeout_ms (it is busy with another
 * client), -ECONNREFUSED when nobody listens, -ENOENT when no file. */
int uvfio_sock_connect(const char *path, unsigned timeout_ms);
int uvfio_sock_set_nonblock(int fd);
/* 1 if fd is a listening socket, 0 if a connected stream socket, -errno if
 * it is not a UNIX stream socket at all. */
int uvfio_sock_is_listening(int fd);

#endif
