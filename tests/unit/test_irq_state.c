// SPDX-License-Identifier: MIT
/*
 * The per-vector interrupt state machine (src/server/irq_vec.c) and its
 * backends, driven directly: no client, vectors turned on with the
 * frontend's own irq_enable().
 *
 * The accounting invariant of the race tests: every raise is delivered
 * at once (VEC_DELIVERED), or sets the single pending bit (VEC_QUEUED)
 * which exactly one later unblock delivers, or finds the bit already set
 * (VEC_COALESCED).  So once everything is unmasked and nothing is
 * pending, deliveries == raises - coalesced, and no raise is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/irq.h"

#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define RACE_RAISES 200000
#define RACE_TOGGLES 20000

struct counter {
	atomic_ulong n;
	struct uvfio_dev *dev;
	unsigned int index;
	uint32_t vector;
	atomic_bool wrong; /* called with other arguments */
};

static void count_fn(struct uvfio_dev *dev, void *priv, unsigned int index,
		     uint32_t vector)
{
	struct counter *c = priv;

	if (dev != c->dev || index != c->index || vector != c->vector)
		atomic_store(&c->wrong, true);
	atomic_fetch_add(&c->n, 1);
}

static struct uvfio_dev *new_dev(void)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10f0,
						  .irq_pin = 1 };
	struct uvfio_dev *dev;

	dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, NULL, NULL);
	assert_non_null(dev);
	assert_int_equal(uvfio_dev_set_irq_count(dev, INTX, 1), 0);
	assert_int_equal(uvfio_dev_set_irq_count(dev, MSIX, 8), 0);
	return dev;
}

static struct irq_index *emulated(struct uvfio_dev *dev, unsigned int index,
				  uint32_t vector, struct counter *c)
{
	struct irq_index *q = &dev->irqs[index];

	c->dev = dev;
	c->index = index;
	c->vector = vector;
	assert_int_equal(
		uvfio_dev_irq_set_emulated(dev, index, vector, count_fn, c), 0);
	irq_enable(q, index == INTX ? 1 : q->count);
	return q;
}

static uint64_t efd_take(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

static void test_mask_pending_unmask(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct counter c = { 0 };
	struct irq_index *q;

	/* Not enabled yet: refused, and nothing is kept pending. */
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 3), -ENOENT);
	q = emulated(dev, MSIX, 3, &c);
	assert_int_equal(uvfio_dev_irq_status(dev, MSIX, 3), UVFIO_IRQ_LIVE);
	assert_int_equal(vec_raise(q, 3, 0), VEC_DELIVERED);
	assert_int_equal(atomic_load(&c.n), 1);
	vec_block(q, 3, VEC_MASKED);
	assert_int_equal(vec_raise(q, 3, 0), VEC_QUEUED);
	assert_int_equal(vec_raise(q, 3, 0), VEC_COALESCED);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 3), 0);
	assert_int_equal(atomic_load(&c.n), 1);
	assert_int_equal(uvfio_dev_irq_status(dev, MSIX, 3),
			 UVFIO_IRQ_LIVE | UVFIO_IRQ_MASKED | UVFIO_IRQ_PENDING);
	/* One delivery for all the raises while masked, then none. */
	assert_int_equal(vec_unblock(q, 3, VEC_MASKED), 1);
	assert_int_equal(atomic_load(&c.n), 2);
	assert_int_equal(vec_unblock(q, 3, VEC_MASKED), 0);
	assert_int_equal(atomic_load(&c.n), 2);
	/* Withdrawn while masked: the unmask delivers nothing. */
	vec_block(q, 3, VEC_MASKED);
	assert_int_equal(vec_raise(q, 3, 0), VEC_QUEUED);
	assert_int_equal(uvfio_dev_irq_clear_pending(dev, MSIX, 3), 1);
	assert_int_equal(uvfio_dev_irq_clear_pending(dev, MSIX, 3), 0);
	assert_int_equal(vec_unblock(q, 3, VEC_MASKED), 0);
	/* Pending dies with the index: re-enabled, nothing fires. */
	vec_block(q, 3, VEC_MASKED);
	assert_int_equal(vec_raise(q, 3, 0), VEC_QUEUED);
	irq_disable(q);
	assert_int_equal(uvfio_dev_irq_status(dev, MSIX, 3), 0);
	assert_int_equal(vec_raise(q, 3, 0), -ENOENT);
	irq_enable(q, q->count);
	assert_int_equal(vec_unblock(q, 3, VEC_MASKED), 0);
	assert_int_equal(atomic_load(&c.n), 2);
	assert_false(atomic_load(&c.wrong));
	/* Vectors with neither an eventfd nor a backend cannot land. */
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 2), -ENOENT);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 8), -EINVAL);
	assert_int_equal(uvfio_dev_irq_trigger(dev, VFIO_PCI_NUM_IRQS, 0),
			 -EINVAL);
	uvfio_dev_destroy(dev);
}

