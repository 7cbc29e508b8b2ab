// SPDX-License-Identifier: MIT
/*
 * Write side effects a per-bit mask cannot express: MSI Multiple Message
 * Enable may not exceed Multiple Message Capable, and a write asking for
 * an unsupported power state leaves the state as it was (PCI PM 1.2,
 * 5.4.1).
 */
#include <string.h>

#include "pci_internal.h"

static bool touches(uint32_t off, size_t len, uint32_t reg, uint32_t n)
{
	return off < reg + n && reg < off + len;
}

void uvfio_pci_fixup_begin(const struct uvfio_pci_cfg *cfg, uint32_t off,
			   size_t len, struct uvfio_pci_fixup *fx)
{
	uint8_t pos;

	memset(fx, 0, sizeof(*fx));
	if (off >= PCI_CFG_SPACE_SIZE || off + len <= PCI_STD_HEADER_SIZEOF)
		return;
	pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSI);
	if (pos && touches(off, len, pos + PCI_MSI_FLAGS, 2))
		fx->msi = pos;
	pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_PM);
	if (pos && touches(off, len, pos + PCI_PM_CTRL, 2)) {
		fx->pm = pos;
		fx->pm_ctrl = uvfio_pci_get16(cfg, pos + PCI_PM_CTRL);
	}
}

static void fix_msi(struct uvfio_pci_cfg *cfg, uint8_t pos)
{
	uint16_t ctl = uvfio_pci_get16(cfg, pos + PCI_MSI_FLAGS);
	unsigned int mmc = (ctl & PCI_MSI_FLAGS_QMASK) >> 1;
	unsigned int mme = (ctl & PCI_MSI_FLAGS_QSIZE) >> 4;

	if (mme > mmc)
		uvfio_pci_set16(
			cfg, pos + PCI_MSI_FLAGS,
			(uint16_t)((ctl & ~PCI_MSI_FLAGS_QSIZE) | (mmc << 4)));
}

static void fix_pm(struct uvfio_pci_cfg *cfg, uint8_t pos, uint16_t old)
{
	uint16_t pmc = uvfio_pci_get16(cfg, pos + PCI_PM_PMC);
	uint16_t ctl = uvfio_pci_get16(cfg, pos + PCI_PM_CTRL);
	unsigned int state = ctl & PCI_PM_CTRL_STATE_MASK;

	if ((state == 1 && !(pmc & PCI_PM_CAP_D1)) ||
	    (state == 2 && !(pmc & PCI_PM_CAP_D2)))
		uvfio_pci_set16(cfg, pos + PCI_PM_CTRL,
				(uint16_t)((ctl & ~PCI_PM_CTRL_STATE_MASK) |
					   (old & PCI_PM_CTRL_STATE_MASK)));
}

void uvfio_pci_fixup_end(struct uvfio_pci_cfg *cfg,
			 const struct uvfio_pci_fixup *fx)
{
	if (fx->msi)
		fix_msi(cfg, fx->msi);
	if (fx->pm)
		fix_pm(cfg, fx->pm, fx->pm_ctrl);
}
