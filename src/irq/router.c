// SPDX-License-Identifier: MIT
/*
 * The route table: handles, staged messages and GSIs, and commit, which
 * hands every staged route to the backend at once.  Routes are indexed
 * by handle; a handle is the lowest free slot, so handles stay small and
 * are reused after release.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "irq/priv.h"

/* Far more than any table a backend accepts; bounds the slot array. */
#define IRQ_MAX_HANDLES (1u << 20)

struct uvfio_irq_router *irqr_create(const struct irqr_backend_ops *ops,
				     uint32_t flags, unsigned int gsi_base,
				     unsigned int gsi_limit,
				     unsigned int max_msi)
{
	struct uvfio_irq_router *r;
	int ret;

	if (flags & ~UVFIO_ROUTER_DIRECT) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->ops = ops;
	r->flags = flags;
	r->max_msi = max_msi;
	r->epfd = -1;
	r->stop_fd = -1;
	r->flush_fd = -1;
	r->vm_fd = -1;
	ret = irqr_gsi_init(&r->gsi, gsi_base, gsi_limit);
	if (ret) {
		free(r);
		errno = -ret;
		return NULL;
	}
	ret = pthread_mutex_init(&r->lock, NULL);
	if (!ret) {
		ret = pthread_cond_init(&r->flushed, NULL);
		if (ret)
			pthread_mutex_destroy(&r->lock);
	}
	if (ret) {
		irqr_gsi_fini(&r->gsi);
		free(r);
		errno = ret;
		return NULL;
	}
	ret = irqr_watch_start(r);
	if (ret) {
		uvfio_irq_router_free(r);
		errno = -ret;
		return NULL;
	}
	return r;
}

void uvfio_irq_router_free(struct uvfio_irq_router *r)
{
	unsigned int i;

	if (!r)
		return;
	/* First the thread, so nothing races the teardown below. */
	irqr_watch_stop(r);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nr_slots; i++)
		if (r->routes[i].used)
			irqr_route_detach(r, &r->routes[i]);
	pthread_mutex_unlock(&r->lock);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	if (r->flush_fd >= 0)
		close(r->flush_fd);
	pthread_cond_destroy(&r->flushed);
	pthread_mutex_destroy(&r->lock);
	irqr_gsi_fini(&r->gsi);
	free(r->routes);
	free(r);
}

struct irqr_route *irqr_route_get(struct uvfio_irq_router *r, int route)
{
	if (route < 0 || (unsigned int)route >= r->nr_slots ||
	    !r->routes[route].used)
		return NULL;
	return &r->routes[route];
}

/* A fresh route in the lowest free slot; its handle or -errno. */
static int slot_alloc(struct uvfio_irq_router *r)
{
	struct irqr_route *rt;
	unsigned int i;

	for (i = r->free_hint; i < r->nr_slots; i++)
		if (!r->routes[i].used)
			break;
	if (i == r->nr_slots) {
		unsigned int n = r->nr_slots ? r->nr_slots * 2 : 64;
		struct irqr_route *v;

		if (r->nr_slots >= IRQ_MAX_HANDLES)
			return -ENOSPC;
		v = realloc(r->routes, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + r->nr_slots, 0, (n - r->nr_slots) * sizeof(*v));
		r->routes = v;
		r->nr_slots = n;
	}
	r->free_hint = i + 1;
	rt = &r->routes[i];
	memset(rt, 0, sizeof(*rt));
	rt->used = true;
	rt->live_gsi = -1;
	rt->armed_gsi = -1;
	rt->efd = -1;
	rt->resample_fd = -1;
	r->nr_used++;
	return (int)i;
}

static void slot_free(struct uvfio_irq_router *r, int route)
{
	r->routes[route].used = false;
	r->nr_used--;
	if ((unsigned int)route < r->free_hint)
		r->free_hint = route;
}

/* The GSI for msg under the router's policy, taken; or -errno. */
static int gsi_take(struct uvfio_irq_router *r, const struct uvfio_msi_msg *msg)
{
	if (!(r->flags & UVFIO_ROUTER_DIRECT))
		return irqr_gsi_alloc(&r->gsi);
	if (msg->data > IRQR_DIRECT_MAX)
		return -ERANGE;
	return irqr_gsi_claim(&r->gsi, msg->data) ?: (int)msg->data;
}

int uvfio_irq_route_add(struct uvfio_irq_router *r,
			const struct uvfio_msi_msg *msg)
{
	struct irqr_route *rt;
	int gsi, h;

	if (!r || !msg)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (r->nr_msi >= r->max_msi) {
		h = -ENOSPC;
		goto out;
	}
	gsi = gsi_take(r, msg);
	if (gsi < 0) {
		h = gsi;
		goto out;
	}
	h = slot_alloc(r);
	if (h < 0) {
		irqr_gsi_free(&r->gsi, gsi);
		goto out;
	}
	rt = &r->routes[h];
	rt->gsi = gsi;
	rt->msg = *msg;
	r->nr_msi++;
	r->dirty = true;
out:
	pthread_mutex_unlock(&r->lock);
	return h;
}

