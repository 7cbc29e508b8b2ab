// SPDX-License-Identifier: MIT
/*
 * Exit statistics.  Each vCPU counts its own exits (one writer, so plain
 * relaxed atomic stores suffice); devices count trapped accesses per BAR.
 * Readers sum over vCPUs: a guest through the stats port, the VMM at exit
 * with --stats.  The point is to show that accesses to mapped BAR areas
 * never leave the guest.  Two selectors are not counters: STAT_TSC_KHZ
 * gives the guest its TSC rate (KVM_GET_TSC_KHZ), for turning rdtsc
 * differences into time, and STAT_MIGRATED says whether the VM came in
 * by migration (a guest test's way to see it moved).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "vmm.h"

void stats_inc(uint64_t *counter)
{
	__atomic_store_n(counter,
			 __atomic_load_n(counter, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

uint64_t stats_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static uint64_t sum(struct vm *vm, size_t field)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < vm->nr_cpus; i++)
		total += stats_read(
			(const uint64_t *)((const char *)&vm->cpus[i].stats +
					   field));
	return total;
}

static int tsc_khz(struct vm *vm, uint64_t *val)
{
	int khz;

	if (!vm->nr_cpus)
		return -ENOENT;
	khz = ioctl(vm->cpus[0].fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return -ENOENT;
	*val = (uint64_t)khz;
	return 0;
}

int stats_get(struct vm *vm, uint32_t sel, uint64_t *val)
{
	uint32_t dev, bar;

	switch (sel) {
	case STAT_EXITS:
		*val = sum(vm, offsetof(struct exit_stats, exits));
		return 0;
	case STAT_IO:
		*val = sum(vm, offsetof(struct exit_stats, io));
		return 0;
	case STAT_MMIO:
		*val = sum(vm, offsetof(struct exit_stats, mmio));
		return 0;
	case STAT_MMIO_UNASSIGNED:
		*val = sum(vm, offsetof(struct exit_stats, mmio_unassigned));
		return 0;
	case STAT_HLT:
		*val = sum(vm, offsetof(struct exit_stats, hlt));
		return 0;
	case STAT_TSC_KHZ:
		return tsc_khz(vm, val);
	case STAT_MIGRATED:
		*val = vm->migrated_in;
		return 0;
	}
	if (sel < STAT_DEV_BAR(0, 0))
		return -ENOENT;
	dev = (sel - STAT_DEV_BAR(0, 0)) / 8;
	bar = (sel - STAT_DEV_BAR(0, 0)) % 8;
	if (dev >= vm->nr_devs || bar >= 6)
		return -ENOENT;
	*val = vdev_bar_exits(vm->devs[dev], bar);
	return 0;
}

void stats_print(struct vm *vm)
{
	static const struct {
		const char *name;
		size_t field;
	} f[] = {
		{ "exits", offsetof(struct exit_stats, exits) },
		{ "io", offsetof(struct exit_stats, io) },
		{ "mmio", offsetof(struct exit_stats, mmio) },
		{ "mmio.unassigned",
		  offsetof(struct exit_stats, mmio_unassigned) },
		{ "hlt", offsetof(struct exit_stats, hlt) },
		{ "intr", offsetof(struct exit_stats, intr) },
		{ "other", offsetof(struct exit_stats, other) },
	};
	unsigned int i, bar;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		fprintf(stderr, PROG ": stat %s %llu\n", f[i].name,
			(unsigned long long)sum(vm, f[i].field));
	for (i = 0; i < vm->nr_devs; i++)
		for (bar = 0; bar < 6; bar++)
			fprintf(stderr, PROG ": stat mmio.dev%u.bar%u %llu\n",
				i, bar,
				(unsigned long long)vdev_bar_exits(vm->devs[i],
								   bar));
}
