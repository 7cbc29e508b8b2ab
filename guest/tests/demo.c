// SPDX-License-Identifier: MIT
/*
 * The uvfio-vmm demo guest (make demo): drives uvfio-testdev the way a
 * driver would, checks what comes back, and prints a summary.  MSI-X on
 * NVEC vectors, MSI, INTx through the IOAPIC, DMA completing by
 * interrupt with CRC-32 checks; latency from the device command to the
 * handler for each kind; the VM exits it all took.
 *
 * What the latency covers: the TSC is read just before the guest's
 * store to testdev's COMMAND register, and again first thing in the
 * interrupt handler.  In between: the trapped store exits to the VMM,
 * which forwards it over the vfio-user socket; the device raises the
 * interrupt (an eventfd write) inside that write; KVM's irqfd makes it
 * pending; the reply returns to the VMM, which re-enters the guest, and
 * the interrupt is taken after the store.  So it is a device round trip
 * plus delivery, not delivery alone (bench/guest_irq measures that).
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define NVEC 32
#define VEC_MSIX 0x40
#define VEC_MSI 0x80
#define VEC_INTX 0x90
#define ROUNDS 100
#define WAIT_US 500000
#define DMA_SIZE (64u * 1024)

enum kind { K_MSIX, K_MSI, K_INTX, NR_KINDS };

static const char *const kind_name[NR_KINDS] = { "MSI-X", "MSI", "INTx" };
static const uint32_t kind_type[NR_KINDS] = { TESTDEV_IRQ_MSIX, TESTDEV_IRQ_MSI,
					      TESTDEV_IRQ_INTX };

struct lat {
	uint64_t ns[ROUNDS];
	unsigned int n;
	unsigned int lost;
};

static struct tdev td;
static struct msix mx;
static struct msi msi;
static struct lat lat[NR_KINDS];
static uint8_t src_buf[DMA_SIZE] __attribute__((aligned(4096)));
static uint8_t dst_buf[DMA_SIZE] __attribute__((aligned(4096)));
static uint64_t dma_ok_bytes;
static unsigned int dma_bad;

static void ack_intx(struct irq_frame *f)
{
	(void)f;
	tdev_write(&td, TESTDEV_REG_STATUS, 0);
}

static void setup(void)
{
	uint8_t apic = (uint8_t)lapic_id();
	unsigned int i, line;

	msix_control(&mx, true, true);
	for (i = 0; i < NVEC; i++) {
		msix_set(&mx, i, msi_address(apic), VEC_MSIX + i);
		msix_mask(&mx, i, false);
	}
	msi_program(&msi, msi_address(apic), VEC_MSI, 0);
	line = pci_read8((unsigned int)td.dev, PCI_INTERRUPT_LINE);
	ioapic_route(line, VEC_INTX, true, apic);
	irqc_set_hook(VEC_INTX, ack_intx);
	printf("testdev at 00:%02x.0: MSI-X %u vectors (%u used), MSI %u, "
	       "INTx on IOAPIC pin %u\n",
	       td.dev, mx.nvec, NVEC, msi.nvec, line);
}

/* Only one of MSI-X, MSI and INTx is live at a time, as on vfio-pci. */
static void select_kind(enum kind k)
{
	msix_control(&mx, k == K_MSIX, false);
	msi_enable(&msi, k == K_MSI);
}

static uint8_t vector_of(enum kind k, unsigned int i)
{
	return k == K_MSIX ? (uint8_t)(VEC_MSIX + i % NVEC) :
	       k == K_MSI  ? VEC_MSI :
			     VEC_INTX;
}

static void measure(enum kind k)
{
	struct lat *l = &lat[k];
	unsigned int i;

	select_kind(k);
	for (i = 0; i < ROUNDS; i++) {
		uint8_t v = vector_of(k, i);
		uint32_t n = irqc_count(v);
		uint32_t num = k == K_MSIX ? i % NVEC + 1 : 1;
		uint64_t t0 = tdev_raise(&td, kind_type[k], num);

		if (!irqc_wait(v, n + 1, WAIT_US)) {
			l->lost++;
			continue;
		}
		l->ns[l->n++] = tsc_to_ns(irqc_stamp(v) - t0);
	}
}

