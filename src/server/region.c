/* SPDX-License-Identifier: MIT */
/*
 * Regions: description, GET_REGION_INFO (argsz protocol, sparse mmap and
 * type capabilities, the region fd), REGION_READ/WRITE and WRITE_MULTI
 * (config space, MSI-X table and PBA, library memory, device callbacks),
 * GET_REGION_IO_FDS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "priv.h"
#include "util/util.h"

#define MAX_SPARSE 64u       /* mmap-able areas of one region */
#define PAGE 4096u           /* mmap granularity of MEM regions */
#define MSIX_ENTRY_SIZE 16u  /* one MSI-X table entry */
#define PBA_WORD_BITS 64u    /* the PBA is made of 64-bit words */
#define IOEVENTFD_MAX_LEN 8u /* the widest write KVM matches */
/* Our duplicates never take fds 0-2: a program that closed stdio must not
 * find a device's eventfd there. */
#define FIRST_OWN_FD 3
/* Capabilities of one GET_REGION_INFO reply: sparse areas and type. */
#define REGION_CAPS_MAX                                            \
	(sizeof(struct uvfio_cap_sparse_mmap) +                    \
	 MAX_SPARSE * sizeof(struct uvfio_sparse_area) +           \
	 sizeof(struct uvfio_cap_type))

int srv_regions_init(struct uvfio_server *s)
{
	s->num_regions = UVFIO_PCI_NUM_REGIONS;
	for (unsigned i = 0; i < SRV_MAX_REGIONS; i++)
		s->regions[i].memfd = -1;
	struct srv_region *cfg = &s->regions[UVFIO_PCI_CONFIG];
	cfg->present = true;
	cfg->d.size = s->pci.size;
	cfg->d.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE;
	return 0;
}

static void region_clear(struct srv_region *r)
{
	if (r->mem)
		munmap(r->mem, r->d.size);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r->sparse);
	memset(r, 0, sizeof(*r));
	r->memfd = -1;
}

