/* SPDX-License-Identifier: MIT */
/* NVM command set I/O of uvfio-nvme on the backing file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvme.h"

static uint64_t slba(const struct nvme_cmd *c)
{
	return (uint64_t)c->cdw[11] << 32 | c->cdw[10];
}

/* The range [lba, lba + nlb) lies in the namespace. */
static bool in_range(const struct nvme_ctrl *n, uint64_t lba, uint64_t nlb)
{
	return lba < n->nlb && nlb <= n->nlb - lba;
}

static uint16_t rw(struct nvme_ctrl *n, const struct nvme_cmd *c, bool write)
{
	uint64_t lba = slba(c), nlb = (c->cdw[12] & 0xffff) + 1ull;
	if (write && n->readonly)
		return NVME_NS_WRITE_PROTECTED;
	if (!in_range(n, lba, nlb))
		return NVME_LBA_RANGE;
	if (nlb << NVME_LBA_SHIFT > (uint64_t)NVME_PAGE << NVME_MDTS)
		return NVME_INVALID_FIELD;
	uint16_t st = nvme_prp_file_io(n, c, nlb << NVME_LBA_SHIFT,
				       (off_t)(lba << NVME_LBA_SHIFT), !write);
	/* FUA (bit 30): the data must be on media before completion. */
	if (!st && write && (c->cdw[12] & (1u << 30)) && fdatasync(n->fd))
		st = NVME_WRITE_FAULT;
	return st;
}

/* Zero [off, off + len) of the file: a hole where the file system can
 * make one (reads then return zeros, as Identify's DLFEAT promises),
 * written zeros where it cannot. */
static int zero_range(struct nvme_ctrl *n, off_t off, uint64_t len)
{
	if (!fallocate(n->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		       (off_t)len))
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != ENODEV)
		return -errno;
	static const uint8_t zeros[64 * 1024];
	while (len) {
		size_t l = len < sizeof(zeros) ? len : sizeof(zeros);
		ssize_t w = pwrite(n->fd, zeros, l, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += w;
		len -= (uint64_t)w;
	}
	return 0;
}

static uint16_t write_zeroes(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	uint64_t lba = slba(c), nlb = (c->cdw[12] & 0xffff) + 1ull;
	if (n->readonly)
		return NVME_NS_WRITE_PROTECTED;
	if (!in_range(n, lba, nlb))
		return NVME_LBA_RANGE;
	return zero_range(n, (off_t)(lba << NVME_LBA_SHIFT),
			  nlb << NVME_LBA_SHIFT)
		       ? NVME_WRITE_FAULT
		       : NVME_SUCCESS;
}

/* Dataset Management: only the deallocate attribute does anything. */
static uint16_t dsm(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	unsigned nr = (c->cdw[10] & 0xff) + 1;
	bool deallocate = c->cdw[11] & (1u << 2);
	uint8_t ranges[256 * 16];

	if (!deallocate)
		return NVME_SUCCESS; /* hints only */
	if (n->readonly)
		return NVME_NS_WRITE_PROTECTED;
	uint16_t st = nvme_prp_buf(n, c, ranges, nr * 16u, false);
	if (st)
		return st;
	/* Check every range before touching any. */
	for (unsigned i = 0; i < nr; i++) {
		uint32_t len;
		uint64_t lba;
		memcpy(&len, ranges + i * 16 + 4, 4);
		memcpy(&lba, ranges + i * 16 + 8, 8);
		if (len && !in_range(n, lba, len))
			return NVME_LBA_RANGE;
	}
	for (unsigned i = 0; i < nr; i++) {
		uint32_t len;
		uint64_t lba;
		memcpy(&len, ranges + i * 16 + 4, 4);
		memcpy(&lba, ranges + i * 16 + 8, 8);
		if (len && zero_range(n, (off_t)(lba << NVME_LBA_SHIFT),
				      (uint64_t)len << NVME_LBA_SHIFT))
			return NVME_INTERNAL_ERROR;
	}
	return NVME_SUCCESS;
}

uint64_t nvme_io_data_in(const struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	/* Only what the command would read before it can fail on its own:
	 * those failures then keep their statuses. */
	if (c->nsid != 1 || n->readonly)
		return 0;
	if (c->opc == NVME_CMD_WRITE) {
		uint64_t nlb = (c->cdw[12] & 0xffff) + 1ull;
		if (!in_range(n, slba(c), nlb) ||
		    nlb << NVME_LBA_SHIFT > NVME_BOUNCE)
			return 0;
		return nlb << NVME_LBA_SHIFT;
	}
	if (c->opc == NVME_CMD_DSM && (c->cdw[11] & (1u << 2)))
		return ((c->cdw[10] & 0xff) + 1ull) * 16;
	return 0;
}

uint16_t nvme_io(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	bool known = c->opc <= NVME_CMD_READ || c->opc == NVME_CMD_WRITE_ZEROES ||
		     c->opc == NVME_CMD_DSM;
	if (!known)
		return NVME_INVALID_OPCODE;
	/* Flush may name every namespace (0xffffffff); others only ours. */
	if (c->nsid != 1 && !(c->opc == NVME_CMD_FLUSH && c->nsid == 0xffffffffu))
		return NVME_INVALID_NS;
	switch (c->opc) {
	case NVME_CMD_FLUSH:
		return fdatasync(n->fd) && errno != EINVAL ? NVME_WRITE_FAULT
							   : NVME_SUCCESS;
	case NVME_CMD_WRITE:
		return rw(n, c, true);
	case NVME_CMD_READ:
		return rw(n, c, false);
	case NVME_CMD_WRITE_ZEROES:
		return write_zeroes(n, c);
	case NVME_CMD_DSM:
		return dsm(n, c);
	default:
		return NVME_INVALID_OPCODE;
	}
}
