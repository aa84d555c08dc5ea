/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int tu_fd_count(pid_t pid)
{
	char path[64] = "/proc/self/fd";
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return pid ? n : n - 1; /* our own listing holds one */
}

int tu_send(int fd, const void *buf, size_t len, const int *fds,
	    unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)]; /* SCM_MAX_FD */
		struct cmsghdr align;
	} ctl;
	const uint8_t *p = buf;
	if (nfds > 253)
		return -EINVAL;
	do {
		struct iovec iov = { (void *)p, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (nfds) {
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		nfds = 0; /* they went with the first byte */
	} while (len);
	return 0;
}

/* ---- waiting for a server ------------------------------------------------ */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Child pid has exited (not reaped: its status stays for tu_reap()). */
static int child_exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == pid;
}

int tu_wait_server(pid_t pid, const char *path, unsigned timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tu_wait_connect: %s: too long for a socket\n",
			path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int64_t end = mono_ms() + timeout_ms;
	int r;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
				0);
		if (fd < 0)
			return -errno;
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
		close(fd);
		/* A full backlog (EAGAIN) means someone listens. */
		if (!r || r == -EAGAIN)
			return 0;
		if (pid > 0 && child_exited(pid)) {
			fprintf(stderr, "tu_wait_connect: the server process %d "
					"exited before it listened on %s\n",
				(int)pid, path);
			return -ECHILD;
		}
		if (mono_ms() >= end)
			break;
		usleep(5000);
	}
	fprintf(stderr, "tu_wait_connect: nobody accepts connections on %s "
			"after %u ms (connect: %s)\n",
		path, timeout_ms, strerror(-r));
	return r;
}

int tu_wait_connect(const char *path, unsigned timeout_ms)
{
	return tu_wait_server(0, path, timeout_ms);
}

/* ---- child processes ------------------------------------------------------ */

/* Slots are taken and emptied with atomic exchanges: the signal handler
 * may run on any thread, in the middle of tu_fork() or tu_reap(). */
#define TU_MAX_CHILDREN 64
static pid_t children[TU_MAX_CHILDREN];
static pid_t children_owner; /* the process they are children of */

/* Async-signal-safe: from the atexit handler and the signal handler. */
static void kill_children(void)
{
	/* A forked child that exit()s runs its parent's atexit handlers:
	 * its siblings are not its to kill. */
	if (getpid() != children_owner)
		return;
	int saved = errno;
	for (unsigned i = 0; i < TU_MAX_CHILDREN; i++) {
		pid_t pid = __atomic_exchange_n(&children[i], 0,
						__ATOMIC_ACQ_REL);
		/* Not our child any more (reaped by waitpid() alone, the
		 * pid maybe another process's now): leave it. */
		siginfo_t si;
		if (pid <= 0 ||
		    waitid(P_PID, (id_t)pid, &si,
			   WEXITED | WNOHANG | WNOWAIT) < 0)
			continue;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	errno = saved;
}

static const int fatal_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGABRT };

static void on_fatal_signal(int sig)
{
	kill_children();
	/* SA_RESETHAND put the default action back: die of the signal once
	 * this handler returns, as we would have without it. */
	raise(sig);
}

static void children_init(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	children_owner = getpid();
	atexit(kill_children);
	for (unsigned i = 0; i < sizeof(fatal_signals) / sizeof(int); i++) {
		struct sigaction old, sa = { .sa_handler = on_fatal_signal,
					     .sa_flags = SA_RESETHAND };
		sigemptyset(&sa.sa_mask);
		/* A handler of the test's own stays. */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_DFL)
			sigaction(fatal_signals[i], &sa, NULL);
	}
}

pid_t tu_fork(void)
{
	children_init();
	pid_t parent = getpid();
	fflush(NULL); /* nothing buffered is written twice */
	pid_t pid = fork();
	if (pid == 0) {
		memset(children, 0, sizeof(children));
		/* If the parent died before this, nobody would kill us. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		return 0;
	}
	if (pid < 0)
		return pid;
	for (unsigned i = 0; i < TU_MAX_CHILDREN; i++) {
		pid_t none = 0;
		if (__atomic_compare_exchange_n(&children[i], &none, pid, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return pid;
	}
	/* Full: a test that leaks children by the dozen; do not let it. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fprintf(stderr, "tu_fork: more than %d children at once\n",
		TU_MAX_CHILDREN);
	errno = EAGAIN;
	return -1;
}

pid_t tu_reap(pid_t pid, int sig, int *status)
{
	if (sig)
		kill(pid, sig);
	pid_t r;
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	int saved = errno;
	for (unsigned i = 0; i < TU_MAX_CHILDREN; i++) {
		pid_t want = pid;
		if (__atomic_compare_exchange_n(&children[i], &want, 0, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	errno = saved;
	return r;
}

pid_t tu_spawn_server(const char *bin, const char *path)
{
	pid_t pid = tu_fork();
	if (pid < 0) {
		fprintf(stderr, "tu_spawn_server: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		execl(bin, bin, "--socket", path, (char *)NULL);
		_exit(127);
	}
	if (tu_wait_server(pid, path, 10000)) {
		tu_reap(pid, SIGKILL, NULL);
		return -1;
	}
	return pid;
}
