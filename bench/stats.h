/* SPDX-License-Identifier: MIT */
/* Timing and order statistics shared by the benchmarks. */
#ifndef UVFIO_BENCH_STATS_H
#define UVFIO_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

uint64_t bench_now_ns(void);
/* Sorts v in place and returns its p-th percentile (p in 0..100). */
uint64_t bench_pct(uint64_t *v, size_t n, unsigned int p);
static inline uint64_t bench_median(uint64_t *v, size_t n)
{
	return bench_pct(v, n, 50);
}
/* Pins the calling thread (and what it forks later) to CPU 0. */
void bench_pin_cpu0(void);
/* Back to every CPU, for what comes after a pinned part. */
void bench_unpin(void);

#endif
