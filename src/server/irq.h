/* SPDX-License-Identifier: MIT */
/*
 * Interrupts, device side.  A frontend (irq.c, irq_set.c: SET_IRQS and
 * per-index state) drives per-vector state machines (irq_vec.c), each
 * delivered by a small backend (irq_backend.c: eventfd, emulated, IMS).
 * irq_watch.c is the thread that turns INTx unmask eventfds into UNMASK.
 *
 * A vector's state is one atomic word, so the device raises without a
 * lock.  Its eventfd and backend data are read by raisers inside a busy
 * section (the busy counters); whoever replaces them (the dispatch
 * thread for eventfds, the device for backends) first publishes the
 * change, then flips the epoch and waits for the old epoch's count to
 * drop to 0 before closing or rewriting the old one.  With sequentially
 * consistent atomics a raiser that saw the old value was already counted
 * when the replacer looked, so nothing is closed or rewritten under a
 * raiser.
 */
#ifndef UVFIO_SERVER_IRQ_H
#define UVFIO_SERVER_IRQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "priv.h"

#define VEC_ON (1u << 0) /* index enabled, vector usable */
#define VEC_FD (1u << 1) /* an eventfd is assigned */
#define VEC_MASKED (1u << 2) /* masked by the client */
#define VEC_HELD (1u << 3) /* backend being switched: raises wait */
#define VEC_PENDING (1u << 4) /* raised while masked or held */
#define VEC_LEVEL (1u << 5) /* INTx line asserted: unmask refires */
#define VEC_AUTOMASK (1u << 6) /* INTx: every delivery masks */
#define VEC_FROZEN (1u << 7) /* migration: the device is stopped */
#define VEC_KIND_SHIFT 8
#define VEC_KIND (3u << VEC_KIND_SHIFT)
#define VEC_BLOCKED (VEC_MASKED | VEC_HELD | VEC_FROZEN)

enum vec_kind { VK_EVENTFD, VK_EMULATED, VK_IMS, VK_NR };

struct irq_vec {
	_Atomic uint32_t state;
	/*
	 * Raisers between reading and using efd, counted in the slot of the
	 * epoch they saw: a replacer flips the epoch and waits only for the
	 * old slot, so raisers that keep coming cannot starve it.
	 */
	atomic_uint busy[2];
	atomic_uint epoch;
	atomic_int efd; /* -1: none */
	union {
		struct {
			uvfio_irq_emulated_fn fn;
			void *priv;
		} emu;
		struct {
			struct uvfio_ims *ims;
			uint32_t slot;
		} ims;
	} be;
};

static inline unsigned int vec_enter(struct irq_vec *v)
{
	unsigned int e = atomic_load(&v->epoch) & 1;

	atomic_fetch_add(&v->busy[e], 1);
	return e;
}

static inline void vec_leave(struct irq_vec *v, unsigned int e)
{
	atomic_fetch_sub(&v->busy[e], 1);
}

/* What vec_raise() did (> 0), so tests can account for every raise. */
enum { VEC_DELIVERED = 1, VEC_QUEUED, VEC_COALESCED };

static inline enum vec_kind vec_kind(uint32_t s)
{
	return (enum vec_kind)((s & VEC_KIND) >> VEC_KIND_SHIFT);
}

/* Whether a raise can land: enabled, with an eventfd unless emulated. */
static inline bool vec_live(uint32_t s)
{
	return (s & VEC_ON) && ((s & VEC_FD) || vec_kind(s) == VK_EMULATED);
}

/* irq_vec.c */
int vec_raise(struct irq_index *q, uint32_t vector, uint32_t level);
int vec_unblock(struct irq_index *q, uint32_t vector, uint32_t bit);
void vec_block(struct irq_index *q, uint32_t vector, uint32_t bit);
int vec_loopback(struct irq_index *q, uint32_t vector);
void vec_update(struct irq_index *q, uint32_t vector, uint32_t clear,
		uint32_t set);
void vec_set_fd(struct irq_index *q, uint32_t vector, int fd);
void vec_quiesce(struct irq_vec *v);

/* irq_backend.c: deliver with the caller inside v's busy section. */
int vec_deliver(struct irq_index *q, uint32_t vector, struct irq_vec *v,
		uint32_t state);
int vec_set_backend(struct irq_index *q, uint32_t vector, enum vec_kind k,
		    uvfio_irq_emulated_fn fn, void *priv, struct uvfio_ims *ims,
		    uint32_t slot);
void ims_unbind_all(struct irq_index *q);

/* irq_watch.c: takes fd (-1 stops watching). */
int irq_watch_set(struct uvfio_dev *dev, int fd);
bool irq_watch_active(const struct uvfio_dev *dev);
void irq_watch_free(struct uvfio_dev *dev);

/* irq.c */
/* The index holding vector, or NULL when either is out of range. */
struct irq_index *irq_find(struct uvfio_dev *dev, unsigned int index,
			   uint32_t vector);
void irq_disable(struct irq_index *q);
void irq_enable(struct irq_index *q, uint32_t nvec);
int irq_mode_get(struct uvfio_dev *dev);

#endif
