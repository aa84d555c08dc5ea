/* SPDX-License-Identifier: MIT */
/*
 * Interrupts: irq indexes and their eventfds, GET_IRQ_INFO, SET_IRQS in
 * every action/data combination, and irq_trigger from any thread.
 *
 * s->lock guards the eventfds and the masks, and every read or write of
 * the emulated config space and MSI-X table, so a device thread raising an
 * interrupt sees a consistent enable/mask state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

void srv_irqs_init(struct uvfio_server *s)
{
	s->intx_resample_fd = -1;
	s->irqs[UVFIO_PCI_ERR_IRQ].count = 0;
	s->irqs[UVFIO_PCI_REQ_IRQ].count = 0;
	uvfio_server_set_irq_count(s, UVFIO_PCI_ERR_IRQ, 1);
	uvfio_server_set_irq_count(s, UVFIO_PCI_REQ_IRQ, 1);
}

static void close_efds(struct srv_irq *q, uint32_t start, uint32_t count)
{
	for (uint32_t i = start; i < start + count; i++) {
		if (q->efd[i] >= 0)
			close(q->efd[i]);
		q->efd[i] = -1;
	}
}

/*
 * Tell the device which vectors of [start, start + count) have an eventfd
 * (want: those whose state is on, in runs), or with had, which of them
 * had one and no longer do.  The server thread is the only writer of the
 * eventfds, so it reads them without the lock.
 */
static void report_state(struct uvfio_server *s, unsigned idx, uint32_t start,
			 uint32_t count, const uint8_t *had)
{
	struct srv_irq *q = &s->irqs[idx];
	if (!s->ops.irq_state)
		return;
	uint32_t end = start + count, i = start;
	while (i < end) {
		bool on = had ? false : q->efd[i] >= 0;
		uint32_t j = i;
		if (had) {
			while (j < end && !had[j - start])
				j++;
			i = j;
			while (j < end && had[j - start])
				j++;
			if (i == j)
				break;
		} else {
			while (j < end && (q->efd[j] >= 0) == on)
				j++;
		}
		s->ops.irq_state(s->ops_opaque, idx, i, j - i, on);
		i = j;
	}
}

/* Close the eventfds of an index and report the vectors that had one. */
static void clear_index(struct uvfio_server *s, unsigned idx)
{
	struct srv_irq *q = &s->irqs[idx];
	uint8_t had[PCICFG_MAX_MSIX];
	uint32_t n = q->count; /* read once: every byte of had[n] is set */
	for (uint32_t i = 0; i < n; i++)
		had[i] = q->efd[i] >= 0;
	pthread_mutex_lock(&s->lock);
	close_efds(q, 0, n);
	pthread_mutex_unlock(&s->lock);
	report_state(s, idx, 0, n, had);
}

void srv_irqs_release(struct uvfio_server *s)
{
	for (unsigned i = 0; i < UVFIO_PCI_NUM_IRQS; i++)
		clear_index(s, i);
	pthread_mutex_lock(&s->lock);
	s->client_emulates_msi = false;
	s->intx_pending = false;
	if (s->intx_resample_fd >= 0)
		close(s->intx_resample_fd);
	s->intx_resample_fd = -1;
	for (unsigned i = 0; i < UVFIO_PCI_NUM_IRQS; i++) {
		struct srv_irq *q = &s->irqs[i];
		close_efds(q, 0, q->count);
		if (q->count)
			memset(q->masked, 0, q->count);
	}
	pthread_mutex_unlock(&s->lock);
}

void srv_irqs_fini(struct uvfio_server *s)
{
	srv_irqs_release(s);
	for (unsigned i = 0; i < UVFIO_PCI_NUM_IRQS; i++) {
		free(s->irqs[i].efd);
		free(s->irqs[i].masked);
		memset(&s->irqs[i], 0, sizeof(s->irqs[i]));
	}
}

