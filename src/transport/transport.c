/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/codec.h>

#include "transport.h"

#define RX_BURST 16          /* recvmsg calls per tp_recv */
#define RX_MIN_ROOM 4096u    /* compact when less free room than this */
#define RX_KEEP (4 * TP_RX_INITIAL) /* free a larger idle receive buffer */
#define RX_DROP_CHUNK 4096u  /* bytes of a cancelled body read at a time */
#define TX_KEEP (256u << 10) /* free a larger idle send buffer */
#define TX_DEFAULT_LIMIT (8u << 20) /* tx_limit until the owner sets it */
#define TX_DUP_MIN_FD 3 /* fds queued to send never take stdin/out/err */
/* Room for a message's fixed part beside the default data size, until the
 * owner sets max_msg_size from what it negotiated. */
#define DEFAULT_CTRL_MAX 4096u

int tp_init(struct tp *tp, int fd)
{
	memset(tp, 0, sizeof(*tp));
	tp->fd = fd;
	tp->max_msg_size = UVFIO_HDR_SIZE + UVFIO_DEFAULT_MAX_DATA_XFER +
			   DEFAULT_CTRL_MAX;
	tp->max_fds = TP_MAX_FDS;
	tp->tx_limit = TX_DEFAULT_LIMIT;
	return 0;
}

void tp_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

void tp_fini(struct tp *tp)
{
	if (tp->fd >= 0)
		close(tp->fd);
	tp->fd = -1;
	for (unsigned i = 0; i < tp->rx_nfdq; i++)
		tp_close_fds(tp->rx_fdq[i].fds, tp->rx_fdq[i].nfds);
	tp->rx_nfdq = 0;
	if (tp->txq) {
		for (unsigned i = 0; i < tp->txq_len; i++) {
			struct tp_tx_fds *f =
				&tp->txq[(tp->txq_head + i) % TP_TX_FD_MSGS];
			tp_close_fds(f->fds, f->nfds);
		}
	}
	for (unsigned i = 0; i < tp->txe_len; i++)
		free(tp->txe[(tp->txe_head + i) % TP_TX_EXTS].owned);
	free(tp->txe);
	tp->txe = NULL;
	tp->txe_len = 0;
	tp->txe_bytes = 0;
	tp->direct.dst = NULL;
	free(tp->txq);
	free(tp->rx);
	free(tp->tx);
	tp->txq = NULL;
	tp->rx = tp->tx = NULL;
	tp->txq_len = 0;
}

/* ---- receive --------------------------------------------------------------- */

static int fail(struct tp *tp, int err, const char *why)
{
	tp->why = why;
	return err;
}

/* Make room for at least the rest of the message that starts at rx_start. */
static int rx_make_room(struct tp *tp)
{
	size_t pending = tp->rx_end - tp->rx_start;
	size_t need = UVFIO_HDR_SIZE;

	if (pending == 0) {
		tp->rx_base += tp->rx_end;
		tp->rx_start = tp->rx_end = 0;
		if (tp->rx_cap > RX_KEEP) {
			free(tp->rx);
			tp->rx = NULL;
			tp->rx_cap = 0;
		}
	}
	if (pending >= UVFIO_HDR_SIZE) {
		struct uvfio_hdr h;
		memcpy(&h, tp->rx + tp->rx_start, sizeof(h));
		need = h.msg_size; /* rx_deliver checked it */
		if (need > tp->max_msg_size)
			return fail(tp, -EMSGSIZE, "message larger than allowed");
	}
	if (need < TP_RX_INITIAL)
		need = TP_RX_INITIAL;

	if (tp->rx_start &&
	    (tp->rx_cap - tp->rx_end < RX_MIN_ROOM ||
	     tp->rx_cap - tp->rx_start < need)) {
		memmove(tp->rx, tp->rx + tp->rx_start, pending);
		tp->rx_base += tp->rx_start;
		tp->rx_end = pending;
		tp->rx_start = 0;
	}
	if (tp->rx_cap < need) {
		uint8_t *n = realloc(tp->rx, need);
		if (!n)
			return fail(tp, -ENOMEM, "out of memory for receive buffer");
		tp->rx = n;
		tp->rx_cap = need;
	}
	return 0;
}

