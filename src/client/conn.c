/* SPDX-License-Identifier: MIT */
/*
 * Client connection: the handle, connecting or adopting a socket, VERSION
 * negotiation (with the twin socket offer), disconnecting and reconnecting.
 *
 * A connection ends in one place, teardown(): whether the caller
 * disconnects or the connection fails (protocol error, timeout, server
 * gone), the sockets close, the region cache goes and every pending
 * request completes with the error.  The DMA windows and eventfds stay, to
 * be given to the next connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "priv.h"
#include "transport/sock.h"

int uvfio_client_create(struct uvfio_client **cp)
{
	struct uvfio_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->lock, &a);
	pthread_mutexattr_destroy(&a);
	pthread_cond_init(&c->wake, NULL);
	ulogger_init(&c->log, "client");
	c->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
	c->tp.fd = -1;
	c->twin.fd = -1;
	for (unsigned i = 0; i < CLI_MAX_REGIONS; i++)
		c->regions[i].fd = -1;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->epfd < 0 || c->wakefd < 0) {
		int err = -errno;
		if (c->epfd >= 0)
			close(c->epfd);
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return err;
	}
	*cp = c;
	return 0;
}

void uvfio_client_set_log(struct uvfio_client *c, uvfio_log_fn fn,
			  void *opaque, int level)
{
	cli_lock(c);
	c->log.fn = fn;
	c->log.opaque = opaque;
	if (!c->log.env_level)
		c->log.level = level;
	cli_unlock(c);
}

void uvfio_client_set_twin_socket(struct uvfio_client *c, bool offer)
{
	cli_lock(c);
	c->no_twin = !offer;
	cli_unlock(c);
}

void uvfio_client_set_timeout(struct uvfio_client *c, unsigned timeout_ms)
{
	cli_lock(c);
	c->timeout_ms = timeout_ms;
	cli_unlock(c);
}

static void teardown(struct uvfio_client *c, int err)
{
	/* Marked first: completions run below may call into the client. */
	c->connected = false;
	if (c->tp.fd >= 0)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->tp.fd, NULL);
	if (c->has_twin)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->twin.fd, NULL);
	c->ev_main = c->ev_twin = 0;
	tp_fini(&c->tp);
	if (c->has_twin)
		tp_fini(&c->twin);
	c->has_twin = false;
	c->tp.fd = -1;
	c->twin.fd = -1;
	cli_regions_drop(c);
	cli_fail_pending(c, err);
}

/* A socket is open, connected or not yet negotiated: close it. */
static void teardown_any(struct uvfio_client *c)
{
	if (c->connected || c->tp.fd >= 0)
		teardown(c, -ENOTCONN);
}

void uvfio_client_disconnect(struct uvfio_client *c)
{
	cli_lock(c);
	teardown_any(c);
	cli_unlock(c);
}

