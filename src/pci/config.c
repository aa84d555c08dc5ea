/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration space emulation.
 *
 * Config space is little-endian whatever the host is, so multi-byte fields
 * are always assembled byte by byte.  A client write goes through the
 * per-byte masks and nothing else: a BAR's write mask holds exactly its
 * address bits, so the sizing protocol (write all ones, read back) needs no
 * special case and works for any access width or alignment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"

/* Type 0 header offsets */
#define CFG_VENDOR 0x00
#define CFG_DEVICE 0x02
#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_REVISION 0x08
#define CFG_CLASS 0x09
#define CFG_CACHE_LINE 0x0c
#define CFG_LATENCY 0x0d
#define CFG_BAR0 0x10
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS 0x2e
#define CFG_ROM 0x30
#define CFG_CAP_PTR 0x34
#define CFG_INT_LINE 0x3c
#define CFG_INT_PIN 0x3d

#define CMD_IO (1u << 0)
#define CMD_MEM (1u << 1)
#define CMD_MASTER (1u << 2)
#define CMD_PARITY (1u << 6)
#define CMD_SERR (1u << 8)
#define CMD_INTX_DISABLE (1u << 10)
#define CMD_WRITABLE (CMD_IO | CMD_MEM | CMD_MASTER | CMD_PARITY | CMD_SERR | \
		      CMD_INTX_DISABLE)

#define STATUS_CAP_LIST (1u << 4)
/* master data parity error (8), signaled/received target abort, received
 * master abort, signaled system error, detected parity error (11..15) */
#define STATUS_RW1C 0xf900u

#define ROM_ENABLE 1u
#define ROM_ADDR_MASK 0xfffff800u /* the ROM decodes at least 2 KiB */

#define STD_CAP_START 0x40u
#define STD_CAP_END 0x100u
#define EXT_CAP_START 0x100u

/* Capability ids */
#define CAP_ID_PM 0x01
#define CAP_ID_MSI 0x05
#define CAP_ID_VENDOR 0x09
#define CAP_ID_PCIE 0x10
#define CAP_ID_MSIX 0x11
#define EXT_CAP_ID_DSN 0x0003

/* Power management: register offsets from the capability */
#define PM_PMC 2
#define PM_PMCSR 4
#define PM_LEN 8
#define PMC_VERSION_1_2 3u
#define PMCSR_STATE 0x3u
#define PMCSR_NO_SOFT_RESET (1u << 3)

/* MSI, always with a 64-bit address */
#define MSI_CTRL 2
#define MSI_ADDR 4
#define MSI_ADDR_HI 8
#define MSI_DATA 12
#define MSI_MASK 16
#define MSI_PENDING 20
#define MSI_LEN 14        /* without per-vector masking */
#define MSI_LEN_MASKED 24
#define MSI_CTRL_ENABLE (1u << 0)
#define MSI_CTRL_MMC_SHIFT 1
#define MSI_CTRL_MME_SHIFT 4
#define MSI_CTRL_MME (7u << MSI_CTRL_MME_SHIFT)
#define MSI_CTRL_64 (1u << 7)
#define MSI_CTRL_MASKABLE (1u << 8)

/* MSI-X */
#define MSIX_CTRL 2
#define MSIX_TABLE 4
#define MSIX_PBA 8
#define MSIX_LEN 12
#define MSIX_CTRL_MASKALL (1u << 14)
#define MSIX_CTRL_ENABLE (1u << 15)
#define MSIX_ENTRY_SIZE 16u
#define MSIX_ENTRY_CTRL 12u /* vector control dword inside an entry */
#define MSIX_VEC_MASKED 1u

/* PCI Express capability, version 2 layout (offsets from the capability) */
#define PCIE_FLAGS 0x02
#define PCIE_DEVCAP 0x04
#define PCIE_DEVCTL 0x08
#define PCIE_DEVSTA 0x0a
#define PCIE_LNKCAP 0x0c
#define PCIE_LNKCTL 0x10
#define PCIE_LNKSTA 0x12
#define PCIE_LNKCAP2 0x2c
#define PCIE_LEN 0x3c
#define PCIE_CAP_VERSION 2u
#define PCIE_TYPE_ENDPOINT 0x0
#define PCIE_TYPE_LEGACY_ENDPOINT 0x1
#define PCIE_TYPE_RCIEP 0x9
#define PCIE_TYPE_RC_EC 0xa

