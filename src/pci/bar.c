// SPDX-License-Identifier: MIT
/*
 * Base address registers.  The register itself lives in config data; its
 * write mask covers exactly the address bits above the size, so writing
 * all ones reads back the size mask with the flag bits (the PCI sizing
 * protocol) and an unimplemented BAR stays 0.
 */
#include <errno.h>

#include "pci_internal.h"

#define BAR_FLAGS (UVFIO_BAR_IO | UVFIO_BAR_MEM64 | UVFIO_BAR_PREFETCH)
#define IO_MIN 4u
#define IO_MAX 256u
#define MEM_MIN 16u
#define MEM32_MAX (1ull << 31)

static uint32_t bar_reg(unsigned int bar)
{
	return PCI_BASE_ADDRESS_0 + 4 * bar;
}

/* Taken by its own description or as the upper half of a 64-bit BAR. */
static bool bar_used(const struct uvfio_pci_cfg *cfg, unsigned int bar)
{
	const struct uvfio_pci_bar *lo = bar ? &cfg->bar[bar - 1] : NULL;

	if (cfg->bar[bar].size)
		return true;
	return lo && lo->size && (lo->flags & UVFIO_BAR_MEM64);
}

static int set_io(struct uvfio_pci_cfg *cfg, unsigned int bar, uint64_t size,
		  uint32_t flags)
{
	if (flags != UVFIO_BAR_IO || size < IO_MIN || size > IO_MAX)
		return -EINVAL;
	uvfio_pci_set32(cfg, bar_reg(bar), PCI_BASE_ADDRESS_SPACE_IO);
	uvfio_pci_mask(cfg, bar_reg(bar), (uint32_t) ~(size - 1), 0, 4);
	return 0;
}

static int set_mem(struct uvfio_pci_cfg *cfg, unsigned int bar, uint64_t size,
		   uint32_t flags)
{
	uint64_t addr_mask = ~(size - 1);
	uint32_t lo = PCI_BASE_ADDRESS_SPACE_MEMORY;

	if (size < MEM_MIN)
		return -EINVAL;
	if (flags & UVFIO_BAR_PREFETCH)
		lo |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	if (flags & UVFIO_BAR_MEM64) {
		if (bar + 1 >= UVFIO_PCI_NUM_BARS || bar_used(cfg, bar + 1))
			return -EINVAL;
		lo |= PCI_BASE_ADDRESS_MEM_TYPE_64;
		uvfio_pci_set32(cfg, bar_reg(bar + 1), 0);
		uvfio_pci_mask(cfg, bar_reg(bar + 1),
			       (uint32_t)(addr_mask >> 32), 0, 4);
	} else if (size > MEM32_MAX) {
		return -EINVAL;
	}
	uvfio_pci_set32(cfg, bar_reg(bar), lo);
	uvfio_pci_mask(cfg, bar_reg(bar),
		       (uint32_t)addr_mask & PCI_BASE_ADDRESS_MEM_MASK, 0, 4);
	return 0;
}

int uvfio_pci_set_bar(struct uvfio_pci_cfg *cfg, unsigned int bar,
		      uint64_t size, uint32_t flags)
{
	int ret;

	if (!cfg || bar >= UVFIO_PCI_NUM_BARS || (flags & ~BAR_FLAGS))
		return -EINVAL;
	if (!size || (size & (size - 1)) || bar_used(cfg, bar))
		return -EINVAL;
	if (flags & UVFIO_BAR_IO)
		ret = set_io(cfg, bar, size, flags);
	else
		ret = set_mem(cfg, bar, size, flags);
	if (ret)
		return ret;
	cfg->bar[bar].size = size;
	cfg->bar[bar].flags = flags;
	return 0;
}

/*
 * Decodes the register bytes rather than the descriptions so that it also
 * works on a space loaded from a peer.
 */
uint64_t uvfio_pci_bar_addr(const struct uvfio_pci_cfg *cfg, unsigned int bar)
{
	uint64_t hi;
	uint32_t v;

	if (!cfg || bar >= UVFIO_PCI_NUM_BARS)
		return 0;
	v = uvfio_pci_get32(cfg, bar_reg(bar));
	if (v & PCI_BASE_ADDRESS_SPACE_IO)
		return v & PCI_BASE_ADDRESS_IO_MASK;
	if ((v & PCI_BASE_ADDRESS_MEM_TYPE_MASK) !=
		    PCI_BASE_ADDRESS_MEM_TYPE_64 ||
	    bar + 1 >= UVFIO_PCI_NUM_BARS)
		return v & PCI_BASE_ADDRESS_MEM_MASK;
	hi = uvfio_pci_get32(cfg, bar_reg(bar + 1));
	return hi << 32 | (v & PCI_BASE_ADDRESS_MEM_MASK);
}
