// SPDX-License-Identifier: MIT
/*
 * uvfio-testdev's pure parts: the CRC the pci_endpoint_test driver checks
 * against, and the BAR0 register file logic.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/vfio.h>

#include "proto/crc32.h"
#include "proto/crc32c.h"
/*
 * tests/unit/meson.build only adds crc32.c to this test, so the register
 * file logic (no dependencies) is compiled in here.
 */
#include "regfile.c"

/* Bit at a time, straight from the definition: the reference. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ ((crc & 1) ? 0xedb88320u : 0);
	}
	return crc;
}

static void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_crc_vectors(void **state)
{
	static const uint8_t zeros[32];
	static const char fox[] = "The quick brown fox jumps over the lazy dog";

	(void)state;
	/* Standard CRC-32 of "123456789" is 0xcbf43926, before inversion. */
	assert_int_equal(crc32_le(~0u, "123456789", 9), 0x340bc6d9u);
	assert_int_equal(crc32_le(~0u, "123456789", 9), ~0xcbf43926u);
	assert_int_equal(crc32_le(~0u, "a", 1), 0x174841bcu);
	assert_int_equal(crc32_le(~0u, zeros, sizeof(zeros)), 0xe6f5aa52u);
	assert_int_equal(crc32_le(~0u, fox, strlen(fox)), 0xbeb05cc6u);
	/* Seed 0 with zero bytes stays 0: no hidden pre/post inversion. */
	assert_int_equal(crc32_le(0, zeros, sizeof(zeros)), 0);
}