/* ---- little-endian helpers ----------------------------------------------- */

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)v);
	put16(b + 2, (uint16_t)(v >> 16));
}

/* [off, off+len) meets [start, start+size); written so nothing overflows. */
static bool overlaps(uint64_t off, uint64_t len, uint64_t start, uint64_t size)
{
	if (!len || !size)
		return false;
	if (off >= start)
		return off - start < size;
	return start - off < len;
}

/* Builders call this once their bytes are in place: what is there now is
 * the power-on value reset goes back to. */
static void record_power_on(struct pcicfg *p, unsigned off, size_t len)
{
	memcpy(p->reset_cfg + off, p->cfg + off, len);
}

/* ---- life cycle ---------------------------------------------------------- */

int pcicfg_init(struct pcicfg *p, bool pcie)
{
	memset(p, 0, sizeof(*p));
	p->size = pcie ? PCICFG_PCIE_CFG_SIZE : PCICFG_CFG_SIZE;
	p->next_cap = STD_CAP_START;
	p->next_ext = EXT_CAP_START;

	put16(p->wmask + CFG_COMMAND, CMD_WRITABLE);
	put16(p->w1cmask + CFG_STATUS, STATUS_RW1C);
	p->wmask[CFG_CACHE_LINE] = 0xff;
	p->wmask[CFG_LATENCY] = 0xff;
	p->wmask[CFG_INT_LINE] = 0xff;
	return 0;
}

void pcicfg_fini(struct pcicfg *p)
{
	free(p->msix_table);
	free(p->msix_pba);
	p->msix_table = NULL;
	p->msix_pba = NULL;
	p->msix_n = 0;
	p->msix_off = 0;
}

void pcicfg_set_ids(struct pcicfg *p, const struct uvfio_pci_ids *ids)
{
	put16(p->cfg + CFG_VENDOR, ids->vendor);
	put16(p->cfg + CFG_DEVICE, ids->device);
	p->cfg[CFG_REVISION] = ids->revision;
	p->cfg[CFG_CLASS] = (uint8_t)ids->class_code;
	p->cfg[CFG_CLASS + 1] = (uint8_t)(ids->class_code >> 8);
	p->cfg[CFG_CLASS + 2] = (uint8_t)(ids->class_code >> 16);
	put16(p->cfg + CFG_SUBSYS_VENDOR, ids->subsys_vendor);
	put16(p->cfg + CFG_SUBSYS, ids->subsys);
	/* 5..255 are not pins; advertising one would promise an INTx that
	 * no client can route. */
	p->cfg[CFG_INT_PIN] = ids->irq_pin <= 4 ? ids->irq_pin : 0;
}

/* ---- BARs ---------------------------------------------------------------- */

static unsigned bar_reg(unsigned bar)
{
	return bar == 6 ? CFG_ROM : CFG_BAR0 + 4 * bar;
}

static bool bar_is_mem64(const struct pcicfg *p, unsigned bar)
{
	return bar < 6 && p->bar_size[bar] &&
	       (p->bar_flags[bar] & PCICFG_BAR_MEM64);
}

/* The register holds the high dword of the 64-bit BAR below it. */
static bool bar_is_upper(const struct pcicfg *p, unsigned bar)
{
	return bar >= 1 && bar <= 5 && bar_is_mem64(p, bar - 1);
}

static unsigned bar_reg_len(const struct pcicfg *p, unsigned bar)
{
	return bar_is_mem64(p, bar) ? 8 : 4;
}

static void clear_bar(struct pcicfg *p, unsigned bar)
{
	unsigned reg = bar_reg(bar), n = bar_reg_len(p, bar);

	memset(p->cfg + reg, 0, n);
	memset(p->wmask + reg, 0, n);
	memset(p->reset_cfg + reg, 0, n);
	p->bar_size[bar] = 0;
	p->bar_flags[bar] = 0;
}

static bool bar_args_ok(unsigned bar, uint64_t size, uint32_t flags)
{
	const uint32_t known = PCICFG_BAR_IO | PCICFG_BAR_MEM64 |
			       PCICFG_BAR_PREFETCH;
	uint64_t min = 16, max = 1ull << 31;

	if (bar > 6 || (flags & ~known) || (size & (size - 1)))
		return false;
	if (bar == 6 && flags)
		return false;
	if (flags & PCICFG_BAR_IO) {
		if (flags != PCICFG_BAR_IO)
			return false;
		min = 4;
	}
	if (flags & PCICFG_BAR_MEM64) {
		if (bar > 4)
			return false;
		max = 1ull << 63;
	}
	/* A BAR as large as its address space would leave no address bit
	 * to program, so max is the top address bit alone. */
	return !size || (size >= min && size <= max);
}

