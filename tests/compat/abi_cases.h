/* SPDX-License-Identifier: MIT */
/*
 * abi_cases.h - the published libvfio-user ABI (x86_64, LP64) as tables,
 * shared by test_compat_abi.c (C) and test_compat_cxx.cc (C++).
 *
 * Every number is written out literally, worked out from the upstream
 * header layouts, never computed from the compat headers under test.
 * Each table is an X-macro: the includer defines X and expands it.
 */
#ifndef UVFIO_TESTS_COMPAT_ABI_CASES_H
#define UVFIO_TESTS_COMPAT_ABI_CASES_H

/* The union inside the io_fds reply is a nested type in C++. */
#ifdef __cplusplus
#define LVU_SUB_REGION_T vfio_user_region_io_fds_reply::sub_region
#else
#define LVU_SUB_REGION_T union sub_region
#endif

/* X(type, size) */
#define LVU_SIZE_CASES(X) \
    /* libvfio-user.h */ \
    X(vfu_dma_info_t, 56) \
    X(vfu_migration_callbacks_t, 32) \
    X(vfu_dma_addr_t, 8) \
    /* vfio-user.h */ \
    X(struct vfio_user_header, 16) \
    X(struct vfio_user_version, 4) \
    X(struct vfio_user_device_info, 16) \
    X(struct vfio_user_bitmap, 16) \
    X(struct vfio_user_dma_map, 32) \
    X(struct vfio_user_dma_unmap, 24) \
    X(struct vfio_user_region_access, 16) \
    X(struct vfio_user_dma_region_access, 16) \
    X(struct vfio_user_irq_info, 4) \
    X(vfio_user_region_io_fds_request_t, 16) \
    X(vfio_user_sub_region_ioeventfd_t, 48) \
    X(vfio_user_sub_region_ioregionfd_t, 40) \
    X(vfio_user_region_io_fds_reply_t, 16) \
    X(LVU_SUB_REGION_T, 48) \
    X(struct vfio_user_device_feature_dma_logging_range, 16) \
    X(struct vfio_user_device_feature_dma_logging_control, 16) \
    X(struct vfio_user_device_feature_dma_logging_report, 24) \
    X(struct vfio_user_device_feature, 8) \
    X(struct vfio_user_device_feature_migration, 8) \
    X(struct vfio_user_device_feature_mig_state, 8) \
    X(struct vfio_user_mig_data, 8) \
    /* pci_defs.h */ \
    X(vfu_pci_hdr_ss_t, 4) \
    X(vfu_pci_hdr_bist_t, 1) \
    X(vfu_bar_t, 4) \
    X(vfu_pci_hdr_htype_t, 1) \
    X(vfu_pci_hdr_cc_t, 3) \
    X(vfu_pci_hdr_sts_t, 2) \
    X(vfu_pci_hdr_cmd_t, 2) \
    X(vfu_pci_hdr_id_t, 4) \
    X(vfu_pci_hdr_intr_t, 2) \
    X(vfu_pci_hdr_t, 64) \
    X(vfu_pci_config_space_t, 256) \
    /* pci_caps/common.h */ \
    X(struct cap_hdr, 2) \
    X(struct vsc, 3) \
    X(struct pcie_ext_cap_hdr, 4) \
    X(struct pcie_ext_cap_vsc_hdr, 8) \
    /* pci_caps/pm.h */ \
    X(struct pc, 2) \
    X(struct pmcs, 2) \
    X(struct pmcap, 8) \
    /* pci_caps/msi.h */ \
    X(struct mc, 2) \
    X(struct ma, 4) \
    X(struct msicap, 24) \
    /* pci_caps/msix.h */ \
    X(struct mxc, 2) \
    X(struct mtab, 4) \
    X(struct mpba, 4) \
    X(struct msixcap, 12) \
    /* pci_caps/px.h */ \
    X(struct pxcaps, 2) \
    X(struct pxdcap, 4) \
    X(union pxdc, 2) \
    X(struct pxds, 2) \
    X(struct pxlcap, 4) \
    X(union pxlc, 2) \
    X(struct pxls, 2) \
    X(struct pxscap, 4) \
    X(struct pxsc, 2) \
    X(struct pxss, 2) \
    X(struct pxrc, 2) \
    X(struct pxrcap, 2) \
    X(struct pxrs, 4) \
    X(struct pxdcap2, 4) \
    X(union pxdc2, 2) \
    X(struct pxds2, 2) \
    X(struct pxlcap2, 4) \
    X(struct pxlc2, 2) \
    X(struct pxls2, 2) \
    X(struct pxscap2, 4) \
    X(struct pxsc2, 2) \
    X(struct pxss2, 2) \
    X(struct pxcap, 60) \
    /* pci_caps/dsn.h */ \
    X(struct dsncap, 12)

