/* SPDX-License-Identifier: MIT */
/*
 * Context life cycle: create, realize, attach, run, destroy; logging;
 * reset and quiesce; the native device ops that call the device back.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priv.h"

/* ---- logging ------------------------------------------------------------------ */

void lvu_vlog(vfu_ctx_t *ctx, int level, const char *fmt, va_list ap)
{
	char msg[512];
	if (!ctx || !ctx->log_fn || level > ctx->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	ctx->log_fn(ctx, level, msg);
}

void vfu_log(vfu_ctx_t *ctx, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lvu_vlog(ctx, level, fmt, ap);
	va_end(ap);
}

/* The native library's messages (what was wrong with a peer's message,
 * and so on) reach the device's log function at the matching level. */
static void native_log(void *opaque, int level, const char *msg)
{
	vfu_ctx_t *ctx = opaque;
	int sys = level <= UVFIO_LOG_ERR	? LOG_ERR
		  : level <= UVFIO_LOG_WARN ? LOG_WARNING
		  : level <= UVFIO_LOG_INFO ? LOG_INFO
					    : LOG_DEBUG;
	if (ctx->log_fn && sys <= ctx->log_level)
		ctx->log_fn(ctx, sys, msg);
}

static int native_level(int sys)
{
	return sys <= LOG_ERR	     ? UVFIO_LOG_ERR
	       : sys <= LOG_WARNING ? UVFIO_LOG_WARN
	       : sys <= LOG_INFO    ? UVFIO_LOG_INFO
				    : UVFIO_LOG_DEBUG;
}

int vfu_setup_log(vfu_ctx_t *ctx, vfu_log_fn_t *log, int level)
{
	if (!ctx || level < LOG_EMERG || level > LOG_DEBUG)
		return lvu_fail(EINVAL);
	ctx->log_fn = log;
	ctx->log_level = level;
	uvfio_server_set_log(ctx->srv, log ? native_log : NULL, ctx,
			     log ? native_level(level) : UVFIO_LOG_ERR);
	return 0;
}

/* ---- creation ----------------------------------------------------------------- */

vfu_ctx_t *vfu_create_ctx(vfu_trans_t trans, const char *path, int flags,
			  void *pvt, vfu_dev_type_t dev_type)
{
	if ((unsigned)trans >= VFU_TRANS_MAX || !path ||
	    dev_type != VFU_DEV_TYPE_PCI ||
	    (flags & ~LIBVFIO_USER_FLAG_ATTACH_NB)) {
		errno = EINVAL;
		return NULL;
	}
	if (trans != VFU_TRANS_SOCK) { /* the pipe is libvfio-user's tests' */
		errno = ENOTSUP;
		return NULL;
	}
	vfu_ctx_t *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	/* Conventional until vfu_pci_init() says otherwise. */
	int r = uvfio_server_create(&ctx->srv, path, 0);
	if (r) {
		free(ctx);
		errno = -r;
		return NULL;
	}
	ctx->pvt = pvt;
	ctx->flags = flags;
	ctx->log_level = LOG_ERR;
	/* Quiet until the device sets up its log, as libvfio-user is. */
	uvfio_server_set_log(ctx->srv, NULL, NULL, UVFIO_LOG_ERR);
	/* One ERR and one REQ vector by default (libvfio-user's). */
	ctx->irq_count[VFU_DEV_ERR_IRQ] = 1;
	ctx->irq_count[VFU_DEV_REQ_IRQ] = 1;
	lvu_ops_install(ctx);
	return ctx;
}

void *vfu_get_private(vfu_ctx_t *ctx)
{
	return ctx ? ctx->pvt : NULL;
}

int lvu_check_setup(vfu_ctx_t *ctx)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	if (ctx->realized) {
		vfu_log(ctx, LOG_ERR, "device set up after vfu_realize_ctx(): "
				      "describe it completely first");
		return lvu_fail(EINVAL);
	}
	return 0;
}

