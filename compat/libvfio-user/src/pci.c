/* SPDX-License-Identifier: MIT */
/*
 * PCI identity and capabilities.  A capability is the device's bytes,
 * placed raw at the offset it asks for (native add_cap_at), with the
 * write masks libvfio-user gives the kinds it knows; the native library
 * then emulates config space as for its own.
 */
#include <string.h>

#include "priv.h"

int vfu_pci_init(vfu_ctx_t *ctx, vfu_pci_type_t type, int hdr_type,
		 int revision)
{
	if (lvu_check_setup(ctx))
		return -1;
	if (ctx->pci_inited || hdr_type != PCI_HEADER_TYPE_NORMAL ||
	    revision < 0 || revision > 0xff ||
	    (unsigned)type > VFU_PCI_TYPE_EXPRESS)
		return lvu_fail(EINVAL);
	/* PCI-X mode 2 and Express have 4 KiB config spaces. */
	bool big = type == VFU_PCI_TYPE_PCI_X_2 || type == VFU_PCI_TYPE_EXPRESS;
	int r = uvfio_server_set_pcie(ctx->srv, big);
	if (r)
		return lvu_fail(r);
	ctx->pci_inited = true;
	ctx->pci_type = type;
	ctx->ids.revision = (uint8_t)revision;
	return 0;
}

void vfu_pci_set_id(vfu_ctx_t *ctx, uint16_t vid, uint16_t did,
		    uint16_t ssvid, uint16_t ssid)
{
	if (!ctx)
		return;
	ctx->ids.vendor = vid;
	ctx->ids.device = did;
	ctx->ids.subsys_vendor = ssvid;
	ctx->ids.subsys = ssid;
	uvfio_server_set_pci_ids(ctx->srv, &ctx->ids);
}

void vfu_pci_set_class(vfu_ctx_t *ctx, uint8_t base, uint8_t sub, uint8_t pi)
{
	if (!ctx)
		return;
	ctx->ids.class_code = (uint32_t)base << 16 | (uint32_t)sub << 8 | pi;
	uvfio_server_set_pci_ids(ctx->srv, &ctx->ids);
}

vfu_pci_config_space_t *vfu_pci_get_config_space(vfu_ctx_t *ctx)
{
	if (!ctx) {
		errno = EINVAL;
		return NULL;
	}
	return (vfu_pci_config_space_t *)uvfio_server_config_space(ctx->srv);
}

/* ---- capabilities ------------------------------------------------------------ */

/* What the guest may write in each kind libvfio-user knows (bytes after
 * the 2-byte header); other bits are read-only. */
static void std_wmask(uint8_t id, uint8_t *w, size_t len)
{
	memset(w, 0, len);
	switch (id) {
	case PCI_CAP_ID_PM: /* PMCSR: power state, PME enable */
		if (len >= 4) {
			w[2] = 0x03;
			w[3] = 0x01;
		}
		break;
	case PCI_CAP_ID_MSI: /* control: enable, MME; address, data, mask */
		if (len >= 2) {
			w[0] = 0x71;
			memset(w + 2, 0xff, len - 2);
			w[2] &= 0xfc; /* dword-aligned address */
		}
		break;
	case PCI_CAP_ID_MSIX: /* control: function mask, enable */
		if (len >= 2)
			w[1] = 0xc0;
		break;
	case PCI_CAP_ID_EXP: /* device control (with Initiate FLR), link
			      * control, device control 2 */
		if (len >= 8) {
			w[6] = 0xff;
			w[7] = 0xff;
		}
		if (len >= 16) {
			w[14] = 0xff;
			w[15] = 0x0f;
		}
		if (len >= 40) {
			w[38] = 0xff;
			w[39] = 0xff;
		}
		break;
	}
}

/* Bytes of a standard capability, header included; 0 for ids we do not
 * know the size of. */
static size_t std_size(const uint8_t *cap)
{
	switch (cap[0]) {
	case PCI_CAP_ID_PM:
		return PCI_PM_SIZEOF;
	case PCI_CAP_ID_MSI: {
		uint16_t mc = (uint16_t)(cap[2] | cap[3] << 8);
		size_t n = mc & PCI_MSI_FLAGS_64BIT ? 14 : 10;
		return mc & PCI_MSI_FLAGS_MASKBIT ? n + 10 : n;
	}
	case PCI_CAP_ID_MSIX:
		return PCI_CAP_MSIX_SIZEOF;
	case PCI_CAP_ID_EXP:
		return VFIO_USER_PCI_CAP_EXP_SIZEOF;
	case PCI_CAP_ID_VNDR:
		return cap[2];
	}
	return 0;
}

static size_t ext_size(const uint8_t *cap)
{
	uint16_t id = (uint16_t)(cap[0] | cap[1] << 8);
	switch (id) {
	case PCI_EXT_CAP_ID_DSN:
		return PCI_EXT_CAP_DSN_SIZEOF;
	case PCI_EXT_CAP_ID_VNDR:
		return (size_t)(cap[6] >> 4 | cap[7] << 4);
	}
	return 0;
}

