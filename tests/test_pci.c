/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the PCI configuration space emulation: header, BAR sizing,
 * capability lists, MSI and MSI-X state, the MSI-X table and PBA, reset.
 *
 * Every expected value is written out from the PCI / PCIe specifications,
 * not computed with the code under test, so a wrong offset or mask in the
 * emulation shows up as a mismatch here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci.h"

static struct pcicfg dev;

static int teardown(void **state)
{
	(void)state;
	pcicfg_fini(&dev);
	return 0;
}

/* ---- helpers: config accesses as a guest makes them, little-endian ------- */

static uint8_t rd8(uint32_t off)
{
	uint8_t b;

	pcicfg_cfg_read(&dev, off, &b, 1);
	return b;
}

static uint16_t rd16(uint32_t off)
{
	uint8_t b[2];

	pcicfg_cfg_read(&dev, off, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t rd32(uint32_t off)
{
	uint8_t b[4];

	pcicfg_cfg_read(&dev, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static unsigned wr8(uint32_t off, uint8_t v)
{
	return pcicfg_cfg_write(&dev, off, &v, 1);
}

static unsigned wr16(uint32_t off, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return pcicfg_cfg_write(&dev, off, b, 2);
}

static unsigned wr32(uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	return pcicfg_cfg_write(&dev, off, b, 4);
}

static const struct uvfio_pci_ids ids = {
	.vendor = 0x1af4,
	.device = 0x10f3,
	.subsys_vendor = 0x1b36,
	.subsys = 0x0042,
	.class_code = 0x010802, /* NVMe: mass storage, NVM, NVMe */
	.revision = 0x07,
	.irq_pin = 1,
};

/* The device most tests use: PCIe, BAR0 16 KiB 32-bit memory holding the
 * MSI-X table (0x2000) and PBA (0x3000), BAR2 64-bit prefetchable 8 GiB,
 * BAR4 I/O 256 bytes, a 64 KiB ROM, and every typed capability. */
enum {
	PM_OFF = 0x40,    /* 8 bytes */
	MSI_OFF = 0x48,   /* 24 bytes, 64-bit, maskable */
	MSIX_OFF = 0x60,  /* 12 bytes */
	PCIE_OFF = 0x6c,  /* 0x3c bytes */
	VNDR_OFF = 0xa8,
	TABLE_OFF = 0x2000,
	PBA_OFF = 0x3000,
	NVEC = 100,
};

static const uint8_t vndr_data[5] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };

static void make_full_device(void)
{
	assert_int_equal(pcicfg_init(&dev, true), 0);
	pcicfg_set_ids(&dev, &ids);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 0x4000, 0), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 2, 1ull << 33,
					   PCICFG_BAR_MEM64 |
						   PCICFG_BAR_PREFETCH),
			 0);
	assert_int_equal(pcicfg_set_bar(&dev, 4, 256, PCICFG_BAR_IO), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 6, 0x10000, 0), 0);
	assert_int_equal(pcicfg_add_pm(&dev), PM_OFF);
	assert_int_equal(pcicfg_add_msi(&dev, 8, true), MSI_OFF);
	assert_int_equal(pcicfg_add_msix(&dev, NVEC, 0, TABLE_OFF, 0,
					    PBA_OFF),
			 MSIX_OFF);
	assert_int_equal(pcicfg_add_pcie(&dev, 0), PCIE_OFF);
	assert_int_equal(pcicfg_add_vendor(&dev, vndr_data,
					      sizeof(vndr_data)),
			 VNDR_OFF);
	assert_int_equal(pcicfg_add_dsn(&dev, 0x0123456789abcdefull),
			 0x100);
}

/* MSI-X table/PBA accesses through BAR `bar` */
static int mx_write(unsigned bar, uint64_t off, uint64_t v, uint32_t len,
		    int *unmasked)
{
	uint8_t b[8];
	int err = 12345;

	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_true(pcicfg_msix_access(&dev, bar, off, b, len, true, &err,
					  unmasked));
	return err;
}

