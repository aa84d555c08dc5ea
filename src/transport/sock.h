/* SPDX-License-Identifier: MIT */
/* AF_UNIX socket setup shared by server, client and tools. */
#ifndef UVFIO_SOCK_H
#define UVFIO_SOCK_H

#include <stdbool.h>

/* Mode of a socket file we create: only our user may connect. */
#define USOCK_DEFAULT_MODE 0600u

/* The longest socket path connect() and bind() take (sun_path). */
#define USOCK_PATH_MAX 107
/* Length of the temporary name a listening socket is bound under in its
 * directory before it is renamed into place: that directory, with its
 * trailing '/', may have at most USOCK_PATH_MAX minus this. */
#define USOCK_TMP_NAME_LEN 24

/* Listening socket at path with file mode `mode` (whatever the umask); the
 * file appears only once the socket listens, so a client that sees it can
 * connect.  A stale socket file there (nobody listening) is replaced;
 * -EADDRINUSE when a process still listens on it (or one appeared there
 * meanwhile), -EEXIST when path is not a socket, -ENAMETOOLONG when path
 * or the temporary name beside it does not fit USOCK_PATH_MAX.
 * Returns fd or -errno. */
int usock_listen_mode(const char *path, unsigned mode);
/* The same with USOCK_DEFAULT_MODE. */
int usock_listen(const char *path);
/* Non-blocking socket connected to path, or -errno: -EAGAIN when the
 * server's backlog stayed full for timeout_ms (it is busy with another
 * client), -ECONNREFUSED when nobody listens, -ENOENT when no file. */
int usock_connect(const char *path, unsigned timeout_ms);
int usock_set_nonblock(int fd);
/* 1 if fd is a listening socket, 0 if a connected stream socket, -errno if
 * it is not a UNIX stream socket at all. */
int usock_is_listening(int fd);

#endif