void uvfio_client_destroy(struct uvfio_client *c)
{
	if (!c)
		return;
	uvfio_client_disconnect(c);
	cli_windows_drop(c);
	cli_irqs_drop(c);
	free(c->path);
	close(c->epfd);
	close(c->wakefd);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void cli_fail(struct uvfio_client *c, int err, const char *why)
{
	ulog_err(&c->log, "connection failed: %s", why ? why : strerror(-err));
	teardown(c, err);
}

/* ---- negotiation ----------------------------------------------------------------- */

struct version_result {
	int twin_fd;
	char json[UVFIO_MAX_JSON_LEN];
	uint32_t json_len;
	uint16_t major, minor;
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

/* The twin socket the server passed becomes ours (vr->twin_fd -1). */
static int take_twin(struct uvfio_client *c, struct version_result *vr)
{
	struct stat st;
	if (vr->twin_fd < 0 || fstat(vr->twin_fd, &st) < 0 ||
	    !S_ISSOCK(st.st_mode)) {
		ulog_err(&c->log, "server claims a twin socket but did "
				   "not pass a socket at fd_index");
		return -EPROTO;
	}
	if (usock_set_nonblock(vr->twin_fd))
		return -EPROTO;
	tp_init(&c->twin, vr->twin_fd);
	tp_set_sink(&c->twin, cli_twin_sink);
	c->twin.max_fds = 0;
	c->has_twin = true;
	vr->twin_fd = -1;
	return 0;
}

/* Check the server's VERSION reply and take what it states. */
static int accept_version(struct uvfio_client *c, struct version_result *vr)
{
	const char *why = NULL;
	if (vr->major != UVFIO_VERSION_MAJOR || vr->minor > UVFIO_VERSION_MINOR) {
		ulog_err(&c->log, "server answered protocol version %u.%u; "
				   "this client speaks 0.0 to 0.%u",
			  vr->major, vr->minor, UVFIO_VERSION_MINOR);
		return -EPROTO;
	}
	if (uvfio_caps_parse(vr->json_len ? vr->json : NULL, vr->json_len,
			     &c->srv, &why)) {
		ulog_err(&c->log, "server VERSION capabilities rejected: %s", why);
		return -EPROTO;
	}
	if (c->srv.twin_socket && take_twin(c, vr))
		return -EPROTO;
	c->minor = vr->minor;
	c->xfer = c->srv.max_data_xfer_size < CLI_MAX_DATA_XFER
			  ? c->srv.max_data_xfer_size
			  : CLI_MAX_DATA_XFER;
	return 0;
}

static int negotiate(struct uvfio_client *c)
{
	struct uvfio_caps mine;
	char json[256];
	uint8_t msg[512];

	uvfio_caps_defaults(&mine);
	mine.max_msg_fds = CLI_MAX_MSG_FDS;
	mine.max_data_xfer_size = CLI_MAX_DATA_XFER;
	mine.twin_socket = true;
	ssize_t jl = uvfio_caps_format(&mine,
				       UVFIO_CAP_HAS_MAX_MSG_FDS |
					       UVFIO_CAP_HAS_MAX_DATA_XFER |
					       (c->no_twin ? 0 : UVFIO_CAP_HAS_TWIN_SOCKET),
				       json, sizeof(json));
	if (jl < 0)
		return (int)jl;
	uint16_t id = cli_next_id(c);
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
	int r = cli_call(c, msg, (size_t)n, NULL, 0, &p);
	if (r)
		ulog_err(&c->log, "VERSION refused by the server: %s",
			  strerror(-r));
	else
		r = accept_version(c, vr);
	if (vr->twin_fd >= 0)
		close(vr->twin_fd);
	free(vr);
	return r;
}

/* ---- connecting ------------------------------------------------------------------ */

int uvfio_client_adopt_fd(struct uvfio_client *c, int fd)
{
	if (fd < 0)
		return -EBADF;
	cli_lock(c);
	teardown_any(c);
	int r = usock_set_nonblock(fd);
	if (r) {
		close(fd);
		cli_unlock(c);
		return r;
	}
	tp_init(&c->tp, fd);
	tp_set_sink(&c->tp, cli_main_sink);
	c->conn_id++;
	c->tp.max_fds = CLI_MAX_MSG_FDS;
	c->tp.max_msg_size = UVFIO_HDR_SIZE + CLI_CTRL_MAX + CLI_MAX_DATA_XFER;
	c->connected = true;
	cli_arm(c);
	r = negotiate(c);
	cli_arm(c); /* the twin socket, if negotiated */
	/* After a reconnect, the device gets back what it had. */
	if (!r)
		r = cli_windows_resend(c);
	if (!r)
		r = cli_irqs_resend(c);
	if (r) {
		teardown_any(c);
		cli_unlock(c);
		return r;
	}
	ulog_info(&c->log, "connected: protocol 0.%u, server max_data_xfer_size "
			    "%u, max_msg_fds %u%s",
		   c->minor, c->srv.max_data_xfer_size, c->srv.max_msg_fds,
		   c->has_twin ? ", twin socket" : "");
	cli_unlock(c);
	return 0;
}

int uvfio_client_connect(struct uvfio_client *c, const char *path)
{
	cli_lock(c);
	unsigned wait_ms = c->timeout_ms ? c->timeout_ms : UINT32_MAX;
	cli_unlock(c);
	int fd = usock_connect(path, wait_ms);
	if (fd < 0) {
		ulog_err(&c->log, "cannot connect to %s: %s", path,
			  fd == -EAGAIN ? "the server is busy with another "
					  "client (its backlog stayed full)"
					: strerror(-fd));
		return fd;
	}
	cli_lock(c);
	if (!c->path || strcmp(c->path, path)) {
		free(c->path);
		c->path = strdup(path);
	}
	cli_unlock(c);
	return uvfio_client_adopt_fd(c, fd);
}

int uvfio_client_reconnect(struct uvfio_client *c)
{
	cli_lock(c);
	char *path = c->path ? strdup(c->path) : NULL;
	cli_unlock(c);
	if (!path)
		return -EINVAL;
	int r = uvfio_client_connect(c, path);
	free(path);
	return r;
}

/* ---- state ----------------------------------------------------------------------- */

bool uvfio_client_connected(struct uvfio_client *c)
{
	cli_lock(c);
	bool r = c->connected;
	cli_unlock(c);
	return r;
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

int uvfio_client_poll_fd(struct uvfio_client *c)
{
	return c->epfd;
}

int uvfio_client_twin_fd(struct uvfio_client *c)
{
	cli_lock(c);
	int fd = c->connected && c->has_twin ? c->twin.fd : -1;
	cli_unlock(c);
	return fd;
}
