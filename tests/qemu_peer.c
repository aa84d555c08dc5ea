/* SPDX-License-Identifier: MIT */
/*
 * A test peer that imitates QEMU 10.2.2's vfio-user client on DMA.  Every
 * rule below comes from QEMU's source, not from our notes about it:
 *
 * hw/vfio-user/proxy.c
 *   vfio_user_recv_one()     the iothread reads each message as soon as it
 *                            arrives.  A reply must match a pending request
 *                            ("unexpected reply") and fit its buffer; a
 *                            request larger than max_xfer_size + 32 is
 *                            refused and the stream is lost; a request's
 *                            fds are kept for the handler to refuse.
 *                            Requests are queued for the bottom half.
 *   vfio_user_request()      the bottom half, on the main loop: runs every
 *                            queued request back to back.
 *   vfio_user_send_queued()  a message goes out inline with one write when
 *   vfio_user_send_qio()     nothing is queued; EAGAIN queues it for the
 *   vfio_user_send()         iothread, which sends on POLLOUT, one write
 *                            each.  Any write that returns >= 0 counts as
 *                            the whole message: a short write loses the
 *                            rest.  Here it fails the test instead.
 *   vfio_user_send_reply()   reply = the request's buffer with flags REPLY;
 *   vfio_user_send_error()   error = a bare header with REPLY|ERROR.
 *   caps_json()              the VERSION capabilities QEMU offers.
 * hw/vfio-user/pci.c
 *   vfio_user_pci_process_req()  fds on a request: EINVAL; an unknown
 *                                command: ENOSYS.
 *   vfio_user_dma_read()     msg_size < 32 (sizeof its struct, padding
 *                            included): EINVAL; count > the server's
 *                            max_data_xfer_size: E2BIG; else a reply of
 *                            32 + count bytes, data from payload 12, then 4
 *                            zero bytes; memory errors: EFAULT.
 *   vfio_user_dma_write()    msg_size < 32: EINVAL; count > msg_size - 32:
 *                            E2BIG; data taken from payload 12; reply a
 *                            bare header.
 *
 * Why a vCPU serves DMA only between its own requests: QEMU's bottom half
 * needs the BQL, which a vCPU holds while it waits for the reply to a
 * region access (and the test's thread is that vCPU).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/codec.h>

#include "qemu_peer.h"

/* sizeof QEMU's VFIOUserDMARW: header, u64 offset, u32 count, padding. */
#define QEMU_DMARW_SIZE 32u
/* QEMU's x-msg-timeout default. */
#define QEMU_WAIT_MS 5000

struct qmsg {
	struct qmsg *next;
	uint8_t *buf; /* whole message */
	size_t len;
	unsigned nfds;
};

struct qpeer {
	int fd;
	pthread_t io;
	bool io_started;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop;

	uint8_t *ram;
	uint64_t ram_iova;
	size_t ram_size;
	uint32_t server_max_xfer; /* QEMU's proxy->max_xfer_size */
	uint16_t next_id;

	/* the vCPU's request waiting for its reply */
	bool waiting, complete;
	uint16_t wait_id;
	uint8_t *reply;
	size_t reply_cap, reply_len;

	/* queued for the bottom half, and queued to send (EAGAIN) */
	struct qmsg *in_head, **in_tail;
	struct qmsg *out_head, **out_tail;

	/* partial receive */
	uint8_t hdr[UVFIO_HDR_SIZE];
	size_t hdr_got;
	uint8_t *body;
	size_t body_len, body_got;
	unsigned body_nfds;

	int sndbuf; /* SO_SNDBUF, as the kernel reports it */
	char failure[256];
	struct qpeer_stats st;
};

