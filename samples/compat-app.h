/* SPDX-License-Identifier: MIT */
/*
 * What the libvfio-user sample devices (compat-gpio.c, compat-dmadev.c)
 * share: the command line of their native twins, context creation and
 * logging, and stopping on SIGINT/SIGTERM.  app.c does the same for the
 * native samples but takes uvfio types; this takes only <libvfio-user.h>,
 * so the devices stay written purely against libvfio-user's API.  Not
 * installed, not part of any library.
 */
#ifndef UVFIO_SAMPLES_COMPAT_APP_H
#define UVFIO_SAMPLES_COMPAT_APP_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <libvfio-user.h>

#include "opts.h"

struct capp {
	/* Set by the program. */
	const char *prog;	/* first word of every message */
	void (*usage)(FILE *f); /* the whole usage text, for -h and errors */
	int flags;		/* vfu_create_ctx() flags */
	void *pvt;		/* vfu_create_ctx()'s pvt */
	/* The program's own long options ({ 0 }-terminated or NULL; at most
	 * APP_MAX_OPTIONS; val not 'v', 'h', '?' nor >= 0x100) and the
	 * function taking them: 0, or the exit status after saying why. */
	const struct option *options;
	int (*option)(void *opaque, int val, const char *arg);
	void *opaque;

	/* Set by capp_start(). */
	vfu_ctx_t *ctx;
};


/*
 * Parse the native samples' command line -- --socket PATH (or
 * --socket-path), --busy-poll USEC (accepted, no effect: libvfio-user has
 * no such knob), -v, -h/--help and the program's options; --fd N is
 * refused, as libvfio-user only serves a socket path -- then create a->ctx
 * on that path with logging to stderr (warnings, or info with -v).
 * Returns only with a->ctx ready to be described; otherwise it has said
 * why and exits: 0 after --help, 2 for a usage error, 1 when the context
 * cannot be created.
 */
void capp_start(struct capp *a, int argc, char **argv);

/* The environment part of the usage text. */
void capp_usage_env(FILE *f);

/* "PROG: WHAT failed: strerror(errno)" on stderr, destroy a->ctx;
 * returns 1, for main() to return. */
int capp_fail(struct capp *a, const char *what);

/*
 * Catch SIGINT and SIGTERM without SA_RESTART, so a blocking libvfio-user
 * call they interrupt returns EINTR, and ignore SIGPIPE.  After the first
 * one, SIGALRM comes every second as well: a signal that lands while the
 * device is busy, just before the library blocks again, still ends that
 * wait soon.  capp_stopping() says whether to stop.
 */
void capp_catch_stop_signals(void);
bool capp_stopping(void);

/* The signals capp_catch_stop_signals() handles, for a program that
 * keeps them blocked outside its own ppoll(). */
void capp_stop_signal_set(sigset_t *set);

#endif