void srv_regions_fini(struct uvfio_server *s)
{
	for (unsigned i = 0; i < SRV_MAX_REGIONS; i++)
		if (i != UVFIO_PCI_CONFIG)
			region_clear(&s->regions[i]);
	for (unsigned i = 0; i < s->n_iofds; i++) {
		close(s->iofds[i].fd);
		if (s->iofds[i].shadow_fd >= 0)
			close(s->iofds[i].shadow_fd);
	}
	free(s->iofds);
	s->iofds = NULL;
	s->n_iofds = 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Mappable areas must never expose the emulated MSI-X table or PBA. */
static bool sparse_hits_msix(struct uvfio_server *s, unsigned index,
			     const struct uvfio_sparse_area *a, unsigned n,
			     uint64_t size)
{
	const struct pcicfg *p = &s->pci;
	if (!p->msix_n)
		return false;
	struct uvfio_sparse_area whole = { 0, size };
	if (!n) {
		a = &whole;
		n = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (p->msix_table_bar == index &&
		    ranges_overlap(a[i].offset, a[i].size, p->msix_table_off,
				   (uint64_t)MSIX_ENTRY_SIZE * p->msix_n))
			return true;
		if (p->msix_pba_bar == index &&
		    ranges_overlap(a[i].offset, a[i].size, p->msix_pba_off,
				   sizeof(uint64_t) *
					   ((p->msix_n + PBA_WORD_BITS - 1) /
					    PBA_WORD_BITS)))
			return true;
	}
	return false;
}

int srv_regions_check_msix(struct uvfio_server *s)
{
	for (unsigned i = 0; i < s->num_regions; i++) {
		struct srv_region *r = &s->regions[i];
		if (r->present && r->memfd >= 0 &&
		    sparse_hits_msix(s, i, r->sparse, r->d.nr_sparse, r->d.size)) {
			ulog_err(&s->log, "region %u: mmap-able area covers the "
					   "MSI-X table or PBA; list sparse "
					   "areas that leave them out", i);
			return -EINVAL;
		}
	}
	return 0;
}

/* A description we can serve: 0 or -EINVAL. */
static int check_desc(struct uvfio_server *s, unsigned index,
		      const struct uvfio_region_desc *d)
{
	const uint32_t known = UVFIO_REGION_READ | UVFIO_REGION_WRITE |
			       UVFIO_REGION_MEM | UVFIO_REGION_IO |
			       UVFIO_REGION_64BIT | UVFIO_REGION_PREFETCH |
			       UVFIO_REGION_FD;
	const uint32_t mappable = UVFIO_REGION_MEM | UVFIO_REGION_FD;
	if ((d->flags & ~known) || d->nr_sparse > MAX_SPARSE ||
	    (d->nr_sparse && !d->sparse))
		return -EINVAL;
	bool bar = index < UVFIO_PCI_ROM;
	if (bar && d->size && !util_is_pow2(d->size))
		return -EINVAL; /* BARs are naturally sized */
	if ((d->flags & UVFIO_REGION_IO) &&
	    (d->flags & (mappable | UVFIO_REGION_64BIT |
			 UVFIO_REGION_PREFETCH)))
		return -EINVAL;
	if ((d->flags & mappable) == mappable)
		return -EINVAL; /* our memory or the device's, not both */
	if ((d->flags & UVFIO_REGION_FD) &&
	    (d->fd < 0 || d->fd_offset % PAGE ||
	     d->fd_offset > UINT64_MAX - d->size))
		return -EINVAL;
	if ((d->flags & (UVFIO_REGION_64BIT | UVFIO_REGION_PREFETCH |
			 UVFIO_REGION_IO)) && !bar)
		return -EINVAL;
	if ((d->flags & UVFIO_REGION_64BIT) &&
	    (index % 2 || s->regions[index + 1].present))
		return -EINVAL;
	if (!(d->flags & mappable))
		return d->nr_sparse ? -EINVAL : 0; /* only memory is mapped */
	if (!d->size || d->size % PAGE)
		return -EINVAL;
	for (unsigned i = 0; i < d->nr_sparse; i++) {
		const struct uvfio_sparse_area *a = &d->sparse[i];
		if (a->offset % PAGE || a->size % PAGE || !a->size ||
		    a->offset > d->size || a->size > d->size - a->offset)
			return -EINVAL;
	}
	if (sparse_hits_msix(s, index, d->sparse, d->nr_sparse, d->size)) {
		ulog_err(&s->log, "region %u: mmap-able area covers the "
				   "MSI-X table or PBA", index);
		return -EINVAL;
	}
	return 0;
}

/* BARs and the ROM: their sizing and type bits in config space. */
static int region_set_bar(struct uvfio_server *s, unsigned index,
			  const struct uvfio_region_desc *d)
{
	if (index > UVFIO_PCI_ROM)
		return 0;
	uint32_t bf = 0;
	if (d->flags & UVFIO_REGION_IO)
		bf |= PCICFG_BAR_IO;
	if (d->flags & UVFIO_REGION_64BIT)
		bf |= PCICFG_BAR_MEM64;
	if (d->flags & UVFIO_REGION_PREFETCH)
		bf |= PCICFG_BAR_PREFETCH;
	return pcicfg_set_bar(&s->pci, index, d->size, bf);
}

/* Our own copies: the sparse areas, and the memory of a MEM region. */
static int region_build(struct srv_region *n, const struct uvfio_region_desc *d)
{
	*n = (struct srv_region){ .present = true, .d = *d, .memfd = -1 };
	if (d->nr_sparse) {
		n->sparse = malloc(d->nr_sparse * sizeof(*n->sparse));
		if (!n->sparse)
			return -ENOMEM;
		memcpy(n->sparse, d->sparse, d->nr_sparse * sizeof(*n->sparse));
	}
	n->d.sparse = n->sparse;
	if (d->flags & UVFIO_REGION_FD) {
		/* Ours to pass and close, whatever the device does with its
		 * own. */
		n->memfd = fcntl(d->fd, F_DUPFD_CLOEXEC, 3);
		if (n->memfd < 0)
			goto fail;
		return 0;
	}
	if (!(d->flags & UVFIO_REGION_MEM))
		return 0;
	n->memfd = memfd_create("uvfio-region", MFD_CLOEXEC);
	if (n->memfd < 0 || ftruncate(n->memfd, (off_t)d->size) < 0)
		goto fail;
	n->mem = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      n->memfd, 0);
	if (n->mem == MAP_FAILED) {
		n->mem = NULL;
		goto fail;
	}
	return 0;
fail:;
	int err = -errno;
	region_clear(n);
	return err;
}

