// SPDX-License-Identifier: MIT
/*
 * Interrupt bookkeeping for tests: one handler on every device vector
 * counts arrivals per vector, stamps the TSC, runs the test's hook and
 * sends the EOI (unless the test holds it back), so a test can tell an
 * interrupt that came once from one that came twice or on the wrong
 * vector.  Waits halt rather than spin (guest code runs emulated here)
 * and are bounded by the LAPIC timer, so "nothing arrives" is a short,
 * definite wait.
 */
#include "guest.h"

#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define TIMER_DIV_1 0xb
#define SPURIOUS_VECTOR 0xff
#define MAX_KHZ 100000000ull

static volatile uint32_t counts[256];
static volatile uint64_t stamps[256];
static volatile uint32_t total;
static irq_handler_fn hooks[256];
static volatile bool held[256];
static uint64_t khz;

uint64_t tsc_khz(void)
{
	uint64_t v;

	if (!khz) {
		v = vmm_stat(VMM_STAT_TSC_KHZ);
		/* An old VMM answers all ones: assume 2 GHz, say so. */
		if (!v || v > MAX_KHZ) {
			printf("INFO: no TSC rate from the VMM, assuming "
			       "2 GHz\n");
			v = 2000000;
		}
		khz = v;
	}
	return khz;
}

uint64_t tsc_to_ns(uint64_t cycles)
{
	return cycles * 1000000 / tsc_khz();
}

static void count_handler(struct irq_frame *f)
{
	uint64_t t = rdtsc();
	uint8_t v = (uint8_t)f->vector;
	irq_handler_fn hook = hooks[v];

	stamps[v] = t;
	counts[v]++;
	total++;
	if (hook)
		hook(f);
	if (!held[v])
		lapic_eoi();
}

/* The timer only wakes a waiter up; the waiter reads the TSC. */
static void timer_handler(struct irq_frame *f)
{
	(void)f;
	lapic_eoi();
}

void irqc_init(void)
{
	unsigned int v;

	for (v = IRQC_FIRST; v <= IRQC_LAST; v++)
		irq_set_handler((uint8_t)v, count_handler);
	irq_set_handler(IRQC_TIMER_VECTOR, timer_handler);
	lapic_enable(SPURIOUS_VECTOR);
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_1);
	(void)tsc_khz();
	irq_enable();
}

uint32_t irqc_count(uint8_t v)
{
	return counts[v];
}

uint64_t irqc_stamp(uint8_t v)
{
	return stamps[v];
}

uint32_t irqc_total(void)
{
	return total;
}

void irqc_set_hook(uint8_t v, irq_handler_fn hook)
{
	hooks[v] = hook;
}

void irqc_hold_eoi(uint8_t v, bool hold)
{
	held[v] = hold;
}

/*
 * KVM's LAPIC timer counts at 1 GHz with divide-by-1; the timer is only a
 * wake-up, so an imprecise rate costs a loop turn, not correctness.
 */
static void arm_timer(uint64_t ns)
{
	if (ns > 0xffffffffull)
		ns = 0xffffffffull;
	if (!ns)
		ns = 1;
	lapic_write(LAPIC_LVT_TIMER, IRQC_TIMER_VECTOR); /* one-shot */
	lapic_write(LAPIC_TIMER_INIT, (uint32_t)ns);
}

static bool wait_for(const volatile uint32_t *p, uint32_t want,
		     uint32_t timeout_us)
{
	uint64_t start = rdtsc(), now = start;
	uint64_t limit = (uint64_t)timeout_us * tsc_khz() / 1000;
	bool ok;

	/* Checked with interrupts off, then sti; hlt: no wake-up is lost. */
	irq_disable();
	for (;;) {
		ok = *p >= want;
		if (ok || now - start >= limit)
			break;
		arm_timer(tsc_to_ns(limit - (now - start)));
		irq_enable_hlt();
		irq_disable();
		now = rdtsc();
	}
	lapic_write(LAPIC_TIMER_INIT, 0);
	irq_enable();
	return ok;
}

bool irqc_wait(uint8_t v, uint32_t want, uint32_t timeout_us)
{
	return wait_for(&counts[v], want, timeout_us);
}

bool irqc_wait_total(uint32_t want, uint32_t timeout_us)
{
	return wait_for(&total, want, timeout_us);
}

void irqc_settle(uint32_t timeout_us)
{
	(void)irqc_wait_total(~0u, timeout_us);
}
