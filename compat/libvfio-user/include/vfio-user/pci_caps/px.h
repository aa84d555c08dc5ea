/* SPDX-License-Identifier: MIT */
/*
 * vfio-user/pci_caps/px.h - the PCI Express capability, all of it
 * (uvfio's libvfio-user compatible interface).
 *
 * Registers this interface does not break down further are a single
 * "stuff" bit-field of the register's width.
 */
#ifndef LIB_VFIO_USER_PCI_CAPS_PX_H
#define LIB_VFIO_USER_PCI_CAPS_PX_H

#include "common.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

#ifdef __cplusplus
extern "C" {
#endif

/* PCI Express Capabilities register. */
struct pxcaps {
    uint16_t ver:4;     /* capability version */
    uint16_t dpt:4;     /* device/port type */
    uint16_t si:1;      /* slot implemented */
    uint16_t imn:5;     /* interrupt message number */
    uint16_t res1:2;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxcaps) == 2, "pxcaps size");

/* Device Capabilities. */
struct pxdcap {
    uint32_t mps:3;     /* max payload size supported */
    uint32_t pfs:2;     /* phantom functions */
    uint32_t etfs:1;    /* extended tag field */
    uint32_t l0sl:3;    /* L0s acceptable latency */
    uint32_t l1l:3;     /* L1 acceptable latency */
    uint32_t res1:3;
    uint32_t rer:1;     /* role-based error reporting */
    uint32_t res2:2;
    uint32_t csplv:8;   /* captured slot power limit value */
    uint32_t cspls:2;   /* ... and scale */
    uint32_t flrc:1;    /* function level reset capable */
    uint32_t res3:3;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxdcap) == 4, "pxdcap size");

/* Device Control. */
union pxdc {
    uint16_t raw;
    struct {
        uint16_t cere:1;    /* correctable error reporting */
        uint16_t nfere:1;   /* non-fatal error reporting */
        uint16_t fere:1;    /* fatal error reporting */
        uint16_t urre:1;    /* unsupported request reporting */
        uint16_t ero:1;     /* relaxed ordering */
        uint16_t mps:3;     /* max payload size */
        uint16_t ete:1;     /* extended tag */
        uint16_t pfe:1;     /* phantom functions */
        uint16_t appme:1;   /* aux power PM */
        uint16_t ens:1;     /* no snoop */
        uint16_t mrrs:3;    /* max read request size */
        uint16_t iflr:1;    /* initiate function level reset */
    } __attribute__((packed));
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(union pxdc) == 2, "pxdc size");

/* Device Status: not broken down (all zero after reset). */
struct pxds {
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxds) == 2, "pxds size");

/* Link Capabilities. */
struct pxlcap {
    uint32_t stuff:32;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxlcap) == 4, "pxlcap size");

/* Link Control. */
union pxlc {
    uint16_t raw;
    struct {
        uint16_t aspmc:2;       /* ASPM control */
        uint16_t rsvdp1:1;
        uint16_t rcb:1;         /* read completion boundary */
        uint16_t ld:1;          /* link disable */
        uint16_t rl:1;          /* retrain link */
        uint16_t ccc:1;         /* common clock configuration */
        uint16_t es:1;          /* extended synch */
        uint16_t clkreq_en:1;   /* clock power management */
        uint16_t hawd:1;        /* hardware autonomous width disable */
        uint16_t lbmie:1;       /* bandwidth management interrupt */
        uint16_t labie:1;       /* autonomous bandwidth interrupt */
        uint16_t rsvdp2:4;
    };
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(union pxlc) == 2, "pxlc size");

struct pxls {           /* Link Status */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxls) == 2, "pxls size");

struct pxscap {         /* Slot Capabilities */
    uint32_t stuff:32;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxscap) == 4, "pxscap size");

struct pxsc {           /* Slot Control */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxsc) == 2, "pxsc size");

struct pxss {           /* Slot Status */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxss) == 2, "pxss size");

struct pxrc {           /* Root Control */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxrc) == 2, "pxrc size");

struct pxrcap {         /* Root Capabilities */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxrcap) == 2, "pxrcap size");

struct pxrs {           /* Root Status */
    uint32_t stuff:32;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxrs) == 4, "pxrs size");

