// SPDX-License-Identifier: MIT
/*
 * What uvfio announces by default fits every peer in the table of
 * src/proto/limits.c (and docs/interop.md), and a device's VERSION reply
 * to QEMU's own proposal stays inside QEMU's limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/limits.h"
#include "proto/negotiate.h"

static bool fits(uint64_t v, uint64_t limit)
{
	return !limit || v <= limit;
}

static void test_defaults_fit_every_peer(void **state)
{
	assert_true(uvfio_nr_peer_limits >= 3);
	for (unsigned int i = 0; i < uvfio_nr_peer_limits; i++) {
		const struct uvfio_peer_limits *p = &uvfio_peer_limits[i];

		print_message("%s\n", p->peer);
		assert_true(fits(UVFIO_DEV_DEFAULT_MAX_MSG_FDS, p->max_msg_fds));
		assert_true(fits(UVFIO_DEV_DEFAULT_MAX_DATA_XFER,
				 p->max_data_xfer_size));
		assert_true(fits(UVFIO_DEV_DEFAULT_MAX_DMA_MAPS,
				 p->max_dma_maps));
		assert_true(!p->pgsize_multiple ||
			    UVFIO_DEV_DEFAULT_PGSIZES % p->pgsize_multiple == 0);
		assert_true(fits(UVFIO_CLIENT_DEFAULT_MAX_MSG_FDS,
				 p->max_msg_fds));
		assert_true(fits(UVFIO_CLIENT_DEFAULT_MAX_DATA_XFER,
				 p->max_data_xfer_size));
	}
	/* QEMU's reads arrive whole only within its socket buffer. */
	assert_true(UVFIO_QEMU_DMA_READ_CHUNK <= 64 * 1024);
}

/* The reply to QEMU's proposal, built as a device builds it. */
static void test_reply_to_qemu(void **state)
{
	static const char qemu[] =
		"{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, "
		"\"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "
		"\"migration\": {\"max_bitmap_size\": 268435456, "
		"\"pgsize\": 4096}, \"write_multiple\": true}}";
	const struct uvfio_peer_limits *q = &uvfio_peer_limits[0];
	struct uvfio_caps cl, sv, r, got;
	uint8_t buf[512];
	int n;

	memcpy(buf, "\0\0\0\0", 4);
	memcpy(buf + 4, qemu, sizeof(qemu));
	assert_int_equal(uvfio_caps_parse(buf, 4 + sizeof(qemu), &cl), 0);
	uvfio_caps_default(&sv);
	sv.max_msg_fds = UVFIO_DEV_DEFAULT_MAX_MSG_FDS;
	sv.twin_socket = true;
	sv.write_multiple = true;
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
	n = uvfio_caps_format(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvfio_caps_parse(buf, (size_t)n, &got), 0);
	assert_int_equal(got.minor, 0);
	assert_false(got.present & ~cl.present);
	assert_null(strstr((char *)buf + 4, "twin_socket"));
	assert_true(got.max_msg_fds <= q->max_msg_fds);
	assert_true(got.max_data_xfer_size <= q->max_data_xfer_size);
	assert_true(got.max_dma_maps <= q->max_dma_maps);
	assert_true(got.pgsizes % q->pgsize_multiple == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_fit_every_peer),
		cmocka_unit_test(test_reply_to_qemu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