/* X(type, alignment): packed structures have 1, the rest their natural. */
#define LVU_ALIGN_CASES(X) \
    X(vfu_dma_info_t, 8) \
    X(vfu_migration_callbacks_t, 8) \
    X(struct vfio_user_header, 1) \
    X(struct vfio_user_dma_map, 1) \
    X(struct vfio_user_dma_unmap, 8) \
    X(vfio_user_sub_region_ioeventfd_t, 1) \
    X(vfio_user_region_io_fds_reply_t, 1) \
    X(LVU_SUB_REGION_T, 1) \
    X(struct vfio_user_device_feature, 1) \
    X(struct vfio_user_mig_data, 1) \
    X(vfu_pci_hdr_t, 1) \
    X(vfu_pci_config_space_t, 1) \
    X(struct cap_hdr, 1) \
    X(struct pmcap, 1) \
    X(struct msicap, 1) \
    X(struct msixcap, 4) \
    X(struct pxcap, 1) \
    X(struct dsncap, 1)

/* X(type, member, offset) */
#define LVU_OFFSET_CASES(X) \
    X(vfu_dma_info_t, iova, 0) \
    X(vfu_dma_info_t, vaddr, 16) \
    X(vfu_dma_info_t, mapping, 24) \
    X(vfu_dma_info_t, page_size, 40) \
    X(vfu_dma_info_t, prot, 48) \
    X(vfu_migration_callbacks_t, version, 0) \
    X(vfu_migration_callbacks_t, transition, 8) \
    X(vfu_migration_callbacks_t, read_data, 16) \
    X(vfu_migration_callbacks_t, write_data, 24) \
    X(struct vfio_user_header, msg_id, 0) \
    X(struct vfio_user_header, cmd, 2) \
    X(struct vfio_user_header, msg_size, 4) \
    X(struct vfio_user_header, flags, 8) \
    X(struct vfio_user_header, error_no, 12) \
    X(struct vfio_user_version, major, 0) \
    X(struct vfio_user_version, minor, 2) \
    X(struct vfio_user_version, data, 4) \
    X(struct vfio_user_device_info, argsz, 0) \
    X(struct vfio_user_device_info, flags, 4) \
    X(struct vfio_user_device_info, num_regions, 8) \
    X(struct vfio_user_device_info, num_irqs, 12) \
    X(struct vfio_user_bitmap, pgsize, 0) \
    X(struct vfio_user_bitmap, size, 8) \
    X(struct vfio_user_bitmap, data, 16) \
    X(struct vfio_user_dma_map, argsz, 0) \
    X(struct vfio_user_dma_map, flags, 4) \
    X(struct vfio_user_dma_map, offset, 8) \
    X(struct vfio_user_dma_map, addr, 16) \
    X(struct vfio_user_dma_map, size, 24) \
    X(struct vfio_user_dma_unmap, argsz, 0) \
    X(struct vfio_user_dma_unmap, flags, 4) \
    X(struct vfio_user_dma_unmap, addr, 8) \
    X(struct vfio_user_dma_unmap, size, 16) \
    X(struct vfio_user_dma_unmap, bitmap, 24) \
    X(struct vfio_user_region_access, offset, 0) \
    X(struct vfio_user_region_access, region, 8) \
    X(struct vfio_user_region_access, count, 12) \
    X(struct vfio_user_region_access, data, 16) \
    X(struct vfio_user_dma_region_access, addr, 0) \
    X(struct vfio_user_dma_region_access, count, 8) \
    X(struct vfio_user_dma_region_access, data, 16) \
    X(struct vfio_user_irq_info, subindex, 0) \
    X(vfio_user_region_io_fds_request_t, argsz, 0) \
    X(vfio_user_region_io_fds_request_t, flags, 4) \
    X(vfio_user_region_io_fds_request_t, index, 8) \
    X(vfio_user_region_io_fds_request_t, count, 12) \
    X(vfio_user_sub_region_ioeventfd_t, gpa_offset, 0) \
    X(vfio_user_sub_region_ioeventfd_t, size, 8) \
    X(vfio_user_sub_region_ioeventfd_t, fd_index, 16) \
    X(vfio_user_sub_region_ioeventfd_t, type, 20) \
    X(vfio_user_sub_region_ioeventfd_t, flags, 24) \
    X(vfio_user_sub_region_ioeventfd_t, shadow_mem_fd_index, 28) \
    X(vfio_user_sub_region_ioeventfd_t, shadow_offset, 32) \
    X(vfio_user_sub_region_ioeventfd_t, datamatch, 40) \
    X(vfio_user_sub_region_ioregionfd_t, offset, 0) \
    X(vfio_user_sub_region_ioregionfd_t, size, 8) \
    X(vfio_user_sub_region_ioregionfd_t, fd_index, 16) \
    X(vfio_user_sub_region_ioregionfd_t, type, 20) \
    X(vfio_user_sub_region_ioregionfd_t, flags, 24) \
    X(vfio_user_sub_region_ioregionfd_t, padding, 28) \
    X(vfio_user_sub_region_ioregionfd_t, user_data, 32) \
    X(vfio_user_region_io_fds_reply_t, argsz, 0) \
    X(vfio_user_region_io_fds_reply_t, flags, 4) \
    X(vfio_user_region_io_fds_reply_t, index, 8) \
    X(vfio_user_region_io_fds_reply_t, count, 12) \
    X(vfio_user_region_io_fds_reply_t, sub_regions, 16) \
    X(LVU_SUB_REGION_T, ioeventfd, 0) \
    X(LVU_SUB_REGION_T, ioregionfd, 0) \
    X(struct vfio_user_device_feature_dma_logging_range, iova, 0) \
    X(struct vfio_user_device_feature_dma_logging_range, length, 8) \
    X(struct vfio_user_device_feature_dma_logging_control, page_size, 0) \
    X(struct vfio_user_device_feature_dma_logging_control, num_ranges, 8) \
    X(struct vfio_user_device_feature_dma_logging_control, reserved, 12) \
    X(struct vfio_user_device_feature_dma_logging_control, ranges, 16) \
    X(struct vfio_user_device_feature_dma_logging_report, iova, 0) \
    X(struct vfio_user_device_feature_dma_logging_report, length, 8) \
    X(struct vfio_user_device_feature_dma_logging_report, page_size, 16) \
    X(struct vfio_user_device_feature_dma_logging_report, bitmap, 24) \
    X(struct vfio_user_device_feature, argsz, 0) \
    X(struct vfio_user_device_feature, flags, 4) \
    X(struct vfio_user_device_feature, data, 8) \
    X(struct vfio_user_device_feature_migration, flags, 0) \
    X(struct vfio_user_device_feature_mig_state, device_state, 0) \
    X(struct vfio_user_device_feature_mig_state, data_fd, 4) \
    X(struct vfio_user_mig_data, argsz, 0) \
    X(struct vfio_user_mig_data, size, 4) \
    X(struct vfio_user_mig_data, data, 8) \
    X(vfu_pci_hdr_ss_t, raw, 0) \
    X(vfu_pci_hdr_ss_t, vid, 0) \
    X(vfu_pci_hdr_ss_t, sid, 2) \
    X(vfu_pci_hdr_cc_t, pi, 0) \
    X(vfu_pci_hdr_cc_t, scc, 1) \
    X(vfu_pci_hdr_cc_t, bcc, 2) \
    X(vfu_pci_hdr_id_t, vid, 0) \
    X(vfu_pci_hdr_id_t, did, 2) \
    X(vfu_pci_hdr_intr_t, iline, 0) \
    X(vfu_pci_hdr_intr_t, ipin, 1) \
    X(vfu_bar_t, raw, 0) \
    X(vfu_bar_t, mem, 0) \
    X(vfu_bar_t, io, 0) \
    X(vfu_pci_hdr_t, raw, 0) \
    X(vfu_pci_hdr_t, id, 0) \
    X(vfu_pci_hdr_t, cmd, 4) \
    X(vfu_pci_hdr_t, sts, 6) \
    X(vfu_pci_hdr_t, rid, 8) \
    X(vfu_pci_hdr_t, cc, 9) \
    X(vfu_pci_hdr_t, cls, 12) \
    X(vfu_pci_hdr_t, mlt, 13) \
    X(vfu_pci_hdr_t, htype, 14) \
    X(vfu_pci_hdr_t, bist, 15) \
    X(vfu_pci_hdr_t, bars, 16) \
    X(vfu_pci_hdr_t, ccptr, 40) \
    X(vfu_pci_hdr_t, ss, 44) \
    X(vfu_pci_hdr_t, erom, 48) \
    X(vfu_pci_hdr_t, cap, 52) \
    X(vfu_pci_hdr_t, res1, 53) \
    X(vfu_pci_hdr_t, intr, 60) \
    X(vfu_pci_hdr_t, mgnt, 62) \
    X(vfu_pci_hdr_t, mlat, 63) \
    X(vfu_pci_config_space_t, raw, 0) \
    X(vfu_pci_config_space_t, hdr, 0) \
    X(vfu_pci_config_space_t, extended, 256) \
    X(struct cap_hdr, id, 0) \
    X(struct cap_hdr, next, 1) \
    X(struct vsc, hdr, 0) \
    X(struct vsc, size, 2) \
    X(struct vsc, data, 3) \
    X(struct pcie_ext_cap_vsc_hdr, hdr, 0) \
    X(struct pcie_ext_cap_vsc_hdr, data, 8) \
    X(struct pmcs, raw, 0) \
    X(struct pmcap, hdr, 0) \
    X(struct pmcap, pc, 2) \
    X(struct pmcap, pmcs, 4) \
    X(struct pmcap, pmcsr_bse, 6) \
    X(struct pmcap, data, 7) \
    X(struct msicap, hdr, 0) \
    X(struct msicap, mc, 2) \
    X(struct msicap, ma, 4) \
    X(struct msicap, mua, 8) \
    X(struct msicap, md, 12) \
    X(struct msicap, padding, 14) \
    X(struct msicap, mmask, 16) \
    X(struct msicap, mpend, 20) \
    X(struct msixcap, hdr, 0) \
    X(struct msixcap, mxc, 2) \
    X(struct msixcap, mtab, 4) \
    X(struct msixcap, mpba, 8) \
    X(union pxdc, raw, 0) \
    X(union pxlc, raw, 0) \
    X(union pxdc2, raw, 0) \
    X(struct pxcap, hdr, 0) \
    X(struct pxcap, pxcaps, 2) \
    X(struct pxcap, pxdcap, 4) \
    X(struct pxcap, pxdc, 8) \
    X(struct pxcap, pxds, 10) \
    X(struct pxcap, pxlcap, 12) \
    X(struct pxcap, pxlc, 16) \
    X(struct pxcap, pxls, 18) \
    X(struct pxcap, pxscap, 20) \
    X(struct pxcap, pxsc, 24) \
    X(struct pxcap, pxss, 26) \
    X(struct pxcap, pxrc, 28) \
    X(struct pxcap, pxrcap, 30) \
    X(struct pxcap, pxrs, 32) \
    X(struct pxcap, pxdcap2, 36) \
    X(struct pxcap, pxdc2, 40) \
    X(struct pxcap, pxds2, 42) \
    X(struct pxcap, pxlcap2, 44) \
    X(struct pxcap, pxlc2, 48) \
    X(struct pxcap, pxls2, 50) \
    X(struct pxcap, pxscap2, 52) \
    X(struct pxcap, pxsc2, 56) \
    X(struct pxcap, pxss2, 58) \
    X(struct dsncap, hdr, 0) \
    X(struct dsncap, sn_lo, 4) \
    X(struct dsncap, sn_hi, 8)