static ssize_t add_std(vfu_ctx_t *ctx, size_t pos, int flags,
		       const uint8_t *cap)
{
	size_t len = std_size(cap);
	if (len < 2 || len > 256)
		return -ENOTSUP;
	uint8_t wmask[256];
	std_wmask(cap[0], wmask, len - 2);
	if (flags & (VFU_CAP_FLAG_READONLY | VFU_CAP_FLAG_CALLBACK))
		memset(wmask, 0, sizeof(wmask));
	int r = uvfio_server_pci_add_cap_at(ctx->srv, (unsigned)pos, cap[0],
					    cap + 2, len - 2, wmask);
	if (r >= 0 && len > 0) {
		ctx->caps[ctx->ncaps] = (struct lvu_cap){
			(uint16_t)r, (uint16_t)len, flags };
		ctx->ncaps++;
	}
	return r;
}

static ssize_t add_ext(vfu_ctx_t *ctx, size_t pos, int flags,
		       const uint8_t *cap)
{
	size_t len = ext_size(cap);
	if (len < 4 || len > 4096 - 256)
		return -ENOTSUP;
	uint16_t id = (uint16_t)(cap[0] | cap[1] << 8);
	/* Extended kinds we know are read-only (DSN, vendor-specific). */
	int r = uvfio_server_pci_add_ext_cap_at(ctx->srv, (unsigned)pos, id,
						cap[2] & 0xf, cap + 4, len - 4,
						NULL);
	if (r >= 0) {
		ctx->caps[ctx->ncaps] = (struct lvu_cap){
			(uint16_t)r, (uint16_t)len, flags };
		ctx->ncaps++;
	}
	return r;
}

ssize_t vfu_pci_add_capability(vfu_ctx_t *ctx, size_t pos, int flags,
			       void *data)
{
	if (lvu_check_setup(ctx))
		return -1;
	const int known = VFU_CAP_FLAG_EXTENDED | VFU_CAP_FLAG_CALLBACK |
			  VFU_CAP_FLAG_READONLY;
	if (!data || (flags & ~known) || pos > 4096 ||
	    ((flags & VFU_CAP_FLAG_CALLBACK) && (flags & VFU_CAP_FLAG_READONLY)))
		return lvu_fail(EINVAL);
	if (ctx->ncaps == LVU_MAX_CAPS)
		return lvu_fail(ENOSPC);
	bool ext = flags & VFU_CAP_FLAG_EXTENDED;
	if (ext && ctx->pci_type != VFU_PCI_TYPE_EXPRESS &&
	    ctx->pci_type != VFU_PCI_TYPE_PCI_X_2)
		return lvu_fail(EINVAL);
	ssize_t r = ext ? add_ext(ctx, pos, flags, data)
			: add_std(ctx, pos, flags, data);
	if (r < 0) {
		vfu_log(ctx, LOG_ERR, "capability at %zu: %s", pos,
			r == -ENOTSUP ? "unknown kind" : strerror((int)-r));
		return lvu_fail((int)r);
	}
	return r;
}

/* ---- finding capabilities ------------------------------------------------------ */

static size_t next_std(const uint8_t *cfg, size_t pos, int id)
{
	/* At most 48 hops: a looping list must not hang us. */
	for (unsigned n = 0; pos && n < 48; n++, pos = cfg[pos + 1] & ~3u)
		if (id < 0 || cfg[pos] == id)
			return pos;
	return 0;
}

static size_t next_ext(const uint8_t *cfg, size_t pos, int id)
{
	for (unsigned n = 0; pos >= 0x100 && n < 960; n++) {
		uint32_t h = (uint32_t)(cfg[pos] | cfg[pos + 1] << 8 |
					cfg[pos + 2] << 16 |
					(uint32_t)cfg[pos + 3] << 24);
		if (h && (id < 0 || (int)(h & 0xffff) == id))
			return pos;
		pos = h >> 20 & ~3u;
	}
	return 0;
}

static size_t found(size_t pos)
{
	if (!pos)
		errno = ENOENT;
	return pos;
}

size_t vfu_pci_find_capability(vfu_ctx_t *ctx, bool extended, int cap_id)
{
	if (!ctx) {
		errno = EINVAL;
		return 0;
	}
	const uint8_t *cfg = uvfio_server_config_space(ctx->srv);
	if (extended) {
		if (!ctx->pci_inited || (ctx->pci_type != VFU_PCI_TYPE_EXPRESS &&
					 ctx->pci_type != VFU_PCI_TYPE_PCI_X_2)) {
			errno = EINVAL;
			return 0;
		}
		return found(next_ext(cfg, 0x100, cap_id));
	}
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return found(0);
	return found(next_std(cfg, cfg[PCI_CAPABILITY_LIST] & ~3u, cap_id));
}

size_t vfu_pci_find_next_capability(vfu_ctx_t *ctx, bool extended, size_t pos,
				    int cap_id)
{
	if (!ctx) {
		errno = EINVAL;
		return 0;
	}
	const uint8_t *cfg = uvfio_server_config_space(ctx->srv);
	/* pos must be a capability of the list. */
	size_t at = extended ? next_ext(cfg, 0x100, -1)
			     : next_std(cfg, cfg[PCI_CAPABILITY_LIST] & ~3u, -1);
	while (at && at != pos)
		at = extended ? next_ext(cfg, cfg[at + 2] >> 4 | cfg[at + 3] << 4,
					 -1)
			      : next_std(cfg, cfg[at + 1] & ~3u, -1);
	if (!at || !pos) {
		errno = EINVAL;
		return 0;
	}
	size_t next = extended ? (size_t)(cfg[pos + 2] >> 4 | cfg[pos + 3] << 4)
			       : (size_t)(cfg[pos + 1] & ~3u);
	if (!next)
		return found(0);
	return found(extended ? next_ext(cfg, next, cap_id)
			      : next_std(cfg, next, cap_id));
}
