/* SPDX-License-Identifier: MIT */
/* What main.c takes from ctrl.c. */
#ifndef UVFIO_SAMPLES_NVME_CTRL_H
#define UVFIO_SAMPLES_NVME_CTRL_H

#include "nvme.h"

/* BAR0: registers and doorbells (a uvfio_region_fn). */
ssize_t nvme_bar0(void *opaque, unsigned index, uint64_t off, void *buf,
		  size_t count, bool is_write);
/* Registers, queues and features as after power-on. */
void nvme_power_on(struct nvme_ctrl *n);

#endif
