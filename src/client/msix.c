// SPDX-License-Identifier: MIT
/*
 * MSI-X emulation: the capability's Message Control (enable, function
 * mask), the shadow vector table and the PBA.  While MSI-X is off the
 * table is only a shadow; enabling routes every vector that has an
 * address in one commit and hands the device all eventfds at once.
 */
#include "irqemu.h"
#include "priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENTRY PCI_MSIX_ENTRY_SIZE

static uint16_t msix_flags(const struct cl_msix *m)
{
	return cl_le16(m->cap + PCI_MSIX_FLAGS);
}

static bool maskall(const struct cl_msix *m)
{
	return msix_flags(m) & PCI_MSIX_FLAGS_MASKALL;
}

static bool pba_test(const struct cl_msix *m, uint32_t v)
{
	return m->pba[v / 64] >> (v % 64) & 1;
}

static void pba_set(struct cl_msix *m, uint32_t v, bool on)
{
	uint64_t bit = 1ull << (v % 64);

	m->pba[v / 64] = on ? m->pba[v / 64] | bit : m->pba[v / 64] & ~bit;
}

int cl_msix_init(struct cl_irqemu *e, const struct uvfio_pci_cfg *cfg)
{
	struct cl_msix *m = &e->msix;
	struct vfio_irq_info info;
	uint8_t pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX);
	int r;

	if (!pos)
		return 0;
	if (pos + PCI_CAP_MSIX_SIZEOF > UVFIO_PCI_CFG_SIZE)
		return -EPROTO;
	memcpy(m->cap, cfg->data + pos, PCI_CAP_MSIX_SIZEOF);
	/* The client owns enable and the function mask: both start off. */
	m->cap[PCI_MSIX_FLAGS + 1] &= (uint8_t) ~(
		(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	r = cl_msix_decode(m->cap, &m->g);
	if (!r)
		r = cl_msix_check(&m->g, e->bar_size);
	if (r < 0)
		return r;
	r = uvfio_client_irq_info(e->c, VFIO_PCI_MSIX_IRQ_INDEX, &info);
	m->nirq = r < 0 ? 0 : info.count < m->g.nvec ? info.count : m->g.nvec;
	m->table = calloc(m->g.nvec, ENTRY);
	m->pba = calloc((m->g.nvec + 63) / 64, sizeof(*m->pba));
	m->vec = calloc(m->g.nvec, sizeof(*m->vec));
	if (!m->table || !m->pba || !m->vec) {
		cl_msix_fini(e);
		return -ENOMEM;
	}
	/* Entries come out of reset masked. */
	for (uint32_t v = 0; v < m->g.nvec; v++) {
		m->table[v * ENTRY + PCI_MSIX_ENTRY_VECTOR_CTRL] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;
		m->vec[v].efd = -1;
		m->vec[v].route = -1;
	}
	m->pos = pos;
	return 0;
}

static bool want(void *ctx, uint32_t v, struct uvfio_msi_msg *msg, bool *masked)
{
	struct cl_msix *m = ctx;

	cl_msix_entry(m->table, v, msg, masked);
	*masked = *masked || maskall(m);
	return msg->address != 0;
}

static void pend(void *ctx, uint32_t v)
{
	pba_set(ctx, v, true);
}

/* A pending bit kept while off reaches the router as an interrupt. */
static void replay_pending(struct cl_msix *m)
{
	static const uint64_t one = 1;

	for (uint32_t v = 0; v < m->nirq; v++) {
		if (!pba_test(m, v) || m->vec[v].route < 0)
			continue;
		if (write(m->vec[v].efd, &one, sizeof(one)) == sizeof(one))
			pba_set(m, v, false);
	}
}

static int enable(struct cl_irqemu *e)
{
	struct cl_msix *m = &e->msix;
	int r;

	if (!m->nirq)
		return -ENODEV;
	if (e->msi.on)
		return -EBUSY;
	r = cl_intx_suspend(e);
	if (r < 0)
		return r;
	r = cl_vecs_up(e, VFIO_PCI_MSIX_IRQ_INDEX, m->vec, m->nirq, want, m);
	if (r < 0) {
		cl_intx_resume(e);
		return r;
	}
	replay_pending(m);
	m->on = true;
	return 0;
}

static int disable(struct cl_irqemu *e)
{
	struct cl_msix *m = &e->msix;
	int r = cl_irq_disable_index(e, VFIO_PCI_MSIX_IRQ_INDEX);

	if (r < 0)
		return r;
	cl_vecs_down(e, m->vec, m->nirq, pend, m);
	m->on = false;
	return cl_intx_resume(e);
}

/* Effective mask = function mask || vector mask; undone on failure. */
static int apply_masks(struct cl_irqemu *e, bool all)
{
	struct cl_msix *m = &e->msix;
	struct uvfio_msi_msg msg;
	uint32_t v;
	bool vm;
	int r = 0;

	for (v = 0; v < m->nirq && !r; v++) {
		cl_msix_entry(m->table, v, &msg, &vm);
		/* Unrouted and unmasked: what it holds goes nowhere. */
		if (m->vec[v].route < 0 && !vm)
			cl_vec_drain(&m->vec[v]);
		r = cl_vec_mask(e, &m->vec[v], all || vm);
	}
	if (!r)
		return 0;
	while (v--) {
		cl_msix_entry(m->table, v, &msg, &vm);
		cl_vec_mask(e, &m->vec[v], !all || vm);
	}
	return r;
}

static int cap_apply(struct cl_irqemu *e, uint16_t old)
{
	struct cl_msix *m = &e->msix;
	uint16_t now = msix_flags(m);

	if ((now & PCI_MSIX_FLAGS_ENABLE) && !m->on)
		return enable(e);
	if (!(now & PCI_MSIX_FLAGS_ENABLE) && m->on)
		return disable(e);
	if (m->on && ((now ^ old) & PCI_MSIX_FLAGS_MASKALL))
		return apply_masks(e, now & PCI_MSIX_FLAGS_MASKALL);
	return 0;
}

int cl_msix_cap_write(struct cl_irqemu *e, uint32_t off, const uint8_t *buf,
		      size_t len)
{
	static const uint8_t wmask[PCI_CAP_MSIX_SIZEOF] = {
		[PCI_MSIX_FLAGS + 1] =
			(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8,
	};
	struct cl_msix *m = &e->msix;
	uint8_t old[PCI_CAP_MSIX_SIZEOF];
	uint64_t from, n;
	int r;

	if (!m->pos ||
	    !cl_overlap(off, len, m->pos, PCI_CAP_MSIX_SIZEOF, &from, &n))
		return 0;
	memcpy(old, m->cap, sizeof(old));
	cl_merge(m->cap + (from - m->pos), buf + (from - off),
		 wmask + (from - m->pos), n);
	r = cap_apply(e, cl_le16(old + PCI_MSIX_FLAGS));
	if (r < 0) {
		memcpy(m->cap, old, sizeof(old));
		/* A disable that went through but could not bring INTx back. */
		if (!m->on)
			m->cap[PCI_MSIX_FLAGS + 1] &=
				(uint8_t) ~(PCI_MSIX_FLAGS_ENABLE >> 8);
	}
	return r;
}

void cl_msix_cap_read(struct cl_irqemu *e, uint32_t off, uint8_t *buf,
		      size_t len)
{
	struct cl_msix *m = &e->msix;
	uint64_t from, n;

	if (m->pos &&
	    cl_overlap(off, len, m->pos, PCI_CAP_MSIX_SIZEOF, &from, &n))
		memcpy(buf + (from - off), m->cap + (from - m->pos), n);
}

/*
 * A live entry changed.  An unrouted vector's eventfd holds what the
 * device sent it: pending while it is masked, dropped once it is
 * unmasked (a message to address 0 goes nowhere).  Masking comes before
 * a new message and unmasking after it, so the guest never sees an
 * interrupt with a message it has not finished writing.
 */
static int entry_apply(struct cl_irqemu *e, uint32_t v, bool was_masked)
{
	struct cl_msix *m = &e->msix;
	struct cl_vec *vec = &m->vec[v];
	struct uvfio_msi_msg msg, prev = vec->msg;
	bool masked, was = vec->rmasked;
	int r;

	if (!m->on || v >= m->nirq)
		return 0;
	cl_msix_entry(m->table, v, &msg, &masked);
	masked = masked || maskall(m);
	if (vec->route < 0) {
		if (!was_masked || (!masked && !msg.address))
			cl_vec_drain(vec);
		return msg.address ? cl_vec_add(e, vec, &msg, masked) : 0;
	}
	if (masked) {
		r = cl_vec_mask(e, vec, true);
		if (!r) {
			r = cl_vec_update(e, vec, &msg);
			if (r < 0)
				cl_vec_mask(e, vec, was);
		}
	} else {
		r = cl_vec_update(e, vec, &msg);
		if (!r) {
			r = cl_vec_mask(e, vec, false);
			if (r < 0)
				cl_vec_update(e, vec, &prev);
		}
	}
	return r;
}

/* off and len lie within the table (the caller clips). */
int cl_msix_table_write(struct cl_irqemu *e, uint64_t off, const uint8_t *buf,
			size_t len)
{
	struct cl_msix *m = &e->msix;
	uint8_t wmask[ENTRY], old[ENTRY];
	uint64_t end = off + len;

	cl_msix_wmask_entry(wmask);
	for (uint64_t pos = off; pos < end;) {
		uint32_t v = (uint32_t)(pos / ENTRY);
		uint64_t in = pos % ENTRY;
		uint64_t n = ENTRY - in < end - pos ? ENTRY - in : end - pos;
		uint8_t *ent = m->table + (uint64_t)v * ENTRY;
		int r;

		memcpy(old, ent, ENTRY);
		cl_merge(ent + in, buf + (pos - off), wmask + in, n);
		r = entry_apply(e, v,
				maskall(m) || (old[PCI_MSIX_ENTRY_VECTOR_CTRL] &
					       PCI_MSIX_ENTRY_CTRL_MASKBIT));
		if (r < 0) {
			memcpy(ent, old, ENTRY);
			return r;
		}
		pos += n;
	}
	return 0;
}

void cl_msix_table_read(struct cl_irqemu *e, uint64_t off, uint8_t *buf,
			size_t len)
{
	memcpy(buf, e->msix.table + off, len);
}

static bool vec_pending(struct cl_irqemu *e, uint32_t v)
{
	struct cl_msix *m = &e->msix;

	struct uvfio_msi_msg msg;
	bool masked;

	if (!m->on || v >= m->nirq)
		return pba_test(m, v);
	if (m->vec[v].route >= 0)
		return cl_vec_pending(e, &m->vec[v]) > 0;
	cl_msix_entry(m->table, v, &msg, &masked);
	return (masked || maskall(m)) && cl_vec_fired(&m->vec[v]);
}

void cl_msix_pba_read(struct cl_irqemu *e, uint64_t off, uint8_t *buf,
		      size_t len)
{
	struct cl_msix *m = &e->msix;

	for (size_t i = 0; i < len; i++) {
		uint64_t first = (off + i) * 8;
		uint8_t b = 0;

		for (unsigned int bit = 0; bit < 8; bit++)
			if (first + bit < m->g.nvec &&
			    vec_pending(e, (uint32_t)(first + bit)))
				b |= (uint8_t)(1u << bit);
		buf[i] = b;
	}
}

void cl_msix_fini(struct cl_irqemu *e)
{
	struct cl_msix *m = &e->msix;

	if (m->on) {
		cl_irq_disable_index(e, VFIO_PCI_MSIX_IRQ_INDEX);
		cl_vecs_down(e, m->vec, m->nirq, NULL, NULL);
		m->on = false;
	}
	free(m->table);
	free(m->pba);
	free(m->vec);
	m->table = NULL;
	m->pba = NULL;
	m->vec = NULL;
	m->pos = 0;
}

int uvfio_client_msix_vector(struct uvfio_client *c, uint32_t v,
			     struct uvfio_client_vector *out)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	struct uvfio_msi_msg msg;
	bool masked;

	if (!e || !out)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	if (!e->msix.pos || v >= e->msix.g.nvec) {
		pthread_mutex_unlock(&e->lock);
		return e->msix.pos ? -EINVAL : -ENODEV;
	}
	cl_msix_entry(e->msix.table, v, &msg, &masked);
	out->address = msg.address;
	out->data = msg.data;
	out->enabled = e->msix.on;
	out->masked = masked || maskall(&e->msix);
	out->pending = vec_pending(e, v);
	out->route = e->msix.vec[v].route;
	pthread_mutex_unlock(&e->lock);
	return 0;
}