int vfu_realize_ctx(vfu_ctx_t *ctx)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	if (ctx->realized)
		return 0;
	int r = lvu_irqs_realize(ctx);
	/* INTA# when the device has an INTx vector. */
	ctx->ids.irq_pin = ctx->irq_count[VFU_DEV_INTX_IRQ] ? 1 : 0;
	if (!r)
		r = uvfio_server_set_pci_ids(ctx->srv, &ctx->ids);
	if (!r)
		r = lvu_region_prepare_cfg(ctx);
	if (!r && ctx->has_migration)
		r = lvu_install_migration(ctx);
	if (r)
		return lvu_fail(r);
	ctx->realized = true;
	return 0;
}

void vfu_destroy_ctx(vfu_ctx_t *ctx)
{
	if (!ctx)
		return;
	int saved = errno;
	uvfio_server_destroy(ctx->srv);
	lvu_windows_forget(ctx);
	lvu_irqs_free(ctx);
	free(ctx);
	errno = saved;
}

/* ---- attach and run ----------------------------------------------------------- */

int vfu_get_poll_fd(vfu_ctx_t *ctx)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	return uvfio_server_poll_fd(ctx->srv);
}

static void claim(vfu_ctx_t *ctx)
{
	ctx->owner = pthread_self();
	ctx->owner_set = true;
}

/*
 * Wait for the server's fd (blocking contexts only).  A signal ends the
 * wait with EINTR, as it ends libvfio-user's blocking accept() and
 * recvmsg(): that is how a blocking device learns it was asked to stop.
 */
static int wait_work(vfu_ctx_t *ctx)
{
	struct pollfd p = { .fd = uvfio_server_poll_fd(ctx->srv),
			    .events = POLLIN };
	return poll(&p, 1, -1) < 0 ? -errno : 0;
}

int vfu_attach_ctx(vfu_ctx_t *ctx)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	if (!ctx->realized) {
		vfu_log(ctx, LOG_ERR, "vfu_attach_ctx() before vfu_realize_ctx()");
		return lvu_fail(EINVAL);
	}
	claim(ctx);
	bool nb = ctx->flags & LIBVFIO_USER_FLAG_ATTACH_NB;
	for (;;) {
		/* A client that connected and negotiated is ours; so is one
		 * the native loop accepted since the last one left. */
		int r = uvfio_server_process(ctx->srv);
		if (r)
			return lvu_fail(r);
		if (uvfio_server_connected(ctx->srv)) {
			ctx->attached = true;
			ctx->lost = false;
			return 0;
		}
		if (nb)
			return lvu_fail(EAGAIN);
		r = wait_work(ctx);
		if (r)
			return lvu_fail(r);
	}
}

/* After a disconnect the device must attach again (ENOTCONN once per
 * lost client, as libvfio-user). */
static int run_state(vfu_ctx_t *ctx)
{
	if (ctx->lost) {
		ctx->lost = false;
		ctx->attached = false;
		return lvu_fail(ENOTCONN);
	}
	if (ctx->quiescing)
		return lvu_fail(EBUSY);
	return 0;
}

int vfu_run_ctx(vfu_ctx_t *ctx)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	if (!ctx->realized)
		return lvu_fail(EINVAL);
	if (!ctx->attached && !ctx->lost)
		return lvu_fail(ENOTCONN);
	claim(ctx);
	bool nb = ctx->flags & LIBVFIO_USER_FLAG_ATTACH_NB;
	uint64_t before = uvfio_server_commands_handled(ctx->srv);
	for (;;) {
		/* Processing goes on while quiescing: the device may be
		 * waiting for its DMA replies to finish. */
		int r = uvfio_server_process(ctx->srv);
		if (r)
			return lvu_fail(r);
		if (run_state(ctx))
			return -1;
		uint64_t n = uvfio_server_commands_handled(ctx->srv) - before;
		if (nb)
			return n > INT32_MAX ? INT32_MAX : (int)n;
		r = wait_work(ctx);
		if (r)
			return lvu_fail(r);
	}
}

