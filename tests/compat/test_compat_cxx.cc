// SPDX-License-Identifier: MIT
//
// test_compat_cxx.cc - the libvfio-user compatible headers from C++: they
// compile (both include spellings, included twice), and the same ABI tables
// as test_compat_abi.c hold, with exact C++ types for every prototype (C++
// tells enums from ints, so this is stricter than the C check).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <type_traits>

#include <vfio-user/libvfio-user.h>
#include <vfio-user/libvfio-user.h>
#include "libvfio-user.h"
#include "vfio-user.h"
#include "pci_defs.h"
#include "pci_caps/common.h"
#include "pci_caps/dsn.h"
#include "pci_caps/msi.h"
#include "pci_caps/msix.h"
#include "pci_caps/pm.h"
#include "pci_caps/px.h"

#include "abi_cases.h"

#define SIZE_SA(type, n) \
    static_assert(sizeof(type) == (n), "sizeof(" #type ") != " #n);
LVU_SIZE_CASES(SIZE_SA)

#define ALIGN_SA(type, n) \
    static_assert(alignof(type) == (n), "alignof(" #type ") != " #n);
LVU_ALIGN_CASES(ALIGN_SA)

#define OFFSET_SA(type, member, n) \
    static_assert(offsetof(type, member) == (n), \
                  "offsetof(" #type ", " #member ") != " #n);
LVU_OFFSET_CASES(OFFSET_SA)

#define CONST_SA(name, value) \
    static_assert((long long)(name) == (long long)(value), #name);
LVU_CONST_CASES(CONST_SA)

// vfu_log carries a format attribute, which std::is_same does not see.
#pragma GCC diagnostic ignored "-Wignored-attributes"
#define FUNC_SA(fn, ret, params) \
    static_assert(std::is_same<decltype(fn), ret params>::value, \
                  "prototype of " #fn);
LVU_FUNC_CASES(FUNC_SA)

#define CBTYPE_SA(tdef, ret, params) \
    static_assert(std::is_same<tdef, ret params>::value, \
                  "callback type " #tdef);
LVU_CBTYPE_CASES(CBTYPE_SA)

#define MEMBER_FN_SA(type, member, ret, params) \
    static_assert(std::is_same<decltype(type::member), ret (*) params>::value, \
                  "type of " #type "." #member);
LVU_MEMBER_FN_CASES(MEMBER_FN_SA)

static_assert(std::is_same<dma_sg_t, struct dma_sg>::value, "dma_sg_t");
static_assert(std::is_standard_layout<vfu_dma_info_t>::value, "dma info");

int main()
{
    int n = 0;
#define COUNT(...) n++;
    LVU_SIZE_CASES(COUNT)
    LVU_ALIGN_CASES(COUNT)
    LVU_OFFSET_CASES(COUNT)
    LVU_CONST_CASES(COUNT)
    LVU_FUNC_CASES(COUNT)
    LVU_CBTYPE_CASES(COUNT)
    LVU_MEMBER_FN_CASES(COUNT)
    std::printf("%d ABI facts hold in C++ (checked at compile time)\n", n);
    return 0;
}
