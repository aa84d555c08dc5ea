/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "figures.h"

const char *bench_prog = "uvfio-bench";

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", bench_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void bench_sibling(char *out, size_t len, const char *rel)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		bench_die("cannot find myself: %s", strerror(errno));
	self[n] = 0;
	snprintf(out, len, "%s/%s", dirname(self), rel);
}

void bench_pin(int cpu, const cpu_set_t *all)
{
	cpu_set_t set;
	if (cpu < 0) {
		set = *all;
	} else {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
	}
	if (CPU_COUNT(&set) && sched_setaffinity(0, sizeof(set), &set))
		bench_note("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

/* ---- figures ------------------------------------------------------------------- */

struct figure {
	char name[80];
	char unit[12];
	int prec;
	int n;
	double v[BENCH_MAX_RUNS];
};
static struct figure figures[BENCH_MAX_FIGURES];
static int nfigures, nprinted;

static struct figure *find(const char *name)
{
	for (int i = 0; i < nfigures; i++)
		if (!strcmp(figures[i].name, name))
			return &figures[i];
	return NULL;
}

void bench_rec(const char *unit, int prec, double v, const char *fmt, ...)
{
	char name[80];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (!isfinite(v) || v < 0)
		v = 0; /* the format has no sign, NaN or infinity */
	struct figure *f = find(name);
	if (!f) {
		if (nfigures == BENCH_MAX_FIGURES)
			bench_die("too many figures");
		f = &figures[nfigures++];
		snprintf(f->name, sizeof(f->name), "%s", name);
		snprintf(f->unit, sizeof(f->unit), "%s", unit);
		f->prec = prec;
	}
	if (f->n < BENCH_MAX_RUNS)
		f->v[f->n++] = v;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const struct figure *f)
{
	double v[BENCH_MAX_RUNS];
	if (!f->n)
		return 0;
	memcpy(v, f->v, sizeof(double) * (size_t)f->n);
	qsort(v, (size_t)f->n, sizeof(double), cmp_dbl);
	return f->n % 2 ? v[f->n / 2] : (v[f->n / 2 - 1] + v[f->n / 2]) / 2;
}

double bench_fig(const char *fmt, ...)
{
	char name[80];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	const struct figure *f = find(name);
	return f ? median(f) : -1;
}

void bench_flush(void)
{
	for (; nprinted < nfigures; nprinted++) {
		const struct figure *f = &figures[nprinted];
		printf("%s=%.*f %s\n", f->name, f->prec, median(f), f->unit);
	}
	fflush(stdout);
}
