// SPDX-License-Identifier: MIT
/*
 * A guest driver's view of MSI and MSI-X: the capability registers in
 * config space, the MSI-X table and PBA in a BAR.  Messages are x86's:
 * address 0xfee00000 with the destination APIC ID in bits 12..19, data
 * the vector (fixed delivery, edge).
 */
#include <linux/pci_regs.h>

#include "guest.h"

bool msix_init(struct msix *m, int dev)
{
	uint32_t table, pba;

	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->cap = pci_find_cap((unsigned int)dev, PCI_CAP_ID_MSIX);
	if (!m->cap)
		return false;
	m->nvec = (pci_read16((unsigned int)dev, m->cap + PCI_MSIX_FLAGS) &
		   PCI_MSIX_FLAGS_QSIZE) +
		  1;
	table = pci_read32((unsigned int)dev, m->cap + PCI_MSIX_TABLE);
	pba = pci_read32((unsigned int)dev, m->cap + PCI_MSIX_PBA);
	m->table = pci_bar_addr((unsigned int)dev, table & PCI_MSIX_TABLE_BIR) +
		   (table & PCI_MSIX_TABLE_OFFSET);
	m->pba = pci_bar_addr((unsigned int)dev, pba & PCI_MSIX_PBA_BIR) +
		 (pba & PCI_MSIX_PBA_OFFSET);
	return true;
}

void msix_control(const struct msix *m, bool enable, bool mask_all)
{
	uint16_t fl = pci_read16((unsigned int)m->dev, m->cap + PCI_MSIX_FLAGS);

	fl &= (uint16_t) ~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	if (enable)
		fl |= PCI_MSIX_FLAGS_ENABLE;
	if (mask_all)
		fl |= PCI_MSIX_FLAGS_MASKALL;
	pci_write16((unsigned int)m->dev, m->cap + PCI_MSIX_FLAGS, fl);
}

static uintptr_t entry(const struct msix *m, unsigned int i)
{
	return m->table + (uintptr_t)i * PCI_MSIX_ENTRY_SIZE;
}

void msix_set(const struct msix *m, unsigned int i, uint64_t addr,
	      uint32_t data)
{
	uintptr_t e = entry(m, i);

	mmio_write32(e + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)addr);
	mmio_write32(e + PCI_MSIX_ENTRY_UPPER_ADDR, (uint32_t)(addr >> 32));
	mmio_write32(e + PCI_MSIX_ENTRY_DATA, data);
}

void msix_mask(const struct msix *m, unsigned int i, bool masked)
{
	mmio_write32(entry(m, i) + PCI_MSIX_ENTRY_VECTOR_CTRL,
		     masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

uint32_t msix_read(const struct msix *m, unsigned int i, unsigned int off)
{
	return mmio_read32(entry(m, i) + off);
}

bool msix_pending(const struct msix *m, unsigned int i)
{
	return (mmio_read64(m->pba + i / 64 * 8) >> (i % 64)) & 1;
}

bool msi_init(struct msi *m, int dev)
{
	uint16_t fl;

	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->cap = pci_find_cap((unsigned int)dev, PCI_CAP_ID_MSI);
	if (!m->cap)
		return false;
	fl = pci_read16((unsigned int)dev, m->cap + PCI_MSI_FLAGS);
	m->is64 = fl & PCI_MSI_FLAGS_64BIT;
	m->maskable = fl & PCI_MSI_FLAGS_MASKBIT;
	m->nvec = 1u << ((fl & PCI_MSI_FLAGS_QMASK) >> 1);
	return true;
}

/* log2_nvec goes into Multiple Message Enable; data must be aligned. */
void msi_program(const struct msi *m, uint64_t addr, uint16_t data,
		 unsigned int log2_nvec)
{
	unsigned int d = (unsigned int)m->dev;
	uint16_t fl = pci_read16(d, m->cap + PCI_MSI_FLAGS);

	pci_write32(d, m->cap + PCI_MSI_ADDRESS_LO, (uint32_t)addr);
	if (m->is64)
		pci_write32(d, m->cap + PCI_MSI_ADDRESS_HI,
			    (uint32_t)(addr >> 32));
	pci_write16(d, m->cap + (m->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32),
		    data);
	fl &= (uint16_t)~PCI_MSI_FLAGS_QSIZE;
	fl |= (uint16_t)((log2_nvec & 7) << 4);
	pci_write16(d, m->cap + PCI_MSI_FLAGS, fl);
}

void msi_enable(const struct msi *m, bool on)
{
	unsigned int d = (unsigned int)m->dev;
	uint16_t fl = pci_read16(d, m->cap + PCI_MSI_FLAGS);

	fl = on ? fl | PCI_MSI_FLAGS_ENABLE :
		  fl & (uint16_t)~PCI_MSI_FLAGS_ENABLE;
	pci_write16(d, m->cap + PCI_MSI_FLAGS, fl);
}

void msi_set_mask(const struct msi *m, uint32_t bits)
{
	pci_write32((unsigned int)m->dev,
		    m->cap + (m->is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32),
		    bits);
}

uint32_t msi_pending(const struct msi *m)
{
	/* Pending Bits follow Mask Bits. */
	return pci_read32(
		(unsigned int)m->dev,
		m->cap + (m->is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32) + 4);
}
