/* SPDX-License-Identifier: MIT */
/* Client interrupts: SET_IRQS in its useful forms, and waiting for one. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"
#include "util/util.h"

#define MAX_VECTORS 2048u

static int send_set_irqs(struct uvfio_client *c, uint32_t flags,
			 unsigned index, uint32_t start, uint32_t count,
			 const int *fds, unsigned nfds)
{
	uint8_t msg[64];
	uint16_t id = cli_next_id(c);
	ssize_t n = uvfio_build_set_irqs(msg, sizeof(msg), id, flags, index,
					 start, count, NULL);
	struct pending p = {
		.exp = { .cmd = UVFIO_CMD_DEVICE_SET_IRQS, .msg_id = id },
	};
	return cli_call(c, msg, (size_t)n, fds, nfds, &p);
}

/* Eventfds in runs the server accepts in one message (its max_msg_fds). */
static int send_eventfds(struct uvfio_client *c, unsigned index,
			 uint32_t start, uint32_t count, const int *fds)
{
	uint32_t per = c->srv.max_msg_fds ? c->srv.max_msg_fds : 1;
	const uint32_t flags = UVFIO_IRQ_DATA_EVENTFD | UVFIO_IRQ_ACTION_TRIGGER;
	if (!fds)
		return send_set_irqs(c, flags, index, start, count, NULL, 0);
	for (uint32_t done = 0; done < count;) {
		uint32_t n = count - done < per ? count - done : per;
		int r = send_set_irqs(c, flags, index, start + done, n,
				      fds + done, n);
		if (r)
			return r;
		done += n;
	}
	return 0;
}

/* Remember our duplicates so a reconnect can give them again. */
static int keep_fds(struct uvfio_client *c, unsigned index, uint32_t start,
		    uint32_t count, const int *fds)
{
	if (c->irq_n[index] < start + count) {
		int *n = realloc(c->irq_fds[index], (start + count) * sizeof(int));
		if (!n)
			return -ENOMEM;
		for (uint32_t i = c->irq_n[index]; i < start + count; i++)
			n[i] = -1;
		c->irq_fds[index] = n;
		c->irq_n[index] = start + count;
	}
	for (uint32_t i = 0; i < count; i++) {
		int *slot = &c->irq_fds[index][start + i];
		if (*slot >= 0)
			close(*slot);
		*slot = fds ? fcntl(fds[i], F_DUPFD_CLOEXEC, 3) : -1;
	}
	return 0;
}

int uvfio_client_irq_set_eventfds(struct uvfio_client *c, unsigned index,
				  uint32_t start, uint32_t count,
				  const int *fds)
{
	if (index >= UVFIO_PCI_NUM_IRQS || count > MAX_VECTORS ||
	    start > MAX_VECTORS - count)
		return -EINVAL;
	cli_lock(c);
	int r = send_eventfds(c, index, start, count, fds);
	if (!r)
		r = keep_fds(c, index, start, count, fds);
	cli_unlock(c);
	return r;
}

int uvfio_client_irq_enable(struct uvfio_client *c, unsigned index,
			    uint32_t start, uint32_t count, int *efds)
{
	if (!count || count > MAX_VECTORS)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		efds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efds[i] < 0) {
			int err = -errno;
			while (i--)
				close(efds[i]);
			return err;
		}
	}
	int r = uvfio_client_irq_set_eventfds(c, index, start, count, efds);
	if (r)
		for (uint32_t i = 0; i < count; i++)
			close(efds[i]);
	return r;
}

int uvfio_client_irq_disable(struct uvfio_client *c, unsigned index)
{
	if (index >= UVFIO_PCI_NUM_IRQS)
		return -EINVAL;
	cli_lock(c);
	int r = send_set_irqs(c, UVFIO_IRQ_DATA_NONE | UVFIO_IRQ_ACTION_TRIGGER,
			      index, 0, 0, NULL, 0);
	if (!r && c->irq_n[index])
		keep_fds(c, index, 0, c->irq_n[index], NULL);
	cli_unlock(c);
	return r;
}

/* SET_IRQS with no data: action on vectors [start, start + count). */
static int irq_action(struct uvfio_client *c, unsigned index, uint32_t start,
		      uint32_t count, uint32_t action)
{
	if (index >= UVFIO_PCI_NUM_IRQS || !count)
		return -EINVAL;
	cli_lock(c);
	int r = send_set_irqs(c, UVFIO_IRQ_DATA_NONE | action, index, start,
			      count, NULL, 0);
	cli_unlock(c);
	return r;
}

int uvfio_client_irq_mask(struct uvfio_client *c, unsigned index,
			  uint32_t start, uint32_t count, bool mask)
{
	return irq_action(c, index, start, count,
			  mask ? UVFIO_IRQ_ACTION_MASK : UVFIO_IRQ_ACTION_UNMASK);
}

int uvfio_client_irq_trigger(struct uvfio_client *c, unsigned index,
			     uint32_t start, uint32_t count)
{
	return irq_action(c, index, start, count, UVFIO_IRQ_ACTION_TRIGGER);
}

int uvfio_client_irq_wait(struct uvfio_client *c, int efd, int timeout_ms,
			  uint64_t *count)
{
	int64_t t0 = util_now_ms();
	for (;;) {
		uint64_t v;
		/* Look before reading: the eventfd may be a blocking one. */
		struct pollfd ready = { efd, POLLIN, 0 };
		if (poll(&ready, 1, 0) == 1 && read(efd, &v, sizeof(v)) == sizeof(v)) {
			if (count)
				*count = v;
			return 0;
		}
		if (ready.revents & (POLLERR | POLLNVAL))
			return -EBADF;
		/* Serve the device meanwhile: its interrupt may follow DMA
		 * that we have to answer. */
		int r = uvfio_client_process(c);
		if (r)
			return r;
		int64_t spent = util_now_ms() - t0;
		if (timeout_ms >= 0 && spent >= timeout_ms)
			return -ETIMEDOUT;
		struct pollfd pf[2] = {
			{ efd, POLLIN, 0 },
			{ uvfio_client_poll_fd(c), POLLIN, 0 },
		};
		int wait = timeout_ms < 0 ? -1 : (int)(timeout_ms - spent);
		if (poll(pf, 2, wait) < 0 && errno != EINTR)
			return -errno;
	}
}

void cli_irqs_drop(struct uvfio_client *c)
{
	for (unsigned i = 0; i < UVFIO_PCI_NUM_IRQS; i++) {
		for (uint32_t v = 0; v < c->irq_n[i]; v++)
			if (c->irq_fds[i][v] >= 0)
				close(c->irq_fds[i][v]);
		free(c->irq_fds[i]);
		c->irq_fds[i] = NULL;
		c->irq_n[i] = 0;
	}
}

int cli_irqs_resend(struct uvfio_client *c)
{
	/* Runs of consecutive vectors with eventfds, as QEMU sends them. */
	for (unsigned i = 0; i < UVFIO_PCI_NUM_IRQS; i++) {
		uint32_t v = 0;
		while (v < c->irq_n[i]) {
			if (c->irq_fds[i][v] < 0) {
				v++;
				continue;
			}
			uint32_t e = v;
			while (e < c->irq_n[i] && c->irq_fds[i][e] >= 0)
				e++;
			int r = send_eventfds(c, i, v, e - v, c->irq_fds[i] + v);
			if (r)
				return r;
			v = e;
		}
	}
	return 0;
}
