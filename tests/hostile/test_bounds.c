// SPDX-License-Identifier: MIT
/*
 * Hostile bounds: region accesses past the end or wrapping around 2^64,
 * indexes of regions and irqs that do not exist, and SET_IRQS ranges and
 * flag combinations that make no sense.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static uint32_t num_regions(struct hs_conn *c)
{
	struct vfio_user_device_info in = { .argsz = sizeof(in) }, out;
	struct hs_reply r;

	hs_expect_ok(c, VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in), &r);
	assert_int_equal(r.size, sizeof(out));
	memcpy(&out, r.data, sizeof(out));
	hs_reply_free(&r);
	return out.num_regions;
}

static void region_info(struct hs_conn *c, uint32_t index,
			struct vfio_region_info *out)
{
	struct vfio_region_info in = { .argsz = sizeof(in), .index = index };
	struct hs_reply r;

	hs_expect_ok(c, VFIO_USER_DEVICE_GET_REGION_INFO, &in, sizeof(in), &r);
	assert_true(r.size >= sizeof(*out));
	memcpy(out, r.data, sizeof(*out));
	hs_reply_free(&r);
	assert_int_equal(out->index, index);
}

static uint32_t irq_count(struct hs_conn *c, uint32_t index)
{
	struct vfio_irq_info in = { .argsz = sizeof(in), .index = index }, out;
	struct hs_reply r;

	hs_expect_ok(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in), &r);
	assert_int_equal(r.size, sizeof(out));
	memcpy(&out, r.data, sizeof(out));
	hs_reply_free(&r);
	assert_int_equal(out.index, index);
	return out.count;
}

static void bad_read(struct hs_conn *c, uint32_t region, uint64_t off,
		     uint32_t count)
{
	struct vfio_user_region_access a = { off, region, count };

	hs_expect_err(c, VFIO_USER_REGION_READ, &a, sizeof(a), EINVAL);
}

/* Writes carry exactly count bytes, so only the bounds are wrong. */
static void bad_write(struct hs_conn *c, uint32_t region, uint64_t off,
		      uint32_t count)
{
	uint8_t buf[sizeof(struct vfio_user_region_access) + 8] = { 0 };
	struct vfio_user_region_access a = { off, region, count };

	assert_true(count <= 8);
	memcpy(buf, &a, sizeof(a));
	hs_expect_err(c, VFIO_USER_REGION_WRITE, buf, sizeof(a) + count,
		      EINVAL);
}

static void bad_rw(struct hs_conn *c, uint32_t region, uint64_t off,
		   uint32_t count)
{
	bad_read(c, region, off, count);
	if (count <= 8)
		bad_write(c, region, off, count);
}

static void good_rw(struct hs_conn *c, uint32_t region, uint64_t off)
{
	struct vfio_user_region_access a = { off, region, 4 }, echo;
	uint8_t buf[sizeof(a) + 4];
	struct hs_reply r;

	hs_expect_ok(c, VFIO_USER_REGION_READ, &a, sizeof(a), &r);
	assert_int_equal(r.size, sizeof(a) + 4);
	memcpy(&echo, r.data, sizeof(echo));
	assert_true(echo.offset == off);
	assert_int_equal(echo.region, region);
	assert_int_equal(echo.count, 4);
	/* Write back what was read: harmless for any register. */
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), r.data + sizeof(a), 4);
	hs_reply_free(&r);
	hs_expect_ok(c, VFIO_USER_REGION_WRITE, buf, sizeof(buf), NULL);
}

static void test_region_bounds(void **state)
{
	struct hs_conn *c = *state;
	uint32_t n = num_regions(c), present = 0;
	const uint32_t beyond[] = { n, n + 1, 1000, 0x7fffffff, UINT32_MAX };
	struct vfio_region_info ri;

	assert_true(n >= VFIO_PCI_NUM_REGIONS);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s;

		region_info(c, i, &ri);
		if (!ri.size) {
			/* Absent (ROM, VGA): nothing can be accessed. */
			assert_int_equal(ri.flags, 0);
			bad_rw(c, i, 0, 1);
			bad_rw(c, i, 0, 4);
			continue;
		}
		present++;
		s = ri.size;
		assert_true(s >= 8);
		good_rw(c, i, s - 4);
		bad_rw(c, i, s - 4, 8);
		bad_rw(c, i, s - 1, 2);
		bad_rw(c, i, s, 1);
		bad_rw(c, i, s + 1, 1);
		bad_rw(c, i, 1ull << 63, 4);
		/* offset + count wraps to a small number. */
		bad_rw(c, i, UINT64_MAX, 1);
		bad_rw(c, i, UINT64_MAX - 3, 8);
		bad_rw(c, i, UINT64_MAX - s + 4, 8);
		bad_rw(c, i, 0, 0);
		bad_rw(c, i, s - 1, UINT32_MAX);
		bad_rw(c, i, 0, c->srv->max_xfer + 1);
	}
	/* Six BARs and config space on testdev; the ROM is absent. */
	assert_int_equal(present, 7);
	region_info(c, VFIO_PCI_ROM_REGION_INDEX, &ri);
	assert_true(ri.size == 0);
	for (size_t i = 0; i < HS_ARRAY_SIZE(beyond); i++) {
		bad_rw(c, beyond[i], 0, 4);
		bad_rw(c, beyond[i], 0, 0);
	}
}

