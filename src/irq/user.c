// SPDX-License-Identifier: MIT
/*
 * Userspace backend, for VMMs without KVM and for tests: the router's
 * thread reads bound eventfds and calls the VMM's delivery callback with
 * the route's committed message.  A pin route delivers
 * (UINT64_MAX, pin); the VMM models the level and its EOI itself, so a
 * resample fd is accepted and kept but never signalled by the router.
 * The callback runs on the router's thread, or on the thread that
 * called unmask, commit, bind or signal when those deliver a pending
 * interrupt; never with the router's lock held.
 */
#include <errno.h>

#include "irq/priv.h"

static int user_commit(struct uvfio_irq_router *r)
{
	/* Nothing below us: commit only publishes the staged messages. */
	return 0;
}

static int user_arm(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	return 0;
}

static int user_disarm(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	return 0;
}

static int user_inject(struct uvfio_irq_router *r, const struct irqr_shot *s)
{
	__atomic_fetch_add(&r->delivered, 1, __ATOMIC_RELAXED);
	r->deliver(r->opaque, s->msg.address, s->msg.data);
	return 0;
}

static const struct irqr_backend_ops user_ops = {
	.commit = user_commit,
	.arm = user_arm,
	.disarm = user_disarm,
	.inject = user_inject,
	.can_resample = true,
	.polls_armed = true,
};

struct uvfio_irq_router *uvfio_irq_router_new_user(uvfio_irq_deliver_fn fn,
						   void *opaque, uint32_t flags)
{
	struct uvfio_irq_router *r;

	if (!fn) {
		errno = EINVAL;
		return NULL;
	}
	/* Any 16-bit number, as many routes as there are numbers. */
	r = irqr_create(&user_ops, flags, 0, IRQR_DIRECT_MAX + 1,
			IRQR_DIRECT_MAX + 1);
	if (!r)
		return NULL;
	/* Before any route exists, so the thread cannot see it unset. */
	r->deliver = fn;
	r->opaque = opaque;
	return r;
}