int irqr_on_route(struct uvfio_irq_router *r, int route, irqr_route_op op,
		  void *arg)
{
	struct irqr_shots shots = { 0 };
	struct irqr_route *rt;
	int ret, err;

	if (!r)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	rt = irqr_route_get(r, route);
	ret = rt ? op(r, rt, arg, &shots) : -EINVAL;
	pthread_mutex_unlock(&r->lock);
	err = irqr_shots_fire(r, &shots);
	free(shots.v);
	return ret ?: err;
}

static int update_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		     void *arg, struct irqr_shots *shots)
{
	const struct uvfio_msi_msg *msg = arg;
	int gsi;

	(void)shots;
	if (rt->pin)
		return -EINVAL;
	if (rt->msg.address == msg->address && rt->msg.data == msg->data)
		return 0;
	if ((r->flags & UVFIO_ROUTER_DIRECT) && msg->data != rt->msg.data) {
		/* The route moves; its irqfd follows at commit (bind.c). */
		gsi = gsi_take(r, msg);
		if (gsi < 0)
			return gsi;
		irqr_gsi_free(&r->gsi, rt->gsi);
		rt->gsi = gsi;
	}
	rt->msg = *msg;
	r->dirty = true;
	return 0;
}

int uvfio_irq_route_update(struct uvfio_irq_router *r, int route,
			   const struct uvfio_msi_msg *msg)
{
	if (!msg)
		return -EINVAL;
	return irqr_on_route(r, route, update_op, (void *)msg);
}

static int release_op(struct uvfio_irq_router *r, struct irqr_route *rt,
		      void *arg, struct irqr_shots *shots)
{
	(void)arg;
	(void)shots;
	irqr_route_detach(r, rt);
	if (!rt->pin) {
		/*
		 * The number is free at once: its stale table entry has no
		 * irqfd left, and a new route on it stays unarmed until
		 * the commit that replaces the entry.
		 */
		irqr_gsi_free(&r->gsi, rt->gsi);
		r->nr_msi--;
		r->dirty = true;
	}
	slot_free(r, (int)(rt - r->routes));
	return 0;
}

int uvfio_irq_route_release(struct uvfio_irq_router *r, int route)
{
	return irqr_on_route(r, route, release_op, NULL);
}

int uvfio_irq_route_pin(struct uvfio_irq_router *r, unsigned int pin)
{
	struct irqr_route *rt;
	int h;

	if (!r || pin >= IRQR_NR_PINS)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	h = slot_alloc(r);
	if (h >= 0) {
		rt = &r->routes[h];
		rt->pin = true;
		/* Pin routes are in every table, so live from the start. */
		rt->gsi = rt->live_gsi = (int)pin;
		rt->msg.address = IRQR_PIN_ADDRESS;
		rt->msg.data = pin;
		rt->live_msg = rt->msg;
	}
	pthread_mutex_unlock(&r->lock);
	return h;
}

int uvfio_irq_router_commit(struct uvfio_irq_router *r)
{
	struct irqr_shots shots = { 0 };
	struct irqr_route *rt;
	unsigned int i;
	int ret, err = 0;

	if (!r)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (!r->dirty) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	/*
	 * A route that moves to another GSI leaves its armed irqfd on the
	 * old one, which the new table drops or gives to another route:
	 * disarm it first so that its interrupts wait as pending.
	 */
	for (i = 0; i < r->nr_slots; i++) {
		rt = &r->routes[i];
		if (!rt->used || rt->pin || rt->live_gsi == rt->gsi)
			continue;
		rt->live_gsi = -1;
		ret = irqr_route_sync(r, rt, &shots);
		if (ret && !err)
			err = ret;
	}
	/* On failure the movers stay unarmed: pending, not lost. */
	ret = r->ops->commit(r);
	if (ret) {
		err = ret;
		goto out;
	}
	r->commits++;
	r->dirty = false;
	for (i = 0; i < r->nr_slots; i++) {
		rt = &r->routes[i];
		if (!rt->used || rt->pin)
			continue;
		rt->live_gsi = rt->gsi;
		rt->live_msg = rt->msg;
		ret = irqr_route_sync(r, rt, &shots);
		if (ret && !err)
			err = ret;
	}
out:
	pthread_mutex_unlock(&r->lock);
	ret = irqr_shots_fire(r, &shots);
	free(shots.v);
	return err ?: ret;
}

void uvfio_irq_router_stats(struct uvfio_irq_router *r,
			    struct uvfio_irq_router_stats *s)
{
	if (!r || !s)
		return;
	pthread_mutex_lock(&r->lock);
	s->commits = r->commits;
	s->routes = r->nr_used;
	pthread_mutex_unlock(&r->lock);
	s->delivered = __atomic_load_n(&r->delivered, __ATOMIC_RELAXED);
}