/* ---- reset and quiesce ------------------------------------------------------- */

int vfu_setup_device_reset_cb(vfu_ctx_t *ctx, vfu_reset_cb_t *reset)
{
	if (lvu_check_setup(ctx))
		return -1;
	ctx->reset_cb = reset;
	return 0;
}

void vfu_setup_device_quiesce_cb(vfu_ctx_t *ctx, vfu_device_quiesce_cb_t *cb)
{
	if (!ctx)
		return;
	ctx->quiesce_cb = cb;
	lvu_ops_install(ctx);
}

int vfu_device_quiesced(vfu_ctx_t *ctx, int quiesce_errno)
{
	if (!ctx)
		return lvu_fail(EINVAL);
	if (!ctx->quiescing) {
		vfu_log(ctx, LOG_ERR, "vfu_device_quiesced() with no quiesce "
				      "pending");
		return lvu_fail(EINVAL);
	}
	ctx->quiescing = false;
	uvfio_server_device_quiesced(ctx->srv,
				     quiesce_errno > 0 ? -quiesce_errno
						       : quiesce_errno);
	/* libvfio-user handles the held command before returning; so do
	 * we when called by the context's own thread outside a callback
	 * (elsewhere the next vfu_run_ctx() does it). */
	if (ctx->owner_set && pthread_equal(ctx->owner, pthread_self()) &&
	    !ctx->cb_depth) {
		int r = uvfio_server_process(ctx->srv);
		if (r)
			return lvu_fail(r);
	}
	return 0;
}

/* ---- native ops: the device's callbacks --------------------------------------- */

static int op_reset(void *o, enum uvfio_reset_reason why)
{
	vfu_ctx_t *ctx = o;
	if (!ctx->reset_cb)
		return 0;
	vfu_reset_type_t t = why == UVFIO_RESET_LOST_CONN ? VFU_RESET_LOST_CONN
			     : why == UVFIO_RESET_FLR     ? VFU_RESET_PCI_FLR
							  : VFU_RESET_DEVICE;
	ctx->cb_depth++;
	int r = ctx->reset_cb(ctx, t);
	ctx->cb_depth--;
	return r < 0 ? lvu_cb_err() : 0;
}

static void op_disconnected(void *o)
{
	vfu_ctx_t *ctx = o;
	ctx->lost = ctx->attached;
	ctx->quiescing = false;
	lvu_irqs_forget(ctx); /* every eventfd went with the client */
}

static int op_quiesce(void *o)
{
	vfu_ctx_t *ctx = o;
	ctx->cb_depth++;
	int r = ctx->quiesce_cb(ctx);
	ctx->cb_depth--;
	if (r == 0)
		return 0;
	if (errno == EBUSY) {
		ctx->quiescing = true;
		return -EBUSY;
	}
	return lvu_cb_err();
}

static void op_irq_mask(void *o, unsigned index, uint32_t start,
			uint32_t count, bool masked)
{
	vfu_ctx_t *ctx = o;
	if (index < VFU_DEV_NUM_IRQS && ctx->irq_state_cb[index]) {
		ctx->cb_depth++;
		ctx->irq_state_cb[index](ctx, start, count, masked);
		ctx->cb_depth--;
	}
}

void lvu_ops_install(vfu_ctx_t *ctx)
{
	struct uvfio_device_ops ops = {
		.struct_size = sizeof(ops),
		.reset = op_reset,
		.disconnected = op_disconnected,
		.dma_map = lvu_op_dma_map,
		.dma_unmap = lvu_op_dma_unmap,
		.irq_mask = op_irq_mask,
		.irq_state = lvu_op_irq_state,
		/* Without a quiesce callback the device is always quiesced,
		 * as libvfio-user assumes: nothing waits. */
		.quiesce = ctx->quiesce_cb ? op_quiesce : NULL,
	};
	uvfio_server_set_ops(ctx->srv, &ops, ctx);
}
