/* SPDX-License-Identifier: MIT */
/*
 * uvfio-vmm's device side without KVM, for the tests that drive it as a
 * guest would (vm_init_bare()): a VM with RAM_MIN of RAM (or the
 * cfg.ram_size set before) and testdev, started with args, in its first
 * slot.  Header-only: only those tests link the VMM's objects.
 */
#ifndef UVFIO_TESTS_BARE_VM_H
#define UVFIO_TESTS_BARE_VM_H

#include "testdev_proc.h"
#include "vdev.h"
#include "vmm.h"

struct bare_vm {
	struct testdev_proc dev;
	struct vm_config cfg;
	struct vm vm;
	struct vdev *vd;
};

/* 0, or -1 with what exists torn down by bare_vm_down() all the same. */
static inline int bare_vm_up(struct bare_vm *b, const char *const *args,
			     unsigned int reconnect_ms,
			     uvfio_irq_deliver_fn fn, void *opaque)
{
	if (!b->cfg.ram_size)
		b->cfg.ram_size = RAM_MIN;
	b->cfg.nr_cpus = 1;
	b->cfg.reconnect_ms = reconnect_ms;
	if (testdev_start(&b->dev, args) ||
	    vm_init_bare(&b->vm, &b->cfg, fn, opaque))
		return -1;
	b->vd = vdev_open(&b->vm, b->dev.sock, 0);
	if (!b->vd)
		return -1;
	b->vm.devs[b->vm.nr_devs++] = b->vd;
	return 0;
}

static inline void bare_vm_down(struct bare_vm *b)
{
	vm_destroy(&b->vm);
	testdev_stop(&b->dev);
}

#endif
