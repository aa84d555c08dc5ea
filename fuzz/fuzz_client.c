/* SPDX-License-Identifier: MIT */
/*
 * fuzz_client: the client's receive path (replies and server-to-client
 * DMA commands), through a real socket whose other end the fuzzer plays.
 *
 * The harness is the server: it answers VERSION (well, with a twin
 * socket, with raw fuzzer bytes, or with an error), then runs operations
 * the input chooses: the client queues asynchronous region reads and
 * writes, posted writes and WRITE_MULTI; the harness answers the oldest
 * request correctly, with one byte changed, with an error or with raw
 * bytes; sends DMA_READ/DMA_WRITE into the client's windows (or outside
 * them); the client processes; or the client makes a synchronous call
 * whose reply the harness has written beforehand (or not: then the short
 * request timeout ends it).  Nothing blocks for more than that timeout.
 *
 * Invariants: every command the client sends parses as a server would
 * parse it; its replies to DMA commands echo id, command, address and
 * count and carry exactly the data asked for; every asynchronous request
 * accepted completes exactly once (by destroy at the latest); after
 * destroy the process has exactly the fds it had before.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "fuzz.h"

#define RXCAP (4u << 20)
#define MAXQ 8192
#define WIN_SIZE (64u << 10)

struct req {
	struct uvfio_hdr hdr;
	uint32_t index, count, argsz;
	uint64_t addr;
};

struct h {
	struct uvfio_client *c;
	int fd;   /* our end of the main socket */
	int twin; /* our end of the twin socket, or -1 */
	struct fz_rx rx[2];
	uint32_t srv_xfer; /* what we told the client */
	/* client commands waiting for our reply, oldest first */
	struct req q[MAXQ];
	unsigned q_head, q_len;
	int last_id;
	/* our DMA commands waiting for the client's reply */
	struct uvfio_expect dq[MAXQ];
	unsigned dq_head, dq_len;
	uint16_t dma_id;
	bool dq_unsure;  /* raw bytes went out: DMA replies cannot be matched */
	bool skip;       /* a synchronous call's request, answered already */
	uint16_t skip_id;
	int outstanding; /* async requests whose done has not run */
	uint8_t *win;    /* message-only DMA window memory */
	bool win_mapped;
	uint8_t *rbuf;   /* async read destination */
};

static struct h H;

/* The library's log, shown with FUZZ_VERBOSE=1 when replaying. */
static void quiet(void *opaque, int level, const char *msg)
{
	static int verbose = -1;
	(void)opaque;
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "[%d] %s\n", level, msg);
}

static void done_cb(void *opaque, int result)
{
	(void)result;
	FZ_CHECK(opaque == &H);
	FZ_CHECK(H.outstanding > 0);
	H.outstanding--;
}

static void put(int fd, const void *b, size_t n, const int *fds,
		unsigned nfds)
{
	size_t off = 0;
	for (int tries = 0; off < n && tries < 100; tries++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(4 * sizeof(int))];
		} cm;
		struct iovec iov = { (uint8_t *)b + off, n - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (nfds && off == 0) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.b;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
		}
		ssize_t w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			return;
		else
			(void)uvfio_client_process(H.c); /* let it read */
	}
}

/* A command of the client: must be what a server accepts. */
static void client_command(const uint8_t *m, uint32_t size, unsigned nfds)
{
	struct uvfio_cmd_view v;
	const struct uvfio_limits lim = { 1u << 20, 16, true };
	int r = uvfio_parse_command(m, size, nfds, UVFIO_ROLE_SERVER, &lim, &v);
	if (r) {
		fprintf(stderr, "client sent a malformed %s: %s\n",
			uvfio_cmd_name(v.hdr.cmd), v.why);
		abort();
	}
	if (v.hdr.cmd == UVFIO_CMD_REGION_READ ||
	    v.hdr.cmd == UVFIO_CMD_REGION_WRITE)
		FZ_CHECK(v.u.region_rw.req.count <= H.srv_xfer);
	H.last_id = v.hdr.msg_id;
	if (v.hdr.flags & UVFIO_F_NO_REPLY)
		return;
	if (H.skip && v.hdr.msg_id == H.skip_id) {
		H.skip = false;
		return;
	}
	FZ_CHECK(H.q_len < MAXQ);
	struct req *q = &H.q[(H.q_head + H.q_len++) % MAXQ];
	memset(q, 0, sizeof(*q));
	q->hdr = v.hdr;
	switch (v.hdr.cmd) {
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		q->index = v.u.region_rw.req.region;
		q->addr = v.u.region_rw.req.offset;
		q->count = v.u.region_rw.req.count;
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		q->index = v.u.region_info.index;
		q->argsz = v.u.region_info.argsz;
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		q->index = v.u.irq_info.index;
		break;
	case UVFIO_CMD_DMA_UNMAP:
		q->argsz = v.u.dma_unmap.req.argsz;
		q->addr = v.u.dma_unmap.req.addr;
		q->count = (uint32_t)v.u.dma_unmap.req.size;
		break;
	}
}

