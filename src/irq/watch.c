// SPDX-License-Identifier: MIT
/*
 * The router's thread: one epoll set over the watched eventfds.  An
 * event on a route that can deliver becomes an interrupt (the userspace
 * backend, or a KVM route whose irqfd could not be assigned); on any
 * other route it sets the pending bit.  Eventfds are read only under the
 * router's lock, and interrupts are delivered only after it is dropped,
 * so the VMM's callback may call back into the router.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "irq/priv.h"

#define STOP_KEY UINT64_MAX
#define FLUSH_KEY (UINT64_MAX - 1)
#define BATCH 64

/*
 * The count of an eventfd that nobody else reads, without blocking: the
 * VMM's eventfd may be a blocking one, and O_NONBLOCK is not ours to set
 * on a file we share with the device.
 */
uint64_t irqr_efd_drain(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	struct iovec iov;
	uint64_t cnt = 0;

	if (efd < 0)
		return 0;
	/*
	 * The device shares this eventfd's open file, so it may clear
	 * O_NONBLOCK or read the counter itself: RWF_NOWAIT never blocks
	 * whatever it does, where poll() then read() could.
	 */
	iov = (struct iovec){ &cnt, sizeof(cnt) };
	if (preadv2(efd, &iov, 1, -1, RWF_NOWAIT) == (ssize_t)sizeof(cnt))
		return cnt;
	if (errno != EOPNOTSUPP)
		return 0;
	/* Kernels without RWF_NOWAIT on eventfds. */
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
		return 0;
	if (read(efd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return 0;
	return cnt;
}

uint64_t irqr_route_take(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	uint64_t cnt;

	r->drains++;
	cnt = irqr_efd_drain(rt->efd);
	if (rt->owed) {
		rt->owed = false;
		if (cnt)
			cnt--;
	}
	return cnt;
}

/* The thread's read of an eventfd epoll just reported readable. */
static uint64_t efd_take(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	return rt->owed ? irqr_route_take(r, rt) : irqr_efd_drain(rt->efd);
}

static uint64_t route_key(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	return (uint64_t)rt->token << 32 | (uint64_t)(rt - r->routes);
}

int irqr_watch_add(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u64 = route_key(r, rt);
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, rt->efd, &ev) < 0)
		return -errno;
	rt->watching = true;
	return 0;
}

void irqr_watch_del(struct uvfio_irq_router *r, struct irqr_route *rt)
{
	/* Fails only if the VMM closed the fd early: gone from the set. */
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, rt->efd, NULL);
	rt->watching = false;
}

bool irqr_shots_push(struct irqr_shots *s, const struct irqr_route *rt)
{
	struct irqr_shot *shot;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct irqr_shot *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return false;
		s->v = v;
		s->cap = cap;
	}
	shot = &s->v[s->n++];
	shot->key = 0;
	shot->msg = rt->live_msg;
	shot->gsi = (unsigned int)rt->live_gsi;
	shot->pin = rt->pin;
	return true;
}

int irqr_shots_fire(struct uvfio_irq_router *r, struct irqr_shots *s)
{
	int ret = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		int err = r->ops->inject(r, &s->v[i]);

		ret = ret ?: err;
	}
	s->n = 0;
	return ret;
}

/* Handles one event under the lock; may add to shots. */
static void watch_event(struct uvfio_irq_router *r, uint64_t key,
			struct irqr_shots *shots, uint64_t drains_seen)
{
	struct irqr_route *rt = irqr_route_get(r, (int)(uint32_t)key);

	if (!rt || !rt->watching || rt->token != (uint32_t)(key >> 32))
		return;
	/*
	 * A route the thread itself delivers: deliver first and read the
	 * count after the callback (settle()), off the interrupt's path.
	 * Only while no drain raced the event: then its count is still
	 * there, so the event is not stale.
	 */
	if (r->ops->polls_armed && !rt->owed && r->drains == drains_seen &&
	    irqr_route_deliverable(rt) && irqr_shots_push(shots, rt)) {
		shots->v[shots->n - 1].key = key;
		rt->owed = true;
		return;
	}
	if (!efd_take(r, rt))
		return;
	if (!irqr_route_deliverable(rt) || !irqr_shots_push(shots, rt))
		rt->pending = true;
}

