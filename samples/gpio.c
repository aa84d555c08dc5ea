/* SPDX-License-Identifier: MIT */
/*
 * uvfio-gpio: an ACCES PCI-IDIO-16 compatible device, 16 isolated inputs
 * and 16 FET outputs, that Linux's gpio-pci-idio-16 driver binds to.
 *
 * BAR2 is a 256-byte I/O BAR with the card's register layout:
 *   0  OUT0-7      read/write
 *   1  IN0-7       read; a write clears the pending interrupt
 *   2  IRQ control a read enables change-of-state interrupts, a write
 *                  disables them
 *   3  filters     a write deactivates the input filters
 *   4  OUT8-15     read/write
 *   5  IN8-15      read
 *   6  IRQ status  bit 0: an input changed, bit 1: IN8-15 changed,
 *                  bit 2: interrupt pending
 * INTx on pin A (the driver refuses to probe without an IRQ).
 *
 * Inputs follow a model: loopback (IN = OUT, the default, so a guest can
 * check what it wrote), inverted, or fixed.  An input change raises INTx
 * while the driver has interrupts enabled.
 *
 * Live migration (STOP_COPY; docs/migration.md): the state is one 16-byte
 * little-endian record: u32 magic "UVGP", u16 version 1, u16 payload
 * bytes (8), then u16 outputs, u16 inputs, u8 IRQ status, u8 IRQ enabled,
 * 2 zero bytes.  While stopped (STOP, STOP_COPY, RESUMING) the card
 * changes nothing: writes and the IRQ-enabling read of register 2 fail
 * with EBUSY, so no input changes and no interrupt either.
 *
 *   uvfio-gpio --socket PATH [--inputs loopback|invert|0xNNNN] [-v]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/server.h>

#include "app.h"

enum model { LOOPBACK, INVERT, FIXED };

struct gpio {
	struct uvfio_server *srv;
	enum model model;
	uint16_t fixed;
	uint16_t out, in;
	uint8_t irq_status;
	bool irq_enabled;
	/* migration */
	enum uvfio_mig_state mig;
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
	/* -EAGAIN only means no eventfd yet, or INTx still masked (then it
	 * fires at the unmask, unless the status is cleared first). */
	uvfio_server_irq_trigger(g->srv, UVFIO_PCI_INTX_IRQ, 0);
}

static ssize_t bar2_access(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	struct gpio *g = opaque;
	uint8_t *b = buf;
	(void)index;

	/* Stopped for migration: no change of state, hence no interrupt. */
	if (g->mig != UVFIO_MIG_RUNNING &&
	    (is_write || (off <= 2 && off + count > 2)))
		return -EBUSY;

	/* Byte registers; wider accesses are handled byte by byte. */
	for (size_t i = 0; i < count; i++) {
		uint64_t reg = off + i;
		if (is_write) {
			switch (reg) {
			case 0:
				g->out = (uint16_t)((g->out & 0xff00) | b[i]);
				inputs_update(g);
				break;
			case 4:
				g->out = (uint16_t)((g->out & 0x00ff) | b[i] << 8);
				inputs_update(g);
				break;
			case 1:
				/* The card stops asserting its line. */
				g->irq_status = 0;
				uvfio_server_irq_deassert(g->srv,
							  UVFIO_PCI_INTX_IRQ, 0);
				break;
			case 2:
				g->irq_enabled = false;
				break;
			default:
				break; /* filters and the rest: accepted */
			}
		} else {
			switch (reg) {
			case 0:
				b[i] = (uint8_t)g->out;
				break;
			case 4:
				b[i] = (uint8_t)(g->out >> 8);
				break;
			case 1:
				b[i] = (uint8_t)g->in;
				break;
			case 5:
				b[i] = (uint8_t)(g->in >> 8);
				break;
			case 2:
				g->irq_enabled = true;
				b[i] = 0;
				break;
			case 6:
				b[i] = g->irq_status;
				break;
			default:
				b[i] = 0;
			}
		}
	}
	return (ssize_t)count;
}

static int gpio_reset(void *opaque, enum uvfio_reset_reason why)
{
	struct gpio *g = opaque;
	/* A new client starts from a quiet card, but a lost client leaves
	 * the outputs as they were (they drive real-world things). */
	g->irq_enabled = false;
	g->irq_status = 0;
	if (why == UVFIO_RESET_CLIENT) {
		g->out = 0;
		g->in = model_inputs(g);
		/* The library leaves ERROR or RESUMING for RUNNING (reset is
		 * refused in STOP and STOP_COPY). */
		g->mig = UVFIO_MIG_RUNNING;
		g->rec_len = g->rec_pos = 0;
	}
	return 0;
}

static const struct uvfio_device_ops gpio_ops = {
	.struct_size = sizeof(struct uvfio_device_ops),
	.reset = gpio_reset,
};

