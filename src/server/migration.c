/* SPDX-License-Identifier: MIT */
/*
 * Live migration on the server: DEVICE_FEATURE (MIGRATION, MIG_DEVICE_STATE,
 * DMA_LOGGING_START/STOP/REPORT), MIG_DATA_READ/WRITE, DMA_UNMAP with a
 * dirty bitmap, and which commands each migration state refuses.
 *
 * The state machine itself is src/migration/fsm.c; the dirty bitmaps live
 * with the DMA windows (src/dma/dma.c) so every write path that finds a
 * window can mark it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/fsm.h"
#include "priv.h"

/* Logging granularity we track at, whatever the client hints: below 4 KiB
 * costs memory for nothing (reports at finer sizes replicate bits), above
 * 1 GiB says little. */
#define LOG_MIN_SHIFT 12u
#define LOG_MAX_SHIFT 30u

static uint32_t mig_state(struct uvfio_server *s)
{
	return __atomic_load_n(&s->mig.state, __ATOMIC_ACQUIRE);
}

static void set_state(struct uvfio_server *s, uint32_t st)
{
	__atomic_store_n(&s->mig.state, st, __ATOMIC_RELEASE);
}

static unsigned log2u64(uint64_t x)
{
	return 63u - (unsigned)__builtin_clzll(x);
}

/* ---- the API ------------------------------------------------------------------ */

int uvfio_server_set_migration(struct uvfio_server *s,
			       const struct uvfio_migration_ops *ops,
			       void *opaque, uint64_t flags)
{
	const uint64_t known = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P |
			       UVFIO_MIGRATION_PRE_COPY;
	struct uvfio_migration_ops copy;
	if (!s || !ops)
		return -EINVAL;
	int r = srv_copy_struct(&copy, sizeof(copy), ops,
				SRV_FIELD_END(struct uvfio_migration_ops,
					      log_stop));
	if (r)
		return r;
	if (!copy.transition || !copy.read_data || !copy.write_data ||
	    !(flags & UVFIO_MIGRATION_STOP_COPY) || (flags & ~known))
		return -EINVAL;
	if (s->described)
		return -EBUSY;
	s->mig.ops = copy;
	s->mig.enabled = true;
	s->mig.opaque = opaque;
	s->mig.flags = flags;
	set_state(s, UVFIO_MIG_RUNNING);
	return 0;
}

enum uvfio_mig_state uvfio_server_migration_state(struct uvfio_server *s)
{
	return s->mig.enabled ? (enum uvfio_mig_state)mig_state(s)
			      : UVFIO_MIG_RUNNING;
}

int uvfio_server_dma_mark_dirty(struct uvfio_server *s, uint64_t iova,
				uint64_t len)
{
	return dmat_mark_dirty(&s->dma, iova, len);
}

bool uvfio_server_dma_logging(struct uvfio_server *s)
{
	return __atomic_load_n(&s->dma.logging, __ATOMIC_ACQUIRE);
}

/* ---- gating -------------------------------------------------------------------- */

/*
 * As libvfio-user does (docs/protocol.md 6.9): while the device is
 * stopped for migration nothing may change what is being saved: no
 * DMA_MAP/UNMAP, SET_IRQS or DEVICE_RESET in STOP and STOP_COPY, and no
 * region access in STOP_COPY (STOP keeps them: config space and MSI-X
 * must answer, as the uapi asks).  Unlike libvfio-user, the info queries
 * stay allowed: they change nothing, and a client that reconnects to a
 * stopped device needs them.
 */
bool srv_mig_gate(struct uvfio_server *s, const struct uvfio_cmd_view *v)
{
	if (!s->mig.enabled)
		return false;
	uint32_t st = mig_state(s);
	if (st != UVFIO_MIG_STOP && st != UVFIO_MIG_STOP_COPY)
		return false;
	switch (v->hdr.cmd) {
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
	case UVFIO_CMD_REGION_WRITE_MULTI:
		if (st != UVFIO_MIG_STOP_COPY)
			return false;
		break;
	case UVFIO_CMD_DMA_MAP:
	case UVFIO_CMD_DMA_UNMAP:
	case UVFIO_CMD_DEVICE_SET_IRQS:
	case UVFIO_CMD_DEVICE_RESET:
		break;
	default:
		return false;
	}
	char why[160];
	snprintf(why, sizeof(why),
		 "refused while the device is in migration state %s; set it to "
		 "RUNNING (or RESUMING) first",
		 mig_fsm_name(st));
	srv_reply_error(s, &v->hdr, EINVAL, why);
	return true;
}

