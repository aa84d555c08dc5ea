/* SPDX-License-Identifier: MIT */
/*
 * Client: connect, negotiate, send commands and match their replies.
 *
 * Requests wait in a FIFO; replies arrive in command order (the server
 * processes commands in order), so each reply must answer the oldest
 * pending request, and is checked against what that request expects.
 * A reply that does not fit is a protocol error and ends the connection:
 * on a byte stream there is no way to skip a bad message safely.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "transport/sock.h"
#include "transport/transport.h"
#include "util/log.h"

#define CLI_MAX_MSG_FDS 16u
#define CLI_MAX_DATA_XFER (1u << 20)
#define CLI_CTRL_MAX 65536u
#define CLI_MAX_PENDING 1024u
#define CLI_DEFAULT_TIMEOUT_MS 5000u

struct pending;
typedef void (*complete_fn)(struct uvfio_client *c, struct pending *p,
			    struct uvfio_reply_view *v, int *fds);

struct pending {
	struct uvfio_expect exp;
	complete_fn complete;
	bool done;
	int result;
	void *out;      /* where completion copies the reply payload */
	size_t out_len; /* its size */
	size_t got;     /* payload bytes copied */
	int fd;         /* an fd taken from the reply, or -1 */
};

#define CLI_MAX_REGIONS 64u

struct cli_region {
	bool valid;
	struct uvfio_region_info info;
	uint8_t *raw; /* the whole reply payload: info and capabilities */
	struct uvfio_region_caps caps; /* points into raw */
	int fd;       /* MMAP regions: the region fd, else -1 */
};

struct uvfio_client {
	struct uvfio_logger log;
	unsigned timeout_ms;
	bool connected;
	struct uvfio_tp tp;
	struct uvfio_tp twin;
	bool has_twin;
	uint16_t next_id;
	uint16_t minor;
	struct uvfio_caps srv;
	uint32_t xfer; /* chunk size for region data */

	struct pending *q[CLI_MAX_PENDING];
	unsigned q_head, q_len;
	struct cli_region regions[CLI_MAX_REGIONS];
};

int uvfio_client_create(struct uvfio_client **cp)
{
	struct uvfio_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	uvfio_logger_init(&c->log, "client");
	c->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
	c->tp.fd = -1;
	c->twin.fd = -1;
	for (unsigned i = 0; i < CLI_MAX_REGIONS; i++)
		c->regions[i].fd = -1;
	*cp = c;
	return 0;
}

void uvfio_client_set_log(struct uvfio_client *c, uvfio_log_fn fn,
			  void *opaque, int level)
{
	c->log.fn = fn;
	c->log.opaque = opaque;
	c->log.level = level;
}

