/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every layer of the library uses, written once: monotonic
 * clocks for timeouts, deadlines for condition variables, powers of two.
 */
#ifndef UVFIO_UTIL_H
#define UVFIO_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time: timeouts must not jump with the wall clock. */
static inline int64_t util_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t util_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME plus ms, for pthread_cond_timedwait() on a condition
 * variable with the default clock. */
static inline struct timespec util_deadline_ts(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static inline bool util_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

#endif
