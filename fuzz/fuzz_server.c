/* SPDX-License-Identifier: MIT */
/*
 * fuzz_server: the server's whole receive path, through a real socket.
 *
 * A device with most of what the library offers (callback, I/O, memory
 * and device-specific regions, MSI, MSI-X in a BAR, INTx, an ioeventfd,
 * DMA started by a register write) is served on one end of a
 * socketpair(AF_UNIX, SOCK_STREAM); the harness is the client on the
 * other end and the server is stepped with uvfio_server_process().
 *
 * Input: a flags byte (bit 0: the harness sends a VERSION first, bits 1-2
 * choose its JSON), then chunks: a control byte, a 16-bit length, data.
 * Control bits: 0-1 number of fds attached (SCM_RIGHTS), 2 memfd (64 KiB)
 * rather than eventfd, 3 set msg_size to the chunk length, 4 set msg_id
 * to a counter, 5 read replies now, 6 answer the server's DMA requests
 * now (bit 7: with an error), and the chunk is sent in two writes when
 * its length is odd.
 *
 * Invariants: replies come in the order of the commands that expect one
 * (same id and command); each parses with uvfio_parse_reply() against
 * what its command asked (so a reply never exceeds the command's argsz,
 * region reads return at most count bytes, fds only where allowed); the
 * server's own DMA commands parse; uvfio_server_process() never fails;
 * after close and destroy the process has exactly the fds it had before,
 * and ASan sees no leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/codec.h>
#include <uvfio/server.h>

#include "fuzz.h"

/* ---- the device ----------------------------------------------------------- */

#define BAR0_SIZE 4096u
#define BAR2_SIZE (64u << 10)
#define DMA_BUF 4096u

struct dev {
	struct uvfio_server *srv;
	uint8_t regs[0x40];
	uint8_t dma[DMA_BUF];
	bool busy;
	unsigned resets, maps;
};

static uint32_t reg32(const struct dev *d, unsigned off)
{
	uint32_t v;
	memcpy(&v, d->regs + off, 4);
	return v;
}

static void dma_done(void *opaque, int result)
{
	struct dev *d = opaque;
	d->busy = false;
	memcpy(d->regs + 0x18, &result, 4);
	if (reg32(d, 0x1c))
		(void)uvfio_server_irq_trigger(d->srv, UVFIO_PCI_MSIX_IRQ, 0);
}

/* BAR0: 0x00 iova, 0x08 len, 0x10 dir, 0x14 go, 0x18 status, 0x1c irq,
 * 0x20 raise irq (index in bits 0-2, vector in bits 8-15). */
static ssize_t bar0_fn(void *opaque, unsigned index, uint64_t off, void *buf,
		       size_t count, bool is_write)
{
	struct dev *d = opaque;
	(void)index;
	if (off >= sizeof(d->regs) || count > sizeof(d->regs) - off) {
		if (!is_write)
			memset(buf, 0xee, count);
		return (ssize_t)count;
	}
	if (!is_write) {
		memcpy(buf, d->regs + off, count);
		return (ssize_t)count;
	}
	memcpy(d->regs + off, buf, count);
	if (off <= 0x14 && off + count > 0x14 && reg32(d, 0x14) && !d->busy) {
		uint64_t iova;
		uint32_t len = reg32(d, 0x08) % (DMA_BUF + 1);
		memcpy(&iova, d->regs, 8);
		int r = reg32(d, 0x10) & 1
				? uvfio_server_dma_write_async(d->srv, iova, d->dma,
							       len, dma_done, d)
				: uvfio_server_dma_read_async(d->srv, iova, d->dma,
							      len, dma_done, d);
		if (r == 0)
			d->busy = true;
		else
			memcpy(d->regs + 0x18, &r, 4);
	}
	if (off <= 0x20 && off + count > 0x20) {
		uint32_t v = reg32(d, 0x20);
		(void)uvfio_server_irq_trigger(d->srv, v & 7, (v >> 8) & 0xff);
	}
	if (off == 0x24 && count == 4 && reg32(d, 0x24) == 0xdead)
		return -EIO; /* a device error, sent back as the reply's */
	return (ssize_t)count;
}

