// SPDX-License-Identifier: MIT
/*
 * Config space storage: raw little-endian access, masked accesses as a
 * driver sees them, and loading a space read from a peer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

/* The arrays are 4096 bytes whatever cfg->size claims. */
static uint32_t space_size(const struct uvfio_pci_cfg *cfg)
{
	return cfg->size > UVFIO_PCIE_CFG_SIZE ? 0 : cfg->size;
}

static bool in_space(const struct uvfio_pci_cfg *cfg, uint32_t off, size_t n)
{
	uint32_t size = space_size(cfg);

	return off <= size && n <= size - off;
}

static uint32_t get_le(const uint8_t *a, uint32_t off, unsigned int n)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v |= (uint32_t)a[off + i] << (8 * i);
	return v;
}

static void set_le(uint8_t *a, uint32_t off, uint32_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		a[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_n(const struct uvfio_pci_cfg *cfg, uint32_t off,
		      unsigned int n)
{
	if (!cfg || !in_space(cfg, off, n))
		return 0;
	return get_le(cfg->data, off, n);
}

static void set_n(struct uvfio_pci_cfg *cfg, uint32_t off, uint32_t v,
		  unsigned int n)
{
	if (cfg && in_space(cfg, off, n))
		set_le(cfg->data, off, v, n);
}

uint8_t uvfio_pci_get8(const struct uvfio_pci_cfg *cfg, uint32_t off)
{
	return (uint8_t)get_n(cfg, off, 1);
}

uint16_t uvfio_pci_get16(const struct uvfio_pci_cfg *cfg, uint32_t off)
{
	return (uint16_t)get_n(cfg, off, 2);
}

uint32_t uvfio_pci_get32(const struct uvfio_pci_cfg *cfg, uint32_t off)
{
	return get_n(cfg, off, 4);
}

void uvfio_pci_set8(struct uvfio_pci_cfg *cfg, uint32_t off, uint8_t v)
{
	set_n(cfg, off, v, 1);
}

void uvfio_pci_set16(struct uvfio_pci_cfg *cfg, uint32_t off, uint16_t v)
{
	set_n(cfg, off, v, 2);
}

void uvfio_pci_set32(struct uvfio_pci_cfg *cfg, uint32_t off, uint32_t v)
{
	set_n(cfg, off, v, 4);
}

void uvfio_pci_mask(struct uvfio_pci_cfg *cfg, uint32_t off, uint32_t wmask,
		    uint32_t w1c, unsigned int n)
{
	if (!in_space(cfg, off, n))
		return;
	set_le(cfg->wmask, off, wmask, n);
	set_le(cfg->w1cmask, off, w1c, n);
}

static bool access_ok(const struct uvfio_pci_cfg *cfg, uint32_t off,
		      const void *buf, size_t len)
{
	return cfg && buf && len && in_space(cfg, off, len);
}

int uvfio_pci_cfg_read(const struct uvfio_pci_cfg *cfg, uint32_t off, void *buf,
		       size_t len)
{
	if (!access_ok(cfg, off, buf, len))
		return -EINVAL;
	memcpy(buf, cfg->data + off, len);
	return 0;
}

int uvfio_pci_cfg_write(struct uvfio_pci_cfg *cfg, uint32_t off,
			const void *buf, size_t len)
{
	const uint8_t *src = buf;
	struct uvfio_pci_fixup fx;
	size_t i;

	if (!access_ok(cfg, off, buf, len))
		return -EINVAL;
	uvfio_pci_fixup_begin(cfg, off, len, &fx);
	for (i = 0; i < len; i++) {
		uint8_t *d = &cfg->data[off + i];
		uint8_t wm = cfg->wmask[off + i];
		uint8_t v = src[i];

		*d = (uint8_t)((*d & ~wm) | (v & wm));
		*d &= (uint8_t) ~(v & cfg->w1cmask[off + i]);
	}
	uvfio_pci_fixup_end(cfg, &fx);
	return 0;
}

/*
 * A loaded space is a read-only snapshot for decoding: no masks, no BAR
 * descriptions, and the allocators report it full.
 */
void uvfio_pci_load(struct uvfio_pci_cfg *cfg, const void *bytes, uint32_t size)
{
	uint32_t n = size > UVFIO_PCIE_CFG_SIZE ? UVFIO_PCIE_CFG_SIZE : size;

	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	if (bytes)
		memcpy(cfg->data, bytes, n);
	cfg->size = size > UVFIO_PCI_CFG_SIZE ? UVFIO_PCIE_CFG_SIZE :
						UVFIO_PCI_CFG_SIZE;
}

struct uvfio_pci_cfg *uvfio_pci_cfg_new(void)
{
	return calloc(1, sizeof(struct uvfio_pci_cfg));
}

void uvfio_pci_cfg_free(struct uvfio_pci_cfg *cfg)
{
	free(cfg);
}

uint32_t uvfio_pci_cfg_size(const struct uvfio_pci_cfg *cfg)
{
	return cfg ? cfg->size : 0;
}
