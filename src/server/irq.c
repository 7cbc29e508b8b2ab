// SPDX-License-Identifier: MIT
/*
 * Interrupts: per-index state (vector arrays, which index is enabled),
 * teardown when a client leaves, and the device's interrupt API.
 * SET_IRQS itself is parsed in irq_set.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "irq.h"

int irq_mode_get(struct uvfio_dev *dev)
{
	return atomic_load(&dev->irq_mode) - 1;
}

static void free_vectors(struct irq_index *q)
{
	ims_unbind_all(q);
	free(q->vec);
	q->vec = NULL;
	q->count = 0;
	q->nvec = 0;
}

int irq_init(struct uvfio_dev *dev, unsigned int index, uint32_t count)
{
	struct irq_index *q = &dev->irqs[index];
	struct irq_vec *vec = NULL;
	uint32_t s = 0;

	if (count) {
		vec = calloc(count, sizeof(*vec));
		if (!vec)
			return -ENOMEM;
	}
	/* ERR and REQ have no enable step: an eventfd is all they need. */
	if (index == VFIO_PCI_ERR_IRQ_INDEX || index == VFIO_PCI_REQ_IRQ_INDEX)
		s = VEC_ON;
	else if (index == VFIO_PCI_INTX_IRQ_INDEX)
		s = VEC_AUTOMASK;
	for (uint32_t i = 0; i < count; i++) {
		atomic_init(&vec[i].state, s);
		atomic_init(&vec[i].busy[0], 0);
		atomic_init(&vec[i].busy[1], 0);
		atomic_init(&vec[i].epoch, 0);
		atomic_init(&vec[i].efd, -1);
	}
	free_vectors(q);
	*q = (struct irq_index){
		.dev = dev,
		.index = index,
		.count = count,
		.nvec = s & VEC_ON ? count : 0,
		.vec = vec,
	};
	return 0;
}

/* Dispatch thread: turns nvec vectors of q on, q becoming the mode. */
void irq_enable(struct irq_index *q, uint32_t nvec)
{
	q->nvec = nvec;
	for (uint32_t v = 0; v < nvec; v++)
		vec_update(q, v, 0, VEC_ON);
	atomic_store(&q->dev->irq_mode, (int)q->index + 1);
}

/*
 * Dispatch thread: every vector off (raises fail from here on), then
 * eventfds closed once no raiser uses them.  The INTx line level is the
 * device's and stays; the client's masks go with the client's enable.
 */
void irq_disable(struct irq_index *q)
{
	bool single = q->index == VFIO_PCI_ERR_IRQ_INDEX ||
		      q->index == VFIO_PCI_REQ_IRQ_INDEX;

	if (q->index == VFIO_PCI_INTX_IRQ_INDEX)
		irq_watch_set(q->dev, -1);
	for (uint32_t v = 0; v < q->count; v++) {
		vec_update(q, v, (single ? 0 : VEC_ON) | VEC_MASKED, 0);
		vec_set_fd(q, v, -1);
	}
	if (single)
		return;
	q->nvec = 0;
	if (irq_mode_get(q->dev) == (int)q->index)
		atomic_store(&q->dev->irq_mode, 0);
}

void irq_release_all(struct uvfio_dev *dev)
{
	for (unsigned int i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		if (dev->irqs[i].vec)
			irq_disable(&dev->irqs[i]);
	atomic_store(&dev->irq_mode, 0);
}

void irq_free(struct uvfio_dev *dev)
{
	irq_release_all(dev);
	irq_watch_free(dev);
	for (unsigned int i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		free_vectors(&dev->irqs[i]);
}

uint32_t irq_info_flags(unsigned int index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		       VFIO_IRQ_INFO_AUTOMASKED;
	case VFIO_PCI_MSI_IRQ_INDEX:
		/* MASKABLE: our superset of vfio-pci, see irq_set.c. */
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		       VFIO_IRQ_INFO_NORESIZE;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		/* Vectors are added on demand, as vfio-pci's dynamic MSI-X. */
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE;
	default:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	}
}

struct irq_index *irq_find(struct uvfio_dev *dev, unsigned int index,
			   uint32_t vector)
{
	if (!dev || index >= VFIO_PCI_NUM_IRQS ||
	    vector >= dev->irqs[index].count)
		return NULL;
	return &dev->irqs[index];
}

int uvfio_dev_irq_trigger(struct uvfio_dev *dev, unsigned int index,
			  uint32_t vector)
{
	struct irq_index *q = irq_find(dev, index, vector);
	int r;

	if (!q)
		return -EINVAL;
	r = vec_raise(q, vector, 0);
	return r < 0 ? r : 0;
}

int uvfio_dev_intx_set_level(struct uvfio_dev *dev, bool asserted)
{
	struct irq_index *q = irq_find(dev, VFIO_PCI_INTX_IRQ_INDEX, 0);
	int r;

	if (!q)
		return -EINVAL;
	if (!asserted) {
		vec_update(q, 0, VEC_LEVEL | VEC_PENDING, 0);
		return 0;
	}
	r = vec_raise(q, 0, VEC_LEVEL);
	return r < 0 ? r : 0;
}

int uvfio_dev_irq_mode(struct uvfio_dev *dev)
{
	return irq_mode_get(dev);
}

int uvfio_dev_irq_status(struct uvfio_dev *dev, unsigned int index,
			 uint32_t vector)
{
	struct irq_index *q = irq_find(dev, index, vector);
	uint32_t s;

	if (!q)
		return -EINVAL;
	s = atomic_load(&q->vec[vector].state);
	return (vec_live(s) ? UVFIO_IRQ_LIVE : 0) |
	       (s & VEC_MASKED ? UVFIO_IRQ_MASKED : 0) |
	       (s & VEC_PENDING ? UVFIO_IRQ_PENDING : 0);
}

int uvfio_dev_irq_clear_pending(struct uvfio_dev *dev, unsigned int index,
				uint32_t vector)
{
	struct irq_index *q = irq_find(dev, index, vector);

	if (!q)
		return -EINVAL;
	return !!(atomic_fetch_and(&q->vec[vector].state, ~VEC_PENDING) &
		  VEC_PENDING);
}