static uint64_t mx_read(uint64_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;
	int err = 12345, um = 12345;

	assert_true(pcicfg_msix_access(&dev, 0, off, b, len, false, &err,
					  &um));
	assert_int_equal(err, 0);
	assert_int_equal(um, -1);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* ---- header -------------------------------------------------------------- */

static void test_header_ids(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(dev.size, 256);
	pcicfg_set_ids(&dev, &ids);

	assert_int_equal(rd16(0x00), 0x1af4);
	assert_int_equal(rd16(0x02), 0x10f3);
	assert_int_equal(rd32(0x00), 0x10f31af4);
	assert_int_equal(rd8(0x08), 0x07);
	assert_int_equal(rd8(0x09), 0x02); /* prog-if */
	assert_int_equal(rd8(0x0a), 0x08); /* sub class */
	assert_int_equal(rd8(0x0b), 0x01); /* base class */
	assert_int_equal(rd32(0x08), 0x01080207);
	assert_int_equal(rd8(0x0e), 0x00); /* header type 0, single function */
	assert_int_equal(rd16(0x2c), 0x1b36);
	assert_int_equal(rd16(0x2e), 0x0042);
	assert_int_equal(rd8(0x3d), 1);
	assert_int_equal(rd8(0x3c), 0);
	/* no capabilities yet: status bit 4 clear, pointer 0 */
	assert_int_equal(rd16(0x06), 0);
	assert_int_equal(rd8(0x34), 0);
	assert_int_equal(rd16(0x04), 0);
	for (uint32_t o = 0x10; o < 0x28; o += 4)
		assert_int_equal(rd32(o), 0);
	assert_int_equal(rd32(0x30), 0);

	/* a pin that does not exist is not advertised */
	struct uvfio_pci_ids bad = ids;
	bad.irq_pin = 5;
	pcicfg_set_ids(&dev, &bad);
	assert_int_equal(rd8(0x3d), 0);
}

static void test_readonly(void **state)
{
	uint8_t ones[256];

	(void)state;
	make_full_device();
	uint8_t before[256];
	pcicfg_cfg_read(&dev, 0, before, 256);

	/* identity, header type, cap pointer, interrupt pin */
	assert_int_equal(wr32(0x00, 0xffffffff), 0);
	assert_int_equal(wr32(0x08, 0xffffffff), 0);
	assert_int_equal(wr8(0x0e, 0xff), 0);
	assert_int_equal(wr32(0x2c, 0xffffffff), 0);
	assert_int_equal(wr8(0x34, 0x80), 0);
	assert_int_equal(wr8(0x3d, 4), 0);
	assert_int_equal(rd32(0x00), 0x10f31af4);
	assert_int_equal(rd32(0x08), 0x01080207);
	assert_int_equal(rd8(0x0e), 0);
	assert_int_equal(rd32(0x2c), 0x00421b36);
	assert_int_equal(rd8(0x34), PM_OFF);
	assert_int_equal(rd8(0x3d), 1);

	/* capability headers and read-only capability registers */
	assert_int_equal(wr16(PM_OFF, 0xffff), 0);
	assert_int_equal(rd16(PM_OFF), 0x4801);
	assert_int_equal(wr32(PCIE_OFF + 4, 0xffffffff), 0);
	assert_int_equal(rd32(PCIE_OFF + 4),
			 (uint32_t)before[PCIE_OFF + 4] |
				 (uint32_t)before[PCIE_OFF + 5] << 8 |
				 (uint32_t)before[PCIE_OFF + 6] << 16 |
				 (uint32_t)before[PCIE_OFF + 7] << 24);

	/* bytes after the last capability read 0 and ignore writes */
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(pcicfg_cfg_write(&dev, 0xb0, ones, 0x50), 0);
	for (uint32_t o = 0xb0; o < 0x100; o++)
		assert_int_equal(rd8(o), 0);
	assert_int_equal(pcicfg_cfg_write(&dev, 0x200, ones, 0x100), 0);
	for (uint32_t o = 0x200; o < 0x300; o++)
		assert_int_equal(rd8(o), 0);

	/* nothing but the writable fields moved */
	uint8_t after[256];
	pcicfg_cfg_read(&dev, 0, after, 256);
	assert_memory_equal(before, after, 256);
}

static void test_command(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_false(pcicfg_bus_master(&dev));
	assert_false(pcicfg_intx_disabled(&dev));

	/* I/O, memory, master, parity, SERR, INTx disable: 0x0547 */
	assert_int_equal(wr16(0x04, 0xffff), PCICFG_EV_COMMAND);
	assert_int_equal(rd16(0x04), 0x0547);
	assert_true(pcicfg_bus_master(&dev));
	assert_true(pcicfg_intx_disabled(&dev));

	assert_int_equal(wr16(0x04, 0x0004), PCICFG_EV_COMMAND);
	assert_int_equal(rd16(0x04), 0x0004);
	assert_true(pcicfg_bus_master(&dev));
	assert_false(pcicfg_intx_disabled(&dev));

	/* reserved / hardwired bits: special cycles, MWI, VGA snoop,
	 * stepping, fast back-to-back, 11..15 */
	assert_int_equal(wr16(0x04, 0xfab8), PCICFG_EV_COMMAND);
	assert_int_equal(rd16(0x04), 0x0000);

	/* byte write to the high half only */
	assert_int_equal(wr8(0x05, 0x04), PCICFG_EV_COMMAND);
	assert_int_equal(rd16(0x04), 0x0400);
	assert_true(pcicfg_intx_disabled(&dev));
	assert_false(pcicfg_bus_master(&dev));

	/* unaligned write straddling vendor/device into command */
	uint8_t b[3] = { 0xff, 0x06, 0x00 };
	assert_int_equal(pcicfg_cfg_write(&dev, 0x03, b, 3),
			 PCICFG_EV_COMMAND);
	assert_int_equal(rd16(0x04), 0x0006);
	assert_int_equal(rd8(0x03), 0);

	/* cache line size, latency timer, interrupt line are plain RW */
	assert_int_equal(wr16(0x0c, 0x4010), 0);
	assert_int_equal(rd16(0x0c), 0x4010);
	assert_int_equal(wr8(0x3c, 0x0b), 0);
	assert_int_equal(rd8(0x3c), 0x0b);
}

static void test_status_rw1c(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_true(pcicfg_add_pm(&dev) > 0);
	assert_int_equal(rd16(0x06), 0x0010);

	/* the device reports every error bit plus DEVSEL medium (bit 9) */
	dev.cfg[0x07] = 0xfb;
	assert_int_equal(rd16(0x06), 0xfb10);

	/* writing zeros changes nothing, writing ones cannot set bits */
	assert_int_equal(wr16(0x06, 0x0000), 0);
	assert_int_equal(rd16(0x06), 0xfb10);
	dev.cfg[0x07] = 0x02;
	assert_int_equal(wr16(0x06, 0xffff), 0);
	assert_int_equal(rd16(0x06), 0x0210);

	/* each RW1C bit clears alone */
	dev.cfg[0x07] = 0xfb;
	assert_int_equal(wr16(0x06, 0x0100), 0);
	assert_int_equal(rd16(0x06), 0xfa10);
	assert_int_equal(wr8(0x07, 0x80), 0);
	assert_int_equal(rd16(0x06), 0x7a10);
	assert_int_equal(wr8(0x07, 0x78), 0);
	assert_int_equal(rd16(0x06), 0x0210);
	/* cap list and DEVSEL are read-only */
	assert_int_equal(wr16(0x06, 0x0610), 0);
	assert_int_equal(rd16(0x06), 0x0210);
}

/* ---- BARs ---------------------------------------------------------------- */

static void test_bar_mem32(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096, 0), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 1, 16, PCICFG_BAR_PREFETCH),
			 0);
	assert_int_equal(rd32(0x10), 0x00000000);
	assert_int_equal(rd32(0x14), 0x00000008);

	assert_int_equal(wr32(0x10, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x10), 0xfffff000);
	assert_int_equal(wr32(0x10, 0xfebf1234), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x10), 0xfebf1000);

	assert_int_equal(wr32(0x14, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x14), 0xfffffff8);

	/* sub-dword write of the upper half only */
	assert_int_equal(wr16(0x12, 0xc000), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x10), 0xc0001000);

	/* 2 GiB is the largest 32-bit BAR */
	assert_int_equal(pcicfg_set_bar(&dev, 3, 1ull << 31, 0), 0);
	assert_int_equal(wr32(0x1c, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x1c), 0x80000000);
	assert_int_equal(dev.bar_size[3], 1ull << 31);
}

