/* SPDX-License-Identifier: MIT */
/*
 * Client-side migration.
 *
 * First against fake servers in threads that speak the migration part of
 * the protocol by the spec, with a small max_data_xfer_size so every
 * stream is chunked: the state machine calls, the data stream, dirty page
 * logging (a report split in pieces), uvfio_client_migrate() in both modes,
 * and its recovery when a step fails on either side.
 *
 * Then end to end with two uvfio-dmadev processes: registers programmed
 * and the 1 MiB memory BAR filled on one, migrated (stop-copy, and back
 * with pre-copy while the source keeps changing), the other checked byte
 * for byte and made to DMA; and a migration to a device without migration
 * support (uvfio-skeleton) refused with the source still running.
 *
 * usage: test-migration DMADEV SKELETON
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "util.h"
#include "../samples/dmadev.h"

/* ================================================================== */
/* fake migratable device                                             */
/* ================================================================== */

#define FAKE_XFER 4096u
#define DEV_SIZE 20000u
#define DIRTY_LEN 300u
#define LOG_BASE 0x40000000ull

enum fault {
	F_NONE,
	F_NO_MIGRATION, /* every DEVICE_FEATURE: ENOTSUP */
	F_NO_PRECOPY,   /* flags without PRE_COPY */
	F_LOAD,         /* RESUMING -> STOP fails, device in ERROR */
	F_READ,         /* MIG_DATA_READ fails after fault_arg bytes */
	F_WRITE,        /* MIG_DATA_WRITE fails after fault_arg bytes */
	F_RESUMING,     /* -> RESUMING refused */
};

struct fake {
	int fd;
	pthread_t th;
	enum fault fault;
	size_t fault_arg;
	bool pad; /* pad MIG_DATA_READ replies to the size asked, as LVU */
	unsigned dirty_rounds; /* PRE_COPY: times more data appears */

	uint8_t dev[DEV_SIZE];
	enum uvfio_mig_state state;
	uint8_t *out; /* save stream */
	size_t out_len, out_pos, read_total;
	uint8_t *in; /* resume stream */
	size_t in_len;
	uint64_t log_pgsize;
	bool logging;
	unsigned reports, resets;
	enum uvfio_mig_state hist[64];
	unsigned nhist;
};

static bool rd_all(int fd, void *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)b + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static void wr_all(int fd, const void *b, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = write(fd, (const uint8_t *)b + done, n - done);
		if (r <= 0)
			return;
		done += (size_t)r;
	}
}

static void out_append(struct fake *f, uint32_t off, uint32_t len)
{
	f->out = realloc(f->out, f->out_len + 8 + len);
	memcpy(f->out + f->out_len, &off, 4);
	memcpy(f->out + f->out_len + 4, &len, 4);
	memcpy(f->out + f->out_len + 8, f->dev + off, len);
	f->out_len += 8 + len;
}

/* The device runs a little: some bytes change, and go into the stream. */
static void dirty(struct fake *f, unsigned round)
{
	uint32_t off = (round * 4099u) % (DEV_SIZE - DIRTY_LEN);
	for (uint32_t i = 0; i < DIRTY_LEN; i++)
		f->dev[off + i] = (uint8_t)(f->dev[off + i] + 1 + round);
	out_append(f, off, DIRTY_LEN);
}

/* Apply the resume stream: records {u32 off, u32 len, bytes}. */
static int load(struct fake *f)
{
	size_t p = 0;
	while (p < f->in_len) {
		uint32_t off, len;
		if (f->in_len - p < 8)
			return -EINVAL;
		memcpy(&off, f->in + p, 4);
		memcpy(&len, f->in + p + 4, 4);
		if (off > DEV_SIZE || len > DEV_SIZE - off ||
		    f->in_len - p - 8 < len)
			return -EINVAL;
		memcpy(f->dev + off, f->in + p + 8, len);
		p += 8 + len;
	}
	return 0;
}

static int transition(struct fake *f, uint32_t to)
{
	bool pre_ok = f->fault != F_NO_PRECOPY;
	if (to >= UVFIO_MIG_NUM_STATES || to == UVFIO_MIG_ERROR ||
	    to == UVFIO_MIG_RUNNING_P2P || to == UVFIO_MIG_PRE_COPY_P2P ||
	    f->state == UVFIO_MIG_ERROR ||
	    (to == UVFIO_MIG_PRE_COPY && !pre_ok) ||
	    (f->state == UVFIO_MIG_STOP_COPY && to == UVFIO_MIG_PRE_COPY))
		return -EINVAL;
	if (to == f->state)
		return 0;
	if (to == UVFIO_MIG_RESUMING && f->fault == F_RESUMING)
		return -EPERM;
	if (f->state == UVFIO_MIG_RESUMING) {
		int r = f->fault == F_LOAD ? -EINVAL : load(f);
		free(f->in);
		f->in = NULL;
		f->in_len = 0;
		if (r) {
			f->state = UVFIO_MIG_ERROR;
			f->hist[f->nhist++ % 64] = f->state;
			return r;
		}
	}
	bool saving = to == UVFIO_MIG_PRE_COPY || to == UVFIO_MIG_STOP_COPY;
	if (to == UVFIO_MIG_STOP_COPY && f->state == UVFIO_MIG_PRE_COPY) {
		dirty(f, 99); /* what changed since the last pass */
	} else if (saving) {
		free(f->out);
		f->out = NULL;
		f->out_len = f->out_pos = 0;
		out_append(f, 0, DEV_SIZE);
	} else {
		free(f->out);
		f->out = NULL;
		f->out_len = f->out_pos = 0;
	}
	f->state = to;
	f->hist[f->nhist++ % 64] = f->state;
	return 0;
}

