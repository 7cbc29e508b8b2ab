/* SPDX-License-Identifier: MIT */
/*
 * Freestanding runtime for uvfio-vmm guests: 64-bit, ring 0, identity
 * mapped, no libc.  The VMM enters _start in long mode (see vmm/vmm.h
 * for the ABI); the runtime installs an IDT and calls main() on vCPU 0
 * and ap_main() on the others.  main()'s return value is the exit
 * status.  Built without SSE, so interrupt handlers may be plain C.
 *
 * A freestanding guest has no context to hang state on: the IDT, the
 * handler table and the report counters are the runtime's globals.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ports and addresses the VMM and the platform define. */
#define PORT_CONSOLE 0xe9
#define PORT_EXIT 0xf4
#define PORT_STATS_SEL 0xf8
#define PORT_STATS_HI 0xfc
#define LAPIC_BASE 0xfee00000ul
#define IOAPIC_BASE 0xfec00000ul

/* Exit statuses of the runtime itself. */
#define GUEST_EXIT_EXCEPTION 99

/* The VMM's counter selectors (vmm/vmm.h STAT_*). */
#define VMM_STAT_EXITS 0
#define VMM_STAT_IO 1
#define VMM_STAT_MMIO 2
#define VMM_STAT_MMIO_UNASSIGNED 3
#define VMM_STAT_HLT 4
#define VMM_STAT_TSC_KHZ 5 /* the TSC rate, not a counter */
#define VMM_STAT_MIGRATED 6 /* 1 once the VM came in by migration */
#define VMM_STAT_DEV_BAR(dev, bar) (0x100 + (dev)*8 + (bar))

/* Port I/O and CPU control. */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void cpu_hlt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}

static inline void irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

