/* SPDX-License-Identifier: MIT */
/*
 * uvfio-compat-gpio: uvfio-gpio (samples/gpio.c, docs there) written
 * against libvfio-user's API instead of uvfio's, to run on uvfio's
 * libvfio-user.so.0 (docs/libvfio-user-compat.md) -- or on libvfio-user
 * itself.  Same command line, PCI identity, registers, INTx behaviour and
 * migration stream, so either binary serves the same clients and a state
 * saved by one loads into the other.
 *
 * An ACCES PCI-IDIO-16 compatible card: BAR2 is a 256-byte I/O BAR,
 *   0 OUT0-7, 1 IN0-7 (a write clears the pending interrupt), 2 IRQ
 *   control (a read enables change-of-state interrupts, a write disables
 *   them), 3 filters, 4 OUT8-15, 5 IN8-15, 6 IRQ status;
 * INTx on pin A; inputs follow a model (loopback, inverted, fixed).
 *
 * This one drives its context in blocking mode: vfu_attach_ctx() waits
 * for a client, vfu_run_ctx() serves it until it leaves (ENOTCONN: attach
 * again) or a signal interrupts the wait (EINTR).
 *
 * Migration: libvfio-user always offers PRE_COPY too; the card has nothing
 * to send early, so a pre-copy yields no data and keeps it running, and
 * the 16-byte record of uvfio-gpio comes in STOP_AND_COPY.
 *
 *   uvfio-compat-gpio --socket PATH [--inputs loopback|invert|0xNNNN] [-v]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvfio-user.h>

#include "compat-app.h"

enum model { LOOPBACK, INVERT, FIXED };

struct gpio {
	vfu_ctx_t *ctx;
	enum model model;
	uint16_t fixed;
	uint16_t out, in;
	uint8_t irq_status;
	bool irq_enabled;
	/* migration: libvfio-user says only where we go, so we keep where
	 * we are */
	vfu_migr_state_t mig;
	uint8_t rec[16];
	size_t rec_pos, rec_len;
};

static uint16_t model_inputs(const struct gpio *g)
{
	switch (g->model) {
	case INVERT:
		return (uint16_t)~g->out;
	case FIXED:
		return g->fixed;
	default:
		return g->out;
	}
}

/* Recompute the inputs; a change is an interrupt source. */
static void inputs_update(struct gpio *g)
{
	uint16_t in = model_inputs(g), changed = in ^ g->in;
	g->in = in;
	if (!changed || !g->irq_enabled)
		return;
	/* Linux's driver wants bit 2 and one of bits 0-1 (6.1), or bit 0
	 * (later regmap-based versions): bit 0 goes with any change. */
	g->irq_status |= 0x4 | 0x1 | (changed & 0xff00 ? 0x2 : 0);
	/* Failing only means no eventfd yet, or INTx still masked. */
	vfu_irq_trigger(g->ctx, 0);
}

static bool running(vfu_migr_state_t s)
{
	return s == VFU_MIGR_STATE_RUNNING || s == VFU_MIGR_STATE_PRE_COPY;
}

static void reg_write(struct gpio *g, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case 0:
		g->out = (uint16_t)((g->out & 0xff00) | v);
		inputs_update(g);
		break;
	case 4:
		g->out = (uint16_t)((g->out & 0x00ff) | v << 8);
		inputs_update(g);
		break;
	case 1:
		g->irq_status = 0;
		break;
	case 2:
		g->irq_enabled = false;
		break;
	default:
		break; /* filters and the rest: accepted */
	}
}

static uint8_t reg_read(struct gpio *g, uint64_t reg)
{
	switch (reg) {
	case 0:
		return (uint8_t)g->out;
	case 4:
		return (uint8_t)(g->out >> 8);
	case 1:
		return (uint8_t)g->in;
	case 5:
		return (uint8_t)(g->in >> 8);
	case 2:
		g->irq_enabled = true;
		return 0;
	case 6:
		return g->irq_status;
	default:
		return 0;
	}
}

