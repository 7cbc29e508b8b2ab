// SPDX-License-Identifier: MIT
/*
 * Guest side of bench/doorbell's guest half: waits for the host to bump
 * GO in the mailbox, then makes one 32-bit store of the value it was
 * given to the address it was given (a doorbell bound with
 * KVM_IOEVENTFD, a trapped BAR page, or a bare ioeventfd), and reports
 * it done.  It spins on the mailbox: no interrupt is involved.
 */
#include "guest.h"
#include "mailbox.h"

static volatile uint32_t *const mb = (volatile uint32_t *)BENCH_MAILBOX_GPA;

int main(void)
{
	uint32_t seen = mb[BENCH_DB_GO / 4];

	mb[BENCH_MB_MAGIC / 4] = BENCH_READY_MAGIC;
	for (;;) {
		uint32_t go;
		uint64_t a;

		while ((go = __atomic_load_n(&mb[BENCH_DB_GO / 4],
					     __ATOMIC_ACQUIRE)) == seen)
			cpu_pause();
		seen = go;
		a = mb[BENCH_DB_ADDR_LO / 4] |
		    (uint64_t)mb[BENCH_DB_ADDR_HI / 4] << 32;
		mmio_write32((uintptr_t)a, mb[BENCH_DB_VALUE / 4]);
		__atomic_store_n(&mb[BENCH_DB_DONE / 4], go, __ATOMIC_RELEASE);
	}
	return 0;
}