/* sti; hlt with no window between them for an interrupt to slip in. */
static inline void irq_enable_hlt(void)
{
	__asm__ volatile("sti; hlt" ::: "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* MMIO: one access of exactly the given width. */
static inline uint8_t mmio_read8(uintptr_t a)
{
	return *(volatile uint8_t *)a;
}

static inline uint16_t mmio_read16(uintptr_t a)
{
	return *(volatile uint16_t *)a;
}

static inline uint32_t mmio_read32(uintptr_t a)
{
	return *(volatile uint32_t *)a;
}

static inline uint64_t mmio_read64(uintptr_t a)
{
	return *(volatile uint64_t *)a;
}

static inline void mmio_write8(uintptr_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

static inline void mmio_write16(uintptr_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}

static inline void mmio_write32(uintptr_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

static inline void mmio_write64(uintptr_t a, uint64_t v)
{
	*(volatile uint64_t *)a = v;
}

/* start.c: what the VMM told us at entry. */
unsigned int guest_cpu_count(void);
uint64_t guest_ram_size(void); /* RAM at 0 */
uint64_t guest_ram_high(void); /* RAM at 4 GiB */
int main(void);
/* Runs on vCPUs 1..n-1; the default halts forever. */
void ap_main(unsigned int cpu);

/* console.c */
void putchar_console(char c);
void puts_console(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);

/* exit.c */
__attribute__((noreturn)) void exit(int status);

/* string.c (the compiler may call these itself) */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* idt.c: interrupts and exceptions. */
struct irq_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
typedef void (*irq_handler_fn)(struct irq_frame *f);
void idt_init(void);
/* Loads the IDT on this CPU (APs; vCPU 0 does it in idt_init()). */
void idt_load(void);
void irq_set_handler(uint8_t vector, irq_handler_fn fn);
/*
 * Points vector straight at entry, bypassing the dispatcher: for
 * benchmarks, whose entry must save what it uses and end in iretq.
 * Leaves interrupts off.
 */
void idt_set_gate(uint8_t vector, const void *entry);

/* lapic.c: the local APIC (xAPIC, MMIO). */
#define LAPIC_ISR(v) (0x100 + ((v) / 32) * 0x10)
#define LAPIC_TMR(v) (0x180 + ((v) / 32) * 0x10)
#define LAPIC_IRR(v) (0x200 + ((v) / 32) * 0x10)
#define LAPIC_BIT(v) (1u << ((v) % 32))
void lapic_enable(uint8_t spurious_vector);
void lapic_eoi(void);
uint32_t lapic_id(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);

/* ioapic.c: the IOAPIC (KVM's in-kernel one). */
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t v);
unsigned int ioapic_pins(void);
/*
 * Fixed delivery, physical destination APIC ID dest, active high,
 * unmasked; level- or edge-triggered.  -1 for a pin that does not exist.
 */
int ioapic_route(unsigned int pin, uint8_t vector, bool level, uint8_t dest);
void ioapic_set_mask(unsigned int pin, bool masked);
uint64_t ioapic_entry(unsigned int pin);
bool ioapic_remote_irr(unsigned int pin);

/*
 * irqwait.c: counting interrupts on vectors IRQC_FIRST..IRQC_LAST and
 * bounded waits for them.  irqc_init() enables the LAPIC and leaves
 * interrupts on.  Each counted interrupt is stamped with the TSC at the
 * handler's start, then the vector's hook (if any) runs, then the EOI
 * unless it is held; a held EOI is the test's to send.
 */
#define IRQC_FIRST 0x20
#define IRQC_LAST 0xef
#define IRQC_TIMER_VECTOR 0xfd
void irqc_init(void);
uint32_t irqc_count(uint8_t v);
uint64_t irqc_stamp(uint8_t v);
uint32_t irqc_total(void);
void irqc_set_hook(uint8_t v, irq_handler_fn hook);
void irqc_hold_eoi(uint8_t v, bool hold);
/* Halts until vector v has come want times in all; false on timeout. */
bool irqc_wait(uint8_t v, uint32_t want, uint32_t timeout_us);
bool irqc_wait_total(uint32_t want, uint32_t timeout_us);
/* Lets timeout_us pass with interrupts on (late arrivals show up). */
void irqc_settle(uint32_t timeout_us);
/* The TSC rate from the VMM (kHz), and cycles in nanoseconds. */
uint64_t tsc_khz(void);
uint64_t tsc_to_ns(uint64_t cycles);

/* pci.c: configuration mechanism #1, bus 0, function 0. */
uint32_t pci_read32(unsigned int dev, unsigned int off);
uint16_t pci_read16(unsigned int dev, unsigned int off);
uint8_t pci_read8(unsigned int dev, unsigned int off);
void pci_write32(unsigned int dev, unsigned int off, uint32_t v);
void pci_write16(unsigned int dev, unsigned int off, uint16_t v);
void pci_write8(unsigned int dev, unsigned int off, uint8_t v);
/* The device number of the first match, or -1. */
int pci_find(uint16_t vendor, uint16_t device);
/* Offset of the first capability with this ID, or 0 (loop-safe). */
uint8_t pci_find_cap(unsigned int dev, uint8_t id);
/* BAR address (64-bit BARs combined) and size by probing. */
uint64_t pci_bar_addr(unsigned int dev, unsigned int bar);
uint64_t pci_bar_size(unsigned int dev, unsigned int bar);
bool pci_bar_is64(unsigned int dev, unsigned int bar);
void pci_set_bar(unsigned int dev, unsigned int bar, uint64_t addr);

/* pciirq.c: MSI and MSI-X as a guest driver programs them. */
static inline uint64_t msi_address(uint8_t apic_id)
{
	return 0xfee00000ull | (uint64_t)apic_id << 12;
}

struct msix {
	int dev;
	uint8_t cap;
	unsigned int nvec;
	uintptr_t table;
	uintptr_t pba;
};
bool msix_init(struct msix *m, int dev);
void msix_control(const struct msix *m, bool enable, bool mask_all);
/* Address and data of entry i; its Vector Control is left alone. */
void msix_set(const struct msix *m, unsigned int i, uint64_t addr,
	      uint32_t data);
void msix_mask(const struct msix *m, unsigned int i, bool masked);
uint32_t msix_read(const struct msix *m, unsigned int i, unsigned int off);
bool msix_pending(const struct msix *m, unsigned int i);

struct msi {
	int dev;
	uint8_t cap;
	bool is64;
	bool maskable;
	unsigned int nvec; /* Multiple Message Capable */
};
bool msi_init(struct msi *m, int dev);
void msi_program(const struct msi *m, uint64_t addr, uint16_t data,
		 unsigned int log2_nvec);
void msi_enable(const struct msi *m, bool on);
void msi_set_mask(const struct msi *m, uint32_t bits);
uint32_t msi_pending(const struct msi *m);

/* tdev.c: uvfio-testdev (regs.h has the registers). */
struct tdev {
	int dev;
	uintptr_t regs;
};
/* Finds the first testdev and makes it a bus master. */
bool tdev_open(struct tdev *t);
/* The same for the testdev at device number dev, if it is one. */
bool tdev_open_at(struct tdev *t, int dev);
uint32_t tdev_read(const struct tdev *t, uint32_t reg);
void tdev_write(const struct tdev *t, uint32_t reg, uint32_t v);
/*
 * Makes the device raise interrupt number (1-based; ignored for INTx) of
 * type TESTDEV_IRQ_*.  Returns the TSC just before the command write.
 */
uint64_t tdev_raise(const struct tdev *t, uint32_t type, uint32_t number);
struct tdev_xfer {
	uint32_t command; /* TESTDEV_CMD_READ, _WRITE or _COPY */
	uint64_t src;
	uint64_t dst;
	uint32_t size;
	uint32_t checksum;
	uint32_t irq_type;
	uint32_t irq_number; /* 0: no interrupt */
};
/* Clears STATUS, programs x and starts it. */
void tdev_xfer_start(const struct tdev *t, const struct tdev_xfer *x);
/*
 * Starts x and waits (timeout_us at most) for its interrupt on vector v,
 * whose hook becomes one that reads STATUS and acknowledges it at the
 * device, as a driver does.  Returns STATUS as that hook saw it, or 0
 * when no interrupt came.
 */
uint32_t tdev_xfer_irq(const struct tdev *t, const struct tdev_xfer *x,
		       uint8_t v, uint32_t timeout_us);

/* vmm.c: the VMM's exit counters. */
uint64_t vmm_stat(uint32_t sel);

/* crc32.c: CRC-32, reflected 0xedb88320, no final xor. */
uint32_t crc32_le(uint32_t crc, const void *buf, size_t len);

/* string.c: fills p with xorshift64 bytes, advancing *state (never 0). */
void fill_random(uint64_t *state, uint8_t *p, uint32_t len);

/* report.c */
void report(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "N passed, M failed" and exits 1 if anything failed, else 0. */
__attribute__((noreturn)) void report_summary(void);

#endif