/* The client's reply to one of our DMA commands. */
static void client_reply(const uint8_t *m, uint32_t size, unsigned nfds)
{
	struct uvfio_reply_view v;
	if (H.dq_unsure)
		return;
	FZ_CHECK(H.dq_len > 0);
	struct uvfio_expect *e = &H.dq[H.dq_head];
	H.dq_head = (H.dq_head + 1) % MAXQ;
	H.dq_len--;
	if (uvfio_parse_reply(m, size, nfds, e, &v)) {
		fprintf(stderr, "client reply to our %s does not parse: %s\n",
			uvfio_cmd_name(e->cmd), v.why);
		abort();
	}
}

static void on_msg(void *opaque, const uint8_t *m, uint32_t size, int *fds,
		   unsigned nfds)
{
	struct uvfio_hdr hd;
	(void)fds;
	memcpy(&hd, m, sizeof(hd));
	if ((hd.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY) {
		client_reply(m, size, nfds);
	} else {
		FZ_CHECK(opaque == NULL); /* commands only on the main socket */
		client_command(m, size, nfds);
	}
}

/* Read what the client sent on main (0) or twin (1). */
static void drain(int which)
{
	int fd = which ? H.twin : H.fd;
	if (fd >= 0)
		(void)fz_rx_read(&H.rx[which], fd, on_msg,
				 which ? (void *)&H : NULL);
}

static void drain_all(void)
{
	drain(0);
	drain(1);
}

/* Reply to the oldest client command: how 0 correct, 1 one byte changed,
 * 2 error, 3 header with the right id and fuzzer payload. */
static void answer(struct fz *f, unsigned how)
{
	if (!H.q_len)
		return;
	struct req *q = &H.q[H.q_head];
	H.q_head = (H.q_head + 1) % MAXQ;
	H.q_len--;
	uint16_t id = q->hdr.msg_id, cmd = q->hdr.cmd;
	size_t cap = UVFIO_HDR_SIZE + 256 + q->count;
	uint8_t *m = calloc(1, cap);
	ssize_t n = -1;
	int fd = -1;
	if (!m)
		abort();
	if (how == 2) {
		n = uvfio_build_error(m, cap, id, cmd, fz_u8(f));
	} else if (how == 3) {
		size_t got;
		const uint8_t *p = fz_bytes(f, fz_u8(f), &got);
		n = uvfio_build_reply(m, cap, id, cmd, p, got, NULL, 0);
	} else {
		switch (cmd) {
		case UVFIO_CMD_DEVICE_GET_INFO:
			n = uvfio_build_device_info_reply(m, cap, id,
							  UVFIO_DEV_PCI |
								  UVFIO_DEV_RESET,
							  9, 5);
			break;
		case UVFIO_CMD_DEVICE_GET_REGION_INFO: {
			/* uvfio_cap_sparse_mmap's fixed part spelled
			 * out: its flexible array may not be nested */
			struct {
				struct {
					struct uvfio_cap_hdr hdr;
					uint32_t nr_areas, reserved;
				} __attribute__((packed)) s;
				struct uvfio_sparse_area a[2];
			} __attribute__((packed)) caps = {
				.s = { .hdr = { UVFIO_CAP_SPARSE_MMAP, 1, 0 },
				       .nr_areas = 2 },
				.a = { { 0, 4096 }, { 8192, fz_u16(f) } },
			};
			uint8_t kind = fz_u8(f);
			struct uvfio_region_info ri = {
				.index = q->index,
				.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
					 (kind & 1 ? UVFIO_REGION_MMAP : 0),
				.size = 1u << (12 + (kind >> 4)),
			};
			bool complete = false;
			n = uvfio_build_region_info_reply(
				m, cap, id, &ri, kind & 2 ? &caps : NULL,
				kind & 2 ? sizeof(caps) : 0, q->argsz,
				&complete);
			if (complete && (kind & 1)) {
				fd = memfd_create("fuzz-region", MFD_CLOEXEC);
				if (fd < 0 || ftruncate(fd, 1 << 16))
					abort();
			}
			break;
		}
		case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
			n = uvfio_build_irq_info_reply(m, cap, id, q->index,
						       UVFIO_IRQ_INFO_EVENTFD,
						       fz_u8(f) % 9);
			break;
		case UVFIO_CMD_REGION_READ:
			n = uvfio_build_region_read_reply(m, cap, id, q->index,
							  q->addr, NULL,
							  q->count);
			break;
		case UVFIO_CMD_REGION_WRITE:
			n = uvfio_build_region_write_reply(m, cap, id, q->index,
							   q->addr, q->count);
			break;
		case UVFIO_CMD_DMA_UNMAP: {
			struct uvfio_dma_unmap u = {
				.argsz = sizeof(u), .addr = q->addr,
				.size = q->count,
			};
			n = uvfio_build_reply(m, cap, id, cmd, &u, sizeof(u),
					      NULL, 0);
			break;
		}
		default:
			n = uvfio_build_reply(m, cap, id, cmd, NULL, 0, NULL, 0);
			break;
		}
		if (how == 1 && n > 0) {
			uint16_t at = fz_u16(f);
			m[at % n] ^= (uint8_t)(fz_u8(f) | 1);
			H.dq_unsure = true; /* it may read as a command now */
		}
	}
	if (n > 0)
		put(H.fd, m, (size_t)n, &fd, fd >= 0 ? 1 : 0);
	if (fd >= 0)
		close(fd);
	free(m);
}

static void answer_all(void)
{
	struct fz none = { NULL, 0 };
	drain_all();
	while (H.q_len) {
		answer(&none, 0);
		(void)uvfio_client_process(H.c);
		drain_all();
	}
}

/* A DMA command from the "server", main socket or twin. */
static void send_dma(struct fz *f)
{
	uint8_t b = fz_u8(f);
	bool is_write = b & 1;
	uint64_t addr = b & 2 ? fz_u64(f) : 0x10000u + (uint64_t)fz_u16(f);
	uint32_t count = fz_u16(f) % 8192;
	size_t cap = UVFIO_HDR_SIZE + 16 + count;
	uint8_t *m = calloc(1, cap);
	if (!m)
		abort();
	uint16_t id = H.dma_id++;
	ssize_t n = is_write ? uvfio_build_dma_write(m, cap, id, addr, NULL, count)
			     : uvfio_build_dma_read(m, cap, id, addr, count);
	FZ_CHECK(n > 0);
	if (H.dq_len < MAXQ) {
		struct uvfio_expect *e = &H.dq[(H.dq_head + H.dq_len++) % MAXQ];
		*e = (struct uvfio_expect){
			.cmd = is_write ? UVFIO_CMD_DMA_WRITE : UVFIO_CMD_DMA_READ,
			.msg_id = id, .count = count, .addr = addr,
		};
	}
	put(H.twin >= 0 ? H.twin : H.fd, m, (size_t)n, NULL, 0);
	free(m);
}

/* The VERSION reply, written before the client connects. */
static void version_reply(struct fz *f, uint8_t flags, int *twin_out)
{
	uint8_t m[UVFIO_HDR_SIZE + 4 + UVFIO_MAX_JSON_LEN];
	char json[512];
	ssize_t n;
	unsigned kind = (flags >> 1) & 3;
	int tw[2] = { -1, -1 };
	static const uint32_t xfers[4] = { 1u << 20, 4096, 16, 1u << 30 };

	H.srv_xfer = xfers[(flags >> 3) & 3];
	if (kind == 3) {
		n = uvfio_build_error(m, sizeof(m), 0, UVFIO_CMD_VERSION, EINVAL);
	} else if (kind == 2) {
		size_t got;
		const uint8_t *p = fz_bytes(f, fz_u16(f) % 600, &got);
		n = uvfio_build_reply(m, sizeof(m), 0, UVFIO_CMD_VERSION, p, got,
				      NULL, 0);
		H.srv_xfer = 1u << 30; /* unknown: no check */
	} else {
		snprintf(json, sizeof(json),
			 "{\"capabilities\":{\"max_msg_fds\":%u,"
			 "\"max_data_xfer_size\":%u,\"write_multiple\":%s,"
			 "\"max_dma_maps\":%u%s}}",
			 fz_u8(f) % 20, H.srv_xfer, flags & 0x20 ? "true" : "false",
			 fz_u8(f) % 8 + 1,
			 kind == 1 ? ",\"twin_socket\":{\"supported\":true,"
				     "\"fd_index\":0}"
				   : "");
		n = uvfio_build_version(m, sizeof(m), 0, true, 0,
					(uint16_t)(fz_u8(f) % 4), json);
	}
	if (kind == 1 &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       tw))
		abort();
	put(H.fd, m, (size_t)n, &tw[1], kind == 1 ? 1 : 0);
	if (tw[1] >= 0)
		close(tw[1]);
	*twin_out = tw[0];
}