static void reply(struct fake *f, uint16_t id, uint16_t cmd, const void *fixed,
		  size_t flen, const void *data, size_t dlen)
{
	size_t cap = 16 + flen + dlen;
	uint8_t *b = malloc(cap);
	ssize_t n = uvfio_build_reply(b, cap, id, cmd, fixed, flen, data, dlen);
	assert_true(n > 0);
	wr_all(f->fd, b, (size_t)n);
	free(b);
}

static void reply_err(struct fake *f, uint16_t id, uint16_t cmd, int err)
{
	uint8_t b[16];
	uvfio_build_error(b, sizeof(b), id, cmd, err);
	wr_all(f->fd, b, 16);
}

static void on_feature(struct fake *f, struct uvfio_hdr *h, uint8_t *p,
		       uint32_t len)
{
	struct uvfio_feature fh;
	memcpy(&fh, p, 8);
	uint32_t feat = fh.flags & UVFIO_FEATURE_MASK;
	uint8_t *d = p + 8;
	if (f->fault == F_NO_MIGRATION) {
		reply_err(f, h->msg_id, h->cmd, ENOTSUP);
		return;
	}
	if (feat == UVFIO_FEATURE_MIGRATION && (fh.flags & UVFIO_FEATURE_GET)) {
		uint64_t fl = UVFIO_MIGRATION_STOP_COPY |
			      (f->fault == F_NO_PRECOPY ? 0 : UVFIO_MIGRATION_PRE_COPY);
		fh.argsz = 16;
		reply(f, h->msg_id, h->cmd, &fh, 8, &fl, 8);
	} else if (feat == UVFIO_FEATURE_MIG_DEVICE_STATE &&
		   (fh.flags & UVFIO_FEATURE_GET)) {
		struct uvfio_feature_mig_state st = { f->state, 0 };
		fh.argsz = 16;
		reply(f, h->msg_id, h->cmd, &fh, 8, &st, 8);
	} else if (feat == UVFIO_FEATURE_MIG_DEVICE_STATE) {
		struct uvfio_feature_mig_state st;
		memcpy(&st, d, 8);
		int r = transition(f, st.device_state);
		if (r)
			reply_err(f, h->msg_id, h->cmd, -r);
		else
			reply(f, h->msg_id, h->cmd, p, len, NULL, 0);
	} else if (feat == UVFIO_FEATURE_DMA_LOGGING_START) {
		struct uvfio_feature_log_start ls;
		memcpy(&ls, d, sizeof(ls));
		f->log_pgsize = ls.page_size < 4096 ? 4096 : ls.page_size;
		f->logging = true;
		ls.page_size = f->log_pgsize;
		memcpy(d, &ls, sizeof(ls));
		reply(f, h->msg_id, h->cmd, p, len, NULL, 0);
	} else if (feat == UVFIO_FEATURE_DMA_LOGGING_STOP) {
		f->logging = false;
		reply(f, h->msg_id, h->cmd, p, len, NULL, 0);
	} else if (feat == UVFIO_FEATURE_DMA_LOGGING_REPORT && f->logging) {
		struct uvfio_feature_log_report rq;
		memcpy(&rq, d, sizeof(rq));
		uint64_t pages = (rq.length + rq.page_size - 1) / rq.page_size;
		size_t bm = (size_t)((pages + 63) / 64 * 8);
		if (fh.argsz < 8 + sizeof(rq) + bm) {
			reply_err(f, h->msg_id, h->cmd, EINVAL);
			return;
		}
		uint64_t *bits = calloc(1, bm);
		uint64_t first = (rq.iova - LOG_BASE) / rq.page_size;
		for (uint64_t i = 0; i < pages; i++)
			if ((first + i) % 3 == 0)
				bits[i / 64] |= 1ull << (i % 64);
		uint8_t *body = malloc(sizeof(rq) + bm);
		memcpy(body, &rq, sizeof(rq));
		memcpy(body + sizeof(rq), bits, bm);
		fh.argsz = (uint32_t)(8 + sizeof(rq) + bm);
		f->reports++;
		reply(f, h->msg_id, h->cmd, &fh, 8, body, sizeof(rq) + bm);
		free(bits);
		free(body);
	} else {
		reply_err(f, h->msg_id, h->cmd, EINVAL);
	}
}

static void on_read(struct fake *f, struct uvfio_hdr *h, uint8_t *p)
{
	struct uvfio_mig_data m;
	memcpy(&m, p, 8);
	if ((f->state != UVFIO_MIG_PRE_COPY && f->state != UVFIO_MIG_STOP_COPY) ||
	    m.size > FAKE_XFER) {
		reply_err(f, h->msg_id, h->cmd, EINVAL);
		return;
	}
	if (f->fault == F_READ && f->read_total >= f->fault_arg) {
		reply_err(f, h->msg_id, h->cmd, EIO);
		return;
	}
	size_t avail = f->out_len - f->out_pos;
	uint32_t n = (uint32_t)(avail < m.size ? avail : m.size);
	struct uvfio_mig_data r = { 8 + n, n };
	uint8_t *data = calloc(1, m.size + 1);
	memcpy(data, f->out + f->out_pos, n);
	reply(f, h->msg_id, h->cmd, &r, 8, data, f->pad ? m.size : n);
	free(data);
	f->out_pos += n;
	f->read_total += n;
	if (f->state == UVFIO_MIG_PRE_COPY && n < m.size && f->dirty_rounds) {
		f->dirty_rounds--;
		dirty(f, f->dirty_rounds);
	}
}