void srv_mig_reset(struct uvfio_server *s)
{
	if (!s->mig.enabled)
		return;
	/* The spec's way out of ERROR; the uapi's way to abort RESUMING.
	 * PRE_COPY stays: QEMU resets devices while pre-copy runs. */
	uint32_t st = mig_state(s);
	if (st == UVFIO_MIG_ERROR || st == UVFIO_MIG_RESUMING) {
		ulog_info(&s->log, "device reset: migration state %s -> RUNNING",
			   mig_fsm_name(st));
		set_state(s, UVFIO_MIG_RUNNING);
	}
}

void srv_mig_disconnect(struct uvfio_server *s)
{
	/* The windows are gone with the client; so is its logging.  The
	 * migration state stays, like the rest of the device state. */
	bool was = uvfio_server_dma_logging(s);
	dmat_log_stop(&s->dma);
	if (was && s->mig.ops.log_stop)
		s->mig.ops.log_stop(s->mig.opaque);
}

/* ---- DEVICE_FEATURE ------------------------------------------------------------ */

/* SET and PROBE replies echo the request, within the client's argsz. */
static void reply_echo(struct uvfio_server *s, const struct uvfio_cmd_view *v,
		       const void *data, uint32_t data_len)
{
	struct uvfio_feature hdr = v->u.feature.req;
	uint32_t room = hdr.argsz - (uint32_t)sizeof(hdr);
	uint32_t n = data_len < room ? data_len : room;
	uint8_t *buf = malloc(sizeof(hdr) + n);
	if (!buf) {
		srv_reply_error(s, &v->hdr, ENOMEM, "out of memory");
		return;
	}
	hdr.argsz = (uint32_t)sizeof(hdr) + n;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), data, n);
	srv_reply_ok(s, &v->hdr, buf, sizeof(hdr) + n, NULL, 0);
	free(buf);
}

/* GET replies: the header, argsz = what follows, then the data. */
static void reply_get(struct uvfio_server *s, const struct uvfio_cmd_view *v,
		      const void *data, uint32_t len)
{
	const struct uvfio_feature head = {
		.argsz = (uint32_t)sizeof(head) + len,
		.flags = v->u.feature.req.flags,
	};
	uint8_t *p = srv_reply_reserve(s, sizeof(head) + len);
	if (!p)
		return;
	memcpy(p, &head, sizeof(head));
	memcpy(p + sizeof(head), data, len);
	srv_reply_commit(s, &v->hdr, sizeof(head) + len, NULL, 0);
}

static void set_device_state(struct uvfio_server *s,
			     const struct uvfio_cmd_view *v)
{
	struct srv_mig *m = &s->mig;
	struct uvfio_feature_mig_state req;
	uint32_t path[MIG_FSM_MAX_STEPS];
	char why[200];

	memcpy(&req, v->u.feature.data, sizeof(req));
	uint32_t cur = mig_state(s), target = req.device_state;
	int n = mig_fsm_path(m->flags, cur, target, path);
	if (n < 0) {
		if (cur == UVFIO_MIG_ERROR)
			snprintf(why, sizeof(why),
				 "the device is in ERROR; only DEVICE_RESET "
				 "leaves it");
		else if (target == UVFIO_MIG_ERROR ||
			 !mig_fsm_has_state(m->flags, target))
			snprintf(why, sizeof(why),
				 "state %u (%s) cannot be requested from this "
				 "device (see the MIGRATION feature flags)",
				 target, mig_fsm_name(target));
		else
			snprintf(why, sizeof(why),
				 "no legal transition from %s to %s",
				 mig_fsm_name(cur), mig_fsm_name(target));
		srv_reply_error(s, &v->hdr, EINVAL, why);
		return;
	}
	for (int i = 0; i < n; i++) {
		uint32_t from = mig_state(s), to = path[i];
		int r = m->ops.transition(m->opaque, (enum uvfio_mig_state)from,
					   (enum uvfio_mig_state)to);
		if (r > 0)
			r = -EIO; /* not a count: a broken callback */
		if (r) {
			bool keep = r == -EBUSY || r == -EAGAIN;
			if (!keep)
				set_state(s, UVFIO_MIG_ERROR);
			snprintf(why, sizeof(why),
				 "the device failed the %s -> %s step (%s); "
				 "state is now %s",
				 mig_fsm_name(from), mig_fsm_name(to),
				 strerror(-r),
				 mig_fsm_name(keep ? from : UVFIO_MIG_ERROR));
			srv_reply_error(s, &v->hdr, -r, why);
			return;
		}
		set_state(s, to);
		ulog_info(&s->log, "migration state %s -> %s",
			   mig_fsm_name(from), mig_fsm_name(to));
	}
	req.data_fd = 0;
	reply_echo(s, v, &req, sizeof(req));
}

