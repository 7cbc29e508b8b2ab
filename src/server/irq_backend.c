// SPDX-License-Identifier: MIT
/*
 * What delivering a vector means: write its eventfd (the default), call
 * the device's function (emulated), or go through a slot of a
 * device-owned interrupt message store (IMS) that has its own mask and
 * pending bit.  Backends are per vector and tiny: deliver, and detach
 * when a vector leaves the backend.  Everything above (SET_IRQS, masks,
 * pending) is the frontend's and the same for all of them.
 */
#include <errno.h>
#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "irq.h"

#define MSIX_MAX (PCI_MSIX_FLAGS_QSIZE + 1u)

#define IMS_MASKED (1u << 0)
#define IMS_PENDING (1u << 1)

struct ims_slot {
	_Atomic uint32_t ctl; /* IMS_* */
	_Atomic uint64_t address;
	atomic_uint data;
	atomic_uint pasid;
	/* The vector it backs; vector is written before q is published. */
	struct irq_index *_Atomic q;
	atomic_uint vector;
};

struct uvfio_ims {
	pthread_mutex_t lock; /* binding and unbinding */
	uint32_t slots;
	struct ims_slot slot[];
};

struct vec_backend {
	int (*deliver)(struct irq_index *q, uint32_t vector, struct irq_vec *v);
	void (*detach)(struct irq_index *q, uint32_t vector, struct irq_vec *v);
};