/* X(name, value): every enum constant and every macro with a value. */
#define LVU_CONST_CASES(X) \
    /* libvfio-user.h */ \
    X(LIB_VFIO_USER_MAJOR, 0) \
    X(LIB_VFIO_USER_MINOR, 2) \
    X(LIBVFIO_USER_FLAG_ATTACH_NB, 1) \
    X(VFU_TRANS_SOCK, 0) \
    X(VFU_TRANS_PIPE, 1) \
    X(VFU_TRANS_MAX, 2) \
    X(VFU_DEV_TYPE_PCI, 0) \
    X(VFU_REGION_FLAG_READ, 1) \
    X(VFU_REGION_FLAG_WRITE, 2) \
    X(VFU_REGION_FLAG_RW, 3) \
    X(VFU_REGION_FLAG_MEM, 4) \
    X(VFU_REGION_FLAG_ALWAYS_CB, 8) \
    X(VFU_REGION_FLAG_64_BITS, 16) \
    X(VFU_REGION_FLAG_PREFETCH, 32) \
    X(VFU_REGION_FLAG_MASK, 63) \
    X(VFU_RESET_DEVICE, 0) \
    X(VFU_RESET_LOST_CONN, 1) \
    X(VFU_RESET_PCI_FLR, 2) \
    X(VFU_DEV_INTX_IRQ, 0) \
    X(VFU_DEV_MSI_IRQ, 1) \
    X(VFU_DEV_MSIX_IRQ, 2) \
    X(VFU_DEV_ERR_IRQ, 3) \
    X(VFU_DEV_REQ_IRQ, 4) \
    X(VFU_DEV_NUM_IRQS, 5) \
    X(VFU_MIGR_STATE_STOP, 0) \
    X(VFU_MIGR_STATE_RUNNING, 1) \
    X(VFU_MIGR_STATE_STOP_AND_COPY, 2) \
    X(VFU_MIGR_STATE_PRE_COPY, 3) \
    X(VFU_MIGR_STATE_RESUME, 4) \
    X(VFU_MIGR_CALLBACKS_VERS, 2) \
    X(VFU_SGL_DIRECT_ACCESS, 1) \
    X(VFU_PCI_DEV_BAR0_REGION_IDX, 0) \
    X(VFU_PCI_DEV_BAR1_REGION_IDX, 1) \
    X(VFU_PCI_DEV_BAR2_REGION_IDX, 2) \
    X(VFU_PCI_DEV_BAR3_REGION_IDX, 3) \
    X(VFU_PCI_DEV_BAR4_REGION_IDX, 4) \
    X(VFU_PCI_DEV_BAR5_REGION_IDX, 5) \
    X(VFU_PCI_DEV_ROM_REGION_IDX, 6) \
    X(VFU_PCI_DEV_CFG_REGION_IDX, 7) \
    X(VFU_PCI_DEV_VGA_REGION_IDX, 8) \
    X(VFU_PCI_DEV_NUM_REGIONS, 9) \
    X(VFU_PCI_TYPE_CONVENTIONAL, 0) \
    X(VFU_PCI_TYPE_PCI_X_1, 1) \
    X(VFU_PCI_TYPE_PCI_X_2, 2) \
    X(VFU_PCI_TYPE_EXPRESS, 3) \
    X(VFU_GENERIC_DEV_MIGR_REGION_IDX, 0) \
    X(VFU_GENERIC_DEV_NUM_REGIONS, 1) \
    X(VFU_CAP_FLAG_EXTENDED, 1) \
    X(VFU_CAP_FLAG_CALLBACK, 2) \
    X(VFU_CAP_FLAG_READONLY, 4) \
    /* vfio-user.h */ \
    X(VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE, 1048576) \
    X(VFIO_USER_VERSION, 1) \
    X(VFIO_USER_DMA_MAP, 2) \
    X(VFIO_USER_DMA_UNMAP, 3) \
    X(VFIO_USER_DEVICE_GET_INFO, 4) \
    X(VFIO_USER_DEVICE_GET_REGION_INFO, 5) \
    X(VFIO_USER_DEVICE_GET_REGION_IO_FDS, 6) \
    X(VFIO_USER_DEVICE_GET_IRQ_INFO, 7) \
    X(VFIO_USER_DEVICE_SET_IRQS, 8) \
    X(VFIO_USER_REGION_READ, 9) \
    X(VFIO_USER_REGION_WRITE, 10) \
    X(VFIO_USER_DMA_READ, 11) \
    X(VFIO_USER_DMA_WRITE, 12) \
    X(VFIO_USER_DEVICE_RESET, 13) \
    X(VFIO_USER_REGION_WRITE_MULTI, 15) \
    X(VFIO_USER_DEVICE_FEATURE, 16) \
    X(VFIO_USER_MIG_DATA_READ, 17) \
    X(VFIO_USER_MIG_DATA_WRITE, 18) \
    X(VFIO_USER_MAX, 19) \
    X(VFIO_USER_MESSAGE_COMMAND, 0) \
    X(VFIO_USER_MESSAGE_REPLY, 1) \
    X(VFIO_USER_FLAGS_NO_REPLY, 1) \
    X(VFIO_USER_F_TYPE_MASK, 15) \
    X(VFIO_USER_F_TYPE_COMMAND, 0) \
    X(VFIO_USER_F_TYPE_REPLY, 1) \
    X(VFIO_USER_F_NO_REPLY, 16) \
    X(VFIO_USER_F_ERROR, 32) \
    X(VFIO_USER_F_DMA_REGION_READ, 1) \
    X(VFIO_USER_F_DMA_REGION_WRITE, 2) \
    X(VFIO_USER_F_DMA_REGION_MMAP, 4) \
    X(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 1) \
    X(VFIO_DMA_UNMAP_FLAG_ALL, 2) \
    X(VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0) \
    X(VFIO_USER_IO_FD_TYPE_IOREGIONFD, 1) \
    X(VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW, 2) \
    X(VFIO_DEVICE_FEATURE_DMA_LOGGING_START, 6) \
    X(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, 7) \
    X(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, 8) \
    X(VFIO_DEVICE_FEATURE_MASK, 0xffff) \
    X(VFIO_DEVICE_FEATURE_GET, 0x10000) \
    X(VFIO_DEVICE_FEATURE_SET, 0x20000) \
    X(VFIO_DEVICE_FEATURE_PROBE, 0x40000) \
    X(VFIO_MIGRATION_STOP_COPY, 1) \
    X(VFIO_MIGRATION_P2P, 2) \
    X(VFIO_MIGRATION_PRE_COPY, 4) \
    X(VFIO_DEVICE_FEATURE_MIGRATION, 1) \
    X(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 2) \
    X(VFIO_USER_DEVICE_STATE_ERROR, 0) \
    X(VFIO_USER_DEVICE_STATE_STOP, 1) \
    X(VFIO_USER_DEVICE_STATE_RUNNING, 2) \
    X(VFIO_USER_DEVICE_STATE_STOP_COPY, 3) \
    X(VFIO_USER_DEVICE_STATE_RESUMING, 4) \
    X(VFIO_USER_DEVICE_STATE_RUNNING_P2P, 5) \
    X(VFIO_USER_DEVICE_STATE_PRE_COPY, 6) \
    X(VFIO_USER_DEVICE_STATE_PRE_COPY_P2P, 7) \
    X(VFIO_USER_DEVICE_NUM_STATES, 8) \
    /* pci_defs.h, pci_caps/ */ \
    X(PCI_BARS_NR, 6) \
    X(VFIO_USER_PCI_CAP_EXP_SIZEOF, 0x3c)