/* CRC-32C, bit by bit, to hold the table and the SSE4.2 path to. */
static uint32_t crc32c_ref(const uint8_t *p, size_t len)
{
	uint32_t c = ~0u;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void test_crc32c(void **state)
{
	uint8_t buf[1000];

	/* The check value of the Castagnoli CRC. */
	assert_int_equal(crc32c("123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c("", 0), 0);
	fill_pattern(buf, sizeof(buf), 7);
	/* Every alignment and every tail length. */
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len < 40; len++)
			assert_int_equal(crc32c(buf + off, len),
					 crc32c_ref(buf + off, len));
	assert_int_equal(crc32c(buf + 3, 997), crc32c_ref(buf + 3, 997));
}

static void test_crc_empty(void **state)
{
	uint8_t b = 0x5a;

	(void)state;
	assert_int_equal(crc32_le(~0u, &b, 0), ~0u);
	assert_int_equal(crc32_le(0x12345678u, &b, 0), 0x12345678u);
	assert_int_equal(crc32_le(0, NULL, 0), 0);
}

static void test_crc_matches_reference(void **state)
{
	static uint8_t buf[70000];
	static const size_t lens[] = { 1, 2, 3, 7, 8, 9, 255, 256, 4096,
				       65535, 65536, 70000 };
	size_t i;

	(void)state;
	fill_pattern(buf, sizeof(buf), 1);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(crc32_le(~0u, buf, lens[i]),
				 crc_bitwise(~0u, buf, lens[i]));
		assert_int_equal(crc32_le(0x1234u, buf + 1, lens[i] - 1),
				 crc_bitwise(0x1234u, buf + 1, lens[i] - 1));
	}
}

static void test_crc_streaming(void **state)
{
	static uint8_t buf[3000];
	uint32_t whole, crc;
	size_t split, off, step;

	(void)state;
	fill_pattern(buf, sizeof(buf), 7);
	whole = crc32_le(~0u, buf, sizeof(buf));
	for (split = 0; split <= sizeof(buf); split++) {
		crc = crc32_le(~0u, buf, split);
		crc = crc32_le(crc, buf + split, sizeof(buf) - split);
		assert_int_equal(crc, whole);
	}
	/* Many uneven pieces, as the device's chunked DMA produces. */
	for (step = 1; step < 600; step += 37) {
		crc = ~0u;
		for (off = 0; off < sizeof(buf); off += step) {
			size_t n = sizeof(buf) - off < step ?
					   sizeof(buf) - off :
					   step;
			crc = crc32_le(crc, buf + off, n);
		}
		assert_int_equal(crc, whole);
	}
	/* And a single flipped bit changes it. */
	buf[1234] ^= 0x10;
	assert_int_not_equal(crc32_le(~0u, buf, sizeof(buf)), whole);
}

/* Register file ------------------------------------------------------ */

static int rf_setup(void **state)
{
	struct testdev_regfile *rf = malloc(sizeof(*rf));

	if (!rf)
		return -1;
	regfile_reset(rf);
	*state = rf;
	return 0;
}

static int rf_teardown(void **state)
{
	free(*state);
	return 0;
}

static ssize_t rd(struct testdev_regfile *rf, uint64_t off, void *buf, size_t n)
{
	bool hit = true;
	ssize_t ret = regfile_access(rf, off, buf, n, false, &hit);

	assert_false(hit);
	return ret;
}

static uint32_t rd32(struct testdev_regfile *rf, uint64_t off)
{
	uint8_t b[4];

	assert_int_equal(rd(rf, off, b, 4), 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static bool wr(struct testdev_regfile *rf, uint64_t off, const void *buf,
	       size_t n)
{
	bool hit;

	assert_int_equal(regfile_access(rf, off, (void *)buf, n, true, &hit),
			 (ssize_t)n);
	return hit;
}

static bool wr32(struct testdev_regfile *rf, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

	return wr(rf, off, b, 4);
}

static void test_rf_reset(void **state)
{
	struct testdev_regfile *rf = *state;
	unsigned int i;

	for (i = 0; i < TESTDEV_REGS_LEN; i += 4)
		assert_int_equal(rd32(rf, i), 0);
	for (i = 0; i < TESTDEV_MSIX_VECTORS; i++) {
		uint64_t e = TESTDEV_MSIX_TABLE_OFF + 16ull * i;

		assert_int_equal(rd32(rf, e), 0);
		assert_int_equal(rd32(rf, e + 12), 1); /* masked */
	}
	for (i = 0; i < TESTDEV_MSIX_PBA_LEN; i += 4)
		assert_int_equal(rd32(rf, TESTDEV_MSIX_PBA_OFF + i), 0);

	wr32(rf, TESTDEV_REG_MAGIC, 0xdeadbeef);
	wr32(rf, TESTDEV_MSIX_TABLE_OFF + 12, 0);
	regfile_reset(rf);
	assert_int_equal(rd32(rf, TESTDEV_REG_MAGIC), 0);
	assert_int_equal(rd32(rf, TESTDEV_MSIX_TABLE_OFF + 12), 1);
}

static void test_rf_magic_and_sizes(void **state)
{
	struct testdev_regfile *rf = *state;
	uint8_t b8[8];
	uint16_t h;
	uint8_t c;

	/* The BAR0 test of pci_endpoint_test: one dword at offset 0. */
	assert_false(wr32(rf, TESTDEV_REG_MAGIC, 0xa0a0a0a0));
	assert_int_equal(rd32(rf, TESTDEV_REG_MAGIC), 0xa0a0a0a0);

	/* Byte and word writes land in place, little endian. */
	c = 0x11;
	wr(rf, TESTDEV_REG_MAGIC + 3, &c, 1);
	h = 0x2233;
	wr(rf, TESTDEV_REG_MAGIC + 1, &h, 2);
	assert_int_equal(rd32(rf, TESTDEV_REG_MAGIC), 0x112233a0);
	assert_int_equal(rd(rf, TESTDEV_REG_MAGIC + 2, &h, 2), 2);
	assert_int_equal(h, 0x1122);

	/* An 8-byte write across SRC_LO/SRC_HI sets both. */
	memcpy(b8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_false(wr(rf, TESTDEV_REG_SRC_LO, b8, 8));
	assert_int_equal(regfile_get(rf, TESTDEV_REG_SRC_LO), 0x04030201);
	assert_int_equal(regfile_get(rf, TESTDEV_REG_SRC_HI), 0x08070605);
	/* Unaligned 4-byte read across two registers. */
	assert_int_equal(rd32(rf, TESTDEV_REG_SRC_LO + 2), 0x06050403);
}

static void test_rf_cmd_hit(void **state)
{
	struct testdev_regfile *rf = *state;
	uint8_t z[8] = { 0 };
	uint8_t c = 0;

	assert_true(wr32(rf, TESTDEV_REG_COMMAND, 0));
	assert_true(wr(rf, TESTDEV_REG_COMMAND + 3, &c, 1));
	assert_true(wr(rf, TESTDEV_REG_MAGIC + 3, z, 2));
	assert_true(wr(rf, TESTDEV_REG_MAGIC, z, 8));
	assert_false(wr(rf, TESTDEV_REG_MAGIC, z, 4));
	assert_false(wr(rf, TESTDEV_REG_STATUS, z, 4));
	assert_false(wr(rf, TESTDEV_MSIX_TABLE_OFF + 4, z, 4));
	/* Reads never start a command (rd() asserts that). */
	rd(rf, TESTDEV_REG_COMMAND, z, 4);
}

static void test_rf_caps_and_holes(void **state)
{
	struct testdev_regfile *rf = *state;
	uint8_t b[8];

	assert_int_equal(rd32(rf, TESTDEV_REG_CAPS), TESTDEV_CAPS);
	wr32(rf, TESTDEV_REG_CAPS, 0);
	assert_int_equal(rd32(rf, TESTDEV_REG_CAPS), TESTDEV_CAPS);

	/* FLAGS and CAPS in one 8-byte read. */
	wr32(rf, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	assert_int_equal(rd(rf, TESTDEV_REG_FLAGS, b, 8), 8);
	assert_int_equal(b[0], TESTDEV_FLAG_USE_DMA);
	assert_int_equal(b[4], TESTDEV_CAPS & 0xff);

	/* Undecoded space reads 0 and keeps nothing. */
	wr32(rf, TESTDEV_REGS_END, 0xffffffff);
	assert_int_equal(rd32(rf, TESTDEV_REGS_END), 0);
	wr32(rf, 0x800, 0xffffffff);
	assert_int_equal(rd32(rf, 0x800), 0);
	wr32(rf, TESTDEV_MSIX_PBA_OFF + TESTDEV_MSIX_PBA_LEN, 0xffffffff);
	assert_int_equal(rd32(rf, TESTDEV_MSIX_PBA_OFF + TESTDEV_MSIX_PBA_LEN),
			 0);
	assert_int_equal(rd32(rf, TESTDEV_BAR0_SIZE - 4), 0);
	/* A read spanning registers, CAPS and the hole after them. */
	assert_int_equal(rd(rf, TESTDEV_REG_CAPS - 1, b, 8), 8);
	assert_int_equal(b[1], TESTDEV_CAPS & 0xff);
	assert_int_equal(b[5], 0);
}

static void test_rf_msix_storage(void **state)
{
	struct testdev_regfile *rf = *state;
	uint64_t last = TESTDEV_MSIX_TABLE_OFF + TESTDEV_MSIX_TABLE_LEN - 4;
	uint8_t q[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, r[8];

	wr(rf, TESTDEV_MSIX_TABLE_OFF + 16 * 5, q, 8);
	assert_int_equal(rd(rf, TESTDEV_MSIX_TABLE_OFF + 16 * 5, r, 8), 8);
	assert_memory_equal(q, r, 8);
	wr32(rf, last, 0xcafef00d);
	assert_int_equal(rd32(rf, last), 0xcafef00d);
	wr32(rf, TESTDEV_MSIX_PBA_OFF + 8, 0x80000001);
	assert_int_equal(rd32(rf, TESTDEV_MSIX_PBA_OFF + 8), 0x80000001);
	/* The registers did not move. */
	assert_int_equal(regfile_get(rf, TESTDEV_REG_MAGIC), 0);
}

static void test_rf_bounds(void **state)
{
	struct testdev_regfile *rf = *state;
	static uint8_t big[TESTDEV_BAR0_SIZE + 8];
	bool hit;

	assert_int_equal(
		regfile_access(rf, TESTDEV_BAR0_SIZE, big, 1, false, &hit),
		-EINVAL);
	assert_int_equal(
		regfile_access(rf, TESTDEV_BAR0_SIZE - 1, big, 2, true, &hit),
		-EINVAL);
	assert_false(hit);
	assert_int_equal(regfile_access(rf, UINT64_MAX, big, 1, false, &hit),
			 -EINVAL);
	assert_int_equal(regfile_access(rf, 4, big, SIZE_MAX, false, &hit),
			 -EINVAL);
	assert_int_equal(regfile_access(rf, 0, big, sizeof(big), false, &hit),
			 -EINVAL);
	assert_int_equal(
		regfile_access(rf, TESTDEV_BAR0_SIZE, big, 0, true, &hit), 0);
	assert_false(hit);
	/* The whole BAR in one access. */
	assert_int_equal(
		regfile_access(rf, 0, big, TESTDEV_BAR0_SIZE, false, &hit),
		TESTDEV_BAR0_SIZE);
	assert_int_equal(big[TESTDEV_MSIX_TABLE_OFF + 12], 1);
	assert_int_equal(big[TESTDEV_REG_CAPS], TESTDEV_CAPS & 0xff);
}

static void test_rf_take(void **state)
{
	struct testdev_regfile *rf = *state;
	struct testdev_cmd cmd;

	assert_false(regfile_take(rf, &cmd));

	wr32(rf, TESTDEV_REG_MAGIC, 0x1234);
	wr32(rf, TESTDEV_REG_STATUS, TESTDEV_STATUS_IRQ_RAISED);
	wr32(rf, TESTDEV_REG_SRC_LO, 0x89abcdef);
	wr32(rf, TESTDEV_REG_SRC_HI, 0x01234567);
	wr32(rf, TESTDEV_REG_DST_LO, 0x1000);
	wr32(rf, TESTDEV_REG_DST_HI, 0xffffffff);
	wr32(rf, TESTDEV_REG_SIZE, 4096);
	wr32(rf, TESTDEV_REG_CHECKSUM, 0x340bc6d9);
	wr32(rf, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	wr32(rf, TESTDEV_REG_IRQ_NUMBER, 7);
	wr32(rf, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	assert_true(wr32(rf, TESTDEV_REG_COMMAND, TESTDEV_CMD_COPY));

	assert_true(regfile_take(rf, &cmd));
	assert_int_equal(cmd.command, TESTDEV_CMD_COPY);
	assert_int_equal(cmd.src, 0x0123456789abcdefull);
	assert_int_equal(cmd.dst, 0xffffffff00001000ull);
	assert_int_equal(cmd.size, 4096);
	assert_int_equal(cmd.checksum, 0x340bc6d9);
	assert_int_equal(cmd.irq_type, TESTDEV_IRQ_MSIX);
	assert_int_equal(cmd.irq_number, 7);
	assert_int_equal(cmd.flags, TESTDEV_FLAG_USE_DMA);
	/* Command and status cleared; the rest stays for the host. */
	assert_int_equal(rd32(rf, TESTDEV_REG_COMMAND), 0);
	assert_int_equal(rd32(rf, TESTDEV_REG_STATUS), 0);
	assert_int_equal(rd32(rf, TESTDEV_REG_MAGIC), 0x1234);
	assert_int_equal(rd32(rf, TESTDEV_REG_SIZE), 4096);
	assert_false(regfile_take(rf, &cmd));
}

static void test_irq_target(void **state)
{
	unsigned int index = 99;
	uint32_t vector = 99;

	(void)state;
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_INTX, 0, &index, &vector), 0);
	assert_int_equal(index, VFIO_PCI_INTX_IRQ_INDEX);
	assert_int_equal(vector, 0);
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_INTX, 5, &index, &vector), 0);
	assert_int_equal(vector, 0);

	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSI, 1, &index, &vector), 0);
	assert_int_equal(index, VFIO_PCI_MSI_IRQ_INDEX);
	assert_int_equal(vector, 0);
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSI, 32, &index, &vector), 0);
	assert_int_equal(vector, 31);
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSIX, 2048, &index, &vector), 0);
	assert_int_equal(index, VFIO_PCI_MSIX_IRQ_INDEX);
	assert_int_equal(vector, 2047);

	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSI, 0, &index, &vector),
		-EINVAL);
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSI, 33, &index, &vector),
		-EINVAL);
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSIX, 0, &index, &vector),
		-EINVAL);
	assert_int_equal(
		testdev_irq_target(TESTDEV_IRQ_MSIX, 2049, &index, &vector),
		-EINVAL);
	assert_int_equal(testdev_irq_target(TESTDEV_IRQ_MSIX, UINT32_MAX,
					    &index, &vector),
			 -EINVAL);
	assert_int_equal(testdev_irq_target(3, 1, &index, &vector), -EINVAL);
	assert_int_equal(testdev_irq_target(UINT32_MAX, 1, &index, &vector),
			 -EINVAL);
}