static int rx_deliver(struct tp *tp, tp_deliver_fn fn,
		      void *opaque, int *delivered, size_t stop);

/*
 * The fds of the read that ended at rx_end belong to the last message
 * starting at or after chunk; see the comment in transport.h.
 */
static int rx_attribute_fds(struct tp *tp, size_t chunk, int *fds,
			    unsigned nfds, tp_deliver_fn fn,
			    void *opaque, int *delivered)
{
	size_t s = tp->rx_start;
	for (;;) {
		struct uvfio_hdr h;
		if (tp->rx_end - s < UVFIO_HDR_SIZE)
			break;
		memcpy(&h, tp->rx + s, sizeof(h));
		int r = uvfio_check_header(&h, tp->max_msg_size, &tp->why);
		if (r) {
			tp_close_fds(fds, nfds);
			return r;
		}
		if (tp->rx_end - s <= h.msg_size)
			break;
		s += h.msg_size;
	}
	if (s < chunk) {
		tp_close_fds(fds, nfds);
		return fail(tp, -EPROTO,
			    "fds arrived with message body bytes, not with "
			    "the first byte of a message");
	}
	if (nfds > tp->max_fds) {
		tp_close_fds(fds, nfds);
		return fail(tp, -EPROTO,
			    "peer sent more fds than max_msg_fds allows");
	}
	if (tp->rx_nfdq == TP_RX_FDSETS) {
		/* Held fds belong to messages before s that this read may have
		 * completed: deliver those first to make room. */
		int r = rx_deliver(tp, fn, opaque, delivered, s);
		if (r || tp->rx_nfdq == TP_RX_FDSETS) {
			tp_close_fds(fds, nfds);
			return r ? r : fail(tp, -EPROTO,
					    "too many messages with fds at once");
		}
	}
	struct tp_rx_fds *slot = &tp->rx_fdq[tp->rx_nfdq++];
	memcpy(slot->fds, fds, nfds * sizeof(int));
	slot->nfds = nfds;
	slot->owner = tp->rx_base + s;
	return 0;
}

static void fdq_pop(struct tp *tp)
{
	tp_close_fds(tp->rx_fdq[0].fds, tp->rx_fdq[0].nfds);
	tp->rx_nfdq--;
	memmove(&tp->rx_fdq[0], &tp->rx_fdq[1],
		tp->rx_nfdq * sizeof(tp->rx_fdq[0]));
}

/* Deliver the complete messages that start before stop (a buffer offset).
 * Stops, without consuming, at a message the consumer pauses on. */
static int rx_deliver(struct tp *tp, tp_deliver_fn fn,
		      void *opaque, int *delivered, size_t stop)
{
	/* In stream offsets: a handler may unstash into the buffer, which
	 * moves it. */
	uint64_t stop_abs = tp->rx_base + stop;
	tp->rx_paused = false;
	while (tp->rx_base + tp->rx_start < stop_abs &&
	       tp->rx_end - tp->rx_start >= UVFIO_HDR_SIZE) {
		struct uvfio_hdr h;
		memcpy(&h, tp->rx + tp->rx_start, sizeof(h));
		int r = uvfio_check_header(&h, tp->max_msg_size, &tp->why);
		if (r)
			return r;
		if (tp->rx_end - tp->rx_start < h.msg_size)
			break;

		struct tp_msg m = {
			.buf = tp->rx + tp->rx_start,
			.size = h.msg_size,
		};
		/* Slot 0 always holds the oldest fds, so only it can belong
		 * to the message at the head of the buffer. */
		struct tp_rx_fds *f = &tp->rx_fdq[0];
		bool own = tp->rx_nfdq && f->owner == tp->rx_base + tp->rx_start;
		if (own) {
			m.fds = f->fds;
			m.nfds = f->nfds;
		}
		r = fn(opaque, &m);
		if (r == TP_PAUSE) {
			tp->rx_paused = true;
			return 0;
		}
		tp->rx_start += h.msg_size;
		tp->n_rx_msgs++;
		(*delivered)++;
		/* Whatever the handler did not take is closed here, on
		 * every path, so no fd can leak. */
		if (own)
			fdq_pop(tp);
		if (r)
			return r;
	}
	return 0;
}