/* I/O BAR, ROM and the device-specific region: a pattern, writes vanish. */
static ssize_t misc_fn(void *opaque, unsigned index, uint64_t off, void *buf,
		       size_t count, bool is_write)
{
	(void)opaque;
	if (!is_write)
		for (size_t i = 0; i < count; i++)
			((uint8_t *)buf)[i] = (uint8_t)(off + i + index);
	return (ssize_t)count;
}

static int dev_reset(void *opaque, enum uvfio_reset_reason why)
{
	struct dev *d = opaque;
	d->resets++;
	if (why == UVFIO_RESET_CLIENT && d->busy)
		return -EBUSY;
	memset(d->regs, 0, sizeof(d->regs));
	return 0;
}

static void dev_map(void *opaque, uint64_t iova, uint64_t size, uint32_t prot)
{
	struct dev *d = opaque;
	(void)iova, (void)size, (void)prot;
	d->maps++;
}

static void dev_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	(void)opaque, (void)iova, (void)size;
}

static void dev_mask(void *opaque, unsigned index, uint32_t start,
		     uint32_t count, bool masked)
{
	(void)opaque, (void)index, (void)start, (void)count, (void)masked;
}

static const struct uvfio_device_ops dev_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = dev_reset,
	.dma_map = dev_map,
	.dma_unmap = dev_unmap,
	.irq_mask = dev_mask,
};

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

static int dev_create(struct dev *d, int fd)
{
	static const struct uvfio_sparse_area sparse[] = {
		{ 0, 16u << 10 }, { 32u << 10, 16u << 10 },
	};
	const struct uvfio_pci_ids ids = {
		.vendor = 0x1234, .device = 0xf022, .class_code = 0x088000,
		.irq_pin = 1,
	};
	const struct uvfio_region_desc bar0 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR0_SIZE, .flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
		.fn = bar0_fn, .opaque = d,
	};
	const struct uvfio_region_desc bar1 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = 256, .flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
				      UVFIO_REGION_IO,
		.fn = misc_fn, .opaque = d,
	};
	const struct uvfio_region_desc bar2 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = BAR2_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			 UVFIO_REGION_MEM | UVFIO_REGION_64BIT |
			 UVFIO_REGION_PREFETCH,
		.sparse = sparse, .nr_sparse = 2,
	};
	const struct uvfio_region_desc rom = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = 4096, .flags = UVFIO_REGION_READ, .fn = misc_fn,
	};
	const struct uvfio_region_desc spec = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = 4096, .flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
		.fn = misc_fn, .type = 3, .subtype = 1,
	};
	static const uint8_t vendor[4] = { 1, 2, 3, 4 };
	int r;

	memset(d, 0, sizeof(*d));
	r = uvfio_server_create_fd(&d->srv, fd, UVFIO_SERVER_PCIE);
	if (r)
		return r;
	uvfio_server_set_log(d->srv, quiet, NULL, UVFIO_LOG_DEBUG);
	if ((r = uvfio_server_set_pci_ids(d->srv, &ids)) ||
	    (r = uvfio_server_add_region(d->srv, 0, &bar0)) ||
	    (r = uvfio_server_add_region(d->srv, 1, &bar1)) ||
	    (r = uvfio_server_add_region(d->srv, 2, &bar2)) ||
	    (r = uvfio_server_add_region(d->srv, UVFIO_PCI_ROM, &rom)) ||
	    (r = uvfio_server_add_region(d->srv, 9, &spec)) ||
	    (r = uvfio_server_pci_add_pm(d->srv)) < 0 ||
	    (r = uvfio_server_pci_add_msi(d->srv, 4, true)) < 0 ||
	    (r = uvfio_server_pci_add_msix(d->srv, 8, 0, 0x800, 0, 0xc00)) < 0 ||
	    (r = uvfio_server_pci_add_pcie(d->srv, 0)) < 0 ||
	    (r = uvfio_server_pci_add_vendor(d->srv, vendor, 4)) < 0 ||
	    (r = uvfio_server_pci_add_dsn(d->srv, 0x1122334455667788ull)) < 0)
		goto fail;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		abort();
	r = uvfio_server_add_ioeventfd(d->srv, 0, 0x100, 4, efd, true, 7);
	close(efd);
	if (r)
		goto fail;
	if ((r = uvfio_server_set_ops(d->srv, &dev_ops, d)))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "fuzz_server: device setup failed: %s\n", strerror(-r));
	abort();
}

