/* SPDX-License-Identifier: MIT */
/*
 * The server's socket file: it appears only once connect() succeeds on it
 * (bound under a temporary name, listening, then renamed into place), so a
 * client that connects as soon as it sees the file is never refused.
 * Observer threads connect to the path without pause while servers are
 * created and destroyed there over and over; an ECONNREFUSED while a
 * server was being created or was up fails the test (binding the path
 * itself, before listen(), fails it within a few hundred starts).  Then
 * the temporary names: unique between servers starting at once, removed
 * on every error, and within the length limit, with a clear message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/uvfio.h>
#include "transport/sock.h"
#include "util.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Entries of dir other than . and .. (names joined by spaces into out). */
static int dir_entries(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	out[0] = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		size_t l = strlen(out);
		snprintf(out + l, cap - l, "%s ", e->d_name);
	}
	closedir(d);
	return n;
}

static void assert_dir_empty(const char *dir)
{
	char names[1024];
	int n = dir_entries(dir, names, sizeof(names));
	if (n)
		fail_msg("%s holds %d files: %s", dir, n, names);
}

/* ---- no moment when the file exists and connect() is refused ------------ */

/*
 * The creator's phase, in gen: 4k+1 starting a server, 4k+2 up, 4k+3
 * stopping it, 4k+4 none.  An observer's attempt that began and ended in
 * the same phase is judged by it: ECONNREFUSED says a file nobody listens
 * on was there.  While stopping, it may be: the kernel finds the socket by
 * name, then sees it close, however the two are ordered.
 */
struct race {
	const char *path;
	bool server; /* uvfio_server_create(), else usock_listen() */
	unsigned gen;
	bool stop;
	/* counted by the observers */
	unsigned attempts, connected, absent, refused;
	unsigned refused_gen;
	int err; /* an observer's unexpected errno, or the creator's -errno */
};

static void *observe(void *arg)
{
	struct race *x = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", x->path);
	unsigned attempts = 0, absent = 0;
	int fd = -1;
	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
		if (fd < 0)
			fd = socket(AF_UNIX,
				    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			__atomic_store_n(&x->err, errno, __ATOMIC_RELAXED);
			break;
		}
		unsigned g1 = __atomic_load_n(&x->gen, __ATOMIC_ACQUIRE);
		int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? errno
									 : 0;
		unsigned g2 = __atomic_load_n(&x->gen, __ATOMIC_ACQUIRE);
		attempts++;
		if (!r || r == EAGAIN) {
			/* Connected (or queued behind a full backlog): a
			 * fresh socket for the next try. */
			__atomic_fetch_add(&x->connected, 1, __ATOMIC_RELAXED);
			close(fd);
			fd = -1;
		} else if (r == ENOENT) {
			absent++;
		} else if (r == ECONNREFUSED && g1 == g2 && g1 % 4 != 3) {
			__atomic_store_n(&x->refused_gen, g1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&x->refused, 1, __ATOMIC_RELAXED);
		} else if (r != ECONNREFUSED) {
			__atomic_store_n(&x->err, r, __ATOMIC_RELAXED);
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	__atomic_fetch_add(&x->attempts, attempts, __ATOMIC_RELAXED);
	__atomic_fetch_add(&x->absent, absent, __ATOMIC_RELAXED);
	return NULL;
}

static void phase(struct race *x)
{
	__atomic_fetch_add(&x->gen, 1, __ATOMIC_ACQ_REL);
}

/* Whether to start another server: `rounds` at most, for `ms`, and
 * longer (up to 10 s) if no observer got in yet (a loaded machine). */
static bool more(struct race *x, unsigned n, unsigned rounds, int64_t end)
{
	int64_t now = now_ms();
	if (n >= rounds || now >= end + 10000 ||
	    __atomic_load_n(&x->refused, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&x->err, __ATOMIC_RELAXED))
		return false;
	return now < end || !__atomic_load_n(&x->connected, __ATOMIC_RELAXED);
}

/* Start and stop a server at x->path `rounds` times (or for about `ms`),
 * with two observers connecting all along. */
static void hammer(struct race *x, unsigned rounds, int64_t ms)
{
	pthread_t t[2];
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, observe, x), 0);
	int64_t end = now_ms() + ms;
	unsigned n;
	int r = 0;
	for (n = 0; !r && more(x, n, rounds, end); n++) {
		struct uvfio_server *s = NULL;
		int fd = -1;
		phase(x); /* starting */
		if (x->server)
			r = uvfio_server_create(&s, x->path, 0);
		else
			r = fd = usock_listen(x->path);
		if (r > 0)
			r = 0;
		phase(x); /* up */
		/* Up long enough for an observer to get in. */
		for (int i = 0; i < 20; i++)
			sched_yield();
		phase(x); /* stopping */
		if (x->server) {
			uvfio_server_destroy(s);
		} else {
			unlink(x->path); /* the name first, as the server does */
			close(fd);
		}
		phase(x); /* none */
	}
	__atomic_store_n(&x->stop, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (r)
		fail_msg("start %u on %s: %s", n, x->path, strerror(-r));
	if (x->err)
		fail_msg("an observer's connect: %s", strerror(x->err));
	print_message("%s: %u starts, %u connects: %u connected, %u found no "
		      "file, %u refused while a server was starting or up\n",
		      x->server ? "uvfio_server_create" : "usock_listen", n,
		      x->attempts, x->connected, x->absent, x->refused);
	if (x->refused)
		fail_msg("ECONNREFUSED on %s while a server was %s (start %u)",
			 x->path,
			 x->refused_gen % 4 == 1 ? "starting" : "up",
			 x->refused_gen / 4 + 1);
	/* The observers did get in. */
	assert_true(x->connected > 0);
}