/*
 * One non-blocking recvmsg() into [to, to + room), taking every fd that
 * came with it into fds (*nfds of them; the caller closes them on any
 * path).  Returns the bytes read, 0 at EOF, -EAGAIN when nothing is there,
 * or a failure (the connection cannot go on, tp->why says why).
 */
static ssize_t rx_read(struct tp *tp, void *to, size_t room, int *fds,
		       unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TP_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { to, room };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;
	*nfds = 0;
	do
		n = recvmsg(tp->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == ECONNRESET)
			return fail(tp, -ECONNRESET, "connection reset by peer");
		return fail(tp, -errno, "recvmsg failed");
	}
	tp->n_recvmsg++;
	unsigned ncmsg = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		ncmsg++;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
					sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < TP_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		tp_close_fds(fds, *nfds);
		*nfds = 0;
		return fail(tp, -EPROTO,
			    "peer sent more fds than fit in one message");
	}
	if (ncmsg > 1) {
		tp_close_fds(fds, *nfds);
		*nfds = 0;
		return fail(tp, -EPROTO, "more than one SCM_RIGHTS block");
	}
	return n;
}

/* ---- direct receive ------------------------------------------------------- */

void tp_set_sink(struct tp *tp, tp_sink_fn sink)
{
	tp->sink = sink;
}

bool tp_direct_cancel(struct tp *tp, const void *p, size_t len)
{
	struct tp_rx_direct *d = &tp->direct;
	const uint8_t *a = p;
	if (!d->dst || d->cancelled || d->dst + d->want <= a ||
	    d->dst >= a + len)
		return false;
	d->cancelled = true;
	return true;
}

/* Offer the incomplete message at rx_start to the sink. */
static void rx_try_direct(struct tp *tp, void *opaque)
{
	size_t have = tp->rx_end - tp->rx_start;
	struct uvfio_hdr h;
	if (have < UVFIO_HDR_SIZE)
		return;
	memcpy(&h, tp->rx + tp->rx_start, sizeof(h));
	const char *why;
	if (h.msg_size < TP_DIRECT_MIN || have >= h.msg_size ||
	    uvfio_check_header(&h, tp->max_msg_size, &why))
		return; /* small, complete, or for the usual path to refuse */
	/* A message that came with fds is not what a sink takes. */
	if (tp->rx_nfdq && tp->rx_fdq[0].owner == tp->rx_base + tp->rx_start)
		return;
	size_t skip = 0;
	uint8_t *dst = tp->sink(opaque, tp->rx + tp->rx_start, have, &skip);
	if (!dst || skip < UVFIO_HDR_SIZE || skip > have)
		return;
	size_t early = have - skip; /* body bytes read with the head */
	memcpy(dst, tp->rx + tp->rx_start + skip, early);
	tp->direct = (struct tp_rx_direct){
		.dst = dst, .skip = skip, .got = early,
		.want = h.msg_size - skip, .size = h.msg_size,
	};
	tp->rx_end = tp->rx_start + skip;
}

/*
 * Read the rest of the direct message and deliver it.  1: delivered (or
 * paused on), 0: more bytes to come, or -errno.
 */
