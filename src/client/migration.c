/* SPDX-License-Identifier: MIT */
/*
 * Client: live migration (v2) and dirty page logging.
 *
 * The device's migration state machine and its data stream are driven
 * with DEVICE_FEATURE and MIG_DATA_READ/WRITE, all synchronous requests
 * through cli_call().  uvfio_client_migrate() strings them together for
 * two connections, and puts both devices back in a usable state when a
 * step fails: a half-migrated pair must never leave both devices stopped
 * (the guest would hang) nor both running (two owners of one state).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uvfio/client.h>
#include <uvfio/codec.h>

#include "priv.h"
#include "util/util.h"

#define MIG_DEFAULT_ITERATIONS 8u
#define MIG_FEATURE_HDR ((uint32_t)sizeof(struct uvfio_feature))

const char *uvfio_mig_state_name(unsigned state)
{
	static const char *const names[UVFIO_MIG_NUM_STATES] = {
		[UVFIO_MIG_ERROR] = "ERROR",
		[UVFIO_MIG_STOP] = "STOP",
		[UVFIO_MIG_RUNNING] = "RUNNING",
		[UVFIO_MIG_STOP_COPY] = "STOP_COPY",
		[UVFIO_MIG_RESUMING] = "RESUMING",
		[UVFIO_MIG_RUNNING_P2P] = "RUNNING_P2P",
		[UVFIO_MIG_PRE_COPY] = "PRE_COPY",
		[UVFIO_MIG_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};
	return state < UVFIO_MIG_NUM_STATES ? names[state] : "UNKNOWN";
}

/* ---- DEVICE_FEATURE -------------------------------------------------------------------- */

struct feature_out {
	void *data;      /* where the reply's feature data goes */
	uint32_t want;   /* its size */
	uint32_t got;    /* data bytes the reply carried (may exceed want) */
	uint32_t flags;  /* the reply's flags word */
};

static void complete_feature(struct uvfio_client *c, struct pending *p,
			     struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	(void)fds;
	struct feature_out *o = p->out;
	o->flags = v->u.feature.hdr.flags;
	o->got = v->u.feature.data_len;
	uint32_t n = o->got < o->want ? o->got : o->want;
	if (n)
		memcpy(o->data, v->u.feature.data, n);
}

/*
 * One DEVICE_FEATURE request (lock taken here).  argsz is what the reply
 * may hold: 8 + the feature data expected back.  The reply must name the
 * same feature; -EPROTO otherwise.
 */
static int feature_call(struct uvfio_client *c, uint32_t flags,
			const void *data, uint32_t data_len, uint32_t argsz,
			struct feature_out *o)
{
	size_t cap = UVFIO_HDR_SIZE + MIG_FEATURE_HDR + data_len;
	uint8_t small[128];
	uint8_t *msg = cap <= sizeof(small) ? small : malloc(cap);
	if (!msg)
		return -ENOMEM;
	cli_lock(c);
	int r;
	if (!c->connected) {
		r = -ENOTCONN;
		goto out;
	}
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_device_feature(msg, cap, id, argsz, flags, data,
					       data_len);
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_FEATURE, .msg_id = id,
			 .argsz = argsz },
		.complete = complete_feature,
		.out = o,
	};
	r = cli_call(c, msg, (size_t)n, NULL, 0, &p);
	if (!r && (o->flags & UVFIO_FEATURE_MASK) != (flags & UVFIO_FEATURE_MASK)) {
		ulog_err(&c->log, "DEVICE_FEATURE reply names feature %u, "
				   "asked for %u",
			  o->flags & UVFIO_FEATURE_MASK,
			  flags & UVFIO_FEATURE_MASK);
		r = -EPROTO;
	}
out:
	cli_unlock(c);
	if (msg != small)
		free(msg);
	return r;
}

