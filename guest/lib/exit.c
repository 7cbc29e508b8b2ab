// SPDX-License-Identifier: MIT
/* Ending the guest: the exit port's value is the VMM's exit status. */
#include "guest.h"

void exit(int status)
{
	outl(PORT_EXIT, (uint32_t)status);
	/* Not reached under uvfio-vmm; stay put if the port is absent. */
	for (;;) {
		irq_disable();
		cpu_hlt();
	}
}
