// SPDX-License-Identifier: MIT
/*
 * A libvfio-user device driven from inside a guest: the sample
 * gpio-pci-idio-16 (run by scripts/interop/lvu.sh when libvfio-user's
 * samples and /dev/kvm are there; this tree builds none of it).  Its
 * IDs, its BAR2 (an I/O BAR of 256 bytes, which the VMM placed), and
 * the sample's pin logic through byte-wide port I/O: writing bit i to
 * port +0 (+4 for pins 8..15) counts pin i up, and reading +1 (+5) gives
 * bit i set when pin i's count is a multiple of 3.
 */
#include <linux/pci_regs.h>

#include "guest.h"

#define VENDOR 0x494f
#define DEVICE 0x0dc8

int main(void)
{
	int dev = pci_find(VENDOR, DEVICE);
	uint16_t port;
	uint8_t lo, hi;

	report(dev > 0, "gpio-pci-idio-16 (%04x:%04x) found at %d", VENDOR,
	       DEVICE, dev);
	if (dev <= 0)
		report_summary();
	report(pci_read32((unsigned int)dev, PCI_BASE_ADDRESS_2) &
		       PCI_BASE_ADDRESS_SPACE_IO,
	       "BAR2 is an I/O BAR");
	port = (uint16_t)pci_bar_addr((unsigned int)dev, 2);
	report(port && pci_bar_size((unsigned int)dev, 2) == 0x100,
	       "BAR2 at port %#x, %u bytes", port,
	       (unsigned int)pci_bar_size((unsigned int)dev, 2));
	pci_write16((unsigned int)dev, PCI_COMMAND,
		    pci_read16((unsigned int)dev, PCI_COMMAND) |
			    PCI_COMMAND_IO);

	lo = inb((uint16_t)(port + 1));
	hi = inb((uint16_t)(port + 5));
	report(lo == 0xff && hi == 0xff,
	       "every pin's count starts at 0: inputs %#x %#x", lo, hi);
	/* Pin k of each bank counted up k + 1 times. */
	for (unsigned int k = 0; k < 8; k++) {
		for (unsigned int j = 0; j <= k; j++) {
			outb(port, (uint8_t)(1u << k));
			outb((uint16_t)(port + 4), (uint8_t)(1u << k));
		}
	}
	/* (k + 1) % 3 == 0 for k = 2 and 5. */
	lo = inb((uint16_t)(port + 1));
	hi = inb((uint16_t)(port + 5));
	report(lo == 0x24 && hi == 0x24,
	       "after k + 1 writes to pin k: inputs %#x %#x, want 0x24 0x24",
	       lo, hi);
	outb(port, 0x01);
	outb(port, 0x01);
	lo = inb((uint16_t)(port + 1));
	hi = inb((uint16_t)(port + 5));
	report(lo == 0x25 && hi == 0x24,
	       "two more writes to pin 0 (count 3): inputs %#x %#x", lo, hi);
	report_summary();
	return 0;
}