/* Device Capabilities 2. */
struct pxdcap2 {
    uint32_t ctrs:4;    /* completion timeout ranges */
    uint32_t ctds:1;    /* completion timeout disable */
    uint32_t arifs:1;   /* ARI forwarding */
    uint32_t aors:1;    /* AtomicOp routing */
    uint32_t aocs32:1;  /* 32-bit AtomicOp completer */
    uint32_t aocs64:1;  /* 64-bit AtomicOp completer */
    uint32_t ccs128:1;  /* 128-bit CAS completer */
    uint32_t nprpr:1;   /* no RO-enabled PR-PR passing */
    uint32_t ltrs:1;    /* LTR mechanism */
    uint32_t tphcs:2;   /* TPH completer */
    uint32_t obffs:2;   /* OBFF */
    uint32_t effs:1;    /* extended fmt field */
    uint32_t eetps:1;   /* end-end TLP prefix */
    uint32_t meetp:2;   /* max end-end TLP prefixes */
    uint32_t res1:8;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxdcap2) == 4, "pxdcap2 size");

/* Device Control 2 (bit-fields declared on a 32-bit base, packed to 2). */
union pxdc2 {
    uint16_t raw;
    struct {
        uint32_t comp_timeout:4;
        uint32_t comp_timout_dis:1;
        uint32_t ari:1;
        uint32_t atomic_req:1;
        uint32_t atomic_egress_block:1;
        uint32_t ido_req_en:1;
        uint32_t ido_cmp_en:1;
        uint32_t ltr_en:1;
        uint32_t obff_en:2;
        uint32_t end_end_tlp_prefix_block:1;
    } __attribute__((packed));
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(union pxdc2) == 2, "pxdc2 size");

struct pxds2 {          /* Device Status 2 */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxds2) == 2, "pxds2 size");

struct pxlcap2 {        /* Link Capabilities 2 */
    uint32_t stuff:32;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxlcap2) == 4, "pxlcap2 size");

struct pxlc2 {          /* Link Control 2 */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxlc2) == 2, "pxlc2 size");

struct pxls2 {          /* Link Status 2 */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxls2) == 2, "pxls2 size");

struct pxscap2 {        /* Slot Capabilities 2 */
    uint32_t stuff:32;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxscap2) == 4, "pxscap2 size");

struct pxsc2 {          /* Slot Control 2 */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxsc2) == 2, "pxsc2 size");

struct pxss2 {          /* Slot Status 2 */
    uint16_t stuff:16;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxss2) == 2, "pxss2 size");

/*
 * Size of the whole capability as laid out below.  Not taken from
 * <linux/pci_regs.h>: older kernels give a smaller endpoint size there.
 */
#define VFIO_USER_PCI_CAP_EXP_SIZEOF (0x3c)

/*
 * The complete PCI Express capability (every register through Slot
 * Status 2), whatever the device/port type; an endpoint simply leaves the
 * registers it does not have at zero.
 */
struct pxcap {
    struct cap_hdr hdr;
    struct pxcaps pxcaps;
    struct pxdcap pxdcap;
    union pxdc pxdc;
    struct pxds pxds;
    struct pxlcap pxlcap;
    union pxlc pxlc;
    struct pxls pxls;
    struct pxscap pxscap;
    struct pxsc pxsc;
    struct pxss pxss;
    struct pxrc pxrc;
    struct pxrcap pxrcap;
    struct pxrs pxrs;
    struct pxdcap2 pxdcap2;
    union pxdc2 pxdc2;
    struct pxds2 pxds2;
    struct pxlcap2 pxlcap2;
    struct pxlc2 pxlc2;
    struct pxls2 pxls2;
    struct pxscap2 pxscap2;
    struct pxsc2 pxsc2;
    struct pxss2 pxss2;
} __attribute__((packed));
UVFIO_LVU_STATIC_ASSERT(sizeof(struct pxcap) == VFIO_USER_PCI_CAP_EXP_SIZEOF,
                        "pxcap size");
UVFIO_LVU_STATIC_ASSERT(offsetof(struct pxcap, hdr) == 0, "pxcap.hdr offset");

#ifdef __cplusplus
}
#endif

#pragma GCC diagnostic pop

#endif /* LIB_VFIO_USER_PCI_CAPS_PX_H */