static void fail_locked(struct qpeer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail_locked(struct qpeer *p, const char *fmt, ...)
{
	if (p->failure[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->failure, sizeof(p->failure), fmt, ap);
	va_end(ap);
	pthread_cond_broadcast(&p->cv);
}

/* One non-blocking write of a whole message, as vfio_user_send_qio(). */
static int write_once_locked(struct qpeer *p, const struct qmsg *m)
{
	ssize_t n = send(p->fd, m->buf, m->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		p->st.eagain++;
		return -EAGAIN;
	}
	if (n < 0) {
		fail_locked(p, "send failed: %s", strerror(errno));
		return -errno;
	}
	if ((size_t)n != m->len)
		fail_locked(p, "short write: %zd of %zu bytes of a %s %s; QEMU "
			       "would count it as sent and lose the rest",
			    n, m->len,
			    uvfio_cmd_name(((const struct uvfio_hdr *)m->buf)->cmd),
			    (((const struct uvfio_hdr *)m->buf)->flags &
			     UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY
				    ? "reply"
				    : "request");
	return 0;
}

static void free_msg(struct qmsg *m)
{
	free(m->buf);
	free(m);
}

/* vfio_user_send_queued(): inline when nothing waits, else queued. */
static void send_locked(struct qpeer *p, uint8_t *buf, size_t len)
{
	struct qmsg *m = calloc(1, sizeof(*m));
	if (!m) {
		free(buf);
		fail_locked(p, "out of memory");
		return;
	}
	m->buf = buf;
	m->len = len;
	if (!p->out_head && write_once_locked(p, m) != -EAGAIN) {
		free_msg(m);
		return;
	}
	*p->out_tail = m;
	p->out_tail = &m->next;
}

/* vfio_user_send(): the iothread, when the socket takes more. */
static void flush_out_locked(struct qpeer *p)
{
	while (p->out_head) {
		struct qmsg *m = p->out_head;
		if (write_once_locked(p, m) == -EAGAIN)
			return;
		p->out_head = m->next;
		if (!p->out_head)
			p->out_tail = &p->out_head;
		free_msg(m);
	}
}

/* A complete message read by the iothread (vfio_user_recv_one). */
static void received_locked(struct qpeer *p, uint8_t *buf, size_t len,
			    unsigned nfds)
{
	struct uvfio_hdr h;
	memcpy(&h, buf, sizeof(h));
	if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY) {
		if (!p->waiting || p->complete || h.msg_id != p->wait_id) {
			fail_locked(p, "unexpected reply (id %u, %s)", h.msg_id,
				    uvfio_cmd_name(h.cmd));
		} else if (nfds) {
			fail_locked(p, "unexpected FDs on a reply");
		} else if (len > p->reply_cap) {
			fail_locked(p, "reply larger than recv buffer");
		} else {
			memcpy(p->reply, buf, len);
			p->reply_len = len;
			p->complete = true;
			pthread_cond_broadcast(&p->cv);
		}
		free(buf);
		return;
	}
	struct qmsg *m = calloc(1, sizeof(*m));
	if (!m) {
		free(buf);
		fail_locked(p, "out of memory");
		return;
	}
	*m = (struct qmsg){ .buf = buf, .len = len, .nfds = nfds };
	*p->in_tail = m;
	p->in_tail = &m->next;
	pthread_cond_broadcast(&p->cv);
}

/* Read what the socket has; fds are counted and closed (none expected). */
static int read_some_locked(struct qpeer *p)
{
	for (;;) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} ctl;
		uint8_t *dst;
		size_t want;
		if (p->hdr_got < UVFIO_HDR_SIZE) {
			dst = p->hdr + p->hdr_got;
			want = UVFIO_HDR_SIZE - p->hdr_got;
		} else {
			dst = p->body + p->body_got;
			want = p->body_len - p->body_got;
		}
		struct iovec iov = { dst, want };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(p->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!p->stop)
				fail_locked(p, "server closed socket");
			return -ECONNRESET;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
						sizeof(int));
			int fds[16];
			memcpy(fds, CMSG_DATA(c), k * sizeof(int));
			for (unsigned i = 0; i < k; i++)
				close(fds[i]);
			p->body_nfds += k;
		}
		if (p->hdr_got < UVFIO_HDR_SIZE) {
			p->hdr_got += (size_t)n;
			if (p->hdr_got < UVFIO_HDR_SIZE)
				continue;
			struct uvfio_hdr h;
			memcpy(&h, p->hdr, sizeof(h));
			if (h.msg_size < UVFIO_HDR_SIZE) {
				fail_locked(p, "bad header size");
				return -EPROTO;
			}
			bool reply = (h.flags & UVFIO_F_TYPE_MASK) ==
				     UVFIO_F_TYPE_REPLY;
			if (!reply && h.msg_size > p->server_max_xfer +
							   QEMU_DMARW_SIZE) {
				fail_locked(p, "vfio_user_recv request larger "
					       "than max (%u bytes)",
					    h.msg_size);
				return -EPROTO;
			}
			p->body = malloc(h.msg_size);
			if (!p->body) {
				fail_locked(p, "out of memory");
				return -ENOMEM;
			}
			memcpy(p->body, p->hdr, UVFIO_HDR_SIZE);
			p->body_len = h.msg_size;
			p->body_got = UVFIO_HDR_SIZE;
		} else {
			p->body_got += (size_t)n;
		}
		if (p->body_got == p->body_len) {
			uint8_t *b = p->body;
			size_t len = p->body_len;
			unsigned nfds = p->body_nfds;
			p->body = NULL;
			p->hdr_got = p->body_got = p->body_len = 0;
			p->body_nfds = 0;
			received_locked(p, b, len, nfds);
		}
	}
}

