// SPDX-License-Identifier: MIT
/*
 * struct uvfio_lock (proto/lock.h): mutual exclusion under contention, so
 * that the futex half (waiters marked, woken at unlock) runs, and the
 * uncontended fast path.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "proto/lock.h"

#define THREADS 4
#define ROUNDS 200000

static struct uvfio_lock lock = UVFIO_LOCK_INIT;
/* Plain, not atomic: only the lock keeps the updates whole. */
static uint64_t counter, inside;
static int overlaps;

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		uvfio_lock(&lock);
		if (inside++)
			overlaps++;
		counter++;
		/* Now and then hold it across a yield: others must sleep. */
		if (i % 1024 == 0)
			sched_yield();
		inside--;
		uvfio_unlock(&lock);
	}
	return NULL;
}

static void test_contended(void **state)
{
	pthread_t t[THREADS];

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(overlaps, 0);
	assert_int_equal(counter, (uint64_t)THREADS * ROUNDS);
	/* Everyone gone: the lock is free, with no waiter left marked. */
	assert_int_equal(atomic_load(&lock.v), 0);
}

static atomic_int waiter_in;

static void *waiter(void *arg)
{
	struct uvfio_lock *l = arg;

	atomic_store(&waiter_in, 1);
	uvfio_lock(l); /* sleeps until the main thread lets go */
	atomic_store(&waiter_in, 2);
	uvfio_unlock(l);
	return NULL;
}

/* A waiter marks the lock (2) and sleeps; the unlock wakes it. */
static void test_wait_wake(void **state)
{
	struct uvfio_lock l = UVFIO_LOCK_INIT;
	struct timespec ms = { 0, 1000000 };
	pthread_t t;
	int i;

	(void)state;
	uvfio_lock(&l);
	assert_int_equal(pthread_create(&t, NULL, waiter, &l), 0);
	for (i = 0; i < 5000 && atomic_load(&l.v) != 2; i++)
		nanosleep(&ms, NULL);
	assert_int_equal(atomic_load(&l.v), 2);
	assert_int_equal(atomic_load(&waiter_in), 1);
	uvfio_unlock(&l);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&waiter_in), 2);
	assert_int_equal(atomic_load(&l.v), 0);
}

static void test_uncontended(void **state)
{
	struct uvfio_lock l;

	(void)state;
	uvfio_lock_init(&l);
	uvfio_lock(&l);
	assert_int_equal(atomic_load(&l.v), 1);
	uvfio_unlock(&l);
	assert_int_equal(atomic_load(&l.v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uncontended),
		cmocka_unit_test(test_wait_wake),
		cmocka_unit_test(test_contended),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
