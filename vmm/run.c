// SPDX-License-Identifier: MIT
/*
 * A VM's life: lay out guest memory, load the guest, plug the devices
 * in, run the vCPUs and wait for the end.  The main thread only waits:
 * for the stop eventfd (the guest exited, or something failed) or for a
 * termination signal, which main() has blocked in every thread so that
 * it arrives here through a signalfd.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vmm.h"

static int load_guest(struct vm *vm, uint64_t *entry)
{
	uint64_t stacks = (uint64_t)vm->cfg->nr_cpus * GUEST_STACK_SIZE;
	int ret;

	if (vm->ram.size < GPA_LOAD_MIN + stacks + 0x100000) {
		vmm_err("%llu bytes of RAM leave no room for the guest",
			(unsigned long long)vm->ram.size);
		return -ENOMEM;
	}
	ret = boot_build(&vm->ram);
	if (!ret)
		ret = elf_load(&vm->ram, vm->cfg->guest, vm->ram.size - stacks,
			       entry);
	return ret;
}

static int plug_devices(struct vm *vm)
{
	unsigned int i;

	vm->pci_next = PCI_MMIO_BASE;
	for (i = 0; i < vm->cfg->nr_devs; i++) {
		vm->devs[i] = vdev_open(vm, vm->cfg->sockets[i], i);
		if (!vm->devs[i])
			return -errno;
		vm->nr_devs = i + 1;
		vdev_print(vm->devs[i]);
	}
	return 0;
}

static int create_cpus(struct vm *vm, uint64_t entry)
{
	unsigned int i;
	int ret;

	vm->nr_cpus = vm->cfg->nr_cpus;
	for (i = 0; i < vm->nr_cpus; i++) {
		ret = vcpu_create(vm, &vm->cpus[i], i, entry);
		if (ret)
			return ret;
	}
	return 0;
}

static int open_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void wait_stop(struct vm *vm, int sfd)
{
	struct pollfd p[2] = {
		{ .fd = vm->stop_fd, .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
	};
	struct signalfd_siginfo si;

	while (!vm_stopping(vm)) {
		if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) {
			vmm_err("poll: %s", strerror(errno));
			vm_stop(vm, VMM_EXIT_ERROR);
			break;
		}
		if (sfd >= 0 && (p[1].revents & POLLIN) &&
		    read(sfd, &si, sizeof(si)) == sizeof(si)) {
			vmm_err("stopped by signal %u", si.ssi_signo);
			vm_stop(vm, 128 + (int)si.ssi_signo);
		}
	}
}

int vm_run(struct vm *vm)
{
	uint64_t entry = 0;
	unsigned int i;
	int ret, sfd;

	ret = load_guest(vm, &entry);
	if (!ret)
		ret = plug_devices(vm);
	if (!ret)
		ret = create_cpus(vm, entry);
	if (!ret)
		ret = vcpu_signal_init();
	if (ret)
		return VMM_EXIT_ERROR;
	sfd = open_signalfd();
	if (sfd < 0)
		vmm_err("signalfd: %s; signals end the VMM at once",
			strerror(errno));
	vmm_info(vm, "starting %u vCPU(s) at %#llx", vm->nr_cpus,
		 (unsigned long long)entry);
	for (i = 0; i < vm->nr_cpus; i++) {
		if (vcpu_start(&vm->cpus[i])) {
			vm_stop(vm, VMM_EXIT_ERROR);
			break;
		}
	}
	wait_stop(vm, sfd);
	for (i = 0; i < vm->nr_cpus; i++)
		vcpu_join(&vm->cpus[i]);
	if (sfd >= 0)
		close(sfd);
	fflush(stdout);
	if (vm->cfg->stats)
		stats_print(vm);
	return vm->status;
}
