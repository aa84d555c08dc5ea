/* SPDX-License-Identifier: MIT */
/*
 * uvfio-lspci [-v] [-x] SOCKET_PATH: show a vfio-user device the way
 * lspci shows a PCI function, followed by what only vfio-user knows
 * (negotiated protocol, region and irq layout).
 *
 * Everything shown comes from a server that may be buggy or hostile, so
 * every offset read out of config space is range-checked before use and
 * capability chains are walked with a loop detector and a hard limit.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/client.h>

#include "app.h"

#define PROG "uvfio-lspci"

/* Config space we look at: PCIe extended space ends at 4 KiB. */
#define CFG_STD 256u
#define CFG_EXT 4096u
#define MAX_STD_CAPS 48u
#define MAX_EXT_CAPS 64u
/* The client caches region info for this many indexes; a server claiming
 * more would only make us issue requests we cannot use. */
#define MAX_REGIONS 64u
#define MAX_IRQS 64u

struct dev {
	const char *path;
	struct uvfio_client *c;
	int verbose;
	int hex;

	struct uvfio_device_info di;
	unsigned nregions; /* regions we fetched: min(num_regions, MAX) */
	struct uvfio_region_info ri[MAX_REGIONS];

	bool have_cfg;
	size_t cfg_len; /* bytes read into cfg */
	uint8_t cfg[CFG_EXT];

	/* Library messages are held back so that each failure comes out as
	 * one line, and so that connect errors we explain better ourselves
	 * can be dropped. */
	char log[1024];
	size_t log_len;
};

/* ---- messages ---------------------------------------------------------- */

static void on_log(void *opaque, int level, const char *msg)
{
	struct dev *d = opaque;
	(void)level;
	size_t room = sizeof(d->log) - d->log_len;
	int n = snprintf(d->log + d->log_len, room, "%s%s",
			 d->log_len ? "; " : "", msg);
	if (n < 0)
		return;
	d->log_len += (size_t)n < room ? (size_t)n : room - 1;
}

static void flush_log(struct dev *d)
{
	if (!d->log_len)
		return;
	fflush(stdout);
	fprintf(stderr, PROG ": %s: %s\n", d->path, d->log);
	d->log_len = 0;
	d->log[0] = 0;
}

static void drop_log(struct dev *d)
{
	d->log_len = 0;
	d->log[0] = 0;
}

