// SPDX-License-Identifier: MIT
/*
 * Sets of MSI/MSI-X vectors on the router: an eventfd per vector, a
 * route per vector that has a message, staged together and committed
 * once, and the device told about all eventfds in as few SET_IRQS
 * messages as it accepts.  Every step can fail; a failed step undoes the
 * ones before it.
 */
#include "irqemu.h"

#include <errno.h>
#include <sys/uio.h>
#include <pthread.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <uvfio/client.h>

static void vec_reset(struct cl_vec *v)
{
	v->efd = -1;
	v->route = -1;
	v->rmasked = false;
	v->msg.address = 0;
	v->msg.data = 0;
}

/*
 * Reads an eventfd's count without ever blocking: the device shares the
 * open file and could clear O_NONBLOCK or empty the counter under us.
 */
static uint64_t efd_take(int efd)
{
	uint64_t cnt = 0;
	struct iovec iov = { &cnt, sizeof(cnt) };

	if (efd < 0 ||
	    preadv2(efd, &iov, 1, -1, RWF_NOWAIT) != (ssize_t)sizeof(cnt))
		return 0;
	return cnt;
}

/*
 * Masks before binding: an interrupt already waiting in the eventfd then
 * becomes pending instead of reaching the guest through a masked vector.
 */
static int arm(struct cl_irqemu *e, struct cl_vec *v, bool masked)
{
	int r;

	if (masked) {
		r = uvfio_irq_mask(e->r, v->route);
		if (r < 0)
			return r;
		v->rmasked = true;
	}
	return uvfio_irq_bind(e->r, v->route, v->efd, -1);
}

/* An interrupt the router or the eventfd still holds is not dropped. */
static void disarm(struct cl_irqemu *e, struct cl_vec *v, uint32_t i,
		   cl_vec_pend_fn pend, void *ctx)
{
	bool p = uvfio_irq_pending(e->r, v->route) > 0;

	uvfio_irq_unbind(e->r, v->route);
	p |= uvfio_irq_pending(e->r, v->route) > 0;
	p |= efd_take(v->efd) > 0;
	if (!p)
		return;
	if (!v->rmasked)
		uvfio_irq_signal(e->r, v->route);
	else if (pend)
		pend(ctx, i);
}

static int release_routes(struct cl_irqemu *e, struct cl_vec *v, uint32_t n)
{
	bool any = false;

	for (uint32_t i = 0; i < n; i++) {
		if (v[i].route < 0)
			continue;
		uvfio_irq_route_release(e->r, v[i].route);
		v[i].route = -1;
		v[i].rmasked = false;
		any = true;
	}
	return any ? uvfio_irq_router_commit(e->r) : 0;
}

static void close_efds(struct cl_vec *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (v[i].efd >= 0)
			close(v[i].efd);
		vec_reset(&v[i]);
	}
}

/* As few messages as max_msg_fds allows (uvfio_client_set_irqs splits). */
static int set_irqs(struct cl_irqemu *e, uint32_t index, const struct cl_vec *v,
		    uint32_t n)
{
	int *fds = malloc((size_t)n * sizeof(*fds));
	int r;

	if (!fds)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		fds[i] = v[i].efd;
	r = uvfio_client_set_irqs(e->c, index,
				  VFIO_IRQ_SET_DATA_EVENTFD |
					  VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, n, fds);
	free(fds);
	return r;
}

struct set_job {
	struct cl_irqemu *e;
	uint32_t index;
	const struct cl_vec *v;
	uint32_t n;
	int r;
};

static void *set_job_main(void *arg)
{
	struct set_job *j = arg;

	j->r = set_irqs(j->e, j->index, j->v, j->n);
	return NULL;
}

/*
 * Many vectors: the device takes its eventfds while this thread binds
 * them, since the two cost about the same.  Handing them over before the
 * bind loses nothing: an interrupt waits in its eventfd, and KVM takes
 * it when the irqfd is assigned (a masked vector is watched instead).
 */
#define PARALLEL_SET 64

static int bind_all(struct cl_irqemu *e, struct cl_vec *v, uint32_t n,
		    cl_vec_want_fn want, void *ctx, uint32_t *armed)
{
	struct uvfio_msi_msg msg;
	bool masked;
	int r = 0;

	for (*armed = 0; *armed < n; (*armed)++) {
		if (v[*armed].route < 0)
			continue;
		want(ctx, *armed, &msg, &masked);
		r = arm(e, &v[*armed], masked);
		if (r < 0) {
			(*armed)++; /* a failed bind may have half happened */
			return r;
		}
	}
	return 0;
}

