// SPDX-License-Identifier: MIT
/*
 * Interrupt test, as pcitest -i/-e/-x: the RAISE commands for every
 * MSI-X vector we armed, MSI vector 1 and INTx; each must arrive on its
 * own eventfd and on no other.  Ends back on MSI-X to prove the mode
 * switch works in both directions.
 */
#include <errno.h>
#include <stdio.h>

#include "pcitest.h"

static int raise_one(struct pt *t, uint32_t type, uint32_t number,
		     char *why, size_t len)
{
	static const uint32_t cmds[] = {
		[TESTDEV_IRQ_INTX] = TESTDEV_CMD_RAISE_INTX,
		[TESTDEV_IRQ_MSI] = TESTDEV_CMD_RAISE_MSI,
		[TESTDEV_IRQ_MSIX] = TESTDEV_CMD_RAISE_MSIX,
	};
	static const char *const names[] = { "INTx", "MSI", "MSI-X" };
	struct pt_cmd cmd = {
		.command = cmds[type],
		.irq_type = type,
		.irq_number = number,
		.expect_irq = true,
	};
	struct pt_result res;
	char reason[200];

	if (pt_run_cmd(t, &cmd, &res, reason, sizeof(reason))) {
		snprintf(why, len, "%s %u: %s", names[type], number, reason);
		return -EIO;
	}
	if (res.status != TESTDEV_STATUS_IRQ_RAISED) {
		snprintf(why, len, "%s %u: status %#x, want %#x", names[type],
			 number, res.status, TESTDEV_STATUS_IRQ_RAISED);
		return -EIO;
	}
	pt_note(t, "%s %u", names[type], number);
	return 0;
}

int pt_test_irq(struct pt *t, char *why, size_t len)
{
	uint32_t v;

	for (v = 1; v <= t->msix_vecs; v++)
		if (raise_one(t, TESTDEV_IRQ_MSIX, v, why, len))
			return -EIO;
	/* Backwards too, so an off-by-one in either direction shows. */
	for (v = t->msix_vecs; v >= 1; v--)
		if (raise_one(t, TESTDEV_IRQ_MSIX, v, why, len))
			return -EIO;
	if (raise_one(t, TESTDEV_IRQ_MSI, 1, why, len) ||
	    raise_one(t, TESTDEV_IRQ_INTX, 1, why, len) ||
	    raise_one(t, TESTDEV_IRQ_INTX, 1, why, len) ||
	    raise_one(t, TESTDEV_IRQ_MSIX, 1, why, len))
		return -EIO;
	return 0;
}