static void on_write(struct fake *f, struct uvfio_hdr *h, uint8_t *p)
{
	struct uvfio_mig_data m;
	memcpy(&m, p, 8);
	if (f->state != UVFIO_MIG_RESUMING || m.size > FAKE_XFER ||
	    (f->fault == F_WRITE && f->in_len >= f->fault_arg)) {
		reply_err(f, h->msg_id, h->cmd,
			  f->fault == F_WRITE ? ENOSPC : EINVAL);
		return;
	}
	f->in = realloc(f->in, f->in_len + m.size);
	memcpy(f->in + f->in_len, p + 8, m.size);
	f->in_len += m.size;
	reply(f, h->msg_id, h->cmd, NULL, 0, NULL, 0);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t *p = malloc(1 << 20);
	struct uvfio_hdr h;
	for (;;) {
		if (!rd_all(f->fd, &h, 16) || h.msg_size < 16 ||
		    h.msg_size > (1 << 20) + 16 ||
		    !rd_all(f->fd, p, h.msg_size - 16))
			break;
		uint32_t len = h.msg_size - 16;
		switch (h.cmd) {
		case UVFIO_CMD_VERSION: {
			uint8_t b[256];
			ssize_t n = uvfio_build_version(
				b, sizeof(b), h.msg_id, true, 0, 2,
				"{\"capabilities\":{\"max_msg_fds\":8,"
				"\"max_data_xfer_size\":4096}}");
			wr_all(f->fd, b, (size_t)n);
			break;
		}
		case UVFIO_CMD_DEVICE_FEATURE:
			on_feature(f, &h, p, len);
			break;
		case UVFIO_CMD_MIG_DATA_READ:
			on_read(f, &h, p);
			break;
		case UVFIO_CMD_MIG_DATA_WRITE:
			on_write(f, &h, p);
			break;
		case UVFIO_CMD_DEVICE_RESET:
			f->resets++;
			if (f->state == UVFIO_MIG_ERROR ||
			    f->state == UVFIO_MIG_RESUMING) {
				f->state = UVFIO_MIG_RUNNING;
				f->hist[f->nhist++ % 64] = f->state;
			}
			free(f->in);
			f->in = NULL;
			f->in_len = 0;
			reply(f, h.msg_id, h.cmd, NULL, 0, NULL, 0);
			break;
		default:
			reply_err(f, h.msg_id, h.cmd, ENOTSUP);
		}
	}
	free(p);
	return NULL;
}

static struct fake *fake_start(struct uvfio_client **cp, enum fault fault,
			       unsigned seed)
{
	struct fake *f = calloc(1, sizeof(*f));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[1];
	f->fault = fault;
	f->state = UVFIO_MIG_RUNNING;
	for (unsigned i = 0; i < DEV_SIZE; i++)
		f->dev[i] = (uint8_t)(i * 13 + seed + (i >> 9));
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	assert_int_equal(uvfio_client_create(cp), 0);
	uvfio_client_set_log(*cp, NULL, NULL, 0);
	uvfio_client_set_twin_socket(*cp, false);
	assert_int_equal(uvfio_client_adopt_fd(*cp, sv[0]), 0);
	return f;
}

static void fake_stop(struct fake *f, struct uvfio_client *c)
{
	uvfio_client_destroy(c);
	pthread_join(f->th, NULL);
	close(f->fd);
	free(f->out);
	free(f->in);
	free(f);
}

/* ---- the calls, one by one --------------------------------------------- */

