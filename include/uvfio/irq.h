/* SPDX-License-Identifier: MIT */
/*
 * The interrupt router, VMM side: turns an MSI message (address, data)
 * into a route, and binds eventfds to routes so that a device's eventfd
 * write becomes a guest interrupt.
 *
 * Route changes are staged and reach the backend on commit (for KVM: all
 * pending changes in one KVM_SET_GSI_ROUTING).  A route can be masked:
 * its eventfd is then watched by the router instead of being delivered,
 * an interrupt that arrives sets the route's pending bit, and unmasking
 * delivers it once.  Functions return 0 (or a handle) or a negative
 * errno; constructors return NULL and set errno.
 *
 * Backends:
 *  - KVM: x86 MSI routes (KVM_IRQ_ROUTING_MSI) on allocated GSIs, the
 *    IOAPIC pin routes kept, KVM_IRQFD (with a resample fd for INTx).
 *  - userspace: a thread polls bound eventfds and calls the VMM's
 *    delivery callback with (address, data); for VMMs without KVM.
 * Policy UVFIO_ROUTER_DIRECT: the route number is the MSI data itself
 * (no allocation), for platforms where the data is the global interrupt
 * number; data above 0xffff is refused with -ERANGE.
 *
 * The delivery callback may run on the router's thread or on a thread
 * calling unmask, commit, bind or signal, never with the router's lock
 * held; it must not free the router.  The KVM backend needs the full
 * in-kernel irqchip (KVM_CREATE_IRQCHIP), not the split one.  Unbind an
 * eventfd before closing it.
 *
 * Errors: -EINVAL bad handle (or updating a pin route, or a resample fd
 * on an MSI route); -EBADF fd not open; -EBUSY route or fd already
 * bound; -ENOENT unbind with nothing bound; -ENOSPC out of GSIs or
 * routes; -ERANGE direct data above 0xffff or past KVM's route limit;
 * -EEXIST direct duplicate, or data below 24 on KVM (the IOAPIC pins);
 * -ENOTSUP the backend lacks a capability.
 */
#ifndef UVFIO_IRQ_H
#define UVFIO_IRQ_H

#include <stdbool.h>
#include <stdint.h>

/* What this header declares is libuvfio's ABI (src/libuvfio.map). */
#ifdef __GNUC__
#pragma GCC visibility push(default)
#endif

struct uvfio_irq_router;

struct uvfio_msi_msg {
	uint64_t address;
	uint32_t data;
};

#define UVFIO_ROUTER_DIRECT (1u << 0)

typedef void (*uvfio_irq_deliver_fn)(void *opaque, uint64_t address,
				     uint32_t data);

/* vm_fd: a KVM VM with an in-kernel irqchip (KVM_CREATE_IRQCHIP done). */
struct uvfio_irq_router *uvfio_irq_router_new_kvm(int vm_fd, uint32_t flags);
struct uvfio_irq_router *uvfio_irq_router_new_user(uvfio_irq_deliver_fn fn,
						   void *opaque,
						   uint32_t flags);
void uvfio_irq_router_free(struct uvfio_irq_router *r);

/*
 * Routes.  add returns a handle (>= 0) that stays valid until release;
 * the change takes effect at the next commit.  Handles are small
 * integers the router reuses after release.
 */
int uvfio_irq_route_add(struct uvfio_irq_router *r,
			const struct uvfio_msi_msg *msg);
int uvfio_irq_route_update(struct uvfio_irq_router *r, int route,
			   const struct uvfio_msi_msg *msg);
int uvfio_irq_route_release(struct uvfio_irq_router *r, int route);
/*
 * A level-triggered route to interrupt controller pin (IOAPIC pin): live
 * at once, no commit needed; the userspace backend delivers it as
 * (UINT64_MAX, pin) and leaves EOI and resample to the VMM.
 */
int uvfio_irq_route_pin(struct uvfio_irq_router *r, unsigned int pin);
int uvfio_irq_router_commit(struct uvfio_irq_router *r);

/*
 * Binds eventfd efd to a route: a write to efd interrupts the guest.
 * resample_fd (-1 for none) is for level-triggered pin routes: it is
 * signalled when the guest acknowledges the interrupt.  A route has at
 * most one eventfd.  The router does not take ownership of the fds.
 */
int uvfio_irq_bind(struct uvfio_irq_router *r, int route, int efd,
		   int resample_fd);
int uvfio_irq_unbind(struct uvfio_irq_router *r, int route);

/*
 * Masking: while masked, an interrupt on the bound eventfd sets the
 * route's pending bit instead of reaching the guest; unmask delivers a
 * pending interrupt exactly once and clears the bit.
 */
int uvfio_irq_mask(struct uvfio_irq_router *r, int route);
int uvfio_irq_unmask(struct uvfio_irq_router *r, int route);
/*
 * 1 if pending, 0 if not, or a negative errno.  A bound route that is not
 * committed yet keeps its interrupts pending until the commit.
 */
int uvfio_irq_pending(struct uvfio_irq_router *r, int route);
int uvfio_irq_clear_pending(struct uvfio_irq_router *r, int route);

/* Delivers the route's message once, now (e.g. KVM_SIGNAL_MSI). */
int uvfio_irq_signal(struct uvfio_irq_router *r, int route);

/*
 * Returns once the router's thread has read every watched eventfd that was
 * readable when it was called, and has delivered or made pending what it
 * read: afterwards pending bits and delivery counts include every event
 * written before the call.  0 or a negative errno.  Not from the
 * deliver callback.  Armed KVM irqfds are the kernel's, not flushed.
 */
int uvfio_irq_router_flush(struct uvfio_irq_router *r);

struct uvfio_irq_router_stats {
	uint64_t commits;       /* KVM_SET_GSI_ROUTING calls (or equivalent) */
	uint32_t routes;        /* routes in use */
	uint64_t delivered;     /* userspace backend: callbacks made */
};
void uvfio_irq_router_stats(struct uvfio_irq_router *r,
			    struct uvfio_irq_router_stats *s);

#ifdef __GNUC__
#pragma GCC visibility pop
#endif

#endif
