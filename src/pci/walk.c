// SPDX-License-Identifier: MIT
/*
 * Capability chain walkers.  The bytes may come from a hostile peer, so a
 * walk masks the reserved low bits of each pointer, stops at a pointer
 * into the header or past the space, and remembers every capability it
 * has visited so that a loop ends the chain at its first repeat.  That
 * makes iteration with uvfio_pci_next_cap() finite too: each call replays
 * the chain from its head.
 */
#include <string.h>

#include "pci_internal.h"

#define STD_SLOTS ((PCI_CFG_SPACE_SIZE - PCI_STD_HEADER_SIZEOF) / 4)
#define EXT_SLOTS ((PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 4)
#define ANY_ID (-1)

/* Marks slot as visited; false if it already was. */
static bool visit(uint64_t *seen, unsigned int slot)
{
	uint64_t bit = 1ull << (slot % 64);

	if (seen[slot / 64] & bit)
		return false;
	seen[slot / 64] |= bit;
	return true;
}

/*
 * The first capability after 'after' (0: from the head) whose ID is
 * 'want' (ANY_ID: any), or 0.
 */
static uint8_t std_walk(const struct uvfio_pci_cfg *cfg, uint8_t after,
			int want, uint8_t *id)
{
	uint64_t seen[(STD_SLOTS + 63) / 64] = { 0 };
	bool armed = after == 0;
	unsigned int n;
	uint8_t pos;

	if (!cfg || !(uvfio_pci_get16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	pos = uvfio_pci_get8(cfg, PCI_CAPABILITY_LIST) & ~3u;
	for (n = 0; n < STD_SLOTS; n++) {
		uint8_t cid;

		if (pos < PCI_STD_HEADER_SIZEOF ||
		    !visit(seen, (pos - PCI_STD_HEADER_SIZEOF) / 4))
			return 0;
		cid = uvfio_pci_get8(cfg, pos + PCI_CAP_LIST_ID);
		if (armed && (want == ANY_ID || cid == want)) {
			*id = cid;
			return pos;
		}
		if (pos == after)
			armed = true;
		pos = uvfio_pci_get8(cfg, pos + PCI_CAP_LIST_NEXT) & ~3u;
	}
	return 0;
}

/* As std_walk() for the extended chain, which starts at 0x100. */
static uint16_t ext_walk(const struct uvfio_pci_cfg *cfg, uint16_t after,
			 int want, uint16_t *id)
{
	uint64_t seen[(EXT_SLOTS + 63) / 64] = { 0 };
	bool armed = after == 0;
	uint16_t pos = PCI_CFG_SPACE_SIZE;
	unsigned int n;

	if (!cfg || cfg->size != UVFIO_PCIE_CFG_SIZE)
		return 0;
	for (n = 0; n < EXT_SLOTS; n++) {
		uint32_t hdr;
		int cid;

		if (pos < PCI_CFG_SPACE_SIZE || pos > cfg->size - 4 ||
		    !visit(seen, (pos - PCI_CFG_SPACE_SIZE) / 4))
			return 0;
		hdr = uvfio_pci_get32(cfg, pos);
		/* An all-zero header is how a function says "none". */
		if (!hdr)
			return 0;
		cid = (int)PCI_EXT_CAP_ID(hdr);
		if (armed && (want == ANY_ID || cid == want)) {
			*id = (uint16_t)cid;
			return pos;
		}
		if (pos == after)
			armed = true;
		pos = PCI_EXT_CAP_NEXT(hdr);
	}
	return 0;
}

uint8_t uvfio_pci_find_cap(const struct uvfio_pci_cfg *cfg, uint8_t id)
{
	uint8_t found;

	return std_walk(cfg, 0, id, &found);
}

uint16_t uvfio_pci_find_ecap(const struct uvfio_pci_cfg *cfg, uint16_t id)
{
	uint16_t found;

	return ext_walk(cfg, 0, id, &found);
}

int uvfio_pci_next_cap(const struct uvfio_pci_cfg *cfg, uint8_t *pos,
		       uint8_t *id)
{
	uint8_t cid, next;

	if (!pos)
		return 0;
	next = std_walk(cfg, *pos, ANY_ID, &cid);
	if (!next)
		return 0;
	*pos = next;
	if (id)
		*id = cid;
	return 1;
}

int uvfio_pci_next_ecap(const struct uvfio_pci_cfg *cfg, uint16_t *pos,
			uint16_t *id)
{
	uint16_t cid, next;

	if (!pos)
		return 0;
	next = ext_walk(cfg, *pos, ANY_ID, &cid);
	if (!next)
		return 0;
	*pos = next;
	if (id)
		*id = cid;
	return 1;
}
