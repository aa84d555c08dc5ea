/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking vfio-user stream transport over one AF_UNIX socket.
 *
 * Receive side: every recvmsg() reads as much as the buffer holds, and every
 * complete message in the buffer is handed to the deliver callback in order,
 * so a burst of N small messages costs about one syscall, not 2N.
 *
 * Fds: Linux ends a stream recvmsg() right after the segment that carried
 * SCM_RIGHTS, so fds that arrive in a read belong to the last segment of
 * that read.  A well-behaved peer attaches them to a message's first byte,
 * so they belong to the last message that *starts* inside the bytes of that
 * read.  If no message starts there, the fds rode on body bytes: they are
 * closed and the connection is failed (-EPROTO).
 *
 * Send side: messages are built in place in one contiguous send buffer
 * (reserve/commit) and flushed with as few sendmsg() calls as possible: one
 * per run of messages without fds, and one for each message that carries
 * fds.  The fds must travel with that message's first byte, and the message
 * must end its sendmsg(): the receiver gives the fds to the last message
 * starting in the read, and a read ends with the segment carrying fds.
 *
 * Large bodies skip the buffers (the kernel copy is then the only one):
 * tp_commit_ext() sends a message's data from where it lies, and a
 * sink (tp_set_sink) may take the body of an incoming message of 64
 * KiB or more straight into its destination, e.g. a DMA_READ reply into
 * the device's buffer or a DMA_WRITE into the client's window.
 *
 * Memory is bounded: the receive buffer grows only to hold one message of
 * at most max_msg_size (it starts at 16 KiB and shrinks back when idle);
 * the send buffer refuses to queue beyond tx_limit (a single message larger
 * than tx_limit is still accepted into an empty queue).
 */
#ifndef UVFIO_TRANSPORT_H
#define UVFIO_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/wire.h>

#define TP_MAX_FDS 64u      /* hard cap on fds in one message */
#define TP_TX_FD_MSGS 64u   /* queued messages carrying fds */
#define TP_RX_INITIAL 16384u
#define TP_RX_FDSETS 8u    /* messages with fds held at once */

struct tp_msg {
	const uint8_t *buf; /* whole message, header first */
	uint32_t size;
	/* Received through the sink: buf/size hold only the first bytes, the
	 * rest is at direct (NULL if the destination was cancelled, and then
	 * the bytes were dropped).  direct_size is the message's size. */
	bool is_direct;
	uint8_t *direct;
	uint32_t direct_size;
	int *fds; /* callee sets an entry to -1 to keep that fd */
	unsigned nfds;
};

/*
 * Return 0 to go on, negative to stop receiving and fail with that value,
 * or TP_PAUSE to leave this message (and its fds, untouched) in the
 * buffer: it is offered again by the next tp_recv(), which reads
 * nothing from the socket until the consumer stops pausing.
 */
#define TP_PAUSE 1
typedef int (*tp_deliver_fn)(void *opaque, struct tp_msg *m);

struct tp_rx_fds {
	uint64_t owner; /* stream offset of the message they came with */
	unsigned nfds;
	int fds[TP_MAX_FDS];
};

struct tp_tx_fds {
	uint64_t off; /* stream offset of the message start */
	size_t len;   /* of the message, which ends its sendmsg() */
	unsigned nfds;
	int fds[TP_MAX_FDS];
};

/* Data sent from where it lies instead of from the send buffer. */
struct tp_tx_ext {
	uint64_t pos;       /* stream offset of the buffer byte it follows */
	const uint8_t *p;   /* the next byte to send */
	size_t left;
	const void *tag;    /* the owner's, for tp_ext_detach() */
	uint8_t *owned;     /* a detached copy, freed when sent */
};

/* The body of a message being received straight into its destination. */
struct tp_rx_direct {
	uint8_t *dst;   /* NULL: none */
	size_t skip;    /* message bytes kept in the buffer (header, fixed part) */
	size_t got, want; /* body bytes in dst / expected */
	uint32_t size;  /* the message's msg_size */
	bool cancelled; /* the destination went away: bytes are dropped */
};

/*
 * A consumer may take the body of a large message (at least
 * TP_DIRECT_MIN bytes) straight into memory of its own instead of
 * having it pass through the receive buffer.  The sink is offered the
 * first `have` bytes (at least the header) of an incomplete message; it
 * returns where message bytes [*skip, msg_size) go, or NULL to receive it
 * the usual way.  *skip must be >= UVFIO_HDR_SIZE and <= have.  The
 * message is then delivered with buf holding its first *skip bytes, size
 * *skip, direct the destination and direct_size its msg_size.
 */
#define TP_DIRECT_MIN (64u << 10)
typedef void *(*tp_sink_fn)(void *opaque, const uint8_t *msg,
				  size_t have, size_t *skip);

struct tp {
	int fd;
	uint32_t max_msg_size; /* larger headers fail the connection */
	unsigned max_fds;      /* fds accepted with one message */
	size_t tx_limit;       /* bytes queued before reserve says -ENOBUFS */
	const char *why;       /* explanation of the last failure */

	/* receive */
	uint8_t *rx;
	size_t rx_cap, rx_start, rx_end;
	uint64_t rx_base; /* stream offset of rx[0] */
	bool rx_paused; /* the consumer paused on the message at rx_start */
	/* fds received and not yet delivered, oldest first, each with the
	 * stream offset of its message; see rx_attribute_fds */
	struct tp_rx_fds rx_fdq[TP_RX_FDSETS];
	unsigned rx_nfdq;

