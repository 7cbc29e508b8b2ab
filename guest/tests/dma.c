// SPDX-License-Identifier: MIT
/*
 * testdev's READ, WRITE and COPY on guest memory: the guest programs
 * guest physical addresses (the VMM maps all of RAM for DMA with IOVA
 * equal to GPA), starts the command through BAR0 and polls STATUS, since
 * interrupts are not wired yet.  CRC-32 as pci_endpoint_test computes
 * it; guard bytes around each destination catch writes past either end.
 * Sizes stay modest because guest code runs emulated.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

#define GUARD 64
#define POISON 0xa5
#define BUF_SIZE (256u * 1024 + 4096)
#define POLL_MAX 1000000

static uint8_t src_buf[BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t dst_buf[BUF_SIZE + 2 * GUARD] __attribute__((aligned(4096)));
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uintptr_t regs;

static void wr(uint32_t reg, uint32_t v)
{
	mmio_write32(regs + reg, v);
}

static uint32_t rd(uint32_t reg)
{
	return mmio_read32(regs + reg);
}

/* Runs one command; returns STATUS, or 0 if it never completed. */
static uint32_t run(uint32_t cmd, uint64_t src, uint64_t dst, uint32_t size,
		    uint32_t checksum, uint32_t *crc_out)
{
	uint32_t status = 0, i;

	wr(TESTDEV_REG_STATUS, 0);
	wr(TESTDEV_REG_SRC_LO, (uint32_t)src);
	wr(TESTDEV_REG_SRC_HI, (uint32_t)(src >> 32));
	wr(TESTDEV_REG_DST_LO, (uint32_t)dst);
	wr(TESTDEV_REG_DST_HI, (uint32_t)(dst >> 32));
	wr(TESTDEV_REG_SIZE, size);
	wr(TESTDEV_REG_CHECKSUM, checksum);
	/* IRQ number 0 names no vector: the device raises nothing. */
	wr(TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	wr(TESTDEV_REG_IRQ_NUMBER, 0);
	wr(TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(TESTDEV_REG_COMMAND, cmd);
	for (i = 0; i < POLL_MAX && !status; i++) {
		status = rd(TESTDEV_REG_STATUS);
		if (!status)
			cpu_pause();
	}
	if (crc_out)
		*crc_out = rd(TESTDEV_REG_CHECKSUM);
	wr(TESTDEV_REG_STATUS, 0);
	return status;
}

static bool guards_ok(const uint8_t *dst, uint32_t size)
{
	unsigned int i;

	for (i = 1; i <= GUARD; i++)
		if (dst[-(int)i] != POISON || dst[size + i - 1] != POISON)
			return false;
	return true;
}

struct xcase {
	uint32_t size;
	uint32_t misalign;
};

static const struct xcase cases[] = {
	{ 1, 0 }, { 1024, 1 }, { 4097, 5 }, { 65537, 7 }, { 256 * 1024, 0 },
};

static void test_case(const struct xcase *x)
{
	uint8_t *src = src_buf + x->misalign;
	uint8_t *dst = dst_buf + GUARD + x->misalign;
	uint32_t crc, status, dev_crc;

	fill_random(&rng, src, x->size);
	crc = crc32_le(~0u, src, x->size);
	status = run(TESTDEV_CMD_READ, (uintptr_t)src, 0, x->size, crc, NULL);
	report(status == TESTDEV_STATUS_READ_OK,
	       "READ %u bytes +%u: status %#x", x->size, x->misalign, status);

	memset(dst - GUARD, POISON, x->size + 2 * GUARD);
	status =
		run(TESTDEV_CMD_WRITE, 0, (uintptr_t)dst, x->size, 0, &dev_crc);
	crc = crc32_le(~0u, dst, x->size);
	report(status == TESTDEV_STATUS_WRITE_OK && crc == dev_crc &&
		       guards_ok(dst, x->size),
	       "WRITE %u bytes +%u: status %#x, CRC %#x (device %#x)%s",
	       x->size, x->misalign, status, crc, dev_crc,
	       guards_ok(dst, x->size) ? "" : ", guards overwritten");

	memset(dst - GUARD, POISON, x->size + 2 * GUARD);
	status = run(TESTDEV_CMD_COPY, (uintptr_t)src, (uintptr_t)dst, x->size,
		     0, NULL);
	report(status == TESTDEV_STATUS_COPY_OK && !memcmp(src, dst, x->size) &&
		       guards_ok(dst, x->size),
	       "COPY %u bytes +%u: status %#x", x->size, x->misalign, status);
}

/* The device must refuse what is wrong, or the passes prove nothing. */
static void test_bad(void)
{
	uint64_t ram = guest_ram_size();
	uint32_t crc, status;

	fill_random(&rng, src_buf, 4096);
	crc = crc32_le(~0u, src_buf, 4096);
	status = run(TESTDEV_CMD_READ, (uintptr_t)src_buf, 0, 4096, crc ^ 1,
		     NULL);
	report(status == TESTDEV_STATUS_READ_FAIL,
	       "READ with a wrong CRC fails: status %#x", status);
	status = run(TESTDEV_CMD_READ, 0xf0000000ul, 0, 4096, crc, NULL);
	report(status ==
		       (TESTDEV_STATUS_READ_FAIL | TESTDEV_STATUS_SRC_INVALID),
	       "READ outside guest RAM: status %#x", status);
	status = run(TESTDEV_CMD_COPY, (uintptr_t)src_buf, ram - 100, 4096, 0,
		     NULL);
	report(status ==
		       (TESTDEV_STATUS_COPY_FAIL | TESTDEV_STATUS_DST_INVALID),
	       "COPY across the end of guest RAM: status %#x", status);
	status = run(TESTDEV_CMD_WRITE, 0, ram, 16, 0, NULL);
	report(status ==
		       (TESTDEV_STATUS_WRITE_FAIL | TESTDEV_STATUS_DST_INVALID),
	       "WRITE just past guest RAM: status %#x", status);
}

int main(void)
{
	int dev = pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);
	unsigned int i;

	report(dev > 0, "testdev found");
	if (dev <= 0)
		report_summary();
	regs = pci_bar_addr(dev, TESTDEV_REG_BAR);
	pci_write16(dev, PCI_COMMAND,
		    pci_read16(dev, PCI_COMMAND) | PCI_COMMAND_MASTER);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		test_case(&cases[i]);
	test_bad();
	report_summary();
}