static void test_no_refused_window(bool server)
{
	char dir[] = "/tmp/uvfio-listen-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	struct race x = { .path = path, .server = server };
	hammer(&x, 2000, 1000);
	assert_dir_empty(dir);
	rmdir(dir);
}

static void test_no_refused_window_sock(void **state)
{
	(void)state;
	test_no_refused_window(false);
}

static void test_no_refused_window_server(void **state)
{
	(void)state;
	test_no_refused_window(true);
}

/* ---- temporary names ------------------------------------------------------ */

struct churn {
	const char *path;
	unsigned ok, busy;
	int err;
};

/* Listen at c->path and stop, 300 times; count wins and -EADDRINUSE. */
static void *churn(void *arg)
{
	struct churn *c = arg;
	for (unsigned i = 0; i < 300; i++) {
		int fd = usock_listen(c->path);
		if (fd >= 0) {
			c->ok++;
			unlink(c->path);
			close(fd);
		} else if (fd == -EADDRINUSE) {
			c->busy++;
		} else {
			c->err = fd;
			break;
		}
	}
	return NULL;
}

/* Servers starting at once in one directory, on their own paths and on
 * the same path: no temporary name is taken twice, the loser of a path is
 * told -EADDRINUSE, and nothing is left behind. */
static void test_concurrent_starts(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-listen-XXXXXX", paths[4][128];
	assert_non_null(mkdtemp(dir));
	for (unsigned same = 0; same < 2; same++) {
		pthread_t t[4];
		struct churn c[4];
		for (unsigned i = 0; i < 4; i++) {
			snprintf(paths[i], sizeof(paths[i]), "%s/%u.sock", dir,
				 same ? 0 : i);
			c[i] = (struct churn){ .path = paths[i] };
			assert_int_equal(pthread_create(&t[i], NULL, churn, &c[i]),
					 0);
		}
		unsigned ok = 0, busy = 0;
		for (unsigned i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			if (c[i].err)
				fail_msg("listen on %s: %s", c[i].path,
					 strerror(-c[i].err));
			ok += c[i].ok;
			busy += c[i].busy;
		}
		print_message("%s path: %u started, %u told the path is "
			      "taken\n",
			      same ? "one" : "own", ok, busy);
		assert_int_equal(ok + busy, 4 * 300);
		if (!same)
			assert_int_equal(busy, 0);
		assert_true(ok > 0);
		assert_dir_empty(dir);
	}
	rmdir(dir);
}

/* What the server logs (to stderr, as nobody set a log function yet)
 * when uvfio_server_create(path) fails with err. */