static int rx_direct(struct tp *tp, tp_deliver_fn fn,
		     void *opaque, int *delivered)
{
	struct tp_rx_direct *d = &tp->direct;
	uint8_t scratch[RX_DROP_CHUNK];

	while (d->got < d->want) {
		size_t room = d->want - d->got;
		void *to = d->dst + d->got;
		if (d->cancelled) {
			to = scratch;
			if (room > sizeof(scratch))
				room = sizeof(scratch);
		}
		int fds[TP_MAX_FDS];
		unsigned nfds;
		ssize_t n = rx_read(tp, to, room, fds, &nfds);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (nfds) {
			tp_close_fds(fds, nfds);
			return fail(tp, -EPROTO,
				    "fds arrived with message body bytes, not "
				    "with the first byte of a message");
		}
		if (n == 0)
			return fail(tp, -ECONNRESET,
				    "peer closed the connection in the middle "
				    "of a message");
		d->got += (size_t)n;
	}
	struct tp_msg m = {
		.buf = tp->rx + tp->rx_start,
		.size = (uint32_t)d->skip,
		.is_direct = true,
		.direct = d->cancelled ? NULL : d->dst,
		.direct_size = d->size,
	};
	/* Whole now: to the handler it is a message like any other, whose
	 * head sits at rx_start; it may unstash behind it, as it may behind
	 * any message it is handed. */
	struct tp_rx_direct whole = *d;
	*d = (struct tp_rx_direct){ 0 };
	int r = fn(opaque, &m);
	if (r == TP_PAUSE) {
		*d = whole;
		tp->rx_paused = true;
		return 1;
	}
	tp->rx_start += whole.skip;
	tp->n_rx_msgs++;
	tp->n_rx_direct++;
	(*delivered)++;
	return r < 0 ? r : 1;
}

int tp_recv(struct tp *tp, tp_deliver_fn fn, void *opaque)
{
	int delivered = 0;

	if (tp->direct.dst) {
		tp->rx_paused = false;
		int r = rx_direct(tp, fn, opaque, &delivered);
		if (r <= 0 || tp->rx_paused)
			return r < 0 ? r : delivered;
	}
	/* Messages left by a pause go first (or put back by a handler), and
	 * while the consumer still pauses nothing more is read: that is the
	 * back-pressure. */
	int r0 = rx_deliver(tp, fn, opaque, &delivered, tp->rx_end);
	if (r0)
		return r0;
	if (tp->rx_paused)
		return delivered;

	for (int burst = 0; burst < RX_BURST; burst++) {
		if (tp->sink)
			rx_try_direct(tp, opaque);
		if (tp->direct.dst) {
			int r = rx_direct(tp, fn, opaque, &delivered);
			if (r <= 0 || tp->rx_paused)
				return r < 0 ? r : delivered;
			/* Its handler may have put messages back. */
			r = rx_deliver(tp, fn, opaque, &delivered, tp->rx_end);
			if (r)
				return r;
			if (tp->rx_paused)
				return delivered;
			continue;
		}
		int r = rx_make_room(tp);
		if (r)
			return r;
		size_t room = tp->rx_cap - tp->rx_end;
		/* Every fd is collected first, so that any error path closes
		 * all. */
		int fds[TP_MAX_FDS];
		unsigned nfds;
		ssize_t n = rx_read(tp, tp->rx + tp->rx_end, room, fds, &nfds);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		if (n == 0) {
			tp_close_fds(fds, nfds);
			return fail(tp, -ECONNRESET,
				    tp->rx_end != tp->rx_start
					    ? "peer closed the connection "
					      "in the middle of a message"
					    : "peer closed the connection");
		}
		size_t chunk = tp->rx_end;
		tp->rx_end += (size_t)n;
		if (nfds) {
			r = rx_attribute_fds(tp, chunk, fds, nfds, fn, opaque,
					     &delivered);
			if (r)
				return r;
		}
		r = rx_deliver(tp, fn, opaque, &delivered, tp->rx_end);
		if (r)
			return r;
		if (tp->rx_paused)
			break;
		/* A short read without fds means the socket is drained: save
		 * the recvmsg that would only say EAGAIN. */
		if ((size_t)n < room && !nfds)
			break;
	}
	/* A large message begun in this read: the rest of it can already go
	 * where it belongs. */
	if (tp->sink && !tp->direct.dst)
		rx_try_direct(tp, opaque);
	return delivered;
}

