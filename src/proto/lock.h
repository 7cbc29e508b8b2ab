/* SPDX-License-Identifier: MIT */
/*
 * A mutex for the locks of the request hot paths (the device's send and
 * DMA table locks, the client's request lock).  Uncontended, taking and
 * dropping it is one atomic each, inline; pthread_mutex_lock() is a call
 * into libc with its type checks, and where each system call flushes the
 * caches and the TLB its code costs more than the lock itself.
 * Contended, it sleeps on a futex (the three-state mutex: 0 free, 1 held,
 * 2 held with waiters).  Not recursive, no condition variables.
 */
#ifndef UVFIO_PROTO_LOCK_H
#define UVFIO_PROTO_LOCK_H

#include <stdatomic.h>

struct uvfio_lock {
	atomic_int v;
};

#define UVFIO_LOCK_INIT \
	{               \
		0       \
	}

void uvfio_lock_wait(struct uvfio_lock *l);
void uvfio_lock_wake(struct uvfio_lock *l);

static inline void uvfio_lock_init(struct uvfio_lock *l)
{
	atomic_init(&l->v, 0);
}

static inline void uvfio_lock(struct uvfio_lock *l)
{
	int free = 0;

	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
				     &l->v, &free, 1, memory_order_acquire,
				     memory_order_relaxed),
			     0))
		uvfio_lock_wait(l);
}

static inline void uvfio_unlock(struct uvfio_lock *l)
{
	if (__builtin_expect(atomic_exchange_explicit(
				     &l->v, 0, memory_order_release) != 1,
			     0))
		uvfio_lock_wake(l);
}

#endif