int uvfio_client_mig_query(struct uvfio_client *c, uint64_t *flags)
{
	struct uvfio_feature_migration m = { 0 };
	struct feature_out o = { .data = &m, .want = sizeof(m) };
	int r = feature_call(c, UVFIO_FEATURE_GET | UVFIO_FEATURE_MIGRATION,
			     NULL, 0, MIG_FEATURE_HDR + sizeof(m), &o);
	/* A device without migration says so with one of these; our request
	 * is well formed, so EINVAL (libvfio-user's answer) means the same. */
	if (r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP)
		return -ENOTSUP;
	if (r)
		return r;
	if (o.got < sizeof(m)) {
		ulog_err(&c->log, "DEVICE_FEATURE MIGRATION reply carries %u "
				   "bytes of data, not the 8-byte flags",
			  o.got);
		return -EPROTO;
	}
	*flags = m.flags;
	if (!(m.flags & UVFIO_MIGRATION_STOP_COPY)) {
		ulog_err(&c->log, "device migration flags %#llx lack "
				   "STOP_COPY, which every migratable device "
				   "must support",
			  (unsigned long long)m.flags);
		return -ENOTSUP;
	}
	return 0;
}

int uvfio_client_mig_get_state(struct uvfio_client *c,
			       enum uvfio_mig_state *st)
{
	struct uvfio_feature_mig_state m = { 0 };
	struct feature_out o = { .data = &m, .want = sizeof(m) };
	int r = feature_call(c, UVFIO_FEATURE_GET |
					UVFIO_FEATURE_MIG_DEVICE_STATE,
			     NULL, 0, MIG_FEATURE_HDR + sizeof(m), &o);
	if (r)
		return r;
	if (o.got < sizeof(m.device_state) ||
	    m.device_state >= UVFIO_MIG_NUM_STATES) {
		ulog_err(&c->log, "DEVICE_FEATURE MIG_DEVICE_STATE reply: %s",
			  o.got < sizeof(m.device_state) ? "no state"
							 : "unknown state");
		return -EPROTO;
	}
	*st = (enum uvfio_mig_state)m.device_state;
	return 0;
}

int uvfio_client_mig_set_state(struct uvfio_client *c,
			       enum uvfio_mig_state st)
{
	/* ERROR is where a device ends up, never a state to ask for; the
	 * P2P states go to the server, which refuses them unless the device
	 * announced P2P. */
	if ((unsigned)st >= UVFIO_MIG_NUM_STATES || st == UVFIO_MIG_ERROR)
		return -EINVAL;
	struct uvfio_feature_mig_state m = { .device_state = st };
	struct uvfio_feature_mig_state back;
	struct feature_out o = { .data = &back, .want = sizeof(back) };
	return feature_call(c, UVFIO_FEATURE_SET | UVFIO_FEATURE_MIG_DEVICE_STATE,
			    &m, sizeof(m), MIG_FEATURE_HDR + sizeof(m), &o);
}

/* ---- migration data -------------------------------------------------------------------- */

struct mig_out {
	uint8_t *buf;
	uint32_t got;
};

static void complete_mig_read(struct uvfio_client *c, struct pending *p,
			      struct uvfio_reply_view *v, int *fds)
{
	(void)c;
	(void)fds;
	struct mig_out *o = p->out;
	/* The parser checked size <= what we asked; libvfio-user pads the
	 * message beyond size, which is why size, not the length, counts. */
	o->got = v->u.mig_data.size;
	if (o->got)
		memcpy(o->buf, v->u.mig_data.data, o->got);
}

ssize_t uvfio_client_mig_read(struct uvfio_client *c, void *buf, size_t len)
{
	uint8_t msg[UVFIO_HDR_SIZE + sizeof(struct uvfio_mig_data)];
	uint8_t *b = buf;
	size_t done = 0;
	int r = cli_lock_connected(c);
	if (r)
		return r;
	while (done < len) {
		uint32_t n = cli_chunk(c, len - done);
		uint16_t id = cli_next_id(c);
		ssize_t ml = uvfio_build_mig_data_read(msg, sizeof(msg), id, n);
		if (ml < 0) {
			r = (int)ml;
			break;
		}
		struct mig_out o = { b + done, 0 };
		struct pending p = {
			.exp = { .cmd = UVFIO_CMD_MIG_DATA_READ, .msg_id = id,
				 .argsz = (uint32_t)sizeof(struct uvfio_mig_data) + n,
				 .count = n },
			.complete = complete_mig_read,
			.out = &o,
		};
		r = cli_call(c, msg, (size_t)ml, NULL, 0, &p);
		if (r)
			break;
		done += o.got;
		if (o.got < n)
			break; /* nothing more for now */
	}
	cli_unlock(c);
	/* Bytes already taken from the stream cannot be given back: report
	 * them, and the error on the next call. */
	return done ? (ssize_t)done : r ? r : 0;
}