/* ---- send ------------------------------------------------------------------ */

void *tp_reserve(struct tp *tp, size_t len)
{
	size_t pending = tp->tx_end - tp->tx_start;

	if (tp->tx_reserved) {
		errno = EBUSY;
		return NULL;
	}
	size_t queued = pending + tp->txe_bytes;
	if (queued && queued + len > tp->tx_limit) {
		errno = ENOBUFS;
		return NULL;
	}
	if (len > UINT32_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (pending == 0) {
		tp->tx_base += tp->tx_end;
		tp->tx_start = tp->tx_end = 0;
	}
	if (tp->tx_cap - tp->tx_end < len && tp->tx_start) {
		memmove(tp->tx, tp->tx + tp->tx_start, pending);
		tp->tx_base += tp->tx_start;
		tp->tx_end = pending;
		tp->tx_start = 0;
	}
	if (tp->tx_cap - tp->tx_end < len) {
		size_t cap = tp->tx_cap ? tp->tx_cap : TP_RX_INITIAL;
		while (cap < tp->tx_end + len)
			cap *= 2;
		uint8_t *n = realloc(tp->tx, cap);
		if (!n) {
			errno = ENOMEM;
			return NULL;
		}
		tp->tx = n;
		tp->tx_cap = cap;
	}
	tp->tx_reserved = len ? len : 1;
	return tp->tx + tp->tx_end;
}

int tp_commit(struct tp *tp, size_t len, const int *fds,
		    unsigned nfds)
{
	size_t reserved = tp->tx_reserved;
	tp->tx_reserved = 0;
	if (!reserved || len > reserved || len < UVFIO_HDR_SIZE)
		return -EINVAL;
	if (nfds > TP_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		if (!tp->txq) {
			tp->txq = calloc(TP_TX_FD_MSGS, sizeof(*tp->txq));
			if (!tp->txq)
				return -ENOMEM;
		}
		if (tp->txq_len == TP_TX_FD_MSGS)
			return -ENOBUFS;
		struct tp_tx_fds *f =
			&tp->txq[(tp->txq_head + tp->txq_len) % TP_TX_FD_MSGS];
		for (unsigned i = 0; i < nfds; i++) {
			f->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, TX_DUP_MIN_FD);
			if (f->fds[i] < 0) {
				int err = -errno;
				tp_close_fds(f->fds, i);
				return err;
			}
		}
		f->nfds = nfds;
		f->off = tp->tx_base + tp->tx_end;
		f->len = len;
		tp->txq_len++;
	}
	tp->tx_end += len;
	return 0;
}

int tp_commit_ext(struct tp *tp, size_t len, const void *ext,
			size_t ext_len, const void *tag)
{
	return tp_commit_ext_tail(tp, len, ext, ext_len, 0, tag);
}

int tp_commit_ext_tail(struct tp *tp, size_t len, const void *ext,
			     size_t ext_len, size_t tail, const void *tag)
{
	if (tail > len || len - tail < UVFIO_HDR_SIZE) {
		tp->tx_reserved = 0;
		return -EINVAL;
	}
	if (!ext_len)
		return tp_commit(tp, len, NULL, 0);
	if (!tp->txe) {
		tp->txe = calloc(TP_TX_EXTS, sizeof(*tp->txe));
		if (!tp->txe) {
			tp->tx_reserved = 0;
			return -ENOMEM;
		}
	}
	if (tp->txe_len == TP_TX_EXTS) {
		tp->tx_reserved = 0;
		return -ENOBUFS;
	}
	int r = tp_commit(tp, len, NULL, 0);
	if (r)
		return r;
	tp->txe[(tp->txe_head + tp->txe_len) % TP_TX_EXTS] =
		(struct tp_tx_ext){ .pos = tp->tx_base + tp->tx_end - tail,
				       .p = ext, .left = ext_len, .tag = tag };
	tp->txe_len++;
	tp->txe_bytes += ext_len;
	tp->n_tx_ext++;
	return 0;
}

