/* SPDX-License-Identifier: MIT */
/*
 * Guest memory for uvfio-nvme: queue entries, PRP walking and the
 * zero-copy path between guest pages and the backing file.
 *
 * Every access maps the guest range (uvfio_server_dma_sg_map) for the
 * length of one access and releases it at once: a mapping held longer
 * would make the client's DMA_UNMAP wait.  A message-only window (-EFAULT)
 * is noted in n->efault: the caller hands the command to a job (job.c),
 * which runs it again through a bounce buffer.  That is safe because
 * every command meets its guest memory before any side effect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "nvme.h"

#define SMALL_SG 4

/* Map a small range (a queue entry, a PRP list) as up to SMALL_SG pieces. */
static int map_small(struct nvme_ctrl *n, uint64_t iova, size_t len,
		     uint32_t prot, struct uvfio_dma_sg *sg, struct iovec *iov)
{
	int cnt = uvfio_server_dma_addr_to_sg(n->srv, iova, len, prot, sg,
					      SMALL_SG);
	if (cnt < 0)
		return cnt;
	if (cnt > SMALL_SG)
		return -E2BIG;
	int r = uvfio_server_dma_sg_map(n->srv, sg, (size_t)cnt, iov);
	return r ? r : cnt;
}

int nvme_guest_read(struct nvme_ctrl *n, uint64_t iova, void *buf, size_t len)
{
	struct uvfio_dma_sg sg[SMALL_SG];
	struct iovec iov[SMALL_SG];
	int cnt = map_small(n, iova, len, UVFIO_DMA_MAP_READ, sg, iov);
	if (cnt < 0)
		return cnt;
	uint8_t *p = buf;
	for (int i = 0; i < cnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	uvfio_server_dma_sg_unmap(n->srv, sg, (size_t)cnt, false);
	return 0;
}

int nvme_guest_write(struct nvme_ctrl *n, uint64_t iova, const void *buf,
		     size_t len)
{
	struct uvfio_dma_sg sg[SMALL_SG];
	struct iovec iov[SMALL_SG];
	int cnt = map_small(n, iova, len, UVFIO_DMA_MAP_WRITE, sg, iov);
	if (cnt < 0)
		return cnt;
	const uint8_t *p = buf;
	for (int i = 0; i < cnt; i++) {
		memcpy(iov[i].iov_base, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	uvfio_server_dma_sg_unmap(n->srv, sg, (size_t)cnt, true);
	return 0;
}

int nvme_guest_write_cqe(struct nvme_ctrl *n, uint64_t iova,
			 const uint32_t cqe[4])
{
	/* The host polls the phase tag in the last dword: everything else
	 * must be visible before it, so that dword is stored last, with
	 * release order, in one piece. */
	int r = nvme_guest_write(n, iova, cqe, 12);
	if (r)
		return r;
	struct uvfio_dma_sg sg[SMALL_SG];
	struct iovec iov[SMALL_SG];
	int cnt = map_small(n, iova + 12, 4, UVFIO_DMA_MAP_WRITE, sg, iov);
	if (cnt < 0)
		return cnt;
	if (cnt == 1 && ((uintptr_t)iov[0].iov_base & 3) == 0)
		__atomic_store_n((uint32_t *)iov[0].iov_base, cqe[3],
				 __ATOMIC_RELEASE);
	else /* a CQE cut by a window edge: no single store can do it */
		for (int i = 0, o = 0; i < cnt; o += (int)iov[i++].iov_len)
			memcpy(iov[i].iov_base, (const uint8_t *)&cqe[3] + o,
			       iov[i].iov_len);
	uvfio_server_dma_sg_unmap(n->srv, sg, (size_t)cnt, true);
	return 0;
}

/* A guest access that failed, as the status its command ends with. */
static uint16_t dma_status(struct nvme_ctrl *n, int r)
{
	/* -ENOENT/-EACCES: outside every window the host gave us. */
	if (r == -EFAULT)
		n->efault = true;
	return NVME_DATA_XFER_ERROR;
}

/* Read the PRP list entries that follow at list, up to the chain slot. */
static uint16_t walk_list(struct nvme_ctrl *n, uint64_t list, uint64_t npages,
			  unsigned *k)
{
	uint64_t ent[NVME_PAGE / 8];

	if (list & 3)
		return NVME_INVALID_PRP_OFFSET;
	while (npages) {
		uint64_t room = (NVME_PAGE - (list & (NVME_PAGE - 1))) / 8;
		/* The last slot of a list page points to the next page when
		 * more entries follow than fit. */
		uint64_t take = npages <= room ? npages : room - 1;
		uint64_t want = take + (npages > take ? 1 : 0);
		int r = nvme_guest_read(n, list, ent, want * 8);
		if (r)
			return dma_status(n, r);
		for (uint64_t i = 0; i < take; i++) {
			uint64_t e = ent[i]; /* guest memory: read once */
			if (e & (NVME_PAGE - 1))
				return NVME_INVALID_PRP_OFFSET;
			n->pages[(*k)++] = e;
		}
		npages -= take;
		if (npages) {
			list = ent[take];
			/* Page aligned, so every later page holds 511 more
			 * entries: the walk always advances. */
			if (list & (NVME_PAGE - 1))
				return NVME_INVALID_PRP_OFFSET;
		}
	}
	return NVME_SUCCESS;
}

uint16_t nvme_prp_first(const struct nvme_cmd *c, uint64_t len,
			uint64_t *pages, unsigned *count, uint64_t *list,
			uint64_t *left)
{
	if (c->psdt) /* SGLs are not offered (Identify SGLS = 0) */
		return NVME_INVALID_FIELD;
	if (c->prp1 & 3)
		return NVME_INVALID_PRP_OFFSET;
	uint64_t first = NVME_PAGE - (c->prp1 & (NVME_PAGE - 1));
	pages[0] = c->prp1;
	*count = 1;
	if (len <= first)
		return NVME_SUCCESS;
	uint64_t npages = (len - first + NVME_PAGE - 1) / NVME_PAGE;
	if (npages + 1 > NVME_MAX_PAGES)
		return NVME_INVALID_FIELD;
	if (npages == 1) {
		if (c->prp2 & (NVME_PAGE - 1))
			return NVME_INVALID_PRP_OFFSET;
		pages[(*count)++] = c->prp2;
		return NVME_SUCCESS;
	}
	if (c->prp2 & 3)
		return NVME_INVALID_PRP_OFFSET;
	*list = c->prp2;
	*left = npages;
	return NVME_WALK_LIST;
}

/* n->pages[0..*count): where each piece of a len-byte transfer starts; the
 * first may start inside its page, the others are whole pages. */
static uint16_t prp_walk(struct nvme_ctrl *n, const struct nvme_cmd *c,
			 uint64_t len, unsigned *count)
{
	uint64_t list = 0, left = 0;
	uint16_t st = nvme_prp_first(c, len, n->pages, count, &list, &left);
	return st == NVME_WALK_LIST ? walk_list(n, list, left, count) : st;
}

/* Length of piece i of a len-byte transfer whose first piece starts at
 * first. */
uint64_t nvme_piece_len(uint64_t first, unsigned i, uint64_t len)
{
	uint64_t head = NVME_PAGE - (first & (NVME_PAGE - 1));
	if (i == 0)
		return len < head ? len : head;
	uint64_t done = head + (uint64_t)(i - 1) * NVME_PAGE;
	return len - done < NVME_PAGE ? len - done : NVME_PAGE;
}

static uint64_t piece_len(const struct nvme_ctrl *n, unsigned i, uint64_t len)
{
	return nvme_piece_len(n->pages[0], i, len);
}

/* All of iov with preadv/pwritev, through short transfers. */
static int file_rw(int fd, struct iovec *iov, int cnt, off_t off, bool write)
{
	while (cnt > 0) {
		ssize_t r = write ? pwritev(fd, iov, cnt, off)
				  : preadv(fd, iov, cnt, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

#define MAX_SG (NVME_MAX_PAGES + 16)

/* Describe the pieces as sg entries, merging pieces that touch. */
static uint16_t pieces_to_sg(struct nvme_ctrl *n, unsigned count, uint64_t len,
			     uint32_t prot, struct uvfio_dma_sg *sg,
			     size_t *nsg)
{
	*nsg = 0;
	for (unsigned i = 0; i < count;) {
		uint64_t start = n->pages[i], run = piece_len(n, i, len);
		for (i++; i < count && n->pages[i] == start + run; i++)
			run += piece_len(n, i, len);
		int r = uvfio_server_dma_addr_to_sg(n->srv, start, run, prot,
						    sg + *nsg, MAX_SG - *nsg);
		if (r < 0)
			return dma_status(n, r);
		if ((size_t)r > MAX_SG - *nsg)
			return NVME_INTERNAL_ERROR; /* absurdly fragmented */
		*nsg += (size_t)r;
	}
	return NVME_SUCCESS;
}

/* A job's command: the file against its bounce buffer; its PRPs are
 * walked and the data sent after (data in was fetched before). */
static uint16_t bounce_file_io(struct nvme_ctrl *n, uint64_t len, off_t off,
			       bool to_guest)
{
	struct nvme_job *j = n->cur;
	if (len > NVME_BOUNCE || (!to_guest && len > j->in_len))
		return NVME_INTERNAL_ERROR;
	struct iovec iov = { .iov_base = j->bounce, .iov_len = (size_t)len };
	if (file_rw(n->fd, &iov, 1, off, !to_guest))
		return to_guest ? NVME_UNRECOVERED_READ : NVME_WRITE_FAULT;
	if (to_guest)
		j->out_len = len;
	return NVME_SUCCESS;
}

uint16_t nvme_prp_file_io(struct nvme_ctrl *n, const struct nvme_cmd *c,
			  uint64_t len, off_t off, bool to_guest)
{
	if (n->cur)
		return bounce_file_io(n, len, off, to_guest);
	unsigned count;
	uint16_t st = prp_walk(n, c, len, &count);
	if (st)
		return st;
	struct uvfio_dma_sg *sg = malloc(MAX_SG * sizeof(*sg));
	struct iovec *iov = malloc(MAX_SG * sizeof(*iov));
	size_t nsg = 0;
	if (!sg || !iov) {
		st = NVME_INTERNAL_ERROR;
		goto out;
	}
	st = pieces_to_sg(n, count, len,
			  to_guest ? UVFIO_DMA_MAP_WRITE : UVFIO_DMA_MAP_READ,
			  sg, &nsg);
	if (st)
		goto out;
	int r = uvfio_server_dma_sg_map(n->srv, sg, nsg, iov);
	if (r) {
		st = dma_status(n, r);
		goto out;
	}
	/* Straight between the file and the guest's pages: no copy. */
	r = file_rw(n->fd, iov, (int)nsg, off, !to_guest);
	uvfio_server_dma_sg_unmap(n->srv, sg, nsg, to_guest);
	if (r)
		st = to_guest ? NVME_UNRECOVERED_READ : NVME_WRITE_FAULT;
out:
	free(sg);
	free(iov);
	return st;
}

uint16_t nvme_prp_buf(struct nvme_ctrl *n, const struct nvme_cmd *c, void *buf,
		      size_t len, bool to_guest)
{
	struct nvme_job *j = n->cur;
	if (j) {
		if (len > NVME_BOUNCE || (!to_guest && len > j->in_len))
			return NVME_INTERNAL_ERROR;
		if (to_guest) {
			memcpy(j->bounce, buf, len);
			j->out_len = len;
		} else {
			memcpy(buf, j->bounce, len);
		}
		return NVME_SUCCESS;
	}
	unsigned count;
	uint16_t st = prp_walk(n, c, len, &count);
	if (st)
		return st;
	uint8_t *p = buf;
	for (unsigned i = 0; i < count; i++) {
		uint64_t l = piece_len(n, i, len);
		int r = to_guest ? nvme_guest_write(n, n->pages[i], p, l)
				 : nvme_guest_read(n, n->pages[i], p, l);
		if (r)
			return dma_status(n, r);
		p += l;
	}
	return NVME_SUCCESS;
}
