// SPDX-License-Identifier: MIT
/*
 * The standard capability chain: Power Management, MSI, MSI-X and
 * vendor-specific are decoded, Express has its own file, anything else
 * prints its ID as lspci does for IDs it does not know.
 */
#include <stdio.h>

#include "lspci.h"

static void print_pm(const struct uvfio_pci_cfg *cfg, uint8_t pos)
{
	static const unsigned int aux_ma[] = { 0,   55,  100, 160,
					       220, 270, 320, 375 };
	uint16_t pmc = uvfio_pci_get16(cfg, pos + PCI_PM_PMC);
	uint16_t ctrl = uvfio_pci_get16(cfg, pos + PCI_PM_CTRL);

	printf("Power Management version %u\n", pmc & PCI_PM_CAP_VER_MASK);
	printf("\t\tFlags: PMEClk%c DSI%c D1%c D2%c AuxCurrent=%umA "
	       "PME(D0%c,D1%c,D2%c,D3hot%c,D3cold%c)\n",
	       flag(pmc, PCI_PM_CAP_PME_CLOCK), flag(pmc, PCI_PM_CAP_DSI),
	       flag(pmc, PCI_PM_CAP_D1), flag(pmc, PCI_PM_CAP_D2),
	       aux_ma[(pmc & PCI_PM_CAP_AUX_POWER) >> 6],
	       flag(pmc, PCI_PM_CAP_PME_D0), flag(pmc, PCI_PM_CAP_PME_D1),
	       flag(pmc, PCI_PM_CAP_PME_D2), flag(pmc, PCI_PM_CAP_PME_D3hot),
	       flag(pmc, PCI_PM_CAP_PME_D3cold));
	printf("\t\tStatus: D%u NoSoftRst%c PME-Enable%c DSel=%u DScale=%u "
	       "PME%c\n",
	       ctrl & PCI_PM_CTRL_STATE_MASK,
	       flag(ctrl, PCI_PM_CTRL_NO_SOFT_RESET),
	       flag(ctrl, PCI_PM_CTRL_PME_ENABLE),
	       (ctrl & PCI_PM_CTRL_DATA_SEL_MASK) >> 9,
	       (ctrl & PCI_PM_CTRL_DATA_SCALE_MASK) >> 13,
	       flag(ctrl, PCI_PM_CTRL_PME_STATUS));
}

static void print_msi(const struct uvfio_pci_cfg *cfg, uint8_t pos)
{
	uint16_t f = uvfio_pci_get16(cfg, pos + PCI_MSI_FLAGS);
	bool is64 = f & PCI_MSI_FLAGS_64BIT;
	uint32_t mask_off = pos + (is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);

	printf("MSI: Enable%c Count=%u/%u Maskable%c 64bit%c\n",
	       flag(f, PCI_MSI_FLAGS_ENABLE),
	       1u << ((f & PCI_MSI_FLAGS_QSIZE) >> 4),
	       1u << ((f & PCI_MSI_FLAGS_QMASK) >> 1),
	       flag(f, PCI_MSI_FLAGS_MASKBIT), flag(f, PCI_MSI_FLAGS_64BIT));
	printf("\t\tAddress: ");
	if (is64)
		printf("%08x", uvfio_pci_get32(cfg, pos + PCI_MSI_ADDRESS_HI));
	printf("%08x  Data: %04x\n",
	       uvfio_pci_get32(cfg, pos + PCI_MSI_ADDRESS_LO),
	       uvfio_pci_get16(cfg, pos + (is64 ? PCI_MSI_DATA_64 :
						  PCI_MSI_DATA_32)));
	if (f & PCI_MSI_FLAGS_MASKBIT)
		printf("\t\tMasking: %08x  Pending: %08x\n",
		       uvfio_pci_get32(cfg, mask_off),
		       uvfio_pci_get32(cfg, mask_off + 4));
}

static void print_msix(const struct uvfio_pci_cfg *cfg, uint8_t pos)
{
	uint16_t f = uvfio_pci_get16(cfg, pos + PCI_MSIX_FLAGS);
	uint32_t table = uvfio_pci_get32(cfg, pos + PCI_MSIX_TABLE);
	uint32_t pba = uvfio_pci_get32(cfg, pos + PCI_MSIX_PBA);

	printf("MSI-X: Enable%c Count=%u Masked%c\n",
	       flag(f, PCI_MSIX_FLAGS_ENABLE),
	       (f & PCI_MSIX_FLAGS_QSIZE) + 1u,
	       flag(f, PCI_MSIX_FLAGS_MASKALL));
	printf("\t\tVector table: BAR=%u offset=%08x\n",
	       table & PCI_MSIX_TABLE_BIR, table & PCI_MSIX_TABLE_OFFSET);
	printf("\t\tPBA: BAR=%u offset=%08x\n", pba & PCI_MSIX_PBA_BIR,
	       pba & PCI_MSIX_PBA_OFFSET);
}

static void print_one(const struct uvfio_pci_cfg *cfg, uint8_t pos,
		      uint8_t id)
{
	printf("\tCapabilities: [%02x] ", pos);
	switch (id) {
	case PCI_CAP_ID_PM:
		print_pm(cfg, pos);
		break;
	case PCI_CAP_ID_MSI:
		print_msi(cfg, pos);
		break;
	case PCI_CAP_ID_MSIX:
		print_msix(cfg, pos);
		break;
	case PCI_CAP_ID_EXP:
		lspci_print_exp(cfg, pos);
		break;
	case PCI_CAP_ID_VNDR:
		printf("Vendor Specific Information: Len=%02x <?>\n",
		       uvfio_pci_get8(cfg, pos + PCI_CAP_FLAGS));
		break;
	case PCI_CAP_ID_VPD:
		printf("Vital Product Data\n");
		break;
	default:
		printf("#%02x [%04x]\n", id,
		       uvfio_pci_get16(cfg, pos + PCI_CAP_FLAGS));
		break;
	}
}

void lspci_print_caps(const struct uvfio_pci_cfg *cfg)
{
	uint8_t pos = 0, id;

	if (!(uvfio_pci_get16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	/* The walker ends loops and bad pointers, so this terminates. */
	while (uvfio_pci_next_cap(cfg, &pos, &id))
		print_one(cfg, pos, id);
}
