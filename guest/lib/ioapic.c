// SPDX-License-Identifier: MIT
/*
 * The IOAPIC at its default base, emulated by KVM's in-kernel irqchip:
 * an index register and a data window, 64-bit redirection entries.
 * Entries start masked; a PCI INTx input is level-triggered and active
 * high (the IOAPIC side of the line, after the PCI inversion).
 */
#include "guest.h"

#define IOREGSEL 0x00
#define IOWIN 0x10
#define IOAPIC_REG_VER 0x01
#define REDTBL(pin) (0x10 + 2 * (pin))

#define RTE_LEVEL (1u << 15)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_MASKED (1u << 16)

uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE + IOREGSEL, reg);
	return mmio_read32(IOAPIC_BASE + IOWIN);
}

void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOREGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOWIN, v);
}

unsigned int ioapic_pins(void)
{
	return ((ioapic_read(IOAPIC_REG_VER) >> 16) & 0xff) + 1;
}

int ioapic_route(unsigned int pin, uint8_t vector, bool level, uint8_t dest)
{
	uint32_t lo = vector | (level ? RTE_LEVEL : 0);

	if (pin >= ioapic_pins() || vector < 0x10)
		return -1;
	/* Masked while half written, so no half-made entry can fire. */
	ioapic_write(REDTBL(pin), RTE_MASKED);
	ioapic_write(REDTBL(pin) + 1, (uint32_t)dest << 24);
	ioapic_write(REDTBL(pin), lo);
	return 0;
}

void ioapic_set_mask(unsigned int pin, bool masked)
{
	uint32_t lo = ioapic_read(REDTBL(pin));

	lo = masked ? lo | RTE_MASKED : lo & ~RTE_MASKED;
	ioapic_write(REDTBL(pin), lo);
}

uint64_t ioapic_entry(unsigned int pin)
{
	return (uint64_t)ioapic_read(REDTBL(pin) + 1) << 32 |
	       ioapic_read(REDTBL(pin));
}

bool ioapic_remote_irr(unsigned int pin)
{
	return ioapic_read(REDTBL(pin)) & RTE_REMOTE_IRR;
}
