/* SPDX-License-Identifier: MIT */
/*
 * Client region access: synchronous, asynchronous and posted
 * REGION_READ/WRITE in chunks of what both sides can carry, WRITE_MULTI,
 * and mmap of a region's sparse areas (which accesses then use directly).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "priv.h"

/* Where a synchronous region access puts its data and says how much. */
struct rw_out {
	void *buf;
	uint32_t want;
	uint32_t got;
};

static void complete_read(struct uvfio_client *c, struct pending *p,
			  struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	(void)fds;
	uint32_t got = v->u.region_rw.count;
	if (p->op) {
		/* Async: out is the caller's buffer; a short read is an error. */
		if (got && v->u.region_rw.data)
			memcpy(p->out, v->u.region_rw.data, got);
		if (got != p->exp.count && !p->op->result)
			p->op->result = -EIO;
		return;
	}
	struct rw_out *o = p->out;
	o->got = got;
	if (got && v->u.region_rw.data)
		memcpy(o->buf, v->u.region_rw.data, got);
}

static void complete_write(struct uvfio_client *c, struct pending *p,
			   struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	(void)fds;
	/* libvfio-user answers a 0-byte write without payload. */
	uint32_t got = v->len ? v->u.region_rw.count : p->exp.count;
	if (p->op) {
		if (got != p->exp.count && !p->op->result)
			p->op->result = -EIO;
		return;
	}
	((struct rw_out *)p->out)->got = got;
}

/*
 * The request for one chunk: n bytes at addr, to or from data.  out is
 * what its completion fills: a struct rw_out for a synchronous access, the
 * data itself for an asynchronous one (op).
 */
static struct pending rw_pending(struct uvfio_client *c, unsigned index,
				 uint64_t addr, void *data, uint32_t n,
				 bool is_write, void *out, struct async_op *op)
{
	return (struct pending){
		.exp = { .cmd = is_write ? UVFIO_CMD_REGION_WRITE
					 : UVFIO_CMD_REGION_READ,
			 .msg_id = cli_next_id(c), .count = n, .index = index,
			 .addr = addr },
		.complete = is_write ? complete_write : complete_read,
		.out = out,
		.rx_into = is_write ? NULL : data,
		.op = op,
	};
}

/* Build a REGION_READ/WRITE straight into the send queue: a write's data
 * is copied once, from the caller's buffer, and nothing is allocated. */
static int queue_rw(struct uvfio_client *c, unsigned index, uint64_t off,
		    const void *data, uint32_t n, bool is_write, bool no_reply,
		    uint16_t id, const void *in_place)
{
	if (in_place && is_write && n >= TP_DIRECT_MIN) {
		/* A synchronous write's data stays put until its reply: send
		 * it from there (the caller detaches if it must leave early). */
		struct uvfio_region_rw rw = { .offset = off, .region = index,
					      .count = n };
		const size_t pre = UVFIO_HDR_SIZE + sizeof(rw);
		uint8_t *m = tp_reserve(&c->tp, pre);
		if (!m)
			return errno == ENOBUFS ? -EAGAIN : -errno;
		uvfio_build_hdr(m, id, UVFIO_CMD_REGION_WRITE, 0, pre + n);
		memcpy(m + UVFIO_HDR_SIZE, &rw, sizeof(rw));
		int r = tp_commit_ext(&c->tp, pre, data, n, in_place);
		if (r != -ENOBUFS)
			return r;
	}
	size_t need = UVFIO_HDR_SIZE + sizeof(struct uvfio_region_rw) +
		      (is_write ? n : 0);
	void *m = tp_reserve(&c->tp, need);
	if (!m)
		return errno == ENOBUFS ? -EAGAIN : -errno;
	ssize_t ml = is_write ? uvfio_build_region_write(m, need, id, no_reply,
							 index, off, data, n)
			      : uvfio_build_region_read(m, need, id, index,
							off, n);
	if (ml < 0) {
		tp_cancel(&c->tp);
		return (int)ml;
	}
	return tp_commit(&c->tp, (size_t)ml, NULL, 0);
}

/* Queue one region access with p waiting for its reply (lock held). */
static int submit_rw(struct uvfio_client *c, unsigned index, uint64_t off,
		     const void *data, uint32_t n, bool is_write,
		     struct pending *p, const void *in_place)
{
	if (!c->connected)
		return -ENOTCONN;
	if (c->q_len == CLI_MAX_PENDING)
		return -EAGAIN;
	int r = queue_rw(c, index, off, data, n, is_write, false,
			 p->exp.msg_id, in_place);
	return r ? r : cli_submit(c, NULL, 0, NULL, 0, p);
}

