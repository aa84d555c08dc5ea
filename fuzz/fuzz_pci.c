/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pci: PCI configuration space emulation (src/pci/config.c).
 *
 * Input: a description (PCIe or not, up to 7 BARs, a list of capabilities
 * built with the typed builders or raw bodies with write masks), then a
 * sequence of operations: config reads and writes of 1, 2 or 4 bytes (and
 * odd lengths) at any offset, BAR sizing (write all ones, read back,
 * restore), MSI-X table and PBA accesses through their BAR, and reset.
 *
 * Invariants, checked after every operation: the write and RW1C masks
 * never change; bits that are neither writable nor RW1C keep their
 * power-on value; writes never set an RW1C bit; every BAR reads back with
 * its type bits and with the address bits below its size clear, and sizing
 * returns exactly ~(size - 1) plus type; both capability lists keep their
 * ids and order and end; reads return exactly config space (zeros past
 * its end); the MSI-X table keeps reserved bits clear; after reset config
 * space equals the power-on snapshot and every MSI-X vector is masked.
 */
#include <errno.h>

#include "pci/pci.h"

#include "fuzz.h"

#define MAX_CAPS 48

struct model {
	struct pcicfg p;
	uint8_t cfg0[PCICFG_PCIE_CFG_SIZE];   /* power-on config space */
	uint8_t wmask0[PCICFG_PCIE_CFG_SIZE]; /* masks as built */
	uint8_t w1c0[PCICFG_PCIE_CFG_SIZE];
	uint8_t caps[MAX_CAPS][2]; /* standard list: offset, id */
	unsigned ncaps;
	uint16_t ext[MAX_CAPS][2]; /* extended list: offset, id */
	unsigned next;
};

static uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static void wr32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

/* Walk both lists; they must end (no loops) inside config space. */
static unsigned walk_std(const struct pcicfg *p, uint8_t out[][2])
{
	unsigned n = 0, off = p->cfg[0x34];
	while (off) {
		FZ_CHECK(off >= 0x40 && off <= 0xfe && n < MAX_CAPS);
		out[n][0] = (uint8_t)off;
		out[n][1] = p->cfg[off];
		n++;
		off = p->cfg[off + 1];
	}
	return n;
}

static unsigned walk_ext(const struct pcicfg *p, uint16_t out[][2])
{
	unsigned n = 0, off = 0x100;
	if (p->size != PCICFG_PCIE_CFG_SIZE)
		return 0;
	while (off) {
		uint32_t h = rd32(p->cfg + off);
		if (off == 0x100 && h == 0)
			break;
		FZ_CHECK(off >= 0x100 && off <= 0xffc && !(off & 3) &&
			 n < MAX_CAPS);
		out[n][0] = (uint16_t)off;
		out[n][1] = (uint16_t)h;
		n++;
		off = h >> 20;
	}
	return n;
}

static void check_bar(const struct model *m, unsigned bar)
{
	const struct pcicfg *p = &m->p;
	unsigned reg = bar == 6 ? 0x30 : 0x10 + 4 * bar;
	uint64_t size = p->bar_size[bar];
	uint32_t flags = p->bar_flags[bar];
	uint64_t v = rd32(p->cfg + reg);

	if (!size)
		return;
	if (bar < 6 && (flags & PCICFG_BAR_MEM64))
		v |= (uint64_t)rd32(p->cfg + reg + 4) << 32;
	if (bar == 6) {
		FZ_CHECK((v & (size - 1) & 0xfffff800u) == 0);
		FZ_CHECK((v & 0x7fe) == 0);
	} else if (flags & PCICFG_BAR_IO) {
		FZ_CHECK((v & 3) == 1);
		FZ_CHECK((v & (size - 1) & ~3ull) == 0);
	} else {
		FZ_CHECK((v & 0xf) == (m->cfg0[reg] & 0xfu));
		FZ_CHECK((v & (size - 1) & ~0xfull) == 0);
	}
}

