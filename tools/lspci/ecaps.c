// SPDX-License-Identifier: MIT
/* The extended capability chain (PCI Express config space above 0x100). */
#include <stdio.h>

#include "lspci.h"

/* Device Serial Number: the 64-bit serial follows the header. */
#define DSN_LOW 4
#define DSN_HIGH 8

static const char *ecap_name(uint16_t id)
{
	switch (id) {
	case PCI_EXT_CAP_ID_ERR:
		return "Advanced Error Reporting";
	case PCI_EXT_CAP_ID_VC:
		return "Virtual Channel";
	case PCI_EXT_CAP_ID_PWR:
		return "Power Budgeting <?>";
	case PCI_EXT_CAP_ID_ARI:
		return "Alternative Routing-ID Interpretation (ARI)";
	case PCI_EXT_CAP_ID_ATS:
		return "Address Translation Service (ATS)";
	case PCI_EXT_CAP_ID_SRIOV:
		return "Single Root I/O Virtualization (SR-IOV)";
	case PCI_EXT_CAP_ID_LTR:
		return "Latency Tolerance Reporting";
	case PCI_EXT_CAP_ID_PASID:
		return "Process Address Space ID (PASID)";
	default:
		return NULL;
	}
}

static void print_dsn(const struct uvfio_pci_cfg *cfg, uint16_t pos)
{
	uint32_t lo = uvfio_pci_get32(cfg, pos + DSN_LOW);
	uint32_t hi = uvfio_pci_get32(cfg, pos + DSN_HIGH);

	printf("Device Serial Number %02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x\n",
	       hi >> 24, (hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff,
	       lo >> 24, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff);
}

static void print_vsec(const struct uvfio_pci_cfg *cfg, uint16_t pos)
{
	uint32_t h = uvfio_pci_get32(cfg, pos + PCI_VNDR_HEADER);

	printf("Vendor Specific Information: ID=%04x Rev=%u Len=%03x <?>\n",
	       PCI_VNDR_HEADER_ID(h), PCI_VNDR_HEADER_REV(h),
	       PCI_VNDR_HEADER_LEN(h));
}

void lspci_print_ecaps(const struct uvfio_pci_cfg *cfg)
{
	uint16_t pos = 0, id;

	while (uvfio_pci_next_ecap(cfg, &pos, &id)) {
		uint32_t hdr = uvfio_pci_get32(cfg, pos);
		const char *name = ecap_name(id);

		printf("\tCapabilities: [%03x v%u] ", pos,
		       PCI_EXT_CAP_VER(hdr));
		if (id == PCI_EXT_CAP_ID_DSN)
			print_dsn(cfg, pos);
		else if (id == PCI_EXT_CAP_ID_VNDR)
			print_vsec(cfg, pos);
		else if (name)
			printf("%s\n", name);
		else
			printf("#%02x\n", id);
	}
}
