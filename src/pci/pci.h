/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration space emulation (internal).
 *
 * Holds the config bytes plus, per byte, a write mask (bits the guest may
 * change) and a write-1-to-clear mask (status bits).  BAR registers are
 * emulated so that sizing (write all ones, read back) reports the BAR's
 * size and type.  Capabilities are appended to the standard list (offsets
 * 0x40..0xff) or to the extended list (0x100.., PCI Express only).  MSI-X
 * table and PBA, which live in a BAR, are emulated here too so that all
 * interrupt-related state is in one place.
 *
 * Not thread-safe by itself; the server serialises access (the MSI-X
 * pending/mask queries used by irq_trigger take the server's irq lock).
 */
#ifndef UVFIO_PCI_H
#define UVFIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/server.h>

#define PCICFG_CFG_SIZE 256u
#define PCICFG_PCIE_CFG_SIZE 4096u
#define PCICFG_MAX_MSIX 2048u

/* BAR flags (pcicfg_set_bar) */
#define PCICFG_BAR_IO (1u << 0)       /* I/O space BAR */
#define PCICFG_BAR_MEM64 (1u << 1)    /* 64-bit memory BAR, uses bar+1 */
#define PCICFG_BAR_PREFETCH (1u << 2) /* prefetchable memory */

/* What a config write changed, returned by pcicfg_cfg_write(). */
#define PCICFG_EV_COMMAND (1u << 0) /* command register written */
#define PCICFG_EV_MSI (1u << 1)     /* MSI control/address/data written */
#define PCICFG_EV_MSIX (1u << 2)    /* MSI-X control (enable/mask-all) */
#define PCICFG_EV_BAR (1u << 3)     /* a BAR or the ROM BAR written */

/* struct uvfio_pci_ids is public: <uvfio/server.h> */

struct pcicfg {
	uint32_t size; /* 256 or 4096 */
	uint8_t cfg[PCICFG_PCIE_CFG_SIZE];
	uint8_t wmask[PCICFG_PCIE_CFG_SIZE];
	uint8_t w1cmask[PCICFG_PCIE_CFG_SIZE];
	uint64_t bar_size[7];   /* [6] = expansion ROM */
	uint32_t bar_flags[7];
	uint8_t next_cap;       /* next free offset in 0x40..0xff */
	uint8_t last_cap;       /* offset of the last standard cap, 0 none */
	uint16_t next_ext;      /* next free offset from 0x100 */
	uint16_t last_ext;      /* offset of the last extended cap, 0 none */
	uint8_t msi_off, msix_off, pcie_off, pm_off;

	/* MSI-X emulation: table of 16-byte entries and pending bits */
	uint32_t msix_n;
	uint8_t msix_table_bar, msix_pba_bar;
	uint32_t msix_table_off, msix_pba_off;
	uint8_t *msix_table; /* msix_n * 16 bytes */
	uint64_t *msix_pba;  /* ceil(msix_n / 64) words */

	/* Power-on value of every writable and RW1C bit, recorded by the
	 * builders, so that reset restores e.g. PCIe device control defaults
	 * and the writable bits of a caller's own capability. */
	uint8_t reset_cfg[PCICFG_PCIE_CFG_SIZE];
};

/* pcie: 4 KiB config space with extended capabilities.  Header type 0,
 * capability list empty.  Returns 0 or -ENOMEM (MSI-X tables later). */
int pcicfg_init(struct pcicfg *p, bool pcie);
void pcicfg_fini(struct pcicfg *p);

void pcicfg_set_ids(struct pcicfg *p, const struct uvfio_pci_ids *ids);

/* bar 0..5, or 6 for the expansion ROM (flags 0).  size: power of two,
 * at least 16 (memory) or 4 (I/O), or 0 to leave the BAR unimplemented.
 * MEM64 takes bar and bar+1 (bar must be even... 0..4).  -EINVAL otherwise. */
int pcicfg_set_bar(struct pcicfg *p, unsigned bar, uint64_t size,
		      uint32_t flags);

/*
 * Append a standard capability: id, then body (the bytes after the 2-byte
 * id/next header), len bytes.  wmask (len bytes, may be NULL = read-only)
 * says which body bits the guest may write.  Returns the capability's
 * config offset, or -ENOSPC when 0x40..0xff is full, -EINVAL.
 */
int pcicfg_add_cap(struct pcicfg *p, uint8_t id, const void *body,
		      size_t len, const void *wmask);
/* At config offset pos (0: the next free one); -EEXIST when pos is before
 * the end of the capabilities already there. */
int pcicfg_add_cap_at(struct pcicfg *p, unsigned pos, uint8_t id,
		      const void *body, size_t len, const void *wmask);
/* Extended capability (PCIe only): 4-byte header with id, version, next. */
int pcicfg_add_ext_cap(struct pcicfg *p, uint16_t id, uint8_t version,
			  const void *body, size_t len, const void *wmask);
int pcicfg_add_ext_cap_at(struct pcicfg *p, unsigned pos, uint16_t id,
			  uint8_t version, const void *body, size_t len,
			  const void *wmask);
/* Switch between 256 and 4096 bytes while no extended capability is
 * there: 0 or -EBUSY. */
int pcicfg_set_express(struct pcicfg *p, bool pcie);

/* Typed builders; each returns the capability offset or -errno. */
int pcicfg_add_pm(struct pcicfg *p);
/* nvec 1..32 (power of two); 64-bit address; per-vector masking. */
int pcicfg_add_msi(struct pcicfg *p, unsigned nvec, bool maskable);
/* nvec 1..2048; table and PBA in BARs (offsets 8-byte aligned). */
int pcicfg_add_msix(struct pcicfg *p, unsigned nvec, unsigned table_bar,
		       uint32_t table_off, unsigned pba_bar, uint32_t pba_off);
/* PCI Express capability v2, device/port type (0 = endpoint, 9 = RCiEP). */
int pcicfg_add_pcie(struct pcicfg *p, unsigned port_type);
int pcicfg_add_vendor(struct pcicfg *p, const void *data, size_t len);
/* Set FLReset in the PCIe capability: 0, or -ENOENT without one. */
int pcicfg_enable_flr(struct pcicfg *p);
/* A write of buf[0..len) at off would initiate an FLR: it sets Initiate
 * FLR in Device Control and the function advertises FLReset. */
bool pcicfg_flr_requested(const struct pcicfg *p, uint32_t off,
			  const void *buf, uint32_t len);
int pcicfg_add_dsn(struct pcicfg *p, uint64_t serial);

/* Config accesses from the client, any offset/length within size (the
 * caller checked bounds).  Writes honour wmask and w1cmask and BAR sizing;
 * return a mask of UVFIO_PCI_EV_* for what changed. */
void pcicfg_cfg_read(struct pcicfg *p, uint32_t off, void *buf,
			uint32_t len);
unsigned pcicfg_cfg_write(struct pcicfg *p, uint32_t off,
			     const void *buf, uint32_t len);

/* Back to power-on values: command, status bits, BARs, MSI/MSI-X control,
 * MSI-X table (all vectors masked) and PBA; identity and caps stay. */
void pcicfg_reset(struct pcicfg *p);

/* State the server needs. */
bool pcicfg_bus_master(const struct pcicfg *p);
bool pcicfg_intx_disabled(const struct pcicfg *p);
bool pcicfg_msi_enabled(const struct pcicfg *p);
unsigned pcicfg_msi_nvec(const struct pcicfg *p); /* enabled vectors */
bool pcicfg_msi_masked(const struct pcicfg *p, unsigned vec);
bool pcicfg_msix_enabled(const struct pcicfg *p);
/* Function mask or the vector's own mask bit. */
bool pcicfg_msix_masked(const struct pcicfg *p, unsigned vec);
/* Set or clear a vector's pending bit (PBA). */
void pcicfg_msix_set_pending(struct pcicfg *p, unsigned vec, bool on);
bool pcicfg_msix_pending(const struct pcicfg *p, unsigned vec);

/*
 * If [off, off+len) of BAR `bar` touches the MSI-X table or PBA, emulate
 * the access and return true (reads of the PBA return pending bits; writes
 * to the PBA are ignored; table writes store address/data/control, and
 * *unmasked is set to the first vector whose mask bit went from 1 to 0, or
 * -1).  Accesses must be 4 or 8 bytes, aligned, within one entry; others are
 * refused with -EINVAL through *err.  Returns false if not MSI-X space.
 */
bool pcicfg_msix_access(struct pcicfg *p, unsigned bar, uint64_t off,
			   void *buf, uint32_t len, bool is_write, int *err,
			   int *unmasked);

#endif
