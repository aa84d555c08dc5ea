/* SPDX-License-Identifier: MIT */
/* What the libvfio-user sample devices share; see compat-app.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat-app.h"

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
	const struct app_opts o = {
		.prog = a->prog, .usage = a->usage,
		.no_fd = "libvfio-user serves a socket path it creates; use "
			 "--socket",
		.options = a->options, .option = a->option, .opaque = a->opaque,
	};
	struct app_args args;
	/* --busy-poll is checked as the native samples check it, so a
	 * wrong value is refused alike, though it has no use here. */
	app_opts_parse(&o, argc, argv, &args);
	int level = args.verbose ? LOG_INFO : LOG_WARNING;
	const char *path = args.path;
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