static int fail(struct dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct dev *d, const char *fmt, ...)
{
	va_list ap;
	flush_log(d);
	fprintf(stderr, PROG ": %s: ", d->path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* A request failed: say whether the server broke the protocol, went away,
 * or just refused this one request. */
static int fail_request(struct dev *d, int r, const char *what)
{
	fflush(stdout);
	if (r == -EPROTO || r == -EBADMSG || r == -EMSGSIZE)
		return fail(d, "protocol error");
	if (r == -ETIMEDOUT)
		return fail(d, "%s: no reply from the server in time", what);
	if (!uvfio_client_connected(d->c))
		return fail(d, "connection lost during %s: %s", what,
			    strerror(-r));
	return fail(d, "%s failed: %s", what, strerror(-r));
}

static void warn_line(const char *indent, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn_line(const char *indent, const char *fmt, ...)
{
	va_list ap;
	printf("%sWarning: ", indent);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- config space access -------------------------------------------------- */

/* Callers check bounds first; out-of-range reads yield 0 as a last line of
 * defence, never a read outside the buffer. */
static unsigned cfg8(const struct dev *d, unsigned off)
{
	return off < d->cfg_len ? d->cfg[off] : 0;
}

static unsigned cfg16(const struct dev *d, unsigned off)
{
	return cfg8(d, off) | cfg8(d, off + 1) << 8;
}

static uint32_t cfg32(const struct dev *d, unsigned off)
{
	return (uint32_t)cfg16(d, off) | (uint32_t)cfg16(d, off + 2) << 16;
}

static char pm(unsigned v, unsigned bit)
{
	return v & bit ? '+' : '-';
}

/* lspci's size notation: the largest unit that divides the size. */
static const char *size_str(uint64_t size, char *buf, size_t cap)
{
	static const char units[] = "KMGTPE";
	unsigned u = 0;

	if (size && !(size & 1023)) {
		while (!(size & 1023) && u < sizeof(units) - 1) {
			size >>= 10;
			u++;
		}
		snprintf(buf, cap, "%llu%c", (unsigned long long)size,
			 units[u - 1]);
	} else {
		snprintf(buf, cap, "%llu", (unsigned long long)size);
	}
	return buf;
}

/* ---- class names ------------------------------------------------------------ */

struct class_name {
	uint16_t code; /* base << 8 | sub; sub 0xff marks the base's name */
	const char *name;
};

static const struct class_name class_names[] = {
	{ 0x00ff, "Unclassified device" },
	{ 0x0000, "Non-VGA unclassified device" },
	{ 0x0001, "VGA compatible unclassified device" },
	{ 0x01ff, "Mass storage controller" },
	{ 0x0100, "SCSI storage controller" },
	{ 0x0101, "IDE interface" },
	{ 0x0104, "RAID bus controller" },
	{ 0x0105, "ATA controller" },
	{ 0x0106, "SATA controller" },
	{ 0x0107, "Serial Attached SCSI controller" },
	{ 0x0108, "Non-Volatile memory controller" },
	{ 0x02ff, "Network controller" },
	{ 0x0200, "Ethernet controller" },
	{ 0x0207, "Infiniband controller" },
	{ 0x03ff, "Display controller" },
	{ 0x0300, "VGA compatible controller" },
	{ 0x0302, "3D controller" },
	{ 0x04ff, "Multimedia controller" },
	{ 0x0400, "Multimedia video controller" },
	{ 0x0401, "Multimedia audio controller" },
	{ 0x0403, "Audio device" },
	{ 0x05ff, "Memory controller" },
	{ 0x0500, "RAM memory" },
	{ 0x0501, "FLASH memory" },
	{ 0x0502, "CXL" },
	{ 0x06ff, "Bridge" },
	{ 0x0600, "Host bridge" },
	{ 0x0601, "ISA bridge" },
	{ 0x0604, "PCI bridge" },
	{ 0x0607, "CardBus bridge" },
	{ 0x07ff, "Communication controller" },
	{ 0x0700, "Serial controller" },
	{ 0x0701, "Parallel controller" },
	{ 0x0702, "Multiport serial controller" },
	{ 0x0703, "Modem" },
	{ 0x08ff, "Generic system peripheral" },
	{ 0x0800, "PIC" },
	{ 0x0801, "DMA controller" },
	{ 0x0802, "Timer" },
	{ 0x0803, "RTC" },
	{ 0x0805, "SD Host controller" },
	{ 0x0806, "IOMMU" },
	{ 0x0880, "System peripheral" },
	{ 0x09ff, "Input device controller" },
	{ 0x0aff, "Docking station" },
	{ 0x0bff, "Processor" },
	{ 0x0cff, "Serial bus controller" },
	{ 0x0c00, "FireWire (IEEE 1394)" },
	{ 0x0c03, "USB controller" },
	{ 0x0c04, "Fibre Channel" },
	{ 0x0c05, "SMBus" },
	{ 0x0c09, "CANBUS" },
	{ 0x0dff, "Wireless controller" },
	{ 0x0eff, "Intelligent controller" },
	{ 0x0fff, "Satellite communications controller" },
	{ 0x10ff, "Encryption controller" },
	{ 0x11ff, "Signal processing controller" },
	{ 0x1100, "DPIO module" },
	{ 0x12ff, "Processing accelerators" },
	{ 0x13ff, "Non-Essential Instrumentation" },
	{ 0x40ff, "Coprocessor" },
	{ 0xffff, "Unassigned class" },
};

static const char *class_name(unsigned base, unsigned sub)
{
	const char *fallback = "Unknown class";
	for (size_t i = 0; i < sizeof(class_names) / sizeof(class_names[0]);
	     i++) {
		unsigned code = class_names[i].code;
		if (code >> 8 != base)
			continue;
		if ((code & 0xff) == sub && (base != 0xff || sub == 0xff))
			return class_names[i].name;
		if ((code & 0xff) == 0xff)
			fallback = class_names[i].name;
	}
	return fallback;
}

/* ---- standard header ---------------------------------------------------------- */

static void print_title(const struct dev *d)
{
	unsigned base = cfg8(d, 0x0b), sub = cfg8(d, 0x0a);
	unsigned progif = cfg8(d, 0x09);

	printf("vfio-user device at %s: %s [%02x%02x]: Vendor %04x Device %04x",
	       d->path, class_name(base, sub), base, sub, cfg16(d, 0x00),
	       cfg16(d, 0x02));
	if (cfg8(d, 0x08))
		printf(" (rev %02x)", cfg8(d, 0x08));
	if (progif)
		printf(" (prog-if %02x)", progif);
	putchar('\n');
}

static void print_control_status(const struct dev *d)
{
	static const char *const devsel[] = { "fast", "medium", "slow", "??" };
	unsigned cmd = cfg16(d, 0x04), st = cfg16(d, 0x06);

	printf("\tControl: I/O%c Mem%c BusMaster%c SpecCycle%c MemWINV%c "
	       "VGASnoop%c ParErr%c Stepping%c SERR%c FastB2B%c DisINTx%c\n",
	       pm(cmd, 1 << 0), pm(cmd, 1 << 1), pm(cmd, 1 << 2),
	       pm(cmd, 1 << 3), pm(cmd, 1 << 4), pm(cmd, 1 << 5),
	       pm(cmd, 1 << 6), pm(cmd, 1 << 7), pm(cmd, 1 << 8),
	       pm(cmd, 1 << 9), pm(cmd, 1 << 10));
	printf("\tStatus: Cap%c 66MHz%c UDF%c FastB2B%c ParErr%c DEVSEL=%s "
	       ">TAbort%c <TAbort%c <MAbort%c >SERR%c <PERR%c INTx%c\n",
	       pm(st, 1 << 4), pm(st, 1 << 5), pm(st, 1 << 6),
	       pm(st, 1 << 7), pm(st, 1 << 8), devsel[(st >> 9) & 3],
	       pm(st, 1 << 11), pm(st, 1 << 12), pm(st, 1 << 13),
	       pm(st, 1 << 14), pm(st, 1 << 15), pm(st, 1 << 3));
}

static uint64_t region_size(const struct dev *d, unsigned index)
{
	return index < d->nregions ? d->ri[index].size : 0;
}

/*
 * One line per implemented BAR.  The kind of BAR (I/O, 32/64-bit,
 * prefetchable) is what the device states in its BAR register; the size
 * is what the server says in GET_REGION_INFO, because sizing a BAR by
 * writing all-ones would change the device we only meant to look at.
 */
static void print_bars(const struct dev *d, unsigned nbars)
{
	char sz[32];

	for (unsigned i = 0; i < nbars; i++) {
		uint32_t bar = cfg32(d, 0x10 + 4 * i);
		uint64_t size = region_size(d, i);

		if (!size)
			continue;
		if (bar & 1) {
			uint32_t a = bar & ~3u;
			printf("\tRegion %u: I/O ports at ", i);
			if (a)
				printf("%04x", a);
			else
				printf("<unassigned>");
			printf(" [size=%s]\n", size_str(size, sz, sizeof(sz)));
			continue;
		}
		unsigned type = (bar >> 1) & 3;
		uint64_t a = bar & ~0xfu;
		bool is64 = type == 2;
		if (is64 && i + 1 < nbars)
			a |= (uint64_t)cfg32(d, 0x10 + 4 * (i + 1)) << 32;
		printf("\tRegion %u: Memory at ", i);
		if (a)
			printf("%08llx", (unsigned long long)a);
		else
			printf("<unassigned>");
		printf(" (%s, %sprefetchable) [size=%s]\n",
		       type == 0 ? "32-bit" : type == 1 ? "low-1M" :
		       type == 2 ? "64-bit" : "type 3",
		       bar & 8 ? "" : "non-", size_str(size, sz, sizeof(sz)));
		if (is64 && i + 1 >= nbars)
			warn_line("\t", "64-bit BAR %u has no upper half", i);
		else if (is64)
			i++; /* the upper half is not a BAR of its own */
	}
}

static void print_rom(const struct dev *d, unsigned reg)
{
	char sz[32];
	uint64_t size = region_size(d, UVFIO_PCI_ROM);
	uint32_t rom = cfg32(d, reg);

	if (!size)
		return;
	printf("\tExpansion ROM at ");
	if (rom & ~0x7ffu)
		printf("%08x", rom & ~0x7ffu);
	else
		printf("<unassigned>");
	printf("%s [size=%s]\n", rom & 1 ? "" : " [disabled]",
	       size_str(size, sz, sizeof(sz)));
}

/* ---- standard capabilities --------------------------------------------------- */

/* Whether len bytes of the capability at off lie in the standard space;
 * says so when they do not, so a short capability is visible. */
static bool cap_fits(const struct dev *d, unsigned off, unsigned len,
		     unsigned end)
{
	if (end > d->cfg_len)
		end = (unsigned)d->cfg_len;
	if (off + len <= end)
		return true;
	printf("\t\t<truncated: needs %u bytes, config space ends at %#x>\n",
	       len, end);
	return false;
}

static void cap_pm(const struct dev *d, unsigned off)
{
	static const unsigned aux_ma[] = { 0, 55, 100, 160, 220, 270, 320, 375 };
	unsigned pmc, csr;

	if (!cap_fits(d, off, 8, CFG_STD)) {
		printf("\tCapabilities: [%02x] Power Management\n", off);
		return;
	}
	pmc = cfg16(d, off + 2);
	csr = cfg16(d, off + 4);
	printf("\tCapabilities: [%02x] Power Management version %u\n", off,
	       pmc & 7);
	if (!d->verbose)
		return;
	printf("\t\tFlags: PMEClk%c DSI%c D1%c D2%c AuxCurrent=%umA "
	       "PME(D0%c,D1%c,D2%c,D3hot%c,D3cold%c)\n",
	       pm(pmc, 1 << 3), pm(pmc, 1 << 5), pm(pmc, 1 << 9),
	       pm(pmc, 1 << 10), aux_ma[(pmc >> 6) & 7], pm(pmc, 1 << 11),
	       pm(pmc, 1 << 12), pm(pmc, 1 << 13), pm(pmc, 1 << 14),
	       pm(pmc, 1 << 15));
	printf("\t\tStatus: D%u%s NoSoftRst%c PME-Enable%c DSel=%u DScale=%u "
	       "PME%c\n",
	       csr & 3, (csr & 3) == 3 ? "hot" : "", pm(csr, 1 << 3),
	       pm(csr, 1 << 8), (csr >> 9) & 0xf, (csr >> 13) & 3,
	       pm(csr, 1 << 15));
}

static void cap_msi(const struct dev *d, unsigned off)
{
	unsigned ctl = cfg16(d, off + 2);
	bool is64 = ctl & (1 << 7), maskable = ctl & (1 << 8);
	unsigned need = 10 + (is64 ? 4 : 0) + (maskable ? 10 : 0);

	printf("\tCapabilities: [%02x] MSI: Enable%c Count=%u/%u Maskable%c "
	       "64bit%c\n",
	       off, pm(ctl, 1), 1u << ((ctl >> 4) & 7), 1u << ((ctl >> 1) & 7),
	       maskable ? '+' : '-', is64 ? '+' : '-');
	if (!d->verbose || !cap_fits(d, off, need, CFG_STD))
		return;
	unsigned data_off = off + (is64 ? 0xc : 0x8);
	if (is64)
		printf("\t\tAddress: %08x%08x  Data: %04x\n",
		       cfg32(d, off + 8), cfg32(d, off + 4),
		       cfg16(d, data_off));
	else
		printf("\t\tAddress: %08x  Data: %04x\n", cfg32(d, off + 4),
		       cfg16(d, data_off));
	if (maskable)
		printf("\t\tMasking: %08x  Pending: %08x\n",
		       cfg32(d, data_off + 4), cfg32(d, data_off + 8));
}

static void cap_msix(const struct dev *d, unsigned off)
{
	if (!cap_fits(d, off, 12, CFG_STD)) {
		printf("\tCapabilities: [%02x] MSI-X\n", off);
		return;
	}
	unsigned ctl = cfg16(d, off + 2);
	uint32_t table = cfg32(d, off + 4), pba = cfg32(d, off + 8);

	printf("\tCapabilities: [%02x] MSI-X: Enable%c Count=%u Masked%c\n",
	       off, pm(ctl, 1 << 15), (ctl & 0x7ff) + 1, pm(ctl, 1 << 14));
	if (!d->verbose)
		return;
	printf("\t\tVector table: BAR=%u offset=%08x\n", table & 7,
	       table & ~7u);
	printf("\t\tPBA: BAR=%u offset=%08x\n", pba & 7, pba & ~7u);
}

static const char *pcie_type(unsigned t)
{
	switch (t) {
	case 0: return "Endpoint";
	case 1: return "Legacy Endpoint";
	case 4: return "Root Port";
	case 5: return "Upstream Port";
	case 6: return "Downstream Port";
	case 7: return "PCI-Express to PCI/PCI-X Bridge";
	case 8: return "PCI/PCI-X to PCI-Express Bridge";
	case 9: return "Root Complex Integrated Endpoint";
	case 10: return "Root Complex Event Collector";
	default: return "Unknown type";
	}
}

static const char *link_speed(unsigned s)
{
	static const char *const speeds[] = { "unknown", "2.5GT/s", "5GT/s",
					      "8GT/s", "16GT/s", "32GT/s",
					      "64GT/s" };
	return s < sizeof(speeds) / sizeof(speeds[0]) ? speeds[s] : "unknown";
}

static void pcie_link(const struct dev *d, unsigned off)
{
	static const char *const aspm_cap[] = { "not supported", "L0s", "L1",
						"L0s L1" };
	static const char *const aspm_ctl[] = { "Disabled", "L0s Enabled",
						"L1 Enabled",
						"L0s L1 Enabled" };
	uint32_t lcap = cfg32(d, off + 0x0c);
	unsigned lctl = cfg16(d, off + 0x10), lsta = cfg16(d, off + 0x12);

	printf("\t\tLnkCap:\tPort #%u, Speed %s, Width x%u, ASPM %s\n",
	       lcap >> 24, link_speed(lcap & 0xf), (lcap >> 4) & 0x3f,
	       aspm_cap[(lcap >> 10) & 3]);
	printf("\t\t\tClockPM%c Surprise%c LLActRep%c BwNot%c\n",
	       pm(lcap, 1 << 18), pm(lcap, 1 << 19), pm(lcap, 1 << 20),
	       pm(lcap, 1 << 21));
	printf("\t\tLnkCtl:\tASPM %s; RCB %u bytes, Disabled%c CommClk%c\n",
	       aspm_ctl[lctl & 3], lctl & (1 << 3) ? 128 : 64,
	       pm(lctl, 1 << 4), pm(lctl, 1 << 6));
	printf("\t\t\tExtSynch%c ClockPM%c AutWidDis%c BWInt%c AutBWInt%c\n",
	       pm(lctl, 1 << 7), pm(lctl, 1 << 8), pm(lctl, 1 << 9),
	       pm(lctl, 1 << 10), pm(lctl, 1 << 11));
	printf("\t\tLnkSta:\tSpeed %s, Width x%u\n", link_speed(lsta & 0xf),
	       (lsta >> 4) & 0x3f);
	printf("\t\t\tTrErr%c Train%c SlotClk%c DLActive%c BWMgmt%c "
	       "ABWMgmt%c\n",
	       pm(lsta, 1 << 10), pm(lsta, 1 << 11), pm(lsta, 1 << 12),
	       pm(lsta, 1 << 13), pm(lsta, 1 << 14), pm(lsta, 1 << 15));
}

static void cap_pcie(const struct dev *d, unsigned off)
{
	static const char *const l0s[] = { "<64ns", "<128ns", "<256ns",
					   "<512ns", "<1us", "<2us", "<4us",
					   "unlimited" };
	static const char *const l1[] = { "<1us", "<2us", "<4us", "<8us",
					  "<16us", "<32us", "<64us",
					  "unlimited" };
	static const char *const scale[] = { "", ".1", ".01", ".001" };

	if (!cap_fits(d, off, 4, CFG_STD)) {
		printf("\tCapabilities: [%02x] Express\n", off);
		return;
	}
	unsigned flags = cfg16(d, off + 2);
	unsigned type = (flags >> 4) & 0xf;
	/* Integrated endpoints and event collectors have no link. */
	bool link = type != 9 && type != 10;

	printf("\tCapabilities: [%02x] Express (v%u) %s, MSI %02x\n", off,
	       flags & 0xf, pcie_type(type), (flags >> 9) & 0x1f);
	if (!d->verbose || !cap_fits(d, off, link ? 0x14 : 0x0c, CFG_STD))
		return;

	uint32_t dcap = cfg32(d, off + 4);
	unsigned dctl = cfg16(d, off + 8), dsta = cfg16(d, off + 0x0a);
	unsigned pwr = (dcap >> 18) & 0xff, pscale = (dcap >> 26) & 3;
	/* Value 0xf0 and above with scale 0 mean "above 239 W"; showing the
	 * raw number is close enough for a device emulator. */
	char watts[16];
	if (pscale == 0 || pwr == 0)
		snprintf(watts, sizeof(watts), "%uW", pwr);
	else
		snprintf(watts, sizeof(watts), "%u%sW", pwr, scale[pscale]);

	printf("\t\tDevCap:\tMaxPayload %u bytes, PhantFunc %u, Latency L0s "
	       "%s, L1 %s\n",
	       128u << (dcap & 7), (dcap >> 3) & 3, l0s[(dcap >> 6) & 7],
	       l1[(dcap >> 9) & 7]);
	printf("\t\t\tExtTag%c RBE%c FLReset%c SlotPowerLimit %s\n",
	       pm(dcap, 1 << 5), pm(dcap, 1 << 15), pm(dcap, 1u << 28), watts);
	printf("\t\tDevCtl:\tCorrErr%c NonFatalErr%c FatalErr%c UnsupReq%c\n",
	       pm(dctl, 1 << 0), pm(dctl, 1 << 1), pm(dctl, 1 << 2),
	       pm(dctl, 1 << 3));
	printf("\t\t\tRlxdOrd%c ExtTag%c PhantFunc%c AuxPwr%c NoSnoop%c%s\n",
	       pm(dctl, 1 << 4), pm(dctl, 1 << 8), pm(dctl, 1 << 9),
	       pm(dctl, 1 << 10), pm(dctl, 1 << 11),
	       (dcap & (1u << 28)) ? (dctl & (1 << 15) ? " FLReset+"
						       : " FLReset-")
				   : "");
	printf("\t\t\tMaxPayload %u bytes, MaxReadReq %u bytes\n",
	       128u << ((dctl >> 5) & 7), 128u << ((dctl >> 12) & 7));
	printf("\t\tDevSta:\tCorrErr%c NonFatalErr%c FatalErr%c UnsupReq%c "
	       "AuxPwr%c TransPend%c\n",
	       pm(dsta, 1 << 0), pm(dsta, 1 << 1), pm(dsta, 1 << 2),
	       pm(dsta, 1 << 3), pm(dsta, 1 << 4), pm(dsta, 1 << 5));
	if (link)
		pcie_link(d, off);
}

static const char *std_cap_name(unsigned id)
{
	switch (id) {
	case 0x02: return "AGP";
	case 0x03: return "Vital Product Data";
	case 0x04: return "Slot ID";
	case 0x06: return "CompactPCI hot-swap";
	case 0x07: return "PCI-X";
	case 0x08: return "HyperTransport";
	case 0x0a: return "Debug port";
	case 0x0b: return "CompactPCI central resource control";
	case 0x0c: return "PCI Hot-plug";
	case 0x0d: return "Subsystem";
	case 0x0e: return "AGP 8x";
	case 0x0f: return "Secure device";
	case 0x12: return "SATA HBA";
	case 0x13: return "PCI Advanced Features";
	case 0x14: return "Enhanced Allocation";
	case 0x15: return "Flattening Portal Bridge";
	default: return NULL;
	}
}

static void std_cap(const struct dev *d, unsigned off, unsigned id)
{
	const char *name;

	switch (id) {
	case 0x01:
		cap_pm(d, off);
		return;
	case 0x05:
		cap_msi(d, off);
		return;
	case 0x09:
		printf("\tCapabilities: [%02x] Vendor Specific Information: "
		       "Len=%02x\n",
		       off, off + 2 < CFG_STD ? cfg8(d, off + 2) : 0);
		return;
	case 0x10:
		cap_pcie(d, off);
		return;
	case 0x11:
		cap_msix(d, off);
		return;
	}
	name = std_cap_name(id);
	if (name)
		printf("\tCapabilities: [%02x] %s\n", off, name);
	else
		printf("\tCapabilities: [%02x] Unknown id %02x\n", off, id);
}

/*
 * The chain is the server's data: a pointer can aim back at an earlier
 * capability, into the header, or past the end, and nothing obliges the
 * server to end the chain at all.  Each of those stops the walk with a
 * warning; the limit covers chains of distinct but endless-looking
 * capabilities (48 is what fits in 0x40..0xff at 4 bytes each).
 */
static void walk_std_caps(const struct dev *d, unsigned ptr_reg)
{
	uint8_t seen[CFG_STD / 4] = { 0 };
	unsigned end = d->cfg_len < CFG_STD ? (unsigned)d->cfg_len : CFG_STD;
	unsigned ptr = cfg8(d, ptr_reg) & ~3u, n = 0;

	while (ptr) {
		if (ptr < 0x40 || ptr + 2 > end) {
			warn_line("\t", "capability pointer %#04x is outside "
				  "0x40..%#x; chain broken", ptr, end - 1);
			return;
		}
		if (seen[ptr / 4]) {
			warn_line("\t", "capability chain loops back to [%02x]; "
				  "stopping", ptr);
			return;
		}
		if (n++ == MAX_STD_CAPS) {
			warn_line("\t", "more than %u capabilities; stopping",
				  MAX_STD_CAPS);
			return;
		}
		seen[ptr / 4] = 1;
		std_cap(d, ptr, cfg8(d, ptr));
		ptr = cfg8(d, ptr + 1) & ~3u;
	}
}

/* ---- extended capabilities ----------------------------------------------------- */

static const char *ext_cap_name(unsigned id)
{
	switch (id) {
	case 0x0000: return "Null";
	case 0x0001: return "Advanced Error Reporting";
	case 0x0002: return "Virtual Channel";
	case 0x0004: return "Power Budgeting";
	case 0x0005: return "Root Complex Link";
	case 0x0006: return "Root Complex Internal Link";
	case 0x0007: return "Root Complex Event Collector";
	case 0x0008: return "Multi-Function Virtual Channel";
	case 0x0009: return "Virtual Channel";
	case 0x000a: return "Root Complex Register Block";
	case 0x000c: return "Configuration Access Correlation";
	case 0x000d: return "Access Control Services";
	case 0x000e: return "Alternative Routing-ID Interpretation (ARI)";
	case 0x000f: return "Address Translation Service (ATS)";
	case 0x0010: return "Single Root I/O Virtualization (SR-IOV)";
	case 0x0011: return "Multi-Root I/O Virtualization (MR-IOV)";
	case 0x0012: return "Multicast";
	case 0x0013: return "Page Request Interface (PRI)";
	case 0x0015: return "Physical Resizable BAR";
	case 0x0016: return "Dynamic Power Allocation";
	case 0x0017: return "TPH Requester";
	case 0x0018: return "Latency Tolerance Reporting";
	case 0x0019: return "Secondary PCI Express";
	case 0x001b: return "Process Address Space ID (PASID)";
	case 0x001d: return "Downstream Port Containment";
	case 0x001e: return "L1 PM Substates";
	case 0x001f: return "Precision Time Measurement";
	case 0x0023: return "Designated Vendor-Specific";
	case 0x0024: return "VF Resizable BAR";
	case 0x0025: return "Data Link Feature";
	case 0x0026: return "Physical Layer 16.0 GT/s";
	case 0x0027: return "Lane Margining at the Receiver";
	case 0x002a: return "Physical Layer 32.0 GT/s";
	default: return NULL;
	}
}

static void ext_cap(const struct dev *d, unsigned off, uint32_t hdr)
{
	unsigned id = hdr & 0xffff, ver = (hdr >> 16) & 0xf;
	const char *name;

	printf("\tCapabilities: [%03x v%u] ", off, ver);
	switch (id) {
	case 0x0003:
		if (off + 12 > d->cfg_len) {
			printf("Device Serial Number <truncated>\n");
			return;
		}
		/* Printed most significant byte first, as the serial is
		 * usually written. */
		printf("Device Serial Number %02x-%02x-%02x-%02x-%02x-%02x-"
		       "%02x-%02x\n",
		       cfg8(d, off + 11), cfg8(d, off + 10), cfg8(d, off + 9),
		       cfg8(d, off + 8), cfg8(d, off + 7), cfg8(d, off + 6),
		       cfg8(d, off + 5), cfg8(d, off + 4));
		return;
	case 0x000b:
		if (off + 8 > d->cfg_len) {
			printf("Vendor Specific Information <truncated>\n");
			return;
		}
		uint32_t vh = cfg32(d, off + 4);
		printf("Vendor Specific Information: ID=%04x Rev=%u Len=%03x\n",
		       vh & 0xffff, (vh >> 16) & 0xf, vh >> 20);
		return;
	}
	name = ext_cap_name(id);
	if (name)
		printf("%s\n", name);
	else
		printf("Extended Capability ID %#06x\n", id);
}

static void walk_ext_caps(const struct dev *d)
{
	uint8_t seen[CFG_EXT / 4] = { 0 };
	unsigned off = 0x100, n = 0;
	uint32_t hdr = cfg32(d, off);

	/* All zeros or all ones at 0x100: no extended capabilities. */
	if (hdr == 0 || hdr == 0xffffffffu)
		return;
	while (off) {
		if (off < 0x100 || off + 4 > d->cfg_len) {
			warn_line("\t", "extended capability pointer %#05x is "
				  "outside 0x100..%#zx; chain broken", off,
				  d->cfg_len - 1);
			return;
		}
		if (seen[off / 4]) {
			warn_line("\t", "extended capability chain loops back "
				  "to [%03x]; stopping", off);
			return;
		}
		if (n++ == MAX_EXT_CAPS) {
			warn_line("\t", "more than %u extended capabilities; "
				  "stopping", MAX_EXT_CAPS);
			return;
		}
		seen[off / 4] = 1;
		hdr = cfg32(d, off);
		ext_cap(d, off, hdr);
		off = (hdr >> 20) & ~3u;
	}
}

/* ---- the PCI part ------------------------------------------------------------------ */

static void print_pci(const struct dev *d)
{
	unsigned htype = cfg8(d, 0x0e) & 0x7f;
	unsigned nbars = htype == 0 ? 6 : htype == 1 ? 2 : htype == 2 ? 1 : 0;

	print_title(d);
	if (d->cfg_len < 64) {
		warn_line("\t", "config space is only %zu bytes; header not "
			  "decoded", d->cfg_len);
		return;
	}
	if (htype == 0)
		printf("\tSubsystem: Vendor %04x Device %04x\n",
		       cfg16(d, 0x2c), cfg16(d, 0x2e));
	else
		printf("\tHeader type %02x (%s)\n", htype,
		       htype == 1 ? "PCI bridge" :
		       htype == 2 ? "CardBus bridge" : "unknown");
	if (d->verbose) {
		print_control_status(d);
		if (cfg8(d, 0x0c))
			printf("\tLatency: %u, Cache Line Size: %u bytes\n",
			       cfg8(d, 0x0d), cfg8(d, 0x0c) * 4);
		else
			printf("\tLatency: %u\n", cfg8(d, 0x0d));
	}
	unsigned pin = cfg8(d, 0x3d);
	if (pin)
		printf("\tInterrupt: pin %c\n",
		       pin <= 4 ? 'A' + pin - 1 : '?');
	print_bars(d, nbars);
	if (htype == 0)
		print_rom(d, 0x30);
	else if (htype == 1)
		print_rom(d, 0x38);

	/* CardBus bridges keep the capability pointer at 0x14. */
	if (cfg16(d, 0x06) & (1 << 4))
		walk_std_caps(d, htype == 2 ? 0x14 : 0x34);
	if (d->cfg_len >= CFG_EXT)
		walk_ext_caps(d);
}

static void hex_dump(const struct dev *d)
{
	size_t len = d->hex >= 4 ? d->cfg_len : d->hex >= 2 ? CFG_STD : 64;

	if (len > d->cfg_len)
		len = d->cfg_len;
	for (size_t off = 0; off < len; off += 16) {
		printf(off < 0x100 ? "%02zx:" : "%03zx:", off);
		for (size_t i = off; i < off + 16 && i < len; i++)
			printf(" %02x", d->cfg[i]);
		putchar('\n');
	}
}

/* ---- the vfio-user part ------------------------------------------------------------ */

/* Regions beyond the PCI ones are known only by their TYPE capability. */
static const char *region_name(const struct dev *d, unsigned i,
			       const struct uvfio_region_caps *caps, char *buf,
			       size_t cap)
{
	static const char *const pci[] = { "BAR0", "BAR1", "BAR2", "BAR3",
					   "BAR4", "BAR5", "ROM", "CONFIG",
					   "VGA" };
	if ((d->di.flags & UVFIO_DEV_PCI) && i < sizeof(pci) / sizeof(pci[0]))
		return pci[i];
	if (caps && caps->has_type)
		snprintf(buf, cap, "region %u, type %#x subtype %#x", i,
			 caps->type, caps->subtype);
	else
		snprintf(buf, cap, "region %u", i);
	return buf;
}

static int print_regions(struct dev *d)
{
	char nb[64], sz[32];

	for (unsigned i = 0; i < d->nregions; i++) {
		const struct uvfio_region_info *ri = &d->ri[i];

		if (!ri->size && !d->verbose)
			continue;
		const struct uvfio_region_caps *caps = NULL;
		if (ri->flags & UVFIO_REGION_CAPS) {
			caps = uvfio_client_region_caps(d->c, i);
			if (!caps)
				return fail_request(d, -EPROTO,
						    "GET_REGION_INFO");
		}
		const char *name = region_name(d, i, caps, nb, sizeof(nb));
		if (!ri->size && !ri->flags) {
			printf("\t\tRegion %u (%s): unused\n", i, name);
			continue;
		}
		printf("\t\tRegion %u (%s): size %#llx [%s], flags", i, name,
		       (unsigned long long)ri->size,
		       size_str(ri->size, sz, sizeof(sz)));
		if (!(ri->flags & (UVFIO_REGION_READ | UVFIO_REGION_WRITE |
				   UVFIO_REGION_MMAP)))
			printf(" none");
		if (ri->flags & UVFIO_REGION_READ)
			printf(" READ");
		if (ri->flags & UVFIO_REGION_WRITE)
			printf(" WRITE");
		if (ri->flags & UVFIO_REGION_MMAP)
			printf(" MMAP");
		uint32_t other = ri->flags & ~(UVFIO_REGION_READ |
					       UVFIO_REGION_WRITE |
					       UVFIO_REGION_MMAP |
					       UVFIO_REGION_CAPS);
		if (other)
			printf(" %#x", other);
		putchar('\n');

		if (!caps)
			continue;
		/* Named by type already unless it is one of the PCI ones. */
		if (caps->has_type && name != nb)
			printf("\t\t\tType: %#x, subtype %#x\n", caps->type,
			       caps->subtype);
		if (caps->msix_mappable)
			printf("\t\t\tMSI-X table may be mmapped\n");
		if (caps->has_sparse && !caps->nr_areas)
			printf("\t\t\tSparse mmap: no areas (nothing mmap-able)\n");
		for (uint32_t a = 0; d->verbose && caps->has_sparse &&
				     a < caps->nr_areas; a++) {
			struct uvfio_sparse_area sa;
			memcpy(&sa, caps->areas + a * sizeof(sa), sizeof(sa));
			printf("\t\t\tSparse mmap area: offset 0x%llx, size 0x%llx "
			       "[%s]\n",
			       (unsigned long long)sa.offset,
			       (unsigned long long)sa.size,
			       size_str(sa.size, sz, sizeof(sz)));
		}
		if (!d->verbose && caps->has_sparse && caps->nr_areas)
			printf("\t\t\tSparse mmap: %u area%s\n", caps->nr_areas,
			       caps->nr_areas == 1 ? "" : "s");
	}
	if (d->di.num_regions > d->nregions)
		warn_line("\t\t", "server reports %u regions; only the first %u "
			  "are shown", d->di.num_regions, d->nregions);
	return 0;
}

static int print_irqs(struct dev *d)
{
	static const char *const pci[] = { "INTx", "MSI", "MSI-X", "ERR",
					   "REQ" };
	unsigned n = d->di.num_irqs < MAX_IRQS ? d->di.num_irqs : MAX_IRQS;

	for (unsigned i = 0; i < n; i++) {
		struct uvfio_irq_info ii;
		char what[48];
		int r;

		snprintf(what, sizeof(what), "GET_IRQ_INFO for index %u", i);
		if ((r = uvfio_client_get_irq_info(d->c, i, &ii)))
			return fail_request(d, r, what);
		if (!ii.count && !d->verbose)
			continue;
		if ((d->di.flags & UVFIO_DEV_PCI) &&
		    i < sizeof(pci) / sizeof(pci[0]))
			printf("\t\tIRQ index %u (%s): count %u, flags", i, pci[i],
			       ii.count);
		else
			printf("\t\tIRQ index %u: count %u, flags", i, ii.count);
		if (!(ii.flags & (UVFIO_IRQ_INFO_EVENTFD |
				  UVFIO_IRQ_INFO_MASKABLE |
				  UVFIO_IRQ_INFO_AUTOMASKED |
				  UVFIO_IRQ_INFO_NORESIZE)))
			printf(" none");
		if (ii.flags & UVFIO_IRQ_INFO_EVENTFD)
			printf(" EVENTFD");
		if (ii.flags & UVFIO_IRQ_INFO_MASKABLE)
			printf(" MASKABLE");
		if (ii.flags & UVFIO_IRQ_INFO_AUTOMASKED)
			printf(" AUTOMASKED");
		if (ii.flags & UVFIO_IRQ_INFO_NORESIZE)
			printf(" NORESIZE");
		putchar('\n');
	}
	if (d->di.num_irqs > n)
		warn_line("\t\t", "server reports %u irq indexes; only the first "
			  "%u are shown", d->di.num_irqs, n);
	return 0;
}

static int print_vfio_user(struct dev *d)
{
	const struct uvfio_caps *caps = uvfio_client_server_caps(d->c);
	int minor = uvfio_client_version_minor(d->c);

	printf("\tvfio-user:\n");
	if (!caps || minor < 0)
		return fail_request(d, -ENOTCONN, "reading the negotiation");
	printf("\t\tProtocol: %u.%d\n", UVFIO_VERSION_MAJOR, minor);
	if (d->verbose) {
		printf("\t\tServer: max_msg_fds %u, max_data_xfer_size %u, "
		       "max_dma_maps %u, pgsizes %#llx\n",
		       caps->max_msg_fds, caps->max_data_xfer_size,
		       caps->max_dma_maps, (unsigned long long)caps->pgsizes);
		printf("\t\t\tWriteMultiple%c TwinSocket%c Migration%c\n",
		       caps->write_multiple ? '+' : '-',
		       uvfio_client_has_twin_socket(d->c) ? '+' : '-',
		       caps->present & UVFIO_CAP_HAS_MIGRATION ? '+' : '-');
	}
	printf("\t\tDevice: PCI%c RESET%c, %u regions, %u irq indexes\n",
	       pm(d->di.flags, UVFIO_DEV_PCI), pm(d->di.flags, UVFIO_DEV_RESET),
	       d->di.num_regions, d->di.num_irqs);
	if (print_regions(d))
		return 1;
	return print_irqs(d);
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [-v] [-x] SOCKET_PATH\n"
		"\n"
		"Show the vfio-user device served on SOCKET_PATH the way lspci\n"
		"shows a PCI function: identity, command and status, BARs and\n"
		"capabilities from its config space, then the vfio-user view:\n"
		"protocol version, server limits, regions and irq indexes.\n"
		"\n"
		"  -v, --verbose  decode everything (like lspci -vv)\n"
		"  -x, --hex      hex dump of the first 64 bytes of config\n"
		"                 space; -xx or -xxx: 256 bytes, -xxxx: all\n"
		"  -h, --help     show this help and exit\n");
}

/* Explain why we could not talk to the server at all. */
static int connect_failed(struct dev *d, int r)
{
	if (app_connect_error(PROG, d->path, r)) {
		drop_log(d); /* the library's words for the same thing */
		return 1;
	}
	switch (r) {
	case -EPROTO:
	case -EBADMSG:
	case -EMSGSIZE:
		return fail(d, "protocol error");
	case -ETIMEDOUT:
		return fail(d, "the server did not answer VERSION in time");
	default:
		return fail(d, "cannot connect: %s", strerror(-r));
	}
}

static int load(struct dev *d)
{
	int r;

	if ((r = uvfio_client_get_device_info(d->c, &d->di)))
		return fail_request(d, r, "DEVICE_GET_INFO");
	d->nregions = d->di.num_regions < MAX_REGIONS ? d->di.num_regions
						       : MAX_REGIONS;
	for (unsigned i = 0; i < d->nregions; i++) {
		char what[48];
		snprintf(what, sizeof(what), "GET_REGION_INFO for region %u", i);
		if ((r = uvfio_client_get_region_info(d->c, i, &d->ri[i])))
			return fail_request(d, r, what);
	}
	if (!(d->di.flags & UVFIO_DEV_PCI) || d->nregions <= UVFIO_PCI_CONFIG ||
	    !d->ri[UVFIO_PCI_CONFIG].size)
		return 0;
	if (!(d->ri[UVFIO_PCI_CONFIG].flags & UVFIO_REGION_READ))
		return fail(d, "the config space region is not readable");
	d->cfg_len = d->ri[UVFIO_PCI_CONFIG].size < CFG_EXT
			     ? (size_t)d->ri[UVFIO_PCI_CONFIG].size
			     : CFG_EXT;
	if ((r = uvfio_client_region_read(d->c, UVFIO_PCI_CONFIG, 0, d->cfg,
					  d->cfg_len)))
		return fail_request(d, r, "reading config space");
	d->have_cfg = true;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "hex", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct dev d; /* 4 KiB of config space: keep it off the stack */
	int opt, r;

	while ((opt = getopt_long(argc, argv, "vxh", opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			d.verbose++;
			break;
		case 'x':
			d.hex++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": give exactly one SOCKET_PATH\n");
		usage(stderr);
		return 2;
	}
	d.path = argv[optind];

	if ((r = uvfio_client_create(&d.c))) {
		fprintf(stderr, PROG ": %s\n", strerror(-r));
		return 1;
	}
	uvfio_client_set_log(d.c, on_log, &d, UVFIO_LOG_WARN);

	if ((r = uvfio_client_connect(d.c, d.path))) {
		r = connect_failed(&d, r);
		goto out;
	}
	if ((r = load(&d)))
		goto out;

	if (d.have_cfg)
		print_pci(&d);
	else
		printf("vfio-user device at %s: %s device\n", d.path,
		       d.di.flags & UVFIO_DEV_PCI ? "PCI (no config space)"
						  : "non-PCI");
	r = print_vfio_user(&d);
	if (!r && d.hex && d.have_cfg) {
		hex_dump(&d);
	}
	if (!r)
		putchar('\n');
	/* Warnings the library logged without failing anything. */
	flush_log(&d);
out:
	uvfio_client_destroy(d.c);
	return r;
}
