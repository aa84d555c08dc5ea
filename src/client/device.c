/* SPDX-License-Identifier: MIT */
/*
 * Client device queries: device, region and irq info, GET_REGION_IO_FDS,
 * DEVICE_RESET.
 *
 * A region's info (with its capabilities and fd) is fetched once per
 * connection and cached: region access and mmap look at it on every call,
 * and the caps pointers handed out stay valid until the connection ends,
 * when cli_regions_drop() frees the cache and unmaps the region.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "priv.h"

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

/* A query whose reply is copied into out (out_len bytes, zeroed first). */
static int call_copy(struct uvfio_client *c, const uint8_t *msg, ssize_t n,
		     const struct uvfio_expect *exp, void *out, size_t out_len)
{
	struct pending p = {
		.exp = *exp,
		.complete = complete_copy,
		.out = out,
		.out_len = out_len,
	};
	memset(out, 0, out_len);
	return cli_call(c, msg, (size_t)n, NULL, 0, &p);
}

int uvfio_client_get_device_info(struct uvfio_client *c,
				 struct uvfio_device_info *info)
{
	uint8_t msg[64];
	cli_lock(c);
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_device_get_info(msg, sizeof(msg), id);
	struct uvfio_expect exp = { .cmd = UVFIO_CMD_DEVICE_GET_INFO,
				    .msg_id = id, .argsz = sizeof(*info) };
	int r = call_copy(c, msg, n, &exp, info, sizeof(*info));
	cli_unlock(c);
	return r;
}

int uvfio_client_get_irq_info(struct uvfio_client *c, unsigned index,
			      struct uvfio_irq_info *info)
{
	uint8_t msg[64];
	cli_lock(c);
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_get_irq_info(msg, sizeof(msg), id, index);
	struct uvfio_expect exp = { .cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO,
				    .msg_id = id, .argsz = sizeof(*info),
				    .index = index };
	int r = call_copy(c, msg, n, &exp, info, sizeof(*info));
	cli_unlock(c);
	return r;
}

