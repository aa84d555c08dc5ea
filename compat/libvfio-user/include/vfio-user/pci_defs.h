/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/pci_defs.h - the type-0 PCI configuration header as C types
 * (uvfio's libvfio-user compatible interface).
 *
 * Every register is a union of its raw value and, where useful, its
 * fields; everything is byte packed so vfu_pci_config_space_t can be laid
 * over the config space buffer returned by vfu_pci_get_config_space().
 */
#ifndef LIBVFIO_USER_PCI_DEFS_H
#define LIBVFIO_USER_PCI_DEFS_H

#include <stdint.h>
#include <stdbool.h>
#include <linux/pci_regs.h>

#ifndef UVFIO_LVU_STATIC_ASSERT
#ifdef __cplusplus
#define UVFIO_LVU_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define UVFIO_LVU_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#endif

/* Anonymous members and narrow bit-fields are part of these layouts. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* Subsystem vendor ID and subsystem ID (offset 0x2c). */
typedef union {
    uint32_t raw;
    struct {
        uint16_t vid;
        uint16_t sid;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_ss_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_ss_t) == 4, "ss size");

/* Built-in self test. */
typedef union {
    uint8_t raw;
} __attribute__((packed)) vfu_pci_hdr_bist_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_bist_t) == 1, "bist size");

/* One base address register, read as memory or as I/O. */
typedef union {
    uint32_t raw;
    union {
        struct {
            unsigned int region_type:1;     /* 0: memory */
            unsigned int locatable:2;       /* 0: 32-bit, 2: 64-bit */
            unsigned int prefetchable:1;
            unsigned int base_address:28;
        } __attribute__((packed)) mem;
        struct {
            unsigned int region_type:1;     /* 1: I/O */
            unsigned int reserved:1;
            unsigned int base_address:30;
        } __attribute__((packed)) io;
    } __attribute__((packed));
} __attribute__((packed)) vfu_bar_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_bar_t) == 4, "bar size");

/* Header type. */
typedef union {
    uint8_t raw;
} __attribute__((packed)) vfu_pci_hdr_htype_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_htype_t) == 1, "htype size");

/* Class code: programming interface, sub-class, base class. */
typedef union {
    uint8_t raw[3];
    struct {
        uint8_t pi;
        uint8_t scc;
        uint8_t bcc;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_cc_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_cc_t) == 3, "cc size");

/* Status register. */
typedef union {
    uint16_t raw;
    struct {
        unsigned int res1:3;
        unsigned int is:1;      /* interrupt status */
        unsigned int cl:1;      /* capabilities list */
        unsigned int c66:1;     /* 66 MHz capable */
        unsigned int res2:1;
        unsigned int fbc:1;     /* fast back-to-back capable */
        unsigned int dpd:1;     /* master data parity error */
        unsigned int devt:2;    /* DEVSEL timing */
        unsigned int sta:1;     /* signaled target abort */
        unsigned int rta:1;     /* received target abort */
        unsigned int rma:1;     /* received master abort */
        unsigned int sse:1;     /* signaled system error */
        unsigned int dpe:1;     /* detected parity error */
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_sts_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_sts_t) == 2, "sts size");

/* Command register. */
typedef union {
    uint16_t raw;
    struct {
        uint8_t iose:1;     /* I/O space enable */
        uint8_t mse:1;      /* memory space enable */
        uint8_t bme:1;      /* bus master enable */
        uint8_t sce:1;      /* special cycles */
        uint8_t mwie:1;     /* memory write and invalidate */
        uint8_t vga:1;      /* VGA palette snoop */
        uint8_t pee:1;      /* parity error response */
        uint8_t zero:1;
        uint8_t see:1;      /* SERR# enable */
        uint8_t fbe:1;      /* fast back-to-back enable */
        uint8_t id:1;       /* INTx disable */
        uint8_t res1:5;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_cmd_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_cmd_t) == 2, "cmd size");

/* Vendor ID and device ID. */
typedef union {
    uint32_t raw;
    struct {
        uint16_t vid;
        uint16_t did;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_id_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_id_t) == 4, "id size");

/* Interrupt line and pin. */
typedef union {
    uint16_t raw;
    struct {
        uint8_t iline;
        uint8_t ipin;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_intr_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_intr_t) == 2, "intr size");

/* The 64-byte type-0 header. */
typedef union {
    uint8_t raw[PCI_STD_HEADER_SIZEOF];
    struct {
        vfu_pci_hdr_id_t id;
        vfu_pci_hdr_cmd_t cmd;
        vfu_pci_hdr_sts_t sts;
        uint8_t rid;                /* revision ID */
        vfu_pci_hdr_cc_t cc;
        uint8_t cls;                /* cache line size */
        uint8_t mlt;                /* latency timer */
        vfu_pci_hdr_htype_t htype;
        vfu_pci_hdr_bist_t bist;
#define PCI_BARS_NR 6
        vfu_bar_t bars[PCI_BARS_NR];
        uint32_t ccptr;             /* CardBus CIS pointer */
        vfu_pci_hdr_ss_t ss;
        uint32_t erom;              /* expansion ROM base */
        uint8_t cap;                /* capabilities pointer */
        uint8_t res1[7];
        vfu_pci_hdr_intr_t intr;
        uint8_t mgnt;               /* min grant */
        uint8_t mlat;               /* max latency */
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_hdr_t) == 0x40, "pci header size");

/*
 * Config space: the standard 256 bytes, followed (for PCI-X mode 2 and
 * PCI Express devices) by the extended space up to 4096 bytes.
 */
typedef struct {
    union {
        uint8_t raw[PCI_CFG_SPACE_SIZE];
        vfu_pci_hdr_t hdr;
    } __attribute__((packed));
    uint8_t extended[];
} __attribute__((packed)) vfu_pci_config_space_t;
UVFIO_LVU_STATIC_ASSERT(sizeof(vfu_pci_config_space_t) == 0x100,
                        "config space size");

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* LIBVFIO_USER_PCI_DEFS_H */