static void log_start(struct uvfio_server *s, const struct uvfio_cmd_view *v)
{
	struct uvfio_feature_log_start ls;
	memcpy(&ls, v->u.feature.data, sizeof(ls));
	uint32_t n = ls.num_ranges;
	struct dmat_range *r = NULL;
	if (n) {
		r = malloc(n * sizeof(*r));
		if (!r) {
			srv_reply_error(s, &v->hdr, ENOMEM, "out of memory");
			return;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct uvfio_log_range lr;
			memcpy(&lr, v->u.feature.data + sizeof(ls) + i * sizeof(lr),
			       sizeof(lr));
			r[i].iova = lr.iova;
			r[i].len = lr.length;
		}
	}
	unsigned shift = log2u64(ls.page_size);
	if (shift < LOG_MIN_SHIFT)
		shift = LOG_MIN_SHIFT;
	if (shift > LOG_MAX_SHIFT)
		shift = LOG_MAX_SHIFT;
	int ret = dmat_log_start(&s->dma, shift, r, n, SRV_MAX_LOG_BYTES);
	free(r);
	if (!ret && s->mig.ops.log_start) {
		ret = s->mig.ops.log_start(s->mig.opaque, 1ull << shift);
		if (ret)
			dmat_log_stop(&s->dma);
	}
	if (ret) {
		srv_reply_error(s, &v->hdr, -ret,
				ret == -EBUSY ? "DMA logging is already on; "
						"stop it first"
				: ret == -E2BIG ? "dirty bitmaps for these "
						  "ranges would exceed 64 MiB; "
						  "use a larger page_size or "
						  "fewer ranges"
						: "cannot start DMA logging");
		return;
	}
	ulog_info(&s->log, "DMA logging on at %llu-byte pages, %u ranges",
		   1ull << shift, n);
	/* The echo carries the page size we actually track at. */
	uint8_t *echo = malloc(v->u.feature.data_len);
	if (!echo) {
		srv_reply_error(s, &v->hdr, ENOMEM, "out of memory");
		return;
	}
	memcpy(echo, v->u.feature.data, v->u.feature.data_len);
	ls.page_size = 1ull << shift;
	memcpy(echo, &ls, sizeof(ls));
	reply_echo(s, v, echo, v->u.feature.data_len);
	free(echo);
}

/*
 * Reply with two fixed parts and a bitmap (DMA_LOGGING_REPORT, DMA_UNMAP
 * with GET_DIRTY_BITMAP), built in the send queue; frees bits.  A reply
 * that cannot be queued ends the connection: the client would wait for it.
 */
static void reply_bitmap(struct uvfio_server *s, const struct uvfio_cmd_view *v,
			 const void *a, size_t alen, const void *b, size_t blen,
			 uint64_t *bits, size_t bm)
{
	uint8_t *p = NULL;
	/* Nothing to build when nobody wants the answer. */
	if (!(v->hdr.flags & UVFIO_F_NO_REPLY))
		p = srv_reply_reserve(s, alen + blen + bm);
	if (p) {
		memcpy(p, a, alen);
		memcpy(p + alen, b, blen);
		memcpy(p + alen + blen, bits, bm);
		srv_reply_commit(s, &v->hdr, alen + blen + bm, NULL, 0);
	}
	free(bits);
}