int pcicfg_set_bar(struct pcicfg *p, unsigned bar, uint64_t size,
		      uint32_t flags)
{
	unsigned reg;
	uint64_t addr_mask;
	uint32_t type;

	if (!bar_args_ok(bar, size, flags) || bar_is_upper(p, bar))
		return -EINVAL;
	/* Claiming bar+1 as the high dword must not swallow a BAR that is
	 * already there. */
	if (size && (flags & PCICFG_BAR_MEM64) && p->bar_size[bar + 1])
		return -EINVAL;

	clear_bar(p, bar);
	if (!size)
		return 0;

	reg = bar_reg(bar);
	addr_mask = ~(size - 1);
	if (bar == 6) {
		type = 0;
		put32(p->wmask + reg,
		      ((uint32_t)addr_mask & ROM_ADDR_MASK) | ROM_ENABLE);
	} else if (flags & PCICFG_BAR_IO) {
		type = 1;
		put32(p->wmask + reg, (uint32_t)addr_mask & ~3u);
	} else {
		type = (flags & PCICFG_BAR_MEM64 ? 2u << 1 : 0) |
		       (flags & PCICFG_BAR_PREFETCH ? 1u << 3 : 0);
		put32(p->wmask + reg, (uint32_t)addr_mask & ~0xfu);
		if (flags & PCICFG_BAR_MEM64)
			put32(p->wmask + reg + 4, (uint32_t)(addr_mask >> 32));
	}
	put32(p->cfg + reg, type);
	p->bar_size[bar] = size;
	p->bar_flags[bar] = flags;
	record_power_on(p, reg, bar_reg_len(p, bar));
	return 0;
}

/* ---- capabilities -------------------------------------------------------- */

/* Where a capability of size bytes goes: the next free offset, or pos
 * when the caller chose one (dword aligned, not before what is taken, as
 * the list is kept in ascending order).  0 or -errno. */
static int cap_place(unsigned next, unsigned pos, unsigned start,
		     unsigned end, size_t size, unsigned *off)
{
	if (pos) {
		if (pos % 4 || pos < start || pos >= end)
			return -EINVAL;
		if (next && pos < next)
			return -EEXIST; /* overlaps, or out of order */
		next = pos;
	}
	if (next < start || size > end || next + size > end)
		return -ENOSPC;
	*off = next;
	return 0;
}

int pcicfg_add_cap(struct pcicfg *p, uint8_t id, const void *body,
		      size_t len, const void *wmask)
{
	return pcicfg_add_cap_at(p, 0, id, body, len, wmask);
}

int pcicfg_add_cap_at(struct pcicfg *p, unsigned pos, uint8_t id,
		      const void *body, size_t len, const void *wmask)
{
	/* next_cap is a byte, so a list that ends exactly at 0x100 leaves
	 * it at 0: that means full. */
	unsigned next = p->next_cap ? p->next_cap : STD_CAP_END;
	unsigned off, end;

	if (len && !body)
		return -EINVAL;
	int r = cap_place(next, pos, STD_CAP_START, STD_CAP_END, 2 + len, &off);
	if (r)
		return r;

	p->cfg[off] = id;
	p->cfg[off + 1] = 0;
	if (len)
		memcpy(p->cfg + off + 2, body, len);
	memset(p->wmask + off, 0, 2 + len);
	memset(p->w1cmask + off, 0, 2 + len);
	if (wmask && len)
		memcpy(p->wmask + off + 2, wmask, len);

	if (p->last_cap)
		p->cfg[p->last_cap + 1] = (uint8_t)off;
	else
		p->cfg[CFG_CAP_PTR] = (uint8_t)off;
	put16(p->cfg + CFG_STATUS,
	      get16(p->cfg + CFG_STATUS) | STATUS_CAP_LIST);
	p->last_cap = (uint8_t)off;
	/* A caller's own PCI Express capability still gets FLR handled
	 * (pcicfg_flr_requested) when it advertises FLReset. */
	if (id == CAP_ID_PCIE && !p->pcie_off)
		p->pcie_off = (uint8_t)off;

	end = (off + 2 + (unsigned)len + 3) & ~3u;
	p->next_cap = end < STD_CAP_END ? (uint8_t)end : 0;
	record_power_on(p, off, 2 + len);
	return (int)off;
}