int uvfio_server_add_region(struct uvfio_server *s, unsigned index,
			    const struct uvfio_region_desc *desc)
{
	struct uvfio_region_desc d;
	struct srv_region n;

	if (s->described)
		return -EBUSY;
	if (!desc || index >= SRV_MAX_REGIONS || index == UVFIO_PCI_CONFIG)
		return -EINVAL;
	int r = srv_copy_struct(&d, sizeof(d), desc,
				SRV_FIELD_END(struct uvfio_region_desc, subtype));
	if (!r)
		r = check_desc(s, index, &d);
	if (!r)
		r = region_set_bar(s, index, &d);
	if (!r)
		r = region_build(&n, &d);
	if (r)
		return r;
	/* Its ioeventfds stay with the index. */
	n.n_iofds = s->regions[index].n_iofds;
	region_clear(&s->regions[index]);
	s->regions[index] = n;
	if (index >= s->num_regions)
		s->num_regions = index + 1;
	return 0;
}

int uvfio_server_setup_region(struct uvfio_server *s, unsigned index,
			      uint64_t size, uint32_t flags, uvfio_region_fn fn,
			      void *opaque)
{
	struct uvfio_region_desc d = {
		.struct_size = sizeof(d),
		.size = size, .flags = flags, .fn = fn, .opaque = opaque
	};
	return uvfio_server_add_region(s, index, &d);
}

void *uvfio_server_region_mem(struct uvfio_server *s, unsigned index)
{
	return index < SRV_MAX_REGIONS ? s->regions[index].mem : NULL;
}

