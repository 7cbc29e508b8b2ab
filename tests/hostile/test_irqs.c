// SPDX-License-Identifier: MIT
/*
 * Hostile SET_IRQS: ranges that overflow or leave the index, flag
 * combinations that make no sense, data and argsz that do not match,
 * fds where none belong, too few or too many of them, fds that are not
 * eventfds, eventfds rigged to block, and enable/disable floods.  Each
 * gets its errno, the server keeps serving, and no fd stays behind (the
 * teardown also checks the server's fd count once the client is gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "regs.h"

#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX
#define REQ VFIO_PCI_REQ_IRQ_INDEX

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

#define CMD VFIO_USER_DEVICE_SET_IRQS

static uint32_t irq_count(struct hs_conn *c, uint32_t index)
{
	struct vfio_irq_info in = { .argsz = sizeof(in), .index = index }, out;
	struct hs_reply r;

	hs_expect_ok(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in), &r);
	assert_int_equal(r.size, sizeof(out));
	memcpy(&out, r.data, sizeof(out));
	hs_reply_free(&r);
	return out.count;
}

/* A header with argsz = exactly the payload. */
static void hdr(struct vfio_irq_set *s, uint32_t flags, uint32_t index,
		uint32_t start, uint32_t count)
{
	*s = (struct vfio_irq_set){ sizeof(*s), flags, index, start, count };
}

static void expect(struct hs_conn *c, uint32_t flags, uint32_t index,
		   uint32_t start, uint32_t count, const int *fds,
		   unsigned int nfds, int err)
{
	struct vfio_irq_set s;

	hdr(&s, flags, index, start, count);
	if (err)
		hs_expect_err_fds(c, CMD, &s, sizeof(s), fds, nfds, err);
	else
		hs_expect_ok_fds(c, CMD, &s, sizeof(s), fds, nfds, NULL);
}

static void test_ranges(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t trig = D_NONE | A_TRIG;
	int e = hs_eventfd();

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		uint32_t n = irq_count(c, i);

		assert_true(n >= 1);
		expect(c, trig, i, 1, UINT32_MAX, NULL, 0, EINVAL);
		expect(c, trig, i, UINT32_MAX, 1, NULL, 0, EINVAL);
		expect(c, trig, i, UINT32_MAX, UINT32_MAX, NULL, 0, EINVAL);
		/* vfio-pci's rule: count == U32_MAX - start is refused. */
		expect(c, trig, i, 0, UINT32_MAX, NULL, 0, EINVAL);
		expect(c, trig, i, n, 1, NULL, 0, EINVAL);
		expect(c, trig, i, n, 0, NULL, 0, EINVAL);
		expect(c, trig, i, 0, n + 1, NULL, 0, EINVAL);
		expect(c, trig, i, n - 1, 2, NULL, 0, EINVAL);
		expect(c, D_EFD | A_TRIG, i, n, 1, &e, 1, EINVAL);
		expect(c, D_EFD | A_TRIG, i, 0, n + 1, NULL, 0, EINVAL);
	}
	/* The single-vector indexes, spelled out. */
	expect(c, D_EFD | A_TRIG, INTX, 0, 2, NULL, 0, EINVAL);
	expect(c, D_EFD | A_TRIG, ERR, 1, 1, &e, 1, EINVAL);
	expect(c, D_EFD | A_TRIG, REQ, 1, 0, NULL, 0, EINVAL);
	expect(c, D_NONE | A_UNMASK, INTX, 1, 0, NULL, 0, EINVAL);
	expect(c, trig, VFIO_PCI_NUM_IRQS, 0, 1, NULL, 0, EINVAL);
	expect(c, trig, UINT32_MAX, 0, 0, NULL, 0, EINVAL);
	/* Enabled, the bounds are the same. */
	expect(c, D_EFD | A_TRIG, MSIX, 0, 1, &e, 1, 0);
	expect(c, D_NONE | A_MASK, MSIX, 2048, 1, NULL, 0, EINVAL);
	expect(c, D_NONE | A_UNMASK, MSIX, 2047, 2, NULL, 0, EINVAL);
	expect(c, trig, MSIX, 2047, UINT32_MAX - 2047, NULL, 0, EINVAL);
	expect(c, trig, MSIX, 0, 0, NULL, 0, 0);
	close(e);
}

