// SPDX-License-Identifier: MIT
/*
 * Several vCPUs, each on its own VMM thread: every AP starts at the
 * same entry with its own stack and index, reports in, and halts; the
 * BSP waits for them (5 s at most) and checks each LAPIC ID is its index.
 */
#include "guest.h"

#define MAX_CPUS 64
#define LAPIC_SVR 0xf0

static volatile uint32_t seen_id[MAX_CPUS];
static volatile uint32_t arrived;

void ap_main(unsigned int cpu)
{
	if (cpu < MAX_CPUS)
		seen_id[cpu] = lapic_id() + 1;
	printf("vCPU %u here, stack near %p\n", cpu, (void *)&cpu);
	__atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		irq_disable();
		cpu_hlt();
	}
}

int main(void)
{
	unsigned int n = guest_cpu_count(), i;
	/* By time, not spins: under nested KVM an AP's exits are slow. */
	uint64_t end = rdtsc() + tsc_khz() * 5000;

	report(n == 4, "%u vCPUs", n);
	while (arrived < n - 1 && rdtsc() < end)
		cpu_pause();
	report(arrived == n - 1, "%u of %u APs arrived", arrived, n - 1);
	report(lapic_id() == 0, "BSP has LAPIC ID 0");
	for (i = 1; i < n && i < MAX_CPUS; i++)
		report(seen_id[i] == i + 1, "vCPU %u has LAPIC ID %u", i,
		       seen_id[i] - 1);
	lapic_enable(0xff);
	report((lapic_read(LAPIC_SVR) & 0x1ff) == 0x1ff,
	       "LAPIC enabled through the spurious vector register");
	report_summary();
}
