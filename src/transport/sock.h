/* SPDX-License-Identifier: MIT */
/* AF_UNIX socket setup shared by server, client and tools. */
#ifndef UVFIO_SOCK_H
#define UVFIO_SOCK_H

#include <stdbool.h>

/* Listening socket bound to path (removed first if it is a stale socket).
 * Returns fd or -errno. */
int uvfio_sock_listen(const char *path);
/* Blocking connect to path, then switched to non-blocking. fd or -errno. */
int uvfio_sock_connect(const char *path);
int uvfio_sock_set_nonblock(int fd);
/* 1 if fd is a listening socket, 0 if a connected stream socket, -errno if
 * it is not a UNIX stream socket at all. */
int uvfio_sock_is_listening(int fd);

#endif
