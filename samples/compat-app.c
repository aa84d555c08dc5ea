/* SPDX-License-Identifier: MIT */
/* What the libvfio-user sample devices share; see compat-app.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat-app.h"

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

_Noreturn static void usage_error(const struct capp *a)
{
	a->usage(stderr);
	exit(2);
}

/* Checked as the native samples check it, so a wrong value is refused
 * alike, though the number itself has no use here. */
static void check_usec(const struct capp *a, const char *arg)
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
}

static void build_options(const struct capp *a, struct option *opts)
{
	size_t n = 0;
	for (; n < NCOMMON; n++)
		opts[n] = common_opts[n];
	for (const struct option *o = a->options; o && o->name; o++) {
		if (n == NCOMMON + CAPP_MAX_OPTIONS) {
			/* A mistake in the program, not its user's. */
			fprintf(stderr, "%s: more than %d options: raise "
					"CAPP_MAX_OPTIONS in samples/compat-app.h\n",
				a->prog, CAPP_MAX_OPTIONS);
			exit(1);
		}
		opts[n++] = *o;
	}
}

static const char *parse(struct capp *a, int argc, char **argv, int *level)
{
	struct option opts[NCOMMON + CAPP_MAX_OPTIONS + 1] = { { 0 } };
	const char *path = NULL;
	int c, r;

	build_options(a, opts);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			path = optarg;
			break;
		case OPT_FD:
			fprintf(stderr, "%s: --fd is not available: libvfio-user "
					"serves a socket path it creates; use "
					"--socket\n",
				a->prog);
			usage_error(a);
			break;
		case OPT_BUSY_POLL:
			check_usec(a, optarg);
			break;
		case 'v':
			*level = LOG_INFO;
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
	if (!path) {
		fprintf(stderr, "%s: --socket is required\n", a->prog);
		usage_error(a);
	}
	return path;
}

/* One context per process: the log function finds the name here. */
static const char *log_prog;

/* One line per message, program first, as the other samples print. */
static void log_stderr(vfu_ctx_t *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	fprintf(stderr, "%s: %s\n", log_prog, msg);
}

void capp_start(struct capp *a, int argc, char **argv)
{
	int level = LOG_WARNING;
	const char *path = parse(a, argc, argv, &level);
	const char *layout = getenv("UVFIO_QEMU_DMA_LAYOUT");

	log_prog = a->prog;
	a->ctx = vfu_create_ctx(VFU_TRANS_SOCK, path, a->flags, a->pvt,
				VFU_DEV_TYPE_PCI);
	if (!a->ctx) {
		fprintf(stderr, "%s: cannot serve on %s: %s\n", a->prog, path,
			strerror(errno));
		exit(1);
	}
	if (vfu_setup_log(a->ctx, log_stderr, level) < 0) {
		fprintf(stderr, "%s: cannot set up logging: %s\n", a->prog,
			strerror(errno));
		vfu_destroy_ctx(a->ctx);
		exit(1);
	}
	/* libvfio-user has no call to choose the DMA message layout: the
	 * library recognises QEMU from its VERSION, always. */
	if (layout && *layout)
		fprintf(stderr, "%s: UVFIO_QEMU_DMA_LAYOUT ignored: the "
				"libvfio-user API cannot set it\n",
			a->prog);
}

void capp_usage_env(FILE *f)
{
	fprintf(f, "Written against libvfio-user's API: --fd and\n"
		   "UVFIO_QEMU_DMA_LAYOUT are not available, --busy-poll has no\n"
		   "effect; the library recognises QEMU from its VERSION request.\n");
}

int capp_fail(struct capp *a, const char *what)
{
	fprintf(stderr, "%s: %s failed: %s\n", a->prog, what, strerror(errno));
	vfu_destroy_ctx(a->ctx);
	a->ctx = NULL;
	return 1;
}

/* ---- signals --------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
	/* alarm() is async-signal-safe; on_alarm keeps it coming. */
	alarm(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	alarm(1);
}

void capp_stop_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGALRM);
}

void capp_catch_stop_signals(void)
{
	/* No SA_RESTART: the blocked call must come back with EINTR. */
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool capp_stopping(void)
{
	return stop_requested;
}
