/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz harnesses: the libFuzzer entry points, a reader that
 * turns the input into typed values, invariant checks that abort (so
 * libFuzzer and the replay driver both report them), and fd accounting.
 *
 * Every harness is built twice: with clang and libFuzzer by `make fuzz`,
 * and with the normal compiler and fuzz/replay.c in `make check`, which
 * replays the committed corpus and regression inputs.
 */
#ifndef UVFIO_FUZZ_H
#define UVFIO_FUZZ_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant the library must keep; a violation is a finding. */
#define FZ_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant violated: %s\n",     \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* Consumes the input front to back; past the end everything reads 0. */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_empty(const struct fz *f)
{
	return f->n == 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	return (uint16_t)(fz_u8(f) | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	return (uint32_t)fz_u16(f) | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	return (uint64_t)fz_u32(f) | (uint64_t)fz_u32(f) << 32;
}

/* Up to want bytes: *got says how many there were. */
static inline const uint8_t *fz_bytes(struct fz *f, size_t want, size_t *got)
{
	const uint8_t *p = f->p;
	*got = want < f->n ? want : f->n;
	f->p += *got;
	f->n -= *got;
	return p;
}

/* Pointer inside [base, base + len], with want bytes after it. */
static inline bool fz_within(const void *base, size_t len, const void *p,
			     uint64_t want)
{
	const uint8_t *b = base, *q = p;
	return q >= b && q <= b + len && want <= (uint64_t)(b + len - q);
}

/* Open fds of this process; each harness compares before and after. */
static inline int fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/*
 * Reassembles the messages a library end sends on a stream socket, with
 * the fds that came with each.  The library sends a message with fds as
 * one sendmsg() that starts the message, and the kernel ends a recvmsg()
 * right after data that carried fds, so the fds of one recvmsg() belong
 * to the last message that starts inside the bytes it returned.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/wire.h>

#define FZ_RX_FDSETS 8
struct fz_rx {
	uint8_t *buf;
	size_t cap, len;
	struct {
		size_t owner; /* buffer offset of the message they came with */
		unsigned n;
		int fds[64];
	} sets[FZ_RX_FDSETS];
	unsigned nsets;
};

/* Called per whole message; may take fds (set them to -1). */
typedef void (*fz_msg_fn)(void *opaque, const uint8_t *m, uint32_t size,
			  int *fds, unsigned nfds);

static inline void fz_rx_close_all(struct fz_rx *r)
{
	for (unsigned i = 0; i < r->nsets; i++)
		for (unsigned k = 0; k < r->sets[i].n; k++)
			if (r->sets[i].fds[k] >= 0)
				close(r->sets[i].fds[k]);
	r->nsets = 0;
	r->len = 0;
}

/* Read all there is; false when nothing came. */
static inline bool fz_rx_read(struct fz_rx *r, int fd, fz_msg_fn fn,
			      void *opaque)
{
	bool any = false;
	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(64 * sizeof(int))];
		} cm;
		struct iovec iov = { r->buf + r->len, r->cap - r->len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cm.b,
				     .msg_controllen = sizeof(cm.b) };
		if (!iov.iov_len)
			abort(); /* the checks below bound message sizes */
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return any;
		any = true;
		size_t old = r->len;
		r->len += (size_t)n;
		int got[64];
		unsigned ngot = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
						sizeof(int));
			int *f = (int *)(void *)CMSG_DATA(c);
			for (unsigned i = 0; i < k; i++) {
				if (ngot < 64)
					got[ngot++] = f[i];
				else
					close(f[i]);
			}
		}
		if (ngot) {
			/* the last message start at or after old */
			size_t pos = 0, owner = (size_t)-1;
			while (pos + UVFIO_HDR_SIZE <= r->len) {
				struct uvfio_hdr h;
				memcpy(&h, r->buf + pos, sizeof(h));
				if (pos >= old)
					owner = pos;
				if (h.msg_size < UVFIO_HDR_SIZE)
					break;
				pos += h.msg_size;
			}
			if (pos < r->len && pos >= old)
				owner = pos;
			if (owner == (size_t)-1 || r->nsets == FZ_RX_FDSETS) {
				fprintf(stderr, "fds arrived without a message "
						"starting with them\n");
				abort();
			}
			r->sets[r->nsets].owner = owner;
			r->sets[r->nsets].n = ngot;
			memcpy(r->sets[r->nsets].fds, got, ngot * sizeof(int));
			r->nsets++;
		}
		size_t off = 0;
		while (r->len - off >= UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, r->buf + off, sizeof(h));
			if (h.msg_size < UVFIO_HDR_SIZE ||
			    h.msg_size > r->cap / 2) {
				fprintf(stderr, "library sent a header with "
						"msg_size %u\n", h.msg_size);
				abort();
			}
			if (h.msg_size > r->len - off)
				break;
			int *fds = NULL;
			unsigned nfds = 0;
			if (r->nsets && r->sets[0].owner == off) {
				fds = r->sets[0].fds;
				nfds = r->sets[0].n;
			}
			FZ_CHECK(!r->nsets || r->sets[0].owner >= off);
			fn(opaque, r->buf + off, h.msg_size, fds, nfds);
			if (nfds) {
				for (unsigned k = 0; k < nfds; k++)
					if (fds[k] >= 0)
						close(fds[k]);
				r->nsets--;
				memmove(&r->sets[0], &r->sets[1],
					r->nsets * sizeof(r->sets[0]));
			}
			off += h.msg_size;
		}
		memmove(r->buf, r->buf + off, r->len - off);
		r->len -= off;
		for (unsigned i = 0; i < r->nsets; i++)
			r->sets[i].owner -= off;
	}
}


/* What each open fd is, to name a leak. */
static inline void fz_dump_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], target[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

/* The invariant every harness ends with: the process holds exactly the
 * fds it had before the input (naming the extra ones if not). */
static inline void fz_check_fds(int before)
{
	int after = fz_count_fds();
	if (after != before) {
		fprintf(stderr, "fd leak: %d fds before, %d after\n", before,
			after);
		fz_dump_fds();
		abort();
	}
}

#endif