int pcicfg_add_ext_cap(struct pcicfg *p, uint16_t id, uint8_t version,
			  const void *body, size_t len, const void *wmask)
{
	return pcicfg_add_ext_cap_at(p, 0, id, version, body, len, wmask);
}

int pcicfg_add_ext_cap_at(struct pcicfg *p, unsigned pos, uint16_t id,
			  uint8_t version, const void *body, size_t len,
			  const void *wmask)
{
	unsigned off;

	if (p->size != PCICFG_PCIE_CFG_SIZE || version > 0xf || (len && !body))
		return -EINVAL;
	/* The first extended capability sits at 0x100 by definition. */
	if (pos && !p->last_ext && pos != EXT_CAP_START)
		return -EINVAL;
	int r = cap_place(p->next_ext, pos, EXT_CAP_START,
			  PCICFG_PCIE_CFG_SIZE, 4 + len, &off);
	if (r)
		return r;

	put32(p->cfg + off, id | (uint32_t)version << 16);
	if (len)
		memcpy(p->cfg + off + 4, body, len);
	memset(p->wmask + off, 0, 4 + len);
	memset(p->w1cmask + off, 0, 4 + len);
	if (wmask && len)
		memcpy(p->wmask + off + 4, wmask, len);

	/* Later ones are linked through bits 31:20 of the previous header. */
	if (p->last_ext) {
		uint32_t h = get32(p->cfg + p->last_ext);
		put32(p->cfg + p->last_ext,
		      (h & 0xfffffu) | (uint32_t)off << 20);
	}
	p->last_ext = (uint16_t)off;
	p->next_ext = (uint16_t)((off + 4 + len + 3) & ~3u);
	record_power_on(p, off, 4 + len);
	return (int)off;
}

/*
 * The typed builders lay out the whole capability in a local buffer at its
 * spec offsets (header included, left zero) and hand add_cap what follows
 * the 2-byte header, so the offsets in the code read like the spec's.
 */

int pcicfg_add_pm(struct pcicfg *p)
{
	uint8_t cap[PM_LEN] = { 0 }, wm[PM_LEN] = { 0 };
	int off;

	if (p->pm_off)
		return -EEXIST;
	/* Only D0 and D3hot, no PME.  No_Soft_Reset is true: nothing here
	 * loses state on D3hot -> D0, and saying so spares the guest a
	 * pointless save and restore. */
	put16(cap + PM_PMC, PMC_VERSION_1_2);
	put16(cap + PM_PMCSR, PMCSR_NO_SOFT_RESET);
	put16(wm + PM_PMCSR, PMCSR_STATE);
	off = pcicfg_add_cap(p, CAP_ID_PM, cap + 2, PM_LEN - 2, wm + 2);
	if (off > 0)
		p->pm_off = (uint8_t)off;
	return off;
}

int pcicfg_add_msi(struct pcicfg *p, unsigned nvec, bool maskable)
{
	uint8_t cap[MSI_LEN_MASKED] = { 0 }, wm[MSI_LEN_MASKED] = { 0 };
	unsigned len = maskable ? MSI_LEN_MASKED : MSI_LEN;
	unsigned log2n = 0;
	uint16_t ctrl;
	int off;

	if (!nvec || nvec > 32 || (nvec & (nvec - 1)))
		return -EINVAL;
	if (p->msi_off)
		return -EEXIST;
	while ((1u << log2n) < nvec)
		log2n++;

	ctrl = (uint16_t)(log2n << MSI_CTRL_MMC_SHIFT | MSI_CTRL_64);
	if (maskable)
		ctrl |= MSI_CTRL_MASKABLE;
	put16(cap + MSI_CTRL, ctrl);
	put16(wm + MSI_CTRL, MSI_CTRL_ENABLE | MSI_CTRL_MME);
	/* the address is dword aligned: bits 1:0 are not stored */
	put32(wm + MSI_ADDR, 0xfffffffcu);
	put32(wm + MSI_ADDR_HI, 0xffffffffu);
	put16(wm + MSI_DATA, 0xffff);
	if (maskable)
		put32(wm + MSI_MASK,
		      nvec == 32 ? 0xffffffffu : (1u << nvec) - 1);

	off = pcicfg_add_cap(p, CAP_ID_MSI, cap + 2, len - 2, wm + 2);
	if (off > 0)
		p->msi_off = (uint8_t)off;
	return off;
}

