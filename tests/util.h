/* SPDX-License-Identifier: MIT */
/* What several test programs need from the OS, written once. */
#ifndef UVFIO_TESTS_UTIL_H
#define UVFIO_TESTS_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Open fds of process pid (0: this one, not counting the count's own). */
int tu_fd_count(pid_t pid);

/*
 * Send all of buf on a stream socket, the nfds fds with its first byte
 * (padding of the control message zeroed: no uninitialised byte leaves).
 * MSG_NOSIGNAL, EINTR retried.  0, or -errno.
 */
int tu_send(int fd, const void *buf, size_t len, const int *fds,
	    unsigned nfds);

#endif
