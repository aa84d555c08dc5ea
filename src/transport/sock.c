/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>

#include "sock.h"
#include "util/util.h"

/* Pause between connect() attempts while the server's backlog is full. */
#define CONNECT_RETRY_NS (5 * 1000 * 1000)
/* Temporary names tried: each is random, so a second clash means a
 * directory full of them, not bad luck. */
#define BIND_TRIES 8

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) ==
		       USOCK_PATH_MAX + 1,
	       "USOCK_PATH_MAX is sun_path without its NUL");

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path || !*path || strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int usock_set_nonblock(int fd)
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

/*
 * The temporary name the socket is bound under, in path's directory (a
 * rename() cannot leave its filesystem): ".uvfio-PPPPPPPP-CCCCRRRR", pid,
 * a counter and random bits, so servers starting at once, in this process
 * or others (even in other pid namespaces sharing the directory), do not
 * pick the same one; if one is taken all the same, bind() says so and the
 * caller draws another.  Fixed width: the length limit does not depend on
 * the pid.
 */
static int tmp_addr(struct sockaddr_un *sa, const char *path)
{
	static unsigned counter;
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	if (dirlen + USOCK_TMP_NAME_LEN > USOCK_PATH_MAX)
		return -ENAMETOOLONG;
	uint16_t rnd;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rnd = (uint16_t)ts.tv_nsec;
	}
	unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, dirlen);
	snprintf(sa->sun_path + dirlen, sizeof(sa->sun_path) - dirlen,
		 ".uvfio-%08x-%04x%04x", (unsigned)getpid(),
		 n & 0xffffu, (unsigned)rnd);
	return 0;
}

/*
 * Give the listening socket at tmp its real name, never over a file that
 * appeared at path since we looked (a server started at the same time):
 * that one would be left listening on a name nobody can reach.
 */
static int place(const char *tmp, const char *path)
{
	int r = 0;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
		r = -errno;
	if (r == -EINVAL || r == -ENOSYS) {
		/* A filesystem without RENAME_NOREPLACE: link() refuses an
		 * existing name just the same. */
		r = link(tmp, path) < 0 ? -errno : 0;
		if (!r)
			unlink(tmp);
	}
	if (r == -EEXIST) {
		struct stat st;
		r = lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode) ? -EEXIST
								    : -EADDRINUSE;
	}
	return r;
}

int usock_listen_mode(const char *path, unsigned mode)
{
	struct sockaddr_un sa, tmp;
	struct stat st;
	int r = fill_addr(&sa, path);
	if (r)
		return r;
	if (mode & ~(unsigned)(S_IRWXU | S_IRWXG | S_IRWXO)) /* only 0777 */
		return -EINVAL;
	r = tmp_addr(&tmp, path);
	if (r)
		return r;
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
	/* Bound under a temporary name, given its mode, listening, and only
	 * then renamed to path: a file at path can always be connected to.
	 * Bound at path, the file would appear at bind(), and a client that
	 * saw it before listen() would be refused (ECONNREFUSED).  The mode
	 * is set before listen(), so nobody ever connects through the
	 * umask's, and no process-wide umask change is needed. */
	for (int tries = 0;; tries++) {
		if (!bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)))
			break;
		r = -errno;
		/* Taken: by a server starting at this moment, or left by
		 * one killed right here. */
		if (r != -EADDRINUSE || tries == BIND_TRIES - 1)
			goto out_close;
		tmp_addr(&tmp, path);
	}
	if (chmod(tmp.sun_path, mode) < 0 || listen(fd, 1) < 0) {
		r = -errno;
		goto out_unlink;
	}
	r = place(tmp.sun_path, path);
	if (r)
		goto out_unlink;
	return fd;

out_unlink:
	unlink(tmp.sun_path);
out_close:
	close(fd);
	return r;
}

int usock_listen(const char *path)
{
	return usock_listen_mode(path, USOCK_DEFAULT_MODE);
}

int usock_connect(const char *path, unsigned timeout_ms)
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
	struct timespec nap = { 0, CONNECT_RETRY_NS };
	int64_t t0 = util_now_ms();
	for (;;) {
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN)
			break;
		if (util_now_ms() - t0 >= timeout_ms)
			break;
		nanosleep(&nap, NULL);
	}
	close(fd);
	return r;
}

int usock_is_listening(int fd)
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
