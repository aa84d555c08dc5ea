/* SPDX-License-Identifier: MIT */
/* Migration v2: the device's three callbacks on the native state machine,
 * which walks each requested change arc by arc and calls transition with
 * every state on the way. */
#include "priv.h"

static int to_vfu(enum uvfio_mig_state s, vfu_migr_state_t *out)
{
	switch (s) {
	case UVFIO_MIG_STOP:
		*out = VFU_MIGR_STATE_STOP;
		return 0;
	case UVFIO_MIG_RUNNING:
		*out = VFU_MIGR_STATE_RUNNING;
		return 0;
	case UVFIO_MIG_STOP_COPY:
		*out = VFU_MIGR_STATE_STOP_AND_COPY;
		return 0;
	case UVFIO_MIG_PRE_COPY:
		*out = VFU_MIGR_STATE_PRE_COPY;
		return 0;
	case UVFIO_MIG_RESUMING:
		*out = VFU_MIGR_STATE_RESUME;
		return 0;
	default:
		return -EINVAL; /* P2P states: not advertised */
	}
}

static int mig_transition(void *o, enum uvfio_mig_state from,
			  enum uvfio_mig_state to)
{
	vfu_ctx_t *ctx = o;
	vfu_migr_state_t st;
	(void)from;
	if (to_vfu(to, &st))
		return -EINVAL;
	ctx->cb_depth++;
	int r = ctx->mig.transition(ctx, st);
	ctx->cb_depth--;
	return r < 0 ? lvu_cb_err() : 0;
}

static ssize_t mig_read(void *o, void *buf, size_t len)
{
	vfu_ctx_t *ctx = o;
	ctx->cb_depth++;
	ssize_t n = ctx->mig.read_data(ctx, buf, len);
	ctx->cb_depth--;
	return n < 0 ? lvu_cb_err() : n;
}

static ssize_t mig_write(void *o, const void *buf, size_t len)
{
	vfu_ctx_t *ctx = o;
	ctx->cb_depth++;
	/* The device's prototype takes void *; it must not write to it. */
	ssize_t n = ctx->mig.write_data(ctx, (void *)(uintptr_t)buf, len);
	ctx->cb_depth--;
	return n < 0 ? lvu_cb_err() : n;
}

int vfu_setup_device_migration_callbacks(
	vfu_ctx_t *ctx, const vfu_migration_callbacks_t *callbacks)
{
	if (lvu_check_setup(ctx))
		return -1;
	if (!callbacks || callbacks->version != VFU_MIGR_CALLBACKS_VERS ||
	    !callbacks->transition || !callbacks->read_data ||
	    !callbacks->write_data) {
		vfu_log(ctx, LOG_ERR, "migration callbacks: version must be %d "
				      "and all three callbacks set",
			VFU_MIGR_CALLBACKS_VERS);
		return lvu_fail(EINVAL);
	}
	ctx->mig = *callbacks;
	ctx->has_migration = true;
	return 0;
}

int lvu_install_migration(vfu_ctx_t *ctx)
{
	const struct uvfio_migration_ops ops = {
		.struct_size = sizeof(ops),
		.transition = mig_transition,
		.read_data = mig_read,
		.write_data = mig_write,
	};
	return uvfio_server_set_migration(ctx->srv, &ops, ctx,
					  UVFIO_MIGRATION_STOP_COPY |
						  UVFIO_MIGRATION_PRE_COPY);
}