/*
 * X(function, return type, (parameter types)): every public function, in
 * the order of libvfio-user.h.  34 of them: 33 vfu_* and dma_sg_size().
 */
#define LVU_FUNC_COUNT 34
#define LVU_FUNC_CASES(X) \
    X(dma_sg_size, size_t, (void)) \
    X(vfu_create_ctx, vfu_ctx_t *, \
      (vfu_trans_t, const char *, int, void *, vfu_dev_type_t)) \
    X(vfu_realize_ctx, int, (vfu_ctx_t *)) \
    X(vfu_attach_ctx, int, (vfu_ctx_t *)) \
    X(vfu_get_poll_fd, int, (vfu_ctx_t *)) \
    X(vfu_run_ctx, int, (vfu_ctx_t *)) \
    X(vfu_destroy_ctx, void, (vfu_ctx_t *)) \
    X(vfu_get_private, void *, (vfu_ctx_t *)) \
    X(vfu_log, void, (vfu_ctx_t *, int, const char *, ...)) \
    X(vfu_setup_log, int, (vfu_ctx_t *, vfu_log_fn_t *, int)) \
    X(vfu_setup_region, int, \
      (vfu_ctx_t *, int, size_t, vfu_region_access_cb_t *, int, \
       struct iovec *, uint32_t, int, uint64_t)) \
    X(vfu_setup_device_quiesce_cb, void, \
      (vfu_ctx_t *, vfu_device_quiesce_cb_t *)) \
    X(vfu_device_quiesced, int, (vfu_ctx_t *, int)) \
    X(vfu_setup_device_reset_cb, int, (vfu_ctx_t *, vfu_reset_cb_t *)) \
    X(vfu_setup_device_dma, int, \
      (vfu_ctx_t *, vfu_dma_register_cb_t *, vfu_dma_unregister_cb_t *)) \
    X(vfu_setup_device_nr_irqs, int, \
      (vfu_ctx_t *, enum vfu_dev_irq_type, uint32_t)) \
    X(vfu_setup_irq_state_callback, int, \
      (vfu_ctx_t *, enum vfu_dev_irq_type, vfu_dev_irq_state_cb_t *)) \
    X(vfu_setup_device_migration_callbacks, int, \
      (vfu_ctx_t *, const vfu_migration_callbacks_t *)) \
    X(vfu_irq_trigger, int, (vfu_ctx_t *, uint32_t)) \
    X(vfu_addr_to_sgl, int, \
      (vfu_ctx_t *, vfu_dma_addr_t, size_t, dma_sg_t *, size_t, int)) \
    X(vfu_sgl_get, int, \
      (vfu_ctx_t *, dma_sg_t *, struct iovec *, size_t, int)) \
    X(vfu_sgl_mark_dirty, void, (vfu_ctx_t *, dma_sg_t *, size_t)) \
    X(vfu_sgl_put, void, \
      (vfu_ctx_t *, dma_sg_t *, struct iovec *, size_t)) \
    X(vfu_sgl_read, int, (vfu_ctx_t *, dma_sg_t *, size_t, void *, int)) \
    X(vfu_sgl_write, int, (vfu_ctx_t *, dma_sg_t *, size_t, void *, int)) \
    X(vfu_pci_init, int, (vfu_ctx_t *, vfu_pci_type_t, int, int)) \
    X(vfu_pci_set_id, void, \
      (vfu_ctx_t *, uint16_t, uint16_t, uint16_t, uint16_t)) \
    X(vfu_pci_set_class, void, (vfu_ctx_t *, uint8_t, uint8_t, uint8_t)) \
    X(vfu_pci_get_config_space, vfu_pci_config_space_t *, (vfu_ctx_t *)) \
    X(vfu_pci_add_capability, ssize_t, (vfu_ctx_t *, size_t, int, void *)) \
    X(vfu_pci_find_capability, size_t, (vfu_ctx_t *, bool, int)) \
    X(vfu_pci_find_next_capability, size_t, \
      (vfu_ctx_t *, bool, size_t, int)) \
    X(vfu_sg_is_mappable, bool, (vfu_ctx_t *, dma_sg_t *)) \
    X(vfu_create_ioeventfd, int, \
      (vfu_ctx_t *, uint32_t, int, size_t, uint32_t, uint32_t, uint64_t, \
       int, size_t))

