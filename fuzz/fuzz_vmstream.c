// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm's incoming migration stream (--incoming, --restore): every
 * byte comes from the source VMM, or from a file.  The input is the
 * stream, through a memfd, into a VM without KVM and without devices
 * (4 MiB of RAM; the driver's frames and the VMM's: header, RAM pages,
 * device, vCPU and irqchip state), the same VM for every input.  It
 * must be refused or loaded, never written outside RAM; a stream that
 * loads must have carried the header's magic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "vmm.h"

static struct vm_config cfg = { .ram_size = RAM_MIN, .nr_cpus = 1 };
static struct vm vm;
static bool up;

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque;
	(void)address;
	(void)data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd, r;

	if (!up) {
		if (vm_init_bare(&vm, &cfg, deliver, NULL))
			abort();
		up = true;
	}
	fd = memfd_create("vm-stream", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	r = vm_migrate_in(&vm, fd);
	if (!r && !memmem(data, size, "uvfiovm1", 8))
		fuzz_fail("a stream without a header loaded");
	close(fd);
	return 0;
}
