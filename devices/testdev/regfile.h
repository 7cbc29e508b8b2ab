/* SPDX-License-Identifier: MIT */
/*
 * The device's BAR0 contents and the pure decisions made on them: byte
 * access routing, taking a command, checking a transfer and turning the
 * irq registers into a VFIO irq index and vector.  No uvfio calls and no
 * locking here, so the unit tests can drive it directly.
 */
#ifndef TESTDEV_REGFILE_H
#define TESTDEV_REGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "regs.h"

struct testdev_regfile {
	uint8_t regs[TESTDEV_REGS_LEN];
	/* Kept as plain bytes: the VMM side emulates MSI-X itself. */
	uint8_t msix_table[TESTDEV_MSIX_TABLE_LEN];
	uint8_t msix_pba[TESTDEV_MSIX_PBA_LEN];
};

/* A command as the registers described it when the device took it. */
struct testdev_cmd {
	uint32_t command;
	uint64_t src;
	uint64_t dst;
	uint32_t size;
	uint32_t checksum;
	uint32_t irq_type;
	uint32_t irq_number;
	uint32_t flags;
};

/* Power-on state: registers zero, every MSI-X vector masked. */
void regfile_reset(struct testdev_regfile *rf);

/*
 * A BAR0 access of any size and alignment.  Undecoded bytes read 0 and
 * ignore writes.  Returns count, or -EINVAL when it passes the BAR's end.
 * *cmd_hit tells whether a write touched the command register.
 */
ssize_t regfile_access(struct testdev_regfile *rf, uint64_t off, void *buf,
		       size_t count, bool is_write, bool *cmd_hit);

uint32_t regfile_get(const struct testdev_regfile *rf, unsigned int reg);
void regfile_set(struct testdev_regfile *rf, unsigned int reg, uint32_t val);

/*
 * Takes the pending command, if any: snapshots the registers into *cmd
 * and clears command and status, as pci-epf-test does.
 */
bool regfile_take(struct testdev_regfile *rf, struct testdev_cmd *cmd);

/*
 * IRQ_TYPE and the 1-based IRQ_NUMBER to a VFIO_PCI_*_IRQ_INDEX and a
 * vector; INTx ignores the number.  -EINVAL for anything out of range.
 */
int testdev_irq_target(uint32_t type, uint32_t number, unsigned int *index,
		       uint32_t *vector);

/* 0 when [addr, addr + size) is non-empty, at most max and does not wrap. */
int testdev_xfer_check(uint64_t addr, uint64_t size, uint64_t max);

#endif
