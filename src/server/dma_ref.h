/* SPDX-License-Identifier: MIT */
/*
 * Who uses a DMA window, without a shared atomic on the device's path.
 *
 * Each thread that takes DMA references owns a slot: a sequence count,
 * odd while the thread looks a window up, and a few entries naming the
 * IOVA ranges it holds, and of which table, so that neither taking nor
 * dropping a reference touches the window.  A lookup and the claim of an
 * entry happen inside the odd section, with plain stores to the thread's
 * own slot.  A writer that took a window out of the table waits for every
 * section under way to end (a grace period), then for every entry
 * holding IOVAs of the window to be dropped.
 *
 * A grace period needs the readers' stores of their sections seen: the
 * writer gets that from membarrier(), which costs a system call.  It
 * spares it when every other slot is marked idle: a grace period with
 * membarrier() marks the slots that had no section since the one before,
 * and a reader that finds its slot marked clears the mark and fences
 * (once), so that it and the writer order their stores and loads
 * themselves.  Where membarrier() is missing, readers and writers fence.
 *
 * A thread holding more references than its slot has entries counts the
 * rest in the window's own atomic count (dma.c).
 */
#ifndef UVFIO_SERVER_DMA_REF_H
#define UVFIO_SERVER_DMA_REF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define DMA_HELD 15

struct dma_held {
	_Atomic(const void *) table; /* NULL: free */
	_Atomic uint64_t first; /* the IOVAs held */
	_Atomic uint64_t last;
};

struct dma_slot {
	_Atomic uint64_t seq; /* odd: in a lookup */
	atomic_uint idle; /* marked by a writer: fence at the next section */
	struct dma_held held[DMA_HELD];
	_Atomic uint64_t seen; /* seq at the last grace period; writers */
	struct dma_slot *next; /* every slot ever made */
	atomic_bool owned; /* by a live thread */
} __attribute__((aligned(64)));

extern __thread struct dma_slot *dma_my_slot
	__attribute__((tls_model("initial-exec")));
/* No membarrier(): readers fence. */
extern bool dma_ref_fence;
/* Writers waiting for an entry to drop: a put wakes them. */
extern atomic_uint dma_ref_waiters;

struct dma_slot *dma_slot_register(void);
void dma_ref_wake(void);

/* Enters a section: returns the slot, and in *v the count to exit with. */
static inline struct dma_slot *dma_section_enter(uint64_t *v)
{
	struct dma_slot *s = dma_my_slot;

	if (__builtin_expect(!s, 0))
		s = dma_slot_register();
	*v = atomic_load_explicit(&s->seq, memory_order_relaxed) + 1;
	atomic_store_explicit(&s->seq, *v, memory_order_relaxed);
	/* Marked idle, or no membarrier() (then always marked). */
	if (__builtin_expect(atomic_load_explicit(&s->idle,
						  memory_order_relaxed),
			     0)) {
		/* The mark's clearing is seen before the lookup reads. */
		if (!dma_ref_fence)
			atomic_store_explicit(&s->idle, 0,
					      memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
	} else {
		atomic_signal_fence(memory_order_seq_cst);
	}
	return s;
}

static inline void dma_section_exit(struct dma_slot *s, uint64_t v)
{
	atomic_store_explicit(&s->seq, v + 1, memory_order_release);
}

/* An entry of s holding [first, last] of table, or NULL: none free. */
static inline struct dma_held *dma_hold(struct dma_slot *s, const void *table,
					uint64_t first, uint64_t last)
{
	for (unsigned int i = 0; i < DMA_HELD; i++) {
		struct dma_held *h = &s->held[i];

		if (!atomic_load_explicit(&h->table, memory_order_relaxed)) {
			atomic_store_explicit(&h->first, first,
					      memory_order_relaxed);
			atomic_store_explicit(&h->last, last,
					      memory_order_relaxed);
			atomic_store_explicit(&h->table, table,
					      memory_order_release);
			return h;
		}
	}
	return NULL;
}

/* Any thread may drop an entry, not only the slot's owner. */
static inline void dma_unhold(struct dma_held *h)
{
	atomic_store_explicit(&h->table, NULL, memory_order_release);
	if (__builtin_expect(dma_ref_fence, 0))
		atomic_thread_fence(memory_order_seq_cst);
	else
		atomic_signal_fence(memory_order_seq_cst);
	if (__builtin_expect(atomic_load_explicit(&dma_ref_waiters,
						  memory_order_relaxed),
			     0))
		dma_ref_wake();
}

/*
 * Writer side.  dma_ref_wait_begin() before looking at entries and
 * counts: it counts the caller in dma_ref_waiters and waits for the
 * lookups under way; dma_ref_wait_end() after.
 */
void dma_ref_wait_begin(void);
void dma_ref_wait_end(void);
/* Waits for every section under way to end (also in wait_begin). */
void dma_grace_period(void);
/*
 * Whether an entry of table holds an IOVA of [range[0], range[1]], or
 * with range NULL, any.
 */
bool dma_ref_held(const uint64_t *range, const void *table);
/*
 * Sleeps until a put or dma_ref_wake(), at most ms milliseconds; between
 * dma_ref_wait_begin() and _end(), with the condition checked again.
 */
void dma_ref_sleep(bool (*busy)(void *arg), void *arg, unsigned int ms);

#endif