	/* send */
	uint8_t *tx;
	size_t tx_cap, tx_start, tx_end, tx_reserved;
	uint64_t tx_base; /* stream offset of tx[0] */
	struct tp_tx_fds *txq; /* ring of TP_TX_FD_MSGS */
	unsigned txq_head, txq_len;
	struct tp_tx_ext *txe; /* ring of TP_TX_EXTS */
	unsigned txe_head, txe_len;
	size_t txe_bytes;         /* not yet sent */

	/* direct receive (tp_set_sink) */
	tp_sink_fn sink;
	struct tp_rx_direct direct;

	/* statistics, for tests and benchmarks */
	uint64_t n_recvmsg, n_sendmsg, n_rx_msgs;
	uint64_t n_rx_direct, n_tx_ext; /* bodies received / sent in place */
};

int tp_init(struct tp *tp, int fd);
/* Close the fds of fds[0..n) that are not -1, and set them to -1. */
void tp_close_fds(int *fds, unsigned n);
/* Closes the socket and every fd still held. */
void tp_fini(struct tp *tp);

/*
 * Read what is available (non-blocking) and deliver every complete message.
 * Returns the number of messages delivered (0 if none was complete),
 * -ECONNRESET when the peer closed, or another negative errno on a protocol
 * or socket error (tp->why says which).  Stops early when the callback
 * returns non-zero.
 */
int tp_recv(struct tp *tp, tp_deliver_fn fn, void *opaque);

/*
 * Room for a message of len bytes at the end of the send queue, or NULL with
 * errno: ENOBUFS when the queue would exceed tx_limit, EMSGSIZE when len
 * does not fit a message's 32-bit size, EBUSY when a reservation is already
 * open.  Only one reservation at a time.
 */
void *tp_reserve(struct tp *tp, size_t len);

/*
 * Queue the reserved message, len bytes (<= reserved) and nfds fds that
 * travel with its first byte.  The fds are duplicated: the caller keeps its
 * own.  Returns 0 or -errno.
 */
int tp_commit(struct tp *tp, size_t len, const int *fds,
		    unsigned nfds);

/* Drop the reservation without queueing anything. */
static inline void tp_cancel(struct tp *tp)
{
	tp->tx_reserved = 0;
}

/*
 * Queue the reserved message as its first len bytes followed by ext_len
 * bytes sent from ext where they lie (the header's msg_size counts both).
 * No copy is made: ext must stay valid and unchanged until
 * tp_ext_busy(tp, tag) is false, or until tp_ext_detach(tp,
 * tag) (which copies what is left) or tp_fini().  No fds.  -ENOBUFS
 * when TP_TX_EXTS are queued already (copy instead).
 */
#define TP_TX_EXTS 64u
int tp_commit_ext(struct tp *tp, size_t len, const void *ext,
			size_t ext_len, const void *tag);
/* The same, for a message whose last `tail` reserved bytes go after the
 * outside data (QEMU's DMA_WRITE has 4 bytes after its data). */
int tp_commit_ext_tail(struct tp *tp, size_t len, const void *ext,
			     size_t ext_len, size_t tail, const void *tag);
/* Some data of tag (NULL: of anyone) is still to be sent from its place. */
bool tp_ext_busy(const struct tp *tp, const void *tag);
/* Copy what is left of tag's (NULL: everyone's) data, so its memory may go.
 * -ENOMEM: the copy failed, nothing changed. */
int tp_ext_detach(struct tp *tp, const void *tag);

/* Install the direct-receive sink (NULL: none). */
void tp_set_sink(struct tp *tp, tp_sink_fn sink);
/* The memory [p, p + len) is going away: if a message is being received
 * into it, the rest of its bytes are dropped and it is delivered with
 * direct NULL.  Returns true if that happened. */
bool tp_direct_cancel(struct tp *tp, const void *p, size_t len);

/* Reserve + copy + commit. */
int tp_send(struct tp *tp, const void *msg, size_t len,
		  const int *fds, unsigned nfds);

/* Send what is queued.  0: all sent; -EAGAIN: socket full, call again when
 * writable; other -errno: connection failed. */
int tp_flush(struct tp *tp);

/*
 * A stash holds received messages (bytes and fds) taken out of one
 * transport to be given back to another later, in order.  The server uses
 * it when it must read the socket while a command is being handled: what
 * arrives is stashed, then handed to the main transport once the handler
 * returns (a receive buffer cannot move while a handler looks into it).
 */
struct tp_stash {
	uint8_t *buf;
	size_t len, cap, limit;
	struct tp_rx_fds fdq[TP_RX_FDSETS]; /* owner: offset in buf */
	unsigned nfdq;
};

/* Copy a delivered message in, taking its fds (m->fds entries become -1).
 * -ENOBUFS past st->limit bytes (0: 8 MiB) or TP_RX_FDSETS fd sets. */
int tp_stash_msg(struct tp_stash *st, struct tp_msg *m);
/* Move what `from` received but did not deliver (a partial message). */
int tp_stash_rest(struct tp_stash *st, struct tp *from);
/* Append the stash after everything `to` has buffered, as if just read,
 * and empty it.  May move to's receive buffer: not while a message of
 * `to` is being looked at. */
int tp_unstash(struct tp *to, struct tp_stash *st);
void tp_stash_free(struct tp_stash *st);

/* A complete message is waiting in the receive buffer. */
bool tp_rx_ready(const struct tp *tp);

static inline size_t tp_tx_pending(const struct tp *tp)
{
	return tp->tx_end - tp->tx_start + tp->txe_bytes;
}

/* Bytes of a partially received message (0 between messages). */
static inline size_t tp_rx_pending(const struct tp *tp)
{
	return tp->rx_end - tp->rx_start;
}

#endif
