// SPDX-License-Identifier: MIT
/*
 * Local APIC in xAPIC mode at its default base.  KVM's in-kernel irqchip
 * emulates it, so these accesses never reach the VMM.
 */
#include "guest.h"

#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_SVR_ENABLE (1u << 8)

uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

void lapic_enable(uint8_t spurious_vector)
{
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | spurious_vector);
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}