/* ---- migration ---------------------------------------------------------------------- */

#define MIG_MAGIC 0x50475655u /* "UVGP" little-endian */

static int gpio_transition(void *opaque, enum uvfio_mig_state from,
			   enum uvfio_mig_state to)
{
	struct gpio *g = opaque;
	uint8_t *r = g->rec;
	(void)from;

	switch (to) {
	case UVFIO_MIG_STOP_COPY: /* from STOP: snapshot the registers */
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
		break;
	case UVFIO_MIG_RESUMING:
		g->rec_len = 0;
		break;
	case UVFIO_MIG_STOP:
		if (from == UVFIO_MIG_RESUMING) {
			uint32_t magic = (uint32_t)r[0] | (uint32_t)r[1] << 8 |
					 (uint32_t)r[2] << 16 | (uint32_t)r[3] << 24;
			if (g->rec_len != sizeof(g->rec) || magic != MIG_MAGIC ||
			    r[4] != 1 || r[5] || r[6] != 8 || r[7])
				return -EINVAL;
			g->out = (uint16_t)(r[8] | r[9] << 8);
			g->in = (uint16_t)(r[10] | r[11] << 8);
			g->irq_status = r[12];
			g->irq_enabled = r[13] != 0;
		}
		g->rec_len = g->rec_pos = 0;
		break;
	case UVFIO_MIG_RUNNING:
		break;
	default:
		return -EINVAL;
	}
	g->mig = to;
	return 0;
}

static ssize_t gpio_read_data(void *opaque, void *buf, size_t len)
{
	struct gpio *g = opaque;
	size_t n = g->rec_len - g->rec_pos;
	if (n > len)
		n = len;
	memcpy(buf, g->rec + g->rec_pos, n);
	g->rec_pos += n;
	return (ssize_t)n;
}

static ssize_t gpio_write_data(void *opaque, const void *buf, size_t len)
{
	struct gpio *g = opaque;
	if (len > sizeof(g->rec) - g->rec_len)
		return -EINVAL; /* longer than any state of ours */
	memcpy(g->rec + g->rec_len, buf, len);
	g->rec_len += len;
	return (ssize_t)len;
}

static const struct uvfio_migration_ops gpio_mig_ops = {
	.struct_size = sizeof(struct uvfio_migration_ops),
	.transition = gpio_transition,
	.read_data = gpio_read_data,
	.write_data = gpio_write_data,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvfio-gpio --socket PATH [--inputs MODEL] [-v]\n"
		"\n"
		"Serve an ACCES PCI-IDIO-16 compatible GPIO card (vendor 494f,\n"
		"device 0dc8) over vfio-user until SIGTERM or SIGINT.\n"
		"  --socket PATH    UNIX socket to listen on\n"
		"  --fd N           use this listening or connected socket instead\n"
		"  --inputs MODEL   loopback (inputs read the outputs, default),\n"
		"                   invert, or a fixed 16-bit value like 0xa5a5\n"
		"  --busy-poll USEC after work, look for more for USEC us before\n"
		"                   sleeping (see uvfio_server_set_busy_poll)\n"
		"  -v               log connections and protocol errors\n");
	app_server_usage_env(f);
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
			fprintf(stderr, "uvfio-gpio: --inputs takes loopback, "
					"invert or a 16-bit number, not '%s'\n",
				arg);
			return 2;
		}
		g->model = FIXED;
		g->fixed = (uint16_t)v;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "inputs", required_argument, NULL, 'i' },
		{ 0 },
	};
	struct gpio g = { .model = LOOPBACK, .mig = UVFIO_MIG_RUNNING };
	struct app_server a = {
		.prog = "uvfio-gpio", .usage = usage,
		.options = opts, .option = option, .opaque = &g,
	};
	int r;

	app_server_start(&a, argc, argv);
	g.srv = a.srv;
	g.in = model_inputs(&g);

	const struct uvfio_pci_ids ids = {
		.vendor = 0x494f, .device = 0x0dc8,
		.subsys_vendor = 0x494f, .subsys = 0x0dc8,
		.class_code = 0xff0000, .irq_pin = 1,
	};
	const struct uvfio_region_desc bar2 = {
		.struct_size = sizeof(struct uvfio_region_desc),
		.size = 256,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_IO,
		.fn = bar2_access,
		.opaque = &g,
	};
	if ((r = uvfio_server_set_pci_ids(g.srv, &ids)) ||
	    (r = uvfio_server_add_region(g.srv, 2, &bar2)) ||
	    (r = uvfio_server_set_ops(g.srv, &gpio_ops, &g)))
		return app_server_fail(&a, "device setup", r);
	r = uvfio_server_set_migration(g.srv, &gpio_mig_ops, &g,
				       UVFIO_MIGRATION_STOP_COPY);
	if (r)
		return app_server_fail(&a, "migration setup", r);
	return app_server_run(&a);
}
