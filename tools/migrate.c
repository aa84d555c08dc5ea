/* SPDX-License-Identifier: MIT */
/*
 * uvfio-migrate: move a running vfio-user device's state into another
 * server (a second instance of the same device), and say how it went.
 *
 *   uvfio-migrate --from PATH --to PATH [--precopy [--iterations N]
 *                 [--threshold BYTES]] [--chunk BYTES] [--resume-source] [-v]
 *
 * Both servers must support migration (DEVICE_FEATURE MIGRATION).  The
 * source ends stopped unless --resume-source; the destination runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/client.h>

#include "app.h"

#define PROG "uvfio-migrate"

struct side {
	const char *path;
	const char *role; /* "source", "destination" */
	struct uvfio_client *c;
};

static int verbose;

/* Library messages, one line each, naming the server they concern.  The
 * migration helper's own lines ("migrate: ...") concern both. */
static void on_log(void *opaque, int level, const char *msg)
{
	struct side *s = opaque;
	if (level > (verbose ? UVFIO_LOG_INFO : UVFIO_LOG_WARN))
		return;
	/* connect_failed() says it better. */
	if (!strncmp(msg, "cannot connect to ", 18))
		return;
	if (!strncmp(msg, "migrate: ", 9))
		fprintf(stderr, PROG ": %s\n", msg + 9);
	else
		fprintf(stderr, PROG ": %s %s: %s\n", s->role, s->path, msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --from PATH --to PATH [--precopy [--iterations N]\n"
		"                     [--threshold BYTES]] [--chunk BYTES]\n"
		"                     [--resume-source] [-v]\n"
		"\n"
		"Migrate the device served at --from into the device served at\n"
		"--to (another instance of the same device), then report the\n"
		"bytes moved, the downtime and the throughput.  The source is\n"
		"left stopped unless --resume-source; the destination runs.\n"
		"\n"
		"  --from PATH         socket of the server to migrate from\n"
		"  --to PATH           socket of the server to migrate into\n"
		"  --precopy           copy while the source runs first (PRE_COPY),\n"
		"                      then stop it and copy the rest\n"
		"  --iterations N      at most N pre-copy passes (default 8)\n"
		"  --threshold BYTES   stop pre-copy once a pass moves at most BYTES\n"
		"                      (default 0: once a pass moves nothing)\n"
		"  --chunk BYTES       bytes read per step (K and M suffixes;\n"
		"                      default: the servers' max_data_xfer_size)\n"
		"  --resume-source     set the source RUNNING again afterwards\n"
		"  -v, --verbose       log each step and the servers' states\n"
		"  -h, --help          show this help and exit\n"
		"\n"
		"Exit status: 0 migrated, 1 failed (the source is put back in the\n"
		"state it was in), 2 bad usage.\n");
}

/* BYTES with an optional K or M suffix; false if not a positive size. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return false;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

/* Why we could not talk to a server at all. */
static int connect_failed(const struct side *s, int r)
{
	if (!app_connect_error(PROG, s->path, r))
		fprintf(stderr, PROG ": cannot connect to the %s at %s: %s\n",
			s->role, s->path, strerror(-r));
	return 1;
}

static void flags_str(uint64_t f, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%s", f & UVFIO_MIGRATION_STOP_COPY ? "STOP_COPY" : "",
		 f & UVFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "",
		 f & UVFIO_MIGRATION_P2P ? " P2P" : "");
}

static int query(const struct side *s, uint64_t *flags)
{
	int r = uvfio_client_mig_query(s->c, flags);
	if (r == -ENOTSUP) {
		fprintf(stderr, PROG ": server at %s does not support migration "
				     "(DEVICE_FEATURE MIGRATION: %s)\n",
			s->path, strerror(-r));
		return 1;
	}
	if (r) {
		fprintf(stderr, PROG ": %s %s: DEVICE_FEATURE MIGRATION failed: "
				     "%s\n",
			s->role, s->path, strerror(-r));
		return 1;
	}
	if (verbose) {
		char f[64];
		enum uvfio_mig_state st = UVFIO_MIG_ERROR;
		flags_str(*flags, f, sizeof(f));
		r = uvfio_client_mig_get_state(s->c, &st);
		fprintf(stderr, PROG ": %s %s: migration flags %s, state %s\n",
			s->role, s->path, f,
			r ? strerror(-r) : uvfio_mig_state_name(st));
	}
	return 0;
}

