/* SPDX-License-Identifier: MIT */
/*
 * Guest memory for uvfio-nvme: queue entries, PRP walking and the guest
 * pages of a read or write, mapped for the file operations to use in
 * place.
 *
 * Queue entries and PRP lists are mapped (uvfio_server_dma_sg_map) for
 * one access and released at once; a request's data pages stay mapped
 * until its file operations complete, which is also what a client's
 * DMA_UNMAP of their window waits for.  A message-only window (-EFAULT)
 * is noted in n->efault: the caller hands the command to a job (job.c),
 * which runs it again through a bounce buffer.  That is safe because
 * every command meets its guest memory before any side effect.
 */
#include <errno.h>
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
						    sg + *nsg,
						    NVME_MAX_SG - *nsg);
		if (r < 0)
			return dma_status(n, r);
		if ((size_t)r > NVME_MAX_SG - *nsg)
			return NVME_INTERNAL_ERROR; /* absurdly fragmented */
		*nsg += (size_t)r;
	}
	return NVME_SUCCESS;
}

/* A job's command: the file against its bounce buffer (data in was
 * fetched before, data out is sent after). */
static uint16_t map_bounce(struct nvme_ctrl *n, uint64_t len, bool to_guest,
			   struct nvme_req *r)
{
	struct nvme_job *j = n->cur;
	if (len > NVME_BOUNCE || (!to_guest && len > j->in_len))
		return NVME_INTERNAL_ERROR;
	r->iov[0] = (struct iovec){ .iov_base = j->bounce, .iov_len = len };
	r->niov = 1;
	return NVME_SUCCESS;
}

uint16_t nvme_prp_map(struct nvme_ctrl *n, const struct nvme_cmd *c,
		      uint64_t len, bool to_guest, struct nvme_req *r)
{
	r->nsg = 0;
	r->niov = 0;
	if (n->cur)
		return map_bounce(n, len, to_guest, r);
	unsigned count;
	uint16_t st = prp_walk(n, c, len, &count);
	if (st)
		return st;
	size_t nsg;
	st = pieces_to_sg(n, count, len,
			  to_guest ? UVFIO_DMA_MAP_WRITE : UVFIO_DMA_MAP_READ,
			  r->sg, &nsg);
	if (st)
		return st;
	/* Held until the last operation on them completes: a DMA_UNMAP of
	 * their window waits for that (main.c drains first). */
	int e = uvfio_server_dma_sg_map(n->srv, r->sg, nsg, r->iov);
	if (e)
		return dma_status(n, e);
	r->nsg = nsg;
	r->niov = (unsigned)nsg;
	return NVME_SUCCESS;
}

void nvme_prp_release(struct nvme_ctrl *n, struct nvme_req *r)
{
	/* A failed read may have written part of the pages: dirty all the
	 * same, for the client's dirty logging. */
	if (r->nsg)
		uvfio_server_dma_sg_unmap(n->srv, r->sg, r->nsg, r->to_guest);
	r->nsg = 0;
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
