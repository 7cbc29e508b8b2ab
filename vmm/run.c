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
#include <time.h>
#include <unistd.h>

#include "vmm.h"

static int load_guest(struct vm *vm, uint64_t *entry)
{
	uint64_t stacks = (uint64_t)vm->cfg->nr_cpus * GUEST_STACK_SIZE;
	int ret;

	if (vm->ram.low < GPA_LOAD_MIN + stacks + 0x100000) {
		vmm_err("%llu bytes of RAM leave no room for the guest",
			(unsigned long long)vm->ram.low);
		return -ENOMEM;
	}
	ret = boot_build(&vm->ram);
	if (!ret)
		ret = elf_load(&vm->ram, vm->cfg->guest, vm->ram.low - stacks,
			       entry);
	return ret;
}

static int plug_devices(struct vm *vm)
{
	unsigned int i;

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
	sigaddset(&set, SIGUSR2);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Moves the running VM to --migrate-to or --save.  Done, the VM ends
 * with status 0; a failed move leaves it running as before.
 */
static void migrate_now(struct vm *vm)
{
	struct vm_mig_stats st = { 0 };
	const struct vm_mig_opts o = { .stats = &st };
	int fd, ret;

	if (!vm->cfg->mig_out) {
		vmm_err("SIGUSR2: no --migrate-to or --save to move to");
		return;
	}
	fd = mig_open_out(vm->cfg);
	if (fd < 0)
		return;
	ret = vm_migrate_out(vm, fd, &o);
	close(fd);
	if (ret) {
		vmm_err("migration to %s failed: %s; the VM runs on",
			vm->cfg->mig_out, strerror(-ret));
		return;
	}
	vm->mig = st;
	fprintf(stderr,
		PROG ": migrated to %s: %u rounds, %llu pages, %llu after the "
		     "vCPUs stopped, stopped for %llu us until the last "
		     "frame\n",
		vm->cfg->mig_out, st.rounds, (unsigned long long)st.pages,
		(unsigned long long)st.final_pages,
		(unsigned long long)(st.stopped_ns / 1000));
	vm_stop(vm, 0);
}

static void wait_stop(struct vm *vm, int sfd)
{
	struct pollfd p[2] = {
		{ .fd = vm->stop_fd, .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
	};
	int after = vm->cfg->migrate_after_ms;
	int64_t at = after >= 0 ? now_ms() + after : -1;
	struct signalfd_siginfo si;

	while (!vm_stopping(vm)) {
		int timeout = at < 0 ? -1 : (int)(at - now_ms());
		int n;

		n = poll(p, sfd >= 0 ? 2 : 1,
			 timeout < 0 && at >= 0 ? 0 : timeout);
		if (n < 0 && errno != EINTR) {
			vmm_err("poll: %s", strerror(errno));
			vm_stop(vm, VMM_EXIT_ERROR);
			break;
		}
		if (at >= 0 && now_ms() >= at) {
			at = -1;
			migrate_now(vm);
			continue;
		}
		if (n > 0 && sfd >= 0 && (p[1].revents & POLLIN) &&
		    read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR2) {
				migrate_now(vm);
				continue;
			}
			vmm_err("stopped by signal %u", si.ssi_signo);
			vm_stop(vm, 128 + (int)si.ssi_signo);
		}
	}
}

/* --incoming/--restore: the guest, its RAM and vCPUs come from there. */
static int receive(struct vm *vm)
{
	int fd = mig_open_in(vm->cfg), ret;

	if (fd < 0)
		return fd;
	ret = vm_migrate_in(vm, fd);
	close(fd);
	if (ret)
		vmm_err("incoming migration from %s: %s", vm->cfg->mig_in,
			strerror(-ret));
	else
		vm->migrated_in = true;
	if (!ret)
		vmm_info(vm, "migration from %s loaded", vm->cfg->mig_in);
	return ret;
}

int vm_run(struct vm *vm)
{
	uint64_t entry = 0;
	unsigned int i;
	int ret, sfd;

	ret = vm->cfg->mig_in ? 0 : load_guest(vm, &entry);
	if (!ret)
		ret = plug_devices(vm);
	if (!ret)
		ret = create_cpus(vm, entry);
	if (!ret)
		ret = vcpu_signal_init();
	if (!ret && vm->cfg->mig_in)
		ret = receive(vm);
	if (ret)
		return VMM_EXIT_ERROR;
	sfd = open_signalfd();
	if (sfd < 0)
		vmm_err("signalfd: %s; signals end the VMM at once",
			strerror(errno));
	vmm_info(vm, "starting %u vCPU(s) at %#llx", vm->nr_cpus,
		 (unsigned long long)entry);
	vm->started_ns = mono_ns();
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