int uvfio_client_mig_write(struct uvfio_client *c, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t done = 0;
	int r = cli_lock_connected(c);
	if (r)
		return r;
	size_t cap = UVFIO_HDR_SIZE + sizeof(struct uvfio_mig_data) +
		     cli_chunk(c, len);
	uint8_t *msg = malloc(cap);
	if (!msg) {
		cli_unlock(c);
		return -ENOMEM;
	}
	while (done < len) {
		uint32_t n = cli_chunk(c, len - done);
		uint16_t id = cli_next_id(c);
		ssize_t ml = uvfio_build_mig_data_write(msg, cap, id, b + done, n);
		if (ml < 0) {
			r = (int)ml;
			break;
		}
		struct pending p = {
			.exp = { .cmd = UVFIO_CMD_MIG_DATA_WRITE, .msg_id = id,
				 .count = n },
		};
		r = cli_call(c, msg, (size_t)ml, NULL, 0, &p);
		if (r)
			break;
		done += n;
	}
	free(msg);
	cli_unlock(c);
	return r;
}

/* ---- dirty page logging ------------------------------------------------------------------ */

/* The codec's size, saturated where size_t is narrower (codec.h). */
size_t uvfio_dma_logging_bitmap_size(uint64_t length, uint64_t page_size)
{
	uint64_t n = uvfio_bitmap_bytes(length, page_size);
	return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

int uvfio_client_dma_logging_start(struct uvfio_client *c, uint64_t page_size,
				   const struct uvfio_log_range *ranges,
				   uint32_t n, uint64_t *granularity)
{
	if (!util_is_pow2(page_size) || (n && !ranges))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (!ranges[i].length ||
		    ranges[i].iova + ranges[i].length < ranges[i].iova)
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (ranges[i].iova < ranges[j].iova + ranges[j].length &&
			    ranges[j].iova < ranges[i].iova + ranges[i].length)
				return -EINVAL;
	}
	uint64_t len = sizeof(struct uvfio_feature_log_start) +
		       (uint64_t)n * sizeof(struct uvfio_log_range);
	cli_lock(c);
	uint32_t xfer = c->xfer ? c->xfer : UVFIO_DEFAULT_MAX_DATA_XFER;
	cli_unlock(c);
	if (len > xfer)
		return -E2BIG;
	uint8_t *data = malloc((size_t)len);
	if (!data)
		return -ENOMEM;
	struct uvfio_feature_log_start ls = { .page_size = page_size,
					      .num_ranges = n };
	memcpy(data, &ls, sizeof(ls));
	if (n)
		memcpy(data + sizeof(ls), ranges, (size_t)n * sizeof(*ranges));
	struct uvfio_feature_log_start back = { 0 };
	struct feature_out o = { .data = &back, .want = sizeof(back) };
	int r = feature_call(c, UVFIO_FEATURE_SET |
					UVFIO_FEATURE_DMA_LOGGING_START,
			     data, (uint32_t)len, MIG_FEATURE_HDR + (uint32_t)len,
			     &o);
	free(data);
	if (r)
		return r;
	if (granularity) {
		/* The spec lets the reply change page_size to the granularity
		 * the device picked; a server that only echoes leaves ours. */
		*granularity = o.got >= sizeof(back.page_size) &&
					       util_is_pow2(back.page_size)
				       ? back.page_size
				       : page_size;
	}
	return 0;
}

int uvfio_client_dma_logging_stop(struct uvfio_client *c)
{
	struct feature_out o = { 0 };
	return feature_call(c, UVFIO_FEATURE_SET | UVFIO_FEATURE_DMA_LOGGING_STOP,
			    NULL, 0, MIG_FEATURE_HDR, &o);
}

