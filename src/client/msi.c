// SPDX-License-Identifier: MIT
/*
 * MSI emulation: the capability registers are a shadow; enabling routes
 * 2^MME vectors whose data differ in their low bits, as the function
 * would generate them, and per-vector mask bits mask their routes.
 */
#include "irqemu.h"
#include "priv.h"

#include <errno.h>
#include <string.h>

static uint16_t msi_flags(const struct cl_msi *m)
{
	return cl_le16(m->cap + PCI_MSI_FLAGS);
}

static uint32_t mask_bits(const struct cl_msi *m)
{
	return m->lay.mask ? cl_le32(m->cap + m->lay.mask) : 0;
}

/* The message vector i of n sends. */
static void vec_msg(const struct cl_msi *m, uint32_t n, uint32_t i,
		    struct uvfio_msi_msg *msg)
{
	msg->address = cl_le32(m->cap + PCI_MSI_ADDRESS_LO);
	if (m->lay.is64)
		msg->address |= (uint64_t)cl_le32(m->cap + PCI_MSI_ADDRESS_HI)
				<< 32;
	msg->data = cl_msi_vec_data(cl_le16(m->cap + m->lay.data), n, i);
}

int cl_msi_init(struct cl_irqemu *e, const struct uvfio_pci_cfg *cfg)
{
	struct cl_msi *m = &e->msi;
	struct vfio_irq_info info;
	uint8_t pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSI);
	uint16_t flags;
	int r;

	if (!pos)
		return 0;
	flags = uvfio_pci_get16(cfg, pos + PCI_MSI_FLAGS);
	r = cl_msi_decode(flags, &m->lay);
	if (r < 0)
		return r;
	if (pos + m->lay.len > UVFIO_PCI_CFG_SIZE)
		return -EPROTO;
	r = uvfio_client_irq_info(e->c, VFIO_PCI_MSI_IRQ_INDEX, &info);
	m->nirq = r < 0 ? 0 : info.count;
	/* Claim no more vectors than the device takes (a power of two). */
	while (m->lay.mmc > 1 && m->lay.mmc > m->nirq)
		m->lay.mmc >>= 1;
	memset(m->cap, 0, sizeof(m->cap));
	memcpy(m->cap, cfg->data + pos, m->lay.len);
	flags &= (uint16_t) ~(PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE |
			      PCI_MSI_FLAGS_QMASK);
	flags |= (uint16_t)(__builtin_ctz(m->lay.mmc) << 1);
	m->cap[PCI_MSI_FLAGS] = (uint8_t)flags;
	m->cap[PCI_MSI_FLAGS + 1] = (uint8_t)(flags >> 8);
	/* Mask and pending bits are ours; out of reset they are clear. */
	if (m->lay.mask)
		memset(m->cap + m->lay.mask, 0, 8);
	cl_msi_wmask(&m->lay, m->wmask);
	for (uint32_t i = 0; i < CL_MSI_MAX_VEC; i++) {
		m->vec[i].efd = -1;
		m->vec[i].route = -1;
	}
	m->pos = pos;
	return 0;
}

static bool want(void *ctx, uint32_t i, struct uvfio_msi_msg *msg, bool *masked)
{
	struct cl_msi *m = ctx;
	uint32_t n = cl_msi_nvec(msi_flags(m), m->lay.mmc);

	vec_msg(m, n, i, msg);
	*masked = mask_bits(m) >> i & 1;
	return true;
}

static int enable(struct cl_irqemu *e)
{
	struct cl_msi *m = &e->msi;
	uint32_t n = cl_msi_nvec(msi_flags(m), m->lay.mmc);
	int r;

	if (!m->nirq)
		return -ENODEV;
	if (e->msix.on)
		return -EBUSY;
	r = cl_intx_suspend(e);
	if (r < 0)
		return r;
	r = cl_vecs_up(e, VFIO_PCI_MSI_IRQ_INDEX, m->vec, n, want, m);
	if (r < 0) {
		cl_intx_resume(e);
		return r;
	}
	m->on = n;
	return 0;
}

static int disable(struct cl_irqemu *e)
{
	struct cl_msi *m = &e->msi;
	int r = cl_irq_disable_index(e, VFIO_PCI_MSI_IRQ_INDEX);

	if (r < 0)
		return r;
	cl_vecs_down(e, m->vec, m->on, NULL, NULL);
	m->on = 0;
	return cl_intx_resume(e);
}

/* New address or data: every vector's route, one commit. */
static int update(struct cl_irqemu *e)
{
	struct cl_msi *m = &e->msi;
	struct uvfio_msi_msg msg;
	uint32_t i;
	int r = 0;

	for (i = 0; i < m->on && !r; i++) {
		vec_msg(m, m->on, i, &msg);
		r = uvfio_irq_route_update(e->r, m->vec[i].route, &msg);
	}
	if (!r)
		r = uvfio_irq_router_commit(e->r);
	if (r < 0) {
		/* Stage again what is live. */
		while (i--)
			uvfio_irq_route_update(e->r, m->vec[i].route,
					       &m->vec[i].msg);
		return r;
	}
	for (i = 0; i < m->on; i++)
		vec_msg(m, m->on, i, &m->vec[i].msg);
	return 0;
}

