// SPDX-License-Identifier: MIT
/*
 * Guest side of bench/guest_irq: vectors BENCH_VEC_BASE + path count
 * arrivals in the mailbox (irq_isr.S); the guest says it is ready and
 * halts for good.  The host raises and times.
 */
#include "guest.h"
#include "mailbox.h"

void bench_isr0(void);
void bench_isr1(void);
void bench_isr2(void);

int main(void)
{
	volatile uint32_t *mb = (volatile uint32_t *)BENCH_MAILBOX_GPA;

	lapic_enable(0xff);
	idt_set_gate(BENCH_VEC_BASE + 0, bench_isr0);
	idt_set_gate(BENCH_VEC_BASE + 1, bench_isr1);
	idt_set_gate(BENCH_VEC_BASE + 2, bench_isr2);
	memset((void *)mb, 0, 0x100);
	mb[BENCH_MB_MAGIC / 4] = BENCH_READY_MAGIC;
	for (;;)
		irq_enable_hlt();
}
