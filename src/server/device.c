/* SPDX-License-Identifier: MIT */
/*
 * The device's description and the server's settings: ids, capabilities,
 * callbacks, limits, client quirks.  All of it is fixed once a client has
 * negotiated (s->described), except what says otherwise in server.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "priv.h"

int srv_copy_struct(void *ours, size_t ours_size, const void *src, size_t min)
{
	size_t n;
	memcpy(&n, src, sizeof(n)); /* struct_size leads every such struct */
	if (n < min || n > UVFIO_STRUCT_SIZE_MAX)
		return -EINVAL;
	/* A newer caller: what we do not know must be unused. */
	for (size_t i = ours_size; i < n; i++)
		if (((const uint8_t *)src)[i])
			return -E2BIG;
	memset(ours, 0, ours_size);
	memcpy(ours, src, n < ours_size ? n : ours_size);
	return 0;
}

int uvfio_server_set_socket_mode(struct uvfio_server *s, unsigned mode)
{
	if (mode & ~0777u)
		return -EINVAL;
	if (!s->path)
		return -ENOENT; /* created on an fd: the caller owns the file */
	return chmod(s->path, mode) < 0 ? -errno : 0;
}

int uvfio_server_set_dma_read_budget(struct uvfio_server *s, size_t bytes)
{
	if (bytes && (bytes < SRV_DMA_READ_BUDGET_MIN || bytes > UINT32_MAX))
		return -EINVAL;
	__atomic_store_n(&s->dma_read_budget,
			 bytes ? (uint32_t)bytes : SRV_DMA_READ_BUDGET, __ATOMIC_RELAXED);
	return 0;
}

void uvfio_server_set_dma_timeout(struct uvfio_server *s, unsigned timeout_ms)
{
	s->dma_timeout_ms = timeout_ms ? timeout_ms : SRV_DMA_TIMEOUT_MS;
}

void uvfio_server_set_log(struct uvfio_server *s, uvfio_log_fn fn,
			  void *opaque, int level)
{
	s->log.fn = fn;
	s->log.opaque = opaque;
	if (!s->log.env_level)
		s->log.level = level;
}

int uvfio_server_set_ops(struct uvfio_server *s,
			 const struct uvfio_device_ops *ops, void *opaque)
{
	struct uvfio_device_ops copy = { 0 };
	if (ops) {
		int r = srv_copy_struct(&copy, sizeof(copy), ops,
					SRV_FIELD_END(struct uvfio_device_ops,
						      irq_mask));
		if (r)
			return r;
	}
	s->ops = copy;
	s->ops_opaque = opaque;
	return 0;
}

int uvfio_server_set_client_quirks(struct uvfio_server *s,
				   enum uvfio_client_quirks quirks)
{
	if (quirks != UVFIO_QUIRKS_AUTO && quirks != UVFIO_QUIRKS_NONE &&
	    quirks != UVFIO_QUIRKS_QEMU)
		return -EINVAL;
	__atomic_store_n(&s->quirks, (uint32_t)quirks, __ATOMIC_RELAXED);
	return 0;
}

void uvfio_server_set_config_fn(struct uvfio_server *s, uvfio_config_fn fn,
				void *opaque)
{
	s->config_fn = fn;
	s->config_opaque = opaque;
}

int uvfio_server_set_pci_ids(struct uvfio_server *s,
			     const struct uvfio_pci_ids *ids)
{
	if (s->described)
		return -EBUSY;
	pcicfg_set_ids(&s->pci, ids);
	if (ids->irq_pin && !s->irqs[UVFIO_PCI_INTX_IRQ].count)
		return uvfio_server_set_irq_count(s, UVFIO_PCI_INTX_IRQ, 1);
	return 0;
}

uint8_t *uvfio_server_config_space(struct uvfio_server *s)
{
	return s->pci.cfg;
}

/* Capability builders: thin, but they also size the irq indexes. */
int uvfio_server_pci_add_pm(struct uvfio_server *s)
{
	return s->described ? -EBUSY : pcicfg_add_pm(&s->pci);
}

int uvfio_server_pci_add_msi(struct uvfio_server *s, unsigned nvec,
			     bool maskable)
{
	if (s->described)
		return -EBUSY;
	int off = pcicfg_add_msi(&s->pci, nvec, maskable);
	if (off >= 0) {
		int r = uvfio_server_set_irq_count(s, UVFIO_PCI_MSI_IRQ, nvec);
		if (r)
			return r;
	}
	return off;
}

int uvfio_server_pci_add_msix(struct uvfio_server *s, unsigned nvec,
			      unsigned table_bar, uint32_t table_off,
			      unsigned pba_bar, uint32_t pba_off)
{
	if (s->described)
		return -EBUSY;
	int off = pcicfg_add_msix(&s->pci, nvec, table_bar, table_off,
				     pba_bar, pba_off);
	if (off >= 0) {
		int r = uvfio_server_set_irq_count(s, UVFIO_PCI_MSIX_IRQ, nvec);
		if (!r)
			r = srv_regions_check_msix(s);
		if (r)
			return r;
	}
	return off;
}

int uvfio_server_pci_add_pcie(struct uvfio_server *s, unsigned port_type)
{
	return s->described ? -EBUSY : pcicfg_add_pcie(&s->pci, port_type);
}

int uvfio_server_pci_enable_flr(struct uvfio_server *s)
{
	return s->described ? -EBUSY : pcicfg_enable_flr(&s->pci);
}

int uvfio_server_pci_add_vendor(struct uvfio_server *s, const void *data,
				size_t len)
{
	return s->described ? -EBUSY : pcicfg_add_vendor(&s->pci, data, len);
}

int uvfio_server_pci_add_dsn(struct uvfio_server *s, uint64_t serial)
{
	return s->described ? -EBUSY : pcicfg_add_dsn(&s->pci, serial);
}

int uvfio_server_pci_add_cap(struct uvfio_server *s, uint8_t id,
			     const void *body, size_t len, const void *wmask)
{
	return s->described ? -EBUSY
			    : pcicfg_add_cap(&s->pci, id, body, len, wmask);
}

int uvfio_server_pci_add_ext_cap(struct uvfio_server *s, uint16_t id,
				 uint8_t version, const void *body, size_t len,
				 const void *wmask)
{
	return s->described ? -EBUSY
			    : pcicfg_add_ext_cap(&s->pci, id, version, body,
						    len, wmask);
}


int uvfio_server_pci_add_cap_at(struct uvfio_server *s, unsigned pos,
				uint8_t id, const void *body, size_t len,
				const void *wmask)
{
	return s->described ? -EBUSY
			    : pcicfg_add_cap_at(&s->pci, pos, id, body, len,
						wmask);
}

int uvfio_server_pci_add_ext_cap_at(struct uvfio_server *s, unsigned pos,
				    uint16_t id, uint8_t version,
				    const void *body, size_t len,
				    const void *wmask)
{
	return s->described ? -EBUSY
			    : pcicfg_add_ext_cap_at(&s->pci, pos, id, version,
						    body, len, wmask);
}

int uvfio_server_set_pcie(struct uvfio_server *s, bool pcie)
{
	if (s->described)
		return -EBUSY;
	int r = pcicfg_set_express(&s->pci, pcie);
	if (!r) {
		s->pcie = pcie;
		s->regions[UVFIO_PCI_CONFIG].d.size = s->pci.size;
	}
	return r;
}
