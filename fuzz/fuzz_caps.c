/* SPDX-License-Identifier: MIT */
/*
 * fuzz_caps: the VERSION capability JSON (src/wire/caps.c).
 *
 * Input: a flags byte, then the JSON text.  Flags bit 0 clear: the text
 * gets a NUL appended (what a well-formed VERSION carries); set: the bytes
 * are passed as they are, so missing and interior NULs are tried too.
 *
 * Invariants: accepted values lie inside the bounds of docs/protocol.md
 * (5.2) and the library (max_msg_fds <= 1024, max_data_xfer_size > 0,
 * pgsizes non-zero with no bit below 4096, twin fd_index < 1024); a key
 * that is absent keeps its spec default; formatting what was parsed and
 * parsing that again gives the same values.
 */
#include <errno.h>

#include <uvfio/codec.h>

#include "fuzz.h"

static void check_bounds(const struct uvfio_caps *c)
{
	struct uvfio_caps d;
	uvfio_caps_defaults(&d);
	FZ_CHECK(c->max_msg_fds <= UVFIO_MAX_MSG_FDS_LIMIT);
	FZ_CHECK(c->max_data_xfer_size > 0);
	FZ_CHECK(c->pgsizes != 0 && (c->pgsizes & 4095) == 0);
	FZ_CHECK(c->twin_fd_index < UVFIO_MAX_MSG_FDS_LIMIT);
	if (!(c->present & UVFIO_CAP_HAS_MAX_MSG_FDS))
		FZ_CHECK(c->max_msg_fds == d.max_msg_fds);
	if (!(c->present & UVFIO_CAP_HAS_MAX_DATA_XFER))
		FZ_CHECK(c->max_data_xfer_size == d.max_data_xfer_size);
	if (!(c->present & UVFIO_CAP_HAS_MAX_DMA_MAPS))
		FZ_CHECK(c->max_dma_maps == d.max_dma_maps);
	if (!(c->present & UVFIO_CAP_HAS_PGSIZES))
		FZ_CHECK(c->pgsizes == d.pgsizes);
	if (!(c->present & UVFIO_CAP_HAS_TWIN_SOCKET))
		FZ_CHECK(!c->twin_socket &&
			 !(c->present & UVFIO_CAP_HAS_TWIN_FD_INDEX));
	if (!(c->present & UVFIO_CAP_HAS_WRITE_MULTIPLE))
		FZ_CHECK(!c->write_multiple);
	if (!(c->present & UVFIO_CAP_HAS_MIGRATION))
		FZ_CHECK(!c->mig_pgsize && !c->mig_max_bitmap_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t flags = fz_u8(&f);
	size_t len;
	const uint8_t *p = fz_bytes(&f, f.n, &len);
	bool raw = flags & 1;
	size_t jl = raw ? len : len + 1;
	char *json = malloc(jl ? jl : 1);
	struct uvfio_caps c, again;
	const char *why = NULL;
	char out[UVFIO_MAX_JSON_LEN];

	if (!json)
		abort();
	memcpy(json, p, len);
	if (!raw)
		json[len] = '\0';

	int r = uvfio_caps_parse(jl ? json : NULL, jl, &c, &why);
	if (r) {
		FZ_CHECK(why != NULL);
		FZ_CHECK(r == -EINVAL || r == -E2BIG || r == -ENOMEM);
		free(json);
		return 0;
	}
	check_bounds(&c);

	ssize_t n = uvfio_caps_format(&c, c.present, out, sizeof(out));
	FZ_CHECK(n > 0 && (size_t)n <= sizeof(out) && out[n - 1] == '\0');
	r = uvfio_caps_parse(out, (size_t)n, &again, &why);
	if (r) {
		fprintf(stderr, "formatted caps do not parse: %s\n%s\n", why,
			out);
		abort();
	}
	check_bounds(&again);
	FZ_CHECK(again.present == c.present);
	FZ_CHECK(again.max_msg_fds == c.max_msg_fds &&
		 again.max_data_xfer_size == c.max_data_xfer_size &&
		 again.max_dma_maps == c.max_dma_maps &&
		 again.pgsizes == c.pgsizes &&
		 again.twin_socket == c.twin_socket &&
		 again.twin_fd_index == c.twin_fd_index &&
		 again.write_multiple == c.write_multiple &&
		 again.mig_pgsize == c.mig_pgsize &&
		 again.mig_max_bitmap_size == c.mig_max_bitmap_size);
	free(json);
	return 0;
}
