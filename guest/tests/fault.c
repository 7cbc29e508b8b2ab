// SPDX-License-Identifier: MIT
/*
 * Page 0 is not mapped: a NULL load must raise #PF, which the runtime
 * reports ("FATAL: vector 14") before exiting with GUEST_EXIT_EXCEPTION.
 */
#include "guest.h"

int main(void)
{
	uintptr_t addr = 0x10;
	uint32_t v;

	printf("touching address 0x10\n");
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	(void)v;
	printf("FAIL: no page fault\n");
	return 1;
}