static int masks(struct cl_irqemu *e, uint32_t old)
{
	struct cl_msi *m = &e->msi;
	uint32_t now = mask_bits(m), i;
	int r = 0;

	for (i = 0; i < m->on && !r; i++)
		r = cl_vec_mask(e, &m->vec[i], now >> i & 1);
	if (r < 0)
		while (i--)
			cl_vec_mask(e, &m->vec[i], old >> i & 1);
	return r;
}

static bool msg_changed(const struct cl_msi *m, const uint8_t *old)
{
	uint8_t end = (uint8_t)(m->lay.data + 2);

	return memcmp(old + PCI_MSI_ADDRESS_LO, m->cap + PCI_MSI_ADDRESS_LO,
		      end - PCI_MSI_ADDRESS_LO) != 0;
}

static int apply(struct cl_irqemu *e, const uint8_t *old)
{
	struct cl_msi *m = &e->msi;
	bool now = msi_flags(m) & PCI_MSI_FLAGS_ENABLE;
	uint32_t oldmask = m->lay.mask ? cl_le32(old + m->lay.mask) : 0;
	bool moved = msg_changed(m, old);
	uint8_t cur[CL_MSI_CAP_MAX];
	int r;

	if (now && !m->on)
		return enable(e);
	if (!now && m->on)
		return disable(e);
	if (!m->on)
		return 0;
	if (moved) {
		r = update(e);
		if (r < 0)
			return r;
	}
	if (oldmask == mask_bits(m))
		return 0;
	r = masks(e, oldmask);
	if (r < 0 && moved) {
		/* Route the old message again, as the shadow will say. */
		memcpy(cur, m->cap, sizeof(cur));
		memcpy(m->cap, old, sizeof(cur));
		update(e);
		memcpy(m->cap, cur, sizeof(cur));
	}
	return r;
}

int cl_msi_write(struct cl_irqemu *e, uint32_t off, const uint8_t *buf,
		 size_t len)
{
	struct cl_msi *m = &e->msi;
	uint8_t old[CL_MSI_CAP_MAX];
	uint64_t from, n;
	int r;

	if (!m->pos || !cl_overlap(off, len, m->pos, m->lay.len, &from, &n))
		return 0;
	memcpy(old, m->cap, sizeof(old));
	cl_merge(m->cap + (from - m->pos), buf + (from - off),
		 m->wmask + (from - m->pos), n);
	r = apply(e, old);
	if (r < 0) {
		memcpy(m->cap, old, sizeof(old));
		/* A disable that went through but could not bring INTx back. */
		if (!m->on)
			m->cap[PCI_MSI_FLAGS] &= (uint8_t)~PCI_MSI_FLAGS_ENABLE;
	}
	return r;
}

void cl_msi_read(struct cl_irqemu *e, uint32_t off, uint8_t *buf, size_t len)
{
	struct cl_msi *m = &e->msi;
	uint8_t cap[CL_MSI_CAP_MAX];
	uint64_t from, n;

	if (!m->pos || !cl_overlap(off, len, m->pos, m->lay.len, &from, &n))
		return;
	memcpy(cap, m->cap, sizeof(cap));
	if (m->lay.pending) {
		uint32_t p = 0;

		for (uint32_t i = 0; i < m->on; i++)
			if (cl_vec_pending(e, &m->vec[i]) > 0)
				p |= 1u << i;
		for (unsigned int i = 0; i < 4; i++)
			cap[m->lay.pending + i] = (uint8_t)(p >> (8 * i));
	}
	memcpy(buf + (from - off), cap + (from - m->pos), n);
}

void cl_msi_fini(struct cl_irqemu *e)
{
	struct cl_msi *m = &e->msi;

	if (m->on) {
		cl_irq_disable_index(e, VFIO_PCI_MSI_IRQ_INDEX);
		cl_vecs_down(e, m->vec, m->on, NULL, NULL);
		m->on = 0;
	}
	m->pos = 0;
}

int uvfio_client_msi_vector(struct uvfio_client *c, uint32_t v,
			    struct uvfio_client_vector *out)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	struct uvfio_msi_msg msg;
	struct cl_msi *m;
	uint32_t n;

	if (!e || !out)
		return -EINVAL;
	m = &e->msi;
	pthread_mutex_lock(&e->lock);
	n = m->on ? m->on : cl_msi_nvec(msi_flags(m), m->lay.mmc);
	if (!m->pos || v >= m->lay.mmc) {
		pthread_mutex_unlock(&e->lock);
		return m->pos ? -EINVAL : -ENODEV;
	}
	vec_msg(m, n, v, &msg);
	out->address = msg.address;
	out->data = msg.data;
	out->enabled = v < m->on;
	out->masked = mask_bits(m) >> v & 1;
	out->pending = v < m->on && cl_vec_pending(e, &m->vec[v]) > 0;
	out->route = m->vec[v].route;
	pthread_mutex_unlock(&e->lock);
	return 0;
}
