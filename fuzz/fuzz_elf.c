// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm's ELF loader over any file: a guest image is input the VMM's
 * user hands it, and a corrupt one must be refused, never written past
 * guest RAM.  The input is the file (through a memfd); RAM is 16 MiB with
 * a guard page after it, so a write past the end faults.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "vmm.h"

#define RAM (16u << 20)

static struct guest_ram ram;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	uint64_t entry;
	int fd;

	if (!ram.hva) {
		ram.hva = mmap(NULL, RAM + 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ram.hva == MAP_FAILED ||
		    mprotect(ram.hva + RAM, 4096, PROT_NONE))
			abort();
		ram.fd = -1;
		ram.size = RAM;
		ram.low = RAM;
	}
	fd = memfd_create("guest.elf", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (!elf_load(&ram, path, RAM, &entry) && entry >= RAM)
		fuzz_fail("loaded, with an entry point outside RAM");
	close(fd);
	return 0;
}