static ssize_t bar2_access(vfu_ctx_t *ctx, char *buf, size_t count,
			   loff_t off, bool is_write)
{
	struct gpio *g = vfu_get_private(ctx);
	uint8_t *b = (uint8_t *)buf;

	/* Stopped for migration: no change of state, hence no interrupt. */
	if (!running(g->mig) && (is_write || (off <= 2 && off + (loff_t)count > 2))) {
		errno = EBUSY;
		return -1;
	}
	/* Byte registers; wider accesses are handled byte by byte. */
	for (size_t i = 0; i < count; i++) {
		if (is_write)
			reg_write(g, (uint64_t)off + i, b[i]);
		else
			b[i] = reg_read(g, (uint64_t)off + i);
	}
	return (ssize_t)count;
}

static int gpio_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
	struct gpio *g = vfu_get_private(ctx);
	/* A new client starts from a quiet card, but a lost client leaves
	 * the outputs as they were (they drive real-world things). */
	g->irq_enabled = false;
	g->irq_status = 0;
	if (type != VFU_RESET_LOST_CONN) {
		g->out = 0;
		g->in = model_inputs(g);
		/* libvfio-user leaves any state for RUNNING after a reset
		 * without telling the device. */
		g->mig = VFU_MIGR_STATE_RUNNING;
		g->rec_len = g->rec_pos = 0;
	}
	return 0;
}

/* ---- migration ---------------------------------------------------------------------- */

#define MIG_MAGIC 0x50475655u /* "UVGP" little-endian */

static void snapshot(struct gpio *g)
{
	uint8_t *r = g->rec;
	memset(r, 0, sizeof(g->rec));
	for (unsigned i = 0; i < 4; i++)
		r[i] = (uint8_t)(MIG_MAGIC >> (8 * i));
	r[4] = 1; /* version */
	r[6] = 8; /* payload bytes */
	r[8] = (uint8_t)g->out;
	r[9] = (uint8_t)(g->out >> 8);
	r[10] = (uint8_t)g->in;
	r[11] = (uint8_t)(g->in >> 8);
	r[12] = g->irq_status;
	r[13] = g->irq_enabled;
	g->rec_pos = 0;
	g->rec_len = sizeof(g->rec);
}

static int load(struct gpio *g)
{
	const uint8_t *r = g->rec;
	uint32_t magic = (uint32_t)r[0] | (uint32_t)r[1] << 8 |
			 (uint32_t)r[2] << 16 | (uint32_t)r[3] << 24;
	if (g->rec_len != sizeof(g->rec) || magic != MIG_MAGIC || r[4] != 1 ||
	    r[5] || r[6] != 8 || r[7])
		return -1;
	g->out = (uint16_t)(r[8] | r[9] << 8);
	g->in = (uint16_t)(r[10] | r[11] << 8);
	g->irq_status = r[12];
	g->irq_enabled = r[13] != 0;
	return 0;
}

static int gpio_transition(vfu_ctx_t *ctx, vfu_migr_state_t to)
{
	struct gpio *g = vfu_get_private(ctx);

	switch (to) {
	case VFU_MIGR_STATE_STOP_AND_COPY: /* from STOP or PRE_COPY */
		snapshot(g);
		break;
	case VFU_MIGR_STATE_PRE_COPY: /* nothing worth sending early */
	case VFU_MIGR_STATE_RESUME:
	case VFU_MIGR_STATE_RUNNING:
		g->rec_len = g->rec_pos = 0;
		break;
	case VFU_MIGR_STATE_STOP:
		if (g->mig == VFU_MIGR_STATE_RESUME && load(g)) {
			errno = EINVAL; /* incomplete or not ours */
			return -1;
		}
		g->rec_len = g->rec_pos = 0;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	g->mig = to;
	return 0;
}

static ssize_t gpio_read_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct gpio *g = vfu_get_private(ctx);
	size_t n = g->rec_len - g->rec_pos;
	if (n > count)
		n = (size_t)count;
	memcpy(buf, g->rec + g->rec_pos, n);
	g->rec_pos += n;
	return (ssize_t)n;
}

static ssize_t gpio_write_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
	struct gpio *g = vfu_get_private(ctx);
	if (count > sizeof(g->rec) - g->rec_len) {
		errno = EINVAL; /* longer than any state of ours */
		return -1;
	}
	memcpy(g->rec + g->rec_len, buf, (size_t)count);
	g->rec_len += (size_t)count;
	return (ssize_t)count;
}

