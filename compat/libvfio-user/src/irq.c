/* SPDX-License-Identifier: MIT */
/* Interrupts: vector counts, mask callbacks, and triggering on whichever
 * index the client has wired up. */
#include <stdlib.h>
#include <string.h>

#include "priv.h"

int vfu_setup_device_nr_irqs(vfu_ctx_t *ctx, enum vfu_dev_irq_type type,
			     uint32_t count)
{
	if (lvu_check_setup(ctx))
		return -1;
	if ((unsigned)type >= VFU_DEV_NUM_IRQS)
		return lvu_fail(EINVAL);
	/* The sizes the capabilities can express. */
	uint32_t max = type == VFU_DEV_INTX_IRQ ? 1
		       : type == VFU_DEV_MSI_IRQ ? 32
		       : type == VFU_DEV_MSIX_IRQ ? 2048
						   : 1;
	if (count > max)
		return lvu_fail(EINVAL);
	ctx->irq_count[type] = count;
	return 0;
}

int vfu_setup_irq_state_callback(vfu_ctx_t *ctx, enum vfu_dev_irq_type type,
				 vfu_dev_irq_state_cb_t *cb)
{
	if (!ctx || (unsigned)type >= VFU_DEV_NUM_IRQS)
		return lvu_fail(EINVAL);
	ctx->irq_state_cb[type] = cb;
	return 0;
}

int lvu_irqs_realize(vfu_ctx_t *ctx)
{
	for (unsigned i = 0; i < VFU_DEV_NUM_IRQS; i++) {
		int r = uvfio_server_set_irq_count(ctx->srv, i,
						   ctx->irq_count[i]);
		if (r)
			return r;
		if (ctx->irq_count[i]) {
			ctx->irq_on[i] = calloc(ctx->irq_count[i], 1);
			if (!ctx->irq_on[i])
				return -ENOMEM;
		}
	}
	return 0;
}

void lvu_irqs_forget(vfu_ctx_t *ctx)
{
	for (unsigned i = 0; i < VFU_DEV_NUM_IRQS; i++) {
		if (ctx->irq_on[i])
			memset(ctx->irq_on[i], 0, ctx->irq_count[i]);
		ctx->irq_live[i] = 0;
	}
}

void lvu_irqs_free(vfu_ctx_t *ctx)
{
	for (unsigned i = 0; i < VFU_DEV_NUM_IRQS; i++)
		free(ctx->irq_on[i]);
}

void lvu_op_irq_state(void *o, unsigned index, uint32_t start,
		      uint32_t count, bool enabled)
{
	vfu_ctx_t *ctx = o;
	if (index >= VFU_DEV_NUM_IRQS || !ctx->irq_on[index])
		return;
	for (uint32_t v = start; v < start + count && v < ctx->irq_count[index];
	     v++) {
		if (ctx->irq_on[index][v] != enabled)
			ctx->irq_live[index] += enabled ? 1 : (uint32_t)-1;
		ctx->irq_on[index][v] = enabled;
	}
}

/*
 * libvfio-user keeps one set of eventfds, those of the index the client
 * configured last; the native library keeps each index's.  The live one
 * is the richest the client wired up: a guest that enabled MSI-X has
 * given up INTx.
 */
static unsigned live_index(const vfu_ctx_t *ctx)
{
	if (ctx->irq_live[VFU_DEV_MSIX_IRQ])
		return VFU_DEV_MSIX_IRQ;
	if (ctx->irq_live[VFU_DEV_MSI_IRQ])
		return VFU_DEV_MSI_IRQ;
	return VFU_DEV_INTX_IRQ;
}

int vfu_irq_trigger(vfu_ctx_t *ctx, uint32_t subindex)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	uint32_t max = 0;
	for (unsigned i = VFU_DEV_INTX_IRQ; i <= VFU_DEV_MSIX_IRQ; i++)
		max = ctx->irq_count[i] > max ? ctx->irq_count[i] : max;
	if (subindex >= max)
		return lvu_fail(EINVAL); /* no index has that vector */
	unsigned index = live_index(ctx);
	int r = subindex < ctx->irq_count[index]
			? uvfio_server_irq_trigger(ctx->srv, index, subindex)
			: -EAGAIN;
	if (r == -EAGAIN && subindex < ctx->irq_count[index] &&
	    ctx->irq_on[index] && ctx->irq_on[index][subindex])
		return 0; /* masked by the client: INTx fires at its unmask */
	if (r == -EAGAIN) {
		vfu_log(ctx, LOG_DEBUG, "interrupt %u of index %u not sent: the "
					"client gave it no eventfd", subindex,
			index);
		return lvu_fail(ENOENT);
	}
	return lvu_ret(r);
}
