// SPDX-License-Identifier: MIT
/*
 * Hostile sizes: payloads a byte short or long of each fixed-size command,
 * argsz below the fixed structure or lying about the payload, and counts
 * that disagree with the data that follows them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define DMA_ADDR 0x40000000ull
#define PAGE 4096u

struct fixed {
	uint16_t cmd;
	const void *p;
	size_t n;
};

/* n - 1 and n + 1 bytes of a valid request: both are EINVAL. */
static void off_by_one(struct hs_conn *c, const struct fixed *f)
{
	uint8_t buf[64] = { 0 };

	assert_true(f->n < sizeof(buf));
	if (f->n)
		memcpy(buf, f->p, f->n);
	if (f->n)
		hs_expect_err(c, f->cmd, buf, f->n - 1, EINVAL);
	hs_expect_err(c, f->cmd, buf, f->n + 1, EINVAL);
	/* A whole trailing word, as a confused client might add. */
	hs_expect_err(c, f->cmd, buf, f->n + 8, EINVAL);
}

static void test_fixed_sizes(void **state)
{
	const struct vfio_user_device_info info = { .argsz = 16 };
	const struct vfio_region_info ri = { .argsz = 32, .index = 1 };
	const struct vfio_irq_info ii = { .argsz = 16, .index = 1 };
	const struct vfio_user_region_io_fds_request io = { .argsz = 16 };
	const struct vfio_user_region_access rd = { .region = 1, .count = 4 };
	const struct vfio_user_dma_map map = {
		.argsz = 32, .flags = 3, .addr = DMA_ADDR, .size = PAGE
	};
	const struct vfio_user_dma_unmap um = { .argsz = 24,
						.addr = DMA_ADDR,
						.size = PAGE };
	/* Unassigning ERR's (absent) eventfd: valid in any state. */
	const struct vfio_irq_set irq = { .argsz = 20,
					  .flags = VFIO_IRQ_SET_DATA_EVENTFD |
						   VFIO_IRQ_SET_ACTION_TRIGGER,
					  .index = VFIO_PCI_ERR_IRQ_INDEX,
					  .count = 1 };
	const struct fixed cases[] = {
		{ VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info) },
		{ VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri) },
		{ VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii) },
		{ VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io, sizeof(io) },
		{ VFIO_USER_REGION_READ, &rd, sizeof(rd) },
		{ VFIO_USER_DMA_MAP, &map, sizeof(map) },
		{ VFIO_USER_DMA_UNMAP, &um, sizeof(um) },
		{ VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq) },
		{ VFIO_USER_DEVICE_RESET, NULL, 0 },
	};
	struct hs_conn *c = *state;
	struct hs_reply r;

	assert_int_equal(sizeof(map), 32);
	assert_int_equal(sizeof(um), 24);
	for (size_t i = 0; i < HS_ARRAY_SIZE(cases); i++) {
		off_by_one(c, &cases[i]);
		/* The exact size works, so the length was the only fault. */
		if (cases[i].cmd == VFIO_USER_DMA_UNMAP)
			continue;
		hs_expect_ok(c, cases[i].cmd, cases[i].p, cases[i].n, &r);
		if (cases[i].cmd == VFIO_USER_REGION_READ)
			assert_int_equal(r.size, sizeof(rd) + rd.count);
		hs_reply_free(&r);
	}
	/* The map above stands; an unmap with a bad size left it alone. */
	hs_expect_ok(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), NULL);
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), ENOENT);
}

/* Commands with a fixed header and variable data: header cut short. */
static void test_short_headers(void **state)
{
	static const uint16_t cmds[] = {
		VFIO_USER_REGION_WRITE,	  VFIO_USER_DEVICE_SET_IRQS,
		VFIO_USER_DEVICE_FEATURE, VFIO_USER_MIG_DATA_READ,
		VFIO_USER_MIG_DATA_WRITE, VFIO_USER_REGION_WRITE_MULTI,
	};
	static const size_t fixed[] = { 16, 20, 8, 8, 8, 8 };
	struct hs_conn *c = *state;
	uint8_t zero[32] = { 0 };

	for (size_t i = 0; i < HS_ARRAY_SIZE(cmds); i++) {
		hs_expect_err(c, cmds[i], NULL, 0, EINVAL);
		hs_expect_err(c, cmds[i], zero, fixed[i] - 1, EINVAL);
	}
}

