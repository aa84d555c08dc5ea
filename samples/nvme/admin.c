/* SPDX-License-Identifier: MIT */
/* Admin commands of uvfio-nvme. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nvme.h"

#define NVME_FEAT_NOT_SAVEABLE NVME_SC(1, 0x0d)
#define NVME_TEMP_K 321 /* 48 degrees C: what SMART reports */

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ASCII, space padded, not terminated: how Identify spells strings. */
static void put_str(uint8_t *p, size_t len, const char *s)
{
	size_t l = strlen(s);
	memset(p, ' ', len);
	memcpy(p, s, l < len ? l : len);
}

static void identify_ctrl(const struct nvme_ctrl *n, uint8_t *d)
{
	put16(d + 0, 0x1234);  /* VID: the PCI vendor */
	put16(d + 2, 0x1234);  /* SSVID */
	put_str(d + 4, 20, n->sn);
	put_str(d + 24, 40, "uvfio-nvme");
	put_str(d + 64, 8, "0.1");
	d[72] = 6;                         /* RAB */
	d[77] = NVME_MDTS;                 /* MDTS, in pages */
	put32(d + 80, 0x00010400);         /* VER 1.4 */
	d[111] = 1;                        /* CNTRLTYPE: I/O controller */
	put16(d + 256, 1u << 8);           /* OACS: Doorbell Buffer Config */
	d[258] = 3;                        /* ACL: 4 aborts */
	d[259] = NVME_MAX_AER - 1;         /* AERL */
	d[260] = 1u << 1 | 1u;             /* FRMW: 1 slot, read-only */
	put16(d + 266, 343);               /* WCTEMP, kelvin */
	put16(d + 268, 373);               /* CCTEMP */
	d[512] = 0x66;                     /* SQES: 64 bytes */
	d[513] = 0x44;                     /* CQES: 16 bytes */
	put32(d + 516, 1);                 /* NN */
	put16(d + 520, 1u << 2 | 1u << 3); /* ONCS: DSM, Write Zeroes */
	d[525] = 1;                        /* VWC present */
	char nqn[64];
	int l = snprintf(nqn, sizeof(nqn), "nqn.2024-01.io.uvfio:nvme:%s", n->sn);
	memcpy(d + 768, nqn, (size_t)l);   /* SUBNQN, NUL padded */
	put16(d + 2048, 2500);             /* PSD0 MP: 25 W */
}

static void identify_ns(const struct nvme_ctrl *n, uint8_t *d)
{
	put64(d + 0, n->nlb);  /* NSZE */
	put64(d + 8, n->nlb);  /* NCAP */
	put64(d + 16, n->nlb); /* NUSE */
	d[33] = 1u | 1u << 3;  /* DLFEAT: deallocated reads zeros; WZ DEAC */
	d[99] = n->readonly;   /* NSATTR: write protected */
	memcpy(d + 104, n->nguid, 16);
	d[130] = NVME_LBA_SHIFT; /* LBAF0: LBADS, no metadata */
}

static uint16_t identify(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	uint8_t d[4096] = { 0 };
	unsigned cns = c->cdw[10] & 0xff;

	switch (cns) {
	case 0: /* namespace; 0xffffffff: what all namespaces share */
		if (c->nsid != 1 && c->nsid != 0xffffffffu)
			return NVME_INVALID_NS;
		identify_ns(n, d);
		break;
	case 1:
		identify_ctrl(n, d);
		break;
	case 2: /* active namespaces above nsid */
		if (c->nsid >= 0xfffffffeu)
			return NVME_INVALID_NS;
		if (c->nsid < 1)
			put32(d, 1);
		break;
	case 3: /* namespace identification descriptors: the NGUID */
		if (c->nsid != 1)
			return NVME_INVALID_NS;
		d[0] = 2;
		d[1] = 16;
		memcpy(d + 4, n->nguid, 16);
		break;
	default:
		return NVME_INVALID_FIELD;
	}
	return nvme_prp_buf(n, c, d, sizeof(d), true);
}

/* 128-bit little-endian counters; ours fit in 64 bits. */
static void smart(const struct nvme_ctrl *n, uint8_t *d)
{
	put16(d + 1, NVME_TEMP_K);
	d[3] = 100; /* available spare, % */
	d[4] = 10;  /* its threshold */
	/* Data units: thousands of 512-byte blocks, rounded up. */
	put64(d + 32, (n->units_read + 999) / 1000);
	put64(d + 48, (n->units_written + 999) / 1000);
	put64(d + 64, n->cmds_read);
	put64(d + 80, n->cmds_written);
	put64(d + 160, n->media_errors);
}

