// SPDX-License-Identifier: MIT
/*
 * The IDT: all 256 vectors go through isr.S to isr_dispatch(), which
 * calls the registered handler.  An exception without a handler prints
 * what happened and ends the guest with GUEST_EXIT_EXCEPTION; so does
 * any other vector nobody asked for, except the LAPIC's spurious one.
 */
#include "guest.h"

#define CODE_SEL 0x08
#define GATE_INTR 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define SPURIOUS 0xff

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern const char isr_stubs[];
void isr_dispatch(struct irq_frame *f);

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler_fn handlers[256];

static const char *const names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM no FPU",
	"#DF double fault",
	"coprocessor overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved 15",
	"#MF x87 error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD error",
	"#VE virtualization",
	"#CP control protection",
};

void idt_load(void)
{
	struct idt_ptr p = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(p));
}

static void set_gate(unsigned int v, uint64_t a)
{
	idt[v] = (struct idt_gate){
		.off_lo = (uint16_t)a,
		.sel = CODE_SEL,
		.type = GATE_INTR,
		.off_mid = (uint16_t)(a >> 16),
		.off_hi = (uint32_t)(a >> 32),
	};
}

void idt_init(void)
{
	unsigned int v;

	for (v = 0; v < 256; v++)
		set_gate(v, (uintptr_t)(isr_stubs + 16 * v));
	idt_load();
}

void idt_set_gate(uint8_t vector, const void *entry)
{
	irq_disable();
	set_gate(vector, (uintptr_t)entry);
}

void irq_set_handler(uint8_t vector, irq_handler_fn fn)
{
	__atomic_store_n(&handlers[vector], fn, __ATOMIC_RELEASE);
}

static uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

void isr_dispatch(struct irq_frame *f)
{
	irq_handler_fn fn =
		__atomic_load_n(&handlers[f->vector & 0xff], __ATOMIC_ACQUIRE);
	const char *name;

	if (fn) {
		fn(f);
		return;
	}
	if (f->vector == SPURIOUS)
		return;
	name = f->vector < 32 && names[f->vector] ? names[f->vector] :
						    "unexpected interrupt";
	printf("FATAL: vector %lu (%s), error %#lx, rip %#lx, rsp %#lx",
	       f->vector, name, f->error, f->rip, f->rsp);
	if (f->vector == 14)
		printf(", address %#lx", read_cr2());
	printf("\n");
	exit(GUEST_EXIT_EXCEPTION);
}