static void test_info_bounds(void **state)
{
	struct hs_conn *c = *state;
	uint32_t n = num_regions(c);
	const uint32_t beyond[] = { n, n + 1, 1000, UINT32_MAX };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	struct vfio_user_region_io_fds_request io = { .argsz = sizeof(io) };

	for (size_t i = 0; i < HS_ARRAY_SIZE(beyond); i++) {
		ri.index = beyond[i];
		hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri,
			      sizeof(ri), EINVAL);
		io.index = beyond[i];
		hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io,
			      sizeof(io), EINVAL);
	}
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		irq_count(c, i);
	for (uint32_t i = VFIO_PCI_NUM_IRQS; i < VFIO_PCI_NUM_IRQS + 2; i++) {
		ii.index = i;
		hs_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii),
			      EINVAL);
	}
	ii.index = UINT32_MAX;
	hs_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii),
		      EINVAL);
	/* IO_FDS: flags are reserved, count is the reply's. */
	io.index = 0;
	io.flags = 1;
	hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io, sizeof(io),
		      EINVAL);
	io.flags = 0;
	io.count = 1;
	hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io, sizeof(io),
		      EINVAL);
	io.count = 0;
	io.argsz = sizeof(io) - 1;
	hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io, sizeof(io),
		      EINVAL);
	hs_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io,
		      sizeof(io) - 4, EINVAL);
	/*
	 * No room for BAR0's six doorbells (one short of it, or none): the
	 * size it takes, the count, and no entries or fds.
	 */
	for (uint32_t room = 0; room < 2; room++) {
		struct hs_reply r;
		struct vfio_user_region_io_fds_request got;
		const uint32_t need = sizeof(io) + 6 * 40;

		io.argsz = room ? need - 1 : sizeof(io);
		hs_expect_ok(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &io,
			     sizeof(io), &r);
		assert_int_equal(r.size, sizeof(got));
		memcpy(&got, r.data, sizeof(got));
		assert_int_equal(got.argsz, need);
		assert_int_equal(got.count, 6);
		assert_int_equal(got.index, 0);
		assert_int_equal(r.nfds, 0);
		hs_reply_free(&r);
	}
}

static void set_irqs_err(struct hs_conn *c, uint32_t flags, uint32_t index,
			 uint32_t start, uint32_t count)
{
	struct vfio_irq_set s = { sizeof(s), flags, index, start, count };

	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), EINVAL);
}

static void test_set_irqs_bounds(void **state)
{
	const uint32_t trig =
		VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	const uint32_t msi = VFIO_PCI_MSI_IRQ_INDEX;
	struct hs_conn *c = *state;
	uint32_t m = irq_count(c, msi),
		 err = irq_count(c, VFIO_PCI_ERR_IRQ_INDEX);
	struct vfio_irq_set s = { sizeof(s), trig, msi, m - 1, 1 };

	assert_true(m > 1);
	/* Ranges. */
	set_irqs_err(c, trig, msi, UINT32_MAX, 2);
	set_irqs_err(c, trig, msi, UINT32_MAX, 1);
	set_irqs_err(c, trig, msi, 2, UINT32_MAX);
	set_irqs_err(c, trig, msi, m, 1);
	set_irqs_err(c, trig, msi, m - 1, 2);
	set_irqs_err(c, trig, msi, 0, m + 1);
	set_irqs_err(c, trig, VFIO_PCI_ERR_IRQ_INDEX, err, 1);
	set_irqs_err(c, trig, VFIO_PCI_NUM_IRQS, 0, 1);
	set_irqs_err(c, trig, UINT32_MAX, 0, 1);
	/* Exactly one data type and one action. */
	set_irqs_err(c, 0, msi, 0, 1);
	set_irqs_err(c, VFIO_IRQ_SET_DATA_NONE, msi, 0, 1);
	set_irqs_err(c, VFIO_IRQ_SET_ACTION_TRIGGER, msi, 0, 1);
	set_irqs_err(c, trig | VFIO_IRQ_SET_DATA_BOOL, msi, 0, 1);
	set_irqs_err(c, trig | VFIO_IRQ_SET_DATA_EVENTFD, msi, 0, 1);
	set_irqs_err(c, trig | VFIO_IRQ_SET_ACTION_MASK, msi, 0, 1);
	set_irqs_err(c,
		     VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK |
			     VFIO_IRQ_SET_ACTION_UNMASK,
		     msi, 0, 1);
	set_irqs_err(c, trig | (1u << 6), msi, 0, 1);
	set_irqs_err(c, trig | (1u << 31), msi, 0, 1);
	/* count 0 only disables, which takes DATA_NONE. */
	set_irqs_err(c, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
		     msi, 0, 0);
	/* Enabled (no fds: nothing wired), the edges themselves are fine. */
	s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s.start = 0;
	s.count = m;
	hs_expect_ok(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), NULL);
	s.flags = trig;
	s.start = m - 1;
	s.count = 1;
	hs_expect_ok(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), NULL);
	s.start = 0;
	s.count = 0;
	hs_expect_ok(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), NULL);
}

/* testdev with its doorbells, so that IO_FDS has entries to refuse. */
static int group_setup(void **state)
{
	static const char *const args[] = { "--doorbells", NULL };

	*state = hs_start(args);
	return *state ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_bounds, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_info_bounds, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_bounds, hs_setup,
						hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_bounds", tests,
					   group_setup, hs_group_teardown);
}