void uvfio_client_set_timeout(struct uvfio_client *c, unsigned timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

static void fail_pending(struct uvfio_client *c, int err)
{
	while (c->q_len) {
		struct pending *p = c->q[c->q_head];
		c->q_head = (c->q_head + 1) % CLI_MAX_PENDING;
		c->q_len--;
		p->result = err;
		p->done = true;
	}
}

/* Close the connection; every request still pending completes with err. */
static void regions_drop(struct uvfio_client *c);

static void teardown(struct uvfio_client *c, int err)
{
	fail_pending(c, err);
	regions_drop(c);
	uvfio_tp_fini(&c->tp);
	if (c->has_twin)
		uvfio_tp_fini(&c->twin);
	c->has_twin = false;
	c->connected = false;
	c->tp.fd = -1;
}

void uvfio_client_disconnect(struct uvfio_client *c)
{
	if (c->connected || c->tp.fd >= 0)
		teardown(c, -ENOTCONN);
}

void uvfio_client_destroy(struct uvfio_client *c)
{
	if (!c)
		return;
	uvfio_client_disconnect(c);
	free(c);
}

static void conn_fail(struct uvfio_client *c, int err, const char *why)
{
	uvfio_err(&c->log, "connection failed: %s", why ? why : strerror(-err));
	teardown(c, err);
}

/* ---- receive path ---------------------------------------------------------------- */

static int deliver(void *opaque, struct uvfio_tp_msg *m)
{
	struct uvfio_client *c = opaque;
	struct uvfio_hdr h;
	memcpy(&h, m->buf, sizeof(h));

	if ((h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_COMMAND) {
		/* Server-to-client DMA on the main socket.  Not served yet:
		 * answer so the server is never left waiting. */
		struct uvfio_cmd_view v;
		struct uvfio_limits lim = { CLI_MAX_DATA_XFER, 0, false };
		int r = uvfio_parse_command(m->buf, m->size, m->nfds,
					    UVFIO_ROLE_CLIENT, &lim, &v);
		uvfio_warn(&c->log, "server sent %s (id %u): %s",
			   uvfio_cmd_name(h.cmd), h.msg_id,
			   r ? v.why : "DMA service not available");
		if (h.flags & UVFIO_F_NO_REPLY)
			return 0;
		uint8_t b[UVFIO_HDR_SIZE];
		ssize_t n = uvfio_build_error(b, sizeof(b), h.msg_id, h.cmd,
					      r ? -r : ENOTSUP);
		return uvfio_tp_send(&c->tp, b, (size_t)n, NULL, 0);
	}

	if (!c->q_len) {
		c->tp.why = "reply with no request pending";
		return -EPROTO;
	}
	struct pending *p = c->q[c->q_head];
	struct uvfio_reply_view v;
	int r = uvfio_parse_reply(m->buf, m->size, m->nfds, &p->exp, &v);
	if (r) {
		uvfio_err(&c->log, "bad reply to %s (id %u): %s",
			  uvfio_cmd_name(p->exp.cmd), p->exp.msg_id, v.why);
		c->tp.why = "server sent a malformed reply";
		return r;
	}
	c->q_head = (c->q_head + 1) % CLI_MAX_PENDING;
	c->q_len--;
	p->result = v.error;
	if (!v.error && p->complete)
		p->complete(c, p, &v, m->fds);
	p->done = true;
	return 0;
}

int uvfio_client_process(struct uvfio_client *c)
{
	if (!c->connected)
		return -ENOTCONN;
	int r = uvfio_tp_recv(&c->tp, deliver, c);
	if (r >= 0)
		r = uvfio_tp_flush(&c->tp);
	if (r == -EAGAIN)
		r = 0;
	if (r < 0) {
		conn_fail(c, r, c->tp.why);
		return r;
	}
	return 0;
}

int uvfio_client_poll_fd(struct uvfio_client *c)
{
	return c->connected ? c->tp.fd : -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Queue the message already committed to the transport as waiting for p,
 * then service the socket until p completes.
 */
static int wait_for(struct uvfio_client *c, struct pending *p)
{
	int64_t deadline = c->timeout_ms ? now_ms() + c->timeout_ms : 0;

	while (!p->done) {
		int r = uvfio_client_process(c);
		if (r < 0 || p->done)
			break;
		struct pollfd pf = {
			.fd = c->tp.fd,
			.events = POLLIN |
				  (uvfio_tp_tx_pending(&c->tp) ? POLLOUT : 0),
		};
		int wait = -1;
		if (deadline) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				uvfio_err(&c->log,
					  "%s (id %u): no reply within %u ms",
					  uvfio_cmd_name(p->exp.cmd),
					  p->exp.msg_id, c->timeout_ms);
				conn_fail(c, -ETIMEDOUT,
					  "request timed out; the stream cannot "
					  "be resynchronised");
				break;
			}
			wait = (int)left;
		}
		if (poll(&pf, 1, wait) < 0 && errno != EINTR) {
			conn_fail(c, -errno, "poll failed");
			break;
		}
	}
	return p->result;
}

static uint16_t next_id(struct uvfio_client *c)
{
	return c->next_id++;
}

/* Send a prepared message and wait for its reply. */
static int call(struct uvfio_client *c, const void *msg, size_t len,
		const int *fds, unsigned nfds, struct pending *p)
{
	if (!c->connected)
		return -ENOTCONN;
	if (c->q_len == CLI_MAX_PENDING)
		return -EBUSY;
	int r = uvfio_tp_send(&c->tp, msg, len, fds, nfds);
	if (r)
		return r;
	p->done = false;
	p->result = 0;
	p->fd = -1;
	c->q[(c->q_head + c->q_len) % CLI_MAX_PENDING] = p;
	c->q_len++;
	return wait_for(c, p);
}

/* Completion: copy the payload out (as much as fits) and keep one fd. */
static void complete_copy(struct uvfio_client *c, struct pending *p,
			  struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	p->got = v->len < p->out_len ? v->len : p->out_len;
	if (p->got)
		memcpy(p->out, v->payload, p->got);
	if (v->nfds) {
		p->fd = fds[0];
		fds[0] = -1;
	}
}

/* ---- negotiation ----------------------------------------------------------------- */

struct version_result {
	int twin_fd;
	char json[UVFIO_MAX_JSON_LEN];
	uint32_t json_len;
	uint16_t major, minor;
	bool twin_fd_ok;
};

static void complete_version(struct uvfio_client *c, struct pending *p,
			     struct uvfio_reply_view *v, int *fds)
{
	struct version_result *vr = p->out;
	vr->major = v->u.version.major;
	vr->minor = v->u.version.minor;
	vr->json_len = v->u.version.json_len;
	if (vr->json_len)
		memcpy(vr->json, v->u.version.json, vr->json_len);
	/* Only the fd named by twin_socket.fd_index is kept; the transport
	 * closes the others.  Which one that is is known only after the JSON
	 * is parsed, so parse here. */
	struct uvfio_caps caps;
	if (uvfio_caps_parse(v->u.version.json, v->u.version.json_len, &caps,
			     NULL) == 0 &&
	    caps.twin_socket && (caps.present & UVFIO_CAP_HAS_TWIN_FD_INDEX) &&
	    caps.twin_fd_index < v->nfds) {
		vr->twin_fd = fds[caps.twin_fd_index];
		fds[caps.twin_fd_index] = -1;
	}
	(void)c;
}

static int negotiate(struct uvfio_client *c)
{
	struct uvfio_caps mine;
	char json[256];
	uint8_t msg[512];
	const char *why = NULL;

	uvfio_caps_defaults(&mine);
	mine.max_msg_fds = CLI_MAX_MSG_FDS;
	mine.max_data_xfer_size = CLI_MAX_DATA_XFER;
	mine.twin_socket = true;
	ssize_t jl = uvfio_caps_format(&mine,
				       UVFIO_CAP_HAS_MAX_MSG_FDS |
					       UVFIO_CAP_HAS_MAX_DATA_XFER |
					       UVFIO_CAP_HAS_TWIN_SOCKET,
				       json, sizeof(json));
	if (jl < 0)
		return (int)jl;
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_version(msg, sizeof(msg), id, false,
					UVFIO_VERSION_MAJOR,
					UVFIO_VERSION_MINOR, json);
	if (n < 0)
		return (int)n;

	struct version_result *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return -ENOMEM;
	vr->twin_fd = -1;
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_VERSION, .msg_id = id, .max_fds = CLI_MAX_MSG_FDS },
		.complete = complete_version,
		.out = vr,
	};
	int r = call(c, msg, (size_t)n, NULL, 0, &p);
	if (r) {
		uvfio_err(&c->log, "VERSION refused by the server: %s",
			  strerror(-r));
		goto out;
	}
	r = -EPROTO;
	if (vr->major != UVFIO_VERSION_MAJOR || vr->minor > UVFIO_VERSION_MINOR) {
		uvfio_err(&c->log, "server answered protocol version %u.%u; "
				   "this client speaks 0.0 to 0.%u",
			  vr->major, vr->minor, UVFIO_VERSION_MINOR);
		goto out;
	}
	if (uvfio_caps_parse(vr->json_len ? vr->json : NULL, vr->json_len,
			     &c->srv, &why)) {
		uvfio_err(&c->log, "server VERSION capabilities rejected: %s", why);
		goto out;
	}
	if (c->srv.twin_socket) {
		struct stat st;
		if (vr->twin_fd < 0 || fstat(vr->twin_fd, &st) < 0 ||
		    !S_ISSOCK(st.st_mode)) {
			uvfio_err(&c->log, "server claims a twin socket but did "
					   "not pass a socket at fd_index");
			goto out;
		}
		if (uvfio_sock_set_nonblock(vr->twin_fd))
			goto out;
		uvfio_tp_init(&c->twin, vr->twin_fd);
		c->twin.max_fds = 0;
		c->has_twin = true;
		vr->twin_fd = -1;
	}
	c->minor = vr->minor;
	c->xfer = c->srv.max_data_xfer_size < CLI_MAX_DATA_XFER
			  ? c->srv.max_data_xfer_size
			  : CLI_MAX_DATA_XFER;
	r = 0;