static void *iothread(void *arg)
{
	struct qpeer *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop && !p->failure[0]) {
		struct pollfd pf = { .fd = p->fd,
				     .events = POLLIN |
					       (p->out_head ? POLLOUT : 0) };
		pthread_mutex_unlock(&p->lock);
		int r = poll(&pf, 1, 50);
		pthread_mutex_lock(&p->lock);
		if (r < 0 && errno != EINTR) {
			fail_locked(p, "poll failed: %s", strerror(errno));
			break;
		}
		if (r <= 0)
			continue;
		if (pf.revents & POLLOUT)
			flush_out_locked(p);
		if (pf.revents & (POLLIN | POLLHUP | POLLERR))
			if (read_some_locked(p) < 0)
				break;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct qpeer *qpeer_new(int fd, uint64_t ram_iova, size_t ram_size)
{
	struct qpeer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fd = fd;
	p->ram_iova = ram_iova;
	p->ram_size = ram_size;
	p->ram = calloc(1, ram_size);
	p->in_tail = &p->in_head;
	p->out_tail = &p->out_head;
	/* Until VERSION tells: QEMU's VFIO_USER_DEF_MAX_XFER. */
	p->server_max_xfer = 1u << 20;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	socklen_t sl = sizeof(p->sndbuf);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &p->sndbuf, &sl) < 0)
		p->sndbuf = 0;
	if (!p->ram || !p->sndbuf ||
	    pthread_create(&p->io, NULL, iothread, p)) {
		qpeer_free(p);
		return NULL;
	}
	p->io_started = true;
	return p;
}