static void log_report(struct uvfio_server *s, const struct uvfio_cmd_view *v)
{
	struct uvfio_feature_log_report rep;
	memcpy(&rep, v->u.feature.data, sizeof(rep));
	uint64_t bm = v->u.feature.bitmap_bytes;

	if (!uvfio_server_dma_logging(s)) {
		srv_reply_error(s, &v->hdr, EINVAL,
				"DMA_LOGGING_REPORT while DMA logging is off");
		return;
	}
	if (bm > SRV_MAX_REPORT_BITMAP) {
		srv_reply_error(s, &v->hdr, E2BIG,
				"the bitmap would exceed 4 MiB; report a smaller "
				"range or at a larger page_size");
		return;
	}
	/* Built aside, u64-aligned, then copied into the reply. */
	uint64_t *bits = malloc(bm);
	if (!bits) {
		srv_reply_error(s, &v->hdr, ENOMEM, "out of memory");
		return;
	}
	int r = dmat_log_report(&s->dma, rep.iova, rep.length,
				     log2u64(rep.page_size), bits);
	if (r) {
		free(bits);
		srv_reply_error(s, &v->hdr, -r, "DMA logging is off");
		return;
	}
	struct uvfio_feature hdr = {
		.argsz = (uint32_t)(sizeof(hdr) + sizeof(rep) + bm),
		.flags = v->u.feature.req.flags,
	};
	reply_bitmap(s, v, &hdr, sizeof(hdr), &rep, sizeof(rep), bits, bm);
}

void srv_handle_feature(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct srv_mig *m = &s->mig;
	uint32_t flags = v->u.feature.req.flags;
	uint32_t f = v->u.feature.feature;

	if (!m->enabled) {
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"this device does not support migration or DMA "
				"logging");
		return;
	}
	/* The codec has checked the ops each feature allows, and sizes. */
	if (flags & UVFIO_FEATURE_PROBE) {
		reply_echo(s, v, v->u.feature.data, v->u.feature.data_len);
		return;
	}
	switch (f) {
	case UVFIO_FEATURE_MIGRATION: {
		struct uvfio_feature_migration mf = { .flags = m->flags };
		reply_get(s, v, &mf, sizeof(mf));
		return;
	}
	case UVFIO_FEATURE_MIG_DEVICE_STATE:
		if (flags & UVFIO_FEATURE_GET) {
			struct uvfio_feature_mig_state st = {
				.device_state = mig_state(s),
			};
			reply_get(s, v, &st, sizeof(st));
		} else {
			set_device_state(s, v);
		}
		return;
	case UVFIO_FEATURE_DMA_LOGGING_START:
		log_start(s, v);
		return;
	case UVFIO_FEATURE_DMA_LOGGING_STOP: {
		bool was = uvfio_server_dma_logging(s);
		dmat_log_stop(&s->dma);
		if (was && m->ops.log_stop)
			m->ops.log_stop(m->opaque);
		reply_echo(s, v, v->u.feature.data, v->u.feature.data_len);
		return;
	}
	case UVFIO_FEATURE_DMA_LOGGING_REPORT:
		log_report(s, v);
		return;
	}
	srv_reply_error(s, &v->hdr, ENOTSUP, "device feature not supported");
}

/* ---- MIG_DATA_READ / MIG_DATA_WRITE ------------------------------------------- */

static void mig_data_read(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct srv_conn *c = s->conn;
	struct srv_mig *m = &s->mig;
	uint32_t want = v->u.mig_data.req.size;
	uint32_t st = mig_state(s);
	char why[160];

	if (st != UVFIO_MIG_PRE_COPY && st != UVFIO_MIG_PRE_COPY_P2P &&
	    st != UVFIO_MIG_STOP_COPY) {
		snprintf(why, sizeof(why),
			 "MIG_DATA_READ needs state PRE_COPY or STOP_COPY; the "
			 "device is in %s",
			 mig_fsm_name(st));
		srv_reply_error(s, &v->hdr, EINVAL, why);
		return;
	}
	if (want > c->peer.max_data_xfer_size) {
		srv_reply_error(s, &v->hdr, E2BIG,
				"MIG_DATA_READ size exceeds the client's own "
				"max_data_xfer_size");
		return;
	}
	/* Produced straight into the send buffer; under NO_REPLY the device
	 * still produces it (the stream moves on) and it goes nowhere. */
	uint8_t *p = srv_reply_reserve(s, sizeof(struct uvfio_mig_data) + want);
	if (!p)
		return;
	uint8_t *data = p + sizeof(struct uvfio_mig_data);
	uint32_t got = 0;
	while (got < want) {
		ssize_t n = m->ops.read_data(m->opaque, data + got, want - got);
		if (n < 0 || (size_t)n > want - got) {
			srv_reply_cancel(s);
			srv_reply_error(s, &v->hdr, n < 0 ? (int)-n : EIO,
					n < 0 ? "the device failed to produce "
						"migration data"
					      : "the device's read_data returned "
						"more than asked");
			return;
		}
		if (n == 0)
			break; /* nothing more (now, or ever in STOP_COPY) */
		got += (uint32_t)n;
	}
	struct uvfio_mig_data md = {
		.argsz = (uint32_t)sizeof(md) + got,
		.size = got,
	};
	memcpy(p, &md, sizeof(md));
	srv_reply_commit(s, &v->hdr, sizeof(md) + got, NULL, 0);
}