static int signal_efd(struct irq_vec *v)
{
	uint64_t one = 1;
	int fd = atomic_load(&v->efd);

	if (fd < 0)
		return -ENOENT;
	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static int eventfd_deliver(struct irq_index *q, uint32_t vector,
			   struct irq_vec *v)
{
	return signal_efd(v);
}

static int emulated_deliver(struct irq_index *q, uint32_t vector,
			    struct irq_vec *v)
{
	v->be.emu.fn(q->dev, v->be.emu.priv, q->index, vector);
	return 0;
}

/* A masked slot keeps the interrupt; uvfio_ims_set_mask() delivers it. */
static int ims_deliver(struct irq_index *q, uint32_t vector, struct irq_vec *v)
{
	struct ims_slot *e = &v->be.ims.ims->slot[v->be.ims.slot];
	uint32_t c = atomic_load(&e->ctl);

	while (c & IMS_MASKED)
		if ((c & IMS_PENDING) ||
		    atomic_compare_exchange_weak(&e->ctl, &c, c | IMS_PENDING))
			return 0;
	return signal_efd(v);
}

static void ims_release(struct uvfio_ims *ims, uint32_t slot,
			struct irq_index *q, uint32_t vector)
{
	struct ims_slot *e = &ims->slot[slot];

	pthread_mutex_lock(&ims->lock);
	if (atomic_load(&e->q) == q && atomic_load(&e->vector) == vector)
		atomic_store(&e->q, NULL);
	pthread_mutex_unlock(&ims->lock);
}

static void ims_detach(struct irq_index *q, uint32_t vector, struct irq_vec *v)
{
	ims_release(v->be.ims.ims, v->be.ims.slot, q, vector);
}

static void no_detach(struct irq_index *q, uint32_t vector, struct irq_vec *v)
{
}

static const struct vec_backend backends[VK_NR] = {
	[VK_EVENTFD] = { eventfd_deliver, no_detach },
	[VK_EMULATED] = { emulated_deliver, no_detach },
	[VK_IMS] = { ims_deliver, ims_detach },
};

int vec_deliver(struct irq_index *q, uint32_t vector, struct irq_vec *v,
		uint32_t state)
{
	return backends[vec_kind(state)].deliver(q, vector, v);
}

static int ims_claim(struct uvfio_ims *ims, uint32_t slot, struct irq_index *q,
		     uint32_t vector)
{
	struct ims_slot *e = &ims->slot[slot];
	struct irq_index *owner;
	int r = 0;

	pthread_mutex_lock(&ims->lock);
	owner = atomic_load(&e->q);
	if (!owner) {
		atomic_store(&e->vector, vector);
		atomic_store(&e->q, q);
	} else if (owner != q || atomic_load(&e->vector) != vector) {
		r = -EBUSY;
	}
	pthread_mutex_unlock(&ims->lock);
	return r;
}

/*
 * Switches a vector's backend while the device may be raising it: raises
 * are held (VEC_HELD: they go pending) until no raiser is inside the old
 * backend, then the new one is installed and whatever became pending is
 * delivered through it.
 */
int vec_set_backend(struct irq_index *q, uint32_t vector, enum vec_kind k,
		    uvfio_irq_emulated_fn fn, void *priv, struct uvfio_ims *ims,
		    uint32_t slot)
{
	struct irq_vec *v = &q->vec[vector];
	enum vec_kind old;
	int r;

	if (k == VK_IMS) {
		r = ims_claim(ims, slot, q, vector);
		if (r)
			return r;
	}
	vec_block(q, vector, VEC_HELD);
	vec_quiesce(v);
	old = vec_kind(atomic_load(&v->state));
	if (old != k || k != VK_IMS || v->be.ims.ims != ims ||
	    v->be.ims.slot != slot)
		backends[old].detach(q, vector, v);
	if (k == VK_EMULATED) {
		v->be.emu.fn = fn;
		v->be.emu.priv = priv;
	} else if (k == VK_IMS) {
		v->be.ims.ims = ims;
		v->be.ims.slot = slot;
	}
	vec_update(q, vector, VEC_KIND, (uint32_t)k << VEC_KIND_SHIFT);
	vec_unblock(q, vector, VEC_HELD);
	return 0;
}

void ims_unbind_all(struct irq_index *q)
{
	for (uint32_t i = 0; i < q->count; i++)
		if (vec_kind(atomic_load(&q->vec[i].state)) == VK_IMS)
			ims_detach(q, i, &q->vec[i]);
}

int uvfio_dev_irq_set_emulated(struct uvfio_dev *dev, unsigned int index,
			       uint32_t vector, uvfio_irq_emulated_fn fn,
			       void *priv)
{
	struct irq_index *q = irq_find(dev, index, vector);

	/* MSI-X vectors past the capability exist only through IMS. */
	if (!q || (index == VFIO_PCI_MSIX_IRQ_INDEX && vector >= MSIX_MAX))
		return -EINVAL;
	return vec_set_backend(q, vector, fn ? VK_EMULATED : VK_EVENTFD, fn,
			       priv, NULL, 0);
}

int uvfio_dev_irq_set_ims(struct uvfio_dev *dev, unsigned int index,
			  uint32_t vector, struct uvfio_ims *ims, uint32_t slot)
{
	struct irq_index *q = irq_find(dev, index, vector);

	if (!q || index != VFIO_PCI_MSIX_IRQ_INDEX ||
	    (ims && slot >= ims->slots) || (!ims && vector >= MSIX_MAX))
		return -EINVAL;
	return vec_set_backend(q, vector, ims ? VK_IMS : VK_EVENTFD, NULL, NULL,
			       ims, slot);
}

int uvfio_dev_set_msix_ims(struct uvfio_dev *dev, uint32_t count,
			   struct uvfio_ims *ims, uint32_t first_slot)
{
	struct irq_index *q;
	int r;

	if (!dev || !ims || count <= MSIX_MAX || first_slot > ims->slots ||
	    count - MSIX_MAX > ims->slots - first_slot)
		return -EINVAL;
	if (dev->connected)
		return -EBUSY;
	r = irq_init(dev, VFIO_PCI_MSIX_IRQ_INDEX, count);
	if (r)
		return r;
	q = &dev->irqs[VFIO_PCI_MSIX_IRQ_INDEX];
	for (uint32_t v = MSIX_MAX; v < count && !r; v++)
		r = vec_set_backend(q, v, VK_IMS, NULL, NULL, ims,
				    first_slot + (v - MSIX_MAX));
	if (r)
		irq_init(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0);
	return r;
}

struct uvfio_ims *uvfio_ims_new(uint32_t slots)
{
	struct uvfio_ims *ims;

	if (!slots || slots > UVFIO_IMS_MAX_SLOTS) {
		errno = EINVAL;
		return NULL;
	}
	ims = calloc(1, sizeof(*ims) + (size_t)slots * sizeof(ims->slot[0]));
	if (!ims)
		return NULL;
	pthread_mutex_init(&ims->lock, NULL);
	ims->slots = slots;
	/* As MSI-X entries at reset: masked until the device opens them. */
	for (uint32_t i = 0; i < slots; i++)
		atomic_init(&ims->slot[i].ctl, IMS_MASKED);
	return ims;
}

void uvfio_ims_free(struct uvfio_ims *ims)
{
	if (!ims)
		return;
	pthread_mutex_destroy(&ims->lock);
	free(ims);
}

int uvfio_ims_program(struct uvfio_ims *ims, uint32_t slot, uint64_t address,
		      uint32_t data, uint32_t pasid)
{
	struct ims_slot *e;

	if (!ims || slot >= ims->slots)
		return -EINVAL;
	e = &ims->slot[slot];
	atomic_store(&e->address, address);
	atomic_store(&e->data, data);
	atomic_store(&e->pasid, pasid);
	return 0;
}

/* Unmasking delivers a pending interrupt by raising its vector again. */
int uvfio_ims_set_mask(struct uvfio_ims *ims, uint32_t slot, bool masked)
{
	struct ims_slot *e;
	struct irq_index *q;
	uint32_t c;

	if (!ims || slot >= ims->slots)
		return -EINVAL;
	e = &ims->slot[slot];
	if (masked) {
		atomic_fetch_or(&e->ctl, IMS_MASKED);
		return 0;
	}
	c = atomic_fetch_and(&e->ctl, ~(IMS_MASKED | IMS_PENDING));
	q = atomic_load(&e->q);
	if ((c & IMS_PENDING) && q)
		vec_raise(q, atomic_load(&e->vector), 0);
	return 0;
}

int uvfio_ims_get(struct uvfio_ims *ims, uint32_t slot,
		  struct uvfio_ims_entry *out)
{
	struct ims_slot *e;
	uint32_t c;

	if (!ims || !out || slot >= ims->slots)
		return -EINVAL;
	e = &ims->slot[slot];
	c = atomic_load(&e->ctl);
	*out = (struct uvfio_ims_entry){
		.address = atomic_load(&e->address),
		.data = atomic_load(&e->data),
		.pasid = atomic_load(&e->pasid),
		.masked = c & IMS_MASKED,
		.pending = c & IMS_PENDING,
	};
	return 0;
}
