/* SPDX-License-Identifier: MIT */
/*
 * uvfio/common.h - what the server and client APIs share: export marker,
 * logging hook, library version.
 *
 * Error convention everywhere in libuvfio: functions return 0 (or a
 * non-negative count) on success and a negative errno value on failure.
 * The human explanation of a failure goes to the log callback.
 */
#ifndef UVFIO_COMMON_H
#define UVFIO_COMMON_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UVFIO_BUILDING) && defined(__GNUC__)
#define UVFIO_API __attribute__((visibility("default")))
#else
#define UVFIO_API
#endif

#define UVFIO_LIB_VERSION_MAJOR 0
#define UVFIO_LIB_VERSION_MINOR 1

enum uvfio_log_level {
	UVFIO_LOG_ERR = 3,
	UVFIO_LOG_WARN = 4,
	UVFIO_LOG_INFO = 6,
	UVFIO_LOG_DEBUG = 7,
};

/*
 * Log callback.  Called from whichever thread runs the library call that
 * produced the message; msg is a complete line without a trailing newline
 * and is only valid during the call.  When no callback is set, messages at
 * or below the handle's level go to stderr prefixed with "uvfio server: "
 * or "uvfio client: ".  The environment variable UVFIO_LOG_LEVEL (3 errors
 * ... 7 debug), when set, overrides the level a program asks for.
 */
typedef void (*uvfio_log_fn)(void *opaque, int level, const char *msg);

/* Returns the library version as "MAJOR.MINOR.PATCH". */
UVFIO_API const char *uvfio_version_string(void);

/* Name of a command number ("REGION_READ"), or "UNKNOWN". */
UVFIO_API const char *uvfio_cmd_name(unsigned cmd);

#ifdef __cplusplus
}
#endif
#endif /* UVFIO_COMMON_H */
