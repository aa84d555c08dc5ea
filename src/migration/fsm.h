/* SPDX-License-Identifier: MIT */
/*
 * Migration state machine (internal, pure): which states a device with
 * given UVFIO_MIGRATION_* flags has, and the single arcs a requested
 * transition is made of.
 *
 * The arcs are the ones <linux/vfio.h> documents for
 * enum vfio_device_mig_state.  A transition between states that no arc
 * joins is the shortest chain of arcs that never passes *through* a saving
 * state (PRE_COPY, PRE_COPY_P2P, STOP_COPY); optional states the device
 * lacks (the P2P ones without UVFIO_MIGRATION_P2P, the PRE_COPY ones
 * without UVFIO_MIGRATION_PRE_COPY) are skipped over, so the device sees
 * one arc from the state before to the state after.  This reproduces the
 * kernel's vfio_mig_get_next_state() for every flag combination (checked
 * pair by pair in tests/test_migration_fsm.c).
 */
#ifndef UVFIO_MIGRATION_FSM_H
#define UVFIO_MIGRATION_FSM_H

#include <stdbool.h>
#include <stdint.h>

/* Longest chain of arcs between two states (RESUMING -> PRE_COPY_P2P with
 * P2P: STOP, RUNNING_P2P, PRE_COPY_P2P). */
#define MIG_FSM_MAX_STEPS 4u

/* Is st a state the device has?  ERROR counts (any device can fail). */
bool mig_fsm_has_state(uint64_t flags, uint32_t st);

/*
 * The states a SET from cur to target walks through, target last, into
 * path[MIG_FSM_MAX_STEPS].  Returns the number of steps (0 when
 * cur == target), or -EINVAL: target is ERROR, out of range or a state
 * the device lacks, cur is ERROR (only a reset leaves it), or flags lack
 * UVFIO_MIGRATION_STOP_COPY.
 */
int mig_fsm_path(uint64_t flags, uint32_t cur, uint32_t target,
		 uint32_t path[MIG_FSM_MAX_STEPS]);

/* Name of a state for logs ("RUNNING"), "?" when out of range. */
const char *mig_fsm_name(uint32_t st);

#endif