static void sync_call(struct fz *f)
{
	uint8_t op = fz_u8(f);
	uint8_t how = fz_u8(f);
	answer_all();
	/* Reply in advance to the request the call is about to send, unless
	 * the input wants the timeout. */
	uint16_t id = (uint16_t)(H.last_id + 1);
	static const uint16_t cmds[8] = {
		UVFIO_CMD_DEVICE_GET_INFO, UVFIO_CMD_DEVICE_GET_REGION_INFO,
		UVFIO_CMD_DEVICE_GET_IRQ_INFO, UVFIO_CMD_DEVICE_RESET,
		UVFIO_CMD_REGION_READ, UVFIO_CMD_DMA_MAP, UVFIO_CMD_DMA_UNMAP,
		UVFIO_CMD_DEVICE_SET_IRQS,
	};
	if (how & 1) {
		struct req q = { .hdr = { .msg_id = id, .cmd = cmds[op & 7] } };
		q.index = fz_u8(f) % 10;
		q.argsz = 32;
		q.count = 8;
		H.q[(H.q_head + H.q_len++) % MAXQ] = q;
		answer(f, (how >> 1) & 3);
		H.skip = true;
		H.skip_id = id;
	}
	union {
		struct uvfio_device_info di;
		struct uvfio_region_info ri;
		struct uvfio_irq_info ii;
		uint8_t b[8];
	} u;
	unsigned index = fz_u8(f) % 10;
	int efds[4];
	switch (op & 7) {
	case 0:
		(void)uvfio_client_get_device_info(H.c, &u.di);
		break;
	case 1:
		if (how & 0x80)
			(void)uvfio_client_region_caps(H.c, index);
		else
			(void)uvfio_client_get_region_info(H.c, index, &u.ri);
		break;
	case 2:
		(void)uvfio_client_get_irq_info(H.c, index, &u.ii);
		break;
	case 3:
		(void)uvfio_client_reset(H.c);
		break;
	case 4:
		(void)uvfio_client_region_read(H.c, index, fz_u16(f), u.b, 8);
		break;
	case 5:
		if (!H.win_mapped &&
		    !uvfio_client_dma_map(H.c, 0x10000, WIN_SIZE,
					  UVFIO_DMA_MAP_READ |
						  UVFIO_DMA_MAP_WRITE,
					  H.win, -1, 0))
			H.win_mapped = true;
		break;
	case 6:
		if (H.win_mapped &&
		    !uvfio_client_dma_unmap(H.c, 0x10000, WIN_SIZE))
			H.win_mapped = false;
		break;
	case 7:
		if (!uvfio_client_irq_enable(H.c, index % 5, 0, 1 + (how >> 6),
					     efds))
			for (unsigned i = 0; i < 1u + (how >> 6); i++)
				close(efds[i]);
		break;
	}
	drain_all();
}