static void test_argsz_small(void **state)
{
	struct vfio_user_device_info info = { 0 };
	struct vfio_region_info ri = { .index = 1 };
	struct vfio_irq_info ii = { .index = 1 };
	struct vfio_user_region_io_fds_request io = { 0 };
	struct vfio_irq_set irq = { .flags = VFIO_IRQ_SET_DATA_NONE |
					     VFIO_IRQ_SET_ACTION_TRIGGER,
				    .index = VFIO_PCI_MSI_IRQ_INDEX,
				    .count = 1 };
	struct vfio_user_dma_unmap um = { .argsz = 23,
					  .addr = DMA_ADDR,
					  .size = PAGE };
	struct vfio_user_dma_map map = {
		.argsz = 32, .flags = 3, .addr = DMA_ADDR, .size = PAGE
	};
	struct hs_conn *c = *state;

	for (uint32_t a = 0; a < 16; a += 15) {
		info.argsz = a;
		hs_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info),
			      EINVAL);
		ii.argsz = a;
		hs_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii),
			      EINVAL);
		io.argsz = a;
		hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io,
			      sizeof(io), EINVAL);
	}
	ri.argsz = 31;
	hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri),
		      EINVAL);
	ri.argsz = 0;
	hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri),
		      EINVAL);
	irq.argsz = 19;
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq), EINVAL);

	/* A mapped window that an unmap with a short argsz must not touch. */
	hs_expect_ok(c, VFIO_USER_DMA_MAP, &map, sizeof(map), NULL);
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), EINVAL);
	um.argsz = 24;
	hs_expect_ok(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), NULL);
}

/*
 * DMA_MAP's argsz is the size of its own structure: one that says more
 * (or less) than the payload carries is a lie, and maps nothing.
 */
static void test_dma_map_argsz_lies(void **state)
{
	static const uint32_t lies[] = { 0, 16, 31, 33, 64, 4096, UINT32_MAX };
	struct vfio_user_dma_map map = { .flags = 3,
					 .addr = DMA_ADDR,
					 .size = PAGE };
	struct vfio_user_dma_unmap um = { .argsz = 24,
					  .addr = DMA_ADDR,
					  .size = PAGE };
	struct hs_conn *c = *state;

	for (size_t i = 0; i < HS_ARRAY_SIZE(lies); i++) {
		map.argsz = lies[i];
		hs_expect_err(c, VFIO_USER_DMA_MAP, &map, sizeof(map), EINVAL);
	}
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), ENOENT);
}

/* A generous argsz is fine: the reply is still only what is needed. */
static void test_argsz_large(void **state)
{
	struct vfio_user_device_info info = { .argsz = UINT32_MAX };
	struct vfio_region_info ri = { .argsz = UINT32_MAX, .index = 7 };
	struct hs_conn *c = *state;
	struct hs_reply r;
	uint32_t argsz;

	hs_expect_ok(c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), &r);
	assert_int_equal(r.size, 16);
	memcpy(&argsz, r.data, sizeof(argsz));
	assert_int_equal(argsz, 16);
	hs_reply_free(&r);
	hs_expect_ok(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &r);
	memcpy(&argsz, r.data, sizeof(argsz));
	assert_int_equal(r.size, argsz);
	assert_true(argsz >= 32 && argsz < 4096);
	hs_reply_free(&r);
}

static size_t region_msg(uint8_t *buf, uint64_t off, uint32_t region,
			 uint32_t count, const void *data, size_t n)
{
	struct vfio_user_region_access a = { off, region, count };

	memcpy(buf, &a, sizeof(a));
	if (n)
		memcpy(buf + sizeof(a), data, n);
	return sizeof(a) + n;
}

static void read_bar1(struct hs_conn *c, uint8_t *out, uint32_t n)
{
	struct vfio_user_region_access rd = { 0, 1, n };
	struct hs_reply r;

	hs_expect_ok(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), &r);
	assert_int_equal(r.size, sizeof(rd) + n);
	memcpy(out, r.data + sizeof(rd), n);
	hs_reply_free(&r);
}

