// SPDX-License-Identifier: MIT
/*
 * For the runner's disconnect test: says READY, then keeps reading a
 * trapped register until the device goes away for good.  The VMM waits
 * for it (--reconnect-ms), then fails it: reads come back as all ones,
 * as from a surprise-removed device, and the guest runs on and says so.
 * Running out of iterations means it never noticed.
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
		if (mmio_read32(regs + TESTDEV_REG_MAGIC) == 0xffffffffu)
			break;
	if (i == 2000000) {
		printf("FAIL: the device never went away\n");
		return 1;
	}
	/* Gone from config space too, and the VM still runs. */
	if (pci_read16((unsigned int)dev, 0 /* vendor ID */) != 0xffff) {
		printf("FAIL: the failed device's vendor ID is not all ones\n");
		return 1;
	}
	printf("GONE: the failed device reads as all ones\n");
	return 0;
}
