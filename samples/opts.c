/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "opts.h"

/* Above any char, so they cannot collide with a program's option. */
enum { OPT_SOCKET = 0x100, OPT_FD, OPT_BUSY_POLL };

static const struct option common_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-path", required_argument, NULL, OPT_SOCKET },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
	{ "help", no_argument, NULL, 'h' },
};
#define NCOMMON (sizeof(common_opts) / sizeof(common_opts[0]))

_Noreturn static void usage_error(const struct app_opts *o)
{
	o->usage(stderr);
	exit(2);
}

/* The whole word: atoi("3x") would be 3, and atoi("abc") stdin. */
static int parse_fd(const struct app_opts *o, const char *arg)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT_MAX) {
		fprintf(stderr, "%s: --fd wants the number of an open socket, "
				"not '%s'\n",
			o->prog, arg);
		usage_error(o);
	}
	return (int)v;
}

static unsigned parse_usec(const struct app_opts *o, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > 1000000) {
		fprintf(stderr, "%s: --busy-poll wants microseconds, 0 to "
				"1000000, not '%s'\n",
			o->prog, arg);
		usage_error(o);
	}
	return (unsigned)v;
}

static void build_options(const struct app_opts *o, struct option *opts)
{
	size_t n = 0;
	for (; n < NCOMMON; n++)
		opts[n] = common_opts[n];
	for (const struct option *p = o->options; p && p->name; p++) {
		if (n == NCOMMON + APP_MAX_OPTIONS) {
			/* A mistake in the program, not its user's. */
			fprintf(stderr, "%s: more than %d options: raise "
					"APP_MAX_OPTIONS in samples/opts.h\n",
				o->prog, APP_MAX_OPTIONS);
			exit(1);
		}
		opts[n++] = *p;
	}
}

static void check_args(const struct app_opts *o, int argc, char **argv,
		       const struct app_args *a)
{
	const char *sock = o->socket_opt ? o->socket_opt : "--socket";
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", o->prog,
			argv[optind]);
		usage_error(o);
	}
	if (o->no_fd && !a->path) {
		fprintf(stderr, "%s: %s is required\n", o->prog, sock);
		usage_error(o);
	}
	if ((a->path == NULL) == (a->fd < 0)) {
		fprintf(stderr, "%s: give exactly one of %s and --fd\n", o->prog,
			sock);
		usage_error(o);
	}
}

void app_opts_parse(const struct app_opts *o, int argc, char **argv,
		    struct app_args *out)
{
	struct option opts[NCOMMON + APP_MAX_OPTIONS + 1] = { { 0 } };
	int c, r;

	*out = (struct app_args){ .fd = -1 };
	build_options(o, opts);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			out->path = optarg;
			break;
		case OPT_FD:
			if (o->no_fd) {
				fprintf(stderr, "%s: --fd is not available: %s\n",
					o->prog, o->no_fd);
				usage_error(o);
			}
			out->fd = parse_fd(o, optarg);
			break;
		case OPT_BUSY_POLL:
			out->busy_us = parse_usec(o, optarg);
			break;
		case 'v':
			out->verbose = true;
			break;
		case 'h':
			o->usage(stdout);
			exit(0);
		case '?': /* getopt_long() said what */
			usage_error(o);
			break;
		default: /* one of the program's options */
			if ((r = o->option(o->opaque, c, optarg)))
				exit(r);
		}
	}
	check_args(o, argc, argv, out);
}
