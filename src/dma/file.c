/* SPDX-License-Identifier: MIT */
/*
 * The file mappings behind fd-backed DMA windows: one mapping per file
 * (st_dev, st_ino), shared by all its windows, in a tree so that a client
 * that sends one fd per window (QEMU does) costs one lookup, not a list
 * walk.
 *
 * Growth policy: a regular file is mapped once from offset 0 to its
 * st_size at the time.  When a later window needs bytes past that mapping
 * (the file grew) or write access the mapping lacks (first fd was
 * read-only), the mapping is replaced in place if no reference into it is
 * held; otherwise the new window gets a fresh mapping that becomes the
 * current one for that file, and the old one lives on, out of the lookup,
 * until its last window is unmapped.  Waiting for references here instead
 * could block the message loop forever on a device that keeps a long-lived
 * reference into guest RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dma/priv.h"

static int file_cmp(const struct avl *a, const struct avl *b)
{
	const struct dmat_file *x = F(a), *y = F(b);

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->current != y->current)
		return x->current ? -1 : 1;
	if (x->current)
		return 0;
	return (uintptr_t)x < (uintptr_t)y ? -1 : (uintptr_t)x > (uintptr_t)y;
}

static struct dmat_file *file_current(struct dmat *d, uint64_t dev,
				      uint64_t ino)
{
	struct dmat_file key = { .dev = dev, .ino = ino, .current = true };
	struct avl *n = N(d->files);

	while (n) {
		int c = file_cmp(N(&key), n);

		if (!c)
			return F(n);
		n = c < 0 ? n->l : n->r;
	}
	return NULL;
}

static void file_insert(struct dmat *d, struct dmat_file *f)
{
	d->files = F(dmat_avl_insert(N(d->files), N(f), file_cmp));
}

static void file_remove(struct dmat *d, struct dmat_file *f)
{
	d->files = F(dmat_avl_remove(N(d->files), N(f), file_cmp));
}

void dmat_file_release(struct dmat *d, struct dmat_file *f)
{
	if (--f->nwin)
		return;
	file_remove(d, f);
	munmap(f->base, f->len);
	close(f->fd);
	free(f);
}

static int mmap_prot(uint32_t p)
{
	return (p & DMAT_READ ? PROT_READ : 0) |
	       (p & DMAT_WRITE ? PROT_WRITE : 0);
}

static int do_mmap(int fd, uint64_t off, uint64_t len, uint32_t prot,
		   uint8_t **base)
{
	void *p;

	if (len > SIZE_MAX || off > (uint64_t)INT64_MAX)
		return -EFBIG;
	p = mmap(NULL, (size_t)len, mmap_prot(prot), MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*base = p;
	return 0;
}

int dmat_fd_probe(int fd, uint64_t offset, uint64_t size, uint32_t prot,
		  struct dmat_fd_info *fi)
{
	int fl;

	if (fstat(fd, &fi->st) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	switch (fl & O_ACCMODE) {
	case O_RDWR:
		fi->prot = DMA_PROT_ALL;
		break;
	case O_RDONLY:
		fi->prot = DMAT_READ;
		break;
	default: /* a shared mapping needs read access */
		return -EACCES;
	}
	if (prot & ~fi->prot)
		return -EACCES;
	/* A device access past EOF would be SIGBUS, not an error. */
	if (S_ISREG(fi->st.st_mode) && offset + size > (uint64_t)fi->st.st_size)
		return -EINVAL;
	return 0;
}

/* A mapping of fd that w alone uses: a non-regular fd is not sized by
 * st_size and maybe not mappable at offset 0, so only w's bytes, rounded
 * out to pages, are mapped. */
static int map_alone(struct dmat_window *w, int fd,
		     const struct dmat_fd_info *fi, struct dmat_file **out)
{
	uint64_t end = w->offset + w->size;
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t lo = w->offset & ~(pg - 1);
	uint64_t hi = (end + pg - 1) & ~(pg - 1);
	struct dmat_file *g;
	int ret;

	if (hi < end)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	ret = do_mmap(fd, lo, hi - lo, fi->prot, &g->base);
	if (ret) {
		free(g);
		return ret;
	}
	g->map_off = lo;
	g->len = (size_t)(hi - lo);
	*out = g;
	return 0;
}

/*
 * Nobody holds a pointer into f's mapping: replace it, with whichever of
 * the two fds allows more, and keep only that one; *close_fd is the other.
 */
static int file_replace(struct dmat_file *f, int fd,
			const struct dmat_fd_info *fi, int *close_fd)
{
	int keep = (fi->prot & DMAT_WRITE) || !(f->prot & DMAT_WRITE) ? fd
								     : f->fd;
	uint32_t kprot = keep == fd ? fi->prot : f->prot;
	uint8_t *base = NULL;
	/* Never shorter than before: if the file shrank, old windows must
	 * still point into this mapping (SIGBUS, not stray memory). */
	uint64_t len = (uint64_t)fi->st.st_size > f->len
			       ? (uint64_t)fi->st.st_size
			       : f->len;
	int ret = do_mmap(keep, 0, len, kprot, &base);

	if (ret)
		return ret;
	munmap(f->base, f->len);
	f->base = base;
	f->len = (size_t)len;
	f->prot = (uint8_t)kprot;
	if (keep == fd) {
		*close_fd = f->fd;
		f->fd = fd;
	} else {
		*close_fd = fd;
	}
	return 0;
}

/* A new current mapping of the whole file; the one it supersedes (held,
 * so it could not be replaced) stays for its windows, out of the way. */
static int file_new_current(struct dmat *d, struct dmat_file *old, int fd,
			    const struct dmat_fd_info *fi,
			    struct dmat_file **out)
{
	struct dmat_file *g = calloc(1, sizeof(*g));
	int ret;

	if (!g)
		return -ENOMEM;
	ret = do_mmap(fd, 0, (uint64_t)fi->st.st_size, fi->prot, &g->base);
	if (ret) {
		free(g);
		return ret;
	}
	g->len = (size_t)fi->st.st_size;
	if (old) {
		file_remove(d, old);
		old->current = false;
		file_insert(d, old);
	}
	g->current = true;
	*out = g;
	return 0;
}

int dmat_file_attach(struct dmat *d, struct dmat_window *w, int fd,
		     const struct dmat_fd_info *fi, int *close_fd)
{
	struct dmat_file *f, *g;
	uint64_t end = w->offset + w->size;
	int ret;

	*close_fd = -1;
	if (!S_ISREG(fi->st.st_mode)) {
		ret = map_alone(w, fd, fi, &g);
	} else {
		f = file_current(d, (uint64_t)fi->st.st_dev,
				 (uint64_t)fi->st.st_ino);
		if (f && end <= f->len && !(w->prot & ~f->prot)) {
			*close_fd = fd;
			w->file = f;
			f->nwin++;
			return 0;
		}
		if (f && !f->held) {
			ret = file_replace(f, fd, fi, close_fd);
			if (ret)
				return ret;
			w->file = f;
			f->nwin++;
			return 0;
		}
		ret = file_new_current(d, f, fd, fi, &g);
	}
	if (ret)
		return ret;
	g->dev = (uint64_t)fi->st.st_dev;
	g->ino = (uint64_t)fi->st.st_ino;
	g->fd = fd;
	g->prot = (uint8_t)fi->prot;
	g->nwin = 1;
	file_insert(d, g);
	w->file = g;
	return 0;
}