static void test_region_write_count(void **state)
{
	static const uint8_t pat[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t other[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
	static const uint32_t counts[] = { 0, 4, 7, 9, 16, UINT32_MAX };
	struct hs_conn *c = *state;
	uint8_t buf[64], got[8];
	size_t n;

	n = region_msg(buf, 0, 1, 8, pat, 8);
	hs_expect_ok(c, VFIO_USER_REGION_WRITE, buf, n, NULL);
	for (size_t i = 0; i < HS_ARRAY_SIZE(counts); i++) {
		n = region_msg(buf, 0, 1, counts[i], other, 8);
		hs_expect_err(c, VFIO_USER_REGION_WRITE, buf, n, EINVAL);
	}
	/* The header alone, claiming data. */
	n = region_msg(buf, 0, 1, 8, NULL, 0);
	hs_expect_err(c, VFIO_USER_REGION_WRITE, buf, n, EINVAL);
	read_bar1(c, got, 8);
	assert_memory_equal(got, pat, 8);
}

static size_t irq_msg(uint8_t *buf, uint32_t flags, uint32_t index,
		      uint32_t start, uint32_t count, size_t extra)
{
	struct vfio_irq_set s = { sizeof(s) + (uint32_t)extra, flags, index,
				  start, count };

	memcpy(buf, &s, sizeof(s));
	memset(buf + sizeof(s), 1, extra);
	return sizeof(s) + extra;
}

static void test_set_irqs_data_size(void **state)
{
	const uint32_t bool_trig =
		VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	const uint32_t none_trig =
		VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	const uint32_t efd_trig =
		VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	const uint32_t msi = VFIO_PCI_MSI_IRQ_INDEX;
	struct hs_conn *c = *state;
	uint8_t buf[64];
	size_t n;

	n = irq_msg(buf, bool_trig, msi, 0, 4, 3);
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, EINVAL);
	n = irq_msg(buf, bool_trig, msi, 0, 4, 5);
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, EINVAL);
	n = irq_msg(buf, bool_trig, msi, 0, 4, 0);
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, EINVAL);
	n = irq_msg(buf, none_trig, msi, 0, 1, 1);
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, EINVAL);
	/* ioctl-style: fds as an int array in the data, not SCM_RIGHTS. */
	n = irq_msg(buf, efd_trig, msi, 0, 1, 4);
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, EINVAL);
	/* Enabled (no fds: nothing wired), the exact size works. */
	n = irq_msg(buf, efd_trig, msi, 0, 4, 0);
	hs_expect_ok(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, NULL);
	n = irq_msg(buf, bool_trig, msi, 0, 4, 4);
	hs_expect_ok(c, VFIO_USER_DEVICE_SET_IRQS, buf, n, NULL);
}

static size_t multi_msg(uint8_t *buf, uint64_t wr_cnt,
			const struct vfio_user_write_multi_data *w,
			unsigned int n)
{
	memcpy(buf, &wr_cnt, sizeof(wr_cnt));
	memcpy(buf + sizeof(wr_cnt), w, n * sizeof(*w));
	return sizeof(wr_cnt) + n * sizeof(*w);
}

static void test_write_multi(void **state)
{
	struct vfio_user_write_multi_data w[2] = {
		{ 0, 1, 4, { 0xa, 0xb, 0xc, 0xd } },
		{ 4, 1, 4, { 0xe, 0xf, 0x1, 0x2 } },
	};
	static const uint8_t zero[8] = { 0 };
	struct hs_conn *c = *state;
	uint8_t buf[128], got[8];
	size_t n;

	if (!c->srv->write_multiple)
		skip();
	n = region_msg(buf, 0, 1, 8, zero, 8);
	hs_expect_ok(c, VFIO_USER_REGION_WRITE, buf, n, NULL);
	n = multi_msg(buf, 0, w, 0);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	n = multi_msg(buf, 2, w, 1);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	n = multi_msg(buf, 1, w, 2);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	/* A count whose product with the entry size wraps around. */
	n = multi_msg(buf, (1ull << 61) + 1, w, 1);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	n = multi_msg(buf, 201, w, 2);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	/* A good first write and a bad second: nothing may be written. */
	w[1].count = 9;
	n = multi_msg(buf, 2, w, 2);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	w[1].count = 4;
	w[1].region = 9;
	n = multi_msg(buf, 2, w, 2);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	w[1].region = 1;
	w[1].offset = UINT64_MAX - 1;
	n = multi_msg(buf, 2, w, 2);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	w[1].offset = 4;
	w[1].count = 0;
	n = multi_msg(buf, 2, w, 2);
	hs_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, buf, n, EINVAL);
	read_bar1(c, got, 8);
	assert_memory_equal(got, zero, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixed_sizes, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_short_headers, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_argsz_small, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_dma_map_argsz_lies,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_argsz_large, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_region_write_count,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_data_size,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_write_multi, hs_setup,
						hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_sizes", tests,
					   hs_group_setup, hs_group_teardown);
}
