/* SPDX-License-Identifier: MIT */
/*
 * The migration state machine against an independent oracle: the next-hop
 * table Linux documents through vfio_mig_get_next_state() (facts written
 * out below as data: for each current state, the next state on the way to
 * each target), with states the device lacks skipped the way the kernel
 * does.  Every (from, to) pair of the 8 states, for all four combinations
 * of the optional P2P and PRE_COPY features, plus the refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <uvfio/wire.h>

#include "migration/fsm.h"

enum { E = UVFIO_MIG_ERROR, S = UVFIO_MIG_STOP, R = UVFIO_MIG_RUNNING,
       SC = UVFIO_MIG_STOP_COPY, RS = UVFIO_MIG_RESUMING,
       RP = UVFIO_MIG_RUNNING_P2P, PC = UVFIO_MIG_PRE_COPY,
       PP = UVFIO_MIG_PRE_COPY_P2P };

/* next[from][to], columns in state order E S R SC RS RP PC PP. */
static const uint8_t next[8][8] = {
	[E] = { E, E, E, E, E, E, E, E },
	[S] = { E, S, RP, SC, RS, RP, RP, RP },
	[R] = { E, RP, R, RP, RP, RP, PC, RP },
	[SC] = { E, S, S, SC, S, S, E, E },
	[RS] = { E, S, S, S, RS, S, S, S },
	[RP] = { E, S, R, S, S, RP, R, PP },
	[PC] = { E, R, R, PP, R, R, PC, PP },
	[PP] = { E, RP, RP, SC, RP, RP, PC, PP },
};

static bool has(uint64_t flags, unsigned st)
{
	bool p2p = flags & UVFIO_MIGRATION_P2P, pre = flags & UVFIO_MIGRATION_PRE_COPY;
	if (st == RP)
		return p2p;
	if (st == PC)
		return pre;
	if (st == PP)
		return p2p && pre;
	return true;
}

/* The oracle: the path as the kernel's table walk gives it, or -EINVAL. */
static int oracle(uint64_t flags, unsigned cur, unsigned to, uint32_t *path)
{
	if (!has(flags, cur) || !has(flags, to) || to == E || cur == E)
		return -EINVAL;
	int n = 0;
	while (cur != to) {
		unsigned nx = next[cur][to];
		while (!has(flags, nx))
			nx = next[nx][to];
		if (nx == E)
			return -EINVAL;
		path[n++] = nx;
		cur = nx;
		assert_true(n <= 8);
	}
	return n;
}

static void check_flags(uint64_t flags)
{
	for (unsigned from = 0; from < 8; from++) {
		for (unsigned to = 0; to < 8; to++) {
			uint32_t want[8], got[MIG_FSM_MAX_STEPS + 4];
			int wn = oracle(flags, from, to, want);
			int gn = mig_fsm_path(flags, from, to, got);
			if (wn != gn || (wn > 0 && memcmp(want, got, wn * sizeof(*got)))) {
				fprintf(stderr, "flags %#llx %s -> %s: want %d steps, got %d:",
					(unsigned long long)flags, mig_fsm_name(from),
					mig_fsm_name(to), wn, gn);
				for (int i = 0; i < gn; i++)
					fprintf(stderr, " %s", mig_fsm_name(got[i]));
				fprintf(stderr, "\n");
			}
			assert_int_equal(gn, wn);
			for (int i = 0; i < wn; i++)
				assert_int_equal(got[i], want[i]);
			assert_true(gn <= (int)MIG_FSM_MAX_STEPS);
		}
	}
}

static void test_stop_copy_only(void **st)
{
	(void)st;
	check_flags(UVFIO_MIGRATION_STOP_COPY);
}

static void test_pre_copy(void **st)
{
	(void)st;
	check_flags(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
}

static void test_p2p(void **st)
{
	(void)st;
	check_flags(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P);
}

static void test_all(void **st)
{
	(void)st;
	check_flags(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P |
		    UVFIO_MIGRATION_PRE_COPY);
}

/* Spot checks a reader can follow without the table. */
static void test_known_paths(void **st)
{
	(void)st;
	uint64_t f = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY;
	uint32_t p[MIG_FSM_MAX_STEPS];

	assert_int_equal(mig_fsm_path(f, R, SC, p), 2);
	assert_int_equal(p[0], S);
	assert_int_equal(p[1], SC);
	assert_int_equal(mig_fsm_path(f, PC, SC, p), 1); /* direct, no P2P */
	assert_int_equal(p[0], SC);
	assert_int_equal(mig_fsm_path(f, PC, S, p), 2); /* leaves via RUNNING */
	assert_int_equal(p[0], R);
	assert_int_equal(mig_fsm_path(f, RS, PC, p), 3);
	assert_int_equal(p[0], S);
	assert_int_equal(p[1], R);
	assert_int_equal(p[2], PC);
	assert_int_equal(mig_fsm_path(f, SC, PC, p), -EINVAL); /* forbidden */
	assert_int_equal(mig_fsm_path(f, R, R, p), 0);
}

static void test_refusals(void **st)
{
	(void)st;
	uint32_t p[MIG_FSM_MAX_STEPS];
	uint64_t f = UVFIO_MIGRATION_STOP_COPY;

	assert_int_equal(mig_fsm_path(f, R, E, p), -EINVAL);   /* ERROR target */
	assert_int_equal(mig_fsm_path(f, E, R, p), -EINVAL);   /* only reset */
	assert_int_equal(mig_fsm_path(f, E, E, p), -EINVAL);
	assert_int_equal(mig_fsm_path(f, R, 8, p), -EINVAL);   /* out of range */
	assert_int_equal(mig_fsm_path(f, R, 9, p), -EINVAL);
	assert_int_equal(mig_fsm_path(f, R, PC, p), -EINVAL);  /* lacks PRE_COPY */
	assert_int_equal(mig_fsm_path(f, R, RP, p), -EINVAL);  /* lacks P2P */
	assert_int_equal(mig_fsm_path(0, R, S, p), -EINVAL);   /* STOP_COPY missing */
	assert_int_equal(mig_fsm_path(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P,
				      R, PP, p), -EINVAL);
	assert_true(mig_fsm_has_state(f, E));
	assert_false(mig_fsm_has_state(f, 8));
	assert_string_equal(mig_fsm_name(SC), "STOP_COPY");
	assert_string_equal(mig_fsm_name(42), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_copy_only),
		cmocka_unit_test(test_pre_copy),
		cmocka_unit_test(test_p2p),
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_known_paths),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
