// SPDX-License-Identifier: MIT
/*
 * KVM backend; every KVM ioctl of the router is in this file.
 *
 * The table given to KVM_SET_GSI_ROUTING replaces KVM's whole table, so
 * each commit rebuilds it: the default PIC and IOAPIC pin routes KVM set
 * up at KVM_CREATE_IRQCHIP (GSIs 0..23, which the pin routes rely on),
 * then one KVM_IRQ_ROUTING_MSI entry per MSI route.  MSI routes get GSIs
 * from 24 up to KVM's route limit, and the table's entry count is bounded
 * by the same limit, which bounds the number of MSI routes.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "irq/priv.h"

/* The kernel's default routing: IOAPIC 0..23, plus the PICs for 0..15. */
#define PIC_PINS 16u
#define PIN_ENTRIES (IRQR_NR_PINS + PIC_PINS)

static int kvm_pin_entries(struct kvm_irq_routing_entry *e)
{
	unsigned int gsi;
	int n = 0;

	for (gsi = 0; gsi < IRQR_NR_PINS; gsi++) {
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi;
		n++;
		if (gsi >= PIC_PINS)
			continue;
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
						   KVM_IRQCHIP_PIC_SLAVE;
		e[n].u.irqchip.pin = gsi % 8;
		n++;
	}
	return n;
}

static int kvm_commit(struct uvfio_irq_router *r)
{
	struct kvm_irq_routing *t;
	unsigned int i, n;
	int ret = 0;

	t = calloc(1, sizeof(*t) + (PIN_ENTRIES + r->nr_msi) *
					   sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	n = kvm_pin_entries(t->entries);
	for (i = 0; i < r->nr_slots; i++) {
		const struct irqr_route *rt = &r->routes[i];
		struct kvm_irq_routing_entry *e;

		if (!rt->used || rt->pin)
			continue;
		e = &t->entries[n++];
		e->gsi = rt->gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)rt->msg.address;
		e->u.msi.address_hi = (uint32_t)(rt->msg.address >> 32);
		e->u.msi.data = rt->msg.data;
	}
	t->nr = n;
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
		ret = -errno;
	free(t);
	return ret;
}

static int kvm_arm(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	struct kvm_irqfd ifd = {
		.fd = (uint32_t)rt->efd,
		.gsi = (uint32_t)rt->live_gsi,
	};

	if (rt->resample_fd >= 0) {
		ifd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		ifd.resamplefd = (uint32_t)rt->resample_fd;
	}
	return ioctl(r->vm_fd, KVM_IRQFD, &ifd) < 0 ? -errno : 0;
}

static int kvm_disarm(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	/* Returns once the irqfd is shut down (KVM flushes its work). */
	struct kvm_irqfd ifd = {
		.fd = (uint32_t)rt->efd,
		.gsi = (uint32_t)rt->armed_gsi,
		.flags = KVM_IRQFD_FLAG_DEASSIGN,
	};

	return ioctl(r->vm_fd, KVM_IRQFD, &ifd) < 0 ? -errno : 0;
}

static int kvm_pulse(struct uvfio_irq_router *r, unsigned int gsi)
{
	struct kvm_irq_level l = { .irq = gsi, .level = 1 };

	if (ioctl(r->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	l.level = 0;
	return ioctl(r->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

static int kvm_inject(struct uvfio_irq_router *r, const struct irqr_shot *s)
{
	struct kvm_msi m = {
		.address_lo = (uint32_t)s->msg.address,
		.address_hi = (uint32_t)(s->msg.address >> 32),
		.data = s->msg.data,
	};

	/* What an irqfd without a resample fd does to a pin: a pulse. */
	if (s->pin)
		return kvm_pulse(r, s->gsi);
	if (!r->has_signal_msi)
		return -ENOTSUP;
	/* 0 means the guest blocked it (e.g. APIC disabled): not an error. */
	return ioctl(r->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -errno : 0;
}

static const struct irqr_backend_ops kvm_ops = {
	.commit = kvm_commit,
	.arm = kvm_arm,
	.disarm = kvm_disarm,
	.inject = kvm_inject,
	.can_resample = true,
	.polls_armed = false,
};

static const struct irqr_backend_ops kvm_ops_noresample = {
	.commit = kvm_commit,
	.arm = kvm_arm,
	.disarm = kvm_disarm,
	.inject = kvm_inject,
	.can_resample = false,
	.polls_armed = false,
};

static int kvm_cap(int vm_fd, long cap)
{
	int ret = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? 0 : ret;
}

struct uvfio_irq_router *uvfio_irq_router_new_kvm(int vm_fd, uint32_t flags)
{
	const struct irqr_backend_ops *ops = &kvm_ops;
	struct uvfio_irq_router *r;
	unsigned int limit;
	int routes;

	if (vm_fd < 0) {
		errno = EBADF;
		return NULL;
	}
	routes = kvm_cap(vm_fd, KVM_CAP_IRQ_ROUTING);
	if (routes <= (int)PIN_ENTRIES || !kvm_cap(vm_fd, KVM_CAP_IRQFD)) {
		errno = ENOTSUP;
		return NULL;
	}
	if (!kvm_cap(vm_fd, KVM_CAP_IRQFD_RESAMPLE))
		ops = &kvm_ops_noresample;
	/* GSIs and table entries share KVM's limit (KVM_MAX_IRQ_ROUTES). */
	limit = (unsigned int)routes;
	if (limit > IRQR_DIRECT_MAX + 1)
		limit = IRQR_DIRECT_MAX + 1;
	r = irqr_create(ops, flags, IRQR_NR_PINS, limit, limit - PIN_ENTRIES);
	if (!r)
		return NULL;
	r->vm_fd = vm_fd;
	r->has_signal_msi = kvm_cap(vm_fd, KVM_CAP_SIGNAL_MSI) > 0;
	return r;
}