static void test_bar_mem64(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	/* 8 GiB: no address bit in the low dword */
	assert_int_equal(pcicfg_set_bar(&dev, 2, 1ull << 33,
					   PCICFG_BAR_MEM64 |
						   PCICFG_BAR_PREFETCH),
			 0);
	assert_int_equal(rd32(0x18), 0x0000000c);
	assert_int_equal(rd32(0x1c), 0);
	assert_int_equal(wr32(0x18, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(wr32(0x1c, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x18), 0x0000000c);
	assert_int_equal(rd32(0x1c), 0xfffffffe);
	/* program an address with one 8-byte write */
	uint8_t b[8] = { 0, 0, 0, 0, 0x04, 0, 0, 0 };
	assert_int_equal(pcicfg_cfg_write(&dev, 0x18, b, 8),
			 PCICFG_EV_BAR);
	assert_int_equal(rd32(0x18), 0x0000000c);
	assert_int_equal(rd32(0x1c), 0x00000004);

	/* 1 MiB 64-bit non-prefetchable at BAR0 */
	assert_int_equal(pcicfg_set_bar(&dev, 0, 1u << 20,
					   PCICFG_BAR_MEM64),
			 0);
	assert_int_equal(rd32(0x10), 0x00000004);
	wr32(0x10, 0xffffffff);
	wr32(0x14, 0xffffffff);
	assert_int_equal(rd32(0x10), 0xfff00004);
	assert_int_equal(rd32(0x14), 0xffffffff);

	/* the high dwords are not BARs of their own */
	assert_int_equal(pcicfg_set_bar(&dev, 1, 4096, 0), -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 3, 0, 0), -EINVAL);
	/* 64-bit at BAR5 has no room; BAR1 would swallow BAR2 */
	assert_int_equal(pcicfg_set_bar(&dev, 5, 4096, PCICFG_BAR_MEM64),
			 -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 4, 4096, 0), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 4, 0, 0), 0);

	/* turning BAR0 into a 32-bit BAR frees BAR1 */
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096, 0), 0);
	assert_int_equal(rd32(0x14), 0);
	assert_int_equal(wr32(0x14, 0xffffffff), 0);
	assert_int_equal(rd32(0x14), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 1, 4096, 0), 0);
}

static void test_bar_io(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 4, 256, PCICFG_BAR_IO), 0);
	assert_int_equal(rd32(0x20), 0x00000001);
	assert_int_equal(wr32(0x20, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x20), 0xffffff01);
	assert_int_equal(wr32(0x20, 0x0000c0fe), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x20), 0x0000c001);

	assert_int_equal(pcicfg_set_bar(&dev, 5, 4, PCICFG_BAR_IO), 0);
	wr32(0x24, 0xffffffff);
	assert_int_equal(rd32(0x24), 0xfffffffd);
}

static void test_bar_rom(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 6, 0x10000, 0), 0);
	assert_int_equal(rd32(0x30), 0);
	/* Linux sizes with the enable bit clear */
	assert_int_equal(wr32(0x30, 0xfffffffe), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x30), 0xffff0000);
	assert_int_equal(wr32(0x30, 0xffffffff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x30), 0xffff0001);
	assert_int_equal(wr32(0x30, 0xfeb2f7ff), PCICFG_EV_BAR);
	assert_int_equal(rd32(0x30), 0xfeb20001);

	/* the ROM decodes at least 2 KiB, whatever it holds */
	assert_int_equal(pcicfg_set_bar(&dev, 6, 512, 0), 0);
	wr32(0x30, 0xfffffffe);
	assert_int_equal(rd32(0x30), 0xfffff800);

	assert_int_equal(pcicfg_set_bar(&dev, 6, 4096, PCICFG_BAR_IO),
			 -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 6, 4096,
					   PCICFG_BAR_PREFETCH),
			 -EINVAL);
}

static void test_bar_invalid(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 7, 4096, 0), -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 3000, 0), -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 8, 0), -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 2, PCICFG_BAR_IO),
			 -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 1ull << 32, 0), -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096,
					   PCICFG_BAR_IO |
						   PCICFG_BAR_MEM64),
			 -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096,
					   PCICFG_BAR_IO |
						   PCICFG_BAR_PREFETCH),
			 -EINVAL);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096, 1u << 7), -EINVAL);
	for (uint32_t o = 0x10; o < 0x28; o += 4)
		assert_int_equal(rd32(o), 0);
}

static void test_bar_unimplemented(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096, 0), 0);
	for (uint32_t o = 0x14; o < 0x28; o += 4) {
		assert_int_equal(wr32(o, 0xffffffff), 0);
		assert_int_equal(rd32(o), 0);
	}
	assert_int_equal(wr32(0x30, 0xffffffff), 0);
	assert_int_equal(rd32(0x30), 0);
	assert_int_equal(dev.bar_size[1], 0);
}

/* ---- capability lists ---------------------------------------------------- */

static void test_cap_chain(void **state)
{
	static const uint8_t want_id[] = { 0x01, 0x05, 0x11, 0x10, 0x09 };
	static const uint8_t want_off[] = { PM_OFF, MSI_OFF, MSIX_OFF,
					    PCIE_OFF, VNDR_OFF };
	unsigned n = 0;

	(void)state;
	make_full_device();
	assert_int_equal(rd16(0x06) & 0x10, 0x10);

	for (uint8_t at = rd8(0x34); at; at = rd8(at + 1u)) {
		assert_true(n < 5);
		assert_int_equal(at, want_off[n]);
		assert_int_equal(at & 3, 0);
		assert_int_equal(rd8(at), want_id[n]);
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(rd8(VNDR_OFF + 1), 0);
	assert_int_equal(dev.pm_off, PM_OFF);
	assert_int_equal(dev.msi_off, MSI_OFF);
	assert_int_equal(dev.msix_off, MSIX_OFF);
	assert_int_equal(dev.pcie_off, PCIE_OFF);

	/* PM: version 3 (PM 1.2), D0, No_Soft_Reset */
	assert_int_equal(rd16(PM_OFF + 2), 0x0003);
	assert_int_equal(rd16(PM_OFF + 4), 0x0008);
	/* MSI: 8 vectors capable (MMC 3), 64-bit, per-vector mask */
	assert_int_equal(rd16(MSI_OFF + 2), 0x0186);
	/* MSI-X: table size 99, table BIR 0 at 0x2000, PBA at 0x3000 */
	assert_int_equal(rd16(MSIX_OFF + 2), NVEC - 1);
	assert_int_equal(rd32(MSIX_OFF + 4), 0x00002000);
	assert_int_equal(rd32(MSIX_OFF + 8), 0x00003000);
	/* PCIe: version 2, endpoint */
	assert_int_equal(rd16(PCIE_OFF + 2), 0x0002);
	/* vendor: length covers id, next, length and the data */
	assert_int_equal(rd8(VNDR_OFF + 2), 3 + sizeof(vndr_data));
	for (unsigned i = 0; i < sizeof(vndr_data); i++)
		assert_int_equal(rd8(VNDR_OFF + 3 + i), vndr_data[i]);
	assert_int_equal(rd8(VNDR_OFF + 3 + sizeof(vndr_data)), 0);

	/* one of each typed capability */
	assert_int_equal(pcicfg_add_pm(&dev), -EEXIST);
	assert_int_equal(pcicfg_add_msi(&dev, 1, false), -EEXIST);
	assert_int_equal(pcicfg_add_msix(&dev, 1, 1, 0, 1, 0x800), -EEXIST);
	assert_int_equal(pcicfg_add_pcie(&dev, 0), -EEXIST);
}

static void test_generic_cap(void **state)
{
	static const uint8_t body[6] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };
	static const uint8_t wm[6] = { 0x00, 0xff, 0x0f, 0x00, 0x00, 0x80 };

	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, body, 6, wm), 0x40);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0c, NULL, 0, NULL), 0x48);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0d, body, 1, NULL), 0x4c);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0e, NULL, 1, NULL), -EINVAL);
	assert_int_equal(rd8(0x34), 0x40);
	assert_int_equal(rd16(0x40), 0x480a);
	assert_int_equal(rd16(0x48), 0x4c0c);
	assert_int_equal(rd16(0x4c), 0x000d);

	/* the wmask covers the body only, bit for bit */
	uint8_t ones[8];
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(pcicfg_cfg_write(&dev, 0x40, ones, 8), 0);
	assert_int_equal(rd16(0x40), 0x480a);
	assert_int_equal(rd32(0x42), 0x443fff11);
	assert_int_equal(rd16(0x46), 0xe655);
	uint8_t zeros[8] = { 0 };
	pcicfg_cfg_write(&dev, 0x40, zeros, 8);
	assert_int_equal(rd32(0x42), 0x44300011);
	assert_int_equal(rd16(0x46), 0x6655);

	/* reset brings back the body's values */
	pcicfg_reset(&dev);
	assert_int_equal(rd32(0x42), 0x44332211);
	assert_int_equal(rd16(0x46), 0x6655);
}