/*
 * Fires the shots, then reads the counts the early deliveries owe: any
 * count beyond the one delivered is an interrupt that came since, and is
 * delivered (or made pending) in turn.  Returns with no shots left.
 */
static void settle(struct uvfio_irq_router *r, struct irqr_shots *shots,
		   uint64_t *drains_seen)
{
	uint64_t keys[BATCH];

	while (shots->n) {
		size_t n = 0;

		for (size_t i = 0; i < shots->n; i++)
			if (shots->v[i].key && n < BATCH)
				keys[n++] = shots->v[i].key;
		irqr_shots_fire(r, shots);
		if (!n)
			break;
		pthread_mutex_lock(&r->lock);
		for (size_t i = 0; i < n; i++) {
			struct irqr_route *rt =
				irqr_route_get(r, (int)(uint32_t)keys[i]);

			if (!rt || !rt->owed ||
			    rt->token != (uint32_t)(keys[i] >> 32))
				continue;
			if (!irqr_route_take(r, rt))
				continue;
			if (!irqr_route_deliverable(rt) ||
			    !irqr_shots_push(shots, rt))
				rt->pending = true;
		}
		*drains_seen = r->drains;
		pthread_mutex_unlock(&r->lock);
	}
}

/*
 * A flush is answered once a look at the set finds nothing ready: every
 * eventfd readable when it was asked stays readable until this thread
 * reads it (epoll is level-triggered), so by then all were handled.
 */
static void *watch_main(void *arg)
{
	struct uvfio_irq_router *r = arg;
	struct epoll_event ev[BATCH];
	struct irqr_shots shots = { 0 };
	uint64_t drains_seen, flush = 0;
	bool stop = false;
	int i, n;

	pthread_mutex_lock(&r->lock);
	drains_seen = r->drains;
	pthread_mutex_unlock(&r->lock);
	while (!stop) {
		n = epoll_wait(r->epfd, ev, BATCH, flush ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		pthread_mutex_lock(&r->lock);
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == STOP_KEY) {
				stop = true;
			} else if (ev[i].data.u64 == FLUSH_KEY) {
				irqr_efd_drain(r->flush_fd);
				flush = r->flush_asked;
			} else {
				watch_event(r, ev[i].data.u64, &shots,
					    drains_seen);
			}
		}
		drains_seen = r->drains;
		pthread_mutex_unlock(&r->lock);
		settle(r, &shots, &drains_seen);
		if (flush && !n) {
			pthread_mutex_lock(&r->lock);
			r->flush_done = flush;
			pthread_cond_broadcast(&r->flushed);
			pthread_mutex_unlock(&r->lock);
			flush = 0;
		}
	}
	/* Nobody waits for a stopped thread. */
	pthread_mutex_lock(&r->lock);
	r->flush_done = r->flush_asked;
	pthread_cond_broadcast(&r->flushed);
	pthread_mutex_unlock(&r->lock);
	free(shots.v);
	return NULL;
}

int uvfio_irq_router_flush(struct uvfio_irq_router *r)
{
	uint64_t one = 1, ticket;

	if (!r)
		return -EINVAL;
	if (!r->thread_started)
		return -ESRCH;
	pthread_mutex_lock(&r->lock);
	ticket = ++r->flush_asked;
	pthread_mutex_unlock(&r->lock);
	while (write(r->flush_fd, &one, sizeof(one)) < 0)
		if (errno != EINTR)
			return -errno;
	pthread_mutex_lock(&r->lock);
	while (r->flush_done < ticket)
		pthread_cond_wait(&r->flushed, &r->lock);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int irqr_watch_start(struct uvfio_irq_router *r)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = STOP_KEY };
	int ret;

	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return -errno;
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stop_fd < 0)
		return -errno;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stop_fd, &ev) < 0)
		return -errno;
	r->flush_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->flush_fd < 0)
		return -errno;
	ev.data.u64 = FLUSH_KEY;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->flush_fd, &ev) < 0)
		return -errno;
	ret = pthread_create(&r->thread, NULL, watch_main, r);
	if (ret)
		return -ret;
	r->thread_started = true;
	return 0;
}

void irqr_watch_stop(struct uvfio_irq_router *r)
{
	uint64_t one = 1;

	if (!r->thread_started)
		return;
	while (write(r->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(r->thread, NULL);
	r->thread_started = false;
}
