/* SPDX-License-Identifier: MIT */
/*
 * uvfio-compat-dmadev: uvfio-dmadev (samples/dmadev.c, register map in
 * samples/dmadev.h) written against libvfio-user's API instead of
 * uvfio's, to run on uvfio's libvfio-user.so.0
 * (docs/libvfio-user-compat.md).  Same command line, PCI identity,
 * registers, MSI-X, BAR2 and migration stream: either binary serves the
 * same clients, and a state saved by one loads into the other.
 *
 * What libvfio-user's API makes different inside:
 *
 * DMA.  vfu_addr_to_sgl() checks the whole range first (ENOENT, EACCES:
 * nothing moves); segments in fd-backed windows are mapped with
 * vfu_sgl_get() and copied in place, the others go by vfu_sgl_read/write
 * (DMA_READ/DMA_WRITE messages).  GO=1 does it all inside the GO write's
 * callback, as uvfio-dmadev does, so with message windows it needs a
 * client that answers DMA while its write waits: against QEMU STATUS says
 * EDEADLK.  GO=2 has no asynchronous DMA call to use: if every segment is
 * fd-backed the transfers are done at once in the callback (as uvfio's
 * async calls do for such windows); otherwise the GO write is
 * acknowledged with STATUS EINPROGRESS and the transfers are made from the
 * run loop, after vfu_run_ctx() returns, where a synchronous message DMA
 * is allowed: the library keeps serving the client's commands (STATUS
 * polls included) while it waits for the DMA replies.  This needs the
 * non-blocking mode (LIBVFIO_USER_FLAG_ATTACH_NB, our own ppoll() on
 * vfu_get_poll_fd()), which this device uses for that reason.
 *
 * MSI-X.  libvfio-user handles the capability's enable and function mask
 * bits but leaves the vector table and PBA, which live in BAR0, to the
 * device: they are emulated here (4- and 8-byte aligned accesses, vectors
 * masked after reset, pending bits for masked vectors), with the
 * capability marked VFU_CAP_FLAG_CALLBACK so that enabling or unmasking
 * the function reaches us and releases pending vectors.  While the client
 * has MSI-X enabled in our config space it uses our table; a client that
 * never enables it (QEMU, which emulates MSI-X itself) gets every
 * interrupt.
 *
 * Migration (STOP_AND_COPY and PRE_COPY; the stream of uvfio-dmadev):
 * records of a 16-byte little-endian header
 *   u32 magic "UVDM", u16 version 1, u16 kind, u32 regs bytes, u32 mem bytes
 * then the register bytes, then BAR2.  PRE_COPY sends a kind 1 record
 * (BAR2), STOP_AND_COPY a kind 2 (registers and BAR2 again); the
 * destination needs a kind 2 last.  Stopped, a GO fails with EBUSY; STOP
 * fails with EBUSY while a background GO runs.
 *
 *   uvfio-compat-dmadev --socket PATH [-v]
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libvfio-user.h>

#include "compat-app.h"
#include "dmadev.h"

#define BAR0_SIZE DMADEV_BAR0_SIZE
#define BAR2_SIZE DMADEV_BAR2_SIZE
#define MSIX_VECTORS DMADEV_MSIX_VECTORS
#define MSIX_TABLE DMADEV_MSIX_TABLE
#define MSIX_PBA DMADEV_MSIX_PBA
#define MSIX_ENTRY 16u
#define MSIX_VEC_CTRL 12u

struct dmadev {
	vfu_ctx_t *ctx;
	uint8_t regs[REG_END];
	uint8_t *mem; /* BAR2, our mapping of memfd */
	int memfd;
	/* A GO=2 runs (busy); its message DMA waits for the run loop
	 * (queued). */
	bool busy, queued;
	/* the scatter-gather list of one transfer: sg_cap entries of
	 * dma_sg_size() bytes, and their mappings */
	dma_sg_t *sg;
	struct iovec *iov;
	size_t sg_cap;
	/* MSI-X: the table and pending bits in BAR0 are ours to keep */
	uint8_t msix_table[MSIX_VECTORS * MSIX_ENTRY];
	uint64_t msix_pba;
	size_t msix_cap; /* the capability's offset in config space */
	/* migration: libvfio-user says only where we go, so we keep where
	 * we are; the outgoing stream and its read position, or the incoming
	 * one */
	vfu_migr_state_t mig;
	uint8_t *out, *in;
	size_t out_len, out_pos, in_len, in_cap;
};

