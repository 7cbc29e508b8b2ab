// SPDX-License-Identifier: MIT
/*
 * For the runner's disconnect test: says READY, then keeps reading a
 * trapped register until the device goes away, which must stop the VMM
 * with an error.  Running out of iterations means it never noticed.
 */
#include "guest.h"
#include "regs.h"

int main(void)
{
	int dev = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);
	uintptr_t regs;
	unsigned int i;

	if (dev < 0) {
		printf("FAIL: testdev not found\n");
		return 1;
	}
	regs = pci_bar_addr(dev, TESTDEV_REG_BAR);
	printf("READY\n");
	for (i = 0; i < 2000000; i++)
		(void)mmio_read32(regs + TESTDEV_REG_MAGIC);
	printf("FAIL: the device never went away\n");
	return 1;
}
