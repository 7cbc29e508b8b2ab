// SPDX-License-Identifier: MIT
/*
 * What firmware and a boot loader would leave behind for a 64-bit
 * kernel: a GDT with flat 64-bit code and data segments and a TSS, and
 * page tables that identity-map the low 4 GiB, the RAM above 4 GiB and
 * the 64-bit PCI window after it.  The KVM here only pages in long
 * mode, so the guest never runs without these.
 *
 * 2 MiB pages everywhere except the first 2 MiB, which get 4 KiB pages so
 * that page 0 can stay unmapped and a NULL dereference faults.  The top
 * GiB below 4 GiB (PCI window, IOAPIC, LAPIC) and the 64-bit PCI window
 * are mapped uncached.  A 64-bit BAR the guest moves elsewhere above
 * 4 GiB is unreachable until the guest maps it itself.
 */
#include <errno.h>
#include <string.h>

#include "vmm.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)

#define GIB (1ull << 30)
#define MIB2 (2ull << 20)

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void build_gdt(uint8_t *gdt, uint8_t *tss)
{
	const uint64_t base = GPA_TSS, limit = 0x67;
	uint64_t lo;

	put64(gdt + 0x00, 0);
	put64(gdt + 0x08, 0x00af9b000000ffffull); /* 64-bit code, DPL 0 */
	put64(gdt + 0x10, 0x00cf93000000ffffull); /* flat data, DPL 0 */
	/* 16-byte TSS descriptor, type 0xb: busy, as TR holds it. */
	lo = (limit & 0xffff) | (base & 0xffffff) << 16 | 0xbull << 40 |
	     1ull << 47 | ((limit >> 16) & 0xf) << 48 |
	     ((base >> 24) & 0xff) << 56;
	put64(gdt + 0x18, lo);
	put64(gdt + 0x20, base >> 32);

	memset(tss, 0, 0x68);
	/* I/O bitmap offset past the limit: no bitmap. */
	tss[0x66] = 0x68;
}

static void build_paging(uint8_t *mem)
{
	uint64_t i, j;

	put64(mem + GPA_PML4, GPA_PDPT | PTE_P | PTE_RW);
	for (i = 0; i < 4; i++) {
		uint64_t pd = GPA_PD + i * 0x1000;

		put64(mem + GPA_PDPT + i * 8, pd | PTE_P | PTE_RW);
		for (j = 0; j < 512; j++) {
			uint64_t pa = i * GIB + j * MIB2;
			uint64_t e = pa | PTE_P | PTE_RW | PTE_PS;

			if (pa >= PCI_MMIO_BASE)
				e |= PTE_PCD | PTE_PWT;
			put64(mem + pd + j * 8, e);
		}
	}
	put64(mem + GPA_PD, GPA_PT0 | PTE_P | PTE_RW);
	put64(mem + GPA_PT0, 0);
	for (j = 1; j < 512; j++)
		put64(mem + GPA_PT0 + j * 8, j * 0x1000 | PTE_P | PTE_RW);
}

/* GiB i above 4 GiB: RAM (cached) below mmio64, the window uncached. */
static void build_high(uint8_t *mem, unsigned int gibs, uint64_t mmio64)
{
	for (uint64_t i = 0; i < gibs; i++) {
		uint64_t pd = GPA_PD_HIGH + i * 0x1000;

		put64(mem + GPA_PDPT + (4 + i) * 8, pd | PTE_P | PTE_RW);
		for (uint64_t j = 0; j < 512; j++) {
			uint64_t pa = GPA_HIGH_RAM + i * GIB + j * MIB2;
			uint64_t e = pa | PTE_P | PTE_RW | PTE_PS;

			if (pa >= mmio64)
				e |= PTE_PCD | PTE_PWT;
			put64(mem + pd + j * 8, e);
		}
	}
}

int boot_build(struct guest_ram *ram)
{
	uint64_t mmio64 = ram_mmio64_base(ram);
	uint64_t gibs = (mmio64 + PCI_MMIO64_SIZE - GPA_HIGH_RAM) / GIB;
	uint8_t *mem = ram_ptr(ram, 0, GPA_BOOT_END);

	/* One PDPT maps 512 GiB; the directories must end below 1 MiB. */
	if (!mem || 4 + gibs > 512 ||
	    GPA_PD_HIGH + gibs * 0x1000 > GPA_LOAD_MIN)
		return -ENOMEM;
	memset(mem, 0, GPA_PD_HIGH + gibs * 0x1000);
	build_gdt(mem + GPA_GDT, mem + GPA_TSS);
	build_paging(mem);
	build_high(mem, (unsigned int)gibs, mmio64);
	return 0;
}