int uvfio_server_set_irq_count(struct uvfio_server *s, unsigned index,
			       uint32_t count)
{
	if (s->described)
		return -EBUSY;
	if (index >= UVFIO_PCI_NUM_IRQS || count > PCICFG_MAX_MSIX ||
	    (index == UVFIO_PCI_INTX_IRQ && count > 1) ||
	    (index == UVFIO_PCI_MSI_IRQ && count > 32) ||
	    (index >= UVFIO_PCI_ERR_IRQ && count > 1))
		return -EINVAL;
	struct srv_irq *q = &s->irqs[index];
	int *efd = count ? malloc(count * sizeof(int)) : NULL;
	uint8_t *masked = count ? calloc(count, 1) : NULL;
	if (count && (!efd || !masked)) {
		free(efd);
		free(masked);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		efd[i] = -1;
	free(q->efd);
	free(q->masked);
	q->efd = efd;
	q->masked = masked;
	q->count = count;
	return 0;
}

void srv_handle_irq_info(struct uvfio_server *s, struct uvfio_cmd_view *v)
{
	uint32_t idx = v->u.irq_info.index;
	if (idx >= UVFIO_PCI_NUM_IRQS) {
		srv_reply_error(s, &v->hdr, EINVAL, "irq index out of range");
		return;
	}
	/* The flags kernel VFIO reports, which QEMU's generic code expects. */
	uint32_t flags = UVFIO_IRQ_INFO_EVENTFD;
	if (idx == UVFIO_PCI_INTX_IRQ)
		flags |= UVFIO_IRQ_INFO_MASKABLE | UVFIO_IRQ_INFO_AUTOMASKED;
	else if (idx == UVFIO_PCI_MSI_IRQ || idx == UVFIO_PCI_MSIX_IRQ)
		flags |= UVFIO_IRQ_INFO_NORESIZE;
	struct uvfio_irq_info ii = {
		.argsz = sizeof(ii),
		.flags = flags,
		.index = idx,
		.count = s->irqs[idx].count,
	};
	srv_reply_ok(s, &v->hdr, &ii, sizeof(ii), NULL, 0);
}

static int fire_locked(struct uvfio_server *s, unsigned index, uint32_t vec);

/* INTx was unmasked: deliver what came while it was masked.  Lock held. */
static void intx_unmasked_locked(struct uvfio_server *s)
{
	s->irqs[UVFIO_PCI_INTX_IRQ].masked[0] = 0;
	if (s->intx_pending)
		fire_locked(s, UVFIO_PCI_INTX_IRQ, 0);
}

/* Signal one vector's eventfd if nothing masks it.  Called with the lock
 * held.  Returns 0 when signalled, -EAGAIN when masked/disabled/unset. */
static int fire_locked(struct uvfio_server *s, unsigned index, uint32_t vec)
{
	struct srv_irq *q = &s->irqs[index];
	struct pcicfg *p = &s->pci;
	uint64_t one = 1;

	switch (index) {
	case UVFIO_PCI_INTX_IRQ:
		if (pcicfg_intx_disabled(p))
			return -EAGAIN;
		if (q->masked[0]) {
			/* VFIO's INTx is a level: a device that asserts
			 * while the client has it masked (automasked after
			 * the last one, until the guest's EOI) is still
			 * asserting when it is unmasked, and must be heard
			 * then, or a device that triggers once per event
			 * loses that event. */
			s->intx_pending = true;
			return -EAGAIN;
		}
		break;
	case UVFIO_PCI_MSI_IRQ:
		if (p->msi_off && !s->client_emulates_msi &&
		    (!pcicfg_msi_enabled(p) || vec >= pcicfg_msi_nvec(p) ||
		     pcicfg_msi_masked(p, vec)))
			return -EAGAIN;
		break;
	case UVFIO_PCI_MSIX_IRQ:
		if (!p->msix_off || s->client_emulates_msi)
			break;
		if (!pcicfg_msix_enabled(p))
			return -EAGAIN;
		if (pcicfg_msix_masked(p, vec)) {
			/* Delivered when the guest unmasks it. */
			pcicfg_msix_set_pending(p, vec, true);
			return -EAGAIN;
		}
		break;
	}
	if (q->masked[vec] || q->efd[vec] < 0)
		return -EAGAIN;
	if (write(q->efd[vec], &one, sizeof(one)) != sizeof(one))
		return -errno;
	if (index == UVFIO_PCI_INTX_IRQ)
		s->intx_pending = false;
	/* INTx is level-triggered on the bus; VFIO delivers it as an edge
	 * and masks it until the client unmasks after the guest's EOI. */
	if (index == UVFIO_PCI_INTX_IRQ)
		q->masked[0] = 1;
	return 0;
}

int uvfio_server_irq_trigger(struct uvfio_server *s, unsigned index,
			     uint32_t vector)
{
	if (index >= UVFIO_PCI_NUM_IRQS || vector >= s->irqs[index].count)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	int r = s->conn && s->conn->negotiated ? fire_locked(s, index, vector)
					       : -ENOTCONN;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int uvfio_server_irq_deassert(struct uvfio_server *s, unsigned index,
			      uint32_t vector)
{
	if ((index != UVFIO_PCI_INTX_IRQ && index != UVFIO_PCI_MSIX_IRQ) ||
	    vector >= s->irqs[index].count)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (index == UVFIO_PCI_INTX_IRQ)
		s->intx_pending = false;
	else if (s->pci.msix_off)
		pcicfg_msix_set_pending(&s->pci, vector, false);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void srv_irq_msix_unmasked(struct uvfio_server *s, unsigned vec)
{
	pthread_mutex_lock(&s->lock);
	if (vec < s->irqs[UVFIO_PCI_MSIX_IRQ].count &&
	    pcicfg_msix_pending(&s->pci, vec) &&
	    !pcicfg_msix_masked(&s->pci, vec) &&
	    pcicfg_msix_enabled(&s->pci)) {
		pcicfg_msix_set_pending(&s->pci, vec, false);
		fire_locked(s, UVFIO_PCI_MSIX_IRQ, vec);
	}
	pthread_mutex_unlock(&s->lock);
}

void srv_irqs_config_changed(struct uvfio_server *s, unsigned events)
{
	if (!(events & PCICFG_EV_MSIX))
		return;
	/* Enable or function-mask changes may release pending vectors. */
	for (unsigned v = 0; v < s->irqs[UVFIO_PCI_MSIX_IRQ].count; v++)
		srv_irq_msix_unmasked(s, v);
}

void srv_handle_set_irqs(struct uvfio_server *s, struct uvfio_cmd_view *v,
			 int *fds)
{
	const struct uvfio_irq_set *req = &v->u.irq_set.req;
	uint32_t data = req->flags & UVFIO_IRQ_DATA_MASK;
	uint32_t action = req->flags & UVFIO_IRQ_ACTION_MASK_ALL;
	uint32_t idx = req->index, start = req->start, count = req->count;

	if (idx >= UVFIO_PCI_NUM_IRQS) {
		srv_reply_error(s, &v->hdr, EINVAL, "irq index out of range");
		return;
	}
	struct srv_irq *q = &s->irqs[idx];
	/* The codec allows count 0 only as NONE|TRIGGER with start 0. */
	if (count == 0) {
		clear_index(s, idx);
		srv_reply_ok(s, &v->hdr, NULL, 0, NULL, 0);
		return;
	}
	if (start >= q->count || count > q->count - start) {
		srv_reply_error(s, &v->hdr, EINVAL,
				"vectors beyond the index's irq count");
		return;
	}
	if ((idx == UVFIO_PCI_ERR_IRQ || idx == UVFIO_PCI_REQ_IRQ) &&
	    action != UVFIO_IRQ_ACTION_TRIGGER) {
		srv_reply_error(s, &v->hdr, EINVAL,
				"ERR and REQ irqs only support TRIGGER");
		return;
	}

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t vec = start + i;
		bool sel = data != UVFIO_IRQ_DATA_BOOL || v->u.irq_set.bools[i];
		switch (action) {
		case UVFIO_IRQ_ACTION_TRIGGER:
			if (data == UVFIO_IRQ_DATA_EVENTFD) {
				/* Replace; no fds at all means de-assign. */
				close_efds(q, vec, 1);
				if (v->nfds) {
					q->efd[vec] = fds[i];
					fds[i] = -1;
				}
			} else if (sel) {
				fire_locked(s, idx, vec);
			}
			break;
		case UVFIO_IRQ_ACTION_MASK:
		case UVFIO_IRQ_ACTION_UNMASK:
			if (data != UVFIO_IRQ_DATA_EVENTFD) {
				if (sel && idx == UVFIO_PCI_INTX_IRQ &&
				    action == UVFIO_IRQ_ACTION_UNMASK)
					intx_unmasked_locked(s);
				else if (sel)
					q->masked[vec] =
						action == UVFIO_IRQ_ACTION_MASK;
			} else if (idx == UVFIO_PCI_INTX_IRQ &&
				   action == UVFIO_IRQ_ACTION_UNMASK) {
				/* KVM's resample eventfd, signalled at the
				 * guest's EOI: it unmasks INTx (kernel VFIO
				 * semantics, which QEMU uses). */
				if (s->intx_resample_fd >= 0)
					close(s->intx_resample_fd);
				s->intx_resample_fd = -1;
				if (v->nfds) {
					s->intx_resample_fd = fds[i];
					fds[i] = -1;
				}
				srv_watch_resample(s);
			}
			/* Other notifier eventfds are not used: closed. */
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (action == UVFIO_IRQ_ACTION_TRIGGER && data == UVFIO_IRQ_DATA_EVENTFD)
		report_state(s, idx, start, count, NULL);
	if (action != UVFIO_IRQ_ACTION_TRIGGER && data != UVFIO_IRQ_DATA_EVENTFD &&
	    s->ops.irq_mask)
		s->ops.irq_mask(s->ops_opaque, idx, start, count,
				action == UVFIO_IRQ_ACTION_MASK);
	srv_reply_ok(s, &v->hdr, NULL, 0, NULL, 0);
}

/* The resample eventfd fired: the guest has EOI'd, INTx is unmasked. */
void srv_irq_resample(struct uvfio_server *s)
{
	uint64_t n;
	pthread_mutex_lock(&s->lock);
	if (s->intx_resample_fd >= 0 &&
	    read(s->intx_resample_fd, &n, sizeof(n)) == sizeof(n) &&
	    s->irqs[UVFIO_PCI_INTX_IRQ].count)
		intx_unmasked_locked(s);
	pthread_mutex_unlock(&s->lock);
}