static void test_fake_calls(void **state)
{
	(void)state;
	struct uvfio_client *c;
	struct fake *f = fake_start(&c, F_NONE, 1);
	uint64_t flags = 0;
	enum uvfio_mig_state st;

	assert_int_equal(uvfio_client_mig_query(c, &flags), 0);
	assert_int_equal(flags, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	assert_int_equal(uvfio_client_mig_get_state(c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_RUNNING);
	/* Refused before anything is sent. */
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_ERROR), -EINVAL);
	assert_int_equal(uvfio_client_mig_set_state(c, 8), -EINVAL);
	/* A P2P state goes to the server, which has no P2P here. */
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_RUNNING_P2P),
			 -EINVAL);
	/* Reading outside a saving state is the server's EINVAL. */
	uint8_t buf[3 * FAKE_XFER];
	assert_int_equal(uvfio_client_mig_read(c, buf, sizeof(buf)), -EINVAL);

	/* STOP_COPY: the stream is one record, 8 + DEV_SIZE bytes, read in
	 * messages of at most 4096 bytes. */
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_STOP_COPY), 0);
	assert_int_equal(uvfio_client_mig_get_state(c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_STOP_COPY);
	uint8_t *all = malloc(DEV_SIZE + 8);
	size_t got = 0;
	ssize_t n;
	f->pad = true; /* LVU-style padded replies: size counts, not length */
	while ((n = uvfio_client_mig_read(c, buf, sizeof(buf))) > 0) {
		assert_true(got + (size_t)n <= DEV_SIZE + 8);
		memcpy(all + got, buf, (size_t)n);
		got += (size_t)n;
	}
	assert_int_equal(n, 0);
	assert_int_equal(got, DEV_SIZE + 8);
	assert_memory_equal(all + 8, f->dev, DEV_SIZE);
	/* STOP_COPY to PRE_COPY is forbidden. */
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_PRE_COPY), -EINVAL);
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_STOP), 0);

	/* RESUMING: write it back changed, in chunks, and load. */
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_RESUMING), 0);
	for (unsigned i = 8; i < DEV_SIZE + 8; i++)
		all[i] ^= 0x5a;
	assert_int_equal(uvfio_client_mig_write(c, all, DEV_SIZE + 8), 0);
	assert_int_equal(f->in_len, DEV_SIZE + 8);
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_RUNNING), 0);
	assert_memory_equal(all + 8, f->dev, DEV_SIZE);
	/* Writing outside RESUMING is refused. */
	assert_int_equal(uvfio_client_mig_write(c, all, 10), -EINVAL);

	/* A stream the device cannot load: SET fails, device in ERROR. */
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_RESUMING), 0);
	assert_int_equal(uvfio_client_mig_write(c, all, 5), 0);
	assert_int_equal(uvfio_client_mig_set_state(c, UVFIO_MIG_STOP), -EINVAL);
	assert_int_equal(uvfio_client_mig_get_state(c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_ERROR);
	assert_int_equal(uvfio_client_reset(c), 0);
	assert_int_equal(uvfio_client_mig_get_state(c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_RUNNING);
	assert_true(uvfio_client_connected(c));

	assert_string_equal(uvfio_mig_state_name(UVFIO_MIG_PRE_COPY), "PRE_COPY");
	assert_string_equal(uvfio_mig_state_name(42), "UNKNOWN");
	free(all);
	fake_stop(f, c);
}

static void test_fake_logging(void **state)
{
	(void)state;
	struct uvfio_client *c;
	struct fake *f = fake_start(&c, F_NONE, 2);
	const uint64_t ps = 4096;
	/* 100000 pages: a 12.5 KB bitmap, more than one 4 KiB message. */
	const uint64_t length = 100000 * ps - 100; /* last page partial */
	struct uvfio_log_range rg = { LOG_BASE, length };
	uint64_t gran = 0;
	uint64_t *bm = malloc(uvfio_dma_logging_bitmap_size(length, ps));

	assert_int_equal(uvfio_dma_logging_bitmap_size(length, ps), 1563 * 8);
	assert_int_equal(uvfio_dma_logging_bitmap_size(64 * ps, ps), 8);
	assert_int_equal(uvfio_dma_logging_bitmap_size(64 * ps + 1, ps), 16);
	/* Checked before sending. */
	assert_int_equal(uvfio_client_dma_logging_start(c, 3000, &rg, 1, NULL),
			 -EINVAL);
	struct uvfio_log_range two[2] = { { 0, 8192 }, { 4096, 8192 } };
	assert_int_equal(uvfio_client_dma_logging_start(c, ps, two, 2, NULL),
			 -EINVAL);
	assert_int_equal(uvfio_client_dma_logging_report(c, LOG_BASE, 0, ps, bm),
			 -EINVAL);
	/* Not logging yet: the server refuses. */
	assert_int_equal(uvfio_client_dma_logging_report(c, LOG_BASE, ps, ps, bm),
			 -EINVAL);

	/* Asked for 512-byte pages, the device picks 4096. */
	assert_int_equal(uvfio_client_dma_logging_start(c, 512, &rg, 1, &gran), 0);
	assert_int_equal(gran, 4096);
	assert_int_equal(uvfio_client_dma_logging_report(c, LOG_BASE, length, ps,
							 bm),
			 0);
	assert_true(f->reports >= 4); /* split in pieces */
	for (uint64_t i = 0; i < 100000; i++)
		if (!!(bm[i / 64] & (1ull << (i % 64))) != (i % 3 == 0))
			fail_msg("page %llu: wrong dirty bit", (unsigned long long)i);
	/* Bits past the range are cleared. */
	assert_int_equal(bm[1562] >> (100000 % 64), 0);
	assert_int_equal(uvfio_client_dma_logging_stop(c), 0);
	assert_false(f->logging);
	free(bm);
	fake_stop(f, c);
}

/* ---- uvfio_client_migrate ----------------------------------------------- */

struct prog {
	unsigned calls;
	unsigned cancel_at; /* 0: never */
	enum uvfio_mig_state last_phase;
};

static int on_progress(void *opaque, const struct uvfio_migrate_stats *s)
{
	struct prog *p = opaque;
	p->calls++;
	p->last_phase = s->phase;
	return p->cancel_at && p->calls >= p->cancel_at;
}

static void test_fake_migrate(void **state)
{
	(void)state;
	struct uvfio_client *a, *b;
	struct fake *fa = fake_start(&a, F_NONE, 3);
	struct fake *fb = fake_start(&b, F_NONE, 99);
	struct uvfio_migrate_stats st;
	struct prog pr = { 0 };
	struct uvfio_migrate_opts o = { .mode = UVFIO_MIGRATE_STOP_COPY,
					.progress = on_progress,
					.opaque = &pr };

	assert_int_equal(uvfio_client_migrate(a, a, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_client_migrate(a, b, &o, &st), 0);
	assert_memory_equal(fa->dev, fb->dev, DEV_SIZE);
	assert_int_equal(fa->state, UVFIO_MIG_STOP);
	assert_int_equal(fb->state, UVFIO_MIG_RUNNING);
	assert_int_equal(st.bytes_precopy, 0);
	assert_int_equal(st.bytes_stopcopy, DEV_SIZE + 8);
	assert_int_equal(st.iterations, 0);
	assert_true(st.downtime_ns > 0 && st.downtime_ns <= st.total_ns);
	assert_true(pr.calls >= 1);
	assert_int_equal(pr.last_phase, UVFIO_MIG_STOP_COPY);
	/* The destination went RESUMING, STOP, RUNNING. */
	assert_int_equal(fb->nhist, 3);
	assert_int_equal(fb->hist[0], UVFIO_MIG_RESUMING);

	/* Back, with pre-copy: the source changes twice while it runs and
	 * once more when it stops; all of it must arrive. */
	assert_int_equal(uvfio_client_mig_set_state(a, UVFIO_MIG_RUNNING), 0);
	fb->dirty_rounds = 2;
	o = (struct uvfio_migrate_opts){ .mode = UVFIO_MIGRATE_PRE_COPY,
					 .chunk_size = 3000 };
	assert_int_equal(uvfio_client_migrate(b, a, &o, &st), 0);
	assert_memory_equal(fa->dev, fb->dev, DEV_SIZE);
	assert_int_equal(st.bytes_precopy, DEV_SIZE + 8 + 2 * (DIRTY_LEN + 8));
	assert_int_equal(st.bytes_stopcopy, DIRTY_LEN + 8);
	/* full image, dirty, dirty, an empty pass */
	assert_int_equal(st.iterations, 4);
	assert_int_equal(fb->state, UVFIO_MIG_STOP);
	assert_int_equal(fa->state, UVFIO_MIG_RUNNING);

	/* Iteration cap, and a threshold that ends pre-copy at once. */
	assert_int_equal(uvfio_client_mig_set_state(b, UVFIO_MIG_RUNNING), 0);
	fa->dirty_rounds = 5;
	o = (struct uvfio_migrate_opts){ .mode = UVFIO_MIGRATE_PRE_COPY,
					 .max_iterations = 2 };
	assert_int_equal(uvfio_client_migrate(a, b, &o, &st), 0);
	assert_int_equal(st.iterations, 2);
	assert_memory_equal(fa->dev, fb->dev, DEV_SIZE);
	assert_int_equal(uvfio_client_mig_set_state(a, UVFIO_MIG_RUNNING), 0);
	fb->dirty_rounds = 5;
	o.max_iterations = 0;
	o.precopy_threshold = 1 << 20;
	assert_int_equal(uvfio_client_migrate(b, a, &o, &st), 0);
	assert_int_equal(st.iterations, 1);
	assert_memory_equal(fa->dev, fb->dev, DEV_SIZE);

	fake_stop(fa, a);
	fake_stop(fb, b);
}

/* A failing step: the error comes back, the source is where it was, the
 * destination is reset.  fail_on_src: the fault is the source's. */
static void migrate_fails(enum fault fault, size_t arg, bool fail_on_src,
			  enum uvfio_migrate_mode mode, int expect,
			  bool dest_touched)
{
	struct uvfio_client *a, *b;
	struct fake *fa = fake_start(&a, fail_on_src ? fault : F_NONE, 4);
	struct fake *fb = fake_start(&b, fail_on_src ? F_NONE : fault, 5);
	fa->fault_arg = fb->fault_arg = arg;
	uint8_t before[DEV_SIZE];
	memcpy(before, fb->dev, DEV_SIZE);
	struct uvfio_migrate_opts o = { .mode = mode };
	struct uvfio_migrate_stats st;
	enum uvfio_mig_state s;

	assert_int_equal(uvfio_client_migrate(a, b, &o, &st), expect);
	if (fa->fault != F_NO_MIGRATION) {
		assert_int_equal(uvfio_client_mig_get_state(a, &s), 0);
		assert_int_equal(s, UVFIO_MIG_RUNNING);
	}
	assert_int_equal(fa->state, UVFIO_MIG_RUNNING);
	assert_null(fa->out); /* its data session ended */
	if (dest_touched) {
		assert_int_equal(fb->resets, 1);
		assert_int_equal(fb->state, UVFIO_MIG_RUNNING);
	} else {
		assert_int_equal(fb->resets, 0);
		assert_int_equal(fb->nhist, 0);
		assert_memory_equal(fb->dev, before, DEV_SIZE);
	}
	assert_true(uvfio_client_connected(a));
	assert_true(uvfio_client_connected(b));
	fake_stop(fa, a);
	fake_stop(fb, b);
}

static void test_fake_migrate_failures(void **state)
{
	(void)state;
	/* Nothing changes when a side cannot migrate at all. */
	migrate_fails(F_NO_MIGRATION, 0, false, UVFIO_MIGRATE_STOP_COPY,
		      -ENOTSUP, false);
	migrate_fails(F_NO_MIGRATION, 0, true, UVFIO_MIGRATE_STOP_COPY,
		      -ENOTSUP, false);
	migrate_fails(F_NO_PRECOPY, 0, true, UVFIO_MIGRATE_PRE_COPY, -ENOTSUP,
		      false);
	/* The destination refuses RESUMING: the source never stopped. */
	migrate_fails(F_RESUMING, 0, false, UVFIO_MIGRATE_STOP_COPY, -EPERM,
		      false);
	/* Mid-stream failures, in stop-copy and in pre-copy. */
	migrate_fails(F_READ, 5000, true, UVFIO_MIGRATE_STOP_COPY, -EIO, true);
	migrate_fails(F_READ, 5000, true, UVFIO_MIGRATE_PRE_COPY, -EIO, true);
	migrate_fails(F_WRITE, 9000, false, UVFIO_MIGRATE_STOP_COPY, -ENOSPC,
		      true);
	migrate_fails(F_WRITE, 9000, false, UVFIO_MIGRATE_PRE_COPY, -ENOSPC,
		      true);
	/* The destination cannot load what it got (ends in ERROR). */
	migrate_fails(F_LOAD, 0, false, UVFIO_MIGRATE_STOP_COPY, -EINVAL, true);
}

static void test_fake_migrate_cancel(void **state)
{
	(void)state;
	struct uvfio_client *a, *b;
	struct fake *fa = fake_start(&a, F_NONE, 6);
	struct fake *fb = fake_start(&b, F_NONE, 7);
	struct prog pr = { .cancel_at = 2 };
	struct uvfio_migrate_opts o = { .mode = UVFIO_MIGRATE_PRE_COPY,
					.progress = on_progress,
					.opaque = &pr };
	assert_int_equal(uvfio_client_migrate(a, b, &o, NULL), -ECANCELED);
	assert_int_equal(fa->state, UVFIO_MIG_RUNNING);
	assert_int_equal(fb->resets, 1);
	/* A source not RUNNING cannot be pre-copied. */
	assert_int_equal(uvfio_client_mig_set_state(a, UVFIO_MIG_STOP), 0);
	assert_int_equal(uvfio_client_migrate(a, b, &o, NULL), -EINVAL);
	fake_stop(fa, a);
	fake_stop(fb, b);
}

/* ================================================================== */
/* two uvfio-dmadev processes                                         */
/* ================================================================== */

#define BAR2_SIZE DMADEV_BAR2_SIZE
#define GUEST_SIZE (1u << 20)
#define GUEST_IOVA 0x100000000ull

static const char *dmadev_bin, *skeleton_bin;

/* opt NULL: the skeleton's --socket-path=PATH form. */
static pid_t start_server(const char *bin, const char *opt, const char *path)
{
	char arg[200];
	snprintf(arg, sizeof(arg), "--socket-path=%s", path);
	pid_t pid = tu_fork(); /* killed if the test program dies */
	assert_true(pid >= 0);
	if (pid == 0) {
		if (opt)
			execl(bin, bin, opt, path, (char *)NULL);
		else
			execl(bin, bin, arg, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(tu_wait_server(pid, path, 10000), 0);
	return pid;
}

static void stop_server(pid_t pid)
{
	int status;
	assert_int_equal(tu_reap(pid, SIGTERM, &status), pid);
}

struct pair {
	char dir[64], pa[128], pb[128];
	pid_t a_pid, b_pid;
	struct uvfio_client *a, *b;
};

static struct uvfio_client *connect_to(const char *path)
{
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_create(&c), 0);
	uvfio_client_set_log(c, NULL, NULL, UVFIO_LOG_ERR);
	assert_int_equal(uvfio_client_connect(c, path), 0);
	return c;
}

/* Two dmadevs, a client on each. */
static void pair_start(struct pair *p)
{
	strcpy(p->dir, "/tmp/uvfio-mig-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->pa, sizeof(p->pa), "%s/a.sock", p->dir);
	snprintf(p->pb, sizeof(p->pb), "%s/b.sock", p->dir);
	p->a_pid = start_server(dmadev_bin, "--socket", p->pa);
	p->b_pid = start_server(dmadev_bin, "--socket", p->pb);
	p->a = connect_to(p->pa);
	p->b = connect_to(p->pb);
	uint64_t flags = 0;
	assert_int_equal(uvfio_client_mig_query(p->a, &flags), 0);
	assert_true(flags & UVFIO_MIGRATION_STOP_COPY);
	assert_true(flags & UVFIO_MIGRATION_PRE_COPY);
}

static void pair_stop(struct pair *p)
{
	uvfio_client_destroy(p->a);
	uvfio_client_destroy(p->b);
	stop_server(p->a_pid);
	stop_server(p->b_pid);
	unlink(p->pa);
	unlink(p->pb);
	rmdir(p->dir);
}

static void fill(uint8_t *m, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		m[i] = (uint8_t)(i * 29 + seed + (i >> 12));
}

static void set32(struct uvfio_client *c, uint32_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, 4), 0);
}

/* The device's registers as a client sees them. */
static void regs(struct uvfio_client *c, uint8_t *r)
{
	assert_int_equal(uvfio_client_region_read(c, 0, 0, r, REG_END), 0);
}

/* dev must hold what `mem` says in BAR2 and the registers in `want`;
 * then it must DMA BAR2 into fresh guest memory, and guest memory into
 * BAR2. */
static void check_device(struct uvfio_client *dev, const uint8_t *want_regs,
			 const uint8_t *mem)
{
	uint8_t r[REG_END];
	uint8_t *bar = malloc(BAR2_SIZE);
	regs(dev, r);
	assert_memory_equal(r, want_regs, REG_END);
	assert_int_equal(uvfio_client_region_read(dev, 2, 0, bar, BAR2_SIZE), 0);
	assert_memory_equal(bar, mem, BAR2_SIZE);

	int memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, GUEST_SIZE), 0);
	uint8_t *guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
			      MAP_SHARED, memfd, 0);
	assert_true(guest != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(dev, GUEST_IOVA, GUEST_SIZE,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      guest, memfd, 0),
			 0);
	/* The migrated registers already say IOVA and LEN: only GO. */
	uint32_t len;
	memcpy(&len, want_regs + REG_LEN, 4);
	set32(dev, REG_DIR, 1);
	set32(dev, REG_GO, 1);
	regs(dev, r);
	assert_int_equal(r[REG_STATUS], 0);
	assert_memory_equal(guest, mem, len);

	fill(guest, GUEST_SIZE, 77);
	set32(dev, REG_DIR, 0);
	set32(dev, REG_GO, 1);
	assert_int_equal(uvfio_client_region_read(dev, 2, 0, bar, len), 0);
	assert_memory_equal(bar, guest, len);

	assert_int_equal(uvfio_client_dma_unmap(dev, GUEST_IOVA, GUEST_SIZE), 0);
	munmap(guest, GUEST_SIZE);
	close(memfd);
	free(bar);
}

