/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

const char *uvfio_version_string(void)
{
	return UVFIO_VERSION_STRING;
}

void ulogger_init(struct ulogger *l, const char *who)
{
	const char *env = getenv("UVFIO_LOG_LEVEL");
	l->fn = NULL;
	l->opaque = NULL;
	l->level = env ? atoi(env) : UVFIO_LOG_WARN;
	l->env_level = env != NULL;
	l->who = who;
}

void ulog(const struct ulogger *l, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (level > l->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->fn)
		l->fn(l->opaque, level, msg);
	else
		fprintf(stderr, "uvfio %s: %s\n", l->who, msg);
}
