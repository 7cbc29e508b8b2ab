// SPDX-License-Identifier: MIT
/*
 * The interrupt emulation's guest-visible state, for migration: the MSI
 * and MSI-X capability registers, the MSI-X table and the pending bits
 * (MSI's Pending Bits, the PBA).  Routes are not saved: they follow from
 * that state, and loading it on the destination replays it as the guest
 * would have written it (table, then the enable), which makes the routes
 * on the destination's router and turns each pending bit of a masked
 * vector into a pending interrupt there.  INTx is the VMM's wiring and
 * the device's level, not ours.
 *
 * Layout, little endian: a 16-byte header (magic, version, MSI
 * capability offset and length, MSI-X capability offset, MSI-X table
 * size), then the MSI capability's bytes, then MSI-X's 12 capability
 * bytes, its table and its PBA (64-bit words).
 */
#include "irqemu.h"
#include "priv.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define MAGIC 0x51495655u /* "UVIQ" */
#define VERSION 1u
#define HDR 16u
#define ENTRY PCI_MSIX_ENTRY_SIZE

struct state_hdr {
	uint32_t magic;
	uint32_t version;
	uint8_t msi_pos;
	uint8_t msi_len;
	uint8_t msix_pos;
	uint8_t rsvd;
	uint32_t msix_nvec;
};

static size_t pba_bytes(uint32_t nvec)
{
	return (nvec + 63) / 64 * 8;
}

static size_t state_size(const struct cl_irqemu *e)
{
	size_t n = HDR + (e->msi.pos ? e->msi.lay.len : 0);

	if (e->msix.pos)
		n += PCI_CAP_MSIX_SIZEOF + (size_t)e->msix.g.nvec * ENTRY +
		     pba_bytes(e->msix.g.nvec);
	return n;
}

static void put_hdr(const struct cl_irqemu *e, uint8_t *p)
{
	struct state_hdr h = {
		.magic = MAGIC,
		.version = VERSION,
		.msi_pos = e->msi.pos,
		.msi_len = e->msi.pos ? e->msi.lay.len : 0,
		.msix_pos = e->msix.pos,
		.msix_nvec = e->msix.pos ? e->msix.g.nvec : 0,
	};

	memcpy(p, &h, HDR);
}

ssize_t uvfio_client_irq_save(struct uvfio_client *c, void *buf, size_t len)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	uint8_t *p = buf;
	size_t need;

	if (!e)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	need = state_size(e);
	if (!buf || len < need) {
		pthread_mutex_unlock(&e->lock);
		return buf ? -ENOSPC : (ssize_t)need;
	}
	/* Interrupts already written by the device count as pending. */
	uvfio_irq_router_flush(e->r);
	put_hdr(e, p);
	p += HDR;
	if (e->msi.pos) {
		cl_msi_read(e, e->msi.pos, p, e->msi.lay.len);
		p += e->msi.lay.len;
	}
	if (e->msix.pos) {
		cl_msix_cap_read(e, e->msix.pos, p, PCI_CAP_MSIX_SIZEOF);
		p += PCI_CAP_MSIX_SIZEOF;
		cl_msix_table_read(e, 0, p, (size_t)e->msix.g.nvec * ENTRY);
		p += (size_t)e->msix.g.nvec * ENTRY;
		cl_msix_pba_read(e, 0, p, pba_bytes(e->msix.g.nvec));
	}
	pthread_mutex_unlock(&e->lock);
	return (ssize_t)need;
}

/* MSI-X: the table, the pending bits (kept while off), then enable. */
static int load_msix(struct cl_irqemu *e, const uint8_t *p)
{
	struct cl_msix *m = &e->msix;
	const uint8_t *table = p + PCI_CAP_MSIX_SIZEOF;
	const uint8_t *pba = table + (size_t)m->g.nvec * ENTRY;
	int r;

	for (uint32_t v = 0; v < m->g.nvec; v++) {
		r = cl_msix_table_write(e, (uint64_t)v * ENTRY,
					table + (size_t)v * ENTRY, ENTRY);
		if (r < 0)
			return r;
	}
	for (uint32_t v = 0; v < m->g.nvec; v++) {
		uint64_t bit = 1ull << (v % 64);

		if (pba[v / 8] >> (v % 8) & 1)
			m->pba[v / 64] |= bit;
		else
			m->pba[v / 64] &= ~bit;
	}
	/* Enable and the function mask; enabling replays pending bits. */
	return cl_cfg_write_locked(e, m->pos + PCI_MSIX_FLAGS,
				   p + PCI_MSIX_FLAGS, 2);
}

/* MSI: address, data and masks, then the enable, then pending bits. */
static int load_msi(struct cl_irqemu *e, const uint8_t *cap)
{
	struct cl_msi *m = &e->msi;
	static const uint64_t one = 1;
	uint32_t pend = 0, mask = 0;
	uint8_t after = PCI_MSI_FLAGS + 2;
	int r;

	r = cl_cfg_write_locked(e, m->pos + after, cap + after,
				m->lay.len - after);
	if (!r)
		r = cl_cfg_write_locked(e, m->pos + PCI_MSI_FLAGS,
					cap + PCI_MSI_FLAGS, 2);
	if (r < 0 || !m->lay.pending)
		return r;
	memcpy(&pend, cap + m->lay.pending, 4);
	memcpy(&mask, cap + m->lay.mask, 4);
	/* Pending while masked: an interrupt the router holds. */
	for (uint32_t i = 0; i < m->on; i++)
		if ((pend & mask) >> i & 1 && m->vec[i].route >= 0 &&
		    write(m->vec[i].efd, &one, sizeof(one)) != sizeof(one))
			return -errno;
	return 0;
}

static int check(const struct cl_irqemu *e, const uint8_t *p, size_t len)
{
	struct state_hdr h, want;

	if (len < HDR)
		return -EINVAL;
	memcpy(&h, p, HDR);
	put_hdr(e, (uint8_t *)&want);
	if (h.magic != MAGIC || h.version != VERSION)
		return -EINVAL;
	/* Another kind of device (or the same one, another layout). */
	if (h.msi_pos != want.msi_pos || h.msi_len != want.msi_len ||
	    h.msix_pos != want.msix_pos || h.msix_nvec != want.msix_nvec ||
	    h.rsvd || len != state_size(e))
		return -EINVAL;
	return 0;
}

int uvfio_client_irq_load(struct uvfio_client *c, const void *buf, size_t len)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	const uint8_t *p = buf;
	int r;

	if (!e || !buf)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	r = check(e, p, len);
	/* Onto the state of a fresh attach only. */
	if (!r && (e->msi.on || e->msix.on))
		r = -EBUSY;
	p += HDR;
	if (!r && e->msi.pos)
		r = load_msi(e, p);
	if (e->msi.pos)
		p += e->msi.lay.len;
	if (!r && e->msix.pos)
		r = load_msix(e, p);
	if (!r)
		r = uvfio_irq_router_flush(e->r);
	pthread_mutex_unlock(&e->lock);
	return r;
}