static const char *state_of(const struct side *s)
{
	enum uvfio_mig_state st;
	if (!uvfio_client_connected(s->c))
		return "unknown (connection lost)";
	return uvfio_client_mig_get_state(s->c, &st) ? "unknown"
						      : uvfio_mig_state_name(st);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "precopy", no_argument, NULL, 'p' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "threshold", required_argument, NULL, 'T' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "resume-source", no_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct side src = { .role = "source" }, dst = { .role = "destination" };
	struct uvfio_migrate_opts mo = { .mode = UVFIO_MIGRATE_STOP_COPY };
	bool resume = false, iter_set = false, thr_set = false;
	uint64_t v;
	int opt, r, ret = 1;

	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			src.path = optarg;
			break;
		case 't':
			dst.path = optarg;
			break;
		case 'p':
			mo.mode = UVFIO_MIGRATE_PRE_COPY;
			break;
		case 'i':
			if (!parse_size(optarg, &v) || !v || v > 1000000) {
				fprintf(stderr, PROG ": --iterations wants a "
						     "number from 1 to 1000000, "
						     "not '%s'\n",
					optarg);
				return 2;
			}
			mo.max_iterations = (unsigned)v;
			iter_set = true;
			break;
		case 'T':
			if (!parse_size(optarg, &v)) {
				fprintf(stderr, PROG ": --threshold wants a byte "
						     "count, not '%s'\n",
					optarg);
				return 2;
			}
			mo.precopy_threshold = v;
			thr_set = true;
			break;
		case 'c':
			if (!parse_size(optarg, &v) || !v || v > (256u << 20)) {
				fprintf(stderr, PROG ": --chunk wants a byte count "
						     "from 1 to 256M, not '%s'\n",
					optarg);
				return 2;
			}
			mo.chunk_size = (size_t)v;
			break;
		case 'r':
			resume = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !src.path || !dst.path) {
		fprintf(stderr, PROG ": give --from PATH and --to PATH\n");
		usage(stderr);
		return 2;
	}
	if ((iter_set || thr_set) && mo.mode != UVFIO_MIGRATE_PRE_COPY) {
		fprintf(stderr, PROG ": --iterations and --threshold only apply "
				     "with --precopy\n");
		return 2;
	}
	if (!strcmp(src.path, dst.path)) {
		fprintf(stderr, PROG ": --from and --to name the same socket\n");
		return 2;
	}

	if ((r = uvfio_client_create(&src.c)) || (r = uvfio_client_create(&dst.c))) {
		fprintf(stderr, PROG ": %s\n", strerror(-r));
		uvfio_client_destroy(src.c);
		return 1;
	}
	uvfio_client_set_log(src.c, on_log, &src, UVFIO_LOG_INFO);
	uvfio_client_set_log(dst.c, on_log, &dst, UVFIO_LOG_INFO);
	if ((r = uvfio_client_connect(src.c, src.path))) {
		connect_failed(&src, r);
		goto out;
	}
	if ((r = uvfio_client_connect(dst.c, dst.path))) {
		connect_failed(&dst, r);
		goto out;
	}

	uint64_t sf, df;
	if (query(&src, &sf) || query(&dst, &df))
		goto out;
	if (mo.mode == UVFIO_MIGRATE_PRE_COPY &&
	    !(sf & UVFIO_MIGRATION_PRE_COPY)) {
		char f[64];
		flags_str(sf, f, sizeof(f));
		fprintf(stderr, PROG ": server at %s does not support pre-copy "
				     "(migration flags: %s); leave out --precopy\n",
			src.path, f);
		goto out;
	}

	struct uvfio_migrate_stats st;
	r = uvfio_client_migrate(src.c, dst.c, &mo, &st);
	if (r) {
		fprintf(stderr, PROG ": migration from %s to %s failed: %s; "
				     "source now %s, destination %s\n",
			src.path, dst.path, strerror(-r), state_of(&src),
			state_of(&dst));
		goto out;
	}
	const char *src_state = "STOP";
	if (resume) {
		r = uvfio_client_mig_set_state(src.c, UVFIO_MIG_RUNNING);
		if (r) {
			fprintf(stderr, PROG ": migrated, but the source at %s "
					     "did not resume: %s\n",
				src.path, strerror(-r));
			src_state = state_of(&src);
		} else {
			src_state = "RUNNING (resumed)";
		}
	}

	uint64_t bytes = st.bytes_precopy + st.bytes_stopcopy;
	double secs = (double)st.total_ns / 1e9;
	printf("migrated %s -> %s (%s)\n", src.path, dst.path,
	       mo.mode == UVFIO_MIGRATE_PRE_COPY ? "pre-copy" : "stop-copy");
	printf("bytes moved: %" PRIu64 " (pre-copy %" PRIu64 ", stop-copy %" PRIu64
	       ")\n",
	       bytes, st.bytes_precopy, st.bytes_stopcopy);
	printf("pre-copy passes: %u\n", st.iterations);
	printf("downtime: %.3f ms\n", (double)st.downtime_ns / 1e6);
	printf("total time: %.3f ms\n", (double)st.total_ns / 1e6);
	printf("throughput: %.1f MiB/s\n",
	       secs > 0 ? (double)bytes / secs / (1 << 20) : 0.0);
	printf("source: %s\n", src_state);
	printf("destination: RUNNING\n");
	ret = r ? 1 : 0;
out:
	uvfio_client_destroy(src.c);
	uvfio_client_destroy(dst.c);
	return ret;
}