int cl_vecs_up(struct cl_irqemu *e, uint32_t index, struct cl_vec *v,
	       uint32_t n, cl_vec_want_fn want, void *ctx)
{
	struct set_job job = { e, index, v, n, 0 };
	pthread_t t;
	bool threaded = false;
	struct uvfio_msi_msg msg;
	uint32_t i, armed = 0;
	bool masked;
	int r = 0;

	for (i = 0; i < n; i++)
		vec_reset(&v[i]);
	for (i = 0; i < n; i++) {
		v[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v[i].efd < 0) {
			r = -errno;
			goto undo;
		}
	}
	for (i = 0; i < n; i++) {
		if (!want(ctx, i, &msg, &masked))
			continue;
		r = uvfio_irq_route_add(e->r, &msg);
		if (r < 0)
			goto undo;
		v[i].route = r;
		v[i].msg = msg;
	}
	r = uvfio_irq_router_commit(e->r);
	if (r < 0)
		goto undo;
	if (n >= PARALLEL_SET)
		threaded = !pthread_create(&t, NULL, set_job_main, &job);
	r = bind_all(e, v, n, want, ctx, &armed);
	if (threaded)
		pthread_join(t, NULL);
	else if (!r)
		job.r = set_irqs(e, index, v, n);
	r = r ?: job.r;
	if (!r)
		return 0;
	/* The device may have taken part of the set: it gives it back. */
	if (threaded || armed == n)
		cl_irq_disable_index(e, index);
undo:
	for (i = 0; i < armed; i++)
		if (v[i].route >= 0)
			uvfio_irq_unbind(e->r, v[i].route);
	release_routes(e, v, n);
	close_efds(v, n);
	return r;
}

void cl_vecs_down(struct cl_irqemu *e, struct cl_vec *v, uint32_t n,
		  cl_vec_pend_fn pend, void *ctx)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i].route >= 0)
			disarm(e, &v[i], i, pend, ctx);
	release_routes(e, v, n);
	close_efds(v, n);
}

int cl_vec_add(struct cl_irqemu *e, struct cl_vec *v,
	       const struct uvfio_msi_msg *msg, bool masked)
{
	int r;

	if (v->efd < 0 || v->route >= 0)
		return -EINVAL;
	r = uvfio_irq_route_add(e->r, msg);
	if (r < 0)
		return r;
	v->route = r;
	v->msg = *msg;
	r = uvfio_irq_router_commit(e->r);
	if (!r)
		r = arm(e, v, masked);
	if (r < 0) {
		uvfio_irq_unbind(e->r, v->route);
		uvfio_irq_route_release(e->r, v->route);
		uvfio_irq_router_commit(e->r);
		v->route = -1;
		v->rmasked = false;
	}
	return r;
}

/*
 * In place: the eventfd stays bound, so an interrupt racing with the
 * change is delivered with the old message or the new one, never lost.
 */
int cl_vec_update(struct cl_irqemu *e, struct cl_vec *v,
		  const struct uvfio_msi_msg *msg)
{
	int r;

	if (v->route < 0 ||
	    (v->msg.address == msg->address && v->msg.data == msg->data))
		return 0;
	r = uvfio_irq_route_update(e->r, v->route, msg);
	if (r < 0)
		return r;
	r = uvfio_irq_router_commit(e->r);
	if (r < 0) {
		/* Stage the message that is still live again. */
		uvfio_irq_route_update(e->r, v->route, &v->msg);
		return r;
	}
	v->msg = *msg;
	return 0;
}

int cl_vec_mask(struct cl_irqemu *e, struct cl_vec *v, bool masked)
{
	int r;

	if (v->route < 0 || v->rmasked == masked)
		return 0;
	r = masked ? uvfio_irq_mask(e->r, v->route) :
		     uvfio_irq_unmask(e->r, v->route);
	if (!r)
		v->rmasked = masked;
	return r;
}

bool cl_vec_fired(const struct cl_vec *v)
{
	struct pollfd p = { .fd = v->efd, .events = POLLIN };

	return v->efd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void cl_vec_drain(const struct cl_vec *v)
{
	efd_take(v->efd);
}

int cl_vec_pending(struct cl_irqemu *e, const struct cl_vec *v)
{
	return v->route < 0 ? 0 : uvfio_irq_pending(e->r, v->route);
}

int cl_irq_disable_index(struct cl_irqemu *e, uint32_t index)
{
	return uvfio_client_set_irqs(e->c, index,
				     VFIO_IRQ_SET_DATA_NONE |
					     VFIO_IRQ_SET_ACTION_TRIGGER,
				     0, 0, NULL);
}
