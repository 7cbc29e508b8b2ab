// SPDX-License-Identifier: MIT
/*
 * INTx: a trigger eventfd on the router's level-triggered pin route and
 * a resample eventfd that the device takes as its unmask event, so the
 * guest's EOI re-arms the automasked line without a message.  As in
 * vfio-pci, the device has one interrupt mode at a time: INTx is taken
 * down while MSI or MSI-X is on and brought back after.
 */
#include "irqemu.h"
#include "priv.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void release(struct cl_irqemu *e)
{
	struct cl_intx *x = &e->intx;

	if (x->route >= 0) {
		uvfio_irq_unbind(e->r, x->route);
		uvfio_irq_route_release(e->r, x->route);
		uvfio_irq_router_commit(e->r);
		x->route = -1;
	}
	close_fd(&x->efd);
	close_fd(&x->resample);
	x->active = false;
}

static int set_fd(struct cl_irqemu *e, uint32_t action, int fd)
{
	return uvfio_client_set_irqs(e->c, VFIO_PCI_INTX_IRQ_INDEX,
				     VFIO_IRQ_SET_DATA_EVENTFD | action, 0, 1,
				     &fd);
}

static int activate(struct cl_irqemu *e)
{
	struct cl_intx *x = &e->intx;
	int r;

	x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->efd >= 0)
		x->resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->efd < 0 || x->resample < 0) {
		r = -errno;
		goto fail;
	}
	r = uvfio_irq_route_pin(e->r, x->pin);
	if (r < 0)
		goto fail;
	x->route = r;
	r = uvfio_irq_router_commit(e->r);
	if (!r)
		r = uvfio_irq_bind(e->r, x->route, x->efd, x->resample);
	if (!r)
		r = set_fd(e, VFIO_IRQ_SET_ACTION_TRIGGER, x->efd);
	if (r < 0)
		goto fail;
	r = set_fd(e, VFIO_IRQ_SET_ACTION_UNMASK, x->resample);
	if (r < 0) {
		cl_irq_disable_index(e, VFIO_PCI_INTX_IRQ_INDEX);
		goto fail;
	}
	x->active = true;
	return 0;
fail:
	release(e);
	return r;
}

int cl_intx_suspend(struct cl_irqemu *e)
{
	int r;

	if (!e->intx.active)
		return 0;
	r = cl_irq_disable_index(e, VFIO_PCI_INTX_IRQ_INDEX);
	if (r < 0)
		return r;
	release(e);
	return 0;
}

int cl_intx_resume(struct cl_irqemu *e)
{
	if (!e->intx.wanted || e->intx.active || e->msi.on || e->msix.on)
		return 0;
	return activate(e);
}

void cl_intx_fini(struct cl_irqemu *e)
{
	cl_intx_suspend(e);
	release(e);
	e->intx.wanted = false;
}

int uvfio_client_intx_enable(struct uvfio_client *c, unsigned int pin)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	struct vfio_irq_info info;
	int r;

	if (!e)
		return -EINVAL;
	r = uvfio_client_irq_info(c, VFIO_PCI_INTX_IRQ_INDEX, &info);
	if (r < 0)
		return r;
	if (info.count < 1)
		return -ENODEV;
	pthread_mutex_lock(&e->lock);
	if (e->intx.wanted) {
		r = -EBUSY;
	} else {
		e->intx.wanted = true;
		e->intx.pin = pin;
		r = cl_intx_resume(e);
		if (r < 0)
			e->intx.wanted = false;
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

int uvfio_client_intx_disable(struct uvfio_client *c)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	int r;

	if (!e)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	r = cl_intx_suspend(e);
	if (!r)
		e->intx.wanted = false;
	pthread_mutex_unlock(&e->lock);
	return r;
}

int uvfio_client_intx_eoi(struct uvfio_client *c)
{
	struct cl_irqemu *e = c ? c->irq : NULL;
	static const uint64_t one = 1;
	int r = 0;

	if (!e)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	if (!e->intx.active)
		r = -ENODEV;
	else if (write(e->intx.resample, &one, sizeof(one)) != sizeof(one))
		r = -errno;
	pthread_mutex_unlock(&e->lock);
	return r;
}
