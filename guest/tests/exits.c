// SPDX-License-Identifier: MIT
/*
 * Mapped BAR accesses cause no VM exits: the VMM's counters (read via
 * its statistics port, which is port I/O and so does not disturb MMIO
 * counts) must not move while the guest hammers BAR1..5, and must count
 * every BAR0 access, which traps.
 */
#include "guest.h"
#include "regs.h"

#define ROUNDS 200

static const uint64_t bar_sizes[6] = TESTDEV_BAR_SIZES;

int main(void)
{
	int dev = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);
	uint64_t before[6], mmio0, d;
	unsigned int bar, i;

	report(dev == 1, "testdev found");
	if (dev != 1)
		report_summary();
	for (bar = 0; bar < 6; bar++)
		before[bar] = vmm_stat(VMM_STAT_DEV_BAR(0, bar));
	mmio0 = vmm_stat(VMM_STAT_MMIO);

	for (bar = 1; bar < 6; bar++) {
		uintptr_t b = pci_bar_addr(dev, bar);

		for (i = 0; i < ROUNDS; i++) {
			uint64_t off = (i * 4 * 37) % bar_sizes[bar];

			mmio_write32(b + off, i);
			if (mmio_read32(b + off) != i)
				break;
		}
		report(i == ROUNDS, "BAR%u: %u stores and loads", bar, ROUNDS);
	}
	for (bar = 1; bar < 6; bar++) {
		d = vmm_stat(VMM_STAT_DEV_BAR(0, bar)) - before[bar];
		report(d == 0, "BAR%u: %lu exits for %u accesses", bar, d,
		       2 * ROUNDS);
	}
	d = vmm_stat(VMM_STAT_MMIO) - mmio0;
	report(d == 0, "no MMIO exits at all while using BAR1..5 (%lu)", d);

	for (i = 0; i < ROUNDS; i++)
		(void)mmio_read32(pci_bar_addr(dev, 0) + TESTDEV_REG_MAGIC);
	d = vmm_stat(VMM_STAT_DEV_BAR(0, 0)) - before[0];
	report(d == ROUNDS, "BAR0: %lu exits for %u trapped loads", d, ROUNDS);
	d = vmm_stat(VMM_STAT_MMIO) - mmio0;
	report(d == ROUNDS, "MMIO exits overall: %lu", d);
	report(vmm_stat(0xdead) == 0xffffffffffffffffull,
	       "an unknown counter reads all ones");
	report_summary();
}
