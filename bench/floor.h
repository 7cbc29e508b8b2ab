/* SPDX-License-Identifier: MIT */
/*
 * The eventfd floors of the wake-up benchmarks (irq_user, doorbell): a
 * thread blocked on an eventfd, in read() or in epoll_wait() then
 * read(), counts each write; the writer spins until the count moves.
 */
#ifndef UVFIO_BENCH_FLOOR_H
#define UVFIO_BENCH_FLOOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_floor {
	int fd; /* the eventfd to write */
	int epfd; /* -1: the consumer blocks in read() */
	atomic_uint_fast64_t seen;
	pthread_t thread;
};

/* Exits the program on failure, as the benchmarks do. */
void bench_floor_start(struct bench_floor *f, bool epoll);
void bench_floor_stop(struct bench_floor *f);

/* Spins until *ctr reaches want. */
void bench_wait_for(atomic_uint_fast64_t *ctr, uint64_t want);
/*
 * Lets 20 us pass before a sample, so that its consumer is asleep: one
 * still busy with the last sample would see the next without a wake-up,
 * and that is not what is measured.
 */
void bench_gap(void);
/* n samples: write 1 to fd, spin until *seen moved; ns each in lat. */
void bench_efd_round(int fd, atomic_uint_fast64_t *seen, uint64_t *lat,
		     size_t n);

#endif