static void test_ext_chain(void **state)
{
	static const uint8_t vsec[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	assert_int_equal(pcicfg_init(&dev, true), 0);
	assert_int_equal(dev.size, 4096);
	/* no extended capabilities: 0x100 reads 0 */
	assert_int_equal(rd32(0x100), 0);

	assert_int_equal(pcicfg_add_dsn(&dev, 0x0123456789abcdefull), 0x100);
	assert_int_equal(rd32(0x100), 0x00010003);
	assert_int_equal(rd32(0x104), 0x89abcdef);
	assert_int_equal(rd32(0x108), 0x01234567);

	assert_int_equal(pcicfg_add_ext_cap(&dev, 0x000b, 1, vsec, 7, NULL),
			 0x10c);
	assert_int_equal(pcicfg_add_ext_cap(&dev, 0x23, 0xf, vsec, 8, NULL),
			 0x118);
	assert_int_equal(pcicfg_add_ext_cap(&dev, 0x23, 0x10, vsec, 8, NULL),
			 -EINVAL);

	/* walk: DSN -> 0x000b -> 0x0023 -> end */
	assert_int_equal(rd32(0x100), 0x10c10003);
	assert_int_equal(rd32(0x10c), 0x1181000b);
	assert_int_equal(rd32(0x118), 0x000f0023);
	assert_int_equal(rd32(0x110), 0x04030201);
	assert_int_equal(rd32(0x114), 0x00070605);

	/* read-only */
	assert_int_equal(wr32(0x104, 0), 0);
	assert_int_equal(wr32(0x100, 0), 0);
	assert_int_equal(rd32(0x104), 0x89abcdef);
	assert_int_equal(rd32(0x100), 0x10c10003);

	/* no extended space in a conventional function */
	pcicfg_fini(&dev);
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_add_dsn(&dev, 1), -EINVAL);
	assert_int_equal(pcicfg_add_ext_cap(&dev, 0xb, 1, vsec, 8, NULL),
			 -EINVAL);
	assert_int_equal(pcicfg_add_pcie(&dev, 0), -EINVAL);
}

static void test_cap_enospc(void **state)
{
	static uint8_t big[0x1000];

	(void)state;
	assert_int_equal(pcicfg_init(&dev, true), 0);
	/* 0x40 + 2 + 0xbe ends exactly at 0x100 */
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 0xbf, NULL),
			 -ENOSPC);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 0xbe, NULL), 0x40);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, NULL, 0, NULL), -ENOSPC);
	assert_int_equal(pcicfg_add_pm(&dev), -ENOSPC);
	assert_int_equal(pcicfg_add_msi(&dev, 1, false), -ENOSPC);
	assert_int_equal(pcicfg_add_msix(&dev, 4, 0, 0, 0, 0x800), -ENOSPC);
	assert_int_equal(pcicfg_add_vendor(&dev, big, 4), -ENOSPC);
	assert_int_equal(pcicfg_add_vendor(&dev, big, 0x1000), -ENOSPC);
	assert_int_equal(pcicfg_add_pcie(&dev, 0), -ENOSPC);
	/* failed builders leave no trace */
	assert_int_equal(dev.msix_n, 0);
	assert_null(dev.msix_table);
	assert_int_equal(dev.pm_off, 0);
	assert_int_equal(rd8(0x41), 0);

	/* filling up a few at a time: 15 caps of 12 bytes end at 0xf4,
	 * a 6-byte body takes 0xf4..0xfb, then only a bodyless cap fits */
	pcicfg_fini(&dev);
	assert_int_equal(pcicfg_init(&dev, false), 0);
	for (unsigned i = 0; i < 15; i++)
		assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 10, NULL),
				 0x40 + 12 * i);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 6, NULL), 0xf4);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 4, NULL), -ENOSPC);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 3, NULL), -ENOSPC);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, big, 2, NULL), 0xfc);
	assert_int_equal(pcicfg_add_cap(&dev, 0x0a, NULL, 0, NULL), -ENOSPC);
	assert_int_equal(rd8(0xf4 + 1), 0xfc);
	assert_int_equal(rd8(0xfc + 1), 0);

	/* extended: 0x100 + 4 + 0xefc ends exactly at 0x1000 */
	pcicfg_fini(&dev);
	assert_int_equal(pcicfg_init(&dev, true), 0);
	assert_int_equal(pcicfg_add_ext_cap(&dev, 0xb, 1, big, 0xefd, NULL),
			 -ENOSPC);
	assert_int_equal(pcicfg_add_ext_cap(&dev, 0xb, 1, big, 0xefc, NULL),
			 0x100);
	assert_int_equal(pcicfg_add_dsn(&dev, 1), -ENOSPC);
}

/* ---- MSI ----------------------------------------------------------------- */