static void test_intx_automask_and_level(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct counter c = { 0 };
	struct irq_index *q = emulated(dev, INTX, 0, &c);

	assert_int_equal(vec_raise(q, 0, 0), VEC_DELIVERED);
	assert_true(uvfio_dev_irq_status(dev, INTX, 0) & UVFIO_IRQ_MASKED);
	assert_int_equal(vec_raise(q, 0, 0), VEC_QUEUED);
	/* The pending one goes out on unmask, and masks again. */
	assert_int_equal(vec_unblock(q, 0, VEC_MASKED), 1);
	assert_int_equal(atomic_load(&c.n), 2);
	assert_true(uvfio_dev_irq_status(dev, INTX, 0) & UVFIO_IRQ_MASKED);
	assert_int_equal(vec_unblock(q, 0, VEC_MASKED), 0);
	assert_false(uvfio_dev_irq_status(dev, INTX, 0) & UVFIO_IRQ_MASKED);
	/* A level stays: every unmask while asserted delivers again. */
	assert_int_equal(uvfio_dev_intx_set_level(dev, true), 0);
	assert_int_equal(atomic_load(&c.n), 3);
	assert_int_equal(vec_unblock(q, 0, VEC_MASKED), 1);
	assert_int_equal(vec_unblock(q, 0, VEC_MASKED), 1);
	assert_int_equal(atomic_load(&c.n), 5);
	assert_int_equal(uvfio_dev_intx_set_level(dev, false), 0);
	assert_int_equal(vec_unblock(q, 0, VEC_MASKED), 0);
	assert_int_equal(atomic_load(&c.n), 5);
	/* Deasserted while masked and pending: withdrawn. */
	assert_int_equal(vec_raise(q, 0, 0), VEC_DELIVERED);
	assert_int_equal(uvfio_dev_intx_set_level(dev, true), 0);
	assert_int_equal(uvfio_dev_intx_set_level(dev, false), 0);
	assert_int_equal(vec_unblock(q, 0, VEC_MASKED), 0);
	assert_int_equal(atomic_load(&c.n), 6);
	assert_false(atomic_load(&c.wrong));
	uvfio_dev_destroy(dev);
}

struct race {
	struct irq_index *q;
	uint32_t vector;
	atomic_bool stop, stop_raising;
	atomic_ulong toggles;
	atomic_ulong raises, delivered, queued, coalesced, errors;
	atomic_ulong unblock_deliveries;
	struct counter *other; /* backend switching: the second counter */
	struct counter *first;
	/* The interleaving the test is about has happened at least once. */
	bool (*happened)(struct race *r);
};

