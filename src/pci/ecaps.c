// SPDX-License-Identifier: MIT
/*
 * Extended capabilities in 0x100..0xfff: allocation and chaining, device
 * serial number and vendor-specific (VSEC).
 */
#include <errno.h>
#include <string.h>

#include "pci_internal.h"

#define ECAP_VERSION 1
#define VSEC_HDR 8u /* extended header + VSEC header */
#define VSEC_REV_MAX 0xfu
#define VSEC_LEN_MAX 0xfffu

/* next_ecap below 0x100 means no room (a 256-byte space, or a load). */
int uvfio_pci_ecap_alloc(struct uvfio_pci_cfg *cfg, uint16_t id, uint8_t ver,
			 uint32_t len)
{
	uint32_t at, end, hdr;

	if (!cfg)
		return -EINVAL;
	at = UVFIO_PCI_ALIGN4((uint32_t)cfg->next_ecap);
	if (cfg->size != UVFIO_PCIE_CFG_SIZE || at < PCI_CFG_SPACE_SIZE)
		return -ENOSPC;
	if (at >= UVFIO_PCIE_CFG_SIZE || len > UVFIO_PCIE_CFG_SIZE - at)
		return -ENOSPC;
	end = UVFIO_PCI_ALIGN4(at + len);

	memset(cfg->data + at, 0, end - at);
	memset(cfg->wmask + at, 0, end - at);
	memset(cfg->w1cmask + at, 0, end - at);
	uvfio_pci_set32(cfg, at, id | ((uint32_t)ver << 16));
	if (cfg->last_ecap) {
		hdr = uvfio_pci_get32(cfg, cfg->last_ecap);
		uvfio_pci_set32(cfg, cfg->last_ecap,
				(hdr & 0x000fffff) | (at << 20));
	}
	cfg->last_ecap = (uint16_t)at;
	cfg->next_ecap = (uint16_t)end;
	return (int)at;
}

int uvfio_pci_add_ecap_dsn(struct uvfio_pci_cfg *cfg, uint64_t serial)
{
	int pos = uvfio_pci_ecap_alloc(cfg, PCI_EXT_CAP_ID_DSN, ECAP_VERSION,
				       PCI_EXT_CAP_DSN_SIZEOF);

	if (pos < 0)
		return pos;
	uvfio_pci_set32(cfg, pos + 4, (uint32_t)serial);
	uvfio_pci_set32(cfg, pos + 8, (uint32_t)(serial >> 32));
	return pos;
}

int uvfio_pci_add_ecap_vendor(struct uvfio_pci_cfg *cfg, uint16_t vsec_id,
			      uint8_t vsec_rev, const void *body, size_t len)
{
	uint32_t total;
	int pos;

	if ((len && !body) || vsec_rev > VSEC_REV_MAX ||
	    len > VSEC_LEN_MAX - VSEC_HDR)
		return -EINVAL;
	total = (uint32_t)(VSEC_HDR + len);
	pos = uvfio_pci_ecap_alloc(cfg, PCI_EXT_CAP_ID_VNDR, ECAP_VERSION,
				   total);
	if (pos < 0)
		return pos;
	uvfio_pci_set32(cfg, pos + PCI_VNDR_HEADER,
			vsec_id | ((uint32_t)vsec_rev << 16) | (total << 20));
	if (len)
		memcpy(cfg->data + pos + VSEC_HDR, body, len);
	return pos;
}