static uint16_t get_log(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	uint8_t d[4096] = { 0 };
	unsigned lid = c->cdw[10] & 0xff;
	uint64_t len = ((uint64_t)(c->cdw[11] & 0xffff) << 16 | c->cdw[10] >> 16) + 1;
	uint64_t off = (uint64_t)c->cdw[13] << 32 | c->cdw[12];
	size_t size;

	len *= 4;
	switch (lid) {
	case 1: /* error information: one entry, empty */
		size = 64;
		break;
	case 2: /* SMART / health */
		size = 512;
		smart(n, d);
		break;
	case 3: /* firmware slots: slot 1 active */
		size = 512;
		d[0] = 1;
		put_str(d + 8, 8, "0.1");
		break;
	default:
		return NVME_INVALID_LOG_PAGE;
	}
	/* Beyond the page reads as zeros, up to what d holds. */
	if ((off & 3) || off >= size || len > sizeof(d) - off)
		return NVME_INVALID_FIELD;
	return nvme_prp_buf(n, c, d + off, (size_t)len, true);
}

/* Get (set false) or Set Features; *dw0 the feature's value. */
static uint16_t features(struct nvme_ctrl *n, const struct nvme_cmd *c,
			 bool set, uint32_t *dw0)
{
	unsigned fid = c->cdw[10] & 0xff;
	uint32_t v = c->cdw[11], nq = n->max_ioq - 1;

	if (set && (c->cdw[10] & (1u << 31)))
		return NVME_FEAT_NOT_SAVEABLE;
	switch (fid) {
	case 0x01: /* arbitration */
		if (set)
			n->arbitration = v;
		*dw0 = n->arbitration;
		break;
	case 0x02: /* power management: one state only */
		if (set && (v & 0x1f))
			return NVME_INVALID_FIELD;
		*dw0 = 0;
		break;
	case 0x04: /* temperature threshold: accepted, fixed */
		*dw0 = 343;
		break;
	case 0x05: /* error recovery */
	case 0x0a: /* write atomicity */
		*dw0 = 0;
		break;
	case 0x06: /* volatile write cache */
		if (set)
			n->vwc = v & 1;
		*dw0 = n->vwc;
		break;
	case 0x07: /* number of queues: always all of them */
		if (set && ((v & 0xffff) == 0xffff || v >> 16 == 0xffff))
			return NVME_INVALID_FIELD;
		*dw0 = nq << 16 | nq;
		break;
	case 0x08: /* interrupt coalescing: accepted, not applied */
		if (set)
			n->coalescing = v & 0xffff;
		*dw0 = n->coalescing;
		break;
	case 0x09: /* interrupt vector configuration */
		*dw0 = v & 0xffff;
		break;
	case 0x0b: /* asynchronous event configuration */
		if (set)
			n->aec = v;
		*dw0 = n->aec;
		break;
	default:
		return NVME_INVALID_FIELD;
	}
	return NVME_SUCCESS;
}

/* The queue memory lies in windows the device may use as it needs. */
static bool queue_mem_ok(struct nvme_ctrl *n, uint64_t base, uint64_t bytes,
			 uint32_t prot)
{
	return uvfio_server_dma_addr_to_sg(n->srv, base, bytes, prot, NULL, 0) > 0;
}

static uint16_t create_cq(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	unsigned qid = c->cdw[10] & 0xffff, size = (c->cdw[10] >> 16) + 1;
	unsigned iv = c->cdw[11] >> 16;

	if (qid == 0 || qid > n->max_ioq || n->cq[qid].live)
		return NVME_INVALID_QID;
	if (size < 2 || size > NVME_MQES + 1)
		return NVME_INVALID_QSIZE;
	if (!(c->cdw[11] & 1)) /* CAP.CQR: contiguous queues only */
		return NVME_INVALID_FIELD;
	if (c->prp1 & (NVME_PAGE - 1))
		return NVME_INVALID_PRP_OFFSET;
	if (iv > n->max_ioq)
		return NVME_INVALID_VECTOR;
	if (!queue_mem_ok(n, c->prp1, size * 16ull, UVFIO_DMA_MAP_WRITE))
		return NVME_DATA_XFER_ERROR;
	n->cq[qid] = (struct nvme_cq){
		.live = true, .ien = c->cdw[11] & 2, .phase = true,
		.iv = (uint16_t)iv, .size = (uint16_t)size, .base = c->prp1,
	};
	nvme_db_queue_init(n, 2 * qid + 1);
	return NVME_SUCCESS;
}