static uint32_t rd32(const struct dmadev *d, unsigned reg)
{
	uint32_t v;
	memcpy(&v, d->regs + reg, 4);
	return v;
}

static void wr32(struct dmadev *d, unsigned reg, uint32_t v)
{
	memcpy(d->regs + reg, &v, 4);
}

static uint64_t iova(const struct dmadev *d)
{
	uint64_t v;
	memcpy(&v, d->regs + REG_IOVA, 8);
	return v;
}

static bool running(vfu_migr_state_t s)
{
	return s == VFU_MIGR_STATE_RUNNING || s == VFU_MIGR_STATE_PRE_COPY;
}

/* ---- MSI-X ------------------------------------------------------------------------ */

static uint8_t msix_ctrl_hi(const struct dmadev *d)
{
	const uint8_t *cfg = (const uint8_t *)vfu_pci_get_config_space(d->ctx);
	return cfg[d->msix_cap + PCI_MSIX_FLAGS + 1];
}

/* Vector v may fire now; with MSI-X off in our config space, the client
 * emulates MSI-X itself and nothing here holds it back. */
static bool msix_deliverable(const struct dmadev *d, unsigned v)
{
	uint8_t hi = msix_ctrl_hi(d);
	if (!(hi & PCI_MSIX_FLAGS_ENABLE >> 8))
		return true;
	return !(hi & PCI_MSIX_FLAGS_MASKALL >> 8) &&
	       !(d->msix_table[v * MSIX_ENTRY + MSIX_VEC_CTRL] &
		 PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void msix_fire(struct dmadev *d, unsigned v)
{
	if (msix_deliverable(d, v))
		vfu_irq_trigger(d->ctx, v); /* fails only without an eventfd */
	else
		d->msix_pba |= 1ull << v; /* delivered when unmasked */
}

static void msix_release_pending(struct dmadev *d)
{
	for (unsigned v = 0; v < MSIX_VECTORS; v++) {
		if ((d->msix_pba >> v & 1) && msix_deliverable(d, v)) {
			d->msix_pba &= ~(1ull << v);
			vfu_irq_trigger(d->ctx, v);
		}
	}
}

static void msix_reset(struct dmadev *d)
{
	memset(d->msix_table, 0, sizeof(d->msix_table));
	/* Vectors come out of reset masked, as PCI says. */
	for (unsigned v = 0; v < MSIX_VECTORS; v++)
		d->msix_table[v * MSIX_ENTRY + MSIX_VEC_CTRL] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;
	d->msix_pba = 0;
}

static bool in_msix(loff_t off, size_t count)
{
	uint64_t o = (uint64_t)off;
	return (o < MSIX_TABLE + MSIX_VECTORS * MSIX_ENTRY &&
		o + count > MSIX_TABLE) ||
	       (o < MSIX_PBA + 8 && o + count > MSIX_PBA);
}

/* The table and PBA take aligned 4- and 8-byte accesses, each inside one
 * entry or the one PBA word; the PBA is read-only. */
static ssize_t msix_access(struct dmadev *d, uint8_t *b, size_t count,
			   loff_t off, bool is_write)
{
	if ((count != 4 && count != 8) || off % (loff_t)count) {
		errno = EINVAL;
		return -1;
	}
	if (off >= (loff_t)MSIX_PBA) {
		if (!is_write)
			for (size_t i = 0; i < count; i++)
				b[i] = (uint8_t)(d->msix_pba >>
						 (8 * ((size_t)off - MSIX_PBA + i)));
		return (ssize_t)count;
	}
	size_t rel = (size_t)off - MSIX_TABLE;
	if (!is_write) {
		memcpy(b, d->msix_table + rel, count);
		return (ssize_t)count;
	}
	for (size_t i = 0; i < count; i++) {
		size_t o = (rel + i) % MSIX_ENTRY;
		if (o < MSIX_VEC_CTRL)
			d->msix_table[rel + i] = b[i];
		else if (o == MSIX_VEC_CTRL)
			d->msix_table[rel + i] = b[i] & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		/* the rest of vector control is reserved and reads 0 */
	}
	msix_release_pending(d);
	return (ssize_t)count;
}

/*
 * Config accesses the library leaves to us: our MSI-X capability (flagged
 * VFU_CAP_FLAG_CALLBACK) and the bytes beyond the capabilities.  Reads
 * are the config space as it stands; of writes, only MSI-X Enable and
 * Function Mask take effect, as on hardware the rest is read-only.
 */
static ssize_t cfg_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off,
			  bool is_write)
{
	struct dmadev *d = vfu_get_private(ctx);
	uint8_t *cfg = (uint8_t *)vfu_pci_get_config_space(ctx);
	size_t hi = d->msix_cap + PCI_MSIX_FLAGS + 1;
	const uint8_t bits = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;

	if (!is_write) {
		memcpy(buf, cfg + off, count);
		return (ssize_t)count;
	}
	if ((size_t)off <= hi && (size_t)off + count > hi) {
		uint8_t v = (uint8_t)buf[hi - (size_t)off];
		cfg[hi] = (uint8_t)((cfg[hi] & ~bits) | (v & bits));
		msix_release_pending(d);
	}
	return (ssize_t)count;
}

/* ---- DMA ---------------------------------------------------------------------------- */

/* A GO=2 whose message DMA the run loop is to do. */
#define DEFERRED 1

static dma_sg_t *sg_at(struct dmadev *d, size_t i)
{
	return (dma_sg_t *)((char *)d->sg + i * dma_sg_size());
}

/* The list for [iova, +len): its entry count, or -1 with errno. */
static int sg_build(struct dmadev *d, uint64_t addr, uint32_t len, int prot)
{
	for (;;) {
		int n = vfu_addr_to_sgl(d->ctx, (vfu_dma_addr_t)(uintptr_t)addr,
					len, d->sg, d->sg_cap, prot);
		if (n >= 0 || n == -1)
			return n;
		/* -(needed + 1): grow and ask again */
		size_t need = (size_t)(-n - 1);
		dma_sg_t *sg = realloc(d->sg, need * dma_sg_size());
		if (sg)
			d->sg = sg;
		struct iovec *iov = realloc(d->iov, need * sizeof(*iov));
		if (iov)
			d->iov = iov;
		if (!sg || !iov) {
			errno = ENOMEM;
			return -1;
		}
		d->sg_cap = need;
	}
}

/* Through our mappings of fd-backed windows: copy in place. */
static int copy_mapped(struct dmadev *d, int n, bool to_guest)
{
	if (vfu_sgl_get(d->ctx, d->sg, d->iov, (size_t)n, 0) < 0)
		return -errno;
	uint8_t *p = d->mem;
	for (int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(d->iov[i].iov_base, p, d->iov[i].iov_len);
		else
			memcpy(p, d->iov[i].iov_base, d->iov[i].iov_len);
		p += d->iov[i].iov_len;
	}
	/* Marks what we wrote dirty for the client's dirty logging. */
	vfu_sgl_put(d->ctx, d->sg, d->iov, (size_t)n);
	return 0;
}

/*
 * The length of the first segment of [addr, +rem): dma_sg_t is opaque,
 * and vfu_sgl_read/write take one segment at a time, so find where the
 * first window ends by asking how many segments shorter ranges need.
 */
static int64_t first_segment(struct dmadev *d, uint64_t addr, uint32_t rem,
			     int prot)
{
	uint32_t lo = 1, hi = rem; /* 1 byte is one segment */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		int n = vfu_addr_to_sgl(d->ctx, (vfu_dma_addr_t)(uintptr_t)addr,
					mid, NULL, 0, prot);
		if (n == -1)
			return -errno; /* unmapped since we looked */
		if (n == -2) /* exactly one needed */
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* One segment, in place if its window has an fd, else by message. */
static int copy_segment(struct dmadev *d, uint8_t *p, bool to_guest)
{
	dma_sg_t *sg = d->sg;
	if (!vfu_sg_is_mappable(d->ctx, sg)) {
		int r = to_guest ? vfu_sgl_write(d->ctx, sg, 1, p, 0)
				 : vfu_sgl_read(d->ctx, sg, 1, p, 0);
		return r < 0 ? -errno : 0;
	}
	if (vfu_sgl_get(d->ctx, sg, d->iov, 1, 0) < 0)
		return -errno;
	if (to_guest)
		memcpy(d->iov[0].iov_base, p, d->iov[0].iov_len);
	else
		memcpy(p, d->iov[0].iov_base, d->iov[0].iov_len);
	vfu_sgl_put(d->ctx, sg, d->iov, 1);
	return 0;
}

/* Segment by segment, by message where a window has no fd.  While a
 * message waits, the library serves the client, who may unmap what is
 * left: that fails the rest, as it would on hardware. */
static int copy_each(struct dmadev *d, uint64_t addr, uint32_t len,
		     bool to_guest)
{
	int prot = to_guest ? PROT_WRITE : PROT_READ;
	for (uint32_t done = 0; done < len;) {
		int64_t seg = first_segment(d, addr + done, len - done, prot);
		if (seg < 0)
			return (int)seg;
		int n = sg_build(d, addr + done, (uint32_t)seg, prot);
		if (n != 1)
			return n < 0 ? -errno : -EIO;
		int r = copy_segment(d, d->mem + done, to_guest);
		if (r)
			return r;
		done += (uint32_t)seg;
	}
	return 0;
}

/*
 * One transfer of LEN bytes between BAR2 and the guest at IOVA.  Returns
 * 0, -errno, or DEFERRED when it needs message DMA and may_message is
 * false (nothing moved then).
 */
static int transfer_once(struct dmadev *d, bool may_message)
{
	uint32_t len = rd32(d, REG_LEN);
	bool to_guest = rd32(d, REG_DIR) != 0;
	if (!len)
		return 0; /* nothing to move, as uvfio-dmadev */
	int n = sg_build(d, iova(d), len, to_guest ? PROT_WRITE : PROT_READ);
	if (n < 0)
		return -errno;
	bool all_mapped = true;
	for (int i = 0; i < n; i++)
		all_mapped &= vfu_sg_is_mappable(d->ctx, sg_at(d, i));
	if (all_mapped)
		return copy_mapped(d, n, to_guest);
	if (!may_message)
		return DEFERRED;
	return copy_each(d, iova(d), len, to_guest);
}

static int transfers(struct dmadev *d, bool may_message)
{
	uint32_t count = rd32(d, REG_COUNT);
	for (uint32_t i = 0; i < (count ? count : 1); i++) {
		int r = transfer_once(d, may_message);
		if (r)
			return r;
	}
	return 0;
}

static void finish(struct dmadev *d, int result)
{
	wr32(d, REG_STATUS, (uint32_t)-result);
	d->busy = d->queued = false;
	if (rd32(d, REG_IRQ))
		msix_fire(d, 0);
}

static int go(struct dmadev *d, uint32_t how)
{
	/* Stopped for migration: no DMA, no interrupts. */
	if (d->busy || !running(d->mig)) {
		errno = EBUSY;
		return -1;
	}
	if (rd32(d, REG_LEN) > BAR2_SIZE) {
		wr32(d, REG_STATUS, EINVAL);
		return 0;
	}
	if (how == 1) {
		finish(d, transfers(d, true));
	} else if (how == 2) {
		d->busy = true;
		wr32(d, REG_STATUS, EINPROGRESS);
		int r = transfers(d, false);
		if (r == DEFERRED)
			d->queued = true; /* the run loop goes on with it */
		else
			finish(d, r);
	}
	return 0;
}

/* The background part of a GO=2, from the run loop: outside every
 * callback, where waiting for the client's DMA replies is allowed. */
static void run_queued(struct dmadev *d)
{
	d->queued = false;
	finish(d, transfers(d, true));
}

static ssize_t bar0_access(vfu_ctx_t *ctx, char *buf, size_t count,
			   loff_t off, bool is_write)
{
	struct dmadev *d = vfu_get_private(ctx);
	if (in_msix(off, count))
		return msix_access(d, (uint8_t *)buf, count, off, is_write);
	if (off >= REG_END || count > REG_END - (size_t)off) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (!is_write) {
		memcpy(buf, d->regs + off, count);
		return (ssize_t)count;
	}
	if (off <= REG_GO && off + (loff_t)count > REG_GO) {
		uint32_t how = 0;
		size_t at = REG_GO - (size_t)off;
		memcpy(&how, buf + at, count - at < 4 ? count - at : 4);
		return go(d, how) < 0 ? -1 : (ssize_t)count;
	}
	if (off < REG_STATUS || off >= REG_IRQ) /* STATUS is read-only */
		memcpy(d->regs + off, buf, count);
	return (ssize_t)count;
}

static ssize_t bar2_access(vfu_ctx_t *ctx, char *buf, size_t count,
			   loff_t off, bool is_write)
{
	struct dmadev *d = vfu_get_private(ctx);
	/* The library checked the range against the region's size. */
	if (is_write)
		memcpy(d->mem + off, buf, count);
	else
		memcpy(buf, d->mem + off, count);
	return (ssize_t)count;
}

static void drop_streams(struct dmadev *d);

static int dmadev_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct dmadev *d = vfu_get_private(ctx);
	/* A lost client leaves the registers as they were: the device keeps
	 * its state for the next client; a GO=2 still waiting for the run
	 * loop has lost its guest memory. */
	if (type == VFU_RESET_LOST_CONN) {
		if (d->queued)
			finish(d, -ENOTCONN);
		return 0;
	}
	if (d->busy) {
		errno = EBUSY;
		return -1;
	}
	memset(d->regs, 0, sizeof(d->regs));
	msix_reset(d);
	/* libvfio-user puts the device in RUNNING after a reset without
	 * telling it; uvfio's library lets a pre-copy go on, and so do we
	 * (our stream stays valid either way). */
	if (d->mig != VFU_MIGR_STATE_PRE_COPY) {
		d->mig = VFU_MIGR_STATE_RUNNING;
		drop_streams(d);
	}
	return 0;
}

/* No references outlive a transfer, so there is nothing to drop when the
 * client unmaps; libvfio-user still wants the callback for
 * vfu_sgl_get(). */
static void dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	vfu_log(ctx, LOG_DEBUG, "DMA window %p, %zu bytes%s", info->iova.iov_base,
		info->iova.iov_len, info->vaddr ? ", mapped here" : "");
}

