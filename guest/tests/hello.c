// SPDX-License-Identifier: MIT
/* The smallest guest: it prints, checks what the VMM told it, exits 0. */
#include "guest.h"

int main(void)
{
	char buf[64];

	printf("Hello from a uvfio-vmm guest: %u vCPU(s), %lu MiB of RAM\n",
	       guest_cpu_count(), (unsigned long)(guest_ram_size() >> 20));
	report(guest_cpu_count() == 1, "one vCPU");
	report(guest_ram_size() == 64ul << 20, "64 MiB of RAM");
	report(inb(PORT_CONSOLE) == PORT_CONSOLE, "console port answers");
	snprintf(buf, sizeof(buf), "%d %u %#x %05d %-3s| %lx %c%%", -42, 7u, 0,
		 12, "ab", 0x123456789abcul, 'z');
	report(!memcmp(buf, "-42 7 0 00012 ab | 123456789abc z%", 35),
	       "printf formats: '%s'", buf);
	report_summary();
}
