// SPDX-License-Identifier: MIT
/*
 * Guest accesses the interrupt emulation stands between: config space
 * (MSI and MSI-X capabilities) and BARs (MSI-X table and PBA).  Offsets
 * come from the guest and are bounds-checked here; the capability layout
 * comes from the device and was checked at attach.
 */
#include "irqemu.h"
#include "priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CFG VFIO_PCI_CONFIG_REGION_INDEX

enum piece { DEV, TABLE, PBA };

/* The device's config space and BAR sizes, read once. */
static int probe(struct cl_irqemu *e, struct uvfio_pci_cfg *cfg)
{
	uint8_t raw[UVFIO_PCI_CFG_SIZE];
	const struct uvfio_region *reg;
	int r;

	r = uvfio_client_region_info(e->c, CFG, &reg);
	if (r < 0)
		return r;
	if (reg->size < UVFIO_PCI_CFG_SIZE)
		return -EPROTO;
	e->cfg_size = reg->size > UVFIO_PCIE_CFG_SIZE ? UVFIO_PCIE_CFG_SIZE :
							(uint32_t)reg->size;
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++)
		if (!uvfio_client_region_info(e->c, i, &reg))
			e->bar_size[i] = reg->size;
	/* Standard capabilities live in the first 256 bytes. */
	r = uvfio_client_region_read(e->c, CFG, 0, raw, sizeof(raw));
	if (r < 0)
		return r;
	uvfio_pci_load(cfg, raw, sizeof(raw));
	return 0;
}

