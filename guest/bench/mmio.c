// SPDX-License-Identifier: MIT
/*
 * Guest side of bench/guest_mmio: times single 32-bit reads of testdev's
 * BAR0 (trapped: every read exits to the VMM and goes to the device over
 * the socket) and of BAR1 (a KVM memory slot: no exit) with rdtsc, and
 * an empty rdtsc pair for the timer's own cost.  Prints one line of
 * p50/p99 nanoseconds for the host to parse.
 */
#include "guest.h"
#include "regs.h"

#define N 201

static uint64_t samples[N];

static void sort(uint64_t *v, unsigned int n)
{
	unsigned int i, j;

	for (i = 1; i < n; i++) {
		uint64_t x = v[i];

		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Times N reads at a (or nothing for a == 0); p50 and p99 in ns. */
static void time_reads(uintptr_t a, uint64_t *p50, uint64_t *p99)
{
	unsigned int i;

	for (i = 0; i < N; i++) {
		uint64_t t0 = rdtsc(), t1;

		if (a)
			(void)mmio_read32(a);
		t1 = rdtsc();
		samples[i] = t1 - t0;
	}
	sort(samples, N);
	*p50 = tsc_to_ns(samples[N / 2]);
	*p99 = tsc_to_ns(samples[N * 99 / 100]);
}

int main(void)
{
	struct tdev td;
	uint64_t t50, t99, m50, m99, e50, e99;

	if (!tdev_open(&td)) {
		printf("FAIL: no testdev\n");
		return 1;
	}
	/* Warm both paths (first touches fault in host pages). */
	time_reads(td.regs + TESTDEV_REG_MAGIC, &t50, &t99);
	time_reads(pci_bar_addr((unsigned int)td.dev, 1), &m50, &m99);
	time_reads(td.regs + TESTDEV_REG_MAGIC, &t50, &t99);
	time_reads(pci_bar_addr((unsigned int)td.dev, 1), &m50, &m99);
	time_reads(0, &e50, &e99);
	printf("MMIO trapped %lu %lu mapped %lu %lu empty %lu %lu "
	       "tsc_khz %lu\n",
	       t50, t99, m50, m99, e50, e99, tsc_khz());
	return 0;
}