static const vfu_migration_callbacks_t gpio_mig = {
	.version = VFU_MIGR_CALLBACKS_VERS,
	.transition = gpio_transition,
	.read_data = gpio_read_data,
	.write_data = gpio_write_data,
};

/* ---- the program ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-compat-gpio --socket PATH [--inputs MODEL] [-v]\n"
		"\n"
		"Serve an ACCES PCI-IDIO-16 compatible GPIO card (vendor 494f,\n"
		"device 0dc8) over vfio-user until SIGTERM or SIGINT: uvfio-gpio\n"
		"written against libvfio-user's API.\n"
		"  --socket PATH    UNIX socket to listen on\n"
		"  --inputs MODEL   loopback (inputs read the outputs, default),\n"
		"                   invert, or a fixed 16-bit value like 0xa5a5\n"
		"  --busy-poll USEC accepted for uvfio-gpio's sake, no effect\n"
		"  -v               log connections and protocol errors\n");
	capp_usage_env(f);
}

/* --inputs MODEL, into the struct gpio at opaque. */
static int option(void *opaque, int val, const char *arg)
{
	struct gpio *g = opaque;

	(void)val; /* our only option */
	if (!strcmp(arg, "loopback")) {
		g->model = LOOPBACK;
	} else if (!strcmp(arg, "invert")) {
		g->model = INVERT;
	} else {
		char *end;
		unsigned long v = strtoul(arg, &end, 0);
		if (*end || v > 0xffff) {
			fprintf(stderr, "uvfio-compat-gpio: --inputs takes "
					"loopback, invert or a 16-bit number, "
					"not '%s'\n",
				arg);
			return 2;
		}
		g->model = FIXED;
		g->fixed = (uint16_t)v;
	}
	return 0;
}

static int describe(vfu_ctx_t *ctx)
{
	if (vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL,
			 0) < 0)
		return -1;
	vfu_pci_set_id(ctx, 0x494f, 0x0dc8, 0x494f, 0x0dc8);
	vfu_pci_set_class(ctx, 0xff, 0x00, 0x00);
	/* No VFU_REGION_FLAG_MEM: an I/O BAR, as on the card. */
	if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR2_REGION_IDX, 256, bar2_access,
			     VFU_REGION_FLAG_RW, NULL, 0, -1, 0) < 0 ||
	    vfu_setup_device_nr_irqs(ctx, VFU_DEV_INTX_IRQ, 1) < 0 ||
	    vfu_setup_device_reset_cb(ctx, gpio_reset) < 0 ||
	    vfu_setup_device_migration_callbacks(ctx, &gpio_mig) < 0)
		return -1;
	return vfu_realize_ctx(ctx);
}

/*
 * Blocking mode: each call waits.  EINTR is a stop signal or the alarm
 * that repeats it; ENOTCONN is the client gone, and the card waits for
 * the next one.
 */
static int serve(struct capp *a)
{
	bool attached = false;
	while (!capp_stopping()) {
		int r = attached ? vfu_run_ctx(a->ctx) : vfu_attach_ctx(a->ctx);
		if (r >= 0) {
			attached = true;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (attached && errno == ENOTCONN) {
			attached = false;
			continue;
		}
		fprintf(stderr, "%s: %s: %s\n", a->prog,
			attached ? "vfu_run_ctx" : "vfu_attach_ctx",
			strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "inputs", required_argument, NULL, 'i' },
		{ 0 },
	};
	struct gpio g = { .model = LOOPBACK, .mig = VFU_MIGR_STATE_RUNNING };
	struct capp a = {
		.prog = "uvfio-compat-gpio", .usage = usage, .pvt = &g,
		.options = opts, .option = option, .opaque = &g,
	};

	capp_start(&a, argc, argv);
	g.ctx = a.ctx;
	g.in = model_inputs(&g);
	if (describe(g.ctx) < 0)
		return capp_fail(&a, "device setup");
	capp_catch_stop_signals();
	int r = serve(&a);
	alarm(0);
	vfu_destroy_ctx(g.ctx);
	return r;
}
