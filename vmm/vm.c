// SPDX-License-Identifier: MIT
/*
 * The KVM VM: creation with the in-kernel irqchip and the interrupt
 * router on it, the registry of memory slots (RAM and mapped BAR areas),
 * and stopping.  The router outlives the devices: closing a device
 * releases its routes and unbinds its eventfds on the router.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm.h"

void vmm_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void vmm_info(const struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	if (!vm->cfg->verbose)
		return;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int open_kvm(struct vm *vm)
{
	int ret, n;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		vmm_err("cannot open /dev/kvm: %s", strerror(errno));
		return ret;
	}
	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		vmm_err("KVM API version %d, want %d", ret, KVM_API_VERSION);
		return -ENOTSUP;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <=
		    0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXT_CPUID) <= 0) {
		vmm_err("KVM lacks immediate exit, irqchip or CPUID2");
		return -ENOTSUP;
	}
	n = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n < (int)sizeof(struct kvm_run)) {
		vmm_err("KVM_GET_VCPU_MMAP_SIZE: %s",
			n < 0 ? strerror(errno) : "too small");
		return n < 0 ? -errno : -EPROTO;
	}
	vm->run_size = (size_t)n;
	n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (n <= 1) {
		vmm_err("KVM offers %d memory slots", n);
		return -ENOTSUP;
	}
	vm->nr_slots = n < VM_MAX_SLOTS ? (uint32_t)n : VM_MAX_SLOTS;
	return 0;
}

static int create_vm(struct vm *vm)
{
	uint64_t idmap = KVM_IDMAP_GPA;
	int ret;

	vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		vmm_err("KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	/* Both only matter on Intel; they must lie outside RAM and BARs. */
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		vmm_err("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_GPA) < 0) {
		vmm_err("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		vmm_err("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	vm->router = uvfio_irq_router_new_kvm(vm->fd, 0);
	if (!vm->router) {
		ret = -errno;
		vmm_err("interrupt router: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static int vm_init_common(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = -1;
	vm->fd = -1;
	vm->ram.fd = -1;
	vm->pci_next = PCI_MMIO_BASE;
	vm->pci_next_io = PCI_IOBAR_BASE;
	pthread_mutex_init(&vm->slot_lock, NULL);
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_cond_init(&vm->park, NULL);
	mmio_init(&vm->mmio);
	mmio_init(&vm->pio);
	pcihost_init(&vm->host);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0) {
		ret = -errno;
		vmm_err("eventfd: %s", strerror(errno));
		return ret;
	}
	return 0;
}

static int vm_init_board(struct vm *vm)
{
	int ret = pcihost_ecam_init(vm);

	if (ret) {
		vmm_err("ECAM: %s", strerror(-ret));
		return ret;
	}
	ret = ram_init(vm, vm->cfg->ram_size);

	if (ret)
		vmm_err("guest RAM of %llu bytes: %s",
			(unsigned long long)vm->cfg->ram_size, strerror(-ret));
	return ret;
}

int vm_init(struct vm *vm, const struct vm_config *cfg)
{
	int ret = vm_init_common(vm, cfg);

	if (ret)
		return ret;
	ret = open_kvm(vm);
	if (!ret)
		ret = create_vm(vm);
	if (ret)
		return ret;
	return vm_init_board(vm);
}

int vm_init_bare(struct vm *vm, const struct vm_config *cfg,
		 uvfio_irq_deliver_fn fn, void *opaque)
{
	int ret = vm_init_common(vm, cfg);

	if (ret)
		return ret;
	vm->nr_slots = VM_MAX_SLOTS;
	vm->router = uvfio_irq_router_new_user(fn, opaque, 0);
	if (!vm->router)
		return -errno;
	return vm_init_board(vm);
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_cpus; i++)
		vcpu_destroy(&vm->cpus[i]);
	/* Each leaves the array as it goes: the others' BARs forget it. */
	for (i = 0; i < vm->nr_devs; i++) {
		vdev_close(vm->devs[i]);
		vm->devs[i] = NULL;
	}
	vm->nr_devs = 0;
	uvfio_irq_router_free(vm->router);
	vm->router = NULL;
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	ram_destroy(&vm->ram);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	mmio_destroy(&vm->mmio);
	mmio_destroy(&vm->pio);
	pcihost_destroy(&vm->host);
	pthread_mutex_destroy(&vm->slot_lock);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_cond_destroy(&vm->park);
}

static int set_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	if (vm->fd < 0)
		return 0; /* vm_init_bare(): no guest to see it */
	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int vm_slot_map(struct vm *vm, uint64_t gpa, uint64_t size, void *hva)
{
	uint32_t slot;
	int ret = -ENOSPC;

	if (!size || (gpa | size | (uintptr_t)hva) & 0xfff || gpa + size < gpa)
		return -EINVAL;
	pthread_mutex_lock(&vm->slot_lock);
	for (slot = 0; slot < vm->nr_slots; slot++) {
		if (vm->slot_used[slot / 64] & (1ull << (slot % 64)))
			continue;
		ret = set_slot(vm, slot, gpa, size, hva);
		if (!ret) {
			vm->slot_used[slot / 64] |= 1ull << (slot % 64);
			ret = (int)slot;
		}
		break;
	}
	pthread_mutex_unlock(&vm->slot_lock);
	return ret;
}

void vm_slot_unmap(struct vm *vm, int slot)
{
	int ret;

	if (slot < 0 || (uint32_t)slot >= vm->nr_slots)
		return;
	pthread_mutex_lock(&vm->slot_lock);
	ret = set_slot(vm, (uint32_t)slot, 0, 0, NULL);
	if (ret)
		vmm_err("deleting memory slot %d: %s", slot, strerror(-ret));
	else
		vm->slot_used[slot / 64] &= ~(1ull << (slot % 64));
	pthread_mutex_unlock(&vm->slot_lock);
}

void vm_stop(struct vm *vm, int status)
{
	uint64_t one = 1;
	unsigned int i;
	bool first;

	pthread_mutex_lock(&vm->stop_lock);
	first = !vm->stopping;
	if (first) {
		vm->stopping = true;
		vm->status = status;
		for (i = 0; i < vm->nr_cpus; i++)
			vcpu_kick(&vm->cpus[i]);
		pthread_cond_broadcast(&vm->park);
	}
	pthread_mutex_unlock(&vm->stop_lock);
	if (first && write(vm->stop_fd, &one, sizeof(one)) < 0)
		vmm_err("waking the main thread: %s", strerror(errno));
}

bool vm_stopping(struct vm *vm)
{
	bool s;

	pthread_mutex_lock(&vm->stop_lock);
	s = vm->stopping;
	pthread_mutex_unlock(&vm->stop_lock);
	return s;
}

static unsigned int started_cpus(const struct vm *vm)
{
	unsigned int i, n = 0;

	for (i = 0; i < vm->nr_cpus; i++)
		n += vm->cpus[i].started;
	return n;
}

int vm_pause(struct vm *vm)
{
	unsigned int i;
	int ret = 0;

	pthread_mutex_lock(&vm->stop_lock);
	vm->paused = true;
	for (i = 0; i < vm->nr_cpus; i++)
		vcpu_kick(&vm->cpus[i]);
	while (!vm->stopping && vm->parked < started_cpus(vm))
		pthread_cond_wait(&vm->park, &vm->stop_lock);
	if (vm->stopping)
		ret = -ECANCELED;
	pthread_mutex_unlock(&vm->stop_lock);
	return ret;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	vm->paused = false;
	pthread_cond_broadcast(&vm->park);
	pthread_mutex_unlock(&vm->stop_lock);
}

void vm_park(struct vm *vm, struct vcpu *cpu)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (vm->paused && !vm->stopping) {
		vm->parked++;
		pthread_cond_broadcast(&vm->park);
		while (vm->paused && !vm->stopping)
			pthread_cond_wait(&vm->park, &vm->stop_lock);
		vm->parked--;
	}
	/* A stop's kick stays: the next KVM_RUN returns at once. */
	if (!vm->stopping && cpu->run)
		__atomic_store_n(&cpu->run->immediate_exit, 0,
				 __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->stop_lock);
}

