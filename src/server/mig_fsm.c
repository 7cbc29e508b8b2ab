// SPDX-License-Identifier: MIT
/*
 * The combination-arc table.  Row: where the device is; column: where
 * the client wants it; entry: the first step, chosen as the kernel does:
 * the shortest path whose interior states are never saving states, and
 * through the P2P states when the device offers them.  Steps into states
 * the device does not offer are skipped by looking up again from there.
 */
#include <errno.h>
#include <linux/vfio.h>

#include "mig_fsm.h"
#include "proto/wire.h"

enum {
	E = VFIO_DEVICE_STATE_ERROR,
	S = VFIO_DEVICE_STATE_STOP,
	R = VFIO_DEVICE_STATE_RUNNING,
	SC = VFIO_DEVICE_STATE_STOP_COPY,
	RS = VFIO_DEVICE_STATE_RESUMING,
	RP = VFIO_DEVICE_STATE_RUNNING_P2P,
	PC = UVFIO_MIG_STATE_PRE_COPY,
	PP = UVFIO_MIG_STATE_PRE_COPY_P2P,
};

/* Columns in state order: E S R SC RS RP PC PP. */
static const uint8_t next[UVFIO_MIG_NUM_STATES][UVFIO_MIG_NUM_STATES] = {
	[E] = { E, E, E, E, E, E, E, E },
	[S] = { E, S, RP, SC, RS, RP, RP, RP },
	[R] = { E, RP, R, RP, RP, RP, PC, RP },
	[SC] = { E, S, S, SC, S, S, E, E },
	[RS] = { E, S, S, S, RS, S, S, S },
	[RP] = { E, S, R, S, S, RP, R, PP },
	[PC] = { E, R, R, PP, R, R, PC, PP },
	[PP] = { E, RP, RP, SC, RP, RP, PC, PP },
};

/* What a state needs the device to offer. */
static uint64_t needs(uint32_t s)
{
	switch (s) {
	case RP:
		return VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
	case PC:
		return VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY;
	case PP:
		return VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
		       VFIO_MIGRATION_PRE_COPY;
	default:
		return VFIO_MIGRATION_STOP_COPY;
	}
}

bool mig_fsm_has(uint64_t flags, uint32_t s)
{
	return s < UVFIO_MIG_NUM_STATES && s != E &&
	       (flags & needs(s)) == needs(s);
}

int mig_fsm_next(uint64_t flags, uint32_t cur, uint32_t target)
{
	uint32_t n;

	if (!mig_fsm_has(flags, cur) || !mig_fsm_has(flags, target))
		return -EINVAL;
	n = next[cur][target];
	while (n != E && !mig_fsm_has(flags, n))
		n = next[n][target];
	return n == E ? -EINVAL : (int)n;
}
