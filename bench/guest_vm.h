/* SPDX-License-Identifier: MIT */
/*
 * The benchmarks that run a guest in uvfio-vmm's VM code (guest_irq,
 * doorbell): a 64 MiB VM with one vCPU and the guest ELF loaded
 * (bench_guest_load()), then, once the bench has put what it measures
 * in place, the vCPU started and the guest's READY seen in the mailbox
 * (bench_guest_run()).  Failures end the program, as the benches do.
 * Header-only: only those benches link the VMM's objects.
 */
#ifndef UVFIO_BENCH_GUEST_VM_H
#define UVFIO_BENCH_GUEST_VM_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailbox.h"
#include "stats.h"
#include "vmm.h"

#define BENCH_GUEST_READY_NS (20ull * 1000000000ull)

static inline void bench_guest_die(const char *what, int err)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(err));
	exit(1);
}

/* The VM with the guest in RAM: its entry point; *mb, the mailbox. */
static inline uint64_t bench_guest_load(struct vm *vm, struct vm_config *cfg,
					const char *guest,
					volatile uint32_t **mb)
{
	uint64_t entry = 0;
	int r;

	*cfg = (struct vm_config){ .ram_size = 64ull << 20,
				   .nr_cpus = 1,
				   .guest = guest };
	if (vm_init(vm, cfg))
		exit(1);
	r = boot_build(&vm->ram);
	if (!r)
		r = elf_load(&vm->ram, guest, vm->ram.low - GUEST_STACK_SIZE,
			     &entry);
	if (r)
		bench_guest_die("loading the guest", -r);
	*mb = ram_ptr(&vm->ram, BENCH_MAILBOX_GPA, 0x100);
	return entry;
}

/* vCPU 0 from entry, running until the guest says it is ready. */
static inline void bench_guest_run(struct vm *vm, uint64_t entry,
				   volatile uint32_t *mb)
{
	uint64_t t0;
	int r;

	vm->nr_cpus = 1;
	r = vcpu_create(vm, &vm->cpus[0], 0, entry);
	if (!r)
		r = vcpu_signal_init();
	if (!r)
		r = vcpu_start(&vm->cpus[0]);
	if (r)
		bench_guest_die("vCPU", -r);
	t0 = bench_now_ns();
	while (__atomic_load_n(&mb[BENCH_MB_MAGIC / 4], __ATOMIC_ACQUIRE) !=
	       BENCH_READY_MAGIC) {
		if (bench_now_ns() - t0 > BENCH_GUEST_READY_NS ||
		    vm_stopping(vm))
			bench_guest_die("the guest never became ready",
					ETIMEDOUT);
		usleep(1000);
	}
}

#endif