static void sort(uint64_t *v, unsigned int n)
{
	unsigned int i, j;

	for (i = 1; i < n; i++) {
		uint64_t x = v[i];

		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void print_us(const char *label, uint64_t ns)
{
	printf("%s %lu.%lu us", label, ns / 1000, ns % 1000 / 100);
}

static void fill(uint8_t *p, uint32_t len, uint64_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (uint8_t)seed;
	}
}

/* One command completing by MSI-X vector 0; STATUS when it came. */
static uint32_t dma(struct tdev_xfer *x)
{
	uint32_t n = irqc_count(VEC_MSIX);

	x->irq_type = TESTDEV_IRQ_MSIX;
	x->irq_number = 1;
	tdev_xfer_start(&td, x);
	if (!irqc_wait(VEC_MSIX, n + 1, WAIT_US))
		return 0;
	return tdev_read(&td, TESTDEV_REG_STATUS);
}

static void account(bool ok, uint32_t bytes, const char *what)
{
	if (ok) {
		dma_ok_bytes += bytes;
		return;
	}
	dma_bad++;
	printf("FAIL: DMA %s\n", what);
}

static void run_dma(void)
{
	struct tdev_xfer x;
	uint32_t crc, st;

	select_kind(K_MSIX);
	fill(src_buf, DMA_SIZE, rdtsc() | 1);
	crc = crc32_le(~0u, src_buf, DMA_SIZE);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_READ,
				.src = (uintptr_t)src_buf,
				.size = DMA_SIZE,
				.checksum = crc };
	st = dma(&x);
	account(st & TESTDEV_STATUS_READ_OK, DMA_SIZE, "READ");
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_WRITE,
				.dst = (uintptr_t)dst_buf,
				.size = DMA_SIZE };
	st = dma(&x);
	account((st & TESTDEV_STATUS_WRITE_OK) &&
			crc32_le(~0u, dst_buf, DMA_SIZE) ==
				tdev_read(&td, TESTDEV_REG_CHECKSUM),
		DMA_SIZE, "WRITE");
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_COPY,
				.src = (uintptr_t)src_buf,
				.dst = (uintptr_t)dst_buf,
				.size = DMA_SIZE };
	st = dma(&x);
	account((st & TESTDEV_STATUS_COPY_OK) &&
			!memcmp(src_buf, dst_buf, DMA_SIZE),
		DMA_SIZE, "COPY");
}

static void summary(uint64_t exits0, uint64_t mmio0, uint64_t io0)
{
	uint64_t exits = vmm_stat(VMM_STAT_EXITS) - exits0;
	uint64_t mmio = vmm_stat(VMM_STAT_MMIO) - mmio0;
	uint64_t io = vmm_stat(VMM_STAT_IO) - io0;
	unsigned int k, expected = 0, counted = 0, v;

	for (v = 0; v < NVEC; v++)
		counted += irqc_count((uint8_t)(VEC_MSIX + v));
	counted += irqc_count(VEC_MSI) + irqc_count(VEC_INTX);
	printf("\n=== demo summary (TSC %lu kHz)\n", tsc_khz());
	printf("interrupts delivered: MSI-X %u, MSI %u, INTx %u; "
	       "%u elsewhere\n",
	       counted - irqc_count(VEC_MSI) - irqc_count(VEC_INTX),
	       irqc_count(VEC_MSI), irqc_count(VEC_INTX),
	       irqc_total() - counted);
	printf("device command -> handler latency (trapped COMMAND store, "
	       "device raise, KVM delivery):\n");
	for (k = 0; k < NR_KINDS; k++) {
		struct lat *l = &lat[k];

		expected += ROUNDS;
		printf("  %-5s", kind_name[k]);
		if (l->n) {
			sort(l->ns, l->n);
			print_us("  p50", l->ns[l->n / 2]);
			print_us("  p99", l->ns[(l->n * 99) / 100]);
		}
		printf("  (%u samples, %u lost)\n", l->n, l->lost);
		report(l->n == ROUNDS, "%s: every raise interrupted",
		       kind_name[k]);
	}
	printf("DMA verified: %lu bytes (READ, WRITE, COPY of %u bytes, "
	       "CRC-32 / compare), %u failed\n",
	       dma_ok_bytes, DMA_SIZE, dma_bad);
	printf("VM exits taken: %lu (MMIO %lu, port I/O %lu)\n", exits, mmio,
	       io);
	report(dma_bad == 0 && dma_ok_bytes == 3 * DMA_SIZE, "DMA verified");
	report(irqc_total() == counted && counted == expected + NVEC + 3,
	       "%u interrupts, each on its vector, none stray", counted);
}

int main(void)
{
	uint64_t exits0, mmio0, io0;
	unsigned int i, once = 0;

	if (!tdev_open(&td) || !msix_init(&mx, td.dev) ||
	    !msi_init(&msi, td.dev)) {
		report(false, "testdev with MSI and MSI-X found");
		report_summary();
	}
	exits0 = vmm_stat(VMM_STAT_EXITS);
	mmio0 = vmm_stat(VMM_STAT_MMIO);
	io0 = vmm_stat(VMM_STAT_IO);
	irqc_init();
	setup();
	/* Every vector once, before timing anything. */
	select_kind(K_MSIX);
	for (i = 0; i < NVEC; i++) {
		tdev_raise(&td, TESTDEV_IRQ_MSIX, i + 1);
		once += irqc_wait((uint8_t)(VEC_MSIX + i), 1, WAIT_US);
	}
	report(once == NVEC, "MSI-X: %u of %u vectors delivered", once, NVEC);
	measure(K_MSIX);
	measure(K_MSI);
	measure(K_INTX);
	run_dma();
	select_kind(NR_KINDS);
	irqc_settle(20000);
	summary(exits0, mmio0, io0);
	report_summary();
}
