// SPDX-License-Identifier: MIT
/* The per-thread DMA reference slots of dma_ref.h. */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dma_ref.h"
#include "proto/hot.h"
#include "proto/lock.h"

__thread struct dma_slot *dma_my_slot
	__attribute__((tls_model("initial-exec")));
bool dma_ref_fence;
atomic_uint dma_ref_waiters;

static _Atomic(struct dma_slot *) slots;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static bool use_membarrier;
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
/* One grace period at a time: each sees the marks of the last whole. */
static struct uvfio_lock gp_lock = UVFIO_LOCK_INIT;
/* The last grace period skipped membarrier(): a sleep makes up for it. */
static __thread bool barrier_owed __attribute__((tls_model("initial-exec")));
static pthread_cond_t released;

/* A thread that ends gives its slot to the next; its entries stay. */
static void slot_release(void *p)
{
	struct dma_slot *s = p;

	dma_my_slot = NULL;
	atomic_store_explicit(&s->owned, false, memory_order_release);
}

static void setup(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&released, &a);
	pthread_condattr_destroy(&a);
	pthread_key_create(&slot_key, slot_release);
	use_membarrier =
		syscall(__NR_membarrier,
			MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
	dma_ref_fence = !use_membarrier;
}

struct dma_slot *dma_slot_register(void)
{
	struct dma_slot *s, *head;

	pthread_once(&once, setup);
	for (s = atomic_load(&slots); s; s = s->next) {
		bool no = false;

		if (atomic_compare_exchange_strong(&s->owned, &no, true))
			goto got;
	}
	s = aligned_alloc(64, sizeof(*s));
	if (!s)
		abort(); /* 1 KiB once per thread */
	memset(s, 0, sizeof(*s));
	atomic_store(&s->idle, 1);
	atomic_store(&s->owned, true);
	head = atomic_load(&slots);
	do
		s->next = head;
	while (!atomic_compare_exchange_weak(&slots, &head, s));
got:
	pthread_setspecific(slot_key, s);
	dma_my_slot = s;
	return s;
}

HOT static void barrier_all(void)
{
	if (!use_membarrier ||
	    syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		atomic_thread_fence(memory_order_seq_cst);
}

/* Whether every slot but the caller's is marked idle. */
HOT static bool all_idle(const struct dma_slot *me)
{
	for (struct dma_slot *s = atomic_load(&slots); s; s = s->next)
		if (s != me && !atomic_load_explicit(&s->idle,
						     memory_order_relaxed))
			return false;
	return true;
}

/*
 * Marks the slots that had no section since the last grace period: the
 * membarrier() that follows makes their next section see the mark.
 */
HOT static void mark_idle(const struct dma_slot *me)
{
	for (struct dma_slot *s = atomic_load(&slots); s; s = s->next) {
		uint64_t v = atomic_load_explicit(&s->seq,
						  memory_order_relaxed);

		if (s != me && !(v & 1) &&
		    v == atomic_load_explicit(&s->seen, memory_order_relaxed))
			atomic_store_explicit(&s->idle, 1,
					      memory_order_relaxed);
	}
}

/*
 * Without membarrier(), a section whose stores the writer cannot see yet
 * may have read the table before the change.  Every other slot marked
 * idle rules that out: each such reader fences before its lookup, so
 * either the writer's loads (after its fence) see the odd count, or the
 * lookup sees the change.
 */
HOT void dma_grace_period(void)
{
	struct dma_slot *me = dma_my_slot;

	pthread_once(&once, setup);
	uvfio_lock(&gp_lock);
	atomic_thread_fence(memory_order_seq_cst);
	if (use_membarrier && all_idle(me)) {
		barrier_owed = true;
	} else {
		if (use_membarrier)
			mark_idle(me);
		barrier_all();
		barrier_owed = false;
	}
	for (struct dma_slot *s = atomic_load(&slots); s; s = s->next) {
		uint64_t v =
			atomic_load_explicit(&s->seq, memory_order_acquire);
		unsigned int spins = 0;

		/* A lookup is short; its thread may be off the CPU, though. */
		while ((v & 1) && atomic_load_explicit(
					  &s->seq, memory_order_acquire) == v) {
			if (++spins < 64)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
		atomic_store_explicit(&s->seen, atomic_load(&s->seq),
				      memory_order_relaxed);
	}
	uvfio_unlock(&gp_lock);
}

HOT void dma_ref_wait_begin(void)
{
	atomic_fetch_add(&dma_ref_waiters, 1);
	dma_grace_period();
}

HOT void dma_ref_wait_end(void)
{
	atomic_fetch_sub(&dma_ref_waiters, 1);
}

HOT bool dma_ref_held(const uint64_t *range, const void *table)
{
	for (struct dma_slot *s = atomic_load(&slots); s; s = s->next) {
		for (unsigned int i = 0; i < DMA_HELD; i++) {
			const struct dma_held *h = &s->held[i];

			if (atomic_load_explicit(&h->table,
						 memory_order_acquire) != table)
				continue;
			if (!range ||
			    (atomic_load_explicit(&h->first,
						  memory_order_relaxed) <=
				     range[1] &&
			     atomic_load_explicit(&h->last,
						  memory_order_relaxed) >=
				     range[0]))
				return true;
		}
	}
	return false;
}

HOT void dma_ref_wake(void)
{
	pthread_once(&once, setup);
	pthread_mutex_lock(&wait_lock);
	pthread_cond_broadcast(&released);
	pthread_mutex_unlock(&wait_lock);
}

void dma_ref_sleep(bool (*busy)(void *arg), void *arg, unsigned int ms)
{
	struct timespec t;

	/* A busy holder may not see the waiter without it (dma_unhold). */
	if (barrier_owed) {
		barrier_owed = false;
		barrier_all();
		if (!busy(arg))
			return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&wait_lock);
	if (busy(arg))
		pthread_cond_timedwait(&released, &wait_lock, &t);
	pthread_mutex_unlock(&wait_lock);
}
