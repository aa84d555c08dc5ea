/* SPDX-License-Identifier: MIT */
/*
 * What uvfio's own programs share: the command line, server creation and
 * signal handling of the sample devices, and the connection errors of the
 * tools.  Not installed and not part of libuvfio: a device of your own
 * needs none of it (samples/tutorial-device.c does all of it in plain
 * calls), and the policies here (UVFIO_QEMU_DMA_LAYOUT, exit statuses,
 * the wording of messages) are our programs', not the library's.
 */
#ifndef UVFIO_SAMPLES_APP_H
#define UVFIO_SAMPLES_APP_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <uvfio/server.h>

#include "opts.h"

/* A sample device's command line and server. */
struct app_server {
	/* Set by the program. */
	const char *prog;	/* first word of every message: "uvfio-gpio" */
	void (*usage)(FILE *f); /* the whole usage text, for -h and errors */
	/* How the usage text spells the socket option, for the message
	 * about it; NULL: "--socket".  Both spellings are accepted. */
	const char *socket_opt;
	unsigned flags; /* uvfio_server_create() flags */
	/*
	 * The program's own long options (a { 0 }-terminated array, or
	 * NULL; at most APP_MAX_OPTIONS; val neither 'v', 'h', '?' nor
	 * >= 0x100) and the function that takes them (needed with them): it
	 * returns 0, or the exit status after saying what was wrong with arg.
	 */
	const struct option *options;
	int (*option)(void *opaque, int val, const char *arg);
	void *opaque;

	/* Set by app_server_start(). */
	struct uvfio_server *srv;
	unsigned busy_poll_us; /* --busy-poll, for a program's own loop */
	bool verbose;          /* -v */
};

/*
 * Parse the command line: --socket PATH (also spelt --socket-path) or
 * --fd N, --busy-poll USEC (uvfio_server_set_busy_poll), -v (log at info
 * level rather than warnings), -h/--help, and
 * the program's options.  Then create a->srv on that socket or fd, set
 * the log level, and apply UVFIO_QEMU_DMA_LAYOUT from the environment.
 * Returns only with a->srv ready to be described; otherwise it has said
 * why and exits: 0 after --help, 2 for a usage error, 1 when the server
 * cannot be created (nothing is there to clean up yet).
 */
void app_server_start(struct app_server *a, int argc, char **argv);

/* The environment part of a sample device's usage text. */
void app_server_usage_env(FILE *f);

/*
 * "PROG: WHAT failed: strerror(-r)" on stderr, destroy a->srv; returns
 * 1, for main() to return.
 */
int app_server_fail(struct app_server *a, const char *what, int r);

/*
 * uvfio_server_run() until SIGINT or SIGTERM, then destroy a->srv.
 * Returns main()'s status: 0, or 1 after saying why the loop failed.
 */
int app_server_run(struct app_server *a);

/*
 * UVFIO_QEMU_DMA_LAYOUT in the environment: 1 when it is a non-zero
 * number (the client is QEMU 10.x), 0 when it is anything else (the
 * client follows the specification), -1 when unset or empty (the library
 * guesses from the client's VERSION).
 */
int app_qemu_layout_env(void);

/* Install handler for SIGINT and SIGTERM, and ignore SIGPIPE: a peer that goes
 * away is an error return, not the end of the process. */
void app_on_stop_signals(void (*handler)(int));

/*
 * For a client program: when r (from uvfio_client_connect() on path)
 * means there is no server to talk to -- no such file, not a socket,
 * nobody listening -- say so in one line starting with prog and return
 * true.  Other errors are left to the caller, who knows more.
 */
bool app_connect_error(const char *prog, const char *path, int r);

#endif