static void test_xfer_check(void **state)
{
	const uint64_t max = TESTDEV_MAX_XFER;

	(void)state;
	assert_int_equal(testdev_xfer_check(0x1000, 0, max), -EINVAL);
	assert_int_equal(testdev_xfer_check(0x1000, 1, max), 0);
	assert_int_equal(testdev_xfer_check(0x1000, max, max), 0);
	assert_int_equal(testdev_xfer_check(0x1000, max + 1, max), -EINVAL);
	assert_int_equal(testdev_xfer_check(0, UINT64_MAX, max), -EINVAL);
	/* The last byte may be the last address, but not wrap past it. */
	assert_int_equal(testdev_xfer_check(UINT64_MAX, 1, max), 0);
	assert_int_equal(testdev_xfer_check(UINT64_MAX, 2, max), -EOVERFLOW);
	assert_int_equal(testdev_xfer_check(UINT64_MAX - 4095, 4096, max), 0);
	assert_int_equal(testdev_xfer_check(UINT64_MAX - 4095, 4097, max),
			 -EOVERFLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_vectors),
		cmocka_unit_test(test_crc_empty),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_crc_matches_reference),
		cmocka_unit_test(test_crc_streaming),
		cmocka_unit_test_setup_teardown(test_rf_reset, rf_setup,
						rf_teardown),
		cmocka_unit_test_setup_teardown(test_rf_magic_and_sizes,
						rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(test_rf_cmd_hit, rf_setup,
						rf_teardown),
		cmocka_unit_test_setup_teardown(test_rf_caps_and_holes,
						rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(test_rf_msix_storage, rf_setup,
						rf_teardown),
		cmocka_unit_test_setup_teardown(test_rf_bounds, rf_setup,
						rf_teardown),
		cmocka_unit_test_setup_teardown(test_rf_take, rf_setup,
						rf_teardown),
		cmocka_unit_test(test_irq_target),
		cmocka_unit_test(test_xfer_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