/* ---- mapped areas -------------------------------------------------------------- */

/* What of a region may be mapped: its sparse areas, or all of it. */
static uint32_t area_count(const struct cli_region *cr)
{
	return cr->caps.has_sparse ? cr->caps.nr_areas : 1;
}

static struct uvfio_sparse_area area_at(const struct cli_region *cr,
					uint32_t i)
{
	struct uvfio_sparse_area a = { 0, cr->info.size };
	/* Packed and unaligned in the reply: copied, not pointed at. */
	if (cr->caps.has_sparse)
		memcpy(&a, cr->caps.areas + i * sizeof(a), sizeof(a));
	return a;
}

/* Access through the client's mapping when the whole range is inside one
 * mapped sparse area.  Returns true if done. */
static bool access_mapped(struct uvfio_client *c, unsigned index,
			  uint64_t off, void *buf, size_t len, bool is_write)
{
	if (index >= CLI_MAX_REGIONS || !c->regions[index].map)
		return false;
	struct cli_region *cr = &c->regions[index];
	for (uint32_t i = 0; i < area_count(cr); i++) {
		struct uvfio_sparse_area a = area_at(cr, i);
		if (off >= a.offset && len <= a.size &&
		    off - a.offset <= a.size - len) {
			uint8_t *p = (uint8_t *)cr->map + off;
			if (is_write)
				memcpy(p, buf, len);
			else
				memcpy(buf, p, len);
			return true;
		}
	}
	return false;
}

/* ---- synchronous access -------------------------------------------------------- */

/* One chunk of a synchronous access, sent and waited for (lock held once). */
static int rw_chunk(struct uvfio_client *c, unsigned index, uint64_t addr,
		    uint8_t *data, uint32_t n, bool is_write)
{
	struct rw_out o = { data, n, 0 };
	struct pending p = rw_pending(c, index, addr, data, n, is_write, &o,
				      NULL);
	int r = submit_rw(c, index, addr, data, n, is_write, &p, &o);
	if (r == -EAGAIN) {
		/* Full queue: let replies drain, then try once more. */
		cli_pump(c);
		r = submit_rw(c, index, addr, data, n, is_write, &p, &o);
	}
	if (!r)
		r = cli_wait(c, &p);
	/* A reply before the whole request left (a broken server) must not
	 * leave the send queue pointing into the caller's buffer. */
	if (c->connected && tp_ext_busy(&c->tp, &o) &&
	    tp_ext_detach(&c->tp, &o))
		cli_fail(c, -ENOMEM, "out of memory keeping a write");
	if (!r && o.got != n)
		r = -EIO;
	return r;
}

