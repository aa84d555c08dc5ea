/* SPDX-License-Identifier: MIT */
/* What uvfio's own programs share; see app.h. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"

/* Above any char, so they cannot collide with a program's option. */
enum { OPT_SOCKET = 0x100, OPT_FD, OPT_BUSY_POLL };

_Noreturn static void usage_error(const struct app_server *a)
{
	a->usage(stderr);
	exit(2);
}

/* The whole word: atoi("3x") would be 3, and atoi("abc") stdin. */
static int parse_fd(const struct app_server *a, const char *arg)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT_MAX) {
		fprintf(stderr, "%s: --fd wants the number of an open socket, "
				"not '%s'\n",
			a->prog, arg);
		usage_error(a);
	}
	return (int)v;
}

static const struct option common_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-path", required_argument, NULL, OPT_SOCKET },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
	{ "help", no_argument, NULL, 'h' },
};
#define NCOMMON (sizeof(common_opts) / sizeof(common_opts[0]))

static unsigned parse_usec(const struct app_server *a, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > 1000000) {
		fprintf(stderr, "%s: --busy-poll wants microseconds, 0 to "
				"1000000, not '%s'\n",
			a->prog, arg);
		usage_error(a);
	}
	return (unsigned)v;
}

static void parse(struct app_server *a, int argc, char **argv,
		  const char **path, int *fd, int *level, unsigned *busy_us)
{
	struct option opts[NCOMMON + APP_MAX_OPTIONS + 1] = { { 0 } };
	size_t n = 0;
	for (; n < NCOMMON; n++)
		opts[n] = common_opts[n];
	for (const struct option *o = a->options; o && o->name; o++) {
		if (n == NCOMMON + APP_MAX_OPTIONS) {
			/* A mistake in the program, not its user's. */
			fprintf(stderr, "%s: more than %d options: raise "
					"APP_MAX_OPTIONS in samples/app.h\n",
				a->prog, APP_MAX_OPTIONS);
			exit(1);
		}
		opts[n++] = *o;
	}

	int c, r;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			*path = optarg;
			break;
		case OPT_FD:
			*fd = parse_fd(a, optarg);
			break;
		case OPT_BUSY_POLL:
			*busy_us = parse_usec(a, optarg);
			break;
		case 'v':
			*level = UVFIO_LOG_INFO;
			break;
		case 'h':
			a->usage(stdout);
			exit(0);
		case '?': /* getopt_long() said what */
			usage_error(a);
			break;
		default: /* one of the program's options */
			if ((r = a->option(a->opaque, c, optarg)))
				exit(r);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", a->prog,
			argv[optind]);
		usage_error(a);
	}
	if ((*path == NULL) == (*fd < 0)) {
		fprintf(stderr, "%s: give exactly one of %s and --fd\n", a->prog,
			a->socket_opt ? a->socket_opt : "--socket");
		usage_error(a);
	}
}

int app_qemu_layout_env(void)
{
	const char *e = getenv("UVFIO_QEMU_DMA_LAYOUT");
	if (!e || !*e)
		return -1;
	return atoi(e) != 0;
}

/* The library recognises QEMU from its VERSION; the variable is for a
 * client the rule gets wrong. */
static int quirks_from_env(struct uvfio_server *srv)
{
	int qemu = app_qemu_layout_env();
	if (qemu < 0)
		return 0;
	return uvfio_server_set_client_quirks(srv, qemu ? UVFIO_QUIRKS_QEMU
							: UVFIO_QUIRKS_NONE);
}

void app_server_start(struct app_server *a, int argc, char **argv)
{
	const char *path = NULL;
	int fd = -1, level = UVFIO_LOG_WARN, r;
	unsigned busy_us = 0;

	parse(a, argc, argv, &path, &fd, &level, &busy_us);
	r = path ? uvfio_server_create(&a->srv, path, a->flags)
		 : uvfio_server_create_fd(&a->srv, fd, a->flags);
	if (r) {
		if (path)
			fprintf(stderr, "%s: cannot serve on %s: %s\n", a->prog,
				path, strerror(-r));
		else
			fprintf(stderr, "%s: cannot serve on fd %d: %s\n",
				a->prog, fd, strerror(-r));
		exit(1);
	}
	uvfio_server_set_log(a->srv, NULL, NULL, level);
	uvfio_server_set_busy_poll(a->srv, busy_us);
	a->busy_poll_us = busy_us;
	a->verbose = level >= UVFIO_LOG_INFO;
	if ((r = quirks_from_env(a->srv))) {
		fprintf(stderr, "%s: cannot apply UVFIO_QEMU_DMA_LAYOUT=%s: %s\n",
			a->prog, getenv("UVFIO_QEMU_DMA_LAYOUT"), strerror(-r));
		uvfio_server_destroy(a->srv);
		exit(1);
	}
}

void app_server_usage_env(FILE *f)
{
	fprintf(f, "Environment: UVFIO_QEMU_DMA_LAYOUT=1 (0) treats the client as\n"
		   "QEMU 10.x (as following the specification); by default the\n"
		   "library recognises QEMU from its VERSION request.\n");
}

int app_server_fail(struct app_server *a, const char *what, int r)
{
	fprintf(stderr, "%s: %s failed: %s\n", a->prog, what, strerror(-r));
	uvfio_server_destroy(a->srv);
	a->srv = NULL;
	return 1;
}

/* A handler gets no argument: one server per process. */
static struct uvfio_server *stop_srv;

static void stop_server(int sig)
{
	(void)sig;
	uvfio_server_stop(stop_srv);
}

void app_on_stop_signals(void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int app_server_run(struct app_server *a)
{
	stop_srv = a->srv;
	app_on_stop_signals(stop_server);
	int r = uvfio_server_run(a->srv);
	uvfio_server_destroy(a->srv);
	a->srv = NULL;
	if (r) {
		fprintf(stderr, "%s: %s\n", a->prog, strerror(-r));
		return 1;
	}
	return 0;
}

bool app_connect_error(const char *prog, const char *path, int r)
{
	struct stat st;

	switch (r) {
	case -ENOENT:
		fprintf(stderr, "%s: no such socket: %s\n", prog, path);
		return true;
	case -ECONNREFUSED:
		/* connect() says "refused" for a plain file as well. */
		if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			fprintf(stderr, "%s: %s is not a socket\n", prog, path);
		else
			fprintf(stderr, "%s: nothing is listening on %s\n", prog,
				path);
		return true;
	case -ENOTSOCK:
		fprintf(stderr, "%s: %s is not a socket\n", prog, path);
		return true;
	default:
		return false;
	}
}