/* X(callback typedef, return type, (parameter types)) */
#define LVU_CBTYPE_CASES(X) \
    X(vfu_log_fn_t, void, (vfu_ctx_t *, int, const char *)) \
    X(vfu_region_access_cb_t, ssize_t, \
      (vfu_ctx_t *, char *, size_t, loff_t, bool)) \
    X(vfu_device_quiesce_cb_t, int, (vfu_ctx_t *)) \
    X(vfu_reset_cb_t, int, (vfu_ctx_t *, vfu_reset_type_t)) \
    X(vfu_dma_register_cb_t, void, (vfu_ctx_t *, vfu_dma_info_t *)) \
    X(vfu_dma_unregister_cb_t, void, (vfu_ctx_t *, vfu_dma_info_t *)) \
    X(vfu_dev_irq_state_cb_t, void, (vfu_ctx_t *, uint32_t, uint32_t, bool))

/* X(struct type, function pointer member, return type, (parameter types)) */
#define LVU_MEMBER_FN_CASES(X) \
    X(vfu_migration_callbacks_t, transition, int, \
      (vfu_ctx_t *, vfu_migr_state_t)) \
    X(vfu_migration_callbacks_t, read_data, ssize_t, \
      (vfu_ctx_t *, void *, uint64_t)) \
    X(vfu_migration_callbacks_t, write_data, ssize_t, \
      (vfu_ctx_t *, void *, uint64_t))

#endif /* UVFIO_TESTS_COMPAT_ABI_CASES_H */
