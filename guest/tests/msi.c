// SPDX-License-Identifier: MIT
/*
 * MSI through the VMM's KVM router: one vector first (Multiple Message
 * Enable 0), raised once, handled once on its IDT vector; a vector past
 * the enabled count stays silent.  Then the per-vector mask: a masked
 * vector's interrupt sets its Pending Bit and arrives on unmask.  Then
 * four vectors, whose data the device ORs the vector number into.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define VEC1 0x50
#define VEC4 0x60 /* four vectors need data aligned to four */
#define WAIT_US 200000
#define QUIET_US 20000

static struct tdev td;
static struct msi msi;

static void test_single(void)
{
	uint32_t total = irqc_total();
	uint16_t fl;

	msi_program(&msi, msi_address((uint8_t)lapic_id()), VEC1, 0);
	msi_enable(&msi, true);
	fl = pci_read16((unsigned int)td.dev, msi.cap + PCI_MSI_FLAGS);
	report((fl & PCI_MSI_FLAGS_ENABLE) && !(fl & PCI_MSI_FLAGS_QSIZE),
	       "MSI enabled, one vector (flags %#x)", fl);
	tdev_raise(&td, TESTDEV_IRQ_MSI, 1);
	report(irqc_wait(VEC1, 1, WAIT_US), "MSI vector 0 arrives on %#x",
	       VEC1);
	report(tdev_read(&td, TESTDEV_REG_STATUS) & TESTDEV_STATUS_IRQ_RAISED,
	       "STATUS says IRQ_RAISED");
	tdev_raise(&td, TESTDEV_IRQ_MSI, 2);
	irqc_settle(QUIET_US);
	report(irqc_count(VEC1) == 1 && irqc_total() == total + 1,
	       "exactly one interrupt; vector 1 (not enabled) is silent");
}

static void test_mask(void)
{
	uint32_t before = irqc_count(VEC1);

	msi_set_mask(&msi, 1);
	tdev_raise(&td, TESTDEV_IRQ_MSI, 1);
	irqc_settle(QUIET_US);
	report(irqc_count(VEC1) == before, "masked vector 0: no interrupt");
	report(msi_pending(&msi) == 1, "masked vector 0: Pending Bits %#x",
	       msi_pending(&msi));
	msi_set_mask(&msi, 0);
	report(irqc_wait(VEC1, before + 1, WAIT_US),
	       "unmasked: the interrupt arrives");
	irqc_settle(QUIET_US);
	report(irqc_count(VEC1) == before + 1 && msi_pending(&msi) == 0,
	       "delivered once, Pending Bits clear");
}

static void test_four(void)
{
	uint32_t total, i, bad = 0;

	msi_enable(&msi, false);
	msi_program(&msi, msi_address((uint8_t)lapic_id()), VEC4, 2);
	msi_enable(&msi, true);
	total = irqc_total();
	for (i = 0; i < 4; i++) {
		tdev_raise(&td, TESTDEV_IRQ_MSI, i + 1);
		if (!irqc_wait((uint8_t)(VEC4 + i), 1, WAIT_US))
			bad++;
	}
	irqc_settle(QUIET_US);
	report(bad == 0 && irqc_total() == total + 4,
	       "four vectors: each on its own IDT vector once (%u missing, "
	       "%u in all)",
	       bad, irqc_total() - total);
	msi_enable(&msi, false);
	tdev_raise(&td, TESTDEV_IRQ_MSI, 1);
	irqc_settle(QUIET_US);
	report(irqc_total() == total + 4, "MSI disabled: no interrupt");
}

int main(void)
{
	bool ok;

	report(tdev_open(&td), "testdev found");
	if (!td.dev)
		report_summary();
	ok = msi_init(&msi, td.dev);
	report(ok && msi.is64 && msi.maskable &&
		       msi.nvec == TESTDEV_MSI_VECTORS,
	       "MSI capability: 64-bit, maskable, %u vectors", msi.nvec);
	if (!ok)
		report_summary();
	irqc_init();
	test_single();
	test_mask();
	test_four();
	report_summary();
}
