/* SPDX-License-Identifier: MIT */
/*
 * uvfio-dmadev's programming model, for its drivers: the sample clients,
 * the tests and the bench.  What each register does is in dmadev.c.
 */
#ifndef UVFIO_SAMPLES_DMADEV_H
#define UVFIO_SAMPLES_DMADEV_H

/* BAR0: registers, little-endian */
enum {
	REG_IOVA = 0x00,   /* u64 guest address of the transfers */
	REG_LEN = 0x08,    /* u32 bytes per transfer */
	REG_COUNT = 0x0c,  /* u32 transfers per GO (0 counts as 1) */
	REG_DIR = 0x10,    /* u32 0: guest memory to BAR2, 1: BAR2 to guest */
	REG_GO = 0x14,     /* u32 1: transfer, then ack; 2: in the background */
	REG_STATUS = 0x18, /* u32 0, EINPROGRESS, or the errno of the last GO */
	REG_IRQ = 0x1c,    /* u32 non-zero: MSI-X vector 0 when a GO completes */
	REG_END = 0x20,
};
#define DMADEV_BAR0_SIZE 4096u
#define DMADEV_MSIX_TABLE 0x800u
#define DMADEV_MSIX_PBA 0xc00u
#define DMADEV_MSIX_VECTORS 4u

/* BAR2: memory the client may mmap; transfers use it from offset 0 */
#define DMADEV_BAR2 2u
#define DMADEV_BAR2_SIZE (1u << 20)

#endif