bool tp_ext_busy(const struct tp *tp, const void *tag)
{
	for (unsigned i = 0; i < tp->txe_len; i++) {
		const struct tp_tx_ext *e =
			&tp->txe[(tp->txe_head + i) % TP_TX_EXTS];
		if (!e->owned && (!tag || e->tag == tag))
			return true;
	}
	return false;
}

int tp_ext_detach(struct tp *tp, const void *tag)
{
	for (unsigned i = 0; i < tp->txe_len; i++) {
		struct tp_tx_ext *e =
			&tp->txe[(tp->txe_head + i) % TP_TX_EXTS];
		if (e->owned || (tag && e->tag != tag))
			continue;
		uint8_t *copy = malloc(e->left);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, e->p, e->left);
		e->owned = copy;
		e->p = copy;
	}
	return 0;
}

static void ext_advance(struct tp *tp, size_t n)
{
	struct tp_tx_ext *e = &tp->txe[tp->txe_head];
	e->p += n;
	e->left -= n;
	tp->txe_bytes -= n;
	if (!e->left) {
		free(e->owned);
		*e = (struct tp_tx_ext){ 0 };
		tp->txe_head = (tp->txe_head + 1) % TP_TX_EXTS;
		tp->txe_len--;
	}
}

int tp_send(struct tp *tp, const void *msg, size_t len,
		  const int *fds, unsigned nfds)
{
	void *p = tp_reserve(tp, len);
	if (!p)
		return -errno;
	memcpy(p, msg, len);
	return tp_commit(tp, len, fds, nfds);
}

/* What one sendmsg() carries: built by tx_build_seg(), accounted for by
 * tx_account().  mh points into the struct itself: never copied. */
