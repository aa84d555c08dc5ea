/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/pci_caps/dsn.h - the Device Serial Number extended capability
 * (uvfio's libvfio-user compatible interface).
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_DSN_H
#define LIB_VFIO_USER_PCI_CAPS_DSN_H

#include "common.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* A 64-bit serial number split in two dwords, low half first. */
struct dsncap {
    struct pcie_ext_cap_hdr hdr;
    uint32_t sn_lo;
    uint32_t sn_hi;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct dsncap) == PCI_EXT_CAP_DSN_SIZEOF,
                        "dsncap size");

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* LIB_VFIO_USER_PCI_CAPS_DSN_H */
