// SPDX-License-Identifier: MIT
/*
 * MSI and MSI-X register decoding for the emulation: capability layouts,
 * which bits the guest may write, table entries, and range arithmetic.
 * The capability bytes come from the device and are not trusted.
 */
#include "irqemu.h"

#include <errno.h>
#include <string.h>

uint16_t cl_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t cl_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int cl_msi_decode(uint16_t flags, struct cl_msi_layout *l)
{
	unsigned int mmc = (flags & PCI_MSI_FLAGS_QMASK) >> 1;

	/* Multiple Message Capable above 32 vectors is reserved. */
	if (mmc > 5)
		return -EPROTO;
	memset(l, 0, sizeof(*l));
	l->mmc = 1u << mmc;
	l->is64 = flags & PCI_MSI_FLAGS_64BIT;
	l->data = l->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32;
	if (flags & PCI_MSI_FLAGS_MASKBIT) {
		l->mask = l->is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32;
		l->pending = l->is64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32;
		l->len = l->pending + 4;
	} else {
		l->len = l->data + 2;
	}
	return 0;
}

void cl_msi_wmask(const struct cl_msi_layout *l, uint8_t *wmask)
{
	memset(wmask, 0, CL_MSI_CAP_MAX);
	wmask[PCI_MSI_FLAGS] = PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE;
	/* The address is dword aligned: bits 1:0 read as zero. */
	memset(wmask + PCI_MSI_ADDRESS_LO, 0xff, 4);
	wmask[PCI_MSI_ADDRESS_LO] = 0xfc;
	if (l->is64)
		memset(wmask + PCI_MSI_ADDRESS_HI, 0xff, 4);
	memset(wmask + l->data, 0xff, 2);
	if (l->mask) {
		uint32_t m = l->mmc == 32 ? ~0u : (1u << l->mmc) - 1;

		for (unsigned int i = 0; i < 4; i++)
			wmask[l->mask + i] = (uint8_t)(m >> (8 * i));
	}
}

/*
 * Multiple Message Enable asks for 2^MME vectors; more than the function
 * is capable of is undefined, so it gets what it is capable of.
 */
uint32_t cl_msi_nvec(uint16_t flags, uint32_t max)
{
	uint32_t n = 1u << ((flags & PCI_MSI_FLAGS_QSIZE) >> 4);

	return n < max ? n : max;
}

/* The function puts the vector number in the low log2(nvec) data bits. */
uint32_t cl_msi_vec_data(uint32_t base, uint32_t nvec, uint32_t i)
{
	return ((base & 0xffffu) & ~(nvec - 1)) | (i & (nvec - 1));
}

int cl_msix_decode(const uint8_t *cap, struct cl_msix_geom *g)
{
	uint32_t table = cl_le32(cap + PCI_MSIX_TABLE);
	uint32_t pba = cl_le32(cap + PCI_MSIX_PBA);

	memset(g, 0, sizeof(*g));
	g->nvec = (cl_le16(cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1;
	g->table_bar = table & PCI_MSIX_TABLE_BIR;
	g->pba_bar = pba & PCI_MSIX_PBA_BIR;
	if (g->table_bar >= UVFIO_PCI_NUM_BARS ||
	    g->pba_bar >= UVFIO_PCI_NUM_BARS)
		return -EPROTO;
	g->table_off = table & PCI_MSIX_TABLE_OFFSET;
	g->pba_off = pba & PCI_MSIX_PBA_OFFSET;
	g->table_len = (uint64_t)g->nvec * PCI_MSIX_ENTRY_SIZE;
	g->pba_len = (g->nvec + 63) / 64 * 8;
	return 0;
}

/* Both structures inside their BARs, and apart when they share one. */
int cl_msix_check(const struct cl_msix_geom *g, const uint64_t *bar_size)
{
	uint64_t from, n;

	if (g->table_off + g->table_len > bar_size[g->table_bar] ||
	    g->pba_off + g->pba_len > bar_size[g->pba_bar])
		return -EPROTO;
	if (g->table_bar == g->pba_bar &&
	    cl_overlap(g->table_off, g->table_len, g->pba_off, g->pba_len,
		       &from, &n))
		return -EPROTO;
	return 0;
}

/* Address bits 1:0 are zero; of Vector Control only the mask bit. */
void cl_msix_wmask_entry(uint8_t *wmask)
{
	memset(wmask, 0xff, PCI_MSIX_ENTRY_VECTOR_CTRL);
	wmask[PCI_MSIX_ENTRY_LOWER_ADDR] = 0xfc;
	memset(wmask + PCI_MSIX_ENTRY_VECTOR_CTRL, 0, 4);
	wmask[PCI_MSIX_ENTRY_VECTOR_CTRL] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

void cl_msix_entry(const uint8_t *table, uint32_t v, struct uvfio_msi_msg *msg,
		   bool *masked)
{
	const uint8_t *p = table + (size_t)v * PCI_MSIX_ENTRY_SIZE;

	msg->address = (uint64_t)cl_le32(p + PCI_MSIX_ENTRY_UPPER_ADDR) << 32 |
		       cl_le32(p + PCI_MSIX_ENTRY_LOWER_ADDR);
	msg->data = cl_le32(p + PCI_MSIX_ENTRY_DATA);
	*masked = cl_le32(p + PCI_MSIX_ENTRY_VECTOR_CTRL) &
		  PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

/* [off, off + len) within [base, base + size), saturating at the top. */
bool cl_overlap(uint64_t off, uint64_t len, uint64_t base, uint64_t size,
		uint64_t *from, uint64_t *n)
{
	uint64_t end, bend;

	if (__builtin_add_overflow(off, len, &end))
		end = UINT64_MAX;
	if (__builtin_add_overflow(base, size, &bend))
		bend = UINT64_MAX;
	*from = off > base ? off : base;
	end = end < bend ? end : bend;
	if (!len || !size || *from >= end)
		return false;
	*n = end - *from;
	return true;
}

void cl_merge(uint8_t *dst, const uint8_t *src, const uint8_t *wmask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)((dst[i] & ~wmask[i]) | (src[i] & wmask[i]));
}