static void *raiser(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop_raising)) {
		int ret = vec_raise(r->q, r->vector, 0);

		atomic_fetch_add(&r->raises, 1);
		if (ret == VEC_DELIVERED)
			atomic_fetch_add(&r->delivered, 1);
		else if (ret == VEC_QUEUED)
			atomic_fetch_add(&r->queued, 1);
		else if (ret == VEC_COALESCED)
			atomic_fetch_add(&r->coalesced, 1);
		else
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

static void *masker(void *arg)
{
	struct race *r = arg;
	bool automask = atomic_load(&r->q->vec[r->vector].state) & VEC_AUTOMASK;
	unsigned int x = 1;

	while (!atomic_load(&r->stop)) {
		if (!automask)
			vec_block(r->q, r->vector, VEC_MASKED);
		/*
		 * Masked for a varying while: long enough for raises to land
		 * meanwhile, or so short that one lands mid-unmask.
		 */
		x = x * 1103515245u + 12345u;
		for (volatile unsigned int i = 0; i < (x >> 16) % 256; i++)
			;
		atomic_fetch_add(&r->unblock_deliveries,
				 vec_unblock(r->q, r->vector, VEC_MASKED));
		atomic_fetch_add(&r->toggles, 1);
	}
	return NULL;
}

static void run_race(struct race *r, void *(*other)(void *))
{
	pthread_t t[3];

	assert_int_equal(pthread_create(&t[2], NULL, other, r), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, raiser, r), 0);
	/*
	 * Both sides must have run a while, and the race must have
	 * happened, whatever the scheduler does (a loaded machine may take
	 * longer to interleave them).
	 */
	for (int ms = 0; ms < 30000; ms++) {
		if (atomic_load(&r->raises) >= RACE_RAISES &&
		    atomic_load(&r->toggles) >= RACE_TOGGLES &&
		    (!r->happened || r->happened(r)))
			break;
		usleep(1000);
	}
	atomic_store(&r->stop_raising, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	atomic_store(&r->stop, true);
	pthread_join(t[2], NULL);
	assert_true(atomic_load(&r->raises) >= RACE_RAISES);
	assert_true(atomic_load(&r->toggles) >= RACE_TOGGLES);
	/* Quiesce: open the vector; one pending at most can come out. */
	for (int i = 0; i < 3; i++)
		atomic_fetch_add(
			&r->unblock_deliveries,
			vec_unblock(r->q, r->vector, VEC_MASKED | VEC_HELD));
	assert_false(atomic_load(&r->q->vec[r->vector].state) & VEC_PENDING);
	assert_int_equal(atomic_load(&r->errors), 0);
	assert_int_equal(atomic_load(&r->delivered) + atomic_load(&r->queued) +
				 atomic_load(&r->coalesced),
			 atomic_load(&r->raises));
}

static bool some_queued(struct race *r)
{
	return atomic_load(&r->queued) > 0;
}

static bool both_backends(struct race *r)
{
	return atomic_load(&r->first->n) > 0 && atomic_load(&r->other->n) > 0;
}

static void race_mask_unmask(unsigned int index, uint32_t vector)
{
	struct uvfio_dev *dev = new_dev();
	struct counter c = { 0 };
	struct race r = { .vector = vector, .happened = some_queued };
	unsigned long calls;

	r.q = emulated(dev, index, vector, &c);
	run_race(&r, masker);
	calls = atomic_load(&c.n);
	/* Each pending bit set was delivered by exactly one unblock. */
	assert_int_equal(atomic_load(&r.queued),
			 atomic_load(&r.unblock_deliveries));
	assert_int_equal(calls, atomic_load(&r.delivered) +
					atomic_load(&r.unblock_deliveries));
	assert_int_equal(calls,
			 atomic_load(&r.raises) - atomic_load(&r.coalesced));
	/* The race must have happened for the test to mean anything. */
	assert_true(atomic_load(&r.queued) > 0);
	assert_false(atomic_load(&c.wrong));
	uvfio_dev_destroy(dev);
}

static void test_race_msix(void **state)
{
	race_mask_unmask(MSIX, 5);
}

static void test_race_intx(void **state)
{
	race_mask_unmask(INTX, 0);
}

/* Backend switches under raises: raises meanwhile are held, not lost. */
static void *switcher(void *arg)
{
	struct race *r = arg;
	struct uvfio_dev *dev = r->q->dev;
	bool second = false;

	while (!atomic_load(&r->stop)) {
		second = !second;
		for (volatile int i = 0; i < 200; i++)
			;
		/* No cmocka asserts off the main thread: count instead. */
		if (uvfio_dev_irq_set_emulated(dev, r->q->index, r->vector,
					       count_fn,
					       second ? r->other : r->first))
			atomic_fetch_add(&r->errors, 1);
		atomic_fetch_add(&r->toggles, 1);
	}
	return NULL;
}

static void test_race_backend_switch(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct counter a = { 0 }, b = { 0 };
	struct race r = { .vector = 1, .first = &a, .other = &b,
			  .happened = both_backends };

	b.dev = dev;
	b.index = MSIX;
	b.vector = 1;
	r.q = emulated(dev, MSIX, 1, &a);
	run_race(&r, switcher);
	assert_int_equal(atomic_load(&a.n) + atomic_load(&b.n),
			 atomic_load(&r.raises) - atomic_load(&r.coalesced));
	assert_true(atomic_load(&a.n) > 0 && atomic_load(&b.n) > 0);
	assert_false(atomic_load(&a.wrong) || atomic_load(&b.wrong));
	uvfio_dev_destroy(dev);
}

/*
 * Eventfds replaced under raises (the dispatch thread's job): every raise
 * lands in some eventfd of the vector, none hits a closed fd.  Each
 * eventfd is watched through a dup of ours, since the old one is closed.
 */
#define REPLACES 2000

static void test_race_fd_replace(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct irq_index *q = &dev->irqs[MSIX];
	struct race r = { .q = q, .vector = 2 };
	int *keep = calloc(REPLACES + 1, sizeof(int));
	pthread_t t[2];
	uint64_t sum = 0;

	assert_non_null(keep);
	irq_enable(q, q->count);
	for (int i = 0; i <= REPLACES; i++) {
		int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		assert_true(e >= 0);
		keep[i] = dup(e);
		vec_set_fd(q, 2, e);
		if (!i)
			for (int j = 0; j < 2; j++)
				assert_int_equal(
					pthread_create(&t[j], NULL, raiser, &r),
					0);
		else
			sched_yield();
	}
	atomic_store(&r.stop_raising, true);
	for (int j = 0; j < 2; j++)
		pthread_join(t[j], NULL);
	for (int i = 0; i <= REPLACES; i++) {
		sum += efd_take(keep[i]);
		close(keep[i]);
	}
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_true(atomic_load(&r.raises) > 0);
	assert_int_equal(atomic_load(&r.delivered), atomic_load(&r.raises));
	assert_int_equal(sum, atomic_load(&r.raises));
	free(keep);
	uvfio_dev_destroy(dev);
}

static void test_ims(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct uvfio_ims *ims = uvfio_ims_new(8);
	struct uvfio_ims_entry e;
	struct irq_index *q = &dev->irqs[MSIX];
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_non_null(ims);
	assert_true(fd >= 0);
	irq_enable(q, q->count);
	vec_set_fd(q, 4, fd);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 4, ims, 8), -EINVAL);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, INTX, 0, ims, 0), -EINVAL);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 4, ims, 6), 0);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 5, ims, 6), -EBUSY);
	assert_int_equal(uvfio_ims_program(ims, 6, 0xfee00000, 0x4021, 7), 0);
	assert_int_equal(uvfio_ims_get(ims, 6, &e), 0);
	assert_true(e.address == 0xfee00000 && e.data == 0x4021 &&
		    e.pasid == 7 && e.masked && !e.pending);
	/* Slots start masked: the raise waits in the slot. */
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 4), 0);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 4), 0);
	assert_int_equal(efd_take(fd), 0);
	assert_int_equal(uvfio_ims_get(ims, 6, &e), 0);
	assert_true(e.pending);
	assert_int_equal(uvfio_ims_set_mask(ims, 6, false), 0);
	assert_int_equal(efd_take(fd), 1);
	assert_int_equal(uvfio_ims_get(ims, 6, &e), 0);
	assert_true(!e.masked && !e.pending);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 4), 0);
	assert_int_equal(efd_take(fd), 1);
	/* The vector's own mask comes first, the slot's after. */
	vec_block(q, 4, VEC_MASKED);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 4), 0);
	assert_int_equal(uvfio_ims_set_mask(ims, 6, true), 0);
	assert_int_equal(vec_unblock(q, 4, VEC_MASKED), 1);
	assert_int_equal(efd_take(fd), 0);
	assert_int_equal(uvfio_ims_set_mask(ims, 6, false), 0);
	assert_int_equal(efd_take(fd), 1);
	/* Moving the vector frees the slot; back to a plain eventfd. */
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 4, ims, 2), 0);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 5, ims, 6), 0);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 4, NULL, 0), 0);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 4), 0);
	assert_int_equal(efd_take(fd), 1);
	assert_int_equal(uvfio_ims_set_mask(ims, 9, false), -EINVAL);
	assert_int_equal(uvfio_ims_program(ims, 8, 0, 0, 0), -EINVAL);
	assert_int_equal(uvfio_ims_get(ims, 8, &e), -EINVAL);
	uvfio_dev_destroy(dev);
	/* The store outlives the device; its slots were unbound. */
	assert_int_equal(uvfio_ims_set_mask(ims, 6, true), 0);
	assert_int_equal(uvfio_dev_irq_trigger(NULL, MSIX, 0), -EINVAL);
	uvfio_ims_free(ims);
	errno = 0;
	assert_null(uvfio_ims_new(0));
	assert_int_equal(errno, EINVAL);
	assert_null(uvfio_ims_new(UVFIO_IMS_MAX_SLOTS + 1));
}