/* ---- the harness's client end ------------------------------------------- */

struct expect_ent {
	struct uvfio_expect e;
	bool qemu; /* VERSION: the request looks like QEMU's */
};

#define MAXQ 4096
#define RXCAP (2u << 20)

struct h {
	int fd;      /* our end */
	int twin;    /* twin socket from the VERSION reply, or -1 */
	bool qemu;   /* negotiated with a QEMU-like VERSION */
	bool desync; /* sent a bad header: the stream means nothing now */
	uint16_t next_id;
	/* what we sent, reassembled into messages */
	uint8_t *tx;
	size_t tx_len;
	struct expect_ent q[MAXQ];
	unsigned q_head, q_len;
	/* what we received, on the main and twin sockets */
	struct fz_rx rx[2];
	unsigned replies;
};

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void expect_push(struct h *h, const uint8_t *m, uint32_t size)
{
	struct uvfio_hdr hd;
	struct expect_ent x = { 0 };
	memcpy(&hd, m, sizeof(hd));
	if ((hd.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY ||
	    (hd.flags & UVFIO_F_NO_REPLY))
		return;
	x.e.cmd = hd.cmd;
	x.e.msg_id = hd.msg_id;
	x.e.max_fds = 0;
	const uint8_t *p = m + UVFIO_HDR_SIZE;
	uint32_t len = size - UVFIO_HDR_SIZE;
	uint32_t w[5] = { 0 };
	memcpy(w, p, len < sizeof(w) ? len : sizeof(w));
	switch (hd.cmd) {
	case UVFIO_CMD_VERSION: {
		struct uvfio_caps c;
		uint16_t minor = (uint16_t)(w[0] >> 16);
		const char *json = len > 4 ? (const char *)p + 4 : NULL;
		x.e.max_fds = 1;
		if (json && json[len - 5] == 0 && strlen(json) + 5 == len &&
		    !uvfio_caps_parse(json, len - 4, &c, NULL))
			x.qemu = minor == 0 && !c.twin_socket &&
				 (c.present & UVFIO_CAP_HAS_WRITE_MULTIPLE) &&
				 (c.present & UVFIO_CAP_HAS_PGSIZES);
		break;
	}
	case UVFIO_CMD_DMA_UNMAP:
	case UVFIO_CMD_DEVICE_GET_INFO:
	case UVFIO_CMD_DEVICE_FEATURE:
		x.e.argsz = w[0];
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		x.e.argsz = w[0];
		x.e.index = w[2];
		x.e.max_fds = 1;
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		x.e.argsz = w[0];
		x.e.index = w[2];
		x.e.max_fds = 64;
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		x.e.argsz = w[0];
		x.e.index = w[2];
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		x.e.addr = (uint64_t)w[0] | (uint64_t)w[1] << 32;
		x.e.index = w[2];
		x.e.count = w[3];
		break;
	case UVFIO_CMD_MIG_DATA_READ:
		x.e.count = w[1];
		break;
	}
	FZ_CHECK(h->q_len < MAXQ);
	h->q[(h->q_head + h->q_len++) % MAXQ] = x;
}

/* Follow our own stream so replies can be matched to commands. */
static void track_sent(struct h *h, const uint8_t *b, size_t n)
{
	if (h->desync)
		return;
	if (h->tx_len + n > RXCAP) {
		h->desync = true;
		return;
	}
	memcpy(h->tx + h->tx_len, b, n);
	h->tx_len += n;
	size_t off = 0;
	while (h->tx_len - off >= UVFIO_HDR_SIZE) {
		struct uvfio_hdr hd;
		memcpy(&hd, h->tx + off, sizeof(hd));
		if (hd.msg_size < UVFIO_HDR_SIZE) {
			h->desync = true;
			return;
		}
		if (hd.msg_size > h->tx_len - off)
			break;
		expect_push(h, h->tx + off, hd.msg_size);
		off += hd.msg_size;
	}
	memmove(h->tx, h->tx + off, h->tx_len - off);
	h->tx_len -= off;
}

static int make_fd(bool memfd)
{
	if (!memfd)
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int fd = memfd_create("fuzz-dma", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, 64 << 10) < 0)
		abort();
	return fd;
}

