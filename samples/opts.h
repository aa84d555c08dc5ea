/* SPDX-License-Identifier: MIT */
/*
 * The command line every sample device and tool takes, whatever library
 * it is written against (app.c: libuvfio; compat-app.c: libvfio-user's
 * API): --socket PATH (or --socket-path), --fd N, --busy-poll USEC, -v,
 * -h/--help, plus the program's own long options.
 */
#ifndef UVFIO_SAMPLES_OPTS_H
#define UVFIO_SAMPLES_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* The program's own options, at most this many. */
#define APP_MAX_OPTIONS 8

struct app_opts {
	const char *prog;	/* first word of every message */
	void (*usage)(FILE *f); /* the whole usage text, for -h and errors */
	/* How the usage text spells the socket option, for messages about
	 * it; NULL: "--socket".  Both spellings are accepted. */
	const char *socket_opt;
	/* Set: --fd is refused with this reason. */
	const char *no_fd;
	/* The program's own long options ({ 0 }-terminated, or NULL; val
	 * neither 'v', 'h', '?' nor >= 0x100) and the function that takes
	 * them (returns 0, or an exit status). */
	const struct option *options;
	int (*option)(void *opaque, int val, const char *arg);
	void *opaque;
};

struct app_args {
	const char *path; /* --socket, or NULL */
	int fd;           /* --fd, or -1 */
	unsigned busy_us; /* --busy-poll */
	bool verbose;     /* -v */
};

/* Parse argv; exactly one of --socket and --fd (or --socket alone when
 * --fd is refused).  Exits with 2 and the usage on a mistake. */
void app_opts_parse(const struct app_opts *o, int argc, char **argv,
		    struct app_args *out);

#endif
