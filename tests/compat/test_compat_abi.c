/* SPDX-License-Identifier: MIT */
/*
 * test_compat_abi.c - the libvfio-user compatible headers against the
 * published libvfio-user ABI (x86_64, LP64).
 *
 * Sizes, alignments, member offsets, constants and the exact type of every
 * public function and callback are checked at compile time, so a wrong
 * header fails the build; the same tables are then checked and printed at
 * run time, with the bit-field positions (which no static check reaches).
 * Needs no library: only the headers are under test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Both spellings programs use: <vfio-user/x.h> and "x.h". */
#include <vfio-user/libvfio-user.h>
#include "libvfio-user.h"
#include "vfio-user.h"
#include "pci_defs.h"
#include "pci_caps/common.h"

#include "abi_cases.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "the expected values are those of an LP64 little-endian target"
#endif

/* ---- compile time ---------------------------------------------------- */

#define SIZE_SA(type, n) \
    _Static_assert(sizeof(type) == (n), "sizeof(" #type ") != " #n);
LVU_SIZE_CASES(SIZE_SA)

#define ALIGN_SA(type, n) \
    _Static_assert(_Alignof(type) == (n), "_Alignof(" #type ") != " #n);
LVU_ALIGN_CASES(ALIGN_SA)

#define OFFSET_SA(type, member, n) \
    _Static_assert(offsetof(type, member) == (n), \
                   "offsetof(" #type ", " #member ") != " #n);
LVU_OFFSET_CASES(OFFSET_SA)

#define CONST_SA(name, value) \
    _Static_assert((name) == (value), #name " != " #value);
LVU_CONST_CASES(CONST_SA)

#define FUNC_SA(fn, ret, params) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(fn), ret params), \
                   "prototype of " #fn);
LVU_FUNC_CASES(FUNC_SA)

#define CBTYPE_SA(tdef, ret, params) \
    _Static_assert(__builtin_types_compatible_p(tdef, ret params), \
                   "callback type " #tdef);
LVU_CBTYPE_CASES(CBTYPE_SA)

#define MEMBER_FN_SA(type, member, ret, params) \
    _Static_assert(__builtin_types_compatible_p( \
                       __typeof__(((type *)0)->member), ret (*) params), \
                   "type of " #type "." #member);
LVU_MEMBER_FN_CASES(MEMBER_FN_SA)

#define COUNT_ONE(...) + 1
_Static_assert(0 LVU_FUNC_CASES(COUNT_ONE) == LVU_FUNC_COUNT,
               "public function count");

/* dma_sg_t stays opaque: it may be pointed to, never sized by users. */
_Static_assert(__builtin_types_compatible_p(dma_sg_t, struct dma_sg),
               "dma_sg_t is struct dma_sg");

/* ---- run time -------------------------------------------------------- */

static int failures;
static int checks;

static void
expect(const char *what, unsigned long long got, unsigned long long want)
{
    checks++;
    if (got != want) {
        failures++;
        printf("FAIL %-62s got %llu, want %llu\n", what, got, want);
    }
}

/*
 * Lay @raw (little-endian, @len bytes) over a register type, then compare
 * each named field with the value the upstream bit order gives.
 */
#define OVER(var, rawval) \
    do { \
        uint64_t r_ = (rawval); \
        memset(&(var), 0, sizeof(var)); \
        memcpy(&(var), &r_, sizeof(var)); \
    } while (0)
#define FIELD(var, field, want) \
    expect(#var "." #field, (unsigned long long)(var).field, (want))

static void
check_bitfields(void)
{
    vfu_bar_t bar;
    vfu_pci_hdr_cmd_t cmd;
    vfu_pci_hdr_sts_t sts;
    struct pcie_ext_cap_hdr ext;
    struct pcie_ext_cap_vsc_hdr evsc;
    struct pc pc;
    struct pmcs pmcs;
    struct mc mc;
    struct ma ma;
    struct mxc mxc;
    struct mtab mtab;
    struct mpba mpba;
    struct pxcaps pxcaps;
    struct pxdcap pxdcap;
    union pxdc pxdc;
    union pxlc pxlc;
    struct pxdcap2 pxdcap2;
    union pxdc2 pxdc2;

    /* 64-bit prefetchable memory BAR at 0xfe000000. */
    OVER(bar, 0xfe00000cu);
    FIELD(bar, mem.region_type, 0);
    FIELD(bar, mem.locatable, 2);
    FIELD(bar, mem.prefetchable, 1);
    FIELD(bar, mem.base_address, 0xfe000000u >> 4);
    /* I/O BAR at 0xc000. */
    OVER(bar, 0xc001u);
    FIELD(bar, io.region_type, 1);
    FIELD(bar, io.reserved, 0);
    FIELD(bar, io.base_address, 0xc000u >> 2);

    OVER(cmd, 0x0406u);             /* MSE, BME, INTx disable */
    FIELD(cmd, iose, 0);
    FIELD(cmd, mse, 1);
    FIELD(cmd, bme, 1);
    FIELD(cmd, id, 1);
    FIELD(cmd, res1, 0);
    OVER(cmd, 0xf800u);
    FIELD(cmd, res1, 0x1f);

    OVER(sts, 0x8018u);             /* DPE, CL, IS */
    FIELD(sts, is, 1);
    FIELD(sts, cl, 1);
    FIELD(sts, dpe, 1);
    FIELD(sts, devt, 0);
    OVER(sts, 0x0600u);
    FIELD(sts, devt, 3);

    OVER(ext, 0x10010003u);         /* DSN, version 1, next 0x100 */
    FIELD(ext, id, 3);
    FIELD(ext, version, 1);
    FIELD(ext, next, 0x100);
    OVER(evsc, 0x018123450001000bull);   /* vendor ext cap, v1 */
    FIELD(evsc, hdr.id, 0x0b);
    FIELD(evsc, hdr.version, 1);
    FIELD(evsc, hdr.next, 0);
    FIELD(evsc, id, 0x2345);
    FIELD(evsc, rev, 1);
    FIELD(evsc, len, 0x018);

    OVER(pc, 0xc803u);              /* version 3, PME from D0/D3hot/D3cold */
    FIELD(pc, vs, 3);
    FIELD(pc, d1s, 0);
    FIELD(pc, d2s, 0);
    FIELD(pc, psup, 0x19);
    OVER(pmcs, 0x8103u);
    FIELD(pmcs, ps, 3);
    FIELD(pmcs, pmee, 1);
    FIELD(pmcs, pmes, 1);
    FIELD(pmcs, raw, 0x8103);

    OVER(mc, 0x01a5u);              /* enable, mmc 2, mme 2, c64, pvm */
    FIELD(mc, msie, 1);
    FIELD(mc, mmc, 2);
    FIELD(mc, mme, 2);
    FIELD(mc, c64, 1);
    FIELD(mc, pvm, 1);
    OVER(ma, 0xfee00004u);
    FIELD(ma, res1, 0);
    FIELD(ma, addr, 0xfee00004u >> 2);

    OVER(mxc, 0xc00fu);             /* 16 vectors, masked, enabled */
    FIELD(mxc, ts, 15);
    FIELD(mxc, reserved, 0);
    FIELD(mxc, fm, 1);
    FIELD(mxc, mxe, 1);
    OVER(mtab, 0x00002004u);
    FIELD(mtab, tbir, 4);
    FIELD(mtab, to, 0x2000u >> 3);
    OVER(mpba, 0x00003005u);
    FIELD(mpba, pbir, 5);
    FIELD(mpba, pbao, 0x3000u >> 3);

    OVER(pxcaps, 0x0002u);          /* version 2, endpoint */
    FIELD(pxcaps, ver, 2);
    FIELD(pxcaps, dpt, 0);
    OVER(pxcaps, 0x3e92u);
    FIELD(pxcaps, dpt, 9);
    FIELD(pxcaps, si, 0);
    FIELD(pxcaps, imn, 0x1f);
    OVER(pxdcap, 0x10008000u);      /* FLR capable, role-based errors */
    FIELD(pxdcap, rer, 1);
    FIELD(pxdcap, flrc, 1);
    FIELD(pxdcap, mps, 0);
    OVER(pxdc, 0x8000u | (5u << 12) | (1u << 5));
    FIELD(pxdc, iflr, 1);
    FIELD(pxdc, mrrs, 5);
    FIELD(pxdc, mps, 1);
    OVER(pxlc, 0x0c43u);
    FIELD(pxlc, aspmc, 3);
    FIELD(pxlc, ccc, 1);
    FIELD(pxlc, lbmie, 1);
    FIELD(pxlc, labie, 1);
    OVER(pxdcap2, 0x0000081fu);
    FIELD(pxdcap2, ctrs, 0xf);
    FIELD(pxdcap2, ctds, 1);
    FIELD(pxdcap2, ltrs, 1);
    OVER(pxdc2, 0x1420u);
    FIELD(pxdc2, ari, 1);
    FIELD(pxdc2, ltr_en, 1);
    FIELD(pxdc2, end_end_tlp_prefix_block, 0);
    FIELD(pxdc2, obff_en, 2);
}

int
main(void)
{
#define SIZE_RT(type, n) expect("sizeof(" #type ")", sizeof(type), (n));
    LVU_SIZE_CASES(SIZE_RT)
#define ALIGN_RT(type, n) expect("_Alignof(" #type ")", _Alignof(type), (n));
    LVU_ALIGN_CASES(ALIGN_RT)
#define OFFSET_RT(type, member, n) \
    expect("offsetof(" #type ", " #member ")", offsetof(type, member), (n));
    LVU_OFFSET_CASES(OFFSET_RT)
#define CONST_RT(name, value) \
    expect(#name, (unsigned long long)(name), (unsigned long long)(value));
    LVU_CONST_CASES(CONST_RT)

    check_bitfields();

    /* The enums have the width of int, like upstream's. */
    expect("sizeof(vfu_trans_t)", sizeof(vfu_trans_t), 4);
    expect("sizeof(vfu_reset_type_t)", sizeof(vfu_reset_type_t), 4);
    expect("sizeof(enum vfu_dev_irq_type)", sizeof(enum vfu_dev_irq_type), 4);
    expect("sizeof(vfu_migr_state_t)", sizeof(vfu_migr_state_t), 4);
    expect("sizeof(vfu_pci_type_t)", sizeof(vfu_pci_type_t), 4);
    expect("sizeof(enum vfio_user_command)",
           sizeof(enum vfio_user_command), 4);

    printf("%d ABI checks (%d functions' prototypes checked at compile "
           "time), %d failed\n", checks, LVU_FUNC_COUNT, failures);
    return failures ? 1 : 0;
}
