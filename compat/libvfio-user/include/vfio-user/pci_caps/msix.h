/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/pci_caps/msix.h - the MSI-X capability
 * (uvfio's libvfio-user compatible interface).
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_MSIX_H
#define LIB_VFIO_USER_PCI_CAPS_MSIX_H

#include <linux/pci_regs.h>

/* struct cap_hdr; included here so this header stands on its own. */
#include "common.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* Message Control. */
struct mxc {
    uint16_t ts:11;         /* table size minus one (read-only) */
    uint16_t reserved:3;
    uint16_t fm:1;          /* function mask */
    uint16_t mxe:1;         /* MSI-X enable */
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct mxc) == PCI_MSIX_FLAGS, "mxc size");

/* Table BAR indicator and offset (offset is in 8-byte units). */
struct mtab {
    uint32_t tbir:3;
    uint32_t to:29;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct mtab) == PCI_MSIX_TABLE, "mtab size");

/* Pending Bit Array BAR indicator and offset. */
struct mpba {
    uint32_t pbir:3;
    uint32_t pbao:29;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct mpba) == PCI_MSIX_PBA - PCI_MSIX_TABLE,
                        "mpba size");

struct msixcap {
    struct cap_hdr hdr;
    struct mxc mxc;
    struct mtab mtab;
    struct mpba mpba;
} __attribute__((packed)) __attribute__((aligned(4)));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct msixcap) == PCI_CAP_MSIX_SIZEOF,
                        "msixcap size");
UVFIO_LVU_STATIC_ASSERT(offsetof(struct msixcap, hdr) == 0,
                        "msixcap.hdr offset");

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* LIB_VFIO_USER_PCI_CAPS_MSIX_H */
