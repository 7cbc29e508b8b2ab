/* SPDX-License-Identifier: MIT */
/*
 * The VFIO v2 migration state machine's path rule, as the kernel applies
 * it (vfio_mig_get_next_state): from cur towards target, the next state
 * to step into.  Pure, so every pair can be tested against the table.
 */
#ifndef UVFIO_SERVER_MIG_FSM_H
#define UVFIO_SERVER_MIG_FSM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * flags: VFIO_MIGRATION_* the device offers (STOP_COPY required).
 * Returns the next state (target itself for a direct arc, cur when
 * cur == target), or -EINVAL when target (or cur) is not offered or the
 * move is not allowed (STOP_COPY -> PRE_COPY*, anything from ERROR, into
 * ERROR).
 */
int mig_fsm_next(uint64_t flags, uint32_t cur, uint32_t target);
/* Whether flags offers state s. */
bool mig_fsm_has(uint64_t flags, uint32_t s);

#endif