static int region_rw(struct uvfio_client *c, unsigned index, uint64_t offset,
		     void *buf, size_t len, bool is_write)
{
	int r = cli_lock_connected(c);
	if (r)
		return r;
	if (access_mapped(c, index, offset, buf, len, is_write)) {
		cli_unlock(c);
		return 0;
	}
	uint8_t *b = buf;
	size_t done = 0;
	r = cli_may_wait(c);
	while (!r) {
		uint32_t n = cli_chunk(c, len - done);
		r = rw_chunk(c, index, offset + done, b + done, n, is_write);
		done += n;
		if (done >= len)
			break;
	}
	cli_unlock(c);
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

/* ---- asynchronous access ------------------------------------------------------- */

/* Queue every chunk of an asynchronous access under op, one count each;
 * the first error stops it. */
static int queue_async(struct uvfio_client *c, unsigned index,
		       uint64_t offset, uint8_t *b, size_t len, bool is_write,
		       struct async_op *op)
{
	size_t off = 0;
	do {
		uint32_t n = cli_chunk(c, len - off);
		struct pending *p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		*p = rw_pending(c, index, offset + off, b + off, n, is_write,
				b + off, op);
		op->chunks++;
		int r = submit_rw(c, index, offset + off, b + off, n, is_write,
				  p, NULL);
		if (r) {
			op->chunks--;
			free(p);
			return r;
		}
		off += n;
	} while (off < len);
	return 0;
}

/*
 * Asynchronous access: one message per chunk, all queued now (the write's
 * data is copied into the send queue), done() once the last reply is in.
 */
static int region_rw_async(struct uvfio_client *c, unsigned index,
			   uint64_t offset, void *buf, size_t len,
			   bool is_write, uvfio_client_done_fn done,
			   void *opaque)
{
	int r = cli_lock_connected(c);
	if (r)
		return r;
	size_t chunks = len ? (len + c->xfer - 1) / c->xfer : 1;
	if (chunks > CLI_MAX_PENDING - c->q_len) {
		cli_unlock(c);
		return -EAGAIN;
	}
	struct async_op *op = calloc(1, sizeof(*op));
	if (!op) {
		cli_unlock(c);
		return -ENOMEM;
	}
	/* The submission holds a count of its own until every chunk is
	 * queued: op is finished (and freed) only by whoever drops the last
	 * count, never under the loop. */
	*op = (struct async_op){ .chunks = 1, .done = done, .opaque = opaque };
	r = queue_async(c, index, offset, buf, len, is_write, op);
	/* Drop the submission's own count.  If some chunks went out, done()
	 * will run and carry the error; the call itself then succeeds, so
	 * the caller hears of the outcome exactly once. */
	bool queued = op->chunks > 1;
	if (r && queued) {
		if (!op->result)
			op->result = r;
		r = 0;
	}
	if (--op->chunks == 0) {
		if (op->done && !r)
			op->done(op->opaque, op->result);
		free(op);
	} else if (!c->in_deliver) {
		cli_pump(c); /* send now; replies come with later processing */
	}
	cli_unlock(c);
	return r;
}

int uvfio_client_region_read_async(struct uvfio_client *c, unsigned index,
				   uint64_t offset, void *buf, size_t len,
				   uvfio_client_done_fn done, void *opaque)
{
	return region_rw_async(c, index, offset, buf, len, false, done, opaque);
}

int uvfio_client_region_write_async(struct uvfio_client *c, unsigned index,
				    uint64_t offset, const void *buf,
				    size_t len, uvfio_client_done_fn done,
				    void *opaque)
{
	return region_rw_async(c, index, offset, (void *)buf, len, true, done,
			       opaque);
}

/* ---- posted writes --------------------------------------------------------------- */

int uvfio_client_region_write_posted(struct uvfio_client *c, unsigned index,
				     uint64_t offset, const void *buf,
				     size_t len)
{
	int r = cli_lock_connected(c);
	if (r)
		return r;
	if (access_mapped(c, index, offset, (void *)buf, len, true)) {
		cli_unlock(c);
		return 0;
	}
	/* Posted writes are the hot path of a guest's MMIO stores: build each
	 * message straight into the send queue (no allocation, one copy) and
	 * only flush, since no reply will come.  The receive side is pumped
	 * only when the socket pushes back, so a server that stops reading
	 * until we drain its DMA requests cannot wedge us. */
	const uint8_t *b = buf;
	size_t off = 0;
	do {
		uint32_t n = cli_chunk(c, len - off);
		r = queue_rw(c, index, offset + off, b + off, n, true, true,
			     cli_next_id(c), NULL);
		off += n;
	} while (!r && off < len);
	if (!r && !c->in_deliver)
		r = cli_flush(c);
	cli_unlock(c);
	return r == -ENOBUFS ? -EAGAIN : r;
}

/* The WRITE_MULTI of e[0..k) in msg (cap bytes); its length or -errno. */
static ssize_t build_multi(uint8_t *msg, size_t cap, uint16_t id,
			   const struct uvfio_write_multi_entry *e, unsigned k)
{
	ssize_t ml = uvfio_build_write_multi(msg, cap, id, e, k);
	/* Unused data bytes go out as zeros, not as stack contents. */
	struct uvfio_write_multi_entry z;
	for (unsigned i = 0; i < k; i++) {
		memcpy(&z, msg + UVFIO_HDR_SIZE + 8 + i * sizeof(z), sizeof(z));
		memset(z.data + z.count, 0, UVFIO_WRITE_MULTI_DATA - z.count);
		memcpy(msg + UVFIO_HDR_SIZE + 8 + i * sizeof(z), &z, sizeof(z));
	}
	return ml;
}

int uvfio_client_region_write_multi(struct uvfio_client *c,
				    const struct uvfio_write_multi_entry *e,
				    unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!e[i].count || e[i].count > UVFIO_WRITE_MULTI_DATA)
			return -EINVAL;
	cli_lock(c);
	int r = c->connected ? 0 : -ENOTCONN;
	if (!r && !c->srv.write_multiple) {
		/* Not offered: the same writes, one posted message each. */
		for (unsigned i = 0; i < n && !r; i++)
			r = uvfio_client_region_write_posted(c, e[i].region,
							     e[i].offset,
							     e[i].data,
							     e[i].count);
		cli_unlock(c);
		return r;
	}
	uint8_t *msg = NULL;
	for (unsigned done = 0; !r && done < n;) {
		unsigned k = n - done < UVFIO_WRITE_MULTI_MAX ? n - done
							      : UVFIO_WRITE_MULTI_MAX;
		size_t cap = UVFIO_HDR_SIZE + 8 + k * sizeof(*e);
		uint8_t *m = realloc(msg, cap);
		if (!m) {
			r = -ENOMEM;
			break;
		}
		msg = m;
		ssize_t ml = build_multi(msg, cap, cli_next_id(c), e + done, k);
		r = ml < 0 ? (int)ml : tp_send(&c->tp, msg, (size_t)ml,
						     NULL, 0);
		done += k;
	}
	free(msg);
	if (!r && !c->in_deliver)
		r = cli_pump(c);
	cli_unlock(c);
	return r == -ENOBUFS ? -EAGAIN : r;
}

