// SPDX-License-Identifier: MIT
/*
 * Hostile transfers and disconnects: the largest REGION_WRITE/READ and
 * one byte more, clients that leave mid-message or without reading their
 * reply, and a client that leaves holding DMA windows and irq eventfds:
 * the server must give all of it back and keep the device state.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "regs.h"

#define PAGE 4096u
#define BAR5 VFIO_PCI_BAR5_REGION_INDEX
#define RA sizeof(struct vfio_user_region_access)

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 12) + seed);
}

static void test_max_transfer(void **state)
{
	struct hs_conn *c = *state;
	uint32_t max = c->srv->max_xfer;
	uint8_t *out = malloc(max + 1), *in = malloc(max);
	uint8_t *big = malloc(RA + max + 1);
	struct vfio_user_region_access a = { 0, BAR5, max + 1 };

	assert_non_null(big);
	assert_non_null(out);
	assert_non_null(in);
	/* BAR5 is exactly one maximal transfer. */
	assert_int_equal(max, TESTDEV_BAR5_SIZE);
	fill(out, max + 1, 3);
	hs_region_write(c, BAR5, 0, out, max);
	hs_region_read(c, BAR5, 0, in, max);
	assert_memory_equal(in, out, max);

	/* One byte more: refused, and nothing of it is written. */
	memcpy(big, &a, RA);
	memset(big + RA, 0xee, max + 1);
	hs_expect_err(c, VFIO_USER_REGION_WRITE, big, RA + max + 1, EINVAL);
	hs_expect_err(c, VFIO_USER_REGION_READ, &a, RA, EINVAL);
	/* The largest count, one byte past the region's end. */
	a.offset = 1;
	a.count = max;
	memcpy(big, &a, RA);
	hs_expect_err(c, VFIO_USER_REGION_WRITE, big, RA + max, EINVAL);
	hs_region_read(c, BAR5, 0, in, max);
	assert_memory_equal(in, out, max);
	free(big);
	free(in);
	free(out);
}

/* Half a header, then gone. */
static void test_disconnect_half_header(void **state)
{
	struct hs_conn *c = *state;
	struct vfio_user_header h = { 1, VFIO_USER_DEVICE_GET_INFO, 32, 0, 0 };

	hs_send(c->fd, &h, 8, NULL, 0);
	close(c->fd);
	c->fd = -1;
}

/* 4 KiB announced, 100 bytes sent (with an fd), then gone. */
static void test_disconnect_short_payload(void **state)
{
	struct hs_conn *c = *state;
	uint8_t buf[16 + 100] = { 0 };
	struct vfio_user_header h = { 1, VFIO_USER_REGION_WRITE, 16 + PAGE, 0,
				      0 };
	int m = hs_memfd(PAGE);

	memcpy(buf, &h, sizeof(h));
	hs_send(c->fd, buf, sizeof(buf), &m, 1);
	close(m);
	close(c->fd);
	c->fd = -1;
}

/* Requests whose replies nobody reads: the server's sends fail. */
static void test_disconnect_unread_replies(void **state)
{
	struct hs_conn *c = *state;
	struct vfio_user_region_access a = { 0, BAR5, c->srv->max_xfer };
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	uint8_t buf[200 * 32];
	size_t len = 0;

	for (int i = 0; i < 200; i++)
		len += hs_build(buf + len, (uint16_t)i,
				VFIO_USER_DEVICE_GET_INFO, 0, &info,
				sizeof(info));
	hs_send(c->fd, buf, len, NULL, 0);
	for (int i = 0; i < 8; i++)
		hs_send_cmd(c, VFIO_USER_REGION_READ, 0, &a, RA, NULL, 0);
	close(c->fd);
	c->fd = -1;
}

/*
 * A client leaves holding DMA windows with fds, irq eventfds and half a
 * message with an fd: all its fds go, the device state stays.
 */
static void test_disconnect_holding(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t magic = 0x1badcafe;
	uint8_t pat[64], got[64];
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, 0x100000, PAGE };
	struct vfio_user_dma_unmap um = { sizeof(um), 0, 0x100000, PAGE };
	struct vfio_irq_set irq = { sizeof(irq),
				    VFIO_IRQ_SET_DATA_EVENTFD |
					    VFIO_IRQ_SET_ACTION_TRIGGER,
				    VFIO_PCI_MSI_IRQ_INDEX, 0, 3 };
	struct vfio_user_header part = { 99, VFIO_USER_DMA_MAP,
					 16 + sizeof(map), 0, 0 };
	int m[3] = { hs_memfd(PAGE), hs_memfd(2 * PAGE), hs_memfd(PAGE) };
	int e[3] = { hs_eventfd(), hs_eventfd(), hs_eventfd() };
	int before = hs_fds_now(c);
	uint64_t v;

	hs_region_write32(c, TESTDEV_REG_BAR, TESTDEV_REG_MAGIC, magic);
	assert_int_equal(
		hs_region_read32(c, TESTDEV_REG_BAR, TESTDEV_REG_MAGIC), magic);
	fill(pat, sizeof(pat), 11);
	hs_region_write(c, 1, 0, pat, sizeof(pat));
	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m[0], 1,
			 NULL);
	map.addr = 0x200000;
	map.size = 2 * PAGE;
	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m[1], 1,
			 NULL);
	hs_expect_ok_fds(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq), e, 3,
			 NULL);
	assert_int_equal(hs_fds_now(c), before + 5);
	/* Half a DMA_MAP whose fd the server has already received. */
	hs_send(c->fd, &part, sizeof(part), &m[2], 1);
	hs_close_all(m, 3);

	hs_reconnect(c, true);
	/* The new client sees exactly the baseline: nothing kept. */
	assert_int_equal(hs_fds_now(c), c->srv->conn_fds);
	assert_int_equal(
		hs_region_read32(c, TESTDEV_REG_BAR, TESTDEV_REG_MAGIC), magic);
	hs_region_read(c, 1, 0, got, sizeof(got));
	assert_memory_equal(got, pat, sizeof(got));
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), ENOENT);
	/* The old eventfds are not wired to anything any more. */
	irq.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	hs_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq), EINVAL);
	for (int i = 0; i < 3; i++)
		assert_int_not_equal(read(e[i], &v, sizeof(v)), sizeof(v));
	hs_close_all(e, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_max_transfer, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_half_header,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_short_payload,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_unread_replies,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_holding,
						hs_setup, hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_xfer", tests,
					   hs_group_setup, hs_group_teardown);
}
