/* SPDX-License-Identifier: MIT */
/*
 * Stashes: received messages (bytes and fds) taken out of one transport
 * and handed to another later, in order (transport.h says when).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/wire.h>

#include "transport.h"

#define STASH_DEFAULT_LIMIT (8u << 20) /* st->limit 0 */
#define STASH_INITIAL 4096u

static int stash_bytes(struct tp_stash *st, const void *p, size_t len)
{
	size_t limit = st->limit ? st->limit : STASH_DEFAULT_LIMIT;
	if (!len)
		return 0;
	if (len > limit - st->len)
		return -ENOBUFS;
	if (st->cap - st->len < len) {
		size_t cap = st->cap ? st->cap : STASH_INITIAL;
		while (cap - st->len < len)
			cap *= 2;
		uint8_t *n = realloc(st->buf, cap);
		if (!n)
			return -ENOMEM;
		st->buf = n;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, p, len);
	st->len += len;
	return 0;
}

int tp_stash_msg(struct tp_stash *st, struct tp_msg *m)
{
	if (m->nfds && st->nfdq == TP_RX_FDSETS)
		return -ENOBUFS;
	size_t at = st->len;
	int r = stash_bytes(st, m->buf, m->size);
	if (r || !m->nfds)
		return r;
	struct tp_rx_fds *f = &st->fdq[st->nfdq++];
	f->owner = at;
	f->nfds = m->nfds;
	for (unsigned i = 0; i < m->nfds; i++) {
		f->fds[i] = m->fds[i];
		m->fds[i] = -1;
	}
	return 0;
}

int tp_stash_rest(struct tp_stash *st, struct tp *from)
{
	size_t at = st->len, n = from->rx_end - from->rx_start;
	if (st->nfdq + from->rx_nfdq > TP_RX_FDSETS)
		return -ENOBUFS;
	int r = stash_bytes(st, from->rx + from->rx_start, n);
	if (r)
		return r;
	for (unsigned i = 0; i < from->rx_nfdq; i++) {
		struct tp_rx_fds *f = &st->fdq[st->nfdq++];
		*f = from->rx_fdq[i];
		f->owner = at + (from->rx_fdq[i].owner -
				 (from->rx_base + from->rx_start));
	}
	from->rx_nfdq = 0;
	from->rx_start = from->rx_end;
	return 0;
}

int tp_unstash(struct tp *to, struct tp_stash *st)
{
	if (!st->len)
		return 0;
	if (to->direct.dst)
		return -EBUSY; /* bytes cannot go in the middle of a body */
	if (to->rx_nfdq + st->nfdq > TP_RX_FDSETS)
		return -ENOBUFS;
	size_t pending = to->rx_end - to->rx_start;
	if (to->rx_cap - to->rx_end < st->len) {
		/* Compact from rx_start (the message being handled, if any,
		 * stays first), then grow.  The caller's views of it die. */
		memmove(to->rx, to->rx + to->rx_start, pending);
		to->rx_base += to->rx_start;
		to->rx_start = 0;
		to->rx_end = pending;
		if (to->rx_cap - to->rx_end < st->len) {
			uint8_t *n = realloc(to->rx, to->rx_end + st->len);
			if (!n)
				return -ENOMEM;
			to->rx = n;
			to->rx_cap = to->rx_end + st->len;
		}
	}
	uint64_t base = to->rx_base + to->rx_end;
	memcpy(to->rx + to->rx_end, st->buf, st->len);
	to->rx_end += st->len;
	for (unsigned i = 0; i < st->nfdq; i++) {
		struct tp_rx_fds *f = &to->rx_fdq[to->rx_nfdq++];
		*f = st->fdq[i];
		f->owner = base + st->fdq[i].owner;
	}
	st->nfdq = 0;
	st->len = 0;
	return 0;
}

void tp_stash_free(struct tp_stash *st)
{
	for (unsigned i = 0; i < st->nfdq; i++)
		tp_close_fds(st->fdq[i].fds, st->fdq[i].nfds);
	free(st->buf);
	memset(st, 0, sizeof(*st));
}