static void create_fails(const char *path, int err, char *log, size_t cap)
{
	char name[] = "/tmp/uvfio-listen-log-XXXXXX";
	int lf = mkstemp(name);
	assert_true(lf >= 0);
	unlink(name);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	dup2(lf, 2);
	struct uvfio_server *s = NULL;
	int r = uvfio_server_create(&s, path, 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(lf, log, cap - 1, 0);
	close(lf);
	log[n > 0 ? n : 0] = 0;
	if (r != err)
		fail_msg("uvfio_server_create(%s): %d, not %d (%s)", path, r,
			 err, log);
}

/* The temporary name must fit sun_path as well as the path: the longest
 * directory that leaves room for it works, one byte more is refused with
 * a message that says what to change; no file is made either way. */
static void test_path_limits(void **state)
{
	(void)state;
	char base[] = "/tmp/uvfio-listen-XXXXXX";
	assert_non_null(mkdtemp(base));
	/* dir: base/ddd... with its '/' USOCK_PATH_MAX - TMP_NAME_LEN
	 * long, the most the temporary name leaves. */
	size_t dirlen = USOCK_PATH_MAX - USOCK_TMP_NAME_LEN - 1;
	char dir[128], path[256], log[1024];
	snprintf(dir, sizeof(dir), "%s/", base);
	while (strlen(dir) < dirlen)
		strcat(dir, "d");
	assert_int_equal(mkdir(dir, 0700), 0);

	/* Fits: a short name and the longest name. */
	snprintf(path, sizeof(path), "%s/s", dir);
	int fd = usock_listen(path);
	assert_true(fd >= 0);
	assert_int_equal(tu_wait_connect(path, 1000), 0);
	unlink(path);
	close(fd);
	snprintf(path, sizeof(path), "%s/", dir);
	while (strlen(path) < USOCK_PATH_MAX)
		strcat(path, "n");
	fd = usock_listen(path);
	assert_true(fd >= 0);
	unlink(path);
	close(fd);
	assert_dir_empty(dir);

	/* One byte too many: in the path, then in the directory. */
	strcat(path, "n");
	assert_int_equal(usock_listen(path), -ENAMETOOLONG);
	create_fails(path, -ENAMETOOLONG, log, sizeof(log));
	assert_non_null(strstr(log, "too long for a UNIX socket"));
	assert_dir_empty(dir);
	char longer[160];
	snprintf(longer, sizeof(longer), "%sd", dir);
	assert_int_equal(mkdir(longer, 0700), 0);
	snprintf(path, sizeof(path), "%s/s", longer);
	assert_true(strlen(path) < USOCK_PATH_MAX); /* the path fits */
	assert_int_equal(usock_listen(path), -ENAMETOOLONG);
	create_fails(path, -ENAMETOOLONG, log, sizeof(log));
	print_message("%s", log);
	char want[64];
	snprintf(want, sizeof(want), "its directory at most %d",
		 USOCK_PATH_MAX - USOCK_TMP_NAME_LEN - 1);
	assert_non_null(strstr(log, want));
	assert_dir_empty(longer);
	rmdir(longer);
	rmdir(dir);
	rmdir(base);
}

/* A stale socket is replaced, a live one and any other file are left as
 * they are; no temporary file survives a refusal. */
static void test_stale_live_other(void **state)
{
	(void)state;
	char dir[] = "/tmp/uvfio-listen-XXXXXX", path[64], names[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);

	/* Stale: bound and closed, its file left behind. */
	int st = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(st, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(st);
	int fd = usock_listen(path);
	assert_true(fd >= 0);
	assert_int_equal(tu_wait_connect(path, 1000), 0);
	struct stat s1, s2;
	assert_int_equal(stat(path, &s1), 0);
	assert_int_equal(s1.st_mode & 0777, USOCK_DEFAULT_MODE);

	/* Live: refused, the file untouched. */
	assert_int_equal(usock_listen(path), -EADDRINUSE);
	assert_int_equal(stat(path, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(tu_wait_connect(path, 1000), 0);
	assert_int_equal(dir_entries(dir, names, sizeof(names)), 1);
	unlink(path);
	close(fd);

	/* Not a socket: refused, kept. */
	int pf = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(pf >= 0);
	close(pf);
	assert_int_equal(usock_listen(path), -EEXIST);
	assert_int_equal(stat(path, &s1), 0);
	assert_true(S_ISREG(s1.st_mode));
	assert_int_equal(dir_entries(dir, names, sizeof(names)), 1);
	unlink(path);

	/* No directory: nothing made anywhere. */
	snprintf(path, sizeof(path), "%s/none/s.sock", dir);
	assert_int_equal(usock_listen(path), -ENOENT);
	assert_dir_empty(dir);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_refused_window_sock),
		cmocka_unit_test(test_no_refused_window_server),
		cmocka_unit_test(test_concurrent_starts),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_stale_live_other),
	};
	return cmocka_run_group_tests_name("listen", tests, NULL, NULL);
}