static uint16_t create_sq(struct nvme_ctrl *n, const struct nvme_cmd *c)
{
	unsigned qid = c->cdw[10] & 0xffff, size = (c->cdw[10] >> 16) + 1;
	unsigned cqid = c->cdw[11] >> 16;

	if (qid == 0 || qid > n->max_ioq || n->sq[qid].live)
		return NVME_INVALID_QID;
	if (size < 2 || size > NVME_MQES + 1)
		return NVME_INVALID_QSIZE;
	if (!(c->cdw[11] & 1))
		return NVME_INVALID_FIELD;
	if (cqid == 0 || cqid > n->max_ioq || !n->cq[cqid].live)
		return NVME_CQ_INVALID;
	if (c->prp1 & (NVME_PAGE - 1))
		return NVME_INVALID_PRP_OFFSET;
	if (!queue_mem_ok(n, c->prp1, size * 64ull, UVFIO_DMA_MAP_READ))
		return NVME_DATA_XFER_ERROR;
	n->sq[qid] = (struct nvme_sq){
		.live = true, .cqid = (uint16_t)cqid, .size = (uint16_t)size,
		.base = c->prp1,
	};
	n->cq[cqid].nsq++;
	nvme_db_queue_init(n, 2 * qid);
	return NVME_SUCCESS;
}

static int delete_q(struct nvme_ctrl *n, const struct nvme_cmd *c, bool cq)
{
	unsigned qid = c->cdw[10] & 0xffff;

	if (qid == 0 || qid > n->max_ioq ||
	    !(cq ? n->cq[qid].live : n->sq[qid].live))
		return NVME_INVALID_QID;
	if (cq) {
		if (n->cq[qid].nsq)
			return NVME_INVALID_QUEUE_DELETION;
		n->cq[qid] = (struct nvme_cq){ 0 };
		return NVME_SUCCESS;
	}
	/* Its commands in flight end without a CQE each (the host wrote
	 * them off when it deleted their queue; no "aborted due to SQ
	 * deletion" entries): a request's completion or a job's transfer
	 * that comes later touches no queue, and the slots they reserved
	 * are free now.  Their DMA is not over yet, though, and the
	 * host may reuse the memory once this completes: it completes only
	 * when they are done (nvme_settle), holding the admin queue. */
	unsigned cqid = n->sq[qid].cqid;
	nvme_job_cancel(n, qid);
	n->cq[cqid].resv -= n->qbusy[qid];
	n->cq[cqid].nsq--;
	n->sq[qid] = (struct nvme_sq){ 0 };
	if (!n->qbusy[qid] && !n->job[qid].active)
		return NVME_SUCCESS;
	n->del_sq = (uint16_t)qid;
	n->del_cid = c->cid;
	n->cq[0].resv++;
	return -1;
}

int nvme_admin(struct nvme_ctrl *n, const struct nvme_cmd *c, uint32_t *dw0)
{
	*dw0 = 0;
	switch (c->opc) {
	case NVME_ADM_DELETE_SQ:
		return delete_q(n, c, false);
	case NVME_ADM_CREATE_SQ:
		return create_sq(n, c);
	case NVME_ADM_GET_LOG:
		return get_log(n, c);
	case NVME_ADM_DELETE_CQ:
		return delete_q(n, c, true);
	case NVME_ADM_CREATE_CQ:
		return create_cq(n, c);
	case NVME_ADM_IDENTIFY:
		return identify(n, c);
	case NVME_ADM_ABORT:
		*dw0 = 1; /* not aborted: every command has completed already */
		return NVME_SUCCESS;
	case NVME_ADM_SET_FEATURES:
		return features(n, c, true, dw0);
	case NVME_ADM_GET_FEATURES:
		return features(n, c, false, dw0);
	case NVME_ADM_AER:
		/* Held until an event (none is generated yet) or a reset. */
		if (n->naer == NVME_MAX_AER)
			return NVME_AER_LIMIT;
		n->aer_cid[n->naer++] = c->cid;
		return -1;
	case NVME_ADM_KEEP_ALIVE:
		return NVME_SUCCESS;
	case NVME_ADM_DBBUF:
		return nvme_dbbuf_config(n, c);
	default:
		return NVME_INVALID_OPCODE;
	}
}