static int add_ioeventfd(struct uvfio_server *s, unsigned index,
			 uint64_t offset, uint64_t size, int fd,
			 bool has_datamatch, uint64_t datamatch, int shadow_fd,
			 uint64_t shadow_offset)
{
	if (s->described)
		return -EBUSY;
	if (index >= s->num_regions || !s->regions[index].present ||
	    offset > s->regions[index].d.size ||
	    size > s->regions[index].d.size - offset ||
	    size > IOEVENTFD_MAX_LEN || fd < 0)
		return -EINVAL;
	struct srv_region *rg = &s->regions[index];
	if (rg->n_iofds >= SRV_MAX_REGION_IOEVENTFDS)
		return -ENOSPC; /* one reply must carry them all */
	struct srv_ioeventfd *n =
		realloc(s->iofds, (s->n_iofds + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->iofds = n;
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, FIRST_OWN_FD);
	if (dup < 0)
		return -errno;
	int sdup = -1;
	if (shadow_fd >= 0) {
		sdup = fcntl(shadow_fd, F_DUPFD_CLOEXEC, FIRST_OWN_FD);
		if (sdup < 0) {
			int err = -errno;
			close(dup);
			return err;
		}
	}
	s->iofds[s->n_iofds++] = (struct srv_ioeventfd){
		index, offset, size, dup, has_datamatch, datamatch, sdup,
		shadow_offset
	};
	rg->n_iofds++;
	return 0;
}

int uvfio_server_add_ioeventfd(struct uvfio_server *s, unsigned index,
			       uint64_t offset, uint64_t size, int fd,
			       bool has_datamatch, uint64_t datamatch)
{
	return add_ioeventfd(s, index, offset, size, fd, has_datamatch,
			     datamatch, -1, 0);
}

int uvfio_server_add_ioeventfd_shadow(struct uvfio_server *s, unsigned index,
				      uint64_t offset, uint64_t size, int fd,
				      bool has_datamatch, uint64_t datamatch,
				      int shadow_fd, uint64_t shadow_offset)
{
	if (shadow_fd < 0)
		return -EINVAL;
	return add_ioeventfd(s, index, offset, size, fd, has_datamatch,
			     datamatch, shadow_fd, shadow_offset);
}

/* ---- GET_REGION_INFO ---------------------------------------------------------- */

void srv_handle_region_info(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	uint32_t idx = v->u.region_info.index;
	if (v->hdr.flags & UVFIO_F_NO_REPLY)
		return; /* a query nobody wants answered */
	if (idx >= s->num_regions) {
		srv_reply_error(s, &v->hdr, EINVAL, "region index out of range");
		return;
	}
	struct srv_region *r = &s->regions[idx];
	struct uvfio_region_info ri = {
		.index = idx,
		.size = r->present ? r->d.size : 0,
	};
	if (r->present && r->d.size)
		ri.flags = r->d.flags & (UVFIO_REGION_READ | UVFIO_REGION_WRITE);

	/* Capabilities: sparse areas for mappable memory (always, as
	 * libvfio-user does, so clients need not guess), type for
	 * device-specific regions. */
	uint8_t caps[REGION_CAPS_MAX];
	uint32_t clen = 0;
	if (r->memfd >= 0) {
		ri.flags |= UVFIO_REGION_MMAP;
		if (r->d.flags & UVFIO_REGION_FD)
			ri.offset = r->d.fd_offset;
		struct uvfio_sparse_area whole = { 0, r->d.size };
		const struct uvfio_sparse_area *a = r->d.nr_sparse ? r->sparse
								   : &whole;
		uint32_t n = r->d.nr_sparse ? r->d.nr_sparse : 1;
		struct uvfio_cap_sparse_mmap sc = {
			.hdr = { .id = UVFIO_CAP_SPARSE_MMAP, .version = 1 },
			.nr_areas = n,
		};
		clen = sizeof(sc) + n * sizeof(*a);
		memcpy(caps + sizeof(sc), a, n * sizeof(*a));
		if (idx >= UVFIO_PCI_NUM_REGIONS)
			sc.hdr.next = sizeof(ri) + clen;
		memcpy(caps, &sc, sizeof(sc));
	}
	if (r->present && idx >= UVFIO_PCI_NUM_REGIONS) {
		struct uvfio_cap_type tc = {
			.hdr = { .id = UVFIO_CAP_TYPE, .version = 1 },
			.type = r->d.type,
			.subtype = r->d.subtype,
		};
		memcpy(caps + clen, &tc, sizeof(tc));
		clen += sizeof(tc);
	}

	/* The codec applies the argsz rule; it writes a whole message, so
	 * it gets the reply's room with the header's in front. */
	uint8_t *p = srv_reply_reserve(s, sizeof(ri) + clen);
	if (!p)
		return;
	bool complete;
	ssize_t n = uvfio_build_region_info_reply(p - UVFIO_HDR_SIZE,
						  UVFIO_HDR_SIZE + sizeof(ri) +
							  clen,
						  v->hdr.msg_id, &ri, caps,
						  clen, v->u.region_info.argsz,
						  &complete);
	if (n < 0) {
		srv_reply_cancel(s);
		s->conn->drop = true;
		return;
	}
	/* The fd goes only with the complete reply (libvfio-user does the
	 * same; QEMU asks again with the argsz we report). */
	bool fd = complete && r->memfd >= 0;
	srv_reply_commit(s, &v->hdr, (size_t)n - UVFIO_HDR_SIZE,
			 fd ? &r->memfd : NULL, fd ? 1 : 0);
}

/* ---- region access ---------------------------------------------------------------- */

/* A device's fd region without a callback: the file is the memory.  The
 * fd may be a file shorter than the region, or a device that refuses
 * some offsets; an error or a short count fails the access. */
static int region_fd_access(struct srv_region *r, uint64_t off, void *buf,
			    uint32_t count, bool is_write)
{
	off_t at = (off_t)(r->d.fd_offset + off);
	ssize_t n = is_write ? pwrite(r->memfd, buf, count, at)
			     : pread(r->memfd, buf, count, at);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)count && !is_write) {
		memset((uint8_t *)buf + n, 0, count - (size_t)n); /* past EOF */
		return 0;
	}
	return n == (ssize_t)count ? 0 : -EIO;
}

