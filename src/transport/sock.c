/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>

#include "sock.h"

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path || !*path || strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int uvfio_sock_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * Someone accepts connections on the socket file at path: 1; a socket file
 * nobody listens on (left by a process that died): 0; -errno otherwise.
 * A full backlog (EAGAIN) still means a live server.
 */
static int sock_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	close(fd);
	if (r == 0 || err == EAGAIN || err == EINPROGRESS)
		return 1;
	if (err == ECONNREFUSED || err == ENOENT)
		return 0;
	return -err;
}

int uvfio_sock_listen_mode(const char *path, unsigned mode)
{
	struct sockaddr_un sa;
	struct stat st;
	int r = fill_addr(&sa, path);
	if (r)
		return r;
	if (mode & ~0777u)
		return -EINVAL;
	/* Replace a socket left by a previous run, never any other file, and
	 * never a socket some process still serves. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		r = sock_is_live(&sa);
		if (r)
			return r > 0 ? -EADDRINUSE : r;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* The file gets its mode between bind() and listen(): nobody can
	 * connect before listen(), so no client ever sees the umask's mode,
	 * and no process-wide umask change is needed. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (chmod(path, mode) < 0 || listen(fd, 1) < 0) {
		r = -errno;
		unlink(path);
		close(fd);
		return r;
	}
	return fd;
}

int uvfio_sock_listen(const char *path)
{
	return uvfio_sock_listen_mode(path, UVFIO_SOCK_DEFAULT_MODE);
}

int uvfio_sock_connect(const char *path, unsigned timeout_ms)
{
	struct sockaddr_un sa;
	int r = fill_addr(&sa, path);
	if (r)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A blocking connect() to a server whose backlog is full (it serves
	 * one client at a time) would wait for as long as that client stays.
	 * Non-blocking, AF_UNIX says EAGAIN instead: retry until the
	 * deadline. */
	struct timespec t0, now, nap = { 0, 5 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ms = (now.tv_sec - t0.tv_sec) * 1000 +
			     (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= timeout_ms)
			break;
		nanosleep(&nap, NULL);
	}
	close(fd);
	return r;
}

int uvfio_sock_is_listening(int fd)
{
	int v = 0, type = 0;
	socklen_t l = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -ENOTSOCK;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0)
		return -errno;
	return v ? 1 : 0;
}