/* Between pre-copy passes the source keeps changing: bytes written then
 * must reach the destination too. */
struct dirtier {
	struct uvfio_client *src;
	uint8_t *mem; /* the test's copy of the source's BAR2 */
	unsigned writes;
};

static int dirty_source(void *opaque, const struct uvfio_migrate_stats *s)
{
	struct dirtier *d = opaque;
	if (s->phase != UVFIO_MIG_PRE_COPY || d->writes >= 3)
		return 0;
	uint32_t off = 4096u * 37u * (d->writes + 1) + 11;
	uint8_t v[100];
	for (unsigned i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(0xa0 + d->writes + i);
	assert_int_equal(uvfio_client_region_write(d->src, 2, off, v, sizeof(v)),
			 0);
	memcpy(d->mem + off, v, sizeof(v));
	d->writes++;
	return 0;
}

static void test_dmadev_migrate(void **state)
{
	(void)state;
	struct pair p;
	pair_start(&p);
	uint8_t want[REG_END] = { 0 }, r[REG_END];
	uint8_t *mem = malloc(BAR2_SIZE);
	enum uvfio_mig_state st;

	/* Program the source: every register but GO and STATUS. */
	uint64_t iova = GUEST_IOVA;
	assert_int_equal(uvfio_client_region_write(p.a, 0, REG_IOVA, &iova, 8), 0);
	set32(p.a, REG_LEN, 64 << 10);
	set32(p.a, REG_COUNT, 1);
	set32(p.a, REG_DIR, 1);
	set32(p.a, REG_IRQ, 0);
	regs(p.a, want);
	assert_memory_equal(want + REG_IOVA, &iova, 8);
	fill(mem, BAR2_SIZE, 5);
	assert_int_equal(uvfio_client_region_write(p.a, 2, 0, mem, BAR2_SIZE), 0);
	/* The destination starts different. */
	set32(p.b, REG_LEN, 123);

	struct uvfio_migrate_stats s;
	assert_int_equal(uvfio_client_migrate(p.a, p.b, NULL, &s), 0);
	print_message("stop-copy: %llu bytes, downtime %llu us\n",
		      (unsigned long long)s.bytes_stopcopy,
		      (unsigned long long)(s.downtime_ns / 1000));
	assert_true(s.bytes_stopcopy >= BAR2_SIZE);
	assert_int_equal(s.bytes_precopy, 0);
	assert_int_equal(uvfio_client_mig_get_state(p.a, &st), 0);
	assert_int_equal(st, UVFIO_MIG_STOP);
	assert_int_equal(uvfio_client_mig_get_state(p.b, &st), 0);
	assert_int_equal(st, UVFIO_MIG_RUNNING);
	check_device(p.b, want, mem);

	/* Back to the first process with pre-copy, the running device
	 * changing underneath: new registers, new memory. */
	set32(p.b, REG_LEN, 128 << 10);
	regs(p.b, want);
	assert_int_equal(uvfio_client_region_read(p.b, 2, 0, mem, BAR2_SIZE), 0);
	struct dirtier d = { .src = p.b, .mem = mem };
	struct uvfio_migrate_opts o = { .mode = UVFIO_MIGRATE_PRE_COPY,
					.max_iterations = 4,
					.progress = dirty_source,
					.opaque = &d };
	assert_int_equal(uvfio_client_migrate(p.b, p.a, &o, &s), 0);
	print_message("pre-copy: %llu + %llu bytes in %u passes, downtime "
		      "%llu us\n",
		      (unsigned long long)s.bytes_precopy,
		      (unsigned long long)s.bytes_stopcopy, s.iterations,
		      (unsigned long long)(s.downtime_ns / 1000));
	assert_true(d.writes >= 1);
	assert_true(s.iterations >= 1 && s.iterations <= 4);
	assert_true(s.bytes_precopy + s.bytes_stopcopy >= BAR2_SIZE);
	assert_int_equal(uvfio_client_mig_get_state(p.a, &st), 0);
	assert_int_equal(st, UVFIO_MIG_RUNNING);
	check_device(p.a, want, mem);

	/* The source of that one resumes where it was. */
	assert_int_equal(uvfio_client_mig_set_state(p.b, UVFIO_MIG_RUNNING), 0);
	regs(p.b, r);
	assert_memory_equal(r, want, REG_END);

	free(mem);
	pair_stop(&p);
}

/* Dirty page logging of the device's DMA writes into guest memory. */
static void test_dmadev_logging(void **state)
{
	(void)state;
	struct pair p;
	pair_start(&p);
	const uint64_t ps = 4096, pages = GUEST_SIZE / 4096;
	int memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, GUEST_SIZE), 0);
	uint8_t *guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
			      MAP_SHARED, memfd, 0);
	assert_true(guest != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(p.a, GUEST_IOVA, GUEST_SIZE,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      guest, memfd, 0),
			 0);
	uint64_t *bm = calloc(1, uvfio_dma_logging_bitmap_size(GUEST_SIZE, ps));
	struct uvfio_log_range rg = { GUEST_IOVA, GUEST_SIZE };
	uint64_t gran = 0;

	assert_int_equal(uvfio_client_dma_logging_report(p.a, GUEST_IOVA,
							 GUEST_SIZE, ps, bm),
			 -EINVAL);
	assert_int_equal(uvfio_client_dma_logging_start(p.a, ps, &rg, 1, &gran), 0);
	assert_int_equal(gran, ps);

	/* The device writes 3 pages' worth starting inside page 5: pages
	 * 5 to 8 are dirty. */
	uint64_t iova = GUEST_IOVA + 5 * ps + 100;
	assert_int_equal(uvfio_client_region_write(p.a, 0, REG_IOVA, &iova, 8), 0);
	set32(p.a, REG_LEN, 3 * 4096);
	set32(p.a, REG_COUNT, 1);
	set32(p.a, REG_DIR, 1);
	set32(p.a, REG_GO, 1);
	assert_int_equal(uvfio_client_dma_logging_report(p.a, GUEST_IOVA,
							 GUEST_SIZE, ps, bm),
			 0);
	assert_int_equal(bm[0], 0x1e0);
	for (uint64_t i = 1; i < pages / 64; i++)
		assert_int_equal(bm[i], 0);
	/* Read and clear; the device reading guest memory dirties nothing. */
	set32(p.a, REG_DIR, 0);
	set32(p.a, REG_GO, 1);
	assert_int_equal(uvfio_client_dma_logging_report(p.a, GUEST_IOVA,
							 GUEST_SIZE, ps, bm),
			 0);
	for (uint64_t i = 0; i < pages / 64; i++)
		assert_int_equal(bm[i], 0);
	/* At 8 KiB pages the same write dirties pages 2 to 4. */
	set32(p.a, REG_DIR, 1);
	set32(p.a, REG_GO, 1);
	assert_int_equal(uvfio_client_dma_logging_report(p.a, GUEST_IOVA,
							 GUEST_SIZE, 2 * ps, bm),
			 0);
	assert_int_equal(bm[0], 0x1c);
	assert_int_equal(uvfio_client_dma_logging_stop(p.a), 0);
	assert_int_equal(uvfio_client_dma_logging_report(p.a, GUEST_IOVA,
							 GUEST_SIZE, ps, bm),
			 -EINVAL);

	free(bm);
	munmap(guest, GUEST_SIZE);
	close(memfd);
	pair_stop(&p);
}