struct tx_seg {
	struct iovec iov[2];
	struct msghdr mh;
	struct tp_tx_fds *f; /* the message whose fds ride along, or NULL */
	bool ext_first;      /* iov[0] is the rest of a body sent in place */
	union {
		char buf[CMSG_SPACE(sizeof(int) * TP_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
};

/* The fds of s->f, as the SCM_RIGHTS block of s's sendmsg(). */
static void tx_attach_fds(struct tx_seg *s)
{
	const struct tp_tx_fds *f = s->f;

	memset(s->ctl.buf, 0, sizeof(s->ctl.buf));
	s->mh.msg_control = s->ctl.buf;
	s->mh.msg_controllen = CMSG_SPACE(sizeof(int) * f->nfds);
	struct cmsghdr *c = CMSG_FIRSTHDR(&s->mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * f->nfds);
	memcpy(CMSG_DATA(c), f->fds, sizeof(int) * f->nfds);
}

/*
 * The next run of queued bytes that may go in one sendmsg(): buffered
 * bytes up to the next message with fds (or that message alone, with its
 * fds), followed by the outside body they lead to, if any.
 */
static void tx_build_seg(struct tp *tp, struct tx_seg *s)
{
	uint64_t pos = tp->tx_base + tp->tx_start;
	size_t end = tp->tx_end;
	struct tp_tx_ext *e = tp->txe_len ? &tp->txe[tp->txe_head] : NULL;

	s->mh = (struct msghdr){ .msg_iov = s->iov, .msg_iovlen = 1 };
	s->f = NULL;
	s->ext_first = e && e->pos == pos;
	if (s->ext_first) {
		/* The rest of a body sent from its place comes before any
		 * buffered byte. */
		s->iov[0] = (struct iovec){ (void *)e->p, e->left };
		return;
	}
	if (tp->txq_len) {
		struct tp_tx_fds *head = &tp->txq[tp->txq_head];
		if (head->off == pos) {
			/* Nothing may follow it in this sendmsg, or the
			 * receiver would give the fds to the last message of
			 * the segment. */
			s->f = head;
			end = (size_t)(head->off + head->len - tp->tx_base);
		} else {
			/* Stop before the next message with fds: they must
			 * ride on its first byte. */
			end = (size_t)(head->off - tp->tx_base);
		}
	}
	/* A message with fds never has an outside body, so one that follows
	 * the buffered bytes belongs to a message before. */
	if (e && !s->f && e->pos - tp->tx_base <= end) {
		end = (size_t)(e->pos - tp->tx_base);
		s->iov[1] = (struct iovec){ (void *)e->p, e->left };
		s->mh.msg_iovlen = 2;
	}
	s->iov[0] = (struct iovec){ tp->tx + tp->tx_start, end - tp->tx_start };
	if (s->f)
		tx_attach_fds(s);
}

/* Bytes sent, or -EINTR (try again), -EAGAIN, or a failure. */
static ssize_t tx_send_seg(struct tp *tp, const struct tx_seg *s)
{
	/* send() spares the kernel copying in a msghdr and an iovec array:
	 * it shows on posted writes, one small message each. */
	ssize_t n = s->mh.msg_iovlen == 1 && !s->mh.msg_control
			    ? send(tp->fd, s->iov[0].iov_base, s->iov[0].iov_len,
				   MSG_NOSIGNAL | MSG_DONTWAIT)
			    : sendmsg(tp->fd, &s->mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n >= 0)
		return n;
	if (errno == EINTR)
		return -EINTR;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	if (errno == EPIPE || errno == ECONNRESET)
		return fail(tp, -ECONNRESET, "peer closed the connection");
	return fail(tp, -errno, "sendmsg failed");
}

/* n bytes of s went: release its fds, advance through the buffer, then
 * through the outside body. */
static void tx_account(struct tp *tp, const struct tx_seg *s, size_t n)
{
	tp->n_sendmsg++;
	if (s->f) {
		/* The kernel holds its own references now. */
		tp_close_fds(s->f->fds, s->f->nfds);
		s->f->nfds = 0;
		tp->txq_head = (tp->txq_head + 1) % TP_TX_FD_MSGS;
		tp->txq_len--;
	}
	size_t from_buf = s->ext_first ? 0 : s->iov[0].iov_len;
	size_t b = n < from_buf ? n : from_buf;
	tp->tx_start += b;
	if (n > b)
		ext_advance(tp, n - b);
}

int tp_flush(struct tp *tp)
{
	struct tx_seg s;

	while (tp->tx_start < tp->tx_end || tp->txe_len) {
		tx_build_seg(tp, &s);
		ssize_t n = tx_send_seg(tp, &s);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		tx_account(tp, &s, (size_t)n);
	}
	if (tp->tx_reserved)
		return 0; /* the reservation sits at tx_end: leave it there */
	tp->tx_base += tp->tx_end;
	tp->tx_start = tp->tx_end = 0;
	if (tp->tx_cap > TX_KEEP) {
		free(tp->tx);
		tp->tx = NULL;
		tp->tx_cap = 0;
	}
	return 0;
}

/* ---- receive state ---------------------------------------------------------- */

bool tp_rx_ready(const struct tp *tp)
{
	struct uvfio_hdr h;
	if (tp->direct.dst)
		return tp->direct.got == tp->direct.want;
	if (tp->rx_end - tp->rx_start < UVFIO_HDR_SIZE)
		return false;
	memcpy(&h, tp->rx + tp->rx_start, sizeof(h));
	return tp->rx_end - tp->rx_start >= h.msg_size;
}