static void async_op(struct fz *f, uint8_t op)
{
	unsigned index = fz_u8(f) % 10;
	uint64_t off = fz_u16(f);
	size_t len = fz_u16(f) % 8192;
	int r = -1;
	uint8_t data[8192];
	/* counted first: done may run before the call returns */
	H.outstanding++;
	memset(data, 0x5a, len);
	switch (op) {
	case 0:
		r = uvfio_client_region_read_async(H.c, index, off, H.rbuf, len,
						   done_cb, &H);
		break;
	case 1:
		r = uvfio_client_region_write_async(H.c, index, off, data, len,
						    done_cb, &H);
		break;
	case 2:
		(void)uvfio_client_region_write_posted(H.c, index, off, data,
						       len);
		break;
	case 3: {
		struct uvfio_write_multi_entry e[4];
		unsigned n = 1 + (len & 3);
		memset(e, 0, sizeof(e));
		for (unsigned i = 0; i < n; i++) {
			e[i].region = index;
			e[i].offset = off + 8 * i;
			e[i].count = (uint32_t)(1 + (fz_u8(f) % 9));
		}
		(void)uvfio_client_region_write_multi(H.c, e, n);
		break;
	}
	}
	if (r != 0)
		H.outstanding--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int sv[2];

	if (!H.rx[0].buf) {
		H.rx[0].buf = malloc(RXCAP);
		H.rx[1].buf = malloc(RXCAP);
		H.rx[0].cap = H.rx[1].cap = RXCAP;
		H.win = malloc(WIN_SIZE);
		H.rbuf = malloc(8192);
		if (!H.rx[0].buf || !H.rx[1].buf || !H.win || !H.rbuf)
			abort();
	}
	int fds_before = fz_count_fds();
	fz_rx_close_all(&H.rx[0]);
	fz_rx_close_all(&H.rx[1]);
	H.q_head = H.q_len = H.dq_head = H.dq_len = 0;
	H.last_id = 0;
	H.dma_id = 0;
	H.outstanding = 0;
	H.win_mapped = false;
	H.dq_unsure = H.skip = false;
	H.twin = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	H.fd = sv[0];
	fcntl(H.fd, F_SETFL, O_NONBLOCK);
	if (uvfio_client_create(&H.c))
		abort();
	uvfio_client_set_log(H.c, quiet, NULL, UVFIO_LOG_DEBUG);
	uvfio_client_set_timeout(H.c, 2);

	uint8_t flags = fz_u8(&f);
	uvfio_client_set_twin_socket(H.c, flags & 1);
	version_reply(&f, flags, &H.twin);
	if (uvfio_client_adopt_fd(H.c, sv[1]) == 0) {
		drain_all(); /* the VERSION request */
		H.q_len = 0;
		if (H.twin >= 0 && !uvfio_client_has_twin_socket(H.c)) {
			close(H.twin);
			H.twin = -1;
		}
	} else if (H.twin >= 0) {
		close(H.twin);
		H.twin = -1;
	}

	for (unsigned steps = 0; steps < 200 && !fz_empty(&f); steps++) {
		uint8_t op = fz_u8(&f);
		switch (op % 10) {
		case 0:
		case 1:
		case 2:
		case 3:
			async_op(&f, op % 10);
			break;
		case 4: {
			size_t got;
			const uint8_t *p = fz_bytes(&f, fz_u16(&f) % 4096, &got);
			int fd = -1;
			if (op & 0x80)
				fd = eventfd(0, EFD_CLOEXEC);
			put(op & 0x40 && H.twin >= 0 ? H.twin : H.fd, p, got,
			    &fd, fd >= 0 ? 1 : 0);
			H.dq_unsure = true;
			if (fd >= 0)
				close(fd);
			break;
		}
		case 5:
			drain_all();
			answer(&f, (op >> 4) & 3);
			break;
		case 6:
			send_dma(&f);
			break;
		case 7:
			(void)uvfio_client_process(H.c);
			drain_all();
			break;
		case 8:
			sync_call(&f);
			break;
		case 9:
			(void)uvfio_client_next_timeout(H.c);
			(void)uvfio_client_region_mmap(H.c, fz_u8(&f) % 10,
						       &(void *){ NULL });
			break;
		}
	}
	(void)uvfio_client_process(H.c);
	drain_all();
	uvfio_client_destroy(H.c);
	H.c = NULL;
	FZ_CHECK(H.outstanding == 0);
	close(H.fd);
	if (H.twin >= 0)
		close(H.twin);
	fz_rx_close_all(&H.rx[0]);
	fz_rx_close_all(&H.rx[1]);
	fz_check_fds(fds_before);
	return 0;
}
