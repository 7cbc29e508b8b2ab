// SPDX-License-Identifier: MIT
/*
 * The PCI space above 4 GiB from inside a guest: uvfio-testdev --bar64
 * has BAR4 a 64-bit prefetchable BAR, which the VMM puts in its 64-bit
 * window past the RAM above 4 GiB and maps in the guest's page tables;
 * the guest reads and writes it (a memory slot: no exit) and checks the
 * device sees it.  The runner gives the VM 3 GiB + 64 MiB of RAM: the
 * device DMAs into and out of the RAM at 4 GiB, checked by CRC.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define GIB (1ull << 30)
#define HIGH_RAM (4 * GIB)
#define SIZE 16384

static struct tdev td;
static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t wait_status(uint32_t done)
{
	uint32_t st = 0;

	for (unsigned int i = 0; i < 20000000 && !(st & done); i++)
		st = tdev_read(&td, TESTDEV_REG_STATUS);
	return st;
}

int main(void)
{
	uint64_t high = guest_ram_high(), bar4;
	uint32_t lo, st, crc;
	uint8_t *buf = (uint8_t *)(uintptr_t)(HIGH_RAM + 0x100000);
	volatile uint32_t *p;
	struct tdev_xfer x;

	report(tdev_open(&td), "testdev found");
	if (!td.dev)
		report_summary();
	lo = pci_read32((unsigned int)td.dev, PCI_BASE_ADDRESS_4);
	report((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
			       PCI_BASE_ADDRESS_MEM_TYPE_64 &&
		       (lo & PCI_BASE_ADDRESS_MEM_PREFETCH),
	       "BAR4 is 64-bit prefetchable (%#x)", lo);
	bar4 = pci_bar_addr((unsigned int)td.dev, 4);
	report(bar4 >= HIGH_RAM + high,
	       "BAR4 at %#llx, above 4 GiB and the %llu MiB of RAM there",
	       (unsigned long long)bar4, (unsigned long long)(high >> 20));
	p = (volatile uint32_t *)(uintptr_t)bar4;
	p[16] = 0x64bad64u;
	report(p[16] == 0x64bad64u, "BAR4 reads back what the guest wrote");

	report(high >= 2 * 0x100000 + SIZE, "%llu MiB of RAM at 4 GiB",
	       (unsigned long long)(high >> 20));
	if (high < 2 * 0x100000 + SIZE)
		report_summary();
	fill_random(&rng, buf, SIZE);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_READ,
				.src = (uintptr_t)buf,
				.size = SIZE,
				.checksum = crc32_le(~0u, buf, SIZE) };
	tdev_xfer_start(&td, &x);
	st = wait_status(TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL);
	report(st & TESTDEV_STATUS_READ_OK,
	       "the device reads RAM above 4 GiB: status %#x", st);
	memset(buf, 0, SIZE);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_WRITE,
				.dst = (uintptr_t)buf,
				.size = SIZE };
	tdev_xfer_start(&td, &x);
	st = wait_status(TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_WRITE_FAIL);
	crc = crc32_le(~0u, buf, SIZE);
	report((st & TESTDEV_STATUS_WRITE_OK) &&
		       crc == tdev_read(&td, TESTDEV_REG_CHECKSUM),
	       "the device writes RAM above 4 GiB: status %#x, CRC %#x", st,
	       crc);
	report_summary();
	return 0;
}
