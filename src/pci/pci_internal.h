/* SPDX-License-Identifier: MIT */
/*
 * Internals of the PCI config-space model shared by its source files.
 */
#ifndef UVFIO_PCI_INTERNAL_H
#define UVFIO_PCI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "uvfio/pci.h"

struct uvfio_pci_bar {
	uint64_t size; /* 0: BAR not implemented */
	uint32_t flags; /* UVFIO_BAR_* */
};

struct uvfio_pci_cfg {
	uint32_t size; /* 256 or 4096 */
	uint8_t data[UVFIO_PCIE_CFG_SIZE];
	uint8_t wmask[UVFIO_PCIE_CFG_SIZE];
	uint8_t w1cmask[UVFIO_PCIE_CFG_SIZE];
	struct uvfio_pci_bar bar[UVFIO_PCI_NUM_BARS];
	uint8_t next_cap; /* allocator: next free byte after 0x40 */
	uint16_t next_ecap; /* allocator: next free byte after 0x100 */
	uint8_t last_cap; /* offset of the last standard capability */
	uint16_t last_ecap; /* offset of the last extended capability */
};

#define UVFIO_PCI_ALIGN4(x) (((x) + 3u) & ~3u)

/* Sets the write and write-1-to-clear masks of n (1..4) bytes at off. */
void uvfio_pci_mask(struct uvfio_pci_cfg *cfg, uint32_t off, uint32_t wmask,
		    uint32_t w1c, unsigned int n);

/*
 * Reserves len bytes for a capability, writes its header and links it
 * after the last one.  Return the offset or a negative errno.
 */
int uvfio_pci_cap_alloc(struct uvfio_pci_cfg *cfg, uint8_t id, uint32_t len);
int uvfio_pci_ecap_alloc(struct uvfio_pci_cfg *cfg, uint16_t id, uint8_t ver,
			 uint32_t len);

/*
 * Registers whose legal values a byte mask cannot express: the state they
 * had before a write, so the write can be corrected afterwards.
 */
struct uvfio_pci_fixup {
	uint8_t msi; /* MSI capability whose control is written */
	uint8_t pm; /* PM capability whose control is written */
	uint16_t pm_ctrl; /* PM control before the write */
};

void uvfio_pci_fixup_begin(const struct uvfio_pci_cfg *cfg, uint32_t off,
			   size_t len, struct uvfio_pci_fixup *fx);
void uvfio_pci_fixup_end(struct uvfio_pci_cfg *cfg,
			 const struct uvfio_pci_fixup *fx);

#endif
