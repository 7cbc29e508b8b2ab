// SPDX-License-Identifier: MIT
/*
 * testdev's READ, WRITE and COPY on guest memory, completing by
 * interrupt instead of by polling STATUS: the guest starts a command and
 * halts until the device's completion interrupt, whose handler reads
 * STATUS.  MSI-X for most, then one each by MSI and by INTx.  CRC-32 as
 * in dma.c, with guard bytes around each destination.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define GUARD 64
#define POISON 0xa5
#define BUF_SIZE (64u * 1024 + 4096)
#define VEC_MSIX 0x48
#define VEC_MSI 0x50
#define VEC_INTX 0x70
#define WAIT_US 2000000

static uint8_t src_buf[BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t dst_buf[BUF_SIZE + 2 * GUARD] __attribute__((aligned(4096)));
static uint64_t rng = 0x2545f4914f6cdd1dull;
static struct tdev td;

static uint8_t vector_of(uint32_t irq_type)
{
	return irq_type == TESTDEV_IRQ_MSIX ? VEC_MSIX :
	       irq_type == TESTDEV_IRQ_MSI  ? VEC_MSI :
					      VEC_INTX;
}

/* STATUS as the interrupt handler saw it, or 0 without an interrupt. */
static uint32_t run(struct tdev_xfer *x, uint32_t irq_type)
{
	x->irq_type = irq_type;
	x->irq_number = 1;
	return tdev_xfer_irq(&td, x, vector_of(irq_type), WAIT_US);
}

static bool guards_ok(const uint8_t *dst, uint32_t size)
{
	unsigned int i;

	for (i = 1; i <= GUARD; i++)
		if (dst[-(int)i] != POISON || dst[size + i - 1] != POISON)
			return false;
	return true;
}

static const char *name_of(uint32_t irq_type)
{
	return irq_type == TESTDEV_IRQ_MSIX ? "MSI-X" :
	       irq_type == TESTDEV_IRQ_MSI  ? "MSI" :
					      "INTx";
}

static void test_case(uint32_t size, uint32_t misalign, uint32_t irq_type)
{
	uint8_t *src = src_buf + misalign;
	uint8_t *dst = dst_buf + GUARD + misalign;
	const uint32_t want = TESTDEV_STATUS_IRQ_RAISED;
	const char *how = name_of(irq_type);
	struct tdev_xfer x = { 0 };
	uint32_t crc, status, dev_crc;

	fill_random(&rng, src, size);
	crc = crc32_le(~0u, src, size);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_READ,
				.src = (uintptr_t)src,
				.size = size,
				.checksum = crc };
	status = run(&x, irq_type);
	report(status == (TESTDEV_STATUS_READ_OK | want),
	       "READ %u bytes +%u by %s: status %#x", size, misalign, how,
	       status);

	memset(dst - GUARD, POISON, size + 2 * GUARD);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_WRITE,
				.dst = (uintptr_t)dst,
				.size = size };
	status = run(&x, irq_type);
	dev_crc = tdev_read(&td, TESTDEV_REG_CHECKSUM);
	crc = crc32_le(~0u, dst, size);
	report(status == (TESTDEV_STATUS_WRITE_OK | want) && crc == dev_crc &&
		       guards_ok(dst, size),
	       "WRITE %u bytes +%u by %s: status %#x, CRC %#x (device %#x)",
	       size, misalign, how, status, crc, dev_crc);

	memset(dst - GUARD, POISON, size + 2 * GUARD);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_COPY,
				.src = (uintptr_t)src,
				.dst = (uintptr_t)dst,
				.size = size };
	status = run(&x, irq_type);
	report(status == (TESTDEV_STATUS_COPY_OK | want) &&
		       !memcmp(src, dst, size) && guards_ok(dst, size),
	       "COPY %u bytes +%u by %s: status %#x", size, misalign, how,
	       status);
}

/* A failed command interrupts too, and says why. */
static void test_bad(void)
{
	struct tdev_xfer x = { .command = TESTDEV_CMD_READ,
			       .src = 0xf0000000ul,
			       .size = 4096 };
	uint32_t status = run(&x, TESTDEV_IRQ_MSIX);

	report(status ==
		       (TESTDEV_STATUS_READ_FAIL | TESTDEV_STATUS_SRC_INVALID |
			TESTDEV_STATUS_IRQ_RAISED),
	       "READ outside guest RAM interrupts with status %#x", status);
}

static void setup_irqs(struct msix *mx, struct msi *msi)
{
	uint8_t apic = (uint8_t)lapic_id();
	unsigned int line;

	msix_control(mx, true, true);
	msix_set(mx, 0, msi_address(apic), VEC_MSIX);
	msix_mask(mx, 0, false);
	msix_control(mx, true, false);
	msi_program(msi, msi_address(apic), VEC_MSI, 0);
	line = pci_read8((unsigned int)td.dev, PCI_INTERRUPT_LINE);
	report(!ioapic_route(line, VEC_INTX, true, apic),
	       "INTx on IOAPIC pin %u", line);
}

int main(void)
{
	struct msix mx;
	struct msi msi;

	report(tdev_open(&td), "testdev found");
	if (!td.dev || !msix_init(&mx, td.dev) || !msi_init(&msi, td.dev))
		report_summary();
	irqc_init();
	setup_irqs(&mx, &msi);
	test_case(1, 0, TESTDEV_IRQ_MSIX);
	test_case(4097, 5, TESTDEV_IRQ_MSIX);
	test_case(65537, 7, TESTDEV_IRQ_MSIX);
	test_bad();
	msix_control(&mx, false, false);
	msi_enable(&msi, true);
	test_case(8192, 3, TESTDEV_IRQ_MSI);
	msi_enable(&msi, false);
	test_case(8192, 1, TESTDEV_IRQ_INTX);
	irqc_settle(20000);
	report(irqc_total() == 16, "16 completion interrupts, no strays (%u)",
	       irqc_total());
	report_summary();
}
