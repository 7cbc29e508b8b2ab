// SPDX-License-Identifier: MIT
/*
 * Peer-to-peer DMA.  A device's DMA space is the guest's physical space,
 * which holds the other devices' BARs too: the mappable areas of every
 * live BAR are DMA windows of every other device, at their guest
 * addresses, backed by the owner's region file (QEMU does the same with
 * the mmapped BAR regions of its vfio devices).  A device then reaches
 * another's BAR memory by DMA, as across a PCI switch, and a BAR that
 * moves or stops decoding takes its windows with it.
 *
 * Which peers hold a window of an area is a bit per peer in the area
 * (vmap.p2p); the owner's vd->lock guards it.  Peers are called with
 * only the owner's lock held, so two devices changing BARs at once never
 * wait on each other.
 */
#include <errno.h>
#include <string.h>

#include "vdev.h"

static bool usable(const struct vdev *p)
{
	return p && p->opened && !__atomic_load_n(&p->failed, __ATOMIC_ACQUIRE);
}

/* Maps area m of live BAR b into peer p. */
static void map_into(struct vbar *b, struct vmap *m, struct vdev *p)
{
	struct vdev *vd = b->vd;
	const struct uvfio_region *r;
	int ret;

	if (m->p2p & (1u << p->index))
		return;
	ret = uvfio_client_region_info(vd->c, b->index, &r);
	if (ret == 0 && r->fd < 0)
		ret = -EBADF;
	if (ret == 0)
		ret = uvfio_client_dma_map(p->c, b->live_addr + m->off, m->size,
					   UVFIO_DMA_PROT_READ |
						   UVFIO_DMA_PROT_WRITE,
					   m->hva, r->fd, r->offset + m->off);
	if (ret < 0) {
		vmm_info(vd->vm,
			 "device %u BAR%u [%#llx, +%#llx): no peer DMA window "
			 "in device %u (%s)",
			 vd->index, b->index, (unsigned long long)m->off,
			 (unsigned long long)m->size, p->index, strerror(-ret));
		return;
	}
	m->p2p |= 1u << p->index;
}

void p2p_bar_map(struct vbar *b)
{
	struct vm *vm = b->vd->vm;

	for (unsigned int i = 0; i < vm->nr_devs; i++) {
		struct vdev *p = vm->devs[i];

		if (p == b->vd || !usable(p))
			continue;
		for (unsigned int k = 0; k < b->nr_maps; k++)
			map_into(b, &b->maps[k], p);
	}
}

void p2p_bar_unmap(struct vbar *b)
{
	struct vm *vm = b->vd->vm;

	for (unsigned int k = 0; k < b->nr_maps; k++) {
		struct vmap *m = &b->maps[k];

		for (unsigned int i = 0; i < vm->nr_devs && m->p2p; i++) {
			struct vdev *p = vm->devs[i];

			if (!p || !(m->p2p & (1u << p->index)))
				continue;
			uvfio_client_dma_unmap(p->c, b->live_addr + m->off,
					       m->size);
			m->p2p &= ~(1u << p->index);
		}
		m->p2p = 0;
	}
}

void p2p_add_device(struct vdev *vd)
{
	struct vm *vm = vd->vm;

	for (unsigned int i = 0; i < vm->nr_devs; i++) {
		struct vdev *o = vm->devs[i];

		if (!o || o == vd || !usable(o))
			continue;
		pthread_mutex_lock(&o->lock);
		for (unsigned int j = 0; j < UVFIO_PCI_NUM_BARS; j++) {
			struct vbar *b = &o->bars[j];

			for (unsigned int k = 0; b->live && k < b->nr_maps; k++)
				map_into(b, &b->maps[k], vd);
		}
		pthread_mutex_unlock(&o->lock);
	}
}

void p2p_remove_device(struct vdev *vd)
{
	struct vm *vm = vd->vm;

	for (unsigned int i = 0; i < vm->nr_devs; i++) {
		struct vdev *o = vm->devs[i];

		if (!o || o == vd)
			continue;
		pthread_mutex_lock(&o->lock);
		for (unsigned int j = 0; j < UVFIO_PCI_NUM_BARS; j++)
			for (unsigned int k = 0; k < o->bars[j].nr_maps; k++)
				o->bars[j].maps[k].p2p &= ~(1u << vd->index);
		pthread_mutex_unlock(&o->lock);
	}
}

void p2p_renew(struct vdev *vd)
{
	if (!__atomic_exchange_n(&vd->p2p_stale, false, __ATOMIC_ACQ_REL))
		return;
	for (unsigned int j = 0; j < UVFIO_PCI_NUM_BARS; j++) {
		struct vbar *b = &vd->bars[j];

		if (!b->live)
			continue;
		p2p_bar_unmap(b);
		p2p_bar_map(b);
	}
}