/* ---- mmap ----------------------------------------------------------------------------- */

/* Pages of a file beyond its end raise SIGBUS when touched: a file shorter
 * than the areas the server announced is refused here rather than
 * crashing us at the first access. */
static int areas_in_file(struct uvfio_client *c, unsigned index,
			 const struct cli_region *cr)
{
	struct stat st;
	if (fstat(cr->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	for (uint32_t i = 0; i < area_count(cr); i++) {
		struct uvfio_sparse_area a = area_at(cr, i);
		uint64_t end;
		if (a.size && (__builtin_add_overflow(cr->info.offset,
						      a.offset + a.size, &end) ||
			       end > (uint64_t)st.st_size)) {
			ulog_err(&c->log, "region %u: area %u ends beyond the "
					   "server's file (%lld bytes); not "
					   "mapping it",
				  index, i, (long long)st.st_size);
			return -EINVAL;
		}
	}
	return 0;
}

/* Reserve the whole region, then map only the areas the server allows;
 * the rest stays inaccessible (and goes through messages). */
static int map_areas(struct uvfio_client *c, unsigned index,
		     const struct cli_region *cr, void **basep)
{
	int prot = (cr->info.flags & UVFIO_REGION_READ ? PROT_READ : 0) |
		   (cr->info.flags & UVFIO_REGION_WRITE ? PROT_WRITE : 0);
	void *base = mmap(NULL, cr->info.size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	for (uint32_t i = 0; i < area_count(cr); i++) {
		struct uvfio_sparse_area a = area_at(cr, i);
		if (!a.size)
			continue;
		int r = 0;
		if (a.offset % 4096 || a.size % 4096)
			r = -EINVAL;
		else if (mmap((uint8_t *)base + a.offset, a.size, prot,
			      MAP_SHARED | MAP_FIXED, cr->fd,
			      (off_t)(cr->info.offset + a.offset)) == MAP_FAILED)
			r = -errno;
		if (r) {
			ulog_err(&c->log, "region %u: cannot map area %u: %s",
				  index, i, strerror(-r));
			munmap(base, cr->info.size);
			return r;
		}
	}
	*basep = base;
	return 0;
}

int uvfio_client_region_mmap(struct uvfio_client *c, unsigned index,
			     void **addr)
{
	cli_lock(c);
	int r = 0;
	struct cli_region *cr = cli_region_get(c, index, &r);
	if (!cr)
		goto out;
	if (cr->map) {
		*addr = cr->map;
		goto out;
	}
	if (!(cr->info.flags & UVFIO_REGION_MMAP) || cr->fd < 0 ||
	    !cr->info.size) {
		r = -ENOTSUP;
		goto out;
	}
	void *base = NULL;
	r = areas_in_file(c, index, cr);
	if (!r)
		r = map_areas(c, index, cr, &base);
	if (!r) {
		cr->map = base;
		*addr = base;
	}
out:
	cli_unlock(c);
	return r;
}
