// SPDX-License-Identifier: MIT
/*
 * Eventfds, masking and pending bits: the state machine of one route.
 *
 * Nothing lost: an eventfd is always either armed (the backend delivers
 * it) or watched (the router's thread turns its events into the pending
 * bit); route_sync() switches from one to the other so that each event
 * lands on exactly one side.  Disarming first: KVM's deassign returns
 * once the irqfd is gone, so later writes stay in the eventfd counter
 * and the watch, added after, sees them.  Arming: the watch goes first,
 * then the counter is drained into the pending bit (under the lock, so
 * the thread cannot read it too), then the irqfd is assigned, then a
 * pending interrupt is delivered once.  Nothing doubled: the pending bit
 * coalesces, and an event that slips in between the drain and the assign
 * is delivered by KVM at assign time and its count discarded by KVM's
 * deassign later, never seen by the watch.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "irq/priv.h"

bool irqr_route_live(const struct irqr_route *rt)
{
	return rt->live_gsi >= 0 && rt->live_gsi == rt->gsi;
}

/* An interrupt now would reach the guest. */
bool irqr_route_deliverable(const struct irqr_route *rt)
{
	return !rt->masked && irqr_route_live(rt);
}

int irqr_route_sync(struct uvfio_irq_router *r, struct irqr_route *rt,
		    struct irqr_shots *out)
{
	bool bound = rt->efd >= 0;
	bool want_arm = bound && irqr_route_deliverable(rt);
	bool want_watch = bound && (!want_arm || r->ops->polls_armed);
	int ret = 0;

	if (rt->armed && !want_arm) {
		ret = r->ops->disarm(r, rt);
		rt->armed = false;
		rt->armed_gsi = -1;
	}
	if (want_watch && !rt->watching) {
		int err = irqr_watch_add(r, rt);

		ret = ret ?: err;
	}
	if (!want_watch && rt->watching)
		irqr_watch_del(r, rt);
	if (want_arm && !rt->armed) {
		int err;

		if (irqr_route_take(r, rt))
			rt->pending = true;
		err = r->ops->arm(r, rt);
		if (err) {
			/* Watched instead: the thread delivers by hand. */
			if (!rt->watching)
				irqr_watch_add(r, rt);
			ret = ret ?: err;
		} else {
			rt->armed = true;
			rt->armed_gsi = rt->live_gsi;
		}
	}
	if (rt->pending && irqr_route_deliverable(rt) &&
	    irqr_shots_push(out, rt))
		rt->pending = false;
	return ret;
}

/* Unbinds, leaving no irqfd or watch behind; the caller holds the lock. */
void irqr_route_detach(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	/*
	 * A rebinding must not take an owed count for a new interrupt; what
	 * came since the early delivery stays pending on the route.
	 */
	if (rt->owed && irqr_route_take(r, rt))
		rt->pending = true;
	if (rt->armed)
		r->ops->disarm(r, rt);
	rt->armed = false;
	rt->armed_gsi = -1;
	if (rt->watching)
		irqr_watch_del(r, rt);
	rt->efd = -1;
	rt->resample_fd = -1;
}

static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static bool efd_in_use(struct uvfio_irq_router *r, int efd)
{
	unsigned int i;

	for (i = 0; i < r->nr_slots; i++)
		if (r->routes[i].used && r->routes[i].efd == efd)
			return true;
	return false;
}

static int bind_locked(struct uvfio_irq_router *r, struct irqr_route *rt,
		       int efd, int resample_fd, struct irqr_shots *shots)
{
	int ret;

	if (!fd_open(efd))
		return -EBADF;
	if (rt->efd >= 0 || efd_in_use(r, efd))
		return -EBUSY;
	if (resample_fd != -1) {
		if (!rt->pin)
			return -EINVAL;
		if (!r->ops->can_resample)
			return -ENOTSUP;
		if (!fd_open(resample_fd))
			return -EBADF;
	}
	rt->efd = efd;
	rt->resample_fd = resample_fd;
	rt->token = ++r->next_token;
	rt->owed = false;
	ret = irqr_route_sync(r, rt, shots);
	if (ret) {
		/* An interrupt the sync took out of the eventfd stays pending. */
		if (shots->n) {
			shots->n = 0;
			rt->pending = true;
		}
		irqr_route_detach(r, rt);
	}
	return ret;
}

/*
 * A route not yet committed can be bound: KVM would take an irqfd on a
 * GSI without a route but drop its interrupts, so the eventfd is watched
 * instead, and what arrives waits as pending for the commit that makes
 * the route live.
 */
struct bind_args {
	int efd, resample_fd;
};

static int bind_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		   void *arg, struct irqr_shots *shots)
{
	const struct bind_args *a = arg;

	/* A bind can find an interrupt that waited for it. */
	return bind_locked(r, rt, a->efd, a->resample_fd, shots);
}

int uvfio_irq_bind(struct uvfio_irq_router *r, int route, int efd,
		   int resample_fd)
{
	struct bind_args a = { efd, resample_fd };

	return irqr_on_route(r, route, bind_op, &a);
}

static int unbind_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		     void *arg, struct irqr_shots *shots)
{
	(void)arg;
	(void)shots;
	if (rt->efd < 0)
		return -ENOENT;
	irqr_route_detach(r, rt);
	return 0;
}

int uvfio_irq_unbind(struct uvfio_irq_router *r, int route)
{
	return irqr_on_route(r, route, unbind_op, NULL);
}

static int set_mask_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		       void *arg, struct irqr_shots *shots)
{
	bool masked = *(const bool *)arg;
	int ret;

	rt->masked = masked;
	ret = irqr_route_sync(r, rt, shots);
	/* Failed: keep the mask the caller still believes in. */
	if (ret) {
		rt->masked = !masked;
		irqr_route_sync(r, rt, shots);
	}
	return ret;
}

int uvfio_irq_mask(struct uvfio_irq_router *r, int route)
{
	bool masked = true;

	return irqr_on_route(r, route, set_mask_op, &masked);
}

int uvfio_irq_unmask(struct uvfio_irq_router *r, int route)
{
	bool masked = false;

	return irqr_on_route(r, route, set_mask_op, &masked);
}

/*
 * A watched eventfd that is not delivered counts as pending as soon as
 * it is written: drain it here rather than wait for the thread.
 */
static void catch_up(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	if (!rt->watching || irqr_route_deliverable(rt))
		return;
	if (irqr_route_take(r, rt))
		rt->pending = true;
}

static int pending_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		      void *arg, struct irqr_shots *shots)
{
	(void)arg;
	(void)shots;
	catch_up(r, rt);
	return rt->pending;
}

int uvfio_irq_pending(struct uvfio_irq_router *r, int route)
{
	return irqr_on_route(r, route, pending_op, NULL);
}

static int clear_pending_op(struct uvfio_irq_router *r, struct irqr_route *rt,
			    void *arg, struct irqr_shots *shots)
{
	(void)arg;
	(void)shots;
	/* Events written before the clear are cleared with it. */
	catch_up(r, rt);
	rt->pending = false;
	return 0;
}

int uvfio_irq_clear_pending(struct uvfio_irq_router *r, int route)
{
	return irqr_on_route(r, route, clear_pending_op, NULL);
}

static int signal_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		     void *arg, struct irqr_shots *shots)
{
	(void)r;
	(void)arg;
	if (!irqr_route_deliverable(rt) || !irqr_shots_push(shots, rt))
		rt->pending = true;
	return 0;
}

int uvfio_irq_signal(struct uvfio_irq_router *r, int route)
{
	return irqr_on_route(r, route, signal_op, NULL);
}