int uvfio_client_dma_logging_report(struct uvfio_client *c, uint64_t iova,
				    uint64_t length, uint64_t page_size,
				    uint64_t *bitmap)
{
	if (!util_is_pow2(page_size) || !length || iova + length < iova || !bitmap)
		return -EINVAL;
	size_t total = uvfio_dma_logging_bitmap_size(length, page_size);
	if (total > UVFIO_MAX_BITMAP_BYTES)
		return -E2BIG;
	cli_lock(c);
	uint32_t xfer = c->xfer ? c->xfer : UVFIO_DEFAULT_MAX_DATA_XFER;
	cli_unlock(c);
	/* The reply (feature header, report header, bitmap) must fit one
	 * message; each piece covers whole 64-page words so its bits start
	 * on a word of the caller's bitmap. */
	uint32_t fixed = MIG_FEATURE_HDR +
			 (uint32_t)sizeof(struct uvfio_feature_log_report);
	uint64_t piece_words = xfer > fixed ? (xfer - fixed) / 8 : 0;
	if (!piece_words)
		return -E2BIG;
	/* When a piece's byte length would overflow, any length fits one. */
	uint64_t piece_pages = piece_words * 64;
	uint64_t piece_len = piece_pages > UINT64_MAX / page_size
				     ? UINT64_MAX
				     : piece_pages * page_size;

	uint8_t *reply = malloc(sizeof(struct uvfio_feature_log_report) +
				(size_t)(piece_words * 8));
	if (!reply)
		return -ENOMEM;
	memset(bitmap, 0, total);
	uint64_t off = 0;
	int r = 0;
	while (off < length) {
		uint64_t len = length - off < piece_len ? length - off : piece_len;
		size_t bm = uvfio_dma_logging_bitmap_size(len, page_size);
		struct uvfio_feature_log_report rq = {
			.iova = iova + off, .length = len, .page_size = page_size
		};
		uint32_t want = (uint32_t)(sizeof(rq) + bm);
		struct feature_out o = { .data = reply, .want = want };
		r = feature_call(c, UVFIO_FEATURE_GET |
					    UVFIO_FEATURE_DMA_LOGGING_REPORT,
				 &rq, sizeof(rq), MIG_FEATURE_HDR + want, &o);
		if (r)
			break;
		if (o.got < want) {
			ulog_err(&c->log, "DMA_LOGGING_REPORT reply carries %u "
					   "bytes, %u expected",
				  o.got, want);
			r = -EPROTO;
			break;
		}
		struct uvfio_feature_log_report echo;
		memcpy(&echo, reply, sizeof(echo));
		if (echo.iova != rq.iova || echo.length != rq.length ||
		    echo.page_size != rq.page_size) {
			ulog_err(&c->log, "DMA_LOGGING_REPORT reply does not "
					   "echo iova/length/page_size");
			r = -EPROTO;
			break;
		}
		memcpy((uint8_t *)bitmap + off / page_size / 8,
		       reply + sizeof(echo), bm);
		off += len;
	}
	free(reply);
	if (!r) {
		/* Bits past the range are meaningless; never hand them on. */
		uint64_t pages = length / page_size + (length % page_size != 0);
		if (pages % 64)
			bitmap[pages / 64] &= (1ull << (pages % 64)) - 1;
	}
	return r;
}

/* ---- one-call migration ---------------------------------------------------------------- */

struct mig_run {
	struct uvfio_client *from, *to;
	const struct uvfio_migrate_opts *opts;
	struct uvfio_migrate_stats *st;
	bool pre; /* PRE_COPY passes before STOP_COPY */
	enum uvfio_mig_state src_was; /* where the source goes back on failure */
	uint8_t *buf;
	size_t chunk;
	const char *step; /* what failed, for the log */
};

static int progress(struct mig_run *m)
{
	if (m->opts->progress && m->opts->progress(m->opts->opaque, m->st)) {
		m->step = "cancelled by the progress callback";
		return -ECANCELED;
	}
	return 0;
}

/*
 * Copy from the source's stream to the destination.  until_empty: keep
 * reading until a read returns nothing (STOP_COPY: the stream's end);
 * otherwise stop after the first short read (PRE_COPY: nothing more for
 * now).  *moved counts the bytes.
 */
static int copy_stream(struct mig_run *m, bool until_empty, uint64_t *moved,
		       uint64_t *total)
{
	for (;;) {
		ssize_t n = uvfio_client_mig_read(m->from, m->buf, m->chunk);
		if (n < 0) {
			m->step = "reading the source's migration data";
			return (int)n;
		}
		if (n == 0)
			return 0;
		int r = uvfio_client_mig_write(m->to, m->buf, (size_t)n);
		if (r) {
			m->step = "writing migration data to the destination";
			return r;
		}
		*moved += (uint64_t)n;
		*total += (uint64_t)n;
		if ((r = progress(m)))
			return r;
		if (!until_empty && (size_t)n < m->chunk)
			return 0;
	}
}