void qpeer_free(struct qpeer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	if (p->io_started)
		pthread_join(p->io, NULL);
	close(p->fd);
	while (p->in_head) {
		struct qmsg *m = p->in_head;
		p->in_head = m->next;
		free_msg(m);
	}
	while (p->out_head) {
		struct qmsg *m = p->out_head;
		p->out_head = m->next;
		free_msg(m);
	}
	free(p->body);
	free(p->ram);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

uint8_t *qpeer_ram(struct qpeer *p)
{
	return p->ram;
}

const char *qpeer_failure(struct qpeer *p)
{
	pthread_mutex_lock(&p->lock);
	const char *f = p->failure[0] ? p->failure : NULL;
	pthread_mutex_unlock(&p->lock);
	return f;
}

void qpeer_get_stats(struct qpeer *p, struct qpeer_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->st;
	pthread_mutex_unlock(&p->lock);
}

/* ---- the bottom half: DMA requests (pci.c) ------------------------------------ */

static uint8_t *guest_mem(struct qpeer *p, uint64_t addr, uint64_t len)
{
	if (addr < p->ram_iova || len > p->ram_size ||
	    addr - p->ram_iova > p->ram_size - len)
		return NULL;
	return p->ram + (addr - p->ram_iova);
}

/* vfio_user_send_error(): the request's header, REPLY|ERROR, no body. */
static void send_error_locked(struct qpeer *p, const struct uvfio_hdr *req,
			      int err)
{
	uint8_t *b = malloc(UVFIO_HDR_SIZE);
	if (!b) {
		fail_locked(p, "out of memory");
		return;
	}
	struct uvfio_hdr h = *req;
	h.flags = UVFIO_F_TYPE_REPLY | UVFIO_F_ERROR;
	h.error_no = (uint32_t)err;
	h.msg_size = UVFIO_HDR_SIZE;
	memcpy(b, &h, sizeof(h));
	send_locked(p, b, UVFIO_HDR_SIZE);
}

/* vfio_user_dma_read(): returns the reply bytes it wrote. */
static size_t dma_read_locked(struct qpeer *p, const struct qmsg *m)
{
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	if (m->len < QEMU_DMARW_SIZE) {
		p->st.einval++;
		send_error_locked(p, &h, EINVAL);
		return 0;
	}
	uint64_t addr;
	uint32_t count;
	memcpy(&addr, m->buf + UVFIO_HDR_SIZE, 8);
	memcpy(&count, m->buf + UVFIO_HDR_SIZE + 8, 4);
	if (count > p->server_max_xfer) {
		p->st.e2big++;
		send_error_locked(p, &h, E2BIG);
		return 0;
	}
	size_t size = (size_t)count + QEMU_DMARW_SIZE;
	uint8_t *res = calloc(1, size); /* g_malloc0: the 4 last bytes are 0 */
	if (!res) {
		fail_locked(p, "out of memory");
		return 0;
	}
	memcpy(res, m->buf, QEMU_DMARW_SIZE);
	const uint8_t *src = guest_mem(p, addr, count);
	if (!src) {
		free(res);
		p->st.efault++;
		send_error_locked(p, &h, EFAULT);
		return 0;
	}
	memcpy(res + UVFIO_HDR_SIZE + 12, src, count);
	h.flags = UVFIO_F_TYPE_REPLY;
	h.msg_size = (uint32_t)size;
	memcpy(res, &h, sizeof(h));
	p->st.dma_reads++;
	p->st.dma_read_bytes += count;
	send_locked(p, res, size);
	return size;
}

/* vfio_user_dma_write() */
static void dma_write_locked(struct qpeer *p, const struct qmsg *m)
{
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));
	if (m->len < QEMU_DMARW_SIZE) {
		p->st.einval++;
		send_error_locked(p, &h, EINVAL);
		return;
	}
	uint64_t addr;
	uint32_t count;
	memcpy(&addr, m->buf + UVFIO_HDR_SIZE, 8);
	memcpy(&count, m->buf + UVFIO_HDR_SIZE + 8, 4);
	if (count > h.msg_size - QEMU_DMARW_SIZE) {
		p->st.e2big++;
		send_error_locked(p, &h, E2BIG);
		return;
	}
	uint8_t *dst = guest_mem(p, addr, count);
	if (!dst) {
		p->st.efault++;
		send_error_locked(p, &h, EFAULT);
		return;
	}
	memcpy(dst, m->buf + UVFIO_HDR_SIZE + 12, count);
	p->st.dma_writes++;
	p->st.dma_write_bytes += count;
	if (h.flags & UVFIO_F_NO_REPLY)
		return;
	uint8_t *b = malloc(UVFIO_HDR_SIZE);
	if (!b) {
		fail_locked(p, "out of memory");
		return;
	}
	h.flags = UVFIO_F_TYPE_REPLY;
	h.msg_size = UVFIO_HDR_SIZE;
	memcpy(b, &h, sizeof(h));
	send_locked(p, b, UVFIO_HDR_SIZE);
}