/* ---- region info cache ------------------------------------------------------------ */

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
		uint16_t id = cli_next_id(c);
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
		int r = cli_call(c, msg, (size_t)n, NULL, 0, &p);
		/* The reply can arrive in the same pump that then loses the
		 * connection: teardown has dropped the cache already, so
		 * caching now would keep the fd past the connection. */
		if (!r && !c->connected)
			r = -ENOTCONN;
		/* Another thread fetched it while we waited: keep theirs,
		 * whose caps pointers may be in use already. */
		if (!r && cr->valid) {
			if (p.fd >= 0)
				close(p.fd);
			free(buf);
			return 0;
		}
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
				ulog_err(&c->log, "region %u info needs %u "
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
			ulog_err(&c->log, "region %u capabilities rejected: %s",
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

struct cli_region *cli_region_get(struct uvfio_client *c, unsigned index,
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
	cli_lock(c);
	struct cli_region *cr = cli_region_get(c, index, &r);
	if (cr)
		*info = cr->info;
	cli_unlock(c);
	return r;
}

const struct uvfio_region_caps *
uvfio_client_region_caps(struct uvfio_client *c, unsigned index)
{
	int r;
	cli_lock(c);
	struct cli_region *cr = cli_region_get(c, index, &r);
	cli_unlock(c);
	return cr ? &cr->caps : NULL;
}

void cli_regions_drop(struct uvfio_client *c)
{
	for (unsigned i = 0; i < CLI_MAX_REGIONS; i++) {
		struct cli_region *cr = &c->regions[i];
		if (cr->map)
			munmap(cr->map, cr->info.size);
		if (cr->fd >= 0)
			close(cr->fd);
		free(cr->raw);
		memset(cr, 0, sizeof(*cr));
		cr->fd = -1;
	}
}

/* ---- io fds, reset ---------------------------------------------------------------- */

/* Where a GET_REGION_IO_FDS reply goes. */
struct io_fds_out {
	struct uvfio_client_io_fd *out;
	unsigned max;
	uint32_t count; /* entries the region has */
	uint32_t argsz; /* what the server says the whole reply needs */
	bool entries;   /* entries (and their fds) came with the reply */
};

static void complete_io_fds(struct uvfio_client *c, struct pending *p,
			    struct uvfio_reply_view *v, int *fds)
{
	struct io_fds_out *o = p->out;
	uint32_t stride = v->u.io_fds.stride;
	/* Entries may share an fd: each gets its own. */
	int given[CLI_MAX_MSG_FDS];
	for (unsigned i = 0; i < CLI_MAX_MSG_FDS; i++)
		given[i] = -1;
	o->count = v->u.io_fds.hdr.count;
	o->argsz = v->u.io_fds.hdr.argsz;
	o->entries = stride != 0;
	for (uint32_t i = 0; o->entries && i < o->count && i < o->max; i++) {
		const uint8_t *e = v->u.io_fds.entries + (size_t)i * stride;
		struct uvfio_io_fd_entry ent;
		memcpy(&ent, e, sizeof(ent));
		uint64_t dm = ent.datamatch;
		if (stride == sizeof(struct uvfio_io_fd_entry_lvu)) {
			struct uvfio_io_fd_entry_lvu l;
			memcpy(&l, e, sizeof(l));
			dm = l.datamatch;
		}
		int fd = -1;
		uint32_t k = ent.fd_index;
		if (k != UVFIO_IO_FD_NONE && k < CLI_MAX_MSG_FDS) {
			if (given[k] < 0) {
				fd = given[k] = fds[k];
				fds[k] = -1;
			} else {
				fd = fcntl(given[k], F_DUPFD_CLOEXEC, 3);
				if (fd < 0)
					ulog_warn(&c->log, "io fd entry %u: %s", i,
						   strerror(errno));
			}
		}
		o->out[i] = (struct uvfio_client_io_fd){
			.offset = ent.offset, .size = ent.size, .fd = fd,
			.type = ent.type, .flags = ent.flags, .datamatch = dm,
		};
	}
}

int uvfio_client_get_region_io_fds(struct uvfio_client *c, unsigned index,
				   struct uvfio_client_io_fd *out,
				   unsigned max)
{
	if (max && !out)
		return -EINVAL;
	/* Room for max entries of the larger (libvfio-user) layout; the
	 * server sends entries only if all of them fit. */
	uint64_t want = sizeof(struct uvfio_io_fds) +
			(uint64_t)max * sizeof(struct uvfio_io_fd_entry_lvu);
	uint32_t argsz = want > CLI_CTRL_MAX ? CLI_CTRL_MAX : (uint32_t)want;
	uint8_t msg[64];
	int r = -EPROTO;
	cli_lock(c);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct io_fds_out o = { .out = out, .max = max };
		uint16_t id = cli_next_id(c);
		ssize_t n = uvfio_build_get_region_io_fds(msg, sizeof(msg), id,
							  index, argsz);
		struct pending p = {
			.exp = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_IO_FDS,
				 .msg_id = id, .argsz = argsz, .index = index,
				 .max_fds = CLI_MAX_MSG_FDS },
			.complete = complete_io_fds,
			.out = &o,
		};
		r = n < 0 ? (int)n : cli_call(c, msg, (size_t)n, NULL, 0, &p);
		if (r)
			break;
		if (o.entries || !o.count || !max) {
			r = o.count > INT32_MAX ? INT32_MAX : (int)o.count;
			break;
		}
		/* More entries than we made room for: ask for all of them,
		 * with the size the server says they need. */
		if (o.argsz <= argsz || o.argsz > CLI_CTRL_MAX) {
			ulog_err(&c->log, "GET_REGION_IO_FDS of region %u: %u "
					   "entries in %u bytes; refusing",
				  index, o.count, o.argsz);
			r = -EPROTO;
			break;
		}
		argsz = o.argsz;
		r = -EPROTO;
	}
	cli_unlock(c);
	return r;
}

int uvfio_client_reset(struct uvfio_client *c)
{
	uint8_t msg[UVFIO_HDR_SIZE];
	cli_lock(c);
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_device_reset(msg, sizeof(msg), id);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_RESET, .msg_id = id },
	};
	int r = cli_call(c, msg, (size_t)n, NULL, 0, &p);
	cli_unlock(c);
	return r;
}
