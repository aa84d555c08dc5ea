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
 *   uvfio-gpio --socket PATH [--inputs loopback|invert|0xNNNN] [-v]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/server.h>

enum model { LOOPBACK, INVERT, FIXED };

struct gpio {
	struct uvfio_server *srv;
	enum model model;
	uint16_t fixed;
	uint16_t out, in;
	uint8_t irq_status;
	bool irq_enabled;
};

static struct uvfio_server *the_srv;

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
	/* -EAGAIN only means no eventfd yet or INTx still masked. */
	uvfio_server_irq_trigger(g->srv, UVFIO_PCI_INTX_IRQ, 0);
}

static ssize_t bar2_access(void *opaque, unsigned index, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	struct gpio *g = opaque;
	uint8_t *b = buf;
	(void)index;

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
				g->irq_status = 0;
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
	}
	return 0;
}

static const struct uvfio_device_ops gpio_ops = { .reset = gpio_reset };

static void on_signal(int sig)
{
	(void)sig;
	uvfio_server_stop(the_srv);
}

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
		"  -v               log connections and protocol errors\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "inputs", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct gpio g = { .model = LOOPBACK };
	const char *path = NULL;
	int fd = -1, level = UVFIO_LOG_WARN, c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'f':
			fd = atoi(optarg);
			break;
		case 'i':
			if (!strcmp(optarg, "loopback")) {
				g.model = LOOPBACK;
			} else if (!strcmp(optarg, "invert")) {
				g.model = INVERT;
			} else {
				char *end;
				unsigned long v = strtoul(optarg, &end, 0);
				if (*end || v > 0xffff) {
					fprintf(stderr, "uvfio-gpio: --inputs takes "
							"loopback, invert or a "
							"16-bit number\n");
					return 2;
				}
				g.model = FIXED;
				g.fixed = (uint16_t)v;
			}
			break;
		case 'v':
			level = UVFIO_LOG_INFO;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((path == NULL) == (fd < 0)) {
		fprintf(stderr, "uvfio-gpio: give exactly one of --socket and --fd\n");
		usage(stderr);
		return 2;
	}
	int r = path ? uvfio_server_create(&g.srv, path, 0)
		     : uvfio_server_create_fd(&g.srv, fd, 0);
	if (r) {
		fprintf(stderr, "uvfio-gpio: cannot serve on %s: %s\n",
			path ? path : "the given fd", strerror(-r));
		return 1;
	}
	the_srv = g.srv;
	uvfio_server_set_log(g.srv, NULL, NULL, level);
	g.in = model_inputs(&g);

	const struct uvfio_pci_ids ids = {
		.vendor = 0x494f, .device = 0x0dc8,
		.subsys_vendor = 0x494f, .subsys = 0x0dc8,
		.class_code = 0xff0000, .irq_pin = 1,
	};
	const struct uvfio_region_desc bar2 = {
		.size = 256,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_IO,
		.fn = bar2_access,
		.opaque = &g,
	};
	if ((r = uvfio_server_set_pci_ids(g.srv, &ids)) ||
	    (r = uvfio_server_add_region(g.srv, 2, &bar2))) {
		fprintf(stderr, "uvfio-gpio: device setup failed: %s\n",
			strerror(-r));
		uvfio_server_destroy(g.srv);
		return 1;
	}
	uvfio_server_set_ops(g.srv, &gpio_ops, &g);

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = uvfio_server_run(g.srv);
	uvfio_server_destroy(g.srv);
	if (r) {
		fprintf(stderr, "uvfio-gpio: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