static void destroy(struct cl_irqemu *e)
{
	pthread_mutex_lock(&e->lock);
	cl_msix_fini(e);
	cl_msi_fini(e);
	cl_intx_fini(e);
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

int uvfio_client_irq_attach(struct uvfio_client *c, struct uvfio_irq_router *r)
{
	struct uvfio_pci_cfg *cfg;
	struct cl_irqemu *e;
	int ret;

	if (!c || !r)
		return -EINVAL;
	if (c->irq)
		return -EBUSY;
	e = calloc(1, sizeof(*e));
	cfg = calloc(1, sizeof(*cfg));
	if (!e || !cfg) {
		free(e);
		free(cfg);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->c = c;
	e->r = r;
	e->intx.route = -1;
	e->intx.efd = -1;
	e->intx.resample = -1;
	ret = probe(e, cfg);
	if (!ret)
		ret = cl_msi_init(e, cfg);
	if (!ret)
		ret = cl_msix_init(e, cfg);
	free(cfg);
	if (ret < 0) {
		destroy(e);
		return ret;
	}
	c->irq = e;
	return 0;
}

void uvfio_client_irq_detach(struct uvfio_client *c)
{
	if (!c || !c->irq)
		return;
	destroy(c->irq);
	c->irq = NULL;
}

/* off + len inside [0, size), without wrapping. */
static bool in_bounds(uint64_t off, size_t len, uint64_t size)
{
	return len <= size && off <= size - len;
}

static bool inside(uint32_t off, size_t len, uint8_t pos, uint32_t caplen)
{
	return pos && off >= pos && off + len <= (uint32_t)pos + caplen;
}

int uvfio_client_cfg_read(struct uvfio_client *c, uint32_t off, void *buf,
			  size_t len)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	int r = 0;

	if (!e)
		return c ? uvfio_client_region_read(c, CFG, off, buf, len) :
			   -EINVAL;
	if (!len)
		return 0;
	if (!buf || !in_bounds(off, len, e->cfg_size))
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	/* Wholly emulated reads need no round trip. */
	if (!inside(off, len, e->msi.pos, e->msi.lay.len) &&
	    !inside(off, len, e->msix.pos, PCI_CAP_MSIX_SIZEOF))
		r = uvfio_client_region_read(c, CFG, off, buf, len);
	if (!r) {
		cl_msi_read(e, off, buf, len);
		cl_msix_cap_read(e, off, buf, len);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

/*
 * Emulated first: a write the emulation refuses never reaches the
 * device.  Then forwarded whole, so the device model sees the enable
 * bits too.
 */
int uvfio_client_cfg_write(struct uvfio_client *c, uint32_t off,
			   const void *buf, size_t len)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	int r;

	if (!e)
		return c ? uvfio_client_region_write(c, CFG, off, buf, len, 0) :
			   -EINVAL;
	if (!len)
		return 0;
	if (!buf || !in_bounds(off, len, e->cfg_size))
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	r = cl_cfg_write_locked(e, off, buf, len);
	pthread_mutex_unlock(&e->lock);
	return r;
}

int cl_cfg_write_locked(struct cl_irqemu *e, uint32_t off, const void *buf,
			size_t len)
{
	int r = cl_msi_write(e, off, buf, len);

	if (!r)
		r = cl_msix_cap_write(e, off, buf, len);
	if (!r)
		r = uvfio_client_region_write(e->c, CFG, off, buf, len, 0);
	return r;
}

/* The piece of [off, off + len) of bar that starts at off. */
static enum piece next_piece(const struct cl_irqemu *e, unsigned int bar,
			     uint64_t off, uint64_t len, uint64_t *n)
{
	const struct cl_msix_geom *g = &e->msix.g;
	uint64_t from, cnt;

	*n = len;
	if (!e->msix.pos)
		return DEV;
	if (g->table_bar == bar &&
	    cl_overlap(off, len, g->table_off, g->table_len, &from, &cnt)) {
		if (from == off) {
			*n = cnt;
			return TABLE;
		}
		*n = from - off;
	}
	if (g->pba_bar == bar &&
	    cl_overlap(off, *n, g->pba_off, g->pba_len, &from, &cnt)) {
		if (from == off) {
			*n = cnt;
			return PBA;
		}
		*n = from - off;
	}
	return DEV;
}

/* One of rbuf (a read) and wbuf (a write) is given. */
static int bar_access(struct uvfio_client *c, unsigned int bar, uint64_t off,
		      uint8_t *rbuf, const uint8_t *wbuf, size_t len)
{
	bool write = wbuf != NULL;
	struct cl_irqemu *e = c->irq;
	const struct cl_msix_geom *g = &e->msix.g;
	uint64_t n;
	int r = 0;

	while (len && !r) {
		enum piece p = next_piece(e, bar, off, len, &n);

		if (p == DEV) {
			r = write ? uvfio_client_region_write(c, bar, off, wbuf,
							      n, 0) :
				    uvfio_client_region_read(c, bar, off, rbuf,
							     n);
		} else {
			pthread_mutex_lock(&e->lock);
			if (p == TABLE && write)
				r = cl_msix_table_write(e, off - g->table_off,
							wbuf, n);
			else if (p == TABLE)
				cl_msix_table_read(e, off - g->table_off, rbuf,
						   n);
			else if (!write) /* the PBA is read-only */
				cl_msix_pba_read(e, off - g->pba_off, rbuf, n);
			pthread_mutex_unlock(&e->lock);
		}
		off += n;
		len -= n;
		if (write)
			wbuf += n;
		else
			rbuf += n;
	}
	return r;
}

int uvfio_client_bar_read(struct uvfio_client *c, unsigned int bar,
			  uint64_t off, void *buf, size_t len)
{
	if (!c || bar >= UVFIO_PCI_NUM_BARS || (len && !buf))
		return -EINVAL;
	if (!c->irq)
		return uvfio_client_region_read(c, bar, off, buf, len);
	if (!in_bounds(off, len, c->irq->bar_size[bar]))
		return -EINVAL;
	return bar_access(c, bar, off, buf, NULL, len);
}

int uvfio_client_bar_write(struct uvfio_client *c, unsigned int bar,
			   uint64_t off, const void *buf, size_t len)
{
	if (!c || bar >= UVFIO_PCI_NUM_BARS || (len && !buf))
		return -EINVAL;
	if (!c->irq)
		return uvfio_client_region_write(c, bar, off, buf, len, 0);
	if (!in_bounds(off, len, c->irq->bar_size[bar]))
		return -EINVAL;
	return bar_access(c, bar, off, NULL, buf, len);
}