static void test_msi(void **state)
{
	(void)state;
	make_full_device();
	assert_false(pcicfg_msi_enabled(&dev));
	assert_int_equal(pcicfg_msi_nvec(&dev), 1);

	/* enable with MME = 2 (4 vectors); capable bits stay */
	assert_int_equal(wr16(MSI_OFF + 2, 0xffa1),
			 PCICFG_EV_MSI);
	assert_int_equal(rd16(MSI_OFF + 2), 0x01a7);
	assert_true(pcicfg_msi_enabled(&dev));
	assert_int_equal(pcicfg_msi_nvec(&dev), 4);
	/* MME beyond MMC gets what exists */
	wr16(MSI_OFF + 2, 0x0071);
	assert_int_equal(pcicfg_msi_nvec(&dev), 8);

	/* address (dword aligned), upper address, data */
	assert_int_equal(wr32(MSI_OFF + 4, 0xfee0100f), PCICFG_EV_MSI);
	assert_int_equal(rd32(MSI_OFF + 4), 0xfee0100c);
	assert_int_equal(wr32(MSI_OFF + 8, 0x00000001), PCICFG_EV_MSI);
	assert_int_equal(rd32(MSI_OFF + 8), 0x00000001);
	assert_int_equal(wr32(MSI_OFF + 12, 0xffff4041), PCICFG_EV_MSI);
	assert_int_equal(rd32(MSI_OFF + 12), 0x00004041);

	/* mask bits exist for the 8 capable vectors only; pending is RO */
	assert_false(pcicfg_msi_masked(&dev, 3));
	assert_int_equal(wr32(MSI_OFF + 16, 0xffffff08), PCICFG_EV_MSI);
	assert_int_equal(rd32(MSI_OFF + 16), 0x00000008);
	assert_true(pcicfg_msi_masked(&dev, 3));
	assert_false(pcicfg_msi_masked(&dev, 2));
	assert_false(pcicfg_msi_masked(&dev, 9));
	assert_true(pcicfg_msi_masked(&dev, 32));
	assert_int_equal(wr32(MSI_OFF + 20, 0xffffffff), PCICFG_EV_MSI);
	assert_int_equal(rd32(MSI_OFF + 20), 0);

	assert_int_equal(wr16(MSI_OFF + 2, 0x0000), PCICFG_EV_MSI);
	assert_false(pcicfg_msi_enabled(&dev));
	assert_int_equal(pcicfg_msi_nvec(&dev), 1);
}

static void test_msi_variants(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_false(pcicfg_msi_enabled(&dev));
	assert_int_equal(pcicfg_msi_nvec(&dev), 0);
	assert_int_equal(pcicfg_add_msi(&dev, 0, false), -EINVAL);
	assert_int_equal(pcicfg_add_msi(&dev, 3, false), -EINVAL);
	assert_int_equal(pcicfg_add_msi(&dev, 64, false), -EINVAL);

	/* 32 vectors, no masking: 14 bytes, next cap at +16 */
	assert_int_equal(pcicfg_add_msi(&dev, 32, false), 0x40);
	assert_int_equal(pcicfg_add_pm(&dev), 0x50);
	assert_int_equal(rd16(0x42), 0x008a);
	wr16(0x42, 0x0051);
	assert_int_equal(pcicfg_msi_nvec(&dev), 32);
	assert_true(pcicfg_msi_enabled(&dev));
	/* no mask register: nothing is ever masked, bytes 0x4e.. are not MSI */
	assert_false(pcicfg_msi_masked(&dev, 0));
	assert_int_equal(wr16(0x4e, 0xffff), 0);
	assert_int_equal(wr8(0x4d, 0xff), PCICFG_EV_MSI);
	assert_int_equal(rd16(0x4c), 0xff00);
}

/* ---- MSI-X --------------------------------------------------------------- */

static void test_msix_control(void **state)
{
	(void)state;
	make_full_device();
	assert_false(pcicfg_msix_enabled(&dev));
	for (unsigned v = 0; v < NVEC; v++)
		assert_true(pcicfg_msix_masked(&dev, v));

	/* enable and function mask are the only writable bits */
	assert_int_equal(wr16(MSIX_OFF + 2, 0xffff), PCICFG_EV_MSIX);
	assert_int_equal(rd16(MSIX_OFF + 2), 0xc000 | (NVEC - 1));
	assert_true(pcicfg_msix_enabled(&dev));
	assert_int_equal(wr8(MSIX_OFF + 3, 0x80), PCICFG_EV_MSIX);
	assert_int_equal(rd16(MSIX_OFF + 2), 0x8000 | (NVEC - 1));

	/* table and PBA location are read-only and not MSI-X control */
	assert_int_equal(wr32(MSIX_OFF + 4, 0xffffffff), 0);
	assert_int_equal(wr32(MSIX_OFF + 8, 0xffffffff), 0);
	assert_int_equal(rd32(MSIX_OFF + 4), TABLE_OFF);
	assert_int_equal(rd32(MSIX_OFF + 8), PBA_OFF);

	/* masked(vec) = function mask OR the vector's own bit */
	assert_int_equal(mx_write(0, TABLE_OFF + 5 * 16 + 12, 0, 4, NULL), 0);
	assert_false(pcicfg_msix_masked(&dev, 5));
	assert_true(pcicfg_msix_masked(&dev, 6));
	wr16(MSIX_OFF + 2, 0xc000);
	assert_true(pcicfg_msix_masked(&dev, 5));
	assert_true(pcicfg_msix_enabled(&dev));
	wr16(MSIX_OFF + 2, 0x8000);
	assert_false(pcicfg_msix_masked(&dev, 5));
	assert_true(pcicfg_msix_masked(&dev, NVEC));
	wr16(MSIX_OFF + 2, 0);
	assert_false(pcicfg_msix_enabled(&dev));
}

