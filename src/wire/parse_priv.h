/* SPDX-License-Identifier: MIT */
/*
 * What the codec's parsers share (internal): parse.c (headers, VERSION,
 * region capabilities, message heads), parse_cmd.c (one checker per
 * command) and parse_reply.c (one checker per reply).
 */
#ifndef UVFIO_WIRE_PARSE_PRIV_H
#define UVFIO_WIRE_PARSE_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <uvfio/codec.h>

/* Refuse with an errno for the peer and a reason for the log; v is the
 * view being filled (command or reply). */
#define FAIL(err, msg)                                                         \
	do {                                                                   \
		v->why = (msg);                                                \
		return -(err);                                                 \
	} while (0)

/* Fixed-size part of a payload, copied out so no caller ever dereferences a
 * misaligned packed pointer into the receive buffer. */
#define TAKE(dst, v)                                                           \
	do {                                                                   \
		if ((v)->len < sizeof(dst))                                    \
			FAIL(EINVAL, "payload shorter than the command's "     \
				     "fixed structure");                       \
		memcpy(&(dst), (v)->payload, sizeof(dst));                     \
	} while (0)

/* Bits in one word of a dirty bitmap, as the protocol packs them. */
#define WIRE_BITMAP_WORD_BITS 64u

static inline bool add_overflows(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r);
}

/* VERSION's payload, command or reply alike: 0 or -errno with *why. */
int wire_parse_version(const uint8_t *p, uint32_t len, uint16_t *major,
		       uint16_t *minor, const char **json, uint32_t *json_len,
		       const char **why);

#endif
