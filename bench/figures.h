/* SPDX-License-Identifier: MIT */
/*
 * What uvfio-bench and uvfio-bench-nvme share: messages, the clock, CPU
 * pinning, and the figures -- one value recorded per run, printed as
 * "name=value unit" medians (docs/performance.md).
 */
#ifndef UVFIO_BENCH_FIGURES_H
#define UVFIO_BENCH_FIGURES_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_RUNS 64
#define BENCH_MAX_FIGURES 512

/* Set by main: the prefix of every message. */
extern const char *bench_prog;

uint64_t bench_now_ns(void);
void bench_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The path of a program built next to this one: rel from our directory
 * (e.g. "../samples/uvfio-dmadev"), into out. */
void bench_sibling(char *out, size_t len, const char *rel);

/* Pin the caller to cpu, or with cpu < 0 back to every CPU in all (a
 * server must not inherit a pinned client's CPU); a failure is noted. */
void bench_pin(int cpu, const cpu_set_t *all);

/* Record one run's value of the figure named by fmt: unit and decimals
 * as printed.  Negative, NaN and infinite values become 0. */
void bench_rec(const char *unit, int prec, double v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The median over the runs of a figure, -1 when it was not recorded. */
double bench_fig(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print every figure recorded since the last call, as medians. */
void bench_flush(void);

#endif