static void test_msix_table(void **state)
{
	int um = 12345;

	(void)state;
	make_full_device();
	const uint64_t e7 = TABLE_OFF + 7 * 16;

	/* power-on entry: zero address/data, masked */
	assert_int_equal(mx_read(e7, 8), 0);
	assert_int_equal(mx_read(e7 + 8, 8), 0x0000000100000000ull);

	/* 8-byte address, then 4-byte data */
	assert_int_equal(mx_write(0, e7, 0x00000001fee01004ull, 8, &um), 0);
	assert_int_equal(um, -1);
	assert_int_equal(mx_write(0, e7 + 8, 0x4071, 4, &um), 0);
	assert_int_equal(um, -1);
	assert_int_equal(mx_read(e7, 4), 0xfee01004);
	assert_int_equal(mx_read(e7 + 4, 4), 0x00000001);
	assert_int_equal(mx_read(e7 + 8, 8), 0x0000000100004071ull);
	assert_true(pcicfg_msix_masked(&dev, 7));

	/* unmask: reported once, reserved control bits dropped */
	assert_int_equal(mx_write(0, e7 + 12, 0xfffffffe, 4, &um), 0);
	assert_int_equal(um, 7);
	assert_int_equal(mx_read(e7 + 12, 4), 0);
	assert_false(pcicfg_msix_masked(&dev, 7));
	assert_int_equal(mx_write(0, e7 + 12, 0, 4, &um), 0);
	assert_int_equal(um, -1);

	/* mask again via an 8-byte data+control write, then unmask the same
	 * way: the data changes along */
	assert_int_equal(mx_write(0, e7 + 8, 0xffffffff00001111ull, 8, &um), 0);
	assert_int_equal(um, -1);
	assert_int_equal(mx_read(e7 + 8, 8), 0x0000000100001111ull);
	assert_true(pcicfg_msix_masked(&dev, 7));
	assert_int_equal(mx_write(0, e7 + 8, 0x2222, 8, &um), 0);
	assert_int_equal(um, 7);
	assert_int_equal(mx_read(e7 + 8, 8), 0x0000000000002222ull);

	/* other entries untouched; first and last entries reachable */
	assert_int_equal(mx_read(e7 - 16, 8), 0);
	assert_int_equal(mx_read(e7 + 16 + 12, 4), 1);
	assert_int_equal(mx_write(0, TABLE_OFF + 12, 0, 4, &um), 0);
	assert_int_equal(um, 0);
	assert_int_equal(mx_write(0, TABLE_OFF + (NVEC - 1) * 16 + 12, 0, 4,
				  &um),
			 0);
	assert_int_equal(um, NVEC - 1);

	/* outside the table and PBA, or another BAR: not MSI-X */
	uint8_t b[8] = { 0 };
	int err = 12345;
	assert_false(pcicfg_msix_access(&dev, 0, TABLE_OFF + NVEC * 16, b, 4,
					   true, &err, &um));
	assert_false(pcicfg_msix_access(&dev, 0, TABLE_OFF - 4, b, 4, false,
					   &err, &um));
	assert_false(pcicfg_msix_access(&dev, 2, TABLE_OFF, b, 4, false,
					   &err, &um));
	assert_false(pcicfg_msix_access(&dev, 0, 0, b, 8, false, &err, &um));
	assert_false(pcicfg_msix_access(&dev, 0, PBA_OFF + 16, b, 8, false,
					   &err, &um));
	/* NULL err/unmasked are tolerated */
	assert_true(pcicfg_msix_access(&dev, 0, TABLE_OFF, b, 4, false, NULL,
					  NULL));
}

static void test_msix_bad_access(void **state)
{
	uint8_t b[32];
	int err, um;

	(void)state;
	make_full_device();
	static const struct {
		uint64_t off;
		uint32_t len;
	} bad[] = {
		{ TABLE_OFF, 1 },	 { TABLE_OFF, 2 },
		{ TABLE_OFF + 2, 4 },	 { TABLE_OFF + 4, 8 },
		{ TABLE_OFF + 12, 8 },	 { TABLE_OFF, 16 },
		{ TABLE_OFF - 2, 4 },	 { TABLE_OFF - 8, 16 },
		{ TABLE_OFF + 1, 3 },	 { PBA_OFF, 2 },
		{ PBA_OFF + 1, 4 },	 { PBA_OFF + 4, 8 },
		{ PBA_OFF - 4, 8 },	 { TABLE_OFF + 16 * 5 + 14, 4 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int w = 0; w < 2; w++) {
			memset(b, 0xa5, sizeof(b));
			err = 0;
			um = 12345;
			assert_true(pcicfg_msix_access(&dev, 0, bad[i].off,
							  b, bad[i].len, w,
							  &err, &um));
			assert_int_equal(err, -EINVAL);
			assert_int_equal(um, -1);
		}
	}
	/* refused writes changed nothing */
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(mx_read(TABLE_OFF + v * 16, 8), 0);
		assert_int_equal(mx_read(TABLE_OFF + v * 16 + 8, 8),
				 0x0000000100000000ull);
	}
}

static void test_msix_pba(void **state)
{
	int um;

	(void)state;
	make_full_device();
	assert_int_equal(mx_read(PBA_OFF, 8), 0);
	assert_int_equal(mx_read(PBA_OFF + 8, 8), 0);

	pcicfg_msix_set_pending(&dev, 3, true);
	pcicfg_msix_set_pending(&dev, 63, true);
	pcicfg_msix_set_pending(&dev, 70, true);
	pcicfg_msix_set_pending(&dev, NVEC - 1, true);
	pcicfg_msix_set_pending(&dev, NVEC, true); /* no such vector */
	assert_true(pcicfg_msix_pending(&dev, 3));
	assert_false(pcicfg_msix_pending(&dev, 4));
	assert_false(pcicfg_msix_pending(&dev, NVEC));

	assert_int_equal(mx_read(PBA_OFF, 8), 0x8000000000000008ull);
	assert_int_equal(mx_read(PBA_OFF, 4), 0x00000008);
	assert_int_equal(mx_read(PBA_OFF + 4, 4), 0x80000000);
	/* 70 = word 1 bit 6, 99 = word 1 bit 35 */
	assert_int_equal(mx_read(PBA_OFF + 8, 8), 0x0000000800000040ull);
	assert_int_equal(mx_read(PBA_OFF + 12, 4), 0x00000008);

	/* software cannot change the PBA */
	assert_int_equal(mx_write(0, PBA_OFF, 0, 8, &um), 0);
	assert_int_equal(um, -1);
	assert_int_equal(mx_write(0, PBA_OFF + 8, ~0ull, 8, &um), 0);
	assert_int_equal(mx_read(PBA_OFF, 8), 0x8000000000000008ull);
	assert_int_equal(mx_read(PBA_OFF + 8, 8), 0x0000000800000040ull);

	pcicfg_msix_set_pending(&dev, 63, false);
	assert_false(pcicfg_msix_pending(&dev, 63));
	assert_int_equal(mx_read(PBA_OFF, 8), 0x0000000000000008ull);
}

