/* SPDX-License-Identifier: MIT */
/*
 * A guest's accesses, for the tests that drive uvfio-vmm's device side
 * without KVM (vm_init_bare()): config space through vdev_cfg_access(),
 * memory through the VM's MMIO bus, each asserted to go through as a
 * guest's would.  Header-only; include it after <cmocka.h>.
 */
#ifndef UVFIO_TESTS_GUEST_ACCESS_H
#define UVFIO_TESTS_GUEST_ACCESS_H

#include <time.h>

#include "vdev.h"
#include "vmm.h"

/* A user-space router's delivery for tests that count no MSI. */
static inline void ga_no_msi(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque;
	(void)address;
	(void)data;
}

static inline int64_t ga_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint32_t ga_cfg_rd(struct vdev *vd, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	assert_int_equal(vdev_cfg_access(vd, off, &v, len, false), 0);
	return v;
}

static inline void ga_cfg_wr(struct vdev *vd, uint32_t off, uint32_t v,
			     uint32_t len)
{
	assert_int_equal(vdev_cfg_access(vd, off, &v, len, true), 0);
}

/* 1 from the bus: something decodes there, as a guest access finds. */
static inline uint32_t ga_rd(struct vm *vm, uint64_t gpa)
{
	uint32_t v = 0;

	assert_int_equal(mmio_dispatch(&vm->mmio, gpa, &v, 4, false), 1);
	return v;
}

static inline void ga_wr(struct vm *vm, uint64_t gpa, uint32_t v)
{
	assert_int_equal(mmio_dispatch(&vm->mmio, gpa, &v, 4, true), 1);
}

/* The capability id in the device's list (a test failure without it). */
static inline unsigned int ga_find_cap(struct vdev *vd, uint8_t id)
{
	unsigned int at = ga_cfg_rd(vd, PCI_CAPABILITY_LIST, 1) & ~3u;

	for (int n = 0; at && n < 48; n++) {
		if (ga_cfg_rd(vd, at, 1) == id)
			return at;
		at = ga_cfg_rd(vd, at + 1, 1) & ~3u;
	}
	fail_msg("no capability %#x", id);
	return 0;
}

#endif