static void dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
	vfu_log(ctx, LOG_DEBUG, "DMA window %p gone", info->iova.iov_base);
}

/* ---- migration ---------------------------------------------------------------------- */

#define MIG_MAGIC 0x4d445655u /* "UVDM" little-endian */
#define MIG_VERSION 1
#define MIG_HDR 16u
enum { MIG_KIND_PRECOPY = 1, MIG_KIND_FINAL = 2 };

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Append a record to what is still unread of the outgoing stream. */
static int append_record(struct dmadev *d, unsigned kind)
{
	size_t regs = kind == MIG_KIND_FINAL ? REG_END : 0;
	size_t rec = MIG_HDR + regs + BAR2_SIZE;
	size_t left = d->out_len - d->out_pos;
	uint8_t *n = malloc(left + rec);
	if (!n)
		return -1;
	if (left)
		memcpy(n, d->out + d->out_pos, left);
	uint8_t *p = n + left;
	put_le(p, MIG_MAGIC, 4);
	put_le(p + 4, MIG_VERSION, 2);
	put_le(p + 6, kind, 2);
	put_le(p + 8, regs, 4);
	put_le(p + 12, BAR2_SIZE, 4);
	memcpy(p + MIG_HDR, d->regs, regs);
	memcpy(p + MIG_HDR + regs, d->mem, BAR2_SIZE);
	free(d->out);
	d->out = n;
	d->out_len = left + rec;
	d->out_pos = 0;
	return 0;
}