static void test_flags(void **state)
{
	struct hs_conn *c = *state;
	static const uint32_t bad[] = {
		0,
		D_NONE,
		A_TRIG,
		D_NONE | D_BOOL | A_TRIG,
		D_BOOL | D_EFD | A_TRIG,
		D_NONE | A_MASK | A_UNMASK,
		D_NONE | A_MASK | A_TRIG,
		D_NONE | A_UNMASK | A_TRIG,
		0x3f,
		D_NONE | A_TRIG | (1u << 6),
		D_NONE | A_TRIG | (1u << 31),
		0xffffffffu,
	};

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		for (size_t k = 0; k < HS_ARRAY_SIZE(bad); k++)
			expect(c, bad[k], i, 0, 1, NULL, 0, EINVAL);
	/* Actions an index has no handler for, as vfio-pci: ENOTTY. */
	expect(c, D_NONE | A_MASK, ERR, 0, 1, NULL, 0, ENOTTY);
	expect(c, D_NONE | A_UNMASK, REQ, 0, 1, NULL, 0, ENOTTY);
	expect(c, D_EFD | A_MASK, MSI, 0, 1, NULL, 0, ENOTTY);
	expect(c, D_EFD | A_UNMASK, MSIX, 0, 1, NULL, 0, ENOTTY);
}

/* SET_IRQS with data bytes after the header; argsz as given. */
static size_t msg(uint8_t *buf, uint32_t argsz, uint32_t flags, uint32_t index,
		  uint32_t start, uint32_t count, size_t data)
{
	struct vfio_irq_set s = { argsz, flags, index, start, count };

	memcpy(buf, &s, sizeof(s));
	memset(buf + sizeof(s), 1, data);
	return sizeof(s) + data;
}

static void test_sizes(void **state)
{
	struct hs_conn *c = *state;
	uint8_t buf[sizeof(struct vfio_irq_set) + 64];
	const uint32_t bt = D_BOOL | A_TRIG;
	int e = hs_eventfd();
	size_t n;

	/* Short headers. */
	hs_expect_err(c, CMD, buf, 0, EINVAL);
	n = msg(buf, 20, D_NONE | A_TRIG, MSIX, 0, 1, 0);
	hs_expect_err(c, CMD, buf, n - 1, EINVAL);
	hs_expect_err(c, CMD, buf, 4, EINVAL);
	/* argsz below the header, or below header + bools. */
	n = msg(buf, 19, D_NONE | A_TRIG, MSIX, 0, 0, 0);
	hs_expect_err(c, CMD, buf, n, EINVAL);
	n = msg(buf, 0, D_NONE | A_TRIG, MSIX, 0, 0, 0);
	hs_expect_err(c, CMD, buf, n, EINVAL);
	hs_expect_ok_fds(c, CMD, buf,
			 msg(buf, 20, D_EFD | A_TRIG, MSIX, 0, 1, 0), &e, 1,
			 NULL);
	n = msg(buf, 20 + 3, bt, MSIX, 0, 4, 4);
	hs_expect_err(c, CMD, buf, n, EINVAL);
	/* BOOL data not matching count, either way, or huge counts. */
	hs_expect_err(c, CMD, buf, msg(buf, 24, bt, MSIX, 0, 4, 3), EINVAL);
	hs_expect_err(c, CMD, buf, msg(buf, 25, bt, MSIX, 0, 4, 5), EINVAL);
	hs_expect_err(c, CMD, buf, msg(buf, 64, bt, MSIX, 0, 2048, 40), EINVAL);
	hs_expect_err(c, CMD, buf,
		      msg(buf, UINT32_MAX, bt, MSIX, 0, UINT32_MAX, 40),
		      EINVAL);
	hs_expect_err(c, CMD, buf,
		      msg(buf, UINT32_MAX, bt, MSIX, 0, 0x80000000u, 8),
		      EINVAL);
	/* Data with NONE or EVENTFD (an ioctl-style fd array). */
	hs_expect_err(c, CMD, buf, msg(buf, 21, D_NONE | A_TRIG, MSIX, 0, 1, 1),
		      EINVAL);
	hs_expect_err(c, CMD, buf, msg(buf, 24, D_EFD | A_TRIG, MSIX, 0, 1, 4),
		      EINVAL);
	/* argsz beyond the payload is fine (QEMU counts its fd array). */
	hs_expect_ok(c, CMD, buf, msg(buf, 24, D_NONE | A_TRIG, MSIX, 0, 1, 0),
		     NULL);
	hs_expect_ok(c, CMD, buf, msg(buf, 1000, bt, MSIX, 0, 4, 4), NULL);
	assert_true(hs_fds_now(c) > 0);
	close(e);
}

