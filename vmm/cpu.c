// SPDX-License-Identifier: MIT
/*
 * vCPUs: each is created already in 64-bit mode (the VMM plays the
 * firmware), runs KVM_RUN on its own thread and hands port I/O and MMIO
 * exits to their dispatchers.  Anything else that ends up in userspace
 * stops the VM with a message saying why.
 *
 * Stopping: vcpu_kick() sets immediate_exit and sends SIG_KICK to the
 * thread; the signal's handler does nothing, it only makes a running
 * KVM_RUN return -EINTR.  immediate_exit covers a kick that lands before
 * the thread enters KVM_RUN.  No state is shared with the handler.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"

#define SIG_KICK SIGUSR1

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18
#define GDT_LIMIT 0x27

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signal_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIG_KICK, &sa, NULL) < 0 ? -errno : 0;
}

static int set_cpuid(struct vcpu *cpu)
{
	struct kvm_cpuid2 *c = NULL;
	unsigned int nent = 128, i;
	int ret;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (!ioctl(cpu->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			break;
		ret = -errno;
		if (ret != -E2BIG || nent >= 4096) {
			vmm_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
			free(c);
			return ret;
		}
		nent *= 2;
	}
	/* The initial APIC ID is the vCPU index, as KVM_CREATE_VCPU made it. */
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (cpu->index << 24);
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = cpu->index;
	}
	ret = ioctl(cpu->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	if (ret)
		vmm_err("KVM_SET_CPUID2: %s", strerror(-ret));
	free(c);
	return ret;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
		    bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int set_long_mode(struct vcpu *cpu)
{
	struct kvm_sregs sr;

	if (ioctl(cpu->fd, KVM_GET_SREGS, &sr) < 0) {
		vmm_err("KVM_GET_SREGS: %s", strerror(errno));
		return -errno;
	}
	set_seg(&sr.cs, SEL_CODE, 0xb, true);
	set_seg(&sr.ds, SEL_DATA, 0x3, false);
	sr.es = sr.ds;
	sr.fs = sr.ds;
	sr.gs = sr.ds;
	sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.selector = SEL_TSS;
	sr.tr.base = GPA_TSS;
	sr.tr.limit = 0x67;
	sr.tr.type = 0xb; /* busy 64-bit TSS */
	sr.tr.present = 1;
	sr.gdt.base = GPA_GDT;
	sr.gdt.limit = GDT_LIMIT;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.cr3 = GPA_PML4;
	sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sr.efer = EFER_LME | EFER_LMA;
	if (ioctl(cpu->fd, KVM_SET_SREGS, &sr) < 0) {
		vmm_err("KVM_SET_SREGS: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int set_regs(struct vcpu *cpu, uint64_t entry)
{
	struct vm *vm = cpu->vm;
	struct kvm_regs r;
	struct kvm_fpu fpu;

	memset(&r, 0, sizeof(r));
	r.rip = entry;
	r.rsp = vm->ram.low - cpu->index * GUEST_STACK_SIZE;
	r.rflags = 0x2;
	r.rdi = cpu->index;
	r.rsi = vm->nr_cpus;
	r.rdx = vm->ram.low;
	r.r8 = vm->ram.size - vm->ram.low;
	if (ioctl(cpu->fd, KVM_SET_REGS, &r) < 0) {
		vmm_err("KVM_SET_REGS: %s", strerror(errno));
		return -errno;
	}
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(cpu->fd, KVM_SET_FPU, &fpu) < 0) {
		vmm_err("KVM_SET_FPU: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* With the in-kernel LAPIC, APs wait for INIT/SIPI; ours start at once. */
static int make_runnable(struct vcpu *cpu)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

	if (ioctl(cpu->fd, KVM_SET_MP_STATE, &mp) < 0) {
		vmm_err("KVM_SET_MP_STATE: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int vcpu_create(struct vm *vm, struct vcpu *cpu, unsigned int index,
		uint64_t entry)
{
	void *run;
	int ret;

	memset(cpu, 0, sizeof(*cpu));
	cpu->vm = vm;
	cpu->index = index;
	cpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (cpu->fd < 0) {
		vmm_err("KVM_CREATE_VCPU %u: %s", index, strerror(errno));
		return -errno;
	}
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   cpu->fd, 0);
	if (run == MAP_FAILED) {
		ret = -errno;
		vmm_err("mmap of vCPU %u: %s", index, strerror(errno));
		return ret;
	}
	cpu->run = run;
	ret = set_cpuid(cpu);
	if (!ret)
		ret = set_long_mode(cpu);
	if (!ret)
		ret = set_regs(cpu, entry);
	if (!ret && index)
		ret = make_runnable(cpu);
	return ret;
}

void vcpu_destroy(struct vcpu *cpu)
{
	if (cpu->run)
		munmap(cpu->run, cpu->vm->run_size);
	if (cpu->fd > 0)
		close(cpu->fd);
	cpu->run = NULL;
	cpu->fd = -1;
}

static void dump_regs(struct vcpu *cpu)
{
	struct kvm_sregs sr;
	struct kvm_regs r;

	if (ioctl(cpu->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(cpu->fd, KVM_GET_SREGS, &sr) < 0) {
		vmm_err("vCPU %u: cannot read registers: %s", cpu->index,
			strerror(errno));
		return;
	}
	vmm_err("vCPU %u: rip %#llx rsp %#llx rflags %#llx cr0 %#llx "
		"cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx",
		cpu->index, r.rip, r.rsp, r.rflags, sr.cr0, sr.cr2, sr.cr3,
		sr.cr4, sr.efer);
}

static int handle_io(struct vcpu *cpu)
{
	struct kvm_run *run = cpu->run;
	uint32_t size = run->io.size, count = run->io.count, i;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int ret;

	stats_inc(&cpu->stats.io);
	if (run->io.data_offset > cpu->vm->run_size ||
	    (uint64_t)size * count > cpu->vm->run_size - run->io.data_offset) {
		vmm_err("vCPU %u: port I/O data outside the run page",
			cpu->index);
		return -EPROTO;
	}
	for (i = 0; i < count; i++) {
		ret = io_dispatch(cpu, run->io.port, data + i * size, size,
				  write);
		if (ret)
			return ret;
	}
	return 0;
}

static int handle_mmio(struct vcpu *cpu)
{
	struct kvm_run *run = cpu->run;
	uint32_t len = run->mmio.len;
	int ret;

	stats_inc(&cpu->stats.mmio);
	if (!len || len > sizeof(run->mmio.data)) {
		vmm_err("vCPU %u: MMIO of %u bytes", cpu->index, len);
		return -EPROTO;
	}
	ret = mmio_dispatch(&cpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
			    len, run->mmio.is_write);
	if (ret)
		return ret < 0 ? ret : 0;
	/* Nothing decodes there: reads float high, writes vanish. */
	stats_inc(&cpu->stats.mmio_unassigned);
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, len);
	return 0;
}

/* Returns 0 to go on, 1 when the VM is over, or a negative errno. */
static int handle_exit(struct vcpu *cpu)
{
	struct kvm_run *run = cpu->run;

	stats_inc(&cpu->stats.exits);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(cpu);
	case KVM_EXIT_MMIO:
		return handle_mmio(cpu);
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; run on, it is a pause. */
		stats_inc(&cpu->stats.hlt);
		return 0;
	case KVM_EXIT_INTR:
		stats_inc(&cpu->stats.intr);
		return 0;
	case KVM_EXIT_SHUTDOWN:
		vmm_err("vCPU %u: guest shut down (triple fault)", cpu->index);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vmm_err("vCPU %u: VM entry failed, hardware reason %#llx",
			cpu->index,
			run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vmm_err("vCPU %u: KVM internal error, suberror %u%s",
			cpu->index, run->internal.suberror,
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
				" (instruction emulation failed)" :
				"");
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		vmm_err("vCPU %u: system event %u", cpu->index,
			run->system_event.type);
		break;
	default:
		vmm_err("vCPU %u: unexpected exit reason %u", cpu->index,
			run->exit_reason);
		break;
	}
	stats_inc(&cpu->stats.other);
	dump_regs(cpu);
	return -EFAULT;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *cpu = arg;
	int ret;

	while (!vm_stopping(cpu->vm)) {
		if (ioctl(cpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				stats_inc(&cpu->stats.intr);
				vm_park(cpu->vm, cpu);
				continue;
			}
			vmm_err("vCPU %u: KVM_RUN: %s", cpu->index,
				strerror(errno));
			dump_regs(cpu);
			vm_stop(cpu->vm, VMM_EXIT_ERROR);
			break;
		}
		ret = handle_exit(cpu);
		if (ret < 0)
			vm_stop(cpu->vm, VMM_EXIT_ERROR);
	}
	return NULL;
}

int vcpu_start(struct vcpu *cpu)
{
	int ret;

	/* Under stop_lock so that vm_stop() never sees half a thread. */
	pthread_mutex_lock(&cpu->vm->stop_lock);
	ret = pthread_create(&cpu->thread, NULL, vcpu_thread, cpu);
	cpu->started = !ret;
	pthread_mutex_unlock(&cpu->vm->stop_lock);
	if (ret) {
		vmm_err("starting vCPU %u: %s", cpu->index, strerror(ret));
		return -ret;
	}
	return 0;
}

/* Called with the VM's stop_lock held. */
void vcpu_kick(struct vcpu *cpu)
{
	if (!cpu->run)
		return;
	__atomic_store_n(&cpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (cpu->started)
		pthread_kill(cpu->thread, SIG_KICK);
}

void vcpu_join(struct vcpu *cpu)
{
	if (cpu->started)
		pthread_join(cpu->thread, NULL);
	cpu->started = false;
}