/* One access, already checked against the region's bounds and rights. */
static int region_access(struct uvfio_server *s, uint32_t idx, uint64_t off,
			 void *buf, uint32_t count, bool is_write)
{
	struct srv_region *r = &s->regions[idx];

	if (idx == UVFIO_PCI_CONFIG) {
		unsigned ev = 0;
		bool flr = false;
		/* irq_trigger reads enable and mask bits from other threads */
		pthread_mutex_lock(&s->lock);
		if (is_write) {
			/* Seen in the raw bytes: Initiate FLR is not writable
			 * (it reads 0). */
			flr = pcicfg_flr_requested(&s->pci, (uint32_t)off, buf,
						   count);
			ev = pcicfg_cfg_write(&s->pci, (uint32_t)off, buf,
						 count);
		} else {
			pcicfg_cfg_read(&s->pci, (uint32_t)off, buf, count);
		}
		pthread_mutex_unlock(&s->lock);
		if (s->config_fn) {
			int e = s->config_fn(s->config_opaque, (uint32_t)off, buf,
					     count, is_write);
			if (e)
				return e;
		}
		if (ev)
			srv_irqs_config_changed(s, ev);
		return flr ? srv_device_reset(s, UVFIO_RESET_FLR) : 0;
	}

	if (idx < UVFIO_PCI_ROM) {
		int err = 0, unmasked = -1;
		pthread_mutex_lock(&s->lock);
		bool msix = pcicfg_msix_access(&s->pci, idx, off, buf, count,
						  is_write, &err, &unmasked);
		pthread_mutex_unlock(&s->lock);
		if (msix) {
			if (unmasked >= 0)
				srv_irq_msix_unmasked(s, (unsigned)unmasked);
			return err;
		}
	}

	if (r->mem) {
		if (is_write)
			memcpy((uint8_t *)r->mem + off, buf, count);
		else
			memcpy(buf, (uint8_t *)r->mem + off, count);
	} else if (!r->d.fn && (r->d.flags & UVFIO_REGION_FD)) {
		return region_fd_access(r, off, buf, count, is_write);
	} else if (!r->d.fn && !is_write) {
		memset(buf, 0, count);
	}
	if (r->d.fn) {
		ssize_t n = r->d.fn(r->d.opaque, idx, off, buf, count, is_write);
		if (n < 0)
			return (int)n;
		if (n != (ssize_t)count)
			return -EIO;
	}
	return 0;
}

static int check_access(struct uvfio_server *s, uint32_t idx, uint64_t off,
			uint32_t count, bool is_write, const char **why)
{
	if (idx >= s->num_regions || !s->regions[idx].present) {
		*why = "region index out of range or region absent";
		return -EINVAL;
	}
	struct srv_region *r = &s->regions[idx];
	if (count == 0) {
		/* Meaningless, and device callbacks need not handle it. */
		*why = "zero-length access";
		return -EINVAL;
	}
	if (off > r->d.size || count > r->d.size - off) {
		*why = "access beyond the region's end";
		return -EINVAL;
	}
	if (!(r->d.flags & (is_write ? UVFIO_REGION_WRITE : UVFIO_REGION_READ))) {
		*why = is_write ? "region is not writable" : "region is not readable";
		return -EPERM;
	}
	return 0;
}

void srv_handle_region_rw(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	const struct uvfio_region_rw *req = &v->u.region_rw.req;
	bool is_write = v->hdr.cmd == UVFIO_CMD_REGION_WRITE;
	const char *why = NULL;

	int r = check_access(s, req->region, req->offset, req->count, is_write,
			     &why);
	if (r) {
		srv_reply_error(s, &v->hdr, -r, why);
		return;
	}
	if (is_write) {
		/* From the receive buffer straight to the device; the parser
		 * guarantees count bytes are there. */
		r = region_access(s, req->region, req->offset,
				  (void *)v->u.region_rw.data, req->count, true);
		if (r) {
			srv_reply_error(s, &v->hdr, -r, "device refused the write");
			return;
		}
		srv_reply_ok(s, &v->hdr, req, sizeof(*req), NULL, 0);
		return;
	}

	/* Reads are produced directly into the send buffer.  Under
	 * NO_REPLY the device still sees the read (it may have side
	 * effects) and the data goes nowhere. */
	uint8_t *p = srv_reply_reserve(s, sizeof(*req) + req->count);
	if (!p)
		return;
	r = region_access(s, req->region, req->offset, p + sizeof(*req),
			  req->count, false);
	if (r) {
		srv_reply_cancel(s);
		srv_reply_error(s, &v->hdr, -r, "device refused the read");
		return;
	}
	memcpy(p, req, sizeof(*req));
	srv_reply_commit(s, &v->hdr, sizeof(*req) + req->count, NULL, 0);
}

void srv_handle_write_multi(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	uint64_t done = 0;
	const char *why = NULL;
	int r = 0;

	/* In array order, each like a REGION_WRITE; QEMU never asks for a
	 * reply, so a failure is only logged (and reported if asked). */
	for (uint32_t i = 0; i < v->u.write_multi.n; i++) {
		struct uvfio_write_multi_entry e;
		memcpy(&e, v->u.write_multi.wrs + i * sizeof(e), sizeof(e));
		r = check_access(s, e.region, e.offset, e.count, true, &why);
		if (!r)
			r = region_access(s, e.region, e.offset, e.data, e.count,
					  true);
		if (r) {
			if (!why)
				why = "device refused the write";
			break;
		}
		done++;
	}
	if (r) {
		srv_reply_error(s, &v->hdr, -r, why);
		return;
	}
	srv_reply_ok(s, &v->hdr, &done, sizeof(done), NULL, 0);
}

