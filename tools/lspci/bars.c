// SPDX-License-Identifier: MIT
/*
 * Region lines.  Sizes come from the server's region info, since sizing
 * a BAR through config space would change the device; the BAR's type
 * bits are checked against it, and disagreements are printed rather
 * than trusted.
 */
#include <stdio.h>

#include "lspci.h"

void lspci_print_size(uint64_t size)
{
	static const char *const suffix[] = { "", "K", "M", "G", "T" };
	unsigned int i;

	if (!size)
		return;
	for (i = 0; i < 4 && !(size % 1024); i++)
		size /= 1024;
	printf(" [size=%llu%s]", (unsigned long long)size, suffix[i]);
}

/* Size of region index as the server reports it; 0 when it has none. */
static uint64_t region_size(struct lspci *l, uint32_t index, uint32_t *flags)
{
	const struct uvfio_region *r;

	*flags = 0;
	if (index >= l->num_regions ||
	    uvfio_client_region_info(l->c, index, &r) < 0)
		return 0;
	*flags = r->flags;
	return r->size;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static const char *mem_type(uint32_t raw)
{
	switch (raw & PCI_BASE_ADDRESS_MEM_TYPE_MASK) {
	case PCI_BASE_ADDRESS_MEM_TYPE_32:
		return "32-bit";
	case PCI_BASE_ADDRESS_MEM_TYPE_1M:
		return "low-1M";
	case PCI_BASE_ADDRESS_MEM_TYPE_64:
		return "64-bit";
	default:
		return "type 3";
	}
}

static void check_bar(unsigned int bar, uint32_t raw, uint64_t addr,
		      uint64_t size, bool is64, uint64_t upper_size)
{
	/* raw 0 is a valid unassigned 32-bit BAR, so only size can tell. */
	if (!size)
		printf("\t\t!!! server reports no region %u\n", bar);
	else if (!is_pow2(size))
		printf("\t\t!!! region size %#llx is not a power of two\n",
		       (unsigned long long)size);
	else if (addr & (size - 1))
		printf("\t\t!!! address not aligned to the region size\n");
	if (is64 && bar == UVFIO_PCI_NUM_BARS - 1)
		printf("\t\t!!! 64-bit BAR in the last slot\n");
	if (is64 && upper_size)
		printf("\t\t!!! region %u has a size but is the upper half "
		       "of BAR%u\n", bar + 1, bar);
	if ((raw & PCI_BASE_ADDRESS_SPACE_IO) && size > 256)
		printf("\t\t!!! I/O region larger than 256 bytes\n");
}

/* Prints BAR bar; returns how many BAR slots it used (1 or 2). */
static unsigned int print_bar(struct lspci *l, unsigned int bar, uint16_t cmd)
{
	const struct uvfio_pci_cfg *cfg = l->cfg;
	uint32_t raw = uvfio_pci_get32(cfg, PCI_BASE_ADDRESS_0 + 4 * bar);
	bool io = raw & PCI_BASE_ADDRESS_SPACE_IO;
	bool is64 = !io && (raw & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
				   PCI_BASE_ADDRESS_MEM_TYPE_64;
	uint64_t addr, size, upper = 0;
	uint32_t rflags;

	size = region_size(l, VFIO_PCI_BAR0_REGION_INDEX + bar, &rflags);
	if (is64 && bar + 1 < UVFIO_PCI_NUM_BARS)
		upper = region_size(l, VFIO_PCI_BAR0_REGION_INDEX + bar + 1,
				    &rflags);
	/* Only type bits and no region: not implemented, as lspci skips. */
	if (!size && !(raw & (io ? PCI_BASE_ADDRESS_IO_MASK :
				   PCI_BASE_ADDRESS_MEM_MASK)))
		return 1;

	printf("\tRegion %u: ", bar);
	if (io) {
		addr = raw & PCI_BASE_ADDRESS_IO_MASK;
		printf("I/O ports at ");
		if (addr)
			printf("%04llx", (unsigned long long)addr);
		else
			printf("<unassigned>");
	} else {
		addr = raw & PCI_BASE_ADDRESS_MEM_MASK;
		if (is64 && bar + 1 < UVFIO_PCI_NUM_BARS)
			addr |= (uint64_t)uvfio_pci_get32(
					cfg, PCI_BASE_ADDRESS_0 + 4 * bar + 4)
				<< 32;
		printf("Memory at ");
		if (addr)
			printf("%08llx", (unsigned long long)addr);
		else
			printf("<unassigned>");
		printf(" (%s, %sprefetchable)", mem_type(raw),
		       raw & PCI_BASE_ADDRESS_MEM_PREFETCH ? "" : "non-");
	}
	if (!(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)))
		printf(" [disabled]");
	lspci_print_size(size);
	printf("\n");
	check_bar(bar, raw, addr, size, is64, upper);
	return is64 ? 2 : 1;
}

static void print_rom(struct lspci *l)
{
	uint32_t raw = uvfio_pci_get32(l->cfg, PCI_ROM_ADDRESS);
	uint32_t rflags;
	uint64_t size = region_size(l, VFIO_PCI_ROM_REGION_INDEX, &rflags);
	uint32_t addr = raw & PCI_ROM_ADDRESS_MASK;

	if (!raw && !size)
		return;
	printf("\tExpansion ROM at ");
	if (addr)
		printf("%08x", addr);
	else
		printf("<unassigned>");
	if (!(raw & PCI_ROM_ADDRESS_ENABLE))
		printf(" [disabled]");
	lspci_print_size(size);
	printf("\n");
}

void lspci_print_bars(struct lspci *l)
{
	uint16_t cmd = uvfio_pci_get16(l->cfg, PCI_COMMAND);
	unsigned int bar = 0;

	if ((uvfio_pci_get8(l->cfg, PCI_HEADER_TYPE) & 0x7f) !=
	    PCI_HEADER_TYPE_NORMAL)
		return;
	while (bar < UVFIO_PCI_NUM_BARS)
		bar += print_bar(l, bar, cmd);
	print_rom(l);
}