static void mig_data_write(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct srv_mig *m = &s->mig;
	uint32_t len = v->u.mig_data.req.size, done = 0;
	uint32_t st = mig_state(s);
	char why[160];

	if (st != UVFIO_MIG_RESUMING) {
		snprintf(why, sizeof(why),
			 "MIG_DATA_WRITE needs state RESUMING; the device is "
			 "in %s",
			 mig_fsm_name(st));
		srv_reply_error(s, &v->hdr, EINVAL, why);
		return;
	}
	while (done < len) {
		ssize_t n = m->ops.write_data(m->opaque, v->u.mig_data.data + done,
					       len - done);
		if (n <= 0 || (size_t)n > len - done) {
			srv_reply_error(s, &v->hdr, n < 0 ? (int)-n : EINVAL,
					n < 0 ? "the device refused the migration "
						"data"
					      : "the device did not take all the "
						"migration data");
			return;
		}
		done += (uint32_t)n;
	}
	srv_reply_ok(s, &v->hdr, NULL, 0, NULL, 0);
}

void srv_handle_mig_data(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	if (!s->mig.enabled) {
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"this device does not support migration");
		return;
	}
	if (v->hdr.cmd == UVFIO_CMD_MIG_DATA_READ)
		mig_data_read(s, v);
	else
		mig_data_write(s, v);
}

/* ---- DMA_UNMAP with the dirty bitmap ----------------------------------------- */

void srv_handle_unmap_dirty(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	const struct uvfio_dma_unmap *u = &v->u.dma_unmap.req;
	struct uvfio_bitmap b = v->u.dma_unmap.bitmap;

	if (!uvfio_server_dma_logging(s)) {
		/* ENOTSUP as before migration existed: nothing to report. */
		srv_reply_error(s, &v->hdr, ENOTSUP,
				"dirty page logging is not active; DMA_UNMAP with "
				"GET_DIRTY_BITMAP needs DEVICE_FEATURE "
				"DMA_LOGGING_START first");
		return;
	}
	if (b.size > SRV_MAX_REPORT_BITMAP) {
		srv_reply_error(s, &v->hdr, E2BIG,
				"the dirty bitmap would exceed 4 MiB; use a "
				"larger bitmap pgsize");
		return;
	}
	/* The codec checked b.size against size and pgsize. */
	uint64_t *bits = malloc(b.size ? b.size : 8);
	if (!bits) {
		srv_reply_error(s, &v->hdr, ENOMEM, "out of memory");
		return;
	}
	struct dmat_ref ref;
	int r = dmat_get(&s->dma, u->addr, u->size, 0, &ref);
	if (!r) {
		dmat_put(&s->dma, &ref);
		if (s->ops.dma_unmap)
			s->ops.dma_unmap(s->ops_opaque, u->addr, u->size);
		r = dmat_unmap_dirty(&s->dma, u->addr, u->size,
					  log2u64(b.pgsize), bits);
	}
	if (r) {
		free(bits);
		srv_reply_error(s, &v->hdr, -r == EINVAL ? EINVAL : ENOENT,
				r == -EINVAL ? "DMA logging stopped"
					     : "no window matches addr and size "
					       "exactly");
		return;
	}
	struct uvfio_dma_unmap echo = *u;
	echo.argsz = (uint32_t)(sizeof(echo) + sizeof(b) + b.size);
	reply_bitmap(s, v, &echo, sizeof(echo), &b, sizeof(b), bits, b.size);
}
