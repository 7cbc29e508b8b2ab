// SPDX-License-Identifier: MIT
/*
 * Enumeration over configuration mechanism #1: the host bridge, an
 * empty slot, and testdev with its IDs, class, BARs (assigned like
 * firmware would, sized by probing) and capability list.  The BAR lines
 * printed here are checked by the runner against what the VMM reported.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

static const uint64_t bar_sizes[6] = TESTDEV_BAR_SIZES;

static void check_host_and_empty(void)
{
	report(pci_read16(0, PCI_VENDOR_ID) == 0x1b36 &&
		       pci_read16(0, PCI_CLASS_DEVICE) == 0x0600,
	       "device 0 is the host bridge (%04x class %04x)",
	       pci_read16(0, PCI_VENDOR_ID), pci_read16(0, PCI_CLASS_DEVICE));
	report(pci_read32(31, PCI_VENDOR_ID) == 0xffffffffu,
	       "an empty slot reads all ones");
}

static void check_ids(int dev)
{
	uint32_t id = pci_read32(dev, PCI_VENDOR_ID);
	uint32_t class = pci_read32(dev, PCI_CLASS_REVISION) >> 8;

	report(pci_read16(dev, PCI_VENDOR_ID) == (id & 0xffff) &&
		       pci_read16(dev, PCI_DEVICE_ID) == id >> 16 &&
		       pci_read8(dev, PCI_DEVICE_ID + 1) == id >> 24,
	       "byte, word and dword config reads agree");
	report(class == TESTDEV_CLASS, "class %06x", class);
	report((pci_read8(dev, PCI_HEADER_TYPE) & 0x7f) == 0, "header type 0");
	report(pci_read8(dev, PCI_INTERRUPT_PIN) == 1, "interrupt pin INTA");
	report(pci_read16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY,
	       "memory decoding enabled by the VMM");
	pci_write16(dev, PCI_VENDOR_ID, 0x1234);
	report(pci_read16(dev, PCI_VENDOR_ID) == TESTDEV_VENDOR_ID,
	       "vendor ID is read-only");
	report(pci_read32(dev, PCI_ROM_ADDRESS) == 0, "no expansion ROM");
}

static void check_bars(int dev)
{
	uint64_t addr[6], i, j;

	for (i = 0; i < 6; i++) {
		uint64_t size = pci_bar_size(dev, i);
		uint64_t align = size > 4096 ? size : 4096;
		uint32_t raw = pci_read32(dev, PCI_BASE_ADDRESS_0 + 4 * i);

		addr[i] = pci_bar_addr(dev, i);
		printf("BAR%lu at %#lx size %#lx\n", i, addr[i], size);
		report(size == bar_sizes[i], "BAR%lu size %#lx", i, size);
		report((raw & 0xf) == 0, "BAR%lu is 32-bit memory", i);
		report(addr[i] >= 0xc0000000ul &&
			       addr[i] + size <= 0xfec00000ul &&
			       addr[i] % align == 0,
		       "BAR%lu at %#lx, aligned, in the PCI window", i,
		       addr[i]);
		report(pci_bar_addr(dev, i) == addr[i],
		       "BAR%lu keeps its address after sizing", i);
	}
	for (i = 0; i < 6; i++)
		for (j = i + 1; j < 6; j++)
			if (addr[i] < addr[j] + bar_sizes[j] &&
			    addr[j] < addr[i] + bar_sizes[i])
				report(false, "BAR%lu and BAR%lu overlap", i,
				       j);
}

static void check_caps(int dev)
{
	uint8_t msi = pci_find_cap(dev, PCI_CAP_ID_MSI);
	uint8_t msix = pci_find_cap(dev, PCI_CAP_ID_MSIX);
	uint16_t flags;
	uint32_t table, pba;

	report(pci_read16(dev, PCI_STATUS) & PCI_STATUS_CAP_LIST,
	       "capability list present");
	report(pci_find_cap(dev, PCI_CAP_ID_PM), "power management found");
	report(pci_find_cap(dev, PCI_CAP_ID_EXP), "PCI Express found");
	report(pci_find_cap(dev, PCI_CAP_ID_VNDR), "vendor-specific found");
	report(msi, "MSI at %#x", msi);
	if (msi) {
		flags = pci_read16(dev, msi + PCI_MSI_FLAGS);
		report((flags & PCI_MSI_FLAGS_64BIT) &&
			       (flags & PCI_MSI_FLAGS_MASKBIT) &&
			       (flags & PCI_MSI_FLAGS_QMASK) >> 1 == 5,
		       "MSI: 64-bit, maskable, 32 vectors (flags %#x)", flags);
	}
	report(msix, "MSI-X at %#x", msix);
	if (!msix)
		return;
	flags = pci_read16(dev, msix + PCI_MSIX_FLAGS);
	table = pci_read32(dev, msix + PCI_MSIX_TABLE);
	pba = pci_read32(dev, msix + PCI_MSIX_PBA);
	report((flags & PCI_MSIX_FLAGS_QSIZE) + 1 == TESTDEV_MSIX_VECTORS,
	       "MSI-X: %u vectors", (flags & PCI_MSIX_FLAGS_QSIZE) + 1);
	report(table == (TESTDEV_MSIX_TABLE_OFF | TESTDEV_REG_BAR) &&
		       pba == (TESTDEV_MSIX_PBA_OFF | TESTDEV_REG_BAR),
	       "MSI-X table %#x, PBA %#x in BAR0", table, pba);
}

int main(void)
{
	int dev;

	check_host_and_empty();
	dev = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);
	report(dev == 1, "testdev %04x:%04x is device %d", TESTDEV_VENDOR_ID,
	       TESTDEV_DEVICE_ID, dev);
	if (dev < 0)
		report_summary();
	check_ids(dev);
	check_bars(dev);
	check_caps(dev);
	report_summary();
}
