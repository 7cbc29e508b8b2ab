// SPDX-License-Identifier: MIT
/*
 * PCI configuration mechanism #1 on bus 0, function 0, and the usual
 * driver helpers on top: find a device, walk capabilities, read and
 * size BARs.  Sizing turns memory decoding off around the probe, as
 * Linux does, so the BAR never decodes at the all-ones address.
 */
#include "guest.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_BAR0 0x10
#define CFG_CAP_PTR 0x34
#define CMD_MEMORY 0x2
#define STATUS_CAP_LIST 0x10
#define BAR_IO 0x1
#define BAR_TYPE_64 0x4

static void select(unsigned int dev, unsigned int off)
{
	outl(PCI_ADDR, 0x80000000u | (dev & 0x1f) << 11 | (off & 0xfc));
}

uint32_t pci_read32(unsigned int dev, unsigned int off)
{
	select(dev, off);
	return inl(PCI_DATA);
}

uint16_t pci_read16(unsigned int dev, unsigned int off)
{
	select(dev, off);
	return inw(PCI_DATA + (off & 2));
}

uint8_t pci_read8(unsigned int dev, unsigned int off)
{
	select(dev, off);
	return inb(PCI_DATA + (off & 3));
}

void pci_write32(unsigned int dev, unsigned int off, uint32_t v)
{
	select(dev, off);
	outl(PCI_DATA, v);
}

void pci_write16(unsigned int dev, unsigned int off, uint16_t v)
{
	select(dev, off);
	outw(PCI_DATA + (off & 2), v);
}

void pci_write8(unsigned int dev, unsigned int off, uint8_t v)
{
	select(dev, off);
	outb(PCI_DATA + (off & 3), v);
}

int pci_find(uint16_t vendor, uint16_t device)
{
	unsigned int dev;

	for (dev = 0; dev < 32; dev++) {
		uint32_t id = pci_read32(dev, 0);

		if ((id & 0xffff) == vendor && id >> 16 == device)
			return (int)dev;
	}
	return -1;
}

uint8_t pci_find_cap(unsigned int dev, uint8_t id)
{
	unsigned int hops;
	uint8_t pos;

	if (!(pci_read16(dev, CFG_STATUS) & STATUS_CAP_LIST))
		return 0;
	pos = pci_read8(dev, CFG_CAP_PTR) & 0xfc;
	/* At most 48 capabilities fit; more means a loop. */
	for (hops = 0; pos >= 0x40 && hops < 48; hops++) {
		if (pci_read8(dev, pos) == id)
			return pos;
		pos = pci_read8(dev, pos + 1) & 0xfc;
	}
	return 0;
}

bool pci_bar_is64(unsigned int dev, unsigned int bar)
{
	uint32_t v = pci_read32(dev, CFG_BAR0 + 4 * bar);

	return !(v & BAR_IO) && (v & 0x6) == BAR_TYPE_64;
}

uint64_t pci_bar_addr(unsigned int dev, unsigned int bar)
{
	uint32_t lo = pci_read32(dev, CFG_BAR0 + 4 * bar);
	uint64_t a;

	if (lo & BAR_IO)
		return lo & ~3u;
	a = lo & ~0xfu;
	if (pci_bar_is64(dev, bar) && bar < 5)
		a |= (uint64_t)pci_read32(dev, CFG_BAR0 + 4 * (bar + 1)) << 32;
	return a;
}

uint64_t pci_bar_size(unsigned int dev, unsigned int bar)
{
	unsigned int off = CFG_BAR0 + 4 * bar;
	uint16_t cmd = pci_read16(dev, CFG_COMMAND);
	bool is64 = pci_bar_is64(dev, bar) && bar < 5;
	uint32_t lo = pci_read32(dev, off), hi = 0, mlo, mhi = ~0u;
	uint64_t mask;

	pci_write16(dev, CFG_COMMAND, cmd & ~CMD_MEMORY);
	pci_write32(dev, off, ~0u);
	mlo = pci_read32(dev, off);
	pci_write32(dev, off, lo);
	if (is64) {
		hi = pci_read32(dev, off + 4);
		pci_write32(dev, off + 4, ~0u);
		mhi = pci_read32(dev, off + 4);
		pci_write32(dev, off + 4, hi);
	}
	pci_write16(dev, CFG_COMMAND, cmd);
	if (!mlo)
		return 0;
	mask = (uint64_t)mhi << 32 | (mlo & (mlo & BAR_IO ? ~3u : ~0xfu));
	return ~mask + 1;
}

void pci_set_bar(unsigned int dev, unsigned int bar, uint64_t addr)
{
	pci_write32(dev, CFG_BAR0 + 4 * bar, (uint32_t)addr);
	if (pci_bar_is64(dev, bar) && bar < 5)
		pci_write32(dev, CFG_BAR0 + 4 * (bar + 1),
			    (uint32_t)(addr >> 32));
}
