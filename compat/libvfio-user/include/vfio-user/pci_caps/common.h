/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/pci_caps/common.h - capability headers shared by every PCI
 * capability layout (uvfio's libvfio-user compatible interface).
 *
 * Layouts are fixed by the PCI specifications; each structure is byte
 * packed so it can be laid directly over config space.  The bit-fields
 * assume the little-endian bit order GCC and Clang use on x86 and arm64.
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_COMMON_H
#define LIB_VFIO_USER_PCI_CAPS_COMMON_H

#include <linux/pci_regs.h>
#include <stddef.h>
#include <stdint.h>

/* Compile-time layout checks that work in C11 and in C++11 alike. */
#ifndef UVFIO_LVU_STATIC_ASSERT
#ifdef __cplusplus
#define UVFIO_LVU_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define UVFIO_LVU_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#endif

/*
 * The layouts below need GNU extensions (narrow bit-field types, flexible
 * arrays, anonymous members in C++); they are what the interface is, so the
 * pedantic diagnostics about them are silenced here only.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* The two bytes every conventional capability starts with. */
struct cap_hdr {
    uint8_t id;
    uint8_t next;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct cap_hdr) == 2, "cap_hdr size");
UVFIO_LVU_STATIC_ASSERT(offsetof(struct cap_hdr, id) == PCI_CAP_LIST_ID,
                        "cap_hdr.id offset");
UVFIO_LVU_STATIC_ASSERT(offsetof(struct cap_hdr, next) == PCI_CAP_LIST_NEXT,
                        "cap_hdr.next offset");

/* Vendor-specific capability: header, total length, then free-form bytes. */
struct vsc {
    struct cap_hdr hdr;
    uint8_t size;
    uint8_t data[];
} __attribute__((packed));

/* The 32-bit header of a PCI Express extended capability. */
struct pcie_ext_cap_hdr {
    uint32_t id:16;
    uint32_t version:4;
    uint32_t next:12;
} __attribute__((packed));

/* Vendor-specific extended capability: common header, vendor header, data. */
struct pcie_ext_cap_vsc_hdr {
    struct pcie_ext_cap_hdr hdr;
    uint32_t id:16;
    uint32_t rev:4;
    uint32_t len:12;
    uint8_t data[];
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* LIB_VFIO_USER_PCI_CAPS_COMMON_H */
