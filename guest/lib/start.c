// SPDX-License-Identifier: MIT
/* C side of the entry: remember the VMM's parameters, run main(). */
#include "guest.h"

static unsigned int nr_cpus;
static uint64_t ram_size, ram_high;

__attribute__((noreturn)) void guest_start(uint64_t cpu, uint64_t cpus,
					   uint64_t ram, uint64_t rcx,
					   uint64_t high);

__attribute__((weak)) void ap_main(unsigned int cpu)
{
	(void)cpu;
	for (;;) {
		irq_disable();
		cpu_hlt();
	}
}

unsigned int guest_cpu_count(void)
{
	return nr_cpus;
}

uint64_t guest_ram_size(void)
{
	return ram_size;
}

uint64_t guest_ram_high(void)
{
	return ram_high;
}

void guest_start(uint64_t cpu, uint64_t cpus, uint64_t ram, uint64_t rcx,
		 uint64_t high)
{
	(void)rcx;
	if (cpu) {
		idt_load();
		ap_main((unsigned int)cpu);
		for (;;)
			cpu_hlt();
	}
	nr_cpus = (unsigned int)cpus;
	ram_size = ram;
	ram_high = high;
	idt_init();
	exit(main());
}