/* ---- GET_REGION_IO_FDS -------------------------------------------------------------- */

/* The reply's entries in the specification's 40-byte layout, or in
 * libvfio-user's 48-byte one (lvu) when the region has a shadow ioeventfd:
 * only clients that know the extension use those.  Returns the fd count. */
static uint32_t io_fd_entries(struct uvfio_server *s, uint32_t idx, bool lvu,
			      uint8_t *out, int *fds, uint32_t *n_ent)
{
	uint32_t n = 0, nfds = 0;
	for (unsigned i = 0; i < s->n_iofds; i++) {
		const struct srv_ioeventfd *f = &s->iofds[i];
		if (f->index != idx)
			continue;
		uint32_t flags = f->has_datamatch ? UVFIO_IOEVENTFD_DATAMATCH : 0;
		uint32_t fdi = nfds;
		fds[nfds++] = f->fd;
		if (lvu) {
			struct uvfio_io_fd_entry_lvu e = {
				.offset = f->offset, .size = f->size,
				.fd_index = fdi, .type = UVFIO_IO_FD_IOEVENTFD,
				.flags = flags, .datamatch = f->datamatch,
				.shadow_mem_fd_index = UVFIO_IO_FD_NONE,
			};
			if (f->shadow_fd >= 0) {
				e.type = UVFIO_IO_FD_IOEVENTFD_SHADOW;
				e.shadow_mem_fd_index = nfds;
				e.shadow_offset = f->shadow_offset;
				fds[nfds++] = f->shadow_fd;
			}
			memcpy(out + (size_t)n * sizeof(e), &e, sizeof(e));
		} else {
			struct uvfio_io_fd_entry e = {
				.offset = f->offset, .size = f->size,
				.fd_index = fdi, .type = UVFIO_IO_FD_IOEVENTFD,
				.flags = flags, .datamatch = f->datamatch,
			};
			memcpy(out + (size_t)n * sizeof(e), &e, sizeof(e));
		}
		n++;
	}
	*n_ent = n;
	return nfds;
}

void srv_handle_io_fds(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	struct srv_conn *c = s->conn;
	uint32_t idx = v->u.io_fds.index;
	if (v->hdr.flags & UVFIO_F_NO_REPLY)
		return; /* a query nobody wants answered */
	if (idx >= s->num_regions) {
		srv_reply_error(s, &v->hdr, EINVAL, "region index out of range");
		return;
	}
	bool lvu = false;
	for (unsigned i = 0; i < s->n_iofds; i++)
		lvu |= s->iofds[i].index == idx && s->iofds[i].shadow_fd >= 0;
	size_t esz = lvu ? sizeof(struct uvfio_io_fd_entry_lvu)
			 : sizeof(struct uvfio_io_fd_entry);
	uint8_t ent[SRV_MAX_REGION_IOEVENTFDS *
		    sizeof(struct uvfio_io_fd_entry_lvu)];
	int fds[2 * SRV_MAX_REGION_IOEVENTFDS];
	uint32_t n;
	uint32_t nfds = io_fd_entries(s, idx, lvu, ent, fds, &n);
	struct uvfio_io_fds h = {
		.argsz = (uint32_t)(sizeof(h) + n * esz),
		.index = idx,
		.count = n,
	};
	/* Entries and fds only when all of them fit the client's argsz. */
	bool all = h.argsz <= v->u.io_fds.argsz;
	if (all && nfds > c->peer.max_msg_fds) {
		srv_reply_error(s, &v->hdr, E2BIG, "more ioeventfds than the "
						   "client accepts fds");
		return;
	}
	size_t len = sizeof(h) + (all ? n * esz : 0);
	uint8_t *p = srv_reply_reserve(s, len);
	if (!p)
		return;
	memcpy(p, &h, sizeof(h));
	if (all)
		memcpy(p + sizeof(h), ent, n * esz);
	srv_reply_commit(s, &v->hdr, len, all ? fds : NULL, all ? nfds : 0);
}