/* KVM slot of RAM part high (false: at GPA 0). */
static int ram_slot_log(struct vm *vm, bool high, bool on)
{
	struct guest_ram *ram = &vm->ram;
	struct kvm_userspace_memory_region r = {
		.slot = (uint32_t)(high ? ram->slot_high : ram->slot),
		.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = high ? GPA_HIGH_RAM : 0,
		.memory_size = high ? ram->size - ram->low : ram->low,
		.userspace_addr =
			(uint64_t)(uintptr_t)(ram->hva + (high ? ram->low : 0)),
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int vm_ram_dirty_log(struct vm *vm, bool on)
{
	int ret;

	if (vm->fd < 0)
		return -ENOTSUP;
	ret = ram_slot_log(vm, false, on);
	if (!ret && vm->ram.slot_high >= 0)
		ret = ram_slot_log(vm, true, on);
	return ret;
}

/* The log of one slot of pages, ORed into bitmap (word aligned). */
static int slot_dirty(struct vm *vm, int slot, uint64_t pages, uint64_t *bitmap)
{
	size_t words = (pages + 63) / 64;
	struct kvm_dirty_log d = { .slot = (uint32_t)slot };
	uint64_t *log = calloc(words, sizeof(*log));
	int ret = 0;

	if (!log)
		return -ENOMEM;
	d.dirty_bitmap = log;
	if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &d) < 0)
		ret = -errno;
	for (size_t i = 0; !ret && i < words; i++)
		bitmap[i] |= log[i];
	free(log);
	return ret;
}

int vm_ram_dirty_get(struct vm *vm, uint64_t *bitmap)
{
	struct guest_ram *ram = &vm->ram;
	int ret;

	if (vm->fd < 0)
		return -ENOTSUP;
	ret = slot_dirty(vm, ram->slot, ram->low / 4096, bitmap);
	/* The low part is whole 2 MiB: the high one starts on a word. */
	if (!ret && ram->slot_high >= 0)
		ret = slot_dirty(vm, ram->slot_high,
				 (ram->size - ram->low) / 4096,
				 bitmap + ram->low / 4096 / 64);
	return ret;
}
