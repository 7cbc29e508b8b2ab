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

/* Exit statuses of the runtime itself. */
#define GUEST_EXIT_EXCEPTION 99

/* The VMM's counter selectors (vmm/vmm.h STAT_*). */
#define VMM_STAT_EXITS 0
#define VMM_STAT_IO 1
#define VMM_STAT_MMIO 2
#define VMM_STAT_MMIO_UNASSIGNED 3
#define VMM_STAT_HLT 4
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
uint64_t guest_ram_size(void);
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

/* lapic.c: the local APIC (xAPIC, MMIO). */
void lapic_enable(uint8_t spurious_vector);
void lapic_eoi(void);
uint32_t lapic_id(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);

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

/* vmm.c: the VMM's exit counters. */
uint64_t vmm_stat(uint32_t sel);

/* crc32.c: CRC-32, reflected 0xedb88320, no final xor. */
uint32_t crc32_le(uint32_t crc, const void *buf, size_t len);

/* report.c */
void report(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "N passed, M failed" and exits 1 if anything failed, else 0. */
__attribute__((noreturn)) void report_summary(void);

#endif