/* A table or PBA must be placeable in its BAR.  A BAR not set yet is
 * accepted, since a device may describe BARs after capabilities. */
static bool msix_bar_ok(const struct pcicfg *p, unsigned bar, uint64_t off,
			uint64_t len)
{
	if (bar > 5 || bar_is_upper(p, bar))
		return false;
	if (!p->bar_size[bar])
		return true;
	if (p->bar_flags[bar] & PCICFG_BAR_IO)
		return false;
	return off + len <= p->bar_size[bar];
}

int pcicfg_add_msix(struct pcicfg *p, unsigned nvec, unsigned table_bar,
		       uint32_t table_off, unsigned pba_bar, uint32_t pba_off)
{
	uint8_t cap[MSIX_LEN] = { 0 }, wm[MSIX_LEN] = { 0 };
	uint64_t tlen = (uint64_t)nvec * MSIX_ENTRY_SIZE;
	uint64_t plen = 8ull * ((nvec + 63) / 64);
	uint8_t *table;
	uint64_t *pba;
	int off;

	if (!nvec || nvec > PCICFG_MAX_MSIX || (table_off & 7) ||
	    (pba_off & 7))
		return -EINVAL;
	if (!msix_bar_ok(p, table_bar, table_off, tlen) ||
	    !msix_bar_ok(p, pba_bar, pba_off, plen))
		return -EINVAL;
	if (table_bar == pba_bar && overlaps(table_off, tlen, pba_off, plen))
		return -EINVAL;
	if (p->msix_off)
		return -EEXIST;

	table = calloc(nvec, MSIX_ENTRY_SIZE);
	pba = calloc((nvec + 63) / 64, sizeof(*pba));
	if (!table || !pba) {
		free(table);
		free(pba);
		return -ENOMEM;
	}

	put16(cap + MSIX_CTRL, (uint16_t)(nvec - 1));
	put16(wm + MSIX_CTRL, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	put32(cap + MSIX_TABLE, table_off | table_bar);
	put32(cap + MSIX_PBA, pba_off | pba_bar);
	off = pcicfg_add_cap(p, CAP_ID_MSIX, cap + 2, MSIX_LEN - 2, wm + 2);
	if (off < 0) {
		free(table);
		free(pba);
		return off;
	}

	for (unsigned v = 0; v < nvec; v++)
		table[v * MSIX_ENTRY_SIZE + MSIX_ENTRY_CTRL] = MSIX_VEC_MASKED;
	p->msix_off = (uint8_t)off;
	p->msix_n = nvec;
	p->msix_table_bar = (uint8_t)table_bar;
	p->msix_table_off = table_off;
	p->msix_pba_bar = (uint8_t)pba_bar;
	p->msix_pba_off = pba_off;
	p->msix_table = table;
	p->msix_pba = pba;
	return off;
}

int pcicfg_add_pcie(struct pcicfg *p, unsigned port_type)
{
	uint8_t cap[PCIE_LEN] = { 0 }, wm[PCIE_LEN] = { 0 };
	bool has_link = port_type == PCIE_TYPE_ENDPOINT ||
			port_type == PCIE_TYPE_LEGACY_ENDPOINT;
	uint32_t devcap;
	int off;

	/* Only the function types a type 0 header can be; ports and bridges
	 * need a type 1 header this emulation does not have. */
	if (!has_link && port_type != PCIE_TYPE_RCIEP &&
	    port_type != PCIE_TYPE_RC_EC)
		return -EINVAL;
	if (p->size != PCICFG_PCIE_CFG_SIZE)
		return -EINVAL;
	if (p->pcie_off)
		return -EEXIST;

	put16(cap + PCIE_FLAGS, (uint16_t)(PCIE_CAP_VERSION | port_type << 4));

	/* 256-byte max payload, 8-bit tags, role-based error reporting
	 * (mandatory since 1.1); FLR only on request (pcicfg_enable_flr),
	 * as a device that cannot reset from config space must not claim it. */
	devcap = 1u << 0 | 1u << 5 | 1u << 15;
	if (has_link)
		devcap |= 7u << 6 | 7u << 9; /* L0s/L1 latency: no limit */
	put32(cap + PCIE_DEVCAP, devcap);

	/* Power-on defaults of the spec: relaxed ordering and no snoop
	 * enabled, 128-byte payload, 512-byte read requests. */
	put16(cap + PCIE_DEVCTL, 1u << 4 | 1u << 11 | 2u << 12);
	/* error reporting enables, relaxed ordering, payload size, extended
	 * tags, no snoop, read request size */
	put16(wm + PCIE_DEVCTL, 0x0f | 1u << 4 | 7u << 5 | 1u << 8 | 1u << 11 |
				7u << 12);

	/* An integrated endpoint has no link; the link registers stay 0.
	 * Others get a trained x1 2.5 GT/s link, which is all a virtual link
	 * can honestly claim. */
	if (has_link) {
		put32(cap + PCIE_LNKCAP, 1u | 1u << 4);
		/* ASPM control, common clock, extended synch */
		put16(wm + PCIE_LNKCTL, 0x3u | 1u << 6 | 1u << 7);
		put16(cap + PCIE_LNKSTA, 1u | 1u << 4);
		put32(cap + PCIE_LNKCAP2, 1u << 1);
	}

	off = pcicfg_add_cap(p, CAP_ID_PCIE, cap + 2, PCIE_LEN - 2, wm + 2);
	if (off < 0)
		return off;
	/* device status error bits are RW1C, which add_cap cannot express */
	put16(p->w1cmask + off + PCIE_DEVSTA, 0x000f);
	p->pcie_off = (uint8_t)off;
	return off;
}

/* Device Capabilities bit 28 and Device Control bit 15.  Initiate FLR
 * stays out of the write mask: the spec has it always read 0, and the
 * server sees the raw write (pcicfg_flr_requested) before the mask. */
#define PCIE_DEVCAP_FLR (1u << 28)
#define PCIE_DEVCTL_FLR_HI 0x80u /* bit 15, in the register's high byte */

int pcicfg_enable_flr(struct pcicfg *p)
{
	if (!p->pcie_off)
		return -ENOENT;
	uint8_t *cap = p->cfg + p->pcie_off + PCIE_DEVCAP;
	put32(cap, get32(cap) | PCIE_DEVCAP_FLR);
	return 0;
}

bool pcicfg_flr_requested(const struct pcicfg *p, uint32_t off,
			  const void *buf, uint32_t len)
{
	if (!p->pcie_off ||
	    !(get32(p->cfg + p->pcie_off + PCIE_DEVCAP) & PCIE_DEVCAP_FLR))
		return false;
	uint32_t hi = p->pcie_off + PCIE_DEVCTL + 1u;
	if (hi < off || hi - off >= len)
		return false;
	return ((const uint8_t *)buf)[hi - off] & PCIE_DEVCTL_FLR_HI;
}

int pcicfg_add_vendor(struct pcicfg *p, const void *data, size_t len)
{
	uint8_t body[STD_CAP_END];

	if (len && !data)
		return -EINVAL;
	/* id, next and the length byte come before the data */
	if (len > STD_CAP_END - STD_CAP_START - 3)
		return -ENOSPC;
	body[0] = (uint8_t)(3 + len);
	if (len)
		memcpy(body + 1, data, len);
	return pcicfg_add_cap(p, CAP_ID_VENDOR, body, 1 + len, NULL);
}

int pcicfg_add_dsn(struct pcicfg *p, uint64_t serial)
{
	uint8_t body[8];

	put32(body, (uint32_t)serial);
	put32(body + 4, (uint32_t)(serial >> 32));
	return pcicfg_add_ext_cap(p, EXT_CAP_ID_DSN, 1, body, sizeof(body),
				     NULL);
}

/* ---- config accesses ----------------------------------------------------- */

void pcicfg_cfg_read(struct pcicfg *p, uint32_t off, void *buf,
			uint32_t len)
{
	uint32_t n = 0;

	if (off < p->size)
		n = len < p->size - off ? len : p->size - off;
	if (n)
		memcpy(buf, p->cfg + off, n);
	memset((uint8_t *)buf + n, 0, len - n);
}

/* D1 and D2 are not advertised; the PM spec has a write of an unsupported
 * state complete normally but change nothing. */
static void pm_keep_supported_state(struct pcicfg *p, uint8_t old)
{
	uint8_t *csr = p->cfg + p->pm_off + PM_PMCSR;
	uint8_t state = *csr & PMCSR_STATE;

	if (state == 1 || state == 2)
		*csr = (uint8_t)((*csr & ~PMCSR_STATE) | (old & PMCSR_STATE));
}

static unsigned msi_cap_len(const struct pcicfg *p)
{
	uint16_t ctrl = get16(p->cfg + p->msi_off + MSI_CTRL);
	unsigned len = ctrl & MSI_CTRL_64 ? MSI_LEN : MSI_LEN - 4;

	return ctrl & MSI_CTRL_MASKABLE ? len + 10 : len;
}

static unsigned write_events(const struct pcicfg *p, uint32_t off,
			     uint32_t len)
{
	unsigned ev = 0;

	if (overlaps(off, len, CFG_COMMAND, 2))
		ev |= PCICFG_EV_COMMAND;
	for (unsigned bar = 0; bar < 7; bar++)
		if (p->bar_size[bar] &&
		    overlaps(off, len, bar_reg(bar), bar_reg_len(p, bar)))
			ev |= PCICFG_EV_BAR;
	if (p->msi_off && overlaps(off, len, p->msi_off, msi_cap_len(p)))
		ev |= PCICFG_EV_MSI;
	if (p->msix_off && overlaps(off, len, p->msix_off + MSIX_CTRL, 2))
		ev |= PCICFG_EV_MSIX;
	return ev;
}

unsigned pcicfg_cfg_write(struct pcicfg *p, uint32_t off,
			     const void *buf, uint32_t len)
{
	const uint8_t *b = buf;
	uint8_t pm_old = p->pm_off ? p->cfg[p->pm_off + PM_PMCSR] : 0;

	if (off >= p->size)
		return 0;
	if (len > p->size - off)
		len = p->size - off;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t v = p->cfg[o];

		v = (uint8_t)((v & ~p->wmask[o]) | (b[i] & p->wmask[o]));
		v &= (uint8_t)~(b[i] & p->w1cmask[o]);
		p->cfg[o] = v;
	}
	if (p->pm_off && overlaps(off, len, p->pm_off + PM_PMCSR, 1))
		pm_keep_supported_state(p, pm_old);
	return write_events(p, off, len);
}