static void test_fds(void **state)
{
	struct hs_conn *c = *state;
	int e[3] = { hs_eventfd(), hs_eventfd(), hs_eventfd() };
	int p[2], sv[2], m = hs_memfd(4096), nul, dir, mixed[2];
	const uint8_t yes[2] = { 1, 1 };
	uint8_t buf[sizeof(struct vfio_irq_set) + 2];
	int before;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	dir = open("/", O_PATH | O_CLOEXEC);
	assert_true(nul >= 0 && dir >= 0);
	before = hs_fds_now(c);
	/* fds where the data is not EVENTFD. */
	expect(c, D_NONE | A_TRIG, ERR, 0, 1, e, 1, EINVAL);
	expect(c, D_NONE | A_MASK, INTX, 0, 1, e, 1, EINVAL);
	msg(buf, sizeof(buf), D_BOOL | A_TRIG, MSIX, 0, 2, 2);
	memcpy(buf + sizeof(struct vfio_irq_set), yes, 2);
	hs_expect_err_fds(c, CMD, buf, sizeof(buf), e, 2, EINVAL);
	/* Neither none nor count. */
	expect(c, D_EFD | A_TRIG, MSIX, 0, 2, e, 1, EINVAL);
	expect(c, D_EFD | A_TRIG, MSIX, 0, 2, e, 3, EINVAL);
	expect(c, D_EFD | A_TRIG, MSIX, 0, 1, e, 2, EINVAL);
	expect(c, D_EFD | A_TRIG, ERR, 0, 1, e, 3, EINVAL);
	expect(c, D_EFD | A_UNMASK, INTX, 0, 1, e, 2, EINVAL);
	expect(c, D_EFD | A_TRIG, MSIX, 0, 0, e, 1, EINVAL);
	/* Not eventfds; all or nothing when mixed. */
	expect(c, D_EFD | A_TRIG, MSIX, 0, 1, &p[0], 1, EINVAL);
	expect(c, D_EFD | A_TRIG, MSIX, 0, 1, &p[1], 1, EINVAL);
	expect(c, D_EFD | A_TRIG, MSI, 0, 1, &sv[0], 1, EINVAL);
	expect(c, D_EFD | A_TRIG, INTX, 0, 1, &m, 1, EINVAL);
	expect(c, D_EFD | A_TRIG, ERR, 0, 1, &nul, 1, EINVAL);
	expect(c, D_EFD | A_TRIG, REQ, 0, 1, &dir, 1, EINVAL);
	mixed[0] = e[0];
	mixed[1] = p[0];
	expect(c, D_EFD | A_TRIG, MSIX, 0, 2, mixed, 2, EINVAL);
	/* Nothing was enabled by any of that. */
	expect(c, D_NONE | A_TRIG, MSIX, 0, 1, NULL, 0, EINVAL);
	expect(c, D_NONE | A_TRIG, INTX, 0, 1, NULL, 0, EINVAL);
	/* Good eventfds for actions that take none. */
	expect(c, D_EFD | A_MASK, MSIX, 0, 1, e, 1, ENOTTY);
	expect(c, D_EFD | A_UNMASK, ERR, 0, 1, e, 1, ENOTTY);
	expect(c, D_EFD | A_UNMASK, INTX, 0, 1, e, 1, EINVAL);
	expect(c, D_EFD | A_TRIG, INTX, 0, 1, &e[0], 1, 0);
	expect(c, D_EFD | A_MASK, INTX, 0, 1, &e[1], 1, ENOTTY);
	expect(c, D_EFD | A_UNMASK, INTX, 0, 1, &e[1], 1, 0);
	expect(c, D_EFD | A_UNMASK, INTX, 0, 1, &e[2], 1, EBUSY);
	expect(c, D_NONE | A_TRIG, INTX, 0, 0, NULL, 0, 0);
	assert_int_equal(hs_fds_now(c), before);
	hs_close_all(e, 3);
	hs_close_all(p, 2);
	hs_close_all(sv, 2);
	close(m);
	close(nul);
	close(dir);
}

