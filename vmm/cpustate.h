/* SPDX-License-Identifier: MIT */
/* KVM vCPU and VM state for migration (cpustate.c). */
#ifndef UVFIO_VMM_CPUSTATE_H
#define UVFIO_VMM_CPUSTATE_H

#include "vmm.h"

#define VCPU_MSRS 13

/* As it travels: fixed layout, host byte order (x86-64 to x86-64). */
struct vcpu_state {
	uint32_t index;
	uint32_t nmsrs;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	struct kvm_debugregs dregs;
	struct kvm_msr_entry msrs[VCPU_MSRS];
};

struct vm_chip_state {
	struct kvm_irqchip chip[3];
	struct kvm_clock_data clock;
};

int vcpu_state_save(struct vcpu *cpu, struct vcpu_state *st);
int vcpu_state_load(struct vcpu *cpu, const struct vcpu_state *st);
int vm_chip_save(struct vm *vm, struct vm_chip_state *st);
int vm_chip_load(struct vm *vm, const struct vm_chip_state *st);

#endif