void pcicfg_reset(struct pcicfg *p)
{
	/* Only bits the client can change can differ from power-on. */
	for (uint32_t i = 0; i < p->size; i++) {
		uint8_t m = p->wmask[i] | p->w1cmask[i];

		p->cfg[i] = (uint8_t)((p->cfg[i] & ~m) | (p->reset_cfg[i] & m));
	}
	if (p->msix_table) {
		memset(p->msix_table, 0, (size_t)p->msix_n * MSIX_ENTRY_SIZE);
		for (unsigned v = 0; v < p->msix_n; v++)
			p->msix_table[v * MSIX_ENTRY_SIZE + MSIX_ENTRY_CTRL] =
				MSIX_VEC_MASKED;
	}
	if (p->msix_pba)
		memset(p->msix_pba, 0,
		       (p->msix_n + 63) / 64 * sizeof(*p->msix_pba));
}

/* ---- state --------------------------------------------------------------- */

static uint16_t command(const struct pcicfg *p)
{
	return get16(p->cfg + CFG_COMMAND);
}

bool pcicfg_bus_master(const struct pcicfg *p)
{
	return command(p) & CMD_MASTER;
}

bool pcicfg_intx_disabled(const struct pcicfg *p)
{
	return command(p) & CMD_INTX_DISABLE;
}