out:
	if (vr->twin_fd >= 0)
		close(vr->twin_fd);
	free(vr);
	return r;
}

int uvfio_client_adopt_fd(struct uvfio_client *c, int fd)
{
	if (fd < 0)
		return -EBADF;
	uvfio_client_disconnect(c);
	int r = uvfio_sock_set_nonblock(fd);
	if (r) {
		close(fd);
		return r;
	}
	uvfio_tp_init(&c->tp, fd);
	c->tp.max_fds = CLI_MAX_MSG_FDS;
	c->tp.max_msg_size = UVFIO_HDR_SIZE + CLI_CTRL_MAX + CLI_MAX_DATA_XFER;
	c->connected = true;
	r = negotiate(c);
	if (r) {
		uvfio_client_disconnect(c);
		return r;
	}
	uvfio_info(&c->log, "connected: protocol 0.%u, server max_data_xfer_size "
			    "%u, max_msg_fds %u%s",
		   c->minor, c->srv.max_data_xfer_size, c->srv.max_msg_fds,
		   c->has_twin ? ", twin socket" : "");
	return 0;
}

int uvfio_client_connect(struct uvfio_client *c, const char *path)
{
	int fd = uvfio_sock_connect(path);
	if (fd < 0) {
		uvfio_err(&c->log, "cannot connect to %s: %s", path,
			  strerror(-fd));
		return fd;
	}
	return uvfio_client_adopt_fd(c, fd);
}