static void drop_streams(struct dmadev *d)
{
	free(d->out);
	free(d->in);
	d->out = d->in = NULL;
	d->out_len = d->out_pos = d->in_len = d->in_cap = 0;
}

/* One record's header is sane and its body is all there. */
static bool record_ok(const uint8_t *p, size_t avail)
{
	if (avail < MIG_HDR)
		return false;
	uint64_t kind = get_le(p + 6, 2), regs = get_le(p + 8, 4);
	uint64_t mem = get_le(p + 12, 4);
	return get_le(p, 4) == MIG_MAGIC && get_le(p + 4, 2) == MIG_VERSION &&
	       (kind == MIG_KIND_PRECOPY || kind == MIG_KIND_FINAL) &&
	       regs == (kind == MIG_KIND_FINAL ? REG_END : 0) &&
	       mem == BAR2_SIZE && avail - MIG_HDR >= regs + mem;
}

/* Check the whole incoming stream, then apply it: all or nothing. */
static int load_stream(struct dmadev *d)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t off = 0;
		bool final = false;
		while (off < d->in_len) {
			const uint8_t *p = d->in + off;
			if (!record_ok(p, d->in_len - off))
				return -1;
			size_t regs = get_le(p + 8, 4), mem = get_le(p + 12, 4);
			if (pass == 1) {
				memcpy(d->regs, p + MIG_HDR, regs);
				memcpy(d->mem, p + MIG_HDR + regs, mem);
			}
			final = get_le(p + 6, 2) == MIG_KIND_FINAL;
			off += MIG_HDR + regs + mem;
		}
		if (!final)
			return -1; /* incomplete: the device state never came */
	}
	return 0;
}

