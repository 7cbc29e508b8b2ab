// SPDX-License-Identifier: MIT
/*
 * One vector's state machine.  Every transition is a compare-and-swap on
 * the state word, so a raise racing a mask or unmask is decided by which
 * swap lands first: a raise that sees the vector blocked sets PENDING,
 * and whoever later clears PENDING (an unmask, the end of a backend
 * switch) delivers it, exactly once.  Raises that find PENDING already
 * set coalesce into it, as a PBA bit does.
 */
#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include "irq.h"

void vec_quiesce(struct irq_vec *v)
{
	unsigned int old = atomic_fetch_add(&v->epoch, 1) & 1;

	while (atomic_load(&v->busy[old]))
		sched_yield();
}

int vec_raise(struct irq_index *q, uint32_t vector, uint32_t level)
{
	struct irq_vec *v = &q->vec[vector];
	uint32_t s, n;
	int r;
	/* Counted before the state is read: see irq.h. */
	unsigned int e = vec_enter(v);

	s = atomic_load(&v->state);
	for (;;) {
		n = s | level;
		if (!vec_live(s)) {
			/* Nothing to deliver to; the line's level still counts. */
			if (n == s ||
			    atomic_compare_exchange_weak(&v->state, &s, n)) {
				r = -ENOENT;
				goto out;
			}
			continue;
		}
		if (s & VEC_BLOCKED)
			n |= VEC_PENDING;
		else if (s & VEC_AUTOMASK)
			n |= VEC_MASKED;
		if (n == s || atomic_compare_exchange_weak(&v->state, &s, n))
			break;
	}
	if (s & VEC_BLOCKED)
		r = s & VEC_PENDING ? VEC_COALESCED : VEC_QUEUED;
	else
		r = vec_deliver(q, vector, v, s) ?: VEC_DELIVERED;
out:
	vec_leave(v, e);
	return r;
}

/*
 * Clears a blocking bit; if that leaves the vector open with something
 * pending (or an INTx line still asserted, as vfio-pci re-checks the
 * line on unmask), takes it and delivers.  Returns 1 when it delivered.
 */
int vec_unblock(struct irq_index *q, uint32_t vector, uint32_t bit)
{
	struct irq_vec *v = &q->vec[vector];
	uint32_t s, n;
	bool fire;
	int r = 0;
	unsigned int e = vec_enter(v);

	s = atomic_load(&v->state);
	do {
		n = s & ~bit;
		fire = !(n & VEC_BLOCKED) && (n & (VEC_PENDING | VEC_LEVEL)) &&
		       vec_live(n);
		if (fire) {
			n &= ~VEC_PENDING;
			if (n & VEC_AUTOMASK)
				n |= VEC_MASKED;
		}
	} while (!atomic_compare_exchange_weak(&v->state, &s, n));
	if (fire)
		r = vec_deliver(q, vector, v, n) ?: 1;
	vec_leave(v, e);
	return r;
}

void vec_block(struct irq_index *q, uint32_t vector, uint32_t bit)
{
	atomic_fetch_or(&q->vec[vector].state, bit);
}

/* SET_IRQS TRIGGER with NONE/BOOL: delivers, masked or not, as vfio-pci. */
int vec_loopback(struct irq_index *q, uint32_t vector)
{
	struct irq_vec *v = &q->vec[vector];
	uint32_t s;
	int r = 0;
	unsigned int e = vec_enter(v);

	s = atomic_load(&v->state);
	if (vec_live(s) && !(s & VEC_HELD))
		r = vec_deliver(q, vector, v, s);
	vec_leave(v, e);
	return r;
}

/*
 * Changes state bits other than the raise machinery's.  A vector that
 * can no longer deliver drops what it had pending: an interrupt raised
 * for an eventfd the client took away, or a disabled index, is gone.
 */
void vec_update(struct irq_index *q, uint32_t vector, uint32_t clear,
		uint32_t set)
{
	struct irq_vec *v = &q->vec[vector];
	uint32_t s = atomic_load(&v->state), n;

	do {
		n = (s & ~clear) | set;
		if (!vec_live(n))
			n &= ~VEC_PENDING;
	} while (!atomic_compare_exchange_weak(&v->state, &s, n));
}

/* Dispatch thread only: installs fd (or none) and closes the old one. */
void vec_set_fd(struct irq_index *q, uint32_t vector, int fd)
{
	struct irq_vec *v = &q->vec[vector];
	int old;

	if (fd < 0)
		vec_update(q, vector, VEC_FD, 0);
	old = atomic_exchange(&v->efd, fd);
	if (fd >= 0)
		vec_update(q, vector, 0, VEC_FD);
	if (old >= 0) {
		vec_quiesce(v);
		close(old);
	}
}