const struct uvfio_caps *uvfio_client_server_caps(struct uvfio_client *c)
{
	return c->connected ? &c->srv : NULL;
}

int uvfio_client_version_minor(struct uvfio_client *c)
{
	return c->connected ? c->minor : -ENOTCONN;
}

bool uvfio_client_has_twin_socket(struct uvfio_client *c)
{
	return c->connected && c->has_twin;
}

/* ---- device queries -------------------------------------------------------------- */

int uvfio_client_get_device_info(struct uvfio_client *c,
				 struct uvfio_device_info *info)
{
	uint8_t msg[64];
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_device_get_info(msg, sizeof(msg), id);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_GET_INFO, .msg_id = id,
			 .argsz = sizeof(*info) },
		.complete = complete_copy,
		.out = info,
		.out_len = sizeof(*info),
	};
	memset(info, 0, sizeof(*info));
	return call(c, msg, (size_t)n, NULL, 0, &p);
}

/* Ask once with argsz 32 and, if the server needs more, once more with
 * what it says; keep the reply (caps included) and the region fd. */
static int fetch_region(struct uvfio_client *c, unsigned index,
			struct cli_region *cr)
{
	uint8_t msg[64];
	uint32_t argsz = sizeof(struct uvfio_region_info);

	for (int attempt = 0; attempt < 2; attempt++) {
		uint8_t *buf = calloc(1, argsz);
		if (!buf)
			return -ENOMEM;
		uint16_t id = next_id(c);
		ssize_t n = uvfio_build_get_region_info(msg, sizeof(msg), id,
							index, argsz);
		struct pending p = {
			.exp = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_INFO,
				 .msg_id = id, .argsz = argsz, .index = index,
				 .max_fds = 1 },
			.complete = complete_copy,
			.out = buf,
			.out_len = argsz,
		};
		int r = call(c, msg, (size_t)n, NULL, 0, &p);
		struct uvfio_region_info ri;
		if (!r)
			memcpy(&ri, buf, sizeof(ri));
		if (r || ri.argsz > argsz) {
			/* Short reply: any fd that came with it is re-sent
			 * with the full one. */
			if (p.fd >= 0)
				close(p.fd);
			free(buf);
			if (r)
				return r;
			if (ri.argsz > CLI_CTRL_MAX) {
				uvfio_err(&c->log, "region %u info needs %u "
						   "bytes; refusing",
					  index, ri.argsz);
				return -E2BIG;
			}
			argsz = ri.argsz;
			continue;
		}
		const char *why = NULL;
		r = uvfio_parse_region_caps(buf, (uint32_t)p.got, &cr->caps, &why);
		if (r) {
			uvfio_err(&c->log, "region %u capabilities rejected: %s",
				  index, why);
			if (p.fd >= 0)
				close(p.fd);
			free(buf);
			return r;
		}
		cr->info = ri;
		cr->raw = buf;
		cr->fd = p.fd;
		cr->valid = true;
		return 0;
	}
	return -EPROTO; /* the server asked for more twice */
}

static struct cli_region *region_get(struct uvfio_client *c, unsigned index,
				     int *err)
{
	if (!c->connected) {
		*err = -ENOTCONN;
		return NULL;
	}
	if (index >= CLI_MAX_REGIONS) {
		*err = -EINVAL;
		return NULL;
	}
	struct cli_region *cr = &c->regions[index];
	if (!cr->valid && (*err = fetch_region(c, index, cr)))
		return NULL;
	return cr;
}