static int dmadev_transition(vfu_ctx_t *ctx, vfu_migr_state_t to)
{
	struct dmadev *d = vfu_get_private(ctx);
	vfu_migr_state_t from = d->mig;
	int r = 0;

	if (running(from) && !running(to) && d->busy) {
		errno = EBUSY; /* a background GO still runs: try again */
		return -1;
	}
	switch (to) {
	case VFU_MIGR_STATE_PRE_COPY: /* from RUNNING: a save session starts */
		drop_streams(d);
		r = append_record(d, MIG_KIND_PRECOPY);
		break;
	case VFU_MIGR_STATE_STOP_AND_COPY: /* from STOP or PRE_COPY */
		if (from == VFU_MIGR_STATE_STOP)
			drop_streams(d);
		r = append_record(d, MIG_KIND_FINAL);
		break;
	case VFU_MIGR_STATE_STOP:
		if (from == VFU_MIGR_STATE_RESUME && load_stream(d)) {
			errno = EINVAL;
			r = -1;
		}
		drop_streams(d);
		break;
	case VFU_MIGR_STATE_RESUME:
	case VFU_MIGR_STATE_RUNNING:
		drop_streams(d);
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (!r)
		d->mig = to;
	return r;
}

static ssize_t dmadev_read_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct dmadev *d = vfu_get_private(ctx);
	size_t n = d->out_len - d->out_pos;
	if (n > count)
		n = (size_t)count;
	if (n)
		memcpy(buf, d->out + d->out_pos, n);
	d->out_pos += n;
	return (ssize_t)n;
}