static void test_msix_args(void **state)
{
	(void)state;
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 0, 4096, 0), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 1, 256, PCICFG_BAR_IO), 0);
	assert_int_equal(pcicfg_set_bar(&dev, 2, 4096, PCICFG_BAR_MEM64),
			 0);
	assert_int_equal(pcicfg_add_msix(&dev, 0, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pcicfg_add_msix(&dev, 2049, 5, 0, 5, 0x10000),
			 -EINVAL);
	assert_int_equal(pcicfg_add_msix(&dev, 4, 6, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pcicfg_add_msix(&dev, 4, 0, 4, 0, 0x800), -EINVAL);
	assert_int_equal(pcicfg_add_msix(&dev, 4, 0, 0, 0, 0x804), -EINVAL);
	/* overlapping table and PBA */
	assert_int_equal(pcicfg_add_msix(&dev, 4, 0, 0, 0, 0x38), -EINVAL);
	/* I/O BAR, high dword of a 64-bit BAR, past the end of the BAR */
	assert_int_equal(pcicfg_add_msix(&dev, 4, 1, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pcicfg_add_msix(&dev, 4, 3, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pcicfg_add_msix(&dev, 4, 0, 0xfc8, 0, 0x800),
			 -EINVAL);
	assert_int_equal(dev.msix_n, 0);
	assert_int_equal(rd8(0x34), 0);

	/* table and PBA back to back in one BAR */
	assert_int_equal(pcicfg_add_msix(&dev, 4, 0, 0xfc0, 0, 0xfb8), 0x40);
	assert_int_equal(rd32(0x44), 0x00000fc0);
	assert_int_equal(rd32(0x48), 0x00000fb8);
	pcicfg_fini(&dev);

	/* the maximum, in different BARs, one of them set later */
	assert_int_equal(pcicfg_init(&dev, false), 0);
	assert_int_equal(pcicfg_add_msix(&dev, 2048, 4, 0, 5, 0x100), 0x40);
	assert_int_equal(rd16(0x42), 0x07ff);
	assert_int_equal(rd32(0x44), 0x00000004);
	assert_int_equal(rd32(0x48), 0x00000105);
	int err, um;
	uint8_t b[8];
	assert_true(pcicfg_msix_access(&dev, 4, 2047 * 16 + 12, b, 4, false,
					  &err, &um));
	assert_int_equal(err, 0);
	assert_int_equal(b[0], 1);
	assert_true(pcicfg_msix_access(&dev, 5, 0x100 + 31 * 8, b, 8, false,
					  &err, &um));
	assert_false(pcicfg_msix_access(&dev, 5, 0x100 + 32 * 8, b, 8, false,
					   &err, &um));
}

/* ---- PM and PCIe --------------------------------------------------------- */

static void test_pm(void **state)
{
	(void)state;
	make_full_device();
	assert_int_equal(wr16(PM_OFF + 4, 0xffff), 0);
	assert_int_equal(rd16(PM_OFF + 4), 0x000b); /* D3hot */
	/* D1 and D2 are not supported: the write does nothing */
	wr8(PM_OFF + 4, 0x01);
	assert_int_equal(rd16(PM_OFF + 4), 0x000b);
	wr8(PM_OFF + 4, 0x02);
	assert_int_equal(rd16(PM_OFF + 4), 0x000b);
	wr8(PM_OFF + 4, 0x00);
	assert_int_equal(rd16(PM_OFF + 4), 0x0008);
	/* PMC is read-only */
	wr16(PM_OFF + 2, 0xffff);
	assert_int_equal(rd16(PM_OFF + 2), 0x0003);
}

static void test_pcie(void **state)
{
	(void)state;
	make_full_device();
	const uint32_t devcap = rd32(PCIE_OFF + 4);
	/* 256-byte MPS, extended tags, role-based errors, no FLR */
	assert_int_equal(devcap & 7, 1);
	assert_int_equal(devcap & (1u << 15), 1u << 15);
	assert_int_equal(devcap & (1u << 28), 0);
	/* spec power-on device control: RO + no snoop, MRRS 512 */
	assert_int_equal(rd16(PCIE_OFF + 8), 0x2810);
	/* a link: x1 at 2.5 GT/s */
	assert_int_equal(rd32(PCIE_OFF + 0x0c) & 0x3ff, 0x011);
	assert_int_equal(rd16(PCIE_OFF + 0x12) & 0x3ff, 0x011);

	/* device control writable (not phantom, aux power, FLR) */
	assert_int_equal(wr16(PCIE_OFF + 8, 0xffff), 0);
	assert_int_equal(rd16(PCIE_OFF + 8), 0x79ff);
	wr16(PCIE_OFF + 8, 0);
	assert_int_equal(rd16(PCIE_OFF + 8), 0);
	/* device status error bits are RW1C */
	dev.cfg[PCIE_OFF + 0x0a] = 0x2f;
	wr16(PCIE_OFF + 0x0a, 0x0005);
	assert_int_equal(rd16(PCIE_OFF + 0x0a), 0x002a);
	/* capability registers are read-only */
	wr32(PCIE_OFF + 4, 0);
	wr16(PCIE_OFF + 2, 0xffff);
	assert_int_equal(rd32(PCIE_OFF + 4), devcap);
	assert_int_equal(rd16(PCIE_OFF + 2), 0x0002);
	pcicfg_fini(&dev);

	/* root-complex integrated endpoint: type 9, no link registers */
	assert_int_equal(pcicfg_init(&dev, true), 0);
	assert_int_equal(pcicfg_add_pcie(&dev, 9), 0x40);
	assert_int_equal(rd16(0x42), 0x0092);
	for (uint32_t o = 0x4c; o < 0x40 + 0x3c; o += 4)
		assert_int_equal(rd32(o), 0);
	pcicfg_fini(&dev);

	/* ports and bridges need a type 1 header */
	assert_int_equal(pcicfg_init(&dev, true), 0);
	assert_int_equal(pcicfg_add_pcie(&dev, 4), -EINVAL);
	assert_int_equal(pcicfg_add_pcie(&dev, 5), -EINVAL);
	assert_int_equal(pcicfg_add_pcie(&dev, 16), -EINVAL);
	assert_int_equal(rd8(0x34), 0);
}

/* ---- events and reset ---------------------------------------------------- */

static void test_events(void **state)
{
	uint8_t zeros[256] = { 0 };

	(void)state;
	make_full_device();
	assert_int_equal(wr8(0x04, 0), PCICFG_EV_COMMAND);
	assert_int_equal(wr8(0x05, 0), PCICFG_EV_COMMAND);
	assert_int_equal(wr16(0x06, 0), 0);
	assert_int_equal(wr8(0x03, 0), 0);
	assert_int_equal(wr32(0x0c, 0), 0);
	assert_int_equal(wr32(0x10, 0), PCICFG_EV_BAR);
	assert_int_equal(wr8(0x1f, 0), PCICFG_EV_BAR); /* BAR2 high dword */
	assert_int_equal(wr32(0x20, 0), PCICFG_EV_BAR);
	assert_int_equal(wr32(0x14, 0), 0); /* BAR1 not implemented */
	assert_int_equal(wr32(0x24, 0), 0);
	assert_int_equal(wr32(0x30, 0), PCICFG_EV_BAR);
	assert_int_equal(wr16(PM_OFF + 4, 0), 0);
	assert_int_equal(wr8(MSI_OFF, 0), PCICFG_EV_MSI);
	assert_int_equal(wr8(MSI_OFF + 23, 0), PCICFG_EV_MSI);
	assert_int_equal(wr8(MSIX_OFF + 2, 0), PCICFG_EV_MSIX);
	assert_int_equal(wr32(MSIX_OFF, 0), PCICFG_EV_MSIX);
	assert_int_equal(wr8(MSIX_OFF + 1, 0), 0);
	/* MSI ends where MSI-X begins: a write across both reports both */
	assert_int_equal(wr32(MSI_OFF + 22, 0), PCICFG_EV_MSI);
	assert_int_equal(pcicfg_cfg_write(&dev, MSI_OFF + 20, zeros, 8),
			 PCICFG_EV_MSI | PCICFG_EV_MSIX);
	assert_int_equal(wr16(PCIE_OFF + 8, 0), 0);
	/* the whole header at once */
	assert_int_equal(pcicfg_cfg_write(&dev, 0, zeros, 0x40),
			 PCICFG_EV_COMMAND | PCICFG_EV_BAR);
	assert_int_equal(pcicfg_cfg_write(&dev, 0, zeros, 256),
			 PCICFG_EV_COMMAND | PCICFG_EV_BAR |
				 PCICFG_EV_MSI | PCICFG_EV_MSIX);
}

static void test_reset(void **state)
{
	uint8_t power_on[4096], now[4096];
	int um;

	(void)state;
	make_full_device();
	pcicfg_cfg_read(&dev, 0, power_on, sizeof(power_on));

	/* dirty every writable thing */
	wr16(0x04, 0xffff);
	dev.cfg[0x07] |= 0xf9;
	wr32(0x0c, 0xffffffff);
	wr32(0x10, 0xfebf0000);
	wr32(0x18, 0xffffffff);
	wr32(0x1c, 0x12345678);
	wr32(0x20, 0xc000);
	wr32(0x30, 0xfeb00001);
	wr8(0x3c, 11);
	wr16(PM_OFF + 4, 3);
	wr16(MSI_OFF + 2, 0x0031);
	wr32(MSI_OFF + 4, 0xfee00000);
	wr32(MSI_OFF + 8, 1);
	wr16(MSI_OFF + 12, 0x4041);
	wr32(MSI_OFF + 16, 0xff);
	wr16(MSIX_OFF + 2, 0xc000);
	wr16(PCIE_OFF + 8, 0x00ff);
	dev.cfg[PCIE_OFF + 0x0a] = 0x0f;
	wr16(PCIE_OFF + 0x10, 0x00c3);
	for (unsigned v = 0; v < NVEC; v++) {
		mx_write(0, TABLE_OFF + v * 16, 0xfee00000 + v, 8, &um);
		mx_write(0, TABLE_OFF + v * 16 + 8, v, 8, &um);
		pcicfg_msix_set_pending(&dev, v, true);
	}
	assert_true(pcicfg_bus_master(&dev));
	assert_true(pcicfg_msi_enabled(&dev));
	assert_true(pcicfg_msix_enabled(&dev));
	assert_int_equal(mx_read(TABLE_OFF + 16 + 8, 8), 1);
	assert_true(pcicfg_msix_masked(&dev, 1)); /* function mask */

	pcicfg_reset(&dev);

	pcicfg_cfg_read(&dev, 0, now, sizeof(now));
	assert_memory_equal(power_on, now, sizeof(now));
	/* spelled out, so that a snapshot bug cannot hide */
	assert_int_equal(rd16(0x04), 0);
	assert_int_equal(rd16(0x06), 0x0010);
	assert_int_equal(rd32(0x0c), 0);
	assert_int_equal(rd32(0x10), 0x00000000);
	assert_int_equal(rd32(0x18), 0x0000000c);
	assert_int_equal(rd32(0x1c), 0);
	assert_int_equal(rd32(0x20), 0x00000001);
	assert_int_equal(rd32(0x30), 0);
	assert_int_equal(rd8(0x3c), 0);
	assert_int_equal(rd32(0x00), 0x10f31af4);
	assert_int_equal(rd8(0x3d), 1);
	assert_int_equal(rd8(0x34), PM_OFF);
	assert_int_equal(rd16(PM_OFF + 4), 0x0008);
	assert_int_equal(rd16(MSI_OFF + 2), 0x0186);
	assert_int_equal(rd32(MSI_OFF + 4), 0);
	assert_int_equal(rd32(MSI_OFF + 16), 0);
	assert_int_equal(rd16(MSIX_OFF + 2), NVEC - 1);
	assert_int_equal(rd16(PCIE_OFF + 8), 0x2810);
	assert_int_equal(rd16(PCIE_OFF + 0x0a), 0);
	assert_int_equal(rd32(0x100), 0x00010003);
	assert_false(pcicfg_bus_master(&dev));
	assert_false(pcicfg_intx_disabled(&dev));
	assert_false(pcicfg_msi_enabled(&dev));
	assert_false(pcicfg_msix_enabled(&dev));
	for (unsigned v = 0; v < NVEC; v++) {
		assert_true(pcicfg_msix_masked(&dev, v));
		assert_false(pcicfg_msix_pending(&dev, v));
		assert_int_equal(mx_read(TABLE_OFF + v * 16, 8), 0);
		assert_int_equal(mx_read(TABLE_OFF + v * 16 + 8, 8),
				 0x0000000100000000ull);
	}
	assert_int_equal(mx_read(PBA_OFF, 8), 0);
	assert_int_equal(mx_read(PBA_OFF + 8, 8), 0);

	/* sizing still works after reset */
	wr32(0x10, 0xffffffff);
	assert_int_equal(rd32(0x10), 0xffffc000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_header_ids, teardown),
		cmocka_unit_test_teardown(test_readonly, teardown),
		cmocka_unit_test_teardown(test_command, teardown),
		cmocka_unit_test_teardown(test_status_rw1c, teardown),
		cmocka_unit_test_teardown(test_bar_mem32, teardown),
		cmocka_unit_test_teardown(test_bar_mem64, teardown),
		cmocka_unit_test_teardown(test_bar_io, teardown),
		cmocka_unit_test_teardown(test_bar_rom, teardown),
		cmocka_unit_test_teardown(test_bar_invalid, teardown),
		cmocka_unit_test_teardown(test_bar_unimplemented, teardown),
		cmocka_unit_test_teardown(test_cap_chain, teardown),
		cmocka_unit_test_teardown(test_generic_cap, teardown),
		cmocka_unit_test_teardown(test_ext_chain, teardown),
		cmocka_unit_test_teardown(test_cap_enospc, teardown),
		cmocka_unit_test_teardown(test_msi, teardown),
		cmocka_unit_test_teardown(test_msi_variants, teardown),
		cmocka_unit_test_teardown(test_msix_control, teardown),
		cmocka_unit_test_teardown(test_msix_table, teardown),
		cmocka_unit_test_teardown(test_msix_bad_access, teardown),
		cmocka_unit_test_teardown(test_msix_pba, teardown),
		cmocka_unit_test_teardown(test_msix_args, teardown),
		cmocka_unit_test_teardown(test_pm, teardown),
		cmocka_unit_test_teardown(test_pcie, teardown),
		cmocka_unit_test_teardown(test_events, teardown),
		cmocka_unit_test_teardown(test_reset, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
