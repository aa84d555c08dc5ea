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

/*
 * Until a server accepts connections on the UNIX socket at path: connect()
 * retried every 5 ms for up to timeout_ms.  A file at path is not enough:
 * it may be a stale one, or (servers before the socket was renamed into
 * place) not listening yet.  The probe's connection is closed at once, so
 * the server sees a client come and go.  0, or the last -errno after
 * saying why on stderr.
 */
int tu_wait_connect(const char *path, unsigned timeout_ms);

/* The same for the server that child process pid is starting: gives up
 * at once (-ECHILD) when that process has exited. */
int tu_wait_server(pid_t pid, const char *path, unsigned timeout_ms);

/*
 * fork() for a test's child processes, which never outlive the test
 * program, whatever failed: the child is killed (SIGKILL) when its parent
 * dies (PR_SET_PDEATHSIG: fork from a thread that lives as long as the
 * child, the main thread in a cmocka test); and the children still
 * registered are killed and reaped when the test program exits (atexit:
 * after failed assertions too) or gets SIGTERM (meson's timeout), SIGINT,
 * SIGHUP or SIGABRT.  Returns what fork() does.
 */
pid_t tu_fork(void);

/* Reap child pid of tu_fork(): signal sig to it first (unless 0), wait for
 * it (its status in *status unless NULL), and unregister it.  Every child
 * of tu_fork() is reaped with this, never with waitpid() alone: a pid
 * reaped elsewhere stays registered and could be killed once reused.
 * Returns pid, or -1 with errno as waitpid() sets it. */
pid_t tu_reap(pid_t pid, int sig, int *status);

/*
 * Run `bin --socket path` as a child of tu_fork() and wait until it
 * accepts (tu_wait_server, up to 10 s: the file alone may be a stale one a
 * killed device left behind).  Its pid, or -1 after saying why (the child,
 * if any, reaped).
 */
pid_t tu_spawn_server(const char *bin, const char *path);

#endif