static ssize_t dmadev_write_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct dmadev *d = vfu_get_private(ctx);
	/* Bounded: a stream longer than a few records is not ours. */
	if (count > 8 * (MIG_HDR + REG_END + BAR2_SIZE) - d->in_len) {
		errno = EFBIG;
		return -1;
	}
	if (d->in_len + count > d->in_cap) {
		size_t cap = d->in_cap ? d->in_cap : 64 * 1024;
		while (cap < d->in_len + count)
			cap *= 2;
		uint8_t *n = realloc(d->in, cap);
		if (!n)
			return -1;
		d->in = n;
		d->in_cap = cap;
	}
	memcpy(d->in + d->in_len, buf, (size_t)count);
	d->in_len += (size_t)count;
	return (ssize_t)count;
}

static const vfu_migration_callbacks_t dmadev_mig = {
	.version = VFU_MIGR_CALLBACKS_VERS,
	.transition = dmadev_transition,
	.read_data = dmadev_read_data,
	.write_data = dmadev_write_data,
};

/* ---- the device's description ------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
	put_le(p, v, 2);
}

/* PCI Express endpoint, v2: uvfio-dmadev's register values (256-byte
 * max payload, 8-bit tags, role-based errors; an x1 2.5 GT/s link). */
static ssize_t add_pcie(vfu_ctx_t *ctx)
{
	uint8_t px[VFIO_USER_PCI_CAP_EXP_SIZEOF] = { PCI_CAP_ID_EXP };
	put16(px + PCI_EXP_FLAGS, 2 | PCI_EXP_TYPE_ENDPOINT << 4);
	put_le(px + PCI_EXP_DEVCAP, 1u | 1u << 5 | 7u << 6 | 7u << 9 | 1u << 15,
	       4);
	put16(px + PCI_EXP_DEVCTL, 1u << 4 | 1u << 11 | 2u << 12);
	put_le(px + PCI_EXP_LNKCAP, 1u | 1u << 4, 4);
	put16(px + PCI_EXP_LNKSTA, 1u | 1u << 4);
	put_le(px + PCI_EXP_LNKCAP2, 1u << 1, 4);
	return vfu_pci_add_capability(ctx, 0, 0, px);
}