static uint16_t msi_ctrl(const struct pcicfg *p)
{
	return p->msi_off ? get16(p->cfg + p->msi_off + MSI_CTRL) : 0;
}

bool pcicfg_msi_enabled(const struct pcicfg *p)
{
	return msi_ctrl(p) & MSI_CTRL_ENABLE;
}

unsigned pcicfg_msi_nvec(const struct pcicfg *p)
{
	uint16_t ctrl = msi_ctrl(p);
	unsigned mmc = (ctrl >> MSI_CTRL_MMC_SHIFT) & 7;
	unsigned mme = (ctrl >> MSI_CTRL_MME_SHIFT) & 7;

	if (!p->msi_off)
		return 0;
	/* Software must not enable more than offered; if it does anyway, it
	 * gets what the function has rather than vectors that do not exist. */
	return 1u << (mme < mmc ? mme : mmc);
}

bool pcicfg_msi_masked(const struct pcicfg *p, unsigned vec)
{
	if (!(msi_ctrl(p) & MSI_CTRL_MASKABLE))
		return false;
	if (vec >= 32)
		return true;
	return get32(p->cfg + p->msi_off + MSI_MASK) & (1u << vec);
}

static uint16_t msix_ctrl(const struct pcicfg *p)
{
	return p->msix_off ? get16(p->cfg + p->msix_off + MSIX_CTRL) : 0;
}

