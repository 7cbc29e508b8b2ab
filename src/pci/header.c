// SPDX-License-Identifier: MIT
/*
 * The type-0 configuration header.
 */
#include <string.h>

#include "pci_internal.h"

#define CMD_WRITABLE                                                \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
	 PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

#define STATUS_W1C                                                   \
	(PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |           \
	 PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT | \
	 PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)

void uvfio_pci_init(struct uvfio_pci_cfg *cfg, const struct uvfio_pci_ids *ids,
		    uint32_t size)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = size == UVFIO_PCIE_CFG_SIZE ? UVFIO_PCIE_CFG_SIZE :
						  UVFIO_PCI_CFG_SIZE;
	cfg->next_cap = PCI_STD_HEADER_SIZEOF;
	if (cfg->size == UVFIO_PCIE_CFG_SIZE)
		cfg->next_ecap = PCI_CFG_SPACE_SIZE;

	if (ids) {
		uvfio_pci_set16(cfg, PCI_VENDOR_ID, ids->vendor_id);
		uvfio_pci_set16(cfg, PCI_DEVICE_ID, ids->device_id);
		uvfio_pci_set32(cfg, PCI_CLASS_REVISION,
				(ids->class_code << 8) | ids->revision);
		uvfio_pci_set16(cfg, PCI_SUBSYSTEM_VENDOR_ID,
				ids->subsys_vendor_id);
		uvfio_pci_set16(cfg, PCI_SUBSYSTEM_ID, ids->subsys_id);
		/* Pins beyond INTD do not exist: no pin. */
		if (ids->irq_pin <= 4)
			uvfio_pci_set8(cfg, PCI_INTERRUPT_PIN, ids->irq_pin);
	}
	uvfio_pci_set8(cfg, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);

	uvfio_pci_mask(cfg, PCI_COMMAND, CMD_WRITABLE, 0, 2);
	uvfio_pci_mask(cfg, PCI_STATUS, 0, STATUS_W1C, 2);
	uvfio_pci_mask(cfg, PCI_CACHE_LINE_SIZE, 0xff, 0, 1);
	uvfio_pci_mask(cfg, PCI_LATENCY_TIMER, 0xff, 0, 1);
	uvfio_pci_mask(cfg, PCI_INTERRUPT_LINE, 0xff, 0, 1);
}