static int set_state(struct mig_run *m, struct uvfio_client *c,
		     enum uvfio_mig_state st, const char *step)
{
	int r = uvfio_client_mig_set_state(c, st);
	if (r)
		m->step = step;
	return r;
}

/* After a failure: the source back where it was, the destination reset. */
static void recover(struct mig_run *m)
{
	struct uvfio_client *from = m->from, *to = m->to;
	enum uvfio_mig_state src_was = m->src_was;
	enum uvfio_mig_state s = UVFIO_MIG_ERROR;
	int r = uvfio_client_mig_get_state(from, &s);
	if (!r && s == UVFIO_MIG_ERROR) {
		/* Reset takes a device out of ERROR (to RUNNING, says the
		 * spec); some servers keep it there regardless. */
		uvfio_client_reset(from);
		r = uvfio_client_mig_get_state(from, &s);
	}
	if (!r && s != src_was)
		r = uvfio_client_mig_set_state(from, src_was);
	if (r)
		ulog_err(&from->log, "migrate: could not return the source to "
				      "%s: %s",
			  uvfio_mig_state_name(src_was), strerror(-r));
	else
		ulog_info(&from->log, "migrate: source back in %s",
			   uvfio_mig_state_name(src_was));

	/* A destination still RUNNING never left it (its RESUMING request
	 * failed).  Otherwise whatever it loaded is partial: reset it.  A
	 * server refusing reset mid-migration is asked to leave RESUMING
	 * instead, which may fail to load and end in ERROR; either way the
	 * caller must not use it without migrating again. */
	if (uvfio_client_mig_get_state(to, &s) == 0 && s == UVFIO_MIG_RUNNING)
		return;
	r = uvfio_client_reset(to);
	if (r && uvfio_client_mig_set_state(to, UVFIO_MIG_RUNNING) &&
	    uvfio_client_mig_get_state(to, &s) == 0)
		ulog_err(&from->log, "migrate: destination left in %s "
				      "(reset: %s)",
			  uvfio_mig_state_name(s), strerror(-r));
}

/* Checks that change nothing: a refusal here needs no recovery.  Learns
 * the source's state (m->src_was). */
static int mig_check(struct mig_run *m)
{
	struct uvfio_client *from = m->from;
	uint64_t fflags = 0, tflags = 0;
	int r;
	if ((r = uvfio_client_mig_query(from, &fflags))) {
		ulog_err(&from->log, "migrate: source: DEVICE_FEATURE "
				      "MIGRATION: %s",
			  strerror(-r));
		return r;
	}
	if ((r = uvfio_client_mig_query(m->to, &tflags))) {
		ulog_err(&from->log, "migrate: destination: DEVICE_FEATURE "
				      "MIGRATION: %s",
			  strerror(-r));
		return r;
	}
	if (m->pre && !(fflags & UVFIO_MIGRATION_PRE_COPY)) {
		ulog_err(&from->log, "migrate: the source does not support "
				      "PRE_COPY (flags %#llx); use stop-copy",
			  (unsigned long long)fflags);
		return -ENOTSUP;
	}
	if ((r = uvfio_client_mig_get_state(from, &m->src_was))) {
		ulog_err(&from->log, "migrate: source state: %s", strerror(-r));
		return r;
	}
	if (m->src_was != UVFIO_MIG_RUNNING &&
	    (m->pre || m->src_was != UVFIO_MIG_STOP)) {
		ulog_err(&from->log, "migrate: the source is in %s; it must be "
				      "RUNNING%s",
			  uvfio_mig_state_name(m->src_was),
			  m->pre ? "" : " or STOP");
		return -EINVAL;
	}
	return 0;
}

/* Stream chunks: what both connections can carry in one message unless
 * asked otherwise. */
static int mig_alloc_chunk(struct mig_run *m)
{
	cli_lock(m->from);
	uint32_t fx = m->from->xfer;
	cli_unlock(m->from);
	cli_lock(m->to);
	uint32_t tx = m->to->xfer;
	cli_unlock(m->to);
	m->chunk = m->opts->chunk_size ? m->opts->chunk_size : fx < tx ? fx : tx;
	if (!m->chunk)
		m->chunk = UVFIO_DEFAULT_MAX_DATA_XFER;
	m->buf = malloc(m->chunk);
	return m->buf ? 0 : -ENOMEM;
}