/* Read-only bits of [from, to) still hold their power-on value. */
static void check_ro(const struct model *m, unsigned from, unsigned to)
{
	const struct pcicfg *p = &m->p;
	for (unsigned i = from; i < to && i < p->size; i++) {
		uint8_t fixed = (uint8_t)~(m->wmask0[i] | m->w1c0[i]);
		if ((p->cfg[i] & fixed) != (m->cfg0[i] & fixed)) {
			fprintf(stderr, "read-only bits of byte 0x%x changed: "
					"%02x -> %02x\n",
				i, m->cfg0[i], p->cfg[i]);
			abort();
		}
	}
}

/* full: also every read-only bit (op_write checks its own bytes). */
static void check_all(const struct model *m, bool full)
{
	const struct pcicfg *p = &m->p;
	uint8_t caps[MAX_CAPS][2];
	uint16_t ext[MAX_CAPS][2];

	FZ_CHECK(!memcmp(p->wmask, m->wmask0, sizeof(m->wmask0)));
	FZ_CHECK(!memcmp(p->w1cmask, m->w1c0, sizeof(m->w1c0)));
	if (full)
		check_ro(m, 0, p->size);
	for (unsigned bar = 0; bar < 7; bar++)
		check_bar(m, bar);
	unsigned n = walk_std(p, caps);
	FZ_CHECK(n == m->ncaps && !memcmp(caps, m->caps, n * 2));
	n = walk_ext(p, ext);
	FZ_CHECK(n == m->next && !memcmp(ext, m->ext, n * sizeof(ext[0])));
	for (unsigned v = 0; v < p->msix_n; v++) {
		const uint8_t *e = p->msix_table + v * 16;
		FZ_CHECK((e[12] & ~1u) == 0 && !e[13] && !e[14] && !e[15]);
	}
	unsigned nvec = pcicfg_msi_nvec(p);
	FZ_CHECK(p->msi_off ? nvec >= 1 && nvec <= 32 && !(nvec & (nvec - 1))
			    : nvec == 0);
}

static void setup(struct model *m, struct fz *f)
{
	struct pcicfg *p = &m->p;
	uint8_t b = fz_u8(f);
	pcicfg_init(p, b & 1);
	struct uvfio_pci_ids ids = {
		.vendor = fz_u16(f), .device = fz_u16(f),
		.class_code = fz_u32(f), .irq_pin = fz_u8(f),
	};
	pcicfg_set_ids(p, &ids);

	/* BARs: a byte each, size 2^(4..35) and type bits */
	unsigned nbars = (b >> 1) & 7;
	for (unsigned i = 0; i < nbars; i++) {
		uint8_t d = fz_u8(f);
		uint8_t s = fz_u8(f);
		uint32_t fl = d & 7;
		uint64_t size = (s & 0x3f) ? 1ull << (s & 0x3f) : 0;
		(void)pcicfg_set_bar(p, (d >> 3) % 7, size, fl);
	}

	/* Capabilities until the input says stop */
	for (unsigned i = 0; i < 16; i++) {
		uint8_t kind = fz_u8(f);
		if (kind == 0 || kind > 8)
			break;
		size_t len, wl;
		const uint8_t *body, *wm;
		switch (kind) {
		case 1:
			(void)pcicfg_add_pm(p);
			break;
		case 2: {
			uint8_t a = fz_u8(f);
			(void)pcicfg_add_msi(p, 1u << (a % 7), a & 0x80);
			break;
		}
		case 3: {
			uint16_t nvec = fz_u16(f) % 2100;
			uint8_t bars = fz_u8(f);
			uint32_t toff = fz_u16(f), poff = fz_u16(f);
			(void)pcicfg_add_msix(p, nvec, bars & 7, toff,
						 (bars >> 3) & 7, poff);
			break;
		}
		case 4:
			(void)pcicfg_add_pcie(p, fz_u8(f) & 0xf);
			break;
		case 5:
			body = fz_bytes(f, fz_u8(f) % 64, &len);
			(void)pcicfg_add_vendor(p, body, len);
			break;
		case 6:
			(void)pcicfg_add_dsn(p, fz_u64(f));
			break;
		case 7: {
			uint8_t id = fz_u8(f);
			body = fz_bytes(f, fz_u8(f) % 64, &len);
			wm = fz_bytes(f, len, &wl);
			(void)pcicfg_add_cap(p, id, body, len,
						wl == len ? wm : NULL);
			break;
		}
		case 8: {
			uint16_t id = fz_u16(f);
			body = fz_bytes(f, fz_u8(f) % 64, &len);
			wm = fz_bytes(f, len, &wl);
			(void)pcicfg_add_ext_cap(p, id, fz_u8(f) & 0xf, body,
						    len, wl == len ? wm : NULL);
			break;
		}
		}
	}
	memcpy(m->cfg0, p->cfg, sizeof(m->cfg0));
	memcpy(m->wmask0, p->wmask, sizeof(m->wmask0));
	memcpy(m->w1c0, p->w1cmask, sizeof(m->w1c0));
	m->ncaps = walk_std(p, m->caps);
	m->next = walk_ext(p, m->ext);
	/* The builders' own view: the bytes recorded for reset are the
	 * power-on ones. */
	for (unsigned i = 0; i < p->size; i++) {
		uint8_t wm = p->wmask[i] | p->w1cmask[i];
		FZ_CHECK((p->reset_cfg[i] & wm) == (p->cfg[i] & wm));
	}
	check_all(m, true);
}

