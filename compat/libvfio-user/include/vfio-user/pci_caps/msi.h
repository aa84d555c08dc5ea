/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/pci_caps/msi.h - the MSI capability, 64-bit address with
 * per-vector masking (uvfio's libvfio-user compatible interface).
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_MSI_H
#define LIB_VFIO_USER_PCI_CAPS_MSI_H

#include "common.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* Message Control. */
struct mc {
    unsigned int msie:1;    /* MSI enable */
    unsigned int mmc:3;     /* vectors the function can use (log2) */
    unsigned int mme:3;     /* vectors the guest granted (log2) */
    unsigned int c64:1;     /* 64-bit address capable */
    unsigned int pvm:1;     /* per-vector masking capable */
    unsigned int res1:7;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct mc) == 2, "mc size");

/* Message Address, low dword (dword aligned). */
struct ma {
    unsigned int res1:2;
    unsigned int addr:30;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct ma) == 4, "ma size");

struct msicap {
    struct cap_hdr hdr;
    struct mc mc;
    struct ma ma;
    uint32_t mua;       /* upper address */
    uint16_t md;        /* message data */
    uint16_t padding;
    uint32_t mmask;     /* mask bits */
    uint32_t mpend;     /* pending bits */
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct msicap) == 0x18, "msicap size");
UVFIO_LVU_STATIC_ASSERT(offsetof(struct msicap, hdr) == 0, "msicap.hdr offset");

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* LIB_VFIO_USER_PCI_CAPS_MSI_H */