/* vfio_user_request() + vfio_user_pci_process_req() */
void qpeer_serve(struct qpeer *p)
{
	pthread_mutex_lock(&p->lock);
	struct qmsg *list = p->in_head;
	p->in_head = NULL;
	p->in_tail = &p->in_head;
	size_t batch = 0;
	while (list) {
		struct qmsg *m = list;
		list = m->next;
		struct uvfio_hdr h;
		memcpy(&h, m->buf, sizeof(h));
		if (m->nfds)
			send_error_locked(p, &h, EINVAL);
		else if (h.cmd == UVFIO_CMD_DMA_READ)
			batch += dma_read_locked(p, m);
		else if (h.cmd == UVFIO_CMD_DMA_WRITE)
			dma_write_locked(p, m);
		else
			send_error_locked(p, &h, ENOSYS);
		free_msg(m);
	}
	if (batch > p->st.max_batch_reply_bytes)
		p->st.max_batch_reply_bytes = batch;
	/* Whether this batch lost bytes depended on how fast the server
	 * read meanwhile; what QEMU owed decides whether it could have. */
	if (batch > (size_t)p->sndbuf)
		fail_locked(p, "%zu bytes of DMA_READ replies owed at once, "
			       "more than the %d bytes QEMU's socket buffer "
			       "holds: QEMU writes them back to back and "
			       "loses what does not fit",
			    batch, p->sndbuf);
	pthread_mutex_unlock(&p->lock);
}

void qpeer_idle(struct qpeer *p, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while (!p->in_head && !p->failure[0])
		if (pthread_cond_timedwait(&p->cv, &p->lock, &ts))
			break;
	pthread_mutex_unlock(&p->lock);
	qpeer_serve(p);
}

/* ---- the vCPU's requests ------------------------------------------------------- */

/*
 * vfio_user_send_wait(): send, then sleep until the iothread has the
 * reply.  The bottom half does not run meanwhile; it runs after.
 */
static int call(struct qpeer *p, uint8_t *msg, size_t len, uint8_t *reply,
		size_t reply_cap, size_t *reply_len)
{
	struct uvfio_hdr h;
	memcpy(&h, msg, sizeof(h));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += QEMU_WAIT_MS / 1000;

	pthread_mutex_lock(&p->lock);
	p->waiting = true;
	p->complete = false;
	p->wait_id = h.msg_id;
	p->reply = reply;
	p->reply_cap = reply_cap;
	send_locked(p, msg, len);
	int r = 0;
	while (!p->complete && !p->failure[0]) {
		if (pthread_cond_timedwait(&p->cv, &p->lock, &ts)) {
			fail_locked(p, "timed out waiting for reply to %s",
				    uvfio_cmd_name(h.cmd));
			break;
		}
	}
	if (!p->complete) {
		r = -EIO;
	} else {
		struct uvfio_hdr rh;
		memcpy(&rh, reply, sizeof(rh));
		if (rh.flags & UVFIO_F_ERROR)
			r = -(int)rh.error_no;
		if (reply_len)
			*reply_len = p->reply_len;
	}
	p->waiting = false;
	pthread_mutex_unlock(&p->lock);
	qpeer_serve(p);
	return r;
}

static uint8_t *new_request(struct qpeer *p, uint16_t cmd, uint32_t flags,
			    size_t len)
{
	uint8_t *b = calloc(1, len);
	if (!b)
		return NULL;
	pthread_mutex_lock(&p->lock);
	uint16_t id = p->next_id++;
	pthread_mutex_unlock(&p->lock);
	struct uvfio_hdr h = { .msg_id = id, .cmd = cmd,
			       .msg_size = (uint32_t)len, .flags = flags };
	memcpy(b, &h, sizeof(h));
	return b;
}

