// SPDX-License-Identifier: MIT
/*
 * For the runner's migration test: a steady workload across a live
 * migration of the whole VM.  DMA WRITEs into guest RAM, each checked by
 * CRC and completing by MSI-X on one of NVEC vectors in turn; vector
 * NVEC is masked with an interrupt pending from before the move.  The
 * guest says READY, then goes on until the stats port says it runs on
 * the destination and ROUNDS_AFTER more rounds are done.  Then: every
 * vector took exactly the interrupts of its rounds, the pending one
 * fires once on unmask, and with MSI-X off a transfer completes by INTx.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define NVEC 8
#define VEC0 0x50
#define VEC_INTX 0x70
#define ROUNDS_BEFORE 32
#define ROUNDS_AFTER 64
#define MAX_ROUNDS 200000
#define WAIT_US 2000000
#define SIZE 16384

static uint8_t buf[SIZE] __attribute__((aligned(4096)));
static struct tdev td;

/* One WRITE by the device, interrupt on vector k: its data checked. */
static bool round_ok(unsigned int k, uint32_t size, uint32_t irq_type)
{
	struct tdev_xfer x = { .command = TESTDEV_CMD_WRITE,
			       .dst = (uintptr_t)buf,
			       .size = size,
			       .irq_type = irq_type,
			       .irq_number = k + 1 };
	uint8_t v =
		irq_type == TESTDEV_IRQ_INTX ? VEC_INTX : (uint8_t)(VEC0 + k);

	memset(buf, 0, size);
	return tdev_xfer_irq(&td, &x, v, WAIT_US) ==
		       (TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_IRQ_RAISED) &&
	       crc32_le(~0u, buf, size) == tdev_read(&td, TESTDEV_REG_CHECKSUM);
}

int main(void)
{
	unsigned int rounds[NVEC] = { 0 }, ok = 0, bad = 0, after = 0, i;
	bool moved = false, counts = true;
	uint8_t apic;
	struct msix mx;
	unsigned int line;

	report(tdev_open(&td), "testdev found");
	if (!td.dev || !msix_init(&mx, td.dev) || mx.nvec <= NVEC)
		report_summary();
	irqc_init();
	apic = (uint8_t)lapic_id();
	msix_control(&mx, true, true);
	for (i = 0; i <= NVEC; i++) {
		msix_set(&mx, i, msi_address(apic), (uint16_t)(VEC0 + i));
		msix_mask(&mx, i, i == NVEC);
	}
	msix_control(&mx, true, false);
	line = pci_read8((unsigned int)td.dev, PCI_INTERRUPT_LINE);
	report(!ioapic_route(line, VEC_INTX, true, apic),
	       "INTx on IOAPIC pin %u", line);

	/* Vector NVEC: masked, its interrupt waits in the PBA. */
	tdev_raise(&td, TESTDEV_IRQ_MSIX, NVEC + 1);
	for (i = 0; i < 1000000 && !msix_pending(&mx, NVEC); i++)
		cpu_pause();
	report(msix_pending(&mx, NVEC) && !irqc_count(VEC0 + NVEC),
	       "masked vector %u pending before the move", NVEC);

	for (i = 0; i < ROUNDS_BEFORE; i++) {
		ok += round_ok(i % NVEC, 1 + i * 509, TESTDEV_IRQ_MSIX);
		rounds[i % NVEC]++;
	}
	report(ok == ROUNDS_BEFORE, "%u of %u transfers before the move", ok,
	       ROUNDS_BEFORE);
	printf("READY\n");
	for (i = ROUNDS_BEFORE; i < MAX_ROUNDS && after < ROUNDS_AFTER; i++) {
		if (round_ok(i % NVEC, 1 + (i * 509) % SIZE, TESTDEV_IRQ_MSIX))
			ok++;
		else
			bad++;
		rounds[i % NVEC]++;
		if (!moved && vmm_stat(VMM_STAT_MIGRATED)) {
			moved = true;
			printf("moved after %u transfers\n", i + 1);
		}
		after += moved;
	}
	report(moved, "the VM moved (%u transfers in all)", i);
	report(!bad, "%u transfers with the right data and status, %u not", ok,
	       bad);
	irqc_settle(100000);
	for (unsigned int k = 0; k < NVEC; k++)
		counts &= irqc_count((uint8_t)(VEC0 + k)) == rounds[k];
	report(counts, "each of %u vectors took one interrupt per transfer",
	       NVEC);

	report(msix_pending(&mx, NVEC) && !irqc_count(VEC0 + NVEC),
	       "masked vector %u still pending after the move", NVEC);
	msix_mask(&mx, NVEC, false);
	report(irqc_wait(VEC0 + NVEC, 1, WAIT_US),
	       "its interrupt came on unmask");
	irqc_settle(100000);
	report(irqc_count(VEC0 + NVEC) == 1 && !msix_pending(&mx, NVEC),
	       "once, and the pending bit is clear");
	/* A function with MSI-X on does not use INTx (PCI 6.8.2). */
	msix_control(&mx, false, false);
	report(round_ok(0, 4096, TESTDEV_IRQ_INTX),
	       "MSI-X off: a transfer completes by INTx after the move");
	report_summary();
	return 0;
}