/* Answer one DMA command of the server on socket `fd`. */
static void answer_dma(struct h *h, int fd, const uint8_t *m, uint32_t size,
		       bool fail)
{
	struct uvfio_cmd_view v;
	const struct uvfio_limits lim = { 1u << 20, 0, false };
	uint8_t out[UVFIO_HDR_SIZE + 16 + DMA_BUF + 8];
	ssize_t n;

	if (h->qemu) {
		/* QEMU's layout: {u64 addr; u32 count} + data, checked as
		 * QEMU does (hw/vfio-user/pci.c): at least 32 bytes, and a
		 * DMA_WRITE's count at most size - 32; the server sends
		 * exactly 32 + count */
		const enum uvfio_dma_layout Q = UVFIO_DMA_LAYOUT_QEMU;
		struct uvfio_hdr hd;
		struct uvfio_dma_rw_qemu q;
		memcpy(&hd, m, sizeof(hd));
		FZ_CHECK(size >= UVFIO_DMA_QEMU_MIN_MSG);
		memcpy(&q, m + UVFIO_HDR_SIZE, sizeof(q));
		FZ_CHECK(q.count <= DMA_BUF);
		if (hd.cmd == UVFIO_CMD_DMA_WRITE)
			FZ_CHECK(size == uvfio_dma_data_msg_size(Q, q.count));
		else
			FZ_CHECK(size == uvfio_dma_read_msg_size(Q));
		if (fail) {
			n = uvfio_build_error(out, sizeof(out), hd.msg_id,
					      hd.cmd, EFAULT);
		} else if (hd.cmd == UVFIO_CMD_DMA_READ) {
			n = uvfio_build_dma_read_reply_in(out, sizeof(out), Q,
							  hd.msg_id, q.addr,
							  NULL, q.count);
		} else {
			n = uvfio_build_dma_write_reply_in(out, sizeof(out), Q,
							   hd.msg_id, q.addr,
							   q.count);
		}
	} else {
		int r = uvfio_parse_command(m, size, 0, UVFIO_ROLE_CLIENT, &lim,
					    &v);
		if (r) {
			fprintf(stderr, "server sent a malformed DMA command: "
					"%s\n", v.why);
			abort();
		}
		FZ_CHECK(v.u.dma_rw.count <= DMA_BUF);
		if (fail)
			n = uvfio_build_error(out, sizeof(out), v.hdr.msg_id,
					      v.hdr.cmd, EFAULT);
		else if (v.hdr.cmd == UVFIO_CMD_DMA_READ)
			n = uvfio_build_dma_read_reply(out, sizeof(out),
						       v.hdr.msg_id,
						       v.u.dma_rw.addr, NULL,
						       v.u.dma_rw.count);
		else
			n = uvfio_build_dma_write_reply(out, sizeof(out),
							v.hdr.msg_id,
							v.u.dma_rw.addr,
							v.u.dma_rw.count);
	}
	FZ_CHECK(n > 0);
	if (fd == h->fd) {
		/* replies on the main socket are part of our stream */
		track_sent(h, out, (size_t)n);
	}
	size_t off = 0;
	for (int tries = 0; off < (size_t)n && tries < 1000; tries++) {
		ssize_t w = send(fd, out + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			return;
	}
}

/*
 * A command larger than the server takes ends the connection, after an
 * E2BIG reply to it: the only reply to a command not yet complete.
 */
static bool oversize_refused(struct h *h, const struct uvfio_hdr *r)
{
	struct uvfio_hdr c;
	if (!(r->flags & UVFIO_F_ERROR) || r->error_no != E2BIG ||
	    h->tx_len < UVFIO_HDR_SIZE)
		return false;
	memcpy(&c, h->tx, sizeof(c));
	if (c.msg_id != r->msg_id || c.cmd != r->cmd ||
	    c.msg_size <= UVFIO_HDR_SIZE + 4 + UVFIO_MAX_JSON_LEN)
		return false;
	h->desync = true;
	return true;
}

static void check_reply(struct h *h, const uint8_t *m, uint32_t size,
			int *fds, unsigned nfds)
{
	struct uvfio_reply_view v;
	struct uvfio_hdr hd;
	memcpy(&hd, m, sizeof(hd));
	if (h->desync)
		return;
	bool head_matches = h->q_len && h->q[h->q_head].e.msg_id == hd.msg_id &&
			    h->q[h->q_head].e.cmd == hd.cmd;
	if (!head_matches && oversize_refused(h, &hd))
		return;
	if (!h->q_len) {
		fprintf(stderr, "reply id %u cmd %u with no command waiting\n",
			hd.msg_id, hd.cmd);
		abort();
	}
	struct expect_ent *x = &h->q[h->q_head];
	h->q_head = (h->q_head + 1) % MAXQ;
	h->q_len--;
	if (hd.msg_id != x->e.msg_id || hd.cmd != x->e.cmd) {
		fprintf(stderr, "reply id %u cmd %u, expected id %u cmd %u\n",
			hd.msg_id, hd.cmd, x->e.msg_id, x->e.cmd);
		abort();
	}
	int r = uvfio_parse_reply(m, size, nfds, &x->e, &v);
	if (r) {
		fprintf(stderr, "server reply to %s does not parse: %s\n",
			uvfio_cmd_name(x->e.cmd), v.why);
		abort();
	}
	h->replies++;
	if (v.error)
		return;
	if (x->e.argsz)
		FZ_CHECK(v.len <= x->e.argsz);
	if (x->e.cmd == UVFIO_CMD_VERSION) {
		struct uvfio_caps c;
		FZ_CHECK(!uvfio_caps_parse(v.u.version.json,
					   v.u.version.json_len, &c, NULL));
		h->qemu = x->qemu;
		if (c.twin_socket && nfds) {
			FZ_CHECK(c.twin_fd_index < nfds);
			struct stat st;
			FZ_CHECK(!fstat(fds[c.twin_fd_index], &st) &&
				 S_ISSOCK(st.st_mode));
			if (h->twin >= 0)
				close(h->twin);
			h->twin = fds[c.twin_fd_index];
			fds[c.twin_fd_index] = -1;
			fcntl(h->twin, F_SETFL, O_NONBLOCK);
		}
	}
}

struct rx_ctx {
	struct h *h;
	int which;
	bool answer, fail;
};

static void on_msg(void *opaque, const uint8_t *m, uint32_t size, int *fds,
		   unsigned nfds)
{
	struct rx_ctx *x = opaque;
	struct uvfio_hdr hd;
	memcpy(&hd, m, sizeof(hd));
	uint32_t type = hd.flags & UVFIO_F_TYPE_MASK;
	FZ_CHECK(type == UVFIO_F_TYPE_REPLY || type == UVFIO_F_TYPE_COMMAND);
	if (type == UVFIO_F_TYPE_REPLY) {
		FZ_CHECK(x->which == 0);
		check_reply(x->h, m, size, fds, nfds);
		return;
	}
	/* server to client: DMA only, no fds */
	FZ_CHECK(hd.cmd == UVFIO_CMD_DMA_READ || hd.cmd == UVFIO_CMD_DMA_WRITE);
	FZ_CHECK(nfds == 0);
	if (x->answer)
		answer_dma(x->h, x->which ? x->h->twin : x->h->fd, m, size,
			   x->fail);
}

/* Read what the server sent on main (which 0) or twin (1). */
static bool receive(struct h *h, int which, bool answer, bool fail)
{
	int fd = which ? h->twin : h->fd;
	struct rx_ctx x = { h, which, answer, fail };
	if (fd < 0)
		return false;
	return fz_rx_read(&h->rx[which], fd, on_msg, &x);
}

static void step(struct h *h, struct dev *d, bool answer, bool fail)
{
	for (int i = 0; i < 16; i++) {
		int r = uvfio_server_process(d->srv);
		FZ_CHECK(r == 0);
		bool any = receive(h, 0, answer, fail);
		any |= receive(h, 1, answer, fail);
		if (!any && i > 0)
			break;
	}
}

static void send_bytes(struct h *h, struct dev *d, const uint8_t *b,
		       size_t n, unsigned nfds, bool memfd)
{
	int fds[3] = { -1, -1, -1 };
	for (unsigned i = 0; i < nfds; i++)
		if ((fds[i] = make_fd(memfd)) < 0)
			abort();
	track_sent(h, b, n);
	size_t off = 0;
	for (int tries = 0; off < n && tries < 64; tries++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(3 * sizeof(int))];
		} cm;
		struct iovec iov = { (void *)(b + off), n - off };
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
		ssize_t w = sendmsg(h->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			break; /* the server closed the connection */
		/* Full: let the server read, and read its replies.  DMA
		 * requests go unanswered: an answer now would land inside
		 * the message being sent. */
		step(h, d, false, false);
	}
	close_fds(fds, nfds);
}

