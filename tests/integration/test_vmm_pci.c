// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm's PCI bus as a guest reaches it, in a VM without KVM
 * (vm_init_bare()): configuration mechanism #1 through the 0xcf8/0xcfc
 * port handler and ECAM through the MMIO bus, over uvfio-testdev in slot
 * 1.  ECAM gives the same header as the ports, and the extended space
 * (PCIe capabilities from 0x100: testdev's Device Serial Number and
 * VSEC) that the ports cannot reach; BAR sizing works through either;
 * absent functions and accesses PCIe does not allow read as all ones.
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

#include "regs.h"
#include "bare_vm.h"

#define SLOT 1 /* the first --device */

struct fx {
	struct bare_vm b;
};

static void no_msi(void *opaque, uint64_t address, uint32_t data)
{
}

static uint32_t ecam_rd(struct fx *f, uint32_t dev, uint32_t fn, uint32_t reg,
			uint32_t len)
{
	uint64_t gpa = PCI_ECAM_BASE + (dev << 15) + (fn << 12) + reg;
	uint32_t v = 0;

	assert_int_equal(mmio_dispatch(&f->b.vm.mmio, gpa, &v, len, false), 1);
	return v;
}

static void ecam_wr(struct fx *f, uint32_t dev, uint32_t reg, uint32_t v)
{
	uint64_t gpa = PCI_ECAM_BASE + (dev << 15) + reg;

	assert_int_equal(mmio_dispatch(&f->b.vm.mmio, gpa, &v, 4, true), 1);
}

/* Mechanism #1: the address dword, then the data port. */
static uint32_t port_rd(struct fx *f, uint32_t dev, uint32_t reg)
{
	uint32_t a = 1u << 31 | dev << 11 | (reg & 0xfc), v = 0;

	assert_int_equal(pcihost_io(&f->b.vm, PORT_PCI_ADDR, &a, 4, true), 0);
	assert_int_equal(pcihost_io(&f->b.vm, PORT_PCI_DATA, &v, 4, false), 0);
	return v;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return bare_vm_up(&f->b, NULL, 0, no_msi, NULL);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	bare_vm_down(&f->b);
	free(f);
	return 0;
}

static void test_header(void **state)
{
	struct fx *f = *state;

	assert_int_equal(ecam_rd(f, SLOT, 0, PCI_VENDOR_ID, 4),
			 TESTDEV_DEVICE_ID << 16 | TESTDEV_VENDOR_ID);
	for (uint32_t reg = 0; reg < 256; reg += 4)
		assert_int_equal(ecam_rd(f, SLOT, 0, reg, 4),
				 port_rd(f, SLOT, reg));
	/* Bytes and words inside a dword. */
	assert_int_equal(ecam_rd(f, SLOT, 0, PCI_DEVICE_ID, 2),
			 TESTDEV_DEVICE_ID);
	assert_int_equal(ecam_rd(f, SLOT, 0, PCI_VENDOR_ID + 1, 1),
			 TESTDEV_VENDOR_ID >> 8);
	/* The host bridge, and nothing where nothing is. */
	assert_int_equal(ecam_rd(f, 0, 0, PCI_VENDOR_ID, 2), 0x1b36);
	assert_int_equal(ecam_rd(f, SLOT + 1, 0, PCI_VENDOR_ID, 4),
			 0xffffffffu);
	assert_int_equal(ecam_rd(f, SLOT, 1, PCI_VENDOR_ID, 4), 0xffffffffu);
	assert_int_equal(ecam_rd(f, 31, 7, 0xffc, 4), 0xffffffffu);
	/* Across a dword, or 8 bytes: not a config access. */
	assert_int_equal(ecam_rd(f, SLOT, 0, PCI_VENDOR_ID + 2, 4),
			 0xffffffffu);
	assert_int_equal(ecam_rd(f, SLOT, 0, PCI_VENDOR_ID + 3, 2),
			 0xffffu);
}

/* The extended space: what the ports cannot reach. */
static void test_extended(void **state)
{
	struct fx *f = *state;
	uint32_t at = 0x100, dsn = 0, vsec = 0;

	for (int n = 0; at && n < 64; n++) {
		uint32_t h = ecam_rd(f, SLOT, 0, at, 4);

		assert_int_not_equal(h, 0xffffffffu);
		if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_DSN)
			dsn = at;
		if (PCI_EXT_CAP_ID(h) == PCI_EXT_CAP_ID_VNDR)
			vsec = at;
		at = PCI_EXT_CAP_NEXT(h);
	}
	assert_int_not_equal(dsn, 0);
	assert_int_not_equal(vsec, 0);
	assert_int_equal(ecam_rd(f, SLOT, 0, dsn + 4, 4),
			 (uint32_t)TESTDEV_SERIAL);
	assert_int_equal(ecam_rd(f, SLOT, 0, dsn + 8, 4),
			 (uint32_t)(TESTDEV_SERIAL >> 32));
	assert_int_equal(ecam_rd(f, SLOT, 0, vsec + 4, 2), TESTDEV_VSEC_ID);
	/* The host bridge has none: its extended space reads 0. */
	assert_int_equal(ecam_rd(f, 0, 0, 0x100, 4), 0);
}

/* BAR sizing through ECAM is the VMM's BAR emulation, as through ports. */
static void test_bar_sizing(void **state)
{
	struct fx *f = *state;
	uint32_t old = ecam_rd(f, SLOT, 0, PCI_BASE_ADDRESS_0, 4);

	ecam_wr(f, SLOT, PCI_BASE_ADDRESS_0, 0xffffffffu);
	assert_int_equal(ecam_rd(f, SLOT, 0, PCI_BASE_ADDRESS_0, 4) & ~0xfu,
			 ~(TESTDEV_BAR0_SIZE - 1));
	ecam_wr(f, SLOT, PCI_BASE_ADDRESS_0, old);
	assert_int_equal(port_rd(f, SLOT, PCI_BASE_ADDRESS_0), old);
	/* ECAM is outside the BAR window: BARs never land on it. */
	assert_true(PCI_MMIO_END <= PCI_ECAM_BASE);
	assert_true(old < PCI_ECAM_BASE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_extended),
		cmocka_unit_test(test_bar_sizing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