int uvfio_client_get_region_info(struct uvfio_client *c, unsigned index,
				 struct uvfio_region_info *info)
{
	int r = 0;
	struct cli_region *cr = region_get(c, index, &r);
	if (cr)
		*info = cr->info;
	return r;
}

const struct uvfio_region_caps *
uvfio_client_region_caps(struct uvfio_client *c, unsigned index)
{
	int r;
	struct cli_region *cr = region_get(c, index, &r);
	return cr ? &cr->caps : NULL;
}

static void regions_drop(struct uvfio_client *c)
{
	for (unsigned i = 0; i < CLI_MAX_REGIONS; i++) {
		struct cli_region *cr = &c->regions[i];
		if (cr->fd >= 0)
			close(cr->fd);
		free(cr->raw);
		memset(cr, 0, sizeof(*cr));
		cr->fd = -1;
	}
}

int uvfio_client_get_irq_info(struct uvfio_client *c, unsigned index,
			      struct uvfio_irq_info *info)
{
	uint8_t msg[64];
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_get_irq_info(msg, sizeof(msg), id, index);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO, .msg_id = id,
			 .argsz = sizeof(*info), .index = index },
		.complete = complete_copy,
		.out = info,
		.out_len = sizeof(*info),
	};
	memset(info, 0, sizeof(*info));
	return call(c, msg, (size_t)n, NULL, 0, &p);
}

int uvfio_client_reset(struct uvfio_client *c)
{
	uint8_t msg[UVFIO_HDR_SIZE];
	uint16_t id = next_id(c);
	ssize_t n = uvfio_build_device_reset(msg, sizeof(msg), id);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_RESET, .msg_id = id },
	};
	return call(c, msg, (size_t)n, NULL, 0, &p);
}

/* ---- region access ----------------------------------------------------------------- */

struct rw_out {
	void *buf;
	uint32_t want;
	uint32_t got;
};

static void complete_read(struct uvfio_client *c, struct pending *p,
			  struct uvfio_reply_view *v, int *fds)
{
	struct rw_out *o = p->out;
	(void)c;
	(void)fds;
	o->got = v->u.region_rw.count;
	if (o->got)
		memcpy(o->buf, v->u.region_rw.data, o->got);
}

static void complete_write(struct uvfio_client *c, struct pending *p,
			   struct uvfio_reply_view *v, int *fds)
{
	struct rw_out *o = p->out;
	(void)c;
	(void)fds;
	/* libvfio-user answers a 0-byte write without payload. */
	o->got = v->len ? v->u.region_rw.count : o->want;
}

static int region_rw(struct uvfio_client *c, unsigned index, uint64_t offset,
		     void *buf, size_t len, bool is_write)
{
	if (!c->connected)
		return -ENOTCONN;
	uint8_t *b = buf;
	size_t done = 0;
	size_t msg_cap = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw) +
			 (is_write ? c->xfer : 0);
	uint8_t small[64];
	uint8_t *msg = is_write ? malloc(msg_cap) : small;
	if (!msg)
		return -ENOMEM;

	int r = 0;
	do {
		uint32_t n = (uint32_t)(len - done < c->xfer ? len - done : c->xfer);
		uint16_t id = next_id(c);
		ssize_t ml =
			is_write ? uvfio_build_region_write(msg, msg_cap, id,
							    false, index,
							    offset + done,
							    b + done, n)
				 : uvfio_build_region_read(msg, sizeof(small), id,
							   index, offset + done,
							   n);
		struct rw_out o = { b + done, n, 0 };
		struct pending p = {
			.exp = { .cmd = is_write ? UVFIO_CMD_REGION_WRITE
						 : UVFIO_CMD_REGION_READ,
				 .msg_id = id, .count = n, .index = index,
				 .addr = offset + done },
			.complete = is_write ? complete_write : complete_read,
			.out = &o,
		};
		r = call(c, msg, (size_t)ml, NULL, 0, &p);
		if (r)
			break;
		if (o.got != n) {
			r = -EIO;
			break;
		}
		done += n;
	} while (done < len);
	if (is_write)
		free(msg);
	return r;
}

int uvfio_client_region_read(struct uvfio_client *c, unsigned index,
			     uint64_t offset, void *buf, size_t len)
{
	return region_rw(c, index, offset, buf, len, false);
}

int uvfio_client_region_write(struct uvfio_client *c, unsigned index,
			      uint64_t offset, const void *buf, size_t len)
{
	return region_rw(c, index, offset, (void *)buf, len, true);
}