static void op_read(struct model *m, uint32_t off, uint32_t len)
{
	uint8_t buf[16];
	memset(buf, 0xa5, sizeof(buf));
	pcicfg_cfg_read(&m->p, off, buf, len);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = (uint64_t)off + i;
		FZ_CHECK(buf[i] == (o < m->p.size ? m->p.cfg[o] : 0));
	}
}

static void op_write(struct model *m, uint32_t off, const uint8_t *val,
		     uint32_t len)
{
	uint8_t old[PCICFG_PCIE_CFG_SIZE];
	memcpy(old, m->p.cfg, sizeof(old));
	unsigned ev = pcicfg_cfg_write(&m->p, off, val, len);
	uint32_t size = m->p.size;
	uint32_t lo = off < size ? off : size;
	uint32_t hi = len < size - lo ? lo + len : size;
	/* nothing outside [off, off + len) changes */
	FZ_CHECK(!memcmp(m->p.cfg, old, lo));
	FZ_CHECK(!memcmp(m->p.cfg + hi, old + hi, size - hi));
	for (uint32_t i = lo; i < hi; i++) {
		uint8_t w1c = m->w1c0[i] & (uint8_t)~m->wmask0[i];
		/* a write may clear RW1C bits, never set them */
		FZ_CHECK((m->p.cfg[i] & w1c & ~old[i]) == 0);
	}
	check_ro(m, lo, hi);
	if (off < 6 && off + len > 4 && len)
		FZ_CHECK(ev & PCICFG_EV_COMMAND);
}

/* The sizing protocol on a BAR, as a guest's BIOS does it. */
static void op_size_bar(struct model *m, unsigned bar)
{
	struct pcicfg *p = &m->p;
	unsigned reg = bar == 6 ? 0x30 : 0x10 + 4 * bar;
	uint8_t save[4], ones[4] = { 0xff, 0xff, 0xff, 0xff }, got[4];
	uint64_t size = p->bar_size[bar];

	pcicfg_cfg_read(p, reg, save, 4);
	pcicfg_cfg_write(p, reg, ones, 4);
	pcicfg_cfg_read(p, reg, got, 4);
	uint32_t v = rd32(got);
	if (size && bar == 6) {
		FZ_CHECK(v == (((uint32_t)~(size - 1) & 0xfffff800u) | 1u));
	} else if (size && (p->bar_flags[bar] & PCICFG_BAR_IO)) {
		FZ_CHECK(v == (((uint32_t)~(size - 1) & ~3u) | 1u));
	} else if (size) {
		FZ_CHECK(v == (((uint32_t)~(size - 1) & ~0xfu) |
			       (m->cfg0[reg] & 0xfu)));
		if (p->bar_flags[bar] & PCICFG_BAR_MEM64) {
			uint8_t hs[4];
			pcicfg_cfg_read(p, reg + 4, hs, 4);
			pcicfg_cfg_write(p, reg + 4, ones, 4);
			pcicfg_cfg_read(p, reg + 4, got, 4);
			FZ_CHECK(rd32(got) == (uint32_t)(~(size - 1) >> 32));
			pcicfg_cfg_write(p, reg + 4, hs, 4);
		}
	} else if (!(bar >= 1 && bar <= 5 &&
		     (p->bar_flags[bar - 1] & PCICFG_BAR_MEM64) &&
		     p->bar_size[bar - 1])) {
		FZ_CHECK(v == 0); /* unimplemented BARs are hardwired to 0 */
	}
	pcicfg_cfg_write(p, reg, save, 4);
}

