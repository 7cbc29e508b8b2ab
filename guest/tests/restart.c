// SPDX-License-Identifier: MIT
/*
 * For the runner's restart test: DMA reads checked by CRC, each ending
 * in an MSI-X interrupt, before and after the runner kills uvfio-testdev
 * and starts it again.  The guest says READY, then goes on until it sees
 * the restart (the MAGIC register it wrote reads as a fresh device's)
 * and has done ROUNDS_AFTER more.  The VMM reconnects on the first
 * access that finds the device gone, so the guest sees a stall and at
 * most one command lost with the old process, which it retries after a
 * timeout, as a driver would.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define VEC 0x48
#define MARK 0x600dcafeu
#define ROUNDS_BEFORE 20
#define ROUNDS_AFTER 50
#define MAX_ROUNDS 50000
#define MAX_LOST 20 /* a device that never came back: fail now, not later */
#define WAIT_US 500000
#define SIZE 8192

static uint8_t buf[SIZE] __attribute__((aligned(4096)));
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static struct tdev td;

/* One READ with its CRC: true when its interrupt came and said READ_OK. */
static bool round_ok(uint32_t size)
{
	struct tdev_xfer x = { .command = TESTDEV_CMD_READ,
			       .src = (uintptr_t)buf,
			       .size = size,
			       .irq_type = TESTDEV_IRQ_MSIX,
			       .irq_number = 1 };

	fill_random(&rng, buf, size);
	x.checksum = crc32_le(~0u, buf, size);
	return tdev_xfer_irq(&td, &x, VEC, WAIT_US) ==
	       (TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_IRQ_RAISED);
}

int main(void)
{
	unsigned int ok = 0, lost = 0, after = 0, i;
	bool restarted = false;
	uint32_t magic = MARK;
	struct msix mx;

	report(tdev_open(&td), "testdev found");
	if (!td.dev || !msix_init(&mx, td.dev))
		report_summary();
	irqc_init();
	msix_control(&mx, true, true);
	msix_set(&mx, 0, msi_address((uint8_t)lapic_id()), VEC);
	msix_mask(&mx, 0, false);
	msix_control(&mx, true, false);
	tdev_write(&td, TESTDEV_REG_MAGIC, MARK);

	for (i = 0; i < ROUNDS_BEFORE; i++)
		ok += round_ok(1 + i * 409);
	report(ok == ROUNDS_BEFORE, "%u of %u DMA reads before the restart",
	       ok, ROUNDS_BEFORE);
	printf("READY\n");
	for (i = 0; i < MAX_ROUNDS && after < ROUNDS_AFTER && lost < MAX_LOST;
	     i++) {
		bool good = round_ok(512 + i % (SIZE - 512));

		if (!restarted) {
			magic = tdev_read(&td, TESTDEV_REG_MAGIC);
			restarted = magic != MARK;
		}
		if (!good)
			lost++;
		else if (restarted)
			after++;
	}
	report(restarted, "the device restarted (MAGIC reads %#x)", magic);
	report(after == ROUNDS_AFTER, "%u of %u DMA reads by MSI-X after it",
	       after, ROUNDS_AFTER);
	report(lost <= 1, "%u command(s) lost with the old device", lost);
	report_summary();
}
