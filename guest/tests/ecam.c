// SPDX-License-Identifier: MIT
/*
 * ECAM (MMCONFIG) as a guest sees it: bus 0's configuration spaces at
 * 0xfe000000 (the VMM's PCI_ECAM_BASE), device << 15 | function << 12.
 * Its first 256 bytes are the same as over configuration mechanism #1;
 * above them, testdev's PCIe extended capabilities (Device Serial Number
 * and a VSEC), which only ECAM reaches; absent functions read all ones.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define ECAM_BASE 0xfe000000ul

static uintptr_t ecam(unsigned int dev, unsigned int fn, unsigned int reg)
{
	return ECAM_BASE + ((uintptr_t)dev << 15) + ((uintptr_t)fn << 12) +
	       reg;
}

static void check_header(int dev)
{
	unsigned int same = 0;

	for (unsigned int reg = 0; reg < 256; reg += 4)
		same += mmio_read32(ecam(dev, 0, reg)) ==
			pci_read32(dev, reg);
	report(same == 64, "the first 256 bytes match mechanism #1 (%u/64)",
	       same);
	report(mmio_read16(ecam(dev, 0, PCI_DEVICE_ID)) == TESTDEV_DEVICE_ID,
	       "a word read of the device ID");
	report(mmio_read16(ecam(0, 0, PCI_VENDOR_ID)) == 0x1b36,
	       "the host bridge");
	report(mmio_read32(ecam(31, 0, PCI_VENDOR_ID)) == 0xffffffffu &&
		       mmio_read32(ecam(dev, 1, PCI_VENDOR_ID)) == 0xffffffffu,
	       "an empty slot and an absent function read all ones");
}

static void check_extended(int dev)
{
	unsigned int at = 0x100, dsn = 0, vsec = 0, n = 0;

	while (at >= 0x100 && at < 0x1000 && n++ < 64) {
		uint32_t h = mmio_read32(ecam(dev, 0, at));

		if (h == 0 || h == 0xffffffffu)
			break;
		printf("extended capability %#x at %#x\n", PCI_EXT_CAP_ID(h),
		       at);
		if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_DSN)
			dsn = at;
		if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_VNDR)
			vsec = at;
		at = PCI_EXT_CAP_NEXT(h);
	}
	report(dsn && mmio_read32(ecam(dev, 0, dsn + 4)) ==
				(uint32_t)TESTDEV_SERIAL &&
		       mmio_read32(ecam(dev, 0, dsn + 8)) ==
			       (uint32_t)(TESTDEV_SERIAL >> 32),
	       "Device Serial Number at %#x", dsn);
	report(vsec && mmio_read16(ecam(dev, 0, vsec + 4)) == TESTDEV_VSEC_ID,
	       "vendor-specific capability at %#x", vsec);
}

int main(void)
{
	int dev = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);

	report(dev > 0, "testdev found");
	if (dev > 0) {
		check_header(dev);
		check_extended(dev);
	}
	report_summary();
}