static void test_msix_beyond_2048(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct uvfio_ims *ims = uvfio_ims_new(16), *small = uvfio_ims_new(2);
	struct irq_index *q = &dev->irqs[MSIX];
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_non_null(ims);
	assert_non_null(small);
	assert_int_equal(uvfio_dev_set_irq_count(dev, MSIX, 2049), -EINVAL);
	assert_int_equal(uvfio_dev_set_msix_ims(dev, 2048, ims, 0), -EINVAL);
	assert_int_equal(uvfio_dev_set_msix_ims(dev, 2048 + 13, ims, 4),
			 -EINVAL);
	assert_int_equal(uvfio_dev_set_msix_ims(dev, 2048 + 3, ims, 17),
			 -EINVAL);
	assert_int_equal(uvfio_dev_set_msix_ims(dev, 2048 + 12, ims, 4), 0);
	assert_int_equal(q->count, 2048 + 12);
	/* Past 2048 a vector is IMS-backed, whatever else is asked. */
	assert_int_equal(
		uvfio_dev_irq_set_emulated(dev, MSIX, 2050, count_fn, NULL),
		-EINVAL);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 2050, NULL, 0),
			 -EINVAL);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 2047, ims, 5),
			 -EBUSY);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 2050, small, 1), 0);
	irq_enable(q, q->count);
	vec_set_fd(q, 2059, fd);
	assert_int_equal(uvfio_ims_set_mask(ims, 15, false), 0);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 2059), 0);
	assert_int_equal(efd_take(fd), 1);
	assert_int_equal(uvfio_dev_irq_trigger(dev, MSIX, 2060), -EINVAL);
	/* A smaller count again releases the slots. */
	irq_disable(q);
	assert_int_equal(uvfio_dev_set_irq_count(dev, MSIX, 16), 0);
	assert_int_equal(uvfio_dev_irq_set_ims(dev, MSIX, 3, ims, 15), 0);
	uvfio_dev_destroy(dev);
	uvfio_ims_free(ims);
	uvfio_ims_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask_pending_unmask),
		cmocka_unit_test(test_intx_automask_and_level),
		cmocka_unit_test(test_race_msix),
		cmocka_unit_test(test_race_intx),
		cmocka_unit_test(test_race_backend_switch),
		cmocka_unit_test(test_race_fd_replace),
		cmocka_unit_test(test_ims),
		cmocka_unit_test(test_msix_beyond_2048),
	};

	return cmocka_run_group_tests_name("unit_irq_state", tests, NULL, NULL);
}