/* The source to PRE_COPY, and passes over its stream while it runs, until
 * one moves no more than the threshold or there were enough of them. */
static int mig_precopy(struct mig_run *m)
{
	struct uvfio_migrate_stats *stats = m->st;
	int r = set_state(m, m->from, UVFIO_MIG_PRE_COPY,
			  "source RUNNING -> PRE_COPY");
	if (r)
		return r;
	stats->phase = UVFIO_MIG_PRE_COPY;
	unsigned max = m->opts->max_iterations ? m->opts->max_iterations
					       : MIG_DEFAULT_ITERATIONS;
	uint64_t total = 0;
	while (stats->iterations < max) {
		uint64_t pass = 0;
		stats->iterations++;
		if ((r = copy_stream(m, false, &pass, &total)))
			return r;
		stats->bytes_precopy = total;
		if (pass <= m->opts->precopy_threshold)
			break;
	}
	return 0;
}

/* The downtime: the source stopped, the rest of its state moved, the
 * destination loading it and running. */
static int mig_stopcopy(struct mig_run *m)
{
	struct uvfio_migrate_stats *stats = m->st;
	int r;
	if ((r = set_state(m, m->from, UVFIO_MIG_STOP_COPY,
			   m->pre ? "source PRE_COPY -> STOP_COPY"
				  : "source -> STOP_COPY")))
		return r;
	stats->phase = UVFIO_MIG_STOP_COPY;
	uint64_t total = stats->bytes_precopy;
	if ((r = copy_stream(m, true, &stats->bytes_stopcopy, &total)))
		return r;
	if ((r = set_state(m, m->from, UVFIO_MIG_STOP,
			   "source STOP_COPY -> STOP")))
		return r;
	stats->phase = UVFIO_MIG_STOP;
	if ((r = set_state(m, m->to, UVFIO_MIG_STOP,
			   "destination RESUMING -> STOP (loading the state)")))
		return r;
	return set_state(m, m->to, UVFIO_MIG_RUNNING,
			 "destination STOP -> RUNNING");
}

int uvfio_client_migrate(struct uvfio_client *from, struct uvfio_client *to,
			 const struct uvfio_migrate_opts *opts,
			 struct uvfio_migrate_stats *stats)
{
	static const struct uvfio_migrate_opts defaults = { 0 };
	struct uvfio_migrate_stats local;
	uint64_t t0 = util_now_ns(), t_down = 0;
	if (!from || !to || from == to)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (opts->mode != UVFIO_MIGRATE_STOP_COPY &&
	    opts->mode != UVFIO_MIGRATE_PRE_COPY)
		return -EINVAL;

	struct mig_run m = {
		.from = from, .to = to, .opts = opts, .st = stats,
		.pre = opts->mode == UVFIO_MIGRATE_PRE_COPY,
		.src_was = UVFIO_MIG_RUNNING,
	};
	int r = mig_check(&m);
	if (!r)
		r = mig_alloc_chunk(&m);
	if (r)
		return r;

	/* From here on a failure needs recover(). */
	stats->phase = m.src_was;
	r = set_state(&m, to, UVFIO_MIG_RESUMING, "destination to RESUMING");
	if (!r && m.pre)
		r = mig_precopy(&m);
	if (!r) {
		t_down = util_now_ns();
		r = mig_stopcopy(&m);
	}
	free(m.buf);
	if (r) {
		ulog_err(&from->log, "migrate: %s failed: %s", m.step,
			  strerror(-r));
		recover(&m);
		stats->total_ns = util_now_ns() - t0;
		if (t_down)
			stats->downtime_ns = stats->total_ns - (t_down - t0);
		return r;
	}
	uint64_t t1 = util_now_ns();
	stats->downtime_ns = t1 - t_down;
	stats->total_ns = t1 - t0;
	ulog_info(&from->log, "migrate: %s done: %llu bytes pre-copy in %u "
			       "passes, %llu bytes stop-copy, downtime %llu us",
		   m.pre ? "pre-copy" : "stop-copy",
		   (unsigned long long)stats->bytes_precopy, stats->iterations,
		   (unsigned long long)stats->bytes_stopcopy,
		   (unsigned long long)(stats->downtime_ns / 1000));
	return 0;
}
