/* SPDX-License-Identifier: MIT */
/* What uvfio's own programs share; see app.h. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"

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
	const struct app_opts o = {
		.prog = a->prog, .usage = a->usage, .socket_opt = a->socket_opt,
		.options = a->options, .option = a->option, .opaque = a->opaque,
	};
	struct app_args args;
	app_opts_parse(&o, argc, argv, &args);
	const char *path = args.path;
	int fd = args.fd, r;
	int level = args.verbose ? UVFIO_LOG_INFO : UVFIO_LOG_WARN;
	unsigned busy_us = args.busy_us;
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
