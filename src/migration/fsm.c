/* SPDX-License-Identifier: MIT */
/*
 * Migration state machine: a breadth-first search over the arcs of
 * <linux/vfio.h>, with the two path rules the uapi states.  Eight states;
 * nothing here is worth a table that could drift from the documented arcs.
 */
#include <errno.h>

#include <uvfio/wire.h>

#include "migration/fsm.h"

#define BIT(s) (1u << (s))

/* Arcs of the full machine (P2P and PRE_COPY both supported), as the
 * uapi header lists them: from -> bitmask of targets. */
static const uint32_t arcs[UVFIO_MIG_NUM_STATES] = {
	[UVFIO_MIG_RUNNING] = BIT(UVFIO_MIG_RUNNING_P2P) | BIT(UVFIO_MIG_PRE_COPY),
	[UVFIO_MIG_RUNNING_P2P] = BIT(UVFIO_MIG_STOP) | BIT(UVFIO_MIG_RUNNING) |
				  BIT(UVFIO_MIG_PRE_COPY_P2P),
	[UVFIO_MIG_STOP] = BIT(UVFIO_MIG_RUNNING_P2P) | BIT(UVFIO_MIG_STOP_COPY) |
			   BIT(UVFIO_MIG_RESUMING),
	[UVFIO_MIG_STOP_COPY] = BIT(UVFIO_MIG_STOP),
	[UVFIO_MIG_RESUMING] = BIT(UVFIO_MIG_STOP),
	[UVFIO_MIG_PRE_COPY] = BIT(UVFIO_MIG_RUNNING) | BIT(UVFIO_MIG_PRE_COPY_P2P),
	[UVFIO_MIG_PRE_COPY_P2P] = BIT(UVFIO_MIG_RUNNING_P2P) |
				   BIT(UVFIO_MIG_PRE_COPY) |
				   BIT(UVFIO_MIG_STOP_COPY),
};

/* The "saving group": states that share one data session. */
static const uint32_t saving = BIT(UVFIO_MIG_STOP_COPY) | BIT(UVFIO_MIG_PRE_COPY) |
			       BIT(UVFIO_MIG_PRE_COPY_P2P);

bool mig_fsm_has_state(uint64_t flags, uint32_t st)
{
	bool p2p = flags & UVFIO_MIGRATION_P2P;
	bool pre = flags & UVFIO_MIGRATION_PRE_COPY;

	switch (st) {
	case UVFIO_MIG_ERROR:
	case UVFIO_MIG_STOP:
	case UVFIO_MIG_RUNNING:
	case UVFIO_MIG_STOP_COPY:
	case UVFIO_MIG_RESUMING:
		return true;
	case UVFIO_MIG_RUNNING_P2P:
		return p2p;
	case UVFIO_MIG_PRE_COPY:
		return pre;
	case UVFIO_MIG_PRE_COPY_P2P:
		return p2p && pre;
	default:
		return false;
	}
}

int mig_fsm_path(uint64_t flags, uint32_t cur, uint32_t target,
		 uint32_t path[MIG_FSM_MAX_STEPS])
{
	if (!(flags & UVFIO_MIGRATION_STOP_COPY) ||
	    cur >= UVFIO_MIG_NUM_STATES || target >= UVFIO_MIG_NUM_STATES ||
	    cur == UVFIO_MIG_ERROR || target == UVFIO_MIG_ERROR ||
	    !mig_fsm_has_state(flags, cur) || !mig_fsm_has_state(flags, target))
		return -EINVAL;
	if (cur == target)
		return 0;

	/*
	 * Interior states: a path between two saving states keeps the data
	 * session, so it must stay inside the saving group (which is why
	 * STOP_COPY -> PRE_COPY has no path); any other path may not pass
	 * through a saving state at all (that would start or end a session
	 * the caller did not ask for).  States the device lacks may be
	 * interior like any other; they are dropped from the result below.
	 */
	bool inside = (saving & BIT(cur)) && (saving & BIT(target));
	int8_t prev[UVFIO_MIG_NUM_STATES];
	uint32_t queue[UVFIO_MIG_NUM_STATES], seen = BIT(cur);
	unsigned head = 0, tail = 0;

	for (unsigned i = 0; i < UVFIO_MIG_NUM_STATES; i++)
		prev[i] = -1;
	queue[tail++] = cur;
	while (head < tail && !(seen & BIT(target))) {
		uint32_t u = queue[head++];

		if (u != cur && (inside != !!(saving & BIT(u))))
			continue; /* may not be interior */
		for (uint32_t v = 0; v < UVFIO_MIG_NUM_STATES; v++) {
			if (!(arcs[u] & BIT(v)) || (seen & BIT(v)))
				continue;
			seen |= BIT(v);
			prev[v] = (int8_t)u;
			queue[tail++] = v;
		}
	}
	if (!(seen & BIT(target)))
		return -EINVAL;

	/* Walk back from the target, keeping only states the device has. */
	uint32_t rev[UVFIO_MIG_NUM_STATES];
	unsigned n = 0;
	for (uint32_t s = target; s != cur; s = (uint32_t)prev[s])
		if (mig_fsm_has_state(flags, s))
			rev[n++] = s;
	if (n > MIG_FSM_MAX_STEPS)
		return -EINVAL; /* cannot happen with the arcs above */
	for (unsigned i = 0; i < n; i++)
		path[i] = rev[n - 1 - i];
	return (int)n;
}

const char *mig_fsm_name(uint32_t st)
{
	static const char *const names[UVFIO_MIG_NUM_STATES] = {
		"ERROR",   "STOP",        "RUNNING",  "STOP_COPY",
		"RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
	};
	return st < UVFIO_MIG_NUM_STATES ? names[st] : "?";
}