static int add_caps(struct dmadev *d)
{
	struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM, .pc.vs = 3 };
	/* Nothing here loses state on D3hot -> D0. */
	pm.pmcs.nsfrst = 1;
	struct msixcap mx = {
		.hdr.id = PCI_CAP_ID_MSIX,
		.mxc.ts = MSIX_VECTORS - 1,
		.mtab = { .tbir = 0, .to = MSIX_TABLE >> 3 },
		.mpba = { .pbir = 0, .pbao = MSIX_PBA >> 3 },
	};
	struct dsncap dsn = {
		.hdr = { .id = PCI_EXT_CAP_ID_DSN, .version = 1 },
		.sn_lo = 0xa0d3a001u,
		.sn_hi = 0x00d3a0d3u,
	};
	ssize_t off;
	if (vfu_pci_add_capability(d->ctx, 0, 0, &pm) < 0 ||
	    add_pcie(d->ctx) < 0 ||
	    (off = vfu_pci_add_capability(d->ctx, 0, VFU_CAP_FLAG_CALLBACK,
					  &mx)) < 0 ||
	    vfu_pci_add_capability(d->ctx, 0, VFU_CAP_FLAG_EXTENDED, &dsn) < 0)
		return -1;
	d->msix_cap = (size_t)off;
	return 0;
}

static int describe(struct dmadev *d)
{
	vfu_ctx_t *ctx = d->ctx;
	struct iovec whole = { .iov_base = 0, .iov_len = BAR2_SIZE };

	if (vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS, PCI_HEADER_TYPE_NORMAL, 0) < 0)
		return -1;
	vfu_pci_set_id(ctx, 0x1234, 0xd3a0, 0x1234, 0x0001);
	vfu_pci_set_class(ctx, 0x08, 0x80, 0x00); /* system peripheral, other */
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, BAR0_SIZE,
			     bar0_access, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM,
			     NULL, 0, -1, 0) < 0 ||
	    vfu_setup_region(ctx, VFU_PCI_DEV_BAR2_REGION_IDX, BAR2_SIZE,
			     bar2_access,
			     VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM |
				     VFU_REGION_FLAG_64_BITS |
				     VFU_REGION_FLAG_PREFETCH,
			     &whole, 1, d->memfd, 0) < 0 ||
	    vfu_setup_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX,
			     PCI_CFG_SPACE_EXP_SIZE, cfg_access,
			     VFU_REGION_FLAG_RW, NULL, 0, -1, 0) < 0 ||
	    add_caps(d) < 0 ||
	    vfu_setup_device_nr_irqs(ctx, VFU_DEV_MSIX_IRQ, MSIX_VECTORS) < 0 ||
	    vfu_setup_device_dma(ctx, dma_register, dma_unregister) < 0 ||
	    vfu_setup_device_reset_cb(ctx, dmadev_reset) < 0 ||
	    vfu_setup_device_migration_callbacks(ctx, &dmadev_mig) < 0)
		return -1;
	return vfu_realize_ctx(ctx);
}

/* BAR2: a memfd, so the client can map what we map. */
static int bar2_create(struct dmadev *d)
{
	d->memfd = memfd_create("uvfio-compat-dmadev-bar2", MFD_CLOEXEC);
	if (d->memfd < 0)
		return -1;
	if (ftruncate(d->memfd, BAR2_SIZE) < 0)
		return -1;
	d->mem = mmap(NULL, BAR2_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->memfd, 0);
	if (d->mem == MAP_FAILED) {
		d->mem = NULL;
		return -1;
	}
	return 0;
}

/* ---- running ------------------------------------------------------------------------ */

/*
 * Non-blocking mode: our own ppoll() on vfu_get_poll_fd() (asked again
 * each time: it may change across attach and ENOTCONN), vfu_attach_ctx()
 * until a client has negotiated, vfu_run_ctx() for what is pending, and
 * a GO=2's message DMA in between.  The stop signals are blocked except
 * inside ppoll(), so none is lost between checking and sleeping.
 */