/* A source that cannot stop (a background transfer runs: the sample
 * refuses STOP with EBUSY): the migration fails at that step, the source
 * runs on, the destination is reset. */
static void test_dmadev_busy_source(void **state)
{
	(void)state;
	struct pair p;
	pair_start(&p);
	uvfio_client_set_log(p.a, NULL, NULL, 0);
	uint8_t *guest = calloc(1, GUEST_SIZE);
	/* Message-only: every transfer waits for this client to serve it. */
	assert_int_equal(uvfio_client_dma_map(p.a, GUEST_IOVA, GUEST_SIZE,
					      UVFIO_DMA_MAP_READ |
						      UVFIO_DMA_MAP_WRITE,
					      guest, -1, 0),
			 0);
	uint64_t iova = GUEST_IOVA;
	assert_int_equal(uvfio_client_region_write(p.a, 0, REG_IOVA, &iova, 8), 0);
	set32(p.a, REG_LEN, 4096);
	set32(p.a, REG_COUNT, 0xffffffffu);
	set32(p.a, REG_DIR, 0);
	set32(p.a, REG_GO, 2);
	set32(p.b, REG_LEN, 777);

	for (int mode = 0; mode < 2; mode++) {
		struct uvfio_migrate_opts o = { .mode = mode ? UVFIO_MIGRATE_PRE_COPY
							     : UVFIO_MIGRATE_STOP_COPY };
		struct uvfio_migrate_stats st;
		enum uvfio_mig_state s;
		uint32_t v;
		assert_int_equal(uvfio_client_migrate(p.a, p.b, &o, &st), -EBUSY);
		if (mode)
			assert_true(st.bytes_precopy >= BAR2_SIZE);
		assert_int_equal(uvfio_client_mig_get_state(p.a, &s), 0);
		assert_int_equal(s, UVFIO_MIG_RUNNING);
		assert_int_equal(uvfio_client_region_read(p.a, 0, REG_STATUS, &v, 4),
				 0);
		assert_int_equal(v, EINPROGRESS); /* still transferring */
		assert_int_equal(uvfio_client_mig_get_state(p.b, &s), 0);
		assert_int_equal(s, UVFIO_MIG_RUNNING);
		assert_int_equal(uvfio_client_region_read(p.b, 0, REG_LEN, &v, 4), 0);
		assert_int_equal(v, 0); /* reset */
		set32(p.b, REG_LEN, 777);
	}
	pair_stop(&p);
	free(guest);
}