bool pcicfg_msix_enabled(const struct pcicfg *p)
{
	return msix_ctrl(p) & MSIX_CTRL_ENABLE;
}

bool pcicfg_msix_masked(const struct pcicfg *p, unsigned vec)
{
	if (vec >= p->msix_n)
		return true;
	if (msix_ctrl(p) & MSIX_CTRL_MASKALL)
		return true;
	return p->msix_table[vec * MSIX_ENTRY_SIZE + MSIX_ENTRY_CTRL] &
	       MSIX_VEC_MASKED;
}

void pcicfg_msix_set_pending(struct pcicfg *p, unsigned vec, bool on)
{
	uint64_t bit = 1ull << (vec % 64);

	if (vec >= p->msix_n)
		return;
	if (on)
		p->msix_pba[vec / 64] |= bit;
	else
		p->msix_pba[vec / 64] &= ~bit;
}

bool pcicfg_msix_pending(const struct pcicfg *p, unsigned vec)
{
	if (vec >= p->msix_n)
		return false;
	return p->msix_pba[vec / 64] >> (vec % 64) & 1;
}

/* ---- MSI-X table and PBA in their BARs ----------------------------------- */

static void msix_table_write(struct pcicfg *p, uint64_t rel,
			     const uint8_t *b, uint32_t len, int *unmasked)
{
	unsigned vec = (unsigned)(rel / MSIX_ENTRY_SIZE);
	unsigned eo = (unsigned)(rel % MSIX_ENTRY_SIZE);
	uint8_t *e = p->msix_table + (size_t)vec * MSIX_ENTRY_SIZE;
	bool was_masked = e[MSIX_ENTRY_CTRL] & MSIX_VEC_MASKED;

	for (uint32_t i = 0; i < len; i++) {
		unsigned o = eo + i;

		if (o < MSIX_ENTRY_CTRL)
			e[o] = b[i];
		else if (o == MSIX_ENTRY_CTRL)
			e[o] = b[i] & MSIX_VEC_MASKED;
		/* the rest of vector control is reserved and reads 0 */
	}
	if (was_masked && !(e[MSIX_ENTRY_CTRL] & MSIX_VEC_MASKED))
		*unmasked = (int)vec;
}

bool pcicfg_msix_access(struct pcicfg *p, unsigned bar, uint64_t off,
			   void *buf, uint32_t len, bool is_write, int *err,
			   int *unmasked)
{
	uint64_t tlen = (uint64_t)p->msix_n * MSIX_ENTRY_SIZE;
	uint64_t plen = 8ull * ((p->msix_n + 63) / 64);
	uint8_t *b = buf;
	int err_dummy, unmasked_dummy;
	bool in_table, in_pba;

	if (!err)
		err = &err_dummy;
	if (!unmasked)
		unmasked = &unmasked_dummy;
	*err = 0;
	*unmasked = -1;
	if (!p->msix_n)
		return false;

	in_table = bar == p->msix_table_bar &&
		   overlaps(off, len, p->msix_table_off, tlen);
	in_pba = bar == p->msix_pba_bar &&
		 overlaps(off, len, p->msix_pba_off, plen);
	if (!in_table && !in_pba)
		return false;

	/* Both areas start 8-byte aligned and are multiples of 8 long, so an
	 * aligned 4- or 8-byte access lies wholly inside one of them and
	 * inside one table entry or PBA word. */
	if ((len != 4 && len != 8) || off % len) {
		*err = -EINVAL;
		if (!is_write)
			memset(buf, 0, len);
		return true;
	}

	if (in_table) {
		uint64_t rel = off - p->msix_table_off;

		if (is_write)
			msix_table_write(p, rel, b, len, unmasked);
		else
			memcpy(b, p->msix_table + rel, len);
		return true;
	}

	/* The PBA is read-only to software: a write completes, changes
	 * nothing. */
	if (!is_write) {
		uint64_t rel = off - p->msix_pba_off;

		for (uint32_t i = 0; i < len; i++) {
			uint64_t bi = rel + i;

			b[i] = (uint8_t)(p->msix_pba[bi / 8] >> (8 * (bi % 8)));
		}
	}
	return true;
}

int pcicfg_set_express(struct pcicfg *p, bool pcie)
{
	if (p->last_ext)
		return -EBUSY;
	p->size = pcie ? PCICFG_PCIE_CFG_SIZE : PCICFG_CFG_SIZE;
	return 0;
}
