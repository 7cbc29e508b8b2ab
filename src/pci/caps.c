// SPDX-License-Identifier: MIT
/*
 * Standard capabilities: allocation and chaining in 0x40..0xff, and the
 * power management, MSI, MSI-X and vendor-specific structures.
 */
#include <errno.h>
#include <string.h>

#include "pci_internal.h"

#define PM_VERSION 3
#define MSIX_MAX_VEC 2048u
#define MSIX_ENTRY_SIZE 16u
#define MSIX_BIR_MAX 5u
#define VNDR_HDR 3u
#define VNDR_MAX_LEN 0xffu

/*
 * next_cap below the header means no room: it is 0 once the last byte of
 * the space is taken (0x100 does not fit in it) and after a load.
 */
int uvfio_pci_cap_alloc(struct uvfio_pci_cfg *cfg, uint8_t id, uint32_t len)
{
	uint32_t at, end;

	if (!cfg)
		return -EINVAL;
	at = UVFIO_PCI_ALIGN4((uint32_t)cfg->next_cap);
	if (at < PCI_STD_HEADER_SIZEOF)
		return -ENOSPC;
	end = UVFIO_PCI_ALIGN4(at + len);
	if (end > PCI_CFG_SPACE_SIZE)
		return -ENOSPC;

	memset(cfg->data + at, 0, end - at);
	memset(cfg->wmask + at, 0, end - at);
	memset(cfg->w1cmask + at, 0, end - at);
	uvfio_pci_set8(cfg, at + PCI_CAP_LIST_ID, id);
	if (cfg->last_cap)
		uvfio_pci_set8(cfg, cfg->last_cap + PCI_CAP_LIST_NEXT,
			       (uint8_t)at);
	else
		uvfio_pci_set8(cfg, PCI_CAPABILITY_LIST, (uint8_t)at);
	uvfio_pci_set16(cfg, PCI_STATUS,
			uvfio_pci_get16(cfg, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	cfg->last_cap = (uint8_t)at;
	cfg->next_cap = end < PCI_CFG_SPACE_SIZE ? (uint8_t)end : 0;
	return (int)at;
}

int uvfio_pci_add_cap_pm(struct uvfio_pci_cfg *cfg)
{
	int pos = uvfio_pci_cap_alloc(cfg, PCI_CAP_ID_PM, PCI_PM_SIZEOF);

	if (pos < 0)
		return pos;
	uvfio_pci_set16(cfg, pos + PCI_PM_PMC, PM_VERSION);
	/* Going through D3hot keeps the model's state: no soft reset. */
	uvfio_pci_set16(cfg, pos + PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET);
	uvfio_pci_mask(cfg, pos + PCI_PM_CTRL,
		       PCI_PM_CTRL_STATE_MASK | PCI_PM_CTRL_PME_ENABLE,
		       PCI_PM_CTRL_PME_STATUS, 2);
	return pos;
}

/* log2 of a power of two up to 32, or -1. */
static int msi_mmc(unsigned int nvec)
{
	int i;

	for (i = 0; i <= 5; i++)
		if (nvec == 1u << i)
			return i;
	return -1;
}

int uvfio_pci_add_cap_msi(struct uvfio_pci_cfg *cfg, unsigned int nvec,
			  uint32_t flags)
{
	bool is64 = flags & UVFIO_MSI_64BIT;
	bool maskable = flags & UVFIO_MSI_MASKABLE;
	int mmc = msi_mmc(nvec);
	uint32_t len, data, mask;
	uint16_t ctl;
	int pos;

	if (mmc < 0 || (flags & ~(UVFIO_MSI_64BIT | UVFIO_MSI_MASKABLE)))
		return -EINVAL;
	data = is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32;
	mask = is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32;
	/* The structure ends after data, or after the pending bits. */
	len = maskable ? mask + 8 : data + 2;
	pos = uvfio_pci_cap_alloc(cfg, PCI_CAP_ID_MSI, len);
	if (pos < 0)
		return pos;

	ctl = (uint16_t)(mmc << 1);
	if (is64)
		ctl |= PCI_MSI_FLAGS_64BIT;
	if (maskable)
		ctl |= PCI_MSI_FLAGS_MASKBIT;
	uvfio_pci_set16(cfg, pos + PCI_MSI_FLAGS, ctl);
	/* Values of Multiple Message Enable above MMC are undone on write. */
	uvfio_pci_mask(cfg, pos + PCI_MSI_FLAGS,
		       PCI_MSI_FLAGS_ENABLE | (mmc ? PCI_MSI_FLAGS_QSIZE : 0),
		       0, 2);
	uvfio_pci_mask(cfg, pos + PCI_MSI_ADDRESS_LO, 0xfffffffc, 0, 4);
	if (is64)
		uvfio_pci_mask(cfg, pos + PCI_MSI_ADDRESS_HI, 0xffffffff, 0, 4);
	uvfio_pci_mask(cfg, pos + data, 0xffff, 0, 2);
	if (maskable)
		uvfio_pci_mask(cfg, pos + mask,
			       nvec == 32 ? 0xffffffff : (1u << nvec) - 1, 0,
			       4);
	return pos;
}

static bool msix_region_ok(uint32_t off, uint32_t len)
{
	return (off & ~PCI_MSIX_TABLE_OFFSET) == 0 && len <= UINT32_MAX - off;
}

int uvfio_pci_add_cap_msix(struct uvfio_pci_cfg *cfg, unsigned int nvec,
			   unsigned int table_bir, uint32_t table_off,
			   unsigned int pba_bir, uint32_t pba_off)
{
	uint32_t table_len = nvec * MSIX_ENTRY_SIZE;
	uint32_t pba_len = (nvec + 63) / 64 * 8;
	int pos;

	if (nvec < 1 || nvec > MSIX_MAX_VEC || table_bir > MSIX_BIR_MAX ||
	    pba_bir > MSIX_BIR_MAX)
		return -EINVAL;
	if (!msix_region_ok(table_off, table_len) ||
	    !msix_region_ok(pba_off, pba_len))
		return -EINVAL;
	/* The table and the PBA may share a BAR but must not overlap. */
	if (table_bir == pba_bir && table_off < pba_off + pba_len &&
	    pba_off < table_off + table_len)
		return -EINVAL;
	pos = uvfio_pci_cap_alloc(cfg, PCI_CAP_ID_MSIX, PCI_CAP_MSIX_SIZEOF);
	if (pos < 0)
		return pos;
	uvfio_pci_set16(cfg, pos + PCI_MSIX_FLAGS, (uint16_t)(nvec - 1));
	uvfio_pci_mask(cfg, pos + PCI_MSIX_FLAGS,
		       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 0, 2);
	uvfio_pci_set32(cfg, pos + PCI_MSIX_TABLE, table_off | table_bir);
	uvfio_pci_set32(cfg, pos + PCI_MSIX_PBA, pba_off | pba_bir);
	return pos;
}

int uvfio_pci_add_cap_vendor(struct uvfio_pci_cfg *cfg, const void *body,
			     size_t len)
{
	int pos;

	if ((len && !body) || len > VNDR_MAX_LEN - VNDR_HDR)
		return -EINVAL;
	pos = uvfio_pci_cap_alloc(cfg, PCI_CAP_ID_VNDR,
				  (uint32_t)(VNDR_HDR + len));
	if (pos < 0)
		return pos;
	uvfio_pci_set8(cfg, pos + PCI_CAP_FLAGS, (uint8_t)(VNDR_HDR + len));
	if (len)
		memcpy(cfg->data + pos + VNDR_HDR, body, len);
	return pos;
}
