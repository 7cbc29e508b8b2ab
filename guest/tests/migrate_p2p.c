// SPDX-License-Identifier: MIT
/*
 * For the runner's migration test with two devices: peer-to-peer DMA
 * across a live migration.  Device 2 writes into device 1's BAR5 (its
 * DMA window there is the VMM's, at BAR5's guest address) and device 1
 * reads from device 2's BAR5; the guest checks each by CRC through its
 * own mapping of the BAR.  The guest says READY, then goes on until the
 * stats port says it runs on the destination and ROUNDS_AFTER more
 * rounds are done: every transfer, before, during and after the move,
 * must have moved the right bytes.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define P2P_BAR 5
#define SIZE 8192
#define SLOTS 16 /* transfers rotate over BAR5's first 128 KiB */
#define ROUNDS_BEFORE 16
#define ROUNDS_AFTER 32
#define MAX_ROUNDS 100000

static struct tdev a, b;
static uint64_t rng = 0x452821e638d01377ull;

static uint32_t wait_status(const struct tdev *t, uint32_t done)
{
	uint32_t st = 0;

	for (unsigned int i = 0; i < 20000000 && !(st & done); i++)
		st = tdev_read(t, TESTDEV_REG_STATUS);
	return st;
}

/* b writes into a's BAR5, a reads from b's BAR5: both checked. */
static bool round_ok(unsigned int i)
{
	uint64_t off = (uint64_t)(i % SLOTS) * SIZE;
	uint8_t *abar = (uint8_t *)(uintptr_t)pci_bar_addr((unsigned int)a.dev,
							   P2P_BAR);
	uint8_t *bbar = (uint8_t *)(uintptr_t)pci_bar_addr((unsigned int)b.dev,
							   P2P_BAR);
	struct tdev_xfer x = { .command = TESTDEV_CMD_WRITE,
			       .dst = (uintptr_t)(abar + off),
			       .size = SIZE };
	uint32_t st, rst;
	bool ok, crc_ok;

	tdev_xfer_start(&b, &x);
	st = wait_status(&b,
			 TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_WRITE_FAIL);
	crc_ok = crc32_le(~0u, abar + off, SIZE) ==
		 tdev_read(&b, TESTDEV_REG_CHECKSUM);
	ok = (st & TESTDEV_STATUS_WRITE_OK) && crc_ok;

	fill_random(&rng, bbar + off, SIZE);
	x = (struct tdev_xfer){ .command = TESTDEV_CMD_READ,
				.src = (uintptr_t)(bbar + off),
				.size = SIZE,
				.checksum = crc32_le(~0u, bbar + off, SIZE) };
	tdev_xfer_start(&a, &x);
	rst = wait_status(&a,
			  TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL);
	if (ok && (rst & TESTDEV_STATUS_READ_OK))
		return true;
	printf("round %u: write status %#x, its bytes %s; read status %#x\n",
	       i, st, crc_ok ? "right" : "wrong", rst);
	return false;
}

int main(void)
{
	unsigned int ok = 0, bad = 0, after = 0, i;
	bool moved = false;
	int first = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID), second = -1;

	for (int d = first + 1; first > 0 && d < 32 && second < 0; d++)
		if (tdev_open_at(&b, d))
			second = d;
	report(tdev_open_at(&a, first) && second > 0,
	       "two testdevs, at %d and %d", first, second);
	if (second < 0)
		report_summary();
	for (i = 0; i < ROUNDS_BEFORE; i++)
		ok += round_ok(i);
	report(ok == ROUNDS_BEFORE, "%u of %u P2P rounds before the move", ok,
	       ROUNDS_BEFORE);
	printf("READY\n");
	for (; i < MAX_ROUNDS && after < ROUNDS_AFTER; i++) {
		if (round_ok(i))
			ok++;
		else
			bad++;
		if (!moved && vmm_stat(VMM_STAT_MIGRATED)) {
			moved = true;
			printf("moved after %u rounds\n", i + 1);
		}
		after += moved;
	}
	report(moved, "the VM moved (%u rounds in all)", i);
	report(!bad, "%u P2P rounds moved the right bytes, %u did not", ok,
	       bad);
	report_summary();
	return 0;
}
