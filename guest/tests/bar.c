// SPDX-License-Identifier: MIT
/*
 * BAR test, as pcitest -b but from inside a guest: a pattern written
 * over every memory BAR 1..5 through its guest physical address, 32 bits
 * at a time, and read back; BAR0's register at offset 0 in every access
 * width.  Then the BARs are moved and memory decoding is switched off
 * and on, and the data must follow the BAR (and vanish while it does
 * not decode).  Guest code runs emulated here (about a microsecond a
 * loop iteration), so the full pattern pass over all 1.1 MiB is done
 * once and the pass after the moves covers BAR1 and BAR2 only.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define MOVE_BASE 0xd0000000ul

static const uint64_t bar_sizes[6] = TESTDEV_BAR_SIZES;

static uint32_t pattern(unsigned int bar, uint64_t off, uint32_t salt)
{
	return (uint32_t)((off / 4 + 1) * 2654435761u) ^ (bar << 28) ^ salt;
}

static void fill(uintptr_t base, unsigned int bar, uint32_t salt)
{
	uint64_t off;

	for (off = 0; off < bar_sizes[bar]; off += 4)
		mmio_write32(base + off, pattern(bar, off, salt));
}

/* Offset of the first word that is not the pattern, or -1. */
static int64_t verify(uintptr_t base, unsigned int bar, uint32_t salt)
{
	uint64_t off;

	for (off = 0; off < bar_sizes[bar]; off += 4)
		if (mmio_read32(base + off) != pattern(bar, off, salt))
			return (int64_t)off;
	return -1;
}

static void test_patterns(int dev, uint32_t salt, unsigned int last)
{
	unsigned int bar;

	for (bar = 1; bar <= last; bar++)
		fill(pci_bar_addr(dev, bar), bar, salt + bar);
	for (bar = 1; bar <= last; bar++) {
		uintptr_t base = pci_bar_addr(dev, bar);
		int64_t bad = verify(base, bar, salt + bar);

		report(bad < 0, "BAR%u: %#lx bytes at %#lx read back%s", bar,
		       bar_sizes[bar], base, bad < 0 ? "" : " WRONG");
		if (bad >= 0)
			report_info("BAR%u offset %#lx reads %#x", bar,
				    (uint64_t)bad,
				    mmio_read32(base + (uint64_t)bad));
	}
	if (last >= 3)
		report(mmio_read64(pci_bar_addr(dev, 3) + 8) ==
			       ((uint64_t)pattern(3, 12, salt + 3) << 32 |
				pattern(3, 8, salt + 3)),
		       "BAR3: a 64-bit load sees two 32-bit stores");
}

static void test_bar0(int dev)
{
	uintptr_t r = pci_bar_addr(dev, 0);

	mmio_write32(r + TESTDEV_REG_MAGIC, 0x12345678);
	report(mmio_read32(r + TESTDEV_REG_MAGIC) == 0x12345678,
	       "BAR0 offset 0: 32-bit write and read");
	mmio_write8(r + TESTDEV_REG_MAGIC + 1, 0xab);
	report(mmio_read32(r + TESTDEV_REG_MAGIC) == 0x1234ab78 &&
		       mmio_read8(r + TESTDEV_REG_MAGIC + 1) == 0xab,
	       "BAR0 offset 0: byte access");
	mmio_write16(r + TESTDEV_REG_MAGIC + 2, 0xcdef);
	report(mmio_read32(r + TESTDEV_REG_MAGIC) == 0xcdefab78 &&
		       mmio_read16(r + TESTDEV_REG_MAGIC + 2) == 0xcdef,
	       "BAR0 offset 0: word access");
	/* SRC_LO and SRC_HI: 64 bits that start no command. */
	mmio_write64(r + TESTDEV_REG_SRC_LO, 0x0123456789abcdeful);
	report(mmio_read64(r + TESTDEV_REG_SRC_LO) == 0x0123456789abcdeful &&
		       mmio_read32(r + TESTDEV_REG_SRC_HI) == 0x01234567,
	       "BAR0 SRC_LO/HI: one 64-bit access");
	report(mmio_read32(r + TESTDEV_REG_CAPS) == TESTDEV_CAPS,
	       "BAR0 CAPS register reads %#x",
	       mmio_read32(r + TESTDEV_REG_CAPS));
}

static void test_decode(int dev, uint32_t salt)
{
	uint16_t cmd = pci_read16(dev, PCI_COMMAND);
	uintptr_t b0 = pci_bar_addr(dev, 0), b1 = pci_bar_addr(dev, 1);

	pci_write16(dev, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	report(mmio_read32(b1) == 0xffffffffu &&
		       mmio_read32(b0 + TESTDEV_REG_MAGIC) == 0xffffffffu,
	       "decoding off: BAR0 and BAR1 read all ones");
	mmio_write32(b1, 0);
	pci_write16(dev, PCI_COMMAND, cmd);
	report(verify(b1, 1, salt + 1) < 0,
	       "decoding on again: BAR1 holds its data, untouched");
}

static void test_move(int dev, uint32_t salt)
{
	uintptr_t old0 = pci_bar_addr(dev, 0), old1 = pci_bar_addr(dev, 1);
	uintptr_t new0 = MOVE_BASE, new1 = MOVE_BASE + 0x10000;

	pci_set_bar(dev, 0, new0);
	pci_set_bar(dev, 1, new1);
	report(pci_bar_addr(dev, 0) == new0 && pci_bar_addr(dev, 1) == new1,
	       "BAR0 and BAR1 reprogrammed to %#lx and %#lx", new0, new1);
	report(verify(new1, 1, salt + 1) < 0, "BAR1 data seen at %#lx", new1);
	fill(new1, 1, ~salt);
	report(mmio_read32(old1) == 0xffffffffu &&
		       mmio_read32(old0) == 0xffffffffu,
	       "the old addresses decode nothing");
	mmio_write32(new0 + TESTDEV_REG_MAGIC, 0x600dcafe);
	report(mmio_read32(new0 + TESTDEV_REG_MAGIC) == 0x600dcafe,
	       "BAR0 registers at %#lx", new0);
	pci_set_bar(dev, 0, old0);
	pci_set_bar(dev, 1, old1);
	report(verify(old1, 1, ~salt) < 0 &&
		       mmio_read32(old0 + TESTDEV_REG_MAGIC) == 0x600dcafe,
	       "moved back: data written at the new address is there");
}

int main(void)
{
	uint32_t salt = (uint32_t)rdtsc();
	int dev = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);

	report(dev > 0, "testdev found");
	if (dev <= 0)
		report_summary();
	test_patterns(dev, salt, 5);
	test_bar0(dev);
	test_decode(dev, salt);
	test_move(dev, salt);
	test_patterns(dev, salt ^ 0x5a5a5a5a, 2);
	report_summary();
}
