// SPDX-License-Identifier: MIT
/*
 * DMA_READ/DMA_WRITE payloads in both layouts, against bytes QEMU 10.1
 * sent (tests/interop/data/qemu-standin-dma.jsonl, replies to requests of
 * a scripted device) and the forms libvfio-user uses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/dma_rw.h"

/* QEMU's reply to DMA_READ 0x8040, 16 bytes (T21): data at offset 12. */
static const uint8_t qemu_t21[32] = {
	0x40, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 'Q', 'E', 'M', 'U',
	'L',  'A',  'Y', 'O', 'U', 'T', '0', '1', '2', '3', '4', '5', 0, 0, 0, 0,
};
/* QEMU's reply to DMA_READ 0x8000, 16 bytes (T3), memory 00 00 00 00 00 01.. */
static const uint8_t qemu_t3[32] = {
	0, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0,
	0, 1,    2, 3, 4, 5, 6, 7, 8,  9, 10, 11, 0, 0, 0, 0,
};
/* QEMU's reply to DMA_READ of 0 bytes (T17). */
static const uint8_t qemu_t17[16] = { 0, 0x80 };

static void test_head(void **state)
{
	uint8_t b[VFIO_USER_DMA_RW_FRAME];
	static const uint8_t spec[16] = { 0x40, 0x80, 0, 0, 0, 0, 0, 0,
					  16,   0,    0, 0, 0, 0, 0, 0 };

	memset(b, 0xee, sizeof(b));
	assert_int_equal(vfio_user_dma_rw_head(b, 0x8040, 16, false), 16);
	assert_memory_equal(b, spec, 16);
	/* QEMU's: u32 count; the 4 bytes after are zero (a read's pad). */
	memset(b, 0xee, sizeof(b));
	assert_int_equal(vfio_user_dma_rw_head(b, 0x8040, 16, true), 12);
	assert_memory_equal(b, qemu_t21, 12);
	assert_memory_equal(b + 12, "\0\0\0\0", 4);
}

static void test_qemu_read_replies(void **state)
{
	assert_int_equal(vfio_user_dma_read_reply(qemu_t21, 32, 0x8040, 16,
						  true),
			 12);
	assert_memory_equal(qemu_t21 + 12, "QEMULAYOUT012345", 16);
	assert_int_equal(vfio_user_dma_read_reply(qemu_t3, 32, 0x8000, 16,
						  true),
			 12);
	assert_int_equal(vfio_user_dma_read_reply(qemu_t17, 16, 0x8000, 0,
						  true),
			 12);
	/* Read as the spec's layout, T21's "QEMU" makes the count wrong. */
	assert_int_equal(vfio_user_dma_read_reply(qemu_t21, 32, 0x8040, 16,
						  false),
			 -EPROTO);
	/* A reply for another address, count, or of another size. */
	assert_int_equal(vfio_user_dma_read_reply(qemu_t21, 32, 0x8000, 16,
						  true),
			 -EPROTO);
	assert_int_equal(vfio_user_dma_read_reply(qemu_t21, 32, 0x8040, 15,
						  true),
			 -EPROTO);
	assert_int_equal(vfio_user_dma_read_reply(qemu_t21, 31, 0x8040, 16,
						  true),
			 -EPROTO);
	assert_int_equal(vfio_user_dma_read_reply(qemu_t21, 0, 0, 0, true),
			 -EPROTO);
}

static void test_spec_read_reply(void **state)
{
	uint8_t r[16 + 4] = { 0x00, 0x10 };

	r[8] = 4;
	memcpy(r + 16, "data", 4);
	assert_int_equal(vfio_user_dma_read_reply(r, 20, 0x1000, 4, false), 16);
	/* A count with its high half set is not the count asked for. */
	r[12] = 1;
	assert_int_equal(vfio_user_dma_read_reply(r, 20, 0x1000, 4, false),
			 -EPROTO);
	assert_int_equal(vfio_user_dma_read_reply(r, 20, 0x1000, UINT64_MAX,
						  false),
			 -EPROTO);
}

/* Header only (QEMU), 12 bytes (the spec), 16 (libvfio-user). */
static void test_write_reply_forms(void **state)
{
	uint8_t r[16] = { 0x40, 0x80, 0, 0, 0, 0, 0, 0, 16 };

	assert_int_equal(vfio_user_dma_write_reply(NULL, 0, 0x8040, 16), 0);
	assert_int_equal(vfio_user_dma_write_reply(r, 12, 0x8040, 16), 0);
	assert_int_equal(vfio_user_dma_write_reply(r, 16, 0x8040, 16), 0);
	assert_int_equal(vfio_user_dma_write_reply(r, 16, 0x8048, 16),
			 -EPROTO);
	assert_int_equal(vfio_user_dma_write_reply(r, 16, 0x8040, 8),
			 -EPROTO);
	r[12] = 1; /* a u64 count with a high half */
	assert_int_equal(vfio_user_dma_write_reply(r, 16, 0x8040, 16),
			 -EPROTO);
	assert_int_equal(vfio_user_dma_write_reply(r, 12, 0x8040, 16), 0);
	for (size_t n = 1; n < 16; n++)
		if (n != 12)
			assert_int_equal(vfio_user_dma_write_reply(r, n,
								   0x8040, 16),
					 -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_qemu_read_replies),
		cmocka_unit_test(test_spec_read_reply),
		cmocka_unit_test(test_write_reply_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
