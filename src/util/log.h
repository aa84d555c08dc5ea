/* SPDX-License-Identifier: MIT */
#ifndef UVFIO_LOG_H
#define UVFIO_LOG_H

#include <stdbool.h>

#include <uvfio/common.h>

struct uvfio_logger {
	uvfio_log_fn fn;
	void *opaque;
	int level;
	bool env_level;  /* UVFIO_LOG_LEVEL was set: it wins */
	const char *who; /* "server", "client" */
};

void uvfio_logger_init(struct uvfio_logger *l, const char *who);
void uvfio_log(const struct uvfio_logger *l, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define uvfio_err(l, ...) uvfio_log(l, UVFIO_LOG_ERR, __VA_ARGS__)
#define uvfio_warn(l, ...) uvfio_log(l, UVFIO_LOG_WARN, __VA_ARGS__)
#define uvfio_info(l, ...) uvfio_log(l, UVFIO_LOG_INFO, __VA_ARGS__)
#define uvfio_dbg(l, ...) uvfio_log(l, UVFIO_LOG_DEBUG, __VA_ARGS__)

#endif