int qpeer_version(struct qpeer *p)
{
	/* caps_json() */
	static const char caps[] =
		"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, "
		"\"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, "
		"\"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
		"\"max_dma_maps\": 65535, \"write_multiple\": true}}";
	size_t len = UVFIO_HDR_SIZE + 4 + sizeof(caps);
	uint8_t *b = new_request(p, UVFIO_CMD_VERSION, 0, len);
	if (!b)
		return -ENOMEM;
	memcpy(b + UVFIO_HDR_SIZE + 4, caps, sizeof(caps));
	/* QEMU receives the reply into its request's buffer. */
	uint8_t reply[sizeof(caps) + UVFIO_HDR_SIZE + 4];
	size_t rlen = 0;
	int r = call(p, b, len, reply, sizeof(reply), &rlen);
	if (r)
		return r;
	if (rlen <= UVFIO_HDR_SIZE + 4 || reply[rlen - 1] != '\0')
		return -EPROTO;
	struct uvfio_caps c;
	uvfio_caps_defaults(&c);
	const char *why;
	r = uvfio_caps_parse((const char *)reply + UVFIO_HDR_SIZE + 4,
			     rlen - UVFIO_HDR_SIZE - 4, &c, &why);
	if (r)
		return r;
	pthread_mutex_lock(&p->lock);
	p->server_max_xfer = c.max_data_xfer_size;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int qpeer_map_ram(struct qpeer *p)
{
	size_t len = UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_map);
	uint8_t *b = new_request(p, UVFIO_CMD_DMA_MAP, 0, len);
	if (!b)
		return -ENOMEM;
	struct uvfio_dma_map m = {
		.argsz = sizeof(m),
		.flags = UVFIO_DMA_MAP_READ | UVFIO_DMA_MAP_WRITE,
		.offset = (uint64_t)(uintptr_t)p->ram, /* QEMU: the vaddr */
		.addr = p->ram_iova,
		.size = p->ram_size,
	};
	memcpy(b + UVFIO_HDR_SIZE, &m, sizeof(m));
	uint8_t reply[64];
	return call(p, b, len, reply, sizeof(reply), NULL);
}

int qpeer_region_read(struct qpeer *p, uint32_t region, uint64_t off,
		      void *buf, uint32_t count)
{
	size_t len = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw);
	uint8_t *b = new_request(p, UVFIO_CMD_REGION_READ, 0, len);
	if (!b)
		return -ENOMEM;
	struct uvfio_region_rw rw = { .offset = off, .region = region,
				      .count = count };
	memcpy(b + UVFIO_HDR_SIZE, &rw, sizeof(rw));
	size_t cap = len + count, rlen = 0;
	uint8_t *reply = malloc(cap);
	if (!reply) {
		free(b);
		return -ENOMEM;
	}
	int r = call(p, b, len, reply, cap, &rlen);
	if (!r && rlen != cap)
		r = -EPROTO;
	if (!r)
		memcpy(buf, reply + len, count);
	free(reply);
	return r;
}

int qpeer_region_write(struct qpeer *p, uint32_t region, uint64_t off,
		       const void *buf, uint32_t count, bool posted)
{
	size_t len = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw) + count;
	uint8_t *b = new_request(p, UVFIO_CMD_REGION_WRITE,
				 posted ? UVFIO_F_NO_REPLY : 0, len);
	if (!b)
		return -ENOMEM;
	struct uvfio_region_rw rw = { .offset = off, .region = region,
				      .count = count };
	memcpy(b + UVFIO_HDR_SIZE, &rw, sizeof(rw));
	memcpy(b + UVFIO_HDR_SIZE + sizeof(rw), buf, count);
	if (posted) {
		/* vfio_user_send_async(): not waited for. */
		pthread_mutex_lock(&p->lock);
		send_locked(p, b, len);
		pthread_mutex_unlock(&p->lock);
		qpeer_serve(p);
		return 0;
	}
	uint8_t reply[UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw)];
	return call(p, b, len, reply, sizeof(reply), NULL);
}