static void op_msix(struct model *m, struct fz *f)
{
	struct pcicfg *p = &m->p;
	uint8_t b = fz_u8(f);
	bool is_write = b & 1;
	bool pba = b & 2;
	static const uint32_t lens[4] = { 4, 8, 2, 5 };
	uint32_t len = lens[(b >> 2) & 3];
	uint64_t off = fz_u16(f);
	uint8_t buf[8];
	int err = 0, unmasked = -1;

	if (!p->msix_n)
		return;
	/* Aim at the table or the PBA most of the time */
	off = (pba ? p->msix_pba_off : p->msix_table_off) +
	      (off % (p->msix_n * 16u + 16)) - 8;
	unsigned bar = pba ? p->msix_pba_bar : p->msix_table_bar;
	memset(buf, 0, sizeof(buf));
	if (b & 0x10) {
		wr32(buf, fz_u32(f));
		wr32(buf + 4, fz_u32(f));
	}
	if (b & 0x20)
		pcicfg_msix_set_pending(p, fz_u16(f) % (p->msix_n + 2),
					   b & 0x40);

	bool hit = pcicfg_msix_access(p, bar, off, buf, len, is_write, &err,
					 &unmasked);
	if (!hit) {
		FZ_CHECK(err == 0 && unmasked == -1);
		return;
	}
	if (err) {
		FZ_CHECK(err == -EINVAL && (len % 4 || off % len));
		return;
	}
	FZ_CHECK(len == 4 || len == 8);
	FZ_CHECK(unmasked == -1 || (is_write && (unsigned)unmasked < p->msix_n));
	if (!is_write && !(bar == p->msix_table_bar &&
			   off >= p->msix_table_off &&
			   off < p->msix_table_off + p->msix_n * 16ull)) {
		/* PBA: the pending bits, nothing else */
		for (uint32_t i = 0; i < len * 8; i++) {
			uint64_t bit = (off - p->msix_pba_off) * 8 + i;
			bool set = buf[i / 8] >> (i % 8) & 1;
			FZ_CHECK(set == (bit < p->msix_n &&
					 pcicfg_msix_pending(p, (unsigned)bit)));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct model *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	setup(m, &f);

	for (unsigned step = 0; step < 256 && !fz_empty(&f); step++) {
		uint8_t op = fz_u8(&f);
		static const uint32_t lens[8] = { 1, 2, 4, 4, 1, 3, 8, 16 };
		uint32_t len = lens[(op >> 3) & 7];
		uint32_t off = fz_u16(&f) % (m->p.size + 16);
		uint8_t val[16];
		size_t got;
		const uint8_t *v;

		switch (op & 7) {
		case 0:
		case 1:
			op_read(m, off, len);
			break;
		case 2:
		case 3:
			v = fz_bytes(&f, len, &got);
			memset(val, 0, sizeof(val));
			memcpy(val, v, got);
			op_write(m, off, val, len);
			break;
		case 4:
			/* all ones at an aligned dword: BAR sizing and more */
			memset(val, 0xff, sizeof(val));
			op_write(m, off & ~3u, val, 4);
			break;
		case 5:
			op_size_bar(m, off % 7);
			break;
		case 6:
			op_msix(m, &f);
			break;
		case 7:
			pcicfg_reset(&m->p);
			FZ_CHECK(!memcmp(m->p.cfg, m->cfg0, m->p.size));
			for (unsigned i = 0; i < m->p.msix_n; i++)
				FZ_CHECK(pcicfg_msix_masked(&m->p, i) &&
					 !pcicfg_msix_pending(&m->p, i));
			break;
		}
		if ((op & 7) > 1) /* reads change nothing */
			check_all(m, (op & 7) > 3);
	}
	pcicfg_fini(&m->p);
	free(m);
	return 0;
}
