// SPDX-License-Identifier: MIT
/*
 * The KVM state a migration moves besides RAM and devices: each vCPU's
 * registers (general, segment and control, XSAVE area, XCRs, the MSRs a
 * 64-bit guest uses, debug registers), its local APIC, pending events
 * and run state, and the VM's in-kernel PIC and IOAPIC and KVM clock.
 *
 * Read only while the vCPUs are parked (vm_pause()), written before
 * they start.  Setting follows the order KVM needs: special registers
 * before the MSRs that depend on EFER, the APIC before the TSC deadline
 * (whose meaning depends on the APIC timer's mode) and before the
 * events that may inject into it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpustate.h"

static const uint32_t msr_list[VCPU_MSRS] = {
	0x00000174, /* SYSENTER_CS */
	0x00000175, /* SYSENTER_ESP */
	0x00000176, /* SYSENTER_EIP */
	0xc0000081, /* STAR */
	0xc0000082, /* LSTAR */
	0xc0000083, /* CSTAR */
	0xc0000084, /* FMASK */
	0xc0000102, /* KERNEL_GS_BASE */
	0x00000277, /* PAT */
	0x000001a0, /* MISC_ENABLE */
	0x00000010, /* TSC */
	/* KVM reads up to the first it lacks: the optional ones last. */
	0xc0000103, /* TSC_AUX (RDTSCP) */
	0x000006e0, /* TSC_DEADLINE, last: set after the APIC */
};

static int io(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) < 0) {
		int err = errno;

		vmm_err("%s: %s", what, strerror(err));
		return -err;
	}
	return 0;
}

/* KVM_GET_MSRS with a fixed list: the header and entries in one block. */
struct msr_block {
	struct kvm_msrs h;
	struct kvm_msr_entry e[VCPU_MSRS];
};

int vcpu_state_save(struct vcpu *cpu, struct vcpu_state *st)
{
	struct msr_block m;
	int fd = cpu->fd, ret, n;

	memset(st, 0, sizeof(*st));
	st->index = cpu->index;
	ret = io(fd, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	ret = ret ?: io(fd, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	ret = ret ?: io(fd, KVM_GET_XSAVE, &st->xsave, "KVM_GET_XSAVE");
	ret = ret ?: io(fd, KVM_GET_XCRS, &st->xcrs, "KVM_GET_XCRS");
	ret = ret ?: io(fd, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC");
	ret = ret   ?:
		      io(fd, KVM_GET_VCPU_EVENTS, &st->events,
			 "KVM_GET_VCPU_EVENTS");
	ret = ret ?: io(fd, KVM_GET_MP_STATE, &st->mp, "KVM_GET_MP_STATE");
	ret = ret ?: io(fd, KVM_GET_DEBUGREGS, &st->dregs, "KVM_GET_DEBUGREGS");
	if (ret)
		return ret;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = VCPU_MSRS;
	for (unsigned int i = 0; i < VCPU_MSRS; i++)
		m.e[i].index = msr_list[i];
	/* KVM stops at the first MSR it does not have. */
	n = ioctl(fd, KVM_GET_MSRS, &m);
	if (n < 0) {
		vmm_err("KVM_GET_MSRS: %s", strerror(errno));
		return -errno;
	}
	st->nmsrs = (uint32_t)n;
	memcpy(st->msrs, m.e, sizeof(st->msrs));
	return 0;
}

static int set_msrs(int fd, const struct kvm_msr_entry *e, uint32_t n)
{
	struct msr_block m;
	int r;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = n;
	memcpy(m.e, e, n * sizeof(*e));
	r = n ? ioctl(fd, KVM_SET_MSRS, &m) : 0;
	if (r != (int)n) {
		vmm_err("KVM_SET_MSRS: %d of %u set", r, n);
		return r < 0 ? -errno : -EINVAL;
	}
	return 0;
}

int vcpu_state_load(struct vcpu *cpu, const struct vcpu_state *st)
{
	struct vcpu_state c = *st; /* KVM's set calls take non-const */
	int fd = cpu->fd, ret;
	bool deadline;

	if (c.nmsrs > VCPU_MSRS)
		return -EINVAL;
	ret = io(fd, KVM_SET_SREGS, &c.sregs, "KVM_SET_SREGS");
	ret = ret ?: io(fd, KVM_SET_REGS, &c.regs, "KVM_SET_REGS");
	ret = ret ?: io(fd, KVM_SET_XSAVE, &c.xsave, "KVM_SET_XSAVE");
	ret = ret ?: io(fd, KVM_SET_XCRS, &c.xcrs, "KVM_SET_XCRS");
	if (ret)
		return ret;
	/* TSC_DEADLINE (last, if read) means something only with the APIC. */
	deadline = c.nmsrs == VCPU_MSRS;
	ret = set_msrs(fd, c.msrs, c.nmsrs - deadline);
	ret = ret ?: io(fd, KVM_SET_LAPIC, &c.lapic, "KVM_SET_LAPIC");
	if (!ret && deadline)
		ret = set_msrs(fd, &c.msrs[VCPU_MSRS - 1], 1);
	ret = ret   ?:
		      io(fd, KVM_SET_VCPU_EVENTS, &c.events,
			 "KVM_SET_VCPU_EVENTS");
	ret = ret ?: io(fd, KVM_SET_MP_STATE, &c.mp, "KVM_SET_MP_STATE");
	ret = ret ?: io(fd, KVM_SET_DEBUGREGS, &c.dregs, "KVM_SET_DEBUGREGS");
	return ret;
}

int vm_chip_save(struct vm *vm, struct vm_chip_state *st)
{
	int ret = 0;

	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < 3 && !ret; i++) {
		st->chip[i].chip_id = i; /* PIC master, PIC slave, IOAPIC */
		ret = io(vm->fd, KVM_GET_IRQCHIP, &st->chip[i],
			 "KVM_GET_IRQCHIP");
	}
	return ret ?: io(vm->fd, KVM_GET_CLOCK, &st->clock, "KVM_GET_CLOCK");
}

int vm_chip_load(struct vm *vm, const struct vm_chip_state *st)
{
	struct vm_chip_state c = *st;
	int ret = 0;

	for (unsigned int i = 0; i < 3 && !ret; i++) {
		if (c.chip[i].chip_id != i)
			return -EINVAL;
		ret = io(vm->fd, KVM_SET_IRQCHIP, &c.chip[i],
			 "KVM_SET_IRQCHIP");
	}
	/* Only the clock's value: the flags describe the source host. */
	c.clock = (struct kvm_clock_data){ .clock = st->clock.clock };
	return ret ?: io(vm->fd, KVM_SET_CLOCK, &c.clock, "KVM_SET_CLOCK");
}
