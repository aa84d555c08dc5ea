/* SPDX-License-Identifier: MIT */
#ifndef UVFIO_LOG_H
#define UVFIO_LOG_H

#include <stdbool.h>

#include <uvfio/common.h>

struct ulogger {
	uvfio_log_fn fn;
	void *opaque;
	int level;
	bool env_level;  /* UVFIO_LOG_LEVEL was set: it wins */
	const char *who; /* "server", "client" */
};

void ulogger_init(struct ulogger *l, const char *who);
void ulog(const struct ulogger *l, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define ulog_err(l, ...) ulog(l, UVFIO_LOG_ERR, __VA_ARGS__)
#define ulog_warn(l, ...) ulog(l, UVFIO_LOG_WARN, __VA_ARGS__)
#define ulog_info(l, ...) ulog(l, UVFIO_LOG_INFO, __VA_ARGS__)
#define ulog_dbg(l, ...) ulog(l, UVFIO_LOG_DEBUG, __VA_ARGS__)

#endif