static const char *const version_json[4] = {
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
	"\"twin_socket\":{\"supported\":true}}}",
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, "
	"\"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, "
	"\"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}",
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"write_multiple\":true}}",
	NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h h;
	static uint8_t *bufs;
	struct fz f = { data, size };
	struct dev d;
	int sv[2];

	if (!bufs) {
		bufs = malloc(3 * (size_t)RXCAP);
		if (!bufs)
			abort();
	}
	int fds_before = fz_count_fds();
	memset(&h, 0, sizeof(h));
	h.tx = bufs;
	h.rx[0].buf = bufs + RXCAP;
	h.rx[1].buf = bufs + 2 * (size_t)RXCAP;
	h.rx[0].cap = h.rx[1].cap = RXCAP;
	h.twin = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	h.fd = sv[0];
	fcntl(h.fd, F_SETFL, O_NONBLOCK);
	if (dev_create(&d, sv[1]))
		abort();

	uint8_t flags = fz_u8(&f);
	if (flags & 1) {
		uint8_t msg[512];
		unsigned which = (flags >> 1) & 3;
		/* QEMU (JSON 1) says minor 0 */
		ssize_t n = uvfio_build_version(msg, sizeof(msg), h.next_id++,
						false, 0, which == 1 ? 0 : 2,
						version_json[which]);
		send_bytes(&h, &d, msg, (size_t)n, 0, false);
		step(&h, &d, true, false);
	}

	while (!fz_empty(&f)) {
		uint8_t ctl = fz_u8(&f);
		size_t want = fz_u16(&f), n;
		const uint8_t *p = fz_bytes(&f, want, &n);
		uint8_t *msg = malloc(n + 1);
		if (!msg)
			abort();
		memcpy(msg, p, n);
		if ((ctl & 8) && n >= UVFIO_HDR_SIZE) {
			uint32_t sz = (uint32_t)n;
			memcpy(msg + 4, &sz, 4);
		}
		if ((ctl & 0x10) && n >= 2) {
			memcpy(msg, &h.next_id, 2);
			h.next_id++;
		}
		if ((n & 1) && n > 2) {
			send_bytes(&h, &d, msg, n / 2, ctl & 3, ctl & 4);
			uvfio_server_process(d.srv);
			send_bytes(&h, &d, msg + n / 2, n - n / 2, 0, false);
		} else {
			send_bytes(&h, &d, msg, n, ctl & 3, ctl & 4);
		}
		free(msg);
		FZ_CHECK(uvfio_server_process(d.srv) == 0);
		if (ctl & 0x20)
			receive(&h, 0, false, false);
		if (ctl & 0x40)
			step(&h, &d, true, ctl & 0x80);
	}

	/* Let everything finish, then hang up. */
	step(&h, &d, true, false);
	step(&h, &d, true, false);
	close(h.fd);
	if (h.twin >= 0)
		close(h.twin);
	for (int i = 0; i < 4; i++)
		FZ_CHECK(uvfio_server_process(d.srv) == 0);
	FZ_CHECK(!uvfio_server_connected(d.srv));
	uvfio_server_destroy(d.srv);
	fz_rx_close_all(&h.rx[0]);
	fz_rx_close_all(&h.rx[1]);
	fz_check_fds(fds_before);
	return 0;
}