static int serve(struct dmadev *d, struct capp *a)
{
	sigset_t stops, wait_mask;
	capp_stop_signal_set(&stops);
	sigprocmask(SIG_BLOCK, &stops, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	/* again: no need to wait, the last call may have left work (a next
	 * client already negotiated when the last one's ENOTCONN came) */
	bool attached = false, again = false;

	while (!capp_stopping()) {
		struct pollfd p = { .fd = vfu_get_poll_fd(d->ctx),
				    .events = POLLIN };
		if (!again && ppoll(&p, 1, NULL, &wait_mask) < 0 &&
		    errno != EINTR) {
			fprintf(stderr, "%s: poll: %s\n", a->prog, strerror(errno));
			return 1;
		}
		again = false;
		if (capp_stopping())
			break;
		if (!attached && vfu_attach_ctx(d->ctx) == 0)
			attached = true;
		else if (!attached && errno != EAGAIN && errno != EWOULDBLOCK &&
			 errno != EINTR)
			goto failed;
		if (!attached)
			continue;
		if (vfu_run_ctx(d->ctx) < 0) {
			if (errno == ENOTCONN) {
				attached = false;
				again = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				goto failed;
			}
		}
		if (attached && d->queued)
			run_queued(d);
	}
	return 0;
failed:
	fprintf(stderr, "%s: %s: %s\n", a->prog,
		attached ? "vfu_run_ctx" : "vfu_attach_ctx", strerror(errno));
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-compat-dmadev --socket PATH [-v]\n"
		"\n"
		"Serve a DMA engine with MSI-X and a 1 MiB mmap-able memory BAR\n"
		"over vfio-user until SIGTERM or SIGINT: uvfio-dmadev written\n"
		"against libvfio-user's API.  Registers in BAR0: IOVA 0x00, LEN\n"
		"0x08, COUNT 0x0c, DIR 0x10 (0 read guest memory, 1 write it),\n"
		"GO 0x14 (1 synchronous, 2 background), STATUS 0x18, IRQ 0x1c\n"
		"(raise MSI-X vector 0 on completion).\n"
		"  --socket PATH  UNIX socket to listen on\n"
		"  --dma-read-budget BYTES\n"
		"                 accepted for uvfio-dmadev's sake (at least 4096),\n"
		"                 no effect: libvfio-user has no such setting\n"
		"  --busy-poll USEC\n"
		"                 accepted for uvfio-dmadev's sake, no effect\n"
		"  -v             log connections and protocol errors\n");
	capp_usage_env(f);
}

/* --dma-read-budget BYTES: checked as uvfio-dmadev checks it, then only
 * said to have no effect. */
static int option(void *opaque, int val, const char *arg)
{
	char *end;
	(void)opaque;
	(void)val; /* our only option */
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 0);
	if (errno || *end || !v) {
		fprintf(stderr, "uvfio-compat-dmadev: --dma-read-budget wants a "
				"byte count, got '%s'\n",
			arg);
		return 2;
	}
	if (v < 4096) {
		fprintf(stderr, "uvfio-compat-dmadev: --dma-read-budget %llu "
				"refused: %s (at least 4096)\n",
			v, strerror(EINVAL));
		return 2;
	}
	fprintf(stderr, "uvfio-compat-dmadev: --dma-read-budget has no effect: "
			"libvfio-user's API cannot set it\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dma-read-budget", required_argument, NULL, 'b' },
		{ 0 },
	};
	struct dmadev d = { .mig = VFU_MIGR_STATE_RUNNING, .memfd = -1 };
	struct capp a = {
		.prog = "uvfio-compat-dmadev", .usage = usage,
		.flags = LIBVFIO_USER_FLAG_ATTACH_NB, .pvt = &d,
		.options = opts, .option = option,
	};
	int r = 1;

	capp_start(&a, argc, argv);
	d.ctx = a.ctx;
	msix_reset(&d);
	if (bar2_create(&d) < 0 || describe(&d) < 0) {
		r = capp_fail(&a, "device setup");
		goto out;
	}
	capp_catch_stop_signals();
	r = serve(&d, &a);
	alarm(0);
	vfu_destroy_ctx(d.ctx);
out:
	drop_streams(&d);
	free(d.sg);
	free(d.iov);
	if (d.mem)
		munmap(d.mem, BAR2_SIZE);
	if (d.memfd >= 0)
		close(d.memfd);
	return r;
}
