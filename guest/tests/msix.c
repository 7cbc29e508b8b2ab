// SPDX-License-Identifier: MIT
/*
 * MSI-X through the VMM's KVM router: NVEC table entries, each aimed at
 * its own IDT vector, programmed under the function mask; the device
 * raises each one and exactly that vector's handler runs, once.  Then
 * masking: a masked vector's interrupt waits in the PBA and arrives on
 * unmask, for the per-vector mask and the function mask alike; a vector
 * the guest never programmed stays silent; and after MSI-X is disabled
 * nothing arrives at all.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define NVEC 32
#define VEC0 0x40
#define WAIT_US 200000
#define QUIET_US 20000

static struct tdev td;
static struct msix mx;

static uint32_t data_of(unsigned int i)
{
	return VEC0 + i;
}

/* Raises vector i and waits for its handler to have run want times. */
static bool raise_and_wait(unsigned int i, uint32_t want)
{
	tdev_raise(&td, TESTDEV_IRQ_MSIX, i + 1);
	return irqc_wait((uint8_t)data_of(i), want, WAIT_US);
}

static void program(void)
{
	uint64_t addr = msi_address((uint8_t)lapic_id());
	unsigned int i, bad = 0;

	/* Function mask first: no entry may fire while half written. */
	msix_control(&mx, true, true);
	for (i = 0; i < NVEC; i++) {
		msix_set(&mx, i, addr, data_of(i));
		msix_mask(&mx, i, false);
	}
	for (i = 0; i < NVEC; i++)
		if (msix_read(&mx, i, PCI_MSIX_ENTRY_LOWER_ADDR) !=
			    (uint32_t)addr ||
		    msix_read(&mx, i, PCI_MSIX_ENTRY_UPPER_ADDR) != 0 ||
		    msix_read(&mx, i, PCI_MSIX_ENTRY_DATA) != data_of(i) ||
		    msix_read(&mx, i, PCI_MSIX_ENTRY_VECTOR_CTRL) != 0)
			bad++;
	report(bad == 0, "%u table entries read back as written (%u wrong)",
	       NVEC, bad);
	report(msix_read(&mx, NVEC, PCI_MSIX_ENTRY_VECTOR_CTRL) ==
		       PCI_MSIX_ENTRY_CTRL_MASKBIT,
	       "an entry never written is masked");
	msix_control(&mx, true, false);
}

static void test_each_vector(void)
{
	unsigned int i, missing = 0, wrong = 0;
	uint32_t status;

	for (i = 0; i < NVEC; i++) {
		if (!raise_and_wait(i, 1))
			missing++;
		status = tdev_read(&td, TESTDEV_REG_STATUS);
		if (!(status & TESTDEV_STATUS_IRQ_RAISED))
			wrong++;
	}
	report(missing == 0, "%u vectors raised, %u handlers missing", NVEC,
	       missing);
	report(wrong == 0, "STATUS says IRQ_RAISED after each raise (%u not)",
	       wrong);
	irqc_settle(QUIET_US);
	wrong = 0;
	for (i = 0; i < NVEC; i++)
		if (irqc_count((uint8_t)data_of(i)) != 1)
			wrong++;
	report(wrong == 0, "each handler ran exactly once (%u did not)", wrong);
	report(irqc_total() == NVEC, "%u interrupts in all, no strays",
	       irqc_total());
}

static void test_vector_mask(unsigned int k)
{
	uint8_t v = (uint8_t)data_of(k);
	uint32_t before = irqc_count(v), total = irqc_total();

	msix_mask(&mx, k, true);
	report(!msix_pending(&mx, k), "vector %u: PBA bit clear before", k);
	tdev_raise(&td, TESTDEV_IRQ_MSIX, k + 1);
	irqc_settle(QUIET_US);
	report(irqc_count(v) == before && irqc_total() == total,
	       "vector %u masked: no interrupt", k);
	report(msix_pending(&mx, k), "vector %u masked: PBA bit set", k);
	/* Raises while pending coalesce into the one pending interrupt. */
	tdev_raise(&td, TESTDEV_IRQ_MSIX, k + 1);
	msix_mask(&mx, k, false);
	report(irqc_wait(v, before + 1, WAIT_US),
	       "vector %u unmasked: the interrupt arrives", k);
	irqc_settle(QUIET_US);
	report(irqc_count(v) == before + 1 && irqc_total() == total + 1,
	       "vector %u: delivered once (%u)", k, irqc_count(v) - before);
	report(!msix_pending(&mx, k), "vector %u: PBA bit clear after", k);
}

static void test_function_mask(unsigned int a, unsigned int b)
{
	uint32_t total = irqc_total();

	msix_control(&mx, true, true);
	tdev_raise(&td, TESTDEV_IRQ_MSIX, a + 1);
	tdev_raise(&td, TESTDEV_IRQ_MSIX, b + 1);
	irqc_settle(QUIET_US);
	report(irqc_total() == total, "function mask: nothing delivered");
	report(msix_pending(&mx, a) && msix_pending(&mx, b),
	       "function mask: PBA bits %u and %u set", a, b);
	msix_control(&mx, true, false);
	report(irqc_wait_total(total + 2, WAIT_US),
	       "function mask off: both interrupts arrive");
	irqc_settle(QUIET_US);
	report(irqc_total() == total + 2 && !msix_pending(&mx, a) &&
		       !msix_pending(&mx, b),
	       "function mask off: exactly two, PBA clear");
}

/* A vector the guest never programmed is masked with no address. */
static void test_unprogrammed(void)
{
	unsigned int k = mx.nvec - 1;
	uint32_t total = irqc_total();

	tdev_raise(&td, TESTDEV_IRQ_MSIX, k + 1);
	irqc_settle(QUIET_US);
	report(irqc_total() == total && msix_pending(&mx, k),
	       "unprogrammed vector %u: no interrupt, pending in the PBA", k);
	/* No IRQ_NUMBER 0 and none past the table: the device refuses. */
	tdev_raise(&td, TESTDEV_IRQ_MSIX, 0);
	report(!(tdev_read(&td, TESTDEV_REG_STATUS) &
		 TESTDEV_STATUS_IRQ_RAISED),
	       "IRQ_NUMBER 0 raises nothing");
	tdev_raise(&td, TESTDEV_IRQ_MSIX, mx.nvec + 1);
	report(!(tdev_read(&td, TESTDEV_REG_STATUS) &
		 TESTDEV_STATUS_IRQ_RAISED),
	       "IRQ_NUMBER past the table raises nothing");
	irqc_settle(QUIET_US);
	report(irqc_total() == total, "no interrupt from any of them");
}

static void test_disabled(void)
{
	uint32_t total = irqc_total();

	msix_control(&mx, false, false);
	tdev_raise(&td, TESTDEV_IRQ_MSIX, 1);
	irqc_settle(QUIET_US);
	report(irqc_total() == total, "MSI-X disabled: no interrupt");
}

int main(void)
{
	bool ok;

	report(tdev_open(&td), "testdev found");
	if (!td.dev)
		report_summary();
	ok = msix_init(&mx, td.dev);
	report(ok && mx.nvec == TESTDEV_MSIX_VECTORS,
	       "MSI-X capability: %u vectors", mx.nvec);
	if (!ok)
		report_summary();
	irqc_init();
	program();
	test_each_vector();
	test_vector_mask(5);
	test_vector_mask(NVEC - 1);
	test_function_mask(0, 17);
	test_unprogrammed();
	test_disabled();
	report_summary();
}