static void test_dmadev_to_skeleton(void **state)
{
	(void)state;
	struct pair p;
	pair_start(&p);
	char sk[160];
	snprintf(sk, sizeof(sk), "%s/sk.sock", p.dir);
	pid_t skp = start_server(skeleton_bin, NULL, sk);
	struct uvfio_client *c = connect_to(sk);
	uvfio_client_set_log(c, NULL, NULL, 0);
	uvfio_client_set_log(p.a, NULL, NULL, 0);
	uint64_t flags;
	assert_int_equal(uvfio_client_mig_query(c, &flags), -ENOTSUP);

	set32(p.a, REG_LEN, 4242);
	assert_int_equal(uvfio_client_migrate(p.a, c, NULL, NULL), -ENOTSUP);
	enum uvfio_mig_state st;
	assert_int_equal(uvfio_client_mig_get_state(p.a, &st), 0);
	assert_int_equal(st, UVFIO_MIG_RUNNING);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(p.a, 0, REG_LEN, &v, 4), 0);
	assert_int_equal(v, 4242);
	/* ... and the other way round. */
	assert_int_equal(uvfio_client_migrate(c, p.a, NULL, NULL), -ENOTSUP);
	assert_int_equal(uvfio_client_mig_get_state(p.a, &st), 0);
	assert_int_equal(st, UVFIO_MIG_RUNNING);

	uvfio_client_destroy(c);
	stop_server(skp);
	unlink(sk);
	pair_stop(&p);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s DMADEV SKELETON\n", argv[0]);
		return 2;
	}
	dmadev_bin = argv[1];
	skeleton_bin = argv[2];
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_calls),
		cmocka_unit_test(test_fake_logging),
		cmocka_unit_test(test_fake_migrate),
		cmocka_unit_test(test_fake_migrate_failures),
		cmocka_unit_test(test_fake_migrate_cancel),
		cmocka_unit_test(test_dmadev_migrate),
		cmocka_unit_test(test_dmadev_logging),
		cmocka_unit_test(test_dmadev_busy_source),
		cmocka_unit_test(test_dmadev_to_skeleton),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