/* Enable, assign, watch, disable, again and again: nothing accumulates. */
static void test_flood(void **state)
{
	struct hs_conn *c = *state;
	int e[8], u = hs_eventfd();
	int before = hs_fds_now(c);

	for (int i = 0; i < 8; i++)
		e[i] = hs_eventfd();
	for (int round = 0; round < 300; round++) {
		expect(c, D_EFD | A_TRIG, MSIX, (uint32_t)round % 2000, 8, e, 8,
		       0);
		expect(c, D_EFD | A_TRIG, MSIX, (uint32_t)round % 2000, 8, e, 8,
		       0);
		expect(c, D_NONE | A_TRIG, MSIX, 0, 0, NULL, 0, 0);
		expect(c, D_EFD | A_TRIG, INTX, 0, 1, e, 1, 0);
		expect(c, D_EFD | A_UNMASK, INTX, 0, 1, &u, 1, 0);
		if (round % 2)
			expect(c, D_EFD | A_UNMASK, INTX, 0, 1, NULL, 0, 0);
		expect(c, D_NONE | A_TRIG, INTX, 0, 0, NULL, 0, 0);
		expect(c, D_EFD | A_TRIG, ERR, 0, 1, e, 1, 0);
		expect(c, D_EFD | A_TRIG, ERR, 0, 1, NULL, 0, 0);
	}
	assert_int_equal(hs_fds_now(c), before);
	/* Left enabled and watched: the teardown's disconnect cleans up. */
	expect(c, D_EFD | A_TRIG, INTX, 0, 1, e, 1, 0);
	expect(c, D_EFD | A_UNMASK, INTX, 0, 1, &u, 1, 0);
	expect(c, D_EFD | A_TRIG, REQ, 0, 1, &e[1], 1, 0);
	hs_close_all(e, 8);
	close(u);
}

/*
 * Eventfds the client rigged: a trigger counter one short of its
 * maximum (a blocking write would hang the device), and an unmask
 * eventfd the client drains itself under the watcher.
 */
static void test_rigged_eventfds(void **state)
{
	struct hs_conn *c = *state;
	/* Blocking ones: the flag lives in the file, shared with the server. */
	int t = eventfd(0, EFD_CLOEXEC), u = eventfd(0, EFD_CLOEXEC);
	uint64_t full = 0xfffffffffffffffeull, v, one = 1;

	assert_true(t >= 0 && u >= 0);
	expect(c, D_EFD | A_TRIG, MSIX, 0, 1, &t, 1, 0);
	/* The server took the file non-blocking: its writes cannot hang. */
	assert_true(fcntl(t, F_GETFL) & O_NONBLOCK);
	assert_int_equal(write(t, &full, sizeof(v)), sizeof(v));
	hs_region_write32(c, TESTDEV_REG_BAR, TESTDEV_REG_IRQ_NUMBER, 1);
	hs_region_write32(c, TESTDEV_REG_BAR, TESTDEV_REG_COMMAND,
			  TESTDEV_CMD_RAISE_MSIX);
	expect(c, D_NONE | A_TRIG, MSIX, 0, 1, NULL, 0, 0);
	hs_ping(c);
	assert_int_equal(read(t, &v, sizeof(v)), sizeof(v));
	assert_true(v == full);
	/* Once drained, raises land again. */
	hs_region_write32(c, TESTDEV_REG_BAR, TESTDEV_REG_COMMAND,
			  TESTDEV_CMD_RAISE_MSIX);
	assert_int_equal(read(t, &v, sizeof(v)), sizeof(v));
	assert_true(v == 1);
	expect(c, D_NONE | A_TRIG, MSIX, 0, 0, NULL, 0, 0);

	expect(c, D_EFD | A_TRIG, INTX, 0, 1, &t, 1, 0);
	expect(c, D_EFD | A_UNMASK, INTX, 0, 1, &u, 1, 0);
	assert_true(fcntl(u, F_GETFL) & O_NONBLOCK);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(write(u, &one, sizeof(one)), sizeof(one));
		(void)!read(u, &v, sizeof(v));
	}
	/* The watcher must still stop when asked. */
	expect(c, D_NONE | A_TRIG, INTX, 0, 0, NULL, 0, 0);
	hs_ping(c);
	close(t);
	close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ranges, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_flags, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_sizes, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_fds, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_flood, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_rigged_eventfds, hs_setup,
						hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_irqs", tests,
					   hs_group_setup, hs_group_teardown);
}
